/* fuzz_checkpoint.c — resuming training from a checkpoint (snet_trainer_load: a weights file with
 * the EMA copy and the training-state block). The trainer is the one the seed checkpoints were
 * written by (fuzz_models.h); inputs get their checksum repaired (see fuzz_weights.c) so mutations
 * reach the state block. An accepted checkpoint must train on: one step is taken from it. */
#include <zlib.h>

#include "fuzz_common.h"
#include "fuzz_models.h"

static snet_model *model;
static snet_trainer *trainer;
static snet_dataset *data;

static void setup(void)
{
    snet_config cfg;
    snet_train_options opt;
    scoresde_error err;
    fuzz_model_config(&cfg, 0);
    fuzz_train_options(&opt);
    if (snet_dataset_toy(&data, SNET_DATA_MOONS, NULL, &err) ||
        snet_model_alloc(&model, &cfg, &err) ||
        snet_trainer_alloc(&trainer, model, &opt, &err)) {
        fprintf(stderr, "fuzz_checkpoint setup: %s\n", err.message);
        abort();
    }
    snet_model_init(model, opt.seed);
}

static void try_resume(const char *path)
{
    scoresde_error err;
    memset(err.message, 0, sizeof err.message);
    int rc = snet_trainer_load(trainer, path, &err);
    if (rc != SNET_OK) {
        fuzz_check_message(err.message, sizeof err.message);
        return;
    }
    snet_train_progress pr;
    rc = snet_trainer_step(trainer, data, &pr);
    if (rc != SNET_OK && rc != SNET_ENONFINITE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    static char path[256];
    if (!trainer) {
        setup();
        fuzz_path(path, sizeof path, "checkpoint", ".sgm");
    }
    fuzz_write_file(path, bytes, size);
    try_resume(path);
    if (size >= 8) {
        uint8_t *fixed = malloc(size);
        memcpy(fixed, bytes, size);
        uint32_t crc = (uint32_t)crc32_z(0L, fixed, size - 4);
        for (int i = 0; i < 4; i++)
            fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        if (memcmp(fixed, bytes, size) != 0) {
            fuzz_write_file(path, fixed, size);
            try_resume(path);
        }
        free(fixed);
    }
    unlink(path);
    return 0;
}
