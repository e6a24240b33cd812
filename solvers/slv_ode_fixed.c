/* slv_ode_fixed.c — fixed-step explicit Runge–Kutta methods on a batch: forward Euler (1 stage),
 * Heun's explicit trapezoidal rule (2 stages) and the classical fourth-order method (4 stages).
 * The grid is t_k = t0 + (t1 − t0)·k/N, k = 0..N, so the last step lands on t1 exactly;
 * NFE = N·stages. A step is computed into a scratch array and committed to y only when every
 * number is finite, so on failure y holds the last completed step. */
#include "slv_ode_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct fixed_work {
    size_t len;
    double *k;    /* (len) current stage derivative */
    double *k1;   /* (len) first stage derivative (Heun) */
    double *ytmp; /* (len) stage state */
    double *acc;  /* (len) weighted sum of stage derivatives (RK4), then the new state */
} fixed_work;

/* One step from (t, y) of size h; writes the new state to w->acc. Returns the rhs wrapper's code. */
typedef int (*fixed_step_fn)(fixed_work *w, slv_ode_solver *s, double t, double h,
                             const double *y);

static void *fixed_alloc(slv_ode_solver *s, size_t len)
{
    (void)s;
    fixed_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        goto fail;
    w->len = len;
    w->k = malloc(len * sizeof *w->k);
    w->k1 = malloc(len * sizeof *w->k1);
    w->ytmp = malloc(len * sizeof *w->ytmp);
    w->acc = malloc(len * sizeof *w->acc);
    if (w->k == NULL || w->k1 == NULL || w->ytmp == NULL || w->acc == NULL)
        goto fail;
    return w;
fail:
    if (w != NULL) {
        free(w->k);
        free(w->k1);
        free(w->ytmp);
        free(w->acc);
        free(w);
    }
    return NULL;
}

static void fixed_free(void *work)
{
    fixed_work *w = work;
    free(w->k);
    free(w->k1);
    free(w->ytmp);
    free(w->acc);
    free(w);
}

/* y_{k+1} = y_k + h f(t_k, y_k) */
static int euler_step(fixed_work *w, slv_ode_solver *s, double t, double h, const double *y)
{
    const size_t len = s->call.n_states * s->dim;
    int ret = slv_ode_rhs_call(s, t, y, w->k);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++)
        w->acc[i] = y[i] + h * w->k[i];
    return 0;
}

/* k1 = f(t, y), k2 = f(t + h, y + h k1), y_{k+1} = y + h/2 (k1 + k2) */
static int heun_step(fixed_work *w, slv_ode_solver *s, double t, double h, const double *y)
{
    const size_t len = s->call.n_states * s->dim;
    int ret = slv_ode_rhs_call(s, t, y, w->k1);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++)
        w->ytmp[i] = y[i] + h * w->k1[i];
    ret = slv_ode_rhs_call(s, t + h, w->ytmp, w->k);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++)
        w->acc[i] = y[i] + 0.5 * h * (w->k1[i] + w->k[i]);
    return 0;
}

/* Classical RK4: c = (0, 1/2, 1/2, 1), b = (1/6, 1/3, 1/3, 1/6). */
static int rk4_step(fixed_work *w, slv_ode_solver *s, double t, double h, const double *y)
{
    const size_t len = s->call.n_states * s->dim;
    const double half = 0.5 * h;
    int ret = slv_ode_rhs_call(s, t, y, w->k);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++) {
        w->acc[i] = w->k[i];
        w->ytmp[i] = y[i] + half * w->k[i];
    }
    ret = slv_ode_rhs_call(s, t + half, w->ytmp, w->k);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++) {
        w->acc[i] += 2.0 * w->k[i];
        w->ytmp[i] = y[i] + half * w->k[i];
    }
    ret = slv_ode_rhs_call(s, t + half, w->ytmp, w->k);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++) {
        w->acc[i] += 2.0 * w->k[i];
        w->ytmp[i] = y[i] + h * w->k[i];
    }
    ret = slv_ode_rhs_call(s, t + h, w->ytmp, w->k);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < len; i++)
        w->acc[i] = y[i] + (h / 6.0) * (w->acc[i] + w->k[i]);
    return 0;
}

static int fixed_apply(fixed_step_fn step, void *work, slv_ode_solver *s, double t0, double t1,
                       double *y)
{
    fixed_work *w = work;
    const size_t len = s->call.n_states * s->dim, n_steps = s->n_steps_fixed;
    double t = t0;
    for (size_t k = 0; k < n_steps; k++) {
        if (s->interrupt != NULL && *s->interrupt)
            return slv_ode_fail(s, SLV_EINTERRUPTED, t, "interrupted at t = %.17g", t);
        const double t_next = k + 1 == n_steps ? t1 : t0 + (t1 - t0) * (double)(k + 1) / (double)n_steps;
        int ret = step(w, s, t, t_next - t, y);
        if (ret > 0)
            return slv_ode_fail(s, SLV_ECALLBACK, s->call.t_recoverable,
                                "rhs returned %d (recoverable) at t = %.17g, but a fixed-step "
                                "method cannot shrink its step", ret, s->call.t_recoverable);
        if (ret < 0)
            return s->err.status;
        long bad = slv_find_nonfinite(w->acc, len);
        if (bad >= 0) {
            long path = s->call.first_path + bad / (long)s->dim;
            return slv_error_set(&s->err, SLV_ENONFINITE, t_next, path,
                                 "%s: state of path %ld, component %ld became %g in the step "
                                 "from t = %.17g to %.17g", s->method->name, path,
                                 bad % (long)s->dim, w->acc[bad], t, t_next);
        }
        memcpy(y, w->acc, len * sizeof *y);
        s->call.n_steps++;
        t = t_next;
    }
    return SLV_OK;
}

static int euler_apply(void *w, slv_ode_solver *s, double t0, double t1, double *y)
{
    return fixed_apply(euler_step, w, s, t0, t1, y);
}
static int heun_apply(void *w, slv_ode_solver *s, double t0, double t1, double *y)
{
    return fixed_apply(heun_step, w, s, t0, t1, y);
}
static int rk4_apply(void *w, slv_ode_solver *s, double t0, double t1, double *y)
{
    return fixed_apply(rk4_step, w, s, t0, t1, y);
}

const struct slv_ode_backend slv_ode_backend_euler = {fixed_alloc, euler_apply, fixed_free, 0};
const struct slv_ode_backend slv_ode_backend_heun = {fixed_alloc, heun_apply, fixed_free, 0};
const struct slv_ode_backend slv_ode_backend_rk4 = {fixed_alloc, rk4_apply, fixed_free, 0};
