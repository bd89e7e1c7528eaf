/* kgemm_w16_avx512.c — AVX-512 pieces of the weight-only prefill GEMM
 * (kgemm_w16.c): the dequantization of a 32-row int8 panel slice to fp32 and
 * the 12 x 32 fp32 micro tile (24 zmm accumulators; per element, FMA chains
 * over 64-column chunks added in column order: the scalar path's result bit
 * for bit). */
#include <immintrin.h>

#include "kinternal.h"

#define TGT512 __attribute__((target("avx512f,avx512bw")))

/* 16 rows of one k4 step: byte j of every lane, sign-extended, minus z, times s. */
static inline __attribute__((always_inline)) TGT512 void dq16(__m512i v, __m512i z, __m512 s, float *B) {
    for (int j = 0; j < 4; j++) {
        __m512i c = _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * j), 24);
        _mm512_store_ps(B + (size_t)j * PTQ_KG_NP, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c, z)), s));
    }
}

/* k0 and kn are multiples of 4 except at the end of the row (kpad pads with code 0). */
TGT512 void ptq_kw16_dequant_avx512(const ptq_kpacked *w, const int8_t *pan, int n0, int k0, int kn, float *B) {
    int g = -1, half = n0 + PTQ_KP_RB < w->npad;
    __m512i z0 = _mm512_setzero_si512(), z1 = z0;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    for (int k4 = k0 / 4; k4 < (k0 + kn + 3) / 4; k4++) {
        if (k4 * 4 / w->group != g) {
            g = k4 * 4 / w->group;
            size_t gi = (size_t)g * w->npad + n0;
            z0 = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(w->zero + gi)));
            s0 = _mm512_loadu_ps(w->scale + gi);
            if (half) {
                z1 = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(w->zero + gi + PTQ_KP_RB)));
                s1 = _mm512_loadu_ps(w->scale + gi + PTQ_KP_RB);
            }
        }
        const int8_t *c = pan + (size_t)k4 * PTQ_KG_NP * 4;
        float *b = B + (size_t)(4 * k4 - k0) * PTQ_KG_NP;
        dq16(_mm512_load_si512((const void *)c), z0, s0, b);
        dq16(_mm512_load_si512((const void *)(c + 64)), z1, s1, b + PTQ_KP_RB);
    }
}

/* Chunks of PTQ_KGEMV_CHUNK columns in fresh accumulators, each added to C:
 * the rounding of a long sum grows with chunk + K / chunk, not K. The 24
 * accumulators are named variables (c0_m, c1_m): as __m512 arrays GCC
 * spilled some of them to the stack inside the k loop (kgemm_avx512.c has
 * the same note). mr is a constant in each instantiation. */
#define F_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define F_DECL(m) __m512 c0_##m, c1_##m;
#define F_ZERO(m) c0_##m = c1_##m = _mm512_setzero_ps();
#define F_STEP(m)                                                                                                  \
    if (m < mr) {                                                                                                  \
        __m512 a = _mm512_set1_ps(A[(size_t)(m) * lda + k]);                                                       \
        c0_##m = _mm512_fmadd_ps(a, b0, c0_##m);                                                                   \
        c1_##m = _mm512_fmadd_ps(a, b1, c1_##m);                                                                   \
    }
#define F_OUT(m)                                                                                                   \
    if (m < mr) {                                                                                                  \
        if (load || ka) {                                                                                          \
            c0_##m = _mm512_add_ps(_mm512_loadu_ps(C + (m) * 32), c0_##m);                                         \
            c1_##m = _mm512_add_ps(_mm512_loadu_ps(C + (m) * 32 + 16), c1_##m);                                    \
        }                                                                                                          \
        _mm512_storeu_ps(C + (m) * 32, c0_##m);                                                                    \
        _mm512_storeu_ps(C + (m) * 32 + 16, c1_##m);                                                               \
    }

static inline __attribute__((always_inline)) TGT512 void micro(const int mr, const float *A, int lda, const float *B,
                                                               int kn, float *C, int load) {
    F_ALL(F_DECL)
    for (int ka = 0; ka < kn; ka += PTQ_KGEMV_CHUNK) {
        F_ALL(F_ZERO)
        const float *b = B + (size_t)ka * 32;
        for (int k = ka; k < PTQ_MIN(kn, ka + PTQ_KGEMV_CHUNK); k++, b += 32) {
            __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
            F_ALL(F_STEP)
        }
        F_ALL(F_OUT)
    }
}

TGT512 void ptq_kw16_micro_avx512(int mr, const float *A, int lda, const float *B, int kn, float *C, int load) {
    switch (mr) {
#define M(n)                                  \
    case n:                                   \
        micro(n, A, lda, B, kn, C, load);     \
        break;
        M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12)
#undef M
    default: break;
    }
}
