/* tape.c — the model's training forward and backward (train.h) over the ops
 * of ops.h. The forward follows ptq_forward_block (forward.c) step for step:
 * RMSNorm, q/k/v (each linear: online op, explicit input rotation, activation
 * quantizer, product), RoPE, the Q/K op, K/V quantizers, causal attention,
 * o, the residual op and add, RMSNorm, gate/up, SwiGLU, down, residual; then
 * the final norm, lm_head and the cross-entropy. Every activation a backward
 * needs stays on the tape, one slot per layer; the backward walks it in
 * reverse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "train.h"
#include "train_internal.h"

typedef struct {
    float *x_in, *rstd1, *xn1, *q, *kq, *vq, *P, *att, *x_mid, *rstd2, *xn2, *hg, *hu, *hs;
    unsigned char *kmask, *vmask;
    float *xq[PTQ_LIN_COUNT];           /* what multiplied W, when not the linear's input itself */
    const float *xin[PTQ_LIN_COUNT];    /* = xq[j] or the input buffer */
    float *xo[PTQ_LIN_COUNT];           /* input of the explicit rotation (rot_x) */
    unsigned char *mask[PTQ_LIN_COUNT]; /* activation quantizer's STE mask, NULL: none */
} tslot;

struct ptq_tape {
    int max_T, T, nthr, n_layers;
    tslot *L; /* n_layers + 1: the last holds lm_head's linear slot */
    float *emb_raw, *x_fin, *rstd_f, *xn_f, *logits, *probs;
    int *tokens, *targets, has_loss;
    float *cos_t, *sin_t;
    /* scratch */
    float *s_in, *s_a, *s_b, *s_k, *s_v, *y_o, *y_d, *dx0, *dx1, *dxn, *dxmid, *datt, *dq, *dk, *dv, *dkq, *dvq;
    float *dhs, *dhg, *dhu, *att_scr, *dlogits;
};

static int max_in(const ptq_config *c) {
    int n = PTQ_MAX(c->dim, c->hidden_dim);
    return PTQ_MAX(n, c->n_heads * c->head_dim);
}

static float *fbuf(size_t n, ptq_err *err) {
    return ptq_calloc(n, sizeof(float), err);
}

ptq_tape *ptq_tape_new(const ptq_tmodel *tm, int max_T, ptq_err *err) {
    const ptq_config *c = &tm->m->cfg;
    if (max_T <= 0 || max_T > c->max_seq)
        return ptq_fail(err, "training window of %d tokens out of range 1..%d (model max_seq)", max_T, c->max_seq),
               NULL;
    ptq_tape *t = ptq_calloc(1, sizeof *t, err);
    if (!t) return NULL;
    size_t T = max_T, d = c->dim, qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t h = c->hidden_dim, V = c->vocab_size, mi = max_in(c), half = c->head_dim / 2;
    t->max_T = max_T, t->nthr = ptq_num_threads(), t->n_layers = c->n_layers;
    if (!(t->L = ptq_calloc(c->n_layers + 1, sizeof(tslot), err))) goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        tslot *s = &t->L[l];
        if (!(s->x_in = fbuf(T * d, err)) || !(s->rstd1 = fbuf(T, err)) || !(s->xn1 = fbuf(T * d, err)) ||
            !(s->q = fbuf(T * qd, err)) || !(s->kq = fbuf(T * kvd, err)) || !(s->vq = fbuf(T * kvd, err)) ||
            !(s->P = fbuf((size_t)c->n_heads * T * T, err)) || !(s->att = fbuf(T * qd, err)) ||
            !(s->x_mid = fbuf(T * d, err)) || !(s->rstd2 = fbuf(T, err)) || !(s->xn2 = fbuf(T * d, err)) ||
            !(s->hg = fbuf(T * h, err)) || !(s->hu = fbuf(T * h, err)) || !(s->hs = fbuf(T * h, err)) ||
            !(s->kmask = ptq_calloc(T * kvd, 1, err)) || !(s->vmask = ptq_calloc(T * kvd, 1, err)))
            goto fail;
    }
    if (!(t->emb_raw = fbuf(T * d, err)) || !(t->x_fin = fbuf(T * d, err)) || !(t->rstd_f = fbuf(T, err)) ||
        !(t->xn_f = fbuf(T * d, err)) || !(t->logits = fbuf(T * V, err)) || !(t->probs = fbuf(T * V, err)) ||
        !(t->tokens = ptq_calloc(T, sizeof(int), err)) || !(t->targets = ptq_calloc(T, sizeof(int), err)) ||
        !(t->cos_t = fbuf(T * half, err)) || !(t->sin_t = fbuf(T * half, err)) || !(t->s_in = fbuf(T * mi, err)) ||
        !(t->s_a = fbuf(T * mi, err)) || !(t->s_b = fbuf(T * mi, err)) || !(t->s_k = fbuf(T * kvd, err)) ||
        !(t->s_v = fbuf(T * kvd, err)) || !(t->y_o = fbuf(T * d, err)) || !(t->y_d = fbuf(T * d, err)) ||
        !(t->dx0 = fbuf(T * d, err)) || !(t->dx1 = fbuf(T * d, err)) || !(t->dxn = fbuf(T * d, err)) ||
        !(t->dxmid = fbuf(T * d, err)) || !(t->datt = fbuf(T * qd, err)) || !(t->dq = fbuf(T * qd, err)) ||
        !(t->dk = fbuf(T * kvd, err)) || !(t->dv = fbuf(T * kvd, err)) || !(t->dkq = fbuf(T * kvd, err)) ||
        !(t->dvq = fbuf(T * kvd, err)) || !(t->dhs = fbuf(T * h, err)) || !(t->dhg = fbuf(T * h, err)) ||
        !(t->dhu = fbuf(T * h, err)) || !(t->att_scr = fbuf((size_t)t->nthr * 2 * T * T, err)) ||
        !(t->dlogits = fbuf(T * V, err)))
        goto fail;
    ptq_rope_tables(c, max_T, t->cos_t, t->sin_t);
    return t;
fail:
    ptq_wrap(err, "training tape for %d tokens", max_T);
    ptq_tape_free(t);
    return NULL;
}

int ptq_tape_max_T(const ptq_tape *t) {
    return t->max_T;
}

static void slot_free(tslot *s) {
    float *b[] = {s->x_in, s->rstd1, s->xn1,   s->q,   s->kq, s->vq, s->P,
                  s->att,  s->x_mid, s->rstd2, s->xn2, s->hg, s->hu, s->hs};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        free(b[i]);
    free(s->kmask), free(s->vmask);
    for (int j = 0; j < PTQ_LIN_COUNT; j++)
        free(s->xq[j]), free(s->xo[j]), free(s->mask[j]);
}

void ptq_tape_free(ptq_tape *t) {
    if (!t) return;
    if (t->L)
        for (int l = 0; l <= t->n_layers; l++)
            slot_free(&t->L[l]);
    float *b[] = {t->emb_raw, t->x_fin, t->rstd_f, t->xn_f, t->logits,  t->probs,  t->cos_t, t->sin_t,
                  t->s_in,    t->s_a,   t->s_b,    t->s_k,  t->s_v,     t->y_o,    t->y_d,   t->dx0,
                  t->dx1,     t->dxn,   t->dxmid,  t->datt, t->dq,      t->dk,     t->dv,    t->dkq,
                  t->dvq,     t->dhs,   t->dhg,    t->dhu,  t->att_scr, t->dlogits};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        free(b[i]);
    free(t->L), free(t->tokens), free(t->targets), free(t);
}

/* ---- one linear ---- */

static int ensure(float **b, size_t n, ptq_err *err) {
    return *b || (*b = fbuf(n, err)) ? 0 : -1;
}

static const char *lin_name(const ptq_tmodel *tm, int l, int j) {
    return l == tm->m->cfg.n_layers ? "lm_head" : ptq_linear_names[j];
}

/* y = hooks(x) W_eff^T (+ b), keeping what multiplied W (and the STE mask). */
static int lin_fwd(ptq_tmodel *tm, ptq_tape *tp, int l, int j, const float *x, float *y, int T, ptq_err *err) {
    const ptq_linear *li = ptq_tm_linear(tm, l, j);
    const ptq_tlin *tl = &tm->lin[l * PTQ_LIN_COUNT + j];
    tslot *s = &tp->L[l];
    size_t n = (size_t)T * li->in, cap = (size_t)tp->max_T * li->in;
    const float *pre = x;
    if (tm->priv->lin_op[l * PTQ_LIN_COUNT + j]) {
        memcpy(tp->s_in, x, n * sizeof(float));
        if (ptq_online_op_apply(&li->in_op, tp->s_in, T, li->in, err))
            return ptq_wrap(err, "layers.%d.%s.in", l, lin_name(tm, l, j));
        pre = tp->s_in;
    }
    if (tl->rot_x) {
        if (ensure(&s->xo[j], cap, err)) return -1;
        memcpy(s->xo[j], pre, n * sizeof(float));
        ptq_rotate_forward(tp->s_a, s->xo[j], tm->rmat[tl->in_rot], T, li->in, tl->in_block);
        pre = tp->s_a;
    }
    if (li->aq.bits < 16 && li->aq.bits > 0) {
        if (ensure(&s->xq[j], cap, err) || (!s->mask[j] && !(s->mask[j] = ptq_calloc(cap, 1, err)))) return -1;
        ptq_fq_ste_forward(s->xq[j], s->mask[j], pre, T, li->in, &li->aq);
        s->xin[j] = s->xq[j];
    } else if (pre != x) {
        if (ensure(&s->xq[j], cap, err)) return -1;
        memcpy(s->xq[j], pre, n * sizeof(float));
        s->xin[j] = s->xq[j];
        free(s->mask[j]), s->mask[j] = NULL;
    } else {
        s->xin[j] = x; /* a tape buffer that outlives the backward */
        free(s->mask[j]), s->mask[j] = NULL;
    }
    ptq_matmul_forward(y, s->xin[j], ptq_tmodel_weight(tm, l, j), li->bias, T, li->in, li->out);
    return 0;
}

/* dx += d/dx of lin_fwd given dy; d/dW_eff, d/db and the rotation's gradient add. */
static void lin_bwd(ptq_tmodel *tm, ptq_tape *tp, int l, int j, const float *dy, float *dx, int T) {
    const ptq_linear *li = ptq_tm_linear(tm, l, j);
    const ptq_tlin *tl = &tm->lin[l * PTQ_LIN_COUNT + j];
    const ptq_tpriv *pv = tm->priv;
    tslot *s = &tp->L[l];
    int k = l * PTQ_LIN_COUNT + j;
    size_t n = (size_t)T * li->in;
    float *dW = ptq_tm_has_transform(tl) ? tl->dw_eff : ptq_tm_pgrad(tm, pv->w[k]);
    float *db = ptq_tm_pgrad(tm, pv->b[k]);
    const float *A = pv->lin_op[k], *W = ptq_tmodel_weight(tm, l, j);
    if (!A && !tl->rot_x && !s->mask[j]) {
        ptq_matmul_backward(dx, dW, db, dy, s->xin[j], W, T, li->in, li->out);
        return;
    }
    float *d1 = tp->s_a;
    memset(d1, 0, n * sizeof(float));
    ptq_matmul_backward(d1, dW, db, dy, s->xin[j], W, T, li->in, li->out);
    if (s->mask[j])
        for (size_t i = 0; i < n; i++)
            d1[i] = s->mask[j][i] ? d1[i] : 0.f;
    if (tl->rot_x) {
        float *d2 = tp->s_b;
        memset(d2, 0, n * sizeof(float));
        ptq_rotate_backward(d2, tm->drmat[tl->in_rot], d1, s->xo[j], tm->rmat[tl->in_rot], T, li->in, tl->in_block);
        d1 = d2;
    }
    if (A)
        ptq_sgemm(CblasNoTrans, CblasTrans, T, li->in, li->in, 1.f, d1, li->in, A, li->in, 1.f, dx, li->in);
    else
        for (size_t i = 0; i < n; i++)
            dx[i] += d1[i];
}

/* x <- x A^T rows (the backward of an online op x -> x A), via scratch. */
static void op_bwd(const float *A, float *x, int rows, int n, float *scratch) {
    if (!A) return;
    memcpy(scratch, x, (size_t)rows * n * sizeof(float));
    ptq_sgemm(CblasNoTrans, CblasTrans, rows, n, n, 1.f, scratch, n, A, n, 0.f, x, n);
}

static int layer_op(const ptq_online_op *op, float *x, int rows, int n, int l, const char *site, ptq_err *err) {
    if (!ptq_online_op_apply(op, x, rows, n, err)) return 0;
    return ptq_wrap(err, "layers.%d.%s", l, site);
}

/* ---- one block ---- */

static int check_T(const ptq_tape *tp, int T, ptq_err *err) {
    if (T <= 0 || T > tp->max_T) return ptq_fail(err, "training: %d tokens, tape holds 1..%d", T, tp->max_T);
    return 0;
}

int ptq_train_block_forward(ptq_tmodel *tm, ptq_tape *tp, int l, const float *x_in, float *x_out, int T, ptq_err *err) {
    const ptq_config *c = &tm->m->cfg;
    if (check_T(tp, T, err)) return -1;
    if (l < 0 || l >= c->n_layers) return ptq_fail(err, "training: no layer %d", l);
    const ptq_layer *L = &tm->m->layers[l];
    tslot *s = &tp->L[l];
    int d = c->dim, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    size_t nd = (size_t)T * d;
    tp->T = T;
    if (x_in != s->x_in) memcpy(s->x_in, x_in, nd * sizeof(float));

    ptq_rmsnorm_forward(s->xn1, s->rstd1, s->x_in, L->rms_att, T, d, c->norm_eps);
    if (lin_fwd(tm, tp, l, PTQ_LIN_Q, s->xn1, s->q, T, err) || lin_fwd(tm, tp, l, PTQ_LIN_K, s->xn1, tp->s_k, T, err) ||
        lin_fwd(tm, tp, l, PTQ_LIN_V, s->xn1, tp->s_v, T, err))
        return -1;
    ptq_rope_forward(s->q, tp->cos_t, tp->sin_t, T, nh, hd, c->rope_style, 0);
    ptq_rope_forward(tp->s_k, tp->cos_t, tp->sin_t, T, nkv, hd, c->rope_style, 0);
    if (layer_op(&L->qk_op, s->q, T * nh, hd, l, "qk", err) || layer_op(&L->qk_op, tp->s_k, T * nkv, hd, l, "qk", err))
        return -1;
    ptq_fq_ste_forward(s->kq, s->kmask, tp->s_k, T * nkv, hd, &L->kq);
    ptq_fq_ste_forward(s->vq, s->vmask, tp->s_v, T * nkv, hd, &L->vq);
    ptq_attention_forward(s->att, s->P, s->q, s->kq, s->vq, T, nh, nkv, hd);
    if (lin_fwd(tm, tp, l, PTQ_LIN_O, s->att, tp->y_o, T, err)) return -1;
    memcpy(s->x_mid, s->x_in, nd * sizeof(float));
    if (layer_op(&L->resid_op[0], s->x_mid, T, d, l, "resid0", err)) return -1;
    for (size_t i = 0; i < nd; i++)
        s->x_mid[i] += tp->y_o[i];

    ptq_rmsnorm_forward(s->xn2, s->rstd2, s->x_mid, L->rms_ffn, T, d, c->norm_eps);
    if (lin_fwd(tm, tp, l, PTQ_LIN_GATE, s->xn2, s->hg, T, err) ||
        lin_fwd(tm, tp, l, PTQ_LIN_UP, s->xn2, s->hu, T, err))
        return -1;
    ptq_swiglu_forward(s->hs, s->hg, s->hu, (size_t)T * c->hidden_dim);
    if (lin_fwd(tm, tp, l, PTQ_LIN_DOWN, s->hs, tp->y_d, T, err)) return -1;
    if (x_out != s->x_mid) memcpy(x_out, s->x_mid, nd * sizeof(float));
    if (layer_op(&L->resid_op[1], x_out, T, d, l, "resid1", err)) return -1;
    for (size_t i = 0; i < nd; i++)
        x_out[i] += tp->y_d[i];
    return 0;
}

int ptq_train_block_backward(ptq_tmodel *tm, ptq_tape *tp, int l, const float *dx_out, float *dx_in, int T,
                             ptq_err *err) {
    const ptq_config *c = &tm->m->cfg;
    if (check_T(tp, T, err)) return -1;
    if (l < 0 || l >= c->n_layers) return ptq_fail(err, "training: no layer %d", l);
    const ptq_layer *L = &tm->m->layers[l];
    const ptq_tpriv *pv = tm->priv;
    tslot *s = &tp->L[l];
    int d = c->dim, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, hid = c->hidden_dim;
    size_t nd = (size_t)T * d, nq = (size_t)T * nh * hd, nkvd = (size_t)T * nkv * hd, nh_ = (size_t)T * hid;
    float *dxi = dx_in ? dx_in : tp->dx1;
    if (!dx_in) memset(dxi, 0, nd * sizeof(float));
    if (ptq_num_threads() > tp->nthr) { /* threads raised since the tape was made: attention scratch per thread */
        int n = ptq_num_threads();
        float *a = fbuf((size_t)n * 2 * tp->max_T * tp->max_T, err);
        if (!a) return ptq_wrap(err, "training backward");
        free(tp->att_scr);
        tp->att_scr = a, tp->nthr = n;
    }

    /* x_out = r1(x_mid) + down(swiglu(gate(n2), up(n2))) */
    memset(tp->dhs, 0, nh_ * sizeof(float));
    lin_bwd(tm, tp, l, PTQ_LIN_DOWN, dx_out, tp->dhs, T);
    memcpy(tp->dxmid, dx_out, nd * sizeof(float));
    op_bwd(pv->res_op[2 * l + 1], tp->dxmid, T, d, tp->s_in);
    memset(tp->dhg, 0, nh_ * sizeof(float));
    memset(tp->dhu, 0, nh_ * sizeof(float));
    ptq_swiglu_backward(tp->dhg, tp->dhu, tp->dhs, s->hg, s->hu, nh_);
    memset(tp->dxn, 0, nd * sizeof(float));
    lin_bwd(tm, tp, l, PTQ_LIN_GATE, tp->dhg, tp->dxn, T);
    lin_bwd(tm, tp, l, PTQ_LIN_UP, tp->dhu, tp->dxn, T);
    ptq_rmsnorm_backward(tp->dxmid, ptq_tm_pgrad(tm, pv->rms_ffn[l]), tp->dxn, s->x_mid, L->rms_ffn, s->rstd2, T, d);

    /* x_mid = r0(x_in) + o(attention(rope(q), kq, vq)) */
    memset(tp->datt, 0, nq * sizeof(float));
    lin_bwd(tm, tp, l, PTQ_LIN_O, tp->dxmid, tp->datt, T);
    op_bwd(pv->res_op[2 * l], tp->dxmid, T, d, tp->s_in);
    for (size_t i = 0; i < nd; i++)
        dxi[i] += tp->dxmid[i];
    memset(tp->dq, 0, nq * sizeof(float));
    memset(tp->dkq, 0, nkvd * sizeof(float));
    memset(tp->dvq, 0, nkvd * sizeof(float));
    ptq_attention_backward(tp->dq, tp->dkq, tp->dvq, tp->datt, s->P, s->q, s->kq, s->vq, T, nh, nkv, hd, tp->att_scr);
    memset(tp->dk, 0, nkvd * sizeof(float));
    memset(tp->dv, 0, nkvd * sizeof(float));
    ptq_fq_ste_backward(tp->dk, tp->dkq, s->kmask, nkvd);
    ptq_fq_ste_backward(tp->dv, tp->dvq, s->vmask, nkvd);
    op_bwd(pv->qk_op[l], tp->dq, T * nh, hd, tp->s_in);
    op_bwd(pv->qk_op[l], tp->dk, T * nkv, hd, tp->s_in);
    ptq_rope_backward(tp->dq, tp->cos_t, tp->sin_t, T, nh, hd, c->rope_style, 0);
    ptq_rope_backward(tp->dk, tp->cos_t, tp->sin_t, T, nkv, hd, c->rope_style, 0);
    memset(tp->dxn, 0, nd * sizeof(float));
    lin_bwd(tm, tp, l, PTQ_LIN_Q, tp->dq, tp->dxn, T);
    lin_bwd(tm, tp, l, PTQ_LIN_K, tp->dk, tp->dxn, T);
    lin_bwd(tm, tp, l, PTQ_LIN_V, tp->dv, tp->dxn, T);
    ptq_rmsnorm_backward(dxi, ptq_tm_pgrad(tm, pv->rms_att[l]), tp->dxn, s->x_in, L->rms_att, s->rstd1, T, d);
    return 0;
}

/* ---- whole model ---- */

int ptq_train_forward(ptq_tmodel *tm, ptq_tape *tp, const int *tokens, const int *targets, int T, float *logits,
                      double *loss, ptq_err *err) {
    const ptq_config *c = &tm->m->cfg;
    int d = c->dim, Ln = c->n_layers, V = c->vocab_size;
    if (check_T(tp, T, err)) return -1;
    for (int t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= V)
            return ptq_fail(err, "training: token id %d at position %d is outside the vocabulary (0..%d)", tokens[t], t,
                            V - 1);
        if (targets && targets[t] >= V)
            return ptq_fail(err, "training: target id %d at position %d is outside the vocabulary (0..%d)", targets[t],
                            t, V - 1);
    }
    if (ptq_train_prepare(tm, err)) return -1;
    tp->T = T;
    memcpy(tp->tokens, tokens, (size_t)T * sizeof(int));
    float *x0 = Ln ? tp->L[0].x_in : tp->x_fin;
    if (tm->emb_rot >= 0) {
        ptq_embedding_forward(tp->emb_raw, tokens, T, tm->m->tok_emb, d);
        ptq_rotate_forward(x0, tp->emb_raw, tm->rmat[tm->emb_rot], T, d, d);
    } else
        ptq_embedding_forward(x0, tokens, T, tm->m->tok_emb, d);
    for (int l = 0; l < Ln; l++)
        if (ptq_train_block_forward(tm, tp, l, tp->L[l].x_in, l + 1 < Ln ? tp->L[l + 1].x_in : tp->x_fin, T, err))
            return ptq_wrap(err, "training forward");
    ptq_rmsnorm_forward(tp->xn_f, tp->rstd_f, tp->x_fin, tm->m->rms_final, T, d, c->norm_eps);
    if (lin_fwd(tm, tp, Ln, 0, tp->xn_f, tp->logits, T, err)) return ptq_wrap(err, "training forward");
    if (logits) memcpy(logits, tp->logits, (size_t)T * V * sizeof(float));
    tp->has_loss = targets != NULL;
    if (targets) {
        memcpy(tp->targets, targets, (size_t)T * sizeof(int));
        double ce = ptq_crossentropy_forward(tp->probs, tp->logits, targets, T, V);
        if (loss) *loss = ce;
    }
    return 0;
}

int ptq_train_backward(ptq_tmodel *tm, ptq_tape *tp, float scale, ptq_err *err) {
    const ptq_config *c = &tm->m->cfg;
    const ptq_tpriv *pv = tm->priv;
    int T = tp->T, d = c->dim, Ln = c->n_layers, V = c->vocab_size;
    size_t nd = (size_t)T * d;
    if (!tp->has_loss) return ptq_fail(err, "training backward: the last forward computed no loss (no targets)");
    memset(tp->dlogits, 0, (size_t)T * V * sizeof(float));
    ptq_crossentropy_backward(tp->dlogits, tp->probs, tp->targets, T, V, scale);
    memset(tp->dxn, 0, nd * sizeof(float));
    lin_bwd(tm, tp, Ln, 0, tp->dlogits, tp->dxn, T);
    float *dx = tp->dx0, *dprev = tp->dx1;
    memset(dx, 0, nd * sizeof(float));
    ptq_rmsnorm_backward(dx, ptq_tm_pgrad(tm, pv->rms_final), tp->dxn, tp->x_fin, tm->m->rms_final, tp->rstd_f, T, d);
    for (int l = Ln - 1; l >= 0; l--) {
        memset(dprev, 0, nd * sizeof(float));
        if (ptq_train_block_backward(tm, tp, l, dx, dprev, T, err)) return ptq_wrap(err, "training backward");
        float *t = dx;
        dx = dprev, dprev = t;
    }
    if (tm->emb_rot >= 0) {
        memset(dprev, 0, nd * sizeof(float));
        ptq_rotate_backward(dprev, tm->drmat[tm->emb_rot], dx, tp->emb_raw, tm->rmat[tm->emb_rot], T, d, d);
        dx = dprev;
    }
    float *dE = ptq_tm_pgrad(tm, pv->emb);
    if (dE) ptq_embedding_backward(dE, dx, tp->tokens, T, d);
    ptq_train_finish_grads(tm);
    return 0;
}
