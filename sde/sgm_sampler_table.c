/* sgm_sampler_table.c — the sampler families as a table (sgm_sampler.h): each family's typed
 * options and sample call behind one set of operations on `void *options`. */
#include <string.h>

#include "sgm_sampler.h"

/* The operations every family has: its interrupt flag and its sample call on the typed options. */
#define FAMILY_OPERATIONS(family)                                                                  \
    static void family##_set_interrupt(void *options, volatile int *flag)                          \
    {                                                                                              \
        ((sgm_##family##_options *)options)->interrupt = flag;                                     \
    }                                                                                              \
    static int family##_sample(const sgm_process *process, const sgm_score_model *model,           \
                               const void *options, size_t n, uint64_t seed, size_t first_sample,  \
                               double *x, sgm_stats *stats, slv_error *err)                        \
    {                                                                                              \
        return sgm_##family##_sample(process, model, options, n, seed, first_sample, x, stats,     \
                                     err);                                                         \
    }

/* Inpainting, for the families whose options carry it. */
#define FAMILY_INPAINT(family)                                                                     \
    static void family##_set_inpaint(void *options, const sgm_inpaint *inpaint)                    \
    {                                                                                              \
        ((sgm_##family##_options *)options)->inpaint = inpaint;                                    \
    }

/* The defaults of the families whose options do not depend on the process. */
#define FAMILY_INIT(family)                                                                        \
    static void family##_init(void *options, const sgm_process *process)                           \
    {                                                                                              \
        (void)process;                                                                             \
        sgm_##family##_options_init(options);                                                      \
    }

FAMILY_OPERATIONS(pc)
FAMILY_OPERATIONS(ode)
FAMILY_OPERATIONS(sde)
FAMILY_OPERATIONS(fast)
FAMILY_OPERATIONS(ald)
FAMILY_INPAINT(pc)
FAMILY_INPAINT(ode)
FAMILY_INPAINT(fast)
FAMILY_INIT(ode)
FAMILY_INIT(sde)
FAMILY_INIT(fast)
FAMILY_INIT(ald)

static void pc_init(void *options, const sgm_process *process)
{
    sgm_pc_options_init(options, process);
}

static const sgm_sampler_family pc_family = {
    .name = "pc",
    .summary = "predictor-corrector",
    .options_size = sizeof(sgm_pc_options),
    .options_init = pc_init,
    .set_interrupt = pc_set_interrupt,
    .set_inpaint = pc_set_inpaint,
    .sample = pc_sample,
};
static const sgm_sampler_family ode_family = {
    .name = "ode",
    .summary = "probability-flow ODE",
    .options_size = sizeof(sgm_ode_options),
    .options_init = ode_init,
    .set_interrupt = ode_set_interrupt,
    .set_inpaint = ode_set_inpaint,
    .sample = ode_sample,
};
static const sgm_sampler_family sde_family = {
    .name = "sde",
    .summary = "reverse SDE",
    .options_size = sizeof(sgm_sde_options),
    .options_init = sde_init,
    .set_interrupt = sde_set_interrupt,
    .set_inpaint = NULL,
    .sample = sde_sample,
};
static const sgm_sampler_family fast_family = {
    .name = "fast",
    .summary = "fast samplers of the probability-flow ODE and the reverse SDE (DDIM, EDM, "
               "DPM-Solver, DPM-Solver++, UniPC, DEIS)",
    .options_size = sizeof(sgm_fast_options),
    .options_init = fast_init,
    .set_interrupt = fast_set_interrupt,
    .set_inpaint = fast_set_inpaint,
    .sample = fast_sample,
};
static const sgm_sampler_family ald_family = {
    .name = "ald",
    .summary = "annealed Langevin dynamics (NCSN; VE models)",
    .options_size = sizeof(sgm_ald_options),
    .options_init = ald_init,
    .set_interrupt = ald_set_interrupt,
    .set_inpaint = NULL,
    .sample = ald_sample,
};

const sgm_sampler_family *const sgm_sampler_pc = &pc_family;
const sgm_sampler_family *const sgm_sampler_ode = &ode_family;
const sgm_sampler_family *const sgm_sampler_sde = &sde_family;
const sgm_sampler_family *const sgm_sampler_fast = &fast_family;
const sgm_sampler_family *const sgm_sampler_ald = &ald_family;

/* New families go at the end: the command line lists them in this order. */
const sgm_sampler_family *const sgm_sampler_families[] = {&pc_family, &ode_family, &sde_family,
                                                          &fast_family, &ald_family, NULL};

const sgm_sampler_family *sgm_sampler_family_by_name(const char *name)
{
    for (size_t i = 0; name && sgm_sampler_families[i]; i++)
        if (strcmp(name, sgm_sampler_families[i]->name) == 0)
            return sgm_sampler_families[i];
    return NULL;
}
