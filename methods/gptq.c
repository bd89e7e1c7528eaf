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
 * quant_lm_head, and then uses RTN (no GPTQ repo quantizes lm_head).
 * act_order with a group size (-g) makes groups over permuted columns
 * (GPTQ's g_idx, the qweight's gidx): exported as such, but the packed
 * kernels do not take them.
 * Block-wise (streamable): GPTQ of block l in block(), its activation/KV
 * quantizers in block_end() once the calibration inputs moved past it.
 * Speed (same objective, other last bits than an fp64 H): each batch's x x^T
 * is an fp32 product added into the fp64 H (the reference's H is fp32).
 * The true-sequential walk computes each linear's product once per window
 * (the reference runs the whole block for each group): o's and down's
 * inputs are kept between groups (N x T x dim, N x T x hidden floats) while
 * each fits in keep_mib, else recomputed from X (same bits); X is advanced
 * to the block's output by the walk itself. */
#include "gptq.h"

#include <stdlib.h>

#include "method_util.h"

static const ptq_opt_def gptq_opts[] = {
    {.name = "percdamp", .type = PTQ_OPT_FLOAT, .def = "0.01", .lo = 0.0, .hi = 10.0,
     .help = "Hessian damping as a fraction of mean(diag H)"},
    {.name = "blocksize", .type = PTQ_OPT_INT, .def = "128", .lo = 1, .hi = 65536,
     .help = "columns per lazy-update block"},
    {.name = "act_order", .type = PTQ_OPT_BOOL, .def = "false",
     .help = "quantize columns in order of descending diag(H)"},
    {.name = "true_sequential", .type = PTQ_OPT_BOOL, .def = "true",
     .help = "quantize q/k/v, o, gate/up, down in turn within a block"},
    {.name = "keep_mib", .type = PTQ_OPT_FLOAT, .def = "1024", .lo = 0, .hi = 1e7,
     .help = "true-sequential walk: keep o's/down's calibration inputs up to this size (MiB), else recompute them "
             "(same bits, more time)"},
    PTQ_CALIB_OPTS("128", "2048"),
    PTQ_ACT_KV_OPTS,
    {0}};

typedef struct {
    const ptq_apply_ctx *ctx;
    ptq_gptq_opts o;
    int true_seq;
} gptq_state;

extern const ptq_method ptq_method_gptq;

static int gptq_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    (void)m;
    const ptq_method *me = &ptq_method_gptq;
    gptq_state *s = ptq_calloc(1, sizeof *s, err);
    if (!s) return -1;
    s->ctx = ctx;
    s->o = ptq_gptq_default(ctx->q->w_bits);
    s->o.wq = ptq_method_wq(ctx, 0);
    s->o.percdamp = ptq_opt_num(me, ctx->opts, "percdamp");
    s->o.blocksize = (int)ptq_opt_num(me, ctx->opts, "blocksize");
    s->o.act_order = ptq_opt_bool(me, ctx->opts, "act_order");
    s->true_seq = ptq_opt_bool(me, ctx->opts, "true_sequential");
    s->o.keep_mib = ptq_opt_num(me, ctx->opts, "keep_mib");
    *state = s;
    return 0;
}

static int gptq_block(void *state, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    gptq_state *s = state;
    if (!X) return 0; /* W16: nothing to quantize */
    return ptq_gptq_block(m, layer, X, c, &s->o, s->true_seq, err);
}

static int gptq_block_end(void *state, ptq_model *m, int layer, ptq_err *err) {
    (void)err;
    gptq_state *s = state;
    ptq_install_act_kv_layer(m, &ptq_method_gptq, s->ctx, layer);
    return 0;
}

static int gptq_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    gptq_state *s = state;
    int rc = 0;
    if (ok) {
        rc = ptq_quant_lm_head(m, &ptq_method_gptq, s->ctx, &s->o.wq, err);
    }
    free(s);
    return rc;
}

/* Weights at W16 are not quantized: nothing needs the calibration data. */
static int gptq_needs_calib(const ptq_qspec *q, const cJSON *opts) {
    (void)opts;
    return q->w_bits < 16;
}

static const ptq_block_method gptq_blocks = {
    .begin = gptq_begin,
    .block = gptq_block,
    .block_end = gptq_block_end,
    .end = gptq_end,
};

const ptq_method ptq_method_gptq = {
    .name = "gptq",
    .summary = "GPTQ weights (Hessian-based error feedback), per-token activations",
    .opts = gptq_opts,
    .needs_calib = gptq_needs_calib,
    .blocks = &gptq_blocks,
};
