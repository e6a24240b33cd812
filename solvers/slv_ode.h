/* slv_ode.h — ODEs on a batch of states through one interface, with fixed-step (Euler, Heun, RK4)
 * and adaptive back ends (Dormand–Prince 5(4) via SUNDIALS ARKODE ERKStep, CVODE Adams and BDF,
 * GSL odeiv2 rk8pd and rkf45).
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

typedef struct slv_ode {
    slv_ode_rhs_fn rhs;
    size_t dim; /* d */
    void *params;
} slv_ode;

typedef struct slv_ode_method slv_ode_method;
struct slv_ode_method {
    const char *name; /* "euler", "heun", "rk4", "dopri5", "cvode-adams", "cvode-bdf",
                         "gsl-rk8pd", "gsl-rkf45" */
    int order;
    int adaptive;     /* 0: fixed steps (set_steps), 1: tolerances (set_tolerances) */
    const struct slv_ode_backend *backend; /* private */
};

extern const slv_ode_method *const slv_ode_euler;
extern const slv_ode_method *const slv_ode_heun;
extern const slv_ode_method *const slv_ode_rk4;
extern const slv_ode_method *const slv_ode_dopri5;       /* ARKODE_DORMAND_PRINCE_7_4_5 */
extern const slv_ode_method *const slv_ode_cvode_adams;
extern const slv_ode_method *const slv_ode_cvode_bdf;
extern const slv_ode_method *const slv_ode_gsl_rk8pd;
extern const slv_ode_method *const slv_ode_gsl_rkf45;

/* NULL-terminated table of every method, and lookup by name (NULL if unknown). */
extern const slv_ode_method *const slv_ode_methods[];
const slv_ode_method *slv_ode_method_by_name(const char *name);

/* How a batch is integrated:
 *   SLV_BATCH_JOINT:       the n*d numbers are one system with one step sequence and an error norm
 *                          over the batch (as the official score_sde code does with solve_ivp);
 *                          every rhs call gets the whole batch. Fast; results depend on the batch.
 *   SLV_BATCH_INDEPENDENT: each state is its own initial-value problem with its own steps (rhs
 *                          calls with n = 1); a state's result does not depend on its batch-mates.
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
 * with a_y = 1, a_dydt = 0) when max_i |err_i|/(atol + rtol·|y_i|) <= 1.1. See docs/solvers-ode.md. */
int slv_ode_solver_set_tolerances(slv_ode_solver *s, double rtol, double atol); /* default 1e-5 */
int slv_ode_solver_set_steps(slv_ode_solver *s, size_t n_steps);  /* fixed-step methods; default 100 */
int slv_ode_solver_set_max_steps(slv_ode_solver *s, size_t max_steps); /* adaptive; default 100000 */
int slv_ode_solver_set_batch_mode(slv_ode_solver *s, slv_batch_mode mode);
/* The solver polls *flag (when flag is not NULL) before every rhs call, and between steps where
 * the driver loops over steps (fixed-step methods, dopri5, GSL); a nonzero value stops the solve
 * with SLV_EINTERRUPTED, y at the last accepted state. */
void slv_ode_solver_set_interrupt(slv_ode_solver *s, volatile int *flag);

/* Runs an adaptive method with a constant step |h| (the last step is cut to land on t1) and no
 * error control; h = 0 (the default) restores adaptive stepping. Supported by dopri5 (ARKODE
 * ERKStepSetFixedStep) and the GSL methods (gsl_odeiv2_evolve_apply_fixed_step); the CVODE methods
 * and the fixed-step methods (use set_steps) return SLV_EUNSUPPORTED; h < 0 or non-finite gives
 * SLV_EINVAL. Meant for checking a method's tableau and for NFE-matched comparisons. */
int slv_ode_solver_set_fixed_step(slv_ode_solver *s, double h);

/* Integrates y[n*d] from t0 to t1 in place (t0 == t1 returns at once). On failure y holds the
 * last accepted state and the error report names the time, the path (in INDEPENDENT mode or with
 * one state, or the path holding a non-finite value) and the cause. In INDEPENDENT mode states are
 * solved in order, and a failure on state p leaves states after p at their initial values.
 * Returns SLV_OK or:
 *   SLV_EINVAL       y NULL, t0 or t1 not finite;
 *   SLV_ENONFINITE   NaN/Inf in y or in the rhs output (report: time of that rhs call, path of the
 *                    state holding the first non-finite value);
 *   SLV_ECALLBACK    the rhs returned < 0, or > 0 where the method cannot shrink the step (fixed-
 *                    step methods, first call of a GSL step) or kept returning > 0;
 *   SLV_EMAXSTEPS    max_steps steps taken before t1 (report: the time reached);
 *   SLV_ESTEPSIZE    GSL could not reach the tolerance with the smallest representable step;
 *   SLV_EBACKEND     another SUNDIALS/GSL failure (report: the flag name and SUNDIALS' message);
 *   SLV_EINTERRUPTED the interrupt flag was raised;
 *   SLV_ENOMEM       allocation of the integrator objects failed. */
int slv_ode_solver_solve(slv_ode_solver *s, double t0, double t1, double *y);

/* Counters of the last solve. n_rhs_evals counts batched rhs calls (JOINT) or, in INDEPENDENT mode,
 * the sum over states; get_path_rhs_evals fills nfe[n] with each state's count (JOINT: all equal). */
size_t slv_ode_solver_get_n_rhs_evals(const slv_ode_solver *s);
size_t slv_ode_solver_get_n_steps(const slv_ode_solver *s);
size_t slv_ode_solver_get_n_rejected(const slv_ode_solver *s);
void slv_ode_solver_get_path_rhs_evals(const slv_ode_solver *s, size_t *nfe);
const slv_error *slv_ode_solver_get_error(const slv_ode_solver *s);

#ifdef __cplusplus
}
#endif
#endif
