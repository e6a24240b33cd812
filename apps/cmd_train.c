/* scoresde train — score matching of a score network (denoising, sliced, variance-reduced sliced
 * or exact; continuous time or the NCSN/DDPM discrete schedules) on a 2-D toy set, a Gaussian
 * mixture or Fashion-MNIST, with checkpoints and exact resume. */
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dist.h"
#include "snet_data.h"
#include "snet_io.h"
#include "snet_train.h"

static const cli_command train_command = {
    "train",
    "Trains a time-conditional score network by score matching on perturbed data (t ~ U(1e-5, 1),\n"
    "loss weighted by s(t)^2 or, with --weighting likelihood, g(t)^2), Adam with warm-up and gradient\n"
    "clipping, EMA of the weights. --objective: dsm (denoising, default), ssm (sliced,\n"
    "E[2 v'Jv + (v's)^2] over --projections directions v), ssm-vr (E[2 v'Jv + |s|^2]) or esm (exact,\n"
    "2 tr J + |s|^2; data dimension <= 64); all four have the same minimiser. --noise-levels K trains on\n"
    "the original discrete schedules instead of t ~ U: NCSN's K geometric noise levels with --sde ve\n"
    "(sample with --sampler ald), DDPM's K steps with --sde vp (epsilon-prediction; sample with\n"
    "--predictor ancestral); the continuous samplers work on both. A checkpoint (--checkpoint,\n"
    "default OUT.ckpt) is written atomically every --checkpoint-every steps; --resume continues from\n"
    "it and ends with exactly the weights of an uninterrupted run. --log writes step,loss,loss_avg,grad_norm,lr,steps_per_sec.",
    "--data DATA --out MODEL.sgm [options]",
    "scoresde train --data checkerboard --sde vp --arch mlp --steps 20000 --batch 512 --out models/checkerboard.sgm"};

typedef struct train_log {
    FILE *csv;
    int quiet, tty;
    uint64_t prev_step, last_step; /* the steps of the last two progress calls */
    double last_loss_avg;          /* mean loss over steps prev_step+1 .. last_step */
} train_log;

static int on_progress(const snet_train_progress *p, void *ctx)
{
    train_log *log = ctx;
    log->prev_step = log->last_step;
    log->last_step = p->step;
    log->last_loss_avg = p->loss_avg;
    if (log->csv) {
        fprintf(log->csv, "%llu,%.6g,%.6g,%.6g,%.6g,%.3f\n", (unsigned long long)p->step, p->loss,
                p->loss_avg, p->grad_norm, p->lr, p->steps_per_sec);
        fflush(log->csv);
    }
    if (!log->quiet) {
        double eta = p->steps_per_sec > 0 ? (double)(p->steps - p->step) / p->steps_per_sec : 0;
        fprintf(stderr, "%strain: step %llu/%llu loss %.5f (avg %.5f) %.1f steps/s ETA %.0fs%s",
                log->tty ? "\r" : "", (unsigned long long)p->step, (unsigned long long)p->steps, p->loss,
                p->loss_avg, p->steps_per_sec, eta, log->tty ? "   " : "\n");
    }
    return cli_interrupted;
}

/* 1/(2πΔτ) with Δτ = ln(σ_max/σ_min)/(L−1), the spacing of L NCSN levels in τ = log σ (see below). */
static float ncsn_fourier_scale(size_t levels, double sigma_min, double sigma_max)
{
    return (float)((double)(levels - 1) / (2.0 * M_PI * log(sigma_max / sigma_min)));
}

int cmd_train(int argc, char **argv)
{
    const char *data_name = NULL, *sde_name = "vp", *arch_name = "mlp", *out = NULL, *checkpoint = NULL;
    const char *objective_name = "dsm", *projection_name = "rademacher";
    size_t projections = 1, noise_levels = 0;
    const char *log_path = NULL, *weighting = "std2", *data_dir = SNET_FASHION_MNIST_DIR, *range = "-1..1";
    const char *reduce = "ordered";
    /* The defaults of snet_config_default where they do not depend on the data; 0 stays accepted
     * and means the same. */
    size_t hidden = 0, blocks = 3, fourier = 64, base_channels = 32, levels = 3;
    double fourier_scale = 0, sigma_min = 0.01, sigma_max = 0, beta_min = 0.1, beta_max = 20;
    long threads = 0;
    int resume = 0, quiet = 0, no_layer_norm = 0;
    snet_train_options opt;
    snet_train_options_default(&opt);
    opt.warmup = 100;
    size_t steps = 10000, batch = 512, warmup = 100, checkpoint_every = 1000, log_every = 100, shards = 0;
    double lr = opt.lr, ema = opt.ema_decay, clip = opt.grad_clip;
    uint64_t seed = 0;
    cli_option opts[] = {
        {"data", CLI_STRING, &data_name,
         "gmm:FILE, swissroll, moons, checkerboard, 8gaussians, pinwheel or fashion-mnist" CLI_REQUIRED, NULL,
         0, 0, 0, NULL, 0},
        {"data-dir", CLI_STRING, &data_dir, "Fashion-MNIST IDX directory", NULL, 0, 0, 0, NULL, 0},
        {"range", CLI_CHOICE, &range, "image scaling of pixel values", "-1..1,0..1", 0, 0, 0, NULL, 0},
        {"sde", CLI_CHOICE, &sde_name, "diffusion process", "ve,vp,subvp", 0, 0, 0, NULL, 0},
        {"sigma-min", CLI_DOUBLE, &sigma_min, "VE smallest noise std", NULL, 0, 1e6, 0, NULL, 0},
        {"sigma-max", CLI_DOUBLE, &sigma_max, "VE largest noise std (0: 50 for images, 10 for 2-D data)", NULL,
         0, 1e6, 0, NULL, 0},
        {"beta-min", CLI_DOUBLE, &beta_min, "VP/sub-VP beta(0)", NULL, 0, 1e6, 0, NULL, 0},
        {"beta-max", CLI_DOUBLE, &beta_max, "VP/sub-VP beta(1)", NULL, 0, 1e6, 0, NULL, 0},
        {"arch", CLI_CHOICE, &arch_name, "network", "mlp,unet", 0, 0, 0, NULL, 0},
        {"hidden", CLI_SIZE, &hidden, "MLP width (0: 256 for 2-D data, 1024 for images)", NULL, 0, 65536, 0,
         NULL, 0},
        {"blocks", CLI_SIZE, &blocks, "MLP residual blocks", NULL, 0, 1000, 0, NULL, 0},
        {"fourier", CLI_SIZE, &fourier, "Fourier features of t", NULL, 0, 4096, 0, NULL, 0},
        {"fourier-scale", CLI_DOUBLE, &fourier_scale, "std of the random Fourier frequencies of the time "
         "input (0: 16; with --noise-levels L and --sde ve: (L-1)/(2 pi ln(sigma_max/sigma_min)), smooth "
         "across the levels)", NULL,
         0, 1e4, 0, NULL, 0},
        {"no-layer-norm", CLI_FLAG, &no_layer_norm, "MLP without LayerNorm", NULL, 0, 0, 0, NULL, 0},
        {"base-channels", CLI_SIZE, &base_channels, "U-Net channels at full resolution", NULL, 0,
         4096, 0, NULL, 0},
        {"levels", CLI_SIZE, &levels, "U-Net resolutions", NULL, 0, 8, 0, NULL, 0},
        {"steps", CLI_SIZE, &steps, "training steps", NULL, 1, 1e10, 0, NULL, 0},
        {"batch", CLI_SIZE, &batch, "samples per step", NULL, 1, 1e6, 0, NULL, 0},
        {"lr", CLI_DOUBLE, &lr, "Adam learning rate", NULL, 0, 1, 1, NULL, 0},
        {"warmup", CLI_SIZE, &warmup, "linear learning-rate warm-up steps", NULL, 0, 1e10, 0, NULL, 0},
        {"grad-clip", CLI_DOUBLE, &clip, "global gradient-norm bound (0: none)", NULL, 0, 1e10, 0, NULL, 0},
        {"ema", CLI_DOUBLE, &ema, "EMA decay of the weights (0: off)", NULL, 0, 1, 0, NULL, 0},
        {"weighting", CLI_CHOICE, &weighting, "loss weighting lambda(t)", "std2,likelihood", 0, 0, 0, NULL, 0},
        {"objective", CLI_CHOICE, &objective_name, "training objective: denoising, sliced, "
         "variance-reduced sliced or exact score matching", "dsm,ssm,ssm-vr,esm", 0, 0, 0, NULL, 0},
        {"projections", CLI_SIZE, &projections, "ssm, ssm-vr: random directions per sample", NULL, 1,
         1024, 0, NULL, 0},
        {"projection", CLI_CHOICE, &projection_name, "ssm, ssm-vr: distribution of the directions",
         "rademacher,gaussian", 0, 0, 0, NULL, 0},
        {"noise-levels", CLI_SIZE, &noise_levels, "discrete noise schedule (0: continuous time): NCSN's "
         "geometric noise levels (--sde ve) or DDPM's steps (--sde vp)", NULL, 0, SNET_MAX_DISCRETE_STEPS,
         0, NULL, 0},
        {"seed", CLI_U64, &seed, "seed of initialisation and every draw", NULL, 0, 0, 0, NULL, 0},
        {"out", CLI_STRING, &out, "weights file to write (.sgm)" CLI_REQUIRED, NULL, 0, 0, 0, NULL, 0},
        {"checkpoint", CLI_STRING, &checkpoint, "checkpoint file" CLI_DEFAULT_IS("OUT.ckpt, beside --out"), NULL,
         0, 0, 0, NULL, 0},
        {"checkpoint-every", CLI_SIZE, &checkpoint_every, "steps between checkpoints", NULL, 1, 1e10, 0,
         NULL, 0},
        {"resume", CLI_FLAG, &resume, "continue from the checkpoint if it exists", NULL, 0, 0, 0, NULL, 0},
        {"log", CLI_STRING, &log_path, "CSV log of the loss" CLI_DEFAULT_IS("none: no log file"), NULL, 0, 0, 0,
         NULL, 0},
        {"log-every", CLI_SIZE, &log_every, "steps between log lines", NULL, 1, 1e10, 0, NULL, 0},
        {"threads", CLI_INT, &threads, "OpenBLAS/OpenMP threads (0: their own choice)", NULL, 0, 1024, 0, NULL, 0},
        {"quiet", CLI_FLAG, &quiet, "no progress output", NULL, 0, 0, 0, NULL, 0},
        {"grad-shards", CLI_SIZE, &shards, "MPI: gradient of each step summed over this many row ranges of "
         "the batch (0: one per rank); equal values give equal weights whatever the number of ranks", NULL, 0,
         1e6, 0, NULL, 0},
        {"reduce", CLI_CHOICE, &reduce, "MPI: sum of the shard gradients: ordered (fixed order, "
         "reproducible) or allreduce (MPI_Allreduce's order)", "ordered,allreduce", 0, 0, 0, NULL, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0},
    };
    int rc = cli_parse(&train_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!data_name || !out)
        return cli_usage_error(&train_command, "--data and --out are required");

    snet_data_kind kind = strncmp(data_name, "gmm:", 4) == 0 ? SNET_DATA_GMM : snet_data_kind_by_name(data_name);
    if (!kind)
        return cli_usage_error(&train_command, "--data: unknown data set '%s' (expected gmm:FILE, swissroll, "
                               "moons, checkerboard, 8gaussians, pinwheel or fashion-mnist)", data_name);
    snet_arch_kind arch = SNET_ARCH_MLP;
    snet_sde_kind sde = SNET_SDE_VP;
    snet_arch_parse(arch_name, &arch);          /* the choice lists admit known names only */
    scoresde_process_kind_parse(sde_name, &sde);
    char ckpt_buf[1024];
    scoresde_error err;
    snet_dataset *data = NULL;
    snet_gmm *gmm = NULL;
    train_log log = {NULL, quiet, isatty(2), 0, 0, NAN};
    int status = 1;
    if (kind == SNET_DATA_FASHION_MNIST)
        rc = snet_dataset_fashion_mnist(&data, data_dir, 1, strcmp(range, "0..1") == 0 ? SNET_RANGE_0_1
                                                                                     : SNET_RANGE_MINUS1_1,
                                        &err);
    else if (kind == SNET_DATA_GMM)
        rc = snet_gmm_read(data_name + 4, &gmm, &err) ? -1
             : snet_dataset_toy(&data, kind, gmm, &err);
    else
        rc = snet_dataset_toy(&data, kind, NULL, &err);
    if (rc) {
        cli_fail("train", "--data %s", err.message);
        goto done;
    }
    if (arch == SNET_ARCH_UNET && kind != SNET_DATA_FASHION_MNIST) {
        status = cli_usage_error(&train_command, "--arch unet needs image data (--data fashion-mnist)");
        goto done;
    }
    snet_config cfg;
    size_t D = snet_dataset_dim(data);
    if (kind == SNET_DATA_FASHION_MNIST)
        snet_config_default(&cfg, arch, 1, 28, 28, sde);
    else
        snet_config_default(&cfg, arch, (uint32_t)D, 1, 1, sde);
    snet_dataset_apply_config(data, &cfg);
    if (hidden) cfg.hidden = (uint32_t)hidden;
    if (blocks) cfg.n_blocks = (uint32_t)blocks;
    if (fourier) cfg.n_fourier = (uint32_t)fourier;
    if (no_layer_norm) cfg.layer_norm = 0;
    if (base_channels) cfg.base_channels = (uint32_t)base_channels;
    if (levels) cfg.n_levels = (uint32_t)levels;
    if (sigma_min > 0) cfg.sigma_min = (float)sigma_min;
    if (sigma_max > 0) cfg.sigma_max = (float)sigma_max;
    if (beta_min > 0) cfg.beta_min = (float)beta_min;
    if (beta_max > 0) cfg.beta_max = (float)beta_max;
    if (noise_levels && (sde == SNET_SDE_SUBVP || noise_levels < 2)) {
        status = cli_usage_error(&train_command, "--noise-levels %zu: expected 0 (continuous time) or "
                                 "at least 2, with --sde ve (NCSN) or vp (DDPM); sub-VP has no "
                                 "discrete counterpart", noise_levels);
        goto done;
    }
    cfg.discrete_steps = (uint32_t)noise_levels;
    /* The VE network sees τ = log σ(t), in which NCSN's levels are Δτ = ln(σ_max/σ_min)/(L−1)
     * apart. Frequencies of std 16 turn the phase 2πWΔτ by tens of radians between two levels: the
     * network then knows the levels only, and the continuous samplers, which ask between them,
     * fail (mode weights off by 0.1 on models/gmm2d.txt). A std of 1/(2πΔτ) turns it by about a
     * radian, and PC and ODE sampling match the continuous-time model's. */
    if (fourier_scale > 0)
        cfg.fourier_scale = (float)fourier_scale;
    else if (noise_levels && sde == SNET_SDE_VE)
        cfg.fourier_scale = ncsn_fourier_scale(noise_levels, cfg.sigma_min, cfg.sigma_max);
    if (snet_config_validate(&cfg, &err)) {
        status = cli_usage_error(&train_command, "%s", err.message);
        goto done;
    }
    snet_objective_by_name(objective_name, &opt.objective);
    snet_projection_by_name(projection_name, &opt.projection);
    opt.projections = projections;
    if (opt.objective != SNET_OBJECTIVE_DSM && arch != SNET_ARCH_MLP) {
        status = cli_usage_error(&train_command, "--objective %s needs the tangent pass of --arch mlp "
                                 "(the %s has none); use --objective dsm", objective_name, arch_name);
        goto done;
    }
    if (opt.objective == SNET_OBJECTIVE_ESM && snet_config_dim(&cfg) > SNET_ESM_MAX_DIM) {
        status = cli_usage_error(&train_command, "--objective esm takes the full trace, one tangent pass "
                                 "per data dimension: refused for D = %zu > %u (use ssm or ssm-vr)",
                                 snet_config_dim(&cfg), SNET_ESM_MAX_DIM);
        goto done;
    }
    if (!checkpoint) {
        snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out);
        checkpoint = ckpt_buf;
    }
    if (log_path && dist_is_root()) {
        log.csv = fopen(log_path, resume ? "a" : "w");
        if (!log.csv) {
            cli_fail("train", "--log %s: cannot open for writing", log_path);
            goto done;
        }
        if (ftell(log.csv) == 0)
            fprintf(log.csv, "step,loss,loss_avg,grad_norm,lr,steps_per_sec\n");
    }
    char note[2048];
    size_t used = (size_t)snprintf(note, sizeof note, "scoresde train");
    for (int i = 1; i < argc && used < sizeof note; i++)
        used += (size_t)snprintf(note + used, sizeof note - used, " %s", argv[i]);
    opt.steps = steps;
    opt.batch = batch;
    opt.lr = lr;
    opt.warmup = warmup;
    opt.grad_clip = clip;
    opt.ema_decay = ema;
    opt.weighting = strcmp(weighting, "likelihood") == 0 ? SNET_WEIGHT_LIKELIHOOD : SNET_WEIGHT_STD2;
    opt.seed = seed;
    opt.checkpoint_every = checkpoint_every;
    opt.checkpoint_path = checkpoint;
    opt.checkpoint_on_stop = 1;
    opt.resume = resume;
    opt.out_path = out;
    opt.note = note;
    opt.threads = (int)threads;
    opt.log_every = log_every;
    opt.log = on_progress;
    opt.log_ctx = &log;
    snet_train_report report;
    if (dist_size() > 1 || shards > 1) /* data-parallel (dist.h), or its bits on one process */
        rc = dist_train_run(&cfg, data, &opt, shards, strcmp(reduce, "allreduce") == 0 ? DIST_REDUCE_ALLREDUCE
                                                                                         : DIST_REDUCE_ORDERED,
                            quiet, &report, &err);
    else
        rc = snet_train_run(&cfg, data, &opt, &report, NULL, &err);
    if (!quiet && log.tty && dist_is_root())
        fputc('\n', stderr);
    if (rc == SNET_ESTOPPED) {
        if (dist_is_root())
            cli_fail("train", "interrupted at step %llu; checkpoint %s (continue with --resume)",
                     (unsigned long long)report.end_step, checkpoint);
        status = EXIT_INTERRUPTED;
        goto done;
    }
    if (rc != SNET_OK) {
        if (err.message[0]) /* empty on the ranks that only follow another's failure */
            cli_fail("train", "%s", err.message);
        goto done;
    }
    /* The last loss: the mean over the last logged interval (at most --log-every steps, smoothed
     * over batches but recent), else over the last 1000 steps. */
    uint64_t run_steps = report.end_step - report.start_step;
    uint64_t window_first = (log.prev_step > report.start_step ? log.prev_step : report.start_step) + 1;
    int logged = log.last_step == report.end_step && run_steps > 0 && !isnan(log.last_loss_avg);
    double last_loss = logged ? log.last_loss_avg : report.final_loss_avg;
    uint64_t recent = run_steps < 1000 ? run_steps : 1000;
    printf("trained %s %s (%s%s) on %s: steps %llu..%llu%s, loss %.5f -> %.5f, %.1f s -> %s\n", arch_name,
           sde_name, objective_name, noise_levels ? (sde == SNET_SDE_VE ? ", NCSN levels" : ", DDPM steps") : "",
           data_name, (unsigned long long)report.start_step, (unsigned long long)report.end_step,
           report.resumed ? " (resumed)" : "", report.first_loss, last_loss, report.seconds, out);
    if (run_steps > 0) {
        printf("loss     %.5f at step %llu (one batch) -> ", report.first_loss,
               (unsigned long long)report.start_step + 1);
        if (logged)
            printf("%.5f mean of steps %llu..%llu; mean of the last %llu steps %.5f\n", last_loss,
                   (unsigned long long)window_first, (unsigned long long)report.end_step,
                   (unsigned long long)recent, report.final_loss_avg);
        else
            printf("%.5f mean of the last %llu steps\n", last_loss, (unsigned long long)recent);
    }
    printf("files    %s, checkpoint %s%s%s%s\n", out, checkpoint, cli_was_set(opts, "checkpoint") ? ""
           : " (no --checkpoint given: OUT.ckpt)", log_path ? ", log " : "", log_path ? log_path : "");
    if (!cli_was_set(opts, "sde"))
        printf("process  %s (no --sde given)\n", sde_name);
    status = 0;
done:
    if (log.csv)
        fclose(log.csv);
    snet_dataset_free(data);
    snet_gmm_free(gmm);
    return status;
}
