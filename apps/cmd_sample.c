/* scoresde sample — draw samples from a model with any sampler; batches stream to the output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "cli.h"
#include "commands.h"
#include "dist.h"
#include "io.h"
#include "picture.h"
#include "sampling.h"

static const cli_command sample_command = {
    "sample",
    "Draws --num samples from --model with the chosen sampler (PC, probability-flow ODE, reverse\n"
    "SDE or, for VE models, NCSN's annealed Langevin dynamics), in batches of --batch so memory does\n"
    "not grow with --num. Output: CSV or .npy rows (columns x0..x{d-1}, model space), or .png: a\n"
    "grid of images for image models, a scatter plot over the data density for 2-D models. With no\n"
    "--model, samples the shipped Fashion-MNIST model into samples.png.\n"
    "--class K adds the gradient of the log class posterior log p_t(K | x) to the score, times\n"
    "--guidance-scale: class-conditional generation. gmm: models use the exact posterior of\n"
    "component K; image models a time-dependent classifier (--classifier FILE, trained by\n"
    "`scoresde evaluate --train-classifier --time-dependent` for the model's process). Few-step\n"
    "samplers can lose the guidance: edm-churn at 10 steps does (use 20 or more, or dpmpp-2m-sde;\n"
    "docs/user-guide.md, section 7).",
    "[--model M] [options]",
    "scoresde sample --model gmm:models/gmm2d.txt --sde vp --sampler ode --num 1000 --out samples.csv"};

/* The exact data density of a gmm: model (params) for the scatter plot's heat map. */
int model_gmm_density(size_t n, const double *xy, double *logp, void *params)
{
    const app_model *m = params;
    return sgm_gmm_log_density(m->gmm, NULL, 0.0, n, xy, logp);
}

/* The help of the shared options (sampling.c) whose text states a default the option table
 * cannot show (a derived one) or names none: to move into common_options_add. */
void common_options_describe(cli_option *opts)
{
    cli_describe(opts, "model", "gmm:FILE (Gaussian-mixture oracle) or FILE.sgm (trained network)"
                 CLI_DEFAULT_IS("the shipped Fashion-MNIST model fashion_mnist.sgm"));
    cli_describe(opts, "sde", "diffusion process of gmm: models (a network carries its own)"
                 CLI_DEFAULT_IS("vp for gmm: models"));
    cli_describe(opts, "threads", "threads for OpenBLAS/OpenMP (0: their own choice)");
    cli_describe(opts, "predictor", "PC predictor"
                 CLI_DEFAULT_IS("reverse_diffusion for VE, euler_maruyama otherwise"));
    cli_describe(opts, "corrector", "PC corrector" CLI_DEFAULT_IS("langevin for VE, none otherwise"));
}

/* What the model line of a summary adds after the path: the process and dimension, and each
 * default that was applied ("vp, d = 2; no --sde given: vp for gmm: models"). */
void describe_model(const common_options *c, const app_model *m, char *buf, size_t size)
{
    const sgm_process *p = &m->process;
    int n = p->kind == SGM_PROCESS_VE
                ? snprintf(buf, size, "ve, sigma %g..%g, d = %zu", p->sigma_min, p->sigma_max, m->dim)
                : snprintf(buf, size, "%s, beta %g..%g, d = %zu", sgm_process_kind_name(p->kind), p->beta_min,
                           p->beta_max, m->dim);
    if (n < 0 || (size_t)n >= size)
        return;
    if (m->gmm && !c->process.sde)
        snprintf(buf + n, size - (size_t)n, "; no --sde given: vp for gmm: models");
    else if (c->model == c->shipped_model)
        snprintf(buf + n, size - (size_t)n, "; no --model given: the shipped model");
}

/* The ODE solver of encode/decode/interpolate/likelihood: "rk45 (adaptive: rtol 1e-05, atol
 * 1e-05)" or "euler (100 fixed steps)". */
void describe_ode(const slv_ode_method *method, double rtol, double atol, size_t n_steps, char *buf,
                  size_t size)
{
    if (method->adaptive)
        snprintf(buf, size, "%s (adaptive: rtol %g, atol %g)", method->name, rtol, atol);
    else
        snprintf(buf, size, "%s (%zu fixed steps)", method->name, n_steps);
}

/* What a PNG of n points shows and its size: "PNG: 8×8 grid at 3×, 686×686 px". */
void describe_png(const app_model *m, size_t n, size_t cols, size_t scale, char *buf, size_t size)
{
    if (m->is_image) {
        grid_layout g = png_grid_layout(n, cols, scale, m->width, m->height);
        snprintf(buf, size, "PNG: %zu×%zu grid at %zu×, %zu×%zu px", g.cols, g.rows, g.scale, g.width,
                 g.height);
    } else {
        snprintf(buf, size, "PNG: plot, %d×%d px", PLOT_WIDTH, PLOT_HEIGHT);
    }
}

int write_points_png(const char *path, const app_model *m, const double *x, size_t n, const char *title,
                     size_t scale, scoresde_error *err)
{
    if (m->is_image)
        return png_write_grid(path, m, x, n, 0, scale, err);
    if (m->dim != 2) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s: PNG output needs an image model or 2-D points (this model has "
                                "dimension %zu); use .csv or .npy", path, m->dim);
        return -1;
    }
    char label[64];
    snprintf(label, sizeof label, "%zu samples", n);
    plot_series s = {x, n, label, 1, 0.4, 0, NULL};
    return plot_scatter_2d(path, title, &s, 1, m->gmm ? model_gmm_density : NULL, (void *)m, 0, 0, err);
}

/* What the summary reports of the samples drawn. */
typedef struct sample_tally {
    double nfe_total;
    /* image models: how far the samples leave the data range [-1, 1] before the PNG clips them */
    size_t values, beyond_range;
    double largest_abs;
} sample_tally;

/* The two halves of the sampling loop (dist.h): every rank samples chunks of --batch, rank 0 takes
 * them in order. */
typedef struct sample_job {
    const sampler_spec *spec;
    app_model *m;
    uint64_t seed;
    table_writer *tw; /* CSV/.npy output, or NULL */
    double *all;      /* PNG output: every sample */
    dist_chunks *chunks; /* its progress bar, for progress inside a batch */
    sample_tally tally;
} sample_job;

/* A sample value counts as outside the data range beyond this (issue 16's goal: <= 1% of pixels). */
#define IMAGE_RANGE_LIMIT 1.1

static void count_out_of_range(sample_tally *tally, const double *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double a = fabs(rows[i]);
        tally->beyond_range += a > IMAGE_RANGE_LIMIT;
        if (a > tally->largest_abs)
            tally->largest_abs = a;
    }
    tally->values += count;
}

static int sample_chunk(void *ctx, size_t first, size_t n, double *rows, double *info)
{
    sample_job *job = ctx;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    /* every sampler runs from T down to (near) 0 */
    app_model_track_progress(job->m, job->chunks->bar, first, n, job->m->process.T, 0.0);
    int rc = sampler_run(job->spec, job->m, n, job->seed, first, rows, &stats, &err);
    app_model_track_progress(job->m, NULL, 0, 0, 0.0, 0.0);
    if (rc != SLV_OK)
        return report_solver_failure("sample", rc, &err);
    info[0] = (double)(stats.nfe * n);
    return 0;
}

static int sample_deliver(void *ctx, size_t first, size_t n, const double *rows, const double *info)
{
    sample_job *job = ctx;
    scoresde_error error;
    job->tally.nfe_total += info[0];
    if (job->m->is_image)
        count_out_of_range(&job->tally, rows, n * job->m->dim);
    if (job->all)
        memcpy(job->all + first * job->m->dim, rows, n * job->m->dim * sizeof *rows);
    else if (table_write_rows(job->tw, n, rows, &error))
        return cli_fail("sample", "--out %s", error.message);
    return 0;
}

/* What the command line asks for, checked. */
typedef struct sample_request {
    common_options c;
    cli_option opts[64]; /* kept: sampler_from_options asks which options were given */
    long guide_class;    /* -1: no guidance */
    double guide_scale;
    const char *classifier_path, *dtype;
    size_t scale;
    int out_given, float64;
} sample_request;

enum { SAMPLE_GO_ON = -1 }; /* the command runs on; any other value is its exit status */

static int parse_request(int argc, char **argv, sample_request *r)
{
    *r = (sample_request){.guide_class = -1, .guide_scale = 1.0, .dtype = "float32"};
    common_options *c = &r->c;
    cli_option *opts = r->opts;
    size_t count = 0;
    common_options_init(c);
    common_options_add(opts, &count, c, OPTS_MODEL | OPTS_SAMPLER | OPTS_NUM | OPTS_IO);
    opts[count++] = (cli_option){"scale", CLI_SIZE, &r->scale,
                                 "PNG image grids: each pixel as N×N pixels (0: the smallest N making "
                                 "the grid at least 512 px wide, at most 16)", NULL, 0, 64, 0, NULL, 0};
    opts[count++] = (cli_option){"dtype", CLI_CHOICE, &r->dtype, ".npy output: value type (CSV: "
                                 "float64 writes 17 significant digits instead of 9)", "float32,float64",
                                 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"class", CLI_INT, &r->guide_class,
                                 "sample class N by classifier guidance: a gmm: model's component, an image "
                                 "model's class 0..9 (-1: off)", NULL, -1,
                                 1e9, 0, NULL, 0};
    opts[count++] = (cli_option){"classifier", CLI_STRING, &r->classifier_path,
                                 "image models with --class: the time-dependent classifier file"
                                 CLI_DEFAULT_IS("the shipped fmnist_tclassifier.sgc"), NULL, 0, 0,
                                 0, NULL, 0};
    opts[count++] = (cli_option){"guidance-scale", CLI_DOUBLE, &r->guide_scale,
                                 "weight of the class-posterior gradient", NULL, 0, 1e6, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    cli_describe(opts, "in", "not used by sample (see decode)");
    cli_describe(opts, "out", "output file: .csv, .npy or .png (any other extension: CSV)"
                 CLI_DEFAULT_IS("samples.csv, or samples.png without --model"));
    int rc = cli_parse(&sample_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(c, opts);
    if (c->in)
        return cli_usage_error(&sample_command, "--in is not used by sample (see decode)");
    r->out_given = c->out != NULL;
    r->float64 = io_dtype_float64(r->dtype, 0);
    if (!c->out)
        c->out = c->model ? "samples.csv" : "samples.png";
    return SAMPLE_GO_ON;
}

/* Classifier guidance (--class): the guided score wraps a copy of the model's own score. */
typedef struct sample_guidance {
    sgm_score_model base;
    sgm_gmm_class_guidance gmm;
    classifier cls;
    classifier_guidance cguide;
    sgm_guided_score *guided; /* or NULL */
} sample_guidance;

static int load_guidance_classifier(const sample_request *r, const app_model *m, sample_guidance *g)
{
    const char *path = r->classifier_path;
    char shipped[4096];
    scoresde_error why;
    if (!path && shipped_model_path("fmnist_tclassifier.sgc", shipped, sizeof shipped, &why) == 0)
        path = shipped;
    if (!m->is_image || !path || r->guide_class > 9)
        return cli_usage_error(&sample_command, "--class %ld: needs a gmm: model, or an image model, a class "
                               "0..9 and --classifier FILE (a time-dependent classifier)", r->guide_class);
    scoresde_error cerr;
    scoresde_error_clear(&cerr);
    if (classifier_load(&g->cls, path, 256, &cerr) ||
        classifier_check_process(&g->cls, &m->process, &cerr) || m->dim != g->cls.D) {
        if (!cerr.message[0] || m->dim != g->cls.D)
            scoresde_error_fail(&cerr, SCORESDE_EINVAL, "%s: a classifier of %zu inputs, the model has %zu",
                                path, g->cls.D, m->dim);
        return cli_fail("sample", "--classifier %s", cerr.message);
    }
    if (classifier_guidance_init(&g->cguide, &g->cls, (size_t)r->guide_class) == 0)
        g->guided = sgm_guided_score_alloc(&g->base, classifier_guidance_fn, &g->cguide, r->guide_scale,
                                           r->c.batch);
    return SAMPLE_GO_ON;
}

/* With --class, replaces m->score by the guided score. */
static int guide_score(const sample_request *r, app_model *m, sample_guidance *g)
{
    if (r->classifier_path && r->guide_class < 0)
        return cli_usage_error(&sample_command, "--classifier applies to --class");
    if (r->guide_class < 0)
        return SAMPLE_GO_ON;
    g->base = m->score;
    if (m->gmm) {
        if ((size_t)r->guide_class >= m->gmm->n_components)
            return cli_usage_error(&sample_command, "--class %ld: needs a gmm: model with more than %ld "
                                   "components", r->guide_class, r->guide_class);
        g->gmm = (sgm_gmm_class_guidance){m->gmm, &m->process, (size_t)r->guide_class};
        g->guided = sgm_guided_score_alloc(&g->base, sgm_gmm_class_guidance_fn, &g->gmm, r->guide_scale,
                                           r->c.batch);
    } else {
        int rc = load_guidance_classifier(r, m, g);
        if (rc != SAMPLE_GO_ON)
            return rc;
    }
    if (!g->guided)
        return cli_fail("sample", "out of memory");
    m->score = *sgm_guided_score_model(g->guided);
    return SAMPLE_GO_ON;
}

static void guidance_free(sample_guidance *g)
{
    sgm_guided_score_free(g->guided);
    classifier_guidance_free(&g->cguide);
    classifier_free(&g->cls);
}

/* Where the samples go: CSV/.npy rows stream through a table writer; a PNG needs them all (rank 0). */
typedef struct sample_output {
    int png, root, writing;
    double *x;      /* PNG: every sample, (num, dim) */
    table_writer tw;
} sample_output;

static int open_output(const sample_request *r, const app_model *m, sample_output *o)
{
    const common_options *c = &r->c;
    scoresde_error error;
    o->png = has_extension(c->out, ".png");
    o->root = dist_is_root();
    o->x = o->png && o->root ? malloc(c->num * m->dim * sizeof *o->x) : NULL;
    if (o->png && o->root && !o->x)
        return cli_fail("sample", "out of memory for %zu samples of dimension %zu", c->num, m->dim);
    if (o->png || !o->root)
        return 0;
    const char **names = malloc(m->dim * sizeof *names);
    char (*buf)[24] = malloc(m->dim * sizeof *buf);
    for (size_t k = 0; names && buf && k < m->dim; k++) {
        snprintf(buf[k], sizeof buf[k], "x%zu", k);
        names[k] = buf[k];
    }
    int rc = names && buf ? table_open_as(&o->tw, c->out, m->dim, names, c->num, r->float64, &error)
                          : scoresde_error_fail(&error, SCORESDE_ENOMEM, "%s: out of memory for %zu column names",
                                                c->out, m->dim);
    free(names);
    free(buf);
    if (rc)
        return cli_fail("sample", "--out %s", error.message);
    o->writing = 1;
    return 0;
}

/* Runs the sampler over every chunk; returns 0 or the exit status. */
static int draw_samples(const sample_request *r, const sampler_spec *spec, app_model *m, sample_output *o,
                        sample_tally *tally, double *seconds)
{
    const common_options *c = &r->c;
    size_t batch = c->batch < c->num ? c->batch : c->num;
    sample_job job = {.spec = spec, .m = m, .seed = c->seed, .tw = o->writing ? &o->tw : NULL, .all = o->x};
    dist_chunks chunks = {c->num, batch, m->dim, 1, sample_chunk, sample_deliver, &job, "sample", c->quiet, 0, NULL};
    job.chunks = &chunks;
    double start = wall_seconds();
    int rc = dist_run_chunks(&chunks);
    if (rc) {
        if (rc == EXIT_INTERRUPTED && o->writing && table_keep_completed(&o->tw, "sample", c->out, chunks.delivered,
                                                                         "samples"))
            o->writing = 0;
        return rc;
    }
    *seconds = wall_seconds() - start;
    *tally = job.tally;
    return 0;
}

static int save_samples(const sample_request *r, const sampler_spec *spec, const app_model *m, sample_output *o)
{
    scoresde_error error;
    if (o->writing) {
        o->writing = 0;
        if (table_commit(&o->tw, &error))
            return cli_fail("sample", "--out %s", error.message);
    } else if (o->root && write_points_png(r->c.out, m, o->x, r->c.num, spec->label, r->scale, &error)) {
        return cli_fail("sample", "--out %s", error.message);
    }
    return 0;
}

static void report_sampling(const sample_request *r, const sampler_spec *spec, const app_model *m, int png,
                            const sample_tally *tally, double seconds)
{
    const common_options *c = &r->c;
    char model_note[256], sampler_note[256], format[128];
    describe_model(c, m, model_note, sizeof model_note);
    describe_sampler(spec, m, sampler_note, sizeof sampler_note);
    if (png)
        describe_png(m, c->num, 0, r->scale, format, sizeof format);
    else
        snprintf(format, sizeof format, "%s", io_format_note(c->out, r->float64));
    printf("model    %s (%s)\nsampler  %s\nsamples  %zu -> %s (%s%s)\nNFE      %.1f per sample\n"
           "time     %.3f s (%.1f samples/s)\n",
           m->name, model_note, sampler_note, c->num, c->out, format, r->out_given ? "" : "; no --out given",
           tally->nfe_total / (double)c->num, seconds, (double)c->num / seconds);
    if (m->is_image && tally->values)
        printf("range    %.3f%% of pixels beyond ±%g (largest |x| %.3g)%s\n",
               100.0 * (double)tally->beyond_range / (double)tally->values, IMAGE_RANGE_LIMIT, tally->largest_abs,
               png ? "; the PNG clips to [-1, 1]" : "");
}

int cmd_sample(int argc, char **argv)
{
    sample_request r;
    int rc = parse_request(argc, argv, &r);
    if (rc != SAMPLE_GO_ON)
        return rc;
    app_model m;
    if (load_model_or_fail("sample", &r.c, &m))
        return 1;
    sampler_spec spec;
    sample_guidance guidance = {0};
    sample_output out = {0};
    sample_tally drawn = {0};
    double seconds = 0;
    int status = 1;
    if ((rc = sampler_from_options(&sample_command, &r.c, r.opts, &m.process, &spec)) ||
        (rc = guide_score(&r, &m, &guidance)) != SAMPLE_GO_ON ||
        (rc = open_output(&r, &m, &out)) || (rc = draw_samples(&r, &spec, &m, &out, &drawn, &seconds)) ||
        (rc = save_samples(&r, &spec, &m, &out))) {
        status = rc;
        goto done;
    }
    report_sampling(&r, &spec, &m, out.png, &drawn, seconds);
    status = 0;
done:
    if (out.writing)
        table_abort(&out.tw);
    free(out.x);
    guidance_free(&guidance);
    app_model_free(&m);
    return status;
}
