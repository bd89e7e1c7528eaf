/* ptqfile.c — see ptqfile.h for the format. The payload hash goes through
 * OpenSSL's EVP SHA-256 incrementally so saving never builds the payload in
 * memory; loading maps the file read-only. */
#include "ptqfile.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXED 96
#define ALIGN 64

/* One tensor of the model: its name, kind, buffer and element count. */
typedef struct {
    char name[96];
    const char *kind;
    float *data;
    size_t n;
    int ndim;
    long long shape[2];
} slot;

/* Enumerate the model's tensors (what is present: biases, sides, untied lm_head). */
static int list_slots(const ptq_model *m, slot *s, int cap) {
    const ptq_config *c = &m->cfg;
    int n = 0;
#define ADD(nm, kd, ptr, nd, d0, d1)                                                                                   \
    do {                                                                                                               \
        if (n < cap) {                                                                                                 \
            snprintf(s[n].name, sizeof s[n].name, "%s", nm);                                                           \
            s[n].kind = kd, s[n].data = ptr, s[n].ndim = nd, s[n].shape[0] = d0, s[n].shape[1] = d1;                   \
            s[n].n = (size_t)(d0) * (nd > 1 ? (size_t)(d1) : 1);                                                       \
        }                                                                                                              \
        n++;                                                                                                           \
    } while (0)
    ADD("tok_emb", "embedding", m->tok_emb, 2, c->vocab_size, c->dim);
    ADD("rms_final", "norm", m->rms_final, 1, c->dim, 0);
    if (m->lm_head.owns_w) ADD("lm_head.weight", "weight", m->lm_head.w, 2, c->vocab_size, c->dim);
    if (m->lm_head.w_side) ADD("lm_head.side", "side", m->lm_head.w_side, 2, c->vocab_size, c->dim);
    char nm[96];
    for (int l = 0; l < c->n_layers; l++) {
        const ptq_layer *L = &m->layers[l];
        snprintf(nm, sizeof nm, "layers.%d.rms_att", l);
        ADD(nm, "norm", L->rms_att, 1, c->dim, 0);
        snprintf(nm, sizeof nm, "layers.%d.rms_ffn", l);
        ADD(nm, "norm", L->rms_ffn, 1, c->dim, 0);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_linear *li = &L->lin[j];
            snprintf(nm, sizeof nm, "layers.%d.%s.weight", l, ptq_linear_names[j]);
            ADD(nm, "weight", li->w, 2, li->out, li->in);
            if (li->bias) {
                snprintf(nm, sizeof nm, "layers.%d.%s.bias", l, ptq_linear_names[j]);
                ADD(nm, "bias", li->bias, 1, li->out, 0);
            }
            if (li->w_side) {
                snprintf(nm, sizeof nm, "layers.%d.%s.side", l, ptq_linear_names[j]);
                ADD(nm, "side", li->w_side, 2, li->out, li->in);
            }
        }
    }
#undef ADD
    return n;
}

static const char *online_op_name(const ptq_model *m) {
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        for (int j = 0; j < (l < m->cfg.n_layers ? PTQ_LIN_COUNT : 1); j++) {
            const ptq_linear *li = l < m->cfg.n_layers ? &m->layers[l].lin[j] : &m->lm_head;
            if (li->in_op.fn) return li->in_op.name ? li->in_op.name : "input transform";
        }
        if (l == m->cfg.n_layers) break;
        const ptq_layer *L = &m->layers[l];
        if (L->qk_op.fn) return L->qk_op.name ? L->qk_op.name : "q/k transform";
        for (int k = 0; k < 2; k++)
            if (L->resid_op[k].fn) return L->resid_op[k].name ? L->resid_op[k].name : "residual transform";
    }
    return NULL;
}

static cJSON *qspec_json(const ptq_act_qspec *q) {
    double v[4] = {q->bits, q->sym, q->clip, q->group};
    return cJSON_CreateDoubleArray(v, 4);
}

static cJSON *config_json(const ptq_config *c) {
    cJSON *j = cJSON_CreateObject();
#define I(f) cJSON_AddNumberToObject(j, #f, c->f)
    I(dim), I(hidden_dim), I(n_layers), I(n_heads), I(n_kv_heads), I(vocab_size), I(max_seq), I(head_dim);
    I(rope_theta), I(norm_eps), I(tied_embeddings), I(rope_style), I(attn_bias), I(bos_id), I(eos_id);
    I(rope_factor), I(rope_low_freq_factor), I(rope_high_freq_factor), I(rope_orig_max_pos);
#undef I
    return j;
}

static int put(FILE *f, const void *p, size_t n, EVP_MD_CTX *md) {
    if (md) EVP_DigestUpdate(md, p, n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

int ptq_file_save(const char *path, const ptq_model *m, const cJSON *meta, ptq_err *err) {
    const char *op = online_op_name(m);
    if (op)
        return ptq_fail(err,
                        "%s: the model has an online transform ('%s') installed; format version %d stores "
                        "weights and quantizer specs only, so it cannot be exported",
                        path, op, PTQ_FILE_VERSION);
    int n = list_slots(m, NULL, 0);
    slot *s = ptq_calloc(n, sizeof *s, err);
    if (!s) return -1;
    list_slots(m, s, n);
    cJSON *h = cJSON_CreateObject(), *ts = cJSON_CreateArray(), *hooks = cJSON_CreateArray(), *kv = cJSON_CreateArray();
    cJSON_AddStringToObject(h, "format", "ptqbench");
    cJSON_AddNumberToObject(h, "version", PTQ_FILE_VERSION);
    cJSON_AddItemToObject(h, "config", config_json(&m->cfg));
    cJSON_AddItemToObject(h, "meta", meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject());
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", s[i].name);
        cJSON_AddStringToObject(e, "kind", s[i].kind);
        cJSON_AddStringToObject(e, "dtype", "f32");
        double sh[2] = {(double)s[i].shape[0], (double)s[i].shape[1]};
        cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(sh, s[i].ndim));
        cJSON_AddNumberToObject(e, "offset", (double)off);
        cJSON_AddNumberToObject(e, "bytes", (double)(s[i].n * 4));
        cJSON_AddItemToArray(ts, e);
        off += (s[i].n * 4 + ALIGN - 1) / ALIGN * ALIGN;
    }
    size_t payload = off;
    for (int l = 0; l <= m->cfg.n_layers; l++)
        for (int j = 0; j < (l < m->cfg.n_layers ? PTQ_LIN_COUNT : 1); j++) {
            const ptq_linear *li = l < m->cfg.n_layers ? &m->layers[l].lin[j] : &m->lm_head;
            if (li->aq.bits >= 16) continue;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "layer", l);
            cJSON_AddStringToObject(e, "linear", l < m->cfg.n_layers ? ptq_linear_names[j] : "lm_head");
            cJSON_AddItemToObject(e, "aq", qspec_json(&li->aq));
            cJSON_AddItemToArray(hooks, e);
        }
    for (int l = 0; l < m->cfg.n_layers; l++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "layer", l);
        cJSON_AddItemToObject(e, "kq", qspec_json(&m->layers[l].kq));
        cJSON_AddItemToObject(e, "vq", qspec_json(&m->layers[l].vq));
        cJSON_AddItemToArray(kv, e);
    }
    cJSON_AddItemToObject(h, "tensors", ts);
    cJSON_AddItemToObject(h, "hooks", hooks);
    cJSON_AddItemToObject(h, "kv", kv);
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = js ? fopen(tmp, "wb") : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = 0;
    if (!js || !md)
        rc = ptq_fail(err, "out of memory");
    else if (!f)
        rc = ptq_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    else {
        unsigned char fixed[FIXED] = {0}, zeros[ALIGN] = {0}, dg[32];
        uint32_t ver = PTQ_FILE_VERSION;
        uint64_t jl = strlen(js), pl = payload;
        memcpy(fixed, PTQ_FILE_MAGIC, 8);
        memcpy(fixed + 8, &ver, 4);
        memcpy(fixed + 16, &jl, 8);
        memcpy(fixed + 24, &pl, 8);
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        size_t jpad = (FIXED + jl + ALIGN - 1) / ALIGN * ALIGN - FIXED - jl;
        rc = put(f, fixed, FIXED, NULL) || put(f, js, jl, NULL) || put(f, zeros, jpad, NULL);
        for (int i = 0; i < n && !rc; i++) {
            size_t b = s[i].n * 4, pad = (b + ALIGN - 1) / ALIGN * ALIGN - b;
            rc = put(f, s[i].data, b, md) || put(f, zeros, pad, md);
        }
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, dg, &dl);
        char hex[65];
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", dg[i]);
        if (!rc) rc = fseek(f, 32, SEEK_SET) || put(f, hex, 64, NULL);
        if (!rc) rc = fflush(f) || fsync(fileno(f));
        if (fclose(f)) rc = -1;
        if (rc)
            rc = ptq_fail(err, "%s: write failed: %s", tmp, strerror(errno));
        else if (rename(tmp, path))
            rc = ptq_fail(err, "%s: rename failed: %s", path, strerror(errno));
        if (rc) unlink(tmp);
    }
    EVP_MD_CTX_free(md);
    free(js);
    free(s);
    return rc;
}

int ptq_file_detect(const char *path) {
    char b[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fread(b, 1, 8, f) == 8 && !memcmp(b, PTQ_FILE_MAGIC, 8);
    fclose(f);
    return ok;
}

/* ---- load ---- */
static int jint(const cJSON *o, const char *k, double lo, double hi, double *out) {
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
        if (jint(j, #f, lo, hi, &v))                                                                                   \
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

static int load_body(const char *path, const unsigned char *map, size_t size, ptq_model *m, cJSON **meta,
                     ptq_err *err) {
    uint32_t ver, flags;
    uint64_t jl, pl;
    if (size < FIXED || memcmp(map, PTQ_FILE_MAGIC, 8))
        return ptq_fail(err, "%s: not a ptqbench file (bad magic or shorter than %d bytes)", path, FIXED);
    memcpy(&ver, map + 8, 4), memcpy(&flags, map + 12, 4), memcpy(&jl, map + 16, 8), memcpy(&pl, map + 24, 8);
    if (ver != PTQ_FILE_VERSION || flags)
        return ptq_fail(err, "%s: format version %u flags %u, this build reads version %d flags 0", path, ver, flags,
                        PTQ_FILE_VERSION);
    if (jl > size - FIXED) return ptq_fail(err, "%s: header length %llu beyond the file", path, (unsigned long long)jl);
    size_t poff = (FIXED + (size_t)jl + ALIGN - 1) / ALIGN * ALIGN;
    if (poff > size || pl != size - poff)
        return ptq_fail(err, "%s: payload length %llu does not match the file size %zu (truncated?)", path,
                        (unsigned long long)pl, size);
    char want[65], got[65];
    memcpy(want, map + 32, 64);
    want[64] = 0;
    ptq_sha256_buf(map + poff, (size_t)pl, got);
    if (strcmp(want, got))
        return ptq_fail(err, "%s: payload sha256 %s does not match the header's %.64s", path, got, want);
    cJSON *h = cJSON_ParseWithLength((const char *)map + FIXED, (size_t)jl);
    ptq_config c;
    int rc = -1;
    if (!cJSON_IsObject(h)) {
        ptq_fail(err, "%s: malformed JSON header", path);
        goto out;
    }
    if (parse_config(cJSON_GetObjectItemCaseSensitive(h, "config"), &c, path, err) || ptq_model_alloc(m, &c, err))
        goto out;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(h, "tensors"), *e;
    cJSON_ArrayForEach(e, ts) { /* side branches exist only where the file has them */
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        char lin[32];
        int l = -1, k = -1, end = 0;
        if (!cJSON_IsString(nm)) continue;
        if (!strcmp(nm->valuestring, "lm_head.side"))
            l = c.n_layers, k = 0;
        else if (sscanf(nm->valuestring, "layers.%d.%31[a-z_].side%n", &l, lin, &end) == 2 && end > 0 &&
                 !nm->valuestring[end] && l >= 0 && l < c.n_layers)
            for (int j = 0; j < PTQ_LIN_COUNT; j++)
                if (!strcmp(lin, ptq_linear_names[j])) k = j;
        ptq_linear *li = k >= 0 ? ptq_model_linear(m, l, k) : NULL;
        if (li && !li->w_side && !(li->w_side = ptq_calloc((size_t)li->out * li->in, sizeof(float), err))) goto fail;
    }
    int n = list_slots(m, NULL, 0);
    slot *s = ptq_calloc(n + 1, sizeof *s, err);
    char *seen = ptq_calloc(n + 1, 1, err);
    if (!s || !seen) {
        free(s), free(seen);
        goto fail;
    }
    list_slots(m, s, n);
    rc = 0;
    cJSON_ArrayForEach(e, ts) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name"),
                    *kd = cJSON_GetObjectItemCaseSensitive(e, "kind"),
                    *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        double off, bytes;
        if (!cJSON_IsString(nm) || !cJSON_IsString(kd) || !cJSON_IsString(dt) || jint(e, "offset", 0, 1e18, &off) ||
            jint(e, "bytes", 0, 1e18, &bytes)) {
            rc = ptq_fail(err, "%s: tensor entry needs name, kind, dtype, offset, bytes", path);
            break;
        }
        if (strcmp(dt->valuestring, "f32")) {
            rc = ptq_fail(err, "%s: tensor '%s' has dtype '%s' which this build cannot read (only f32)", path,
                          nm->valuestring, dt->valuestring);
            break;
        }
        int k = 0;
        while (k < n && strcmp(s[k].name, nm->valuestring))
            k++;
        if (k == n || strcmp(s[k].kind, kd->valuestring)) {
            rc = ptq_fail(err, "%s: tensor '%s' (kind %s) does not belong to this config", path, nm->valuestring,
                          kd->valuestring);
            break;
        }
        if ((size_t)bytes != s[k].n * 4 || (size_t)off > pl || (size_t)bytes > pl - (size_t)off) {
            rc = ptq_fail(err, "%s: tensor '%s': %.0f bytes at %.0f, expected %zu bytes inside the payload", path,
                          nm->valuestring, bytes, off, s[k].n * 4);
            break;
        }
        memcpy(s[k].data, map + poff + (size_t)off, s[k].n * 4);
        seen[k] = 1;
    }
    for (int k = 0; k < n && !rc; k++)
        if (!seen[k]) rc = ptq_fail(err, "%s: tensor '%s' is missing", path, s[k].name);
    free(s), free(seen);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(h, "hooks")) {
        double l;
        const cJSON *ln = cJSON_GetObjectItemCaseSensitive(e, "linear");
        int j = -1;
        for (int k = 0; cJSON_IsString(ln) && k < PTQ_LIN_COUNT; k++)
            if (!strcmp(ln->valuestring, ptq_linear_names[k])) j = k;
        if (cJSON_IsString(ln) && !strcmp(ln->valuestring, "lm_head")) j = 0;
        ptq_linear *li = rc || jint(e, "layer", 0, c.n_layers, &l) || j < 0 ? NULL : ptq_model_linear(m, (int)l, j);
        if (!rc && (!li || parse_aq(cJSON_GetObjectItemCaseSensitive(e, "aq"), &li->aq)))
            rc = ptq_fail(err, "%s: malformed hooks entry", path);
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(h, "kv")) {
        double l;
        if (!rc && (jint(e, "layer", 0, c.n_layers - 1, &l) ||
                    parse_aq(cJSON_GetObjectItemCaseSensitive(e, "kq"), &m->layers[(int)l].kq) ||
                    parse_aq(cJSON_GetObjectItemCaseSensitive(e, "vq"), &m->layers[(int)l].vq)))
            rc = ptq_fail(err, "%s: malformed kv entry", path);
    }
    if (rc) goto fail;
    if (meta) *meta = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(h, "meta"), 1);
    snprintf(m->path, sizeof m->path, "%s", path);
    snprintf(m->sha256, sizeof m->sha256, "%s", got);
    goto out;
fail:
    ptq_model_free(m);
    rc = -1;
out:
    cJSON_Delete(h);
    return rc;
}

int ptq_file_load(const char *path, ptq_model *m, cJSON **meta, ptq_err *err) {
    memset(m, 0, sizeof *m);
    if (meta) *meta = NULL;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0) close(fd);
        return ptq_fail(err, "%s: cannot open: %s", path, strerror(errno));
    }
    if (st.st_size < FIXED) {
        close(fd);
        return ptq_fail(err, "%s: not a ptqbench file (shorter than %d bytes)", path, FIXED);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ptq_fail(err, "%s: mmap failed: %s", path, strerror(errno));
    int rc = load_body(path, map, (size_t)st.st_size, m, meta, err);
    munmap(map, (size_t)st.st_size);
    return rc;
}
