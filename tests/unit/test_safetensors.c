/* test_safetensors.c — HF checkpoints written by the test itself (random
 * tiny LLaMA): fp32/fp16/bf16, sharded index, HF rotate_half layout vs the
 * llama2.c interleaved layout (equal logits), and bad inputs (truncated,
 * header length beyond the file, overlap, unknown dtype, missing shard,
 * config/weights mismatch, unsupported config) plus a small header fuzz. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf_checkpoint.h"
#include "testref.h"
#include "testutil.h"

static char tmpdir[256];

static ptq_config tiny_cfg(void) {
    ptq_config c = {0};
    c.dim = 32, c.hidden_dim = 48, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 50;
    c.max_seq = 16, c.head_dim = 8, c.rope_theta = 10000.f, c.norm_eps = 1e-5f, c.rope_style = PTQ_ROPE_HALF;
    c.bos_id = 1, c.eos_id = 2;
    return c;
}

static void fill(float *x, size_t n, ptq_rng *r, float scale, float base) {
    for (size_t i = 0; i < n; i++)
        x[i] = base + scale * (float)(2 * ptq_rng_uniform(r) - 1);
}

static void random_model(ptq_model *m, const ptq_config *c) {
    ptq_err err;
    CHECK(ptq_model_alloc(m, c, &err) == 0);
    ptq_rng r;
    ptq_rng_seed(&r, 7);
    fill(m->tok_emb, (size_t)c->vocab_size * c->dim, &r, 0.5f, 0.f);
    fill(m->rms_final, c->dim, &r, 0.2f, 1.f);
    if (m->lm_head.owns_w) fill(m->lm_head.w, (size_t)c->vocab_size * c->dim, &r, 0.3f, 0.f);
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        fill(L->rms_att, c->dim, &r, 0.2f, 1.f);
        fill(L->rms_ffn, c->dim, &r, 0.2f, 1.f);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            fill(L->lin[j].w, (size_t)L->lin[j].out * L->lin[j].in, &r, 0.3f, 0.f);
            if (L->lin[j].bias) fill(L->lin[j].bias, L->lin[j].out, &r, 0.3f, 0.f);
        }
    }
}

static int logits_of(const ptq_model *m, float *out) {
    static const int toks[8] = {1, 5, 9, 33, 2, 17, 49, 3};
    ptq_state s;
    ptq_err err;
    if (ptq_state_init(&s, m, 8, &err)) return -1;
    int rc = ptq_forward(m, &s, toks, 8, 0, NULL, 0, &err);
    memcpy(out, s.logits, sizeof(float) * 8 * m->cfg.vocab_size);
    ptq_state_free(&s);
    return rc;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void sub(char *out, const char *name) {
    snprintf(out, 512, "%s/%s", tmpdir, name);
}

/* llama2.c legacy .bin of m (interleaved q/k rows expected by the caller). */
static void write_llama2c(const char *path, const ptq_model *m) {
    const ptq_config *c = &m->cfg;
    FILE *f = fopen(path, "wb");
    int32_t h[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, -c->vocab_size, c->max_seq};
    fwrite(h, 4, 7, f);
    fwrite(m->tok_emb, 4, (size_t)c->vocab_size * c->dim, f);
    for (int l = 0; l < c->n_layers; l++)
        fwrite(m->layers[l].rms_att, 4, c->dim, f);
    int order[] = {PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V, PTQ_LIN_O, -1, PTQ_LIN_GATE, PTQ_LIN_DOWN, PTQ_LIN_UP};
    for (int j = 0; j < 8; j++) {
        if (order[j] < 0) {
            for (int l = 0; l < c->n_layers; l++)
                fwrite(m->layers[l].rms_ffn, 4, c->dim, f);
            continue;
        }
        for (int l = 0; l < c->n_layers; l++) {
            const ptq_linear *li = &m->layers[l].lin[order[j]];
            fwrite(li->w, 4, (size_t)li->out * li->in, f);
        }
    }
    fwrite(m->rms_final, 4, c->dim, f);
    float *fc = calloc((size_t)c->max_seq * c->head_dim, 4);
    fwrite(fc, 4, (size_t)c->max_seq * c->head_dim, f);
    free(fc);
    fwrite(m->lm_head.w, 4, (size_t)c->vocab_size * c->dim, f);
    fclose(f);
}

static void test_roundtrip(void) {
    ptq_config c = tiny_cfg();
    ptq_model a, b;
    ptq_err err;
    random_model(&a, &c);
    size_t nl = 8 * (size_t)c.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    CHECK(logits_of(&a, la) == 0);
    const int dts[3] = {PTQ_ST_F32, PTQ_ST_F16, PTQ_ST_BF16};
    const double tol[3] = {0, 0.05, 0.3};
    for (int k = 0; k < 3; k++) {
        char dir[512];
        sub(dir, k == 0 ? "f32" : k == 1 ? "f16" : "bf16");
        CHECK(ptq_hf_write(dir, &c, &a, dts[k], 1, 0, &err) == 0);
        if (ptq_load_hf(&b, dir, &err)) {
            fprintf(stderr, "load %s: %s\n", dir, err.msg);
            CHECK(0);
            continue;
        }
        CHECK(b.cfg.rope_style == PTQ_ROPE_HALF && b.cfg.dim == c.dim && b.cfg.n_kv_heads == 2);
        /* weights round exactly as the dtype says */
        const float *w = a.layers[1].lin[PTQ_LIN_DOWN].w, *w2 = b.layers[1].lin[PTQ_LIN_DOWN].w;
        int exact = 1;
        for (int i = 0; i < c.dim * c.hidden_dim; i++) {
            float want = k == 0   ? w[i]
                         : k == 1 ? ptq_f16_to_f32(ptq_f32_to_f16(w[i]))
                                  : ptq_bf16_to_f32(ptq_f32_to_bf16(w[i]));
            exact &= want == w2[i];
        }
        CHECK(exact);
        CHECK(logits_of(&b, lb) == 0);
        double d = max_diff(la, lb, nl);
        printf("  %s: max |logit diff| vs fp32 in RAM = %.3g\n", dir, d);
        CHECK(d <= tol[k]);
        ptq_model_free(&b);
    }
    /* sharded (3 shards + index) equals single file */
    char dir[512];
    sub(dir, "sharded");
    CHECK(ptq_hf_write(dir, &c, &a, PTQ_ST_F32, 3, 0, &err) == 0);
    if (ptq_load_hf(&b, dir, &err) == 0) {
        CHECK(logits_of(&b, lb) == 0);
        CHECK(max_diff(la, lb, nl) == 0);
        ptq_model_free(&b);
    } else {
        fprintf(stderr, "sharded: %s\n", err.msg);
        CHECK(0);
    }
    free(la), free(lb);
    ptq_model_free(&a);
}

/* The same model in HF rotate_half layout (safetensors) and in llama2.c's
 * interleaved layout (.bin, q/k rows permuted) gives the same logits. */
static void test_layouts(void) {
    ptq_config c = tiny_cfg();
    c.tied_embeddings = 0;
    ptq_model a, b, l2;
    ptq_err err;
    random_model(&a, &c);
    char dir[512], bin[512];
    sub(dir, "layout_hf");
    sub(bin, "layout.bin");
    CHECK(ptq_hf_write(dir, &c, &a, PTQ_ST_F32, 1, 0, &err) == 0);
    CHECK(ptq_load_hf(&b, dir, &err) == 0);
    CHECK(ptq_model_clone(&l2, &a, &err) == 0);
    for (int l = 0; l < c.n_layers; l++) {
        CHECK(ptq_qk_permute(l2.layers[l].lin[PTQ_LIN_Q].w, c.n_heads, c.head_dim, c.dim, 1, &err) == 0);
        CHECK(ptq_qk_permute(l2.layers[l].lin[PTQ_LIN_K].w, c.n_kv_heads, c.head_dim, c.dim, 1, &err) == 0);
    }
    write_llama2c(bin, &l2);
    ptq_model_free(&l2);
    ptq_model lc;
    if (ptq_load_llama2c(&lc, bin, &err)) {
        fprintf(stderr, "llama2c: %s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK(lc.cfg.rope_style == PTQ_ROPE_INTERLEAVED);
    size_t nl = 8 * (size_t)c.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    CHECK(logits_of(&b, la) == 0 && logits_of(&lc, lb) == 0);
    double d = max_diff(la, lb, nl);
    printf("  HF layout (rotate_half) vs llama2.c layout (interleaved): max |logit diff| = %.3g\n", d);
    CHECK(d < 1e-4);
    /* and the unpermuted weights with interleaved RoPE do differ (the test can fail) */
    lc.cfg.rope_style = PTQ_ROPE_HALF;
    CHECK(logits_of(&lc, lb) == 0);
    CHECK(max_diff(la, lb, nl) > 1e-3);
    /* permute there and back is the identity */
    float w[4 * 8 * 3], w0[4 * 8 * 3];
    for (int i = 0; i < 96; i++)
        w[i] = w0[i] = (float)i;
    CHECK(ptq_qk_permute(w, 4, 8, 3, 1, &err) == 0);
    CHECK(w[0] == w0[0] && w[1 * 3] == w0[4 * 3]); /* interleaved row 1 = HF row half */
    CHECK(ptq_qk_permute(w, 4, 8, 3, 0, &err) == 0);
    CHECK(memcmp(w, w0, sizeof w) == 0);
    free(la), free(lb);
    ptq_model_free(&a), ptq_model_free(&b), ptq_model_free(&lc);
}

/* ---- bad inputs ---- */
static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static void raw_st(const char *path, const char *hdr, size_t data_bytes) {
    size_t hl = strlen(hdr);
    char *buf = calloc(8 + hl + data_bytes, 1);
    uint64_t L = hl;
    memcpy(buf, &L, 8);
    memcpy(buf + 8, hdr, hl);
    write_bytes(path, buf, 8 + hl + data_bytes);
    free(buf);
}

static void expect_st_fail(const char *path, const char *needle) {
    ptq_st st;
    ptq_err err = {""};
    int rc = ptq_st_open(&st, path, &err);
    CHECK(rc == -1);
    if (rc == 0)
        ptq_st_close(&st);
    else if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    }
}

static void expect_load_fail(const char *dir, const char *needle) {
    ptq_model m;
    ptq_err err = {""};
    int rc = ptq_load_hf(&m, dir, &err);
    CHECK(rc == -1);
    if (rc == 0)
        ptq_model_free(&m);
    else if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    } else
        printf("  ok: %s\n", err.msg);
}

static void copy_file(const char *from, const char *to, long cut) {
    char *d;
    size_t n;
    ptq_err err;
    CHECK(ptq_read_file(from, &d, &n, &err) == 0);
    write_bytes(to, d, cut >= 0 && (size_t)cut < n ? (size_t)cut : n);
    free(d);
}

static void test_bad(void) {
    char p[512], dir[512], src[512], dst[512];
    ptq_err err;
    sub(p, "bad.safetensors");
    write_bytes(p, "\x10\0\0", 3);
    expect_st_fail(p, "truncated");
    raw_st(p, "{}", 0);
    uint64_t big = 1ULL << 40;
    FILE *f = fopen(p, "r+b");
    fwrite(&big, 8, 1, f);
    fclose(f);
    expect_st_fail(p, "beyond the file");
    raw_st(p,
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
           24);
    expect_st_fail(p, "overlap");
    raw_st(p, "{\"a\":{\"dtype\":\"F17\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    expect_st_fail(p, "unknown dtype");
    raw_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
    expect_st_fail(p, "beyond the data block");
    raw_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,16]}}", 16);
    expect_st_fail(p, "needs");
    raw_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16);
    expect_st_fail(p, "shape[0]");
    raw_st(p, "[1,2,3]", 0);
    expect_st_fail(p, "not a JSON object");
    raw_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]", 16);
    expect_st_fail(p, "not a JSON object");

    /* directory-level failures start from a good checkpoint */
    ptq_config c = tiny_cfg();
    ptq_model a;
    random_model(&a, &c);
    sub(dir, "good");
    CHECK(ptq_hf_write(dir, &c, &a, PTQ_ST_F32, 1, 0, &err) == 0);
    char bd[512];
    sub(bd, "trunc");
    ptq_mkdir_p(bd, &err);
    snprintf(src, sizeof src, "%s/config.json", dir), snprintf(dst, sizeof dst, "%s/config.json", bd);
    copy_file(src, dst, -1);
    snprintf(src, sizeof src, "%s/model.safetensors", dir), snprintf(dst, sizeof dst, "%s/model.safetensors", bd);
    copy_file(src, dst, 3000);
    expect_load_fail(bd, "beyond the data block");
    /* config/weights mismatch: config says more hidden units */
    ptq_config c2 = c;
    c2.hidden_dim = 64;
    sub(bd, "mismatch");
    CHECK(ptq_hf_write(bd, &c2, NULL, PTQ_ST_F32, 1, 0, &err) == 0);
    snprintf(src, sizeof src, "%s/model.safetensors", dir), snprintf(dst, sizeof dst, "%s/model.safetensors", bd);
    copy_file(src, dst, -1);
    expect_load_fail(bd, "has shape [48, 32], config.json implies [64, 32]");
    /* shapes of other ranks are printed whole: a 1-D norm stored as 2-D, a 2-D weight stored as 1-D */
    const char *reshape[][3] = {{"\"model.norm.weight\"", "[32]", "[2,16]"},
                                {"\"model.layers.0.mlp.down_proj.weight\"", "[32,48]", "[1536]"}};
    const char *want[] = {"has shape [2, 16], config.json implies [32]", "has shape [1536], config.json implies [32, 48]"};
    for (int k = 0; k < 2; k++) {
        sub(bd, k ? "reshape1" : "reshape0");
        CHECK(ptq_hf_write(bd, &c, &a, PTQ_ST_F32, 1, 0, &err) == 0);
        snprintf(dst, sizeof dst, "%s/model.safetensors", bd);
        char *buf;
        size_t len;
        CHECK(ptq_read_file(dst, &buf, &len, &err) == 0);
        uint64_t hl;
        memcpy(&hl, buf, 8);
        char *hdr = strndup(buf + 8, hl), *at = strstr(hdr, reshape[k][0]), *sh = at ? strstr(at, reshape[k][1]) : NULL;
        CHECK(sh != NULL);
        if (sh) {
            size_t pre = (size_t)(sh - hdr), ol = strlen(reshape[k][1]), nl = strlen(reshape[k][2]);
            uint64_t nhl = hl - ol + nl;
            FILE *f = fopen(dst, "wb");
            fwrite(&nhl, 8, 1, f), fwrite(hdr, 1, pre, f), fwrite(reshape[k][2], 1, nl, f);
            fwrite(sh + ol, 1, hl - pre - ol, f), fwrite(buf + 8 + hl, 1, len - 8 - hl, f);
            fclose(f);
            expect_load_fail(bd, want[k]);
        }
        free(hdr), free(buf);
    }
    /* config with fewer layers than the weights */
    ptq_config c3 = c;
    c3.n_layers = 1;
    sub(bd, "layers");
    CHECK(ptq_hf_write(bd, &c3, NULL, PTQ_ST_F32, 1, 0, &err) == 0);
    snprintf(dst, sizeof dst, "%s/model.safetensors", bd);
    copy_file(src, dst, -1);
    expect_load_fail(bd, "unexpected tensor 'model.layers.1");
    /* missing shard */
    sub(bd, "shards");
    CHECK(ptq_hf_write(bd, &c, &a, PTQ_ST_BF16, 2, 0, &err) == 0);
    snprintf(dst, sizeof dst, "%s/model-00002-of-00002.safetensors", bd);
    unlink(dst);
    expect_load_fail(bd, "is missing");
    /* unsupported config values */
    const char *cfgs[][2] = {
        {"{\"model_type\":\"gpt2\",\"hidden_size\":32}", "model_type 'gpt2'"},
        {"{\"model_type\":\"llama\",\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":2,"
         "\"num_attention_heads\":4,\"vocab_size\":50,\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4}}",
         "rope_scaling type 'yarn'"},
        {"{\"model_type\":\"llama\",\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":2,"
         "\"num_attention_heads\":3,\"vocab_size\":50}",
         "not a multiple"},
        {"{\"model_type\":\"llama\",\"hidden_size\":-32}", "hidden_size"},
        {"not json", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        snprintf(dst, sizeof dst, "%s/config.json", dir);
        write_bytes(dst, cfgs[i][0], strlen(cfgs[i][0]));
        expect_load_fail(dir, cfgs[i][1]);
    }
    ptq_model_free(&a);
}

/* Random byte flips in the header of a real file: errors, never a crash. */
static void test_fuzz(void) {
    char src[512], p[512];
    sub(src, "f32/model.safetensors");
    sub(p, "fuzz.safetensors");
    char *d;
    size_t n;
    ptq_err err;
    if (ptq_read_file(src, &d, &n, &err)) {
        CHECK(0);
        return;
    }
    uint64_t hl;
    memcpy(&hl, d, 8);
    ptq_rng r;
    ptq_rng_seed(&r, 3);
    int failures = 0;
    for (int it = 0; it < 300; it++) {
        char *m = malloc(n);
        memcpy(m, d, n);
        for (int k = 0; k < 1 + it % 4; k++) {
            size_t pos = ptq_rng_u64(&r) % (8 + hl);
            m[pos] = (char)(ptq_rng_u64(&r) & 0xff);
        }
        write_bytes(p, m, it % 7 == 0 ? n / 2 : n);
        free(m);
        ptq_st st;
        if (ptq_st_open(&st, p, &err) == 0) {
            float *buf = malloc(sizeof(float) * 4096);
            for (int i = 0; i < st.n_tensors; i++)
                if (ptq_st_numel(&st.tensors[i]) <= 4096) ptq_st_read_f32(&st, &st.tensors[i], buf, &err);
            free(buf);
            ptq_st_close(&st);
        } else
            failures++;
    }
    printf("  fuzz: %d of 300 mutated files rejected, none crashed\n", failures);
    free(d);
}

/* Qwen2 (q/k/v bias implied by model_type) and LLaMA-3.1 rope scaling configs. */
static void test_variants(void) {
    ptq_config c = tiny_cfg();
    c.attn_bias = 1;
    ptq_model a, b;
    ptq_err err;
    random_model(&a, &c);
    char dir[512], cp[600];
    sub(dir, "qwen2");
    CHECK(ptq_hf_write(dir, &c, &a, PTQ_ST_F32, 1, 0, &err) == 0);
    snprintf(cp, sizeof cp, "%s/config.json", dir);
    const char *qwen = "{\"model_type\":\"qwen2\",\"hidden_size\":32,\"intermediate_size\":48,"
                       "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                       "\"vocab_size\":50,\"max_position_embeddings\":16,\"rms_norm_eps\":1e-5,"
                       "\"rope_theta\":1000000.0,\"tie_word_embeddings\":true}";
    FILE *f = fopen(cp, "wb");
    fputs(qwen, f);
    fclose(f);
    if (ptq_load_hf(&b, dir, &err) == 0) {
        CHECK(b.cfg.attn_bias == 1 && b.cfg.rope_theta == 1e6f && b.layers[1].lin[PTQ_LIN_K].bias);
        CHECK(b.layers[1].lin[PTQ_LIN_K].bias[3] == a.layers[1].lin[PTQ_LIN_K].bias[3]);
        ptq_model_free(&b);
    } else {
        fprintf(stderr, "qwen2: %s\n", err.msg);
        CHECK(0);
    }
    const char *l31 = "{\"model_type\":\"llama\",\"hidden_size\":32,\"intermediate_size\":48,"
                      "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                      "\"vocab_size\":50,\"max_position_embeddings\":16,\"attention_bias\":true,"
                      "\"tie_word_embeddings\":true,\"eos_token_id\":[2,7],\"rope_scaling\":{\"rope_type\":\"llama3\","
                      "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                      "\"original_max_position_embeddings\":8}}";
    f = fopen(cp, "wb");
    fputs(l31, f);
    fclose(f);
    if (ptq_load_hf(&b, dir, &err) == 0) {
        CHECK(b.cfg.rope_factor == 8.f && b.cfg.rope_orig_max_pos == 8 && b.cfg.eos_id == 2);
        ptq_model_free(&b);
    } else {
        fprintf(stderr, "llama3.1: %s\n", err.msg);
        CHECK(0);
    }
    ptq_model_free(&a);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ptq_st_test_%d", (int)getpid());
    ptq_err err;
    CHECK(ptq_mkdir_p(tmpdir, &err) == 0);
    /* fp16/bf16 conversions on exact cases */
    CHECK(ptq_f16_to_f32(0x3c00) == 1.f && ptq_f16_to_f32(0xc000) == -2.f &&
          ptq_f16_to_f32(0x0001) == 5.9604644775390625e-8f);
    CHECK(ptq_f32_to_f16(65504.f) == 0x7bff && ptq_f32_to_f16(1.f) == 0x3c00 && ptq_f32_to_f16(1e-8f) == 0);
    CHECK(ptq_bf16_to_f32(0x3f80) == 1.f && ptq_f32_to_bf16(1.00390625f) == 0x3f80); /* tie to even */
    test_roundtrip();
    test_layouts();
    test_variants();
    test_bad();
    test_fuzz();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_done("test_safetensors");
}
