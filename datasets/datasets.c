/* datasets.c — see datasets.h. */
#include "datasets.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#ifndef PTQ_SOURCE_DIR
#define PTQ_SOURCE_DIR "."
#endif

int ptq_data_root(char *out, size_t cap, ptq_err *err) {
    const char *env = getenv("PTQBENCH_DATA");
    if (env && *env) {
        if (!ptq_file_exists(env)) return ptq_fail(err, "PTQBENCH_DATA=%s does not exist", env);
        snprintf(out, cap, "%s", env);
        return 0;
    }
    const char *cands[] = {"data", "../shared/assets", PTQ_SOURCE_DIR "/data", PTQ_SOURCE_DIR "/../shared/assets"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char probe[4096];
        /* a ./data without the assets' layout (e.g. only the zoo's data/zoo) must not hide ../shared/assets */
        snprintf(probe, sizeof probe, "%s/SHA256SUMS", cands[i]);
        int found = ptq_file_exists(probe);
        snprintf(probe, sizeof probe, "%s/datasets", cands[i]);
        found = found || (i % 2 == 0 && ptq_file_exists(probe));
        if (found) {
            snprintf(out, cap, "%s", cands[i]);
            return 0;
        }
    }
    return ptq_fail(err, "no data root: set PTQBENCH_DATA, or put the assets in ./data or ../shared/assets");
}

int ptq_data_path(const char *rel, char *out, size_t cap, ptq_err *err) {
    char root[4096];
    if (ptq_data_root(root, sizeof root, err)) return -1;
    snprintf(out, cap, "%s/%s", root, rel);
    if (!ptq_file_exists(out)) return ptq_fail(err, "%s: not found under the data root %s", rel, root);
    return 0;
}

/* ---- registry ---- */
static ptq_asset *g_assets;
static int g_nassets = -1;

static void copy_str(char *dst, size_t cap, const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int ptq_registry(const ptq_asset **assets, int *n, ptq_err *err) {
    if (g_nassets >= 0) {
        *assets = g_assets;
        *n = g_nassets;
        return 0;
    }
    const char *env = getenv("PTQBENCH_REGISTRY");
    char path[4096];
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    else if (ptq_file_exists("datasets/registry.json")) snprintf(path, sizeof path, "datasets/registry.json");
    else snprintf(path, sizeof path, "%s/datasets/registry.json", PTQ_SOURCE_DIR);
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *arr = root ? cJSON_GetObjectItemCaseSensitive(root, "assets") : NULL;
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return ptq_fail(err, "%s: expected a JSON object with an \"assets\" array", path);
    }
    int cnt = cJSON_GetArraySize(arr), i = 0;
    ptq_asset *a = ptq_calloc(cnt ? cnt : 1, sizeof *a, err);
    if (!a) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(e, "bytes");
        copy_str(a[i].name, sizeof a[i].name, e, "name");
        copy_str(a[i].path, sizeof a[i].path, e, "path");
        copy_str(a[i].sha256, sizeof a[i].sha256, e, "sha256");
        copy_str(a[i].url, sizeof a[i].url, e, "url");
        copy_str(a[i].license, sizeof a[i].license, e, "license");
        copy_str(a[i].derived_from, sizeof a[i].derived_from, e, "derived_from");
        if (!a[i].name[0] || !a[i].path[0] || strlen(a[i].sha256) != 64 || !cJSON_IsNumber(bytes)) {
            free(a);
            cJSON_Delete(root);
            return ptq_fail(err, "%s: assets[%d] needs name, path, 64-hex sha256 and numeric bytes", path, i);
        }
        a[i].bytes = (long long)bytes->valuedouble;
        i++;
    }
    cJSON_Delete(root);
    g_assets = a;
    g_nassets = cnt;
    *assets = a;
    *n = cnt;
    return 0;
}

const ptq_asset *ptq_registry_find(const char *name) {
    const ptq_asset *a;
    int n;
    if (ptq_registry(&a, &n, NULL)) return NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0) return &a[i];
    return NULL;
}

/* sha256 results per path, so a sweep hashes each file once. */
#define VCACHE 64
static struct {
    char path[512];
    char sha[65];
} g_vcache[VCACHE];
static int g_nv;

int ptq_asset_verify(const ptq_asset *a, const char *path, ptq_err *err) {
    for (int i = 0; i < g_nv; i++)
        if (strcmp(g_vcache[i].path, path) == 0) return 0;
    FILE *f = ptq_fopen_regular(path, err);
    if (!f) return ptq_wrap(err, "asset %s", a->name);
    fseek(f, 0, SEEK_END);
    long long sz = ftell(f);
    fclose(f);
    if (sz != a->bytes)
        return ptq_fail(err, "%s: size %lld bytes, registry says %lld (asset %s): wrong or truncated file", path, sz,
                        a->bytes, a->name);
    char hex[65];
    if (ptq_sha256_file(path, hex, err)) return -1;
    if (strcmp(hex, a->sha256) != 0)
        return ptq_fail(err, "%s: sha256 %s does not match the registry's %s (asset %s)", path, hex, a->sha256,
                        a->name);
    if (g_nv < VCACHE) {
        snprintf(g_vcache[g_nv].path, sizeof g_vcache[g_nv].path, "%s", path);
        memcpy(g_vcache[g_nv].sha, hex, 65);
        g_nv++;
    }
    return 0;
}

int ptq_asset_open(const char *name, char *path, size_t cap, char sha_out[65], ptq_err *err) {
    const ptq_asset *a = ptq_registry_find(name);
    if (!a) {
        const ptq_asset *all;
        int n;
        if (ptq_registry(&all, &n, err)) return -1;
        return ptq_fail(err, "unknown asset '%s' (see `ptqbench datasets list`)", name);
    }
    if (ptq_data_path(a->path, path, cap, err)) return -1;
    if (ptq_asset_verify(a, path, err)) return -1;
    if (sha_out) memcpy(sha_out, a->sha256, 65);
    return 0;
}

/* ---- text datasets ---- */
const char *const ptq_text_dataset_names[] = {"wikitext2",        "ptb", "ptb-valid", "tinystories",
                                              "tinystories-calib", "c4",  "tinyshakespeare", NULL};

typedef struct {
    int *ids;
    long n, cap;
    long *starts;
    int ndocs, dcap;
} tokbuf;

static int tb_append(tokbuf *b, const int *ids, int n, ptq_err *err) {
    if (b->n + n > b->cap) {
        long nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n) nc *= 2;
        int *ni = realloc(b->ids, (size_t)nc * sizeof(int));
        if (!ni) return ptq_fail(err, "out of memory growing a token buffer");
        b->ids = ni;
        b->cap = nc;
    }
    memcpy(b->ids + b->n, ids, (size_t)n * sizeof(int));
    b->n += n;
    return 0;
}

static int tb_doc(tokbuf *b, const ptq_tokenizer *tok, const char *s, size_t len, ptq_err *err) {
    if (b->ndocs == b->dcap) {
        int nc = b->dcap ? 2 * b->dcap : 256;
        long *ns = realloc(b->starts, (size_t)nc * sizeof(long));
        if (!ns) return ptq_fail(err, "out of memory");
        b->starts = ns;
        b->dcap = nc;
    }
    b->starts[b->ndocs++] = b->n;
    int *ids, n;
    if (tok->encode(tok, s, len, tok->bos_id >= 0, 0, &ids, &n, err)) return -1;
    int rc = tb_append(b, ids, n, err);
    free(ids);
    return rc;
}

static void strip(const char **s, size_t *len) {
    while (*len && isspace((unsigned char)**s)) (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1])) (*len)--;
}

/* Stories [first, last] (1-based) of a file of stories separated by
 * "<|endoftext|>" lines, each stripped and encoded with BOS. */
static int stories(const char *text, size_t len, int first, int last, const ptq_tokenizer *tok, tokbuf *b,
                   ptq_err *err) {
    const char *sep = "<|endoftext|>", *p = text, *end = text + len;
    int idx = 0;
    while (p < end && idx < last) {
        const char *q = strstr(p, sep);
        const char *stop = q ? q : end;
        const char *s = p;
        size_t l = (size_t)(stop - p);
        strip(&s, &l);
        if (l > 0) {
            idx++;
            if (idx >= first && tb_doc(b, tok, s, l, err)) return -1;
        }
        p = q ? q + strlen(sep) : end;
    }
    if (idx < last) return ptq_fail(err, "tinystories: only %d stories in the file, %d needed", idx, last);
    return 0;
}

static int jsonl_docs(const char *path, const char *text, size_t len, const ptq_tokenizer *tok, tokbuf *b,
                      ptq_err *err) {
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (l > 0) {
            cJSON *o = cJSON_ParseWithLength(p, l);
            const cJSON *t = o ? cJSON_GetObjectItemCaseSensitive(o, "text") : NULL;
            if (!cJSON_IsString(t)) {
                cJSON_Delete(o);
                return ptq_fail(err, "%s:%d: expected a JSON object with a string \"text\"", path, line);
            }
            int rc = tb_doc(b, tok, t->valuestring, strlen(t->valuestring), err);
            cJSON_Delete(o);
            if (rc) return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int ptq_text_tokens(const char *name, const ptq_tokenizer *tok, ptq_tokens *out, ptq_err *err) {
    memset(out, 0, sizeof *out);
    static const struct {
        const char *name, *asset, *desc;
    } table[] = {
        {"wikitext2", "wikitext2", "WikiText-2 raw test, rows joined with \"\\n\\n\" (GPTQ)"},
        {"ptb", "ptb", "PTB test, sentences joined with \" \" (GPTQ ptb-new)"},
        {"ptb-valid", "ptb-valid", "PTB validation, sentences joined with \" \" (GPTQ ptb)"},
        {"tinystories", "tinystories", "TinyStories valid stories 1-500, BOS per story"},
        {"tinystories-calib", "tinystories", "TinyStories valid stories 501-1000, BOS per story"},
        {"c4", "c4-train", "C4 en train shard 0 first 1000 docs, BOS per doc"},
        {"tinyshakespeare", "tinyshakespeare", "tiny-shakespeare input.txt"},
    };
    int k = -1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0) k = (int)i;
    if (k < 0) {
        char list[512] = "";
        for (int i = 0; ptq_text_dataset_names[i]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     ptq_text_dataset_names[i]);
        return ptq_fail(err, "unknown dataset '%s' (expected one of: %s)", name, list);
    }
    char path[4096];
    if (ptq_asset_open(table[k].asset, path, sizeof path, out->sha256, err)) return -1;
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    tokbuf b = {0};
    int rc;
    if (strcmp(name, "tinystories") == 0) rc = stories(text, len, 1, 500, tok, &b, err);
    else if (strcmp(name, "tinystories-calib") == 0) rc = stories(text, len, 501, 1000, tok, &b, err);
    else if (strcmp(name, "c4") == 0) rc = jsonl_docs(path, text, len, tok, &b, err);
    else {
        int *ids, n;
        rc = tok->encode(tok, text, len, tok->add_bos && tok->bos_id >= 0, 0, &ids, &n, err);
        if (!rc) {
            rc = tb_append(&b, ids, n, err);
            free(ids);
        }
    }
    free(text);
    if (!rc && b.n == 0) rc = ptq_fail(err, "%s: dataset '%s' has no tokens", path, name);
    if (rc) {
        free(b.ids);
        free(b.starts);
        return -1;
    }
    out->ids = b.ids;
    out->n = b.n;
    out->doc_starts = b.starts;
    out->n_docs = b.ndocs;
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->desc, sizeof out->desc, "%s", table[k].desc);
    return 0;
}

void ptq_tokens_free(ptq_tokens *t) {
    free(t->ids);
    free(t->doc_starts);
    memset(t, 0, sizeof *t);
}

int ptq_calib_allowed(const char *calib, const char *eval) {
    if (strcmp(calib, eval) == 0) return 0;
    if (strncmp(calib, "wikitext2", 9) == 0 && strncmp(eval, "wikitext2", 9) == 0) return 0;
    if (strcmp(calib, "tinystories") == 0) return 0; /* the evaluation stories */
    return 1;
}
