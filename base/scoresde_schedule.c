/* scoresde_schedule.c — VE, VP and sub-VP coefficients (formulas in scoresde_schedule.h). */
#include "scoresde_schedule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    scoresde_process_kind kind;
} kind_names[] = {
    {"ve", SCORESDE_PROCESS_VE},        {"vp", SCORESDE_PROCESS_VP},
    {"subvp", SCORESDE_PROCESS_SUBVP},  {"sub-vp", SCORESDE_PROCESS_SUBVP},
    {"sub_vp", SCORESDE_PROCESS_SUBVP},
};

const char *scoresde_process_kind_name(scoresde_process_kind kind)
{
    switch (kind) {
    case SCORESDE_PROCESS_VE: return "ve";
    case SCORESDE_PROCESS_VP: return "vp";
    case SCORESDE_PROCESS_SUBVP: return "subvp";
    }
    return "unknown";
}

int scoresde_process_kind_parse(const char *name, scoresde_process_kind *kind)
{
    for (size_t i = 0; name && i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(name, kind_names[i].name) == 0) {
            *kind = kind_names[i].kind;
            return SCORESDE_OK;
        }
    return SCORESDE_EINVAL;
}

int scoresde_schedule_validate(const scoresde_schedule *s, scoresde_error *err)
{
    switch (s->kind) {
    case SCORESDE_PROCESS_VE:
        if (!(s->sigma_min > 0.0) || !isfinite(s->sigma_min))
            return scoresde_error_fail(err, SCORESDE_EINVAL, "VE process: sigma_min = %g, expected > 0",
                                       s->sigma_min);
        if (!(s->sigma_max > s->sigma_min) || !isfinite(s->sigma_max))
            return scoresde_error_fail(err, SCORESDE_EINVAL,
                                       "VE process: sigma_max = %g, expected finite and > sigma_min = %g",
                                       s->sigma_max, s->sigma_min);
        return SCORESDE_OK;
    case SCORESDE_PROCESS_VP:
    case SCORESDE_PROCESS_SUBVP:
        if (!(s->beta_min >= 0.0) || !isfinite(s->beta_min))
            return scoresde_error_fail(err, SCORESDE_EINVAL, "%s process: beta_min = %g, expected >= 0",
                                       scoresde_process_kind_name(s->kind), s->beta_min);
        if (!(s->beta_max > s->beta_min) || !isfinite(s->beta_max))
            return scoresde_error_fail(err, SCORESDE_EINVAL,
                                       "%s process: beta_max = %g, expected finite and > beta_min = %g",
                                       scoresde_process_kind_name(s->kind), s->beta_max, s->beta_min);
        return SCORESDE_OK;
    }
    return scoresde_error_fail(err, SCORESDE_EINVAL,
                               "process: kind %d, expected VE (%d), VP (%d) or sub-VP (%d)", (int)s->kind,
                               SCORESDE_PROCESS_VE, SCORESDE_PROCESS_VP, SCORESDE_PROCESS_SUBVP);
}

double scoresde_schedule_beta(const scoresde_schedule *s, double t)
{
    return s->kind == SCORESDE_PROCESS_VE ? 0.0 : s->beta_min + t * (s->beta_max - s->beta_min);
}

double scoresde_schedule_log_mean_coef(const scoresde_schedule *s, double t)
{
    if (s->kind == SCORESDE_PROCESS_VE)
        return 0.0;
    return -0.25 * t * t * (s->beta_max - s->beta_min) - 0.5 * t * s->beta_min;
}

double scoresde_schedule_drift_coef(const scoresde_schedule *s, double t)
{
    return s->kind == SCORESDE_PROCESS_VE ? 0.0 : -0.5 * scoresde_schedule_beta(s, t);
}

double scoresde_schedule_diffusion_sq(const scoresde_schedule *s, double t)
{
    switch (s->kind) {
    case SCORESDE_PROCESS_VE: {
        double sigma = scoresde_schedule_std(s, t);
        return sigma * sigma * 2.0 * log(s->sigma_max / s->sigma_min);
    }
    case SCORESDE_PROCESS_VP:
        return scoresde_schedule_beta(s, t);
    case SCORESDE_PROCESS_SUBVP:
        /* 1 − e^{−2β_min t − (β_max−β_min) t²} = −expm1(4 L(t)) */
        return scoresde_schedule_beta(s, t) * -expm1(4.0 * scoresde_schedule_log_mean_coef(s, t));
    }
    return NAN;
}

double scoresde_schedule_mean_coef(const scoresde_schedule *s, double t)
{
    return exp(scoresde_schedule_log_mean_coef(s, t));
}

double scoresde_schedule_std(const scoresde_schedule *s, double t)
{
    switch (s->kind) {
    case SCORESDE_PROCESS_VE: return s->sigma_min * pow(s->sigma_max / s->sigma_min, t);
    case SCORESDE_PROCESS_VP: return sqrt(-expm1(2.0 * scoresde_schedule_log_mean_coef(s, t)));
    case SCORESDE_PROCESS_SUBVP: return -expm1(2.0 * scoresde_schedule_log_mean_coef(s, t));
    }
    return NAN;
}

double scoresde_schedule_network_time(const scoresde_schedule *s, double t)
{
    if (s->kind != SCORESDE_PROCESS_VE)
        return t;
    return log(s->sigma_min) + t * log(s->sigma_max / s->sigma_min);
}

double scoresde_schedule_output_sign(const scoresde_schedule *s)
{
    return s->kind == SCORESDE_PROCESS_VE ? 1.0 : -1.0;
}

const char *scoresde_process_kind_list(const char *sep)
{
    static const scoresde_process_kind kinds[] = {SCORESDE_PROCESS_VE, SCORESDE_PROCESS_VP, SCORESDE_PROCESS_SUBVP};
    static char lists[2][64]; /* [sep is not ","] */
    char *buf = lists[strcmp(sep, ",") != 0];
    if (buf[0])
        return buf;
    size_t used = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        used += (size_t)snprintf(buf + used, sizeof lists[0] - used, "%s%s", i ? sep : "",
                                 scoresde_process_kind_name(kinds[i]));
    return buf;
}
