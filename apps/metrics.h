/* metrics.h — sample-quality measures used by compare and evaluate. */
#ifndef SCORESDE_METRICS_H
#define SCORESDE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sgm_gmm.h"

/* Energy distance between samples x[n*d] and y[m*d]:
 *   D² = 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖   (≥ 0, zero iff the distributions agree),
 * with U-statistics for the within-sample terms. O((n + m)² d). */
double energy_distance(size_t d, const double *x, size_t n, const double *y, size_t m);

/* Assigns each sample to its most probable component of g (data distribution) and returns the
 * largest |fraction_k − w_k| over components; fractions[K] (may be NULL) receives the fractions. */
double mode_weight_error(const sgm_gmm *g, const double *x, size_t n, double *fractions);

/* Fréchet distance between Gaussians N(mu1, S1) and N(mu2, S2) in k dimensions:
 *   ‖mu1 − mu2‖² + tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2}),
 * computed with GSL's symmetric eigen-decomposition. Returns NaN if allocation fails. */
double frechet_distance(size_t k, const double *mu1, const double *S1, const double *mu2, const double *S2);

/* Mean mu[k] and covariance S[k*k] of features f[n*k] (n ≥ 2). */
void feature_statistics(size_t k, const double *f, size_t n, double *mu, double *S);

/* ---- Distances with error bars (compare) ------------------------------------------------------ */

/* Sorts x[n] ascending (NaN-free input). */
void metric_sort(double *x, size_t n);

/* A measured value with its standard error and a 95% interval [lo, hi]. */
typedef struct metric_value {
    double value, se, lo, hi;
} metric_value;

/* Sliced Wasserstein-2 distance against a fixed reference sample y[m*d]:
 *   SW2(q, p)² = mean over n_dirs random unit directions θ of W2²(θᵀq, θᵀp),
 * each 1-D W2 exact between the empirical quantile functions (sorting; the reference's is kept
 * as prefix sums of its sorted projections, so a sample of n points costs O(n) per direction
 * after its own sort). The directions are drawn from `seed`. NULL if allocation fails. */
typedef struct sw2_reference sw2_reference;
sw2_reference *sw2_reference_alloc(size_t d, const double *y, size_t m, size_t n_dirs, uint64_t seed);
void sw2_reference_free(sw2_reference *r);

/* SW2 of x[n*d] against the reference, with a bootstrap over the n points (n_boot resamples drawn
 * from seed; the bootstrap resamples each direction's sorted projections by multiplicities, so it
 * costs n_boot · n_dirs · n): se = the bootstrap standard deviation, [lo, hi] = value ± 1.96 se
 * with lo not below 0 (a distance). Returns 0 or −1 (allocation). */
int sw2_distance(const sw2_reference *r, const double *x, size_t n, size_t n_boot, uint64_t seed,
                 metric_value *out);

/* Entropy H(p) = E_p[−log p] of the data distribution of g, estimated by the mean of −log p over n
 * exact samples (seed): *entropy, *se (standard error). Returns 0 or −1 (allocation). */
int gmm_entropy(const sgm_gmm *g, size_t n, uint64_t seed, double *entropy, double *se);

/* The cross-entropy gap E_q[−log p] − H(p) of samples x[n*d] of q against the data density of g,
 * given H(p) and its standard error: value, se = √(Var_q(−log p)/n + se_H²), lo/hi = ± 1.96 se.
 * Zero when q = p; it can be negative (q more concentrated on the modes than p), so it is not a
 * distance but a test: a gap many se from 0 says q ≠ p. Returns 0 or −1 (allocation). */
int cross_entropy_gap(const sgm_gmm *g, const double *x, size_t n, double entropy, double entropy_se,
                      metric_value *out);

/* Error of x[n*d] against ref[n*d] (the same latents' reference solution): the RMS over samples of
 * the Euclidean error, its standard error (delta method on the mean squared error) and the largest
 * error over samples. */
void flow_error(size_t d, const double *x, const double *ref, size_t n, metric_value *rms, double *max);

/* Fréchet distance between the feature statistics of f[n*k] and (mu_ref, S_ref), with a bootstrap
 * standard error over the n rows (n_boot resamples from seed; the square root of S_ref is taken
 * once). Returns 0 or −1 (allocation or eigen-decomposition failure). */
int frechet_distance_bootstrap(size_t k, const double *f, size_t n, const double *mu_ref,
                               const double *S_ref, size_t n_boot, uint64_t seed, metric_value *out);

#endif
