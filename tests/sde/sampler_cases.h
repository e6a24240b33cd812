/* sampler_cases.h — one sampler run on the 2-D three-mode mixture with the exact oracle score,
 * checked against p_eps (the process's marginal at the end time, which the samplers target): mode
 * weights, per-mode means and variances within 4 standard errors of n = 4000 samples, and the
 * energy-distance test against 1000 exact samples (statistics: sde_test_util.h). Prints one row
 * of the results table: sampler, process, NFE per sample, max |weight error| (in standard
 * errors), energy distance, p-value. */
#ifndef SAMPLER_CASES_H
#define SAMPLER_CASES_H

#include "sde_test_util.h"

#include "sgm_sampler.h"

typedef enum { PC, SDE_FIXED, SDE_ADAPTIVE, ODE } sampler_kind;

typedef struct sampler_case {
    const char *name;
    sampler_kind kind;
    sgm_process_kind process;
    sgm_predictor predictor;
    sgm_corrector corrector;
    const char *sde_method; /* slv_sde_step_type name */
    size_t sde_steps;
    int batch_norms; /* Langevin: the official batch-averaged norms. The per-sample rule is
                        biased in low dimension (its stationary law is ∝ p·‖s‖², docs/sde.md). */
} sampler_case;

static void run_sampler_case(const sampler_case *c)
{
    const size_t n = 4000, n2 = 1000, d = 2;
    sgm_gmm *g = test_mixture_2d();
    sgm_process p;
    sgm_process_init(&p, c->process);
    sgm_gmm_model model;
    sgm_gmm_model_init(&model, g, &p);
    double *x = malloc(n * d * sizeof *x), *exact = malloc(n2 * d * sizeof *exact);
    sgm_stats stats;
    slv_error err;
    int status = SLV_OK;
    double eps = sgm_process_default_eps(&p);
    switch (c->kind) {
    case PC: {
        sgm_pc_options o;
        sgm_pc_options_init(&o, &p);
        o.predictor = c->predictor;
        o.corrector = c->corrector;
        o.langevin_batch_norms = c->batch_norms;
        status = sgm_pc_sample(&p, &model.model, &o, n, 1234, 0, x, &stats, &err);
        break;
    }
    case SDE_FIXED:
    case SDE_ADAPTIVE: {
        sgm_sde_options o;
        sgm_sde_options_init(&o);
        o.method = slv_sde_step_type_by_name(c->sde_method);
        ck_assert_ptr_nonnull(o.method);
        o.n_steps = c->sde_steps;
        o.adaptive = c->kind == SDE_ADAPTIVE;
        status = sgm_sde_sample(&p, &model.model, &o, n, 1234, 0, x, &stats, &err);
        break;
    }
    case ODE: {
        sgm_ode_options o;
        sgm_ode_options_init(&o);
        status = sgm_ode_sample(&p, &model.model, &o, n, 1234, 0, x, &stats, &err);
        break;
    }
    }
    ck_assert_msg(status == SLV_OK, "%s %s: status %d: %s", c->name,
                  sgm_process_kind_name(p.kind), status, err.message);
    char label[96];
    snprintf(label, sizeof label, "%s, %s", c->name, sgm_process_kind_name(p.kind));
    ck_assert_int_eq(sgm_gmm_sample(g, &p, eps, n2, 99, 0, exact, NULL), SLV_OK);
    energy_result e = energy_test(g, &p, eps, x, exact, n2);
    mode_check mc = check_modes(g, &p, eps, x, n, label);
    printf("| %-32s | %-5s | %5zu | %.4f (%.1f SE) | %.4f | %.3f |\n", c->name,
           sgm_process_kind_name(p.kind), stats.nfe, mc.max_weight_error, mc.max_weight_z,
           e.distance, e.p_value);
    fflush(stdout);
    ck_assert_msg(e.p_value > 0.005, "%s: energy distance %.4g, p = %.4f", label,
                  e.distance, e.p_value);
    free(x);
    free(exact);
    sgm_gmm_free(g);
}

static void print_table_header(void)
{
    printf("| sampler                          | sde   |   NFE | max weight err  | energy | p     |\n");
}

#endif
