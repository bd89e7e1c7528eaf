/* lowfreq.h — SpecQuant's low-frequency branch of weight rows (METHODS.md
 * §7): truncation to the k lowest rfft bins, the k budgets, the branch in
 * its stored form (spectral.h's ptq_spectral_branch) and its evaluation from
 * the coefficients. */
#ifndef PTQ_LOWFREQ_H
#define PTQ_LOWFREQ_H

#include "spectral.h"

/* Row o of W_low = irfft(first k[o] bins of rfft(W row o)). When spec is
 * non-NULL it receives the full spectra (rows x nb x 2). k[o] is clamped to
 * [0, nb]. */
int ptq_spectral_lowpass(const float *W, int rows, int n, const int *k, float *W_low, double *spec, ptq_err *err);

/* Budgets (k per row). Energy: the smallest k with sum_{b<k} w_b |F_b|^2 >=
 * frac * total (frac in [0,1]). */
void ptq_spectral_k_energy(const double *spec, int rows, int n, double frac, int *k);
/* Softmax allocation: rho = softmax(temp * score / max|score|) over rows,
 * k[o] = floor(rho[o] * total_bins), clamped to [0, nb]. */
void ptq_spectral_k_softmax(const double *score, int rows, int n, double temp, long total_bins, int *k);

/* Build from full spectra (rows x nb x 2); coefficients rounded to fp16 when
 * fp16 != 0. */
int ptq_spectral_branch_init(ptq_spectral_branch *b, const double *spec, int out, int n, const int *k, int fp16,
                             ptq_err *err);
/* y (T x out) += x (T x n) . W_low^T evaluated from the coefficients. */
int ptq_spectral_branch_apply(const ptq_spectral_branch *b, const float *x, int T, float *y, ptq_err *err);

#endif
