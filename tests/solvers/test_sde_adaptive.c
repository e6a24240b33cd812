/* test_sde_adaptive.c — the adaptive driver on the Brownian tree: a tolerance sweep converges to
 * the solution of the same path (error against the exact GBM solution for the tree's W(T) falls
 * with the tolerance, and W(T) is the same bits at every tolerance and for the fixed-step
 * driver); rejections happen and re-draw nothing; per-path control makes a path's result
 * independent of its batch-mates; output times, step-size underflow and the step budget.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde.h"
#include "test_sde_problems.h"

#define N_TOL 4
static const double tolerances[N_TOL] = {1e-2, 1e-3, 1e-4, 1e-5};

static gbm_params gbm = {.mu = 1.0, .sigma = 1.0};
static additive_params additive = {.sigma = 1.0};

static void set_x0(double *x, size_t n, size_t d, size_t first)
{
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < d; i++)
            x[p * d + i] = 1.0 + 0.01 * (double)(first + p) - 0.2 * (double)i;
}

/* Adaptive solve of n paths; returns the status, counters through the pointers. */
static int adaptive(const slv_sde_step_type *type, const slv_sde *sys, size_t n, size_t first,
                    double tol, double t0, double t1, double *x, double *w, size_t *steps,
                    size_t *rejected, size_t *drift_calls)
{
    set_x0(x, n, sys->dim, first);
    slv_sde_solver *s = slv_sde_solver_alloc(type, sys, n);
    ck_assert_ptr_nonnull(s);
    slv_sde_solver_set_seed(s, 1234, first);
    slv_sde_solver_set_threads(s, 1);
    ck_assert_int_eq(slv_sde_solver_set_tolerances(s, tol, tol), SLV_OK);
    int rc = slv_sde_solver_solve_adaptive(s, t0, t1, x, w);
    ck_assert_msg(rc == SLV_OK, "%s, tol %g: %s", type->name, tol,
                  slv_sde_solver_get_error(s)->message);
    if (steps != NULL)
        *steps = slv_sde_solver_get_n_steps(s);
    if (rejected != NULL)
        *rejected = slv_sde_solver_get_n_rejected(s);
    if (drift_calls != NULL)
        *drift_calls = slv_sde_solver_get_n_drift_evals(s);
    slv_sde_solver_free(s);
    return rc;
}

static const char *gbm_methods[] = {"sriw1", "sriw2", "milstein"};

/* GBM: error against x0 exp((μ − σ²/2)T + σ W(T)) with the W(T) the driver returns. */
START_TEST(test_tolerance_sweep_converges_to_the_exact_gbm_path)
{
    const slv_sde_step_type *type = slv_sde_step_type_by_name(gbm_methods[_i]);
    slv_sde sys = gbm_diagonal_system(&gbm);
    const size_t n = 200, nd = n * 2;
    double *x = malloc(nd * sizeof(double)), *w = malloc(nd * sizeof(double));
    double *w_first = malloc(nd * sizeof(double)), *x0 = malloc(nd * sizeof(double));
    set_x0(x0, n, 2, 0);
    double errors[N_TOL];
    size_t total_rejected = 0;
    for (int k = 0; k < N_TOL; k++) {
        size_t steps, rejected, calls;
        adaptive(type, &sys, n, 0, tolerances[k], 0.0, 1.0, x, w, &steps, &rejected, &calls);
        total_rejected += rejected;
        if (k == 0)
            memcpy(w_first, w, nd * sizeof(double));
        else
            ck_assert_msg(memcmp(w, w_first, nd * sizeof(double)) == 0,
                          "W(T) changed with the tolerance");
        double err = 0.0;
        for (size_t e = 0; e < nd; e++)
            err += fabs(x[e] - gbm_exact(&gbm, x0[e], 1.0, w[e])) / (double)nd;
        errors[k] = err;
        printf("%-8s tol %.0e: mean |X - exact| = %.3e, %6.1f accepted and %5.1f rejected steps "
               "per path, %zu batched drift calls\n",
               type->name, tolerances[k], err, (double)steps / n, (double)rejected / n, calls);
    }
    for (int k = 1; k < N_TOL; k++)
        ck_assert_msg(errors[k] < errors[k - 1], "%s: error %g at tol %g not below %g at tol %g",
                      type->name, errors[k], tolerances[k], errors[k - 1], tolerances[k - 1]);
    ck_assert_msg(errors[N_TOL - 1] < 0.02 * errors[0],
                  "%s: error fell only from %g to %g over three decades of tolerance",
                  type->name, errors[0], errors[N_TOL - 1]);
    ck_assert_msg(total_rejected > 0, "%s: no step was rejected", type->name);
    /* The fixed-step driver with 2^k steps uses the same tree: the same W(T) bits. */
    slv_sde_solver *s = slv_sde_solver_alloc(type, &sys, n);
    slv_sde_solver_set_seed(s, 1234, 0);
    set_x0(x, n, 2, 0);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 64, x, w), SLV_OK);
    ck_assert(memcmp(w, w_first, nd * sizeof(double)) == 0);
    slv_sde_solver_free(s);
    free(x);
    free(w);
    free(w_first);
    free(x0);
}
END_TEST

/* General additive noise (m = 3): reference SRA1 with 2^12 fixed steps on the same tree. */
START_TEST(test_sra_tolerance_sweep_converges_to_the_fine_fixed_step_path)
{
    const slv_sde_step_type *type = _i == 0 ? slv_sde_step_sra1 : slv_sde_step_sra3;
    slv_sde sys = general_additive_system(&additive);
    const size_t n = 200, nd = n * 2, nm = n * 3;
    double *x = malloc(nd * sizeof(double)), *ref = malloc(nd * sizeof(double));
    double *w = malloc(nm * sizeof(double)), *w_ref = malloc(nm * sizeof(double));
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sra1, &sys, n);
    slv_sde_solver_set_seed(s, 1234, 0);
    set_x0(ref, n, 2, 0);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 4096, ref, w_ref), SLV_OK);
    slv_sde_solver_free(s);
    double errors[N_TOL];
    for (int k = 0; k < N_TOL; k++) {
        size_t steps, rejected;
        adaptive(type, &sys, n, 0, tolerances[k], 0.0, 1.0, x, w, &steps, &rejected, NULL);
        ck_assert(memcmp(w, w_ref, nm * sizeof(double)) == 0);
        double err = 0.0;
        for (size_t e = 0; e < nd; e++)
            err += fabs(x[e] - ref[e]) / (double)nd;
        errors[k] = err;
        printf("%-8s tol %.0e: mean |X - ref| = %.3e, %6.1f accepted and %5.1f rejected steps per "
               "path\n",
               type->name, tolerances[k], err, (double)steps / n, (double)rejected / n);
    }
    for (int k = 1; k < N_TOL; k++)
        ck_assert_msg(errors[k] < errors[k - 1], "%s: error %g at tol %g not below %g", type->name,
                      errors[k], tolerances[k], errors[k - 1]);
    free(x);
    free(ref);
    free(w);
    free(w_ref);
}
END_TEST

/* Paths 10..29 solved alone (first_path = 10) give the bits they get inside a batch of 60. */
START_TEST(test_adaptive_path_does_not_depend_on_its_batch_mates)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x_all[120], w_all[120], x_part[40], w_part[40];
    adaptive(slv_sde_step_sriw1, &sys, 60, 0, 1e-3, 0.0, 1.0, x_all, w_all, NULL, NULL, NULL);
    adaptive(slv_sde_step_sriw1, &sys, 20, 10, 1e-3, 0.0, 1.0, x_part, w_part, NULL, NULL, NULL);
    ck_assert(memcmp(x_part, x_all + 20, sizeof x_part) == 0);
    ck_assert(memcmp(w_part, w_all + 20, sizeof w_part) == 0);
}
END_TEST

/* Reverse time: dX = −μX ds + σX dW_s in s = t0 − t. */
START_TEST(test_adaptive_reverse_time_converges_to_the_exact_path)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    const size_t n = 100, nd = 200;
    double x[200], w[200], x0[200];
    set_x0(x0, n, 2, 0);
    adaptive(slv_sde_step_sriw1, &sys, n, 0, 1e-5, 1.0, 0.0, x, w, NULL, NULL, NULL);
    double err = 0.0;
    for (size_t e = 0; e < nd; e++)
        err += fabs(x[e] - x0[e] * exp(-gbm.mu - 0.5 * gbm.sigma * gbm.sigma + gbm.sigma * w[e])) / nd;
    printf("reverse-time adaptive sriw1, tol 1e-5: mean |error| %.2e\n", err);
    ck_assert_msg(err < 1e-3, "reverse-time adaptive error %g", err);
}
END_TEST

typedef struct observed {
    double t[16];
    size_t calls;
} observed;

static int record(double t, size_t n, size_t d, const double *x, void *data)
{
    (void)n;
    (void)d;
    (void)x;
    observed *o = data;
    if (o->calls < 16)
        o->t[o->calls] = t;
    o->calls++;
    return 0;
}

START_TEST(test_adaptive_observer_sees_every_output_time)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x[20];
    set_x0(x, 10, 2, 0);
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sriw1, &sys, 10);
    observed o = {.calls = 0};
    slv_sde_solver_set_observer(s, record, &o, 3); /* rounded up to 4 intervals */
    slv_sde_solver_set_tolerances(s, 1e-3, 1e-3);
    ck_assert_int_eq(slv_sde_solver_solve_adaptive(s, 2.0, 4.0, x, NULL), SLV_OK);
    ck_assert_uint_eq(o.calls, 5);
    for (int i = 0; i < 5; i++)
        ck_assert(o.t[i] == 2.0 + 0.5 * i);
    slv_sde_solver_free(s);
}
END_TEST

/* Recoverable failure (drift returns 1) from t = 0.5 on: h halves down to 2^-40 and the solve
 * stops with SLV_ESTEPSIZE at t = 0.5, naming the path; x holds the state at 0.5. */
static int drift_refuses_after_half(double t, size_t n, size_t d, const double *x, double *out,
                                    void *params)
{
    gbm_drift(t, n, d, x, out, params);
    return t > 0.5 ? 1 : 0;
}

START_TEST(test_step_size_underflow_names_time_and_path)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    sys.drift = drift_refuses_after_half;
    double x[6];
    set_x0(x, 3, 2, 0);
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sriw1, &sys, 3);
    slv_sde_solver_set_seed(s, 3, 70);
    int rc = slv_sde_solver_solve_adaptive(s, 0.0, 1.0, x, NULL);
    const slv_error *e = slv_sde_solver_get_error(s);
    printf("underflow: %s\n", e->message);
    ck_assert_int_eq(rc, SLV_ESTEPSIZE);
    ck_assert(e->t == 0.5);
    ck_assert(e->path >= 70 && e->path < 73);
    slv_sde_solver_free(s);
}
END_TEST

START_TEST(test_step_budget_is_enforced_per_path)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x[6];
    set_x0(x, 3, 2, 0);
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sriw1, &sys, 3);
    slv_sde_solver_set_tolerances(s, 1e-6, 1e-6);
    slv_sde_solver_set_max_steps(s, 5);
    int rc = slv_sde_solver_solve_adaptive(s, 0.0, 1.0, x, NULL);
    ck_assert_int_eq(rc, SLV_EMAXSTEPS);
    ck_assert(slv_sde_solver_get_error(s)->path >= 0);
    printf("budget: %s\n", slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
}
END_TEST

START_TEST(test_method_without_error_estimate_is_refused)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x[4] = {1, 1, 1, 1};
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_em, &sys, 2);
    ck_assert_int_eq(slv_sde_solver_solve_adaptive(s, 0.0, 1.0, x, NULL), SLV_EUNSUPPORTED);
    slv_sde_solver_free(s);
}
END_TEST

static Suite *adaptive_suite(void)
{
    Suite *s = suite_create("sde_adaptive");
    TCase *tc = tcase_create("adaptive");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_tolerance_sweep_converges_to_the_exact_gbm_path, 0, 3);
    tcase_add_loop_test(tc, test_sra_tolerance_sweep_converges_to_the_fine_fixed_step_path, 0, 2);
    tcase_add_test(tc, test_adaptive_path_does_not_depend_on_its_batch_mates);
    tcase_add_test(tc, test_adaptive_reverse_time_converges_to_the_exact_path);
    tcase_add_test(tc, test_adaptive_observer_sees_every_output_time);
    tcase_add_test(tc, test_step_size_underflow_names_time_and_path);
    tcase_add_test(tc, test_step_budget_is_enforced_per_path);
    tcase_add_test(tc, test_method_without_error_estimate_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(adaptive_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
