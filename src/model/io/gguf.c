/* gguf.c — GGUF reader and LLaMA-family loader (see gguf.h).
 *
 * RoPE layout: llama.cpp's converter reorders the q/k rows of each head of a
 * "llama" model into adjacent pairs (2i, 2i+1), the layout llama2.c and
 * Meta's checkpoints use, so such a model gets PTQ_ROPE_INTERLEAVED and its
 * weights are used as stored. "qwen2" files keep HF's rotate-half rows
 * (llama.cpp runs them with NEOX RoPE): PTQ_ROPE_HALF. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"


enum { MAX_DIMS = 4, MAX_NAME = 256, MAX_KEY = 65536 };

/* ---- ggml types ---- */
typedef struct {
    const char *name;
    int blck, bytes;
} gtype;

/* Numbered as in ggml.h; gaps are types removed from the format. */
static const gtype gtypes[PTQ_GGUF_NGTYPES] = {
    [0] = {"F32", 1, 4},
    [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},
    [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},
    [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},
    [12] = {"Q4_K", 256, 144},
    [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},
    [15] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98},
    [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},
    [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},
    [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},
    [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},
    [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},
    [39] = {"MXFP4", 32, 17},
};

const char *ptq_ggml_type_name(int type) {
    return type >= 0 && type < PTQ_GGUF_NGTYPES && gtypes[type].name ? gtypes[type].name : "?";
}
int ptq_ggml_type_block(int type, int *blck, int *bytes) {
    if (type < 0 || type >= PTQ_GGUF_NGTYPES || !gtypes[type].name) return 0;
    *blck = gtypes[type].blck, *bytes = gtypes[type].bytes;
    return 1;
}
int ptq_ggml_type_readable(int type) {
    const ptq_ggml_type_info *ti = ptq_ggml_type_info_of(type);
    return ti && ti->dequant;
}

/* ---- container ---- */
static const int vsize[PTQ_GGUF_NVTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const vname[PTQ_GGUF_NVTYPES] = {"u8", "i8",  "u16", "i16", "u32", "i32", "f32",
                                                    "bool", "string", "array", "u64", "i64", "f64"};

typedef struct {
    const unsigned char *p;
    size_t n, off;
    const char *path;
    ptq_err *err;
} cursor;

static int take(cursor *c, size_t k, const unsigned char **at, const char *what) {
    *at = c->p;
    if (k > c->n - c->off)
        return ptq_fail(c->err, "%s: truncated: %s needs %zu bytes at offset %zu, the file has %zu", c->path, what, k,
                        c->off, c->n);
    *at = c->p + c->off;
    c->off += k;
    return 0;
}
static int rd_u32(cursor *c, uint32_t *v, const char *what) {
    const unsigned char *a;
    if (take(c, 4, &a, what)) return -1;
    memcpy(v, a, 4);
    return 0;
}
static int rd_u64(cursor *c, uint64_t *v, const char *what) {
    const unsigned char *a;
    if (take(c, 8, &a, what)) return -1;
    memcpy(v, a, 8);
    return 0;
}
/* A string: u64 length then bytes; *s points into the file. */
static int rd_str(cursor *c, const unsigned char **s, uint64_t *len, uint64_t max, const char *what) {
    if (rd_u64(c, len, what)) return -1;
    if (*len > max) return ptq_fail(c->err, "%s: %s: string length %llu exceeds %llu", c->path, what,
                                    (unsigned long long)*len, (unsigned long long)max);
    return take(c, (size_t)*len, s, what);
}
static char *dup_name(const unsigned char *s, uint64_t len, const char *path, const char *what, ptq_err *err) {
    if (memchr(s, 0, (size_t)len)) {
        ptq_fail(err, "%s: %s '%.*s' contains a NUL byte", path, what, (int)len, (const char *)s);
        return NULL;
    }
    char *r = ptq_calloc((size_t)len + 1, 1, err);
    if (r) memcpy(r, s, (size_t)len);
    return r;
}

static int parse_value(cursor *c, ptq_gguf_kv *kv) {
    char what[300];
    snprintf(what, sizeof what, "value of key '%.200s'", kv->key);
    uint32_t t;
    if (rd_u32(c, &t, what)) return -1;
    if (t >= PTQ_GGUF_NVTYPES)
        return ptq_fail(c->err, "%s: key '%s': unknown value type %u (expected 0..%d)", c->path, kv->key, t,
                        PTQ_GGUF_NVTYPES - 1);
    kv->type = (int)t;
    kv->raw = c->p + c->off;
    const unsigned char *a;
    if (t == PTQ_GGUF_STRING) return rd_str(c, &kv->data, &kv->n, c->n, what);
    if (t != PTQ_GGUF_ARRAY) {
        if (take(c, vsize[t], &kv->data, what)) return -1;
        if (t == PTQ_GGUF_BOOL && kv->data[0] > 1)
            return ptq_fail(c->err, "%s: key '%s': bool value %u is not 0 or 1", c->path, kv->key, kv->data[0]);
        return 0;
    }
    uint32_t et;
    if (rd_u32(c, &et, what) || rd_u64(c, &kv->n, what)) return -1;
    if (et >= PTQ_GGUF_NVTYPES || et == PTQ_GGUF_ARRAY)
        return ptq_fail(c->err, "%s: key '%s': array element type %u is not supported (expected a scalar or string)",
                        c->path, kv->key, et);
    kv->arr_type = (int)et;
    size_t left = c->n - c->off;
    kv->data = c->p + c->off;
    if (et != PTQ_GGUF_STRING) {
        if (kv->n > left / vsize[et])
            return ptq_fail(c->err, "%s: key '%s': array of %llu %s runs past the end of the file", c->path, kv->key,
                            (unsigned long long)kv->n, vname[et]);
        if (take(c, (size_t)kv->n * vsize[et], &a, what)) return -1;
        for (uint64_t i = 0; et == PTQ_GGUF_BOOL && i < kv->n; i++)
            if (a[i] > 1) return ptq_fail(c->err, "%s: key '%s': element %llu is not a bool", c->path, kv->key,
                                          (unsigned long long)i);
        return 0;
    }
    if (kv->n > left / 8)
        return ptq_fail(c->err, "%s: key '%s': array of %llu strings runs past the end of the file", c->path, kv->key,
                        (unsigned long long)kv->n);
    for (uint64_t i = 0; i < kv->n; i++) {
        uint64_t len;
        snprintf(what, sizeof what, "key '%.200s' element %llu", kv->key, (unsigned long long)i);
        if (rd_str(c, &a, &len, c->n, what)) return -1;
    }
    return 0;
}

static int cmp_off(const void *a, const void *b) {
    const ptq_gguf_tensor *x = *(ptq_gguf_tensor *const *)a, *y = *(ptq_gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int parse_tensor_info(cursor *c, ptq_gguf_tensor *t, int idx) {
    char what[64];
    snprintf(what, sizeof what, "tensor info %d", idx);
    const unsigned char *s;
    uint64_t len;
    uint32_t nd, ty;
    if (rd_str(c, &s, &len, MAX_NAME - 1, what) || !(t->name = dup_name(s, len, c->path, "tensor name", c->err)))
        return -1;
    const char *p = c->path, *nm = t->name;
    if (rd_u32(c, &nd, what)) return -1;
    if (nd < 1 || nd > MAX_DIMS)
        return ptq_fail(c->err, "%s: tensor '%s': %u dimensions (expected 1..%d)", p, nm, nd, MAX_DIMS);
    t->n_dims = (int)nd;
    long long numel = 1;
    for (int d = 0; d < MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (rd_u64(c, &v, what)) return -1;
        if (v < 1 || v > (1ULL << 40))
            return ptq_fail(c->err, "%s: tensor '%s': dimension %u is %llu (expected 1..2^40)", p, nm, d,
                            (unsigned long long)v);
        if (numel > (1LL << 50) / (long long)v)
            return ptq_fail(c->err, "%s: tensor '%s': too many elements (dimension %u = %llu)", p, nm, d,
                            (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        numel *= (long long)v;
    }
    if (rd_u32(c, &ty, what)) return -1;
    int blck, bytes;
    if (!ptq_ggml_type_block((int)ty, &blck, &bytes))
        return ptq_fail(c->err, "%s: tensor '%s': unknown ggml type %u", p, nm, ty);
    t->type = (int)ty;
    if (t->ne[0] % blck)
        return ptq_fail(c->err, "%s: tensor '%s': row length %lld is not a multiple of %s's block of %d", p, nm,
                        (long long)t->ne[0], gtypes[ty].name, blck);
    t->nbytes = (size_t)(numel / blck) * (size_t)bytes;
    return rd_u64(c, &t->offset, what);
}

static int parse(ptq_gguf *g, ptq_err *err) {
    cursor c = {g->map, g->size, 0, g->path, err};
    const unsigned char *magic;
    uint64_t nt, nkv;
    if (take(&c, 4, &magic, "magic")) return -1;
    if (memcmp(magic, "GGUF", 4)) return ptq_fail(err, "%s: not a GGUF file (magic is not \"GGUF\")", g->path);
    if (rd_u32(&c, &g->version, "version")) return -1;
    if (g->version == 0x03000000u || g->version == 0x02000000u)
        return ptq_fail(err, "%s: big-endian GGUF is not supported", g->path);
    if (g->version != 2 && g->version != 3)
        return ptq_fail(err, "%s: GGUF version %u is not supported (expected 2 or 3)", g->path, g->version);
    if (rd_u64(&c, &nt, "tensor count") || rd_u64(&c, &nkv, "metadata count")) return -1;
    /* each kv needs >= 13 bytes and each tensor info >= 28 */
    if (nkv > (g->size - c.off) / 13)
        return ptq_fail(err, "%s: metadata count %llu cannot fit in the file", g->path, (unsigned long long)nkv);
    if (nt > (g->size - c.off) / 28)
        return ptq_fail(err, "%s: tensor count %llu cannot fit in the file", g->path, (unsigned long long)nt);
    if (!(g->kv = ptq_calloc(nkv ? nkv : 1, sizeof *g->kv, err)) ||
        !(g->tensors = ptq_calloc(nt ? nt : 1, sizeof *g->tensors, err)))
        return -1;
    for (uint64_t i = 0; i < nkv; i++) {
        ptq_gguf_kv *kv = &g->kv[i];
        const unsigned char *s;
        uint64_t len;
        char what[64];
        snprintf(what, sizeof what, "key %llu", (unsigned long long)i);
        if (rd_str(&c, &s, &len, MAX_KEY, what) || !(kv->key = dup_name(s, len, g->path, "key", err))) return -1;
        g->n_kv++;
        if (ptq_gguf_kv_find(g, kv->key) != kv)
            return ptq_fail(err, "%s: key '%s' appears twice", g->path, kv->key);
        if (parse_value(&c, kv)) return -1;
        kv->raw_len = (size_t)(c.off - (size_t)(kv->raw - g->map));
    }
    g->alignment = 32;
    const ptq_gguf_kv *al = ptq_gguf_kv_find(g, "general.alignment");
    if (al) {
        if (al->type != PTQ_GGUF_U32)
            return ptq_fail(err, "%s: key 'general.alignment' has type %s (expected u32)", g->path, vname[al->type]);
        memcpy(&g->alignment, al->data, 4);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)) || g->alignment > (1u << 20))
            return ptq_fail(err, "%s: key 'general.alignment' = %u is not a power of two in 1..2^20", g->path,
                            g->alignment);
    }
    for (uint64_t i = 0; i < nt; i++) {
        ptq_gguf_tensor *t = &g->tensors[i];
        int rc = parse_tensor_info(&c, t, (int)i);
        if (t->name) g->n_tensors++;
        if (rc) return -1;
        if (ptq_gguf_find(g, t->name) != t) return ptq_fail(err, "%s: tensor '%s' appears twice", g->path, t->name);
    }
    size_t pad = (g->alignment - c.off % g->alignment) % g->alignment;
    if (pad > g->size - c.off && nt > 0)
        return ptq_fail(err, "%s: truncated: the data block (at offset %zu) is past the end of the file", g->path,
                        c.off + pad);
    g->data_off = PTQ_MIN(c.off + pad, g->size);
    size_t dsize = g->size - g->data_off;
    for (int i = 0; i < g->n_tensors; i++) {
        const ptq_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return ptq_fail(err, "%s: tensor '%s': offset %llu is not a multiple of the alignment %u", g->path,
                            t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > dsize || t->nbytes > dsize - t->offset)
            return ptq_fail(err,
                            "%s: tensor '%s': bytes [%llu, %llu) of the data block are past its end (%zu bytes; "
                            "file truncated?)",
                            g->path, t->name, (unsigned long long)t->offset,
                            (unsigned long long)(t->offset + t->nbytes), dsize);
    }
    ptq_gguf_tensor **v = ptq_calloc(g->n_tensors ? g->n_tensors : 1, sizeof *v, err);
    if (!v) return -1;
    for (int i = 0; i < g->n_tensors; i++)
        v[i] = &g->tensors[i];
    qsort(v, g->n_tensors, sizeof *v, cmp_off);
    int rc = 0;
    for (int i = 1; i < g->n_tensors && !rc; i++)
        if (v[i]->offset < v[i - 1]->offset + v[i - 1]->nbytes && v[i]->nbytes)
            rc = ptq_fail(err, "%s: tensors '%s' and '%s' overlap in the data block", g->path, v[i - 1]->name,
                          v[i]->name);
    free(v);
    return rc;
}

int ptq_gguf_open_mem(ptq_gguf *g, const void *data, size_t size, const char *name, ptq_err *err) {
    memset(g, 0, sizeof *g);
    g->fd = -1;
    snprintf(g->path, sizeof g->path, "%s", name);
    g->map = data;
    g->size = size;
    if (parse(g, err)) {
        ptq_gguf_close(g);
        return -1;
    }
    return 0;
}

int ptq_gguf_open(ptq_gguf *g, const char *path, ptq_err *err) {
    memset(g, 0, sizeof *g);
    int fd = ptq_open_regular(path, err);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) || st.st_size < 24) {
        close(fd);
        return ptq_fail(err, "%s: truncated: %lld bytes, a GGUF header needs 24", path, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        close(fd);
        return ptq_fail(err, "%s: cannot map: %s", path, strerror(errno));
    }
    int rc = ptq_gguf_open_mem(g, map, (size_t)st.st_size, path, err);
    if (rc) {
        munmap(map, (size_t)st.st_size);
        close(fd);
        return -1;
    }
    g->fd = fd;
    g->owns_map = 1;
    return 0;
}

void ptq_gguf_close(ptq_gguf *g) {
    for (int i = 0; i < g->n_kv; i++)
        free(g->kv[i].key);
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->owns_map) munmap((void *)g->map, g->size);
    if (g->fd >= 0) close(g->fd);
    memset(g, 0, sizeof *g);
    g->fd = -1;
}

const ptq_gguf_kv *ptq_gguf_kv_find(const ptq_gguf *g, const char *key) {
    for (int i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}
const ptq_gguf_tensor *ptq_gguf_find(const ptq_gguf *g, const char *name) {
    for (int i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}
long long ptq_gguf_numel(const ptq_gguf_tensor *t) {
    return (long long)t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

static int scalar_num(const ptq_gguf_kv *kv, double *d, long long *i) {
    const unsigned char *p = kv->data;
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        uint64_t u64;
        int64_t i64;
        double f64;
    } u;
    if (kv->type >= PTQ_GGUF_NVTYPES || !vsize[kv->type] || kv->type == PTQ_GGUF_BOOL) return -1;
    memcpy(&u, p, vsize[kv->type]);
    int isint = 1;
    switch (kv->type) {
    case PTQ_GGUF_U8: *i = u.u8; break;
    case PTQ_GGUF_I8: *i = u.i8; break;
    case PTQ_GGUF_U16: *i = u.u16; break;
    case PTQ_GGUF_I16: *i = u.i16; break;
    case PTQ_GGUF_U32: *i = u.u32; break;
    case PTQ_GGUF_I32: *i = u.i32; break;
    case PTQ_GGUF_I64: *i = u.i64; break;
    case PTQ_GGUF_U64: *i = u.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (long long)u.u64; break;
    case PTQ_GGUF_F32: *d = u.f32, isint = 0; break;
    default: *d = u.f64, isint = 0; break;
    }
    if (isint) *d = (double)*i;
    return isint;
}

int ptq_gguf_get_int(const ptq_gguf *g, const char *key, int required, long long def, long long lo, long long hi,
                     long long *out, ptq_err *err) {
    const ptq_gguf_kv *kv = ptq_gguf_kv_find(g, key);
    if (!kv) {
        if (required) return ptq_fail(err, "%s: key '%s' is missing", g->path, key);
        *out = def;
        return 0;
    }
    double d;
    long long v;
    if (scalar_num(kv, &d, &v) != 1)
        return ptq_fail(err, "%s: key '%s' has type %s (expected an integer)", g->path, key, vname[kv->type]);
    if (v < lo || v > hi) return ptq_fail(err, "%s: key '%s' = %lld (expected %lld..%lld)", g->path, key, v, lo, hi);
    *out = v;
    return 0;
}

int ptq_gguf_get_num(const ptq_gguf *g, const char *key, int required, double def, double *out, ptq_err *err) {
    const ptq_gguf_kv *kv = ptq_gguf_kv_find(g, key);
    if (!kv) {
        if (required) return ptq_fail(err, "%s: key '%s' is missing", g->path, key);
        *out = def;
        return 0;
    }
    long long i;
    if (scalar_num(kv, out, &i) < 0)
        return ptq_fail(err, "%s: key '%s' has type %s (expected a number)", g->path, key, vname[kv->type]);
    if (!isfinite(*out)) return ptq_fail(err, "%s: key '%s' is not finite", g->path, key);
    return 0;
}

int ptq_gguf_get_str(const ptq_gguf *g, const char *key, const char **s, size_t *len, ptq_err *err) {
    *s = "", *len = 0;
    const ptq_gguf_kv *kv = ptq_gguf_kv_find(g, key);
    if (!kv) return ptq_fail(err, "%s: key '%s' is missing", g->path, key);
    if (kv->type != PTQ_GGUF_STRING)
        return ptq_fail(err, "%s: key '%s' has type %s (expected string)", g->path, key, vname[kv->type]);
    *s = (const char *)kv->data;
    *len = (size_t)kv->n;
    return 0;
}

void ptq_gguf_arr_str(const ptq_gguf_kv *kv, uint64_t i, const char **s, size_t *len) {
    const unsigned char *p = kv->data; /* validated at open: walk i strings */
    uint64_t n;
    for (uint64_t k = 0; k < i; k++) {
        memcpy(&n, p, 8);
        p += 8 + n;
    }
    memcpy(&n, p, 8);
    *s = (const char *)p + 8;
    *len = (size_t)n;
}

/* Walk a validated string array: the string at *p, then advance *p. */
static void str_next(const unsigned char **p, const char **s, size_t *len) {
    uint64_t n;
    memcpy(&n, *p, 8);
    *s = (const char *)*p + 8;
    *len = (size_t)n;
    *p += 8 + n;
}

int ptq_gguf_read_f32(const ptq_gguf *g, const ptq_gguf_tensor *t, float *out, ptq_err *err) {
    if (!ptq_ggml_type_readable(t->type)) {
        char list[256] = "";
        for (int i = 0; i < PTQ_GGUF_NGTYPES; i++)
            if (ptq_ggml_type_readable(i))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? " " : "", gtypes[i].name);
        return ptq_fail(err, "%s: tensor '%s' has type %s, which this build cannot read (readable: %s)", g->path,
                        t->name, ptq_ggml_type_name(t->type), list);
    }
    const unsigned char *src = g->map + g->data_off + t->offset;
    if (ptq_ggml_dequantize(t->type, src, out, (long)(ptq_gguf_numel(t) / t->ne[0]), (long)t->ne[0], err))
        return ptq_wrap(err, "%s: tensor '%s'", g->path, t->name);
    size_t n = (size_t)ptq_gguf_numel(t);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return ptq_fail(err, "%s: tensor '%s' holds a non-finite value at element %zu", g->path, t->name, i);
    return 0;
}

int ptq_gguf_detect(const char *path) {
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(m, "GGUF", 4);
}

/* ---- LLaMA-family model ---- */
static const char *const archs[] = {"llama", "mistral", "qwen2"};

static int arch_of(const ptq_gguf *g, char *arch, size_t cap, ptq_err *err) {
    const char *s;
    size_t n;
    if (ptq_gguf_get_str(g, "general.architecture", &s, &n, err)) return -1;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (n == strlen(archs[i]) && !memcmp(s, archs[i], n)) {
            snprintf(arch, cap, "%s", archs[i]);
            return 0;
        }
    return ptq_fail(err, "%s: general.architecture '%.*s' is not supported (llama, mistral, qwen2)", g->path,
                    (int)PTQ_MIN(n, 64), s);
}

int ptq_gguf_read_config(const ptq_gguf *g, ptq_config *c, ptq_err *err) {
    char arch[16], k[96];
    memset(c, 0, sizeof *c);
    if (arch_of(g, arch, sizeof arch, err)) return -1;
    struct {
        const char *key;
        int required;
        long long def, hi;
        int *dst;
    } f[] = {
        {"embedding_length", 1, 0, 1 << 16, &c->dim},
        {"feed_forward_length", 1, 0, 1 << 18, &c->hidden_dim},
        {"block_count", 1, 0, 1024, &c->n_layers},
        {"attention.head_count", 1, 0, 4096, &c->n_heads},
        {"context_length", 0, 2048, 1 << 20, &c->max_seq},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        long long v;
        snprintf(k, sizeof k, "%s.%s", arch, f[i].key);
        if (ptq_gguf_get_int(g, k, f[i].required, f[i].def, 1, f[i].hi, &v, err)) return -1;
        *f[i].dst = (int)v;
    }
    long long kvh, hd, rd, vocab, bos, eos;
    double eps, theta;
    snprintf(k, sizeof k, "%s.attention.head_count_kv", arch);
    if (ptq_gguf_get_int(g, k, 0, c->n_heads, 1, 4096, &kvh, err)) return -1;
    snprintf(k, sizeof k, "%s.attention.key_length", arch);
    if (c->dim % c->n_heads && !ptq_gguf_kv_find(g, k))
        return ptq_fail(err, "%s: embedding_length %d is not a multiple of head_count %d", g->path, c->dim, c->n_heads);
    snprintf(k, sizeof k, "%s.attention.key_length", arch);
    if (ptq_gguf_get_int(g, k, 0, c->dim / c->n_heads, 1, 1 << 16, &hd, err)) return -1;
    snprintf(k, sizeof k, "%s.attention.value_length", arch);
    long long vd;
    if (ptq_gguf_get_int(g, k, 0, hd, 1, 1 << 16, &vd, err)) return -1;
    if (vd != hd) return ptq_fail(err, "%s: key '%s' = %lld differs from key_length %lld", g->path, k, vd, hd);
    snprintf(k, sizeof k, "%s.rope.dimension_count", arch);
    if (ptq_gguf_get_int(g, k, 0, hd, 1, 1 << 16, &rd, err)) return -1;
    if (rd != hd) return ptq_fail(err, "%s: key '%s' = %lld: partial RoPE (not the head size %lld) is not supported",
                                  g->path, k, rd, hd);
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if (ptq_gguf_get_num(g, k, 1, 0, &eps, err)) return -1;
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (ptq_gguf_get_num(g, k, 0, 10000.0, &theta, err)) return -1;
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    const ptq_gguf_kv *sc = ptq_gguf_kv_find(g, k);
    if (sc && !(sc->type == PTQ_GGUF_STRING && sc->n == 4 && !memcmp(sc->data, "none", 4)))
        return ptq_fail(err, "%s: key '%s': RoPE scaling is not supported", g->path, k);
    const ptq_gguf_tensor *emb = ptq_gguf_find(g, "token_embd.weight");
    snprintf(k, sizeof k, "%s.vocab_size", arch);
    if (ptq_gguf_get_int(g, k, 0, emb && emb->n_dims == 2 ? emb->ne[1] : 0, 1, 1 << 20, &vocab, err)) return -1;
    if (ptq_gguf_get_int(g, "tokenizer.ggml.bos_token_id", 0, 1, 0, vocab - 1, &bos, err) ||
        ptq_gguf_get_int(g, "tokenizer.ggml.eos_token_id", 0, 2, 0, vocab - 1, &eos, err))
        return -1;
    if (eps <= 0 || eps > 1 || theta <= 0 || theta > 1e12)
        return ptq_fail(err, "%s: rms epsilon %g or RoPE freq_base %g out of range", g->path, eps, theta);
    c->n_kv_heads = (int)kvh, c->head_dim = (int)hd, c->vocab_size = (int)vocab;
    c->norm_eps = (float)eps, c->rope_theta = (float)theta;
    c->bos_id = (int)bos, c->eos_id = (int)eos;
    c->tied_embeddings = !ptq_gguf_find(g, "output.weight");
    c->attn_bias = !strcmp(arch, "qwen2");
    c->rope_style = !strcmp(arch, "qwen2") ? PTQ_ROPE_HALF : PTQ_ROPE_INTERLEAVED;
    return ptq_config_check(c, g->path, err);
}

/* GGUF names of the block tensors, in PTQ_LIN_* order. */
static const char *const lin_names[PTQ_LIN_COUNT] = {"attn_q",      "attn_k",   "attn_v",  "attn_output",
                                                     "ffn_gate",    "ffn_up",   "ffn_down"};

typedef struct {
    char name[64];
    int64_t ne0, ne1; /* ne1 = 0: 1-D */
    float *dst;
} want;

static int read_want(const ptq_gguf *g, const want *w, ptq_err *err) {
    const ptq_gguf_tensor *t = ptq_gguf_find(g, w->name);
    if (!t) return ptq_fail(err, "%s: tensor '%s' is missing", g->path, w->name);
    int nd = w->ne1 ? 2 : 1;
    if (t->n_dims != nd || t->ne[0] != w->ne0 || (nd == 2 && t->ne[1] != w->ne1))
        return ptq_fail(err, "%s: tensor '%s' has shape [%lld, %lld] (ne0 first), the metadata implies [%lld, %lld]",
                        g->path, w->name, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
                        (long long)w->ne0, (long long)(w->ne1 ? w->ne1 : 1));
    return w->dst ? ptq_gguf_read_f32(g, t, w->dst, err) : 0;
}

/* m NULL: check names and shapes only (before anything is allocated). */
static int load_weights(const ptq_gguf *g, const ptq_config *c, ptq_model *m, ptq_err *err) {
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, used = 0;
    want outer[3] = {{"token_embd.weight", c->dim, c->vocab_size, m ? m->tok_emb : NULL},
                     {"output_norm.weight", c->dim, 0, m ? m->rms_final : NULL},
                     {"output.weight", c->dim, c->vocab_size, m ? m->lm_head.w : NULL}};
    for (int i = 0; i < (c->tied_embeddings ? 2 : 3); i++, used++)
        if (read_want(g, &outer[i], err)) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = m ? &m->layers[l] : NULL;
        int64_t outs[PTQ_LIN_COUNT] = {qd, kvd, kvd, c->dim, c->hidden_dim, c->hidden_dim, c->dim};
        int64_t ins[PTQ_LIN_COUNT] = {c->dim, c->dim, c->dim, qd, c->dim, c->dim, c->hidden_dim};
        want w;
        for (int i = 0; i < PTQ_LIN_COUNT; i++, used++) {
            w = (want){"", ins[i], outs[i], L ? L->lin[i].w : NULL};
            snprintf(w.name, sizeof w.name, "blk.%d.%s.weight", l, lin_names[i]);
            if (read_want(g, &w, err)) return -1;
        }
        for (int i = 0; i < 3 && c->attn_bias; i++, used++) {
            w = (want){"", outs[i], 0, L ? L->lin[i].bias : NULL};
            snprintf(w.name, sizeof w.name, "blk.%d.%s.bias", l, lin_names[i]);
            if (read_want(g, &w, err)) return -1;
        }
        for (int i = 0; i < 2; i++, used++) {
            w = (want){"", c->dim, 0, !L ? NULL : i ? L->rms_ffn : L->rms_att};
            snprintf(w.name, sizeof w.name, "blk.%d.%s.weight", l, i ? "ffn_norm" : "attn_norm");
            if (read_want(g, &w, err)) return -1;
        }
    }
    if (used != g->n_tensors) { /* name the first tensor the model does not use */
        for (int i = 0; i < g->n_tensors; i++) {
            const char *n = g->tensors[i].name;
            int l = -1, k = 0;
            int known = !strcmp(n, "token_embd.weight") || !strcmp(n, "output_norm.weight") ||
                        (!strcmp(n, "output.weight") && !c->tied_embeddings) || !strcmp(n, "rope_freqs.weight");
            if (!known && sscanf(n, "blk.%d.%n", &l, &k) == 1 && l >= 0 && l < c->n_layers) {
                const char *rest = n + k;
                for (int j = 0; j < PTQ_LIN_COUNT && !known; j++) {
                    size_t ln = strlen(lin_names[j]);
                    known = !strncmp(rest, lin_names[j], ln) &&
                            (!strcmp(rest + ln, ".weight") || (c->attn_bias && j < 3 && !strcmp(rest + ln, ".bias")));
                }
                known |= !strcmp(rest, "attn_norm.weight") || !strcmp(rest, "ffn_norm.weight") ||
                         !strcmp(rest, "attn_rot_embd");
            }
            if (!known)
                return ptq_fail(err, "%s: unexpected tensor '%s' (%d layers%s)", g->path, n, c->n_layers,
                                c->attn_bias ? ", attention bias" : "");
        }
    }
    return 0;
}

int ptq_load_gguf(ptq_model *m, const char *path, ptq_tokenizer **tok, ptq_err *err) {
    ptq_gguf g;
    ptq_config c;
    memset(m, 0, sizeof *m);
    if (tok) *tok = NULL;
    if (ptq_gguf_open(&g, path, err)) return -1;
    int rc = ptq_gguf_read_config(&g, &c, err);
    if (!rc) rc = load_weights(&g, &c, NULL, err);
    if (!rc) rc = ptq_model_alloc(m, &c, err);
    if (!rc) rc = load_weights(&g, &c, m, err);
    if (!rc && tok) rc = ptq_gguf_tokenizer(&g, tok, err);
    if (!rc && tok && (*tok)->vocab_size > c.vocab_size)
        rc = ptq_fail(err, "%s: the tokenizer has %d tokens but the model's vocabulary is %d", path,
                      (*tok)->vocab_size, c.vocab_size);
    ptq_gguf_close(&g);
    if (rc) {
        if (tok) {
            ptq_tokenizer_free(*tok);
            *tok = NULL;
        }
        ptq_model_free(m);
        return -1;
    }
    snprintf(m->path, sizeof m->path, "%s", path);
    return 0;
}

/* ---- embedded tokenizer ---- */
static int arr_of(const ptq_gguf *g, const char *key, int type, uint64_t n, int required, const ptq_gguf_kv **out,
                  ptq_err *err) {
    const ptq_gguf_kv *kv = ptq_gguf_kv_find(g, key);
    *out = NULL;
    if (!kv) return required ? ptq_fail(err, "%s: key '%s' is missing", g->path, key) : 0;
    if (kv->type != PTQ_GGUF_ARRAY || kv->arr_type != type)
        return ptq_fail(err, "%s: key '%s' must be an array of %s", g->path, key, vname[type]);
    if (n && kv->n != n)
        return ptq_fail(err, "%s: key '%s' has %llu entries, tokenizer.ggml.tokens has %llu", g->path, key,
                        (unsigned long long)kv->n, (unsigned long long)n);
    *out = kv;
    return 0;
}

static int get_bool(const ptq_gguf *g, const char *key, int def, int *out, ptq_err *err) {
    const ptq_gguf_kv *kv = ptq_gguf_kv_find(g, key);
    if (!kv) *out = def;
    else if (kv->type != PTQ_GGUF_BOOL) return ptq_fail(err, "%s: key '%s' must be a bool", g->path, key);
    else *out = kv->data[0];
    return 0;
}

int ptq_gguf_tokenizer(const ptq_gguf *g, ptq_tokenizer **tok, ptq_err *err) {
    ptq_vocab_spec v = {.name = g->path, .bos_id = -1, .eos_id = -1, .unk_id = -1};
    const ptq_gguf_kv *toks, *scores, *types, *merges;
    const char *model, *pre = "default";
    size_t mlen, plen = 7;
    *tok = NULL;
    if (ptq_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen, err) ||
        arr_of(g, "tokenizer.ggml.tokens", PTQ_GGUF_STRING, 0, 1, &toks, err))
        return -1;
    if (toks->n < 1 || toks->n > (1 << 20))
        return ptq_fail(err, "%s: key 'tokenizer.ggml.tokens' has %llu entries (expected 1..2^20)", g->path,
                        (unsigned long long)toks->n);
    v.n = (int)toks->n;
    long long bos, eos, unk;
    if (arr_of(g, "tokenizer.ggml.scores", PTQ_GGUF_F32, toks->n, 0, &scores, err) ||
        arr_of(g, "tokenizer.ggml.token_type", PTQ_GGUF_I32, toks->n, 0, &types, err) ||
        arr_of(g, "tokenizer.ggml.merges", PTQ_GGUF_STRING, 0, 0, &merges, err) ||
        ptq_gguf_get_int(g, "tokenizer.ggml.bos_token_id", 0, -1, -1, v.n - 1, &bos, err) ||
        ptq_gguf_get_int(g, "tokenizer.ggml.eos_token_id", 0, -1, -1, v.n - 1, &eos, err) ||
        ptq_gguf_get_int(g, "tokenizer.ggml.unknown_token_id", 0, -1, -1, v.n - 1, &unk, err) ||
        get_bool(g, "tokenizer.ggml.add_bos_token", bos >= 0, &v.add_bos, err) ||
        get_bool(g, "tokenizer.ggml.add_space_prefix", 1, &v.add_space_prefix, err))
        return -1;
    if (ptq_gguf_kv_find(g, "tokenizer.ggml.pre") && ptq_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &plen, err))
        return -1;
    char mname[16] = "", pname[64] = "";
    snprintf(mname, sizeof mname, "%.*s", (int)PTQ_MIN(mlen, 15), model);
    snprintf(pname, sizeof pname, "%.*s", (int)PTQ_MIN(plen, 63), pre);
    v.model = mname, v.pre = pname;
    v.bos_id = (int)bos, v.eos_id = (int)eos, v.unk_id = (int)unk;
    v.n_merges = merges ? (int)PTQ_MIN(merges->n, 1u << 24) : 0;
    const char **tk = ptq_calloc((size_t)v.n, sizeof *tk, err), **mg = ptq_calloc((size_t)v.n_merges + 1, sizeof *mg, err);
    int *tl = ptq_calloc((size_t)v.n, sizeof *tl, err), *ml = ptq_calloc((size_t)v.n_merges + 1, sizeof *ml, err);
    float *sc = scores ? ptq_calloc((size_t)v.n, sizeof(float), err) : NULL;
    int *ty = types ? ptq_calloc((size_t)v.n, sizeof(int), err) : NULL;
    int rc = -1;
    if (!tk || !tl || !mg || !ml || (scores && !sc) || (types && !ty)) goto done;
    const unsigned char *p = toks->data;
    for (int i = 0; i < v.n; i++) {
        size_t n;
        str_next(&p, &tk[i], &n);
        tl[i] = (int)PTQ_MIN(n, 1u << 30);
    }
    p = merges ? merges->data : NULL;
    for (int i = 0; i < v.n_merges; i++) {
        size_t n;
        str_next(&p, &mg[i], &n);
        ml[i] = (int)PTQ_MIN(n, 1u << 30);
    }
    if (sc) memcpy(sc, scores->data, (size_t)v.n * 4);
    if (ty) memcpy(ty, types->data, (size_t)v.n * 4);
    v.tokens = tk, v.token_len = tl, v.merges = mg, v.merge_len = ml;
    v.scores = sc, v.types = ty;
    rc = ptq_tokenizer_from_vocab(&v, tok, err);
done:
    free(tk);
    free(tl);
    free(mg);
    free(ml);
    free(sc);
    free(ty);
    return rc;
}
