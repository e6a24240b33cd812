/* dist_chunks.c — points in chunks over the ranks (dist_run_chunks, dist.h): rank 0 serves chunk
 * indices from a second thread and gathers the rows; the other ranks compute. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dist_impl.h"

#ifdef SCORESDE_WITH_MPI
#include <pthread.h>
#endif


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
    return dist_min_size(job->chunk, job->n_items - k * job->chunk);
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
    MPI_Send(&k, 1, MPI_LONG_LONG, rank, DIST_TAG_ASSIGN, dist_comm());
}

/* Rank 0's service thread: answers each other rank's "here is my chunk, give me the next" until
 * every rank has been told to stop. Sleeps between polls, so it costs rank 0's core nothing. */
static void *serve_chunks(void *arg)
{
    chunk_service *s = arg;
    int K = dist_size(), active = K - 1;
    long long *assigned = malloc(K * sizeof *assigned); /* chunk each rank is computing, −1 none */
    unsigned char *parked = calloc(K, 1);                /* asked while the window was full */
    double head[HEAD];
    if (!assigned || !parked) {
        fprintf(stderr, "scoresde: out of memory in the chunk service\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int r = 0; r < K; r++)
        assigned[r] = -1;
    long idle_ns = DIST_POLL_MIN_NS;
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
        MPI_Iprobe(MPI_ANY_SOURCE, DIST_TAG_RESULT, dist_comm(), &flag, &st);
        if (!flag) {
            dist_pause_ns(idle_ns);
            if (idle_ns < DIST_POLL_MAX_NS)
                idle_ns *= 2;
            continue;
        }
        idle_ns = DIST_POLL_MIN_NS;
        int r = st.MPI_SOURCE;
        MPI_Get_count(&st, MPI_DOUBLE, &count);
        /* a result goes straight into its chunk's slot (reserved since the chunk was handed out) */
        double *buf = count > HEAD && assigned[r] >= 0 ? slot_of(s, (size_t)assigned[r]) : head;
        MPI_Recv(buf, count, MPI_DOUBLE, r, DIST_TAG_RESULT, dist_comm(), MPI_STATUS_IGNORE);
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
    s.window = 2 * (size_t)dist_size();
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
                dist_rank(), len);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int status = 0;
    buf[0] = 0, buf[1] = -1, buf[2] = 0;
    MPI_Send(buf, HEAD, MPI_DOUBLE, 0, DIST_TAG_RESULT, dist_comm()); /* "give me a chunk" */
    for (;;) {
        long long k;
        MPI_Request req;
        MPI_Irecv(&k, 1, MPI_LONG_LONG, 0, DIST_TAG_ASSIGN, dist_comm(), &req);
        dist_wait(&req);
        if (k < 0)
            break;
        double seconds;
        int rc = compute_chunk(job, (size_t)k, buf + HEAD + job->n_info, buf + HEAD, log, &seconds);
        buf[0] = rc, buf[1] = (double)k, buf[2] = seconds;
        if (rc && !status)
            status = rc;
        size_t n = rc ? HEAD : HEAD + job->n_info + chunk_len(job, (size_t)k) * job->row_width;
        MPI_Send(buf, (int)n, MPI_DOUBLE, 0, DIST_TAG_RESULT, dist_comm());
    }
    free(buf);
    return status;
}

/* Rank 0: the load-balance line. */
static void report_balance(const dist_chunks *job, const chunk_log *log, double wall)
{
    double mine[2] = {log->busy, (double)log->chunks}, *all = NULL;
    if (dist_rank() == 0)
        all = malloc(2 * (size_t)dist_size() * sizeof *all);
    MPI_Gather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, dist_comm());
    if (dist_rank() != 0 || !all || job->quiet) {
        free(all);
        return;
    }
    double lo = INFINITY, hi = 0, sum = 0;
    size_t c_lo = SIZE_MAX, c_hi = 0;
    for (int r = 0; r < dist_size(); r++) {
        lo = fmin(lo, all[2 * r]), hi = fmax(hi, all[2 * r]), sum += all[2 * r];
        c_lo = dist_min_size(c_lo, (size_t)all[2 * r + 1]);
        c_hi = (size_t)all[2 * r + 1] > c_hi ? (size_t)all[2 * r + 1] : c_hi;
    }
    fprintf(stderr, "%s: %d ranks, %zu chunks of %zu (%zu..%zu per rank), busy %.3f..%.3f s per rank in "
                    "%.3f s: %.1f%% idle\n", job->label, dist_size(), chunk_count(job), job->chunk, c_lo, c_hi, lo,
            hi, wall, wall > 0 ? 100.0 * (1.0 - sum / ((double)dist_size() * wall)) : 0.0);
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
    int status = dist_begin_part();
    if (status || job->n_items == 0)
        return status;
    if (job->chunk < 1 || job->n_info > DIST_MAX_INFO)
        return cli_fail(job->label, "chunks of %zu items with %zu info values (expected ≥ 1 and ≤ %d)",
                        job->chunk, job->n_info, DIST_MAX_INFO);
    chunk_log log = {0};
    if (dist_rank() == 0 && getenv("SCORESDE_DIST_TRACE") && job->n_items) {
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
    progress_start(&bar, job->label, job->n_items, job->quiet || dist_rank() != 0);
    job->bar = &bar;
    double start = wall_seconds();
#ifdef SCORESDE_WITH_MPI
    if (dist_parallel()) {
        if ((size_t)HEAD + DIST_MAX_INFO + job->chunk * job->row_width > (size_t)2147483647 / 2)
            status = cli_fail(job->label, "chunks of %zu × %zu values are too large for one message; lower "
                              "--batch", job->chunk, job->row_width);
        else
            status = dist_rank() == 0 ? run_chunks_root(job, &bar, &log) : run_chunks_worker(job, &log);
        double wall = wall_seconds() - start;
        int v[1] = {status};
        dist_max_over_ranks(v, 1);
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

