/* make_seeds.c — writes the binary seed inputs of the fuzz harnesses into DIR/<harness>/:
 * weights files (VE without EMA, VP with EMA and a note, a tiny U-Net), a checkpoint the checkpoint harness can
 * resume from (fuzz_models.h), IDX images and labels (and both joined for the data-set loader), and
 * .npy batches (float32 from the CLI's writer, float64 and a 4-D image batch by hand).
 * Usage: fuzz_make_seeds DIR   (the committed tests/fuzz/corpus was made with DIR = that folder). */
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "fuzz_models.h"
#include "io.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, msg);
    exit(1);
}

static void out_path(char *buf, size_t size, const char *dir, const char *harness, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, harness);
    mkdir(buf, 0755);
    snprintf(buf, size, "%s/%s/%s", dir, harness, name);
}

static size_t idx_bytes(uint8_t *buf, int nd, const uint32_t *dims, unsigned seed)
{
    size_t k = 0, total = 1;
    buf[k++] = 0, buf[k++] = 0, buf[k++] = 8, buf[k++] = (uint8_t)nd;
    for (int i = 0; i < nd; i++) {
        for (int b = 3; b >= 0; b--)
            buf[k++] = (uint8_t)(dims[i] >> (8 * b));
        total *= dims[i];
    }
    for (size_t i = 0; i < total; i++)
        buf[k++] = (uint8_t)(nd == 1 ? (i * 7 + seed) % 10 : (i * 37 + seed) & 0xff);
    return k;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    char path[1024];
    scoresde_error error;
    scoresde_error err;
    mkdir(dir, 0755);

    /* weights */
    for (int vp = 0; vp < 2; vp++) {
        snet_config cfg;
        snet_model *m;
        fuzz_model_config(&cfg, vp);
        if (vp)
            cfg.layer_norm = 0;
        if (snet_model_alloc(&m, &cfg, &err))
            die("model", err.message);
        snet_model_init(m, 1);
        float *ema = NULL;
        if (vp) {
            ema = malloc(m->n_params * sizeof *ema);
            for (size_t i = 0; i < m->n_params; i++)
                ema[i] = 0.5f * m->params[i];
        }
        out_path(path, sizeof path, dir, "weights", vp ? "vp-ema-note.sgm" : "ve.sgm");
        if (snet_model_save(m, ema, vp ? "fuzz seed" : NULL, 3, path, &err))
            die(path, err.message);
        free(ema);
        snet_model_free(m);
    }

    /* a tiny U-Net (1×4×4 images, 2 base channels, 2 levels) */
    {
        snet_config cfg;
        snet_model *m;
        snet_config_default(&cfg, SNET_ARCH_UNET, 1, 4, 4, SNET_SDE_VE);
        cfg.base_channels = 2;
        cfg.n_levels = 2;
        cfg.n_groups = 1;
        cfg.n_fourier = 2;
        if (snet_model_alloc(&m, &cfg, &err))
            die("unet", err.message);
        snet_model_init(m, 2);
        out_path(path, sizeof path, dir, "weights", "unet-1x4x4.sgm");
        if (snet_model_save(m, NULL, NULL, 0, path, &err))
            die(path, err.message);
        snet_model_free(m);
    }

    /* checkpoint: three steps of the harness's trainer */
    {
        snet_config cfg;
        snet_train_options opt;
        snet_dataset *data;
        fuzz_model_config(&cfg, 0);
        fuzz_train_options(&opt);
        out_path(path, sizeof path, dir, "checkpoint", "step3.sgm");
        opt.steps = 3;
        opt.checkpoint_path = path;
        if (snet_dataset_toy(&data, SNET_DATA_MOONS, NULL, &err))
            die("data", err.message);
        if (snet_train_run(&cfg, data, &opt, NULL, NULL, &err))
            die(path, err.message);
        snet_dataset_free(data);
        /* also a weights file for the same model: the loader's "not a checkpoint" path */
        snet_model *m;
        if (snet_model_alloc(&m, &cfg, &err))
            die("model", err.message);
        out_path(path, sizeof path, dir, "checkpoint", "weights-only.sgm");
        if (snet_model_save(m, NULL, NULL, 0, path, &err))
            die(path, err.message);
        snet_model_free(m);
    }

    /* IDX: 3 images of 4×4, 3 labels, a 1-D file, and images + separator + labels */
    {
        uint8_t img[256], lab[64], both[512];
        const uint32_t idims[3] = {3, 4, 4}, ldims[1] = {3}, vdims[2] = {2, 5};
        size_t ni = idx_bytes(img, 3, idims, 1), nl = idx_bytes(lab, 1, ldims, 2);
        out_path(path, sizeof path, dir, "idx", "images-3x4x4");
        fuzz_write_file(path, img, ni);
        out_path(path, sizeof path, dir, "idx", "labels-3");
        fuzz_write_file(path, lab, nl);
        out_path(path, sizeof path, dir, "idx", "matrix-2x5");
        fuzz_write_file(path, img, idx_bytes(img, 2, vdims, 3));
        ni = idx_bytes(img, 3, idims, 1);
        memcpy(both, img, ni);
        memcpy(both + ni, "\xffLABELS\xff", 8);
        memcpy(both + ni + 8, lab, nl);
        out_path(path, sizeof path, dir, "idx", "dataset-images-labels");
        fuzz_write_file(path, both, ni + 8 + nl);
        /* a gzip file as the raw input: the corrupt-stream paths */
        out_path(path, sizeof path, dir, "idx", "labels-3.gz");
        gzFile g = gzopen(path, "wb");
        gzwrite(g, lab, (unsigned)nl);
        gzclose(g);
    }

    /* .npy: float32 (n, 2) from the CLI writer, float64 (3, 2), float32 (2, 1, 2, 2) */
    {
        const double x[6] = {0.5, -1.25, 3.0, 1e-3, -7.5, 2.0};
        out_path(path, sizeof path, dir, "matrix", "f4-3x2.npy");
        if (matrix_write(path, x, 3, 2, &error))
            die(path, error.message);
        const char *heads[2] = {"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }",
                                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2, 2), }"};
        for (int k = 0; k < 2; k++) {
            uint8_t buf[256];
            size_t len = strlen(heads[k]), hl = 64 - 10;
            memcpy(buf, "\x93NUMPY\x01\x00", 8);
            buf[8] = (uint8_t)hl, buf[9] = 0;
            memset(buf + 10, ' ', hl);
            memcpy(buf + 10, heads[k], len);
            buf[10 + hl - 1] = '\n';
            size_t pos = 10 + hl;
            for (int i = 0; i < (k ? 8 : 6); i++) {
                if (k == 0) {
                    memcpy(buf + pos, &x[i], 8), pos += 8;
                } else {
                    float f = (float)x[i % 6];
                    memcpy(buf + pos, &f, 4), pos += 4;
                }
            }
            out_path(path, sizeof path, dir, "matrix", k ? "f4-2x1x2x2.npy" : "f8-3x2.npy");
            fuzz_write_file(path, buf, pos);
        }
        out_path(path, sizeof path, dir, "matrix", "x-3x2.csv");
        if (matrix_write(path, x, 3, 2, &error))
            die(path, error.message);
    }
    return 0;
}
