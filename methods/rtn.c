/* rtn.c — round-to-nearest baseline (METHODS.md §2; GPTQ/QuaRot code).
 * Weights: per output channel (or -g groups), symmetric by default, optional
 * MSE clip search (-mse). Activations: dynamic per-token at every linear
 * input; KV cache per head. No calibration, nothing fused, lm_head 16-bit
 * unless quant_lm_head. */
#include "method.h"

static const ptq_opt_def rtn_opts[] = {PTQ_ACT_KV_OPTS, {NULL, 0, NULL, 0, 0, NULL}};

static int rtn_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);

const ptq_method ptq_method_rtn = {
    "rtn", "round-to-nearest weights, per-token activations, per-head KV", 0, rtn_opts, NULL, rtn_apply};

static int rtn_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    ptq_wq_opts wq = ptq_method_wq(ctx, 1);
    if (ptq_rtn_all(m, &wq, ptq_opt_bool(&ptq_method_rtn, ctx->opts, "quant_lm_head"), err)) return -1;
    ptq_install_act_kv(m, &ptq_method_rtn, ctx);
    return 0;
}
