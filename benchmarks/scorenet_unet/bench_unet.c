/* bench_unet — throughput of the U-Net (snet_arch_unet) on Fashion-MNIST's shape.
 *
 *   bench_unet [--threads T] [--base C] [--levels L] [--groups G] [--seconds S] [--csv FILE]
 *              [--batches 1,64,256] [--train-batches 64,128] [--passes forward,vjp,train]
 *              [--clock wall|cpu]
 *
 * Prints, for the --batches (default 1, 64, 256): forward and forward + input VJP (the backward without parameter
 * gradients that the Skilling–Hutchinson divergence needs) in samples/s and GFLOP/s; then the
 * training step (forward + backward with parameter gradients) at the --train-batches (default 64,
 * 128); --passes picks which of the three run (default all; a profile wants one); beside the
 * cblas_sgemm peak (1024³) measured in the same run. FLOPs count the matrix products only
 * (snet_arch_unet.forward_flops: 2 per multiply–add); forward + VJP counts 2× the forward (the
 * input-gradient GEMMs of every convolution mirror the forward ones), a training step 3×.
 * Each figure is the median of repeated timings lasting about --seconds in total (default 1).
 * --clock cpu times with the process's CPU clock instead of the wall clock: with --threads 1 on a
 * machine shared with other work, samples per CPU-second and the sgemm peak per CPU-second do not
 * count the time other processes held the core, so their ratio is the load-independent figure
 * (with more threads the CPU clock also counts OpenMP's spin-waiting: use it with one thread).
 */
#include "snet.h"
#include "snet_gemm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void *ctx);

/* Median seconds per call, after one warm-up call, over ≥ 3 calls lasting ≈ budget seconds. */
static double time_median(bench_fn f, void *ctx, double budget)
{
    f(ctx);
    double t0 = now();
    f(ctx);
    double once = now() - t0;
    int reps = (int)(budget / (once > 1e-6 ? once : 1e-6));
    if (reps < 3)
        reps = 3;
    if (reps > 1000)
        reps = 1000;
    double *t = malloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        double a = now();
        f(ctx);
        t[i] = now() - a;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = t[reps / 2];
    free(t);
    return med;
}

/* The sgemm peak is OpenBLAS' own multi-threaded product at the --threads count (snet runs it
 * single-threaded per tile, snet_gemm.h). */
static int peak_threads = 2;

typedef struct gemm_ctx {
    int n;
    float *a, *b, *c;
} gemm_ctx;

static void run_gemm(void *p)
{
    gemm_ctx *g = p;
    openblas_set_num_threads(peak_threads); // the BLAS's own threads for its peak
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b,
                g->n, 0.0f, g->c, g->n);
    openblas_set_num_threads(1);             // as snet_set_num_threads leaves it
}

typedef struct net_ctx {
    const snet_arch_ops *ops;
    const snet_config *cfg;
    size_t B;
    float *params, *dparams, *x, *t, *out, *acts, *scratch, *dout, *dx;
} net_ctx;

static void run_forward(void *p)
{
    net_ctx *n = p;
    n->ops->forward(n->cfg, n->params, n->B, n->x, n->t, n->out, n->acts);
}

static void run_forward_vjp(void *p)
{
    net_ctx *n = p;
    n->ops->forward(n->cfg, n->params, n->B, n->x, n->t, n->out, n->acts);
    n->ops->backward(n->cfg, n->params, n->B, n->x, n->t, n->acts, n->dout, NULL, n->dx, n->scratch);
}

static void run_train_step(void *p)
{
    net_ctx *n = p;
    n->ops->forward(n->cfg, n->params, n->B, n->x, n->t, n->out, n->acts);
    n->ops->backward(n->cfg, n->params, n->B, n->x, n->t, n->acts, n->dout, n->dparams, NULL,
                     n->scratch);
}

static int net_alloc(net_ctx *n, const snet_arch_ops *ops, const snet_config *cfg, size_t B,
                     const float *params, size_t n_params)
{
    size_t D = snet_config_dim(cfg);
    memset(n, 0, sizeof *n);
    n->ops = ops;
    n->cfg = cfg;
    n->B = B;
    n->params = (float *)params;
    n->dparams = calloc(n_params, sizeof(float));
    n->x = malloc(B * D * sizeof(float));
    n->t = malloc(B * sizeof(float));
    n->out = malloc(B * D * sizeof(float));
    n->dout = malloc(B * D * sizeof(float));
    n->dx = malloc(B * D * sizeof(float));
    n->acts = malloc(ops->act_size(cfg, B) * sizeof(float));
    n->scratch = malloc(ops->scratch_size(cfg, B) * sizeof(float));
    if (!n->dparams || !n->x || !n->t || !n->out || !n->dout || !n->dx || !n->acts || !n->scratch)
        return -1;
    for (size_t i = 0; i < B * D; i++) {
        n->x[i] = (float)sin(0.1 * (double)i);
        n->dout[i] = (float)cos(0.07 * (double)i);
    }
    for (size_t b = 0; b < B; b++)
        n->t[b] = (float)(0.01 + 0.98 * (double)(b % 97) / 96.0);
    return 0;
}

/* Parses "64,128" into list (at most 8 entries); returns the count, 0 if malformed. */
static size_t parse_batches(size_t *list, const char *v)
{
    size_t n = 0;
    for (const char *q = v; *q && n < 8;) {
        char *end;
        unsigned long b = strtoul(q, &end, 10);
        if (end == q || b == 0)
            return 0;
        list[n++] = b;
        q = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void net_release(net_ctx *n)
{
    free(n->dparams), free(n->x), free(n->t), free(n->out), free(n->dout), free(n->dx);
    free(n->acts), free(n->scratch);
}

int main(int argc, char **argv)
{
    int threads = 2;
    unsigned base = 32, levels = 3, groups = 8;
    double budget = 1.0;
    const char *csv_path = NULL;
    size_t batches[8] = {1, 64, 256};
    size_t n_batches = 3;
    size_t train_batches[8] = {64, 128};
    size_t n_train_batches = 2;
    const char *passes = "forward,vjp,train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_unet: option %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--base") == 0)
            base = (unsigned)atoi(v);
        else if (strcmp(a, "--levels") == 0)
            levels = (unsigned)atoi(v);
        else if (strcmp(a, "--groups") == 0)
            groups = (unsigned)atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            budget = atof(v);
        else if (strcmp(a, "--csv") == 0)
            csv_path = v;
        else if (strcmp(a, "--batches") == 0 || strcmp(a, "--train-batches") == 0) {
            int train = strcmp(a, "--train-batches") == 0;
            size_t n = parse_batches(train ? train_batches : batches, v);
            if (!n) {
                fprintf(stderr, "bench_unet: %s wants positive integers separated by commas, got '%s'\n", a, v);
                return 2;
            }
            *(train ? &n_train_batches : &n_batches) = n;
        } else if (strcmp(a, "--passes") == 0)
            passes = v;
        else if (strcmp(a, "--clock") == 0) {
            if (strcmp(v, "wall") != 0 && strcmp(v, "cpu") != 0) {
                fprintf(stderr, "bench_unet: --clock wants wall or cpu, got '%s'\n", v);
                return 2;
            }
            bench_clock = strcmp(v, "cpu") == 0 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
        }
        else {
            fprintf(stderr, "bench_unet: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    snet_set_num_threads(threads);
    peak_threads = threads;

    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_UNET, 1, 28, 28, SNET_SDE_VP);
    cfg.base_channels = base;
    cfg.n_levels = levels;
    cfg.n_groups = groups;
    const snet_arch_ops *ops = snet_arch_get(SNET_ARCH_UNET);
    scoresde_error err;
    if (!ops || ops->validate(&cfg, &err) != SNET_OK) {
        fprintf(stderr, "bench_unet: %s\n", ops ? err.message : "the U-Net is not linked in");
        return 1;
    }
    size_t n_params = ops->n_params(&cfg);
    float *params = malloc(n_params * sizeof *params);
    if (!params)
        return 1;
    ops->init(&cfg, params, 1);
    for (size_t i = 0; i < n_params; i++) // the zero-initialised last layer would make zeros flow
        params[i] += 0.01f * (float)sin((double)i);

    gemm_ctx g = {1024, malloc(1024 * 1024 * 4), malloc(1024 * 1024 * 4), malloc(1024 * 1024 * 4)};
    for (int i = 0; i < 1024 * 1024; i++)
        g.a[i] = g.b[i] = (float)sin(i);
    double t_gemm = time_median(run_gemm, &g, budget);
    nanosleep(&(struct timespec){0, 300000000}, NULL); // OpenBLAS' threads spin ~0.1 s after it
    double peak = 2.0 * 1024 * 1024 * 1024 / t_gemm * 1e-9;
    free(g.a), free(g.b), free(g.c);

    double flops1 = ops->forward_flops(&cfg, 1);
    printf("U-Net 1×28×28, base %u, %u levels, %u groups: %zu parameters, %.1f MFLOP/sample forward; "
           "%d threads\n",
           base, levels, groups, n_params, flops1 * 1e-6, threads);
    printf("BLAS: %s; kernel %s%s\n", snet_blas_config(), snet_blas_kernel(),
           getenv("OPENBLAS_CORETYPE") ? " (forced by OPENBLAS_CORETYPE)" : " (OpenBLAS' own choice)");
    printf("cblas_sgemm 1024³ peak: %.1f GFLOP/s%s\n\n", peak,
           bench_clock == CLOCK_PROCESS_CPUTIME_ID ? " (per CPU-second: --clock cpu)" : "");
    printf("%-18s %6s %10s %12s %9s %8s %9s\n", "pass", "batch", "ms/call", "samples/s", "GFLOP/s",
           "of peak", "acts MB");
    FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
    if (csv_path && !csv) {
        fprintf(stderr, "bench_unet: cannot write %s\n", csv_path);
        return 1;
    }
    if (csv)
        fprintf(csv, "pass,batch,ms_per_call,samples_per_s,gflops,fraction_of_peak,threads,base,levels,blas_kernel\n");

    struct {
        const char *name;
        const char *key; /* its name in --passes */
        bench_fn fn;
        double flop_factor;
        const size_t *batches;
        size_t n;
    } rows[] = {
        {"forward", "forward", run_forward, 1.0, batches, n_batches},
        {"forward+VJP", "vjp", run_forward_vjp, 2.0, batches, n_batches},
        {"train step", "train", run_train_step, 3.0, train_batches, n_train_batches},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        if (!strstr(passes, rows[r].key))
            continue;
        for (size_t k = 0; k < rows[r].n; k++) {
            size_t B = rows[r].batches[k];
            net_ctx n;
            if (net_alloc(&n, ops, &cfg, B, params, n_params)) {
                fprintf(stderr, "bench_unet: out of memory at batch %zu\n", B);
                return 1;
            }
            double t = time_median(rows[r].fn, &n, budget);
            double gf = rows[r].flop_factor * flops1 * (double)B / t * 1e-9;
            double mb = (double)(ops->act_size(&cfg, B) + ops->scratch_size(&cfg, B)) * 4e-6;
            printf("%-18s %6zu %10.3f %12.1f %9.1f %7.0f%% %9.0f\n", rows[r].name, B, t * 1e3,
                   (double)B / t, gf, 100.0 * gf / peak, mb);
            if (csv)
                fprintf(csv, "%s,%zu,%.4f,%.2f,%.2f,%.3f,%d,%u,%u,%s\n", rows[r].name, B, t * 1e3,
                        (double)B / t, gf, gf / peak, threads, base, levels, snet_blas_kernel());
            net_release(&n);
        }
    }
    if (csv)
        fclose(csv);
    free(params);
    return 0;
}
