/* test_fuzz_regressions.c — inputs the fuzzers (tests/fuzz) found to break the GMM text reader, each
 * fed to sgm_gmm_read: every one must give a clean SGM_EFORMAT naming the line and what was
 * expected, without allocating for what a header merely claims (peak virtual memory is checked). */
#define _GNU_SOURCE /* fmemopen */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgm_gmm.h"

/* Peak virtual memory (VmPeak) in KiB: grows with every large malloc, touched or not. */
static long peak_vm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmPeak: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    ck_assert_msg(kb >= 0, "no VmPeak in /proc/self/status");
    return kb;
}

static const struct {
    const char *what;
    const char *bytes;
    size_t size;
    const char *message;
} inputs[] = {
    /* fuzz_gmm, found by hand from the reader's limits: 12 bytes made it allocate and fill
     * 2^28-entry arrays (about 6 GB touched) before reading a single component */
    {"K = 2^28 and nothing else", "1 268435456\n", 12,
     ":1: expected K = 268435456 component lines after the header, found 0"},
    /* fuzz_gmm timeout-9dca4ded (libFuzzer, 2 min): K = 55555555 behind NUL bytes; seconds of
     * allocation and initialisation per input */
    {"K = 55555555 behind NULs", "3 55555555\000\000\000\0325555\00055\000\000,7\n", 26,
     ":1: expected K = 55555555 component lines after the header, found 0"},
    /* d = 2^28: the per-line buffer was 2d + 1 doubles (4 GiB) before the line was looked at */
    {"d = 2^28, one short line", "268435456 1\n1 2 3\n", 18,
     ":2: component 1: expected 1 + 2d = 536870913 numbers (weight, 268435456 means, 268435456 "
     "stds), found 3"},
    {"d = K = 16384, one short line", "16384 16384\n1 2 3\n", 18,
     ":2: component 1: expected 1 + 2d = 32769 numbers"},
    {"d·K over the limit", "65536 65536\n", 12, ":1: d = 65536 and K = 65536 make 4294967296 parameters, more than the limit 268435456"},
};

START_TEST(test_fuzzed_gmm_file_is_rejected_cleanly_without_big_allocations)
{
    long before = peak_vm_kb();
    FILE *f = fmemopen((void *)inputs[_i].bytes, inputs[_i].size, "r");
    ck_assert_ptr_nonnull(f);
    sgm_gmm *g = (sgm_gmm *)0x1;
    slv_error err;
    int status = sgm_gmm_read(f, "fuzzed.txt", &g, &err);
    fclose(f);
    ck_assert_msg(status == SGM_EFORMAT, "%s: status %d (%s)", inputs[_i].what, status, err.message);
    ck_assert_ptr_null(g);
    ck_assert_msg(strncmp(err.message, "fuzzed.txt", 10) == 0 && strstr(err.message, inputs[_i].message),
                  "%s: message '%s', expected '%s'", inputs[_i].what, err.message, inputs[_i].message);
    long grown = peak_vm_kb() - before;
    ck_assert_msg(grown < 64 * 1024, "%s: peak virtual memory grew by %ld KiB", inputs[_i].what, grown);
}
END_TEST

/* The growing arrays still read a valid mixture of many components exactly. */
START_TEST(test_many_components_read_back_exactly)
{
    enum { K = 1000 };
    size_t cap = 64 * K + 32, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "2 %d\n", K);
    for (int k = 0; k < K; k++)
        len += (size_t)snprintf(text + len, cap - len, "%d %d.5 -%d 0.%d 1.%d\n", k + 1, k, k, k + 1, k);
    FILE *f = fmemopen(text, len, "r");
    sgm_gmm *g = NULL;
    slv_error err;
    ck_assert_msg(sgm_gmm_read(f, "many.txt", &g, &err) == SLV_OK, "%s", err.message);
    fclose(f);
    ck_assert_uint_eq(g->n_components, K);
    double total = (double)K * (K + 1) / 2;
    for (int k = 0; k < K; k++) {
        char want[64];
        snprintf(want, sizeof want, "0.%d", k + 1);
        ck_assert_double_eq_tol(g->weights[k], (k + 1) / total, 1e-15);
        ck_assert_double_eq(g->means[2 * k], k + 0.5);
        ck_assert_double_eq(g->means[2 * k + 1], -(double)k);
        ck_assert_double_eq(g->stds[2 * k], strtod(want, NULL));
    }
    sgm_gmm_free(g);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sde_fuzz_regressions");
    TCase *tc = tcase_create("gmm_reader");
    tcase_add_loop_test(tc, test_fuzzed_gmm_file_is_rejected_cleanly_without_big_allocations, 0,
                        sizeof inputs / sizeof inputs[0]);
    tcase_add_test(tc, test_many_components_read_back_exactly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
