/* reference.h — the naive reference twin of every kernel (kernels.h, and
 * hadamard.h's transform), for tests: scalar loops over unpacked codes and
 * dense matrices, written to be read, not to be fast (an explicit DFT, an
 * explicit Hadamard matrix, O(T x out x in) products).
 *
 * A twin takes the inputs its kernel takes. Integer results (packed bytes,
 * codes, scales and zeros, the GEMM's integer part) must equal the kernel's
 * exactly. Float results are computed in double, and each comes with mag,
 * the same computation over absolute values (|A| |x| for a linear map,
 * propagated through composed maps): the scale of the rounding error of any
 * float evaluation order, so a test checks |y - y_ref| <= tol * mag.
 * Twins named "accumulate" add to y and to mag (the caller starts mag at
 * |y0|); the others overwrite both.
 *
 * The packed format is written and read bit by bit from the layout kernels.h
 * documents (32-bit lanes little-endian), independently of kpack.c. The
 * uniform quantizer is fakequant.h's formula written out again in the same
 * float operations, because its codes are a contract: equal to the fake
 * quantizer's, bit for bit. */
#ifndef PTQ_REFERENCE_H
#define PTQ_REFERENCE_H

#include "kernels.h"

/* ---- packed weights ------------------------------------------------------ */
/* Plane widths of a b-bit code, low bits first (8 -> [8], 6 -> [4, 2], 3 -> [2, 1]). */
int ptq_kplanes_ref(int bits, int plane_bits[4]);
/* The whole ptq_kpacked of ptq_kpack (header, planes, group-major scale /
 * zero / code sums), free with ptq_kpacked_free. */
int ptq_kpack_ref(ptq_kpacked *p, const uint8_t *codes, const float *scale, const int *zero, int out, int in, int bits,
                  int group, ptq_err *err);
/* The unsigned code (0..2^bits-1) at row r, column k, read from the planes. */
int ptq_kcode_ref(const ptq_kpacked *p, int r, int k);
void ptq_kunpack_codes_ref(const ptq_kpacked *p, uint8_t *codes);
void ptq_kunpack_block_ref(const ptq_kpacked *p, int rb, int8_t *dst);
void ptq_kdequant_ref(const ptq_kpacked *p, float *w);
size_t ptq_kpacked_bytes_ref(const ptq_kpacked *p);

/* ---- activations and GEMM ------------------------------------------------ */
/* ptq_kact_quant: fresh buffers sized exactly (free with ptq_kacts_free). */
int ptq_kact_quant_ref(ptq_kacts *a, const float *x, int T, int K, int bits, int sym, float clip, int group,
                       ptq_err *err);
/* I (T x out x ngroups) = sum over each group of (c - zc)(a - za). */
void ptq_kgemm_int_ref(const ptq_kacts *a, const ptq_kpacked *w, int64_t *Iout);
/* y (T x out) = dequant(A) dequant(W)^T + bias. */
void ptq_kgemm_ref(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, double *y, double *mag);
/* The integer GEMM's float arithmetic, bit for bit (float, not double):
 * per output, o = fmaf(s_w * s_a, (float) I_g, o) over the groups in order
 * from o = 0, I_g of ptq_kgemm_int_ref, then y = o + bias. */
void ptq_kgemm_bits_ref(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y);
/* y (T x out) = x dequant(W)^T + bias: the weight-only GEMM, and the GEMV (T = 1). */
void ptq_kgemm_f32_ref(const ptq_kpacked *w, const float *x, int T, const float *bias, double *y, double *mag);
void ptq_kgemv_f32_ref(const ptq_kpacked *w, const float *x, const float *bias, double *y, double *mag);
/* ptq_kgemm_bf16 for T > 1 bit for bit, element by element: a = bf16(x)
 * (ptq_bf16_round), d = c - z; per output, per chunk [ka, kb) (at most 64
 * columns, chunks restart at each group), acc = 0 then per column pair
 * acc = fmaf(a_k+1, d_k+1, acc), acc = fmaf(a_k, d_k, acc); C = fmaf(s_g,
 * acc, C) from C = 0; y = C + bias. */
void ptq_kgemm_bf16_bits_ref(const ptq_kpacked *w, const float *x, int T, const float *bias, float *y);
/* ptq_kgemv_bf16's int4 AVX-512 BF16 kernel bit for bit: per row, per group,
 * four sums over the group's 8-column blocks b (columns 8b + {0,1}, {2,3},
 * {4,5}, {6,7}), each pair odd column first by fmaf on bf16(x) and c - z;
 * r = (s01 + s45) + (s23 + s67); y = fmaf(s_g, r, y) from 0; then + bias. */
void ptq_kgemv_bf16_int4_bits_ref(const ptq_kpacked *w, const float *x, const float *bias, float *y);

/* matmul.h's decode GEMV bit for bit: y (n) = alpha W x + beta y, W rows of K
 * at ldw as fp32 (dtype 0) or bf16 / fp16 (w16.h); per row a[j] = fmaf(w_k,
 * x_k, a[j]) for k = j mod 16 in k order, a[j] += a[j + h] for h = 8, 4, 2,
 * 1, then alpha d (alpha != 1) and fmaf(beta, y, .) (beta != 0). */
void ptq_gemv_rows_ref(int n, int K, float alpha, int dtype, const void *W, int ldw, const float *x, float beta,
                       float *y);

/* ---- KV cache ------------------------------------------------------------- */
void ptq_kv_quant_row_ref(const ptq_kvfmt *f, const float *x, uint8_t *codes, float *scale, float *zero);
void ptq_kv_dequant_row_ref(const ptq_kvfmt *f, const uint8_t *codes, const float *scale, const float *zero, float *x);
double ptq_kv_dot_ref(const ptq_kvfmt *f, const float *q, const uint8_t *codes, const float *scale, const float *zero,
                      double *mag);
/* accumulate: acc += p * dequant(codes) */
void ptq_kv_axpy_ref(const ptq_kvfmt *f, float p, const uint8_t *codes, const float *scale, const float *zero,
                     double *acc, double *mag);

/* ---- online ops ----------------------------------------------------------- */
/* accumulate: y (T x out) += x (T x in) W^T for a dense W (out x in). */
void ptq_dense_ref(const double *W, int out, int in, const float *x, int T, double *y, double *mag);
/* The first k bins (re, im interleaved) of the DFT of a real row of length n. */
void ptq_rfft_ref(const float *x, int n, int k, double *bins);
/* The real row of length n whose DFT has the given first k bins and zeros
 * beyond (the imaginary parts of DC and, n even, Nyquist do not exist). */
void ptq_irfft_ref(const double *bins, int n, int k, double *x);
/* W_low (out x in) held by a low-frequency branch, from its stored coefficients. */
void ptq_klowfreq_dense_ref(const ptq_klowfreq *lf, double *W_low);
/* S = D where keep (keep NULL: where D != 0), else 0; returns the count kept. */
long ptq_kcsr_from_dense_ref(const float *D, const unsigned char *keep, int out, int in, double *S);
void ptq_kcsr_dense_ref(const ptq_kcsr *s, double *S);
/* y = x + Q M Q^T x per row (Q d x r, M r x r). */
int ptq_klowrank_apply_ref(const float *Q, const float *M, int d, int r, const float *x, int T, double *y,
                           double *mag);
/* Per row of length n = nb x B: x *= s (s NULL: skipped), each block x_b <- R1 x_b,
 * x <- x[perm] (NULL: identity), each block x_b <- R2 x_b (R2 NULL: R1),
 * x <- x - 2 (x . w) w with w = omega / |omega| (omega NULL: skipped). */
int ptq_kblockrot_apply_ref(int n, int B, const float *s, const float *R1, const int *perm, const float *R2,
                            const float *omega, const float *x, int T, double *y, double *mag);
/* The n x n matrix of ptq_hadamard_rows (y = H x): (H_K (x) S_P) / sqrt(n) with
 * n = K P, P the largest power of two leaving a constructible K, S_P the
 * Sylvester matrix, H_K hadamard.c's Paley matrix. Returns 0, -1 when no
 * construction is known (as hadamard.c), -2 when H_K needs the field GF(p^e),
 * e > 1, which this twin does not build (K = 28, 52, 344, ...). */
int ptq_hadamard_matrix_ref(double *H, int n);

/* ---- one linear ------------------------------------------------------------- */
int ptq_lin_kernel_forward_ref(const ptq_lin_kernel *k, const float *x, int T, int a_bits, int a_sym, float a_clip,
                               const float *bias, double *y, double *mag, ptq_err *err);

#endif
