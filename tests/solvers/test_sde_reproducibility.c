/* test_sde_reproducibility.c — the fixed-step driver gives the same bits for the same seed
 * whatever the thread count or batch split; N and 2N steps see the same Brownian path; reverse
 * time integrates in integration time on the same tree; observer and interrupt behave.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde.h"
#include "test_sde_problems.h"

static gbm_params gbm = {.mu = 0.8, .sigma = 0.6};
static additive_params additive = {.sigma = 1.0};

/* Solves paths [first, first + n) of a batch; x must hold n·d numbers (set to 1 + 0.01·global
 * index), w n·m. */
static int run(const slv_sde_step_type *type, const slv_sde *sys, size_t n, size_t first,
               int threads, uint64_t seed, double t0, double t1, size_t steps, double *x,
               double *w)
{
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < sys->dim; i++)
            x[p * sys->dim + i] = 1.0 + 0.01 * (double)(first + p) + 0.1 * (double)i;
    slv_sde_solver *s = slv_sde_solver_alloc(type, sys, n);
    ck_assert_ptr_nonnull(s);
    slv_sde_solver_set_seed(s, seed, first);
    slv_sde_solver_set_threads(s, threads);
    int rc = slv_sde_solver_solve_fixed(s, t0, t1, steps, x, w);
    ck_assert_msg(rc == SLV_OK, "%s: %s", type->name, slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
    return rc;
}

typedef struct repro_case {
    const char *method;
    int general; /* general additive system, else diagonal GBM */
} repro_case;

static const repro_case repro_cases[] = {
    {"em", 0}, {"milstein", 0}, {"sriw1", 0}, {"sriw2", 0}, {"sra1", 1}, {"sra3", 1}, {"em", 1},
};

/* One and two threads asked for; this batch is below the grains, so it runs on one thread either
 * way — batches whose regions do fork are in test_sde_threads.c. */
START_TEST(test_same_seed_same_bits_for_one_and_two_threads)
{
    const repro_case *c = &repro_cases[_i];
    slv_sde sys = c->general ? general_additive_system(&additive) : gbm_diagonal_system(&gbm);
    const slv_sde_step_type *type = slv_sde_step_type_by_name(c->method);
    const size_t n = 5000, nd = n * sys.dim, nm = n * sys.noise_dim;
    double *x1 = malloc(nd * sizeof(double)), *x2 = malloc(nd * sizeof(double));
    double *x3 = malloc(nd * sizeof(double));
    double *w1 = malloc(nm * sizeof(double)), *w2 = malloc(nm * sizeof(double));
    double *w3 = malloc(nm * sizeof(double));
    run(type, &sys, n, 0, 1, 42, 0.0, 1.0, 24, x1, w1);
    run(type, &sys, n, 0, 2, 42, 0.0, 1.0, 24, x2, w2);
    run(type, &sys, n, 0, 1, 42, 0.0, 1.0, 24, x3, w3);
    ck_assert_msg(memcmp(x1, x3, nd * sizeof(double)) == 0, "%s: same seed, different x",
                  c->method);
    ck_assert_msg(memcmp(x1, x2, nd * sizeof(double)) == 0, "%s: 1 vs 2 threads differ in x",
                  c->method);
    ck_assert(memcmp(w1, w2, nm * sizeof(double)) == 0);
    run(type, &sys, n, 0, 1, 43, 0.0, 1.0, 24, x3, w3);
    ck_assert_msg(memcmp(x1, x3, nd * sizeof(double)) != 0, "%s: seeds 42 and 43 agree",
                  c->method);
    free(x1);
    free(x2);
    free(x3);
    free(w1);
    free(w2);
    free(w3);
}
END_TEST

START_TEST(test_split_batches_give_the_bits_of_the_whole_batch)
{
    const repro_case *c = &repro_cases[_i];
    slv_sde sys = c->general ? general_additive_system(&additive) : gbm_diagonal_system(&gbm);
    const slv_sde_step_type *type = slv_sde_step_type_by_name(c->method);
    const size_t n = 100, d = sys.dim, m = sys.noise_dim, split = 37;
    double x_all[200], x_part[200], w_all[300], w_part[300];
    run(type, &sys, n, 0, 0, 9, 0.0, 2.0, 40, x_all, w_all);
    run(type, &sys, split, 0, 0, 9, 0.0, 2.0, 40, x_part, w_part);
    run(type, &sys, n - split, split, 0, 9, 0.0, 2.0, 40, x_part + split * d, w_part + split * m);
    ck_assert_msg(memcmp(x_all, x_part, n * d * sizeof(double)) == 0,
                  "%s: split batch differs from the whole", c->method);
    ck_assert(memcmp(w_all, w_part, n * m * sizeof(double)) == 0);
}
END_TEST

/* W(T) from N and 2N steps, for N a power of two and not. */
START_TEST(test_n_and_2n_steps_see_the_same_brownian_path)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    const size_t n = 50, nd = n * 2;
    double x[100], w_n[100], w_2n[100], w_4n[100];
    const size_t bases[] = {1, 3, 5, 8, 12};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        size_t N = bases[b];
        run(slv_sde_step_sriw1, &sys, n, 0, 0, 5, 0.0, 1.5, N, x, w_n);
        run(slv_sde_step_sriw1, &sys, n, 0, 0, 5, 0.0, 1.5, 2 * N, x, w_2n);
        run(slv_sde_step_em, &sys, n, 0, 0, 5, 0.0, 1.5, 4 * N, x, w_4n);
        ck_assert_msg(memcmp(w_n, w_2n, nd * sizeof(double)) == 0, "W(T) differs for N = %zu, 2N",
                      N);
        ck_assert_msg(memcmp(w_n, w_4n, nd * sizeof(double)) == 0, "W(T) differs for N = %zu, 4N",
                      N);
    }
}
END_TEST

static int zero_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)x;
    (void)params;
    memset(out, 0, n * d * sizeof(double));
    return 0;
}

static int unit_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)x;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 1.0;
    return 0;
}

/* The increments the steps used add up to w_final: an EM solve of dX = dW (f = 0, g = 1)
 * returns x0 + Σ ΔW. */
START_TEST(test_steps_use_the_increments_that_sum_to_w_final)
{
    slv_sde sys = {.drift = zero_drift,
                   .diffusion = unit_diffusion,
                   .dim = 3,
                   .noise_dim = 3,
                   .noise = SLV_NOISE_DIAGONAL};
    const size_t n = 20;
    double x[60], w[60];
    const size_t steps[] = {7, 64, 100};
    for (size_t k = 0; k < 3; k++) {
        run(slv_sde_step_em, &sys, n, 0, 0, 3, 0.0, 1.0, steps[k], x, w);
        for (size_t p = 0; p < n; p++)
            for (size_t i = 0; i < 3; i++) {
                double x0 = 1.0 + 0.01 * (double)p + 0.1 * (double)i;
                ck_assert_double_eq_tol(x[p * 3 + i] - x0, w[p * 3 + i], 1e-12);
            }
    }
}
END_TEST

/* t0 = 1 → t1 = 0: the SDE runs in integration time s = t0 − t, dX = −f ds + g dW_s, on the tree
 * of the forward solve (same W(T) bits). For GBM: X = x0 exp((−μ − σ²/2)s + σ W_s). */
START_TEST(test_reverse_time_integrates_in_integration_time_on_the_same_tree)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    const size_t n = 400, nd = n * 2;
    double *x = malloc(nd * sizeof(double)), *w = malloc(nd * sizeof(double));
    double *x_fwd = malloc(nd * sizeof(double)), *w_fwd = malloc(nd * sizeof(double));
    run(slv_sde_step_sriw1, &sys, n, 0, 0, 17, 1.0, 0.0, 256, x, w);
    run(slv_sde_step_sriw1, &sys, n, 0, 0, 17, 0.0, 1.0, 256, x_fwd, w_fwd);
    ck_assert(memcmp(w, w_fwd, nd * sizeof(double)) == 0);
    double err = 0.0;
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < 2; i++) {
            double x0 = 1.0 + 0.01 * (double)p + 0.1 * (double)i;
            double exact = x0 * exp((-gbm.mu - 0.5 * gbm.sigma * gbm.sigma) + gbm.sigma * w[p * 2 + i]);
            err += fabs(x[p * 2 + i] - exact) / (double)nd;
        }
    printf("reverse-time sriw1, 256 steps: mean |error| %.2e\n", err);
    ck_assert_msg(err < 1e-3, "reverse-time error %g", err);
    free(x);
    free(w);
    free(x_fwd);
    free(w_fwd);
}
END_TEST

typedef struct observed {
    double t[64];
    size_t calls;
    size_t stop_at; /* return nonzero on this call (0: never) */
} observed;

static int record(double t, size_t n, size_t d, const double *x, void *data)
{
    (void)n;
    (void)d;
    (void)x;
    observed *o = data;
    if (o->calls < 64)
        o->t[o->calls] = t;
    o->calls++;
    return o->stop_at != 0 && o->calls == o->stop_at;
}

START_TEST(test_observer_sees_t0_every_k_steps_and_t1)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x[4] = {1, 1, 1, 1};
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_em, &sys, 2);
    observed o = {.calls = 0};
    slv_sde_solver_set_observer(s, record, &o, 3);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL), SLV_OK);
    ck_assert_uint_eq(o.calls, 5); /* 0, 0.3, 0.6, 0.9, 1 */
    const double expected[5] = {0.0, 0.3, 0.6, 0.9, 1.0};
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq_tol(o.t[i], expected[i], 1e-14);
    ck_assert_uint_eq(slv_sde_solver_get_n_steps(s), 10);
    /* every = 0: t0 and t1 only; an observer returning nonzero stops the solve. */
    o.calls = 0;
    slv_sde_solver_set_observer(s, record, &o, 0);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL), SLV_OK);
    ck_assert_uint_eq(o.calls, 2);
    o.calls = 0;
    o.stop_at = 2;
    slv_sde_solver_set_observer(s, record, &o, 2);
    ck_assert_int_eq(slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL), SLV_EINTERRUPTED);
    ck_assert_uint_eq(slv_sde_solver_get_n_steps(s), 2);
    slv_sde_solver_free(s);
}
END_TEST

static volatile int interrupt_flag;

static int raise_flag(double t, size_t n, size_t d, const double *x, void *data)
{
    (void)n;
    (void)d;
    (void)x;
    (void)data;
    if (t > 0.45)
        interrupt_flag = 1;
    return 0;
}

START_TEST(test_interrupt_flag_stops_the_solve_between_steps)
{
    slv_sde sys = gbm_diagonal_system(&gbm);
    double x[4] = {1, 1, 1, 1};
    slv_sde_solver *s = slv_sde_solver_alloc(slv_sde_step_sriw1, &sys, 2);
    interrupt_flag = 0;
    slv_sde_solver_set_interrupt(s, &interrupt_flag);
    slv_sde_solver_set_observer(s, raise_flag, NULL, 1);
    int rc = slv_sde_solver_solve_fixed(s, 0.0, 1.0, 10, x, NULL);
    ck_assert_int_eq(rc, SLV_EINTERRUPTED);
    ck_assert_uint_eq(slv_sde_solver_get_n_steps(s), 5);
    printf("interrupt: %s\n", slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
}
END_TEST

static Suite *repro_suite(void)
{
    Suite *s = suite_create("sde_reproducibility");
    TCase *tc = tcase_create("fixed_step");
    tcase_set_timeout(tc, 300);
    int n_cases = (int)(sizeof repro_cases / sizeof repro_cases[0]);
    tcase_add_loop_test(tc, test_same_seed_same_bits_for_one_and_two_threads, 0, n_cases);
    tcase_add_loop_test(tc, test_split_batches_give_the_bits_of_the_whole_batch, 0, n_cases);
    tcase_add_test(tc, test_n_and_2n_steps_see_the_same_brownian_path);
    tcase_add_test(tc, test_steps_use_the_increments_that_sum_to_w_final);
    tcase_add_test(tc, test_reverse_time_integrates_in_integration_time_on_the_same_tree);
    tcase_add_test(tc, test_observer_sees_t0_every_k_steps_and_t1);
    tcase_add_test(tc, test_interrupt_flag_stops_the_solve_between_steps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(repro_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
