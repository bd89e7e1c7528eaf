/* sgemv_avx512.c — the decode GEMV of dense weights (matmul.h
 * ptq_gemv_rows): y = alpha W x + beta y for W rows held as fp32, bf16 or
 * fp16, widened in registers (a 16-bit weight is read as 2 bytes, never
 * written back as 4). One dot product per row in 16 fixed lanes (lane j
 * takes k = j mod 16, FMA in k order, the tail masked), folded pairwise
 * 8, 4, 2, 1: reference.c's ptq_gemv_rows_ref gives the same bits, and so
 * does every thread count (a row is one thread's). Several rows per pass
 * share each load of x and keep that many FMA chains and memory streams
 * going: 8 for 16-bit rows (a 32000 x 4096 bf16 lm_head, 2 threads, 47-48
 * GB/s with 4 rows a pass, 54-55 with 8, runs alternated), 4 for fp32 rows
 * (11008 x 4096: 62-65 GB/s with 4, 56-58 with 8). */
#include <immintrin.h>
#include <math.h>

#include "kinternal.h"
#include "matmul.h"

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

enum { GEMV_ROWS_W16 = 8, GEMV_ROWS_F32 = 4 }; /* rows per pass (above) */

static inline TGT512 __mmask16 tail16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* 16 weights from element i as fp32; the masked load leaves other lanes 0. */
static inline __attribute__((always_inline)) TGT512 __m512 widen(const int dtype, __m256i h) {
    if (dtype == PTQ_W16_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}
static inline __attribute__((always_inline)) TGT512 __m512 load_w(const int dtype, const void *w, size_t i) {
    if (!dtype) return _mm512_loadu_ps((const float *)w + i);
    return widen(dtype, _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
}
static inline __attribute__((always_inline)) TGT512 __m512 load_w_tail(const int dtype, const void *w, size_t i,
                                                                      __mmask16 m) {
    if (!dtype) return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    return widen(dtype, _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
}

/* lanes a[j] + a[j + 8], then + 4, + 2, + 1 */
static inline TGT512 float fold16(__m512 a) {
    __m256 lo = _mm512_castps512_ps256(a), hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

static inline __attribute__((always_inline)) TGT512 void rows(const int R, const int dtype, int K, const void *W,
                                                              int ldw, size_t r0, const float *x, float *dot) {
    __m512 a[GEMV_ROWS_W16];
    for (int r = 0; r < R; r++) a[r] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 xv = _mm512_loadu_ps(x + k);
        for (int r = 0; r < R; r++) a[r] = _mm512_fmadd_ps(load_w(dtype, W, (r0 + r) * ldw + k), xv, a[r]);
    }
    if (k < K) { /* masked lanes keep their sums: the same as skipping them */
        __mmask16 m = tail16(K - k);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
        for (int r = 0; r < R; r++)
            a[r] = _mm512_mask3_fmadd_ps(load_w_tail(dtype, W, (r0 + r) * ldw + k, m), xv, a[r], m);
    }
    for (int r = 0; r < R; r++) dot[r] = fold16(a[r]);
}

static inline TGT512 float out1(float d, float alpha, float beta, const float *y) {
    float v = alpha == 1.f ? d : alpha * d;
    return beta == 0.f ? v : fmaf(beta, *y, v);
}

static inline __attribute__((always_inline)) TGT512 void gemv(const int dtype, int n, int K, float alpha,
                                                              const void *W, int ldw, const float *x, float beta,
                                                              float *y) {
    int r = 0;
    const int R = dtype ? GEMV_ROWS_W16 : GEMV_ROWS_F32;
    float d[GEMV_ROWS_W16];
    for (; r + R <= n; r += R) {
        rows(R, dtype, K, W, ldw, (size_t)r, x, d);
        for (int i = 0; i < R; i++) y[r + i] = out1(d[i], alpha, beta, y + r + i);
    }
    for (; r < n; r++) {
        rows(1, dtype, K, W, ldw, (size_t)r, x, d);
        y[r] = out1(d[0], alpha, beta, y + r);
    }
}

TGT512 void ptq_gemv_rows_avx512(int n, int K, float alpha, int dtype, const void *W, int ldw, const float *x,
                                 float beta, float *y) {
    switch (dtype) {
    case PTQ_W16_BF16: gemv(PTQ_W16_BF16, n, K, alpha, W, ldw, x, beta, y); break;
    case PTQ_W16_F16: gemv(PTQ_W16_F16, n, K, alpha, W, ldw, x, beta, y); break;
    default: gemv(0, n, K, alpha, W, ldw, x, beta, y); break;
    }
}
