/* test_fuzz_regressions.c — inputs the fuzzers (tests/fuzz) found to break scorenet's readers, fed
 * to the reader again: each must give a clean error naming the file and what was expected, without
 * allocating for what a header merely claims (peak virtual memory is checked). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snet_data.h"
#include "snet_model.h"

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

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

/* A gzip file with stored (uncompressed) deflate blocks, written by hand: this test links
 * scorenet only, not zlib. */
static void write_gzip(const char *path, const unsigned char *bytes, size_t size)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= bytes[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    crc ^= 0xffffffffu;
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    fwrite(head, 1, sizeof head, f);
    size_t done = 0;
    do {
        size_t n = size - done < 65535 ? size - done : 65535;
        unsigned char block[5] = {(unsigned char)(done + n == size), (unsigned char)n,
                                  (unsigned char)(n >> 8), (unsigned char)~n, (unsigned char)(~n >> 8)};
        fwrite(block, 1, 5, f);
        fwrite(bytes + done, 1, n, f);
        done += n;
    } while (done < size);
    unsigned char tail[8];
    for (int i = 0; i < 4; i++) {
        tail[i] = (unsigned char)(crc >> (8 * i));
        tail[4 + i] = (unsigned char)((uint32_t)size >> (8 * i));
    }
    fwrite(tail, 1, 8, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- GMM text: headers whose size the text cannot hold ---------------------------------------- */

static const struct {
    const char *text;
    const char *message;
} gmm_inputs[] = {
    /* fuzz_gmm (crafted from the reader's limits): malloc of 80 GB, refused only by the kernel */
    {"100000 100000\n", "big.txt:1: d = 100000 and K = 100000 make 10000000000 parameters, more than "
                        "the limit 268435456"},
    /* 2 GiB per array, allocated before the short component line was read */
    {"16384 16384\n1 2 3\n", "big.txt:2: component 1: expected 1 + 2d = 32769 numbers"},
    {"# d K\n100 99999 # many\n1 0 1\n", "big.txt:3: component 1: expected 1 + 2d = 201 numbers"},
    /* the message names the missing lines */
    {"1 99999\n1 0 1\n", "big.txt:2: expected K = 99999 component lines after the header, found 1"},
};

START_TEST(test_gmm_header_larger_than_its_text_is_rejected_before_allocating)
{
    long before = peak_vm_kb();
    snet_gmm *g = (snet_gmm *)0x1;
    scoresde_error err;
    int rc = snet_gmm_parse(gmm_inputs[_i].text, "big.txt", &g, &err);
    ck_assert_int_eq(rc, SNET_EFORMAT);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.message, gmm_inputs[_i].message), "message '%s', expected '%s'", err.message,
                  gmm_inputs[_i].message);
    long grown = peak_vm_kb() - before;
    ck_assert_msg(grown < 64 * 1024, "peak virtual memory grew by %ld KiB", grown);
}
END_TEST

/* Memory follows the bytes read, so the shortest text that holds a large header's numbers
 * (d = 11: "1 -1 ... -1 1 ... 1" is weight 1, eleven means −1 and eleven stds 1 in 5d + 1
 * characters, lines joined by newlines) parses, and one character less names the short line. */
START_TEST(test_gmm_shortest_possible_text_still_parses)
{
    const size_t K = 100000, d = 11;
    size_t cap = 32 + (5 * d + 2) * K, len = (size_t)snprintf(NULL, 0, "%zu %zu\n", d, K);
    char *text = malloc(cap);
    snprintf(text, cap, "%zu %zu\n", d, K);
    for (size_t k = 0; k < K; k++) {
        text[len++] = '1';
        for (size_t j = 0; j < d; j++)
            text[len++] = ' ', text[len++] = '-', text[len++] = '1';
        for (size_t j = 0; j < d; j++)
            text[len++] = ' ', text[len++] = '1';
        if (k + 1 < K)
            text[len++] = '\n';
    }
    text[len] = '\0';
    snet_gmm *g = NULL;
    scoresde_error err;
    ck_assert_msg(snet_gmm_parse(text, "tight.txt", &g, &err) == SNET_OK, "%s", err.message);
    ck_assert_uint_eq(g->K, K);
    ck_assert_double_eq(g->mean[K * d - 1], -1.0);
    ck_assert_double_eq(g->std[K * d - 1], 1.0);
    snet_gmm_free(g);
    text[len - 1] = '\0';
    ck_assert_int_eq(snet_gmm_parse(text, "tight.txt", &g, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "tight.txt:100001: component 100000: expected 1 + 2d = 23 numbers"), "%s", err.message);
    free(text);
}
END_TEST

/* ---- IDX: a 2 GiB header on a 14-byte file -------------------------------------------------------- */

START_TEST(test_idx_header_of_2_gib_on_a_short_file_costs_no_memory)
{
    /* fuzz_idx (crafted from the reader's limits): malloc(2^31) before the first data byte */
    static const unsigned char bytes[] = {0, 0, 8, 2, 1, 0, 0, 0, 0, 0, 0, 0x80, 'x', 'x'};
    write_file("fuzz_idx_2g", bytes, sizeof bytes);
    write_gzip("fuzz_idx_2g.gz", bytes, sizeof bytes);
    const char *paths[] = {"fuzz_idx_2g", "fuzz_idx_2g.gz"};
    for (int k = 0; k < 2; k++) {
        long before = peak_vm_kb();
        uint8_t *data = (uint8_t *)0x1;
        uint32_t dims[3], nd;
        scoresde_error err;
        int rc = snet_idx_read(paths[k], &data, dims, &nd, &err);
        ck_assert_int_eq(rc, SNET_EFORMAT);
        ck_assert_ptr_null(data);
        ck_assert_msg(strstr(err.message, ": truncated: header says 16777216×128 = 2147483648 bytes, file holds 2"),
                      "%s", err.message);
        ck_assert_msg(strncmp(err.message, paths[k], strlen(paths[k])) == 0, "%s", err.message);
        long grown = peak_vm_kb() - before;
        ck_assert_msg(grown < 64 * 1024, "%s: peak virtual memory grew by %ld KiB", paths[k], grown);
        unlink(paths[k]);
    }
}
END_TEST

/* The growing buffer reads a file larger than its first chunk exactly, gzipped or not. */
START_TEST(test_idx_larger_than_one_chunk_reads_back_exactly)
{
    const uint32_t n = 5, h = 512, w = 640; /* 1.6 MB: past the 1 MiB first chunk */
    size_t total = (size_t)n * h * w;
    unsigned char *bytes = malloc(16 + total);
    unsigned char head[16] = {0, 0, 8, 3};
    const uint32_t dims_in[3] = {n, h, w};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++)
            head[4 + 4 * i + b] = (unsigned char)(dims_in[i] >> (24 - 8 * b));
    memcpy(bytes, head, 16);
    for (size_t i = 0; i < total; i++)
        bytes[16 + i] = (unsigned char)(i * 2654435761u >> 13);
    write_file("fuzz_idx_big", bytes, 16 + total);
    write_gzip("fuzz_idx_big.gz", bytes, 16 + total);
    const char *paths[] = {"fuzz_idx_big", "fuzz_idx_big.gz"};
    for (int k = 0; k < 2; k++) {
        uint8_t *data;
        uint32_t dims[3], nd;
        scoresde_error err;
        ck_assert_msg(snet_idx_read(paths[k], &data, dims, &nd, &err) == SNET_OK, "%s", err.message);
        ck_assert_uint_eq(nd, 3);
        ck_assert_uint_eq(dims[2], w);
        ck_assert_int_eq(memcmp(data, bytes + 16, total), 0);
        free(data);
        unlink(paths[k]);
    }
    free(bytes);
}
END_TEST

/* ---- U-Net config: parameter counts that wrapped around size_t ------------------------------------ */

/* Found by reading the weights loader after fuzzing it: a file's config is validated, then the
 * parameter count it implies is compared with the file's. With base_channels up to 2^32 that count
 * wrapped (base 2^28, 2 levels gave 7.3e18, less than at base 2^27), so a crafted config could
 * imply a small count while the network's loops ran over 2^28 channels. */
START_TEST(test_unet_config_too_large_to_count_is_invalid)
{
    const snet_arch_ops *ops = snet_arch_get(SNET_ARCH_UNET);
    if (!ops)
        return; /* U-Net not built in */
    snet_config cfg;
    scoresde_error err;
    snet_config_default(&cfg, SNET_ARCH_UNET, 1, 32, 32, SNET_SDE_VP);
    cfg.n_levels = 2;
    cfg.n_groups = 1;
    cfg.base_channels = 1u << 28;
    ck_assert_int_eq(snet_config_validate(&cfg, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "base_channels = 268435456, expected 1 to 65536"), "%s", err.message);
    cfg.base_channels = 8;
    cfg.n_fourier = 1u << 31;
    ck_assert_int_eq(snet_config_validate(&cfg, &err), SNET_EINVAL);
    ck_assert_msg(strstr(err.message, "n_fourier = 2147483648, expected 1 to 16384"), "%s", err.message);
    /* the largest allowed config counts without wrapping: a 3×3 convolution of base·2 channels
     * alone has 9·(2·base)² weights, and the count grows with the base */
    cfg.n_fourier = 1u << 14;
    cfg.n_levels = 6;
    size_t previous = 0;
    for (uint32_t base = 1u << 10; base <= (1u << 16); base *= 2) {
        cfg.base_channels = base;
        ck_assert_msg(snet_config_validate(&cfg, &err) == SNET_OK, "%s", err.message);
        size_t n = ops->n_params(&cfg);
        ck_assert_msg(n > previous && (double)n >= 9.0 * 4.0 * (double)base * (double)base,
                      "base %u: %zu parameters", base, n);
        previous = n;
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scorenet_fuzz_regressions");
    TCase *tc = tcase_create("readers");
    tcase_add_loop_test(tc, test_gmm_header_larger_than_its_text_is_rejected_before_allocating, 0,
                        sizeof gmm_inputs / sizeof gmm_inputs[0]);
    tcase_add_test(tc, test_gmm_shortest_possible_text_still_parses);
    tcase_add_test(tc, test_idx_header_of_2_gib_on_a_short_file_costs_no_memory);
    tcase_add_test(tc, test_idx_larger_than_one_chunk_reads_back_exactly);
    tcase_add_test(tc, test_unet_config_too_large_to_count_is_invalid);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
