/* snet_data.h — training and evaluation data: 2-D toy sets, Gaussian mixtures read from a GMM text
 * file, and Fashion-MNIST read from IDX files.
 *
 * A data set hands out batches in model space (x = data_scale·raw + data_shift, see snet_config):
 * - generators (toy sets, GMM) draw fresh points for every batch — an endless stream;
 * - stored sets (Fashion-MNIST) walk a random permutation per epoch, with uniform dequantisation
 *   noise added to the 8-bit values: raw = k + u, u ~ U[0, 1), so x01 = (k + u)/256.
 * Randomness is explicit: batch (seed, step) depends on nothing else — not on earlier calls, the
 * thread count or how training was interrupted — which is what makes resumed training exact.
 * All draws use GSL distributions on a gsl_rng_mt19937 seeded from (seed, step) by a splitmix64 mix.
 */
#ifndef SNET_DATA_H
#define SNET_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "snet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Gaussian mixtures ----------------------------------------------------------------------------
 * Text format (shared with sde/'s gmm: files): '#' starts a comment (to the end of the line), blank
 * lines are ignored; the first line holds "d K"; then K lines "weight mean_1..mean_d std_1..std_d".
 * Weights must be positive (they are normalised to sum 1), stds positive. */
typedef struct snet_gmm {
    size_t d, K;
    double *weight; // (K) normalised
    double *mean;   // (K, d)
    double *std;    // (K, d)
} snet_gmm;

/* Parses text (name is used in messages, e.g. the file name). On success *out owns a new mixture
 * (snet_gmm_free). Errors: SNET_EFORMAT with "name:LINE: what was found, what was expected". */
int snet_gmm_parse(const char *text, const char *name, snet_gmm **out, scoresde_error *err);
/* Reads and parses a file. SNET_EIO if it cannot be read. */
int snet_gmm_read(const char *path, snet_gmm **out, scoresde_error *err);
void snet_gmm_free(snet_gmm *g);
/* Draws n points (n, d) as floats from stream (seed, stream). */
void snet_gmm_sample(const snet_gmm *g, uint64_t seed, uint64_t stream, size_t n, float *x);

/* ---- IDX files --------------------------------------------------------------------------------------
 * Reads an IDX file of unsigned bytes (magic 0x0000 08 NN, NN = number of dimensions, 1..3), gzip
 * or raw (zlib's gzopen reads both). dims[0..ndim) receive the sizes (big-endian in the file);
 * *data (owned by the caller, free()) the bytes. Checks the magic, the type, the dimensions and
 * that the file holds exactly the promised bytes; e.g. "train-images-idx3-ubyte.gz: truncated:
 * header says 60000×28×28 = 47040000 bytes, file holds 100". SNET_EIO / SNET_EFORMAT / SNET_ENOMEM. */
int snet_idx_read(const char *path, uint8_t **data, uint32_t dims[3], uint32_t *ndim, scoresde_error *err);

/* ---- data sets ------------------------------------------------------------------------------------ */

typedef enum snet_data_kind {
    SNET_DATA_GMM = 1,
    SNET_DATA_SWISSROLL,
    SNET_DATA_MOONS,
    SNET_DATA_CHECKERBOARD,
    SNET_DATA_8GAUSSIANS,
    SNET_DATA_PINWHEEL,
    SNET_DATA_FASHION_MNIST
} snet_data_kind;

/* Image scaling: [−1, 1) (default, as the official code with data.centered) or [0, 1). */
typedef enum snet_data_range { SNET_RANGE_MINUS1_1 = 0, SNET_RANGE_0_1 = 1 } snet_data_range;

#define SNET_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* The kind of a name — "gmm", "swissroll", "moons", "checkerboard", "8gaussians", "pinwheel",
 * "fashion-mnist" — (SNET_OK, or SNET_EINVAL and *kind untouched), and back. */
int snet_data_kind_parse(const char *name, snet_data_kind *kind);
const char *snet_data_kind_name(snet_data_kind kind);

typedef struct snet_dataset snet_dataset;

/* A 2-D toy generator (kind SWISSROLL..PINWHEEL), or a GMM generator of dimension g->d (kind GMM,
 * g copied; g is ignored for the others). */
int snet_dataset_toy(snet_dataset **out, snet_data_kind kind, const snet_gmm *g, scoresde_error *err);
/* Fashion-MNIST from dir (NULL: SNET_FASHION_MNIST_DIR), train = 1 for the 60000 training images,
 * 0 for the 10000 test images, in the given range. Files tried: <dir>/{train,t10k}-images-idx3-ubyte
 * with ".gz" first, then without; labels likewise (and must agree in count). */
int snet_dataset_fashion_mnist(snet_dataset **out, const char *dir, int train, snet_data_range range,
                               scoresde_error *err);
void snet_dataset_free(snet_dataset *ds);

size_t snet_dataset_dim(const snet_dataset *ds);
/* Number of stored items; 0 for a generator (an endless stream). */
size_t snet_dataset_size(const snet_dataset *ds);
/* Writes the data set's shape and scaling into cfg (channels, height, width, data_scale,
 * data_shift, quantized); leaves every other field alone. */
void snet_dataset_apply_config(const snet_dataset *ds, snet_config *cfg);

/* x (B, D) = batch number `step` of a run seeded with `seed`, in model space. Stored sets: items
 * step·B .. step·B + B − 1 of the concatenated per-epoch permutations (permutation e shuffled by
 * (seed, e)), each with fresh dequantisation noise. Nothing is allocated (the set owns its
 * generators and permutation); not for concurrent use on one set. Returns SNET_OK. */
int snet_dataset_batch(snet_dataset *ds, uint64_t seed, uint64_t step, size_t B, float *x);

/* Stored sets: x (count, D) = items first .. first+count−1 in file order, in model space, with
 * dequantisation noise for item i drawn from stream (seed, i) (so results do not depend on how a
 * set is split into calls); first + count ≤ size. Generators: count fresh points from stream
 * (seed, first). Only reads the set (allocates its own generator): safe to call concurrently. */
void snet_dataset_items(const snet_dataset *ds, size_t first, size_t count, uint64_t seed, float *x);
/* Stored sets: the labels (size) in file order; NULL for generators. */
const uint8_t *snet_dataset_labels(const snet_dataset *ds);

#ifdef __cplusplus
}
#endif
#endif
