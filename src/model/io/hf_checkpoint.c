/* hf_checkpoint.c — Hugging Face LLaMA / Mistral / Qwen2 loader (see hf_checkpoint.h).
 *
 * config.json fields used: model_type, hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads, num_key_value_heads (default =
 * heads), head_dim (default hidden/heads), vocab_size, max_position_embeddings,
 * rope_theta (default 10000), rms_norm_eps, tie_word_embeddings (default
 * false), attention_bias (llama; qwen2 always has q/k/v bias), rope_scaling
 * (only "llama3"; other types are refused rather than silently ignored),
 * hidden_act (must be silu), mlp_bias (must be false), bos/eos_token_id (a
 * list takes its first entry). Mistral's sliding_window is not applied: it
 * only matters for windows longer than it (4096), which is reported. */
#include "hf_checkpoint.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *jget(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Integer field: required unless def >= 0 is given for a missing key. */
static int jint(const cJSON *o, const char *k, long def, long lo, long hi, int *out, const char *path, ptq_err *err) {
    const cJSON *v = jget(o, k);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return ptq_fail(err, "%s: missing integer field '%s'", path, k);
        *out = (int)def;
        return 0;
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) v = cJSON_GetArrayItem(v, 0); /* eos lists */
    /* range first: converting an out-of-range double to an integer is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != floor(v->valuedouble))
        return ptq_fail(err, "%s: field '%s' must be an integer in %ld..%ld", path, k, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int jnum(const cJSON *o, const char *k, double def, double lo, double hi, float *out, const char *path,
                ptq_err *err) {
    const cJSON *v = jget(o, k);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return ptq_fail(err, "%s: missing number field '%s'", path, k);
        *out = (float)def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return ptq_fail(err, "%s: field '%s' must be a number in %g..%g", path, k, lo, hi);
    *out = (float)v->valuedouble;
    return 0;
}

static int jbool(const cJSON *o, const char *k, int def, int *out, const char *path, ptq_err *err) {
    const cJSON *v = jget(o, k);
    if (!v || cJSON_IsNull(v))
        *out = def;
    else if (cJSON_IsBool(v))
        *out = cJSON_IsTrue(v);
    else
        return ptq_fail(err, "%s: field '%s' must be true or false", path, k);
    return 0;
}

static int rope_scaling(const cJSON *rs, ptq_config *c, const char *path, ptq_err *err) {
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return ptq_fail(err, "%s: rope_scaling must be an object or null", path);
    const cJSON *ty = jget(rs, "rope_type");
    if (!ty) ty = jget(rs, "type");
    if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "llama3"))
        return ptq_fail(err, "%s: rope_scaling type '%s' is not supported (only \"llama3\")", path,
                        cJSON_IsString(ty) ? ty->valuestring : "?");
    if (jnum(rs, "factor", -1, 1e-3, 1e6, &c->rope_factor, path, err) ||
        jnum(rs, "low_freq_factor", -1, 1e-6, 1e6, &c->rope_low_freq_factor, path, err) ||
        jnum(rs, "high_freq_factor", -1, 1e-6, 1e6, &c->rope_high_freq_factor, path, err) ||
        jint(rs, "original_max_position_embeddings", -1, 1, 1 << 24, &c->rope_orig_max_pos, path, err))
        return ptq_wrap(err, "rope_scaling");
    if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
        return ptq_fail(err, "%s: rope_scaling high_freq_factor must exceed low_freq_factor", path);
    return 0;
}

static int parse_config(const cJSON *j, ptq_config *c, const char *path, ptq_err *err) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(j)) return ptq_fail(err, "%s: not a JSON object", path);
    const cJSON *mt = jget(j, "model_type");
    static const char *const types[] = {"llama", "mistral", "qwen2"};
    int known = 0;
    for (size_t i = 0; i < 3; i++)
        known |= cJSON_IsString(mt) && !strcmp(mt->valuestring, types[i]);
    if (!known)
        return ptq_fail(err, "%s: model_type '%s' is not supported (llama, mistral, qwen2)", path,
                        cJSON_IsString(mt) ? mt->valuestring : "(missing)");
    int qwen = !strcmp(mt->valuestring, "qwen2"), mlp_bias = 0, tied = 0;
    const cJSON *act = jget(j, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return ptq_fail(err, "%s: hidden_act must be \"silu\"", path);
    if (jint(j, "hidden_size", -1, 1, 1 << 16, &c->dim, path, err) ||
        jint(j, "intermediate_size", -1, 1, 1 << 18, &c->hidden_dim, path, err) ||
        jint(j, "num_hidden_layers", -1, 1, 1024, &c->n_layers, path, err) ||
        jint(j, "num_attention_heads", -1, 1, 4096, &c->n_heads, path, err) ||
        jint(j, "num_key_value_heads", c->n_heads, 1, 4096, &c->n_kv_heads, path, err) ||
        jint(j, "head_dim", c->dim / c->n_heads, 1, 1 << 16, &c->head_dim, path, err) ||
        jint(j, "vocab_size", -1, 1, 1 << 20, &c->vocab_size, path, err) ||
        jint(j, "max_position_embeddings", 2048, 2, 1 << 20, &c->max_seq, path, err) ||
        jnum(j, "rope_theta", 10000.0, 1e-3, 1e12, &c->rope_theta, path, err) ||
        jnum(j, "rms_norm_eps", 1e-6, 1e-12, 1.0, &c->norm_eps, path, err) ||
        jbool(j, "tie_word_embeddings", 0, &tied, path, err) ||
        jbool(j, "attention_bias", qwen, &c->attn_bias, path, err) || jbool(j, "mlp_bias", 0, &mlp_bias, path, err) ||
        jint(j, "bos_token_id", 1, 0, 1 << 20, &c->bos_id, path, err) ||
        jint(j, "eos_token_id", 2, 0, 1 << 20, &c->eos_id, path, err) ||
        rope_scaling(jget(j, "rope_scaling"), c, path, err))
        return -1;
    if (!jget(j, "head_dim") && c->dim % c->n_heads)
        return ptq_fail(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c->dim,
                        c->n_heads);
    if (mlp_bias) return ptq_fail(err, "%s: mlp_bias = true is not supported", path);
    if (qwen) c->attn_bias = 1;
    c->tied_embeddings = tied;
    c->rope_style = PTQ_ROPE_HALF;
    return ptq_config_check(c, path, err);
}

int ptq_hf_read_config(const char *dir, ptq_config *cfg, ptq_err *err) {
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (ptq_read_file(path, &text, &len, err)) return -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) return ptq_fail(err, "%s: malformed JSON", path);
    int rc = parse_config(j, cfg, path, err);
    cJSON_Delete(j);
    return rc;
}

/* ---- tensor names and shapes ---- */
enum { N_LAYER_T = PTQ_LIN_COUNT + 3 + 2 };
static const char *const lin_prefix[PTQ_LIN_COUNT] = {"self_attn", "self_attn", "self_attn", "self_attn",
                                                      "mlp",       "mlp",       "mlp"};

/* Name and shape of block tensor i of layer l; returns 0 if it does not exist
 * for this config (biases). */
static int layer_tensor(const ptq_config *c, int l, int i, char *name, size_t cap, long long shape[2], int *ndim) {
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    long long outs[PTQ_LIN_COUNT] = {qd, kvd, kvd, c->dim, c->hidden_dim, c->hidden_dim, c->dim};
    long long ins[PTQ_LIN_COUNT] = {c->dim, c->dim, c->dim, qd, c->dim, c->dim, c->hidden_dim};
    if (i < PTQ_LIN_COUNT) {
        snprintf(name, cap, "model.layers.%d.%s.%s.weight", l, lin_prefix[i], ptq_linear_names[i]);
        shape[0] = outs[i], shape[1] = ins[i], *ndim = 2;
        return 1;
    }
    if (i < PTQ_LIN_COUNT + 3) {
        int j = i - PTQ_LIN_COUNT;
        if (!c->attn_bias) return 0;
        snprintf(name, cap, "model.layers.%d.self_attn.%s.bias", l, ptq_linear_names[j]);
        shape[0] = outs[j], *ndim = 1;
        return 1;
    }
    snprintf(name, cap, "model.layers.%d.%s.weight", l,
             i == PTQ_LIN_COUNT + 3 ? "input_layernorm" : "post_attention_layernorm");
    shape[0] = c->dim, *ndim = 1;
    return 1;
}

static int check_tensor(const ptq_st *st, const char *name, const long long *shape, int ndim, int required,
                        const ptq_st_tensor **out, ptq_err *err) {
    const ptq_st_tensor *t = ptq_st_find(st, name);
    *out = t;
    if (!t) return required ? ptq_fail(err, "weights: tensor '%s' is missing", name) : 0;
    if (t->dtype != PTQ_ST_F32 && t->dtype != PTQ_ST_F16 && t->dtype != PTQ_ST_BF16)
        return ptq_fail(err, "weights: tensor '%s' has dtype %s (expected F32, F16 or BF16)", name,
                        ptq_st_dtype_name(t->dtype));
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = t->shape[d] == shape[d];
    if (!ok) {
        char got[160], want[160];
        return ptq_fail(err, "weights: tensor '%s' has shape %s, config.json implies %s", name,
                        ptq_shape_str(t->shape, t->ndim, got, sizeof got), ptq_shape_str(shape, ndim, want, sizeof want));
    }
    return 0;
}

static int expected_name(const ptq_config *c, const char *name) {
    static const char *const outer[] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, outer[i])) return 1;
    int l, k;
    if (sscanf(name, "model.layers.%d.%n", &l, &k) == 1 && l >= 0 && l < c->n_layers) {
        if (strstr(name, "rotary_emb.inv_freq")) return 1; /* old exports keep the RoPE table: recomputed */
        char buf[256];
        long long sh[2];
        int nd;
        for (int i = 0; i < N_LAYER_T; i++)
            if (layer_tensor(c, l, i, buf, sizeof buf, sh, &nd) && !strcmp(buf, name)) return 1;
    }
    return 0;
}

int ptq_hf_open_weights(const char *dir, const ptq_config *c, ptq_st *st, ptq_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!ptq_file_exists(path)) snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!ptq_file_exists(path)) return ptq_fail(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
    if (ptq_st_open(st, path, err)) return -1;
    for (int i = 0; i < st->n_tensors; i++)
        if (!expected_name(c, st->tensors[i].name)) {
            ptq_fail(err, "%s: unexpected tensor '%s' (config.json: %d layers%s)", path, st->tensors[i].name,
                     c->n_layers, c->attn_bias ? ", attention bias" : ", no attention bias");
            goto fail;
        }
    const ptq_st_tensor *t;
    long long sh[2] = {c->vocab_size, c->dim}, d1[1] = {c->dim};
    if (check_tensor(st, "model.embed_tokens.weight", sh, 2, !c->tied_embeddings, &t, err)) goto fail;
    if (!t && check_tensor(st, "lm_head.weight", sh, 2, 1, &t, err)) goto fail; /* tied, stored as lm_head */
    if (check_tensor(st, "lm_head.weight", sh, 2, !c->tied_embeddings, &t, err) ||
        check_tensor(st, "model.norm.weight", d1, 1, 1, &t, err))
        goto fail;
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < N_LAYER_T; i++) {
            char name[256];
            int nd;
            if (layer_tensor(c, l, i, name, sizeof name, sh, &nd) && check_tensor(st, name, sh, nd, 1, &t, err))
                goto fail;
        }
    return 0;
fail:
    ptq_wrap(err, "%s", dir);
    ptq_st_close(st);
    return -1;
}

static int read_named(const ptq_st *st, const char *name, float *out, int release, ptq_err *err) {
    const ptq_st_tensor *t = ptq_st_find(st, name);
    if (!t) return ptq_fail(err, "weights: tensor '%s' is missing", name);
    int rc = ptq_st_read_f32(st, t, out, err);
    if (release) ptq_st_release(st, t);
    return rc;
}

/* A weight into 16-bit storage as stored (same dtype) or fp32. */
static int read_weight(const ptq_st *st, const char *name, float *w, const ptq_w16 *w16, int release, ptq_err *err) {
    if (!w16 || !w16->w) return read_named(st, name, w, release, err);
    const ptq_st_tensor *t = ptq_st_find(st, name);
    if (!t) return ptq_fail(err, "weights: tensor '%s' is missing", name);
    int want = w16->dtype == PTQ_W16_BF16 ? PTQ_ST_BF16 : PTQ_ST_F16;
    if (t->dtype != want)
        return ptq_fail(err, "weights: tensor '%s' is %s, the model is held as %s", name, ptq_st_dtype_name(t->dtype),
                        ptq_st_dtype_name(want));
    int rc = ptq_st_read_u16(st, t, (uint16_t *)w16->w, err);
    if (release) ptq_st_release(st, t);
    return rc;
}

int ptq_hf_weights_dtype16(const ptq_st *st, const ptq_config *c) {
    int dt = -1;
    for (int i = 0; i < st->n_tensors; i++) {
        const ptq_st_tensor *t = &st->tensors[i];
        if (t->ndim != 2) continue; /* norms and biases are read as fp32 */
        if (dt < 0) dt = t->dtype;
        if (t->dtype != dt) return 0;
    }
    (void)c;
    return dt == PTQ_ST_BF16 ? PTQ_W16_BF16 : dt == PTQ_ST_F16 ? PTQ_W16_F16 : 0;
}

int ptq_hf_load_layer(const ptq_st *st, const ptq_config *c, int l, ptq_layer *L, int release, ptq_err *err) {
    for (int i = 0; i < N_LAYER_T; i++) {
        char name[256];
        long long sh[2];
        int nd;
        if (!layer_tensor(c, l, i, name, sizeof name, sh, &nd)) continue;
        if (i < PTQ_LIN_COUNT && L->lin[i].w16.w) {
            if (read_weight(st, name, NULL, &L->lin[i].w16, release, err)) return -1;
            continue;
        }
        float *dst = i < PTQ_LIN_COUNT        ? L->lin[i].w
                     : i < PTQ_LIN_COUNT + 3  ? L->lin[i - PTQ_LIN_COUNT].bias
                     : i == PTQ_LIN_COUNT + 3 ? L->rms_att
                                              : L->rms_ffn;
        if (!dst) return ptq_fail(err, "layer %d: no buffer for '%s'", l, name);
        if (read_named(st, name, dst, release, err)) return -1;
    }
    return 0;
}

int ptq_hf_load_outer(const ptq_st *st, ptq_model *m, int release, ptq_err *err) {
    const char *emb = ptq_st_find(st, "model.embed_tokens.weight") ? "model.embed_tokens.weight" : "lm_head.weight";
    if (read_weight(st, emb, m->tok_emb, &m->emb16, release, err) ||
        read_named(st, "model.norm.weight", m->rms_final, release, err))
        return -1;
    if (!m->cfg.tied_embeddings && read_weight(st, "lm_head.weight", m->lm_head.w, &m->lm_head.w16, release, err))
        return -1;
    return 0;
}

static int load_hf(ptq_model *m, const char *dir, int compact, ptq_err *err) {
    ptq_config c;
    ptq_st st;
    memset(m, 0, sizeof *m);
    if (ptq_hf_read_config(dir, &c, err) || ptq_hf_open_weights(dir, &c, &st, err)) return -1;
    int dt = compact ? ptq_hf_weights_dtype16(&st, &c) : 0;
    int rc = dt ? ptq_model_alloc_w16(m, &c, dt, err) : ptq_model_alloc(m, &c, err);
    /* each tensor's file pages are dropped once copied: the peak is the model, not model + file */
    if (!rc) rc = ptq_hf_load_outer(&st, m, 1, err);
    for (int l = 0; l < c.n_layers && !rc; l++)
        rc = ptq_hf_load_layer(&st, &c, l, &m->layers[l], 1, err);
    ptq_st_close(&st);
    if (rc) {
        ptq_model_free(m);
        return ptq_wrap(err, "%s", dir);
    }
    snprintf(m->path, sizeof m->path, "%s", dir);
    return 0;
}

int ptq_load_hf(ptq_model *m, const char *dir, ptq_err *err) { return load_hf(m, dir, 0, err); }
int ptq_load_hf_compact(ptq_model *m, const char *dir, ptq_err *err) { return load_hf(m, dir, 1, err); }

int ptq_hf_dir_sha256(const char *dir, char hex[65], ptq_err *err) {
    char cfgp[4200], h[65];
    ptq_config c;
    ptq_st st;
    if (ptq_hf_read_config(dir, &c, err) || ptq_hf_open_weights(dir, &c, &st, err)) return -1;
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    char *cat = ptq_calloc((size_t)(st.n_files + 1) * 64 + 1, 1, err);
    int rc = !cat || ptq_sha256_file(cfgp, h, err) ? -1 : 0;
    size_t n = 0;
    if (!rc) memcpy(cat, h, 64), n = 64;
    for (int i = 0; i < st.n_files && !rc; i++)
        if (!(rc = ptq_sha256_file(st.files[i].path, h, err))) memcpy(cat + n, h, 64), n += 64;
    if (!rc) ptq_sha256_buf(cat, n, hex);
    free(cat);
    ptq_st_close(&st);
    return rc;
}

/* ---- tokenizer of a model directory ---- */
/* add_bos_token from tokenizer_config.json, -1 when absent. */
static int config_add_bos(const char *dir, ptq_err *err) {
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (!ptq_file_exists(path)) return -1;
    if (ptq_read_file(path, &text, &len, err)) return -2;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        ptq_fail(err, "%s: malformed JSON", path);
        return -2;
    }
    const cJSON *v = jget(j, "add_bos_token");
    int r = cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
    cJSON_Delete(j);
    return r;
}

int ptq_hf_open_tokenizer(const char *dir, const char *tok_path, int vocab, ptq_tokenizer **tok, ptq_err *err) {
    char buf[4200];
    *tok = NULL;
    if (!tok_path) {
        snprintf(buf, sizeof buf, "%s/tokenizer.json", dir);
        if (!ptq_file_exists(buf)) snprintf(buf, sizeof buf, "%s/tokenizer.model", dir);
        if (!ptq_file_exists(buf))
            return ptq_fail(err, "%s: no tokenizer.json or tokenizer.model (give one with --tokenizer)", dir);
        tok_path = buf;
    }
    if (ptq_tokenizer_open(tok_path, vocab, tok, err)) return -1;
    int ab = config_add_bos(dir, err);
    if (ab == -2) goto fail;
    if (ab >= 0) (*tok)->add_bos = ab && (*tok)->bos_id >= 0;
    return 0;
fail:
    ptq_tokenizer_free(*tok);
    *tok = NULL;
    return -1;
}

/* ---- writer ---- */
typedef struct {
    ptq_rng rng;
    float scale, constant; /* scale 0: every value = constant */
} gen_ctx;

static void gen_fill(void *ctx, float *buf, long long i0, long long n) {
    (void)i0;
    gen_ctx *g = ctx;
    for (long long i = 0; i < n; i++)
        buf[i] = g->scale != 0.f ? g->scale * (float)(2.0 * ptq_rng_uniform(&g->rng) - 1.0) : g->constant;
}

static int write_config(const char *dir, const ptq_config *c, int dtype, ptq_err *err) {
    cJSON *j = cJSON_CreateObject(), *arch = cJSON_CreateArray();
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddItemToObject(j, "architectures", arch);
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->hidden_dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    if (c->head_dim != c->dim / c->n_heads) cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_seq);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->norm_eps);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied_embeddings);
    cJSON_AddBoolToObject(j, "attention_bias", c->attn_bias);
    cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    cJSON_AddNumberToObject(j, "eos_token_id", c->eos_id);
    cJSON_AddStringToObject(j, "torch_dtype",
                            dtype == PTQ_ST_BF16  ? "bfloat16"
                            : dtype == PTQ_ST_F16 ? "float16"
                                                  : "float32");
    char *txt = cJSON_Print(j), path[4200];
    cJSON_Delete(j);
    if (!txt) return ptq_fail(err, "out of memory");
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = ptq_write_file_atomic(path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

int ptq_hf_write(const char *dir, const ptq_config *c, const ptq_model *m, int dtype, int n_shards, uint64_t seed,
                 ptq_err *err) {
    if (n_shards < 1 || n_shards > c->n_layers + 1)
        return ptq_fail(err, "n_shards %d out of range 1..%d", n_shards, c->n_layers + 1);
    if (ptq_mkdir_p(dir, err) || write_config(dir, c, dtype, err)) return -1;
    int cap = 3 + c->n_layers * N_LAYER_T, n = 0;
    ptq_st_wtensor *t = ptq_calloc(cap, sizeof *t, err);
    gen_ctx *g = ptq_calloc(cap, sizeof *g, err);
    char(*names)[256] = ptq_calloc(cap, 256, err);
    int *shard = ptq_calloc(cap, sizeof(int), err);
    int rc = 0;
    if (!t || !g || !names || !shard) {
        rc = -1;
        goto out;
    }
    /* the tensor list: embed, layers, norm, lm_head; layer l goes to shard l*S/(L+1) */
    for (int l = -1; l <= c->n_layers; l++) {
        int nt = l < 0 || l == c->n_layers ? (l < 0 ? 1 : 2) : N_LAYER_T;
        for (int i = 0; i < nt; i++) {
            long long sh[2];
            int nd, is_norm = 0;
            const float *data = NULL;
            if (l < 0) {
                snprintf(names[n], 256, "model.embed_tokens.weight");
                sh[0] = c->vocab_size, sh[1] = c->dim, nd = 2;
                data = m ? m->tok_emb : NULL;
            } else if (l == c->n_layers) {
                if (i == 1 && c->tied_embeddings) continue;
                snprintf(names[n], 256, i == 0 ? "model.norm.weight" : "lm_head.weight");
                sh[0] = i == 0 ? c->dim : c->vocab_size, sh[1] = c->dim, nd = i == 0 ? 1 : 2;
                is_norm = i == 0;
                data = m ? (i == 0 ? m->rms_final : m->lm_head.w) : NULL;
            } else {
                if (!layer_tensor(c, l, i, names[n], 256, sh, &nd)) continue;
                is_norm = i >= PTQ_LIN_COUNT + 3;
                if (m) {
                    const ptq_layer *L = &m->layers[l];
                    data = i < PTQ_LIN_COUNT        ? L->lin[i].w
                           : i < PTQ_LIN_COUNT + 3  ? L->lin[i - PTQ_LIN_COUNT].bias
                           : i == PTQ_LIN_COUNT + 3 ? L->rms_att
                                                    : L->rms_ffn;
                }
            }
            ptq_rng_seed(&g[n].rng, seed * 1000003ULL + (uint64_t)n);
            g[n].scale = is_norm ? 0.f : 0.02f * 1.7320508f; /* uniform(-a, a) has std a/sqrt(3) */
            g[n].constant = 1.f;
            t[n] = (ptq_st_wtensor){names[n], dtype, nd, {sh[0], nd > 1 ? sh[1] : 0}, data, gen_fill, &g[n]};
            shard[n] = l < 0 ? 0 : (int)((long)(l < c->n_layers ? l : c->n_layers) * n_shards / (c->n_layers + 1));
            n++;
        }
    }
    char path[4400];
    if (n_shards == 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = ptq_st_write(path, t, n, NULL, err);
        goto out;
    }
    cJSON *idx = cJSON_CreateObject(), *wm = cJSON_CreateObject();
    cJSON_AddItemToObject(cJSON_AddObjectToObject(idx, "metadata"), "total_size", cJSON_CreateNumber(0));
    cJSON_AddItemToObject(idx, "weight_map", wm);
    for (int s = 0; s < n_shards && !rc; s++) {
        ptq_st_wtensor *sub = ptq_calloc(n, sizeof *sub, err);
        int k = 0;
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        for (int i = 0; sub && i < n; i++)
            if (shard[i] == s) {
                sub[k++] = t[i];
                cJSON_AddStringToObject(wm, names[i], fname);
            }
        snprintf(path, sizeof path, "%s/%s", dir, fname);
        rc = !sub || ptq_st_write(path, sub, k, NULL, err);
        free(sub);
    }
    char *txt = rc ? NULL : cJSON_Print(idx);
    cJSON_Delete(idx);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!rc) rc = !txt ? ptq_fail(err, "out of memory") : ptq_write_file_atomic(path, txt, strlen(txt), err);
    free(txt);
out:
    free(t), free(g), free(names), free(shard);
    return rc ? -1 : 0;
}
