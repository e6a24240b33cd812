/* sgm_likelihood.h — exact log-likelihood through the probability-flow ODE, bits per dimension,
 * and uniform dequantisation of quantised data.
 *
 * For each point x, integrate the augmented state [x, Δ] (dimension d + 1) from eps to T:
 *   dx/dt = f̃(x, t) = a(t) x − ½ g(t)² s(x, t),
 *   dΔ/dt = ∇·f̃ = a(t) d − ½ g(t)² ∇·s(x, t),
 * then log p_eps(x) = log p_T(x(T)) + Δ(T), with log p_T the prior's log-density (or a caller's
 * terminal log-density, e.g. the exact p_T of an oracle). The divergence ∇·s is
 *   - SGM_DIVERGENCE_EXACT: model->divergence if present; else the trace of the Jacobian from d
 *     products with the basis vectors (score_jvp, else score_vjp); else d central finite
 *     differences of the score (2d score calls; stats->fd_divergence = 1);
 *   - SGM_DIVERGENCE_GAUSSIAN / _RADEMACHER: Skilling–Hutchinson vᵀ(∂s/∂x)v with one probe v per
 *     point, drawn once from stream (seed, first_sample + i, SGM_STREAM_PROBE) and fixed for the
 *     whole solve (a VJP, else a JVP, else one central finite difference along v). Unbiased.
 *
 * NFE is the number of evaluations of the augmented vector field per point (each costs one score
 * evaluation plus the divergence: 1 product for Hutchinson, d for the exact trace).
 *
 * Bits per dimension: bpd = −log p/(d ln 2) + offset, offset = log2(levels / width) for quantised
 * data with `levels` values spread over a data range of the given width (8-bit images scaled to
 * [0, 1]: log2(256/1) = 8; to [−1, 1]: log2(256/2) = 7), 0 for continuous data. This is the
 * change of variables from the density of the continuous data x (which the ODE computes) to the
 * density on the integer scale 0..levels of the uniformly dequantised pixels, y = (x − lo)·
 * levels/width, p_y = p_x · (width/levels)^d, so −log2 p_y/d = −log2 p_x/d + log2(levels/width).
 */
#ifndef SGM_LIKELIHOOD_H
#define SGM_LIKELIHOOD_H

#include <stddef.h>
#include <stdint.h>

#include "sgm_process.h"
#include "sgm_score.h"
#include "slv_ode.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sgm_divergence_method {
    SGM_DIVERGENCE_EXACT = 0,
    SGM_DIVERGENCE_GAUSSIAN = 1,
    SGM_DIVERGENCE_RADEMACHER = 2
} sgm_divergence_method;

/* Names: "exact", "gaussian", "rademacher". parse returns SLV_OK or SLV_EINVAL. */
const char *sgm_divergence_method_name(sgm_divergence_method m);
int sgm_divergence_method_parse(const char *name, sgm_divergence_method *m);

/* Optional terminal log-density replacing the prior: logp[n] of z[n*d] at time T. */
typedef int (*sgm_log_density_fn)(size_t n, size_t d, const double *z, double *logp,
                                  void *params);

typedef struct sgm_likelihood_options {
    const slv_ode_method *method;       /* default slv_ode_rk45 */
    double rtol, atol;                  /* default 1e-5, 1e-5 (official) */
    size_t n_steps;                     /* fixed-step methods; default 100 */
    size_t max_steps;                   /* default 100000 */
    double eps;                         /* default SGM_LIKELIHOOD_EPS = 1e-5 */
    sgm_divergence_method divergence;   /* default SGM_DIVERGENCE_RADEMACHER (official) */
    slv_batch_mode batch_mode;          /* default SLV_BATCH_INDEPENDENT */
    double fd_step;                     /* relative FD step for score-only models; default 1e-4 */
    double bpd_levels;                  /* 0 (default): continuous data, no offset; 256: 8-bit */
    double bpd_data_width;              /* width of the data range (1 for [0,1], 2 for [−1,1]) */
    sgm_log_density_fn terminal_log_density; /* default NULL: the prior */
    void *terminal_params;
    volatile int *interrupt;            /* default NULL */
} sgm_likelihood_options;

void sgm_likelihood_options_init(sgm_likelihood_options *o);

/* bpd offset log2(levels / width) of the options (0 when bpd_levels is 0). */
double sgm_bpd_offset(const sgm_likelihood_options *o);

/* For each point i of x[n*d]: logp[i] (nats, log p_eps), bpd[i], nfe[i], latent[i*d..] = x(T).
 * Every output but logp may be NULL. seed/first_sample select the Hutchinson probes. Status as
 * the samplers (sgm_sampler.h); on SLV_ENONFINITE err->path is the global index of the point. */
int sgm_likelihood(const sgm_process *process, const sgm_score_model *model,
                   const sgm_likelihood_options *options, size_t n, const double *x,
                   uint64_t seed, size_t first_sample, double *logp, double *bpd, size_t *nfe,
                   double *latent, sgm_stats *stats, slv_error *err);

/* Uniform dequantisation of quantised data in place: x[n*d] holds values lo + k·width/(levels−1),
 * k in 0..levels−1 (e.g. pixels/255); each becomes lo + (k + u)·width/levels, u ~ U[0, 1) from
 * stream (seed, first_sample + i, SGM_STREAM_DEQUANTISE(pass)) — pass numbers the test-set passes
 * with fresh noise. Values are rounded to the nearest k first (and clamped to 0..levels−1).
 * Returns SLV_OK, SLV_EINVAL (x NULL, width <= 0, levels <= 1, non-finite) or SLV_ENOMEM. */
int sgm_dequantise(size_t n, size_t d, double *x, double lo, double width, double levels,
                   uint64_t seed, size_t first_sample, uint64_t pass);

#ifdef __cplusplus
}
#endif
#endif
