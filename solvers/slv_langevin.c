/* slv_langevin.c — unadjusted Langevin steps (slv_sde.h):
 *   x ← x + ε s(x) + √(2ε) z,  z ~ N(0, I),
 * with z for path p drawn by gsl_ran_gaussian_ziggurat from the slv_rng_counter stream
 * (seed, first_path + p, stream). A step is computed into `work` and committed only when finite.
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "slv_rng.h"
#include "slv_sde_impl.h"

struct slv_langevin {
    gsl_rng *rngs; /* one generator per thread */
    int threads;
};

slv_langevin *slv_langevin_alloc(void)
{
    slv_langevin *w = malloc(sizeof *w);
    if (!w)
        return NULL;
#ifdef _OPENMP
    w->threads = omp_get_max_threads();
#else
    w->threads = 1;
#endif
    w->rngs = slv_rng_team_alloc((size_t)w->threads);
    if (!w->rngs) {
        free(w);
        return NULL;
    }
    return w;
}

void slv_langevin_free(slv_langevin *w)
{
    if (!w)
        return;
    slv_rng_team_free(w->rngs);
    free(w);
}

/* The checks every entry point makes; SLV_OK or SLV_EINVAL with the reason. */
static int check_arguments(const char *fn, const void *score, const double *x, const double *work, size_t n,
                           size_t d, double eps, double t, slv_error *err)
{
    if (score == NULL || x == NULL || work == NULL)
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: %s is NULL", fn,
                             score == NULL ? "score" : x == NULL ? "x" : "work");
    if (n == 0 || d == 0)
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: n = %zu, d = %zu, expected >= 1", fn, n, d);
    if (!isfinite(eps) || !(eps > 0.0))
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: eps = %g, expected finite and > 0", fn, eps);
    return SLV_OK;
}

int slv_langevin_apply(slv_langevin *w, slv_score_fn score, void *params, double t, size_t n, size_t d,
                       double *x, double eps, uint64_t seed, size_t first_path, uint64_t stream,
                       double *work, slv_error *err)
{
    static const char *fn = "slv_langevin_apply";
    slv_error local;
    if (err == NULL)
        err = &local;
    if (w == NULL)
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: the workspace is NULL", fn);
    int rc = check_arguments(fn, (const void *)score, x, work, n, d, eps, t, err);
    if (rc != SLV_OK)
        return rc;

    const size_t nd = n * d;
    int cb = score(t, n, d, x, work, params);
    if (cb != 0)
        return slv_error_set(err, SLV_ECALLBACK, t, -1, "%s: score returned %d at t = %.15g (stream %llu)",
                             fn, cb, t, (unsigned long long)stream);
    long bad = slv_find_nonfinite(work, nd);
    if (bad >= 0)
        return slv_error_set(err, SLV_ENONFINITE, t, (long)first_path + bad / (long)d,
                             "%s: score of path %zu, component %ld is %g (stream %llu)", fn,
                             first_path + (size_t)(bad / (long)d), bad % (long)d, work[bad],
                             (unsigned long long)stream);
    const int nt = slv_sde_team(w->threads, nd, SLV_OMP_GRAIN_NORMALS); /* one normal per number */
    const double noise_scale = sqrt(2.0 * eps);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t p = 0; p < n; p++) {
#ifdef _OPENMP
        gsl_rng *r = &w->rngs[omp_get_thread_num()];
#else
        gsl_rng *r = &w->rngs[0];
#endif
        slv_rng_set_stream(r, seed, first_path + p, stream);
        for (size_t i = 0; i < d; i++) {
            size_t e = p * d + i;
            work[e] = x[e] + eps * work[e] + noise_scale * gsl_ran_gaussian_ziggurat(r, 1.0);
        }
    }
    bad = slv_find_nonfinite(work, nd);
    if (bad >= 0)
        return slv_error_set(err, SLV_ENONFINITE, t, (long)first_path + bad / (long)d,
                             "%s: state of path %zu, component %ld became %g (stream %llu); x holds "
                             "the state before it", fn, first_path + (size_t)(bad / (long)d), bad % (long)d,
                             work[bad], (unsigned long long)stream);
    memcpy(x, work, nd * sizeof(double));
    return SLV_OK;
}

int slv_langevin_run(slv_score_fn score, void *params, double t, size_t n, size_t d, double *x,
                     double eps, size_t n_steps, uint64_t seed, size_t first_path, double *work,
                     slv_error *err)
{
    slv_error local;
    if (err == NULL)
        err = &local;
    slv_error_clear(err);
    int rc = check_arguments("slv_langevin_run", (const void *)score, x, work, n, d, eps, t, err);
    if (rc != SLV_OK || n_steps == 0)
        return rc;
    slv_langevin *w = slv_langevin_alloc();
    if (w == NULL)
        return slv_error_set(err, SLV_ENOMEM, t, -1, "slv_langevin_run: cannot allocate the generators");
    for (size_t k = 0; k < n_steps && rc == SLV_OK; k++) {
        rc = slv_langevin_apply(w, score, params, t, n, d, x, eps, seed, first_path, k, work, err);
        if (rc != SLV_OK) {
            size_t used = strlen(err->message);
            snprintf(err->message + used, sizeof err->message - used, " in step %zu of %zu", k, n_steps);
        }
    }
    slv_langevin_free(w);
    return rc;
}
