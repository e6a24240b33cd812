/* slv_sde_sra.c — Rößler's SRA methods for additive noise, dX = f(t, X) dt + Σ_k b_k(t) dW_k
 * (SIAM J. Numer. Anal. 48(3), 922–952, 2010, whose tableaus these are; docs/solvers-sde.md).
 *
 * With J_k = I₍₁,₀₎/|h| = ΔW_k/2 + H_k (H the space-time Lévy area of the Brownian tree):
 *   stages  Hᵢ = y₀ + h Σ_{j<i} A0ᵢⱼ f(t + c0ⱼh, Hⱼ) + Σ_{j<i} B0ᵢⱼ b(t + c1ⱼh)·J
 *   y₁ = y₀ + h Σᵢ αᵢ fᵢ + Σᵢ (β1ᵢ b(t + c1ᵢh)·ΔW + β2ᵢ b(t + c1ᵢh)·J)
 * b is evaluated once per distinct time t + c1ⱼh (SRA1 and SRA3: t + h and t), with n = 1 and
 * x = NULL. Any noise shape works, including a general d×m matrix.
 *
 * Embedded error estimate: the difference to the order-1.0 member with Euler's drift and only
 * the ΔW terms, y₀ + h f₁ + Σ β1ᵢ bᵢ·ΔW, split as
 *   E₁ = h Σᵢ αᵢ (fᵢ − f₁)   (deterministic stages),   E₂ = Σᵢ β2ᵢ bᵢ·J   (for SRA1: J(b(t) − b(t+h))),
 * and reported as |E₁| + |E₂| per component.
 */
#include <math.h>
#include <string.h>

#include "slv_sde_impl.h"

#define SRA_MAX_STAGES 3

typedef struct sra_tableau {
    int stages;
    double c0[SRA_MAX_STAGES], c1[SRA_MAX_STAGES];
    double A0[SRA_MAX_STAGES][SRA_MAX_STAGES], B0[SRA_MAX_STAGES][SRA_MAX_STAGES];
    double alpha[SRA_MAX_STAGES], beta1[SRA_MAX_STAGES], beta2[SRA_MAX_STAGES];
} sra_tableau;

/* SRA1: 2 drift evaluations, diffusion at t and t + h. */
static const sra_tableau sra1_tableau = {
    .stages = 2,
    .c0 = {0.0, 0.75},
    .c1 = {1.0, 0.0},
    .A0 = {{0.0}, {0.75}},
    .B0 = {{0.0}, {1.5}},
    .alpha = {1.0 / 3.0, 2.0 / 3.0},
    .beta1 = {1.0, 0.0},
    .beta2 = {-1.0, 1.0},
};

/* SRA3: 3 drift evaluations, deterministic order 3; diffusion at t + h and t. β2 = (−1, 1, 0):
 * the sign that satisfies β2·c1 = −1 (the flipped sign of one public table loses order 1.5
 * whenever b depends on t). */
static const sra_tableau sra3_tableau = {
    .stages = 3,
    .c0 = {0.0, 1.0, 0.5},
    .c1 = {1.0, 0.0, 0.0},
    .A0 = {{0.0}, {1.0}, {0.25, 0.25}},
    .B0 = {{0.0}, {0.0}, {1.0, 0.5}},
    .alpha = {1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0},
    .beta1 = {1.0, 0.0, 0.0},
    .beta2 = {-1.0, 1.0, 0.0},
};

/* slot[j]: index of the distinct diffusion time t + c1ⱼh used by stage j; returns their count. */
static int sra_slots(const sra_tableau *tab, int slot[SRA_MAX_STAGES])
{
    int n_slots = 0;
    for (int j = 0; j < tab->stages; j++) {
        slot[j] = -1;
        for (int i = 0; i < j; i++)
            if (tab->c1[i] == tab->c1[j]) {
                slot[j] = slot[i];
                break;
            }
        if (slot[j] < 0)
            slot[j] = n_slots++;
    }
    return n_slots;
}

/* Workspace: f (s, n, d), stage (n, d), y (n, d), J (n, m), bW and bJ (slots, n, d), b (slots, row). */
static size_t sra_work_size_tab(const sra_tableau *tab, const slv_sde *sys, size_t n)
{
    int slot[SRA_MAX_STAGES];
    size_t slots = (size_t)sra_slots(tab, slot);
    size_t nd = n * sys->dim;
    return (size_t)tab->stages * nd + 2 * nd + n * sys->noise_dim + 2 * slots * nd +
           slots * slv_sde_diffusion_row(sys);
}

static int sra_apply_tab(const slv_sde_step_type *type, const sra_tableau *tab,
                         const slv_sde *sys, double t, double h, size_t n, double *x,
                         const double *dW, const double *H, double *err_out, double *work,
                         size_t *n_drift, size_t *n_diffusion, slv_error *err, int threads)
{
    const char *name = type->name;
    int rc = slv_sde_check_method(type, sys, err);
    if (rc != SLV_OK)
        return rc;
    if (H == NULL)
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: needs the Lévy areas H, got NULL", name);
    const size_t d = sys->dim, m = sys->noise_dim, nd = n * d, row = slv_sde_diffusion_row(sys);
    const slv_noise_type noise = sys->noise;
    const int s = tab->stages;
    int slot[SRA_MAX_STAGES];
    const int n_slots = sra_slots(tab, slot);

    double *f[SRA_MAX_STAGES];            /* (n, d) drift of each stage */
    for (int i = 0; i < s; i++)
        f[i] = work + (size_t)i * nd;
    double *stage = work + (size_t)s * nd; /* (n, d) */
    double *y = stage + nd;                /* (n, d) */
    double *J = y + nd;                    /* (n, m) */
    double *bW = J + n * m;                /* (slots, n, d) b·ΔW */
    double *bJ = bW + (size_t)n_slots * nd; /* (slots, n, d) b·J */
    double *b = bJ + (size_t)n_slots * nd; /* (slots, row) */

    const int nt = slv_sde_team(threads, nd, SLV_OMP_GRAIN_NUMBERS);
    /* b·ΔW and b·J: two numbers per entry, m multiply-adds each for general noise. */
    const int nt_b = slv_sde_team(threads, 2 * (noise == SLV_NOISE_GENERAL ? nd * m : nd),
                                  SLV_OMP_GRAIN_NUMBERS);

    for (size_t e = 0; e < n * m; e++)
        J[e] = 0.5 * dW[e] + H[e];
    int evaluated[SRA_MAX_STAGES] = {0};
    for (int j = 0; j < s; j++) {
        if (evaluated[slot[j]])
            continue; /* this time was evaluated for an earlier stage */
        evaluated[slot[j]] = 1;
        double *bu = b + (size_t)slot[j] * row;
        rc = slv_sde_call_diffusion(name, sys, 0, t + tab->c1[j] * h, n, NULL, bu, n_diffusion,
                                    err);
        if (rc != SLV_OK)
            return rc;
        double *bWu = bW + (size_t)slot[j] * nd, *bJu = bJ + (size_t)slot[j] * nd;
#pragma omp parallel for num_threads(nt_b) schedule(static) if (nt_b > 1)
        for (size_t p = 0; p < n; p++)
            for (size_t i = 0; i < d; i++) {
                bWu[p * d + i] = slv_sde_noise_dot(noise, m, bu, dW + p * m, i);
                bJu[p * d + i] = slv_sde_noise_dot(noise, m, bu, J + p * m, i);
            }
    }

    for (int i = 0; i < s; i++) {
        const double *in = x;
        if (i > 0) {
            const double *Ai = tab->A0[i], *Bi = tab->B0[i];
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
            for (size_t e = 0; e < nd; e++) {
                double drift = 0.0, noise_sum = 0.0;
                for (int j = 0; j < i; j++) {
                    if (Ai[j] != 0.0)
                        drift += Ai[j] * f[j][e];
                    if (Bi[j] != 0.0)
                        noise_sum += Bi[j] * bJ[(size_t)slot[j] * nd + e];
                }
                stage[e] = x[e] + h * drift + noise_sum;
            }
            in = stage;
        }
        rc = slv_sde_call_drift(name, sys, t + tab->c0[i] * h, n, in, f[i], n_drift, err);
        if (rc != SLV_OK)
            return rc;
    }

#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t e = 0; e < nd; e++) {
        double drift = 0.0, noise_w = 0.0, noise_j = 0.0;
        for (int i = 0; i < s; i++) {
            drift += tab->alpha[i] * f[i][e];
            if (tab->beta1[i] != 0.0)
                noise_w += tab->beta1[i] * bW[(size_t)slot[i] * nd + e];
            if (tab->beta2[i] != 0.0)
                noise_j += tab->beta2[i] * bJ[(size_t)slot[i] * nd + e];
        }
        y[e] = x[e] + h * drift + noise_w + noise_j;
        stage[e] = noise_j; /* E₂, kept for the error estimate */
    }
    if ((rc = slv_sde_check_state(name, t + h, n, d, y, err)) != SLV_OK)
        return rc;
    if (err_out != NULL) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t e = 0; e < nd; e++) {
            double e1 = 0.0;
            for (int i = 1; i < s; i++)
                e1 += tab->alpha[i] * (f[i][e] - f[0][e]);
            err_out[e] = fabs(h * e1) + fabs(stage[e]);
        }
    }
    memcpy(x, y, nd * sizeof(double));
    return SLV_OK;
}

/* ---- SRA1 ---------------------------------------------------------------------------------- */

static size_t sra1_work_size(const slv_sde *sys, size_t n)
{
    return sra_work_size_tab(&sra1_tableau, sys, n);
}

static int sra1_apply(const slv_sde *sys, double t, double h, size_t n, double *x,
                      const double *dW, const double *H, double *err_out, double *work,
                      size_t *n_drift, size_t *n_diffusion, slv_error *err, int threads)
{
    return sra_apply_tab(&slv_sde_step_sra1_type, &sra1_tableau, sys, t, h, n, x, dW, H, err_out,
                         work, n_drift, n_diffusion, err, threads);
}

const slv_sde_step_type slv_sde_step_sra1_type = {
    .name = "sra1",
    .strong_order = 1.5,
    .weak_order = 2.0,
    .noise_support = SLV_NOISE_SCALAR | SLV_NOISE_DIAGONAL | SLV_NOISE_GENERAL,
    .needs_additive = 1,
    .needs_levy_area = 1,
    .has_error_estimate = 1,
    .work_size = sra1_work_size,
    .apply = sra1_apply,
};

/* ---- SRA3 ---------------------------------------------------------------------------------- */

static size_t sra3_work_size(const slv_sde *sys, size_t n)
{
    return sra_work_size_tab(&sra3_tableau, sys, n);
}

static int sra3_apply(const slv_sde *sys, double t, double h, size_t n, double *x,
                      const double *dW, const double *H, double *err_out, double *work,
                      size_t *n_drift, size_t *n_diffusion, slv_error *err, int threads)
{
    return sra_apply_tab(&slv_sde_step_sra3_type, &sra3_tableau, sys, t, h, n, x, dW, H, err_out,
                         work, n_drift, n_diffusion, err, threads);
}

const slv_sde_step_type slv_sde_step_sra3_type = {
    .name = "sra3",
    .strong_order = 1.5,
    .weak_order = 3.0,
    .noise_support = SLV_NOISE_SCALAR | SLV_NOISE_DIAGONAL | SLV_NOISE_GENERAL,
    .needs_additive = 1,
    .needs_levy_area = 1,
    .has_error_estimate = 1,
    .work_size = sra3_work_size,
    .apply = sra3_apply,
};
