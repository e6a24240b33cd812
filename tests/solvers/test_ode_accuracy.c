/* test_ode_accuracy.c — every ODE method against closed forms, forward and backward in time:
 * adaptive methods meet their tolerance and get more accurate as it tightens; fixed-step methods
 * show their order as a log–log slope. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_ode.h"
#include "test_ode_problems.h"

/* Global error bound for the adaptive methods, in units of the tolerance (error scaled by
 * atol + rtol·|y|). The methods control the local error per step (≤ 1 in their norm); the global
 * error is the sum of the local errors carried to t1 by the flow. The problems below are chosen
 * well conditioned in both directions (the flow amplifies errors by at most e^{0.6} ≈ 1.8 on the
 * rotation and ≈ 5.5 on the logistic run backward), so the global error is a small multiple of
 * tol, stated a priori:
 *   one-step embedded RK pairs (dopri5, GSL rk8pd/rkf45): C = 20;
 *   CVODE's variable-order multistep methods: C = 50 — their local error estimate is asymptotic
 *   and order/step changes add error (the CVODE guide warns the global error may exceed the
 *   tolerance by a problem-dependent factor); BDF is also a poor fit for a rotation. */
static double global_error_factor(const slv_ode_method *method)
{
    return method == slv_ode_cvode_adams || method == slv_ode_cvode_bdf ? 50.0 : 20.0;
}

static const double tolerances[] = {1e-4, 1e-6, 1e-8};
enum { N_TOLERANCES = 3, N_BATCH = 3 };

/* Rotation with decay on a batch of 3 states, t in [0, 2] (forward) or [2, 0] (backward, from the
 * exact state at t = 2). Returns the scaled error and fills the NFE. */
static double rotation_solve(const slv_ode_method *method, int backward, double tol, size_t *nfe,
                             size_t *n_steps, double *abs_error)
{
    rotation_params params = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &params};
    double y_start[2 * N_BATCH], y[2 * N_BATCH], exact[2 * N_BATCH];
    const double t0 = backward ? 2.0 : 0.0, t1 = backward ? 0.0 : 2.0;
    rotation_initial(N_BATCH, exact); /* exact(t = 0) */
    if (backward) {
        rotation_exact(&params, 2.0, N_BATCH, exact, y_start);
    } else {
        memcpy(y_start, exact, sizeof y_start);
        rotation_exact(&params, 2.0, N_BATCH, y_start, exact);
    }
    memcpy(y, y_start, sizeof y);

    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, N_BATCH);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, tol, tol), SLV_OK);
    int status = slv_ode_solver_solve(s, t0, t1, y);
    ck_assert_msg(status == SLV_OK, "%s: %s", method->name, slv_ode_solver_get_error(s)->message);
    *nfe = slv_ode_solver_get_n_rhs_evals(s);
    *n_steps = slv_ode_solver_get_n_steps(s);
    ck_assert_uint_eq(*nfe, (size_t)params.calls); /* JOINT: one batched call per evaluation */
    slv_ode_solver_free(s);
    *abs_error = max_abs_error(y, exact, 2 * N_BATCH);
    return scaled_error(y, exact, 2 * N_BATCH, tol, tol);
}

static double logistic_solve(const slv_ode_method *method, int backward, double tol, size_t *nfe,
                             double *abs_error)
{
    /* r = 1, K = 2 on [0, 3]: ∂y(3)/∂y(0) = K² e³/(K + y0 (e³ − 1))² is 0.18 .. 4.2 for these
     * starts, so neither direction amplifies errors by more than 5.5. */
    logistic_params params = {1.0, 2.0};
    slv_ode sys = {logistic_rhs, 1, &params};
    const double y_at_0[N_BATCH] = {0.1, 0.5, 1.0};
    double y[N_BATCH], exact[N_BATCH];
    const double t0 = backward ? 3.0 : 0.0, t1 = backward ? 0.0 : 3.0;
    for (int i = 0; i < N_BATCH; i++) {
        const double at_3 = logistic_exact(&params, 3.0, y_at_0[i]);
        y[i] = backward ? at_3 : y_at_0[i];
        exact[i] = backward ? y_at_0[i] : at_3;
    }
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, N_BATCH);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, tol, tol), SLV_OK);
    int status = slv_ode_solver_solve(s, t0, t1, y);
    ck_assert_msg(status == SLV_OK, "%s: %s", method->name, slv_ode_solver_get_error(s)->message);
    *nfe = slv_ode_solver_get_n_rhs_evals(s);
    slv_ode_solver_free(s);
    *abs_error = max_abs_error(y, exact, N_BATCH);
    return scaled_error(y, exact, N_BATCH, tol, tol);
}

START_TEST(test_adaptive_methods_meet_tolerance_on_rotation)
{
    const slv_ode_method *method = adaptive_methods()[_i / 2];
    const int backward = _i % 2;
    double previous = INFINITY;
    for (int k = 0; k < N_TOLERANCES; k++) {
        size_t nfe, n_steps;
        double abs_error;
        double err = rotation_solve(method, backward, tolerances[k], &nfe, &n_steps, &abs_error);
        printf("rotation %-11s %-8s tol %.0e: error %.2e = %5.2f tol, NFE %5zu, steps %4zu\n",
               method->name, backward ? "backward" : "forward", tolerances[k], abs_error, err, nfe,
               n_steps);
        ck_assert_uint_gt(nfe, 0);
        ck_assert_msg(err <= global_error_factor(method), "%s tol %g: error %g tol > %g",
                      method->name, tolerances[k], err, global_error_factor(method));
        ck_assert_msg(abs_error < previous, "%s: error %g at tol %g not below %g", method->name,
                      abs_error, tolerances[k], previous);
        previous = abs_error;
    }
}
END_TEST

START_TEST(test_adaptive_methods_meet_tolerance_on_logistic)
{
    const slv_ode_method *method = adaptive_methods()[_i / 2];
    const int backward = _i % 2;
    double previous = INFINITY;
    for (int k = 0; k < N_TOLERANCES; k++) {
        size_t nfe;
        double abs_error;
        double err = logistic_solve(method, backward, tolerances[k], &nfe, &abs_error);
        printf("logistic %-11s %-8s tol %.0e: error %.2e = %5.2f tol, NFE %5zu\n", method->name,
               backward ? "backward" : "forward", tolerances[k], abs_error, err, nfe);
        ck_assert_uint_gt(nfe, 0);
        ck_assert_msg(err <= global_error_factor(method), "%s tol %g: error %g tol > %g",
                      method->name, tolerances[k], err, global_error_factor(method));
        ck_assert_msg(abs_error < previous, "%s: error %g at tol %g not below %g", method->name,
                      abs_error, tolerances[k], previous);
        previous = abs_error;
    }
}
END_TEST

/* Fixed-step order: error at t = 2 for N = N_min·2^k steps; slope of log error against log N is
 * −order. The ranges keep the error in the asymptotic regime and above round-off (≥ 1e-12). */
START_TEST(test_fixed_methods_show_their_order)
{
    const slv_ode_method *method = fixed_methods()[_i / 2];
    const int backward = _i % 2;
    const size_t n_min = method == slv_ode_rk4 ? 20 : 200;
    enum { N_LEVELS = 4 };
    double steps[N_LEVELS], errors[N_LEVELS];
    rotation_params params = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &params};
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, N_BATCH);
    ck_assert_ptr_nonnull(s);
    for (int k = 0; k < N_LEVELS; k++) {
        double y0[2 * N_BATCH], y[2 * N_BATCH], exact[2 * N_BATCH];
        rotation_initial(N_BATCH, y0);
        const double t0 = backward ? 2.0 : 0.0, t1 = backward ? 0.0 : 2.0;
        rotation_exact(&params, t1 - t0, N_BATCH, y0, exact);
        memcpy(y, y0, sizeof y);
        const size_t n_steps = n_min << k;
        ck_assert_int_eq(slv_ode_solver_set_steps(s, n_steps), SLV_OK);
        ck_assert_int_eq(slv_ode_solver_solve(s, t0, t1, y), SLV_OK);
        ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), n_steps);
        /* NFE = steps · stages, and stages = order for Euler (1), Heun (2) and RK4 (4). */
        ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), n_steps * (size_t)method->order);
        steps[k] = (double)n_steps;
        errors[k] = max_abs_error(y, exact, 2 * N_BATCH);
        printf("order %-5s %-8s N %5zu: error %.3e\n", method->name,
               backward ? "backward" : "forward", n_steps, errors[k]);
    }
    slv_ode_solver_free(s);
    const double slope = loglog_slope(steps, errors, N_LEVELS);
    printf("order %-5s %-8s slope %.3f (expected %d)\n", method->name,
           backward ? "backward" : "forward", -slope, method->order);
    ck_assert_msg(fabs(-slope - method->order) <= 0.15, "%s: measured order %.3f, expected %d",
                  method->name, -slope, method->order);
}
END_TEST

START_TEST(test_method_table_and_lookup)
{
    size_t count = 0;
    for (const slv_ode_method *const *m = slv_ode_methods; *m != NULL; m++, count++) {
        ck_assert_ptr_eq(slv_ode_method_by_name((*m)->name), *m);
        ck_assert_ptr_nonnull((*m)->backend);
    }
    ck_assert_uint_eq(count, 9);
    ck_assert_ptr_eq(slv_ode_method_by_name("dopri5"), slv_ode_dopri5);
    ck_assert_ptr_eq(slv_ode_method_by_name("cvode-bdf"), slv_ode_cvode_bdf);
    ck_assert_ptr_null(slv_ode_method_by_name("no-such-method"));
    ck_assert_ptr_null(slv_ode_method_by_name(NULL));
}
END_TEST

START_TEST(test_empty_interval_costs_nothing)
{
    const slv_ode_method *method = slv_ode_methods[_i];
    rotation_params params = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &params};
    double y[2] = {1.0, -1.0};
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, 1);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.5, 0.5, y), SLV_OK);
    ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), 0);
    ck_assert(y[0] == 1.0 && y[1] == -1.0);
    slv_ode_solver_free(s);
}
END_TEST

static Suite *ode_accuracy_suite(void)
{
    Suite *suite = suite_create("ode_accuracy");
    TCase *tc = tcase_create("closed_forms");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_adaptive_methods_meet_tolerance_on_rotation, 0,
                        2 * N_ADAPTIVE_METHODS);
    tcase_add_loop_test(tc, test_adaptive_methods_meet_tolerance_on_logistic, 0,
                        2 * N_ADAPTIVE_METHODS);
    tcase_add_loop_test(tc, test_fixed_methods_show_their_order, 0, 2 * N_FIXED_METHODS);
    tcase_add_test(tc, test_method_table_and_lookup);
    tcase_add_loop_test(tc, test_empty_interval_costs_nothing, 0, 8);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ode_accuracy_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
