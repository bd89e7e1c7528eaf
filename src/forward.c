/* forward.c — the fp32 LLaMA forward pass, batched over T tokens.
 *
 * Read top to bottom like llama2.c's run.c: embed -> for each layer
 * (RMSNorm, q/k/v, RoPE, KV cache, attention, o, residual, RMSNorm,
 * SwiGLU FFN, residual) -> final RMSNorm -> lm_head. Every projection is one
 * cblas_sgemm over all T rows; attention is two sgemm calls per head
 * (QK^T and PV), heads in parallel with OpenMP. Quantization hooks (online
 * ops, activation and KV fake quantizers) sit exactly where the methods'
 * papers put them and are identity by default. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "quant.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__FAST_MATH__)
/* glibc announces its vector expf (libmvec, < 4 ulp) only under -ffast-math;
 * declaring it here lets the `omp simd` softmax/SiLU loops use it without
 * fast-math's reassociation anywhere else. */
float expf(float) __attribute__((__simd__("notinbranch")));
#endif

static int max_in(const ptq_config *c) {
    int n = PTQ_MAX(c->dim, c->hidden_dim);
    return PTQ_MAX(n, c->n_heads * c->head_dim);
}

int ptq_state_init(ptq_state *s, const ptq_model *m, int max_T, ptq_err *err) {
    memset(s, 0, sizeof *s);
    const ptq_config *c = &m->cfg;
    if (max_T <= 0 || max_T > c->max_seq)
        return ptq_fail(err, "sequence length %d out of range 1..%d (model max_seq)", max_T, c->max_seq);
    s->max_T = max_T;
    size_t T = max_T, qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = PTQ_MAX((size_t)c->hidden_dim, PTQ_MAX(qd, (size_t)c->dim));
    int nthr = ptq_num_threads();
    if (!(s->x = ptq_calloc(T * c->dim, sizeof(float), err)) ||
        !(s->xb = ptq_calloc(T * wide, sizeof(float), err)) ||
        !(s->xb2 = ptq_calloc(T * wide, sizeof(float), err)) ||
        !(s->xq = ptq_calloc(2 * T * max_in(c), sizeof(float), err)) ||
        !(s->q = ptq_calloc(T * qd, sizeof(float), err)) || !(s->k = ptq_calloc(T * kvd, sizeof(float), err)) ||
        !(s->v = ptq_calloc(T * kvd, sizeof(float), err)) ||
        !(s->att = ptq_calloc((size_t)nthr * T * c->max_seq, sizeof(float), err)) ||
        !(s->hb = ptq_calloc(T * c->hidden_dim, sizeof(float), err)) ||
        !(s->hb2 = ptq_calloc(T * c->hidden_dim, sizeof(float), err)) ||
        !(s->key_cache = ptq_calloc((size_t)c->n_layers * c->max_seq * kvd, sizeof(float), err)) ||
        !(s->value_cache = ptq_calloc((size_t)c->n_layers * c->max_seq * kvd, sizeof(float), err)) ||
        !(s->logits = ptq_calloc(T * c->vocab_size, sizeof(float), err))) {
        ptq_state_free(s);
        return -1;
    }
    return 0;
}

void ptq_state_free(ptq_state *s) {
    float *bufs[] = {s->x,   s->xb, s->xb2, s->xq,        s->q,           s->k,     s->v,
                     s->att, s->hb, s->hb2, s->key_cache, s->value_cache, s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    memset(s, 0, sizeof *s);
}

static void rmsnorm_rows(float *out, const float *x, const float *w, int T, int n, float eps) {
#pragma omp parallel for schedule(static) if (T > 4)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float *o = out + (size_t)t * n;
        float ss = 0.f;
        for (int j = 0; j < n; j++) ss += xr[j] * xr[j];
        ss = 1.0f / sqrtf(ss / n + eps);
        for (int j = 0; j < n; j++) o[j] = w[j] * (ss * xr[j]);
    }
}

static void apply_op(const ptq_online_op *op, float *x, int rows, int n) {
    if (op->fn) op->fn(op->ctx, x, rows, n);
}

void ptq_linear_forward(const ptq_linear *l, const float *x, float *scratch, float *y, int T, ptq_capture_fn cap,
                        void *cap_ctx, int layer, int which) {
    size_t n = (size_t)T * l->in;
    const float *pre = x, *xq = x;
    if (l->in_op.fn || l->aq.bits < 16 || l->w_side) {
        memcpy(scratch, x, n * sizeof(float));
        apply_op(&l->in_op, scratch, T, l->in);
        pre = xq = scratch;
    }
    if (l->aq.bits < 16) {
        float *q = scratch + n;
        memcpy(q, pre, n * sizeof(float));
        ptq_fq_rows(q, T, l->in, &l->aq);
        xq = q;
    }
    if (cap) cap(cap_ctx, layer, which, pre, xq, T, l->in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, l->out, l->in, 1.f, xq, l->in, l->w, l->in, 0.f, y,
                l->out);
    if (l->w_side)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, l->out, l->in, 1.f, pre, l->in, l->w_side, l->in,
                    1.f, y, l->out);
    if (l->bias)
        for (int t = 0; t < T; t++)
            for (int o = 0; o < l->out; o++) y[(size_t)t * l->out + o] += l->bias[o];
}

/* Rotate every head vector of `x` (T rows of nheads*hd) at positions pos0+t. */
static void rope(const ptq_model *m, float *x, int T, int nheads, int pos0) {
    int hd = m->cfg.head_dim, half = hd / 2;
    for (int t = 0; t < T; t++) {
        const float *cs = m->rope_cos + (size_t)(pos0 + t) * half, *sn = m->rope_sin + (size_t)(pos0 + t) * half;
        for (int h = 0; h < nheads; h++) {
            float *v = x + ((size_t)t * nheads + h) * hd;
            for (int i = 0; i < half; i++) {
                /* interleaved pairs (2i, 2i+1) or HF halves (i, i+half) */
                int a = m->cfg.rope_style == PTQ_ROPE_HALF ? i : 2 * i;
                int b = m->cfg.rope_style == PTQ_ROPE_HALF ? i + half : 2 * i + 1;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * cs[i] - v1 * sn[i];
                v[b] = v0 * sn[i] + v1 * cs[i];
            }
        }
    }
}

/* Causal attention of T queries at pos0.. over cache positions [0, pos0+T). */
static void attention(const ptq_model *m, ptq_state *s, int layer, int T, int pos0) {
    const ptq_config *c = &m->cfg;
    int hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    int L = pos0 + T;
    const float *kc = s->key_cache + (size_t)layer * c->max_seq * kvd;
    const float *vc = s->value_cache + (size_t)layer * c->max_seq * kvd;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(dynamic, 1)
    for (int h = 0; h < c->n_heads; h++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *S = s->att + (size_t)tid * s->max_T * c->max_seq;
        int kvh = h / group;
        /* S (T x L) = Q_h K_h^T * scale */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, L, hd, scale, s->q + (size_t)h * hd, qd,
                    kc + (size_t)kvh * hd, kvd, 0.f, S, L);
        for (int t = 0; t < T; t++) {
            float *row = S + (size_t)t * L;
            int n = pos0 + t + 1; /* causal: keys 0..pos0+t */
            float mx = row[0];
            for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
            float sum = 0.f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < n; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.f / sum;
            for (int j = 0; j < n; j++) row[j] *= inv;
            for (int j = n; j < L; j++) row[j] = 0.f;
        }
        /* out_h (T x hd) = P V_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, L, 1.f, S, L, vc + (size_t)kvh * hd, kvd, 0.f,
                    s->xb2 + (size_t)h * hd, qd);
    }
}

int ptq_forward_embed(const ptq_model *m, const int *tokens, int T, float *x, ptq_err *err) {
    int d = m->cfg.dim;
    for (int t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return ptq_fail(err, "token id %d at position %d is outside the vocabulary (0..%d)", tokens[t], t,
                            m->cfg.vocab_size - 1);
        memcpy(x + (size_t)t * d, m->tok_emb + (size_t)tokens[t] * d, d * sizeof(float));
    }
    return 0;
}

void ptq_forward_block(const ptq_model *m, ptq_state *s, int l, float *x, int T, int pos0) {
    const ptq_config *c = &m->cfg;
    const ptq_layer *L = &m->layers[l];
    int d = c->dim, hd = c->head_dim, kvd = c->n_kv_heads * hd;
    ptq_capture_fn cap = s->capture;
    void *cc = s->capture_ctx;

    /* attention */
    rmsnorm_rows(s->xb, x, L->rms_att, T, d, c->norm_eps);
    ptq_linear_forward(&L->lin[PTQ_LIN_Q], s->xb, s->xq, s->q, T, cap, cc, l, PTQ_LIN_Q);
    ptq_linear_forward(&L->lin[PTQ_LIN_K], s->xb, s->xq, s->k, T, cap, cc, l, PTQ_LIN_K);
    ptq_linear_forward(&L->lin[PTQ_LIN_V], s->xb, s->xq, s->v, T, cap, cc, l, PTQ_LIN_V);
    rope(m, s->q, T, c->n_heads, pos0);
    rope(m, s->k, T, c->n_kv_heads, pos0);
    apply_op(&L->qk_op, s->q, T * c->n_heads, hd);
    apply_op(&L->qk_op, s->k, T * c->n_kv_heads, hd);
    ptq_fq_rows(s->k, T * c->n_kv_heads, hd, &L->kq); /* KV cache is stored quantized */
    ptq_fq_rows(s->v, T * c->n_kv_heads, hd, &L->vq);
    size_t off = ((size_t)l * c->max_seq + pos0) * kvd;
    memcpy(s->key_cache + off, s->k, (size_t)T * kvd * sizeof(float));
    memcpy(s->value_cache + off, s->v, (size_t)T * kvd * sizeof(float));
    attention(m, s, l, T, pos0);
    ptq_linear_forward(&L->lin[PTQ_LIN_O], s->xb2, s->xq, s->xb, T, cap, cc, l, PTQ_LIN_O);
    apply_op(&L->resid_op[0], x, T, d);
    for (size_t i = 0; i < (size_t)T * d; i++) x[i] += s->xb[i];

    /* SwiGLU feed-forward */
    rmsnorm_rows(s->xb, x, L->rms_ffn, T, d, c->norm_eps);
    ptq_linear_forward(&L->lin[PTQ_LIN_GATE], s->xb, s->xq, s->hb, T, cap, cc, l, PTQ_LIN_GATE);
    ptq_linear_forward(&L->lin[PTQ_LIN_UP], s->xb, s->xq, s->hb2, T, cap, cc, l, PTQ_LIN_UP);
    size_t nh = (size_t)T * c->hidden_dim;
#pragma omp parallel for simd schedule(static) if (nh > 65536)
    for (size_t i = 0; i < nh; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
    }
    ptq_linear_forward(&L->lin[PTQ_LIN_DOWN], s->hb, s->xq, s->xb, T, cap, cc, l, PTQ_LIN_DOWN);
    apply_op(&L->resid_op[1], x, T, d);
    for (size_t i = 0; i < (size_t)T * d; i++) x[i] += s->xb[i];
}

void ptq_forward_head(const ptq_model *m, ptq_state *s, const float *x, int T, float *logits) {
    rmsnorm_rows(s->xb, x, m->rms_final, T, m->cfg.dim, m->cfg.norm_eps);
    ptq_linear_forward(&m->lm_head, s->xb, s->xq, logits, T, s->capture, s->capture_ctx, m->cfg.n_layers, 0);
}

int ptq_forward(const ptq_model *m, ptq_state *s, const int *tokens, int T, int pos0, float *logits, int last_only,
                ptq_err *err) {
    if (T <= 0 || T > s->max_T)
        return ptq_fail(err, "forward: %d tokens, state holds 1..%d", T, s->max_T);
    if (pos0 < 0 || pos0 + T > m->cfg.max_seq)
        return ptq_fail(err, "forward: positions %d..%d exceed max_seq %d", pos0, pos0 + T - 1, m->cfg.max_seq);
    if (ptq_forward_embed(m, tokens, T, s->x, err)) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++) ptq_forward_block(m, s, l, s->x, T, pos0);
    if (!logits) logits = s->logits;
    if (last_only) ptq_forward_head(m, s, s->x + (size_t)(T - 1) * m->cfg.dim, 1, logits);
    else ptq_forward_head(m, s, s->x, T, logits);
    return 0;
}
