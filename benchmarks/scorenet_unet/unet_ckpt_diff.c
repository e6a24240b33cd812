/* unet_ckpt_diff — the function a trained U-Net computes, written out and compared across builds.
 *
 *   unet_ckpt_diff MODEL.sgm OUT.bin [--compare REF.bin] [--batch B]
 *
 * Loads MODEL (its EMA weights when it has them, as sampling does), evaluates on B fixed inputs
 * (default 64) the score s_θ(x, t) and the vector–Jacobian product vᵀ∂s/∂x of the likelihood, and
 * writes both as raw floats to OUT.bin. With --compare it reads REF.bin (the same run of another
 * build) and prints the largest absolute difference of each, beside the largest magnitude. The
 * inputs: x = 0.8·sin pattern + noise of the time's marginal std, t from 1e-3 to 1, v = ±1 pattern,
 * all deterministic, so two builds see the same numbers.
 */
#include "snet.h"
#include "snet_io.h"
#include "snet_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A deterministic standard normal (Box–Muller on a 64-bit LCG). */
static double lcg_normal(unsigned long long *s)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        u[i] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static void max_diff(const float *a, const float *b, size_t n, double *diff, double *mag)
{
    *diff = 0.0;
    *mag = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > *diff || d != d)
            *diff = d;
        if (fabs((double)b[i]) > *mag)
            *mag = fabs((double)b[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: unet_ckpt_diff MODEL.sgm OUT.bin [--compare REF.bin] [--batch B]\n");
        return 2;
    }
    const char *model_path = argv[1], *out_path = argv[2], *ref_path = NULL;
    size_t B = 64;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--compare") == 0)
            ref_path = argv[i + 1];
        else if (strcmp(argv[i], "--batch") == 0)
            B = (size_t)strtoul(argv[i + 1], NULL, 10);
    }
    scoresde_error err;
    snet_model *m = NULL;
    if (snet_model_load(model_path, SNET_LOAD_EMA, &m, NULL, &err) != SNET_OK) {
        fprintf(stderr, "unet_ckpt_diff: %s\n", err.message);
        return 1;
    }
    const snet_config *cfg = &m->cfg;
    size_t D = snet_config_dim(cfg);
    float *x = malloc(B * D * sizeof *x), *t = malloc(B * sizeof *t), *v = malloc(B * D * sizeof *v);
    float *res = malloc(2 * B * D * sizeof *res), *ref = malloc(2 * B * D * sizeof *ref);
    snet_workspace *ws = snet_workspace_alloc(m, B);
    if (!x || !t || !v || !res || !ref || !ws) {
        fprintf(stderr, "unet_ckpt_diff: out of memory at batch %zu\n", B);
        return 1;
    }
    unsigned long long seed = 12345;
    for (size_t b = 0; b < B; b++) {
        t[b] = (float)(1e-3 + (1.0 - 1e-3) * (double)b / (double)(B > 1 ? B - 1 : 1));
        double mean = snet_marginal_mean(cfg, t[b]), std = snet_marginal_std(cfg, t[b]);
        for (size_t i = 0; i < D; i++) {
            double data = 0.8 * sin(0.05 * (double)i * (1.0 + 0.1 * (double)(b % 7)));
            x[b * D + i] = (float)(mean * data + std * lcg_normal(&seed));
            v[b * D + i] = ((i * 7 + b) % 3 == 0) ? -1.0f : 1.0f;
        }
    }
    int rc = snet_model_score_and_vjp(m, ws, B, t, x, v, res, res + B * D);
    if (rc != SNET_OK)
        fprintf(stderr, "unet_ckpt_diff: score_and_vjp returned %d\n", rc);
    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(res, sizeof *res, 2 * B * D, f) != 2 * B * D) {
        fprintf(stderr, "unet_ckpt_diff: cannot write %s\n", out_path);
        return 1;
    }
    fclose(f);
    if (ref_path) {
        f = fopen(ref_path, "rb");
        if (!f || fread(ref, sizeof *ref, 2 * B * D, f) != 2 * B * D) {
            fprintf(stderr, "unet_ckpt_diff: cannot read %zu floats from %s\n", 2 * B * D, ref_path);
            return 1;
        }
        fclose(f);
        double d, mag;
        max_diff(res, ref, B * D, &d, &mag);
        printf("score: max |Δ| = %.3g, max |s| = %.3g, relative %.3g\n", d, mag, d / mag);
        max_diff(res + B * D, ref + B * D, B * D, &d, &mag);
        printf("vjp:   max |Δ| = %.3g, max |vjp| = %.3g, relative %.3g\n", d, mag, d / mag);
    }
    snet_workspace_free(ws);
    snet_model_free(m);
    free(x), free(t), free(v), free(res), free(ref);
    return 0;
}
