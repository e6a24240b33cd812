/* snet_conv.c — convolutional forward/backward pairs; see snet_conv.h for layout and conventions.
 *
 * Why chunks of samples per GEMM (SNET_CONV_GEMM_COLS). Measured with OpenBLAS 0.3.21 (pthreads)
 * on 2 cores of the target machine (AMD EPYC, AVX-512), batch 64, 3×3 convolutions, GFLOP/s of the
 * forward GEMM for n = samples·OH·OW columns per call:
 *     28×28, 32→32:  1 sample 46–112 | 4 samples 132 | 64 samples 90
 *     14×14, 64→64:  1 sample 100    | 8–16 samples 136–154 | 64 samples 118
 *      7×7,  64→64:  1 sample 48     | 16–64 samples 116–125
 * One sample per call starves the small resolutions; the whole batch per call makes the im2col
 * matrix (C·9, B·OH·OW) tens of MB and slows the large ones. About 3000 columns per call was the
 * best or near it at every resolution (weight- and input-gradient GEMMs agree), so chunks hold
 * ⌊3136/(OH·OW)⌋ samples (4 at 28×28, 16 at 14×14, 64 at 7×7).
 */
#include "snet_conv.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Element-wise loops go parallel above this many floats (thread start-up costs more below). */
#define SNET_CONV_OMP_MIN 32768

void snet_sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    size_t K1 = K & ~(size_t)(SNET_SGEMM_K_MULTIPLE - 1);
    if (K <= SNET_SGEMM_K_SAFE || K1 == K || K1 == 0) {
        cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb,
                    beta, C, (int)ldc);
        return;
    }
    // C = A[:, :K1]·B[:K1, :] + beta·C, then C += A[:, K1:]·B[K1:, :]
    cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K1, 1.0f, A, (int)lda, B, (int)ldb, beta,
                C, (int)ldc);
    const float *A2 = trans_a ? A + K1 * lda : A + K1; // A is (K, M) when transposed, else (M, K)
    const float *B2 = trans_b ? B + K1 : B + K1 * ldb; // B is (N, K) when transposed, else (K, N)
    cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)(K - K1), 1.0f, A2, (int)lda, B2,
                (int)ldb, 1.0f, C, (int)ldc);
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

size_t snet_conv2d_col_size(const snet_conv2d_dims *d)
{
    if (conv_is_pointwise(d))
        return 0;
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    return d->C * d->ksize * d->ksize * snet_conv2d_chunk(d) * OH * OW;
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

void snet_im2col(float *col, const float *in, const snet_conv2d_dims *d, size_t b0, size_t nb)
{
    const size_t k = d->ksize, st = d->stride, pad = d->pad, H = d->H, W = d->W, B = d->B;
    const size_t OH = snet_conv2d_out_size(H, k, st, pad), OW = snet_conv2d_out_size(W, k, st, pad);
    const size_t rows = d->C * k * k, ncol = nb * OH * OW;
#pragma omp parallel for collapse(2) schedule(static) if (rows * ncol >= SNET_CONV_OMP_MIN)
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
    // one input channel per iteration: every din element is summed in the order (i, j) by one thread
#pragma omp parallel for schedule(static) if (C * k * k * ncol >= SNET_CONV_OMP_MIN && C > 1)
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
    const size_t S = OH * OW, N = d->B * S, OC = d->OC, Kc = d->C * d->ksize * d->ksize;
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias) {
        // out (OC, N) starts at bias (or gets it added), then the GEMMs accumulate
#pragma omp parallel for schedule(static) if (OC * N >= SNET_CONV_OMP_MIN)
        for (size_t oc = 0; oc < OC; oc++) {
            float *o = out + oc * N;
            float bv = bias[oc];
            if (accumulate)
                for (size_t i = 0; i < N; i++)
                    o[i] += bv;
            else
                for (size_t i = 0; i < N; i++)
                    o[i] = bv;
        }
        beta = 1.0f;
    }
    if (conv_is_pointwise(d)) {
        // out (OC, N) = W (OC, C) · in (C, N)
        snet_sgemm(0, 0, OC, N, d->C, weight, d->C, in, N, beta, out, N);
        return;
    }
    const size_t chunk = snet_conv2d_chunk(d);
    for (size_t b0 = 0; b0 < d->B; b0 += chunk) {
        size_t nb = d->B - b0 < chunk ? d->B - b0 : chunk;
        size_t ncol = nb * S;
        snet_im2col(col, in, d, b0, nb); // col (Kc, ncol)
        // out[:, b0·S : (b0+nb)·S] (OC, ncol; row stride N) (+)= W (OC, Kc) · col (Kc, ncol)
        snet_sgemm(0, 0, OC, ncol, Kc, weight, Kc, col, ncol, beta, out + b0 * S, N);
    }
}

void snet_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, float *col,
                          const snet_conv2d_dims *d)
{
    const size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    const size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    const size_t S = OH * OW, N = d->B * S, OC = d->OC, Kc = d->C * d->ksize * d->ksize;
    if (dbias) {
        // dbias[oc] += Σ_n dout[oc][n], one channel per thread, in order
#pragma omp parallel for schedule(static) if (OC * N >= SNET_CONV_OMP_MIN)
        for (size_t oc = 0; oc < OC; oc++) {
            const float *g = dout + oc * N;
            double sum = 0.0;
            for (size_t i = 0; i < N; i++)
                sum += g[i];
            dbias[oc] += (float)sum;
        }
    }
    if (conv_is_pointwise(d)) {
        // dW (OC, C) += dout (OC, N) · inᵀ (N, C)
        if (dweight)
            snet_sgemm(0, 1, OC, d->C, N, dout, N, in, N, 1.0f, dweight, d->C);
        // din (C, N) += Wᵀ (C, OC) · dout (OC, N)
        if (din)
            snet_sgemm(1, 0, d->C, N, OC, weight, d->C, dout, N, 1.0f, din, N);
        return;
    }
    if (!dweight && !din)
        return;
    const size_t chunk = snet_conv2d_chunk(d);
    for (size_t b0 = 0; b0 < d->B; b0 += chunk) {
        size_t nb = d->B - b0 < chunk ? d->B - b0 : chunk;
        size_t ncol = nb * S;
        const float *g = dout + b0 * S; // (OC, ncol) with row stride N
        if (dweight) {
            snet_im2col(col, in, d, b0, nb); // col (Kc, ncol)
            // dW (OC, Kc) += dout_chunk (OC, ncol) · colᵀ (ncol, Kc)
            snet_sgemm(0, 1, OC, Kc, ncol, g, N, col, ncol, 1.0f, dweight, Kc);
        }
        if (din) {
            // dcol (Kc, ncol) = Wᵀ (Kc, OC) · dout_chunk (OC, ncol), then scattered back
            snet_sgemm(1, 0, Kc, ncol, OC, weight, Kc, g, N, 0.0f, col, ncol);
            snet_col2im(din, col, d, b0, nb);
        }
    }
}

/* ---- GroupNorm -------------------------------------------------------------------------------------- */

void snet_groupnorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, size_t B, size_t C, size_t HW,
                            size_t G)
{
    const size_t cg = C / G;
    const double count = (double)(cg * HW);
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        for (size_t g = 0; g < G; g++) {
            double sum = 0.0;
            for (size_t ci = 0; ci < cg; ci++) {
                const float *x = in + ((g * cg + ci) * B + b) * HW; // (HW)
                for (size_t p = 0; p < HW; p++)
                    sum += x[p];
            }
            double mu = sum / count;
            double ss = 0.0;
            for (size_t ci = 0; ci < cg; ci++) {
                const float *x = in + ((g * cg + ci) * B + b) * HW;
                for (size_t p = 0; p < HW; p++) {
                    double dv = x[p] - mu;
                    ss += dv * dv;
                }
            }
            float m = (float)mu, r = (float)(1.0 / sqrt(ss / count + SNET_GROUPNORM_EPS));
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

void snet_groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *gamma, const float *mean,
                             const float *rstd, size_t B, size_t C, size_t HW, size_t G)
{
    const size_t cg = C / G;
    if (din) {
        const double count = (double)(cg * HW);
#pragma omp parallel for collapse(2) schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
        for (size_t b = 0; b < B; b++) {
            for (size_t g = 0; g < G; g++) {
                float m = mean[b * G + g], r = rstd[b * G + g];
                // with n = (x − μ)·rstd and dn = gamma·dout:
                // dx = rstd · (dn − mean(dn) − n · mean(dn · n)) over the group
                double s_dn = 0.0, s_dnn = 0.0;
                for (size_t ci = 0; ci < cg; ci++) {
                    size_t c = g * cg + ci;
                    const float *x = in + (c * B + b) * HW, *dy = dout + (c * B + b) * HW;
                    float gc = gamma[c];
                    for (size_t p = 0; p < HW; p++) {
                        float dn = gc * dy[p];
                        s_dn += dn;
                        s_dnn += (double)dn * ((x[p] - m) * r);
                    }
                }
                float mean_dn = (float)(s_dn / count), mean_dnn = (float)(s_dnn / count);
                for (size_t ci = 0; ci < cg; ci++) {
                    size_t c = g * cg + ci;
                    const float *x = in + (c * B + b) * HW, *dy = dout + (c * B + b) * HW;
                    float *dx = din + (c * B + b) * HW;
                    float gc = gamma[c];
                    for (size_t p = 0; p < HW; p++) {
                        float nrm = (x[p] - m) * r;
                        dx[p] += (gc * dy[p] - mean_dn - nrm * mean_dnn) * r;
                    }
                }
            }
        }
    }
    if (dgamma || dbeta) {
        // one channel per thread, samples in order
#pragma omp parallel for schedule(static) if (B * C * HW >= SNET_CONV_OMP_MIN)
        for (size_t c = 0; c < C; c++) {
            size_t g = c / cg;
            double s_g = 0.0, s_b = 0.0;
            for (size_t b = 0; b < B; b++) {
                const float *x = in + (c * B + b) * HW, *dy = dout + (c * B + b) * HW;
                float m = mean[b * G + g], r = rstd[b * G + g];
                for (size_t p = 0; p < HW; p++) {
                    s_g += (double)dy[p] * ((x[p] - m) * r);
                    s_b += dy[p];
                }
            }
            if (dgamma)
                dgamma[c] += (float)s_g;
            if (dbeta)
                dbeta[c] += (float)s_b;
        }
    }
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
            const float *g = dout + (c * B + b) * HW; // (HW)
            double sum = 0.0;
            for (size_t p = 0; p < HW; p++)
                sum += g[p];
            drow[b * row_stride + c] += (float)sum;
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
