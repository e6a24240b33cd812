/* snet_mlp.c — the residual MLP score architecture (snet_arch_mlp).
 *
 * Time embedding (shared by all blocks):
 *   τ = the process's network time (scoresde_schedule_network_time: log σ(t) for VE, as the official
 *   NCSN++ feeds its Gaussian Fourier projection; t for VP and sub-VP);
 *   ff = [sin 2πWτ, cos 2πWτ]                       (B, 2F)   W (F) fixed, N(0, fourier_scale²)
 *   te = SiLU(ff · Wteᵀ + bte)                      (B, H)
 *   tp = te · Wtpᵀ + btp                            (B, nb·H) one GEMM for every block's projection
 * Trunk:
 *   h0 = x · Winᵀ + bin                             (B, H)
 *   block i:  a  = LayerNorm(h_i)  (or a = h_i without layer_norm)
 *             z1 = a · W1ᵀ + b1 + tp[:, iH:(i+1)H]  (B, H)  time enters before the non-linearity,
 *                                                           as in the DDPM/NCSN++ residual blocks
 *             h_{i+1} = h_i + SiLU(z1) · W2ᵀ + b2
 *   out = SiLU(h_nb) · Woutᵀ + bout                 (B, D)
 * Initialisation: Linear weights and biases U(±1/√fan_in) (PyTorch's default), the second Linear
 * of every block zero (each block starts as the identity, as DDPM's zero-initialised last conv),
 * LayerNorm weight 1 and bias 0, W ~ N(0, fourier_scale²).
 */
#include "snet.h"
#include "snet_layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the parameter table ---------------------------------------------------------------------- */

enum { MAX_BLOCKS = 64 };

typedef struct mlp_dims {
    size_t D, H, F, nb;
    int ln;
} mlp_dims;

static mlp_dims mlp_dims_of(const snet_config *cfg)
{
    mlp_dims d = {snet_config_dim(cfg), cfg->hidden, cfg->n_fourier, cfg->n_blocks, cfg->layer_norm != 0};
    return d;
}

/* Pointers into a flat buffer (parameters or their gradients); NULL base gives NULL pointers. */
typedef struct mlp_params {
    float *fourier;         // (F)
    float *te_w, *te_b;     // (H, 2F), (H)
    float *tp_w, *tp_b;     // (nb·H, H), (nb·H)
    float *in_w, *in_b;     // (H, D), (H)
    struct {
        float *ln_w, *ln_b; // (H), (H)    only with layer_norm
        float *fc1_w, *fc1_b; // (H, H), (H)
        float *fc2_w, *fc2_b; // (H, H), (H)
    } blk[MAX_BLOCKS];
    float *out_w, *out_b;   // (D, H), (D)
} mlp_params;

static void add_tensor(snet_tensor *table, size_t cap, size_t *n, size_t *offset, const char *name,
                       uint32_t rows, uint32_t cols, uint32_t trainable)
{
    if (table && *n < cap) {
        snet_tensor *e = &table[*n];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->ndim = cols ? 2 : 1;
        e->shape[0] = rows;
        e->shape[1] = cols ? cols : 1;
        e->shape[2] = e->shape[3] = 1;
        e->offset = *offset;
        e->size = (uint64_t)rows * (cols ? cols : 1);
        e->trainable = trainable;
    }
    *offset += (size_t)rows * (cols ? cols : 1);
    (*n)++;
}

static size_t mlp_tensors(const snet_config *cfg, snet_tensor *table, size_t cap)
{
    mlp_dims d = mlp_dims_of(cfg);
    size_t n = 0, off = 0;
    char name[SNET_NAME_MAX];
    add_tensor(table, cap, &n, &off, "fourier.W", (uint32_t)d.F, 0, 0);
    add_tensor(table, cap, &n, &off, "temb.w", (uint32_t)d.H, (uint32_t)(2 * d.F), 1);
    add_tensor(table, cap, &n, &off, "temb.b", (uint32_t)d.H, 0, 1);
    add_tensor(table, cap, &n, &off, "tproj.w", (uint32_t)(d.nb * d.H), (uint32_t)d.H, 1);
    add_tensor(table, cap, &n, &off, "tproj.b", (uint32_t)(d.nb * d.H), 0, 1);
    add_tensor(table, cap, &n, &off, "in.w", (uint32_t)d.H, (uint32_t)d.D, 1);
    add_tensor(table, cap, &n, &off, "in.b", (uint32_t)d.H, 0, 1);
    for (size_t i = 0; i < d.nb; i++) {
        if (d.ln) {
            snprintf(name, sizeof name, "blk%zu.ln.w", i);
            add_tensor(table, cap, &n, &off, name, (uint32_t)d.H, 0, 1);
            snprintf(name, sizeof name, "blk%zu.ln.b", i);
            add_tensor(table, cap, &n, &off, name, (uint32_t)d.H, 0, 1);
        }
        snprintf(name, sizeof name, "blk%zu.fc1.w", i);
        add_tensor(table, cap, &n, &off, name, (uint32_t)d.H, (uint32_t)d.H, 1);
        snprintf(name, sizeof name, "blk%zu.fc1.b", i);
        add_tensor(table, cap, &n, &off, name, (uint32_t)d.H, 0, 1);
        snprintf(name, sizeof name, "blk%zu.fc2.w", i);
        add_tensor(table, cap, &n, &off, name, (uint32_t)d.H, (uint32_t)d.H, 1);
        snprintf(name, sizeof name, "blk%zu.fc2.b", i);
        add_tensor(table, cap, &n, &off, name, (uint32_t)d.H, 0, 1);
    }
    add_tensor(table, cap, &n, &off, "out.w", (uint32_t)d.D, (uint32_t)d.H, 1);
    add_tensor(table, cap, &n, &off, "out.b", (uint32_t)d.D, 0, 1);
    return n;
}

static size_t mlp_n_params(const snet_config *cfg)
{
    mlp_dims d = mlp_dims_of(cfg);
    size_t per_block = (d.ln ? 2 * d.H : 0) + 2 * (d.H * d.H + d.H);
    return d.F + d.H * 2 * d.F + d.H + d.nb * d.H * d.H + d.nb * d.H + d.H * d.D + d.H +
           d.nb * per_block + d.D * d.H + d.D;
}

/* Lays the named pointers over base (buffer order as in mlp_tensors). */
static void mlp_params_map(mlp_params *p, const snet_config *cfg, float *base)
{
    mlp_dims d = mlp_dims_of(cfg);
    memset(p, 0, sizeof *p);
    if (!base)
        return;
    float *q = base;
    p->fourier = q, q += d.F;
    p->te_w = q, q += d.H * 2 * d.F;
    p->te_b = q, q += d.H;
    p->tp_w = q, q += d.nb * d.H * d.H;
    p->tp_b = q, q += d.nb * d.H;
    p->in_w = q, q += d.H * d.D;
    p->in_b = q, q += d.H;
    for (size_t i = 0; i < d.nb; i++) {
        if (d.ln) {
            p->blk[i].ln_w = q, q += d.H;
            p->blk[i].ln_b = q, q += d.H;
        }
        p->blk[i].fc1_w = q, q += d.H * d.H;
        p->blk[i].fc1_b = q, q += d.H;
        p->blk[i].fc2_w = q, q += d.H * d.H;
        p->blk[i].fc2_b = q, q += d.H;
    }
    p->out_w = q, q += d.D * d.H;
    p->out_b = q;
}

static int mlp_validate(const snet_config *cfg, scoresde_error *err)
{
    if (cfg->hidden < 1 || cfg->hidden > (1u << 16))
        return scoresde_error_fail(err, SNET_EINVAL, "mlp: hidden = %u, expected 1..65536", cfg->hidden);
    if (cfg->n_blocks > MAX_BLOCKS)
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "mlp: n_blocks = %u, expected 0..%d", cfg->n_blocks, MAX_BLOCKS);
    if (cfg->n_fourier < 1 || cfg->n_fourier > (1u << 14))
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "mlp: n_fourier = %u, expected 1..16384", cfg->n_fourier);
    if (!(cfg->fourier_scale > 0.0f) || !isfinite(cfg->fourier_scale))
        return scoresde_error_fail(err, SNET_EINVAL, "mlp: fourier_scale = %g, expected a positive number",
                                   (double)cfg->fourier_scale);
    if (cfg->layer_norm > 1)
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "mlp: layer_norm = %u, expected 0 or 1", cfg->layer_norm);
    return SNET_OK;
}

static void mlp_init(const snet_config *cfg, float *params, uint64_t seed)
{
    mlp_dims d = mlp_dims_of(cfg);
    snet_tensor table[4 + 3 + 6 * MAX_BLOCKS + 4];
    size_t n = mlp_tensors(cfg, table, sizeof table / sizeof table[0]);
    for (size_t k = 0; k < n; k++) {
        snet_tensor *e = &table[k];
        float *w = params + e->offset;
        /* one independent stream per tensor: seed and tensor index mixed (splitmix64 step) */
        uint64_t z = seed + 0x9E3779B97F4A7C15ull * (k + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        unsigned long s = (unsigned long)(z ^ (z >> 31));
        const char *name = e->name;
        size_t len = strlen(name);
        int is_bias = len >= 2 && strcmp(name + len - 2, ".b") == 0;
        if (strcmp(name, "fourier.W") == 0) {
            snet_fill_gaussian(w, e->size, cfg->fourier_scale, s);
        } else if (strstr(name, ".ln.")) {
            for (size_t i = 0; i < e->size; i++)
                w[i] = is_bias ? 0.0f : 1.0f;
        } else if (strstr(name, ".fc2.")) {
            snet_zero(w, e->size);
        } else {
            /* fan_in of a Linear is its weight's column count */
            size_t fan_in = strcmp(name, "temb.w") == 0 || strcmp(name, "temb.b") == 0 ? 2 * d.F
                            : strncmp(name, "in.", 3) == 0                              ? d.D
                                                                                        : d.H;
            snet_fill_uniform(w, e->size, 1.0f / sqrtf((float)fan_in), s);
        }
    }
}

static double mlp_forward_flops(const snet_config *cfg, size_t B)
{
    mlp_dims d = mlp_dims_of(cfg);
    double macs = (double)d.H * 2 * d.F + (double)d.nb * d.H * d.H + (double)d.H * d.D +
                  (double)d.nb * 2 * d.H * d.H + (double)d.D * d.H;
    return 2.0 * macs * (double)B;
}

/* ---- activations ------------------------------------------------------------------------------- */

typedef struct mlp_acts {
    float *tau;          // (B)
    float *ff;           // (B, 2F)
    float *te_pre, *te;  // (B, H), (B, H)
    float *tp;           // (B, nb·H)
    float *h;            // (nb+1, B, H) residual stream h_0..h_nb
    float *ln;           // (nb, B, H)   LayerNorm outputs (only with layer_norm)
    float *ln_mean, *ln_rstd; // (nb, B)
    float *z1, *s1;      // (nb, B, H) each
    float *hs;           // (B, H)      SiLU(h_nb)
} mlp_acts;

static size_t mlp_acts_map(mlp_acts *a, const snet_config *cfg, size_t B, float *base)
{
    mlp_dims d = mlp_dims_of(cfg);
    size_t BH = B * d.H, off = 0;
#define TAKE(field, count)                                   \
    do {                                                     \
        if (a)                                               \
            a->field = base ? base + off : NULL;             \
        off += (count);                                      \
    } while (0)
    TAKE(tau, B);
    TAKE(ff, B * 2 * d.F);
    TAKE(te_pre, BH);
    TAKE(te, BH);
    TAKE(tp, d.nb * BH);
    TAKE(h, (d.nb + 1) * BH);
    TAKE(ln, d.ln ? d.nb * BH : 0);
    TAKE(ln_mean, d.ln ? d.nb * B : 0);
    TAKE(ln_rstd, d.ln ? d.nb * B : 0);
    TAKE(z1, d.nb * BH);
    TAKE(s1, d.nb * BH);
    TAKE(hs, BH);
#undef TAKE
    return off;
}

static size_t mlp_act_size(const snet_config *cfg, size_t B)
{
    return mlp_acts_map(NULL, cfg, B, NULL);
}

static size_t mlp_scratch_size(const snet_config *cfg, size_t B)
{
    mlp_dims d = mlp_dims_of(cfg);
    /* dh, dtmp (B,H): residual gradient and a block-internal one; da (B,H); dtp (B, nb·H);
     * dte, dte_pre (B,H) */
    return 5 * B * d.H + B * d.nb * d.H;
}

/* τ: the scalar fed to the Fourier features (see the file comment). */
static void mlp_time_input(const snet_config *cfg, size_t B, const float *t, float *tau)
{
    scoresde_schedule s = snet_config_schedule(cfg);
    for (size_t b = 0; b < B; b++)
        tau[b] = (float)scoresde_schedule_network_time(&s, (double)t[b]);
}

/* Whether all n times are the same number. */
static int times_all_equal(const float *t, size_t n)
{
    for (size_t b = 1; b < n; b++)
        if (t[b] != t[0])
            return 0;
    return 1;
}

/* Copies row 0 of m (rows, cols) into rows 1..rows−1. */
static void broadcast_row(float *m, size_t rows, size_t cols)
{
    for (size_t b = 1; b < rows; b++)
        memcpy(m + b * cols, m, cols * sizeof *m);
}

/* The time path τ → ff → te → tp for B rows. When all rows share one t (the PC, SDE and annealed
 * Langevin samplers, a joint ODE solve) it runs on one row and the rows are copied: the path is
 * 25–37 % of the forward's FLOPs in the shipped MLPs. The one-row products run on sgemv, whose last
 * bits differ from a batched sgemm's (docs/reproducibility.md: batch sizes agree to rounding).
 * Rows are not grouped by distinct t beyond that: in the per-sample rk45 solve, the one mode whose
 * rows carry different times, 89–95 % of the rows of a call have a time of their own (measured on
 * the 2-D mixture, VP, 64 and 1000 samples, rtol 1e-3 and 1e-5), so grouping would save at most
 * a tenth of the time path; the samplers on one time grid (PC, SDE, the fast samplers, a joint
 * ODE solve) already take the one-row path. */
static void mlp_time_forward(const snet_config *cfg, const mlp_dims *d, const mlp_params *p,
                             const mlp_acts *a, size_t B, const float *t)
{
    const size_t rows = B > 1 && times_all_equal(t, B) ? 1 : B;
    mlp_time_input(cfg, rows, t, a->tau);
    snet_fourier_forward(a->ff, a->tau, p->fourier, rows, d->F);                  // (rows, 2F)
    snet_linear_forward(a->te_pre, a->ff, p->te_w, p->te_b, rows, 2 * d->F, d->H); // (rows, H)
    snet_silu_forward(a->te, a->te_pre, rows * d->H);
    if (d->nb)
        snet_linear_forward(a->tp, a->te, p->tp_w, p->tp_b, rows, d->H, d->nb * d->H); // (rows, nb·H)
    if (rows == B)
        return;
    broadcast_row(a->tau, B, 1); // the backward reads every row of these
    broadcast_row(a->ff, B, 2 * d->F);
    broadcast_row(a->te_pre, B, d->H);
    broadcast_row(a->te, B, d->H);
    if (d->nb)
        broadcast_row(a->tp, B, d->nb * d->H);
}

static void mlp_forward(const snet_config *cfg, const float *params, size_t B, const float *x,
                        const float *t, float *out, float *acts)
{
    mlp_dims d = mlp_dims_of(cfg);
    mlp_params p;
    mlp_params_map(&p, cfg, (float *)params);
    mlp_acts a;
    mlp_acts_map(&a, cfg, B, acts);
    size_t BH = B * d.H;

    mlp_time_forward(cfg, &d, &p, &a, B, t);
    snet_linear_forward(a.h, x, p.in_w, p.in_b, B, d.D, d.H); // h0 (B, H)
    for (size_t i = 0; i < d.nb; i++) {
        float *h_in = a.h + i * BH, *h_out = a.h + (i + 1) * BH; // (B, H)
        float *z1 = a.z1 + i * BH, *s1 = a.s1 + i * BH;          // (B, H)
        const float *ain = h_in;
        if (d.ln) {
            float *ln = a.ln + i * BH;
            snet_layernorm_forward(ln, a.ln_mean + i * B, a.ln_rstd + i * B, h_in, p.blk[i].ln_w,
                                   p.blk[i].ln_b, B, d.H);
            ain = ln;
        }
        // z1 = tp_i + b1 + a·W1ᵀ ; h_out = h_in + b2 + s1·W2ᵀ (sums started, then one sgemm each)
        snet_rows_plus_bias(z1, a.tp + i * d.H, d.nb * d.H, p.blk[i].fc1_b, B, d.H);
        snet_linear_forward_add(z1, ain, p.blk[i].fc1_w, B, d.H, d.H);
        snet_silu_forward(s1, z1, BH);
        snet_rows_plus_bias(h_out, h_in, d.H, p.blk[i].fc2_b, B, d.H);
        snet_linear_forward_add(h_out, s1, p.blk[i].fc2_w, B, d.H, d.H);
    }
    snet_silu_forward(a.hs, a.h + d.nb * BH, BH);
    snet_linear_forward(out, a.hs, p.out_w, p.out_b, B, d.H, d.D); // (B, D)
}

/* The time path's parameter gradients from dtp = ∂L/∂tp (B, nb·H) (τ is not differentiated);
 * dte, dte_pre (B, H) are scratch. */
static void mlp_time_backward(const mlp_dims *d, const mlp_params *p, const mlp_params *g,
                              const mlp_acts *a, size_t B, const float *dtp, float *dte,
                              float *dte_pre)
{
    size_t BH = B * d->H;
    if (!d->nb)
        return;
    snet_zero(dte, BH);
    snet_linear_backward(dte, g->tp_w, g->tp_b, dtp, a->te, p->tp_w, B, d->H, d->nb * d->H);
    snet_zero(dte_pre, BH);
    snet_silu_backward(dte_pre, dte, a->te_pre, BH);
    snet_linear_backward(NULL, g->te_w, g->te_b, dte_pre, a->ff, p->te_w, B, 2 * d->F, d->H);
}

static void mlp_backward(const snet_config *cfg, const float *params, size_t B, const float *x,
                         const float *t, const float *acts, const float *dout, float *dparams,
                         float *dx, float *scratch)
{
    (void)t;
    mlp_dims d = mlp_dims_of(cfg);
    mlp_params p, g;
    mlp_params_map(&p, cfg, (float *)params);
    mlp_params_map(&g, cfg, dparams); // all NULL when dparams is NULL
    mlp_acts a;
    mlp_acts_map(&a, cfg, B, (float *)acts);
    size_t BH = B * d.H;
    float *dh = scratch;        // (B, H) gradient of the residual stream
    float *dtmp = dh + BH;      // (B, H) gradient of hs, then of s1
    float *dz1 = dtmp + BH;     // (B, H)
    float *da = dz1 + BH;       // (B, H) gradient of the LayerNorm output
    float *dte = da + BH;       // (B, H)
    float *dtp = dte + BH;      // (B, nb·H)
    float *dte_pre = dtmp;      // reuses dtmp once the trunk is done

    snet_zero(dtmp, BH);
    snet_linear_backward(dtmp, g.out_w, g.out_b, dout, a.hs, p.out_w, B, d.H, d.D);
    snet_zero(dh, BH);
    snet_silu_backward(dh, dtmp, a.h + d.nb * BH, BH);
    if (dparams && d.nb)
        snet_zero(dtp, B * d.nb * d.H);
    for (size_t i = d.nb; i-- > 0;) {
        const float *h_in = a.h + i * BH, *z1 = a.z1 + i * BH, *s1 = a.s1 + i * BH;
        // h_out = h_in + fc2(s1): dh already is ∂L/∂h_in through the skip
        snet_zero(dtmp, BH);
        snet_linear_backward(dtmp, g.blk[i].fc2_w, g.blk[i].fc2_b, dh, s1, p.blk[i].fc2_w, B, d.H, d.H);
        snet_zero(dz1, BH);
        snet_silu_backward(dz1, dtmp, z1, BH);
        if (dparams)
            snet_add_block(dtp + i * d.H, d.nb * d.H, dz1, d.H, B, d.H);
        if (d.ln) {
            snet_zero(da, BH);
            snet_linear_backward(da, g.blk[i].fc1_w, g.blk[i].fc1_b, dz1, a.ln + i * BH,
                                 p.blk[i].fc1_w, B, d.H, d.H);
            snet_layernorm_backward(dh, g.blk[i].ln_w, g.blk[i].ln_b, da, h_in, p.blk[i].ln_w,
                                    a.ln_mean + i * B, a.ln_rstd + i * B, B, d.H);
        } else {
            snet_linear_backward(dh, g.blk[i].fc1_w, g.blk[i].fc1_b, dz1, h_in, p.blk[i].fc1_w, B,
                                 d.H, d.H);
        }
    }
    if (dx) {
        snet_zero(dx, B * d.D);
        snet_linear_backward(dx, g.in_w, g.in_b, dh, x, p.in_w, B, d.D, d.H);
    } else if (dparams) {
        snet_linear_backward(NULL, g.in_w, g.in_b, dh, x, p.in_w, B, d.D, d.H);
    }
    if (dparams)
        mlp_time_backward(&d, &p, &g, &a, B, dtp, dte, dte_pre);
}

/* ---- the tangent pass (forward-mode in x) and its backward ------------------------------------------
 * With v the direction, time constant (its tangent is 0), ḣ etc. the tangents:
 *   ḣ0 = v · Winᵀ
 *   block i:  ȧ  = LayerNorm-tangent(h_i, ḣ_i)  (or ȧ = ḣ_i)
 *             ż1 = ȧ · W1ᵀ,  ṡ1 = silu'(z1) ⊙ ż1,  ḣ_{i+1} = ḣ_i + ṡ1 · W2ᵀ
 *   ḣs = silu'(h_nb) ⊙ ḣ_nb,  tout = ḣs · Woutᵀ
 * The backward runs through both passes at once: each Linear's weight gets doutᵀ·in from the
 * primal and dtoutᵀ·tangent_in from the tangent path (its bias only the former); each tangent
 * non-linearity sends second-order terms into the primal gradient (snet_silu_tangent_backward,
 * snet_layernorm_tangent_backward). */

/* The tangent activations, after the primal ones (mlp_acts) in the same buffer. */
typedef struct mlp_tangent_acts {
    float *th;   // (nb+1, B, H) ḣ_0..ḣ_nb
    float *tln;  // (nb, B, H)   ȧ, the LayerNorm tangents (only with layer_norm)
    float *tz1;  // (nb, B, H)   ż1
    float *ts1;  // (nb, B, H)   ṡ1
    float *ths;  // (B, H)       ḣs
} mlp_tangent_acts;

static size_t mlp_tangent_acts_map(mlp_tangent_acts *a, const snet_config *cfg, size_t B, float *base)
{
    mlp_dims d = mlp_dims_of(cfg);
    size_t BH = B * d.H, off = mlp_act_size(cfg, B);
#define TAKE(field, count)                                   \
    do {                                                     \
        if (a)                                               \
            a->field = base ? base + off : NULL;             \
        off += (count);                                      \
    } while (0)
    TAKE(th, (d.nb + 1) * BH);
    TAKE(tln, d.ln ? d.nb * BH : 0);
    TAKE(tz1, d.nb * BH);
    TAKE(ts1, d.nb * BH);
    TAKE(ths, BH);
#undef TAKE
    return off;
}

static size_t mlp_tangent_act_size(const snet_config *cfg, size_t B)
{
    return mlp_tangent_acts_map(NULL, cfg, B, NULL);
}

static size_t mlp_tangent_scratch_size(const snet_config *cfg, size_t B)
{
    mlp_dims d = mlp_dims_of(cfg);
    /* dh, dth (B,H): primal and tangent residual gradients; dtmp, dttmp (B,H): of s1/ṡ1, then of
     * a/ȧ; dz1, dtz1 (B,H); dte (B,H); dtp (B, nb·H) */
    return 7 * B * d.H + B * d.nb * d.H;
}

static void mlp_tangent_forward(const snet_config *cfg, const float *params, size_t B,
                                const float *x, const float *t, const float *v, float *out,
                                float *tout, float *acts)
{
    mlp_forward(cfg, params, B, x, t, out, acts);
    mlp_dims d = mlp_dims_of(cfg);
    mlp_params p;
    mlp_params_map(&p, cfg, (float *)params);
    mlp_acts a;
    mlp_acts_map(&a, cfg, B, acts);
    mlp_tangent_acts ta;
    mlp_tangent_acts_map(&ta, cfg, B, acts);
    size_t BH = B * d.H;

    snet_linear_forward(ta.th, v, p.in_w, NULL, B, d.D, d.H); // ḣ0 (B, H)
    for (size_t i = 0; i < d.nb; i++) {
        const float *h_in = a.h + i * BH, *th_in = ta.th + i * BH; // (B, H)
        float *th_out = ta.th + (i + 1) * BH;                      // (B, H)
        float *tz1 = ta.tz1 + i * BH, *ts1 = ta.ts1 + i * BH;      // (B, H)
        const float *tain = th_in;
        if (d.ln) {
            float *tln = ta.tln + i * BH;
            snet_layernorm_tangent_forward(tln, th_in, h_in, p.blk[i].ln_w, a.ln_mean + i * B,
                                           a.ln_rstd + i * B, B, d.H);
            tain = tln;
        }
        snet_linear_forward(tz1, tain, p.blk[i].fc1_w, NULL, B, d.H, d.H);
        snet_silu_tangent_forward(ts1, tz1, a.z1 + i * BH, BH);
        memcpy(th_out, th_in, BH * sizeof *th_out);
        snet_linear_forward_add(th_out, ts1, p.blk[i].fc2_w, B, d.H, d.H);
    }
    snet_silu_tangent_forward(ta.ths, ta.th + d.nb * BH, a.h + d.nb * BH, BH);
    snet_linear_forward(tout, ta.ths, p.out_w, NULL, B, d.H, d.D); // (B, D)
}

static void mlp_tangent_backward(const snet_config *cfg, const float *params, size_t B,
                                 const float *x, const float *t, const float *v, const float *acts,
                                 const float *dout, const float *dtout, float *dparams,
                                 float *scratch)
{
    (void)t;
    if (!dparams)
        return; // no input gradient in this contract: nothing to compute
    mlp_dims d = mlp_dims_of(cfg);
    mlp_params p, g;
    mlp_params_map(&p, cfg, (float *)params);
    mlp_params_map(&g, cfg, dparams);
    mlp_acts a;
    mlp_acts_map(&a, cfg, B, (float *)acts);
    mlp_tangent_acts ta;
    mlp_tangent_acts_map(&ta, cfg, B, (float *)acts);
    size_t BH = B * d.H;
    float *dh = scratch;       // (B, H) ∂L/∂h, the primal residual stream
    float *dth = dh + BH;      // (B, H) ∂L/∂ḣ, the tangent residual stream
    float *dtmp = dth + BH;    // (B, H) ∂L/∂hs, ∂L/∂s1, then ∂L/∂a
    float *dttmp = dtmp + BH;  // (B, H) ∂L/∂ḣs, ∂L/∂ṡ1, then ∂L/∂ȧ
    float *dz1 = dttmp + BH;   // (B, H)
    float *dtz1 = dz1 + BH;    // (B, H)
    float *dte = dtz1 + BH;    // (B, H)
    float *dtp = dte + BH;     // (B, nb·H)
    float *dte_pre = dtmp;     // reuses dtmp once the trunk is done

    // out = hs·Woutᵀ + bout, tout = ḣs·Woutᵀ; hs = silu(h_nb), ḣs = silu'(h_nb) ⊙ ḣ_nb
    snet_zero(dtmp, BH);
    snet_linear_backward(dtmp, g.out_w, g.out_b, dout, a.hs, p.out_w, B, d.H, d.D);
    snet_zero(dttmp, BH);
    snet_linear_backward(dttmp, g.out_w, NULL, dtout, ta.ths, p.out_w, B, d.H, d.D);
    const float *h_nb = a.h + d.nb * BH;
    snet_zero(dh, BH);
    snet_zero(dth, BH);
    snet_silu_backward(dh, dtmp, h_nb, BH);
    snet_silu_tangent_backward(dh, dth, dttmp, ta.th + d.nb * BH, h_nb, BH);
    if (d.nb)
        snet_zero(dtp, B * d.nb * d.H);
    for (size_t i = d.nb; i-- > 0;) {
        const float *h_in = a.h + i * BH, *z1 = a.z1 + i * BH, *s1 = a.s1 + i * BH;
        const float *th_in = ta.th + i * BH, *tz1 = ta.tz1 + i * BH, *ts1 = ta.ts1 + i * BH;
        // the skips: dh, dth already are ∂L/∂h_in, ∂L/∂ḣ_in through them
        snet_zero(dtmp, BH);
        snet_linear_backward(dtmp, g.blk[i].fc2_w, g.blk[i].fc2_b, dh, s1, p.blk[i].fc2_w, B, d.H, d.H);
        snet_zero(dttmp, BH);
        snet_linear_backward(dttmp, g.blk[i].fc2_w, NULL, dth, ts1, p.blk[i].fc2_w, B, d.H, d.H);
        snet_zero(dz1, BH);
        snet_zero(dtz1, BH);
        snet_silu_backward(dz1, dtmp, z1, BH);
        snet_silu_tangent_backward(dz1, dtz1, dttmp, tz1, z1, BH);
        snet_add_block(dtp + i * d.H, d.nb * d.H, dz1, d.H, B, d.H); // time enters z1 only
        const float *ain = d.ln ? a.ln + i * BH : h_in, *tain = d.ln ? ta.tln + i * BH : th_in;
        if (d.ln) {
            snet_zero(dtmp, BH);
            snet_zero(dttmp, BH);
        }
        // without LayerNorm a = h_in, ȧ = ḣ_in: the gradients go straight into dh, dth
        float *da = d.ln ? dtmp : dh, *dta = d.ln ? dttmp : dth;
        snet_linear_backward(da, g.blk[i].fc1_w, g.blk[i].fc1_b, dz1, ain, p.blk[i].fc1_w, B, d.H, d.H);
        snet_linear_backward(dta, g.blk[i].fc1_w, NULL, dtz1, tain, p.blk[i].fc1_w, B, d.H, d.H);
        if (d.ln) {
            const float *mean = a.ln_mean + i * B, *rstd = a.ln_rstd + i * B;
            snet_layernorm_backward(dh, g.blk[i].ln_w, g.blk[i].ln_b, da, h_in, p.blk[i].ln_w,
                                    mean, rstd, B, d.H);
            snet_layernorm_tangent_backward(dh, dth, g.blk[i].ln_w, dta, th_in, h_in,
                                            p.blk[i].ln_w, mean, rstd, B, d.H);
        }
    }
    // h0 = x·Winᵀ + bin, ḣ0 = v·Winᵀ
    snet_linear_backward(NULL, g.in_w, g.in_b, dh, x, p.in_w, B, d.D, d.H);
    snet_linear_backward(NULL, g.in_w, NULL, dth, v, p.in_w, B, d.D, d.H);
    mlp_time_backward(&d, &p, &g, &a, B, dtp, dte, dte_pre); // from the primal pass only
}

const snet_arch_ops snet_arch_mlp = {
    .name = "mlp",
    .validate = mlp_validate,
    .n_params = mlp_n_params,
    .init = mlp_init,
    .act_size = mlp_act_size,
    .scratch_size = mlp_scratch_size,
    .forward = mlp_forward,
    .backward = mlp_backward,
    .tensors = mlp_tensors,
    .forward_flops = mlp_forward_flops,
    .tangent_act_size = mlp_tangent_act_size,
    .tangent_scratch_size = mlp_tangent_scratch_size,
    .tangent_forward = mlp_tangent_forward,
    .tangent_backward = mlp_tangent_backward,
};
