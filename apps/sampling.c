#include "sampling.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Appends name to buf (of size cap) after sep unless buf is empty. */
static void append_name(char *buf, size_t cap, const char *sep, const char *name)
{
    size_t used = strlen(buf);
    snprintf(buf + used, cap - used, "%s%s", used ? sep : "", name);
}

const char *method_names(method_list list, const char *sep)
{
    enum { N_LISTS = 4, CAP = 512 };
    static char lists[N_LISTS][2][CAP]; /* [list][sep is ", "] */
    int prose = strcmp(sep, ",") != 0;
    char *buf = lists[list][prose];
    if (buf[0])
        return buf;
    switch (list) {
    case METHODS_ODE:
        for (size_t i = 0; slv_ode_methods[i]; i++)
            append_name(buf, CAP, sep, slv_ode_methods[i]->name);
        break;
    case METHODS_FAST_ODE:
    case METHODS_FAST_SDE:
        for (size_t i = 0; sgm_fast_methods[i]; i++)
            if (sgm_fast_methods[i]->stochastic == (list == METHODS_FAST_SDE))
                append_name(buf, CAP, sep, sgm_fast_methods[i]->name);
        break;
    case METHODS_SDE:
        for (size_t i = 0; slv_sde_step_types[i]; i++)
            append_name(buf, CAP, sep, slv_sde_step_types[i]->name);
        append_name(buf, CAP, sep, "adaptive");
        break;
    }
    return buf;
}

/* The command line's sampler families (the families of sgm_sampler_families[] that have a form
 * below, in the table's order) as text: "pc,ode,sde,ald", "pc, ode, sde or ald", their summaries
 * ("predictor-corrector, ..., or annealed Langevin dynamics (...)"), and compare's syntax
 * ("pc:..., ode:... or sde:... (or ald[:T[:STEP_LR]][@L])"). Static strings, built on first use. */
typedef enum sampler_list {
    SAMPLERS_CHOICES, SAMPLERS_NAMES, SAMPLERS_SUMMARIES, SAMPLERS_SYNTAX, N_SAMPLER_LISTS
} sampler_list;
static const char *sampler_names(sampler_list list);

void common_options_init(common_options *c)
{
    memset(c, 0, sizeof *c);
    c->sampler = "pc";
    c->ode_solver = "rk45";
    c->sde_solver = "em";
    c->hutchinson = "rademacher";
    c->langevin_norm = "batch";
    c->snr = 0.16;
    c->rtol = 1e-5;
    c->atol = 1e-5;
    c->eps = SGM_EPS_DEFAULT;
    c->corrector_steps = 1;
    c->noise_levels = 0;
    c->steps_per_level = 100;
    c->step_lr = 2e-5;
    c->rho = 7.0;
    c->churn = 40.0;
    c->s_noise = 1.003;
    c->num = 64;
    c->batch = 256;
    c->seed = 0;
    c->process.sigma_min = 0.01;
    c->process.sigma_max = 50;
    c->process.beta_min = 0.1;
    c->process.beta_max = 20;
    c->process.N = 1000;
}

#define OPT(name, kind, dest, help, choices, min, max, open) \
    opts[(*count)++] = (cli_option){name, kind, dest, help, choices, min, max, open, NULL, 0}

void common_options_add(cli_option *opts, size_t *count, common_options *c, unsigned groups)
{
    if (groups & OPTS_MODEL) {
        OPT("model", CLI_STRING, &c->model,
            "gmm:FILE (Gaussian-mixture oracle) or FILE.sgm (trained network); default: the shipped "
            "Fashion-MNIST model", NULL, 0, 0, 0);
        OPT("sde", CLI_CHOICE, &c->process.sde, "diffusion process (gmm models; networks carry theirs)",
            scoresde_process_kind_list(","), 0, 0, 0);
        OPT("sigma-min", CLI_DOUBLE, &c->process.sigma_min, "VE smallest noise std", NULL, 0, 1e10, 1);
        OPT("sigma-max", CLI_DOUBLE, &c->process.sigma_max, "VE largest noise std", NULL, 0, 1e10, 1);
        OPT("beta-min", CLI_DOUBLE, &c->process.beta_min, "VP/sub-VP beta(0)", NULL, 0, 1e6, 0);
        OPT("beta-max", CLI_DOUBLE, &c->process.beta_max, "VP/sub-VP beta(1)", NULL, 0, 1e6, 1);
        OPT("N", CLI_SIZE, &c->process.N, "discretisation steps of the process (PC sampler)", NULL, 2,
            1e8, 0);
        OPT("eps", CLI_DOUBLE, &c->eps,
            "end time of sampling/start of likelihood (-1: 1e-3 VP/sub-VP, 1e-5 VE; likelihood 1e-5)",
            NULL, -1, 0.5, 0);
        OPT("threads", CLI_INT, &c->threads, "threads for OpenBLAS/OpenMP (0: default)", NULL, 0, 1024, 0);
        OPT("quiet", CLI_FLAG, &c->quiet, "no progress output", NULL, 0, 0, 0);
    }
    if (groups & OPTS_SAMPLER) {
        static char sampler_help[256];
        if (!sampler_help[0])
            snprintf(sampler_help, sizeof sampler_help, "sampler family: %s",
                     sampler_names(SAMPLERS_SUMMARIES));
        OPT("sampler", CLI_CHOICE, &c->sampler, sampler_help, sampler_names(SAMPLERS_CHOICES), 0, 0, 0);
        OPT("predictor", CLI_CHOICE, &c->predictor,
            "PC predictor (default: reverse_diffusion for VE, euler_maruyama otherwise)",
            "euler_maruyama,reverse_diffusion,ancestral,none", 0, 0, 0);
        OPT("corrector", CLI_CHOICE, &c->corrector,
            "PC corrector (default: langevin for VE, none otherwise)", "langevin,ald,none", 0, 0, 0);
        OPT("snr", CLI_DOUBLE, &c->snr, "signal-to-noise ratio of the Langevin corrector", NULL, 0, 10, 1);
        OPT("langevin-norm", CLI_CHOICE, &c->langevin_norm,
            "Langevin step from norms averaged over the batch (official; results depend on --batch) "
            "or each sample's own (independent of --batch, biased in low dimension)", "batch,sample", 0,
            0, 0);
        OPT("corrector-steps", CLI_SIZE, &c->corrector_steps, "corrector iterations per step", NULL, 0,
            1000, 0);
        /* A string, not a choice: the choices would not fit on a --help line; ode_spec names them. */
        static char ode_help[768], sde_help[256], sde_choices[256];
        if (!ode_help[0]) {
            snprintf(ode_help, sizeof ode_help,
                     "ODE back end (--sampler ode): %s; or a fast sampler of the probability-flow ODE: %s",
                     method_names(METHODS_ODE, ", "), method_names(METHODS_FAST_ODE, ", "));
            snprintf(sde_help, sizeof sde_help, "SDE stepper (--sampler sde), or a fast reverse-SDE sampler (%s)",
                     method_names(METHODS_FAST_SDE, ", "));
            snprintf(sde_choices, sizeof sde_choices, "%s,%s", method_names(METHODS_SDE, ","),
                     method_names(METHODS_FAST_SDE, ","));
        }
        OPT("ode-solver", CLI_STRING, &c->ode_solver, ode_help, NULL, 0, 0, 0);
        OPT("sde-solver", CLI_CHOICE, &c->sde_solver, sde_help, sde_choices, 0, 0, 0);
        OPT("steps", CLI_SIZE, &c->steps,
            "steps of fixed-step ODE/SDE solvers and of the fast samplers (0: ODE 100, SDE the process's "
            "N, fast samplers 20)", NULL, 0, 1e8, 0);
        OPT("noise-levels", CLI_SIZE, &c->noise_levels,
            "ALD: noise levels L, sigma_max down to sigma_min (0: the model's own discrete levels "
            "if it was trained on them, else 10)", NULL, 0, 67108863, 0);
        OPT("steps-per-level", CLI_SIZE, &c->steps_per_level, "ALD: Langevin steps T per noise level",
            NULL, 1, 1048575, 0);
        OPT("step-lr", CLI_DOUBLE, &c->step_lr,
            "ALD: step size eps at the smallest level; level i steps eps*sigma_i^2/sigma_min^2", NULL,
            0, 1e6, 1);
        OPT("no-denoise", CLI_FLAG, &c->no_denoise, "skip the final noise-free denoising step", NULL,
            0, 0, 0);
        OPT("churn", CLI_DOUBLE, &c->churn,
            "edm-churn: S_churn, the noise re-added before each step (gamma = min(churn/steps, sqrt 2 - 1) "
            "at levels 0.05 <= sigma/alpha <= 50; 0: EDM's deterministic Heun)", NULL, 0, 1e6, 0);
        OPT("s-noise", CLI_DOUBLE, &c->s_noise,
            "edm-churn, dpmpp-2m-sde, dpmpp-3m-sde: scale S_noise of the noise they add", NULL, 0, 10, 1);
        OPT("joint", CLI_FLAG, &c->joint,
            "ODE: one adaptive step sequence for the whole batch (results then depend on the batch; "
            "rk45 already batches per-sample steps, so this helps only the other adaptive solvers)",
            NULL, 0, 0, 0);
    }
    if (groups & (OPTS_SAMPLER | OPTS_FAST)) {
        OPT("schedule", CLI_CHOICE, &c->schedule,
            "noise levels of the fast samplers, from t = 1 to eps: uniform in t, uniform in log-SNR, or "
            "EDM's (sigma/alpha)^(1/rho) uniform" CLI_DEFAULT_IS("edm for edm-heun and edm-churn, logsnr "
                                                                 "for the others"),
            "uniform,logsnr,edm", 0, 0, 0);
        OPT("rho", CLI_DOUBLE, &c->rho, "exponent of --schedule edm", NULL, 0, 1000, 1);
    }
    if (groups & (OPTS_SAMPLER | OPTS_LIKELIHOOD)) {
        OPT("rtol", CLI_DOUBLE, &c->rtol, "relative tolerance of adaptive solvers", NULL, 0, 1, 1);
        OPT("atol", CLI_DOUBLE, &c->atol, "absolute tolerance of adaptive solvers", NULL, 0, 1e6, 1);
    }
    if (groups & OPTS_LIKELIHOOD) {
        if (!(groups & OPTS_SAMPLER))
            OPT("ode-solver", CLI_CHOICE, &c->ode_solver, "ODE back end", method_names(METHODS_ODE, ","),
                0, 0, 0);
        OPT("hutchinson", CLI_CHOICE, &c->hutchinson,
            "divergence: Skilling-Hutchinson probe, or the exact trace", "gaussian,rademacher,exact", 0,
            0, 0);
    }
    if (groups & OPTS_NUM) {
        OPT("num", CLI_SIZE, &c->num, "number of samples", NULL, 1, 1e9, 0);
        OPT("batch", CLI_SIZE, &c->batch, "samples per batch (memory does not grow with --num)", NULL,
            1, 1e6, 0);
        OPT("seed", CLI_U64, &c->seed, "seed; sample i depends only on (seed, i)", NULL, 0, 0, 0);
    }
    if (groups & OPTS_IO) {
        OPT("in", CLI_STRING, &c->in, "input points: CSV with columns x0..x{d-1}, or .npy", NULL, 0, 0, 0);
        OPT("out", CLI_STRING, &c->out, "output file: .csv, .npy (or .png where supported)", NULL, 0, 0, 0);
    }
}

void common_options_finish(common_options *c, const cli_option *opts)
{
    c->process.set_sigma_min = cli_was_set(opts, "sigma-min");
    c->process.set_sigma_max = cli_was_set(opts, "sigma-max");
    c->process.set_beta_min = cli_was_set(opts, "beta-min");
    c->process.set_beta_max = cli_was_set(opts, "beta-max");
    c->process.set_N = cli_was_set(opts, "N");
    if (c->threads > 0) {
        char value[24];
        snprintf(value, sizeof value, "%ld", c->threads);
        setenv("OMP_NUM_THREADS", value, 1);
        snet_set_num_threads((int)c->threads);
    }
}

static const slv_sde_step_type *sde_method(const char *name)
{
    return strcmp(name, "adaptive") == 0 ? slv_sde_step_sra1 : slv_sde_step_type_by_name(name);
}

/* Steps of the fast samplers when --steps is not given. */
#define FAST_DEFAULT_STEPS 20

/* The settings every fast sampler takes from the options: K (--steps or "@K", else 20), the
 * schedule and ρ. */
static int fast_spec(const sgm_fast_method *m, const char *at, const common_options *c, size_t *n_steps,
                     sgm_schedule *schedule, double *rho, scoresde_error *err)
{
    *n_steps = c->steps ? c->steps : FAST_DEFAULT_STEPS;
    *schedule = SGM_SCHEDULE_AUTO;
    *rho = c->rho;
    if (c->schedule && sgm_schedule_parse(c->schedule, schedule) != SLV_OK) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "unknown schedule '%s' (expected uniform, logsnr or edm)", c->schedule);
        return -1;
    }
    if (at) {
        char *end;
        unsigned long long v = strtoull(at, &end, 10);
        if (end == at || *end || *at == '-' || v < 1) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s': the fast sampler %s takes a whole number of steps >= 1", at,
                     m->name);
            return -1;
        }
        *n_steps = (size_t)v;
    }
    if (*n_steps < 2 && !c->no_denoise) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "%s with 1 step: its last step goes to sigma = 0 (the denoising step), so "
                                "it needs 2 or more steps (or --no-denoise)", m->name);
        return -1;
    }
    return 0;
}

/* Fills the ODE part of s from a method name and an optional "@steps" / "@tolerance". */
static int ode_spec(const char *method, const char *at, const common_options *c, sgm_ode_options *o,
                    scoresde_error *err)
{
    sgm_ode_options_init(o);
    const sgm_fast_method *fast = sgm_fast_method_by_name(method);
    if (fast && fast->stochastic) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' samples the reverse SDE: use --sampler sde --sde-solver %s (compare: "
                                "sde:%s)", method, method, method);
        return -1;
    }
    if (fast) { /* a fast sampler of the probability-flow ODE: sgm_decode hands it o->fast */
        o->fast = fast;
        /* never called (fast replaces it): a fixed-step back end, so that a summary reading
         * method->adaptive and n_steps describes the K fixed steps the fast sampler takes */
        o->method = slv_ode_euler;
        o->eps = c->eps;
        o->denoise = !c->no_denoise;
        return fast_spec(fast, at, c, &o->n_steps, &o->schedule, &o->rho, err);
    }
    o->method = slv_ode_method_by_name(method);
    if (!o->method) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "unknown ODE solver '%s' (expected %s, or a fast sampler: %s)", method,
                 method_names(METHODS_ODE, ", "), method_names(METHODS_FAST_ODE, ", "));
        return -1;
    }
    o->rtol = c->rtol;
    o->atol = c->atol;
    if (c->steps)
        o->n_steps = c->steps;
    o->eps = c->eps;
    o->denoise = !c->no_denoise;
    o->batch_mode = c->joint ? SLV_BATCH_JOINT : SLV_BATCH_INDEPENDENT;
    if (at) {
        char *end;
        double v = strtod(at, &end);
        if (end == at || *end || !(v > 0)) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s' is not a positive number", at);
            return -1;
        }
        if (o->method->adaptive) {
            if (v >= 1) {
                scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s': an adaptive solver takes a tolerance below 1", at);
                return -1;
            }
            o->rtol = o->atol = v;
        } else {
            if (v != floor(v)) {
                scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s': a fixed-step solver takes a whole number of steps", at);
                return -1;
            }
            o->n_steps = (size_t)v;
        }
    }
    return 0;
}

/* ---- Samplers: the library's families, and how the command line reads each ------------------ */

/* Makes `family` s's family with its defaults; returns its options (the family's own struct). */
static void *spec_begin(sampler_spec *s, const sgm_sampler_family *family, const sgm_process *p)
{
    s->family = family;
    family->options_init(&s->options, p);
    return &s->options;
}

/* s's options when its family is `family`, else NULL. */
static const void *spec_options(const sampler_spec *s, const sgm_sampler_family *family)
{
    return s->family == family ? &s->options : NULL;
}

const sgm_ode_options *sampler_ode_options(const sampler_spec *s)
{
    return spec_options(s, sgm_sampler_ode);
}

/* The fast sampler s runs (the ODE family's `fast`, or the fast family's method) with its steps
 * and schedule; NULL when it runs none. */
static const sgm_fast_method *spec_fast(const sampler_spec *s, size_t *n_steps, sgm_schedule *schedule)
{
    const sgm_ode_options *ode = spec_options(s, sgm_sampler_ode);
    const sgm_fast_options *fast = spec_options(s, sgm_sampler_fast);
    if (ode && ode->fast) {
        *n_steps = ode->n_steps;
        *schedule = ode->schedule;
        return ode->fast;
    }
    if (fast) {
        *n_steps = fast->n_steps;
        *schedule = fast->schedule;
        return fast->method;
    }
    return NULL;
}

/* s as the SDE family (or the fast family, for a fast reverse-SDE sampler) from a method name and
 * an optional "@steps" / "@tolerance". */
static int sde_spec(const char *method, const char *at, const common_options *c, const sgm_process *p,
                    sampler_spec *s, scoresde_error *err)
{
    const sgm_fast_method *fast = sgm_fast_method_by_name(method);
    if (fast && !fast->stochastic) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' solves the probability-flow ODE: use --sampler ode --ode-solver %s "
                                "(compare: ode:%s)", method, method, method);
        return -1;
    }
    if (fast) {
        sgm_fast_options *f = spec_begin(s, sgm_sampler_fast, p);
        f->method = fast;
        f->eps = c->eps;
        f->denoise = !c->no_denoise;
        f->churn = c->churn;
        f->s_noise = c->s_noise;
        return fast_spec(fast, at, c, &f->n_steps, &f->schedule, &f->rho, err);
    }
    sgm_sde_options *o = spec_begin(s, sgm_sampler_sde, p);
    o->method = sde_method(method);
    if (!o->method) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "unknown SDE stepper '%s' (expected %s, or a fast sampler: %s)", method,
                 method_names(METHODS_SDE, ", "), method_names(METHODS_FAST_SDE, ", "));
        return -1;
    }
    o->adaptive = strcmp(method, "adaptive") == 0;
    if (c->steps)
        o->n_steps = c->steps;
    o->eps = c->eps;
    o->denoise = !c->no_denoise;
    /* The SDE steppers' own threads pay off only for large batches: one unless asked. */
    o->threads = c->threads > 0 ? (int)c->threads : 1;
    if (o->adaptive) {
        o->rtol = c->rtol > 1e-4 ? c->rtol : 1e-2;
        o->atol = o->rtol;
    }
    if (at) {
        char *end;
        double v = strtod(at, &end);
        if (end == at || *end || !(v > 0)) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s' is not a positive number", at);
            return -1;
        }
        if (o->adaptive) {
            o->rtol = o->atol = v;
        } else if (v != floor(v)) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s': a fixed-step stepper takes a whole number of steps", at);
            return -1;
        } else {
            o->n_steps = (size_t)v;
        }
    }
    return 0;
}

static int pc_spec(const char *predictor, const char *corrector, const char *at, const common_options *c,
                   const sgm_process *p, sampler_spec *s, scoresde_error *err)
{
    sgm_pc_options *o = spec_begin(s, sgm_sampler_pc, p);
    if (predictor && sgm_predictor_parse(predictor, &o->predictor) != SLV_OK) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "unknown predictor '%s' (expected euler_maruyama, reverse_diffusion, "
                                "ancestral or none)", predictor);
        return -1;
    }
    if (corrector && sgm_corrector_parse(corrector, &o->corrector) != SLV_OK) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "unknown corrector '%s' (expected langevin, ald or none)", corrector);
        return -1;
    }
    if (o->predictor == SGM_PREDICTOR_NONE && o->corrector == SGM_CORRECTOR_NONE) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "a PC sampler needs a predictor or a corrector");
        return -1;
    }
    o->snr = c->snr;
    o->langevin_batch_norms = strcmp(c->langevin_norm, "batch") == 0;
    o->corrector_steps = c->corrector_steps;
    o->eps = c->eps;
    o->denoise = !c->no_denoise;
    if (at) {
        char *end;
        unsigned long long v = strtoull(at, &end, 10);
        if (end == at || *end || v < 2) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s': a PC sampler takes a number of steps >= 2", at);
            return -1;
        }
        s->process_N = (size_t)v;
    }
    return 0;
}

/* ALD from the shared options; T, step_lr and L (0: the model's) from the spec when given. */
static int ald_spec(const char *steps, const char *step_lr, const char *levels, const common_options *c,
                    const sgm_process *p, sgm_ald_options *o, scoresde_error *err)
{
    sgm_ald_options_init(o);
    o->n_levels = c->noise_levels;
    o->steps_per_level = c->steps_per_level;
    o->step_lr = c->step_lr;
    o->denoise = !c->no_denoise;
    if (p->kind != SGM_PROCESS_VE) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "annealed Langevin dynamics runs on the noise levels of a VE model; this "
                                "model's process is %s (use pc, ode or sde)", sgm_process_kind_name(p->kind));
        return -1;
    }
    char *end;
    if (steps && *steps) {
        unsigned long long v = strtoull(steps, &end, 10);
        if (end == steps || *end || *steps == '-' || v < 1 || v > 1048575) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s': steps per level must be a whole number 1 .. 1048575", steps);
            return -1;
        }
        o->steps_per_level = (size_t)v;
    }
    if (step_lr && *step_lr) {
        double v = strtod(step_lr, &end);
        if (end == step_lr || *end || !isfinite(v) || !(v > 0)) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s': the step size must be a positive number", step_lr);
            return -1;
        }
        o->step_lr = v;
    }
    if (levels) {
        unsigned long long v = strtoull(levels, &end, 10);
        if (end == levels || *end || *levels == '-' || v < 2 || v > 67108863) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'@%s': the number of noise levels must be a whole number 2 .. 67108863",
                     levels);
            return -1;
        }
        o->n_levels = (size_t)v;
    }
    return 0;
}

size_t ald_default_levels(const app_model *m)
{
    if (m->net && m->process.kind == SGM_PROCESS_VE && m->net->cfg.discrete_steps >= 2)
        return m->net->cfg.discrete_steps;
    return 10;
}

/* ---- Each family on the command line ------------------------------------------------------- */

static int pc_read(const common_options *c, const sgm_process *p, sampler_spec *s, scoresde_error *err)
{
    if (pc_spec(c->predictor, c->corrector, NULL, c, p, s, err))
        return -1;
    const sgm_pc_options *o = spec_options(s, sgm_sampler_pc);
    snprintf(s->label, sizeof s->label, "pc:%s+%s", sgm_predictor_name(o->predictor),
             sgm_corrector_name(o->corrector));
    return 0;
}

/* "pc:PREDICTOR[+CORRECTOR][@N]" */
static int pc_parse(char *args, const char *at, const common_options *c, const sgm_process *p,
                    sampler_spec *s, scoresde_error *err)
{
    char *plus = strchr(args, '+');
    if (plus)
        *plus++ = '\0';
    return pc_spec(*args ? args : NULL, plus ? plus : "none", at, c, p, s, err);
}

static void pc_describe(const sampler_spec *s, const app_model *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s, %zu steps", s->label, s->process_N ? s->process_N : m->process.N);
}

static int ode_read(const common_options *c, const sgm_process *p, sampler_spec *s, scoresde_error *err)
{
    snprintf(s->label, sizeof s->label, "ode:%s", c->ode_solver);
    return ode_spec(c->ode_solver, NULL, c, spec_begin(s, sgm_sampler_ode, p), err);
}

/* "ode:METHOD[@STEPS|@TOL]" */
static int ode_parse(char *args, const char *at, const common_options *c, const sgm_process *p,
                     sampler_spec *s, scoresde_error *err)
{
    return ode_spec(args, at, c, spec_begin(s, sgm_sampler_ode, p), err);
}

static void ode_describe(const sampler_spec *s, const app_model *m, char *buf, size_t size)
{
    (void)m;
    const sgm_ode_options *o = spec_options(s, sgm_sampler_ode);
    if (o->method->adaptive)
        snprintf(buf, size, "%s, adaptive steps: rtol %g, atol %g", s->label, o->rtol, o->atol);
    else
        snprintf(buf, size, "%s, %zu fixed steps", s->label, o->n_steps);
}

static int sde_read(const common_options *c, const sgm_process *p, sampler_spec *s, scoresde_error *err)
{
    snprintf(s->label, sizeof s->label, "sde:%s", c->sde_solver);
    return sde_spec(c->sde_solver, NULL, c, p, s, err);
}

/* "sde:METHOD[@STEPS|@TOL]" */
static int sde_parse(char *args, const char *at, const common_options *c, const sgm_process *p,
                     sampler_spec *s, scoresde_error *err)
{
    return sde_spec(args, at, c, p, s, err);
}

static void sde_describe(const sampler_spec *s, const app_model *m, char *buf, size_t size)
{
    const sgm_sde_options *o = spec_options(s, sgm_sampler_sde);
    if (o->adaptive)
        snprintf(buf, size, "%s, adaptive steps: rtol %g, atol %g", s->label, o->rtol, o->atol);
    else
        snprintf(buf, size, "%s, %zu fixed steps", s->label, o->n_steps ? o->n_steps : m->process.N);
}

static int ald_read(const common_options *c, const sgm_process *p, sampler_spec *s, scoresde_error *err)
{
    if (c->noise_levels == 1) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "--noise-levels 1: annealed Langevin dynamics needs at least 2 levels (0: "
                                "the model's own)");
        return -1;
    }
    sgm_ald_options *o = spec_begin(s, sgm_sampler_ald, p);
    scoresde_error inner;
    if (ald_spec(NULL, NULL, NULL, c, p, o, &inner)) {
        scoresde_error_fail(err, inner.status, "--sampler ald: %s", inner.message);
        return -1;
    }
    if (o->n_levels)
        snprintf(s->label, sizeof s->label, "ald:%zu:%g@%zu", o->steps_per_level, o->step_lr, o->n_levels);
    else
        snprintf(s->label, sizeof s->label, "ald:%zu:%g", o->steps_per_level, o->step_lr);
    return 0;
}

/* "ald", "ald@L", "ald:T", "ald:T:STEP_LR@L", "ald::STEP_LR": args is what follows "ald:" (NULL
 * when nothing does). */
static int ald_parse(char *args, const char *at, const common_options *c, const sgm_process *p,
                     sampler_spec *s, scoresde_error *err)
{
    char *step_lr = args ? strchr(args, ':') : NULL;
    if (step_lr)
        *step_lr++ = '\0';
    return ald_spec(args, step_lr, at, c, p, spec_begin(s, sgm_sampler_ald, p), err);
}

/* The levels the options leave to the model (n_levels 0). */
static void ald_resolve(void *options, const app_model *m)
{
    sgm_ald_options *o = options;
    if (!o->n_levels)
        o->n_levels = ald_default_levels(m);
}

static void ald_describe(const sampler_spec *s, const app_model *m, char *buf, size_t size)
{
    sgm_ald_options o = *(const sgm_ald_options *)spec_options(s, sgm_sampler_ald);
    ald_resolve(&o, m);
    snprintf(buf, size, "%s, %zu noise levels × %zu steps", s->label, o.n_levels, o.steps_per_level);
}

/* What the command line adds to a family of sgm_sampler_families[]: how its options are read from
 * the shared options (--sampler NAME, `read`, which also writes the label) and from a compare
 * entry (NAME:ARGS[@AT], `parse`; the grammar is at the top of sampling.h), how a summary line
 * describes it, and what its options leave to the model (`resolve`, may be NULL). The fast family
 * has no form: its samplers are named by --ode-solver and --sde-solver (ode:NAME, sde:NAME) and
 * described by describe_fast_sampler. */
typedef struct sampler_form {
    const sgm_sampler_family *const *family;
    const char *syntax; /* of a compare entry, for messages */
    int bare;           /* 1: the name alone is an entry ("ald", "ald@10"); args may be NULL */
    int (*read)(const common_options *c, const sgm_process *p, sampler_spec *s, scoresde_error *err);
    int (*parse)(char *args, const char *at, const common_options *c, const sgm_process *p, sampler_spec *s,
                 scoresde_error *err);
    void (*describe)(const sampler_spec *s, const app_model *m, char *buf, size_t size);
    void (*resolve)(void *options, const app_model *m);
} sampler_form;

static const sampler_form sampler_forms[] = {
    {&sgm_sampler_pc, "pc:...", 0, pc_read, pc_parse, pc_describe, NULL},
    {&sgm_sampler_ode, "ode:...", 0, ode_read, ode_parse, ode_describe, NULL},
    {&sgm_sampler_sde, "sde:...", 0, sde_read, sde_parse, sde_describe, NULL},
    {&sgm_sampler_ald, "ald[:T[:STEP_LR]][@L]", 1, ald_read, ald_parse, ald_describe, ald_resolve},
};
enum { N_SAMPLER_FORMS = sizeof sampler_forms / sizeof sampler_forms[0] };

static const sampler_form *form_of(const sgm_sampler_family *family)
{
    for (size_t i = 0; i < N_SAMPLER_FORMS; i++)
        if (*sampler_forms[i].family == family)
            return &sampler_forms[i];
    return NULL;
}

/* The form whose family is named by the first len characters of name, or NULL. */
static const sampler_form *form_named(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SAMPLER_FORMS; i++) {
        const char *family = (*sampler_forms[i].family)->name;
        if (strlen(family) == len && strncmp(family, name, len) == 0)
            return &sampler_forms[i];
    }
    return NULL;
}

static const char *sampler_names(sampler_list list)
{
    enum { CAP = 256 };
    static char lists[N_SAMPLER_LISTS][CAP];
    static const struct {
        const char *sep, *last;
        int summary;
    } style[N_SAMPLER_LISTS] = {[SAMPLERS_CHOICES] = {",", ",", 0},
                                [SAMPLERS_NAMES] = {", ", " or ", 0},
                                [SAMPLERS_SUMMARIES] = {", ", ", or ", 1},
                                [SAMPLERS_SYNTAX] = {", ", " or ", 0}};
    char *buf = lists[list];
    if (buf[0])
        return buf;
    const sampler_form *items[N_SAMPLER_FORMS];
    size_t count = 0;
    for (size_t i = 0; sgm_sampler_families[i]; i++) {
        const sampler_form *form = form_of(sgm_sampler_families[i]);
        if (form && !(list == SAMPLERS_SYNTAX && form->bare)) /* those go in brackets, after */
            items[count++] = form;
    }
    for (size_t k = 0; k < count; k++) {
        const sgm_sampler_family *family = *items[k]->family;
        append_name(buf, CAP, k + 1 == count ? style[list].last : style[list].sep,
                    list == SAMPLERS_SYNTAX ? items[k]->syntax
                    : style[list].summary   ? family->summary
                                            : family->name);
    }
    for (size_t i = 0; list == SAMPLERS_SYNTAX && i < N_SAMPLER_FORMS; i++)
        if (sampler_forms[i].bare) {
            size_t used = strlen(buf);
            snprintf(buf + used, CAP - used, " (or %s)", sampler_forms[i].syntax);
        }
    return buf;
}

/* ---- Samplers from the command line, described and run --------------------------------------- */

int sampler_parse(const char *text, const sgm_process *p, const common_options *c, sampler_spec *s,
                  scoresde_error *err)
{
    char buf[96];
    memset(s, 0, sizeof *s);
    if (strlen(text) >= sizeof buf) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "sampler '%s' is too long", text);
        return -1;
    }
    snprintf(s->label, sizeof s->label, "%s", text);
    snprintf(buf, sizeof buf, "%s", text);
    /* NAME, then ':' and the family's arguments, then '@' and its steps, tolerance or levels */
    size_t len = strcspn(buf, ":@");
    const sampler_form *form = form_named(buf, len);
    char *colon = strchr(buf, ':');
    if (!colon && !(form && form->bare)) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "sampler '%s' is not of the form %s", text, sampler_names(SAMPLERS_SYNTAX));
        return -1;
    }
    int rc;
    if (!form || (!form->bare && buf[len] != ':')) {
        *colon = '\0';
        scoresde_error_fail(err, SCORESDE_EINVAL, "sampler family '%s' unknown (expected %s)", buf,
                 sampler_names(SAMPLERS_NAMES));
        rc = -1;
    } else {
        char *at = strchr(buf + len, '@'), *args = buf[len] == ':' ? buf + len + 1 : NULL;
        if (at)
            *at++ = '\0';
        rc = form->parse(args, at, c, p, s, err);
    }
    return rc;
}

int sampler_from_options(const cli_command *cmd, const common_options *c, const cli_option *opts,
                         const sgm_process *p, sampler_spec *s)
{
    scoresde_error error;
    memset(s, 0, sizeof *s);
    const sampler_form *form = form_named(c->sampler, strlen(c->sampler));
    if (!form)
        return cli_usage_error(cmd, "--sampler: unknown '%s' (expected %s)", c->sampler,
                               sampler_names(SAMPLERS_NAMES));
    if (form->read(c, p, s, &error))
        return cli_usage_error(cmd, "%s", error.message);
    if (s->family != sgm_sampler_pc && (cli_was_set(opts, "predictor") || cli_was_set(opts, "corrector")))
        return cli_usage_error(cmd, "--predictor/--corrector apply to --sampler pc only");
    if (s->family != sgm_sampler_ald && (cli_was_set(opts, "noise-levels") ||
                                         cli_was_set(opts, "steps-per-level") || cli_was_set(opts, "step-lr")))
        return cli_usage_error(cmd, "--noise-levels/--steps-per-level/--step-lr apply to --sampler ald "
                                    "only");
    /* The fast samplers' options, where they apply. */
    size_t n_steps;
    sgm_schedule schedule;
    const sgm_fast_method *fast = spec_fast(s, &n_steps, &schedule);
    if (!fast && (cli_was_set(opts, "schedule") || cli_was_set(opts, "rho")))
        return cli_usage_error(cmd, "--schedule/--rho apply to the fast samplers (--sampler ode --ode-solver "
                                    "%s; --sampler sde --sde-solver %s)", method_names(METHODS_FAST_ODE, ", "),
                               method_names(METHODS_FAST_SDE, ", "));
    if (fast && cli_was_set(opts, "rho")) {
        if (schedule == SGM_SCHEDULE_AUTO)
            schedule = fast->schedule;
        if (schedule != SGM_SCHEDULE_EDM)
            return cli_usage_error(cmd, "--rho applies to the edm schedule; %s runs on %s (give --schedule edm)",
                                   fast->name, sgm_schedule_name(schedule));
    }
    if (fast != sgm_fast_edm_churn && cli_was_set(opts, "churn"))
        return cli_usage_error(cmd, "--churn applies to --sampler sde --sde-solver edm-churn only");
    if (!(fast && fast->stochastic) && cli_was_set(opts, "s-noise"))
        return cli_usage_error(cmd, "--s-noise applies to --sampler sde --sde-solver edm-churn, dpmpp-2m-sde "
                                    "or dpmpp-3m-sde only");
    return 0;
}

int describe_fast_sampler(const sampler_spec *s, char *buf, size_t size)
{
    size_t n_steps;
    sgm_schedule schedule;
    const sgm_fast_method *fast = spec_fast(s, &n_steps, &schedule);
    if (!fast)
        return 0;
    snprintf(buf, size, "%s, %zu steps (%s schedule)", s->label, n_steps,
             sgm_schedule_name(schedule == SGM_SCHEDULE_AUTO ? fast->schedule : schedule));
    return 1;
}

void describe_sampler(const sampler_spec *s, const app_model *m, char *buf, size_t size)
{
    if (!describe_fast_sampler(s, buf, size)) /* the fast family has no form of its own */
        form_of(s->family)->describe(s, m, buf, size);
}

int sampler_run(const sampler_spec *s, app_model *m, size_t n, uint64_t seed, size_t first,
                double *x, sgm_stats *stats, slv_error *err)
{
    const sgm_sampler_family *family = s->family;
    const sampler_form *form = form_of(family);
    sgm_sampler_options options = s->options;
    sgm_process process = m->process;
    if (s->process_N)
        process.N = s->process_N;
    if (form && form->resolve)
        form->resolve(&options, m);
    family->set_interrupt(&options, &cli_interrupted);
    return family->sample(&process, &m->score, &options, n, seed, first, x, stats, err);
}

int ode_from_options(const cli_command *cmd, const common_options *c, sgm_ode_options *o)
{
    scoresde_error error;
    if (ode_spec(c->ode_solver, NULL, c, o, &error))
        return cli_usage_error(cmd, "--ode-solver: %s", error.message);
    o->interrupt = &cli_interrupted;
    return 0;
}

int likelihood_from_options(const cli_command *cmd, const common_options *c, const app_model *m,
                            sgm_likelihood_options *o)
{
    sgm_likelihood_options_init(o);
    o->method = slv_ode_method_by_name(c->ode_solver);
    if (!o->method)
        return cli_usage_error(cmd, "--ode-solver: unknown '%s'", c->ode_solver);
    o->rtol = c->rtol;
    o->atol = c->atol;
    if (c->steps)
        o->n_steps = c->steps;
    if (c->eps > 0)
        o->eps = c->eps;
    if (sgm_divergence_method_parse(c->hutchinson, &o->divergence) != SLV_OK)
        return cli_usage_error(cmd, "--hutchinson: unknown '%s'", c->hutchinson);
    o->batch_mode = c->joint ? SLV_BATCH_JOINT : SLV_BATCH_INDEPENDENT;
    if (m->quantized) {
        o->bpd_levels = 256;
        o->bpd_data_width = m->data_width;
    }
    o->interrupt = &cli_interrupted;
    return 0;
}

/* The directory of the running executable. /proc/self/exe names it with every symbolic link
 * resolved, so ".." can be applied to it as text. Returns 0 or −1 with errno set. */
static int executable_dir(char *dir, size_t size)
{
    ssize_t len = readlink("/proc/self/exe", dir, size);
    if (len < 0)
        return -1;
    if ((size_t)len >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    dir[len] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) {
        errno = ENOENT;
        return -1;
    }
    slash[slash == dir] = '\0'; /* the root keeps its "/" */
    return 0;
}

/* out = dir/rel with each "." and ".." of rel applied to dir (which has no symbolic links);
 * rel absolute: out = rel. Returns 0 or −1 when out is too small. */
static int path_resolve(char *out, size_t size, const char *dir, const char *rel)
{
    size_t len = 0;
    if (rel[0] != '/') {
        len = strlen(dir);
        if (len >= size)
            return -1;
        memcpy(out, dir, len + 1);
    }
    while (*rel) {
        size_t n = strcspn(rel, "/");
        if (n == 2 && rel[0] == '.' && rel[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 1)
                len--; /* drop the slash too, unless it is the root */
            out[len] = '\0';
        } else if (n > 0 && !(n == 1 && rel[0] == '.')) {
            int sep = len == 0 || out[len - 1] != '/';
            if (len + sep + n >= size)
                return -1;
            if (sep)
                out[len++] = '/';
            memcpy(out + len, rel, n);
            len += n;
            out[len] = '\0';
        }
        rel += n + (rel[n] == '/');
    }
    if (len == 0 && size > 1) {
        out[len++] = '/';
        out[len] = '\0';
    }
    return 0;
}

/* Appends "dir/file (reason)" to the comma-separated list of places looked. */
static void note_place(char *looked, size_t looked_size, const char *dir, const char *file, int err)
{
    size_t used = strlen(looked);
    if (used < looked_size)
        snprintf(looked + used, looked_size - used, "%s%s/%s (%s)", used ? ", " : "", dir, file, strerror(err));
}

/* Tries dir/file: 0 and path filled when readable; otherwise −1 and the place noted in looked. */
static int try_model_dir(const char *dir, const char *file, char *path, size_t path_size, char *looked,
                         size_t looked_size)
{
    int n = snprintf(path, path_size, "%s/%s", dir, file);
    int err = n < 0 || (size_t)n >= path_size ? ENAMETOOLONG : access(path, R_OK) == 0 ? 0 : errno;
    if (!err)
        return 0;
    note_place(looked, looked_size, dir, file, err);
    return -1;
}

/* Whether the running executable is the build tree's: its directory is the one it was built in. */
static int running_from_build_tree(const char *exe_dir)
{
    char build_dir[PATH_MAX];
    return realpath(SCORESDE_BUILD_BINDIR, build_dir) && strcmp(build_dir, exe_dir) == 0;
}

int shipped_model_path(const char *file, char *path, size_t path_size, scoresde_error *err)
{
    char looked[2048] = "", dir[PATH_MAX], exe_dir[PATH_MAX];
    const char *env = getenv("SCORESDE_DATA_DIR");
    if (env && *env) {
        if (try_model_dir(env, file, path, path_size, looked, sizeof looked) == 0)
            return 0;
        scoresde_error_fail(err, SCORESDE_EIO, "the shipped %s is not in $SCORESDE_DATA_DIR: looked at %s", file, looked);
        return -1;
    }
    if (executable_dir(exe_dir, sizeof exe_dir)) {
        scoresde_error_fail(err, SCORESDE_EIO, "the shipped %s: cannot locate the scoresde executable (/proc/self/exe: %s); "
                 "set SCORESDE_DATA_DIR to the directory holding it", file, strerror(errno));
        return -1;
    }
    /* The installed layout first; the build tree's binary has no ../share/scoresde beside it and
     * is the only one allowed the source tree (sampling.h). */
    if (path_resolve(dir, sizeof dir, exe_dir, SCORESDE_BIN_TO_DATADIR))
        note_place(looked, sizeof looked, exe_dir, SCORESDE_BIN_TO_DATADIR, ENAMETOOLONG);
    else if (try_model_dir(dir, file, path, path_size, looked, sizeof looked) == 0)
        return 0;
    if (running_from_build_tree(exe_dir) &&
        try_model_dir(SCORESDE_SOURCE_MODELS, file, path, path_size, looked, sizeof looked) == 0)
        return 0;
    scoresde_error_fail(err, SCORESDE_EIO, "the shipped %s is in none of the places looked: %s; set SCORESDE_DATA_DIR to "
             "the directory holding it", file, looked);
    return -1;
}

int load_model_or_fail(const char *cmd, common_options *c, app_model *m)
{
    scoresde_error error;
    if (!c->model) {
        if (shipped_model_path("fashion_mnist.sgm", c->shipped_model, sizeof c->shipped_model, &error))
            return cli_fail(cmd, "no --model given, and %s", error.message);
        c->model = c->shipped_model;
    }
    if (app_model_load(c->model, &c->process, c->batch, m, &error))
        return cli_fail(cmd, "--model %s", error.message);
    return 0;
}

int report_solver_failure(const char *cmd, int status, const slv_error *err)
{
    if (status == SLV_EINTERRUPTED) {
        cli_fail(cmd, "interrupted");
        return EXIT_INTERRUPTED;
    }
    if (err->path >= 0)
        return cli_fail(cmd, "%s at t = %g, sample %ld: %s", sgm_strerror(status), err->t, err->path,
                        err->message);
    return cli_fail(cmd, "%s: %s", sgm_strerror(status), err->message);
}

int load_points(const char *spec, const app_model *m, size_t num, uint64_t seed, matrix *out,
                scoresde_error *err)
{
    memset(out, 0, sizeof *out);
    snet_dataset *ds = NULL;
    int rc;
    if (strncmp(spec, "fashion-mnist:", 14) == 0) {
        const char *split = spec + 14;
        if (strcmp(split, "test") && strcmp(split, "train")) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s': expected fashion-mnist:test or fashion-mnist:train", spec);
            return -1;
        }
        snet_data_range range = m->data_lo < -0.5 ? SNET_RANGE_MINUS1_1 : SNET_RANGE_0_1;
        const char *dir = getenv("SCORESDE_FASHION_MNIST_DIR");
        rc = snet_dataset_fashion_mnist(&ds, dir, strcmp(split, "train") == 0, range, err);
    } else if (strncmp(spec, "toy:", 4) == 0) {
        snet_data_kind kind = SNET_DATA_GMM;
        if (snet_data_kind_parse(spec + 4, &kind) != SNET_OK || kind == SNET_DATA_GMM ||
            kind == SNET_DATA_FASHION_MNIST) {
            scoresde_error_fail(err, SCORESDE_EINVAL, "'%s': expected toy:swissroll, moons, checkerboard, 8gaussians or "
                                    "pinwheel", spec);
            return -1;
        }
        rc = snet_dataset_toy(&ds, kind, NULL, err);
    } else {
        if (matrix_read(spec, m->dim, out, err))
            return -1;
        if (out->n > num)
            out->n = num; /* the first `num` rows */
        return 0;
    }
    if (rc != SNET_OK)
        return -1;
    size_t d = snet_dataset_dim(ds), size = snet_dataset_size(ds);
    size_t n = size && size < num ? size : num;
    /* a generator has no "all rows": likelihood/encode default to --num 10^9, 24 GB of points */
    enum { GENERATED_MAX = 10000000 };
    if (!size && n > GENERATED_MAX) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' draws fresh points: %zu are too many (at most %d; give --num)",
                 spec, n, GENERATED_MAX);
        snet_dataset_free(ds);
        return -1;
    }
    if (d != m->dim) {
        scoresde_error_fail(err, SCORESDE_EINVAL, "'%s' has dimension %zu, the model expects %zu", spec, d, m->dim);
        snet_dataset_free(ds);
        return -1;
    }
    float *buf = malloc(n * d * sizeof *buf);
    out->x = malloc(n * d * sizeof *out->x);
    if (!buf || !out->x) {
        free(buf);
        matrix_free(out);
        snet_dataset_free(ds);
        scoresde_error_fail(err, SCORESDE_ENOMEM, "'%s': out of memory for %zu points", spec, n);
        return -1;
    }
    snet_dataset_items(ds, 0, n, seed, buf);
    for (size_t i = 0; i < n * d; i++)
        out->x[i] = buf[i];
    out->n = n;
    out->d = d;
    free(buf);
    snet_dataset_free(ds);
    return 0;
}
