/* testref.h — test-only helpers over the library: the references the
 * tests compare it against and round-trip conversions no command needs. */
#ifndef PTQ_TESTREF_H
#define PTQ_TESTREF_H

#include "blockrot.h"
#include "kernels.h"
#include "spectral.h"
#include "tokenizer.h"

/* max |M M^T - I| of an n x n matrix. */
double ptq_orthogonality_error(const float *M, int n);
/* Decode a whole id sequence to a malloc'd NUL-terminated string. */
char *ptq_tokenizer_decode_all(const ptq_tokenizer *t, const int *ids, int n);
/* Reorder the rows of a q/k projection (n_heads x head_dim rows of `in`
 * columns; bias when in == 1) between HF rotate_half order and interleaved
 * RoPE pairs. to_interleaved=1: HF -> interleaved; 0: back. */
int ptq_qk_permute(float *w, int n_heads, int head_dim, int in, int to_interleaved, ptq_err *err);
/* Row o of W_low = irfft(first k[o] bins of rfft(W row o)). When spec is
 * non-NULL it receives the full spectra (rows x nb x 2). k[o] is clamped to
 * [0, nb]. */
int ptq_spectral_lowpass(const float *W, int rows, int n, const int *k, float *W_low, double *spec, ptq_err *err);
/* y (T x out) += x (T x n) . W_low^T evaluated from the coefficients (the
 * dense reference of the packed path's low-frequency kernel). */
int ptq_spectral_branch_apply(const ptq_spectral_branch *b, const float *x, int T, float *y, ptq_err *err);
/* The dequantized matrix of packed weights (out x in). */
void ptq_kdequant(const ptq_kpacked *p, float *w);
/* CSR from a dense matrix: keep entries where keep[i] != 0 (keep NULL: nonzeros). */
int ptq_kcsr_from_dense(ptq_kcsr *s, const float *D, const unsigned char *keep, int out, int in, ptq_err *err);
/* The dense C x C matrix M of the rotations (x . M). */
int ptq_ru_matrix(const ptq_ru_transform *tr, float *M, ptq_err *err);

#endif
