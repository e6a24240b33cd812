#include "metrics.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* out->se from n_boot bootstrap replicates (their sum and sum of squares), and the interval
 * value ± 1.96 SE with its lower end at 0 (both distances are ≥ 0). */
static void set_bootstrap_interval(metric_value *out, size_t n_boot, double sum, double sum_sq)
{
    double mean = n_boot ? sum / (double)n_boot : 0;
    out->se = n_boot > 1 ? sqrt(fmax(sum_sq - n_boot * mean * mean, 0.0) / (double)(n_boot - 1)) : NAN;
    out->lo = fmax(out->value - 1.96 * out->se, 0.0);
    out->hi = out->value + 1.96 * out->se;
}


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

/* ---- Distances with error bars -------------------------------------------------------------- */

struct sw2_reference {
    size_t d, m, n_dirs;
    double *dirs;   /* (n_dirs, d) unit vectors */
    double *sorted; /* (n_dirs, m) the reference's projections, sorted */
    double *prefix; /* (n_dirs, m + 1) prefix[j] = Σ_{k<j} sorted[k] / m: ∫₀^{j/m} G⁻¹(u) du */
    double *second; /* (n_dirs) Σ sorted[k]² / m = ∫₀¹ G⁻¹(u)² du */
};

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void metric_sort(double *x, size_t n)
{
    qsort(x, n, sizeof *x, compare_doubles);
}

sw2_reference *sw2_reference_alloc(size_t d, const double *y, size_t m, size_t n_dirs, uint64_t seed)
{
    sw2_reference *r = calloc(1, sizeof *r);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r || !rng || m == 0 || n_dirs == 0)
        goto fail;
    r->d = d, r->m = m, r->n_dirs = n_dirs;
    r->dirs = malloc(n_dirs * d * sizeof *r->dirs);
    r->sorted = malloc(n_dirs * m * sizeof *r->sorted);
    r->prefix = malloc(n_dirs * (m + 1) * sizeof *r->prefix);
    r->second = malloc(n_dirs * sizeof *r->second);
    if (!r->dirs || !r->sorted || !r->prefix || !r->second)
        goto fail;
    gsl_rng_set(rng, (unsigned long)seed);
    for (size_t l = 0; l < n_dirs; l++) {
        double *theta = r->dirs + l * d, norm = 0;
        while (norm < 1e-12) { /* uniform on the sphere: a normalised Gaussian vector */
            norm = 0;
            for (size_t k = 0; k < d; k++) {
                theta[k] = gsl_ran_gaussian(rng, 1.0);
                norm += theta[k] * theta[k];
            }
        }
        for (size_t k = 0; k < d; k++)
            theta[k] /= sqrt(norm);
        double *proj = r->sorted + l * m, *prefix = r->prefix + l * (m + 1);
        for (size_t j = 0; j < m; j++) {
            double p = 0;
            for (size_t k = 0; k < d; k++)
                p += theta[k] * y[j * d + k];
            proj[j] = p;
        }
        qsort(proj, m, sizeof *proj, compare_doubles);
        prefix[0] = 0;
        r->second[l] = 0;
        for (size_t j = 0; j < m; j++) {
            prefix[j + 1] = prefix[j] + proj[j] / (double)m;
            r->second[l] += proj[j] * proj[j] / (double)m;
        }
    }
    gsl_rng_free(rng);
    return r;
fail:
    gsl_rng_free(rng);
    sw2_reference_free(r);
    return NULL;
}

void sw2_reference_free(sw2_reference *r)
{
    if (!r)
        return;
    free(r->dirs);
    free(r->sorted);
    free(r->prefix);
    free(r->second);
    free(r);
}

/* ∫₀^u G⁻¹ of direction l: G⁻¹ is the step function sorted[j] on [j/m, (j+1)/m). */
static double reference_integral(const sw2_reference *r, size_t l, double u)
{
    const size_t m = r->m;
    double um = u * (double)m;
    size_t j = um <= 0 ? 0 : (size_t)um;
    if (j >= m)
        return r->prefix[l * (m + 1) + m];
    return r->prefix[l * (m + 1) + j] + (um - (double)j) / (double)m * r->sorted[l * m + j];
}

typedef struct projected {
    double value;
    size_t index; /* the sample's row */
} projected;

static int compare_projected(const void *a, const void *b)
{
    double x = ((const projected *)a)->value, y = ((const projected *)b)->value;
    return (x > y) - (x < y);
}

/* SW2 of the sample whose sorted projections are proj (n_dirs, n), point i weighted count[i]/n
 * (count NULL: every point once). Per direction,
 *   W2² = ∫₀¹ (F⁻¹ − G⁻¹)² = Σ_i w_i q_i² − 2 Σ_i q_i ∫_{u_i}^{u_i + w_i} G⁻¹ + ∫₀¹ (G⁻¹)². */
static double sw2_weighted(const sw2_reference *r, const projected *proj, size_t n, const unsigned *count)
{
    double total = 0;
    for (size_t l = 0; l < r->n_dirs; l++) {
        const projected *p = proj + l * n;
        double u = 0, below = 0, w2 = r->second[l];
        for (size_t i = 0; i < n; i++) {
            double w = (count ? count[p[i].index] : 1u) / (double)n;
            if (w == 0)
                continue;
            u += w;
            double upto = reference_integral(r, l, u), q = p[i].value;
            w2 += w * q * q - 2 * q * (upto - below);
            below = upto;
        }
        total += fmax(w2, 0.0); /* rounding only: W2² ≥ 0 */
    }
    return sqrt(total / (double)r->n_dirs);
}

int sw2_distance(const sw2_reference *r, const double *x, size_t n, size_t n_boot, uint64_t seed,
                 metric_value *out)
{
    const size_t d = r->d, L = r->n_dirs;
    projected *proj = malloc(L * n * sizeof *proj);
    unsigned *count = malloc(n * sizeof *count);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = -1;
    if (!proj || !count || !rng || n == 0)
        goto done;
    for (size_t l = 0; l < L; l++) {
        const double *theta = r->dirs + l * d;
        for (size_t i = 0; i < n; i++) {
            double p = 0;
            for (size_t k = 0; k < d; k++)
                p += theta[k] * x[i * d + k];
            proj[l * n + i] = (projected){p, i};
        }
        qsort(proj + l * n, n, sizeof *proj, compare_projected);
    }
    out->value = sw2_weighted(r, proj, n, NULL);
    gsl_rng_set(rng, (unsigned long)seed);
    double sum = 0, sum_sq = 0;
    for (size_t b = 0; b < n_boot; b++) {
        memset(count, 0, n * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[gsl_rng_uniform_int(rng, (unsigned long)n)]++;
        double v = sw2_weighted(r, proj, n, count);
        sum += v, sum_sq += v * v;
    }
    set_bootstrap_interval(out, n_boot, sum, sum_sq);
    rc = 0;
done:
    free(proj);
    free(count);
    gsl_rng_free(rng);
    return rc;
}

int gmm_entropy(const sgm_gmm *g, size_t n, uint64_t seed, double *entropy, double *se)
{
    double *x = malloc(n * g->dim * sizeof *x), *logp = malloc(n * sizeof *logp);
    int rc = -1;
    if (!x || !logp || n < 2 || sgm_gmm_sample(g, NULL, 0.0, n, seed, 0, x, NULL) ||
        sgm_gmm_log_density(g, NULL, 0.0, n, x, logp))
        goto done;
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += -logp[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        var += (-logp[i] - mean) * (-logp[i] - mean) / (double)(n - 1);
    *entropy = mean;
    *se = sqrt(var / (double)n);
    rc = 0;
done:
    free(x);
    free(logp);
    return rc;
}

int cross_entropy_gap(const sgm_gmm *g, const double *x, size_t n, double entropy, double entropy_se,
                      metric_value *out)
{
    double *logp = malloc(n * sizeof *logp);
    if (!logp || n < 2 || sgm_gmm_log_density(g, NULL, 0.0, n, x, logp)) {
        free(logp);
        return -1;
    }
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += -logp[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        var += (-logp[i] - mean) * (-logp[i] - mean) / (double)(n - 1);
    free(logp);
    out->value = mean - entropy;
    out->se = sqrt(var / (double)n + entropy_se * entropy_se);
    out->lo = out->value - 1.96 * out->se;
    out->hi = out->value + 1.96 * out->se;
    return 0;
}

void flow_error(size_t d, const double *x, const double *ref, size_t n, metric_value *rms, double *max)
{
    double mean_sq = 0, var = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e2 = 0;
        for (size_t k = 0; k < d; k++)
            e2 += (x[i * d + k] - ref[i * d + k]) * (x[i * d + k] - ref[i * d + k]);
        mean_sq += e2 / (double)n;
        worst = fmax(worst, sqrt(e2));
    }
    for (size_t i = 0; i < n; i++) {
        double e2 = 0;
        for (size_t k = 0; k < d; k++)
            e2 += (x[i * d + k] - ref[i * d + k]) * (x[i * d + k] - ref[i * d + k]);
        var += (e2 - mean_sq) * (e2 - mean_sq) / (double)(n > 1 ? n - 1 : 1);
    }
    rms->value = sqrt(mean_sq);
    /* d√v/dv = 1/(2√v): the standard error of the mean squared error carried to its root */
    rms->se = rms->value > 0 ? sqrt(var / (double)n) / (2 * rms->value) : 0.0;
    rms->lo = fmax(rms->value - 1.96 * rms->se, 0.0);
    rms->hi = rms->value + 1.96 * rms->se;
    *max = worst;
}

int frechet_distance_bootstrap(size_t k, const double *f, size_t n, const double *mu_ref,
                               const double *S_ref, size_t n_boot, uint64_t seed, metric_value *out)
{
    gsl_matrix *A = gsl_matrix_alloc(k, k), *B = gsl_matrix_alloc(k, k), *C = gsl_matrix_alloc(k, k);
    gsl_matrix *evec = gsl_matrix_alloc(k, k);
    gsl_vector *eval = gsl_vector_alloc(k);
    gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(k);
    gsl_eigen_symm_workspace *we = gsl_eigen_symm_alloc(k);
    double *mu = malloc(k * sizeof *mu), *S = malloc(k * k * sizeof *S), *rows = malloc(n * k * sizeof *rows);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = -1;
    if (!A || !B || !C || !evec || !eval || !w || !we || !mu || !S || !rows || !rng || n < 2)
        goto done;
    gsl_matrix_const_view s_ref = gsl_matrix_const_view_array(S_ref, k, k);
    gsl_matrix_memcpy(A, &s_ref.matrix);
    if (sqrtm_sym(A, evec, B, eval, w)) /* A = S_ref^{1/2}, once */
        goto done;
    double tr_ref = 0;
    for (size_t a = 0; a < k; a++)
        tr_ref += S_ref[a * k + a];
    gsl_rng_set(rng, (unsigned long)seed);
    double sum = 0, sum_sq = 0;
    for (size_t b = 0; b <= n_boot; b++) { /* b = 0: the sample itself */
        const double *src = f;
        if (b > 0) {
            for (size_t i = 0; i < n; i++)
                memcpy(rows + i * k, f + gsl_rng_uniform_int(rng, (unsigned long)n) * k, k * sizeof *rows);
            src = rows;
        }
        feature_statistics(k, src, n, mu, S);
        gsl_matrix_view s = gsl_matrix_view_array(S, k, k);
        gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, A, &s.matrix, 0.0, B);
        gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, B, A, 0.0, C);
        double tr = tr_ref, diff = 0, tr_sqrt = 0;
        for (size_t a = 0; a < k; a++) {
            tr += S[a * k + a];
            diff += (mu[a] - mu_ref[a]) * (mu[a] - mu_ref[a]);
        }
        if (gsl_eigen_symm(C, eval, we)) /* eigenvalues only */
            goto done;
        for (size_t a = 0; a < k; a++)
            tr_sqrt += sqrt(fmax(gsl_vector_get(eval, a), 0.0));
        double fd = diff + tr - 2 * tr_sqrt;
        if (b == 0)
            out->value = fd;
        else
            sum += fd, sum_sq += fd * fd;
    }
    set_bootstrap_interval(out, n_boot, sum, sum_sq);
    rc = 0;
done:
    gsl_matrix_free(A);
    gsl_matrix_free(B);
    gsl_matrix_free(C);
    gsl_matrix_free(evec);
    gsl_vector_free(eval);
    gsl_eigen_symmv_free(w);
    gsl_eigen_symm_free(we);
    free(mu), free(S), free(rows);
    gsl_rng_free(rng);
    return rc;
}
