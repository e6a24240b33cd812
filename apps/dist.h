/* dist.h — scoresde over MPI ranks: `mpirun -np K scoresde sample|likelihood|encode|decode|evaluate|
 * compare|train ...` (docs/mpi.md).
 *
 * Every MPI call of the tool is in dist.c, behind SCORESDE_WITH_MPI (CMake option SCORESDE_MPI).
 * Without it, or when the tool was not started by an MPI launcher, each function is the
 * one-process case: rank 0 of 1, chunks computed in order, training on one process.
 *
 * Points (samples, data points) are cut into the chunks a one-process run makes: chunk k holds
 * indices [k·chunk, min((k+1)·chunk, n)) with chunk = --batch. The samplers' randomness is keyed
 * by (seed, sample index) and their batch-dependent modes (--joint, --langevin-norm batch) see the
 * same batch-mates, so a chunk's bits do not depend on the rank that computes it, and the output
 * file is byte-identical whatever K. Chunks are handed out on demand (an adaptive ODE solve has a
 * different NFE per chunk): a thread of rank 0 gives the next chunk index to whichever rank asks,
 * receives the results and delivers them to rank 0's writer in index order; rank 0 computes chunks
 * too. Rank 0 buffers at most 2K chunks that arrived ahead of an earlier one.
 *
 * Failures: a rank whose chunk fails reports it (stderr) and the others stop after their current
 * chunk; every rank then returns the same status. A rank that fails before the distributed part
 * (bad file, ...) is noticed by the others when it reaches dist_finalize: they skip the distributed
 * part and return its status.
 */
#ifndef SCORESDE_DIST_H
#define SCORESDE_DIST_H

#include <stddef.h>

#include "cli.h" /* progress */

#include "snet_data.h"
#include "snet_train.h"

/* Starts MPI when the process was started by an MPI launcher (mpirun/srun: OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_RANK in the environment) or SCORESDE_MPI_INIT=1; otherwise nothing. Ranks
 * other than 0 get stdout on /dev/null (rank 0 prints the summaries). Returns 0, or 1 after
 * printing why. */
int dist_init(int *argc, char ***argv);
/* Waits until every rank has reached dist_finalize (releasing ranks that wait to start a
 * distributed part: they return status), then ends MPI. Returns status. */
int dist_finalize(int status);
int dist_rank(void); /* 0 without MPI */
int dist_size(void); /* 1 without MPI */
static inline int dist_is_root(void) { return dist_rank() == 0; }

/* ---- points in chunks ------------------------------------------------------------------------ */

enum { DIST_MAX_INFO = 8 };

typedef struct dist_chunks {
    size_t n_items;   /* items 0 .. n_items − 1 */
    size_t chunk;     /* items per chunk (≥ 1; the command's --batch) */
    size_t row_width; /* doubles per item that compute writes */
    size_t n_info;    /* doubles of per-chunk summary (≤ DIST_MAX_INFO), e.g. an NFE sum */
    /* Every rank: computes items first .. first + n − 1 into rows[n·row_width] and info[n_info].
     * Returns 0, or an exit status after reporting the failure on stderr. */
    int (*compute)(void *ctx, size_t first, size_t n, double *rows, double *info);
    /* Rank 0 only, once per chunk, in increasing `first` order: takes a computed chunk (write it
     * out, copy it, sum its info). Returns 0, or an exit status after reporting. */
    int (*deliver)(void *ctx, size_t first, size_t n, const double *rows, const double *info);
    void *ctx;
    const char *label; /* progress bar label, e.g. "sample" */
    int quiet;         /* no progress bar and no load-balance line */
    size_t delivered;  /* out (rank 0): items delivered, in order, when dist_run_chunks returned */
    progress *bar;     /* set while dist_run_chunks runs: compute may report a chunk part-way
                          through (progress_update_partial; quiet on ranks other than 0) */
} dist_chunks;

/* Runs the job over all ranks (collective: every rank calls it with the same n_items, chunk,
 * row_width and n_info). Rank 0 shows a progress bar over n_items and, with K > 1, a line on the
 * load balance (chunks and busy seconds per rank). SCORESDE_DIST_TRACE=FILE makes rank 0 write
 * FILE (CSV): chunk,first,n,rank,seconds,info0,... per chunk. Returns 0 or the failing status, the
 * same on every rank. */
int dist_run_chunks(dist_chunks *job);

/* ---- data-parallel training ------------------------------------------------------------------ */

typedef enum dist_reduce {
    DIST_REDUCE_ORDERED = 0,  /* shard gradients summed in shard order, along a chain of ranks */
    DIST_REDUCE_ALLREDUCE = 1 /* each rank sums its shards, then MPI_Allreduce (MPI's order) */
} dist_reduce;

/* snet_train_run over the ranks. Each step's batch is cut into `shards` row ranges
 * [j·B/S, (j+1)·B/S) (S = shards; 0 means K), rank r computes shards [r·S/K, (r+1)·S/K) with
 * snet_trainer_shard_grad, the gradients are summed (reduce), and every rank applies the same
 * step. With DIST_REDUCE_ORDERED the sum is ((g_0 + g_1) + g_2) + … in float whatever K, so runs
 * with the same S give bit-identical weights for any K ≤ S (S = 1 is snet_train_run's bits).
 * Rank 0 alone calls opt->log and writes checkpoints and opt->out_path; every rank reads the
 * checkpoint to resume (it must be visible to all), with any K. The ranks compare a hash of their
 * weights after a resume and at each checkpoint. SIGINT/SIGTERM on any rank stops every rank after
 * the current step (SNET_ESTOPPED, checkpoint written when opt->checkpoint_on_stop).
 * Rank 0 prints the time spent reducing per step on stderr unless quiet (K > 1).
 * Returns an snet status, the same on every rank; err (may be NULL) is worded on the rank(s) where
 * the failure arose, its message left empty on the others. */
int dist_train_run(const snet_config *cfg, snet_dataset *data, const snet_train_options *opt,
                   size_t shards, dist_reduce reduce, int quiet, snet_train_report *report,
                   scoresde_error *err);

#endif
