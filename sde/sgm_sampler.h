/* sgm_sampler.h — sampling from a diffusion model given by any score model: the predictor–corrector
 * sampler, the probability-flow ODE sampler, the reverse-SDE sampler, NCSN's annealed Langevin
 * dynamics and the fast samplers (DDIM, EDM, DPM-Solver, DPM-Solver++, UniPC, DEIS), with
 * inpainting and (through sgm_guided_score) guidance.
 *
 * Common shape of every sampler call:
 *     status = sgm_<kind>_sample(process, model, options, n, seed, first_sample, x, stats, err);
 *   - x[n*d] (caller-owned) receives the samples, d = model->dim;
 *   - sample i of the call is global sample first_sample + i: every random number it uses comes
 *     from slv_rng_counter streams keyed (seed, first_sample + i, ...), so sampling 8 at once or
 *     as 3 + 5 with first_sample = 0 and 3 gives the same bits (the ODE sampler in
 *     SLV_BATCH_INDEPENDENT mode, which is the default; SLV_BATCH_JOINT is faster for networks but
 *     its steps depend on the batch);
 *   - stats (may be NULL) receives NFE and counters (sgm_score.h), err (may be NULL) the report;
 *   - return SLV_OK, or: SLV_EINVAL (bad option: message names it), SLV_ENOMEM, SLV_ENONFINITE (the
 *     score returned NaN/Inf: err->t is the time, err->path the global sample index),
 *     SLV_ECALLBACK (the score returned nonzero), SLV_EUNSUPPORTED (e.g. ancestral with sub-VP),
 *     SLV_EINTERRUPTED (options.interrupt became nonzero), or the ODE/SDE solver's status. On
 *     failure x holds the state when it stopped.
 * Workspaces are allocated once at the start of a call and freed before it returns; nothing is
 * allocated per step. The families are also a table (sgm_sampler_families, at the end), for
 * programs that choose one by name.
 */
#ifndef SGM_SAMPLER_H
#define SGM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "sgm_process.h"
#include "sgm_score.h"
#include "slv_ode.h"
#include "slv_sde.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Use the process's default (sgm_process_default_eps) for an `eps` option. */
#define SGM_EPS_DEFAULT (-1.0)

/* ---- Inpainting / imputation (the paper's Appendix I) ------------------------------------- */

/* Coordinates j with mask[j] != 0 are known. Before every score evaluation at time t the known
 * coordinates of the state are replaced by a sample of the forward marginal of the observed values,
 * m(t) y_j + s(t) z_j (PC: fresh z at every evaluation; ODE: one z per sample for the whole solve,
 * so the vector field is smooth in t), and only the unknown coordinates are moved. At the end the
 * known coordinates are set to y exactly. This is the paper's approximation of the conditional
 * score: exact when the observed coordinates carry no information the noisy ones lack (see
 * docs/sde.md). */
typedef struct sgm_inpaint {
    const unsigned char *mask; /* (d) */
    const double *observed;    /* (n, d) one row per sample of the call, or (d) if shared */
    int shared;                /* nonzero: one observed row for the whole batch */
} sgm_inpaint;

/* ---- The predictor–corrector sampler ------------------------------------------------------- */

typedef enum sgm_predictor {
    SGM_PREDICTOR_NONE = 0,
    SGM_PREDICTOR_EULER_MARUYAMA = 1,
    SGM_PREDICTOR_REVERSE_DIFFUSION = 2,
    SGM_PREDICTOR_ANCESTRAL = 3 /* VE and VP only */
} sgm_predictor;

typedef enum sgm_corrector {
    SGM_CORRECTOR_NONE = 0,
    SGM_CORRECTOR_LANGEVIN = 1, /* ε = 2α (snr ‖z‖/‖s‖)², per sample */
    SGM_CORRECTOR_ALD = 2       /* annealed Langevin dynamics (NCSN): ε = 2α (snr s(t))² */
} sgm_corrector;

/* Names for the command line: "none", "euler_maruyama", "reverse_diffusion", "ancestral";
 * "none", "langevin", "ald". parse returns SLV_OK or SLV_EINVAL. */
const char *sgm_predictor_name(sgm_predictor p);
int sgm_predictor_parse(const char *name, sgm_predictor *p);
const char *sgm_corrector_name(sgm_corrector c);
int sgm_corrector_parse(const char *name, sgm_corrector *c);

typedef struct sgm_pc_options {
    sgm_predictor predictor;   /* default: VE reverse_diffusion, VP/sub-VP euler_maruyama */
    sgm_corrector corrector;   /* default: VE langevin, VP/sub-VP none */
    double snr;                /* default 0.16 */
    size_t corrector_steps;    /* default 1 */
    int langevin_batch_norms;  /* default 0: each sample's own ‖z‖, ‖s‖ (the paper's Algorithms 4
                                  and 5; batch-independent). 1: the official code's rule, norms
                                  averaged over the batch — one step size for the batch, so a
                                  sample depends on its batch-mates. In very low dimension (d of
                                  a few) the per-sample ratio ‖z‖/‖s‖ has heavy tails and makes
                                  occasional huge steps: see docs/sde.md. */
    double eps;                /* end time; default SGM_EPS_DEFAULT (1e-3 VP/sub-VP, 1e-5 VE) */
    int denoise;               /* default 1: output the noise-free mean of the last update */
    const sgm_inpaint *inpaint; /* default NULL */
    volatile int *interrupt;   /* default NULL; polled between steps */
} sgm_pc_options;

/* Fills o with the paper's pairing for the process kind (see above). */
void sgm_pc_options_init(sgm_pc_options *o, const sgm_process *p);

/* The PC sampler. Steps k = 0..N−1 (N = process->N) on the grid t_k = T + k (eps − T)/N; at step k
 * the corrector runs corrector_steps times at t_k, then the predictor moves the state from t_k to
 * t_{k+1} (so the chain ends exactly at eps):
 *   euler_maruyama     x ← x + [a x − g² s] Δt + g √|Δt| z,   Δt = t_{k+1} − t_k < 0
 *   reverse_diffusion  x ← x − f_i + G_i² s + G_i z            (discretisation index i = N−1−k)
 *   ancestral          VE: x ← x + (σ_i² − σ_{i−1}²) s + √(σ_{i−1}² (σ_i² − σ_{i−1}²)/σ_i²) z
 *                      VP: x ← (x + β_i s)/√(1 − β_i) + √β_i z
 *   langevin           x ← x + ε s + √(2ε) z, ε = 2α (snr ‖z‖/‖s‖)² with each sample's own norms
 *                      (batch-independent; langevin_batch_norms = 1 averages the norms over the
 *                      batch as the official code does),
 *                      α = 1 − β_i (VP, sub-VP: the DDPM β_i), 1 (VE)
 *   ald                same update with ε = 2α (snr s(t_k))²
 * Noise of sample i at step k: stream SGM_STREAM_STEP(k, j), j = 0 predictor, j = 1 + c corrector
 * iteration c, j = 0x10000 + e inpainting replacement before evaluation e of the step.
 * The prior sample uses SGM_STREAM_PRIOR. stats->nfe = N (corrector_steps + 1) (predictor none:
 * N corrector_steps). */
int sgm_pc_sample(const sgm_process *process, const sgm_score_model *model,
                  const sgm_pc_options *options, size_t n, uint64_t seed, size_t first_sample,
                  double *x, sgm_stats *stats, slv_error *err);

/* Same, starting from the given states x[n*d] at time T instead of a prior sample (x is updated in
 * place). */
int sgm_pc_sample_from(const sgm_process *process, const sgm_score_model *model,
                       const sgm_pc_options *options, size_t n, uint64_t seed,
                       size_t first_sample, double *x, sgm_stats *stats, slv_error *err);

/* ---- Fast samplers: methods and noise-level grids ------------------------------------------- */

/* Exponential-integrator and high-order samplers of the probability-flow ODE and of the reverse
 * SDE, written once in EDM's scaled variables (Karras et al. 2022):
 *     x̂ = x/α_t,  σ̂ = σ_t/α_t,  λ = −log σ̂,  D(x̂; σ̂) = (x + σ_t² s(x, t))/α_t  (x = α_t x̂),
 * where α_t = m(t), σ_t = s(t) of sgm_process.h, so that the probability-flow ODE is
 * dx̂/dσ̂ = (x̂ − D)/σ̂ = ε (the noise prediction ε = −σ_t s) for VE, VP and sub-VP alike.
 * Every one takes K = n_steps steps from t = T to t = eps on a grid of noise levels
 * (sgm_schedule). With denoise (the default) the K-th step goes from σ̂(eps) to σ̂ = 0 — the
 * output is the denoiser D(x̂; σ̂(eps)) = E[x_0 | x_eps] (Tweedie's formula; EDM's Euler step to 0,
 * DPM-Solver's denoise_to_zero), one evaluation — and the other K − 1 steps run from σ̂(T) to
 * σ̂(eps); without it all K steps run from σ̂(T) to σ̂(eps) and the output is x(eps) = α x̂, a
 * sample of p_eps. docs/sde.md, "Fast samplers", has the formulas, the measured orders and the
 * places where the authors' code differs. */

typedef enum sgm_schedule {
    SGM_SCHEDULE_AUTO = 0,    /* the sampler's own: edm for edm-heun and edm-churn, logsnr otherwise */
    SGM_SCHEDULE_UNIFORM = 1, /* uniform in t: t_i = T + i (eps − T)/M */
    SGM_SCHEDULE_LOGSNR = 2,  /* uniform in λ between λ(T) and λ(eps) (DPM-Solver's "logSNR") */
    SGM_SCHEDULE_EDM = 3      /* σ̂_i = (σ̂_max^{1/ρ} + i/M (σ̂_min^{1/ρ} − σ̂_max^{1/ρ}))^ρ, σ̂_max =
                                 σ̂(T), σ̂_min = σ̂(eps) (Karras et al. eq. 5) */
} sgm_schedule;
/* (M = K − 1 grid intervals with denoise, K without; i = 0..M.) */

/* Names "auto", "uniform", "logsnr", "edm". parse returns SLV_OK or SLV_EINVAL. */
const char *sgm_schedule_name(sgm_schedule schedule);
int sgm_schedule_parse(const char *name, sgm_schedule *schedule);

/* A fast sampler, exported by name like the slv_ode_method table. */
typedef struct sgm_fast_method {
    const char *name;        /* the command line's: "ddim", "edm-heun", ... */
    unsigned order;          /* global order on the probability-flow ODE that the tests measure
                                (deis: with the default deis_order 2; stochastic samplers: the
                                order of their noise-free update, not measured) */
    unsigned evals_per_step; /* denoiser evaluations per step away from the ends */
    int stochastic;          /* 1: samples the reverse SDE (noise from the seed's counter streams) */
    sgm_schedule schedule;   /* its own schedule, what SGM_SCHEDULE_AUTO means for it */
    int kind;                /* private: which update the sampler applies */
} sgm_fast_method;

/* Deterministic (probability-flow ODE):                      evaluations (denoise on / off)
 *   ddim          DDIM, η = 0 = DPM-Solver++1; order 1            K        / K
 *   edm-heun      Karras et al. Alg. 1 (Heun in σ̂); order 2       2K − 1   / 2K
 *   dpm-solver-2  Lu et al. 2022a, single-step, ε, r₁ = ½; 2     2K − 1   / 2K
 *   dpm-solver-3  Lu et al. 2022a, single-step, ε, r = ⅓, ⅔; 3   3K − 2   / 3K
 *   dpmpp-2m      Lu et al. 2022b, multistep, D; order 2          K        / K
 *   dpmpp-3m      Lu et al. 2022b, multistep, D; order 3          K        / K
 *   unipc         Zhao et al. 2023, UniP-2 + UniC, B(h) = e^h−1 (bh2); order 3   K / K
 *   deis          Zhang & Chen 2022, tAB-DEIS: ε extrapolated by a polynomial in t of degree
 *                 deis_order (default 2); order deis_order + 1   K        / K
 * Stochastic (reverse SDE):
 *   edm-churn     Karras et al. Alg. 2 (churn, S_min, S_max, S_noise)   2K − 1 / 2K
 *   dpmpp-2m-sde  k-diffusion's DPM-Solver++(2M) SDE (η = 1, midpoint)  K / K
 *   dpmpp-3m-sde  k-diffusion's DPM-Solver++(3M) SDE (η = 1)            K / K        */
extern const sgm_fast_method *const sgm_fast_ddim;
extern const sgm_fast_method *const sgm_fast_edm_heun;
extern const sgm_fast_method *const sgm_fast_dpm_solver_2;
extern const sgm_fast_method *const sgm_fast_dpm_solver_3;
extern const sgm_fast_method *const sgm_fast_dpmpp_2m;
extern const sgm_fast_method *const sgm_fast_dpmpp_3m;
extern const sgm_fast_method *const sgm_fast_unipc;
extern const sgm_fast_method *const sgm_fast_deis;
extern const sgm_fast_method *const sgm_fast_edm_churn;
extern const sgm_fast_method *const sgm_fast_dpmpp_2m_sde;
extern const sgm_fast_method *const sgm_fast_dpmpp_3m_sde;

/* NULL-terminated table of every fast sampler, and lookup by name (NULL if unknown). */
extern const sgm_fast_method *const sgm_fast_methods[];
const sgm_fast_method *sgm_fast_method_by_name(const char *name);

/* ---- The probability-flow ODE sampler ------------------------------------------------------ */

/*   dx/dt = a(t) x − ½ g(t)² s(x, t), integrated from T down to eps by any slv_ode_method. */
typedef struct sgm_ode_options {
    const slv_ode_method *method; /* default slv_ode_rk45 */
    double rtol, atol;            /* adaptive methods; default 1e-5, 1e-5 */
    size_t n_steps;               /* fixed-step methods; default 100 */
    size_t max_steps;             /* adaptive step budget per solve; default 100000 */
    double eps;                   /* default SGM_EPS_DEFAULT (sampling) */
    int denoise;                  /* default 1: one noise-free reverse-diffusion step at eps */
    slv_batch_mode batch_mode;    /* default SLV_BATCH_INDEPENDENT (reproducible under splits;
                                     rk45 batches the samples' score calls while each keeps its
                                     own steps) */
    const sgm_inpaint *inpaint;   /* default NULL */
    volatile int *interrupt;      /* default NULL */
    const sgm_fast_method *fast;  /* default NULL; a deterministic fast sampler (sgm_fast_ddim,
                                     ...) to decode with instead of `method`: n_steps steps on
                                     `schedule`, with eps, denoise, inpaint and interrupt as
                                     above (rtol, atol, max_steps, batch_mode unused; see
                                     sgm_fast_decode). sgm_encode refuses it. */
    sgm_schedule schedule;        /* fast samplers; default SGM_SCHEDULE_AUTO */
    double rho;                   /* ρ of SGM_SCHEDULE_EDM; default 7 */
} sgm_ode_options;

void sgm_ode_options_init(sgm_ode_options *o);

/* Prior sample (SGM_STREAM_PRIOR) then decode. stats->nfe counts vector-field evaluations (mean
 * over samples in independent mode) plus 1 for the denoising step. */
int sgm_ode_sample(const sgm_process *process, const sgm_score_model *model,
                   const sgm_ode_options *options, size_t n, uint64_t seed, size_t first_sample,
                   double *x, sgm_stats *stats, slv_error *err);

/* Decode latents z[n*d] at T into x[n*d] at eps (z and x may be the same array), with the
 * optional denoising step and inpainting of the options. nfe[n] (may be NULL) receives each
 * sample's count. seed/first_sample matter only for inpainting (its fixed forward noise). */
int sgm_decode(const sgm_process *process, const sgm_score_model *model,
               const sgm_ode_options *options, size_t n, const double *z, uint64_t seed,
               size_t first_sample, double *x, size_t *nfe, sgm_stats *stats, slv_error *err);

/* Encode x[n*d] at eps into latents z[n*d] at T (z and x may be the same array) by integrating
 * the probability-flow ODE forward; options->denoise and ->inpaint are ignored. eps is
 * options->eps (SGM_EPS_DEFAULT: the process's sampling eps, so that decode inverts encode with
 * the same options; the likelihood uses SGM_LIKELIHOOD_EPS). */
int sgm_encode(const sgm_process *process, const sgm_score_model *model,
               const sgm_ode_options *options, size_t n, const double *x, double *z,
               size_t *nfe, sgm_stats *stats, slv_error *err);

/* Spherical interpolation between latents z0[d] and z1[d] (for a Gaussian prior, a slerp keeps the
 * norm statistics of prior samples): out[k*d..] for k = 0..n_points−1 at α_k = k/(n_points − 1),
 *   out = sin((1−α)θ)/sin θ · z0 + sin(αθ)/sin θ · z1,  cos θ = z0·z1/(‖z0‖‖z1‖);
 * linear interpolation when θ < 1e-6 or π − θ < 1e-6 (no unique great circle). n_points >= 2
 * (1 gives z0). */
void sgm_slerp(size_t d, const double *z0, const double *z1, size_t n_points, double *out);

/* The denoising step at time t: x ← x − f_i + G_i² s(x, t), i = discrete index of t (a
 * reverse-diffusion step without noise), as the official samplers' final noise removal. */
int sgm_denoise(const sgm_process *process, const sgm_score_model *model, double t, size_t n,
                size_t first_sample, double *x, sgm_stats *stats, slv_error *err);

/* ---- The reverse-time SDE sampler ---------------------------------------------------------- */

/*   dx = [a(t) x − g(t)² s(x, t)] dt + g(t) dw̄ from T down to eps, handed to slv_sde_solver as a
 * DIAGONAL, additive system (g depends on t only), so every step type applies, SRA1/SRA3
 * included. The Brownian path comes from slv_sde_solver_set_seed(seed, first_sample). */
typedef struct sgm_sde_options {
    const slv_sde_step_type *method; /* default slv_sde_step_em */
    size_t n_steps;                  /* fixed steps; default 0 = process->N */
    int adaptive;                    /* default 0; 1: slv adaptive driver with rtol/atol */
    double rtol, atol;               /* default 1e-3, 1e-3 */
    size_t max_steps;                /* adaptive budget per path; default 100000 */
    double eps;                      /* default SGM_EPS_DEFAULT */
    int denoise;                     /* default 1 */
    int threads;                     /* slv_sde_solver_set_threads for the step arithmetic;
                                        default 1 (cheap next to a score evaluation; OpenMP's
                                        fork/join costs more than it saves on small batches) */
    volatile int *interrupt;
} sgm_sde_options;

void sgm_sde_options_init(sgm_sde_options *o);

/* stats->nfe = drift evaluations per sample (the mean over the batch for the adaptive driver, whose
 * paths take different steps) + 1 with denoising. */
int sgm_sde_sample(const sgm_process *process, const sgm_score_model *model,
                   const sgm_sde_options *options, size_t n, uint64_t seed, size_t first_sample,
                   double *x, sgm_stats *stats, slv_error *err);

/* ---- Fast samplers ------------------------------------------------------------------------- */

typedef struct sgm_fast_options {
    const sgm_fast_method *method; /* default sgm_fast_dpmpp_2m */
    size_t n_steps;                /* K, the steps including the final one to σ̂ = 0 when
                                      denoising: 2 .. 2^26 − 1 (1 allowed without denoise);
                                      default 20 */
    sgm_schedule schedule;         /* default SGM_SCHEDULE_AUTO */
    double rho;                    /* SGM_SCHEDULE_EDM; > 0, default 7 */
    double eps;                    /* default SGM_EPS_DEFAULT; VP and sub-VP need eps > 0 (σ̂ = 0
                                      at t = 0) */
    int denoise;                   /* default 1: the last step goes to σ̂ = 0 (see above) */
    unsigned deis_order;           /* deis: degree r of the extrapolating polynomial, 1 .. 3;
                                      default 2 */
    /* edm-churn (Karras et al. Alg. 2; defaults the paper's ImageNet-64 values): at a level
     * S_min <= σ̂_i <= S_max the level is raised to σ̂_i (1 + γ), γ = min(churn/K, √2 − 1),
     * by adding √(σ̂_new² − σ̂_i²) s_noise z, never above σ̂(T) (the score is defined on [0, T]). */
    double churn;                  /* S_churn >= 0; default 40 (0: Alg. 1 with Alg. 2's grid) */
    double s_min, s_max;           /* in σ̂ units; defaults 0.05, 50 */
    double s_noise;                /* > 0; default 1.003; dpmpp-*-sde scale their noise by it
                                      too (k-diffusion's s_noise) */
    const sgm_inpaint *inpaint;    /* default NULL: known coordinates replaced by m(t) y + s(t) z
                                      (one z per sample, stream SGM_STREAM_INPAINT_ODE, as the ODE
                                      sampler) in the input of every evaluation, set to y at the
                                      end */
    volatile int *interrupt;       /* default NULL; polled before every step */
} sgm_fast_options;

void sgm_fast_options_init(sgm_fast_options *o);

/* Prior sample (SGM_STREAM_PRIOR) then sgm_fast_sample_from. */
int sgm_fast_sample(const sgm_process *process, const sgm_score_model *model,
                    const sgm_fast_options *options, size_t n, uint64_t seed, size_t first_sample,
                    double *x, sgm_stats *stats, slv_error *err);

/* From the states x[n*d] at t = T (updated in place). All samples share the grid, so each
 * evaluation is one batched score call; the noise of sample i at step k (stochastic samplers)
 * is stream SGM_STREAM_STEP(k, 0) of (seed, first_sample + i): a sample does not depend on its
 * batch-mates. stats->nfe = the evaluations per sample (table above); stats->n_steps = K.
 * Failures as the other samplers (SLV_EINVAL naming the option, SLV_ENONFINITE / SLV_ECALLBACK
 * naming time and sample, SLV_EINTERRUPTED); x then holds the state x = α x̂ at the grid level
 * where it stopped. One allocation of workspace per call (about 10 n d doubles). */
int sgm_fast_sample_from(const sgm_process *process, const sgm_score_model *model,
                         const sgm_fast_options *options, size_t n, uint64_t seed,
                         size_t first_sample, double *x, sgm_stats *stats, slv_error *err);

/* The deterministic samplers as a decoder, like sgm_decode: latents z[n*d] at T to x[n*d] (z and
 * x may be the same array); nfe[n] (may be NULL) receives each sample's count. seed and
 * first_sample matter only for inpainting. SLV_EINVAL for a stochastic method. */
int sgm_fast_decode(const sgm_process *process, const sgm_score_model *model,
                    const sgm_fast_options *options, size_t n, const double *z, uint64_t seed,
                    size_t first_sample, double *x, size_t *nfe, sgm_stats *stats,
                    slv_error *err);

/* ---- Annealed Langevin dynamics (NCSN) ---------------------------------------------------- */

/* Song & Ermon (NeurIPS 2019), Algorithm 1, on a VE process only (its σ(t) are NCSN's noise
 * levels). Levels i = 0..L−1 from the largest noise, at the times NCSN-trained models are trained
 * on (scorenet discrete_steps = L: t = j/(L−1), j = L−1−i):
 *   t_i = (L−1−i)/(L−1),  σ_i = σ(t_i) = σ_max (σ_min/σ_max)^{i/(L−1)}  (σ_0 = σ_max, σ_{L−1} = σ_min),
 *   α_i = ε σ_i²/σ_{L−1}²,
 * and at level i, T times:  x ← x + (α_i/2) s(x, t_i) + √α_i z.
 * The chain starts from the prior N(0, σ_max² I). With denoise, one noise-free step at the smallest
 * level follows (Jolicoeur-Martineau et al. 2021; NCSNv2's final step): x ← x + σ_min² s(x, 0).
 * Every Langevin step adds its noise (the last one too). */
typedef struct sgm_ald_options {
    size_t n_levels;        /* L, 2 .. 2^26 − 1; default 10 */
    size_t steps_per_level; /* T, 1 .. 2^20 − 1; default 100 */
    double step_lr;         /* ε > 0 (the step at the smallest level); default 2e-5 (NCSN) */
    int denoise;            /* default 1 */
    volatile int *interrupt; /* default NULL; polled before every step */
} sgm_ald_options;

void sgm_ald_options_init(sgm_ald_options *o);

/* Prior sample (SGM_STREAM_PRIOR) then the chain above. Noise of sample i at step k of level l:
 * stream SGM_STREAM_STEP(l, k). stats->nfe = L T (+1 with denoise). SLV_EUNSUPPORTED for VP and
 * sub-VP processes; SLV_EINVAL (naming the option) for n_levels < 2, steps_per_level = 0, step_lr
 * not a finite value > 0. */
int sgm_ald_sample(const sgm_process *process, const sgm_score_model *model,
                   const sgm_ald_options *options, size_t n, uint64_t seed, size_t first_sample,
                   double *x, sgm_stats *stats, slv_error *err);

/* Same, starting from the given states x[n*d] at the largest level (t_0 = 1) instead of a prior
 * sample (x is updated in place). */
int sgm_ald_sample_from(const sgm_process *process, const sgm_score_model *model,
                        const sgm_ald_options *options, size_t n, uint64_t seed,
                        size_t first_sample, double *x, sgm_stats *stats, slv_error *err);

/* ---- The sampler families as a table --------------------------------------------------------- */

/* Each sampler family above, exported by name like the slv_ode_method table, so that a program
 * chooses a sampler by passing a pointer and holds its options as one block of options_size
 * bytes (an sgm_sampler_options, below, has room for any). The operations take that block as
 * the family's own options struct, which the caller may also set field by field:
 *   name, summary    "pc", "ode", "sde", "fast", "ald"; one line for a help text;
 *   options_init     its defaults (sgm_<family>_options_init; only PC reads the process);
 *   set_interrupt    options->interrupt = flag;
 *   set_inpaint      options->inpaint = inpaint; NULL for the families without inpainting (sde,
 *                    ald);
 *   sample           sgm_<family>_sample, same arguments and status (see the top of this file).
 * So `family->sample(process, model, options, ...)` gives the same bits as the typed call. */
typedef struct sgm_sampler_family {
    const char *name;
    const char *summary;
    size_t options_size;
    void (*options_init)(void *options, const sgm_process *process);
    void (*set_interrupt)(void *options, volatile int *flag);
    void (*set_inpaint)(void *options, const sgm_inpaint *inpaint);
    int (*sample)(const sgm_process *process, const sgm_score_model *model, const void *options,
                  size_t n, uint64_t seed, size_t first_sample, double *x, sgm_stats *stats,
                  slv_error *err);
} sgm_sampler_family;

/* Room for the options of any family, for a program that holds them by value (every family's
 * options_size <= sizeof(sgm_sampler_options)): after family->options_init(&o, process) it is the
 * options struct of that family, and only that member is read or written. */
typedef union sgm_sampler_options {
    sgm_pc_options pc;
    sgm_ode_options ode;
    sgm_sde_options sde;
    sgm_fast_options fast;
    sgm_ald_options ald;
} sgm_sampler_options;

/*                  options           sample            summary
 *   pc             sgm_pc_options    sgm_pc_sample     predictor-corrector
 *   ode            sgm_ode_options   sgm_ode_sample    probability-flow ODE
 *   sde            sgm_sde_options   sgm_sde_sample    reverse SDE
 *   fast           sgm_fast_options  sgm_fast_sample   fast samplers (sgm_fast_methods)
 *   ald            sgm_ald_options   sgm_ald_sample    annealed Langevin dynamics (VE)        */
extern const sgm_sampler_family *const sgm_sampler_pc;
extern const sgm_sampler_family *const sgm_sampler_ode;
extern const sgm_sampler_family *const sgm_sampler_sde;
extern const sgm_sampler_family *const sgm_sampler_fast;
extern const sgm_sampler_family *const sgm_sampler_ald;

/* NULL-terminated table of every family, in the order above, and lookup by name (NULL if
 * unknown). */
extern const sgm_sampler_family *const sgm_sampler_families[];
const sgm_sampler_family *sgm_sampler_family_by_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
