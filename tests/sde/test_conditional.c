/* test_conditional.c — controllable generation against closed forms.
 *
 * Inpainting (the paper's Appendix I replacement scheme) on a 2-D mixture whose observed
 * coordinate x0 has the same law in components A and B (N(3, 0.5²)) and a far one in C
 * (N(−4, 0.5²)); x1 is N(−2, 0.4²), N(2, 0.6²), N(0, 1) in A, B, C. Given x0 = 3.2 the exact
 * conditional of x1 is 0.375 N(−2, 0.4²) + 0.625 N(2, 0.6²) (C's weight e^{−104}). In this
 * configuration the replacement scheme is exact up to C's negligible weight: the noisy observed
 * coordinate carries the same information about A versus B as the clean one (none) — in general
 * the scheme is an approximation (docs/sde.md). Checked for PC and ODE samplers, VP and VE:
 * weights/means/variances of x1 within 4 SE of n = 3000 samples, energy test against exact
 * conditional samples, and x0 exactly the observed value.
 *
 * Guidance: adding ∇ₓ log p_t(k | x) of the mixture to its score gives ∇ₓ log p_t(x | k), the score
 * of component k alone, so guided samples are samples of component k: all of them land in k, with
 * its mean and variance (4 SE). */
#include "sde_test_util.h"

#include "sgm_sampler.h"

static sgm_gmm *inpainting_mixture(void)
{
    static const double w[3] = {0.3, 0.5, 0.2};
    static const double mu[6] = {3.0, -2.0, 3.0, 2.0, -4.0, 0.0};
    static const double sd[6] = {0.5, 0.4, 0.5, 0.6, 0.5, 1.0};
    sgm_gmm *g = sgm_gmm_alloc(2, 3);
    ck_assert_int_eq(sgm_gmm_set(g, w, mu, sd, NULL), SLV_OK);
    return g;
}

/* Cases: bit 0 ODE (else PC), bit 1 VE (else VP). */
START_TEST(test_inpainting_matches_closed_form_conditional)
{
    const int ode = _i & 1;
    const sgm_process_kind kind = (_i & 2) ? SGM_PROCESS_VE : SGM_PROCESS_VP;
    const size_t n = 3000, n2 = 1000, d = 2;
    sgm_gmm *g = inpainting_mixture();
    sgm_process p;
    sgm_process_init(&p, kind);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    const unsigned char mask[2] = {1, 0};
    const double observed[2] = {3.2, 0.0};
    sgm_inpaint inpaint = {mask, observed, 1};
    double *x = malloc(n * d * sizeof *x), *x1 = malloc(n * sizeof *x1), *exact = malloc(n2 * sizeof *exact);
    sgm_stats stats;
    slv_error err;
    int status;
    const double eps = sgm_process_default_eps(&p);
    if (ode) {
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        o.inpaint = &inpaint;
        status = sgm_ode_sample(&p, &model.model, &o, n, 21, 0, x, &stats, &err);
    } else {
        sgm_pc_options o;
        sgm_pc_options_init(&o, &p);
        o.corrector = SGM_CORRECTOR_NONE; /* VE: reverse diffusion alone; VP: Euler–Maruyama */
        o.inpaint = &inpaint;
        status = sgm_pc_sample(&p, &model.model, &o, n, 21, 0, x, &stats, &err);
    }
    ck_assert_msg(status == SLV_OK, "status %d: %s", status, err.message);
    for (size_t i = 0; i < n; i++) {
        ck_assert_double_eq(x[i * d], 3.2);
        x1[i] = x[i * d + 1];
    }
    sgm_gmm *cond = NULL;
    ck_assert_int_eq(sgm_gmm_conditional(g, mask, observed, &cond, &err), SLV_OK);
    ck_assert_double_eq_tol(cond->weights[0], 0.375, 1e-12);
    char label[64];
    snprintf(label, sizeof label, "inpainting %s %s", ode ? "ode" : "pc", sgm_process_kind_name(kind));
    mode_check mc = check_modes(cond, &p, eps, x1, n, label);
    sgm_gmm_sample(cond, &p, eps, n2, 5, 0, exact, NULL);
    energy_result e = energy_test(cond, &p, eps, x1, exact, n2);
    printf("| %-22s | %5zu | %.4f (%.1f SE) | %.4f | %.3f |\n", label, stats.nfe,
           mc.max_weight_error, mc.max_weight_z, e.distance, e.p_value);
    ck_assert_msg(e.p_value > 0.005, "%s: energy %.4g, p = %.4f", label, e.distance, e.p_value);
    sgm_gmm_free(cond);
    sgm_gmm_free(g);
    free(x);
    free(x1);
    free(exact);
}
END_TEST

/* Per-sample observations: each sample gets its own row; the rows are honoured. */
START_TEST(test_inpainting_per_sample_rows)
{
    const size_t n = 4, d = 2;
    sgm_gmm *g = inpainting_mixture();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    const unsigned char mask[2] = {1, 0};
    const double observed[8] = {3.0, 0, -4.0, 0, 2.5, 0, -3.5, 0};
    sgm_inpaint inpaint = {mask, observed, 0};
    sgm_pc_options o;
    sgm_pc_options_init(&o, &p);
    o.inpaint = &inpaint;
    double x[8];
    ck_assert_int_eq(sgm_pc_sample(&p, &model.model, &o, n, 3, 0, x, NULL, NULL), SLV_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_double_eq(x[i * d], observed[i * d]);
    /* A sample observed at x0 = −4 is in component C: x1 ~ N(0, 1), so |x1| < 5. */
    ck_assert(fabs(x[3]) < 5.0 && fabs(x[7]) < 5.0);
    sgm_gmm_free(g);
}
END_TEST

/* Cases: class 1 or 2 × PC (VP) or ODE (VP). */
START_TEST(test_guidance_lands_in_the_class)
{
    const size_t k = 1 + (_i & 1);
    const int ode = _i >> 1;
    const size_t n = 2000, d = 2;
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, SGM_PROCESS_VP);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    sgm_gmm_class_guidance cg = {g, &p, k};
    sgm_guided_score *guided = sgm_guided_score_alloc(&model.model, sgm_gmm_class_guidance_fn, &cg, 1.0, n);
    ck_assert_ptr_nonnull(guided);
    double *x = malloc(n * d * sizeof *x);
    slv_error err;
    sgm_stats stats;
    int status;
    if (ode) {
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        status = sgm_ode_sample(&p, sgm_guided_score_model(guided), &o, n, 31, 0, x, &stats, &err);
    } else {
        sgm_pc_options o;
        sgm_pc_options_init(&o, &p);
        status = sgm_pc_sample(&p, sgm_guided_score_model(guided), &o, n, 31, 0, x, &stats, &err);
    }
    ck_assert_msg(status == SLV_OK, "%s", err.message);
    /* Component k alone, as a one-component mixture. */
    sgm_gmm *comp = sgm_gmm_alloc(2, 1);
    const double one = 1.0;
    ck_assert_int_eq(sgm_gmm_set(comp, &one, g->means + k * d, g->stds + k * d, NULL), SLV_OK);
    double *post = malloc(n * 3 * sizeof *post);
    sgm_gmm_class_posterior(g, NULL, 0.0, n, x, post);
    size_t inside = 0;
    for (size_t i = 0; i < n; i++)
        inside += post[i * 3 + k] > 0.5;
    char label[64];
    snprintf(label, sizeof label, "guidance class %zu %s", k, ode ? "ode" : "pc");
    printf("%s: %zu of %zu samples in component %zu, NFE %zu\n", label, inside, n, k, stats.nfe);
    ck_assert_msg(inside == n, "%s: %zu of %zu samples in component %zu", label, inside, n, k);
    check_modes(comp, &p, sgm_process_default_eps(&p), x, n, label);
    sgm_gmm_free(comp);
    sgm_gmm_free(g);
    sgm_guided_score_free(guided);
    free(x);
    free(post);
}
END_TEST

static Suite *conditional_suite(void)
{
    Suite *s = suite_create("sde_conditional");
    TCase *tc = tcase_create("conditional");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_inpainting_matches_closed_form_conditional, 0, 4);
    tcase_add_test(tc, test_inpainting_per_sample_rows);
    tcase_add_loop_test(tc, test_guidance_lands_in_the_class, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conditional_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
