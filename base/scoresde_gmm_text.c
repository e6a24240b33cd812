/* scoresde_gmm_text.c — the reader of the Gaussian-mixture text format (scoresde_gmm_text.h). */
#include "scoresde_gmm_text.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Strips a '#' comment and reports whether anything but blanks remains. */
static int strip_comment(char *line)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    for (char *c = line; *c; c++)
        if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n' && *c != '\v' && *c != '\f')
            return 1;
    return 0;
}

/* Splits line into at most max numbers; returns the count of tokens (which may exceed max), or
 * −1 − (index of the first token that is not a number), with the token copied to bad. */
static long parse_numbers(char *line, double *values, size_t max, char *bad, size_t bad_len)
{
    size_t count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r\n\v\f,", &save); tok;
         tok = strtok_r(NULL, " \t\r\n\v\f,", &save)) {
        char *end;
        errno = 0;
        double v = strtod(tok, &end);
        if (end == tok || *end != '\0') {
            snprintf(bad, bad_len, "%s", tok);
            return -1 - (long)count;
        }
        if (count < max)
            values[count] = v;
        count++;
    }
    return (long)count;
}

int scoresde_gmm_text_read(FILE *stream, const char *name, scoresde_gmm_text *out, scoresde_error *err)
{
    scoresde_error scratch;
    if (!err)
        err = &scratch;
    if (!name)
        name = "<stream>";
    memset(out, 0, sizeof *out);
    char *line = NULL;
    size_t cap = 0;
    /* The arrays grow with the lines actually read, never to what the header claims: a 12-byte
     * file saying "1 268435456" must not allocate gigabytes. */
    double *values = NULL, *weights = NULL, *means = NULL, *stds = NULL;
    size_t values_cap = 0, k_cap = 0;
    size_t lineno = 0, d = 0, K = 0, k = 0;
    char bad[64];
    int status = SCORESDE_OK;
    ssize_t len;

    while ((len = getline(&line, &cap, stream)) >= 0) {
        lineno++;
        if (!strip_comment(line))
            continue;
        if (d == 0) {
            /* Header: "d K". */
            double hv[2];
            long c = parse_numbers(line, hv, 2, bad, sizeof bad);
            if (c < 0) {
                status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                       "%s:%zu: expected the header 'd K' (two positive integers), "
                                       "found '%s'", name, lineno, bad);
                goto done;
            }
            if (c != 2) {
                status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                       "%s:%zu: expected the header 'd K' (two positive integers), "
                                       "found %ld numbers", name, lineno, c);
                goto done;
            }
            for (int h = 0; h < 2; h++)
                if (!(hv[h] >= 1.0) || hv[h] != floor(hv[h]) || hv[h] > (double)SCORESDE_GMM_MAX_NUMBERS) {
                    status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                           "%s:%zu: header %s = %g, expected a positive integer",
                                           name, lineno, h == 0 ? "d" : "K", hv[h]);
                    goto done;
                }
            size_t hd = (size_t)hv[0], hk = (size_t)hv[1];
            if (hk > SCORESDE_GMM_MAX_NUMBERS / hd) {
                status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                       "%s:%zu: d = %zu and K = %zu make %zu parameters, more than "
                                       "the limit %zu", name, lineno, hd, hk, hd * hk, SCORESDE_GMM_MAX_NUMBERS);
                goto done;
            }
            d = hd;
            K = hk;
            continue;
        }
        if (k == K) {
            status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                   "%s:%zu: extra line after the K = %zu component lines", name,
                                   lineno, K);
            goto done;
        }
        size_t want = 1 + 2 * d;
        /* a line of len characters holds at most (len + 1)/2 numbers */
        size_t fits = (size_t)len / 2 + 1 < want ? (size_t)len / 2 + 1 : want;
        if (fits > values_cap) {
            double *grown = realloc(values, fits * sizeof *values);
            if (!grown)
                goto nomem;
            values = grown;
            values_cap = fits;
        }
        long c = parse_numbers(line, values, values_cap, bad, sizeof bad);
        if (c < 0) {
            status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                   "%s:%zu: component %zu: '%s' is not a number", name, lineno,
                                   k + 1, bad);
            goto done;
        }
        if ((size_t)c != want) {
            status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                   "%s:%zu: component %zu: expected 1 + 2d = %zu numbers (weight, "
                                   "%zu means, %zu stds), found %ld", name, lineno, k + 1, want,
                                   d, d, c);
            goto done;
        }
        for (size_t j = 0; j < want; j++)
            if (!isfinite(values[j])) {
                char what[48];
                if (j == 0)
                    snprintf(what, sizeof what, "weight");
                else if (j <= d)
                    snprintf(what, sizeof what, "mean_%zu", j);
                else
                    snprintf(what, sizeof what, "std_%zu", j - d);
                status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                       "%s:%zu: component %zu: %s is %g, expected a finite number",
                                       name, lineno, k + 1, what, values[j]);
                goto done;
            }
        if (!(values[0] > 0.0)) {
            status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                   "%s:%zu: component %zu: weight = %g, expected > 0", name, lineno,
                                   k + 1, values[0]);
            goto done;
        }
        for (size_t j = 0; j < d; j++)
            if (!(values[1 + d + j] > 0.0)) {
                status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                                       "%s:%zu: component %zu: std_%zu = %g, expected > 0", name,
                                       lineno, k + 1, j + 1, values[1 + d + j]);
                goto done;
            }
        if (k == k_cap) { /* grown after the line is checked: memory follows the bytes read */
            size_t new_cap = k_cap ? (2 * k_cap < K ? 2 * k_cap : K) : 1;
            double *w = realloc(weights, new_cap * sizeof *weights);
            weights = w ? w : weights;
            double *mu = w ? realloc(means, new_cap * d * sizeof *means) : NULL;
            means = mu ? mu : means;
            double *sd = mu ? realloc(stds, new_cap * d * sizeof *stds) : NULL;
            stds = sd ? sd : stds;
            if (!sd)
                goto nomem;
            k_cap = new_cap;
        }
        weights[k] = values[0];
        memcpy(means + k * d, values + 1, d * sizeof *values);
        memcpy(stds + k * d, values + 1 + d, d * sizeof *values);
        k++;
    }
    if (ferror(stream)) {
        status = scoresde_error_fail(err, SCORESDE_EIO, "%s: read error after line %zu: %s", name,
                               lineno, strerror(errno));
        goto done;
    }
    if (d == 0) {
        status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                               "%s: expected the header 'd K', found no data (%zu lines)", name,
                               lineno);
        goto done;
    }
    if (k < K) {
        status = scoresde_error_fail(err, SCORESDE_EFORMAT,
                               "%s:%zu: expected K = %zu component lines after the header, found %zu",
                               name, lineno, K, k);
        goto done;
    }
    out->dim = d;
    out->n_components = K;
    out->weights = weights;
    out->means = means;
    out->stds = stds;
    weights = means = stds = NULL; /* handed over */
    goto done;
nomem:
    status = scoresde_error_fail(err, SCORESDE_ENOMEM,
                           "%s:%zu: cannot allocate a mixture with d = %zu, K = %zu", name, lineno,
                           d, K);
done:
    free(line);
    free(values);
    free(weights);
    free(means);
    free(stds);
    return status;
}

void scoresde_gmm_text_free(scoresde_gmm_text *g)
{
    free(g->weights);
    free(g->means);
    free(g->stds);
    memset(g, 0, sizeof *g);
}
