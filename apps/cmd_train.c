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
    "it and ends with exactly the weights of an uninterrupted run. --log writes the CSV columns\n"
    "step,loss,loss_avg,grad_norm,lr,steps_per_sec.",
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

/* What the command line asks for: the options' values, defaults filled in. */
typedef struct train_request {
    const char *data_name, *sde_name, *arch_name, *out, *checkpoint, *objective_name, *projection_name;
    const char *log_path, *weighting, *data_dir, *range, *reduce;
    /* The defaults of snet_config_default where they do not depend on the data; 0 stays accepted
     * and means the same. */
    size_t hidden, blocks, fourier, base_channels, levels, projections, noise_levels;
    double fourier_scale, sigma_min, sigma_max, beta_min, beta_max;
    size_t steps, batch, warmup, checkpoint_every, log_every, shards;
    double lr, ema, clip;
    uint64_t seed;
    long threads;
    int resume, quiet, no_layer_norm;
    int sde_given, checkpoint_given;
} train_request;

enum { TRAIN_GO_ON = -1 }; /* parse_request: the command runs; any other value is its exit status */

static int parse_request(int argc, char **argv, train_request *r)
{
    snet_train_options defaults;
    snet_train_options_default(&defaults);
    *r = (train_request){.sde_name = "vp", .arch_name = "mlp", .objective_name = "dsm",
                         .projection_name = "rademacher", .weighting = "std2",
                         .data_dir = SNET_FASHION_MNIST_DIR, .range = "-1..1", .reduce = "ordered",
                         .blocks = 3, .fourier = 64, .base_channels = 32, .levels = 3, .projections = 1,
                         .sigma_min = 0.01, .beta_min = 0.1, .beta_max = 20, .steps = 10000, .batch = 512,
                         .warmup = 100, .checkpoint_every = 1000, .log_every = 100, .lr = defaults.lr,
                         .ema = defaults.ema_decay, .clip = defaults.grad_clip};
    cli_option opts[] = {
        {"data", CLI_STRING, &r->data_name,
         "gmm:FILE, swissroll, moons, checkerboard, 8gaussians, pinwheel or fashion-mnist" CLI_REQUIRED, NULL,
         0, 0, 0, NULL, 0},
        {"data-dir", CLI_STRING, &r->data_dir, "Fashion-MNIST IDX directory", NULL, 0, 0, 0, NULL, 0},
        {"range", CLI_CHOICE, &r->range, "image scaling of pixel values", "-1..1,0..1", 0, 0, 0, NULL, 0},
        {"sde", CLI_CHOICE, &r->sde_name, "diffusion process", scoresde_process_kind_list(","), 0, 0, 0, NULL,
         0},
        {"sigma-min", CLI_DOUBLE, &r->sigma_min, "VE smallest noise std", NULL, 0, 1e6, 0, NULL, 0},
        {"sigma-max", CLI_DOUBLE, &r->sigma_max, "VE largest noise std (0: 50 for images, 10 for 2-D data)", NULL,
         0, 1e6, 0, NULL, 0},
        {"beta-min", CLI_DOUBLE, &r->beta_min, "VP/sub-VP beta(0)", NULL, 0, 1e6, 0, NULL, 0},
        {"beta-max", CLI_DOUBLE, &r->beta_max, "VP/sub-VP beta(1)", NULL, 0, 1e6, 0, NULL, 0},
        {"arch", CLI_CHOICE, &r->arch_name, "network", "mlp,unet", 0, 0, 0, NULL, 0},
        {"hidden", CLI_SIZE, &r->hidden, "MLP width (0: 256 for 2-D data, 1024 for images)", NULL, 0, 65536, 0,
         NULL, 0},
        {"blocks", CLI_SIZE, &r->blocks, "MLP residual blocks", NULL, 0, 1000, 0, NULL, 0},
        {"fourier", CLI_SIZE, &r->fourier, "Fourier features of t", NULL, 0, 4096, 0, NULL, 0},
        {"fourier-scale", CLI_DOUBLE, &r->fourier_scale, "std of the random Fourier frequencies of the time "
         "input (0: 16; with --noise-levels L and --sde ve: (L-1)/(2 pi ln(sigma_max/sigma_min)), smooth "
         "across the levels)", NULL,
         0, 1e4, 0, NULL, 0},
        {"no-layer-norm", CLI_FLAG, &r->no_layer_norm, "MLP without LayerNorm", NULL, 0, 0, 0, NULL, 0},
        {"base-channels", CLI_SIZE, &r->base_channels, "U-Net channels at full resolution", NULL, 0,
         4096, 0, NULL, 0},
        {"levels", CLI_SIZE, &r->levels, "U-Net resolutions", NULL, 0, 8, 0, NULL, 0},
        {"steps", CLI_SIZE, &r->steps, "training steps", NULL, 1, 1e10, 0, NULL, 0},
        {"batch", CLI_SIZE, &r->batch, "samples per step", NULL, 1, 1e6, 0, NULL, 0},
        {"lr", CLI_DOUBLE, &r->lr, "Adam learning rate", NULL, 0, 1, 1, NULL, 0},
        {"warmup", CLI_SIZE, &r->warmup, "linear learning-rate warm-up steps", NULL, 0, 1e10, 0, NULL, 0},
        {"grad-clip", CLI_DOUBLE, &r->clip, "global gradient-norm bound (0: none)", NULL, 0, 1e10, 0, NULL, 0},
        {"ema", CLI_DOUBLE, &r->ema, "EMA decay of the weights (0: off)", NULL, 0, 1, 0, NULL, 0},
        {"weighting", CLI_CHOICE, &r->weighting, "loss weighting lambda(t)", "std2,likelihood", 0, 0, 0, NULL, 0},
        {"objective", CLI_CHOICE, &r->objective_name, "training objective: denoising, sliced, "
         "variance-reduced sliced or exact score matching", "dsm,ssm,ssm-vr,esm", 0, 0, 0, NULL, 0},
        {"projections", CLI_SIZE, &r->projections, "ssm, ssm-vr: random directions per sample", NULL, 1,
         1024, 0, NULL, 0},
        {"projection", CLI_CHOICE, &r->projection_name, "ssm, ssm-vr: distribution of the directions",
         "rademacher,gaussian", 0, 0, 0, NULL, 0},
        {"noise-levels", CLI_SIZE, &r->noise_levels, "discrete noise schedule (0: continuous time): NCSN's "
         "geometric noise levels (--sde ve) or DDPM's steps (--sde vp)", NULL, 0, SNET_MAX_DISCRETE_STEPS,
         0, NULL, 0},
        {"seed", CLI_U64, &r->seed, "seed of initialisation and every draw", NULL, 0, 0, 0, NULL, 0},
        {"out", CLI_STRING, &r->out, "weights file to write (.sgm)" CLI_REQUIRED, NULL, 0, 0, 0, NULL, 0},
        {"checkpoint", CLI_STRING, &r->checkpoint, "checkpoint file" CLI_DEFAULT_IS("OUT.ckpt, beside --out"), NULL,
         0, 0, 0, NULL, 0},
        {"checkpoint-every", CLI_SIZE, &r->checkpoint_every, "steps between checkpoints", NULL, 1, 1e10, 0,
         NULL, 0},
        {"resume", CLI_FLAG, &r->resume, "continue from the checkpoint if it exists", NULL, 0, 0, 0, NULL, 0},
        {"log", CLI_STRING, &r->log_path, "CSV log of the loss" CLI_DEFAULT_IS("none: no log file"), NULL, 0, 0, 0,
         NULL, 0},
        {"log-every", CLI_SIZE, &r->log_every, "steps between log lines", NULL, 1, 1e10, 0, NULL, 0},
        {"threads", CLI_INT, &r->threads, "OpenBLAS/OpenMP threads (0: their own choice)", NULL, 0, 1024, 0, NULL, 0},
        {"quiet", CLI_FLAG, &r->quiet, "no progress output", NULL, 0, 0, 0, NULL, 0},
        {"grad-shards", CLI_SIZE, &r->shards, "MPI: gradient of each step summed over this many row ranges of "
         "the batch (0: one per rank); equal values give equal weights whatever the number of ranks", NULL, 0,
         1e6, 0, NULL, 0},
        {"reduce", CLI_CHOICE, &r->reduce, "MPI: sum of the shard gradients: ordered (fixed order, "
         "reproducible) or allreduce (MPI_Allreduce's order)", "ordered,allreduce", 0, 0, 0, NULL, 0},
        {NULL, 0, NULL, NULL, NULL, 0, 0, 0, NULL, 0},
    };
    int rc = cli_parse(&train_command, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!r->data_name || !r->out)
        return cli_usage_error(&train_command, "--data and --out are required");
    r->sde_given = cli_was_set(opts, "sde");
    r->checkpoint_given = cli_was_set(opts, "checkpoint");
    return TRAIN_GO_ON;
}

/* The network's config for the data, with the options that change it; 0, or a usage status. */
static int build_config(const train_request *r, const snet_dataset *data, snet_data_kind kind, snet_config *cfg)
{
    snet_arch_kind arch = SNET_ARCH_MLP;
    snet_sde_kind sde = SNET_SDE_VP;
    snet_arch_parse(r->arch_name, &arch); /* the choice lists admit known names only */
    scoresde_process_kind_parse(r->sde_name, &sde);
    if (arch == SNET_ARCH_UNET && kind != SNET_DATA_FASHION_MNIST)
        return cli_usage_error(&train_command, "--arch unet needs image data (--data fashion-mnist)");
    if (kind == SNET_DATA_FASHION_MNIST)
        snet_config_default(cfg, arch, 1, 28, 28, sde);
    else
        snet_config_default(cfg, arch, (uint32_t)snet_dataset_dim(data), 1, 1, sde);
    snet_dataset_apply_config(data, cfg);
    if (r->hidden) cfg->hidden = (uint32_t)r->hidden;
    if (r->blocks) cfg->n_blocks = (uint32_t)r->blocks;
    if (r->fourier) cfg->n_fourier = (uint32_t)r->fourier;
    if (r->no_layer_norm) cfg->layer_norm = 0;
    if (r->base_channels) cfg->base_channels = (uint32_t)r->base_channels;
    if (r->levels) cfg->n_levels = (uint32_t)r->levels;
    if (r->sigma_min > 0) cfg->sigma_min = (float)r->sigma_min;
    if (r->sigma_max > 0) cfg->sigma_max = (float)r->sigma_max;
    if (r->beta_min > 0) cfg->beta_min = (float)r->beta_min;
    if (r->beta_max > 0) cfg->beta_max = (float)r->beta_max;
    if (r->noise_levels && (sde == SNET_SDE_SUBVP || r->noise_levels < 2))
        return cli_usage_error(&train_command, "--noise-levels %zu: expected 0 (continuous time) or "
                               "at least 2, with --sde ve (NCSN) or vp (DDPM); sub-VP has no "
                               "discrete counterpart", r->noise_levels);
    cfg->discrete_steps = (uint32_t)r->noise_levels;
    /* The VE network sees τ = log σ(t), in which NCSN's levels are Δτ = ln(σ_max/σ_min)/(L−1)
     * apart. Frequencies of std 16 turn the phase 2πWΔτ by tens of radians between two levels: the
     * network then knows the levels only, and the continuous samplers, which ask between them,
     * fail (mode weights off by 0.1 on models/gmm2d.txt). A std of 1/(2πΔτ) turns it by about a
     * radian, and PC and ODE sampling match the continuous-time model's. */
    if (r->fourier_scale > 0)
        cfg->fourier_scale = (float)r->fourier_scale;
    else if (r->noise_levels && sde == SNET_SDE_VE)
        cfg->fourier_scale = ncsn_fourier_scale(r->noise_levels, cfg->sigma_min, cfg->sigma_max);
    scoresde_error err;
    if (snet_config_validate(cfg, &err))
        return cli_usage_error(&train_command, "%s", err.message);
    return 0;
}

/* The training options of the request; 0, or a usage status. note: the command line, kept in the
 * files. */
static int build_options(const train_request *r, const snet_config *cfg, const char *checkpoint, const char *note,
                         train_log *log, snet_train_options *opt)
{
    snet_train_options_default(opt);
    snet_objective_parse(r->objective_name, &opt->objective);
    snet_projection_parse(r->projection_name, &opt->projection);
    opt->projections = r->projections;
    if (opt->objective != SNET_OBJECTIVE_DSM && cfg->arch != SNET_ARCH_MLP)
        return cli_usage_error(&train_command, "--objective %s needs the tangent pass of --arch mlp "
                               "(the %s has none); use --objective dsm", r->objective_name, r->arch_name);
    if (opt->objective == SNET_OBJECTIVE_ESM && snet_config_dim(cfg) > SNET_ESM_MAX_DIM)
        return cli_usage_error(&train_command, "--objective esm takes the full trace, one tangent pass "
                               "per data dimension: refused for D = %zu > %u (use ssm or ssm-vr)",
                               snet_config_dim(cfg), SNET_ESM_MAX_DIM);
    opt->steps = r->steps;
    opt->batch = r->batch;
    opt->lr = r->lr;
    opt->warmup = r->warmup;
    opt->grad_clip = r->clip;
    opt->ema_decay = r->ema;
    opt->weighting = strcmp(r->weighting, "likelihood") == 0 ? SNET_WEIGHT_LIKELIHOOD : SNET_WEIGHT_STD2;
    opt->seed = r->seed;
    opt->checkpoint_every = r->checkpoint_every;
    opt->checkpoint_path = checkpoint;
    opt->checkpoint_on_stop = 1;
    opt->resume = r->resume;
    opt->out_path = r->out;
    opt->note = note;
    opt->threads = (int)r->threads;
    opt->log_every = r->log_every;
    opt->log = on_progress;
    opt->log_ctx = log;
    return 0;
}

/* The summary: what was trained, the first and last loss (and which means they are), the files. */
static void report_training(const train_request *r, const snet_config *cfg, const snet_train_report *report,
                            const train_log *log, const char *checkpoint)
{
    /* The last loss: the mean over the last logged interval (at most --log-every steps, smoothed
     * over batches but recent), else over the last 1000 steps. */
    uint64_t run_steps = report->end_step - report->start_step;
    uint64_t window_first = (log->prev_step > report->start_step ? log->prev_step : report->start_step) + 1;
    int logged = log->last_step == report->end_step && run_steps > 0 && !isnan(log->last_loss_avg);
    double last_loss = logged ? log->last_loss_avg : report->final_loss_avg;
    uint64_t recent = run_steps < 1000 ? run_steps : 1000;
    const char *discrete = cfg->sde == SNET_SDE_VE ? ", NCSN levels" : ", DDPM steps";
    printf("trained %s %s (%s%s) on %s: steps %llu..%llu%s, loss %.5f -> %.5f, %.1f s -> %s\n", r->arch_name,
           r->sde_name, r->objective_name, r->noise_levels ? discrete : "", r->data_name,
           (unsigned long long)report->start_step, (unsigned long long)report->end_step,
           report->resumed ? " (resumed)" : "", report->first_loss, last_loss, report->seconds, r->out);
    if (run_steps > 0) {
        printf("loss     %.5f at step %llu (one batch) -> ", report->first_loss,
               (unsigned long long)report->start_step + 1);
        if (logged)
            printf("%.5f mean of steps %llu..%llu; mean of the last %llu steps %.5f\n", last_loss,
                   (unsigned long long)window_first, (unsigned long long)report->end_step,
                   (unsigned long long)recent, report->final_loss_avg);
        else
            printf("%.5f mean of the last %llu steps\n", last_loss, (unsigned long long)recent);
    }
    printf("files    %s, checkpoint %s%s%s%s\n", r->out, checkpoint,
           r->checkpoint_given ? "" : " (no --checkpoint given: OUT.ckpt)", r->log_path ? ", log " : "",
           r->log_path ? r->log_path : "");
    if (!r->sde_given)
        printf("process  %s (no --sde given)\n", r->sde_name);
}

int cmd_train(int argc, char **argv)
{
    train_request r;
    int rc = parse_request(argc, argv, &r);
    if (rc != TRAIN_GO_ON)
        return rc;
    snet_data_kind kind = SNET_DATA_GMM;
    if (strncmp(r.data_name, "gmm:", 4) != 0 && snet_data_kind_parse(r.data_name, &kind) != SNET_OK)
        return cli_usage_error(&train_command, "--data: unknown data set '%s' (expected gmm:FILE, swissroll, "
                               "moons, checkerboard, 8gaussians, pinwheel or fashion-mnist)", r.data_name);
    char checkpoint[1024], note[2048];
    scoresde_error err;
    snet_dataset *data = NULL;
    snet_gmm *gmm = NULL;
    train_log log = {NULL, r.quiet, isatty(2), 0, 0, NAN};
    int status = 1;
    if (kind == SNET_DATA_FASHION_MNIST)
        rc = snet_dataset_fashion_mnist(&data, r.data_dir, 1, strcmp(r.range, "0..1") == 0 ? SNET_RANGE_0_1
                                                                                         : SNET_RANGE_MINUS1_1,
                                        &err);
    else if (kind == SNET_DATA_GMM)
        rc = snet_gmm_read(r.data_name + 4, &gmm, &err) ? -1 : snet_dataset_toy(&data, kind, gmm, &err);
    else
        rc = snet_dataset_toy(&data, kind, NULL, &err);
    if (rc) {
        cli_fail("train", "--data %s", err.message);
        goto done;
    }
    snet_config cfg;
    snet_train_options opt;
    snprintf(checkpoint, sizeof checkpoint, "%s", r.checkpoint ? r.checkpoint : "");
    if (!r.checkpoint)
        snprintf(checkpoint, sizeof checkpoint, "%s.ckpt", r.out);
    size_t used = (size_t)snprintf(note, sizeof note, "scoresde train");
    for (int i = 1; i < argc && used < sizeof note; i++)
        used += (size_t)snprintf(note + used, sizeof note - used, " %s", argv[i]);
    if ((rc = build_config(&r, data, kind, &cfg)) || (rc = build_options(&r, &cfg, checkpoint, note, &log, &opt))) {
        status = rc;
        goto done;
    }
    if (r.log_path && dist_is_root()) {
        log.csv = fopen(r.log_path, r.resume ? "a" : "w");
        if (!log.csv) {
            cli_fail("train", "--log %s: cannot open for writing", r.log_path);
            goto done;
        }
        if (ftell(log.csv) == 0)
            fprintf(log.csv, "step,loss,loss_avg,grad_norm,lr,steps_per_sec\n");
    }
    snet_train_report report;
    if (dist_size() > 1 || r.shards > 1) /* data-parallel (dist.h), or its bits on one process */
        rc = dist_train_run(&cfg, data, &opt, r.shards,
                            strcmp(r.reduce, "allreduce") == 0 ? DIST_REDUCE_ALLREDUCE : DIST_REDUCE_ORDERED,
                            r.quiet, &report, &err);
    else
        rc = snet_train_run(&cfg, data, &opt, &report, NULL, &err);
    if (!r.quiet && log.tty && dist_is_root())
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
    report_training(&r, &cfg, &report, &log, checkpoint);
    status = 0;
done:
    if (log.csv)
        fclose(log.csv);
    snet_dataset_free(data);
    snet_gmm_free(gmm);
    return status;
}
