/* test_sample_sde.c — the reverse-time SDE handed to slv_sde_solver (Euler–Maruyama, SRA1,
 * adaptive SRA3) on the 2-D mixture, for VE, VP and sub-VP.
 * Every case: sampler_cases.h. */
#include "sampler_cases.h"

static const sampler_case cases[] = {
    {"sde em (1000 steps)", SDE_FIXED, SGM_PROCESS_VE, 0, 0, "em", 1000, 0},
    {"sde em (1000 steps)", SDE_FIXED, SGM_PROCESS_VP, 0, 0, "em", 1000, 0},
    {"sde em (1000 steps)", SDE_FIXED, SGM_PROCESS_SUBVP, 0, 0, "em", 1000, 0},
    {"sde sra1 (250 steps)", SDE_FIXED, SGM_PROCESS_VE, 0, 0, "sra1", 250, 0},
    {"sde sra1 (250 steps)", SDE_FIXED, SGM_PROCESS_VP, 0, 0, "sra1", 250, 0},
    {"sde sra1 (250 steps)", SDE_FIXED, SGM_PROCESS_SUBVP, 0, 0, "sra1", 250, 0},
    {"sde sra3 adaptive", SDE_ADAPTIVE, SGM_PROCESS_VP, 0, 0, "sra3", 0, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

START_TEST(test_sampler_matches_mixture)
{
    run_sampler_case(&cases[_i]);
}
END_TEST

static Suite *samplers_suite(void)
{
    Suite *s = suite_create("sde_sample_sde");
    TCase *tc = tcase_create("mixture");
    tcase_set_timeout(tc, 300);
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
