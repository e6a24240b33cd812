/* fuzz_weights.c — the .sgm weights file loader (snet_io_read, snet_model_load).
 * Every input is tried twice: as it is (so the checksum test itself is fuzzed) and with its last
 * four bytes replaced by the CRC-32 of the rest, so mutations reach the checks behind the checksum.
 * A file the loader accepts must give a model that evaluates: a small batch goes through it. */
#include <zlib.h>

#include "fuzz_common.h"
#include "snet_io.h"

static void try_load(const char *path)
{
    scoresde_error err;
    snet_file_contents c;
    memset(err.message, 0, sizeof err.message);
    int rc = snet_io_read(path, &c, &err);
    if (rc != SNET_OK) {
        fuzz_check_message(err.message, sizeof err.message);
        if (c.model || c.ema || c.note || c.extra)
            abort(); /* "on failure out holds nothing" */
        return;
    }
    snet_model *m = c.model;
    if (!m || !c.note || (c.extra_bytes && !c.extra))
        abort();
    size_t D = snet_config_dim(&m->cfg);
    if (D <= 4096 && m->n_params <= (1u << 16)) {
        enum { B = 2 };
        float t[B] = {0.5f, 1e-3f}, *x = calloc(B * D, sizeof *x), *s = calloc(B * D, sizeof *s);
        snet_workspace *ws = snet_workspace_alloc(m, B);
        if (x && s && ws) {
            for (size_t i = 0; i < B * D; i++)
                x[i] = (float)(i % 7) - 3.0f;
            int src = snet_model_score(m, ws, B, t, x, s);
            if (src != SNET_OK && src != SNET_ENONFINITE)
                abort();
        }
        snet_workspace_free(ws);
        free(x);
        free(s);
    }
    snet_file_contents_free(&c);

    snet_model *loaded = NULL;
    snet_file_contents info;
    rc = snet_model_load(path, SNET_LOAD_EMA, &loaded, &info, &err);
    if (rc != SNET_OK || !loaded)
        abort(); /* the same file, read the same way */
    free(info.note);
    snet_model_free(loaded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    if (!path[0])
        fuzz_path(path, sizeof path, "weights", ".sgm");
    fuzz_write_file(path, data, size);
    try_load(path);
    if (size >= 8) {
        uint8_t *fixed = malloc(size);
        memcpy(fixed, data, size);
        uint32_t crc = (uint32_t)crc32_z(0L, fixed, size - 4);
        for (int i = 0; i < 4; i++)
            fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        if (memcmp(fixed, data, size) != 0) {
            fuzz_write_file(path, fixed, size);
            try_load(path);
        }
        free(fixed);
    }
    unlink(path);
    return 0;
}
