/* method_util.c — helpers the method files share (method_util.h). */
#include "method_util.h"

#include <stdlib.h>
#include <string.h>

int ptq_needs_calib_always(const ptq_qspec *q, const cJSON *opts) {
    (void)q, (void)opts;
    return 1;
}

/* Per-token activation quantizer: the bit-spec's fields, else the method's
 * a_sym option (or its default), clip 1, one group per token. */
static ptq_act_qspec act_spec(const ptq_method *meth, const ptq_apply_ctx *ctx) {
    const ptq_qspec *q = ctx->q;
    return (ptq_act_qspec){q->a_bits, q->a_sym >= 0 ? q->a_sym : ptq_opt_bool(meth, ctx->opts, "a_sym"),
                           q->a_clip > 0.f ? q->a_clip : 1.f, q->a_group >= 0 ? q->a_group : 0};
}

void ptq_install_act_kv_layer(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx, int layer) {
    const ptq_qspec *q = ctx->q;
    ptq_act_qspec a = act_spec(meth, ctx);
    for (int j = 0; j < PTQ_LIN_COUNT; j++)
        m->layers[layer].lin[j].aq = a;
    int g = q->kv_group >= 0 ? q->kv_group : (int)ptq_opt_num(meth, ctx->opts, "kv_group");
    ptq_act_qspec kv = {q->kv_bits, q->kv_sym >= 0 ? q->kv_sym : ptq_opt_bool(meth, ctx->opts, "kv_sym"),
                        q->kv_clip > 0.f ? q->kv_clip : (float)ptq_opt_num(meth, ctx->opts, "kv_clip"),
                        g >= m->cfg.head_dim ? 0 : g};
    m->layers[layer].kq = m->layers[layer].vq = kv;
}

int ptq_quant_lm_head(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx, const ptq_wq_opts *wq,
                      ptq_err *err) {
    if (!ptq_opt_bool(meth, ctx->opts, "quant_lm_head")) return 0;
    ptq_wq_opts o = *wq;
    o.bits = ptq_lm_head_wbits(meth, ctx->opts, wq->bits);
    if (ptq_wq_lm_head(m, &o, err)) return -1;
    ptq_act_qspec a = act_spec(meth, ctx);
    int set = ptq_lm_head_wbits(meth, ctx->opts, 0) > 0; /* quant_lm_head holds here: 0 iff lm_head_bits unset */
    if (a.bits < 16 && set) a.bits = o.bits; /* lm_head_bits=8: an int8 classifier takes int8 inputs */
    m->lm_head.aq = a;
    return 0;
}

ptq_wq_opts ptq_method_wq(const ptq_apply_ctx *ctx, int default_sym) {
    const ptq_qspec *q = ctx->q;
    ptq_wq_opts o = ptq_wq_default(q->w_bits, q->w_sym >= 0 ? q->w_sym : default_sym);
    o.group = q->w_group;
    o.mse = q->w_mse;
    return o;
}


int ptq_transpose_inplace(float *W, int rows, int cols, ptq_err *err) {
    float *t = ptq_calloc((size_t)rows * cols, sizeof(float), err);
    if (!t) return -1;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            t[(size_t)c * rows + r] = W[(size_t)r * cols + c];
    memcpy(W, t, (size_t)rows * cols * sizeof(float));
    free(t);
    return 0;
}

int ptq_fold_out(const ptq_online_op *op, float *W, int n, int cols, ptq_err *err) {
    if (ptq_transpose_inplace(W, n, cols, err) || ptq_online_op_apply(op, W, cols, n, err)) return -1;
    return ptq_transpose_inplace(W, cols, n, err);
}

void ptq_fold_norm(float *W, int rows, int cols, float *g) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            W[(size_t)r * cols + j] *= g[j];
    for (int j = 0; j < cols; j++)
        g[j] = 1.f;
}
