/* test_ode_faults.c — systems that fail on purpose, for every method: a NaN in the rhs, a stopping
 * rhs, recoverable rhs failures, an exhausted step budget, a SUNDIALS input error, an interrupt and
 * invalid arguments. Each failure gives its status, the time and path in the report, leaves y at
 * the last accepted state, and nothing reaches stderr. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slv_ode.h"
#include "test_ode_problems.h"

enum { N_BATCH = 5, N_METHODS = 8 };
static const double decay = 0.3, omega = 2.0;

/* ---- stderr capture: the library and SUNDIALS must print nothing -------------------------- */

static FILE *capture_file;
static int saved_stderr = -1;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture_file), STDERR_FILENO);
}

static void capture_end_expect_empty(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    fseek(capture_file, 0, SEEK_END);
    long size = ftell(capture_file);
    char text[256] = "";
    rewind(capture_file);
    size_t got = fread(text, 1, sizeof text - 1, capture_file);
    text[got] = '\0';
    fclose(capture_file);
    ck_assert_msg(size == 0, "%ld bytes printed to stderr: %s", size, text);
}

/* ---- A rotation whose rhs misbehaves after t_fault ------------------------------------------ */

typedef enum fault_kind {
    FAULT_NONE,
    FAULT_NAN,              /* NaN in dydt of the path with initial radius 1.75 (path 3) */
    FAULT_STOP,             /* return -1 */
    FAULT_RECOVERABLE_ONCE, /* return +1 on the first call past t_fault, then behave */
    FAULT_RECOVERABLE       /* return +1 on every call past t_fault */
} fault_kind;

typedef struct fault_params {
    fault_kind kind;
    double t_fault;
    int fired;
    long calls;
    long interrupt_after; /* raise *interrupt after this many calls (0: never) */
    volatile int *interrupt;
} fault_params;

/* The batch path a state belongs to, from its radius: |y(t)| e^{a t} = 1 + 0.25 p. */
static long path_of_state(double t, const double *y)
{
    const double radius = hypot(y[0], y[1]) * exp(decay * t);
    return lround((radius - 1.0) / 0.25);
}

static int fault_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    fault_params *f = params;
    rotation_params rotation = {decay, omega, 0};
    f->calls++;
    if (f->interrupt_after > 0 && f->calls >= f->interrupt_after)
        *f->interrupt = 1;
    const int past = t > f->t_fault;
    if (past && f->kind == FAULT_STOP)
        return -1;
    if (past && f->kind == FAULT_RECOVERABLE)
        return 1;
    if (past && f->kind == FAULT_RECOVERABLE_ONCE && !f->fired) {
        f->fired = 1;
        return 1;
    }
    rotation_rhs(t, n, d, y, dydt, &rotation);
    if (past && f->kind == FAULT_NAN)
        for (size_t i = 0; i < n; i++)
            if (path_of_state(t, y + 2 * i) == 3)
                dydt[2 * i + 1] = NAN;
    return 0;
}

static slv_ode_solver *fault_solver(const slv_ode_method *method, fault_params *f, slv_ode *sys,
                                    slv_batch_mode mode)
{
    *sys = (slv_ode){fault_rhs, 2, f};
    slv_ode_solver *s = slv_ode_solver_alloc(method, sys, N_BATCH);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(slv_ode_solver_set_batch_mode(s, mode), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, 1e-8, 1e-8), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_set_steps(s, 400), SLV_OK);
    return s;
}

/* Checks that state y of path p lies on its exact trajectory at some time in [lo, hi] and returns
 * that time (from the radius, since |y| decays as e^{-a t}). */
static double check_on_trajectory(const double *y, int p, double lo, double hi, double tol)
{
    double y0[2 * N_BATCH], exact[2];
    rotation_params rotation = {decay, omega, 0};
    rotation_initial(N_BATCH, y0);
    const double t = log(hypot(y0[2 * p], y0[2 * p + 1]) / hypot(y[0], y[1])) / decay;
    ck_assert_msg(t >= lo - 1e-6 && t <= hi + 1e-6, "path %d at t = %g, expected in [%g, %g]", p,
                  t, lo, hi);
    rotation_exact(&rotation, t, 1, y0 + 2 * p, exact);
    ck_assert_msg(max_abs_error(y, exact, 2) <= tol, "path %d: state off its trajectory by %g", p,
                  max_abs_error(y, exact, 2));
    return t;
}

/* Checks that paths first..last of y hold the last accepted state before a failure at t_fail
 * (solve from t = 0 with fault_solver settings). Adaptive methods: the state lies on its exact
 * trajectory (tol 1e-8, so 1e-6 is loose) at a time before t_fail. Fixed-step methods (400 steps
 * on [0, 2]): the state is the same method's solution at the last completed grid point. */
static void check_last_accepted(const slv_ode_method *method, const double *y, const double *y0,
                                double t_fail, int first, int last)
{
    if (method->adaptive) {
        for (int p = first; p <= last; p++)
            check_on_trajectory(y + 2 * p, p, 0.0, t_fail, 1e-6);
        return;
    }
    /* Euler's only rhs call is at the step's start (the last accepted grid point); Heun and RK4
     * call it inside or at the end of the step, after the last accepted grid point. */
    const double h = 2.0 / 400;
    const size_t k_last = method == slv_ode_euler ? (size_t)floor(t_fail / h + 1e-6)
                                                  : (size_t)ceil(t_fail / h - 1e-6) - 1;
    double reference[2 * N_BATCH];
    fault_params clean = {FAULT_NONE, 0.0, 0, 0, 0, NULL};
    slv_ode clean_sys;
    slv_ode_solver *ref = fault_solver(method, &clean, &clean_sys, SLV_BATCH_JOINT);
    ck_assert_int_eq(slv_ode_solver_set_steps(ref, k_last), SLV_OK);
    memcpy(reference, y0, sizeof reference);
    ck_assert_int_eq(slv_ode_solver_solve(ref, 0.0, (double)k_last * h, reference), SLV_OK);
    slv_ode_solver_free(ref);
    for (int p = first; p <= last; p++)
        ck_assert_msg(max_abs_error(y + 2 * p, reference + 2 * p, 2) <= 1e-13,
                      "path %d is not the state at grid point %zu", p, k_last);
}

START_TEST(test_nan_in_rhs_names_time_and_path)
{
    const slv_ode_method *method = slv_ode_methods[_i / 2];
    const slv_batch_mode mode = _i % 2 ? SLV_BATCH_INDEPENDENT : SLV_BATCH_JOINT;
    fault_params f = {FAULT_NAN, 0.8, 0, 0, 0, NULL};
    slv_ode sys;
    slv_ode_solver *s = fault_solver(method, &f, &sys, mode);
    double y0[2 * N_BATCH], y[2 * N_BATCH];
    rotation_initial(N_BATCH, y0);
    memcpy(y, y0, sizeof y);

    capture_begin();
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    capture_end_expect_empty();
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("%-11s %-11s NaN: %s\n", method->name, mode ? "independent" : "joint", err->message);
    ck_assert_int_eq(status, SLV_ENONFINITE);
    ck_assert_int_eq(err->status, SLV_ENONFINITE);
    ck_assert_int_eq(err->path, 3);
    ck_assert_msg(err->t > 0.8 && err->t <= 2.0, "t = %g", err->t);
    ck_assert_ptr_nonnull(strstr(err->message, "path 3"));

    double exact[2 * N_BATCH];
    rotation_params rotation = {decay, omega, 0};
    rotation_exact(&rotation, 2.0, N_BATCH, y0, exact);
    const int first_failed = mode == SLV_BATCH_JOINT ? 0 : 3;
    for (int p = 0; p < first_failed; p++) /* INDEPENDENT: solved to t1 before path 3 */
        ck_assert_double_le(scaled_error(y + 2 * p, exact + 2 * p, 2, 1e-8, 1e-8),
                            method->adaptive ? 50.0 : 1e7);
    check_last_accepted(method, y, y0, err->t, first_failed, mode == SLV_BATCH_JOINT ? 4 : 3);
    if (mode == SLV_BATCH_INDEPENDENT) /* path 4 not started */
        ck_assert(memcmp(y + 8, y0 + 8, 2 * sizeof *y) == 0);
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_stopping_rhs_gives_callback_error)
{
    const slv_ode_method *method = slv_ode_methods[_i / 2];
    const slv_batch_mode mode = _i % 2 ? SLV_BATCH_INDEPENDENT : SLV_BATCH_JOINT;
    fault_params f = {FAULT_STOP, 0.8, 0, 0, 0, NULL};
    slv_ode sys;
    slv_ode_solver *s = fault_solver(method, &f, &sys, mode);
    double y[2 * N_BATCH];
    rotation_initial(N_BATCH, y);
    capture_begin();
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    capture_end_expect_empty();
    const slv_error *err = slv_ode_solver_get_error(s);
    ck_assert_int_eq(status, SLV_ECALLBACK);
    ck_assert_msg(err->t > 0.8 && err->t <= 2.0, "t = %g", err->t);
    ck_assert_int_eq(err->path, mode == SLV_BATCH_JOINT ? -1 : 0);
    ck_assert_ptr_nonnull(strstr(err->message, "returned -1"));
    ck_assert_int_eq(slv_find_nonfinite(y, 2 * N_BATCH), -1);
    slv_ode_solver_free(s);
}
END_TEST

/* One recoverable failure: adaptive methods retry with a smaller step and finish accurately
 * (counting a rejected step); fixed-step methods cannot shrink and stop. */
START_TEST(test_recoverable_failure_is_retried_by_adaptive_methods)
{
    const slv_ode_method *method = slv_ode_methods[_i];
    fault_params f = {FAULT_RECOVERABLE_ONCE, 0.8, 0, 0, 0, NULL};
    slv_ode sys;
    slv_ode_solver *s = fault_solver(method, &f, &sys, SLV_BATCH_JOINT);
    double y0[2 * N_BATCH], y[2 * N_BATCH], exact[2 * N_BATCH];
    rotation_params rotation = {decay, omega, 0};
    rotation_initial(N_BATCH, y0);
    memcpy(y, y0, sizeof y);
    capture_begin();
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    capture_end_expect_empty();
    ck_assert_int_eq(f.fired, 1);
    if (!method->adaptive) {
        ck_assert_int_eq(status, SLV_ECALLBACK);
        ck_assert_ptr_nonnull(strstr(slv_ode_solver_get_error(s)->message, "recoverable"));
    } else {
        ck_assert_msg(status == SLV_OK, "%s: %s", method->name,
                      slv_ode_solver_get_error(s)->message);
        ck_assert_uint_ge(slv_ode_solver_get_n_rejected(s), 1);
        rotation_exact(&rotation, 2.0, N_BATCH, y0, exact);
        ck_assert_double_le(scaled_error(y, exact, 2 * N_BATCH, 1e-8, 1e-8), 50.0);
    }
    slv_ode_solver_free(s);
}
END_TEST

/* An rhs that fails (recoverably) for every t > 0.8: no method can pass 0.8. GSL halves the step
 * until it cannot shrink (SLV_ECALLBACK); ARKODE and CVODE creep towards 0.8 with ever smaller
 * steps until the step budget runs out (SLV_EMAXSTEPS) or give up (SLV_ECALLBACK). Fixed-step
 * methods stop at once (SLV_ECALLBACK). */
START_TEST(test_persistent_recoverable_failure_stops_before_it)
{
    const slv_ode_method *method = slv_ode_methods[_i];
    fault_params f = {FAULT_RECOVERABLE, 0.8, 0, 0, 0, NULL};
    slv_ode sys;
    slv_ode_solver *s = fault_solver(method, &f, &sys, SLV_BATCH_JOINT);
    ck_assert_int_eq(slv_ode_solver_set_max_steps(s, 2000), SLV_OK);
    double y0[2 * N_BATCH], y[2 * N_BATCH];
    rotation_initial(N_BATCH, y0);
    memcpy(y, y0, sizeof y);
    capture_begin();
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    capture_end_expect_empty();
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("%-11s persistent > 0: %s\n", method->name, err->message);
    ck_assert_msg(status == SLV_ECALLBACK || (method->adaptive && status == SLV_EMAXSTEPS),
                  "status %d", status);
    ck_assert_msg(status == SLV_EMAXSTEPS ? err->t <= 0.8 : err->t > 0.8, "t = %g", err->t);
    check_last_accepted(method, y, y0, err->t, 0, N_BATCH - 1);
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_step_budget_gives_maxsteps_with_time_reached)
{
    const slv_ode_method *method = adaptive_methods()[_i / 2];
    const int backward = _i % 2;
    const double t0 = backward ? 2.0 : 0.0, t1 = backward ? 0.0 : 2.0;
    fault_params f = {FAULT_NONE, 0.0, 0, 0, 0, NULL};
    slv_ode sys;
    slv_ode_solver *s = fault_solver(method, &f, &sys, SLV_BATCH_JOINT);
    ck_assert_int_eq(slv_ode_solver_set_max_steps(s, 3), SLV_OK);
    double y0[2 * N_BATCH], y[2 * N_BATCH], exact[2 * N_BATCH];
    rotation_params rotation = {decay, omega, 0};
    rotation_initial(N_BATCH, y0);
    memcpy(y, y0, sizeof y);
    capture_begin();
    int status = slv_ode_solver_solve(s, t0, t1, y);
    capture_end_expect_empty();
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("%-11s %s max_steps: %s\n", method->name, backward ? "backward" : "forward",
           err->message);
    ck_assert_int_eq(status, SLV_EMAXSTEPS);
    ck_assert_uint_eq(slv_ode_solver_get_n_steps(s), 3);
    ck_assert_msg((err->t - t0) * (t1 - err->t) > 0.0, "t = %g not inside (%g, %g)", err->t, t0,
                  t1);
    /* y is the accepted state at the time reached */
    rotation_exact(&rotation, err->t - t0, N_BATCH, y0, exact);
    ck_assert_double_le(max_abs_error(y, exact, 2 * N_BATCH), 1e-6);
    slv_ode_solver_free(s);
}
END_TEST

/* atol = 0 with a zero component makes SUNDIALS' error weights infinite: an input error that
 * SUNDIALS reports through its error handler; it must come back as SLV_EBACKEND with the flag
 * name, not on stderr. */
START_TEST(test_sundials_failure_is_reported_not_printed)
{
    const slv_ode_method *methods[3] = {slv_ode_dopri5, slv_ode_cvode_adams, slv_ode_cvode_bdf};
    const char *flags[3] = {"ARK_ILL_INPUT", "CV_ILL_INPUT", "CV_ILL_INPUT"};
    fault_params f = {FAULT_NONE, 0.0, 0, 0, 0, NULL};
    slv_ode sys = {fault_rhs, 2, &f};
    slv_ode_solver *s = slv_ode_solver_alloc(methods[_i], &sys, 1);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, 1e-6, 0.0), SLV_OK);
    double y[2] = {0.0, 1.0};
    capture_begin();
    int status = slv_ode_solver_solve(s, 0.0, 1.0, y);
    capture_end_expect_empty();
    const slv_error *err = slv_ode_solver_get_error(s);
    printf("%-11s atol = 0: %s\n", methods[_i]->name, err->message);
    ck_assert_int_eq(status, SLV_EBACKEND);
    ck_assert_ptr_nonnull(strstr(err->message, flags[_i]));
    ck_assert(y[0] == 0.0 && y[1] == 1.0);
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_interrupt_stops_the_solve)
{
    const slv_ode_method *method = slv_ode_methods[_i];
    volatile int flag = 0;
    fault_params f = {FAULT_NONE, 0.0, 0, 0, 20, &flag};
    slv_ode sys;
    slv_ode_solver *s = fault_solver(method, &f, &sys, SLV_BATCH_JOINT);
    slv_ode_solver_set_interrupt(s, &flag);
    double y[2 * N_BATCH];
    rotation_initial(N_BATCH, y);
    capture_begin();
    int status = slv_ode_solver_solve(s, 0.0, 2.0, y);
    capture_end_expect_empty();
    ck_assert_int_eq(status, SLV_EINTERRUPTED);
    ck_assert_int_eq(f.calls, 20); /* polled before the next rhs call */
    ck_assert_int_eq(slv_find_nonfinite(y, 2 * N_BATCH), -1);
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_invalid_arguments_are_named)
{
    const slv_ode_method *method = slv_ode_methods[_i];
    fault_params f = {FAULT_NONE, 0.0, 0, 0, 0, NULL};
    slv_ode sys = {fault_rhs, 2, &f};
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, N_BATCH);
    const slv_error *err = slv_ode_solver_get_error(s);
    struct {
        double rtol, atol;
        const char *name;
    } bad[] = {{0.0, 1e-6, "rtol = 0"},       {-1e-6, 1e-6, "rtol = -1e-06"},
               {NAN, 1e-6, "rtol = nan"},     {1e-6, -1.0, "atol = -1"},
               {1e-6, INFINITY, "atol = inf"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(slv_ode_solver_set_tolerances(s, bad[k].rtol, bad[k].atol), SLV_EINVAL);
        ck_assert_msg(strstr(err->message, bad[k].name) != NULL, "message '%s' lacks '%s'",
                      err->message, bad[k].name);
    }
    ck_assert_int_eq(slv_ode_solver_set_steps(s, 0), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "n_steps = 0"));
    ck_assert_int_eq(slv_ode_solver_set_max_steps(s, 0), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "max_steps = 0"));
    ck_assert_int_eq(slv_ode_solver_set_batch_mode(s, (slv_batch_mode)7), SLV_EINVAL);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, -0.1), SLV_EINVAL);
    const int fixed_ok = method == slv_ode_dopri5 || method == slv_ode_gsl_rk8pd ||
                         method == slv_ode_gsl_rkf45;
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, 0.1), fixed_ok ? SLV_OK : SLV_EUNSUPPORTED);
    ck_assert_int_eq(slv_ode_solver_set_fixed_step(s, 0.0), fixed_ok ? SLV_OK : SLV_EUNSUPPORTED);

    double y[2 * N_BATCH];
    rotation_initial(N_BATCH, y);
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 1.0, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_ode_solver_solve(s, NAN, 1.0, y), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "t0 = nan"));
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, -INFINITY, y), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "t1 = -inf"));
    y[7] = INFINITY;
    ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 1.0, y), SLV_ENONFINITE);
    ck_assert_int_eq(err->path, 3);
    ck_assert_int_eq(f.calls, 0);
    slv_ode_solver_free(s);
}
END_TEST

START_TEST(test_invalid_systems_are_refused)
{
    slv_error err;
    fault_params f = {FAULT_NONE, 0.0, 0, 0, 0, NULL};
    slv_ode good = {fault_rhs, 2, &f}, no_rhs = {NULL, 2, &f}, no_dim = {fault_rhs, 0, &f};
    ck_assert_int_eq(slv_ode_validate(&good, 3, &err), SLV_OK);
    ck_assert_int_eq(slv_ode_validate(NULL, 3, &err), SLV_EINVAL);
    ck_assert_int_eq(slv_ode_validate(&no_rhs, 3, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "rhs"));
    ck_assert_int_eq(slv_ode_validate(&no_dim, 3, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "dim is 0"));
    ck_assert_int_eq(slv_ode_validate(&good, 0, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "n is 0"));
    ck_assert_ptr_null(slv_ode_solver_alloc(slv_ode_rk4, &no_rhs, 3));
    ck_assert_ptr_null(slv_ode_solver_alloc(slv_ode_rk4, &no_dim, 3));
    ck_assert_ptr_null(slv_ode_solver_alloc(slv_ode_rk4, &good, 0));
    ck_assert_ptr_null(slv_ode_solver_alloc(NULL, &good, 3));
    slv_ode_solver_free(NULL);
}
END_TEST

static Suite *ode_faults_suite(void)
{
    Suite *suite = suite_create("ode_faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_nan_in_rhs_names_time_and_path, 0, 2 * N_METHODS);
    tcase_add_loop_test(tc, test_stopping_rhs_gives_callback_error, 0, 2 * N_METHODS);
    tcase_add_loop_test(tc, test_recoverable_failure_is_retried_by_adaptive_methods, 0, N_METHODS);
    tcase_add_loop_test(tc, test_persistent_recoverable_failure_stops_before_it, 0,
                        N_METHODS);
    tcase_add_loop_test(tc, test_step_budget_gives_maxsteps_with_time_reached, 0,
                        2 * N_ADAPTIVE_METHODS);
    tcase_add_loop_test(tc, test_sundials_failure_is_reported_not_printed, 0, 3);
    tcase_add_loop_test(tc, test_interrupt_stops_the_solve, 0, N_METHODS);
    tcase_add_loop_test(tc, test_invalid_arguments_are_named, 0, N_METHODS);
    tcase_add_test(tc, test_invalid_systems_are_refused);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ode_faults_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
