/* slv_ode.c — the ODE front end: method table, lookup, solver object, batch modes and the rhs
 * wrapper every back end calls (counting, non-finite checks, interrupt). */
#include "slv_ode_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Method table ------------------------------------------------------------------------ */

/* name, order, adaptive, back end, dense output, batched INDEPENDENT mode */
static const slv_ode_method euler_method = {"euler", 1, 0, &slv_ode_backend_euler, 0, 0};
static const slv_ode_method heun_method = {"heun", 2, 0, &slv_ode_backend_heun, 0, 0};
static const slv_ode_method rk4_method = {"rk4", 4, 0, &slv_ode_backend_rk4, 0, 0};
static const slv_ode_method dopri5_method = {"dopri5", 5, 1, &slv_ode_backend_arkode_dopri5, 0, 0};
/* Variable order: CVODE Adams runs orders 1..12, BDF 1..5; `order` holds the maximum. */
static const slv_ode_method cvode_adams_method = {"cvode-adams", 12, 1,
                                                  &slv_ode_backend_cvode_adams, 0, 0};
static const slv_ode_method cvode_bdf_method = {"cvode-bdf", 5, 1, &slv_ode_backend_cvode_bdf,
                                                0, 0};
static const slv_ode_method gsl_rk8pd_method = {"gsl-rk8pd", 8, 1, &slv_ode_backend_gsl_rk8pd,
                                                0, 0};
static const slv_ode_method gsl_rkf45_method = {"gsl-rkf45", 5, 1, &slv_ode_backend_gsl_rkf45,
                                                0, 0};
static const slv_ode_method rk45_method = {"rk45", 5, 1, &slv_ode_backend_rk45, 1, 1};

const slv_ode_method *const slv_ode_euler = &euler_method;
const slv_ode_method *const slv_ode_heun = &heun_method;
const slv_ode_method *const slv_ode_rk4 = &rk4_method;
const slv_ode_method *const slv_ode_dopri5 = &dopri5_method;
const slv_ode_method *const slv_ode_cvode_adams = &cvode_adams_method;
const slv_ode_method *const slv_ode_cvode_bdf = &cvode_bdf_method;
const slv_ode_method *const slv_ode_gsl_rk8pd = &gsl_rk8pd_method;
const slv_ode_method *const slv_ode_gsl_rkf45 = &gsl_rkf45_method;
const slv_ode_method *const slv_ode_rk45 = &rk45_method;

/* New methods go at the end: tests and tools index this table. */
const slv_ode_method *const slv_ode_methods[] = {
    &euler_method,       &heun_method,      &rk4_method,       &dopri5_method,
    &cvode_adams_method, &cvode_bdf_method, &gsl_rk8pd_method, &gsl_rkf45_method,
    &rk45_method,        NULL};

const slv_ode_method *slv_ode_method_by_name(const char *name)
{
    if (name == NULL)
        return NULL;
    for (const slv_ode_method *const *m = slv_ode_methods; *m != NULL; m++)
        if (strcmp((*m)->name, name) == 0)
            return *m;
    return NULL;
}

/* ---- Solver object ----------------------------------------------------------------------- */

int slv_ode_validate(const slv_ode *sys, size_t n, slv_error *err)
{
    slv_error scratch;
    if (err == NULL)
        err = &scratch;
    slv_error_clear(err);
    if (sys == NULL)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "ode: sys is NULL, expected a system");
    if (sys->rhs == NULL)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "ode: sys->rhs is NULL, expected a function");
    if (sys->dim == 0)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "ode: sys->dim is 0, expected >= 1");
    if (n == 0)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "ode: batch size n is 0, expected >= 1");
    if (n > ((size_t)-1) / sizeof(double) / sys->dim)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                             "ode: batch of n = %zu states of dim %zu overflows size_t", n, sys->dim);
    return SLV_OK;
}

slv_ode_solver *slv_ode_solver_alloc(const slv_ode_method *method, const slv_ode *sys, size_t n)
{
    if (method == NULL || method->backend == NULL || slv_ode_validate(sys, n, NULL) != SLV_OK)
        return NULL;
    slv_ode_solver *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto fail;
    s->path_rhs_evals = calloc(n, sizeof *s->path_rhs_evals);
    if (s->path_rhs_evals == NULL)
        goto fail;
    s->method = method;
    s->sys = sys;
    s->n = n;
    s->dim = sys->dim;
    s->rtol = 1e-5;
    s->atol = 1e-5;
    s->n_steps_fixed = 100;
    s->max_steps = 100000;
    s->fixed_step = 0.0;
    s->mode = SLV_BATCH_JOINT;
    slv_error_clear(&s->err);
    return s;
fail:
    slv_ode_solver_free(s);
    return NULL;
}

void slv_ode_solver_free(slv_ode_solver *s)
{
    if (s == NULL)
        return;
    for (int mode = 0; mode < 2; mode++)
        if (s->work[mode] != NULL)
            s->method->backend->free(s->work[mode]);
    free(s->path_rhs_evals);
    free(s);
}

int slv_ode_solver_set_tolerances(slv_ode_solver *s, double rtol, double atol)
{
    if (!(isfinite(rtol) && rtol > 0.0))
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "%s: rtol = %g, expected a finite value > 0", s->method->name, rtol);
    if (!(isfinite(atol) && atol >= 0.0))
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "%s: atol = %g, expected a finite value >= 0", s->method->name, atol);
    s->rtol = rtol;
    s->atol = atol;
    return SLV_OK;
}

int slv_ode_solver_set_steps(slv_ode_solver *s, size_t n_steps)
{
    if (n_steps == 0)
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1, "%s: n_steps = 0, expected >= 1",
                             s->method->name);
    s->n_steps_fixed = n_steps;
    return SLV_OK;
}

int slv_ode_solver_set_max_steps(slv_ode_solver *s, size_t max_steps)
{
    /* SUNDIALS holds the budget in a long. */
    if (max_steps == 0 || max_steps > (size_t)0x7fffffff)
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "%s: max_steps = %zu, expected 1 .. 2147483647", s->method->name,
                             max_steps);
    s->max_steps = max_steps;
    return SLV_OK;
}

int slv_ode_solver_set_batch_mode(slv_ode_solver *s, slv_batch_mode mode)
{
    if (mode != SLV_BATCH_JOINT && mode != SLV_BATCH_INDEPENDENT)
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "%s: batch mode %d, expected SLV_BATCH_JOINT (0) or "
                             "SLV_BATCH_INDEPENDENT (1)", s->method->name, (int)mode);
    s->mode = mode;
    return SLV_OK;
}

void slv_ode_solver_set_interrupt(slv_ode_solver *s, volatile int *flag)
{
    s->interrupt = flag;
}

void slv_ode_solver_set_rhs_rows(slv_ode_solver *s, slv_ode_rhs_rows_fn rhs_rows)
{
    s->rhs_rows = rhs_rows;
}

int slv_ode_solver_set_fixed_step(slv_ode_solver *s, double h)
{
    if (!(isfinite(h) && h >= 0.0))
        return slv_error_set(&s->err, SLV_EINVAL, 0.0, -1,
                             "%s: fixed step h = %g, expected a finite value >= 0 (0: adaptive)",
                             s->method->name, h);
    if (!s->method->backend->supports_fixed_step)
        return slv_error_set(&s->err, SLV_EUNSUPPORTED, 0.0, -1,
                             "%s: set_fixed_step is not supported by this method%s", s->method->name,
                             s->method->adaptive ? "" : " (use set_steps)");
    s->fixed_step = h;
    return SLV_OK;
}

size_t slv_ode_solver_get_n_rhs_evals(const slv_ode_solver *s) { return s->n_rhs_evals; }
size_t slv_ode_solver_get_n_rhs_calls(const slv_ode_solver *s) { return s->n_rhs_calls; }
size_t slv_ode_solver_get_n_steps(const slv_ode_solver *s) { return s->n_steps; }
size_t slv_ode_solver_get_n_rejected(const slv_ode_solver *s) { return s->n_rejected; }
const slv_error *slv_ode_solver_get_error(const slv_ode_solver *s) { return &s->err; }

void slv_ode_solver_get_path_rhs_evals(const slv_ode_solver *s, size_t *nfe)
{
    memcpy(nfe, s->path_rhs_evals, s->n * sizeof *nfe);
}

/* ---- Helpers for the back ends ------------------------------------------------------------ */

/* Path a failure of the current call is tied to: the call's only state (INDEPENDENT mode, or a
 * JOINT solver of one state, as the samplers' per-sample loops use), none for a JOINT batch. */
static long call_path(const slv_ode_solver *s)
{
    return s->call.n_states == 1 ? s->call.first_path : -1;
}

int slv_ode_rhs_call(slv_ode_solver *s, double t, const double *y, double *dydt)
{
    slv_ode_call *call = &s->call;
    const size_t d = s->dim, len = call->n_states * d;

    if (s->interrupt != NULL && *s->interrupt)
        return slv_error_set(&s->err, SLV_EINTERRUPTED, t, call_path(s),
                             "%s: interrupted at t = %.17g", s->method->name, t);
    long bad = slv_find_nonfinite(y, len);
    if (bad >= 0)
        return slv_error_set(&s->err, SLV_ENONFINITE, t, call->first_path + bad / (long)d,
                             "%s: state of path %ld, component %ld is %g at t = %.17g "
                             "(input of an rhs call)", s->method->name,
                             call->first_path + bad / (long)d, bad % (long)d, y[bad], t);

    call->n_rhs_evals++;
    call->n_rhs_calls++;
    int ret = s->sys->rhs(t, call->n_states, d, y, dydt, s->sys->params);
    if (ret < 0)
        return slv_error_set(&s->err, SLV_ECALLBACK, t, call_path(s),
                             "%s: rhs returned %d (stop) at t = %.17g", s->method->name, ret, t);
    if (ret > 0) {
        call->recoverable = 1;
        call->t_recoverable = t;
        return ret;
    }
    call->recoverable = 0;

    bad = slv_find_nonfinite(dydt, len);
    if (bad >= 0)
        return slv_error_set(&s->err, SLV_ENONFINITE, t, call->first_path + bad / (long)d,
                             "%s: rhs output for path %ld, component %ld is %g at t = %.17g",
                             s->method->name, call->first_path + bad / (long)d, bad % (long)d,
                             dydt[bad], t);
    return 0;
}

int slv_ode_rhs_rows_call(slv_ode_solver *s, const slv_ode_rows *rows, size_t m, const double *y,
                          double *dydt)
{
    slv_ode_call *call = &s->call;
    const size_t d = s->dim, len = m * d;
    const long one_path = m == 1 ? (long)rows->path[0] : -1;

    if (s->interrupt != NULL && *s->interrupt)
        return slv_error_set(&s->err, SLV_EINTERRUPTED, rows->t[0], one_path,
                             "%s: interrupted at t = %.17g", s->method->name, rows->t[0]);
    long bad = slv_find_nonfinite(y, len);
    if (bad >= 0) {
        const size_t row = (size_t)bad / d;
        return slv_error_set(&s->err, SLV_ENONFINITE, rows->t[row], (long)rows->path[row],
                             "%s: state of path %zu, component %zu is %g at t = %.17g (input of "
                             "an rhs call)", s->method->name, rows->path[row], (size_t)bad % d,
                             y[bad], rows->t[row]);
    }

    call->n_rhs_evals += m;
    call->n_rhs_calls++;
    for (size_t i = 0; i < m; i++)
        s->path_rhs_evals[rows->path[i]]++;
    const int by_rows = s->rhs_rows != NULL;
    int ret = by_rows ? s->rhs_rows(rows, m, d, y, dydt, s->sys->params)
                      : s->sys->rhs(rows->t[0], m, d, y, dydt, s->sys->params);
    if (ret < 0) {
        if (m == 1)
            return slv_error_set(&s->err, SLV_ECALLBACK, rows->t[0], one_path,
                                 "%s: %s returned %d (stop) for path %zu at t = %.17g",
                                 s->method->name, by_rows ? "rhs_rows" : "rhs", ret, rows->path[0],
                                 rows->t[0]);
        return slv_error_set(&s->err, SLV_ECALLBACK, rows->t[0], -1,
                             "%s: %s returned %d (stop) on %zu rows, paths %zu .. %zu (first at "
                             "t = %.17g)", s->method->name, by_rows ? "rhs_rows" : "rhs", ret, m,
                             rows->path[0], rows->path[m - 1], rows->t[0]);
    }
    if (ret > 0) {
        call->recoverable = 1;
        call->t_recoverable = rows->t[0];
        return ret;
    }
    call->recoverable = 0;

    bad = slv_find_nonfinite(dydt, len);
    if (bad >= 0) {
        const size_t row = (size_t)bad / d;
        return slv_error_set(&s->err, SLV_ENONFINITE, rows->t[row], (long)rows->path[row],
                             "%s: rhs output for path %zu, component %zu is %g at t = %.17g",
                             s->method->name, rows->path[row], (size_t)bad % d, dydt[bad],
                             rows->t[row]);
    }
    return 0;
}

int slv_ode_fail(slv_ode_solver *s, int status, double t, const char *fmt, ...)
{
    if (s->err.status != SLV_OK)
        return s->err.status; /* the rhs wrapper already named the precise cause */
    char text[sizeof s->err.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return slv_error_set(&s->err, status, t, call_path(s), "%s: %s", s->method->name, text);
}

double slv_ode_wrms_norm(const double *v, const double *y, size_t len, double rtol, double atol)
{
    double sum = 0.0;
    for (size_t i = 0; i < len; i++) {
        double scaled = v[i] / (rtol * fabs(y[i]) + atol);
        sum += scaled * scaled;
    }
    return sqrt(sum / (double)len);
}

/* ---- Solve -------------------------------------------------------------------------------- */

/* One back-end call on n_states states from path first_path, with the dense output y_out asks
 * for (NULL: none); adds its counters to the solve's. */
static int apply_call(slv_ode_solver *s, void *work, size_t n_states, long first_path, double t0,
                      size_t n_out, const double *t_out, double *y, double *y_out)
{
    memset(&s->call, 0, sizeof s->call);
    s->call.n_states = n_states;
    s->call.first_path = first_path;
    s->call.n_out = n_out;
    s->call.t_out = t_out;
    s->call.y_out = y_out;
    int status = s->method->backend->apply(work, s, t0, t_out[n_out - 1], y);
    if (status != SLV_OK && s->err.status == SLV_OK) /* a back end must say why; never lose it */
        slv_error_set(&s->err, status, t0, call_path(s), "%s: failed with %s", s->method->name,
                      slv_strerror(status));
    s->n_rhs_evals += s->call.n_rhs_evals;
    s->n_rhs_calls += s->call.n_rhs_calls;
    s->n_steps += s->call.n_steps;
    s->n_rejected += s->call.n_rejected;
    return status;
}

/* Checks the output times of a dense solve: finite, from t0 towards t_out[n_out − 1] without
 * turning back. */
static int check_output_times(slv_ode_solver *s, double t0, size_t n_out, const double *t_out)
{
    const double t1 = t_out[n_out - 1];
    for (size_t k = 0; k < n_out; k++) {
        if (!isfinite(t_out[k]))
            return slv_error_set(&s->err, SLV_EINVAL, t0, -1,
                                 "%s: t_out[%zu] = %g, expected a finite time", s->method->name,
                                 k, t_out[k]);
        const double previous = k == 0 ? t0 : t_out[k - 1];
        if ((t1 >= t0 && t_out[k] < previous) || (t1 < t0 && t_out[k] > previous))
            return slv_error_set(&s->err, SLV_EINVAL, t0, -1,
                                 "%s: t_out[%zu] = %.17g comes before %s = %.17g, expected times "
                                 "running from t0 = %.17g to t_out[%zu] = %.17g", s->method->name,
                                 k, t_out[k], k == 0 ? "t0" : "the previous time", previous, t0,
                                 n_out - 1, t1);
    }
    return SLV_OK;
}

/* Solve and dense solve: t1 = t_out[n_out − 1]; y_out NULL for a plain solve. */
static int solve(slv_ode_solver *s, double t0, size_t n_out, const double *t_out, double *y,
                 double *y_out)
{
    const size_t n = s->n, d = s->dim;
    const double t1 = t_out[n_out - 1];
    const struct slv_ode_backend *backend = s->method->backend;
    slv_error_clear(&s->err);
    s->n_rhs_evals = s->n_rhs_calls = s->n_steps = s->n_rejected = 0;
    memset(s->path_rhs_evals, 0, n * sizeof *s->path_rhs_evals);

    if (y == NULL)
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1, "%s: y is NULL, expected %zu doubles",
                             s->method->name, n * d);
    if (!isfinite(t0))
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1, "%s: t0 = %g, expected a finite time",
                             s->method->name, t0);
    if (!isfinite(t1))
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1, "%s: t1 = %g, expected a finite time",
                             s->method->name, t1);
    long bad = slv_find_nonfinite(y, n * d);
    if (bad >= 0)
        return slv_error_set(&s->err, SLV_ENONFINITE, t0, bad / (long)d,
                             "%s: initial state of path %ld, component %ld is %g",
                             s->method->name, bad / (long)d, bad % (long)d, y[bad]);
    if (t0 == t1) {
        for (size_t k = 0; y_out != NULL && k < n_out; k++)
            memcpy(y_out + k * n * d, y, n * d * sizeof *y);
        return SLV_OK;
    }

    const int mode = s->mode;
    const int whole_batch = mode == SLV_BATCH_JOINT || s->method->batched_independent;
    if (s->work[mode] == NULL) {
        s->work[mode] = backend->alloc(s, whole_batch ? n * d : d);
        if (s->work[mode] == NULL) {
            if (s->err.status == SLV_OK)
                slv_error_set(&s->err, SLV_ENOMEM, t0, -1, "%s: cannot allocate the integrator",
                              s->method->name);
            return s->err.status;
        }
    }

    int status = SLV_OK;
    if (whole_batch) {
        status = apply_call(s, s->work[mode], n, 0, t0, n_out, t_out, y, y_out);
        if (mode == SLV_BATCH_JOINT) /* INDEPENDENT: counted per row by slv_ode_rhs_rows_call */
            for (size_t p = 0; p < n; p++)
                s->path_rhs_evals[p] = s->call.n_rhs_evals;
    } else {
        for (size_t p = 0; p < n && status == SLV_OK; p++) {
            status = apply_call(s, s->work[mode], 1, (long)p, t0, n_out, t_out, y + p * d, NULL);
            s->path_rhs_evals[p] = s->call.n_rhs_evals;
        }
    }
    if (status != SLV_OK)
        return status;

    /* The last step's result is not always seen by an rhs call. */
    bad = slv_find_nonfinite(y, n * d);
    if (bad >= 0)
        return slv_error_set(&s->err, SLV_ENONFINITE, t1, bad / (long)d,
                             "%s: final state of path %ld, component %ld is %g at t1 = %.17g",
                             s->method->name, bad / (long)d, bad % (long)d, y[bad], t1);
    return SLV_OK;
}

int slv_ode_solver_solve(slv_ode_solver *s, double t0, double t1, double *y)
{
    if (s == NULL)
        return SLV_EINVAL;
    return solve(s, t0, 1, &t1, y, NULL);
}

int slv_ode_solver_solve_dense(slv_ode_solver *s, double t0, size_t n_out, const double *t_out,
                               double *y, double *y_out)
{
    if (s == NULL)
        return SLV_EINVAL;
    slv_error_clear(&s->err);
    s->n_rhs_evals = s->n_rhs_calls = s->n_steps = s->n_rejected = 0;
    memset(s->path_rhs_evals, 0, s->n * sizeof *s->path_rhs_evals);
    if (!s->method->dense_output)
        return slv_error_set(&s->err, SLV_EUNSUPPORTED, t0, -1,
                             "%s: dense output is not supported by this method (use rk45)",
                             s->method->name);
    if (t_out == NULL || y_out == NULL || n_out == 0)
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1,
                             "%s: dense output needs n_out >= 1 times and an output array "
                             "(n_out = %zu, t_out %s, y_out %s)", s->method->name, n_out,
                             t_out == NULL ? "NULL" : "given", y_out == NULL ? "NULL" : "given");
    if (!isfinite(t0))
        return slv_error_set(&s->err, SLV_EINVAL, t0, -1, "%s: t0 = %g, expected a finite time",
                             s->method->name, t0);
    int status = check_output_times(s, t0, n_out, t_out);
    if (status != SLV_OK)
        return status;
    return solve(s, t0, n_out, t_out, y, y_out);
}
