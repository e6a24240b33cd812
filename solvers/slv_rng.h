/* slv_rng.h — counter-based random streams that plug into GSL's distributions.
 *
 * slv_rng_counter is a gsl_rng_type (Philox4x32-10, Salmon et al. 2011) whose output depends only on
 * a 128-bit key and a counter. Positioning a generator at (seed, a, b) gives an independent stream
 * for each pair (a, b) — e.g. (sample index, step) — so a sample's random numbers never depend on
 * the thread count or on which batch it lands in. Draw from it with GSL as usual:
 *
 *     gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
 *     slv_rng_set_stream(r, seed, sample_index, step);
 *     double z = gsl_ran_gaussian_ziggurat(r, 1.0);
 *     gsl_rng_free(r);
 *
 * gsl_rng_set(r, s) is equivalent to slv_rng_set_stream(r, s, 0, 0).
 */
#ifndef SLV_RNG_H
#define SLV_RNG_H

#include <stdint.h>
#include <gsl/gsl_rng.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const gsl_rng_type *slv_rng_counter;

/* Positions r (which must have been allocated with slv_rng_counter) at the start of stream (a, b)
 * of generator `seed`. Cheap: no allocation, a few integer operations. */
void slv_rng_set_stream(gsl_rng *r, uint64_t seed, uint64_t a, uint64_t b);

#ifdef __cplusplus
}
#endif
#endif
