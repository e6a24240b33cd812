/* snet_gemm.h — the network's one matrix product, split over threads by the project, not the BLAS.
 *
 * Why. A multi-threaded BLAS decides how to split a product by its thread count, and with some
 * kernels the split changes how a dot product is blocked: OpenBLAS 0.3.21 with its Haswell and
 * Zen kernels gave other last bits with 1 and 2 threads (an MLP forward at batch 1000, D = 784,
 * and whole training runs, on an AMD EPYC), with SkylakeX and Cooperlake it happened not to. So
 * snet_sgemm cuts the output C into tiles whose size is a function of the shape alone, computes
 * each tile with ONE single-threaded cblas_sgemm over the whole reduction length K (cblas_sgemv
 * for a one-row or one-column tile), and hands whole tiles to OpenMP threads. Every element of C
 * is then made by the same BLAS call with the same arguments whatever the thread count: the
 * result is bit-identical for 1, 2, 3, … threads on one build and one BLAS kernel. Across kernels
 * (OPENBLAS_CORETYPE) and across batch sizes (a row in another tile shape) results agree to
 * rounding only.
 *
 * OpenBLAS' own thread count. A single-threaded call needs OpenBLAS at one thread; its setting is
 * process-wide, so snet_sgemm sets it to 1 for the duration of a call from serial code and
 * restores it after (snet_blas_single_begin/end). Code that runs several products inside one
 * OpenMP parallel region (the convolution lanes, the U-Net shards) brackets the whole region with
 * the same pair; snet_sgemm called inside a parallel region runs its tiles in the calling thread.
 * Idle OpenBLAS threads then never wait beside OpenMP's on a shared core.
 */
#ifndef SNET_GEMM_H
#define SNET_GEMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C (M, N) = op(A)·op(B) + beta·C, row-major, op(A) = A (M, K) or, if trans_a, Aᵀ with A (K, M);
 * op(B) = B (K, N) or, if trans_b, Bᵀ with B (N, K); lda/ldb/ldc are the row strides as stored.
 * The tiles: about one per SNET_GEMM_TILE_FLOP floating-point operations (2·M·N·K), at most
 * SNET_GEMM_MAX_TILES, edges at least SNET_GEMM_MIN_EDGE where the shape allows; a product
 * smaller than two tiles' worth is one call in the calling thread (a fork would cost more than it
 * saves, and far more on a busy machine). Measured on 2 cores (AMD EPYC, Haswell kernel): the
 * 784-input, 1024-wide MLP runs at 88–95 % of OpenBLAS' own 2-thread sgemm rate at batch ≥ 256
 * (benchmarks/results/kernels.md); the 256-wide 2-D MLP's forward at batch 256 came out ≈ 10 %
 * slower than with OpenBLAS threading the products itself (each tile packs its own panels, where
 * OpenBLAS' threads share them). The three numbers may be set at build time
 * (-DSNET_GEMM_TILE_FLOP=…); results are bit-identical within one build. */
#ifndef SNET_GEMM_TILE_FLOP
#define SNET_GEMM_TILE_FLOP 4e6
#endif
#ifndef SNET_GEMM_MAX_TILES
#define SNET_GEMM_MAX_TILES 8
#endif
#ifndef SNET_GEMM_MIN_EDGE
#define SNET_GEMM_MIN_EDGE 128
#endif
void snet_sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* Sets OpenBLAS to one thread and returns the count it had; snet_blas_single_end(count) restores
 * it. Pairs nest; call both from serial code. */
int snet_blas_single_begin(void);
void snet_blas_single_end(int saved_threads);

/* The BLAS in use: library and version (OpenBLAS' configuration string, e.g. "OpenBLAS 0.3.21
 * DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64") and the name of the CPU kernel it runs
 * ("Haswell", "SkylakeX", …). Static strings owned by the BLAS; never NULL. */
const char *snet_blas_config(void);
const char *snet_blas_kernel(void);

#ifdef __cplusplus
}
#endif

#endif
