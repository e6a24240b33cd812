/* test_tangent.c — the forward-mode tangent pass (JVP in x) and the backward through it: the SiLU
 * and LayerNorm tangent pieces, the MLP's tangent_forward/tangent_backward, and
 * snet_model_score_jvp, each against central finite differences.
 *
 * Finite differences: central, h = 1e-2, on float data whose values are O(1). Truncation is
 * O(h²) ≈ 1e-4 relative; float round-off in the loss, ≈ 1e-7·|L| with |L| ≲ 10, divided by 2h, is
 * ≈ 1e-4 too (halving h or Richardson extrapolation does not shrink the largest error, so round-off
 * dominates). The bound is |fd − an| ≤ FD_TOL·max(1, |fd|, |an|) with FD_TOL = 1e-3, ten times
 * that: the largest errors seen are ≈ 1.3e-4 (printed at the end). It is tighter than
 * test_layers.c's 5e-3 on purpose: dropping one second-order term (tried by hand, each alone) —
 * the SiLU term silu''(z)·ż·dṡ, or one of the LayerNorm tangent's three ∂/∂in terms, in the layer
 * or in the MLP — gives largest errors of 7e-2 … 6e-1 in the MLP parameter gradients and over
 * 1e-1 in the layer checks, and fails the suite. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet.h"
#include "snet_layers.h"
#include "snet_model.h"

#define FD_H 1e-2f
#define FD_TOL 1e-3

/* largest error per kind of check, for the report */
enum { KIND_SILU, KIND_LAYERNORM, KIND_TOUT, KIND_DPARAMS, KIND_JVP, N_KINDS };
static const char *kind_names[N_KINDS] = {"silu tangent", "layernorm tangent", "mlp tout",
                                          "mlp dparams", "score jvp"};
static double kind_max[N_KINDS];

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

static void check_close(int kind, double fd, double an, const char *what, size_t i)
{
    double scale = fmax(1.0, fmax(fabs(fd), fabs(an)));
    double err = fabs(fd - an) / scale;
    if (err > kind_max[kind])
        kind_max[kind] = err;
    ck_assert_msg(err <= FD_TOL, "%s[%zu]: finite difference %.6g, analytic %.6g (error %.2e)", what,
                  i, fd, an, err);
}

/* ---- SiLU tangent -------------------------------------------------------------------------------- */

START_TEST(test_silu_tangent_matches_closed_form_and_finite_differences)
{
    enum { N = 41 };
    float x[N], tin[N], tout[N], g[N], din[N], dtin[N];
    fill(tin, N, 1, 1.5f);
    fill(g, N, 2, 1.0f);
    for (size_t i = 0; i < N; i++) {
        x[i] = -10.0f + 0.5f * (float)i; // −10 .. 10, both tails
        din[i] = 0.5f;                   // backward adds: start from non-zero
        dtin[i] = -0.25f;
    }
    snet_silu_tangent_forward(tout, tin, x, N);
    for (size_t i = 0; i < N; i++) {
        double sig = 1.0 / (1.0 + exp(-(double)x[i]));
        double d1 = sig * (1.0 + x[i] * (1.0 - sig));
        ck_assert_double_eq_tol(tout[i], d1 * tin[i], 1e-6 * fmax(1.0, fabs(d1 * tin[i])));
        // the tangent is the directional derivative of the forward
        float xp = x[i] + FD_H * tin[i], xm = x[i] - FD_H * tin[i], op, om;
        snet_silu_forward(&op, &xp, 1);
        snet_silu_forward(&om, &xm, 1);
        check_close(KIND_SILU, ((double)op - om) / (2.0 * FD_H), tout[i], "silu tout", i);
    }
    // L = Σ g ⊙ tout, through x (second derivative) and tin
    snet_silu_tangent_backward(din, dtin, g, tin, x, N);
    for (size_t i = 0; i < N; i++) {
        float *vars[2] = {x, tin};
        double an[2] = {din[i] - 0.5, dtin[i] + 0.25};
        const char *names[2] = {"silu tangent din", "silu tangent dtin"};
        for (int v = 0; v < 2; v++) {
            float keep = vars[v][i], op, om;
            vars[v][i] = keep + FD_H;
            snet_silu_tangent_forward(&op, &tin[i], &x[i], 1);
            vars[v][i] = keep - FD_H;
            snet_silu_tangent_forward(&om, &tin[i], &x[i], 1);
            vars[v][i] = keep;
            check_close(KIND_SILU, ((double)op - om) / (2.0 * FD_H) * g[i], an[v], names[v], i);
        }
    }
    // one gradient only, then none: the other is not touched
    float keep[N];
    memcpy(keep, din, sizeof keep);
    snet_silu_tangent_backward(NULL, dtin, g, tin, x, N);
    ck_assert_int_eq(memcmp(keep, din, sizeof keep), 0);
    snet_silu_tangent_backward(NULL, NULL, g, tin, x, N);
}
END_TEST

/* ---- LayerNorm tangent --------------------------------------------------------------------------- */

START_TEST(test_layernorm_tangent_matches_finite_differences)
{
    enum { B = 3, C = 8 };
    float in[B * C], tin[B * C], w[C], bias[C], g[B * C], mean[B], rstd[B];
    float out_p[B * C], out_m[B * C], tout[B * C], shifted[B * C];
    fill(in, B * C, 21, 2.0f);
    fill(tin, B * C, 22, 1.0f);
    fill(w, C, 23, 1.5f);
    fill(bias, C, 24, 1.0f);
    fill(g, B * C, 25, 1.0f);
    snet_layernorm_forward(out_p, mean, rstd, in, w, bias, B, C);
    snet_layernorm_tangent_forward(tout, tin, in, w, mean, rstd, B, C);
    // tout = d/dε LayerNorm(in + ε tin) at ε = 0
    for (size_t i = 0; i < B * C; i++)
        shifted[i] = in[i] + FD_H * tin[i];
    snet_layernorm_forward(out_p, mean, rstd, shifted, w, bias, B, C);
    for (size_t i = 0; i < B * C; i++)
        shifted[i] = in[i] - FD_H * tin[i];
    snet_layernorm_forward(out_m, mean, rstd, shifted, w, bias, B, C);
    for (size_t i = 0; i < B * C; i++)
        check_close(KIND_LAYERNORM, ((double)out_p[i] - out_m[i]) / (2.0 * FD_H), tout[i],
                    "layernorm tout", i);

    // L = Σ g ⊙ tout through in (second-order), tin and the weight
    float din[B * C], dtin[B * C], dw[C];
    for (size_t i = 0; i < B * C; i++)
        din[i] = 0.5f, dtin[i] = -0.25f; // backward adds: start from non-zero
    for (size_t c = 0; c < C; c++)
        dw[c] = 1.0f;
    snet_layernorm_forward(out_p, mean, rstd, in, w, bias, B, C);
    snet_layernorm_tangent_backward(din, dtin, dw, g, tin, in, w, mean, rstd, B, C);
    float *vars[3] = {in, tin, w}, *grads[3] = {din, dtin, dw};
    float start[3] = {0.5f, -0.25f, 1.0f};
    size_t sizes[3] = {B * C, B * C, C};
    const char *names[3] = {"layernorm tangent din", "layernorm tangent dtin",
                            "layernorm tangent dweight"};
    for (int v = 0; v < 3; v++)
        for (size_t i = 0; i < sizes[v]; i++) {
            float keep = vars[v][i];
            vars[v][i] = keep + FD_H;
            snet_layernorm_forward(out_p, mean, rstd, in, w, bias, B, C);
            snet_layernorm_tangent_forward(tout, tin, in, w, mean, rstd, B, C);
            double lp = wsum(tout, g, B * C);
            vars[v][i] = keep - FD_H;
            snet_layernorm_forward(out_p, mean, rstd, in, w, bias, B, C);
            snet_layernorm_tangent_forward(tout, tin, in, w, mean, rstd, B, C);
            double lm = wsum(tout, g, B * C);
            vars[v][i] = keep;
            check_close(KIND_LAYERNORM, (lp - lm) / (2.0 * FD_H), grads[v][i] - start[v], names[v], i);
        }
    // the tangent is invariant under shifting a row of in: Σ_c ∂L/∂in = 0 per row
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t c = 0; c < C; c++)
            s += din[b * C + c] - 0.5;
        ck_assert_double_eq_tol(s, 0.0, 1e-5);
    }
}
END_TEST

/* ---- the MLP: variants SDE kind × LayerNorm (0..5) and one without blocks (6) --------------------- */

enum { N_VARIANTS = 7 };

static void tiny_config(snet_config *cfg, int variant)
{
    snet_sde_kind sde = (snet_sde_kind)(1 + variant % 3);
    snet_config_default(cfg, SNET_ARCH_MLP, 3, 1, 1, sde);
    cfg->hidden = 8;
    cfg->n_blocks = variant == 6 ? 0 : 2;
    cfg->n_fourier = 4;
    cfg->fourier_scale = 1.0f;
    cfg->layer_norm = variant == 6 ? 1 : (uint32_t)(variant / 3);
}

/* default init (seed 7) plus U(±0.5) everywhere: the default zeroes fc2, which would hide bugs */
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

START_TEST(test_mlp_tangent_forward_is_the_directional_derivative)
{
    snet_model *m = tiny_model(_i);
    const snet_config *cfg = &m->cfg;
    const snet_arch_ops *ops = m->arch;
    ck_assert_ptr_nonnull(ops->tangent_forward);
    enum { B = 3, D = 3 };
    ck_assert_uint_eq(snet_config_dim(cfg), D);
    float x[B * D], v[B * D], t[B] = {0.05f, 0.5f, 0.93f};
    float out[B * D], tout[B * D], out_ref[B * D], out_p[B * D], out_m[B * D], xs[B * D];
    fill(x, B * D, 31, 1.5f);
    fill(v, B * D, 32, 1.0f);
    float *acts = malloc(ops->tangent_act_size(cfg, B) * sizeof(float));
    float *acts_ref = malloc(ops->act_size(cfg, B) * sizeof(float));
    ops->tangent_forward(cfg, m->params, B, x, t, v, out, tout, acts);
    ops->forward(cfg, m->params, B, x, t, out_ref, acts_ref);
    ck_assert_int_eq(memcmp(out, out_ref, sizeof out), 0); // the primal output, bit for bit
    for (size_t i = 0; i < B * D; i++)
        xs[i] = x[i] + FD_H * v[i];
    ops->forward(cfg, m->params, B, xs, t, out_p, acts_ref);
    for (size_t i = 0; i < B * D; i++)
        xs[i] = x[i] - FD_H * v[i];
    ops->forward(cfg, m->params, B, xs, t, out_m, acts_ref);
    for (size_t i = 0; i < B * D; i++)
        check_close(KIND_TOUT, ((double)out_p[i] - out_m[i]) / (2.0 * FD_H), tout[i], "mlp tout", i);
    // linear in v: the tangent along 2v is twice the tangent along v
    float v2[B * D], tout2[B * D];
    for (size_t i = 0; i < B * D; i++)
        v2[i] = 2.0f * v[i];
    ops->tangent_forward(cfg, m->params, B, x, t, v2, out, tout2, acts);
    for (size_t i = 0; i < B * D; i++)
        ck_assert_double_eq_tol(tout2[i], 2.0 * tout[i], 1e-5 * fmax(1.0, fabs(tout[i])));
    free(acts);
    free(acts_ref);
    snet_model_free(m);
}
END_TEST

/* L = Σ a ⊙ out + Σ b ⊙ tout of one tangent pass, in double */
static double tangent_loss(const snet_model *m, size_t B, const float *x, const float *t,
                           const float *v, const float *a, const float *b, float *out, float *tout,
                           float *acts)
{
    size_t n = B * snet_config_dim(&m->cfg);
    m->arch->tangent_forward(&m->cfg, m->params, B, x, t, v, out, tout, acts);
    return wsum(out, a, n) + wsum(tout, b, n);
}

START_TEST(test_mlp_tangent_backward_matches_finite_differences_for_every_parameter)
{
    snet_model *m = tiny_model(_i);
    const snet_config *cfg = &m->cfg;
    const snet_arch_ops *ops = m->arch;
    ck_assert_ptr_nonnull(ops->tangent_backward);
    enum { B = 3, D = 3 };
    float x[B * D], v[B * D], t[B] = {0.05f, 0.5f, 0.93f}, a[B * D], b[B * D];
    float out[B * D], tout[B * D];
    fill(x, B * D, 41, 1.5f);
    fill(v, B * D, 42, 1.0f);
    fill(a, B * D, 43, 1.0f);
    fill(b, B * D, 44, 1.0f);
    float *acts = malloc(ops->tangent_act_size(cfg, B) * sizeof(float));
    float *scratch = malloc(ops->tangent_scratch_size(cfg, B) * sizeof(float));
    float *dparams = malloc(m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++)
        dparams[i] = 0.25f; // backward adds: start from non-zero
    ops->tangent_forward(cfg, m->params, B, x, t, v, out, tout, acts);
    ops->tangent_backward(cfg, m->params, B, x, t, v, acts, a, b, dparams, scratch);

    size_t n_checked = 0;
    for (size_t k = 0; k < m->n_tensors; k++) {
        const snet_tensor *e = &m->tensors[k];
        for (size_t j = 0; j < e->size; j++) {
            size_t i = e->offset + j;
            double an = (double)dparams[i] - 0.25;
            if (!e->trainable) { // fixed Fourier frequencies: no gradient, untouched
                ck_assert_float_eq(dparams[i], 0.25f);
                continue;
            }
            float keep = m->params[i];
            m->params[i] = keep + FD_H;
            double lp = tangent_loss(m, B, x, t, v, a, b, out, tout, acts);
            m->params[i] = keep - FD_H;
            double lm = tangent_loss(m, B, x, t, v, a, b, out, tout, acts);
            m->params[i] = keep;
            check_close(KIND_DPARAMS, (lp - lm) / (2.0 * FD_H), an, e->name, j);
            n_checked++;
        }
    }
    ck_assert_uint_eq(n_checked, snet_model_n_trainable(m));

    // with dtout = 0 it is the primal backward's parameter gradient
    float zero[B * D] = {0};
    float *dp_tangent = calloc(m->n_params, sizeof(float)), *dp_primal = calloc(m->n_params, sizeof(float));
    float *scratch_primal = malloc(ops->scratch_size(cfg, B) * sizeof(float));
    ops->tangent_forward(cfg, m->params, B, x, t, v, out, tout, acts);
    ops->tangent_backward(cfg, m->params, B, x, t, v, acts, a, zero, dp_tangent, scratch);
    ops->forward(cfg, m->params, B, x, t, out, acts);
    ops->backward(cfg, m->params, B, x, t, acts, a, dp_primal, NULL, scratch_primal);
    for (size_t i = 0; i < m->n_params; i++)
        ck_assert_double_eq_tol(dp_tangent[i], dp_primal[i], 1e-5 * fmax(1.0, fabs(dp_primal[i])));
    free(dp_tangent);
    free(dp_primal);
    free(scratch_primal);
    free(acts);
    free(scratch);
    free(dparams);
    snet_model_free(m);
}
END_TEST

/* ---- the model's JVP -------------------------------------------------------------------------------- */

START_TEST(test_score_jvp_is_the_directional_derivative_of_the_score)
{
    snet_model *m = tiny_model(_i);
    enum { B = 3, D = 3 };
    snet_workspace *ws = snet_workspace_alloc(m, B); // exactly B: the tangent pass must fit
    ck_assert_ptr_nonnull(ws);
    float x[B * D], v[B * D], t[B] = {0.02f, 0.4f, 1.0f}, s[B * D], s_ref[B * D], jvp[B * D];
    float xs[B * D], sp[B * D], sm[B * D];
    fill(x, B * D, 51, 1.0f);
    fill(v, B * D, 52, 1.0f);
    ck_assert_int_eq(snet_model_score_jvp(m, ws, B, t, x, v, s, jvp), SNET_OK);
    ck_assert_int_eq(snet_model_score(m, ws, B, t, x, s_ref), SNET_OK);
    for (size_t i = 0; i < B * D; i++)
        ck_assert_double_eq_tol(s[i], s_ref[i], 1e-6 * fmax(1.0, fabs(s_ref[i])));
    for (size_t i = 0; i < B * D; i++)
        xs[i] = x[i] + FD_H * v[i];
    ck_assert_int_eq(snet_model_score(m, ws, B, t, xs, sp), SNET_OK);
    for (size_t i = 0; i < B * D; i++)
        xs[i] = x[i] - FD_H * v[i];
    ck_assert_int_eq(snet_model_score(m, ws, B, t, xs, sm), SNET_OK);
    // per sample, relative to its own score scale c(t) (up to 1/σ_min = 100 at small t)
    for (size_t b = 0; b < B; b++) {
        double c = fabs(snet_model_output_scale(m, t[b]));
        for (size_t d = 0; d < D; d++) {
            size_t i = b * D + d;
            double fd = ((double)sp[i] - sm[i]) / (2.0 * FD_H);
            check_close(KIND_JVP, fd / c, jvp[i] / c, "score jvp", i);
        }
    }
    // score may be NULL
    float jvp2[B * D];
    ck_assert_int_eq(snet_model_score_jvp(m, ws, B, t, x, v, NULL, jvp2), SNET_OK);
    ck_assert_int_eq(memcmp(jvp, jvp2, sizeof jvp), 0);
    snet_workspace_free(ws);
    snet_model_free(m);
}
END_TEST

START_TEST(test_score_jvp_rejects_bad_batches_and_architectures_without_a_tangent_pass)
{
    snet_model *m = tiny_model(3);
    enum { B = 2, D = 3 };
    snet_workspace *ws = snet_workspace_alloc(m, B);
    ck_assert_ptr_nonnull(ws);
    float x[(B + 1) * D], v[(B + 1) * D], t[B + 1] = {0.5f, 0.5f, 0.5f}, s[(B + 1) * D], jvp[(B + 1) * D];
    fill(x, (B + 1) * D, 61, 1.0f);
    fill(v, (B + 1) * D, 62, 1.0f);
    ck_assert_int_eq(snet_model_score_jvp(m, ws, 0, t, x, v, s, jvp), SNET_EINVAL);
    ck_assert_int_eq(snet_model_score_jvp(m, ws, B + 1, t, x, v, s, jvp), SNET_EINVAL);
    ck_assert_int_eq(snet_model_score_jvp(m, ws, B, t, x, v, s, jvp), SNET_OK);
    x[1] = NAN;
    ck_assert_int_eq(snet_model_score_jvp(m, ws, B, t, x, v, s, jvp), SNET_ENONFINITE);
    x[1] = 0.0f;
    v[4] = INFINITY;
    ck_assert_int_eq(snet_model_score_jvp(m, ws, B, t, x, v, NULL, jvp), SNET_ENONFINITE);
    v[4] = 0.0f;
    // the same model behind an architecture table without the tangent pass (as the U-Net's)
    snet_arch_ops no_tangent = *m->arch;
    no_tangent.tangent_act_size = NULL;
    no_tangent.tangent_scratch_size = NULL;
    no_tangent.tangent_forward = NULL;
    no_tangent.tangent_backward = NULL;
    snet_model plain = *m;
    plain.arch = &no_tangent;
    snet_workspace *ws_plain = snet_workspace_alloc(&plain, B);
    ck_assert_ptr_nonnull(ws_plain);
    ck_assert_int_eq(snet_model_score_jvp(&plain, ws_plain, B, t, x, v, s, jvp), SNET_EINVAL);
    ck_assert_int_eq(snet_model_score(&plain, ws_plain, B, t, x, s), SNET_OK);
    snet_workspace_free(ws_plain);
    snet_workspace_free(ws);
    snet_model_free(m);
}
END_TEST

static void report(void)
{
    printf("largest finite-difference relative error seen (bound %.1e):\n", FD_TOL);
    for (int k = 0; k < N_KINDS; k++)
        printf("  %-18s %.3e\n", kind_names[k], kind_max[k]);
}

int main(void)
{
    Suite *s = suite_create("scorenet_tangent");
    TCase *tc = tcase_create("tangent");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_silu_tangent_matches_closed_form_and_finite_differences);
    tcase_add_test(tc, test_layernorm_tangent_matches_finite_differences);
    tcase_add_loop_test(tc, test_mlp_tangent_forward_is_the_directional_derivative, 0, N_VARIANTS);
    tcase_add_loop_test(tc, test_mlp_tangent_backward_matches_finite_differences_for_every_parameter,
                        0, N_VARIANTS);
    tcase_add_loop_test(tc, test_score_jvp_is_the_directional_derivative_of_the_score, 0, N_VARIANTS);
    tcase_add_test(tc, test_score_jvp_rejects_bad_batches_and_architectures_without_a_tangent_pass);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    report();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
