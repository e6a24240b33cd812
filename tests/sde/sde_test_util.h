/* sde_test_util.h — shared by the tests of the diffusion layer: the 2-D three-mode mixture, and
 * the statistics used to compare a sampler's output with exact samples.
 *
 *  - Mode weights: each sample is assigned to argmax_k p_0(k | x) (the modes are ≥ 8 apart with
 *    stds ≤ 0.8, so misassignment has probability < 1e-6); the fraction f_k of n samples must be
 *    within 4 standard errors √(w_k(1 − w_k)/n) of w_k.
 *  - Per mode: the sample mean of each coordinate within 4 √(v/n_k) of the target mean, the
 *    sample variance within 4 v √(2/(n_k − 1)) of the target variance v (normal-theory standard
 *    errors; the components are Gaussian).
 *  - Two-sample energy distance (Székely–Rizzo) between the sampler's first n2 samples and n2
 *    exact samples of the target, with a p-value from the distance's null distribution: R = 199
 *    distances between two independent exact sample sets of the same size (a threshold calibrated
 *    from exact-vs-exact samples); the test rejects when p ≤ 0.005, i.e. when the observed
 *    distance exceeds all 199 null replicates.
 */
#ifndef SDE_TEST_UTIL_H
#define SDE_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sgm_gmm.h"
#include "sgm_process.h"

static inline sgm_gmm *test_mixture_2d(void)
{
    static const double w[3] = {0.5, 0.3, 0.2};
    static const double mu[6] = {-4.0, -3.0, 4.0, -2.0, 0.0, 5.0};
    static const double sd[6] = {0.6, 0.4, 0.5, 0.8, 0.7, 0.5};
    sgm_gmm *g = sgm_gmm_alloc(2, 3);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(sgm_gmm_set(g, w, mu, sd, NULL), SLV_OK);
    return g;
}

typedef struct energy_result {
    double distance; /* V-statistic 2E|X−Y| − E|X−X'| − E|Y−Y'| */
    double p_value;  /* (1 + #{null replicates >= distance}) / (R + 1) */
} energy_result;

/* Energy distance (V-statistic) between x[n*d] and y[n*d]. */
static inline double energy_distance(const double *x, const double *y, size_t n, size_t d)
{
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double a = 0.0, b = 0.0, c = 0.0;
            for (size_t k = 0; k < d; k++) {
                double u = x[i * d + k] - y[j * d + k], v = x[i * d + k] - x[j * d + k],
                       w = y[i * d + k] - y[j * d + k];
                a += u * u;
                b += v * v;
                c += w * w;
            }
            xy += sqrt(a);
            xx += sqrt(b);
            yy += sqrt(c);
        }
    const double nn = (double)n * (double)n;
    return (2.0 * xy - xx - yy) / nn;
}

/* The null distribution of the energy distance between two independent sets of n exact samples of
 * p_t (process p; NULL: the data), from R replicate pairs; cached per process kind. */
#define ENERGY_NULL_REPLICATES 199
typedef struct energy_null {
    int ready;
    size_t n;
    double stats[ENERGY_NULL_REPLICATES];
} energy_null;

static inline double gmm_fingerprint(const sgm_gmm *g)
{
    double f = (double)g->dim + 7.0 * (double)g->n_components;
    for (size_t i = 0; i < g->n_components * g->dim; i++)
        f += (1.0 + 0.001 * (double)i) * (g->means[i] + 3.0 * g->stds[i]);
    for (size_t k = 0; k < g->n_components; k++)
        f += 11.0 * g->weights[k];
    return f;
}

static inline const energy_null *energy_null_for(const sgm_gmm *g, const sgm_process *p, double t,
                                                 size_t n)
{
    /* Cached per (mixture, process kind, t, n). */
    static energy_null cache[4];
    static double keys[4][3];
    const double fp = gmm_fingerprint(g);
    energy_null *e = &cache[p ? (int)p->kind : 0]; /* kinds are 1..3 */
    double *key = keys[p ? (int)p->kind : 0];
    if (e->ready && e->n == n && key[0] == fp && key[1] == t)
        return e;
    key[0] = fp;
    key[1] = t;
    const size_t d = g->dim;
    double *a = malloc(n * d * sizeof *a), *b = malloc(n * d * sizeof *b);
    ck_assert(a && b);
    for (size_t r = 0; r < ENERGY_NULL_REPLICATES; r++) {
        sgm_gmm_sample(g, p, t, n, 1000003u + 2u * r, 0, a, NULL);
        sgm_gmm_sample(g, p, t, n, 1000004u + 2u * r, 0, b, NULL);
        e->stats[r] = energy_distance(a, b, n, d);
    }
    free(a);
    free(b);
    e->n = n;
    e->ready = 1;
    return e;
}

/* Energy two-sample test of x[n*d] against n exact samples y[n*d] of p_t, calibrated by the
 * exact-vs-exact null distribution. */
static inline energy_result energy_test(const sgm_gmm *g, const sgm_process *p, double t,
                                        const double *x, const double *y, size_t n)
{
    const energy_null *null = energy_null_for(g, p, t, n);
    energy_result res;
    res.distance = energy_distance(x, y, n, g->dim);
    size_t exceed = 0;
    for (size_t r = 0; r < ENERGY_NULL_REPLICATES; r++)
        exceed += null->stats[r] >= res.distance;
    res.p_value = (double)(1 + exceed) / (double)(ENERGY_NULL_REPLICATES + 1);
    return res;
}

typedef struct mode_check {
    double max_weight_error;  /* max_k |f_k − w_k| */
    double max_weight_z;      /* max_k |f_k − w_k| / SE */
    double max_mean_z, max_var_z;
} mode_check;

/* Compares samples x[n*2] with the components of g under (process, t): target means m μ_k and
 * variances m² σ_k² + s². Fails the test (with `label`) beyond 4 standard errors. */
static inline mode_check check_modes(const sgm_gmm *g, const sgm_process *p, double t,
                                     const double *x, size_t n, const char *label)
{
    const size_t d = g->dim, K = g->n_components;
    const double m = p ? sgm_process_mean_coef(p, t) : 1.0, s = p ? sgm_process_std(p, t) : 0.0;
    double *post = malloc(n * K * sizeof *post);
    size_t *label_of = malloc(n * sizeof *label_of);
    sgm_gmm_class_posterior(g, NULL, 0.0, n, x, post);
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (post[i * K + k] > post[i * K + best])
                best = k;
        label_of[i] = best;
    }
    mode_check res = {0, 0, 0, 0};
    for (size_t k = 0; k < K; k++) {
        size_t nk = 0;
        double sum[16] = {0}, sq[16] = {0};
        for (size_t i = 0; i < n; i++)
            if (label_of[i] == k) {
                nk++;
                for (size_t j = 0; j < d; j++)
                    sum[j] += x[i * d + j];
            }
        const double w = g->weights[k], f = (double)nk / (double)n;
        const double se = sqrt(w * (1.0 - w) / (double)n);
        if (fabs(f - w) > res.max_weight_error)
            res.max_weight_error = fabs(f - w);
        if (fabs(f - w) / se > res.max_weight_z)
            res.max_weight_z = fabs(f - w) / se;
        ck_assert_msg(fabs(f - w) <= 4.0 * se, "%s: mode %zu holds %.4f of the samples, weight %.4f "
                      "(4 SE = %.4f)", label, k, f, w, 4.0 * se);
        if (w * (double)n < 5.0)
            continue; /* a component with (almost) no expected samples: the weight check is all */
        ck_assert_msg(nk > 10, "%s: mode %zu has only %zu samples", label, k, nk);
        for (size_t j = 0; j < d; j++)
            sum[j] /= (double)nk;
        for (size_t i = 0; i < n; i++)
            if (label_of[i] == k)
                for (size_t j = 0; j < d; j++)
                    sq[j] += (x[i * d + j] - sum[j]) * (x[i * d + j] - sum[j]);
        for (size_t j = 0; j < d; j++) {
            const double sd = g->stds[k * d + j], v = m * m * sd * sd + s * s;
            const double mean_se = sqrt(v / (double)nk);
            const double var = sq[j] / (double)(nk - 1), var_se = v * sqrt(2.0 / (double)(nk - 1));
            const double mean_z = fabs(sum[j] - m * g->means[k * d + j]) / mean_se;
            const double var_z = fabs(var - v) / var_se;
            if (mean_z > res.max_mean_z)
                res.max_mean_z = mean_z;
            if (var_z > res.max_var_z)
                res.max_var_z = var_z;
            ck_assert_msg(mean_z <= 4.0, "%s: mode %zu coordinate %zu mean %.4f, target %.4f (%.1f SE)",
                          label, k, j, sum[j], m * g->means[k * d + j], mean_z);
            ck_assert_msg(var_z <= 4.0, "%s: mode %zu coordinate %zu variance %.4f, target %.4f (%.1f SE)",
                          label, k, j, var, v, var_z);
        }
    }
    free(post);
    free(label_of);
    return res;
}

#endif
