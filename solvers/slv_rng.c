/* slv_rng.c — Philox4x32-10 as a GSL generator (slv_rng.h).
 *
 * Philox (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC11) maps a
 * 128-bit counter and a 64-bit key to 128 random bits through ten rounds of
 *   (c0, c1, c2, c3) -> (hi(M1·c2) ^ c1 ^ k0, lo(M1·c2), hi(M0·c0) ^ c3 ^ k1, lo(M0·c0)),
 * bumping the key by the Weyl constants (W0, W1) between rounds. The output depends only on
 * (key, counter), which is what makes a sample's numbers independent of who draws them.
 */
#include "slv_rng.h"
#include "slv_sde_impl.h" /* slv_sde_team and the grains */

#include <stdint.h>
#include <stdlib.h>

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)
#define PHILOX_ROUNDS 10

void slv_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < PHILOX_ROUNDS; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

typedef struct philox_state {
    uint32_t key[2];
    uint32_t counter[4]; /* counter[0] = next block position in the stream */
    uint32_t block[4];   /* outputs of the current block */
    unsigned used;       /* outputs of `block` already returned (4: compute the next block) */
} philox_state;

static void philox_position(philox_state *st, uint64_t seed, uint64_t a, uint64_t b)
{
    const uint64_t mask48 = (UINT64_C(1) << SLV_RNG_STREAM_BITS) - 1;
    a &= mask48;
    b &= mask48;
    st->key[0] = (uint32_t)seed;
    st->key[1] = (uint32_t)(seed >> 32);
    st->counter[0] = 0;
    st->counter[1] = (uint32_t)b;
    st->counter[2] = (uint32_t)(b >> 32) | ((uint32_t)(a & 0xFFFF) << 16);
    st->counter[3] = (uint32_t)(a >> 16);
    st->used = 4;
}

static void philox_set(void *vstate, unsigned long seed)
{
    philox_position(vstate, (uint64_t)seed, 0, 0);
}

static unsigned long philox_get(void *vstate)
{
    philox_state *st = vstate;
    if (st->used == 4) {
        slv_rng_philox4x32_10(st->counter, st->key, st->block);
        st->counter[0]++;
        st->used = 0;
    }
    return st->block[st->used++];
}

/* 32 random bits scaled to [0, 1), as GSL's own 32-bit generators do. */
static double philox_get_double(void *vstate)
{
    return (double)philox_get(vstate) / 4294967296.0;
}

static const gsl_rng_type philox_type = {
    "philox4x32-10",
    UINT32_C(0xFFFFFFFF), /* max */
    0,                    /* min */
    sizeof(philox_state),
    &philox_set,
    &philox_get,
    &philox_get_double,
};

const gsl_rng_type *slv_rng_counter = &philox_type;

void slv_rng_set_stream(gsl_rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
    if (r == NULL || r->type != &philox_type)
        return;
    philox_position(r->state, seed, a, b);
}

gsl_rng *slv_rng_team_alloc(size_t count)
{
    if (count == 0)
        count = 1;
    /* [count gsl_rng structs, padded to 128 bytes][count states, 128-byte strides] */
    const size_t head = (count * sizeof(gsl_rng) + 127) / 128 * 128;
    const size_t stride = (slv_rng_counter->size + 127) / 128 * 128;
    unsigned char *block = aligned_alloc(128, head + count * stride);
    if (block == NULL)
        return NULL;
    gsl_rng *team = (gsl_rng *)block;
    for (size_t i = 0; i < count; i++) {
        team[i].type = slv_rng_counter;
        team[i].state = block + head + i * stride;
        slv_rng_set_stream(&team[i], 0, 0, 0);
    }
    return team;
}

void slv_rng_team_free(gsl_rng *team)
{
    free(team);
}

int slv_rng_team_threads(size_t normals)
{
    return slv_sde_team(0, normals, SLV_OMP_GRAIN_NORMALS);
}
