/* test_ode_stiff.c — the BDF path works: on the stiff y' = −λ (y − cos t), λ = 1000, cvode-bdf
 * reaches the tolerance with far fewer rhs calls than the explicit dopri5, whose step is bounded
 * by stability (|h λ| ≲ 3.3), not accuracy. Checked with the dense linear solver (one state) and
 * the matrix-free GMRES one (a joint batch of 40 states, above the dense size limit). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "slv_ode.h"

static const double lambda = 1000.0, t_end = 10.0, tol = 1e-6;

static int stiff_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    (void)params;
    for (size_t i = 0; i < n * d; i++)
        dydt[i] = -lambda * (y[i] - cos(t));
    return 0;
}

/* y(t) = A cos t + B sin t + (y0 − A) e^{−λ t}, A = λ²/(1 + λ²), B = λ/(1 + λ²). */
static double stiff_exact(double t, double y0)
{
    const double a = lambda * lambda / (1.0 + lambda * lambda), b = lambda / (1.0 + lambda * lambda);
    return a * cos(t) + b * sin(t) + (y0 - a) * exp(-lambda * t);
}

/* Solves n states (y0_i = 2 i / n) jointly; returns NFE and checks the scaled error ≤ 50 (the
 * CVODE factor of test_ode_accuracy.c). */
static size_t stiff_solve(const slv_ode_method *method, size_t n)
{
    slv_ode sys = {stiff_rhs, 1, NULL};
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        y[i] = 2.0 * (double)i / (double)n;
    slv_ode_solver *s = slv_ode_solver_alloc(method, &sys, n);
    ck_assert_int_eq(slv_ode_solver_set_tolerances(s, tol, tol), SLV_OK);
    int status = slv_ode_solver_solve(s, 0.0, t_end, y);
    ck_assert_msg(status == SLV_OK, "%s: %s", method->name, slv_ode_solver_get_error(s)->message);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double exact = stiff_exact(t_end, 2.0 * (double)i / (double)n);
        const double err = fabs(y[i] - exact) / (tol + tol * fabs(exact));
        worst = err > worst ? err : worst;
    }
    const size_t nfe = slv_ode_solver_get_n_rhs_evals(s);
    printf("stiff n = %2zu %-11s: NFE %6zu, steps %5zu, rejected %4zu, error %.2f tol\n", n,
           method->name, nfe, slv_ode_solver_get_n_steps(s), slv_ode_solver_get_n_rejected(s),
           worst);
    ck_assert_double_le(worst, 50.0);
    slv_ode_solver_free(s);
    free(y);
    return nfe;
}

/* dopri5 needs ≥ λ T / 3.3 ≈ 3000 steps (≈ 18000 calls) for stability alone; BDF is limited only by
 * the accuracy of the slow cos t component. A 10× ratio is asserted. */
START_TEST(test_bdf_beats_dopri5_on_stiff_problem)
{
    const size_t n = _i == 0 ? 1 : 40; /* 1: dense Newton solver; 40: matrix-free GMRES */
    const size_t nfe_bdf = stiff_solve(slv_ode_cvode_bdf, n);
    const size_t nfe_dopri5 = stiff_solve(slv_ode_dopri5, n);
    stiff_solve(slv_ode_cvode_adams, n); /* for the record: Adams is explicit-like here too */
    printf("stiff n = %2zu NFE ratio dopri5 / cvode-bdf = %.1f\n", n,
           (double)nfe_dopri5 / (double)nfe_bdf);
    ck_assert_uint_ge(nfe_dopri5, 15000);
    ck_assert_msg(nfe_dopri5 >= 10 * nfe_bdf, "dopri5 NFE %zu, cvode-bdf NFE %zu", nfe_dopri5,
                  nfe_bdf);
}
END_TEST

static Suite *ode_stiff_suite(void)
{
    Suite *suite = suite_create("ode_stiff");
    TCase *tc = tcase_create("stiff");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_bdf_beats_dopri5_on_stiff_problem, 0, 2);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ode_stiff_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
