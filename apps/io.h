/* io.h — reading and writing batches of points: CSV with a header row (data columns named
 * x0..x{d-1}; other columns are ignored on input) or NumPy .npy (float32 or float64, C order,
 * shape (n, d) or (n, c, h, w), flattened per row). The format is chosen by the file extension.
 * Every writer is atomic: rows go to a temporary file that is renamed over the target only when
 * complete. */
#ifndef SCORESDE_IO_H
#define SCORESDE_IO_H

#include <stddef.h>

#include "cli.h"

typedef struct matrix {
    size_t n, d;
    double *x; /* n*d, row-major, owned */
} matrix;

void matrix_free(matrix *m);

/* Reads a batch. expected_d = 0 accepts any width. Returns 0, or -1 with msg naming the file, the
 * line/field and what was expected (no header, missing x columns, non-numeric or non-finite
 * value, ragged row, wrong width, bad .npy header, truncated data...). */
int matrix_read(const char *path, size_t expected_d, matrix *out, char *msg, size_t msg_size);

/* A streaming table writer: a header of column names, then rows appended batch by batch.
 * .npy files get float32 data of shape (n_rows, n_cols): n_rows must be given up front. */
typedef struct table_writer {
    atomic_file file;
    int npy;
    size_t n_cols, n_rows_expected, n_rows_written;
} table_writer;

int table_open(table_writer *tw, const char *path, size_t n_cols, const char *const *names,
               size_t n_rows, char *msg, size_t msg_size);
/* Appends rows (n_rows × n_cols doubles). */
int table_write_rows(table_writer *tw, size_t n_rows, const double *rows, char *msg, size_t msg_size);
int table_commit(table_writer *tw, char *msg, size_t msg_size);
void table_abort(table_writer *tw);

/* Writes an n×d batch with columns x0..x{d-1} in one call. */
int matrix_write(const char *path, const double *x, size_t n, size_t d, char *msg, size_t msg_size);

/* Does path end with ext (e.g. ".png")? Case-insensitive. */
int has_extension(const char *path, const char *ext);

#endif
