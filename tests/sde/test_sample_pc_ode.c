/* test_sample_pc_ode.c — the predictor–corrector and probability-flow ODE samplers on the 2-D mixture, for VE, VP and sub-VP.
 * Every case: sampler_cases.h. */
#include "sampler_cases.h"

static const sampler_case cases[] = {
    {"pc euler_maruyama", PC, SGM_PROCESS_VE, SGM_PREDICTOR_EULER_MARUYAMA, SGM_CORRECTOR_NONE, NULL, 0, 0},
    {"pc euler_maruyama", PC, SGM_PROCESS_VP, SGM_PREDICTOR_EULER_MARUYAMA, SGM_CORRECTOR_NONE, NULL, 0, 0},
    {"pc euler_maruyama", PC, SGM_PROCESS_SUBVP, SGM_PREDICTOR_EULER_MARUYAMA, SGM_CORRECTOR_NONE, NULL, 0, 0},
    {"pc rev_diffusion+langevin(batch)", PC, SGM_PROCESS_VE, SGM_PREDICTOR_REVERSE_DIFFUSION, SGM_CORRECTOR_LANGEVIN, NULL, 0, 1},
    {"pc rev_diffusion+langevin(batch)", PC, SGM_PROCESS_VP, SGM_PREDICTOR_REVERSE_DIFFUSION, SGM_CORRECTOR_LANGEVIN, NULL, 0, 1},
    {"pc rev_diffusion+langevin(batch)", PC, SGM_PROCESS_SUBVP, SGM_PREDICTOR_REVERSE_DIFFUSION, SGM_CORRECTOR_LANGEVIN, NULL, 0, 1},
    {"pc rev_diffusion+ald", PC, SGM_PROCESS_VE, SGM_PREDICTOR_REVERSE_DIFFUSION, SGM_CORRECTOR_ALD, NULL, 0, 0},
    {"pc ancestral", PC, SGM_PROCESS_VE, SGM_PREDICTOR_ANCESTRAL, SGM_CORRECTOR_NONE, NULL, 0, 0},
    {"pc ancestral", PC, SGM_PROCESS_VP, SGM_PREDICTOR_ANCESTRAL, SGM_CORRECTOR_NONE, NULL, 0, 0},
    {"ode dopri5", ODE, SGM_PROCESS_VE, 0, 0, NULL, 0, 0},
    {"ode dopri5", ODE, SGM_PROCESS_VP, 0, 0, NULL, 0, 0},
    {"ode dopri5", ODE, SGM_PROCESS_SUBVP, 0, 0, NULL, 0, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

START_TEST(test_sampler_matches_mixture)
{
    run_sampler_case(&cases[_i]);
}
END_TEST

/* The energy test has power: exact samples of a mixture with the weights of modes 1 and 2
 * swapped (0.5, 0.2, 0.3) are rejected, and exact samples of the mixture itself are not. */
START_TEST(test_energy_test_rejects_wrong_weights)
{
    const size_t n2 = 1000, d = 2;
    sgm_gmm *g = test_mixture_2d();
    sgm_gmm *h = test_mixture_2d();
    const double w[3] = {0.5, 0.2, 0.3};
    ck_assert_int_eq(sgm_gmm_set(h, w, g->means, g->stds, NULL), SLV_OK);
    double *x = malloc(n2 * d * sizeof *x), *y = malloc(n2 * d * sizeof *y);
    sgm_gmm_sample(g, NULL, 0.0, n2, 1, 0, y, NULL);
    sgm_gmm_sample(h, NULL, 0.0, n2, 2, 0, x, NULL);
    energy_result e = energy_test(g, NULL, 0.0, x, y, n2);
    ck_assert_msg(e.p_value <= 0.005, "energy test missed swapped weights: p = %.4f", e.p_value);
    sgm_gmm_sample(g, NULL, 0.0, n2, 3, 0, x, NULL);
    e = energy_test(g, NULL, 0.0, x, y, n2);
    ck_assert_msg(e.p_value > 0.005, "energy test rejected exact vs exact: p = %.4f", e.p_value);
    free(x);
    free(y);
    sgm_gmm_free(g);
    sgm_gmm_free(h);
}
END_TEST

static Suite *samplers_suite(void)
{
    Suite *s = suite_create("sde_sample_pc_ode");
    TCase *tc = tcase_create("mixture");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_energy_test_rejects_wrong_weights);
    tcase_add_loop_test(tc, test_sampler_matches_mixture, 0, N_CASES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    print_table_header();
    SRunner *sr = srunner_create(samplers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
