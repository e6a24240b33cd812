/* metrics.h — sample-quality measures used by compare and evaluate. */
#ifndef SCORESDE_METRICS_H
#define SCORESDE_METRICS_H

#include <stddef.h>

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

#endif
