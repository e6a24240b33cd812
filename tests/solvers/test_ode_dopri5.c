/* test_ode_dopri5.c — the dopri5 method is ARKODE's Dormand–Prince 5(4) table: one fixed step
 * agrees with the tableau written out from the literature (Dormand & Prince, J. Comput. Appl.
 * Math. 6 (1980); Hairer, Nørsett & Wanner, Solving ODEs I, Table II.5.2) to 1e-14, and an
 * adaptive solve costs 6–7 rhs calls per attempted step. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_ode.h"
#include "test_ode_problems.h"

/* Dormand–Prince 5(4): nodes c, stage matrix A (lower triangle), 5th-order weights b. The 7th
 * stage row of A equals b (first same as last). */
static const double dp_c[7] = {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0};
static const double dp_a[7][6] = {
    {0},
    {1.0 / 5.0},
    {3.0 / 40.0, 9.0 / 40.0},
    {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0},
    {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0},
    {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0},
    {35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0}};
static const double dp_b[7] = {35.0 / 384.0,     0.0,         500.0 / 1113.0, 125.0 / 192.0,
                               -2187.0 / 6784.0, 11.0 / 84.0, 0.0};

/* A nonlinear, time-dependent pendulum with forcing: y1' = y2, y2' = −sin y1 + t cos y2. */
static int pendulum_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    (void)d;
    (void)params;
    for (size_t i = 0; i < n; i++) {
        dydt[2 * i] = y[2 * i + 1];
        dydt[2 * i + 1] = -sin(y[2 * i]) + t * cos(y[2 * i + 1]);
    }
    return 0;
}

/* One Dormand–Prince step by the tableau, for a single state of dimension 2. */
static void dp_step_by_hand(double t, double h, const double y[2], double out[2])
{
    double k[7][2], stage[2];
    for (int i = 0; i < 7; i++) {
        for (int c = 0; c < 2; c++) {
            stage[c] = y[c];
            for (int j = 0; j < i; j++)
                stage[c] += h * dp_a[i][j] * k[j][c];
        }
        pendulum_rhs(t + dp_c[i] * h, 1, 2, stage, k[i], NULL);
    }
    for (int c = 0; c < 2; c++) {
        out[c] = y[c];
        for (int i = 0; i < 7; i++)
            out[c] += h * dp_b[i] * k[i][c];
    }
}

START_TEST(test_tableau_rows_are_consistent)
{
    /* Row sums of A equal c, and b sums to 1 — catches a mistyped coefficient in this file. */
    for (int i = 0; i < 7; i++) {
        double sum = 0.0;
        for (int j = 0; j < 6; j++)
            sum += dp_a[i][j];
        ck_assert_double_eq_tol(sum, dp_c[i], 1e-15);
    }
    double sum_b = 0.0, b_c4 = 0.0;
    for (int i = 0; i < 7; i++) {
        sum_b += dp_b[i];
        b_c4 += dp_b[i] * pow(dp_c[i], 4); /* order-5 condition Σ b c⁴ = 1/5 */
    }
    ck_assert_double_eq_tol(sum_b, 1.0, 1e-15);
    ck_assert_double_eq_tol(b_c4, 0.2, 1e-15);
}
END_TEST

START_TEST(test_one_fixed_step_matches_dormand_prince_tableau)
{
    const double t0 = 0.5, h = 0.25; /* exact in binary: t0 + h is t1 exactly */
    slv_ode sys = {pendulum_rhs, 2, NULL};
    double y[4] = {0.3, -0.7, 1.2, 0.4}, expected[4];
    dp_step_by_hand(t0, h, y, expected);
    dp_step_by_hand(t0, h, y + 2, expected + 2);

    slv_ode_solver *s = slv_ode_solver_alloc(slv_ode_dopri5, &sys, 2);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, h), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_solve(s, t0, t0 + h, y), SLV_OK);
    ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), 1);
    printf("dopri5 one fixed step: NFE %zu\n", slv_ode_solver_get_n_rhs_evals(s));
    ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), 7);
    for (int i = 0; i < 4; i++) {
        printf("  y[%d] ARKODE %.17g tableau %.17g diff %.2e\n", i, y[i], expected[i],
               fabs(y[i] - expected[i]));
        ck_assert_double_eq_tol(y[i], expected[i], 1e-14);
    }
    slv_ode_solver_free(s);
}
END_TEST

/* The same check backward in time: a step of −h is the tableau with h < 0. */
START_TEST(test_one_fixed_step_backward_matches_tableau)
{
    const double t0 = 0.75, h = 0.25;
    slv_ode sys = {pendulum_rhs, 2, NULL};
    double y[2] = {0.3, -0.7}, expected[2];
    dp_step_by_hand(t0, -h, y, expected);
    slv_ode_solver *s = slv_ode_solver_alloc(slv_ode_dopri5, &sys, 1);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, h), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_solve(s, t0, t0 - h, y), SLV_OK);
    ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), 1);
    ck_assert_double_eq_tol(y[0], expected[0], 1e-14);
    ck_assert_double_eq_tol(y[1], expected[1], 1e-14);
    slv_ode_solver_free(s);
}
END_TEST

/* Several fixed steps: the last one is cut to land on t1; the result is the tableau applied to
 * each step in turn. */
START_TEST(test_fixed_steps_cut_last_step_to_t1)
{
    const double t0 = 0.0, t1 = 0.625, h = 0.25; /* steps 0.25, 0.25, 0.125 */
    slv_ode sys = {pendulum_rhs, 2, NULL};
    double y[2] = {0.3, -0.7}, expected[2] = {0.3, -0.7}, tmp[2];
    dp_step_by_hand(0.0, 0.25, expected, tmp);
    dp_step_by_hand(0.25, 0.25, tmp, expected);
    dp_step_by_hand(0.5, 0.125, expected, tmp);
    slv_ode_solver *s = slv_ode_solver_alloc(slv_ode_dopri5, &sys, 1);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, h), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_solve(s, t0, t1, y), SLV_OK);
    ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), 3);
    ck_assert_double_eq_tol(y[0], tmp[0], 1e-14);
    ck_assert_double_eq_tol(y[1], tmp[1], 1e-14);
    slv_ode_solver_free(s);
}
END_TEST

/* Adaptive dopri5: every attempted step (accepted or rejected) costs 6 new stages when the
 * 7th stage of the previous step is reused (FSAL) or 7 when it is not. */
START_TEST(test_adaptive_nfe_is_six_or_seven_per_step)
{
    const double tolerances[3] = {1e-4, 1e-6, 1e-8};
    rotation_params params = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &params};
    slv_ode_solver *s = slv_ode_solver_alloc(slv_ode_dopri5, &sys, 3);
    for (int k = 0; k < 3; k++) {
        double y[6];
        rotation_initial(3, y);
        ck_assert_int_eq(slv_ode_solver_set_tolerances(s, tolerances[k], tolerances[k]), SLV_OK);
        ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 10.0, y), SLV_OK);
        const size_t nfe = slv_ode_solver_get_n_rhs_evals(s);
        const size_t attempts = slv_ode_solver_get_n_steps(s) + slv_ode_solver_get_n_rejected(s);
        const double per_step = (double)nfe / (double)attempts;
        printf("dopri5 tol %.0e: NFE %zu, steps %zu, rejected %zu, NFE/attempt %.3f\n",
               tolerances[k], nfe, slv_ode_solver_get_n_steps(s), slv_ode_solver_get_n_rejected(s),
               per_step);
        ck_assert_msg(per_step >= 6.0 && per_step <= 7.0, "NFE per attempted step %.3f", per_step);
    }
    slv_ode_solver_free(s);
}
END_TEST

static Suite *ode_dopri5_suite(void)
{
    Suite *suite = suite_create("ode_dopri5");
    TCase *tc = tcase_create("tableau");
    tcase_add_test(tc, test_tableau_rows_are_consistent);
    tcase_add_test(tc, test_one_fixed_step_matches_dormand_prince_tableau);
    tcase_add_test(tc, test_one_fixed_step_backward_matches_tableau);
    tcase_add_test(tc, test_fixed_steps_cut_last_step_to_t1);
    tcase_add_test(tc, test_adaptive_nfe_is_six_or_seven_per_step);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ode_dopri5_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
