/* gemv_rows_ab.c — two builds of the dense-row decode GEMV
 * (ptq_gemv_rows_avx512, sgemv_avx512.c) timed pass by pass in one process:
 * gemv_ab.sh compiles the file at an old revision as gemv_A and the work
 * tree's as gemv_B. A pass runs the GEMV over M copies of an N x K matrix
 * (M * N * K * elem > 700 MB, far past the last-level cache) in 64-row tiles
 * split over the threads as matmul.c splits them; A and B alternate, so a
 * drift of the shared machine's bandwidth lands on both. Prints the median
 * and best GB/s of each and the median of the pass-by-pass speed ratio B/A,
 * and checks that both gave the same bits. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gemv_A(int n, int K, float alpha, int dtype, const void *W, int ldw, const float *x, float beta, float *y);
void gemv_B(int n, int K, float alpha, int dtype, const void *W, int ldw, const float *x, float beta, float *y);
typedef void (*gemv_fn)(int, int, float, int, const void *, int, const float *, float, float *);
enum { TILE = 64, MAXP = 101 };

static void pass(gemv_fn f, int N, int K, int dtype, const void *W, const float *x, float *y) {
    size_t esz = dtype ? 2 : 4;
    int nt = (N + TILE - 1) / TILE;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < nt; t++) {
        int j0 = t * TILE, n = N - j0 < TILE ? N - j0 : TILE;
        f(n, K, 1.f, dtype, (const char *)W + (size_t)j0 * K * esz, K, x, 0.f, y + j0);
    }
}
static int by_value(const void *a, const void *b) {
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s DTYPE(0 fp32, 1 bf16, 2 fp16) N K PASSES\n", argv[0]);
        return 2;
    }
    int dtype = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), P = atoi(argv[4]);
    if (dtype < 0 || dtype > 2 || N < 1 || K < 1 || P < 1 || P > MAXP) {
        fprintf(stderr, "gemv_rows_ab: DTYPE 0..2, N and K >= 1, PASSES 1..%d\n", MAXP);
        return 2;
    }
    size_t esz = dtype ? 2 : 4, per = (size_t)N * K * esz;
    int M = (int)(700e6 / (double)per) + 1;
    char **W = malloc(sizeof *W * M);
    float *x = malloc(sizeof *x * K), *ya = malloc(sizeof *ya * N), *yb = malloc(sizeof *yb * N);
    if (!W || !x || !ya || !yb) return fprintf(stderr, "gemv_rows_ab: out of memory\n"), 1;
    for (int m = 0; m < M; m++) {
        if (!(W[m] = malloc(per))) return fprintf(stderr, "gemv_rows_ab: out of memory\n"), 1;
        uint16_t *h = (uint16_t *)W[m]; /* finite values for every dtype: 1.0-ish halves */
        for (size_t i = 0; i < per / 2; i++) h[i] = dtype ? (uint16_t)(0x3c00 + i % 61) : (i & 1 ? 0x3c00 : 0);
    }
    for (int k = 0; k < K; k++) x[k] = 0.001f * (float)(k % 97);
    double ta[MAXP], tb[MAXP], ratio[MAXP];
    for (int p = 0; p < P; p++) {
        double t = omp_get_wtime();
        for (int m = 0; m < M; m++) pass(gemv_A, N, K, dtype, W[m], x, ya);
        ta[p] = omp_get_wtime() - t;
        t = omp_get_wtime();
        for (int m = 0; m < M; m++) pass(gemv_B, N, K, dtype, W[m], x, yb);
        tb[p] = omp_get_wtime() - t;
        ratio[p] = ta[p] / tb[p];
    }
    int same = !memcmp(ya, yb, sizeof *ya * N);
    double bytes = (double)M * per;
    qsort(ta, P, sizeof *ta, by_value), qsort(tb, P, sizeof *tb, by_value), qsort(ratio, P, sizeof *ratio, by_value);
    printf("dtype %d, %d x %d, %d copies (%.0f MB), %d threads, %d passes: A %.1f GB/s (best %.1f), B %.1f GB/s "
           "(best %.1f), speed B/A median %.3f [%.3f..%.3f], same bits: %s\n",
           dtype, N, K, M, bytes / 1e6, omp_get_max_threads(), P, bytes / ta[P / 2] / 1e9, bytes / ta[0] / 1e9,
           bytes / tb[P / 2] / 1e9, bytes / tb[0] / 1e9, ratio[P / 2], ratio[0], ratio[P - 1], same ? "yes" : "NO");
    return same ? 0 : 1;
}
