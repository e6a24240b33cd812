#include "metrics.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double mean_pair_distance(size_t d, const double *a, size_t n, const double *b, size_t m, int same)
{
    double sum = 0;
    size_t pairs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = same ? i + 1 : 0; j < m; j++) {
            double s = 0;
            for (size_t k = 0; k < d; k++) {
                double diff = a[i * d + k] - b[j * d + k];
                s += diff * diff;
            }
            sum += sqrt(s);
            pairs++;
        }
    return pairs ? sum / (double)pairs : 0.0;
}

double energy_distance(size_t d, const double *x, size_t n, const double *y, size_t m)
{
    return 2 * mean_pair_distance(d, x, n, y, m, 0) - mean_pair_distance(d, x, n, x, n, 1) -
           mean_pair_distance(d, y, m, y, m, 1);
}

double mode_weight_error(const sgm_gmm *g, const double *x, size_t n, double *fractions)
{
    size_t K = g->n_components;
    double *post = malloc(K * sizeof *post), *frac = calloc(K, sizeof *frac), worst = NAN;
    if (!post || !frac)
        goto done;
    for (size_t i = 0; i < n; i++) {
        sgm_gmm_class_posterior(g, NULL, 0.0, 1, x + i * g->dim, post);
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (post[k] > post[best])
                best = k;
        frac[best] += 1.0 / (double)n;
    }
    worst = 0;
    for (size_t k = 0; k < K; k++)
        worst = fmax(worst, fabs(frac[k] - g->weights[k]));
    if (fractions)
        memcpy(fractions, frac, K * sizeof *frac);
done:
    free(post);
    free(frac);
    return worst;
}

void feature_statistics(size_t k, const double *f, size_t n, double *mu, double *S)
{
    memset(mu, 0, k * sizeof *mu);
    memset(S, 0, k * k * sizeof *S);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < k; a++)
            mu[a] += f[i * k + a] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < k; a++) {
            double da = f[i * k + a] - mu[a];
            for (size_t b = a; b < k; b++)
                S[a * k + b] += da * (f[i * k + b] - mu[b]);
        }
    for (size_t a = 0; a < k; a++)
        for (size_t b = a; b < k; b++) {
            S[a * k + b] /= (double)(n - 1);
            S[b * k + a] = S[a * k + b];
        }
}

/* Symmetric square root of a positive semi-definite matrix A (k×k), in place, by its eigen-
 * decomposition A = V diag(λ) Vᵀ → V diag(√λ) Vᵀ (rounding's tiny negative λ are clamped to 0). */
static int sqrtm_sym(gsl_matrix *A, gsl_matrix *evec, gsl_matrix *tmp, gsl_vector *eval,
                     gsl_eigen_symmv_workspace *w)
{
    if (gsl_eigen_symmv(A, eval, evec, w))
        return -1;
    gsl_matrix_memcpy(tmp, evec);
    for (size_t j = 0; j < A->size1; j++) {
        gsl_vector_view column = gsl_matrix_column(tmp, j);
        gsl_vector_scale(&column.vector, sqrt(fmax(gsl_vector_get(eval, j), 0.0)));
    }
    gsl_blas_dgemm(CblasNoTrans, CblasTrans, 1.0, tmp, evec, 0.0, A);
    return 0;
}

double frechet_distance(size_t k, const double *mu1, const double *S1, const double *mu2, const double *S2)
{
    gsl_matrix *A = gsl_matrix_alloc(k, k), *B = gsl_matrix_alloc(k, k), *C = gsl_matrix_alloc(k, k);
    gsl_matrix *evec = gsl_matrix_alloc(k, k);
    gsl_vector *eval = gsl_vector_alloc(k);
    gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(k);
    double result = NAN;
    if (!A || !B || !C || !evec || !eval || !w)
        goto done;
    gsl_matrix_const_view s1 = gsl_matrix_const_view_array(S1, k, k);
    gsl_matrix_const_view s2 = gsl_matrix_const_view_array(S2, k, k);
    gsl_matrix_memcpy(A, &s1.matrix);
    if (sqrtm_sym(A, evec, B, eval, w)) /* A = S1^{1/2} */
        goto done;
    /* C = A S2 A is symmetric PSD with the eigenvalues of S1 S2, so tr √C = tr √(S1 S2). */
    gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, A, &s2.matrix, 0.0, B);
    gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, B, A, 0.0, C);
    if (gsl_eigen_symmv(C, eval, evec, w))
        goto done;
    double tr_sqrt = 0, diff = 0, tr = 0;
    for (size_t i = 0; i < k; i++) {
        tr_sqrt += sqrt(fmax(gsl_vector_get(eval, i), 0.0));
        diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        tr += S1[i * k + i] + S2[i * k + i];
    }
    result = diff + tr - 2 * tr_sqrt;
done:
    gsl_matrix_free(A);
    gsl_matrix_free(B);
    gsl_matrix_free(C);
    gsl_matrix_free(evec);
    gsl_vector_free(eval);
    gsl_eigen_symmv_free(w);
    return result;
}
