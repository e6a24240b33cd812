/* test_train_shards.c — the data-parallel hooks of snet_train.h: one shard [0, B) plus apply_grad is
 * snet_trainer_step bit for bit; shard gradients and losses add up to the batch's within the float
 * rounding of the batch sums; a shard's bits do not depend on which other shards were computed;
 * bad row ranges are refused. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet_train.h"

static const char *GMM_TEXT = "2 2\n0.5 -1 0 0.4 0.4\n0.5 1 1 0.3 0.6\n";

typedef struct fixture {
    snet_gmm *gmm;
    snet_dataset *data;
    snet_model *model;
    snet_trainer *tr;
} fixture;

static snet_train_options options(void)
{
    snet_train_options o;
    snet_train_options_default(&o);
    o.steps = 100;
    o.batch = 96;
    o.lr = 3e-3;
    o.warmup = 10;
    o.seed = 7;
    o.checkpoint_every = 0;
    o.log_every = 0;
    return o;
}

static void setup(fixture *f, snet_arch_kind arch)
{
    scoresde_error err;
    ck_assert_msg(snet_gmm_parse(GMM_TEXT, "test", &f->gmm, &err) == SNET_OK, "%s", err.message);
    ck_assert_msg(snet_dataset_toy(&f->data, SNET_DATA_GMM, f->gmm, &err) == SNET_OK, "%s", err.message);
    snet_config cfg;
    snet_config_default(&cfg, arch, 2, 1, 1, SNET_SDE_VP);
    cfg.hidden = 32;
    cfg.n_blocks = 2;
    cfg.n_fourier = 16;
    snet_dataset_apply_config(f->data, &cfg);
    ck_assert_msg(snet_model_alloc(&f->model, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(f->model, 3);
    snet_train_options o = options();
    ck_assert_msg(snet_trainer_alloc(&f->tr, f->model, &o, &err) == SNET_OK, "%s", err.message);
}

static void teardown(fixture *f)
{
    snet_trainer_free(f->tr);
    snet_model_free(f->model);
    snet_dataset_free(f->data);
    snet_gmm_free(f->gmm);
}

START_TEST(test_one_shard_plus_apply_is_a_step_bit_for_bit)
{
    fixture a, b;
    setup(&a, SNET_ARCH_MLP);
    setup(&b, SNET_ARCH_MLP);
    size_t P = snet_trainer_n_params(b.tr);
    ck_assert_uint_eq(P, a.model->n_params);
    float *g = malloc(P * sizeof *g);
    for (int k = 0; k < 5; k++) {
        snet_train_progress pa, pb;
        double loss;
        ck_assert_int_eq(snet_trainer_step(a.tr, a.data, &pa), SNET_OK);
        ck_assert_int_eq(snet_trainer_shard_grad(b.tr, b.data, 0, options().batch, g, &loss), SNET_OK);
        ck_assert_int_eq(snet_trainer_apply_grad(b.tr, g, loss, &pb), SNET_OK);
        ck_assert(pa.loss == pb.loss && pa.grad_norm == pb.grad_norm && pa.step == pb.step);
    }
    ck_assert_uint_eq(snet_trainer_steps_done(b.tr), 5);
    ck_assert(memcmp(a.model->params, b.model->params, P * sizeof(float)) == 0);
    ck_assert(memcmp(snet_trainer_ema(a.tr), snet_trainer_ema(b.tr), P * sizeof(float)) == 0);
    free(g);
    teardown(&a);
    teardown(&b);
}
END_TEST

/* Shards [0, 29), [29, 96) against the whole batch, with the bound of a float sum of B terms:
 * |computed − exact| ≤ γ_B Σ|terms|, γ_B = B·u/(1 − B·u), u = 2^−24, for each of the two
 * computations; Σ|terms| is taken from the one-row gradients (each row's contribution). */
START_TEST(test_shard_gradients_add_up_to_the_batch_gradient)
{
    fixture f;
    setup(&f, SNET_ARCH_MLP);
    size_t P = snet_trainer_n_params(f.tr), B = options().batch, split = 29;
    float *full = malloc(P * sizeof *full), *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2),
          *row = malloc(P * sizeof *row);
    double *abs_sum = calloc(P, sizeof *abs_sum), *row_sum = calloc(P, sizeof *row_sum);
    double loss_full, l1, l2, loss_rows = 0.0, lr;
    for (int k = 0; k < 3; k++) { /* past the zero-initialised output layer: every layer has a gradient */
        snet_train_progress p;
        ck_assert_int_eq(snet_trainer_step(f.tr, f.data, &p), SNET_OK);
    }
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, 0, B, full, &loss_full), SNET_OK);
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, 0, split, g1, &l1), SNET_OK);
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, split, B - split, g2, &l2), SNET_OK);
    for (size_t b = 0; b < B; b++) {
        ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, b, 1, row, &lr), SNET_OK);
        loss_rows += lr;
        for (size_t i = 0; i < P; i++) {
            abs_sum[i] += fabs(row[i]);
            row_sum[i] += row[i];
        }
    }
    double u = ldexp(1.0, -24), gamma = B * u / (1 - B * u);
    size_t worst = 0, nonzero = 0;
    double worst_ratio = 0.0;
    for (size_t i = 0; i < P; i++) {
        double bound = 2 * gamma * abs_sum[i] + 4 * u * fabs(full[i]) + 1e-30;
        double err = fabs(((double)g1[i] + g2[i]) - full[i]);
        ck_assert_msg(err <= bound, "param %zu: shards %.9g + %.9g vs batch %.9g (bound %.3g)", i,
                      (double)g1[i], (double)g2[i], (double)full[i], bound);
        ck_assert_msg(fabs(row_sum[i] - full[i]) <= bound, "param %zu: rows %.9g vs batch %.9g", i, row_sum[i],
                      (double)full[i]);
        if (err / bound > worst_ratio)
            worst_ratio = err / bound, worst = i;
        nonzero += full[i] != 0.0f;
    }
    ck_assert_uint_gt(nonzero, P / 2); /* the check is not vacuous */
    /* the loss: a sum of B non-negative row terms, same bound (a row's network output may round
     * differently in a call with other rows: the matrix-product kernels depend on the row count) */
    ck_assert_msg(fabs(l1 + l2 - loss_full) <= 2 * gamma * loss_full, "loss %.17g + %.17g vs %.17g", l1, l2,
                  loss_full);
    ck_assert_msg(fabs(loss_rows - loss_full) <= 2 * gamma * loss_full, "rows' loss %.17g vs %.17g", loss_rows,
                  loss_full);
    fprintf(stderr, "shard sum vs batch gradient: worst error %.3g of its bound (param %zu)\n", worst_ratio, worst);
    free(full), free(g1), free(g2), free(row), free(abs_sum), free(row_sum);
    teardown(&f);
}
END_TEST

/* The second shard's bits whether or not the first was computed by the same trainer; and two
 * trainers that apply the same summed gradient stay identical. */
START_TEST(test_a_shard_does_not_depend_on_the_other_shards_computed)
{
    fixture a, b;
    setup(&a, SNET_ARCH_MLP);
    setup(&b, SNET_ARCH_MLP);
    size_t P = snet_trainer_n_params(a.tr), B = options().batch;
    float *ga1 = malloc(P * sizeof(float)), *ga2 = malloc(P * sizeof(float)), *gb2 = malloc(P * sizeof(float));
    for (int k = 0; k < 3; k++) {
        double l1, l2, m2;
        ck_assert_int_eq(snet_trainer_shard_grad(a.tr, a.data, 0, B / 2, ga1, &l1), SNET_OK);
        ck_assert_int_eq(snet_trainer_shard_grad(a.tr, a.data, B / 2, B - B / 2, ga2, &l2), SNET_OK);
        ck_assert_int_eq(snet_trainer_shard_grad(b.tr, b.data, B / 2, B - B / 2, gb2, &m2), SNET_OK);
        ck_assert(memcmp(ga2, gb2, P * sizeof(float)) == 0 && l2 == m2);
        for (size_t i = 0; i < P; i++)
            ga1[i] += ga2[i];
        snet_train_progress pa, pb;
        ck_assert_int_eq(snet_trainer_apply_grad(a.tr, ga1, l1 + l2, &pa), SNET_OK);
        ck_assert_int_eq(snet_trainer_apply_grad(b.tr, ga1, l1 + l2, &pb), SNET_OK);
    }
    ck_assert(memcmp(a.model->params, b.model->params, P * sizeof(float)) == 0);
    free(ga1), free(ga2), free(gb2);
    teardown(&a);
    teardown(&b);
}
END_TEST

START_TEST(test_rows_outside_the_batch_are_refused)
{
    fixture f;
    setup(&f, SNET_ARCH_MLP);
    size_t P = snet_trainer_n_params(f.tr), B = options().batch;
    float *g = malloc(P * sizeof *g);
    double loss;
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, 0, 0, g, &loss), SNET_EINVAL);
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, B, 1, g, &loss), SNET_EINVAL);
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, 10, B - 9, g, &loss), SNET_EINVAL);
    ck_assert_int_eq(snet_trainer_shard_grad(f.tr, f.data, 1, (size_t)-1, g, &loss), SNET_EINVAL);
    ck_assert(isnan(loss));
    ck_assert_uint_eq(snet_trainer_steps_done(f.tr), 0);
    free(g);
    teardown(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_shards");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_one_shard_plus_apply_is_a_step_bit_for_bit);
    tcase_add_test(tc, test_shard_gradients_add_up_to_the_batch_gradient);
    tcase_add_test(tc, test_a_shard_does_not_depend_on_the_other_shards_computed);
    tcase_add_test(tc, test_rows_outside_the_batch_are_refused);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
