/* snet_model.h — a score model: config + architecture + one flat parameter buffer with its table,
 * and the score s_θ(x, t) ≈ ∇ₓ log p_t(x) it computes, with its input vector–Jacobian product,
 * Jacobian–vector product and exact divergence.
 *
 * Everything here works in model space: x is the scaled data the network sees
 * (x = data_scale·raw + data_shift, see snet_config); converting raw data is the caller's business
 * (snet_data does it for the data sets it reads).
 *
 * Output scaling (the official score_sde convention): with r = arch.forward(x, t),
 *   VP, sub-VP: s = −r / s(t)   (r predicts the noise z of x_t = m x_0 + s z)
 *   VE:         s =  r / σ(t)
 * i.e. s = c(t)·r with c(t) = snet_model_output_scale(t).
 *
 * Typical use:
 *   snet_model *m; scoresde_error err;
 *   if (snet_model_load("model.sgm", SNET_LOAD_EMA, &m, NULL, &err)) ... err.message // snet_io.h
 *   snet_workspace *ws = snet_workspace_alloc(m, 1024);
 *   snet_model_score(m, ws, B, t, x, score);             // B ≤ 1024
 *   snet_workspace_free(ws); snet_model_free(m);
 * A workspace serves one thread at a time; use one per thread for concurrent calls (the model itself
 * is only read).
 */
#ifndef SNET_MODEL_H
#define SNET_MODEL_H

#include "snet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct snet_model {
    snet_config cfg;
    const snet_arch_ops *arch;
    size_t n_params;
    float *params;         // (n_params) owned by the model
    size_t n_tensors;
    snet_tensor *tensors;  // (n_tensors) owned by the model; tiles params in order
} snet_model;

/* Validates cfg, allocates a model with zeroed parameters and builds its table. On success *out
 * owns a new model (free with snet_model_free) and SNET_OK is returned; otherwise *out = NULL,
 * SNET_EINVAL / SNET_ENOMEM, and err (may be NULL) says why. */
int snet_model_alloc(snet_model **out, const snet_config *cfg, scoresde_error *err);
/* Initialises the parameters (architecture's scheme), deterministic in seed. */
void snet_model_init(snet_model *m, uint64_t seed);
void snet_model_free(snet_model *m); /* NULL is fine */
/* The tensor called name, or NULL. */
const snet_tensor *snet_model_find_tensor(const snet_model *m, const char *name);
/* Number of trainable floats (the optimizer's and EMA's work). */
size_t snet_model_n_trainable(const snet_model *m);
/* c(t) of the output scaling above; t in (0, 1]. */
double snet_model_output_scale(const snet_model *m, double t);
/* Forward floating-point operations for B samples (0 if the architecture does not say). */
double snet_model_forward_flops(const snet_model *m, size_t B);

/* Activation and scratch buffers for batches up to max_batch, sized for the tangent pass too where
 * the architecture has one. Owned by the caller: allocate once, free with snet_workspace_free
 * (NULL is fine). Returns NULL if out of memory or max_batch = 0. */
typedef struct snet_workspace snet_workspace;
snet_workspace *snet_workspace_alloc(const snet_model *m, size_t max_batch);
void snet_workspace_free(snet_workspace *ws);

/* score (B, D) = s_θ(x, t) for x (B, D), t (B) (each in (0, 1]). Caller owns all arrays; score may
 * not alias x. Returns SNET_OK; SNET_EINVAL if B > the workspace's max_batch or B = 0;
 * SNET_ENONFINITE if any score entry is NaN or infinite (the scores are still written). */
int snet_model_score(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                     const float *x, float *score);

/* vjp (B, D): vjp[b] = v[b]ᵀ ∂s_θ(x_b, t_b)/∂x_b, one forward and one backward pass without
 * parameter gradients (the Skilling–Hutchinson estimator is Σ_d v·vjp). v (B, D). Same return
 * codes as snet_model_score. */
int snet_model_score_vjp(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                         const float *x, const float *v, float *vjp);
/* Both at once from the same forward pass: score (B, D) (may be NULL) and vjp (B, D). */
int snet_model_score_and_vjp(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                             const float *x, const float *v, float *score, float *vjp);

/* Jacobian–vector product: jvp (B, D), jvp[b] = (∂s_θ(x_b, t_b)/∂x_b)·v[b] = c(t_b)·(∂r/∂x)v[b],
 * the directional derivative of the score along v (B, D), by one forward-mode tangent pass (cost
 * ≈ 2 forwards); score (B, D) = s_θ(x, t) from the same pass (may be NULL). Neither output may
 * alias x or v. Returns SNET_EINVAL if the architecture has no tangent pass (the U-Net), else the
 * return codes of snet_model_score (SNET_ENONFINITE if a score or jvp entry is not finite). */
int snet_model_score_jvp(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                         const float *x, const float *v, float *score, float *jvp);

/* Exact divergence div[b] = Σ_d ∂s_d/∂x_d (B) by D backward passes after one forward (cost
 * ≈ (1 + 2D) forwards: meant for small D such as the 2-D toy sets); score (B, D) also written if not
 * NULL. Same return codes as snet_model_score. */
int snet_model_score_divergence(const snet_model *m, snet_workspace *ws, size_t B, const float *t,
                                const float *x, float *score, double *div);

#ifdef __cplusplus
}
#endif
#endif
