/* dist.c — scoresde over MPI ranks, the session: start, agreement before each distributed part, end,
 * and the primitives its two users share (dist_impl.h): points in chunks (dist_chunks.c) and
 * data-parallel training (dist_train.c). See dist.h and docs/mpi.md. Every MPI call of the tool is
 * in these three files, under SCORESDE_WITH_MPI; without it they are the one-process case. */
#include "dist_impl.h"

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
#endif

static int g_rank = 0, g_size = 1;

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }


/* ================================================================================================
 * Session: start, agreement before each distributed part, end
 * ============================================================================================== */

#ifdef SCORESDE_WITH_MPI
static int g_mpi = 0;
static MPI_Comm g_comm = MPI_COMM_NULL; /* a duplicate of MPI_COMM_WORLD: our messages only */

MPI_Comm dist_comm(void) { return g_comm; }

void dist_pause_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Waits for a request without holding a core for long: a rank that waits may share its core with
 * one that computes (rank 0's service thread, more ranks than cores, other users). Tests the
 * request DIST_SPIN_TESTS times in a row (a few microseconds: a message in flight), then every 10 µs
 * .. 250 µs. */
void dist_wait(MPI_Request *req)
{
    long ns = DIST_POLL_MIN_NS;
    for (int spins = 0;; spins++) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        if (spins < DIST_SPIN_TESTS)
            continue;
        dist_pause_ns(ns);
        if (ns < DIST_POLL_MAX_NS)
            ns *= 2;
    }
}

/* Element-wise maximum of n ints over the ranks, in place. */
void dist_max_over_ranks(int *v, int n)
{
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_INT, MPI_MAX, g_comm, &req);
    dist_wait(&req);
}
#endif

int dist_parallel(void)
{
#ifdef SCORESDE_WITH_MPI
    return g_mpi && g_size > 1;
#else
    return 0;
#endif
}

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
int dist_begin_part(void)
{
#ifdef SCORESDE_WITH_MPI
    if (!g_mpi || g_size == 1)
        return 0;
    int v[3] = {0, 1, 0}; /* status, staying, leaving */
    dist_max_over_ranks(v, 3);
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
        for (;;) { /* answer dist_begin_part of ranks still waiting to start a part, until all are here */
            int v[3] = {status, 0, 1};
            dist_max_over_ranks(v, 3);
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
