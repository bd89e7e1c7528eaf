/* kinternal.h — pieces shared by the kernel files (not a public contract). */
#ifndef PTQ_KINTERNAL_H
#define PTQ_KINTERNAL_H

#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define PTQ_KG_NP 32 /* rows per GEMM panel (two plane blocks) */
#define PTQ_KG_MR 12 /* max tokens per micro tile */
/* Products below this many multiply-adds (~0.1 ms on one core) run on the
 * calling thread: waking the team costs more, and on a loaded machine a
 * region waits for its descheduled thread (toy-model prefill at 2^18 ran at
 * 0.3x FP32, whose one-tile products stay serial). Every output is computed
 * by the same code either way. */
#define PTQ_KPAR_MIN (1L << 20)
/* Decode GEMVs stream each weight row block with a software prefetch this
 * many bytes ahead (0: none); see ptq_kern_gemv_prefetch. */
extern int ptq_kgemv_pf;
#define PTQ_KGEMV_CHUNK 64 /* float GEMV: 4-column steps per partial sum (bounds rounding on long rows) */

/* acc (mr x 32 int32) = sum over k4 in [k4a, k4b) of A rows (u8, stride lda)
 * times the int8 panel W ([k4][32][4]). */
typedef void (*ptq_kmicro_fn)(int mr, const uint8_t *A, int lda, const int8_t *W, int k4a, int k4b, int32_t *acc);
void ptq_kmicro_avx512(int mr, const uint8_t *A, int lda, const int8_t *W, int k4a, int k4b, int32_t *acc);
void ptq_kmicro_avxvnni(int mr, const uint8_t *A, int lda, const int8_t *W, int k4a, int k4b, int32_t *acc);

/* The integer tile with its dequant epilogue fused, for group-wise weights
 * (kgemm.c): per weight group g in order, the exact integer sum
 * I = sum (c - zc)(a - za) of the group, then C = fmaf(s_w s_a, (float) I, C)
 * (C starts at 0). Weight group g of the panel's rows at sw / zw / cs +
 * g * gstride (32 rows, or 16 when !hi); token m's activation scale, zero
 * and group code sums at sa[m], za[m], as[m * ngroups + g]. */
typedef struct {
    const float *sw, *sa;
    const int16_t *zw;
    const int32_t *cs, *za, *as;
    size_t gstride;
    int G, K, ngroups, hi;
} ptq_kgrp;
/* Groups up to this long: |I| <= 255^2 G < 2^31, so I is formed in int32
 * (its zero-point terms may wrap; the sum mod 2^32 is exact). */
#define PTQ_KGRP_MAXG 16384
void ptq_kmicro_grp_avx512(int mr, const uint8_t *A, int lda, const int8_t *W, const ptq_kgrp *e, float *C);

/* Eight bytes as one int64 (unaligned). */
static inline int64_t ptq_kld64(const void *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Four bytes as one int32 (unaligned). */
static inline int32_t ptq_kld32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Float GEMV over one 16-row block: acc[16] per group range. */
void ptq_kunpack_block_ld(const ptq_kpacked *p, int rb, uint32_t *dst32, int ld);
/* GEMM panel `panel` (rows 32 panel .. +32) to [kpad/4][32][4] int8 at dst
 * (64-byte aligned); the upper 16 rows zero when they are past npad. */
void ptq_kunpack_panel(const ptq_kpacked *p, int panel, int8_t *dst);
/* Per-call scratch, 64-byte aligned, not zeroed (free()). */
static inline void *ptq_kscratch(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }
/* nb (1..4) row blocks from rb per pass, sharing the x broadcasts (ynb: nb*16). */
void ptq_kgemv_blocks_avx512_int4(int nb, const ptq_kpacked *p, int rb, const float *x, float *ynb);
/* nb (1..4) row blocks from block rb, token t: nb*16 outputs (int4 or 8-bit plane). */
void ptq_kgemv_int_blocks_avx512(int nb, const ptq_kpacked *p, int rb, const ptq_kacts *a, int t, float *ynb);
/* nb (1 or 2) blocks of int8 codes [kpad/4][16][4] from blk (block j at
 * blk + j * kpad * 16: the 8-bit plane, or one unpacked block with nb 1). */
void ptq_kgemv_blocks_avx512_i8(int nb, const ptq_kpacked *p, int rb, const int8_t *blk, const float *x, float *ynb);

/* Weight-only prefill GEMM (kgemm_w16.c): a 32-row int8 panel slice
 * [k0, k0 + kn) dequantized to B (kn x 32 fp32), and C (mr x 32) =
 * (load ? C : 0) + A (mr x kn, stride lda) B as one FMA chain per element. */
void ptq_kw16_dequant_avx512(const ptq_kpacked *w, const int8_t *pan, int n0, int k0, int kn, float *B);
void ptq_kw16_micro_avx512(int mr, const float *A, int lda, const float *B, int kn, float *C, int load);

/* bf16-activation GEMM (kgemm_bf16.c): the rows rounded as ptq_bf16_round,
 * padded with zeros to ld; a 32-row panel slice [k0, k0 + kn) (multiples of
 * 4) as bf16 pairs B ([kn/2][32][2], c - z exact); C (mr x 32) = fmaf(s,
 * chunk sum, C) over one chunk of kn columns (vdpbf16ps order). */
void ptq_bf16_round_rows(const float *x, int T, int K, int ld, uint16_t *dst);
void ptq_bf16_round_rows_avx512(const float *x, int T, int K, int ld, uint16_t *dst);
void ptq_kbf16_dequant_avx512(const ptq_kpacked *w, const int8_t *pan, int n0, int k0, int kn, uint16_t *B);
/* The int4 decode GEMV on a bf16 row xb (kpad values): nb (1..4) row blocks from rb. */
void ptq_kgemv_bf16_blocks_avx512_int4(int nb, const ptq_kpacked *p, int rb, const uint16_t *xb, float *ynb);
void ptq_kbf16_micro_avx512(int mr, const uint16_t *A, int lda, const uint16_t *B, int kn, const float *s, float *C);

/* uniform.h's quantizer of one vector as codes (0..2^b-1). */
typedef void (*ptq_kquant_fn)(const float *x, int K, int bits, int sym, float clip, uint8_t *q, float *scale,
                              int32_t *zero);
void ptq_kquant_row(const float *x, int K, int bits, int sym, float clip, uint8_t *q, float *scale, int32_t *zero);
/* The same codes, scale and zero bit for bit, in AVX-512 (isa/kquant_avx512.c). */
/* matmul.h's decode GEMV on AVX-512 (isa/sgemv_avx512.c): y (n) = alpha W x
 * + beta y (beta 0: y not read), W rows of K at ldw as fp32 (dtype 0) or
 * PTQ_W16_BF16 / PTQ_W16_F16; reference.c ptq_gemv_rows_ref is its twin. */
void ptq_gemv_rows_avx512(int n, int K, float alpha, int dtype, const void *W, int ldw, const float *x, float beta,
                          float *y);
void ptq_kquant_row_avx512(const float *x, int K, int bits, int sym, float clip, uint8_t *q, float *scale,
                           int32_t *zero);
/* kvcache.c's decode attention in AVX-512 (isa/kv_avx512.c), the same bits:
 * groups of whole 16-lane chunks (int8: 16 columns, int4: 32), rows of at
 * most PTQ_KV_VEC_MAXDIM. */
#define PTQ_KV_VEC_MAXDIM 512
void ptq_kv_scores_avx512(const ptq_kvfmt *f, const float *q, const ptq_kvrows *r, float mul, float *S);
void ptq_kv_mix_avx512(const ptq_kvfmt *f, const float *P, const ptq_kvrows *r, float *out);
void ptq_kv_dequant_rows_avx512(const ptq_kvfmt *f, const ptq_kvrows *r, float *x);
void ptq_kv_scores_f32_avx512(const float *q, const float *K, size_t ld, int L, int dim, float mul, float *S);
void ptq_kv_mix_f32_avx512(const float *P, const float *V, size_t ld, int L, int dim, float *out);
void *ptq_kalloc64(size_t bytes); /* zeroed, 64-byte aligned; free() */
/* konline.c: y[o] += row o of S . x for rows [o0, o1) (one token). */
void ptq_kcsr_rows_1(const ptq_kcsr *s, int o0, int o1, const float *x, float *y);

/* Test-only slowdown switch (kgemm.c, PTQ_TEST_SLOWDOWN): how many times
 * to run this call of the integer GEMM (linear = 0) or of a whole packed
 * linear (linear = 1): 1, or 2 for the share of calls the switch repeats. */
int ptq_test_slowdown_runs(int linear);

#endif
