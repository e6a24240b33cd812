/* sgm_internal.h — private helpers shared by the samplers and the likelihood (not installed as
 * API: the names may change). */
#ifndef SGM_INTERNAL_H
#define SGM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "slv_ode.h"

#include "sgm_process.h"
#include "sgm_sampler.h"
#include "sgm_score.h"

/* One sampler/likelihood call: the problem, the global index of row 0 of its batch, counters and
 * the first error. */
typedef struct sgm_call {
    const sgm_process *process;
    const sgm_score_model *model;
    size_t d;
    size_t first_sample;
    sgm_stats stats;
    slv_error err;
} sgm_call;

/* Checks process and model and fills c (err cleared). Returns the first problem's status. */
int sgm_call_init(sgm_call *c, const sgm_process *process, const sgm_score_model *model,
                  size_t n, size_t first_sample);

/* out = score(t, x) for n points that are rows row0 .. row0+n−1 of the call's batch. On a
 * callback failure (SLV_ECALLBACK) or a non-finite output (SLV_ENONFINITE) c->err names the time
 * and the global sample index and the status is returned. */
int sgm_call_score(sgm_call *c, double t, size_t n, size_t row0, const double *x, double *out);

/* The same with a time per point: out[i] = score(t[i], x_i) for n points that are rows rows[i] of
 * the call's batch, through model->score_rows, or model->score once per run of consecutive points
 * sharing a time. Failures as sgm_call_score, naming the point's row. */
int sgm_call_score_rows(sgm_call *c, const double *t, size_t n, const size_t *rows, const double *x,
                        double *out);

/* Score (may be NULL) and vjp = v_iᵀ ∂s/∂x for n points with their own times, through
 * model->score_vjp_rows (one forward pass), or per run of a shared time through score_vjp (and
 * score when wanted). SLV_EUNSUPPORTED when the model has neither product. */
int sgm_call_score_vjp_rows(sgm_call *c, const double *t, size_t n, const size_t *rows,
                            const double *x, const double *v, double *score, double *vjp);

/* Resolves an eps option: SGM_EPS_DEFAULT → dflt; else it must lie in [0, T). */
int sgm_resolve_eps(sgm_call *c, double eps_option, double dflt, double *eps);

/* Inpainting replacement of the known coordinates of rows row0 .. row0+n−1 of the call's batch
 * (x points at row row0): x_j = m(t) y_j + s(t) z_j. z comes from `noise` (the call's (N, d)
 * array, indexed by row) when it is not NULL, else from the stream (seed, first_sample + row,
 * stream) of r (drawn for the known coordinates only, in order). */
void sgm_inpaint_replace(const sgm_call *c, const sgm_inpaint *inpaint, double t, size_t n,
                         size_t row0, double *x, const double *noise, gsl_rng *r, uint64_t seed,
                         uint64_t stream);
/* Sets the known coordinates of rows row0.. to the observed values. */
void sgm_inpaint_finish(const sgm_call *c, const sgm_inpaint *inpaint, size_t n, size_t row0,
                        double *x);
int sgm_inpaint_validate(sgm_call *c, const sgm_inpaint *inpaint);

/* The denoising step at time t on the whole batch x[n*d] (score: n*d doubles of workspace):
 * x ← (1 − f_i) x + G_i² s(x, t), i = discrete index of t. */
int sgm_call_denoise(sgm_call *c, double t, size_t n, double *x, double *score);

/* Copies the call's counters and error out (either pointer may be NULL); returns status. */
int sgm_call_finish(const sgm_call *c, int status, sgm_stats *stats, slv_error *err);

/* Adopts a solver's error report, shifting its path by `offset` when it is >= 0 (unless the call
 * already holds a more precise report of its own). */
int sgm_call_adopt(sgm_call *c, int status, const slv_error *solver_err, long offset);

/* ---- The probability-flow ODE solve that the ODE sampler and the likelihood share ---- */

/* Sets `solver` up for sgm_call_solve_ode: with rows (not NULL) SLV_BATCH_INDEPENDENT on that
 * per-row vector field; tolerances and step budget for an adaptive method, the step count for a
 * fixed-step one; the interrupt flag. A refusal is adopted into c. */
int sgm_call_setup_ode(sgm_call *c, slv_ode_solver *solver, const slv_ode_method *method,
                       slv_ode_rhs_rows_fn rows, double rtol, double atol, size_t max_steps,
                       size_t n_steps, volatile int *interrupt);

/* Integrates the n rows of y (`width` doubles each) from t0 to t1, n_solver rows per solve (n, or
 * 1 for a method without per-row steps), storing each solve's first row in *row0 before it runs
 * (the vector field reads it). per_row: the solver ran rows INDEPENDENT and counts each row's
 * evaluations. Adds the steps and rejections to c->stats and the mean NFE per row to
 * c->stats.nfe; nfe[n] (may be NULL) receives each row's. A failure names its global row. */
int sgm_call_solve_ode(sgm_call *c, slv_ode_solver *solver, int per_row, size_t n,
                       size_t n_solver, size_t width, double t0, double t1, double *y,
                       size_t *row0, size_t *nfe);

#endif
