#define _GNU_SOURCE /* memmem */
/* fuzz_idx.c — the IDX reader (snet_idx_read), raw and gzipped, and the Fashion-MNIST loader on top
 * of it. Each input is read as a raw file (zlib reads plain files transparently, and a mutated
 * input starting with the gzip magic exercises corrupt gzip streams) and, compressed by the
 * harness, as a valid .gz file. An input holding the separator "\xffLABELS\xff" is also split into
 * an images file and a labels file and loaded as a data set, whose batches are then drawn. */
#include <zlib.h>

#include "fuzz_common.h"
#include "snet_data.h"

static const char SEP[] = "\xffLABELS\xff";
static volatile uint8_t sink; /* keeps the read of every byte */

static void check_read(const char *path)
{
    uint8_t *pixels = (uint8_t *)1;
    uint32_t dims[3], nd = 99;
    scoresde_error err;
    memset(err.message, 0, sizeof err.message);
    int rc = snet_idx_read(path, &pixels, dims, &nd, &err);
    if (rc != SNET_OK) {
        fuzz_check_message(err.message, sizeof err.message);
        if (pixels || nd != 0)
            abort();
        return;
    }
    if (!pixels || nd < 1 || nd > 3)
        abort();
    size_t total = 1;
    for (uint32_t i = 0; i < nd; i++)
        total *= dims[i];
    for (size_t i = 0; i < total; i++) /* every promised byte must be readable */
        sink += pixels[i];
    free(pixels);
}

static void write_gz(const char *path, const uint8_t *data, size_t size)
{
    gzFile g = gzopen(path, "wb");
    if (!g || (size && gzwrite(g, data, (unsigned)size) != (int)size) || gzclose(g) != Z_OK)
        abort();
}

static void check_dataset(const char *dir, const uint8_t *img, size_t img_size, const uint8_t *lab,
                          size_t lab_size)
{
    char path[512];
    scoresde_error err;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    fuzz_write_file(path, img, img_size);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    fuzz_write_file(path, lab, lab_size);
    snet_dataset *ds = NULL;
    memset(err.message, 0, sizeof err.message);
    int rc = snet_dataset_fashion_mnist(&ds, dir, 1, SNET_RANGE_MINUS1_1, &err);
    if (rc != SNET_OK) {
        fuzz_check_message(err.message, sizeof err.message);
        if (ds)
            abort();
        return;
    }
    size_t D = snet_dataset_dim(ds), n = snet_dataset_size(ds);
    if (D * n <= (1u << 20)) {
        float *x = malloc(3 * D * sizeof *x);
        snet_dataset_batch(ds, 1, 0, 3, x);
        snet_dataset_batch(ds, 1, 5, 3, x);
        snet_dataset_items(ds, 0, n < 3 ? n : 3, 2, x);
        for (size_t i = 0; i < 3 * D && i < n * D; i++)
            if (!(x[i] >= -1.0f && x[i] <= 1.0f))
                abort();
        free(x);
    }
    snet_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char raw[256], gz[256], dir[256];
    if (!raw[0]) {
        fuzz_path(raw, sizeof raw, "idx", "");
        fuzz_path(gz, sizeof gz, "idx", ".gz");
        fuzz_path(dir, sizeof dir, "idx", ".d");
        mkdir(dir, 0700);
    }
    fuzz_write_file(raw, data, size);
    check_read(raw);
    write_gz(gz, data, size);
    check_read(gz);
    unlink(raw);
    unlink(gz);

    const uint8_t *sep = memmem(data, size, SEP, sizeof SEP - 1);
    if (sep) {
        size_t img_size = (size_t)(sep - data);
        check_dataset(dir, data, img_size, sep + sizeof SEP - 1, size - img_size - (sizeof SEP - 1));
    }
    return 0;
}
