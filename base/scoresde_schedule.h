/* scoresde_schedule.h — the noise schedules of the three forward processes of Song et al.
 * (ICLR 2021), written once for every layer: the diffusion layer's processes (sgm_process.h) and
 * the network library's training and time embedding (snet.h) both evaluate these.
 *
 *   dx = a(t) x dt + g(t) dw,  x(t) | x(0) ~ N(m(t) x(0), s(t)² I),  t in [0, 1]:
 *
 *            a(t)          g(t)²                                    m(t)     s(t)
 *   VE       0             σ(t)² 2 ln(σ_max/σ_min)                  1        σ(t)
 *   VP       −β(t)/2       β(t)                                     e^{L}    √(1 − e^{2L})
 *   sub-VP   −β(t)/2       β(t) (1 − e^{−2β_min t − (β_max−β_min)t²})  e^{L}  1 − e^{2L}
 *
 * with σ(t) = σ_min (σ_max/σ_min)^t, β(t) = β_min + t (β_max − β_min),
 * L(t) = −t² (β_max − β_min)/4 − t β_min/2 = ln m(t). For VE, s(0) = σ_min: the smallest noise
 * level is part of the process, as in the official code.
 */
#ifndef SCORESDE_SCHEDULE_H
#define SCORESDE_SCHEDULE_H

#include "scoresde_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The process kinds. The values are stored in weights files (snet_config.sde): never renumber. */
typedef enum scoresde_process_kind {
    SCORESDE_PROCESS_VE = 1,
    SCORESDE_PROCESS_VP = 2,
    SCORESDE_PROCESS_SUBVP = 3
} scoresde_process_kind;

/* Names: "ve", "vp", "subvp" ("unknown" for another value). */
const char *scoresde_process_kind_name(scoresde_process_kind kind);
/* Parses "ve", "vp", "subvp" (also "sub-vp", "sub_vp"): SCORESDE_OK, or SCORESDE_EINVAL and
 * *kind untouched. */
int scoresde_process_kind_parse(const char *name, scoresde_process_kind *kind);

typedef struct scoresde_schedule {
    scoresde_process_kind kind;
    double sigma_min, sigma_max; /* VE */
    double beta_min, beta_max;   /* VP, sub-VP */
} scoresde_schedule;

/* SCORESDE_OK, or SCORESDE_EINVAL naming the bad field: an unknown kind; for VE σ_min <= 0 or
 * σ_max <= σ_min; for VP and sub-VP β_min < 0 or β_max <= β_min; a non-finite value. The
 * parameters of the other kinds are not read. */
int scoresde_schedule_validate(const scoresde_schedule *s, scoresde_error *err);

double scoresde_schedule_beta(const scoresde_schedule *s, double t);          /* β(t); VE 0 */
double scoresde_schedule_log_mean_coef(const scoresde_schedule *s, double t); /* L(t); VE 0 */
double scoresde_schedule_drift_coef(const scoresde_schedule *s, double t);    /* a(t) */
double scoresde_schedule_diffusion_sq(const scoresde_schedule *s, double t);  /* g(t)², directly */
double scoresde_schedule_mean_coef(const scoresde_schedule *s, double t);     /* m(t) */
double scoresde_schedule_std(const scoresde_schedule *s, double t);           /* s(t) */

/* How a network is conditioned on t and what it predicts, by process (the official NCSN++ and
 * DDPM++ conventions), so that the network library has no branch of its own on the kind:
 *   VE:          τ = ln σ(t) = ln σ_min + t ln(σ_max/σ_min),  score = +r / σ(t)  (r ≈ σ·score)
 *   VP, sub-VP:  τ = t,                                    score = −r / s(t)  (r ≈ the noise)
 * network_time is τ; output_sign the sign in score = sign · r / s(t). */
double scoresde_schedule_network_time(const scoresde_schedule *s, double t);
double scoresde_schedule_output_sign(const scoresde_schedule *s);

/* The kinds' names joined by sep ("ve,vp,subvp" with ","), for choice lists and messages. */
const char *scoresde_process_kind_list(const char *sep);

#ifdef __cplusplus
}
#endif
#endif
