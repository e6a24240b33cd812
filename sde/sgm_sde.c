/* sgm_sde.c — the reverse-time SDE handed to slv_sde_solver (any step type, fixed or adaptive). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sgm_internal.h"
#include "sgm_sampler.h"

void sgm_sde_options_init(sgm_sde_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = slv_sde_step_em;
    o->n_steps = 0;
    o->adaptive = 0;
    o->rtol = 1e-3;
    o->atol = 1e-3;
    o->max_steps = 100000;
    o->eps = SGM_EPS_DEFAULT;
    o->denoise = 1;
    o->threads = 1;
}

typedef struct rev_ctx {
    sgm_call *c;
    size_t n;            /* batch size of the call: a drift call on the whole batch names its samples */
    size_t sample_evals; /* Σ over drift calls of the rows evaluated */
} rev_ctx;

/* Reverse-time drift a(t) x − g(t)² s(x, t). */
static int rev_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    rev_ctx *ctx = params;
    sgm_call *c = ctx->c;
    c->stats.n_score_calls++;
    ctx->sample_evals += n;
    int rc = c->model->score(t, n, d, x, out, c->model->params);
    if (rc != 0) {
        slv_error_set(&c->err, SLV_ECALLBACK, t, -1,
                      "score model returned %d at t = %.17g (batch of %zu)", rc, t, n);
        return rc < 0 ? rc : -1;
    }
    /* A call on the whole batch has the rows in sample order (fixed-step driver): name the
     * sample. Partial batches (adaptive driver) leave the report to the solver, which knows the
     * paths. */
    if (n == ctx->n) {
        long bad = slv_find_nonfinite(out, n * d);
        if (bad >= 0) {
            size_t sample = c->first_sample + (size_t)bad / d;
            slv_error_set(&c->err, SLV_ENONFINITE, t, (long)sample,
                          "score model returned %g for sample %zu, component %zu at t = %.17g",
                          out[bad], sample, (size_t)bad % d, t);
            return -1;
        }
    }
    const double a = sgm_process_drift_coef(c->process, t);
    const double g2 = sgm_process_diffusion_sq(c->process, t);
    for (size_t i = 0; i < n * d; i++)
        out[i] = a * x[i] - g2 * out[i];
    return 0;
}

/* g(t) on the diagonal (additive: called with n = 1, x = NULL). */
static int rev_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)x;
    rev_ctx *ctx = params;
    const double g = sgm_process_diffusion(ctx->c->process, t);
    for (size_t i = 0; i < n * d; i++)
        out[i] = g;
    return 0;
}

int sgm_sde_sample(const sgm_process *process, const sgm_score_model *model,
                   const sgm_sde_options *options, size_t n, uint64_t seed, size_t first_sample,
                   double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    double eps = 0.0, *score = NULL;
    slv_sde_solver *solver = NULL;
    const sgm_sde_options *o = options;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !o)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "sde: options is NULL");
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "sde: x is NULL");
    if (status == SLV_OK && !o->method)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1,
                               "sde: method is NULL, expected an slv_sde_step_type (e.g. slv_sde_step_em)");
    if (status == SLV_OK && o->adaptive && !o->method->has_error_estimate)
        status = slv_error_set(&c.err, SLV_EUNSUPPORTED, 0.0, -1,
                               "sde: method %s has no error estimate, the adaptive driver needs one",
                               o->method->name);
    if (status == SLV_OK)
        status = sgm_resolve_eps(&c, o->eps, sgm_process_default_eps(process), &eps);
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);

    const size_t d = c.d;
    rev_ctx ctx = {&c, n, 0};
    slv_sde sys = {rev_drift, rev_diffusion, NULL, d, d, SLV_NOISE_DIAGONAL, 1, &ctx};
    if (sgm_process_prior_sample(process, n, d, seed, first_sample, x) != SLV_OK) {
        status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1, "sde: out of memory");
        goto done;
    }
    score = o->denoise ? malloc(n * d * sizeof *score) : NULL;
    solver = slv_sde_solver_alloc(o->method, &sys, n);
    if (!solver || (o->denoise && !score)) {
        status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1,
                               "sde: cannot allocate the %s solver for %zu paths of dimension %zu",
                               o->method->name, n, d);
        goto done;
    }
    status = slv_sde_solver_set_seed(solver, seed, first_sample);
    if (status == SLV_OK)
        status = slv_sde_solver_set_threads(solver, o->threads);
    if (status == SLV_OK && o->adaptive) {
        status = slv_sde_solver_set_tolerances(solver, o->rtol, o->atol);
        if (status == SLV_OK)
            status = slv_sde_solver_set_max_steps(solver, o->max_steps);
    }
    if (status != SLV_OK) {
        status = sgm_call_adopt(&c, status, slv_sde_solver_get_error(solver), -1);
        goto done;
    }
    slv_sde_solver_set_interrupt(solver, o->interrupt);
    if (o->adaptive)
        status = slv_sde_solver_solve_adaptive(solver, process->T, eps, x, NULL);
    else
        status = slv_sde_solver_solve_fixed(solver, process->T, eps,
                                            o->n_steps ? o->n_steps : process->N, x, NULL);
    /* Mean score evaluations per sample (the adaptive driver batches only the paths that share
     * a step, so its number of batched calls exceeds every path's count). */
    c.stats.nfe = (ctx.sample_evals + n / 2) / n;
    c.stats.n_steps = slv_sde_solver_get_n_steps(solver);
    c.stats.n_rejected = slv_sde_solver_get_n_rejected(solver);
    if (status != SLV_OK) {
        /* The solver's path is already global (it adds first_path). */
        status = sgm_call_adopt(&c, status, slv_sde_solver_get_error(solver), -1);
        goto done;
    }
    if (o->denoise) {
        status = sgm_call_denoise(&c, eps, n, x, score);
        if (status == SLV_OK)
            c.stats.nfe += 1;
    }
done:
    slv_sde_solver_free(solver);
    free(score);
    return sgm_call_finish(&c, status, stats, err);
}
