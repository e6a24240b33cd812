/* snet_conv.h — convolutional building blocks of the U-Net, as forward/backward pairs (after llm.c).
 *
 * Layout. Image tensors here are CHANNEL-MAJOR OVER THE BATCH, "CNHW": t[c][b][h][w], i.e. a
 * (C, B·H·W) row-major matrix. Three things follow:
 * - a whole batch chunk of a convolution is ONE matrix product (snet_sgemm, snet_gemm.h, or on one
 *   lane a single cblas_sgemm, see `lanes`), out (OC, n) = W (OC, C·k·k) · col
 *   (C·k·k, n) with n = (samples in the chunk)·OH·OW, written straight into the (OC, B·OH·OW)
 *   output through its leading dimension;
 * - a concatenation along channels is two contiguous copies;
 * - a 1×1 convolution is an sgemm on the input itself, with no im2col.
 * The model's inputs and outputs are NCHW (x[b][c][h][w], as snet.h says); snet_nchw_to_cnhw and
 * snet_cnhw_to_nchw convert at the two ends (for one channel the two layouts are the same).
 *
 * Conventions (the same as snet_layers.h):
 * - forward WRITES its output (snet_conv2d_forward can also accumulate, see there);
 * - backward ADDS into every gradient it is given; the caller zeroes them first. Where a backward
 *   has an `accumulate` flag, its input gradient is added when it is 1 and written when it is 0
 *   (a fresh buffer then needs no zeroing pass); parameter gradients are always added. Any gradient pointer may be NULL: that gradient is neither computed nor touched
 *   (a NULL weight gradient skips the weight-gradient GEMMs — the input-VJP pass).
 * - No allocation, no I/O. Element-wise loops are split over OpenMP threads, convolutions over
 *   batch chunks (see "Threads" below); every reduction (statistics, bias and GroupNorm-parameter
 *   gradients, col2im sums, weight gradients) runs in a fixed order, so results do not depend on
 *   the thread count.
 * - A forward may not write over its own input.
 */
#ifndef SNET_CONV_H
#define SNET_CONV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Layout conversion ------------------------------------------------------------------------- */
/* out (C, B, HW) ← in (B, C, HW), and the inverse. out and in may not alias. */
void snet_nchw_to_cnhw(float *out, const float *in, size_t B, size_t C, size_t HW);
void snet_cnhw_to_nchw(float *out, const float *in, size_t B, size_t C, size_t HW);

/* ---- 2-D convolution, square kernel, zero padding ------------------------------------------------ */
typedef struct snet_conv2d_dims {
    size_t B, C, H, W;           /* input (C, B, H, W) */
    size_t OC;                   /* output channels */
    size_t ksize, stride, pad;   /* e.g. 3, 1, 1 (same size); 3, 2, 1 (halves even sizes); 1, 1, 0 */
    size_t lanes;                /* parallel lanes (see "Threads"); 0 means SNET_CONV_LANES, 1 runs
                                    the convolution in the calling thread with one im2col buffer,
                                    each product one cblas_sgemm (for callers that already hold
                                    the threads, as the U-Net's shards) */
} snet_conv2d_dims;

/* Output height/width: (in + 2·pad − ksize)/stride + 1 (0 if the kernel does not fit). */
size_t snet_conv2d_out_size(size_t in, size_t ksize, size_t stride, size_t pad);

/* Samples per GEMM: the batch is processed in chunks of this many samples so that one sgemm has
 * about SNET_CONV_GEMM_COLS columns (see snet_conv.c for the measurements) and the im2col buffer
 * stays near the L2 size. Depends only on the shapes, never on threads. */
#define SNET_CONV_GEMM_COLS 1568
size_t snet_conv2d_chunk(const snet_conv2d_dims *d);

/* Threads. A convolution runs its chunks on d->lanes lanes (default SNET_CONV_LANES) — chunk q on
 * lane q mod lanes, in order — spread over the OpenMP threads; each lane has its own im2col buffer and calls
 * single-threaded sgemm (OpenBLAS' thread count is set to 1 for the duration of the call and
 * restored after it, so only one thread pool is ever busy: OpenMP's and OpenBLAS' threads
 * spinning against each other on 2 cores cost more than the whole convolution). Weight gradients
 * are summed per lane, then over the lanes in order: no result depends on the thread count.
 * Because of the OpenBLAS setting, do not run two convolutions concurrently from different threads
 * (the restored count could be the other call's 1: slower afterwards, never wrong). */
#define SNET_CONV_LANES 8

/* Floats the `col` workspace of forward/backward must hold: for each of the lanes an im2col buffer of
 * C·k·k · chunk·OH·OW floats (max(C, OC)·k·k · chunk·OH·OW for a stride-1 "same" convolution,
 * whose backward also takes the im2col of dout) and a weight-gradient partial of OC·C·k·k floats,
 * plus the flipped kernel (OC·C·k·k) of a "same" convolution. */
size_t snet_conv2d_col_size(const snet_conv2d_dims *d);

/* im2col for samples [b0, b0 + nb) of in (C, B, H, W), single-threaded (the lanes call it):
 * col (C·k·k, nb·OH·OW): col[(c·k + i)·k + j][(s·OH + oh)·OW + ow] = in[c][b0+s][oh·stride − pad + i][ow·stride − pad + j]
 * (0 outside the image). */
void snet_im2col(float *col, const float *in, const snet_conv2d_dims *d, size_t b0, size_t nb);
/* The adjoint, single-threaded: din[c][b0+s][ih][iw] += every col entry im2col would have read
 * from there, summed in a fixed order. */
void snet_col2im(float *din, const float *col, const snet_conv2d_dims *d, size_t b0, size_t nb);

/* out    (OC, B, OH, OW) = [accumulate ? out : 0] + bias + W ∗ in
 * in     (C, B, H, W)
 * weight (OC, C, k, k)      PyTorch's layout
 * bias   (OC)               may be NULL
 * col    workspace of snet_conv2d_col_size(d) floats (contents undefined on return)
 * accumulate: 0 writes out; 1 adds into it (a residual sum: out already holds the skip path).
 * One sgemm per chunk of snet_conv2d_chunk(d) samples (a 1×1 convolution needs no im2col). */
void snet_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                         float *col, const snet_conv2d_dims *d, int accumulate);

/* din     (C, B, H, W)   (+)= ∂L/∂in             (may be NULL; added if accumulate, else written)
 * dweight (OC, C, k, k)  += ∂L/∂W               (may be NULL: skips im2col and the dW GEMMs)
 * dbias   (OC)           += Σ over (b, oh, ow)  (may be NULL)
 * dout    (OC, B, OH, OW), in and weight as in the forward, col as in the forward.
 * Per chunk: dW += dout·colᵀ (one sgemm). The input gradient of a stride-1 "same" convolution
 * (odd k, pad (k−1)/2) is the same convolution of dout with the flipped, transposed kernel: one
 * im2col of dout and one sgemm with k²·OC-long dot products, written straight into din; when both
 * din and dweight are wanted, dW comes from that same im2col (in · im2col(dout)ᵀ, the taps
 * flipped back), so the chunk needs no im2col of the input. Other convolutions (stride 2) take
 * dcol = Wᵀ·dout (one sgemm) and col2im. */
void snet_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, float *col,
                          const snet_conv2d_dims *d, int accumulate);

/* ---- GroupNorm ----------------------------------------------------------------------------------
 * out (C, B, HW) = (in − μ_{b,g})·rstd_{b,g}·gamma[c] + beta[c], statistics over the C/G channels of
 * group g = c/(C/G) and all HW positions of sample b; biased variance, rstd = 1/√(var + eps).
 * in (C, B, HW); gamma, beta (C); mean, rstd (B, G) written for the backward. G must divide C. */
#define SNET_GROUPNORM_EPS 1e-5f
void snet_groupnorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, size_t B, size_t C, size_t HW,
                            size_t G);
/* din (C, B, HW) (+)= ∂L/∂in (may be NULL; added if accumulate, else written);
 * dgamma, dbeta (C) += their gradients (each may be NULL);
 * dout (C, B, HW); in, gamma, mean, rstd as in the forward;
 * partial: workspace of 2·B·C floats (per-sample, per-channel sums, reduced over the batch in order). */
void snet_groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *gamma, const float *mean,
                             const float *rstd, float *partial, size_t B, size_t C, size_t HW,
                             size_t G, int accumulate);

/* ---- GroupNorm then SiLU, fused (every ResBlock opens with this pair twice) ----------------------
 * out (C, B, HW) = SiLU(GroupNorm(in)), as the two layers above and snet_silu_forward; only out and
 * the statistics are stored — the backward recomputes the normalised values from in — which saves
 * one tensor and two passes over memory per pair. */
void snet_groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *in,
                                 const float *gamma, const float *beta, size_t B, size_t C,
                                 size_t HW, size_t G);
/* din (C, B, HW) (+)= ∂L/∂in (may be NULL; added if accumulate, else written);
 * dgamma, dbeta (C) += their gradients (each may be NULL);
 * dout (C, B, HW): ∂L/∂out on entry, OVERWRITTEN with ∂L/∂(GroupNorm output);
 * in, gamma, beta, mean, rstd as in the forward; partial: 2·B·C floats of workspace. */
void snet_groupnorm_silu_backward(float *din, float *dgamma, float *dbeta, float *dout,
                                  const float *in, const float *gamma, const float *beta,
                                  const float *mean, const float *rstd, float *partial, size_t B,
                                  size_t C, size_t HW, size_t G, int accumulate);

/* ---- Per-channel add of a per-sample vector (the time-embedding projection) ----------------------
 * out (C, B, HW): out[c][b][p] += row[b·row_stride + c]; row (B, ≥C) with row stride row_stride, so
 * a column block of a wider (B, P) matrix can be used directly. */
void snet_channel_add_forward(float *out, const float *row, size_t row_stride, size_t B, size_t C,
                              size_t HW);
/* drow[b·row_stride + c] += Σ_p dout[c][b][p]; dout (C, B, HW). */
void snet_channel_add_backward(float *drow, const float *dout, size_t row_stride, size_t B, size_t C,
                               size_t HW);

/* ---- Nearest-neighbour upsampling ×2 --------------------------------------------------------------
 * out (C, B, 2H, 2W): out[c][b][y][x] = in[c][b][y/2][x/2]; in (C, B, H, W). */
void snet_upsample2x_forward(float *out, const float *in, size_t B, size_t C, size_t H, size_t W);
/* din (C, B, H, W) += the sum of the four outputs each input fed; dout (C, B, 2H, 2W). */
void snet_upsample2x_backward(float *din, const float *dout, size_t B, size_t C, size_t H, size_t W);

/* ---- Concatenation along channels (skip connections) --------------------------------------------
 * out (Ca + Cb, B, HW) = [a (Ca, B, HW); b (Cb, B, HW)], n = B·HW. In CNHW this is two copies. */
void snet_concat_forward(float *out, const float *a, size_t Ca, const float *b, size_t Cb, size_t n);
/* da (Ca, B, HW) += dout[:Ca]; db (Cb, B, HW) += dout[Ca:]; either may be NULL. */
void snet_concat_backward(float *da, float *db, const float *dout, size_t Ca, size_t Cb, size_t n);

#ifdef __cplusplus
}
#endif
#endif
