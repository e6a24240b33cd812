/* snet_conv.c — convolutional forward/backward pairs; see snet_conv.h for layout and conventions.
 *
 * Why chunks of samples per GEMM (SNET_CONV_GEMM_COLS). Measured with OpenBLAS 0.3.21 (pthreads)
 * on 2 cores of the target machine (AMD EPYC, AVX-512), batch 64, 3×3 convolutions, GFLOP/s of the
 * forward GEMM alone for n = samples·OH·OW columns per call:
 *     28×28, 32→32:  1 sample 46–112 | 2 samples 119 | 4 samples 132 | 64 samples 90
 *     14×14, 64→64:  1 sample 100    | 8 samples 154 | 16 samples 136 | 64 samples 118
 *      7×7,  64→64:  1 sample 48     | 16–64 samples 116–125
 * One sample per call starves the small resolutions; the whole batch per call makes the im2col
 * matrix (C·9, B·OH·OW) tens of MB. Around 1500–3000 columns the GEMM alone is near its best, and
 * in the whole network (im2col writing the matrix that OpenBLAS then packs) 1568 columns — an
 * im2col matrix that stays within the 1 MB L2 for up to 18 input channels — ran the training step
 * 10–15 % faster than 3136. So chunks hold ⌊1568/(OH·OW)⌋ samples: 2 at 28×28, 8 at 14×14, 32 at 7×7.
 *
 * Why not Winograd F(2×2, 3×3), which does 2.25× fewer multiply–adds: built on this sgemm (16
 * products (OC, C)·(C, tiles) between the tile transforms), the U-Net forward at batch 64 ran at
 * 255–373 samples per CPU-second against im2col's 336, depending on the tiles per chunk (1 thread,
 * Haswell kernel, 2026-12-06; one run each on a machine running other jobs, hence CPU seconds).
 * The products have K = C = 32–128, too short for the packed sgemm kernel, and the transformed
 * tensors (16·C·tiles floats) leave the L2. Winning needs the transforms fused into the GEMM's
 * own micro-kernel, i.e. writing a GEMM; not done.
 */
#include "snet_conv.h"
#include "snet_gemm.h"
#include "snet_simd.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Element-wise loops go parallel above this many floats (thread start-up costs more below). */
#define SNET_CONV_OMP_MIN 32768

/* Σ x[i] in double with 8 interleaved partial sums (a fixed order, and no latency chain). */
static double sum_floats(const float *x, size_t n)
{
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += x[i + l];
    for (; i < n; i++)
        acc[i % 8] += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void zero_floats(float *a, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= 8 * SNET_CONV_OMP_MIN)
    for (size_t i = 0; i < n; i += 4096)
        memset(a + i, 0, (n - i < 4096 ? n - i : 4096) * sizeof *a);
}

/* ---- Layout conversion --------------------------------------------------------------------------- */

void snet_nchw_to_cnhw(float *out, const float *in, size_t B, size_t C, size_t HW)
{
    // out (C, B, HW), in (B, C, HW)
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t c = 0; c < C; c++)
        for (size_t b = 0; b < B; b++)
            memcpy(out + (c * B + b) * HW, in + (b * C + c) * HW, HW * sizeof *out);
}

void snet_cnhw_to_nchw(float *out, const float *in, size_t B, size_t C, size_t HW)
{
    // out (B, C, HW), in (C, B, HW)
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            memcpy(out + (b * C + c) * HW, in + (c * B + b) * HW, HW * sizeof *out);
}

/* ---- Convolution ----------------------------------------------------------------------------------- */

size_t snet_conv2d_out_size(size_t in, size_t ksize, size_t stride, size_t pad)
{
    if (stride == 0 || in + 2 * pad < ksize)
        return 0;
    return (in + 2 * pad - ksize) / stride + 1;
}

static int conv_is_pointwise(const snet_conv2d_dims *d)
{
    return d->ksize == 1 && d->stride == 1 && d->pad == 0;
}

/* Stride 1, odd kernel, padding (k − 1)/2: the output has the input's size and the input gradient
 * is itself such a convolution of dout with the flipped, transposed kernel. */
static int conv_is_same(const snet_conv2d_dims *d)
{
    return d->stride == 1 && d->ksize % 2 == 1 && d->pad == (d->ksize - 1) / 2 && d->ksize > 1;
}

size_t snet_conv2d_chunk(const snet_conv2d_dims *d)
{
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t S = OH * OW;
    size_t nb = S ? SNET_CONV_GEMM_COLS / S : 1;
    if (nb < 1)
        nb = 1;
    if (nb > d->B)
        nb = d->B;
    return nb;
}

/* Floats of one lane's im2col buffer: the input's (forward, dW) or, for a same-size convolution,
 * dout's (dX) im2col of one chunk. */
static size_t lane_col_size(const snet_conv2d_dims *d)
{
    if (conv_is_pointwise(d))
        return 0;
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t kk = d->ksize * d->ksize, cols = snet_conv2d_chunk(d) * OH * OW;
    size_t rows = conv_is_same(d) && d->OC > d->C ? d->OC : d->C;
    return rows * kk * cols;
}

static size_t conv_lanes(const snet_conv2d_dims *d)
{
    return d->lanes ? d->lanes : SNET_CONV_LANES;
}

/* The workspace: [lane im2col buffers][per-lane dW partials][flipped kernel]. */
size_t snet_conv2d_col_size(const snet_conv2d_dims *d)
{
    size_t kk = d->ksize * d->ksize, w = d->OC * d->C * kk;
    return conv_lanes(d) * (lane_col_size(d) + w) + (conv_is_same(d) ? w : 0);
}

/* Threads for the lanes of a convolution over n_chunks chunks: never more than the lanes that have
 * work, nor than OpenMP's current maximum. */
static int lane_threads(size_t n_chunks, size_t lanes)
{
    size_t n = n_chunks < lanes ? n_chunks : lanes;
    size_t t = (size_t)omp_get_max_threads();
    return (int)(n < t ? n : t);
}

/* One product of a convolution. A convolution on one lane (d->lanes == 1: the U-Net, whose shards
 * already occupy the threads) makes it ONE single-threaded cblas_sgemm in the calling thread: cut
 * into snet_sgemm's tiles, every tile would pack the small weight operand again (8 tiles per
 * forward GEMM at 28×28), for no parallelism (the tiles run in this thread anyway). A one-row or
 * one-column product, and any product of a multi-lane convolution, goes through snet_sgemm. The
 * choice depends on the shape alone: no thread-count dependence. */
static void conv_gemm(const snet_conv2d_dims *d, int trans_a, int trans_b, size_t M, size_t N,
                      size_t K, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                      float *C, size_t ldc)
{
    if (d->lanes == 1 && M > 1 && N > 1 && K > 0)
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda,
                    B, (int)ldb, beta, C, (int)ldc);
    else
        snet_sgemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* The output columns ow whose input column ow·stride − pad + j lies inside [0, W): [lo, hi). */
static void valid_range(size_t *lo, size_t *hi, size_t j, size_t stride, size_t pad, size_t W,
                        size_t OW)
{
    // need ow·stride ≥ pad − j and ow·stride ≤ W − 1 + pad − j
    size_t l = 0;
    if (pad > j)
        l = (pad - j + stride - 1) / stride;
    size_t h = 0;
    if (W + pad > j)
        h = (W - 1 + pad - j) / stride + 1;
    if (h > OW)
        h = OW;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* One im2col row (c, i, j) of a stride-1 "same" convolution over the nb planes of a chunk, which
 * lie one after another in CNHW: the output planes are the input planes shifted by
 * (i − pad)·W + (j − pad), so ONE copy covers the whole chunk; it wraps across row ends and plane
 * ends, and exactly those places are the ones outside the image, zeroed after it: the rows
 * outside [r0, r1) and the columns outside [lo, hi) of every plane. */
/* (The zeroing loops are a few floats each, a plane row or column: kept as loops, not memset calls.) */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void im2col_same_row(float *dst, const float *src, size_t nb, size_t H, size_t W,
                            size_t i, size_t j, size_t pad)
{
    const size_t HW = H * W, n = nb * HW;
    const ptrdiff_t shift = ((ptrdiff_t)i - (ptrdiff_t)pad) * (ptrdiff_t)W + (ptrdiff_t)j - (ptrdiff_t)pad;
    size_t lo, hi;
    valid_range(&lo, &hi, j, 1, pad, W, W);
    size_t r0 = i < pad ? pad - i : 0, r1 = H + pad > i ? H + pad - i : 0;
    if (r1 > H)
        r1 = H;
    if (r0 > r1)
        r0 = r1;
    // dst[q] = src[q + shift] wherever q + shift lies in the chunk
    size_t q0 = shift < 0 ? (size_t)(-shift) : 0, q1 = shift > 0 ? n - (size_t)shift : n;
    if (q0 < n && q1 > q0)
        memcpy(dst + q0, src + (ptrdiff_t)q0 + shift, (q1 - q0) * sizeof *dst);
    if (r1 == r0 || hi == lo) { // the tap never lands inside the image
        memset(dst, 0, n * sizeof *dst);
        return;
    }
    for (size_t s = 0; s < nb; s++) {
        float *plane = dst + s * HW; // (H, W)
        for (size_t q = 0; q < r0 * W; q++)
            plane[q] = 0.0f;
        for (size_t q = r1 * W; q < HW; q++)
            plane[q] = 0.0f;
        if (lo == 0 && hi == W)
            continue;
        for (size_t oh = r0; oh < r1; oh++) {
            for (size_t ow = 0; ow < lo; ow++)
                plane[oh * W + ow] = 0.0f;
            for (size_t ow = hi; ow < W; ow++)
                plane[oh * W + ow] = 0.0f;
        }
    }
}

void snet_im2col(float *col, const float *in, const snet_conv2d_dims *d, size_t b0, size_t nb)
{
    const size_t k = d->ksize, st = d->stride, pad = d->pad, H = d->H, W = d->W, B = d->B;
    const size_t OH = snet_conv2d_out_size(H, k, st, pad), OW = snet_conv2d_out_size(W, k, st, pad);
    const size_t rows = d->C * k * k, ncol = nb * OH * OW;
    if (conv_is_same(d)) { // OH = H, OW = W
        for (size_t r = 0; r < rows; r++) {
            size_t c = r / (k * k), i = (r / k) % k, j = r % k;
            im2col_same_row(col + r * ncol, in + (c * B + b0) * H * W, nb, H, W, i, j, pad);
        }
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t s = 0; s < nb; s++) {
            size_t c = r / (k * k), i = (r / k) % k, j = r % k;
            const float *plane = in + (c * B + b0 + s) * H * W; // (H, W)
            float *dst = col + r * ncol + s * OH * OW;          // (OH, OW)
            size_t lo, hi;
            valid_range(&lo, &hi, j, st, pad, W, OW);
            for (size_t oh = 0; oh < OH; oh++) {
                float *o = dst + oh * OW;
                size_t ih = oh * st + i; // + pad offset: row ih − pad of the image
                if (ih < pad || ih - pad >= H) {
                    memset(o, 0, OW * sizeof *o);
                    continue;
                }
                const float *src = plane + (ih - pad) * W;
                for (size_t ow = 0; ow < lo; ow++)
                    o[ow] = 0.0f;
                if (st == 1) {
                    if (hi > lo)
                        memcpy(o + lo, src + lo + j - pad, (hi - lo) * sizeof *o);
                } else {
                    for (size_t ow = lo; ow < hi; ow++)
                        o[ow] = src[ow * st + j - pad];
                }
                for (size_t ow = hi; ow < OW; ow++)
                    o[ow] = 0.0f;
            }
        }
    }
}

void snet_col2im(float *din, const float *col, const snet_conv2d_dims *d, size_t b0, size_t nb)
{
    const size_t k = d->ksize, st = d->stride, pad = d->pad, H = d->H, W = d->W, B = d->B;
    const size_t OH = snet_conv2d_out_size(H, k, st, pad), OW = snet_conv2d_out_size(W, k, st, pad);
    const size_t C = d->C, ncol = nb * OH * OW;
    // every din element is summed in the order (i, j)
    for (size_t c = 0; c < C; c++) {
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < k; j++) {
                const float *src_row = col + ((c * k + i) * k + j) * ncol;
                size_t lo, hi;
                valid_range(&lo, &hi, j, st, pad, W, OW);
                for (size_t s = 0; s < nb; s++) {
                    float *plane = din + (c * B + b0 + s) * H * W; // (H, W)
                    const float *src = src_row + s * OH * OW;       // (OH, OW)
                    for (size_t oh = 0; oh < OH; oh++) {
                        size_t ih = oh * st + i;
                        if (ih < pad || ih - pad >= H)
                            continue;
                        float *dst = plane + (ih - pad) * W;
                        const float *g = src + oh * OW;
                        for (size_t ow = lo; ow < hi; ow++)
                            dst[ow * st + j - pad] += g[ow];
                    }
                }
            }
        }
    }
}

void snet_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                         float *col, const snet_conv2d_dims *d, int accumulate)
{
    const size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    const size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    const size_t S = OH * OW, N = d->B * S, OC = d->OC, C = d->C, Kc = C * d->ksize * d->ksize;
    const size_t chunk = snet_conv2d_chunk(d), n_chunks = (d->B + chunk - 1) / chunk;
    const size_t lane_size = lane_col_size(d), lanes = conv_lanes(d);
    const int pointwise = conv_is_pointwise(d);
    const int blas = snet_blas_single_begin();
    // chunk q runs on lane q mod LANES; every output column is written by one chunk's GEMM
#pragma omp parallel for schedule(static, 1) num_threads(lane_threads(n_chunks, lanes)) if (n_chunks > 1 && lanes > 1 && !omp_in_parallel())
    for (size_t lane = 0; lane < lanes; lane++) {
        float *lcol = col + lane * lane_size; // (Kc, ncol)
        for (size_t q = lane; q < n_chunks; q += lanes) {
            size_t b0 = q * chunk, nb = d->B - b0 < chunk ? d->B - b0 : chunk, ncol = nb * S;
            float *o = out + b0 * S; // (OC, ncol) with row stride N
            float beta = accumulate ? 1.0f : 0.0f;
            if (bias) { // the chunk's columns start at (or get) the bias; the GEMM accumulates
                for (size_t oc = 0; oc < OC; oc++) {
                    float *r = o + oc * N, bv = bias[oc];
                    if (accumulate)
                        for (size_t i = 0; i < ncol; i++)
                            r[i] += bv;
                    else
                        for (size_t i = 0; i < ncol; i++)
                            r[i] = bv;
                }
                beta = 1.0f;
            }
            if (pointwise) { // o (+)= W (OC, C) · in_chunk (C, ncol; row stride N)
                conv_gemm(d, 0, 0, OC, ncol, C, weight, C, in + b0 * S, N, beta, o, N);
            } else { // o (+)= W (OC, Kc) · col (Kc, ncol)
                snet_im2col(lcol, in, d, b0, nb);
                conv_gemm(d, 0, 0, OC, ncol, Kc, weight, Kc, lcol, ncol, beta, o, N);
            }
        }
    }
    snet_blas_single_end(blas);
}

void snet_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, float *col,
                          const snet_conv2d_dims *d, int accumulate)
{
    const size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    const size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    const size_t S = OH * OW, N = d->B * S, OC = d->OC, C = d->C, k = d->ksize, kk = k * k;
    const size_t Kc = C * kk, n_w = OC * Kc;
    const size_t chunk = snet_conv2d_chunk(d), n_chunks = (d->B + chunk - 1) / chunk;
    const size_t lane_size = lane_col_size(d), lanes = conv_lanes(d);
    const int pointwise = conv_is_pointwise(d), same = conv_is_same(d);
    const float beta = accumulate ? 1.0f : 0.0f;
    if (dbias) {
        // dbias[oc] += Σ_n dout[oc][n], one channel per thread, in order
#pragma omp parallel for schedule(static) if (OC * N >= SNET_CONV_OMP_MIN)
        for (size_t oc = 0; oc < OC; oc++)
            dbias[oc] += (float)sum_floats(dout + oc * N, N);
    }
    if (!dweight && !din)
        return;
    float *dw_lanes = col + lanes * lane_size; // (lanes, OC, Kc)
    float *wt = dw_lanes + lanes * n_w;         // (C, OC·k·k) flipped kernel
    snet_conv2d_dims dt = {d->B, OC, d->H, d->W, C, k, 1, d->pad, lanes}; // dout → din, as a convolution
    // A "same" convolution that also wants din takes dW from the im2col of dout that din needs
    // anyway (one im2col per chunk instead of two): with G (C, OC·k²) = in · im2col(dout)ᵀ,
    // dW[oc][c][q] = G[c][oc][k² − 1 − q] (the flipped tap, as wt), since for odd k and pad (k−1)/2
    // Σ_m dout[oc][m]·in[c][m + s] = Σ_n in[c][n]·dout[oc][n − s] over the same pairs inside the
    // image. G is collected per lane and transposed into dweight below. Otherwise one lane
    // accumulates straight into dweight and several keep partials, summed in lane order below.
    const int dw_from_dout = dweight && din && same;
    const int direct_dw = lanes == 1 && !dw_from_dout;
    if (dweight && !direct_dw)
        zero_floats(dw_lanes, lanes * n_w);
    if (din && same) // wt[c][oc][i][j] = W[oc][c][k−1−i][k−1−j]
        for (size_t c = 0; c < C; c++)
            for (size_t oc = 0; oc < OC; oc++)
                for (size_t q = 0; q < kk; q++)
                    wt[(c * OC + oc) * kk + q] = weight[(oc * C + c) * kk + (kk - 1 - q)];
    if (din && !same && !pointwise && !accumulate) // col2im adds
        zero_floats(din, C * d->B * d->H * d->W);
    const int blas = snet_blas_single_begin();
#pragma omp parallel for schedule(static, 1) num_threads(lane_threads(n_chunks, lanes)) if (n_chunks > 1 && lanes > 1 && !omp_in_parallel())
    for (size_t lane = 0; lane < lanes; lane++) {
        float *lcol = col + lane * lane_size, *dwl = direct_dw ? dweight : dw_lanes + lane * n_w;
        for (size_t q = lane; q < n_chunks; q += lanes) {
            size_t b0 = q * chunk, nb = d->B - b0 < chunk ? d->B - b0 : chunk, ncol = nb * S;
            const float *g = dout + b0 * S; // (OC, ncol) with row stride N
            if (dweight && pointwise) { // dW_lane (OC, C) += g · in_chunkᵀ
                conv_gemm(d, 0, 1, OC, C, ncol, g, N, in + b0 * S, N, 1.0f, dwl, C);
            } else if (dweight && !dw_from_dout) { // dW_lane (OC, Kc) += g (OC, ncol) · colᵀ (ncol, Kc)
                snet_im2col(lcol, in, d, b0, nb);
                conv_gemm(d, 0, 1, OC, Kc, ncol, g, N, lcol, ncol, 1.0f, dwl, Kc);
            }
            if (!din)
                continue;
            float *dx = din + b0 * S; // (C, ncol) with row stride N (same size or pointwise)
            if (pointwise) { // dx (+)= Wᵀ (C, OC) · g
                conv_gemm(d, 1, 0, C, ncol, OC, weight, C, g, N, beta, dx, N);
            } else if (same) { // dx (+)= wt (C, OC·k²) · im2col(dout) (OC·k², ncol)
                snet_im2col(lcol, dout, &dt, b0, nb);
                conv_gemm(d, 0, 0, C, ncol, OC * kk, wt, OC * kk, lcol, ncol, beta, dx, N);
                if (dw_from_dout) // G_lane (C, OC·k²) += in_chunk (C, ncol) · im2col(dout)ᵀ
                    conv_gemm(d, 0, 1, C, OC * kk, ncol, in + b0 * S, N, lcol, ncol, 1.0f, dwl,
                              OC * kk);
            } else { // dcol (Kc, ncol) = Wᵀ (Kc, OC) · g, scattered into the chunk's samples
                conv_gemm(d, 1, 0, Kc, ncol, OC, weight, Kc, g, N, 0.0f, lcol, ncol);
                snet_col2im(din, lcol, d, b0, nb);
            }
        }
    }
    snet_blas_single_end(blas);
    if (dw_from_dout) { // dW[oc][c][q] += Σ_lanes G_lane[c][oc][k² − 1 − q], lanes in order
#pragma omp parallel for schedule(static) if (n_w >= SNET_CONV_OMP_MIN / 4)
        for (size_t i = 0; i < n_w; i++) {
            size_t oc = i / Kc, c = (i / kk) % C, q = i % kk;
            size_t j = (c * OC + oc) * kk + (kk - 1 - q);
            float acc = dweight[i];
            for (size_t lane = 0; lane < lanes; lane++)
                acc += dw_lanes[lane * n_w + j];
            dweight[i] = acc;
        }
    } else if (dweight && !direct_dw) { // the lanes in order
#pragma omp parallel for schedule(static) if (n_w >= SNET_CONV_OMP_MIN / 4)
        for (size_t i = 0; i < n_w; i++) {
            float acc = dweight[i];
            for (size_t lane = 0; lane < lanes; lane++)
                acc += dw_lanes[lane * n_w + i];
            dweight[i] = acc;
        }
    }
}

/* ---- GroupNorm ------------------------------------------------------------------------------------ */

/* Σ x and Σ x² of one plane in double: one vectorised pass (the reduction order is fixed by the
 * build's vector width, never by threads). */
SNET_SIMD_CLONES
static void plane_sums(const float *x, size_t n, double *sum, double *sum_sq)
{
    double s = 0.0, q = 0.0;
#pragma omp simd reduction(+ : s, q)
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        s += v;
        q += v * v;
    }
    *sum += s;
    *sum_sq += q;
}

/* Statistics of group g of sample b: one pass of Σx, Σx² in double (exact enough: the activations
 * are O(1), so the cancellation in Σx² − n·μ² costs nothing at double precision). */
static void group_stats(float *mean, float *rstd, const float *in, size_t B, size_t b, size_t g,
                        size_t cg, size_t HW)
{
    double sum = 0.0, sum_sq = 0.0;
    for (size_t ci = 0; ci < cg; ci++)
        plane_sums(in + ((g * cg + ci) * B + b) * HW, HW, &sum, &sum_sq);
    double count = (double)(cg * HW), mu = sum / count;
    double var = sum_sq / count - mu * mu;
    if (var < 0.0)
        var = 0.0;
    *mean = (float)mu;
    *rstd = (float)(1.0 / sqrt(var + SNET_GROUPNORM_EPS));
}

void snet_groupnorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, size_t B, size_t C, size_t HW,
                            size_t G)
{
    const size_t cg = C / G;
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        for (size_t g = 0; g < G; g++) {
            float m, r;
            group_stats(&m, &r, in, B, b, g, cg, HW);
            mean[b * G + g] = m;
            rstd[b * G + g] = r;
            for (size_t ci = 0; ci < cg; ci++) {
                size_t c = g * cg + ci;
                const float *x = in + (c * B + b) * HW;
                float *y = out + (c * B + b) * HW;
                float scale = r * gamma[c], shift = beta[c];
                for (size_t p = 0; p < HW; p++)
                    y[p] = (x[p] - m) * scale + shift;
            }
        }
    }
}

/* Per-channel sums over the batch of the (B, C) partials, in the order b = 0, 1, … */
static void reduce_partials(float *dgamma, float *dbeta, const float *part_g, const float *part_b,
                            size_t B, size_t C)
{
    for (size_t c = 0; c < C; c++) {
        double sg = 0.0, sb = 0.0;
        for (size_t b = 0; b < B; b++) {
            sg += part_g[b * C + c];
            sb += part_b[b * C + c];
        }
        if (dgamma)
            dgamma[c] += (float)sg;
        if (dbeta)
            dbeta[c] += (float)sb;
    }
}

/* The input gradient of one group of one sample, from the per-channel sums Σ dy and Σ dy·n:
 * with dn = gamma·dy, dx = rstd · (dn − mean(dn) − n · mean(dn · n)). */
SNET_SIMD_CLONES
static void group_input_grad(float *din, const float *dy, const float *in, const float *gamma,
                             const float *sum_dy, const float *sum_dyn, float m, float r, size_t B,
                             size_t b, size_t g, size_t cg, size_t HW, int accumulate)
{
    double s_dn = 0.0, s_dnn = 0.0;
    for (size_t ci = 0; ci < cg; ci++) {
        size_t c = g * cg + ci;
        s_dn += (double)gamma[c] * sum_dy[ci];
        s_dnn += (double)gamma[c] * sum_dyn[ci];
    }
    double count = (double)(cg * HW);
    float mean_dn = (float)(s_dn / count), mean_dnn = (float)(s_dnn / count);
    for (size_t ci = 0; ci < cg; ci++) {
        size_t c = g * cg + ci;
        const float *x = in + (c * B + b) * HW, *gy = dy + (c * B + b) * HW;
        float *dx = din + (c * B + b) * HW;
        float gc = gamma[c];
        if (accumulate) {
#pragma omp simd
            for (size_t p = 0; p < HW; p++)
                dx[p] += (gc * gy[p] - mean_dn - (x[p] - m) * r * mean_dnn) * r;
        } else {
#pragma omp simd
            for (size_t p = 0; p < HW; p++)
                dx[p] = (gc * gy[p] - mean_dn - (x[p] - m) * r * mean_dnn) * r;
        }
    }
}

/* Σ dy and Σ dy·n over one (channel, sample) plane, n = (x − m)·r, in double (vectorised). */
SNET_SIMD_CLONES
static void plane_grad_sums(float *sum_dy, float *sum_dyn, const float *dy, const float *x, float m,
                            float r, size_t HW)
{
    double a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
    for (size_t p = 0; p < HW; p++) {
        double gy = dy[p];
        a += gy;
        q += gy * (double)((x[p] - m) * r);
    }
    *sum_dy = (float)a;
    *sum_dyn = (float)q;
}

void snet_groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *gamma, const float *mean,
                             const float *rstd, float *partial, size_t B, size_t C, size_t HW,
                             size_t G, int accumulate)
{
    const size_t cg = C / G;
    float *part_g = partial, *part_b = partial + B * C; // (B, C) each
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        for (size_t g = 0; g < G; g++) {
            float m = mean[b * G + g], r = rstd[b * G + g];
            float *sdy = part_b + b * C + g * cg, *sdyn = part_g + b * C + g * cg;
            for (size_t ci = 0; ci < cg; ci++) {
                size_t c = g * cg + ci;
                plane_grad_sums(&sdy[ci], &sdyn[ci], dout + (c * B + b) * HW,
                                in + (c * B + b) * HW, m, r, HW);
            }
            if (din)
                group_input_grad(din, dout, in, gamma, sdy, sdyn, m, r, B, b, g, cg, HW, accumulate);
        }
    }
    if (dgamma || dbeta)
        reduce_partials(dgamma, dbeta, part_g, part_b, B, C);
}

/* ---- GroupNorm → SiLU, fused ------------------------------------------------------------------------ */

/* s = SiLU(y), y = (x − m)·scale + shift over one plane (the vector expf, snet_simd.h). */
SNET_SIMD_CLONES
static void normalize_silu_plane(float *s, const float *x, float m, float scale, float shift,
                                 size_t HW)
{
#pragma omp simd
    for (size_t p = 0; p < HW; p++) {
        float y = (x[p] - m) * scale + shift;
        s[p] = y / (1.0f + expf(-y));
    }
}

/* gy ← gy · SiLU'(y) over one plane, y = (x − m)·scale + shift: ∂L/∂s in, ∂L/∂y out; in the same
 * pass Σ ∂L/∂y and Σ ∂L/∂y · n with n = (x − m)·r (plane_grad_sums of the result), in double. */
SNET_SIMD_CLONES
static void silu_grad_plane_sums(float *gy, float *sum_dy, float *sum_dyn, const float *x, float m,
                                 float r, float scale, float shift, size_t HW)
{
    double a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
    for (size_t p = 0; p < HW; p++) {
        float y = (x[p] - m) * scale + shift, sig = 1.0f / (1.0f + expf(-y));
        float g = gy[p] * (sig * (1.0f + y * (1.0f - sig)));
        gy[p] = g;
        a += (double)g;
        q += (double)g * (double)((x[p] - m) * r);
    }
    *sum_dy = (float)a;
    *sum_dyn = (float)q;
}

void snet_groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *in,
                                 const float *gamma, const float *beta, size_t B, size_t C,
                                 size_t HW, size_t G)
{
    const size_t cg = C / G;
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        for (size_t g = 0; g < G; g++) {
            float m, r;
            group_stats(&m, &r, in, B, b, g, cg, HW);
            mean[b * G + g] = m;
            rstd[b * G + g] = r;
            for (size_t ci = 0; ci < cg; ci++) {
                size_t c = g * cg + ci;
                const float *x = in + (c * B + b) * HW;
                float *s = out + (c * B + b) * HW;
                normalize_silu_plane(s, x, m, r * gamma[c], beta[c], HW);
            }
        }
    }
}

void snet_groupnorm_silu_backward(float *din, float *dgamma, float *dbeta, float *dout,
                                  const float *in, const float *gamma, const float *beta,
                                  const float *mean, const float *rstd, float *partial, size_t B,
                                  size_t C, size_t HW, size_t G, int accumulate)
{
    const size_t cg = C / G;
    float *part_g = partial, *part_b = partial + B * C; // (B, C) each
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        for (size_t g = 0; g < G; g++) {
            float m = mean[b * G + g], r = rstd[b * G + g];
            float *sdy = part_b + b * C + g * cg, *sdyn = part_g + b * C + g * cg;
            for (size_t ci = 0; ci < cg; ci++) {
                size_t c = g * cg + ci;
                const float *x = in + (c * B + b) * HW;
                float *gy = dout + (c * B + b) * HW; // ∂L/∂s in, ∂L/∂y out (y = GN output)
                silu_grad_plane_sums(gy, &sdy[ci], &sdyn[ci], x, m, r, r * gamma[c], beta[c], HW);
            }
            if (din)
                group_input_grad(din, dout, in, gamma, sdy, sdyn, m, r, B, b, g, cg, HW, accumulate);
        }
    }
    if (dgamma || dbeta)
        reduce_partials(dgamma, dbeta, part_g, part_b, B, C);
}

/* ---- Per-channel add ---------------------------------------------------------------------------------- */

void snet_channel_add_forward(float *out, const float *row, size_t row_stride, size_t B, size_t C,
                              size_t HW)
{
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t c = 0; c < C; c++) {
        for (size_t b = 0; b < B; b++) {
            float *o = out + (c * B + b) * HW; // (HW)
            float v = row[b * row_stride + c];
            for (size_t p = 0; p < HW; p++)
                o[p] += v;
        }
    }
}

void snet_channel_add_backward(float *drow, const float *dout, size_t row_stride, size_t B, size_t C,
                               size_t HW)
{
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t c = 0; c < C; c++) {
        for (size_t b = 0; b < B; b++) {
            drow[b * row_stride + c] += (float)sum_floats(dout + (c * B + b) * HW, HW);
        }
    }
}

/* ---- Upsampling ------------------------------------------------------------------------------------------- */

void snet_upsample2x_forward(float *out, const float *in, size_t B, size_t C, size_t H, size_t W)
{
    const size_t planes = C * B, W2 = 2 * W;
#pragma omp parallel for schedule(static) if (planes * H * W * 4 >= SNET_CONV_OMP_MIN)
    for (size_t q = 0; q < planes; q++) {
        const float *x = in + q * H * W;   // (H, W)
        float *y = out + q * 4 * H * W;    // (2H, 2W)
        for (size_t h = 0; h < H; h++) {
            float *y0 = y + 2 * h * W2, *y1 = y0 + W2;
            for (size_t w = 0; w < W; w++) {
                float v = x[h * W + w];
                y0[2 * w] = v;
                y0[2 * w + 1] = v;
            }
            memcpy(y1, y0, W2 * sizeof *y1);
        }
    }
}

void snet_upsample2x_backward(float *din, const float *dout, size_t B, size_t C, size_t H, size_t W)
{
    const size_t planes = C * B, W2 = 2 * W;
#pragma omp parallel for schedule(static) if (planes * H * W * 4 >= SNET_CONV_OMP_MIN)
    for (size_t q = 0; q < planes; q++) {
        float *dx = din + q * H * W;            // (H, W)
        const float *dy = dout + q * 4 * H * W; // (2H, 2W)
        for (size_t h = 0; h < H; h++) {
            const float *g0 = dy + 2 * h * W2, *g1 = g0 + W2;
            for (size_t w = 0; w < W; w++)
                dx[h * W + w] += (g0[2 * w] + g0[2 * w + 1]) + (g1[2 * w] + g1[2 * w + 1]);
        }
    }
}

/* ---- Concatenation -------------------------------------------------------------------------------------- */

void snet_concat_forward(float *out, const float *a, size_t Ca, const float *b, size_t Cb, size_t n)
{
    memcpy(out, a, Ca * n * sizeof *out);
    memcpy(out + Ca * n, b, Cb * n * sizeof *out);
}

void snet_concat_backward(float *da, float *db, const float *dout, size_t Ca, size_t Cb, size_t n)
{
    if (da) {
        const float *g = dout;
#pragma omp parallel for schedule(static) if (Ca * n >= SNET_CONV_OMP_MIN)
        for (size_t i = 0; i < Ca * n; i++)
            da[i] += g[i];
    }
    if (db) {
        const float *g = dout + Ca * n;
#pragma omp parallel for schedule(static) if (Cb * n >= SNET_CONV_OMP_MIN)
        for (size_t i = 0; i < Cb * n; i++)
            db[i] += g[i];
    }
}
