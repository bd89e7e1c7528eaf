/* model.c — model allocation, cloning and the llama2.c checkpoint loader. */
#include "model.h"
#include "ggml_types.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const ptq_linear_names[PTQ_LIN_COUNT] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                     "gate_proj", "up_proj", "down_proj"};

/* Limits that keep a corrupt header from asking for absurd allocations. */
#define PTQ_MAX_DIM (1 << 16)
#define PTQ_MAX_LAYERS 1024
#define PTQ_MAX_VOCAB (1 << 20)
#define PTQ_MAX_SEQ (1 << 20)

int ptq_config_check(const ptq_config *c, const char *where, ptq_err *err) {
    struct {
        const char *name;
        int v, max;
    } f[] = {{"dim", c->dim, PTQ_MAX_DIM},           {"hidden_dim", c->hidden_dim, 4 * PTQ_MAX_DIM},
             {"n_layers", c->n_layers, PTQ_MAX_LAYERS}, {"n_heads", c->n_heads, 4096},
             {"n_kv_heads", c->n_kv_heads, 4096},     {"vocab_size", c->vocab_size, PTQ_MAX_VOCAB},
             {"max_seq", c->max_seq, PTQ_MAX_SEQ},    {"head_dim", c->head_dim, PTQ_MAX_DIM}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v <= 0 || f[i].v > f[i].max)
            return ptq_fail(err, "%s: %s = %d, expected 1..%d", where, f[i].name, f[i].v, f[i].max);
    if (c->n_heads % c->n_kv_heads != 0)
        return ptq_fail(err, "%s: n_heads (%d) must be a multiple of n_kv_heads (%d)", where, c->n_heads,
                        c->n_kv_heads);
    if (c->head_dim % 2 != 0) return ptq_fail(err, "%s: head_dim (%d) must be even for RoPE", where, c->head_dim);
    if (!(c->norm_eps > 0.f) || !(c->rope_theta > 0.f))
        return ptq_fail(err, "%s: norm_eps and rope_theta must be positive", where);
    return 0;
}

/* w16: 0 for an fp32 weight, else the PTQ_W16_* dtype of 16-bit storage. */
static int linear_alloc(ptq_linear *l, int out, int in, int bias, int w16, ptq_err *err) {
    memset(l, 0, sizeof *l);
    l->out = out;
    l->in = in;
    l->aq.bits = 16;
    l->aq.clip = 1.f;
    l->owns_w = 1;
    if (w16) {
        l->w16 = (ptq_w16){ptq_calloc((size_t)out * in, sizeof(uint16_t), err), w16, in};
        if (!l->w16.w) return -1;
    } else if (!(l->w = ptq_calloc((size_t)out * in, sizeof(float), err)))
        return -1;
    if (bias && !(l->bias = ptq_calloc(out, sizeof(float), err))) return -1;
    return 0;
}

static void linear_free(ptq_linear *l) {
    if (l->owns_w) free(l->w), free((void *)l->w16.w);
    free(l->bias);
    free(l->w_side);
    ptq_online_op_clear(&l->in_op);
    ptq_qweight_free(l->qw);
    memset(l, 0, sizeof *l);
}

int ptq_linear_refresh(ptq_linear *l, ptq_err *err) {
    const ptq_qweight *qw = l->qw;
    if (!qw) return 0;
    if (qw->out != l->out || qw->in != l->in)
        return ptq_fail(err, "a %d x %d quantized weight on a %d x %d linear", qw->out, qw->in, l->out, l->in);
    if (!l->owns_w) return ptq_fail(err, "the linear shares its weight (tied lm_head): untie it before quantizing");
    if (!l->w && !(l->w = ptq_calloc((size_t)l->out * l->in, sizeof(float), err))) return -1;
    free((void *)l->w16.w), l->w16.w = NULL;
    ptq_qweight_dequant(qw, l->w);
    if (qw->lowfreq.kmax > 0) {
        if (!l->w_side && !(l->w_side = ptq_calloc((size_t)l->out * l->in, sizeof(float), err))) return -1;
        return ptq_spectral_branch_dense(&qw->lowfreq, l->w_side, err);
    }
    return 0;
}

int ptq_linear_set_qweight(ptq_linear *l, ptq_qweight *qw, ptq_err *err) {
    if (l->qw != qw) ptq_qweight_free(l->qw);
    l->qw = qw;
    if (ptq_linear_refresh(l, err)) {
        ptq_qweight_free(l->qw);
        l->qw = NULL;
        return -1;
    }
    return 0;
}

void ptq_rope_tables(const ptq_config *c, int n, float *cos_t, float *sin_t) {
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* fp32 like llama2.c's run.c so greedy samples match it bit for bit */
        float ffreq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
        if (c->rope_factor > 0.f) { /* LLaMA-3.1 frequency-dependent scaling */
            double freq = ffreq;
            double lo_wl = c->rope_orig_max_pos / c->rope_low_freq_factor;
            double hi_wl = c->rope_orig_max_pos / c->rope_high_freq_factor;
            double wl = 2.0 * M_PI / freq;
            if (wl > lo_wl) freq /= c->rope_factor;
            else if (wl >= hi_wl) {
                double smooth = (c->rope_orig_max_pos / wl - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                freq = (1 - smooth) * freq / c->rope_factor + smooth * freq;
            }
            ffreq = (float)freq;
        }
        for (int p = 0; p < n; p++) {
            float val = (float)p * ffreq;
            cos_t[(size_t)p * half + i] = cosf(val);
            sin_t[(size_t)p * half + i] = sinf(val);
        }
    }
}

static int model_alloc(ptq_model *m, const ptq_config *cfg, int w16, ptq_err *err) {
    memset(m, 0, sizeof *m);
    if (ptq_config_check(cfg, "model config", err)) return -1;
    m->cfg = *cfg;
    const ptq_config *c = &m->cfg;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    size_t nemb = (size_t)c->vocab_size * c->dim;
    if (w16) {
        m->emb16 = (ptq_w16){ptq_calloc(nemb, sizeof(uint16_t), err), w16, c->dim};
        if (!m->emb16.w) goto fail;
    } else if (!(m->tok_emb = ptq_calloc(nemb, sizeof(float), err)))
        goto fail;
    if (!(m->rms_final = ptq_calloc(c->dim, sizeof(float), err))) goto fail;
    if (!(m->layers = ptq_calloc(c->n_layers, sizeof(ptq_layer), err))) goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        if (!(L->rms_att = ptq_calloc(c->dim, sizeof(float), err))) goto fail;
        if (!(L->rms_ffn = ptq_calloc(c->dim, sizeof(float), err))) goto fail;
        int shapes[PTQ_LIN_COUNT][3] = {{qd, c->dim, c->attn_bias},       {kvd, c->dim, c->attn_bias},
                                        {kvd, c->dim, c->attn_bias},      {c->dim, qd, 0},
                                        {c->hidden_dim, c->dim, 0},       {c->hidden_dim, c->dim, 0},
                                        {c->dim, c->hidden_dim, 0}};
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            if (linear_alloc(&L->lin[j], shapes[j][0], shapes[j][1], shapes[j][2], w16, err)) goto fail;
        L->kq = L->vq = (ptq_act_qspec){16, 0, 1.f, 0};
    }
    memset(&m->lm_head, 0, sizeof m->lm_head);
    m->lm_head.out = c->vocab_size;
    m->lm_head.in = c->dim;
    m->lm_head.aq = (ptq_act_qspec){16, 0, 1.f, 0};
    if (c->tied_embeddings) {
        m->lm_head.w = m->tok_emb;
        m->lm_head.w16 = m->emb16;
        m->lm_head.owns_w = 0;
    } else {
        m->lm_head.owns_w = 1;
        if (w16) {
            m->lm_head.w16 = (ptq_w16){ptq_calloc(nemb, sizeof(uint16_t), err), w16, c->dim};
            if (!m->lm_head.w16.w) goto fail;
        } else if (!(m->lm_head.w = ptq_calloc(nemb, sizeof(float), err)))
            goto fail;
    }
    return 0;
fail:
    ptq_model_free(m);
    return -1;
}

int ptq_model_alloc(ptq_model *m, const ptq_config *cfg, ptq_err *err) { return model_alloc(m, cfg, 0, err); }

int ptq_model_alloc_w16(ptq_model *m, const ptq_config *cfg, int dtype, ptq_err *err) {
    if (dtype != PTQ_W16_BF16 && dtype != PTQ_W16_F16) return ptq_fail(err, "16-bit weight dtype %d unknown", dtype);
    return model_alloc(m, cfg, dtype, err);
}

/* A linear's fp32 weight from its 16-bit storage or its qweight. */
int ptq_linear_widen(ptq_linear *l, ptq_err *err) {
    if (l->w || !l->owns_w) return 0;
    size_t n = (size_t)l->out * l->in;
    if (!l->w16.w && !l->qw) return 0;
    if (!(l->w = ptq_calloc(n, sizeof(float), err))) return -1;
    if (l->w16.w) {
        for (int r = 0; r < l->out; r++) ptq_w16_row(l->w16.dtype, l->w16.w + (size_t)r * l->in, l->w + (size_t)r * l->in, l->in);
        free((void *)l->w16.w);
        l->w16.w = NULL;
    } else
        ptq_qweight_dequant(l->qw, l->w);
    return 0;
}

int ptq_model_is_compact(const ptq_model *m) {
    if (m->emb16.w) return 1;
    for (int i = 0; i <= m->cfg.n_layers * PTQ_LIN_COUNT; i++) {
        const ptq_linear *l = ptq_model_linear((ptq_model *)m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        if (!l->w) return 1;
    }
    return 0;
}

int ptq_model_widen(ptq_model *m, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    if (m->emb16.w) {
        size_t n = (size_t)c->vocab_size * c->dim;
        if (!(m->tok_emb = ptq_calloc(n, sizeof(float), err))) return -1;
        for (int r = 0; r < c->vocab_size; r++)
            ptq_w16_row(m->emb16.dtype, m->emb16.w + (size_t)r * c->dim, m->tok_emb + (size_t)r * c->dim, c->dim);
        if (!m->lm_head.owns_w) m->lm_head.w = m->tok_emb, m->lm_head.w16.w = NULL;
        free((void *)m->emb16.w);
        m->emb16.w = NULL;
    }
    for (int i = 0; i <= c->n_layers * PTQ_LIN_COUNT; i++)
        if (ptq_linear_widen(ptq_model_linear(m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT), err)) return -1;
    return 0;
}

int ptq_model_drop_shadow(ptq_model *m, ptq_err *err) {
    for (int i = 0; i <= m->cfg.n_layers * PTQ_LIN_COUNT; i++) {
        ptq_linear *l = ptq_model_linear(m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        if (!l->qw || !l->owns_w) continue;
        if (l->w) free(l->w), l->w = NULL;
        if (ptq_qweight_compact(l->qw, err)) return -1;
    }
    return 0;
}

/* fp32 -> 16-bit storage of dtype when exact; 0 at the first value that is not. */
int ptq_narrow_exact(int dtype, const float *w, size_t n, uint16_t *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], sizeof u);
        uint16_t h = dtype == PTQ_W16_BF16 ? (uint16_t)(u >> 16) : ptq_ggml_fp32_to_fp16(w[i]);
        float back = ptq_w16_to_f32(dtype, h);
        if (memcmp(&back, &w[i], sizeof back)) return 0;
        if (out) out[i] = h;
    }
    return 1;
}

/* *w (n floats) into 16-bit storage *w16 when exact; frees *w. */
static int narrow_one(float **w, ptq_w16 *w16, int dtype, size_t n, int ld, ptq_err *err) {
    if (!*w || !ptq_narrow_exact(dtype, *w, n, NULL)) return 0;
    uint16_t *h = ptq_calloc(n, sizeof *h, err);
    if (!h) return -1;
    ptq_narrow_exact(dtype, *w, n, h);
    free(*w);
    *w = NULL;
    *w16 = (ptq_w16){h, dtype, ld};
    return 0;
}

int ptq_model_narrow(ptq_model *m, int dtype, int which, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    size_t n = (size_t)c->vocab_size * c->dim;
    ptq_linear *h = &m->lm_head;
    int tied = !h->owns_w && h->w == m->tok_emb;
    if ((which & PTQ_NARROW_EMB) && (!tied || (which & PTQ_NARROW_LM_HEAD))) {
        if (narrow_one(&m->tok_emb, &m->emb16, dtype, n, c->dim, err)) return -1;
        if (tied && !m->tok_emb) h->w = NULL, h->w16 = m->emb16;
    }
    if ((which & PTQ_NARROW_LM_HEAD) && h->owns_w && !h->qw && !h->w_side)
        return narrow_one(&h->w, &h->w16, dtype, (size_t)h->out * h->in, h->in, err);
    return 0;
}

static size_t linear_bytes(const ptq_linear *l) {
    size_t n = (size_t)l->out * l->in;
    size_t b = l->w ? n * sizeof(float) : l->w16.w ? n * sizeof(uint16_t) : 0;
    if (l->qw) b += ptq_qweight_code_bytes(l->qw) + (size_t)l->out * l->qw->ngroups * (sizeof(float) + sizeof(int)) + (size_t)l->qw->side_bytes;
    return b + (l->w_side ? n * sizeof(float) : 0);
}

size_t ptq_model_resident_bytes(const ptq_model *m) {
    const ptq_config *c = &m->cfg;
    size_t b = (size_t)c->vocab_size * c->dim * (m->emb16.w ? sizeof(uint16_t) : sizeof(float));
    for (int l = 0; l < c->n_layers; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) b += linear_bytes(&m->layers[l].lin[j]);
    return b + (m->lm_head.owns_w ? linear_bytes(&m->lm_head) : 0);
}

void ptq_model_free(ptq_model *m) {
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layers; l++) {
            ptq_layer *L = &m->layers[l];
            free(L->rms_att);
            free(L->rms_ffn);
            for (int j = 0; j < PTQ_LIN_COUNT; j++) linear_free(&L->lin[j]);
            ptq_online_op_clear(&L->qk_op);
            ptq_online_op_clear(&L->resid_op[0]);
            ptq_online_op_clear(&L->resid_op[1]);
        }
    }
    linear_free(&m->lm_head);
    free(m->layers);
    free(m->tok_emb);
    free((void *)m->emb16.w);
    free(m->rms_final);
    memset(m, 0, sizeof *m);
}

ptq_linear *ptq_model_linear(ptq_model *m, int layer, int which) {
    if (layer == m->cfg.n_layers) return &m->lm_head;
    if (layer < 0 || layer > m->cfg.n_layers || which < 0 || which >= PTQ_LIN_COUNT) return NULL;
    return &m->layers[layer].lin[which];
}

int ptq_model_untie(ptq_model *m, ptq_err *err) {
    if (m->lm_head.owns_w) return 0;
    size_t n = (size_t)m->cfg.vocab_size * m->cfg.dim;
    if (m->emb16.w) { /* a 16-bit copy */
        uint16_t *w = ptq_calloc(n, sizeof(uint16_t), err);
        if (!w) return -1;
        memcpy(w, m->emb16.w, n * sizeof(uint16_t));
        m->lm_head.w16 = (ptq_w16){w, m->emb16.dtype, m->cfg.dim};
        m->lm_head.owns_w = 1;
        m->cfg.tied_embeddings = 0;
        return 0;
    }
    float *w = ptq_calloc(n, sizeof(float), err);
    if (!w) return -1;
    memcpy(w, m->tok_emb, n * sizeof(float));
    m->lm_head.w = w;
    m->lm_head.owns_w = 1;
    m->cfg.tied_embeddings = 0;
    return 0;
}

/* d's weight stored like s's (fp32, 16-bit or none beside a qweight), copied. */
static int copy_weight(ptq_linear *d, const ptq_linear *s, ptq_err *err) {
    size_t n = (size_t)s->out * s->in;
    if (!d->owns_w) return 0;
    if (!s->w) free(d->w), d->w = NULL;
    if (!s->w16.w) free((void *)d->w16.w), d->w16.w = NULL;
    if (s->w && !d->w && !(d->w = ptq_calloc(n, sizeof(float), err))) return -1;
    if (s->w16.w && !d->w16.w && !(d->w16.w = ptq_calloc(n, sizeof(uint16_t), err))) return -1;
    if (s->w) memcpy(d->w, s->w, n * sizeof(float));
    if (s->w16.w) memcpy((void *)d->w16.w, s->w16.w, n * sizeof(uint16_t)), d->w16.dtype = s->w16.dtype, d->w16.ld = s->in;
    return 0;
}

static int copy_linear(ptq_linear *d, const ptq_linear *s, ptq_err *err) {
    size_t n = (size_t)s->out * s->in;
    if (copy_weight(d, s, err)) return -1;
    if (s->bias && d->bias) memcpy(d->bias, s->bias, (size_t)s->out * sizeof(float));
    if (s->w_side) {
        if (!(d->w_side = ptq_calloc(n, sizeof(float), err))) return -1;
        memcpy(d->w_side, s->w_side, n * sizeof(float));
    }
    d->aq = s->aq;
    if (s->qw && !(d->qw = ptq_qweight_clone(s->qw, err))) return -1;
    return 0;
}

int ptq_model_clone(ptq_model *d, const ptq_model *s, ptq_err *err) {
    if (model_alloc(d, &s->cfg, s->emb16.w ? s->emb16.dtype : 0, err)) return -1;
    const ptq_config *c = &s->cfg;
    if (!s->lm_head.owns_w && d->lm_head.owns_w) { /* source untied earlier than cfg says */
        free(d->lm_head.w), free((void *)d->lm_head.w16.w);
        d->lm_head.w = d->tok_emb;
        d->lm_head.w16 = d->emb16;
        d->lm_head.owns_w = 0;
    }
    if (s->lm_head.owns_w && !d->lm_head.owns_w) {
        d->cfg.tied_embeddings = 1;
        if (ptq_model_untie(d, err)) goto fail;
    }
    size_t nemb = (size_t)c->vocab_size * c->dim;
    if (s->emb16.w) memcpy((void *)d->emb16.w, s->emb16.w, nemb * sizeof(uint16_t));
    else memcpy(d->tok_emb, s->tok_emb, nemb * sizeof(float));
    memcpy(d->rms_final, s->rms_final, (size_t)c->dim * sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        memcpy(d->layers[l].rms_att, s->layers[l].rms_att, (size_t)c->dim * sizeof(float));
        memcpy(d->layers[l].rms_ffn, s->layers[l].rms_ffn, (size_t)c->dim * sizeof(float));
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            if (copy_linear(&d->layers[l].lin[j], &s->layers[l].lin[j], err)) goto fail;
        d->layers[l].kq = s->layers[l].kq;
        d->layers[l].vq = s->layers[l].vq;
    }
    if (copy_linear(&d->lm_head, &s->lm_head, err)) goto fail;
    memcpy(d->path, s->path, sizeof d->path);
    memcpy(d->sha256, s->sha256, sizeof d->sha256);
    memcpy(d->name, s->name, sizeof d->name);
    return 0;
fail:
    ptq_model_free(d);
    return -1;
}

long ptq_model_param_count(const ptq_model *m) {
    const ptq_config *c = &m->cfg;
    long n = (long)c->vocab_size * c->dim + c->dim;
    for (int l = 0; l < c->n_layers; l++) {
        n += 2L * c->dim;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_linear *L = &m->layers[l].lin[j];
            n += (long)L->out * L->in + (L->bias ? L->out : 0);
        }
    }
    if (m->lm_head.owns_w) n += (long)c->vocab_size * c->dim;
    return n;
}

void ptq_model_weight_format(const ptq_model *m, ptq_weight_format *f) {
    memset(f, 0, sizeof *f);
    f->uniform = 1;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_qweight *qw = m->layers[l].lin[j].qw;
            f->linears++;
            if (!qw) {
                f->uniform = 0;
                continue;
            }
            if (!f->quantized++) f->bits = qw->bits, f->group = qw->group, f->sym = qw->sym, f->act_order = !!qw->gidx;
            else if (qw->bits != f->bits || qw->group != f->group || qw->sym != f->sym || f->act_order != !!qw->gidx)
                f->uniform = 0;
            f->side_bytes += qw->side_bytes, f->bytes += ptq_qweight_bytes(qw);
        }
    if (!f->quantized) f->uniform = 0;
    const ptq_qweight *lq = m->lm_head.qw;
    if (lq) f->lm_head_bits = lq->bits, f->side_bytes += lq->side_bytes, f->bytes += ptq_qweight_bytes(lq);
}

void ptq_weight_format_str(const ptq_weight_format *f, char *buf, size_t cap) {
    if (!f->quantized) {
        snprintf(buf, cap, "fp32");
        return;
    }
    int n = snprintf(buf, cap, "W%d", f->bits);
    if (f->group && n < (int)cap) n += snprintf(buf + n, cap - n, "-g%d", f->group);
    if (n < (int)cap) n += snprintf(buf + n, cap - n, " %s%s", f->sym ? "sym" : "asym", f->act_order ? " act-order" : "");
    if (!f->uniform && n < (int)cap && f->quantized == f->linears) snprintf(buf + n, cap - n, " (mixed formats)");
    else if (!f->uniform && n < (int)cap)
        snprintf(buf + n, cap - n, " (mixed: %d of %d layer linears quantized)", f->quantized, f->linears);
}

/* ---- llama2.c checkpoint ------------------------------------------------
 * Legacy (v0) format: 7 x int32 header {dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len}; negative vocab_size means a separate
 * classifier follows. Then fp32 tensors in this order: token_embedding,
 * rms_att[L], wq[L], wk[L], wv[L], wo[L], rms_ffn[L], w1[L], w2[L], w3[L],
 * rms_final, freq_cis_real, freq_cis_imag (seq_len x head_size/2 each),
 * [wcls]. llama2.c's w1 = gate, w3 = up, w2 = down. */

/* n floats of tensor `what`; a NaN or infinity is an error (a model with one
 * would score NaN, or as perfect where a metric ignores it). */
static int read_floats(FILE *f, float *dst, size_t n, const char *path, const char *what, int layer, ptq_err *err) {
    char name[64];
    if (layer >= 0) snprintf(name, sizeof name, "layer %d %s", layer, what);
    else snprintf(name, sizeof name, "%s", what);
    if (fread(dst, sizeof(float), n, f) != n)
        return ptq_fail(err, "%s: truncated while reading %s (%zu floats expected)", path, name, n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i])) return ptq_fail(err, "%s: %s[%zu] is %g (weights must be finite)", path, name, i, dst[i]);
    return 0;
}

int ptq_load_llama2c(ptq_model *m, const char *path, ptq_err *err) {
    memset(m, 0, sizeof *m);
    FILE *f = ptq_fopen_regular(path, err);
    struct stat st;
    if (!f) return ptq_wrap(err, "model");
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return ptq_fail(err, "%s: cannot stat model: %s", path, strerror(errno));
    }
    int32_t h[7];
    if (fread(h, sizeof(int32_t), 7, f) != 7) {
        fclose(f);
        return ptq_fail(err, "%s: file too short for the llama2.c header (28 bytes expected, got %lld)", path,
                        (long long)st.st_size);
    }
    ptq_config c = {0};
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    if (h[5] == 0 || h[5] == INT32_MIN) { /* the sign says tied (+) or untied (-); -INT32_MIN does not exist */
        fclose(f);
        return ptq_fail(err, "%s: llama2.c header: vocab_size field = %d, expected +-1..%d (negative: untied head)",
                        path, h[5], PTQ_MAX_VOCAB);
    }
    c.tied_embeddings = h[5] > 0;
    c.vocab_size = h[5] > 0 ? h[5] : -h[5];
    c.max_seq = h[6];
    c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
    c.rope_theta = 10000.f;
    c.norm_eps = 1e-5f;
    c.rope_style = PTQ_ROPE_INTERLEAVED;
    c.bos_id = 1;
    c.eos_id = 2;
    char where[4200];
    snprintf(where, sizeof where, "%s: llama2.c header", path);
    if (ptq_config_check(&c, where, err)) {
        fclose(f);
        return -1;
    }
    if (c.dim % c.n_heads != 0) {
        fclose(f);
        return ptq_fail(err, "%s: dim (%d) is not a multiple of n_heads (%d)", where, c.dim, c.n_heads);
    }
    /* Expected size in floats, computed in 64 bits before any allocation. */
    uint64_t D = c.dim, H = c.hidden_dim, L = c.n_layers, V = c.vocab_size, S = c.max_seq;
    uint64_t kvd = (uint64_t)c.n_kv_heads * c.head_dim, hs = c.head_dim;
    uint64_t nfl = V * D + L * (2 * D + D * D + 2 * D * kvd + D * D + 3 * D * H) + D + S * hs;
    if (!c.tied_embeddings) nfl += V * D;
    uint64_t want = 28 + 4 * nfl;
    if ((uint64_t)st.st_size != want) {
        fclose(f);
        return ptq_fail(err,
                        "%s: file is %lld bytes but the header (dim %d, hidden %d, layers %d, heads %d, kv_heads "
                        "%d, vocab %d, seq %d) implies %llu bytes",
                        path, (long long)st.st_size, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                        c.vocab_size, c.max_seq, (unsigned long long)want);
    }
    if (ptq_model_alloc(m, &c, err)) {
        fclose(f);
        return ptq_wrap(err, "%s", path);
    }
    int rc = read_floats(f, m->tok_emb, V * D, path, "token_embedding", -1, err);
    for (int l = 0; !rc && l < c.n_layers; l++) rc = read_floats(f, m->layers[l].rms_att, D, path, "rms_att", l, err);
    static const int order[] = {PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V, PTQ_LIN_O};
    for (int j = 0; !rc && j < 4; j++)
        for (int l = 0; !rc && l < c.n_layers; l++) {
            ptq_linear *lin = &m->layers[l].lin[order[j]];
            rc = read_floats(f, lin->w, (size_t)lin->out * lin->in, path, ptq_linear_names[order[j]], l, err);
        }
    for (int l = 0; !rc && l < c.n_layers; l++) rc = read_floats(f, m->layers[l].rms_ffn, D, path, "rms_ffn", l, err);
    static const int order2[] = {PTQ_LIN_GATE, PTQ_LIN_DOWN, PTQ_LIN_UP};
    for (int j = 0; !rc && j < 3; j++)
        for (int l = 0; !rc && l < c.n_layers; l++) {
            ptq_linear *lin = &m->layers[l].lin[order2[j]];
            rc = read_floats(f, lin->w, (size_t)lin->out * lin->in, path, ptq_linear_names[order2[j]], l, err);
        }
    if (!rc) rc = read_floats(f, m->rms_final, D, path, "rms_final", -1, err);
    if (!rc && fseek(f, (long)(S * hs * sizeof(float)), SEEK_CUR) != 0) /* skip freq_cis */
        rc = ptq_fail(err, "%s: cannot skip freq_cis", path);
    if (!rc && !c.tied_embeddings) rc = read_floats(f, m->lm_head.w, V * D, path, "wcls", -1, err);
    fclose(f);
    if (rc) {
        ptq_model_free(m);
        return -1;
    }
    snprintf(m->path, sizeof m->path, "%s", path);
    return 0;
}
