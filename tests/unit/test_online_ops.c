/* test_online_ops.c — the typed online ops (online_ops.h) and the linear
 * side branches (kernels.h) against naive references:
 *  - every op kind (identity, Hadamard, Hadamard across heads, dense, random
 *    orthogonal, RUQuant rotation, low-rank correction) against a naive
 *    dense/double computation, orthogonality where the kind is orthogonal,
 *    constructor checks, sharing (reference counts), the stored form of
 *    every kind (describe -> build gives the same rows bit for bit);
 *  - an allocation failure inside an op (malloc is wrapped: the test links
 *    with --wrap=malloc) is an error from ptq_online_op_apply and from
 *    ptq_forward, naming the op and its site, not a silent wrong result;
 *  - SpecQuant low-frequency branch and SEPTQ CSR add. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hadamard.h"
#include "kernels.h"
#include "model.h"
#include "testref.h"
#include "testutil.h"

/* Allocation failure injection: every malloc of the libraries (and of this
 * file) goes through here while the test links with --wrap=malloc. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static volatile int g_fail_malloc;
void *__wrap_malloc(size_t n) { return g_fail_malloc ? NULL : __real_malloc(n); }

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

/* ---- typed online ops ---------------------------------------------------- */

static void fill_rows(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = nrm();
}

/* max |op(x) - ref| / max |ref| where ref (rows x n) is computed in double. */
static double apply_err(const ptq_online_op *op, const float *x, const double *ref, int rows, int n) {
    float *y = malloc(sizeof(float) * rows * n);
    memcpy(y, x, sizeof(float) * rows * n);
    ptq_err err;
    int rc = ptq_online_op_apply(op, y, rows, n, &err);
    if (rc) fprintf(stderr, "apply %s: %s\n", ptq_op_kind_name(op->kind), err.msg);
    double e = rc ? 1e30 : relerr(y, ref, (size_t)rows * n);
    free(y);
    return e;
}

/* The op's matrix (row i = op(e_i)) and max |A A^T - I|. */
static double op_orthogonality(const ptq_online_op *op) {
    int n = op->n;
    float *A = calloc((size_t)n * n, sizeof(float));
    ptq_err err;
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] = 1.f;
    double e = ptq_online_op_apply(op, A, n, n, &err) ? 1e30 : 0;
    for (int i = 0; i < n && e < 1e30; i++)
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int k = 0; k < n; k++) d += (double)A[(size_t)i * n + k] * A[(size_t)j * n + k];
            e = fmax(e, fabs(d - (i == j)));
        }
    free(A);
    return e;
}

/* x (rows x n) times a dense n x n matrix M in double: ref = x M. */
static void ref_dense(const float *x, const float *M, int rows, int n, double *ref) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += (double)x[(size_t)r * n + k] * M[(size_t)k * n + j];
            ref[(size_t)r * n + j] = s;
        }
}

/* Sylvester Hadamard entry, orthonormal: (-1)^popcount(i & j) / sqrt(n). */
static float sylvester(int i, int j, int n) { return (__builtin_popcount(i & j) & 1 ? -1.f : 1.f) / sqrtf((float)n); }

/* The stored form rebuilds an op that gives the same rows bit for bit. */
static void check_roundtrip(const ptq_online_op *op, int version) {
    ptq_op_desc d;
    ptq_online_op b = {0};
    ptq_err err;
    int n = op->n, rows = 5;
    if (ptq_online_op_describe(op, version, &d, &err) || ptq_online_op_from_desc(&d, &b, &err)) {
        fprintf(stderr, "round trip %s v%d: %s\n", ptq_op_kind_name(op->kind), version, err.msg);
        CHECK(0);
        return;
    }
    CHECK(b.n == n && b.heads == op->heads && b.head_dim == op->head_dim && b.rank == op->rank);
    CHECK(b.kind == op->kind || (version == 2 && op->kind == PTQ_OP_RANDOM_ORTHOGONAL && b.kind == PTQ_OP_DENSE));
    CHECK(ptq_online_op_flops(&b) == ptq_online_op_flops(op));
    float *x = malloc(sizeof(float) * rows * n), *y = malloc(sizeof(float) * rows * n);
    fill_rows(x, (size_t)rows * n);
    memcpy(y, x, sizeof(float) * rows * n);
    CHECK(ptq_online_op_apply(op, x, rows, n, &err) == 0 && ptq_online_op_apply(&b, y, rows, n, &err) == 0);
    CHECK(memcmp(x, y, sizeof(float) * rows * n) == 0);
    free(x), free(y);
    ptq_online_op_clear(&b);
}

static void test_identity(void) {
    ptq_online_op op = {0};
    float x[12];
    fill_rows(x, 12);
    float y[12];
    memcpy(y, x, sizeof x);
    ptq_err err;
    CHECK(op.kind == PTQ_OP_IDENTITY && ptq_online_op_apply(&op, x, 3, 4, &err) == 0);
    CHECK(memcmp(x, y, sizeof x) == 0 && ptq_online_op_flops(&op) == 0);
    CHECK(ptq_online_op_describe(&op, 3, &(ptq_op_desc){0}, &err) == -1);
    ptq_online_op_clear(&op);
}

static void test_hadamard(int n, int pow2) {
    ptq_online_op op;
    ptq_err err;
    CHECK(ptq_op_hadamard(&op, n, &err) == 0);
    int rows = 7;
    float *x = malloc(sizeof(float) * rows * n);
    double *ref = malloc(sizeof(double) * rows * n);
    fill_rows(x, (size_t)rows * n);
    if (pow2) { /* an independent reference: the Sylvester matrix */
        float *H = malloc(sizeof(float) * n * n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) H[(size_t)i * n + j] = sylvester(i, j, n);
        ref_dense(x, H, rows, n, ref);
        free(H);
        double e = apply_err(&op, x, ref, rows, n);
        if (e > 1e-6) fprintf(stderr, "hadamard %d: rel %.3g\n", n, e);
        CHECK(e <= 1e-6);
    }
    /* entries +-1/sqrt(n) and orthogonal (a Hadamard matrix) */
    float *A = calloc((size_t)n * n, sizeof(float));
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] = 1.f;
    CHECK(ptq_online_op_apply(&op, A, n, n, &err) == 0);
    double dev = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) dev = fmax(dev, fabs(fabs(A[i]) * sqrt(n) - 1));
    CHECK(dev < 1e-5);
    CHECK(op_orthogonality(&op) < 1e-5);
    CHECK(ptq_online_op_flops(&op) == 8.0 * n);
    check_roundtrip(&op, 3);
    check_roundtrip(&op, 2);
    free(A), free(x), free(ref);
    ptq_online_op_clear(&op);
}

static void test_heads(int heads, int hd) {
    ptq_online_op op;
    ptq_err err;
    int n = heads * hd, rows = 6;
    CHECK(ptq_op_hadamard_heads(&op, heads, hd, &err) == 0);
    CHECK(op.n == n && op.heads == heads && op.head_dim == hd);
    float *x = malloc(sizeof(float) * rows * n);
    double *ref = malloc(sizeof(double) * rows * n);
    fill_rows(x, (size_t)rows * n);
    for (int r = 0; r < rows; r++) /* y[a, b] = sum_a' H[a, a'] x[a', b] */
        for (int a = 0; a < heads; a++)
            for (int b = 0; b < hd; b++) {
                double s = 0;
                for (int k = 0; k < heads; k++) s += (double)sylvester(a, k, heads) * x[(size_t)r * n + k * hd + b];
                ref[(size_t)r * n + a * hd + b] = s;
            }
    double e = apply_err(&op, x, ref, rows, n);
    if (e > 1e-6) fprintf(stderr, "hadamard_heads %d x %d: rel %.3g\n", heads, hd, e);
    CHECK(e <= 1e-6);
    CHECK(op_orthogonality(&op) < 1e-5);
    check_roundtrip(&op, 3);
    free(x), free(ref);
    ptq_online_op_clear(&op);
}

static void test_dense(int n) {
    ptq_online_op op;
    ptq_err err;
    int rows = 9;
    float *A = malloc(sizeof(float) * n * n), *x = malloc(sizeof(float) * rows * n);
    double *ref = malloc(sizeof(double) * rows * n);
    fill_rows(A, (size_t)n * n);
    fill_rows(x, (size_t)rows * n);
    CHECK(ptq_op_dense(&op, A, n, &err) == 0);
    A[0] += 1.f; /* the op holds its own copy */
    ref_dense(x, op.data->A, rows, n, ref);
    CHECK(op.data->A[0] != A[0]);
    CHECK(apply_err(&op, x, ref, rows, n) <= 1e-5);
    CHECK(ptq_online_op_flops(&op) == 2.0 * n * n);
    check_roundtrip(&op, 3);
    free(A), free(x), free(ref);
    ptq_online_op_clear(&op);
}

static void test_random_orthogonal(int n, uint64_t seed) {
    ptq_online_op op, two;
    ptq_err err;
    int rows = 4;
    CHECK(ptq_op_random_orthogonal(&op, n, seed, &err) == 0);
    float *Q = malloc(sizeof(float) * n * n), *x = malloc(sizeof(float) * rows * n);
    double *ref = malloc(sizeof(double) * rows * n);
    CHECK(ptq_random_orthogonal(Q, n, seed, &err) == 0);
    CHECK(memcmp(Q, op.data->A, sizeof(float) * n * n) == 0); /* the same matrix as the builder's */
    fill_rows(x, (size_t)rows * n);
    ref_dense(x, Q, rows, n, ref);
    CHECK(apply_err(&op, x, ref, rows, n) <= 1e-5);
    CHECK(op_orthogonality(&op) < 1e-5);
    CHECK(ptq_op_random_orthogonal(&two, n, seed, &err) == 0); /* rebuilt bit for bit */
    CHECK(memcmp(two.data->A, op.data->A, sizeof(float) * n * n) == 0);
    ptq_online_op_clear(&two);
    check_roundtrip(&op, 3); /* seed + sha256 */
    check_roundtrip(&op, 2); /* the dense matrix */
    ptq_op_desc d;
    CHECK(ptq_online_op_describe(&op, 3, &d, &err) == 0 && d.ntensor == 0 && d.seed == seed && strlen(d.sha256) == 64);
    d.seed++; /* another seed: the rebuild does not match the recorded matrix */
    CHECK(ptq_online_op_from_desc(&d, &two, &err) == -1 && strstr(err.msg, "differs"));
    d.seed--, d.sha256[0] = 0;
    CHECK(ptq_online_op_from_desc(&d, &two, &err) == -1);
    free(Q), free(x), free(ref);
    ptq_online_op_clear(&op);
}

static void random_transform(ptq_ru_transform *tr, int n, int B, int with_perm, int with_w, int with_s) {
    ptq_err err;
    memset(tr, 0, sizeof *tr);
    tr->C = n, tr->B = B;
    tr->R1t = malloc(sizeof(float) * B * B), tr->R2t = malloc(sizeof(float) * B * B);
    tr->perm = malloc(sizeof(int) * n);
    CHECK(ptq_random_orthogonal(tr->R1t, B, 3, &err) == 0 && ptq_random_orthogonal(tr->R2t, B, 4, &err) == 0);
    for (int i = 0; i < n; i++) tr->perm[i] = i;
    for (int i = n - 1; with_perm && i > 0; i--) {
        int j = (int)(ptq_rng_u64(&rng) % (uint64_t)(i + 1)), t = tr->perm[i];
        tr->perm[i] = tr->perm[j], tr->perm[j] = t;
    }
    if (with_w) {
        tr->omega = malloc(sizeof(float) * n);
        double s = 0;
        for (int i = 0; i < n; i++) tr->omega[i] = nrm(), s += (double)tr->omega[i] * tr->omega[i];
        for (int i = 0; i < n; i++) tr->omega[i] = (float)(tr->omega[i] / sqrt(s));
    }
    if (with_s) {
        tr->s_inv = malloc(sizeof(float) * n);
        for (int i = 0; i < n; i++) tr->s_inv[i] = 0.5f + (float)ptq_rng_uniform(&rng);
    }
}

static void free_transform(ptq_ru_transform *tr) {
    free(tr->R1t), free(tr->R2t), free(tr->perm), free(tr->omega), free(tr->s_inv);
}

static void test_ruquant(int T, int n, int B, int with_perm, int with_w, int with_s) {
    ptq_ru_transform tr;
    random_transform(&tr, n, B, with_perm, with_w, with_s);
    float *x = malloc(sizeof(float) * T * n);
    double *ref = malloc(sizeof(double) * T * n), *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
    fill_rows(x, (size_t)T * n);
    for (int t = 0; t < T; t++) { /* s_inv, x_b . R1t, y[p] = x[perm[p]], x_b . R2t, Householder */
        for (int i = 0; i < n; i++) b[i] = (double)x[(size_t)t * n + i] * (with_s ? tr.s_inv[i] : 1.f);
        for (int blk = 0; blk < n / B; blk++)
            for (int j = 0; j < B; j++) {
                double s = 0;
                for (int i = 0; i < B; i++) s += b[blk * B + i] * tr.R1t[i * B + j];
                a[blk * B + j] = s;
            }
        for (int i = 0; i < n; i++) b[i] = a[tr.perm[i]];
        for (int blk = 0; blk < n / B; blk++)
            for (int j = 0; j < B; j++) {
                double s = 0;
                for (int i = 0; i < B; i++) s += b[blk * B + i] * tr.R2t[i * B + j];
                a[blk * B + j] = s;
            }
        double d = 0;
        for (int i = 0; i < n && with_w; i++) d += a[i] * tr.omega[i];
        for (int i = 0; i < n; i++) ref[(size_t)t * n + i] = with_w ? a[i] - 2 * d * tr.omega[i] : a[i];
    }
    ptq_online_op op;
    ptq_err err;
    CHECK(ptq_op_ruquant(&op, &tr, &err) == 0);
    double e = apply_err(&op, x, ref, T, n);
    if (e > 1e-5) fprintf(stderr, "ruquant T=%d n=%d B=%d rel %.3g\n", T, n, B, e);
    CHECK(e <= 1e-5);
    if (!with_s) CHECK(op_orthogonality(&op) < 1e-5);
    CHECK(ptq_online_op_flops(&op) == ptq_ru_flops_per_row(&tr));
    /* the op applies exactly ptq_ru_apply (the arithmetic RUQuant folds into W) */
    float *y = malloc(sizeof(float) * T * n), *z = malloc(sizeof(float) * T * n);
    memcpy(y, x, sizeof(float) * T * n), memcpy(z, x, sizeof(float) * T * n);
    CHECK(ptq_online_op_apply(&op, y, T, n, &err) == 0 && ptq_ru_apply(&tr, z, T, &err) == 0);
    CHECK(memcmp(y, z, sizeof(float) * T * n) == 0);
    check_roundtrip(&op, 2);
    check_roundtrip(&op, 3);
    /* sharing: the data lives until the last holder lets go */
    ptq_online_op a2, a3;
    ptq_online_op_share(&a2, &op);
    ptq_online_op_share(&a3, &op);
    CHECK(op.data->refs == 3);
    ptq_online_op_clear(&op);
    CHECK(op.kind == PTQ_OP_IDENTITY && a2.data->refs == 2);
    memcpy(y, x, sizeof(float) * T * n);
    CHECK(ptq_online_op_apply(&a2, y, T, n, &err) == 0 && memcmp(y, z, sizeof(float) * T * n) == 0);
    ptq_online_op_clear(&a2), ptq_online_op_clear(&a3);
    /* constructor checks */
    tr.perm[0] = tr.perm[1];
    CHECK(ptq_op_ruquant(&op, &tr, &err) == -1 && strstr(err.msg, "permutation"));
    tr.C = n + 1;
    CHECK(ptq_op_ruquant(&op, &tr, &err) == -1);
    free_transform(&tr);
    free(x), free(ref), free(a), free(b), free(y), free(z);
}

static void test_lowrank(int T, int d, int r) {
    float *Q = malloc(sizeof(float) * d * r), *M = malloc(sizeof(float) * r * r), *x = malloc(sizeof(float) * T * d);
    double *ref = malloc(sizeof(double) * T * d);
    fill_rows(Q, (size_t)d * r), fill_rows(M, (size_t)r * r), fill_rows(x, (size_t)T * d);
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
    ptq_online_op op;
    ptq_err err;
    CHECK(ptq_op_lowrank(&op, Q, M, d, r, &err) == 0);
    CHECK(apply_err(&op, x, ref, T, d) <= 1e-5);
    CHECK(ptq_online_op_flops(&op) == 4.0 * d * r + 2.0 * r * r);
    check_roundtrip(&op, 3);
    ptq_op_desc desc;
    CHECK(ptq_online_op_describe(&op, 2, &desc, &err) == -1 && strstr(err.msg, "version 3"));
    ptq_online_op_clear(&op);
    CHECK(ptq_op_lowrank(&op, Q, M, d, d + 1, &err) == -1);
    free(Q), free(M), free(x), free(ref);
}

static void test_bad(void) {
    ptq_online_op op = {0};
    ptq_err err;
    float x[172];
    CHECK(ptq_op_hadamard(&op, 172, &err) == -1 && op.kind == PTQ_OP_IDENTITY); /* no Hadamard of 172 */
    CHECK(ptq_op_hadamard_heads(&op, 3, 8, &err) == -1);
    CHECK(ptq_op_random_orthogonal(&op, 0, 1, &err) == -1);
    CHECK(ptq_op_hadamard(&op, 16, &err) == 0);
    CHECK(ptq_online_op_apply(&op, x, 1, 32, &err) == -1 && strstr(err.msg, "rows of 32"));
    ptq_op_desc d = {.kind = PTQ_OP_DENSE, .n = 4};
    CHECK(ptq_online_op_from_desc(&d, &op, &err) == -1 && strstr(err.msg, "missing"));
    CHECK(op.kind == PTQ_OP_HADAMARD); /* unchanged on failure */
    float A[16] = {0};
    d.ntensor = 2;
    d.t[0] = (ptq_op_tensor){"A", 0, A, {4, 4}, 2};
    d.t[1] = (ptq_op_tensor){"B", 0, A, {4, 4}, 2};
    CHECK(ptq_online_op_from_desc(&d, &op, &err) == -1 && strstr(err.msg, "does not use"));
    d.ntensor = 1, d.t[0].shape[1] = 3;
    CHECK(ptq_online_op_from_desc(&d, &op, &err) == -1 && strstr(err.msg, "must be"));
    CHECK(ptq_op_kind_parse("hadamard") == PTQ_OP_HADAMARD && ptq_op_kind_parse("identity") == -1 &&
          ptq_op_kind_parse("nope") == -1);
    CHECK(ptq_op_kind_version(PTQ_OP_RUQUANT) == 2 && ptq_op_kind_version(PTQ_OP_LOWRANK) == 3);
    ptq_online_op_clear(&op);
}

/* ---- allocation failures ------------------------------------------------- */

static void test_apply_oom(void) {
    ptq_online_op ops[5];
    ptq_err err;
    int n = 48, rows = 4; /* 48 = 12 x 4: the Hadamard needs scratch too */
    float Q[48 * 2], M[4], A[48 * 48];
    fill_rows(Q, 96), fill_rows(M, 4), fill_rows(A, 48 * 48);
    ptq_ru_transform tr;
    random_transform(&tr, n, 16, 1, 1, 1);
    CHECK(ptq_op_hadamard(&ops[0], n, &err) == 0 && ptq_op_hadamard_heads(&ops[1], 4, 12, &err) == 0 &&
          ptq_op_dense(&ops[2], A, n, &err) == 0 && ptq_op_ruquant(&ops[3], &tr, &err) == 0 &&
          ptq_op_lowrank(&ops[4], Q, M, n, 2, &err) == 0);
    free_transform(&tr);
    float x[4 * 48];
    for (int k = 0; k < 5; k++) {
        fill_rows(x, (size_t)rows * n);
        g_fail_malloc = 1;
        int rc = ptq_online_op_apply(&ops[k], x, rows, n, &err);
        g_fail_malloc = 0;
        CHECK(rc == -1 && strstr(err.msg, "out of memory") && strstr(err.msg, ptq_op_kind_name(ops[k].kind)));
        if (rc != -1) fprintf(stderr, "apply %s with malloc failing returned %d\n", ptq_op_kind_name(ops[k].kind), rc);
        ptq_online_op_clear(&ops[k]);
    }
}

static void tiny_model(ptq_model *m) {
    ptq_config c = {0};
    c.dim = 16, c.hidden_dim = 24, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 20;
    c.max_seq = 8, c.head_dim = 4, c.rope_theta = 10000.f, c.norm_eps = 1e-5f;
    ptq_err err;
    CHECK(ptq_model_alloc(m, &c, &err) == 0);
    fill_rows(m->tok_emb, (size_t)c.vocab_size * c.dim);
    for (int i = 0; i < c.dim; i++) m->rms_final[i] = 1.f;
    for (int l = 0; l < c.n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        for (int i = 0; i < c.dim; i++) L->rms_att[i] = L->rms_ffn[i] = 1.f;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            fill_rows(L->lin[j].w, (size_t)L->lin[j].out * L->lin[j].in);
            for (int i = 0; i < L->lin[j].out * L->lin[j].in; i++) L->lin[j].w[i] *= 0.2f;
        }
    }
}

/* One op at one site; with malloc failing, ptq_forward fails naming both. */
static void forward_oom(ptq_model *m, ptq_online_op *site, const char *site_name, const char *kind) {
    static const int toks[5] = {1, 7, 3, 19, 4};
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, 8, &err) == 0);
    size_t nl = 5 * (size_t)m->cfg.vocab_size;
    float *l0 = malloc(sizeof(float) * nl), *l1 = malloc(sizeof(float) * nl);
    CHECK(ptq_forward(m, &s, toks, 5, 0, l0, 0, &err) == 0);
    g_fail_malloc = 1;
    int rc = ptq_forward(m, &s, toks, 5, 0, l1, 0, &err);
    g_fail_malloc = 0;
    CHECK(rc == -1);
    if (rc == -1) {
        printf("  %s\n", err.msg);
        CHECK(strstr(err.msg, site_name) && strstr(err.msg, kind) && strstr(err.msg, "out of memory"));
    }
    CHECK(ptq_forward(m, &s, toks, 5, 0, l1, 0, &err) == 0); /* the state is still usable */
    CHECK(memcmp(l0, l1, sizeof(float) * nl) == 0);
    ptq_state_free(&s);
    ptq_online_op_clear(site);
    free(l0), free(l1);
}

static void test_forward_oom(void) {
    ptq_model m;
    ptq_err err;
    tiny_model(&m);
    ptq_layer *L = &m.layers[1];
    float A[24 * 24], Q[16 * 3], M[9];
    fill_rows(A, 24 * 24), fill_rows(Q, 48), fill_rows(M, 9);
    CHECK(ptq_op_dense(&L->lin[PTQ_LIN_DOWN].in_op, A, 24, &err) == 0);
    forward_oom(&m, &L->lin[PTQ_LIN_DOWN].in_op, "layers.1.down_proj.in", "dense");
    CHECK(ptq_op_hadamard_heads(&L->lin[PTQ_LIN_O].in_op, 4, 4, &err) == 0);
    forward_oom(&m, &L->lin[PTQ_LIN_O].in_op, "layers.1.o_proj.in", "hadamard_heads");
    CHECK(ptq_op_random_orthogonal(&m.layers[0].qk_op, 4, 5, &err) == 0);
    forward_oom(&m, &m.layers[0].qk_op, "layers.0.qk", "random_orthogonal");
    CHECK(ptq_op_lowrank(&L->resid_op[1], Q, M, 16, 3, &err) == 0);
    forward_oom(&m, &L->resid_op[1], "layers.1.resid1", "lowrank");
    ptq_ru_transform tr;
    random_transform(&tr, 16, 8, 1, 1, 0);
    CHECK(ptq_op_ruquant(&m.lm_head.in_op, &tr, &err) == 0);
    free_transform(&tr);
    forward_oom(&m, &m.lm_head.in_op, "lm_head.in", "ruquant_rotation");
    ptq_model_free(&m);
}

int main(void) {
    ptq_rng_seed(&rng, 11);
    test_identity();
    test_hadamard(64, 1);
    test_hadamard(8, 1);
    test_hadamard(80, 0); /* 20 x 4 */
    test_heads(8, 8);
    test_heads(4, 3);
    test_dense(37);
    test_random_orthogonal(172, 1003);
    test_random_orthogonal(5, 0xfedcba9876543210ULL);
    test_ruquant(1, 64, 16, 1, 1, 0);
    test_ruquant(6, 384, 128, 1, 1, 1);
    test_ruquant(3, 96, 32, 0, 0, 0);
    test_ruquant(4, 172, 86, 1, 1, 1);
    test_lowrank(1, 40, 3);
    test_lowrank(9, 96, 32);
    test_bad();
    test_apply_oom();
    test_forward_oom();
    test_lowfreq(1, 7, 96, 10);
    test_lowfreq(5, 13, 75, 38); /* odd length, every bin */
    test_lowfreq(9, 16, 64, 33); /* even length, Nyquist bin included */
    test_lowfreq(3, 8, 4096, 32);
    test_csr(1, 17, 33);
    test_csr(7, 64, 130);
    return tu_done("test_online_ops");
}
