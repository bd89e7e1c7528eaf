/* test_gguf.c — GGUF files written by the test (ptq_gguf_save):
 *  - stories260K as F32 GGUF: the same logits as the llama2.c original, and
 *    the embedded tokenizer gives llama2.c's ids on sample text;
 *  - an HF-layout (rotate-half) model written as "llama" (q/k rows
 *    reordered) gives the same logits as before;
 *  - RTN grids written as Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 read back as
 *    fp16(scale) * (code - zero): the only change is the scale's rounding;
 *  - methods the format cannot hold are refused with the reason;
 *  - bad files (truncated, misaligned, wrong value type, wrong count, huge
 *    dimension, unknown architecture, unreadable and unknown tensor types,
 *    bad magic/version/alignment): an error naming the key or tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "model_open.h"
#include "testutil.h"
#include "wquant.h"

static char tmp[256];

static int logits_of(const ptq_model *m, const int *toks, int T, float *out) {
    ptq_state s;
    ptq_err err;
    if (ptq_state_init(&s, m, T, &err)) return -1;
    int rc = ptq_forward(m, &s, toks, T, 0, NULL, 0, &err);
    memcpy(out, s.logits, sizeof(float) * T * m->cfg.vocab_size);
    ptq_state_free(&s);
    return rc;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static unsigned char *slurp(const char *path, size_t *n) {
    char *text;
    ptq_err err;
    if (ptq_read_file(path, &text, n, &err)) return NULL;
    return (unsigned char *)text;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n);
    if (f) fclose(f);
}

/* stories260K -> GGUF (F32) -> the same logits and tokenizer ids. */
static void test_stories(const char *gguf) {
    ptq_model a, b;
    ptq_tokenizer *ta, *tb;
    ptq_err err;
    if (ptq_open_model("stories260K", NULL, &a, &ta, &err)) {
        printf("SKIP stories260K: %s\n", err.msg);
        return;
    }
    ptq_gguf_write_stats st;
    CHECK(ptq_gguf_save(gguf, &a, ta, &st, &err) == 0);
    CHECK(st.quantized == 0 && st.linears == 5 * PTQ_LIN_COUNT); /* tied: no output.weight */
    int rc = ptq_open_model(gguf, NULL, &b, &tb, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(b.cfg.rope_style == PTQ_ROPE_INTERLEAVED && b.cfg.dim == a.cfg.dim && b.cfg.n_kv_heads == a.cfg.n_kv_heads);
    CHECK(b.cfg.vocab_size == a.cfg.vocab_size && b.cfg.max_seq == a.cfg.max_seq);
    CHECK(!strcmp(tb->kind, "gguf-llama") && tb->bos_id == ta->bos_id && tb->eos_id == ta->eos_id);
    int toks[12] = {1, 410, 13, 13, 410, 64, 410, 461, 414, 430, 285, 413};
    size_t nl = 12 * (size_t)a.cfg.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    CHECK(logits_of(&a, toks, 12, la) == 0 && logits_of(&b, toks, 12, lb) == 0);
    CHECK(max_diff(la, lb, nl) == 0);
    const char *texts[] = {"Once upon a time, there was a little girl named Lily.",
                           "  Two spaces, digits 12345, tabs\tand\nnewlines; punctuation!? \"quoted\" (paren)",
                           "Unicode: café, naïve, 日本語, emoji \xf0\x9f\x98\x80 and bytes", "", "a"};
    for (int i = 0; i < 5; i++) {
        int *ia, *ib, na, nb;
        CHECK(ta->encode(ta, texts[i], strlen(texts[i]), 1, 0, &ia, &na, &err) == 0);
        CHECK(tb->encode(tb, texts[i], strlen(texts[i]), 1, 0, &ib, &nb, &err) == 0);
        CHECK(na == nb && !memcmp(ia, ib, sizeof(int) * na));
        char x[64], y[64];
        for (int k = 1; k < na && k < nb; k++) { /* decoding agrees outside the control tokens */
            ta->decode(ta, ia[k - 1], ia[k], x, sizeof x);
            tb->decode(tb, ib[k - 1], ib[k], y, sizeof y);
            CHECK(!strcmp(x, y));
        }
        free(ia), free(ib);
    }
    /* export again from the GGUF model: the tokenizer pairs are copied */
    char g2[300];
    snprintf(g2, sizeof g2, "%s/again.gguf", tmp);
    CHECK(ptq_gguf_save(g2, &b, tb, &st, &err) == 0);
    ptq_gguf g1, g2b; /* the tokenizer pairs of both files are byte for byte the same */
    CHECK(ptq_gguf_open(&g1, gguf, &err) == 0 && ptq_gguf_open(&g2b, g2, &err) == 0);
    int same = 0;
    for (int i = 0; i < g1.n_kv; i++) {
        const ptq_gguf_kv *k1 = &g1.kv[i], *k2 = ptq_gguf_kv_find(&g2b, k1->key);
        if (strncmp(k1->key, "tokenizer.", 10)) continue;
        same += k2 && k2->raw_len == k1->raw_len && !memcmp(k1->raw, k2->raw, k1->raw_len);
        CHECK(k2 && k2->raw_len == k1->raw_len && !memcmp(k1->raw, k2->raw, k1->raw_len));
    }
    CHECK(same == 9);
    ptq_gguf_close(&g1), ptq_gguf_close(&g2b);
    free(la), free(lb);
    ptq_tokenizer_free(ta), ptq_tokenizer_free(tb);
    ptq_model_free(&a), ptq_model_free(&b);
}

static ptq_config tiny_cfg(int rope_style) {
    ptq_config c = {0};
    c.dim = 64, c.hidden_dim = 96, c.n_layers = 1, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 512;
    c.max_seq = 32, c.head_dim = 16, c.rope_theta = 10000.f, c.norm_eps = 1e-5f, c.rope_style = rope_style;
    c.bos_id = 1, c.eos_id = 2, c.tied_embeddings = 1;
    return c;
}

static void random_model(ptq_model *m, const ptq_config *c, uint64_t seed) {
    ptq_err err;
    CHECK(ptq_model_alloc(m, c, &err) == 0);
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    size_t ne = (size_t)c->vocab_size * c->dim;
    for (size_t i = 0; i < ne; i++) m->tok_emb[i] = (float)ptq_rng_normal(&r) * 0.5f;
    for (int i = 0; i < c->dim; i++) m->rms_final[i] = 1.f + 0.1f * (float)ptq_rng_normal(&r);
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        for (int i = 0; i < c->dim; i++)
            L->rms_att[i] = 1.f + 0.1f * (float)ptq_rng_normal(&r), L->rms_ffn[i] = 1.f + 0.1f * (float)ptq_rng_normal(&r);
        for (int k = 0; k < PTQ_LIN_COUNT; k++)
            for (size_t i = 0; i < (size_t)L->lin[k].out * L->lin[k].in; i++)
                L->lin[k].w[i] = (float)ptq_rng_normal(&r) * 0.15f;
    }
}

/* A tokenizer for the tiny models: stories260K's tok512.bin (vocab 512). */
static ptq_tokenizer *tok512(void) {
    const char *p = tu_asset("models/stories260K/tok512.bin");
    ptq_tokenizer *t = NULL;
    ptq_err err;
    if (!p || ptq_tokenizer_open(p, 512, &t, &err)) return NULL;
    return t;
}

/* HF rotate-half layout written as llama: q/k rows reordered, same logits. */
static void test_rope_layout(ptq_tokenizer *tok) {
    ptq_config c = tiny_cfg(PTQ_ROPE_HALF);
    ptq_model a, b;
    ptq_err err;
    random_model(&a, &c, 3);
    char p[300];
    snprintf(p, sizeof p, "%s/half.gguf", tmp);
    ptq_gguf_write_stats st;
    CHECK(ptq_gguf_save(p, &a, tok, &st, &err) == 0);
    CHECK(ptq_load_gguf(&b, p, NULL, &err) == 0);
    CHECK(b.cfg.rope_style == PTQ_ROPE_INTERLEAVED && b.cfg.tied_embeddings);
    int toks[10] = {1, 5, 9, 300, 7, 7, 100, 2, 44, 511};
    size_t nl = 10 * (size_t)c.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    CHECK(logits_of(&a, toks, 10, la) == 0 && logits_of(&b, toks, 10, lb) == 0);
    CHECK(max_diff(la, lb, nl) < 1e-4);
    CHECK(max_diff(a.layers[0].lin[PTQ_LIN_Q].w, b.layers[0].lin[PTQ_LIN_Q].w, 64 * 64) > 1e-3); /* rows moved */
    free(la), free(lb);
    ptq_model_free(&a), ptq_model_free(&b);
}

/* RTN grids -> block types -> read back = fp16(scale) * (code - zero). */
static void test_block_types(ptq_tokenizer *tok) {
    struct {
        int bits, sym, group, type;
    } cases[] = {{4, 1, 32, PTQ_GGML_Q4_0}, {4, 0, 64, PTQ_GGML_Q4_1}, {5, 1, 32, PTQ_GGML_Q5_0},
                 {5, 0, 32, PTQ_GGML_Q5_1}, {8, 1, 0, PTQ_GGML_Q8_0},  {3, 1, 32, PTQ_GGML_Q4_0},
                 {6, 0, 32, PTQ_GGML_Q8_0}, {2, 0, 32, PTQ_GGML_Q4_1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ptq_config c = tiny_cfg(PTQ_ROPE_INTERLEAVED);
        ptq_model a, b;
        ptq_err err;
        random_model(&a, &c, 11 + k);
        ptq_wq_opts o = ptq_wq_default(cases[k].bits, cases[k].sym);
        o.group = cases[k].group;
        for (int l = 0; l < c.n_layers; l++) CHECK(ptq_wq_layer(&a, l, &o, &err) == 0);
        char p[300];
        snprintf(p, sizeof p, "%s/q%zu.gguf", tmp, k);
        ptq_gguf_write_stats st;
        CHECK(ptq_gguf_save(p, &a, tok, &st, &err) == 0);
        CHECK(st.quantized == PTQ_LIN_COUNT && st.f16_linears == 0);
        CHECK(st.type_count[cases[k].type] == PTQ_LIN_COUNT);
        CHECK(st.scale_rel_err > 0 && st.scale_rel_err < 2e-3);
        CHECK(ptq_load_gguf(&b, p, NULL, &err) == 0);
        double worst = 0;
        for (int i = 0; i < PTQ_LIN_COUNT; i++) {
            const ptq_linear *la = &a.layers[0].lin[i], *lb = &b.layers[0].lin[i];
            const ptq_qweight *q = la->qw;
            for (int r = 0; r < la->out; r++)
                for (int j = 0; j < la->in; j++) {
                    int g = ptq_qweight_group_of(q, j);
                    float s = q->scale[(size_t)r * q->ngroups + g];
                    int z = q->zero[(size_t)r * q->ngroups + g], cj = q->codes[(size_t)r * la->in + j];
                    float d = ptq_ggml_fp16_to_fp32(ptq_ggml_fp32_to_fp16(s));
                    float want = cases[k].sym || cases[k].type == PTQ_GGML_Q8_0
                                     ? d * (float)(cj - z)
                                     : d * (float)cj + ptq_ggml_fp16_to_fp32(ptq_ggml_fp32_to_fp16(-s * (float)z));
                    worst = fmax(worst, fabs(lb->w[(size_t)r * la->in + j] - want));
                }
        }
        if (worst != 0) fprintf(stderr, "case %zu (W%d sym %d g%d): worst %g\n", k, cases[k].bits, cases[k].sym,
                                cases[k].group, worst);
        CHECK(worst == 0);
        ptq_model_free(&a), ptq_model_free(&b);
    }
    /* refusals: activation quantization, act-order, 8-bit asymmetric */
    ptq_config c = tiny_cfg(PTQ_ROPE_INTERLEAVED);
    ptq_model a;
    ptq_err err;
    random_model(&a, &c, 5);
    ptq_wq_opts o = ptq_wq_default(8, 0);
    CHECK(ptq_wq_layer(&a, 0, &o, &err) == 0);
    char p[300];
    snprintf(p, sizeof p, "%s/refused.gguf", tmp);
    ptq_gguf_write_stats st;
    CHECK(ptq_gguf_save(p, &a, tok, &st, &err) != 0 && strstr(err.msg, "8-bit asymmetric") &&
          strstr(err.msg, "layers.0.q_proj"));
    a.layers[0].lin[PTQ_LIN_UP].aq.bits = 8;
    o = ptq_wq_default(4, 1);
    CHECK(ptq_wq_layer(&a, 0, &o, &err) == 0);
    CHECK(ptq_gguf_save(p, &a, tok, &st, &err) != 0 && strstr(err.msg, "up_proj quantizes its activations"));
    CHECK(access(p, F_OK) != 0);
    ptq_model_free(&a);
}

/* ---- bad files: a valid file, one field changed ---- */
static unsigned char *base;
static size_t base_n;

static size_t tensor_info_at(const char *name) { /* offset of the u32 n_dims after the name */
    size_t ln = strlen(name);
    for (size_t i = 0; i + 8 + ln < base_n; i++) {
        uint64_t l;
        memcpy(&l, base + i, 8);
        if (l == ln && !memcmp(base + i + 8, name, ln)) return i + 8 + ln;
    }
    return 0;
}
static size_t kv_value_at(const char *key) { /* offset of the u32 value type after the key */
    return tensor_info_at(key);
}

static void expect(const unsigned char *b, size_t n, const char *what, const char *s1, const char *s2) {
    char p[300];
    snprintf(p, sizeof p, "%s/bad.gguf", tmp);
    spit(p, b, n);
    ptq_model m;
    ptq_err err;
    ptq_tokenizer *t = NULL;
    int rc = ptq_open_model(p, NULL, &m, &t, &err);
    CHECK(rc != 0);
    if (rc == 0) {
        ptq_model_free(&m), ptq_tokenizer_free(t);
        fprintf(stderr, "%s: loaded\n", what);
        return;
    }
    int ok = strstr(err.msg, s1) && (!s2 || strstr(err.msg, s2));
    if (!ok) fprintf(stderr, "%s: message '%s' lacks '%s'/'%s'\n", what, err.msg, s1, s2 ? s2 : "");
    CHECK(ok);
}

static void mutate_u32(size_t at, uint32_t v, const char *what, const char *s1, const char *s2) {
    unsigned char *b = malloc(base_n);
    memcpy(b, base, base_n);
    memcpy(b + at, &v, 4);
    expect(b, base_n, what, s1, s2);
    free(b);
}
static void mutate_u64(size_t at, uint64_t v, const char *what, const char *s1, const char *s2) {
    unsigned char *b = malloc(base_n);
    memcpy(b, base, base_n);
    memcpy(b + at, &v, 8);
    expect(b, base_n, what, s1, s2);
    free(b);
}

static void test_bad_files(const char *good) {
    base = slurp(good, &base_n);
    CHECK(base != NULL);
    if (!base) return;
    ptq_gguf g;
    ptq_err err;
    CHECK(ptq_gguf_open(&g, good, &err) == 0);
    const ptq_gguf_tensor *last = &g.tensors[g.n_tensors - 1];
    size_t cut = g.data_off + last->offset + last->nbytes / 2;
    char lastname[64];
    snprintf(lastname, sizeof lastname, "'%s'", last->name);
    ptq_gguf_close(&g);

    expect(base, cut, "truncated data", lastname, "past its end");
    expect(base, 100, "truncated header", "metadata count", "cannot fit");
    expect(base, 6000, "truncated in the tokens", "truncated", "tokenizer.ggml.tokens");
    size_t q = tensor_info_at("blk.0.attn_q.weight");
    CHECK(q > 0);
    /* n_dims u32, ne0 u64, ne1 u64, type u32, offset u64 */
    mutate_u64(q + 4 + 16 + 4, 0, "offset", "'blk.0.attn_q.weight'", "overlap"); /* onto token_embd */
    uint64_t off;
    memcpy(&off, base + q + 24, 8);
    mutate_u64(q + 24, off + 4, "misaligned", "'blk.0.attn_q.weight'", "not a multiple of the alignment");
    mutate_u64(q + 12, 63, "wrong count", "'blk.0.attn_q.weight'", "shape");
    mutate_u64(q + 12, 1ULL << 41, "huge dimension", "'blk.0.attn_q.weight'", "dimension 1");
    mutate_u64(q + 12, 1ULL << 38, "huge size", "'blk.0.attn_q.weight'", "past its end");
    mutate_u32(q, 7, "n_dims", "'blk.0.attn_q.weight'", "7 dimensions");
    mutate_u32(q + 20, 26, "unreadable type", "'blk.0.attn_q.weight' has type I32", "cannot read");
    mutate_u32(q + 20, 99, "unknown type", "'blk.0.attn_q.weight'", "unknown ggml type 99");
    mutate_u32(q + 20, PTQ_GGML_Q4_K, "block mismatch", "'blk.0.attn_q.weight'", "not a multiple of Q4_K's block");
    size_t bc = kv_value_at("llama.block_count");
    mutate_u32(bc, PTQ_GGUF_F32, "wrong value type", "'llama.block_count'", "expected an integer");
    mutate_u32(bc, 77, "unknown value type", "'llama.block_count'", "unknown value type 77");
    mutate_u32(bc + 4, 2000, "block count", "'llama.block_count'", "expected 1..1024");
    mutate_u32(bc + 4, 2, "fewer layers than tensors", "unexpected tensor 'blk.2.", NULL);
    mutate_u32(bc + 4, 6, "more layers than tensors", "'blk.5.", "missing");
    size_t ar = kv_value_at("general.architecture");
    unsigned char *b = malloc(base_n);
    memcpy(b, base, base_n);
    memcpy(b + ar + 4 + 8, "gptnx", 5);
    expect(b, base_n, "unknown architecture", "general.architecture 'gptnx'", "not supported");
    free(b);
    size_t al = kv_value_at("general.alignment");
    mutate_u32(al + 4, 24, "alignment", "'general.alignment'", "power of two");
    size_t sc = kv_value_at("tokenizer.ggml.scores");
    mutate_u32(sc + 4, PTQ_GGUF_I32, "array type", "'tokenizer.ggml.scores'", "array of f32");
    mutate_u64(sc + 8, 1ULL << 60, "array count", "'tokenizer.ggml.scores'", "past the end");
    size_t st = kv_value_at("tokenizer.ggml.tokens");
    mutate_u64(st + 8, 1ULL << 40, "string array count", "'tokenizer.ggml.tokens'", "past the end");
    mutate_u64(st + 16, 1ULL << 40, "string length", "tokenizer.ggml.tokens", "element 0");
    mutate_u64(8, 1ULL << 40, "tensor count", "tensor count", "cannot fit");
    mutate_u64(16, 1ULL << 40, "kv count", "metadata count", "cannot fit");
    mutate_u32(4, 1, "version", "version 1", NULL);
    CHECK(ptq_gguf_open_mem(&g, "GGUE\3\0\0\0", 8, "mem", &err) != 0 && strstr(err.msg, "not a GGUF file"));
    CHECK(ptq_gguf_open_mem(&g, "GGUF\0\0\0\3", 8, "mem", &err) != 0 && strstr(err.msg, "big-endian"));
    free(base);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/ptq_test_gguf_%d", (int)getpid());
    ptq_err err;
    CHECK(ptq_mkdir_p(tmp, &err) == 0);
    char gguf[300];
    snprintf(gguf, sizeof gguf, "%s/stories260K.gguf", tmp);
    ptq_tokenizer *tok = tok512();
    if (!tok) {
        printf("SKIP: no data root (stories260K tok512.bin)\n");
        return tu_done("test_gguf");
    }
    test_stories(gguf);
    test_rope_layout(tok);
    test_block_types(tok);
    test_bad_files(gguf);
    ptq_tokenizer_free(tok);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return tu_done("test_gguf");
}
