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

int sgm_process_validate(const sgm_process *p, slv_error *err)
{
    slv_error scratch;
    if (!err)
        err = &scratch;
    if (!p)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "process: NULL pointer");
    if (p->kind != SGM_PROCESS_VE && p->kind != SGM_PROCESS_VP && p->kind != SGM_PROCESS_SUBVP)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                             "process: kind %d, expected VE (0), VP (1) or sub-VP (2)", (int)p->kind);
    if (!(p->T > 0.0) || !isfinite(p->T))
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "process: T = %g, expected > 0", p->T);
    if (p->N < 2)
        return slv_error_set(err, SLV_EINVAL, 0.0, -1, "process: N = %zu, expected >= 2", p->N);
    if (p->kind == SGM_PROCESS_VE) {
        if (!(p->sigma_min > 0.0) || !isfinite(p->sigma_min))
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "VE process: sigma_min = %g, expected > 0", p->sigma_min);
        if (!(p->sigma_max > p->sigma_min) || !isfinite(p->sigma_max))
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "VE process: sigma_max = %g, expected finite and > sigma_min = %g",
                                 p->sigma_max, p->sigma_min);
    } else {
        if (!(p->beta_min >= 0.0) || !isfinite(p->beta_min))
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "%s process: beta_min = %g, expected >= 0",
                                 sgm_process_kind_name(p->kind), p->beta_min);
        if (!(p->beta_max > p->beta_min) || !isfinite(p->beta_max))
            return slv_error_set(err, SLV_EINVAL, 0.0, -1,
                                 "%s process: beta_max = %g, expected finite and > beta_min = %g",
                                 sgm_process_kind_name(p->kind), p->beta_max, p->beta_min);
    }
    return SLV_OK;
}

/* One table maps names to kinds. */
static const struct {
    const char *name;
    sgm_process_kind kind;
} process_names[] = {
    {"ve", SGM_PROCESS_VE},       {"vp", SGM_PROCESS_VP},       {"subvp", SGM_PROCESS_SUBVP},
    {"sub-vp", SGM_PROCESS_SUBVP}, {"sub_vp", SGM_PROCESS_SUBVP},
};

const char *sgm_process_kind_name(sgm_process_kind kind)
{
    switch (kind) {
    case SGM_PROCESS_VE: return "ve";
    case SGM_PROCESS_VP: return "vp";
    case SGM_PROCESS_SUBVP: return "subvp";
    }
    return "unknown";
}

int sgm_process_kind_parse(const char *name, sgm_process_kind *kind)
{
    if (!name)
        return SLV_EINVAL;
    for (size_t i = 0; i < sizeof process_names / sizeof process_names[0]; i++)
        if (strcmp(name, process_names[i].name) == 0) {
            *kind = process_names[i].kind;
            return SLV_OK;
        }
    return SLV_EINVAL;
}

/* ---- Coefficients ---------------------------------------------------------------------------- */

double sgm_process_beta(const sgm_process *p, double t)
{
    if (p->kind == SGM_PROCESS_VE)
        return 0.0;
    return p->beta_min + t * (p->beta_max - p->beta_min);
}

/* L(t) = −t² (β_max − β_min)/4 − t β_min/2 = log m(t). */
static double log_mean_coef(const sgm_process *p, double t)
{
    return -0.25 * t * t * (p->beta_max - p->beta_min) - 0.5 * t * p->beta_min;
}

double sgm_process_drift_coef(const sgm_process *p, double t)
{
    return p->kind == SGM_PROCESS_VE ? 0.0 : -0.5 * sgm_process_beta(p, t);
}

double sgm_process_sigma(const sgm_process *p, double t)
{
    if (p->kind == SGM_PROCESS_VE)
        return p->sigma_min * pow(p->sigma_max / p->sigma_min, t);
    return sgm_process_std(p, t);
}

double sgm_process_diffusion_sq(const sgm_process *p, double t)
{
    switch (p->kind) {
    case SGM_PROCESS_VE: {
        double sigma = sgm_process_sigma(p, t);
        return sigma * sigma * 2.0 * log(p->sigma_max / p->sigma_min);
    }
    case SGM_PROCESS_VP:
        return sgm_process_beta(p, t);
    case SGM_PROCESS_SUBVP:
        /* 1 − e^{−2β_min t − (β_max−β_min) t²} = −expm1(4 L(t)) */
        return sgm_process_beta(p, t) * -expm1(4.0 * log_mean_coef(p, t));
    }
    return NAN;
}

double sgm_process_diffusion(const sgm_process *p, double t)
{
    return sqrt(sgm_process_diffusion_sq(p, t));
}

double sgm_process_mean_coef(const sgm_process *p, double t)
{
    return p->kind == SGM_PROCESS_VE ? 1.0 : exp(log_mean_coef(p, t));
}

double sgm_process_std(const sgm_process *p, double t)
{
    switch (p->kind) {
    case SGM_PROCESS_VE: return sgm_process_sigma(p, t);
    case SGM_PROCESS_VP: return sqrt(-expm1(2.0 * log_mean_coef(p, t)));
    case SGM_PROCESS_SUBVP: return -expm1(2.0 * log_mean_coef(p, t));
    }
    return NAN;
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
