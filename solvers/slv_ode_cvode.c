/* slv_ode_cvode.c — SUNDIALS CVODE: variable-order Adams–Moulton (orders 1..12) and BDF (1..5).
 *
 * Adams is for non-stiff problems and runs with fixed-point (functional) iteration, which needs no
 * Jacobian: memory O(len). BDF is for stiff problems and runs Newton iteration with a linear
 * solver: a dense matrix with a difference-quotient Jacobian when the system has at most
 * DENSE_MAX_LEN numbers, otherwise matrix-free GMRES (SUNLinSol_SPGMR, no preconditioner, Jacobian-
 * vector products by difference quotients) so memory stays O(len) for large batches. Every rhs call
 * CVODE makes — including those of the difference quotients — goes through the wrapper and is
 * counted in NFE.
 *
 * One SUNContext per work object; CVODE memory, linear and nonlinear solvers are created on the
 * first solve and re-initialised with CVodeReInit afterwards. CV_NORMAL mode with the stop time at
 * t1. SUNDIALS' messages are captured, never printed (CVodeSetErrFile(mem, NULL)).
 */
#include "slv_ode_impl.h"

#include <stdio.h>
#include <stdlib.h>

#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunlinsol/sunlinsol_spgmr.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunnonlinsol/sunnonlinsol_fixedpoint.h>

enum { DENSE_MAX_LEN = 32 };

typedef struct cvode_work {
    int lmm; /* CV_ADAMS or CV_BDF */
    SUNContext ctx;
    N_Vector y; /* wraps the caller's array for the current call */
    void *mem;
    SUNMatrix jacobian;          /* BDF, dense */
    SUNLinearSolver linear;      /* BDF */
    SUNNonlinearSolver nonlinear; /* Adams: fixed point */
    size_t len;
    slv_ode_solver *solver;
    char sundials_message[160];
} cvode_work;

static int cvode_rhs(realtype t, N_Vector y, N_Vector ydot, void *user_data)
{
    cvode_work *w = user_data;
    return slv_ode_rhs_call(w->solver, t, N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
}

static void cvode_error_handler(int error_code, const char *module, const char *function,
                                char *msg, void *eh_data)
{
    cvode_work *w = eh_data;
    (void)module;
    if (error_code < 0) /* warnings (CV_WARNING > 0) are dropped */
        snprintf(w->sundials_message, sizeof w->sundials_message, "%s: %s", function, msg);
}

/* Frees the CVODE memory and the solvers attached to it (the work object stays usable). */
static void cvode_destroy(cvode_work *w)
{
    if (w->mem != NULL)
        CVodeFree(&w->mem);
    if (w->linear != NULL)
        SUNLinSolFree(w->linear);
    if (w->jacobian != NULL)
        SUNMatDestroy(w->jacobian);
    if (w->nonlinear != NULL)
        SUNNonlinSolFree(w->nonlinear);
    w->linear = NULL;
    w->jacobian = NULL;
    w->nonlinear = NULL;
}

static void cvode_free(void *work)
{
    cvode_work *w = work;
    cvode_destroy(w);
    if (w->y != NULL)
        N_VDestroy(w->y);
    if (w->ctx != NULL)
        SUNContext_Free(&w->ctx);
    free(w);
}

static void *cvode_alloc_lmm(slv_ode_solver *s, size_t len, int lmm)
{
    cvode_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        goto fail;
    w->lmm = lmm;
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
        cvode_free(w);
    return NULL;
}

static void *cvode_alloc_adams(slv_ode_solver *s, size_t len)
{
    return cvode_alloc_lmm(s, len, CV_ADAMS);
}

static void *cvode_alloc_bdf(slv_ode_solver *s, size_t len)
{
    return cvode_alloc_lmm(s, len, CV_BDF);
}

/* Creates CVODE memory and its solvers at the first solve (CVodeInit needs a state). */
static int cvode_create(cvode_work *w, slv_ode_solver *s, double t0)
{
    w->mem = CVodeCreate(w->lmm, w->ctx);
    if (w->mem == NULL)
        return slv_ode_fail(s, SLV_ENOMEM, t0, "CVodeCreate failed");
    int flag = CVodeSetErrFile(w->mem, NULL);
    if (flag == CV_SUCCESS)
        flag = CVodeSetErrHandlerFn(w->mem, cvode_error_handler, w);
    if (flag == CV_SUCCESS)
        flag = CVodeInit(w->mem, cvode_rhs, t0, w->y);
    if (flag == CV_SUCCESS)
        flag = CVodeSetUserData(w->mem, w);
    if (flag != CV_SUCCESS)
        goto fail;

    if (w->lmm == CV_ADAMS) {
        w->nonlinear = SUNNonlinSol_FixedPoint(w->y, 0, w->ctx);
        if (w->nonlinear == NULL)
            goto fail_alloc;
        flag = CVodeSetNonlinearSolver(w->mem, w->nonlinear);
    } else if (w->len <= DENSE_MAX_LEN) {
        w->jacobian = SUNDenseMatrix((sunindextype)w->len, (sunindextype)w->len, w->ctx);
        if (w->jacobian == NULL)
            goto fail_alloc;
        w->linear = SUNLinSol_Dense(w->y, w->jacobian, w->ctx);
        if (w->linear == NULL)
            goto fail_alloc;
        flag = CVodeSetLinearSolver(w->mem, w->linear, w->jacobian);
    } else {
        w->linear = SUNLinSol_SPGMR(w->y, SUN_PREC_NONE, 0, w->ctx);
        if (w->linear == NULL)
            goto fail_alloc;
        flag = CVodeSetLinearSolver(w->mem, w->linear, NULL);
    }
    if (flag != CV_SUCCESS)
        goto fail;
    return SLV_OK;

fail_alloc:
    cvode_destroy(w);
    return slv_ode_fail(s, SLV_ENOMEM, t0, "cannot allocate CVODE solvers for %zu equations",
                        w->len);
fail:;
    char *name = CVodeGetReturnFlagName(flag);
    int status = slv_ode_fail(s, SLV_EBACKEND, t0, "CVODE set-up failed with %s: %s",
                              name != NULL ? name : "?", w->sundials_message);
    free(name);
    cvode_destroy(w);
    return status;
}

static int cvode_apply(void *work, slv_ode_solver *s, double t0, double t1, double *y)
{
    cvode_work *w = work;
    w->sundials_message[0] = '\0';
    N_VSetArrayPointer(y, w->y);

    int flag = CV_SUCCESS;
    if (w->mem == NULL) {
        int status = cvode_create(w, s, t0);
        if (status != SLV_OK) {
            N_VSetArrayPointer(NULL, w->y);
            return status;
        }
    } else {
        flag = CVodeReInit(w->mem, t0, w->y);
    }
    if (flag == CV_SUCCESS)
        flag = CVodeSStolerances(w->mem, s->rtol, s->atol);
    if (flag == CV_SUCCESS)
        flag = CVodeSetMaxNumSteps(w->mem, (long)s->max_steps);
    if (flag == CV_SUCCESS)
        flag = CVodeSetStopTime(w->mem, t1);

    double t_reached = t0;
    if (flag == CV_SUCCESS)
        flag = CVode(w->mem, t1, w->y, &t_reached, CV_NORMAL);

    long n_steps = 0, n_test_fails = 0, n_conv_fails = 0;
    CVodeGetNumSteps(w->mem, &n_steps);
    CVodeGetNumErrTestFails(w->mem, &n_test_fails);
    CVodeGetNumNonlinSolvConvFails(w->mem, &n_conv_fails);
    s->call.n_steps = (size_t)n_steps;
    s->call.n_rejected = (size_t)(n_test_fails + n_conv_fails);
    N_VSetArrayPointer(NULL, w->y);
    if (flag >= 0)
        return SLV_OK;

    if (flag == CV_TOO_MUCH_WORK)
        return slv_ode_fail(s, SLV_EMAXSTEPS, t_reached,
                            "max_steps = %zu steps taken, reached t = %.17g of [%g, %g]",
                            s->max_steps, t_reached, t0, t1);
    if (s->call.recoverable &&
        (flag == CV_FIRST_RHSFUNC_ERR || flag == CV_REPTD_RHSFUNC_ERR ||
         flag == CV_UNREC_RHSFUNC_ERR || flag == CV_CONV_FAILURE))
        return slv_ode_fail(s, SLV_ECALLBACK, s->call.t_recoverable,
                            "rhs returned > 0 (recoverable) at t = %.17g and CVODE could not "
                            "recover (%s)", s->call.t_recoverable,
                            flag == CV_FIRST_RHSFUNC_ERR ? "first call, at t0" : "repeated failures");
    char *name = CVodeGetReturnFlagName(flag);
    int status = slv_ode_fail(s, SLV_EBACKEND, t_reached, "CVode failed with %s at t = %.17g: %s",
                              name != NULL ? name : "?", t_reached, w->sundials_message);
    free(name);
    return status;
}

const struct slv_ode_backend slv_ode_backend_cvode_adams = {cvode_alloc_adams, cvode_apply,
                                                            cvode_free, 0};
const struct slv_ode_backend slv_ode_backend_cvode_bdf = {cvode_alloc_bdf, cvode_apply,
                                                          cvode_free, 0};
