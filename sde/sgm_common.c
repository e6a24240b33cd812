/* sgm_common.c — helpers shared by the samplers and the likelihood: checked score calls,
 * option checks, inpainting replacement, error reports. */
#include "sgm_internal.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "slv_rng.h"

int sgm_call_init(sgm_call *c, const sgm_process *process, const sgm_score_model *model,
                  size_t n, size_t first_sample)
{
    memset(c, 0, sizeof *c);
    slv_error_clear(&c->err);
    c->process = process;
    c->model = model;
    c->first_sample = first_sample;
    int status = sgm_process_validate(process, &c->err);
    if (status != SLV_OK)
        return status;
    status = sgm_score_model_validate(model, &c->err);
    if (status != SLV_OK)
        return status;
    c->d = model->dim;
    if (n == 0)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "batch size n = 0, expected >= 1");
    if (n > ((size_t)-1) / sizeof(double) / (c->d + 1))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "batch of n = %zu points of dimension %zu overflows memory sizes", n,
                             c->d);
    return SLV_OK;
}

int sgm_call_score(sgm_call *c, double t, size_t n, size_t row0, const double *x, double *out)
{
    const size_t d = c->d;
    c->stats.n_score_calls++;
    int rc = c->model->score(t, n, d, x, out, c->model->params);
    if (rc != 0)
        return slv_error_set(&c->err, SLV_ECALLBACK, t,
                             n == 1 ? (long)(c->first_sample + row0) : -1,
                             "score model returned %d at t = %.17g (batch of %zu from sample %zu)",
                             rc, t, n, c->first_sample + row0);
    long bad = slv_find_nonfinite(out, n * d);
    if (bad >= 0) {
        size_t sample = c->first_sample + row0 + (size_t)bad / d;
        return slv_error_set(&c->err, SLV_ENONFINITE, t, (long)sample,
                             "score model returned %g for sample %zu, component %zu at t = %.17g",
                             out[bad], sample, (size_t)bad % d, t);
    }
    return SLV_OK;
}

/* Checks n·d values a callback wrote for the points at rows[]; SLV_OK or SLV_ENONFINITE naming the
 * point's global sample index, time and component. */
static int check_rows_output(sgm_call *c, const char *what, const double *t, size_t n,
                             const size_t *rows, const double *out)
{
    long bad = slv_find_nonfinite(out, n * c->d);
    if (bad < 0)
        return SLV_OK;
    size_t i = (size_t)bad / c->d, sample = c->first_sample + rows[i];
    return slv_error_set(&c->err, SLV_ENONFINITE, t[i], (long)sample,
                         "score model's %s returned %g for sample %zu, component %zu at t = %.17g",
                         what, out[bad], sample, (size_t)bad % c->d, t[i]);
}

/* The end of the run of points sharing point i's time. */
static size_t same_time_run(const double *t, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && t[j] == t[i])
        j++;
    return j;
}

int sgm_call_score_rows(sgm_call *c, const double *t, size_t n, const size_t *rows, const double *x,
                        double *out)
{
    const sgm_score_model *m = c->model;
    const size_t d = c->d;
    if (m->score_rows) {
        c->stats.n_score_calls++;
        int rc = m->score_rows(t, n, d, x, out, m->params);
        if (rc != 0)
            return slv_error_set(&c->err, SLV_ECALLBACK, t[0], n == 1 ? (long)(c->first_sample + rows[0]) : -1,
                                 "score model's score_rows returned %d (batch of %zu, first sample %zu at t = %.17g)",
                                 rc, n, c->first_sample + rows[0], t[0]);
        return check_rows_output(c, "score_rows", t, n, rows, out);
    }
    for (size_t i = 0, j; i < n; i = j) {
        j = same_time_run(t, n, i);
        c->stats.n_score_calls++;
        int rc = m->score(t[i], j - i, d, x + i * d, out + i * d, m->params);
        if (rc != 0)
            return slv_error_set(&c->err, SLV_ECALLBACK, t[i], j - i == 1 ? (long)(c->first_sample + rows[i]) : -1,
                                 "score model returned %d at t = %.17g (batch of %zu from sample %zu)", rc,
                                 t[i], j - i, c->first_sample + rows[i]);
    }
    return check_rows_output(c, "score", t, n, rows, out);
}

int sgm_call_score_vjp_rows(sgm_call *c, const double *t, size_t n, const size_t *rows,
                            const double *x, const double *v, double *score, double *vjp)
{
    const sgm_score_model *m = c->model;
    const size_t d = c->d;
    int rc = 0;
    if (m->score_vjp_rows) {
        c->stats.n_product_calls++;
        rc = m->score_vjp_rows(t, n, d, x, v, score, vjp, m->params);
        if (rc != 0)
            return slv_error_set(&c->err, SLV_ECALLBACK, t[0], n == 1 ? (long)(c->first_sample + rows[0]) : -1,
                                 "score model's score_vjp_rows returned %d (batch of %zu, first sample %zu at t = %.17g)",
                                 rc, n, c->first_sample + rows[0], t[0]);
    } else {
        if (!m->score_vjp)
            return slv_error_set(&c->err, SLV_EUNSUPPORTED, t[0], -1,
                                 "score model has neither score_vjp_rows nor score_vjp");
        for (size_t i = 0, j; i < n && rc == 0; i = j) {
            j = same_time_run(t, n, i);
            if (score) {
                c->stats.n_score_calls++;
                rc = m->score(t[i], j - i, d, x + i * d, score + i * d, m->params);
            }
            if (rc == 0) {
                c->stats.n_product_calls++;
                rc = m->score_vjp(t[i], j - i, d, x + i * d, v + i * d, vjp + i * d, m->params);
            }
            if (rc != 0)
                return slv_error_set(&c->err, SLV_ECALLBACK, t[i], j - i == 1 ? (long)(c->first_sample + rows[i]) : -1,
                                     "score model returned %d at t = %.17g (batch of %zu from sample %zu)", rc,
                                     t[i], j - i, c->first_sample + rows[i]);
        }
    }
    int status = score ? check_rows_output(c, "score", t, n, rows, score) : SLV_OK;
    return status == SLV_OK ? check_rows_output(c, "Jacobian product", t, n, rows, vjp) : status;
}

int sgm_resolve_eps(sgm_call *c, double eps_option, double dflt, double *eps)
{
    if (eps_option == SGM_EPS_DEFAULT) {
        *eps = dflt;
        return SLV_OK;
    }
    if (!isfinite(eps_option) || eps_option < 0.0 || !(eps_option < c->process->T))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "eps = %g, expected 0 <= eps < T = %g (or SGM_EPS_DEFAULT)",
                             eps_option, c->process->T);
    *eps = eps_option;
    return SLV_OK;
}

int sgm_inpaint_validate(sgm_call *c, const sgm_inpaint *inpaint)
{
    if (!inpaint)
        return SLV_OK;
    if (!inpaint->mask || !inpaint->observed)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "inpaint: mask and observed must both be set");
    size_t known = 0;
    for (size_t j = 0; j < c->d; j++)
        known += inpaint->mask[j] != 0;
    if (known == c->d)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "inpaint: all %zu coordinates are masked as known, nothing to sample",
                             c->d);
    return SLV_OK;
}

static const double *observed_row(const sgm_inpaint *inpaint, size_t d, size_t row)
{
    return inpaint->shared ? inpaint->observed : inpaint->observed + row * d;
}

void sgm_inpaint_replace(const sgm_call *c, const sgm_inpaint *inpaint, double t, size_t n,
                         size_t row0, double *x, const double *noise, gsl_rng *r, uint64_t seed,
                         uint64_t stream)
{
    const size_t d = c->d;
    const double m = sgm_process_mean_coef(c->process, t), s = sgm_process_std(c->process, t);
    for (size_t i = 0; i < n; i++) {
        size_t row = row0 + i;
        const double *y = observed_row(inpaint, d, row);
        double *xi = x + i * d;
        if (!noise)
            slv_rng_set_stream(r, seed, (uint64_t)(c->first_sample + row), stream);
        for (size_t j = 0; j < d; j++) {
            if (!inpaint->mask[j])
                continue;
            double z = noise ? noise[row * d + j] : gsl_ran_gaussian_ziggurat(r, 1.0);
            xi[j] = m * y[j] + s * z;
        }
    }
}

void sgm_inpaint_finish(const sgm_call *c, const sgm_inpaint *inpaint, size_t n, size_t row0,
                        double *x)
{
    const size_t d = c->d;
    for (size_t i = 0; i < n; i++) {
        const double *y = observed_row(inpaint, d, row0 + i);
        for (size_t j = 0; j < d; j++)
            if (inpaint->mask[j])
                x[i * d + j] = y[j];
    }
}

int sgm_call_finish(const sgm_call *c, int status, sgm_stats *stats, slv_error *err)
{
    if (stats)
        *stats = c->stats;
    if (err) {
        if (status == SLV_OK)
            slv_error_clear(err);
        else
            *err = c->err;
    }
    return status;
}

int sgm_call_adopt(sgm_call *c, int status, const slv_error *solver_err, long offset)
{
    if (c->err.status != SLV_OK)
        return c->err.status; /* our own report (score NaN, callback) is the precise one */
    c->err = *solver_err;
    c->err.status = status;
    if (c->err.path >= 0 && offset >= 0)
        c->err.path += offset;
    return status;
}

int sgm_call_setup_ode(sgm_call *c, slv_ode_solver *solver, const slv_ode_method *method,
                       slv_ode_rhs_rows_fn rows, double rtol, double atol, size_t max_steps,
                       size_t n_steps, volatile int *interrupt)
{
    int status = SLV_OK;
    if (rows) {
        slv_ode_solver_set_rhs_rows(solver, rows);
        status = slv_ode_solver_set_batch_mode(solver, SLV_BATCH_INDEPENDENT);
    }
    if (status == SLV_OK && method->adaptive) {
        status = slv_ode_solver_set_tolerances(solver, rtol, atol);
        if (status == SLV_OK)
            status = slv_ode_solver_set_max_steps(solver, max_steps);
    } else if (status == SLV_OK) {
        status = slv_ode_solver_set_steps(solver, n_steps);
    }
    if (status != SLV_OK)
        return sgm_call_adopt(c, status, slv_ode_solver_get_error(solver), -1);
    slv_ode_solver_set_interrupt(solver, interrupt);
    return SLV_OK;
}

int sgm_call_solve_ode(sgm_call *c, slv_ode_solver *solver, int per_row, size_t n,
                       size_t n_solver, size_t width, double t0, double t1, double *y,
                       size_t *row0, size_t *nfe)
{
    int status = SLV_OK;
    size_t total_nfe = 0;
    for (size_t row = 0; row < n && status == SLV_OK; row += n_solver) {
        *row0 = row;
        status = slv_ode_solver_solve(solver, t0, t1, y + row * width);
        c->stats.n_steps += slv_ode_solver_get_n_steps(solver);
        c->stats.n_rejected += slv_ode_solver_get_n_rejected(solver);
        if (per_row) { /* each row's own count */
            total_nfe += slv_ode_solver_get_n_rhs_evals(solver);
            if (nfe)
                slv_ode_solver_get_path_rhs_evals(solver, nfe);
        } else {
            size_t evals = slv_ode_solver_get_n_rhs_evals(solver);
            total_nfe += evals * n_solver;
            if (nfe)
                for (size_t p = 0; p < n_solver; p++)
                    nfe[row + p] = evals;
        }
        if (status != SLV_OK)
            status = sgm_call_adopt(c, status, slv_ode_solver_get_error(solver),
                                    (long)(c->first_sample + row));
    }
    if (n > 0)
        c->stats.nfe += (total_nfe + n / 2) / n; /* mean per row */
    return status;
}

int sgm_call_denoise(sgm_call *c, double t, size_t n, double *x, double *score)
{
    const size_t d = c->d;
    double f_coef, G;
    sgm_process_discretize(c->process, sgm_process_discrete_index(c->process, t), t, &f_coef, &G);
    int status = sgm_call_score(c, t, n, 0, x, score);
    if (status != SLV_OK)
        return status;
    for (size_t i = 0; i < n * d; i++)
        x[i] = (1.0 - f_coef) * x[i] + G * G * score[i];
    return SLV_OK;
}
