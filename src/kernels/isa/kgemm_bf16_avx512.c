/* kgemm_bf16_avx512.c — AVX-512 BF16 pieces of the bf16-activation GEMM
 * (kgemm_bf16.c): the rows' rounding to bf16, a panel slice's c - z as a
 * bf16 pair panel, and the 12 x 32 vdpbf16ps micro tile (24 zmm
 * accumulators, one chunk per call). Same bits as the scalar twins. */
#include <immintrin.h>

#include "kinternal.h"

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define TGTBF __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* 16 values: nearest-even bf16 bit patterns; zero exponent (0, denormals) to a signed zero. */
static inline __attribute__((always_inline)) TGT512 __m256i round16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF),
                                                     _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    __mmask16 tiny = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_and_epi32(r, tiny, u, _mm512_set1_epi32((int)0x80000000u));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

TGT512 void ptq_bf16_round_rows_avx512(const float *x, int T, int K, int ld, uint16_t *dst) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * K;
        uint16_t *d = dst + (size_t)t * ld;
        int k = 0;
        for (; k + 16 <= K; k += 16) _mm256_storeu_si256((__m256i *)(d + k), round16(_mm512_loadu_ps(xr + k)));
        if (k < K) {
            __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
            _mm256_mask_storeu_epi16(d + k, m, round16(_mm512_maskz_loadu_ps(m, xr + k)));
        }
        memset(d + K, 0, sizeof(uint16_t) * (size_t)(ld - K));
    }
}

/* 16 rows of one k4 step as two pair vectors: lane n = (bf16(c_k - z), bf16(c_k+1 - z)). */
static inline __attribute__((always_inline)) TGT512 void pairs16(__m512i v, __m512i z, uint16_t *b0, uint16_t *b1) {
    __m512i f[4];
    for (int j = 0; j < 4; j++) /* |c - z| <= 255: exact in fp32 and in bf16, so the top half is the bf16 */
        f[j] = _mm512_castps_si512(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * j), 24), z)));
    __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
    /* ternary 0xCA: hi ? f_odd : f_even >> 16, bit by bit */
    _mm512_store_si512((void *)b0, _mm512_ternarylogic_epi32(hi, f[1], _mm512_srli_epi32(f[0], 16), 0xCA));
    _mm512_store_si512((void *)b1, _mm512_ternarylogic_epi32(hi, f[3], _mm512_srli_epi32(f[2], 16), 0xCA));
}

/* k0 and kn are multiples of 4 (the driver ends slices at the row's length rounded up to 4). */
TGT512 void ptq_kbf16_dequant_avx512(const ptq_kpacked *w, const int8_t *pan, int n0, int k0, int kn, uint16_t *B) {
    int g = -1, half = n0 + PTQ_KP_RB < w->npad;
    __m512i z0 = _mm512_setzero_si512(), z1 = z0;
    for (int k4 = k0 / 4; k4 < (k0 + kn) / 4; k4++) {
        if (k4 * 4 / w->group != g) {
            g = k4 * 4 / w->group;
            size_t gi = (size_t)g * w->npad + n0;
            z0 = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(w->zero + gi)));
            if (half) z1 = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(w->zero + gi + PTQ_KP_RB)));
        }
        const int8_t *c = pan + (size_t)k4 * PTQ_KG_NP * 4;
        uint16_t *b = B + (size_t)(4 * k4 - k0) * PTQ_KG_NP; /* pair 2 k4 - k0/2 at 2 * 32 values each */
        pairs16(_mm512_load_si512((const void *)c), z0, b, b + 2 * PTQ_KG_NP);
        pairs16(_mm512_load_si512((const void *)(c + 64)), z1, b + 2 * PTQ_KP_RB, b + 2 * PTQ_KG_NP + 2 * PTQ_KP_RB);
    }
}

#define F_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define F_DECL(m) __m512 c0_##m = _mm512_setzero_ps(), c1_##m = c0_##m;
#define F_STEP(m)                                                                                                  \
    if (m < mr) {                                                                                                  \
        __m512bh a = (__m512bh)_mm512_set1_epi32(ptq_kld32((const uint8_t *)(A + (size_t)(m) * lda + k)));         \
        c0_##m = _mm512_dpbf16_ps(c0_##m, a, b0);                                                                  \
        c1_##m = _mm512_dpbf16_ps(c1_##m, a, b1);                                                                  \
    }
#define F_OUT(m)                                                                                                   \
    if (m < mr) {                                                                                                  \
        _mm512_storeu_ps(C + (m) * 32, _mm512_fmadd_ps(s0, c0_##m, _mm512_loadu_ps(C + (m) * 32)));                \
        _mm512_storeu_ps(C + (m) * 32 + 16, _mm512_fmadd_ps(s1, c1_##m, _mm512_loadu_ps(C + (m) * 32 + 16)));      \
    }

static inline __attribute__((always_inline)) TGTBF void micro(const int mr, const uint16_t *A, int lda,
                                                              const uint16_t *B, int kn, const float *s, float *C) {
    F_ALL(F_DECL)
    const uint16_t *b = B;
    for (int k = 0; k < kn; k += 2, b += 2 * 32) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)b), b1 = (__m512bh)_mm512_load_si512((const void *)(b + 32));
        F_ALL(F_STEP)
    }
    __m512 s0 = _mm512_loadu_ps(s), s1 = _mm512_loadu_ps(s + 16);
    F_ALL(F_OUT)
}

TGTBF void ptq_kbf16_micro_avx512(int mr, const uint16_t *A, int lda, const uint16_t *B, int kn, const float *s,
                                  float *C) {
    switch (mr) {
#define M(n)                                  \
    case n:                                   \
        micro(n, A, lda, B, kn, s, C);        \
        break;
        M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12)
#undef M
    default: break;
    }
}
