/* safetensors.c — see safetensors.h. Header JSON through cJSON, data through
 * one read-only mmap per file. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (256u << 20) /* no real header comes close */

static const struct {
    const char *name;
    int size;
} dtypes[PTQ_ST_NDTYPES] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8},  {"I64", 8},     {"I32", 4},
                            {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};

const char *ptq_st_dtype_name(int d) {
    return d >= 0 && d < PTQ_ST_NDTYPES ? dtypes[d].name : "?";
}

long long ptq_st_numel(const ptq_st_tensor *t) {
    long long n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* ---- fp16 / bf16 ---- */
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
float ptq_bf16_to_f32(uint16_t h) {
    return bits_f32((uint32_t)h << 16);
}
uint16_t ptq_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
float ptq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}
uint16_t ptq_f32_to_f16(float f) {
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000;
    float a = fabsf(f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00);
    if (a >= 65520.f) return (uint16_t)(sign | 0x7c00);
    if (a < 6.103515625e-5f) /* subnormal: round to a multiple of 2^-24 */
        return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.f));
    uint32_t au = f32_bits(a);
    au += 0xfff + ((au >> 13) & 1); /* round to nearest even on the 13 dropped bits */
    return (uint16_t)(sign | (((au >> 23) - 112) << 10) | ((au >> 13) & 0x3ff));
}

/* ---- open ---- */
static int file_open(ptq_st_file *f, const char *path, ptq_err *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    struct stat sb;
    if ((f->fd = ptq_open_regular(path, err)) < 0) return ptq_wrap(err, "safetensors file");
    if (fstat(f->fd, &sb) != 0) return ptq_fail(err, "%s: cannot stat safetensors file: %s", path, strerror(errno));
    f->size = (size_t)sb.st_size;
    if (f->size < 8) return ptq_fail(err, "%s: truncated safetensors (%zu bytes, need at least 8)", path, f->size);
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return ptq_fail(err, "%s: mmap failed: %s", path, strerror(errno));
    }
    return 0;
}

static void file_close(ptq_st_file *f) {
    if (f->map) munmap(f->map, f->size);
    if (f->fd >= 0) close(f->fd);
    f->map = NULL;
    f->fd = -1;
}

static int as_count(const cJSON *v, long long max, long long *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > (double)max || d != floor(d)) return -1;
    *out = (long long)d;
    return 0;
}

static int parse_entry(ptq_st_tensor *t, const cJSON *e, const ptq_st_file *f, size_t data_size, ptq_err *err) {
    const char *p = f->path, *nm = e->string;
    if (strlen(nm) >= sizeof t->name) return ptq_fail(err, "%s: tensor name too long: %.80s...", p, nm);
    snprintf(t->name, sizeof t->name, "%s", nm);
    if (!cJSON_IsObject(e)) return ptq_fail(err, "%s: tensor '%s': entry is not a JSON object", p, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"),
                *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return ptq_fail(err, "%s: tensor '%s': missing string field 'dtype'", p, nm);
    t->dtype = -1;
    for (int i = 0; i < PTQ_ST_NDTYPES; i++)
        if (!strcmp(dt->valuestring, dtypes[i].name)) t->dtype = i;
    if (t->dtype < 0) return ptq_fail(err, "%s: tensor '%s': unknown dtype '%.32s'", p, nm, dt->valuestring);
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > 8)
        return ptq_fail(err, "%s: tensor '%s': 'shape' must be an array of at most 8 integers", p, nm);
    t->ndim = cJSON_GetArraySize(sh);
    long long numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (as_count(cJSON_GetArrayItem(sh, i), 1LL << 40, &t->shape[i]))
            return ptq_fail(err, "%s: tensor '%s': shape[%d] is not a non-negative integer", p, nm, i);
        if (t->shape[i] && numel > (1LL << 50) / t->shape[i])
            return ptq_fail(err, "%s: tensor '%s': shape too large", p, nm);
        numel *= t->shape[i];
    }
    long long b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || as_count(cJSON_GetArrayItem(off, 0), 1LL << 52, &b) ||
        as_count(cJSON_GetArrayItem(off, 1), 1LL << 52, &en))
        return ptq_fail(err, "%s: tensor '%s': 'data_offsets' must be [begin, end] integers", p, nm);
    if (b > en) return ptq_fail(err, "%s: tensor '%s': data_offsets begin %lld > end %lld", p, nm, b, en);
    if ((size_t)en > data_size)
        return ptq_fail(err,
                        "%s: tensor '%s': data_offsets end %lld beyond the data block (%zu bytes; file truncated?)", p,
                        nm, en, data_size);
    if (en - b != numel * dtypes[t->dtype].size)
        return ptq_fail(err, "%s: tensor '%s': %lld bytes in data_offsets but shape x %s needs %lld", p, nm, en - b,
                        dtypes[t->dtype].name, numel * dtypes[t->dtype].size);
    t->begin = (size_t)b;
    t->end = (size_t)en;
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const ptq_st_tensor *x = *(ptq_st_tensor *const *)a, *y = *(ptq_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Tensors [first, first+n) all belong to one file: reject any overlap. */
static int check_overlap(ptq_st_tensor *t, int n, const char *path, ptq_err *err) {
    ptq_st_tensor **v = ptq_calloc(n ? n : 1, sizeof *v, err);
    if (!v) return -1;
    for (int i = 0; i < n; i++)
        v[i] = &t[i];
    qsort(v, n, sizeof *v, cmp_begin);
    int rc = 0;
    for (int i = 1; i < n && !rc; i++)
        if (v[i]->begin < v[i - 1]->end && v[i]->end > v[i]->begin)
            rc = ptq_fail(err, "%s: tensors '%s' [%zu,%zu) and '%s' [%zu,%zu) overlap", path, v[i - 1]->name,
                          v[i - 1]->begin, v[i - 1]->end, v[i]->name, v[i]->begin, v[i]->end);
    free(v);
    return rc;
}

static int add_alias(ptq_st *st, const char *from, const char *to, ptq_err *err) {
    void *na = realloc(st->alias, (size_t)(st->n_alias + 1) * sizeof *st->alias);
    if (!na) return ptq_fail(err, "out of memory");
    st->alias = na;
    snprintf(st->alias[st->n_alias][0], 256, "%s", from);
    snprintf(st->alias[st->n_alias][1], 256, "%s", to);
    st->n_alias++;
    return 0;
}

/* Parse the header of file index fi and append its tensors. */
static int parse_file(ptq_st *st, int fi, ptq_err *err) {
    ptq_st_file *f = &st->files[fi];
    uint64_t hlen;
    memcpy(&hlen, f->map, 8); /* little-endian hosts only (x86-64, aarch64) */
    if (hlen > f->size - 8)
        return ptq_fail(err, "%s: header length %llu is beyond the file (%zu bytes)", f->path, (unsigned long long)hlen,
                        f->size);
    if (hlen > ST_MAX_HEADER)
        return ptq_fail(err, "%s: header length %llu too large", f->path, (unsigned long long)hlen);
    f->data_off = 8 + (size_t)hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ptq_fail(err, "%s: header is not a JSON object", f->path);
    }
    int n = 0, rc = 0;
    for (cJSON *e = root->child; e; e = e->next)
        n++;
    ptq_st_tensor *nt = realloc(st->tensors, (size_t)(st->n_tensors + n + 1) * sizeof *nt);
    if (!nt) {
        cJSON_Delete(root);
        return ptq_fail(err, "out of memory");
    }
    st->tensors = nt;
    int first = st->n_tensors;
    for (cJSON *e = root->child; e && !rc; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) rc = ptq_fail(err, "%s: __metadata__ must be an object", f->path);
            for (cJSON *m = e->child; m && !rc && fi == 0; m = m->next)
                if (cJSON_IsString(m) && strstr(m->string, ".weight") && strlen(m->string) < 256 &&
                    strlen(m->valuestring) < 256)
                    rc = add_alias(st, m->string, m->valuestring, err);
            continue;
        }
        ptq_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        t->file = fi;
        if (!(rc = parse_entry(t, e, f, f->size - f->data_off, err))) st->n_tensors++;
    }
    cJSON_Delete(root);
    if (!rc) rc = check_overlap(st->tensors + first, st->n_tensors - first, f->path, err);
    return rc;
}

static int add_file(ptq_st *st, const char *path, ptq_err *err) {
    void *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *st->files);
    if (!nf) return ptq_fail(err, "out of memory");
    st->files = nf;
    int fi = st->n_files++;
    if (file_open(&st->files[fi], path, err)) return -1;
    return parse_file(st, fi, err);
}

static int open_index(ptq_st *st, const char *path, ptq_err *err) {
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(root);
        return ptq_fail(err, "%s: expected a JSON object with a non-empty 'weight_map'", path);
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    char(*shard)[256] = NULL;
    int ns = 0;
    for (cJSON *e = wm->child; e && !rc; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || strlen(e->valuestring) >= 256 ||
            !strcmp(e->valuestring, "..")) {
            rc = ptq_fail(err, "%s: weight_map['%s'] must be a shard file name in the same directory", path, e->string);
            break;
        }
        int k = 0;
        while (k < ns && strcmp(shard[k], e->valuestring))
            k++;
        if (k == ns) {
            void *n2 = realloc(shard, (size_t)(ns + 1) * sizeof *shard);
            if (!n2) {
                rc = ptq_fail(err, "out of memory");
                break;
            }
            shard = n2;
            snprintf(shard[ns++], 256, "%s", e->valuestring);
            char fp[4096 + 300];
            snprintf(fp, sizeof fp, "%.*s/%s", dirlen, dir, e->valuestring);
            if (!ptq_file_exists(fp))
                rc = ptq_fail(err, "%s: shard '%s' is missing (%s)", path, e->valuestring, fp);
            else
                rc = add_file(st, fp, err);
        }
    }
    /* every mapped name must be in the shard the index names, once */
    for (cJSON *e = wm->child; e && !rc; e = e->next) {
        const ptq_st_tensor *t = NULL;
        int count = 0;
        for (int i = 0; i < st->n_tensors; i++)
            if (!strcmp(st->tensors[i].name, e->string)) t = &st->tensors[i], count++;
        if (!t)
            rc = ptq_fail(err, "%s: tensor '%s' is in weight_map but in no shard", path, e->string);
        else if (count > 1)
            rc = ptq_fail(err, "%s: tensor '%s' appears in %d shards", path, e->string, count);
        else if (strcmp(strrchr(st->files[t->file].path, '/') + 1, e->valuestring))
            rc = ptq_fail(err, "%s: tensor '%s' is mapped to %s but found in %s", path, e->string, e->valuestring,
                          st->files[t->file].path);
    }
    free(shard);
    cJSON_Delete(root);
    return rc;
}

int ptq_st_open(ptq_st *st, const char *path, ptq_err *err) {
    memset(st, 0, sizeof *st);
    size_t n = strlen(path);
    int rc = n > 5 && !strcmp(path + n - 5, ".json") ? open_index(st, path, err) : add_file(st, path, err);
    if (!rc && st->n_tensors == 0) rc = ptq_fail(err, "%s: no tensors", path);
    if (rc) ptq_st_close(st);
    return rc;
}

void ptq_st_close(ptq_st *st) {
    for (int i = 0; i < st->n_files; i++)
        file_close(&st->files[i]);
    free(st->files);
    free(st->tensors);
    free(st->alias);
    memset(st, 0, sizeof *st);
}

const ptq_st_tensor *ptq_st_find(const ptq_st *st, const char *name) {
    for (int hop = 0; hop < 2; hop++) {
        for (int i = 0; i < st->n_tensors; i++)
            if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
        const char *to = NULL;
        for (int i = 0; i < st->n_alias && !to; i++)
            if (!strcmp(st->alias[i][0], name)) to = st->alias[i][1];
        if (!to) return NULL;
        name = to;
    }
    return NULL;
}

/* The tensor's bytes, after checking the file still holds them: a shard
 * truncated after it was opened (a copy still in progress, a full disk)
 * would otherwise fault in the middle of a run when its pages are touched. */
static const unsigned char *tensor_bytes(const ptq_st *st, const ptq_st_tensor *t, ptq_err *err) {
    const ptq_st_file *f = &st->files[t->file];
    struct stat sb;
    if (fstat(f->fd, &sb) != 0) {
        ptq_fail(err, "%s: cannot stat shard while reading tensor '%s': %s", f->path, t->name, strerror(errno));
        return NULL;
    }
    if ((size_t)sb.st_size < f->data_off + t->end) {
        ptq_fail(err, "%s: shard truncated to %lld bytes while reading tensor '%s' (its data ends at byte %zu)",
                 f->path, (long long)sb.st_size, t->name, f->data_off + t->end);
        return NULL;
    }
    return f->map + f->data_off + t->begin;
}

int ptq_st_read_u16(const ptq_st *st, const ptq_st_tensor *t, uint16_t *out, ptq_err *err) {
    const ptq_st_file *f = &st->files[t->file];
    if (t->dtype != PTQ_ST_F16 && t->dtype != PTQ_ST_BF16)
        return ptq_fail(err, "%s: tensor '%s' has dtype %s, not F16 or BF16", f->path, t->name,
                        ptq_st_dtype_name(t->dtype));
    const unsigned char *p = tensor_bytes(st, t, err);
    if (!p) return -1;
    size_t n = (size_t)ptq_st_numel(t);
    memcpy(out, p, n * 2);
    uint16_t emask = t->dtype == PTQ_ST_F16 ? 0x7c00 : 0x7f80; /* all-ones exponent: inf or nan */
    for (size_t i = 0; i < n; i++)
        if ((out[i] & emask) == emask)
            return ptq_fail(err, "%s: tensor '%s' holds a non-finite value at element %zu", f->path, t->name, i);
    return 0;
}

int ptq_st_read_f32(const ptq_st *st, const ptq_st_tensor *t, float *out, ptq_err *err) {
    const ptq_st_file *f = &st->files[t->file];
    const unsigned char *p = tensor_bytes(st, t, err);
    if (!p) return -1;
    size_t n = (size_t)ptq_st_numel(t);
    switch (t->dtype) {
    case PTQ_ST_F32:
        memcpy(out, p, n * 4);
        break;
    case PTQ_ST_F16:
    case PTQ_ST_BF16: {
        float (*to_f32)(uint16_t) = t->dtype == PTQ_ST_F16 ? ptq_f16_to_f32 : ptq_bf16_to_f32;
#pragma omp parallel for schedule(static) if (n > 1 << 16)
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = to_f32(h);
        }
        break;
    }
    default:
        return ptq_fail(err, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 weights are supported", f->path,
                        t->name, ptq_st_dtype_name(t->dtype));
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return ptq_fail(err, "%s: tensor '%s' holds a non-finite value at element %zu", f->path, t->name, i);
    return 0;
}

void ptq_st_release(const ptq_st *st, const ptq_st_tensor *t) {
    const ptq_st_file *f = &st->files[t->file];
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t a = (f->data_off + t->begin) / pg * pg, b = f->data_off + t->end;
    if (b > a) madvise(f->map + a, b - a, MADV_DONTNEED);
}

/* ---- writer ---- */
static int write_all(FILE *fp, const void *p, size_t n) {
    return fwrite(p, 1, n, fp) == n ? 0 : -1;
}

static int write_data(FILE *fp, const ptq_st_wtensor *t, long long numel) {
    enum { CH = 1 << 16 };
    static float buf[CH];
    static unsigned char out[CH * 4];
    for (long long i0 = 0; i0 < numel; i0 += CH) {
        long long k = PTQ_MIN((long long)CH, numel - i0);
        if (t->data)
            memcpy(buf, t->data + i0, (size_t)k * 4);
        else
            t->gen(t->gen_ctx, buf, i0, k);
        size_t bytes;
        if (t->dtype == PTQ_ST_F32)
            memcpy(out, buf, (bytes = (size_t)k * 4));
        else {
            for (long long i = 0; i < k; i++) {
                uint16_t h = t->dtype == PTQ_ST_BF16 ? ptq_f32_to_bf16(buf[i]) : ptq_f32_to_f16(buf[i]);
                memcpy(out + 2 * i, &h, 2);
            }
            bytes = (size_t)k * 2;
        }
        if (write_all(fp, out, bytes)) return -1;
    }
    return 0;
}

int ptq_st_write(const char *path, const ptq_st_wtensor *t, int n, const char *metadata, ptq_err *err) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = metadata ? cJSON_Parse(metadata) : cJSON_CreateObject();
    if (!meta) meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddItemToObject(root, "__metadata__", meta);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].dtype != PTQ_ST_F32 && t[i].dtype != PTQ_ST_F16 && t[i].dtype != PTQ_ST_BF16) {
            cJSON_Delete(root);
            return ptq_fail(err, "%s: cannot write tensor '%s' as %s", path, t[i].name, ptq_st_dtype_name(t[i].dtype));
        }
        long long numel = 1;
        cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        for (int d = 0; d < t[i].ndim; d++) {
            numel *= t[i].shape[d];
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        }
        size_t bytes = (size_t)numel * dtypes[t[i].dtype].size;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
        cJSON_AddStringToObject(e, "dtype", dtypes[t[i].dtype].name);
        cJSON_AddItemToObject(e, "shape", sh);
        cJSON_AddItemToObject(e, "data_offsets", of);
        cJSON_AddItemToObject(root, t[i].name, e);
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!hdr) return ptq_fail(err, "out of memory");
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    FILE *fp = fopen(path, "wb");
    int rc = 0;
    if (!fp)
        rc = ptq_fail(err, "%s: cannot create: %s", path, strerror(errno));
    else {
        uint64_t L = padded;
        rc = write_all(fp, &L, 8) || write_all(fp, hdr, hl) || write_all(fp, "        ", padded - hl);
        for (int i = 0; i < n && !rc; i++) {
            long long numel = 1;
            for (int d = 0; d < t[i].ndim; d++)
                numel *= t[i].shape[d];
            rc = write_data(fp, &t[i], numel);
        }
        if (fclose(fp) || rc) rc = ptq_fail(err, "%s: write failed: %s", path, strerror(errno));
    }
    free(hdr);
    return rc;
}
