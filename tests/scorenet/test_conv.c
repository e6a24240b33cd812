/* test_conv.c — the U-Net's convolutional layers (snet_conv.h): convolution against a naive direct
 * loop, im2col/col2im adjointness, and finite-difference checks of every backward (parameters and
 * inputs) for conv stride 1 and 2, 1×1 conv, GroupNorm (alone and fused with SiLU), per-channel add,
 * upsampling, concatenation.
 *
 * How the finite-difference tolerance is set (not tuned): with L = Σ_i r_i·out_i accumulated in double,
 * each coordinate is perturbed by ±h and ±h/2 (the steps actually representable in float). The
 * error of the h/2 central difference is bounded by
 *   truncation: |fd(h) − fd(h/2)|      (Richardson: ≥ 3× the h/2 truncation error; 0 for a bilinear
 *                                       layer such as a convolution, up to rounding)
 *   rounding:   u·√K·Σ|r_i·out_i| / (h/2) on each of the two loss values, u = FLT_EPSILON and K the
 *               number of products summed into one output (random-walk growth of float rounding).
 * A check also requires the analytic gradient to exceed 20× the median tolerance, so it cannot pass
 * by comparing noise with noise.
 */
#include "snet_conv.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double urand(void) // xorshift64*: test data only
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}
static float nrand(void)
{
    double u1 = urand(), u2 = urand();
    return (float)(sqrt(-2.0 * log(u1 + 1e-300)) * cos(2.0 * M_PI * u2));
}
static float *rand_buf(size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++)
        a[i] = nrand();
    return a;
}
static float *zero_buf(size_t n)
{
    float *a = calloc(n ? n : 1, sizeof *a);
    ck_assert_ptr_nonnull(a);
    return a;
}

/* A layer under test: run() recomputes out from the current inputs/parameters. */
typedef struct fd_case {
    void (*run)(struct fd_case *c);
    float *out;     // (n_out)
    size_t n_out;
    const float *r; // (n_out) the random cotangent: L = Σ r·out
    double K;       // products summed into one output
    void *ctx;
} fd_case;

static void loss(fd_case *c, double *value, double *abs_value)
{
    c->run(c);
    double s = 0.0, a = 0.0;
    for (size_t i = 0; i < c->n_out; i++) {
        s += (double)c->r[i] * c->out[i];
        a += fabs((double)c->r[i] * c->out[i]);
    }
    *value = s;
    *abs_value = a;
}

/* Central difference of L along x[i] with the step actually representable in float. */
static double central_diff(fd_case *c, float *x, size_t i, double h, double *round_err)
{
    float v = x[i];
    float xp = (float)(v + h), xm = (float)(v - h);
    double lp, lm, ap, am;
    x[i] = xp;
    loss(c, &lp, &ap);
    x[i] = xm;
    loss(c, &lm, &am);
    x[i] = v;
    double step = (double)xp - (double)xm;
    *round_err = FLT_EPSILON * sqrt(c->K) * (ap + am) / step;
    return (lp - lm) / step;
}

/* Checks analytic gradient g (n) of L w.r.t. x (n) at up to max_checks coordinates. */
static void check_grad(const char *what, fd_case *c, float *x, const float *g, size_t n, double h,
                       size_t max_checks)
{
    size_t stride = n > max_checks ? n / max_checks : 1;
    double worst = 0.0, max_g = 0.0;
    double *tols = malloc((n / stride + 1) * sizeof *tols);
    size_t n_tol = 0;
    for (size_t i = 0; i < n; i += stride) {
        double r1, r2;
        double fd1 = central_diff(c, x, i, h, &r1);
        double fd2 = central_diff(c, x, i, h / 2, &r2);
        double tol = fabs(fd1 - fd2) + r2 + 1e-12;
        double err = fabs(fd2 - (double)g[i]);
        tols[n_tol++] = tol;
        if (err / tol > worst)
            worst = err / tol;
        if (fabs(g[i]) > max_g)
            max_g = fabs(g[i]);
        ck_assert_msg(err <= tol, "%s: d/dx[%zu]: analytic %.9g, finite difference %.9g (|diff| %.3g > tol %.3g)",
                      what, i, (double)g[i], fd2, err, tol);
    }
    // median tolerance vs the gradient scale: the check must be able to fail
    for (size_t a = 1; a < n_tol; a++) // insertion sort (small)
        for (size_t b = a; b > 0 && tols[b] < tols[b - 1]; b--) {
            double t = tols[b];
            tols[b] = tols[b - 1];
            tols[b - 1] = t;
        }
    double med = tols[n_tol / 2];
    free(tols);
    ck_assert_msg(max_g > 20.0 * med, "%s: gradient scale %.3g not above 20× the median tolerance %.3g",
                  what, max_g, med);
}

/* ---- naive references ------------------------------------------------------------------------- */

/* Direct convolution in double: out (OC, B, OH, OW), CNHW. */
static void conv_reference(double *out, double *abs_out, const float *in, const float *w,
                           const float *bias, const snet_conv2d_dims *d)
{
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    for (size_t oc = 0; oc < d->OC; oc++)
        for (size_t b = 0; b < d->B; b++)
            for (size_t oh = 0; oh < OH; oh++)
                for (size_t ow = 0; ow < OW; ow++) {
                    double s = bias ? bias[oc] : 0.0, a = bias ? fabs(bias[oc]) : 0.0;
                    for (size_t c = 0; c < d->C; c++)
                        for (size_t i = 0; i < d->ksize; i++)
                            for (size_t j = 0; j < d->ksize; j++) {
                                long ih = (long)(oh * d->stride + i) - (long)d->pad;
                                long iw = (long)(ow * d->stride + j) - (long)d->pad;
                                if (ih < 0 || iw < 0 || ih >= (long)d->H || iw >= (long)d->W)
                                    continue;
                                double p = (double)w[((oc * d->C + c) * d->ksize + i) * d->ksize + j] *
                                           in[((c * d->B + b) * d->H + (size_t)ih) * d->W + (size_t)iw];
                                s += p;
                                a += fabs(p);
                            }
                    size_t o = ((oc * d->B + b) * OH + oh) * OW + ow;
                    out[o] = s;
                    abs_out[o] = a;
                }
}

/* ---- convolution -------------------------------------------------------------------------------- */

static const snet_conv2d_dims conv_cases[] = { // lanes 0: SNET_CONV_LANES
    {3, 2, 5, 7, 4, 3, 1, 1, 0},  // 3×3 same, odd sizes
    {3, 2, 6, 5, 3, 3, 2, 1, 0},  // 3×3 stride 2 (6×5 → 3×3)
    {5, 2, 28, 28, 3, 3, 1, 1, 0}, // 28×28: 2 samples per GEMM, so three chunks
    {200, 1, 7, 7, 2, 3, 2, 1, 0}, // 7×7 → 4×4 stride 2: 98 samples per chunk, so three chunks
    {2, 3, 4, 4, 5, 1, 1, 0, 0},  // 1×1: one GEMM, no im2col
    {2, 2, 5, 5, 2, 5, 1, 2, 0},  // 5×5 kernel, pad 2
    {5, 2, 28, 28, 3, 3, 1, 1, 1},  // three chunks on one lane (the U-Net's setting)
    {200, 1, 7, 7, 2, 3, 2, 1, 1},  // stride 2 on one lane
    {300, 3, 2, 2, 5, 1, 1, 0, 3},  // 1×1 over 300 samples: several chunks on three lanes
};
#define N_CONV_CASES (sizeof conv_cases / sizeof conv_cases[0])

START_TEST(test_conv2d_forward_matches_direct_convolution)
{
    const snet_conv2d_dims *d = &conv_cases[_i];
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t n_in = d->C * d->B * d->H * d->W, n_out = d->OC * d->B * OH * OW;
    size_t n_w = d->OC * d->C * d->ksize * d->ksize;
    float *in = rand_buf(n_in), *w = rand_buf(n_w), *bias = rand_buf(d->OC);
    float *out = rand_buf(n_out), *acc = rand_buf(n_out), *acc0 = malloc(n_out * sizeof *acc0);
    memcpy(acc0, acc, n_out * sizeof *acc0);
    size_t n_col = snet_conv2d_col_size(d);
    float *col = n_col ? malloc(n_col * sizeof *col) : NULL; // exact size: ASan catches overruns
    double *ref = malloc(n_out * sizeof *ref), *ref_abs = malloc(n_out * sizeof *ref_abs);
    conv_reference(ref, ref_abs, in, w, bias, d);
    snet_conv2d_forward(out, in, w, bias, col, d, 0);
    snet_conv2d_forward(acc, in, w, bias, col, d, 1);
    double K = (double)(d->C * d->ksize * d->ksize + 1);
    for (size_t i = 0; i < n_out; i++) {
        // recursive float summation: |error| ≤ γ_K Σ|terms|, γ_K ≈ K·u
        double tol = K * FLT_EPSILON * ref_abs[i];
        ck_assert_msg(fabs(out[i] - ref[i]) <= tol, "out[%zu] = %.9g, direct loop %.9g", i,
                      (double)out[i], ref[i]);
        double tol_acc = tol + 2 * FLT_EPSILON * (fabs(acc0[i]) + fabs(ref[i]));
        ck_assert_msg(fabs(acc[i] - (acc0[i] + ref[i])) <= tol_acc, "accumulate: out[%zu]", i);
    }
    // without bias
    snet_conv2d_forward(out, in, w, NULL, col, d, 0);
    for (size_t i = 0; i < n_out; i++) {
        size_t oc = i / (d->B * OH * OW);
        double tol = K * FLT_EPSILON * ref_abs[i];
        ck_assert(fabs(out[i] - (ref[i] - bias[oc])) <= tol + FLT_EPSILON * fabs(bias[oc]));
    }
    free(in), free(w), free(bias), free(out), free(acc), free(acc0), free(col), free(ref), free(ref_abs);
}
END_TEST

START_TEST(test_col2im_is_the_adjoint_of_im2col)
{
    const snet_conv2d_dims *d = &conv_cases[_i];
    if (d->ksize == 1)
        return; // no im2col for 1×1
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t nb = d->B > 1 ? d->B - 1 : 1, b0 = d->B - nb; // a chunk that does not start at 0
    size_t n_in = d->C * d->B * d->H * d->W, n_col = d->C * d->ksize * d->ksize * nb * OH * OW;
    float *x = rand_buf(n_in), *y = rand_buf(n_col), *col = malloc(n_col * sizeof *col);
    float *back = zero_buf(n_in);
    snet_im2col(col, x, d, b0, nb);
    snet_col2im(back, y, d, b0, nb);
    double lhs = 0, rhs = 0, abs_sum = 0;
    for (size_t i = 0; i < n_col; i++) {
        lhs += (double)col[i] * y[i];
        abs_sum += fabs((double)col[i] * y[i]);
    }
    for (size_t i = 0; i < n_in; i++)
        rhs += (double)x[i] * back[i];
    // back[i] sums at most k·k float terms: relative error ≤ k²·u
    double tol = (double)(d->ksize * d->ksize) * FLT_EPSILON * abs_sum * 2;
    ck_assert_msg(fabs(lhs - rhs) <= tol, "<im2col x, y> = %.12g, <x, col2im y> = %.12g", lhs, rhs);
    // samples outside the chunk are untouched
    for (size_t c = 0; c < d->C; c++)
        for (size_t b = 0; b < b0; b++)
            for (size_t p = 0; p < d->H * d->W; p++)
                ck_assert(back[(c * d->B + b) * d->H * d->W + p] == 0.0f);
    free(x), free(y), free(col), free(back);
}
END_TEST

typedef struct conv_ctx {
    const snet_conv2d_dims *d;
    float *in, *w, *bias, *col;
} conv_ctx;

static void conv_run(fd_case *c)
{
    conv_ctx *k = c->ctx;
    snet_conv2d_forward(c->out, k->in, k->w, k->bias, k->col, k->d, 0);
}

START_TEST(test_conv2d_backward_matches_finite_differences)
{
    const snet_conv2d_dims *d = &conv_cases[_i];
    if (d->B * d->H * d->W > 2000)
        return; // the chunked shapes are covered by the direct-loop tests
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t n_in = d->C * d->B * d->H * d->W, n_out = d->OC * d->B * OH * OW;
    size_t n_w = d->OC * d->C * d->ksize * d->ksize;
    size_t n_col = snet_conv2d_col_size(d);
    conv_ctx k = {d, rand_buf(n_in), rand_buf(n_w), rand_buf(d->OC), n_col ? malloc(n_col * 4) : NULL};
    float *out = zero_buf(n_out), *r = rand_buf(n_out);
    float *din = zero_buf(n_in), *dw = zero_buf(n_w), *db = zero_buf(d->OC);
    snet_conv2d_backward(din, dw, db, r, k.in, k.w, k.col, d, 1);
    fd_case c = {conv_run, out, n_out, r, (double)(d->C * d->ksize * d->ksize + 1), &k};
    check_grad("conv input", &c, k.in, din, n_in, 0.5, 400);
    check_grad("conv weight", &c, k.w, dw, n_w, 0.5, 400);
    check_grad("conv bias", &c, k.bias, db, d->OC, 0.5, 400);

    free(k.in), free(k.w), free(k.bias), free(k.col), free(out), free(r), free(din), free(dw), free(db);
}
END_TEST

/* Direct-loop gradients in double, with Σ|terms| per entry for the rounding bound. */
static void conv_backward_reference(double *din, double *din_abs, double *dw, double *dw_abs,
                                    const float *dout, const float *in, const float *w,
                                    const snet_conv2d_dims *d)
{
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t k = d->ksize, n_in = d->C * d->B * d->H * d->W, n_w = d->OC * d->C * k * k;
    memset(din, 0, n_in * sizeof *din), memset(din_abs, 0, n_in * sizeof *din_abs);
    memset(dw, 0, n_w * sizeof *dw), memset(dw_abs, 0, n_w * sizeof *dw_abs);
    for (size_t oc = 0; oc < d->OC; oc++)
        for (size_t b = 0; b < d->B; b++)
            for (size_t oh = 0; oh < OH; oh++)
                for (size_t ow = 0; ow < OW; ow++) {
                    double g = dout[((oc * d->B + b) * OH + oh) * OW + ow];
                    for (size_t c = 0; c < d->C; c++)
                        for (size_t i = 0; i < k; i++)
                            for (size_t j = 0; j < k; j++) {
                                long ih = (long)(oh * d->stride + i) - (long)d->pad;
                                long iw = (long)(ow * d->stride + j) - (long)d->pad;
                                if (ih < 0 || iw < 0 || ih >= (long)d->H || iw >= (long)d->W)
                                    continue;
                                size_t xi = ((c * d->B + b) * d->H + (size_t)ih) * d->W + (size_t)iw;
                                size_t wi = ((oc * d->C + c) * k + i) * k + j;
                                din[xi] += g * w[wi];
                                din_abs[xi] += fabs(g * w[wi]);
                                dw[wi] += g * in[xi];
                                dw_abs[wi] += fabs(g * in[xi]);
                            }
                }
}

/* Every shape, including the ones processed in several chunks, against direct loops. */
START_TEST(test_conv2d_backward_matches_direct_loops)
{
    const snet_conv2d_dims *d = &conv_cases[_i];
    size_t OH = snet_conv2d_out_size(d->H, d->ksize, d->stride, d->pad);
    size_t OW = snet_conv2d_out_size(d->W, d->ksize, d->stride, d->pad);
    size_t n_in = d->C * d->B * d->H * d->W, n_out = d->OC * d->B * OH * OW;
    size_t n_w = d->OC * d->C * d->ksize * d->ksize, n_col = snet_conv2d_col_size(d);
    float *in = rand_buf(n_in), *w = rand_buf(n_w), *col = n_col ? malloc(n_col * 4) : NULL;
    float *r = rand_buf(n_out), *din = malloc(n_in * 4), *dw = zero_buf(n_w), *db = zero_buf(d->OC);
    double *rin = malloc(n_in * 8), *rin_abs = malloc(n_in * 8), *rw = malloc(n_w * 8), *rw_abs = malloc(n_w * 8);
    for (size_t i = 0; i < n_in; i++)
        din[i] = NAN; // accumulate = 0 writes the input gradient
    snet_conv2d_backward(din, dw, db, r, in, w, col, d, 0);
    conv_backward_reference(rin, rin_abs, rw, rw_abs, r, in, w, d);
    // float sums of K terms: |error| ≤ γ_K Σ|terms|, γ_K ≈ K·u (K = terms per entry)
    double K_in = (double)(d->OC * d->ksize * d->ksize), K_w = (double)(d->B * OH * OW);
    for (size_t i = 0; i < n_in; i++)
        ck_assert_msg(fabs(din[i] - rin[i]) <= K_in * FLT_EPSILON * rin_abs[i],
                      "din[%zu] = %.9g, direct loop %.9g", i, (double)din[i], rin[i]);
    for (size_t i = 0; i < n_w; i++)
        ck_assert_msg(fabs(dw[i] - rw[i]) <= K_w * FLT_EPSILON * rw_abs[i],
                      "dW[%zu] = %.9g, direct loop %.9g", i, (double)dw[i], rw[i]);
    // backward adds: a second call onto the first result doubles it (NULL gradients are skipped)
    snet_conv2d_backward(din, NULL, NULL, r, in, w, col, d, 1);
    for (size_t i = 0; i < n_in; i++)
        ck_assert_msg(fabs(din[i] - 2 * rin[i]) <= 4 * (K_in + 1) * FLT_EPSILON * rin_abs[i],
                      "second call: din[%zu] = %.9g, expected twice %.9g", i, (double)din[i], rin[i]);
    snet_conv2d_backward(NULL, dw, NULL, r, in, w, col, d, 1);
    for (size_t i = 0; i < n_w; i++)
        ck_assert_msg(fabs(dw[i] - 2 * rw[i]) <= 4 * (K_w + 1) * FLT_EPSILON * rw_abs[i],
                      "second call: dW[%zu] = %.9g, expected twice %.9g", i, (double)dw[i], rw[i]);
    for (size_t oc = 0; oc < d->OC; oc++) {
        double s = 0, a = 0;
        for (size_t q = 0; q < d->B * OH * OW; q++) {
            s += r[oc * d->B * OH * OW + q];
            a += fabs(r[oc * d->B * OH * OW + q]);
        }
        ck_assert(fabs(db[oc] - s) <= FLT_EPSILON * a); // summed in double, rounded once
    }
    free(in), free(w), free(col), free(r), free(din), free(dw), free(db), free(rin), free(rin_abs);
    free(rw), free(rw_abs);
}
END_TEST

START_TEST(test_conv2d_sizes)
{
    ck_assert_uint_eq(snet_conv2d_out_size(28, 3, 2, 1), 14);
    ck_assert_uint_eq(snet_conv2d_out_size(14, 3, 2, 1), 7);
    ck_assert_uint_eq(snet_conv2d_out_size(7, 3, 2, 1), 4);
    ck_assert_uint_eq(snet_conv2d_out_size(28, 3, 1, 1), 28);
    ck_assert_uint_eq(snet_conv2d_out_size(2, 5, 1, 0), 0);
    snet_conv2d_dims d = {64, 32, 28, 28, 32, 3, 1, 1, 0};
    ck_assert_uint_eq(snet_conv2d_chunk(&d), SNET_CONV_GEMM_COLS / 784);
    // per lane: the im2col of one chunk and a dW partial; then the flipped kernel
    size_t w = 32 * 32 * 9, lane = (size_t)32 * 9 * (SNET_CONV_GEMM_COLS / 784) * 784;
    ck_assert_uint_eq(snet_conv2d_col_size(&d), SNET_CONV_LANES * (lane + w) + w);
    d.stride = 2; // 28 → 14: no flipped kernel, chunks of 14×14 outputs
    lane = (size_t)32 * 9 * (SNET_CONV_GEMM_COLS / 196) * 196;
    ck_assert_uint_eq(snet_conv2d_col_size(&d), SNET_CONV_LANES * (lane + w));
    d = (snet_conv2d_dims){64, 64, 7, 7, 64, 3, 1, 1, 0};
    ck_assert_uint_eq(snet_conv2d_chunk(&d), SNET_CONV_GEMM_COLS / 49);
    d = (snet_conv2d_dims){3, 64, 7, 7, 64, 3, 1, 1, 0};
    ck_assert_uint_eq(snet_conv2d_chunk(&d), 3); // never more than the batch
    d = (snet_conv2d_dims){64, 8, 100, 100, 8, 3, 1, 1, 0};
    ck_assert_uint_eq(snet_conv2d_chunk(&d), 1); // at least one sample
    d = (snet_conv2d_dims){64, 8, 10, 10, 8, 1, 1, 0, 0}; // 1×1: no im2col, dW partials only
    ck_assert_uint_eq(snet_conv2d_col_size(&d), SNET_CONV_LANES * 64);
}
END_TEST

/* ---- GroupNorm ---------------------------------------------------------------------------------- */

typedef struct gn_ctx {
    size_t B, C, HW, G;
    float *in, *gamma, *beta, *mean, *rstd;
} gn_ctx;

static void gn_run(fd_case *c)
{
    gn_ctx *k = c->ctx;
    snet_groupnorm_forward(c->out, k->mean, k->rstd, k->in, k->gamma, k->beta, k->B, k->C, k->HW, k->G);
}

START_TEST(test_groupnorm_normalises_each_group)
{
    size_t B = 3, C = 6, HW = 10, G = 2, n = B * C * HW;
    gn_ctx k = {B, C, HW, G, rand_buf(n), zero_buf(C), zero_buf(C), zero_buf(B * G), zero_buf(B * G)};
    for (size_t i = 0; i < n; i++)
        k.in[i] = 3.0f + 2.0f * k.in[i];
    for (size_t c = 0; c < C; c++)
        k.gamma[c] = 1.0f;
    float *out = zero_buf(n);
    snet_groupnorm_forward(out, k.mean, k.rstd, k.in, k.gamma, k.beta, B, C, HW, G);
    size_t cg = C / G, m = cg * HW;
    for (size_t b = 0; b < B; b++)
        for (size_t g = 0; g < G; g++) {
            double s = 0, ss = 0;
            for (size_t ci = 0; ci < cg; ci++)
                for (size_t p = 0; p < HW; p++) {
                    double v = out[((g * cg + ci) * B + b) * HW + p];
                    s += v;
                    ss += v * v;
                }
            double mu = s / m, var = ss / m - mu * mu;
            ck_assert_msg(fabs(mu) < 1e-6, "group (%zu, %zu) mean %.3g", b, g, mu);
            // var of the normalised values is var/(var + eps) < 1
            ck_assert_msg(fabs(var - 1.0) < 1e-5 + SNET_GROUPNORM_EPS, "group (%zu, %zu) variance %.8g", b, g, var);
        }
    free(k.in), free(k.gamma), free(k.beta), free(k.mean), free(k.rstd), free(out);
}
END_TEST

START_TEST(test_groupnorm_backward_matches_finite_differences)
{
    size_t B = 2, C = 6, HW = 9, G = 3, n = B * C * HW;
    gn_ctx k = {B, C, HW, G, rand_buf(n), rand_buf(C), rand_buf(C), zero_buf(B * G), zero_buf(B * G)};
    float *out = zero_buf(n), *r = rand_buf(n);
    float *din = zero_buf(n), *dg = zero_buf(C), *db = zero_buf(C), *partial = zero_buf(2 * B * C);
    gn_run(&(fd_case){gn_run, out, n, r, 1, &k});
    snet_groupnorm_backward(din, dg, db, r, k.in, k.gamma, k.mean, k.rstd, partial, B, C, HW, G, 1);
    fd_case c = {gn_run, out, n, r, (double)(C / G * HW), &k};
    check_grad("groupnorm input", &c, k.in, din, n, 1e-2, 200);
    check_grad("groupnorm gamma", &c, k.gamma, dg, C, 1e-2, 200);
    check_grad("groupnorm beta", &c, k.beta, db, C, 1e-2, 200);
    free(k.in), free(k.gamma), free(k.beta), free(k.mean), free(k.rstd), free(out), free(r), free(din);
    free(dg), free(db), free(partial);
}
END_TEST

static void gn_silu_run(fd_case *c)
{
    gn_ctx *k = c->ctx;
    snet_groupnorm_silu_forward(c->out, k->mean, k->rstd, k->in, k->gamma, k->beta, k->B, k->C, k->HW,
                                k->G);
}

START_TEST(test_groupnorm_silu_is_groupnorm_then_silu)
{
    size_t B = 3, C = 8, HW = 12, G = 4, n = B * C * HW;
    gn_ctx k = {B, C, HW, G, rand_buf(n), rand_buf(C), rand_buf(C), zero_buf(B * G), zero_buf(B * G)};
    float *fused = zero_buf(n), *gn = zero_buf(n), *m2 = zero_buf(B * G), *r2 = zero_buf(B * G);
    snet_groupnorm_silu_forward(fused, k.mean, k.rstd, k.in, k.gamma, k.beta, B, C, HW, G);
    snet_groupnorm_forward(gn, m2, r2, k.in, k.gamma, k.beta, B, C, HW, G);
    ck_assert(memcmp(k.mean, m2, B * G * 4) == 0 && memcmp(k.rstd, r2, B * G * 4) == 0);
    for (size_t i = 0; i < n; i++) {
        double y = gn[i], s = y / (1.0 + exp(-y));
        // the same float GN value; SiLU in float: a few ulps of |y|
        ck_assert_msg(fabs(fused[i] - s) <= 4 * FLT_EPSILON * fabs(y), "i = %zu: %.9g vs %.9g", i,
                      (double)fused[i], s);
    }
    free(k.in), free(k.gamma), free(k.beta), free(k.mean), free(k.rstd), free(fused), free(gn), free(m2);
    free(r2);
}
END_TEST

START_TEST(test_groupnorm_silu_backward_matches_finite_differences)
{
    size_t B = 2, C = 6, HW = 9, G = 3, n = B * C * HW;
    gn_ctx k = {B, C, HW, G, rand_buf(n), rand_buf(C), rand_buf(C), zero_buf(B * G), zero_buf(B * G)};
    float *out = zero_buf(n), *r = rand_buf(n), *g = malloc(n * 4), *partial = zero_buf(2 * B * C);
    float *din = malloc(n * 4), *dg = zero_buf(C), *db = zero_buf(C);
    for (size_t i = 0; i < n; i++)
        din[i] = NAN; // written (accumulate = 0)
    memcpy(g, r, n * 4); // overwritten by the backward
    gn_silu_run(&(fd_case){gn_silu_run, out, n, r, 1, &k});
    snet_groupnorm_silu_backward(din, dg, db, g, k.in, k.gamma, k.beta, k.mean, k.rstd, partial, B, C,
                                 HW, G, 0);
    fd_case c = {gn_silu_run, out, n, r, (double)(C / G * HW), &k};
    check_grad("groupnorm+silu input", &c, k.in, din, n, 1e-2, 200);
    check_grad("groupnorm+silu gamma", &c, k.gamma, dg, C, 1e-2, 200);
    check_grad("groupnorm+silu beta", &c, k.beta, db, C, 1e-2, 200);
    free(k.in), free(k.gamma), free(k.beta), free(k.mean), free(k.rstd), free(out), free(r), free(g);
    free(partial), free(din), free(dg), free(db);
}
END_TEST

/* ---- per-channel add, upsampling, concatenation, layout -------------------------------------------- */

typedef struct add_ctx {
    size_t B, C, HW, stride;
    float *base, *row;
} add_ctx;

static void add_run(fd_case *c)
{
    add_ctx *k = c->ctx;
    memcpy(c->out, k->base, c->n_out * sizeof *c->out);
    snet_channel_add_forward(c->out, k->row + 1, k->stride, k->B, k->C, k->HW);
}

START_TEST(test_channel_add_backward_matches_finite_differences)
{
    size_t B = 3, C = 4, HW = 5, stride = 7, n = B * C * HW; // a column block of a (B, 7) matrix
    add_ctx k = {B, C, HW, stride, rand_buf(n), rand_buf(B * stride)};
    float *out = zero_buf(n), *r = rand_buf(n), *drow = zero_buf(B * stride);
    add_run(&(fd_case){add_run, out, n, r, 1, &k});
    for (size_t c = 0; c < C; c++)
        for (size_t b = 0; b < B; b++)
            for (size_t p = 0; p < HW; p++) {
                size_t i = (c * B + b) * HW + p;
                ck_assert(out[i] == k.base[i] + k.row[1 + b * stride + c]);
            }
    snet_channel_add_backward(drow + 1, r, stride, B, C, HW);
    fd_case fc = {add_run, out, n, r, 2, &k};
    check_grad("channel add row", &fc, k.row, drow, B * stride, 0.5, 100);
    for (size_t b = 0; b < B; b++) // columns outside the block untouched
        for (size_t j = 0; j < stride; j++)
            if (j < 1 || j > C)
                ck_assert(drow[b * stride + j] == 0.0f);
    free(k.base), free(k.row), free(out), free(r), free(drow);
}
END_TEST

typedef struct up_ctx {
    size_t B, C, H, W;
    float *in;
} up_ctx;

static void up_run(fd_case *c)
{
    up_ctx *k = c->ctx;
    snet_upsample2x_forward(c->out, k->in, k->B, k->C, k->H, k->W);
}

START_TEST(test_upsample_nearest_and_backward)
{
    size_t B = 2, C = 3, H = 3, W = 4, n_in = B * C * H * W, n_out = 4 * n_in;
    up_ctx k = {B, C, H, W, rand_buf(n_in)};
    float *out = zero_buf(n_out), *r = rand_buf(n_out), *din = zero_buf(n_in);
    up_run(&(fd_case){up_run, out, n_out, r, 1, &k});
    for (size_t q = 0; q < B * C; q++)
        for (size_t y = 0; y < 2 * H; y++)
            for (size_t x = 0; x < 2 * W; x++)
                ck_assert(out[(q * 2 * H + y) * 2 * W + x] == k.in[(q * H + y / 2) * W + x / 2]);
    snet_upsample2x_backward(din, r, B, C, H, W);
    fd_case c = {up_run, out, n_out, r, 1, &k};
    check_grad("upsample input", &c, k.in, din, n_in, 0.5, 100);
    free(k.in), free(out), free(r), free(din);
}
END_TEST

typedef struct cat_ctx {
    size_t Ca, Cb, n;
    float *a, *b;
} cat_ctx;

static void cat_run(fd_case *c)
{
    cat_ctx *k = c->ctx;
    snet_concat_forward(c->out, k->a, k->Ca, k->b, k->Cb, k->n);
}

START_TEST(test_concat_and_backward)
{
    size_t Ca = 2, Cb = 3, n = 10, n_out = (Ca + Cb) * n;
    cat_ctx k = {Ca, Cb, n, rand_buf(Ca * n), rand_buf(Cb * n)};
    float *out = zero_buf(n_out), *r = rand_buf(n_out), *da = zero_buf(Ca * n), *db = zero_buf(Cb * n);
    cat_run(&(fd_case){cat_run, out, n_out, r, 1, &k});
    ck_assert(memcmp(out, k.a, Ca * n * 4) == 0);
    ck_assert(memcmp(out + Ca * n, k.b, Cb * n * 4) == 0);
    snet_concat_backward(da, db, r, Ca, Cb, n);
    fd_case c = {cat_run, out, n_out, r, 1, &k};
    check_grad("concat first part", &c, k.a, da, Ca * n, 0.5, 100);
    check_grad("concat second part", &c, k.b, db, Cb * n, 0.5, 100);
    snet_concat_backward(NULL, db, r, Ca, Cb, n); // NULL skips
    for (size_t i = 0; i < Cb * n; i++)
        ck_assert(db[i] == 2 * r[Ca * n + i]);
    free(k.a), free(k.b), free(out), free(r), free(da), free(db);
}
END_TEST

START_TEST(test_layout_round_trip)
{
    size_t B = 3, C = 4, HW = 5, n = B * C * HW;
    float *x = rand_buf(n), *y = zero_buf(n), *z = zero_buf(n);
    snet_nchw_to_cnhw(y, x, B, C, HW);
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++)
            for (size_t p = 0; p < HW; p++)
                ck_assert(y[(c * B + b) * HW + p] == x[(b * C + c) * HW + p]);
    snet_cnhw_to_nchw(z, y, B, C, HW);
    ck_assert(memcmp(x, z, n * 4) == 0);
    free(x), free(y), free(z);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("snet_conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_conv2d_forward_matches_direct_convolution, 0, N_CONV_CASES);
    tcase_add_loop_test(tc, test_col2im_is_the_adjoint_of_im2col, 0, N_CONV_CASES);
    tcase_add_loop_test(tc, test_conv2d_backward_matches_finite_differences, 0, N_CONV_CASES);
    tcase_add_loop_test(tc, test_conv2d_backward_matches_direct_loops, 0, N_CONV_CASES);
    tcase_add_test(tc, test_conv2d_sizes);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("layers");
    tcase_add_test(tl, test_groupnorm_normalises_each_group);
    tcase_add_test(tl, test_groupnorm_backward_matches_finite_differences);
    tcase_add_test(tl, test_groupnorm_silu_is_groupnorm_then_silu);
    tcase_add_test(tl, test_groupnorm_silu_backward_matches_finite_differences);
    tcase_add_test(tl, test_channel_add_backward_matches_finite_differences);
    tcase_add_test(tl, test_upsample_nearest_and_backward);
    tcase_add_test(tl, test_concat_and_backward);
    tcase_add_test(tl, test_layout_round_trip);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
