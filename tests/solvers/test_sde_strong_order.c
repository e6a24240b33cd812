/* test_sde_strong_order.c — strong convergence orders of every SDE method, measured as the
 * log–log slope of mean |X_h(T) − X_ref(T)| over four dyadic step sizes on one Brownian tree.
 *
 * Reference: the exact solution from the same path's W(T) for GBM; for the problems without a
 * closed form SRA1 (additive noise) or SRIW1 (nonlinear diagonal noise) with 2^12 steps on the
 * same tree. GBM's g is linear, where the derivative-free Milstein is exact and equals the one
 * with diffusion_dx; the nonlinear-noise problem tells them apart. The slope's standard error
 * comes from 20 disjoint groups of paths and must be below 0.1; the slope must lie within
 * ±0.15 of the theoretical order.
 *
 * Step range N = 32..256 over T = 1: at coarser steps the error terms of higher order still
 * dominate (SRA1 measured 1.71 over N = 8..64 on the scalar additive problem, SRIW1 1.43 over
 * 16..128 on GBM), i.e. the asymptotic regime starts around h = 1/32 for these parameters. The
 * reference's own error (2^12 steps, 16 times finer than the finest tested) is ~1/64 of the
 * finest error for an order-1.5 method.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde.h"
#include "test_sde_problems.h"

#define N_LEVELS 4
#define N_GROUPS 20
#define SEED 20240521u
#define REF_STEPS 4096
#define T_END 1.0

enum problem { GBM_DIAGONAL, GBM_SCALAR, ADDITIVE_SCALAR, ADDITIVE_GENERAL, NONLINEAR_DIAGONAL };
static const char *problem_names[] = {"GBM (diagonal, d = 2)", "GBM (scalar, d = 1)",
                                      "additive (scalar, b = σ(1+t))",
                                      "additive (general, d = 2, m = 3)",
                                      "g = 1 + sin(x)/2 (diagonal, d = 2)"};

typedef struct order_case {
    const char *method;
    enum problem problem;
    int use_dx;         /* Milstein: pass diffusion_dx */
    double order;       /* theory */
    size_t first_steps; /* coarsest N; then 2N, 4N, 8N */
    size_t n_paths;
} order_case;

static gbm_params gbm = {.mu = 1.0, .sigma = 1.0};
static additive_params additive = {.sigma = 2.0};


static slv_sde make_system(enum problem problem, int use_dx)
{
    slv_sde sys = {0};
    switch (problem) {
    case GBM_DIAGONAL:
    case GBM_SCALAR:
        sys.drift = gbm_drift;
        sys.diffusion = gbm_diffusion;
        sys.dim = problem == GBM_DIAGONAL ? 2 : 1;
        sys.noise_dim = sys.dim;
        sys.noise = problem == GBM_DIAGONAL ? SLV_NOISE_DIAGONAL : SLV_NOISE_SCALAR;
        /* d = 1: (∂g/∂x) g = σ² x for scalar noise; ∂g/∂x = σ for diagonal. */
        sys.diffusion_dx = use_dx ? gbm_diffusion_dx_diagonal : NULL;
        sys.params = &gbm;
        break;
    case ADDITIVE_SCALAR:
        sys.drift = additive_drift;
        sys.diffusion = additive_diffusion;
        sys.dim = 1;
        sys.noise_dim = 1;
        sys.noise = SLV_NOISE_SCALAR;
        sys.additive = 1;
        sys.params = &additive;
        break;
    case NONLINEAR_DIAGONAL:
        sys.drift = nonlinear_drift;
        sys.diffusion = nonlinear_diffusion;
        sys.diffusion_dx = use_dx ? nonlinear_diffusion_dx : NULL;
        sys.dim = 2;
        sys.noise_dim = 2;
        sys.noise = SLV_NOISE_DIAGONAL;
        break;
    case ADDITIVE_GENERAL:
        sys.drift = general_drift;
        sys.diffusion = general_diffusion;
        sys.dim = 2;
        sys.noise_dim = 3;
        sys.noise = SLV_NOISE_GENERAL;
        sys.additive = 1;
        sys.params = &additive;
        break;
    }
    return sys;
}

/* Scalar GBM's diffusion_dx must return (∂g/∂x)·g = σ²x. */
static int gbm_scalar_dx(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    const gbm_params *g = params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = g->sigma * g->sigma * x[e];
    return 0;
}

static void initial_state(const slv_sde *sys, size_t n, double *x)
{
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < sys->dim; i++)
            x[p * sys->dim + i] = 1.0 - 0.25 * (double)i;
}

/* Solves n paths with `steps` fixed steps; x receives X(T), w (may be NULL) W(T). */
static void solve(const slv_sde_step_type *type, const slv_sde *sys, size_t n, size_t steps,
                  double *x, double *w)
{
    slv_sde_solver *s = slv_sde_solver_alloc(type, sys, n);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(slv_sde_solver_set_seed(s, SEED, 0), SLV_OK);
    /* One thread: these batches are too small to gain from more, and spinning OpenMP threads
     * on a loaded machine only cost time. Thread independence is tested elsewhere. */
    ck_assert_int_eq(slv_sde_solver_set_threads(s, 1), SLV_OK);
    initial_state(sys, n, x);
    int rc = slv_sde_solver_solve_fixed(s, 0.0, T_END, steps, x, w);
    ck_assert_msg(rc == SLV_OK, "%s, %zu steps: %s", type->name, steps,
                  slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
}

static void measure_order(const order_case *c)
{
    slv_sde sys = make_system(c->problem, c->use_dx);
    if (c->problem == GBM_SCALAR && c->use_dx)
        sys.diffusion_dx = gbm_scalar_dx;
    const slv_sde_step_type *type = slv_sde_step_type_by_name(c->method);
    ck_assert_ptr_nonnull(type);
    const size_t n = c->n_paths, d = sys.dim, m = sys.noise_dim;
    double *ref = malloc(n * d * sizeof(double));
    double *x = malloc(n * d * sizeof(double));
    double *w = malloc(n * m * sizeof(double));
    double *err = malloc(N_LEVELS * n * sizeof(double));
    double log_h[N_LEVELS];

    int is_gbm = c->problem == GBM_DIAGONAL || c->problem == GBM_SCALAR;
    if (!is_gbm) {
        /* The reference depends on the problem and the number of paths only: computed once. */
        static double *cached[5];
        static size_t cached_n[5];
        if (cached[c->problem] == NULL || cached_n[c->problem] != n) {
            free(cached[c->problem]);
            cached[c->problem] = malloc(n * d * sizeof(double));
            cached_n[c->problem] = n;
            solve(sys.additive ? slv_sde_step_sra1 : slv_sde_step_sriw1, &sys, n, REF_STEPS,
                  cached[c->problem], NULL);
        }
        memcpy(ref, cached[c->problem], n * d * sizeof(double));
    }
    for (size_t l = 0; l < N_LEVELS; l++) {
        size_t steps = c->first_steps << l;
        log_h[l] = log(T_END / (double)steps);
        solve(type, &sys, n, steps, x, w);
        if (is_gbm) {
            double x0[2];
            initial_state(&sys, 1, x0);
            for (size_t p = 0; p < n; p++)
                for (size_t i = 0; i < d; i++)
                    ref[p * d + i] = gbm_exact(&gbm, x0[i], T_END, w[p * m + (m == 1 ? 0 : i)]);
        }
        for (size_t p = 0; p < n; p++) {
            double sq = 0.0;
            for (size_t i = 0; i < d; i++) {
                double e = x[p * d + i] - ref[p * d + i];
                sq += e * e;
            }
            err[l * n + p] = sqrt(sq);
        }
    }
    double slope, se;
    order_with_se(log_h, err, N_LEVELS, n, N_GROUPS, &slope, &se);
    double mean_coarse = 0.0, mean_fine = 0.0;
    for (size_t p = 0; p < n; p++) {
        mean_coarse += err[p] / (double)n;
        mean_fine += err[(N_LEVELS - 1) * n + p] / (double)n;
    }
    printf("%-9s%s %-34s N = %zu..%zu, %zu paths: order %.3f ± %.3f (theory %.1f); "
           "mean error %.3e .. %.3e\n",
           c->method, c->use_dx ? "+dx" : "   ", problem_names[c->problem], c->first_steps,
           c->first_steps << (N_LEVELS - 1), n, slope, se, c->order, mean_coarse, mean_fine);
    ck_assert_msg(se < 0.1, "%s on %s: standard error of the slope %.3f >= 0.1", c->method,
                  problem_names[c->problem], se);
    ck_assert_msg(fabs(slope - c->order) <= 0.15, "%s on %s: strong order %.3f ± %.3f, expected %.1f ± 0.15",
                  c->method, problem_names[c->problem], slope, se, c->order);
    free(ref);
    free(x);
    free(w);
    free(err);
}

static const order_case gbm_cases[] = {
    {"em", GBM_DIAGONAL, 0, 0.5, 32, 4000},
    {"milstein", GBM_DIAGONAL, 1, 1.0, 32, 2000},
    {"milstein", GBM_DIAGONAL, 0, 1.0, 32, 2000},
    {"milstein", GBM_SCALAR, 1, 1.0, 32, 2000},
    {"sriw1", GBM_DIAGONAL, 0, 1.5, 32, 2000},
    {"sriw2", GBM_DIAGONAL, 0, 1.5, 32, 2000},
    {"sriw1", GBM_SCALAR, 0, 1.5, 32, 2000},
};

static const order_case nonlinear_cases[] = {
    {"em", NONLINEAR_DIAGONAL, 0, 0.5, 32, 4000},
    {"milstein", NONLINEAR_DIAGONAL, 1, 1.0, 32, 2000},
    {"milstein", NONLINEAR_DIAGONAL, 0, 1.0, 32, 2000},
    {"sriw1", NONLINEAR_DIAGONAL, 0, 1.5, 32, 2000},
    {"sriw2", NONLINEAR_DIAGONAL, 0, 1.5, 32, 2000},
};

static const order_case additive_cases[] = {
    {"em", ADDITIVE_SCALAR, 0, 1.0, 32, 2000},
    {"sra1", ADDITIVE_SCALAR, 0, 1.5, 32, 2000},
    {"sra3", ADDITIVE_SCALAR, 0, 1.5, 32, 2000},
};

static const order_case general_cases[] = {
    {"em", ADDITIVE_GENERAL, 0, 1.0, 32, 2000},
    {"sra1", ADDITIVE_GENERAL, 0, 1.5, 32, 2000},
    {"sra3", ADDITIVE_GENERAL, 0, 1.5, 32, 2000},
};

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

START_TEST(test_strong_order_on_gbm_matches_theory)
{
    measure_order(&gbm_cases[_i]);
}
END_TEST

START_TEST(test_strong_order_on_nonlinear_diagonal_noise_matches_theory)
{
    measure_order(&nonlinear_cases[_i]);
}
END_TEST

START_TEST(test_strong_order_on_additive_noise_with_time_dependent_diffusion)
{
    measure_order(&additive_cases[_i]);
}
END_TEST

START_TEST(test_strong_order_on_general_additive_noise_with_three_wiener_processes)
{
    measure_order(&general_cases[_i]);
}
END_TEST

static Suite *strong_order_suite(void)
{
    Suite *s = suite_create("sde_strong_order");
    TCase *tc = tcase_create("strong_order");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_strong_order_on_gbm_matches_theory, 0, COUNT(gbm_cases));
    tcase_add_loop_test(tc, test_strong_order_on_nonlinear_diagonal_noise_matches_theory, 0,
                        COUNT(nonlinear_cases));
    tcase_add_loop_test(tc, test_strong_order_on_additive_noise_with_time_dependent_diffusion, 0,
                        COUNT(additive_cases));
    tcase_add_loop_test(tc, test_strong_order_on_general_additive_noise_with_three_wiener_processes,
                        0, COUNT(general_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(strong_order_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
