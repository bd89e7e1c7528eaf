/* spectral.h — batched real FFTs of weight rows (FFTW3, double precision),
 * fp16 rounding, and a low-frequency branch stored as rfft coefficients
 * (SpecQuant, METHODS.md §7; quant/lowfreq.h builds and budgets it).
 *
 * A spectrum of a length-n real row holds nb = n/2 + 1 complex bins stored as
 * interleaved (re, im) doubles. "Keep k bins" keeps bins 0..k-1 (DC upward)
 * and zeroes the rest; k = nb is the whole spectrum. FFTW plans are created
 * once per (length, batch) and reused (fftw_plan_many_dft_r2c / c2r, planned
 * with FFTW_UNALIGNED so any buffer may be passed to the new-array execute
 * functions, which are thread-safe; plan creation is serialised). */
#ifndef PTQ_SPECTRAL_H
#define PTQ_SPECTRAL_H

#include "common.h"

static inline int ptq_spectral_nbins(int n) { return n / 2 + 1; }

/* spec (rows x nb x 2) = rfft of each row of x (rows x n). */
int ptq_rfft_rows(const float *x, int rows, int n, double *spec, ptq_err *err);
/* x (rows x n) = inverse rfft of spec, divided by n (so irfft(rfft(x)) = x). */
int ptq_irfft_rows(const double *spec, int rows, int n, float *x, ptq_err *err);

/* Weight of bin b in Parseval's sum (1 for DC and, n even, Nyquist; else 2). */
static inline int ptq_spectral_bin_weight(int b, int n) { return (b == 0 || (n % 2 == 0 && b == n / 2)) ? 1 : 2; }

/* Round a float to the nearest IEEE half-precision value (round to nearest
 * even; saturates at +-65504). Used for 16-bit side branches. */
float ptq_round_fp16(float x);

/* The low-frequency branch in its stored form: k[o] complex coefficients per
 * row (row o's first k[o] bins of kmax slots). Evaluating it from the
 * coefficients: x . w_o = (1/n) sum_b w_b Re(F_ob conj(X_b)), so one rfft of
 * every input row and one (T x 2kmax) x (2kmax x out) GEMM. */
typedef struct {
    int out, n, kmax;
    int *k;      /* [out] */
    float *coef; /* out x kmax x 2, zero past k[o] */
} ptq_spectral_branch;

void ptq_spectral_branch_free(ptq_spectral_branch *b);
/* Dense rows W_low (out x n) of the stored branch (irfft of the coefficients). */
int ptq_spectral_branch_dense(const ptq_spectral_branch *b, float *W_low, ptq_err *err);
/* Bytes as stored: 2 fp16 per kept coefficient + one int16 k per row. */
long ptq_spectral_branch_bytes(const ptq_spectral_branch *b);

#endif
