/* snet_unet.c — the convolutional U-Net (snet_arch_unet) for small images (Fashion-MNIST 28×28).
 *
 * Network r(x, t), x (B, C, H, W), all image activations in CNHW layout (see snet_conv.h):
 *
 *   time:    τ = log σ(t) (VE) or t (VP, sub-VP)
 *            emb = Fourier(τ) (B, 2F) → dense → SiLU → dense → SiLU          (B, E), E = 4·base
 *            proj = dense(emb) (B, P): every residual block's per-channel shift, ONE sgemm for all
 *   input:   h = conv3×3(x)                                     C → ch₀
 *   encoder: for level l = 0 … L−1 (resolution H/2^l):
 *              e_l = ResBlock(h)                                → ch_l
 *              h = conv3×3 stride 2 (e_l)  (l < L−1)            ch_l → ch_l, half the size
 *   middle:  m = ResBlock(e_{L−1})
 *   decoder: for level l = L−1 … 0:
 *              u = m (l = L−1) or nearest-upsample×2(o_{l+1})
 *              o_l = ResBlock(concat(u, e_l))                   → ch_l
 *   head:    y = conv3×3(SiLU(GroupNorm(o₀)))                   ch₀ → C   (zero-initialised)
 *
 *   ResBlock(x): h = conv3×3(SiLU(GN(x))) + proj_block;  out = conv3×3(SiLU(GN(h))) + skip(x),
 *                skip = x, or a 1×1 convolution when the channel count changes.
 *
 * Channels: ch_l = base·(1, 2, 2, 2, …) (DDPM's CIFAR multipliers). Every channel count is a
 * multiple of base, so n_groups | base is all GroupNorm needs; H and W must be divisible by
 * 2^(L−1) so that down- and up-sampling meet (28 → 14 → 7 with L = 3).
 *
 * The parameter buffer, the activation workspace and the backward scratch are laid out by one
 * "plan" built from the config on every call (a few hundred integer operations, no allocation).
 * Passes over memory the plan saves: e_l is written straight into the second half of decoder l's
 * concatenation and u (the upsampled path, or the middle block's output) into its first, so no
 * copy concatenates; every convolution output starts at its biases, time shift or identity skip
 * in one pass and the convolution accumulates into it; the backward takes the bias and time-shift
 * gradients from one pass of per-plane sums.
 *
 * Threads: the batch is cut into UNET_SHARDS fixed slices and each slice runs through the whole
 * network in one OpenMP thread with single-threaded sgemm (OpenBLAS is set to one thread during
 * a pass and restored after) — one fork/join per pass. On the 2-core target shared with other
 * work (load ≈ 10), per-layer parallel regions with two thread pools (OpenMP's and OpenBLAS')
 * waiting on each other took 13 s for a batch-64 training step of the base-16 net, this 0.8 s
 * (default OMP_WAIT_POLICY; 0.8 s either way with OMP_WAIT_POLICY=passive). Results do not
 * depend on the thread count (see the shard comment below). Passes run concurrently from several
 * threads of one process stay correct, but may leave OpenBLAS at one thread (the setting is
 * process-wide), which only costs speed.
 */
#include "snet.h"
#include "snet_conv.h"
#include "snet_gemm.h"
#include "snet_layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#define UNET_MAX_LEVELS 6
#define UNET_MAX_TENSORS 192 /* ≥ 7 + 2 + 10·(2·MAX_LEVELS + 1) + 2·(MAX_LEVELS − 1) + 4 = 161 */
#define UNET_ALIGN 16        /* floats: per-sample offsets rounded up, so tensors start 64-byte aligned */

enum unet_init { INIT_ZERO, INIT_ONE, INIT_HE, INIT_FOURIER };

typedef struct unet_tensor_info {
    size_t offset, size, fan_in;
    enum unet_init init;
} unet_tensor_info;

/* A residual block: parameter offsets (floats into params) and per-sample activation offsets (the
 * tensor of a batch of B starts at acts + B·offset). */
typedef struct unet_block {
    size_t cin, cout, h, w, hw, has_skip;
    size_t gn1_g, gn1_b, conv1_w, conv1_b, gn2_g, gn2_b, conv2_w, conv2_b, skip_w, skip_b;
    size_t proj_col; /* first column of this block's shift in proj (B, P) */
    size_t mean1, rstd1, s1, h1, mean2, rstd2, s2, out;
} unet_block;

typedef struct unet_plan {
    size_t C, H, W, L, G, F, E, P;
    scoresde_schedule schedule; /* τ = its network time (log σ(t) for VE, t otherwise) */
    size_t ch[UNET_MAX_LEVELS], h[UNET_MAX_LEVELS], w[UNET_MAX_LEVELS], hw[UNET_MAX_LEVELS];
    /* parameters */
    size_t freq, fc1_w, fc1_b, fc2_w, fc2_b, proj_w, proj_b, in_w, in_b;
    size_t down_w[UNET_MAX_LEVELS], down_b[UNET_MAX_LEVELS];
    size_t head_g, head_b, out_w, out_b;
    unet_block enc[UNET_MAX_LEVELS], mid, dec[UNET_MAX_LEVELS];
    /* activations (per sample) */
    size_t tau, emb0, emb1, emb1s, emb2, emb2s, proj, x0, hin;
    size_t down[UNET_MAX_LEVELS], cat[UNET_MAX_LEVELS];
    size_t head_mean, head_rstd, head_s, y;
    /* totals */
    size_t n_params, act_per_sample, max_tensor, max_channels;
    double flops_per_sample;
    /* the parameter table */
    unet_tensor_info info[UNET_MAX_TENSORS];
    size_t n_tensors;
    snet_tensor *table; /* optional output */
    size_t cap;
} unet_plan;

static size_t round_up(size_t n)
{
    return (n + UNET_ALIGN - 1) / UNET_ALIGN * UNET_ALIGN;
}

/* Registers a parameter tensor of shape (d0, d1, d2, d3) (ndim of them used) and returns its
 * offset. macs_per_weight: multiply–adds per weight per sample (output pixels for a convolution
 * weight, 1 for a dense weight, 0 otherwise), for forward_flops. */
static size_t add_param(unet_plan *p, const char *prefix, const char *name, enum unet_init init,
                        size_t macs_per_weight, uint32_t ndim, uint32_t d0, uint32_t d1, uint32_t d2,
                        uint32_t d3)
{
    size_t size = (size_t)d0 * d1 * d2 * d3, offset = p->n_params;
    if (p->n_tensors < UNET_MAX_TENSORS)
        p->info[p->n_tensors] = (unet_tensor_info){offset, size, d0 ? size / d0 : 0, init};
    if (p->table && p->n_tensors < p->cap) {
        snet_tensor *t = &p->table[p->n_tensors];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s%s", prefix, name);
        t->ndim = ndim;
        t->shape[0] = d0;
        t->shape[1] = d1;
        t->shape[2] = d2;
        t->shape[3] = d3;
        t->offset = offset;
        t->size = size;
        t->trainable = init != INIT_FOURIER;
    }
    p->n_tensors++;
    p->n_params += size;
    p->flops_per_sample += 2.0 * (double)size * (double)macs_per_weight;
    return offset;
}

/* Reserves a per-sample activation of n floats and returns its per-sample offset. */
static size_t add_act(unet_plan *p, size_t n)
{
    size_t offset = p->act_per_sample;
    p->act_per_sample += round_up(n);
    if (n > p->max_tensor)
        p->max_tensor = n;
    return offset;
}

/* out_at: the per-sample offset of the block's output when it lives inside another activation (a
 * half of a decoder concatenation), or UNET_OWN_OUTPUT to reserve its own. */
#define UNET_OWN_OUTPUT ((size_t)-1)

static void plan_block(unet_plan *p, unet_block *k, const char *prefix, size_t cin, size_t cout,
                       size_t level, size_t out_at)
{
    uint32_t ci = (uint32_t)cin, co = (uint32_t)cout;
    k->cin = cin;
    k->cout = cout;
    k->h = p->h[level];
    k->w = p->w[level];
    k->hw = p->hw[level];
    k->has_skip = cin != cout;
    k->gn1_g = add_param(p, prefix, "gn1.g", INIT_ONE, 0, 1, ci, 1, 1, 1);
    k->gn1_b = add_param(p, prefix, "gn1.b", INIT_ZERO, 0, 1, ci, 1, 1, 1);
    k->conv1_w = add_param(p, prefix, "conv1.w", INIT_HE, k->hw, 4, co, ci, 3, 3);
    k->conv1_b = add_param(p, prefix, "conv1.b", INIT_ZERO, 0, 1, co, 1, 1, 1);
    k->gn2_g = add_param(p, prefix, "gn2.g", INIT_ONE, 0, 1, co, 1, 1, 1);
    k->gn2_b = add_param(p, prefix, "gn2.b", INIT_ZERO, 0, 1, co, 1, 1, 1);
    k->conv2_w = add_param(p, prefix, "conv2.w", INIT_HE, k->hw, 4, co, co, 3, 3);
    k->conv2_b = add_param(p, prefix, "conv2.b", INIT_ZERO, 0, 1, co, 1, 1, 1);
    if (k->has_skip) {
        k->skip_w = add_param(p, prefix, "skip.w", INIT_HE, k->hw, 4, co, ci, 1, 1);
        k->skip_b = add_param(p, prefix, "skip.b", INIT_ZERO, 0, 1, co, 1, 1, 1);
    } else {
        k->skip_w = k->skip_b = 0;
    }
    k->proj_col = p->P;
    p->P += cout;
    if (cin > p->max_channels)
        p->max_channels = cin;
    k->mean1 = add_act(p, p->G);
    k->rstd1 = add_act(p, p->G);
    k->s1 = add_act(p, cin * k->hw);
    k->h1 = add_act(p, cout * k->hw);
    k->mean2 = add_act(p, p->G);
    k->rstd2 = add_act(p, p->G);
    k->s2 = add_act(p, cout * k->hw);
    k->out = out_at == UNET_OWN_OUTPUT ? add_act(p, cout * k->hw) : out_at;
}

/* Channels entering decoder block l: the upsampled (or middle) path, then the skip. */
static size_t dec_up_channels(const unet_plan *p, size_t l)
{
    return l + 1 < p->L ? p->ch[l + 1] : p->ch[p->L - 1];
}

/* Builds the plan of a validated config; table (may be NULL) receives up to cap tensor entries. */
static void plan_make(unet_plan *p, const snet_config *cfg, snet_tensor *table, size_t cap)
{
    memset(p, 0, offsetof(unet_plan, info));
    p->n_tensors = 0;
    p->table = table;
    p->cap = cap;
    p->C = cfg->channels;
    p->H = cfg->height;
    p->W = cfg->width;
    p->L = cfg->n_levels;
    p->G = cfg->n_groups;
    p->F = cfg->n_fourier;
    p->E = 4 * (size_t)cfg->base_channels;
    p->schedule = snet_config_schedule(cfg);
    for (size_t l = 0; l < p->L; l++) {
        p->ch[l] = (size_t)cfg->base_channels * (l == 0 ? 1 : 2);
        p->h[l] = p->H >> l;
        p->w[l] = p->W >> l;
        p->hw[l] = p->h[l] * p->w[l];
    }
    const uint32_t C = (uint32_t)p->C, F = (uint32_t)p->F, E = (uint32_t)p->E;
    const uint32_t c0 = (uint32_t)p->ch[0];
    // P, the total of the blocks' output channels, sizes proj.w before the blocks are laid out
    size_t P = p->ch[p->L - 1];
    for (size_t l = 0; l < p->L; l++)
        P += 2 * p->ch[l];

    /* parameters, in buffer order */
    p->freq = add_param(p, "temb.", "freq", INIT_FOURIER, 0, 1, F, 1, 1, 1);
    p->fc1_w = add_param(p, "temb.", "fc1.w", INIT_HE, 1, 2, E, 2 * F, 1, 1);
    p->fc1_b = add_param(p, "temb.", "fc1.b", INIT_ZERO, 0, 1, E, 1, 1, 1);
    p->fc2_w = add_param(p, "temb.", "fc2.w", INIT_HE, 1, 2, E, E, 1, 1);
    p->fc2_b = add_param(p, "temb.", "fc2.b", INIT_ZERO, 0, 1, E, 1, 1, 1);
    p->proj_w = add_param(p, "temb.", "proj.w", INIT_HE, 1, 2, (uint32_t)P, E, 1, 1);
    p->proj_b = add_param(p, "temb.", "proj.b", INIT_ZERO, 0, 1, (uint32_t)P, 1, 1, 1);
    /* activations of the time embedding and the input */
    p->tau = add_act(p, 1);
    p->emb0 = add_act(p, 2 * p->F);
    p->emb1 = add_act(p, p->E);
    p->emb1s = add_act(p, p->E);
    p->emb2 = add_act(p, p->E);
    p->emb2s = add_act(p, p->E);
    p->proj = add_act(p, P);
    p->x0 = add_act(p, p->C * p->hw[0]);

    p->in_w = add_param(p, "in.", "w", INIT_HE, p->hw[0], 4, c0, C, 3, 3);
    p->in_b = add_param(p, "in.", "b", INIT_ZERO, 0, 1, c0, 1, 1, 1);
    p->hin = add_act(p, p->ch[0] * p->hw[0]);
    char prefix[32];
    size_t cin = p->ch[0];
    for (size_t l = 0; l < p->L; l++) {
        // decoder l's input concat(u, e_l) is reserved here and e_l written straight into its
        // second half (and u into its first): the concatenation costs no copy
        size_t cu = dec_up_channels(p, l);
        p->cat[l] = add_act(p, (cu + p->ch[l]) * p->hw[l]);
        snprintf(prefix, sizeof prefix, "enc%zu.", l);
        plan_block(p, &p->enc[l], prefix, cin, p->ch[l], l, p->cat[l] + cu * p->hw[l]);
        if (l + 1 < p->L) {
            uint32_t cl = (uint32_t)p->ch[l];
            snprintf(prefix, sizeof prefix, "down%zu.", l);
            p->down_w[l] = add_param(p, prefix, "w", INIT_HE, p->hw[l + 1], 4, cl, cl, 3, 3);
            p->down_b[l] = add_param(p, prefix, "b", INIT_ZERO, 0, 1, cl, 1, 1, 1);
            p->down[l] = add_act(p, p->ch[l] * p->hw[l + 1]);
        }
        cin = p->ch[l];
    }
    plan_block(p, &p->mid, "mid.", p->ch[p->L - 1], p->ch[p->L - 1], p->L - 1, p->cat[p->L - 1]);
    for (size_t l = p->L; l-- > 0;) {
        size_t cu = dec_up_channels(p, l);
        snprintf(prefix, sizeof prefix, "dec%zu.", l);
        plan_block(p, &p->dec[l], prefix, cu + p->ch[l], p->ch[l], l, UNET_OWN_OUTPUT);
    }
    p->head_g = add_param(p, "head.", "gn.g", INIT_ONE, 0, 1, c0, 1, 1, 1);
    p->head_b = add_param(p, "head.", "gn.b", INIT_ZERO, 0, 1, c0, 1, 1, 1);
    p->out_w = add_param(p, "out.", "w", INIT_ZERO, p->hw[0], 4, C, c0, 3, 3);
    p->out_b = add_param(p, "out.", "b", INIT_ZERO, 0, 1, C, 1, 1, 1);
    p->head_mean = add_act(p, p->G);
    p->head_rstd = add_act(p, p->G);
    p->head_s = add_act(p, p->ch[0] * p->hw[0]);
    p->y = add_act(p, p->C * p->hw[0]);
}

/* Convolution shapes; one lane each: the shards already keep the threads busy. */
static snet_conv2d_dims conv3(size_t B, size_t C, size_t H, size_t W, size_t OC, size_t stride)
{
    return (snet_conv2d_dims){B, C, H, W, OC, 3, stride, 1, 1};
}

static snet_conv2d_dims conv1x1(size_t B, size_t C, size_t H, size_t W, size_t OC)
{
    return (snet_conv2d_dims){B, C, H, W, OC, 1, 1, 0, 1};
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The largest im2col workspace any convolution of the network needs at batch B. */
static size_t plan_col_size(const unet_plan *p, size_t B)
{
    size_t n = 0;
    snet_conv2d_dims d = conv3(B, p->C, p->H, p->W, p->ch[0], 1);
    n = max_size(n, snet_conv2d_col_size(&d));
    d = conv3(B, p->ch[0], p->H, p->W, p->C, 1);
    n = max_size(n, snet_conv2d_col_size(&d));
    for (size_t l = 0; l < p->L; l++) {
        const unet_block *ks[2] = {&p->enc[l], &p->dec[l]};
        for (int i = 0; i < 2; i++) {
            d = conv3(B, ks[i]->cin, ks[i]->h, ks[i]->w, ks[i]->cout, 1);
            n = max_size(n, snet_conv2d_col_size(&d));
            d = conv3(B, ks[i]->cout, ks[i]->h, ks[i]->w, ks[i]->cout, 1);
            n = max_size(n, snet_conv2d_col_size(&d));
            d = conv1x1(B, ks[i]->cin, ks[i]->h, ks[i]->w, ks[i]->cout);
            n = max_size(n, snet_conv2d_col_size(&d));
        }
        if (l + 1 < p->L) {
            d = conv3(B, p->ch[l], p->h[l], p->w[l], p->ch[l], 2);
            n = max_size(n, snet_conv2d_col_size(&d));
        }
    }
    d = conv3(B, p->mid.cin, p->mid.h, p->mid.w, p->mid.cout, 1);
    n = max_size(n, snet_conv2d_col_size(&d));
    return round_up(n);
}

/* ---- snet_arch_ops --------------------------------------------------------------------------------- */

static int unet_validate(const snet_config *cfg, scoresde_error *err)
{
#define FAIL(...) return scoresde_error_fail(err, SNET_EINVAL, __VA_ARGS__)
    if (!cfg)
        FAIL("unet: config is NULL");
    if (cfg->channels < 1 || cfg->height < 1 || cfg->width < 1)
        FAIL("unet: data shape %u×%u×%u (channels×height×width) must have every size ≥ 1",
             cfg->channels, cfg->height, cfg->width);
    /* bounded so that no parameter count or offset overflows size_t (a weights file's config is
     * validated before the count it implies is compared with the file) */
    if (cfg->base_channels < 1 || cfg->base_channels > (1u << 16))
        FAIL("unet: base_channels = %u, expected 1 to 65536", cfg->base_channels);
    if (cfg->n_levels < 1 || cfg->n_levels > UNET_MAX_LEVELS)
        FAIL("unet: n_levels = %u, expected 1 to %d", cfg->n_levels, UNET_MAX_LEVELS);
    if (cfg->n_groups < 1 || cfg->base_channels % cfg->n_groups != 0)
        FAIL("unet: n_groups = %u must divide base_channels = %u (every channel count is a "
             "multiple of it)",
             cfg->n_groups, cfg->base_channels);
    uint32_t f = 1u << (cfg->n_levels - 1);
    if (cfg->height % f != 0 || cfg->width % f != 0)
        FAIL("unet: image %u×%u cannot be halved %u times (n_levels = %u): height and width must be "
             "multiples of %u",
             cfg->height, cfg->width, cfg->n_levels - 1, cfg->n_levels, f);
    if (cfg->n_fourier < 1 || cfg->n_fourier > (1u << 14))
        FAIL("unet: n_fourier = %u, expected 1 to 16384", cfg->n_fourier);
    if (!(cfg->fourier_scale > 0.0f) || !isfinite(cfg->fourier_scale))
        FAIL("unet: fourier_scale = %g, expected a finite value > 0", (double)cfg->fourier_scale);
    scoresde_schedule schedule = snet_config_schedule(cfg); /* the time input needs a valid process */
    if (scoresde_schedule_validate(&schedule, err))
        return SNET_EINVAL;
    return SNET_OK;
#undef FAIL
}

static size_t unet_n_params(const snet_config *cfg)
{
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    return p.n_params;
}

static size_t unet_tensors(const snet_config *cfg, snet_tensor *table, size_t cap)
{
    unet_plan p;
    plan_make(&p, cfg, table, table ? cap : 0);
    return p.n_tensors;
}

static double unet_forward_flops(const snet_config *cfg, size_t B)
{
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    return p.flops_per_sample * (double)B;
}

/* splitmix64: one seed per tensor from the model seed, so each tensor's draw is independent of the
 * others' sizes. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void unet_init(const snet_config *cfg, float *params, uint64_t seed)
{
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    for (size_t i = 0; i < p.n_tensors && i < UNET_MAX_TENSORS; i++) {
        const unet_tensor_info *t = &p.info[i];
        float *a = params + t->offset;
        unsigned long s = (unsigned long)(splitmix64(seed ^ splitmix64(i + 1)) & 0xFFFFFFFFu);
        int rc = 0;
        switch (t->init) {
        case INIT_ZERO:
            snet_zero(a, t->size);
            break;
        case INIT_ONE:
            for (size_t j = 0; j < t->size; j++)
                a[j] = 1.0f;
            break;
        case INIT_HE: // N(0, 2/fan_in): the variance SiLU/ReLU inputs keep through a layer
            rc = snet_fill_gaussian(a, t->size, (float)sqrt(2.0 / (double)t->fan_in), s);
            break;
        case INIT_FOURIER: // fixed random frequencies W_j ~ N(0, scale²)
            rc = snet_fill_gaussian(a, t->size, cfg->fourier_scale, s);
            break;
        }
        if (rc != 0) // the generator could not be allocated: make the failure visible downstream
            for (size_t j = 0; j < t->size; j++)
                a[j] = NAN;
    }
}

/* Shards: the batch is cut into UNET_SHARDS fixed slices (sample b in shard ⌊b·SHARDS/B⌋…, i.e.
 * shard s holds samples [⌊s·B/SHARDS⌋, ⌊(s+1)·B/SHARDS⌋)), and the whole network runs on each
 * slice in one OpenMP thread: one fork and one join per pass instead of a barrier per layer,
 * which is what two cores shared with other work tolerate. Every operation of the network is per
 * sample except the parameter gradients, which each shard accumulates in its own buffer and which
 * are then summed in shard order — so nothing depends on the thread count. */
#define UNET_SHARDS 4

static size_t shard_begin(size_t B, size_t s)
{
    return B * s / UNET_SHARDS;
}

/* Activation floats of one shard of n samples: its activations, then the forward's im2col
 * workspace (forward has no scratch argument). */
static size_t shard_act_size(const unet_plan *p, size_t n)
{
    return n ? round_up(n * p->act_per_sample + plan_col_size(p, n)) : 0;
}

static size_t shard_act_offset(const unet_plan *p, size_t B, size_t s)
{
    size_t off = 0;
    for (size_t q = 0; q < s; q++)
        off += shard_act_size(p, shard_begin(B, q + 1) - shard_begin(B, q));
    return off;
}

static size_t unet_act_size(const snet_config *cfg, size_t B)
{
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    return shard_act_offset(&p, B, UNET_SHARDS);
}

/* Backward scratch, in floats from the start of scratch. */
typedef struct unet_scratch {
    size_t col, t1, t2, ga, gb, partial, de[UNET_MAX_LEVELS], dy, dx0, dproj, demb2s, demb2, demb1s,
        demb1;
    size_t total;
} unet_scratch;

static void scratch_layout(unet_scratch *s, const unet_plan *p, size_t B)
{
    size_t n = 0, T = round_up(B * p->max_tensor);
#define TAKE(field, size)                                                                          \
    do {                                                                                           \
        s->field = n;                                                                              \
        n += round_up(size);                                                                       \
    } while (0)
    TAKE(col, plan_col_size(p, B));
    TAKE(t1, T);
    TAKE(t2, T);
    TAKE(ga, T);
    TAKE(gb, T);
    TAKE(partial, 2 * B * p->max_channels);
    for (size_t l = 0; l < p->L; l++)
        TAKE(de[l], B * p->ch[l] * p->hw[l]);
    TAKE(dy, B * p->C * p->hw[0]);
    TAKE(dx0, B * p->C * p->hw[0]);
    TAKE(dproj, B * p->P);
    TAKE(demb2s, B * p->E);
    TAKE(demb2, B * p->E);
    TAKE(demb1s, B * p->E);
    TAKE(demb1, B * p->E);
#undef TAKE
    s->total = n;
}

static size_t shard_scratch_size(const unet_plan *p, size_t n)
{
    unet_scratch s;
    if (!n)
        return 0;
    scratch_layout(&s, p, n);
    return round_up(s.total);
}

/* Scratch: the shards' parameter-gradient buffers, then each shard's own scratch. */
static size_t shard_scratch_offset(const unet_plan *p, size_t B, size_t s)
{
    size_t off = UNET_SHARDS * round_up(p->n_params);
    for (size_t q = 0; q < s; q++)
        off += shard_scratch_size(p, shard_begin(B, q + 1) - shard_begin(B, q));
    return off;
}

static size_t unet_scratch_size(const snet_config *cfg, size_t B)
{
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    return shard_scratch_offset(&p, B, UNET_SHARDS);
}

/* Threads for the shards: no more than the shards that hold samples. */
static int shard_threads(size_t B)
{
    size_t n = B < UNET_SHARDS ? B : UNET_SHARDS, t = (size_t)omp_get_max_threads();
    return (int)(n < t ? n : t);
}

/* ---- Residual block ---------------------------------------------------------------------------------- */

/* The starting value of a convolution's output, in one pass (the convolution then accumulates):
 * out (C, B, HW) = [src (C, B, HW)] + bias_a[c] + [bias_b[c]] + [row[b·row_stride + c]], where
 * src, bias_b and row may be NULL. Per sample and in a fixed order: no thread dependence. */
static void fill_shift(float *out, const float *src, const float *bias_a, const float *bias_b,
                       const float *row, size_t row_stride, size_t B, size_t C, size_t HW)
{
    for (size_t c = 0; c < C; c++) {
        for (size_t b = 0; b < B; b++) {
            float v = bias_a[c];
            if (bias_b)
                v += bias_b[c];
            if (row)
                v += row[b * row_stride + c];
            float *o = out + (c * B + b) * HW;
            if (src) {
                const float *x = src + (c * B + b) * HW;
#pragma omp simd
                for (size_t i = 0; i < HW; i++)
                    o[i] = x[i] + v;
            } else {
#pragma omp simd
                for (size_t i = 0; i < HW; i++)
                    o[i] = v;
            }
        }
    }
}

/* sums (B, C): sums[b·C + c] = Σ_p g[c][b][p] for g (C, B, HW), each in double, vectorised. */
static void plane_sums(float *sums, const float *g, size_t B, size_t C, size_t HW)
{
    for (size_t c = 0; c < C; c++) {
        for (size_t b = 0; b < B; b++) {
            const float *x = g + (c * B + b) * HW;
            double acc = 0.0;
#pragma omp simd reduction(+ : acc)
            for (size_t i = 0; i < HW; i++)
                acc += (double)x[i];
            sums[b * C + c] = (float)acc;
        }
    }
}

/* A bias gradient from plane sums (B, C): dbias[c] += Σ_b sums[b][c], b in order. */
static void bias_grad_from_sums(float *dbias, const float *sums, size_t B, size_t C)
{
    for (size_t c = 0; c < C; c++) {
        double acc = 0.0;
        for (size_t b = 0; b < B; b++)
            acc += (double)sums[b * C + c];
        dbias[c] += (float)acc;
    }
}

/* x (cin, B, hw) → acts[out] (cout, B, hw); proj (B, P) holds every block's time shift. */
static void block_forward(const unet_plan *p, const unet_block *k, const float *params, size_t B,
                          const float *x, float *acts, const float *proj, float *col)
{
    float *mean1 = acts + B * k->mean1, *rstd1 = acts + B * k->rstd1; // (B, G)
    float *s1 = acts + B * k->s1;                                     // (cin, B, hw)
    float *h1 = acts + B * k->h1;                                     // (cout, B, hw)
    float *mean2 = acts + B * k->mean2, *rstd2 = acts + B * k->rstd2; // (B, G)
    float *s2 = acts + B * k->s2;                                     // (cout, B, hw)
    float *out = acts + B * k->out;                                   // (cout, B, hw)
    snet_conv2d_dims d1 = conv3(B, k->cin, k->h, k->w, k->cout, 1);
    snet_conv2d_dims d2 = conv3(B, k->cout, k->h, k->w, k->cout, 1);

    // s1 = SiLU(GN(x)); h1 = conv1(s1) + proj; s2 = SiLU(GN(h1)); out = skip(x) + conv2(s2).
    // Each output starts at its biases (and time shift, or identity skip) in one pass; the
    // convolutions then accumulate into it.
    snet_groupnorm_silu_forward(s1, mean1, rstd1, x, params + k->gn1_g, params + k->gn1_b, B,
                                k->cin, k->hw, p->G);
    fill_shift(h1, NULL, params + k->conv1_b, NULL, proj + k->proj_col, p->P, B, k->cout, k->hw);
    snet_conv2d_forward(h1, s1, params + k->conv1_w, NULL, col, &d1, 1);
    snet_groupnorm_silu_forward(s2, mean2, rstd2, h1, params + k->gn2_g, params + k->gn2_b, B,
                                k->cout, k->hw, p->G);
    if (k->has_skip) {
        snet_conv2d_dims ds = conv1x1(B, k->cin, k->h, k->w, k->cout);
        fill_shift(out, NULL, params + k->skip_b, params + k->conv2_b, NULL, 0, B, k->cout, k->hw);
        snet_conv2d_forward(out, x, params + k->skip_w, NULL, col, &ds, 1);
    } else {
        fill_shift(out, x, params + k->conv2_b, NULL, NULL, 0, B, k->cout, k->hw);
    }
    snet_conv2d_forward(out, s2, params + k->conv2_w, NULL, col, &d2, 1);
}

/* Given dout (cout, B, hw), puts the input gradient into dx (cin, B, hw) — added if accumulate,
 * written if not — adds parameter gradients into dparams (if not NULL) and the time-shift gradient
 * into dproj (B, P) (if not NULL). t1, t2: work tensors of the largest activation size; partial:
 * 2·B·cin floats; col: im2col workspace. */
static void block_backward(const unet_plan *p, const unet_block *k, const float *params,
                           float *dparams, size_t B, const float *x, const float *acts,
                           const float *dout, float *dx, int accumulate, float *dproj, float *t1,
                           float *t2, float *partial, float *col)
{
    const float *mean1 = acts + B * k->mean1, *rstd1 = acts + B * k->rstd1;
    const float *s1 = acts + B * k->s1, *h1 = acts + B * k->h1;
    const float *mean2 = acts + B * k->mean2, *rstd2 = acts + B * k->rstd2;
    const float *s2 = acts + B * k->s2;
    snet_conv2d_dims d1 = conv3(B, k->cin, k->h, k->w, k->cout, 1);
    snet_conv2d_dims d2 = conv3(B, k->cout, k->h, k->w, k->cout, 1);
#define DP(off) (dparams ? dparams + (off) : NULL)

    // out = skip(x) + conv2(s2): both biases get Σ dout, from one pass of per-plane sums
    float *sums = partial; // (B, cout), free until the GroupNorm backward below
    if (dparams) {
        plane_sums(sums, dout, B, k->cout, k->hw);
        bias_grad_from_sums(dparams + k->conv2_b, sums, B, k->cout);
        if (k->has_skip)
            bias_grad_from_sums(dparams + k->skip_b, sums, B, k->cout);
    }
    if (k->has_skip) {
        snet_conv2d_dims ds = conv1x1(B, k->cin, k->h, k->w, k->cout);
        snet_conv2d_backward(dx, DP(k->skip_w), NULL, dout, x, params + k->skip_w, col, &ds,
                             accumulate);
    } else if (accumulate) {
        snet_add_inplace(dx, dout, k->cout * B * k->hw);
    } else {
        memcpy(dx, dout, k->cout * B * k->hw * sizeof *dx);
    }
    float *ds2 = t1; // (cout, B, hw)
    snet_conv2d_backward(ds2, DP(k->conv2_w), NULL, dout, s2, params + k->conv2_w, col, &d2, 0);
    // s2 = SiLU(GN(h1)); ds2 is consumed
    float *dh1 = t2; // (cout, B, hw)
    snet_groupnorm_silu_backward(dh1, DP(k->gn2_g), DP(k->gn2_b), ds2, h1, params + k->gn2_g,
                                 params + k->gn2_b, mean2, rstd2, partial, B, k->cout, k->hw, p->G,
                                 0);
    if (dparams) { // h1's bias and time shift, from one pass of per-plane sums of dh1
        plane_sums(sums, dh1, B, k->cout, k->hw);
        bias_grad_from_sums(dparams + k->conv1_b, sums, B, k->cout);
        if (dproj)
            snet_add_block(dproj + k->proj_col, p->P, sums, k->cout, B, k->cout);
    }
    float *ds1 = t1; // (cin, B, hw)
    snet_conv2d_backward(ds1, DP(k->conv1_w), NULL, dh1, s1, params + k->conv1_w, col, &d1, 0);
    // s1 = SiLU(GN(x)): onto the skip path's gradient
    snet_groupnorm_silu_backward(dx, DP(k->gn1_g), DP(k->gn1_b), ds1, x, params + k->gn1_g,
                                 params + k->gn1_b, mean1, rstd1, partial, B, k->cin, k->hw, p->G,
                                 1);
#undef DP
}

/* ---- The network ---------------------------------------------------------------------------------------- */

/* The network on one shard of B samples: x (B, C, H, W), t (B) → out (B, C, H, W), activations
 * in acts (shard_act_size floats). Single-threaded apart from nested work. */
static void forward_shard(const unet_plan *p, const float *params, size_t B, const float *x,
                          const float *t, float *out, float *acts)
{
    const size_t L = p->L, S0 = p->hw[0];
    float *col = acts + B * p->act_per_sample;
#define ACT(off) (acts + B * (off))

    // time embedding
    float *tau = ACT(p->tau); // (B)
    for (size_t b = 0; b < B; b++)
        tau[b] = (float)scoresde_schedule_network_time(&p->schedule, (double)t[b]);
    float *emb0 = ACT(p->emb0), *emb1 = ACT(p->emb1), *emb1s = ACT(p->emb1s); // (B, 2F), (B, E), (B, E)
    float *emb2 = ACT(p->emb2), *emb2s = ACT(p->emb2s), *proj = ACT(p->proj); // (B, E), (B, E), (B, P)
    snet_fourier_forward(emb0, tau, params + p->freq, B, p->F);
    snet_linear_forward(emb1, emb0, params + p->fc1_w, params + p->fc1_b, B, 2 * p->F, p->E);
    snet_silu_forward(emb1s, emb1, B * p->E);
    snet_linear_forward(emb2, emb1s, params + p->fc2_w, params + p->fc2_b, B, p->E, p->E);
    snet_silu_forward(emb2s, emb2, B * p->E);
    snet_linear_forward(proj, emb2s, params + p->proj_w, params + p->proj_b, B, p->E, p->P);

    // input convolution
    float *x0 = ACT(p->x0), *hin = ACT(p->hin); // (C, B, H, W), (ch0, B, H, W)
    snet_nchw_to_cnhw(x0, x, B, p->C, S0);
    snet_conv2d_dims d = conv3(B, p->C, p->H, p->W, p->ch[0], 1);
    snet_conv2d_forward(hin, x0, params + p->in_w, params + p->in_b, col, &d, 0);

    // encoder
    const float *h = hin;
    for (size_t l = 0; l < L; l++) {
        block_forward(p, &p->enc[l], params, B, h, acts, proj, col);
        if (l + 1 < L) {
            float *down = ACT(p->down[l]); // (ch_l, B, h_{l+1}, w_{l+1})
            d = conv3(B, p->ch[l], p->h[l], p->w[l], p->ch[l], 2);
            snet_conv2d_forward(down, ACT(p->enc[l].out), params + p->down_w[l], params + p->down_b[l],
                                col, &d, 0);
            h = down;
        }
    }
    // middle
    block_forward(p, &p->mid, params, B, ACT(p->enc[L - 1].out), acts, proj, col);
    h = ACT(p->mid.out);
    // decoder
    for (size_t l = L; l-- > 0;) {
        size_t cu = dec_up_channels(p, l);
        // cat (cu + ch_l, B, h_l, w_l) = [u; e_l]: e_l is already its second half, and the middle
        // block's output its first at l = L − 1; above, u = upsample(o_{l+1}) is written there
        float *cat = ACT(p->cat[l]);
        if (l + 1 < L)
            snet_upsample2x_forward(cat, h, B, cu, p->h[l + 1], p->w[l + 1]);
        block_forward(p, &p->dec[l], params, B, cat, acts, proj, col);
        h = ACT(p->dec[l].out);
    }
    // head
    float *hs = ACT(p->head_s), *y = ACT(p->y); // (ch0, B, S0), (C, B, S0)
    snet_groupnorm_silu_forward(hs, ACT(p->head_mean), ACT(p->head_rstd), h, params + p->head_g,
                                params + p->head_b, B, p->ch[0], S0, p->G);
    d = conv3(B, p->ch[0], p->H, p->W, p->C, 1);
    snet_conv2d_forward(y, hs, params + p->out_w, params + p->out_b, col, &d, 0);
    snet_cnhw_to_nchw(out, y, B, p->C, S0);
#undef ACT
}

/* The backward of one shard: dout (B, C, H, W) → parameter gradients ADDED into dparams (if not
 * NULL) and the input gradient WRITTEN into dx (B, C, H, W) (if not NULL); scratch of
 * shard_scratch_size floats. */
static void backward_shard(const unet_plan *p, const float *params, size_t B, const float *acts,
                           const float *dout, float *dparams, float *dx, float *scratch)
{
    unet_scratch s;
    scratch_layout(&s, p, B);
    const size_t L = p->L, S0 = p->hw[0];
    float *col = scratch + s.col, *t1 = scratch + s.t1, *t2 = scratch + s.t2;
    float *ga = scratch + s.ga, *gb = scratch + s.gb, *partial = scratch + s.partial;
    float *dproj = dparams ? scratch + s.dproj : NULL; // (B, P)
#define ACT(off) (acts + B * (off))
#define DP(off) (dparams ? dparams + (off) : NULL)
    if (dproj)
        snet_zero(dproj, B * p->P);

    // head: y = conv_out(SiLU(GN(o₀)))
    float *dy = scratch + s.dy; // (C, B, S0)
    snet_nchw_to_cnhw(dy, dout, B, p->C, S0);
    snet_conv2d_dims d = conv3(B, p->ch[0], p->H, p->W, p->C, 1);
    snet_conv2d_backward(t1, DP(p->out_w), DP(p->out_b), dy, ACT(p->head_s), params + p->out_w, col, &d,
                         0);
    snet_groupnorm_silu_backward(ga, DP(p->head_g), DP(p->head_b), t1, ACT(p->dec[0].out),
                                 params + p->head_g, params + p->head_b, ACT(p->head_mean),
                                 ACT(p->head_rstd), partial, B, p->ch[0], S0, p->G, 0);

    // decoder, level 0 up to L−1: ga holds ∂L/∂o_l on entry
    for (size_t l = 0; l < L; l++) {
        const unet_block *k = &p->dec[l];
        size_t cu = dec_up_channels(p, l);
        float *dcat = gb; // (cu + ch_l, B, h_l, w_l)
        block_backward(p, k, params, dparams, B, ACT(p->cat[l]), acts, ga, dcat, 0, dproj, t1, t2,
                       partial, col);
        // concat: the skip half is the first contribution to ∂L/∂e_l (the middle block and the
        // down-sampling convolution add theirs later); the first half is ∂L/∂u as it stands in dcat
        memcpy(scratch + s.de[l], dcat + cu * B * k->hw, p->ch[l] * B * k->hw * sizeof(float));
        if (l + 1 < L) { // u = upsample(o_{l+1}): ∂L/∂o_{l+1} → ga
            snet_zero(ga, cu * B * p->hw[l + 1]);
            snet_upsample2x_backward(ga, dcat, B, cu, p->h[l + 1], p->w[l + 1]);
        }
    }
    // middle: ∂L/∂m is the first half of the last dcat (gb); its input e_{L−1} collects into de
    block_backward(p, &p->mid, params, dparams, B, ACT(p->enc[L - 1].out), acts, gb,
                   scratch + s.de[L - 1], 1, dproj, t1, t2, partial, col);

    // encoder, level L−1 down to 0: de[l] holds the whole ∂L/∂e_l on entry
    for (size_t l = L; l-- > 0;) {
        const unet_block *k = &p->enc[l];
        const float *in = l > 0 ? ACT(p->down[l - 1]) : ACT(p->hin);
        float *din = ga; // (cin, B, h_l, w_l)
        block_backward(p, k, params, dparams, B, in, acts, scratch + s.de[l], din, 0, dproj, t1, t2,
                       partial, col);
        if (l > 0) {
            d = conv3(B, p->ch[l - 1], p->h[l - 1], p->w[l - 1], p->ch[l - 1], 2);
            snet_conv2d_backward(scratch + s.de[l - 1], DP(p->down_w[l - 1]), DP(p->down_b[l - 1]),
                                 din, ACT(p->enc[l - 1].out), params + p->down_w[l - 1], col, &d, 1);
        } else {
            float *dx0 = dx ? scratch + s.dx0 : NULL; // (C, B, H, W)
            d = conv3(B, p->C, p->H, p->W, p->ch[0], 1);
            snet_conv2d_backward(dx0, DP(p->in_w), DP(p->in_b), din, ACT(p->x0), params + p->in_w, col,
                                 &d, 0);
            if (dx)
                snet_cnhw_to_nchw(dx, dx0, B, p->C, S0);
        }
    }

    // time embedding (parameters only: time is not differentiated)
    if (dparams) {
        float *demb2s = scratch + s.demb2s, *demb2 = scratch + s.demb2; // (B, E)
        float *demb1s = scratch + s.demb1s, *demb1 = scratch + s.demb1; // (B, E)
        snet_zero(demb2s, B * p->E);
        snet_linear_backward(demb2s, dparams + p->proj_w, dparams + p->proj_b, dproj, ACT(p->emb2s),
                             params + p->proj_w, B, p->E, p->P);
        snet_zero(demb2, B * p->E);
        snet_silu_backward(demb2, demb2s, ACT(p->emb2), B * p->E);
        snet_zero(demb1s, B * p->E);
        snet_linear_backward(demb1s, dparams + p->fc2_w, dparams + p->fc2_b, demb2, ACT(p->emb1s),
                             params + p->fc2_w, B, p->E, p->E);
        snet_zero(demb1, B * p->E);
        snet_silu_backward(demb1, demb1s, ACT(p->emb1), B * p->E);
        snet_linear_backward(NULL, dparams + p->fc1_w, dparams + p->fc1_b, demb1, ACT(p->emb0),
                             params + p->fc1_w, B, 2 * p->F, p->E);
    }
#undef DP
#undef ACT
}

static void unet_forward(const snet_config *cfg, const float *params, size_t B, const float *x,
                         const float *t, float *out, float *acts)
{
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    const size_t D = p.C * p.H * p.W;
    const int blas = snet_blas_single_begin();
#pragma omp parallel for schedule(static) num_threads(shard_threads(B)) if (B > 1 && !omp_in_parallel())
    for (size_t s = 0; s < UNET_SHARDS; s++) {
        size_t b0 = shard_begin(B, s), n = shard_begin(B, s + 1) - b0;
        if (n)
            forward_shard(&p, params, n, x + b0 * D, t + b0, out + b0 * D,
                          acts + shard_act_offset(&p, B, s));
    }
    snet_blas_single_end(blas);
}

static void unet_backward(const snet_config *cfg, const float *params, size_t B, const float *x,
                          const float *t, const float *acts, const float *dout, float *dparams,
                          float *dx, float *scratch)
{
    (void)x; // the forward kept its own CNHW copy in acts
    (void)t;
    unet_plan p;
    plan_make(&p, cfg, NULL, 0);
    const size_t D = p.C * p.H * p.W, n_par = round_up(p.n_params);
    const int blas = snet_blas_single_begin();
#pragma omp parallel for schedule(static) num_threads(shard_threads(B)) if (B > 1 && !omp_in_parallel())
    for (size_t s = 0; s < UNET_SHARDS; s++) {
        size_t b0 = shard_begin(B, s), n = shard_begin(B, s + 1) - b0;
        if (!n)
            continue;
        float *dp = dparams ? scratch + s * n_par : NULL; // this shard's parameter gradient
        if (dp)
            snet_zero(dp, p.n_params);
        backward_shard(&p, params, n, acts + shard_act_offset(&p, B, s), dout + b0 * D, dp,
                       dx ? dx + b0 * D : NULL, scratch + shard_scratch_offset(&p, B, s));
    }
    snet_blas_single_end(blas);
    if (dparams) { // the shards in order
#pragma omp parallel for schedule(static) if (p.n_params >= 65536)
        for (size_t i = 0; i < p.n_params; i++) {
            float acc = dparams[i];
            for (size_t s = 0; s < UNET_SHARDS; s++)
                if (shard_begin(B, s + 1) > shard_begin(B, s))
                    acc += scratch[s * n_par + i];
            dparams[i] = acc;
        }
    }
}

const snet_arch_ops snet_arch_unet = {
    .name = "unet",
    .validate = unet_validate,
    .n_params = unet_n_params,
    .init = unet_init,
    .act_size = unet_act_size,
    .scratch_size = unet_scratch_size,
    .forward = unet_forward,
    .backward = unet_backward,
    .tensors = unet_tensors,
    .forward_flops = unet_forward_flops,
};
