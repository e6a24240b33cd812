/* bench_train_parts — the parts of a data-parallel training step on one core, for the scaling
 * estimate in benchmarks/results/mpi_scaling.md: the gradient of one shard of B/K rows (what each of
 * K ranks computes), the batch draw every rank repeats, the Adam/EMA update every rank repeats,
 * and the addition of one gradient (the reduction's arithmetic per shard).
 * Usage: bench_train_parts [gmm2d|fmnist|both] > parts.csv   (Fashion-MNIST from the Debian
 * package's directory). Times are CPU seconds of this process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snet_data.h"
#include "snet_train.h"

/* CPU time of the process: the machine this was written on is shared, and wall time there measures
 * the other users as much as this program. Run single-threaded (OMP_NUM_THREADS=1). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(const char *name, snet_dataset *data, snet_config cfg, size_t B)
{
    scoresde_error err;
    snet_model *model;
    snet_trainer *tr;
    snet_train_options o;
    snet_train_options_default(&o);
    o.batch = B;
    o.warmup = 10;
    o.seed = 1;
    snet_dataset_apply_config(data, &cfg);
    if (snet_model_alloc(&model, &cfg, &err) || (snet_model_init(model, 1), 0) ||
        snet_trainer_alloc(&tr, model, &o, &err)) {
        fprintf(stderr, "bench_train_parts: %s\n", err.message);
        return 1;
    }
    size_t P = snet_trainer_n_params(tr);
    float *g = malloc(P * sizeof *g), *acc = calloc(P, sizeof *acc);
    double loss;
    snet_train_progress pr;
    for (int k = 0; k < 3; k++) { /* warm up; past the zero-initialised output layer */
        snet_trainer_shard_grad(tr, data, 0, B, g, &loss);
        snet_trainer_apply_grad(tr, g, loss, &pr);
    }
    printf("%s,params,%zu,floats\n", name, P);
    for (size_t K = 1; K <= B && K <= 512; K *= (K < 8 ? 2 : 8)) {
        size_t rows = B / K, reps = K == 1 ? 5 : 10;
        double t_first = 0, t_next = 0;
        for (size_t r = 0; r < reps; r++) {
            double t = now();
            snet_trainer_shard_grad(tr, data, 0, rows, g, &loss); /* draws the batch */
            t_first += now() - t;
            t = now();
            snet_trainer_shard_grad(tr, data, rows == B ? 0 : rows, rows, g, &loss); /* batch kept */
            t_next += now() - t;
            snet_trainer_apply_grad(tr, g, loss, &pr); /* next step: a new batch */
        }
        printf("%s,shard_grad_B/%zu,%.6f,s (%zu rows; first shard of a step incl. batch draw %.6f s)\n", name, K,
               t_next / (double)reps, rows, t_first / (double)reps);
    }
    double t = now();
    for (int r = 0; r < 20; r++)
        snet_trainer_apply_grad(tr, g, loss, &pr);
    printf("%s,apply_grad,%.6f,s (clip + Adam + EMA over all params)\n", name, (now() - t) / 20);
    t = now();
    for (int r = 0; r < 20; r++)
        for (size_t i = 0; i < P; i++)
            acc[i] += g[i];
    printf("%s,add_gradient,%.6f,s (acc += g over all params)\n", name, (now() - t) / 20);
    free(g);
    free(acc);
    snet_trainer_free(tr);
    snet_model_free(model);
    return 0;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "both";
    scoresde_error err;
    int rc = 0;
    printf("model,part,value,unit\n");
    if (strcmp(which, "fmnist") != 0) {
        static const char *gmm_text = "2 3\n0.5 -2 0 0.5 0.5\n0.3 2 0 0.5 0.5\n0.2 0 2.5 0.5 0.5\n";
        snet_gmm *gmm;
        snet_dataset *ds;
        if (snet_gmm_parse(gmm_text, "gmm", &gmm, &err) ||
            snet_dataset_toy(&ds, SNET_DATA_GMM, gmm, &err)) {
            fprintf(stderr, "bench_train_parts: %s\n", err.message);
            return 1;
        }
        snet_config cfg;
        snet_config_default(&cfg, SNET_ARCH_MLP, 2, 1, 1, SNET_SDE_VP); /* the shipped gmm2d.sgm's */
        rc |= run("gmm2d MLP 256x3 B=512", ds, cfg, 512);
        snet_dataset_free(ds);
        snet_gmm_free(gmm);
    }
    if (strcmp(which, "gmm2d") != 0) {
        snet_dataset *ds;
        if (snet_dataset_fashion_mnist(&ds, NULL, 1, SNET_RANGE_MINUS1_1, &err)) {
            fprintf(stderr, "bench_train_parts: %s\n", err.message);
            return 1;
        }
        snet_config cfg;
        snet_config_default(&cfg, SNET_ARCH_MLP, 1, 28, 28, SNET_SDE_VP);
        cfg.hidden = 512;
        cfg.n_blocks = 3;
        rc |= run("fashion-mnist MLP 512x3 B=128", ds, cfg, 128);
        snet_dataset_free(ds);
    }
    return rc;
}
