/* arkode_control — where the NFE gap between ARKODE's Dormand–Prince and scipy's RK45 comes from.
 *
 * Solves the probability-flow ODE of a VP .sgm model, dx/dt = −½β(t)(x + s(x, t)), from T = 1 to
 * eps = 1e-3 for a batch of latents jointly (as the official code and `--joint` do), with ARKODE
 * ERKStep and the ARKODE_DORMAND_PRINCE_7_4_5 table, under three step-size controls:
 *   default    ARKODE 6.4's defaults (PID controller, error bias 1.5, safety 0.96, growth ≤ 20,
 *              fixed-step bounds [1, 1.5]: a proposed growth below 1.5× keeps h unchanged)
 *   bounds     the defaults with ERKStepSetFixedStepBounds(1, 1): the controller is always followed
 *   scipy      the controller of scipy's RK45: I-controller on the method order (exponent −1/5),
 *              bias 1, safety 0.9, growth ≤ 10, bounds [1, 1]
 * and prints one CSV row per (control, tolerance): steps, attempts, error-test failures, NFE.
 * This calls SUNDIALS directly (the library's dopri5 back end is solvers/slv_ode_arkode.c); it
 * exists to measure a step-control question, not to solve anything for users.
 *
 *   arkode_control MODEL.sgm LATENTS.f64 TOL [TOL ...]   (LATENTS: peer_cbench's .f64 format)
 */
#include <arkode/arkode_erkstep.h>
#include <nvector/nvector_serial.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet_io.h"

typedef struct ctx {
    snet_model *m;
    snet_workspace *ws;
    size_t n, d;
    float *x, *t, *s; // (n, d), (n), (n, d)
} ctx;

static int rhs(sunrealtype t, N_Vector y, N_Vector ydot, void *user_data)
{
    ctx *c = user_data;
    const double *Y = N_VGetArrayPointer(y);
    double *F = N_VGetArrayPointer(ydot);
    size_t nd = c->n * c->d;
    for (size_t i = 0; i < c->n; i++)
        c->t[i] = (float)t;
    for (size_t i = 0; i < nd; i++)
        c->x[i] = (float)Y[i];
    if (snet_model_score(c->m, c->ws, c->n, c->t, c->x, c->s) != SNET_OK)
        return -1;
    const snet_config *cfg = &c->m->cfg;
    double beta = cfg->beta_min + t * ((double)cfg->beta_max - cfg->beta_min);
    for (size_t i = 0; i < nd; i++)
        F[i] = -0.5 * beta * (Y[i] + c->s[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: arkode_control MODEL.sgm LATENTS.f64 TOL [TOL ...]\n");
        return 2;
    }
    scoresde_error err;
    ctx c = {0};
    if (snet_model_load(argv[1], SNET_LOAD_EMA, &c.m, NULL, &err)) {
        fprintf(stderr, "arkode_control: %s\n", err.message);
        return 1;
    }
    if (c.m->cfg.sde != SNET_SDE_VP) {
        fprintf(stderr, "arkode_control: %s is not a VP model\n", argv[1]);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    uint64_t head[2];
    if (!f || fread(head, 8, 2, f) != 2 || head[1] != snet_config_dim(&c.m->cfg)) {
        fprintf(stderr, "arkode_control: %s: cannot read latents of the model's dimension\n", argv[2]);
        return 1;
    }
    c.n = (size_t)head[0];
    c.d = (size_t)head[1];
    double *z = malloc(c.n * c.d * sizeof *z);
    if (!z || fread(z, 8, c.n * c.d, f) != c.n * c.d) {
        fprintf(stderr, "arkode_control: %s: short file\n", argv[2]);
        return 1;
    }
    fclose(f);
    snet_set_num_threads(1); /* counts only: the thread count does not change the bits */
    c.ws = snet_workspace_alloc(c.m, c.n);
    c.x = malloc(c.n * c.d * sizeof *c.x);
    c.t = malloc(c.n * sizeof *c.t);
    c.s = malloc(c.n * c.d * sizeof *c.s);
    SUNContext sctx;
    if (!c.ws || !c.x || !c.t || !c.s || SUNContext_Create(NULL, &sctx)) {
        fprintf(stderr, "arkode_control: out of memory\n");
        return 1;
    }
    printf("control,tol,steps,attempts,error_test_failures,nfe\n");
    static const char *const controls[] = {"default", "bounds", "scipy"};
    for (int a = 3; a < argc; a++) {
        double tol = atof(argv[a]);
        for (int k = 0; k < 3; k++) {
            N_Vector y = N_VNew_Serial((sunindextype)(c.n * c.d), sctx);
            memcpy(N_VGetArrayPointer(y), z, c.n * c.d * sizeof *z);
            void *mem = ERKStepCreate(rhs, 1.0, y, sctx);
            int flag = ERKStepSetTableNum(mem, ARKODE_DORMAND_PRINCE_7_4_5);
            flag |= ERKStepSStolerances(mem, tol, tol);
            flag |= ERKStepSetUserData(mem, &c);
            flag |= ERKStepSetMaxNumSteps(mem, 100000);
            flag |= ERKStepSetStopTime(mem, 1e-3);
            if (k >= 1)
                flag |= ERKStepSetFixedStepBounds(mem, 1.0, 1.0);
            if (k == 2) {
                flag |= ERKStepSetAdaptivityMethod(mem, 2, 1, 1, NULL); /* I controller, order q = 5 */
                flag |= ERKStepSetErrorBias(mem, 1.0);
                flag |= ERKStepSetSafetyFactor(mem, 0.9);
                flag |= ERKStepSetMaxGrowth(mem, 10.0);
            }
            sunrealtype t_reached;
            if (flag == 0)
                flag = ERKStepEvolve(mem, 1e-3, y, &t_reached, ARK_NORMAL);
            long steps = 0, attempts = 0, fails = 0, nfe = 0;
            ERKStepGetNumSteps(mem, &steps);
            ERKStepGetNumStepAttempts(mem, &attempts);
            ERKStepGetNumErrTestFails(mem, &fails);
            ERKStepGetNumRhsEvals(mem, &nfe);
            if (flag < 0) {
                fprintf(stderr, "arkode_control: %s control, tol %g: ARKODE flag %d\n", controls[k], tol, flag);
                return 1;
            }
            printf("%s,%g,%ld,%ld,%ld,%ld\n", controls[k], tol, steps, attempts, fails, nfe);
            ERKStepFree(&mem);
            N_VDestroy(y);
        }
    }
    SUNContext_Free(&sctx);
    snet_workspace_free(c.ws);
    snet_model_free(c.m);
    free(z), free(c.x), free(c.t), free(c.s);
    return 0;
}
