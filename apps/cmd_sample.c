/* scoresde sample — draw samples from a model with any sampler; batches stream to the output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "--class K (gmm: models) adds the gradient of the exact log class posterior log p_t(K | x) of\n"
    "component K to the score, times --guidance-scale: class-conditional generation.",
    "[--model M] [options]",
    "scoresde sample --model gmm:models/gmm2d.txt --sde vp --sampler ode --num 1000 --out samples.csv"};

/* The exact data density of a gmm: model for the scatter plot's heat map. */
static int gmm_density(size_t n, const double *xy, double *logp, void *params)
{
    const app_model *m = params;
    return sgm_gmm_log_density(m->gmm, NULL, 0.0, n, xy, logp);
}

int write_points_png(const char *path, const app_model *m, const double *x, size_t n, const char *title,
                     char *msg, size_t msg_size)
{
    if (m->is_image)
        return png_write_grid(path, m, x, n, 0, msg, msg_size);
    if (m->dim != 2) {
        snprintf(msg, msg_size, "%s: PNG output needs an image model or 2-D points (this model has "
                                "dimension %zu); use .csv or .npy", path, m->dim);
        return -1;
    }
    plot_series s = {x, n, "samples", 9, 0.4};
    return plot_scatter_2d(path, title, &s, 1, m->gmm ? gmm_density : NULL, (void *)m, 0, 0, msg,
                           msg_size);
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
} sample_job;

static int sample_chunk(void *ctx, size_t first, size_t n, double *rows, double *info)
{
    sample_job *job = ctx;
    sgm_stats stats;
    slv_error err;
    slv_error_clear(&err);
    int rc = sampler_run(job->spec, job->m, n, job->seed, first, rows, &stats, &err);
    if (rc != SLV_OK)
        return report_solver_failure("sample", rc, &err);
    info[0] = (double)(stats.nfe * n);
    return 0;
}

static int sample_deliver(void *ctx, size_t first, size_t n, const double *rows, const double *info)
{
    sample_job *job = ctx;
    char msg[1024];
    job->nfe_total += info[0];
    if (job->all)
        memcpy(job->all + first * job->m->dim, rows, n * job->m->dim * sizeof *rows);
    else if (table_write_rows(job->tw, n, rows, msg, sizeof msg))
        return cli_fail("sample", "--out %s", msg);
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
    common_options_add(opts, &count, &c, OPTS_MODEL | OPTS_SAMPLER | OPTS_NUM | OPTS_IO);
    opts[count++] = (cli_option){"class", CLI_INT, &guide_class,
                                 "gmm models: sample component K by class guidance (-1: off)", NULL, -1,
                                 1e9, 0, NULL, 0};
    opts[count++] = (cli_option){"guidance-scale", CLI_DOUBLE, &guide_scale,
                                 "weight of the class-posterior gradient", NULL, 0, 1e6, 0, NULL, 0};
    opts[count] = (cli_option){0};
    int rc = cli_parse(&sample_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&c, opts);
    if (c.in)
        return cli_usage_error(&sample_command, "--in is not used by sample (see decode)");
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
    if (guide_class >= 0) {
        if (!m.gmm || (size_t)guide_class >= m.gmm->n_components) {
            app_model_free(&m);
            return cli_usage_error(&sample_command, "--class %ld: needs a gmm: model with more than %ld "
                                   "components", guide_class, guide_class);
        }
        guidance = (sgm_gmm_class_guidance){m.gmm, &m.process, (size_t)guide_class};
        guided = sgm_guided_score_alloc(&base, sgm_gmm_class_guidance_fn, &guidance, guide_scale, c.batch);
        if (!guided) {
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
    char msg[1024];
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
        rc = names && buf ? table_open(&tw, c.out, m.dim, names, c.num, msg, sizeof msg) : -1;
        free(names);
        free(buf);
        if (rc) {
            cli_fail("sample", "--out %s", msg);
            goto done;
        }
        writing = 1;
    }
    sample_job job = {&spec, &m, c.seed, writing ? &tw : NULL, x, 0.0};
    dist_chunks chunks = {c.num, batch, m.dim, 1, sample_chunk, sample_deliver, &job, "sample", c.quiet, 0};
    double start = wall_seconds();
    if ((rc = dist_run_chunks(&chunks))) {
        status = rc;
        /* A CSV holds whole rows: keep the completed batches (a .npy header promised --num). */
        if (rc == EXIT_INTERRUPTED && writing && !has_extension(c.out, ".npy") && chunks.delivered > 0 &&
            table_commit(&tw, msg, sizeof msg) == 0) {
            writing = 0;
            fprintf(stderr, "scoresde sample: the %zu completed samples are in %s\n", chunks.delivered, c.out);
        }
        goto done;
    }
    double seconds = wall_seconds() - start, nfe_total = job.nfe_total;
    if (writing) {
        writing = 0;
        if (table_commit(&tw, msg, sizeof msg)) {
            cli_fail("sample", "--out %s", msg);
            goto done;
        }
    } else if (root && write_points_png(c.out, &m, x, c.num, spec.label, msg, sizeof msg)) {
        cli_fail("sample", "--out %s", msg);
        goto done;
    }
    printf("model    %s (%s, d = %zu)\nsampler  %s\nsamples  %zu -> %s\nNFE      %.1f per sample\n"
           "time     %.3f s (%.1f samples/s)\n",
           m.name, sgm_process_kind_name(m.process.kind), m.dim, spec.label, c.num, c.out,
           (double)nfe_total / (double)c.num, seconds, (double)c.num / seconds);
    status = 0;
done:
    if (writing)
        table_abort(&tw);
    free(x);
    sgm_guided_score_free(guided);
    app_model_free(&m);
    return status;
}
