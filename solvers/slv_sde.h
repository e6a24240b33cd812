/* slv_sde.h — Itô SDEs on a batch of paths: the system, the Brownian path, one-step methods and
 * the drivers (fixed step and adaptive).
 *
 *   dX = f(t, X) dt + g(t, X) dW,   X in R^d, W in R^m, Itô calculus.
 *
 * States are row-major batches: x[n*d], path p occupies x[p*d .. p*d+d). The caller owns every
 * state array; a solver owns only the workspace it allocates in *_alloc and frees in *_free.
 * Nothing allocates inside a step.
 */
#ifndef SLV_SDE_H
#define SLV_SDE_H

#include <stddef.h>
#include <stdint.h>

#include "slv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The system ------------------------------------------------------------------------- */

/* Shape of the diffusion g and what the callback writes (per path, row-major over the batch):
 *   SLV_NOISE_SCALAR   m = 1:  out[n*d], g_i(t, x) multiplies the single W.
 *   SLV_NOISE_DIAGONAL m = d:  out[n*d], component i is driven by its own W_i: g_i(t, x) dW_i.
 *   SLV_NOISE_GENERAL  m any:  out[n*d*m], per path a d×m matrix, row-major.
 * When the system is declared `additive` (g depends on t only), the solvers call diffusion with
 * n = 1 and x = NULL, and use the result for every path. */
typedef enum slv_noise_type {
    SLV_NOISE_SCALAR = 1,
    SLV_NOISE_DIAGONAL = 2,
    SLV_NOISE_GENERAL = 4
} slv_noise_type;

/* Drift f: writes out[n*d]. Returns 0, > 0 (recoverable: retry with a smaller step), < 0 (stop). */
typedef int (*slv_sde_drift_fn)(double t, size_t n, size_t d, const double *x, double *out,
                                void *params);
/* Diffusion g: writes out in the layout of the noise type above. Same return convention. */
typedef int (*slv_sde_diffusion_fn)(double t, size_t n, size_t d, const double *x, double *out,
                                    void *params);

typedef struct slv_sde {
    slv_sde_drift_fn drift;
    slv_sde_diffusion_fn diffusion;
    /* Optional, for Milstein: DIAGONAL: out[n*d] = ∂g_i/∂x_i; SCALAR: out[n*d] = Σ_j (∂g_i/∂x_j) g_j
     * (the derivative of g along g). NULL selects the derivative-free Runge–Kutta–Milstein form. */
    slv_sde_diffusion_fn diffusion_dx;
    size_t dim;       /* d */
    size_t noise_dim; /* m: must be 1 for SCALAR and d for DIAGONAL */
    slv_noise_type noise;
    int additive;     /* nonzero: g = g(t) only (required by SRA1/SRA3) */
    void *params;
} slv_sde;

/* Checks the shape fields of a system; returns SLV_OK or SLV_EINVAL with a message in err. */
int slv_sde_validate(const slv_sde *sys, slv_error *err);

/* ---- The Brownian path ------------------------------------------------------------------ */

/* A reproducible Brownian path for a batch of paths, defined as a Brownian tree over a root
 * interval of integration-time length `root_length` (integration time s = |t - t0| >= 0, so a
 * backward-in-time solve uses it the same way). Node values are pairs (ΔW, H) — the increment and
 * the space-time Lévy area H = (1/h)∫(W_s − W_a − (s−a)/h·ΔW) ds, H ~ N(0, h/12) — drawn from a
 * counter-based stream keyed by (seed, global path index, Wiener component, node), so:
 *   - the same seed gives the same bits whatever the thread count or batch split (a path's
 *     numbers depend on first_path + p, not on n);
 *   - the increment over a dyadic interval equals the sum of its halves' increments, and the Lévy
 *     areas are consistent too: every dyadic step size sees the same path;
 *   - nothing is ever re-drawn: querying an interval again returns the same bits.
 * Sequential queries (left to right) cost O(1) amortised per step; the walker caches the
 * ancestors of the last leaf. */
typedef struct slv_brownian slv_brownian;

/*
 * Construction. Node (level l, index i) covers [i·L/2^l, (i+1)·L/2^l) and has heap id 2^l + i.
 * Its randomness is two standard normals drawn with gsl_ran_gaussian_ziggurat from the
 * slv_rng_counter stream (seed, a, b) with a = (first_path + p)·m + k (path, Wiener component) and
 * b = SLV_RNG_BROWNIAN_TAG | id (b = SLV_RNG_BROWNIAN_TAG | 0 for the root's own values).
 *   Root: W ~ N(0, L), H ~ N(0, L/12).
 *   Split of a node of length h with (W, H), the normals scaled to Z1 ~ N(0, h/16),
 *   Z2 ~ N(0, h³/192) (Gaussian conditioning of (W_{h/2}, ∫_0^{h/2} W) on (W, ∫_0^h W)):
 *     Y1 = 3H/2 + Z1, Y2 = hH/2 + Z2,
 *     left:  W_L = W/2 + Y1, A_L = hW/8 + Y2,             H_L = A_L/(h/2) − W_L/2,
 *     right: W_R = W − W_L,  A_R = A − A_L − (h/2)·W_L,   H_R = A_R/(h/2) − W_R/2,
 *   with A = h(W/2 + H) = ∫(W_s − W_a) ds over the parent.
 * (first_path + p)·m + k must stay below 2^48 (the stream index a has 48 bits).
 *
 * Memory: per tree level in use, 2·n_paths·m doubles of cached node values (allocated the first
 * time a level is queried, or by slv_brownian_reserve), plus one small generator per path.
 * Returns NULL if root_length is not finite and > 0, n_paths or m is 0, or memory runs out. */
slv_brownian *slv_brownian_alloc(size_t n_paths, size_t m, double root_length, uint64_t seed,
                                 size_t first_path);
void slv_brownian_free(slv_brownian *bm);

/* Allocates the caches of every level <= level now. After it, slv_brownian_interval_path may be
 * called concurrently (e.g. from an OpenMP loop) for distinct paths p at levels <= level; queries
 * deeper than the reserved levels allocate and must not run concurrently. Returns SLV_OK,
 * SLV_EINVAL (level > SLV_BROWNIAN_MAX_LEVEL) or SLV_ENOMEM. */
int slv_brownian_reserve(slv_brownian *bm, unsigned level);

/* Increment and Lévy area over the dyadic interval number `index` at depth `level`
 * ([index·L/2^level, (index+1)·L/2^level) in integration time, L the root length), for every path:
 * dW[n*m], H[n*m] (H may be NULL). level <= SLV_BROWNIAN_MAX_LEVEL. */
#define SLV_BROWNIAN_MAX_LEVEL 40
/* Returns SLV_OK, SLV_EINVAL (level > SLV_BROWNIAN_MAX_LEVEL or index >= 2^level) or SLV_ENOMEM
 * (a new level's cache could not be allocated). */
int slv_brownian_interval(slv_brownian *bm, unsigned level, uint64_t index, double *dW, double *H);

/* Same for one path only (index p within the batch): dW[m], H[m] (H may be NULL). Also
 * SLV_EINVAL for p >= n_paths. */
int slv_brownian_interval_path(slv_brownian *bm, size_t p, unsigned level, uint64_t index,
                               double *dW, double *H);

/* The root length the fixed-step driver uses for n_steps steps over |t1 - t0|: the grid is
 * embedded in a dyadic tree so that N and 2N steps (any N) see the same Brownian path. With
 * N = odd·2^j: *level = ceil(log2 N) and root = span·2^ceil(log2 odd)/odd (bit-identical for N
 * and 2N); step k is then node (level, k). Returns 0 (and *level = 0) when n_steps is 0 or
 * needs more than SLV_BROWNIAN_MAX_LEVEL levels. */
double slv_brownian_root_length(double span, size_t n_steps, unsigned *level);

/* ---- One-step methods -------------------------------------------------------------------- */

/* A method is a const table exported by name; choose one by passing its pointer. */
typedef struct slv_sde_step_type slv_sde_step_type;
struct slv_sde_step_type {
    const char *name;        /* "em", "milstein", "sra1", "sra3", "sriw1", "sriw2" */
    double strong_order;     /* for the noise it supports */
    double weak_order;
    unsigned noise_support;  /* bitmask of slv_noise_type */
    int needs_additive;      /* SRA1/SRA3 */
    int needs_levy_area;     /* wants H alongside ΔW */
    int has_error_estimate;  /* usable by the adaptive driver */
    size_t (*work_size)(const slv_sde *sys, size_t n);  /* doubles of workspace */
    /* Advances x[n*d] from t to t + h (h may be negative) with increments dW[n*m], H[n*m].
     * On failure x is unchanged. err_out (n*d, may be NULL) receives the embedded local error
     * estimate of each component. n_drift/n_diffusion are incremented by the number of batched
     * callback calls made (a diffusion_dx call counts as a diffusion call).
     *
     * Reverse time (h < 0): dW and H are the increments over the integration-time interval of
     * length |h| (as the Brownian tree gives them); the drift is integrated with the signed h
     * and the stochastic terms with |h|.
     *
     * Returns SLV_OK; a negative status (err filled; err->path is the index p within this
     * batch — the drivers add their first_path — and err->t the time of the offending
     * evaluation): SLV_EUNSUPPORTED (noise type or non-additive system the method cannot do),
     * SLV_ECALLBACK (a callback returned < 0), SLV_ENONFINITE (NaN/Inf in a drift, diffusion or
     * the new state); or +1 when a callback returned > 0 (recoverable: retry with a smaller step;
     * err holds SLV_ECALLBACK for callers that cannot retry). `work` holds work_size(sys, n)
     * doubles; nothing is allocated. The per-element arithmetic is spread over at most
     * `threads` OpenMP threads (0: automatic, 1: serial; see slv_sde_solver_set_threads);
     * callbacks are still called once per stage on the whole batch from the calling thread, and
     * results are bit-identical for every thread count. */
    int (*apply)(const slv_sde *sys, double t, double h, size_t n, double *x, const double *dW,
                 const double *H, double *err_out, double *work, size_t *n_drift,
                 size_t *n_diffusion, slv_error *err, int threads);
};

extern const slv_sde_step_type *const slv_sde_step_em;
extern const slv_sde_step_type *const slv_sde_step_milstein;
extern const slv_sde_step_type *const slv_sde_step_sra1;
extern const slv_sde_step_type *const slv_sde_step_sra3;
extern const slv_sde_step_type *const slv_sde_step_sriw1;
extern const slv_sde_step_type *const slv_sde_step_sriw2;

/* NULL-terminated table of every method; and lookup by name ("sri2" is an alias of "sriw1"). */
extern const slv_sde_step_type *const slv_sde_step_types[];
const slv_sde_step_type *slv_sde_step_type_by_name(const char *name);

/* ---- The driver ------------------------------------------------------------------------- */

/* Called at t0, every `every` accepted steps (fixed-step driver) or at each multiple of the
 * output interval (adaptive driver: (t1 − t0)/2^q with 2^q the smallest power of two >= every;
 * no step crosses an output time), and at t1. every = 0: at t0 and t1 only. x is the whole batch.
 * Return nonzero to stop the solve (the solve then returns SLV_EINTERRUPTED). */
typedef int (*slv_sde_observer_fn)(double t, size_t n, size_t d, const double *x, void *data);

typedef struct slv_sde_solver slv_sde_solver;

/* n_paths: batch size. The solver keeps `sys` by pointer; it must outlive the solver. Returns
 * NULL if type or sys is NULL, n_paths is 0 or memory runs out; an invalid system or a method
 * that cannot handle it is reported by the solve functions (SLV_EINVAL, SLV_EUNSUPPORTED).
 * Defaults: seed 0, first_path 0, OpenMP default threads, no observer, rtol = atol = 1e-3,
 * automatic initial step, max_steps 100000. */
slv_sde_solver *slv_sde_solver_alloc(const slv_sde_step_type *type, const slv_sde *sys,
                                     size_t n_paths);
void slv_sde_solver_free(slv_sde_solver *s);

/* Seed of the Brownian path, and the global index of this batch's first path (for split batches). */
int slv_sde_solver_set_seed(slv_sde_solver *s, uint64_t seed, size_t first_path);
/* OpenMP threads over paths for the step arithmetic and the Brownian queries (callbacks are
 * always called on the whole batch, from one thread). Results do not depend on it.
 * threads > 0: at most that many; 0 (default): automatic, at most the OpenMP default. Either way a
 * loop is split only when each thread gets ~0.6 ms of work, so small batches run on the calling
 * thread alone; in automatic mode, when idle OpenMP threads spin (libgomp's default unless
 * OMP_WAIT_POLICY=passive), only for ~10 ms per thread, since on a busy machine a spinning thread
 * can cost a scheduler slice per loop (docs/solvers-sde.md, "Threads"). */
int slv_sde_solver_set_threads(slv_sde_solver *s, int threads);
int slv_sde_solver_set_observer(slv_sde_solver *s, slv_sde_observer_fn fn, void *data, size_t every);
/* Adaptive driver: tolerances (> 0), initial step (0 = automatic), step budget per path. */
int slv_sde_solver_set_tolerances(slv_sde_solver *s, double rtol, double atol);
/* Initial step of the adaptive driver: |h0| rounded down to the dyadic grid (t1 − t0)/2^k;
 * 0 = automatic (k = 4, i.e. (t1 − t0)/16). */
int slv_sde_solver_set_initial_step(slv_sde_solver *s, double h0);
/* Accepted steps allowed per path (adaptive driver); SLV_EMAXSTEPS beyond. */
int slv_sde_solver_set_max_steps(slv_sde_solver *s, size_t max_steps);
/* Optional flag polled between steps; when *flag becomes nonzero the solve stops with
 * SLV_EINTERRUPTED. */
void slv_sde_solver_set_interrupt(slv_sde_solver *s, volatile int *flag);

/* Integrates x[n*d] from t0 to t1 (t1 < t0 allowed: reverse time) in n_steps equal steps.
 * w_final (n*m, may be NULL) receives W(t1) − W(t0) for each path, summed over the dyadic nodes
 * that tile the span (so N and 2N steps give the same bits).
 * Returns SLV_OK or a status with the report in slv_sde_solver_get_error (time, global path
 * index first_path + p, message); on failure x holds the last completed step (at time
 * t0 + k·h, stated in the message). A callback returning > 0 stops the fixed-step solve with
 * SLV_ECALLBACK. */
int slv_sde_solver_solve_fixed(slv_sde_solver *s, double t0, double t1, size_t n_steps,
                               double *x, double *w_final);

/* Adaptive: steps of (t1−t0)/2^k on the dyadic Brownian tree with root |t1 − t0|; each path has its
 * own step sequence (error control per path, so a path's result does not depend on its
 * batch-mates); paths that share (t, h) are evaluated in one batched callback call. A rejected step
 * halves h and reuses the tree, so nothing already drawn is re-drawn. Requires a method with
 * has_error_estimate (else SLV_EUNSUPPORTED).
 * Control: per path the error norm E = sqrt(mean_i (e_i / (atol + rtol·max(|x_i|, |x_new_i|)))²)
 * of the method's estimate e; accept if E <= 1; after an accepted step h doubles when
 * 0.9·E^(−1/(strong_order + 1/2)) >= 2 and the time is a multiple of 2h; a rejected step (or a
 * callback returning > 0) halves h. A step below (t1 − t0)/2^40 gives SLV_ESTEPSIZE; more than
 * max_steps accepted steps on a path SLV_EMAXSTEPS (both naming t and the path). Non-finite
 * values stop the solve (SLV_ENONFINITE), they are not retried. w_final receives W(t1) − W(t0),
 * the root of the tree. On failure every path's row of x holds its last accepted state. */
int slv_sde_solver_solve_adaptive(slv_sde_solver *s, double t0, double t1, double *x,
                                  double *w_final);

/* Counters of the last solve: batched callback calls (diffusion_dx calls count as diffusion),
 * accepted/rejected steps (fixed: n_steps; adaptive: summed over paths). */
size_t slv_sde_solver_get_n_drift_evals(const slv_sde_solver *s);
size_t slv_sde_solver_get_n_diffusion_evals(const slv_sde_solver *s);
size_t slv_sde_solver_get_n_steps(const slv_sde_solver *s);
size_t slv_sde_solver_get_n_rejected(const slv_sde_solver *s);
const slv_error *slv_sde_solver_get_error(const slv_sde_solver *s);

/* ---- Langevin MCMC ------------------------------------------------------------------------ */

/* Unadjusted Langevin steps for a target with score s = ∇ log p:
 *   x ← x + ε s(x) + √(2ε) z,  z ~ N(0, I),
 * n_steps times with step size eps. Noise z for path p, step k comes from the counter-based
 * stream keyed by (seed, first_path + p, k), so results do not depend on the batch split
 * (z_i is the i-th gsl_ran_gaussian_ziggurat draw of that stream; keep k < 2^47).
 * score is called as score(t, n, d, x, out) on the whole batch. work: n*d doubles owned by the
 * caller. Returns SLV_OK, SLV_EINVAL (eps not finite and > 0, n or d 0, NULL pointers),
 * SLV_ENOMEM, SLV_ECALLBACK (score returned nonzero), SLV_ENONFINITE (in the score or the new
 * state; err->t is `t`, err->path first_path + p and the message names the step). On failure x
 * holds the state after the last completed step. err may be NULL. Threads: automatic, as
 * slv_sde_solver_set_threads(s, 0) (at most omp_get_max_threads()). */
typedef int (*slv_score_fn)(double t, size_t n, size_t d, const double *x, double *out,
                            void *params);
int slv_langevin_run(slv_score_fn score, void *params, double t, size_t n, size_t d, double *x,
                     double eps, size_t n_steps, uint64_t seed, size_t first_path,
                     double *work /* n*d */, slv_error *err);

/* The same one step at a time, for callers that walk their own schedule of step sizes and noise
 * streams (annealed Langevin dynamics, sde/sgm_ald.c): a workspace holds one generator per thread
 * (slv_langevin_alloc, NULL when out of memory; slv_langevin_free, NULL is fine), and each apply
 * takes one step x ← x + ε s(x) + √(2ε) z with z for path p from the counter stream
 * (seed, first_path + p, stream). The state is committed only when finite; errors as above. */
typedef struct slv_langevin slv_langevin;
slv_langevin *slv_langevin_alloc(void);
void slv_langevin_free(slv_langevin *w);
int slv_langevin_apply(slv_langevin *w, slv_score_fn score, void *params, double t, size_t n, size_t d,
                       double *x, double eps, uint64_t seed, size_t first_path, uint64_t stream,
                       double *work /* n*d */, slv_error *err);

#ifdef __cplusplus
}
#endif
#endif
