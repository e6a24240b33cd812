/* slv_ode_gsl.c — GSL odeiv2 embedded Runge–Kutta pairs: Prince–Dormand 8(9) (rk8pd, 13 stages)
 * and Runge–Kutta–Fehlberg 4(5) (rkf45, 6 stages), driven by gsl_odeiv2_evolve_apply with
 * gsl_odeiv2_control_standard (a_y = 1, a_dydt = 0): a step is accepted when
 * max_i |err_i| / (atol + rtol·|y_i|) <= 1.1.
 *
 * The evolve layer works on the caller's array directly (no copy) and evaluates dydt at the start
 * of every step (can_use_dydt_in) and at its end (dydt_out), so NFE per accepted step is
 * stages + 1 (rk8pd 14, rkf45 7), plus stages per rejected attempt.
 *
 * Return codes: the rhs wrapper returns GSL_SUCCESS, GSL_EFAILED for a recoverable failure (rhs
 * > 0: evolve halves the step and retries) or GSL_EBADFUNC to stop (rhs < 0, non-finite values,
 * interrupt). GSL_EBADFUNC is never retried by GSL — it is the "stop" code, not a recoverable one.
 * A recoverable failure at the start of a step (the dydt_in evaluation at the accepted state)
 * cannot be retried either: evolve returns at once and the solve fails with SLV_ECALLBACK.
 *
 * The initial step is |h0| = 0.01·‖y0‖/‖f(t0, y0)‖ in the weighted RMS norm (Hairer, Nørsett and
 * Wanner, "Solving ODEs I", II.4), 1e-6 when either norm is below 1e-5, at most |t1 − t0|; its rhs
 * call counts in NFE.
 */
#include "slv_ode_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>

typedef struct gsl_work {
    const gsl_odeiv2_step_type *type;
    gsl_odeiv2_step *step;
    gsl_odeiv2_control *control;
    gsl_odeiv2_evolve *evolve;
    gsl_odeiv2_system system;
    double *f0; /* (len) rhs at t0, for the initial step */
    size_t len;
} gsl_work;

static int gsl_rhs(double t, const double y[], double dydt[], void *params)
{
    int ret = slv_ode_rhs_call(params, t, y, dydt);
    if (ret > 0)
        return GSL_EFAILED;
    return ret < 0 ? GSL_EBADFUNC : GSL_SUCCESS;
}

static void gsl_work_free(void *work)
{
    gsl_work *w = work;
    if (w->evolve != NULL)
        gsl_odeiv2_evolve_free(w->evolve);
    if (w->control != NULL)
        gsl_odeiv2_control_free(w->control);
    if (w->step != NULL)
        gsl_odeiv2_step_free(w->step);
    free(w->f0);
    free(w);
}

static void *gsl_work_alloc(slv_ode_solver *s, size_t len, const gsl_odeiv2_step_type *type)
{
    gsl_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        goto fail;
    w->type = type;
    w->len = len;
    w->step = gsl_odeiv2_step_alloc(type, len);
    w->control = gsl_odeiv2_control_standard_new(s->atol, s->rtol, 1.0, 0.0);
    w->evolve = gsl_odeiv2_evolve_alloc(len);
    w->f0 = malloc(len * sizeof *w->f0);
    if (w->step == NULL || w->control == NULL || w->evolve == NULL || w->f0 == NULL)
        goto fail;
    w->system = (gsl_odeiv2_system){gsl_rhs, NULL, len, s};
    return w;
fail:
    if (w != NULL)
        gsl_work_free(w);
    return NULL;
}

static void *gsl_alloc_rk8pd(slv_ode_solver *s, size_t len)
{
    return gsl_work_alloc(s, len, gsl_odeiv2_step_rk8pd);
}

static void *gsl_alloc_rkf45(slv_ode_solver *s, size_t len)
{
    return gsl_work_alloc(s, len, gsl_odeiv2_step_rkf45);
}

static int gsl_status_error(slv_ode_solver *s, int status, double t)
{
    if (status == GSL_EBADFUNC)
        return slv_ode_fail(s, SLV_ECALLBACK, t, "rhs failed at t = %.17g", t);
    if (status == GSL_EFAILED && s->call.recoverable)
        return slv_ode_fail(s, SLV_ECALLBACK, s->call.t_recoverable,
                            "rhs returned > 0 (recoverable) at t = %.17g and GSL could not "
                            "retry (failure at the start of a step, or the step could not shrink "
                            "further)", s->call.t_recoverable);
    if (status == GSL_FAILURE)
        return slv_ode_fail(s, SLV_ESTEPSIZE, t,
                            "step size underflow at t = %.17g: rtol = %g, atol = %g cannot be met",
                            t, s->rtol, s->atol);
    return slv_ode_fail(s, SLV_EBACKEND, t, "gsl_odeiv2_evolve_apply failed at t = %.17g: %s", t,
                        gsl_strerror(status));
}

static int gsl_apply(void *work, slv_ode_solver *s, double t0, double t1, double *y)
{
    gsl_work *w = work;
    const double direction = t1 > t0 ? 1.0 : -1.0, span = fabs(t1 - t0);
    gsl_odeiv2_step_reset(w->step);
    gsl_odeiv2_evolve_reset(w->evolve);
    gsl_odeiv2_control_init(w->control, s->atol, s->rtol, 1.0, 0.0);

    double h;
    if (s->fixed_step > 0.0) {
        h = s->fixed_step;
    } else {
        int ret = slv_ode_rhs_call(s, t0, y, w->f0);
        if (ret != 0)
            return gsl_status_error(s, ret > 0 ? GSL_EFAILED : GSL_EBADFUNC, t0);
        double y_norm = slv_ode_wrms_norm(y, y, w->len, s->rtol, s->atol);
        double f_norm = slv_ode_wrms_norm(w->f0, y, w->len, s->rtol, s->atol);
        h = y_norm < 1e-5 || f_norm < 1e-5 ? 1e-6 : 0.01 * y_norm / f_norm;
        if (!(h > 0.0)) /* underflow when f is huge */
            h = 1e-6 * span;
    }
    h = direction * fmin(h, span);

    double t = t0;
    int status = GSL_SUCCESS;
    while (t != t1) {
        if (w->evolve->count >= s->max_steps) {
            status = slv_ode_fail(s, SLV_EMAXSTEPS, t,
                                  "max_steps = %zu steps taken, reached t = %.17g of [%g, %g]",
                                  s->max_steps, t, t0, t1);
            break;
        }
        if (s->interrupt != NULL && *s->interrupt) {
            status = slv_ode_fail(s, SLV_EINTERRUPTED, t, "interrupted at t = %.17g", t);
            break;
        }
        int gsl_status;
        if (s->fixed_step > 0.0) {
            const int last = fabs(t1 - t) <= fabs(h);
            gsl_status = gsl_odeiv2_evolve_apply_fixed_step(w->evolve, NULL, w->step, &w->system,
                                                            &t, last ? t1 - t : h, y);
            if (gsl_status == GSL_SUCCESS && last)
                t = t1;
        } else {
            gsl_status = gsl_odeiv2_evolve_apply(w->evolve, w->control, w->step, &w->system, &t,
                                                 t1, &h, y);
        }
        if (gsl_status != GSL_SUCCESS) {
            /* evolve saved the state before the failed step in y0; some failure paths return
             * with y modified, so put the last accepted state back. */
            memcpy(y, w->evolve->y0, w->len * sizeof *y);
            status = gsl_status_error(s, gsl_status, t);
            break;
        }
    }
    s->call.n_steps = w->evolve->count;
    s->call.n_rejected = w->evolve->failed_steps;
    return status;
}

const struct slv_ode_backend slv_ode_backend_gsl_rk8pd = {gsl_alloc_rk8pd, gsl_apply,
                                                          gsl_work_free, 1};
const struct slv_ode_backend slv_ode_backend_gsl_rkf45 = {gsl_alloc_rkf45, gsl_apply,
                                                          gsl_work_free, 1};
