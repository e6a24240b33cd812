/* scoresde likelihood — exact log-likelihood and bits/dim through the probability-flow ODE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dist.h"
#include "io.h"
#include "sampling.h"

static const cli_command likelihood_command = {
    "likelihood",
    "Computes log p(x) of each input point by integrating the probability-flow ODE from eps to T\n"
    "with the divergence alongside (exact trace or a Skilling-Hutchinson probe fixed per point).\n"
    "Writes one row per point: logp (nats), bpd (bits per dimension; for 8-bit image models the\n"
    "dequantisation offset log2(256/range width) is included, see docs/user-guide.md), nfe (score\n"
    "evaluations); for gmm: models also exact_logp, the closed-form log p_eps(x) to check against.\n"
    "Prints mean ± standard error. --in takes a CSV/.npy file in model space,\n"
    "fashion-mnist:test (the first --num test images, uniformly dequantised) or toy:NAME.",
    "[--model M] --in POINTS [options]",
    "scoresde likelihood --model gmm:models/gmm2d.txt --sde vp --in points.csv --hutchinson exact --out logp.csv"};

/* From cmd_sample.c: the summaries' pieces and the help of the shared options. */
void describe_model(const common_options *c, const app_model *m, char *buf, size_t size);
void describe_ode(const slv_ode_method *method, double rtol, double atol, size_t n_steps, char *buf,
                  size_t size);

static void mean_se(const double *v, size_t n, double *mean, double *se)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        m += v[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    *mean = m;
    *se = n > 1 ? sqrt(s / (double)(n - 1) / (double)n) : 0.0;
}

/* The two halves of the loop over points (dist.h): every rank integrates chunks of --batch points,
 * rank 0 takes the rows (logp, bpd, nfe[, exact_logp]) in order. */
typedef struct likelihood_job {
    app_model *m;
    const sgm_likelihood_options *lo;
    const matrix *pts;
    uint64_t seed;
    size_t n_cols;
    double *logp, *bpd, *exact; /* (batch) scratch of the computing rank */
    size_t *nfe;                /* (batch) */
    /* rank 0 */
    table_writer *tw;           /* or NULL */
    double *all_logp, *all_bpd, *all_nfe, *all_exact;
    int fd_divergence;
    dist_chunks *chunks; /* its progress bar, for progress inside a batch */
} likelihood_job;

static int likelihood_chunk(void *ctx, size_t first, size_t n, double *rows, double *info)
{
    likelihood_job *job = ctx;
    const app_model *m = job->m;
    const double *x = job->pts->x + first * m->dim;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    app_model_track_progress(job->m, job->chunks->bar, first, n, 0.0, m->process.T); /* from eps up to T */
    int rc = sgm_likelihood(&m->process, &m->score, job->lo, n, x, job->seed, first, job->logp, job->bpd,
                            job->nfe, NULL, &stats, &err);
    app_model_track_progress(job->m, NULL, 0, 0, 0.0, 0.0);
    if (rc != SLV_OK)
        return report_solver_failure("likelihood", rc, &err);
    if (m->gmm)
        sgm_gmm_log_density(m->gmm, &m->process, job->lo->eps, n, x, job->exact);
    for (size_t i = 0; i < n; i++) {
        double *row = rows + i * job->n_cols;
        row[0] = job->logp[i];
        row[1] = job->bpd[i];
        row[2] = (double)job->nfe[i];
        if (m->gmm)
            row[3] = job->exact[i];
    }
    info[0] = stats.fd_divergence;
    return 0;
}

static int likelihood_deliver(void *ctx, size_t first, size_t n, const double *rows, const double *info)
{
    likelihood_job *job = ctx;
    scoresde_error error;
    job->fd_divergence |= info[0] != 0;
    for (size_t i = 0; i < n; i++) {
        const double *row = rows + i * job->n_cols;
        job->all_logp[first + i] = row[0];
        job->all_bpd[first + i] = row[1];
        job->all_nfe[first + i] = row[2];
        if (job->all_exact)
            job->all_exact[first + i] = row[3];
    }
    if (job->tw && table_write_rows(job->tw, n, rows, &error))
        return cli_fail("likelihood", "--out %s", error.message);
    return 0;
}

/* What the command line asks for, checked. */
typedef struct likelihood_request {
    common_options c;
    const char *dtype;
    int float64; /* --dtype float64 */
} likelihood_request;

enum { LIKELIHOOD_GO_ON = -1 }; /* the command runs on; any other value is its exit status */

static int parse_request(int argc, char **argv, likelihood_request *r)
{
    common_options *c = &r->c;
    common_options_init(c);
    c->num = 1000000000;
    r->dtype = "float32";
    cli_option opts[64];
    size_t count = 0;
    common_options_add(opts, &count, c, OPTS_MODEL | OPTS_LIKELIHOOD | OPTS_IO);
    opts[count++] = (cli_option){"num", CLI_SIZE, &c->num, "at most this many points of --in", NULL, 1,
                                 1e12, 0, NULL, 0};
    opts[count++] = (cli_option){"batch", CLI_SIZE, &c->batch, "points per batch", NULL, 1, 1e6, 0, NULL, 0};
    opts[count++] = (cli_option){"seed", CLI_U64, &c->seed, "seed of the probes and dequantisation", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"steps", CLI_SIZE, &c->steps, "steps of fixed-step ODE solvers (0: 100)",
                                 NULL, 0, 1e8, 0, NULL, 0};
    opts[count++] = (cli_option){"joint", CLI_FLAG, &c->joint,
                                 "one adaptive step sequence per batch (faster; depends on the batch)",
                                 NULL, 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"dtype", CLI_CHOICE, &r->dtype, ".npy output: value type (CSV: float64 "
                                 "writes 17 significant digits instead of 9)", "float32,float64", 0, 0, 0,
                                 NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    cli_describe(opts, "in", "points: CSV with columns x0..x{d-1}, .npy, fashion-mnist:test|train or "
                             "toy:NAME" CLI_REQUIRED);
    cli_describe(opts, "out", "one row per point (logp,bpd,nfe[,exact_logp]): .csv or .npy (any other "
                              "extension: CSV)" CLI_DEFAULT_IS("none: the summary only"));
    int rc = cli_parse(&likelihood_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(c, opts);
    if (!c->in)
        return cli_usage_error(&likelihood_command, "--in is required (points to evaluate)");
    r->float64 = strcmp(r->dtype, "float64") == 0;
    return LIKELIHOOD_GO_ON;
}

/* The points and what is computed for them. */
typedef struct likelihood_data {
    matrix pts;
    size_t batch, n_cols;
    double *logp, *bpd, *nfe, *exact;                /* every point (rank 0) */
    double *chunk_logp, *chunk_bpd, *chunk_exact;    /* (batch) */
    size_t *chunk_nfe;                               /* (batch) */
    table_writer tw;
    int writing, fd_divergence;
    double seconds;
} likelihood_data;

/* Reads --in and allocates the results; returns LIKELIHOOD_GO_ON or the exit status. */
static int load_data(const likelihood_request *r, const app_model *m, likelihood_data *d)
{
    scoresde_error error;
    if (load_points(r->c.in, m, r->c.num, r->c.seed, &d->pts, &error))
        return cli_fail("likelihood", "--in %s", error.message);
    size_t batch = r->c.batch < d->pts.n ? r->c.batch : d->pts.n, n_all = dist_is_root() ? d->pts.n : 0;
    d->batch = batch;
    d->n_cols = m->gmm ? 4 : 3;
    d->chunk_logp = malloc(batch * sizeof *d->chunk_logp);
    d->chunk_bpd = malloc(batch * sizeof *d->chunk_bpd);
    d->chunk_exact = malloc(batch * sizeof *d->chunk_exact);
    d->chunk_nfe = malloc(batch * sizeof *d->chunk_nfe);
    d->logp = malloc((n_all + 1) * sizeof *d->logp);
    d->bpd = malloc((n_all + 1) * sizeof *d->bpd);
    d->nfe = malloc((n_all + 1) * sizeof *d->nfe);
    d->exact = m->gmm ? malloc((n_all + 1) * sizeof *d->exact) : NULL;
    if (!d->chunk_logp || !d->chunk_bpd || !d->chunk_exact || !d->chunk_nfe || !d->logp || !d->bpd || !d->nfe ||
        (m->gmm && !d->exact))
        return cli_fail("likelihood", "out of memory for %zu points", d->pts.n);
    if (r->c.out && dist_is_root()) {
        static const char *const names[] = {"logp", "bpd", "nfe", "exact_logp"};
        if (table_open_as(&d->tw, r->c.out, d->n_cols, names, d->pts.n, r->float64, &error))
            return cli_fail("likelihood", "--out %s", error.message);
        d->writing = 1;
    }
    return LIKELIHOOD_GO_ON;
}

/* Integrates every chunk and commits the rows; returns 0 or the exit status. */
static int integrate_points(const likelihood_request *r, app_model *m, const sgm_likelihood_options *lo,
                            likelihood_data *d)
{
    likelihood_job job = {m, lo, &d->pts, r->c.seed, d->n_cols, d->chunk_logp, d->chunk_bpd, d->chunk_exact,
                          d->chunk_nfe, d->writing ? &d->tw : NULL, d->logp, d->bpd, d->nfe, d->exact, 0, NULL};
    dist_chunks chunks = {d->pts.n, d->batch, d->n_cols, 1, likelihood_chunk, likelihood_deliver, &job,
                          "likelihood", r->c.quiet, 0, NULL};
    job.chunks = &chunks;
    double start = wall_seconds();
    int rc = dist_run_chunks(&chunks);
    if (rc) {
        if (rc == EXIT_INTERRUPTED && d->writing &&
            table_keep_completed(&d->tw, "likelihood", r->c.out, chunks.delivered, "points"))
            d->writing = 0;
        return rc;
    }
    d->seconds = wall_seconds() - start;
    d->fd_divergence = job.fd_divergence;
    scoresde_error error;
    if (d->writing) {
        d->writing = 0;
        if (table_commit(&d->tw, &error))
            return cli_fail("likelihood", "--out %s", error.message);
    }
    return 0;
}

static void report_likelihood(const likelihood_request *r, const app_model *m, const sgm_likelihood_options *lo,
                              const likelihood_data *d)
{
    const common_options *c = &r->c;
    size_t n = d->pts.n;
    double lm, lse, bm, bse, nm, nse;
    mean_se(d->logp, n, &lm, &lse);
    mean_se(d->bpd, n, &bm, &bse);
    mean_se(d->nfe, n, &nm, &nse);
    char model_note[256], solver[160], written[1200];
    describe_model(c, m, model_note, sizeof model_note);
    describe_ode(lo->method, lo->rtol, lo->atol, lo->n_steps, solver, sizeof solver);
    if (c->out)
        snprintf(written, sizeof written, "%s (%s)", c->out, io_format_note(c->out, r->float64));
    else
        snprintf(written, sizeof written, "not written (no --out given)");
    printf("model       %s (%s)\npoints      %zu from %s\n", m->name, model_note, n, c->in);
    printf("divergence  %s%s; ODE %s; eps %g\n", c->hutchinson,
           d->fd_divergence ? " (finite differences of the score)" : "", solver, lo->eps);
    printf("rows        %s\n", written);
    printf("log p       %.6f ± %.6f nats\nbits/dim    %.6f ± %.6f%s\nNFE         %.1f per point\n"
           "time        %.3f s\n", lm, lse, bm, bse,
           lo->bpd_levels > 0 ? " (8-bit scale, dequantisation offset included)" : "", nm, d->seconds);
    if (m->gmm) {
        double em, ese, worst = 0;
        mean_se(d->exact, n, &em, &ese);
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(d->logp[i] - d->exact[i]));
        printf("exact       %.6f nats (closed form log p_eps); largest |error| %.3g nats\n", em, worst);
    }
}

static void likelihood_data_free(likelihood_data *d)
{
    if (d->writing)
        table_abort(&d->tw);
    matrix_free(&d->pts);
    free(d->logp);
    free(d->bpd);
    free(d->nfe);
    free(d->exact);
    free(d->chunk_nfe);
    free(d->chunk_logp);
    free(d->chunk_bpd);
    free(d->chunk_exact);
}

int cmd_likelihood(int argc, char **argv)
{
    likelihood_request r;
    int rc = parse_request(argc, argv, &r);
    if (rc != LIKELIHOOD_GO_ON)
        return rc;
    app_model m;
    if (load_model_or_fail("likelihood", &r.c, &m))
        return 1;
    sgm_likelihood_options lo;
    likelihood_data d = {0};
    int status;
    if ((rc = likelihood_from_options(&likelihood_command, &r.c, &m, &lo)))
        status = rc;
    else if ((rc = load_data(&r, &m, &d)) != LIKELIHOOD_GO_ON)
        status = rc;
    else if ((rc = integrate_points(&r, &m, &lo, &d)))
        status = rc;
    else {
        if (dist_is_root()) /* rank 0 has the results */
            report_likelihood(&r, &m, &lo, &d);
        status = 0;
    }
    likelihood_data_free(&d);
    app_model_free(&m);
    return status;
}
