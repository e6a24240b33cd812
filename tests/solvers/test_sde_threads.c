/* test_sde_threads.c — how many threads a parallel region gets (slv_sde_team, the grains of
 * slv_sde_impl.h), and that regions which do fork give the bits of one thread: batches sized from
 * the grains so that every loop of a step and the Brownian queries are split over two threads.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slv_sde.h"
#include "slv_sde_impl.h"
#include "test_sde_problems.h"

/* ---- Team sizes ---------------------------------------------------------------------------- */

START_TEST(test_a_region_below_two_grains_runs_on_one_thread)
{
    ck_assert_int_eq(slv_sde_team(8, 0, 100), 1);
    ck_assert_int_eq(slv_sde_team(8, 199, 100), 1);
    ck_assert_int_eq(slv_sde_team(0, 199, 100), 1);
    ck_assert_int_eq(slv_sde_team(1, 1000000, 100), 1);
    ck_assert_int_eq(slv_sde_team(8, 1000, 0), 8); /* a zero grain counts as 1 */
}
END_TEST

START_TEST(test_an_asked_for_team_has_one_thread_per_grain_at_most_the_threads_asked)
{
    ck_assert_int_eq(slv_sde_team(2, 200, 100), 2);
    ck_assert_int_eq(slv_sde_team(8, 299, 100), 2);
    ck_assert_int_eq(slv_sde_team(8, 300, 100), 3);
    ck_assert_int_eq(slv_sde_team(8, 100000, 100), 8);
    ck_assert_int_eq(slv_sde_team(3, (size_t)1 << 40, 1), 3);
}
END_TEST

/* Automatic teams (threads = 0) follow the wait policy the process started with: one thread per
 * grain when idle threads sleep (ctest runs this with OMP_WAIT_POLICY=passive), per
 * SLV_OMP_SPIN_FACTOR grains when they spin. Needs OMP_NUM_THREADS >= 2 to know the cap. */
START_TEST(test_an_automatic_team_needs_more_work_when_idle_threads_spin)
{
    const char *policy = getenv("OMP_WAIT_POLICY"), *count = getenv("GOMP_SPINCOUNT");
    const char *threads = getenv("OMP_NUM_THREADS");
    if (threads == NULL || atoi(threads) < 2)
        return;
    int spin = count != NULL ? strcmp(count, "0") != 0
                             : !(policy != NULL && strcasecmp(policy, "passive") == 0);
    printf("automatic team: idle threads %s\n", spin ? "spin" : "sleep");
    ck_assert_int_eq(slv_sde_team(0, 199, 100), 1);
    ck_assert_int_eq(slv_sde_team(0, 200, 100), spin ? 1 : 2);
    ck_assert_int_eq(slv_sde_team(0, 2 * SLV_OMP_SPIN_FACTOR * 100 - 1, 100), spin ? 1 : 2);
    ck_assert_int_eq(slv_sde_team(0, 2 * SLV_OMP_SPIN_FACTOR * 100, 100), 2);
}
END_TEST

/* ---- Forked regions give the bits of one thread ------------------------------------------- */

static gbm_params gbm = {.mu = 0.8, .sigma = 0.6};
static additive_params additive = {.sigma = 1.0};

/* General additive noise in d = 8 with m = 2: f = −x, b(t)_ik = σ(1 + t)(1 + i/10 + k/5). */
static int wide_drift(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = -x[e];
    return 0;
}

static int wide_diffusion(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)n;
    (void)x;
    const double sigma = ((const additive_params *)params)->sigma;
    for (size_t i = 0; i < d; i++)
        for (size_t k = 0; k < 2; k++)
            out[i * 2 + k] = sigma * (1.0 + t) * (1.0 + 0.1 * (double)i + 0.2 * (double)k);
    return 0;
}

/* Scalar noise and d = 8 keep the Brownian queries (one per path) cheap beside the 2^21
 * numbers; one diagonal case with d = 1 has a query per number. */
typedef enum { GBM_SCALAR, GBM_DIAGONAL, ADDITIVE_SCALAR, WIDE_GENERAL } thread_system;

typedef struct thread_case {
    const char *method;
    thread_system system;
} thread_case;

static const thread_case thread_cases[] = {
    {"em", GBM_SCALAR},         {"milstein", GBM_SCALAR}, {"sriw1", GBM_DIAGONAL},
    {"sriw2", GBM_SCALAR},      {"sra1", WIDE_GENERAL},   {"sra3", ADDITIVE_SCALAR},
    {"em", WIDE_GENERAL},
};

static slv_sde thread_case_system(thread_system system)
{
    switch (system) {
    case GBM_SCALAR:
        return (slv_sde){.drift = gbm_drift, .diffusion = gbm_diffusion, .dim = 8, .noise_dim = 1,
                         .noise = SLV_NOISE_SCALAR, .params = &gbm};
    case GBM_DIAGONAL:
        return (slv_sde){.drift = gbm_drift, .diffusion = gbm_diffusion, .dim = 1, .noise_dim = 1,
                         .noise = SLV_NOISE_DIAGONAL, .params = &gbm};
    case ADDITIVE_SCALAR:
        return (slv_sde){.drift = additive_drift, .diffusion = additive_diffusion, .dim = 8,
                         .noise_dim = 1, .noise = SLV_NOISE_SCALAR, .additive = 1,
                         .params = &additive};
    default:
        return (slv_sde){.drift = wide_drift, .diffusion = wide_diffusion, .dim = 8, .noise_dim = 2,
                         .noise = SLV_NOISE_GENERAL, .additive = 1, .params = &additive};
    }
}

static void solve(const slv_sde_step_type *type, const slv_sde *sys, size_t n, int threads,
                  double *x, double *w)
{
    for (size_t e = 0; e < n * sys->dim; e++)
        x[e] = 1.0 + 1e-6 * (double)e;
    slv_sde_solver *s = slv_sde_solver_alloc(type, sys, n);
    ck_assert_ptr_nonnull(s);
    slv_sde_solver_set_seed(s, 17, 0);
    ck_assert_int_eq(slv_sde_solver_set_threads(s, threads), SLV_OK);
    int rc = slv_sde_solver_solve_fixed(s, 0.0, 1.0, 1, x, w);
    ck_assert_msg(rc == SLV_OK, "%s: %s", type->name, slv_sde_solver_get_error(s)->message);
    slv_sde_solver_free(s);
}

/* n·d = 2·SLV_OMP_GRAIN_NUMBERS: each element-wise loop gets two threads when two are asked for,
 * and n·m >= 2·SLV_OMP_GRAIN_INCREMENTS splits the Brownian queries too. */
START_TEST(test_regions_split_over_two_threads_give_the_bits_of_one)
{
    const thread_case *c = &thread_cases[_i];
    slv_sde sys = thread_case_system(c->system);
    const size_t nd = 2 * (size_t)SLV_OMP_GRAIN_NUMBERS, n = nd / sys.dim, nm = n * sys.noise_dim;
    ck_assert_int_eq(slv_sde_team(2, nd, SLV_OMP_GRAIN_NUMBERS), 2);
    ck_assert_int_eq(slv_sde_team(2, nm, SLV_OMP_GRAIN_INCREMENTS), 2);
    const slv_sde_step_type *type = slv_sde_step_type_by_name(c->method);
    double *x1 = malloc(nd * sizeof(double)), *x2 = malloc(nd * sizeof(double));
    double *w1 = malloc(nm * sizeof(double)), *w2 = malloc(nm * sizeof(double));
    ck_assert(x1 && x2 && w1 && w2);
    solve(type, &sys, n, 1, x1, w1);
    solve(type, &sys, n, 2, x2, w2);
    ck_assert_msg(memcmp(x1, x2, nd * sizeof(double)) == 0, "%s: 1 and 2 threads differ in x",
                  c->method);
    ck_assert_msg(memcmp(w1, w2, nm * sizeof(double)) == 0, "%s: 1 and 2 threads differ in W",
                  c->method);
    free(x1);
    free(x2);
    free(w1);
    free(w2);
}
END_TEST

static int gaussian_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    (void)t;
    (void)params;
    for (size_t e = 0; e < n * d; e++)
        out[e] = -x[e];
    return 0;
}

/* Langevin sizes its team itself (the OpenMP default, automatic): a batch of 2·SLV_OMP_GRAIN_NORMALS
 * numbers forks when idle threads sleep (OMP_WAIT_POLICY=passive, as ctest runs it), its halves do
 * not; the bits are those of the halves (the per-thread generators did share a cache line once). */
START_TEST(test_langevin_split_over_threads_gives_the_bits_of_its_halves)
{
    const size_t d = 4, n = 2 * (size_t)SLV_OMP_GRAIN_NORMALS / d, half = n / 2, steps = 3;
    double *x_all = malloc(n * d * sizeof(double)), *x_parts = malloc(n * d * sizeof(double));
    double *work = malloc(n * d * sizeof(double));
    ck_assert(x_all && x_parts && work);
    for (size_t e = 0; e < n * d; e++)
        x_all[e] = x_parts[e] = 0.5 + 1e-5 * (double)e;
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, n, d, x_all, 0.01, steps, 5, 0,
                                      work, NULL),
                     SLV_OK);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, half, d, x_parts, 0.01, steps, 5,
                                      0, work, NULL),
                     SLV_OK);
    ck_assert_int_eq(slv_langevin_run(gaussian_score, NULL, 0.0, n - half, d, x_parts + half * d,
                                      0.01, steps, 5, half, work, NULL),
                     SLV_OK);
    ck_assert(memcmp(x_all, x_parts, n * d * sizeof(double)) == 0);
    free(x_all);
    free(x_parts);
    free(work);
}
END_TEST

static Suite *threads_suite(void)
{
    Suite *s = suite_create("slv_sde_threads");
    TCase *tc = tcase_create("team");
    tcase_add_test(tc, test_a_region_below_two_grains_runs_on_one_thread);
    tcase_add_test(tc, test_an_asked_for_team_has_one_thread_per_grain_at_most_the_threads_asked);
    tcase_add_test(tc, test_an_automatic_team_needs_more_work_when_idle_threads_spin);
    suite_add_tcase(s, tc);
    tc = tcase_create("bits");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_regions_split_over_two_threads_give_the_bits_of_one, 0,
                        (int)(sizeof thread_cases / sizeof thread_cases[0]));
    tcase_add_test(tc, test_langevin_split_over_threads_gives_the_bits_of_its_halves);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(threads_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
