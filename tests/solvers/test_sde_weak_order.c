/* test_sde_weak_order.c — weak convergence on Ornstein–Uhlenbeck moments.
 *
 *   dX = −θ X dt + σ dW, X(0) = x0:  E X_T = x0 e^{−θT},  Var X_T = σ²(1 − e^{−2θT})/(2θ).
 *
 * Euler–Maruyama's own moments are known in closed form too (r = 1 − θh, N steps):
 *   E X_N = x0 r^N,  Var X_N = σ² h (1 − r^{2N})/(1 − r²),
 * so the sample moments are checked against them within 5 standard errors (the simulated law is
 * EM's exactly), and the weak error |E X_N − E X_T| + |Var X_N − Var X_T| must fall with slope
 * 1 ± 0.15 in h.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "slv_sde.h"
#include "test_sde_problems.h"

#define N_PATHS 400000
#define N_GROUPS 20
#define N_LEVELS 4

static ou_params ou = {.theta = 1.0, .sigma = 1.0};
static const double x0 = 1.0, T = 1.0;

static slv_sde ou_system(void)
{
    slv_sde sys = {.drift = ou_drift,
                   .diffusion = ou_diffusion,
                   .dim = 1,
                   .noise_dim = 1,
                   .noise = SLV_NOISE_SCALAR,
                   .additive = 1,
                   .params = &ou};
    return sys;
}

static void solve_ou(const slv_sde_step_type *type, size_t steps, double *x)
{
    slv_sde sys = ou_system();
    slv_sde_solver *s = slv_sde_solver_alloc(type, &sys, N_PATHS);
    ck_assert_ptr_nonnull(s);
    slv_sde_solver_set_seed(s, 777, 0);
    slv_sde_solver_set_threads(s, 1);
    for (size_t p = 0; p < N_PATHS; p++)
        x[p] = x0;
    int rc = slv_sde_solver_solve_fixed(s, 0.0, T, steps, x, NULL);
    ck_assert_msg(rc == SLV_OK, "%s", slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
}

static void moments(const double *x, size_t from, size_t to, double *mean, double *var)
{
    double s1 = 0.0, s2 = 0.0;
    for (size_t p = from; p < to; p++)
        s1 += x[p];
    *mean = s1 / (double)(to - from);
    for (size_t p = from; p < to; p++)
        s2 += (x[p] - *mean) * (x[p] - *mean);
    *var = s2 / (double)(to - from - 1);
}

START_TEST(test_em_weak_order_on_ou_moments_is_one)
{
    const double exact_mean = x0 * exp(-ou.theta * T);
    const double exact_var = ou.sigma * ou.sigma * (1.0 - exp(-2.0 * ou.theta * T)) / (2.0 * ou.theta);
    double *x = malloc(N_PATHS * sizeof(double));
    double log_h[N_LEVELS], werr[N_LEVELS], group_err[N_LEVELS][N_GROUPS];
    for (size_t l = 0; l < N_LEVELS; l++) {
        size_t steps = (size_t)4 << l; /* h = 1/4 .. 1/32 */
        double h = T / (double)steps, r = 1.0 - ou.theta * h;
        solve_ou(slv_sde_step_em, steps, x);
        double mean, var;
        moments(x, 0, N_PATHS, &mean, &var);
        double em_mean = x0 * pow(r, (double)steps);
        double em_var = ou.sigma * ou.sigma * h * (1.0 - pow(r, 2.0 * steps)) / (1.0 - r * r);
        double se_mean = sqrt(em_var / N_PATHS), se_var = em_var * sqrt(2.0 / N_PATHS);
        printf("em, h = 1/%zu: mean %.5f (EM law %.5f ± %.5f, exact %.5f), var %.5f (EM law "
               "%.5f ± %.5f, exact %.5f)\n",
               steps, mean, em_mean, se_mean, exact_mean, var, em_var, se_var, exact_var);
        ck_assert_msg(fabs(mean - em_mean) < 5.0 * se_mean, "h = 1/%zu: mean %g, EM's law %g",
                      steps, mean, em_mean);
        ck_assert_msg(fabs(var - em_var) < 5.0 * se_var, "h = 1/%zu: var %g, EM's law %g", steps,
                      var, em_var);
        log_h[l] = log(h);
        werr[l] = log(fabs(mean - exact_mean) + fabs(var - exact_var));
        size_t per = N_PATHS / N_GROUPS;
        for (size_t g = 0; g < N_GROUPS; g++) {
            moments(x, g * per, (g + 1) * per, &mean, &var);
            group_err[l][g] = log(fabs(mean - exact_mean) + fabs(var - exact_var));
        }
    }
    double slope = ls_slope(log_h, werr, N_LEVELS);
    double s1 = 0.0, s2 = 0.0;
    for (size_t g = 0; g < N_GROUPS; g++) {
        double y[N_LEVELS];
        for (size_t l = 0; l < N_LEVELS; l++)
            y[l] = group_err[l][g];
        double sg = ls_slope(log_h, y, N_LEVELS);
        s1 += sg;
        s2 += sg * sg;
    }
    double gm = s1 / N_GROUPS;
    double se = sqrt((s2 - N_GROUPS * gm * gm) / (N_GROUPS - 1) / N_GROUPS);
    printf("em weak order on OU moments: %.3f ± %.3f (theory 1)\n", slope, se);
    ck_assert_msg(se < 0.1, "standard error of the weak order %g", se);
    ck_assert_msg(fabs(slope - 1.0) <= 0.15, "EM weak order %.3f ± %.3f, expected 1 ± 0.15", slope,
                  se);
    free(x);
}
END_TEST

/* At a fine step the higher-order methods' bias is far below the Monte Carlo error: their sample
 * moments must match the exact ones within 5 standard errors. */
START_TEST(test_sra_and_sri_moments_match_ou_closed_form)
{
    const slv_sde_step_type *types[] = {slv_sde_step_sra1, slv_sde_step_sra3, slv_sde_step_sriw1,
                                        slv_sde_step_sriw2};
    const slv_sde_step_type *type = types[_i];
    const double exact_mean = x0 * exp(-ou.theta * T);
    const double exact_var = ou.sigma * ou.sigma * (1.0 - exp(-2.0 * ou.theta * T)) / (2.0 * ou.theta);
    double *x = malloc(N_PATHS * sizeof(double));
    solve_ou(type, 32, x);
    double mean, var;
    moments(x, 0, N_PATHS, &mean, &var);
    double se_mean = sqrt(exact_var / N_PATHS), se_var = exact_var * sqrt(2.0 / N_PATHS);
    printf("%s, h = 1/32: mean %.5f (exact %.5f ± %.5f), var %.5f (exact %.5f ± %.5f)\n",
           type->name, mean, exact_mean, se_mean, var, exact_var, se_var);
    ck_assert_msg(fabs(mean - exact_mean) < 5.0 * se_mean, "%s: mean %g, exact %g", type->name,
                  mean, exact_mean);
    ck_assert_msg(fabs(var - exact_var) < 5.0 * se_var, "%s: var %g, exact %g", type->name, var,
                  exact_var);
    free(x);
}
END_TEST

static Suite *weak_suite(void)
{
    Suite *s = suite_create("sde_weak_order");
    TCase *tc = tcase_create("ou");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_em_weak_order_on_ou_moments_is_one);
    tcase_add_loop_test(tc, test_sra_and_sri_moments_match_ou_closed_form, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(weak_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
