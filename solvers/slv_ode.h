/* slv_ode.h — ODEs on a batch of states through one interface, with fixed-step (Euler, Heun, RK4)
 * and adaptive back ends (Dormand–Prince 5(4) via SUNDIALS ARKODE ERKStep and, written here, with
 * per-state step control on a batched rhs; CVODE Adams and BDF; GSL odeiv2 rk8pd and rkf45).
 *
 *   dy/dt = F(t, y),  y = a batch of n states of dimension d, row-major y[n*d].
 *
 * The caller owns y; the solver owns its workspace (and the SUNDIALS/GSL objects) from _alloc to
 * _free. t1 < t0 is allowed (the probability-flow sampler integrates from T down to ε).
 */
#ifndef SLV_ODE_H
#define SLV_ODE_H

#include <stddef.h>

#include "slv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Right-hand side on a batch: writes dydt[n*d]. Returns 0, > 0 (recoverable: the adaptive back
 * ends retry with a smaller step), < 0 (stop). */
typedef int (*slv_ode_rhs_fn)(double t, size_t n, size_t d, const double *y, double *dydt,
                              void *params);

/* Where each row of a per-row rhs call sits: rows are states of the solver's batch, each at its own
 * time. Row i (i < n) of y is the state of batch path path[i] at time t[i]; paths increase with
 * i. */
typedef struct slv_ode_rows {
    const double *t;    /* (n) each row's time */
    const size_t *path; /* (n) each row's index in the solver's batch, 0 .. N−1 */
} slv_ode_rows;

/* Per-row right-hand side, the same F as the system's rhs: writes row i of dydt[n*d] =
 * F(rows->t[i], row i of y), each row on its own (no row may depend on another: that is what makes
 * a state's result independent of its batch-mates). The path lets the vector field find per-sample
 * data (inpainting masks, class labels) and name the sample in its own error reports. Returns 0,
 * > 0 (recoverable: applies to every row of the call) or < 0 (stop), as slv_ode_rhs_fn. Given to a
 * solver with slv_ode_solver_set_rhs_rows; called with the system's params. */
typedef int (*slv_ode_rhs_rows_fn)(const slv_ode_rows *rows, size_t n, size_t d, const double *y,
                                   double *dydt, void *params);

typedef struct slv_ode {
    slv_ode_rhs_fn rhs;
    size_t dim; /* d */
    void *params;
} slv_ode;

typedef struct slv_ode_method slv_ode_method;
struct slv_ode_method {
    const char *name; /* "euler", "heun", "rk4", "dopri5", "cvode-adams", "cvode-bdf",
                         "gsl-rk8pd", "gsl-rkf45", "rk45" */
    int order;
    int adaptive;     /* 0: fixed steps (set_steps), 1: tolerances (set_tolerances) */
    const struct slv_ode_backend *backend; /* private */
    int dense_output; /* 1: slv_ode_solver_solve_dense works (rk45) */
    int batched_independent; /* 1: SLV_BATCH_INDEPENDENT integrates all states together, with one
                                rhs(_rows) call per stage for the states still running (rk45);
                                0: one state after another, rhs calls with n = 1 */
};

extern const slv_ode_method *const slv_ode_euler;
extern const slv_ode_method *const slv_ode_heun;
extern const slv_ode_method *const slv_ode_rk4;
extern const slv_ode_method *const slv_ode_dopri5;       /* ARKODE_DORMAND_PRINCE_7_4_5 */
extern const slv_ode_method *const slv_ode_cvode_adams;
extern const slv_ode_method *const slv_ode_cvode_bdf;
extern const slv_ode_method *const slv_ode_gsl_rk8pd;
extern const slv_ode_method *const slv_ode_gsl_rkf45;
/* Dormand–Prince 5(4) with scipy.integrate.RK45's step control and dense output, written in this
 * library so that in SLV_BATCH_INDEPENDENT mode every state keeps its own steps while each stage
 * evaluates the rhs once for all states still running (see docs/solvers-ode.md). */
extern const slv_ode_method *const slv_ode_rk45;

/* NULL-terminated table of every method, and lookup by name (NULL if unknown). */
extern const slv_ode_method *const slv_ode_methods[];
const slv_ode_method *slv_ode_method_by_name(const char *name);

/* How a batch is integrated:
 *   SLV_BATCH_JOINT:       the n*d numbers are one system with one step sequence and an error norm
 *                          over the batch (as the official score_sde code does with solve_ivp);
 *                          every rhs call gets the whole batch. Fast; results depend on the batch.
 *   SLV_BATCH_INDEPENDENT: each state is its own initial-value problem with its own steps; a
 *                          state's result does not depend on its batch-mates. rk45 integrates all
 *                          states together (each with its own time, step size, error test and
 *                          counters; one rhs_rows call per stage for the states still running);
 *                          the other back ends solve the states one after another (rhs calls with
 *                          n = 1).
 * Fixed-step methods give identical results in both modes. */
typedef enum slv_batch_mode { SLV_BATCH_JOINT = 0, SLV_BATCH_INDEPENDENT = 1 } slv_batch_mode;

typedef struct slv_ode_solver slv_ode_solver;

/* Checks a system and batch size before allocation: returns SLV_OK, or SLV_EINVAL with a message
 * in err naming the field (sys or rhs NULL, dim 0, n 0). */
int slv_ode_validate(const slv_ode *sys, size_t n, slv_error *err);

/* The solver keeps `sys` by pointer; it must outlive the solver. Returns NULL when method is NULL,
 * when slv_ode_validate(sys, n) fails (call it for the reason) or when memory runs out. The back
 * end's objects (SUNDIALS context and integrator, GSL step/control/evolve, work arrays) are created
 * on the first solve in each batch mode, kept until _free, and re-initialised on later solves. */
slv_ode_solver *slv_ode_solver_alloc(const slv_ode_method *method, const slv_ode *sys, size_t n);
void slv_ode_solver_free(slv_ode_solver *s);

/* Setters return SLV_OK or SLV_EINVAL (message in get_error naming the argument and value); they
 * apply to the next solve. Tolerances (rtol > 0, atol >= 0, both finite) are per component:
 * SUNDIALS accepts a step when the weighted RMS norm of its error estimate, weights
 * 1/(rtol·|y_i| + atol), is <= 1 (RMS over the n·d numbers in JOINT mode); GSL (control_standard
 * with a_y = 1, a_dydt = 0) when max_i |err_i|/(atol + rtol·|y_i|) <= 1.1; rk45 (as scipy's RK45)
 * when the RMS of err_i/(atol + rtol·max(|y_i|, |y_new_i|)) over a state's d numbers (JOINT: the
 * n·d numbers) is < 1. See docs/solvers-ode.md. */
int slv_ode_solver_set_tolerances(slv_ode_solver *s, double rtol, double atol); /* default 1e-5 */
int slv_ode_solver_set_steps(slv_ode_solver *s, size_t n_steps);  /* fixed-step methods; default 100 */
int slv_ode_solver_set_max_steps(slv_ode_solver *s, size_t max_steps); /* adaptive; default 100000 */
int slv_ode_solver_set_batch_mode(slv_ode_solver *s, slv_batch_mode mode);
/* The solver polls *flag (when flag is not NULL) before every rhs call, and between steps where
 * the driver loops over steps (fixed-step methods, dopri5, rk45, GSL); a nonzero value stops the
 * solve with SLV_EINTERRUPTED, y at the last accepted state. */
void slv_ode_solver_set_interrupt(slv_ode_solver *s, volatile int *flag);

/* Gives the solver the per-row form of the system's F (NULL, the default, removes it). rk45 in
 * SLV_BATCH_INDEPENDENT mode, whose states are at different times, calls it once per stage for
 * every state still running; without it, rk45 calls the plain rhs once per group of states that
 * share a stage time (correct for any system, less batched: after the first steps states rarely
 * share times). Every other call — other methods, JOINT mode — has one time for all its rows and
 * goes to the plain rhs. (A setter, not a member of slv_ode: a new member would make every
 * positional initialiser {rhs, dim, params} warn under -Wextra.) */
void slv_ode_solver_set_rhs_rows(slv_ode_solver *s, slv_ode_rhs_rows_fn rhs_rows);

/* Runs an adaptive method with a constant step |h| (the last step is cut to land on t1) and no
 * error control; h = 0 (the default) restores adaptive stepping. Supported by dopri5 (ARKODE
 * ERKStepSetFixedStep), rk45 and the GSL methods (gsl_odeiv2_evolve_apply_fixed_step); the CVODE
 * methods and the fixed-step methods (use set_steps) return SLV_EUNSUPPORTED; h < 0 or non-finite
 * gives SLV_EINVAL. Meant for checking a method's tableau and for NFE-matched comparisons. */
int slv_ode_solver_set_fixed_step(slv_ode_solver *s, double h);

/* Integrates y[n*d] from t0 to t1 in place (t0 == t1 returns at once). On failure y holds the
 * last accepted state and the error report names the time, the path (in INDEPENDENT mode or with
 * one state, or the path holding a non-finite value) and the cause. In INDEPENDENT mode the
 * states are solved in order by the ARKODE, CVODE and GSL back ends, and a failure on state p
 * leaves states after p at their initial values; rk45 stops every state at the first failure of
 * any, each at its own last accepted state (states that had reached t1 hold their result).
 * Returns SLV_OK or:
 *   SLV_EINVAL       y NULL, t0 or t1 not finite;
 *   SLV_ENONFINITE   NaN/Inf in y or in the rhs output (report: time of that rhs call, path of the
 *                    state holding the first non-finite value);
 *   SLV_ECALLBACK    the rhs returned < 0, or > 0 where the method cannot shrink the step (fixed-
 *                    step methods, first call of a GSL step, rk45's call at t0 or with a fixed
 *                    step) or kept returning > 0;
 *   SLV_EMAXSTEPS    max_steps steps taken before t1 (report: the time reached; rk45: per state,
 *                    report names the state);
 *   SLV_ESTEPSIZE    GSL could not reach the tolerance with the smallest representable step; rk45's
 *                    step fell below 10 ulp of its time (scipy's min_step);
 *   SLV_EBACKEND     another SUNDIALS/GSL failure (report: the flag name and SUNDIALS' message);
 *   SLV_EINTERRUPTED the interrupt flag was raised;
 *   SLV_ENOMEM       allocation of the integrator objects failed. */
int slv_ode_solver_solve(slv_ode_solver *s, double t0, double t1, double *y);

/* As slv_ode_solver_solve from t0 to t1 = t_out[n_out − 1], and also writes every state's value at
 * each time t_out[k] to y_out[(k·n + i)·d .. +d] (y_out holds n_out batches laid out as y), read
 * from the method's continuous extension without placing steps on those times. The times must be
 * finite and run from t0 towards t1 without turning back (equal neighbours allowed); a time equal
 * to t0 gives the initial state, one equal to the end of a step that step's result exactly. On
 * failure the entries each state had passed are written, the others are left as they were.
 * Supported by rk45 (Shampine's quartic interpolant, scipy's RK45 dense output; both batch
 * modes); other methods return SLV_EUNSUPPORTED. SLV_EINVAL for t_out or y_out NULL, n_out 0, or
 * times that are not finite or not monotone (the message names the index). */
int slv_ode_solver_solve_dense(slv_ode_solver *s, double t0, size_t n_out, const double *t_out,
                               double *y, double *y_out);

/* Counters of the last solve.
 *   n_rhs_evals: evaluations of F summed over states — batched rhs calls in JOINT mode (one call
 *                evaluates the one system), the sum of get_path_rhs_evals in INDEPENDENT mode;
 *   n_rhs_calls: calls of the user's rhs or rhs_rows, whatever their batch size. Equal to
 *                n_rhs_evals except for rk45 in INDEPENDENT mode, where one call evaluates every
 *                state still running: with rhs_rows it equals the largest per-state count (the
 *                state that finishes last is in every call); without rhs_rows there is one call
 *                per group of states sharing a stage time, so at least as many;
 *   n_steps, n_rejected: accepted and rejected steps, summed over states in INDEPENDENT mode;
 *   get_path_rhs_evals fills nfe[n] with each state's count (JOINT: all equal to n_rhs_evals). */
size_t slv_ode_solver_get_n_rhs_evals(const slv_ode_solver *s);
size_t slv_ode_solver_get_n_rhs_calls(const slv_ode_solver *s);
size_t slv_ode_solver_get_n_steps(const slv_ode_solver *s);
size_t slv_ode_solver_get_n_rejected(const slv_ode_solver *s);
void slv_ode_solver_get_path_rhs_evals(const slv_ode_solver *s, size_t *nfe);
const slv_error *slv_ode_solver_get_error(const slv_ode_solver *s);

#ifdef __cplusplus
}
#endif
#endif
