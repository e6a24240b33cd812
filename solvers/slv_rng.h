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

/* Positions r (which must have been allocated with slv_rng_counter; other generators are left
 * untouched) at the start of stream (a, b) of generator `seed`. Cheap: no allocation, a few
 * integer operations.
 *
 * Layout: the Philox key is the seed (low word, high word); the 128-bit counter is
 *   word 0: block position within the stream (4 outputs per block, so a stream holds 2^34
 *           32-bit outputs before it wraps),
 *   word 1: low 32 bits of b,   word 2: bits 32..47 of b | (bits 0..15 of a) << 16,
 *   word 3: bits 16..47 of a.
 * Only the low 48 bits of a and b are used: streams (a, b) and (a + 2^48, b) coincide.
 * Streams with bit 47 of b set are reserved for the Brownian tree of slv_sde.h (slv_brownian);
 * other users of a seed should keep b < 2^47 so that their numbers never coincide with it. */
void slv_rng_set_stream(gsl_rng *r, uint64_t seed, uint64_t a, uint64_t b);

/* Generators for the threads of a parallel loop: `count` slv_rng_counter generators in one
 * array (thread i uses &team[i]), each state on its own 128 bytes — states sharing a cache line
 * made two threads 3–5 times slower than one, since every draw writes its state. Position each with
 * slv_rng_set_stream before drawing. NULL when memory runs out; free with slv_rng_team_free. */
gsl_rng *slv_rng_team_alloc(size_t count);
void slv_rng_team_free(gsl_rng *team);

/* The threads worth forking for a loop that draws `normals` Gaussian numbers (with the little
 * arithmetic around each draw that samplers do): one per 32 768 draws (≈ 0.7 ms), 16 times that
 * while idle OpenMP threads spin, at most omp_get_max_threads(); 1 below two such grains
 * (measurements in docs/solvers-sde.md, "Threads"). */
int slv_rng_team_threads(size_t normals);

#define SLV_RNG_STREAM_BITS 48
#define SLV_RNG_BROWNIAN_TAG (UINT64_C(1) << 47)

/* The Philox4x32-10 bijection itself (Salmon et al. 2011, the Random123 reference): out = the
 * 10-round Philox of counter ctr under key. For known-answer tests and for callers that want raw
 * blocks; in and out may not alias. */
void slv_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#ifdef __cplusplus
}
#endif
#endif
