/* sgm_process.h — the three forward diffusion processes of Song et al. (ICLR 2021): VE, VP and
 * sub-VP, their closed-form marginals, priors and discretisations.
 *
 *   dx = f(x, t) dt + g(t) dw,  f(x, t) = a(t) x,  t in [0, T],  T = 1,
 *   x(t) | x(0) ~ N(m(t) x(0), s(t)² I).
 *
 *            a(t)          g(t)                                     m(t)     s(t)            prior
 *   VE       0             σ(t) √(2 ln(σ_max/σ_min))                1        σ(t)            N(0, σ_max² I)
 *   VP       −β(t)/2       √β(t)                                    e^{L}    √(1 − e^{2L})   N(0, I)
 *   sub-VP   −β(t)/2       √(β(t)(1 − e^{−2β_min t − (β_max−β_min)t²}))  e^{L}  1 − e^{2L}      N(0, I)
 *
 * with σ(t) = σ_min (σ_max/σ_min)^t, β(t) = β_min + t (β_max − β_min),
 * L(t) = −t² (β_max − β_min)/4 − t β_min/2. For VE, s(0) = σ_min (not 0): as in the official code,
 * the smallest noise level is part of the process, so "p_0" of VE is the data convolved with
 * N(0, σ_min²) (the Gaussian-mixture oracle follows the same m(t), s(t)).
 *
 * The continuous-time coefficients are the shared schedule's (scoresde_schedule.h); this layer
 * adds the prior, the end times and the discretisations.
 *
 * Discretisation with N steps (i = 0..N−1), the paper's Appendix, used by the reverse-diffusion
 * and ancestral predictors and the Langevin corrector's α:
 *   VE (SMLD):  σ_i = exp(linspace(ln σ_min, ln σ_max, N))_i, f_i = 0, G_i = √(σ_i² − σ_{i−1}²),
 *               σ_{−1} = 0.
 *   VP (DDPM):  β_i = linspace(β_min/N, β_max/N, N)_i, f_i = (√(1 − β_i) − 1) x, G_i = √β_i.
 *   sub-VP:     Euler–Maruyama with Δt = T/N at t_i = i T/(N−1): f_i = a(t_i) x Δt, G_i = g(t_i)√Δt.
 * The discrete index of a time t is floor(t (N−1)/T), as in the official code.
 */
#ifndef SGM_PROCESS_H
#define SGM_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "scoresde_schedule.h"
#include "slv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds are the project's shared ones (scoresde_schedule.h), so a network's kind is a process
 * kind without translation. */
typedef scoresde_process_kind sgm_process_kind;
#define SGM_PROCESS_VE SCORESDE_PROCESS_VE
#define SGM_PROCESS_VP SCORESDE_PROCESS_VP
#define SGM_PROCESS_SUBVP SCORESDE_PROCESS_SUBVP

typedef struct sgm_process {
    sgm_process_kind kind;
    double sigma_min;  /* VE; default 0.01 */
    double sigma_max;  /* VE; default 50 (official CIFAR-10 configs) */
    double beta_min;   /* VP, sub-VP; default 0.1 */
    double beta_max;   /* VP, sub-VP; default 20 */
    size_t N;          /* discretisation steps; default 1000 */
    double T;          /* end time; 1 */
} sgm_process;

/* Fills p with the defaults above for `kind`. */
void sgm_process_init(sgm_process *p, sgm_process_kind kind);
/* SLV_OK, or SLV_EINVAL naming the bad field (σ_min <= 0, σ_max <= σ_min, β_min < 0,
 * β_max <= β_min, N < 2, T <= 0, non-finite values). */
int sgm_process_validate(const sgm_process *p, slv_error *err);

/* Names: "ve", "vp", "subvp" (also accepted: "sub-vp", "sub_vp"). parse returns SLV_OK or
 * SLV_EINVAL. */
const char *sgm_process_kind_name(sgm_process_kind kind);
int sgm_process_kind_parse(const char *name, sgm_process_kind *kind);

/* ---- Continuous-time coefficients (t in [0, T]) ------------------------------------------- */

double sgm_process_drift_coef(const sgm_process *p, double t);     /* a(t): f(x, t) = a(t) x */
double sgm_process_diffusion(const sgm_process *p, double t);      /* g(t) */
double sgm_process_diffusion_sq(const sgm_process *p, double t);   /* g(t)², computed directly */
double sgm_process_mean_coef(const sgm_process *p, double t);      /* m(t) */
double sgm_process_std(const sgm_process *p, double t);            /* s(t) */
double sgm_process_sigma(const sgm_process *p, double t);          /* VE σ(t); else s(t) */
double sgm_process_beta(const sgm_process *p, double t);           /* VP/sub-VP β(t); VE 0 */

/* Default end time of sampling: 1e-3 for VP and sub-VP, 1e-5 for VE. Likelihood and training use
 * SGM_LIKELIHOOD_EPS. */
double sgm_process_default_eps(const sgm_process *p);
#define SGM_LIKELIHOOD_EPS 1e-5

/* ---- Prior ---------------------------------------------------------------------------------- */

double sgm_process_prior_std(const sgm_process *p);  /* σ_max (VE) or 1 */

/* Draws x[n*d] from the prior; sample i uses the counter stream (seed, first_sample + i,
 * SGM_STREAM_PRIOR) of slv_rng_counter, so a sample does not depend on the batch split. */
int sgm_process_prior_sample(const sgm_process *p, size_t n, size_t d, uint64_t seed,
                             size_t first_sample, double *x);
/* logp[i] = −d/2 ln(2π v) − ‖z_i‖²/(2v), v = prior_std², for z[n*d]. */
void sgm_process_prior_logp(const sgm_process *p, size_t n, size_t d, const double *z,
                            double *logp);

/* Counter-stream identifiers (the `b` of slv_rng_set_stream(r, seed, global sample index, b))
 * used by this layer. slv_rng uses the low 48 bits of b and reserves bit 47 for the Brownian
 * tree, so every id here stays below 2^47: PC step k (k < 2^26), stage j (j < 2^20) uses
 * SGM_STREAM_STEP(k, j). */
#define SGM_STREAM_PRIOR 0u       /* prior sample */
#define SGM_STREAM_PROBE 1u       /* Hutchinson probe of a point (likelihood) */
#define SGM_STREAM_INPAINT_ODE 2u /* fixed forward noise of the observed coordinates (ODE) */
#define SGM_STREAM_GMM 3u         /* exact samples of the mixture oracle */
#define SGM_STREAM_DEQUANTISE(pass) ((uint64_t)16u + (uint64_t)(pass)) /* pass < 2^20 − 16 */
#define SGM_STREAM_STEP(k, j) ((((uint64_t)(k) + 1u) << 20) + (uint64_t)(j))

/* ---- Discretisation ------------------------------------------------------------------------- */

/* Discrete index of time t: floor(t (N−1)/T), clamped to [0, N−1]. */
size_t sgm_process_discrete_index(const sgm_process *p, double t);
/* Step i in 0..N−1 at time t (t is used by sub-VP only; pass i·T/(N−1) for the grid): f_i =
 * f_coef · x, and G_i. Returns SLV_EINVAL if i >= N. */
int sgm_process_discretize(const sgm_process *p, size_t i, double t, double *f_coef, double *G);
/* SMLD σ_i (VE; i in 0..N−1) and DDPM β_i (VP and sub-VP). NaN for the other kinds. */
double sgm_process_discrete_sigma(const sgm_process *p, size_t i);
double sgm_process_discrete_beta(const sgm_process *p, size_t i);

#ifdef __cplusplus
}
#endif
#endif
