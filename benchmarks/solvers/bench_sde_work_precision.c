/* bench_sde_work_precision — strong error against work for every SDE method.
 *
 * Problems (T = 1, one Brownian tree per problem, seed 2024):
 *   gbm:       dX_i = μ X_i dt + σ X_i dW_i, d = 2 diagonal, μ = σ = 1, x0 = (1, 0.75); reference
 *             the exact solution x0 exp((μ − σ²/2) + σ W(1)) from the driver's w_final.
 *   additive:  dX = (2 sin X − X) dt + 2(1 + t) dW, x0 = 1; reference SRA1 with 2^14 steps on
 *             the same tree.
 *   nonlinear: dX_i = (1 − X_i) dt + (1 + ½ sin X_i) dW_i, d = 2 diagonal, x0 = (1, 0.75);
 *             reference SRIW1 with 2^14 steps on the same tree (here the derivative-free Milstein
 *             and the one with diffusion_dx differ; on GBM, g linear, they coincide).
 * For N = 2^2 .. 2^10 fixed steps: error = mean over paths of |X_N − X_ref| (Euclidean),
 * work = batched drift and diffusion calls (each call evaluates every path) and the wall time of
 * the solve on one thread. Writes <results>/sde_work_precision.csv and .png (log error against
 * log evaluations, one panel per problem). Counts are exact; the wall times are of one run and
 * only as steady as the machine.
 *
 * Usage: bench_sde_work_precision [results_dir] [n_paths]
 */
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slv_sde.h"

#ifndef SCORESDE_RESULTS_DIR
#define SCORESDE_RESULTS_DIR "benchmarks/results"
#endif

#define SEED 2024u
#define MIN_LOG2_STEPS 2
#define MAX_LOG2_STEPS 10
#define N_STEP_SIZES (MAX_LOG2_STEPS - MIN_LOG2_STEPS + 1)
#define REF_STEPS 16384

typedef struct gbm_params {
    double mu, sigma;
} gbm_params;

static const gbm_params gbm = {1.0, 1.0};
static const double gbm_x0[2] = {1.0, 0.75};
static const double additive_sigma = 2.0;

static int gbm_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->mu * x[e];
    return 0;
}

static int gbm_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->sigma * x[e];
    return 0;
}

static int gbm_diffusion_dx(double t, size_t n, size_t d, const double *x, double *out,
                            void *params)
{
    (void)t;
    (void)x;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->sigma;
    return 0;
}

static int nonlinear_drift(double t, size_t n, size_t d, const double *x, double *out,
                           void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 1.0 - x[e];
    return 0;
}

static int nonlinear_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                               void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 1.0 + 0.5 * sin(x[e]);
    return 0;
}

static int nonlinear_diffusion_dx(double t, size_t n, size_t d, const double *x, double *out,
                                  void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 0.5 * cos(x[e]);
    return 0;
}

static int additive_drift(double t, size_t n, size_t d, const double *x, double *out,
                          void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = 2.0 * sin(x[e]) - x[e];
    return 0;
}

static int additive_diffusion(double t, size_t n, size_t d, const double *x, double *out,
                              void *params)
{
    (void)x;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = additive_sigma * (1.0 + t);
    return 0;
}

typedef struct method_entry {
    const char *label;   /* in the CSV and the legend */
    const char *method;  /* slv_sde_step_type name */
    int use_dx;
} method_entry;

static const method_entry gbm_methods[] = {
    {"em", "em", 0},       {"milstein", "milstein", 0}, {"milstein+dx", "milstein", 1},
    {"sriw1", "sriw1", 0}, {"sriw2", "sriw2", 0},
};
static const method_entry nonlinear_methods[] = {
    {"em", "em", 0},       {"milstein", "milstein", 0}, {"milstein+dx", "milstein", 1},
    {"sriw1", "sriw1", 0}, {"sriw2", "sriw2", 0},
};
static const method_entry additive_methods[] = {
    {"em", "em", 0},       {"sra1", "sra1", 0},   {"sra3", "sra3", 0},
    {"sriw1", "sriw1", 0}, {"sriw2", "sriw2", 0},
};
#define N_METHODS 5

typedef struct row {
    double error, seconds;
    size_t drift, diffusion;
} row;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_x0(const slv_sde *sys, size_t n, double *x)
{
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < sys->dim; i++)
            x[p * sys->dim + i] = sys->dim == 2 ? gbm_x0[i] : 1.0;
}

static int solve(const slv_sde_step_type *type, const slv_sde *sys, size_t n, size_t steps,
                 double *x, double *w, row *r)
{
    slv_sde_solver *s = slv_sde_solver_alloc(type, sys, n);
    if (s == NULL)
        return -1;
    slv_sde_solver_set_seed(s, SEED, 0);
    slv_sde_solver_set_threads(s, 1);
    set_x0(sys, n, x);
    double t_start = now();
    int rc = slv_sde_solver_solve_fixed(s, 0.0, 1.0, steps, x, w);
    double elapsed = now() - t_start;
    if (rc != SLV_OK)
        fprintf(stderr, "%s, %zu steps: %s\n", type->name, steps, slv_sde_solver_get_error(s)->message);
    if (r != NULL) {
        r->seconds = elapsed;
        r->drift = slv_sde_solver_get_n_drift_evals(s);
        r->diffusion = slv_sde_solver_get_n_diffusion_evals(s);
    }
    slv_sde_solver_free(s);
    return rc;
}

/* Runs every method of one problem; rows[method][k] for N = 2^(MIN_LOG2_STEPS + k). The
 * reference is the exact GBM solution (reference = NULL) or `reference` with REF_STEPS steps. */
static int run_problem(const char *name, slv_sde sys, slv_sde_diffusion_fn dx,
                       const method_entry *methods, const slv_sde_step_type *reference, size_t n,
                       FILE *csv, row rows[N_METHODS][N_STEP_SIZES])
{
    const size_t nd = n * sys.dim, nm = n * sys.noise_dim;
    double *x = malloc(nd * sizeof(double)), *ref = malloc(nd * sizeof(double));
    double *w = malloc(nm * sizeof(double));
    int rc = 0;
    if (x == NULL || ref == NULL || w == NULL) {
        rc = -1;
        goto done;
    }
    const int exact_gbm = reference == NULL;
    if (!exact_gbm && solve(reference, &sys, n, REF_STEPS, ref, NULL, NULL) != SLV_OK) {
        rc = -1;
        goto done;
    }
    for (int mi = 0; mi < N_METHODS; mi++) {
        const slv_sde_step_type *type = slv_sde_step_type_by_name(methods[mi].method);
        slv_sde msys = sys;
        msys.diffusion_dx = methods[mi].use_dx ? dx : NULL;
        for (int k = 0; k < N_STEP_SIZES; k++) {
            size_t steps = (size_t)1 << (MIN_LOG2_STEPS + k);
            row *r = &rows[mi][k];
            if (solve(type, &msys, n, steps, x, w, r) != SLV_OK) {
                rc = -1;
                goto done;
            }
            if (exact_gbm)
                for (size_t p = 0; p < n; p++)
                    for (size_t i = 0; i < sys.dim; i++)
                        ref[p * sys.dim + i] =
                            gbm_x0[i] * exp(gbm.mu - 0.5 * gbm.sigma * gbm.sigma + gbm.sigma * w[p * sys.dim + i]);
            double err = 0.0;
            for (size_t p = 0; p < n; p++) {
                double sq = 0.0;
                for (size_t i = 0; i < sys.dim; i++) {
                    double e = x[p * sys.dim + i] - ref[p * sys.dim + i];
                    sq += e * e;
                }
                err += sqrt(sq);
            }
            r->error = err / (double)n;
            fprintf(csv, "%s,%s,%zu,%.6e,%zu,%zu,%.6f\n", name, methods[mi].label, steps, r->error,
                    r->drift, r->diffusion, r->seconds);
            printf("%-9s %-12s N = %5zu: error %.3e, %6zu drift + %6zu diffusion calls, %.4f s\n",
                   name, methods[mi].label, steps, r->error, r->drift, r->diffusion, r->seconds);
        }
    }
done:
    free(x);
    free(ref);
    free(w);
    return rc;
}

static void plot_panel(const char *title, const method_entry *methods,
                       row rows[N_METHODS][N_STEP_SIZES])
{
    static const PLINT colors[N_METHODS] = {1, 3, 9, 8, 13};
    static const PLINT styles[N_METHODS] = {1, 1, 2, 1, 2};
    static const char *symbols[N_METHODS] = {"#(728)", "#(840)", "#(841)", "#(851)", "#(852)"};
    PLFLT lx[N_METHODS][N_STEP_SIZES], ly[N_METHODS][N_STEP_SIZES];
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int m = 0; m < N_METHODS; m++)
        for (int k = 0; k < N_STEP_SIZES; k++) {
            lx[m][k] = log10((double)(rows[m][k].drift + rows[m][k].diffusion));
            ly[m][k] = log10(rows[m][k].error);
            x0 = fmin(x0, lx[m][k]);
            x1 = fmax(x1, lx[m][k]);
            y0 = fmin(y0, ly[m][k]);
            y1 = fmax(y1, ly[m][k]);
        }
    pladv(0);
    plvpor(0.19, 0.96, 0.13, 0.9);
    /* A decade of room below the curves for the legend. */
    plwind(floor(x0 * 2) / 2, ceil(x1 * 2) / 2, floor(y0) - 1.5, ceil(y1 * 2) / 2);
    plcol0(15);
    plbox("bcnstgl", 0, 0, "bcnstvgl", 0, 0);
    pllab("drift + diffusion evaluations per path", "", title);
    plmtex("l", 5.5, 0.5, 0.5, "mean |X#dN#u(1) - X#dref#u(1)|");
    PLINT opt[N_METHODS], line_colors[N_METHODS], line_styles[N_METHODS], sym_colors[N_METHODS],
        sym_numbers[N_METHODS];
    PLFLT line_widths[N_METHODS], sym_scales[N_METHODS];
    const char *labels[N_METHODS];
    for (int m = 0; m < N_METHODS; m++) {
        plcol0(colors[m]);
        pllsty(styles[m]);
        plwidth(2.0);
        plline(N_STEP_SIZES, lx[m], ly[m]);
        plstring(N_STEP_SIZES, lx[m], ly[m], symbols[m]);
        opt[m] = PL_LEGEND_LINE | PL_LEGEND_SYMBOL;
        line_colors[m] = sym_colors[m] = colors[m];
        line_styles[m] = styles[m];
        line_widths[m] = 2.0;
        sym_scales[m] = 1.0;
        sym_numbers[m] = 2;
        labels[m] = methods[m].label;
    }
    pllsty(1);
    plwidth(1.0);
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_BOTTOM | PL_POSITION_LEFT | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, 0, 15, 1,
             0, 0, N_METHODS, opt, 1.0, 0.8, 2.0, 0.0, line_colors, (const char *const *)labels,
             NULL, NULL, NULL, NULL, line_colors, line_styles, line_widths, sym_colors, sym_scales,
             sym_numbers, (const char *const *)symbols);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : SCORESDE_RESULTS_DIR;
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 2000;
    if (n == 0) {
        fprintf(stderr, "n_paths must be >= 1\n");
        return EXIT_FAILURE;
    }
    char csv_path[1024], png_path[1024];
    snprintf(csv_path, sizeof csv_path, "%s/sde_work_precision.csv", dir);
    snprintf(png_path, sizeof png_path, "%s/sde_work_precision.png", dir);
    FILE *csv = fopen(csv_path, "w");
    if (csv == NULL) {
        perror(csv_path);
        return EXIT_FAILURE;
    }
    fprintf(csv, "problem,method,steps,error,drift_evals,diffusion_evals,seconds\n");

    slv_sde gbm_sys = {.drift = gbm_drift,
                       .diffusion = gbm_diffusion,
                       .dim = 2,
                       .noise_dim = 2,
                       .noise = SLV_NOISE_DIAGONAL,
                       .params = (void *)&gbm};
    slv_sde additive_sys = {.drift = additive_drift,
                            .diffusion = additive_diffusion,
                            .dim = 1,
                            .noise_dim = 1,
                            .noise = SLV_NOISE_SCALAR,
                            .additive = 1};
    slv_sde nonlinear_sys = {.drift = nonlinear_drift,
                             .diffusion = nonlinear_diffusion,
                             .dim = 2,
                             .noise_dim = 2,
                             .noise = SLV_NOISE_DIAGONAL};
    static row gbm_rows[N_METHODS][N_STEP_SIZES], additive_rows[N_METHODS][N_STEP_SIZES],
        nonlinear_rows[N_METHODS][N_STEP_SIZES];
    printf("%zu paths, T = 1, N = %d .. %d steps, one thread\n", n, 1 << MIN_LOG2_STEPS,
           1 << MAX_LOG2_STEPS);
    if (run_problem("gbm", gbm_sys, gbm_diffusion_dx, gbm_methods, NULL, n, csv, gbm_rows) != 0 ||
        run_problem("additive", additive_sys, NULL, additive_methods, slv_sde_step_sra1, n, csv,
                    additive_rows) != 0 ||
        run_problem("nonlinear", nonlinear_sys, nonlinear_diffusion_dx, nonlinear_methods,
                    slv_sde_step_sriw1, n, csv, nonlinear_rows) != 0) {
        fclose(csv);
        return EXIT_FAILURE;
    }
    fclose(csv);

    plsdev("pngcairo");
    plsfnam(png_path);
    plspage(0, 0, 2400, 800, 0, 0);
    plscolbg(255, 255, 255);
    plssub(3, 1);
    plinit();
    plschr(0.0, 0.75);
    plscol0(15, 0, 0, 0);
    plscol0(1, 200, 30, 30);
    plscol0(3, 30, 140, 30);
    plscol0(9, 60, 60, 220);
    plscol0(8, 150, 80, 20);
    plscol0(13, 160, 30, 160);
    plot_panel("GBM, diagonal (d = 2); exact reference", gbm_methods, gbm_rows);
    plot_panel("additive: (2 sin X - X)dt + 2(1+t)dW", additive_methods, additive_rows);
    plot_panel("diagonal, g = 1 + sin(X)/2 (d = 2)", nonlinear_methods, nonlinear_rows);
    plend();
    printf("wrote %s and %s\n", csv_path, png_path);
    return EXIT_SUCCESS;
}
