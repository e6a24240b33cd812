/* peer_cbench — the C side of the peer benchmark (benchmarks/peer/run_peer.py drives it).
 *
 * It uses the library exactly as `scoresde` does — apps/model.c (compiled in unchanged) turns a
 * .sgm file into the sgm_score_model the samplers call — and adds one thing: a wrapper around the
 * score and VJP callbacks that times every network call, so that a run reports its wall time, the
 * part of it spent inside the network, and the network's floating-point operations.
 *
 *   peer_cbench scores     --model M --in IN.f64 --out OUT.f64
 *       IN rows: t, x (D), v (D); OUT rows: score (D), vᵀ∂s/∂x (D) (EMA weights, as the CLI)
 *   peer_cbench make-model --dim D --hidden H --sde vp|ve|subvp --seed S --out M.sgm
 *       a default-config MLP (1×28×28 image config when D = 784) with every parameter perturbed
 *       (fc2 starts at zero) and a different EMA copy, written through snet_model_save
 *   peer_cbench pc         --model M --num N --batch B [--predictor P --corrector C --N steps]
 *                          [--batch-norms] (Langevin step from batch-averaged norms, as the official code)
 *   peer_cbench ode        --model M --in Z.f64 --batch B [--joint] [--rtol R --atol A] [--out X.f64]
 *   peer_cbench likelihood --model M --in X.f64 --batch B [--joint] [--rtol R --atol A] [--out L.f64]
 *                          [--divergence rademacher|gaussian|exact] (default rademacher, as official)
 *   common: --threads T (default 2) --seed S --repeat R (run the sampling R times, report the fastest
 *           run: on a shared machine the least-disturbed one)
 *
 * .f64 files: two little-endian uint64 (rows, cols), then rows·cols float64, row-major.
 * The sampler commands print one line of key=value pairs: wall_s, net_s (time inside the score
 * callbacks), net_calls, nfe, net_gflop, maxrss_kb, and (ODE, likelihood) nfe_mean, accepted steps
 * and rejected steps (summed over the solves), (likelihood) mean bpd; L.f64 rows: logp, bpd, nfe.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model.h"
#include "sgm_likelihood.h"
#include "sgm_sampler.h"
#include "snet_io.h"
#include "snet_layers.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- .f64 files ----------------------------------------------------------------------------- */

static double *f64_read(const char *path, size_t *rows, size_t *cols)
{
    FILE *f = fopen(path, "rb");
    uint64_t head[2];
    double *a = NULL;
    if (!f || fread(head, 8, 2, f) != 2) {
        fprintf(stderr, "peer_cbench: %s: cannot read the (rows, cols) header\n", path);
        goto done;
    }
    a = malloc((size_t)(head[0] * head[1] + 1) * sizeof *a);
    if (!a || fread(a, 8, (size_t)(head[0] * head[1]), f) != head[0] * head[1]) {
        fprintf(stderr, "peer_cbench: %s: expected %llu×%llu float64 after the header\n", path,
                (unsigned long long)head[0], (unsigned long long)head[1]);
        free(a);
        a = NULL;
        goto done;
    }
    *rows = (size_t)head[0];
    *cols = (size_t)head[1];
done:
    if (f)
        fclose(f);
    return a;
}

static int f64_write(const char *path, const double *a, size_t rows, size_t cols)
{
    FILE *f = fopen(path, "wb");
    uint64_t head[2] = {rows, cols};
    int ok = f && fwrite(head, 8, 2, f) == 2 && fwrite(a, 8, rows * cols, f) == rows * cols;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "peer_cbench: %s: write failed\n", path);
    return ok ? 0 : 1;
}

/* ---- options ---------------------------------------------------------------------------------- */

typedef struct opts {
    const char *model, *in, *out, *predictor, *corrector, *sde, *divergence;
    size_t num, batch, dim, hidden, N, repeat;
    double rtol, atol;
    int joint, threads, batch_norms;
    uint64_t seed;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.batch = 256, .num = 256, .rtol = 1e-5, .atol = 1e-5, .threads = 2, .sde = "vp",
                .hidden = 256, .dim = 2, .repeat = 1};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define STR(name, field) if (!strcmp(a, name) && v) { o->field = v; i++; continue; }
#define NUM(name, field, conv) if (!strcmp(a, name) && v) { o->field = conv; i++; continue; }
        STR("--model", model) STR("--in", in) STR("--out", out) STR("--predictor", predictor)
        STR("--corrector", corrector) STR("--sde", sde) STR("--divergence", divergence)
        NUM("--num", num, (size_t)atoll(v)) NUM("--batch", batch, (size_t)atoll(v))
        NUM("--dim", dim, (size_t)atoll(v)) NUM("--hidden", hidden, (size_t)atoll(v))
        NUM("--N", N, (size_t)atoll(v)) NUM("--repeat", repeat, (size_t)atoll(v)) NUM("--rtol", rtol, atof(v)) NUM("--atol", atol, atof(v))
        NUM("--threads", threads, atoi(v)) NUM("--seed", seed, strtoull(v, NULL, 10))
#undef STR
#undef NUM
        if (!strcmp(a, "--joint")) {
            o->joint = 1;
            continue;
        }
        if (!strcmp(a, "--batch-norms")) {
            o->batch_norms = 1;
            continue;
        }
        fprintf(stderr, "peer_cbench %s: unknown or incomplete option '%s'\n", argv[1], a);
        return 1;
    }
    if (o->batch == 0 || o->num == 0 || o->repeat == 0) {
        fprintf(stderr, "peer_cbench: --batch, --num and --repeat must be positive\n");
        return 1;
    }
    return 0;
}

/* ---- the timed score model -------------------------------------------------------------------- */

typedef struct timed {
    sgm_score_model inner;  /* apps/model.c's callbacks */
    const snet_model *net;
    double net_s, flop;
    size_t calls;
} timed;

/* Forward FLOPs plus the input-only backward of the MLP (dx through out, each block's fc2 and
 * fc1, and the input layer: the same products again, without the time path). */
static double vjp_flops(const snet_model *m, size_t B)
{
    const snet_config *c = &m->cfg;
    double D = (double)snet_config_dim(c), H = c->hidden, nb = c->n_blocks;
    return snet_model_forward_flops(m, B) + 2.0 * (double)B * (D * H + nb * 2.0 * H * H + H * D);
}

static int timed_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    timed *w = params;
    double t0 = now();
    int rc = w->inner.score(t, n, d, x, out, w->inner.params);
    w->net_s += now() - t0;
    w->flop += snet_model_forward_flops(w->net, n);
    w->calls++;
    return rc;
}

static int timed_vjp(double t, size_t n, size_t d, const double *x, const double *v, double *out,
                     void *params)
{
    timed *w = params;
    double t0 = now();
    int rc = w->inner.score_vjp(t, n, d, x, v, out, w->inner.params);
    w->net_s += now() - t0;
    w->flop += vjp_flops(w->net, n);
    w->calls++;
    return rc;
}

static int timed_score_rows(const double *t, size_t n, size_t d, const double *x, double *out, void *params)
{
    timed *w = params;
    double t0 = now();
    int rc = w->inner.score_rows(t, n, d, x, out, w->inner.params);
    w->net_s += now() - t0;
    w->flop += snet_model_forward_flops(w->net, n);
    w->calls++;
    return rc;
}

static int timed_score_vjp_rows(const double *t, size_t n, size_t d, const double *x, const double *v,
                                double *score, double *vjp, void *params)
{
    timed *w = params;
    double t0 = now();
    int rc = w->inner.score_vjp_rows(t, n, d, x, v, score, vjp, w->inner.params);
    w->net_s += now() - t0;
    w->flop += vjp_flops(w->net, n);
    w->calls++;
    return rc;
}

static int load(const opts *o, app_model *m, timed *w, sgm_score_model *model)
{
    scoresde_error error;
    process_options po;
    memset(&po, 0, sizeof po);
    if (o->N) {
        po.N = o->N;
        po.set_N = 1;
    }
    if (!o->model) {
        fprintf(stderr, "peer_cbench: --model is required\n");
        return 1;
    }
    if (app_model_load(o->model, &po, o->batch, m, &error)) {
        fprintf(stderr, "peer_cbench: %s\n", error.message);
        return 1;
    }
    snet_set_num_threads(o->threads);
    *w = (timed){m->score, m->net, 0, 0, 0};
    /* no divergence callback: Hutchinson uses one VJP per evaluation (as the official code), the
     * exact trace d VJPs with the basis vectors; the per-row forms as the CLI has them (one fused
     * score + VJP per Hutchinson evaluation of the per-sample solver) */
    *model = (sgm_score_model){.score = timed_score, .score_vjp = m->score.score_vjp ? timed_vjp : NULL,
                               .dim = m->dim, .params = w,
                               .score_rows = m->score.score_rows ? timed_score_rows : NULL,
                               .score_vjp_rows = m->score.score_vjp_rows ? timed_score_vjp_rows : NULL};
    return 0;
}

static void report(const char *what, double wall, const timed *w, size_t nfe, const char *extra)
{
    printf("bench=%s wall_s=%.6f net_s=%.6f net_calls=%zu nfe=%zu net_gflop=%.6f maxrss_kb=%ld%s\n",
           what, wall, w->net_s, w->calls, nfe, w->flop * 1e-9, maxrss_kb(), extra ? extra : "");
}

/* ---- commands --------------------------------------------------------------------------------- */

static int cmd_scores(const opts *o)
{
    scoresde_error err;
    snet_model *m = NULL;
    size_t rows, cols;
    double *in = o->in ? f64_read(o->in, &rows, &cols) : NULL;
    if (!in || !o->out || !o->model) {
        fprintf(stderr, "peer_cbench scores: needs --model, --in and --out\n");
        free(in);
        return 1;
    }
    if (snet_model_load(o->model, SNET_LOAD_EMA, &m, NULL, &err)) {
        fprintf(stderr, "peer_cbench: %s\n", err.message);
        free(in);
        return 1;
    }
    snet_set_num_threads(o->threads);
    size_t D = snet_config_dim(&m->cfg);
    if (cols != 1 + 2 * D) {
        fprintf(stderr, "peer_cbench scores: %s has %zu columns, expected 1 + 2·%zu\n", o->in, cols, D);
        free(in);
        snet_model_free(m);
        return 1;
    }
    snet_workspace *ws = snet_workspace_alloc(m, rows);
    float *t = malloc(rows * sizeof *t), *x = malloc(rows * D * sizeof *x), *v = malloc(rows * D * sizeof *v);
    float *s = malloc(rows * D * sizeof *s), *g = malloc(rows * D * sizeof *g);
    double *res = malloc(rows * 2 * D * sizeof *res);
    int rc = 1;
    if (!ws || !t || !x || !v || !s || !g || !res)
        goto done;
    for (size_t r = 0; r < rows; r++) {
        t[r] = (float)in[r * cols];
        for (size_t j = 0; j < D; j++) {
            x[r * D + j] = (float)in[r * cols + 1 + j];
            v[r * D + j] = (float)in[r * cols + 1 + D + j];
        }
    }
    int st = snet_model_score_and_vjp(m, ws, rows, t, x, v, s, g);
    if (st != SNET_OK) {
        fprintf(stderr, "peer_cbench scores: %s\n", snet_strerror(st));
        goto done;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < D; j++) {
            res[r * 2 * D + j] = s[r * D + j];
            res[r * 2 * D + D + j] = g[r * D + j];
        }
    rc = f64_write(o->out, res, rows, 2 * D);
done:
    snet_workspace_free(ws);
    snet_model_free(m);
    free(in), free(t), free(x), free(v), free(s), free(g), free(res);
    return rc;
}

static int cmd_make_model(const opts *o)
{
    scoresde_error err;
    snet_sde_kind sde = 0;
    scoresde_process_kind_parse(o->sde, &sde);
    if (!sde || !o->out) {
        fprintf(stderr, "peer_cbench make-model: needs --sde ve|vp|subvp and --out\n");
        return 1;
    }
    snet_config cfg;
    if (o->dim == 784)
        snet_config_default(&cfg, SNET_ARCH_MLP, 1, 28, 28, sde);
    else
        snet_config_default(&cfg, SNET_ARCH_MLP, (uint32_t)o->dim, 1, 1, sde);
    cfg.hidden = (uint32_t)o->hidden;
    snet_model *m;
    if (snet_model_alloc(&m, &cfg, &err)) {
        fprintf(stderr, "peer_cbench make-model: %s\n", err.message);
        return 1;
    }
    snet_model_init(m, o->seed);
    float *noise = malloc(m->n_params * sizeof *noise), *ema = malloc(m->n_params * sizeof *ema);
    if (!noise || !ema) {
        free(noise), free(ema), snet_model_free(m);
        return 1;
    }
    /* perturb every trainable tensor by U(±scale/√fan_in): non-zero fc2, LayerNorm away from 1/0 */
    float scale = 0.5f / sqrtf((float)cfg.hidden);
    snet_fill_uniform(noise, m->n_params, scale, o->seed + 101);
    for (size_t k = 0; k < m->n_tensors; k++) {
        const snet_tensor *e = &m->tensors[k];
        if (!e->trainable)
            continue;
        for (size_t i = 0; i < e->size; i++)
            m->params[e->offset + i] += noise[e->offset + i];
    }
    snet_fill_uniform(noise, m->n_params, 0.1f * scale, o->seed + 202);
    for (size_t k = 0; k < m->n_tensors; k++) {
        const snet_tensor *e = &m->tensors[k];
        for (size_t i = 0; i < e->size; i++)
            ema[e->offset + i] = m->params[e->offset + i] + (e->trainable ? noise[e->offset + i] : 0.0f);
    }
    int rc = snet_model_save(m, ema, "peer_cbench make-model", 0, o->out, &err);
    if (rc)
        fprintf(stderr, "peer_cbench make-model: %s\n", err.message);
    free(noise), free(ema);
    snet_model_free(m);
    return rc ? 1 : 0;
}

static int cmd_pc(const opts *o)
{
    app_model m;
    timed w;
    sgm_score_model model;
    if (load(o, &m, &w, &model))
        return 1;
    sgm_pc_options pc;
    sgm_pc_options_init(&pc, &m.process);
    if ((o->predictor && sgm_predictor_parse(o->predictor, &pc.predictor)) ||
        (o->corrector && sgm_corrector_parse(o->corrector, &pc.corrector))) {
        fprintf(stderr, "peer_cbench pc: unknown predictor or corrector\n");
        app_model_free(&m);
        return 1;
    }
    pc.langevin_batch_norms = o->batch_norms;
    size_t d = m.dim, nfe = 0;
    double *x = malloc(o->batch * d * sizeof *x), *all = o->out ? malloc(o->num * d * sizeof *all) : NULL;
    slv_error err;
    int st = SLV_OK;
    double wall = HUGE_VAL;
    timed best = w;
    for (size_t rep = 0; x && st == SLV_OK && rep < o->repeat; rep++) {
        w.net_s = w.flop = 0.0;
        w.calls = 0;
        double t0 = now();
        for (size_t first = 0; st == SLV_OK && first < o->num; first += o->batch) {
            size_t n = o->num - first < o->batch ? o->num - first : o->batch;
            sgm_stats stats;
            st = sgm_pc_sample(&m.process, &model, &pc, n, o->seed, first, x, &stats, &err);
            nfe = stats.nfe;
            if (all)
                memcpy(all + first * d, x, n * d * sizeof *x);
        }
        double t = now() - t0;
        if (t < wall)
            wall = t, best = w;
    }
    int rc = 0;
    if (!x || st != SLV_OK) {
        fprintf(stderr, "peer_cbench pc: %s\n", x ? err.message : "out of memory");
        rc = 1;
    } else {
        report("pc", wall, &best, nfe, NULL);
        if (all)
            rc = f64_write(o->out, all, o->num, d);
    }
    free(x), free(all);
    app_model_free(&m);
    return rc;
}

static int cmd_ode(const opts *o)
{
    app_model m;
    timed w;
    sgm_score_model model;
    size_t rows, cols;
    double *z = o->in ? f64_read(o->in, &rows, &cols) : NULL;
    if (!z) {
        fprintf(stderr, "peer_cbench ode: needs --in Z.f64 (the latents at T)\n");
        return 1;
    }
    if (load(o, &m, &w, &model)) {
        free(z);
        return 1;
    }
    int rc = 0;
    if (cols != m.dim) {
        fprintf(stderr, "peer_cbench ode: %s has %zu columns, the model %zu\n", o->in, cols, m.dim);
        rc = 1;
        goto done;
    }
    sgm_ode_options ode;
    sgm_ode_options_init(&ode);
    ode.rtol = o->rtol;
    ode.atol = o->atol;
    ode.batch_mode = o->joint ? SLV_BATCH_JOINT : SLV_BATCH_INDEPENDENT;
    size_t d = m.dim, nfe_max = 0, nfe_sum = 0, *nfe = malloc(rows * sizeof *nfe);
    size_t steps = 0, rejected = 0;
    double *z0 = malloc(rows * d * sizeof *z0), wall = HUGE_VAL;
    slv_error err;
    int st = SLV_OK;
    timed best = w;
    if (z0)
        memcpy(z0, z, rows * d * sizeof *z);
    for (size_t rep = 0; nfe && z0 && st == SLV_OK && rep < o->repeat; rep++) {
        memcpy(z, z0, rows * d * sizeof *z); /* decoded in place */
        w.net_s = w.flop = 0.0;
        w.calls = 0;
        steps = rejected = 0;
        double t0 = now();
        for (size_t first = 0; st == SLV_OK && first < rows; first += o->batch) {
            size_t n = rows - first < o->batch ? rows - first : o->batch;
            sgm_stats stats;
            st = sgm_decode(&m.process, &model, &ode, n, z + first * d, o->seed, first, z + first * d,
                            nfe + first, &stats, &err);
            steps += stats.n_steps;
            rejected += stats.n_rejected;
        }
        double t = now() - t0;
        if (t < wall)
            wall = t, best = w;
    }
    free(z0);
    if (!nfe || st != SLV_OK) {
        fprintf(stderr, "peer_cbench ode: %s\n", nfe ? err.message : "out of memory");
        rc = 1;
    } else {
        for (size_t i = 0; i < rows; i++) {
            nfe_sum += nfe[i];
            nfe_max = nfe[i] > nfe_max ? nfe[i] : nfe_max;
        }
        char extra[160];
        snprintf(extra, sizeof extra, " nfe_mean=%.2f steps=%zu rejected=%zu", (double)nfe_sum / (double)rows,
                 steps, rejected);
        report(o->joint ? "ode_joint" : "ode_independent", wall, &best, nfe_max, extra);
        if (o->out)
            rc = f64_write(o->out, z, rows, d);
    }
    free(nfe);
done:
    free(z);
    app_model_free(&m);
    return rc;
}

static int cmd_likelihood(const opts *o)
{
    app_model m;
    timed w;
    sgm_score_model model;
    size_t rows, cols;
    double *x = o->in ? f64_read(o->in, &rows, &cols) : NULL;
    if (!x) {
        fprintf(stderr, "peer_cbench likelihood: needs --in X.f64\n");
        return 1;
    }
    if (load(o, &m, &w, &model)) {
        free(x);
        return 1;
    }
    int rc = 0;
    double *res = malloc(rows * 3 * sizeof *res), *logp = malloc(rows * sizeof *logp);
    double *bpd = malloc(rows * sizeof *bpd);
    size_t *nfe = malloc(rows * sizeof *nfe);
    if (cols != m.dim || !res || !logp || !bpd || !nfe) {
        fprintf(stderr, "peer_cbench likelihood: %s has %zu columns, the model %zu (or out of memory)\n",
                o->in, cols, m.dim);
        rc = 1;
        goto done;
    }
    sgm_likelihood_options lo;
    sgm_likelihood_options_init(&lo);
    lo.rtol = o->rtol;
    lo.atol = o->atol;
    lo.divergence = SGM_DIVERGENCE_RADEMACHER;
    if (o->divergence && sgm_divergence_method_parse(o->divergence, &lo.divergence) != SLV_OK) {
        fprintf(stderr, "peer_cbench likelihood: --divergence %s, expected exact, gaussian or rademacher\n",
                o->divergence);
        rc = 1;
        goto done;
    }
    lo.batch_mode = o->joint ? SLV_BATCH_JOINT : SLV_BATCH_INDEPENDENT;
    if (m.quantized) {
        lo.bpd_levels = 256.0;
        lo.bpd_data_width = m.data_width;
    }
    size_t d = m.dim, steps = 0, rejected = 0;
    slv_error err;
    int st = SLV_OK;
    double wall = HUGE_VAL;
    timed best = w;
    for (size_t rep = 0; st == SLV_OK && rep < o->repeat; rep++) {
        w.net_s = w.flop = 0.0;
        w.calls = 0;
        steps = rejected = 0;
        double t0 = now();
        for (size_t first = 0; st == SLV_OK && first < rows; first += o->batch) {
            size_t n = rows - first < o->batch ? rows - first : o->batch;
            sgm_stats stats;
            st = sgm_likelihood(&m.process, &model, &lo, n, x + first * d, o->seed, first, logp + first,
                                bpd + first, nfe + first, NULL, &stats, &err);
            steps += stats.n_steps;
            rejected += stats.n_rejected;
        }
        double t = now() - t0;
        if (t < wall)
            wall = t, best = w;
    }
    if (st != SLV_OK) {
        fprintf(stderr, "peer_cbench likelihood: %s\n", err.message);
        rc = 1;
        goto done;
    }
    double mean = 0.0, nfe_mean = 0.0;
    size_t nfe_max = 0;
    for (size_t i = 0; i < rows; i++) {
        mean += bpd[i] / (double)rows;
        nfe_mean += (double)nfe[i] / (double)rows;
        nfe_max = nfe[i] > nfe_max ? nfe[i] : nfe_max;
        res[3 * i] = logp[i];
        res[3 * i + 1] = bpd[i];
        res[3 * i + 2] = (double)nfe[i];
    }
    char extra[192];
    snprintf(extra, sizeof extra, " nfe_mean=%.2f bpd=%.6f steps=%zu rejected=%zu", nfe_mean, mean, steps,
             rejected);
    report(o->joint ? "likelihood_joint" : "likelihood_independent", wall, &best, nfe_max, extra);
    if (o->out)
        rc = f64_write(o->out, res, rows, 3);
done:
    free(x), free(res), free(logp), free(bpd), free(nfe);
    app_model_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(const opts *); } commands[] = {
        {"scores", cmd_scores}, {"make-model", cmd_make_model}, {"pc", cmd_pc}, {"ode", cmd_ode},
        {"likelihood", cmd_likelihood}};
    opts o;
    for (size_t k = 0; argc > 1 && k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(argv[1], commands[k].name))
            return parse(argc, argv, &o) ? 2 : commands[k].fn(&o);
    fprintf(stderr, "usage: peer_cbench scores|make-model|pc|ode|likelihood [options] (see the source)\n");
    return 2;
}
