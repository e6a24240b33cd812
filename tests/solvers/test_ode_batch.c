/* test_ode_batch.c — batch modes: fixed-step methods give bit-identical results in JOINT and
 * INDEPENDENT mode; in INDEPENDENT mode an adaptive method's result for a state does not depend on
 * its batch-mates (bit-identical alone or in a batch of 5), and counters add up; repeated solves on
 * one solver (re-initialised SUNDIALS/GSL objects) reproduce the first solve bit for bit. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_ode.h"
#include "test_ode_problems.h"

enum { N_BATCH = 5 };

/* Records the batch size of every rhs call. */
typedef struct batch_probe {
    rotation_params rotation;
    size_t min_n, max_n;
} batch_probe;

static int probe_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    batch_probe *probe = params;
    probe->min_n = n < probe->min_n ? n : probe->min_n;
    probe->max_n = n > probe->max_n ? n : probe->max_n;
    return rotation_rhs(t, n, d, y, dydt, &probe->rotation);
}

static int solve_batch(const slv_ode_method *method, slv_batch_mode mode, size_t n,
                       const double *y0, double t0, double t1, double *y, size_t *path_nfe,
                       size_t *total_nfe, batch_probe *probe)
{
    *probe = (batch_probe){{0.3, 2.0, 0}, (size_t)-1, 0};
    slv_ode sys = {probe_rhs, 2, probe};
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, n);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(slv_ode_solver_set_batch_mode(s, mode), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, 1e-7, 1e-7), SLV_OK);
    ck_assert_int_eq(slv_ode_solver_set_steps(s, 37), SLV_OK);
    memcpy(y, y0, 2 * n * sizeof *y);
    int status = slv_ode_solver_solve(s, t0, t1, y);
    ck_assert_msg(status == SLV_OK, "%s: %s", method->name, slv_ode_solver_get_error(s)->message);
    slv_ode_solver_get_path_rhs_evals(s, path_nfe);
    *total_nfe = slv_ode_solver_get_n_rhs_evals(s);
    slv_ode_solver_free(s);
    return status;
}

START_TEST(test_fixed_methods_joint_equals_independent_bitwise)
{
    const slv_ode_method *method = fixed_methods()[_i];
    double y0[2 * N_BATCH], joint[2 * N_BATCH], independent[2 * N_BATCH];
    size_t nfe_joint[N_BATCH], nfe_indep[N_BATCH], total_joint, total_indep;
    batch_probe probe;
    rotation_initial(N_BATCH, y0);

    solve_batch(method, SLV_BATCH_JOINT, N_BATCH, y0, 0.0, 1.5, joint, nfe_joint, &total_joint,
                &probe);
    ck_assert_uint_eq(probe.min_n, N_BATCH);
    solve_batch(method, SLV_BATCH_INDEPENDENT, N_BATCH, y0, 0.0, 1.5, independent, nfe_indep,
                &total_indep, &probe);
    ck_assert_uint_eq(probe.max_n, 1);

    ck_assert_msg(memcmp(joint, independent, sizeof joint) == 0, "%s: modes differ", method->name);
    const size_t per_path = 37 * (size_t)method->order; /* steps · stages */
    ck_assert_uint_eq(total_joint, per_path);
    ck_assert_uint_eq(total_indep, N_BATCH * per_path);
    for (int p = 0; p < N_BATCH; p++) {
        ck_assert_uint_eq(nfe_joint[p], per_path);
        ck_assert_uint_eq(nfe_indep[p], per_path);
    }
}
END_TEST

START_TEST(test_adaptive_independent_state_does_not_depend_on_batch)
{
    const slv_ode_method *method = adaptive_methods()[_i / 2];
    const int backward = _i % 2;
    const double t0 = backward ? 3.0 : 0.0, t1 = backward ? 0.0 : 3.0;
    double y0[2 * N_BATCH], batch[2 * N_BATCH];
    size_t nfe_batch[N_BATCH], total_batch;
    batch_probe probe;
    rotation_initial(N_BATCH, y0);

    solve_batch(method, SLV_BATCH_INDEPENDENT, N_BATCH, y0, t0, t1, batch, nfe_batch, &total_batch,
                &probe);
    ck_assert_uint_eq(probe.max_n, 1);
    size_t sum = 0;
    for (int p = 0; p < N_BATCH; p++) {
        double alone[2];
        size_t nfe_alone, total_alone;
        solve_batch(method, SLV_BATCH_INDEPENDENT, 1, y0 + 2 * p, t0, t1, alone, &nfe_alone,
                    &total_alone, &probe);
        ck_assert_msg(memcmp(alone, batch + 2 * p, sizeof alone) == 0,
                      "%s: state %d alone (%.17g, %.17g) != in batch (%.17g, %.17g)",
                      method->name, p, alone[0], alone[1], batch[2 * p], batch[2 * p + 1]);
        ck_assert_uint_eq(nfe_alone, nfe_batch[p]);
        ck_assert_uint_gt(nfe_batch[p], 0);
        sum += nfe_batch[p];
    }
    ck_assert_uint_eq(sum, total_batch);
    printf("%-11s INDEPENDENT %s: per-path NFE %zu %zu %zu %zu %zu\n", method->name,
           backward ? "backward" : "forward", nfe_batch[0], nfe_batch[1], nfe_batch[2],
           nfe_batch[3], nfe_batch[4]);
}
END_TEST

/* JOINT mode: one step sequence for the batch, all paths report the batched NFE, and the error
 * norm covers the batch (states differ in radius, so the joint solve differs from solving alone,
 * but stays within tolerance). */
START_TEST(test_adaptive_joint_counts_batched_calls)
{
    const slv_ode_method *method = adaptive_methods()[_i];
    double y0[2 * N_BATCH], joint[2 * N_BATCH], exact[2 * N_BATCH];
    size_t nfe[N_BATCH], total;
    batch_probe probe;
    rotation_initial(N_BATCH, y0);
    solve_batch(method, SLV_BATCH_JOINT, N_BATCH, y0, 0.0, 3.0, joint, nfe, &total, &probe);
    ck_assert_uint_eq(probe.min_n, N_BATCH);
    ck_assert_uint_eq((size_t)probe.rotation.calls, total);
    for (int p = 0; p < N_BATCH; p++)
        ck_assert_uint_eq(nfe[p], total);
    rotation_exact(&probe.rotation, 3.0, N_BATCH, y0, exact);
    ck_assert_double_le(scaled_error(joint, exact, 2 * N_BATCH, 1e-7, 1e-7), 50.0);
}
END_TEST

/* The same solver object solving twice (SUNDIALS ReInit / GSL reset) and switching modes gives
 * the same bits as the first solve. */
START_TEST(test_repeated_solves_reproduce_bitwise)
{
    const slv_ode_method *method = slv_ode_methods[_i];
    rotation_params params = {0.3, 2.0, 0};
    slv_ode sys = {rotation_rhs, 2, &params};
    double y0[2 * N_BATCH], first[2 * N_BATCH], again[2 * N_BATCH];
    rotation_initial(N_BATCH, y0);
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, N_BATCH);
    for (int mode = 0; mode < 2; mode++) {
        ck_assert_int_eq(slv_ode_solver_set_batch_mode(s, (slv_batch_mode)mode), SLV_OK);
        memcpy(first, y0, sizeof first);
        ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 2.0, first), SLV_OK);
        const size_t nfe_first = slv_ode_solver_get_n_rhs_evals(s);
        /* a different solve in between, backward, to disturb any state left behind */
        memcpy(again, y0, sizeof again);
        ck_assert_int_eq(slv_ode_solver_solve(s, 1.0, -0.5, again), SLV_OK);
        memcpy(again, y0, sizeof again);
        ck_assert_int_eq(slv_ode_solver_solve(s, 0.0, 2.0, again), SLV_OK);
        ck_assert_msg(memcmp(first, again, sizeof first) == 0, "%s mode %d: repeat differs",
                      method->name, mode);
        ck_assert_uint_eq(slv_ode_solver_get_n_rhs_evals(s), nfe_first);
    }
    slv_ode_solver_free(s);
}
END_TEST

static Suite *ode_batch_suite(void)
{
    Suite *suite = suite_create("ode_batch");
    TCase *tc = tcase_create("modes");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fixed_methods_joint_equals_independent_bitwise, 0,
                        N_FIXED_METHODS);
    tcase_add_loop_test(tc, test_adaptive_independent_state_does_not_depend_on_batch, 0,
                        2 * N_ADAPTIVE_METHODS);
    tcase_add_loop_test(tc, test_adaptive_joint_counts_batched_calls, 0, N_ADAPTIVE_METHODS);
    tcase_add_loop_test(tc, test_repeated_solves_reproduce_bitwise, 0, 8);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ode_batch_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
