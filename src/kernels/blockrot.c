/* blockrot.c — applying RUQuant's composed rotation to rows (blockrot.h):
 * block-diagonal rotations through OpenBLAS, the zigzag permutation and the
 * global Householder reflection. The builders live in quant/rotations.c. */
#include "blockrot.h"

#include "matmul.h"
#include <stdlib.h>
#include <string.h>

/* x . u in double, element i into lane i mod 8, the lanes added in a fixed
 * tree: vectorized (one chain through n elements cost 4 cycles each, ~8 % of
 * RUQuant's W4A4 prefill at 7B shapes) and the same sum on every ISA. */
static double dot8(const float *x, const float *u, int n) {
    double a[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += (double)x[i + j] * u[i + j];
    for (int j = 0; i < n; i++, j++) a[j] += (double)x[i] * u[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

void ptq_householder_rows(float *x, long rows, int n, const float *u) {
#pragma omp parallel for schedule(static) if (rows > 256)
    for (long r = 0; r < rows; r++) {
        float *xr = x + r * n;
        double d = dot8(xr, u, n);
        float f = (float)(2 * d);
        for (int i = 0; i < n; i++) xr[i] -= f * u[i];
    }
}

/* dst[i] = src[perm[i]], one row of C. */
static void gather_row(float *dst, const float *src, int C, const int *perm) {
    for (int i = 0; i < C; i++) dst[i] = src[perm[i]];
}

/* Each of the C/B blocks of every row of src, times Rt, into dst. */
static void rotate_blocks(const float *src, float *dst, long rows, int C, int B, const float *Rt) {
    ptq_sgemm(CblasNoTrans, CblasNoTrans, (int)(rows * (C / B)), B, B, 1.f, src, B, Rt, B, 0.f, dst, B);
}

void ptq_permute_rows(float *x, long rows, int C, const int *perm, float *tmp) {
    for (long r = 0; r < rows; r++) {
        gather_row(tmp, x + r * C, C, perm);
        memcpy(x + r * C, tmp, sizeof(float) * C);
    }
}

void ptq_block_rotate_rows(float *x, long rows, int C, int B, const float *Rt, float *tmp) {
    memcpy(tmp, x, sizeof(float) * rows * C);
    rotate_blocks(tmp, x, rows, C, B, Rt);
}

/* x <- H(R2(P(R1(x * s)))) with s NULL for none. Two passes of copying
 * instead of five: the scale rides on the copy the first rotation reads,
 * the permutation on the gather the second reads. Same arithmetic as the
 * steps one by one (ptq_block_rotate_rows, ptq_permute_rows). */
static int ru_run(const ptq_ru_transform *tr, const float *s, float *x, long rows, ptq_err *err) {
    int C = tr->C;
    if (rows <= 0 || C <= 0) return 0;
    float *tmp = malloc(sizeof(float) * (size_t)rows * C);
    if (!tmp) return ptq_fail(err, "block rotation: out of memory for %ld x %d floats", rows, C);
    if (s)
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < C; j++) tmp[r * C + j] = x[r * C + j] * s[j];
    else
        memcpy(tmp, x, sizeof(float) * rows * C);
    rotate_blocks(tmp, x, rows, C, tr->B, tr->R1t);
    for (long r = 0; r < rows; r++) gather_row(tmp + r * C, x + r * C, C, tr->perm);
    rotate_blocks(tmp, x, rows, C, tr->B, tr->R2t);
    if (tr->omega) ptq_householder_rows(x, rows, C, tr->omega);
    free(tmp);
    return 0;
}

int ptq_ru_rotate_rows(const ptq_ru_transform *tr, float *x, long rows, ptq_err *err) {
    return ru_run(tr, NULL, x, rows, err);
}

int ptq_ru_apply(const ptq_ru_transform *tr, float *x, long rows, ptq_err *err) {
    return ru_run(tr, tr->s_inv, x, rows, err);
}

void ptq_ru_free(ptq_ru_transform *tr) {
    if (!tr) return;
    free(tr->s_inv);
    free(tr->R1t);
    free(tr->R2t);
    free(tr->perm);
    free(tr->omega);
    free(tr);
}

double ptq_ru_flops_per_row(const ptq_ru_transform *tr) {
    double f = 2.0 * 2.0 * tr->C * tr->B + tr->C; /* two block rotations + permutation */
    if (tr->omega) f += 4.0 * tr->C;
    if (tr->s_inv) f += tr->C;
    return f;
}
