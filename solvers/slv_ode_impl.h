/* slv_ode_impl.h — private to libscoresde_solvers: the solver object and the back-end table
 * shared by slv_ode.c (front end) and the back ends slv_ode_fixed.c, slv_ode_arkode.c,
 * slv_ode_cvode.c, slv_ode_gsl.c and slv_ode_rk45.c. Not installed; users see only slv_ode.h.
 */
#ifndef SLV_ODE_IMPL_H
#define SLV_ODE_IMPL_H

#include <stddef.h>

#include "slv_ode.h"

/* A back end integrates one system of `len` numbers holding `n_states` states of dimension d
 * (JOINT: the whole batch, len = n·d; INDEPENDENT: one state, len = d — except for a method with
 * batched_independent set, whose back end gets the whole batch, len = n·d, in both modes and
 * keeps per-state step control itself in INDEPENDENT mode: it then calls slv_ode_rhs_rows_call,
 * which counts each state's evaluations into s->path_rhs_evals, and adds the steps of every state
 * to s->call). The front end creates one work object per batch mode the first time that mode is
 * used and keeps it until slv_ode_solver_free, so repeated solves re-initialise instead of
 * re-creating. */
struct slv_ode_backend {
    /* Allocates the work object for systems of `len` numbers; NULL on allocation failure (the
     * message is then in s->err). */
    void *(*alloc)(slv_ode_solver *s, size_t len);
    /* Integrates y[len] from t0 to t1 (t1 != t0). Calls the user's rhs only through
     * slv_ode_rhs_call (or slv_ode_rhs_rows_call). Adds steps and rejected steps to s->call. On
     * failure returns a status, leaves y at the last accepted state and the report in s->err.
     * A method with dense_output set also writes the outputs s->call.y_out asks for. */
    int (*apply)(void *work, slv_ode_solver *s, double t0, double t1, double *y);
    void (*free)(void *work);
    int supports_fixed_step; /* honours slv_ode_solver_set_fixed_step */
};

/* What one back-end apply is integrating and what it cost. */
typedef struct slv_ode_call {
    size_t n_states;   /* rhs batch size: n (JOINT) or 1 (INDEPENDENT) */
    long first_path;   /* batch index of the first state of this call */
    size_t n_rhs_evals;  /* evaluations (rows evaluated, for slv_ode_rhs_rows_call) */
    size_t n_rhs_calls;  /* calls of the user's rhs or rhs_rows */
    size_t n_steps;
    size_t n_rejected;
    int recoverable;   /* the last rhs call returned > 0 */
    double t_recoverable;
    /* Dense output asked of this call (slv_ode_solver_solve_dense; y_out NULL: none): the state at
     * each t_out[k], k < n_out (t_out[n_out − 1] = t1), into y_out[k·n·d ..]. */
    size_t n_out;
    const double *t_out;
    double *y_out;
} slv_ode_call;

struct slv_ode_solver {
    const slv_ode_method *method;
    const slv_ode *sys;
    size_t n;
    size_t dim;
    double rtol, atol;
    size_t n_steps_fixed;   /* fixed-step methods */
    size_t max_steps;       /* adaptive methods */
    double fixed_step;      /* adaptive back ends forced to one step size; 0: adaptive */
    slv_batch_mode mode;
    volatile int *interrupt;
    slv_ode_rhs_rows_fn rhs_rows; /* NULL: none */

    void *work[2];          /* indexed by slv_batch_mode */
    slv_ode_call call;      /* the back-end apply in progress */

    /* Counters of the last solve. */
    size_t n_rhs_evals, n_rhs_calls, n_steps, n_rejected;
    size_t *path_rhs_evals; /* [n] */
    slv_error err;
};

/* Calls the user's rhs on the current call's batch and checks it: returns 0 on success, > 0 when
 * the rhs asked for a smaller step (recorded in s->call), < 0 after filling s->err (the rhs
 * stopped, a non-finite value appeared in y or dydt, or the interrupt flag was raised). */
int slv_ode_rhs_call(slv_ode_solver *s, double t, const double *y, double *dydt);

/* Calls the user's vector field on m rows of the batch, each at its own time (rows->t, rows->path
 * as slv_ode_rows documents): s->rhs_rows when set, else the plain rhs at rows->t[0]
 * (the caller passes only rows that share that time). Counts one call, m evaluations, and one
 * evaluation for each row's path in s->path_rhs_evals. Checks as slv_ode_rhs_call; a report names
 * the time and path of the row holding the first non-finite value. Returns 0, > 0 (recoverable:
 * recorded in s->call, applies to every row of the call) or < 0 after filling s->err. */
int slv_ode_rhs_rows_call(slv_ode_solver *s, const slv_ode_rows *rows, size_t m, const double *y,
                          double *dydt);

/* Records the failure of a back end unless the rhs wrapper has already recorded a more precise
 * cause; returns the status in s->err. */
int slv_ode_fail(slv_ode_solver *s, int status, double t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Weighted RMS norm ‖v‖ with weights 1/(rtol·|y_i| + atol), as SUNDIALS uses. */
double slv_ode_wrms_norm(const double *v, const double *y, size_t len, double rtol, double atol);

extern const struct slv_ode_backend slv_ode_backend_euler;
extern const struct slv_ode_backend slv_ode_backend_heun;
extern const struct slv_ode_backend slv_ode_backend_rk4;
extern const struct slv_ode_backend slv_ode_backend_arkode_dopri5;
extern const struct slv_ode_backend slv_ode_backend_cvode_adams;
extern const struct slv_ode_backend slv_ode_backend_cvode_bdf;
extern const struct slv_ode_backend slv_ode_backend_gsl_rk8pd;
extern const struct slv_ode_backend slv_ode_backend_gsl_rkf45;
extern const struct slv_ode_backend slv_ode_backend_rk45;

#endif
