/* model.h — what `--model` names, as the samplers see it: a score model (an sgm_score_model
 * callback), the process it belongs to, and how its data looks.
 *
 *   --model gmm:FILE     the Gaussian-mixture oracle of a GMM text file (exact score, VJP and
 *                        divergence); the process comes from --sde and its options.
 *   --model FILE.sgm     a trained network (scorenet weights file, EMA weights); the process is
 *                        the one it was trained for (--sde options must agree or be left unset);
 *                        a DDPM-trained network (VP, discrete_steps = N) sets the process's N to
 *                        its own N unless --N is given, so the ancestral predictor uses its β_i.
 *
 * All points the tool reads and writes (CSV/.npy) are in model space, the space the SDE runs in:
 * for the toy sets the data itself, for images pixel/255 scaled to the model's range ([−1, 1] by
 * default). PNG output maps model space back to pixels.
 */
#ifndef SCORESDE_MODEL_H
#define SCORESDE_MODEL_H

#include <stddef.h>

#include "cli.h" /* progress */
#include "sgm_gmm.h"
#include "sgm_process.h"
#include "sgm_score.h"
#include "netscore.h"
#include "snet_model.h"

typedef struct app_model {
    sgm_score_model score;   /* what the samplers call */
    sgm_process process;
    size_t dim;
    /* image shape (channels × height × width; 1×1 for points) and pixel mapping */
    unsigned channels, height, width;
    int is_image;
    double data_lo, data_width; /* model-space range of the data: [lo, lo + width] */
    int quantized;              /* 8-bit data: bits/dim get the dequantisation offset */
    /* exactly one of these is set */
    sgm_gmm *gmm;
    sgm_gmm_model gmm_model;
    snet_model *net;
    netscore *netscore;      /* the network behind `score` */
    progress *progress_bar;  /* app_model_track_progress */
    double progress_base, progress_items;
    char name[512];
} app_model;

/* The process options shared by every model-using subcommand. Fields the user did not set are
 * left to the model (network) or the defaults (gmm). */
typedef struct process_options {
    const char *sde;        /* "ve", "vp", "subvp" or NULL */
    double sigma_min, sigma_max, beta_min, beta_max;
    size_t N;
    int set_sigma_min, set_sigma_max, set_beta_min, set_beta_max, set_N;
} process_options;

/* Loads the model named by spec. Returns 0, or −1 with err saying what is wrong (file, line,
 * expected). max_batch bounds the batch the network callback is prepared for (larger batches are
 * processed in chunks). */
int app_model_load(const char *spec, const process_options *po, size_t max_batch, app_model *m,
                   scoresde_error *err);
void app_model_free(app_model *m);

/* Model-space value → 8-bit pixel (clamped). */
unsigned char app_model_pixel(const app_model *m, double value);

/* Progress inside a batch, for long single batches: while bar is set, the network's score callbacks
 * move it to base + n·f, f the share of the way from t_from to t_to that the least advanced sample
 * of the call has come (each row's own time in the per-sample ODE solvers). Networks only (the
 * Gaussian-mixture oracle finishes a batch at once); bar NULL turns it off. */
void app_model_track_progress(app_model *m, progress *bar, size_t base, size_t n, double t_from,
                              double t_to);

#endif
