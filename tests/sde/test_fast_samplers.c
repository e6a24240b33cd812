/* test_fast_samplers.c — the fast samplers (sgm_fast_*, sgm_sampler.h) on the 2-D three-mode
 * mixture with the exact score (sde_test_util.h), for VE, VP and sub-VP.
 *
 *  - Order: each deterministic sampler's RMS error at eps (no denoising) against the
 *    probability-flow ODE solved from the same 32 latents by rk45 at rtol = atol = 1e-10 falls
 *    with its stated order: the least-squares log–log slope over K = 80 .. 640 steps (7 steps of
 *    ×√2) is within ±0.3 of it, on each sampler's default schedule (log-SNR; EDM's for
 *    edm-heun). Why 80 .. 640 and not 10 .. 80: on this mixture the denoiser D(x̂; σ̂) turns
 *    sharply in λ where the trajectories choose their mode, and the third-order multistep
 *    samplers (3M, UniPC, DEIS) are pre-asymptotic until the λ-step is about 0.1 (K ≈ 80 for
 *    λ ranges of 9–14); below that their slopes are 2–2.6 (the table printed by this test lists
 *    both windows; docs/sde.md has it). The one-step samplers are asymptotic from K = 10.
 *  - Stochastic samplers (default options, no denoising, so that the target is p_eps): weak
 *    convergence — the error of E‖x‖² (n = 4000) against the exact second moment of p_eps is
 *    significant (> 8 SE) at K = 10 and within 4 SE at K = 80 — and at K = 80 mode weights,
 *    per-mode means and variances within 4 standard errors (check_modes; at K = 40 the
 *    variances are still up to 4 SE high, docs/sde.md).
 *  - Batch composition: a sample drawn alone (first_sample = i) equals the same sample drawn in
 *    a batch of 7, bit for bit, for every sampler and process (and with per-row inpainting).
 *  - NFE: stats->nfe and nfe[] follow the documented counts, with and without denoising.
 *  - Failures: bad options are refused with SLV_EINVAL and a message naming the option; a NaN
 *    score names its time and sample; the interrupt flag stops the call between steps.
 *  - Goal numbers (printed, not asserted): the best sampler's error at 20 NFE against DDIM's,
 *    and each sampler's mode-weight error at 10 NFE in standard errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sde_test_util.h"
#include "sgm_sampler.h"

static const sgm_process_kind kinds[3] = {SGM_PROCESS_VE, SGM_PROCESS_VP, SGM_PROCESS_SUBVP};

static const sgm_fast_method *const *deterministic(size_t *count)
{
    static const sgm_fast_method *list[16];
    static size_t n;
    if (!n)
        for (size_t i = 0; sgm_fast_methods[i]; i++)
            if (!sgm_fast_methods[i]->stochastic)
                list[n++] = sgm_fast_methods[i];
    *count = n;
    return list;
}

static const sgm_fast_method *const *stochastic(size_t *count)
{
    static const sgm_fast_method *list[16];
    static size_t n;
    if (!n)
        for (size_t i = 0; sgm_fast_methods[i]; i++)
            if (sgm_fast_methods[i]->stochastic)
                list[n++] = sgm_fast_methods[i];
    *count = n;
    return list;
}

static size_t count_methods(void)
{
    size_t n = 0;
    while (sgm_fast_methods[n])
        n++;
    return n;
}

/* The documented evaluation counts (sgm_sampler.h). */
static size_t expected_nfe(const sgm_fast_method *m, size_t K, int denoise)
{
    const size_t d = denoise ? 1 : 0;
    if (m == sgm_fast_edm_heun || m == sgm_fast_edm_churn || m == sgm_fast_dpm_solver_2)
        return 2 * K - d;
    if (m == sgm_fast_dpm_solver_3)
        return 3 * K - 2 * d;
    return K;
}

/* The largest K whose count stays within `budget` evaluations. */
static size_t steps_for_budget(const sgm_fast_method *m, size_t budget, int denoise)
{
    size_t K = budget;
    while (K > 2 && expected_nfe(m, K, denoise) > budget)
        K--;
    return K;
}

typedef struct problem {
    sgm_gmm *g;
    sgm_process p;
    sgm_gmm_model model;
} problem;

static void problem_init(problem *pb, sgm_process_kind kind)
{
    pb->g = test_mixture_2d();
    sgm_process_init(&pb->p, kind);
    sgm_gmm_model_init(&pb->model, pb->g, &pb->p);
}

/* Latents z[n*2] (prior, seed) and the probability-flow ODE's x(eps) from them, no denoising. */
static void reference_solution(const problem *pb, size_t n, uint64_t seed, double *z, double *x)
{
    ck_assert_int_eq(sgm_process_prior_sample(&pb->p, n, 2, seed, 0, z), SLV_OK);
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    o.method = slv_ode_rk45;
    o.rtol = o.atol = 1e-10;
    o.denoise = 0;
    slv_error err;
    int status = sgm_decode(&pb->p, &pb->model.model, &o, n, z, 0, 0, x, NULL, NULL, &err);
    ck_assert_msg(status == SLV_OK, "reference: %s", err.message);
}

/* RMS over the n samples of the Euclidean error. */
static double rms_error(const double *x, const double *ref, size_t n, size_t d)
{
    double sum = 0.0;
    for (size_t i = 0; i < n * d; i++)
        sum += (x[i] - ref[i]) * (x[i] - ref[i]);
    return sqrt(sum / (double)n);
}

/* −(least-squares slope of log err against log K). */
static double fitted_order(const size_t *K, const double *err, size_t m)
{
    double mx = 0.0, my = 0.0, sxy = 0.0, sxx = 0.0;
    for (size_t i = 0; i < m; i++) {
        mx += log((double)K[i]) / (double)m;
        my += log(err[i]) / (double)m;
    }
    for (size_t i = 0; i < m; i++) {
        sxy += (log((double)K[i]) - mx) * (log(err[i]) - my);
        sxx += (log((double)K[i]) - mx) * (log((double)K[i]) - mx);
    }
    return -sxy / sxx;
}

static double decode_error(const problem *pb, const sgm_fast_options *f, size_t n, const double *z,
                           const double *ref, double *x)
{
    sgm_stats stats;
    slv_error err;
    int status = sgm_fast_decode(&pb->p, &pb->model.model, f, n, z, 0, 0, x, NULL, &stats, &err);
    ck_assert_msg(status == SLV_OK, "%s K = %zu: %s", f->method->name, f->n_steps, err.message);
    return rms_error(x, ref, n, 2);
}

/* ---- Order of the deterministic samplers ----------------------------------------------------- */

#define ORDER_LATENTS 32
#define ORDER_POINTS 7
static const size_t asymptotic_steps[ORDER_POINTS] = {80, 113, 160, 226, 320, 452, 640};
static const size_t early_steps[ORDER_POINTS] = {10, 14, 20, 28, 40, 56, 80};

START_TEST(test_deterministic_samplers_converge_with_their_order)
{
    size_t n_methods;
    const sgm_fast_method *const *methods = deterministic(&n_methods);
    const sgm_fast_method *m = methods[(size_t)_i / 3];
    problem pb;
    problem_init(&pb, kinds[_i % 3]);
    double z[ORDER_LATENTS * 2], ref[ORDER_LATENTS * 2], x[ORDER_LATENTS * 2];
    reference_solution(&pb, ORDER_LATENTS, 5, z, ref);

    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = m;
    f.denoise = 0;
    double late[ORDER_POINTS], early[ORDER_POINTS];
    for (size_t k = 0; k < ORDER_POINTS; k++) {
        f.n_steps = asymptotic_steps[k];
        late[k] = decode_error(&pb, &f, ORDER_LATENTS, z, ref, x);
        f.n_steps = early_steps[k];
        early[k] = decode_error(&pb, &f, ORDER_LATENTS, z, ref, x);
    }
    const double slope = fitted_order(asymptotic_steps, late, ORDER_POINTS);
    const double slope_early = fitted_order(early_steps, early, ORDER_POINTS);
    printf("| %-12s | %-5s | %u | %.2f | %.2f | %.2e | %.2e |\n", m->name,
           sgm_process_kind_name(pb.p.kind), m->order, slope_early, slope, early[2], late[ORDER_POINTS - 1]);
    fflush(stdout);
    /* The reference is far more accurate than the smallest error measured. */
    ck_assert_msg(late[ORDER_POINTS - 1] > 1e-8, "%s: error %.3g too close to the reference's accuracy",
                  m->name, late[ORDER_POINTS - 1]);
    ck_assert_msg(fabs(slope - (double)m->order) <= 0.3,
                  "%s on %s: log-log slope %.3f over K = 80..640, stated order %u", m->name,
                  sgm_process_kind_name(pb.p.kind), slope, m->order);
    /* For the record (not asserted): DEIS with polynomials of degree 1 and 3. Degree 3 (order 4)
     * meets the floor of its first, DDIM, step (local error O(h²)) within K = 80..640. */
    for (unsigned degree = 1; m == sgm_fast_deis && degree <= 3; degree += 2) {
        f.deis_order = degree;
        for (size_t k = 0; k < ORDER_POINTS; k++) {
            f.n_steps = asymptotic_steps[k];
            late[k] = decode_error(&pb, &f, ORDER_LATENTS, z, ref, x);
            f.n_steps = early_steps[k];
            early[k] = decode_error(&pb, &f, ORDER_LATENTS, z, ref, x);
        }
        printf("| deis, deis_order %u | %-5s | %u | %.2f | %.2f | %.2e | %.2e | (not asserted)\n", degree,
               sgm_process_kind_name(pb.p.kind), degree + 1, fitted_order(early_steps, early, ORDER_POINTS),
               fitted_order(asymptotic_steps, late, ORDER_POINTS), early[2], late[ORDER_POINTS - 1]);
    }
    sgm_gmm_free(pb.g);
}
END_TEST

/* The reference itself: rk45 at 1e-10 agrees with rk45 at 1e-12 far below the errors above. */
START_TEST(test_reference_is_accurate)
{
    problem pb;
    problem_init(&pb, kinds[_i]);
    double z[ORDER_LATENTS * 2], ref[ORDER_LATENTS * 2], tight[ORDER_LATENTS * 2];
    reference_solution(&pb, ORDER_LATENTS, 5, z, ref);
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    o.rtol = o.atol = 1e-12;
    o.denoise = 0;
    ck_assert_int_eq(sgm_decode(&pb.p, &pb.model.model, &o, ORDER_LATENTS, z, 0, 0, tight, NULL, NULL, NULL),
                     SLV_OK);
    const double diff = rms_error(ref, tight, ORDER_LATENTS, 2);
    ck_assert_msg(diff < 1e-9, "%s: rk45 1e-10 vs 1e-12 differ by %.3g", sgm_process_kind_name(pb.p.kind),
                  diff);
    sgm_gmm_free(pb.g);
}
END_TEST

/* ---- The stochastic samplers ------------------------------------------------------------------- */

/* E‖x‖² of p_eps in closed form. */
static double exact_second_moment(const sgm_gmm *g, const sgm_process *p, double t)
{
    const double m = sgm_process_mean_coef(p, t), s = sgm_process_std(p, t);
    double sum = 0.0;
    for (size_t k = 0; k < g->n_components; k++)
        for (size_t j = 0; j < g->dim; j++) {
            const double mu = g->means[k * g->dim + j], sd = g->stds[k * g->dim + j];
            sum += g->weights[k] * (m * m * (mu * mu + sd * sd) + s * s);
        }
    return sum;
}

/* Sample mean of ‖x‖² minus the exact one, and its standard error. */
static double second_moment_error(const double *x, size_t n, double exact, double *se)
{
    double s2 = 0.0, s4 = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double r = x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1];
        s2 += r;
        s4 += r * r;
    }
    s2 /= (double)n;
    s4 /= (double)n;
    *se = sqrt((s4 - s2 * s2) / (double)n);
    return s2 - exact;
}

START_TEST(test_stochastic_samplers_match_the_mixture_and_converge_weakly)
{
    size_t n_methods;
    const sgm_fast_method *const *methods = stochastic(&n_methods);
    const sgm_fast_method *m = methods[(size_t)_i / 3];
    problem pb;
    problem_init(&pb, kinds[_i % 3]);
    const size_t n = 4000;
    const double eps = sgm_process_default_eps(&pb.p);
    double *x = malloc(n * 2 * sizeof *x);
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = m;
    f.denoise = 0; /* the target is then p_eps itself */
    const double exact = exact_second_moment(pb.g, &pb.p, eps);
    static const size_t steps[4] = {10, 20, 40, 80};
    double bias[4], se[4];
    char label[96];
    for (size_t k = 0; k < 4; k++) {
        f.n_steps = steps[k];
        slv_error err;
        int status = sgm_fast_sample(&pb.p, &pb.model.model, &f, n, 1234, 0, x, NULL, &err);
        ck_assert_msg(status == SLV_OK, "%s: %s", m->name, err.message);
        bias[k] = second_moment_error(x, n, exact, &se[k]);
        if (steps[k] == 80) {
            snprintf(label, sizeof label, "%s K = 80, %s", m->name, sgm_process_kind_name(pb.p.kind));
            mode_check mc = check_modes(pb.g, &pb.p, eps, x, n, label);
            printf("| %-12s | %-5s | K = 80: max weight error %.1f SE, mean %.1f SE, variance %.1f SE |\n",
                   m->name, sgm_process_kind_name(pb.p.kind), mc.max_weight_z, mc.max_mean_z, mc.max_var_z);
        }
    }
    printf("| %-12s | %-5s | E|x|^2 error (SE): K=10 %+.3f (%.2f), 20 %+.3f, 40 %+.3f, 80 %+.3f (%.2f) |\n",
           m->name, sgm_process_kind_name(pb.p.kind), bias[0], se[0], bias[1], bias[2], bias[3], se[3]);
    fflush(stdout);
    ck_assert_msg(fabs(bias[0]) > 8.0 * se[0], "%s: the K = 10 bias %.3g is not significant (SE %.3g): "
                  "the test has no power", m->name, bias[0], se[0]);
    ck_assert_msg(fabs(bias[3]) <= 4.0 * se[3], "%s on %s: E|x|^2 off by %.3g at K = 80 (SE %.3g)",
                  m->name, sgm_process_kind_name(pb.p.kind), bias[3], se[3]);
    ck_assert_msg(fabs(bias[3]) < fabs(bias[0]), "%s: the error did not fall from K = 10 to 80", m->name);
    free(x);
    sgm_gmm_free(pb.g);
}
END_TEST

/* ---- Batch composition, NFE, the ODE-options route --------------------------------------------- */

START_TEST(test_sample_alone_equals_sample_in_batch)
{
    const sgm_fast_method *m = sgm_fast_methods[(size_t)_i / 3];
    problem pb;
    problem_init(&pb, kinds[_i % 3]);
    enum { N = 7 };
    double batch[N * 2], alone[2];
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = m;
    f.n_steps = 10;
    f.s_min = 0.0; /* churn at every level, so that edm-churn draws noise at every step */
    f.s_max = 1e9;
    ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, N, 99, 0, batch, NULL, NULL), SLV_OK);
    for (size_t i = 0; i < N; i++) {
        ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, 1, 99, i, alone, NULL, NULL), SLV_OK);
        ck_assert_msg(memcmp(alone, batch + 2 * i, sizeof alone) == 0,
                      "%s on %s: sample %zu alone differs from the same sample in a batch of %d", m->name,
                      sgm_process_kind_name(pb.p.kind), i, N);
    }
    /* The stochastic ones do use the seed. */
    if (m->stochastic) {
        ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, 1, 98, 0, alone, NULL, NULL), SLV_OK);
        ck_assert(memcmp(alone, batch, sizeof alone) != 0);
    }
    sgm_gmm_free(pb.g);
}
END_TEST

START_TEST(test_inpainting_keeps_known_coordinates_and_splits)
{
    problem pb;
    problem_init(&pb, kinds[_i]);
    enum { N = 7 };
    const unsigned char mask[2] = {1, 0};
    double observed[N * 2], batch[N * 2], alone[2];
    sgm_gmm_sample(pb.g, NULL, 0.0, N, 3, 0, observed, NULL);
    sgm_inpaint all = {mask, observed, 0};
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = sgm_fast_unipc;
    f.n_steps = 15;
    f.inpaint = &all;
    slv_error err;
    ck_assert_msg(sgm_fast_sample(&pb.p, &pb.model.model, &f, N, 5, 0, batch, NULL, &err) == SLV_OK, "%s",
                  err.message);
    for (size_t i = 0; i < N; i++) {
        ck_assert(batch[2 * i] == observed[2 * i]);
        ck_assert(isfinite(batch[2 * i + 1]));
        sgm_inpaint row = {mask, observed + 2 * i, 0};
        f.inpaint = &row;
        ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, 1, 5, i, alone, NULL, NULL), SLV_OK);
        ck_assert(memcmp(alone, batch + 2 * i, sizeof alone) == 0);
    }
    sgm_gmm_free(pb.g);
}
END_TEST

START_TEST(test_nfe_counts)
{
    const sgm_fast_method *m = sgm_fast_methods[_i];
    problem pb;
    problem_init(&pb, SGM_PROCESS_VP);
    double x[3 * 2], z[3 * 2];
    size_t nfe[3];
    for (int denoise = 0; denoise <= 1; denoise++)
        for (size_t K = 2; K <= 11; K += 3) {
            sgm_fast_options f;
            sgm_fast_options_init(&f);
            f.method = m;
            f.n_steps = K;
            f.denoise = denoise;
            sgm_stats stats;
            ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, 3, 1, 0, x, &stats, NULL), SLV_OK);
            ck_assert_msg(stats.nfe == expected_nfe(m, K, denoise), "%s, K = %zu, denoise %d: nfe %zu, expected %zu",
                          m->name, K, denoise, stats.nfe, expected_nfe(m, K, denoise));
            ck_assert_uint_eq(stats.n_steps, K);
            if (!m->stochastic) {
                sgm_process_prior_sample(&pb.p, 3, 2, 1, 0, z);
                ck_assert_int_eq(sgm_fast_decode(&pb.p, &pb.model.model, &f, 3, z, 0, 0, z, nfe, &stats, NULL),
                                 SLV_OK);
                for (size_t i = 0; i < 3; i++)
                    ck_assert_uint_eq(nfe[i], expected_nfe(m, K, denoise));
                ck_assert(memcmp(x, z, sizeof x) == 0); /* decode in place = sample */
            }
        }
    sgm_gmm_free(pb.g);
}
END_TEST

/* sgm_ode_sample with options.fast set is the fast sampler, bit for bit. */
START_TEST(test_ode_options_route_to_the_fast_sampler)
{
    problem pb;
    problem_init(&pb, kinds[_i]);
    double a[5 * 2], b[5 * 2];
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    ck_assert_ptr_null(o.fast);
    ck_assert_int_eq(o.schedule, SGM_SCHEDULE_AUTO);
    o.fast = sgm_fast_dpmpp_3m;
    o.n_steps = 12;
    o.schedule = SGM_SCHEDULE_EDM;
    o.rho = 5.0;
    sgm_stats sa, sb;
    ck_assert_int_eq(sgm_ode_sample(&pb.p, &pb.model.model, &o, 5, 8, 0, a, &sa, NULL), SLV_OK);
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = sgm_fast_dpmpp_3m;
    f.n_steps = 12;
    f.schedule = SGM_SCHEDULE_EDM;
    f.rho = 5.0;
    ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, 5, 8, 0, b, &sb, NULL), SLV_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert_uint_eq(sa.nfe, 12);
    ck_assert_uint_eq(sb.nfe, 12);
    sgm_gmm_free(pb.g);
}
END_TEST

/* ---- Failures ------------------------------------------------------------------------------------ */

typedef struct bad_case {
    const char *what;
    int status;
    const char *message; /* a substring the report must hold */
} bad_case;

static int run_bad(int which, slv_error *err)
{
    problem pb;
    problem_init(&pb, SGM_PROCESS_VP);
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    double x[2 * 2];
    static const sgm_fast_method impostor = {"impostor", 1, 1, 0, SGM_SCHEDULE_LOGSNR, 0};
    int status = SLV_OK;
    switch (which) {
    case 0: f.method = NULL; break;
    case 1: f.method = &impostor; break;
    case 2: f.n_steps = 0; break;
    case 3: f.n_steps = 1; break;
    case 4: f.schedule = (sgm_schedule)9; break;
    case 5: f.rho = 0.0; break;
    case 6: f.rho = NAN; break;
    case 7: f.method = sgm_fast_deis; f.deis_order = 4; break;
    case 8: f.method = sgm_fast_edm_churn; f.churn = -1.0; break;
    case 9: f.method = sgm_fast_dpmpp_2m_sde; f.s_noise = 0.0; break;
    case 10: f.method = sgm_fast_edm_churn; f.s_min = 2.0; f.s_max = 1.0; break;
    case 11: f.eps = 0.0; break;
    case 12: f.eps = 2.0; break;
    case 13: f.eps = 1.0 - 1e-15; f.n_steps = 1000; break;
    default: break;
    }
    if (which <= 13) {
        status = sgm_fast_sample(&pb.p, &pb.model.model, &f, 2, 1, 0, x, NULL, err);
    } else if (which == 14) {
        status = sgm_fast_sample(&pb.p, &pb.model.model, NULL, 2, 1, 0, x, NULL, err);
    } else if (which == 15) {
        f.method = sgm_fast_edm_churn;
        status = sgm_fast_decode(&pb.p, &pb.model.model, &f, 2, x, 0, 0, x, NULL, NULL, err);
    } else if (which == 16) {
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        o.fast = sgm_fast_dpmpp_2m_sde;
        status = sgm_ode_sample(&pb.p, &pb.model.model, &o, 2, 1, 0, x, NULL, err);
    } else {
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        o.fast = sgm_fast_ddim;
        x[0] = x[1] = x[2] = x[3] = 0.5;
        status = sgm_encode(&pb.p, &pb.model.model, &o, 2, x, x, NULL, NULL, err);
    }
    sgm_gmm_free(pb.g);
    return status;
}

static const bad_case bad_cases[] = {
    {"no method", SLV_EINVAL, "method is NULL"},
    {"a method not from the table", SLV_EINVAL, "'impostor' is not one of"},
    {"zero steps", SLV_EINVAL, "n_steps = 0"},
    {"one step with denoise", SLV_EINVAL, "n_steps = 1"},
    {"unknown schedule", SLV_EINVAL, "schedule 9"},
    {"rho 0", SLV_EINVAL, "rho = 0"},
    {"rho NaN", SLV_EINVAL, "rho = nan"},
    {"deis order 4", SLV_EINVAL, "deis_order = 4"},
    {"negative churn", SLV_EINVAL, "churn = -1"},
    {"zero s_noise", SLV_EINVAL, "s_noise = 0"},
    {"s_min above s_max", SLV_EINVAL, "s_min = 2, s_max = 1"},
    {"eps 0 on VP", SLV_EINVAL, "eps = 0"},
    {"eps beyond T", SLV_EINVAL, "eps = 2"},
    {"more steps than distinct levels", SLV_EINVAL, "equal noise levels"},
    {"no options", SLV_EINVAL, "options is NULL"},
    {"decoding with a stochastic sampler", SLV_EINVAL, "edm-churn' samples the reverse SDE"},
    {"ODE options with a stochastic sampler", SLV_EINVAL, "dpmpp-2m-sde' samples the reverse SDE"},
    {"encoding with a fast sampler", SLV_EUNSUPPORTED, "'ddim' runs from T to eps only"},
};
#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

START_TEST(test_bad_options_are_named)
{
    slv_error err;
    int status = run_bad(_i, &err);
    ck_assert_msg(status == bad_cases[_i].status, "%s: status %d, expected %d (%s)", bad_cases[_i].what, status,
                  bad_cases[_i].status, err.message);
    ck_assert_msg(strstr(err.message, bad_cases[_i].message) != NULL, "%s: message '%s' lacks '%s'",
                  bad_cases[_i].what, err.message, bad_cases[_i].message);
}
END_TEST

/* A score that turns NaN for one sample below t = 0.5, or raises an interrupt flag after a number
 * of calls. */
typedef struct faulty {
    sgm_gmm_model inner;
    size_t bad_row; /* row of the batch that turns NaN (SIZE_MAX: none) */
    size_t calls, raise_after;
    volatile int *flag;
} faulty;

static int faulty_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    faulty *f = params;
    f->calls++;
    if (f->flag && f->calls >= f->raise_after)
        *f->flag = 1;
    int rc = f->inner.model.score(t, n, d, x, out, f->inner.model.params);
    if (t < 0.5 && f->bad_row < n)
        out[f->bad_row * d] = NAN;
    return rc;
}

START_TEST(test_nan_score_names_time_and_sample)
{
    const sgm_fast_method *m = sgm_fast_methods[_i];
    problem pb;
    problem_init(&pb, SGM_PROCESS_VE);
    faulty fs = {pb.model, 3, 0, 0, NULL};
    sgm_score_model model = {.score = faulty_score, .dim = 2, .params = &fs};
    double x[6 * 2];
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = m;
    f.n_steps = 8;
    slv_error err;
    int status = sgm_fast_sample(&pb.p, &model, &f, 6, 1, 40, x, NULL, &err);
    ck_assert_msg(status == SLV_ENONFINITE, "%s: status %d (%s)", m->name, status, err.message);
    ck_assert_int_eq(err.path, 43);
    ck_assert_msg(err.t < 0.5 && err.t > 0.0, "%s: reported t = %g", m->name, err.t);
    ck_assert_ptr_nonnull(strstr(err.message, "sample 43"));
    sgm_gmm_free(pb.g);
}
END_TEST

START_TEST(test_interrupt_stops_between_steps)
{
    const sgm_fast_method *m = sgm_fast_methods[_i];
    problem pb;
    problem_init(&pb, SGM_PROCESS_SUBVP);
    volatile int flag = 1;
    faulty fs = {pb.model, SIZE_MAX, 0, 0, NULL};
    sgm_score_model model = {.score = faulty_score, .dim = 2, .params = &fs};
    double x[4 * 2];
    sgm_fast_options f;
    sgm_fast_options_init(&f);
    f.method = m;
    f.n_steps = 12;
    f.interrupt = &flag;
    slv_error err;
    sgm_stats stats;
    /* Raised before the call: nothing is evaluated. */
    int status = sgm_fast_sample(&pb.p, &model, &f, 4, 1, 0, x, &stats, &err);
    ck_assert_int_eq(status, SLV_EINTERRUPTED);
    ck_assert_uint_eq(fs.calls, 0);
    ck_assert_uint_eq(stats.nfe, 0);
    /* Raised by the third evaluation: the call stops at the next step boundary, x holds a finite
     * state of the process at the reported time. */
    flag = 0;
    fs.flag = &flag;
    fs.raise_after = 3;
    status = sgm_fast_sample(&pb.p, &model, &f, 4, 1, 0, x, &stats, &err);
    ck_assert_msg(status == SLV_EINTERRUPTED, "%s: status %d", m->name, status);
    ck_assert_msg(fs.calls >= 3 && fs.calls <= 6, "%s: %zu evaluations", m->name, fs.calls);
    ck_assert_msg(err.t > sgm_process_default_eps(&pb.p) && err.t < pb.p.T, "%s: t = %g", m->name, err.t);
    for (size_t i = 0; i < 8; i++)
        ck_assert(isfinite(x[i]));
    sgm_gmm_free(pb.g);
}
END_TEST

/* ---- Goal numbers (printed) -------------------------------------------------------------------- */

START_TEST(test_goal_numbers)
{
    problem pb;
    problem_init(&pb, kinds[_i]);
    const char *kind = sgm_process_kind_name(pb.p.kind);
    size_t n_det;
    const sgm_fast_method *const *det = deterministic(&n_det);

    /* 20 NFE: RMS error at eps (no denoising) of 256 latents against the tight reference. */
    const size_t n = 256;
    double *z = malloc(n * 2 * sizeof *z), *ref = malloc(n * 2 * sizeof *ref), *x = malloc(4000 * 2 * sizeof *x);
    reference_solution(&pb, n, 1234, z, ref);
    double ddim_best = INFINITY, best = INFINITY;
    const char *best_name = "", *best_schedule = "";
    printf("%s, 20 NFE, RMS error at eps of %zu latents (uniform / logsnr / edm):\n", kind, n);
    for (size_t i = 0; i < n_det; i++) {
        sgm_fast_options f;
        sgm_fast_options_init(&f);
        f.method = det[i];
        f.denoise = 0;
        f.n_steps = steps_for_budget(det[i], 20, 0);
        printf("  %-12s K = %2zu (%2zu NFE):", det[i]->name, f.n_steps, expected_nfe(det[i], f.n_steps, 0));
        for (int s = SGM_SCHEDULE_UNIFORM; s <= SGM_SCHEDULE_EDM; s++) {
            f.schedule = (sgm_schedule)s;
            const double e = decode_error(&pb, &f, n, z, ref, x);
            printf(" %.3e", e);
            if (det[i] == sgm_fast_ddim && e < ddim_best)
                ddim_best = e;
            if (e < best) {
                best = e;
                best_name = det[i]->name;
                best_schedule = sgm_schedule_name(f.schedule);
            }
        }
        printf("\n");
    }
    printf("%s: best at 20 NFE %s (%s) %.3e, DDIM's best %.3e: ratio %.3f (goal <= 0.1)\n", kind, best_name,
           best_schedule, best, ddim_best, best / ddim_best);

    /* 10 NFE: mode weights of 4000 samples (defaults: denoise, auto schedule) in standard errors. */
    const size_t n_modes = 4000, K_modes = pb.g->n_components;
    double *post = malloc(n_modes * K_modes * sizeof *post);
    double best_z = INFINITY;
    const char *best_z_name = "";
    printf("%s, 10 NFE, largest mode-weight error of %zu samples in standard errors:\n", kind, n_modes);
    for (size_t i = 0; sgm_fast_methods[i]; i++) {
        const sgm_fast_method *m = sgm_fast_methods[i];
        sgm_fast_options f;
        sgm_fast_options_init(&f);
        f.method = m;
        f.n_steps = steps_for_budget(m, 10, 1);
        ck_assert_int_eq(sgm_fast_sample(&pb.p, &pb.model.model, &f, n_modes, 1234, 0, x, NULL, NULL), SLV_OK);
        sgm_gmm_class_posterior(pb.g, NULL, 0.0, n_modes, x, post);
        double count[8] = {0}, worst = 0.0;
        for (size_t s = 0; s < n_modes; s++) {
            size_t arg = 0;
            for (size_t k = 1; k < K_modes; k++)
                if (post[s * K_modes + k] > post[s * K_modes + arg])
                    arg = k;
            count[arg] += 1.0;
        }
        for (size_t k = 0; k < K_modes; k++) {
            const double w = pb.g->weights[k];
            const double zk = fabs(count[k] / (double)n_modes - w) / sqrt(w * (1.0 - w) / (double)n_modes);
            worst = fmax(worst, zk);
        }
        printf("  %-12s K = %2zu (%2zu NFE): %.2f SE\n", m->name, f.n_steps, expected_nfe(m, f.n_steps, 1), worst);
        if (worst < best_z) {
            best_z = worst;
            best_z_name = m->name;
        }
    }
    printf("%s: best at 10 NFE %s, %.2f SE\n", kind, best_z_name, best_z);
    fflush(stdout);
    free(post);
    free(z);
    free(ref);
    free(x);
    sgm_gmm_free(pb.g);
}
END_TEST

static Suite *fast_suite(void)
{
    Suite *s = suite_create("sde_fast_samplers");
    size_t n_det, n_sto;
    deterministic(&n_det);
    stochastic(&n_sto);
    const size_t n_all = count_methods();

    TCase *order = tcase_create("order");
    tcase_set_timeout(order, 120);
    tcase_add_loop_test(order, test_reference_is_accurate, 0, 3);
    tcase_add_loop_test(order, test_deterministic_samplers_converge_with_their_order, 0, (int)(3 * n_det));
    suite_add_tcase(s, order);

    TCase *sde = tcase_create("stochastic");
    tcase_set_timeout(sde, 120);
    tcase_add_loop_test(sde, test_stochastic_samplers_match_the_mixture_and_converge_weakly, 0, (int)(3 * n_sto));
    suite_add_tcase(s, sde);

    TCase *calls = tcase_create("calls");
    tcase_add_loop_test(calls, test_sample_alone_equals_sample_in_batch, 0, (int)(3 * n_all));
    tcase_add_loop_test(calls, test_inpainting_keeps_known_coordinates_and_splits, 0, 3);
    tcase_add_loop_test(calls, test_nfe_counts, 0, (int)n_all);
    tcase_add_loop_test(calls, test_ode_options_route_to_the_fast_sampler, 0, 3);
    tcase_add_loop_test(calls, test_bad_options_are_named, 0, (int)N_BAD);
    tcase_add_loop_test(calls, test_nan_score_names_time_and_sample, 0, (int)n_all);
    tcase_add_loop_test(calls, test_interrupt_stops_between_steps, 0, (int)n_all);
    suite_add_tcase(s, calls);

    TCase *goals = tcase_create("goals");
    tcase_set_timeout(goals, 120);
    tcase_add_loop_test(goals, test_goal_numbers, 0, 3);
    suite_add_tcase(s, goals);
    return s;
}

int main(void)
{
    printf("| sampler | sde | order | slope K=10..80 | slope K=80..640 | error K=20 | error K=640 |\n");
    SRunner *sr = srunner_create(fast_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
