/* test_sampler_table.c — the sampler families as a table (sgm_sampler_families, sgm_sampler.h).
 *
 *  - Every family of the table, with its default options from options_init, samples the 2-D
 *    three-mode mixture of sde_test_util.h (exact oracle score, VE process with N = 50, 16
 *    samples from global index 3) through its `sample` and gives the same bits and NFE as its
 *    sgm_<family>_sample called with the typed options of sgm_<family>_options_init.
 *  - set_interrupt writes the flag the sampler polls: a raised flag stops every family with
 *    SLV_EINTERRUPTED. set_inpaint, where a family has it, keeps the known coordinate: it equals
 *    the observed value exactly; the families without inpainting (sde, ald) have none.
 *  - sgm_sampler_family_by_name finds each family as its exported pointer and refuses an unknown
 *    name and NULL; options_size is the size of the family's options struct, which
 *    sgm_sampler_options has room for. */
#include "sde_test_util.h"

#include "sgm_sampler.h"

enum { N_SAMPLES = 16, FIRST_SAMPLE = 3, DIM = 2 };
#define SEED 7u

static size_t n_families(void)
{
    size_t n = 0;
    while (sgm_sampler_families[n])
        n++;
    return n;
}

/* The mixture under VE with a short discretisation (PC and SDE steps). */
static sgm_gmm *mixture(sgm_process *p, sgm_gmm_model *model)
{
    sgm_gmm *g = test_mixture_2d();
    sgm_process_init(p, SGM_PROCESS_VE);
    p->N = 50;
    sgm_gmm_model_init(model, g, p);
    return g;
}

/* The family's sampler called directly, with the typed options' defaults; its options size in
 * *size. */
static int typed_sample(const sgm_sampler_family *f, const sgm_process *p, const sgm_score_model *model,
                        double *x, sgm_stats *stats, slv_error *err, size_t *size)
{
    if (f == sgm_sampler_pc) {
        sgm_pc_options o;
        sgm_pc_options_init(&o, p);
        *size = sizeof o;
        return sgm_pc_sample(p, model, &o, N_SAMPLES, SEED, FIRST_SAMPLE, x, stats, err);
    }
    if (f == sgm_sampler_ode) {
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        *size = sizeof o;
        return sgm_ode_sample(p, model, &o, N_SAMPLES, SEED, FIRST_SAMPLE, x, stats, err);
    }
    if (f == sgm_sampler_sde) {
        sgm_sde_options o;
        sgm_sde_options_init(&o);
        *size = sizeof o;
        return sgm_sde_sample(p, model, &o, N_SAMPLES, SEED, FIRST_SAMPLE, x, stats, err);
    }
    if (f == sgm_sampler_fast) {
        sgm_fast_options o;
        sgm_fast_options_init(&o);
        *size = sizeof o;
        return sgm_fast_sample(p, model, &o, N_SAMPLES, SEED, FIRST_SAMPLE, x, stats, err);
    }
    if (f == sgm_sampler_ald) {
        sgm_ald_options o;
        sgm_ald_options_init(&o);
        *size = sizeof o;
        return sgm_ald_sample(p, model, &o, N_SAMPLES, SEED, FIRST_SAMPLE, x, stats, err);
    }
    ck_abort_msg("family '%s' has no typed call in this test: add it to typed_sample", f->name);
    return SLV_EINVAL;
}

START_TEST(test_table_sample_gives_the_bits_of_the_typed_call)
{
    const sgm_sampler_family *f = sgm_sampler_families[_i];
    sgm_process p;
    sgm_gmm_model model;
    sgm_gmm *g = mixture(&p, &model);
    double by_table[N_SAMPLES * DIM], direct[N_SAMPLES * DIM];
    sgm_stats table_stats, direct_stats;
    slv_error err;
    size_t size = 0;
    sgm_sampler_options options;
    f->options_init(&options, &p);
    int status = f->sample(&p, &model.model, &options, N_SAMPLES, SEED, FIRST_SAMPLE, by_table,
                           &table_stats, &err);
    ck_assert_msg(status == SLV_OK, "%s through the table: status %d: %s", f->name, status, err.message);
    status = typed_sample(f, &p, &model.model, direct, &direct_stats, &err, &size);
    ck_assert_msg(status == SLV_OK, "%s called directly: status %d: %s", f->name, status, err.message);
    ck_assert_msg(f->options_size == size, "%s: options_size %zu, its options struct has %zu bytes",
                  f->name, f->options_size, size);
    ck_assert_uint_le(f->options_size, sizeof(sgm_sampler_options));
    for (size_t k = 0; k < N_SAMPLES * DIM; k++)
        ck_assert_msg(memcmp(&by_table[k], &direct[k], sizeof by_table[k]) == 0,
                      "%s: value %zu is %.17g through the table, %.17g called directly", f->name, k,
                      by_table[k], direct[k]);
    ck_assert_uint_eq(table_stats.nfe, direct_stats.nfe);
    ck_assert_uint_gt(table_stats.nfe, 0);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_table_interrupt_stops_every_family)
{
    const sgm_sampler_family *f = sgm_sampler_families[_i];
    sgm_process p;
    sgm_gmm_model model;
    sgm_gmm *g = mixture(&p, &model);
    double x[N_SAMPLES * DIM];
    slv_error err;
    volatile int flag = 1;
    sgm_sampler_options options;
    f->options_init(&options, &p);
    f->set_interrupt(&options, &flag);
    int status = f->sample(&p, &model.model, &options, N_SAMPLES, SEED, FIRST_SAMPLE, x, NULL, &err);
    ck_assert_msg(status == SLV_EINTERRUPTED, "%s with the interrupt flag raised: status %d", f->name,
                  status);
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_table_inpainting_keeps_the_known_coordinate)
{
    const sgm_sampler_family *f = sgm_sampler_families[_i];
    if (!f->set_inpaint) {
        ck_assert_msg(f == sgm_sampler_sde || f == sgm_sampler_ald, "%s has no set_inpaint", f->name);
        return;
    }
    sgm_process p;
    sgm_gmm_model model;
    sgm_gmm *g = mixture(&p, &model);
    const unsigned char mask[DIM] = {1, 0};
    const double observed[DIM] = {4.0, -2.0}; /* the mean of mode 1 */
    const sgm_inpaint inpaint = {mask, observed, 1};
    double x[N_SAMPLES * DIM];
    slv_error err;
    sgm_sampler_options options;
    f->options_init(&options, &p);
    f->set_inpaint(&options, &inpaint);
    int status = f->sample(&p, &model.model, &options, N_SAMPLES, SEED, FIRST_SAMPLE, x, NULL, &err);
    ck_assert_msg(status == SLV_OK, "%s inpainting: status %d: %s", f->name, status, err.message);
    for (size_t i = 0; i < N_SAMPLES; i++) {
        ck_assert_msg(x[i * DIM] == observed[0], "%s: sample %zu has known coordinate %.17g, observed %g",
                      f->name, i, x[i * DIM], observed[0]);
        ck_assert(isfinite(x[i * DIM + 1]));
    }
    sgm_gmm_free(g);
}
END_TEST

START_TEST(test_family_by_name_finds_each_and_refuses_unknown)
{
    const sgm_sampler_family *const exported[] = {sgm_sampler_pc, sgm_sampler_ode, sgm_sampler_sde,
                                                  sgm_sampler_fast, sgm_sampler_ald};
    const size_t n_exported = sizeof exported / sizeof exported[0];
    ck_assert_uint_eq(n_families(), n_exported);
    for (size_t i = 0; i < n_exported; i++) {
        ck_assert_ptr_eq(sgm_sampler_families[i], exported[i]);
        ck_assert_ptr_eq(sgm_sampler_family_by_name(exported[i]->name), exported[i]);
        ck_assert_msg(exported[i]->summary && exported[i]->summary[0], "%s has no summary",
                      exported[i]->name);
    }
    ck_assert_str_eq(sgm_sampler_pc->name, "pc");
    ck_assert_str_eq(sgm_sampler_ode->name, "ode");
    ck_assert_str_eq(sgm_sampler_sde->name, "sde");
    ck_assert_str_eq(sgm_sampler_fast->name, "fast");
    ck_assert_str_eq(sgm_sampler_ald->name, "ald");
    ck_assert_ptr_null(sgm_sampler_family_by_name("nope"));
    ck_assert_ptr_null(sgm_sampler_family_by_name("PC"));
    ck_assert_ptr_null(sgm_sampler_family_by_name(""));
    ck_assert_ptr_null(sgm_sampler_family_by_name(NULL));
}
END_TEST

static Suite *sampler_table_suite(void)
{
    Suite *s = suite_create("sde_sampler_table");
    TCase *tc = tcase_create("sampler_table");
    tcase_set_timeout(tc, 300);
    const int n = (int)n_families();
    tcase_add_loop_test(tc, test_table_sample_gives_the_bits_of_the_typed_call, 0, n);
    tcase_add_loop_test(tc, test_table_interrupt_stops_every_family, 0, n);
    tcase_add_loop_test(tc, test_table_inpainting_keeps_the_known_coordinate, 0, n);
    tcase_add_test(tc, test_family_by_name_finds_each_and_refuses_unknown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sampler_table_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
