/* sgm_score.h — the score model interface of the diffusion layer, status codes, and the guidance
 * wrapper (a score plus a user's ∇ₓ log p_t(y | x)).
 *
 * A score model is a small struct of callbacks plus `void *params`, on a batch of n points of
 * dimension d stored row-major (x[n*d], point i at x[i*d .. i*d+d)), like gsl_odeiv2_system:
 *
 *     score(t, n, d, x, out, params)             out[n*d] = ∇ₓ log p_t(x)            (required)
 *     score_vjp(t, n, d, x, v, out, params)      out[n*d] = vᵀ ∂s/∂x  per point       (optional)
 *     score_jvp(t, n, d, x, v, out, params)      out[n*d] = (∂s/∂x) v per point       (optional)
 *     divergence(t, n, d, x, div, params)        div[n]   = ∇ₓ·s(x) = tr ∂s/∂x        (optional)
 *     score_rows(t[], n, d, x, out, params)      out = s(x_i, t_i), a time per point    (optional)
 *     score_vjp_rows(t[], n, d, x, v, s, vjp, p) s (may be NULL) and vjp = v_iᵀ ∂s/∂x at (x_i, t_i),
 *                                                from ONE forward pass                   (optional)
 *
 * The per-row forms serve the per-sample adaptive ODE solvers (slv_ode_rk45 in independent mode),
 * whose batch holds samples at different times; a network takes a time per row anyway. Without
 * them the layer calls `score` (or score_vjp) once per run of consecutive rows sharing a time:
 * always correct, batched only as far as times coincide. score_vjp_rows also halves the cost of a
 * Skilling–Hutchinson likelihood step (score and VJP from one forward, not two).
 *
 * Callbacks return 0 on success, > 0 for "recoverable, try a smaller step" (adaptive ODE solvers
 * retry; every other caller treats it as a failure), < 0 to stop. Values may be NaN/Inf: every
 * sampler in this layer checks what a callback wrote and stops with SLV_ENONFINITE naming the time
 * and the sample. A model that has only `score` still works everywhere: the divergence then comes
 * from central finite differences of the score (2 score calls per probe direction), and the
 * statistics of the call say so (sgm_stats.fd_divergence).
 *
 * Status codes are the solvers' (slv_status.h: SLV_OK, SLV_EINVAL, SLV_ENONFINITE, ...) plus two
 * for files (below); reports use slv_error, whose `path` is the global sample index
 * (first_sample + i) of the sample that failed, or -1.
 */
#ifndef SGM_SCORE_H
#define SGM_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "slv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes --------------------------------------------------------------------------- */

enum sgm_status {
    SGM_EIO = SCORESDE_EIO,          /* a file could not be opened or read (message holds the name and errno text) */
    SGM_EFORMAT = SCORESDE_EFORMAT   /* a file's content is malformed (message holds name, line and expectation) */
};

/* Short English description of any slv_ or sgm_ status code; a static string, never NULL. */
const char *sgm_strerror(int status);

/* ---- Score models ----------------------------------------------------------------------------- */

typedef int (*sgm_score_fn)(double t, size_t n, size_t d, const double *x, double *out,
                            void *params);
typedef int (*sgm_score_product_fn)(double t, size_t n, size_t d, const double *x,
                                    const double *v, double *out, void *params);
typedef int (*sgm_divergence_fn)(double t, size_t n, size_t d, const double *x, double *div,
                                 void *params);
typedef int (*sgm_score_rows_fn)(const double *t, size_t n, size_t d, const double *x, double *out,
                                 void *params);
typedef int (*sgm_score_vjp_rows_fn)(const double *t, size_t n, size_t d, const double *x,
                                     const double *v, double *score, double *vjp, void *params);

/* Initialise with designated initialisers ({.score = f, .dim = d, .params = p}) or zero the
 * struct first: optional members may be added at the end, and an unset one must be NULL. */
typedef struct sgm_score_model {
    sgm_score_fn score;               /* required */
    sgm_score_product_fn score_vjp;   /* optional (NULL): out = vᵀ ∂s/∂x */
    sgm_score_product_fn score_jvp;   /* optional (NULL): out = (∂s/∂x) v */
    sgm_divergence_fn divergence;     /* optional (NULL): exact ∇·s */
    size_t dim;                       /* d */
    void *params;
    sgm_score_rows_fn score_rows;         /* optional (NULL): score with a time per row */
    sgm_score_vjp_rows_fn score_vjp_rows; /* optional (NULL): score and vjp, a time per row */
} sgm_score_model;

/* Checks that `score` is set and dim > 0; SLV_OK or SLV_EINVAL with a message in err. */
int sgm_score_model_validate(const sgm_score_model *model, slv_error *err);

/* ---- Statistics every sampler / likelihood call fills -------------------------------------- */

typedef struct sgm_stats {
    /* Score evaluations per sample, averaged over the batch (rounded): how many times each
     * sample's score was computed (a batched call counts once for each sample in it). PC sampler:
     * N·(corrector_steps + 1); ODE/SDE samplers and likelihood: the integrator's vector-field
     * evaluations (+1 for a final denoising step). Per-sample counts, where they differ, come
     * through the nfe[] outputs of sgm_decode/sgm_encode/sgm_likelihood. */
    size_t nfe;
    size_t n_score_calls;    /* batched calls to model->score (all purposes, incl. FD divergence) */
    size_t n_product_calls;  /* batched calls to score_vjp / score_jvp / divergence */
    size_t n_steps;          /* accepted integrator steps (summed over samples in independent mode) */
    size_t n_rejected;       /* rejected integrator steps (likewise) */
    int fd_divergence;       /* 1: the divergence came from finite differences of the score */
} sgm_stats;


/* ---- Guidance: s(x, t) + scale · ∇ₓ log p_t(y | x) ----------------------------------------- */

/* A wrapper score model whose score is base->score + scale · grad_log_likelihood (for instance a
 * time-dependent classifier, or sgm_gmm_class_guidance_fn for the mixture oracle). It owns a
 * buffer for batches of up to n_max points (a larger batch makes its score return −1). The
 * wrapper has no vjp/jvp/divergence: likelihoods through it use finite differences. `base` and
 * `params` must outlive it. Returns NULL when allocation fails or an argument is invalid. */
typedef struct sgm_guided_score sgm_guided_score;

sgm_guided_score *sgm_guided_score_alloc(const sgm_score_model *base,
                                         sgm_score_fn grad_log_likelihood, void *params,
                                         double scale, size_t n_max);
void sgm_guided_score_free(sgm_guided_score *g);
/* The wrapper as a score model (a pointer into g, valid until sgm_guided_score_free). */
const sgm_score_model *sgm_guided_score_model(const sgm_guided_score *g);

#ifdef __cplusplus
}
#endif
#endif
