/* kgemm_avx512.c — AVX-512 VNNI kernels: the int8 GEMM micro tile
 * (12 tokens x 32 rows, 24 zmm accumulators, vpdpbusd u8 x s8 -> int32) and
 * the weight-only fp32 GEMV (int4 direct from the bit planes, other widths
 * from the unpacked int8 block). Compiled with function-level target
 * attributes so the library still runs on CPUs without them. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "int4_avx512.h"
#include "kinternal.h"

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* The tile's 24 accumulators (c0_m, c1_m: token m, rows 0-15 / 16-31) are
 * named variables, not __m512i arrays: with arrays GCC kept six of them on
 * the stack and copied the rest between registers on every k step (the
 * group-wise tile measured 8 % slower per channel and 13 % at g128). The
 * "m < mr" tests fold away: mr is a constant in every instantiation. */
#define ACC_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ACC_ZERO(m) __m512i c0_##m = _mm512_setzero_si512(), c1_##m = c0_##m;
#define ACC_STEP(m)                                                                                                \
    if (m < mr) {                                                                                                  \
        __m512i av = _mm512_set1_epi32(ptq_kld32(A + (size_t)(m) * lda + 4 * k4));                                \
        c0_##m = _mm512_dpbusd_epi32(c0_##m, av, w0);                                                              \
        c1_##m = _mm512_dpbusd_epi32(c1_##m, av, w1);                                                              \
    }
#define ACC_STORE(m)                                                                                               \
    if (m < mr) {                                                                                                  \
        _mm512_storeu_si512((void *)(acc + (m) * 32), c0_##m);                                                     \
        _mm512_storeu_si512((void *)(acc + (m) * 32 + 16), c1_##m);                                                \
    }

static inline __attribute__((always_inline)) TGT512 void micro(const int mr, const uint8_t *A, int lda,
                                                               const int8_t *W, int k4a, int k4b, int32_t *acc) {
    ACC_ALL(ACC_ZERO)
    const int8_t *w = W + (size_t)k4a * 128;
    for (int k4 = k4a; k4 < k4b; k4++, w += 128) {
        __m512i w0 = _mm512_load_si512((const void *)w), w1 = _mm512_load_si512((const void *)(w + 64));
        ACC_ALL(ACC_STEP)
    }
    ACC_ALL(ACC_STORE)
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

/* The group-wise tile (kinternal.h ptq_kgrp): per group the int32 sums of
 * micro() in registers, then the zero-point terms
 * I = acc - za cs - zw (as - len za) and C += s_w s_a I, one FMA per element.
 * micro() runs the group's columns; its sums pass through L1. */
static inline __attribute__((always_inline)) TGT512 void grp_epilogue(const ptq_kgrp *e, int g, int len, int m,
                                                                      __m512i cs0, __m512i cs1, __m512i zw0,
                                                                      __m512i zw1, __m512 sw0, __m512 sw1, __m512i c0,
                                                                      __m512i c1, float *o) {
    int za = e->za[m];
    __m512i vza = _mm512_set1_epi32(za), vas = _mm512_set1_epi32(e->as[(size_t)m * e->ngroups + g] - len * za);
    __m512i i0 = _mm512_sub_epi32(_mm512_sub_epi32(c0, _mm512_mullo_epi32(vza, cs0)), _mm512_mullo_epi32(zw0, vas));
    __m512i i1 = _mm512_sub_epi32(_mm512_sub_epi32(c1, _mm512_mullo_epi32(vza, cs1)), _mm512_mullo_epi32(zw1, vas));
    __m512 sa = _mm512_set1_ps(e->sa[m]), z = _mm512_setzero_ps();
    _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_mul_ps(sw0, sa), _mm512_cvtepi32_ps(i0), g ? _mm512_loadu_ps(o) : z));
    _mm512_storeu_ps(o + 16,
                     _mm512_fmadd_ps(_mm512_mul_ps(sw1, sa), _mm512_cvtepi32_ps(i1), g ? _mm512_loadu_ps(o + 16) : z));
}

static inline __attribute__((always_inline)) TGT512 void micro_grp(const int mr, const uint8_t *A, int lda,
                                                                   const int8_t *W, const ptq_kgrp *e, float *C) {
    __mmask32 m32 = e->hi ? 0xFFFFFFFFu : 0xFFFFu;
    _Alignas(64) int32_t acc[PTQ_KG_MR * 32];
    for (int g = 0; g < e->ngroups; g++) {
        int k0 = g * e->G, k1 = PTQ_MIN(k0 + e->G, e->K), len = k1 - k0;
        micro(mr, A, lda, W, k0 / 4, (k1 + 3) / 4, acc); /* through L1: the loop keeps all 32 registers */
        size_t gi = (size_t)g * e->gstride;
        __m512i cs0 = _mm512_loadu_si512((const void *)(e->cs + gi));
        __m512i cs1 = _mm512_maskz_loadu_epi32((__mmask16)(m32 >> 16), e->cs + gi + 16);
        __m512i zw = _mm512_maskz_loadu_epi16(m32, e->zw + gi);
        __m512i zw0 = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(zw));
        __m512i zw1 = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(zw, 1));
        __m512 sw0 = _mm512_loadu_ps(e->sw + gi), sw1 = _mm512_maskz_loadu_ps((__mmask16)(m32 >> 16), e->sw + gi + 16);
        for (int m = 0; m < mr; m++)
            grp_epilogue(e, g, len, m, cs0, cs1, zw0, zw1, sw0, sw1, _mm512_load_si512((const void *)(acc + m * 32)),
                         _mm512_load_si512((const void *)(acc + m * 32 + 16)), C + m * 32);
    }
}

TGT512 void ptq_kmicro_grp_avx512(int mr, const uint8_t *A, int lda, const int8_t *W, const ptq_kgrp *e, float *out) {
    switch (mr) {
#define C(n)                                      \
    case n:                                       \
        micro_grp(n, A, lda, W, e, out);          \
        break;
        C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12)
#undef C
    default: break;
    }
}

#define INT4_TABLES                                                                                                \
    const __m512 tlo = _mm512_setr_ps(-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1);      \
    const __m512 thi = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define INT4_VAL(idx) _mm512_permutex2var_ps(tlo, (idx), thi)

/* 2^23 + 128 + z for the 16 rows at gi, as floats (exact). */
static inline __attribute__((always_inline)) TGT512 __m512 i8_magic_z(const ptq_kpacked *p, size_t gi) {
    return _mm512_cvtepi32_ps(_mm512_add_epi32(zeros16(p, gi), _mm512_set1_epi32((1 << 23) + 128)));
}

/* Byte j of every lane of v (already xor 0x80) as the float 2^23 + byte. */
#define I8_MAGIC_CTRL(j) _mm512_broadcast_i32x4(_mm_setr_epi32((j), 4 + (j), 8 + (j), 12 + (j)))
#define I8_MAGIC(v, ctrl) _mm512_castsi512_ps(_mm512_mask_shuffle_epi8(_mm512_set1_epi32(0x4B000000), 0x1111111111111111ULL, (v), (ctrl)))

/* Generic width: the block as int8 [kpad/4][16][4] (unpacked, or the 8-bit
 * plane itself). NB blocks (block j at blk + j * kpad * 16) are read side by
 * side, NB memory streams per core for the 8-bit plane; each row's sum is
 * the one-block sum, in the same order. The codes become floats without a
 * conversion: c ^ 0x80 = c + 128 as a byte, which one masked vpshufb drops
 * into the low byte of 2^23's bit pattern (2^23 + c + 128), and one
 * subtraction of 2^23 + 128 + z leaves c - z: exact (integers below 2^24),
 * so the same value as int32 (c - z) converted, in 3 instructions a column
 * where shift, shift, subtract, convert took 4 (W8A16 decode at 7B shapes
 * was compute-bound at 55% of the read bandwidth). */
static inline __attribute__((always_inline)) TGT512 void i8_f32_blocks(const int NB, const ptq_kpacked *p, int rb,
                                                                       const int8_t *blk, const float *x, float *ynb) {
    int G = p->group;
    const size_t bstride = (size_t)p->kpad * PTQ_KP_RB;
    __m512 y[4];
    for (int j = 0; j < NB; j++) y[j] = _mm512_setzero_ps();
    const __m512i k0 = I8_MAGIC_CTRL(0), k1 = I8_MAGIC_CTRL(1), k2 = I8_MAGIC_CTRL(2), k3 = I8_MAGIC_CTRL(3);
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    for (int g = 0; g < p->ngroups; g++) {
        int q0 = g * G / 4, q1 = PTQ_MIN((g + 1) * G, p->kpad) / 4;
        __m512 z[4], s[4];
        for (int j = 0; j < NB; j++) {
            z[j] = i8_magic_z(p, (size_t)g * p->npad + (rb + j) * 16);
            s[j] = _mm512_setzero_ps();
        }
        for (int qa = q0; qa < q1; qa += PTQ_KGEMV_CHUNK) { /* partial sums of 256 columns: long same-sign rows */
            __m512 a[4][4];
            for (int j = 0; j < NB; j++) a[j][0] = a[j][1] = a[j][2] = a[j][3] = _mm512_setzero_ps();
            for (int q = qa; q < PTQ_MIN(qa + PTQ_KGEMV_CHUNK, q1); q++) {
                const float *xq = x + 4 * q;
                __m512 x0 = _mm512_set1_ps(xq[0]), x1 = _mm512_set1_ps(xq[1]), x2 = _mm512_set1_ps(xq[2]),
                       x3 = _mm512_set1_ps(xq[3]);
                for (int j = 0; j < NB; j++) {
                    const int8_t *bq = blk + j * bstride + (size_t)q * 64;
                    _mm_prefetch((const char *)(bq + ptq_kgemv_pf), _MM_HINT_T0);
                    __m512i v = _mm512_xor_si512(_mm512_load_si512((const void *)bq), sign);
#define CZ(ctrl) _mm512_sub_ps(I8_MAGIC(v, ctrl), z[j])
                    a[j][0] = _mm512_fmadd_ps(CZ(k0), x0, a[j][0]);
                    a[j][1] = _mm512_fmadd_ps(CZ(k1), x1, a[j][1]);
                    a[j][2] = _mm512_fmadd_ps(CZ(k2), x2, a[j][2]);
                    a[j][3] = _mm512_fmadd_ps(CZ(k3), x3, a[j][3]);
#undef CZ
                }
            }
            for (int j = 0; j < NB; j++)
                s[j] = _mm512_add_ps(s[j], _mm512_add_ps(_mm512_add_ps(a[j][0], a[j][1]), _mm512_add_ps(a[j][2], a[j][3])));
        }
        for (int j = 0; j < NB; j++) {
            size_t gi = (size_t)g * p->npad + (rb + j) * 16;
            y[j] = _mm512_fmadd_ps(_mm512_loadu_ps(p->scale + gi), s[j], y[j]);
        }
    }
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(ynb + 16 * j, y[j]);
}

TGT512 void ptq_kgemv_blocks_avx512_i8(int nb, const ptq_kpacked *p, int rb, const int8_t *blk, const float *x,
                                       float *ynb) {
    switch (nb) {
    case 4: i8_f32_blocks(4, p, rb, blk, x, ynb); break;
    case 3: i8_f32_blocks(3, p, rb, blk, x, ynb); break;
    case 2: i8_f32_blocks(2, p, rb, blk, x, ynb); break;
    default: i8_f32_blocks(1, p, rb, blk, x, ynb); break;
    }
}

/* Integer decode GEMV, int4 weights straight from the plane (no unpack):
 * per 8 columns one 64-byte load, two masks, two vpdpbusd. The zero-point
 * correction fits int32 here (4-bit weights, K <= 65536). NB row blocks
 * (16 rows each, nb_out = NB*16 outputs from row rb*16) are read side by
 * side: NB memory streams per core instead of one. On the 2-core Zen 5 VM a
 * 1 GiB read measured 27-33 GB/s with one block per pass and 40-47 with
 * four; each row's sum and epilogue are the one-block kernel's (same bits). */
static inline __attribute__((always_inline)) TGT512 void int4_int_blocks(const int NB, const ptq_kpacked *p, int rb,
                                                                         const ptq_kacts *a, int t, float *ynb) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    int nkb = p->kpad / 8, G = p->group;
    const size_t bstride = (size_t)nkb * 64;
    const uint8_t *src = p->data + (size_t)rb * bstride, *ac = a->codes + (size_t)t * a->kpad;
    __m512 y[4];
    for (int j = 0; j < NB; j++) y[j] = _mm512_setzero_ps();
    __m512i za = _mm512_set1_epi32(a->zero[t]);
    for (int g = 0; g < p->ngroups; g++) {
        int b0 = g * G / 8, b1 = PTQ_MIN((g + 1) * G, p->kpad) / 8, len = PTQ_MIN((g + 1) * G, p->in) - g * G;
        __m512i c0[4], c1[4];
        for (int j = 0; j < NB; j++) c0[j] = c1[j] = _mm512_setzero_si512();
        for (int b = b0; b < b1; b++) {
            __m512i a0 = _mm512_set1_epi32(ptq_kld32(ac + 8 * b)), a1 = _mm512_set1_epi32(ptq_kld32(ac + 8 * b + 4));
            for (int j = 0; j < NB; j++) {
                __m512i v = _mm512_load_si512((const void *)(src + j * bstride + (size_t)b * 64));
                _mm_prefetch((const char *)(src + j * bstride + (size_t)b * 64 + ptq_kgemv_pf), _MM_HINT_T0);
                c0[j] = _mm512_dpbusd_epi32(c0[j], a0, _mm512_and_si512(v, m4));
                c1[j] = _mm512_dpbusd_epi32(c1[j], a1, _mm512_and_si512(_mm512_srli_epi32(v, 4), m4));
            }
        }
        __m512i ga = _mm512_set1_epi32(a->gsum[(size_t)t * a->ngroups + g]);
        for (int j = 0; j < NB; j++) {
            size_t gi = (size_t)g * p->npad + (rb + j) * 16;
            __m512i zc = zeros16(p, gi);
            __m512i cs = _mm512_loadu_si512((const void *)(p->csum + gi));
            __m512i I = _mm512_add_epi32(c0[j], c1[j]);
            I = _mm512_sub_epi32(I, _mm512_mullo_epi32(za, cs));
            I = _mm512_sub_epi32(I, _mm512_mullo_epi32(zc, ga));
            I = _mm512_add_epi32(I, _mm512_mullo_epi32(_mm512_mullo_epi32(zc, za), _mm512_set1_epi32(len)));
            __m512 sc = _mm512_mul_ps(_mm512_loadu_ps(p->scale + gi), _mm512_set1_ps(a->scale[t]));
            y[j] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(I), y[j]);
        }
    }
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(ynb + 16 * j, y[j]);
}

/* Integer decode GEMV, 8-bit weights: the 8-bit plane is already the
 * vpdpbusd layout, so one load and one vpdpbusd per 4 columns x 16 rows, NB
 * blocks side by side as above. The sum of products fits int32 for
 * K <= 65536 (|c| <= 128, a <= 255); the zero-point terms (za sum c reaches
 * 2^31 there) are formed in int64. */
static inline __attribute__((always_inline)) TGT512 void i8_int_blocks(const int NB, const ptq_kpacked *p, int rb,
                                                                       const ptq_kacts *a, int t, float *ynb) {
    int nk4 = p->kpad / 4, G = p->group;
    const size_t bstride = (size_t)nk4 * 64;
    const int8_t *src = (const int8_t *)p->data + (size_t)rb * bstride;
    const uint8_t *ac = a->codes + (size_t)t * a->kpad;
    float y[4 * 16] = {0};
    int64_t za = a->zero[t];
    for (int g = 0; g < p->ngroups; g++) {
        int q0 = g * G / 4, q1 = PTQ_MIN((g + 1) * G, p->kpad) / 4, len = PTQ_MIN((g + 1) * G, p->in) - g * G;
        __m512i c0[4], c1[4];
        for (int j = 0; j < NB; j++) c0[j] = c1[j] = _mm512_setzero_si512();
        int q = q0;
        for (; q + 1 < q1; q += 2) {
            __m512i a0 = _mm512_set1_epi32(ptq_kld32(ac + 4 * q)), a1 = _mm512_set1_epi32(ptq_kld32(ac + 4 * q + 4));
            for (int j = 0; j < NB; j++) {
                const int8_t *s = src + j * bstride + (size_t)q * 64;
                _mm_prefetch((const char *)(s + ptq_kgemv_pf), _MM_HINT_T0);
                _mm_prefetch((const char *)(s + 64 + ptq_kgemv_pf), _MM_HINT_T0);
                c0[j] = _mm512_dpbusd_epi32(c0[j], a0, _mm512_load_si512((const void *)s));
                c1[j] = _mm512_dpbusd_epi32(c1[j], a1, _mm512_load_si512((const void *)(s + 64)));
            }
        }
        if (q < q1) {
            __m512i a0 = _mm512_set1_epi32(ptq_kld32(ac + 4 * q));
            for (int j = 0; j < NB; j++)
                c0[j] = _mm512_dpbusd_epi32(c0[j], a0, _mm512_load_si512((const void *)(src + j * bstride + (size_t)q * 64)));
        }
        int64_t as = a->gsum[(size_t)t * a->ngroups + g];
        float sa = a->scale[t];
        for (int j = 0; j < NB; j++) {
            int32_t c[16];
            _mm512_storeu_si512((void *)c, _mm512_add_epi32(c0[j], c1[j]));
            size_t gi = (size_t)g * p->npad + (rb + j) * 16;
            for (int l = 0; l < 16; l++) {
                int64_t zc = p->zero[gi + l], v = (int64_t)c[l] - za * p->csum[gi + l] - zc * as + (int64_t)len * zc * za;
                y[16 * j + l] = fmaf(p->scale[gi + l] * sa, (float)v, y[16 * j + l]); /* the GEMM's epilogue (kinternal.h ptq_kgrp) */
            }
        }
    }
    memcpy(ynb, y, sizeof(float) * 16 * NB);
}

TGT512 void ptq_kgemv_int_blocks_avx512(int nb, const ptq_kpacked *p, int rb, const ptq_kacts *a, int t, float *ynb) {
    int w4 = p->bits == 4;
    switch (nb) {
#define B(n)                                                                                                       \
    case n:                                                                                                        \
        if (w4) int4_int_blocks(n, p, rb, a, t, ynb);                                                              \
        else i8_int_blocks(n, p, rb, a, t, ynb);                                                                   \
        break;
        B(1) B(2) B(3) B(4)
#undef B
    default: break;
    }
}

/* The int4 fp32 decode GEMV, NB row blocks per pass: the x broadcasts, loop
 * and prefetch overhead are shared by NB blocks (ynb = NB*16 outputs from row
 * rb*16), two accumulators per block by nibble parity, so a row's sum is
 * the same for every NB (a unit at the end of the matrix may hold fewer
 * blocks). On the 2-thread Zen 4 box, 4 blocks per pass measured ~1.2-1.3x
 * faster than one. */
static inline __attribute__((always_inline)) TGT512 void int4_blocks(const int NB, const ptq_kpacked *p, int rb,
                                                                     const float *x, float *ynb) {
    INT4_TABLES;
    int nkb = p->kpad / 8, G = p->group;
    const uint8_t *src = p->data + (size_t)rb * nkb * 64;
    const size_t bstride = (size_t)nkb * 64;
    __m512 y[4];
    for (int j = 0; j < NB; j++) y[j] = _mm512_setzero_ps();
    for (int g = 0; g < p->ngroups; g++) {
        int b0 = g * G / 8, b1 = PTQ_MIN((g + 1) * G, p->kpad) / 8;
        __m512 a[4][2];
        __m512i zb[4];
        for (int j = 0; j < NB; j++) {
            a[j][0] = a[j][1] = _mm512_setzero_ps();
            zb[j] = zbytes(p, (size_t)g * p->npad + (rb + j) * 16);
        }
        for (int b = b0; b < b1; b++) {
            __m512i lo[4], hi[4];
            for (int j = 0; j < NB; j++) {
                int4_split(_mm512_load_si512((const void *)(src + j * bstride + (size_t)b * 64)), zb[j], &lo[j], &hi[j]);
                _mm_prefetch((const char *)(src + j * bstride + (size_t)b * 64 + ptq_kgemv_pf), _MM_HINT_T0);
            }
            const float *xb = x + 8 * b;
            for (int k = 0; k < 4; k++) { /* byte k: column k (lo) and 4 + k (hi) */
                __m512 xl = _mm512_set1_ps(xb[k]), xh = _mm512_set1_ps(xb[4 + k]);
                for (int j = 0; j < NB; j++) {
                    __m512i il = k ? _mm512_srli_epi32(lo[j], 8 * k) : lo[j];
                    __m512i ih = k ? _mm512_srli_epi32(hi[j], 8 * k) : hi[j];
                    a[j][0] = _mm512_fmadd_ps(INT4_VAL(il), xl, a[j][0]);
                    a[j][1] = _mm512_fmadd_ps(INT4_VAL(ih), xh, a[j][1]);
                }
            }
        }
        for (int j = 0; j < NB; j++) {
            size_t gi = (size_t)g * p->npad + (rb + j) * 16;
            y[j] = _mm512_fmadd_ps(_mm512_loadu_ps(p->scale + gi), _mm512_add_ps(a[j][0], a[j][1]), y[j]);
        }
    }
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(ynb + 16 * j, y[j]);
}

TGT512 void ptq_kgemv_blocks_avx512_int4(int nb, const ptq_kpacked *p, int rb, const float *x, float *ynb) {
    switch (nb) {
    case 4: int4_blocks(4, p, rb, x, ynb); break;
    case 3: int4_blocks(3, p, rb, x, ynb); break;
    case 2: int4_blocks(2, p, rb, x, ynb); break;
    default: int4_blocks(1, p, rb, x, ynb); break;
    }
}
