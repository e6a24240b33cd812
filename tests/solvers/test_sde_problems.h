/* test_sde_problems.h — SDE test problems and statistics shared by tests/solvers/test_sde_*.c
 * (header-only; every test program includes it once).
 */
#ifndef TEST_SDE_PROBLEMS_H
#define TEST_SDE_PROBLEMS_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "slv_sde.h"

/* ---- Geometric Brownian motion, dX_i = μ X_i dt + σ X_i dW_i (diagonal or scalar noise) ----
 * Exact: X_T = x0 exp((μ − σ²/2) T + σ W_T). */
typedef struct gbm_params {
    double mu, sigma;
} gbm_params;

static inline int gbm_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->mu * x[e];
    return 0;
}

static inline int gbm_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->sigma * x[e];
    return 0;
}

/* DIAGONAL: ∂g_i/∂x_i = σ; SCALAR: (∂g/∂x) g = σ² x. */
static inline int gbm_diffusion_dx_diagonal(double t, size_t n, size_t d, const double *x, double *out,
                                     void *params)
{
    (void)t;
    (void)x;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->sigma;
    return 0;
}

static inline double gbm_exact(const gbm_params *g, double x0, double T, double w_T)
{
    return x0 * exp((g->mu - 0.5 * g->sigma * g->sigma) * T + g->sigma * w_T);
}

/* ---- Additive noise, nonlinear drift, time-dependent diffusion (scalar) ----
 *   dX = (2 sin X − X) dt + σ(1 + t) dW */
typedef struct additive_params {
    double sigma;
} additive_params;

static inline int additive_drift(double t, size_t n, size_t d, const double *x, double *out,
                          void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 2.0 * sin(x[e]) - x[e];
    return 0;
}

static inline int additive_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                              void *params)
{
    (void)x;
    const additive_params *a = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = a->sigma * (1.0 + t);
    return 0;
}

/* ---- General additive noise: d = 2, m = 3, coupled nonlinear drift, b(t) a 2×3 matrix ----
 *   f = (sin x₂ − x₁, cos x₁ − x₂/2),
 *   b(t) = σ [[1 + t, 0.5, 0.3 t], [0.2, 1 − 0.5 t, 0.4 (1 + t²)]]   (params: additive_params) */
static inline int general_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)params;
    for (size_t p = 0; p < n; p++) {
        const double *xp = x + p * d;
        out[p * d] = sin(xp[1]) - xp[0];
        out[p * d + 1] = cos(xp[0]) - 0.5 * xp[1];
    }
    return 0;
}

static inline int general_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                             void *params)
{
    (void)x;
    (void)d;
    const double sigma = ((const additive_params *)params)->sigma;
    for (size_t p = 0; p < n; p++) {
        double *b = out + p * 6;
        b[0] = sigma * (1.0 + t);
        b[1] = sigma * 0.5;
        b[2] = sigma * 0.3 * t;
        b[3] = sigma * 0.2;
        b[4] = sigma * (1.0 - 0.5 * t);
        b[5] = sigma * 0.4 * (1.0 + t * t);
    }
    return 0;
}

/* The two systems most tests run: GBM in 2-D with diagonal noise, and the general additive
 * system above (2-D, 3 noise components). The params stay the caller's. */
static inline slv_sde gbm_diagonal_system(gbm_params *g)
{
    slv_sde sys = {.drift = gbm_drift,
                   .diffusion = gbm_diffusion,
                   .dim = 2,
                   .noise_dim = 2,
                   .noise = SLV_NOISE_DIAGONAL,
                   .params = g};
    return sys;
}

static inline slv_sde general_additive_system(additive_params *a)
{
    slv_sde sys = {.drift = general_drift,
                   .diffusion = general_diffusion,
                   .dim = 2,
                   .noise_dim = 3,
                   .noise = SLV_NOISE_GENERAL,
                   .additive = 1,
                   .params = a};
    return sys;
}

/* ---- Nonlinear diagonal noise: dX_i = (1 − X_i) dt + (1 + ½ sin X_i) dW_i ----
 * g_i depends on x_i only (what SRI's order 1.5 needs for diagonal noise); g'g is not linear, so
 * the derivative-free Milstein differs from the one with diffusion_dx (∂g_i/∂x_i = ½ cos x_i). */
static inline int nonlinear_drift(double t, size_t n, size_t d, const double *x, double *out,
                                  void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 1.0 - x[e];
    return 0;
}

static inline int nonlinear_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                                      void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 1.0 + 0.5 * sin(x[e]);
    return 0;
}

static inline int nonlinear_diffusion_dx(double t, size_t n, size_t d, const double *x,
                                         double *out, void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 0.5 * cos(x[e]);
    return 0;
}

/* ---- Ornstein–Uhlenbeck, dX = −θ X dt + σ dW ---- */
typedef struct ou_params {
    double theta, sigma;
} ou_params;

static inline int ou_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const ou_params *o = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = -o->theta * x[e];
    return 0;
}

static inline int ou_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)x;
    const ou_params *o = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = o->sigma;
    return 0;
}

/* ---- Statistics ---- */

/* Least-squares slope of y against x over k points. */
static inline double ls_slope(const double *x, const double *y, size_t k)
{
    double mx = 0.0, my = 0.0;
    for (size_t i = 0; i < k; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)k;
    my /= (double)k;
    double sxy = 0.0, sxx = 0.0;
    for (size_t i = 0; i < k; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    return sxy / sxx;
}

/* Convergence order from errors err[level][path] (n_levels step sizes h_l, n_paths paths):
 * slope of log mean|err| against log h over all paths, and its standard error from n_groups
 * disjoint groups of paths (sd of the group slopes / sqrt(n_groups)). */
static inline void order_with_se(const double *log_h, const double *err, size_t n_levels, size_t n_paths,
                          size_t n_groups, double *slope, double *se)
{
    double log_e[16];
    for (size_t l = 0; l < n_levels; l++) {
        double sum = 0.0;
        for (size_t p = 0; p < n_paths; p++)
            sum += err[l * n_paths + p];
        log_e[l] = log(sum / (double)n_paths);
    }
    *slope = ls_slope(log_h, log_e, n_levels);
    size_t per_group = n_paths / n_groups;
    double s1 = 0.0, s2 = 0.0;
    for (size_t g = 0; g < n_groups; g++) {
        for (size_t l = 0; l < n_levels; l++) {
            double sum = 0.0;
            for (size_t p = g * per_group; p < (g + 1) * per_group; p++)
                sum += err[l * n_paths + p];
            log_e[l] = log(sum / (double)per_group);
        }
        double sg = ls_slope(log_h, log_e, n_levels);
        s1 += sg;
        s2 += sg * sg;
    }
    double mean = s1 / (double)n_groups;
    double var = (s2 - (double)n_groups * mean * mean) / (double)(n_groups - 1);
    *se = sqrt(var > 0.0 ? var : 0.0) / sqrt((double)n_groups);
}

#endif
