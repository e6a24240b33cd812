/* test_rng.c — slv_rng_counter (Philox4x32-10 as a GSL generator): known answers from the
 * Random123 distribution (its tests/kat_vectors), stream positioning, and statistical sanity of
 * the Gaussian draws GSL makes from it.
 */
#include <check.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "slv_rng.h"

/* Random123 kat_vectors, "philox4x32 10" lines: counter (4 words), key (2 words), output. */
static const struct {
    uint32_t ctr[4], key[2], out[4];
} kat[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

START_TEST(test_philox4x32_10_matches_random123_known_answers)
{
    uint32_t out[4];
    slv_rng_philox4x32_10(kat[_i].ctr, kat[_i].key, out);
    for (int w = 0; w < 4; w++)
        ck_assert_msg(out[w] == kat[_i].out[w], "vector %d word %d: got %08x, expected %08x", _i,
                      w, out[w], kat[_i].out[w]);
}
END_TEST

/* Stream (seed 0, a 0, b 0) starts at counter 0 with key 0: the first block is KAT vector 0; the
 * second block is counter (1, 0, 0, 0). */
START_TEST(test_gsl_interface_returns_philox_blocks_in_counter_order)
{
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(gsl_rng_name(r), "philox4x32-10");
    ck_assert_uint_eq(gsl_rng_max(r), 0xffffffffUL);
    ck_assert_uint_eq(gsl_rng_min(r), 0);
    slv_rng_set_stream(r, 0, 0, 0);
    for (int w = 0; w < 4; w++)
        ck_assert_uint_eq(gsl_rng_get(r), kat[0].out[w]);
    uint32_t ctr[4] = {1, 0, 0, 0}, key[2] = {0, 0}, out[4];
    slv_rng_philox4x32_10(ctr, key, out);
    for (int w = 0; w < 4; w++)
        ck_assert_uint_eq(gsl_rng_get(r), out[w]);
    /* gsl_rng_set(r, s) is stream (s, 0, 0). */
    gsl_rng_set(r, 0);
    ck_assert_uint_eq(gsl_rng_get(r), kat[0].out[0]);
    gsl_rng_free(r);
}
END_TEST

/* The documented counter layout: key = seed, counter words (pos, b_lo, b_hi16 | a_lo16 << 16, a >> 16). */
START_TEST(test_stream_layout_puts_seed_in_key_and_stream_in_counter)
{
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    const uint64_t seed = UINT64_C(0x0123456789abcdef), a = UINT64_C(0x0000a1b2c3d4e5f6),
                   b = UINT64_C(0x0000f0e1d2c3b4a5);
    slv_rng_set_stream(r, seed, a, b);
    uint32_t key[2] = {0x89abcdef, 0x01234567};
    uint32_t ctr[4] = {0, (uint32_t)b, (uint32_t)(b >> 32) | ((uint32_t)(a & 0xffff) << 16),
                       (uint32_t)(a >> 16)};
    uint32_t out[4];
    slv_rng_philox4x32_10(ctr, key, out);
    for (int w = 0; w < 4; w++)
        ck_assert_uint_eq(gsl_rng_get(r), out[w]);
    /* Only 48 bits of a and b count. */
    slv_rng_set_stream(r, seed, a + (UINT64_C(1) << 48), b);
    ck_assert_uint_eq(gsl_rng_get(r), out[0]);
    gsl_rng_free(r);
}
END_TEST

START_TEST(test_uniform_draws_lie_in_unit_interval_with_mean_one_half)
{
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    slv_rng_set_stream(r, 42, 7, 3);
    const int n = 1000000;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double u = gsl_rng_uniform(r);
        ck_assert(u >= 0.0 && u < 1.0);
        sum += u;
    }
    double mean = sum / n, se = sqrt(1.0 / 12.0 / n);
    printf("uniform mean %.6f (expected 0.5 ± %.1e)\n", mean, se);
    ck_assert_msg(fabs(mean - 0.5) < 5.0 * se, "uniform mean %g", mean);
    gsl_rng_free(r);
}
END_TEST

/* Mean, variance and kurtosis of gsl_ran_gaussian_ziggurat draws, each within 5 standard errors
 * for n = 10^6 draws: SE(mean) = 1/√n, SE(var) = √(2/n), SE(fourth moment) = √(96/n). */
START_TEST(test_ziggurat_gaussians_have_unit_variance)
{
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    slv_rng_set_stream(r, 2024, 1, 2);
    const int n = 1000000;
    double s1 = 0.0, s2 = 0.0, s4 = 0.0;
    for (int i = 0; i < n; i++) {
        double z = gsl_ran_gaussian_ziggurat(r, 1.0);
        s1 += z;
        s2 += z * z;
        s4 += z * z * z * z;
    }
    double mean = s1 / n, m2 = s2 / n, m4 = s4 / n;
    printf("gaussian mean %.5f, E z² %.5f, E z⁴ %.4f (n = %d)\n", mean, m2, m4, n);
    ck_assert_msg(fabs(mean) < 5.0 / sqrt(n), "mean %g", mean);
    ck_assert_msg(fabs(m2 - 1.0) < 5.0 * sqrt(2.0 / n), "E z^2 = %g", m2);
    ck_assert_msg(fabs(m4 - 3.0) < 5.0 * sqrt(96.0 / n), "E z^4 = %g", m4);
    gsl_rng_free(r);
}
END_TEST

/* Correlation of the draws of neighbouring streams: |ρ| < 5/√n for n paired draws. Neighbours
 * in b, in a, and in the seed. */
static double stream_correlation(uint64_t seed1, uint64_t a1, uint64_t b1, uint64_t seed2,
                                 uint64_t a2, uint64_t b2, int n)
{
    gsl_rng *r1 = gsl_rng_alloc(slv_rng_counter), *r2 = gsl_rng_alloc(slv_rng_counter);
    slv_rng_set_stream(r1, seed1, a1, b1);
    slv_rng_set_stream(r2, seed2, a2, b2);
    double sxy = 0.0, sxx = 0.0, syy = 0.0, sx = 0.0, sy = 0.0;
    for (int i = 0; i < n; i++) {
        double x = gsl_ran_gaussian_ziggurat(r1, 1.0), y = gsl_ran_gaussian_ziggurat(r2, 1.0);
        sx += x;
        sy += y;
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
    }
    gsl_rng_free(r1);
    gsl_rng_free(r2);
    double cxy = sxy / n - (sx / n) * (sy / n);
    double vx = sxx / n - (sx / n) * (sx / n), vy = syy / n - (sy / n) * (sy / n);
    return cxy / sqrt(vx * vy);
}

START_TEST(test_neighbouring_streams_are_uncorrelated)
{
    const int n = 400000;
    const double bound = 5.0 / sqrt(n);
    double rho_b = stream_correlation(9, 5, 11, 9, 5, 12, n);
    double rho_a = stream_correlation(9, 5, 11, 9, 6, 11, n);
    double rho_seed = stream_correlation(9, 5, 11, 10, 5, 11, n);
    /* The first draws of many streams (a, b), (a, b + 1): one number per stream, as the Brownian
     * tree and Langevin use them. */
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (int i = 0; i < n; i++) {
        slv_rng_set_stream(r, 3, (uint64_t)i, 100);
        double x = gsl_ran_gaussian_ziggurat(r, 1.0);
        slv_rng_set_stream(r, 3, (uint64_t)i, 101);
        double y = gsl_ran_gaussian_ziggurat(r, 1.0);
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
    }
    gsl_rng_free(r);
    double rho_first = sxy / sqrt(sxx * syy);
    printf("correlations: b±1 %.2e, a±1 %.2e, seed±1 %.2e, first draws of (i, b)/(i, b+1) %.2e "
           "(bound %.2e)\n",
           rho_b, rho_a, rho_seed, rho_first, bound);
    ck_assert_msg(fabs(rho_b) < bound, "streams (a, b), (a, b+1): rho = %g", rho_b);
    ck_assert_msg(fabs(rho_a) < bound, "streams (a, b), (a+1, b): rho = %g", rho_a);
    ck_assert_msg(fabs(rho_seed) < bound, "seeds s, s+1: rho = %g", rho_seed);
    ck_assert_msg(fabs(rho_first) < bound, "first draws of (i, b), (i, b+1): rho = %g", rho_first);
}
END_TEST

START_TEST(test_repositioning_replays_the_same_numbers)
{
    gsl_rng *r = gsl_rng_alloc(slv_rng_counter);
    double first[10];
    slv_rng_set_stream(r, 77, 123456789, 42);
    for (int i = 0; i < 10; i++)
        first[i] = gsl_ran_gaussian_ziggurat(r, 1.0);
    slv_rng_set_stream(r, 1, 2, 3);
    (void)gsl_rng_get(r);
    slv_rng_set_stream(r, 77, 123456789, 42);
    for (int i = 0; i < 10; i++)
        ck_assert(gsl_ran_gaussian_ziggurat(r, 1.0) == first[i]);
    gsl_rng_free(r);
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *s = suite_create("slv_rng");
    TCase *tc = tcase_create("philox");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_philox4x32_10_matches_random123_known_answers, 0,
                        (int)(sizeof kat / sizeof kat[0]));
    tcase_add_test(tc, test_gsl_interface_returns_philox_blocks_in_counter_order);
    tcase_add_test(tc, test_stream_layout_puts_seed_in_key_and_stream_in_counter);
    tcase_add_test(tc, test_uniform_draws_lie_in_unit_interval_with_mean_one_half);
    tcase_add_test(tc, test_ziggurat_gaussians_have_unit_variance);
    tcase_add_test(tc, test_neighbouring_streams_are_uncorrelated);
    tcase_add_test(tc, test_repositioning_replays_the_same_numbers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rng_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
