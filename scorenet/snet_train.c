/* snet_train.c — score-matching objectives with Adam, EMA, checkpoints; see snet_train.h. */
#include "snet_train.h"
#include "snet_io.h"
#include "snet_layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#define OMP_MIN (1 << 20) /* as SNET_OMP_MIN in snet_layers.c */
#define STATE_MAGIC "SGT1"
#define STATE_VERSION 2u /* 2 adds the objective; version-1 checkpoints (DSM) are still read */
enum { DOMAIN_TRAIN = 0x7472 }; /* the training noise stream, apart from snet_data's domains */

void snet_train_options_default(snet_train_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->steps = 10000;
    opt->batch = 512;
    opt->lr = 2e-4;
    opt->warmup = 5000;
    opt->grad_clip = 1.0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->adam_eps = 1e-8;
    opt->ema_decay = 0.999;
    opt->t_eps = 1e-5;
    opt->weighting = SNET_WEIGHT_STD2;
    opt->objective = SNET_OBJECTIVE_DSM;
    opt->projections = 1;
    opt->projection = SNET_PROJECTION_RADEMACHER;
    opt->checkpoint_every = 1000;
    opt->log_every = 100;
}

struct snet_trainer {
    snet_model *model;           // borrowed
    snet_train_options opt;      // copy (its strings stay borrowed)
    size_t B, D, P;
    float *x0, *xt, *z, *r, *dout; // (B, D) each
    float *t;                      // (B)
    double *lambda_c, *inv_std;    // (B) λ(t)·c(t), 1/s(t)
    float *acts, *scratch;
    float *grad, *m, *v, *ema;     // (P) each; ema NULL without EMA
    uint64_t step;
    gsl_rng *rng;
    const snet_dataset *drawn_data; // the batch in x0/t/z/xt: (drawn_data, drawn_step); NULL: none
    uint64_t drawn_step;
    /* the sliced objectives: M rows per sample (M = D for esm), R = B·M rows in all */
    size_t M;
    float *x_rows, *t_rows, *dir;   // (R, D), (R), (R, D): x_t, t and a direction per row
    float *s_rows, *jv_rows;        // (R, D) each: r then s; tangent then J·v; then their gradients
    double *w_rows;                 // (R)
};

static const char *const objective_names[] = {"dsm", "ssm", "ssm-vr", "esm"};
static const char *const projection_names[] = {"rademacher", "gaussian"};

const char *snet_objective_name(snet_objective o)
{
    return (unsigned)o < 4 ? objective_names[o] : "unknown";
}

int snet_objective_parse(const char *name, snet_objective *out)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, objective_names[i]) == 0) {
            *out = (snet_objective)i;
            return SNET_OK;
        }
    return SNET_EINVAL;
}

int snet_projection_parse(const char *name, snet_projection *out)
{
    for (int i = 0; name && i < 2; i++)
        if (strcmp(name, projection_names[i]) == 0) {
            *out = (snet_projection)i;
            return SNET_OK;
        }
    return SNET_EINVAL;
}

double snet_sliced_sm_rows(snet_objective objective, size_t n, size_t D, const float *s,
                           const float *jv, const float *v, const double *w, float *ds,
                           float *djv)
{
    if (objective == SNET_OBJECTIVE_DSM)
        return NAN;
    int sliced_norm = objective == SNET_OBJECTIVE_SSM; // (vᵀs)² in place of ‖s‖²
    double total = 0.0;
    for (size_t j = 0; j < n; j++) {
        const float *sj = s + j * D, *jvj = jv + j * D, *vj = v + j * D;
        double v_jv = 0.0, v_s = 0.0, s_s = 0.0;
        for (size_t d = 0; d < D; d++) {
            v_jv += (double)vj[d] * jvj[d];
            v_s += (double)vj[d] * sj[d];
            s_s += (double)sj[d] * sj[d];
        }
        total += w[j] * (2.0 * v_jv + (sliced_norm ? v_s * v_s : s_s));
        for (size_t d = 0; d < D; d++) {
            if (ds)
                ds[j * D + d] = (float)(w[j] * 2.0 * (sliced_norm ? v_s * vj[d] : sj[d]));
            if (djv)
                djv[j * D + d] = (float)(w[j] * 2.0 * vj[d]);
        }
    }
    return total;
}

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void snet_trainer_free(snet_trainer *tr)
{
    if (!tr)
        return;
    free(tr->x0);
    free(tr->xt);
    free(tr->z);
    free(tr->r);
    free(tr->dout);
    free(tr->t);
    free(tr->lambda_c);
    free(tr->inv_std);
    free(tr->acts);
    free(tr->scratch);
    free(tr->grad);
    free(tr->m);
    free(tr->v);
    free(tr->ema);
    free(tr->x_rows);
    free(tr->t_rows);
    free(tr->dir);
    free(tr->s_rows);
    free(tr->jv_rows);
    free(tr->w_rows);
    if (tr->rng)
        gsl_rng_free(tr->rng);
    free(tr);
}

int snet_trainer_alloc(snet_trainer **out, snet_model *model, const snet_train_options *opt,
                       scoresde_error *err)
{
    *out = NULL;
    if (opt->batch < 1 || opt->batch > (1u << 20))
        return scoresde_error_fail(err, SNET_EINVAL, "batch = %zu, expected 1..1048576", opt->batch);
    if (!(opt->lr > 0.0) || !(opt->beta1 >= 0.0 && opt->beta1 < 1.0) || !(opt->beta2 >= 0.0 && opt->beta2 < 1.0) ||
        !(opt->adam_eps > 0.0))
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "Adam: lr = %g, beta1 = %g, beta2 = %g, eps = %g: expected lr > 0, "
                                   "0 ≤ betas < 1, eps > 0", opt->lr, opt->beta1, opt->beta2, opt->adam_eps);
    if (!(opt->ema_decay >= 0.0 && opt->ema_decay < 1.0))
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "ema_decay = %g, expected 0 (off) or in (0, 1)", opt->ema_decay);
    if (!(opt->t_eps > 0.0 && opt->t_eps < 1.0))
        return scoresde_error_fail(err, SNET_EINVAL, "t_eps = %g, expected in (0, 1)", opt->t_eps);
    if (opt->weighting != SNET_WEIGHT_STD2 && opt->weighting != SNET_WEIGHT_LIKELIHOOD)
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "weighting = %d, expected 0 (s(t)²) or 1 (g(t)², likelihood)", (int)opt->weighting);
    if ((unsigned)opt->objective > SNET_OBJECTIVE_ESM ||
        (unsigned)opt->projection > SNET_PROJECTION_GAUSSIAN)
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "objective = %d, projection = %d: expected 0..3 (dsm, ssm, ssm-vr, "
                                   "esm) and 0..1 (rademacher, gaussian)", (int)opt->objective, (int)opt->projection);
    size_t D = snet_config_dim(&model->cfg), M = 0;
    if (opt->objective != SNET_OBJECTIVE_DSM) {
        const char *obj = snet_objective_name(opt->objective);
        if (!model->arch->tangent_forward || !model->arch->tangent_backward)
            return scoresde_error_fail(err, SNET_EINVAL,
                                       "objective %s needs vᵀ(∂s/∂x)v, a tangent pass the %s "
                                       "architecture does not have (use the mlp, or dsm)", obj, model->arch->name);
        if (opt->objective == SNET_OBJECTIVE_ESM && D > SNET_ESM_MAX_DIM)
            return scoresde_error_fail(err, SNET_EINVAL,
                                       "objective esm takes the full trace, D = %zu tangent passes per "
                                       "sample; it is refused above D = %u (use ssm or ssm-vr with --projections)",
                                       D, SNET_ESM_MAX_DIM);
        if (opt->objective != SNET_OBJECTIVE_ESM && (opt->projections < 1 || opt->projections > 1024))
            return scoresde_error_fail(err, SNET_EINVAL,
                                       "projections = %zu, expected 1..1024 directions per sample",
                                       opt->projections);
        M = opt->objective == SNET_OBJECTIVE_ESM ? D : opt->projections;
        if (opt->batch * M > (1u << 20))
            return scoresde_error_fail(err, SNET_EINVAL,
                                       "objective %s: batch %zu × %zu directions = %zu rows per step, "
                                       "expected at most 1048576", obj, opt->batch, M, opt->batch * M);
    }
    snet_trainer *tr = calloc(1, sizeof *tr);
    if (!tr)
        goto oom;
    tr->M = M;
    tr->model = model;
    tr->opt = *opt;
    tr->B = opt->batch;
    tr->D = snet_config_dim(&model->cfg);
    tr->P = model->n_params;
    size_t BD = tr->B * tr->D;
    tr->x0 = malloc(BD * sizeof(float));
    tr->xt = malloc(BD * sizeof(float));
    tr->z = malloc(BD * sizeof(float));
    tr->r = malloc(BD * sizeof(float));
    tr->dout = malloc(BD * sizeof(float));
    tr->t = malloc(tr->B * sizeof(float));
    tr->lambda_c = malloc(tr->B * sizeof(double));
    tr->inv_std = malloc(tr->B * sizeof(double));
    size_t act_floats = model->arch->act_size(&model->cfg, tr->B),
           scratch_floats = model->arch->scratch_size(&model->cfg, tr->B);
    if (M) {
        size_t R = tr->B * M;
        act_floats = model->arch->tangent_act_size(&model->cfg, R);
        scratch_floats = model->arch->tangent_scratch_size(&model->cfg, R);
        tr->x_rows = malloc(R * D * sizeof(float));
        tr->t_rows = malloc(R * sizeof(float));
        tr->dir = malloc(R * D * sizeof(float));
        tr->s_rows = malloc(R * D * sizeof(float));
        tr->jv_rows = malloc(R * D * sizeof(float));
        tr->w_rows = malloc(R * sizeof(double));
        if (!tr->x_rows || !tr->t_rows || !tr->dir || !tr->s_rows || !tr->jv_rows || !tr->w_rows)
            goto oom;
    }
    tr->acts = malloc((act_floats + 1) * sizeof(float));
    tr->scratch = malloc((scratch_floats + 1) * sizeof(float));
    tr->grad = calloc(tr->P, sizeof(float));
    tr->m = calloc(tr->P, sizeof(float));
    tr->v = calloc(tr->P, sizeof(float));
    tr->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!tr->x0 || !tr->xt || !tr->z || !tr->r || !tr->dout || !tr->t || !tr->lambda_c ||
        !tr->inv_std || !tr->acts || !tr->scratch || !tr->grad || !tr->m || !tr->v || !tr->rng)
        goto oom;
    if (opt->ema_decay > 0.0) {
        tr->ema = malloc(tr->P * sizeof(float));
        if (!tr->ema)
            goto oom;
        memcpy(tr->ema, model->params, tr->P * sizeof(float));
    }
    *out = tr;
    return SNET_OK;
oom:
    snet_trainer_free(tr);
    return scoresde_error_fail(err, SNET_ENOMEM,
                               "out of memory for a trainer of batch %zu and %zu parameters", opt->batch,
                               model->n_params);
}

uint64_t snet_trainer_steps_done(const snet_trainer *tr) { return tr->step; }
const float *snet_trainer_ema(const snet_trainer *tr) { return tr->ema; }
const snet_model *snet_trainer_model(const snet_trainer *tr) { return tr->model; }
const float *snet_trainer_times(const snet_trainer *tr) { return tr->t; }

/* Draws batch `step` of data and perturbs it: x0, t, z, xt, λ·c and 1/s for all B rows, then for
 * the sliced objectives the rows' directions. The draws depend on (seed, step) only, so the shards
 * of one step share them: a second call for the same (data, step) keeps them. apply_grad,
 * eval_loss and load forget them (drawn_data = NULL). */
static int dsm_draw(snet_trainer *tr, snet_dataset *data, uint64_t step)
{
    if (tr->drawn_data == data && tr->drawn_step == step)
        return SNET_OK;
    const snet_config *cfg = &tr->model->cfg;
    const scoresde_schedule schedule = snet_config_schedule(cfg);
    const double sign = scoresde_schedule_output_sign(&schedule); /* score = sign · r / s(t) */
    const snet_train_options *o = &tr->opt;
    size_t B = tr->B, D = tr->D;
    tr->drawn_data = NULL;
    int status = snet_dataset_batch(data, o->seed, step, B, tr->x0);
    if (status)
        return status;
    gsl_rng_set(tr->rng, (unsigned long)splitmix64(splitmix64(o->seed ^ DOMAIN_TRAIN) ^ step));
    for (size_t b = 0; b < B; b++) {
        double t, mean, std;
        if (cfg->discrete_steps) {
            uint32_t level = (uint32_t)gsl_rng_uniform_int(tr->rng, cfg->discrete_steps);
            snet_discrete_time(cfg, level, &t, &mean, &std);
            tr->t[b] = (float)t;
        } else {
            t = o->t_eps + (1.0 - o->t_eps) * gsl_rng_uniform(tr->rng);
            tr->t[b] = (float)t;
            t = tr->t[b]; // the network sees the float time: schedule it with the same value
            mean = snet_marginal_mean(cfg, t);
            std = snet_marginal_std(cfg, t);
        }
        double lambda = o->weighting == SNET_WEIGHT_STD2 ? std * std : snet_diffusion_sq(cfg, t);
        double c = sign / std;
        tr->lambda_c[b] = lambda * c;
        tr->inv_std[b] = 1.0 / std;
        for (size_t d = 0; d < D; d++) {
            float z = (float)gsl_ran_gaussian_ziggurat(tr->rng, 1.0);
            tr->z[b * D + d] = z;
            tr->xt[b * D + d] = (float)(mean * tr->x0[b * D + d] + std * z);
        }
    }
    size_t M = tr->M;
    for (size_t j = 0; j < B * M; j++) {
        size_t b = j / M;
        memcpy(tr->x_rows + j * D, tr->xt + b * D, D * sizeof(float));
        tr->t_rows[j] = tr->t[b];
        float *v = tr->dir + j * D;
        if (o->objective == SNET_OBJECTIVE_ESM) {
            // the D directions √D e_d: their ssm-vr average is exactly 2 tr J + ‖s‖²
            snet_zero(v, D);
            v[j % M] = sqrtf((float)D);
        } else if (o->projection == SNET_PROJECTION_GAUSSIAN) {
            for (size_t d = 0; d < D; d++)
                v[d] = (float)gsl_ran_gaussian_ziggurat(tr->rng, 1.0);
        } else {
            for (size_t d = 0; d < D; d++)
                v[d] = gsl_rng_uniform(tr->rng) < 0.5 ? -1.0f : 1.0f;
        }
    }
    tr->drawn_data = data;
    tr->drawn_step = step;
    return SNET_OK;
}

/* c(t_b) of row b of the drawn batch: s_θ = c·r (snet_model.h). */
static double output_scale(const snet_trainer *tr, size_t b)
{
    scoresde_schedule s = snet_config_schedule(&tr->model->cfg);
    return scoresde_schedule_output_sign(&s) * tr->inv_std[b];
}

/* The forward pass on rows [first, first + n) of the drawn batch: returns their part of the loss
 * (normalised by the whole batch, B·D) and leaves dL/dr of those rows in tr->dout. */
static double dsm_forward_rows(snet_trainer *tr, size_t first, size_t n)
{
    const snet_config *cfg = &tr->model->cfg;
    size_t B = tr->B, D = tr->D;
    tr->model->arch->forward(cfg, tr->model->params, n, tr->xt + first * D, tr->t + first,
                             tr->r + first * D, tr->acts);
    // loss = 1/(BD) Σ λ (c r + z/s)²; dL/dr = 2 λ c (c r + z/s) / (BD)
    double total = 0.0, inv_n = 1.0 / (double)(B * D);
    for (size_t b = first; b < first + n; b++) {
        double c = output_scale(tr, b);
        double lambda = tr->lambda_c[b] / c, row = 0.0;
        for (size_t d = 0; d < D; d++) {
            double e = c * tr->r[b * D + d] + tr->z[b * D + d] * tr->inv_std[b];
            row += e * e;
            tr->dout[b * D + d] = (float)(2.0 * tr->lambda_c[b] * e * inv_n);
        }
        total += lambda * row;
    }
    return total * inv_n;
}

/* The sliced objectives' forward and tangent pass on the rows of samples [first, first + n):
 * returns their part of the loss (normalised by B·D) and leaves dL/dr in s_rows and dL/d(tangent
 * of r) in jv_rows. With s = c r and J v = c (∂r/∂x) v, the row weight is λ/(B·D·M). */
static double sliced_forward_rows(snet_trainer *tr, size_t first, size_t n)
{
    const snet_model *mdl = tr->model;
    size_t M = tr->M, D = tr->D, j0 = first * M, R = n * M;
    float *s = tr->s_rows + j0 * D, *jv = tr->jv_rows + j0 * D;
    mdl->arch->tangent_forward(&mdl->cfg, mdl->params, R, tr->x_rows + j0 * D, tr->t_rows + j0,
                               tr->dir + j0 * D, s, jv, tr->acts);
    double inv_n = 1.0 / ((double)tr->B * (double)D * (double)M);
    for (size_t j = j0; j < j0 + R; j++) {
        size_t b = j / M;
        double c = output_scale(tr, b);
        tr->w_rows[j] = tr->lambda_c[b] / c * inv_n;
        for (size_t d = 0; d < D; d++) {
            tr->s_rows[j * D + d] = (float)(c * tr->s_rows[j * D + d]);
            tr->jv_rows[j * D + d] = (float)(c * tr->jv_rows[j * D + d]);
        }
    }
    // gradients overwrite the scores and tangents they came from, then scale back to r's space
    double loss = snet_sliced_sm_rows(tr->opt.objective, R, D, s, jv, tr->dir + j0 * D,
                                      tr->w_rows + j0, s, jv);
    for (size_t j = j0; j < j0 + R; j++) {
        float c = (float)output_scale(tr, j / M);
        for (size_t d = 0; d < D; d++) {
            tr->s_rows[j * D + d] *= c;
            tr->jv_rows[j * D + d] *= c;
        }
    }
    return loss;
}

static double forward_rows(snet_trainer *tr, size_t first, size_t n)
{
    return tr->M ? sliced_forward_rows(tr, first, n) : dsm_forward_rows(tr, first, n);
}

double snet_trainer_eval_loss(snet_trainer *tr, snet_dataset *data, uint64_t step)
{
    tr->drawn_data = NULL;
    double loss = dsm_draw(tr, data, step) ? NAN : forward_rows(tr, 0, tr->B);
    tr->drawn_data = NULL;
    return loss;
}

size_t snet_trainer_n_params(const snet_trainer *tr) { return tr->P; }

int snet_trainer_shard_grad(snet_trainer *tr, snet_dataset *data, size_t first, size_t count,
                            float *grad, double *loss)
{
    if (count < 1 || first > tr->B || count > tr->B - first) {
        *loss = NAN;
        return SNET_EINVAL;
    }
    int status = dsm_draw(tr, data, tr->step);
    if (status) {
        *loss = NAN;
        return status;
    }
    const snet_model *mdl = tr->model;
    *loss = forward_rows(tr, first, count);
    snet_zero(grad, tr->P);
    if (tr->M) {
        size_t j0 = first * tr->M, R = count * tr->M, D = tr->D;
        mdl->arch->tangent_backward(&mdl->cfg, mdl->params, R, tr->x_rows + j0 * D, tr->t_rows + j0,
                                    tr->dir + j0 * D, tr->acts, tr->s_rows + j0 * D,
                                    tr->jv_rows + j0 * D, grad, tr->scratch);
        return SNET_OK;
    }
    mdl->arch->backward(&mdl->cfg, mdl->params, count, tr->xt + first * tr->D, tr->t + first, tr->acts,
                        tr->dout + first * tr->D, grad, NULL, tr->scratch);
    return SNET_OK;
}

int snet_trainer_apply_grad(snet_trainer *tr, const float *grad, double loss,
                            snet_train_progress *progress)
{
    const snet_model *mdl = tr->model;
    const snet_train_options *o = &tr->opt;
    tr->drawn_data = NULL; // the next step draws a new batch
    // global norm over the trainable tensors, summed in a fixed order
    double norm2 = 0.0;
    for (size_t k = 0; k < mdl->n_tensors; k++) {
        const snet_tensor *e = &mdl->tensors[k];
        if (!e->trainable)
            continue;
        const float *g = grad + e->offset;
        for (size_t i = 0; i < e->size; i++)
            norm2 += (double)g[i] * g[i];
    }
    double norm = sqrt(norm2);
    memset(progress, 0, sizeof *progress);
    progress->step = tr->step + 1;
    progress->steps = o->steps;
    progress->loss = progress->loss_avg = loss;
    progress->grad_norm = norm;
    if (!isfinite(loss) || !isfinite(norm))
        return SNET_ENONFINITE;
    double scale = o->grad_clip > 0.0 && norm > o->grad_clip ? o->grad_clip / (norm + 1e-6) : 1.0;
    uint64_t n = tr->step + 1;
    double lr = o->warmup ? o->lr * fmin(1.0, (double)n / (double)o->warmup) : o->lr;
    progress->lr = lr;
    // Adam with bias correction folded into the step size and epsilon (as torch.optim.Adam)
    double bc1 = 1.0 - pow(o->beta1, (double)n), bc2 = 1.0 - pow(o->beta2, (double)n);
    float step_size = (float)(lr / bc1), eps = (float)o->adam_eps, b1 = (float)o->beta1,
          b2 = (float)o->beta2, fscale = (float)scale, sqrt_bc2 = (float)sqrt(bc2);
    double decay = fmin(o->ema_decay, (1.0 + (double)n) / (10.0 + (double)n));
    float one_minus_decay = (float)(1.0 - decay);
    for (size_t k = 0; k < mdl->n_tensors; k++) {
        const snet_tensor *e = &mdl->tensors[k];
        if (!e->trainable)
            continue;
        float *p = mdl->params + e->offset, *m = tr->m + e->offset, *v = tr->v + e->offset;
        const float *g = grad + e->offset;
        float *ema = tr->ema ? tr->ema + e->offset : NULL;
        size_t size = e->size;
#pragma omp parallel for schedule(static) if (size >= OMP_MIN)
        for (size_t i = 0; i < size; i++) {
            float gi = g[i] * fscale;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            p[i] -= step_size * m[i] / (sqrtf(v[i]) / sqrt_bc2 + eps);
            if (ema)
                ema[i] += one_minus_decay * (p[i] - ema[i]);
        }
    }
    tr->step++;
    return SNET_OK;
}

int snet_trainer_step(snet_trainer *tr, snet_dataset *data, snet_train_progress *progress)
{
    double loss;
    int status = snet_trainer_shard_grad(tr, data, 0, tr->B, tr->grad, &loss);
    if (status) {
        memset(progress, 0, sizeof *progress);
        progress->step = tr->step + 1;
        progress->steps = tr->opt.steps;
        return status;
    }
    return snet_trainer_apply_grad(tr, tr->grad, loss, progress);
}

/* ---- checkpoints ---------------------------------------------------------------------------------- */

typedef struct bytes_out {
    unsigned char *p;
} bytes_out;
static void w_u32(bytes_out *o, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *o->p++ = (unsigned char)(v >> (8 * i));
}
static void w_u64(bytes_out *o, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *o->p++ = (unsigned char)(v >> (8 * i));
}
static void w_f64(bytes_out *o, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    w_u64(o, v);
}
static void w_f32s(bytes_out *o, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &a[i], 4);
        w_u32(o, v);
    }
}
static uint32_t r_u32(const unsigned char **p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)(*p)[i] << (8 * i);
    *p += 4;
    return v;
}
static uint64_t r_u64(const unsigned char **p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += 8;
    return v;
}
static double r_f64(const unsigned char **p)
{
    uint64_t v = r_u64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}
static void r_f32s(const unsigned char **p, float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v = r_u32(p);
        memcpy(&a[i], &v, 4);
    }
}

/* magic, version, step, seed, batch, lr, warmup, clip, beta1, beta2, eps, ema, t_eps, weighting,
 * has_ema, n_params */
enum { STATE_HEAD = 4 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 4 + 4 + 8 };
/* version 2 then: objective, projection (u32 each), projections (u64) */
enum { STATE_HEAD_V2 = STATE_HEAD + 4 + 4 + 8 };

int snet_trainer_save(const snet_trainer *tr, const char *path, scoresde_error *err)
{
    size_t bytes = STATE_HEAD_V2 + 8 * tr->P;
    unsigned char *buf = malloc(bytes);
    if (!buf)
        return scoresde_error_fail(err, SNET_ENOMEM,
                                   "%s: out of memory for %zu bytes of training state", path, bytes);
    const snet_train_options *o = &tr->opt;
    bytes_out w = {buf};
    memcpy(w.p, STATE_MAGIC, 4), w.p += 4;
    w_u32(&w, STATE_VERSION);
    w_u64(&w, tr->step);
    w_u64(&w, o->seed);
    w_u64(&w, o->batch);
    w_f64(&w, o->lr);
    w_u64(&w, o->warmup);
    w_f64(&w, o->grad_clip);
    w_f64(&w, o->beta1);
    w_f64(&w, o->beta2);
    w_f64(&w, o->adam_eps);
    w_f64(&w, o->ema_decay);
    w_f64(&w, o->t_eps);
    w_u32(&w, (uint32_t)o->weighting);
    w_u32(&w, tr->ema != NULL);
    w_u64(&w, tr->P);
    w_u32(&w, (uint32_t)o->objective);
    w_u32(&w, (uint32_t)o->projection);
    w_u64(&w, o->projections);
    w_f32s(&w, tr->m, tr->P);
    w_f32s(&w, tr->v, tr->P);
    int rc = snet_io_write(path, tr->model, tr->ema, o->note, tr->step, buf, bytes, err);
    free(buf);
    return rc;
}

/* Names the first config field where a and b differ; 0 if they agree. */
static int config_diff(const snet_config *a, const snet_config *b, char *out, size_t size)
{
#define U(f)                                                                                   \
    if (a->f != b->f) {                                                                        \
        snprintf(out, size, #f " is %u in the checkpoint, %u requested", (unsigned)a->f, (unsigned)b->f); \
        return 1;                                                                              \
    }
#define F(f)                                                                                   \
    if (memcmp(&a->f, &b->f, sizeof(float)) != 0) {                                            \
        snprintf(out, size, #f " is %g in the checkpoint, %g requested", (double)a->f, (double)b->f); \
        return 1;                                                                              \
    }
    U(arch) U(channels) U(height) U(width) U(hidden) U(n_blocks) U(n_fourier) F(fourier_scale)
    U(layer_norm) U(base_channels) U(n_levels) U(n_groups) U(sde) F(sigma_min) F(sigma_max)
    F(beta_min) F(beta_max) F(data_scale) F(data_shift) U(quantized) U(discrete_steps)
#undef U
#undef F
    return 0;
}

int snet_trainer_load(snet_trainer *tr, const char *path, scoresde_error *err)
{
    snet_file_contents c;
    int rc = snet_io_read(path, &c, err);
    if (rc)
        return rc;
    char why[256];
    const snet_train_options *o = &tr->opt;
    rc = SNET_EFORMAT;
    if (config_diff(&c.model->cfg, &tr->model->cfg, why, sizeof why)) {
        scoresde_error_fail(err, SNET_EINVAL, "%s: cannot resume: %s", path, why);
        rc = SNET_EINVAL;
        goto done;
    }
    if (!c.extra) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: a weights file without training state, not a checkpoint", path);
        goto done;
    }
    if (c.extra_bytes < STATE_HEAD || memcmp(c.extra, STATE_MAGIC, 4) != 0) {
        scoresde_error_fail(err, SNET_EFORMAT, "%s: training state of %zu bytes without the '%s' magic", path,
                            c.extra_bytes, STATE_MAGIC);
        goto done;
    }
    const unsigned char *p = (const unsigned char *)c.extra + 4;
    uint32_t version = r_u32(&p);
    if (version < 1u || version > STATE_VERSION) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: training state version %u not supported (expected 1..%u)", path,
                            version, STATE_VERSION);
        goto done;
    }
    size_t head = version == 1u ? STATE_HEAD : STATE_HEAD_V2;
    if (c.extra_bytes < head) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: training state of %zu bytes, version %u needs at least %zu",
                            path, c.extra_bytes, version, head);
        goto done;
    }
    uint64_t step = r_u64(&p), seed = r_u64(&p), batch = r_u64(&p);
    double lr = r_f64(&p);
    uint64_t warmup = r_u64(&p);
    double clip = r_f64(&p), beta1 = r_f64(&p), beta2 = r_f64(&p), eps = r_f64(&p),
           ema_decay = r_f64(&p), t_eps = r_f64(&p);
    uint32_t weighting = r_u32(&p), has_ema = r_u32(&p);
    uint64_t n = r_u64(&p);
    uint32_t objective = SNET_OBJECTIVE_DSM, projection = SNET_PROJECTION_RADEMACHER;
    uint64_t projections = 1;
    if (version >= 2u) {
        objective = r_u32(&p);
        projection = r_u32(&p);
        projections = r_u64(&p);
    }
#define OPT_U(name, file_v, want)                                                                    \
    if ((uint64_t)(file_v) != (uint64_t)(want)) {                                                    \
        scoresde_error_fail(err, SNET_EINVAL, "%s: cannot resume: " name " is %llu in the checkpoint, %llu requested", \
                 path, (unsigned long long)(file_v), (unsigned long long)(want));                    \
        rc = SNET_EINVAL;                                                                            \
        goto done;                                                                                   \
    }
#define OPT_D(name, file_v, want)                                                                    \
    if ((file_v) != (want)) {                                                                        \
        scoresde_error_fail(err, SNET_EINVAL, "%s: cannot resume: " name " is %g in the checkpoint, %g requested", \
                 path, (double)(file_v), (double)(want));                                            \
        rc = SNET_EINVAL;                                                                            \
        goto done;                                                                                   \
    }
    OPT_U("seed", seed, o->seed)
    OPT_U("batch", batch, o->batch)
    OPT_D("lr", lr, o->lr)
    OPT_U("warmup", warmup, o->warmup)
    OPT_D("grad_clip", clip, o->grad_clip)
    OPT_D("beta1", beta1, o->beta1)
    OPT_D("beta2", beta2, o->beta2)
    OPT_D("adam_eps", eps, o->adam_eps)
    OPT_D("ema_decay", ema_decay, o->ema_decay)
    OPT_D("t_eps", t_eps, o->t_eps)
    OPT_U("weighting", weighting, o->weighting)
    if (objective != (uint32_t)o->objective) {
        scoresde_error_fail(err, SNET_EINVAL,
                            "%s: cannot resume: objective is %s in the checkpoint, %s requested",
                            path, snet_objective_name((snet_objective)objective), snet_objective_name(o->objective));
        rc = SNET_EINVAL;
        goto done;
    }
    if (o->objective == SNET_OBJECTIVE_SSM || o->objective == SNET_OBJECTIVE_SSM_VR) {
        OPT_U("projections", projections, o->projections)
        OPT_U("projection (0 rademacher, 1 gaussian)", projection, o->projection)
    }
#undef OPT_U
#undef OPT_D
    if (n != tr->P || c.extra_bytes != head + 8 * tr->P || (has_ema != 0) != (tr->ema != NULL) ||
        (has_ema != 0) != (c.ema != NULL) || step != c.step) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: training state inconsistent: %llu Adam moments for %zu parameters, "
                            "%zu bytes, EMA %s/%s, step %llu vs %llu", path, (unsigned long long)n, tr->P,
                            c.extra_bytes, has_ema ? "yes" : "no", c.ema ? "yes" : "no", (unsigned long long)step,
                            (unsigned long long)c.step);
        goto done;
    }
    memcpy(tr->model->params, c.model->params, tr->P * sizeof(float));
    if (tr->ema)
        memcpy(tr->ema, c.ema, tr->P * sizeof(float));
    r_f32s(&p, tr->m, tr->P);
    r_f32s(&p, tr->v, tr->P);
    tr->step = step;
    tr->drawn_data = NULL;
    rc = SNET_OK;
done:
    snet_file_contents_free(&c);
    return rc;
}

/* ---- the whole run ---------------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The checkpoint (final 0) or the weights file (final 1), through the hook when there is one. */
static int save_file(const snet_trainer *tr, const snet_train_options *opt, int final, scoresde_error *err)
{
    const snet_train_hooks *h = opt->hooks;
    if (h && h->save)
        return h->save(tr, opt, final, err, h->ctx);
    return final ? snet_model_save(tr->model, tr->ema, opt->note, tr->step, opt->out_path, err)
                 : snet_trainer_save(tr, opt->checkpoint_path, err);
}

/* One optimizer step, through the hook when there is one; failures worded in err. */
static int take_step(snet_trainer *tr, snet_dataset *data, const snet_train_options *opt, snet_train_progress *pr,
                     int *stop, scoresde_error *err)
{
    const snet_train_hooks *h = opt->hooks;
    if (h && h->step)
        return h->step(tr, data, pr, stop, err, h->ctx);
    int rc = snet_trainer_step(tr, data, pr);
    if (rc == SNET_ENONFINITE)
        scoresde_error_fail(err, rc, "step %llu: loss %g, gradient norm %g: not finite (try a lower lr)",
                            (unsigned long long)pr->step, pr->loss, pr->grad_norm);
    else if (rc)
        scoresde_error_fail(err, rc, "step %llu: %s", (unsigned long long)pr->step, snet_strerror(rc));
    return rc;
}

int snet_train_run(const snet_config *cfg, snet_dataset *data, const snet_train_options *opt,
                   snet_train_report *report, snet_model **model_out, scoresde_error *err)
{
    snet_train_report rep = {0, 0, 0, NAN, NAN, 0.0};
    const snet_train_hooks *hooks = opt->hooks;
    if (model_out)
        *model_out = NULL;
    if (err)
        scoresde_error_clear(err);
    if (opt->threads > 0)
        snet_set_num_threads(opt->threads);
    snet_config c = *cfg;
    snet_dataset_apply_config(data, &c);
    snet_model *model = NULL;
    snet_trainer *tr = NULL;
    double *recent = NULL; // ring of the last losses for final_loss_avg
    enum { RECENT = 1000 };
    double t0 = now_seconds(), loss_sum = 0.0;
    uint64_t since_log = 0, n_run = 0;
    int rc = snet_model_alloc(&model, &c, err);
    if (!rc) {
        snet_model_init(model, opt->seed);
        rc = snet_trainer_alloc(&tr, model, opt, err);
    }
    if (!rc && !(recent = calloc(RECENT, sizeof *recent))) {
        rc = scoresde_error_fail(err, SNET_ENOMEM, "out of memory");
    }
    if (hooks && hooks->begin)
        rc = hooks->begin(rc ? NULL : tr, rc, err, hooks->ctx);
    if (rc)
        goto done;
    int resume = opt->resume && opt->checkpoint_path &&
                 (hooks && hooks->resume_from ? hooks->resume_from(opt->checkpoint_path, hooks->ctx)
                                              : access(opt->checkpoint_path, F_OK) == 0);
    if (resume) {
        rc = snet_trainer_load(tr, opt->checkpoint_path, err);
        if (hooks && hooks->after_resume)
            rc = hooks->after_resume(tr, rc, err, hooks->ctx);
        if (rc)
            goto done;
        rep.resumed = 1;
    }
    rep.start_step = tr->step;
    t0 = now_seconds();
    while (tr->step < opt->steps) {
        snet_train_progress pr;
        int stop = 0;
        rc = take_step(tr, data, opt, &pr, &stop, err);
        if (rc)
            goto done;
        if (n_run == 0)
            rep.first_loss = pr.loss;
        recent[n_run % RECENT] = pr.loss;
        n_run++;
        loss_sum += pr.loss;
        since_log++;
        if (opt->checkpoint_path && opt->checkpoint_every && tr->step % opt->checkpoint_every == 0 &&
            tr->step < opt->steps && !stop && (rc = save_file(tr, opt, 0, err)))
            goto done;
        if (opt->log && opt->log_every && (tr->step % opt->log_every == 0 || tr->step == opt->steps)) {
            pr.loss_avg = loss_sum / (double)since_log;
            pr.elapsed = now_seconds() - t0;
            pr.steps_per_sec = pr.elapsed > 0 ? (double)n_run / pr.elapsed : 0.0;
            loss_sum = 0.0;
            since_log = 0;
            if (opt->log(&pr, opt->log_ctx))
                stop = 1;
        }
        if (stop) {
            if (opt->checkpoint_on_stop && opt->checkpoint_path && (rc = save_file(tr, opt, 0, err)))
                goto done;
            rc = scoresde_error_fail(err, SNET_ESTOPPED,
                                     "stopped at step %llu of %llu", (unsigned long long)tr->step,
                                     (unsigned long long)opt->steps);
            goto done;
        }
    }
    if (opt->checkpoint_path && (rc = save_file(tr, opt, 0, err)))
        goto done;
    if (opt->out_path && (rc = save_file(tr, opt, 1, err)))
        goto done;
    rc = SNET_OK;
done:
    if (tr) {
        size_t k = n_run < RECENT ? (size_t)n_run : RECENT;
        double s = 0.0;
        for (size_t i = 0; i < k; i++)
            s += recent[i];
        rep.final_loss_avg = k ? s / (double)k : NAN;
        rep.end_step = tr->step;
        rep.seconds = now_seconds() - t0;
    }
    if (report)
        *report = rep;
    if (model_out && (rc == SNET_OK || rc == SNET_ESTOPPED) && model) {
        if (tr && tr->ema)
            memcpy(model->params, tr->ema, model->n_params * sizeof(float));
        *model_out = model;
        model = NULL;
    }
    free(recent);
    snet_trainer_free(tr);
    snet_model_free(model);
    return rc;
}
