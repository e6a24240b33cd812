/* test_process.c — the three forward processes (sgm_process.h) against independent computations:
 * the closed-form mean coefficient m(t) and std s(t) against a high-accuracy numerical integration
 * of the forward SDE's moment equations (GSL rk8pd, tolerance 1e-12), which only uses the drift
 * coefficient a(t) and g(t)²:
 *     m' = a m,  m(0) = 1;      V' = 2 a V + g²,  V(0) = s(0)²  (σ_min² for VE, 0 otherwise);
 * the discretisations (SMLD, DDPM, Euler–Maruyama) against their defining recurrences; the prior's
 * log-density against GSL's Gaussian density and its sampler against its moments. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <gsl/gsl_randist.h>

#include "sgm_process.h"

static const sgm_process_kind kinds[] = {SGM_PROCESS_VE, SGM_PROCESS_VP, SGM_PROCESS_SUBVP};

static int moment_rhs(double t, const double y[], double dydt[], void *params)
{
    const sgm_process *p = params;
    double a = sgm_process_drift_coef(p, t), g2 = sgm_process_diffusion_sq(p, t);
    dydt[0] = a * y[0];
    dydt[1] = 2.0 * a * y[1] + g2;
    return GSL_SUCCESS;
}

START_TEST(test_marginals_match_forward_moment_equations)
{
    sgm_process p;
    sgm_process_init(&p, kinds[_i]);
    double s0 = sgm_process_std(&p, 0.0);
    ck_assert_double_eq_tol(s0, p.kind == SGM_PROCESS_VE ? p.sigma_min : 0.0, 1e-15);
    gsl_odeiv2_system sys = {moment_rhs, NULL, 2, &p};
    gsl_odeiv2_driver *drv =
        gsl_odeiv2_driver_alloc_y_new(&sys, gsl_odeiv2_step_rk8pd, 1e-6, 1e-13, 1e-13);
    double y[2] = {1.0, s0 * s0}, t = 0.0;
    const double checkpoints[] = {1e-3, 0.01, 0.1, 0.3, 0.5, 0.8, 1.0};
    for (size_t c = 0; c < sizeof checkpoints / sizeof checkpoints[0]; c++) {
        ck_assert_int_eq(gsl_odeiv2_driver_apply(drv, &t, checkpoints[c], y), GSL_SUCCESS);
        double m = sgm_process_mean_coef(&p, t), s = sgm_process_std(&p, t);
        /* Relative 1e-8: the integrator is run at 1e-13. */
        ck_assert_msg(fabs(m - y[0]) <= 1e-8 * fabs(y[0]), "%s m(%g) = %.15g, ODE %.15g",
                      sgm_process_kind_name(p.kind), t, m, y[0]);
        ck_assert_msg(fabs(s * s - y[1]) <= 1e-8 * fabs(y[1]) + 1e-14,
                      "%s s(%g)^2 = %.15g, ODE %.15g", sgm_process_kind_name(p.kind), t, s * s, y[1]);
        double g = sgm_process_diffusion(&p, t);
        ck_assert_double_eq_tol(g * g, sgm_process_diffusion_sq(&p, t), 1e-12 * g * g);
    }
    gsl_odeiv2_driver_free(drv);
}
END_TEST

START_TEST(test_closed_forms_of_the_reference_sheet)
{
    /* Spot values computed by hand from the sheet's table. */
    sgm_process ve, vp, sub;
    sgm_process_init(&ve, SGM_PROCESS_VE);
    sgm_process_init(&vp, SGM_PROCESS_VP);
    sgm_process_init(&sub, SGM_PROCESS_SUBVP);
    ck_assert_double_eq_tol(sgm_process_sigma(&ve, 0.5), 0.01 * sqrt(5000.0), 1e-12);
    ck_assert_double_eq_tol(sgm_process_diffusion(&ve, 1.0), 50.0 * sqrt(2.0 * log(5000.0)), 1e-10);
    double L1 = -0.25 * (20.0 - 0.1) - 0.5 * 0.1; /* L(1) = −5.025 */
    ck_assert_double_eq_tol(sgm_process_mean_coef(&vp, 1.0), exp(L1), 1e-15);
    ck_assert_double_eq_tol(sgm_process_std(&vp, 1.0), sqrt(1.0 - exp(2.0 * L1)), 1e-15);
    ck_assert_double_eq_tol(sgm_process_std(&sub, 1.0), 1.0 - exp(2.0 * L1), 1e-15);
    ck_assert_double_eq_tol(sgm_process_diffusion_sq(&sub, 1.0),
                            20.0 * (1.0 - exp(-2.0 * 0.1 - (20.0 - 0.1))), 1e-12);
    ck_assert_double_eq_tol(sgm_process_drift_coef(&vp, 0.5), -0.5 * (0.1 + 0.5 * 19.9), 1e-15);
    ck_assert_double_eq(sgm_process_drift_coef(&ve, 0.5), 0.0);
    ck_assert_double_eq(sgm_process_default_eps(&ve), 1e-5);
    ck_assert_double_eq(sgm_process_default_eps(&vp), 1e-3);
    ck_assert_double_eq(sgm_process_default_eps(&sub), 1e-3);
    ck_assert_double_eq(sgm_process_prior_std(&ve), 50.0);
    ck_assert_double_eq(sgm_process_prior_std(&vp), 1.0);
    ck_assert_uint_eq(vp.N, 1000);
}
END_TEST

START_TEST(test_smld_discretisation)
{
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VE);
    p.N = 50;
    double var = 0.0;
    for (size_t i = 0; i < p.N; i++) {
        double expect = exp(log(p.sigma_min) + (double)i * (log(p.sigma_max) - log(p.sigma_min)) / 49.0);
        ck_assert_double_eq_tol(sgm_process_discrete_sigma(&p, i), expect, 1e-12 * expect);
        double f, G;
        ck_assert_int_eq(sgm_process_discretize(&p, i, 0.0, &f, &G), SLV_OK);
        ck_assert_double_eq(f, 0.0);
        /* x_i = x_{i−1} + √(σ_i² − σ_{i−1}²) z: the chain's added variance telescopes to σ_i². */
        var += G * G;
        ck_assert_double_eq_tol(var, expect * expect, 1e-10 * expect * expect);
    }
    ck_assert_double_eq_tol(sgm_process_discrete_sigma(&p, 0), p.sigma_min, 1e-15);
    ck_assert_double_eq_tol(sgm_process_discrete_sigma(&p, p.N - 1), p.sigma_max, 1e-12);
    double f, G;
    ck_assert_int_eq(sgm_process_discretize(&p, p.N, 0.0, &f, &G), SLV_EINVAL);
    ck_assert(isnan(sgm_process_discrete_beta(&p, 0)));
}
END_TEST

START_TEST(test_ddpm_discretisation)
{
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    const double N = (double)p.N;
    double log_mean = 0.0;
    for (size_t i = 0; i < p.N; i++) {
        /* linspace(β_min/N, β_max/N, N) */
        double expect = p.beta_min / N + (double)i * (p.beta_max / N - p.beta_min / N) / (N - 1.0);
        double beta = sgm_process_discrete_beta(&p, i);
        ck_assert_double_eq_tol(beta, expect, 1e-15);
        double f, G;
        ck_assert_int_eq(sgm_process_discretize(&p, i, 0.0, &f, &G), SLV_OK);
        /* x + f·x + G z must equal √(1 − β) x + √β z. */
        ck_assert_double_eq_tol(1.0 + f, sqrt(1.0 - beta), 1e-15);
        ck_assert_double_eq_tol(G, sqrt(beta), 1e-15);
        log_mean += 0.5 * log(1.0 - beta);
    }
    /* Σ β_i = (β_min + β_max)/2 = ∫_0^1 β(t) dt: to first order the chain's log mean factor
     * ½ Σ log(1 − β_i) is L(1), the continuous process's. */
    double sum = 0.0;
    for (size_t i = 0; i < p.N; i++)
        sum += sgm_process_discrete_beta(&p, i);
    ck_assert_double_eq_tol(sum, 0.5 * (p.beta_min + p.beta_max), 1e-12);
    ck_assert_double_eq_tol(-0.5 * sum, log(sgm_process_mean_coef(&p, 1.0)), 1e-12);
    ck_assert(log_mean < -0.5 * sum); /* higher-order terms all push the same way */
}
END_TEST

START_TEST(test_subvp_discretisation_is_euler_maruyama)
{
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_SUBVP);
    const double t = 0.37, dt = 1.0 / (double)p.N;
    double f, G;
    ck_assert_int_eq(sgm_process_discretize(&p, 123, t, &f, &G), SLV_OK);
    ck_assert_double_eq_tol(f, sgm_process_drift_coef(&p, t) * dt, 1e-15);
    ck_assert_double_eq_tol(G, sgm_process_diffusion(&p, t) * sqrt(dt), 1e-15);
    /* The discrete index of the official code: floor(t (N − 1)/T). */
    ck_assert_uint_eq(sgm_process_discrete_index(&p, 1.0), 999);
    ck_assert_uint_eq(sgm_process_discrete_index(&p, 0.0), 0);
    ck_assert_uint_eq(sgm_process_discrete_index(&p, 1e-3), 0);
    ck_assert_uint_eq(sgm_process_discrete_index(&p, 0.5), 499);
}
END_TEST

START_TEST(test_prior_log_density_and_sampling)
{
    sgm_process p;
    sgm_process_init(&p, kinds[_i]);
    const size_t n = 20000, d = 3;
    double *x = malloc(n * d * sizeof *x), *logp = malloc(n * sizeof *logp);
    ck_assert_int_eq(sgm_process_prior_sample(&p, n, d, 42, 0, x), SLV_OK);
    double sd = sgm_process_prior_std(&p), sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n * d; i++) {
        sum += x[i];
        sq += x[i] * x[i];
    }
    double N = (double)(n * d), mean = sum / N, var = sq / N - mean * mean;
    /* 4 standard errors: mean sd/√N, variance sd²·√(2/N). */
    ck_assert_msg(fabs(mean) < 4.0 * sd / sqrt(N), "prior mean %g", mean);
    ck_assert_msg(fabs(var - sd * sd) < 4.0 * sd * sd * sqrt(2.0 / N), "prior var %g vs %g", var,
                  sd * sd);
    sgm_process_prior_logp(&p, 5, d, x, logp);
    for (size_t i = 0; i < 5; i++) {
        double expect = 0.0;
        for (size_t j = 0; j < d; j++)
            expect += log(gsl_ran_gaussian_pdf(x[i * d + j], sd));
        ck_assert_double_eq_tol(logp[i], expect, 1e-12 * fabs(expect) + 1e-12);
    }
    /* A sample's numbers depend on its global index only. */
    double *y = malloc(4 * d * sizeof *y);
    ck_assert_int_eq(sgm_process_prior_sample(&p, 4, d, 42, 7, y), SLV_OK);
    ck_assert_mem_eq(y, x + 7 * d, 4 * d * sizeof *y);
    free(x);
    free(logp);
    free(y);
}
END_TEST

START_TEST(test_names_and_validation)
{
    for (size_t k = 0; k < 3; k++) {
        sgm_process_kind parsed;
        ck_assert_int_eq(sgm_process_kind_parse(sgm_process_kind_name(kinds[k]), &parsed), SLV_OK);
        ck_assert_int_eq(parsed, kinds[k]);
    }
    sgm_process_kind parsed;
    ck_assert_int_eq(sgm_process_kind_parse("sub-vp", &parsed), SLV_OK);
    ck_assert_int_eq(parsed, SGM_PROCESS_SUBVP);
    ck_assert_int_eq(sgm_process_kind_parse("vpsde", &parsed), SLV_EINVAL);

    sgm_process p;
    slv_error err;
    sgm_process_init(&p, SGM_PROCESS_VE);
    ck_assert_int_eq(sgm_process_validate(&p, &err), SLV_OK);
    p.sigma_max = 0.001;
    ck_assert_int_eq(sgm_process_validate(&p, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "sigma_max = 0.001"));
    sgm_process_init(&p, SGM_PROCESS_VP);
    p.beta_max = NAN;
    ck_assert_int_eq(sgm_process_validate(&p, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "beta_max"));
    sgm_process_init(&p, SGM_PROCESS_SUBVP);
    p.N = 1;
    ck_assert_int_eq(sgm_process_validate(&p, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "N = 1"));
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("sde_process");
    TCase *tc = tcase_create("process");
    tcase_add_loop_test(tc, test_marginals_match_forward_moment_equations, 0, 3);
    tcase_add_test(tc, test_closed_forms_of_the_reference_sheet);
    tcase_add_test(tc, test_smld_discretisation);
    tcase_add_test(tc, test_ddpm_discretisation);
    tcase_add_test(tc, test_subvp_discretisation_is_euler_maruyama);
    tcase_add_loop_test(tc, test_prior_log_density_and_sampling, 0, 3);
    tcase_add_test(tc, test_names_and_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(process_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
