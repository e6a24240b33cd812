/* snet_io.h — the weights file (.sgm): save and load a model, its EMA copy and (for checkpoints)
 * an opaque training-state block. The byte layout is documented in docs/weights-format.md:
 * magic "SGM1", version, flags, the full snet_config, a provenance note, the training step, the
 * parameter table (names, shapes, offsets), little-endian float32 tensors, optional EMA tensors,
 * an optional extra block, and a CRC-32 (zlib) of everything before it.
 *
 * Writes are atomic: a temporary file in the target's directory is written, flushed, fsync'ed and
 * renamed over the target, so a reader (or a crash) sees either the old file or the new one.
 * Loads check everything (magic, version, sizes against the file length, checksum, config, the
 * parameter table against the one the config implies) and fill err with what is wrong, naming the
 * file, e.g. "model.sgm: bad magic 'XXXX' (expected 'SGM1')". A bad file never crashes the loader.
 */
#ifndef SNET_IO_H
#define SNET_IO_H

#include "snet_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SNET_FILE_MAGIC "SGM1"
#define SNET_FILE_VERSION 2u /* newest version written and read (1 is read too) */
#define SNET_FILE_NOTE_MAX 65536u          /* bytes of provenance text */
#define SNET_FILE_FLAG_EMA 1u              /* an EMA copy of the parameters follows them */
#define SNET_FILE_FLAG_EXTRA 2u            /* an extra block (training state) follows */

/* What a file holds besides the model. Returned by snet_io_read; free with snet_file_contents_free. */
typedef struct snet_file_contents {
    snet_model *model;   /* the raw (non-EMA) parameters; owned */
    float *ema;          /* (n_params) EMA parameters or NULL; owned */
    char *note;          /* NUL-terminated provenance text ("" if none); owned */
    uint64_t step;       /* training steps behind these weights */
    uint32_t version, flags;
    void *extra;         /* extra block or NULL; owned */
    size_t extra_bytes;
} snet_file_contents;

/* Writes a file atomically. ema (n_params) may be NULL; note may be NULL (no note) and is cut at
 * SNET_FILE_NOTE_MAX bytes; extra may be NULL (extra_bytes then 0). Returns SNET_OK, SNET_EIO (err
 * names the file and the system error) or SNET_EINVAL. */
int snet_io_write(const char *path, const snet_model *m, const float *ema, const char *note,
                  uint64_t step, const void *extra, size_t extra_bytes, scoresde_error *err);

/* Reads and checks a whole file into *out (zeroed first). On failure out holds nothing and the
 * return is SNET_EIO (cannot open/read), SNET_EFORMAT (not a valid file: err says what),
 * SNET_EINVAL (config in the file is invalid) or SNET_ENOMEM. */
int snet_io_read(const char *path, snet_file_contents *out, scoresde_error *err);
void snet_file_contents_free(snet_file_contents *c);

/* The common cases. snet_model_save writes params (+ ema if not NULL) with a note and step.
 * snet_model_load returns a model whose parameters are the EMA copy when the file has one and
 * which == SNET_LOAD_EMA (the official code evaluates with the EMA weights), the raw ones
 * otherwise; *info (may be NULL) receives step/flags/version (its model/ema/extra fields NULL,
 * note owned by the caller: free(info->note)). */
typedef enum snet_load_which { SNET_LOAD_EMA = 0, SNET_LOAD_RAW = 1 } snet_load_which;
int snet_model_save(const snet_model *m, const float *ema, const char *note, uint64_t step,
                    const char *path, scoresde_error *err);
int snet_model_load(const char *path, snet_load_which which, snet_model **out,
                    snet_file_contents *info, scoresde_error *err);

/* Atomic write of arbitrary bytes (temp file in the same directory, fwrite, fflush, fsync,
 * rename; the directory is fsync'ed too). Used by snet_io_write; exposed for other writers. */
int snet_write_atomic(const char *path, const void *bytes, size_t n_bytes, scoresde_error *err);

#ifdef __cplusplus
}
#endif
#endif
