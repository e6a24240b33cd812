/* sgm_likelihood.c — log-likelihood through the probability-flow ODE with the divergence alongside
 * (exact trace or Skilling–Hutchinson), bits per dimension, dequantisation. */
#include "sgm_likelihood.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sgm_internal.h"
#include "slv_rng.h"

static const char *const divergence_names[] = {"exact", "gaussian", "rademacher"};

const char *sgm_divergence_method_name(sgm_divergence_method m)
{
    return (unsigned)m < 3 ? divergence_names[m] : "unknown";
}

int sgm_divergence_method_parse(const char *name, sgm_divergence_method *m)
{
    for (unsigned i = 0; name && i < 3; i++)
        if (strcmp(name, divergence_names[i]) == 0) {
            *m = (sgm_divergence_method)i;
            return SLV_OK;
        }
    return SLV_EINVAL;
}

void sgm_likelihood_options_init(sgm_likelihood_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = slv_ode_rk45;
    o->rtol = 1e-5;
    o->atol = 1e-5;
    o->n_steps = 100;
    o->max_steps = 100000;
    o->eps = SGM_LIKELIHOOD_EPS;
    o->divergence = SGM_DIVERGENCE_RADEMACHER;
    o->batch_mode = SLV_BATCH_INDEPENDENT;
    o->fd_step = 1e-4;
    o->bpd_levels = 0.0;
    o->bpd_data_width = 1.0;
}

double sgm_bpd_offset(const sgm_likelihood_options *o)
{
    if (!o || !(o->bpd_levels > 0.0))
        return 0.0;
    return log2(o->bpd_levels / o->bpd_data_width);
}

/* ---- The augmented vector field -------------------------------------------------------------- */

typedef struct lik_ctx {
    sgm_call *c;
    const sgm_likelihood_options *o;
    size_t row0;          /* batch row of the solver's first state */
    const double *probes; /* (n, d) Hutchinson probes of the call, or NULL */
    double *x;            /* (ns, d) */
    double *score;        /* (ns, d) */
    double *v;            /* (ns, d) */
    double *prod;         /* (ns, d) */
    double *xp, *xm;      /* (ns, d) finite differences */
    double *sp, *sm;      /* (ns, d) */
    double *div;          /* (ns) */
} lik_ctx;

/* out = product(x, v) through the model's VJP (preferred: the Hutchinson estimator's usual
 * backward pass) or JVP; checked like the score. */
static int call_product(lik_ctx *ctx, double t, size_t n, const double *v, double *out)
{
    sgm_call *c = ctx->c;
    const sgm_score_model *m = c->model;
    sgm_score_product_fn product = m->score_vjp ? m->score_vjp : m->score_jvp;
    c->stats.n_product_calls++;
    int rc = product(t, n, c->d, ctx->x, v, out, m->params);
    if (rc != 0)
        return slv_error_set(&c->err, SLV_ECALLBACK, t, n == 1 ? (long)(c->first_sample + ctx->row0) : -1,
                             "score model's %s returned %d at t = %.17g",
                             m->score_vjp ? "score_vjp" : "score_jvp", rc, t);
    long bad = slv_find_nonfinite(out, n * c->d);
    if (bad >= 0) {
        size_t sample = c->first_sample + ctx->row0 + (size_t)bad / c->d;
        return slv_error_set(&c->err, SLV_ENONFINITE, t, (long)sample,
                             "score model's Jacobian product returned %g for sample %zu at t = %.17g",
                             out[bad], sample, t);
    }
    return SLV_OK;
}

/* div[i] = ∇·s at x (ctx->x) for n points. */
static int divergence(lik_ctx *ctx, double t, size_t n)
{
    sgm_call *c = ctx->c;
    const sgm_score_model *m = c->model;
    const size_t d = c->d;
    const double h_rel = ctx->o->fd_step;
    int status;

    for (size_t i = 0; i < n; i++)
        ctx->div[i] = 0.0;
    if (ctx->o->divergence == SGM_DIVERGENCE_EXACT) {
        if (m->divergence) {
            c->stats.n_product_calls++;
            int rc = m->divergence(t, n, d, ctx->x, ctx->div, m->params);
            if (rc != 0)
                return slv_error_set(&c->err, SLV_ECALLBACK, t, -1,
                                     "score model's divergence returned %d at t = %.17g", rc, t);
            long bad = slv_find_nonfinite(ctx->div, n);
            if (bad >= 0)
                return slv_error_set(&c->err, SLV_ENONFINITE, t,
                                     (long)(c->first_sample + ctx->row0 + (size_t)bad),
                                     "score model's divergence returned %g for sample %zu at t = %.17g",
                                     ctx->div[bad], c->first_sample + ctx->row0 + (size_t)bad, t);
            return SLV_OK;
        }
        /* Trace of the Jacobian, one basis vector at a time. */
        for (size_t j = 0; j < d; j++) {
            if (m->score_vjp || m->score_jvp) {
                memset(ctx->v, 0, n * d * sizeof *ctx->v);
                for (size_t i = 0; i < n; i++)
                    ctx->v[i * d + j] = 1.0;
                status = call_product(ctx, t, n, ctx->v, ctx->prod);
                if (status != SLV_OK)
                    return status;
                for (size_t i = 0; i < n; i++)
                    ctx->div[i] += ctx->prod[i * d + j];
            } else {
                c->stats.fd_divergence = 1;
                memcpy(ctx->xp, ctx->x, n * d * sizeof *ctx->x);
                memcpy(ctx->xm, ctx->x, n * d * sizeof *ctx->x);
                for (size_t i = 0; i < n; i++) {
                    double xij = ctx->x[i * d + j], h = h_rel * fmax(1.0, fabs(xij));
                    ctx->xp[i * d + j] = xij + h;
                    ctx->xm[i * d + j] = xij - h;
                }
                status = sgm_call_score(c, t, n, ctx->row0, ctx->xp, ctx->sp);
                if (status == SLV_OK)
                    status = sgm_call_score(c, t, n, ctx->row0, ctx->xm, ctx->sm);
                if (status != SLV_OK)
                    return status;
                for (size_t i = 0; i < n; i++) {
                    double width = ctx->xp[i * d + j] - ctx->xm[i * d + j]; /* the step taken */
                    ctx->div[i] += (ctx->sp[i * d + j] - ctx->sm[i * d + j]) / width;
                }
            }
        }
        return SLV_OK;
    }
    /* Skilling–Hutchinson: vᵀ (∂s/∂x) v with the point's fixed probe. */
    const double *v = ctx->probes + ctx->row0 * d;
    if (m->score_vjp || m->score_jvp) {
        status = call_product(ctx, t, n, v, ctx->prod);
        if (status != SLV_OK)
            return status;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++)
                ctx->div[i] += v[i * d + j] * ctx->prod[i * d + j];
        return SLV_OK;
    }
    c->stats.fd_divergence = 1;
    for (size_t i = 0; i < n; i++) {
        double rms = 0.0;
        for (size_t j = 0; j < d; j++)
            rms += ctx->x[i * d + j] * ctx->x[i * d + j];
        double h = h_rel * fmax(1.0, sqrt(rms / (double)d));
        for (size_t j = 0; j < d; j++) {
            ctx->xp[i * d + j] = ctx->x[i * d + j] + h * v[i * d + j];
            ctx->xm[i * d + j] = ctx->x[i * d + j] - h * v[i * d + j];
        }
        ctx->div[i] = h; /* remember the step until the differences are in */
    }
    status = sgm_call_score(c, t, n, ctx->row0, ctx->xp, ctx->sp);
    if (status == SLV_OK)
        status = sgm_call_score(c, t, n, ctx->row0, ctx->xm, ctx->sm);
    if (status != SLV_OK)
        return status;
    for (size_t i = 0; i < n; i++) {
        double h = ctx->div[i], sum = 0.0;
        for (size_t j = 0; j < d; j++)
            sum += v[i * d + j] * (ctx->sp[i * d + j] - ctx->sm[i * d + j]);
        ctx->div[i] = sum / (2.0 * h);
    }
    return SLV_OK;
}

/* State rows [x (d), Δ]: dx/dt = a x − ½ g² s, dΔ/dt = a d − ½ g² ∇·s. */
static int lik_rhs(double t, size_t n, size_t dd, const double *y, double *dydt, void *params)
{
    lik_ctx *ctx = params;
    sgm_call *c = ctx->c;
    const size_t d = dd - 1;
    for (size_t i = 0; i < n; i++)
        memcpy(ctx->x + i * d, y + i * dd, d * sizeof *y);
    if (sgm_call_score(c, t, n, ctx->row0, ctx->x, ctx->score) != SLV_OK)
        return -1;
    if (divergence(ctx, t, n) != SLV_OK)
        return -1;
    const double a = sgm_process_drift_coef(c->process, t);
    const double half_g2 = 0.5 * sgm_process_diffusion_sq(c->process, t);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            dydt[i * dd + j] = a * ctx->x[i * d + j] - half_g2 * ctx->score[i * d + j];
        dydt[i * dd + d] = a * (double)d - half_g2 * ctx->div[i];
    }
    return 0;
}

/* The same field with a time per row (slv_ode_rhs_rows_fn), rows being the batch's points
 * rows->path[i]. With a VJP the divergence comes batched through sgm_call_score_vjp_rows: the
 * Skilling–Hutchinson step from one fused score + VJP call (one forward, one backward for a
 * network), the exact trace from d of them (basis probes); a model without a product (finite
 * differences) runs the single-time field one row at a time. */
static int lik_rhs_rows(const slv_ode_rows *rows, size_t n, size_t dd, const double *y, double *dydt,
                        void *params)
{
    lik_ctx *ctx = params;
    sgm_call *c = ctx->c;
    const sgm_score_model *m = c->model;
    const size_t d = dd - 1;
    if (!m->score_vjp_rows && !m->score_vjp) {
        for (size_t i = 0; i < n; i++) {
            ctx->row0 = rows->path[i];
            if (lik_rhs(rows->t[i], 1, dd, y + i * dd, dydt + i * dd, ctx) != 0)
                return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(ctx->x + i * d, y + i * dd, d * sizeof *y);
    int status;
    if (ctx->o->divergence != SGM_DIVERGENCE_EXACT) {
        for (size_t i = 0; i < n; i++)
            memcpy(ctx->v + i * d, ctx->probes + rows->path[i] * d, d * sizeof *ctx->v);
        status = sgm_call_score_vjp_rows(c, rows->t, n, rows->path, ctx->x, ctx->v, ctx->score, ctx->prod);
        for (size_t i = 0; i < n && status == SLV_OK; i++) {
            double sum = 0.0;
            for (size_t j = 0; j < d; j++)
                sum += ctx->v[i * d + j] * ctx->prod[i * d + j];
            ctx->div[i] = sum;
        }
    } else {
        status = SLV_OK;
        for (size_t i = 0; i < n; i++)
            ctx->div[i] = 0.0;
        for (size_t j = 0; j < d && status == SLV_OK; j++) { /* tr ∂s/∂x = Σ_j e_jᵀ (∂s/∂x) e_j */
            memset(ctx->v, 0, n * d * sizeof *ctx->v);
            for (size_t i = 0; i < n; i++)
                ctx->v[i * d + j] = 1.0;
            status = sgm_call_score_vjp_rows(c, rows->t, n, rows->path, ctx->x, ctx->v,
                                             j == 0 ? ctx->score : NULL, ctx->prod);
            for (size_t i = 0; i < n && status == SLV_OK; i++)
                ctx->div[i] += ctx->prod[i * d + j];
        }
    }
    if (status != SLV_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const double a = sgm_process_drift_coef(c->process, rows->t[i]);
        const double half_g2 = 0.5 * sgm_process_diffusion_sq(c->process, rows->t[i]);
        for (size_t j = 0; j < d; j++)
            dydt[i * dd + j] = a * ctx->x[i * d + j] - half_g2 * ctx->score[i * d + j];
        dydt[i * dd + d] = a * (double)d - half_g2 * ctx->div[i];
    }
    return 0;
}

int sgm_likelihood(const sgm_process *process, const sgm_score_model *model,
                   const sgm_likelihood_options *options, size_t n, const double *x,
                   uint64_t seed, size_t first_sample, double *logp, double *bpd, size_t *nfe,
                   double *latent, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    const sgm_likelihood_options *o = options;
    lik_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    double eps = 0.0, *y = NULL, *probes = NULL, *z = NULL, *logp_T = NULL;
    slv_ode_solver *solver = NULL;
    gsl_rng *r = NULL;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !o)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "likelihood: options is NULL");
    if (status == SLV_OK && (!x || !logp))
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "likelihood: x or logp is NULL");
    if (status == SLV_OK && !o->method)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1,
                               "likelihood: method is NULL, expected an slv_ode_method");
    if (status == SLV_OK && (unsigned)o->divergence > SGM_DIVERGENCE_RADEMACHER)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1,
                               "likelihood: divergence method %d, expected exact, gaussian or rademacher",
                               (int)o->divergence);
    if (status == SLV_OK && o->batch_mode != SLV_BATCH_JOINT && o->batch_mode != SLV_BATCH_INDEPENDENT)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "likelihood: batch_mode %d is invalid",
                               (int)o->batch_mode);
    if (status == SLV_OK && (!isfinite(o->fd_step) || !(o->fd_step > 0.0)))
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1,
                               "likelihood: fd_step = %g, expected a finite value > 0", o->fd_step);
    if (status == SLV_OK && o->bpd_levels != 0.0 &&
        (!isfinite(o->bpd_levels) || !(o->bpd_levels > 1.0) || !isfinite(o->bpd_data_width) ||
         !(o->bpd_data_width > 0.0)))
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1,
                               "likelihood: bpd_levels = %g and bpd_data_width = %g, expected "
                               "levels > 1 and width > 0 (or levels 0 for continuous data)",
                               o->bpd_levels, o->bpd_data_width);
    if (status == SLV_OK)
        status = sgm_resolve_eps(&c, o->eps, SGM_LIKELIHOOD_EPS, &eps);
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);

    const size_t d = c.d, dd = d + 1;
    const int joint = o->batch_mode == SLV_BATCH_JOINT;
    /* Independent points in one batched solve where the method keeps per-state steps (rk45). */
    const int per_row = !joint && o->method->batched_independent;
    const size_t ns = joint || per_row ? n : 1;
    const int hutchinson = o->divergence != SGM_DIVERGENCE_EXACT;
    ctx.c = &c;
    ctx.o = o;
    slv_ode sys = {lik_rhs, dd, &ctx};

    y = malloc(n * dd * sizeof *y);
    z = malloc(n * d * sizeof *z);
    logp_T = malloc(n * sizeof *logp_T);
    ctx.x = malloc(ns * d * sizeof *ctx.x);
    ctx.score = malloc(ns * d * sizeof *ctx.score);
    ctx.v = malloc(ns * d * sizeof *ctx.v);
    ctx.prod = malloc(ns * d * sizeof *ctx.prod);
    ctx.xp = malloc(ns * d * sizeof *ctx.xp);
    ctx.xm = malloc(ns * d * sizeof *ctx.xm);
    ctx.sp = malloc(ns * d * sizeof *ctx.sp);
    ctx.sm = malloc(ns * d * sizeof *ctx.sm);
    ctx.div = malloc(ns * sizeof *ctx.div);
    if (hutchinson)
        probes = malloc(n * d * sizeof *probes);
    r = gsl_rng_alloc(slv_rng_counter);
    solver = slv_ode_solver_alloc(o->method, &sys, ns);
    if (!y || !z || !logp_T || !ctx.x || !ctx.score || !ctx.v || !ctx.prod || !ctx.xp || !ctx.xm ||
        !ctx.sp || !ctx.sm || !ctx.div || (hutchinson && !probes) || !r || !solver) {
        status = slv_error_set(&c.err, SLV_ENOMEM, eps, -1,
                               "likelihood: cannot allocate workspaces for %zu points of dimension %zu",
                               n, d);
        goto done;
    }
    if (hutchinson) {
        for (size_t i = 0; i < n; i++) {
            slv_rng_set_stream(r, seed, (uint64_t)(first_sample + i), SGM_STREAM_PROBE);
            for (size_t j = 0; j < d; j++)
                probes[i * d + j] = o->divergence == SGM_DIVERGENCE_GAUSSIAN
                                        ? gsl_ran_gaussian_ziggurat(r, 1.0)
                                        : (gsl_ran_bernoulli(r, 0.5) ? 1.0 : -1.0);
        }
        ctx.probes = probes;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(y + i * dd, x + i * d, d * sizeof *x);
        y[i * dd + d] = 0.0;
    }
    status = sgm_call_setup_ode(&c, solver, o->method, per_row ? lik_rhs_rows : NULL, o->rtol,
                                o->atol, o->max_steps, o->n_steps, o->interrupt);
    if (status == SLV_OK)
        status = sgm_call_solve_ode(&c, solver, per_row, n, ns, dd, eps, process->T, y, &ctx.row0,
                                    nfe);
    if (status != SLV_OK)
        goto done;

    for (size_t i = 0; i < n; i++)
        memcpy(z + i * d, y + i * dd, d * sizeof *z);
    if (o->terminal_log_density) {
        int rc = o->terminal_log_density(n, d, z, logp_T, o->terminal_params);
        if (rc != 0) {
            status = slv_error_set(&c.err, SLV_ECALLBACK, process->T, -1,
                                   "likelihood: terminal log-density returned %d", rc);
            goto done;
        }
    } else {
        sgm_process_prior_logp(process, n, d, z, logp_T);
    }
    const double offset = sgm_bpd_offset(o);
    for (size_t i = 0; i < n; i++) {
        logp[i] = logp_T[i] + y[i * dd + d];
        if (bpd)
            bpd[i] = -logp[i] / ((double)d * M_LN2) + offset;
        if (!isfinite(logp[i]) && status == SLV_OK)
            status = slv_error_set(&c.err, SLV_ENONFINITE, process->T, (long)(first_sample + i),
                                   "likelihood: log p of point %zu is %g (prior term %g, "
                                   "divergence integral %g)", first_sample + i, logp[i], logp_T[i],
                                   y[i * dd + d]);
    }
    if (latent)
        memcpy(latent, z, n * d * sizeof *z);
done:
    slv_ode_solver_free(solver);
    if (r)
        gsl_rng_free(r);
    free(y);
    free(z);
    free(logp_T);
    free(probes);
    free(ctx.x);
    free(ctx.score);
    free(ctx.v);
    free(ctx.prod);
    free(ctx.xp);
    free(ctx.xm);
    free(ctx.sp);
    free(ctx.sm);
    free(ctx.div);
    return sgm_call_finish(&c, status, stats, err);
}

int sgm_dequantise(size_t n, size_t d, double *x, double lo, double width, double levels,
                   uint64_t seed, size_t first_sample, uint64_t pass)
{
    if (!x || !isfinite(lo) || !isfinite(width) || !(width > 0.0) || !isfinite(levels) ||
        !(levels > 1.0))
        return SLV_EINVAL;
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    if (!r)
        return SLV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        slv_rng_set_stream(r, seed, (uint64_t)(first_sample + i), SGM_STREAM_DEQUANTISE(pass));
        for (size_t j = 0; j < d; j++) {
            double k = nearbyint((x[i * d + j] - lo) / width * (levels - 1.0));
            if (k < 0.0)
                k = 0.0;
            if (k > levels - 1.0)
                k = levels - 1.0;
            x[i * d + j] = lo + (k + gsl_rng_uniform(r)) * width / levels;
        }
    }
    gsl_rng_free(r);
    return SLV_OK;
}
