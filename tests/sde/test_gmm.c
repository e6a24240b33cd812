/* test_gmm.c — the Gaussian-mixture oracle (sgm_gmm.h): every closed form checked against finite
 * differences of the one below it (log-density → score → Jacobian/divergence, log class posterior
 * → its gradient), exact sampling against the mixture's moments, the text format's error messages,
 * and the closed-form conditional against the ratio of joint and marginal densities.
 *
 * Finite-difference tolerances: central differences with step h have truncation error
 * ≤ h²/6·|f'''| and rounding error ≈ u·|f|/h (u = 2.2e-16). With h = 1e-4 and the mixtures below
 * (stds >= 0.3, so derivatives of order k scale like 0.3^{-k}·(1 + |x|/0.3)^k ≲ 1e4 near the
 * modes) both stay below 1e-4 absolute on quantities of order 1–100; the tolerances are
 * 1e-5·(1 + |value|)·(scale of the third derivative) as stated at each check. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sgm_gmm.h"

/* A 3-D, 3-component mixture with unequal weights and anisotropic stds. */
static sgm_gmm *make_gmm(void)
{
    static const double w[3] = {0.5, 0.3, 0.2};
    static const double mu[9] = {-2.0, -1.0, 0.5, 2.5, 1.0, -1.0, 0.0, 3.0, 1.5};
    static const double sd[9] = {0.6, 0.4, 0.9, 0.5, 0.8, 0.3, 0.7, 0.5, 1.1};
    sgm_gmm *g = sgm_gmm_alloc(3, 3);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(sgm_gmm_set(g, w, mu, sd, NULL), SLV_OK);
    return g;
}

/* Process index 0..3: the data (NULL), VE, VP, sub-VP. */
static sgm_process processes[3];
static const sgm_process *process_of(int i)
{
    if (i == 0)
        return NULL;
    sgm_process_init(&processes[i - 1], (sgm_process_kind)(SGM_PROCESS_VE + i - 1));
    return &processes[i - 1];
}
static const double times[] = {1e-3, 0.05, 0.4, 1.0};
static const double points[][3] = {
    {-2.0, -1.0, 0.5}, {0.3, 0.2, -0.4}, {2.9, 0.7, -1.2}, {1.0, 1.0, 1.0}, {-0.5, 3.5, 2.0}};
#define N_POINTS 5

START_TEST(test_score_is_gradient_of_log_density)
{
    sgm_gmm *g = make_gmm();
    const sgm_process *p = process_of(_i);
    const size_t d = 3;
    for (size_t it = 0; it < 4; it++) {
        double t = p ? times[it] : 0.0;
        for (size_t q = 0; q < N_POINTS; q++) {
            double x[3], s[3], xp[3], xm[3], lp, lm;
            memcpy(x, points[q], sizeof x);
            ck_assert_int_eq(sgm_gmm_score(g, p, t, 1, x, s), SLV_OK);
            for (size_t j = 0; j < d; j++) {
                const double h = 1e-4;
                memcpy(xp, x, sizeof x);
                memcpy(xm, x, sizeof x);
                xp[j] += h;
                xm[j] -= h;
                sgm_gmm_log_density(g, p, t, 1, xp, &lp);
                sgm_gmm_log_density(g, p, t, 1, xm, &lm);
                double fd = (lp - lm) / (2.0 * h);
                ck_assert_msg(fabs(fd - s[j]) < 1e-4 * (1.0 + fabs(s[j])),
                              "process %d t %g point %zu dim %zu: score %.10g, FD %.10g", _i, t, q,
                              j, s[j], fd);
            }
        }
    }
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_jacobian_product_and_divergence_match_finite_differences)
{
    sgm_gmm *g = make_gmm();
    const sgm_process *p = process_of(_i);
    const size_t d = 3;
    const double v[3] = {0.3, -1.1, 0.7};
    for (size_t it = 0; it < 4; it++) {
        double t = p ? times[it] : 0.0;
        for (size_t q = 0; q < N_POINTS; q++) {
            double x[3], jv[3], sp[3], sm[3], xp[3], xm[3], div, trace = 0.0, fd_trace = 0.0;
            memcpy(x, points[q], sizeof x);
            const double h = 1e-4;
            ck_assert_int_eq(sgm_gmm_score_jvp(g, p, t, 1, x, v, jv), SLV_OK);
            for (size_t j = 0; j < d; j++) {
                xp[j] = x[j] + h * v[j];
                xm[j] = x[j] - h * v[j];
            }
            sgm_gmm_score(g, p, t, 1, xp, sp);
            sgm_gmm_score(g, p, t, 1, xm, sm);
            double scale = 0.0;
            for (size_t j = 0; j < d; j++)
                scale = fmax(scale, fabs(jv[j]));
            for (size_t j = 0; j < d; j++) {
                double fd = (sp[j] - sm[j]) / (2.0 * h);
                ck_assert_msg(fabs(fd - jv[j]) < 1e-4 * (1.0 + scale),
                              "process %d t %g point %zu: Jv[%zu] %.10g, FD %.10g", _i, t, q, j,
                              jv[j], fd);
            }
            /* Divergence = trace: exact through basis-vector products, and by finite differences. */
            ck_assert_int_eq(sgm_gmm_divergence(g, p, t, 1, x, &div), SLV_OK);
            for (size_t j = 0; j < d; j++) {
                double e[3] = {0, 0, 0}, col[3];
                e[j] = 1.0;
                sgm_gmm_score_jvp(g, p, t, 1, x, e, col);
                trace += col[j];
                memcpy(xp, x, sizeof x);
                memcpy(xm, x, sizeof x);
                xp[j] += h;
                xm[j] -= h;
                sgm_gmm_score(g, p, t, 1, xp, sp);
                sgm_gmm_score(g, p, t, 1, xm, sm);
                fd_trace += (sp[j] - sm[j]) / (2.0 * h);
            }
            ck_assert_msg(fabs(div - trace) < 1e-10 * (1.0 + fabs(div)),
                          "divergence %.15g vs trace of J %.15g", div, trace);
            ck_assert_msg(fabs(div - fd_trace) < 1e-4 * (1.0 + fabs(div)),
                          "process %d t %g point %zu: divergence %.10g vs FD %.10g", _i, t, q, div,
                          fd_trace);
        }
    }
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_class_posterior_and_its_gradient)
{
    sgm_gmm *g = make_gmm();
    const sgm_process *p = process_of(_i);
    const size_t d = 3, K = 3;
    for (size_t it = 0; it < 4; it++) {
        double t = p ? times[it] : 0.0;
        for (size_t q = 0; q < N_POINTS; q++) {
            double x[3], post[3], xp[3], xm[3], pp[3], pm[3];
            memcpy(x, points[q], sizeof x);
            sgm_gmm_class_posterior(g, p, t, 1, x, post);
            ck_assert_double_eq_tol(post[0] + post[1] + post[2], 1.0, 1e-14);
            for (size_t k = 0; k < K; k++) {
                double grad[3];
                ck_assert_int_eq(sgm_gmm_class_log_posterior_grad(g, p, t, k, 1, x, grad), SLV_OK);
                if (post[k] < 1e-8)
                    continue; /* log of an underflowing posterior: FD is meaningless */
                for (size_t j = 0; j < d; j++) {
                    const double h = 1e-4;
                    memcpy(xp, x, sizeof x);
                    memcpy(xm, x, sizeof x);
                    xp[j] += h;
                    xm[j] -= h;
                    sgm_gmm_class_posterior(g, p, t, 1, xp, pp);
                    sgm_gmm_class_posterior(g, p, t, 1, xm, pm);
                    double fd = (log(pp[k]) - log(pm[k])) / (2.0 * h);
                    ck_assert_msg(fabs(fd - grad[j]) < 1e-4 * (1.0 + fabs(grad[j])),
                                  "process %d t %g point %zu class %zu dim %zu: %.10g vs FD %.10g",
                                  _i, t, q, k, j, grad[j], fd);
                }
            }
        }
    }
    ck_assert_int_eq(sgm_gmm_class_log_posterior_grad(g, NULL, 0.0, K, 1, points[0], (double[3]){0}),
                     SLV_EINVAL);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_far_points_stay_finite)
{
    sgm_gmm *g = make_gmm();
    sgm_process vp;
    sgm_process_init(&vp, SGM_PROCESS_VP);
    const double x[3] = {1e3, -2e3, 5e2};
    double logp, s[3], div, post[3];
    sgm_gmm_log_density(g, &vp, 1e-3, 1, x, &logp);
    sgm_gmm_score(g, &vp, 1e-3, 1, x, s);
    sgm_gmm_divergence(g, &vp, 1e-3, 1, x, &div);
    sgm_gmm_class_posterior(g, &vp, 1e-3, 1, x, post);
    ck_assert(isfinite(logp) && logp < -1e5);
    ck_assert(isfinite(s[0]) && isfinite(s[1]) && isfinite(s[2]) && isfinite(div));
    ck_assert_double_eq_tol(post[0] + post[1] + post[2], 1.0, 1e-14);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_exact_sampling_moments)
{
    sgm_gmm *g = make_gmm();
    sgm_process vp;
    sgm_process_init(&vp, SGM_PROCESS_VP);
    const size_t n = 60000, d = 3, K = 3;
    const double t = 0.3, m = sgm_process_mean_coef(&vp, t), s = sgm_process_std(&vp, t);
    double *x = malloc(n * d * sizeof *x);
    size_t *labels = malloc(n * sizeof *labels);
    ck_assert_int_eq(sgm_gmm_sample(g, &vp, t, n, 9, 0, x, labels), SLV_OK);
    for (size_t k = 0; k < K; k++) {
        size_t nk = 0;
        double sum[3] = {0}, sq[3] = {0};
        for (size_t i = 0; i < n; i++)
            if (labels[i] == k) {
                nk++;
                for (size_t j = 0; j < d; j++) {
                    sum[j] += x[i * d + j];
                    sq[j] += x[i * d + j] * x[i * d + j];
                }
            }
        double w = g->weights[k], frac = (double)nk / (double)n;
        ck_assert_msg(fabs(frac - w) < 4.0 * sqrt(w * (1 - w) / (double)n), "weight %zu: %g vs %g",
                      k, frac, w);
        for (size_t j = 0; j < d; j++) {
            double sd = g->stds[k * d + j], v = m * m * sd * sd + s * s;
            double mean = sum[j] / (double)nk, var = sq[j] / (double)nk - mean * mean;
            ck_assert_msg(fabs(mean - m * g->means[k * d + j]) < 4.0 * sqrt(v / (double)nk),
                          "component %zu dim %zu mean %g", k, j, mean);
            ck_assert_msg(fabs(var - v) < 4.0 * v * sqrt(2.0 / (double)nk),
                          "component %zu dim %zu var %g vs %g", k, j, var, v);
        }
    }
    /* Split-independent. */
    double y[6];
    sgm_gmm_sample(g, &vp, t, 2, 9, 100, y, NULL);
    ck_assert_mem_eq(y, x + 100 * d, sizeof y);
    free(x);
    free(labels);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_conditional_is_joint_over_marginal)
{
    sgm_gmm *g = make_gmm();
    const unsigned char mask[3] = {1, 0, 1}; /* observe x0 and x2 */
    const double y[3] = {0.8, 0.0, -0.3};
    sgm_gmm *c = NULL;
    slv_error err;
    ck_assert_int_eq(sgm_gmm_conditional(g, mask, y, &c, &err), SLV_OK);
    ck_assert_uint_eq(c->dim, 1);
    /* p(x1 | x0, x2) = p(x0, x1, x2) / p(x0, x2) with p(x0, x2) = ∫ p dx1 by quadrature. */
    double marg = 0.0;
    const double lo = -12.0, hi = 12.0;
    const size_t steps = 24000;
    for (size_t q = 0; q <= steps; q++) {
        double x[3] = {y[0], lo + (hi - lo) * (double)q / (double)steps, y[2]}, lp;
        sgm_gmm_log_density(g, NULL, 0.0, 1, x, &lp);
        marg += (q == 0 || q == steps ? 0.5 : 1.0) * exp(lp) * (hi - lo) / (double)steps;
    }
    for (double u = -2.0; u <= 4.0; u += 0.75) {
        double x[3] = {y[0], u, y[2]}, lj, lc;
        sgm_gmm_log_density(g, NULL, 0.0, 1, x, &lj);
        sgm_gmm_log_density(c, NULL, 0.0, 1, &u, &lc);
        ck_assert_msg(fabs(lc - (lj - log(marg))) < 1e-6, "x1 = %g: conditional %.10g, joint/marg %.10g",
                      u, lc, lj - log(marg));
    }
    sgm_gmm_free(c);
    const unsigned char all[3] = {1, 1, 1};
    ck_assert_int_eq(sgm_gmm_conditional(g, all, y, &c, &err), SLV_EINVAL);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_score_model_wraps_the_closed_forms)
{
    sgm_gmm *g = make_gmm();
    sgm_process ve;
    sgm_process_init(&ve, SGM_PROCESS_VE);
    sgm_gmm_model m;
    sgm_gmm_model_init(&m, g, &ve);
    ck_assert_uint_eq(m.model.dim, 3);
    double x[6] = {0.1, 0.2, 0.3, -1, 2, 0.5}, a[6], b[6], v[6] = {1, 0, 2, 0.5, -1, 1};
    ck_assert_int_eq(m.model.score(0.2, 2, 3, x, a, m.model.params), 0);
    sgm_gmm_score(g, &ve, 0.2, 2, x, b);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_int_eq(m.model.score_vjp(0.2, 2, 3, x, v, a, m.model.params), 0);
    sgm_gmm_score_jvp(g, &ve, 0.2, 2, x, v, b);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_int_eq(m.model.divergence(0.2, 2, 3, x, a, m.model.params), 0);
    sgm_gmm_divergence(g, &ve, 0.2, 2, x, b);
    ck_assert_mem_eq(a, b, 2 * sizeof *a);
    ck_assert_int_eq(m.model.score(0.2, 2, 2, x, a, m.model.params), -1); /* wrong d */
    sgm_gmm_free(g);
}
END_TEST

/* ---- The text format --------------------------------------------------------------------- */

static int load_text(const char *text, sgm_gmm **out, slv_error *err)
{
    char path[] = "/tmp/sgm_gmm_test_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int status = sgm_gmm_load(path, out, err);
    unlink(path);
    return status;
}

START_TEST(test_load_valid_file_with_comments)
{
    sgm_gmm *g = NULL;
    slv_error err;
    const char *text = "# a two-mode mixture\n\n2 2   # d K\n"
                       "3  -1 0.5  0.5 1   # weight, means, stds\n"
                       "  # a comment line between components\n"
                       "1  2 -2  0.25 0.75\n";
    ck_assert_int_eq(load_text(text, &g, &err), SLV_OK);
    ck_assert_uint_eq(g->dim, 2);
    ck_assert_uint_eq(g->n_components, 2);
    ck_assert_double_eq_tol(g->weights[0], 0.75, 1e-15); /* normalised */
    ck_assert_double_eq(g->means[3], -2.0);
    ck_assert_double_eq(g->stds[2], 0.25);
    /* Save and load again: identical parameters. */
    char path[] = "/tmp/sgm_gmm_save_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(sgm_gmm_save(g, path, &err), SLV_OK);
    sgm_gmm *h = NULL;
    ck_assert_int_eq(sgm_gmm_load(path, &h, &err), SLV_OK);
    unlink(path);
    ck_assert_mem_eq(g->weights, h->weights, 2 * sizeof(double));
    ck_assert_mem_eq(g->means, h->means, 4 * sizeof(double));
    ck_assert_mem_eq(g->stds, h->stds, 4 * sizeof(double));
    sgm_gmm_free(g);
    sgm_gmm_free(h);
}
END_TEST

static const struct {
    const char *text;
    int status;
    const char *message; /* expected substring (after the file name) */
} bad_files[] = {
    {"2 2\n1 0 0 1 1\n1 0 0 1\n", SGM_EFORMAT, ":3: component 2: expected 1 + 2d = 5 numbers"},
    {"2 1\n1 0 nan 1 1\n", SGM_EFORMAT, ":2: component 1: mean_2 is nan, expected a finite number"},
    {"2 1\n1 0 0 1 -0.5\n", SGM_EFORMAT, ":2: component 1: std_2 = -0.5, expected > 0"},
    {"1 2\n0 0 1\n1 1 1\n", SGM_EFORMAT, ":2: component 1: weight = 0, expected > 0"},
    {"1 1\n1 abc 1\n", SGM_EFORMAT, ":2: component 1: 'abc' is not a number"},
    {"1 3\n1 0 1\n1 1 1\n", SGM_EFORMAT, ":3: expected K = 3 component lines after the header, found 2"},
    {"1 1\n1 0 1\n1 1 1\n", SGM_EFORMAT, ":3: extra line after the K = 1 component lines"},
    {"2\n1 0 0 1 1\n", SGM_EFORMAT, ":1: expected the header 'd K' (two positive integers), found 1 numbers"},
    {"2.5 1\n", SGM_EFORMAT, ":1: header d = 2.5, expected a positive integer"},
    {"# only comments\n\n", SGM_EFORMAT, "expected the header 'd K', found no data"},
    {"1 1\n1 0 inf\n", SGM_EFORMAT, ":2: component 1: std_1 is inf, expected a finite number"},
};

START_TEST(test_load_errors_name_line_and_expectation)
{
    sgm_gmm *g = (sgm_gmm *)0x1;
    slv_error err;
    int status = load_text(bad_files[_i].text, &g, &err);
    ck_assert_int_eq(status, bad_files[_i].status);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.message, bad_files[_i].message) != NULL, "message '%s', expected '%s'",
                  err.message, bad_files[_i].message);
    ck_assert_ptr_nonnull(strstr(err.message, "/tmp/sgm_gmm_test_"));
}
END_TEST

START_TEST(test_load_missing_file_and_array_errors)
{
    sgm_gmm *g = NULL;
    slv_error err;
    ck_assert_int_eq(sgm_gmm_load("/nonexistent/mixture.txt", &g, &err), SGM_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/mixture.txt: cannot open"));
    g = sgm_gmm_alloc(1, 2);
    const double w[2] = {1, -1}, mu[2] = {0, 1}, sd[2] = {1, 1}, sd_bad[2] = {1, 0};
    ck_assert_int_eq(sgm_gmm_set(g, w, mu, sd, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "component 1 has weight -1"));
    const double w_ok[2] = {1, 1};
    ck_assert_int_eq(sgm_gmm_set(g, w_ok, mu, sd_bad, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "component 1 has std_1 = 0"));
    ck_assert_str_eq(sgm_strerror(SGM_EFORMAT), "malformed file");
    sgm_gmm_free(g);
    ck_assert_ptr_null(sgm_gmm_alloc(0, 3));
}
END_TEST

static Suite *gmm_suite(void)
{
    Suite *s = suite_create("sde_gmm");
    TCase *tc = tcase_create("closed_forms");
    tcase_add_loop_test(tc, test_score_is_gradient_of_log_density, 0, 4);
    tcase_add_loop_test(tc, test_jacobian_product_and_divergence_match_finite_differences, 0, 4);
    tcase_add_loop_test(tc, test_class_posterior_and_its_gradient, 0, 4);
    tcase_add_test(tc, test_far_points_stay_finite);
    tcase_add_test(tc, test_exact_sampling_moments);
    tcase_add_test(tc, test_conditional_is_joint_over_marginal);
    tcase_add_test(tc, test_score_model_wraps_the_closed_forms);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("file_format");
    tcase_add_test(io, test_load_valid_file_with_comments);
    tcase_add_loop_test(io, test_load_errors_name_line_and_expectation, 0,
                        sizeof bad_files / sizeof bad_files[0]);
    tcase_add_test(io, test_load_missing_file_and_array_errors);
    suite_add_tcase(s, io);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gmm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
