/* slv_sde_impl.h — private to libscoresde_solvers: helpers shared by the SDE one-step methods
 * (slv_sde_step.c: Euler–Maruyama, Milstein and the method table; slv_sde_sra.c; slv_sde_sri.c)
 * and the driver (slv_sde_solver.c). Not part of the public interface.
 */
#ifndef SLV_SDE_IMPL_H
#define SLV_SDE_IMPL_H

#include <stddef.h>

#include "slv_sde.h"

/* Batches smaller than this many numbers are stepped on one thread: below it the OpenMP fork
 * costs more than the arithmetic. */
#define SLV_SDE_OMP_MIN 8192

/* Threads to use for `threads` (0: the OpenMP default). */
int slv_sde_resolve_threads(int threads);

/* Numbers the diffusion writes for one path: d (SCALAR, DIAGONAL) or d·m (GENERAL). */
size_t slv_sde_diffusion_row(const slv_sde *sys);

/* Numbers of diffusion output for a batch of n: one row if additive, else n rows. */
size_t slv_sde_diffusion_len(const slv_sde *sys, size_t n);

/* Returns SLV_OK, or SLV_EUNSUPPORTED / SLV_EINVAL (filled in err) when `type` cannot step `sys`. */
int slv_sde_check_method(const slv_sde_step_type *type, const slv_sde *sys, slv_error *err);

/* Calls the drift on x[n*d] at time t into out[n*d] and counts it. Returns SLV_OK, +1 (the drift
 * returned > 0; err holds SLV_ECALLBACK), SLV_ECALLBACK or SLV_ENONFINITE (err names the path
 * within the batch and the component). */
int slv_sde_call_drift(const char *method, const slv_sde *sys, double t, size_t n,
                       const double *x, double *out, size_t *count, slv_error *err);

/* Calls the diffusion (or, with `derivative`, diffusion_dx) likewise; for an additive system the
 * callback gets n = 1 and x = NULL and out receives one row. */
int slv_sde_call_diffusion(const char *method, const slv_sde *sys, int derivative, double t,
                           size_t n, const double *x, double *out, size_t *count,
                           slv_error *err);

/* SLV_ENONFINITE (err filled, time t) if the new state y[n*d] holds NaN/Inf, else SLV_OK. */
int slv_sde_check_state(const char *method, double t, size_t n, size_t d, const double *y,
                        slv_error *err);

/* Component i of g·w for one path: g_row is that path's diffusion output, w its m numbers. */
static inline double slv_sde_noise_dot(slv_noise_type noise, size_t m, const double *g_row,
                                       const double *w, size_t i)
{
    switch (noise) {
    case SLV_NOISE_SCALAR:
        return g_row[i] * w[0];
    case SLV_NOISE_DIAGONAL:
        return g_row[i] * w[i];
    default: {
        const double *gi = g_row + i * m;
        double sum = 0.0;
        for (size_t k = 0; k < m; k++)
            sum += gi[k] * w[k];
        return sum;
    }
    }
}

extern const slv_sde_step_type slv_sde_step_em_type;
extern const slv_sde_step_type slv_sde_step_milstein_type;
extern const slv_sde_step_type slv_sde_step_sra1_type;
extern const slv_sde_step_type slv_sde_step_sra3_type;
extern const slv_sde_step_type slv_sde_step_sriw1_type;
extern const slv_sde_step_type slv_sde_step_sriw2_type;

#endif
