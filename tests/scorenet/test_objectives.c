/* test_objectives.c — the score-matching objectives (snet_train.h):
 * - on a 2-D Gaussian each objective drives a linear score model s(x) = A x + b to the true score
 *   A = −Σ⁻¹, b = Σ⁻¹μ (ESM exactly to the sample optimum, the sliced ones within their projection
 *   noise), DSM to the optimum of the smoothed density;
 * - on a fixed network the SSM and SSM-VR losses agree in expectation with the ESM loss (mean over
 *   many projections within 3 standard errors);
 * - the trainer's gradient of each sliced objective is the derivative of its loss (finite
 *   differences through snet_trainer_eval_loss on the same draws);
 * - a short run of each objective learns the perturbed Gaussian's score with the MLP;
 * - the NCSN and DDPM schedules: levels, ᾱ, and draws only on the grid;
 * - what is refused: esm above SNET_ESM_MAX_DIM, sliced objectives without a tangent pass. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "snet_io.h"
#include "snet_train.h"

enum { D2 = 2 };
static const double MU[D2] = {1.0, -1.0};
static const double SIGMA[D2][D2] = {{1.0, 0.5}, {0.5, 2.0}};

/* n points of N(MU, SIGMA) through the Cholesky factor. */
static void gaussian_points(size_t n, unsigned long seed, float *x)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    double l00 = sqrt(SIGMA[0][0]), l10 = SIGMA[1][0] / l00, l11 = sqrt(SIGMA[1][1] - l10 * l10);
    for (size_t i = 0; i < n; i++) {
        double z0 = gsl_ran_gaussian(r, 1.0), z1 = gsl_ran_gaussian(r, 1.0);
        x[i * D2] = (float)(MU[0] + l00 * z0);
        x[i * D2 + 1] = (float)(MU[1] + l10 * z0 + l11 * z1);
    }
    gsl_rng_free(r);
}

/* Sample mean and biased covariance, and the score-matching optimum of the linear model on them:
 * A = −Σ̂⁻¹, b = Σ̂⁻¹ μ̂. */
static void sample_optimum(size_t n, const float *x, double A[D2][D2], double b[D2])
{
    double mean[D2] = {0, 0}, cov[D2][D2] = {{0, 0}, {0, 0}};
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < D2; j++)
            mean[j] += x[i * D2 + j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < D2; j++)
            for (int k = 0; k < D2; k++)
                cov[j][k] += (x[i * D2 + j] - mean[j]) * (x[i * D2 + k] - mean[k]) / (double)n;
    double det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
    A[0][0] = -cov[1][1] / det, A[1][1] = -cov[0][0] / det;
    A[0][1] = cov[0][1] / det, A[1][0] = cov[1][0] / det;
    for (int j = 0; j < D2; j++)
        b[j] = -(A[j][0] * mean[0] + A[j][1] * mean[1]);
}

/* Full-batch gradient descent of the linear model s = A x + b (J = A, so J v = A v) on the fixed
 * points x (n) with M fixed directions each (or, for esm, the directions √D e_d). DSM: the points
 * are perturbed by σ_dsm z with fixed z and the loss is ‖s(x̃) + z/σ‖². Returns the model. */
static void fit_linear(snet_objective obj, size_t n, const float *x, size_t M, double sigma_dsm,
                       double A[D2][D2], double b[D2])
{
    size_t R = n * M;
    float *xr = malloc(R * D2 * sizeof *xr), *v = malloc(R * D2 * sizeof *v);
    float *s = malloc(R * D2 * sizeof *s), *jv = malloc(R * D2 * sizeof *jv);
    float *ds = malloc(R * D2 * sizeof *ds), *djv = malloc(R * D2 * sizeof *djv);
    double *w = malloc(R * sizeof *w);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 77);
    for (size_t j = 0; j < R; j++) {
        w[j] = 1.0 / (double)R;
        for (int d = 0; d < D2; d++) {
            xr[j * D2 + d] = x[(j / M) * D2 + d];
            if (obj == SNET_OBJECTIVE_ESM)
                v[j * D2 + d] = (size_t)d == j % M ? (float)sqrt((double)D2) : 0.0f;
            else if (obj == SNET_OBJECTIVE_DSM)
                v[j * D2 + d] = (float)gsl_ran_gaussian(r, 1.0); // the DSM noise z
            else
                v[j * D2 + d] = gsl_rng_uniform(r) < 0.5 ? -1.0f : 1.0f;
        }
        if (obj == SNET_OBJECTIVE_DSM)
            for (int d = 0; d < D2; d++)
                xr[j * D2 + d] += (float)(sigma_dsm * v[j * D2 + d]);
    }
    gsl_rng_free(r);
    memset(A, 0, sizeof(double) * D2 * D2);
    memset(b, 0, sizeof(double) * D2);
    double lr = 0.2;
    for (int it = 0; it < 400; it++) { // the loss is quadratic: contraction ≤ 0.9 per iteration
        for (size_t j = 0; j < R; j++)
            for (int d = 0; d < D2; d++) {
                s[j * D2 + d] = (float)(A[d][0] * xr[j * D2] + A[d][1] * xr[j * D2 + 1] + b[d]);
                jv[j * D2 + d] = (float)(A[d][0] * v[j * D2] + A[d][1] * v[j * D2 + 1]);
            }
        if (obj == SNET_OBJECTIVE_DSM) {
            // ‖s + z/σ‖²: ds = 2 (s + z/σ), no tangent term
            for (size_t j = 0; j < R * D2; j++) {
                ds[j] = (float)(2.0 * w[j / D2] * (s[j] + v[j] / sigma_dsm));
                djv[j] = 0.0f;
            }
        } else {
            snet_sliced_sm_rows(obj, R, D2, s, jv, v, w, ds, djv);
        }
        double gA[D2][D2] = {{0, 0}, {0, 0}}, gb[D2] = {0, 0};
        for (size_t j = 0; j < R; j++)
            for (int d = 0; d < D2; d++) {
                for (int k = 0; k < D2; k++)
                    gA[d][k] += ds[j * D2 + d] * xr[j * D2 + k] + djv[j * D2 + d] * v[j * D2 + k];
                gb[d] += ds[j * D2 + d];
            }
        for (int d = 0; d < D2; d++) {
            for (int k = 0; k < D2; k++)
                A[d][k] -= lr * gA[d][k];
            b[d] -= lr * gb[d];
        }
    }
    free(xr), free(v), free(s), free(jv), free(ds), free(djv), free(w);
}

static void assert_linear_near(const char *what, double A[D2][D2], double b[D2],
                               double A_ref[D2][D2], double b_ref[D2], double tol)
{
    for (int d = 0; d < D2; d++) {
        for (int k = 0; k < D2; k++)
            ck_assert_msg(fabs(A[d][k] - A_ref[d][k]) <= tol, "%s: A[%d][%d] = %.4f, expected %.4f ± %g",
                          what, d, k, A[d][k], A_ref[d][k], tol);
        ck_assert_msg(fabs(b[d] - b_ref[d]) <= tol, "%s: b[%d] = %.4f, expected %.4f ± %g", what, d,
                      b[d], b_ref[d], tol);
    }
}

/* True optimum of the linear model: A = −Σ⁻¹, b = Σ⁻¹ μ (Σ⁻¹ = [[2, −0.5], [−0.5, 1]]/1.75). */
static void true_optimum(double A[D2][D2], double b[D2])
{
    double det = SIGMA[0][0] * SIGMA[1][1] - SIGMA[0][1] * SIGMA[1][0];
    A[0][0] = -SIGMA[1][1] / det, A[1][1] = -SIGMA[0][0] / det;
    A[0][1] = SIGMA[0][1] / det, A[1][0] = SIGMA[1][0] / det;
    for (int j = 0; j < D2; j++)
        b[j] = -(A[j][0] * MU[0] + A[j][1] * MU[1]);
}

/* n = 4000 points: the sample optimum is within about 0.05 of the true one (entries of Σ̂⁻¹ have a
 * relative standard error near √(2/n) ≈ 2%, so 0.08 is > 3 SE for the largest entry, 1.14). */
START_TEST(test_each_objective_drives_a_linear_model_to_the_gaussian_score)
{
    enum { N = 4000 };
    float *x = malloc(N * D2 * sizeof *x);
    gaussian_points(N, 5, x);
    double A_true[D2][D2], b_true[D2], A_hat[D2][D2], b_hat[D2], A[D2][D2], b[D2];
    true_optimum(A_true, b_true);
    sample_optimum(N, x, A_hat, b_hat);
    assert_linear_near("sample optimum", A_hat, b_hat, A_true, b_true, 0.08);

    // ESM: the sample objective's exact minimiser (only the float rounding of the descent)
    fit_linear(SNET_OBJECTIVE_ESM, N, x, D2, 0.0, A, b);
    assert_linear_near("esm vs sample optimum", A, b, A_hat, b_hat, 2e-3);
    // SSM-VR and SSM with 4 Rademacher directions per point: vᵀAv = tr A + Σ_{i≠j} v_i v_j A_ij,
    // the cross terms average out over 4N directions to ≈ |A_01|·2/√(4N) ≈ 0.005
    fit_linear(SNET_OBJECTIVE_SSM_VR, N, x, 4, 0.0, A, b);
    assert_linear_near("ssm-vr vs sample optimum", A, b, A_hat, b_hat, 0.03);
    assert_linear_near("ssm-vr vs true score", A, b, A_true, b_true, 0.1);
    fit_linear(SNET_OBJECTIVE_SSM, N, x, 4, 0.0, A, b);
    assert_linear_near("ssm vs sample optimum", A, b, A_hat, b_hat, 0.05);
    assert_linear_near("ssm vs true score", A, b, A_true, b_true, 0.1);
    // DSM at σ learns the score of the smoothed density N(μ, Σ + σ² I). Its noise term z/σ makes
    // the sample optimum wander by about 1/(σ √(N M)) ≈ 0.013 with 16 draws of z per point.
    const double sigma = 0.3;
    fit_linear(SNET_OBJECTIVE_DSM, N, x, 16, sigma, A, b);
    double A_ref[D2][D2], b_ref[D2], c00 = SIGMA[0][0] + sigma * sigma, c11 = SIGMA[1][1] + sigma * sigma,
           det = c00 * c11 - SIGMA[0][1] * SIGMA[1][0];
    A_ref[0][0] = -c11 / det, A_ref[1][1] = -c00 / det;
    A_ref[0][1] = SIGMA[0][1] / det, A_ref[1][0] = SIGMA[1][0] / det;
    for (int j = 0; j < D2; j++)
        b_ref[j] = -(A_ref[j][0] * MU[0] + A_ref[j][1] * MU[1]);
    assert_linear_near("dsm vs the smoothed score", A, b, A_ref, b_ref, 0.08);
    free(x);
}
END_TEST

/* ---- networks ---------------------------------------------------------------------------------- */

static snet_model *small_mlp(snet_sde_kind sde, uint32_t D, int layer_norm, uint64_t seed)
{
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, D, 1, 1, sde);
    cfg.hidden = 16;
    cfg.n_blocks = 2;
    cfg.n_fourier = 4;
    cfg.layer_norm = (uint32_t)layer_norm;
    cfg.sigma_max = 5.0f;
    snet_model *m;
    scoresde_error err;
    ck_assert_msg(snet_model_alloc(&m, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(m, seed);
    // move every weight off its initial value so that no block is the identity (fc2 starts at 0)
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, (unsigned long)seed + 1);
    for (size_t k = 0; k < m->n_tensors; k++)
        if (m->tensors[k].trainable)
            for (size_t i = 0; i < m->tensors[k].size; i++)
                m->params[m->tensors[k].offset + i] += (float)gsl_ran_gaussian(r, 0.2);
    gsl_rng_free(r);
    return m;
}

/* ESM's loss per sample is E_v of SSM-VR's and SSM's (E vvᵀ = I for both distributions): on
 * fixed points and times, the mean of K independent direction draws is within 3 SE of it. */
START_TEST(test_sliced_losses_agree_with_exact_in_expectation)
{
    enum { D = 3, NPTS = 4, K = 4000 };
    snet_model *m = small_mlp(SNET_SDE_VP, D, 1, 11);
    snet_workspace *ws = snet_workspace_alloc(m, K);
    ck_assert_ptr_nonnull(ws);
    float x[NPTS * D], t[K], xs[K * D], v[K * D], s[K * D], jv[K * D];
    double w[K];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    for (size_t i = 0; i < NPTS * D; i++)
        x[i] = (float)gsl_ran_gaussian(r, 1.0);
    for (int p = 0; p < NPTS; p++) {
        float tp = 0.2f + 0.2f * (float)p;
        // ESM: the D directions √D e_d, weight 1/D each
        for (int d = 0; d < D; d++) {
            t[d] = tp;
            memcpy(xs + d * D, x + p * D, sizeof(float) * D);
            for (int k = 0; k < D; k++)
                v[d * D + k] = d == k ? sqrtf((float)D) : 0.0f;
            w[d] = 1.0 / D;
        }
        ck_assert_int_eq(snet_model_score_jvp(m, ws, D, t, xs, v, s, jv), SNET_OK);
        double esm = snet_sliced_sm_rows(SNET_OBJECTIVE_ESM, D, D, s, jv, v, w, NULL, NULL);
        for (int proj = 0; proj < 2; proj++)
            for (int obj = SNET_OBJECTIVE_SSM; obj <= SNET_OBJECTIVE_SSM_VR; obj++) {
                for (int j = 0; j < K; j++) {
                    t[j] = tp;
                    memcpy(xs + j * D, x + p * D, sizeof(float) * D);
                    for (int k = 0; k < D; k++)
                        v[j * D + k] = proj ? (float)gsl_ran_gaussian(r, 1.0)
                                            : (gsl_rng_uniform(r) < 0.5 ? -1.0f : 1.0f);
                    w[j] = 1.0;
                }
                ck_assert_int_eq(snet_model_score_jvp(m, ws, K, t, xs, v, s, jv), SNET_OK);
                double sum = 0.0, sum2 = 0.0;
                for (int j = 0; j < K; j++) {
                    double l = snet_sliced_sm_rows((snet_objective)obj, 1, D, s + j * D, jv + j * D,
                                                   v + j * D, w + j, NULL, NULL);
                    sum += l;
                    sum2 += l * l;
                }
                double mean = sum / K, se = sqrt((sum2 / K - mean * mean) / (K - 1));
                ck_assert_msg(se > 0.0, "no spread over the directions");
                ck_assert_msg(fabs(mean - esm) <= 3.0 * se,
                              "%s (%s) point %d t %.1f: mean over %d directions %.5f, esm %.5f, "
                              "3 SE = %.5f", snet_objective_name((snet_objective)obj),
                              proj ? "gaussian" : "rademacher", p, (double)tp, K, mean, esm, 3 * se);
            }
    }
    gsl_rng_free(r);
    snet_workspace_free(ws);
    snet_model_free(m);
}
END_TEST

static snet_dataset *gaussian_dataset(void)
{
    static const char *text = "# one 2-D Gaussian\n2 1\n1.0  1.0 -1.0  1.0 1.5\n";
    snet_gmm *g;
    snet_dataset *ds;
    scoresde_error err;
    ck_assert_msg(snet_gmm_parse(text, "test", &g, &err) == SNET_OK, "%s", err.message);
    ck_assert_msg(snet_dataset_toy(&ds, SNET_DATA_GMM, g, &err) == SNET_OK, "%s", err.message);
    snet_gmm_free(g); // the data set keeps its own copy
    return ds;
}

/* The trainer's gradient is the derivative of its own loss on the same draws: central differences
 * of snet_trainer_eval_loss(step 0) along random parameter directions, for every objective, VE
 * and VP, continuous and discrete. */
START_TEST(test_trainer_gradient_matches_finite_differences)
{
    static const struct {
        snet_objective obj;
        snet_sde_kind sde;
        uint32_t discrete;
    } cases[] = {
        {SNET_OBJECTIVE_SSM, SNET_SDE_VP, 0},    {SNET_OBJECTIVE_SSM_VR, SNET_SDE_VE, 0},
        {SNET_OBJECTIVE_ESM, SNET_SDE_SUBVP, 0}, {SNET_OBJECTIVE_SSM_VR, SNET_SDE_VE, 10},
        {SNET_OBJECTIVE_SSM, SNET_SDE_VP, 100},  {SNET_OBJECTIVE_DSM, SNET_SDE_VP, 100},
    };
    snet_dataset *data = gaussian_dataset();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snet_model *m = small_mlp(cases[c].sde, 2, 1, 21 + c);
        m->cfg.discrete_steps = cases[c].discrete;
        snet_train_options opt;
        snet_train_options_default(&opt);
        opt.batch = 16;
        opt.objective = cases[c].obj;
        opt.projections = 3;
        opt.projection = c % 2 ? SNET_PROJECTION_GAUSSIAN : SNET_PROJECTION_RADEMACHER;
        opt.ema_decay = 0.0;
        opt.t_eps = 0.05; // away from the steepest times, where float differences lose digits
        snet_trainer *tr;
        scoresde_error err;
        ck_assert_msg(snet_trainer_alloc(&tr, m, &opt, &err) == SNET_OK, "%s", err.message);
        float *grad = malloc(m->n_params * sizeof *grad), *dir = malloc(m->n_params * sizeof *dir);
        float *saved = malloc(m->n_params * sizeof *saved);
        double loss;
        ck_assert_int_eq(snet_trainer_shard_grad(tr, data, 0, opt.batch, grad, &loss), SNET_OK);
        ck_assert_msg(fabs(loss - snet_trainer_eval_loss(tr, data, 0)) <= 1e-6 * fabs(loss) + 1e-9,
                      "case %zu: eval_loss differs from the step's loss", c);
        memcpy(saved, m->params, m->n_params * sizeof *saved);
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 100 + c);
        for (int trial = 0; trial < 3; trial++) {
            double analytic = 0.0, norm = 0.0;
            for (size_t k = 0; k < m->n_tensors; k++)
                for (size_t i = 0; i < m->tensors[k].size; i++) {
                    size_t at = m->tensors[k].offset + i;
                    dir[at] = m->tensors[k].trainable ? (float)gsl_ran_gaussian(r, 1.0) : 0.0f;
                    norm += (double)dir[at] * dir[at];
                }
            for (size_t i = 0; i < m->n_params; i++)
                analytic += (double)(dir[i] /= (float)sqrt(norm)) * grad[i];
            double h = 2e-3, f[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                for (size_t i = 0; i < m->n_params; i++)
                    m->params[i] = saved[i] + (float)(sgn ? -h : h) * dir[i];
                f[sgn] = snet_trainer_eval_loss(tr, data, 0);
            }
            memcpy(m->params, saved, m->n_params * sizeof *saved);
            double numeric = (f[0] - f[1]) / (2 * h);
            ck_assert_msg(fabs(numeric - analytic) <= 0.02 * fabs(analytic) + 1e-3 * fabs(loss),
                          "case %zu (%s, %s, discrete %u) trial %d: directional derivative %.6g, "
                          "finite difference %.6g (loss %.4g)", c, snet_objective_name(cases[c].obj),
                          scoresde_process_kind_name(cases[c].sde), cases[c].discrete, trial, analytic, numeric, loss);
        }
        gsl_rng_free(r);
        free(grad), free(dir), free(saved);
        snet_trainer_free(tr);
        snet_model_free(m);
    }
    snet_dataset_free(data);
}
END_TEST

/* Exact score of the perturbed Gaussian N(m μ, m² diag(1, 1.5²) + s² I). */
static void gaussian_score_t(const snet_config *cfg, double t, const float *x, double *score)
{
    static const double mu[2] = {1.0, -1.0}, sd[2] = {1.0, 1.5};
    double m = snet_marginal_mean(cfg, t), s = snet_marginal_std(cfg, t);
    for (int j = 0; j < 2; j++)
        score[j] = -(x[j] - m * mu[j]) / (m * m * sd[j] * sd[j] + s * s);
}

/* A short run of every objective learns the score of the perturbed data: relative Fisher
 * divergence E‖s_θ − s‖² / E‖s‖² below 0.1 at t = 0.3 and 0.6 (an untrained network is near 1). */
START_TEST(test_each_objective_trains_the_mlp_to_the_perturbed_score)
{
    snet_dataset *data = gaussian_dataset();
    for (int obj = SNET_OBJECTIVE_DSM; obj <= SNET_OBJECTIVE_ESM; obj++) {
        snet_config cfg;
        snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP);
        cfg.hidden = 32;
        cfg.n_blocks = 1;
        cfg.n_fourier = 8;
        snet_train_options opt;
        snet_train_options_default(&opt);
        opt.steps = 600;
        opt.batch = 128;
        opt.lr = 3e-3;
        opt.warmup = 20;
        opt.ema_decay = 0.0;
        opt.objective = (snet_objective)obj;
        opt.projections = 2;
        opt.seed = 9;
        opt.checkpoint_every = 0;
        opt.log_every = 0;
        snet_model *m;
        snet_train_report rep;
        scoresde_error serr;
        ck_assert_msg(snet_train_run(&cfg, data, &opt, &rep, &m, &serr) == SNET_OK, "%s", serr.message);
        snet_workspace *ws = snet_workspace_alloc(m, 512);
        float x[512 * 2], t[512], score[512 * 2];
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 4);
        for (int ti = 0; ti < 2; ti++) {
            double tt = ti ? 0.6 : 0.3, mm = snet_marginal_mean(&m->cfg, tt), ss = snet_marginal_std(&m->cfg, tt);
            for (int i = 0; i < 512; i++) {
                t[i] = (float)tt;
                x[2 * i] = (float)(mm * (1.0 + gsl_ran_gaussian(r, 1.0)) + ss * gsl_ran_gaussian(r, 1.0));
                x[2 * i + 1] = (float)(mm * (-1.0 + gsl_ran_gaussian(r, 1.5)) + ss * gsl_ran_gaussian(r, 1.0));
            }
            ck_assert_int_eq(snet_model_score(m, ws, 512, t, x, score), SNET_OK);
            double err = 0.0, ref = 0.0;
            for (int i = 0; i < 512; i++) {
                double s[2];
                gaussian_score_t(&m->cfg, tt, x + 2 * i, s);
                for (int j = 0; j < 2; j++) {
                    err += (score[2 * i + j] - s[j]) * (score[2 * i + j] - s[j]);
                    ref += s[j] * s[j];
                }
            }
            ck_assert_msg(err / ref < 0.1, "%s: relative Fisher divergence %.4f at t = %.1f (loss %.4f -> %.4f)",
                          snet_objective_name((snet_objective)obj), err / ref, tt, rep.first_loss,
                          rep.final_loss_avg);
        }
        gsl_rng_free(r);
        snet_workspace_free(ws);
        snet_model_free(m);
    }
    snet_dataset_free(data);
}
END_TEST

START_TEST(test_discrete_schedules_are_ncsn_and_ddpm)
{
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VE);
    cfg.discrete_steps = 10;
    double t, mean, std;
    // NCSN: σ_max = σ(1) > … > σ_min = σ(0), geometric
    for (uint32_t i = 0; i < 10; i++) {
        ck_assert_int_eq(snet_discrete_time(&cfg, i, &t, &mean, &std), SNET_OK);
        double want = cfg.sigma_min * pow((double)cfg.sigma_max / cfg.sigma_min, i / 9.0);
        ck_assert_msg(fabs(std - want) <= 1e-12 * want && mean == 1.0 && fabs(t - i / 9.0) < 1e-15,
                      "level %u: σ %.6g, expected %.6g", i, std, want);
    }
    ck_assert_int_eq(snet_discrete_time(&cfg, 10, &t, &mean, &std), SNET_EINVAL);
    // DDPM with N = 1000: β from 1e-4 to 0.02; ᾱ_N ≈ 4.0e-5 (Ho et al.), and m_i² + s_i² = 1
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP);
    cfg.discrete_steps = 1000;
    double alpha_bar = 1.0;
    for (uint32_t i = 0; i < 1000; i++) {
        alpha_bar *= 1.0 - (1e-4 + i * (0.02 - 1e-4) / 999.0);
        ck_assert_int_eq(snet_discrete_time(&cfg, i, &t, &mean, &std), SNET_OK);
        ck_assert_msg(fabs(mean * mean - alpha_bar) <= 1e-9 && fabs(mean * mean + std * std - 1.0) < 1e-12 &&
                      fabs(t - (i + 1) / 1000.0) < 1e-15, "step %u: ᾱ %.9g, expected %.9g", i, mean * mean,
                      alpha_bar);
    }
    ck_assert_msg(fabs(alpha_bar - 4.04e-5) < 0.05e-5, "ᾱ_N = %g", alpha_bar);
    cfg.sde = SNET_SDE_SUBVP;
    ck_assert_int_eq(snet_discrete_time(&cfg, 0, &t, &mean, &std), SNET_EINVAL);
    scoresde_error err;
    ck_assert_int_eq(snet_config_validate(&cfg, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "discrete_steps"), "%s", err.message);
}
END_TEST

/* A tiny 2-D network and a few steps of training without logs or checkpoints. */
static void tiny_run(snet_config *cfg, snet_train_options *opt, snet_sde_kind sde, uint64_t steps,
                     size_t batch)
{
    snet_config_default(cfg, SNET_ARCH_MLP, 2, 1, 1, sde);
    cfg->hidden = 8;
    cfg->n_blocks = 1;
    cfg->n_fourier = 4;
    snet_train_options_default(opt);
    opt->steps = steps;
    opt->batch = batch;
    opt->checkpoint_every = 0;
    opt->log_every = 0;
}

/* A discrete model's training draws only its levels, and the weights file keeps discrete_steps. */
START_TEST(test_discrete_training_uses_the_grid_and_is_saved)
{
    snet_dataset *data = gaussian_dataset();
    snet_config cfg;
    snet_train_options opt;
    tiny_run(&cfg, &opt, SNET_SDE_VE, 3, 64);
    cfg.discrete_steps = 5;
    char path[] = "/tmp/test_objectives_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    opt.out_path = path;
    scoresde_error err;
    ck_assert_msg(snet_train_run(&cfg, data, &opt, NULL, NULL, &err) == SNET_OK, "%s", err.message);
    snet_model *m;
    snet_file_contents info;
    ck_assert_msg(snet_model_load(path, SNET_LOAD_EMA, &m, &info, &err) == SNET_OK, "%s", err.message);
    ck_assert_uint_eq(m->cfg.discrete_steps, 5);
    ck_assert_uint_eq(info.version, 2);
    snet_file_contents_free(&info);
    unlink(path);
    // every drawn time is a level t_i = i/4, and 64 draws meet all 5 levels
    snet_trainer *tr;
    ck_assert_msg(snet_trainer_alloc(&tr, m, &opt, &err) == SNET_OK, "%s", err.message);
    ck_assert(isfinite(snet_trainer_eval_loss(tr, data, 0)));
    const float *t = snet_trainer_times(tr);
    int seen[5] = {0};
    for (size_t b = 0; b < opt.batch; b++) {
        int level = (int)lrint(t[b] * 4.0);
        ck_assert_msg(level >= 0 && level < 5 && t[b] == (float)(level / 4.0), "t[%zu] = %.9g is not a level",
                      b, (double)t[b]);
        seen[level] = 1;
    }
    for (int i = 0; i < 5; i++)
        ck_assert_msg(seen[i], "level %d never drawn in %zu draws", i, opt.batch);
    snet_trainer_free(tr);
    snet_model_free(m);
    snet_dataset_free(data);
}
END_TEST

START_TEST(test_objectives_refuse_what_they_cannot_do)
{
    scoresde_error err;
    snet_train_options opt;
    snet_train_options_default(&opt);
    opt.batch = 4;
    snet_trainer *tr;
    // esm above SNET_ESM_MAX_DIM
    snet_model *big = small_mlp(SNET_SDE_VP, SNET_ESM_MAX_DIM + 1, 0, 1);
    opt.objective = SNET_OBJECTIVE_ESM;
    ck_assert_int_eq(snet_trainer_alloc(&tr, big, &opt, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "esm") && strstr(err.message, "65") && strstr(err.message, "64"), "%s", err.message);
    opt.objective = SNET_OBJECTIVE_SSM;
    ck_assert_int_eq(snet_trainer_alloc(&tr, big, &opt, &err), SNET_OK);
    snet_trainer_free(tr);
    opt.projections = 0;
    ck_assert_int_eq(snet_trainer_alloc(&tr, big, &opt, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "projections"), "%s", err.message);
    snet_model_free(big);
    // an architecture without a tangent pass
    snet_model *m = small_mlp(SNET_SDE_VP, 2, 0, 1);
    snet_arch_ops no_tangent = *m->arch;
    no_tangent.tangent_forward = NULL;
    no_tangent.tangent_backward = NULL;
    m->arch = &no_tangent;
    opt.projections = 1;
    ck_assert_int_eq(snet_trainer_alloc(&tr, m, &opt, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "tangent"), "%s", err.message);
    opt.objective = SNET_OBJECTIVE_DSM;
    ck_assert_int_eq(snet_trainer_alloc(&tr, m, &opt, &err), SNET_OK);
    snet_trainer_free(tr);
    snet_model_free(m);
    // names
    snet_objective o;
    ck_assert_int_eq(snet_objective_parse("ssm-vr", &o), SNET_OK);
    ck_assert_int_eq(o, SNET_OBJECTIVE_SSM_VR);
    ck_assert_int_eq(snet_objective_parse("sliced", &o), SNET_EINVAL);
}
END_TEST

/* A checkpoint remembers the objective: resuming with another is refused, naming both. */
START_TEST(test_resume_refuses_another_objective)
{
    snet_dataset *data = gaussian_dataset();
    snet_config cfg;
    snet_train_options opt;
    tiny_run(&cfg, &opt, SNET_SDE_VP, 2, 8);
    opt.objective = SNET_OBJECTIVE_SSM_VR;
    char path[] = "/tmp/test_objectives_ckpt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    opt.checkpoint_path = path;
    scoresde_error err;
    ck_assert_msg(snet_train_run(&cfg, data, &opt, NULL, NULL, &err) == SNET_OK, "%s", err.message);
    opt.steps = 4;
    opt.resume = 1;
    ck_assert_msg(snet_train_run(&cfg, data, &opt, NULL, NULL, &err) == SNET_OK, "%s", err.message);
    opt.objective = SNET_OBJECTIVE_SSM;
    opt.steps = 6;
    ck_assert_int_eq(snet_train_run(&cfg, data, &opt, NULL, NULL, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "objective is ssm-vr in the checkpoint, ssm requested"), "%s", err.message);
    unlink(path);
    snet_dataset_free(data);
}
END_TEST

static Suite *objectives_suite(void)
{
    Suite *s = suite_create("objectives");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_each_objective_drives_a_linear_model_to_the_gaussian_score);
    tcase_add_test(tc, test_sliced_losses_agree_with_exact_in_expectation);
    tcase_add_test(tc, test_trainer_gradient_matches_finite_differences);
    tcase_add_test(tc, test_each_objective_trains_the_mlp_to_the_perturbed_score);
    tcase_add_test(tc, test_discrete_schedules_are_ncsn_and_ddpm);
    tcase_add_test(tc, test_discrete_training_uses_the_grid_and_is_saved);
    tcase_add_test(tc, test_objectives_refuse_what_they_cannot_do);
    tcase_add_test(tc, test_resume_refuses_another_objective);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(objectives_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
