/* test_likelihood.c — the probability-flow likelihood (sgm_likelihood.h) and the ODE's encoder and
 * decoder against the mixture oracle:
 *  - exact trace: log p_eps(x) from the ODE equals the closed-form log-density of the mixture at
 *    eps within 0.01 nats, in 2-D and 10-D, for VP and sub-VP at rtol = atol = 1e-6 — once with
 *    β_max = 40 and the N(0, I) prior (p_T mismatch ≤ 1e-3 nats), once with the
 *    default β_max = 20 and the exact log p_T as terminal density; VE likewise with the exact
 *    terminal density;
 *  - Skilling–Hutchinson (Gaussian and Rademacher probes, one per point): over R points that are
 *    copies of one x (each with its own probe) the mean estimate is within 3 standard errors
 *    (sample sd/√R) of the exact-trace value;
 *  - a model with only `score`: finite-difference divergence within 0.01 nats, flagged;
 *  - encode then decode returns the input within 1e-4 relative error at rtol = atol = 1e-6;
 *  - bits/dim offsets, dequantisation, slerp. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sde_test_util.h"
#include "sgm_likelihood.h"
#include "sgm_sampler.h"

/* A 10-D, 3-component mixture. */
static sgm_gmm *mixture_10d(void)
{
    const size_t d = 10, K = 3;
    double w[3] = {0.45, 0.35, 0.2}, mu[30], sd[30];
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < d; j++) {
            mu[k * d + j] = 2.5 * sin(1.3 * (double)(k + 1) * (double)(j + 1)) + (double)k;
            sd[k * d + j] = 0.5 + 0.05 * (double)((j + 3 * k) % 7);
        }
    sgm_gmm *g = sgm_gmm_alloc(d, K);
    ck_assert_int_eq(sgm_gmm_set(g, w, mu, sd, NULL), SLV_OK);
    return g;
}

typedef struct terminal_params {
    const sgm_gmm *g;
    const sgm_process *p;
} terminal_params;

static int exact_terminal(size_t n, size_t d, const double *z, double *logp, void *params)
{
    (void)d;
    const terminal_params *tp = params;
    return sgm_gmm_log_density(tp->g, tp->p, tp->p->T, n, z, logp);
}

/* Cases: dimension (2 or 10) × process × (β_max = 40 with prior | exact terminal density). */
typedef struct lik_case {
    size_t dim;
    sgm_process_kind kind;
    int exact_terminal;
} lik_case;

static const lik_case lik_cases[] = {
    {2, SGM_PROCESS_VP, 0},    {2, SGM_PROCESS_SUBVP, 0},  {10, SGM_PROCESS_VP, 0},
    {10, SGM_PROCESS_SUBVP, 0}, {2, SGM_PROCESS_VP, 1},    {2, SGM_PROCESS_SUBVP, 1},
    {10, SGM_PROCESS_VP, 1},   {10, SGM_PROCESS_SUBVP, 1}, {2, SGM_PROCESS_VE, 1},
    {10, SGM_PROCESS_VE, 1},
};

START_TEST(test_exact_trace_likelihood_matches_closed_form)
{
    const lik_case *lc = &lik_cases[_i];
    sgm_gmm *g = lc->dim == 2 ? test_mixture_2d() : mixture_10d();
    const size_t d = g->dim, n = 24;
    sgm_process p;
    sgm_process_init(&p, lc->kind);
    if (!lc->exact_terminal)
        p.beta_max = 40.0;
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    terminal_params tp = {g, &p};
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    o.divergence = SGM_DIVERGENCE_EXACT;
    o.rtol = o.atol = 1e-6;
    if (lc->exact_terminal) {
        o.terminal_log_density = exact_terminal;
        o.terminal_params = &tp;
    }
    /* Points: 20 samples of p_eps, the component means, and a point between modes. */
    double *x = malloc(n * d * sizeof *x), logp[24], exact[24], bpd[24];
    size_t nfe[24];
    sgm_gmm_sample(g, &p, o.eps, 20, 5, 0, x, NULL);
    for (size_t k = 0; k < 3; k++)
        memcpy(x + (20 + k) * d, g->means + k * d, d * sizeof *x);
    for (size_t j = 0; j < d; j++)
        x[23 * d + j] = 0.5 * (g->means[j] + g->means[d + j]);
    sgm_stats stats;
    slv_error err;
    int status = sgm_likelihood(&p, &model.model, &o, n, x, 1, 0, logp, bpd, nfe, NULL, &stats, &err);
    ck_assert_msg(status == SLV_OK, "status %d: %s", status, err.message);
    ck_assert_int_eq(stats.fd_divergence, 0);
    sgm_gmm_log_density(g, &p, o.eps, n, x, exact);
    double max_err = 0.0;
    size_t nfe_sum = 0;
    for (size_t i = 0; i < n; i++) {
        max_err = fmax(max_err, fabs(logp[i] - exact[i]));
        nfe_sum += nfe[i];
        ck_assert_msg(fabs(logp[i] - exact[i]) < 0.01, "%zu-D %s point %zu: ODE log p %.6f, exact %.6f",
                      d, sgm_process_kind_name(p.kind), i, logp[i], exact[i]);
        ck_assert_double_eq_tol(bpd[i], -logp[i] / ((double)d * M_LN2), 1e-12);
    }
    printf("likelihood %2zu-D %-5s %-22s: max |log p − exact| = %.2e nats, mean NFE %.0f\n", d,
           sgm_process_kind_name(p.kind), lc->exact_terminal ? "exact p_T terminal" : "beta_max 40, prior",
           max_err, (double)nfe_sum / (double)n);
    free(x);
    sgm_gmm_free(g);
}
END_TEST

/* A model with only the score: the likelihood falls back to finite differences and says so. */
static int score_only(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    const sgm_gmm_model *m = params;
    return m->model.score(t, n, d, x, out, (void *)m);
}

START_TEST(test_finite_difference_divergence_for_score_only_models)
{
    sgm_gmm *g = test_mixture_2d();
    const size_t d = 2, n = 6;
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    p.beta_max = 40.0;
    sgm_gmm_model full;
    sgm_gmm_model_init(&full, g, &p);
    sgm_score_model only = {.score = score_only, .dim = d, .params = &full};
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    o.divergence = SGM_DIVERGENCE_EXACT;
    o.rtol = o.atol = 1e-6;
    double x[12], logp[6], exact[6];
    sgm_gmm_sample(g, &p, o.eps, n, 8, 0, x, NULL);
    sgm_stats stats;
    slv_error err;
    ck_assert_int_eq(sgm_likelihood(&p, &only, &o, n, x, 1, 0, logp, NULL, NULL, NULL, &stats, &err), SLV_OK);
    ck_assert_int_eq(stats.fd_divergence, 1);
    sgm_gmm_log_density(g, &p, o.eps, n, x, exact);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(logp[i] - exact[i]) < 0.01, "FD point %zu: %.6f vs %.6f", i, logp[i], exact[i]);
    sgm_gmm_free(g);
}
END_TEST

/* Hutchinson: R copies of one point, each its own probe (probe streams are keyed by the point's
 * global index). Cases: 2-D/10-D × Gaussian/Rademacher × (VJP | finite differences). */
START_TEST(test_hutchinson_is_unbiased)
{
    const int ten = _i & 1, gaussian = (_i >> 1) & 1, fd = (_i >> 2) & 1;
    sgm_gmm *g = ten ? mixture_10d() : test_mixture_2d();
    const size_t d = g->dim, R = 300;
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    p.beta_max = 40.0;
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    sgm_score_model only = {.score = score_only, .dim = d, .params = &model};
    const sgm_score_model *used = fd ? &only : &model.model;
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    o.rtol = o.atol = 1e-6;
    double *x = malloc(R * d * sizeof *x), *logp = malloc(R * sizeof *logp), ref;
    /* A point between the first two modes, where the Jacobian has large off-diagonal terms. */
    for (size_t j = 0; j < d; j++)
        x[j] = 0.6 * g->means[j] + 0.4 * g->means[d + j];
    for (size_t r = 1; r < R; r++)
        memcpy(x + r * d, x, d * sizeof *x);
    o.divergence = SGM_DIVERGENCE_EXACT;
    ck_assert_int_eq(sgm_likelihood(&p, &model.model, &o, 1, x, 0, 0, &ref, NULL, NULL, NULL, NULL, NULL), SLV_OK);
    o.divergence = gaussian ? SGM_DIVERGENCE_GAUSSIAN : SGM_DIVERGENCE_RADEMACHER;
    slv_error err;
    sgm_stats stats;
    int status = sgm_likelihood(&p, used, &o, R, x, 77, 1000, logp, NULL, NULL, NULL, &stats, &err);
    ck_assert_msg(status == SLV_OK, "%s", err.message);
    ck_assert_int_eq(stats.fd_divergence, fd);
    double mean = 0.0, var = 0.0;
    for (size_t r = 0; r < R; r++)
        mean += logp[r];
    mean /= (double)R;
    for (size_t r = 0; r < R; r++)
        var += (logp[r] - mean) * (logp[r] - mean);
    var /= (double)(R - 1);
    double se = sqrt(var / (double)R);
    printf("hutchinson %2zu-D %-10s %s: mean %.5f ± %.5f (SE), exact trace %.5f, z = %.2f\n", d,
           gaussian ? "gaussian" : "rademacher", fd ? "fd " : "vjp", mean, se, ref, (mean - ref) / se);
    ck_assert_msg(se > 0.0, "probes gave identical estimates");
    ck_assert_msg(fabs(mean - ref) < 3.0 * se, "Hutchinson mean %.6f, exact %.6f, SE %.6f", mean, ref, se);
    free(x);
    free(logp);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_encode_then_decode_returns_input)
{
    const sgm_process_kind kind = (sgm_process_kind)(SGM_PROCESS_VE + _i % 3);
    const slv_batch_mode mode = _i < 3 ? SLV_BATCH_INDEPENDENT : SLV_BATCH_JOINT;
    sgm_gmm *g = test_mixture_2d();
    const size_t d = 2, n = 16;
    sgm_process p;
    sgm_process_init(&p, kind);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    o.rtol = o.atol = 1e-6;
    o.denoise = 0;
    o.batch_mode = mode;
    double x[32], z[32], back[32];
    sgm_gmm_sample(g, &p, sgm_process_default_eps(&p), n, 3, 0, x, NULL);
    size_t nfe_enc[16], nfe_dec[16];
    slv_error err;
    ck_assert_int_eq(sgm_encode(&p, &model.model, &o, n, x, z, nfe_enc, NULL, &err), SLV_OK);
    ck_assert_int_eq(sgm_decode(&p, &model.model, &o, n, z, 0, 0, back, nfe_dec, NULL, &err), SLV_OK);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double num = 0.0, den = 0.0;
        for (size_t j = 0; j < d; j++) {
            num += (back[i * d + j] - x[i * d + j]) * (back[i * d + j] - x[i * d + j]);
            den += x[i * d + j] * x[i * d + j];
        }
        worst = fmax(worst, sqrt(num / den));
    }
    printf("encode/decode %-5s %-11s: worst relative error %.2e, NFE %zu + %zu (sample 0)\n",
           sgm_process_kind_name(kind), mode == SLV_BATCH_JOINT ? "joint" : "independent", worst,
           nfe_enc[0], nfe_dec[0]);
    ck_assert_msg(worst < 1e-4, "round trip relative error %.3g", worst);
    /* The latents are prior-like: the sample std of z is the prior's within 50% for 16 points. */
    double sq = 0.0;
    for (size_t i = 0; i < n * d; i++)
        sq += z[i] * z[i];
    double sd = sqrt(sq / (double)(n * d)), prior = sgm_process_prior_std(&p);
    ck_assert_msg(sd > 0.5 * prior && sd < 1.5 * prior, "latent std %g, prior %g", sd, prior);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_bpd_offset_and_dequantisation)
{
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    ck_assert_double_eq(sgm_bpd_offset(&o), 0.0);
    o.bpd_levels = 256;
    o.bpd_data_width = 2.0; /* [−1, 1] */
    ck_assert_double_eq_tol(sgm_bpd_offset(&o), 7.0, 1e-15);
    o.bpd_data_width = 1.0; /* [0, 1] */
    ck_assert_double_eq_tol(sgm_bpd_offset(&o), 8.0, 1e-15);
    /* Pixels k/255 in [0, 1] → (k + u)/256. */
    const size_t n = 50, d = 4;
    double x[200], y[200];
    for (size_t i = 0; i < n * d; i++)
        x[i] = (double)((i * 37) % 256) / 255.0;
    memcpy(y, x, sizeof y);
    ck_assert_int_eq(sgm_dequantise(n, d, y, 0.0, 1.0, 256.0, 4, 0, 0), SLV_OK);
    for (size_t i = 0; i < n * d; i++) {
        double k = (double)((i * 37) % 256);
        ck_assert_msg(y[i] >= k / 256.0 && y[i] < (k + 1.0) / 256.0, "%g not in bin %g", y[i], k);
    }
    /* Batch-split independent, pass-dependent. */
    double z[8];
    memcpy(z, x + 10 * d, sizeof z);
    sgm_dequantise(2, d, z, 0.0, 1.0, 256.0, 4, 10, 0);
    ck_assert_mem_eq(z, y + 10 * d, sizeof z);
    memcpy(z, x + 10 * d, sizeof z);
    sgm_dequantise(2, d, z, 0.0, 1.0, 256.0, 4, 10, 1);
    ck_assert(memcmp(z, y + 10 * d, sizeof z) != 0);
    ck_assert_int_eq(sgm_dequantise(n, d, y, 0.0, 0.0, 256.0, 4, 0, 0), SLV_EINVAL);
}
END_TEST

START_TEST(test_slerp)
{
    const double z0[3] = {1.0, 0.0, 0.0}, z1[3] = {0.0, 2.0, 0.0};
    double out[15];
    sgm_slerp(3, z0, z1, 5, out);
    ck_assert_mem_eq(out, z0, sizeof z0);
    for (size_t j = 0; j < 3; j++)
        ck_assert_double_eq_tol(out[12 + j], z1[j], 1e-15);
    /* Equal angle steps of π/8 in the plane of z0, z1 (lengths interpolate as the slerp formula
     * says: at α = 1/2, both weights are sin(π/4)/sin(π/2)). */
    ck_assert_double_eq_tol(out[6], sin(M_PI / 4), 1e-15);
    ck_assert_double_eq_tol(out[7], 2.0 * sin(M_PI / 4), 1e-15);
    /* Parallel vectors: linear interpolation, no NaN. */
    const double z2[3] = {2.0, 0.0, 0.0};
    sgm_slerp(3, z0, z2, 3, out);
    ck_assert_double_eq_tol(out[3], 1.5, 1e-15);
}
END_TEST

static Suite *likelihood_suite(void)
{
    Suite *s = suite_create("sde_likelihood");
    TCase *tc = tcase_create("likelihood");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_exact_trace_likelihood_matches_closed_form, 0,
                        sizeof lik_cases / sizeof lik_cases[0]);
    tcase_add_test(tc, test_finite_difference_divergence_for_score_only_models);
    tcase_add_loop_test(tc, test_hutchinson_is_unbiased, 0, 8);
    tcase_add_loop_test(tc, test_encode_then_decode_returns_input, 0, 6);
    tcase_add_test(tc, test_bpd_offset_and_dequantisation);
    tcase_add_test(tc, test_slerp);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(likelihood_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
