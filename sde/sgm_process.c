/* sgm_process.c — VE, VP and sub-VP: coefficients, marginals, priors, discretisations.
 * Formulas: docs/sde.md and the table in sgm_process.h. */
#include "sgm_process.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "slv_rng.h"

void sgm_process_init(sgm_process *p, sgm_process_kind kind)
{
    p->kind = kind;
    p->sigma_min = 0.01;
    p->sigma_max = 50.0;
    p->beta_min = 0.1;
    p->beta_max = 20.0;
    p->N = 1000;
    p->T = 1.0;
}

/* The process's schedule as the shared base evaluates it. */
static scoresde_schedule schedule_of(const sgm_process *p)
{
    return (scoresde_schedule){.kind = p->kind,
                               .sigma_min = p->sigma_min,
                               .sigma_max = p->sigma_max,
                               .beta_min = p->beta_min,
                               .beta_max = p->beta_max};
}

int sgm_process_validate(const sgm_process *p, slv_error *err)
{
    if (!p)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "process: NULL pointer");
    scoresde_schedule s = schedule_of(p);
    int status = scoresde_schedule_validate(&s, err);
    if (status)
        return status;
    if (!(p->T > 0.0) || !isfinite(p->T))
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "process: T = %g, expected > 0", p->T);
    if (p->N < 2)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "process: N = %zu, expected >= 2", p->N);
    return SLV_OK;
}

const char *sgm_process_kind_name(sgm_process_kind kind)
{
    return scoresde_process_kind_name(kind);
}

int sgm_process_kind_parse(const char *name, sgm_process_kind *kind)
{
    return scoresde_process_kind_parse(name, kind);
}

/* ---- Coefficients ---------------------------------------------------------------------------- */

double sgm_process_beta(const sgm_process *p, double t)
{
    scoresde_schedule s = schedule_of(p);
    return scoresde_schedule_beta(&s, t);
}

double sgm_process_drift_coef(const sgm_process *p, double t)
{
    scoresde_schedule s = schedule_of(p);
    return scoresde_schedule_drift_coef(&s, t);
}

double sgm_process_sigma(const sgm_process *p, double t)
{
    return sgm_process_std(p, t);
}

double sgm_process_diffusion_sq(const sgm_process *p, double t)
{
    scoresde_schedule s = schedule_of(p);
    return scoresde_schedule_diffusion_sq(&s, t);
}

double sgm_process_diffusion(const sgm_process *p, double t)
{
    return sqrt(sgm_process_diffusion_sq(p, t));
}

double sgm_process_mean_coef(const sgm_process *p, double t)
{
    scoresde_schedule s = schedule_of(p);
    return scoresde_schedule_mean_coef(&s, t);
}

double sgm_process_std(const sgm_process *p, double t)
{
    scoresde_schedule s = schedule_of(p);
    return scoresde_schedule_std(&s, t);
}

double sgm_process_default_eps(const sgm_process *p)
{
    return p->kind == SGM_PROCESS_VE ? 1e-5 : 1e-3;
}

/* ---- Prior ----------------------------------------------------------------------------------- */

double sgm_process_prior_std(const sgm_process *p)
{
    return p->kind == SGM_PROCESS_VE ? p->sigma_max : 1.0;
}

int sgm_process_prior_sample(const sgm_process *p, size_t n, size_t d, uint64_t seed,
                             size_t first_sample, double *x)
{
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    if (!r)
        return SLV_ENOMEM;
    double sd = sgm_process_prior_std(p);
    for (size_t i = 0; i < n; i++) {
        slv_rng_set_stream(r, seed, (uint64_t)(first_sample + i), SGM_STREAM_PRIOR);
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = sd * gsl_ran_gaussian_ziggurat(r, 1.0);
    }
    gsl_rng_free(r);
    return SLV_OK;
}

void sgm_process_prior_logp(const sgm_process *p, size_t n, size_t d, const double *z,
                            double *logp)
{
    double sd = sgm_process_prior_std(p);
    double var = sd * sd;
    double norm = -0.5 * (double)d * log(2.0 * M_PI * var);
    for (size_t i = 0; i < n; i++) {
        double sq = 0.0;
        for (size_t j = 0; j < d; j++)
            sq += z[i * d + j] * z[i * d + j];
        logp[i] = norm - sq / (2.0 * var);
    }
}

/* ---- Discretisation -------------------------------------------------------------------------- */

size_t sgm_process_discrete_index(const sgm_process *p, double t)
{
    double u = floor(t * (double)(p->N - 1) / p->T);
    if (!(u > 0.0))
        return 0;
    if (u >= (double)(p->N - 1))
        return p->N - 1;
    return (size_t)u;
}

double sgm_process_discrete_sigma(const sgm_process *p, size_t i)
{
    if (p->kind != SGM_PROCESS_VE || i >= p->N)
        return NAN;
    double lo = log(p->sigma_min), hi = log(p->sigma_max);
    return exp(lo + (double)i * (hi - lo) / (double)(p->N - 1));
}

double sgm_process_discrete_beta(const sgm_process *p, size_t i)
{
    if (p->kind == SGM_PROCESS_VE || i >= p->N)
        return NAN;
    double N = (double)p->N;
    return p->beta_min / N + (double)i * (p->beta_max - p->beta_min) / (N * (N - 1.0));
}

int sgm_process_discretize(const sgm_process *p, size_t i, double t, double *f_coef, double *G)
{
    if (i >= p->N)
        return SLV_EINVAL;
    switch (p->kind) {
    case SGM_PROCESS_VE: {
        double sigma = sgm_process_discrete_sigma(p, i);
        double prev = i == 0 ? 0.0 : sgm_process_discrete_sigma(p, i - 1);
        *f_coef = 0.0;
        *G = sqrt(sigma * sigma - prev * prev);
        return SLV_OK;
    }
    case SGM_PROCESS_VP: {
        double beta = sgm_process_discrete_beta(p, i);
        *f_coef = sqrt(1.0 - beta) - 1.0;
        *G = sqrt(beta);
        return SLV_OK;
    }
    case SGM_PROCESS_SUBVP: {
        double dt = p->T / (double)p->N;
        *f_coef = sgm_process_drift_coef(p, t) * dt;
        *G = sgm_process_diffusion(p, t) * sqrt(dt);
        return SLV_OK;
    }
    }
    return SLV_EINVAL;
}
