/* test_spectral.c — FFTW row transforms, low-pass truncation, budgets, and
 * the coefficient-domain evaluation of SpecQuant's low-frequency branch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowfreq.h"
#include "testref.h"
#include "testutil.h"

static void fill(float *x, size_t n, uint64_t seed) {
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)ptq_rng_normal(&r);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Full spectrum reconstructs, k = 0 gives zero, the result is band-limited. */
static void test_lowpass(int rows, int n) {
    ptq_err err;
    int nb = ptq_spectral_nbins(n);
    float *W = malloc(sizeof(float) * rows * n), *L = malloc(sizeof(float) * rows * n);
    int *k = malloc(sizeof(int) * rows);
    double *spec = malloc(sizeof(double) * 2 * rows * nb);
    fill(W, (size_t)rows * n, 7 + n);
    for (int o = 0; o < rows; o++) k[o] = nb;
    CHECK(ptq_spectral_lowpass(W, rows, n, k, L, spec, &err) == 0);
    CHECK_NEAR(max_abs_diff(W, L, (size_t)rows * n), 0, 1e-5);
    for (int o = 0; o < rows; o++) k[o] = 0;
    CHECK(ptq_spectral_lowpass(W, rows, n, k, L, NULL, &err) == 0);
    double mx = 0;
    for (size_t i = 0; i < (size_t)rows * n; i++) mx = fmax(mx, fabs(L[i]));
    CHECK(mx == 0);
    for (int o = 0; o < rows; o++) k[o] = o % (nb + 1);
    CHECK(ptq_spectral_lowpass(W, rows, n, k, L, NULL, &err) == 0);
    CHECK(ptq_rfft_rows(L, rows, n, spec, &err) == 0);
    double tail = 0;
    for (int o = 0; o < rows; o++)
        for (int b = k[o]; b < nb; b++) tail = fmax(tail, hypot(spec[(o * nb + b) * 2], spec[(o * nb + b) * 2 + 1]));
    CHECK_NEAR(tail, 0, 1e-4);
    free(W);
    free(L);
    free(k);
    free(spec);
}

static void test_budgets(void) {
    ptq_err err;
    int rows = 40, n = 64, nb = ptq_spectral_nbins(n);
    float *W = malloc(sizeof(float) * rows * n), *L = malloc(sizeof(float) * rows * n);
    double *spec = malloc(sizeof(double) * 2 * rows * nb);
    int k1[40], k2[40];
    fill(W, (size_t)rows * n, 3);
    CHECK(ptq_rfft_rows(W, rows, n, spec, &err) == 0);
    ptq_spectral_k_energy(spec, rows, n, 1.0, k1);
    CHECK(ptq_spectral_lowpass(W, rows, n, k1, L, NULL, &err) == 0);
    CHECK_NEAR(max_abs_diff(W, L, (size_t)rows * n), 0, 1e-5);
    ptq_spectral_k_energy(spec, rows, n, 0.5, k2);
    int mono = 1;
    for (int o = 0; o < rows; o++) mono &= k2[o] <= k1[o] && k2[o] >= 1;
    CHECK(mono);
    ptq_spectral_k_energy(spec, rows, n, 0.0, k2);
    for (int o = 0; o < rows; o++) CHECK(k2[o] == 0);
    /* softmax: total bins respected, higher score never gets fewer bins */
    double score[40];
    for (int o = 0; o < rows; o++) score[o] = o;
    ptq_spectral_k_softmax(score, rows, n, 4.0, 16L * rows, k2);
    long tot = 0;
    int order = 1;
    for (int o = 0; o < rows; o++) {
        tot += k2[o];
        if (o) order &= k2[o] >= k2[o - 1];
    }
    CHECK(tot <= 16L * rows && tot > 8L * rows);
    CHECK(order);
    free(W);
    free(L);
    free(spec);
}

/* The branch evaluated from k coefficients equals x . W_low^T. */
static void test_branch(int out, int n, int T) {
    ptq_err err;
    int nb = ptq_spectral_nbins(n);
    float *W = malloc(sizeof(float) * out * n), *L = malloc(sizeof(float) * out * n), *D = malloc(sizeof(float) * out * n);
    float *x = malloc(sizeof(float) * T * n), *y1 = calloc((size_t)T * out, sizeof(float)), *y2 = calloc((size_t)T * out, sizeof(float));
    int *k = malloc(sizeof(int) * out);
    double *spec = malloc(sizeof(double) * 2 * out * nb);
    fill(W, (size_t)out * n, 11);
    fill(x, (size_t)T * n, 12);
    for (int o = 0; o < out; o++) k[o] = (o * 7) % (nb + 1);
    CHECK(ptq_spectral_lowpass(W, out, n, k, L, spec, &err) == 0);
    ptq_spectral_branch b;
    CHECK(ptq_spectral_branch_init(&b, spec, out, n, k, 0, &err) == 0);
    CHECK(ptq_spectral_branch_dense(&b, D, &err) == 0);
    CHECK_NEAR(max_abs_diff(D, L, (size_t)out * n), 0, 1e-5);
    CHECK(ptq_spectral_branch_apply(&b, x, T, y1, &err) == 0);
    double ymax = 0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += (double)x[t * n + j] * L[o * n + j];
            y2[t * out + o] = (float)s;
            ymax = fmax(ymax, fabs(s));
        }
    CHECK_NEAR(max_abs_diff(y1, y2, (size_t)T * out) / (ymax + 1e-12), 0, 1e-4);
    long want = 2L * out;
    for (int o = 0; o < out; o++) want += 4L * k[o];
    CHECK(ptq_spectral_branch_bytes(&b) == want);
    ptq_spectral_branch_free(&b);
    /* fp16 coefficients stay within half precision of the exact ones */
    CHECK(ptq_spectral_branch_init(&b, spec, out, n, k, 1, &err) == 0);
    CHECK(ptq_spectral_branch_dense(&b, D, &err) == 0);
    CHECK(max_abs_diff(D, L, (size_t)out * n) < 5e-3);
    ptq_spectral_branch_free(&b);
    free(W);
    free(L);
    free(D);
    free(x);
    free(y1);
    free(y2);
    free(k);
    free(spec);
}

static void test_fp16(void) {
    CHECK(ptq_round_fp16(1.f) == 1.f);
    CHECK(ptq_round_fp16(1.f + 1.f / 4096) == 1.f);        /* below half an ulp */
    CHECK(ptq_round_fp16(1.f + 3.f / 2048) == 1.f + 2.f / 1024); /* tie to even */
    CHECK(ptq_round_fp16(1.f / 3) == 0.333251953125f);
    CHECK(ptq_round_fp16(-70000.f) == -65504.f);
    CHECK(ptq_round_fp16(1e-8f) == 0.f);
}

int main(void) {
    test_lowpass(5, 64);
    test_lowpass(70, 172);
    test_lowpass(33, 43); /* odd length, no Nyquist bin */
    test_budgets();
    test_branch(37, 64, 9);
    test_branch(20, 43, 5);
    test_fp16();
    return tu_done("test_spectral");
}
