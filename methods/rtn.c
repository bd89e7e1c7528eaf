/* rtn.c — round-to-nearest baseline (METHODS.md §2; GPTQ/QuaRot code).
 * Weights: per output channel (or -g groups), symmetric by default, optional
 * MSE clip search (-mse). Activations: dynamic per-token at every linear
 * input; KV cache per head. No calibration, nothing fused, lm_head 16-bit
 * unless quant_lm_head. Block-wise (streamable): each block is rounded and
 * gets its quantizers on its own; lm_head at the end. */
#include <stdlib.h>

#include "method_util.h"

static const ptq_opt_def rtn_opts[] = {PTQ_ACT_KV_OPTS, {0}};

typedef struct {
    const ptq_apply_ctx *ctx;
    ptq_wq_opts wq;
} rtn_state;

extern const ptq_method ptq_method_rtn;

static int rtn_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    (void)m;
    rtn_state *s = ptq_calloc(1, sizeof *s, err);
    if (!s) return -1;
    s->ctx = ctx;
    s->wq = ptq_method_wq(ctx, 1);
    *state = s;
    return 0;
}

static int rtn_block(void *state, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    (void)X, (void)c;
    rtn_state *s = state;
    if (ptq_wq_layer(m, layer, &s->wq, err)) return -1;
    ptq_install_act_kv_layer(m, &ptq_method_rtn, s->ctx, layer);
    return 0;
}

static int rtn_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    rtn_state *s = state;
    int rc = 0;
    if (ok) {
        rc = ptq_quant_lm_head(m, &ptq_method_rtn, s->ctx, &s->wq, err);
    }
    free(s);
    return rc;
}

static const ptq_block_method rtn_blocks = {.begin = rtn_begin, .block = rtn_block, .end = rtn_end};

const ptq_method ptq_method_rtn = {
    .name = "rtn",
    .summary = "round-to-nearest weights, per-token activations, per-head KV",
    .opts = rtn_opts,
    .blocks = &rtn_blocks,
};
