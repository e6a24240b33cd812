/* snet_layers.h — the network's building blocks as forward/backward pairs (after llm.c).
 *
 * Conventions for every pair:
 * - Buffers are row-major float arrays; the shape is in the comment beside each argument.
 *   B = batch rows, C = input features, OC = output features.
 * - forward WRITES its output.
 * - backward ADDS into every gradient it is given (input gradient and parameter gradients alike),
 *   so gradients from several paths (residual streams, a shared time embedding) accumulate; the
 *   caller zeroes them first (snet_zero). Any gradient pointer may be NULL: that gradient is
 *   neither computed nor touched.
 * - No allocation, no I/O. Every matrix product is one snet_sgemm call (snet_conv.h: one
 *   cblas_sgemm, or two when the reduction length K > 320 is not a multiple of 32 — OpenBLAS 0.3.21
 *   gives thread-count-dependent bits there); element-wise loops are
 *   plain C, split over OpenMP threads when the work is large enough. Reductions over the batch
 *   (bias gradients, LayerNorm statistics) run in a fixed order, so results do not depend on the
 *   thread count.
 * - In-place use: a forward may not write over its own input (backward needs it), except where
 *   stated.
 */
#ifndef SNET_LAYERS_H
#define SNET_LAYERS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sets n floats to zero (the explicit zero_grad). */
void snet_zero(float *a, size_t n);

/* y += x over n floats (residual connections and their gradients; y == x is allowed). */
void snet_add_inplace(float *y, const float *x, size_t n);

/* out = a + b over n floats (out may alias a or b). */
void snet_add(float *out, const float *a, const float *b, size_t n);

/* Broadcast add of a per-sample row: out[b][c] += row[b][c] for out (B, C), row (B, C) given with
 * its own row stride row_stride (≥ C), so a column block of a wider matrix can be added. */
void snet_add_rows(float *out, const float *row, size_t row_stride, size_t B, size_t C);

/* Strided block add: out[b·out_stride + c] += in[b·in_stride + c] for b < B, c < C (a column
 * block of one matrix added into a column block of another; the gradient of snet_add_rows). */
void snet_add_block(float *out, size_t out_stride, const float *in, size_t in_stride, size_t B,
                    size_t C);

/* ---- Linear: out = in · Wᵀ + b ------------------------------------------------------------- */
/* out    (B, OC)
 * in     (B, C)
 * weight (OC, C)   row-major, PyTorch's layout
 * bias   (OC)      may be NULL
 * One cblas_sgemm (bias broadcast first, then beta = 1). */
void snet_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                         size_t B, size_t C, size_t OC);

/* out (B, OC) += in · Wᵀ: the Linear without bias, accumulating (sgemm with beta = 1). Lets a
 * caller start out from a fused sum (bias + residual, bias + time projection) and save a pass.
 * Its backward is snet_linear_backward with dbias = NULL. */
void snet_linear_forward_add(float *out, const float *in, const float *weight, size_t B, size_t C,
                             size_t OC);

/* out[b][c] = a[b·a_stride + c] + bias[c] for out (B, C): a row block plus a bias (bias may be NULL) */
void snet_rows_plus_bias(float *out, const float *a, size_t a_stride, const float *bias, size_t B,
                         size_t C);

/* din     (B, C)   += dout · W           (may be NULL)
 * dweight (OC, C)  += doutᵀ · in         (may be NULL)
 * dbias   (OC)     += Σ_b dout[b]        (may be NULL)
 * dout    (B, OC), in (B, C), weight (OC, C). */
void snet_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, size_t B, size_t C, size_t OC);

/* ---- SiLU: out = x·σ(x) ---------------------------------------------------------------------- */
/* out, in (n). out == in is NOT allowed (backward reads in). */
void snet_silu_forward(float *out, const float *in, size_t n);
/* din (n) += dout · (σ(x) + x σ(x)(1 − σ(x))), with in = x the forward's input. */
void snet_silu_backward(float *din, const float *dout, const float *in, size_t n);
/* Forward-mode tangent of SiLU: tout (n) = silu'(x)·tin with silu'(x) = σ(x)(1 + x(1 − σ(x))),
 * in = x the primal input, tin (n) its tangent. The primal output is snet_silu_forward's. */
void snet_silu_tangent_forward(float *tout, const float *tin, const float *in, size_t n);
/* Backward through the tangent: given dtout = ∂L/∂tout (n),
 * din  (n) += dtout · silu''(x) · tin     with silu''(x) = σ(1 − σ)(2 + x(1 − 2σ))  (may be NULL)
 * dtin (n) += dtout · silu'(x)                                                     (may be NULL)
 * The primal path's own gradient is snet_silu_backward's. */
void snet_silu_tangent_backward(float *din, float *dtin, const float *dtout, const float *tin,
                                const float *in, size_t n);

/* ---- LayerNorm over the last axis ---------------------------------------------------------------- */
/* out  (B, C) = (in − μ_b)·rstd_b · weight + bias, rstd_b = 1/√(var_b + eps) with the biased
 *               variance, eps = SNET_LAYERNORM_EPS
 * in   (B, C)
 * weight, bias (C)
 * mean, rstd (B) written: the statistics backward needs. */
#define SNET_LAYERNORM_EPS 1e-5f
void snet_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *weight, const float *bias, size_t B, size_t C);
/* din (B, C) += ∂L/∂in; dweight, dbias (C) += their gradients (may be NULL).
 * dout (B, C), in (B, C), weight (C), mean, rstd (B) from the forward. */
void snet_layernorm_backward(float *din, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, const float *mean,
                             const float *rstd, size_t B, size_t C);
/* Forward-mode tangent of LayerNorm (the bias is constant, so it does not appear):
 * tout (B, C) = weight ⊙ rstd_b·(tin − mean(tin) − n·mean(n ⊙ tin)), n = (in − μ_b)·rstd_b
 * tin  (B, C)  tangent of the input; in (B, C), weight (C), mean, rstd (B) as in the forward. */
void snet_layernorm_tangent_forward(float *tout, const float *tin, const float *in,
                                    const float *weight, const float *mean, const float *rstd,
                                    size_t B, size_t C);
/* Backward through the tangent: given dtout = ∂L/∂tout (B, C),
 * din     (B, C) += ∂L/∂in   (the second-order terms: n and rstd depend on in)  (may be NULL)
 * dtin    (B, C) += ∂L/∂tin                                                     (may be NULL)
 * dweight (C)    += Σ_b dtout ⊙ ṅ, ṅ = the tangent of n                          (may be NULL)
 * tin, in, weight, mean, rstd as in the tangent forward. The bias gets nothing from this path;
 * the primal path's gradients are snet_layernorm_backward's. */
void snet_layernorm_tangent_backward(float *din, float *dtin, float *dweight, const float *dtout,
                                     const float *tin, const float *in, const float *weight,
                                     const float *mean, const float *rstd, size_t B, size_t C);

/* ---- Gaussian Fourier features of a scalar per sample ------------------------------------------
 * out (B, 2F): out[b][j] = sin(2π W_j τ_b), out[b][F + j] = cos(2π W_j τ_b), j < F
 * tau (B):     the conditioning scalar (t, or log σ(t) for VE — the architecture chooses)
 * freq (F):    W_j ~ N(0, scale²), drawn once at initialisation, stored in the parameter buffer
 *              like any weight (so a weights file is self-contained) but NOT trained: there is no
 *              parameter gradient for it, and the parameter table marks it non-trainable so the
 *              optimizer and the EMA skip it. (Official NCSN++: GaussianFourierProjection, scale 16.)
 * The argument 2π W_j τ_b is formed in double before sin/cos, so large |W τ| keeps its phase.
 * There is no backward: the network never needs ∂/∂τ (time is not differentiated). */
void snet_fourier_forward(float *out, const float *tau, const float *freq, size_t B, size_t F);

/* Standard-normal fill for initialisation: a[i] = scale · N(0,1), deterministic in seed (GSL
 * mt19937 + gsl_ran_gaussian). Returns 0, or −1 if the generator could not be allocated. */
int snet_fill_gaussian(float *a, size_t n, float scale, unsigned long seed);
/* Uniform fill a[i] ~ U(−bound, bound), deterministic in seed (PyTorch's default Linear init uses
 * bound = 1/√fan_in). Returns 0, or −1 if the generator could not be allocated. */
int snet_fill_uniform(float *a, size_t n, float bound, unsigned long seed);

#ifdef __cplusplus
}
#endif
#endif
