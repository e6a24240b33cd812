/* sgm_ode.c — the probability-flow ODE: sampling, decoding, encoding, interpolation and the
 * final denoising step, on any slv_ode_method. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sgm_internal.h"
#include "sgm_sampler.h"
#include "slv_rng.h"

void sgm_ode_options_init(sgm_ode_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = slv_ode_rk45;
    o->rtol = 1e-5;
    o->atol = 1e-5;
    o->n_steps = 100;
    o->max_steps = 100000;
    o->eps = SGM_EPS_DEFAULT;
    o->denoise = 1;
    o->batch_mode = SLV_BATCH_INDEPENDENT;
    o->fast = NULL;
    o->schedule = SGM_SCHEDULE_AUTO;
    o->rho = 7.0;
}

/* The vector field's context. In INDEPENDENT mode the solver holds one state, row `row0` of the
 * call's batch. */
typedef struct pf_ctx {
    sgm_call *c;
    size_t row0;
    const sgm_inpaint *inpaint;
    const double *inpaint_noise; /* (n, d) fixed forward noise of the known coordinates */
    double *x;                   /* (n_solver, d) state with the known coordinates replaced */
    double *score;               /* (n_solver, d) */
} pf_ctx;

/* dx/dt = a(t) x − ½ g(t)² s(x, t); known coordinates (inpainting) do not move. */
static int pf_rhs(double t, size_t n, size_t d, const double *y, double *dydt, void *params)
{
    pf_ctx *ctx = params;
    const double *x = y;
    if (ctx->inpaint) {
        memcpy(ctx->x, y, n * d * sizeof *y);
        sgm_inpaint_replace(ctx->c, ctx->inpaint, t, n, ctx->row0, ctx->x, ctx->inpaint_noise,
                            NULL, 0, 0);
        x = ctx->x;
    }
    if (sgm_call_score(ctx->c, t, n, ctx->row0, x, ctx->score) != SLV_OK)
        return -1;
    const double a = sgm_process_drift_coef(ctx->c->process, t);
    const double half_g2 = 0.5 * sgm_process_diffusion_sq(ctx->c->process, t);
    for (size_t i = 0; i < n * d; i++)
        dydt[i] = a * x[i] - half_g2 * ctx->score[i];
    if (ctx->inpaint)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++)
                if (ctx->inpaint->mask[j])
                    dydt[i * d + j] = 0.0;
    return 0;
}

/* The same field with a time per row (slv_ode_rhs_rows_fn): rows are the call's batch rows
 * rows->path[i], each at its own time — what a per-sample adaptive solver (rk45) evaluates. */
static int pf_rhs_rows(const slv_ode_rows *rows, size_t n, size_t d, const double *y, double *dydt,
                       void *params)
{
    pf_ctx *ctx = params;
    const double *x = y;
    if (ctx->inpaint) {
        memcpy(ctx->x, y, n * d * sizeof *y);
        for (size_t i = 0; i < n; i++)
            sgm_inpaint_replace(ctx->c, ctx->inpaint, rows->t[i], 1, rows->path[i], ctx->x + i * d,
                                ctx->inpaint_noise, NULL, 0, 0);
        x = ctx->x;
    }
    if (sgm_call_score_rows(ctx->c, rows->t, n, rows->path, x, ctx->score) != SLV_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const double a = sgm_process_drift_coef(ctx->c->process, rows->t[i]);
        const double half_g2 = 0.5 * sgm_process_diffusion_sq(ctx->c->process, rows->t[i]);
        for (size_t j = 0; j < d; j++)
            dydt[i * d + j] = ctx->inpaint && ctx->inpaint->mask[j]
                                  ? 0.0
                                  : a * x[i * d + j] - half_g2 * ctx->score[i * d + j];
    }
    return 0;
}

static int check_ode_options(sgm_call *c, const sgm_ode_options *o)
{
    if (!o)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "ode: options is NULL");
    if (!o->method)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "ode: method is NULL, expected an slv_ode_method (e.g. slv_ode_dopri5)");
    if (o->fast && o->fast->stochastic)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "ode: fast = '%s' samples the reverse SDE; the ODE sampler takes a "
                             "deterministic one (or use sgm_fast_sample)", o->fast->name);
    if (o->batch_mode != SLV_BATCH_JOINT && o->batch_mode != SLV_BATCH_INDEPENDENT)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "ode: batch_mode %d, expected SLV_BATCH_JOINT or SLV_BATCH_INDEPENDENT",
                             (int)o->batch_mode);
    return SLV_OK;
}

/* Integrates y[n*d] (rows of the call's batch) from t0 to t1. nfe[n] (may be NULL) receives each
 * row's count of vector-field evaluations; the call's stats get the mean. */
static int pf_solve(sgm_call *c, const sgm_ode_options *o, size_t n, double t0, double t1,
                    double *y, const sgm_inpaint *inpaint, const double *inpaint_noise,
                    size_t *nfe)
{
    const size_t d = c->d;
    const int joint = o->batch_mode == SLV_BATCH_JOINT;
    /* Independent samples in one batched solve where the method keeps per-state steps (rk45);
     * otherwise sgm_call_solve_ode hands the solver one sample at a time. */
    const int per_row = !joint && o->method->batched_independent;
    const size_t n_solver = joint || per_row ? n : 1;
    pf_ctx ctx = {c, 0, inpaint, inpaint_noise, NULL, NULL};
    slv_ode sys = {pf_rhs, d, &ctx};
    slv_ode_solver *solver = NULL;
    int status = SLV_OK;

    ctx.x = malloc(n_solver * d * sizeof *ctx.x);
    ctx.score = malloc(n_solver * d * sizeof *ctx.score);
    solver = slv_ode_solver_alloc(o->method, &sys, n_solver);
    if (!ctx.x || !ctx.score || !solver) {
        status = slv_error_set(&c->err, SLV_ENOMEM, t0, -1,
                               "ode: cannot allocate the %s solver for %zu states of dimension %zu",
                               o->method->name, n_solver, d);
        goto done;
    }
    /* Without per-row batching the solver runs in its JOINT mode on n_solver states and INDEPENDENT
     * is our loop, so that the vector field knows which sample it integrates (inpainting, error
     * reports); with it, the rows carry their samples. */
    status = sgm_call_setup_ode(c, solver, o->method, per_row ? pf_rhs_rows : NULL, o->rtol, o->atol,
                                o->max_steps, o->n_steps, o->interrupt);
    if (status == SLV_OK)
        status = sgm_call_solve_ode(c, solver, per_row, n, n_solver, d, t0, t1, y, &ctx.row0, nfe);
done:
    slv_ode_solver_free(solver);
    free(ctx.x);
    free(ctx.score);
    return status;
}

int sgm_decode(const sgm_process *process, const sgm_score_model *model,
               const sgm_ode_options *options, size_t n, const double *z, uint64_t seed,
               size_t first_sample, double *x, size_t *nfe, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    double eps = 0.0, *noise = NULL, *score = NULL;
    gsl_rng *r = NULL;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK)
        status = check_ode_options(&c, options);
    if (status == SLV_OK && (!z || !x))
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "decode: z or x is NULL");
    if (status == SLV_OK)
        status = sgm_resolve_eps(&c, options->eps, sgm_process_default_eps(process), &eps);
    if (status == SLV_OK)
        status = sgm_inpaint_validate(&c, options->inpaint);
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);
    if (options->fast) { /* a fast sampler instead of the slv_ode_method */
        sgm_fast_options fast;
        sgm_fast_options_init(&fast);
        fast.method = options->fast;
        fast.n_steps = options->n_steps;
        fast.schedule = options->schedule;
        fast.rho = options->rho;
        fast.eps = options->eps;
        fast.denoise = options->denoise;
        fast.inpaint = options->inpaint;
        fast.interrupt = options->interrupt;
        return sgm_fast_decode(process, model, &fast, n, z, seed, first_sample, x, nfe, stats, err);
    }

    const size_t d = c.d;
    const sgm_inpaint *inpaint = options->inpaint;
    if (x != z)
        memmove(x, z, n * d * sizeof *x);
    if (options->denoise) {
        score = malloc(n * d * sizeof *score);
        if (!score) {
            status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1, "decode: out of memory");
            goto done;
        }
    }
    if (inpaint) {
        /* One forward-noise vector per sample, fixed for the whole solve. */
        noise = calloc(n * d, sizeof *noise);
        r = gsl_rng_alloc(slv_rng_counter);
        if (!noise || !r) {
            status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1, "decode: out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            slv_rng_set_stream(r, seed, (uint64_t)(first_sample + i), SGM_STREAM_INPAINT_ODE);
            for (size_t j = 0; j < d; j++)
                if (inpaint->mask[j])
                    noise[i * d + j] = gsl_ran_gaussian_ziggurat(r, 1.0);
        }
        sgm_inpaint_replace(&c, inpaint, process->T, n, 0, x, noise, NULL, 0, 0);
    }
    status = pf_solve(&c, options, n, process->T, eps, x, inpaint, noise, nfe);
    if (status != SLV_OK)
        goto done;
    if (inpaint)
        sgm_inpaint_finish(&c, inpaint, n, 0, x);
    if (options->denoise) {
        status = sgm_call_denoise(&c, eps, n, x, score);
        if (status != SLV_OK)
            goto done;
        c.stats.nfe += 1;
        if (nfe)
            for (size_t i = 0; i < n; i++)
                nfe[i] += 1;
        if (inpaint)
            sgm_inpaint_finish(&c, inpaint, n, 0, x);
    }
done:
    free(noise);
    free(score);
    if (r)
        gsl_rng_free(r);
    return sgm_call_finish(&c, status, stats, err);
}

int sgm_ode_sample(const sgm_process *process, const sgm_score_model *model,
                   const sgm_ode_options *options, size_t n, uint64_t seed, size_t first_sample,
                   double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "ode: x is NULL");
    if (status == SLV_OK && sgm_process_prior_sample(process, n, c.d, seed, first_sample, x) != SLV_OK)
        status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1, "ode: cannot allocate a generator");
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);
    return sgm_decode(process, model, options, n, x, seed, first_sample, x, NULL, stats, err);
}

int sgm_encode(const sgm_process *process, const sgm_score_model *model,
               const sgm_ode_options *options, size_t n, const double *x, double *z,
               size_t *nfe, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    double eps = 0.0;
    int status = sgm_call_init(&c, process, model, n, 0);
    if (status == SLV_OK)
        status = check_ode_options(&c, options);
    if (status == SLV_OK && (!z || !x))
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "encode: x or z is NULL");
    if (status == SLV_OK && options->fast)
        status = slv_error_set(&c.err, SLV_EUNSUPPORTED, 0.0, -1,
                               "encode: the fast sampler '%s' runs from T to eps only; encode with "
                               "an slv_ode_method (fast = NULL)", options->fast->name);
    if (status == SLV_OK)
        status = sgm_resolve_eps(&c, options->eps, sgm_process_default_eps(process), &eps);
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);
    if (z != x)
        memmove(z, x, n * c.d * sizeof *z);
    status = pf_solve(&c, options, n, eps, process->T, z, NULL, NULL, nfe);
    return sgm_call_finish(&c, status, stats, err);
}

int sgm_denoise(const sgm_process *process, const sgm_score_model *model, double t, size_t n,
                size_t first_sample, double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    double *score = NULL;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, t, -1, "denoise: x is NULL");
    if (status == SLV_OK && (!isfinite(t) || t < 0.0 || t > process->T))
        status = slv_error_set(&c.err, SLV_EINVAL, t, -1, "denoise: t = %g, expected 0 <= t <= T",
                               t);
    if (status == SLV_OK) {
        score = malloc(n * c.d * sizeof *score);
        if (!score)
            status = slv_error_set(&c.err, SLV_ENOMEM, t, -1, "denoise: out of memory");
    }
    if (status == SLV_OK)
        status = sgm_call_denoise(&c, t, n, x, score);
    c.stats.nfe = c.stats.n_score_calls;
    free(score);
    return sgm_call_finish(&c, status, stats, err);
}

void sgm_slerp(size_t d, const double *z0, const double *z1, size_t n_points, double *out)
{
    double dot = 0.0, n0 = 0.0, n1 = 0.0;
    for (size_t j = 0; j < d; j++) {
        dot += z0[j] * z1[j];
        n0 += z0[j] * z0[j];
        n1 += z1[j] * z1[j];
    }
    double cos_theta = n0 > 0.0 && n1 > 0.0 ? dot / sqrt(n0 * n1) : 1.0;
    if (cos_theta > 1.0)
        cos_theta = 1.0;
    if (cos_theta < -1.0)
        cos_theta = -1.0;
    const double theta = acos(cos_theta), sin_theta = sin(theta);
    for (size_t k = 0; k < n_points; k++) {
        const double alpha = n_points > 1 ? (double)k / (double)(n_points - 1) : 0.0;
        double w0, w1;
        if (theta < 1e-6 || M_PI - theta < 1e-6) { /* parallel or antipodal: no unique arc */
            w0 = 1.0 - alpha;
            w1 = alpha;
        } else {
            w0 = sin((1.0 - alpha) * theta) / sin_theta;
            w1 = sin(alpha * theta) / sin_theta;
        }
        for (size_t j = 0; j < d; j++)
            out[k * d + j] = w0 * z0[j] + w1 * z1[j];
    }
}
