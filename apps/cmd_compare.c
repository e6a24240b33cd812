/* scoresde compare — every listed sampler from the same seed(s) on the same model: NFE, wall time
 * and sample quality with error bars (metrics.h), as a table (stdout, CSV, Markdown) and plots
 * (compare_report.c). On the mixture oracle the deterministic samplers are also measured against
 * the probability-flow solution of the same latents. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "commands.h"
#include "dist.h"
#include "io.h"
#include "metrics.h"
#include "picture.h"
#include "sampling.h"

static const cli_command compare_command = {
    "compare",
    "Runs every sampler of --samplers (comma-separated; pc:PRED[+CORR][@N], ode:METHOD[@TOL|@STEPS],\n"
    "sde:METHOD[@TOL|@STEPS], ald[:T[:STEP_LR]][@L] for VE models) on --num samples from the same seed\n"
    "(--repeats R: R seeds, SEED .. SEED+R-1, means with error bars) and reports NFE per sample, wall\n"
    "time and quality, each with its standard error or 95% interval:\n"
    "  sw2          sliced Wasserstein-2 distance (>= 0) to 20000 exact samples of the mixture (gmm:\n"
    "               models, --reference gmm:FILE) or to the --reference points, bootstrap interval;\n"
    "               beside it the floor: what sets of as many exact samples score\n"
    "  xent_gap     cross-entropy gap E_q[-log p] - H(p) against the exact mixture density (0 when\n"
    "               the samples are exact), with its standard error\n"
    "  flow_rms/max probability-flow (ode:) samplers: error against the same latents' flow solved by\n"
    "               rk45 at --flow-tol, with the sampler's own last step (RMS and largest over samples)\n"
    "  frechet      Fashion-MNIST models: Fréchet distance of the shipped classifier's features to the\n"
    "               test set, bootstrap standard error, beside the floor of as many training images;\n"
    "               and a grid of samples per sampler, PREFIX_<sampler>.png\n"
    "  and, as before, the energy distance (unbiased, so it can be negative) and the largest\n"
    "  per-mode weight error.\n"
    "Writes PREFIX.csv (columns sampler,nfe,seconds,energy_distance,mode_weight_error, then repeats,\n"
    "seconds_se,mode_weight_error_se,sw2,sw2_lo,sw2_hi,sw2_floor,xent_gap,xent_gap_se,flow_rms,\n"
    "flow_rms_se,flow_max,frechet,frechet_se,frechet_floor), PREFIX.md, PREFIX.png and\n"
    "PREFIX_time.png (distance against NFE and wall time), PREFIX_work.png (flow error against NFE\n"
    "and time: a work-precision diagram, one line per method over its step counts) and\n"
    "PREFIX_xent.png when measured. Values that do not apply are nan in the CSV, '-' in the\n"
    "Markdown, and are not drawn. PREFIX.runs.csv keeps every run as its sampler finishes: after an\n"
    "interruption, the same command with --resume skips the samplers it holds.",
    "--model M --samplers LIST [options]",
    "scoresde compare --model gmm:models/gmm2d.txt --sde vp --samplers \"pc:euler_maruyama@1000,"
    "ode:dopri5,ode:ddim@10,ode:dpm-solver-3@10,ode:dpmpp-2m@20,sde:dpmpp-2m-sde@20\" --num 2000 --repeats 3"};

#define MAX_SAMPLERS 64
enum {
    SW2_REFERENCE_SAMPLES = 20000, /* exact samples SW2 is measured against */
    SW2_DIRECTIONS_2D = 64,        /* random directions (d ≤ 2: angles on a circle) */
    SW2_DIRECTIONS = 128,
    SW2_BOOTSTRAP = 200,
    ENTROPY_SAMPLES = 200000,      /* exact samples for H(p) */
    FRECHET_BOOTSTRAP = 30,
    GRID_IMAGES = 64               /* images in a sampler's picture */
};

/* One sampler's run over the ranks (dist.h): every rank samples chunks of --batch, rank 0 collects. */
typedef struct compare_job {
    const sampler_spec *spec;
    app_model *m;
    uint64_t seed;
    double *x; /* rank 0: (num, d) */
    double nfe;
} compare_job;

static int compare_chunk(void *ctx, size_t first, size_t n, double *rows, double *info)
{
    compare_job *job = ctx;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    int rc = sampler_run(job->spec, job->m, n, job->seed, first, rows, &stats, &err);
    if (rc != SLV_OK) {
        rc = report_solver_failure("compare", rc, &err);
        fprintf(stderr, "scoresde compare: (sampler %s)\n", job->spec->label);
        return rc;
    }
    info[0] = (double)stats.nfe * (double)n;
    return 0;
}

static int compare_deliver(void *ctx, size_t first, size_t n, const double *rows, const double *info)
{
    compare_job *job = ctx;
    memcpy(job->x + first * job->m->dim, rows, n * job->m->dim * sizeof *rows);
    job->nfe += info[0];
    return 0;
}

/* The reference flow of one seed's latents: the probability-flow ODE solved from the prior draws
 * every sampler of that seed starts from (SGM_STREAM_PRIOR), to x(eps) without a last step. */
typedef struct flow_reference {
    double tol;
    uint64_t seed;
    double eps;
    int valid;
    double *z, *x_eps, *x_end; /* (n, d): latents, x(eps), x(eps) after a sampler's last step */
} flow_reference;

static double resolved_eps(const app_model *m, double eps)
{
    return eps == SGM_EPS_DEFAULT ? sgm_process_default_eps(&m->process) : eps;
}

/* The reference with the sampler's own end (spec: a probability-flow ODE sampler, a row marked
 * deterministic): x(eps) (no denoising); the classic ODE sampler's noise-free reverse-diffusion
 * step at eps; a fast sampler's step to σ̂ = 0, the denoiser D = (x + s(eps)² score(x, eps))/m(eps).
 * Returns 0 or 1 after a message. */
static int flow_reference_for(flow_reference *f, app_model *m, const sampler_spec *spec, size_t n,
                              uint64_t seed, int quiet)
{
    const size_t d = m->dim;
    const sgm_ode_options *ode = sampler_ode_options(spec);
    const double eps = resolved_eps(m, ode->eps);
    slv_error err;
    slv_error_clear(&err);
    if (!f->valid || f->seed != seed || f->eps != eps) {
        if (!quiet)
            fprintf(stderr, "compare: reference flow (rk45 at %g, seed %llu) ...\n", f->tol,
                    (unsigned long long)seed);
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        o.method = slv_ode_rk45;
        o.rtol = o.atol = f->tol;
        o.max_steps = 10000000;
        o.eps = eps;
        o.denoise = 0;
        o.interrupt = &cli_interrupted;
        int rc = sgm_process_prior_sample(&m->process, n, d, seed, 0, f->z);
        if (rc == SLV_OK)
            rc = sgm_decode(&m->process, &m->score, &o, n, f->z, 0, 0, f->x_eps, NULL, NULL, &err);
        if (rc != SLV_OK) {
            f->valid = 0;
            return report_solver_failure("compare", rc, &err);
        }
        f->valid = 1, f->seed = seed, f->eps = eps;
    }
    memcpy(f->x_end, f->x_eps, n * d * sizeof *f->x_end);
    if (!ode->denoise)
        return 0;
    int rc;
    if (ode->fast) {
        const double alpha = sgm_process_mean_coef(&m->process, eps), sigma = sgm_process_std(&m->process, eps);
        rc = m->score.score(eps, n, d, f->x_eps, f->x_end, m->score.params);
        for (size_t k = 0; rc == 0 && k < n * d; k++)
            f->x_end[k] = (f->x_eps[k] + sigma * sigma * f->x_end[k]) / alpha;
        if (rc)
            return cli_fail("compare", "the score failed at t = %g in the reference's last step", eps);
        return 0;
    }
    rc = sgm_denoise(&m->process, &m->score, eps, n, 0, f->x_end, NULL, &err);
    return rc == SLV_OK ? 0 : report_solver_failure("compare", rc, &err);
}

/* Everything the runs are measured against. */
typedef struct compare_oracle {
    const sgm_gmm *gmm;      /* the data density (m.gmm or --reference gmm:); NULL: none */
    const matrix *points;    /* reference points (energy distance); NULL: none */
    sw2_reference *sw2;      /* NULL: no SW2 */
    double entropy, entropy_se;
    compare_images *images;  /* NULL: not an image model */
    flow_reference flow;     /* flow.z NULL: no flow error */
    /* owned: */
    sgm_gmm *ref_gmm;        /* --reference gmm:FILE */
    matrix ref;              /* the points behind `points` */
    char sw2_words[1200], flow_words[200]; /* for the report: what SW2 and the flow error are against */
} compare_oracle;

static void compare_oracle_free(compare_oracle *o)
{
    matrix_free(&o->ref);
    sgm_gmm_free(o->ref_gmm);
    sw2_reference_free(o->sw2);
    compare_images_free(o->images);
    free(o->flow.z), free(o->flow.x_eps), free(o->flow.x_end);
}

static int measure_run(compare_oracle *o, app_model *m, const compare_row *row, const double *x, size_t n,
                       uint64_t seed, compare_run *run, int quiet)
{
    const size_t d = m->dim;
    size_t energy_n = n < 4000 ? n : 4000; /* the O(n²) distance on at most 4000 points */
    run->energy = o->points ? energy_distance(d, x, energy_n, o->points->x, o->points->n < energy_n
                                                                                 ? o->points->n : energy_n)
                            : NAN;
    run->mode_error = o->gmm ? mode_weight_error(o->gmm, x, n, NULL) : NAN;
    const metric_value none = {NAN, NAN, NAN, NAN};
    run->sw2 = run->xent = run->flow_rms = run->frechet = none;
    run->flow_max = NAN;
    if (o->sw2 && sw2_distance(o->sw2, x, n, SW2_BOOTSTRAP, seed ^ 0xb007, &run->sw2))
        return cli_fail("compare", "out of memory for the sliced Wasserstein distance");
    if (o->gmm && !isnan(o->entropy) && cross_entropy_gap(o->gmm, x, n, o->entropy, o->entropy_se, &run->xent))
        return cli_fail("compare", "out of memory for the cross-entropy gap");
    if (o->flow.z && row->deterministic) {
        int rc = flow_reference_for(&o->flow, m, &row->spec, n, seed, quiet);
        if (rc) /* 130 when interrupted */
            return rc;
        flow_error(d, x, o->flow.x_end, n, &run->flow_rms, &run->flow_max);
    }
    if (o->images && compare_images_frechet(o->images, m, x, n, seed ^ 0xf1d, &run->frechet))
        return cli_fail("compare", "the Fréchet distance failed (out of memory or eigen-decomposition)");
    return 0;
}

/* What exact samples score: SW2 of FLOOR_SETS independent sets of n exact samples — the mean, its
 * standard error and the range of the middle 95% of the sets (a sampler whose SW2 lies in it
 * cannot be told from exact at this n) — and the energy distance of one set (its noise). */
static int sw2_floor(const compare_oracle *o, size_t n, uint64_t seed, metric_value *floor, double *energy_floor,
                     const matrix *ref)
{
    enum { FLOOR_SETS = 40 };
    const size_t d = o->gmm->dim;
    double *y = malloc(n * d * sizeof *y), values[FLOOR_SETS], sum = 0, ss = 0;
    for (size_t s = 0; y && s < FLOOR_SETS; s++) {
        metric_value v;
        if (sgm_gmm_sample(o->gmm, NULL, 0.0, n, seed ^ 0xf100d, s * n, y, NULL) ||
            sw2_distance(o->sw2, y, n, 0, 0, &v)) {
            free(y);
            return -1;
        }
        values[s] = v.value;
        sum += v.value;
        if (s == 0) {
            size_t energy_n = n < 4000 ? n : 4000;
            *energy_floor = energy_distance(d, y, energy_n, ref->x, energy_n);
        }
    }
    if (!y)
        return -1;
    free(y);
    metric_sort(values, FLOOR_SETS);
    floor->value = sum / FLOOR_SETS;
    for (size_t s = 0; s < FLOOR_SETS; s++)
        ss += (values[s] - floor->value) * (values[s] - floor->value);
    floor->se = sqrt(ss / (FLOOR_SETS - 1) / FLOOR_SETS);
    floor->lo = values[0] + 0.975 * (values[1] - values[0]);                          /* 2.5% */
    floor->hi = values[FLOOR_SETS - 2] + 0.025 * (values[FLOOR_SETS - 1] - values[FLOOR_SETS - 2]); /* 97.5% */
    return 0;
}

/* A sample grid of the first repeat's images: PREFIX_<sampler>.png. */
static int write_sampler_grid(const char *prefix, const app_model *m, const sampler_spec *spec, const double *x,
                              size_t n)
{
    char name[128], path[1200];
    scoresde_error error;
    compare_file_name(spec->label, name, sizeof name);
    snprintf(path, sizeof path, "%s_%s.png", prefix, name);
    if (png_write_grid(path, m, x, n < GRID_IMAGES ? n : GRID_IMAGES, 8, 0, &error))
        return cli_fail("compare", "--out %s", error.message);
    return 0;
}


/* What the command line asks for, checked. */
typedef struct compare_request {
    common_options c;
    const char *samplers, *prefix, *reference;
    size_t repeats;
    double flow_tol;
    int resume;
    char runs_path[1200];  /* PREFIX.runs.csv */
    char identity[16384];  /* its first line's fields: what the runs depend on (compare_identity) */
} compare_request;

enum { COMPARE_GO_ON = -1 }; /* parse_request: the command runs; any other value is its exit status */

static int parse_request(int argc, char **argv, compare_request *r)
{
    *r = (compare_request){.samplers = "pc:reverse_diffusion+langevin,pc:euler_maruyama,ode:rk45,ode:heun@50,"
                                       "sde:sra1@200,sde:adaptive@1e-2",
                           .prefix = "compare", .repeats = 1};
    common_options *c = &r->c;
    common_options_init(c);
    c->num = 1000;
    c->batch = 1000;
    cli_option opts[64];
    size_t count = 0;
    common_options_add(opts, &count, c, OPTS_MODEL | OPTS_NUM);
    opts[count++] = (cli_option){"samplers", CLI_STRING, &r->samplers, "comma-separated samplers (above)",
                                 NULL, 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"rtol", CLI_DOUBLE, &c->rtol,
                                 "relative tolerance of adaptive samplers given without @TOL", NULL, 0, 1, 1,
                                 NULL, 0};
    opts[count++] = (cli_option){"atol", CLI_DOUBLE, &c->atol,
                                 "absolute tolerance of adaptive samplers given without @TOL", NULL, 0, 1e6, 1,
                                 NULL, 0};
    opts[count++] = (cli_option){"snr", CLI_DOUBLE, &c->snr, "Langevin corrector signal-to-noise ratio",
                                 NULL, 0, 10, 1, NULL, 0};
    opts[count++] = (cli_option){"reference", CLI_STRING, &r->reference,
                                 "what non-gmm models are measured against (gmm:FILE, file, toy:NAME)", NULL, 0,
                                 0, 0, NULL, 0};
    opts[count++] = (cli_option){"repeats", CLI_SIZE, &r->repeats,
                                 "runs of every sampler, seeds SEED .. SEED+R-1 (means, error bars)", NULL, 1,
                                 1000, 0, NULL, 0};
    opts[count++] = (cli_option){"flow-tol", CLI_DOUBLE, &r->flow_tol,
                                 "rtol = atol of the reference flow (rk45)"
                                 CLI_DEFAULT_IS("1e-10 for gmm: models; 1e-7 for networks"),
                                 NULL, 0, 1e-2, 1, NULL, 0};
    opts[count++] = (cli_option){"out", CLI_STRING, &r->prefix, "prefix of the .csv/.md/.png reports", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"resume", CLI_FLAG, &r->resume,
                                 "skip the samplers whose runs PREFIX.runs.csv holds (the same comparison)", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    /* required: the shipped image model has no reference to compare against */
    cli_describe(opts, "model", "gmm:FILE (Gaussian-mixture oracle) or FILE.sgm (trained network)" CLI_REQUIRED);
    int rc = cli_parse(&compare_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(c, opts);
    if (!c->model)
        return cli_usage_error(&compare_command, "--model is required");
    if (c->num < 2)
        return cli_usage_error(&compare_command, "--num: %zu, compare needs at least 2 samples per sampler",
                               c->num);
    /* Rank 0 alone reads the runs file, and dist.h has no way to pass its choice of samplers to skip
     * on to the other ranks (every rank must run the same samplers). */
    if (r->resume && dist_size() > 1)
        return cli_usage_error(&compare_command, "--resume: works on one process only, this run has %d MPI "
                               "ranks (run without --resume, or without mpirun)", dist_size());
    snprintf(r->runs_path, sizeof r->runs_path, "%s.runs.csv", r->prefix);
    return COMPARE_GO_ON;
}

/* The rows of --samplers, each with room for its repeats. Returns 0, or the exit status after a
 * message (the rows made so far are counted in *n_rows). */
static int parse_samplers(const compare_request *r, const app_model *m, compare_row *rows, size_t *n_rows)
{
    char *list = strdup(r->samplers);
    scoresde_error error;
    int status = 1;
    if (!list) {
        cli_fail("compare", "out of memory");
        goto done;
    }
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (*n_rows == MAX_SAMPLERS) {
            status = cli_usage_error(&compare_command, "--samplers: more than %d samplers", MAX_SAMPLERS);
            goto done;
        }
        compare_row *row = &rows[*n_rows];
        if (sampler_parse(tok, &m->process, &r->c, &row->spec, &error)) {
            status = cli_usage_error(&compare_command, "--samplers: sampler '%s': %s", tok,
                                     error.message);
            goto done;
        }
        row->deterministic = sampler_ode_options(&row->spec) != NULL;
        row->runs = calloc(r->repeats, sizeof *row->runs);
        ++*n_rows;
        if (!row->runs) {
            cli_fail("compare", "out of memory");
            goto done;
        }
    }
    if (*n_rows == 0) {
        status = cli_usage_error(&compare_command, "--samplers: empty list");
        goto done;
    }
    status = 0;
done:
    free(list);
    return status;
}

/* The reference: the mixture (m's, or --reference gmm:FILE) and n exact samples of it, or the
 * --reference points. Returns 0 or 1 after a message. */
static int load_reference(const compare_request *r, app_model *m, compare_oracle *o)
{
    const size_t d = m->dim, n = r->c.num;
    const char *reference = r->reference;
    if (!m->gmm && reference && strncmp(reference, "gmm:", 4) == 0) {
        slv_error err;
        if (sgm_gmm_load(reference + 4, &o->ref_gmm, &err) != SLV_OK)
            return cli_fail("compare", "--reference %s", err.message);
        if (o->ref_gmm->dim != d)
            return cli_fail("compare", "--reference %s has dimension %zu, the model %zu", reference,
                            o->ref_gmm->dim, d);
    }
    o->gmm = m->gmm ? m->gmm : o->ref_gmm;
    if (o->gmm) {
        o->ref.n = n;
        o->ref.d = d;
        o->ref.x = malloc(n * d * sizeof *o->ref.x);
        if (!o->ref.x || sgm_gmm_sample(o->gmm, NULL, 0.0, n, r->c.seed ^ 0x5eed, 0, o->ref.x, NULL))
            return cli_fail("compare", "out of memory for the reference samples");
    } else if (reference) {
        scoresde_error error;
        if (load_points(reference, m, n, r->c.seed ^ 0x5eed, &o->ref, &error))
            return cli_fail("compare", "--reference %s", error.message);
    }
    o->points = o->ref.x ? &o->ref : NULL;
    return 0;
}

/* The reference flow's rtol = atol: --flow-tol, else tight where the score is the exact one. */
static double flow_tolerance(const compare_request *r, const app_model *m)
{
    return r->flow_tol > 0 ? r->flow_tol : m->gmm ? 1e-10 : 1e-7;
}

/* Rank 0: what the measures need beyond the reference — SW2's projections and H(p) of a mixture,
 * the reference flow's room, the image features and their floor. Returns 0 or 1 after a message. */
static int prepare_measures(const compare_request *r, const app_model *m, compare_oracle *o,
                            metric_value *frechet_floor)
{
    const size_t d = m->dim, n = r->c.num;
    const uint64_t seed = r->c.seed;
    const size_t dirs = d <= 2 ? SW2_DIRECTIONS_2D : SW2_DIRECTIONS;
    if (o->gmm) {
        double *big = malloc((size_t)SW2_REFERENCE_SAMPLES * d * sizeof *big);
        if (big && sgm_gmm_sample(o->gmm, NULL, 0.0, SW2_REFERENCE_SAMPLES, seed ^ 0x5a2, 0, big, NULL) == 0)
            o->sw2 = sw2_reference_alloc(d, big, SW2_REFERENCE_SAMPLES, dirs, seed ^ 0xd1);
        free(big);
        if (!o->sw2 || gmm_entropy(o->gmm, ENTROPY_SAMPLES, seed ^ 0xe7, &o->entropy, &o->entropy_se))
            return cli_fail("compare", "out of memory for the exact reference samples");
        snprintf(o->sw2_words, sizeof o->sw2_words, "%d exact samples of the mixture, %zu directions",
                 SW2_REFERENCE_SAMPLES, dirs);
    } else if (o->ref.x && !m->is_image) {
        if (!(o->sw2 = sw2_reference_alloc(d, o->ref.x, o->ref.n, dirs, seed ^ 0xd1)))
            return cli_fail("compare", "out of memory for the reference points");
        snprintf(o->sw2_words, sizeof o->sw2_words, "the %zu points of --reference %s, %zu directions",
                 o->ref.n, r->reference, dirs);
    }
    if (o->gmm && !m->is_image) { /* the reference flow: where the score is the oracle's or close to it */
        o->flow.tol = flow_tolerance(r, m);
        o->flow.z = malloc(n * d * sizeof *o->flow.z);
        o->flow.x_eps = malloc(n * d * sizeof *o->flow.x_eps);
        o->flow.x_end = malloc(n * d * sizeof *o->flow.x_end);
        if (!o->flow.z || !o->flow.x_eps || !o->flow.x_end)
            return cli_fail("compare", "out of memory for the reference flow");
        snprintf(o->flow_words, sizeof o->flow_words,
                 "the model's probability-flow ODE from the same latents, rk45 at rtol = atol = %g", o->flow.tol);
    }
    scoresde_error error;
    if (m->is_image && m->dim == 784 && compare_images_alloc(&o->images, n, seed, frechet_floor, &error))
        return cli_fail("compare", "%s", error.message);
    return 0;
}

/* A string as one field of the identity line, whose fields are separated by spaces: '%', spaces
 * and control characters as %XX. Returns 0, or −1 when out (size) is too small. */
static int identity_field(const char *text, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const unsigned char *ch = (const unsigned char *)text; *ch; ch++) {
        int plain = *ch > ' ' && *ch != '%' && *ch != 127;
        if (used + 4 > size)
            return -1;
        used += (size_t)snprintf(out + used, size - used, plain ? "%c" : "%%%02X", *ch);
    }
    return 0;
}

/* The shortest %g text (from 6 digits) that reads back as v: two comparisons then agree on a field
 * exactly when their values do. */
static const char *exact_text(double v, char out[32])
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, 32, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return out;
}

/* The first line of PREFIX.runs.csv: what the numbers of a run depend on — the model and its
 * process, the samples (--num, and --batch: the batch-mates of adaptive and batch-wide samplers),
 * the seeds, the tolerances and Langevin snr of samplers given without their own, and what the
 * measures are against (--reference, --flow-tol) — but not --threads, --quiet or --out. Returns 0
 * or 1 after a message. */
static int compare_identity(compare_request *r, const app_model *m)
{
    const common_options *c = &r->c;
    const sgm_process *p = &m->process;
    const int ve = p->kind == SGM_PROCESS_VE;
    char model[4096], reference[4096], x[7][32];
    if (identity_field(c->model, model, sizeof model) ||
        identity_field(r->reference ? r->reference : "none", reference, sizeof reference))
        return cli_fail("compare", "--model or --reference: too long for %s (over %zu characters)", r->runs_path,
                        sizeof model / 3);
    snprintf(r->identity, sizeof r->identity,
             "model=%s sde=%s %s=%s %s=%s N=%zu eps=%s num=%zu batch=%zu seed=%llu repeats=%zu rtol=%s atol=%s "
             "snr=%s reference=%s flow_tol=%s",
             model, sgm_process_kind_name(p->kind), ve ? "sigma_min" : "beta_min",
             exact_text(ve ? p->sigma_min : p->beta_min, x[0]), ve ? "sigma_max" : "beta_max",
             exact_text(ve ? p->sigma_max : p->beta_max, x[1]), p->N, exact_text(resolved_eps(m, c->eps), x[2]),
             c->num, c->batch, (unsigned long long)c->seed, r->repeats, exact_text(c->rtol, x[3]),
             exact_text(c->atol, x[4]), exact_text(c->snr, x[5]), reference, exact_text(flow_tolerance(r, m), x[6]));
    return 0;
}

/* --resume: marks done the rows whose runs PREFIX.runs.csv holds (run_samplers skips them). One
 * process only (parse_request). Returns 0 or 1 after a message. */
static int resume_runs(const compare_request *r, compare_row *rows, size_t n_rows)
{
    scoresde_error error;
    if (compare_runs_read(r->runs_path, r->identity, rows, n_rows, r->repeats, &error) < 0)
        return cli_fail("compare", "%s", error.message);
    return 0;
}

/* One sampler --repeats times over the ranks, into x (rank 0: (n, d)); rank 0 measures each run
 * and, for image models, writes the first repeat's grid. Returns 0 or the exit status. */
static int run_sampler(const compare_request *r, app_model *m, compare_row *row, compare_oracle *o, double *x)
{
    const common_options *c = &r->c;
    const size_t d = m->dim, n = c->num;
    for (size_t k = 0; k < r->repeats; k++) {
        const uint64_t seed = c->seed + k;
        if (!c->quiet && dist_is_root())
            fprintf(stderr, r->repeats > 1 ? "compare: %s (seed %llu) ...\n" : "compare: %s ...\n",
                    row->spec.label, (unsigned long long)seed);
        double start = wall_seconds();
        compare_job job = {&row->spec, m, seed, x, 0.0};
        dist_chunks chunks = {n, c->batch, d, 1, compare_chunk, compare_deliver, &job, row->spec.label,
                              c->quiet, 0, NULL};
        int rc = dist_run_chunks(&chunks);
        if (rc)
            return rc;
        if (!dist_is_root()) /* rank 0 judges the samples */
            continue;
        compare_run *run = &row->runs[k];
        run->seconds = wall_seconds() - start;
        run->nfe = job.nfe / (double)n;
        if ((rc = measure_run(o, m, row, x, n, seed, run, c->quiet)))
            return rc;
        if (k == 0 && m->is_image && write_sampler_grid(r->prefix, m, &row->spec, x, n))
            return 1;
    }
    return 0;
}

/* Every sampler but those read from PREFIX.runs.csv; rank 0 rewrites that file after each one, so
 * that an interruption loses only the sampler it stopped. Returns 0 or the exit status. */
static int run_samplers(const compare_request *r, app_model *m, compare_row *rows, size_t n_rows,
                        compare_oracle *o, double *x)
{
    const int root = dist_is_root();
    int saved = 0; /* the runs file holds some sampler of this comparison */
    for (size_t i = 0; i < n_rows; i++) {
        compare_row *row = &rows[i];
        if (row->done) { /* read by resume_runs */
            if (!r->c.quiet)
                fprintf(stderr, "compare: %s (from %s)\n", row->spec.label, r->runs_path);
        } else {
            int rc = run_sampler(r, m, row, o, x);
            if (rc == EXIT_INTERRUPTED && root && saved)
                cli_fail("compare", "the samplers finished so far are in %s: the same command with --resume "
                         "goes on from there", r->runs_path);
            if (rc)
                return rc;
            scoresde_error error;
            row->done = root;
            if (root && compare_runs_write(r->runs_path, r->identity, rows, n_rows, r->repeats, &error))
                return cli_fail("compare", "--out %s", error.message);
        }
        saved = 1;
        compare_row_summarise(row, r->repeats);
    }
    return 0;
}

/* Rank 0: the floors, then the table, CSV, Markdown and plots. Returns 0 or 1 after a message. */
static int report_comparison(const compare_request *r, const app_model *m, const compare_row *rows,
                             size_t n_rows, const compare_oracle *o, compare_report *report)
{
    /* Floors: what exact samples score. The energy distance of two independent exact sets is its
     * noise; SW2 of n exact samples is the distance a perfect sampler would show. */
    if (o->gmm && sw2_floor(o, r->c.num, r->c.seed, &report->sw2_floor, &report->energy_floor, &o->ref))
        return cli_fail("compare", "out of memory for the floor");
    report->m = m;
    report->rows = rows;
    report->n_rows = n_rows;
    report->num = r->c.num;
    report->repeats = r->repeats;
    report->seed = r->c.seed;
    report->entropy = o->entropy;
    report->entropy_se = o->entropy_se;
    report->sw2_reference = o->sw2_words[0] ? o->sw2_words : NULL;
    report->flow_reference = o->flow_words[0] ? o->flow_words : NULL;
    report->prefix = r->prefix;
    return compare_write_reports(report);
}

int cmd_compare(int argc, char **argv)
{
    compare_request r;
    int rc = parse_request(argc, argv, &r);
    if (rc != COMPARE_GO_ON)
        return rc;
    app_model m;
    if (load_model_or_fail("compare", &r.c, &m))
        return 1;
    compare_row *rows = calloc(MAX_SAMPLERS, sizeof *rows);
    double *x = malloc((dist_is_root() ? r.c.num : 1) * m.dim * sizeof *x);
    compare_oracle oracle = {0};
    oracle.entropy = oracle.entropy_se = NAN;
    compare_report report = {0};
    report.sw2_floor = report.frechet_floor = (metric_value){NAN, NAN, NAN, NAN};
    report.energy_floor = report.entropy = report.entropy_se = NAN;
    size_t n_rows = 0;
    int status = 1;
    if (!rows || !x) {
        cli_fail("compare", "out of memory");
        goto done;
    }
    if ((status = parse_samplers(&r, &m, rows, &n_rows)) || (status = compare_identity(&r, &m)) ||
        (r.resume && (status = resume_runs(&r, rows, n_rows))) || (status = load_reference(&r, &m, &oracle)))
        goto done;
    if (dist_is_root() && (status = prepare_measures(&r, &m, &oracle, &report.frechet_floor)))
        goto done;
    if ((status = run_samplers(&r, &m, rows, n_rows, &oracle, x)) || !dist_is_root()) /* rank 0 reports */
        goto done;
    status = report_comparison(&r, &m, rows, n_rows, &oracle, &report);
done:
    for (size_t i = 0; rows && i < n_rows; i++)
        free(rows[i].runs);
    free(rows);
    free(x);
    compare_oracle_free(&oracle);
    app_model_free(&m);
    return status;
}
