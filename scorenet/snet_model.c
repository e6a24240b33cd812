/* snet_model.c — config defaults and schedule arithmetic (snet.h), the model and its score
 * (snet_model.h). */
#include "snet_model.h"
#include "snet_gemm.h"
#include "snet_layers.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- snet.h: names, defaults, schedules -------------------------------------------------------- */

const char *snet_strerror(int status)
{
    return scoresde_strerror(status);
}

const snet_arch_ops *snet_arch_get(snet_arch_kind kind)
{
    switch (kind) {
    case SNET_ARCH_MLP: return &snet_arch_mlp;
    case SNET_ARCH_UNET: return &snet_arch_unet;
    default: return NULL;
    }
}

int snet_arch_parse(const char *name, snet_arch_kind *kind)
{
    static const snet_arch_kind kinds[] = {SNET_ARCH_MLP, SNET_ARCH_UNET};
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, snet_arch_get(kinds[i])->name) == 0) {
            *kind = kinds[i];
            return SNET_OK;
        }
    return SNET_EINVAL;
}

void snet_config_default(snet_config *cfg, snet_arch_kind arch, uint32_t channels, uint32_t height,
                         uint32_t width, snet_sde_kind sde)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->arch = arch;
    cfg->channels = channels;
    cfg->height = height;
    cfg->width = width;
    int image = height > 1 || width > 1;
    /* MLP trunk (also the U-Net's time-embedding width) */
    cfg->hidden = image ? 1024 : 256;
    cfg->n_blocks = 3;
    cfg->n_fourier = 64;
    cfg->fourier_scale = 16.0f;
    cfg->layer_norm = 1;
    /* U-Net */
    cfg->base_channels = 32;
    cfg->n_levels = 3;
    cfg->n_groups = 8;
    cfg->sde = sde;
    cfg->sigma_min = 0.01f;
    /* σ_max about the largest distance between data points (Song & Ermon 2020, technique 1):
     * 50 for images (official CIFAR-10), 10 for toy sets that live in [−5, 5]². */
    cfg->sigma_max = image ? 50.0f : 10.0f;
    cfg->beta_min = 0.1f;
    cfg->beta_max = 20.0f;
    if (image) {
        /* raw = k + u in [0, 256) (8-bit value plus dequantisation noise) → [−1, 1) */
        cfg->data_scale = 2.0f / 256.0f;
        cfg->data_shift = -1.0f;
        cfg->quantized = 1;
    } else {
        cfg->data_scale = 1.0f;
        cfg->data_shift = 0.0f;
        cfg->quantized = 0;
    }
}

size_t snet_config_dim(const snet_config *cfg)
{
    return (size_t)cfg->channels * cfg->height * cfg->width;
}

int snet_config_validate(const snet_config *cfg, scoresde_error *err)
{
    const snet_arch_ops *ops = snet_arch_get(cfg->arch);
    if (!ops)
        return scoresde_error_fail(err, SNET_EINVAL, "arch = %d: %s", (int)cfg->arch,
                                   cfg->arch == SNET_ARCH_UNET ? "the U-Net is not built into this library"
                                                                : "expected 1 (mlp) or 2 (unet)");
    if (!cfg->channels || !cfg->height || !cfg->width ||
        (uint64_t)cfg->channels * cfg->height * cfg->width > (1u << 24))
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "data shape %u×%u×%u: expected non-zero dimensions, at most 2^24 in all",
                                   cfg->channels, cfg->height, cfg->width);
    if (strcmp(scoresde_process_kind_name(cfg->sde), "unknown") == 0)
        return scoresde_error_fail(err, SNET_EINVAL, "sde = %d: expected one of %s (1, 2, 3)", (int)cfg->sde,
                                   scoresde_process_kind_list(", "));
    scoresde_schedule schedule = snet_config_schedule(cfg); /* its parameters */
    int status = scoresde_schedule_validate(&schedule, err);
    if (status)
        return status;
    if (!(cfg->data_scale != 0.0f && isfinite(cfg->data_scale) && isfinite(cfg->data_shift)))
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "data_scale = %g, data_shift = %g: expected finite, scale non-zero",
                                   (double)cfg->data_scale, (double)cfg->data_shift);
    if (cfg->quantized > 1)
        return scoresde_error_fail(err, SNET_EINVAL, "quantized = %u: expected 0 or 1", cfg->quantized);
    if (cfg->discrete_steps && (cfg->sde == SNET_SDE_SUBVP || cfg->discrete_steps < 2 ||
                                cfg->discrete_steps > SNET_MAX_DISCRETE_STEPS))
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "discrete_steps = %u with the %s SDE: expected 0 (continuous time), "
                                   "or 2..%u noise levels with ve (NCSN) or steps with vp (DDPM)",
                                   cfg->discrete_steps, scoresde_process_kind_name(cfg->sde), SNET_MAX_DISCRETE_STEPS);
    return ops->validate ? ops->validate(cfg, err) : SNET_OK;
}

scoresde_schedule snet_config_schedule(const snet_config *cfg)
{
    return (scoresde_schedule){.kind = cfg->sde,
                               .sigma_min = cfg->sigma_min,
                               .sigma_max = cfg->sigma_max,
                               .beta_min = cfg->beta_min,
                               .beta_max = cfg->beta_max};
}

double snet_marginal_std(const snet_config *cfg, double t)
{
    scoresde_schedule s = snet_config_schedule(cfg);
    return scoresde_schedule_std(&s, t);
}

double snet_marginal_mean(const snet_config *cfg, double t)
{
    scoresde_schedule s = snet_config_schedule(cfg);
    return scoresde_schedule_mean_coef(&s, t);
}

int snet_discrete_time(const snet_config *cfg, uint32_t i, double *t, double *mean, double *std)
{
    uint32_t K = cfg->discrete_steps;
    if (K < 2 || i >= K || (cfg->sde != SNET_SDE_VE && cfg->sde != SNET_SDE_VP))
        return SNET_EINVAL;
    if (cfg->sde == SNET_SDE_VE) {
        *t = (double)i / (double)(K - 1);
        *mean = 1.0;
        *std = snet_marginal_std(cfg, *t);
        return SNET_OK;
    }
    /* log ᾱ_i = Σ_{j≤i} log(1 − β_j), β_j = β_min/K + j (β_max − β_min)/(K (K−1)); summed in
     * double with log1p, K ≤ SNET_MAX_DISCRETE_STEPS terms */
    double log_alpha_bar = 0.0, span = ((double)cfg->beta_max - cfg->beta_min) / ((double)K * (K - 1));
    for (uint32_t j = 0; j <= i; j++)
        log_alpha_bar += log1p(-((double)cfg->beta_min / K + j * span));
    *t = (double)(i + 1) / (double)K;
    *mean = exp(0.5 * log_alpha_bar);
    *std = sqrt(-expm1(log_alpha_bar));
    return SNET_OK;
}

double snet_diffusion_sq(const snet_config *cfg, double t)
{
    scoresde_schedule s = snet_config_schedule(cfg);
    return scoresde_schedule_diffusion_sq(&s, t);
}

void snet_set_num_threads(int n)
{
    (void)snet_blas_single_begin(); // for good: every product is split by snet_sgemm
    if (n > 0)
        omp_set_num_threads(n);
}

/* ---- the model ---------------------------------------------------------------------------------- */

int snet_model_alloc(snet_model **out, const snet_config *cfg, scoresde_error *err)
{
    *out = NULL;
    int rc = snet_config_validate(cfg, err);
    if (rc)
        return rc;
    snet_model *m = calloc(1, sizeof *m);
    if (!m)
        goto fail;
    m->cfg = *cfg;
    m->arch = snet_arch_get(cfg->arch);
    m->n_params = m->arch->n_params(cfg);
    m->params = calloc(m->n_params ? m->n_params : 1, sizeof *m->params);
    if (!m->params)
        goto fail;
    if (m->arch->tensors) {
        m->n_tensors = m->arch->tensors(cfg, NULL, 0);
        m->tensors = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->tensors);
        if (!m->tensors)
            goto fail;
        m->arch->tensors(cfg, m->tensors, m->n_tensors);
    } else {
        m->n_tensors = 1;
        m->tensors = calloc(1, sizeof *m->tensors);
        if (!m->tensors)
            goto fail;
        snprintf(m->tensors[0].name, SNET_NAME_MAX, "params");
        m->tensors[0].ndim = 1;
        m->tensors[0].shape[0] = (uint32_t)m->n_params;
        m->tensors[0].shape[1] = m->tensors[0].shape[2] = m->tensors[0].shape[3] = 1;
        m->tensors[0].size = m->n_params;
        m->tensors[0].trainable = 1;
    }
    /* the table must tile the buffer: a broken architecture is caught here, not in a file */
    uint64_t next = 0;
    for (size_t k = 0; k < m->n_tensors; k++) {
        if (m->tensors[k].offset != next) {
            scoresde_error_fail(err, SNET_EINVAL,
                                "%s: tensor '%s' starts at %llu, expected %llu", m->arch->name,
                                m->tensors[k].name, (unsigned long long)m->tensors[k].offset,
                                (unsigned long long)next);
            snet_model_free(m);
            return SNET_EINVAL;
        }
        next += m->tensors[k].size;
    }
    if (next != m->n_params) {
        scoresde_error_fail(err, SNET_EINVAL, "%s: tensors cover %llu floats, n_params = %zu", m->arch->name,
                            (unsigned long long)next, m->n_params);
        snet_model_free(m);
        return SNET_EINVAL;
    }
    *out = m;
    return SNET_OK;
fail:
    snet_model_free(m);
    return scoresde_error_fail(err, SNET_ENOMEM, "out of memory allocating a model of %zu parameters",
                               cfg ? snet_arch_get(cfg->arch)->n_params(cfg) : (size_t)0);
}

void snet_model_init(snet_model *m, uint64_t seed)
{
    m->arch->init(&m->cfg, m->params, seed);
}

void snet_model_free(snet_model *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->tensors);
    free(m);
}

const snet_tensor *snet_model_find_tensor(const snet_model *m, const char *name)
{
    for (size_t k = 0; k < m->n_tensors; k++)
        if (strcmp(m->tensors[k].name, name) == 0)
            return &m->tensors[k];
    return NULL;
}

size_t snet_model_n_trainable(const snet_model *m)
{
    size_t n = 0;
    for (size_t k = 0; k < m->n_tensors; k++)
        if (m->tensors[k].trainable)
            n += m->tensors[k].size;
    return n;
}

double snet_model_output_scale(const snet_model *m, double t)
{
    scoresde_schedule s = snet_config_schedule(&m->cfg);
    return scoresde_schedule_output_sign(&s) / scoresde_schedule_std(&s, t);
}

double snet_model_forward_flops(const snet_model *m, size_t B)
{
    return m->arch->forward_flops ? m->arch->forward_flops(&m->cfg, B) : 0.0;
}

/* ---- workspaces and the score -------------------------------------------------------------------- */

struct snet_workspace {
    size_t max_batch, dim;
    float *acts;    // max(act_size, tangent_act_size)(max_batch)
    float *scratch; // max(scratch_size, tangent_scratch_size)(max_batch)
    float *dout;    // (max_batch, D)
    float *dx;      // (max_batch, D)
    float *raw;     // (max_batch, D)
    float *coef;    // (max_batch)
};

snet_workspace *snet_workspace_alloc(const snet_model *m, size_t max_batch)
{
    if (!max_batch)
        return NULL;
    snet_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->max_batch = max_batch;
    ws->dim = snet_config_dim(&m->cfg);
    size_t BD = max_batch * ws->dim;
    size_t act_floats = m->arch->act_size(&m->cfg, max_batch),
           scratch_floats = m->arch->scratch_size(&m->cfg, max_batch);
    if (m->arch->tangent_act_size && m->arch->tangent_scratch_size) {
        size_t tangent_acts = m->arch->tangent_act_size(&m->cfg, max_batch),
               tangent_scratch = m->arch->tangent_scratch_size(&m->cfg, max_batch);
        act_floats = tangent_acts > act_floats ? tangent_acts : act_floats;
        scratch_floats = tangent_scratch > scratch_floats ? tangent_scratch : scratch_floats;
    }
    ws->acts = malloc((act_floats + 1) * sizeof(float));
    ws->scratch = malloc((scratch_floats + 1) * sizeof(float));
    ws->dout = malloc(BD * sizeof(float));
    ws->dx = malloc(BD * sizeof(float));
    ws->raw = malloc(BD * sizeof(float));
    ws->coef = malloc(max_batch * sizeof(float));
    if (!ws->acts || !ws->scratch || !ws->dout || !ws->dx || !ws->raw || !ws->coef)
        goto fail;
    return ws;
fail:
    snet_workspace_free(ws);
    return NULL;
}

void snet_workspace_free(snet_workspace *ws)
{
    if (!ws)
        return;
    free(ws->acts);
    free(ws->scratch);
    free(ws->dout);
    free(ws->dx);
    free(ws->raw);
    free(ws->coef);
    free(ws);
}

/* Forward into ws->raw, coefficients c(t_b) into ws->coef; score = c·raw if asked. */
static int score_forward(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                         const float *x, float *score)
{
    if (B == 0 || B > ws->max_batch || ws->dim != snet_config_dim(&m->cfg))
        return SNET_EINVAL;
    size_t D = ws->dim;
    m->arch->forward(&m->cfg, m->params, B, x, t, ws->raw, ws->acts);
    int finite = 1;
    for (size_t b = 0; b < B; b++) {
        float c = (float)snet_model_output_scale(m, t[b]);
        ws->coef[b] = c;
        const float *r = ws->raw + b * D; // (D)
        if (score) {
            float *s = score + b * D; // (D)
            for (size_t d = 0; d < D; d++) {
                s[d] = c * r[d];
                finite &= isfinite(s[d]);
            }
        } else {
            for (size_t d = 0; d < D; d++)
                finite &= isfinite(r[d]);
        }
        finite &= isfinite(c);
    }
    return finite ? SNET_OK : SNET_ENONFINITE;
}

int snet_model_score(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                     const float *x, float *score)
{
    return score_forward(m, ws, B, t, x, score);
}

int snet_model_score_and_vjp(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                             const float *x, const float *v, float *score, float *vjp)
{
    int rc = score_forward(m, ws, B, t, x, score);
    if (rc == SNET_EINVAL)
        return rc;
    size_t D = ws->dim;
    // s = c·r ⇒ vᵀ ∂s/∂x = (c v)ᵀ ∂r/∂x
    for (size_t b = 0; b < B; b++)
        for (size_t d = 0; d < D; d++)
            ws->dout[b * D + d] = ws->coef[b] * v[b * D + d];
    m->arch->backward(&m->cfg, m->params, B, x, t, ws->acts, ws->dout, NULL, vjp, ws->scratch);
    for (size_t i = 0; rc == SNET_OK && i < B * D; i++)
        if (!isfinite(vjp[i]))
            rc = SNET_ENONFINITE;
    return rc;
}

int snet_model_score_vjp(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                         const float *x, const float *v, float *vjp)
{
    return snet_model_score_and_vjp(m, ws, B, t, x, v, NULL, vjp);
}

int snet_model_score_jvp(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                         const float *x, const float *v, float *score, float *jvp)
{
    if (!m->arch->tangent_forward || !m->arch->tangent_act_size)
        return SNET_EINVAL;
    if (B == 0 || B > ws->max_batch || ws->dim != snet_config_dim(&m->cfg))
        return SNET_EINVAL;
    size_t D = ws->dim;
    // s = c·r ⇒ (∂s/∂x)v = c·(∂r/∂x)v; the tangent goes straight into jvp and is scaled there
    m->arch->tangent_forward(&m->cfg, m->params, B, x, t, v, ws->raw, jvp, ws->acts);
    int finite = 1;
    for (size_t b = 0; b < B; b++) {
        float c = (float)snet_model_output_scale(m, t[b]);
        const float *r = ws->raw + b * D;          // (D)
        float *jv = jvp + b * D;                   // (D)
        float *s = score ? score + b * D : NULL;   // (D)
        for (size_t d = 0; d < D; d++) {
            float sd = c * r[d];
            if (s)
                s[d] = sd;
            jv[d] *= c;
            finite &= isfinite(sd) && isfinite(jv[d]);
        }
        finite &= isfinite(c);
    }
    return finite ? SNET_OK : SNET_ENONFINITE;
}

int snet_model_score_divergence(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                                const float *x, float *score, double *div)
{
    int rc = score_forward(m, ws, B, t, x, score);
    if (rc == SNET_EINVAL)
        return rc;
    size_t D = ws->dim;
    for (size_t b = 0; b < B; b++)
        div[b] = 0.0;
    for (size_t e = 0; e < D; e++) {
        // dout = c·e_e for every sample; the e-th input-gradient entry is ∂s_e/∂x_e
        snet_zero(ws->dout, B * D);
        for (size_t b = 0; b < B; b++)
            ws->dout[b * D + e] = ws->coef[b];
        m->arch->backward(&m->cfg, m->params, B, x, t, ws->acts, ws->dout, NULL, ws->dx, ws->scratch);
        for (size_t b = 0; b < B; b++)
            div[b] += ws->dx[b * D + e];
    }
    for (size_t b = 0; rc == SNET_OK && b < B; b++)
        if (!isfinite(div[b]))
            rc = SNET_ENONFINITE;
    return rc;
}
