/* matmul.c — see matmul.h. */
#include "matmul.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "kinternal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int openblas_get_parallel(void);
void openblas_set_num_threads(int n);

/* A pthreads OpenBLAS has its own thread pool, set once to one thread; an
 * OpenMP OpenBLAS sizes each call by the caller's OpenMP thread count (and
 * runs on one thread inside a parallel region), so that count is lowered to
 * one around each call instead (openblas_set_num_threads would change the
 * program's own OpenMP thread count there). */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static void pool_single(void) {
    if (openblas_get_parallel() == 1) openblas_set_num_threads(1);
}

int ptq_blas_serial_begin(void) {
    pthread_once(&pool_once, pool_single);
#ifdef _OPENMP
    int n = omp_get_max_threads();
    if (n > 1) omp_set_num_threads(1);
    return n;
#else
    return 1;
#endif
}

void ptq_blas_serial_end(int token) {
#ifdef _OPENMP
    if (token > 1) omp_set_num_threads(token);
#else
    (void)token;
#endif
}

static int ntiles(int n, int tile) { return n > 0 ? (n + tile - 1) / tile : 0; }

/* One row (decode): sgemm would pack each B panel, an extra pass over the
 * weights; a GEMV reads them once. Fixed blocks of GEMV_ROWS outputs, one
 * single-threaded GEMV each, so the order per element stays fixed; the panel
 * product (below) makes the same calls on its widened panels. y = x W^T
 * (W rows contiguous) is the fixed-lane ptq_gemv_rows on AVX-512 CPUs (the
 * same bits for a 16-bit W, no widened copy), else OpenBLAS's sgemv. */
enum { GEMV_ROWS = 64 };
static int g_lanes;
static pthread_once_t lanes_once = PTHREAD_ONCE_INIT;
static void lanes_init(void) {
    __builtin_cpu_init();
    g_lanes = ptq_kern_isa_best() == PTQ_ISA_AVX512VNNI && __builtin_cpu_supports("avx512vl");
}
static int lanes_gemv(void) {
    pthread_once(&lanes_once, lanes_init);
    return g_lanes;
}

static void sgemv_block(CBLAS_TRANSPOSE tb, int n, int K, float alpha, const float *A, int inca, const float *B, int ldb,
                        float beta, float *C) {
    if (tb == CblasTrans && inca == 1 && lanes_gemv()) {
        ptq_gemv_rows_avx512(n, K, alpha, 0, B, ldb, A, beta, C);
        return;
    }
    if (beta == 0.f) memset(C, 0, sizeof(float) * n); /* beta 0 must not read C (NaN * 0) */
    int tok = ptq_blas_serial_begin();
    if (tb == CblasTrans) /* B is n x K: y = B x */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, K, alpha, B, ldb, A, inca, beta, C, 1);
    else /* B is K x n: y = B^T x */
        cblas_sgemv(CblasRowMajor, CblasTrans, K, n, alpha, B, ldb, A, inca, beta, C, 1);
    ptq_blas_serial_end(tok);
}

/* Tile b of y = op(B) x; B holds fp32 (dtype 0) or, on the lane path only,
 * 16-bit rows (PTQ_W16_*), read as they are. */
static void sgemv_tile(CBLAS_TRANSPOSE tb, int b, int N, int K, float alpha, const float *A, int inca, const void *B,
                       int dtype, int ldb, float beta, float *C) {
    int j0 = b * GEMV_ROWS, n = PTQ_MIN(GEMV_ROWS, N - j0);
    if (dtype)
        ptq_gemv_rows_avx512(n, K, alpha, dtype, (const uint16_t *)B + (size_t)j0 * ldb, ldb, A, beta, C + j0);
    else {
        const float *Bf = B;
        sgemv_block(tb, n, K, alpha, A, inca, tb == CblasTrans ? Bf + (size_t)j0 * ldb : Bf + j0, ldb, beta, C + j0);
    }
}

static void sgemv_row(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int N, int K, float alpha, const float *A, int lda,
                      const void *B, int dtype, int ldb, float beta, float *C) {
    int nb = ntiles(N, GEMV_ROWS), inca = ta == CblasNoTrans ? 1 : lda;
    float *xc = NULL;
    if (inca != 1 && tb == CblasTrans && lanes_gemv() && (xc = malloc(sizeof(float) * K))) {
        for (int k = 0; k < K; k++) xc[k] = A[(size_t)k * inca]; /* a column of A: the lane kernel reads x contiguous */
        A = xc, inca = 1;
    }
    if (nb == 1 || (long)N * K <= 32768) { /* no OpenMP region: entering one (even if(0)) allocates a team */
        for (int b = 0; b < nb; b++) sgemv_tile(tb, b, N, K, alpha, A, inca, B, dtype, ldb, beta, C);
    } else {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < nb; b++) sgemv_tile(tb, b, N, K, alpha, A, inca, B, dtype, ldb, beta, C);
    }
    free(xc);
}

void ptq_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 1 && K > 0) {
        sgemv_row(ta, tb, N, K, alpha, A, lda, B, 0, ldb, beta, C);
        return;
    }
    int tm = ntiles(M, PTQ_MM_TILE_M), tn = ntiles(N, PTQ_MM_TILE_N);
    long tiles = (long)tm * tn;
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1)
    for (long t = 0; t < tiles; t++) {
        int i0 = (int)(t / tn) * PTQ_MM_TILE_M, j0 = (int)(t % tn) * PTQ_MM_TILE_N;
        int m = PTQ_MIN(PTQ_MM_TILE_M, M - i0), n = PTQ_MIN(PTQ_MM_TILE_N, N - j0);
        const float *a = ta == CblasNoTrans ? A + (size_t)i0 * lda : A + i0;
        const float *b = tb == CblasNoTrans ? B + j0 : B + (size_t)j0 * ldb;
        int tok = ptq_blas_serial_begin();
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, K, alpha, a, lda, b, ldb, beta, C + (size_t)i0 * ldc + j0, ldc);
        ptq_blas_serial_end(tok);
    }
}

/* One panel buffer per thread, grown on demand and kept; freed when its
 * thread exits (a pthread key destructor: OpenMP teams shrink and grow). */
static _Thread_local float *panel_buf;
static _Thread_local size_t panel_cap;
static pthread_key_t panel_key;
static pthread_once_t panel_once = PTHREAD_ONCE_INIT;
static void panel_key_make(void) { pthread_key_create(&panel_key, free); }

static float *panel_get(size_t n) {
    if (n <= panel_cap) return panel_buf;
    pthread_once(&panel_once, panel_key_make);
    float *p = realloc(panel_buf, n * sizeof(float));
    if (!p) return NULL;
    panel_buf = p, panel_cap = n;
    pthread_setspecific(panel_key, p);
    return p;
}

int ptq_sgemm_panels(int M, int N, int K, const float *A, int lda, ptq_widen_fn widen, const void *ctx, float beta,
                     float *C, int ldc, ptq_err *err) {
    _Static_assert(PTQ_MM_TILE_N % GEMV_ROWS == 0, "panel GEMV blocks must align with ptq_sgemm's");
    int tm = ntiles(M, PTQ_MM_TILE_M), tn = ntiles(N, PTQ_MM_TILE_N);
    int fail = 0;
#pragma omp parallel for schedule(dynamic, 1) if (tn > 1) reduction(| : fail)
    for (int jt = 0; jt < tn; jt++) {
        int j0 = jt * PTQ_MM_TILE_N, n = PTQ_MIN(PTQ_MM_TILE_N, N - j0);
        float *b = panel_get((size_t)PTQ_MM_TILE_N * K);
        if (!b) {
            fail = 1;
            continue;
        }
        widen(ctx, j0, n, b);
        if (M == 1 && K > 0) { /* decode: ptq_sgemm's GEMV blocks (tiles are multiples of GEMV_ROWS) */
            for (int r = 0; r < n; r += GEMV_ROWS)
                sgemv_block(CblasTrans, PTQ_MIN(GEMV_ROWS, n - r), K, 1.f, A, 1, b + (size_t)r * K, K, beta, C + j0 + r);
            continue;
        }
        for (int it = 0; it < tm; it++) {
            int i0 = it * PTQ_MM_TILE_M, m = PTQ_MIN(PTQ_MM_TILE_M, M - i0);
            int tok = ptq_blas_serial_begin();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, K, 1.f, A + (size_t)i0 * lda, lda, b, K, beta,
                        C + (size_t)i0 * ldc + j0, ldc);
            ptq_blas_serial_end(tok);
        }
    }
    return fail ? ptq_fail(err, "out of memory for a %d x %d fp32 weight panel", PTQ_MM_TILE_N, K) : 0;
}

float ptq_w16_to_f32(int dtype, uint16_t h) {
    if (dtype == PTQ_W16_BF16) return ptq_bf16_f32(h);
    uint32_t u, sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (e == 0x1f) u = sign | 0x7f800000u | (man << 13); /* inf / nan */
    else if (e) u = sign | ((e + 112) << 23) | (man << 13);
    else if (!man) u = sign;
    else { /* subnormal: normalise */
        e = 113;
        while (!(man & 0x400)) man <<= 1, e--;
        u = sign | (e << 23) | ((man & 0x3ff) << 13);
    }
    memcpy(&f, &u, sizeof f);
    return f;
}

void ptq_w16_row(int dtype, const uint16_t *src, float *dst, int n) {
    if (dtype == PTQ_W16_BF16) {
#pragma omp simd
        for (int i = 0; i < n; i++) dst[i] = ptq_bf16_f32(src[i]);
        return;
    }
    for (int i = 0; i < n; i++) dst[i] = ptq_w16_to_f32(dtype, src[i]);
}

static void widen_w16(const void *ctx, int r0, int n, float *dst) {
    const ptq_w16 *w = ctx;
    int K = w->ld;
    for (int r = 0; r < n; r++) ptq_w16_row(w->dtype, w->w + (size_t)(r0 + r) * K, dst + (size_t)r * K, K);
}

int ptq_sgemm_w16(int M, int N, int K, const float *A, int lda, const ptq_w16 *w, float beta, float *C, int ldc,
                  ptq_err *err) {
    if (w->ld != K) return ptq_fail(err, "16-bit weight rows of %d values, product inner size %d", w->ld, K);
    if (M == 1 && K > 0 && lanes_gemv()) { /* decode: the lane GEMV widens in registers, same bits as on fp32 */
        sgemv_row(CblasNoTrans, CblasTrans, N, K, 1.f, A, lda, w->w, w->dtype, K, beta, C);
        return 0;
    }
    return ptq_sgemm_panels(M, N, K, A, lda, widen_w16, w, beta, C, ldc, err);
}

/* Tiles of the upper triangle: diagonal tiles by dsyrk, the ones above by dgemm. */
void ptq_dsyrk_upper_t(int n, int k, double alpha, const double *A, int lda, double beta, double *C, int ldc) {
    enum { TILE = 128 };
    int nt = ntiles(n, TILE);
    long tiles = (long)nt * nt;
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1)
    for (long t = 0; t < tiles; t++) {
        int bi = (int)(t / nt), bj = (int)(t % nt);
        if (bi > bj) continue;
        int i0 = bi * TILE, j0 = bj * TILE, m = PTQ_MIN(TILE, n - i0), w = PTQ_MIN(TILE, n - j0);
        double *c = C + (size_t)i0 * ldc + j0;
        int tok = ptq_blas_serial_begin();
        if (bi == bj) cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, m, k, alpha, A + i0, lda, beta, c, ldc);
        else
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, w, k, alpha, A + i0, lda, A + j0, lda, beta, c,
                        ldc);
        ptq_blas_serial_end(tok);
    }
}
