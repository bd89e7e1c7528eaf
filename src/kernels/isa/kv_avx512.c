/* kv_avx512.c — kvcache.c's decode attention and widening in AVX-512, the
 * same IEEE operations in the same order (see kvcache.c), so the same bits.
 * Codes become the exact float c - z without a conversion: int4 bytes widen
 * to dwords, 16 per 32 columns, and vpermps looks up c - z in a 16-entry
 * table (built once per row group) by the low nibble (even columns) and the
 * byte shifted right by 4 (odd columns); q is split the same way once. int8:
 * 2^23's bit pattern OR the code is 2^23 + c, less 2^23 + z. */
#include <immintrin.h>

#include "kinternal.h"

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define INLINE static inline __attribute__((always_inline)) TGT512
#define MAGIC 0x4B000000 /* 2^23 */
#define NCH (PTQ_KV_VEC_MAXDIM / 16)
#define PF_ROWS 8 /* rows prefetched ahead: a head's rows are a whole cache row apart */

/* Every cache line of [p, p + n) (a row ahead: the int and fp32 paths alike). */
INLINE void prefetch_bytes(const void *p, size_t n) {
    for (size_t b = 0; b < n; b += 64) _mm_prefetch((const char *)p + b, _MM_HINT_T0);
}

/* int8: 16 bytes at c as 2^23 + code. */
INLINE __m512 byte16(const uint8_t *c) {
    __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)c));
    return _mm512_castsi512_ps(_mm512_or_si512(d, _mm512_set1_epi32(MAGIC)));
}

/* int4: the float c - z for c = 0..15, looked up by vpermps (low 4 index bits). */
INLINE __m512 ztable(float z) {
    return _mm512_sub_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_ps(z));
}

/* int4: 16 bytes at c as c - z of the low nibbles (even columns) and the high ones (odd). */
INLINE void nib16z(const uint8_t *c, __m512 tz, __m512 *lo, __m512 *hi) {
    __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)c));
    *lo = _mm512_permutexvar_ps(d, tz);
    *hi = _mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), tz);
}

INLINE __m512 zmagic(float z) { return _mm512_set1_ps(8388608.f + z); } /* exact: z is a code */

/* Lanes folded pairwise, a[j] + a[j + w] for w = 8, 4, 2, 1 (kvcache.c fold16). */
INLINE float fold16(__m512 a) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_shuffle_ps(x, x, 1)));
}

/* Even columns of 32 floats (v0, v1) in e, odd ones in o. */
INLINE void split32(const float *q, __m512 *e, __m512 *o) {
    __m512 v0 = _mm512_loadu_ps(q), v1 = _mm512_loadu_ps(q + 16);
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    *e = _mm512_permutex2var_ps(v0, ie, v1);
    *o = _mm512_permutex2var_ps(v0, _mm512_add_epi32(ie, _mm512_set1_epi32(1)), v1);
}

/* The inverse: 32 floats at x from their even (e) and odd (o) columns. */
INLINE void join32(__m512 e, __m512 o, float *x) {
    const __m512i i0 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    _mm512_storeu_ps(x, _mm512_permutex2var_ps(e, i0, o));
    _mm512_storeu_ps(x + 16, _mm512_permutex2var_ps(e, _mm512_add_epi32(i0, _mm512_set1_epi32(8)), o));
}

/* Scores of R rows from p: R independent chains (one row's lanes are a
 * chain of dependent FMAs, so rows are interleaved), each in kvcache.c's order. */
INLINE void score_rows(const int R, const int W4, const ptq_kvfmt *f, const __m512 *qa, const __m512 *qb,
                       const ptq_kvrows *r, int p, float mul, float *S) {
    int cpg = f->group / (W4 ? 32 : 16), ng = f->ngroups;
    const uint8_t *c[4];
    const float *sz[4];
    __m128 s[4];
    for (int i = 0; i < R; i++) {
        c[i] = r->codes + (size_t)(p + i) * r->cstride, sz[i] = r->sz + (size_t)(p + i) * r->sstride;
        prefetch_bytes(c[i] + PF_ROWS * r->cstride, f->row_bytes);
        s[i] = _mm_setzero_ps();
    }
    for (int g = 0; g < ng; g++) {
        __m512 a[4], zm[4];
        for (int i = 0; i < R; i++)
            a[i] = _mm512_setzero_ps(), zm[i] = W4 ? ztable(sz[i][ng + g]) : zmagic(sz[i][ng + g]);
        for (int ch = g * cpg; ch < (g + 1) * cpg; ch++)
            for (int i = 0; i < R; i++) {
                if (W4) {
                    __m512 lo, hi;
                    nib16z(c[i] + 16 * ch, zm[i], &lo, &hi);
                    a[i] = _mm512_fmadd_ps(qa[ch], lo, a[i]);
                    a[i] = _mm512_fmadd_ps(qb[ch], hi, a[i]);
                } else {
                    a[i] = _mm512_fmadd_ps(qa[ch], _mm512_sub_ps(byte16(c[i] + 16 * ch), zm[i]), a[i]);
                }
            }
        for (int i = 0; i < R; i++) s[i] = _mm_fmadd_ss(_mm_set_ss(sz[i][g]), _mm_set_ss(fold16(a[i])), s[i]);
    }
    for (int i = 0; i < R; i++) S[p + i] = mul * _mm_cvtss_f32(s[i]);
}

TGT512 void ptq_kv_scores_avx512(const ptq_kvfmt *f, const float *q, const ptq_kvrows *r, float mul, float *S) {
    int w4 = f->bits == 4, nch = f->dim / (w4 ? 32 : 16), p = 0;
    __m512 qa[NCH], qb[NCH];
    for (int ch = 0; ch < nch; ch++) {
        if (w4) split32(q + 32 * ch, &qa[ch], &qb[ch]);
        else qa[ch] = qb[ch] = _mm512_loadu_ps(q + 16 * ch);
    }
    if (w4) {
        for (; p + 4 <= r->L; p += 4) score_rows(4, 1, f, qa, qb, r, p, mul, S);
        for (; p < r->L; p++) score_rows(1, 1, f, qa, qb, r, p, mul, S);
    } else {
        for (; p + 4 <= r->L; p += 4) score_rows(4, 0, f, qa, qb, r, p, mul, S);
        for (; p < r->L; p++) score_rows(1, 0, f, qa, qb, r, p, mul, S);
    }
}

/* NB chunks from ch0 summed over every position in registers, then stored. */
INLINE void mix_block(const int NB, const int W4, const ptq_kvfmt *f, const float *P, const ptq_kvrows *r, int ch0,
                      float *out) {
    int cw = W4 ? 32 : 16, cpg = f->group / cw, ng = f->ngroups;
    __m512 e[8], o[8];
    for (int j = 0; j < NB; j++) e[j] = o[j] = _mm512_setzero_ps();
    for (int p = 0; p < r->L; p++) {
        const uint8_t *c = r->codes + (size_t)p * r->cstride;
        const float *sz = r->sz + (size_t)p * r->sstride;
        prefetch_bytes(c + PF_ROWS * r->cstride + 16 * ch0, 16 * (size_t)NB);
        __m512 ps = _mm512_setzero_ps(), zm = ps;
        for (int j = 0, g0 = -1; j < NB; j++) {
            int ch = ch0 + j, g = ch / cpg;
            if (g != g0) ps = _mm512_set1_ps(P[p] * sz[g]), zm = W4 ? ztable(sz[ng + g]) : zmagic(sz[ng + g]), g0 = g;
            if (W4) {
                __m512 lo, hi;
                nib16z(c + 16 * ch, zm, &lo, &hi);
                e[j] = _mm512_fmadd_ps(ps, lo, e[j]);
                o[j] = _mm512_fmadd_ps(ps, hi, o[j]);
            } else {
                e[j] = _mm512_fmadd_ps(ps, _mm512_sub_ps(byte16(c + 16 * ch), zm), e[j]);
            }
        }
    }
    for (int j = 0; j < NB; j++) {
        if (W4) join32(e[j], o[j], out + 32 * (ch0 + j));
        else _mm512_storeu_ps(out + 16 * (ch0 + j), e[j]);
    }
}

TGT512 void ptq_kv_mix_avx512(const ptq_kvfmt *f, const float *P, const ptq_kvrows *r, float *out) {
    /* 8 accumulators a block: 8 int8 chunks (128 columns) or 4 int4 (even and odd) */
    int w4 = f->bits == 4, nch = f->dim / (w4 ? 32 : 16), nb = w4 ? 4 : 8;
    for (int ch0 = 0; ch0 < nch; ch0 += nb) {
        int n = nch - ch0 < nb ? nch - ch0 : nb;
        switch (w4 ? -n : n) {
#define B(n)                                                                                                       \
    case n: mix_block(n, 0, f, P, r, ch0, out); break;
            B(1) B(2) B(3) B(4) B(5) B(6) B(7) B(8)
#undef B
#define B(n)                                                                                                       \
    case -n: mix_block(n, 1, f, P, r, ch0, out); break;
            B(1) B(2) B(3) B(4)
#undef B
        default: break;
        }
    }
}

TGT512 void ptq_kv_dequant_rows_avx512(const ptq_kvfmt *f, const ptq_kvrows *r, float *x) {
    int w4 = f->bits == 4, cw = w4 ? 32 : 16, nch = f->dim / cw, cpg = f->group / cw, ng = f->ngroups;
    for (int p = 0; p < r->L; p++) {
        const uint8_t *c = r->codes + (size_t)p * r->cstride;
        const float *sz = r->sz + (size_t)p * r->sstride;
        float *xp = x + (size_t)p * f->dim;
        for (int ch = 0; ch < nch; ch++) {
            int g = ch / cpg;
            __m512 sc = _mm512_set1_ps(sz[g]), zm = w4 ? ztable(sz[ng + g]) : zmagic(sz[ng + g]);
            if (w4) {
                __m512 lo, hi;
                nib16z(c + 16 * ch, zm, &lo, &hi);
                join32(_mm512_mul_ps(sc, lo), _mm512_mul_ps(sc, hi), xp + 32 * ch);
            } else {
                _mm512_storeu_ps(xp + 16 * ch, _mm512_mul_ps(sc, _mm512_sub_ps(byte16(c + 16 * ch), zm)));
            }
        }
    }
}

/* ---- fp32 cache: rows of dim floats at stride ld ---- */

INLINE void score_rows_f32(const int R, const __m512 *qa, int nch, const float *K, size_t ld, int p, float mul,
                           float *S) {
    __m512 a[4];
    for (int i = 0; i < R; i++) {
        a[i] = _mm512_setzero_ps();
        prefetch_bytes(K + (size_t)(p + i + PF_ROWS) * ld, sizeof(float) * 16 * nch);
    }
    for (int ch = 0; ch < nch; ch++)
        for (int i = 0; i < R; i++) a[i] = _mm512_fmadd_ps(qa[ch], _mm512_loadu_ps(K + (size_t)(p + i) * ld + 16 * ch), a[i]);
    for (int i = 0; i < R; i++) S[p + i] = mul * fold16(a[i]);
}

TGT512 void ptq_kv_scores_f32_avx512(const float *q, const float *K, size_t ld, int L, int dim, float mul, float *S) {
    int nch = dim / 16, p = 0;
    __m512 qa[NCH];
    for (int ch = 0; ch < nch; ch++) qa[ch] = _mm512_loadu_ps(q + 16 * ch);
    for (; p + 4 <= L; p += 4) score_rows_f32(4, qa, nch, K, ld, p, mul, S);
    for (; p < L; p++) score_rows_f32(1, qa, nch, K, ld, p, mul, S);
}

INLINE void mix_block_f32(const int NB, const float *P, const float *V, size_t ld, int L, int ch0, float *out) {
    __m512 e[8];
    for (int j = 0; j < NB; j++) e[j] = _mm512_setzero_ps();
    for (int p = 0; p < L; p++) {
        const float *v = V + (size_t)p * ld + 16 * ch0;
        prefetch_bytes(v + PF_ROWS * ld, sizeof(float) * 16 * NB);
        __m512 ps = _mm512_set1_ps(P[p]);
        for (int j = 0; j < NB; j++) e[j] = _mm512_fmadd_ps(ps, _mm512_loadu_ps(v + 16 * j), e[j]);
    }
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(out + 16 * (ch0 + j), e[j]);
}

TGT512 void ptq_kv_mix_f32_avx512(const float *P, const float *V, size_t ld, int L, int dim, float *out) {
    int nch = dim / 16;
    for (int ch0 = 0; ch0 < nch; ch0 += 8) {
        switch (nch - ch0 < 8 ? nch - ch0 : 8) {
#define B(n)                                                                                                       \
    case n: mix_block_f32(n, P, V, ld, L, ch0, out); break;
            B(1) B(2) B(3) B(4) B(5) B(6) B(7) B(8)
#undef B
        default: break;
        }
    }
}
