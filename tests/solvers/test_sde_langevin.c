/* test_sde_langevin.c — unadjusted Langevin steps on a standard Gaussian target (score −x).
 *
 * x ← (1 − ε) x + √(2ε) z is a linear recursion: started at x0 it has, after k steps, mean
 * (1 − ε)^k x0 and variance v∞(1 − (1 − ε)^{2k}) with v∞ = 2ε/(1 − (1 − ε)²) = 1/(1 − ε/2) —
 * the target's variance 1 up to ULA's O(ε) bias. After burn-in the sample mean and variance of
 * the final states must match these within 5 standard errors of the P·d independent samples.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde.h"

static int gaussian_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = -x[e];
    return 0;
}

START_TEST(test_langevin_samples_a_standard_gaussian_after_burn_in)
{
    const size_t n = 20000, d = 4, steps = 300;
    const double eps = 0.05, x0 = 3.0;
    double *x = malloc(n * d * sizeof(double)), *work = malloc(n * d * sizeof(double));
    for (size_t e = 0; e < n * d; e++)
        x[e] = x0;
    slv_error err;
    int rc = slv_langevin_run(gaussian_score, NULL, 0.0, n, d, x, eps, steps, 11, 0, work, &err);
    ck_assert_msg(rc == SLV_OK, "%s", err.message);
    double decay = pow(1.0 - eps, (double)steps);
    double v_inf = 1.0 / (1.0 - 0.5 * eps);
    double mean_expected = x0 * decay, var_expected = v_inf * (1.0 - decay * decay);
    double s1 = 0.0, s2 = 0.0;
    const double count = (double)(n * d);
    for (size_t e = 0; e < n * d; e++)
        s1 += x[e];
    double mean = s1 / count;
    for (size_t e = 0; e < n * d; e++)
        s2 += (x[e] - mean) * (x[e] - mean);
    double var = s2 / (count - 1.0);
    double se_mean = sqrt(var_expected / count), se_var = var_expected * sqrt(2.0 / count);
    printf("ULA eps = %.2f after %zu steps: mean %.5f (expected %.5f ± %.5f), var %.5f (expected "
           "%.5f ± %.5f; target 1)\n",
           eps, steps, mean, mean_expected, se_mean, var, var_expected, se_var);
    ck_assert_msg(fabs(mean - mean_expected) < 5.0 * se_mean, "mean %g, expected %g", mean,
                  mean_expected);
    ck_assert_msg(fabs(var - var_expected) < 5.0 * se_var, "variance %g, expected %g", var,
                  var_expected);
    free(x);
    free(work);
}
END_TEST

/* Paths 0..9 in one call and as paths 0..3 and 4..9 (first_path = 4): the same bits. */
START_TEST(test_langevin_results_do_not_depend_on_the_batch_split)
{
    const size_t n = 10, d = 3;
    double x_all[30], x_a[12], x_b[18], work[30];
    for (size_t e = 0; e < n * d; e++)
        x_all[e] = 0.1 * (double)e;
    memcpy(x_a, x_all, sizeof x_a);
    memcpy(x_b, x_all + 12, sizeof x_b);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, n, d, x_all, 0.1, 25, 5, 0, work, NULL),
                     SLV_OK);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, 4, d, x_a, 0.1, 25, 5, 0, work, NULL),
                     SLV_OK);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, 6, d, x_b, 0.1, 25, 5, 4, work, NULL),
                     SLV_OK);
    ck_assert(memcmp(x_a, x_all, sizeof x_a) == 0);
    ck_assert(memcmp(x_b, x_all + 12, sizeof x_b) == 0);
}
END_TEST

static int nan_score_for_path_2(double t, size_t n, size_t d, const double *x, double *out,
                                void *params)
{
    int *calls = params;
    gaussian_score(t, n, d, x, out, NULL);
    if (++*calls == 4 && n > 2)
        out[2 * d + 1] = NAN;
    return 0;
}

static int failing_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)n;
    (void)d;
    (void)x;
    (void)out;
    (void)params;
    return -1;
}

START_TEST(test_langevin_reports_bad_input_and_failures)
{
    double x[6] = {0}, work[6];
    slv_error err;
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, 2, 3, x, 0.0, 5, 1, 0, work, &err),
                     SLV_EINVAL);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, 2, 3, x, -0.1, 5, 1, 0, work, &err),
                     SLV_EINVAL);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, 0, 3, x, 0.1, 5, 1, 0, work, &err),
                     SLV_EINVAL);
    ck_assert_int_eq(slv_langevin_run(failing_score, NULL, 0.0, 2, 3, x, 0.1, 5, 1, 0, work, &err),
                     SLV_ECALLBACK);
    /* NaN in the 4th score call, path 2: x holds the state after 3 steps. */
    double y[12], y_ref[12], w12[12];
    for (int e = 0; e < 12; e++)
        y[e] = y_ref[e] = 1.0;
    int calls = 0;
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.5, 4, 3, y_ref, 0.1, 3, 9, 100, w12, NULL),
                     SLV_OK);
    int rc = slv_langevin_run(nan_score_for_path_2, &calls, 0.5, 4, 3, y, 0.1, 10, 9, 100, w12, &err);
    ck_assert_int_eq(rc, SLV_ENONFINITE);
    ck_assert_int_eq(err.path, 102);
    ck_assert(err.t == 0.5);
    ck_assert(memcmp(y, y_ref, sizeof y) == 0);
    printf("NaN score report: %s\n", err.message);
}
END_TEST

static Suite *langevin_suite(void)
{
    Suite *s = suite_create("slv_langevin");
    TCase *tc = tcase_create("langevin");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_langevin_samples_a_standard_gaussian_after_burn_in);
    tcase_add_test(tc, test_langevin_results_do_not_depend_on_the_batch_split);
    tcase_add_test(tc, test_langevin_reports_bad_input_and_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(langevin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
