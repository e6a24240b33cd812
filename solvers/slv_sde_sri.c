/* slv_sde_sri.c — Rößler's SRI methods SRIW1 and SRIW2 for scalar and diagonal noise
 * (SIAM J. Numer. Anal. 48(3), 922–952, 2010, whose tableaus these are; docs/solvers-sde.md).
 *
 * For each component (driven by W = its own Wiener process, or the single one for scalar noise),
 * with ΔW, J = I₍₁,₀₎/|h| = ΔW/2 + H, χ₁ = I₍₁,₁₎/√|h| = (ΔW² − |h|)/(2√|h|),
 * χ₃ = I₍₁,₁,₁₎/|h| = (ΔW³ − 3|h|ΔW)/(6|h|):
 *   H0ᵢ = y₀ + h Σ_{j<i} A0ᵢⱼ fⱼ + J Σ_{j<i} B0ᵢⱼ gⱼ,    fⱼ = f(t + c0ⱼh, H0ⱼ)
 *   H1ᵢ = y₀ + h Σ_{j<i} A1ᵢⱼ fⱼ + √|h| Σ_{j<i} B1ᵢⱼ gⱼ, gⱼ = g(t + c1ⱼh, H1ⱼ)
 *   y₁ = y₀ + h Σ αᵢ fᵢ + Σ gᵢ (β1ᵢ ΔW + β2ᵢ χ₁ + β3ᵢ J + β4ᵢ χ₃)
 * A stage is evaluated only if something uses it, and a drift stage whose argument is y₀ at
 * time t + c0₁h (all its coefficients zero, same c0 as stage 1) reuses f₁: SRIW1 costs 2 drift +
 * 4 diffusion calls, SRIW2 3 + 4.
 *
 * Order 1.5 needs g_k to depend on (t, x_k) only for diagonal noise (no mixed iterated
 * integrals are formed); with coupled diagonal noise the order drops.
 *
 * Embedded error estimate (the Rackauckas–Nie split, "Adaptive methods for SDEs via natural
 * embeddings", 2017): the stochastic part E₂ = Σ gᵢ(β3ᵢ J + β4ᵢ χ₃) is what the order-1.5 method
 * adds to its order-1.0 member; the deterministic part is taken as the difference of the drift
 * quadrature to Euler's, E₁ = h Σ αᵢ (fᵢ − f₁) (for SRIW1: (2/3) h (f₂ − f₁)). Reported as
 * |E₁| + |E₂| per component.
 */
#include <math.h>
#include <string.h>

#include "slv_sde_impl.h"

#define SRI_STAGES 4

typedef struct sri_tableau {
    double c0[SRI_STAGES], c1[SRI_STAGES];
    double A0[SRI_STAGES][SRI_STAGES], B0[SRI_STAGES][SRI_STAGES];
    double A1[SRI_STAGES][SRI_STAGES], B1[SRI_STAGES][SRI_STAGES];
    double alpha[SRI_STAGES];
    double beta1[SRI_STAGES], beta2[SRI_STAGES], beta3[SRI_STAGES], beta4[SRI_STAGES];
} sri_tableau;

static const sri_tableau sriw1_tableau = {
    .c0 = {0.0, 0.75, 0.0, 0.0},
    .c1 = {0.0, 0.25, 1.0, 0.25},
    .A0 = {{0.0}, {0.75}, {0.0}, {0.0}},
    .B0 = {{0.0}, {1.5}, {0.0}, {0.0}},
    .A1 = {{0.0}, {0.25}, {1.0}, {0.0, 0.0, 0.25}},
    .B1 = {{0.0}, {0.5}, {-1.0}, {-5.0, 3.0, 0.5}},
    .alpha = {1.0 / 3.0, 2.0 / 3.0, 0.0, 0.0},
    .beta1 = {-1.0, 4.0 / 3.0, 2.0 / 3.0, 0.0},
    .beta2 = {-1.0, 4.0 / 3.0, -1.0 / 3.0, 0.0},
    .beta3 = {2.0, -4.0 / 3.0, -2.0 / 3.0, 0.0},
    .beta4 = {-2.0, 5.0 / 3.0, -2.0 / 3.0, 1.0},
};

static const sri_tableau sriw2_tableau = {
    .c0 = {0.0, 1.0, 0.5, 0.0},
    .c1 = {0.0, 0.25, 1.0, 0.25},
    .A0 = {{0.0}, {1.0}, {0.25, 0.25}, {0.0}},
    .B0 = {{0.0}, {0.0}, {1.0, 0.5}, {0.0}},
    .A1 = {{0.0}, {0.25}, {1.0}, {0.0, 0.0, 0.25}},
    .B1 = {{0.0}, {-0.5}, {1.0}, {2.0, -1.0, 0.5}},
    .alpha = {1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0, 0.0},
    .beta1 = {-1.0, 4.0 / 3.0, 2.0 / 3.0, 0.0},
    .beta2 = {1.0, -4.0 / 3.0, 1.0 / 3.0, 0.0},
    .beta3 = {2.0, -4.0 / 3.0, -2.0 / 3.0, 0.0},
    .beta4 = {-2.0, 5.0 / 3.0, -2.0 / 3.0, 1.0},
};

/* How each stage is obtained: evaluated, a copy of stage 1 (same argument), or unused. */
enum { STAGE_UNUSED = 0, STAGE_EVAL = 1, STAGE_SAME_AS_FIRST = 2 };

static int row_is_zero(const double *row, int len)
{
    for (int j = 0; j < len; j++)
        if (row[j] != 0.0)
            return 0;
    return 1;
}

static void sri_plan(const sri_tableau *tab, int f_plan[SRI_STAGES], int g_plan[SRI_STAGES])
{
    for (int i = 0; i < SRI_STAGES; i++) {
        int f_used = tab->alpha[i] != 0.0, g_used = tab->beta1[i] != 0.0 ||
                                                     tab->beta2[i] != 0.0 ||
                                                     tab->beta3[i] != 0.0 || tab->beta4[i] != 0.0;
        for (int k = i + 1; k < SRI_STAGES; k++) {
            f_used |= tab->A0[k][i] != 0.0 || tab->A1[k][i] != 0.0;
            g_used |= tab->B0[k][i] != 0.0 || tab->B1[k][i] != 0.0;
        }
        int f_same = i > 0 && tab->c0[i] == tab->c0[0] && row_is_zero(tab->A0[i], i) &&
                     row_is_zero(tab->B0[i], i);
        int g_same = i > 0 && tab->c1[i] == tab->c1[0] && row_is_zero(tab->A1[i], i) &&
                     row_is_zero(tab->B1[i], i);
        f_plan[i] = !f_used ? STAGE_UNUSED : f_same ? STAGE_SAME_AS_FIRST : STAGE_EVAL;
        g_plan[i] = !g_used ? STAGE_UNUSED : g_same ? STAGE_SAME_AS_FIRST : STAGE_EVAL;
    }
    /* Stage 1 is needed by any stage that copies it. */
    for (int i = 1; i < SRI_STAGES; i++) {
        if (f_plan[i] == STAGE_SAME_AS_FIRST)
            f_plan[0] = STAGE_EVAL;
        if (g_plan[i] == STAGE_SAME_AS_FIRST)
            g_plan[0] = STAGE_EVAL;
    }
}

/* Workspace: f (4, n, d), g (4, n, d), stage (n, d), y (n, d), J (n, m). */
static size_t sri_work_size(const slv_sde *sys, size_t n)
{
    size_t nd = n * sys->dim;
    return 2 * SRI_STAGES * nd + 2 * nd + n * sys->noise_dim;
}

static int sri_apply_tab(const slv_sde_step_type *type, const sri_tableau *tab,
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
    const size_t d = sys->dim, m = sys->noise_dim, nd = n * d;
    const int scalar = sys->noise == SLV_NOISE_SCALAR;
    const size_t g_stride = sys->additive ? 0 : d; /* g row of path p starts at p·g_stride */
    const double ah = fabs(h), sqrt_h = sqrt(ah);
    int f_plan[SRI_STAGES], g_plan[SRI_STAGES];
    sri_plan(tab, f_plan, g_plan);

    double *f[SRI_STAGES], *g[SRI_STAGES]; /* (n, d) each; g (1, d) when additive */
    for (int i = 0; i < SRI_STAGES; i++) {
        f[i] = work + (size_t)i * nd;
        g[i] = work + (size_t)(SRI_STAGES + i) * nd;
    }
    double *stage = work + 2 * SRI_STAGES * nd; /* (n, d) */
    double *y = stage + nd;                     /* (n, d) */
    double *J = y + nd;                         /* (n, m) */

    const int nt = slv_sde_team(threads, nd, SLV_OMP_GRAIN_NUMBERS);

    for (size_t e = 0; e < n * m; e++)
        J[e] = 0.5 * dW[e] + H[e];

    for (int i = 0; i < SRI_STAGES; i++) {
        if (f_plan[i] == STAGE_SAME_AS_FIRST) {
            f[i] = f[0];
        } else if (f_plan[i] == STAGE_EVAL) {
            const double *in = x;
            if (i > 0 && !(row_is_zero(tab->A0[i], i) && row_is_zero(tab->B0[i], i))) {
                const double *A = tab->A0[i], *B = tab->B0[i];
                double *const *fs = f, *const *gs = g;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
                for (size_t p = 0; p < n; p++)
                    for (size_t c = 0; c < d; c++) {
                        size_t e = p * d + c;
                        double drift = 0.0, noise = 0.0;
                        for (int j = 0; j < i; j++) {
                            if (A[j] != 0.0)
                                drift += A[j] * fs[j][e];
                            if (B[j] != 0.0)
                                noise += B[j] * gs[j][p * g_stride + c];
                        }
                        stage[e] = x[e] + h * drift + J[p * m + (scalar ? 0 : c)] * noise;
                    }
                in = stage;
            }
            rc = slv_sde_call_drift(name, sys, t + tab->c0[i] * h, n, in, f[i], n_drift, err);
            if (rc != SLV_OK)
                return rc;
        }
        if (g_plan[i] == STAGE_SAME_AS_FIRST) {
            g[i] = g[0];
        } else if (g_plan[i] == STAGE_EVAL) {
            const double *in = x;
            if (i > 0 && !sys->additive &&
                !(row_is_zero(tab->A1[i], i) && row_is_zero(tab->B1[i], i))) {
                const double *A = tab->A1[i], *B = tab->B1[i];
                double *const *fs = f, *const *gs = g;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
                for (size_t p = 0; p < n; p++)
                    for (size_t c = 0; c < d; c++) {
                        size_t e = p * d + c;
                        double drift = 0.0, noise = 0.0;
                        for (int j = 0; j < i; j++) {
                            if (A[j] != 0.0)
                                drift += A[j] * fs[j][e];
                            if (B[j] != 0.0)
                                noise += B[j] * gs[j][p * g_stride + c];
                        }
                        stage[e] = x[e] + h * drift + sqrt_h * noise;
                    }
                in = stage;
            }
            rc = slv_sde_call_diffusion(name, sys, 0, t + tab->c1[i] * h, n, in, g[i],
                                        n_diffusion, err);
            if (rc != SLV_OK)
                return rc;
        }
    }

    /* y in `y`; the stochastic error part E₂ in `stage`. */
    double *const *fs = f, *const *gs = g;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t p = 0; p < n; p++)
        for (size_t c = 0; c < d; c++) {
            size_t e = p * d + c, w_at = p * m + (scalar ? 0 : c), gi = p * g_stride + c;
            double w = dW[w_at], jj = J[w_at];
            double chi1 = (w * w - ah) / (2.0 * sqrt_h);
            double chi3 = (w * w * w - 3.0 * ah * w) / (6.0 * ah);
            double drift = 0.0, noise = 0.0, e2 = 0.0;
            for (int i = 0; i < SRI_STAGES; i++) {
                if (tab->alpha[i] != 0.0)
                    drift += tab->alpha[i] * fs[i][e];
                if (g_plan[i] != STAGE_UNUSED) {
                    double gv = gs[i][gi];
                    noise += gv * (tab->beta1[i] * w + tab->beta2[i] * chi1);
                    e2 += gv * (tab->beta3[i] * jj + tab->beta4[i] * chi3);
                }
            }
            y[e] = x[e] + h * drift + noise + e2;
            stage[e] = e2;
        }
    if ((rc = slv_sde_check_state(name, t + h, n, d, y, err)) != SLV_OK)
        return rc;
    if (err_out != NULL) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t e = 0; e < nd; e++) {
            double e1 = 0.0;
            for (int i = 1; i < SRI_STAGES; i++)
                if (tab->alpha[i] != 0.0)
                    e1 += tab->alpha[i] * (fs[i][e] - fs[0][e]);
            err_out[e] = fabs(h * e1) + fabs(stage[e]);
        }
    }
    memcpy(x, y, nd * sizeof(double));
    return SLV_OK;
}

/* ---- SRIW1 ("sri2" is an alias) ----------------------------------------------------------- */

static int sriw1_apply(const slv_sde *sys, double t, double h, size_t n, double *x,
                       const double *dW, const double *H, double *err_out, double *work,
                       size_t *n_drift, size_t *n_diffusion, slv_error *err, int threads)
{
    return sri_apply_tab(&slv_sde_step_sriw1_type, &sriw1_tableau, sys, t, h, n, x, dW, H,
                         err_out, work, n_drift, n_diffusion, err, threads);
}

const slv_sde_step_type slv_sde_step_sriw1_type = {
    .name = "sriw1",
    .strong_order = 1.5,
    .weak_order = 2.0,
    .noise_support = SLV_NOISE_SCALAR | SLV_NOISE_DIAGONAL,
    .needs_additive = 0,
    .needs_levy_area = 1,
    .has_error_estimate = 1,
    .work_size = sri_work_size,
    .apply = sriw1_apply,
};

/* ---- SRIW2 --------------------------------------------------------------------------------- */

static int sriw2_apply(const slv_sde *sys, double t, double h, size_t n, double *x,
                       const double *dW, const double *H, double *err_out, double *work,
                       size_t *n_drift, size_t *n_diffusion, slv_error *err, int threads)
{
    return sri_apply_tab(&slv_sde_step_sriw2_type, &sriw2_tableau, sys, t, h, n, x, dW, H,
                         err_out, work, n_drift, n_diffusion, err, threads);
}

const slv_sde_step_type slv_sde_step_sriw2_type = {
    .name = "sriw2",
    .strong_order = 1.5,
    .weak_order = 3.0,
    .noise_support = SLV_NOISE_SCALAR | SLV_NOISE_DIAGONAL,
    .needs_additive = 0,
    .needs_levy_area = 1,
    .has_error_estimate = 1,
    .work_size = sri_work_size,
    .apply = sriw2_apply,
};
