/* test_matmul.c — the thread-count independent products (matmul.h): for
 * random shapes (odd sizes, every transpose, beta 0 and not, padded leading
 * dimensions) the result is the same bit for bit at 1, 2, 3 and 4 OpenMP
 * threads, and within 1e-5 (relative to sum |a||b|) of a naive double loop.
 * Plain threaded OpenBLAS, which the latency benchmark still times as its
 * baseline, is not invariant: its spread between thread counts is printed and
 * bounded by the same 1e-5. The packed low-bit kernels (W4A4 integer GEMM,
 * W4A16 prefill and decode) are the same bit for bit at 1..4 threads too.
 * The decode GEMV of dense weights (one row of A, W^T; on AVX-512 the
 * fixed-lane kernel) equals its twin ptq_gemv_rows_ref bit for bit for fp32,
 * bf16 and fp16 rows (tails of K mod 16, padded ldw, row counts not a
 * multiple of 4, alpha and beta), and so does ptq_sgemm's M = 1 call with a
 * strided A (ta = Trans). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "kernels.h"
#include "kinternal.h"
#include "matmul.h"
#include "reference.h"
#include "testutil.h"

#define TOL 1e-5

static void fill(float *x, size_t n, ptq_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)ptq_rng_normal(r);
}

/* element (i, j) of op(X) for a row-major X with leading dimension ld */
static double at(const float *X, int ld, int trans, int i, int j) {
    return trans ? X[(size_t)j * ld + i] : X[(size_t)i * ld + j];
}

/* max over C of |C - ref| / (sum |a||b| + |beta c0|) */
static double naive_err(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, const float *C0, const float *C, int ldc) {
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = at(A, lda, ta, i, k) * at(B, ldb, tb, k, j);
                s += p, mag += fabs(p);
            }
            double c0 = C0[(size_t)i * ldc + j], ref = alpha * s + beta * c0;
            double scale = fabs(alpha) * mag + fabs(beta * c0) + 1e-30;
            worst = fmax(worst, fabs(C[(size_t)i * ldc + j] - ref) / scale);
        }
    return worst;
}

static void check_sgemm(int M, int N, int K, int ta, int tb, float beta, ptq_rng *r) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float)), *C0 = malloc(nc * sizeof(float));
    float *C[4];
    fill(A, na, r), fill(B, nb, r), fill(C0, nc, r);
    for (int t = 0; t < 4; t++) {
        C[t] = malloc(nc * sizeof(float));
        memcpy(C[t], C0, nc * sizeof(float));
        omp_set_num_threads(t + 1);
        ptq_sgemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 0.7f, A, lda, B, ldb,
                  beta, C[t], ldc);
        if (t && memcmp(C[t], C[0], nc * sizeof(float))) {
            fprintf(stderr, "sgemm %dx%dx%d ta=%d tb=%d: %d threads differ from 1\n", M, N, K, ta, tb, t + 1);
            CHECK(0);
        }
    }
    double e = naive_err(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, beta, C0, C[0], ldc);
    if (e > TOL) fprintf(stderr, "sgemm %dx%dx%d ta=%d tb=%d: error %g\n", M, N, K, ta, tb, e);
    CHECK(e <= TOL);
    for (int t = 0; t < 4; t++) free(C[t]);
    free(A), free(B), free(C0);
}

static void check_dsyrk(int n, int k, double beta, ptq_rng *r) {
    double *A = malloc(sizeof(double) * k * n), *C0 = malloc(sizeof(double) * n * n), *C[4];
    for (int i = 0; i < k * n; i++) A[i] = ptq_rng_normal(r);
    for (int i = 0; i < n * n; i++) C0[i] = ptq_rng_normal(r);
    for (int t = 0; t < 4; t++) {
        C[t] = malloc(sizeof(double) * n * n);
        memcpy(C[t], C0, sizeof(double) * n * n);
        omp_set_num_threads(t + 1);
        ptq_dsyrk_upper_t(n, k, 0.5, A, n, beta, C[t], n);
        if (t && memcmp(C[t], C[0], sizeof(double) * n * n)) {
            fprintf(stderr, "dsyrk n=%d k=%d: %d threads differ from 1\n", n, k, t + 1);
            CHECK(0);
        }
    }
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int q = 0; q < k; q++) s += A[q * n + i] * A[q * n + j], mag += fabs(A[q * n + i] * A[q * n + j]);
            double want = j >= i ? 0.5 * s + beta * C0[i * n + j] : C0[i * n + j]; /* lower triangle untouched */
            worst = fmax(worst, fabs(C[0][i * n + j] - want) / (0.5 * mag + fabs(beta * C0[i * n + j]) + 1e-300));
        }
    if (worst > 1e-12) fprintf(stderr, "dsyrk n=%d k=%d: error %g\n", n, k, worst);
    CHECK(worst <= 1e-12);
    for (int t = 0; t < 4; t++) free(C[t]);
    free(A), free(C0);
}

/* Plain cblas_sgemm at 1..4 threads: the spread is reported and bounded. */
static void plain_blas_bound(ptq_rng *r) {
    int M = 300, N = 700, K = 1500;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C[4];
    fill(A, (size_t)M * K, r), fill(B, (size_t)N * K, r);
    double worst = 0;
    int differ = 0;
    for (int t = 0; t < 4; t++) {
        C[t] = calloc((size_t)M * N, sizeof(float));
        omp_set_num_threads(t + 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, B, K, 0.f, C[t], N);
        for (int i = 0; t && i < M * N; i++) {
            differ += C[t][i] != C[0][i];
            worst = fmax(worst, fabs(C[t][i] - C[0][i]) / (fabs(C[0][i]) + sqrt((double)K)));
        }
    }
    printf("plain OpenBLAS sgemm %dx%dx%d at 2..4 threads vs 1: %d elements differ, worst %.3g of sqrt(K)-scaled\n",
           M, N, K, differ, worst);
    CHECK(worst <= TOL);
    for (int t = 0; t < 4; t++) free(C[t]);
    free(A), free(B);
}

/* y of the packed kernels at 1..4 threads: W4A4 (kgemm), W4A16 prefill (T > 1) and decode (T = 1). */
static void packed_invariant(ptq_rng *r) {
    enum { OUT = 301, IN = 256, T = 37 };
    ptq_err err = {{0}};
    uint8_t *codes = malloc(OUT * IN);
    float *scale = malloc(sizeof(float) * OUT), *x = malloc(sizeof(float) * T * IN), *y[4];
    int *zero = malloc(sizeof(int) * OUT);
    for (int i = 0; i < OUT * IN; i++) codes[i] = (uint8_t)(ptq_rng_u64(r) & 15);
    for (int o = 0; o < OUT; o++) scale[o] = 0.01f + 0.001f * (float)(o % 7), zero[o] = 8;
    fill(x, (size_t)T * IN, r);
    ptq_kpacked w;
    ptq_kacts a;
    memset(&a, 0, sizeof a);
    CHECK(ptq_kpack(&w, codes, scale, zero, OUT, IN, 4, 0, &err) == 0);
    for (int kind = 0; kind < 3; kind++) {
        int rows = kind == 2 ? 1 : T;
        for (int t = 0; t < 4; t++) {
            y[t] = calloc((size_t)T * OUT, sizeof(float));
            omp_set_num_threads(t + 1);
            int rc = kind ? ptq_kgemm_f32(&w, x, rows, NULL, y[t], &err)
                          : ptq_kact_quant(&a, x, T, IN, 4, 0, 1.f, 0, &err) || ptq_kgemm(&a, &w, NULL, y[t], &err);
            CHECK(rc == 0);
            if (t && memcmp(y[t], y[0], sizeof(float) * T * OUT)) {
                fprintf(stderr, "packed kernel %d: %d threads differ from 1\n", kind, t + 1);
                CHECK(0);
            }
        }
        for (int t = 0; t < 4; t++) free(y[t]);
    }
    ptq_kpacked_free(&w);
    ptq_kacts_free(&a);
    free(codes), free(scale), free(x), free(zero);
}

/* dtype 0 (fp32) or PTQ_W16_*: the kernel, its twin and ptq_sgemm / ptq_sgemm_w16 at M = 1 */
static void check_gemv_lanes(int n, int K, int dtype, float alpha, float beta, ptq_rng *r) {
    int ldw = K + (n & 3), lanes = ptq_kern_isa_best() == PTQ_ISA_AVX512VNNI && __builtin_cpu_supports("avx512vl");
    size_t nw = (size_t)n * ldw;
    float *Wf = malloc(nw * sizeof(float)), *x = malloc((size_t)K * 3 * sizeof(float)), *y0 = malloc(n * sizeof(float));
    float *yr = malloc(n * sizeof(float)), *yk = malloc(n * sizeof(float));
    uint16_t *Wh = malloc(nw * sizeof(uint16_t));
    fill(Wf, nw, r), fill(x, (size_t)K * 3, r), fill(y0, n, r);
    for (size_t i = 0; i < nw; i++) {
        uint32_t u;
        memcpy(&u, &Wf[i], sizeof u);
        /* bf16: the float's top half; fp16: sign, an exponent 0..29 (0: subnormal) and a random mantissa */
        Wh[i] = dtype == PTQ_W16_F16 ? (uint16_t)((u & 0x8000u) | ((uint32_t)(ptq_rng_u64(r) % 30)) << 10 | (u & 0x3ffu))
                                     : (uint16_t)(u >> 16);
        if (dtype) Wf[i] = ptq_w16_to_f32(dtype, Wh[i]); /* the widened matrix */
    }
    const void *W = dtype ? (const void *)Wh : (const void *)Wf;
    memcpy(yr, y0, n * sizeof(float));
    ptq_gemv_rows_ref(n, K, alpha, dtype, W, ldw, x, beta, yr);
    double e = 0;
    for (int i = 0; i < n; i++) { /* the twin is a dot product */
        double d = 0, m = fabs(beta * y0[i]);
        for (int k = 0; k < K; k++) d += (double)Wf[(size_t)i * ldw + k] * x[k], m += fabs(Wf[(size_t)i * ldw + k] * x[k]);
        e = fmax(e, fabs(alpha * d + (beta != 0.f ? beta * y0[i] : 0.) - yr[i]) / (fabs(alpha) * m + 1e-30));
    }
    CHECK(e <= TOL);
    if (lanes) {
        memcpy(yk, y0, n * sizeof(float));
        ptq_gemv_rows_avx512(n, K, alpha, dtype, W, ldw, x, beta, yk);
        if (memcmp(yk, yr, n * sizeof(float)))
        {
            fprintf(stderr, "gemv lanes %dx%d dtype %d: kernel != twin\n", n, K, dtype);
            CHECK(0);
        }
        /* ptq_sgemm's decode call on the (widened) fp32 rows, x read with stride 3 (A is K x 1 of lda 3) */
        float *xs = x, *xt = malloc((size_t)K * 3 * sizeof(float));
        for (int k = 0; k < K; k++) xt[(size_t)k * 3] = xs[k];
        for (int t = 1; t <= 3; t += 2) {
            omp_set_num_threads(t);
            memcpy(yk, y0, n * sizeof(float));
            ptq_sgemm(CblasTrans, CblasTrans, 1, n, K, alpha, xt, 3, Wf, ldw, beta, yk, n);
            if (ldw == K && alpha == 1.f && memcmp(yk, yr, n * sizeof(float)) && !dtype)
            {
                fprintf(stderr, "sgemm M=1 %dx%d: != twin\n", n, K);
                CHECK(0);
            }
            if (dtype && ldw == K) { /* the 16-bit product at M = 1: the same bits as on the widened rows */
                ptq_w16 w16 = {Wh, dtype, K};
                float *yw = malloc(n * sizeof(float));
                ptq_err err;
                memcpy(yw, y0, n * sizeof(float));
                CHECK(ptq_sgemm_w16(1, n, K, x, K, &w16, beta, yw, n, &err) == 0);
                memcpy(yk, y0, n * sizeof(float));
                ptq_sgemm(CblasNoTrans, CblasTrans, 1, n, K, 1.f, x, K, Wf, K, beta, yk, n);
                if (memcmp(yk, yw, n * sizeof(float))) {
                    fprintf(stderr, "w16 M=1 %dx%d differs\n", n, K);
                    CHECK(0);
                }
                free(yw);
            }
        }
        free(xt);
    }
    free(Wf), free(x), free(y0), free(yr), free(yk), free(Wh);
}

int main(void) {
    ptq_rng r;
    ptq_rng_seed(&r, 14);
    int all = omp_get_max_threads();
    const int shapes[][3] = {{1, 1, 1},     {1, 513, 77},  {7, 3, 5},      {255, 129, 64}, {257, 257, 33},
                             {513, 31, 19}, {64, 1000, 9}, {300, 300, 300}, {1, 4096, 64}, {2048, 8, 8}, {1, 3000, 700}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int tr = 0; tr < 4; tr++)
            check_sgemm(shapes[s][0], shapes[s][1], shapes[s][2], tr & 1, tr >> 1, tr == 3 ? 0.5f : 0.f, &r);
    check_dsyrk(1, 3, 0.0, &r);
    check_dsyrk(129, 17, 0.25, &r);
    check_dsyrk(300, 40, 1.0, &r);
    plain_blas_bound(&r);
    packed_invariant(&r);
    const int gv[][2] = {{1, 1}, {3, 15}, {4, 16}, {5, 17}, {64, 64}, {130, 4096}, {67, 11008}, {9, 333}, {15, 48}};
    for (size_t s = 0; s < sizeof gv / sizeof *gv; s++)
        for (int dt = 0; dt <= PTQ_W16_F16; dt++) {
            check_gemv_lanes(gv[s][0], gv[s][1], dt, 1.f, 0.f, &r);
            check_gemv_lanes(gv[s][0], gv[s][1], dt, 0.7f, 0.5f, &r);
        }
    omp_set_num_threads(all);
    return tu_done("test_matmul");
}
