/* gptq.c — GPTQ (Frantar et al., ICLR 2023), METHODS.md §4; the column loop
 * lives in src/gptq.c (shared with SEPTQ/SpecQuant/QuaRot).
 *
 * Blocks are processed true-sequentially ({q,k,v}, {o}, {gate,up}, {down}),
 * each fed the outputs of the already-quantized blocks. Per linear:
 * H = 2/N sum x x^T (fp64), dead columns zeroed, optional act-order,
 * damp 0.01 * mean(diag H), Hinv = chol(H^-1)^T, 128-column blocks with lazy
 * updates, per-channel or -g group grids, optional MSE clip (-mse).
 * Resolved: weights default to asymmetric (the GPTQ repo's default, --sym
 * off); nsamples 128 x seqlen 2048 are capped at the model's max_seq and
 * recorded; calibration defaults to the harness calibration text (C4 train
 * sample, or TinyStories 501-1000 for the stories models). At A<16 the
 * activations/KV are fake-quantized after GPTQ (calibration sees FP
 * activations, as in QuaRot's pipeline). lm_head stays 16-bit unless
 * quant_lm_head, and then uses RTN (no GPTQ repo quantizes lm_head). */
#include "gptq.h"

#include "method.h"

static const ptq_opt_def gptq_opts[] = {
    {"percdamp", PTQ_OPT_FLOAT, "0.01", 0.0, 10.0, "Hessian damping as a fraction of mean(diag H)"},
    {"blocksize", PTQ_OPT_INT, "128", 1, 65536, "columns per lazy-update block"},
    {"act_order", PTQ_OPT_BOOL, "false", 0, 0, "quantize columns in order of descending diag(H)"},
    {"true_sequential", PTQ_OPT_BOOL, "true", 0, 0, "quantize q/k/v, o, gate/up, down in turn within a block"},
    PTQ_CALIB_OPTS("128", "2048"),
    PTQ_ACT_KV_OPTS,
    {NULL, 0, NULL, 0, 0, NULL}};

static int gptq_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);

const ptq_method ptq_method_gptq = {
    "gptq", "GPTQ weights (Hessian-based error feedback), per-token activations", 1, gptq_opts, NULL, gptq_apply};

static int gptq_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    const ptq_method *me = &ptq_method_gptq;
    ptq_gptq_opts o = ptq_gptq_default(ctx->q->w_bits);
    o.wq = ptq_method_wq(ctx, 0);
    o.percdamp = ptq_opt_num(me, ctx->opts, "percdamp");
    o.blocksize = (int)ptq_opt_num(me, ctx->opts, "blocksize");
    o.act_order = ptq_opt_bool(me, ctx->opts, "act_order");
    if (ctx->q->w_bits < 16) {
        ptq_calib c;
        if (ptq_method_calib(me, ctx, m, &c, err)) return -1;
        int rc = ptq_gptq_model(m, &c, &o, ptq_opt_bool(me, ctx->opts, "true_sequential"), err);
        ptq_calib_free(&c);
        if (rc) return -1;
    }
    int qlm = ptq_opt_bool(me, ctx->opts, "quant_lm_head");
    if (qlm && ctx->q->w_bits < 16) {
        if (ptq_model_untie(m, err)) return -1;
        ptq_wq_rtn(m->lm_head.w, m->lm_head.out, m->lm_head.in, &o.wq);
    }
    ptq_install_act_kv(m, me, ctx);
    return 0;
}
