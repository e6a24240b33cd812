/* netscore.c — the network behind the score callbacks (netscore.h). */
#include "netscore.h"

#include <stdlib.h>

struct netscore {
    const snet_model *net;
    snet_workspace *ws;
    size_t max_batch, dim;
    float *t, *x, *v, *out, *score; /* (max_batch), (max_batch, D) ×4 */
    netscore_progress_fn progress;
    void *progress_ctx;
    double t_from, t_to;
    scoresde_error err;
};

int netscore_alloc(netscore **out, const snet_model *net, size_t max_batch, scoresde_error *err)
{
    *out = NULL;
    if (!net)
        return scoresde_error_fail(err, SCORESDE_EINVAL, "netscore: no network");
    netscore *ns = calloc(1, sizeof *ns);
    if (!ns)
        return scoresde_error_fail(err, SCORESDE_ENOMEM, "netscore: out of memory");
    ns->net = net;
    ns->max_batch = max_batch ? max_batch : 256;
    ns->dim = snet_config_dim(&net->cfg);
    size_t rows = ns->max_batch * ns->dim;
    ns->ws = snet_workspace_alloc(net, ns->max_batch);
    ns->t = malloc(ns->max_batch * sizeof *ns->t);
    ns->x = malloc(rows * sizeof *ns->x);
    ns->v = malloc(rows * sizeof *ns->v);
    ns->out = malloc(rows * sizeof *ns->out);
    ns->score = malloc(rows * sizeof *ns->score);
    if (!ns->ws || !ns->t || !ns->x || !ns->v || !ns->out || !ns->score) {
        netscore_free(ns);
        return scoresde_error_fail(err, SCORESDE_ENOMEM, "netscore: out of memory for a batch of %zu rows of %zu",
                                   max_batch, snet_config_dim(&net->cfg));
    }
    scoresde_error_clear(&ns->err);
    *out = ns;
    return SCORESDE_OK;
}

void netscore_free(netscore *ns)
{
    if (!ns)
        return;
    snet_workspace_free(ns->ws);
    free(ns->t);
    free(ns->x);
    free(ns->v);
    free(ns->out);
    free(ns->score);
    free(ns);
}

void netscore_set_progress(netscore *ns, netscore_progress_fn fn, void *ctx, double t_from, double t_to)
{
    ns->progress = fn;
    ns->progress_ctx = ctx;
    ns->t_from = t_from;
    ns->t_to = t_to;
}

const scoresde_error *netscore_get_error(const netscore *ns)
{
    return &ns->err;
}

/* Reports how far the least advanced of the call's rows has come from t_from to t_to. */
static void report_progress(const netscore *ns, const double *t_rows, double t, size_t n)
{
    if (!ns->progress || ns->t_to == ns->t_from)
        return;
    double least = 1.0;
    for (size_t i = 0; i < (t_rows ? n : 1); i++) {
        double f = ((t_rows ? t_rows[i] : t) - ns->t_from) / (ns->t_to - ns->t_from);
        if (f < least)
            least = f;
    }
    ns->progress(least > 0.0 ? least : 0.0, ns->progress_ctx);
}

static void to_float(float *dst, const double *src, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (float)src[i];
}

static void to_double(double *dst, const float *src, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = src[i];
}

/* The network's times for rows first..first+B−1: t_rows[first + b] when given, else t for all. */
static void fill_times(float *dst, const double *t_rows, double t, size_t first, size_t B)
{
    for (size_t b = 0; b < B; b++)
        dst[b] = (float)(t_rows ? t_rows[first + b] : t);
}

/* Non-finite scores are passed on (the samplers report time and sample); any other failure is
 * kept with its reason and ends the call with −1. */
static int network_status(netscore *ns, int status, const char *what, double t)
{
    if (status == SCORESDE_OK || status == SCORESDE_ENONFINITE)
        return 0;
    scoresde_error_set(&ns->err, status, t, -1, "network %s failed: %s", what, scoresde_strerror(status));
    return -1;
}

/* score = s(x, t) in chunks of max_batch; times from t_rows (a time per row) or t. */
static int score_batched(netscore *ns, const double *t_rows, double t, size_t n, size_t d, const double *x,
                         double *out)
{
    report_progress(ns, t_rows, t, n);
    for (size_t first = 0; first < n; first += ns->max_batch) {
        size_t B = n - first < ns->max_batch ? n - first : ns->max_batch;
        fill_times(ns->t, t_rows, t, first, B);
        to_float(ns->x, x + first * d, B * d);
        if (network_status(ns, snet_model_score(ns->net, ns->ws, B, ns->t, ns->x, ns->out), "score", t))
            return -1;
        to_double(out + first * d, ns->out, B * d);
    }
    return 0;
}

/* score (may be NULL) and vjp = vᵀ ∂s/∂x from one forward and one backward pass, in chunks of
 * max_batch: the Skilling–Hutchinson step's whole cost. */
static int vjp_batched(netscore *ns, const double *t_rows, double t, size_t n, size_t d, const double *x,
                       const double *v, double *score, double *vjp)
{
    report_progress(ns, t_rows, t, n);
    for (size_t first = 0; first < n; first += ns->max_batch) {
        size_t B = n - first < ns->max_batch ? n - first : ns->max_batch;
        fill_times(ns->t, t_rows, t, first, B);
        to_float(ns->x, x + first * d, B * d);
        to_float(ns->v, v + first * d, B * d);
        int status = snet_model_score_and_vjp(ns->net, ns->ws, B, ns->t, ns->x, ns->v,
                                              score ? ns->score : NULL, ns->out);
        if (network_status(ns, status, "vector-Jacobian product", t))
            return -1;
        to_double(vjp + first * d, ns->out, B * d);
        if (score)
            to_double(score + first * d, ns->score, B * d);
    }
    return 0;
}

static int net_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    return score_batched(params, NULL, t, n, d, x, out);
}

static int net_score_vjp(double t, size_t n, size_t d, const double *x, const double *v, double *out,
                         void *params)
{
    return vjp_batched(params, NULL, t, n, d, x, v, NULL, out);
}

/* The per-row forms (sgm_score.h): the network takes a time per row anyway. */
static int net_score_rows(const double *t, size_t n, size_t d, const double *x, double *out, void *params)
{
    return score_batched(params, t, 0.0, n, d, x, out);
}

static int net_score_vjp_rows(const double *t, size_t n, size_t d, const double *x, const double *v,
                              double *score, double *vjp, void *params)
{
    return vjp_batched(params, t, 0.0, n, d, x, v, score, vjp);
}

static int net_divergence(double t, size_t n, size_t d, const double *x, double *div, void *params)
{
    netscore *ns = params;
    for (size_t first = 0; first < n; first += ns->max_batch) {
        size_t B = n - first < ns->max_batch ? n - first : ns->max_batch;
        fill_times(ns->t, NULL, t, first, B);
        to_float(ns->x, x + first * d, B * d);
        int status = snet_model_score_divergence(ns->net, ns->ws, B, ns->t, ns->x, NULL, div + first);
        if (network_status(ns, status, "divergence", t))
            return -1;
    }
    return 0;
}

sgm_score_model netscore_model(netscore *ns)
{
    return (sgm_score_model){
        .score = net_score,
        .score_vjp = net_score_vjp,
        .divergence = ns->dim <= NETSCORE_EXACT_DIVERGENCE_MAX_DIM ? net_divergence : NULL,
        .dim = ns->dim,
        .params = ns,
        .score_rows = net_score_rows,
        .score_vjp_rows = net_score_vjp_rows,
    };
}

void netscore_process(const snet_config *cfg, sgm_process *process)
{
    sgm_process_init(process, cfg->sde);
    process->sigma_min = cfg->sigma_min;
    process->sigma_max = cfg->sigma_max;
    process->beta_min = cfg->beta_min;
    process->beta_max = cfg->beta_max;
    if (cfg->sde == SNET_SDE_VP && cfg->discrete_steps)
        process->N = cfg->discrete_steps;
}
