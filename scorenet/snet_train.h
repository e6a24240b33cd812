/* snet_train.h — continuous-time denoising score matching (Song et al. 2021, eq. 7) for VE, VP and
 * sub-VP, with Adam, warm-up, global-norm clipping, EMA, atomic checkpoints and exact resume.
 *
 * One step k (k = 0, 1, ... counts completed steps):
 *   x0 (B, D) = snet_dataset_batch(data, seed, k)
 *   t_b = ε + (1 − ε) u_b, u_b ~ U[0, 1); z ~ N(0, I)      (GSL on mt19937 seeded from (seed, k))
 *   x_t = m(t) x0 + s(t) z;  s_θ = c(t)·r(x_t, t)            (snet_model.h's output scaling)
 *   loss = 1/(B·D) Σ_b λ(t_b) ‖s_θ(x_t, t_b) + z_b / s(t_b)‖²
 *        λ = s(t)² (default; for VP this is ‖r − z‖², the noise-prediction loss) or g(t)²
 *        (likelihood weighting, Song et al. 2021b)
 *   gradient g over the trainable tensors; if ‖g‖₂ > clip: g ← g · clip/(‖g‖₂ + 1e−6)
 *   Adam (bias-corrected), learning rate lr · min(1, (k+1)/warmup)
 *   EMA: decay_k = min(decay, (1 + n)/(10 + n)), n = k + 1 (the official ExponentialMovingAverage
 *        with num_updates); ema ← ema + (1 − decay_k)(θ − ema)
 * Every random number of step k comes from (seed, k) alone, so a run resumed from a checkpoint at
 * step K ends with exactly the bits of an uninterrupted run (same library, same thread count).
 *
 * A checkpoint is a weights file (snet_io.h) with the EMA copy and an extra block: magic "SGT1",
 * version, the training options that must not change across a resume, and the Adam moments.
 * `snet_model_load` reads a checkpoint like any weights file.
 */
#ifndef SNET_TRAIN_H
#define SNET_TRAIN_H

#include "snet_data.h"
#include "snet_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum snet_weighting {
    SNET_WEIGHT_STD2 = 0,      /* λ(t) = s(t)² (official default) */
    SNET_WEIGHT_LIKELIHOOD = 1 /* λ(t) = g(t)² */
} snet_weighting;

/* What the progress callback sees. */
typedef struct snet_train_progress {
    uint64_t step;       /* steps completed */
    uint64_t steps;      /* the run's target */
    double loss;         /* this step's loss */
    double loss_avg;     /* mean loss over the steps since the previous callback */
    double grad_norm;    /* ‖g‖₂ before clipping */
    double lr;           /* learning rate used for this step */
    double elapsed;      /* seconds since snet_train_run started (this process) */
    double steps_per_sec;/* over this process's steps */
} snet_train_progress;

/* Return 0 to go on, non-zero to stop: snet_train_run then returns SNET_ESTOPPED (after writing a
 * checkpoint if checkpoint_on_stop is set). */
typedef int (*snet_train_log_fn)(const snet_train_progress *p, void *ctx);

typedef struct snet_train_options {
    uint64_t steps;          /* total steps to reach (a resumed run continues up to it) */
    size_t batch;            /* samples per step */
    double lr;               /* Adam learning rate after warm-up */
    uint64_t warmup;         /* linear warm-up steps (0 = none) */
    double grad_clip;        /* global-norm bound (≤ 0: no clipping) */
    double beta1, beta2, adam_eps;
    double ema_decay;        /* 0 disables the EMA copy */
    double t_eps;            /* lower end of t ~ U(t_eps, 1) */
    snet_weighting weighting;
    uint64_t seed;           /* initialisation (seed) and every draw (seed, step) */
    uint64_t checkpoint_every;   /* write checkpoint_path every K steps (0: only at the end) */
    const char *checkpoint_path; /* NULL: no checkpoints */
    int checkpoint_on_stop;  /* 1: write a checkpoint when the callback stops the run */
    int resume;              /* 1: continue from checkpoint_path if that file exists */
    const char *out_path;    /* final weights (params + EMA) written here; NULL: none */
    const char *note;        /* provenance text stored in the files (e.g. the command line) */
    int threads;             /* > 0: snet_set_num_threads(threads) */
    uint64_t log_every;      /* call log every this many steps (0: never) */
    snet_train_log_fn log;
    void *log_ctx;
} snet_train_options;

/* Defaults: batch 512, lr 2e-4 (official), warmup 5000 (official; set it lower for short runs),
 * grad_clip 1, Adam β = (0.9, 0.999), eps 1e-8, ema_decay 0.999, t_eps 1e-5, λ = s², seed 0,
 * steps 10000, checkpoint_every 1000, log_every 100, everything else off. */
void snet_train_options_default(snet_train_options *opt);

typedef struct snet_train_report {
    uint64_t start_step;   /* 0, or the checkpoint's step when resumed */
    uint64_t end_step;     /* steps completed when the run returned */
    int resumed;           /* 1 if a checkpoint was loaded */
    double first_loss;     /* loss of this process's first step (NAN if none) */
    double final_loss_avg; /* mean loss over the last min(1000, steps run) steps of this process */
    double seconds;
} snet_train_report;

/* Trains a model of config cfg on data (its shape and scaling are copied into the config:
 * snet_dataset_apply_config) with the options; writes checkpoints and out_path as asked. If
 * model_out is not NULL it receives the trained model (EMA parameters when the EMA is on, the
 * raw ones otherwise; caller frees). Resuming checks that the checkpoint's config and options
 * agree with the requested ones and names the first field that does not.
 * Returns SNET_OK, SNET_ESTOPPED, SNET_ENONFINITE (loss or gradient became NaN/inf: msg gives the
 * step), SNET_EINVAL, SNET_EIO, SNET_EFORMAT (bad checkpoint) or SNET_ENOMEM, with msg filled. */
int snet_train_run(const snet_config *cfg, snet_dataset *data, const snet_train_options *opt,
                   snet_train_report *report, snet_model **model_out, char *msg, size_t msg_size);

/* ---- the step-level interface (what snet_train_run is made of) ------------------------------- */

typedef struct snet_trainer snet_trainer;
/* Borrows model (its parameters are trained in place) for the trainer's lifetime. Allocates all
 * buffers for opt->batch; nothing allocates per step. The EMA starts as a copy of the params. */
int snet_trainer_alloc(snet_trainer **out, snet_model *model, const snet_train_options *opt,
                       char *msg, size_t msg_size);
void snet_trainer_free(snet_trainer *tr);
/* One step on batch (seed, step) of data; fills *progress (elapsed fields 0). SNET_ENONFINITE if
 * the loss or gradient is not finite (parameters then left as they were). */
int snet_trainer_step(snet_trainer *tr, snet_dataset *data, snet_train_progress *progress);
uint64_t snet_trainer_steps_done(const snet_trainer *tr);
const float *snet_trainer_ema(const snet_trainer *tr); /* (n_params) or NULL without EMA */
/* The DSM loss of the current parameters on batch `step` without training (for evaluation). */
double snet_trainer_eval_loss(snet_trainer *tr, snet_dataset *data, uint64_t step);
int snet_trainer_save(const snet_trainer *tr, const char *path, char *msg, size_t msg_size);
/* Loads a checkpoint into the trainer (model params, EMA, Adam state, step). */
int snet_trainer_load(snet_trainer *tr, const char *path, char *msg, size_t msg_size);

/* ---- data-parallel training: a step split into shards of the batch ----------------------------
 * The loss of a step is a sum over the rows of its batch, so its gradient is the sum of the
 * gradients of any split of the rows into shards. A data-parallel driver (scoresde's MPI layer;
 * this library knows nothing of MPI) lets each process compute some shards with
 * snet_trainer_shard_grad, sums the shards' gradients itself, in an order of its choosing, and
 * hands the sum to snet_trainer_apply_grad on every process: the same sum gives every process
 * the same parameters, Adam moments and EMA.
 *   snet_trainer_step(tr, data, p)  ≡  shard_grad(tr, data, 0, B, g, &loss); apply_grad(tr, g, loss, p)
 * bit for bit. A shard's gradient depends only on (parameters, step, first, count), not on which
 * other shards the process computes; a sum of S > 1 shards differs from the one-shard gradient by
 * float rounding (the batch sums inside the matrix products are split). */

/* Number of floats in a gradient (every parameter; untrainable entries stay 0). */
size_t snet_trainer_n_params(const snet_trainer *tr);
/* Gradient, for the current parameters, of the part of step k's loss (k = steps_done) that comes
 * from rows [first, first + count) of its batch: grad (n_params floats, caller-owned) is
 * overwritten; *loss receives that part of the loss. Both are normalised by the whole batch
 * (1/(B·D)), so shard gradients and losses add up to the batch's. The batch's draws (data, t, z)
 * are made for all B rows and kept for further shards of the same step. Returns SNET_OK,
 * SNET_EINVAL (count = 0 or the rows leave [0, B)) or the data set's status. */
int snet_trainer_shard_grad(snet_trainer *tr, snet_dataset *data, size_t first, size_t count,
                            float *grad, double *loss);
/* Completes step k = steps_done with grad (n_params floats: the batch gradient, e.g. a sum of
 * shard gradients; read only): global norm, clipping, Adam, EMA, steps_done + 1. loss (the
 * step's loss) is only reported in *progress (elapsed fields 0). SNET_ENONFINITE if loss or the
 * gradient norm is not finite (nothing changed then). */
int snet_trainer_apply_grad(snet_trainer *tr, const float *grad, double loss,
                            snet_train_progress *progress);

#ifdef __cplusplus
}
#endif
#endif
