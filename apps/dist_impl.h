/* dist_impl.h — what the parts of the MPI layer share (private to apps/): dist.c holds the
 * session and these primitives; dist_chunks.c and dist_train.c use them. */
#ifndef SCORESDE_DIST_IMPL_H
#define SCORESDE_DIST_IMPL_H

#include <stddef.h>

#include "dist.h"

#ifdef SCORESDE_WITH_MPI
#include <mpi.h>
#endif

/* 1 when running on several MPI ranks. */
int dist_parallel(void);

/* Called by every rank at the start of a distributed part: 0 when every rank is there, else the
 * status to return without doing the part (some rank failed before it and is in dist_finalize,
 * which answers this call). */
int dist_begin_part(void);

static inline size_t dist_min_size(size_t a, size_t b) { return a < b ? a : b; }

#ifdef SCORESDE_WITH_MPI
enum { DIST_TAG_RESULT = 101, DIST_TAG_ASSIGN = 102, DIST_TAG_GRAD = 103 };
enum { DIST_POLL_MIN_NS = 10000, DIST_POLL_MAX_NS = 250000, DIST_SPIN_TESTS = 200 }; /* dist_wait's polling */

MPI_Comm dist_comm(void); /* a duplicate of MPI_COMM_WORLD: the tool's messages only */
void dist_pause_ns(long ns);
/* Waits for a request without holding a core for long: a rank that waits may share its core with
 * one that computes (rank 0's service thread, more ranks than cores, other users). Tests the
 * request a few hundred times in a row (a message in flight), then every 10 µs .. 250 µs. */
void dist_wait(MPI_Request *req);
/* Element-wise maximum of n ints over the ranks, in place. */
void dist_max_over_ranks(int *v, int n);
#endif

#endif
