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
    "SDE or, for VE models, NCSN's annealed Langevin dynamics), in batches of --batch so memory does not grow with --num. Output: CSV or .npy\n"
    "rows (columns x0..x{d-1}, model space), or .png: a grid of images for image models, a scatter\n"
    "plot over the data density for 2-D models. With no --model, samples the shipped\n"
    "Fashion-MNIST model into samples.png.\n"
    "--class K adds the gradient of the log class posterior log p_t(K | x) to the score, times\n"
    "--guidance-scale: class-conditional generation. gmm: models use the exact posterior of\n"
    "component K; image models a time-dependent classifier (--classifier FILE, trained by\n"
    "`scoresde evaluate --train-classifier --time-dependent` for the model's process).",
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

/* The two halves of the sampling loop (dist.h): every rank samples chunks of --batch, rank 0 takes
 * them in order. */
typedef struct sample_job {
    const sampler_spec *spec;
    app_model *m;
    uint64_t seed;
    table_writer *tw; /* CSV/.npy output, or NULL */
    double *all;      /* PNG output: every sample */
    double nfe_total;
    dist_chunks *chunks; /* its progress bar, for progress inside a batch */
} sample_job;

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
    job->nfe_total += info[0];
    if (job->all)
        memcpy(job->all + first * job->m->dim, rows, n * job->m->dim * sizeof *rows);
    else if (table_write_rows(job->tw, n, rows, &error))
        return cli_fail("sample", "--out %s", error.message);
    return 0;
}

int cmd_sample(int argc, char **argv)
{
    common_options c;
    common_options_init(&c);
    cli_option opts[64];
    size_t count = 0;
    long guide_class = -1;
    double guide_scale = 1.0;
    const char *classifier_path = NULL;
    classifier cls = {0};
    classifier_guidance cguide = {0};
    size_t scale = 0;
    const char *dtype = "float32";
    common_options_add(opts, &count, &c, OPTS_MODEL | OPTS_SAMPLER | OPTS_NUM | OPTS_IO);
    opts[count++] = (cli_option){"scale", CLI_SIZE, &scale,
                                 "PNG image grids: each pixel as N×N pixels (0: the smallest N making "
                                 "the grid at least 512 px wide, at most 16)", NULL, 0, 64, 0, NULL, 0};
    opts[count++] = (cli_option){"dtype", CLI_CHOICE, &dtype, ".npy output: value type (CSV: "
                                 "float64 writes 17 significant digits instead of 9)", "float32,float64",
                                 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"class", CLI_INT, &guide_class,
                                 "sample class N by classifier guidance: a gmm: model's component, an image "
                                 "model's class 0..9 (-1: off)", NULL, -1,
                                 1e9, 0, NULL, 0};
    opts[count++] = (cli_option){"classifier", CLI_STRING, &classifier_path,
                                 "image models with --class: the time-dependent classifier file"
                                 CLI_DEFAULT_IS("the shipped fmnist_tclassifier.sgc"), NULL, 0, 0,
                                 0, NULL, 0};
    opts[count++] = (cli_option){"guidance-scale", CLI_DOUBLE, &guide_scale,
                                 "weight of the class-posterior gradient", NULL, 0, 1e6, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    cli_describe(opts, "in", "not used by sample (see decode)");
    cli_describe(opts, "out", "output file: .csv, .npy or .png (any other extension: CSV)"
                 CLI_DEFAULT_IS("samples.csv, or samples.png without --model"));
    int rc = cli_parse(&sample_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&c, opts);
    if (c.in)
        return cli_usage_error(&sample_command, "--in is not used by sample (see decode)");
    int out_given = c.out != NULL, float64 = io_dtype_float64(dtype, 0);
    if (!c.out)
        c.out = c.model ? "samples.csv" : "samples.png";

    app_model m;
    if (load_model_or_fail("sample", &c, &m))
        return 1;
    sampler_spec spec;
    if ((rc = sampler_from_options(&sample_command, &c, opts, &m.process, &spec))) {
        app_model_free(&m);
        return rc;
    }
    sgm_guided_score *guided = NULL;
    sgm_gmm_class_guidance guidance;
    sgm_score_model base = m.score; /* the guided score wraps this copy, then replaces m.score */
    if (classifier_path && guide_class < 0) {
        app_model_free(&m);
        return cli_usage_error(&sample_command, "--classifier applies to --class");
    }
    if (guide_class >= 0 && m.gmm) {
        if ((size_t)guide_class >= m.gmm->n_components) {
            app_model_free(&m);
            return cli_usage_error(&sample_command, "--class %ld: needs a gmm: model with more than %ld "
                                   "components", guide_class, guide_class);
        }
        guidance = (sgm_gmm_class_guidance){m.gmm, &m.process, (size_t)guide_class};
        guided = sgm_guided_score_alloc(&base, sgm_gmm_class_guidance_fn, &guidance, guide_scale, c.batch);
    } else if (guide_class >= 0) {
        char shipped[4096];
        scoresde_error why;
        if (!classifier_path && shipped_model_path("fmnist_tclassifier.sgc", shipped, sizeof shipped, &why) == 0)
            classifier_path = shipped;
        if (!m.is_image || !classifier_path || guide_class > 9) {
            app_model_free(&m);
            return cli_usage_error(&sample_command, "--class %ld: needs a gmm: model, or an image model, a class "
                                   "0..9 and --classifier FILE (a time-dependent classifier)", guide_class);
        }
        scoresde_error cerr;
        scoresde_error_clear(&cerr);
        if (classifier_load(&cls, classifier_path, 256, &cerr) ||
            classifier_check_process(&cls, &m.process, &cerr) || m.dim != cls.D) {
            if (!cerr.message[0] || m.dim != cls.D)
                scoresde_error_fail(&cerr, SCORESDE_EINVAL, "%s: a classifier of %zu inputs, the model has %zu",
                                    classifier_path, cls.D, m.dim);
            classifier_free(&cls);
            app_model_free(&m);
            return cli_fail("sample", "--classifier %s", cerr.message);
        }
        if (classifier_guidance_init(&cguide, &cls, (size_t)guide_class) == 0)
            guided = sgm_guided_score_alloc(&base, classifier_guidance_fn, &cguide, guide_scale, c.batch);
    }
    if (guide_class >= 0) {
        if (!guided) {
            classifier_guidance_free(&cguide);
            classifier_free(&cls);
            app_model_free(&m);
            return cli_fail("sample", "out of memory");
        }
        m.score = *sgm_guided_score_model(guided);
    }
    int png = has_extension(c.out, ".png"), root = dist_is_root();
    size_t batch = c.batch < c.num ? c.batch : c.num;
    double *x = png && root ? malloc(c.num * m.dim * sizeof *x) : NULL;
    table_writer tw;
    int writing = 0, status = 1;
    scoresde_error error;
    if (png && root && !x) {
        cli_fail("sample", "out of memory for %zu samples of dimension %zu", c.num, m.dim);
        goto done;
    }
    if (!png && root) {
        const char **names = malloc(m.dim * sizeof *names);
        char (*buf)[24] = malloc(m.dim * sizeof *buf);
        for (size_t k = 0; names && buf && k < m.dim; k++) {
            snprintf(buf[k], sizeof buf[k], "x%zu", k);
            names[k] = buf[k];
        }
        rc = names && buf ? table_open_as(&tw, c.out, m.dim, names, c.num, float64, &error) : -1;
        free(names);
        free(buf);
        if (rc) {
            cli_fail("sample", "--out %s", error.message);
            goto done;
        }
        writing = 1;
    }
    sample_job job = {&spec, &m, c.seed, writing ? &tw : NULL, x, 0.0, NULL};
    dist_chunks chunks = {c.num, batch, m.dim, 1, sample_chunk, sample_deliver, &job, "sample", c.quiet, 0, NULL};
    job.chunks = &chunks;
    double start = wall_seconds();
    if ((rc = dist_run_chunks(&chunks))) {
        status = rc;
        if (rc == EXIT_INTERRUPTED && writing && table_keep_completed(&tw, "sample", c.out, chunks.delivered,
                                                                      "samples"))
            writing = 0;
        goto done;
    }
    double seconds = wall_seconds() - start, nfe_total = job.nfe_total;
    if (writing) {
        writing = 0;
        if (table_commit(&tw, &error)) {
            cli_fail("sample", "--out %s", error.message);
            goto done;
        }
    } else if (root && write_points_png(c.out, &m, x, c.num, spec.label, scale, &error)) {
        cli_fail("sample", "--out %s", error.message);
        goto done;
    }
    char model_note[256], sampler_note[256], format[128];
    describe_model(&c, &m, model_note, sizeof model_note);
    describe_sampler(&spec, &m, sampler_note, sizeof sampler_note);
    if (png)
        describe_png(&m, c.num, 0, scale, format, sizeof format);
    else
        snprintf(format, sizeof format, "%s", io_format_note(c.out, float64));
    printf("model    %s (%s)\nsampler  %s\nsamples  %zu -> %s (%s%s)\nNFE      %.1f per sample\n"
           "time     %.3f s (%.1f samples/s)\n",
           m.name, model_note, sampler_note, c.num, c.out, format, out_given ? "" : "; no --out given",
           (double)nfe_total / (double)c.num, seconds, (double)c.num / seconds);
    status = 0;
done:
    if (writing)
        table_abort(&tw);
    free(x);
    sgm_guided_score_free(guided);
    classifier_guidance_free(&cguide);
    classifier_free(&cls);
    app_model_free(&m);
    return status;
}
