/* kgemm_avxvnni.c — AVX-VNNI (256-bit vpdpbusd) GEMM micro tile for CPUs
 * without AVX-512: 6 tokens x 16 rows at a time (12 ymm accumulators), the
 * 32-row panel in two halves. */
#include <immintrin.h>

#include "kinternal.h"

#define TGTVNNI __attribute__((target("avxvnni,avx2")))

static inline __attribute__((always_inline)) TGTVNNI void micro(const int mr, const uint8_t *A, int lda,
                                                                const int8_t *W, int k4a, int k4b, int32_t *acc) {
    for (int h = 0; h < 2; h++) {
        __m256i c0[6], c1[6];
        for (int m = 0; m < mr; m++) c0[m] = c1[m] = _mm256_setzero_si256();
        const int8_t *w = W + (size_t)k4a * 128 + h * 64;
        for (int k4 = k4a; k4 < k4b; k4++, w += 128) {
            __m256i w0 = _mm256_load_si256((const __m256i *)w), w1 = _mm256_load_si256((const __m256i *)(w + 32));
            for (int m = 0; m < mr; m++) {
                __m256i av = _mm256_set1_epi32(ptq_kld32(A + (size_t)m * lda + 4 * k4));
                c0[m] = _mm256_dpbusd_avx_epi32(c0[m], av, w0);
                c1[m] = _mm256_dpbusd_avx_epi32(c1[m], av, w1);
            }
        }
        for (int m = 0; m < mr; m++) {
            _mm256_storeu_si256((__m256i *)(acc + m * 32 + h * 16), c0[m]);
            _mm256_storeu_si256((__m256i *)(acc + m * 32 + h * 16 + 8), c1[m]);
        }
    }
}

TGTVNNI void ptq_kmicro_avxvnni(int mr, const uint8_t *A, int lda, const int8_t *W, int k4a, int k4b,
                                int32_t *acc) {
    switch (mr) {
    case 1: micro(1, A, lda, W, k4a, k4b, acc); break;
    case 2: micro(2, A, lda, W, k4a, k4b, acc); break;
    case 3: micro(3, A, lda, W, k4a, k4b, acc); break;
    case 4: micro(4, A, lda, W, k4a, k4b, acc); break;
    case 5: micro(5, A, lda, W, k4a, k4b, acc); break;
    case 6: micro(6, A, lda, W, k4a, k4b, acc); break;
    default: break;
    }
}
