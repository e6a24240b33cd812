/* compare_weights — the largest difference between the parameters (and EMA copies) of two weights
 * files, for the MPI training tests.
 *   compare_weights A.sgm B.sgm exact        exit 0 iff every float is bit-identical
 *   compare_weights A.sgm B.sgm TOL          exit 0 iff max |a − b| ≤ TOL over the raw parameters
 *                                            and over the EMA copies
 * Prints the largest difference and how many floats differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet_io.h"

/* Largest |a − b| into *worst (at least 1e-300 when some float differs in its bits: −0 vs 0, NaN). */
static void compare(const char *what, const float *a, const float *b, size_t n, double *worst)
{
    double max_diff = 0.0;
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        max_diff = d > max_diff || isnan(d) ? d : max_diff;
        differ += memcmp(&a[i], &b[i], sizeof *a) != 0;
    }
    printf("%s: %zu of %zu floats differ, max |a - b| = %.3g\n", what, differ, n, max_diff);
    if (isnan(max_diff))
        *worst = INFINITY;
    else if (differ)
        *worst = fmax(*worst, fmax(max_diff, 1e-300));
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: compare_weights A.sgm B.sgm exact|TOLERANCE\n");
        return 2;
    }
    snet_file_contents a, b;
    scoresde_error err;
    if (snet_io_read(argv[1], &a, &err) || snet_io_read(argv[2], &b, &err)) {
        fprintf(stderr, "compare_weights: %s\n", err.message);
        return 2;
    }
    if (a.model->n_params != b.model->n_params || !a.ema != !b.ema || a.step != b.step) {
        fprintf(stderr, "compare_weights: %zu vs %zu parameters, EMA %d vs %d, step %llu vs %llu\n",
                a.model->n_params, b.model->n_params, a.ema != NULL, b.ema != NULL,
                (unsigned long long)a.step, (unsigned long long)b.step);
        return 1;
    }
    double worst = 0.0;
    compare("params", a.model->params, b.model->params, a.model->n_params, &worst);
    if (a.ema)
        compare("ema   ", a.ema, b.ema, a.model->n_params, &worst);
    int exact = strcmp(argv[3], "exact") == 0;
    double tol = exact ? 0.0 : atof(argv[3]);
    int ok = exact ? worst == 0.0 : worst <= tol;
    printf("%s (%s)\n", ok ? "ok" : "FAIL", exact ? "bit-identical required" : argv[3]);
    snet_file_contents_free(&a);
    snet_file_contents_free(&b);
    return ok ? 0 : 1;
}
