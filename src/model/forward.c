/* forward.c — the fp32 LLaMA forward pass, batched over T tokens.
 *
 * Read top to bottom like llama2.c's run.c: embed -> for each layer
 * (RMSNorm, q/k/v, RoPE, KV cache, attention, o, residual, RMSNorm,
 * SwiGLU FFN, residual) -> final RMSNorm -> lm_head. Every projection is one
 * ptq_sgemm (matmul.h) over all T rows; attention is two sgemm calls per head
 * (QK^T and PV), heads in parallel with OpenMP. Quantization hooks (online
 * ops, activation and KV fake quantizers) sit exactly where the methods'
 * papers put them and are identity by default.
 * The same loop is the real low-bit path: a linear with kernels attached
 * (packed.c) runs them instead of the fp32 GEMM, and a state made with
 * ptq_state_init_packed stores 8/4-bit K/V as integer codes. */
#include "matmul.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "fakequant.h"
#include "threads.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__FAST_MATH__)
/* glibc announces its vector expf (libmvec, < 4 ulp) only under -ffast-math;
 * declaring it here lets the `omp simd` softmax/SiLU loops use it without
 * fast-math's reassociation anywhere else. */
float expf(float) __attribute__((__simd__("notinbranch")));
#endif

/* out = silu(g) * u in fixed blocks of SILU_BLOCK elements, the blocks spread
 * over the threads: an element takes the vector expf or the scalar one (the
 * loop's tail), which round differently, by its place in its block alone.
 * With `parallel for simd` over all n, the threads' chunk edges fell at n/3
 * with 3 threads, off the vector width, and the rows changed with the
 * thread count. */
enum { SILU_BLOCK = 4096 }; /* a multiple of every vector width */

static void silu_mul_block(float *out, const float *g, const float *u, size_t i0, size_t i1) {
#pragma omp simd
    for (size_t i = i0; i < i1; i++) {
        float x = g[i];
        out[i] = x / (1.0f + expf(-x)) * u[i];
    }
}

void ptq_silu_mul(float *out, const float *g, const float *u, size_t n) {
    size_t nb = (n + SILU_BLOCK - 1) / SILU_BLOCK;
    if (n <= 65536) { /* no region: entering one costs more than a short row */
        for (size_t b = 0; b < nb; b++) silu_mul_block(out, g, u, b * SILU_BLOCK, PTQ_MIN(n, (b + 1) * SILU_BLOCK));
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) silu_mul_block(out, g, u, b * SILU_BLOCK, PTQ_MIN(n, (b + 1) * SILU_BLOCK));
}

static int max_in(const ptq_config *c) {
    int n = PTQ_MAX(c->dim, c->hidden_dim);
    return PTQ_MAX(n, c->n_heads * c->head_dim);
}

/* The layer's K (v = 0) or V cache as integers when its quantizer asks for 8 or 4 bits. */
static int kv_int_fmt(const ptq_model *m, int l, int v, ptq_kvfmt *f) {
    const ptq_act_qspec *q = v ? &m->layers[l].vq : &m->layers[l].kq;
    ptq_err e;
    memset(f, 0, sizeof *f);
    if ((q->bits == 8 || q->bits == 4) && !ptq_kvfmt_init(f, q->bits, m->cfg.head_dim, q->group, q->sym, q->clip, &e))
        return 1;
    memset(f, 0, sizeof *f);
    return 0;
}

static int state_init(ptq_state *s, const ptq_model *m, int max_T, int ctx, int packed, ptq_err *err) {
    memset(s, 0, sizeof *s);
    const ptq_config *c = &m->cfg;
    if (max_T <= 0 || max_T > c->max_seq)
        return ptq_fail(err, "sequence length %d out of range 1..%d (model max_seq)", max_T, c->max_seq);
    if (ctx < max_T || ctx > c->max_seq)
        return ptq_fail(err, "context of %d positions out of range %d..%d (model max_seq)", ctx, max_T, c->max_seq);
    s->max_T = max_T;
    s->ctx = ctx;
    s->n_layers = c->n_layers;
    size_t T = max_T, qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = PTQ_MAX((size_t)c->hidden_dim, PTQ_MAX(qd, (size_t)c->dim));
    size_t rows = (size_t)ctx * c->n_kv_heads, half = (size_t)c->head_dim / 2; /* cache rows per layer */
    int nthr = s->slots = ptq_thread_slots(), fp_k = !packed, fp_v = !packed;
    if (packed) {
        if (!(s->kvq = ptq_calloc(2 * (size_t)c->n_layers, sizeof(ptq_kvcache), err))) goto fail;
        for (int i = 0; i < 2 * c->n_layers; i++) {
            ptq_kvcache *kc = &s->kvq[i];
            if (!kv_int_fmt(m, i / 2, i % 2, &kc->f)) {
                *(i % 2 ? &fp_v : &fp_k) = 1;
                continue;
            }
            if (!(kc->codes = ptq_calloc(rows, kc->f.row_bytes, err)) ||
                !(kc->sz = ptq_calloc(rows * 2 * kc->f.ngroups, sizeof(float), err)))
                goto fail;
        }
        if (!(s->kv_panel = ptq_calloc((size_t)nthr * 2 * ctx * c->head_dim, sizeof(float), err))) goto fail;
    }
    if (!(s->acts = ptq_calloc(1, sizeof(ptq_kacts), err)) || !(s->x = ptq_calloc(T * c->dim, sizeof(float), err)) ||
        !(s->xb = ptq_calloc(T * wide, sizeof(float), err)) ||
        !(s->xb2 = ptq_calloc(T * wide, sizeof(float), err)) ||
        !(s->xq = ptq_calloc(2 * T * max_in(c), sizeof(float), err)) ||
        !(s->q = ptq_calloc(T * qd, sizeof(float), err)) || !(s->k = ptq_calloc(T * kvd, sizeof(float), err)) ||
        !(s->v = ptq_calloc(T * kvd, sizeof(float), err)) ||
        !(s->att = ptq_calloc((size_t)nthr * T * ctx, sizeof(float), err)) ||
        !(s->hb = ptq_calloc(T * c->hidden_dim, sizeof(float), err)) ||
        !(s->hb2 = ptq_calloc(T * c->hidden_dim, sizeof(float), err)) ||
        (fp_k && !(s->key_cache = ptq_calloc((size_t)c->n_layers * ctx * kvd, sizeof(float), err))) ||
        (fp_v && !(s->value_cache = ptq_calloc((size_t)c->n_layers * ctx * kvd, sizeof(float), err))) ||
        !(s->rope_cos = ptq_calloc(ctx * half, sizeof(float), err)) ||
        !(s->rope_sin = ptq_calloc(ctx * half, sizeof(float), err)) ||
        !(s->logits = ptq_calloc(T * c->vocab_size, sizeof(float), err)))
        goto fail;
    ptq_rope_tables(c, ctx, s->rope_cos, s->rope_sin);
    return 0;
fail:
    ptq_state_free(s);
    return -1;
}

int ptq_state_init(ptq_state *s, const ptq_model *m, int max_T, ptq_err *err) {
    return state_init(s, m, max_T, max_T, 0, err);
}

int ptq_state_init_ctx(ptq_state *s, const ptq_model *m, int max_T, int ctx, ptq_err *err) {
    return state_init(s, m, max_T, ctx, 0, err);
}

int ptq_state_init_packed(ptq_state *s, const ptq_model *m, int max_T, int ctx, ptq_err *err) {
    return state_init(s, m, max_T, ctx, 1, err);
}

void ptq_state_free(ptq_state *s) {
    float *bufs[] = {s->x,  s->xb,  s->xb2,       s->xq,           s->q,      s->k,        s->v,        s->att,
                     s->hb, s->hb2, s->key_cache, s->value_cache, s->logits, s->kv_panel, s->rope_cos, s->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    if (s->acts) ptq_kacts_free(s->acts);
    free(s->acts);
    if (s->kvq)
        for (int i = 0; i < 2 * s->n_layers; i++) free(s->kvq[i].codes), free(s->kvq[i].sz);
    free(s->kvq);
    memset(s, 0, sizeof *s);
}

size_t ptq_state_kv_bytes(const ptq_state *s, const ptq_model *m, int ctx) {
    size_t rows = (size_t)ctx * m->cfg.n_kv_heads, b = 0;
    for (int i = 0; i < 2 * m->cfg.n_layers; i++) {
        const ptq_kvfmt *f = s->kvq ? &s->kvq[i].f : NULL;
        b += f && f->bits ? rows * (f->row_bytes + 2 * sizeof(float) * f->ngroups)
                          : rows * m->cfg.head_dim * sizeof(float);
    }
    return b;
}

int ptq_state_kv_packed(const ptq_state *s) {
    if (!s->kvq) return 0;
    for (int i = 0; i < 2 * s->n_layers; i++)
        if (!s->kvq[i].f.bits) return 0;
    return 1;
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

/* Where a linear sits, for messages: "layers.<l>.<name>" or "lm_head". */
static void linear_site(char *buf, size_t cap, int layer, int which, int n_layers) {
    if (layer >= n_layers || which < 0 || which >= PTQ_LIN_COUNT) snprintf(buf, cap, "lm_head");
    else snprintf(buf, cap, "layers.%d.%s", layer, ptq_linear_names[which]);
}

/* The linear's online op on a copy of its input (scratch). */
static int linear_op(const ptq_linear *l, const float *x, float *scratch, int T, int layer, int which, int n_layers,
                     ptq_err *err) {
    memcpy(scratch, x, (size_t)T * l->in * sizeof(float));
    if (!ptq_online_op_apply(&l->in_op, scratch, T, l->in, err)) return 0;
    char site[64];
    linear_site(site, sizeof site, layer, which, n_layers);
    return ptq_wrap(err, "%s.in", site);
}

/* y (T x out) = x W^T with W as the linear holds it: fp32, 16-bit storage
 * or a qweight alone, the last two widened one panel at a time (matmul.h:
 * bit for bit the fp32 product on the widened matrix). */
static int weight_product(const ptq_linear *l, const float *x, float *y, int T, ptq_err *err) {
    if (l->w) {
        ptq_sgemm(CblasNoTrans, CblasTrans, T, l->out, l->in, 1.f, x, l->in, l->w, l->in, 0.f, y, l->out);
        return 0;
    }
    if (l->w16.w) return ptq_sgemm_w16(T, l->out, l->in, x, l->in, &l->w16, 0.f, y, l->out, err);
    if (l->qw) return ptq_sgemm_panels(T, l->out, l->in, x, l->in, ptq_qweight_dequant_rows, l->qw, 0.f, y, l->out, err);
    return ptq_fail(err, "a %d x %d linear without weights", l->out, l->in);
}

/* The fake-quant path: fp32 GEMM on the (fake-)quantized rows. */
static int linear_fp32(const ptq_linear *l, const float *x, float *scratch, float *y, int T, ptq_capture_fn cap,
                       void *cap_ctx, int layer, int which, int n_layers, int op_done, ptq_err *err) {
    size_t n = (size_t)T * l->in;
    const float *pre = x, *xq = x;
    if (op_done) pre = xq = scratch;
    else if (l->in_op.kind != PTQ_OP_IDENTITY || l->aq.bits < 16 || l->w_side) {
        if (linear_op(l, x, scratch, T, layer, which, n_layers, err)) return -1;
        pre = xq = scratch;
    }
    if (l->aq.bits < 16) {
        float *q = scratch + n;
        memcpy(q, pre, n * sizeof(float));
        ptq_fq_rows(q, T, l->in, &l->aq);
        xq = q;
    }
    if (cap) cap(cap_ctx, layer, which, pre, xq, T, l->in);
    if (!y) return 0; /* capture only */
    if (weight_product(l, xq, y, T, err)) {
        char site[64];
        linear_site(site, sizeof site, layer, which, n_layers);
        return ptq_wrap(err, "%s", site);
    }
    if (l->w_side)
        ptq_sgemm(CblasNoTrans, CblasTrans, T, l->out, l->in, 1.f, pre, l->in, l->w_side, l->in, 1.f, y, l->out);
    if (l->bias)
        for (int t = 0; t < T; t++)
            for (int o = 0; o < l->out; o++) y[(size_t)t * l->out + o] += l->bias[o];
    return 0;
}

/* The real low-bit path: online op, then the attached kernels quantize the
 * rows to integer codes themselves (capture still sees the fake-quant rows). */
static int linear_kern(const ptq_linear *l, const float *x, float *scratch, float *y, int T, ptq_kacts *acts,
                       ptq_capture_fn cap, void *cap_ctx, int layer, int which, int n_layers, int op_done,
                       ptq_err *err) {
    size_t n = (size_t)T * l->in;
    const float *pre = x;
    if (op_done) pre = scratch;
    else if (l->in_op.kind != PTQ_OP_IDENTITY) {
        if (linear_op(l, x, scratch, T, layer, which, n_layers, err)) return -1;
        pre = scratch;
    }
    if (cap) {
        float *q = scratch + n;
        memcpy(q, pre, n * sizeof(float));
        ptq_fq_rows(q, T, l->in, &l->aq);
        cap(cap_ctx, layer, which, pre, q, T, l->in);
    }
    if (!ptq_lin_kernel_forward(l->kern, pre, T, l->aq.bits, l->aq.sym, l->aq.clip, l->aq.group, l->bias, acts, y,
                                err))
        return 0;
    char site[64];
    linear_site(site, sizeof site, layer, which, n_layers);
    return ptq_wrap(err, "%s", site);
}

static int linear_in_state(ptq_state *s, const ptq_linear *l, const float *x, float *y, int T, int layer, int which,
                           int op_done, ptq_err *err) {
    if (!l->kern)
        return linear_fp32(l, x, s->xq, y, T, s->capture, s->capture_ctx, layer, which, s->n_layers, op_done, err);
    return linear_kern(l, x, s->xq, y, T, s->acts, s->capture, s->capture_ctx, layer, which, s->n_layers, op_done,
                       err);
}

static int g_share_inputs = 1;
void ptq_forward_share_inputs(int on) { g_share_inputs = on; }

/* a and b are one transform (the same kind, parameters and shared data). */
static int same_op(const ptq_online_op *a, const ptq_online_op *b) {
    return a->kind == b->kind && a->n == b->n && a->heads == b->heads && a->head_dim == b->head_dim &&
           a->rank == b->rank && a->seed == b->seed && a->data == b->data;
}

/* k, v and up read the input the linear before them read (the layer passes
 * one buffer, unchanged): when their online ops are one transform, its rows
 * are still in s->xq (op_done), and what the kernels derived from those rows
 * since the group's first linear (activation codes, SpecQuant's bins) is
 * still valid in s->acts (ptq_kacts.same_input); any other linear starts a
 * new input and s->acts forgets. Same bits either way. */
static int lin_step(ptq_state *s, const ptq_layer *L, int which, const float *x, float *y, int T, int layer,
                    ptq_err *err) {
    int stop = s->capture && s->stop_after == which + 1;
    const ptq_linear *l = &L->lin[which], *prev = which > 0 ? &L->lin[which - 1] : NULL;
    int follows = g_share_inputs && (which == PTQ_LIN_K || which == PTQ_LIN_V || which == PTQ_LIN_UP) &&
                  same_op(&prev->in_op, &l->in_op);
    int op_done = follows && l->in_op.kind != PTQ_OP_IDENTITY;
    if (s->acts) {
        if (!follows) ptq_kacts_forget(s->acts);
        s->acts->same_input = follows;
    }
    if (linear_in_state(s, l, x, stop && !l->kern ? NULL : y, T, layer, which, op_done, err)) return -1;
    if (s->acts) s->acts->same_input = 0;
    return stop;
}

int ptq_linear_forward(const ptq_linear *l, const float *x, float *scratch, float *y, int T, ptq_capture_fn cap,
                       void *cap_ctx, int layer, int which, ptq_err *err) {
    if (!l->kern) return linear_fp32(l, x, scratch, y, T, cap, cap_ctx, layer, which, INT_MAX, 0, err);
    ptq_kacts acts;
    memset(&acts, 0, sizeof acts);
    int rc = linear_kern(l, x, scratch, y, T, &acts, cap, cap_ctx, layer, which, INT_MAX, 0, err);
    ptq_kacts_free(&acts);
    return rc;
}

/* An online op of layer l outside the linears (qk, resid0, resid1). */
static int layer_op(const ptq_online_op *op, float *x, int rows, int n, int l, const char *site, ptq_err *err) {
    if (!ptq_online_op_apply(op, x, rows, n, err)) return 0;
    return ptq_wrap(err, "layers.%d.%s", l, site);
}

/* Rotate every head vector of `x` (T rows of nheads*hd) at positions pos0+t. */
static void rope(const ptq_model *m, const ptq_state *s, float *x, int T, int nheads, int pos0) {
    int hd = m->cfg.head_dim, half = hd / 2;
    for (int t = 0; t < T; t++) {
        const float *cs = s->rope_cos + (size_t)(pos0 + t) * half, *sn = s->rope_sin + (size_t)(pos0 + t) * half;
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

/* This layer's K (v = 0) or V cache if it is stored as integers, else NULL. */
static const ptq_kvcache *int_cache(const ptq_state *s, int layer, int v) {
    const ptq_kvcache *kc = s->kvq ? &s->kvq[2 * layer + v] : NULL;
    return kc && kc->f.bits ? kc : NULL;
}

/* Kv head kvh's rows at positions [0, L) of an int cache (row = position * n_kv_heads + head). */
static ptq_kvrows kv_head_rows(const ptq_model *m, const ptq_kvcache *kc, int kvh, int L) {
    size_t nkv = (size_t)m->cfg.n_kv_heads, sw = 2 * (size_t)kc->f.ngroups;
    return (ptq_kvrows){.codes = kc->codes + kvh * kc->f.row_bytes, .sz = kc->sz + kvh * sw,
                        .cstride = nkv * kc->f.row_bytes, .sstride = nkv * sw, .L = L};
}

/* Kv head kvh's K (v = 0) or V rows of layer's fp32 cache, leading dimension n_kv_heads * head_dim. */
static const float *fp32_cache(const ptq_model *m, const ptq_state *s, int layer, int v, int kvh) {
    size_t kvd = (size_t)m->cfg.n_kv_heads * m->cfg.head_dim;
    return (v ? s->value_cache : s->key_cache) + (size_t)layer * s->ctx * kvd + (size_t)kvh * m->cfg.head_dim;
}

/* K or V rows of kv head kvh at positions [0, L) as fp32 (leading dimension
 * *ld): the fp32 cache in place, or an int cache dequantized into panel. */
static const float *kv_rows(const ptq_model *m, const ptq_state *s, int layer, int v, int kvh, int L, float *panel,
                            int *ld) {
    const ptq_config *c = &m->cfg;
    int hd = c->head_dim, kvd = c->n_kv_heads * hd;
    const ptq_kvcache *kc = int_cache(s, layer, v);
    if (!kc) {
        *ld = kvd;
        return fp32_cache(m, s, layer, v, kvh);
    }
    ptq_kvrows rows = kv_head_rows(m, kc, kvh, L);
    ptq_kv_dequant_rows(&kc->f, &rows, panel);
    *ld = hd;
    return panel;
}

void ptq_softmax_causal(float *row, int n, int L) {
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

/* The threads of a region that indexes the state's per-thread scratch. */
static int team(const ptq_state *s) {
    int n = ptq_num_threads();
    return s->slots > 0 && s->slots < n ? s->slots : n;
}

/* One decode token: scores and the weighted sum of V read each cache row
 * once, in place, the int caches as codes (kvcache.c: the memory-bound case,
 * one head per thread, a fixed order). */
static void attention_decode(const ptq_model *m, ptq_state *s, int layer, int pos0) {
    const ptq_config *c = &m->cfg;
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads, L = pos0 + 1;
    size_t kvd = (size_t)c->n_kv_heads * hd;
    const ptq_kvcache *kc = int_cache(s, layer, 0), *vc = int_cache(s, layer, 1);
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(dynamic, 1) if ((long)c->n_heads * L * hd >= (1L << 16)) num_threads(team(s))
    for (int h = 0; h < c->n_heads; h++) {
        int tid = ptq_thread_id(), kvh = h / group;
        float *S = s->att + (size_t)tid * s->max_T * s->ctx, *o = s->xb2 + (size_t)h * hd;
        const float *q = s->q + (size_t)h * hd;
        if (kc) {
            ptq_kvrows rows = kv_head_rows(m, kc, kvh, L);
            ptq_kv_scores(&kc->f, q, &rows, scale, S);
        } else {
            ptq_kv_scores_f32(q, fp32_cache(m, s, layer, 0, kvh), kvd, L, hd, scale, S);
        }
        ptq_softmax_causal(S, L, L);
        if (vc) {
            ptq_kvrows rows = kv_head_rows(m, vc, kvh, L);
            ptq_kv_mix(&vc->f, S, &rows, o);
        } else {
            ptq_kv_mix_f32(S, fp32_cache(m, s, layer, 1, kvh), kvd, L, hd, o);
        }
    }
}

/* Causal attention of T queries at pos0.. over cache positions [0, pos0+T). */
static void attention(const ptq_model *m, ptq_state *s, int layer, int T, int pos0) {
    const ptq_config *c = &m->cfg;
    int hd = c->head_dim, qd = c->n_heads * hd, group = c->n_heads / c->n_kv_heads;
    int L = pos0 + T;
    if (T == 1) {
        attention_decode(m, s, layer, pos0);
        return;
    }
    float scale = 1.0f / sqrtf((float)hd);
    /* small attention (toy models, short contexts) on the calling thread: waking the team costs more */
#pragma omp parallel for schedule(dynamic, 1) if ((long)c->n_heads * T * L * hd >= (1L << 16)) num_threads(team(s))
    for (int h = 0; h < c->n_heads; h++) {
        int tid = ptq_thread_id();
        float *S = s->att + (size_t)tid * s->max_T * s->ctx;
        float *panel = s->kv_panel ? s->kv_panel + (size_t)tid * 2 * s->ctx * hd : NULL;
        int kvh = h / group, ldk, ldv;
        const float *kc = kv_rows(m, s, layer, 0, kvh, L, panel, &ldk);
        /* S (T x L) = Q_h K_h^T * scale */
        ptq_sgemm(CblasNoTrans, CblasTrans, T, L, hd, scale, s->q + (size_t)h * hd, qd, kc, ldk, 0.f, S, L);
        for (int t = 0; t < T; t++) ptq_softmax_causal(S + (size_t)t * L, pos0 + t + 1, L); /* causal: keys 0..pos0+t */
        const float *vc = kv_rows(m, s, layer, 1, kvh, L, panel ? panel + (size_t)s->ctx * hd : NULL, &ldv);
        /* out_h (T x hd) = P V_h */
        ptq_sgemm(CblasNoTrans, CblasNoTrans, T, hd, L, 1.f, S, L, vc, ldv, 0.f, s->xb2 + (size_t)h * hd, qd);
    }
}

/* The new K/V rows go to the cache quantized: integer codes on the packed
 * path, else fake-quantized fp32 (identity at 16 bits). */
static void kv_store(const ptq_model *m, ptq_state *s, int l, int T, int pos0) {
    const ptq_config *c = &m->cfg;
    const ptq_layer *L = &m->layers[l];
    int hd = c->head_dim, nkv = c->n_kv_heads, kvd = nkv * hd;
    for (int v = 0; v < 2; v++) {
        float *src = v ? s->v : s->k;
        const ptq_kvcache *kc = int_cache(s, l, v);
        if (!kc) {
            ptq_fq_rows(src, T * nkv, hd, v ? &L->vq : &L->kq);
            memcpy((v ? s->value_cache : s->key_cache) + ((size_t)l * s->ctx + pos0) * kvd, src,
                   (size_t)T * kvd * sizeof(float));
            continue;
        }
#pragma omp parallel for schedule(static) if (T * nkv > 256)
        for (int i = 0; i < T * nkv; i++) { /* row i = (token i / nkv, head i % nkv) */
            size_t r = (size_t)pos0 * nkv + i;
            ptq_kv_quant_row(&kc->f, src + (size_t)i * hd, kc->codes + r * kc->f.row_bytes,
                             kc->sz + r * 2 * kc->f.ngroups, kc->sz + r * 2 * kc->f.ngroups + kc->f.ngroups);
        }
    }
}

int ptq_forward_embed(const ptq_model *m, const int *tokens, int T, float *x, ptq_err *err) {
    int d = m->cfg.dim;
    for (int t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return ptq_fail(err, "token id %d at position %d is outside the vocabulary (0..%d)", tokens[t], t,
                            m->cfg.vocab_size - 1);
        if (m->tok_emb) memcpy(x + (size_t)t * d, m->tok_emb + (size_t)tokens[t] * d, d * sizeof(float));
        else ptq_w16_row(m->emb16.dtype, m->emb16.w + (size_t)tokens[t] * d, x + (size_t)t * d, d);
    }
    return 0;
}

/* The state holds T rows at positions pos0.. and layer l's caches. */
static int check_span(const ptq_state *s, int l, int T, int pos0, ptq_err *err) {
    if (T <= 0 || T > s->max_T) return ptq_fail(err, "forward: %d tokens, state holds 1..%d", T, s->max_T);
    if (pos0 < 0 || pos0 > s->ctx - T)
        return ptq_fail(err, "forward: positions %d..%d outside the state's context 0..%d", pos0, pos0 + T - 1,
                        s->ctx - 1);
    if (l < 0 || l >= s->n_layers) return ptq_fail(err, "forward: layer %d, state holds %d", l, s->n_layers);
    return 0;
}

/* The block in four parts, split at the inputs of o and down (kept in
 * s->xb2 and s->hb between parts). Each returns -1 on error, 1 when a
 * calibration capture stopped the block (lin_step), else 0. */
static int part_attn(const ptq_model *m, ptq_state *s, int l, float *x, int T, int pos0, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    const ptq_layer *L = &m->layers[l];
    int hd = c->head_dim, rc;
    rmsnorm_rows(s->xb, x, L->rms_att, T, c->dim, c->norm_eps);
    if ((rc = lin_step(s, L, PTQ_LIN_Q, s->xb, s->q, T, l, err)) ||
        (rc = lin_step(s, L, PTQ_LIN_K, s->xb, s->k, T, l, err)) ||
        (rc = lin_step(s, L, PTQ_LIN_V, s->xb, s->v, T, l, err)))
        return rc;
    rope(m, s, s->q, T, c->n_heads, pos0);
    rope(m, s, s->k, T, c->n_kv_heads, pos0);
    if (layer_op(&L->qk_op, s->q, T * c->n_heads, hd, l, "qk", err) ||
        layer_op(&L->qk_op, s->k, T * c->n_kv_heads, hd, l, "qk", err))
        return -1;
    kv_store(m, s, l, T, pos0);
    attention(m, s, l, T, pos0);
    return 0;
}

/* x += resid op(x) + y, as the residual adds of the block do. */
static int resid_add(const ptq_layer *L, int k, float *x, const float *y, int T, int d, int l, ptq_err *err) {
    if (layer_op(&L->resid_op[k], x, T, d, l, k ? "resid1" : "resid0", err)) return -1;
    for (size_t i = 0; i < (size_t)T * d; i++) x[i] += y[i];
    return 0;
}

/* Linear `which` of `in` into s->xb, then the block's residual add k. */
static int lin_resid(const ptq_model *m, ptq_state *s, int l, int which, int k, const float *in, float *x, int T,
                     ptq_err *err) {
    const ptq_layer *L = &m->layers[l];
    int rc = lin_step(s, L, which, in, s->xb, T, l, err);
    return rc ? rc : resid_add(L, k, x, s->xb, T, m->cfg.dim, l, err);
}

static int part_o(const ptq_model *m, ptq_state *s, int l, float *x, int T, int pos0, ptq_err *err) {
    (void)pos0;
    return lin_resid(m, s, l, PTQ_LIN_O, 0, s->xb2, x, T, err);
}

static int part_ffn(const ptq_model *m, ptq_state *s, int l, float *x, int T, int pos0, ptq_err *err) {
    (void)pos0;
    const ptq_config *c = &m->cfg;
    const ptq_layer *L = &m->layers[l];
    int rc;
    rmsnorm_rows(s->xb, x, L->rms_ffn, T, c->dim, c->norm_eps);
    if ((rc = lin_step(s, L, PTQ_LIN_GATE, s->xb, s->hb, T, l, err)) ||
        (rc = lin_step(s, L, PTQ_LIN_UP, s->xb, s->hb2, T, l, err)))
        return rc;
    ptq_silu_mul(s->hb, s->hb, s->hb2, (size_t)T * c->hidden_dim);
    return 0;
}

static int part_down(const ptq_model *m, ptq_state *s, int l, float *x, int T, int pos0, ptq_err *err) {
    (void)pos0;
    return lin_resid(m, s, l, PTQ_LIN_DOWN, 1, s->hb, x, T, err);
}

static int (*const g_parts[PTQ_PART_COUNT])(const ptq_model *, ptq_state *, int, float *, int, int, ptq_err *) = {
    [PTQ_PART_ATTN] = part_attn, [PTQ_PART_O] = part_o, [PTQ_PART_FFN] = part_ffn, [PTQ_PART_DOWN] = part_down};

int ptq_forward_part(const ptq_model *m, ptq_state *s, int l, int part, float *x, int T, int pos0, ptq_err *err) {
    if (part < 0 || part >= PTQ_PART_COUNT) return ptq_fail(err, "forward: block part %d (0..%d)", part, PTQ_PART_COUNT - 1);
    if (check_span(s, l, T, pos0, err)) return -1;
    return g_parts[part](m, s, l, x, T, pos0, err);
}

int ptq_forward_block(const ptq_model *m, ptq_state *s, int l, float *x, int T, int pos0, ptq_err *err) {
    if (check_span(s, l, T, pos0, err)) return -1;
    ptq_threads_adapt(); /* between blocks: follow the cores other jobs leave free (auto policy) */
    for (int p = 0; p < PTQ_PART_COUNT; p++) {
        int rc = g_parts[p](m, s, l, x, T, pos0, err);
        if (rc) return rc < 0 ? -1 : 0;
    }
    return 0;
}

int ptq_forward_head(const ptq_model *m, ptq_state *s, const float *x, int T, float *logits, ptq_err *err) {
    if (T <= 0 || T > s->max_T) return ptq_fail(err, "forward: %d tokens, state holds 1..%d", T, s->max_T);
    rmsnorm_rows(s->xb, x, m->rms_final, T, m->cfg.dim, m->cfg.norm_eps);
    return linear_in_state(s, &m->lm_head, s->xb, logits, T, m->cfg.n_layers, 0, 0, err);
}

int ptq_forward(const ptq_model *m, ptq_state *s, const int *tokens, int T, int pos0, float *logits, int last_only,
                ptq_err *err) {
    if (check_span(s, 0, T, pos0, err)) return -1;
    if (ptq_forward_embed(m, tokens, T, s->x, err)) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (ptq_forward_block(m, s, l, s->x, T, pos0, err)) return ptq_wrap(err, "forward");
    if (!logits) logits = s->logits;
    const float *x = last_only ? s->x + (size_t)(T - 1) * m->cfg.dim : s->x;
    if (ptq_forward_head(m, s, x, last_only ? 1 : T, logits, err)) return ptq_wrap(err, "forward");
    return 0;
}
