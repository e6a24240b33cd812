/* snet_gemm.c — tiled single-threaded sgemm over OpenMP threads; see snet_gemm.h for why. */
#include "snet_gemm.h"

#include <cblas.h>
#include <omp.h>

/* OpenBLAS' own calls (declared in its cblas.h on Debian, repeated here for other builds). */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);
char *openblas_get_corename(void);

int snet_blas_single_begin(void)
{
    int n = openblas_get_num_threads();
    if (n > 1)
        openblas_set_num_threads(1);
    return n;
}

void snet_blas_single_end(int saved_threads)
{
    if (saved_threads > 1)
        openblas_set_num_threads(saved_threads);
}

const char *snet_blas_config(void)
{
    const char *s = openblas_get_config();
    return s ? s : "unknown BLAS";
}

const char *snet_blas_kernel(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

typedef struct gemm_args {
    enum CBLAS_TRANSPOSE ta, tb;
    size_t M, N, K;
    const float *A, *B;
    size_t lda, ldb, ldc;
    float beta;
    float *C;
    size_t tile_m, tile_n, tiles_m, tiles_n; /* the tiling: a function of (M, N, K) alone */
} gemm_args;

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

/* Cuts C into about flops/SNET_GEMM_TILE_FLOP tiles (at most SNET_GEMM_MAX_TILES), halving the
 * longer tile edge while it stays ≥ 2·SNET_GEMM_MIN_EDGE: near-square tiles keep the packing each
 * call repeats (its rows of op(A) and columns of op(B)) small beside its arithmetic. Edges are
 * multiples of 16, the kernels' register blocks. */
static void gemm_tiling(gemm_args *g)
{
    double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
    double want = flops / SNET_GEMM_TILE_FLOP;
    size_t tiles_m = 1, tiles_n = 1;
    while ((double)(2 * tiles_m * tiles_n) <= want && 2 * tiles_m * tiles_n <= SNET_GEMM_MAX_TILES) {
        size_t edge_m = ceil_div(g->M, tiles_m), edge_n = ceil_div(g->N, tiles_n);
        if (edge_n >= edge_m && edge_n >= 2 * SNET_GEMM_MIN_EDGE)
            tiles_n *= 2;
        else if (edge_m >= 2 * SNET_GEMM_MIN_EDGE)
            tiles_m *= 2;
        else
            break;
    }
    g->tile_m = ceil_div(ceil_div(g->M, tiles_m), 16) * 16;
    g->tile_n = ceil_div(ceil_div(g->N, tiles_n), 16) * 16;
    g->tiles_m = ceil_div(g->M, g->tile_m);
    g->tiles_n = ceil_div(g->N, g->tile_n);
}

/* Tile (i, j): rows [i·tile_m, …) and columns [j·tile_n, …) of C, one BLAS call. */
static void gemm_tile(const gemm_args *g, size_t i, size_t j)
{
    size_t m0 = i * g->tile_m, n0 = j * g->tile_n;
    size_t m = g->M - m0 < g->tile_m ? g->M - m0 : g->tile_m;
    size_t n = g->N - n0 < g->tile_n ? g->N - n0 : g->tile_n;
    // op(A) rows m0.. start at A + m0·lda (A is (M, K)) or A + m0 (A is (K, M), transposed)
    const float *a = g->ta == CblasTrans ? g->A + m0 : g->A + m0 * g->lda;
    // op(B) columns n0.. start at B + n0 (B is (K, N)) or B + n0·ldb (B is (N, K), transposed)
    const float *b = g->tb == CblasTrans ? g->B + n0 * g->ldb : g->B + n0;
    float *c = g->C + m0 * g->ldc + n0;
    if (m == 1) { // one row: cᵀ = op(B)ᵀ·aᵀ, a matrix–vector product with B as stored
        size_t inc_a = g->ta == CblasTrans ? g->lda : 1;
        if (g->tb == CblasTrans)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)g->K, 1.0f, b, (int)g->ldb, a,
                        (int)inc_a, g->beta, c, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)g->K, (int)n, 1.0f, b, (int)g->ldb, a,
                        (int)inc_a, g->beta, c, 1);
    } else if (n == 1) { // c (m, 1) = op(A)·b, b a column of op(B), written down a column of C
        size_t inc_b = g->tb == CblasTrans ? 1 : g->ldb;
        if (g->ta == CblasTrans)
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)g->K, (int)m, 1.0f, a, (int)g->lda, b,
                        (int)inc_b, g->beta, c, (int)g->ldc);
        else
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)g->K, 1.0f, a, (int)g->lda, b,
                        (int)inc_b, g->beta, c, (int)g->ldc);
    } else {
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, (int)m, (int)n, (int)g->K, 1.0f, a, (int)g->lda,
                    b, (int)g->ldb, g->beta, c, (int)g->ldc);
    }
}

void snet_sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    gemm_args g = {trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                   A, B, lda, ldb, ldc, beta, C, 0, 0, 0, 0};
    gemm_tiling(&g);
    const size_t n_tiles = g.tiles_m * g.tiles_n;
    if (omp_in_parallel()) { // the caller's region already holds the threads and set OpenBLAS to 1
        for (size_t q = 0; q < n_tiles; q++)
            gemm_tile(&g, q / g.tiles_n, q % g.tiles_n);
        return;
    }
    const int blas = snet_blas_single_begin();
#pragma omp parallel for schedule(static) if (n_tiles > 1)
    for (size_t q = 0; q < n_tiles; q++)
        gemm_tile(&g, q / g.tiles_n, q % g.tiles_n);
    snet_blas_single_end(blas);
}
