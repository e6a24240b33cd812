/* snet_data.c — toy generators, GMM files, IDX/Fashion-MNIST; see snet_data.h. The toy sets follow
 * the definitions popularised by FFJORD's toy_data.py (same shapes, scales and noise levels). */
#include "snet_data.h"

#include "scoresde_gmm_text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

/* ---- seeding --------------------------------------------------------------------------------------- */

/* Random-stream domains, so batches, permutations and item noise never share a stream. */
enum { DOMAIN_BATCH = 1, DOMAIN_PERM = 2, DOMAIN_ITEM = 3, DOMAIN_GMM = 4 };

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_position(gsl_rng *r, uint64_t seed, uint64_t domain, uint64_t index)
{
    uint64_t s = splitmix64(splitmix64(splitmix64(seed) ^ domain) ^ index);
    gsl_rng_set(r, (unsigned long)(s ? s : 1));
}

/* ---- Gaussian mixtures ------------------------------------------------------------------------------ */

void snet_gmm_free(snet_gmm *g)
{
    if (!g)
        return;
    free(g->weight);
    free(g->mean);
    free(g->std);
    free(g);
}

/* The shared reader (scoresde_gmm_text.h) over any stream; weights normalised here. */
static int gmm_from_stream(FILE *stream, const char *name, snet_gmm **out, scoresde_error *err)
{
    scoresde_gmm_text text;
    int rc = scoresde_gmm_text_read(stream, name, &text, err);
    if (rc)
        return rc;
    snet_gmm *g = malloc(sizeof *g);
    if (!g) {
        scoresde_gmm_text_free(&text);
        return scoresde_error_fail(err, SNET_ENOMEM, "%s: out of memory", name);
    }
    *g = (snet_gmm){.d = text.dim, .K = text.n_components, .weight = text.weights, .mean = text.means,
                    .std = text.stds}; /* the arrays are handed over */
    double total = 0.0;
    for (size_t k = 0; k < g->K; k++)
        total += g->weight[k];
    for (size_t k = 0; k < g->K; k++)
        g->weight[k] /= total;
    *out = g;
    return SNET_OK;
}

int snet_gmm_parse(const char *text, const char *name, snet_gmm **out, scoresde_error *err)
{
    *out = NULL;
    size_t len = strlen(text);
    FILE *stream = fmemopen(len ? (void *)text : "\n", len ? len : 1, "r");
    if (!stream)
        return scoresde_error_fail(err, SNET_ENOMEM, "%s: %s", name, strerror(errno));
    int rc = gmm_from_stream(stream, name, out, err);
    fclose(stream);
    return rc;
}

int snet_gmm_read(const char *path, snet_gmm **out, scoresde_error *err)
{
    *out = NULL;
    FILE *stream = fopen(path, "r");
    if (!stream)
        return scoresde_error_fail(err, SNET_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = gmm_from_stream(stream, path, out, err);
    fclose(stream);
    return rc;
}

static void gmm_draw(const snet_gmm *g, gsl_rng *r, gsl_ran_discrete_t *table, size_t n, float *x)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = gsl_ran_discrete(r, table);
        for (size_t j = 0; j < g->d; j++)
            x[i * g->d + j] = (float)(g->mean[k * g->d + j] +
                                      gsl_ran_gaussian_ziggurat(r, g->std[k * g->d + j]));
    }
}

void snet_gmm_sample(const snet_gmm *g, uint64_t seed, uint64_t stream, size_t n, float *x)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_ran_discrete_t *table = gsl_ran_discrete_preproc(g->K, g->weight);
    if (r && table) {
        rng_position(r, seed, DOMAIN_GMM, stream);
        gmm_draw(g, r, table, n, x);
    } else {
        for (size_t i = 0; i < n * g->d; i++)
            x[i] = NAN; // out of memory: visible, not silent
    }
    gsl_ran_discrete_free(table);
    gsl_rng_free(r);
}

/* ---- IDX ---------------------------------------------------------------------------------------------- */

int snet_idx_read(const char *path, uint8_t **data, uint32_t dims[3], uint32_t *ndim, scoresde_error *err)
{
    *data = NULL;
    *ndim = 0;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return scoresde_error_fail(err, SNET_EIO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    gzFile f = gzopen(path, "rb");
    if (!f)
        return scoresde_error_fail(err, SNET_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = SNET_EFORMAT, zerr;
    unsigned char head[16];
    int got = gzread(f, head, 4);
    if (got < 0) {
        scoresde_error_fail(err, SNET_EFORMAT, "%s: %s", path, gzerror(f, &zerr));
        goto done;
    }
    if (got < 4) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: truncated: file holds %d bytes, the IDX magic needs 4", path, got);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] < 1 || head[3] > 3) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00 08 01..03: unsigned "
                            "bytes in 1 to 3 dimensions)", path, head[0], head[1], head[2], head[3]);
        goto done;
    }
    uint32_t nd = head[3];
    got = gzread(f, head + 4, 4 * nd);
    if (got < 0) {
        scoresde_error_fail(err, SNET_EFORMAT, "%s: %s", path, gzerror(f, &zerr));
        goto done;
    }
    if ((uint32_t)got < 4 * nd) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: truncated: the header announces %u dimensions, file ends after %d of "
                            "their %u bytes", path, nd, got, 4 * nd);
        goto done;
    }
    uint64_t total = 1;
    char shape[64] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < nd; i++) {
        const unsigned char *p = head + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (dims[i] == 0 || dims[i] > (1u << 24)) {
            scoresde_error_fail(err, SNET_EFORMAT,
                                "%s: dimension %u is %u, expected 1..16777216", path, i, dims[i]);
            goto done;
        }
        total *= dims[i];
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%u", i ? "×" : "", dims[i]);
    }
    if (total > (1ull << 31)) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: header says %s = %llu bytes, more than the 2 GiB this reader takes",
                            path, shape, (unsigned long long)total);
        goto done;
    }
    /* the buffer grows with the bytes that arrive, so a short file with a 2 GiB header costs
     * nothing like 2 GiB */
    size_t have = 0, cap = 0, first_cap = total < (1u << 20) ? (size_t)total : (1u << 20);
    while (have < total) {
        if (have == cap) {
            cap = cap ? (2 * cap < total ? 2 * cap : (size_t)total) : first_cap;
            uint8_t *grown = realloc(*data, cap);
            if (!grown) {
                scoresde_error_fail(err, SNET_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
                rc = SNET_ENOMEM;
                goto done;
            }
            *data = grown;
        }
        got = gzread(f, *data + have, (unsigned)(cap - have));
        if (got < 0) {
            scoresde_error_fail(err, SNET_EFORMAT, "%s: %s", path, gzerror(f, &zerr));
            goto done;
        }
        if (got == 0)
            break;
        have += (size_t)got;
    }
    if (have < total) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: truncated: header says %s = %llu bytes, file holds %zu", path, shape,
                            (unsigned long long)total, have);
        goto done;
    }
    unsigned char extra;
    got = gzread(f, &extra, 1);
    if (got != 0) {
        scoresde_error_fail(err, SNET_EFORMAT, "%s: %s after the %s = %llu bytes the header announces", path,
                            got > 0 ? "trailing data" : gzerror(f, &zerr), shape, (unsigned long long)total);
        goto done;
    }
    *ndim = nd;
    rc = SNET_OK;
done:
    gzclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

/* ---- data sets ------------------------------------------------------------------------------------ */

struct snet_dataset {
    snet_data_kind kind;
    size_t dim;
    uint32_t channels, height, width;
    float data_scale, data_shift;
    int quantized;
    snet_gmm *gmm;            // GMM kind
    uint8_t *pixels, *labels; // stored sets: (n, D), (n)
    size_t n;
    size_t *perm;             // (n) permutation of the cached epoch
    uint64_t perm_seed, perm_epoch;
    int perm_valid;
    gsl_rng *rng, *rng_perm;  // batch draws and permutations: allocated once, re-seeded per call
    gsl_ran_discrete_t *table; // GMM component table
};

static const struct { const char *name; snet_data_kind kind; } data_names[] = {
    {"gmm", SNET_DATA_GMM},
    {"swissroll", SNET_DATA_SWISSROLL},
    {"moons", SNET_DATA_MOONS},
    {"checkerboard", SNET_DATA_CHECKERBOARD},
    {"8gaussians", SNET_DATA_8GAUSSIANS},
    {"pinwheel", SNET_DATA_PINWHEEL},
    {"fashion-mnist", SNET_DATA_FASHION_MNIST},
};

int snet_data_kind_parse(const char *name, snet_data_kind *kind)
{
    for (size_t i = 0; name && i < sizeof data_names / sizeof data_names[0]; i++)
        if (strcmp(name, data_names[i].name) == 0) {
            *kind = data_names[i].kind;
            return SNET_OK;
        }
    return SNET_EINVAL;
}

const char *snet_data_kind_name(snet_data_kind kind)
{
    for (size_t i = 0; i < sizeof data_names / sizeof data_names[0]; i++)
        if (data_names[i].kind == kind)
            return data_names[i].name;
    return "unknown";
}

static snet_gmm *gmm_copy(const snet_gmm *g)
{
    snet_gmm *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->d = g->d;
    c->K = g->K;
    c->weight = malloc(g->K * sizeof(double));
    c->mean = malloc(g->K * g->d * sizeof(double));
    c->std = malloc(g->K * g->d * sizeof(double));
    if (!c->weight || !c->mean || !c->std) {
        snet_gmm_free(c);
        return NULL;
    }
    memcpy(c->weight, g->weight, g->K * sizeof(double));
    memcpy(c->mean, g->mean, g->K * g->d * sizeof(double));
    memcpy(c->std, g->std, g->K * g->d * sizeof(double));
    return c;
}

int snet_dataset_toy(snet_dataset **out, snet_data_kind kind, const snet_gmm *g, scoresde_error *err)
{
    *out = NULL;
    if (kind < SNET_DATA_GMM || kind > SNET_DATA_PINWHEEL)
        return scoresde_error_fail(err, SNET_EINVAL,
                                   "data kind %d is not a generator (expected gmm, swissroll, moons, "
                                   "checkerboard, 8gaussians or pinwheel)", (int)kind);
    if (kind == SNET_DATA_GMM && !g)
        return scoresde_error_fail(err, SNET_EINVAL, "gmm data needs a mixture");
    snet_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        goto oom;
    ds->kind = kind;
    ds->dim = kind == SNET_DATA_GMM ? g->d : 2;
    ds->channels = (uint32_t)ds->dim;
    ds->height = ds->width = 1;
    ds->data_scale = 1.0f;
    ds->data_shift = 0.0f;
    if (kind == SNET_DATA_GMM && (!(ds->gmm = gmm_copy(g)) ||
                                  !(ds->table = gsl_ran_discrete_preproc(g->K, g->weight))))
        goto oom;
    if (!(ds->rng = gsl_rng_alloc(gsl_rng_mt19937)))
        goto oom;
    *out = ds;
    return SNET_OK;
oom:
    snet_dataset_free(ds);
    return scoresde_error_fail(err, SNET_ENOMEM, "out of memory");
}

/* "<dir>/<base>.gz" if it exists, else "<dir>/<base>" */
static void idx_path(char *out, size_t size, const char *dir, const char *base)
{
    snprintf(out, size, "%s/%s.gz", dir, base);
    FILE *f = fopen(out, "rb");
    if (f) {
        fclose(f);
        return;
    }
    snprintf(out, size, "%s/%s", dir, base);
}

int snet_dataset_fashion_mnist(snet_dataset **out, const char *dir, int train, snet_data_range range,
                               scoresde_error *err)
{
    *out = NULL;
    if (!dir)
        dir = SNET_FASHION_MNIST_DIR;
    char img_path[4096], lab_path[4096];
    const char *prefix = train ? "train" : "t10k";
    char base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    idx_path(img_path, sizeof img_path, dir, base);
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    idx_path(lab_path, sizeof lab_path, dir, base);
    snet_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return scoresde_error_fail(err, SNET_ENOMEM, "out of memory");
    uint32_t dims[3], ldims[3], nd, lnd;
    int rc = snet_idx_read(img_path, &ds->pixels, dims, &nd, err);
    if (rc)
        goto fail;
    if (nd != 3) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: %u dimensions, expected 3 (images × rows × columns)", img_path, nd);
        rc = SNET_EFORMAT;
        goto fail;
    }
    rc = snet_idx_read(lab_path, &ds->labels, ldims, &lnd, err);
    if (rc)
        goto fail;
    if (lnd != 1 || ldims[0] != dims[0]) {
        scoresde_error_fail(err, SNET_EFORMAT,
                            "%s: %u labels in %u dimension(s), expected %u labels in 1 (one per image of %s)",
                            lab_path, ldims[0], lnd, dims[0], img_path);
        rc = SNET_EFORMAT;
        goto fail;
    }
    for (uint32_t i = 0; i < ldims[0]; i++)
        if (ds->labels[i] > 9) {
            scoresde_error_fail(err, SNET_EFORMAT,
                                "%s: label %u of item %u, expected 0..9", lab_path, ds->labels[i], i);
            rc = SNET_EFORMAT;
            goto fail;
        }
    ds->perm = malloc(dims[0] * sizeof *ds->perm);
    ds->rng = gsl_rng_alloc(gsl_rng_mt19937);
    ds->rng_perm = gsl_rng_alloc(gsl_rng_mt19937);
    if (!ds->perm || !ds->rng || !ds->rng_perm) {
        scoresde_error_fail(err, SNET_ENOMEM, "out of memory for a data set of %u items", dims[0]);
        rc = SNET_ENOMEM;
        goto fail;
    }
    ds->kind = SNET_DATA_FASHION_MNIST;
    ds->n = dims[0];
    ds->channels = 1;
    ds->height = dims[1];
    ds->width = dims[2];
    ds->dim = (size_t)dims[1] * dims[2];
    ds->quantized = 1;
    // raw = k + u ∈ [0, 256): [0,1) is raw/256, [−1,1) is 2·raw/256 − 1
    ds->data_scale = range == SNET_RANGE_0_1 ? 1.0f / 256.0f : 2.0f / 256.0f;
    ds->data_shift = range == SNET_RANGE_0_1 ? 0.0f : -1.0f;
    *out = ds;
    return SNET_OK;
fail:
    snet_dataset_free(ds);
    return rc;
}

void snet_dataset_free(snet_dataset *ds)
{
    if (!ds)
        return;
    snet_gmm_free(ds->gmm);
    free(ds->pixels);
    free(ds->labels);
    free(ds->perm);
    if (ds->rng)
        gsl_rng_free(ds->rng);
    if (ds->rng_perm)
        gsl_rng_free(ds->rng_perm);
    gsl_ran_discrete_free(ds->table);
    free(ds);
}

size_t snet_dataset_dim(const snet_dataset *ds) { return ds->dim; }
size_t snet_dataset_size(const snet_dataset *ds) { return ds->n; }
const uint8_t *snet_dataset_labels(const snet_dataset *ds) { return ds->labels; }
void snet_dataset_apply_config(const snet_dataset *ds, snet_config *cfg)
{
    cfg->channels = ds->channels;
    cfg->height = ds->height;
    cfg->width = ds->width;
    cfg->data_scale = ds->data_scale;
    cfg->data_shift = ds->data_shift;
    cfg->quantized = (uint32_t)ds->quantized;
}

/* One 2-D toy point from r into p[0..1]. */
static void toy_point(snet_data_kind kind, gsl_rng *r, float *p)
{
    double x = 0.0, y = 0.0;
    switch (kind) {
    case SNET_DATA_SWISSROLL: { // sklearn make_swiss_roll(noise=1), columns (0, 2), divided by 5
        double t = 1.5 * M_PI * (1.0 + 2.0 * gsl_rng_uniform(r));
        x = (t * cos(t) + gsl_ran_gaussian_ziggurat(r, 1.0)) / 5.0;
        y = (t * sin(t) + gsl_ran_gaussian_ziggurat(r, 1.0)) / 5.0;
        break;
    }
    case SNET_DATA_MOONS: { // sklearn make_moons(noise=0.1), then 2·x + (−1, −0.2)
        double th = M_PI * gsl_rng_uniform(r);
        if (gsl_rng_uniform_int(r, 2) == 0)
            x = cos(th), y = sin(th);
        else
            x = 1.0 - cos(th), y = 1.0 - sin(th) - 0.5;
        x = 2.0 * (x + gsl_ran_gaussian_ziggurat(r, 0.1)) - 1.0;
        y = 2.0 * (y + gsl_ran_gaussian_ziggurat(r, 0.1)) - 0.2;
        break;
    }
    case SNET_DATA_CHECKERBOARD: { // 8 unit-2 squares of a 4×4 board on [−4, 4]²
        double x1 = gsl_rng_uniform(r) * 4.0 - 2.0;
        double x2 = gsl_rng_uniform(r) - 2.0 * (double)gsl_rng_uniform_int(r, 2);
        x2 += (double)((long)floor(x1) & 1); // Python's floor(x1) % 2, also for negatives
        x = 2.0 * x1, y = 2.0 * x2;
        break;
    }
    case SNET_DATA_8GAUSSIANS: { // centres 4·(unit circle at multiples of 45°), std 0.5, all / 1.414
        static const double c[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {M_SQRT1_2, M_SQRT1_2},
                                       {M_SQRT1_2, -M_SQRT1_2}, {-M_SQRT1_2, M_SQRT1_2},
                                       {-M_SQRT1_2, -M_SQRT1_2}};
        size_t k = gsl_rng_uniform_int(r, 8);
        x = (4.0 * c[k][0] + gsl_ran_gaussian_ziggurat(r, 0.5)) / 1.414;
        y = (4.0 * c[k][1] + gsl_ran_gaussian_ziggurat(r, 0.5)) / 1.414;
        break;
    }
    case SNET_DATA_PINWHEEL: { // 5 arms: radial std 0.3, tangential std 0.1, rate 0.25, times 2
        size_t k = gsl_rng_uniform_int(r, 5);
        double f0 = 1.0 + gsl_ran_gaussian_ziggurat(r, 0.3), f1 = gsl_ran_gaussian_ziggurat(r, 0.1);
        double ang = 2.0 * M_PI * (double)k / 5.0 + 0.25 * exp(f0);
        x = 2.0 * (f0 * cos(ang) + f1 * sin(ang));
        y = 2.0 * (-f0 * sin(ang) + f1 * cos(ang));
        break;
    }
    default:
        x = y = NAN;
    }
    p[0] = (float)x;
    p[1] = (float)y;
}

/* count generator points from r into x (count, D) */
static void generate(const snet_dataset *ds, gsl_rng *r, size_t count, float *x)
{
    if (ds->kind == SNET_DATA_GMM) {
        gmm_draw(ds->gmm, r, ds->table, count, x);
        return;
    }
    for (size_t i = 0; i < count; i++)
        toy_point(ds->kind, r, x + 2 * i);
}

/* item's pixels with dequantisation noise from r, scaled, into x (D) */
static void stored_item(const snet_dataset *ds, size_t item, gsl_rng *r, float *x)
{
    const uint8_t *k = ds->pixels + item * ds->dim;
    for (size_t j = 0; j < ds->dim; j++)
        x[j] = ds->data_scale * (float)((double)k[j] + gsl_rng_uniform(r)) + ds->data_shift;
}

int snet_dataset_batch(snet_dataset *ds, uint64_t seed, uint64_t step, size_t B, float *x)
{
    gsl_rng *r = ds->rng;
    rng_position(r, seed, DOMAIN_BATCH, step);
    if (!ds->n) {
        generate(ds, r, B, x);
        return SNET_OK;
    }
    for (size_t j = 0; j < B; j++) {
        uint64_t c = step * (uint64_t)B + j, epoch = c / ds->n;
        if (!ds->perm_valid || ds->perm_epoch != epoch || ds->perm_seed != seed) {
            for (size_t i = 0; i < ds->n; i++)
                ds->perm[i] = i;
            rng_position(ds->rng_perm, seed, DOMAIN_PERM, epoch);
            gsl_ran_shuffle(ds->rng_perm, ds->perm, ds->n, sizeof *ds->perm);
            ds->perm_valid = 1;
            ds->perm_epoch = epoch;
            ds->perm_seed = seed;
        }
        stored_item(ds, ds->perm[c % ds->n], r, x + j * ds->dim);
    }
    return SNET_OK;
}

void snet_dataset_items(const snet_dataset *ds, size_t first, size_t count, uint64_t seed, float *x)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) {
        for (size_t i = 0; i < count * ds->dim; i++)
            x[i] = NAN;
        return;
    }
    if (!ds->n) {
        rng_position(r, seed, DOMAIN_ITEM, first);
        generate(ds, r, count, x);
    } else {
        for (size_t i = 0; i < count && first + i < ds->n; i++) {
            rng_position(r, seed, DOMAIN_ITEM, first + i);
            stored_item(ds, first + i, r, x + i * ds->dim);
        }
    }
    gsl_rng_free(r);
}
