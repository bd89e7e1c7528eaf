/* kernels.h — real low-bit inference kernels (packed integer weights).
 *
 * Packed weight format (ptq_kpacked). A weight is w = scale * (c - zero)
 * with an integer code c and, per (row, group), a float scale and an integer
 * zero point. Codes of b bits are stored as bit planes of 8, 4, 2 and 1 bits
 * (8 = [8], 6 = 4+2, 4 = [4], 3 = 2+1, 2 = [2], ...), low bits first, so a
 * b-bit weight costs exactly b/8 bytes. Every plane is laid out for the
 * VNNI dot product: blocks of 16 rows x (32/p) columns, one 32-bit lane per
 * row; lane bits [8j + p*s, 8j + p*s + p) hold column 4s + j of the block, so
 * a shift and a mask turn 64 bytes into the int8 layout vpdpbusd consumes
 * ([k/4][16 rows][4 bytes]). Rows pad to 16 and columns to 32 with code 0.
 * 8-bit codes are stored minus 128 (signed bytes); zero is stored accordingly.
 *
 * Activations (ptq_kacts) are per-token uniform codes in 0..2^b-1 (unsigned,
 * symmetric codes shifted by 2^(b-1)), x = scale * (a - zero): uniform.h's
 * quantizer, the same codes as the fake quantizer. The integer GEMM computes, per group,
 * I = sum (c - zc)(a - za) = sum c a - za sum c - zc sum a + n zc za
 * (int32 accumulation over at most 65536 columns, longer groups summed in
 * int64; int64 correction), and the epilogue, over the groups in order,
 * y = fmaf(scale_w * scale_a, (float) I, y): the same bits on every ISA path,
 * thread count and tile shape (reference.h ptq_kgemm_bits_ref).
 *
 * Dispatch: AVX-512 VNNI, AVX-VNNI (256-bit) or portable scalar, chosen at
 * run time from CPUID; ptq_kern_force_isa() lowers it
 * (tests compare every path). The naive twin of every kernel, for tests, is
 * in reference.h. */
#ifndef PTQ_KERNELS_H
#define PTQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum { PTQ_ISA_SCALAR = 0, PTQ_ISA_AVXVNNI = 1, PTQ_ISA_AVX512VNNI = 2 } ptq_isa;
ptq_isa ptq_kern_isa(void);           /* the path in use */
ptq_isa ptq_kern_isa_best(void);      /* the best this CPU supports */
void ptq_kern_force_isa(ptq_isa isa); /* clamped to a path this CPU runs */
const char *ptq_isa_name(ptq_isa isa);
/* The bf16-activation kernels run vdpbf16ps: the AVX-512 VNNI path is in
 * use and the CPU has AVX-512 BF16 (the GEMM gives the same bits either way). */
int ptq_kern_uses_bf16(void);

#define PTQ_KP_RB 16 /* rows per plane block */
#define PTQ_KP_KA 32 /* column padding (covers the 1-bit plane block) */

typedef struct {
    int out, in, bits;
    int group, ngroups; /* columns per scale group (group == kpad: per channel) */
    int npad, kpad;
    int nplanes, plane_bits[4];
    size_t plane_off[4];
    uint8_t *data; /* all planes */
    size_t data_bytes;
    float *scale;  /* ngroups x npad (group-major) */
    int16_t *zero; /* ngroups x npad, in stored-code units */
    int32_t *csum; /* ngroups x npad: sum of stored codes over the group (kernel cache) */
} ptq_kpacked;

/* Pack codes u (out x in, values 0..2^bits-1) with scale/zero (out x ngroups,
 * row-major, zero in 0..2^bits-1). group 0 = per channel; else a multiple of 4. */
int ptq_kpack(ptq_kpacked *p, const uint8_t *codes, const float *scale, const int *zero, int out, int in, int bits,
              int group, ptq_err *err);
void ptq_kpacked_free(ptq_kpacked *p);
/* Codes back (out x in, 0..2^bits-1). 0, or -1 when out of memory. */
int ptq_kunpack_codes(const ptq_kpacked *p, uint8_t *codes);
/* Bytes as stored for inference: planes + fp32 scales + int16 zeros + int32 code sums. */
size_t ptq_kpacked_bytes(const ptq_kpacked *p);
/* Rows [r0, r0+16) unpacked to the int8 VNNI layout [kpad/4][16][4] at dst (row block r0/16). */
void ptq_kunpack_block(const ptq_kpacked *p, int rb, int8_t *dst);

/* Per-token activation codes. */
typedef struct ptq_kacts {
    int T, K, kpad, bits, group, ngroups;
    uint8_t *codes; /* T x kpad (padding 0) */
    float *scale;   /* T */
    int32_t *zero;  /* T */
    int32_t *gsum;  /* T x ngroups: sum of codes per weight group */
    int cap_T, cap_kpad, cap_ng;
    /* The last quantization's input and grid, and the caller's word that the
     * rows at every pointer kept here are unchanged since they were read
     * (same_input: q/k/v and gate/up read one input; the caller clears it, and
     * calls ptq_kacts_forget when a new input begins): ptq_kact_quant then
     * keeps the codes when src, T, K and the grid match. */
    const float *src;
    int sym;
    float clip;
    int same_input;
    /* SpecQuant's branch: the k lowest bins X of src (T x k2) for rows of
     * length lf_in, kept for the next linear on the same input (the method
     * that forms them is a function of in and k, so the same bits). */
    float *lf_X;
    size_t lf_cap;
    const float *lf_src;
    int lf_T, lf_k2, lf_in;
} ptq_kacts;

/* Quantize x (T x K) per token, bits 2..8, sym/asym, clip (uniform.h),
 * group sums for the weight's group size (0 = per channel). Reuses buffers,
 * and the codes themselves under a->same_input (above). */
int ptq_kact_quant(ptq_kacts *a, const float *x, int T, int K, int bits, int sym, float clip, int group,
                   ptq_err *err);
void ptq_kacts_free(ptq_kacts *a);
/* Nothing acts holds is of the next input (a new input begins). */
void ptq_kacts_forget(ptq_kacts *a);

/* y (T x out) = dequant(A) W^T + bias, integer GEMM with fused epilogue.
 * Error when the activations' K / groups do not match the weights. */
int ptq_kgemm(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y, ptq_err *err);
/* The exact integer part: I (T x out x ngroups) = sum over each group of (c - zc)(a - za). */
int ptq_kgemm_int(const ptq_kacts *a, const ptq_kpacked *w, int64_t *Iout, ptq_err *err);

/* Weight-only GEMV: y (out) = x (in, fp32) W^T + bias, dequantizing on the
 * fly; c - z is formed exactly before it multiplies x (no zero-point fold). */
int ptq_kgemv_f32(const ptq_kpacked *w, const float *x, const float *bias, float *y, ptq_err *err);
struct ptq_kcsr;
/* The same plus a sparse part (NULL: none), each row's entries added right
 * after the row's dot product, in the order ptq_kcsr_apply sums them (same
 * bits; no second pass over the rows, no second parallel region). */
int ptq_kgemv_f32_sparse(const ptq_kpacked *w, const struct ptq_kcsr *sp, const float *x, const float *bias, float *y,
                         ptq_err *err);
/* The AVX-512 decode GEMVs read int4 and 8-bit planes in place, 1..4 row
 * blocks of 16 per pass (default 4: more memory streams per core, the x
 * broadcasts shared); each row's sum is the same for any count. For
 * benchmarks and tests. */
void ptq_kern_gemv_blocks(int nb);
/* Software prefetch distance of those GEMVs and the integer ones, bytes
 * ahead in each row block's stream (0 = none, clamped to 0..16384, rounded
 * down to a cache line). Timing only: never the result. */
#define PTQ_KGEMV_PF_DEFAULT 2048
void ptq_kern_gemv_prefetch(int bytes);
/* T rows of fp32 activations (weight-only prefill): the GEMV for T = 1, else
 * a GEMM dequantizing 32-row panels inside the tile (kgemm_w16.c): every
 * output one FMA chain in column order, the same bits on every ISA path and
 * thread count. */
int ptq_kgemm_f32(const ptq_kpacked *w, const float *x, int T, const float *bias, float *y, ptq_err *err);
struct ptq_kcsr;
/* The same with a sparse full-precision part S (SEPTQ; NULL: none): y = x (W + S)^T + bias, S added to each
 * dequantized panel slice (T > 1), or applied after the GEMV (T = 1). */
int ptq_kgemm_f32_sparse(const ptq_kpacked *w, const struct ptq_kcsr *sp, const float *x, int T, const float *bias,
                         float *y, ptq_err *err);

/* ---- KV cache in int8 / int4 with per-head groups ------------------------ */
typedef struct {
    int bits, dim, group; /* group divides dim (head_dim or 128) */
    int ngroups, sym;
    float clip;
    size_t row_bytes; /* packed codes per row (int4: two per byte) */
} ptq_kvfmt;
int ptq_kvfmt_init(ptq_kvfmt *f, int bits, int dim, int group, int sym, float clip, ptq_err *err);
/* Quantize one row per group with uniform.h's quantizer (same codes as the fake
 * quantizer): codes + scale/zero (float, integer valued) per group. */
void ptq_kv_quant_row(const ptq_kvfmt *f, const float *x, uint8_t *codes, float *scale, float *zero);
void ptq_kv_dequant_row(const ptq_kvfmt *f, const uint8_t *codes, const float *scale, const float *zero, float *x);
/* One layer's K or V cache in a format: rows (position, kv head). */
typedef struct ptq_kvcache {
    ptq_kvfmt f;    /* f.bits 0: not quantized (the fp32 cache is used) */
    uint8_t *codes; /* rows x f.row_bytes */
    float *sz;      /* rows x 2 f.ngroups: scales, then zeros */
} ptq_kvcache;
/* One kv head's cached rows 0..L-1: row p's codes at codes + p * cstride
 * bytes, its f.ngroups scales then f.ngroups zeros at sz + p * sstride floats. */
typedef struct {
    const uint8_t *codes;
    const float *sz;
    size_t cstride, sstride;
    int L;
} ptq_kvrows;
/* Decode attention on the codes (kvcache.c states the summation order, the
 * same on every ISA path): S[p] = mul * dot(q, dequant(row p)); out (f.dim,
 * overwritten) = sum over p of P[p] dequant(row p). */
void ptq_kv_scores(const ptq_kvfmt *f, const float *q, const ptq_kvrows *r, float mul, float *S);
void ptq_kv_mix(const ptq_kvfmt *f, const float *P, const ptq_kvrows *r, float *out);
/* The rows widened to fp32: x (L x f.dim) = dequant(row p), as ptq_kv_dequant_row. */
void ptq_kv_dequant_rows(const ptq_kvfmt *f, const ptq_kvrows *r, float *x);
/* The same two over an fp32 cache (rows of dim at K + p * ld), in the same
 * order with c - z replaced by the stored value. */
void ptq_kv_scores_f32(const float *q, const float *K, size_t ld, int L, int dim, float mul, float *S);
void ptq_kv_mix_f32(const float *P, const float *V, size_t ld, int L, int dim, float *out);

/* ---- Side branches a linear adds to its output (fp32, T rows) ------------ */

/* SpecQuant low-frequency branch: y (T x out) += x W_low^T where every row of
 * W_low holds only the k lowest rfft bins. Stored as k complex coefficients
 * per row (pre-scaled by the Parseval weights); applied as the rows' k lowest
 * bins X (T x 2k), then one sgemm y += X coef^T. X comes, by the shape, from
 *  - few bins (2k <= log2(in): toy models): one sgemm X = x D with the in x 2k
 *    DFT table D = [cos | -sin] shared by every branch of that (in, k);
 *  - in = M P with P's largest prime factor above 7 and k <= M/2 + 1 (LLaMA's
 *    11008 = 256 x 43): P r2c FFTs of length M over the decimated rows
 *    x[b::P] (one FFTW many-plan), then X_j = sum_b G_b[j] w^(jb), w =
 *    exp(-2 pi i / in); FFTW's own plan for 11008 took 2.7x as long;
 *  - otherwise an FFTW r2c of each row. */
typedef struct {
    int in, out, k;
    float *coef;     /* out x 2k: [Re c_0..c_{k-1}, Im c_0..c_{k-1}] x weight */
    void *plan;      /* fftwf_plan, r2c of length in (init from W_low) */
    const float *dft; /* NULL (FFT paths) or in x 2k: cos(2 pi jn/in) then -sin(...), j < k */
    float *dft_own;  /* dft when the shared table cache was full; else NULL */
    int dec_m;       /* > 0: the decimated path, M (P = in / M) */
    void *dec_plan;  /* fftwf_plan: P r2c of length M, input stride P */
    float *dec_tw;   /* k x P x 2: w^(jb) (re, im) */
} ptq_klowfreq;
/* k <= in/2 + 1; W_low (out x in) is read once (its bins >= k are dropped). */
int ptq_klowfreq_init(ptq_klowfreq *lf, const float *W_low, int out, int in, int k, ptq_err *err);
/* From stored coefficients: spec (out x k x 2, interleaved re/im rfft bins of
 * each row, unweighted, zero past a row's own count; spectral.h's
 * ptq_spectral_branch layout). */
int ptq_klowfreq_init_coef(ptq_klowfreq *lf, const float *spec, int out, int in, int k, ptq_err *err);
int ptq_klowfreq_apply(const ptq_klowfreq *lf, const float *x, int T, float *y, ptq_err *err);
/* The same with acts' bins buffer: under acts->same_input the bins of x are
 * reused when the last call formed them from the same x with the same table
 * (q/k/v and gate/up share one; same bits). ptq_klowfreq_apply: own buffers. */
int ptq_klowfreq_apply_acts(const ptq_klowfreq *lf, const float *x, int T, float *y, ptq_kacts *acts,
                            ptq_err *err);
void ptq_klowfreq_free(ptq_klowfreq *lf);
size_t ptq_klowfreq_bytes(const ptq_klowfreq *lf);

/* SEPTQ sparse full-precision add: y (T x out) += x S^T with S in CSR.
 * Columns are 16-bit (in <= PTQ_KCSR_MAX_IN; every LLaMA linear's input is):
 * at 1% density a W4 decode reads 6 instead of 8 bytes per kept value, 12%
 * instead of 16% on top of the codes. */
#define PTQ_KCSR_MAX_IN 65536
typedef struct ptq_kcsr {
    int out, in;
    long nnz;
    long *rowptr; /* out + 1 */
    uint16_t *col;
    float *val;
} ptq_kcsr;
void ptq_kcsr_apply(const ptq_kcsr *s, const float *x, int T, float *y);
void ptq_kcsr_free(ptq_kcsr *s);
size_t ptq_kcsr_bytes(const ptq_kcsr *s);

/* ---- One linear on the real kernels (model.h's ptq_linear.kern) ---------
 * y = GEMM(x, w) + side(x) + bias, x = the linear's input after its online
 * op (before activation quantization): with a_bits 2..8 the rows are
 * quantized per token to integer codes (uniform.h) and multiplied by
 * the integer GEMM with its dequant epilogue; with a_bits >= 16 the
 * weight-only dequantizing GEMM (GEMV for one row). side = SpecQuant's
 * low-frequency branch and/or SEPTQ's sparse full-precision correction, both
 * on the unquantized rows, as the fake-quant path applies them. */
typedef struct ptq_lin_kernel {
    ptq_kpacked w;   /* the grid part */
    ptq_klowfreq lf; /* lf.coef NULL: none */
    ptq_kcsr sp;     /* sp.rowptr NULL: none */
    const float *side_dense; /* dense fp32 side branch (out x in, not owned) when lf is absent; NULL: none */
} ptq_lin_kernel;
/* acts: reusable code buffers (grown on demand). Errors: activation bits,
 * per-group activation quantization (group: 0 or >= in only), out of memory. */
int ptq_lin_kernel_forward(const ptq_lin_kernel *k, const float *x, int T, int a_bits, int a_sym, float a_clip,
                           int a_group, const float *bias, ptq_kacts *acts, float *y, ptq_err *err);
void ptq_lin_kernel_free(ptq_lin_kernel *k);

/* Execution mode of weight-only linears (a_bits >= 16), process-wide:
 * PTQ_W16_FP32 (default) the dequantizing fp32 GEMM (GEMV for one row);
 * PTQ_W16_INT8 the rows quantized per token to 8-bit asymmetric codes
 * (uniform.h, no clipping) and the integer GEMM (its direct GEMV for decode),
 * as llama.cpp multiplies Q4_0/Q8_0 weights by Q8_0 activations in prefill
 * and decode: faster, with an activation rounding error of at most scale/2
 * per element (|y - y_fp32| <= scale/2 sum |w| per output). A labelled
 * option: rows record it (latency key w16_act). */
/* PTQ_W16_BF16ACT the rows rounded to bf16 (nearest even; |x| < FLT_MIN to
 * 0), then ptq_kgemm_bf16: the 16-bit activations of a GPU W4A16 kernel,
 * with a rounding error of at most 2^-8 |x| per element (8 significant bits)
 * (|y - y_fp32| <= 2^-8 sum |w x| per output). Side branches (SpecQuant's,
 * SEPTQ's) read the fp32 rows in both labelled modes. */
typedef enum { PTQ_W16_FP32 = 0, PTQ_W16_INT8 = 1, PTQ_W16_BF16ACT = 2 } ptq_w16_act;
void ptq_kern_set_w16_act(ptq_w16_act m);
ptq_w16_act ptq_kern_w16_act(void);
/* "fp32", "int8-act", "bf16-act". */
const char *ptq_w16_act_name(ptq_w16_act m);
/* The flag or task value of a mode: "fp32", "int8", "bf16". */
const char *ptq_w16_act_flag(ptq_w16_act m);
/* From a flag or task value: "fp32", "int8" or "bf16". 0, or -1 (m unchanged). */
int ptq_w16_act_parse(const char *s, ptq_w16_act *m);
/* One value rounded to bf16 as the mode rounds it (the bit pattern). */
uint16_t ptq_bf16_round(float x);
/* y (T x out) = bf16(x) W^T + bias: T > 1 the vdpbf16ps GEMM (per output,
 * a fresh fp32 sum per chunk of at most PTQ_KBF16_CHUNK columns inside one weight group,
 * odd column of each pair first, then C = fmaf(scale, sum, C): the same bits
 * on every ISA path and thread count); T = 1 the fp32 GEMV on the rounded row. */
/* The decode GEMV on a bf16 row xb (w->kpad values, zero past in) by
 * vdpbf16ps (c - z exact), for the weights ptq_kgemv_bf16_direct accepts
 * (int4 in groups of a multiple of 8, ptq_kern_uses_bf16); others are an
 * error (ptq_kgemm_bf16 runs the fp32 GEMV on the widened row for them). */
int ptq_kgemv_bf16_direct(const ptq_kpacked *w);
int ptq_kgemv_bf16(const ptq_kpacked *w, const uint16_t *xb, const float *bias, float *y, ptq_err *err);
#define PTQ_KBF16_CHUNK 128 /* columns per fresh partial sum (the epilogue is 1/128 of the work) */
int ptq_kgemm_bf16(const ptq_kpacked *w, const float *x, int T, const float *bias, float *y, ptq_err *err);
/* Bytes as stored: packed weights + side branch (+ side_dense as fp32). */
size_t ptq_lin_kernel_bytes(const ptq_lin_kernel *k);

#endif
