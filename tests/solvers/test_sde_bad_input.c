/* test_sde_bad_input.c — systems and arguments that must be refused, callbacks that fail, NaN
 * that must be reported with its time and path, and the exact number of batched callback calls
 * each method makes per step.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde.h"
#include "test_sde_problems.h"

static gbm_params gbm = {.mu = 0.5, .sigma = 0.4};
static additive_params additive = {.sigma = 0.5};

/* Every method with a system it supports. */
static slv_sde system_for(const slv_sde_step_type *type)
{
    return type->needs_additive ? general_additive_system(&additive) : gbm_diagonal_system(&gbm);
}

static int solve_fixed(const slv_sde_step_type *type, const slv_sde *sys, size_t n,
                       size_t n_steps, slv_error *err_out)
{
    double *x = malloc((n * (sys->dim ? sys->dim : 1)) * sizeof(double));
    for (size_t e = 0; e < n * sys->dim; e++)
        x[e] = 1.0;
    slv_sde_solver *s = slv_sde_solver_alloc(type, sys, n);
    ck_assert_ptr_nonnull(s);
    int rc = slv_sde_solver_solve_fixed(s, 0.0, 1.0, n_steps, x, NULL);
    if (err_out != NULL)
        *err_out = *slv_sde_solver_get_error(s);
    slv_sde_solver_free(s);
    free(x);
    return rc;
}

START_TEST(test_unsupported_noise_type_is_refused)
{
    slv_error err;
    slv_sde general_multiplicative = general_additive_system(&additive);
    general_multiplicative.additive = 0;
    /* SRI and Milstein: scalar/diagonal only. */
    ck_assert_int_eq(solve_fixed(slv_sde_step_sriw1, &general_multiplicative, 3, 4, &err),
                     SLV_EUNSUPPORTED);
    printf("%s\n", err.message);
    ck_assert_int_eq(solve_fixed(slv_sde_step_sriw2, &general_multiplicative, 3, 4, NULL),
                     SLV_EUNSUPPORTED);
    ck_assert_int_eq(solve_fixed(slv_sde_step_milstein, &general_multiplicative, 3, 4, NULL),
                     SLV_EUNSUPPORTED);
    /* SRA: additive only. */
    slv_sde diag = gbm_diagonal_system(&gbm);
    ck_assert_int_eq(solve_fixed(slv_sde_step_sra1, &diag, 3, 4, &err), SLV_EUNSUPPORTED);
    printf("%s\n", err.message);
    ck_assert_int_eq(solve_fixed(slv_sde_step_sra3, &diag, 3, 4, NULL), SLV_EUNSUPPORTED);
    /* EM does everything. */
    ck_assert_int_eq(solve_fixed(slv_sde_step_em, &general_multiplicative, 3, 4, NULL), SLV_OK);
    /* The one-step interface refuses too, and leaves x alone. */
    double x[6] = {1, 2, 3, 4, 5, 6}, dW[9] = {0}, H[9] = {0};
    double *work = malloc(slv_sde_step_sriw1->work_size(&general_multiplicative, 3) * sizeof(double));
    slv_error e;
    ck_assert_int_eq(slv_sde_step_sriw1->apply(&general_multiplicative, 0.0, 0.1, 3, x, dW, H, NULL,
                                               work, NULL, NULL, &e, 1),
                     SLV_EUNSUPPORTED);
    ck_assert(x[0] == 1 && x[5] == 6);
    free(work);
}
END_TEST

START_TEST(test_inconsistent_dimensions_are_invalid)
{
    slv_error err;
    slv_sde sys = gbm_diagonal_system(&gbm);
    sys.noise_dim = 3; /* diagonal needs m = d = 2 */
    ck_assert_int_eq(solve_fixed(slv_sde_step_em, &sys, 2, 4, &err), SLV_EINVAL);
    printf("%s\n", err.message);
    ck_assert_int_eq(slv_sde_validate(&sys, &err), SLV_EINVAL);
    sys = gbm_diagonal_system(&gbm);
    sys.noise = SLV_NOISE_SCALAR; /* scalar needs m = 1 */
    ck_assert_int_eq(solve_fixed(slv_sde_step_sriw1, &sys, 2, 4, NULL), SLV_EINVAL);
    sys = gbm_diagonal_system(&gbm);
    sys.noise = (slv_noise_type)3;
    ck_assert_int_eq(slv_sde_validate(&sys, &err), SLV_EINVAL);
    sys = gbm_diagonal_system(&gbm);
    sys.dim = 0;
    ck_assert_int_eq(slv_sde_validate(&sys, &err), SLV_EINVAL);
    sys = gbm_diagonal_system(&gbm);
    sys.drift = NULL;
    ck_assert_int_eq(slv_sde_validate(&sys, &err), SLV_EINVAL);
    sys = general_additive_system(&additive);
    sys.noise_dim = 0;
    ck_assert_int_eq(slv_sde_validate(&sys, &err), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_validate(NULL, &err), SLV_EINVAL);
    sys = gbm_diagonal_system(&gbm);
    ck_assert_int_eq(slv_sde_validate(&sys, &err), SLV_OK);
}
END_TEST

START_TEST(test_bad_steps_times_and_settings_are_invalid)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x[4] = {1, 1, 1, 1};
    ck_assert_ptr_null(slv_sde_solver_alloc(slv_sde_step_em, &sys, 0));
    ck_assert_ptr_null(slv_sde_solver_alloc(NULL, &sys, 2));
    ck_assert_ptr_null(slv_sde_solver_alloc(slv_sde_step_em, NULL, 2));
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_em, &sys, 2);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 0, x, NULL), SLV_EINVAL);
    printf("%s\n", slv_sde_solver_get_error(s)->message);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 1.0, 1.0, 10, x, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, NAN, 10, x, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, (size_t)1 << 41, x, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, NULL, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_set_tolerances(s, -1e-3, 1e-3), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_set_tolerances(s, 1e-3, 0.0), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_set_max_steps(s, 0), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_set_threads(s, -2), SLV_EINVAL);
    ck_assert_int_eq(slv_sde_solver_set_initial_step(s, INFINITY), SLV_EINVAL);
    x[3] = NAN;
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL), SLV_ENONFINITE);
    ck_assert_int_eq(slv_sde_solver_get_error(s)->path, 1);
    slv_sde_solver_free(s);
}
END_TEST

/* Drift NaN for batch row 7 from t >= 0.55 (batch of 10 with first_path 100, 10 steps on
 * [0, 1]): SLV_ENONFINITE at the time of the offending stage, path 107, and x equal to the state
 * the observer saw after the last good step. */
static int nan_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    const slv_sde *inner = params;
    inner->drift(t, n, d, x, out, inner->params);
    if (t >= 0.55 && n > 7)
        out[7 * d] = NAN;
    return 0;
}

static int nan_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    const slv_sde *inner = params;
    inner->diffusion(t, n, d, x, out, inner->params);
    if (t >= 0.55 && n > 7)
        out[7 * d] = NAN;
    return 0;
}

typedef struct last_state {
    double t;
    double x[64];
} last_state;

static int keep_state(double t, size_t n, size_t d, const double *x, void *data)
{
    last_state *l = data;
    l->t = t;
    memcpy(l->x, x, n * d * sizeof(double));
    return 0;
}

static const char *all_methods[] = {"em", "milstein", "sra1", "sra3", "sriw1", "sriw2"};

START_TEST(test_nan_in_drift_reports_time_and_path_and_keeps_last_good_state)
{
    const slv_sde_step_type *type = slv_sde_step_type_by_name(all_methods[_i]);
    slv_sde inner = system_for(type);
    slv_sde sys = inner;
    sys.drift = nan_drift;
    sys.params = &inner;
    const size_t n = 10, nd = n * sys.dim;
    double x[64];
    for (size_t e = 0; e < nd; e++)
        x[e] = 1.0 + 0.01 * (double)e;
    last_state last = {0};
    slv_sde_solver *s = slv_sde_solver_alloc(type, &sys, n);
    slv_sde_solver_set_seed(s, 8, 100);
    slv_sde_solver_set_observer(s, keep_state, &last, 1);
    int rc = slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL);
    const slv_error *e = slv_sde_solver_get_error(s);
    printf("%s: %s\n", type->name, e->message);
    ck_assert_int_eq(rc, SLV_ENONFINITE);
    ck_assert_int_eq(e->status, SLV_ENONFINITE);
    ck_assert_int_eq(e->path, 107);
    ck_assert_msg(e->t >= 0.55 && e->t <= last.t + 0.1 + 1e-12 && last.t <= e->t,
                  "NaN reported at t = %g, last good state at %g", e->t, last.t);
    ck_assert_msg(memcmp(x, last.x, nd * sizeof(double)) == 0,
                  "x is not the state after the last good step");
    slv_sde_solver_free(s);
}
END_TEST

START_TEST(test_nan_in_diffusion_reports_path)
{
    slv_sde inner = gbm_diagonal_system(&gbm);
    slv_sde sys = inner;
    sys.diffusion = nan_diffusion;
    sys.params = &inner;
    /* gbm_* callbacks read their params through the wrapper's inner system. */
    const size_t n = 10;
    double x[20];
    for (size_t e = 0; e < 20; e++)
        x[e] = 1.0;
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sriw1, &sys, n);
    slv_sde_solver_set_seed(s, 8, 100);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL), SLV_ENONFINITE);
    ck_assert_int_eq(slv_sde_solver_get_error(s)->path, 107);
    printf("%s\n", slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
}
END_TEST

static int failing_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    gbm_drift(t, n, d, x, out, params);
    return t > 0.3 ? -1 : 0;
}

static int retry_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    gbm_drift(t, n, d, x, out, params);
    return t > 0.3 ? 2 : 0;
}

static int failing_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                             void *params)
{
    gbm_diffusion(t, n, d, x, out, params);
    return -3;
}

START_TEST(test_failing_callbacks_stop_with_callback_error)
{
    slv_error err;
    slv_sde sys = gbm_diagonal_system(&gbm);
    sys.drift = failing_drift;
    ck_assert_int_eq(solve_fixed(slv_sde_step_sriw1, &sys, 2, 10, &err), SLV_ECALLBACK);
    printf("%s\n", err.message);
    ck_assert(err.t > 0.3);
    sys.drift = retry_drift; /* > 0 cannot be retried with a fixed step */
    ck_assert_int_eq(solve_fixed(slv_sde_step_em, &sys, 2, 10, &err), SLV_ECALLBACK);
    printf("%s\n", err.message);
    sys = gbm_diagonal_system(&gbm);
    sys.diffusion = failing_diffusion;
    ck_assert_int_eq(solve_fixed(slv_sde_step_milstein, &sys, 2, 10, &err), SLV_ECALLBACK);
    ck_assert(err.t == 0.0);
    /* Adaptive: < 0 stops too. */
    sys = gbm_diagonal_system(&gbm);
    sys.drift = failing_drift;
    double x[4] = {1, 1, 1, 1};
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sriw1, &sys, 2);
    ck_assert_int_eq(slv_sde_solver_solve_adaptive(s, 0.0, 1.0, x, NULL), SLV_ECALLBACK);
    slv_sde_solver_free(s);
}
END_TEST

/* Counting callbacks that also check the batch size they are handed. */
typedef struct counting {
    slv_sde inner;
    size_t drift, diffusion, diffusion_dx;
} counting;

static int count_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    counting *c = params;
    c->drift++;
    return c->inner.drift(t, n, d, x, out, c->inner.params);
}

static int count_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                           void *params)
{
    counting *c = params;
    c->diffusion++;
    if (c->inner.additive)
        ck_assert(n == 1 && x == NULL);
    return c->inner.diffusion(t, n, d, x, out, c->inner.params);
}

static int count_diffusion_dx(double t, size_t n, size_t d, const double *x, double *out,
                              void *params)
{
    counting *c = params;
    c->diffusion_dx++;
    return c->inner.diffusion_dx(t, n, d, x, out, c->inner.params);
}

typedef struct count_case {
    const char *method;
    int use_dx;
    size_t drift, diffusion; /* batched calls per step */
} count_case;

static const count_case count_cases[] = {
    {"em", 0, 1, 1},    {"milstein", 0, 1, 2}, {"milstein", 1, 1, 2}, {"sra1", 0, 2, 2},
    {"sra3", 0, 3, 2},  {"sriw1", 0, 2, 4},    {"sri2", 0, 2, 4},     {"sriw2", 0, 3, 4},
};

START_TEST(test_batched_callback_calls_per_step_match_the_method)
{
    const count_case *cc = &count_cases[_i];
    const slv_sde_step_type *type = slv_sde_step_type_by_name(cc->method);
    ck_assert_ptr_nonnull(type);
    counting c = {.inner = system_for(type)};
    if (cc->use_dx)
        c.inner.diffusion_dx = gbm_diffusion_dx_diagonal;
    slv_sde sys = c.inner;
    sys.drift = count_drift;
    sys.diffusion = count_diffusion;
    sys.diffusion_dx = cc->use_dx ? count_diffusion_dx : NULL;
    sys.params = &c;
    const size_t n = 7, steps = 13;
    double x[14];
    for (size_t e = 0; e < 14; e++)
        x[e] = 1.0;
    slv_sde_solver *s = slv_sde_solver_alloc(type, &sys, n);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, steps, x, NULL), SLV_OK);
    size_t diffusion_total = c.diffusion + c.diffusion_dx;
    printf("%-8s%s: %zu drift and %zu diffusion calls in %zu steps\n", cc->method,
           cc->use_dx ? "+dx" : "   ", c.drift, diffusion_total, steps);
    ck_assert_uint_eq(c.drift, cc->drift * steps);
    ck_assert_uint_eq(diffusion_total, cc->diffusion * steps);
    ck_assert_uint_eq(slv_sde_solver_get_n_drift_evals(s), c.drift);
    ck_assert_uint_eq(slv_sde_solver_get_n_diffusion_evals(s), diffusion_total);
    ck_assert_uint_eq(slv_sde_solver_get_n_steps(s), steps);
    slv_sde_solver_free(s);

    /* One step through the public apply with exactly work_size doubles (the sanitizer build
     * catches any overrun) and an error estimate requested. */
    double *work = malloc(type->work_size(&sys, n) * sizeof(double));
    double dW[21], H[21], err_est[14];
    for (size_t e = 0; e < 21; e++) {
        dW[e] = 0.1 * sin((double)e);
        H[e] = 0.02 * cos((double)e);
    }
    size_t nd = 0, ng = 0;
    slv_error err;
    ck_assert_int_eq(type->apply(&sys, 0.0, 0.05, n, x, dW, H, err_est, work, &nd, &ng, &err, 1),
                     SLV_OK);
    size_t extra = type == slv_sde_step_milstein ? 1 : 0; /* Heun's drift for the estimate */
    ck_assert_uint_eq(nd, cc->drift + extra);
    ck_assert_uint_eq(ng, cc->diffusion);
    free(work);
}
END_TEST

START_TEST(test_methods_are_found_by_name)
{
    for (size_t i = 0; slv_sde_step_types[i] != NULL; i++)
        ck_assert_ptr_eq(slv_sde_step_type_by_name(slv_sde_step_types[i]->name), slv_sde_step_types[i]);
    ck_assert_ptr_eq(slv_sde_step_type_by_name("sri2"), slv_sde_step_sriw1);
    ck_assert_ptr_null(slv_sde_step_type_by_name("rk4"));
    ck_assert_ptr_null(slv_sde_step_type_by_name(NULL));
}
END_TEST

static Suite *bad_input_suite(void)
{
    Suite *s = suite_create("sde_bad_input");
    TCase *tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unsupported_noise_type_is_refused);
    tcase_add_test(tc, test_inconsistent_dimensions_are_invalid);
    tcase_add_test(tc, test_bad_steps_times_and_settings_are_invalid);
    tcase_add_loop_test(tc, test_nan_in_drift_reports_time_and_path_and_keeps_last_good_state, 0,
                        (int)(sizeof all_methods / sizeof all_methods[0]));
    tcase_add_test(tc, test_nan_in_diffusion_reports_path);
    tcase_add_test(tc, test_failing_callbacks_stop_with_callback_error);
    tcase_add_loop_test(tc, test_batched_callback_calls_per_step_match_the_method, 0,
                        (int)(sizeof count_cases / sizeof count_cases[0]));
    tcase_add_test(tc, test_methods_are_found_by_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bad_input_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
