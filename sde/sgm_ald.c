/* sgm_ald.c — annealed Langevin dynamics (Song & Ermon 2019, NCSN Algorithm 1) on the noise
 * levels of a VE process, with batch-independent noise and NCSNv2's final denoising step; each
 * step is the solver layer's Langevin step (slv_langevin_apply). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sgm_internal.h"
#include "sgm_sampler.h"
#include "slv_sde.h"

/* Bounds of SGM_STREAM_STEP(level, step): level < 2^26, step < 2^20. */
#define ALD_LEVELS_LIMIT ((size_t)1 << 26)
#define ALD_STEPS_LIMIT ((size_t)1 << 20)

void sgm_ald_options_init(sgm_ald_options *o)
{
    memset(o, 0, sizeof *o);
    o->n_levels = 10;
    o->steps_per_level = 100;
    o->step_lr = 2e-5;
    o->denoise = 1;
}

static int check_options(sgm_call *c, const sgm_ald_options *o)
{
    if (o->n_levels < 2 || o->n_levels >= ALD_LEVELS_LIMIT)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "ald: n_levels = %zu, expected 2 .. %zu (noise levels from sigma_max "
                             "down to sigma_min)", o->n_levels, ALD_LEVELS_LIMIT - 1);
    if (o->steps_per_level == 0 || o->steps_per_level >= ALD_STEPS_LIMIT)
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "ald: steps_per_level = %zu, expected 1 .. %zu", o->steps_per_level,
                             ALD_STEPS_LIMIT - 1);
    if (!isfinite(o->step_lr) || !(o->step_lr > 0.0))
        return slv_error_set(&c->err, SLV_EINVAL, 0.0, -1,
                             "ald: step_lr = %g, expected a finite value > 0", o->step_lr);
    if (c->process->kind != SGM_PROCESS_VE)
        return slv_error_set(&c->err, SLV_EUNSUPPORTED, 0.0, -1,
                             "ald: annealed Langevin dynamics runs on the noise levels of a VE "
                             "process, this one is %s; use the pc, ode or sde sampler",
                             sgm_process_kind_name(c->process->kind));
    return SLV_OK;
}

/* The Langevin stepper's score: the model through the call, which counts the evaluations and names
 * the sample of a failure. */
static int call_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)d;
    return sgm_call_score(params, t, n, 0, x, out) == SLV_OK ? 0 : -1;
}

int sgm_ald_sample_from(const sgm_process *process, const sgm_score_model *model,
                        const sgm_ald_options *options, size_t n, uint64_t seed,
                        size_t first_sample, double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    double *score = NULL; // (n, d): the scores, then the stepper's proposal
    slv_langevin *langevin = NULL;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !options)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "ald: options is NULL");
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "ald: x is NULL");
    if (status == SLV_OK)
        status = check_options(&c, options);
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);

    const sgm_ald_options *o = options;
    const size_t d = c.d, n_levels = o->n_levels, n_steps = o->steps_per_level;
    const double sigma_last = process->sigma_min; /* σ_{L−1} = σ(0) */

    score = malloc(n * d * sizeof *score);
    langevin = slv_langevin_alloc();
    if (!score || !langevin) {
        status = slv_error_set(&c.err, SLV_ENOMEM, 1.0, -1, "ald: cannot allocate %zu doubles",
                               n * d);
        goto done;
    }

    for (size_t level = 0; level < n_levels; level++) {
        /* t = j/(L−1) with j = L−1−level: bit for bit the training grid of NCSN models. */
        const double t = (double)(n_levels - 1 - level) / (double)(n_levels - 1);
        const double ratio = sgm_process_sigma(process, t) / sigma_last;
        const double alpha = o->step_lr * ratio * ratio; /* α_i = ε σ_i²/σ_{L−1}² */
        for (size_t k = 0; k < n_steps; k++) {
            if (o->interrupt && *o->interrupt) {
                status = slv_error_set(&c.err, SLV_EINTERRUPTED, t, -1,
                                       "ald: interrupted at level %zu of %zu, step %zu of %zu "
                                       "(t = %.17g)", level, n_levels, k, n_steps, t);
                goto done;
            }
            /* x ← x + (α/2) s + √α z: the Langevin stepper with ε = α/2 */
            slv_error step_err;
            status = slv_langevin_apply(langevin, call_score, &c, t, n, d, x, 0.5 * alpha, seed, first_sample,
                                        SGM_STREAM_STEP(level, k), score, &step_err);
            if (status != SLV_OK) {
                if (c.err.status == SLV_OK) /* else the call's report names the sample already */
                    c.err = step_err;
                status = c.err.status;
                goto done;
            }
        }
    }
    if (o->denoise) {
        /* x ← x + σ_min² s(x, 0): the posterior mean E[x_0 | x] under N(0, σ_min²) noise. */
        status = sgm_call_score(&c, 0.0, n, 0, x, score);
        if (status != SLV_OK)
            goto done;
        for (size_t i = 0; i < n * d; i++)
            x[i] += sigma_last * sigma_last * score[i];
    }
    {
        long bad = slv_find_nonfinite(x, n * d);
        if (bad >= 0)
            status = slv_error_set(&c.err, SLV_ENONFINITE, 0.0, (long)(first_sample + bad / d),
                                   "ald: sample %zu, component %zu is %g at the end (step_lr = %g "
                                   "too large?)", first_sample + (size_t)bad / d, (size_t)bad % d,
                                   x[bad], o->step_lr);
    }

done:
    c.stats.nfe = c.stats.n_score_calls;
    free(score);
    slv_langevin_free(langevin);
    return sgm_call_finish(&c, status, stats, err);
}

int sgm_ald_sample(const sgm_process *process, const sgm_score_model *model,
                   const sgm_ald_options *options, size_t n, uint64_t seed, size_t first_sample,
                   double *x, sgm_stats *stats, slv_error *err)
{
    sgm_call c;
    int status = sgm_call_init(&c, process, model, n, first_sample);
    if (status == SLV_OK && !x)
        status = slv_error_set(&c.err, SLV_EINVAL, 0.0, -1, "ald: x is NULL");
    if (status == SLV_OK && options)
        status = check_options(&c, options); /* x untouched when the options are refused */
    if (status == SLV_OK && sgm_process_prior_sample(process, n, c.d, seed, first_sample, x) != SLV_OK)
        status = slv_error_set(&c.err, SLV_ENOMEM, 1.0, -1, "ald: cannot allocate a generator");
    if (status != SLV_OK)
        return sgm_call_finish(&c, status, stats, err);
    return sgm_ald_sample_from(process, model, options, n, seed, first_sample, x, stats, err);
}
