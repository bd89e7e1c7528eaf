/* online_ops.c — known online-op kinds for the export file (online_ops.h). */
#include "online_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hadamard.h"
#include "blockrot.h"

#define MAX_DENSE 16384 /* largest n materialized (n*n floats) */

/* ---- constructors ------------------------------------------------------- */

static void had_fn(void *ctx, float *x, int rows, int n) {
    (void)ctx;
    ptq_hadamard_rows(x, rows, n, NULL); /* size checked when built */
}

int ptq_op_hadamard(ptq_online_op *op, int n, ptq_err *err) {
    if (!ptq_hadamard_supported(n)) return ptq_fail(err, "online op 'hadamard': no Hadamard transform of size %d", n);
    *op = (ptq_online_op){had_fn, NULL, NULL, "hadamard", 8.0 * n};
    return 0;
}

typedef struct {
    int nh, hd;
} heads_ctx;

/* x viewed as nh x hd: Hadamard of size nh on every column. */
static void heads_fn(void *ctx, float *x, int rows, int n) {
    const heads_ctx *h = ctx;
    float *t = malloc(sizeof(float) * (size_t)n);
    if (!t) return;
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * n;
        for (int a = 0; a < h->nh; a++)
            for (int b = 0; b < h->hd; b++) t[(size_t)b * h->nh + a] = v[(size_t)a * h->hd + b];
        ptq_hadamard_rows(t, h->hd, h->nh, NULL);
        for (int a = 0; a < h->nh; a++)
            for (int b = 0; b < h->hd; b++) v[(size_t)a * h->hd + b] = t[(size_t)b * h->nh + a];
    }
    free(t);
}

int ptq_op_hadamard_heads(ptq_online_op *op, int nh, int hd, ptq_err *err) {
    if (nh < 1 || hd < 1 || !ptq_hadamard_supported(nh))
        return ptq_fail(err, "online op 'hadamard_heads': no Hadamard across %d heads (head_dim %d)", nh, hd);
    heads_ctx *h = ptq_calloc(1, sizeof *h, err);
    if (!h) return -1;
    h->nh = nh, h->hd = hd;
    *op = (ptq_online_op){heads_fn, h, free, "hadamard_heads", 8.0 * nh * hd};
    return 0;
}

typedef struct {
    int n;
    float *A;
} dense_ctx;

static void dense_fn(void *ctx, float *x, int rows, int n) {
    const dense_ctx *d = ctx;
    if (n != d->n) return; /* sizes are checked when installed */
    float *t = malloc(sizeof(float) * (size_t)rows * n);
    if (!t) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, n, 1.f, x, n, d->A, n, 0.f, t, n);
    memcpy(x, t, sizeof(float) * (size_t)rows * n);
    free(t);
}

static void dense_free(void *ctx) {
    dense_ctx *d = ctx;
    if (d) free(d->A);
    free(d);
}

int ptq_op_dense(ptq_online_op *op, const float *A, int n, ptq_err *err) {
    if (n < 1 || n > MAX_DENSE) return ptq_fail(err, "online op 'dense': size %d outside 1..%d", n, MAX_DENSE);
    dense_ctx *d = ptq_calloc(1, sizeof *d, err);
    if (!d || !(d->A = ptq_calloc((size_t)n * n, sizeof(float), err))) {
        free(d);
        return -1;
    }
    d->n = n;
    memcpy(d->A, A, sizeof(float) * (size_t)n * n);
    *op = (ptq_online_op){dense_fn, d, dense_free, "dense", 2.0 * n * n};
    return 0;
}

/* ---- describe ----------------------------------------------------------- */

static void blob(ptq_opdesc *d, const char *name, int i32, void *data, long long r, long long c, int ndim, int owned) {
    ptq_opblob *b = &d->blob[d->nblob++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->is_i32 = i32, b->data = data, b->shape[0] = r, b->shape[1] = c, b->ndim = ndim, b->owned = owned;
}

/* 1 if op agrees with ref on two random rows. */
static int probe(const ptq_online_op *op, const ptq_online_op *ref, int n) {
    float *a = malloc(sizeof(float) * 2 * n), *b = malloc(sizeof(float) * 2 * n);
    ptq_rng r;
    ptq_rng_seed(&r, 12345);
    int ok = a && b;
    for (int i = 0; ok && i < 2 * n; i++) a[i] = b[i] = (float)ptq_rng_normal(&r);
    if (ok) {
        op->fn(op->ctx, a, 2, n);
        ref->fn(ref->ctx, b, 2, n);
        double e = 0, m = 0;
        for (int i = 0; i < 2 * n; i++) e = fmax(e, fabs((double)a[i] - b[i])), m = fmax(m, fabs((double)b[i]));
        ok = e <= 1e-5 * (m + 1e-30);
    }
    free(a), free(b);
    return ok;
}

static int describe_dense(const ptq_online_op *op, int n, ptq_opdesc *d, ptq_err *err) {
    if (n > MAX_DENSE)
        return ptq_fail(err, "online op '%s' on rows of %d: too large to materialize (max %d)",
                        op->name ? op->name : "?", n, MAX_DENSE);
    float *A = ptq_calloc((size_t)n * n, sizeof(float), err);
    if (!A) return -1;
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] = 1.f;
    op->fn(op->ctx, A, n, n); /* row i = op(e_i), so x A = op(x) */
    d->kind = "dense";
    blob(d, "A", 0, A, n, n, 2, 1);
    return 0;
}

int ptq_online_op_describe(const ptq_online_op *op, int n, const ptq_config *cfg, ptq_opdesc *d, ptq_err *err) {
    memset(d, 0, sizeof *d);
    d->n = n;
    if (!op->fn) return ptq_fail(err, "online op: identity has no description");
    if (op->fn == ptq_ru_online) {
        ptq_ru_transform *tr = op->ctx;
        if (tr->C != n) return ptq_fail(err, "online op 'ruquant_rotation': C %d on rows of %d", tr->C, n);
        d->kind = "ruquant_rotation", d->p[0] = tr->B;
        blob(d, "R1t", 0, tr->R1t, tr->B, tr->B, 2, 0);
        blob(d, "R2t", 0, tr->R2t, tr->B, tr->B, 2, 0);
        blob(d, "perm", 1, tr->perm, n, 1, 1, 0);
        if (tr->s_inv) blob(d, "s_inv", 0, tr->s_inv, n, 1, 1, 0);
        if (tr->omega) blob(d, "omega", 0, tr->omega, n, 1, 1, 0);
        return 0;
    }
    const char *nm = op->name ? op->name : "";
    ptq_online_op ref = {0};
    ptq_err e2;
    int is_had = 0;
    if (!strncmp(nm, "hadamard_heads", 14) && cfg && cfg->n_heads * cfg->head_dim == n &&
        ptq_op_hadamard_heads(&ref, cfg->n_heads, cfg->head_dim, &e2) == 0) {
        if ((is_had = probe(op, &ref, n))) d->kind = "hadamard_heads", d->p[0] = cfg->n_heads, d->p[1] = cfg->head_dim;
    } else if (!strncmp(nm, "hadamard", 8) && ptq_op_hadamard(&ref, n, &e2) == 0) {
        if ((is_had = probe(op, &ref, n))) d->kind = "hadamard";
    }
    ptq_online_op_clear(&ref);
    return is_had ? 0 : describe_dense(op, n, d, err);
}

void ptq_opdesc_free(ptq_opdesc *d) {
    for (int i = 0; i < d->nblob; i++)
        if (d->blob[i].owned) free(d->blob[i].data);
    memset(d, 0, sizeof *d);
}

/* ---- build -------------------------------------------------------------- */

static const ptq_opblob *find_blob(const ptq_opdesc *d, const char *name, int i32, long long r, long long c,
                                   int required, ptq_err *err, int *bad) {
    for (int i = 0; i < d->nblob; i++) {
        const ptq_opblob *b = &d->blob[i];
        if (strcmp(b->name, name)) continue;
        long long bc = b->ndim > 1 ? b->shape[1] : 1;
        if (b->is_i32 != i32 || b->shape[0] != r || bc != c) {
            *bad = ptq_fail(err, "online op '%s': tensor '%s' must be %s [%lld x %lld], got %s [%lld x %lld]", d->kind,
                            name, i32 ? "i32" : "f32", r, c, b->is_i32 ? "i32" : "f32", b->shape[0], bc);
            return NULL;
        }
        return b;
    }
    if (required) *bad = ptq_fail(err, "online op '%s': tensor '%s' is missing", d->kind, name);
    return NULL;
}

static float *dupf(const ptq_opblob *b, ptq_err *err) {
    if (!b) return NULL;
    size_t n = (size_t)b->shape[0] * (b->ndim > 1 ? b->shape[1] : 1);
    float *p = ptq_calloc(n, sizeof(float), err);
    if (p) memcpy(p, b->data, n * sizeof(float));
    return p;
}

static int build_ruquant(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err) {
    int n = d->n, B = d->p[0], bad = 0;
    if (B < 1 || n % B) return ptq_fail(err, "online op 'ruquant_rotation': block %d does not divide %d", B, n);
    const ptq_opblob *r1 = find_blob(d, "R1t", 0, B, B, 1, err, &bad), *r2 = find_blob(d, "R2t", 0, B, B, 1, err, &bad);
    const ptq_opblob *pm = find_blob(d, "perm", 1, n, 1, 1, err, &bad), *si = find_blob(d, "s_inv", 0, n, 1, 0, err, &bad);
    const ptq_opblob *om = find_blob(d, "omega", 0, n, 1, 0, err, &bad);
    if (bad) return -1;
    const int32_t *perm = pm->data;
    char *seen = ptq_calloc(n, 1, err);
    if (!seen) return -1;
    for (int i = 0; i < n && !bad; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
            bad = ptq_fail(err, "online op 'ruquant_rotation': perm is not a permutation of 0..%d (entry %d)", n - 1, i);
        else seen[perm[i]] = 1;
    }
    free(seen);
    if (bad) return -1;
    ptq_ru_transform *tr = ptq_calloc(1, sizeof *tr, err);
    if (!tr) return -1;
    tr->C = n, tr->B = B, tr->refs = 1;
    tr->R1t = dupf(r1, err), tr->R2t = dupf(r2, err), tr->s_inv = dupf(si, err), tr->omega = dupf(om, err);
    tr->perm = ptq_calloc(n, sizeof(int), err);
    if (!tr->R1t || !tr->R2t || (si && !tr->s_inv) || (om && !tr->omega) || !tr->perm) {
        ptq_ru_release(tr);
        return -1;
    }
    for (int i = 0; i < n; i++) tr->perm[i] = perm[i];
    *op = (ptq_online_op){ptq_ru_online, tr, ptq_ru_release, "ruquant_rotation", ptq_ru_flops_per_row(tr)};
    return 0;
}

static int build_hadamard(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err) {
    return ptq_op_hadamard(op, d->n, err);
}

static int build_heads(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err) {
    if ((long long)d->p[0] * d->p[1] != d->n)
        return ptq_fail(err, "online op 'hadamard_heads': %d heads x %d != row length %d", d->p[0], d->p[1], d->n);
    return ptq_op_hadamard_heads(op, d->p[0], d->p[1], err);
}

static int build_dense(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err) {
    int bad = 0;
    if (d->n < 1 || d->n > MAX_DENSE) return ptq_fail(err, "online op 'dense': size %d outside 1..%d", d->n, MAX_DENSE);
    const ptq_opblob *a = find_blob(d, "A", 0, d->n, d->n, 1, err, &bad);
    return bad ? -1 : ptq_op_dense(op, a->data, d->n, err);
}

typedef struct {
    const char *kind;
    int (*build)(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err);
} op_kind;

static const op_kind kinds[] = {
    {"hadamard", build_hadamard},
    {"hadamard_heads", build_heads},
    {"ruquant_rotation", build_ruquant},
    {"dense", build_dense},
};

const char *ptq_online_kind(const char *name) {
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kind, name)) return kinds[i].kind;
    return NULL;
}

int ptq_online_op_from_desc(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err) {
    memset(op, 0, sizeof *op);
    for (size_t i = 0; d->kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kind, d->kind)) return kinds[i].build(d, op, err);
    return ptq_fail(err, "online op kind '%s' unknown (known: hadamard, hadamard_heads, ruquant_rotation, dense)",
                    d->kind ? d->kind : "(none)");
}
