/* kernel_probe — what another BLAS kernel changes: run once per OPENBLAS_CORETYPE, then compare.
 *
 *   kernel_probe run PREFIX         writes, as text, PREFIX_weights.txt: the trained weights after a
 *                                   short run (MLP hidden 256 on a 2-D mixture, 60 steps of 256),
 *                                   and PREFIX_forward.txt: the scores of a 784-input MLP (hidden
 *                                   512) at 64 fixed inputs
 *   kernel_probe compare A B TOL    reads two files of numbers (any mix of commas, spaces, newlines;
 *                                   a first line not starting with a number is skipped) and fails
 *                                   (exit 1) unless they hold the same count of numbers and
 *                                   max |a − b| ≤ TOL · max(1, max |a|); prints the largest error
 *
 * scripts/test.sh runs it under every kernel the CPU can execute and compares each with the
 * detected kernel's output, together with `scoresde sample` files: the promise that other kernels
 * agree to rounding, amplified only as much as a short computation amplifies it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet_gemm.h"
#include "snet_layers.h"
#include "snet_model.h"
#include "snet_train.h"

static const char *GMM_TEXT = "# three modes\n2 3\n"
                              "0.3 -2 0   0.5 0.5\n"
                              "0.3  2 0   0.5 0.5\n"
                              "0.4  0 2.5 0.5 0.5\n";

static int train_weights(FILE *out)
{
    scoresde_error err;
    snet_gmm *g = NULL;
    snet_dataset *ds = NULL;
    snet_model *m = NULL;
    int rc = snet_gmm_parse(GMM_TEXT, "probe", &g, &err);
    if (!rc)
        rc = snet_dataset_toy(&ds, SNET_DATA_GMM, g, &err);
    if (!rc) {
        snet_config cfg;
        snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP);
        cfg.hidden = 256;
        cfg.n_blocks = 2;
        snet_train_options o;
        snet_train_options_default(&o);
        o.steps = 60;
        o.batch = 256;
        o.lr = 1e-3;
        o.warmup = 10;
        o.seed = 1;
        o.checkpoint_every = 0;
        o.log_every = 0;
        snet_train_report rep;
        rc = snet_train_run(&cfg, ds, &o, &rep, &m, &err);
    }
    if (rc)
        fprintf(stderr, "kernel_probe: training: %s\n", err.message);
    else /* the trained tensors only: the fixed Fourier frequencies (up to ~50) would set the scale */
        for (size_t k = 0; k < m->n_tensors; k++)
            if (m->tensors[k].trainable)
                for (size_t i = 0; i < m->tensors[k].size; i++)
                    fprintf(out, "%.9g\n", (double)m->params[m->tensors[k].offset + i]);
    snet_model_free(m);
    snet_dataset_free(ds);
    snet_gmm_free(g);
    return rc;
}

static int forward_outputs(FILE *out)
{
    scoresde_error err;
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 1, 28, 28, SNET_SDE_VP);
    cfg.hidden = 512;
    snet_model *m;
    if (snet_model_alloc(&m, &cfg, &err)) {
        fprintf(stderr, "kernel_probe: model: %s\n", err.message);
        return 1;
    }
    snet_model_init(m, 3);
    snet_fill_uniform(m->params, m->n_params, 0.05f, 4); // every weight non-zero (fc2 starts at 0)
    const size_t B = 64, D = 784;
    float *x = malloc(B * D * sizeof(float)), *t = malloc(B * sizeof(float));
    float *score = malloc(B * D * sizeof(float));
    snet_workspace *ws = snet_workspace_alloc(m, B);
    int rc = !x || !t || !score || !ws;
    if (!rc) {
        snet_fill_uniform(x, B * D, 1.0f, 5);
        for (size_t b = 0; b < B; b++)
            t[b] = 0.05f + 0.9f * (float)b / (float)B;
        rc = snet_model_score(m, ws, B, t, x, score);
    }
    if (!rc)
        for (size_t i = 0; i < B * D; i++)
            fprintf(out, "%.9g\n", (double)score[i]);
    snet_workspace_free(ws);
    free(x), free(t), free(score);
    snet_model_free(m);
    return rc;
}

/* Reads every number of a text file into *values (a first line that does not start with a number
 * is a header and skipped). */
static int read_numbers(const char *path, double **values, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1024, n = 0;
    double *v = malloc(cap * sizeof *v);
    char line[65536];
    int first = 1;
    while (v && fgets(line, sizeof line, f)) {
        char *start = line, *after;
        strtod(start, &after);
        if (first && after == start) { // a header ("# kernel …", "x0,x1,…")
            first = 0;
            continue;
        }
        first = 0;
        for (char *p = line, *end; *p; p = end) {
            double d = strtod(p, &end);
            if (end == p) {
                end = p + 1;
                continue;
            }
            if (n == cap) {
                double *grown = realloc(v, 2 * cap * sizeof *v);
                if (!grown) {
                    free(v);
                    v = NULL;
                    break;
                }
                v = grown, cap *= 2;
            }
            v[n++] = d;
        }
    }
    fclose(f);
    *values = v, *count = n;
    return v == NULL;
}

static int compare(const char *a_path, const char *b_path, double tol)
{
    double *a, *b;
    size_t na, nb;
    if (read_numbers(a_path, &a, &na) || read_numbers(b_path, &b, &nb))
        return 2;
    int rc = 0;
    if (na != nb || na == 0) {
        fprintf(stderr, "kernel_probe: %s holds %zu numbers, %s %zu\n", a_path, na, b_path, nb);
        rc = 1;
    } else {
        double scale = 1.0, worst = 0.0;
        size_t at = 0;
        for (size_t i = 0; i < na; i++)
            scale = fmax(scale, fabs(a[i]));
        for (size_t i = 0; i < na; i++)
            if (!(fabs(a[i] - b[i]) <= worst)) // NaN counts as the worst
                worst = isnan(a[i] - b[i]) ? INFINITY : fabs(a[i] - b[i]), at = i;
        printf("%s vs %s: %zu numbers, largest difference %.3g at #%zu (%.3g of the scale %.3g; bound %.1g)\n",
               a_path, b_path, na, worst, at, worst / scale, scale, tol);
        rc = worst <= tol * scale ? 0 : 1;
    }
    free(a), free(b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "run") == 0) {
        snet_set_num_threads(2);
        static const char *const parts[] = {"weights", "forward"};
        for (int k = 0; k < 2; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s_%s.txt", argv[2], parts[k]);
            FILE *out = fopen(path, "w");
            if (!out) {
                perror(path);
                return 2;
            }
            fprintf(out, "# kernel %s\n", snet_blas_kernel());
            int rc = k == 0 ? train_weights(out) : forward_outputs(out);
            if (fclose(out) || rc)
                return 1;
        }
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "compare") == 0)
        return compare(argv[2], argv[3], atof(argv[4]));
    fprintf(stderr, "usage: kernel_probe run OUT | kernel_probe compare A B TOL\n");
    return 2;
}
