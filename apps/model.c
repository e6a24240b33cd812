#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snet_io.h"

/* The network behind the score callback: double batches in, float batches through the network in
 * chunks of the workspace's size, double out. */
typedef struct net_params {
    snet_model *net;
    snet_workspace *ws;
    size_t max_batch;
    float *t, *x, *v, *out, *score; /* (max_batch), (max_batch, D) ×4 */
    /* progress inside a batch (app_model_track_progress): bar NULL when off */
    progress *bar;
    double base, items, t_from, t_to;
} net_params;

/* Moves the bar to how far the least advanced of the call's rows has come from t_from to t_to. */
static void report_progress(const net_params *p, const double *t_rows, double t, size_t n)
{
    if (!p->bar || p->t_to == p->t_from)
        return;
    double least = 1.0;
    for (size_t i = 0; i < (t_rows ? n : 1); i++) {
        double f = ((t_rows ? t_rows[i] : t) - p->t_from) / (p->t_to - p->t_from);
        if (f < least)
            least = f;
    }
    progress_update_partial(p->bar, p->base + p->items * (least > 0.0 ? least : 0.0));
}

static void to_float(float *dst, const double *src, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (float)src[i];
}

/* The network's times for rows first..first+B−1: t_rows[first + b] when given, else t for all. */
static void fill_times(float *dst, const double *t_rows, double t, size_t first, size_t B)
{
    for (size_t b = 0; b < B; b++)
        dst[b] = (float)(t_rows ? t_rows[first + b] : t);
}

/* score = s(x, t) in batches of max_batch, times from t_rows (a time per row) or t. */
static int net_score_batched(net_params *p, const double *t_rows, double t, size_t n, size_t d,
                             const double *x, double *out)
{
    report_progress(p, t_rows, t, n);
    for (size_t first = 0; first < n; first += p->max_batch) {
        size_t B = n - first < p->max_batch ? n - first : p->max_batch;
        fill_times(p->t, t_rows, t, first, B);
        to_float(p->x, x + first * d, B * d);
        int rc = snet_model_score(p->net, p->ws, B, p->t, p->x, p->out);
        if (rc != SNET_OK && rc != SNET_ENONFINITE)
            return -1;
        /* Non-finite scores are passed on: the samplers check and report time and sample. */
        for (size_t i = 0; i < B * d; i++)
            out[first * d + i] = p->out[i];
    }
    return 0;
}

static int net_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    return net_score_batched(params, NULL, t, n, d, x, out);
}

/* score (may be NULL) and vjp = vᵀ ∂s/∂x from one forward pass, in batches of max_batch, times
 * from t_rows (a time per row) or t: the Skilling–Hutchinson step's whole cost. */
static int net_vjp_batched(net_params *p, const double *t_rows, double t, size_t n, size_t d,
                           const double *x, const double *v, double *score, double *vjp)
{
    report_progress(p, t_rows, t, n);
    for (size_t first = 0; first < n; first += p->max_batch) {
        size_t B = n - first < p->max_batch ? n - first : p->max_batch;
        fill_times(p->t, t_rows, t, first, B);
        to_float(p->x, x + first * d, B * d);
        to_float(p->v, v + first * d, B * d);
        int rc = snet_model_score_and_vjp(p->net, p->ws, B, p->t, p->x, p->v, score ? p->score : NULL,
                                          p->out);
        if (rc != SNET_OK && rc != SNET_ENONFINITE)
            return -1;
        for (size_t i = 0; i < B * d; i++)
            vjp[first * d + i] = p->out[i];
        if (score)
            for (size_t i = 0; i < B * d; i++)
                score[first * d + i] = p->score[i];
    }
    return 0;
}

static int net_score_vjp(double t, size_t n, size_t d, const double *x, const double *v, double *out,
                         void *params)
{
    return net_vjp_batched(params, NULL, t, n, d, x, v, NULL, out);
}

/* The per-row forms (sgm_score.h): the network takes a time per row anyway. */
static int net_score_rows(const double *t, size_t n, size_t d, const double *x, double *out, void *params)
{
    return net_score_batched(params, t, 0.0, n, d, x, out);
}

static int net_score_vjp_rows(const double *t, size_t n, size_t d, const double *x, const double *v,
                              double *score, double *vjp, void *params)
{
    return net_vjp_batched(params, t, 0.0, n, d, x, v, score, vjp);
}

/* Exact divergence for small D (the 2-D toy models): D backward passes per batch. */
#define NET_EXACT_DIVERGENCE_MAX_DIM 16
static int net_divergence(double t, size_t n, size_t d, const double *x, double *div, void *params)
{
    net_params *p = params;
    for (size_t first = 0; first < n; first += p->max_batch) {
        size_t B = n - first < p->max_batch ? n - first : p->max_batch;
        for (size_t b = 0; b < B; b++)
            p->t[b] = (float)t;
        to_float(p->x, x + first * d, B * d);
        int rc = snet_model_score_divergence(p->net, p->ws, B, p->t, p->x, NULL, div + first);
        if (rc != SNET_OK && rc != SNET_ENONFINITE)
            return -1;
    }
    return 0;
}

static int load_network(const char *path, const process_options *po, size_t max_batch, app_model *m,
                        char *msg, size_t msg_size)
{
    if (snet_model_load(path, SNET_LOAD_EMA, &m->net, NULL, msg, msg_size) != SNET_OK)
        return -1;
    const snet_config *cfg = &m->net->cfg;
    sgm_process_kind kind = cfg->sde == SNET_SDE_VE   ? SGM_PROCESS_VE
                            : cfg->sde == SNET_SDE_VP ? SGM_PROCESS_VP
                                                      : SGM_PROCESS_SUBVP;
    sgm_process_kind asked;
    if (po->sde && (sgm_process_kind_parse(po->sde, &asked) != SLV_OK || asked != kind)) {
        snprintf(msg, msg_size, "%s: --sde %s, but the model was trained for %s", path, po->sde,
                 sgm_process_kind_name(kind));
        return -1;
    }
    if (po->set_sigma_min || po->set_sigma_max || po->set_beta_min || po->set_beta_max) {
        snprintf(msg, msg_size, "%s: the noise schedule is part of a trained model; "
                                "drop --sigma-min/--sigma-max/--beta-min/--beta-max", path);
        return -1;
    }
    sgm_process_init(&m->process, kind);
    m->process.sigma_min = cfg->sigma_min;
    m->process.sigma_max = cfg->sigma_max;
    m->process.beta_min = cfg->beta_min;
    m->process.beta_max = cfg->beta_max;
    if (po->set_N)
        m->process.N = po->N;
    else if (cfg->sde == SNET_SDE_VP && cfg->discrete_steps)
        m->process.N = cfg->discrete_steps; /* DDPM: the ancestral predictor walks its own β_i */

    m->dim = snet_config_dim(cfg);
    m->channels = cfg->channels;
    m->height = cfg->height;
    m->width = cfg->width;
    m->is_image = cfg->height > 1 || cfg->width > 1;
    m->quantized = cfg->quantized != 0;
    /* model space x = scale·(k + u) + shift, k in 0..255, u ~ U[0,1): 256 levels over a range of
     * width 256·scale starting at shift */
    m->data_lo = cfg->data_shift;
    m->data_width = 256.0 * cfg->data_scale;

    net_params *p = calloc(1, sizeof *p);
    m->net_params = p;
    if (!p)
        goto nomem;
    p->net = m->net;
    p->max_batch = max_batch ? max_batch : 256;
    p->ws = snet_workspace_alloc(m->net, p->max_batch);
    p->t = malloc(p->max_batch * sizeof *p->t);
    p->x = malloc(p->max_batch * m->dim * sizeof *p->x);
    p->v = malloc(p->max_batch * m->dim * sizeof *p->v);
    p->out = malloc(p->max_batch * m->dim * sizeof *p->out);
    p->score = malloc(p->max_batch * m->dim * sizeof *p->score);
    if (!p->ws || !p->t || !p->x || !p->v || !p->out || !p->score)
        goto nomem;
    m->score = (sgm_score_model){.score = net_score, .score_vjp = net_score_vjp,
                                 .divergence = m->dim <= NET_EXACT_DIVERGENCE_MAX_DIM ? net_divergence : NULL,
                                 .dim = m->dim, .params = p, .score_rows = net_score_rows,
                                 .score_vjp_rows = net_score_vjp_rows};
    return 0;
nomem:
    snprintf(msg, msg_size, "%s: out of memory for a batch of %zu", path, max_batch);
    return -1;
}

int app_model_load(const char *spec, const process_options *po, size_t max_batch, app_model *m,
                   char *msg, size_t msg_size)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", spec);
    if (strncmp(spec, "gmm:", 4) != 0) {
        if (load_network(spec, po, max_batch, m, msg, msg_size)) {
            app_model_free(m);
            return -1;
        }
        return 0;
    }
    slv_error err;
    slv_error_clear(&err);
    sgm_process_kind kind = SGM_PROCESS_VP;
    if (po->sde && sgm_process_kind_parse(po->sde, &kind) != SLV_OK) {
        snprintf(msg, msg_size, "--sde: unknown process '%s' (expected ve, vp or subvp)", po->sde);
        return -1;
    }
    sgm_process_init(&m->process, kind);
    if (po->set_sigma_min) m->process.sigma_min = po->sigma_min;
    if (po->set_sigma_max) m->process.sigma_max = po->sigma_max;
    if (po->set_beta_min) m->process.beta_min = po->beta_min;
    if (po->set_beta_max) m->process.beta_max = po->beta_max;
    if (po->set_N) m->process.N = po->N;
    if (sgm_process_validate(&m->process, &err) != SLV_OK) {
        snprintf(msg, msg_size, "%s", err.message);
        return -1;
    }
    if (sgm_gmm_load(spec + 4, &m->gmm, &err) != SLV_OK) {
        snprintf(msg, msg_size, "%s", err.message);
        return -1;
    }
    sgm_gmm_model_init(&m->gmm_model, m->gmm, &m->process);
    m->score = m->gmm_model.model;
    m->dim = m->gmm->dim;
    m->channels = (unsigned)m->dim;
    m->height = m->width = 1;
    m->data_lo = -1.0;
    m->data_width = 2.0;
    return 0;
}

void app_model_free(app_model *m)
{
    if (m->net_params) {
        net_params *p = m->net_params;
        snet_workspace_free(p->ws);
        free(p->t);
        free(p->x);
        free(p->v);
        free(p->out);
        free(p->score);
        free(p);
    }
    snet_model_free(m->net);
    sgm_gmm_free(m->gmm);
    memset(m, 0, sizeof *m);
}

unsigned char app_model_pixel(const app_model *m, double value)
{
    double u = (value - m->data_lo) / m->data_width;
    double v = floor(u * 255.0 + 0.5);
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void app_model_track_progress(app_model *m, progress *bar, size_t base, size_t n, double t_from, double t_to)
{
    net_params *p = m->net_params;
    if (!p)
        return;
    p->bar = bar;
    p->base = (double)base;
    p->items = (double)n;
    p->t_from = t_from;
    p->t_to = t_to;
}
