/* scoresde likelihood — exact log-likelihood and bits/dim through the probability-flow ODE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
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
    "--model M --in POINTS [options]",
    "scoresde likelihood --model gmm:models/gmm2d.txt --sde vp --in points.csv --hutchinson exact --out logp.csv"};

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

int cmd_likelihood(int argc, char **argv)
{
    common_options c;
    common_options_init(&c);
    c.num = 1000000000;
    cli_option opts[64];
    size_t count = 0;
    common_options_add(opts, &count, &c, OPTS_MODEL | OPTS_LIKELIHOOD | OPTS_IO);
    opts[count++] = (cli_option){"num", CLI_SIZE, &c.num, "at most this many points of --in", NULL, 1,
                                 1e12, 0, NULL, 0};
    opts[count++] = (cli_option){"batch", CLI_SIZE, &c.batch, "points per batch", NULL, 1, 1e6, 0, NULL, 0};
    opts[count++] = (cli_option){"seed", CLI_U64, &c.seed, "seed of the probes and dequantisation", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"steps", CLI_SIZE, &c.steps, "steps of fixed-step ODE solvers", NULL,
                                 0, 1e8, 0, NULL, 0};
    opts[count++] = (cli_option){"joint", CLI_FLAG, &c.joint,
                                 "one adaptive step sequence per batch (faster; depends on the batch)",
                                 NULL, 0, 0, 0, NULL, 0};
    opts[count] = (cli_option){0};
    int rc = cli_parse(&likelihood_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&c, opts);
    if (!c.in)
        return cli_usage_error(&likelihood_command, "--in is required (points to evaluate)");
    if (!c.model)
        return cli_usage_error(&likelihood_command, "--model is required");

    app_model m;
    if (load_model_or_fail("likelihood", &c, &m))
        return 1;
    sgm_likelihood_options lo;
    matrix pts = {0};
    double *rows = NULL, *logp = NULL, *bpd = NULL, *nfe_d = NULL, *exact = NULL;
    size_t *nfe = NULL;
    table_writer tw;
    int writing = 0, status = 1;
    char msg[1024];
    if ((rc = likelihood_from_options(&likelihood_command, &c, &m, &lo))) {
        status = rc;
        goto done;
    }
    if (load_points(c.in, &m, c.num, c.seed, &pts, msg, sizeof msg)) {
        cli_fail("likelihood", "--in %s", msg);
        goto done;
    }
    size_t batch = c.batch < pts.n ? c.batch : pts.n;
    logp = malloc(pts.n * sizeof *logp);
    bpd = malloc(pts.n * sizeof *bpd);
    nfe_d = malloc(pts.n * sizeof *nfe_d);
    nfe = malloc(batch * sizeof *nfe);
    size_t n_cols = m.gmm ? 4 : 3;
    rows = malloc(batch * n_cols * sizeof *rows);
    exact = m.gmm ? malloc(pts.n * sizeof *exact) : NULL;
    if (!logp || !bpd || !nfe_d || !nfe || !rows || (m.gmm && !exact)) {
        cli_fail("likelihood", "out of memory for %zu points", pts.n);
        goto done;
    }
    if (c.out) {
        static const char *const names[] = {"logp", "bpd", "nfe", "exact_logp"};
        if (table_open(&tw, c.out, n_cols, names, pts.n, msg, sizeof msg)) {
            cli_fail("likelihood", "--out %s", msg);
            goto done;
        }
        writing = 1;
    }
    progress bar;
    progress_start(&bar, "likelihood", pts.n, c.quiet);
    double start = wall_seconds();
    int fd_divergence = 0;
    size_t done_points = 0;
    for (size_t first = 0; first < pts.n; first += batch) {
        size_t n = pts.n - first < batch ? pts.n - first : batch;
        sgm_stats stats;
        slv_error err;
        slv_error_clear(&err);
        rc = sgm_likelihood(&m.process, &m.score, &lo, n, pts.x + first * m.dim, c.seed, first,
                            logp + first, bpd + first, nfe, NULL, &stats, &err);
        if (rc != SLV_OK) {
            progress_finish(&bar);
            status = report_solver_failure("likelihood", rc, &err);
            if (rc == SLV_EINTERRUPTED && writing && !has_extension(c.out, ".npy") && done_points &&
                table_commit(&tw, msg, sizeof msg) == 0) {
                writing = 0;
                fprintf(stderr, "scoresde likelihood: the %zu completed points are in %s\n", done_points,
                        c.out);
            }
            goto done;
        }
        fd_divergence |= stats.fd_divergence;
        if (m.gmm)
            sgm_gmm_log_density(m.gmm, &m.process, lo.eps, n, pts.x + first * m.dim, exact + first);
        for (size_t i = 0; i < n; i++) {
            double *row = rows + i * n_cols;
            nfe_d[first + i] = (double)nfe[i];
            row[0] = logp[first + i];
            row[1] = bpd[first + i];
            row[2] = (double)nfe[i];
            if (m.gmm)
                row[3] = exact[first + i];
        }
        if (writing && table_write_rows(&tw, n, rows, msg, sizeof msg)) {
            cli_fail("likelihood", "--out %s", msg);
            goto done;
        }
        done_points += n;
        progress_update(&bar, first + n);
    }
    progress_finish(&bar);
    double seconds = wall_seconds() - start;
    if (writing) {
        writing = 0;
        if (table_commit(&tw, msg, sizeof msg)) {
            cli_fail("likelihood", "--out %s", msg);
            goto done;
        }
    }
    double lm, lse, bm, bse, nm, nse;
    mean_se(logp, pts.n, &lm, &lse);
    mean_se(bpd, pts.n, &bm, &bse);
    mean_se(nfe_d, pts.n, &nm, &nse);
    printf("model       %s (%s, d = %zu)\npoints      %zu from %s\n", m.name,
           sgm_process_kind_name(m.process.kind), m.dim, pts.n, c.in);
    printf("divergence  %s%s; ODE %s rtol %g atol %g; eps %g\n", c.hutchinson,
           fd_divergence ? " (finite differences of the score)" : "", lo.method->name, lo.rtol, lo.atol,
           lo.eps);
    printf("log p       %.6f ± %.6f nats\nbits/dim    %.6f ± %.6f%s\nNFE         %.1f per point\n"
           "time        %.3f s\n", lm, lse, bm, bse,
           lo.bpd_levels > 0 ? " (8-bit scale, dequantisation offset included)" : "", nm, seconds);
    if (m.gmm) {
        double em, ese, worst = 0;
        mean_se(exact, pts.n, &em, &ese);
        for (size_t i = 0; i < pts.n; i++)
            worst = fmax(worst, fabs(logp[i] - exact[i]));
        printf("exact       %.6f nats (closed form log p_eps); largest |error| %.3g nats\n", em, worst);
    }
    status = 0;
done:
    if (writing)
        table_abort(&tw);
    matrix_free(&pts);
    free(logp);
    free(bpd);
    free(nfe_d);
    free(exact);
    free(nfe);
    free(rows);
    app_model_free(&m);
    return status;
}
