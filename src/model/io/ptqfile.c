/* ptqfile.c — see ptqfile.h for the format. Saving streams the header and
 * the tensors through OpenSSL's EVP SHA-256 (no payload copy in memory);
 * loading maps the file read-only, checks every length and the checksum
 * before parsing the JSON, then resolves each tensor the config asks for. */
#include "ptqfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "online_ops.h"
#include "safetensors.h"

#define FIXED 96
#define ALIGN 64

static size_t code_bytes(size_t n, int bits) { return (n * (size_t)bits + 7) / 8; }

/* LSB-first bit stream: code i occupies bits [i*b, i*b + b). */
static void pack_codes(const uint8_t *c, size_t n, int bits, uint8_t *out) {
    memset(out, 0, code_bytes(n, bits));
    if (8 % bits == 0) { /* 1, 2, 4, 8 bits: a code never straddles a byte */
        for (size_t i = 0; i < n; i++) out[i * bits >> 3] |= (uint8_t)(c[i] << (i * bits & 7));
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < bits; b++)
            if (c[i] >> b & 1) out[(i * bits + b) >> 3] |= (uint8_t)(1u << ((i * bits + b) & 7));
}

static void unpack_codes(const uint8_t *in, size_t n, int bits, uint8_t *c) {
    if (8 % bits == 0) {
        for (size_t i = 0; i < n; i++) c[i] = (uint8_t)(in[i * bits >> 3] >> (i * bits & 7) & ((1u << bits) - 1));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int b = 0; b < bits; b++) v |= (unsigned)(in[(i * bits + b) >> 3] >> ((i * bits + b) & 7) & 1) << b;
        c[i] = (uint8_t)v;
    }
}

/* ---- the writer: each tensor goes to the file as it is produced --------- */

struct ptq_file_writer {
    char path[4096], tmp[4200];
    FILE *f;         /* NULL: the dry pass of an old-layout file (index only) */
    EVP_MD_CTX *md;  /* the payload as written (format 4: then JSON, fixed[0..32)) */
    int version, nop; /* nop: online ops so far, named "ops.<i>" */
    size_t off;      /* payload bytes so far */
    cJSON *tensors, *ops, *hooks, *kv;
    ptq_file_stats st;
    ptq_err *err;
};

static int put_bytes(ptq_file_writer *w, const void *p, size_t n) {
    if (w->md) EVP_DigestUpdate(w->md, p, n);
    return fwrite(p, 1, n, w->f) == n ? 0 : ptq_fail(w->err, "%s: write failed: %s", w->tmp, strerror(errno));
}

/* One tensor: its index entry, its bytes at the next 64-byte boundary of the
 * payload. Returns the entry (for extra fields), NULL on failure. */
static cJSON *put(ptq_file_writer *w, const char *name, const char *kind, const char *dtype, const void *data,
                  size_t bytes, int ndim, long long d0, long long d1, long long d2) {
    static const unsigned char zeros[ALIGN];
    size_t pad = (bytes + ALIGN - 1) / ALIGN * ALIGN - bytes;
    if (!data) return ptq_fail(w->err, "%s: out of memory writing tensor '%s'", w->path, name), NULL;
    if (w->f && (put_bytes(w, data, bytes) || put_bytes(w, zeros, pad))) return NULL;
    cJSON *e = cJSON_CreateObject();
    double sh[3] = {(double)d0, (double)d1, (double)d2};
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "kind", kind);
    cJSON_AddStringToObject(e, "dtype", dtype);
    cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(sh, ndim));
    cJSON_AddNumberToObject(e, "offset", (double)w->off);
    cJSON_AddNumberToObject(e, "bytes", (double)bytes);
    cJSON_AddItemToArray(w->tensors, e);
    w->off += bytes + pad;
    return e;
}

/* The same for a malloc'd buffer, freed once written. */
static cJSON *put_owned(ptq_file_writer *w, const char *name, const char *kind, const char *dtype, void *data,
                        size_t bytes, int ndim, long long d0, long long d1, long long d2) {
    cJSON *e = put(w, name, kind, dtype, data, bytes, ndim, d0, d1, d2);
    free(data);
    return e;
}

#define F32(w, nm, kd, ptr, d0, d1, nd)                                                                                \
    put(w, nm, kd, "f32", ptr, sizeof(float) * (size_t)(d0) * ((nd) > 1 ? (size_t)(d1) : 1), nd, d0, d1, 0)

static int32_t *to_i32_int(const int *v, size_t n) {
    int32_t *o = malloc(sizeof(int32_t) * (n ? n : 1));
    for (size_t i = 0; o && i < n; i++) o[i] = v[i];
    return o;
}

/* The low-frequency branch as coefficients: side_k i32 [out] and side_coef
 * f16 (f32 when a coefficient is not fp16-exact) [out, kmax, 2]. */
static int put_spectral(ptq_file_writer *w, const char *base, const ptq_spectral_branch *b) {
    char nm[112];
    size_t nc = (size_t)b->out * b->kmax * 2;
    int half = 1;
    for (size_t i = 0; i < nc && half; i++) half = ptq_round_fp16(b->coef[i]) == b->coef[i];
    snprintf(nm, sizeof nm, "%s.side_k", base);
    if (!put_owned(w, nm, "side_spectral", "i32", to_i32_int(b->k, b->out), sizeof(int32_t) * b->out, 1, b->out, 0, 0))
        return -1;
    uint16_t *c = half ? malloc(nc * 2 + 1) : NULL;
    for (size_t i = 0; c && i < nc; i++) c[i] = ptq_f32_to_f16(b->coef[i]);
    snprintf(nm, sizeof nm, "%s.side_coef", base);
    cJSON *e = half ? put_owned(w, nm, "side_spectral", "f16", c, nc * 2, 3, b->out, b->kmax, 2)
                    : put(w, nm, "side_spectral", "f32", b->coef, nc * 4, 3, b->out, b->kmax, 2);
    return e ? (cJSON_AddNumberToObject(e, "n", b->n), 0) : -1;
}

/* A quantized weight: packed codes, scales, zeros (+ off-grid entries), one
 * buffer of one tensor at a time. */
static int put_qweight(ptq_file_writer *w, const char *base, const ptq_qweight *qw) {
    static const char *const qd[9] = {"", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"};
    char nm[112];
    size_t n = (size_t)qw->out * qw->in, ng = (size_t)qw->out * qw->ngroups;
    uint8_t *codes = malloc(code_bytes(n, qw->bits) + 1), *tmp = NULL;
    const uint8_t *src = codes ? ptq_qweight_byte_codes(qw, &tmp, w->err) : NULL;
    if (src) pack_codes(src, n, qw->bits, codes);
    else free(codes), codes = NULL;
    free(tmp);
    snprintf(nm, sizeof nm, "%s.weight", base);
    cJSON *e = put_owned(w, nm, "packed", qd[qw->bits], codes, code_bytes(n, qw->bits), 2, qw->out, qw->in, 0);
    if (!e) return -1;
    cJSON_AddNumberToObject(e, "bits", qw->bits);
    cJSON_AddNumberToObject(e, "group", qw->group);
    cJSON_AddNumberToObject(e, "sym", qw->sym);
    snprintf(nm, sizeof nm, "%s.scale", base);
    if (!F32(w, nm, "packed_scale", qw->scale, qw->out, qw->ngroups, 2)) return -1;
    uint8_t *zero = malloc(ng);
    for (size_t i = 0; zero && i < ng; i++) zero[i] = (uint8_t)qw->zero[i];
    snprintf(nm, sizeof nm, "%s.zero", base);
    if (!put_owned(w, nm, "packed_zero", "u8", zero, ng, 2, qw->out, qw->ngroups, 0)) return -1;
    snprintf(nm, sizeof nm, "%s.gidx", base);
    if (qw->gidx && !put_owned(w, nm, "packed_gidx", "i32", to_i32_int(qw->gidx, qw->in), sizeof(int32_t) * qw->in, 1,
                               qw->in, 0, 0))
        return -1;
    if (!qw->nnz) return 0;
    int32_t *rp = malloc(sizeof(int32_t) * (qw->out + 1));
    for (int r = 0; rp && r <= qw->out; r++) rp[r] = (int32_t)qw->sp_rowptr[r];
    snprintf(nm, sizeof nm, "%s.sparse_rowptr", base);
    if (!put_owned(w, nm, "sparse", "i32", rp, sizeof(int32_t) * (qw->out + 1), 1, qw->out + 1, 0, 0)) return -1;
    snprintf(nm, sizeof nm, "%s.sparse_col", base);
    if (!put_owned(w, nm, "sparse", "i32", to_i32_int(qw->sp_col, qw->nnz), sizeof(int32_t) * qw->nnz, 1, qw->nnz, 0, 0))
        return -1;
    snprintf(nm, sizeof nm, "%s.sparse_val", base);
    if (!F32(w, nm, "sparse", qw->sp_val, qw->nnz, 0, 1)) return -1;
    w->st.sparse_entries += qw->nnz;
    return 0;
}

/* A full-precision matrix. Format 4: 16-bit storage as it is; fp32 as bf16
 * (else f16) when every value is exactly one, so the load gives the same
 * values; f32 otherwise. Older formats: f32, widened from 16-bit storage or
 * dequantized from the qweight (a compact model). */
static int put_matrix(ptq_file_writer *w, const char *nm, const char *kind, const float *f, const ptq_w16 *h,
                      const ptq_qweight *qw, int rows, int cols) {
    static const char *const dn[3] = {"", "bf16", "f16"};
    size_t n = (size_t)rows * cols;
    if (w->version >= 4 && h->w) return put(w, nm, kind, dn[h->dtype], h->w, n * 2, 2, rows, cols, 0) ? 0 : -1;
    for (int dt = PTQ_W16_BF16; f && w->version >= 4 && dt <= PTQ_W16_F16; dt++)
        if (ptq_narrow_exact(dt, f, n, NULL)) {
            uint16_t *b = malloc(n * 2 + 1);
            if (b) ptq_narrow_exact(dt, f, n, b);
            return put_owned(w, nm, kind, dn[dt], b, n * 2, 2, rows, cols, 0) ? 0 : -1;
        }
    if (f) return F32(w, nm, kind, f, rows, cols, 2) ? 0 : -1;
    if (!h->w && !qw) return ptq_fail(w->err, "%s: tensor '%s' has no weights to write", w->path, nm);
    float *x = malloc(n * sizeof(float) + 1);
    for (int r = 0; x && h->w && r < rows; r++) ptq_w16_row(h->dtype, h->w + (size_t)r * cols, x + (size_t)r * cols, cols);
    if (x && !h->w) ptq_qweight_dequant(qw, x);
    return put_owned(w, nm, kind, "f32", x, n * sizeof(float), 2, rows, cols, 0) ? 0 : -1;
}

/* A linear: its qweight when it has one (version 2 on), else full
 * precision; bias; side branch (the qweight's coefficients, else a dense
 * w_side); its activation quantizer into "hooks". */
static int put_linear(ptq_file_writer *w, const char *base, const ptq_linear *li, int layer, const char *hname) {
    char nm[112];
    const ptq_qweight *qw = li->owns_w && w->version >= 2 ? li->qw : NULL;
    snprintf(nm, sizeof nm, "%s.weight", base);
    if (qw && put_qweight(w, base, qw)) return -1;
    if (!qw && li->owns_w && put_matrix(w, nm, "weight", li->w, &li->w16, li->qw, li->out, li->in)) return -1;
    w->st.packed_linears += qw != NULL;
    w->st.linears++;
    snprintf(nm, sizeof nm, "%s.bias", base);
    if (li->bias && !F32(w, nm, "bias", li->bias, li->out, 0, 1)) return -1;
    snprintf(nm, sizeof nm, "%s.side", base);
    if (li->qw && li->qw->lowfreq.kmax > 0 ? put_spectral(w, base, &li->qw->lowfreq)
                                           : li->w_side && !F32(w, nm, "side", li->w_side, li->out, li->in, 2))
        return -1;
    if (li->aq.bits < 16) {
        double v[4] = {li->aq.bits, li->aq.sym, li->aq.clip, li->aq.group};
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "layer", layer);
        cJSON_AddStringToObject(e, "linear", hname);
        cJSON_AddItemToObject(e, "aq", cJSON_CreateDoubleArray(v, 4));
        cJSON_AddItemToArray(w->hooks, e);
    }
    return 0;
}

/* ---- online ops ---------------------------------------------------------- */

typedef struct {
    const ptq_online_op *op;
    char site[64];
} opsite;

/* The ops installed in block l (l == n_layers: lm_head's), in file order. */
static int block_ops(const ptq_model *m, int l, opsite s[PTQ_LIN_COUNT + 3]) {
    int n = 0;
#define SITE(o, ...)                                                                                                   \
    if ((o)->kind != PTQ_OP_IDENTITY) s[n].op = (o), snprintf(s[n++].site, sizeof s[0].site, __VA_ARGS__)
    if (l == m->cfg.n_layers) {
        SITE(&m->lm_head.in_op, "lm_head.in");
        return n;
    }
    const ptq_layer *L = &m->layers[l];
    for (int j = 0; j < PTQ_LIN_COUNT; j++) SITE(&L->lin[j].in_op, "layers.%d.%s.in", l, ptq_linear_names[j]);
    SITE(&L->qk_op, "layers.%d.qk", l);
    SITE(&L->resid_op[0], "layers.%d.resid0", l);
    SITE(&L->resid_op[1], "layers.%d.resid1", l);
#undef SITE
    return n;
}

/* The format version the model's ops need (2, or 3 for a kind added in 3). */
static int ops_version(const ptq_model *m) {
    opsite s[PTQ_LIN_COUNT + 3];
    int v = 2;
    for (int l = 0; l <= m->cfg.n_layers; l++)
        for (int i = block_ops(m, l, s) - 1; i >= 0; i--) v = PTQ_MAX(v, ptq_op_kind_version(s[i].op->kind));
    return v;
}

/* Block l's ops into "ops" + tensors (kind "method", "ops.<i>.<tensor>");
 * sites of the block holding one op share one "data". */
static int put_ops(ptq_file_writer *w, const ptq_model *m, int l) {
    opsite s[PTQ_LIN_COUNT + 3];
    int n = block_ops(m, l, s), first = w->nop;
    if (n && w->version < 2)
        return ptq_fail(w->err, "%s: the model has an online transform (%s at %s); format version 1 cannot store it",
                        w->path, ptq_op_kind_name(s[0].op->kind), s[0].site);
    for (int i = 0; i < n; i++) {
        const ptq_online_op *op = s[i].op;
        int same = -1, k = w->nop++;
        for (int j = 0; j < i && same < 0; j++)
            if (op->data && s[j].op->data == op->data) same = first + j;
        ptq_op_desc d;
        if (ptq_online_op_describe(op, w->version, &d, w->err)) return ptq_wrap(w->err, "online op at %s", s[i].site);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(w->ops, e);
        cJSON_AddStringToObject(e, "site", s[i].site);
        cJSON_AddStringToObject(e, "kind", ptq_op_kind_name(d.kind));
        cJSON_AddNumberToObject(e, "n", d.n);
        cJSON_AddItemToObject(e, "p", cJSON_CreateIntArray(d.p, 2));
        cJSON_AddNumberToObject(e, "flops_per_row", ptq_online_op_flops(op));
        if (d.kind == PTQ_OP_RANDOM_ORTHOGONAL) {
            char seed[24];
            snprintf(seed, sizeof seed, "%llu", (unsigned long long)d.seed);
            cJSON_AddStringToObject(e, "seed", seed); /* a string: 64 bits do not fit a JSON double */
            cJSON_AddStringToObject(e, "sha256", d.sha256);
        }
        if (!d.ntensor) continue;
        char pre[32], nm[112];
        snprintf(pre, sizeof pre, "ops.%d", same >= 0 ? same : k);
        cJSON_AddStringToObject(e, "data", pre);
        for (int b = 0; b < d.ntensor && same < 0; b++) {
            const ptq_op_tensor *t = &d.t[b];
            snprintf(nm, sizeof nm, "%s.%s", pre, t->name);
            size_t cnt = (size_t)t->shape[0] * (t->ndim > 1 ? t->shape[1] : 1);
            if (!put(w, nm, "method", t->is_i32 ? "i32" : "f32", t->data, cnt * 4, t->ndim, t->shape[0], t->shape[1], 0))
                return -1;
        }
    }
    w->st.online_ops += n;
    return 0;
}

/* ---- save ------------------------------------------------------------------ */

static cJSON *config_json(const ptq_config *c) {
    cJSON *j = cJSON_CreateObject();
#define I(f) cJSON_AddNumberToObject(j, #f, c->f)
    I(dim), I(hidden_dim), I(n_layers), I(n_heads), I(n_kv_heads), I(vocab_size), I(max_seq), I(head_dim);
    I(rope_theta), I(norm_eps), I(tied_embeddings), I(rope_style), I(attn_bias), I(bos_id), I(eos_id);
    I(rope_factor), I(rope_low_freq_factor), I(rope_high_freq_factor), I(rope_orig_max_pos);
#undef I
    return j;
}

int ptq_file_put_block(ptq_file_writer *w, const ptq_model *m, int l) {
    const ptq_layer *L = &m->layers[l];
    char nm[112];
    snprintf(nm, sizeof nm, "layers.%d.rms_att", l);
    if (!F32(w, nm, "norm", L->rms_att, m->cfg.dim, 0, 1)) return -1;
    snprintf(nm, sizeof nm, "layers.%d.rms_ffn", l);
    if (!F32(w, nm, "norm", L->rms_ffn, m->cfg.dim, 0, 1)) return -1;
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        snprintf(nm, sizeof nm, "layers.%d.%s", l, ptq_linear_names[j]);
        if (put_linear(w, nm, &L->lin[j], l, ptq_linear_names[j])) return -1;
    }
    double v[8] = {L->kq.bits, L->kq.sym, L->kq.clip, L->kq.group, L->vq.bits, L->vq.sym, L->vq.clip, L->vq.group};
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "layer", l);
    cJSON_AddItemToObject(e, "kq", cJSON_CreateDoubleArray(v, 4));
    cJSON_AddItemToObject(e, "vq", cJSON_CreateDoubleArray(v + 4, 4));
    cJSON_AddItemToArray(w->kv, e);
    return put_ops(w, m, l);
}

/* The outer tensors (embedding, final norm, lm_head and its op) and the
 * JSON header text. */
static char *put_outer(ptq_file_writer *w, const ptq_model *m, const cJSON *meta) {
    const ptq_config *c = &m->cfg;
    if (put_matrix(w, "tok_emb", "embedding", m->tok_emb, &m->emb16, NULL, c->vocab_size, c->dim) ||
        !F32(w, "rms_final", "norm", m->rms_final, c->dim, 0, 1) ||
        put_linear(w, "lm_head", &m->lm_head, c->n_layers, "lm_head") || put_ops(w, m, c->n_layers))
        return NULL;
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "format", "ptqbench");
    cJSON_AddNumberToObject(h, "version", w->version);
    cJSON_AddItemToObject(h, "config", config_json(c));
    cJSON_AddItemToObject(h, "meta", meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject());
    cJSON_AddItemReferenceToObject(h, "tensors", w->tensors);
    cJSON_AddItemReferenceToObject(h, "hooks", w->hooks);
    cJSON_AddItemReferenceToObject(h, "kv", w->kv);
    if (w->version >= 2) cJSON_AddItemReferenceToObject(h, "ops", w->ops);
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!js) ptq_fail(w->err, "out of memory");
    return js;
}

static ptq_file_writer *writer_new(const char *path, int version, int dry, ptq_err *err) {
    ptq_file_writer *w = ptq_calloc(1, sizeof *w, err);
    if (!w) return NULL;
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    w->version = version, w->err = err;
    w->tensors = cJSON_CreateArray(), w->ops = cJSON_CreateArray(), w->hooks = cJSON_CreateArray();
    w->kv = cJSON_CreateArray();
    if (dry) return w;
    if (!(w->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(w->md, EVP_sha256(), NULL)) {
        ptq_fail(err, "out of memory");
    } else if (!(w->f = fopen(w->tmp, "wb"))) {
        ptq_fail(err, "%s: cannot create: %s", w->tmp, strerror(errno));
    } else
        return w;
    ptq_file_abort(w);
    return NULL;
}

void ptq_file_abort(ptq_file_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f), unlink(w->tmp);
    EVP_MD_CTX_free(w->md);
    cJSON_Delete(w->tensors), cJSON_Delete(w->ops), cJSON_Delete(w->hooks), cJSON_Delete(w->kv);
    free(w);
}

/* The fixed fields; sha256 hex (64 chars) when given. */
static void fixed_fields(unsigned char fx[FIXED], int version, uint64_t jl, uint64_t pl, const char *hex) {
    uint32_t ver = (uint32_t)version;
    memset(fx, 0, FIXED);
    memcpy(fx, PTQ_FILE_MAGIC, 8);
    memcpy(fx + 8, &ver, 4);
    memcpy(fx + 16, &jl, 8);
    memcpy(fx + 24, &pl, 8);
    if (hex) memcpy(fx + 32, hex, 64);
}

static void digest_hex(EVP_MD_CTX *md, char hex[65]) {
    unsigned char dg[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, dg, &dl);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dg[i]);
}

/* Make the file whole: flush, sync, close, rename path.tmp -> path. */
static int commit(ptq_file_writer *w) {
    int rc = fflush(w->f) || fsync(fileno(w->f));
    rc |= fclose(w->f) != 0;
    w->f = NULL;
    if (rc) rc = ptq_fail(w->err, "%s: write failed: %s", w->tmp, strerror(errno));
    else if (rename(w->tmp, w->path)) rc = ptq_fail(w->err, "%s: rename failed: %s", w->path, strerror(errno));
    if (rc) unlink(w->tmp);
    struct stat sb;
    w->st.file_bytes = !rc && stat(w->path, &sb) == 0 ? (size_t)sb.st_size : 0;
    return rc;
}

ptq_file_writer *ptq_file_begin(const char *path, ptq_err *err) {
    ptq_file_writer *w = writer_new(path, PTQ_FILE_VERSION, 0, err);
    unsigned char fx[FIXED + 32];
    fixed_fields(fx, PTQ_FILE_VERSION, 0, 0, NULL); /* lengths 0 until finished: a cut file never loads */
    memset(fx + FIXED, 0, 32);
    if (w && fwrite(fx, 1, sizeof fx, w->f) != sizeof fx) {
        ptq_fail(err, "%s: write failed: %s", w->tmp, strerror(errno));
        ptq_file_abort(w);
        return NULL;
    }
    return w;
}

int ptq_file_finish(ptq_file_writer *w, const ptq_model *m, const cJSON *meta, ptq_file_stats *st) {
    char *js = put_outer(w, m, meta), hex[65];
    int rc = js ? 0 : -1;
    if (!rc) {
        unsigned char fx[FIXED];
        uint64_t jl = strlen(js);
        fixed_fields(fx, w->version, jl, w->off, NULL);
        EVP_DigestUpdate(w->md, js, jl); /* sha256 of payload, JSON, fixed[0..32) */
        EVP_DigestUpdate(w->md, fx, 32);
        digest_hex(w->md, hex);
        fixed_fields(fx, w->version, jl, w->off, hex);
        EVP_MD_CTX_free(w->md), w->md = NULL; /* the JSON and the fixed fields are not payload */
        rc = put_bytes(w, js, jl);
        if (!rc && fseek(w->f, 0, SEEK_SET)) rc = ptq_fail(w->err, "%s: seek failed: %s", w->tmp, strerror(errno));
        if (!rc) rc = put_bytes(w, fx, FIXED) || commit(w);
    }
    if (st) *st = w->st;
    free(js);
    ptq_file_abort(w);
    return rc;
}

static int put_model(ptq_file_writer *w, const ptq_model *m) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (ptq_file_put_block(w, m, l)) return -1;
    return 0;
}

/* Versions 1..3: the JSON header comes first, so a dry pass lays out the
 * index, then the tensors are written after it (hashed after fixed[0..32)
 * and the JSON from version 2 on, alone in version 1). */
static int save_old(const char *path, const ptq_model *m, const cJSON *meta, int version, ptq_file_stats *st,
                     ptq_err *err) {
    ptq_file_writer *dry = writer_new(path, version, 1, err), *w = NULL;
    char *js = dry && !put_model(dry, m) ? put_outer(dry, m, meta) : NULL, hex[65];
    int rc = -1;
    if (js && (w = writer_new(path, version, 0, err))) {
        static const unsigned char zeros[ALIGN];
        unsigned char fx[FIXED];
        uint64_t jl = strlen(js);
        fixed_fields(fx, version, jl, dry->off, NULL);
        EVP_MD_CTX *md = w->md;
        w->md = NULL;
        if (version >= 2) EVP_DigestUpdate(md, fx, 32), EVP_DigestUpdate(md, js, jl);
        rc = put_bytes(w, fx, FIXED) || put_bytes(w, js, jl) ||
             put_bytes(w, zeros, (FIXED + jl + ALIGN - 1) / ALIGN * ALIGN - FIXED - jl);
        w->md = md;
        char *again = rc || put_model(w, m) ? NULL : put_outer(w, m, meta);
        free(again);
        w->md = NULL;
        digest_hex(md, hex);
        EVP_MD_CTX_free(md);
        rc = !again || fseek(w->f, 32, SEEK_SET) || put_bytes(w, hex, 64) ? -1 : commit(w);
        if (st) *st = w->st;
    }
    free(js);
    ptq_file_abort(dry), ptq_file_abort(w);
    return rc;
}

int ptq_file_save_ex(const char *path, const ptq_model *m, const cJSON *meta, const ptq_file_opts *o,
                     ptq_file_stats *st, ptq_err *err) {
    int version = o ? o->version : PTQ_FILE_VERSION;
    if (version < 1 || version > PTQ_FILE_VERSION)
        return ptq_fail(err, "%s: cannot write format version %d (1..%d)", path, version, PTQ_FILE_VERSION);
    if (version == 3) version = ops_version(m); /* the oldest of 2, 3 that stores the model's ops */
    if (version < 4) return save_old(path, m, meta, version, st, err);
    ptq_file_writer *w = ptq_file_begin(path, err);
    if (!w || put_model(w, m)) return ptq_file_abort(w), -1;
    return ptq_file_finish(w, m, meta, st);
}

int ptq_file_detect(const char *path) {
    char b[8];
    FILE *f = ptq_fopen_regular(path, NULL);
    if (!f) return 0;
    int ok = fread(b, 1, 8, f) == 8 && !memcmp(b, PTQ_FILE_MAGIC, 8);
    fclose(f);
    return ok;
}

/* ---- load -------------------------------------------------------------------- */

static int jnum(const cJSON *o, const char *k, double lo, double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) return -1;
    *out = v->valuedouble;
    return 0;
}

static int parse_config(const cJSON *j, ptq_config *c, const char *path, ptq_err *err) {
    memset(c, 0, sizeof *c);
    double v;
#define F(f, lo, hi)                                                                                                   \
    do {                                                                                                               \
        if (jnum(j, #f, lo, hi, &v))                                                                                   \
            return ptq_fail(err, "%s: header config field '%s' missing or out of range", path, #f);                    \
        c->f = (__typeof__(c->f))v;                                                                                    \
    } while (0)
    F(dim, 1, 1 << 16);
    F(hidden_dim, 1, 1 << 18);
    F(n_layers, 1, 1024);
    F(n_heads, 1, 4096);
    F(n_kv_heads, 1, 4096);
    F(vocab_size, 1, 1 << 20);
    F(max_seq, 1, 1 << 20);
    F(head_dim, 1, 1 << 16);
    F(rope_theta, 1e-6, 1e12);
    F(norm_eps, 1e-12, 1);
    F(tied_embeddings, 0, 1);
    F(rope_style, 0, 1);
    F(attn_bias, 0, 1);
    F(bos_id, -1, 1 << 20);
    F(eos_id, -1, 1 << 20);
    F(rope_factor, 0, 1e6);
    F(rope_low_freq_factor, 0, 1e6);
    F(rope_high_freq_factor, 0, 1e6);
    F(rope_orig_max_pos, 0, 1 << 24);
#undef F
    return ptq_config_check(c, path, err);
}

static int parse_aq(const cJSON *a, ptq_act_qspec *q) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 4) return -1;
    double v[4];
    for (int i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(x)) return -1;
        v[i] = x->valuedouble;
    }
    if (v[0] < 1 || v[0] > 16 || (v[1] != 0 && v[1] != 1) || !(v[2] > 0 && v[2] <= 1) || v[3] < 0 || v[3] > 1 << 20)
        return -1;
    *q = (ptq_act_qspec){(int)v[0], (int)v[1], (float)v[2], (int)v[3]};
    return 0;
}

/* A validated tensor entry of the file. */
typedef struct {
    const char *name, *kind, *dtype;
    long long shape[3];
    int ndim, bits, group, sym, n, used; /* sym: -1 when the entry does not say */
    const unsigned char *data;
    size_t bytes;
} itensor;

typedef struct {
    const char *path;
    itensor *t;
    int n;
    ptq_err *err;
    int compact; /* quantized linears keep their qweight alone (no fp32 copy) */
} ireader;

static const char *const known_kinds[] = {"embedding",   "norm",   "weight",        "bias",   "side",
                                          "packed",      "packed_scale", "packed_zero", "packed_gidx", "sparse",
                                          "side_spectral", "method", NULL};

/* Bytes a dtype needs for count elements; 0 for an unknown dtype. */
static size_t dtype_bytes(const char *dt, size_t count, int *bits) {
    *bits = 0;
    if (!strcmp(dt, "f32") || !strcmp(dt, "i32")) return count * 4;
    if (!strcmp(dt, "f16") || !strcmp(dt, "bf16")) return count * 2;
    if (!strcmp(dt, "u8")) return count;
    if (dt[0] == 'q' && dt[1] >= '1' && dt[1] <= '8' && !dt[2]) return *bits = dt[1] - '0', code_bytes(count, *bits);
    return 0;
}

/* Float tensors must hold finite values (a NaN weight or scale would reach
 * the quantizers' float-to-int conversions), as the other loaders require. */
static int finite_floats(ireader *R, const itensor *t, size_t count) {
    int w16 = !strcmp(t->dtype, "f16") ? PTQ_W16_F16 : !strcmp(t->dtype, "bf16") ? PTQ_W16_BF16 : 0;
    if (!w16 && strcmp(t->dtype, "f32")) return 0;
    for (size_t i = 0; i < count; i++) {
        float x;
        if (w16) {
            uint16_t h;
            memcpy(&h, t->data + 2 * i, 2);
            x = ptq_w16_to_f32(w16, h);
        } else
            memcpy(&x, t->data + 4 * i, 4);
        if (!isfinite(x))
            return ptq_fail(R->err, "%s: tensor '%s' holds a non-finite value (%g) at element %zu", R->path, t->name,
                            (double)x, i);
    }
    return 0;
}

static int parse_tensor(ireader *R, const cJSON *e, const unsigned char *payload, size_t pl, itensor *t) {
    const char *p = R->path;
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name"), *kd = cJSON_GetObjectItemCaseSensitive(e, "kind"),
                *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    double off, bytes, v;
    memset(t, 0, sizeof *t);
    if (!cJSON_IsString(nm) || !cJSON_IsString(kd) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) ||
        jnum(e, "offset", 0, 1e18, &off) || jnum(e, "bytes", 0, 1e18, &bytes))
        return ptq_fail(R->err, "%s: tensor entry needs name, kind, dtype, shape, offset, bytes", p);
    t->name = nm->valuestring, t->kind = kd->valuestring, t->dtype = dt->valuestring;
    int k = 0;
    while (known_kinds[k] && strcmp(known_kinds[k], t->kind)) k++;
    if (!known_kinds[k]) return ptq_fail(R->err, "%s: tensor '%s' has unknown kind '%s'", p, t->name, t->kind);
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim < 1 || t->ndim > 3) return ptq_fail(R->err, "%s: tensor '%s': shape must have 1..3 dims", p, t->name);
    size_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *x = cJSON_GetArrayItem(sh, i);
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 1 && x->valuedouble <= 2147483647.0) ||
            x->valuedouble != floor(x->valuedouble))
            return ptq_fail(R->err, "%s: tensor '%s': shape entries must be integers in 1..2^31-1", p, t->name);
        t->shape[i] = (long long)x->valuedouble;
        if (count > ((size_t)1 << 40) / (size_t)t->shape[i])
            return ptq_fail(R->err, "%s: tensor '%s': shape too large", p, t->name);
        count *= (size_t)t->shape[i];
    }
    int bits;
    size_t want = dtype_bytes(t->dtype, count, &bits);
    if (!want)
        return ptq_fail(R->err, "%s: tensor '%s' has unknown dtype '%s' (f32 f16 bf16 i32 u8 q1..q8)", p, t->name, t->dtype);
    if (!strcmp(t->kind, "packed")) {
        if (!bits) return ptq_fail(R->err, "%s: packed tensor '%s' needs a q<bits> dtype, got '%s'", p, t->name, t->dtype);
        if (jnum(e, "bits", -1e9, 1e9, &v) || v != bits)
            return ptq_fail(R->err, "%s: packed tensor '%s': bits must be 1..8 and match dtype %s", p, t->name, t->dtype);
        t->bits = bits;
        if (t->ndim != 2 || jnum(e, "group", 0, (double)t->shape[1], &v) || v != floor(v))
            return ptq_fail(R->err, "%s: packed tensor '%s': needs a 2-d shape and group in 0..in", p, t->name);
        t->group = (int)v;
        t->sym = -1;
        if (cJSON_GetObjectItemCaseSensitive(e, "sym") && (jnum(e, "sym", 0, 1, &v) || v != floor(v)))
            return ptq_fail(R->err, "%s: packed tensor '%s': sym must be 0 or 1", p, t->name);
        else if (cJSON_GetObjectItemCaseSensitive(e, "sym"))
            t->sym = (int)v;
    } else if (bits)
        return ptq_fail(R->err, "%s: tensor '%s' of kind %s cannot have dtype %s", p, t->name, t->kind, t->dtype);
    if (!jnum(e, "n", 1, 1 << 24, &v)) t->n = (int)v;
    if ((size_t)off % ALIGN) /* the writer aligns every tensor; the kernels load f32/i32 in place */
        return ptq_fail(R->err, "%s: tensor '%s': offset %.0f is not a multiple of %d", p, t->name, off, ALIGN);
    if ((size_t)bytes != want || (size_t)off > pl || (size_t)bytes > pl - (size_t)off)
        return ptq_fail(R->err, "%s: tensor '%s': %.0f bytes at offset %.0f, expected %zu bytes (%s) inside the %zu-byte payload",
                        p, t->name, bytes, off, want, t->dtype, pl);
    t->data = payload + (size_t)off, t->bytes = want;
    return finite_floats(R, t, count);
}

static itensor *find_t(ireader *R, const char *name) {
    for (int i = 0; i < R->n; i++)
        if (!strcmp(R->t[i].name, name)) return &R->t[i];
    return NULL;
}

/* Tensor `name` with the given kind/dtype and shape (d1/d2 0 = absent). */
static itensor *need(ireader *R, const char *name, const char *kind, const char *dtype, long long d0, long long d1,
                     long long d2, int required) {
    itensor *t = find_t(R, name);
    if (!t) {
        if (required) ptq_fail(R->err, "%s: tensor '%s' is missing", R->path, name);
        return NULL;
    }
    int nd = d2 ? 3 : d1 ? 2 : 1;
    const long long want[3] = {d0, d1, d2};
    if (strcmp(t->kind, kind) || (dtype && strcmp(t->dtype, dtype)) || t->ndim != nd || t->shape[0] != d0 ||
        (nd > 1 && t->shape[1] != d1) || (nd > 2 && t->shape[2] != d2)) {
        char ws[80], gs[80];
        ptq_fail(R->err, "%s: tensor '%s' must be kind %s dtype %s shape %s, got kind %s dtype %s shape %s", R->path,
                 name, kind, dtype ? dtype : "?", ptq_shape_str(want, nd, ws, sizeof ws), t->kind, t->dtype,
                 ptq_shape_str(t->shape, t->ndim, gs, sizeof gs));
        return NULL;
    }
    t->used = 1;
    return t;
}

static int copy_f32(ireader *R, const char *name, const char *kind, float *dst, long long d0, long long d1) {
    itensor *t = need(R, name, kind, "f32", d0, d1, 0, 1);
    if (!t) return -1;
    memcpy(dst, t->data, t->bytes);
    return 0;
}

/* A full-precision matrix: f32 into *w, or bf16/f16 resident as *h (*w freed). */
static int load_matrix(ireader *R, const char *name, const char *kind, float **w, ptq_w16 *h, int rows, int cols) {
    itensor *t = need(R, name, kind, NULL, rows, cols, 0, 1);
    if (!t) return -1;
    if (!strcmp(t->dtype, "f32")) return memcpy(*w, t->data, t->bytes), 0;
    int dt = !strcmp(t->dtype, "bf16") ? PTQ_W16_BF16 : !strcmp(t->dtype, "f16") ? PTQ_W16_F16 : 0;
    if (!dt) return ptq_fail(R->err, "%s: tensor '%s' must be f32, bf16 or f16, not %s", R->path, name, t->dtype);
    uint16_t *b = ptq_calloc(t->bytes / 2, 2, R->err);
    if (!b) return -1;
    memcpy(b, t->data, t->bytes);
    free(*w);
    *w = NULL;
    *h = (ptq_w16){b, dt, cols};
    return 0;
}

/* Packed weight -> li->qw: codes, scales, zeros and the off-grid entries
 * (the code at one is the zero point). */
static int load_packed(ireader *R, const char *base, itensor *t, ptq_linear *li, ptq_qweight **out) {
    char nm[112];
    int o = li->out, in = li->in, G = t->group > 0 && t->group < in ? t->group : in, ng = (in + G - 1) / G;
    int maxq = (1 << t->bits) - 1, half = 1 << (t->bits - 1), sym = 1;
    snprintf(nm, sizeof nm, "%s.scale", base);
    itensor *ts = need(R, nm, "packed_scale", "f32", o, ng, 0, 1);
    snprintf(nm, sizeof nm, "%s.zero", base);
    itensor *tz = ts ? need(R, nm, "packed_zero", "u8", o, ng, 0, 1) : NULL;
    if (!tz) return -1;
    for (int i = 0; i < o * ng; i++) {
        if (tz->data[i] > maxq)
            return ptq_fail(R->err, "%s: tensor '%s': zero point %d outside 0..%d", R->path, nm, tz->data[i], maxq);
        sym &= tz->data[i] == half;
    }
    if (t->sym == 1 && !sym)
        return ptq_fail(R->err, "%s: tensor '%s' says sym but its zero points are not all %d", R->path, nm, half);
    ptq_qweight *qw = ptq_qweight_new(o, in, t->bits, G == in ? 0 : G, t->sym >= 0 ? t->sym : sym, R->err);
    if (!qw) return -1;
    memcpy(qw->scale, ts->data, ts->bytes);
    for (int i = 0; i < o * ng; i++) qw->zero[i] = tz->data[i];
    unpack_codes(t->data, (size_t)o * in, t->bits, qw->codes);
    *out = qw;
    snprintf(nm, sizeof nm, "%s.gidx", base);
    itensor *tg = need(R, nm, "packed_gidx", "i32", in, 0, 0, 0);
    if (!tg && find_t(R, nm)) return -1;
    if (tg && !(qw->gidx = ptq_calloc(in, sizeof(int), R->err))) return -1;
    for (int j = 0; tg && j < in; j++)
        if ((qw->gidx[j] = ((const int32_t *)tg->data)[j]) < 0 || qw->gidx[j] >= ng)
            return ptq_fail(R->err, "%s: tensor '%s': column %d in group %d, outside 0..%d", R->path, nm, j, qw->gidx[j],
                            ng - 1);
    snprintf(nm, sizeof nm, "%s.sparse_rowptr", base);
    itensor *trp = need(R, nm, "sparse", "i32", o + 1, 0, 0, 0);
    if (!trp) return find_t(R, nm) ? -1 : 0;
    const int32_t *rp = (const int32_t *)trp->data;
    long nnz = rp[o];
    int ok = rp[0] == 0 && nnz > 0 && nnz <= (long)o * in;
    for (int r = 0; r < o && ok; r++) ok = rp[r + 1] >= rp[r];
    if (!ok)
        return ptq_fail(R->err, "%s: tensor '%s' is not a CSR row pointer for %d rows (0 .. nnz, non-decreasing)",
                        R->path, nm, o);
    snprintf(nm, sizeof nm, "%s.sparse_col", base);
    itensor *tc = need(R, nm, "sparse", "i32", nnz, 0, 0, 1);
    snprintf(nm, sizeof nm, "%s.sparse_val", base);
    itensor *tv = tc ? need(R, nm, "sparse", "f32", nnz, 0, 0, 1) : NULL;
    if (!tv) return -1;
    const int32_t *col = (const int32_t *)tc->data;
    if (!(qw->sp_rowptr = ptq_calloc(o + 1, sizeof(long), R->err)) || !(qw->sp_col = ptq_calloc(nnz, sizeof(int), R->err)) ||
        !(qw->sp_val = ptq_calloc(nnz, sizeof(float), R->err)))
        return -1;
    qw->nnz = nnz;
    memcpy(qw->sp_val, tv->data, tv->bytes);
    for (int r = 0; r <= o; r++) qw->sp_rowptr[r] = rp[r];
    for (int r = 0; r < o; r++)
        for (long k = rp[r]; k < rp[r + 1]; k++) {
            int c = qw->sp_col[k] = col[k];
            if (c < 0 || c >= in || (k > rp[r] && c <= col[k - 1]))
                return ptq_fail(R->err, "%s: tensor '%s.sparse_col': column %d outside 0..%d or not ascending in row %d",
                                R->path, base, c, in - 1, r);
            int z = qw->zero[(size_t)r * ng + ptq_qweight_group_of(qw, c)];
            if (qw->codes[(size_t)r * in + c] != z)
                return ptq_fail(R->err, "%s: tensor '%s.weight': code %d at the sparse entry (%d, %d) is not the zero "
                                "point %d", R->path, base, qw->codes[(size_t)r * in + c], r, c, z);
        }
    return 0;
}

/* Side branch: a dense "side" tensor -> li->w_side; SpecQuant's
 * coefficients -> qw's low-frequency branch, or li->w_side (their dense
 * form) for a linear without a qweight. */
static int load_side(ireader *R, const char *base, ptq_linear *li, ptq_qweight *qw) {
    char nm[112];
    snprintf(nm, sizeof nm, "%s.side", base);
    itensor *t = find_t(R, nm);
    snprintf(nm, sizeof nm, "%s.side_k", base);
    itensor *tk = find_t(R, nm);
    if (!t && !tk) return 0;
    if (!(li->w_side = ptq_calloc((size_t)li->out * li->in, sizeof(float), R->err))) return -1;
    if (t) {
        snprintf(nm, sizeof nm, "%s.side", base);
        return copy_f32(R, nm, "side", li->w_side, li->out, li->in);
    }
    if (!need(R, nm, "side_spectral", "i32", li->out, 0, 0, 1)) return -1;
    snprintf(nm, sizeof nm, "%s.side_coef", base);
    itensor *tc = find_t(R, nm);
    int nb = ptq_spectral_nbins(li->in);
    if (!tc || tc->ndim != 3 || tc->shape[1] > nb || tc->n != li->in ||
        !need(R, nm, "side_spectral", NULL, li->out, tc->shape[1], 2, 1) ||
        (strcmp(tc->dtype, "f16") && strcmp(tc->dtype, "f32")))
        return ptq_fail(R->err, "%s: tensor '%s' must be side_spectral f16/f32 [%d, kmax <= %d, 2] with n = %d", R->path,
                        nm, li->out, nb, li->in);
    ptq_spectral_branch b = {li->out, li->in, (int)tc->shape[1], NULL, NULL};
    b.k = ptq_calloc(li->out, sizeof(int), R->err);
    b.coef = ptq_calloc((size_t)li->out * b.kmax * 2, sizeof(float), R->err);
    int rc = !b.k || !b.coef ? -1 : 0;
    const int32_t *kk = (const int32_t *)tk->data;
    for (int o = 0; o < li->out && !rc; o++)
        if ((b.k[o] = kk[o]) < 0 || kk[o] > b.kmax)
            rc = ptq_fail(R->err, "%s: tensor '%s.side_k': row %d keeps %d bins, outside 0..%d", R->path, base, o, kk[o],
                          b.kmax);
    for (size_t i = 0; !rc && i < (size_t)li->out * b.kmax * 2; i++)
        b.coef[i] =
            tc->dtype[1] == '1' ? ptq_f16_to_f32(((const uint16_t *)tc->data)[i]) : ((const float *)tc->data)[i];
    if (!rc) rc = qw ? ptq_qweight_set_lowfreq(qw, &b, R->err) : ptq_spectral_branch_dense(&b, li->w_side, R->err);
    ptq_spectral_branch_free(&b);
    return rc;
}

static int load_linear(ireader *R, const char *base, ptq_linear *li) {
    char nm[112];
    ptq_qweight *qw = NULL;
    snprintf(nm, sizeof nm, "%s.weight", base);
    itensor *t = find_t(R, nm);
    int rc = 0;
    if (li->owns_w) {
        if (t && !strcmp(t->kind, "packed"))
            rc = !need(R, nm, "packed", NULL, li->out, li->in, 0, 1) || load_packed(R, base, t, li, &qw);
        else rc = load_matrix(R, nm, "weight", &li->w, &li->w16, li->out, li->in);
    }
    if (!rc && li->bias) {
        snprintf(nm, sizeof nm, "%s.bias", base);
        rc = copy_f32(R, nm, "bias", li->bias, li->out, 0);
    }
    if (!rc) rc = load_side(R, base, li, qw);
    if (rc || !qw) return ptq_qweight_free(qw), rc ? -1 : 0;
    ptq_qweight_count_side(qw);
    if (ptq_linear_set_qweight(li, qw, R->err)) return -1; /* w = the dequantized codes */
    if (R->compact) free(li->w), li->w = NULL; /* one linear's fp32 at a time */
    return R->compact ? ptq_qweight_compact(qw, R->err) : 0;
}

/* Parse "layers.<l>.<lin>.in", "lm_head.in", "layers.<l>.qk", "layers.<l>.resid<k>". */
static ptq_online_op *site_op(ptq_model *m, const char *s, int *n) {
    int l, end = 0, k;
    char lin[32];
    const ptq_config *c = &m->cfg;
    if (!strcmp(s, "lm_head.in")) return *n = m->lm_head.in, &m->lm_head.in_op;
    if (sscanf(s, "layers.%d.%31[a-z_].in%n", &l, lin, &end) == 2 && end && !s[end] && l >= 0 && l < c->n_layers)
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            if (!strcmp(lin, ptq_linear_names[j])) return *n = m->layers[l].lin[j].in, &m->layers[l].lin[j].in_op;
    end = 0;
    if (sscanf(s, "layers.%d.qk%n", &l, &end) == 1 && end && !s[end] && l >= 0 && l < c->n_layers)
        return *n = c->head_dim, &m->layers[l].qk_op;
    end = 0;
    if (sscanf(s, "layers.%d.resid%d%n", &l, &k, &end) == 2 && end && !s[end] && l >= 0 && l < c->n_layers && k >= 0 &&
        k < 2)
        return *n = c->dim, &m->layers[l].resid_op[k];
    return NULL;
}

/* random_orthogonal's "seed" (decimal string) and "sha256" (64 hex). */
static int parse_seed(const cJSON *e, ptq_op_desc *d) {
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(e, "seed"), *sh = cJSON_GetObjectItemCaseSensitive(e, "sha256");
    if (!cJSON_IsString(sd) || !cJSON_IsString(sh) || strlen(sh->valuestring) != 64 || !sd->valuestring[0] ||
        strspn(sd->valuestring, "0123456789") != strlen(sd->valuestring) ||
        strspn(sh->valuestring, "0123456789abcdef") != 64)
        return -1;
    errno = 0;
    d->seed = strtoull(sd->valuestring, NULL, 10);
    memcpy(d->sha256, sh->valuestring, 65);
    return errno ? -1 : 0;
}

/* Ops entries: each built from its kind through online_ops.h's constructors;
 * entries naming one "data" share one op. */
static int load_ops(ireader *R, ptq_model *m, const cJSON *ops, uint32_t version) {
    int nops = cJSON_GetArraySize(ops), k = 0;
    ptq_online_op **built = nops ? ptq_calloc(nops, sizeof *built, R->err) : NULL;
    if (nops && !built) return -1;
    const cJSON *e;
    int rc = 0;
    cJSON_ArrayForEach(e, ops) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "site"), *kd = cJSON_GetObjectItemCaseSensitive(e, "kind"),
                    *dt = cJSON_GetObjectItemCaseSensitive(e, "data"), *p = cJSON_GetObjectItemCaseSensitive(e, "p");
        double n;
        int want = 0, kind;
        ptq_online_op *op = cJSON_IsString(st) ? site_op(m, st->valuestring, &want) : NULL;
        if (!op || !cJSON_IsString(kd) || jnum(e, "n", 1, 1 << 20, &n)) {
            rc = ptq_fail(R->err, "%s: malformed ops entry (site, kind, n)", R->path);
            break;
        }
        const char *where = st->valuestring;
        if ((kind = ptq_op_kind_parse(kd->valuestring)) < 0 || ptq_op_kind_version(kind) > (int)version) {
            char have[256] = "";
            for (int k = 1; k < PTQ_OP_KINDS; k++)
                if (ptq_op_kind_version(k) <= (int)version)
                    snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", k > 1 ? ", " : "",
                             ptq_op_kind_name(k));
            rc = ptq_fail(R->err,
                          "%s: op at %s needs kernel '%s', which this build does not have for format version %u "
                          "(ops it has: %s)",
                          R->path, where, kd->valuestring, version, have);
            break;
        }
        if ((int)n != want) {
            rc = ptq_fail(R->err, "%s: op at %s acts on rows of %.0f, the site has %d", R->path, where, n, want);
            break;
        }
        if (op->kind != PTQ_OP_IDENTITY) {
            rc = ptq_fail(R->err, "%s: two ops at %s", R->path, where);
            break;
        }
        ptq_op_desc d;
        memset(&d, 0, sizeof d);
        d.kind = kind, d.n = (int)n;
        for (int i = 0; i < 2 && cJSON_IsArray(p); i++) {
            const cJSON *x = cJSON_GetArrayItem(p, i);
            d.p[i] = cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= 1 << 20 ? (int)x->valuedouble : -1;
        }
        if (kind == PTQ_OP_RANDOM_ORTHOGONAL && parse_seed(e, &d)) {
            rc = ptq_fail(R->err, "%s: op at %s needs \"seed\" (decimal string) and \"sha256\" (64 hex)", R->path, where);
            break;
        }
        const ptq_online_op *shared = NULL;
        for (int j = 0; cJSON_IsString(dt) && j < k && !shared; j++) {
            const cJSON *dj = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ops, j), "data");
            if (cJSON_IsString(dj) && !strcmp(dj->valuestring, dt->valuestring)) shared = built[j];
        }
        if (shared) { /* the op of an earlier entry: same kind and row length */
            if ((int)shared->kind != kind || shared->n != d.n) {
                rc = ptq_fail(R->err, "%s: op at %s shares data '%s' with an op of another kind or size", R->path,
                              where, dt->valuestring);
                break;
            }
            ptq_online_op_share(op, shared);
            built[k++] = op;
            continue;
        }
        if (cJSON_IsString(dt)) { /* tensors "<data>.<name>" of kind method */
            size_t pl = strlen(dt->valuestring);
            for (int i = 0; i < R->n && !rc; i++) {
                itensor *t = &R->t[i];
                if (strncmp(t->name, dt->valuestring, pl) || t->name[pl] != '.' || strcmp(t->kind, "method")) continue;
                if (d.ntensor == PTQ_OP_MAXTENSOR || strlen(t->name + pl + 1) >= sizeof d.t[0].name || t->ndim > 2 ||
                    (strcmp(t->dtype, "f32") && strcmp(t->dtype, "i32"))) {
                    rc = ptq_fail(R->err, "%s: op data '%s': too many tensors or bad tensor '%s'", R->path,
                                  dt->valuestring, t->name);
                    break;
                }
                ptq_op_tensor *b = &d.t[d.ntensor++];
                snprintf(b->name, sizeof b->name, "%s", t->name + pl + 1);
                b->is_i32 = t->dtype[0] == 'i', b->data = t->data, b->ndim = t->ndim;
                b->shape[0] = t->shape[0], b->shape[1] = t->ndim > 1 ? t->shape[1] : 1;
                t->used = 1;
            }
            if (rc) break;
        }
        if (ptq_online_op_from_desc(&d, op, R->err)) {
            rc = ptq_wrap(R->err, "%s: op at %s", R->path, where);
            break;
        }
        built[k++] = op;
    }
    free(built);
    return rc;
}

static int load_hooks(ireader *R, ptq_model *m, const cJSON *h) {
    const cJSON *e;
    int L = m->cfg.n_layers;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(h, "hooks")) {
        double l;
        const cJSON *ln = cJSON_GetObjectItemCaseSensitive(e, "linear");
        int j = -1;
        for (int k = 0; cJSON_IsString(ln) && k < PTQ_LIN_COUNT; k++)
            if (!strcmp(ln->valuestring, ptq_linear_names[k])) j = k;
        if (cJSON_IsString(ln) && !strcmp(ln->valuestring, "lm_head")) j = 0;
        ptq_linear *li = jnum(e, "layer", 0, L, &l) || j < 0 ? NULL : ptq_model_linear(m, (int)l, j);
        if (!li || parse_aq(cJSON_GetObjectItemCaseSensitive(e, "aq"), &li->aq))
            return ptq_fail(R->err, "%s: malformed hooks entry", R->path);
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(h, "kv")) {
        double l;
        if (jnum(e, "layer", 0, L - 1, &l) || parse_aq(cJSON_GetObjectItemCaseSensitive(e, "kq"), &m->layers[(int)l].kq) ||
            parse_aq(cJSON_GetObjectItemCaseSensitive(e, "vq"), &m->layers[(int)l].vq))
            return ptq_fail(R->err, "%s: malformed kv entry", R->path);
    }
    return 0;
}

static int load_tensors(ireader *R, ptq_model *m) {
    const ptq_config *c = &m->cfg;
    char nm[112];
    if (find_t(R, "lm_head.weight") && !m->lm_head.owns_w && ptq_model_untie(m, R->err)) return -1;
    if (load_matrix(R, "tok_emb", "embedding", &m->tok_emb, &m->emb16, c->vocab_size, c->dim) ||
        copy_f32(R, "rms_final", "norm", m->rms_final, c->dim, 0))
        return -1;
    if (!m->lm_head.owns_w) m->lm_head.w = m->tok_emb, m->lm_head.w16 = m->emb16; /* tied */
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        snprintf(nm, sizeof nm, "layers.%d.rms_att", l);
        if (copy_f32(R, nm, "norm", L->rms_att, c->dim, 0)) return -1;
        snprintf(nm, sizeof nm, "layers.%d.rms_ffn", l);
        if (copy_f32(R, nm, "norm", L->rms_ffn, c->dim, 0)) return -1;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            snprintf(nm, sizeof nm, "layers.%d.%s", l, ptq_linear_names[j]);
            if (load_linear(R, nm, &L->lin[j])) return -1;
        }
    }
    return load_linear(R, "lm_head", &m->lm_head);
}

/* Version 4: the payload at 128, the JSON after it, the file ends there;
 * sha256 of payload + JSON + fixed[0..32). */
static int check_fixed4(const char *path, const unsigned char *map, size_t size, uint64_t jl, uint64_t pl,
                        size_t *joff, ptq_err *err) {
    if (!jl) return ptq_fail(err, "%s: unfinished export (no header: the writer stopped before the end)", path);
    if (size < 128 || pl > size - 128 || jl != size - 128 - pl)
        return ptq_fail(err, "%s: payload %llu + header %llu bytes do not fill the file's %zu (truncated?)", path,
                        (unsigned long long)pl, (unsigned long long)jl, size);
    for (int i = FIXED; i < 128; i++)
        if (map[i]) return ptq_fail(err, "%s: non-zero bytes after the fixed fields", path);
    *joff = 128 + (size_t)pl;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char dg[32];
    unsigned int dl = 0;
    char want[65], got[65];
    if (!md) return ptq_fail(err, "out of memory");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, map + 128, size - 128);
    EVP_DigestUpdate(md, map, 32);
    EVP_DigestFinal_ex(md, dg, &dl);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 32; i++) snprintf(got + 2 * i, 3, "%02x", dg[i]);
    memcpy(want, map + 32, 64);
    want[64] = 0;
    if (strcmp(want, got))
        return ptq_fail(err, "%s: sha256 %s does not match the header's %.64s (header or payload corrupted)", path, got,
                        want);
    return 0;
}

static int check_fixed(const char *path, const unsigned char *map, size_t size, uint32_t *ver, uint64_t *jl,
                       size_t *poff, size_t *joff, ptq_err *err) {
    uint32_t flags;
    uint64_t pl;
    if (size < FIXED || memcmp(map, PTQ_FILE_MAGIC, 8))
        return ptq_fail(err, "%s: not a ptqbench file (bad magic or shorter than %d bytes)", path, FIXED);
    memcpy(ver, map + 8, 4), memcpy(&flags, map + 12, 4), memcpy(jl, map + 16, 8), memcpy(&pl, map + 24, 8);
    if (*ver < 1 || *ver > PTQ_FILE_VERSION || flags)
        return ptq_fail(err, "%s: format version %u flags %u, this build reads versions 1..%d with flags 0", path, *ver,
                        flags, PTQ_FILE_VERSION);
    *poff = 128, *joff = FIXED;
    if (*ver >= 4) return check_fixed4(path, map, size, *jl, pl, joff, err);
    if (*jl > size - FIXED) return ptq_fail(err, "%s: header length %llu beyond the file (truncated?)", path, (unsigned long long)*jl);
    *poff = (FIXED + (size_t)*jl + ALIGN - 1) / ALIGN * ALIGN;
    if (*poff > size || pl != size - *poff)
        return ptq_fail(err, "%s: payload length %llu does not match the file size %zu (truncated?)", path,
                        (unsigned long long)pl, size);
    for (size_t i = FIXED + (size_t)*jl; i < *poff; i++)
        if (map[i]) return ptq_fail(err, "%s: non-zero padding after the JSON header", path);
    char want[65], got[65];
    memcpy(want, map + 32, 64);
    want[64] = 0;
    if (*ver >= 2) { /* sha256 of fixed[0..32) + JSON + payload */
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char dg[32];
        unsigned int dl = 0;
        if (!md) return ptq_fail(err, "out of memory");
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, map, 32);
        EVP_DigestUpdate(md, map + FIXED, (size_t)*jl);
        EVP_DigestUpdate(md, map + *poff, size - *poff);
        EVP_DigestFinal_ex(md, dg, &dl);
        EVP_MD_CTX_free(md);
        for (int i = 0; i < 32; i++) snprintf(got + 2 * i, 3, "%02x", dg[i]);
    } else
        ptq_sha256_buf(map + *poff, size - *poff, got);
    if (strcmp(want, got))
        return ptq_fail(err, "%s: sha256 %s does not match the header's %.64s (%s corrupted)", path, got, want,
                        *ver >= 2 ? "header or payload" : "payload");
    return 0;
}

static int load_body(const char *path, const unsigned char *map, size_t size, ptq_model *m, cJSON **meta,
                     int compact, ptq_err *err) {
    uint32_t ver = 0;
    uint64_t jl = 0;
    size_t poff = 0, joff = 0;
    if (check_fixed(path, map, size, &ver, &jl, &poff, &joff, err)) return -1;
    size_t pl = ver >= 4 ? joff - poff : size - poff;
    cJSON *h = cJSON_ParseWithLength((const char *)map + joff, (size_t)jl);
    ireader R = {path, NULL, 0, err, compact};
    ptq_config c;
    int rc = -1;
    if (!cJSON_IsObject(h)) {
        ptq_fail(err, "%s: malformed JSON header", path);
        goto out;
    }
    double hv;
    if (jnum(h, "version", ver, ver, &hv)) {
        ptq_fail(err, "%s: header JSON version does not match the file version %u", path, ver);
        goto out;
    }
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(h, "tensors");
    if (!cJSON_IsArray(ts)) {
        ptq_fail(err, "%s: header has no tensors array", path);
        goto out;
    }
    int nt = cJSON_GetArraySize(ts), k = 0;
    if (!(R.t = ptq_calloc(nt + 1, sizeof *R.t, err))) goto out;
    const cJSON *e;
    cJSON_ArrayForEach(e, ts) {
        if (parse_tensor(&R, e, map + poff, pl, &R.t[k])) goto out;
        for (int i = 0; i < k; i++)
            if (!strcmp(R.t[i].name, R.t[k].name)) {
                ptq_fail(err, "%s: tensor '%s' appears twice", path, R.t[k].name);
                goto out;
            }
        R.n = ++k;
    }
    if (parse_config(cJSON_GetObjectItemCaseSensitive(h, "config"), &c, path, err) || ptq_model_alloc(m, &c, err)) goto out;
    if (load_tensors(&R, m) || load_ops(&R, m, cJSON_GetObjectItemCaseSensitive(h, "ops"), ver) || load_hooks(&R, m, h))
        goto fail;
    for (int i = 0; i < R.n; i++)
        if (!R.t[i].used) {
            ptq_fail(err, "%s: tensor '%s' (kind %s) does not belong to this config", path, R.t[i].name, R.t[i].kind);
            goto fail;
        }
    if (meta) *meta = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(h, "meta"), 1);
    snprintf(m->path, sizeof m->path, "%s", path);
    memcpy(m->sha256, map + 32, 64);
    m->sha256[64] = 0;
    rc = 0;
    goto out;
fail:
    ptq_model_free(m);
out:
    free(R.t);
    cJSON_Delete(h);
    return rc;
}

int ptq_file_load(const char *path, ptq_model *m, cJSON **meta, ptq_err *err) {
    return ptq_file_load_ex(path, m, meta, 0, err);
}

int ptq_file_load_ex(const char *path, ptq_model *m, cJSON **meta, int compact, ptq_err *err) {
    memset(m, 0, sizeof *m);
    if (meta) *meta = NULL;
    int fd = ptq_open_regular(path, err);
    struct stat st;
    if (fd < 0) return -1;
    if (fstat(fd, &st)) {
        close(fd);
        return ptq_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (st.st_size < FIXED) {
        close(fd);
        return ptq_fail(err, "%s: not a ptqbench file (shorter than %d bytes)", path, FIXED);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ptq_fail(err, "%s: mmap failed: %s", path, strerror(errno));
    int rc = load_body(path, map, (size_t)st.st_size, m, meta, compact, err);
    munmap(map, (size_t)st.st_size);
    return rc;
}
