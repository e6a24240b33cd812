/* snet.h — the time-conditional score network: configuration, the architecture interface, and
 * the model (parameters + the score it computes). Single precision throughout; every matrix
 * product is one cblas_sgemm call.
 *
 * This layer stands on libscoresde_base alone (status codes, the noise schedules of
 * scoresde_schedule.h); it knows nothing of solvers/ or sde/.
 *
 * Shapes: a batch of B inputs x (B, D) row-major, D = C·H·W for images (channel-major per sample:
 * x[b][c][h][w]); times t (B). The caller owns inputs and outputs; a model owns its parameters;
 * activation workspaces are caller-visible (snet_workspace_alloc/free) so nothing allocates per call.
 *
 * Errors: a function that can fail returns SNET_OK or a status (the shared codes of
 * scoresde_status.h) and, through its last argument `scoresde_error *err` (may be NULL: nothing is
 * recorded), reports why: err->message names the thing, the value and what was expected, e.g.
 * "model.sgm: bad magic 'XXXX' (expected 'SGM1')"; err->t is 0 and err->path −1.
 */
#ifndef SNET_H
#define SNET_H

#include <stddef.h>
#include <stdint.h>

#include "scoresde_schedule.h"
#include "scoresde_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The network library's names of the project's shared status codes (scoresde_status.h): one space
 * of codes for every layer, so a code means the same thing wherever it surfaces. */
enum snet_status {
    SNET_OK = SCORESDE_OK,
    SNET_EINVAL = SCORESDE_EINVAL,
    SNET_ENOMEM = SCORESDE_ENOMEM,
    SNET_EIO = SCORESDE_EIO,             /* file could not be read or written (message: file, errno) */
    SNET_EFORMAT = SCORESDE_EFORMAT,     /* file is not what it should be (message says what) */
    SNET_ENONFINITE = SCORESDE_ENONFINITE,
    SNET_ESTOPPED = SCORESDE_EINTERRUPTED /* training stopped at the caller's request */
};

typedef enum snet_arch_kind { SNET_ARCH_MLP = 1, SNET_ARCH_UNET = 2 } snet_arch_kind;
/* The process a network is trained for: the shared kinds of scoresde_schedule.h. */
typedef scoresde_process_kind snet_sde_kind;
#define SNET_SDE_VE SCORESDE_PROCESS_VE
#define SNET_SDE_VP SCORESDE_PROCESS_VP
#define SNET_SDE_SUBVP SCORESDE_PROCESS_SUBVP

typedef struct snet_config {
    snet_arch_kind arch;
    /* data shape: D = channels·height·width; 2-D toy data is channels = 2, height = width = 1 */
    uint32_t channels, height, width;
    /* MLP: hidden width, residual blocks, Fourier features (embedding size = 2·n_fourier) of
     * τ = log σ(t) for VE (as the official NCSN++) and τ = t for VP/sub-VP (see snet_mlp.c) */
    uint32_t hidden, n_blocks, n_fourier;
    float fourier_scale;   /* std of the fixed random Fourier frequencies (official: 16) */
    uint32_t layer_norm;   /* MLP: 1 = LayerNorm in each residual block */
    /* U-Net: base channels, number of resolutions (28 → 14 → 7 for 3), group-norm groups */
    uint32_t base_channels, n_levels, n_groups;
    /* the SDE the model is trained for (sets the time embedding input and output scaling) */
    snet_sde_kind sde;
    float sigma_min, sigma_max, beta_min, beta_max;
    /* data scaling: the model sees x = data_scale·raw + data_shift (images: raw in [0,255] → [−1,1]) */
    float data_scale, data_shift;
    uint32_t quantized;    /* 1: 8-bit data with uniform dequantisation (bits/dim offset applies) */
    /* 0: trained in continuous time (t ~ U(ε, 1)). Otherwise the discrete noise schedule of the
     * original papers, expressed through the same processes (snet_discrete_time):
     *   VE: NCSN, discrete_steps = L geometric noise levels σ_max = σ(1) > … > σ(0) = σ_min at
     *       t_i = i/(L−1), i = 0..L−1;
     *   VP: DDPM, discrete_steps = N steps, β_i = linspace(β_min/N, β_max/N, N)_i, trained at
     *       t_i = (i+1)/N with the exact discrete ᾱ_i = Π_{j≤i}(1 − β_j).
     * The model's score is still c(t)·r with the continuous s(t), so every sampler applies. */
    uint32_t discrete_steps;
} snet_config;
#define SNET_MAX_DISCRETE_STEPS 100000u

/* Fills a config with defaults for an architecture and data shape (the defaults documented in
 * docs/ and `scoresde train --help`). */
void snet_config_default(snet_config *cfg, snet_arch_kind arch, uint32_t channels, uint32_t height,
                         uint32_t width, snet_sde_kind sde);
size_t snet_config_dim(const snet_config *cfg); /* D */

/* The config's process as the shared base evaluates it (scoresde_schedule.h): its coefficients and
 * the network conventions (time input, output sign) of its kind. */
scoresde_schedule snet_config_schedule(const snet_config *cfg);
/* Marginal std s(t) of the configured SDE (VE: σ(t); VP: √(1−e^{2L}); sub-VP: 1−e^{2L}). */
double snet_marginal_std(const snet_config *cfg, double t);
/* Marginal mean coefficient m(t) (VE: 1; VP/sub-VP: e^{L(t)}). */
double snet_marginal_mean(const snet_config *cfg, double t);
/* g(t)² of the configured SDE (for the likelihood weighting). */
double snet_diffusion_sq(const snet_config *cfg, double t);

/* The discrete schedule of a config with discrete_steps = K > 0 (see snet_config), i in 0..K−1:
 * the time t_i the network is conditioned on, and the perturbation x = m_i x0 + s_i z used in
 * training (VE: m_i = 1, s_i = σ(t_i); VP: m_i = √ᾱ_i, s_i = √(1 − ᾱ_i)). Returns SNET_EINVAL
 * (and leaves the outputs alone) for K = 0, i ≥ K, K < 2 with VE, or sub-VP. */
int snet_discrete_time(const snet_config *cfg, uint32_t i, double *t, double *mean, double *std);

/* One named tensor of the flat parameter buffer (the parameter table). Offsets and sizes count
 * floats. Non-trainable tensors (the fixed random Fourier frequencies) are stored and saved like
 * the others but skipped by the optimizer and the EMA. */
#define SNET_NAME_MAX 32
#define SNET_MAX_DIMS 4
typedef struct snet_tensor {
    char name[SNET_NAME_MAX]; /* NUL-terminated, e.g. "blk0.fc1.w" */
    uint32_t ndim;            /* 1..SNET_MAX_DIMS */
    uint32_t shape[SNET_MAX_DIMS]; /* unused dims are 1 */
    uint64_t offset, size;    /* in floats; size = product of shape */
    uint32_t trainable;       /* 1 = updated by the optimizer and the EMA */
} snet_tensor;

/* An architecture: a raw network r(x, t) over one flat parameter buffer. The model turns r into a
 * score: VP/sub-VP: s = −r/s(t) (r predicts the noise); VE: s = r/σ(t).
 * acts: activation workspace of act_size(cfg, B) floats, written by forward and read by backward.
 * backward: given dout (B, D), ADDS parameter gradients into dparams (if not NULL) and WRITES the
 * input gradient into dx (if not NULL), using scratch of scratch_size(cfg, B) floats. */
typedef struct snet_arch_ops {
    const char *name; /* "mlp", "unet" */
    int (*validate)(const snet_config *cfg, scoresde_error *err);
    size_t (*n_params)(const snet_config *cfg);
    void (*init)(const snet_config *cfg, float *params, uint64_t seed);
    size_t (*act_size)(const snet_config *cfg, size_t B);
    size_t (*scratch_size)(const snet_config *cfg, size_t B);
    void (*forward)(const snet_config *cfg, const float *params, size_t B, const float *x,
                    const float *t, float *out, float *acts);
    void (*backward)(const snet_config *cfg, const float *params, size_t B, const float *x,
                     const float *t, const float *acts, const float *dout, float *dparams,
                     float *dx, float *scratch);
    /* Optional (may be NULL; the model then sees one trainable tensor "params"): fills up to cap
     * entries of table (table may be NULL to count) in buffer order, returns the number of
     * tensors. The tensors must tile [0, n_params) without gaps or overlaps. */
    size_t (*tensors)(const snet_config *cfg, snet_tensor *table, size_t cap);
    /* Optional (may be NULL): floating-point operations of one forward pass on B samples
     * (2 per multiply–add of the matrix products; element-wise work not counted). */
    double (*forward_flops)(const snet_config *cfg, size_t B);
    /* Optional (all four NULL when the architecture has no tangent pass; the score-matching
     * objectives that need vᵀ(∂r/∂x)v then refuse it). Forward-mode differentiation in x:
     * tangent_forward writes out = r(x, t) (B, D) and tout = (∂r/∂x)·v (B, D), the directional
     * derivative along v (B, D; time is not perturbed), keeping both passes' activations in
     * acts (tangent_act_size floats). tangent_backward: given dout = ∂L/∂out and
     * dtout = ∂L/∂tout (B, D each), ADDS ∂L/∂θ into dparams (through both the primal and the
     * tangent pass, second derivatives of the non-linearities included), using scratch of
     * tangent_scratch_size floats. */
    size_t (*tangent_act_size)(const snet_config *cfg, size_t B);
    size_t (*tangent_scratch_size)(const snet_config *cfg, size_t B);
    void (*tangent_forward)(const snet_config *cfg, const float *params, size_t B, const float *x,
                            const float *t, const float *v, float *out, float *tout, float *acts);
    void (*tangent_backward)(const snet_config *cfg, const float *params, size_t B,
                             const float *x, const float *t, const float *v, const float *acts,
                             const float *dout, const float *dtout, float *dparams,
                             float *scratch);
} snet_arch_ops;

extern const snet_arch_ops snet_arch_mlp;
extern const snet_arch_ops snet_arch_unet;
/* The table of architectures: kind → ops (NULL for an unknown kind). parse: "mlp", "unet" → kind
 * (SNET_OK, or SNET_EINVAL and *kind untouched). */
const snet_arch_ops *snet_arch_get(snet_arch_kind kind);
int snet_arch_parse(const char *name, snet_arch_kind *kind);

/* Checks a whole config: architecture known and its validate() passes, dimensions non-zero,
 * SDE parameters positive and ordered (σ_min < σ_max, β_min < β_max), data_scale non-zero and
 * finite. Returns SNET_OK or SNET_EINVAL with the offending field and value in err. */
int snet_config_validate(const snet_config *cfg, scoresde_error *err);

/* A static string for a status code ("invalid argument", ...). */
const char *snet_strerror(int status);

/* Threads for the network: n OpenMP threads (omp_set_num_threads) run the matrix-product tiles,
 * the convolution lanes and the element-wise loops; OpenBLAS itself is set to one thread (every
 * product is split by snet_sgemm, snet_gemm.h). n ≤ 0 leaves the OpenMP default. Results are
 * bit-identical for every n. */
void snet_set_num_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
