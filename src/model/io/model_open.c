/* model_open.c — the model format table and short-name registry. */
#include "model_open.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets.h"
#include "gguf.h"
#include "hf_checkpoint.h"
#include "ptqfile.h"

static int detect_llama2c(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && n > 4 && strcmp(path + n - 4, ".bin") == 0;
}

/* llama2.c: the tokenizer is tokenizer.bin or tok<vocab>.bin beside the model
 * unless given explicitly. */
static int load_llama2c(const char *path, const char *tok_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err) {
    if (ptq_load_llama2c(m, path, err)) return -1;
    char buf[4096];
    if (!tok_path) {
        const char *slash = strrchr(path, '/');
        int dirlen = slash ? (int)(slash - path) : 1;
        const char *dir = slash ? path : ".";
        snprintf(buf, sizeof buf, "%.*s/tok%d.bin", dirlen, dir, m->cfg.vocab_size);
        if (!ptq_file_exists(buf)) snprintf(buf, sizeof buf, "%.*s/tokenizer.bin", dirlen, dir);
        tok_path = buf;
    }
    if (ptq_tokenizer_open(tok_path, m->cfg.vocab_size, tok, err)) {
        ptq_model_free(m);
        return -1;
    }
    return 0;
}

/* Hugging Face: a directory holding config.json (hf_checkpoint.c). */
static int detect_hf(const char *path) {
    struct stat st;
    char buf[4200];
    snprintf(buf, sizeof buf, "%s/config.json", path);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && ptq_file_exists(buf);
}

static int load_hf(const char *path, const char *tok_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err) {
    if (ptq_load_hf_compact(m, path, err)) return -1; /* methods widen what they change */
    if (ptq_hf_open_tokenizer(path, tok_path, m->cfg.vocab_size, tok, err)) {
        ptq_model_free(m);
        return -1;
    }
    return 0;
}

/* ptqbench export files (ptqfile.h): the tokenizer recorded at export time
 * ({kind, path, add_bos} in meta.tokenizer) unless one is given. */
static int load_ptqfile(const char *path, const char *tok_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err) {
    cJSON *meta = NULL;
    if (ptq_file_load_ex(path, m, &meta, 1, err)) return -1; /* quantized linears as their packed qweight alone */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(t, "kind"), *tp = cJSON_GetObjectItemCaseSensitive(t, "path");
    const char *k = tok_path ? NULL : cJSON_IsString(kind) ? kind->valuestring : "";
    if (!tok_path) tok_path = cJSON_IsString(tp) ? tp->valuestring : NULL;
    static const struct {
        const char *key;
        size_t off, cap;
    } src[] = {{"source_model", offsetof(ptq_model, source.model), sizeof m->source.model},
               {"source_sha256", offsetof(ptq_model, source.sha256), sizeof m->source.sha256},
               {"method", offsetof(ptq_model, source.method), sizeof m->source.method},
               {"qspec", offsetof(ptq_model, source.qspec), sizeof m->source.qspec}};
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, src[i].key);
        snprintf((char *)m + src[i].off, src[i].cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(meta, "source_path"); /* version 4 files: openable as given */
    if (cJSON_IsString(sp) && sp->valuestring[0]) snprintf(m->source.model, sizeof m->source.model, "%s", sp->valuestring);
    if (!m->source.method[0]) snprintf(m->source.method, sizeof m->source.method, "unknown");
    int rc = 0;
    if (!tok_path) rc = ptq_fail(err, "%s: no tokenizer recorded in the file; give one with --tokenizer", path);
    else {
        rc = ptq_tokenizer_open(tok_path, m->cfg.vocab_size, tok, err);
        const cJSON *ab = cJSON_GetObjectItemCaseSensitive(t, "add_bos");
        if (!rc && k && cJSON_IsBool(ab)) (*tok)->add_bos = cJSON_IsTrue(ab) && (*tok)->bos_id >= 0;
    }
    cJSON_Delete(meta);
    if (rc) ptq_model_free(m);
    return rc;
}

/* GGUF: the tokenizer embedded in the file unless one is given. */
static int load_gguf(const char *path, const char *tok_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err) {
    if (ptq_load_gguf(m, path, tok_path ? NULL : tok, err)) return -1;
    if (tok_path && ptq_tokenizer_open(tok_path, m->cfg.vocab_size, tok, err)) {
        ptq_model_free(m);
        return -1;
    }
    return 0;
}

/* Formats in the order they are tried. */
static const ptq_model_format formats[] = {
    {"llama2c", detect_llama2c, load_llama2c},
    {"hf", detect_hf, load_hf},
    {"ptqfile", ptq_file_detect, load_ptqfile},
    {"gguf", ptq_gguf_detect, load_gguf},
};

const ptq_named_model ptq_named_models[] = {
    {"stories260K", "stories260K.bin", "llama2c", "stories260K.tok512", "models/stories260K/stories260K.bin"},
    {"tinystories-656k", "tinystories-656k.model.safetensors", "hf", "tinystories-656k.tokenizer.json",
     "models/tinystories-656k"},
    {NULL, NULL, NULL, NULL, NULL},
};

int ptq_model_max_seq(const char *spec, int *max_seq, ptq_err *err) {
    char path[4096];
    *max_seq = 0;
    snprintf(path, sizeof path, "%s", spec);
    for (int i = 0; ptq_named_models[i].name; i++)
        if (!strcmp(ptq_named_models[i].name, spec) && ptq_data_path(ptq_named_models[i].path, path, sizeof path, err))
            return -1;
    ptq_config cfg;
    if (detect_hf(path)) {
        if (ptq_hf_read_config(path, &cfg, err)) return -1;
        *max_seq = cfg.max_seq;
    } else if (detect_llama2c(path)) { /* header: dim, hidden, layers, heads, kv heads, vocab, seq_len */
        int32_t h[7];
        FILE *f = ptq_fopen_regular(path, err);
        if (!f) return -1;
        int ok = fread(h, sizeof h[0], 7, f) == 7;
        fclose(f);
        if (!ok) return ptq_fail(err, "%s: too short for the llama2.c header", path);
        *max_seq = h[6];
    } else if (ptq_gguf_detect(path)) {
        ptq_gguf g;
        if (ptq_gguf_open(&g, path, err)) return -1;
        int rc = ptq_gguf_read_config(&g, &cfg, err);
        ptq_gguf_close(&g);
        if (rc) return -1;
        *max_seq = cfg.max_seq;
    }
    return 0;
}

int ptq_model_footprint_of(const char *spec, ptq_model_footprint *f, ptq_err *err) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", spec);
    for (int i = 0; ptq_named_models[i].name; i++)
        if (!strcmp(ptq_named_models[i].name, spec) &&
            ptq_data_path(ptq_named_models[i].path, f->path, sizeof f->path, err))
            return -1;
    struct stat sb;
    if (detect_hf(f->path)) {
        ptq_st st;
        if (ptq_hf_read_config(f->path, &f->cfg, err) || ptq_hf_open_weights(f->path, &f->cfg, &st, err)) return -1;
        for (int i = 0; i < st.n_files; i++) f->file_bytes += (long long)st.files[i].size;
        f->bytes_per_weight = ptq_hf_weights_dtype16(&st, &f->cfg) ? 2 : 4;
        ptq_st_close(&st);
        return 0;
    }
    if (stat(f->path, &sb) != 0) return ptq_fail(err, "model '%s': cannot stat %s", spec, f->path);
    f->file_bytes = (long long)sb.st_size;
    if (detect_llama2c(f->path)) {
        int32_t h[7];
        FILE *fp = ptq_fopen_regular(f->path, err);
        if (!fp) return -1;
        int ok = fread(h, sizeof h[0], 7, fp) == 7;
        fclose(fp);
        if (!ok) return ptq_fail(err, "%s: too short for the llama2.c header", f->path);
        ptq_config c = {.dim = h[0], .hidden_dim = h[1], .n_layers = h[2], .n_heads = h[3], .n_kv_heads = h[4],
                        .vocab_size = h[5] < 0 ? -h[5] : h[5], .max_seq = h[6], .tied_embeddings = h[5] > 0,
                        .rope_theta = 1e4f, .norm_eps = 1e-5f};
        c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
        if (ptq_config_check(&c, f->path, err)) return -1;
        f->cfg = c;
        f->bytes_per_weight = 4;
    }
    return 0;
}

int ptq_open_model(const char *spec, const char *tokenizer_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err) {
    *tok = NULL;
    char path[4096], tpath[4096], sha[65] = "";
    const ptq_named_model *named = NULL;
    for (int i = 0; ptq_named_models[i].name; i++)
        if (strcmp(ptq_named_models[i].name, spec) == 0) named = &ptq_named_models[i];
    const ptq_model_format *fmt = NULL;
    if (named) {
        if (ptq_asset_open(named->weights_asset, path, sizeof path, sha, err)) return ptq_wrap(err, "model %s", spec);
        if (named->tokenizer_asset && !tokenizer_path) {
            if (ptq_asset_open(named->tokenizer_asset, tpath, sizeof tpath, NULL, err))
                return ptq_wrap(err, "model %s", spec);
            tokenizer_path = tpath;
        }
        if (strcmp(named->kind, "hf") == 0) { /* the HF loader takes the directory */
            char *slash = strrchr(path, '/');
            if (slash) *slash = 0;
            char cname[160], cpath[4096]; /* config.json is verified like the weights */
            snprintf(cname, sizeof cname, "%s.config.json", named->name);
            if (ptq_registry_find(cname) && ptq_asset_open(cname, cpath, sizeof cpath, NULL, err))
                return ptq_wrap(err, "model %s", spec);
        }
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
            if (strcmp(formats[i].kind, named->kind) == 0) fmt = &formats[i];
    } else {
        snprintf(path, sizeof path, "%s", spec);
        if (!ptq_file_exists(path)) {
            char names[512] = "";
            for (int i = 0; ptq_named_models[i].name; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         ptq_named_models[i].name);
            return ptq_fail(err, "model '%s': no such file or directory, and not a known model name (%s)", spec,
                            names);
        }
        for (size_t i = 0; i < sizeof formats / sizeof formats[0] && !fmt; i++)
            if (formats[i].detect(path)) fmt = &formats[i];
    }
    if (!fmt) return ptq_fail(err, "%s: unrecognised model format (expected a llama2.c .bin, an HF directory, a GGUF file or a ptqbench export file)", path);
    if (fmt->load(path, tokenizer_path, m, tok, err)) return -1;
    if (!sha[0]) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && ptq_sha256_file(path, sha, err)) {
            ptq_tokenizer_free(*tok);
            *tok = NULL;
            ptq_model_free(m);
            return -1;
        }
    }
    memcpy(m->sha256, sha, 65);
    snprintf(m->name, sizeof m->name, "%s", named ? named->name : spec);
    return 0;
}

int ptq_model_weights_sha256(const ptq_model *m, char hex[65], ptq_err *err) {
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", m->path);
    if (m->sha256[0]) return snprintf(hex, 65, "%s", m->sha256), 0;
    if (ptq_file_exists(cfgp)) return ptq_hf_dir_sha256(m->path, hex, err);
    return ptq_fail(err, "%s: the weights' sha256 is unknown", m->path);
}
