/* online_ops.c — constructors, application and stored form of the typed
 * online ops (online_ops.h). The row kernels are hadamard.c (Hadamard) and
 * blockrot.c (RUQuant); dense and low-rank products go through OpenBLAS. */
#include "online_ops.h"

#include "matmul.h"
#include <stdlib.h>
#include <string.h>

#include "hadamard.h"

_Static_assert(sizeof(int) == 4, "perm tensors are stored as int32");

#define MAX_ORTHO 65536 /* largest random orthogonal matrix built (n x n) */

static const struct {
    const char *name;
    int version; /* file format version that introduced the kind */
} kinds[PTQ_OP_KINDS] = {
    [PTQ_OP_IDENTITY] = {"identity", 2},
    [PTQ_OP_HADAMARD] = {"hadamard", 2},
    [PTQ_OP_HADAMARD_HEADS] = {"hadamard_heads", 2},
    [PTQ_OP_DENSE] = {"dense", 2},
    [PTQ_OP_RANDOM_ORTHOGONAL] = {"random_orthogonal", 3},
    [PTQ_OP_RUQUANT] = {"ruquant_rotation", 2},
    [PTQ_OP_LOWRANK] = {"lowrank", 3},
};

const char *ptq_op_kind_name(ptq_op_kind kind) {
    return kind >= 0 && kind < PTQ_OP_KINDS ? kinds[kind].name : "?";
}

int ptq_op_kind_version(ptq_op_kind kind) { return kind >= 0 && kind < PTQ_OP_KINDS ? kinds[kind].version : 0; }

int ptq_op_kind_parse(const char *name) {
    for (int k = PTQ_OP_IDENTITY + 1; name && k < PTQ_OP_KINDS; k++)
        if (!strcmp(kinds[k].name, name)) return k;
    return -1;
}

/* ---- constructors ------------------------------------------------------- */

static ptq_op_data *data_new(ptq_err *err) {
    ptq_op_data *d = ptq_calloc(1, sizeof *d, err);
    if (d) d->refs = 1;
    return d;
}

static void data_free(ptq_op_data *d) {
    free(d->A);
    free(d->ru.s_inv), free(d->ru.R1t), free(d->ru.R2t), free(d->ru.perm), free(d->ru.omega);
    free(d->Q), free(d->M);
    free(d);
}

static float *copy_f(const float *src, size_t n, ptq_err *err) {
    float *p = ptq_calloc(n, sizeof(float), err);
    if (p) memcpy(p, src, n * sizeof(float));
    return p;
}

int ptq_op_hadamard(ptq_online_op *op, int n, ptq_err *err) {
    if (!ptq_hadamard_supported(n)) return ptq_fail(err, "online op hadamard: no Hadamard transform of size %d", n);
    *op = (ptq_online_op){.kind = PTQ_OP_HADAMARD, .n = n};
    return 0;
}

int ptq_op_hadamard_heads(ptq_online_op *op, int heads, int head_dim, ptq_err *err) {
    if (heads < 1 || head_dim < 1 || !ptq_hadamard_supported(heads))
        return ptq_fail(err, "online op hadamard_heads: no Hadamard across %d heads (head_dim %d)", heads, head_dim);
    *op = (ptq_online_op){.kind = PTQ_OP_HADAMARD_HEADS, .n = heads * head_dim, .heads = heads, .head_dim = head_dim};
    return 0;
}

int ptq_op_dense(ptq_online_op *op, const float *A, int n, ptq_err *err) {
    if (n < 1) return ptq_fail(err, "online op dense: size %d", n);
    ptq_op_data *d = data_new(err);
    if (!d) return -1;
    if (!(d->A = copy_f(A, (size_t)n * n, err))) return data_free(d), ptq_wrap(err, "online op dense (%d x %d)", n, n);
    *op = (ptq_online_op){.kind = PTQ_OP_DENSE, .n = n, .data = d};
    return 0;
}

int ptq_op_random_orthogonal(ptq_online_op *op, int n, uint64_t seed, ptq_err *err) {
    if (n < 1 || n > MAX_ORTHO) return ptq_fail(err, "online op random_orthogonal: size %d outside 1..%d", n, MAX_ORTHO);
    ptq_op_data *d = data_new(err);
    if (!d) return -1;
    if (!(d->A = ptq_calloc((size_t)n * n, sizeof(float), err)) || ptq_random_orthogonal(d->A, n, seed, err)) {
        data_free(d);
        return ptq_wrap(err, "online op random_orthogonal (%d x %d)", n, n);
    }
    *op = (ptq_online_op){.kind = PTQ_OP_RANDOM_ORTHOGONAL, .n = n, .seed = seed, .data = d};
    return 0;
}

int ptq_op_ruquant(ptq_online_op *op, const ptq_ru_transform *tr, ptq_err *err) {
    int C = tr->C, B = tr->B;
    if (C < 1 || B < 1 || C % B || !tr->R1t || !tr->R2t || !tr->perm)
        return ptq_fail(err, "online op ruquant_rotation: block %d does not divide row length %d (or no R1t/R2t/perm)",
                        B, C);
    char *seen = ptq_calloc(C, 1, err);
    if (!seen) return -1;
    int bad = -1;
    for (int i = 0; i < C && bad < 0; i++) {
        if (tr->perm[i] < 0 || tr->perm[i] >= C || seen[tr->perm[i]]) bad = i;
        else seen[tr->perm[i]] = 1;
    }
    free(seen);
    if (bad >= 0)
        return ptq_fail(err, "online op ruquant_rotation: perm is not a permutation of 0..%d (entry %d)", C - 1, bad);
    ptq_op_data *d = data_new(err);
    if (!d) return -1;
    ptq_ru_transform *r = &d->ru;
    r->C = C, r->B = B;
    r->R1t = copy_f(tr->R1t, (size_t)B * B, err), r->R2t = copy_f(tr->R2t, (size_t)B * B, err);
    r->perm = ptq_calloc(C, sizeof(int), err);
    if (tr->s_inv) r->s_inv = copy_f(tr->s_inv, C, err);
    if (tr->omega) r->omega = copy_f(tr->omega, C, err);
    if (!r->R1t || !r->R2t || !r->perm || (tr->s_inv && !r->s_inv) || (tr->omega && !r->omega)) {
        data_free(d);
        return ptq_wrap(err, "online op ruquant_rotation (%d, block %d)", C, B);
    }
    memcpy(r->perm, tr->perm, sizeof(int) * C);
    *op = (ptq_online_op){.kind = PTQ_OP_RUQUANT, .n = C, .data = d};
    return 0;
}

int ptq_op_lowrank(ptq_online_op *op, const float *Q, const float *M, int n, int rank, ptq_err *err) {
    if (n < 1 || rank < 1 || rank > n) return ptq_fail(err, "online op lowrank: rank %d outside 1..%d", rank, n);
    ptq_op_data *d = data_new(err);
    if (!d) return -1;
    if (!(d->Q = copy_f(Q, (size_t)n * rank, err)) || !(d->M = copy_f(M, (size_t)rank * rank, err))) {
        data_free(d);
        return ptq_wrap(err, "online op lowrank (%d, rank %d)", n, rank);
    }
    *op = (ptq_online_op){.kind = PTQ_OP_LOWRANK, .n = n, .rank = rank, .data = d};
    return 0;
}

void ptq_online_op_share(ptq_online_op *dst, const ptq_online_op *src) {
    *dst = *src;
    if (dst->data) dst->data->refs++;
}

void ptq_online_op_clear(ptq_online_op *op) {
    if (op->data && --op->data->refs <= 0) data_free(op->data);
    memset(op, 0, sizeof *op);
}

/* ---- application -------------------------------------------------------- */

/* x viewed as heads x head_dim: Hadamard of size heads on every column. */
static int heads_rows(const ptq_online_op *op, float *x, int rows, ptq_err *err) {
    int n = op->n, nh = op->heads, hd = op->head_dim, rc = 0;
    float *t = malloc(sizeof(float) * (size_t)n);
    if (!t) return ptq_fail(err, "out of memory (%d floats)", n);
    for (int r = 0; r < rows && !rc; r++) {
        float *v = x + (size_t)r * n;
        for (int a = 0; a < nh; a++)
            for (int b = 0; b < hd; b++) t[(size_t)b * nh + a] = v[(size_t)a * hd + b];
        rc = ptq_hadamard_rows(t, hd, nh, err);
        for (int a = 0; a < nh && !rc; a++)
            for (int b = 0; b < hd; b++) v[(size_t)a * hd + b] = t[(size_t)b * nh + a];
    }
    free(t);
    return rc;
}

/* x <- x A */
static int dense_rows(const ptq_online_op *op, float *x, int rows, ptq_err *err) {
    int n = op->n;
    float *t = malloc(sizeof(float) * (size_t)rows * n);
    if (!t) return ptq_fail(err, "out of memory (%d x %d floats)", rows, n);
    ptq_sgemm(CblasNoTrans, CblasNoTrans, rows, n, n, 1.f, x, n, op->data->A, n, 0.f, t, n);
    memcpy(x, t, sizeof(float) * (size_t)rows * n);
    free(t);
    return 0;
}

/* x <- x + Q M Q^T x on each row: Y = X Q, Z = Y M^T, X += Z Q^T. */
static int lowrank_rows(const ptq_online_op *op, float *x, int rows, ptq_err *err) {
    int d = op->n, r = op->rank;
    float *Y = malloc(sizeof(float) * 2 * (size_t)rows * r);
    if (!Y) return ptq_fail(err, "out of memory (2 x %d x %d floats)", rows, r);
    float *Z = Y + (size_t)rows * r;
    const float *Q = op->data->Q, *M = op->data->M;
    ptq_sgemm(CblasNoTrans, CblasNoTrans, rows, r, d, 1.f, x, d, Q, r, 0.f, Y, r);
    ptq_sgemm(CblasNoTrans, CblasTrans, rows, r, r, 1.f, Y, r, M, r, 0.f, Z, r);
    ptq_sgemm(CblasNoTrans, CblasTrans, rows, d, r, 1.f, Z, r, Q, r, 1.f, x, d);
    free(Y);
    return 0;
}

int ptq_online_op_apply(const ptq_online_op *op, float *x, int rows, int n, ptq_err *err) {
    if (op->kind == PTQ_OP_IDENTITY || rows <= 0) return 0;
    if (n != op->n)
        return ptq_fail(err, "online op %s of size %d applied to rows of %d", ptq_op_kind_name(op->kind), op->n, n);
    int rc;
    switch (op->kind) {
    case PTQ_OP_HADAMARD: rc = ptq_hadamard_rows(x, rows, n, err); break;
    case PTQ_OP_HADAMARD_HEADS: rc = heads_rows(op, x, rows, err); break;
    case PTQ_OP_DENSE:
    case PTQ_OP_RANDOM_ORTHOGONAL: rc = dense_rows(op, x, rows, err); break;
    case PTQ_OP_RUQUANT: rc = ptq_ru_apply(&op->data->ru, x, rows, err); break;
    case PTQ_OP_LOWRANK: rc = lowrank_rows(op, x, rows, err); break;
    default: return ptq_fail(err, "online op of unknown kind %d", (int)op->kind);
    }
    return rc ? ptq_wrap(err, "online op %s (n %d)", ptq_op_kind_name(op->kind), n) : 0;
}

double ptq_online_op_flops(const ptq_online_op *op) {
    double n = op->n;
    switch (op->kind) {
    case PTQ_OP_HADAMARD:
    case PTQ_OP_HADAMARD_HEADS: return 8.0 * n;
    case PTQ_OP_DENSE:
    case PTQ_OP_RANDOM_ORTHOGONAL: return 2.0 * n * n;
    case PTQ_OP_RUQUANT: return ptq_ru_flops_per_row(&op->data->ru);
    case PTQ_OP_LOWRANK: return 4.0 * n * op->rank + 2.0 * op->rank * op->rank;
    default: return 0;
    }
}

/* ---- stored form -------------------------------------------------------- */

static void put(ptq_op_desc *d, const char *name, int i32, const void *data, long long r, long long c, int ndim) {
    ptq_op_tensor *t = &d->t[d->ntensor++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->is_i32 = i32, t->data = data, t->shape[0] = r, t->shape[1] = c, t->ndim = ndim;
}

int ptq_online_op_describe(const ptq_online_op *op, int version, ptq_op_desc *d, ptq_err *err) {
    memset(d, 0, sizeof *d);
    d->kind = op->kind, d->n = op->n;
    const ptq_op_data *a = op->data;
    switch (op->kind) {
    case PTQ_OP_HADAMARD: return 0;
    case PTQ_OP_HADAMARD_HEADS: d->p[0] = op->heads, d->p[1] = op->head_dim; return 0;
    case PTQ_OP_RANDOM_ORTHOGONAL:
        if (version >= 3) {
            d->seed = op->seed;
            ptq_sha256_buf(a->A, sizeof(float) * (size_t)op->n * op->n, d->sha256);
            return 0;
        }
        d->kind = PTQ_OP_DENSE; /* version 2: the matrix itself */
        /* fall through */
    case PTQ_OP_DENSE: put(d, "A", 0, a->A, op->n, op->n, 2); return 0;
    case PTQ_OP_RUQUANT:
        d->p[0] = a->ru.B;
        put(d, "R1t", 0, a->ru.R1t, a->ru.B, a->ru.B, 2);
        put(d, "R2t", 0, a->ru.R2t, a->ru.B, a->ru.B, 2);
        put(d, "perm", 1, a->ru.perm, op->n, 1, 1);
        if (a->ru.s_inv) put(d, "s_inv", 0, a->ru.s_inv, op->n, 1, 1);
        if (a->ru.omega) put(d, "omega", 0, a->ru.omega, op->n, 1, 1);
        return 0;
    case PTQ_OP_LOWRANK:
        if (version < 3) return ptq_fail(err, "online op lowrank needs format version 3 (asked for %d)", version);
        d->p[0] = op->rank;
        put(d, "Q", 0, a->Q, op->n, op->rank, 2);
        put(d, "M", 0, a->M, op->rank, op->rank, 2);
        return 0;
    default: return ptq_fail(err, "online op %s has no stored form", ptq_op_kind_name(op->kind));
    }
}

/* Tensor `name` of d with the given dtype and shape; NULL (and *bad set
 * unless optional and absent) otherwise. */
static const void *tensor(const ptq_op_desc *d, const char *name, int i32, long long r, long long c, int required,
                          int *used, ptq_err *err, int *bad) {
    for (int i = 0; i < d->ntensor; i++) {
        const ptq_op_tensor *t = &d->t[i];
        if (strcmp(t->name, name)) continue;
        long long tc = t->ndim > 1 ? t->shape[1] : 1;
        if (t->is_i32 != i32 || t->shape[0] != r || tc != c) {
            *bad = ptq_fail(err, "online op %s: tensor '%s' must be %s [%lld x %lld], got %s [%lld x %lld]",
                            ptq_op_kind_name(d->kind), name, i32 ? "i32" : "f32", r, c, t->is_i32 ? "i32" : "f32",
                            t->shape[0], tc);
            return NULL;
        }
        (*used)++;
        return t->data;
    }
    if (required) *bad = ptq_fail(err, "online op %s: tensor '%s' is missing", ptq_op_kind_name(d->kind), name);
    return NULL;
}

int ptq_online_op_from_desc(const ptq_op_desc *d, ptq_online_op *op, ptq_err *err) {
    int n = d->n, bad = 0, used = 0, rc = -1;
    const char *kn = ptq_op_kind_name(d->kind);
    ptq_online_op o = {0};
    if (n < 1) return ptq_fail(err, "online op %s: row length %d", kn, n);
    switch (d->kind) {
    case PTQ_OP_HADAMARD: rc = ptq_op_hadamard(&o, n, err); break;
    case PTQ_OP_HADAMARD_HEADS:
        if ((long long)d->p[0] * d->p[1] != n)
            return ptq_fail(err, "online op %s: %d heads x %d != row length %d", kn, d->p[0], d->p[1], n);
        rc = ptq_op_hadamard_heads(&o, d->p[0], d->p[1], err);
        break;
    case PTQ_OP_DENSE: {
        const float *A = tensor(d, "A", 0, n, n, 1, &used, err, &bad);
        rc = bad ? -1 : ptq_op_dense(&o, A, n, err);
        break;
    }
    case PTQ_OP_RANDOM_ORTHOGONAL: {
        if (ptq_op_random_orthogonal(&o, n, d->seed, err)) return -1;
        char got[65];
        ptq_sha256_buf(o.data->A, sizeof(float) * (size_t)n * n, got);
        if (strcmp(got, d->sha256)) {
            ptq_online_op_clear(&o);
            return ptq_fail(err,
                            "online op %s (n %d, seed %llu): the matrix rebuilt here (sha256 %.12s...) differs from "
                            "the exporter's (%.12s...): a different LAPACK/BLAS build or thread count; export the "
                            "model on this machine",
                            kn, n, (unsigned long long)d->seed, got, d->sha256[0] ? d->sha256 : "none");
        }
        rc = 0;
        break;
    }
    case PTQ_OP_RUQUANT: {
        int B = d->p[0];
        if (B < 1 || n % B) return ptq_fail(err, "online op %s: block %d does not divide %d", kn, B, n);
        ptq_ru_transform tr = {.C = n, .B = B};
        tr.R1t = (float *)tensor(d, "R1t", 0, B, B, 1, &used, err, &bad);
        tr.R2t = (float *)tensor(d, "R2t", 0, B, B, 1, &used, err, &bad);
        tr.perm = (int *)tensor(d, "perm", 1, n, 1, 1, &used, err, &bad);
        tr.s_inv = (float *)tensor(d, "s_inv", 0, n, 1, 0, &used, err, &bad);
        tr.omega = (float *)tensor(d, "omega", 0, n, 1, 0, &used, err, &bad);
        rc = bad ? -1 : ptq_op_ruquant(&o, &tr, err);
        break;
    }
    case PTQ_OP_LOWRANK: {
        int r = d->p[0];
        if (r < 1 || r > n) return ptq_fail(err, "online op %s: rank %d outside 1..%d", kn, r, n);
        const float *Q = tensor(d, "Q", 0, n, r, 1, &used, err, &bad), *M = tensor(d, "M", 0, r, r, 1, &used, err, &bad);
        rc = bad ? -1 : ptq_op_lowrank(&o, Q, M, n, r, err);
        break;
    }
    default: return ptq_fail(err, "online op of unknown kind %d", (int)d->kind);
    }
    if (rc) return -1;
    if (used != d->ntensor) {
        ptq_online_op_clear(&o);
        return ptq_fail(err, "online op %s: %d tensor(s) that the kind does not use", kn, d->ntensor - used);
    }
    *op = o;
    return 0;
}
