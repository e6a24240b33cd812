/* test_io.c — the .sgm weights file: round trips, and bad files rejected with precise messages. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snet_io.h"
#include "snet_layers.h"

static const char *PATH = "test_io_model.sgm";

static snet_model *small_model(void)
{
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VE);
    cfg.hidden = 8;
    cfg.n_blocks = 2;
    cfg.n_fourier = 4;
    snet_model *m;
    scoresde_error err;
    ck_assert_msg(snet_model_alloc(&m, &cfg, &err) == SNET_OK, "%s", err.message);
    snet_model_init(m, 3);
    snet_fill_uniform(m->params, m->n_params, 1.0f, 5); // every float distinct and non-zero
    return m;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*size + 1);
    ck_assert_uint_eq(fread(d, 1, *size, f), *size);
    fclose(f);
    return d;
}

static void spit(const char *path, const unsigned char *d, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d, 1, size, f), size);
    fclose(f);
}

/* bitwise CRC-32 (IEEE, reflected, as zlib's crc32): the reference the library's zlib call must
 * agree with, and the tool to repair a checksum after corrupting a file on purpose */
static uint32_t crc32_ref(const unsigned char *d, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void fix_crc(unsigned char *d, size_t size)
{
    uint32_t c = crc32_ref(d, size - 4);
    for (int i = 0; i < 4; i++)
        d[size - 4 + i] = (unsigned char)(c >> (8 * i));
}

/* loads path and expects failure `code` with `needle` in the message */
static void expect_reject(const char *path, int code, const char *needle)
{
    snet_model *m = (snet_model *)1;
    scoresde_error err = {0};
    int rc = snet_model_load(path, SNET_LOAD_EMA, &m, NULL, &err);
    ck_assert_msg(rc == code, "expected status %d, got %d (%s)", code, rc, err.message);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, needle) != NULL, "message '%s' lacks '%s'", err.message, needle);
    ck_assert_msg(strncmp(err.message, path, strlen(path)) == 0, "message '%s' does not name the file", err.message);
}

START_TEST(test_round_trip_is_bit_exact_with_ema_note_and_extra)
{
    snet_model *m = small_model();
    float *ema = malloc(m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++)
        ema[i] = m->params[i] * 0.5f - 1e-30f;
    const char extra[] = "training state \x01\x02";
    scoresde_error err;
    ck_assert_msg(snet_io_write(PATH, m, ema, "scoresde train --data moons", 1234, extra, sizeof extra,
                                &err) == SNET_OK, "%s", err.message);
    snet_file_contents c;
    ck_assert_msg(snet_io_read(PATH, &c, &err) == SNET_OK, "%s", err.message);
    ck_assert_int_eq(memcmp(&c.model->cfg, &m->cfg, sizeof m->cfg), 0);
    ck_assert_uint_eq(c.model->n_params, m->n_params);
    ck_assert_int_eq(memcmp(c.model->params, m->params, m->n_params * sizeof(float)), 0);
    ck_assert_ptr_nonnull(c.ema);
    ck_assert_int_eq(memcmp(c.ema, ema, m->n_params * sizeof(float)), 0);
    ck_assert_str_eq(c.note, "scoresde train --data moons");
    ck_assert_uint_eq(c.step, 1234);
    ck_assert_uint_eq(c.extra_bytes, sizeof extra);
    ck_assert_int_eq(memcmp(c.extra, extra, sizeof extra), 0);
    snet_file_contents_free(&c);

    // the common load takes the EMA copy by default, the raw one on request
    snet_model *l;
    snet_file_contents info;
    ck_assert_int_eq(snet_model_load(PATH, SNET_LOAD_EMA, &l, &info, &err), SNET_OK);
    ck_assert_int_eq(memcmp(l->params, ema, m->n_params * sizeof(float)), 0);
    ck_assert_uint_eq(info.step, 1234);
    free(info.note);
    snet_model_free(l);
    ck_assert_int_eq(snet_model_load(PATH, SNET_LOAD_RAW, &l, NULL, &err), SNET_OK);
    ck_assert_int_eq(memcmp(l->params, m->params, m->n_params * sizeof(float)), 0);
    snet_model_free(l);

    // without EMA, note or extra
    ck_assert_int_eq(snet_model_save(m, NULL, NULL, 0, PATH, &err), SNET_OK);
    ck_assert_int_eq(snet_model_load(PATH, SNET_LOAD_EMA, &l, NULL, &err), SNET_OK);
    ck_assert_int_eq(memcmp(l->params, m->params, m->n_params * sizeof(float)), 0);
    snet_model_free(l);

    // the atomic writer leaves no temporary file behind
    DIR *dir = opendir(".");
    struct dirent *de;
    while ((de = readdir(dir)))
        ck_assert_msg(strstr(de->d_name, "test_io_model.sgm.tmp") == NULL, "left over: %s", de->d_name);
    closedir(dir);
    free(ema);
    snet_model_free(m);
}
END_TEST

START_TEST(test_unwritable_and_missing_files_are_io_errors)
{
    snet_model *m = small_model(), *l;
    scoresde_error err;
    ck_assert_int_eq(snet_model_save(m, NULL, NULL, 0, "no-such-dir/x.sgm", &err), SNET_EIO);
    ck_assert_msg(strstr(err.message, "no-such-dir/x.sgm") && strstr(err.message, "No such file"), "%s", err.message);
    ck_assert_int_eq(snet_model_load("no-such-file.sgm", SNET_LOAD_EMA, &l, NULL, &err), SNET_EIO);
    ck_assert_msg(strstr(err.message, "no-such-file.sgm: cannot open: No such file"), "%s", err.message);
    snet_model_free(m);
}
END_TEST

START_TEST(test_truncated_files_are_rejected_at_every_point)
{
    snet_model *m = small_model();
    scoresde_error err;
    ck_assert_int_eq(snet_model_save(m, m->params, "note", 7, PATH, &err), SNET_OK);
    size_t size;
    unsigned char *d = slurp(PATH, &size);
    const char *cut = "test_io_cut.sgm";
    size_t header = 100 + 4 + 20 + 68 * m->n_tensors; // fixed head + note + table head + table
    size_t points[] = {0, 3, 6, 50, 99, 110, header - 1, header + 1, header + 4 * m->n_params + 8, size - 1};
    for (size_t k = 0; k < sizeof points / sizeof points[0]; k++) {
        spit(cut, d, points[k]);
        expect_reject(cut, SNET_EFORMAT, "truncated");
    }
    // cut inside the tensor data: the message gives the float count and the bytes held
    spit(cut, d, header + 100);
    char want[128];
    snprintf(want, sizeof want, "truncated: header says %zu floats (twice: parameters and EMA), file holds 100 bytes",
             m->n_params);
    expect_reject(cut, SNET_EFORMAT, want);
    // one byte too many
    unsigned char *longer = malloc(size + 1);
    memcpy(longer, d, size);
    longer[size] = 0;
    spit(cut, longer, size + 1);
    expect_reject(cut, SNET_EFORMAT, "1 bytes of trailing data");
    free(longer);
    free(d);
    snet_model_free(m);
    unlink(cut);
}
END_TEST

START_TEST(test_bad_magic_version_and_checksum_are_named)
{
    snet_model *m = small_model();
    scoresde_error err;
    ck_assert_int_eq(snet_model_save(m, NULL, NULL, 0, PATH, &err), SNET_OK);
    size_t size;
    unsigned char *d = slurp(PATH, &size);
    const char *bad = "test_io_bad.sgm";

    memcpy(d, "XXXX", 4);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "bad magic 'XXXX' (expected 'SGM1')");
    memcpy(d, "\x89PNG", 4);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "bad magic '\\x89PNG'");
    memcpy(d, "SGM1", 4);

    d[4] = 7;
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "version 7 not supported (expected 1..2)");
    d[4] = 1;

    d[size - 10] ^= 0x40; // a bit of the last tensor
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "checksum mismatch");
    d[size - 10] ^= 0x40;
    d[size - 1] ^= 0x01; // the checksum itself
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "checksum mismatch");
    free(d);
    snet_model_free(m);
    unlink(bad);
}
END_TEST

START_TEST(test_shapes_that_disagree_with_the_config_are_named)
{
    snet_model *m = small_model();
    scoresde_error err;
    ck_assert_int_eq(snet_model_save(m, NULL, NULL, 0, PATH, &err), SNET_OK);
    size_t size;
    unsigned char *d = slurp(PATH, &size);
    const char *bad = "test_io_shape.sgm";
    const size_t cfg_at = 16, hidden_at = cfg_at + 4 * 4, table_at = 100 + 20;

    // config says hidden 16, tensors were written for 8 (checksum made consistent)
    d[hidden_at] = 16;
    fix_crc(d, size);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "parameters, the config (mlp, 2×1×1, hidden 16, 2 blocks) gives");
    d[hidden_at] = 8;

    // one tensor's recorded shape changed: "temb.w" (index 1) 8×8 → 8×9
    size_t e = table_at + 68 * 1;
    ck_assert_str_eq((const char *)d + e, "temb.w");
    d[e + 32 + 4 + 4] = 9;
    fix_crc(d, size);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "tensor 'temb.w' is 8×9 (64 floats) in the file, the config gives 8×8 (64 floats)");
    d[e + 32 + 4 + 4] = 8;

    // renamed tensor
    d[e] = 'X';
    fix_crc(d, size);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "tensor 1 is 'Xemb.w' in the file, the config gives 'temb.w'");
    d[e] = 't';

    // invalid config value
    d[cfg_at + 12 * 4] = 9; // sde
    fix_crc(d, size);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "config: sde = 9");
    d[cfg_at + 12 * 4] = 1;

    // a NaN in a tensor
    size_t last = size - 8;
    d[last] = 0x00, d[last + 1] = 0x00, d[last + 2] = 0xc0, d[last + 3] = 0x7f;
    fix_crc(d, size);
    spit(bad, d, size);
    expect_reject(bad, SNET_EFORMAT, "tensor 'out.b' holds a non-finite value (nan) at index 1");
    free(d);
    snet_model_free(m);
    unlink(bad);
}
END_TEST

START_TEST(test_corrupted_header_bytes_never_crash)
{
    // every header and table byte set to 0xff (checksum repaired so the parser sees it): the loader
    // must answer with a status, never crash (run under ASan in the sanitizer build)
    snet_model *m = small_model();
    scoresde_error err;
    ck_assert_int_eq(snet_model_save(m, m->params, "n", 1, PATH, &err), SNET_OK);
    size_t size;
    unsigned char *d = slurp(PATH, &size);
    size_t header = 100 + 1 + 20 + 68 * m->n_tensors;
    const char *bad = "test_io_fuzz.sgm";
    int rejected = 0;
    for (size_t i = 0; i < header; i++) {
        unsigned char keep = d[i];
        d[i] = 0xff;
        fix_crc(d, size);
        spit(bad, d, size);
        snet_model *l = NULL;
        int rc = snet_model_load(bad, SNET_LOAD_EMA, &l, NULL, &err);
        if (rc != SNET_OK) {
            rejected++;
            ck_assert_ptr_null(l);
            ck_assert_msg(strlen(err.message) > strlen(bad) + 2, "empty message at byte %zu", i);
        }
        snet_model_free(l);
        d[i] = keep;
    }
    // almost every byte matters; the few that may not are padding after NUL in names and the note
    ck_assert_int_ge(rejected, (int)header / 2);
    free(d);
    snet_model_free(m);
    unlink(bad);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scorenet_io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip_is_bit_exact_with_ema_note_and_extra);
    tcase_add_test(tc, test_unwritable_and_missing_files_are_io_errors);
    tcase_add_test(tc, test_truncated_files_are_rejected_at_every_point);
    tcase_add_test(tc, test_bad_magic_version_and_checksum_are_named);
    tcase_add_test(tc, test_shapes_that_disagree_with_the_config_are_named);
    tcase_add_test(tc, test_corrupted_header_bytes_never_crash);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    unlink(PATH);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
