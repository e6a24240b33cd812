/* snet_layers.c — forward/backward pairs; see snet_layers.h for shapes and conventions. */
#include "snet_layers.h"
#include "snet_gemm.h"
#include "snet_simd.h"

#include <math.h>
#include <string.h>

/* Element-wise loops go parallel above this many floats (4 MiB). Below it a parallel region costs
 * more than it saves: measured on the 2-core machine, the 2-D MLP forward at batch 1024 ran at
 * 13000 samples/s with serial element-wise loops and 1700 with OpenMP regions at 32768 floats —
 * Debian's OpenBLAS is the pthreads build, whose spinning workers and GOMP's fight for the cores at
 * every region's barrier (worst on a loaded machine). */
#define SNET_OMP_MIN (1 << 20)

void snet_zero(float *a, size_t n)
{
    if (n)
        memset(a, 0, n * sizeof *a);
}

void snet_add_inplace(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= SNET_OMP_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

void snet_add(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= SNET_OMP_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void snet_add_rows(float *out, const float *row, size_t row_stride, size_t B, size_t C)
{
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        float *o = out + b * C;           // (C)
        const float *r = row + b * row_stride; // (C)
        for (size_t c = 0; c < C; c++)
            o[c] += r[c];
    }
}

void snet_add_block(float *out, size_t out_stride, const float *in, size_t in_stride, size_t B,
                    size_t C)
{
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        float *o = out + b * out_stride;     // (C)
        const float *r = in + b * in_stride; // (C)
        for (size_t c = 0; c < C; c++)
            o[c] += r[c];
    }
}

/* ---- Linear ------------------------------------------------------------------------------------ */

void snet_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                         size_t B, size_t C, size_t OC)
{
    // out (B, OC), in (B, C), weight (OC, C), bias (OC)
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static) if (B * OC >= SNET_OMP_MIN)
        for (size_t b = 0; b < B; b++)
            memcpy(out + b * OC, bias, OC * sizeof *out);
        beta = 1.0f;
    }
    snet_sgemm(0, 1, B, OC, C, in, C, weight, C, beta, out, OC);
}

void snet_linear_forward_add(float *out, const float *in, const float *weight, size_t B, size_t C,
                             size_t OC)
{
    snet_sgemm(0, 1, B, OC, C, in, C, weight, C, 1.0f, out, OC);
}

void snet_rows_plus_bias(float *out, const float *a, size_t a_stride, const float *bias, size_t B,
                         size_t C)
{
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        float *o = out + b * C;           // (C)
        const float *r = a + b * a_stride; // (C)
        if (bias)
            for (size_t c = 0; c < C; c++)
                o[c] = r[c] + bias[c];
        else
            memcpy(o, r, C * sizeof *o);
    }
}

void snet_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, size_t B, size_t C, size_t OC)
{
    // din (B, C) += dout (B, OC) · weight (OC, C)
    if (din)
        snet_sgemm(0, 0, B, C, OC, dout, OC, weight, C, 1.0f, din, C);
    // dweight (OC, C) += doutᵀ (OC, B) · in (B, C)
    if (dweight)
        snet_sgemm(1, 0, OC, C, B, dout, OC, in, C, 1.0f, dweight, C);
    // dbias (OC) += Σ_b dout[b]; each output feature summed over b in order (thread-count free)
    if (dbias) {
        enum { CHUNK = 64 };
        size_t n_chunks = (OC + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (B * OC >= SNET_OMP_MIN)
        for (size_t k = 0; k < n_chunks; k++) {
            size_t o0 = k * CHUNK, o1 = o0 + CHUNK < OC ? o0 + CHUNK : OC;
            for (size_t b = 0; b < B; b++) {
                const float *g = dout + b * OC;
                for (size_t o = o0; o < o1; o++)
                    dbias[o] += g[o];
            }
        }
    }
}

/* ---- SiLU ---------------------------------------------------------------------------------------- */

/* The simd loops live in their own functions, called per chunk, so that they get the vector expf
 * (snet_simd.h). */
enum { SILU_CHUNK = 4096 };

SNET_SIMD_CLONES
static void silu_chunk(float *out, const float *in, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = expf(-in[i]);
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] / (1.0f + out[i]);
}

SNET_SIMD_CLONES
static void silu_backward_chunk(float *din, const float *dout, const float *in, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float sig = 1.0f / (1.0f + expf(-x));
        din[i] += dout[i] * sig * (1.0f + x * (1.0f - sig));
    }
}

void snet_silu_forward(float *out, const float *in, size_t n)
{
    size_t n_chunks = (n + SILU_CHUNK - 1) / SILU_CHUNK;
#pragma omp parallel for schedule(static) if (n >= SNET_OMP_MIN)
    for (size_t k = 0; k < n_chunks; k++) {
        size_t i0 = k * SILU_CHUNK, len = n - i0 < SILU_CHUNK ? n - i0 : SILU_CHUNK;
        silu_chunk(out + i0, in + i0, len);
    }
}

void snet_silu_backward(float *din, const float *dout, const float *in, size_t n)
{
    size_t n_chunks = (n + SILU_CHUNK - 1) / SILU_CHUNK;
#pragma omp parallel for schedule(static) if (n >= SNET_OMP_MIN)
    for (size_t k = 0; k < n_chunks; k++) {
        size_t i0 = k * SILU_CHUNK, len = n - i0 < SILU_CHUNK ? n - i0 : SILU_CHUNK;
        silu_backward_chunk(din + i0, dout + i0, in + i0, len);
    }
}

/* SiLU's first and second derivatives from σ = σ(x):
 *   silu'(x)  = σ (1 + x (1 − σ))
 *   silu''(x) = σ (1 − σ) (2 + x (1 − 2σ)) */
SNET_SIMD_CLONES
static void silu_tangent_chunk(float *tout, const float *tin, const float *in, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float sig = 1.0f / (1.0f + expf(-x));
        tout[i] = tin[i] * sig * (1.0f + x * (1.0f - sig));
    }
}

SNET_SIMD_CLONES
static void silu_tangent_backward_chunk(float *din, float *dtin, const float *dtout,
                                        const float *tin, const float *in, size_t n)
{
    if (din) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float sig = 1.0f / (1.0f + expf(-x));
            din[i] += dtout[i] * tin[i] * sig * (1.0f - sig) * (2.0f + x * (1.0f - 2.0f * sig));
        }
    }
    if (dtin) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float sig = 1.0f / (1.0f + expf(-x));
            dtin[i] += dtout[i] * sig * (1.0f + x * (1.0f - sig));
        }
    }
}

void snet_silu_tangent_forward(float *tout, const float *tin, const float *in, size_t n)
{
    size_t n_chunks = (n + SILU_CHUNK - 1) / SILU_CHUNK;
#pragma omp parallel for schedule(static) if (n >= SNET_OMP_MIN)
    for (size_t k = 0; k < n_chunks; k++) {
        size_t i0 = k * SILU_CHUNK, len = n - i0 < SILU_CHUNK ? n - i0 : SILU_CHUNK;
        silu_tangent_chunk(tout + i0, tin + i0, in + i0, len);
    }
}

void snet_silu_tangent_backward(float *din, float *dtin, const float *dtout, const float *tin,
                                const float *in, size_t n)
{
    if (!din && !dtin)
        return;
    size_t n_chunks = (n + SILU_CHUNK - 1) / SILU_CHUNK;
#pragma omp parallel for schedule(static) if (n >= SNET_OMP_MIN)
    for (size_t k = 0; k < n_chunks; k++) {
        size_t i0 = k * SILU_CHUNK, len = n - i0 < SILU_CHUNK ? n - i0 : SILU_CHUNK;
        silu_tangent_backward_chunk(din ? din + i0 : NULL, dtin ? dtin + i0 : NULL, dtout + i0,
                                    tin + i0, in + i0, len);
    }
}

/* ---- LayerNorm ------------------------------------------------------------------------------------ */

/* Σ_c x[c] (squared = 0) or Σ_c (x[c] − shift)² (squared = 1) in 8 float lanes (a fixed order the
 * compiler can vectorise), the lanes added in double. */
static double sum_lanes(const float *x, size_t C, float shift, int squared)
{
    float lane[8] = {0};
    size_t c = 0;
    if (squared) {
        for (; c + 8 <= C; c += 8)
#pragma omp simd
            for (int k = 0; k < 8; k++) {
                float d = x[c + k] - shift;
                lane[k] += d * d;
            }
    } else {
        for (; c + 8 <= C; c += 8)
#pragma omp simd
            for (int k = 0; k < 8; k++)
                lane[k] += x[c + k];
    }
    double total = 0.0;
    for (int k = 0; k < 8; k++)
        total += lane[k];
    for (; c < C; c++) {
        double d = (double)x[c] - shift;
        total += squared ? d * d : d;
    }
    return total;
}

void snet_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *weight, const float *bias, size_t B, size_t C)
{
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        const float *x = in + b * C; // (C)
        float *y = out + b * C;      // (C)
        float m = (float)(sum_lanes(x, C, 0.0f, 0) / (double)C);
        float r = (float)(1.0 / sqrt(sum_lanes(x, C, m, 1) / (double)C + SNET_LAYERNORM_EPS));
        for (size_t c = 0; c < C; c++)
            y[c] = (x[c] - m) * r * weight[c] + bias[c];
        mean[b] = m;
        rstd[b] = r;
    }
}

void snet_layernorm_backward(float *din, float *dweight, float *dbias, const float *dout,
                             const float *in, const float *weight, const float *mean,
                             const float *rstd, size_t B, size_t C)
{
    if (din) {
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
        for (size_t b = 0; b < B; b++) {
            const float *x = in + b * C, *g = dout + b * C; // (C), (C)
            float *dx = din + b * C;                        // (C)
            float m = mean[b], r = rstd[b];
            // with n = (x − μ)·rstd and dn = w·dout:
            // dx = rstd · (dn − mean(dn) − n · mean(dn · n))
            double s_dn = 0.0, s_dnn = 0.0;
            for (size_t c = 0; c < C; c++) {
                float nrm = (x[c] - m) * r;
                float dn = weight[c] * g[c];
                s_dn += dn;
                s_dnn += (double)dn * nrm;
            }
            float mean_dn = (float)(s_dn / (double)C), mean_dnn = (float)(s_dnn / (double)C);
            for (size_t c = 0; c < C; c++) {
                float nrm = (x[c] - m) * r;
                float dn = weight[c] * g[c];
                dx[c] += (dn - mean_dn - nrm * mean_dnn) * r;
            }
        }
    }
    if (dweight || dbias) {
        enum { CHUNK = 64 };
        size_t n_chunks = (C + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
        for (size_t k = 0; k < n_chunks; k++) {
            size_t c0 = k * CHUNK, c1 = c0 + CHUNK < C ? c0 + CHUNK : C;
            for (size_t b = 0; b < B; b++) {
                const float *x = in + b * C, *g = dout + b * C;
                float m = mean[b], r = rstd[b];
                for (size_t c = c0; c < c1; c++) {
                    if (dweight)
                        dweight[c] += (x[c] - m) * r * g[c];
                    if (dbias)
                        dbias[c] += g[c];
                }
            }
        }
    }
}

/* ---- LayerNorm tangent ----------------------------------------------------------------------------
 * One row (C features), n = (x − μ)·r the normalised input, ẋ the input's tangent:
 *   m1 = mean(ẋ), m2 = mean(n ⊙ ẋ),  ṅ = r·(ẋ − m1 − n·m2),  tout = w ⊙ ṅ.
 * (From dμ = mean(ẋ), dr = −r³·mean((x − μ) ⊙ ẋ) = −r²·m2; exact with eps, as var(n) = 1 is not
 * used.)
 *
 * Backward, given g = ∂L/∂tout and u = w ⊙ g = ∂L/∂ṅ, so that the loss sees S = Σ_c u_c ṅ_c:
 *   ∂L/∂w = g ⊙ ṅ.
 *   ∂L/∂ẋ: ṅ = J ẋ with the LayerNorm Jacobian J = r(I − 11ᵀ/C − n nᵀ/C), which is symmetric, so
 *          ∂L/∂ẋ = J u = r·(u − mean(u) − n·mean(u ⊙ n)) (the primal backward's formula).
 *   ∂L/∂x: write S = r·(u·ẋ − m1·Σu) − r·m2·P with P = u·n. Of these u·ẋ, m1, Σu do not depend
 *          on x; r, m2 and P do, through δn = J δx and δr = −(r²/C)·n·δx:
 *            δm2 = (1/C) ẋ·J δx = (1/C)(J ẋ)·δx = (1/C) ṅ·δx,
 *            δP  = u·J δx = (J u)·δx,
 *          and δr multiplies r·(…) = S/r. Hence
 *            ∂S/∂x = −(r/C)·S·n − r·(P/C)·ṅ − r·m2·J u
 *                  = −r·(mean(u ⊙ ṅ)·n + mean(u ⊙ n)·ṅ + r·m2·(u − mean(u) − n·mean(u ⊙ n))).
 *          Checks: it sums to zero over c (S is shift-invariant), and Σ_c (x_c − μ) ∂S/∂x_c = −S
 *          when eps is negligible (S scales as 1/scale of x). */

/* m1 = mean(ẋ), m2 = mean(n ⊙ ẋ) of one row, summed in double */
static void layernorm_tangent_stats(const float *x, const float *tx, float m, float r, size_t C,
                                    float *m1, float *m2)
{
    double s1 = 0.0, s2 = 0.0;
    for (size_t c = 0; c < C; c++) {
        s1 += tx[c];
        s2 += (double)((x[c] - m) * r) * tx[c];
    }
    *m1 = (float)(s1 / (double)C);
    *m2 = (float)(s2 / (double)C);
}

void snet_layernorm_tangent_forward(float *tout, const float *tin, const float *in,
                                    const float *weight, const float *mean, const float *rstd,
                                    size_t B, size_t C)
{
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
    for (size_t b = 0; b < B; b++) {
        const float *x = in + b * C, *tx = tin + b * C; // (C), (C)
        float *ty = tout + b * C;                       // (C)
        float m = mean[b], r = rstd[b], m1, m2;
        layernorm_tangent_stats(x, tx, m, r, C, &m1, &m2);
        for (size_t c = 0; c < C; c++) {
            float nrm = (x[c] - m) * r;
            ty[c] = weight[c] * r * (tx[c] - m1 - nrm * m2);
        }
    }
}

void snet_layernorm_tangent_backward(float *din, float *dtin, float *dweight, const float *dtout,
                                     const float *tin, const float *in, const float *weight,
                                     const float *mean, const float *rstd, size_t B, size_t C)
{
    if (din || dtin) {
#pragma omp parallel for schedule(static) if (B * C >= SNET_OMP_MIN)
        for (size_t b = 0; b < B; b++) {
            const float *x = in + b * C, *tx = tin + b * C, *g = dtout + b * C; // (C) each
            float m = mean[b], r = rstd[b], m1, m2;
            layernorm_tangent_stats(x, tx, m, r, C, &m1, &m2);
            // mean(u), mean(u ⊙ n), mean(u ⊙ ṅ) with u = w ⊙ g
            double s_u = 0.0, s_un = 0.0, s_uy = 0.0;
            for (size_t c = 0; c < C; c++) {
                float nrm = (x[c] - m) * r;
                float tn = r * (tx[c] - m1 - nrm * m2);
                float u = weight[c] * g[c];
                s_u += u;
                s_un += (double)u * nrm;
                s_uy += (double)u * tn;
            }
            float mean_u = (float)(s_u / (double)C), mean_un = (float)(s_un / (double)C);
            float mean_uy = (float)(s_uy / (double)C);
            for (size_t c = 0; c < C; c++) {
                float nrm = (x[c] - m) * r;
                float tn = r * (tx[c] - m1 - nrm * m2);
                float ju = r * (weight[c] * g[c] - mean_u - nrm * mean_un); // (J u)_c
                if (dtin)
                    dtin[b * C + c] += ju;
                if (din)
                    din[b * C + c] -= r * (mean_uy * nrm + mean_un * tn) + r * m2 * ju;
            }
        }
    }
    if (dweight) {
        // summed over b in order (thread-count free); the row statistics once per row
        for (size_t b = 0; b < B; b++) {
            const float *x = in + b * C, *tx = tin + b * C, *g = dtout + b * C; // (C) each
            float m = mean[b], r = rstd[b], m1, m2;
            layernorm_tangent_stats(x, tx, m, r, C, &m1, &m2);
            for (size_t c = 0; c < C; c++) {
                float nrm = (x[c] - m) * r;
                dweight[c] += g[c] * r * (tx[c] - m1 - nrm * m2);
            }
        }
    }
}

/* ---- Gaussian Fourier features ---------------------------------------------------------------------- */

void snet_fourier_forward(float *out, const float *tau, const float *freq, size_t B, size_t F)
{
    const double two_pi = 2.0 * M_PI;
#pragma omp parallel for schedule(static) if (B * F >= SNET_OMP_MIN / 8)
    for (size_t b = 0; b < B; b++) {
        float *o = out + b * 2 * F; // (2F)
        double tb = tau[b];
        for (size_t j = 0; j < F; j++) {
            double arg = two_pi * (double)freq[j] * tb;
            o[j] = (float)sin(arg);
            o[F + j] = (float)cos(arg);
        }
    }
}
