/* gguf_write.c — a quantized model as a GGUF file llama.cpp runs.
 *
 * Each quantized linear is written with the llama.cpp block type that holds
 * its grid exactly, given the groups are whole 32-column blocks (a group of
 * 128 is four blocks sharing one scale): with code c, zero z and scale s,
 *   symmetric, bits <= 4: Q4_0, q = c - z + 8, d = s
 *   symmetric, bits 5:    Q5_0, q = c - z + 16
 *   symmetric, bits <= 8: Q8_0, q = c - z
 *   asymmetric, bits <= 4: Q4_1, q = c, d = s, m = -s z
 *   asymmetric, bits 5:    Q5_1
 *   asymmetric, bits <= 7: Q8_0, q = c - z (fits in int8)
 * The only loss is d (and m) rounded to fp16; it is measured and reported.
 * A linear whose row length is not a multiple of 32, or that carries
 * off-grid entries (SEPTQ), is written as F16 of its dequantized weight, as
 * llama.cpp itself does for such rows. Unquantized tensors are F32.
 * Refused (with the reason): online ops, activation or KV quantization, a
 * low-frequency side branch, act-order groups, 8-bit asymmetric grids.
 *
 * "llama" files hold q/k rows in the adjacent-pair RoPE layout: a model
 * loaded in HF's rotate-half layout has its q/k rows reordered on the way
 * out (llama.cpp's converter does the same); Qwen2 keeps its layout. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"

/* ---- growing byte buffer for the header ---- */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *src, size_t k) {
    if (b->oom) return;
    if (b->n + k > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + k) nc *= 2;
        void *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np, b->cap = nc;
    }
    memcpy(b->p + b->n, src, k);
    b->n += k;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}
static void kv_str(buf *b, const char *k, const char *v) {
    put_str(b, k, strlen(k));
    put_u32(b, PTQ_GGUF_STRING);
    put_str(b, v, strlen(v));
}
static void kv_u32(buf *b, const char *k, uint32_t v) {
    put_str(b, k, strlen(k));
    put_u32(b, PTQ_GGUF_U32);
    put_u32(b, v);
}
static void kv_f32(buf *b, const char *k, float v) {
    put_str(b, k, strlen(k));
    put_u32(b, PTQ_GGUF_F32);
    put(b, &v, 4);
}
static void kv_bool(buf *b, const char *k, int v) {
    unsigned char c = (unsigned char)!!v;
    put_str(b, k, strlen(k));
    put_u32(b, PTQ_GGUF_BOOL);
    put(b, &c, 1);
}

/* ---- what each tensor becomes ---- */
typedef struct {
    char name[64];
    const ptq_linear *lin; /* NULL: a plain fp32 vector/matrix in src (or src16) */
    const float *src;
    const ptq_w16 *src16; /* the embedding resident in 16 bits (src NULL) */
    int64_t ne0, ne1; /* ne1 0: 1-D */
    int type;         /* ggml type */
    int qk_heads;     /* > 0: reorder rows from rotate-half to adjacent pairs, per head of ne0/.. rows */
    uint64_t offset;
    size_t nbytes;
} wtensor;

static int refuse_hooks(const ptq_model *m, ptq_err *err) {
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        const ptq_layer *L = l < m->cfg.n_layers ? &m->layers[l] : NULL;
        for (int i = 0; i < (L ? PTQ_LIN_COUNT : 1); i++) {
            const ptq_linear *li = L ? &L->lin[i] : &m->lm_head;
            char site[64];
            if (L) snprintf(site, sizeof site, "layers.%d.%s", l, ptq_linear_names[i]);
            else snprintf(site, sizeof site, "lm_head");
            if (li->in_op.kind != PTQ_OP_IDENTITY)
                return ptq_fail(err, "%s has an online %s op on its input; llama.cpp cannot run it (only methods "
                                     "whose transforms fuse into the weights export to GGUF)",
                                site, ptq_op_kind_name(li->in_op.kind));
            if (li->aq.bits < 16)
                return ptq_fail(err, "%s quantizes its activations to %d bits; a GGUF holds weights only (export a "
                                     "weight-only bit spec such as W4A16)", site, li->aq.bits);
            if (li->w_side || (li->qw && li->qw->lowfreq.kmax > 0))
                return ptq_fail(err, "%s has a full-precision side branch (SpecQuant low-frequency part) that no "
                                     "GGUF tensor type represents", site);
            if (li->qw && li->qw->gidx)
                return ptq_fail(err, "%s uses act-order groups (a column permutation per group); llama.cpp blocks "
                                     "need consecutive columns: quantize without act-order", site);
            if (li->qw && !li->qw->sym && li->qw->bits == 8)
                return ptq_fail(err, "%s is 8-bit asymmetric: no llama.cpp block type holds that grid exactly "
                                     "(Q8_0 is symmetric; use 8-bit symmetric or <= 7 bits)", site);
        }
        if (L && (L->qk_op.kind != PTQ_OP_IDENTITY || L->resid_op[0].kind != PTQ_OP_IDENTITY ||
                  L->resid_op[1].kind != PTQ_OP_IDENTITY))
            return ptq_fail(err, "layer %d has an online op on Q/K or the residual stream; llama.cpp cannot run it", l);
        if (L && (L->kq.bits < 16 || L->vq.bits < 16))
            return ptq_fail(err, "layer %d quantizes its KV cache (%d/%d bits); a GGUF holds weights only", l,
                            L->kq.bits, L->vq.bits);
    }
    return 0;
}

/* The block type of a linear (see the header comment). */
static int type_of(const ptq_linear *l) {
    const ptq_qweight *q = l->qw;
    if (!q) return PTQ_GGML_F32;
    int g = q->group ? q->group : q->in;
    if (q->in % 32 || g % 32 || q->nnz) return PTQ_GGML_F16;
    if (q->sym) return q->bits <= 4 ? PTQ_GGML_Q4_0 : q->bits == 5 ? PTQ_GGML_Q5_0 : PTQ_GGML_Q8_0;
    return q->bits <= 4 ? PTQ_GGML_Q4_1 : q->bits == 5 ? PTQ_GGML_Q5_1 : PTQ_GGML_Q8_0;
}

/* Source row of output row r: identity, or for q/k of a rotate-half model
 * the row that holds pair element (i, half) of its head. */
static int64_t src_row(const wtensor *t, int64_t r) {
    if (t->qk_heads <= 0) return r;
    int64_t hd = t->ne1 / t->qk_heads, h = r / hd, j = r % hd;
    return h * hd + (j % 2) * (hd / 2) + j / 2;
}

static void put_f16(unsigned char *p, float v) {
    uint16_t h = ptq_ggml_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

/* One row of a quantized linear as blocks; accumulates the squared error
 * the fp16 scales add (against the model's dequantized weight). */
static void encode_row(const ptq_qweight *q, int64_t r, int type, unsigned char *dst, double *e2, double *w2,
                       uint8_t *cbuf) {
    int n = q->in, ng = q->ngroups, gs = q->group ? q->group : q->in;
    const uint8_t *c = ptq_qweight_row_codes(q, (int)r, cbuf);
    int bb = type == PTQ_GGML_Q4_0 ? 18 : type == PTQ_GGML_Q4_1 ? 20 : type == PTQ_GGML_Q5_0 ? 22
             : type == PTQ_GGML_Q5_1 ? 24 : 34;
    for (int b0 = 0; b0 < n; b0 += 32, dst += bb) {
        int gi = PTQ_MIN(b0 / gs, ng - 1);
        float s = q->scale[(size_t)r * ng + gi];
        int z = q->zero[(size_t)r * ng + gi];
        float d = ptq_ggml_fp16_to_fp32(ptq_ggml_fp32_to_fp16(s));
        float mn = ptq_ggml_fp16_to_fp32(ptq_ggml_fp32_to_fp16(-s * (float)z));
        int qv[32];
        for (int j = 0; j < 32; j++) {
            int cj = c[b0 + j];
            float w = s * (float)(cj - z), w16;
            switch (type) {
            case PTQ_GGML_Q4_0: qv[j] = cj - z + 8, w16 = d * (float)(qv[j] - 8); break;
            case PTQ_GGML_Q5_0: qv[j] = cj - z + 16, w16 = d * (float)(qv[j] - 16); break;
            case PTQ_GGML_Q8_0: qv[j] = cj - z, w16 = d * (float)qv[j]; break;
            default: qv[j] = cj, w16 = d * (float)cj + mn; break; /* Q4_1, Q5_1 */
            }
            *e2 += (double)(w16 - w) * (w16 - w);
            *w2 += (double)w * w;
        }
        put_f16(dst, s);
        if (type == PTQ_GGML_Q8_0) {
            for (int j = 0; j < 32; j++) dst[2 + j] = (unsigned char)(int8_t)qv[j];
            continue;
        }
        int asym = type == PTQ_GGML_Q4_1 || type == PTQ_GGML_Q5_1;
        if (asym) put_f16(dst + 2, -s * (float)z);
        unsigned char *qs = dst + 2 + 2 * asym;
        if (type == PTQ_GGML_Q5_0 || type == PTQ_GGML_Q5_1) { /* 5th bits of the 32 values, then nibbles */
            uint32_t qh = 0;
            for (int j = 0; j < 32; j++) qh |= (uint32_t)((qv[j] >> 4) & 1) << j;
            memcpy(qs, &qh, 4);
            qs += 4;
        }
        for (int j = 0; j < 16; j++) qs[j] = (unsigned char)((qv[j] & 15) | (qv[j + 16] & 15) << 4);
    }
}

/* Row r of a tensor in fp32, read from the form the model holds it in
 * (fp32, 16-bit storage, or a qweight alone): no whole-model fp32 copy. */
static const float *row_f32(const wtensor *t, int64_t r, float *buf) {
    const ptq_linear *l = t->lin;
    size_t off = (size_t)r * t->ne0;
    if (l ? !!l->w : !!t->src) return (l ? l->w : t->src) + off;
    const ptq_w16 *w16 = l ? &l->w16 : t->src16;
    if (w16 && w16->w) ptq_w16_row(w16->dtype, w16->w + off, buf, (int)t->ne0);
    else ptq_qweight_dequant_rows(l->qw, (int)r, 1, buf);
    return buf;
}

static int write_tensor(FILE *fp, const wtensor *t, ptq_gguf_write_stats *st, ptq_err *err) {
    unsigned char *out = ptq_calloc(t->nbytes ? t->nbytes : 1, 1, err);
    float *wbuf = ptq_calloc((size_t)t->ne0, sizeof(float), err);
    uint8_t *cbuf = ptq_calloc((size_t)t->ne0, 1, err);
    if (!out || !wbuf || !cbuf) return free(out), free(wbuf), free(cbuf), -1;
    int64_t rows = t->ne1 ? t->ne1 : 1;
    size_t rb = t->nbytes / (size_t)rows;
    double e2 = 0, w2 = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t sr = src_row(t, r);
        unsigned char *dst = out + (size_t)r * rb;
        const float *w = t->type == PTQ_GGML_F32 || t->type == PTQ_GGML_F16 ? row_f32(t, sr, wbuf) : NULL;
        if (t->type == PTQ_GGML_F32)
            memcpy(dst, w, (size_t)t->ne0 * 4);
        else if (t->type == PTQ_GGML_F16)
            for (int64_t j = 0; j < t->ne0; j++) {
                put_f16(dst + 2 * j, w[j]);
                float d = ptq_ggml_fp16_to_fp32(ptq_ggml_fp32_to_fp16(w[j])) - w[j];
                e2 += (double)d * d, w2 += (double)w[j] * w[j];
            }
        else
            encode_row(t->lin->qw, sr, t->type, dst, &e2, &w2, cbuf);
    }
    free(wbuf), free(cbuf);
    if (t->lin && t->lin->qw) {
        st->err2 += e2, st->w2 += w2;
        double rel = w2 > 0 ? sqrt(e2 / w2) : 0;
        if (rel > st->max_rel) st->max_rel = rel, snprintf(st->max_rel_tensor, sizeof st->max_rel_tensor, "%s", t->name);
    }
    int rc = fwrite(out, 1, t->nbytes, fp) == t->nbytes ? 0 : ptq_fail(err, "write failed: %s", strerror(errno));
    free(out);
    return rc;
}

/* ---- tokenizer metadata ---- */
/* llama2.c tokenizer.bin -> "llama" vocabulary (ids 0-2 <unk>, <s>, </s>). */
static int tok_llama2c(buf *b, const ptq_tokenizer *tok, ptq_err *err) {
    char *text;
    size_t len, p = 4;
    if (ptq_read_file(tok->path, &text, &len, err)) return -1;
    buf toks = {0}, scores = {0}, types = {0};
    int n = tok->vocab_size, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        float sc;
        int32_t ln;
        if (p + 8 > len) { rc = ptq_fail(err, "%s: truncated at token %d", tok->path, i); break; }
        memcpy(&sc, text + p, 4);
        memcpy(&ln, text + p + 4, 4);
        if (ln < 0 || p + 8 + (size_t)ln > len) { rc = ptq_fail(err, "%s: bad token %d", tok->path, i); break; }
        const char *piece = text + p + 8;
        p += 8 + (size_t)ln;
        int32_t ty = i == 0 ? 2 : i <= 2 ? 3 : (ln == 6 && !memcmp(piece, "<0x", 3) && piece[5] == '>') ? 6 : 1;
        const char *fixed[3] = {"<unk>", "<s>", "</s>"};
        if (i <= 2) put_str(&toks, fixed[i], strlen(fixed[i]));
        else if (ty == 6) put_str(&toks, piece, (size_t)ln);
        else {
            size_t on;
            char *s = ptq_replace_all(piece, (size_t)ln, " ", "\xe2\x96\x81", &on);
            if (!s) { rc = ptq_fail(err, "out of memory"); break; }
            put_str(&toks, s, on);
            free(s);
        }
        put(&scores, &sc, 4);
        put(&types, &ty, 4);
    }
    free(text);
    if (!rc && (toks.oom || scores.oom || types.oom)) rc = ptq_fail(err, "out of memory");
    if (!rc) {
        kv_str(b, "tokenizer.ggml.model", "llama");
        const char *keys[3] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
        const buf *vals[3] = {&toks, &scores, &types};
        const int et[3] = {PTQ_GGUF_STRING, PTQ_GGUF_F32, PTQ_GGUF_I32};
        for (int k = 0; k < 3; k++) {
            put_str(b, keys[k], strlen(keys[k]));
            put_u32(b, PTQ_GGUF_ARRAY);
            put_u32(b, (uint32_t)et[k]);
            put_u64(b, (uint64_t)n);
            put(b, vals[k]->p, vals[k]->n);
        }
        kv_u32(b, "tokenizer.ggml.bos_token_id", (uint32_t)tok->bos_id);
        kv_u32(b, "tokenizer.ggml.eos_token_id", (uint32_t)tok->eos_id);
        kv_u32(b, "tokenizer.ggml.unknown_token_id", 0);
        kv_bool(b, "tokenizer.ggml.add_bos_token", tok->add_bos);
        kv_bool(b, "tokenizer.ggml.add_space_prefix", 1);
    }
    free(toks.p), free(scores.p), free(types.p);
    return rc ? -1 : 9; /* pairs written */
}

/* A GGUF source: its tokenizer.* pairs copied as they are. Returns the count. */
static int tok_copy(buf *b, const ptq_tokenizer *tok, ptq_err *err) {
    ptq_gguf g;
    if (ptq_gguf_open(&g, tok->path, err)) return -1;
    int n = 0;
    for (int i = 0; i < g.n_kv; i++) {
        const ptq_gguf_kv *kv = &g.kv[i];
        if (strncmp(kv->key, "tokenizer.", 10)) continue;
        put_str(b, kv->key, strlen(kv->key));
        put_u32(b, (uint32_t)kv->type);
        put(b, kv->raw, kv->raw_len);
        n++;
    }
    ptq_gguf_close(&g);
    if (!n) return ptq_fail(err, "%s: the source GGUF has no tokenizer", tok->path);
    return n;
}

/* ---- the file ---- */
int ptq_gguf_save(const char *path, const ptq_model *m, const ptq_tokenizer *tok, ptq_gguf_write_stats *st,
                  ptq_err *err) {
    const ptq_config *c = &m->cfg;
    memset(st, 0, sizeof *st);
    if (refuse_hooks(m, err)) return ptq_wrap(err, "export to GGUF");
    if (c->rope_factor > 0) return ptq_fail(err, "export to GGUF: llama3 RoPE scaling is not written (not supported)");
    int qwen = c->attn_bias;
    if (qwen && c->rope_style != PTQ_ROPE_HALF)
        return ptq_fail(err, "export to GGUF: a model with q/k/v biases is written as qwen2, which needs HF's RoPE layout");
    int permute = !qwen && c->rope_style == PTQ_ROPE_HALF;
    int nt_max = 3 + c->n_layers * (PTQ_LIN_COUNT + 5);
    wtensor *t = ptq_calloc((size_t)nt_max, sizeof *t, err);
    if (!t) return -1;
    int nt = 0;
    t[nt++] = (wtensor){"token_embd.weight", NULL, m->tok_emb, &m->emb16, c->dim, c->vocab_size, PTQ_GGML_F32, 0, 0, 0};
    static const char *const ln[PTQ_LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                  "ffn_gate", "ffn_up", "ffn_down"};
    for (int l = 0; l < c->n_layers; l++) {
        const ptq_layer *L = &m->layers[l];
        wtensor *w = &t[nt++];
        *w = (wtensor){"", NULL, L->rms_att, NULL, c->dim, 0, PTQ_GGML_F32, 0, 0, 0};
        snprintf(w->name, sizeof w->name, "blk.%d.attn_norm.weight", l);
        for (int i = 0; i < PTQ_LIN_COUNT; i++) {
            const ptq_linear *li = &L->lin[i];
            w = &t[nt++];
            *w = (wtensor){"", li, NULL, NULL, li->in, li->out, type_of(li), 0, 0, 0};
            if (permute && i <= PTQ_LIN_K) w->qk_heads = i == PTQ_LIN_Q ? c->n_heads : c->n_kv_heads;
            snprintf(w->name, sizeof w->name, "blk.%d.%s.weight", l, ln[i]);
            if (w->type == PTQ_GGML_F16 && li->qw) st->f16_linears++;
            if (li->qw) st->quantized++;
            st->linears++;
            if (i < 3 && li->bias) {
                w = &t[nt++];
                *w = (wtensor){"", NULL, li->bias, NULL, li->out, 0, PTQ_GGML_F32, 0, 0, 0};
                snprintf(w->name, sizeof w->name, "blk.%d.%s.bias", l, ln[i]);
            }
        }
        w = &t[nt++];
        *w = (wtensor){"", NULL, L->rms_ffn, NULL, c->dim, 0, PTQ_GGML_F32, 0, 0, 0};
        snprintf(w->name, sizeof w->name, "blk.%d.ffn_norm.weight", l);
    }
    t[nt++] = (wtensor){"output_norm.weight", NULL, m->rms_final, NULL, c->dim, 0, PTQ_GGML_F32, 0, 0, 0};
    if (m->lm_head.owns_w || m->lm_head.qw) {
        t[nt] = (wtensor){"output.weight", &m->lm_head, NULL, NULL, c->dim, c->vocab_size, type_of(&m->lm_head), 0, 0, 0};
        if (m->lm_head.qw) st->quantized++;
        st->linears++;
        nt++;
    }
    /* header */
    buf b = {0};
    const char *arch = qwen ? "qwen2" : "llama";
    char k[96];
    int nkv = 0;
    buf kvb = {0};
    kv_str(&kvb, "general.architecture", arch), nkv++;
    kv_str(&kvb, "general.name", m->name[0] ? m->name : "ptqbench export"), nkv++;
    kv_u32(&kvb, "general.alignment", 32), nkv++;
    struct { const char *key; uint32_t v; } u[] = {
        {"context_length", (uint32_t)c->max_seq}, {"embedding_length", (uint32_t)c->dim},
        {"block_count", (uint32_t)c->n_layers}, {"feed_forward_length", (uint32_t)c->hidden_dim},
        {"attention.head_count", (uint32_t)c->n_heads}, {"attention.head_count_kv", (uint32_t)c->n_kv_heads},
        {"attention.key_length", (uint32_t)c->head_dim}, {"attention.value_length", (uint32_t)c->head_dim},
        {"rope.dimension_count", (uint32_t)c->head_dim}, {"vocab_size", (uint32_t)c->vocab_size}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++, nkv++) {
        snprintf(k, sizeof k, "%s.%s", arch, u[i].key);
        kv_u32(&kvb, k, u[i].v);
    }
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    kv_f32(&kvb, k, c->norm_eps), nkv++;
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    kv_f32(&kvb, k, c->rope_theta), nkv++;
    int ntok = -1;
    if (!strcmp(tok->kind, "llama2c")) ntok = tok_llama2c(&kvb, tok, err);
    else if (!strncmp(tok->kind, "gguf-", 5)) ntok = tok_copy(&kvb, tok, err);
    else ptq_fail(err, "export to GGUF: a %s tokenizer cannot be embedded yet (a llama2.c tokenizer.bin or a GGUF "
                       "source model's tokenizer can); convert the model to GGUF first", tok->kind);
    int rc = -1;
    FILE *fp = NULL;
    if (ntok < 0) goto done;
    nkv += ntok;
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, (uint64_t)nt);
    put_u64(&b, (uint64_t)nkv);
    put(&b, kvb.p, kvb.n);
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        long rb = ptq_ggml_row_bytes(t[i].type, (long)t[i].ne0, err);
        if (rb < 0) goto done;
        t[i].nbytes = (size_t)rb * (size_t)(t[i].ne1 ? t[i].ne1 : 1);
        t[i].offset = off;
        off += (t[i].nbytes + 31) / 32 * 32;
        put_str(&b, t[i].name, strlen(t[i].name));
        put_u32(&b, t[i].ne1 ? 2 : 1);
        put_u64(&b, (uint64_t)t[i].ne0);
        if (t[i].ne1) put_u64(&b, (uint64_t)t[i].ne1);
        put_u32(&b, (uint32_t)t[i].type);
        put_u64(&b, t[i].offset);
    }
    static const unsigned char zeros[32];
    put(&b, zeros, (32 - b.n % 32) % 32);
    if (b.oom || kvb.oom) {
        ptq_fail(err, "out of memory");
        goto done;
    }
    if (!(fp = fopen(path, "wb"))) {
        ptq_fail(err, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    if (fwrite(b.p, 1, b.n, fp) != b.n) {
        ptq_fail(err, "%s: write failed: %s", path, strerror(errno));
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        if (write_tensor(fp, &t[i], st, err)) goto done;
        if (fwrite(zeros, 1, (32 - t[i].nbytes % 32) % 32, fp) != (32 - t[i].nbytes % 32) % 32) goto done;
        st->type_count[t[i].type]++;
    }
    st->bytes = (long)(b.n + off);
    st->scale_rel_err = st->w2 > 0 ? sqrt(st->err2 / st->w2) : 0;
    rc = 0;
done:
    if (fp && fclose(fp) && !rc) rc = ptq_fail(err, "%s: write failed: %s", path, strerror(errno));
    if (rc && fp) remove(path);
    free(b.p);
    free(kvb.p);
    free(t);
    return rc;
}
