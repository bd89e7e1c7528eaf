/* lowfreq.c — low-frequency truncation, k budgets, the branch from spectra
 * and its evaluation (see lowfreq.h). */
#include "lowfreq.h"

#include "matmul.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ptq_spectral_lowpass(const float *W, int rows, int n, const int *k, float *W_low, double *spec_out,
                         ptq_err *err) {
    int nb = ptq_spectral_nbins(n);
    double *spec = spec_out ? spec_out : malloc(sizeof(double) * 2 * (size_t)nb * rows);
    double *trunc = malloc(sizeof(double) * 2 * (size_t)nb * rows);
    int rc = -1;
    if (!spec || !trunc) {
        ptq_fail(err, "spectral lowpass: out of memory (%d x %d)", rows, n);
        goto out;
    }
    if (ptq_rfft_rows(W, rows, n, spec, err)) goto out;
    memcpy(trunc, spec, sizeof(double) * 2 * (size_t)nb * rows);
    for (int o = 0; o < rows; o++) {
        int ko = k[o] < 0 ? 0 : (k[o] > nb ? nb : k[o]);
        memset(trunc + ((size_t)o * nb + ko) * 2, 0, sizeof(double) * 2 * (size_t)(nb - ko));
    }
    rc = ptq_irfft_rows(trunc, rows, n, W_low, err);
out:
    if (!spec_out) free(spec);
    free(trunc);
    return rc;
}

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

int ptq_spectral_branch_apply(const ptq_spectral_branch *b, const float *x, int T, float *y, ptq_err *err) {
    if (b->kmax == 0 || T == 0) return 0;
    int nb = ptq_spectral_nbins(b->n), K2 = 2 * b->kmax;
    double *X = malloc(sizeof(double) * 2 * (size_t)nb * T);
    float *A = malloc(sizeof(float) * (size_t)T * K2), *B = malloc(sizeof(float) * (size_t)b->out * K2);
    int rc = -1;
    if (!X || !A || !B) {
        ptq_fail(err, "spectral branch apply: out of memory (%d x %d)", T, b->n);
        goto out;
    }
    if (ptq_rfft_rows(x, T, b->n, X, err)) goto out;
    /* Re(F conj X) = Re F Re X + Im F Im X; the bin weight and 1/n go to B */
    for (int t = 0; t < T; t++)
        for (int j = 0; j < K2; j++) A[(size_t)t * K2 + j] = (float)X[(size_t)t * nb * 2 + j];
    for (int o = 0; o < b->out; o++)
        for (int j = 0; j < K2; j++)
            B[(size_t)o * K2 + j] = b->coef[(size_t)o * K2 + j] * ptq_spectral_bin_weight(j / 2, b->n) / b->n;
    ptq_sgemm(CblasNoTrans, CblasTrans, T, b->out, K2, 1.f, A, K2, B, K2, 1.f, y, b->out);
    rc = 0;
out:
    free(X);
    free(A);
    free(B);
    return rc;
}
