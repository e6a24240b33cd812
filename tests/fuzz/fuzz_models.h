/* fuzz_models.h — the small network and training options the weights/checkpoint seeds are made
 * with (make_seeds.c) and the checkpoint harness resumes into (fuzz_checkpoint.c). */
#ifndef SCORESDE_FUZZ_MODELS_H
#define SCORESDE_FUZZ_MODELS_H

#include "snet_io.h"
#include "snet_train.h"

/* MLP on 2-D points, 8 hidden units, one residual block, LayerNorm, VE (or VP with vp = 1). */
static inline void fuzz_model_config(snet_config *cfg, int vp)
{
    snet_config_default(cfg, SNET_ARCH_MLP, 2, 1, 1, vp ? SNET_SDE_VP : SNET_SDE_VE);
    cfg->hidden = 8;
    cfg->n_blocks = 1;
    cfg->n_fourier = 2;
    cfg->layer_norm = 1;
}

static inline void fuzz_train_options(snet_train_options *opt)
{
    snet_train_options_default(opt);
    opt->batch = 4;
    opt->warmup = 2;
    opt->seed = 7;
    opt->checkpoint_every = 0;
    opt->log_every = 0;
    opt->threads = 1;
}

#endif
