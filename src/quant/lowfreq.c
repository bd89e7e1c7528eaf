/* lowfreq.c — k budgets and the branch from spectra (see lowfreq.h). */
#include "lowfreq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ptq_spectral_k_energy(const double *spec, int rows, int n, double frac, int *k) {
    int nb = ptq_spectral_nbins(n);
    for (int o = 0; o < rows; o++) {
        const double *s = spec + (size_t)o * nb * 2;
        double total = 0, acc = 0;
        for (int b = 0; b < nb; b++) total += ptq_spectral_bin_weight(b, n) * (s[2 * b] * s[2 * b] + s[2 * b + 1] * s[2 * b + 1]);
        int kk = 0;
        /* relative slack so frac = 1 keeps exactly the bins carrying energy */
        while (kk < nb && acc < frac * total * (1 - 1e-12)) {
            acc += ptq_spectral_bin_weight(kk, n) * (s[2 * kk] * s[2 * kk] + s[2 * kk + 1] * s[2 * kk + 1]);
            kk++;
        }
        k[o] = kk;
    }
}

void ptq_spectral_k_softmax(const double *score, int rows, int n, double temp, long total_bins, int *k) {
    int nb = ptq_spectral_nbins(n);
    double smax = 0, zmax = -INFINITY, sum = 0;
    for (int o = 0; o < rows; o++) smax = fmax(smax, fabs(score[o]));
    if (smax == 0) smax = 1;
    for (int o = 0; o < rows; o++) zmax = fmax(zmax, temp * score[o] / smax);
    for (int o = 0; o < rows; o++) sum += exp(temp * score[o] / smax - zmax);
    for (int o = 0; o < rows; o++) {
        double rho = exp(temp * score[o] / smax - zmax) / sum;
        long ko = (long)floor(rho * (double)total_bins);
        k[o] = (int)(ko < 0 ? 0 : (ko > nb ? nb : ko));
    }
}

int ptq_spectral_branch_init(ptq_spectral_branch *b, const double *spec, int out, int n, const int *k, int fp16,
                             ptq_err *err) {
    memset(b, 0, sizeof *b);
    int nb = ptq_spectral_nbins(n), kmax = 0;
    for (int o = 0; o < out; o++) kmax = PTQ_MAX(kmax, PTQ_MIN(PTQ_MAX(k[o], 0), nb));
    b->out = out;
    b->n = n;
    b->kmax = kmax;
    if (!(b->k = ptq_calloc(out, sizeof(int), err))) return -1;
    if (kmax && !(b->coef = ptq_calloc((size_t)out * kmax * 2, sizeof(float), err))) {
        ptq_spectral_branch_free(b);
        return -1;
    }
    for (int o = 0; o < out; o++) {
        b->k[o] = PTQ_MIN(PTQ_MAX(k[o], 0), nb);
        for (int j = 0; j < 2 * b->k[o]; j++) {
            float v = (float)spec[(size_t)o * nb * 2 + j];
            b->coef[(size_t)o * kmax * 2 + j] = fp16 ? ptq_round_fp16(v) : v;
        }
    }
    return 0;
}
