/* lowfreq.h — SpecQuant's low-frequency branch of weight rows (METHODS.md
 * §7): the k budgets and the branch in its stored form (spectral.h's
 * ptq_spectral_branch); the packed path evaluates it (kernels.h klowfreq). */
#ifndef PTQ_LOWFREQ_H
#define PTQ_LOWFREQ_H

#include "spectral.h"

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

#endif
