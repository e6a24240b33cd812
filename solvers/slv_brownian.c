/* slv_brownian.c — the Brownian tree of (ΔW, H) pairs (slv_sde.h).
 *
 * A node's values are a pure function of (seed, global path, component, node id): the root is
 * drawn from its own stream, a child from its parent's values and the parent's split stream. So
 * any query order gives the same bits, and the cache below only saves work.
 *
 * Cache: for each path, the chain of ancestors of the last queried node (cur_level, cur_index),
 * stored level-major (value of path p, component k at level l: W[l][p*m + k]). A query shares
 * with the cached chain all levels down to the deepest common ancestor and splits only below it,
 * so walking the leaves of one level left to right costs two splits per step on average.
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "slv_rng.h"
#include "slv_sde.h"

#define N_LEVELS (SLV_BROWNIAN_MAX_LEVEL + 1)

struct slv_brownian {
    size_t n_paths;
    size_t m;
    double root_length;
    uint64_t seed;
    size_t first_path;

    double length[N_LEVELS]; /* node length L/2^l */
    double sd_z1[N_LEVELS];  /* sqrt(h/16) for splitting a node of level l (h = length[l]) */
    double sd_z2[N_LEVELS];  /* sqrt(h³/192) */
    double *W[N_LEVELS]; /* (n_paths, m) per level, NULL until the level is first used */
    double *H[N_LEVELS]; /* (n_paths, m) */
    int *cur_level;      /* (n_paths): level of the cached node, -1: nothing cached */
    uint64_t *cur_index; /* (n_paths) */
    gsl_rng *rng;        /* (n_paths) generators, state in rng_state */
    unsigned char *rng_state;
};

slv_brownian *slv_brownian_alloc(size_t n_paths, size_t m, double root_length, uint64_t seed,
                                 size_t first_path)
{
    if (n_paths == 0 || m == 0 || !isfinite(root_length) || root_length <= 0.0)
        return NULL;
    slv_brownian *bm = calloc(1, sizeof *bm);
    if (bm == NULL)
        return NULL;
    bm->n_paths = n_paths;
    bm->m = m;
    bm->root_length = root_length;
    bm->seed = seed;
    bm->first_path = first_path;
    for (int l = 0; l < N_LEVELS; l++) {
        double h = ldexp(root_length, -l);
        bm->length[l] = h;
        bm->sd_z1[l] = sqrt(h / 16.0);
        bm->sd_z2[l] = sqrt(h * h * h / 192.0);
    }
    bm->cur_level = malloc(n_paths * sizeof *bm->cur_level);
    bm->cur_index = malloc(n_paths * sizeof *bm->cur_index);
    bm->rng = malloc(n_paths * sizeof *bm->rng);
    bm->rng_state = malloc(n_paths * slv_rng_counter->size);
    if (bm->cur_level == NULL || bm->cur_index == NULL || bm->rng == NULL || bm->rng_state == NULL)
        goto fail;
    for (size_t p = 0; p < n_paths; p++) {
        bm->cur_level[p] = -1;
        bm->cur_index[p] = 0;
        bm->rng[p].type = slv_rng_counter;
        bm->rng[p].state = bm->rng_state + p * slv_rng_counter->size;
        slv_rng_set_stream(&bm->rng[p], seed, 0, 0);
    }
    return bm;
fail:
    slv_brownian_free(bm);
    return NULL;
}

void slv_brownian_free(slv_brownian *bm)
{
    if (bm == NULL)
        return;
    for (int l = 0; l < N_LEVELS; l++) {
        free(bm->W[l]);
        free(bm->H[l]);
    }
    free(bm->cur_level);
    free(bm->cur_index);
    free(bm->rng);
    free(bm->rng_state);
    free(bm);
}

int slv_brownian_reserve(slv_brownian *bm, unsigned level)
{
    if (level > SLV_BROWNIAN_MAX_LEVEL)
        return SLV_EINVAL;
    size_t count = bm->n_paths * bm->m;
    for (unsigned l = 0; l <= level; l++) {
        if (bm->W[l] != NULL)
            continue;
        bm->W[l] = malloc(count * sizeof(double));
        bm->H[l] = malloc(count * sizeof(double));
        if (bm->W[l] == NULL || bm->H[l] == NULL) {
            free(bm->W[l]);
            free(bm->H[l]);
            bm->W[l] = bm->H[l] = NULL;
            return SLV_ENOMEM;
        }
    }
    return SLV_OK;
}

/* Number of significant bits of x (0 for x = 0). */
static unsigned bit_length(uint64_t x)
{
    return x == 0 ? 0u : 64u - (unsigned)__builtin_clzll(x);
}

/* Two standard normals from the stream of node `id` of (path p, component k). */
static void node_normals(slv_brownian *bm, size_t p, size_t k, uint64_t id, double *xi1,
                         double *xi2)
{
    gsl_rng *r = &bm->rng[p];
    uint64_t a = (uint64_t)(bm->first_path + p) * bm->m + k;
    slv_rng_set_stream(r, bm->seed, a, SLV_RNG_BROWNIAN_TAG | id);
    *xi1 = gsl_ran_gaussian_ziggurat(r, 1.0);
    *xi2 = gsl_ran_gaussian_ziggurat(r, 1.0);
}

/* Values at level l, index j of path p from its parent's cached values at level l - 1. */
static void split_to_child(slv_brownian *bm, size_t p, unsigned l, uint64_t j)
{
    const size_t m = bm->m;
    const double h = bm->length[l - 1]; /* parent length */
    const double sd1 = bm->sd_z1[l - 1], sd2 = bm->sd_z2[l - 1];
    const uint64_t parent_id = (UINT64_C(1) << (l - 1)) + (j >> 1);
    const int right = (int)(j & 1);
    const double *Wp = bm->W[l - 1] + p * m, *Hp = bm->H[l - 1] + p * m;
    double *Wc = bm->W[l] + p * m, *Hc = bm->H[l] + p * m;
    for (size_t k = 0; k < m; k++) {
        double xi1, xi2;
        node_normals(bm, p, k, parent_id, &xi1, &xi2);
        double W = Wp[k], H = Hp[k];
        double Y1 = 1.5 * H + sd1 * xi1;
        double Y2 = 0.5 * h * H + sd2 * xi2;
        double W_L = 0.5 * W + Y1;
        double A_L = 0.125 * h * W + Y2;
        if (!right) {
            Wc[k] = W_L;
            Hc[k] = A_L / (0.5 * h) - 0.5 * W_L;
        } else {
            double A = h * (0.5 * W + H);
            double W_R = W - W_L;
            double A_R = A - A_L - 0.5 * h * W_L;
            Wc[k] = W_R;
            Hc[k] = A_R / (0.5 * h) - 0.5 * W_R;
        }
    }
}

static void draw_root(slv_brownian *bm, size_t p)
{
    const size_t m = bm->m;
    const double sdW = sqrt(bm->root_length), sdH = sqrt(bm->root_length / 12.0);
    for (size_t k = 0; k < m; k++) {
        double xi1, xi2;
        node_normals(bm, p, k, 0, &xi1, &xi2);
        bm->W[0][p * m + k] = sdW * xi1;
        bm->H[0][p * m + k] = sdH * xi2;
    }
}

int slv_brownian_interval_path(slv_brownian *bm, size_t p, unsigned level, uint64_t index,
                               double *dW, double *H)
{
    if (bm == NULL || dW == NULL || p >= bm->n_paths || level > SLV_BROWNIAN_MAX_LEVEL ||
        index >= (UINT64_C(1) << level))
        return SLV_EINVAL;
    if (bm->W[level] == NULL) {
        int rc = slv_brownian_reserve(bm, level);
        if (rc != SLV_OK)
            return rc;
    }
    /* Deepest level `common` whose cached ancestor is also an ancestor of the query. */
    int common = -1;
    if (bm->cur_level[p] >= 0) {
        unsigned cl = (unsigned)bm->cur_level[p];
        unsigned lmax = cl < level ? cl : level;
        uint64_t a = bm->cur_index[p] >> (cl - lmax);
        uint64_t b = index >> (level - lmax);
        common = (int)lmax - (int)bit_length(a ^ b);
    }
    if (common < 0) {
        draw_root(bm, p);
        common = 0;
    }
    if ((unsigned)common < level) {
        for (unsigned l = (unsigned)common + 1; l <= level; l++)
            split_to_child(bm, p, l, index >> (level - l));
        bm->cur_level[p] = (int)level;
        bm->cur_index[p] = index;
    } else if (bm->cur_level[p] < 0) {
        bm->cur_level[p] = 0;
        bm->cur_index[p] = 0;
    }
    const size_t m = bm->m;
    memcpy(dW, bm->W[level] + p * m, m * sizeof(double));
    if (H != NULL)
        memcpy(H, bm->H[level] + p * m, m * sizeof(double));
    return SLV_OK;
}

int slv_brownian_interval(slv_brownian *bm, unsigned level, uint64_t index, double *dW, double *H)
{
    if (bm == NULL || dW == NULL)
        return SLV_EINVAL;
    for (size_t p = 0; p < bm->n_paths; p++) {
        int rc = slv_brownian_interval_path(bm, p, level, index, dW + p * bm->m,
                                            H != NULL ? H + p * bm->m : NULL);
        if (rc != SLV_OK)
            return rc;
    }
    return SLV_OK;
}

double slv_brownian_root_length(double span, size_t n_steps, unsigned *level)
{
    if (level != NULL)
        *level = 0;
    if (n_steps == 0)
        return 0.0;
    unsigned j = (unsigned)__builtin_ctzll((unsigned long long)n_steps);
    uint64_t odd = (uint64_t)n_steps >> j;
    unsigned odd_bits = odd == 1 ? 0 : bit_length(odd - 1); /* ceil(log2 odd) */
    unsigned lev = odd_bits + j;
    if (lev > SLV_BROWNIAN_MAX_LEVEL)
        return 0.0;
    if (level != NULL)
        *level = lev;
    return ldexp(span, (int)odd_bits) / (double)odd;
}
