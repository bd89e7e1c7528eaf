/* kquant_avx512.c — uniform.h's per-token activation quantizer in AVX-512:
 * the same IEEE operations as ptq_kquant_row, lane-wise, so the codes are
 * its codes bit for bit. min/max are order-free here: vminps(x, l) is
 * x < l ? x : l like the scalar scan, NaN never enters, and -0 never
 * replaces the starting +0, so the lane reduction gives the scan's value. */
#include <immintrin.h>

#include "kinternal.h"
#include "uniform.h"

#define TGT512 __attribute__((target("avx512f,avx512bw")))

static inline TGT512 __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

static TGT512 void range16(const float *x, int K, float *lo, float *hi) {
    __m512 l0 = _mm512_setzero_ps(), h0 = l0, l1 = l0, h1 = l0;
    int i = 0;
    for (; i + 32 <= K; i += 32) { /* two chains: min/max latency */
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        l0 = _mm512_min_ps(a, l0), h0 = _mm512_max_ps(a, h0);
        l1 = _mm512_min_ps(b, l1), h1 = _mm512_max_ps(b, h1);
    }
    for (; i < K; i += 16) { /* masked-off lanes load +0: no effect */
        __m512 a = _mm512_maskz_loadu_ps(tail_mask(K - i), x + i);
        l0 = _mm512_min_ps(a, l0), h0 = _mm512_max_ps(a, h0);
    }
    *lo = _mm512_reduce_min_ps(_mm512_min_ps(l1, l0));
    *hi = _mm512_reduce_max_ps(_mm512_max_ps(h1, h0));
}

TGT512 void ptq_kquant_row_avx512(const float *x, int K, int bits, int sym, float clip, uint8_t *q, float *scale,
                                  int32_t *zero) {
    float lo, hi, s;
    int z, maxq = ptq_uq_maxq(bits);
    range16(x, K, &lo, &hi);
    lo *= clip, hi *= clip; /* as ptq_uq_range */
    ptq_uq_grid(lo, hi, bits, sym, &s, &z);
    *scale = s, *zero = z;
    if (s == 0.f) {
        memset(q, z, (size_t)K);
        return;
    }
    const __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps((float)z), vmax = _mm512_set1_ps((float)maxq),
                 v0 = _mm512_setzero_ps();
    for (int i = 0; i < K; i += 16) {
        __mmask16 m = tail_mask(K - i);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
        v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC), vz);
        v = _mm512_min_ps(_mm512_max_ps(v, v0), vmax); /* q > 0 ? q : 0 (NaN -> 0), then q < maxq ? q : maxq */
        _mm512_mask_cvtepi32_storeu_epi8(q + i, m, _mm512_cvttps_epi32(v));
    }
}
