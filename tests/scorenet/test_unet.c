/* test_unet.c — the U-Net architecture (snet_arch_unet): parameter table, validation, init,
 * finite-difference checks of the parameter gradients and of the input VJP on tiny configurations
 * (8×8 and 4×6 images, 2 and 3 levels, 1 and 2 channels, VP and VE time inputs) and on the
 * Fashion-MNIST shape, the backward's add/write contract, batch and thread-count independence.
 *
 * Finite-difference tolerance (as in test_conv.c, derived rather than tuned): the error of the h/2
 * central difference is bounded by |fd(h) − fd(h/2)| (Richardson estimate of truncation) plus the
 * rounding of the two loss values, u·√K·Σ|r_i·out_i|/(h/2) with K = (products per output of the
 * widest convolution) × (convolutions on the longest path): float rounding grows like √K per layer
 * and adds up over the layers. Every check also demands that gradients stand 20× above the median
 * tolerance, so it cannot pass on noise.
 */
#include "snet.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const snet_arch_ops snet_arch_unet;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
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

static snet_config tiny_config(uint32_t C, uint32_t H, uint32_t W, uint32_t base, uint32_t levels,
                               uint32_t groups, snet_sde_kind sde)
{
    snet_config c;
    memset(&c, 0, sizeof c);
    c.arch = SNET_ARCH_UNET;
    c.channels = C;
    c.height = H;
    c.width = W;
    c.n_fourier = 4;
    c.fourier_scale = 16.0f;
    c.base_channels = base;
    c.n_levels = levels;
    c.n_groups = groups;
    c.sde = sde;
    c.sigma_min = 0.01f;
    c.sigma_max = 50.0f;
    c.beta_min = 0.1f;
    c.beta_max = 20.0f;
    c.data_scale = 1.0f;
    return c;
}

/* A network instance with exact-size buffers (ASan catches any overrun of act/scratch sizes). */
typedef struct net {
    snet_config cfg;
    const snet_arch_ops *ops;
    size_t B, D, n_params, n_tensors;
    float *params, *x, *t, *out, *acts, *scratch, *r, *dparams, *dx;
    snet_tensor *table;
} net;

static void net_make(net *n, const snet_config *cfg, size_t B, uint64_t seed)
{
    n->cfg = *cfg;
    n->ops = &snet_arch_unet;
    scoresde_error err;
    ck_assert_msg(n->ops->validate(cfg, &err) == SNET_OK, "%s", err.message);
    n->B = B;
    n->D = (size_t)cfg->channels * cfg->height * cfg->width;
    n->n_params = n->ops->n_params(cfg);
    n->params = malloc(n->n_params * sizeof(float));
    n->dparams = calloc(n->n_params, sizeof(float));
    n->x = malloc(B * n->D * sizeof(float));
    n->t = malloc(B * sizeof(float));
    n->out = malloc(B * n->D * sizeof(float));
    n->r = malloc(B * n->D * sizeof(float));
    n->dx = malloc(B * n->D * sizeof(float));
    n->acts = malloc(n->ops->act_size(cfg, B) * sizeof(float));
    n->scratch = malloc(n->ops->scratch_size(cfg, B) * sizeof(float));
    n->n_tensors = n->ops->tensors(cfg, NULL, 0);
    n->table = calloc(n->n_tensors, sizeof *n->table);
    ck_assert(n->params && n->dparams && n->x && n->t && n->out && n->r && n->dx && n->acts &&
              n->scratch && n->table);
    ck_assert_uint_eq(n->ops->tensors(cfg, n->table, n->n_tensors), n->n_tensors);
    n->ops->init(cfg, n->params, seed);
    for (size_t i = 0; i < B * n->D; i++) {
        n->x[i] = nrand();
        n->r[i] = nrand();
    }
    for (size_t b = 0; b < B; b++)
        n->t[b] = (float)(0.05 + 0.95 * urand());
}

/* Random trainable parameters (the init zeroes the last convolution, which would zero most
 * gradients): add N(0, 0.2²) to every trainable entry. */
static void net_randomise(net *n)
{
    for (size_t k = 0; k < n->n_tensors; k++)
        if (n->table[k].trainable)
            for (size_t j = 0; j < n->table[k].size; j++)
                n->params[n->table[k].offset + j] += 0.2f * nrand();
}

static void net_free(net *n)
{
    free(n->params), free(n->dparams), free(n->x), free(n->t), free(n->out), free(n->r), free(n->dx);
    free(n->acts), free(n->scratch), free(n->table);
}

static void net_forward(net *n)
{
    n->ops->forward(&n->cfg, n->params, n->B, n->x, n->t, n->out, n->acts);
}

static void net_loss(net *n, double *value, double *abs_value)
{
    net_forward(n);
    double s = 0, a = 0;
    for (size_t i = 0; i < n->B * n->D; i++) {
        s += (double)n->r[i] * n->out[i];
        a += fabs((double)n->r[i] * n->out[i]);
    }
    *value = s;
    *abs_value = a;
}

/* K for the rounding bound: widest convolution (9·2·4·base inputs at most, the decoder's concat)
 * times the number of convolutions on the longest path. */
static double net_rounding_K(const net *n)
{
    double widest = 9.0 * 3.0 * 2.0 * n->cfg.base_channels;
    double depth = 2.0 * (2 * n->cfg.n_levels + 1) + 2 + (n->cfg.n_levels - 1);
    return widest * depth;
}

static double central_diff(net *n, float *v, double h, double *round_err)
{
    float v0 = *v, vp = (float)(v0 + h), vm = (float)(v0 - h);
    double lp, lm, ap, am;
    *v = vp;
    net_loss(n, &lp, &ap);
    *v = vm;
    net_loss(n, &lm, &am);
    *v = v0;
    double step = (double)vp - (double)vm;
    *round_err = FLT_EPSILON * sqrt(net_rounding_K(n)) * (ap + am) / step;
    return (lp - lm) / step;
}

typedef struct fd_stats {
    double max_g, tols[4096];
    size_t n_tol;
} fd_stats;

static void check_one(net *n, const char *what, size_t index, float *v, double analytic, double h,
                      fd_stats *st)
{
    double r1, r2;
    double fd1 = central_diff(n, v, h, &r1);
    double fd2 = central_diff(n, v, h / 2, &r2);
    double tol = fabs(fd1 - fd2) + r2 + 1e-12;
    ck_assert_msg(fabs(fd2 - analytic) <= tol,
                  "%s[%zu]: analytic %.9g, finite difference %.9g (|diff| %.3g > tol %.3g)", what,
                  index, analytic, fd2, fabs(fd2 - analytic), tol);
    if (st->n_tol < sizeof st->tols / sizeof st->tols[0])
        st->tols[st->n_tol++] = tol;
    if (fabs(analytic) > st->max_g)
        st->max_g = fabs(analytic);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check_meaningful(const char *what, fd_stats *st)
{
    ck_assert(st->n_tol > 0);
    qsort(st->tols, st->n_tol, sizeof st->tols[0], cmp_double);
    double med = st->tols[st->n_tol / 2];
    ck_assert_msg(st->max_g > 20.0 * med, "%s: gradient scale %.3g not above 20× the median tolerance %.3g",
                  what, st->max_g, med);
}

/* The configurations checked by finite differences. */
static const struct {
    uint32_t C, H, W, base, levels, groups;
    snet_sde_kind sde;
    size_t B;
} fd_configs[] = {
    {1, 8, 8, 4, 2, 2, SNET_SDE_VP, 2},    // the brief's tiny net
    {2, 4, 6, 4, 2, 4, SNET_SDE_VE, 3},    // two channels (layout transposes), log σ time input
    {1, 8, 8, 4, 3, 2, SNET_SDE_SUBVP, 2}, // three levels: 8 → 4 → 2
    {1, 4, 4, 2, 1, 1, SNET_SDE_VP, 2},    // one level: no resampling at all
};
#define N_FD_CONFIGS (sizeof fd_configs / sizeof fd_configs[0])

static snet_config fd_config(int i)
{
    return tiny_config(fd_configs[i].C, fd_configs[i].H, fd_configs[i].W, fd_configs[i].base,
                       fd_configs[i].levels, fd_configs[i].groups, fd_configs[i].sde);
}

START_TEST(test_unet_parameter_gradients_match_finite_differences)
{
    snet_config cfg = fd_config(_i);
    net n;
    net_make(&n, &cfg, fd_configs[_i].B, 11 + _i);
    net_randomise(&n);
    net_forward(&n);
    memset(n.dparams, 0, n.n_params * sizeof(float));
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, NULL, n.scratch);
    static fd_stats st;
    st.n_tol = 0;
    st.max_g = 0;
    for (size_t k = 0; k < n.n_tensors; k++) {
        const snet_tensor *tk = &n.table[k];
        if (!tk->trainable) { // fixed frequencies: no gradient is ever written
            for (size_t j = 0; j < tk->size; j++)
                ck_assert(n.dparams[tk->offset + j] == 0.0f);
            continue;
        }
        // up to 5 entries spread over the tensor
        size_t m = tk->size < 5 ? tk->size : 5;
        for (size_t q = 0; q < m; q++) {
            size_t j = m > 1 ? q * (tk->size - 1) / (m - 1) : 0;
            check_one(&n, tk->name, j, &n.params[tk->offset + j], n.dparams[tk->offset + j], 1e-2, &st);
        }
    }
    check_meaningful("parameters", &st);
    net_free(&n);
}
END_TEST

START_TEST(test_unet_input_vjp_matches_finite_differences)
{
    snet_config cfg = fd_config(_i);
    net n;
    net_make(&n, &cfg, fd_configs[_i].B, 21 + _i);
    net_randomise(&n);
    net_forward(&n);
    for (size_t i = 0; i < n.B * n.D; i++)
        n.dx[i] = NAN; // dx is written, not added to
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, NULL, n.dx, n.scratch);
    static fd_stats st;
    st.n_tol = 0;
    st.max_g = 0;
    float *dx = malloc(n.B * n.D * sizeof *dx);
    memcpy(dx, n.dx, n.B * n.D * sizeof *dx);
    for (size_t i = 0; i < n.B * n.D; i++)
        check_one(&n, "dx", i, &n.x[i], dx[i], 1e-2, &st);
    check_meaningful("input VJP", &st);
    // the same dx comes out of a backward that also computes parameter gradients
    net_forward(&n);
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, n.dx, n.scratch);
    ck_assert(memcmp(dx, n.dx, n.B * n.D * sizeof *dx) == 0);
    free(dx);
    net_free(&n);
}
END_TEST

/* Fashion-MNIST's shape (28 → 14 → 7, convolutions over several GEMM chunks), narrow channels. */
START_TEST(test_unet_fashion_shape_gradients_match_finite_differences)
{
    snet_config cfg = tiny_config(1, 28, 28, 4, 3, 2, SNET_SDE_VP);
    net n;
    net_make(&n, &cfg, 5, 31); // 5 samples: three GEMM chunks at 28×28
    net_randomise(&n);
    // the cotangent on a 4×4 patch only: the loss is then a sum of 80 outputs, which keeps its
    // rounding (∝ Σ|r·out|) well under the gradients while every layer still takes part
    for (size_t b = 0; b < n.B; b++)
        for (size_t p = 0; p < n.D; p++) {
            size_t y = p / 28, x = p % 28;
            if (y < 12 || y >= 16 || x < 12 || x >= 16)
                n.r[b * n.D + p] = 0.0f;
        }
    net_forward(&n);
    memset(n.dparams, 0, n.n_params * sizeof(float));
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, n.dx, n.scratch);
    static fd_stats st;
    st.n_tol = 0;
    st.max_g = 0;
    for (size_t q = 0; q < 24; q++) { // pixels spread over samples, rows and borders
        size_t i = q * (n.B * n.D - 1) / 23;
        check_one(&n, "dx", i, &n.x[i], n.dx[i], 1e-2, &st);
    }
    const char *names[] = {"in.w", "enc0.conv1.w", "down0.w", "enc1.skip.w", "mid.conv2.w",
                           "dec1.conv1.w", "dec0.gn1.g", "out.w", "temb.proj.w", "temb.fc1.w"};
    for (size_t q = 0; q < sizeof names / sizeof names[0]; q++) {
        const snet_tensor *tk = NULL;
        for (size_t k = 0; k < n.n_tensors; k++)
            if (strcmp(n.table[k].name, names[q]) == 0)
                tk = &n.table[k];
        ck_assert_msg(tk != NULL, "no tensor %s", names[q]);
        size_t j = tk->size / 2;
        check_one(&n, tk->name, j, &n.params[tk->offset + j], n.dparams[tk->offset + j], 1e-2, &st);
    }
    check_meaningful("28×28", &st);
    net_free(&n);
}
END_TEST

START_TEST(test_unet_backward_adds_parameter_gradients)
{
    snet_config cfg = fd_config(0);
    net n;
    net_make(&n, &cfg, 3, 5);
    net_randomise(&n);
    net_forward(&n);
    memset(n.dparams, 0, n.n_params * sizeof(float));
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, NULL, n.scratch);
    float *once = malloc(n.n_params * sizeof *once);
    memcpy(once, n.dparams, n.n_params * sizeof *once);
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, NULL, n.scratch);
    // the second pass adds the same sums onto the first (rounding of the running sums only)
    for (size_t i = 0; i < n.n_params; i++)
        ck_assert_msg(fabs(n.dparams[i] - 2 * once[i]) <= 1e-5 * fabs(once[i]) + 1e-7,
                      "dparams[%zu]: %.9g after two passes, %.9g after one", i, (double)n.dparams[i],
                      (double)once[i]);
    free(once);
    net_free(&n);
}
END_TEST

START_TEST(test_unet_parameter_table_tiles_the_buffer)
{
    snet_config cfg = tiny_config(1, 28, 28, 32, 3, 8, SNET_SDE_VP);
    const snet_arch_ops *ops = &snet_arch_unet;
    size_t n_params = ops->n_params(&cfg), n_t = ops->tensors(&cfg, NULL, 0);
    snet_tensor *table = calloc(n_t, sizeof *table);
    ck_assert_uint_eq(ops->tensors(&cfg, table, n_t), n_t);
    size_t next = 0, n_frozen = 0;
    for (size_t k = 0; k < n_t; k++) {
        ck_assert_msg(table[k].offset == next, "%s starts at %llu, expected %zu", table[k].name,
                      (unsigned long long)table[k].offset, next);
        size_t prod = 1;
        ck_assert(table[k].ndim >= 1 && table[k].ndim <= SNET_MAX_DIMS);
        for (uint32_t j = 0; j < SNET_MAX_DIMS; j++) {
            prod *= table[k].shape[j];
            if (j >= table[k].ndim)
                ck_assert_uint_eq(table[k].shape[j], 1);
        }
        ck_assert_uint_eq(prod, table[k].size);
        ck_assert(strlen(table[k].name) > 0);
        for (size_t q = 0; q < k; q++)
            ck_assert_msg(strcmp(table[q].name, table[k].name) != 0, "duplicate name %s", table[k].name);
        n_frozen += !table[k].trainable;
        next += table[k].size;
    }
    ck_assert_uint_eq(next, n_params);
    ck_assert_uint_eq(n_frozen, 1); // the Fourier frequencies
    // a short table gets the first cap entries and the full count back
    snet_tensor few[3];
    ck_assert_uint_eq(ops->tensors(&cfg, few, 3), n_t);
    ck_assert_str_eq(few[0].name, table[0].name);
    ck_assert(ops->forward_flops(&cfg, 2) == 2 * ops->forward_flops(&cfg, 1));
    ck_assert(ops->forward_flops(&cfg, 1) > 1e7);
    fprintf(stderr, "unet 28×28, base 32, 3 levels: %zu parameters in %zu tensors, %.1f MFLOP/sample\n",
            n_params, n_t, ops->forward_flops(&cfg, 1) * 1e-6);
    free(table);
}
END_TEST

START_TEST(test_unet_validate_rejects_bad_configs)
{
    const snet_arch_ops *ops = &snet_arch_unet;
    scoresde_error err;
    snet_config ok = tiny_config(1, 28, 28, 32, 3, 8, SNET_SDE_VP), c;
    ck_assert_int_eq(ops->validate(&ok, &err), SNET_OK);
    c = ok, c.n_levels = 4; // 28 cannot be halved 3 times
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "n_levels = 4") != NULL, "%s", err.message);
    c = ok, c.n_groups = 3;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "n_groups = 3") != NULL, "%s", err.message);
    c = ok, c.n_levels = 0;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    c = ok, c.n_levels = 7;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    c = ok, c.base_channels = 0;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "base_channels") != NULL, "%s", err.message);
    c = ok, c.n_fourier = 0;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    c = ok, c.fourier_scale = NAN;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    c = ok, c.sde = SNET_SDE_VE, c.sigma_min = 0.0f;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    c = ok, c.width = 0;
    ck_assert_int_eq(ops->validate(&c, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "28×0") != NULL, "%s", err.message);
}
END_TEST

START_TEST(test_unet_init_is_deterministic_and_starts_at_zero_output)
{
    snet_config cfg = fd_config(0);
    net a, b;
    net_make(&a, &cfg, 2, 7);
    net_make(&b, &cfg, 2, 7);
    ck_assert(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0);
    snet_arch_unet.init(&cfg, b.params, 8);
    ck_assert(memcmp(a.params, b.params, a.n_params * sizeof(float)) != 0);
    net_forward(&a);
    for (size_t i = 0; i < a.B * a.D; i++) // zero-initialised last convolution
        ck_assert(a.out[i] == 0.0f);
    // He init: conv weights have variance ≈ 2/fan_in (checked on the widest tensor)
    const snet_tensor *w = NULL;
    for (size_t k = 0; k < a.n_tensors; k++)
        if (strcmp(a.table[k].name, "dec0.conv1.w") == 0)
            w = &a.table[k];
    ck_assert_ptr_nonnull(w);
    double ss = 0;
    for (size_t j = 0; j < w->size; j++)
        ss += (double)a.params[w->offset + j] * a.params[w->offset + j];
    double var = ss / (double)w->size, fan_in = (double)(w->size / w->shape[0]);
    // sample variance of n Gaussians: relative sd √(2/n); allow 5 sd
    ck_assert_msg(fabs(var * fan_in / 2.0 - 1.0) < 5.0 * sqrt(2.0 / (double)w->size),
                  "variance %.4g, expected 2/fan_in = %.4g", var, 2.0 / fan_in);
    net_free(&a);
    net_free(&b);
}
END_TEST

START_TEST(test_unet_samples_are_independent_of_their_batch)
{
    snet_config cfg = tiny_config(1, 28, 28, 8, 3, 4, SNET_SDE_VP);
    net n, one;
    net_make(&n, &cfg, 6, 3);
    net_make(&one, &cfg, 1, 3);
    net_randomise(&n);
    memcpy(one.params, n.params, n.n_params * sizeof(float));
    net_forward(&n);
    double rms = 0;
    for (size_t i = 0; i < n.B * n.D; i++)
        rms += (double)n.out[i] * n.out[i];
    rms = sqrt(rms / (double)(n.B * n.D));
    double tol = FLT_EPSILON * sqrt(net_rounding_K(&n)) * rms * 10; // rounding only (see top)
    for (size_t b = 0; b < n.B; b++) {
        memcpy(one.x, n.x + b * n.D, n.D * sizeof(float));
        one.t[0] = n.t[b];
        net_forward(&one);
        for (size_t i = 0; i < n.D; i++)
            ck_assert_msg(fabs(one.out[i] - n.out[b * n.D + i]) <= tol,
                          "sample %zu pixel %zu: %.9g alone, %.9g in the batch", b, i,
                          (double)one.out[i], (double)n.out[b * n.D + i]);
    }
    net_free(&n);
    net_free(&one);
}
END_TEST

START_TEST(test_unet_results_do_not_depend_on_the_thread_count)
{
    snet_config cfg = tiny_config(1, 28, 28, 8, 3, 4, SNET_SDE_VE);
    net n;
    net_make(&n, &cfg, 8, 4);
    net_randomise(&n);
    size_t nd = n.B * n.D;
    float *out1 = malloc(nd * 4), *dx1 = malloc(nd * 4), *dp1 = malloc(n.n_params * 4);
    snet_set_num_threads(1);
    net_forward(&n);
    memset(n.dparams, 0, n.n_params * 4);
    n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, n.dx, n.scratch);
    memcpy(out1, n.out, nd * 4), memcpy(dx1, n.dx, nd * 4), memcpy(dp1, n.dparams, n.n_params * 4);
    for (int threads = 2; threads <= 3; threads++) {
        snet_set_num_threads(threads);
        net_forward(&n);
        memset(n.dparams, 0, n.n_params * 4);
        n.ops->backward(&n.cfg, n.params, n.B, n.x, n.t, n.acts, n.r, n.dparams, n.dx, n.scratch);
        ck_assert_msg(memcmp(out1, n.out, nd * 4) == 0, "output: 1 and %d threads differ", threads);
        ck_assert_msg(memcmp(dx1, n.dx, nd * 4) == 0, "input VJP: 1 and %d threads differ", threads);
        ck_assert_msg(memcmp(dp1, n.dparams, n.n_params * 4) == 0, "parameter gradient: 1 and %d threads differ", threads);
    }
    snet_set_num_threads(1);
    free(out1), free(dx1), free(dp1);
    net_free(&n);
}
END_TEST

static Suite *unet_suite(void)
{
    Suite *s = suite_create("snet_unet");
    TCase *tg = tcase_create("gradients");
    tcase_set_timeout(tg, 300);
    tcase_add_loop_test(tg, test_unet_parameter_gradients_match_finite_differences, 0, N_FD_CONFIGS);
    tcase_add_loop_test(tg, test_unet_input_vjp_matches_finite_differences, 0, N_FD_CONFIGS);
    tcase_add_test(tg, test_unet_fashion_shape_gradients_match_finite_differences);
    tcase_add_test(tg, test_unet_backward_adds_parameter_gradients);
    suite_add_tcase(s, tg);
    TCase *tc = tcase_create("contract");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unet_parameter_table_tiles_the_buffer);
    tcase_add_test(tc, test_unet_validate_rejects_bad_configs);
    tcase_add_test(tc, test_unet_init_is_deterministic_and_starts_at_zero_output);
    tcase_add_test(tc, test_unet_samples_are_independent_of_their_batch);
    suite_add_tcase(s, tc);
    // the bit-identity promise, also run alone under every OpenBLAS kernel (scripts/test.sh)
    TCase *bits = tcase_create("bits");
    tcase_set_timeout(bits, 120);
    tcase_add_test(bits, test_unet_results_do_not_depend_on_the_thread_count);
    suite_add_tcase(s, bits);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(unet_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
