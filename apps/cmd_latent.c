/* scoresde encode | decode | interpolate | inpaint — the probability-flow ODE as a bijection
 * between data and latents, and conditional sampling with known coordinates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dist.h"
#include "io.h"
#include "metrics.h"
#include "picture.h"
#include "sampling.h"

/* From cmd_sample.c: the summaries' pieces, the PNG of points, and the help of the shared options
 * (to move into sampling.c with common_options_add). */
int write_points_png(const char *path, const app_model *m, const double *x, size_t n, const char *title,
                     size_t scale, scoresde_error *err);
int model_gmm_density(size_t n, const double *xy, double *logp, void *params);
void describe_model(const common_options *c, const app_model *m, char *buf, size_t size);
void describe_ode(const slv_ode_method *method, double rtol, double atol, size_t n_steps, char *buf,
                  size_t size);
void describe_png(const app_model *m, size_t n, size_t cols, size_t scale, char *buf, size_t size);

/* Writes x[n*d] to out (.csv/.npy rows, float64 when asked, or .png); fills format with how it
 * was written; returns 0 or 1 after reporting. */
static int write_points(const char *cmd, const char *out, const app_model *m, const double *x, size_t n,
                        const char *title, size_t scale, int float64, char *format, size_t format_size)
{
    scoresde_error error;
    int png = has_extension(out, ".png");
    int rc = png ? write_points_png(out, m, x, n, title, scale, &error)
                 : matrix_write_as(out, x, n, m->dim, float64, &error);
    if (rc)
        return cli_fail(cmd, "--out %s", error.message);
    if (png)
        describe_png(m, n, 0, scale, format, format_size);
    else
        snprintf(format, format_size, "%s", io_format_note(out, float64));
    return 0;
}

/* The options every command of this file adds to the shared ones. */
#define SCALE_OPTION(dest)                                                                          \
    (cli_option){"scale", CLI_SIZE, dest, "PNG image grids: each pixel as N×N pixels (0: the smallest " \
                 "N making the grid at least 512 px wide, at most 16)", NULL, 0, 64, 0, NULL, 0}
#define DTYPE_OPTION(dest)                                                                          \
    (cli_option){"dtype", CLI_CHOICE, dest, ".npy output: value type (CSV: float64 writes 17 "        \
                 "significant digits instead of 9)"                                                   \
                 CLI_DEFAULT_IS("float64 when --in is a float64 .npy, else float32"),                 \
                 "float32,float64", 0, 0, 0, NULL, 0}

/* The two halves of the loop over points (dist.h): every rank maps chunks of --batch points, rank 0
 * collects them in order. With --round-trip each row carries one more value: the point's relative
 * error after decoding its latent again. */
typedef struct transport_job {
    app_model *m;
    const sgm_ode_options *o;
    const matrix *pts;
    uint64_t seed;
    int encode, round_trip;
    size_t *nfe;     /* (batch) */
    double *latent, *back; /* round trip: (batch, d) each */
    double *out;     /* rank 0: (n, d) */
    double *errors;  /* rank 0, round trip: (n) */
    double nfe_sum, back_nfe_sum;
    dist_chunks *chunks; /* its progress bar, for progress inside a batch */
} transport_job;

/* max_j |back_j − x_j| / max_j |x_j|: how far decoding a point's latent lands from the point,
 * relative to its largest value. */
static double round_trip_error(const double *x, const double *back, size_t d)
{
    double largest = 0, worst = 0;
    for (size_t j = 0; j < d; j++) {
        largest = fmax(largest, fabs(x[j]));
        worst = fmax(worst, fabs(back[j] - x[j]));
    }
    return largest > 0 ? worst / largest : worst;
}

/* Decodes the chunk's latents with the same solver and tolerances, no denoising step (it is not
 * part of the inverse map), and appends each point's error to its row. */
static int round_trip_chunk(transport_job *job, size_t first, size_t n, double *rows, double *info)
{
    const app_model *m = job->m;
    const size_t d = m->dim;
    const double *x = job->pts->x + first * d;
    sgm_ode_options back = *job->o;
    back.denoise = 0;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    int rc = sgm_decode(&m->process, &m->score, &back, n, job->latent, job->seed, first, job->back, job->nfe,
                        &stats, &err);
    if (rc != SLV_OK)
        return report_solver_failure("encode --round-trip", rc, &err);
    for (size_t i = 0; i < n; i++) {
        memcpy(rows + i * (d + 1), job->latent + i * d, d * sizeof *rows);
        rows[i * (d + 1) + d] = round_trip_error(x + i * d, job->back + i * d, d);
        info[1] += (double)job->nfe[i];
    }
    return 0;
}

static int transport_chunk(void *ctx, size_t first, size_t n, double *rows, double *info)
{
    transport_job *job = ctx;
    const app_model *m = job->m;
    const double *x = job->pts->x + first * m->dim;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    const double T = m->process.T; /* encode runs from 0 up to T, decode back down */
    double *mapped = job->round_trip ? job->latent : rows;
    app_model_track_progress(job->m, job->chunks->bar, first, n, job->encode ? 0.0 : T, job->encode ? T : 0.0);
    int rc = job->encode ? sgm_encode(&m->process, &m->score, job->o, n, x, mapped, job->nfe, &stats, &err)
                         : sgm_decode(&m->process, &m->score, job->o, n, x, job->seed, first, mapped, job->nfe,
                                      &stats, &err);
    app_model_track_progress(job->m, NULL, 0, 0, 0.0, 0.0);
    if (rc != SLV_OK)
        return report_solver_failure(job->encode ? "encode" : "decode", rc, &err);
    for (size_t i = 0; i < n; i++)
        info[0] += (double)job->nfe[i];
    return job->round_trip ? round_trip_chunk(job, first, n, rows, info) : 0;
}

static int transport_deliver(void *ctx, size_t first, size_t n, const double *rows, const double *info)
{
    transport_job *job = ctx;
    const size_t d = job->m->dim, width = d + (job->round_trip ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        memcpy(job->out + (first + i) * d, rows + i * width, d * sizeof *rows);
        if (job->round_trip)
            job->errors[first + i] = rows[i * width + d];
    }
    job->nfe_sum += info[0];
    job->back_nfe_sum += info[1];
    return 0;
}

/* What the command line asks for, checked. */
typedef struct transport_request {
    const cli_command *command;
    int encode;
    common_options c;
    size_t scale;
    const char *dtype;
    int round_trip;
} transport_request;

enum { TRANSPORT_GO_ON = -1 }; /* the command runs on; any other value is its exit status */

static int parse_transport_request(const cli_command *command, int encode, int argc, char **argv,
                                   transport_request *r)
{
    common_options *c = &r->c;
    common_options_init(c);
    c->num = 1000000000;
    r->command = command;
    r->encode = encode;
    r->scale = 0;
    r->dtype = NULL;
    r->round_trip = 0;
    cli_option opts[64];
    size_t count = 0;
    /* decode also takes the fast samplers (deterministic, latents → data); encode only the ODE
     * back ends, which integrate either way */
    common_options_add(opts, &count, c, OPTS_MODEL | OPTS_IO | (encode ? 0 : OPTS_FAST));
    static char decode_help[768];
    snprintf(decode_help, sizeof decode_help, "ODE back end: %s; or a fast sampler: %s",
             method_names(METHODS_ODE, ", "), method_names(METHODS_FAST_ODE, ", "));
    if (encode)
        opts[count++] = (cli_option){"ode-solver", CLI_CHOICE, &c->ode_solver, "ODE back end",
                                     method_names(METHODS_ODE, ","), 0, 0, 0, NULL, 0};
    else
        opts[count++] = (cli_option){"ode-solver", CLI_STRING, &c->ode_solver, decode_help, NULL, 0, 0, 0,
                                     NULL, 0};
    opts[count++] = (cli_option){"rtol", CLI_DOUBLE, &c->rtol, "relative tolerance (adaptive solvers)", NULL,
                                 0, 1, 1, NULL, 0};
    opts[count++] = (cli_option){"atol", CLI_DOUBLE, &c->atol, "absolute tolerance (adaptive solvers)", NULL,
                                 0, 1e6, 1, NULL, 0};
    opts[count++] = (cli_option){"steps", CLI_SIZE, &c->steps,
                                 "steps of fixed-step solvers (0: 100) and fast samplers (0: 20)", NULL, 0,
                                 1e8, 0, NULL, 0};
    opts[count++] = DTYPE_OPTION(&r->dtype);
    if (!encode)
        opts[count++] = SCALE_OPTION(&r->scale);
    opts[count++] = (cli_option){"num", CLI_SIZE, &c->num, "at most this many rows of --in", NULL, 1,
                                 1e12, 0, NULL, 0};
    opts[count++] = (cli_option){"seed", CLI_U64, &c->seed, "seed (dequantisation of data sets)", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"batch", CLI_SIZE, &c->batch, "points per batch (network models: results "
                                 "depend on it in the last bits)", NULL, 1, 1e6, 0, NULL, 0};
    if (!encode)
        opts[count++] = (cli_option){"no-denoise", CLI_FLAG, &c->no_denoise,
                                     "skip the final denoising step", NULL, 0, 0, 0, NULL, 0};
    if (encode)
        opts[count++] = (cli_option){"round-trip", CLI_FLAG, &r->round_trip,
                                     "decode the latents again (same solver, no denoising) and report "
                                     "max|x' - x| / max|x| per point", NULL, 0, 0, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    cli_describe(opts, "in", encode ? "data points: CSV with columns x0..x{d-1}, .npy, fashion-mnist:test|train "
                                      "or toy:NAME" CLI_REQUIRED
                                    : "latents: CSV with columns x0..x{d-1}, or .npy" CLI_REQUIRED);
    cli_describe(opts, "out", encode ? "latents: .csv or .npy (any other extension: CSV)" CLI_REQUIRED
                                     : "points: .csv, .npy or .png (any other extension: CSV)" CLI_REQUIRED);
    int rc = cli_parse(command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(c, opts);
    if (!c->in || !c->out)
        return cli_usage_error(command, "--in and --out are required");
    if (encode && has_extension(c->out, ".png"))
        return cli_usage_error(command, "--out: latents are written as .csv or .npy");
    return TRANSPORT_GO_ON;
}

static void report_transport(const transport_request *r, const app_model *m, const sgm_ode_options *o, size_t n,
                             double nfe_sum, double seconds, const char *format)
{
    char solver[160], model_note[256];
    if (o->fast)
        snprintf(solver, sizeof solver, "%s (%zu steps, %s schedule)", o->fast->name, o->n_steps,
                 sgm_schedule_name(o->schedule == SGM_SCHEDULE_AUTO ? o->fast->schedule : o->schedule));
    else
        describe_ode(o->method, o->rtol, o->atol, o->n_steps, solver, sizeof solver);
    describe_model(&r->c, m, model_note, sizeof model_note);
    printf("%s %zu points with %s: NFE %.1f per point, %.3f s -> %s (%s)\nmodel %s (%s)\n",
           r->encode ? "encoded" : "decoded", n, solver, n ? nfe_sum / (double)n : 0.0,
           seconds, r->c.out, format, m->name, model_note);
}

/* The round trip's errors (sorted in place): median and largest, and the decode's cost. */
static void report_round_trip(double *errors, size_t n, double back_nfe_sum)
{
    if (!n)
        return;
    metric_sort(errors, n);
    double median = n % 2 ? errors[n / 2] : 0.5 * (errors[n / 2 - 1] + errors[n / 2]);
    printf("round trip: decoded again (same solver, no denoising), max|x' - x| / max|x| per point: "
           "median %.3g, largest %.3g; NFE %.1f per point\n",
           median, errors[n - 1], back_nfe_sum / (double)n);
}

/* encode and decode share everything but the direction. */
static int run_transport(const cli_command *command, int encode, int argc, char **argv)
{
    transport_request req, *r = &req;
    int rc = parse_transport_request(command, encode, argc, argv, r);
    if (rc != TRANSPORT_GO_ON)
        return rc;
    app_model m;
    if (load_model_or_fail(r->command->name, &r->c, &m))
        return 1;
    sgm_ode_options o;
    matrix pts = {0};
    size_t *nfe = NULL;
    double *out = NULL, *latent = NULL, *errors = NULL;
    int status = 1;
    scoresde_error error;
    if ((rc = ode_from_options(r->command, &r->c, &o))) {
        status = rc;
        goto done;
    }
    if (load_points(r->c.in, &m, r->c.num, r->c.seed, &pts, &error)) {
        cli_fail(r->command->name, "--in %s", error.message);
        goto done;
    }
    size_t batch = r->c.batch < pts.n ? r->c.batch : pts.n;
    const size_t round_trip_values = r->round_trip ? batch * m.dim : 0;
    nfe = malloc((batch + 1) * sizeof *nfe);
    out = malloc(((dist_is_root() ? pts.n : 0) * m.dim + 1) * sizeof *out);
    latent = malloc((2 * round_trip_values + 1) * sizeof *latent);
    errors = malloc(((dist_is_root() && r->round_trip ? pts.n : 0) + 1) * sizeof *errors);
    if (!nfe || !out || !latent || !errors) {
        cli_fail(r->command->name, "out of memory");
        goto done;
    }
    transport_job job = {.m = &m, .o = &o, .pts = &pts, .seed = r->c.seed, .encode = r->encode,
                         .round_trip = r->round_trip, .nfe = nfe, .latent = latent,
                         .back = latent + round_trip_values, .out = out, .errors = errors};
    dist_chunks chunks = {pts.n, batch, m.dim + (r->round_trip ? 1 : 0), 2, transport_chunk, transport_deliver,
                          &job, r->command->name, r->c.quiet, 0, NULL};
    job.chunks = &chunks;
    double start = wall_seconds();
    if ((status = dist_run_chunks(&chunks)))
        goto done;
    char format[128] = "";
    double seconds = wall_seconds() - start;
    if (dist_is_root() && (status = write_points(r->command->name, r->c.out, &m, out, pts.n, r->command->name,
                                                 r->scale, io_dtype_float64(r->dtype, pts.float64), format,
                                                 sizeof format)))
        goto done;
    report_transport(r, &m, &o, pts.n, job.nfe_sum, seconds, format);
    if (r->round_trip && dist_is_root())
        report_round_trip(errors, pts.n, job.back_nfe_sum);
    status = 0;
done:
    matrix_free(&pts);
    free(nfe);
    free(out);
    free(latent);
    free(errors);
    app_model_free(&m);
    return status;
}

static const cli_command encode_command = {
    "encode",
    "Maps data points to latents x(T) through the probability-flow ODE (a bijection: decode inverts\n"
    "it). Rows of --in (model space) become rows of --out with the same x0..x{d-1} layout.",
    "[--model M] --in POINTS --out LATENTS [options]",
    "scoresde encode --model gmm:models/gmm2d.txt --sde vp --in points.csv --out latents.csv --rtol 1e-6 --atol 1e-6"};

static const cli_command decode_command = {
    "decode",
    "Maps latents at T to data through the probability-flow ODE. --out may be .png (image grid or\n"
    "2-D scatter plot).",
    "[--model M] --in LATENTS --out POINTS [options]",
    "scoresde decode --model gmm:models/gmm2d.txt --sde vp --in latents.csv --out decoded.csv"};

int cmd_encode(int argc, char **argv) { return run_transport(&encode_command, 1, argc, argv); }
int cmd_decode(int argc, char **argv) { return run_transport(&decode_command, 0, argc, argv); }

static const cli_command interpolate_command = {
    "interpolate",
    "Interpolates between the first two rows of --in: both are encoded to latents (unless --latent),\n"
    "joined by spherical interpolation (--points values, ends included) and decoded back. --out .png\n"
    "shows the row of images from one end to the other (2-D models: the path as a line with markers\n"
    "from the start to the end, over the data density for gmm: models).",
    "[--model M] --in TWO_POINTS --out FILE [options]",
    "scoresde interpolate --in fashion-mnist:test --points 10 --out row.png"};

/* The 2-D interpolation as a picture: the decoded path as a line with a marker per point, both ends
 * marked, over the data density of gmm: models. */
static int write_path_png(const char *out, const app_model *m, const double *path, size_t n,
                          const char *in, scoresde_error *err)
{
    char title[256], path_label[64];
    const char *base = strrchr(in, '/');
    snprintf(title, sizeof title, "interpolation between rows 1 and 2 of %s", base ? base + 1 : in);
    snprintf(path_label, sizeof path_label, "path (%zu points)", n);
    plot_series series[3] = {
        {path, n, path_label, 1, 0.7, 1, "●"},
        {path, 1, "start: row 1", 3, 1.6, 0, "▲"},
        {path + (n - 1) * m->dim, 1, "end: row 2", 15, 1.4, 0, "■"},
    };
    /* the view: the path and, for a mixture, its components to 3 standard deviations */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < 2 * n; i++)
        lo = fmin(lo, path[i]), hi = fmax(hi, path[i]);
    for (size_t k = 0; m->gmm && k < m->gmm->n_components; k++)
        for (size_t j = 0; j < 2; j++) {
            double mean = m->gmm->means[2 * k + j], std = m->gmm->stds[2 * k + j];
            lo = fmin(lo, mean - 3 * std), hi = fmax(hi, mean + 3 * std);
        }
    double pad = 0.05 * (hi - lo) + 1e-9;
    return plot_scatter_2d(out, title, series, 3, m->gmm ? model_gmm_density : NULL, (void *)m, lo - pad,
                           hi + pad, err);
}

int cmd_interpolate(int argc, char **argv)
{
    common_options c;
    common_options_init(&c);
    size_t n_points = 8, scale = 0;
    int latent = 0;
    const char *dtype = NULL;
    cli_option opts[64];
    size_t count = 0;
    common_options_add(opts, &count, &c, OPTS_MODEL | OPTS_IO);
    opts[count++] = (cli_option){"ode-solver", CLI_CHOICE, &c.ode_solver, "ODE back end",
                                 method_names(METHODS_ODE, ","), 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"rtol", CLI_DOUBLE, &c.rtol, "relative tolerance (adaptive solvers)", NULL,
                                 0, 1, 1, NULL, 0};
    opts[count++] = (cli_option){"atol", CLI_DOUBLE, &c.atol, "absolute tolerance (adaptive solvers)", NULL,
                                 0, 1e6, 1, NULL, 0};
    opts[count++] = (cli_option){"steps", CLI_SIZE, &c.steps, "steps of fixed-step solvers (0: 100)", NULL, 0,
                                 1e8, 0, NULL, 0};
    opts[count++] = SCALE_OPTION(&scale);
    opts[count++] = DTYPE_OPTION(&dtype);
    opts[count++] = (cli_option){"points", CLI_SIZE, &n_points, "points along the path, ends included",
                                 NULL, 2, 10000, 0, NULL, 0};
    opts[count++] = (cli_option){"latent", CLI_FLAG, &latent, "--in rows are latents already", NULL, 0,
                                 0, 0, NULL, 0};
    opts[count++] = (cli_option){"seed", CLI_U64, &c.seed, "seed (dequantisation of data sets)", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    cli_describe(opts, "in", "the two ends: the first two rows of a CSV/.npy file, fashion-mnist:test|train "
                             "or toy:NAME" CLI_REQUIRED);
    cli_describe(opts, "out", "the path: .csv, .npy or .png (any other extension: CSV)" CLI_REQUIRED);
    int rc = cli_parse(&interpolate_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&c, opts);
    if (!c.in || !c.out)
        return cli_usage_error(&interpolate_command, "--in and --out are required");
    app_model m;
    if (load_model_or_fail("interpolate", &c, &m))
        return 1;
    sgm_ode_options o;
    matrix pts = {0};
    double *path = NULL, *ends = NULL;
    int status = 1;
    scoresde_error error;
    if ((rc = ode_from_options(&interpolate_command, &c, &o))) {
        status = rc;
        goto done;
    }
    if (load_points(c.in, &m, 2, c.seed, &pts, &error)) {
        cli_fail("interpolate", "--in %s", error.message);
        goto done;
    }
    if (pts.n < 2) {
        cli_fail("interpolate", "--in %s: %zu row, two are needed (the ends)", c.in, pts.n);
        goto done;
    }
    path = malloc(n_points * m.dim * sizeof *path);
    ends = malloc(2 * m.dim * sizeof *ends);
    if (!path || !ends) {
        cli_fail("interpolate", "out of memory");
        goto done;
    }
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    memcpy(ends, pts.x, 2 * m.dim * sizeof *ends);
    if (!latent && (rc = sgm_encode(&m.process, &m.score, &o, 2, ends, ends, NULL, &stats, &err))) {
        status = report_solver_failure("interpolate", rc, &err);
        goto done;
    }
    sgm_slerp(m.dim, ends, ends + m.dim, n_points, path);
    if ((rc = sgm_decode(&m.process, &m.score, &o, n_points, path, c.seed, 0, path, NULL, &stats, &err))) {
        status = report_solver_failure("interpolate", rc, &err);
        goto done;
    }
    char format[128], solver[160], model_note[256];
    if (has_extension(c.out, ".png") && m.is_image) {
        rc = png_write_grid(c.out, &m, path, n_points, n_points, scale, &error)
                 ? cli_fail("interpolate", "--out %s", error.message) : 0;
        describe_png(&m, n_points, n_points, scale, format, sizeof format);
    } else if (has_extension(c.out, ".png") && m.dim == 2) {
        rc = write_path_png(c.out, &m, path, n_points, c.in, &error)
                 ? cli_fail("interpolate", "--out %s", error.message) : 0;
        describe_png(&m, n_points, 0, 0, format, sizeof format);
    } else {
        rc = write_points("interpolate", c.out, &m, path, n_points, "interpolation", scale,
                          io_dtype_float64(dtype, pts.float64), format, sizeof format);
    }
    if (rc)
        goto done;
    describe_ode(o.method, o.rtol, o.atol, o.n_steps, solver, sizeof solver);
    describe_model(&c, &m, model_note, sizeof model_note);
    printf("interpolated %zu points between the first two rows of %s%s with %s -> %s (%s)\nmodel %s (%s)\n",
           n_points, c.in, latent ? " (latents, --latent)" : "", solver, c.out, format, m.name, model_note);
    status = 0;
done:
    matrix_free(&pts);
    free(path);
    free(ends);
    app_model_free(&m);
    return status;
}

static const cli_command inpaint_command = {
    "inpaint",
    "Fills in the unknown coordinates of each row of --in, keeping the known ones (the paper's\n"
    "Appendix I: known coordinates are replaced by their forward-diffused values at every step).\n"
    "--mask: comma-separated 0/1 per coordinate (1 = known), or for images one of left, right,\n"
    "top, bottom (the half that is known) or center (all known but a centred square).\n"
    "--out .png shows masked input, sample and original side by side for each row.",
    "[--model M] --in POINTS --mask MASK --out FILE [options]",
    "scoresde inpaint --in fashion-mnist:test --num 8 --mask top --sampler pc --out inpaint.png"};

static int build_mask(const char *text, const app_model *m, unsigned char *mask, scoresde_error *err)
{
    size_t H = m->height, W = m->width, C = m->channels;
    const char *shapes[] = {"left", "right", "top", "bottom", "center"};
    for (int s = 0; s < 5; s++) {
        if (strcmp(text, shapes[s]) != 0)
            continue;
        if (!m->is_image) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' is an image mask; this model has points of dimension %zu", text, m->dim);
            return -1;
        }
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < H; i++)
                for (size_t j = 0; j < W; j++) {
                    int known = s == 0 ? j < W / 2 : s == 1 ? j >= W / 2 : s == 2 ? i < H / 2
                              : s == 3 ? i >= H / 2
                                       : !(i >= H / 4 && i < H - H / 4 && j >= W / 4 && j < W - W / 4);
                    mask[(c * H + i) * W + j] = (unsigned char)known;
                }
        return 0;
    }
    size_t k = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ',')
            continue;
        if ((*p != '0' && *p != '1') || (p[1] && p[1] != ',')) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' is not a comma-separated list of 0 and 1", text);
            return -1;
        }
        if (k == m->dim) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' has more than %zu entries (the model's dimension)", text, m->dim);
            return -1;
        }
        mask[k++] = (unsigned char)(*p == '1');
    }
    if (k != m->dim) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' has %zu entries, the model's dimension is %zu", text, k, m->dim);
        return -1;
    }
    return 0;
}

int cmd_inpaint(int argc, char **argv)
{
    common_options c;
    common_options_init(&c);
    c.num = 16;
    const char *mask_text = NULL, *dtype = NULL;
    size_t scale = 0;
    cli_option opts[64];
    size_t count = 0;
    common_options_add(opts, &count, &c, OPTS_MODEL | OPTS_SAMPLER | OPTS_NUM | OPTS_IO);
    opts[count++] = (cli_option){"mask", CLI_STRING, &mask_text, "known coordinates (see above)" CLI_REQUIRED,
                                 NULL, 0, 0, 0, NULL, 0};
    opts[count++] = SCALE_OPTION(&scale);
    opts[count++] = DTYPE_OPTION(&dtype);
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    cli_describe(opts, "in", "the rows to complete: CSV with columns x0..x{d-1}, .npy, fashion-mnist:test|train "
                             "or toy:NAME" CLI_REQUIRED);
    cli_describe(opts, "out", "the completed rows: .csv, .npy or .png (any other extension: CSV)" CLI_REQUIRED);
    int rc = cli_parse(&inpaint_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&c, opts);
    if (!c.in || !c.out || !mask_text)
        return cli_usage_error(&inpaint_command, "--in, --mask and --out are required");
    app_model m;
    if (load_model_or_fail("inpaint", &c, &m))
        return 1;
    sampler_spec spec;
    matrix pts = {0};
    unsigned char *mask = NULL;
    double *x = NULL, *panel = NULL;
    int status = 1;
    scoresde_error error;
    if ((rc = sampler_from_options(&inpaint_command, &c, opts, &m.process, &spec))) {
        status = rc;
        goto done;
    }
    if (!spec.family->set_inpaint) {
        status = cli_usage_error(&inpaint_command, "--sampler %s has no inpainting; use pc or ode",
                                 c.sampler);
        goto done;
    }
    mask = malloc(m.dim);
    if (!mask || build_mask(mask_text, &m, mask, &error)) {
        status = cli_usage_error(&inpaint_command, "--mask %s", mask ? error.message : "out of memory");
        goto done;
    }
    if (load_points(c.in, &m, c.num, c.seed, &pts, &error)) {
        cli_fail("inpaint", "--in %s", error.message);
        goto done;
    }
    x = malloc(pts.n * m.dim * sizeof *x);
    if (!x) {
        cli_fail("inpaint", "out of memory");
        goto done;
    }
    sgm_inpaint inpaint = {mask, pts.x, 0};
    spec.family->set_inpaint(&spec.options, &inpaint);
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    rc = sampler_run(&spec, &m, pts.n, c.seed, 0, x, &stats, &err);
    if (rc != SLV_OK) {
        status = report_solver_failure("inpaint", rc, &err);
        goto done;
    }
    char format[128], sampler_note[256], model_note[256];
    if (has_extension(c.out, ".png") && m.is_image) {
        /* rows of (masked input, sample, original); unknown pixels shown at the range's middle */
        panel = malloc(3 * pts.n * m.dim * sizeof *panel);
        if (!panel) {
            cli_fail("inpaint", "out of memory");
            goto done;
        }
        for (size_t i = 0; i < pts.n; i++) {
            double *row = panel + 3 * i * m.dim;
            for (size_t k = 0; k < m.dim; k++)
                row[k] = mask[k] ? pts.x[i * m.dim + k] : m.data_lo + 0.5 * m.data_width;
            memcpy(row + m.dim, x + i * m.dim, m.dim * sizeof *row);
            memcpy(row + 2 * m.dim, pts.x + i * m.dim, m.dim * sizeof *row);
        }
        if (png_write_grid(c.out, &m, panel, 3 * pts.n, 3, scale, &error)) {
            cli_fail("inpaint", "--out %s", error.message);
            goto done;
        }
        describe_png(&m, 3 * pts.n, 3, scale, format, sizeof format);
    } else if (write_points("inpaint", c.out, &m, x, pts.n, "inpainting", scale,
                            io_dtype_float64(dtype, pts.float64), format, sizeof format)) {
        goto done;
    }
    describe_sampler(&spec, &m, sampler_note, sizeof sampler_note);
    describe_model(&c, &m, model_note, sizeof model_note);
    printf("inpainted %zu rows of %s with %s (NFE %zu per sample) -> %s (%s)\nmodel %s (%s)\n", pts.n, c.in,
           sampler_note, stats.nfe, c.out, format, m.name, model_note);
    status = 0;
done:
    matrix_free(&pts);
    free(mask);
    free(x);
    free(panel);
    app_model_free(&m);
    return status;
}
