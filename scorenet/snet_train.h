/* snet_train.h — score-matching training of the score network for VE, VP and sub-VP: continuous-time
 * denoising score matching (Song et al. 2021, eq. 7; the default), sliced score matching with and
 * without variance reduction, exact score matching, and the discrete-noise schedules of NCSN and
 * DDPM; with Adam, warm-up, global-norm clipping, EMA, atomic checkpoints and exact resume.
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
 *
 * Objectives other than DSM (snet_objective) replace the loss line: on the same perturbed x_t,
 * with s = s_θ(x_t, t_b), J = ∂s/∂x and directions v_bm (m < M),
 *   ssm     loss = 1/(B·D) Σ_b λ(t_b) (1/M) Σ_m [2 v_bmᵀ J v_bm + (v_bmᵀ s)²]
 *   ssm-vr  loss = 1/(B·D) Σ_b λ(t_b) (1/M) Σ_m [2 v_bmᵀ J v_bm + ‖s‖²]
 *   esm     loss = 1/(B·D) Σ_b λ(t_b) [2 tr J + ‖s‖²]   (ssm-vr over the D directions √D e_d)
 * The DSM loss equals E λ [2 tr J + ‖s‖²] + a constant (integration by parts: E[s·∇log p(x_t|x_0)]
 * = −E[tr J]), so all four have the same minimiser, the same gradient in expectation, and their
 * values differ by that constant only: this is "weighted like DSM". vᵀJv comes from the tangent
 * pass of the architecture (snet_arch_ops.tangent_forward; the MLP has one, the U-Net does not).
 * The directions are drawn after the DSM draws of the step: Rademacher (±1) or N(0, I).
 * With a discrete schedule (cfg->discrete_steps = K > 0, snet_config) t_b is not uniform but the
 * time t_i of a level i drawn uniformly from 0..K−1, and x_t = m_i x0 + s_i z uses that level's
 * exact discrete m_i, s_i (snet_discrete_time): NCSN for VE, with λ = σ_i²; DDPM for VP, where
 * the DSM loss with λ = s_i² is the ε-prediction loss ‖r − z‖².
 *
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

/* The training objective (see the top of this file). */
typedef enum snet_objective {
    SNET_OBJECTIVE_DSM = 0,    /* denoising score matching (default) */
    SNET_OBJECTIVE_SSM = 1,    /* sliced score matching */
    SNET_OBJECTIVE_SSM_VR = 2, /* sliced score matching, variance-reduced */
    SNET_OBJECTIVE_ESM = 3     /* exact score matching: D tangent passes per sample */
} snet_objective;
/* ESM costs D tangent passes per sample: refused above this data dimension. */
#define SNET_ESM_MAX_DIM 64u

typedef enum snet_projection {
    SNET_PROJECTION_RADEMACHER = 0, /* entries ±1 (default: the lower-variance choice) */
    SNET_PROJECTION_GAUSSIAN = 1    /* entries N(0, 1) */
} snet_projection;

/* Names for the command line: "dsm", "ssm", "ssm-vr", "esm"; "rademacher", "gaussian". The
 * parse functions return SNET_OK and set *out, or SNET_EINVAL for an unknown name. */
const char *snet_objective_name(snet_objective o);
int snet_objective_parse(const char *name, snet_objective *out);
int snet_projection_parse(const char *name, snet_projection *out);

/* The score-matching terms of n rows, one direction each: s, jv, v (n, D) are the scores, the
 * directional derivatives J·v of the score and the directions; w (n) row weights.
 *   ssm:          L = Σ_j w_j [2 v_jᵀ jv_j + (v_jᵀ s_j)²]
 *   ssm-vr, esm:  L = Σ_j w_j [2 v_jᵀ jv_j + ‖s_j‖²]
 * Returns L (accumulated in double) and writes ds = ∂L/∂s, djv = ∂L/∂jv (n, D each; either may be
 * NULL). NaN for SNET_OBJECTIVE_DSM, which has no such terms. What the trainer minimises, exposed
 * so that any model with a JVP (a linear one in the tests) can be trained with it. */
double snet_sliced_sm_rows(snet_objective objective, size_t n, size_t D, const float *s,
                           const float *jv, const float *v, const double *w, float *ds,
                           float *djv);

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

/* How snet_train_run takes its steps and writes its files, for a run spread over processes
 * (apps/dist.c drives data-parallel training through these). A NULL member keeps the
 * single-process behaviour; each returns an snet status and words its own failures in err (which may be NULL). */
typedef struct snet_trainer snet_trainer;
typedef struct snet_train_options snet_train_options;
typedef struct snet_train_hooks {
    /* After the model and trainer are made (tr NULL and `status` the failure if that failed
     * here): the status every process agrees on, so that all stop together. */
    int (*begin)(snet_trainer *tr, int status, scoresde_error *err, void *ctx);
    /* Whether to resume from `path` (default: the file exists). */
    int (*resume_from)(const char *path, void *ctx);
    /* After loading the checkpoint (status: how that went here): the status every process
     * agrees on, SNET_EINVAL when they hold different weights. */
    int (*after_resume)(const snet_trainer *tr, int status, scoresde_error *err, void *ctx);
    /* One optimizer step (default snet_trainer_step); setting *stop ends the run after it. */
    int (*step)(snet_trainer *tr, snet_dataset *data, snet_train_progress *progress, int *stop,
                scoresde_error *err, void *ctx);
    /* Writes the checkpoint (final 0) or the weights file opt->out_path (final 1); default: here. */
    int (*save)(const snet_trainer *tr, const snet_train_options *opt, int final, scoresde_error *err,
                void *ctx);
    void *ctx;
} snet_train_hooks;

struct snet_train_options {
    uint64_t steps;          /* total steps to reach (a resumed run continues up to it) */
    size_t batch;            /* samples per step */
    double lr;               /* Adam learning rate after warm-up */
    uint64_t warmup;         /* linear warm-up steps (0 = none) */
    double grad_clip;        /* global-norm bound (≤ 0: no clipping) */
    double beta1, beta2, adam_eps;
    double ema_decay;        /* 0 disables the EMA copy */
    double t_eps;            /* lower end of t ~ U(t_eps, 1) */
    snet_weighting weighting;
    snet_objective objective;   /* default DSM */
    size_t projections;         /* M directions per sample for ssm and ssm-vr (1..1024; default 1) */
    snet_projection projection; /* their distribution (default Rademacher) */
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
    const snet_train_hooks *hooks; /* NULL: one process (see snet_train_hooks) */
};

/* Defaults: batch 512, lr 2e-4 (official), warmup 5000 (official; set it lower for short runs),
 * grad_clip 1, Adam β = (0.9, 0.999), eps 1e-8, ema_decay 0.999, t_eps 1e-5, λ = s², DSM (with
 * M = 1 Rademacher direction for the sliced objectives), seed 0,
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
 * Returns SNET_OK, SNET_ESTOPPED, SNET_ENONFINITE (loss or gradient became NaN/inf: err gives the
 * step), SNET_EINVAL, SNET_EIO, SNET_EFORMAT (bad checkpoint) or SNET_ENOMEM, with err filled. */
int snet_train_run(const snet_config *cfg, snet_dataset *data, const snet_train_options *opt,
                   snet_train_report *report, snet_model **model_out, scoresde_error *err);

/* ---- the step-level interface (what snet_train_run is made of) ------------------------------- */

/* Borrows model (its parameters are trained in place) for the trainer's lifetime. Allocates all
 * buffers for opt->batch; nothing allocates per step. The EMA starts as a copy of the params.
 * SNET_EINVAL (err says why) for bad options, an objective that needs a tangent pass on an
 * architecture without one, or esm above SNET_ESM_MAX_DIM. */
int snet_trainer_alloc(snet_trainer **out, snet_model *model, const snet_train_options *opt,
                       scoresde_error *err);
void snet_trainer_free(snet_trainer *tr);
/* One step on batch (seed, step) of data; fills *progress (elapsed fields 0). SNET_ENONFINITE if
 * the loss or gradient is not finite (parameters then left as they were). */
int snet_trainer_step(snet_trainer *tr, snet_dataset *data, snet_train_progress *progress);
uint64_t snet_trainer_steps_done(const snet_trainer *tr);
const float *snet_trainer_ema(const snet_trainer *tr); /* (n_params) or NULL without EMA */
const snet_model *snet_trainer_model(const snet_trainer *tr); /* the borrowed model */
/* The times t_b (B floats) of the batch drawn last (by a step, a shard or eval_loss): for
 * inspecting the schedule; overwritten by the next draw. */
const float *snet_trainer_times(const snet_trainer *tr);
/* The loss (of the trainer's objective) of the current parameters on batch `step` without training
 * (for evaluation). */
double snet_trainer_eval_loss(snet_trainer *tr, snet_dataset *data, uint64_t step);
int snet_trainer_save(const snet_trainer *tr, const char *path, scoresde_error *err);
/* Loads a checkpoint into the trainer (model params, EMA, Adam state, step). */
int snet_trainer_load(snet_trainer *tr, const char *path, scoresde_error *err);

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
