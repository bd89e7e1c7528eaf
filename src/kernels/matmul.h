/* matmul.h — the project's dense products (OpenBLAS underneath) with results
 * independent of the thread count.
 *
 * OpenBLAS splits a product between its threads in a way that depends on
 * their number, and the rounding of the result follows the split; quantization
 * then amplifies last-bit differences through rounding decisions. Here the
 * output is cut into fixed tiles (MM_TILE_M rows x MM_TILE_N columns, from the
 * shape alone), each tile is one single-threaded BLAS call, and OpenMP spreads
 * the tiles over the threads: every element is computed by the same code in
 * the same order whatever the thread count. Every cblas_/LAPACKE_ call of the
 * project outside the latency benchmark goes through this file. */
#ifndef PTQ_MATMUL_H
#define PTQ_MATMUL_H

#include <cblas.h>
#include <stdint.h>

#include "common.h"
#include "w16.h"

enum { PTQ_MM_TILE_M = 256, PTQ_MM_TILE_N = 128 };

/* cblas_sgemm, row-major: C = alpha op(A) op(B) + beta C (M x N, K inner). */
void ptq_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* C (M x N) = A W^T + beta C with W (N x K) not held as fp32: `widen`
 * writes rows [r0, r0 + n) of W as fp32 into dst (n x K, leading dimension
 * K). The tiles are ptq_sgemm's: each PTQ_MM_TILE_N-row panel of W is widened
 * into a per-thread buffer and multiplied by one single-threaded BLAS call
 * per PTQ_MM_TILE_M rows of A, the call ptq_sgemm makes for that tile, so the
 * result is bit for bit ptq_sgemm(NoTrans, Trans) on the widened matrix,
 * without ever holding more than one panel per thread in fp32 (fails only
 * when that panel cannot be allocated). */
typedef void (*ptq_widen_fn)(const void *ctx, int r0, int n, float *dst);
int ptq_sgemm_panels(int M, int N, int K, const float *A, int lda, ptq_widen_fn widen, const void *ctx, float beta,
                     float *C, int ldc, ptq_err *err);

/* C (M x N) = A W^T + beta C, W (N x K) stored as bf16/fp16: ptq_sgemm_panels
 * widening panels of w (bit for bit the product on the widened matrix). */
int ptq_sgemm_w16(int M, int N, int K, const float *A, int lda, const ptq_w16 *w, float beta, float *C, int ldc,
                  ptq_err *err);

/* cblas_dsyrk, row-major, upper, transposed: C (n x n, upper triangle) =
 * alpha A^T A + beta C with A k x n. */
void ptq_dsyrk_upper_t(int n, int k, double alpha, const double *A, int lda, double beta, double *C, int ldc);

/* Run what is between them (LAPACK, which calls BLAS inside) on one BLAS
 * thread: begin returns a token for end, which restores the thread count. */
int ptq_blas_serial_begin(void);
void ptq_blas_serial_end(int token);

#endif
