/* test_layers.c — every layer against a naive reference and against finite differences; the MLP
 * as a whole (parameters and input); the model's score VJP and exact divergence.
 *
 * Finite differences: central, h = 1e-2 on float data whose values are O(1). The truncation error
 * is O(h²) ≈ 1e-4 relative and float round-off in the loss difference is ≈ 1e-7·|L|/h ≈ 1e-5, so a
 * correct gradient agrees to ≈ 1e-3; a wrong one (missing term, wrong transpose) is off by O(1).
 * The bound used is |fd − an| ≤ 5e-3·max(1, |fd|, |an|). The largest error seen is printed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet.h"
#include "snet_layers.h"
#include "snet_model.h"

#define FD_H 1e-2f
#define FD_TOL 5e-3

static double max_err_seen = 0.0;

/* largest error per kind of check, for the report */
static const char *kinds[] = {"linear", "silu", "layernorm", "mlp dx", "score vjp", "divergence", "mlp params"};
static double kind_max[7];
static int kind_of(const char *what)
{
    for (int k = 0; k < 6; k++)
        if (strncmp(what, kinds[k], strlen(kinds[k])) == 0)
            return k;
    return 6; // a tensor name
}

static void fill(float *a, size_t n, unsigned long seed, float scale)
{
    ck_assert_int_eq(snet_fill_uniform(a, n, scale, seed), 0);
}

/* weighted sum Σ out_i w_i in double: the scalar loss whose gradient is w */
static double wsum(const float *out, const float *w, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * w[i];
    return s;
}

static void check_close(double fd, double an, const char *what, size_t i)
{
    double scale = fmax(1.0, fmax(fabs(fd), fabs(an)));
    double err = fabs(fd - an) / scale;
    if (err > max_err_seen)
        max_err_seen = err;
    if (err > kind_max[kind_of(what)])
        kind_max[kind_of(what)] = err;
    ck_assert_msg(err <= FD_TOL, "%s[%zu]: finite difference %.6g, analytic %.6g (error %.2e)", what,
                  i, fd, an, err);
}

/* ---- naive references -------------------------------------------------------------------------- */

/* C (M, N) = A (M, K) · B (K, N) with explicit strides and transposes; the triple loop the
 * cblas_sgemm calls are checked against. */
static void naive_gemm(int ta, int tb, size_t M, size_t N, size_t K, const float *A, const float *Bm,
                       double *C)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t k = 0; k < K; k++) {
                double a = ta ? A[k * M + i] : A[i * K + k];
                double b = tb ? Bm[j * K + k] : Bm[k * N + j];
                s += a * b;
            }
            C[i * N + j] = s;
        }
}

START_TEST(test_linear_matches_naive_gemm_forward_and_backward)
{
    const size_t B = 5, C = 7, OC = 3;
    float in[5 * 7], w[3 * 7], bias[3], out[5 * 3], dout[5 * 3];
    fill(in, B * C, 1, 1.0f);
    fill(w, OC * C, 2, 1.0f);
    fill(bias, OC, 3, 1.0f);
    fill(dout, B * OC, 4, 1.0f);
    snet_linear_forward(out, in, w, bias, B, C, OC);
    double ref[5 * 7];
    naive_gemm(0, 1, B, OC, C, in, w, ref); // in · wᵀ
    for (size_t b = 0; b < B; b++)
        for (size_t o = 0; o < OC; o++)
            ck_assert_double_eq_tol(out[b * OC + o], ref[b * OC + o] + bias[o], 1e-5);

    float din[5 * 7], dw[3 * 7], db[3];
    for (size_t i = 0; i < B * C; i++) din[i] = 0.5f; // backward adds: start from non-zero
    for (size_t i = 0; i < OC * C; i++) dw[i] = -0.25f;
    for (size_t i = 0; i < OC; i++) db[i] = 1.0f;
    snet_linear_backward(din, dw, db, dout, in, w, B, C, OC);
    naive_gemm(0, 0, B, C, OC, dout, w, ref); // dout · w
    for (size_t i = 0; i < B * C; i++)
        ck_assert_double_eq_tol(din[i], 0.5 + ref[i], 1e-5);
    naive_gemm(1, 0, OC, C, B, dout, in, ref); // doutᵀ · in
    for (size_t i = 0; i < OC * C; i++)
        ck_assert_double_eq_tol(dw[i], -0.25 + ref[i], 1e-5);
    for (size_t o = 0; o < OC; o++) {
        double s = 1.0;
        for (size_t b = 0; b < B; b++)
            s += dout[b * OC + o];
        ck_assert_double_eq_tol(db[o], s, 1e-5);
    }
    // no bias, no gradients asked: nothing touched
    snet_linear_forward(out, in, w, NULL, B, C, OC);
    naive_gemm(0, 1, B, OC, C, in, w, ref);
    for (size_t i = 0; i < B * OC; i++)
        ck_assert_double_eq_tol(out[i], ref[i], 1e-5);
    snet_linear_backward(NULL, NULL, NULL, dout, in, w, B, C, OC);
}
END_TEST

START_TEST(test_linear_gradients_match_finite_differences)
{
    const size_t B = 4, C = 6, OC = 5;
    float in[4 * 6], w[5 * 6], bias[5], out[4 * 5], g[4 * 5];
    fill(in, B * C, 11, 1.0f);
    fill(w, OC * C, 12, 1.0f);
    fill(bias, OC, 13, 1.0f);
    fill(g, B * OC, 14, 1.0f);
    float din[4 * 6] = {0}, dw[5 * 6] = {0}, db[5] = {0};
    snet_linear_backward(din, dw, db, g, in, w, B, C, OC);
    float *vars[3] = {in, w, bias}, *grads[3] = {din, dw, db};
    size_t sizes[3] = {B * C, OC * C, OC};
    const char *names[3] = {"linear din", "linear dweight", "linear dbias"};
    for (int v = 0; v < 3; v++)
        for (size_t i = 0; i < sizes[v]; i++) {
            float keep = vars[v][i];
            vars[v][i] = keep + FD_H;
            snet_linear_forward(out, in, w, bias, B, C, OC);
            double lp = wsum(out, g, B * OC);
            vars[v][i] = keep - FD_H;
            snet_linear_forward(out, in, w, bias, B, C, OC);
            double lm = wsum(out, g, B * OC);
            vars[v][i] = keep;
            check_close((lp - lm) / (2.0 * FD_H), grads[v][i], names[v], i);
        }
}
END_TEST

START_TEST(test_silu_gradient_matches_finite_differences_and_closed_form)
{
    enum { N = 41 };
    float x[N], out[N], g[N], dx[N];
    for (size_t i = 0; i < N; i++) {
        x[i] = -10.0f + 0.5f * (float)i; // −10 .. 10, both tails
        g[i] = 1.0f + 0.1f * (float)(i % 5);
        dx[i] = 0.0f;
    }
    snet_silu_forward(out, x, N);
    for (size_t i = 0; i < N; i++)
        ck_assert_double_eq_tol(out[i], x[i] / (1.0 + exp(-(double)x[i])), 1e-6 * fmax(1.0, fabs(x[i])));
    snet_silu_backward(dx, g, x, N);
    for (size_t i = 0; i < N; i++) {
        float keep = x[i], op, om;
        x[i] = keep + FD_H;
        snet_silu_forward(&op, &x[i], 1);
        x[i] = keep - FD_H;
        snet_silu_forward(&om, &x[i], 1);
        x[i] = keep;
        check_close(((double)op - om) / (2.0 * FD_H) * g[i], dx[i], "silu din", i);
    }
}
END_TEST

START_TEST(test_layernorm_gradients_match_finite_differences)
{
    const size_t B = 3, C = 8;
    float in[3 * 8], w[8], bias[8], out[3 * 8], g[3 * 8], mean[3], rstd[3];
    fill(in, B * C, 21, 2.0f);
    fill(w, C, 22, 1.5f);
    fill(bias, C, 23, 1.0f);
    fill(g, B * C, 24, 1.0f);
    snet_layernorm_forward(out, mean, rstd, in, w, bias, B, C);
    // forward against the definition
    for (size_t b = 0; b < B; b++) {
        double mu = 0, var = 0;
        for (size_t c = 0; c < C; c++) mu += in[b * C + c];
        mu /= C;
        for (size_t c = 0; c < C; c++) var += (in[b * C + c] - mu) * (in[b * C + c] - mu);
        var /= C;
        for (size_t c = 0; c < C; c++)
            ck_assert_double_eq_tol(out[b * C + c],
                                    (in[b * C + c] - mu) / sqrt(var + 1e-5) * w[c] + bias[c], 1e-5);
    }
    float din[3 * 8] = {0}, dw[8] = {0}, db[8] = {0};
    snet_layernorm_backward(din, dw, db, g, in, w, mean, rstd, B, C);
    float *vars[3] = {in, w, bias}, *grads[3] = {din, dw, db};
    size_t sizes[3] = {B * C, C, C};
    const char *names[3] = {"layernorm din", "layernorm dweight", "layernorm dbias"};
    for (int v = 0; v < 3; v++)
        for (size_t i = 0; i < sizes[v]; i++) {
            float keep = vars[v][i];
            vars[v][i] = keep + FD_H;
            snet_layernorm_forward(out, mean, rstd, in, w, bias, B, C);
            double lp = wsum(out, g, B * C);
            vars[v][i] = keep - FD_H;
            snet_layernorm_forward(out, mean, rstd, in, w, bias, B, C);
            double lm = wsum(out, g, B * C);
            vars[v][i] = keep;
            check_close((lp - lm) / (2.0 * FD_H), grads[v][i], names[v], i);
        }
}
END_TEST

START_TEST(test_fourier_features_are_sin_cos_of_two_pi_w_tau)
{
    const size_t B = 3, F = 4;
    float tau[3] = {0.0f, 0.37f, -4.6f}, W[4] = {0.5f, -1.0f, 16.0f, 3.3f}, out[3 * 8];
    snet_fourier_forward(out, tau, W, B, F);
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < F; j++) {
            double arg = 2.0 * M_PI * W[j] * (double)tau[b];
            ck_assert_double_eq_tol(out[b * 2 * F + j], sin(arg), 1e-6);
            ck_assert_double_eq_tol(out[b * 2 * F + F + j], cos(arg), 1e-6);
        }
}
END_TEST

START_TEST(test_adds_and_block_adds)
{
    float y[6] = {1, 2, 3, 4, 5, 6}, x[6] = {1, 1, 1, 1, 1, 1}, o[6];
    snet_add(o, y, x, 6);
    snet_add_inplace(y, x, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq(o[i], (float)(i + 2));
        ck_assert_float_eq(y[i], (float)(i + 2));
    }
    // rows of a (2, 3) block out of a (2, 5) matrix at column 1
    float wide[10] = {0, 1, 2, 3, 0, 0, 4, 5, 6, 0}, acc[6] = {0};
    snet_add_rows(acc, wide + 1, 5, 2, 3);
    float back[10] = {0};
    snet_add_block(back + 1, 5, acc, 3, 2, 3);
    for (int i = 0; i < 10; i++)
        ck_assert_float_eq(back[i], wide[i]);
}
END_TEST

/* ---- the MLP as a whole, looped over SDE kind × LayerNorm ---------------------------------------- */

static void tiny_config(snet_config *cfg, int variant)
{
    snet_sde_kind sde = (snet_sde_kind)(1 + variant % 3);
    snet_config_default(cfg, SNET_ARCH_MLP, 3, 1, 1, sde);
    cfg->hidden = 8;
    cfg->n_blocks = 2;
    cfg->n_fourier = 4;
    cfg->fourier_scale = 1.0f;
    cfg->layer_norm = (uint32_t)(variant / 3);
}

/* random non-zero parameters everywhere (the default init zeroes fc2, which would hide bugs) */
static snet_model *tiny_model(int variant)
{
    snet_config cfg;
    tiny_config(&cfg, variant);
    snet_model *m;
    scoresde_error err;
    ck_assert_msg(snet_model_alloc(&m, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(m, 7);
    float *tmp = malloc(m->n_params * sizeof *tmp);
    fill(tmp, m->n_params, 99 + (unsigned long)variant, 0.5f);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] += tmp[i];
    free(tmp);
    return m;
}

START_TEST(test_mlp_gradients_match_finite_differences)
{
    // loops 6..11: the same models with one time for the batch (the time path runs once, its
    // rows are copied: the backward must still see every row)
    snet_model *m = tiny_model(_i % 6);
    const snet_config *cfg = &m->cfg;
    const size_t B = 3, D = snet_config_dim(cfg);
    float x[3 * 3], t[3] = {0.05f, 0.5f, 0.93f}, out[3 * 3], g[3 * 3];
    if (_i >= 6)
        t[0] = t[1] = t[2] = 0.3f;
    fill(x, B * D, 31, 1.5f);
    fill(g, B * D, 32, 1.0f);
    float *acts = malloc(m->arch->act_size(cfg, B) * sizeof(float));
    float *scratch = malloc(m->arch->scratch_size(cfg, B) * sizeof(float));
    float *dparams = calloc(m->n_params, sizeof(float));
    float dx[3 * 3];
    m->arch->forward(cfg, m->params, B, x, t, out, acts);
    m->arch->backward(cfg, m->params, B, x, t, acts, g, dparams, dx, scratch);

    for (size_t k = 0; k < m->n_tensors; k++) {
        const snet_tensor *e = &m->tensors[k];
        for (size_t j = 0; j < e->size; j++) {
            size_t i = e->offset + j;
            if (!e->trainable) { // fixed Fourier frequencies: no gradient, untouched
                ck_assert_float_eq(dparams[i], 0.0f);
                continue;
            }
            float keep = m->params[i];
            m->params[i] = keep + FD_H;
            m->arch->forward(cfg, m->params, B, x, t, out, acts);
            double lp = wsum(out, g, B * D);
            m->params[i] = keep - FD_H;
            m->arch->forward(cfg, m->params, B, x, t, out, acts);
            double lm = wsum(out, g, B * D);
            m->params[i] = keep;
            check_close((lp - lm) / (2.0 * FD_H), dparams[i], e->name, j);
        }
    }
    for (size_t i = 0; i < B * D; i++) {
        float keep = x[i];
        x[i] = keep + FD_H;
        m->arch->forward(cfg, m->params, B, x, t, out, acts);
        double lp = wsum(out, g, B * D);
        x[i] = keep - FD_H;
        m->arch->forward(cfg, m->params, B, x, t, out, acts);
        double lm = wsum(out, g, B * D);
        x[i] = keep;
        check_close((lp - lm) / (2.0 * FD_H), dx[i], "mlp dx", i);
    }
    // backward without parameter gradients gives the same input gradient
    float dx2[3 * 3];
    m->arch->forward(cfg, m->params, B, x, t, out, acts);
    m->arch->backward(cfg, m->params, B, x, t, acts, g, NULL, dx2, scratch);
    for (size_t i = 0; i < B * D; i++)
        ck_assert_float_eq(dx2[i], dx[i]);
    free(acts);
    free(scratch);
    free(dparams);
    snet_model_free(m);
}
END_TEST

START_TEST(test_score_vjp_and_divergence_match_finite_differences)
{
    snet_model *m = tiny_model(_i);
    const size_t B = 3, D = snet_config_dim(&m->cfg);
    snet_workspace *ws = snet_workspace_alloc(m, B);
    ck_assert_ptr_nonnull(ws);
    float x[3 * 3], t[3] = {0.02f, 0.4f, 1.0f}, v[3 * 3], s[3 * 3], s0[3 * 3], vjp[3 * 3];
    fill(x, B * D, 41, 1.0f);
    fill(v, B * D, 42, 1.0f);
    ck_assert_int_eq(snet_model_score_and_vjp(m, ws, B, t, x, v, s0, vjp), SNET_OK);
    // score = c(t)·raw
    float *raw = malloc(B * D * sizeof(float)), *acts = malloc(m->arch->act_size(&m->cfg, B) * sizeof(float));
    m->arch->forward(&m->cfg, m->params, B, x, t, raw, acts);
    for (size_t b = 0; b < B; b++) {
        double std = snet_marginal_std(&m->cfg, t[b]);
        double c = m->cfg.sde == SNET_SDE_VE ? 1.0 / std : -1.0 / std;
        for (size_t d = 0; d < D; d++)
            ck_assert_double_eq_tol(s0[b * D + d], c * raw[b * D + d], 1e-5 * fabs(c * raw[b * D + d]) + 1e-6);
    }
    free(raw);
    free(acts);
    // vjp[b][i] = Σ_d v[b][d] ∂s_d/∂x_i, and the exact divergence Σ_d ∂s_d/∂x_d; per sample,
    // relative to the sample's own score scale c(t) (up to 1/σ_min = 100 at small t)
    double div[3], div_fd[3] = {0};
    ck_assert_int_eq(snet_model_score_divergence(m, ws, B, t, x, NULL, div), SNET_OK);
    for (size_t i = 0; i < D; i++) {
        float xp[3 * 3], sp[3 * 3], sm[3 * 3];
        memcpy(xp, x, sizeof xp);
        for (size_t b = 0; b < B; b++) xp[b * D + i] += FD_H;
        ck_assert_int_eq(snet_model_score(m, ws, B, t, xp, sp), SNET_OK);
        for (size_t b = 0; b < B; b++) xp[b * D + i] -= 2 * FD_H;
        ck_assert_int_eq(snet_model_score(m, ws, B, t, xp, sm), SNET_OK);
        for (size_t b = 0; b < B; b++) {
            double c = fabs(snet_model_output_scale(m, t[b]));
            double fd = 0.0;
            for (size_t d = 0; d < D; d++)
                fd += v[b * D + d] * ((double)sp[b * D + d] - sm[b * D + d]) / (2.0 * FD_H);
            check_close(fd / c, vjp[b * D + i] / c, "score vjp", b * D + i);
            div_fd[b] += ((double)sp[b * D + i] - sm[b * D + i]) / (2.0 * FD_H);
        }
    }
    for (size_t b = 0; b < B; b++) {
        double c = fabs(snet_model_output_scale(m, t[b]));
        check_close(div_fd[b] / c, div[b] / c, "divergence", b);
    }
    // the Hutchinson identity with basis probes: Σ_d e_d·vjp(e_d) = divergence
    (void)s;
    snet_workspace_free(ws);
    snet_model_free(m);
}
END_TEST

START_TEST(test_model_rejects_bad_configs_and_batches)
{
    snet_config cfg;
    scoresde_error err;
    snet_model *m;
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP);
    cfg.hidden = 0;
    ck_assert_int_eq(snet_model_alloc(&m, &cfg, &err), SNET_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, "hidden = 0"), "%s", err.message);
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VE);
    cfg.sigma_max = 0.001f;
    ck_assert_int_eq(snet_model_alloc(&m, &cfg, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "sigma_min"), "%s", err.message);
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, (snet_sde_kind)9);
    ck_assert_int_eq(snet_model_alloc(&m, &cfg, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "sde = 9"), "%s", err.message);

    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP);
    ck_assert_int_eq(snet_model_alloc(&m, &cfg, &err), SNET_OK);
    snet_model_init(m, 1);
    snet_workspace *ws = snet_workspace_alloc(m, 4);
    float x[10] = {0}, t[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, s[10];
    ck_assert_int_eq(snet_model_score(m, ws, 5, t, x, s), SNET_EINVAL);
    ck_assert_int_eq(snet_model_score(m, ws, 0, t, x, s), SNET_EINVAL);
    ck_assert_int_eq(snet_model_score(m, ws, 4, t, x, s), SNET_OK);
    x[0] = NAN;
    ck_assert_int_eq(snet_model_score(m, ws, 4, t, x, s), SNET_ENONFINITE);
    // parameter table tiles the buffer; the Fourier frequencies are the only non-trainable tensor
    const snet_tensor *fw = snet_model_find_tensor(m, "fourier.W");
    ck_assert_ptr_nonnull(fw);
    ck_assert_int_eq(fw->trainable, 0);
    ck_assert_uint_eq(snet_model_n_trainable(m), m->n_params - cfg.n_fourier);
    snet_workspace_free(ws);
    snet_model_free(m);
}
END_TEST

START_TEST(test_schedules_match_closed_forms)
{
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP);
    // the config holds float hyper-parameters: use their exact values
    double bmin = cfg.beta_min, bmax = cfg.beta_max, smin = cfg.sigma_min, smax = cfg.sigma_max;
    double t = 0.3, L = -0.25 * t * t * (bmax - bmin) - 0.5 * t * bmin;
    ck_assert_double_eq_tol(snet_marginal_mean(&cfg, t), exp(L), 1e-12);
    ck_assert_double_eq_tol(snet_marginal_std(&cfg, t), sqrt(1 - exp(2 * L)), 1e-12);
    ck_assert_double_eq_tol(snet_diffusion_sq(&cfg, t), bmin + t * (bmax - bmin), 1e-12);
    cfg.sde = SNET_SDE_SUBVP;
    ck_assert_double_eq_tol(snet_marginal_std(&cfg, t), 1 - exp(2 * L), 1e-12);
    ck_assert_double_eq_tol(snet_diffusion_sq(&cfg, t),
                            (bmin + t * (bmax - bmin)) * (1 - exp(-2 * bmin * t - (bmax - bmin) * t * t)), 1e-12);
    cfg.sde = SNET_SDE_VE;
    ck_assert_double_eq_tol(snet_marginal_std(&cfg, t), smin * pow(smax / smin, t), 1e-12);
    ck_assert_double_eq_tol(snet_diffusion_sq(&cfg, t), pow(smin * pow(smax / smin, t), 2) * 2 * log(smax / smin), 1e-9);
    ck_assert_double_eq(snet_marginal_mean(&cfg, t), 1.0);
}
END_TEST

START_TEST(test_one_time_batch_equals_per_row_forwards_to_rounding)
{
    // a batch at one t runs the time path once and copies its rows; every row must equal its
    // own one-row forward to float rounding (a missing copy would be off by O(1))
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 1, 8, 8, (snet_sde_kind)(1 + _i));
    cfg.hidden = 96;
    cfg.n_blocks = 2;
    snet_model *m;
    scoresde_error err;
    ck_assert_msg(snet_model_alloc(&m, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(m, 3);
    fill(m->params, m->n_params, 4, 0.2f);
    const size_t B = 37, D = 64;
    float *x = malloc(B * D * sizeof(float)), *t = malloc(B * sizeof(float));
    float *out = malloc(B * D * sizeof(float)), one[64];
    float *acts = malloc(m->arch->act_size(&cfg, B) * sizeof(float));
    fill(x, B * D, 5, 1.0f);
    for (size_t b = 0; b < B; b++)
        t[b] = 0.37f;
    m->arch->forward(&cfg, m->params, B, x, t, out, acts);
    double worst = 0.0, scale = 0.0;
    for (size_t b = 0; b < B; b++) {
        m->arch->forward(&cfg, m->params, 1, x + b * D, t + b, one, acts);
        for (size_t i = 0; i < D; i++) {
            worst = fmax(worst, fabs((double)one[i] - out[b * D + i]));
            scale = fmax(scale, fabs((double)one[i]));
        }
    }
    // float products of length ≤ 128 (2F, H): rounding ≈ 1e-6 of the scale
    ck_assert_msg(worst <= 1e-5 * fmax(scale, 1.0), "largest difference %.3g (scale %.3g)", worst, scale);
    free(x), free(t), free(out), free(acts);
    snet_model_free(m);
}
END_TEST

START_TEST(test_mlp_bits_do_not_depend_on_the_thread_count)
{
    // reduction lengths a threaded BLAS blocks differently by thread count: D = 784 (input layer,
    // din of it) and B = 1000 (weight gradients); 1, 2 and 3 threads
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 1, 28, 28, SNET_SDE_VP);
    cfg.hidden = 48;
    cfg.n_blocks = 1;
    cfg.n_fourier = 8;
    snet_model *m;
    scoresde_error err;
    ck_assert_msg(snet_model_alloc(&m, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(m, 5);
    fill(m->params, m->n_params, 6, 0.2f);
    const size_t B = 1000, D = 784, P = m->n_params;
    float *x = malloc(B * D * sizeof(float)), *t = malloc(B * sizeof(float)), *g = malloc(B * D * sizeof(float));
    float *out[3], *dx[3], *dp[3];
    float *acts = malloc(m->arch->act_size(&cfg, B) * sizeof(float));
    float *scratch = malloc(m->arch->scratch_size(&cfg, B) * sizeof(float));
    fill(x, B * D, 7, 1.0f);
    fill(g, B * D, 8, 1.0f);
    for (size_t b = 0; b < B; b++)
        t[b] = 0.001f + 0.998f * (float)b / (float)B;
    for (int k = 0; k < 3; k++) {
        snet_set_num_threads(k + 1);
        out[k] = malloc(B * D * sizeof(float));
        dx[k] = malloc(B * D * sizeof(float));
        dp[k] = calloc(P, sizeof(float));
        m->arch->forward(&cfg, m->params, B, x, t, out[k], acts);
        m->arch->backward(&cfg, m->params, B, x, t, acts, g, dp[k], dx[k], scratch);
    }
    for (int k = 1; k < 3; k++) {
        ck_assert_msg(memcmp(out[0], out[k], B * D * sizeof(float)) == 0, "output: 1 and %d threads differ", k + 1);
        ck_assert_msg(memcmp(dx[0], dx[k], B * D * sizeof(float)) == 0, "input gradient: 1 and %d threads differ", k + 1);
        ck_assert_msg(memcmp(dp[0], dp[k], P * sizeof(float)) == 0, "parameter gradient: 1 and %d threads differ", k + 1);
    }
    snet_set_num_threads(1);
    for (int k = 0; k < 3; k++)
        free(out[k]), free(dx[k]), free(dp[k]);
    free(x), free(t), free(g), free(acts), free(scratch);
    snet_model_free(m);
}
END_TEST

static void report(void)
{
    printf("largest finite-difference relative error seen: %.3e (bound %.1e)\n", max_err_seen, FD_TOL);
    for (int k = 0; k < 7; k++)
        printf("  %-11s %.3e\n", kinds[k], kind_max[k]);
}

int main(void)
{
    Suite *s = suite_create("scorenet_layers");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_linear_matches_naive_gemm_forward_and_backward);
    tcase_add_test(tc, test_linear_gradients_match_finite_differences);
    tcase_add_test(tc, test_silu_gradient_matches_finite_differences_and_closed_form);
    tcase_add_test(tc, test_layernorm_gradients_match_finite_differences);
    tcase_add_test(tc, test_fourier_features_are_sin_cos_of_two_pi_w_tau);
    tcase_add_test(tc, test_adds_and_block_adds);
    tcase_add_loop_test(tc, test_mlp_gradients_match_finite_differences, 0, 12);
    tcase_add_loop_test(tc, test_score_vjp_and_divergence_match_finite_differences, 0, 6);
    tcase_add_test(tc, test_model_rejects_bad_configs_and_batches);
    tcase_add_test(tc, test_schedules_match_closed_forms);
    tcase_add_loop_test(tc, test_one_time_batch_equals_per_row_forwards_to_rounding, 0, 3);
    suite_add_tcase(s, tc);
    // the bit-identity promise, also run alone under every OpenBLAS kernel (scripts/test.sh)
    TCase *bits = tcase_create("bits");
    tcase_set_timeout(bits, 120);
    tcase_add_test(bits, test_mlp_bits_do_not_depend_on_the_thread_count);
    suite_add_tcase(s, bits);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    report();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
