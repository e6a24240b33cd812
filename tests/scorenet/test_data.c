/* test_data.c — toy generators, GMM files, IDX files and Fashion-MNIST, batch determinism. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snet_data.h"

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d, 1, n, f), n);
    fclose(f);
}

START_TEST(test_gmm_file_parses_and_rejects_with_line_numbers)
{
    snet_gmm *g;
    scoresde_error err;
    const char *good = "# three modes\n2 3\n"
                       "1 -2 0 0.5 0.5   # left\n"
                       "2 2 0 0.5 0.25\n\n"
                       "1 0 3 1 1\n";
    ck_assert_msg(snet_gmm_parse(good, "g.txt", &g, &err) == SNET_OK, "%s", err.message);
    ck_assert_uint_eq(g->d, 2);
    ck_assert_uint_eq(g->K, 3);
    ck_assert_double_eq_tol(g->weight[1], 0.5, 1e-15);
    ck_assert_double_eq(g->std[1 * 2 + 1], 0.25);
    ck_assert_double_eq(g->mean[2 * 2 + 1], 3.0);
    snet_gmm_free(g);

    struct { const char *text, *needle; } bad[] = {
        {"", "g.txt: expected the header 'd K', found no data"},
        {"2\n", "g.txt:1: expected the header 'd K' (two positive integers), found 1 numbers"},
        {"2 2\n1 0 0 1 1\n", "g.txt:2: expected K = 2 component lines after the header, found 1"},
        {"2 1\n1 0 0 1\n", "g.txt:2: component 1: expected 1 + 2d = 5 numbers (weight, 2 means, 2 stds), found 4"},
        {"2 1\n1 0 0 1 -1\n", "g.txt:2: component 1: std_2 = -1, expected > 0"},
        {"2 1\n0 0 0 1 1\n", "g.txt:2: component 1: weight = 0, expected > 0"},
        {"2 1\n1 0 0 1 1 7\n", "g.txt:2: component 1: expected 1 + 2d = 5 numbers (weight, 2 means, 2 stds), found 6"},
        {"2 1\n1 0 0 1 1\n1 0 0 1 1\n", "g.txt:3: extra line after the K = 1 component lines"},
        {"2 1\n1 0 nan 1 1\n", "g.txt:2: component 1: mean_2 is nan, expected a finite number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(snet_gmm_parse(bad[i].text, "g.txt", &g, &err), SNET_EFORMAT);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(err.message, bad[i].needle), "case %zu: '%s' lacks '%s'", i, err.message, bad[i].needle);
    }
    ck_assert_int_eq(snet_gmm_read("no-such.gmm", &g, &err), SNET_EIO);
    ck_assert_msg(strstr(err.message, "no-such.gmm: cannot open"), "%s", err.message);
}
END_TEST

START_TEST(test_gmm_samples_have_the_mixture_moments)
{
    // mean Σ w μ, variance Σ w (σ² + μ²) − mean²; n = 200000 draws: the sample mean's standard
    // error is sd/√n ≈ 0.005 for sd ≈ 2.2; bound 5 standard errors
    snet_gmm *g;
    scoresde_error err;
    ck_assert_int_eq(snet_gmm_parse("2 2\n1 -2 1 0.5 1\n3 2 0 1 0.5\n", "m", &g, &err), SNET_OK);
    const size_t n = 200000;
    float *x = malloc(n * 2 * sizeof(float));
    snet_gmm_sample(g, 42, 0, n, x);
    for (size_t j = 0; j < 2; j++) {
        double mean = 0, m2 = 0, emean = 0, em2 = 0;
        for (size_t i = 0; i < n; i++)
            mean += x[2 * i + j], m2 += (double)x[2 * i + j] * x[2 * i + j];
        mean /= n, m2 /= n;
        for (size_t k = 0; k < 2; k++) {
            double mu = g->mean[2 * k + j], sd = g->std[2 * k + j];
            emean += g->weight[k] * mu;
            em2 += g->weight[k] * (sd * sd + mu * mu);
        }
        double sd = sqrt(em2 - emean * emean);
        ck_assert_msg(fabs(mean - emean) < 5 * sd / sqrt((double)n), "dim %zu: mean %g vs %g", j, mean, emean);
        ck_assert_msg(fabs(m2 - em2) < 5 * 3 * em2 / sqrt((double)n), "dim %zu: E x² %g vs %g", j, m2, em2);
    }
    free(x);
    snet_gmm_free(g);
}
END_TEST

START_TEST(test_toy_sets_have_their_shapes)
{
    const size_t B = 20000;
    float *x = malloc(B * 2 * sizeof(float));
    scoresde_error err;
    snet_dataset *ds;
    for (snet_data_kind k = SNET_DATA_SWISSROLL; k <= SNET_DATA_PINWHEEL; k++) {
        ck_assert_int_eq(snet_dataset_toy(&ds, k, NULL, &err), SNET_OK);
        ck_assert_uint_eq(snet_dataset_dim(ds), 2);
        ck_assert_uint_eq(snet_dataset_size(ds), 0);
        ck_assert_int_eq(snet_dataset_batch(ds, 1, 0, B, x), SNET_OK);
        double mx = 0, my = 0, r2 = 0;
        for (size_t i = 0; i < B; i++) {
            ck_assert(isfinite(x[2 * i]) && isfinite(x[2 * i + 1]));
            mx += x[2 * i], my += x[2 * i + 1];
            r2 += x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1];
        }
        mx /= B, my /= B, r2 /= B;
        if (k == SNET_DATA_CHECKERBOARD) {
            // every point on a square whose column + row is even (2-wide squares), inside [−4, 4]²;
            // mean 0 (symmetric board) within 5 standard errors (sd ≈ 2.3)
            for (size_t i = 0; i < B; i++) {
                double u = x[2 * i], v = x[2 * i + 1];
                ck_assert(u >= -4 && u <= 4 && v >= -4 && v <= 4);
                long col = (long)floor(u / 2.0), row = (long)floor(v / 2.0);
                ck_assert_msg(((col + row) & 1) == 0, "point (%g, %g) on a white square", u, v);
            }
            ck_assert(fabs(mx) < 5 * 2.31 / sqrt((double)B) && fabs(my) < 5 * 2.31 / sqrt((double)B));
        }
        if (k == SNET_DATA_8GAUSSIANS) {
            // E‖x‖² = (16 + 2·0.25)/1.414² exactly
            double want = (16.0 + 0.5) / (1.414 * 1.414);
            ck_assert_msg(fabs(r2 - want) < 0.1, "E|x|^2 = %g, want %g", r2, want);
        }
        if (k == SNET_DATA_MOONS) {
            // means: x: 2·E[(cos or 1 − cos)]/… = 2·0.5 − 1 = 0; y: 2·(E sin/2 − E sin /2 + 0.25) − 0.2 = 0.3
            ck_assert_msg(fabs(mx) < 0.05 && fabs(my - 0.3) < 0.05, "moons mean (%g, %g)", mx, my);
        }
        // determinism: the same (seed, step) gives the same bits; another step another batch
        float *y = malloc(B * 2 * sizeof(float));
        ck_assert_int_eq(snet_dataset_batch(ds, 1, 0, B, y), SNET_OK);
        ck_assert_int_eq(memcmp(x, y, B * 2 * sizeof(float)), 0);
        ck_assert_int_eq(snet_dataset_batch(ds, 1, 1, B, y), SNET_OK);
        ck_assert_int_ne(memcmp(x, y, B * 2 * sizeof(float)), 0);
        free(y);
        snet_dataset_free(ds);
    }
    free(x);
}
END_TEST

static void write_idx(const char *path, int nd, const uint32_t *dims, const uint8_t *data, size_t n)
{
    unsigned char head[16] = {0, 0, 8, (unsigned char)nd};
    for (int i = 0; i < nd; i++)
        for (int b = 0; b < 4; b++)
            head[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(head, 1, 4 + 4 * (size_t)nd, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

START_TEST(test_bad_idx_files_are_rejected_with_precise_messages)
{
    uint8_t *d;
    uint32_t dims[3], nd;
    scoresde_error err;
    uint8_t px[10 * 2 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)i;
    uint32_t good_dims[3] = {10, 2, 3};
    write_idx("idx_good", 3, good_dims, px, sizeof px);
    ck_assert_msg(snet_idx_read("idx_good", &d, dims, &nd, &err) == SNET_OK, "%s", err.message);
    ck_assert_uint_eq(nd, 3);
    ck_assert_uint_eq(dims[0], 10);
    ck_assert_uint_eq(dims[2], 3);
    ck_assert_int_eq(memcmp(d, px, sizeof px), 0);
    free(d);

    write_idx("idx_short", 3, good_dims, px, 40);
    ck_assert_int_eq(snet_idx_read("idx_short", &d, dims, &nd, &err), SNET_EFORMAT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err.message, "idx_short: truncated: header says 10×2×3 = 60 bytes, file holds 40"), "%s", err.message);

    write_idx("idx_long", 3, good_dims, px, sizeof px);
    FILE *f = fopen("idx_long", "ab");
    fputc(0, f);
    fclose(f);
    ck_assert_int_eq(snet_idx_read("idx_long", &d, dims, &nd, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "idx_long: trailing data after the 10×2×3 = 60 bytes"), "%s", err.message);

    write_file("idx_magic", "\x00\x00\x0d\x03\x00\x00\x00\x01", 8);
    ck_assert_int_eq(snet_idx_read("idx_magic", &d, dims, &nd, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "idx_magic: bad IDX magic 00 00 0d 03"), "%s", err.message);

    write_file("idx_head", "\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00", 10);
    ck_assert_int_eq(snet_idx_read("idx_head", &d, dims, &nd, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "announces 3 dimensions, file ends after 6 of their 12 bytes"), "%s", err.message);

    write_file("idx_tiny", "\x00\x00", 2);
    ck_assert_int_eq(snet_idx_read("idx_tiny", &d, dims, &nd, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "idx_tiny: truncated: file holds 2 bytes"), "%s", err.message);

    uint32_t zero_dims[3] = {10, 0, 3};
    write_idx("idx_zero", 3, zero_dims, px, 0);
    ck_assert_int_eq(snet_idx_read("idx_zero", &d, dims, &nd, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "dimension 1 is 0"), "%s", err.message);

    ck_assert_int_eq(snet_idx_read("idx_missing", &d, dims, &nd, &err), SNET_EIO);
    ck_assert_msg(strstr(err.message, "idx_missing: cannot open: No such file"), "%s", err.message);

    // a gzip stream cut short (the first 2000 bytes of the real training labels, if installed)
    FILE *real = fopen(SNET_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz", "rb");
    if (real) {
        unsigned char buf[2000];
        size_t got = fread(buf, 1, sizeof buf, real);
        fclose(real);
        write_file("idx_cut.gz", buf, got);
        int rc = snet_idx_read("idx_cut.gz", &d, dims, &nd, &err);
        ck_assert_int_eq(rc, SNET_EFORMAT);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(err.message, "idx_cut.gz: ") && (strstr(err.message, "truncated") || strstr(err.message, "unexpected end")),
                      "%s", err.message);
    }
    const char *names[] = {"idx_good", "idx_short", "idx_long", "idx_magic", "idx_head", "idx_tiny",
                           "idx_zero", "idx_cut.gz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(names[i]);
}
END_TEST

START_TEST(test_stored_set_batches_walk_each_epoch_once_with_dequantisation)
{
    // a 12-image 1×2 "fashion-mnist" directory: labels consistent, raw (not gzip) files
    mkdir("fm_tiny", 0755);
    uint8_t px[12 * 2], lab[12];
    for (int i = 0; i < 12; i++) {
        px[2 * i] = (uint8_t)(10 * i);
        px[2 * i + 1] = 255;
        lab[i] = (uint8_t)(i % 10);
    }
    uint32_t idims[3] = {12, 1, 2}, ldims[1] = {12};
    write_idx("fm_tiny/train-images-idx3-ubyte", 3, idims, px, sizeof px);
    write_idx("fm_tiny/train-labels-idx1-ubyte", 1, ldims, lab, sizeof lab);
    snet_dataset *ds;
    scoresde_error err;
    ck_assert_msg(snet_dataset_fashion_mnist(&ds, "fm_tiny", 1, SNET_RANGE_MINUS1_1, &err) == SNET_OK,
                  "%s", err.message);
    ck_assert_uint_eq(snet_dataset_size(ds), 12);
    ck_assert_uint_eq(snet_dataset_dim(ds), 2);
    snet_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snet_dataset_apply_config(ds, &cfg);
    ck_assert_uint_eq(cfg.channels * cfg.height * cfg.width, 2);
    ck_assert_uint_eq(cfg.quantized, 1);
    // 4 batches of 3 = one epoch: every image exactly once; values (k + u)/128 − 1 with u ∈ [0, 1)
    int seen[12] = {0};
    float x[3 * 2];
    for (uint64_t step = 0; step < 4; step++) {
        ck_assert_int_eq(snet_dataset_batch(ds, 9, step, 3, x), SNET_OK);
        for (int j = 0; j < 3; j++) {
            double k = (x[2 * j] + 1.0) * 128.0; // = 10 i + u
            int i = (int)floor(k / 10.0);
            ck_assert(i >= 0 && i < 12);
            ck_assert_msg(k - 10 * i >= 0 && k - 10 * i < 1.0 + 1e-4, "dequantised %g", k);
            ck_assert(x[2 * j + 1] >= 255.0 / 128 - 1 - 1e-6 && x[2 * j + 1] < 1.0f + 1e-6);
            seen[i]++;
        }
    }
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(seen[i], 1);
    // a batch depends only on (seed, step): recomputed after other epochs, same bits
    float a[3 * 2], b[3 * 2];
    ck_assert_int_eq(snet_dataset_batch(ds, 9, 1, 3, a), SNET_OK);
    ck_assert_int_eq(snet_dataset_batch(ds, 9, 17, 3, b), SNET_OK);
    ck_assert_int_eq(snet_dataset_batch(ds, 9, 1, 3, b), SNET_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    snet_dataset_free(ds);

    // labels disagreeing with the images
    uint32_t bad_ldims[1] = {11};
    write_idx("fm_tiny/train-labels-idx1-ubyte", 1, bad_ldims, lab, 11);
    ck_assert_int_eq(snet_dataset_fashion_mnist(&ds, "fm_tiny", 1, SNET_RANGE_0_1, &err), SNET_EFORMAT);
    ck_assert_msg(strstr(err.message, "11 labels in 1 dimension(s), expected 12 labels"), "%s", err.message);
    ck_assert_int_eq(snet_dataset_fashion_mnist(&ds, "fm_tiny", 0, SNET_RANGE_0_1, &err), SNET_EIO);
    ck_assert_msg(strstr(err.message, "fm_tiny/t10k-images-idx3-ubyte: cannot open"), "%s", err.message);
    unlink("fm_tiny/train-images-idx3-ubyte");
    unlink("fm_tiny/train-labels-idx1-ubyte");
    rmdir("fm_tiny");
}
END_TEST

START_TEST(test_fashion_mnist_as_installed)
{
    snet_dataset *ds;
    scoresde_error err;
    int rc = snet_dataset_fashion_mnist(&ds, NULL, 1, SNET_RANGE_MINUS1_1, &err);
    if (rc == SNET_EIO) { // package dataset-fashion-mnist not installed: nothing to check
        printf("skipped: %s\n", err.message);
        return;
    }
    ck_assert_msg(rc == SNET_OK, "%s", err.message);
    ck_assert_uint_eq(snet_dataset_size(ds), 60000);
    ck_assert_uint_eq(snet_dataset_dim(ds), 784);
    int count[10] = {0};
    for (size_t i = 0; i < 60000; i++)
        count[snet_dataset_labels(ds)[i]]++;
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(count[c], 6000); // Fashion-MNIST is balanced
    float x[784];
    snet_dataset_items(ds, 0, 1, 0, x);
    for (int j = 0; j < 784; j++)
        ck_assert(x[j] >= -1.0f && x[j] < 1.0f);
    snet_dataset_free(ds);
    ck_assert_int_eq(snet_dataset_fashion_mnist(&ds, NULL, 0, SNET_RANGE_0_1, &err), SNET_OK);
    ck_assert_uint_eq(snet_dataset_size(ds), 10000);
    snet_dataset_free(ds);
}
END_TEST

START_TEST(test_names_map_both_ways)
{
    for (snet_data_kind k = SNET_DATA_GMM; k <= SNET_DATA_FASHION_MNIST; k++) {
        snet_data_kind back = (snet_data_kind)0;
        ck_assert_int_eq(snet_data_kind_parse(snet_data_kind_name(k), &back), SNET_OK);
        ck_assert_int_eq(back, k);
    }
    snet_data_kind untouched = SNET_DATA_MOONS;
    ck_assert_int_eq(snet_data_kind_parse("mnist", &untouched), SNET_EINVAL);
    ck_assert_int_eq(untouched, SNET_DATA_MOONS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scorenet_data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gmm_file_parses_and_rejects_with_line_numbers);
    tcase_add_test(tc, test_gmm_samples_have_the_mixture_moments);
    tcase_add_test(tc, test_toy_sets_have_their_shapes);
    tcase_add_test(tc, test_bad_idx_files_are_rejected_with_precise_messages);
    tcase_add_test(tc, test_stored_set_batches_walk_each_epoch_once_with_dequantisation);
    tcase_add_test(tc, test_fashion_mnist_as_installed);
    tcase_add_test(tc, test_names_map_both_ways);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
