#include "io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void matrix_free(matrix *m)
{
    free(m->x);
    m->x = NULL;
    m->n = m->d = 0;
}

int has_extension(const char *path, const char *ext)
{
    size_t lp = strlen(path), le = strlen(ext);
    return lp >= le && strcasecmp(path + lp - le, ext) == 0;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

/* Reads one line of any length; returns NULL at end of file. *buf grows as needed. */
static char *read_line(FILE *fp, char **buf, size_t *cap)
{
    size_t len = 0;
    int c;
    while ((c = fgetc(fp)) != EOF && c != '\n') {
        if (len + 2 > *cap) {
            size_t new_cap = *cap ? 2 * *cap : 256;
            char *p = realloc(*buf, new_cap);
            if (!p)
                return NULL;
            *buf = p;
            *cap = new_cap;
        }
        (*buf)[len++] = (char)c;
    }
    if (c == EOF && len == 0)
        return NULL;
    if (!*buf && !(*buf = malloc(*cap = 256)))
        return NULL;
    if (len && (*buf)[len - 1] == '\r')
        len--;
    (*buf)[len] = '\0';
    return *buf;
}

static int is_blank(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

static int read_csv(const char *path, FILE *fp, size_t expected_d, matrix *out, scoresde_error *err)
{
    char *line = NULL;
    size_t cap = 0, n_fields = 0, d = 0, n = 0, rows_cap = 0, line_no = 1;
    long *col_of_x = NULL; /* for each field: which x index it holds, or -1 */
    double *x = NULL;
    int rc = -1;

    if (!read_line(fp, &line, &cap)) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: empty file (expected a header row with columns x0..x{d-1})", path);
        goto done;
    }
    /* Header: count fields and map "x<k>" columns. */
    for (char *p = line;; p++)
        if (*p == ',' || *p == '\0') {
            n_fields++;
            if (!*p)
                break;
        }
    col_of_x = malloc(n_fields * sizeof *col_of_x);
    if (!col_of_x) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    {
        size_t f = 0;
        for (char *tok = line, *end;; tok = end + 1) {
            end = strchr(tok, ',');
            if (end)
                *end = '\0';
            while (isspace((unsigned char)*tok))
                tok++;
            char *after;
            col_of_x[f] = -1;
            if (tok[0] == 'x' && isdigit((unsigned char)tok[1])) {
                unsigned long k = strtoul(tok + 1, &after, 10);
                while (isspace((unsigned char)*after))
                    after++;
                if (!*after && k < n_fields) {
                    col_of_x[f] = (long)k;
                    d++;
                }
            }
            f++;
            if (!end)
                break;
        }
    }
    if (d == 0) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: header has no data columns (expected x0..x{d-1})", path);
        goto done;
    }
    for (size_t k = 0; k < d; k++) {
        int found = 0;
        for (size_t f = 0; f < n_fields; f++)
            found += col_of_x[f] == (long)k;
        if (found != 1) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: header column x%zu is %s (expected x0..x%zu once each)", path,
                     k, found ? "repeated" : "missing", d - 1);
            goto done;
        }
    }
    if (expected_d && d != expected_d) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: %zu data columns, the model expects dimension %zu", path, d,
                 expected_d);
        goto done;
    }
    while (read_line(fp, &line, &cap)) {
        line_no++;
        if (is_blank(line))
            continue;
        if (n == rows_cap) {
            rows_cap = rows_cap ? 2 * rows_cap : 1024;
            double *grown = realloc(x, rows_cap * d * sizeof *x);
            if (!grown) {
                scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory at line %zu", path, line_no);
                goto done;
            }
            x = grown;
        }
        size_t f = 0;
        char *p = line;
        for (;;) {
            char *end;
            if (f == n_fields) {
                scoresde_error_fail(err, SCORESDE_EFORMAT, "%s:%zu: more than the header's %zu fields", path, line_no,
                         n_fields);
                goto done;
            }
            if (col_of_x[f] >= 0) {
                errno = 0;
                double v = strtod(p, &end);
                while (isspace((unsigned char)*end))
                    end++;
                if (end == p || (*end && *end != ',')) {
                    scoresde_error_fail(err, SCORESDE_EFORMAT, "%s:%zu: field x%ld is not a number", path, line_no,
                             col_of_x[f]);
                    goto done;
                }
                if (!isfinite(v)) {
                    scoresde_error_fail(err, SCORESDE_EFORMAT, "%s:%zu: field x%ld is %g (expected a finite number)", path,
                             line_no, col_of_x[f], v);
                    goto done;
                }
                x[n * d + (size_t)col_of_x[f]] = v;
                p = end;
            } else {
                while (*p && *p != ',')
                    p++;
            }
            f++;
            if (*p != ',')
                break;
            p++;
        }
        if (f != n_fields) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s:%zu: %zu fields, the header has %zu", path, line_no, f, n_fields);
            goto done;
        }
        n++;
    }
    if (ferror(fp)) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (n == 0) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: no data rows after the header", path);
        goto done;
    }
    out->n = n;
    out->d = d;
    out->x = x;
    x = NULL;
    rc = 0;
done:
    free(line);
    free(col_of_x);
    free(x);
    return rc;
}

/* ---- .npy (NumPy format version 1.0/2.0) -------------------------------------------------- */

static int read_npy(const char *path, FILE *fp, size_t expected_d, matrix *out, scoresde_error *err)
{
    unsigned char magic[8];
    char *header = NULL;
    void *raw = NULL;
    int rc = -1;
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: not a .npy file (bad magic)", path);
        return -1;
    }
    size_t header_len;
    if (magic[6] == 1) {
        unsigned char b[2];
        if (fread(b, 1, 2, fp) != 2)
            goto truncated;
        header_len = b[0] | (size_t)b[1] << 8;
    } else if (magic[6] == 2 || magic[6] == 3) {
        unsigned char b[4];
        if (fread(b, 1, 4, fp) != 4)
            goto truncated;
        header_len = b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
        if (header_len > (1u << 20)) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy header of %zu bytes is implausibly large", path, header_len);
            return -1;
        }
    } else {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy version %d.%d not supported (expected 1.0 or 2.0)", path,
                 magic[6], magic[7]);
        return -1;
    }
    header = malloc(header_len + 1);
    if (!header || fread(header, 1, header_len, fp) != header_len)
        goto truncated;
    header[header_len] = '\0';
    int is_f4 = strstr(header, "'<f4'") != NULL, is_f8 = strstr(header, "'<f8'") != NULL;
    if (!is_f4 && !is_f8) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy dtype not supported (expected '<f4' or '<f8')", path);
        goto done;
    }
    if (strstr(header, "'fortran_order': True")) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy in Fortran order not supported (expected C order)", path);
        goto done;
    }
    char *shape = strstr(header, "'shape':");
    char *open = shape ? strchr(shape, '(') : NULL;
    if (!open) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy header has no shape", path);
        goto done;
    }
    size_t dims[8], n_dims = 0;
    for (char *p = open + 1; *p && *p != ')';) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || n_dims == 8 || v > (1ull << 40)) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy shape is malformed or too large", path);
            goto done;
        }
        dims[n_dims++] = (size_t)v;
        p = end;
    }
    if (n_dims < 1) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy array is a scalar (expected shape (n, d))", path);
        goto done;
    }
    size_t n = dims[0], d = 1;
    for (size_t k = 1; k < n_dims; k++) {
        if (dims[k] && d > ((size_t)1 << 40) / dims[k]) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy shape is too large", path);
            goto done;
        }
        d *= dims[k];
    }
    if (n == 0 || d == 0) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy array is empty", path);
        goto done;
    }
    if (expected_d && d != expected_d) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: rows have %zu values, the model expects dimension %zu", path, d,
                 expected_d);
        goto done;
    }
    if (n > ((size_t)1 << 40) / d) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: .npy shape is too large", path);
        goto done;
    }
    size_t elem = is_f4 ? 4 : 8, count = n * d;
    /* check the header's promise against the file before allocating for it */
    struct stat st;
    long data_start = ftell(fp);
    if (data_start >= 0 && fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)(st.st_size - data_start) < (uint64_t)count * elem) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: truncated .npy file: shape (%zu, %zu) needs %zu bytes of data, "
                 "the file holds %lld", path, n, d, count * elem, (long long)(st.st_size - data_start));
        goto done;
    }
    raw = malloc(count * elem);
    out->x = malloc(count * sizeof *out->x);
    if (!raw || !out->x) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory for %zu×%zu values", path, n, d);
        goto done;
    }
    if (fread(raw, elem, count, fp) != count)
        goto truncated;
    for (size_t i = 0; i < count; i++) {
        double v;
        if (is_f4) {
            float f;
            memcpy(&f, (char *)raw + 4 * i, 4);
            v = f;
        } else {
            memcpy(&v, (char *)raw + 8 * i, 8);
        }
        if (!isfinite(v)) {
            scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: row %zu, column %zu is %g (expected a finite number)", path,
                     i / d, i % d, v);
            goto done;
        }
        out->x[i] = v;
    }
    out->n = n;
    out->d = d;
    out->float64 = is_f8;
    rc = 0;
    goto done;
truncated:
    scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: truncated .npy file", path);
done:
    if (rc)
        matrix_free(out);
    free(header);
    free(raw);
    return rc;
}

int matrix_read(const char *path, size_t expected_d, matrix *out, scoresde_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = has_extension(path, ".npy") ? read_npy(path, fp, expected_d, out, err)
                                         : read_csv(path, fp, expected_d, out, err);
    fclose(fp);
    return rc;
}

/* ---- Writers ------------------------------------------------------------------------------ */

int table_open(table_writer *tw, const char *path, size_t n_cols, const char *const *names,
               size_t n_rows, scoresde_error *err)
{
    return table_open_as(tw, path, n_cols, names, n_rows, 0, err);
}

const char *io_format_note(const char *path, int float64)
{
    if (has_extension(path, ".npy"))
        return float64 ? ".npy float64" : ".npy float32";
    return has_extension(path, ".csv") ? "CSV" : "CSV: the extension is not .csv or .npy";
}

int io_dtype_float64(const char *dtype, int input_float64)
{
    return dtype ? strcmp(dtype, "float64") == 0 : input_float64;
}

int table_open_as(table_writer *tw, const char *path, size_t n_cols, const char *const *names,
                  size_t n_rows, int float64, scoresde_error *err)
{
    memset(tw, 0, sizeof *tw);
    tw->npy = has_extension(path, ".npy");
    tw->float64 = float64;
    tw->n_cols = n_cols;
    tw->n_rows_expected = n_rows;
    if (atomic_open(&tw->file, path, err))
        return -1;
    FILE *fp = tw->file.fp;
    if (tw->npy) {
        char header[256];
        int len = snprintf(header, sizeof header,
                           "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
                           float64 ? "<f8" : "<f4", n_rows, n_cols);
        int total = 10 + len + 1, pad = (64 - total % 64) % 64;
        unsigned short hl = (unsigned short)(len + pad + 1);
        fwrite("\x93NUMPY\x01\x00", 1, 8, fp);
        fputc(hl & 0xff, fp);
        fputc(hl >> 8, fp);
        fwrite(header, 1, (size_t)len, fp);
        for (int i = 0; i < pad; i++)
            fputc(' ', fp);
        fputc('\n', fp);
    } else {
        for (size_t c = 0; c < n_cols; c++)
            fprintf(fp, "%s%s", c ? "," : "", names[c]);
        fputc('\n', fp);
    }
    return 0;
}

int table_write_rows(table_writer *tw, size_t n_rows, const double *rows, scoresde_error *err)
{
    FILE *fp = tw->file.fp;
    if (tw->npy && tw->float64) {
        fwrite(rows, sizeof *rows, n_rows * tw->n_cols, fp); /* little-endian hosts, as '<f8' says */
    } else if (tw->npy) {
        for (size_t i = 0; i < n_rows * tw->n_cols; i++) {
            float f = (float)rows[i];
            fwrite(&f, 4, 1, fp);
        }
    } else {
        int digits = tw->float64 ? 17 : 9;
        for (size_t r = 0; r < n_rows; r++) {
            for (size_t c = 0; c < tw->n_cols; c++)
                fprintf(fp, c ? ",%.*g" : "%.*g", digits, rows[r * tw->n_cols + c]);
            fputc('\n', fp);
        }
    }
    tw->n_rows_written += n_rows;
    if (ferror(fp)) {
        scoresde_error_fail(err, SCORESDE_EIO, "%s: write error: %s", tw->file.path, strerror(errno));
        return -1;
    }
    return 0;
}

int table_commit(table_writer *tw, scoresde_error *err)
{
    if (tw->npy && tw->n_rows_written != tw->n_rows_expected) {
        scoresde_error_fail(err, SCORESDE_EFORMAT, "%s: %zu rows written, %zu announced", tw->file.path,
                 tw->n_rows_written, tw->n_rows_expected);
        table_abort(tw);
        return -1;
    }
    return atomic_commit(&tw->file, err);
}

void table_abort(table_writer *tw)
{
    atomic_abort(&tw->file);
}

int table_keep_completed(table_writer *tw, const char *cmd, const char *path, size_t n_rows, const char *what)
{
    scoresde_error err;
    if (tw->npy || n_rows == 0 || table_commit(tw, &err) != 0)
        return 0;
    fprintf(stderr, "scoresde %s: the %zu completed %s are in %s\n", cmd, n_rows, what, path);
    return 1;
}

int matrix_write(const char *path, const double *x, size_t n, size_t d, scoresde_error *err)
{
    return matrix_write_as(path, x, n, d, 0, err);
}

int matrix_write_as(const char *path, const double *x, size_t n, size_t d, int float64, scoresde_error *err)
{
    char (*names)[24] = malloc(d * sizeof *names);
    const char **ptrs = malloc(d * sizeof *ptrs);
    table_writer tw;
    int rc = -1;
    if (!names || !ptrs) {
        scoresde_error_fail(err, SCORESDE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t k = 0; k < d; k++) {
        snprintf(names[k], sizeof names[k], "x%zu", k);
        ptrs[k] = names[k];
    }
    if (table_open_as(&tw, path, d, ptrs, n, float64, err))
        goto done;
    if (table_write_rows(&tw, n, x, err)) {
        table_abort(&tw);
        goto done;
    }
    rc = table_commit(&tw, err);
done:
    free(names);
    free(ptrs);
    return rc;
}
