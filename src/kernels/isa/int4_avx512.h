/* int4_avx512.h — the int4 plane's nibbles and the zero points as the
 * AVX-512 decode GEMVs read them (kgemm_avx512.c, kgemm_bf16_avx512.c).
 * Callers' targets include avx512f,avx512bw. */
#ifndef PTQ_INT4_AVX512_H
#define PTQ_INT4_AVX512_H

#include <immintrin.h>

#include "kernels.h"

#define PTQ_TGT_AVX512BW __attribute__((target("avx512f,avx512bw")))

/* The zero points of the 16 rows at gi, as int32. */
static inline __attribute__((always_inline)) PTQ_TGT_AVX512BW __m512i zeros16(const ptq_kpacked *p, size_t gi) {
    return _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(p->zero + gi)));
}

/* int4 plane: lane nibble i (bits 4i..4i+3) is column 4*(i%2) + i/2 of the
 * 8-column block, so byte k of (v & 0x0F..) holds column k and byte k of
 * (v >> 4 & 0x0F..) column 4 + k. Adding 16 - z to every byte gives
 * c - z + 16 in 1..31, and vpermt2ps (low 5 index bits) looks up the float
 * c - z in a 32-entry table: the zero point is subtracted exactly, before any
 * rounding (folding it as s (sum c x - z sum x) cancels when codes sit near
 * z). */
static inline __attribute__((always_inline)) PTQ_TGT_AVX512BW __m512i zbytes(const ptq_kpacked *p, size_t gi) {
    __m512i z = zeros16(p, gi);
    return _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_set1_epi32(16), z), _mm512_set1_epi32(0x01010101));
}

static inline __attribute__((always_inline)) PTQ_TGT_AVX512BW void int4_split(__m512i v, __m512i zb, __m512i *lo, __m512i *hi) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    *lo = _mm512_add_epi8(_mm512_and_si512(v, m4), zb);
    *hi = _mm512_add_epi8(_mm512_and_si512(_mm512_srli_epi32(v, 4), m4), zb);
}

#endif
