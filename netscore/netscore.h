/* netscore.h — a trained network (scorenet) as a score model of the diffusion layer (sde): the one
 * bridge between the two libraries, used by the command line and the benchmarks alike.
 *
 * The samplers call sgm_score_model callbacks on double batches of any size; the network runs on
 * float batches of at most max_batch rows. The bridge converts (in one place), runs larger calls
 * in chunks of max_batch, and passes non-finite scores on (the samplers detect them and report
 * the time and the sample). A network failure of another kind makes the callback return −1 and is
 * kept with its reason: read it with netscore_get_error.
 *
 *   netscore *ns;
 *   netscore_alloc(&ns, net, 256, &err);          // net: a loaded snet_model, borrowed
 *   sgm_process process;
 *   netscore_process(&net->cfg, &process);         // the process the network was trained for
 *   sgm_score_model model = netscore_model(ns);    // hand to any sampler, likelihood, encoder
 *   ...
 *   netscore_free(ns);
 *
 * One netscore serves one thread at a time (its buffers are shared by the callbacks).
 */
#ifndef NETSCORE_H
#define NETSCORE_H

#include <stddef.h>

#include "scoresde_status.h"
#include "sgm_process.h"
#include "sgm_score.h"
#include "snet_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct netscore netscore;

/* Wraps net (borrowed: it must outlive the netscore) for calls of up to max_batch rows at once
 * (0: 256). SCORESDE_OK, or SCORESDE_ENOMEM / SCORESDE_EINVAL with the reason in err. */
int netscore_alloc(netscore **out, const snet_model *net, size_t max_batch, scoresde_error *err);
void netscore_free(netscore *ns); /* NULL is fine */

/* The score model whose callbacks run the network: score and score_rows (a time per row), the
 * vector–Jacobian product in one forward and one backward pass (score_vjp, score_vjp_rows), and,
 * for dimensions up to NETSCORE_EXACT_DIVERGENCE_MAX_DIM, the exact divergence (D backward passes). */
#define NETSCORE_EXACT_DIVERGENCE_MAX_DIM 16
sgm_score_model netscore_model(netscore *ns);

/* The process a network configuration was trained for: its kind and schedule, the diffusion
 * layer's defaults otherwise; a DDPM-trained network (VP, discrete_steps = K) sets N = K so that
 * the ancestral predictor walks its own β_i. */
void netscore_process(const snet_config *cfg, sgm_process *process);

/* Progress inside a call, for long single batches: while fn is set, every callback calls
 * fn(fraction, ctx) with the share of the way from t_from to t_to that the least advanced row of
 * the call has come (each row's own time in the per-sample solvers). fn NULL turns it off. */
typedef void (*netscore_progress_fn)(double fraction, void *ctx);
void netscore_set_progress(netscore *ns, netscore_progress_fn fn, void *ctx, double t_from, double t_to);

/* Why the last callback that returned −1 failed (status SCORESDE_OK if none did). */
const scoresde_error *netscore_get_error(const netscore *ns);

#ifdef __cplusplus
}
#endif
#endif
