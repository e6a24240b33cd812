/* test_repro_faults.c — reproducibility under batch splits, and failures that must be reported
 * precisely.
 *  - Sampling 8 samples at once equals sampling them as 3 + 5 with first_sample = 0 and 3, bit
 *    for bit: PC (Euler–Maruyama; reverse diffusion + per-sample Langevin; with per-sample
 *    inpainting rows), the ODE sampler in independent mode, the SDE sampler (fixed and adaptive
 *    steps), the Hutchinson likelihood.
 *  - A score that turns NaN: every sampler stops with SLV_ENONFINITE, the time it happened and the
 *    global index of the sample; a score returning −1 gives SLV_ECALLBACK; a raised interrupt
 *    flag SLV_EINTERRUPTED; bad options SLV_EINVAL/SLV_EUNSUPPORTED with a message naming them. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sde_test_util.h"
#include "sgm_likelihood.h"
#include "sgm_sampler.h"

/* ---- Batch splits -------------------------------------------------------------------------- */

typedef int (*run_fn)(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                      double *x);

static const sgm_inpaint *repro_inpaint;

static int run_pc_em(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first, double *x)
{
    sgm_pc_options o;
    sgm_pc_options_init(&o, p);
    o.predictor = SGM_PREDICTOR_EULER_MARUYAMA;
    o.corrector = SGM_CORRECTOR_NONE;
    return sgm_pc_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

static int run_pc_langevin(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                           double *x)
{
    sgm_pc_options o;
    sgm_pc_options_init(&o, p);
    o.predictor = SGM_PREDICTOR_REVERSE_DIFFUSION;
    o.corrector = SGM_CORRECTOR_LANGEVIN;
    o.corrector_steps = 2;
    return sgm_pc_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

static int run_pc_inpaint(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                          double *x)
{
    sgm_pc_options o;
    sgm_pc_options_init(&o, p);
    sgm_inpaint rows = *repro_inpaint;
    rows.observed += first * m->dim; /* this batch's rows */
    o.inpaint = &rows;
    return sgm_pc_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

static int run_ode(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first, double *x)
{
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    ck_assert_int_eq(o.batch_mode, SLV_BATCH_INDEPENDENT);
    return sgm_ode_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

static int run_ode_inpaint(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                           double *x)
{
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    sgm_inpaint rows = *repro_inpaint;
    rows.observed += first * m->dim;
    o.inpaint = &rows;
    return sgm_ode_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

static int run_sde(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first, double *x)
{
    sgm_sde_options o;
    sgm_sde_options_init(&o);
    o.n_steps = 100;
    return sgm_sde_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

static int run_sde_adaptive(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                            double *x)
{
    sgm_sde_options o;
    sgm_sde_options_init(&o);
    o.method = slv_sde_step_sra3;
    o.adaptive = 1;
    o.rtol = o.atol = 1e-2;
    return sgm_sde_sample(p, m, &o, n, 11, first, x, NULL, NULL);
}

/* The likelihood of fixed points (x holds them on entry; logp goes to x[i*d]). */
static int run_likelihood(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                          double *x)
{
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    double logp[64];
    ck_assert_uint_le(n, 64);
    int status = sgm_likelihood(p, m, &o, n, x, 11, first, logp, NULL, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        x[i * m->dim] = logp[i];
    return status;
}

/* The exact-trace likelihood (d basis products per evaluation). */
static int run_likelihood_exact(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                                double *x)
{
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    o.divergence = SGM_DIVERGENCE_EXACT;
    double logp[64];
    ck_assert_uint_le(n, 64);
    int status = sgm_likelihood(p, m, &o, n, x, 11, first, logp, NULL, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        x[i * m->dim] = logp[i];
    return status;
}

static const struct {
    const char *name;
    run_fn run;
    sgm_process_kind kind;
} repro_cases[] = {
    {"pc euler_maruyama", run_pc_em, SGM_PROCESS_VP},
    {"pc reverse_diffusion + langevin (per-sample)", run_pc_langevin, SGM_PROCESS_VE},
    {"pc inpainting with per-sample rows", run_pc_inpaint, SGM_PROCESS_SUBVP},
    {"ode independent", run_ode, SGM_PROCESS_VP},
    {"ode independent inpainting", run_ode_inpaint, SGM_PROCESS_VE},
    {"sde em fixed", run_sde, SGM_PROCESS_VP},
    {"sde sra3 adaptive", run_sde_adaptive, SGM_PROCESS_SUBVP},
    {"likelihood rademacher", run_likelihood, SGM_PROCESS_VP},
    {"likelihood exact trace", run_likelihood_exact, SGM_PROCESS_SUBVP},
};

START_TEST(test_batch_split_is_bit_identical)
{
    const size_t n = 8, d = 2;
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, repro_cases[_i].kind);
    p.N = 200;
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    const unsigned char mask[2] = {0, 1};
    double observed[16];
    for (size_t i = 0; i < n; i++) {
        observed[i * d] = 0.0;
        observed[i * d + 1] = -3.0 + (double)i;
    }
    sgm_inpaint inpaint = {mask, observed, 0};
    repro_inpaint = &inpaint;
    double whole[16], split[16];
    sgm_gmm_sample(g, NULL, 0.0, n, 4, 0, whole, NULL); /* inputs of the likelihood case */
    memcpy(split, whole, sizeof whole);
    ck_assert_int_eq(repro_cases[_i].run(&p, &model.model, n, 0, whole), SLV_OK);
    ck_assert_int_eq(repro_cases[_i].run(&p, &model.model, 3, 0, split), SLV_OK);
    ck_assert_int_eq(repro_cases[_i].run(&p, &model.model, 5, 3, split + 3 * d), SLV_OK);
    ck_assert_msg(memcmp(whole, split, sizeof whole) == 0, "%s: 8 at once differ from 3 + 5",
                  repro_cases[_i].name);
    /* And the samples are not all the same (the streams differ per sample). */
    ck_assert(whole[0] != whole[2] || whole[1] != whole[3]);
    sgm_gmm_free(g);
}
END_TEST

/* A sample's result does not depend on its batch-mates: sample 5 alone, inside a batch of 7
 * (samples 2..8) and inside one of 64 — bit for bit (the oracle computes each row on its own; the
 * per-sample adaptive rk45 keeps each sample's steps while batching their score calls). */
START_TEST(test_sample_alone_equals_it_inside_batches_of_7_and_64)
{
    const size_t d = 2, n = 64, k = 5;
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, repro_cases[_i].kind);
    p.N = 200;
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    const unsigned char mask[2] = {0, 1};
    double observed[2 * 64], inputs[2 * 64], whole[2 * 64], seven[2 * 7], alone[2];
    for (size_t i = 0; i < n; i++) {
        observed[i * d] = 0.0;
        observed[i * d + 1] = -3.0 + 0.1 * (double)i;
    }
    sgm_inpaint inpaint = {mask, observed, 0};
    repro_inpaint = &inpaint;
    sgm_gmm_sample(g, NULL, 0.0, n, 4, 0, inputs, NULL); /* inputs of the likelihood cases */
    memcpy(whole, inputs, sizeof whole);
    memcpy(seven, inputs + 2 * d, sizeof seven);
    memcpy(alone, inputs + k * d, sizeof alone);
    ck_assert_int_eq(repro_cases[_i].run(&p, &model.model, n, 0, whole), SLV_OK);
    ck_assert_int_eq(repro_cases[_i].run(&p, &model.model, 7, 2, seven), SLV_OK);
    ck_assert_int_eq(repro_cases[_i].run(&p, &model.model, 1, k, alone), SLV_OK);
    ck_assert_msg(memcmp(alone, whole + k * d, sizeof alone) == 0,
                  "%s: sample 5 alone (%.17g, %.17g) differs from it in a batch of 64 (%.17g, %.17g)",
                  repro_cases[_i].name, alone[0], alone[1], whole[k * d], whole[k * d + 1]);
    ck_assert_msg(memcmp(alone, seven + (k - 2) * d, sizeof alone) == 0,
                  "%s: sample 5 alone differs from it in a batch of 7", repro_cases[_i].name);
    sgm_gmm_free(g);
}
END_TEST

/* The PC sampler draws and updates its samples on several threads once a batch holds enough
 * numbers (slv_rng_team_threads: two grains of 32 768 draws): the bits must not depend on the
 * team. 40 000 two-dimensional samples, 4 steps, predictor and Langevin corrector. */
START_TEST(test_pc_bits_do_not_depend_on_the_thread_count)
{
    const size_t n = 40000, d = 2;
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VE);
    p.N = 4;
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    sgm_pc_options o;
    sgm_pc_options_init(&o, &p);
    o.predictor = SGM_PREDICTOR_REVERSE_DIFFUSION;
    o.corrector = SGM_CORRECTOR_LANGEVIN;
    double *x[3];
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(k + 1);
        x[k] = malloc(n * d * sizeof(double));
        ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &o, n, 7, 0, x[k], NULL, NULL), SLV_OK);
    }
    for (int k = 1; k < 3; k++)
        ck_assert_msg(memcmp(x[0], x[k], n * d * sizeof(double)) == 0, "1 and %d threads differ", k + 1);
    omp_set_num_threads(2);
    for (int k = 0; k < 3; k++)
        free(x[k]);
    sgm_gmm_free(g);
}
END_TEST

/* ---- Faults -------------------------------------------------------------------------------- */

/* The mixture's score, except: NaN below t = 0.5 in row 2 of a batched call (every row when the
 * call has one row); or −1 (failure) when fail_code is set. */
typedef struct faulty {
    sgm_gmm_model inner;
    int fail_code;
} faulty;

static int faulty_score(double t, size_t n, size_t d, const double *x, double *out, void *params)
{
    faulty *f = params;
    int rc = f->inner.model.score(t, n, d, x, out, &f->inner);
    if (rc != 0)
        return rc;
    if (t < 0.5) {
        if (f->fail_code)
            return f->fail_code;
        if (n == 1)
            out[0] = NAN;
        else if (n > 2)
            out[2 * d + 1] = NAN;
    }
    return 0;
}

typedef int (*sample_fn)(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                         double *x, slv_error *err);

static int fault_pc(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                    double *x, slv_error *err)
{
    sgm_pc_options o;
    sgm_pc_options_init(&o, p);
    return sgm_pc_sample(p, m, &o, n, 1, first, x, NULL, err);
}

static int fault_ode(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                     double *x, slv_error *err)
{
    sgm_ode_options o;
    sgm_ode_options_init(&o);
    return sgm_ode_sample(p, m, &o, n, 1, first, x, NULL, err);
}

static int fault_sde(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                     double *x, slv_error *err)
{
    sgm_sde_options o;
    sgm_sde_options_init(&o);
    o.n_steps = 100;
    return sgm_sde_sample(p, m, &o, n, 1, first, x, NULL, err);
}

static int fault_likelihood(const sgm_process *p, const sgm_score_model *m, size_t n, size_t first,
                            double *x, slv_error *err)
{
    sgm_likelihood_options o;
    sgm_likelihood_options_init(&o);
    double logp[4];
    return sgm_likelihood(p, m, &o, n, x, 1, first, logp, NULL, NULL, NULL, NULL, err);
}

static const struct {
    const char *name;
    sample_fn run;
    long bad_row;  /* row whose NaN is met first: 2 for whole-batch calls, 0 for one-by-one */
    double t_low;  /* the failure time lies in [t_low, 0.5) */
} fault_cases[] = {
    {"pc", fault_pc, 2, 0.5 - (1.0 - 1e-3) / 1000.0 - 1e-12},
    {"ode independent", fault_ode, 2, 1e-3}, /* rk45: one call for the rows that share a time */
    {"sde em", fault_sde, 2, 0.5 - (1.0 - 1e-3) / 100.0 - 1e-12},
    {"likelihood", fault_likelihood, 0, 0.0}, /* integrates upwards: fails at its first call */
};

START_TEST(test_nan_score_reports_time_and_sample)
{
    const size_t n = 4, first = 10;
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    faulty f = {.fail_code = 0};
    sgm_gmm_model_init(&f.inner, g, &p);
    sgm_score_model model = {.score = faulty_score, .dim = 2, .params = &f};
    double x[8];
    sgm_gmm_sample(g, NULL, 0.0, n, 2, 0, x, NULL);
    slv_error err;
    int status = fault_cases[_i].run(&p, &model, n, first, x, &err);
    ck_assert_msg(status == SLV_ENONFINITE, "%s: status %d (%s), expected SLV_ENONFINITE",
                  fault_cases[_i].name, status, err.message);
    ck_assert_int_eq(err.status, SLV_ENONFINITE);
    ck_assert_msg(err.path == (long)first + fault_cases[_i].bad_row, "%s: path %ld, expected %ld (%s)",
                  fault_cases[_i].name, err.path, (long)first + fault_cases[_i].bad_row, err.message);
    ck_assert_msg(err.t < 0.5 && err.t >= fault_cases[_i].t_low, "%s: t = %.17g (%s)",
                  fault_cases[_i].name, err.t, err.message);
    ck_assert_msg(strstr(err.message, "nan") != NULL, "%s: message '%s'", fault_cases[_i].name,
                  err.message);
    printf("%-16s: %s\n", fault_cases[_i].name, err.message);
    /* A score that fails (returns −1) instead. */
    f.fail_code = -1;
    sgm_gmm_sample(g, NULL, 0.0, n, 2, 0, x, NULL);
    status = fault_cases[_i].run(&p, &model, n, first, x, &err);
    ck_assert_msg(status == SLV_ECALLBACK, "%s: status %d (%s), expected SLV_ECALLBACK",
                  fault_cases[_i].name, status, err.message);
    ck_assert_msg(strstr(err.message, "returned -1") != NULL, "%s: '%s'", fault_cases[_i].name,
                  err.message);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_interrupt_flag_stops_every_sampler)
{
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    volatile int flag = 1;
    double x[8];
    slv_error err;
    sgm_pc_options pc;
    sgm_pc_options_init(&pc, &p);
    pc.interrupt = &flag;
    ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &pc, 4, 1, 0, x, NULL, &err), SLV_EINTERRUPTED);
    sgm_ode_options ode;
    sgm_ode_options_init(&ode);
    ode.interrupt = &flag;
    ck_assert_int_eq(sgm_ode_sample(&p, &model.model, &ode, 4, 1, 0, x, NULL, &err), SLV_EINTERRUPTED);
    sgm_sde_options sde;
    sgm_sde_options_init(&sde);
    sde.interrupt = &flag;
    ck_assert_int_eq(sgm_sde_sample(&p, &model.model, &sde, 4, 1, 0, x, NULL, &err), SLV_EINTERRUPTED);
    sgm_likelihood_options lik;
    sgm_likelihood_options_init(&lik);
    lik.interrupt = &flag;
    double logp[4];
    sgm_gmm_sample(g, NULL, 0.0, 4, 2, 0, x, NULL);
    ck_assert_int_eq(sgm_likelihood(&p, &model.model, &lik, 4, x, 1, 0, logp, NULL, NULL, NULL, NULL, &err),
                     SLV_EINTERRUPTED);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_bad_options_are_named)
{
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_SUBVP);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    double x[8];
    slv_error err;
    sgm_pc_options pc;
    sgm_pc_options_init(&pc, &p);
    pc.predictor = SGM_PREDICTOR_ANCESTRAL;
    ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &pc, 4, 1, 0, x, NULL, &err), SLV_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "ancestral"));
    sgm_pc_options_init(&pc, &p);
    pc.eps = 2.0;
    ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &pc, 4, 1, 0, x, NULL, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "eps = 2"));
    sgm_pc_options_init(&pc, &p);
    pc.corrector = SGM_CORRECTOR_LANGEVIN;
    pc.snr = -1.0;
    ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &pc, 4, 1, 0, x, NULL, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "snr = -1"));
    sgm_ode_options ode;
    sgm_ode_options_init(&ode);
    ode.method = NULL;
    ck_assert_int_eq(sgm_ode_sample(&p, &model.model, &ode, 4, 1, 0, x, NULL, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "method is NULL"));
    sgm_ode_options_init(&ode);
    ode.rtol = -1.0;
    ck_assert_int_eq(sgm_ode_sample(&p, &model.model, &ode, 4, 1, 0, x, NULL, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "rtol"));
    sgm_sde_options sde;
    sgm_sde_options_init(&sde);
    sde.adaptive = 1; /* em has no error estimate */
    ck_assert_int_eq(sgm_sde_sample(&p, &model.model, &sde, 4, 1, 0, x, NULL, &err), SLV_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "em"));
    p.beta_max = -3.0;
    sgm_pc_options_init(&pc, &p);
    ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &pc, 4, 1, 0, x, NULL, &err), SLV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "beta_max = -3"));
    /* Names round-trip through the tables. */
    sgm_predictor pr;
    sgm_corrector co;
    sgm_divergence_method dm;
    ck_assert_int_eq(sgm_predictor_parse("reverse_diffusion", &pr), SLV_OK);
    ck_assert_str_eq(sgm_predictor_name(pr), "reverse_diffusion");
    ck_assert_int_eq(sgm_corrector_parse("ald", &co), SLV_OK);
    ck_assert_int_eq(co, SGM_CORRECTOR_ALD);
    ck_assert_int_eq(sgm_corrector_parse("mala", &co), SLV_EINVAL);
    ck_assert_int_eq(sgm_divergence_method_parse("rademacher", &dm), SLV_OK);
    ck_assert_str_eq(sgm_divergence_method_name(dm), "rademacher");
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_guided_wrapper_rejects_oversized_batches)
{
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    sgm_gmm_class_guidance cg = {g, &p, 0};
    sgm_guided_score *guided = sgm_guided_score_alloc(&model.model, sgm_gmm_class_guidance_fn, &cg, 1.0, 2);
    double x[8];
    slv_error err;
    sgm_pc_options pc;
    sgm_pc_options_init(&pc, &p);
    ck_assert_int_eq(sgm_pc_sample(&p, sgm_guided_score_model(guided), &pc, 4, 1, 0, x, NULL, &err),
                     SLV_ECALLBACK);
    ck_assert_ptr_null(sgm_guided_score_alloc(&model.model, NULL, NULL, 1.0, 2));
    sgm_guided_score_free(guided);
    sgm_gmm_free(g);
}
END_TEST

static Suite *repro_suite(void)
{
    Suite *s = suite_create("sde_repro_faults");
    TCase *tc = tcase_create("repro");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_sample_alone_equals_it_inside_batches_of_7_and_64, 0,
                        sizeof repro_cases / sizeof repro_cases[0]);
    tcase_add_loop_test(tc, test_batch_split_is_bit_identical, 0,
                        sizeof repro_cases / sizeof repro_cases[0]);
    tcase_add_test(tc, test_pc_bits_do_not_depend_on_the_thread_count);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("faults");
    tcase_add_loop_test(tf, test_nan_score_reports_time_and_sample, 0,
                        sizeof fault_cases / sizeof fault_cases[0]);
    tcase_add_test(tf, test_interrupt_flag_stops_every_sampler);
    tcase_add_test(tf, test_bad_options_are_named);
    tcase_add_test(tf, test_guided_wrapper_rejects_oversized_batches);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(repro_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
