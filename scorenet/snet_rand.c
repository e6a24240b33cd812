/* snet_rand.c — deterministic initialisation fills (declared in snet_layers.h). Kept apart from
 * snet_layers.c because GSL's gsl_randist.h pulls in gsl_cblas.h, which clashes with OpenBLAS'
 * cblas.h in one translation unit. */
#include "snet_layers.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

/* ---- initialisation fills ---------------------------------------------------------------------------- */

int snet_fill_gaussian(float *a, size_t n, float scale, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return -1;
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)gsl_ran_gaussian(r, scale);
    gsl_rng_free(r);
    return 0;
}

int snet_fill_uniform(float *a, size_t n, float bound, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return -1;
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)gsl_ran_flat(r, -bound, bound);
    gsl_rng_free(r);
    return 0;
}
