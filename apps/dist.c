/* dist.c — scoresde over MPI ranks; see dist.h and docs/mpi.md. Every MPI call of the tool is in
 * this file, under SCORESDE_WITH_MPI; without it the functions below are the one-process case. */
#include "dist.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "snet_io.h"

#ifdef SCORESDE_WITH_MPI
#include <mpi.h>
#include <pthread.h>
#endif

static int g_rank = 0, g_size = 1;

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* ================================================================================================
 * Session: start, agreement before each distributed part, end
 * ============================================================================================== */

#ifdef SCORESDE_WITH_MPI
static int g_mpi = 0;
static MPI_Comm g_comm = MPI_COMM_NULL; /* a duplicate of MPI_COMM_WORLD: our messages only */

enum { TAG_RESULT = 101, TAG_ASSIGN = 102, TAG_GRAD = 103 };

static void pause_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

enum { POLL_MIN_NS = 10000, POLL_MAX_NS = 250000, SPIN_TESTS = 200 };

/* Waits for a request without holding a core for long: a rank that waits may share its core with
 * one that computes (rank 0's service thread, more ranks than cores, other users). Tests the
 * request SPIN_TESTS times in a row (a few microseconds: a message in flight), then every 10 µs
 * .. 250 µs. */
static void wait_quietly(MPI_Request *req)
{
    long ns = POLL_MIN_NS;
    for (int spins = 0;; spins++) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        if (spins < SPIN_TESTS)
            continue;
        pause_ns(ns);
        if (ns < POLL_MAX_NS)
            ns *= 2;
    }
}

/* Element-wise maximum of n ints over the ranks, in place. */
static void max_over_ranks(int *v, int n)
{
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_INT, MPI_MAX, g_comm, &req);
    wait_quietly(&req);
}
#endif

int dist_init(int *argc, char ***argv)
{
#ifdef SCORESDE_WITH_MPI
    const char *force = getenv("SCORESDE_MPI_INIT");
    int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
    if (!(launched || (force && strcmp(force, "1") == 0)))
        return 0; /* a plain `scoresde ...`: no MPI start-up cost */
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "scoresde: MPI_Init_thread failed\n");
        return 1;
    }
    g_mpi = 1;
    MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
    MPI_Comm_rank(g_comm, &g_rank);
    MPI_Comm_size(g_comm, &g_size);
    if (g_size > 1 && provided < MPI_THREAD_SERIALIZED) {
        /* rank 0's chunk service is a second thread making MPI calls (never at the same time as
         * its main thread) */
        if (g_rank == 0)
            fprintf(stderr, "scoresde: this MPI library gives thread level %d; running on several ranks "
                            "needs MPI_THREAD_SERIALIZED (%d)\n", provided, MPI_THREAD_SERIALIZED);
        MPI_Finalize();
        g_mpi = 0;
        return 1;
    }
    if (g_rank != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 prints the summaries */
        fprintf(stderr, "scoresde: rank %d: cannot silence stdout\n", g_rank);
#else
    (void)argc;
    (void)argv;
#endif
    return 0;
}

/* Called by every rank at the start of a distributed part, with 0 (or a failure status): returns 0
 * when every rank is there, else the status to return without doing the part — some rank failed
 * before it (that rank is in dist_finalize, which answers this call). */
static int begin_part(void)
{
#ifdef SCORESDE_WITH_MPI
    if (!g_mpi || g_size == 1)
        return 0;
    int v[3] = {0, 1, 0}; /* status, staying, leaving */
    max_over_ranks(v, 3);
    if (v[0])
        return v[0];
    if (v[2]) {
        if (g_rank == 0)
            fprintf(stderr, "scoresde: a rank ended before the others started working together\n");
        return 1;
    }
#endif
    return 0;
}

int dist_finalize(int status)
{
#ifdef SCORESDE_WITH_MPI
    if (!g_mpi)
        return status;
    if (g_size > 1)
        for (;;) { /* answer begin_part of ranks still waiting to start a part, until all are here */
            int v[3] = {status, 0, 1};
            max_over_ranks(v, 3);
            if (!v[1])
                break;
        }
    fflush(stdout);
    MPI_Comm_free(&g_comm);
    MPI_Finalize();
    g_mpi = 0;
#endif
    return status;
}

/* ================================================================================================
 * Points in chunks
 * ============================================================================================== */

enum { HEAD = 3 }; /* a chunk message: status, chunk index, compute seconds, info[n_info], rows */

typedef struct chunk_log {
    double busy;         /* seconds in compute on this rank */
    size_t chunks;       /* chunks computed on this rank */
    int *trace_rank;     /* rank 0 with SCORESDE_DIST_TRACE: (n_chunks) who computed each chunk, */
    double *trace_sec;   /* (n_chunks) in how many seconds, */
    double *trace_info;  /* (n_chunks, n_info) and its info values */
} chunk_log;

static size_t chunk_count(const dist_chunks *job) { return (job->n_items + job->chunk - 1) / job->chunk; }
static size_t chunk_len(const dist_chunks *job, size_t k)
{
    return min_size(job->chunk, job->n_items - k * job->chunk);
}

/* Times one compute call; info zeroed first. */
static int compute_chunk(dist_chunks *job, size_t k, double *rows, double *info, chunk_log *log,
                         double *seconds)
{
    memset(info, 0, job->n_info * sizeof *info);
    double start = wall_seconds();
    int rc = job->compute(job->ctx, k * job->chunk, chunk_len(job, k), rows, info);
    *seconds = wall_seconds() - start;
    log->busy += *seconds;
    log->chunks++;
    return rc;
}

static void trace_chunk(chunk_log *log, size_t k, int rank, double seconds, const double *info, size_t n_info)
{
    if (log->trace_rank) {
        log->trace_rank[k] = rank;
        log->trace_sec[k] = seconds;
        memcpy(log->trace_info + k * n_info, info, n_info * sizeof *info);
    }
}

/* One process: compute and deliver chunk after chunk (what the commands always did). */
static int run_chunks_here(dist_chunks *job, progress *bar, chunk_log *log)
{
    double *buf = malloc((job->chunk * job->row_width + DIST_MAX_INFO) * sizeof *buf);
    if (!buf)
        return cli_fail(job->label, "out of memory for a chunk of %zu × %zu values", job->chunk,
                        job->row_width);
    double *info = buf, *rows = buf + DIST_MAX_INFO;
    int status = 0;
    for (size_t k = 0; k < chunk_count(job) && !status; k++) {
        double seconds;
        status = compute_chunk(job, k, rows, info, log, &seconds);
        trace_chunk(log, k, 0, seconds, info, job->n_info);
        if (!status)
            status = job->deliver(job->ctx, k * job->chunk, chunk_len(job, k), rows, info);
        if (!status) {
            job->delivered = k * job->chunk + chunk_len(job, k);
            progress_update(bar, job->delivered);
        }
    }
    free(buf);
    return status;
}

#ifdef SCORESDE_WITH_MPI
/* Rank 0's side of the hand-out: the next chunk index, the slots where computed chunks wait for
 * their turn, and the in-order delivery. Shared by rank 0's main thread (which computes chunks)
 * and its service thread (which talks to the other ranks), under `lock`. */
typedef struct chunk_service {
    dist_chunks *job;
    progress *bar;
    chunk_log *log;
    size_t n_chunks, window, slot_len;
    double *slots;          /* (window, slot_len): chunk k in slot k % window */
    unsigned char *ready;   /* (window) slot computed, not yet delivered */
    size_t next_chunk;      /* next chunk to hand out */
    size_t next_deliver;    /* next chunk to deliver */
    int status;             /* first failure; 0: none */
    pthread_mutex_t lock;
    pthread_cond_t moved;   /* delivery advanced or a failure: waiting takers look again */
} chunk_service;

enum { TAKE_OK, TAKE_WAIT, TAKE_STOP };

/* Under the lock. A chunk is handed out only if its slot is free: k < next_deliver + window. */
static int take_chunk(chunk_service *s, size_t *k)
{
    if (s->status || s->next_chunk >= s->n_chunks)
        return TAKE_STOP;
    if (s->next_chunk >= s->next_deliver + s->window)
        return TAKE_WAIT;
    *k = s->next_chunk++;
    return TAKE_OK;
}

static double *slot_of(chunk_service *s, size_t k) { return s->slots + (k % s->window) * s->slot_len; }

/* Under the lock: chunk k's slot is filled (or it failed); deliver every chunk now in order. */
static void chunk_finished(chunk_service *s, size_t k, int status, int rank, double seconds)
{
    if (status) {
        if (!s->status)
            s->status = status;
    } else {
        s->ready[k % s->window] = 1;
        trace_chunk(s->log, k, rank, seconds, slot_of(s, k) + HEAD, s->job->n_info);
    }
    dist_chunks *job = s->job;
    while (!s->status && s->next_deliver < s->n_chunks && s->ready[s->next_deliver % s->window]) {
        size_t d = s->next_deliver, first = d * job->chunk, n = chunk_len(job, d);
        double *slot = slot_of(s, d);
        s->ready[d % s->window] = 0;
        int rc = job->deliver(job->ctx, first, n, slot + HEAD + job->n_info, slot + HEAD);
        if (rc) {
            s->status = rc;
            break;
        }
        s->next_deliver++;
        job->delivered = first + n;
        progress_update(s->bar, job->delivered);
    }
    pthread_cond_broadcast(&s->moved);
}

static void assign(int rank, long long k)
{
    MPI_Send(&k, 1, MPI_LONG_LONG, rank, TAG_ASSIGN, g_comm);
}

/* Rank 0's service thread: answers each other rank's "here is my chunk, give me the next" until
 * every rank has been told to stop. Sleeps between polls, so it costs rank 0's core nothing. */
static void *serve_chunks(void *arg)
{
    chunk_service *s = arg;
    int K = g_size, active = K - 1;
    long long *assigned = malloc(K * sizeof *assigned); /* chunk each rank is computing, −1 none */
    unsigned char *parked = calloc(K, 1);                /* asked while the window was full */
    double head[HEAD];
    if (!assigned || !parked) {
        fprintf(stderr, "scoresde: out of memory in the chunk service\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int r = 0; r < K; r++)
        assigned[r] = -1;
    long idle_ns = POLL_MIN_NS;
    while (active > 0) {
        for (int r = 1; r < K; r++) {
            if (!parked[r])
                continue;
            size_t k = 0;
            pthread_mutex_lock(&s->lock);
            int t = take_chunk(s, &k);
            pthread_mutex_unlock(&s->lock);
            if (t == TAKE_WAIT)
                continue;
            parked[r] = 0;
            assigned[r] = t == TAKE_OK ? (long long)k : -1;
            assign(r, assigned[r]);
            active -= t == TAKE_STOP;
        }
        int flag = 0, count = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, g_comm, &flag, &st);
        if (!flag) {
            pause_ns(idle_ns);
            if (idle_ns < POLL_MAX_NS)
                idle_ns *= 2;
            continue;
        }
        idle_ns = POLL_MIN_NS;
        int r = st.MPI_SOURCE;
        MPI_Get_count(&st, MPI_DOUBLE, &count);
        /* a result goes straight into its chunk's slot (reserved since the chunk was handed out) */
        double *buf = count > HEAD && assigned[r] >= 0 ? slot_of(s, (size_t)assigned[r]) : head;
        MPI_Recv(buf, count, MPI_DOUBLE, r, TAG_RESULT, g_comm, MPI_STATUS_IGNORE);
        size_t k = 0;
        pthread_mutex_lock(&s->lock);
        if (assigned[r] >= 0 || buf[0] != 0)
            chunk_finished(s, (size_t)(assigned[r] >= 0 ? assigned[r] : 0), (int)buf[0], r, buf[2]);
        int t = take_chunk(s, &k);
        pthread_mutex_unlock(&s->lock);
        assigned[r] = -1;
        if (t == TAKE_WAIT) {
            parked[r] = 1;
            continue;
        }
        assigned[r] = t == TAKE_OK ? (long long)k : -1;
        assign(r, assigned[r]);
        active -= t == TAKE_STOP;
    }
    free(assigned);
    free(parked);
    return NULL;
}

static int run_chunks_root(dist_chunks *job, progress *bar, chunk_log *log)
{
    chunk_service s = {0};
    s.job = job;
    s.bar = bar;
    s.log = log;
    s.n_chunks = chunk_count(job);
    s.window = 2 * (size_t)g_size;
    s.slot_len = HEAD + job->n_info + job->chunk * job->row_width;
    s.slots = malloc(s.window * s.slot_len * sizeof *s.slots);
    s.ready = calloc(s.window, 1);
    int status = 0;
    pthread_t thread;
    if (!s.slots || !s.ready) {
        /* the other ranks wait for their first chunk: stop them */
        status = cli_fail(job->label, "rank 0: out of memory for %zu chunks of %zu × %zu values", s.window,
                          job->chunk, job->row_width);
        s.status = status;
    }
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.moved, NULL);
    if (pthread_create(&thread, NULL, serve_chunks, &s) != 0) {
        fprintf(stderr, "scoresde %s: cannot start the chunk service thread\n", job->label);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (;;) {
        size_t k = 0;
        int t;
        pthread_mutex_lock(&s.lock);
        while ((t = take_chunk(&s, &k)) == TAKE_WAIT)
            pthread_cond_wait(&s.moved, &s.lock);
        pthread_mutex_unlock(&s.lock);
        if (t == TAKE_STOP)
            break;
        double *slot = slot_of(&s, k), seconds;
        int rc = compute_chunk(job, k, slot + HEAD + job->n_info, slot + HEAD, log, &seconds);
        pthread_mutex_lock(&s.lock);
        chunk_finished(&s, k, rc, 0, seconds);
        pthread_mutex_unlock(&s.lock);
    }
    pthread_join(thread, NULL);
    status = s.status;
    pthread_cond_destroy(&s.moved);
    pthread_mutex_destroy(&s.lock);
    free(s.slots);
    free(s.ready);
    return status;
}

static int run_chunks_worker(dist_chunks *job, chunk_log *log)
{
    size_t len = HEAD + job->n_info + job->chunk * job->row_width;
    double *buf = malloc(len * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "scoresde %s: rank %d: out of memory for a chunk of %zu values\n", job->label,
                g_rank, len);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int status = 0;
    buf[0] = 0, buf[1] = -1, buf[2] = 0;
    MPI_Send(buf, HEAD, MPI_DOUBLE, 0, TAG_RESULT, g_comm); /* "give me a chunk" */
    for (;;) {
        long long k;
        MPI_Request req;
        MPI_Irecv(&k, 1, MPI_LONG_LONG, 0, TAG_ASSIGN, g_comm, &req);
        wait_quietly(&req);
        if (k < 0)
            break;
        double seconds;
        int rc = compute_chunk(job, (size_t)k, buf + HEAD + job->n_info, buf + HEAD, log, &seconds);
        buf[0] = rc, buf[1] = (double)k, buf[2] = seconds;
        if (rc && !status)
            status = rc;
        size_t n = rc ? HEAD : HEAD + job->n_info + chunk_len(job, (size_t)k) * job->row_width;
        MPI_Send(buf, (int)n, MPI_DOUBLE, 0, TAG_RESULT, g_comm);
    }
    free(buf);
    return status;
}

/* Rank 0: the load-balance line. */
static void report_balance(const dist_chunks *job, const chunk_log *log, double wall)
{
    double mine[2] = {log->busy, (double)log->chunks}, *all = NULL;
    if (g_rank == 0)
        all = malloc(2 * (size_t)g_size * sizeof *all);
    MPI_Gather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, g_comm);
    if (g_rank != 0 || !all || job->quiet) {
        free(all);
        return;
    }
    double lo = INFINITY, hi = 0, sum = 0;
    size_t c_lo = SIZE_MAX, c_hi = 0;
    for (int r = 0; r < g_size; r++) {
        lo = fmin(lo, all[2 * r]), hi = fmax(hi, all[2 * r]), sum += all[2 * r];
        c_lo = min_size(c_lo, (size_t)all[2 * r + 1]);
        c_hi = (size_t)all[2 * r + 1] > c_hi ? (size_t)all[2 * r + 1] : c_hi;
    }
    fprintf(stderr, "%s: %d ranks, %zu chunks of %zu (%zu..%zu per rank), busy %.3f..%.3f s per rank in "
                    "%.3f s: %.1f%% idle\n", job->label, g_size, chunk_count(job), job->chunk, c_lo, c_hi, lo,
            hi, wall, wall > 0 ? 100.0 * (1.0 - sum / ((double)g_size * wall)) : 0.0);
    free(all);
}
#endif

static void write_trace(const dist_chunks *job, const chunk_log *log)
{
    const char *path = getenv("SCORESDE_DIST_TRACE");
    if (!path || !log->trace_rank)
        return;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "scoresde %s: SCORESDE_DIST_TRACE=%s: cannot open for writing\n", job->label, path);
        return;
    }
    fprintf(f, "chunk,first,n,rank,seconds");
    for (size_t i = 0; i < job->n_info; i++)
        fprintf(f, ",info%zu", i);
    for (size_t k = 0; k < chunk_count(job); k++) {
        fprintf(f, "\n%zu,%zu,%zu,%d,%.6f", k, k * job->chunk, chunk_len(job, k), log->trace_rank[k],
                log->trace_sec[k]);
        for (size_t i = 0; i < job->n_info; i++)
            fprintf(f, ",%.17g", log->trace_info[k * job->n_info + i]);
    }
    fputc('\n', f);
    fclose(f);
}

int dist_run_chunks(dist_chunks *job)
{
    job->delivered = 0;
    int status = begin_part();
    if (status || job->n_items == 0)
        return status;
    if (job->chunk < 1 || job->n_info > DIST_MAX_INFO)
        return cli_fail(job->label, "chunks of %zu items with %zu info values (expected ≥ 1 and ≤ %d)",
                        job->chunk, job->n_info, DIST_MAX_INFO);
    chunk_log log = {0};
    if (g_rank == 0 && getenv("SCORESDE_DIST_TRACE") && job->n_items) {
        log.trace_rank = calloc(chunk_count(job), sizeof *log.trace_rank);
        log.trace_sec = calloc(chunk_count(job), sizeof *log.trace_sec);
        log.trace_info = calloc(chunk_count(job) * job->n_info + 1, sizeof *log.trace_info);
        if (!log.trace_rank || !log.trace_sec || !log.trace_info) {
            free(log.trace_rank), free(log.trace_sec), free(log.trace_info);
            log.trace_rank = NULL;
            fprintf(stderr, "scoresde %s: no memory for SCORESDE_DIST_TRACE\n", job->label);
        }
    }
    progress bar;
    progress_start(&bar, job->label, job->n_items, job->quiet || g_rank != 0);
    job->bar = &bar;
    double start = wall_seconds();
#ifdef SCORESDE_WITH_MPI
    if (g_mpi && g_size > 1) {
        if ((size_t)HEAD + DIST_MAX_INFO + job->chunk * job->row_width > (size_t)2147483647 / 2)
            status = cli_fail(job->label, "chunks of %zu × %zu values are too large for one message; lower "
                              "--batch", job->chunk, job->row_width);
        else
            status = g_rank == 0 ? run_chunks_root(job, &bar, &log) : run_chunks_worker(job, &log);
        double wall = wall_seconds() - start;
        int v[1] = {status};
        max_over_ranks(v, 1);
        status = v[0];
        report_balance(job, &log, wall);
    } else
#endif
        status = run_chunks_here(job, &bar, &log);
    (void)start;
    progress_finish(&bar);
    job->bar = NULL;
    if (status == 0)
        write_trace(job, &log);
    free(log.trace_rank);
    free(log.trace_sec);
    free(log.trace_info);
    return status;
}

/* ================================================================================================
 * Data-parallel training
 * ============================================================================================== */

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
    if (g_mpi && g_size > 1 && mode == DIST_REDUCE_ORDERED) {
        /* A chain: rank r receives the running sum of shards 0 .. (its first − 1) from rank r − 1,
         * adds its own shards in order and passes it on; the pieces are pipelined so every link
         * works at once. Rank K − 1 then holds ((g_0 + g_1) + …) + g_{S−1} and
         * broadcasts it. The additions are those of a one-process loop over the shards. */
        size_t seg = min_size(SEGMENT_MAX, P / (size_t)g_size);
        seg = seg < SEGMENT_MIN ? SEGMENT_MIN : seg;
        size_t n_seg = (P + seg - 1) / seg;
        MPI_Request *reqs = malloc(n_seg * sizeof *reqs);
        if (!reqs) {
            fprintf(stderr, "scoresde train: rank %d: out of memory\n", g_rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (size_t s = 0; s < n_seg; s++) {
            size_t off = s * seg, len = min_size(seg, P - off);
            if (g_rank == 0) {
                memcpy(acc + off, grads[0] + off, len * sizeof *acc);
                add_shards(acc, grads, 1, n_mine, off, len);
            } else {
                MPI_Request req;
                MPI_Irecv(acc + off, (int)len, MPI_FLOAT, g_rank - 1, TAG_GRAD, g_comm, &req);
                wait_quietly(&req);
                add_shards(acc, grads, 0, n_mine, off, len);
            }
            if (g_rank < g_size - 1)
                MPI_Isend(acc + off, (int)len, MPI_FLOAT, g_rank + 1, TAG_GRAD, g_comm, &reqs[s]);
        }
        for (size_t s = 0; g_rank < g_size - 1 && s < n_seg; s++)
            wait_quietly(&reqs[s]);
        free(reqs);
        MPI_Request req;
        MPI_Ibcast(acc, (int)P, MPI_FLOAT, g_size - 1, g_comm, &req);
        wait_quietly(&req);
        return;
    }
#endif
    (void)mode;
    memcpy(acc, grads[0], P * sizeof *acc);
    add_shards(acc, grads, 1, n_mine, 0, P);
#ifdef SCORESDE_WITH_MPI
    if (g_mpi && g_size > 1) {
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, acc, (int)P, MPI_FLOAT, MPI_SUM, g_comm, &req);
        wait_quietly(&req);
    }
#endif
}

/* 1 if local_failed is set on any rank. */
static int failed_anywhere(int local_failed)
{
    int v[1] = {local_failed != 0};
#ifdef SCORESDE_WITH_MPI
    if (g_mpi && g_size > 1)
        max_over_ranks(v, 1);
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
    if (g_mpi && g_size > 1) {
        uint64_t h = fnv1a(0xcbf29ce484222325ull, model->params, model->n_params * sizeof(float));
        if (snet_trainer_ema(tr))
            h = fnv1a(h, snet_trainer_ema(tr), model->n_params * sizeof(float));
        uint64_t v[2] = {h, ~h}; /* max of h and of ~h: all equal iff max(h) = ~max(~h) */
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, g_comm);
        return v[0] == ~v[1];
    }
#endif
    (void)model;
    (void)tr;
    return 1;
}

/* ---- data-parallel training: snet_train_run's loop with these hooks ---------------------------- */

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
static int save_on_root(const snet_trainer *tr, const snet_train_options *opt, int final, char *msg,
                        size_t msg_size, void *ctx)
{
    (void)ctx;
    const snet_model *model = snet_trainer_model(tr);
    if (!same_weights_everywhere(model, tr)) {
        snprintf(msg, msg_size, "the ranks' weights differ at step %llu (different CPUs or libraries on the "
                 "nodes?); nothing written", (unsigned long long)snet_trainer_steps_done(tr));
        if (g_rank != 0)
            msg[0] = 0;
        return SNET_EINVAL;
    }
    int rc = SNET_OK;
    if (g_rank == 0)
        rc = final ? snet_model_save(model, snet_trainer_ema(tr), opt->note, snet_trainer_steps_done(tr),
                                     opt->out_path, msg, msg_size)
                   : snet_trainer_save(tr, opt->checkpoint_path, msg, msg_size);
    if (failed_anywhere(rc) && !rc) {
        rc = SNET_EIO;
        msg[0] = 0;
    }
    return rc;
}

/* The shard buffers, then the ranks agree on how the setup went. Local failures are usually the
 * same on every rank (same options and files): when rank 0 has one it reports it and the others
 * only return; otherwise each failing rank reports. */
static int begin_training(snet_trainer *tr, int rc, char *msg, size_t msg_size, void *ctx)
{
    dist_training *d = ctx;
    if (!rc && (d->S < d->K || d->S > d->B)) {
        snprintf(msg, msg_size, "--grad-shards %zu: expected between the number of ranks (%zu) and --batch (%zu)",
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
            snprintf(msg, msg_size, "out of memory for %zu shard gradients of %zu floats", d->n_mine, d->P);
            rc = SNET_ENOMEM;
        }
    }
    if (begin_part())
        return rc ? rc : SNET_EIO;
    int failed[2] = {rc != SNET_OK, g_rank == 0 && rc != SNET_OK};
#ifdef SCORESDE_WITH_MPI
    if (g_mpi && g_size > 1)
        max_over_ranks(failed, 2);
#endif
    if (!failed[0])
        return SNET_OK;
    if (g_rank != 0 && failed[1])
        msg[0] = 0;
    return rc ? rc : SNET_EIO;
}

/* Rank 0 decides whether the checkpoint exists; every rank reads it. */
static int resume_from_root(const char *path, void *ctx)
{
    (void)ctx;
    int resume = g_rank != 0 || access(path, F_OK) == 0;
#ifdef SCORESDE_WITH_MPI
    if (g_mpi && g_size > 1)
        MPI_Bcast(&resume, 1, MPI_INT, 0, g_comm);
#endif
    return resume;
}

static int check_resumed(const snet_trainer *tr, int rc, char *msg, size_t msg_size, void *ctx)
{
    const dist_training *d = ctx;
    if (failed_anywhere(rc))
        return rc ? rc : SNET_EIO;
    if (same_weights_everywhere(snet_trainer_model(tr), tr))
        return SNET_OK;
    snprintf(msg, msg_size, "%s: the ranks read different weights (is the file the same on every node?)",
             d->checkpoint_path);
    if (g_rank != 0)
        msg[0] = 0;
    return SNET_EINVAL;
}

/* This rank's shard gradients, summed over the ranks (reduce), applied by every rank; an
 * interrupt on any rank stops all after this step. */
static int sharded_step(snet_trainer *tr, snet_dataset *data, snet_train_progress *pr, int *stop, char *msg,
                        size_t msg_size, void *ctx)
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
    if (g_mpi && g_size > 1) {
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, d->parts, (int)(S + 2), MPI_DOUBLE, MPI_SUM, g_comm, &req);
        wait_quietly(&req);
    }
#endif
    if (d->parts[S] != 0) {
        if (local)
            snprintf(msg, msg_size, "step %llu: %s", (unsigned long long)step + 1, snet_strerror(local));
        return local ? local : SNET_EIO;
    }
    double loss = 0.0;
    for (size_t j = 0; j < S; j++)
        loss += d->parts[j];
    reduce_gradient(d->grads, d->n_mine, d->P, d->reduce, d->acc);
    d->reduce_seconds += wall_seconds() - r0;
    int rc = snet_trainer_apply_grad(tr, d->acc, loss, pr);
    if (rc == SNET_ENONFINITE) { /* the same on every rank: rank 0 says it */
        snprintf(msg, msg_size, "step %llu: loss %g, gradient norm %g: not finite (try a lower lr)",
                 (unsigned long long)pr->step, pr->loss, pr->grad_norm);
        if (g_rank != 0)
            msg[0] = 0;
        return rc;
    }
    *stop = d->parts[S + 1] != 0;
    return rc;
}

int dist_train_run(const snet_config *cfg, snet_dataset *data, const snet_train_options *opt,
                   size_t shards, dist_reduce reduce, int quiet, snet_train_report *report, char *msg,
                   size_t msg_size)
{
    const size_t K = (size_t)g_size, S = shards ? shards : K;
    dist_training d = {.K = K, .S = S, .B = opt->batch, .reduce = reduce, .checkpoint_path = opt->checkpoint_path,
                       .first_shard = (size_t)g_rank * S / K,
                       .n_mine = ((size_t)g_rank + 1) * S / K - (size_t)g_rank * S / K};
    const snet_train_hooks hooks = {.begin = begin_training, .resume_from = resume_from_root,
                                    .after_resume = check_resumed, .step = sharded_step, .save = save_on_root,
                                    .ctx = &d};
    snet_train_options o = *opt;
    o.hooks = &hooks;
    if (g_rank != 0)
        o.log = NULL; /* rank 0 reports; stopping comes from cli_interrupted on any rank */
    snet_train_report rep;
    int rc = snet_train_run(cfg, data, &o, &rep, NULL, msg, msg_size);
    uint64_t n_run = rep.end_step - rep.start_step;
    if (rc == SNET_OK && g_rank == 0 && K > 1 && n_run > 0 && !quiet)
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
