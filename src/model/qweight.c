/* qweight.c — the quantized weight value (qweight.h). */
#include "qweight.h"

#include <stdlib.h>
#include <string.h>

#include "uniform.h"

ptq_qweight *ptq_qweight_new(int out, int in, int bits, int group, int sym, ptq_err *err) {
    if (out <= 0 || in <= 0 || bits < 1 || bits > 8)
        return ptq_fail(err, "qweight: bad shape %d x %d or bits %d (1..8)", out, in, bits), NULL;
    ptq_qweight *qw = ptq_calloc(1, sizeof *qw, err);
    if (!qw) return NULL;
    qw->out = out, qw->in = in, qw->bits = bits, qw->sym = sym != 0;
    qw->group = group > 0 && group < in ? group : 0;
    qw->ngroups = qw->group ? (in + qw->group - 1) / qw->group : 1;
    size_t ng = (size_t)out * qw->ngroups;
    if (!(qw->codes = ptq_calloc((size_t)out * in, 1, err)) || !(qw->scale = ptq_calloc(ng, sizeof(float), err)) ||
        !(qw->zero = ptq_calloc(ng, sizeof(int), err))) {
        ptq_qweight_free(qw);
        return NULL;
    }
    return qw;
}

static void free_sparse(ptq_qweight *qw) {
    free(qw->sp_rowptr), free(qw->sp_col), free(qw->sp_val);
    qw->sp_rowptr = NULL, qw->sp_col = NULL, qw->sp_val = NULL, qw->nnz = 0;
}

void ptq_qweight_free(ptq_qweight *qw) {
    if (!qw) return;
    free(qw->codes), free(qw->scale), free(qw->zero), free(qw->gidx);
    free_sparse(qw);
    ptq_spectral_branch_free(&qw->lowfreq);
    free(qw);
}

static void *dup(const void *p, size_t n, int *ok) {
    if (!p || !*ok) return NULL;
    void *d = malloc(n ? n : 1);
    if (!d) *ok = 0;
    else memcpy(d, p, n);
    return d;
}

ptq_qweight *ptq_qweight_clone(const ptq_qweight *s, ptq_err *err) {
    ptq_qweight *d = ptq_calloc(1, sizeof *d, err);
    if (!d) return NULL;
    *d = *s;
    int ok = 1;
    size_t ng = (size_t)s->out * s->ngroups;
    d->codes = dup(s->codes, ptq_qweight_code_bytes(s), &ok);
    d->scale = dup(s->scale, ng * sizeof(float), &ok);
    d->zero = dup(s->zero, ng * sizeof(int), &ok);
    d->gidx = dup(s->gidx, s->in * sizeof(int), &ok);
    d->sp_rowptr = dup(s->sp_rowptr, sizeof(long) * (s->out + 1), &ok);
    d->sp_col = dup(s->sp_col, sizeof(int) * s->nnz, &ok);
    d->sp_val = dup(s->sp_val, sizeof(float) * s->nnz, &ok);
    d->lowfreq.k = dup(s->lowfreq.k, sizeof(int) * s->lowfreq.out, &ok);
    d->lowfreq.coef = dup(s->lowfreq.coef, sizeof(float) * 2 * (size_t)s->lowfreq.out * s->lowfreq.kmax, &ok);
    if (!ok) {
        ptq_qweight_free(d);
        return ptq_fail(err, "qweight: out of memory copying a %d x %d weight", s->out, s->in), NULL;
    }
    return d;
}

size_t ptq_qweight_code_bytes(const ptq_qweight *qw) {
    return (size_t)qw->out * (qw->nibbles ? (size_t)(qw->in + 1) / 2 : (size_t)qw->in);
}

int ptq_qweight_compact(ptq_qweight *qw, ptq_err *err) {
    if (qw->nibbles || qw->bits > 4) return 0;
    size_t rb = (size_t)(qw->in + 1) / 2;
    uint8_t *p = ptq_calloc((size_t)qw->out * rb, 1, err);
    if (!p) return -1;
    for (int r = 0; r < qw->out; r++) {
        const uint8_t *c = qw->codes + (size_t)r * qw->in;
        uint8_t *d = p + (size_t)r * rb;
        for (int j = 0; j < qw->in; j++) d[j >> 1] |= (uint8_t)(c[j] << ((j & 1) * 4));
    }
    free(qw->codes);
    qw->codes = p, qw->nibbles = 1;
    return 0;
}

const uint8_t *ptq_qweight_row_codes(const ptq_qweight *qw, int r, uint8_t *buf) {
    if (!qw->nibbles) return qw->codes + (size_t)r * qw->in;
    const uint8_t *p = qw->codes + (size_t)r * ((qw->in + 1) / 2);
    for (int j = 0; j < qw->in; j++) buf[j] = p[j >> 1] >> ((j & 1) * 4) & 15;
    return buf;
}

const uint8_t *ptq_qweight_byte_codes(const ptq_qweight *qw, uint8_t **tmp, ptq_err *err) {
    *tmp = NULL;
    if (!qw->nibbles) return qw->codes;
    if (!(*tmp = ptq_calloc((size_t)qw->out * qw->in, 1, err))) return NULL;
    for (int r = 0; r < qw->out; r++) ptq_qweight_row_codes(qw, r, *tmp + (size_t)r * qw->in);
    return *tmp;
}

/* Codes [j0, j1) of a nibble row as bytes: two plain loops the compiler
 * vectorizes (the per-element nibble select did not). */
enum { DQ_CHUNK = 1024 };
static void nibbles_to_bytes(const uint8_t *p, int j0, int j1, uint8_t *cb) {
    int j = j0;
    if (j & 1) *cb++ = p[j >> 1] >> 4, j++;
    int pairs = (j1 - j) / 2;
    const uint8_t *q = p + (j >> 1);
    for (int i = 0; i < pairs; i++) cb[2 * i] = q[i] & 15, cb[2 * i + 1] = q[i] >> 4;
    if ((j1 - j) & 1) cb[2 * pairs] = q[pairs] & 15;
}

/* Codes [j0, j1) of one group (scale s, zero z) into wr[j0..j1). */
static void dequant_span(const ptq_qweight *qw, const uint8_t *c, const uint8_t *p, int j0, int j1, float s, int z,
                         float *wr) {
    if (!qw->nibbles) {
        for (int j = j0; j < j1; j++) wr[j] = ptq_uq_value(c[j], s, z);
        return;
    }
    uint8_t cb[DQ_CHUNK];
    for (int a = j0; a < j1; a += DQ_CHUNK) {
        int b = PTQ_MIN(j1, a + DQ_CHUNK);
        nibbles_to_bytes(p, a, b, cb);
        for (int j = a; j < b; j++) wr[j] = ptq_uq_value(cb[j - a], s, z);
    }
}

static void dequant_row(const ptq_qweight *qw, int r, float *wr) {
    int G = qw->group ? qw->group : qw->in;
    const float *s = qw->scale + (size_t)r * qw->ngroups;
    const int *z = qw->zero + (size_t)r * qw->ngroups;
    const uint8_t *c = qw->codes + (size_t)r * qw->in, *p = qw->codes + (size_t)r * ((qw->in + 1) / 2);
    if (qw->gidx)
        for (int j = 0; j < qw->in; j++) {
            int code = qw->nibbles ? p[j >> 1] >> ((j & 1) * 4) & 15 : c[j];
            wr[j] = ptq_uq_value(code, s[qw->gidx[j]], z[qw->gidx[j]]);
        }
    else
        for (int g = 0; g < qw->ngroups; g++)
            dequant_span(qw, c, p, g * G, PTQ_MIN(qw->in, (g + 1) * G), s[g], z[g], wr);
    for (long q = qw->nnz ? qw->sp_rowptr[r] : 0; qw->nnz && q < qw->sp_rowptr[r + 1]; q++)
        wr[qw->sp_col[q]] = qw->sp_val[q];
}

void ptq_qweight_dequant(const ptq_qweight *qw, float *w) {
#pragma omp parallel for schedule(static) if ((long)qw->out * qw->in > 65536)
    for (int r = 0; r < qw->out; r++) dequant_row(qw, r, w + (size_t)r * qw->in);
}

void ptq_qweight_dequant_rows(const void *qw, int r0, int n, float *w) {
    const ptq_qweight *q = qw;
    for (int r = 0; r < n; r++) dequant_row(q, r0 + r, w + (size_t)r * q->in);
}

int ptq_qweight_set_sparse(ptq_qweight *qw, const unsigned char *mask, const float *W, ptq_err *err) {
    free_sparse(qw);
    long nnz = 0;
    size_t n = (size_t)qw->out * qw->in;
    for (size_t i = 0; i < n; i++) nnz += mask[i] != 0;
    if (nnz) {
        if (!(qw->sp_rowptr = ptq_calloc(qw->out + 1, sizeof(long), err)) ||
            !(qw->sp_col = ptq_calloc(nnz, sizeof(int), err)) || !(qw->sp_val = ptq_calloc(nnz, sizeof(float), err))) {
            free_sparse(qw);
            return -1;
        }
        long p = 0;
        for (int r = 0; r < qw->out; r++) {
            qw->sp_rowptr[r] = p;
            for (int j = 0; j < qw->in; j++) {
                size_t i = (size_t)r * qw->in + j;
                if (!mask[i]) continue;
                qw->sp_col[p] = j, qw->sp_val[p++] = W[i];
                qw->codes[i] = (uint8_t)qw->zero[(size_t)r * qw->ngroups + ptq_qweight_group_of(qw, j)];
            }
        }
        qw->sp_rowptr[qw->out] = p;
        qw->nnz = nnz;
    }
    ptq_qweight_count_side(qw);
    return 0;
}

int ptq_qweight_set_lowfreq(ptq_qweight *qw, ptq_spectral_branch *br, ptq_err *err) {
    if (br->kmax > 0 && (br->out != qw->out || br->n != qw->in))
        return ptq_fail(err, "qweight: a %d x %d low-frequency branch on a %d x %d weight", br->out, br->n, qw->out,
                        qw->in);
    ptq_spectral_branch_free(&qw->lowfreq);
    if (br->kmax > 0) qw->lowfreq = *br;
    else ptq_spectral_branch_free(br);
    memset(br, 0, sizeof *br);
    ptq_qweight_count_side(qw);
    return 0;
}

void ptq_qweight_scale_rows(ptq_qweight *qw, const float *f) {
    for (int r = 0; r < qw->out; r++) {
        for (int g = 0; g < qw->ngroups; g++) qw->scale[(size_t)r * qw->ngroups + g] *= f[r];
        for (long p = qw->nnz ? qw->sp_rowptr[r] : 0; qw->nnz && p < qw->sp_rowptr[r + 1]; p++) qw->sp_val[p] *= f[r];
        for (int j = 0; j < 2 * qw->lowfreq.kmax; j++) qw->lowfreq.coef[(size_t)r * 2 * qw->lowfreq.kmax + j] *= f[r];
    }
}

ptq_sparse_storage ptq_sparse_storage_of(int rows, int cols, long nnz, int value_bytes) {
    ptq_sparse_storage s;
    memset(&s, 0, sizeof s);
    int idx = cols <= 65536 ? 2 : 4;
    s.nnz = nnz;
    s.csr_bytes = 4L * (rows + 1) + nnz * (idx + value_bytes);
    s.bitmap_bytes = ((long)rows * cols + 7) / 8 + nnz * value_bytes;
    s.format = s.csr_bytes <= s.bitmap_bytes ? "csr" : "bitmap";
    s.bytes = PTQ_MIN(s.csr_bytes, s.bitmap_bytes);
    return s;
}

void ptq_qweight_count_side(ptq_qweight *qw) {
    qw->side_bytes = (qw->nnz ? ptq_sparse_storage_of(qw->out, qw->in, qw->nnz, 2).bytes : 0) +
                     (qw->lowfreq.kmax > 0 ? ptq_spectral_branch_bytes(&qw->lowfreq) : 0);
}

long ptq_qweight_bytes(const ptq_qweight *qw) {
    long ng = (long)qw->out * qw->ngroups;
    return ((long)qw->out * qw->in * qw->bits + 7) / 8 + ng * (long)(sizeof(float) + 1) + qw->side_bytes;
}
