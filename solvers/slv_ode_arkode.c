/* slv_ode_arkode.c — Dormand–Prince 5(4) through SUNDIALS ARKODE ERKStep
 * (table ARKODE_DORMAND_PRINCE_7_4_5, set explicitly: ERKStep's default 5th-order table differs).
 *
 * One SUNContext per work object, created in alloc; the ERKStep memory is created on the first
 * solve and re-initialised (ERKStepReInit) on later ones in the same direction of time. The
 * caller's array is wrapped, not copied (N_VMake_Serial + N_VSetArrayPointer). SUNDIALS' error
 * messages are captured into the solver's report (ERKStepSetErrHandlerFn) and never printed
 * (ERKStepSetErrFile(mem, NULL)).
 *
 * Stepping: ARK_ONE_STEP calls with the stop time set to t1, so the last step lands exactly on t1
 * (ARK_TSTOP_RETURN). One call per step (instead of one ARK_NORMAL call) lets the driver know the
 * time of the last accepted state — after a failure inside a step ARKODE returns the state of the
 * last accepted step but the time of the failing stage — poll the interrupt flag between steps,
 * and count the step budget itself.
 *
 * ERKStep in SUNDIALS 6.4 treats an rhs return > 0 as unrecoverable (ARK_UNREC_RHSFUNC_ERR). To
 * honour the library's "recoverable" convention the driver restarts from the last accepted state
 * with a quarter of the failed step (ERKStepReset + ERKStepSetInitStep), at most MAX_RHS_RETRIES
 * times in a row from the same state; each restart counts as a rejected step. A recoverable
 * failure of the first rhs call of a step (f at the accepted state itself) cannot be retried.
 */
#include "slv_ode_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arkode/arkode_erkstep.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>

enum { MAX_RHS_RETRIES = 10 };

typedef struct arkode_work {
    SUNContext ctx;
    N_Vector y;     /* wraps the caller's array for the current call */
    void *mem;      /* ERKStep memory, created on the first solve */
    size_t len;
    double direction; /* sign of t1 − t0 in the solve the memory was last used for */
    slv_ode_solver *solver;
    char sundials_message[160]; /* last error text from ARKODE */
} arkode_work;

static int arkode_rhs(realtype t, N_Vector y, N_Vector ydot, void *user_data)
{
    arkode_work *w = user_data;
    return slv_ode_rhs_call(w->solver, t, N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
}

static void arkode_error_handler(int error_code, const char *module, const char *function,
                                 char *msg, void *eh_data)
{
    arkode_work *w = eh_data;
    (void)module;
    if (error_code < 0) /* warnings (ARK_WARNING > 0) are dropped */
        snprintf(w->sundials_message, sizeof w->sundials_message, "%s: %s", function, msg);
}

static void arkode_free(void *work)
{
    arkode_work *w = work;
    if (w->mem != NULL)
        ERKStepFree(&w->mem);
    if (w->y != NULL)
        N_VDestroy(w->y);
    if (w->ctx != NULL)
        SUNContext_Free(&w->ctx);
    free(w);
}

static void *arkode_alloc(slv_ode_solver *s, size_t len)
{
    arkode_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        goto fail;
    w->len = len;
    w->solver = s;
    if (SUNContext_Create(NULL, &w->ctx) != 0)
        goto fail;
    w->y = N_VMake_Serial((sunindextype)len, NULL, w->ctx);
    if (w->y == NULL)
        goto fail;
    return w;
fail:
    if (w != NULL)
        arkode_free(w);
    return NULL;
}

/* Creates the ERKStep memory at the first solve (it needs an initial state) and sets the options
 * that persist across ERKStepReInit. */
static int arkode_create(arkode_work *w, slv_ode_solver *s, double t0)
{
    w->mem = ERKStepCreate(arkode_rhs, t0, w->y, w->ctx);
    if (w->mem == NULL)
        return slv_ode_fail(s, SLV_ENOMEM, t0, "ERKStepCreate failed for %zu equations", w->len);
    int flag = ERKStepSetErrFile(w->mem, NULL);
    if (flag == ARK_SUCCESS)
        flag = ERKStepSetErrHandlerFn(w->mem, arkode_error_handler, w);
    if (flag == ARK_SUCCESS)
        flag = ERKStepSetUserData(w->mem, w);
    if (flag == ARK_SUCCESS)
        flag = ERKStepSetTableNum(w->mem, ARKODE_DORMAND_PRINCE_7_4_5);
    /* ARKODE returns the state at the stop time through its interpolant. The default degree
     * (order − 1 = 4) needs an extra rhs call at 2/3 of the last step; the cubic Hermite
     * interpolant uses only y and f at both ends (f at the end comes free with FSAL) and at the
     * end point itself reproduces the step's solution. */
    if (flag == ARK_SUCCESS)
        flag = ERKStepSetInterpolantDegree(w->mem, 3);
    if (flag != ARK_SUCCESS) {
        ERKStepFree(&w->mem);
        return slv_ode_fail(s, SLV_EBACKEND, t0, "ERKStep set-up failed with flag %d", flag);
    }
    return SLV_OK;
}

static int arkode_flag_error(arkode_work *w, slv_ode_solver *s, int flag, double t_accepted)
{
    const int rhs_flag = flag == ARK_RHSFUNC_FAIL || flag == ARK_UNREC_RHSFUNC_ERR ||
                         flag == ARK_FIRST_RHSFUNC_ERR || flag == ARK_REPTD_RHSFUNC_ERR;
    if (rhs_flag && s->call.recoverable)
        return slv_ode_fail(s, SLV_ECALLBACK, s->call.t_recoverable,
                            "rhs returned > 0 (recoverable) at t = %.17g and smaller steps from "
                            "the last accepted state (t = %.17g) did not get past it (at most %d "
                            "restarts; none possible when f fails at that state itself)",
                            s->call.t_recoverable, t_accepted, MAX_RHS_RETRIES);
    char *name = ERKStepGetReturnFlagName(flag);
    int status = slv_ode_fail(s, SLV_EBACKEND, t_accepted,
                              "ERKStepEvolve failed with %s after t = %.17g: %s",
                              name != NULL ? name : "?", t_accepted, w->sundials_message);
    free(name);
    return status;
}

static int arkode_apply(void *work, slv_ode_solver *s, double t0, double t1, double *y)
{
    arkode_work *w = work;
    w->sundials_message[0] = '\0';
    N_VSetArrayPointer(y, w->y);

    /* ERKStepReInit keeps the last step size, and ARKODE checks the stop time against its sign:
     * a solve in the other direction needs fresh memory. */
    const double direction = t1 > t0 ? 1.0 : -1.0;
    if (w->mem != NULL && direction != w->direction)
        ERKStepFree(&w->mem);
    w->direction = direction;

    int flag;
    if (w->mem == NULL) {
        int status = arkode_create(w, s, t0);
        if (status != SLV_OK) {
            N_VSetArrayPointer(NULL, w->y);
            return status;
        }
        flag = ARK_SUCCESS;
    } else {
        flag = ERKStepReInit(w->mem, arkode_rhs, t0, w->y);
    }
    if (flag == ARK_SUCCESS)
        flag = ERKStepSStolerances(w->mem, s->rtol, s->atol);
    if (flag == ARK_SUCCESS)
        flag = ERKStepSetStopTime(w->mem, t1);
    if (flag == ARK_SUCCESS)
        flag = ERKStepSetFixedStep(w->mem, direction * s->fixed_step);
    if (flag == ARK_SUCCESS && s->fixed_step == 0.0)
        flag = ERKStepSetInitStep(w->mem, 0.0); /* ARKODE's estimate; undoes a restart's h */
    if (flag != ARK_SUCCESS) {
        N_VSetArrayPointer(NULL, w->y);
        return slv_ode_fail(s, SLV_EBACKEND, t0, "ERKStep re-initialisation failed: %s",
                            w->sundials_message);
    }

    /* ERKStepReset keeps the counters (only Create/ReInit zero them). */
    double t_accepted = t0, t_returned = t0, t_restart = t0;
    long n_steps = 0, restarts = 0, in_a_row = 0;
    int status = SLV_OK;
    for (;;) {
        if (n_steps >= (long)s->max_steps) {
            status = slv_ode_fail(s, SLV_EMAXSTEPS, t_accepted,
                                  "max_steps = %zu steps taken, reached t = %.17g of [%g, %g]",
                                  s->max_steps, t_accepted, t0, t1);
            break;
        }
        if (s->interrupt != NULL && *s->interrupt) {
            status = slv_ode_fail(s, SLV_EINTERRUPTED, t_accepted, "interrupted at t = %.17g",
                                  t_accepted);
            break;
        }
        flag = ERKStepEvolve(w->mem, t1, w->y, &t_returned, ARK_ONE_STEP);
        ERKStepGetNumSteps(w->mem, &n_steps);
        if (flag == ARK_TSTOP_RETURN)
            break; /* at t1, y holds the solution */
        if (flag >= 0) {
            t_accepted = t_returned;
            continue;
        }
        /* y holds the state at t_accepted (ARKODE copies its last accepted state on failure). */
        if (!(flag == ARK_UNREC_RHSFUNC_ERR && s->call.recoverable)) {
            status = arkode_flag_error(w, s, flag, t_accepted);
            break;
        }
        in_a_row = restarts > 0 && t_accepted == t_restart ? in_a_row + 1 : 1;
        if (in_a_row > MAX_RHS_RETRIES) {
            status = arkode_flag_error(w, s, flag, t_accepted);
            break;
        }
        /* Recoverable rhs failure inside a step: restart from the last accepted state with a
         * quarter of the step that failed. */
        double h_failed = 0.0;
        ERKStepGetCurrentStep(w->mem, &h_failed);
        t_restart = t_accepted;
        restarts++;
        flag = ERKStepReset(w->mem, t_accepted, w->y);
        if (flag == ARK_SUCCESS) /* the reset clears the stop time */
            flag = ERKStepSetStopTime(w->mem, t1);
        if (flag == ARK_SUCCESS && s->fixed_step == 0.0)
            flag = ERKStepSetInitStep(w->mem, 0.25 * h_failed);
        if (flag != ARK_SUCCESS) {
            status = arkode_flag_error(w, s, flag, t_accepted);
            break;
        }
        s->call.recoverable = 0;
    }

    long n_fails = 0;
    ERKStepGetNumErrTestFails(w->mem, &n_fails);
    s->call.n_steps = (size_t)n_steps;
    s->call.n_rejected = (size_t)(n_fails + restarts);
    N_VSetArrayPointer(NULL, w->y);
    return status;
}

const struct slv_ode_backend slv_ode_backend_arkode_dopri5 = {arkode_alloc, arkode_apply,
                                                              arkode_free, 1};
