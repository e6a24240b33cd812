/* io.h — reading and writing batches of points: CSV with a header row (data columns named
 * x0..x{d-1}; other columns are ignored on input) or NumPy .npy (float32 or float64, C order,
 * shape (n, d) or (n, c, h, w), flattened per row). The format is chosen by the file extension:
 * .npy is NumPy, anything else CSV (io_format_note says which, for the summaries).
 * Every writer is atomic: rows go to a temporary file that is renamed over the target only when
 * complete. */
#ifndef SCORESDE_IO_H
#define SCORESDE_IO_H

#include <stddef.h>

#include "cli.h"

typedef struct matrix {
    size_t n, d;
    double *x;   /* n*d, row-major, owned */
    int float64; /* read from a float64 .npy: outputs derived from it keep that precision */
} matrix;

void matrix_free(matrix *m);

/* Reads a batch. expected_d = 0 accepts any width. Returns 0, or -1 with err naming the file, the
 * line/field and what was expected (no header, missing x columns, non-numeric or non-finite
 * value, ragged row, wrong width, bad .npy header, truncated data...). */
int matrix_read(const char *path, size_t expected_d, matrix *out, scoresde_error *err);

/* A streaming table writer: a header of column names, then rows appended batch by batch.
 * .npy files get data of shape (n_rows, n_cols), float32 ('<f4') or with float64 set '<f8':
 * n_rows must be given up front. CSV values have 9 significant digits (float32 round trip) or
 * with float64 17 (float64 round trip). */
typedef struct table_writer {
    atomic_file file;
    int npy, float64;
    size_t n_cols, n_rows_expected, n_rows_written;
} table_writer;

int table_open(table_writer *tw, const char *path, size_t n_cols, const char *const *names,
               size_t n_rows, scoresde_error *err);
/* Same, float64 when asked. */
int table_open_as(table_writer *tw, const char *path, size_t n_cols, const char *const *names,
                  size_t n_rows, int float64, scoresde_error *err);
/* Appends rows (n_rows × n_cols doubles). */
int table_write_rows(table_writer *tw, size_t n_rows, const double *rows, scoresde_error *err);
int table_commit(table_writer *tw, scoresde_error *err);
void table_abort(table_writer *tw);
/* After an interrupted run: a CSV keeps the n_rows completed rows already written (committed, and
 * "scoresde CMD: the N completed WHAT are in PATH" on stderr); a .npy, whose header promised every
 * row, or an empty table is left to table_abort. Returns 1 when the rows were kept. */
int table_keep_completed(table_writer *tw, const char *cmd, const char *path, size_t n_rows, const char *what);

/* Writes an n×d batch with columns x0..x{d-1} in one call (float32 .npy). */
int matrix_write(const char *path, const double *x, size_t n, size_t d, scoresde_error *err);
/* Same, float64 when asked. */
int matrix_write_as(const char *path, const double *x, size_t n, size_t d, int float64, scoresde_error *err);

/* How a points file at path is written, for a summary line: "CSV", "CSV: the extension is not
 * .csv or .npy", ".npy float32" or ".npy float64". */
const char *io_format_note(const char *path, int float64);

/* The value of a --dtype option (float32, float64, or NULL: float64 exactly when the input was a
 * float64 .npy) as a float64 flag. */
int io_dtype_float64(const char *dtype, int input_float64);

/* Does path end with ext (e.g. ".png")? Case-insensitive. */
int has_extension(const char *path, const char *ext);

#endif
