/* train_toy — a minimal driver of snet_train_run for the 2-D toy sets and GMM files, used to train
 * the shipped 2-D model until `scoresde train` (apps/) takes over. Not a user-facing tool.
 *
 *   train_toy --data checkerboard|swissroll|moons|8gaussians|pinwheel|gmm:FILE --sde ve|vp|subvp
 *             --steps N --batch B --lr LR --warmup W --seed S --hidden H --blocks K
 *             --out model.sgm [--checkpoint ck.sgm --every K --resume] [--threads T]
 *             [--loss-csv loss.csv] [--likelihood-weighting] [--ema DECAY]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snet_data.h"
#include "snet_train.h"

static int log_progress(const snet_train_progress *p, void *ctx)
{
    FILE *csv = ctx;
    double eta = p->steps_per_sec > 0 ? (double)(p->steps - p->step) / p->steps_per_sec : 0;
    fprintf(stderr, "step %llu/%llu  loss %.5f  |g| %.3f  lr %.2e  %.1f steps/s  ETA %.0f s\n",
            (unsigned long long)p->step, (unsigned long long)p->steps, p->loss_avg, p->grad_norm, p->lr,
            p->steps_per_sec, eta);
    if (csv)
        fprintf(csv, "%llu,%.6f,%.6f,%.3e\n", (unsigned long long)p->step, p->loss_avg, p->grad_norm, p->lr);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = "checkerboard", *sde = "vp", *loss_csv = NULL;
    snet_train_options o;
    snet_train_options_default(&o);
    o.out_path = "model.sgm";
    uint32_t hidden = 0, blocks = 0;
    char note[2048] = "";
    size_t used = 0;
    for (int i = 0; i < argc; i++)
        used += (size_t)snprintf(note + used, used < sizeof note ? sizeof note - used : 0, "%s%s",
                                 i ? " " : "", argv[i]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && ++i)
        if (ARG("--data")) data = v;
        else if (ARG("--sde")) sde = v;
        else if (ARG("--steps")) o.steps = strtoull(v, NULL, 10);
        else if (ARG("--batch")) o.batch = strtoull(v, NULL, 10);
        else if (ARG("--lr")) o.lr = atof(v);
        else if (ARG("--warmup")) o.warmup = strtoull(v, NULL, 10);
        else if (ARG("--seed")) o.seed = strtoull(v, NULL, 10);
        else if (ARG("--hidden")) hidden = (uint32_t)atoi(v);
        else if (ARG("--blocks")) blocks = (uint32_t)atoi(v);
        else if (ARG("--out")) o.out_path = v;
        else if (ARG("--checkpoint")) o.checkpoint_path = v;
        else if (ARG("--every")) o.checkpoint_every = strtoull(v, NULL, 10);
        else if (ARG("--threads")) o.threads = atoi(v);
        else if (ARG("--loss-csv")) loss_csv = v;
        else if (ARG("--ema")) o.ema_decay = atof(v);
        else if (!strcmp(a, "--resume")) o.resume = 1;
        else if (!strcmp(a, "--likelihood-weighting")) o.weighting = SNET_WEIGHT_LIKELIHOOD;
        else {
            fprintf(stderr, "train_toy: unknown or incomplete option '%s'\n", a);
            return 2;
        }
#undef ARG
    }
    char msg[1024];
    snet_gmm *g = NULL;
    snet_dataset *ds;
    snet_data_kind kind = strncmp(data, "gmm:", 4) == 0 ? SNET_DATA_GMM : snet_data_kind_by_name(data);
    if (kind == SNET_DATA_GMM && snet_gmm_read(data + 4, &g, msg, sizeof msg)) {
        fprintf(stderr, "train_toy: %s\n", msg);
        return 1;
    }
    if (!kind || snet_dataset_toy(&ds, kind, g, msg, sizeof msg)) {
        fprintf(stderr, "train_toy: --data %s: %s\n", data, kind ? msg : "unknown data set");
        return 1;
    }
    snet_sde_kind sk = snet_sde_by_name(sde);
    if (!sk) {
        fprintf(stderr, "train_toy: --sde %s: expected ve, vp or subvp\n", sde);
        return 1;
    }
    snet_config cfg;
    snet_config_default(&cfg, SNET_ARCH_MLP, (uint32_t)snet_dataset_dim(ds), 1, 1, sk);
    if (hidden)
        cfg.hidden = hidden;
    if (blocks)
        cfg.n_blocks = blocks;
    FILE *csv = loss_csv ? fopen(loss_csv, o.resume ? "a" : "w") : NULL;
    if (csv && !o.resume)
        fprintf(csv, "step,loss,grad_norm,lr\n");
    o.note = note;
    o.log = log_progress;
    o.log_ctx = csv;
    if (!o.log_every || o.log_every > o.steps / 20 + 1)
        o.log_every = o.steps / 20 + 1;
    snet_train_report rep;
    int rc = snet_train_run(&cfg, ds, &o, &rep, NULL, msg, sizeof msg);
    if (csv)
        fclose(csv);
    snet_dataset_free(ds);
    snet_gmm_free(g);
    if (rc) {
        fprintf(stderr, "train_toy: %s\n", msg);
        return 1;
    }
    fprintf(stderr, "trained steps %llu..%llu in %.1f s; loss %.4f → %.4f; wrote %s\n",
            (unsigned long long)rep.start_step, (unsigned long long)rep.end_step, rep.seconds,
            rep.first_loss, rep.final_loss_avg, o.out_path);
    return 0;
}
