/* scoresde solve — the generic SDE solvers on built-in equations that have nothing to do with
 * machine learning: geometric Brownian motion, Ornstein–Uhlenbeck, a double-well Langevin
 * equation and a stochastic Lorenz system. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "picture.h"
#include "slv_sde.h"

#define MAX_PARAMS 4
#define MAX_DIM 3

typedef struct builtin_sde builtin_sde;
struct builtin_sde {
    const char *name;
    const char *description;
    size_t dim;
    slv_noise_type noise;
    int additive;
    const char *param_names[MAX_PARAMS];
    double param_defaults[MAX_PARAMS];
    double x0_default;
    slv_sde_drift_fn drift;
    slv_sde_diffusion_fn diffusion;
    slv_sde_diffusion_fn diffusion_dx;
    /* exact mean and variance of component 0 at time t from x0 at t0, or NULL */
    void (*exact_moments)(const double *p, double x0, double t, double *mean, double *var);
    /* exact density of component 0 at time t from x0, or NULL */
    double (*exact_pdf)(const double *p, double x0, double t, double x);
};

/* ---- gbm: dX = mu X dt + sigma X dW ---- */
static int gbm_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const double *p = params;
    for (size_t i = 0; i < n * d; i++)
        out[i] = p[0] * x[i];
    return 0;
}
static int gbm_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const double *p = params;
    for (size_t i = 0; i < n * d; i++)
        out[i] = p[1] * x[i];
    return 0;
}
static int gbm_diffusion_dx(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t, (void)x;
    const double *p = params;
    for (size_t i = 0; i < n * d; i++)
        out[i] = p[1];
    return 0;
}
static void gbm_moments(const double *p, double x0, double t, double *mean, double *var)
{
    *mean = x0 * exp(p[0] * t);
    *var = x0 * x0 * exp(2 * p[0] * t) * expm1(p[1] * p[1] * t);
}

static double gbm_pdf(const double *p, double x0, double t, double x)
{
    if (x <= 0)
        return 0;
    double m = log(x0) + (p[0] - 0.5 * p[1] * p[1]) * t, v = p[1] * p[1] * t;
    return exp(-(log(x) - m) * (log(x) - m) / (2 * v)) / (x * sqrt(2 * M_PI * v));
}

/* ---- ou: dX = theta (mu - X) dt + sigma dW ---- */
static int ou_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const double *p = params;
    for (size_t i = 0; i < n * d; i++)
        out[i] = p[0] * (p[1] - x[i]);
    return 0;
}
/* Additive noise: called with n = 1, x = NULL. Shared by ou, double-well and lorenz, whose noise
 * amplitude is the parameter `sigma_index` below. */
static int additive_diffusion(double sigma, size_t d, double *out)
{
    for (size_t i = 0; i < d; i++)
        out[i] = sigma;
    return 0;
}
static int ou_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t, (void)n, (void)x;
    return additive_diffusion(((const double *)params)[2], d, out);
}
static void ou_moments(const double *p, double x0, double t, double *mean, double *var)
{
    *mean = p[1] + (x0 - p[1]) * exp(-p[0] * t);
    *var = p[2] * p[2] / (2 * p[0]) * -expm1(-2 * p[0] * t);
}

static double ou_pdf(const double *p, double x0, double t, double x)
{
    double m, v;
    ou_moments(p, x0, t, &m, &v);
    return exp(-(x - m) * (x - m) / (2 * v)) / sqrt(2 * M_PI * v);
}

/* ---- double-well: dX = -U'(X) dt + sigma dW, U(x) = a (x^2 - 1)^2 / 4 ---- */
static int dw_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const double a = ((const double *)params)[0];
    for (size_t i = 0; i < n * d; i++)
        out[i] = -a * x[i] * (x[i] * x[i] - 1.0);
    return 0;
}
static int dw_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t, (void)n, (void)x;
    return additive_diffusion(((const double *)params)[1], d, out);
}

/* ---- lorenz: dx = s(y - x) dt, dy = (x(r - z) - y) dt, dz = (xy - b z) dt, + sigma dW ---- */
static int lorenz_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const double *p = params;
    for (size_t i = 0; i < n; i++) {
        const double *u = x + i * d;
        double *du = out + i * d;
        du[0] = p[0] * (u[1] - u[0]);
        du[1] = u[0] * (p[1] - u[2]) - u[1];
        du[2] = u[0] * u[1] - p[2] * u[2];
    }
    return 0;
}
static int lorenz_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t, (void)n, (void)x;
    return additive_diffusion(((const double *)params)[3], d, out);
}

static const builtin_sde builtin_sdes[] = {
    {"gbm", "geometric Brownian motion dX = mu X dt + sigma X dW", 1, SLV_NOISE_DIAGONAL, 0,
     {"mu", "sigma"}, {0.05, 0.2}, 1.0, gbm_drift, gbm_diffusion, gbm_diffusion_dx, gbm_moments, gbm_pdf},
    {"ou", "Ornstein-Uhlenbeck dX = theta (mu - X) dt + sigma dW", 1, SLV_NOISE_DIAGONAL, 1,
     {"theta", "mu", "sigma"}, {1.0, 0.0, 0.5}, 1.0, ou_drift, ou_diffusion, NULL, ou_moments, ou_pdf},
    {"double-well", "Langevin in U = a (x^2-1)^2/4: dX = -a X (X^2 - 1) dt + sigma dW", 1,
     SLV_NOISE_DIAGONAL, 1, {"a", "sigma"}, {1.0, 0.7}, 0.0, dw_drift, dw_diffusion, NULL, NULL, NULL},
    {"lorenz", "Lorenz system with additive noise sigma dW (3 components)", 3, SLV_NOISE_DIAGONAL, 1,
     {"s", "r", "b", "sigma"}, {10.0, 28.0, 8.0 / 3.0, 1.0}, 1.0, lorenz_drift, lorenz_diffusion,
     NULL, NULL, NULL},
};
#define N_BUILTIN (sizeof builtin_sdes / sizeof builtin_sdes[0])

typedef struct exact_pdf_params {
    const builtin_sde *sde;
    const double *p;
    double x0, t;
} exact_pdf_params;

static double exact_pdf_at(double x, void *params)
{
    const exact_pdf_params *e = params;
    return e->sde->exact_pdf(e->p, e->x0, e->t, x);
}

typedef struct param_list {
    char names[16][32];
    double values[16];
    int count;
} param_list;

static int parse_param(const char *value, void *dest, scoresde_error *err)
{
    param_list *pl = dest;
    const char *eq = strchr(value, '=');
    char *end;
    if (!eq || eq == value || (size_t)(eq - value) >= sizeof pl->names[0]) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' is not of the form name=value", value);
        return -1;
    }
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !isfinite(v)) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s': value is not a finite number", value);
        return -1;
    }
    if (pl->count == 16) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "too many parameters");
        return -1;
    }
    snprintf(pl->names[pl->count], sizeof pl->names[0], "%.*s", (int)(eq - value), value);
    pl->values[pl->count++] = v;
    return 0;
}

typedef struct solve_output {
    FILE *fp;
    size_t m;
    double t1;        /* the final rows are written after the solve, with the solver's W(t1) */
    /* W(t) - W(t0) at the intermediate rows (--save-every): the solver's Brownian tree, rebuilt
     * from the same seed, summed over the dyadic nodes that tile the first k steps (as the solver
     * sums w_final over those of N) */
    slv_brownian *bm;
    unsigned level;   /* step k of the solve is node (level, k) */
    size_t every, n_observed;
    double *w, *dw;   /* (paths, m) */
    /* for --plot: component 0 of the first PLOT_PATHS paths at each observed time */
    int plot;
    double *times, *values;
    size_t n_times, cap_times, n_plot;
} solve_output;

/* out->w = W over the first k steps of every path. */
static int brownian_to_step(solve_output *out, size_t n, size_t k)
{
    memset(out->w, 0, n * out->m * sizeof *out->w);
    uint64_t start = 0;
    for (int bit = 63; bit >= 0; bit--) {
        if (!(((uint64_t)k >> bit) & 1))
            continue;
        if ((unsigned)bit > out->level ||
            slv_brownian_interval(out->bm, out->level - (unsigned)bit, start >> bit, out->dw, NULL) != SLV_OK)
            return -1;
        for (size_t e = 0; e < n * out->m; e++)
            out->w[e] += out->dw[e];
        start += UINT64_C(1) << bit;
    }
    return 0;
}

#define PLOT_PATHS 20

static int record_paths(solve_output *out, double t, size_t n, size_t d, const double *x)
{
    if (out->n_times == out->cap_times) {
        size_t cap = out->cap_times ? 2 * out->cap_times : 64;
        double *times = realloc(out->times, cap * sizeof *times);
        if (times)
            out->times = times;
        double *values = times ? realloc(out->values, cap * PLOT_PATHS * sizeof *values) : NULL;
        if (!values)
            return -1;
        out->values = values;
        out->cap_times = cap;
    }
    out->n_plot = n < PLOT_PATHS ? n : PLOT_PATHS;
    out->times[out->n_times] = t;
    for (size_t p = 0; p < out->n_plot; p++)
        out->values[out->n_times * PLOT_PATHS + p] = x[p * d];
    out->n_times++;
    return 0;
}

static void write_rows(FILE *fp, double t, size_t n, size_t d, const double *x, size_t m,
                       const double *w, int with_time)
{
    for (size_t p = 0; p < n; p++) {
        fprintf(fp, "%zu", p);
        for (size_t i = 0; i < d; i++)
            fprintf(fp, ",%.17g", x[p * d + i]);
        for (size_t k = 0; k < m; k++)
            if (w)
                fprintf(fp, ",%.17g", w[p * m + k]);
            else
                fputc(',', fp);
        if (with_time)
            fprintf(fp, ",%.17g", t);
        fputc('\n', fp);
    }
}

static int observe_rows(double t, size_t n, size_t d, const double *x, void *data)
{
    solve_output *out = data;
    size_t k = out->n_observed++ * out->every; /* steps done: the observer sees t0, then every K */
    if (out->fp && t != out->t1) {
        if (brownian_to_step(out, n, k))
            return -1;
        write_rows(out->fp, t, n, d, x, out->m, out->w, 1);
    }
    if (out->plot && record_paths(out, t, n, d, x))
        return -1;
    return cli_interrupted;
}

/* The callbacks' params: the SDE's parameters, and the furthest time the drift was asked for —
 * how far an interrupted adaptive solve, whose paths advance separately, had come. */
typedef struct solve_params {
    double p[MAX_PARAMS];
    const builtin_sde *sde;
    double t0, t1, t_far;
    progress *bar; /* moved by the furthest time reached (NULL: none) */
} solve_params;

static int tracked_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    solve_params *sp = params;
    if (sp->t1 > sp->t0 ? t > sp->t_far : t < sp->t_far)
        sp->t_far = t;
    /* the steppers call the drift on the whole batch, outside their parallel loops */
    if (sp->bar)
        progress_update_partial(sp->bar, (double)sp->bar->total * (sp->t_far - sp->t0) / (sp->t1 - sp->t0));
    return sp->sde->drift(t, n, d, x, out, sp->p);
}
static int tracked_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    solve_params *sp = params;
    return sp->sde->diffusion(t, n, d, x, out, sp->p);
}
static int tracked_diffusion_dx(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    solve_params *sp = params;
    return sp->sde->diffusion_dx(t, n, d, x, out, sp->p);
}

static const cli_command solve_command = {
    "solve",
    "Integrates a built-in SDE for many paths with one of the generic steppers, prints a summary\n"
    "(mean and variance of each component at t1, beside the exact values for gbm and ou) and\n"
    "optionally writes the paths as CSV: path,x0..x{d-1},w0..w{m-1} (w = W(t1) - W(t0)), plus a\n"
    "trailing t column and intermediate rows with --save-every (there w = W(t) - W(t0) of the same\n"
    "Brownian path, so strong errors can be checked at every saved time).\n"
    "Methods: em (Euler-Maruyama), milstein, sra1/sra3 (Rößler's SRA, additive noise), sriw1/sriw2\n"
    "(Rößler's SRI, diagonal noise; sri2 is another name for sriw1), adaptive (error-controlled\n"
    "steps per path: SRA1 for additive noise, SRIW1 otherwise).\n"
    "SDEs and their parameters (--param name=value):\n"
    "  gbm          mu=0.05 sigma=0.2, x0=1\n"
    "  ou           theta=1 mu=0 sigma=0.5, x0=1\n"
    "  double-well  a=1 sigma=0.7, x0=0\n"
    "  lorenz       s=10 r=28 b=8/3 sigma=1, x0=1,1,1",
    "--sde NAME [options]",
    "scoresde solve --sde gbm --param mu=0.1 --param sigma=0.3 --method sri2 --steps 256 --paths 10000 --out gbm.csv"};

/* What the command line asks for, checked. */
typedef struct solve_request {
    const builtin_sde *sde;
    solve_params params;           /* the SDE's parameters (and its time span, for the callbacks) */
    double x0[MAX_DIM];
    const char *method, *out_path, *plot_prefix;
    const slv_sde_step_type *type; /* the stepper; adaptive: the one with an error estimate */
    int adaptive;
    double rtol, atol;
    size_t steps, paths, save_every;
    uint64_t seed;
    long threads;
    int quiet;
} solve_request;

enum { SOLVE_GO_ON = -1 }; /* parse_request: the command runs; any other value is its exit status */

static int parse_request(int argc, char **argv, solve_request *r)
{
    const char *sde_name = "gbm", *method = "em", *out_path = NULL, *x0_text = NULL, *plot_prefix = NULL;
    double t0 = 0.0, t1 = 1.0, rtol = 1e-3, atol = 1e-3;
    size_t steps = 100, paths = 1000, save_every = 0;
    uint64_t seed = 1;
    long threads = 0;
    int quiet = 0;
    param_list params = {0};
    cli_option opts[] = {
        {"sde", CLI_CHOICE, &sde_name, "the equation", "gbm,ou,double-well,lorenz", 0, 0, 0, NULL, 0},
        {"param", CLI_REPEAT, &params, "set a parameter, name=value (repeatable)", NULL, 0, 0, 0,
         parse_param, 0},
        {"x0", CLI_STRING, &x0_text, "initial state, one value or d comma-separated values"
         CLI_DEFAULT_IS("the SDE's own, above"), NULL, 0, 0, 0, NULL, 0},
        {"t0", CLI_DOUBLE, &t0, "start time", NULL, -1e300, 1e300, 0, NULL, 0},
        {"t1", CLI_DOUBLE, &t1, "end time (> t0)", NULL, -1e300, 1e300, 0, NULL, 0},
        {"method", CLI_CHOICE, &method,
         "stepper (above; sri2 = sriw1)",
         "em,milstein,sra1,sra3,sri2,sriw1,sriw2,adaptive", 0, 0, 0, NULL, 0},
        {"steps", CLI_SIZE, &steps, "number of equal steps (fixed-step methods)", NULL, 1, 1e12, 0,
         NULL, 0},
        {"rtol", CLI_DOUBLE, &rtol, "relative tolerance (adaptive)", NULL, 0, 1, 1, NULL, 0},
        {"atol", CLI_DOUBLE, &atol, "absolute tolerance (adaptive)", NULL, 0, 1e300, 1, NULL, 0},
        {"paths", CLI_SIZE, &paths, "number of independent paths", NULL, 1, 1e9, 0, NULL, 0},
        {"seed", CLI_U64, &seed, "seed of the Brownian paths", NULL, 0, 0, 0, NULL, 0},
        {"threads", CLI_INT, &threads,
         "at most this many OpenMP threads (0: automatic; a batch too small to split runs on "
         "one); results do not depend on it",
         NULL, 0, 1024, 0, NULL, 0},
        {"save-every", CLI_SIZE, &save_every, "also write every N-th step (fixed-step methods; 0: t1 only)", NULL,
         0, 1e12, 0, NULL, 0},
        {"out", CLI_STRING, &out_path, "CSV file for the paths (written atomically)"
         CLI_DEFAULT_IS("none: the summary only"), NULL, 0, 0, 0, NULL, 0},
        {"plot", CLI_STRING, &plot_prefix,
         "write PREFIX_hist.png (x0 at t1 against the exact density for gbm, ou) and, with "
         "--save-every, PREFIX_paths.png (x0 of the first 20 paths over time)"
         CLI_DEFAULT_IS("none: no plots"), NULL, 0, 0, 0, NULL, 0},
        {"quiet", CLI_FLAG, &quiet, "no progress output", NULL, 0, 0, 0, NULL, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0},
    };
    int rc = cli_parse(&solve_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;

    const builtin_sde *b = NULL;
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (strcmp(builtin_sdes[i].name, sde_name) == 0)
            b = &builtin_sdes[i];
    if (!(t1 > t0))
        return cli_usage_error(&solve_command, "--t1 %g must be greater than --t0 %g", t1, t0);

    *r = (solve_request){.sde = b, .params = {{0}, b, t0, t1, t0}, .method = method, .out_path = out_path,
                         .plot_prefix = plot_prefix, .rtol = rtol, .atol = atol, .steps = steps,
                         .paths = paths, .save_every = save_every, .seed = seed, .threads = threads,
                         .quiet = quiet};
    double *p = r->params.p;
    memcpy(p, b->param_defaults, sizeof r->params.p);
    for (int i = 0; i < params.count; i++) {
        int found = 0;
        for (int k = 0; k < MAX_PARAMS && b->param_names[k]; k++)
            if (strcmp(params.names[i], b->param_names[k]) == 0) {
                p[k] = params.values[i];
                found = 1;
            }
        if (!found)
            return cli_usage_error(&solve_command, "--param %s: '%s' has no parameter '%s' (see --help)",
                                   params.names[i], b->name, params.names[i]);
    }
    if (strcmp(b->name, "ou") == 0 && !(p[0] > 0))
        return cli_usage_error(&solve_command, "--param theta=%g: ou needs theta > 0", p[0]);

    size_t d = b->dim;
    for (size_t i = 0; i < d; i++)
        r->x0[i] = b->x0_default;
    if (x0_text) {
        scoresde_error error;
        int count = cli_parse_doubles(x0_text, r->x0, MAX_DIM, &error);
        if (count < 0)
            return cli_usage_error(&solve_command, "--x0: %s", error.message);
        if (count == 1)
            for (size_t i = 1; i < d; i++)
                r->x0[i] = r->x0[0];
        else if ((size_t)count != d)
            return cli_usage_error(&solve_command, "--x0: %d values given, '%s' has dimension %zu",
                                   count, b->name, d);
    }

    r->adaptive = strcmp(method, "adaptive") == 0;
    r->type = r->adaptive ? (b->additive ? slv_sde_step_sra1 : slv_sde_step_sriw1) : slv_sde_step_type_by_name(method);
    if (!r->type)
        return cli_usage_error(&solve_command, "--method: '%s' is not available", method);
    if (r->type->needs_additive && !b->additive)
        return cli_usage_error(&solve_command,
                               "--method %s needs additive noise; '%s' has multiplicative noise "
                               "(use em, milstein, sri2 or adaptive)", method, b->name);
    if (r->adaptive && save_every)
        return cli_usage_error(&solve_command, "--save-every works with fixed-step methods only");
    return SOLVE_GO_ON;
}

/* --plot: the histogram of x0 at t1 against the exact density, and the first paths over time. */
static int plot_solution(const solve_request *r, const double *x, const solve_output *sink)
{
    const builtin_sde *b = r->sde;
    const size_t d = b->dim, paths = r->paths;
    const double t0 = r->params.t0, t1 = r->params.t1;
    char path[1024], title[128];
    scoresde_error error;
    double *x0s = malloc(paths * sizeof *x0s);
    if (!x0s)
        return cli_fail("solve", "out of memory");
    for (size_t i = 0; i < paths; i++)
        x0s[i] = x[i * d];
    exact_pdf_params pdf = {b, r->params.p, r->x0[0], t1 - t0};
    snprintf(title, sizeof title, "%s, %s: x0 at t = %g (%zu paths)", b->name, r->type->name, t1, paths);
    snprintf(path, sizeof path, "%s_hist.png", r->plot_prefix);
    int rc = plot_histogram(path, title, x0s, paths, 60, b->exact_pdf ? exact_pdf_at : NULL, &pdf, &error);
    free(x0s);
    if (rc)
        return cli_fail("solve", "--plot %s", error.message);
    if (sink->n_times <= 1)
        return 0;
    /* plot_line_chart wants x per line: repeat the times for each path */
    size_t T = sink->n_times, P = sink->n_plot;
    double *xs = malloc(T * P * sizeof *xs), *ys = malloc(T * P * sizeof *ys);
    if (!xs || !ys) {
        free(xs), free(ys);
        return cli_fail("solve", "out of memory");
    }
    for (size_t l = 0; l < P; l++)
        for (size_t k = 0; k < T; k++) {
            xs[l * T + k] = sink->times[k];
            ys[l * T + k] = sink->values[k * PLOT_PATHS + l];
        }
    snprintf(title, sizeof title, "%s, %s: x0 of %zu paths", b->name, r->type->name, P);
    plot_lines chart = {title, "t", "x0", 0, 0, P, T, xs, ys, NULL, 0};
    snprintf(path, sizeof path, "%s_paths.png", r->plot_prefix);
    rc = plot_line_chart(path, &chart, &error);
    free(xs), free(ys);
    return rc ? cli_fail("solve", "--plot %s", error.message) : 0;
}

/* The summary: what ran, its counters, and each component's moments against the exact ones. */
static void report_solution(const solve_request *r, const slv_sde_solver *solver, const double *x, double seconds)
{
    const builtin_sde *b = r->sde;
    const slv_sde_step_type *type = r->type;
    const size_t d = b->dim, paths = r->paths;
    const double t0 = r->params.t0, t1 = r->params.t1;
    printf("sde        %s (%s)\n", b->name, b->description);
    if (r->adaptive)
        printf("method     adaptive: %s with error control per path, rtol %g, atol %g\n", type->name, r->rtol,
               r->atol);
    else if (strcmp(r->method, type->name) != 0)
        printf("method     %s (another name for %s)\n", r->method, type->name);
    else
        printf("method     %s\n", type->name);
    printf("paths      %zu   t0 %g   t1 %g   seed %llu\n", paths, t0, t1, (unsigned long long)r->seed);
    size_t n_steps = slv_sde_solver_get_n_steps(solver), n_drift = slv_sde_solver_get_n_drift_evals(solver),
           n_diffusion = slv_sde_solver_get_n_diffusion_evals(solver);
    if (r->adaptive) {
        printf("steps      %zu accepted, %zu rejected, summed over the %zu paths (%.1f accepted per path; "
               "each path has its own steps)\n", n_steps, slv_sde_solver_get_n_rejected(solver), paths,
               (double)n_steps / (double)paths);
        printf("evals      %zu drift, %zu diffusion: batched calls, each on every path due at that time\n",
               n_drift, n_diffusion);
    } else {
        printf("steps      %zu of h = %g, the same for every path\n", n_steps, (t1 - t0) / (double)r->steps);
        printf("evals      %zu drift, %zu diffusion: batched calls, each on all %zu paths\n", n_drift,
               n_diffusion, paths);
    }
    printf("wall time  %.3f s\n", seconds);
    if (r->out_path)
        printf("written    %s (%s)\n", r->out_path,
               r->save_every ? "every path at t0, every --save-every steps and t1" : "every path at t1");
    printf("\n");
    printf("%-10s %14s %14s %14s %14s %12s\n", "component", "mean", "exact mean", "variance",
           "exact var", "mean SE");
    for (size_t i = 0; i < d; i++) {
        double mean = 0, var = 0;
        for (size_t k = 0; k < paths; k++)
            mean += x[k * d + i];
        mean /= (double)paths;
        for (size_t k = 0; k < paths; k++)
            var += (x[k * d + i] - mean) * (x[k * d + i] - mean);
        var /= paths > 1 ? (double)(paths - 1) : 1.0;
        char exact_mean[32] = "-", exact_var[32] = "-";
        if (b->exact_moments) {
            double em, ev;
            b->exact_moments(r->params.p, r->x0[i], t1 - t0, &em, &ev);
            snprintf(exact_mean, sizeof exact_mean, "%.6g", em);
            snprintf(exact_var, sizeof exact_var, "%.6g", ev);
        }
        printf("x%-9zu %14.6g %14s %14.6g %14s %12.2g\n", i, mean, exact_mean, var, exact_var,
               sqrt(var / (double)paths));
    }
}

int cmd_solve(int argc, char **argv)
{
    solve_request r;
    int rc = parse_request(argc, argv, &r);
    if (rc != SOLVE_GO_ON)
        return rc;
    const builtin_sde *b = r.sde;
    const size_t d = b->dim, m = d, paths = r.paths;
    const double t0 = r.params.t0, t1 = r.params.t1;
    solve_params *sp = &r.params;

    slv_sde sys = {tracked_drift, tracked_diffusion, b->diffusion_dx ? tracked_diffusion_dx : NULL, d, m,
                   b->noise, b->additive, sp};
    double *x = malloc(paths * d * sizeof *x), *w = malloc(paths * m * sizeof *w);
    slv_sde_solver *solver = slv_sde_solver_alloc(r.type, &sys, paths);
    atomic_file af = {0};
    solve_output sink = {NULL, m, t1, NULL, 0, r.save_every, 0, NULL, NULL, r.plot_prefix != NULL, NULL, NULL, 0, 0, 0};
    scoresde_error error;
    int status = 1;
    if (!x || !w || !solver) {
        cli_fail("solve", "out of memory for %zu paths of dimension %zu", paths, d);
        goto done;
    }
    if (r.save_every && r.out_path) {
        double root = slv_brownian_root_length(fabs(t1 - t0), r.steps, &sink.level);
        sink.bm = root > 0 ? slv_brownian_alloc(paths, m, root, r.seed, 0) : NULL;
        sink.w = malloc(paths * m * sizeof *sink.w);
        sink.dw = malloc(paths * m * sizeof *sink.dw);
        if (!sink.bm || !sink.w || !sink.dw) {
            cli_fail("solve", "out of memory for the Brownian paths of %zu paths", paths);
            goto done;
        }
    }
    for (size_t i = 0; i < paths; i++)
        memcpy(x + i * d, r.x0, d * sizeof *x);
    slv_sde_solver_set_seed(solver, r.seed, 0);
    slv_sde_solver_set_threads(solver, (int)r.threads);
    slv_sde_solver_set_interrupt(solver, &cli_interrupted);
    if (r.out_path) {
        if (atomic_open(&af, r.out_path, &error)) {
            cli_fail("solve", "--out %s", error.message);
            goto done;
        }
        fprintf(af.fp, "path");
        for (size_t i = 0; i < d; i++)
            fprintf(af.fp, ",x%zu", i);
        for (size_t k = 0; k < m; k++)
            fprintf(af.fp, ",w%zu", k);
        fprintf(af.fp, r.save_every ? ",t\n" : "\n");
        sink.fp = af.fp;
    }
    if (r.save_every && (r.out_path || r.plot_prefix))
        slv_sde_solver_set_observer(solver, observe_rows, &sink, r.save_every);

    /* progress in steps, or for adaptive paths, which advance separately, in percent of the span
     * the furthest has covered */
    progress bar;
    progress_start(&bar, "solve", r.adaptive ? 100 : r.steps, r.quiet);
    sp->bar = &bar;
    double start = wall_seconds();
    if (r.adaptive) {
        slv_sde_solver_set_tolerances(solver, r.rtol, r.atol);
        rc = slv_sde_solver_solve_adaptive(solver, t0, t1, x, w);
    } else {
        rc = slv_sde_solver_solve_fixed(solver, t0, t1, r.steps, x, w);
    }
    double seconds = wall_seconds() - start;
    sp->bar = NULL;
    if (rc == SLV_OK) /* the drift is last asked for at the last step's start */
        progress_update(&bar, bar.total);
    progress_finish(&bar);
    if (rc != SLV_OK) {
        const slv_error *e = slv_sde_solver_get_error(solver);
        if (rc == SLV_EINTERRUPTED && r.adaptive) {
            cli_fail("solve", "interrupted after %.2f s; the paths, which advance separately, had reached "
                     "at most t = %g (%.0f%% of the span); nothing written", seconds, sp->t_far,
                     100.0 * (sp->t_far - t0) / (t1 - t0));
            status = EXIT_INTERRUPTED;
        } else if (rc == SLV_EINTERRUPTED) {
            cli_fail("solve", "interrupted at t = %g after %.2f s (%zu of %zu steps); nothing written", e->t,
                     seconds, slv_sde_solver_get_n_steps(solver), r.steps);
            status = EXIT_INTERRUPTED;
        } else {
            cli_fail("solve", "%s at t = %g, path %ld: %s", slv_strerror(rc), e->t, e->path, e->message);
        }
        goto done;
    }
    if (r.out_path) {
        /* With --save-every the observer wrote the earlier rows; these carry W(t1). */
        write_rows(af.fp, t1, paths, d, x, m, w, r.save_every > 0);
        if (atomic_commit(&af, &error)) {
            cli_fail("solve", "--out %s", error.message);
            goto done;
        }
    }
    if (r.plot_prefix && plot_solution(&r, x, &sink))
        goto done;
    report_solution(&r, solver, x, seconds);
    status = 0;
done:
    if (af.fp)
        atomic_abort(&af);
    slv_sde_solver_free(solver);
    free(x);
    free(w);
    free(sink.times);
    free(sink.values);
    free(sink.w);
    free(sink.dw);
    slv_brownian_free(sink.bm);
    return status;
}
