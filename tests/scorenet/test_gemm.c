/* test_gemm.c — snet_sgemm (snet_gemm.h): every transpose case, strides, beta, shapes that cross
 * the tile edges and the one-row/one-column (sgemv) tiles, against a naive double-precision
 * product; bit-identical results for 1, 2 and 3 threads; the BLAS kernel it reports.
 *
 * Tolerance: float products of K terms of size O(1) carry a rounding error of about
 * K·2⁻²⁴·max|a||b|; 4e-6·K (K ≤ 700: ≤ 3e-3) bounds it with room, while a wrong tile offset or
 * transpose is off by O(1). */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet.h"
#include "snet_gemm.h"
#include "snet_layers.h"

static void fill(float *a, size_t n, unsigned long seed)
{
    ck_assert_int_eq(snet_fill_uniform(a, n, 1.0f, seed), 0);
}

typedef struct shape {
    size_t M, N, K;
} shape;

/* one row, one column, one tile, tile edges ± 1, several tiles in both directions, a long K */
static const shape shapes[] = {
    {1, 1, 7},     {1, 300, 50},  {300, 1, 50},  {5, 3, 2},      {128, 256, 64}, {129, 257, 33},
    {127, 255, 1}, {257, 513, 9}, {600, 48, 784}, {48, 784, 700}, {2, 1030, 129}, {390, 2, 300},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* C = op(A)·op(B) + beta·C0 with row strides ld* = cols + pad, computed by snet_sgemm with the
 * given thread count; returns C (M rows of ldc floats). */
static float *run(const shape *s, int ta, int tb, float beta, int threads, double *ref)
{
    const size_t pad = 3;
    const size_t ra = ta ? s->K : s->M, ca = ta ? s->M : s->K; // A as stored
    const size_t rb = tb ? s->N : s->K, cb = tb ? s->K : s->N; // B as stored
    const size_t lda = ca + pad, ldb = cb + pad, ldc = s->N + pad;
    float *A = malloc(ra * lda * sizeof(float)), *B = malloc(rb * ldb * sizeof(float));
    float *C = malloc(s->M * ldc * sizeof(float));
    fill(A, ra * lda, 1);
    fill(B, rb * ldb, 2);
    fill(C, s->M * ldc, 3);
    if (ref)
        for (size_t i = 0; i < s->M; i++)
            for (size_t j = 0; j < s->N; j++) {
                double acc = 0.0;
                for (size_t k = 0; k < s->K; k++) {
                    double a = ta ? A[k * lda + i] : A[i * lda + k];
                    double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                    acc += a * b;
                }
                ref[i * s->N + j] = acc + (double)beta * C[i * ldc + j];
            }
    float *C0 = malloc(s->M * ldc * sizeof(float));
    memcpy(C0, C, s->M * ldc * sizeof(float));
    snet_set_num_threads(threads);
    snet_sgemm(ta, tb, s->M, s->N, s->K, A, lda, B, ldb, beta, C, ldc);
    for (size_t i = 0; i < s->M; i++) // the padding columns stay untouched
        ck_assert_int_eq(memcmp(C + i * ldc + s->N, C0 + i * ldc + s->N, pad * sizeof(float)), 0);
    free(A), free(B), free(C0);
    return C;
}

START_TEST(test_sgemm_matches_naive_product_for_every_transpose_and_tile_shape)
{
    const int ta = _i & 1, tb = (_i >> 1) & 1;
    for (size_t q = 0; q < N_SHAPES; q++)
        for (int beta_one = 0; beta_one < 2; beta_one++) {
            const shape *s = &shapes[q];
            double *ref = malloc(s->M * s->N * sizeof(double));
            float *C = run(s, ta, tb, beta_one ? 1.0f : 0.0f, 2, ref);
            const size_t ldc = s->N + 3;
            for (size_t i = 0; i < s->M; i++)
                for (size_t j = 0; j < s->N; j++) {
                    double err = fabs(C[i * ldc + j] - ref[i * s->N + j]);
                    ck_assert_msg(err <= 4e-6 * (double)(s->K + 1),
                                  "M %zu N %zu K %zu ta %d tb %d beta %d: C[%zu][%zu] = %.7g, naive %.7g",
                                  s->M, s->N, s->K, ta, tb, beta_one, i, j, C[i * ldc + j],
                                  ref[i * s->N + j]);
                }
            free(C), free(ref);
        }
}
END_TEST

START_TEST(test_sgemm_bits_do_not_depend_on_the_thread_count)
{
    const int ta = _i & 1, tb = (_i >> 1) & 1;
    for (size_t q = 0; q < N_SHAPES; q++) {
        const shape *s = &shapes[q];
        float *C1 = run(s, ta, tb, 1.0f, 1, NULL);
        for (int threads = 2; threads <= 3; threads++) {
            float *Ck = run(s, ta, tb, 1.0f, threads, NULL);
            ck_assert_msg(memcmp(C1, Ck, s->M * (s->N + 3) * sizeof(float)) == 0,
                          "M %zu N %zu K %zu ta %d tb %d: 1 and %d threads differ", s->M, s->N,
                          s->K, ta, tb, threads);
            free(Ck);
        }
        free(C1);
    }
    snet_set_num_threads(1);
}
END_TEST

START_TEST(test_blas_reports_the_kernel_that_was_forced)
{
    const char *config = snet_blas_config(), *kernel = snet_blas_kernel();
    printf("BLAS: %s; kernel %s\n", config, kernel);
    ck_assert_ptr_nonnull(strstr(config, "OpenBLAS"));
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (forced && *forced) { // OpenBLAS matches the name without regard to case
        ck_assert_uint_eq(strlen(kernel), strlen(forced));
        for (size_t i = 0; forced[i]; i++)
            ck_assert_msg(tolower((unsigned char)kernel[i]) == tolower((unsigned char)forced[i]),
                          "OPENBLAS_CORETYPE=%s but the kernel in use is %s", forced, kernel);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scorenet_gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_sgemm_matches_naive_product_for_every_transpose_and_tile_shape, 0, 4);
    suite_add_tcase(s, tc);
    // the bit-identity promise, also run alone under every OpenBLAS kernel (scripts/test.sh)
    TCase *bits = tcase_create("bits");
    tcase_set_timeout(bits, 120);
    tcase_add_loop_test(bits, test_sgemm_bits_do_not_depend_on_the_thread_count, 0, 4);
    tcase_add_test(bits, test_blas_reports_the_kernel_that_was_forced);
    suite_add_tcase(s, bits);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
