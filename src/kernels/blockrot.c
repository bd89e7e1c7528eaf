/* blockrot.c — applying RUQuant's composed rotation to rows (blockrot.h):
 * block-diagonal rotations through OpenBLAS, the zigzag permutation and the
 * global Householder reflection. The builders live in quant/rotations.c. */
#include "blockrot.h"

#include "matmul.h"
#include <stdlib.h>
#include <string.h>

void ptq_householder_rows(float *x, long rows, int n, const float *u) {
#pragma omp parallel for schedule(static) if (rows > 256)
    for (long r = 0; r < rows; r++) {
        float *xr = x + r * n;
        double d = 0;
        for (int i = 0; i < n; i++) d += (double)xr[i] * u[i];
        float f = (float)(2 * d);
        for (int i = 0; i < n; i++) xr[i] -= f * u[i];
    }
}

void ptq_permute_rows(float *x, long rows, int C, const int *perm, float *tmp) {
    for (long r = 0; r < rows; r++) {
        float *xr = x + r * C;
        for (int i = 0; i < C; i++) tmp[i] = xr[perm[i]];
        memcpy(xr, tmp, sizeof(float) * C);
    }
}

void ptq_block_rotate_rows(float *x, long rows, int C, int B, const float *Rt, float *tmp) {
    long m = rows * (C / B);
    memcpy(tmp, x, sizeof(float) * rows * C);
    ptq_sgemm(CblasNoTrans, CblasNoTrans, (int)m, B, B, 1.f, tmp, B, Rt, B, 0.f, x, B);
}

int ptq_ru_rotate_rows(const ptq_ru_transform *tr, float *x, long rows, ptq_err *err) {
    float *tmp = malloc(sizeof(float) * (size_t)rows * tr->C);
    if (!tmp) return ptq_fail(err, "block rotation: out of memory for %ld x %d floats", rows, tr->C);
    ptq_block_rotate_rows(x, rows, tr->C, tr->B, tr->R1t, tmp);
    ptq_permute_rows(x, rows, tr->C, tr->perm, tmp);
    ptq_block_rotate_rows(x, rows, tr->C, tr->B, tr->R2t, tmp);
    if (tr->omega) ptq_householder_rows(x, rows, tr->C, tr->omega);
    free(tmp);
    return 0;
}

int ptq_ru_apply(const ptq_ru_transform *tr, float *x, long rows, ptq_err *err) {
    if (tr->s_inv)
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < tr->C; j++) x[r * tr->C + j] *= tr->s_inv[j];
    return ptq_ru_rotate_rows(tr, x, rows, err);
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
