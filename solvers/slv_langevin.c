/* slv_langevin.c — unadjusted Langevin steps (slv_sde.h):
 *   x ← x + ε s(x) + √(2ε) z,  z ~ N(0, I),
 * with z for path p, step k drawn by gsl_ran_gaussian_ziggurat from the slv_rng_counter stream
 * (seed, first_path + p, k). A step is computed into `work` and committed only when finite.
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

int slv_langevin_run(slv_score_fn score, void *params, double t, size_t n, size_t d, double *x,
                     double eps, size_t n_steps, uint64_t seed, size_t first_path, double *work,
                     slv_error *err)
{
    static const char *fn = "slv_langevin_run";
    slv_error local;
    if (err == NULL)
        err = &local;
    slv_error_clear(err);
    if (score == NULL || x == NULL || work == NULL)
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: %s is NULL", fn,
                             score == NULL ? "score" : x == NULL ? "x" : "work");
    if (n == 0 || d == 0)
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: n = %zu, d = %zu, expected >= 1", fn, n,
                             d);
    if (!isfinite(eps) || !(eps > 0.0))
        return slv_error_set(err, SLV_EINVAL, t, -1, "%s: eps = %g, expected finite and > 0", fn,
                             eps);
    if (n_steps == 0)
        return SLV_OK;

    const int nt = slv_sde_team(0, n * d, SLV_OMP_GRAIN_NORMALS); /* one normal per number */
    gsl_rng *rngs = slv_rng_team_alloc((size_t)nt); /* one generator per thread */
    if (rngs == NULL)
        return slv_error_set(err, SLV_ENOMEM, t, -1, "%s: cannot allocate %d generators", fn, nt);
    const double noise_scale = sqrt(2.0 * eps);
    const size_t nd = n * d;
    int rc = SLV_OK;
    for (size_t k = 0; k < n_steps; k++) {
        int cb = score(t, n, d, x, work, params);
        if (cb != 0) {
            rc = slv_error_set(err, SLV_ECALLBACK, t, -1,
                               "%s: score returned %d at t = %.15g in step %zu of %zu", fn, cb, t,
                               k, n_steps);
            break;
        }
        long bad = slv_find_nonfinite(work, nd);
        if (bad >= 0) {
            rc = slv_error_set(err, SLV_ENONFINITE, t, (long)first_path + bad / (long)d,
                               "%s: score of path %zu, component %ld is %g in step %zu", fn,
                               first_path + (size_t)(bad / (long)d), bad % (long)d, work[bad], k);
            break;
        }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t p = 0; p < n; p++) {
#ifdef _OPENMP
            gsl_rng *r = &rngs[omp_get_thread_num()];
#else
            gsl_rng *r = &rngs[0];
#endif
            slv_rng_set_stream(r, seed, first_path + p, k);
            for (size_t i = 0; i < d; i++) {
                size_t e = p * d + i;
                work[e] = x[e] + eps * work[e] + noise_scale * gsl_ran_gaussian_ziggurat(r, 1.0);
            }
        }
        bad = slv_find_nonfinite(work, nd);
        if (bad >= 0) {
            rc = slv_error_set(err, SLV_ENONFINITE, t, (long)first_path + bad / (long)d,
                               "%s: state of path %zu, component %ld became %g in step %zu; x "
                               "holds the state before it",
                               fn, first_path + (size_t)(bad / (long)d), bad % (long)d, work[bad],
                               k);
            break;
        }
        memcpy(x, work, nd * sizeof(double));
    }
    slv_rng_team_free(rngs);
    return rc;
}
