/* ckpt.c — training checkpoints (train.h): parameter values, optimizer
 * state, step and RNG states, so a resumed run continues bit for bit.
 *
 * Layout (little-endian host order, this machine's floats):
 *   "PTQTRAIN" u32 version=2 | u32 len, identity | i64 step | u8 has_rng, 4 x u64
 *   u32 nparam, per parameter: u32 len, name, i32 kind, rows, cols, rows*cols f32
 *   u8 has_adam [i64 t, per parameter: u8 present [m f32..., v f32...]]
 *   u8 has_cayley [i64 t, 4 x u64 rng, per parameter: u8 present [buf f32...]]
 *   u8 has_best [f64 loss, i64 step, per parameter: u8 present [f32...]]
 *   u64 FNV-1a of every byte before it.
 * Written to PATH.tmp.<pid>, flushed, fsync'd, renamed over PATH: a kill at
 * any moment leaves the previous checkpoint or the new one, never a torn
 * file. Load checks the hash, the identity and every parameter's name,
 * kind and shape, and the optimizers' layout, before changing anything. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

#define MAGIC "PTQTRAIN"
enum { VERSION = 2 };

typedef struct {
    FILE *f;
    uint64_t h;
    int bad;
} wr;

static void fnv(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL;
}

static void put(wr *w, const void *p, size_t n) {
    if (w->bad || !n) return;
    fnv(&w->h, p, n);
    if (fwrite(p, 1, n, w->f) != n) w->bad = 1;
}
static void put_u32(wr *w, uint32_t v) {
    put(w, &v, 4);
}
static void put_i64(wr *w, int64_t v) {
    put(w, &v, 8);
}
static void put_u8(wr *w, uint8_t v) {
    put(w, &v, 1);
}
static void put_str(wr *w, const char *s) {
    put_u32(w, (uint32_t)strlen(s));
    put(w, s, strlen(s));
}

/* An optional fp32 buffer per parameter (NULL: none), each flagged by a byte. */
static void put_bufs(wr *w, const ptq_params *P, float *const *bufs, int nbufs) {
    for (int i = 0; i < P->n; i++) {
        int has = i < nbufs && bufs[i];
        put_u8(w, (uint8_t)has);
        if (has) put(w, bufs[i], (size_t)ptq_param_size(&P->p[i]) * sizeof(float));
    }
}

static void write_body(wr *w, const ptq_ckpt_info *info, const ptq_params *P, const ptq_adamw *adam,
                       const ptq_cayley *cay) {
    put(w, MAGIC, 8);
    put_u32(w, VERSION);
    put_str(w, info->identity ? info->identity : "");
    put_i64(w, info->step);
    put_u8(w, info->rng != NULL);
    if (info->rng) put(w, info->rng->s, sizeof info->rng->s);
    put_u32(w, (uint32_t)P->n);
    for (int i = 0; i < P->n; i++) {
        const ptq_param *p = &P->p[i];
        put_str(w, p->name);
        int32_t k[3] = {p->kind, p->rows, p->cols};
        put(w, k, sizeof k);
        put(w, p->val, (size_t)ptq_param_size(p) * sizeof(float));
    }
    put_u8(w, adam != NULL);
    if (adam) {
        put_i64(w, adam->t);
        for (int i = 0; i < P->n; i++) {
            int has = i < adam->n && adam->m[i];
            put_u8(w, (uint8_t)has);
            if (has) {
                size_t n = (size_t)ptq_param_size(&P->p[i]) * sizeof(float);
                put(w, adam->m[i], n);
                put(w, adam->v[i], n);
            }
        }
    }
    put_u8(w, cay != NULL);
    if (cay) {
        put_i64(w, cay->t);
        put(w, cay->rng.s, sizeof cay->rng.s);
        put_bufs(w, P, cay->buf, cay->n);
    }
    const ptq_best *b = info->best;
    put_u8(w, b != NULL);
    if (b) {
        put(w, &b->loss, sizeof b->loss);
        put_i64(w, b->step);
        put_bufs(w, P, b->val, b->n);
    }
}

int ptq_ckpt_save(const char *path, const ptq_ckpt_info *info, const ptq_params *P, const ptq_adamw *adam,
                  const ptq_cayley *cay, ptq_err *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    wr w = {.f = fopen(tmp, "wb"), .h = 0xcbf29ce484222325ULL};
    if (!w.f) return ptq_fail(err, "%s: cannot write checkpoint: %s", tmp, strerror(errno));
    write_body(&w, info, P, adam, cay);
    uint64_t h = w.h;
    put(&w, &h, 8);
    int ok = !w.bad && fflush(w.f) == 0 && fsync(fileno(w.f)) == 0;
    ok = fclose(w.f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        return ptq_fail(err, "%s: cannot write checkpoint: %s", path, strerror(e));
    }
    return 0;
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *p;
    size_t n, off;
    int bad;
} rd;

static const void *get(rd *r, size_t n) {
    if (r->bad || n > r->n - r->off) {
        r->bad = 1;
        return NULL;
    }
    const void *q = r->p + r->off;
    r->off += n;
    return q;
}
static uint32_t get_u32(rd *r) {
    uint32_t v = 0;
    const void *q = get(r, 4);
    if (q) memcpy(&v, q, 4);
    return v;
}
static int64_t get_i64(rd *r) {
    int64_t v = 0;
    const void *q = get(r, 8);
    if (q) memcpy(&v, q, 8);
    return v;
}
static uint8_t get_u8(rd *r) {
    const uint8_t *q = get(r, 1);
    return q ? *q : 0;
}

/* put_bufs' records, checked against the run's buffers (what names them). */
static int get_bufs(rd *r, const char *path, const ptq_params *P, float **bufs, int nbufs, const char *what,
                    int apply, ptq_err *err) {
    for (int i = 0; i < P->n && !r->bad; i++) {
        int has = get_u8(r), want_has = i < nbufs && bufs[i];
        if (has != want_has) return ptq_fail(err, "%s: %s of %s does not match the run", path, what, P->p[i].name);
        if (!has) continue;
        size_t n = (size_t)ptq_param_size(&P->p[i]) * sizeof(float);
        const void *a = get(r, n);
        if (apply && a) memcpy(bufs[i], a, n);
    }
    return 0;
}

/* Walk the file; with apply = 0 only check it against P and the optimizers. */
static int parse(rd *r, const char *path, ptq_ckpt_info *info, ptq_params *P, ptq_adamw *adam, ptq_cayley *cay,
                 int apply, ptq_err *err) {
    r->off = 0, r->bad = 0;
    const char *m = get(r, 8);
    if (!m || memcmp(m, MAGIC, 8)) return ptq_fail(err, "%s: not a ptqbench training checkpoint", path);
    uint32_t ver = get_u32(r);
    if (ver != VERSION) return ptq_fail(err, "%s: checkpoint version %u, expected %d", path, ver, VERSION);
    uint32_t il = get_u32(r);
    const char *id = get(r, il);
    const char *want = info->identity ? info->identity : "";
    if (!id || il != strlen(want) || memcmp(id, want, il))
        return ptq_fail(err, "%s: checkpoint of another model or method (\"%.*s\"), expected \"%s\"", path,
                        id ? (int)PTQ_MIN(il, 200u) : 0, id ? id : "", want);
    int64_t step = get_i64(r);
    uint8_t has_rng = get_u8(r);
    const void *rs = has_rng ? get(r, sizeof info->rng->s) : NULL;
    if (has_rng != (info->rng != NULL))
        return ptq_fail(err, "%s: checkpoint %s a data RNG state, the run %s one", path, has_rng ? "holds" : "lacks",
                        info->rng ? "needs" : "has no");
    uint32_t np = get_u32(r);
    if (np != (uint32_t)P->n) return ptq_fail(err, "%s: %u parameters, the run has %d", path, np, P->n);
    for (int i = 0; i < P->n && !r->bad; i++) {
        ptq_param *p = &P->p[i];
        uint32_t nl = get_u32(r);
        const char *nm = get(r, nl);
        const int32_t *k = get(r, 12);
        if (!nm || !k) break;
        int32_t kk[3];
        memcpy(kk, k, sizeof kk);
        if (nl != strlen(p->name) || memcmp(nm, p->name, nl) || kk[0] != (int32_t)p->kind || kk[1] != p->rows ||
            kk[2] != p->cols)
            return ptq_fail(err, "%s: parameter %d is %.*s (%d x %d), the run's is %s (%d x %d)", path, i,
                            (int)PTQ_MIN(nl, 64u), nm, kk[1], kk[2], p->name, p->rows, p->cols);
        size_t n = (size_t)ptq_param_size(p) * sizeof(float);
        const void *v = get(r, n);
        if (apply && v) memcpy(p->val, v, n);
    }
    uint8_t ha = get_u8(r);
    if (!r->bad && ha != (adam != NULL))
        return ptq_fail(err, "%s: checkpoint %s AdamW state, the run %s", path, ha ? "holds" : "lacks",
                        adam ? "uses AdamW" : "does not");
    if (ha) {
        int64_t t = get_i64(r);
        if (apply) adam->t = t;
        for (int i = 0; i < P->n && !r->bad; i++) {
            int has = get_u8(r), want_has = i < adam->n && adam->m[i];
            if (has != want_has)
                return ptq_fail(err, "%s: AdamW state of %s does not match the run", path, P->p[i].name);
            if (!has) continue;
            size_t n = (size_t)ptq_param_size(&P->p[i]) * sizeof(float);
            const void *a = get(r, n), *b = get(r, n);
            if (apply && a && b) memcpy(adam->m[i], a, n), memcpy(adam->v[i], b, n);
        }
    }
    uint8_t hc = get_u8(r);
    if (!r->bad && hc != (cay != NULL))
        return ptq_fail(err, "%s: checkpoint %s Cayley SGD state, the run %s", path, hc ? "holds" : "lacks",
                        cay ? "uses Cayley SGD" : "does not");
    if (hc) {
        int64_t t = get_i64(r);
        const void *cr = get(r, sizeof cay->rng.s);
        if (apply && cr) cay->t = t, memcpy(cay->rng.s, cr, sizeof cay->rng.s);
        if (get_bufs(r, path, P, cay->buf, cay->n, "Cayley SGD state", apply, err)) return -1;
    }
    ptq_best *b = info->best;
    uint8_t hb = get_u8(r);
    if (!r->bad && hb != (b != NULL))
        return ptq_fail(err, "%s: checkpoint %s a best-iterate record, the run %s", path, hb ? "holds" : "lacks",
                        b ? "keeps one" : "does not");
    if (hb) {
        const void *lv = get(r, sizeof b->loss);
        int64_t bs = get_i64(r);
        if (apply && lv) memcpy(&b->loss, lv, sizeof b->loss), b->step = bs;
        if (get_bufs(r, path, P, b->val, b->n, "best-iterate copy", apply, err)) return -1;
    }
    if (r->bad || r->off != r->n) return ptq_fail(err, "%s: checkpoint is truncated or has trailing bytes", path);
    if (apply) {
        info->step = step;
        if (info->rng && rs) memcpy(info->rng->s, rs, sizeof info->rng->s);
    }
    return 0;
}

int ptq_ckpt_load(const char *path, ptq_ckpt_info *info, ptq_params *P, ptq_adamw *adam, ptq_cayley *cay,
                  ptq_err *err) {
    char *data;
    size_t len;
    if (ptq_read_file(path, &data, &len, err)) return -1;
    int rc = -1;
    if (len < 8 + 8)
        ptq_fail(err, "%s: checkpoint is truncated (%zu bytes)", path, len);
    else {
        uint64_t h = 0xcbf29ce484222325ULL, stored;
        fnv(&h, data, len - 8);
        memcpy(&stored, data + len - 8, 8);
        rd r = {.p = (const unsigned char *)data, .n = len - 8};
        if (h != stored)
            ptq_fail(err, "%s: checkpoint is corrupt (checksum mismatch)", path);
        else if (!parse(&r, path, info, P, adam, cay, 0, err))
            rc = parse(&r, path, info, P, adam, cay, 1, err);
    }
    free(data);
    return rc;
}
