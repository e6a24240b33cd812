/* sgm_gmm.h — the exact oracle: a Gaussian mixture with diagonal covariances, and everything about
 * it in closed form at every time of every process.
 *
 * If p_0 = Σ_k w_k N(μ_k, diag(σ_k²)), then under any sgm_process
 *   p_t = Σ_k w_k N(m(t) μ_k, diag(v_k)),  v_k = m(t)² σ_k² + s(t)²   (per dimension),
 * so with responsibilities r_k(x) = p_t(k | x) ∝ w_k N(x; m μ_k, v_k) and s_k = −(x − m μ_k)/v_k:
 *   score        s(x)   = Σ_k r_k s_k
 *   Jacobian     ∂s/∂x  = Σ_k r_k diag(−1/v_k) + Σ_k r_k s_k s_kᵀ − s sᵀ   (symmetric)
 *   divergence   ∇·s    = Σ_k r_k [Σ_j (−1/v_kj) + ‖s_k‖²] − ‖s‖²
 *   class posterior gradient ∇ₓ log p_t(k | x) = s_k − s.
 * Everything is computed with log-sum-exp, so points far from every mode stay finite.
 *
 * "t" always goes with a process: (process, t) gives m(t), s(t). Pass process = NULL for the data
 * distribution itself (m = 1, s = 0) — note that VE has s(0) = σ_min, so VE's p_0 is the data
 * convolved with N(0, σ_min²).
 *
 * An sgm_gmm is read-only after it is set, except for an internal scratch buffer: one sgm_gmm must
 * not be used from two threads at once.
 *
 * The text file format (`--model gmm:FILE`):
 *     # comments start with '#' (anywhere on a line); blank lines are ignored
 *     d K
 *     weight mean_1 .. mean_d std_1 .. std_d      (K such lines)
 * Weights must be positive and finite; they are normalised to sum to 1. Stds must be > 0.
 */
#ifndef SGM_GMM_H
#define SGM_GMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sgm_process.h"
#include "sgm_score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgm_gmm {
    size_t dim;          /* d */
    size_t n_components; /* K */
    double *weights;     /* (K)    normalised */
    double *log_weights; /* (K) */
    double *means;       /* (K, d) */
    double *stds;        /* (K, d) */
    double *work;        /* (2K + 2d) scratch, private */
} sgm_gmm;

/* Allocates a mixture of K components in d dimensions (weights 1/K, means 0, stds 1).
 * NULL if d or K is 0 or allocation fails. */
sgm_gmm *sgm_gmm_alloc(size_t d, size_t K);
void sgm_gmm_free(sgm_gmm *g);

/* Sets the parameters from arrays weights[K], means[K*d], stds[K*d] (copied). Checks them:
 * SLV_EINVAL naming the component and value when a weight is not positive/finite, a mean is not
 * finite or a std is not positive/finite. */
int sgm_gmm_set(sgm_gmm *g, const double *weights, const double *means, const double *stds,
                slv_error *err);

/* Reads a mixture from the text format above. On success *out is a new mixture (free it with
 * sgm_gmm_free). Errors: SGM_EIO (cannot open/read; message has the file name and the system's
 * reason), SGM_EFORMAT (message "FILE:LINE: expected ..., found ..." — wrong count of numbers,
 * not a number, NaN/Inf, negative or zero std, weight not positive, missing or extra lines),
 * SLV_ENOMEM. `name` is used in messages only (may be NULL for "<stream>"). */
int sgm_gmm_load(const char *path, sgm_gmm **out, slv_error *err);
int sgm_gmm_read(FILE *stream, const char *name, sgm_gmm **out, slv_error *err);
/* Writes g in the text format (full double precision); SGM_EIO on failure. */
int sgm_gmm_save(const sgm_gmm *g, const char *path, slv_error *err);

/* ---- Closed forms at time t of `process` (NULL: the data distribution) -------------------- */

/* logp[n]: log p_t(x_i). */
int sgm_gmm_log_density(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                        const double *x, double *logp);
/* out[n*d]: ∇ₓ log p_t. */
int sgm_gmm_score(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                  const double *x, double *out);
/* out[n*d] = (∂s/∂x) v (= vᵀ ∂s/∂x: the Jacobian is symmetric), per point with its own v. */
int sgm_gmm_score_jvp(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                      const double *x, const double *v, double *out);
/* div[n] = ∇·s(x). */
int sgm_gmm_divergence(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                       const double *x, double *div);
/* post[n*K] = p_t(k | x_i). */
int sgm_gmm_class_posterior(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                            const double *x, double *post);
/* out[n*d] = ∇ₓ log p_t(k | x_i). */
int sgm_gmm_class_log_posterior_grad(const sgm_gmm *g, const sgm_process *process, double t,
                                     size_t k, size_t n, const double *x, double *out);

/* Exact samples x[n*d] of p_t (process NULL: the data distribution). Sample i uses the counter
 * stream (seed, first_sample + i, SGM_STREAM_GMM); its component is chosen by gsl_ran_discrete.
 * labels[n] (may be NULL) receives the component of each sample. SLV_ENOMEM if the lookup table
 * cannot be made. */
int sgm_gmm_sample(const sgm_gmm *g, const sgm_process *process, double t, size_t n,
                   uint64_t seed, size_t first_sample, double *x, size_t *labels);

/* The conditional of the data distribution given the coordinates where mask[j] != 0 equal
 * observed[j] (observed[d]; entries where mask is 0 are ignored): a mixture over the unobserved
 * coordinates (in increasing order), with weights w_k N(y_o; μ_ko, σ_ko²) renormalised.
 * *out is a new mixture of dimension d − (number observed) (>= 1). SLV_EINVAL when no coordinate
 * or every coordinate is observed. */
int sgm_gmm_conditional(const sgm_gmm *g, const unsigned char *mask, const double *observed,
                        sgm_gmm **out, slv_error *err);

/* ---- The mixture as a score model ---------------------------------------------------------- */

/* The score model of (g, process): score, score_vjp = score_jvp = the exact Jacobian product,
 * divergence exact. init fills m->model with params = m; g and process must outlive m. */
typedef struct sgm_gmm_model {
    sgm_score_model model;
    const sgm_gmm *gmm;
    const sgm_process *process;
} sgm_gmm_model;

void sgm_gmm_model_init(sgm_gmm_model *m, const sgm_gmm *g, const sgm_process *process);

/* Guidance towards component `k` (for sgm_guided_score_alloc): an sgm_score_fn writing
 * ∇ₓ log p_t(k | x) with params = sgm_gmm_class_guidance*. */
typedef struct sgm_gmm_class_guidance {
    const sgm_gmm *gmm;
    const sgm_process *process;
    size_t k;
} sgm_gmm_class_guidance;

int sgm_gmm_class_guidance_fn(double t, size_t n, size_t d, const double *x, double *out,
                              void *params);

#ifdef __cplusplus
}
#endif
#endif
