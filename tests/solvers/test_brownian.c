/* test_brownian.c — the Brownian tree of (ΔW, H) pairs: consistency of children with their
 * parent (to rounding), the law of the node values at several depths (statistical, tolerances
 * from the sample size), and reproducibility of the bits whatever the query order or batch split.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slv_sde.h"

#define ROOT 2.5

START_TEST(test_root_length_embeds_n_and_2n_steps_in_one_tree)
{
    unsigned level;
    double root = slv_brownian_root_length(3.0, 1, &level);
    ck_assert_uint_eq(level, 0);
    ck_assert(root == 3.0);
    root = slv_brownian_root_length(3.0, 8, &level);
    ck_assert_uint_eq(level, 3);
    ck_assert(root == 3.0);
    double r3 = slv_brownian_root_length(0.7, 3, &level);
    ck_assert_uint_eq(level, 2);
    ck_assert_double_eq_tol(r3, 0.7 * 4.0 / 3.0, 1e-15);
    for (size_t n = 3; n <= 3 * 1024; n *= 2) {
        unsigned l;
        double r = slv_brownian_root_length(0.7, n, &l);
        ck_assert_msg(memcmp(&r, &r3, sizeof r) == 0, "N = %zu: root %.17g differs from N = 3", n, r);
        ck_assert_uint_eq(1u << l, 4 * (n / 3));
    }
    root = slv_brownian_root_length(1.0, 5, &level); /* 5 steps of 1/5 inside a root of 8/5 */
    ck_assert_uint_eq(level, 3);
    ck_assert_double_eq_tol(root, 1.6, 1e-15);
    ck_assert(slv_brownian_root_length(1.0, 0, &level) == 0.0);
    ck_assert(slv_brownian_root_length(1.0, (size_t)1 << 41, &level) == 0.0);
}
END_TEST

/* Parent (W, H) over length h and its children: W = W_L + W_R and
 * I(1,0) = h(W/2 + H) = I_L + I_R + (h/2) W_L. */
START_TEST(test_children_sum_to_their_parent)
{
    const size_t n = 5, m = 3;
    slv_brownian *bm = slv_brownian_alloc(n, m, ROOT, 99, 0);
    ck_assert_ptr_nonnull(bm);
    double Wp[15], Hp[15], WL[15], HL[15], WR[15], HR[15];
    uint64_t state = 12345;
    double worst_w = 0.0, worst_i = 0.0;
    for (int trial = 0; trial < 400; trial++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned level = (unsigned)(state >> 33) % SLV_BROWNIAN_MAX_LEVEL; /* 0..39 */
        uint64_t index = (state >> 7) & ((UINT64_C(1) << level) - 1);
        ck_assert_int_eq(slv_brownian_interval(bm, level, index, Wp, Hp), SLV_OK);
        ck_assert_int_eq(slv_brownian_interval(bm, level + 1, 2 * index, WL, HL), SLV_OK);
        ck_assert_int_eq(slv_brownian_interval(bm, level + 1, 2 * index + 1, WR, HR), SLV_OK);
        double h = ldexp(ROOT, -(int)level), hc = 0.5 * h;
        for (size_t e = 0; e < n * m; e++) {
            double scale_w = sqrt(h);
            double dw = fabs(WL[e] + WR[e] - Wp[e]) / scale_w;
            double I = h * (0.5 * Wp[e] + Hp[e]);
            double IL = hc * (0.5 * WL[e] + HL[e]), IR = hc * (0.5 * WR[e] + HR[e]);
            double di = fabs(IL + IR + hc * WL[e] - I) / (h * scale_w);
            worst_w = fmax(worst_w, dw);
            worst_i = fmax(worst_i, di);
        }
    }
    printf("children vs parent, relative to sqrt(h) and h^1.5: |W_L + W_R - W| <= %.2e, "
           "|I_L + I_R + h/2 W_L - I| <= %.2e\n",
           worst_w, worst_i);
    ck_assert_msg(worst_w < 1e-13, "increments of children do not add up: %g", worst_w);
    ck_assert_msg(worst_i < 1e-13, "I(1,0) of children does not add up: %g", worst_i);
    slv_brownian_free(bm);
}
END_TEST

/* At each tested depth, over P paths: Var ΔW = h, Var H = h/12, Cov(ΔW, H) = 0; the children
 * have the law of the halves (Var h/2 and h/24) and are independent of each other (every
 * cross-correlation of (ΔW_L, H_L) with (ΔW_R, H_R) vanishes): the joint law of Brownian motion
 * on two disjoint intervals, which a wrong split formula would break. Each statistic is
 * checked within 5 standard errors: SE(var)/var = √(2/P), SE(corr) = 1/√P. */
START_TEST(test_node_values_have_the_brownian_law_at_every_depth)
{
    const size_t P = 20000;
    const unsigned levels[] = {0, 1, 4, 11, 25, 39};
    slv_brownian *bm = slv_brownian_alloc(P, 1, ROOT, 2718, 0);
    ck_assert_ptr_nonnull(bm);
    double *W = malloc(P * sizeof(double)), *H = malloc(P * sizeof(double));
    double *WL = malloc(P * sizeof(double)), *HL = malloc(P * sizeof(double));
    double *WR = malloc(P * sizeof(double)), *HR = malloc(P * sizeof(double));
    const double tol_var = 5.0 * sqrt(2.0 / (double)P), tol_corr = 5.0 / sqrt((double)P);
    for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
        unsigned level = levels[li];
        uint64_t index = level == 0 ? 0 : ((UINT64_C(1) << level) - 1) / 3; /* an inner node */
        double h = ldexp(ROOT, -(int)level);
        ck_assert_int_eq(slv_brownian_interval(bm, level, index, W, H), SLV_OK);
        ck_assert_int_eq(slv_brownian_interval(bm, level + 1, 2 * index, WL, HL), SLV_OK);
        ck_assert_int_eq(slv_brownian_interval(bm, level + 1, 2 * index + 1, WR, HR), SLV_OK);
        double sww = 0, shh = 0, swh = 0, s_ll = 0, s_rr = 0, s_lr = 0, h_ll = 0, h_rr = 0,
               h_lr = 0, wl_hr = 0, hl_wr = 0, wl_hl = 0;
        for (size_t p = 0; p < P; p++) {
            sww += W[p] * W[p];
            shh += H[p] * H[p];
            swh += W[p] * H[p];
            s_ll += WL[p] * WL[p];
            s_rr += WR[p] * WR[p];
            s_lr += WL[p] * WR[p];
            h_ll += HL[p] * HL[p];
            h_rr += HR[p] * HR[p];
            h_lr += HL[p] * HR[p];
            wl_hr += WL[p] * HR[p];
            hl_wr += HL[p] * WR[p];
            wl_hl += WL[p] * HL[p];
        }
        double var_w = sww / P / h, var_h = shh / P / (h / 12.0);
        double corr_wh = swh / sqrt(sww * shh);
        double corr_w_sib = s_lr / sqrt(s_ll * s_rr), corr_h_sib = h_lr / sqrt(h_ll * h_rr);
        double var_wl = s_ll / P / (h / 2.0), var_hl = h_ll / P / (h / 24.0);
        double var_wr = s_rr / P / (h / 2.0), var_hr = h_rr / P / (h / 24.0);
        double corr_cross[3] = {wl_hr / sqrt(s_ll * h_rr), hl_wr / sqrt(h_ll * s_rr),
                                wl_hl / sqrt(s_ll * h_ll)};
        printf("level %2u: Var dW/h = %.4f, Var H/(h/12) = %.4f, corr(dW, H) = %+.4f, "
               "corr(dW_L, dW_R) = %+.4f, corr(H_L, H_R) = %+.4f; children: Var dW/(h/2) = "
               "%.4f %.4f, Var H/(h/24) = %.4f %.4f\n",
               level, var_w, var_h, corr_wh, corr_w_sib, corr_h_sib, var_wl, var_wr, var_hl,
               var_hr);
        ck_assert_msg(fabs(var_wl - 1.0) < tol_var && fabs(var_wr - 1.0) < tol_var,
                      "level %u: children's Var dW / (h/2) = %g, %g", level, var_wl, var_wr);
        ck_assert_msg(fabs(var_hl - 1.0) < tol_var && fabs(var_hr - 1.0) < tol_var,
                      "level %u: children's Var H / (h/24) = %g, %g", level, var_hl, var_hr);
        for (int c = 0; c < 3; c++)
            ck_assert_msg(fabs(corr_cross[c]) < tol_corr,
                          "level %u: corr (dW_L, H_R), (H_L, dW_R), (dW_L, H_L) [%d] = %g", level,
                          c, corr_cross[c]);
        ck_assert_msg(fabs(var_w - 1.0) < tol_var, "level %u: Var dW / h = %g", level, var_w);
        ck_assert_msg(fabs(var_h - 1.0) < tol_var, "level %u: Var H / (h/12) = %g", level, var_h);
        ck_assert_msg(fabs(corr_wh) < tol_corr, "level %u: corr(dW, H) = %g", level, corr_wh);
        ck_assert_msg(fabs(corr_w_sib) < tol_corr, "level %u: corr(dW_L, dW_R) = %g", level,
                      corr_w_sib);
        ck_assert_msg(fabs(corr_h_sib) < tol_corr, "level %u: corr(H_L, H_R) = %g", level,
                      corr_h_sib);
    }
    free(W);
    free(H);
    free(WL);
    free(HL);
    free(WR);
    free(HR);
    slv_brownian_free(bm);
}
END_TEST

/* Path p of a batch starting at first_path = 3 is path p + 3 of a batch starting at 0. */
START_TEST(test_same_bits_whatever_the_batch_split)
{
    const size_t m = 2;
    slv_brownian *whole = slv_brownian_alloc(10, m, ROOT, 5, 0);
    slv_brownian *part = slv_brownian_alloc(4, m, ROOT, 5, 3);
    ck_assert_ptr_nonnull(whole);
    ck_assert_ptr_nonnull(part);
    double w_whole[20], h_whole[20], w_part[8], h_part[8];
    const unsigned levels[] = {0, 3, 17, 40, 2};
    for (size_t q = 0; q < 5; q++) {
        uint64_t index = ((UINT64_C(1) << levels[q]) - 1) / 5;
        ck_assert_int_eq(slv_brownian_interval(whole, levels[q], index, w_whole, h_whole), SLV_OK);
        ck_assert_int_eq(slv_brownian_interval(part, levels[q], index, w_part, h_part), SLV_OK);
        ck_assert(memcmp(w_part, w_whole + 3 * m, sizeof w_part) == 0);
        ck_assert(memcmp(h_part, h_whole + 3 * m, sizeof h_part) == 0);
    }
    /* A different seed gives different numbers. */
    slv_brownian *other = slv_brownian_alloc(4, m, ROOT, 6, 3);
    ck_assert_int_eq(slv_brownian_interval(other, 2, 1, w_part, NULL), SLV_OK);
    ck_assert_int_eq(slv_brownian_interval(whole, 2, 1, w_whole, NULL), SLV_OK);
    ck_assert(memcmp(w_part, w_whole + 3 * m, sizeof w_part) != 0);
    slv_brownian_free(whole);
    slv_brownian_free(part);
    slv_brownian_free(other);
}
END_TEST

/* A left-to-right walk over the leaves of level 9, then the same leaves queried in a scrambled
 * order mixed with queries at other depths on a fresh tree: identical bits. */
START_TEST(test_random_access_gives_the_bits_of_a_sequential_walk)
{
    const unsigned level = 9;
    const size_t leaves = (size_t)1 << level, n = 3, m = 2;
    double *w_seq = malloc(leaves * n * m * sizeof(double));
    double *h_seq = malloc(leaves * n * m * sizeof(double));
    slv_brownian *seq = slv_brownian_alloc(n, m, ROOT, 31, 7);
    for (size_t k = 0; k < leaves; k++)
        ck_assert_int_eq(slv_brownian_interval(seq, level, k, w_seq + k * n * m,
                                               h_seq + k * n * m),
                         SLV_OK);
    slv_brownian *rnd = slv_brownian_alloc(n, m, ROOT, 31, 7);
    double w[6], h[6], scratch[6];
    for (size_t j = 0; j < leaves; j++) {
        size_t k = (j * 197 + 13) % leaves; /* 197 is odd: a permutation of 0..511 */
        ck_assert_int_eq(slv_brownian_interval(rnd, (unsigned)(j % 13), j % 5 % (1u << (j % 13)),
                                               scratch, NULL),
                         SLV_OK);
        ck_assert_int_eq(slv_brownian_interval(rnd, level, k, w, h), SLV_OK);
        ck_assert(memcmp(w, w_seq + k * n * m, sizeof w) == 0);
        ck_assert(memcmp(h, h_seq + k * n * m, sizeof h) == 0);
    }
    /* Per-path queries agree with whole-batch queries. */
    double wp[2];
    ck_assert_int_eq(slv_brownian_interval_path(rnd, 2, level, 100, wp, NULL), SLV_OK);
    ck_assert(memcmp(wp, w_seq + 100 * n * m + 2 * m, sizeof wp) == 0);
    /* The leaves add up to the root increment. */
    double root[6];
    ck_assert_int_eq(slv_brownian_interval(seq, 0, 0, root, NULL), SLV_OK);
    for (size_t e = 0; e < n * m; e++) {
        double sum = 0.0;
        for (size_t k = 0; k < leaves; k++)
            sum += w_seq[k * n * m + e];
        ck_assert_double_eq_tol(sum, root[e], 1e-12);
    }
    free(w_seq);
    free(h_seq);
    slv_brownian_free(seq);
    slv_brownian_free(rnd);
}
END_TEST

START_TEST(test_out_of_range_queries_are_rejected)
{
    ck_assert_ptr_null(slv_brownian_alloc(0, 1, 1.0, 0, 0));
    ck_assert_ptr_null(slv_brownian_alloc(1, 0, 1.0, 0, 0));
    ck_assert_ptr_null(slv_brownian_alloc(1, 1, 0.0, 0, 0));
    ck_assert_ptr_null(slv_brownian_alloc(1, 1, NAN, 0, 0));
    slv_brownian *bm = slv_brownian_alloc(2, 1, 1.0, 0, 0);
    double w[2];
    ck_assert_int_eq(slv_brownian_interval(bm, SLV_BROWNIAN_MAX_LEVEL + 1, 0, w, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_brownian_interval(bm, 3, 8, w, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_brownian_interval_path(bm, 2, 0, 0, w, NULL), SLV_EINVAL);
    ck_assert_int_eq(slv_brownian_reserve(bm, SLV_BROWNIAN_MAX_LEVEL + 1), SLV_EINVAL);
    ck_assert_int_eq(slv_brownian_interval(bm, SLV_BROWNIAN_MAX_LEVEL,
                                           (UINT64_C(1) << SLV_BROWNIAN_MAX_LEVEL) - 1, w, NULL),
                     SLV_OK);
    slv_brownian_free(bm);
}
END_TEST

static Suite *brownian_suite(void)
{
    Suite *s = suite_create("slv_brownian");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_root_length_embeds_n_and_2n_steps_in_one_tree);
    tcase_add_test(tc, test_children_sum_to_their_parent);
    tcase_add_test(tc, test_node_values_have_the_brownian_law_at_every_depth);
    tcase_add_test(tc, test_same_bits_whatever_the_batch_split);
    tcase_add_test(tc, test_random_access_gives_the_bits_of_a_sequential_walk);
    tcase_add_test(tc, test_out_of_range_queries_are_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(brownian_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
