/* slv_sde_impl.h — private to libscoresde_solvers: helpers shared by the SDE one-step methods
 * (slv_sde_step.c: Euler–Maruyama, Milstein and the method table; slv_sde_sra.c; slv_sde_sri.c)
 * and the driver (slv_sde_solver.c). Not part of the public interface.
 */
#ifndef SLV_SDE_IMPL_H
#define SLV_SDE_IMPL_H

#include <stddef.h>

#include "slv_sde.h"

/* ---- Threads per parallel region --------------------------------------------------------------
 * A loop is split over threads only when every thread gets a grain of work; the team has one
 * thread per grain, at most the threads allowed. Measured on 2 vCPUs of an AMD EPYC with libgomp
 * (details in docs/solvers-sde.md, "Threads"):
 *   - a fork + join costs 4 µs when idle threads spin (libgomp's default) and 13–77 µs with
 *     OMP_WAIT_POLICY=passive (a futex wake), on an idle machine;
 *   - a grain is about where two threads measurably beat one with passive waiting, ~0.6 ms of
 *     work per thread (≥ 8 times the slowest fork + join): the Brownian queries (~75 ns per
 *     increment) gained 4 % at 4000 increments, 35 % at 16 000; the Langevin normals (~22 ns)
 *     nothing at 16 000, 26 % at 65 536;
 *   - the element-wise stage loops move more cache lines between the cores than they compute:
 *     two threads were slower than one on Euler–Maruyama's loop at every size up to 4·10⁶
 *     numbers, 10–20 % faster on SRIW1's from 10⁶ (Milstein's: −2 to +9 %); hence 2^20;
 *   - with spinning idle threads on a busy machine a region lost 2–8 ms, a scheduler slice,
 *     whatever its size (the Brownian queries at 16 000 paths: 13.7 ms per step on two threads,
 *     5.3 ms on one, beside two busy processes). So when idle threads spin, the automatic team
 *     (threads = 0) needs SLV_OMP_SPIN_FACTOR grains (~10 ms) per thread: a busy machine then
 *     costs a forked loop at most about half its time, not 20 times it.
 * Overridable at build time (-DSLV_OMP_GRAIN_INCREMENTS=...). */
#ifndef SLV_OMP_GRAIN_NUMBERS
#define SLV_OMP_GRAIN_NUMBERS 1048576 /* numbers written by an element-wise stage loop */
#endif
#ifndef SLV_OMP_GRAIN_INCREMENTS
#define SLV_OMP_GRAIN_INCREMENTS 8192 /* Brownian increments (paths × Wiener components) */
#endif
#ifndef SLV_OMP_GRAIN_NORMALS
#define SLV_OMP_GRAIN_NORMALS 32768 /* Langevin numbers, one normal each */
#endif
#ifndef SLV_OMP_SPIN_FACTOR
#define SLV_OMP_SPIN_FACTOR 16
#endif

/* The team for one parallel region of `work` units (numbers, increments, normals) of `grain`
 * units per thread. threads > 0 (asked for): at most that many, one per grain; threads = 0
 * (automatic): at most omp_get_max_threads(), one per grain, or per SLV_OMP_SPIN_FACTOR grains
 * when idle OpenMP threads spin (as the process was started: GOMP_SPINCOUNT set and not 0, or
 * unset and OMP_WAIT_POLICY not "passive"). 1 (no fork) below two grains, and always without
 * OpenMP. */
int slv_sde_team(int threads, size_t work, size_t grain);

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
