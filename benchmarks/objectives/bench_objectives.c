/* bench_objectives — the two closed-form measurements of the training-objective benchmark
 * (benchmarks/objectives/run.sh) that the scoresde commands do not make:
 *
 *   bench_objectives points --gmm FILE --num N --seed S --out POINTS.csv --logp LOGP.csv
 *       N exact samples of the mixture (sgm_gmm_sample of the data distribution, stream
 *       (S, i, SGM_STREAM_GMM)) as x0..x{d-1}, and their exact log p (one column, exact_logp):
 *       the held-out set of the log-likelihood gap.
 *
 *   bench_objectives fisher --model NET.sgm --gmm FILE [--num N] [--seed S] [--t-min T]
 *                           [--at t1,t2,...] [--num-at M]
 *       Fisher divergence of the network's score (EMA weights, as every scoresde command uses)
 *       to the exact score of the mixture under the network's own process:
 *         F = E_{t ~ U(t_min, 1)} E_{x ~ p_t} s(t)² ‖s_θ(x, t) − ∇ log p_t(x)‖² / D
 *       (for VP, s(t)² ‖Δ‖² is the squared error of the predicted noise), and, unweighted, at each
 *       time of --at: E_{x ~ p_t} ‖s_θ − ∇ log p_t‖² / D beside E ‖∇ log p_t‖² / D, the size of
 *       the score it is an error of. x_t = m(t) x0 + s(t) z with x0 exact mixture samples (mapped
 *       into model space by the network's data_scale/data_shift) and z ~ N(0, I), which is exact
 *       for p_t. Prints a CSV header and one row; standard errors treat the N terms as independent.
 *
 * Exit status 0 on success, 1 on a usage error, 2 when a file cannot be used (message on stderr
 * naming the file and what is wrong).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sgm_gmm.h"
#include "sgm_process.h"
#include "snet_io.h"
#include "snet_model.h"

#define FISHER_BATCH 1024u
#define MAX_AT 16u

static const char *arg_value(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return fallback;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_objectives points --gmm FILE --num N --seed S --out POINTS.csv --logp LOGP.csv\n"
            "       bench_objectives fisher --model NET.sgm --gmm FILE [--num 20000] [--seed 1]\n"
            "                               [--t-min 1e-3] [--at 0.01,0.1,0.5] [--num-at 5000]\n");
    return 1;
}

/* ---- points ---------------------------------------------------------------------------------- */

static int cmd_points(int argc, char **argv)
{
    const char *gmm_path = arg_value(argc, argv, "--gmm", NULL);
    const char *out_path = arg_value(argc, argv, "--out", NULL);
    const char *logp_path = arg_value(argc, argv, "--logp", NULL);
    long num = atol(arg_value(argc, argv, "--num", "1000"));
    unsigned long long seed = strtoull(arg_value(argc, argv, "--seed", "1"), NULL, 10);
    if (!gmm_path || !out_path || !logp_path || num <= 0)
        return usage();

    int status = 2;
    sgm_gmm *g = NULL;
    double *x = NULL, *logp = NULL;
    FILE *out = NULL, *lp = NULL;
    slv_error err;
    if (sgm_gmm_load(gmm_path, &g, &err) != SLV_OK) {
        fprintf(stderr, "bench_objectives: %s\n", err.message);
        goto done;
    }
    size_t n = (size_t)num, d = g->dim;
    x = malloc(n * d * sizeof *x);
    logp = malloc(n * sizeof *logp);
    if (!x || !logp) {
        fprintf(stderr, "bench_objectives: out of memory for %zu points of dimension %zu\n", n, d);
        goto done;
    }
    if (sgm_gmm_sample(g, NULL, 0.0, n, seed, 0, x, NULL) != SLV_OK ||
        sgm_gmm_log_density(g, NULL, 0.0, n, x, logp) != SLV_OK) {
        fprintf(stderr, "bench_objectives: %s: sampling or log-density failed\n", gmm_path);
        goto done;
    }
    out = fopen(out_path, "w");
    lp = fopen(logp_path, "w");
    if (!out || !lp) {
        fprintf(stderr, "bench_objectives: cannot write %s\n", !out ? out_path : logp_path);
        goto done;
    }
    for (size_t j = 0; j < d; j++)
        fprintf(out, "%sx%zu", j ? "," : "", j);
    fputc('\n', out);
    fprintf(lp, "exact_logp\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            fprintf(out, "%s%.9g", j ? "," : "", x[i * d + j]);
        fputc('\n', out);
        fprintf(lp, "%.9g\n", logp[i]);
    }
    status = 0;
done:
    if (out && fclose(out) != 0 && status == 0) {
        fprintf(stderr, "bench_objectives: error writing %s\n", out_path);
        status = 2;
    }
    if (lp && fclose(lp) != 0 && status == 0) {
        fprintf(stderr, "bench_objectives: error writing %s\n", logp_path);
        status = 2;
    }
    free(x);
    free(logp);
    sgm_gmm_free(g);
    return status;
}

/* ---- fisher ---------------------------------------------------------------------------------- */

/* The process a network was trained for (as apps/model.c builds it). */
static int process_of(const snet_config *cfg, sgm_process *p)
{
    switch (cfg->sde) {
    case SNET_SDE_VE: sgm_process_init(p, SGM_PROCESS_VE); break;
    case SNET_SDE_VP: sgm_process_init(p, SGM_PROCESS_VP); break;
    case SNET_SDE_SUBVP: sgm_process_init(p, SGM_PROCESS_SUBVP); break;
    default: return -1;
    }
    p->sigma_min = cfg->sigma_min;
    p->sigma_max = cfg->sigma_max;
    p->beta_min = cfg->beta_min;
    p->beta_max = cfg->beta_max;
    return 0;
}

/* The mixture in model space: x = scale·raw + shift maps N(μ, σ²) to N(scale μ + shift, scale² σ²). */
static int gmm_to_model_space(const sgm_gmm *g, double scale, double shift, sgm_gmm **out)
{
    size_t K = g->n_components, d = g->dim;
    double *means = malloc(K * d * sizeof *means), *stds = malloc(K * d * sizeof *stds);
    slv_error err;
    int rc = -1;
    *out = sgm_gmm_alloc(d, K);
    if (!means || !stds || !*out)
        goto done;
    for (size_t i = 0; i < K * d; i++) {
        means[i] = scale * g->means[i] + shift;
        stds[i] = fabs(scale) * g->stds[i];
    }
    rc = sgm_gmm_set(*out, g->weights, means, stds, &err) == SLV_OK ? 0 : -1;
done:
    if (rc) {
        sgm_gmm_free(*out);
        *out = NULL;
    }
    free(means);
    free(stds);
    return rc;
}

/* Running mean and variance (Welford). */
typedef struct moments {
    double n, mean, m2;
} moments;

static void moments_add(moments *m, double v)
{
    m->n += 1.0;
    double delta = v - m->mean;
    m->mean += delta / m->n;
    m->m2 += delta * (v - m->mean);
}

static double moments_se(const moments *m)
{
    return m->n > 1.0 ? sqrt(m->m2 / (m->n - 1.0) / m->n) : NAN;
}

typedef struct fisher_work {
    const snet_model *net;
    snet_workspace *ws;
    const sgm_gmm *gmm; /* in model space */
    const sgm_process *process;
    size_t d;
    double *x0, *xt, *exact; // (FISHER_BATCH, d) each
    float *tf, *xf, *sf;     // (FISHER_BATCH), (FISHER_BATCH, d) x2
} fisher_work;

/* n ≤ FISHER_BATCH points at times t[n] (t_fixed < 0) or all at t_fixed: adds s(t)²‖Δ‖²/D (or
 * ‖Δ‖²/D unweighted when t_fixed >= 0) to err and ‖∇log p_t‖²/D to ref. Returns 0, or -1 if the
 * network's score is not finite. */
static int fisher_batch(fisher_work *w, gsl_rng *rng, uint64_t seed, size_t first, size_t n,
                        double t_min, double t_fixed, moments *err, moments *ref)
{
    size_t d = w->d;
    sgm_gmm_sample(w->gmm, NULL, 0.0, n, seed, first, w->x0, NULL);
    for (size_t i = 0; i < n; i++) {
        double t = t_fixed >= 0.0 ? t_fixed : t_min + (1.0 - t_min) * gsl_rng_uniform(rng);
        double m = sgm_process_mean_coef(w->process, t), s = sgm_process_std(w->process, t);
        w->tf[i] = (float)t;
        for (size_t j = 0; j < d; j++) {
            double xt = m * w->x0[i * d + j] + s * gsl_ran_gaussian_ziggurat(rng, 1.0);
            w->xf[i * d + j] = (float)xt;
            w->xt[i * d + j] = (double)w->xf[i * d + j]; /* the exact score at the network's input */
        }
    }
    if (snet_model_score(w->net, w->ws, n, w->tf, w->xf, w->sf) != SNET_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* one point at a time: the oracle takes one t per call */
        double t = (double)w->tf[i];
        sgm_gmm_score(w->gmm, w->process, t, 1, w->xt + i * d, w->exact + i * d);
        double s = sgm_process_std(w->process, t), e2 = 0.0, r2 = 0.0;
        for (size_t j = 0; j < d; j++) {
            double delta = (double)w->sf[i * d + j] - w->exact[i * d + j];
            e2 += delta * delta;
            r2 += w->exact[i * d + j] * w->exact[i * d + j];
        }
        double weight = t_fixed >= 0.0 ? 1.0 : s * s;
        moments_add(err, weight * e2 / (double)d);
        moments_add(ref, weight * r2 / (double)d);
    }
    return 0;
}

static int cmd_fisher(int argc, char **argv)
{
    const char *model_path = arg_value(argc, argv, "--model", NULL);
    const char *gmm_path = arg_value(argc, argv, "--gmm", NULL);
    long num = atol(arg_value(argc, argv, "--num", "20000"));
    long num_at = atol(arg_value(argc, argv, "--num-at", "5000"));
    unsigned long long seed = strtoull(arg_value(argc, argv, "--seed", "1"), NULL, 10);
    double t_min = atof(arg_value(argc, argv, "--t-min", "1e-3"));
    const char *at_list = arg_value(argc, argv, "--at", "0.01,0.1,0.5");
    if (!model_path || !gmm_path || num <= 0 || num_at <= 0 || !(t_min > 0.0 && t_min < 1.0))
        return usage();

    double at[MAX_AT];
    size_t n_at = 0;
    for (const char *p = at_list; *p && n_at < MAX_AT;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 0.0 && v <= 1.0)) {
            fprintf(stderr, "bench_objectives: --at '%s': expected times in (0, 1] separated by commas\n",
                    at_list);
            return 1;
        }
        at[n_at++] = v;
        p = *end == ',' ? end + 1 : end;
    }

    int status = 2;
    scoresde_error serr;
    snet_model *net = NULL;
    sgm_gmm *raw = NULL, *gmm = NULL;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    fisher_work w = {0};
    slv_error err;
    sgm_process process;
    if (!rng)
        goto nomem;
    if (snet_model_load(model_path, SNET_LOAD_EMA, &net, NULL, &serr) != SNET_OK) {
        fprintf(stderr, "bench_objectives: %s\n", serr.message);
        goto done;
    }
    if (sgm_gmm_load(gmm_path, &raw, &err) != SLV_OK) {
        fprintf(stderr, "bench_objectives: %s\n", err.message);
        goto done;
    }
    size_t d = snet_config_dim(&net->cfg);
    if (d != raw->dim) {
        fprintf(stderr, "bench_objectives: %s has data dimension %zu, the mixture %s has %zu\n", model_path,
                d, gmm_path, raw->dim);
        goto done;
    }
    if (process_of(&net->cfg, &process) != 0 || sgm_process_validate(&process, &err) != SLV_OK) {
        fprintf(stderr, "bench_objectives: %s: unusable process in the model's config\n", model_path);
        goto done;
    }
    if (gmm_to_model_space(raw, net->cfg.data_scale, net->cfg.data_shift, &gmm) != 0)
        goto nomem;
    w = (fisher_work){.net = net, .gmm = gmm, .process = &process, .d = d};
    w.ws = snet_workspace_alloc(net, FISHER_BATCH);
    w.x0 = malloc(FISHER_BATCH * d * sizeof *w.x0);
    w.xt = malloc(FISHER_BATCH * d * sizeof *w.xt);
    w.exact = malloc(FISHER_BATCH * d * sizeof *w.exact);
    w.tf = malloc(FISHER_BATCH * sizeof *w.tf);
    w.xf = malloc(FISHER_BATCH * d * sizeof *w.xf);
    w.sf = malloc(FISHER_BATCH * d * sizeof *w.sf);
    if (!w.ws || !w.x0 || !w.xt || !w.exact || !w.tf || !w.xf || !w.sf)
        goto nomem;

    /* Each measurement draws its own sample indices from its own block, so adding a time to --at
     * changes no other column. */
    moments f = {0}, f_ref = {0}, f_at[MAX_AT] = {{0}}, ref_at[MAX_AT] = {{0}};
    gsl_rng_set(rng, (unsigned long)(seed * 1000003ull + 17ull));
    for (size_t first = 0; first < (size_t)num; first += FISHER_BATCH) {
        size_t n = (size_t)num - first < FISHER_BATCH ? (size_t)num - first : FISHER_BATCH;
        if (fisher_batch(&w, rng, seed, first, n, t_min, -1.0, &f, &f_ref) != 0)
            goto nonfinite;
    }
    for (size_t k = 0; k < n_at; k++) {
        gsl_rng_set(rng, (unsigned long)(seed * 1000003ull + 101ull + k));
        size_t base = ((size_t)k + 1) << 32; /* sample indices of time k */
        for (size_t first = 0; first < (size_t)num_at; first += FISHER_BATCH) {
            size_t n = (size_t)num_at - first < FISHER_BATCH ? (size_t)num_at - first : FISHER_BATCH;
            if (fisher_batch(&w, rng, seed, base + first, n, t_min, at[k], &f_at[k], &ref_at[k]) != 0)
                goto nonfinite;
        }
    }
    printf("fisher,fisher_se,fisher_ref");
    for (size_t k = 0; k < n_at; k++)
        printf(",fisher_t%g,fisher_t%g_se,score_sq_t%g", at[k], at[k], at[k]);
    printf("\n%.6g,%.3g,%.6g", f.mean, moments_se(&f), f_ref.mean);
    for (size_t k = 0; k < n_at; k++)
        printf(",%.6g,%.3g,%.6g", f_at[k].mean, moments_se(&f_at[k]), ref_at[k].mean);
    printf("\n");
    status = 0;
    goto done;
nonfinite:
    fprintf(stderr, "bench_objectives: %s: the network's score is not finite\n", model_path);
    goto done;
nomem:
    fprintf(stderr, "bench_objectives: out of memory\n");
done:
    snet_workspace_free(w.ws);
    free(w.x0);
    free(w.xt);
    free(w.exact);
    free(w.tf);
    free(w.xf);
    free(w.sf);
    snet_model_free(net);
    sgm_gmm_free(raw);
    sgm_gmm_free(gmm);
    if (rng)
        gsl_rng_free(rng);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "points") == 0)
        return cmd_points(argc, argv);
    if (strcmp(argv[1], "fisher") == 0)
        return cmd_fisher(argc, argv);
    return usage();
}
