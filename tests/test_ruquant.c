/* test_ruquant.c — RUQuant's rotations: Householder onto a target, get_R
 * orthogonal to 1e-5, zigzag is a balanced permutation, the composed
 * transform is orthogonal and keeps X W^T; and (with the assets) the method
 * end to end on stories260K. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rotations.h"
#include "testutil.h"

/* Heavy-tailed activations with a few outlier channels. */
static void fake_acts(float *X, long T, int C, uint64_t seed) {
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    for (long t = 0; t < T; t++)
        for (int j = 0; j < C; j++) {
            double g = ptq_rng_normal(&r);
            X[t * C + j] = (float)(g * (j % 17 == 3 ? 30.0 : 1.0));
        }
}

static void test_householder(void) {
    double v[5] = {3, -1, 2, 0.5, 4}, t[5] = {0, 0, 0, 0, 0}, u[5];
    double nv = 0;
    for (int i = 0; i < 5; i++) nv += v[i] * v[i];
    t[2] = sqrt(nv);
    CHECK(ptq_householder_unit(v, t, 5, u) == 1);
    float x[5];
    float uf[5];
    for (int i = 0; i < 5; i++) x[i] = (float)v[i], uf[i] = (float)u[i];
    ptq_householder_rows(x, 1, 5, uf);
    for (int i = 0; i < 5; i++) CHECK_NEAR(x[i], t[i], 1e-5);
    CHECK(ptq_householder_unit(v, v, 5, u) == 0);
}

static void test_get_R(int B, long count) {
    ptq_err err;
    ptq_rng rng;
    ptq_rng_seed(&rng, 1);
    float *X = malloc(sizeof(float) * count * B), *Rt = malloc(sizeof(float) * B * B);
    fake_acts(X, count, B, 9);
    CHECK(ptq_ru_get_R(X, count, B, 16, 3, &rng, Rt, &err) == 0);
    double oe = ptq_orthogonality_error(Rt, B);
    printf("get_R B=%d: orthogonality error %.2e\n", B, oe);
    CHECK(oe < 1e-5);
    free(X);
    free(Rt);
}

static void test_zigzag(void) {
    int C = 172, B = ptq_block_size_for(C, 128), perm[172], seen[172] = {0};
    CHECK(B == 86);
    CHECK(ptq_block_size_for(64, 128) == 64 && ptq_block_size_for(384, 128) == 128);
    float mx[172];
    for (int j = 0; j < C; j++) mx[j] = (float)((j * 37) % 172); /* distinct values */
    ptq_zigzag_perm(mx, C, B, perm);
    for (int j = 0; j < C; j++) seen[perm[j]]++;
    int ok = 1;
    for (int j = 0; j < C; j++) ok &= seen[j] == 1;
    CHECK(ok);
    /* the two largest channels land in different blocks */
    int a = -1, b = -1;
    for (int p = 0; p < C; p++) {
        if (mx[perm[p]] == 171) a = p / B;
        if (mx[perm[p]] == 170) b = p / B;
    }
    CHECK(a >= 0 && b >= 0 && a != b);
}

/* Composed transform: orthogonal, X W^T preserved, outliers spread. */
static void test_transform(int C) {
    ptq_err err;
    long T = 96;
    int out = 7;
    float *X = malloc(sizeof(float) * T * C), *W = malloc(sizeof(float) * out * C), *M = malloc(sizeof(float) * C * C);
    fake_acts(X, T, C, 2);
    fake_acts(W, out, C, 3);
    ptq_ru_opts o = {.K = 16, .lambda = 3, .B = ptq_block_size_for(C, 128), .zigzag = 1, .householder = 1, .seed = 4};
    ptq_ru_transform *tr = NULL;
    CHECK(ptq_ru_build(X, T, C, &o, &tr, &err) == 0);
    if (!tr) return;
    CHECK(ptq_ru_matrix(tr, M, &err) == 0);
    double oe = ptq_orthogonality_error(M, C);
    printf("ruquant transform C=%d B=%d: orthogonality error %.2e, flops/row %.0f\n", C, o.B, oe,
           ptq_ru_flops_per_row(tr));
    CHECK(oe < 1e-5);
    CHECK(ptq_orthogonality_error(tr->R1t, o.B) < 1e-5 && ptq_orthogonality_error(tr->R2t, o.B) < 1e-5);
    double y0max = 0, diff = 0, amax0 = 0, amax1 = 0;
    double *y0 = malloc(sizeof(double) * T * out);
    for (long t = 0; t < T; t++)
        for (int i = 0; i < out; i++) {
            double s = 0;
            for (int j = 0; j < C; j++) s += (double)X[t * C + j] * W[i * C + j];
            y0[t * out + i] = s;
            y0max = fmax(y0max, fabs(s));
        }
    for (long i = 0; i < T * C; i++) amax0 = fmax(amax0, fabs(X[i]));
    ptq_ru_rotate_rows(tr, X, T);
    ptq_ru_rotate_rows(tr, W, out);
    for (long i = 0; i < T * C; i++) amax1 = fmax(amax1, fabs(X[i]));
    for (long t = 0; t < T; t++)
        for (int i = 0; i < out; i++) {
            double s = 0;
            for (int j = 0; j < C; j++) s += (double)X[t * C + j] * W[i * C + j];
            diff = fmax(diff, fabs(s - y0[t * out + i]));
        }
    printf("ruquant transform C=%d: max|x| %.2f -> %.2f, max |XW^T change| / max|XW^T| = %.2e\n", C, amax0, amax1,
           diff / y0max);
    CHECK(diff / y0max < 1e-4);
    CHECK(amax1 < amax0);
    ptq_ru_release(tr);
    free(X);
    free(W);
    free(M);
    free(y0);
}

int main(void) {
    test_householder();
    test_get_R(64, 512);
    test_get_R(86, 300);
    test_get_R(128, 200);
    test_zigzag();
    test_transform(64);
    test_transform(172);
    return tu_done("test_ruquant");
}
