/* test_online_ops.c — the methods' online op kernels against naive dense
 * references: SpecQuant low-frequency branch, SEPTQ CSR add, ReSpinQuant
 * rank-r correction, RUQuant block rotation + permutation + Householder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "testutil.h"

static ptq_rng rng;
static float nrm(void) { return (float)ptq_rng_normal(&rng); }

/* max |a - b| / (max |b| + tiny) */
static double relerr(const float *a, const double *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return e / (m + 1e-30);
}

static void test_lowfreq(int T, int out, int N, int k) {
    float *W = malloc(sizeof(float) * out * N), *x = malloc(sizeof(float) * T * N), *y = calloc(T * out, 4);
    double *ref = malloc(sizeof(double) * T * out);
    for (int o = 0; o < out; o++) {
        double a[64], b[64];
        for (int j = 0; j < k; j++) a[j] = nrm(), b[j] = j ? nrm() : 0;
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int j = 0; j < k; j++) s += a[j] * cos(2 * M_PI * j * n / N) + b[j] * sin(2 * M_PI * j * n / N);
            W[(size_t)o * N + n] = (float)s;
        }
    }
    for (int i = 0; i < T * N; i++) x[i] = nrm();
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)x[(size_t)t * N + n] * W[(size_t)o * N + n];
            ref[t * out + o] = s;
        }
    ptq_klowfreq lf;
    ptq_err err;
    CHECK(ptq_klowfreq_init(&lf, W, out, N, k, &err) == 0);
    CHECK(ptq_klowfreq_apply(&lf, x, T, y, &err) == 0);
    double e = relerr(y, ref, (size_t)T * out);
    if (e > 1e-5) fprintf(stderr, "lowfreq T=%d out=%d N=%d k=%d rel %.3g\n", T, out, N, k, e);
    CHECK(e <= 1e-5);
    CHECK(ptq_klowfreq_bytes(&lf) == sizeof(float) * out * 2 * k);
    ptq_klowfreq_free(&lf);
    CHECK(ptq_klowfreq_init(&lf, W, out, N, N / 2 + 2, &err) == -1);
    free(W), free(x), free(y), free(ref);
}

static void test_csr(int T, int out, int in) {
    float *D = malloc(sizeof(float) * out * in), *x = malloc(sizeof(float) * T * in), *y = malloc(sizeof(float) * T * out);
    double *ref = malloc(sizeof(double) * T * out);
    for (int i = 0; i < out * in; i++) D[i] = ptq_rng_uniform(&rng) < 0.05 ? nrm() : 0.f;
    for (int i = 0; i < T * in; i++) x[i] = nrm();
    for (int i = 0; i < T * out; i++) y[i] = 1.f;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double s = 1;
            for (int i = 0; i < in; i++) s += (double)x[(size_t)t * in + i] * D[(size_t)o * in + i];
            ref[t * out + o] = s;
        }
    ptq_kcsr s;
    ptq_err err;
    CHECK(ptq_kcsr_from_dense(&s, D, NULL, out, in, &err) == 0);
    ptq_kcsr_apply(&s, x, T, y);
    CHECK(relerr(y, ref, (size_t)T * out) <= 1e-5);
    ptq_kcsr_free(&s);
    free(D), free(x), free(y), free(ref);
}

static void test_lowrank(int T, int d, int r) {
    float *Q = malloc(sizeof(float) * d * r), *M = malloc(sizeof(float) * r * r), *x = malloc(sizeof(float) * T * d);
    double *ref = malloc(sizeof(double) * T * d);
    for (int i = 0; i < d * r; i++) Q[i] = nrm();
    for (int i = 0; i < r * r; i++) M[i] = nrm();
    for (int i = 0; i < T * d; i++) x[i] = nrm();
    for (int t = 0; t < T; t++) {
        const float *v = x + (size_t)t * d;
        double y[64], z[64];
        for (int a = 0; a < r; a++) {
            y[a] = 0;
            for (int i = 0; i < d; i++) y[a] += (double)Q[(size_t)i * r + a] * v[i];
        }
        for (int a = 0; a < r; a++) {
            z[a] = 0;
            for (int b = 0; b < r; b++) z[a] += (double)M[a * r + b] * y[b];
        }
        for (int i = 0; i < d; i++) {
            double s = v[i];
            for (int a = 0; a < r; a++) s += (double)Q[(size_t)i * r + a] * z[a];
            ref[(size_t)t * d + i] = s;
        }
    }
    ptq_klowrank lr;
    ptq_err err;
    CHECK(ptq_klowrank_init(&lr, Q, M, d, r, &err) == 0);
    CHECK(ptq_klowrank_apply(&lr, x, T, &err) == 0);
    CHECK(relerr(x, ref, (size_t)T * d) <= 1e-5);
    ptq_klowrank_free(&lr);
    CHECK(ptq_klowrank_init(&lr, Q, M, d, d + 1, &err) == -1);
    free(Q), free(M), free(x), free(ref);
}

static void test_blockrot(int T, int n, int B, int with_perm, int with_w) {
    float *R1 = malloc(sizeof(float) * B * B), *R2 = malloc(sizeof(float) * B * B), *om = malloc(sizeof(float) * n),
          *x = malloc(sizeof(float) * T * n);
    int *perm = malloc(sizeof(int) * n);
    double *ref = malloc(sizeof(double) * T * n), *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
    for (int i = 0; i < B * B; i++) R1[i] = nrm(), R2[i] = nrm();
    for (int i = 0; i < n; i++) om[i] = nrm(), perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(ptq_rng_u64(&rng) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < T * n; i++) x[i] = nrm();
    double wn = 0;
    for (int i = 0; i < n; i++) wn += (double)om[i] * om[i];
    for (int t = 0; t < T; t++) {
        const float *v = x + (size_t)t * n;
        for (int blk = 0; blk < n / B; blk++)
            for (int i = 0; i < B; i++) {
                double s = 0;
                for (int j = 0; j < B; j++) s += (double)R1[i * B + j] * v[blk * B + j];
                a[blk * B + i] = s;
            }
        for (int i = 0; i < n; i++) b[i] = with_perm ? a[perm[i]] : a[i];
        for (int blk = 0; blk < n / B; blk++)
            for (int i = 0; i < B; i++) {
                double s = 0;
                for (int j = 0; j < B; j++) s += (double)R2[i * B + j] * b[blk * B + j];
                a[blk * B + i] = s;
            }
        double d = 0;
        for (int i = 0; i < n; i++) d += a[i] * om[i] / sqrt(wn);
        for (int i = 0; i < n; i++) ref[(size_t)t * n + i] = with_w ? a[i] - 2 * d * om[i] / sqrt(wn) : a[i];
    }
    ptq_kblockrot br;
    ptq_err err;
    CHECK(ptq_kblockrot_init(&br, n, B, R1, with_perm ? perm : NULL, R2, with_w ? om : NULL, &err) == 0);
    CHECK(ptq_kblockrot_apply(&br, x, T, &err) == 0);
    double e = relerr(x, ref, (size_t)T * n);
    if (e > 1e-5) fprintf(stderr, "blockrot T=%d n=%d B=%d rel %.3g\n", T, n, B, e);
    CHECK(e <= 1e-5);
    ptq_kblockrot_free(&br);
    perm[0] = perm[1];
    CHECK(ptq_kblockrot_init(&br, n, B, R1, perm, R2, NULL, &err) == -1);
    CHECK(ptq_kblockrot_init(&br, n + 1, B, R1, NULL, R2, NULL, &err) == -1);
    free(R1), free(R2), free(om), free(x), free(perm), free(ref), free(a), free(b);
}

int main(void) {
    ptq_rng_seed(&rng, 11);
    test_lowfreq(1, 7, 96, 10);
    test_lowfreq(5, 13, 75, 38); /* odd length, every bin */
    test_lowfreq(9, 16, 64, 33); /* even length, Nyquist bin included */
    test_lowfreq(3, 8, 4096, 32);
    test_csr(1, 17, 33);
    test_csr(7, 64, 130);
    test_lowrank(1, 40, 3);
    test_lowrank(9, 96, 32);
    test_blockrot(1, 64, 16, 1, 1);
    test_blockrot(6, 384, 128, 1, 1);
    test_blockrot(3, 96, 32, 0, 0);
    return tu_done("test_online_ops");
}
