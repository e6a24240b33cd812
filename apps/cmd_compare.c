/* scoresde compare — every listed sampler from the same seed on the same model: NFE, wall time
 * and sample quality, as a table (stdout, CSV, Markdown) and quality–NFE / quality–time plots. */
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

static const cli_command compare_command = {
    "compare",
    "Runs every sampler of --samplers (comma-separated; pc:PRED[+CORR][@N], ode:METHOD[@TOL|@STEPS],\n"
    "sde:METHOD[@TOL|@STEPS], ald[:T[:STEP_LR]][@L] for VE models) on --num samples from the same seed and reports NFE per sample, wall\n"
    "time and quality: for gmm: models the energy distance to as many exact samples and the largest\n"
    "per-mode weight error; for other models the same against --reference: gmm:FILE (exact samples\n"
    "of the mixture the model was trained on), or held-out points (a file, toy:NAME); for images\n"
    "use scoresde evaluate (Fréchet distance).\n"
    "Writes PREFIX.csv (columns sampler,nfe,seconds,energy_distance,mode_weight_error), PREFIX.md,\n"
    "PREFIX.png (quality against NFE) and PREFIX_time.png (quality against wall time).",
    "--model M --samplers LIST [options]",
    "scoresde compare --model gmm:models/gmm2d.txt --sde ve --samplers \"pc:reverse_diffusion+langevin,"
    "pc:euler_maruyama,ode:dopri5,ode:heun@50,sde:sra1@200,sde:adaptive@1e-2\" --num 1000 --seed 1"};

#define MAX_SAMPLERS 32

typedef struct compare_row {
    sampler_spec spec;
    double nfe, seconds, energy, mode_error;
} compare_row;

static int write_reports(const char *prefix, const compare_row *rows, size_t n_rows, const app_model *m,
                         size_t num, uint64_t seed)
{
    char path[1024], msg[1024];
    atomic_file af;
    snprintf(path, sizeof path, "%s.csv", prefix);
    if (atomic_open(&af, path, msg, sizeof msg))
        return cli_fail("compare", "--out %s", msg);
    fprintf(af.fp, "sampler,nfe,seconds,energy_distance,mode_weight_error\n");
    for (size_t r = 0; r < n_rows; r++)
        fprintf(af.fp, "%s,%.1f,%.6f,%.6g,%.6g\n", rows[r].spec.label, rows[r].nfe, rows[r].seconds,
                rows[r].energy, rows[r].mode_error);
    if (atomic_commit(&af, msg, sizeof msg))
        return cli_fail("compare", "--out %s", msg);

    snprintf(path, sizeof path, "%s.md", prefix);
    if (atomic_open(&af, path, msg, sizeof msg))
        return cli_fail("compare", "--out %s", msg);
    fprintf(af.fp, "Model `%s` (%s), %zu samples per sampler, seed %llu.\n\n"
                   "| sampler | NFE | wall time (s) | energy distance | max mode-weight error |\n"
                   "|---|---:|---:|---:|---:|\n",
            m->name, sgm_process_kind_name(m->process.kind), num, (unsigned long long)seed);
    for (size_t r = 0; r < n_rows; r++)
        fprintf(af.fp, "| %s | %.1f | %.3f | %.4g | %.4g |\n", rows[r].spec.label, rows[r].nfe,
                rows[r].seconds, rows[r].energy, rows[r].mode_error);
    if (atomic_commit(&af, msg, sizeof msg))
        return cli_fail("compare", "--out %s", msg);

    /* One point per sampler: two charts, quality against NFE and against wall time. */
    double *x = malloc(2 * n_rows * sizeof *x), *y = malloc(n_rows * sizeof *y);
    const char **labels = malloc(n_rows * sizeof *labels);
    int rc = 0;
    if (!x || !y || !labels) {
        rc = cli_fail("compare", "out of memory");
        goto done;
    }
    for (size_t r = 0; r < n_rows; r++) {
        x[r] = rows[r].nfe;
        x[n_rows + r] = rows[r].seconds;
        y[r] = fmax(rows[r].energy, 1e-6);
        labels[r] = rows[r].spec.label;
    }
    plot_lines chart = {"sample quality against score evaluations", "NFE per sample",
                        "energy distance", 1, 1, n_rows, 1, x, y, labels, 1};
    snprintf(path, sizeof path, "%s.png", prefix);
    if (plot_line_chart(path, &chart, msg, sizeof msg)) {
        rc = cli_fail("compare", "--out %s", msg);
        goto done;
    }
    chart.title = "sample quality against wall time";
    chart.xlabel = "wall time (s)";
    chart.x = x + n_rows;
    snprintf(path, sizeof path, "%s_time.png", prefix);
    if (plot_line_chart(path, &chart, msg, sizeof msg))
        rc = cli_fail("compare", "--out %s", msg);
done:
    free(x);
    free(y);
    free(labels);
    return rc;
}

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

int cmd_compare(int argc, char **argv)
{
    common_options c;
    common_options_init(&c);
    c.num = 1000;
    c.batch = 1000;
    const char *samplers = "pc:reverse_diffusion+langevin,pc:euler_maruyama,ode:rk45,ode:heun@50,"
                           "sde:sra1@200,sde:adaptive@1e-2";
    const char *prefix = "compare", *reference = NULL;
    cli_option opts[64];
    size_t count = 0;
    common_options_add(opts, &count, &c, OPTS_MODEL | OPTS_NUM);
    opts[count++] = (cli_option){"samplers", CLI_STRING, &samplers, "comma-separated samplers (above)",
                                 NULL, 0, 0, 0, NULL, 0};
    opts[count++] = (cli_option){"rtol", CLI_DOUBLE, &c.rtol,
                                 "relative tolerance of adaptive samplers given without @TOL", NULL, 0, 1, 1,
                                 NULL, 0};
    opts[count++] = (cli_option){"atol", CLI_DOUBLE, &c.atol,
                                 "absolute tolerance of adaptive samplers given without @TOL", NULL, 0, 1e6, 1,
                                 NULL, 0};
    opts[count++] = (cli_option){"snr", CLI_DOUBLE, &c.snr, "Langevin corrector signal-to-noise ratio",
                                 NULL, 0, 10, 1, NULL, 0};
    opts[count++] = (cli_option){"reference", CLI_STRING, &reference,
                                 "reference points for non-gmm models (file, toy:NAME)", NULL, 0, 0, 0,
                                 NULL, 0};
    opts[count++] = (cli_option){"out", CLI_STRING, &prefix, "prefix of the .csv/.md/.png reports", NULL,
                                 0, 0, 0, NULL, 0};
    opts[count] = (cli_option){0};
    common_options_describe(opts);
    /* required: the shipped image model has no reference to compare against */
    cli_describe(opts, "model", "gmm:FILE (Gaussian-mixture oracle) or FILE.sgm (trained network)" CLI_REQUIRED);
    int rc = cli_parse(&compare_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    common_options_finish(&c, opts);
    if (!c.model)
        return cli_usage_error(&compare_command, "--model is required");
    app_model m;
    if (load_model_or_fail("compare", &c, &m))
        return 1;
    compare_row *rows = calloc(MAX_SAMPLERS, sizeof *rows);
    char *list = strdup(samplers), msg[1024];
    double *x = malloc((dist_is_root() ? c.num : 1) * m.dim * sizeof *x);
    matrix ref = {0};
    sgm_gmm *ref_gmm = NULL; /* --reference gmm:FILE */
    size_t n_rows = 0;
    int status = 1;
    if (!rows || !list || !x) {
        cli_fail("compare", "out of memory");
        goto done;
    }
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (n_rows == MAX_SAMPLERS) {
            status = cli_usage_error(&compare_command, "--samplers: more than %d samplers", MAX_SAMPLERS);
            goto done;
        }
        if (sampler_parse(tok, &m.process, &c, &rows[n_rows].spec, msg, sizeof msg)) {
            status = cli_usage_error(&compare_command, "--samplers: %s", msg);
            goto done;
        }
        n_rows++;
    }
    if (n_rows == 0) {
        status = cli_usage_error(&compare_command, "--samplers: empty list");
        goto done;
    }
    /* The reference: exact samples of the mixture, or the given points. */
    if (m.gmm) {
        ref.n = c.num;
        ref.d = m.dim;
        ref.x = malloc(c.num * m.dim * sizeof *ref.x);
        if (!ref.x || sgm_gmm_sample(m.gmm, NULL, 0.0, c.num, c.seed ^ 0x5eed, 0, ref.x, NULL)) {
            cli_fail("compare", "out of memory for the reference samples");
            goto done;
        }
    } else if (reference && strncmp(reference, "gmm:", 4) == 0) {
        slv_error err;
        if (sgm_gmm_load(reference + 4, &ref_gmm, &err) != SLV_OK) {
            cli_fail("compare", "--reference %s", err.message);
            goto done;
        }
        if (ref_gmm->dim != m.dim) {
            cli_fail("compare", "--reference %s has dimension %zu, the model %zu", reference, ref_gmm->dim, m.dim);
            goto done;
        }
        ref.n = c.num;
        ref.d = m.dim;
        ref.x = malloc(c.num * m.dim * sizeof *ref.x);
        if (!ref.x || sgm_gmm_sample(ref_gmm, NULL, 0.0, c.num, c.seed ^ 0x5eed, 0, ref.x, NULL)) {
            cli_fail("compare", "out of memory for the reference samples");
            goto done;
        }
    } else if (reference) {
        if (load_points(reference, &m, c.num, c.seed ^ 0x5eed, &ref, msg, sizeof msg)) {
            cli_fail("compare", "--reference %s", msg);
            goto done;
        }
    }
    size_t energy_n = c.num < 4000 ? c.num : 4000; /* the O(n²) distance on at most 4000 points */
    for (size_t r = 0; r < n_rows; r++) {
        compare_row *row = &rows[r];
        if (!c.quiet && dist_is_root())
            fprintf(stderr, "compare: %s ...\n", row->spec.label);
        double start = wall_seconds();
        compare_job job = {&row->spec, &m, c.seed, x, 0.0};
        dist_chunks chunks = {c.num, c.batch, m.dim, 1, compare_chunk, compare_deliver, &job, row->spec.label,
                              c.quiet, 0, NULL};
        if ((rc = dist_run_chunks(&chunks))) {
            status = rc;
            goto done;
        }
        if (!dist_is_root()) /* rank 0 judges the samples */
            continue;
        double nfe = job.nfe;
        row->seconds = wall_seconds() - start;
        row->nfe = nfe / (double)c.num;
        row->energy = ref.x ? energy_distance(m.dim, x, energy_n, ref.x, ref.n < energy_n ? ref.n : energy_n)
                            : NAN;
        const sgm_gmm *modes = m.gmm ? m.gmm : ref_gmm;
        row->mode_error = modes ? mode_weight_error(modes, x, c.num, NULL) : NAN;
    }
    if (!dist_is_root()) {
        status = 0;
        goto done;
    }
    /* Baseline: two independent exact sample sets give the energy distance of pure sampling noise. */
    double noise_floor = NAN;
    const sgm_gmm *exact = m.gmm ? m.gmm : ref_gmm;
    if (exact) {
        double *y = malloc(energy_n * m.dim * sizeof *y);
        if (y && sgm_gmm_sample(exact, NULL, 0.0, energy_n, c.seed ^ 0xf100d, 0, y, NULL) == 0)
            noise_floor = energy_distance(m.dim, y, energy_n, ref.x, energy_n);
        free(y);
    }
    printf("model %s (%s, d = %zu), %zu samples, seed %llu\n\n", m.name,
           sgm_process_kind_name(m.process.kind), m.dim, c.num, (unsigned long long)c.seed);
    printf("%-34s %10s %12s %16s %14s\n", "sampler", "NFE", "seconds", "energy distance", "mode-wt error");
    for (size_t r = 0; r < n_rows; r++)
        printf("%-34s %10.1f %12.3f %16.4g %14.4g\n", rows[r].spec.label, rows[r].nfe, rows[r].seconds,
               rows[r].energy, rows[r].mode_error);
    if (!isnan(noise_floor))
        printf("%-34s %10s %12s %16.4g %14s\n", "(exact vs exact: noise floor)", "-", "-", noise_floor, "-");
    if ((status = write_reports(prefix, rows, n_rows, &m, c.num, c.seed)))
        goto done;
    printf("\nwrote %s.csv, %s.md, %s.png, %s_time.png\n", prefix, prefix, prefix, prefix);
    status = 0;
done:
    free(rows);
    free(list);
    free(x);
    matrix_free(&ref);
    sgm_gmm_free(ref_gmm);
    app_model_free(&m);
    return status;
}
