/* dist_train.c — data-parallel training over the ranks (dist_train_run, dist.h): snet_train_run's
 * loop with hooks for the sharded step, the ordered gradient reduction and the collective saves. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dist_impl.h"
#include "snet_io.h"


/* Floats per piece of the pipelined chain reduction: P/K, within [4096, 65536] (16 .. 256 KiB).
 * The chain takes (pieces + K − 2) piece times: with many ranks, small pieces fill it sooner. */
enum { SEGMENT_MIN = 1 << 12, SEGMENT_MAX = 1 << 16 };

/* acc[off, off + len) (+)= grads[i][...] for i in [from, n), in that order. */
static void add_shards(float *acc, float *const *grads, size_t from, size_t n, size_t off, size_t len)
{
    for (size_t i = from; i < n; i++) {
        const float *g = grads[i] + off;
        float *a = acc + off;
        for (size_t j = 0; j < len; j++)
            a[j] += g[j];
    }
}

/* Sum of all shard gradients into acc (P floats) on every rank. grads: this rank's n_mine shards,
 * in shard order. */
static void reduce_gradient(float *const *grads, size_t n_mine, size_t P, dist_reduce mode, float *acc)
{
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel() && mode == DIST_REDUCE_ORDERED) {
        /* A chain: rank r receives the running sum of shards 0 .. (its first − 1) from rank r − 1,
         * adds its own shards in order and passes it on; the pieces are pipelined so every link
         * works at once. Rank K − 1 then holds ((g_0 + g_1) + …) + g_{S−1} and
         * broadcasts it. The additions are those of a one-process loop over the shards. */
        size_t seg = dist_min_size(SEGMENT_MAX, P / (size_t)dist_size());
        seg = seg < SEGMENT_MIN ? SEGMENT_MIN : seg;
        size_t n_seg = (P + seg - 1) / seg;
        MPI_Request *reqs = malloc(n_seg * sizeof *reqs);
        if (!reqs) {
            fprintf(stderr, "scoresde train: rank %d: out of memory\n", dist_rank());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (size_t s = 0; s < n_seg; s++) {
            size_t off = s * seg, len = dist_min_size(seg, P - off);
            if (dist_rank() == 0) {
                memcpy(acc + off, grads[0] + off, len * sizeof *acc);
                add_shards(acc, grads, 1, n_mine, off, len);
            } else {
                MPI_Request req;
                MPI_Irecv(acc + off, (int)len, MPI_FLOAT, dist_rank() - 1, DIST_TAG_GRAD, dist_comm(), &req);
                dist_wait(&req);
                add_shards(acc, grads, 0, n_mine, off, len);
            }
            if (dist_rank() < dist_size() - 1)
                MPI_Isend(acc + off, (int)len, MPI_FLOAT, dist_rank() + 1, DIST_TAG_GRAD, dist_comm(), &reqs[s]);
        }
        for (size_t s = 0; dist_rank() < dist_size() - 1 && s < n_seg; s++)
            dist_wait(&reqs[s]);
        free(reqs);
        MPI_Request req;
        MPI_Ibcast(acc, (int)P, MPI_FLOAT, dist_size() - 1, dist_comm(), &req);
        dist_wait(&req);
        return;
    }
#endif
    (void)mode;
    memcpy(acc, grads[0], P * sizeof *acc);
    add_shards(acc, grads, 1, n_mine, 0, P);
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel()) {
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, acc, (int)P, MPI_FLOAT, MPI_SUM, dist_comm(), &req);
        dist_wait(&req);
    }
#endif
}

/* 1 if local_failed is set on any rank. */
static int failed_anywhere(int local_failed)
{
    int v[1] = {local_failed != 0};
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel())
        dist_max_over_ranks(v, 1);
#endif
    return v[0];
}

#ifdef SCORESDE_WITH_MPI
static uint64_t fnv1a(uint64_t h, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#endif

/* 1 if every rank holds the same weights and EMA (a hash compared over the ranks). */
static int same_weights_everywhere(const snet_model *model, const snet_trainer *tr)
{
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel()) {
        uint64_t h = fnv1a(0xcbf29ce484222325ull, model->params, model->n_params * sizeof(float));
        if (snet_trainer_ema(tr))
            h = fnv1a(h, snet_trainer_ema(tr), model->n_params * sizeof(float));
        uint64_t v[2] = {h, ~h}; /* max of h and of ~h: all equal iff max(h) = ~max(~h) */
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, dist_comm());
        return v[0] == ~v[1];
    }
#endif
    (void)model;
    (void)tr;
    return 1;
}

/* ---- data-parallel training: snet_train_run's loop with these hooks ---------------------------- */

/* A rank that only follows another's failure reports the status without words (the rank where the
 * failure arose words it). */
static int follow_failure(scoresde_error *err, int status)
{
    if (err) {
        scoresde_error_clear(err);
        err->status = status;
    }
    return status;
}

typedef struct dist_training {
    size_t K, S, B, P, first_shard, n_mine; /* ranks, shards, batch, parameters; this rank's shards */
    dist_reduce reduce;
    float **grads, *acc;  /* (n_mine, P) this rank's shard gradients, (P) their sum */
    double *parts;        /* (S + 2) loss per shard, failure, stop */
    double reduce_seconds;
    const char *checkpoint_path;
} dist_training;

/* Collective: checks the ranks agree on the weights, then rank 0 writes the checkpoint (final 0)
 * or the weights file (1). Returns an snet status, the same on every rank. */
static int save_on_root(const snet_trainer *tr, const snet_train_options *opt, int final, scoresde_error *err,
                        void *ctx)
{
    (void)ctx;
    const snet_model *model = snet_trainer_model(tr);
    if (!same_weights_everywhere(model, tr))
        return dist_rank() != 0 ? follow_failure(err, SNET_EINVAL)
                                : scoresde_error_fail(err, SNET_EINVAL,
                                                      "the ranks' weights differ at step %llu (different CPUs or "
                                                      "libraries on the nodes?); nothing written",
                                                      (unsigned long long)snet_trainer_steps_done(tr));
    int rc = SNET_OK;
    if (dist_rank() == 0)
        rc = final ? snet_model_save(model, snet_trainer_ema(tr), opt->note, snet_trainer_steps_done(tr),
                                     opt->out_path, err)
                   : snet_trainer_save(tr, opt->checkpoint_path, err);
    if (failed_anywhere(rc) && !rc)
        rc = follow_failure(err, SNET_EIO);
    return rc;
}

/* The shard buffers, then the ranks agree on how the setup went. Local failures are usually the
 * same on every rank (same options and files): when rank 0 has one it reports it and the others
 * only return; otherwise each failing rank reports. */
static int begin_training(snet_trainer *tr, int rc, scoresde_error *err, void *ctx)
{
    dist_training *d = ctx;
    if (!rc && (d->S < d->K || d->S > d->B)) {
        scoresde_error_fail(err, SNET_EINVAL,
                            "--grad-shards %zu: expected between the number of ranks (%zu) and --batch (%zu)",
                            d->S, d->K, d->B);
        rc = SNET_EINVAL;
    }
    if (!rc) {
        d->P = snet_trainer_n_params(tr);
        d->grads = calloc(d->n_mine, sizeof *d->grads);
        d->acc = malloc(d->P * sizeof *d->acc);
        d->parts = malloc((d->S + 2) * sizeof *d->parts);
        for (size_t i = 0; d->grads && i < d->n_mine; i++)
            if (!(d->grads[i] = malloc(d->P * sizeof **d->grads)))
                break;
        if (!d->grads || !d->acc || !d->parts || !d->grads[d->n_mine - 1]) {
            scoresde_error_fail(err, SNET_ENOMEM,
                                "out of memory for %zu shard gradients of %zu floats", d->n_mine, d->P);
            rc = SNET_ENOMEM;
        }
    }
    if (dist_begin_part())
        return rc ? rc : SNET_EIO;
    int failed[2] = {rc != SNET_OK, dist_rank() == 0 && rc != SNET_OK};
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel())
        dist_max_over_ranks(failed, 2);
#endif
    if (!failed[0])
        return SNET_OK;
    if (dist_rank() != 0 && failed[1])
        follow_failure(err, rc ? rc : SNET_EIO);
    return rc ? rc : SNET_EIO;
}

/* Rank 0 decides whether the checkpoint exists; every rank reads it. */
static int resume_from_root(const char *path, void *ctx)
{
    (void)ctx;
    int resume = dist_rank() != 0 || access(path, F_OK) == 0;
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel())
        MPI_Bcast(&resume, 1, MPI_INT, 0, dist_comm());
#endif
    return resume;
}

static int check_resumed(const snet_trainer *tr, int rc, scoresde_error *err, void *ctx)
{
    const dist_training *d = ctx;
    if (failed_anywhere(rc))
        return rc ? rc : SNET_EIO;
    if (same_weights_everywhere(snet_trainer_model(tr), tr))
        return SNET_OK;
    if (dist_rank() != 0)
        return follow_failure(err, SNET_EINVAL);
    return scoresde_error_fail(err, SNET_EINVAL,
                               "%s: the ranks read different weights (is the file the same on every node?)",
                               d->checkpoint_path);
}

/* This rank's shard gradients, summed over the ranks (reduce), applied by every rank; an
 * interrupt on any rank stops all after this step. */
static int sharded_step(snet_trainer *tr, snet_dataset *data, snet_train_progress *pr, int *stop,
                        scoresde_error *err, void *ctx)
{
    dist_training *d = ctx;
    const size_t S = d->S, B = d->B;
    uint64_t step = snet_trainer_steps_done(tr);
    int local = SNET_OK;
    memset(d->parts, 0, (S + 2) * sizeof *d->parts);
    for (size_t i = 0; i < d->n_mine && !local; i++) {
        size_t j = d->first_shard + i, first = j * B / S, count = (j + 1) * B / S - first;
        local = snet_trainer_shard_grad(tr, data, first, count, d->grads[i], &d->parts[j]);
    }
    d->parts[S] = local != SNET_OK;
    d->parts[S + 1] = cli_interrupted != 0;
    double r0 = wall_seconds();
#ifdef SCORESDE_WITH_MPI
    /* every shard's loss has one non-zero contributor: the sum is exact in any order */
    if (dist_parallel()) {
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, d->parts, (int)(S + 2), MPI_DOUBLE, MPI_SUM, dist_comm(), &req);
        dist_wait(&req);
    }
#endif
    if (d->parts[S] != 0) {
        if (local)
            scoresde_error_fail(err, local,
                                "step %llu: %s", (unsigned long long)step + 1, snet_strerror(local));
        return local ? local : SNET_EIO;
    }
    double loss = 0.0;
    for (size_t j = 0; j < S; j++)
        loss += d->parts[j];
    reduce_gradient(d->grads, d->n_mine, d->P, d->reduce, d->acc);
    d->reduce_seconds += wall_seconds() - r0;
    int rc = snet_trainer_apply_grad(tr, d->acc, loss, pr);
    if (rc == SNET_ENONFINITE) /* the same on every rank: rank 0 says it */
        return dist_rank() != 0 ? follow_failure(err, rc)
                                : scoresde_error_fail(err, rc, "step %llu: loss %g, gradient norm %g: not finite "
                                                      "(try a lower lr)", (unsigned long long)pr->step, pr->loss,
                                                      pr->grad_norm);
    *stop = d->parts[S + 1] != 0;
    return rc;
}

int dist_train_run(const snet_config *cfg, snet_dataset *data, const snet_train_options *opt,
                   size_t shards, dist_reduce reduce, int quiet, snet_train_report *report,
                   scoresde_error *err)
{
    const size_t K = (size_t)dist_size(), S = shards ? shards : K;
    dist_training d = {.K = K, .S = S, .B = opt->batch, .reduce = reduce, .checkpoint_path = opt->checkpoint_path,
                       .first_shard = (size_t)dist_rank() * S / K,
                       .n_mine = ((size_t)dist_rank() + 1) * S / K - (size_t)dist_rank() * S / K};
    const snet_train_hooks hooks = {.begin = begin_training, .resume_from = resume_from_root,
                                    .after_resume = check_resumed, .step = sharded_step, .save = save_on_root,
                                    .ctx = &d};
    snet_train_options o = *opt;
    o.hooks = &hooks;
    if (dist_rank() != 0)
        o.log = NULL; /* rank 0 reports; stopping comes from cli_interrupted on any rank */
    snet_train_report rep;
    int rc = snet_train_run(cfg, data, &o, &rep, NULL, err);
    uint64_t n_run = rep.end_step - rep.start_step;
    if (rc == SNET_OK && dist_rank() == 0 && K > 1 && n_run > 0 && !quiet)
        fprintf(stderr, "train: %zu ranks, %zu shards of ~%zu rows, gradient of %zu floats (%.2f MB) reduced "
                        "(%s) in %.3f ms per step, %.1f%% of %.3f ms per step\n", K, S, d.B / S, d.P,
                4.0 * (double)d.P / 1e6, reduce == DIST_REDUCE_ORDERED ? "ordered" : "allreduce",
                1e3 * d.reduce_seconds / (double)n_run, 100.0 * d.reduce_seconds / rep.seconds,
                1e3 * rep.seconds / (double)n_run);
    if (report)
        *report = rep;
    for (size_t i = 0; d.grads && i < d.n_mine; i++)
        free(d.grads[i]);
    free(d.grads);
    free(d.acc);
    free(d.parts);
    return rc;
}
