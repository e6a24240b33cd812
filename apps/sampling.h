/* sampling.h — the option groups shared by the model-using subcommands, and samplers named by
 * one string, as `compare` lists them:
 *
 *   pc:PREDICTOR[+CORRECTOR][@N]   e.g. pc:reverse_diffusion+langevin, pc:euler_maruyama@500
 *   ode:METHOD[@STEPS|@TOL]        e.g. ode:dopri5, ode:dopri5@1e-3, ode:heun@50; the fast
 *                                  samplers of the probability-flow ODE take steps: ode:dpmpp-2m@20,
 *                                  ode:edm-heun@10 (ddim, edm-heun, dpm-solver-2, dpm-solver-3,
 *                                  dpmpp-2m, dpmpp-3m, unipc, deis; sgm_sampler.h)
 *   sde:METHOD[@STEPS|@TOL]        e.g. sde:sra1@200, sde:adaptive@1e-2; the fast reverse-SDE
 *                                  samplers take steps: sde:edm-churn@20, sde:dpmpp-2m-sde@30
 *   ald[:T[:STEP_LR]][@L]          annealed Langevin dynamics (VE models): T steps per level,
 *                                  step size STEP_LR at the smallest level, L noise levels
 *                                  (default: the model's discrete levels, else 10); e.g. ald,
 *                                  ald@10, ald:100:2e-5@10, ald::1e-4 (empty T: the default).
 *                                  ':' separates the arguments, as compare's list is
 *                                  comma-separated.
 */
#ifndef SCORESDE_SAMPLING_H
#define SCORESDE_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "model.h"
#include "sgm_likelihood.h"
#include "sgm_sampler.h"
#include "io.h"
#include "snet_data.h"

/* A sampler as the command line names it. --sampler pc, ode, sde and ald are the families of
 * sgm_sampler_families[] (the choice list and help line come from it); the fast samplers are
 * named by --ode-solver (the ODE family runs them through sgm_ode_options.fast) and by
 * --sde-solver (then the family is sgm_sampler_fast). ALD's n_levels 0 means the model's levels
 * (ald_default_levels). */
typedef struct sampler_spec {
    const sgm_sampler_family *family;
    sgm_sampler_options options; /* family's, read and written through family (sampling.c) */
    size_t process_N;            /* N of the process for this run (0: the process's N; pc:...@N) */
    char label[96];
} sampler_spec;

/* s's options when its family is the ODE sampler's, else NULL. */
const sgm_ode_options *sampler_ode_options(const sampler_spec *s);

/* The command-line values every model-using subcommand shares. */
typedef struct common_options {
    const char *model;
    process_options process;
    const char *sampler, *predictor, *corrector, *ode_solver, *sde_solver, *hutchinson, *langevin_norm;
    double snr, rtol, atol, eps, step_lr;
    const char *schedule;         /* fast samplers: NULL = the sampler's own (sgm_schedule) */
    double rho, churn, s_noise;   /* fast samplers: EDM's ρ, S_churn, S_noise */
    size_t corrector_steps, steps, num, batch, noise_levels, steps_per_level;
    uint64_t seed;
    long threads;
    int no_denoise, quiet, joint;
    const char *in, *out;
    char shipped_model[4096]; /* --model when not given: the shipped model's path */
} common_options;

void common_options_init(common_options *c);

/* Appends the shared options to opts (at *count; the table must have room) for the groups asked.
 * OPTS_FAST: --schedule and --rho of the fast ODE samplers, for commands that take an --ode-solver
 * of their own (decode, interpolate); OPTS_SAMPLER includes them, with --churn and --s-noise. */
enum { OPTS_MODEL = 1, OPTS_SAMPLER = 2, OPTS_LIKELIHOOD = 4, OPTS_IO = 8, OPTS_NUM = 16, OPTS_FAST = 32 };

/* Names from the libraries' method tables, for choice lists (sep ",") and help texts (sep ", "):
 * a method added to slv_ode_methods, slv_sde_step_types or sgm_fast_methods appears on the
 * command line without touching apps/. Static strings, built on first use. */
typedef enum method_list {
    METHODS_ODE,       /* the ODE back ends (slv_ode_methods) */
    METHODS_FAST_ODE,  /* the fast probability-flow samplers (sgm_fast_methods, deterministic) */
    METHODS_SDE,       /* the SDE steppers (slv_sde_step_types), then "adaptive" */
    METHODS_FAST_SDE   /* the fast reverse-SDE samplers (sgm_fast_methods, stochastic) */
} method_list;
const char *method_names(method_list list, const char *sep);

/* For a summary: "ode:dpmpp-2m, 20 steps (logsnr schedule)" when s runs a fast sampler (returns
 * 1), else leaves buf alone and returns 0. */
int describe_fast_sampler(const sampler_spec *s, char *buf, size_t size);

/* The sampler with its steps or tolerances for a summary line ("ode:euler, 100 fixed steps",
 * "ode:dpmpp-2m, 20 steps"). */
void describe_sampler(const sampler_spec *s, const app_model *m, char *buf, size_t size);

/* Help texts of the shared options whose default is derived after parsing (cmd_sample.c); call
 * after common_options_add, before cli_parse. */
void common_options_describe(cli_option *opts);
void common_options_add(cli_option *opts, size_t *count, common_options *c, unsigned groups);
/* After parsing: copies was_set flags into c->process. */
void common_options_finish(common_options *c, const cli_option *opts);

/* Builds the sampler of --sampler/--predictor/... for a process. Returns 0 or EXIT_USAGE after
 * printing a message for `cmd`. */
int sampler_from_options(const cli_command *cmd, const common_options *c, const cli_option *opts,
                         const sgm_process *p, sampler_spec *s);
/* Parses one compare entry (see above). Returns 0 or −1 with err filled; the caller prefixes
 * "sampler 'TEXT': " (kept out of err, whose message holds 256 bytes). */
int sampler_parse(const char *text, const sgm_process *p, const common_options *c, sampler_spec *s,
                  scoresde_error *err);

/* Runs a sampler on n samples (global indices first..first+n) through its family's sample, with
 * cli_interrupted as the interrupt flag. ALD with n_levels 0 takes L from the model
 * (ald_default_levels). */
int sampler_run(const sampler_spec *s, app_model *m, size_t n, uint64_t seed, size_t first,
                double *x, sgm_stats *stats, slv_error *err);

/* The ALD noise levels of a model when none are asked for: a VE network trained on NCSN's discrete
 * levels (scorenet discrete_steps = L) gives its L, anything else 10. */
size_t ald_default_levels(const app_model *m);

/* ODE options for encode/decode/interpolate/inpaint from the shared options. A fast sampler's
 * name in --ode-solver sets o->fast (with --steps, 20 when not given, --schedule and --rho); the
 * caller's summary then describes o->fast rather than o->method. */
int ode_from_options(const cli_command *cmd, const common_options *c, sgm_ode_options *o);
/* Likelihood options from the shared options. */
int likelihood_from_options(const cli_command *cmd, const common_options *c, const app_model *m,
                            sgm_likelihood_options *o);

/* Loads --model (the shipped default when not given) with the shared process options;
 * returns 0 or 1 after printing the message. */
int load_model_or_fail(const char *cmd, common_options *c, app_model *m);

/* Finds a shipped model file (fashion_mnist.sgm, fmnist_classifier.sgc, ...) and writes its path.
 * The places looked, in this order, the first readable one winning:
 *   1. $SCORESDE_DATA_DIR/FILE when the variable is set and not empty — then the only place;
 *   2. the installed data directory relative to the running executable (/proc/self/exe, then
 *      ../share/scoresde/FILE for the default layout), so an installed tree works wherever it was
 *      installed or moved to, and never reads the build or source tree;
 *   3. only when the executable is the one in the build tree (its directory is the directory it
 *      was built in, compiled in as SCORESDE_BUILD_BINDIR), the source tree's models/FILE.
 * Returns 0, or −1 with err naming every place looked and why each failed. */
int shipped_model_path(const char *file, char *path, size_t path_size, scoresde_error *err);

/* Prints "scoresde CMD: <status text> at t = ..., sample ...: message" and returns 1, or 130 when
 * the run was interrupted. */
int report_solver_failure(const char *cmd, int status, const slv_error *err);

#endif

/* Reads the points a subcommand works on, in model space:
 *   FILE.csv / FILE.npy         (see io.h)
 *   fashion-mnist:test|train    the IDX files of Debian's dataset-fashion-mnist, uniformly
 *                               dequantised with seed, scaled to the model's range (first `num`)
 *   toy:NAME                    `num` fresh points of a 2-D toy set (checkerboard, moons, ...)
 * Returns 0 or −1 with err filled. */
int load_points(const char *spec, const app_model *m, size_t num, uint64_t seed, matrix *out,
                scoresde_error *err);
