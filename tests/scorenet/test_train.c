/* test_train.c — denoising score matching: a short run on a 2-D Gaussian mixture learns the exact
 * mixture score; fixed seeds give identical bits; checkpoint → stop → resume ends with the bits of an
 * uninterrupted run; resuming with other settings is refused with the field named. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snet_io.h"
#include "snet_train.h"

static const char *GMM_TEXT = "# three modes\n2 3\n"
                              "0.3 -2 0   0.5 0.5\n"
                              "0.3  2 0   0.5 0.5\n"
                              "0.4  0 2.5 0.5 0.5\n";

static snet_gmm *test_gmm(void)
{
    snet_gmm *g;
    scoresde_error err;
    ck_assert_msg(snet_gmm_parse(GMM_TEXT, "test", &g, &err) == SNET_OK, "%s", err.message);
    return g;
}

static snet_dataset *gmm_data(const snet_gmm *g)
{
    snet_dataset *ds;
    scoresde_error err;
    ck_assert_msg(snet_dataset_toy(&ds, SNET_DATA_GMM, g, &err) == SNET_OK, "%s", err.message);
    return ds;
}

/* The exact score of p_t = Σ w_k N(m μ_k, diag(m² σ_k² + s²)) at x (d ≤ 8, K ≤ 16). */
static void exact_score(const snet_gmm *g, const snet_config *cfg, double t, const float *x, double *score)
{
    double m = snet_marginal_mean(cfg, t), s = snet_marginal_std(cfg, t), logw[16], top = -INFINITY;
    size_t d = g->d;
    for (size_t k = 0; k < g->K; k++) {
        double l = log(g->weight[k]);
        for (size_t j = 0; j < d; j++) {
            double v = m * m * g->std[k * d + j] * g->std[k * d + j] + s * s, e = x[j] - m * g->mean[k * d + j];
            l += -0.5 * log(2 * M_PI * v) - 0.5 * e * e / v;
        }
        logw[k] = l;
        top = fmax(top, l);
    }
    double total = 0.0;
    for (size_t k = 0; k < g->K; k++)
        total += (logw[k] = exp(logw[k] - top));
    for (size_t j = 0; j < d; j++) {
        score[j] = 0.0;
        for (size_t k = 0; k < g->K; k++) {
            double v = m * m * g->std[k * d + j] * g->std[k * d + j] + s * s;
            score[j] += logw[k] / total * -(x[j] - m * g->mean[k * d + j]) / v;
        }
    }
}

static snet_config small_mlp(snet_sde_kind sde, uint32_t hidden)
{
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, sde);
    cfg.hidden = hidden;
    cfg.n_blocks = 2;
    cfg.n_fourier = 32;
    return cfg;
}

static snet_train_options short_run(uint64_t steps)
{
    snet_train_options o;
    snet_train_options_default(&o);
    o.steps = steps;
    o.batch = 256;
    o.lr = 3e-3;
    o.warmup = 100;
    o.seed = 1;
    o.checkpoint_every = 0;
    o.log_every = 0;
    return o;
}

START_TEST(test_dsm_learns_the_exact_gmm_score_at_moderate_t)
{
    snet_set_num_threads(1); // small GEMMs: one thread is fastest and immune to a loaded machine
    snet_gmm *g = test_gmm();
    snet_dataset *ds = gmm_data(g);
    snet_config cfg = small_mlp(SNET_SDE_VP, 64);
    snet_train_options o = short_run(800);
    snet_train_report rep;
    snet_model *m;
    scoresde_error serr;
    ck_assert_msg(snet_train_run(&cfg, ds, &o, &rep, &m, &serr) == SNET_OK, "%s", serr.message);
    printf("DSM on a 3-mode GMM (VP, MLP 64×2, 800 steps of 256): loss %.4f → %.4f in %.1f s\n",
           rep.first_loss, rep.final_loss_avg, rep.seconds);
    // the loss cannot reach 0 (its minimum is the irreducible DSM variance); at initialisation r ≈ 0
    // and the loss is E‖z‖²/D = 1, so a model that learned anything halves it
    ck_assert_msg(rep.final_loss_avg < 0.5 * rep.first_loss, "loss %g → %g", rep.first_loss, rep.final_loss_avg);

    // relative RMS error of the learned score against the exact one over 2000 points x ~ p_t;
    // reference: the best Gaussian (moment-matched) score's error, what a model that misses the modes
    // would reach. Bound: at most 0.15, and under half the Gaussian's error.
    const size_t n = 2000;
    float *x0 = malloc(n * 2 * sizeof(float)), *x = malloc(n * 2 * sizeof(float)), *z = malloc(n * 2 * sizeof(float));
    float *t = malloc(n * sizeof(float)), *s = malloc(n * 2 * sizeof(float));
    snet_workspace *ws = snet_workspace_alloc(m, n);
    snet_gmm *unit;
    ck_assert_int_eq(snet_gmm_parse("2 1\n1 0 0 1 1\n", "unit", &unit, &serr), SNET_OK);
    const double times[] = {0.3, 0.4};
    for (int it = 0; it < 2; it++) {
        double tt = times[it], mt = snet_marginal_mean(&m->cfg, tt), st = snet_marginal_std(&m->cfg, tt);
        snet_gmm_sample(g, 100, (uint64_t)it, n, x0);
        snet_gmm_sample(unit, 200, (uint64_t)it, n, z);
        for (size_t i = 0; i < 2 * n; i++)
            x[i] = (float)(mt * x0[i] + st * z[i]);
        for (size_t i = 0; i < n; i++)
            t[i] = (float)tt;
        ck_assert_int_eq(snet_model_score(m, ws, n, t, x, s), SNET_OK);
        // moment-matched Gaussian of p_t (per dimension)
        double mean[2] = {0, 0}, var[2] = {0, 0};
        for (size_t k = 0; k < g->K; k++)
            for (int j = 0; j < 2; j++)
                mean[j] += g->weight[k] * g->mean[2 * k + j];
        for (size_t k = 0; k < g->K; k++)
            for (int j = 0; j < 2; j++) {
                double dm = g->mean[2 * k + j] - mean[j];
                var[j] += g->weight[k] * (g->std[2 * k + j] * g->std[2 * k + j] + dm * dm);
            }
        double err = 0, err_gauss = 0, norm = 0;
        for (size_t i = 0; i < n; i++) {
            double e[2];
            exact_score(g, &m->cfg, tt, x + 2 * i, e);
            for (int j = 0; j < 2; j++) {
                double gauss = -(x[2 * i + j] - mt * mean[j]) / (mt * mt * var[j] + st * st);
                err += (s[2 * i + j] - e[j]) * (s[2 * i + j] - e[j]);
                err_gauss += (gauss - e[j]) * (gauss - e[j]);
                norm += e[j] * e[j];
            }
        }
        double rel = sqrt(err / norm), rel_gauss = sqrt(err_gauss / norm);
        printf("t = %.1f: learned score relative RMS error %.4f (moment-matched Gaussian: %.4f)\n", tt, rel, rel_gauss);
        ck_assert_msg(rel < 0.15 && rel < 0.5 * rel_gauss, "t = %g: error %g, Gaussian %g", tt, rel, rel_gauss);
    }
    snet_gmm_free(unit);
    snet_workspace_free(ws);
    free(x0), free(x), free(z), free(t), free(s);
    snet_model_free(m);
    snet_dataset_free(ds);
    snet_gmm_free(g);
}
END_TEST

static snet_model *run_to(const snet_config *cfg, snet_dataset *ds, const snet_train_options *o)
{
    snet_model *m;
    scoresde_error err;
    snet_train_report rep;
    int rc = snet_train_run(cfg, ds, o, &rep, &m, &err);
    ck_assert_msg(rc == SNET_OK, "%s", err.message);
    return m;
}

START_TEST(test_fixed_seed_gives_identical_bits_whatever_the_thread_count)
{
    snet_gmm *g = test_gmm();
    snet_dataset *ds = gmm_data(g);
    // hidden 256 at batch 256: every product is cut into several tiles run on the threads
    snet_config cfg = small_mlp((snet_sde_kind)(1 + _i), 256);
    snet_train_options o = short_run(20);
    o.threads = 1;
    snet_model *a = run_to(&cfg, ds, &o);
    for (int threads = 2; threads <= 3; threads++) {
        o.threads = threads;
        snet_model *b = run_to(&cfg, ds, &o);
        ck_assert_msg(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0,
                      "weights after training: 1 and %d threads differ", threads);
        snet_model_free(b);
    }
    o.seed = 2;
    snet_model *c = run_to(&cfg, ds, &o);
    ck_assert_int_ne(memcmp(a->params, c->params, a->n_params * sizeof(float)), 0);
    snet_model_free(a), snet_model_free(c);
    snet_dataset_free(ds);
    snet_gmm_free(g);
    snet_set_num_threads(1);
}
END_TEST

static int stop_at_25(const snet_train_progress *p, void *ctx)
{
    (void)ctx;
    return p->step >= 25; // a "kill" between checkpoints: nothing written on stop
}

START_TEST(test_checkpoint_stop_resume_equals_uninterrupted_run)
{
    snet_set_num_threads(1);
    snet_gmm *g = test_gmm();
    snet_dataset *ds = gmm_data(g);
    snet_config cfg = small_mlp(SNET_SDE_SUBVP, 32);
    const char *ck = "test_train_ck.sgm", *out_a = "test_train_a.sgm", *out_b = "test_train_b.sgm";
    unlink(ck);
    scoresde_error err;

    snet_train_options o = short_run(40);
    o.weighting = SNET_WEIGHT_LIKELIHOOD;
    o.out_path = out_a;
    snet_model *straight = run_to(&cfg, ds, &o);

    snet_train_options s = o;
    s.out_path = out_b;
    s.checkpoint_path = ck;
    s.checkpoint_every = 15;
    s.log_every = 1;
    s.log = stop_at_25;
    snet_train_report rep;
    snet_model *partial;
    ck_assert_int_eq(snet_train_run(&cfg, ds, &s, &rep, &partial, &err), SNET_ESTOPPED);
    ck_assert_uint_eq(rep.end_step, 25);
    snet_model_free(partial);
    snet_file_contents info;
    snet_model *ckm;
    ck_assert_int_eq(snet_model_load(ck, SNET_LOAD_EMA, &ckm, &info, &err), SNET_OK);
    ck_assert_uint_eq(info.step, 15); // the last checkpoint before the stop
    free(info.note);
    snet_model_free(ckm);

    s.log = NULL;
    s.resume = 1;
    snet_model *resumed;
    ck_assert_msg(snet_train_run(&cfg, ds, &s, &rep, &resumed, &err) == SNET_OK, "%s", err.message);
    ck_assert_int_eq(rep.resumed, 1);
    ck_assert_uint_eq(rep.start_step, 15);
    ck_assert_uint_eq(rep.end_step, 40);
    // EMA weights (returned) and raw weights (in the files) identical to the last bit
    ck_assert_int_eq(memcmp(straight->params, resumed->params, straight->n_params * sizeof(float)), 0);
    snet_model *ra, *rb;
    ck_assert_int_eq(snet_model_load(out_a, SNET_LOAD_RAW, &ra, NULL, &err), SNET_OK);
    ck_assert_int_eq(snet_model_load(out_b, SNET_LOAD_RAW, &rb, NULL, &err), SNET_OK);
    ck_assert_int_eq(memcmp(ra->params, rb->params, ra->n_params * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(ra->params, straight->params, ra->n_params * sizeof(float)), 0); // EMA ≠ raw

    // resuming with other settings is refused, naming what differs
    s.steps = 60;
    s.batch = 128;
    ck_assert_int_eq(snet_train_run(&cfg, ds, &s, &rep, NULL, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "cannot resume: batch is 256 in the checkpoint, 128 requested"), "%s", err.message);
    s.batch = 256;
    snet_config other = cfg;
    other.hidden = 16;
    ck_assert_int_eq(snet_train_run(&other, ds, &s, &rep, NULL, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "cannot resume: hidden is 32 in the checkpoint, 16 requested"), "%s", err.message);
    // a plain weights file is not a checkpoint
    s.checkpoint_path = out_a;
    ck_assert_int_eq(snet_train_run(&cfg, ds, &s, &rep, NULL, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "without training state"), "%s", err.message);

    snet_model_free(ra), snet_model_free(rb), snet_model_free(straight), snet_model_free(resumed);
    unlink(ck), unlink(out_a), unlink(out_b);
    snet_dataset_free(ds);
    snet_gmm_free(g);
}
END_TEST

START_TEST(test_every_sde_and_weighting_lowers_the_loss)
{
    // the DSM loss of 20 fixed evaluation batches before and after 300 steps, paired (same x0, t, z):
    // the mean improvement must exceed 3 standard errors of the paired differences. (With the
    // likelihood weighting most of the loss is the irreducible part at large t, so a ratio test
    // would say little.)
    snet_set_num_threads(1);
    snet_gmm *g = test_gmm();
    snet_dataset *ds = gmm_data(g);
    snet_config cfg = small_mlp((snet_sde_kind)(1 + _i % 3), 32);
    snet_train_options o = short_run(300);
    o.weighting = (snet_weighting)(_i / 3);
    snet_model *m;
    snet_trainer *tr;
    scoresde_error err;
    ck_assert_msg(snet_model_alloc(&m, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(m, o.seed);
    ck_assert_msg(snet_trainer_alloc(&tr, m, &o, &err) == SNET_OK, "%s", err.message);
    enum { N_EVAL = 20 };
    const uint64_t eval_from = 1000000; // batches no training step uses
    double before[N_EVAL], diff_sum = 0, diff_sq = 0, mean_before = 0, mean_after = 0;
    for (int k = 0; k < N_EVAL; k++)
        before[k] = snet_trainer_eval_loss(tr, ds, eval_from + (uint64_t)k);
    snet_train_progress pr;
    for (uint64_t k = 0; k < o.steps; k++)
        ck_assert_int_eq(snet_trainer_step(tr, ds, &pr), SNET_OK);
    ck_assert_uint_eq(snet_trainer_steps_done(tr), o.steps);
    for (int k = 0; k < N_EVAL; k++) {
        double after = snet_trainer_eval_loss(tr, ds, eval_from + (uint64_t)k), d = before[k] - after;
        diff_sum += d, diff_sq += d * d;
        mean_before += before[k] / N_EVAL, mean_after += after / N_EVAL;
    }
    double mean = diff_sum / N_EVAL, se = sqrt((diff_sq / N_EVAL - mean * mean) / (N_EVAL - 1));
    printf("%-5s %s weighting: evaluation loss %.4f → %.4f (improvement %.4f ± %.4f)\n",
           scoresde_process_kind_name(cfg.sde), _i / 3 ? "g²" : "s²", mean_before, mean_after, mean, se);
    ck_assert_msg(mean > 3 * se && mean > 0, "improvement %g, standard error %g", mean, se);
    snet_trainer_free(tr);
    snet_model_free(m);
    snet_dataset_free(ds);
    snet_gmm_free(g);
}
END_TEST

START_TEST(test_non_finite_loss_stops_with_the_step)
{
    snet_set_num_threads(1);
    snet_gmm *g;
    scoresde_error err;
    ck_assert_int_eq(snet_gmm_parse("2 1\n1 3e38 0 1 1\n", "huge", &g, &err), SNET_OK);
    snet_dataset *ds = gmm_data(g);
    snet_config cfg = small_mlp(SNET_SDE_VP, 8);
    snet_train_options o = short_run(5);
    snet_train_report rep;
    ck_assert_int_eq(snet_train_run(&cfg, ds, &o, &rep, NULL, &err), SNET_ENONFINITE);
    ck_assert_msg(strstr(err.message, "step 1: loss"), "%s", err.message);
    o.batch = 0;
    ck_assert_int_eq(snet_train_run(&cfg, ds, &o, &rep, NULL, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "batch = 0"), "%s", err.message);
    snet_dataset_free(ds);
    snet_gmm_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scorenet_train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_dsm_learns_the_exact_gmm_score_at_moderate_t);
    tcase_add_test(tc, test_checkpoint_stop_resume_equals_uninterrupted_run);
    tcase_add_loop_test(tc, test_every_sde_and_weighting_lowers_the_loss, 0, 6);
    tcase_add_test(tc, test_non_finite_loss_stops_with_the_step);
    suite_add_tcase(s, tc);
    // the bit-identity promises, also run alone under every OpenBLAS kernel (scripts/test.sh)
    TCase *bits = tcase_create("bits");
    tcase_set_timeout(bits, 300);
    tcase_add_loop_test(bits, test_fixed_seed_gives_identical_bits_whatever_the_thread_count, 0, 3);
    suite_add_tcase(s, bits);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
