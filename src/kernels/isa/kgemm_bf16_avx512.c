/* kgemm_bf16_avx512.c — AVX-512 BF16 pieces of the bf16-activation GEMM
 * (kgemm_bf16.c): the rows' rounding to bf16, a panel slice's c - z as a
 * bf16 pair panel, and the 12 x 32 vdpbf16ps micro tile (24 zmm
 * accumulators, one chunk per call), same bits as the scalar twins; and
 * the int4 decode GEMV on a bf16 row. */
#include <immintrin.h>

#include "int4_avx512.h"
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

/* The int4 decode GEMV on a bf16 row (xb, kpad values), NB row blocks per
 * pass as ptq_kgemv_blocks_avx512_int4: int4_split gives c - z + 16 per byte
 * (zero point subtracted exactly); bytes widen to words (vpunpck*bw, 4 rows x
 * 4 columns per 128-bit lane) and vpermw looks up bf16(c - z) in a 32-entry
 * table; vpdpbf16ps multiplies column pairs by the broadcast x pairs. Lane 4L
 * + i of the low unpack holds row 4L + i/2, columns 2(i%2), +1; the high
 * unpack rows 4L + 2 + i/2. Per group, the lanes of a row are added in a
 * fixed order, so a row's sum is the same for every NB. */
static inline __attribute__((always_inline)) TGTBF void int4_bf16_blocks(const int NB, const ptq_kpacked *p, int rb,
                                                                         const uint16_t *xb, float *ynb) {
    static const uint16_t tab16[32] = {0xC180, 0xC170, 0xC160, 0xC150, 0xC140, 0xC130, 0xC120, 0xC110, /* -16..-9 */
                                       0xC100, 0xC0E0, 0xC0C0, 0xC0A0, 0xC080, 0xC040, 0xC000, 0xBF80, /* -8..-1 */
                                       0x0000, 0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0, 0x40E0, /* 0..7 */
                                       0x4100, 0x4110, 0x4120, 0x4130, 0x4140, 0x4150, 0x4160, 0x4170}; /* 8..15 */
    const __m512i tab = _mm512_loadu_si512((const void *)tab16), zero = _mm512_setzero_si512();
    /* row 4L + i: lane 4L + 2(i%2) (+1) of the sum for rows 4L, 4L+1 (i < 2) or 4L+2, 4L+3 */
    const __m512i even = _mm512_setr_epi32(0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int nkb = p->kpad / 8, G = p->group;
    const uint8_t *src = p->data + (size_t)rb * nkb * 64;
    const size_t bstride = (size_t)nkb * 64;
    __m512 y[4];
    for (int j = 0; j < NB; j++) y[j] = _mm512_setzero_ps();
    for (int g = 0; g < p->ngroups; g++) {
        int b0 = g * G / 8, b1 = PTQ_MIN((g + 1) * G, p->kpad) / 8;
        __m512 a[4][4];
        __m512i zb[4];
        for (int j = 0; j < NB; j++) {
            a[j][0] = a[j][1] = a[j][2] = a[j][3] = _mm512_setzero_ps();
            zb[j] = zbytes(p, (size_t)g * p->npad + (rb + j) * 16);
        }
        for (int b = b0; b < b1; b++) {
            __m512bh xl = (__m512bh)_mm512_set1_epi64((long long)ptq_kld64(xb + 8 * b)),
                     xh = (__m512bh)_mm512_set1_epi64((long long)ptq_kld64(xb + 8 * b + 4));
            for (int j = 0; j < NB; j++) {
                __m512i lo, hi;
                const uint8_t *s = src + j * bstride + (size_t)b * 64;
                int4_split(_mm512_load_si512((const void *)s), zb[j], &lo, &hi);
                _mm_prefetch((const char *)(s + ptq_kgemv_pf), _MM_HINT_T0);
                a[j][0] = _mm512_dpbf16_ps(a[j][0], (__m512bh)_mm512_permutexvar_epi16(_mm512_unpacklo_epi8(lo, zero), tab), xl);
                a[j][1] = _mm512_dpbf16_ps(a[j][1], (__m512bh)_mm512_permutexvar_epi16(_mm512_unpackhi_epi8(lo, zero), tab), xl);
                a[j][2] = _mm512_dpbf16_ps(a[j][2], (__m512bh)_mm512_permutexvar_epi16(_mm512_unpacklo_epi8(hi, zero), tab), xh);
                a[j][3] = _mm512_dpbf16_ps(a[j][3], (__m512bh)_mm512_permutexvar_epi16(_mm512_unpackhi_epi8(hi, zero), tab), xh);
            }
        }
        for (int j = 0; j < NB; j++) {
            __m512 s01 = _mm512_add_ps(a[j][0], a[j][2]), s23 = _mm512_add_ps(a[j][1], a[j][3]);
            __m512 r = _mm512_add_ps(_mm512_permutex2var_ps(s01, even, s23), _mm512_permutex2var_ps(s01, odd, s23));
            size_t gi = (size_t)g * p->npad + (rb + j) * 16;
            y[j] = _mm512_fmadd_ps(_mm512_loadu_ps(p->scale + gi), r, y[j]);
        }
    }
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(ynb + 16 * j, y[j]);
}

TGTBF void ptq_kgemv_bf16_blocks_avx512_int4(int nb, const ptq_kpacked *p, int rb, const uint16_t *xb, float *ynb) {
    switch (nb) {
#define B(n)                                   \
    case n:                                    \
        int4_bf16_blocks(n, p, rb, xb, ynb);   \
        break;
        B(1) B(2) B(3) B(4)
#undef B
    default: break;
    }
}
