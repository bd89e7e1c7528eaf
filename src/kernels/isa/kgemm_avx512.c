/* kgemm_avx512.c — AVX-512 VNNI kernels: the int8 GEMM micro tile
 * (12 tokens x 32 rows, 24 zmm accumulators, vpdpbusd u8 x s8 -> int32) and
 * the weight-only fp32 GEMV (int4 direct from the bit planes, other widths
 * from the unpacked int8 block). Compiled with function-level target
 * attributes so the library still runs on CPUs without them. */
#include <immintrin.h>

#include "kinternal.h"

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vnni")))

static inline __attribute__((always_inline)) TGT512 void micro(const int mr, const uint8_t *A, int lda,
                                                               const int8_t *W, int k4a, int k4b, int32_t *acc) {
    __m512i c0[PTQ_KG_MR], c1[PTQ_KG_MR];
    for (int m = 0; m < mr; m++) c0[m] = c1[m] = _mm512_setzero_si512();
    const int8_t *w = W + (size_t)k4a * 128;
    for (int k4 = k4a; k4 < k4b; k4++, w += 128) {
        __m512i w0 = _mm512_load_si512((const void *)w), w1 = _mm512_load_si512((const void *)(w + 64));
        for (int m = 0; m < mr; m++) {
            __m512i av = _mm512_set1_epi32(ptq_kld32(A + (size_t)m * lda + 4 * k4));
            c0[m] = _mm512_dpbusd_epi32(c0[m], av, w0);
            c1[m] = _mm512_dpbusd_epi32(c1[m], av, w1);
        }
    }
    for (int m = 0; m < mr; m++) {
        _mm512_storeu_si512((void *)(acc + m * 32), c0[m]);
        _mm512_storeu_si512((void *)(acc + m * 32 + 16), c1[m]);
    }
}

TGT512 void ptq_kmicro_avx512(int mr, const uint8_t *A, int lda, const int8_t *W, int k4a, int k4b, int32_t *acc) {
    switch (mr) {
#define C(n)                                      \
    case n:                                       \
        micro(n, A, lda, W, k4a, k4b, acc);       \
        break;
        C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12)
#undef C
    default: break;
    }
}

/* int4 plane: lane nibble i (bits 4i..4i+3) is column 4*(i%2) + i/2 of the
 * 8-column block. vpermps picks the code's float from a 0..15 table using
 * only the low 4 index bits, so no mask is needed. */
static TGT512 void gemv_block_avx512_int4(const ptq_kpacked *p, int rb, const float *x, const float *xs, float *y16) {
    const __m512 table = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int nkb = p->kpad / 8, G = p->group;
    const uint8_t *src = p->data + (size_t)rb * nkb * 64;
    __m512 y = _mm512_setzero_ps();
    for (int g = 0; g < p->ngroups; g++) {
        int b0 = g * G / 8, b1 = PTQ_MIN((g + 1) * G, p->kpad) / 8;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int b = b0; b < b1; b++) {
            __m512i v = _mm512_load_si512((const void *)(src + (size_t)b * 64));
            const float *xb = x + 8 * b;
            _mm_prefetch((const char *)(src + (size_t)b * 64 + 1024), _MM_HINT_T0);
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(v, table), _mm512_set1_ps(xb[0]), a0);
            a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table), _mm512_set1_ps(xb[4]), a1);
            a2 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 8), table), _mm512_set1_ps(xb[1]), a2);
            a3 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 12), table), _mm512_set1_ps(xb[5]), a3);
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 16), table), _mm512_set1_ps(xb[2]), a0);
            a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 20), table), _mm512_set1_ps(xb[6]), a1);
            a2 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 24), table), _mm512_set1_ps(xb[3]), a2);
            a3 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 28), table), _mm512_set1_ps(xb[7]), a3);
        }
        __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        __m512 sc = _mm512_loadu_ps(p->scale + (size_t)g * p->npad + rb * 16);
        __m512 zf = _mm512_cvtepi32_ps(
            _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(p->zero + (size_t)g * p->npad + rb * 16))));
        s = _mm512_fnmadd_ps(zf, _mm512_set1_ps(xs[g]), s);
        y = _mm512_fmadd_ps(sc, s, y);
    }
    _mm512_storeu_ps(y16, y);
}

/* Generic width: the block already unpacked to int8 [kpad/4][16][4]. */
TGT512 void ptq_kgemv_block_avx512_i8(const ptq_kpacked *p, int rb, const int8_t *blk, const float *x,
                                      const float *xs, float *y16) {
    int G = p->group;
    __m512 y = _mm512_setzero_ps();
    for (int g = 0; g < p->ngroups; g++) {
        int q0 = g * G / 4, q1 = PTQ_MIN((g + 1) * G, p->kpad) / 4;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int q = q0; q < q1; q++) {
            __m512i v = _mm512_load_si512((const void *)(blk + (size_t)q * 64));
            const float *xq = x + 4 * q;
            a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24)),
                                 _mm512_set1_ps(xq[0]), a0);
            a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 16), 24)),
                                 _mm512_set1_ps(xq[1]), a1);
            a2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 8), 24)),
                                 _mm512_set1_ps(xq[2]), a2);
            a3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(v, 24)), _mm512_set1_ps(xq[3]), a3);
        }
        __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        __m512 sc = _mm512_loadu_ps(p->scale + (size_t)g * p->npad + rb * 16);
        __m512 zf = _mm512_cvtepi32_ps(
            _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(p->zero + (size_t)g * p->npad + rb * 16))));
        s = _mm512_fnmadd_ps(zf, _mm512_set1_ps(xs[g]), s);
        y = _mm512_fmadd_ps(sc, s, y);
    }
    _mm512_storeu_ps(y16, y);
}

/* Integer decode GEMV, int4 weights straight from the plane (no unpack):
 * per 8 columns one 64-byte load, two masks, two vpdpbusd. The zero-point
 * correction fits int32 here (4-bit weights, K <= 65536). */
TGT512 void ptq_kgemv_int_block_avx512_int4(const ptq_kpacked *p, int rb, const ptq_kacts *a, int t, float *y16) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    int nkb = p->kpad / 8, G = p->group;
    const uint8_t *src = p->data + (size_t)rb * nkb * 64, *ac = a->codes + (size_t)t * a->kpad;
    __m512 y = _mm512_setzero_ps();
    __m512i za = _mm512_set1_epi32(a->zero[t]);
    for (int g = 0; g < p->ngroups; g++) {
        int b0 = g * G / 8, b1 = PTQ_MIN((g + 1) * G, p->kpad) / 8, len = PTQ_MIN((g + 1) * G, p->in) - g * G;
        __m512i c0 = _mm512_setzero_si512(), c1 = c0;
        for (int b = b0; b < b1; b++) {
            __m512i v = _mm512_load_si512((const void *)(src + (size_t)b * 64));
            c0 = _mm512_dpbusd_epi32(c0, _mm512_set1_epi32(ptq_kld32(ac + 8 * b)), _mm512_and_si512(v, m4));
            c1 = _mm512_dpbusd_epi32(c1, _mm512_set1_epi32(ptq_kld32(ac + 8 * b + 4)),
                                     _mm512_and_si512(_mm512_srli_epi32(v, 4), m4));
        }
        size_t gi = (size_t)g * p->npad + rb * 16;
        __m512i zc = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(p->zero + gi)));
        __m512i cs = _mm512_loadu_si512((const void *)(p->csum + gi));
        __m512i I = _mm512_add_epi32(c0, c1);
        I = _mm512_sub_epi32(I, _mm512_mullo_epi32(za, cs));
        I = _mm512_sub_epi32(I, _mm512_mullo_epi32(zc, _mm512_set1_epi32(a->gsum[(size_t)t * a->ngroups + g])));
        I = _mm512_add_epi32(I, _mm512_mullo_epi32(_mm512_mullo_epi32(zc, za), _mm512_set1_epi32(len)));
        __m512 sc = _mm512_mul_ps(_mm512_loadu_ps(p->scale + gi), _mm512_set1_ps(a->scale[t]));
        y = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(I), y);
    }
    _mm512_storeu_ps(y16, y);
}

/* NB row blocks per pass of the int4 kernel above: the x broadcasts, loop
 * and prefetch overhead are shared by NB blocks (ynb = NB*16 outputs from row
 * rb*16), two accumulators per block by nibble parity. The one-block kernel
 * is bound by its ~23 vector ops per 64 bytes; on the 2-thread Zen 4 box, 4
 * blocks per pass measured ~1.2-1.3x faster than one. */
static inline __attribute__((always_inline)) TGT512 void int4_blocks(const int NB, const ptq_kpacked *p, int rb,
                                                                     const float *x, const float *xs, float *ynb) {
    const __m512 table = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int nkb = p->kpad / 8, G = p->group;
    const uint8_t *src = p->data + (size_t)rb * nkb * 64;
    const size_t bstride = (size_t)nkb * 64;
    __m512 y[4];
    for (int j = 0; j < NB; j++) y[j] = _mm512_setzero_ps();
    for (int g = 0; g < p->ngroups; g++) {
        int b0 = g * G / 8, b1 = PTQ_MIN((g + 1) * G, p->kpad) / 8;
        __m512 a[4][2];
        for (int j = 0; j < NB; j++) a[j][0] = a[j][1] = _mm512_setzero_ps();
        for (int b = b0; b < b1; b++) {
            __m512i v[4];
            for (int j = 0; j < NB; j++) {
                v[j] = _mm512_load_si512((const void *)(src + j * bstride + (size_t)b * 64));
                _mm_prefetch((const char *)(src + j * bstride + (size_t)b * 64 + 1024), _MM_HINT_T0);
            }
            const float *xb = x + 8 * b;
            static const int xi[8] = {0, 4, 1, 5, 2, 6, 3, 7}; /* column of nibble i */
            for (int i = 0; i < 8; i++) {
                __m512 xv = _mm512_set1_ps(xb[xi[i]]);
                for (int j = 0; j < NB; j++)
                    a[j][i & 1] = _mm512_fmadd_ps(
                        _mm512_permutexvar_ps(i ? _mm512_srli_epi32(v[j], 4 * i) : v[j], table), xv, a[j][i & 1]);
            }
        }
        __m512 xg = _mm512_set1_ps(xs[g]);
        for (int j = 0; j < NB; j++) {
            size_t gi = (size_t)g * p->npad + (rb + j) * 16;
            __m512 zf = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(p->zero + gi))));
            y[j] = _mm512_fmadd_ps(_mm512_loadu_ps(p->scale + gi),
                                   _mm512_fnmadd_ps(zf, xg, _mm512_add_ps(a[j][0], a[j][1])), y[j]);
        }
    }
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(ynb + 16 * j, y[j]);
}

TGT512 void ptq_kgemv_blocks_avx512_int4(int nb, const ptq_kpacked *p, int rb, const float *x, const float *xs,
                                         float *ynb) {
    switch (nb) {
    case 4: int4_blocks(4, p, rb, x, xs, ynb); break;
    case 3: int4_blocks(3, p, rb, x, xs, ynb); break;
    case 2: int4_blocks(2, p, rb, x, xs, ynb); break;
    default: gemv_block_avx512_int4(p, rb, x, xs, ynb); break; /* one block: four accumulators */
    }
}

