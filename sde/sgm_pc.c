/* sgm_pc.c — the predictor–corrector sampler (Song et al. 2021, Algorithms 2–4 and the official
 * code's predictors and correctors), with batch-independent noise and step sizes. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sgm_internal.h"
#include "sgm_sampler.h"
#include "slv_rng.h"

/* ---- Names ----------------------------------------------------------------------------------- */

static const char *const predictor_names[] = {"none", "euler_maruyama", "reverse_diffusion",
                                              "ancestral"};
static const char *const corrector_names[] = {"none", "langevin", "ald"};

const char *sgm_predictor_name(sgm_predictor p)
{
    return (unsigned)p < 4 ? predictor_names[p] : "unknown";
}

int sgm_predictor_parse(const char *name, sgm_predictor *p)
{
    for (unsigned i = 0; name && i < 4; i++)
        if (strcmp(name, predictor_names[i]) == 0) {
            *p = (sgm_predictor)i;
            return SLV_OK;
        }
    return SLV_EINVAL;
}

const char *sgm_corrector_name(sgm_corrector c)
{
    return (unsigned)c < 3 ? corrector_names[c] : "unknown";
}

int sgm_corrector_parse(const char *name, sgm_corrector *c)
{
    for (unsigned i = 0; name && i < 3; i++)
        if (strcmp(name, corrector_names[i]) == 0) {
            *c = (sgm_corrector)i;
            return SLV_OK;
        }
    return SLV_EINVAL;
}

void sgm_pc_options_init(sgm_pc_options *o, const sgm_process *p)
{
    memset(o, 0, sizeof *o);
    int ve = p && p->kind == SGM_PROCESS_VE;
    o->predictor = ve ? SGM_PREDICTOR_REVERSE_DIFFUSION : SGM_PREDICTOR_EULER_MARUYAMA;
    o->corrector = ve ? SGM_CORRECTOR_LANGEVIN : SGM_CORRECTOR_NONE;
    o->snr = 0.16;
    o->corrector_steps = 1;
    o->eps = SGM_EPS_DEFAULT;
    o->denoise = 1;
}

/* ---- The sampler ----------------------------------------------------------------------------- */

#define STAGE_INPAINT 0x10000u

static int check_options(sgm_call *c, const sgm_pc_options *o)
{
    const sgm_process *p = c->process;
    if ((unsigned)o->predictor > SGM_PREDICTOR_ANCESTRAL)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "pc: predictor %d is not one of %s",
                             (int)o->predictor, "none, euler_maruyama, reverse_diffusion, ancestral");
    if ((unsigned)o->corrector > SGM_CORRECTOR_ALD)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "pc: corrector %d is not one of %s",
                             (int)o->corrector, "none, langevin, ald");
    if (o->predictor == SGM_PREDICTOR_NONE && o->corrector == SGM_CORRECTOR_NONE)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "pc: predictor and corrector are both none, nothing to sample with");
    if (o->corrector != SGM_CORRECTOR_NONE) {
        if (!isfinite(o->snr) || !(o->snr > 0.0))
            return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                                 "pc: snr = %g, expected a finite value > 0", o->snr);
        if (o->corrector_steps == 0 || o->corrector_steps >= STAGE_INPAINT - 1)
            return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                                 "pc: corrector_steps = %zu, expected 1 .. %u", o->corrector_steps,
                                 STAGE_INPAINT - 2);
    }
    if (o->predictor == SGM_PREDICTOR_ANCESTRAL && p->kind == SGM_PROCESS_SUBVP)
        return slv_error_set(&c->err, SLV_EUNSUPPORTED, 0.0, -1,
                             "pc: ancestral sampling is defined for VE (SMLD) and VP (DDPM), not "
                             "sub-VP; use reverse_diffusion or euler_maruyama");
    int uses_beta = p->kind != SGM_PROCESS_VE &&
                    (o->corrector != SGM_CORRECTOR_NONE ||
                     o->predictor == SGM_PREDICTOR_ANCESTRAL ||
                     (o->predictor == SGM_PREDICTOR_REVERSE_DIFFUSION && p->kind == SGM_PROCESS_VP));
    if (uses_beta && !(sgm_process_discrete_beta(p, p->N - 1) < 1.0))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "pc: DDPM beta_{N-1} = beta_max/N = %g, expected < 1 (raise N = %zu)",
                             sgm_process_discrete_beta(p, p->N - 1), p->N);
    if (p->N >= ((size_t)1 << 26))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1, "pc: N = %zu, expected < 2^26", p->N);
    return sgm_inpaint_validate(c, o->inpaint);
}

static double sq_norm(const double *v, size_t d)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++)
        s += v[j] * v[j];
    return s;
}

int sgm_pc_sample_from(const sgm_process *process, const sgm_score_model *model,
                       const sgm_pc_options *options, size_t n, uint64_t seed,
                       size_t first_sample, double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    double *score = NULL, *z = NULL;
    gsl_rng *rngs = NULL, *r = NULL; /* r: the first of rngs, for the serial draws */
    double eps = 0.0;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !options)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "pc: options is NULL");
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "pc: x is NULL");
    if (status == SLV_OK)
        status = check_options(&c, options);
    if (status == SLV_OK)
        status = sgm_resolve_eps(&c, options->eps, sgm_process_default_eps(process), &eps);
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);

    const sgm_pc_options *o = options;
    const size_t d = c.d, N = process->N;
    const double T = process->T;
    const size_t n_corr = o->corrector == SGM_CORRECTOR_NONE ? 0 : o->corrector_steps;
    const int has_pred = o->predictor != SGM_PREDICTOR_NONE;

    /* The draws and updates run over the samples on `team` threads, one generator each; every
     * sample's numbers come from its own stream, so the bits do not depend on the team. */
    const int team = slv_rng_team_threads(n * d);
    score = malloc(n * d * sizeof *score);
    z = malloc(n * d * sizeof *z);
    rngs = slv_rng_team_alloc((size_t)team);
    r = rngs;
    if (!score || !z || !rngs) {
        status = slv_error_set(&c.err, SLV_ENOMEM, T, -1, "pc: cannot allocate %zu doubles",
                               2 * n * d);
        goto done;
    }

    for (size_t k = 0; k < N; k++) {
        const double t = T + (double)k * (eps - T) / (double)N;
        const double t_next = T + (double)(k + 1) * (eps - T) / (double)N;
        const size_t i = N - 1 - k; /* discretisation index of this step */
        const int last_step = k + 1 == N;
        unsigned evaluation = 0;
        if (o->interrupt && *o->interrupt) {
            status = slv_error_set(&c.err, SLV_EINTERRUPTED, t, -1,
                                   "pc: interrupted at step %zu of %zu (t = %.17g)", k, N, t);
            goto done;
        }
        /* α of the Langevin corrector: 1 − β_i (DDPM β) for VP and sub-VP, 1 for VE. */
        const double alpha =
            process->kind == SGM_PROCESS_VE ? 1.0 : 1.0 - sgm_process_discrete_beta(process, i);

        for (size_t it = 0; it < n_corr; it++) {
            if (o->inpaint)
                sgm_inpaint_replace(&c, o->inpaint, t, n, 0, x, NULL, r, seed,
                                    SGM_STREAM_STEP(k, STAGE_INPAINT + evaluation));
            evaluation++;
            status = sgm_call_score(&c, t, n, 0, x, score);
            if (status != SLV_OK)
                goto done;
            const int add_noise = !(o->denoise && last_step && !has_pred && it + 1 == n_corr);
            const double ald_std = sgm_process_std(process, t);
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
            for (size_t s = 0; s < n; s++) {
                gsl_rng *rt = &rngs[omp_get_thread_num()];
                slv_rng_set_stream(rt, seed, (uint64_t)(first_sample + s), SGM_STREAM_STEP(k, 1 + it));
                for (size_t j = 0; j < d; j++)
                    z[s * d + j] = gsl_ran_gaussian_ziggurat(rt, 1.0);
            }
            double batch_ratio = 0.0; /* (mean ‖z‖ / mean ‖s‖)² for langevin_batch_norms */
            if (o->corrector == SGM_CORRECTOR_LANGEVIN && o->langevin_batch_norms) {
                double z_norm = 0.0, s_norm = 0.0;
                for (size_t s = 0; s < n; s++) {
                    z_norm += sqrt(sq_norm(z + s * d, d));
                    s_norm += sqrt(sq_norm(score + s * d, d));
                }
                batch_ratio = s_norm > 0.0 ? (z_norm / s_norm) * (z_norm / s_norm) : 0.0;
            }
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
            for (size_t s = 0; s < n; s++) {
                double *xs = x + s * d;
                const double *ss = score + s * d, *zs = z + s * d;
                double step;
                if (o->corrector == SGM_CORRECTOR_LANGEVIN) {
                    double ratio = batch_ratio;
                    if (!o->langevin_batch_norms) {
                        /* Per-sample norms: ε = 2α (snr ‖z‖/‖s‖)². */
                        double s2 = sq_norm(ss, d);
                        ratio = s2 > 0.0 ? sq_norm(zs, d) / s2 : 0.0;
                    }
                    step = 2.0 * alpha * o->snr * o->snr * ratio;
                } else {
                    step = 2.0 * alpha * (o->snr * ald_std) * (o->snr * ald_std);
                }
                const double noise_scale = add_noise ? sqrt(2.0 * step) : 0.0;
                for (size_t j = 0; j < d; j++)
                    xs[j] += step * ss[j] + noise_scale * zs[j];
            }
        }

        if (!has_pred)
            continue;
        if (o->inpaint)
            sgm_inpaint_replace(&c, o->inpaint, t, n, 0, x, NULL, r, seed,
                                SGM_STREAM_STEP(k, STAGE_INPAINT + evaluation));
        status = sgm_call_score(&c, t, n, 0, x, score);
        if (status != SLV_OK)
            goto done;
        const int add_noise = !(o->denoise && last_step);
        /* Per step: x ← mean_coef · x + score_coef · s + noise_std · z. */
        double mean_coef = 1.0, score_coef = 0.0, noise_std = 0.0;
        switch (o->predictor) {
        case SGM_PREDICTOR_EULER_MARUYAMA: {
            const double dt = t_next - t; /* < 0 */
            const double g2 = sgm_process_diffusion_sq(process, t);
            mean_coef = 1.0 + sgm_process_drift_coef(process, t) * dt;
            score_coef = -g2 * dt;
            noise_std = sqrt(g2 * fabs(dt));
            break;
        }
        case SGM_PREDICTOR_REVERSE_DIFFUSION: {
            double f_coef, G;
            sgm_process_discretize(process, i, t, &f_coef, &G);
            mean_coef = 1.0 - f_coef;
            score_coef = G * G;
            noise_std = G;
            break;
        }
        case SGM_PREDICTOR_ANCESTRAL:
            if (process->kind == SGM_PROCESS_VE) {
                const double sigma = sgm_process_discrete_sigma(process, i);
                const double prev = i == 0 ? 0.0 : sgm_process_discrete_sigma(process, i - 1);
                const double dvar = sigma * sigma - prev * prev;
                score_coef = dvar;
                noise_std = sqrt(prev * prev * dvar / (sigma * sigma));
            } else {
                const double beta = sgm_process_discrete_beta(process, i);
                mean_coef = 1.0 / sqrt(1.0 - beta);
                score_coef = beta / sqrt(1.0 - beta);
                noise_std = sqrt(beta);
            }
            break;
        case SGM_PREDICTOR_NONE:
            break;
        }
        if (!add_noise)
            noise_std = 0.0;
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
        for (size_t s = 0; s < n; s++) {
            gsl_rng *rt = &rngs[omp_get_thread_num()];
            double *xs = x + s * d;
            const double *ss = score + s * d;
            slv_rng_set_stream(rt, seed, (uint64_t)(first_sample + s), SGM_STREAM_STEP(k, 0));
            for (size_t j = 0; j < d; j++) {
                /* Draw even when the noise is dropped, so the stream position never depends on
                 * the denoise flag. */
                double zj = gsl_ran_gaussian_ziggurat(rt, 1.0);
                xs[j] = mean_coef * xs[j] + score_coef * ss[j] + noise_std * zj;
            }
        }
    }
    if (o->inpaint)
        sgm_inpaint_finish(&c, o->inpaint, n, 0, x);
    {
        long bad = slv_find_nonfinite(x, n * d);
        if (bad >= 0)
            status = slv_error_set(&c.err, SLV_ENONFINITE, eps, (long)(first_sample + bad / d),
                                   "pc: sample %zu, component %zu is %g at the end (t = %g)",
                                   first_sample + (size_t)bad / d, (size_t)bad % d, x[bad], eps);
    }

done:
    c.stats.nfe = c.stats.n_score_calls;
    free(score);
    free(z);
    slv_rng_team_free(rngs);
    return sgm_call_finish(&c, status, stats, err);
}

int sgm_pc_sample(const sgm_process *process, const sgm_score_model *model,
                  const sgm_pc_options *options, size_t n, uint64_t seed, size_t first_sample,
                  double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "pc: x is NULL");
    if (status == SLV_OK && sgm_process_prior_sample(process, n, c.d, seed, first_sample, x) != SLV_OK)
        status = slv_error_set(&c.err, SLV_ENOMEM, process->T, -1, "pc: cannot allocate a generator");
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);
    return sgm_pc_sample_from(process, model, options, n, seed, first_sample, x, stats, err);
}
