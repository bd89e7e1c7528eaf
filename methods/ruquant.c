/* ruquant.c — RUQuant, closed-form variant (arXiv 2604.04013, KDD 2026),
 * METHODS.md §8: DuQuant's pipeline with RUQuant's rotation construction.
 *
 * Per decoder layer and per input group (q/k/v, o, gate/up, down):
 *   1. Smoothing s = clamp(a^alpha / max_i|W_ij|^(1-alpha), 1e-5), alpha 0.6,
 *      a = max|X| over the calibration windows.
 *   2. On the layer input averaged over the windows (DuQuant's rotate_inps),
 *      each group's smoothed input X (T x C): get_R (K=16 Householder steps
 *      toward a uniform random target of equal norm, lambda=3 Givens rounds
 *      with random permutations) on its B-blocks, block rotation R1; zigzag
 *      permutation by channel max; get_R again, R2; global Householder from
 *      the token holding the largest |entry|.
 *   3. The same orthogonal transforms go onto W's input dimension (rows of W
 *      treated like tokens), W[:, j] *= s_j first, so X'W'^T = XW^T.
 *   4. RTN weights, per-channel asymmetric with clip swc; activations
 *      per-token asymmetric with clip lac; online op on every group input:
 *      (x / s), block R1, permutation, block R2, Householder.
 * Resolved ambiguities / deviations:
 *   - B = largest divisor of the input width <= block (128): stories260K
 *     gives 64 (dim 64, one block: zigzag is then the identity) and 86
 *     (hidden 172); TinyStories-656K 128. DuQuant requires C % B == 0.
 *   - One transform per input group (q/k/v share one, gate/up share one),
 *     as RUQuant's fine-tuned stage groups them; installed on each linear.
 *   - Smoothing fuses into RMSNorm for q/k/v and gate/up; for o_proj and
 *     down_proj the 1/s is applied online inside the same op (DuQuant does
 *     this for down_proj; the v->o fusion is replaced by the online divide
 *     since o_proj already has an online op). The q/k smoothing pair
 *     (qkt_smooth_scale) is not built: Q is not quantized in this harness.
 *   - Givens: the 2x2 block maps the pair onto its target,
 *     (a, b) -> (c a - s b, s a + c b), with c, s from METHODS.md.
 *   - lac = 0.9 at A<=4 else 1.0; swc = 0.8 at W<=4 else 1.0 (options
 *     override). KV bits come from the bit-spec (RUQuant's W4A4 is this
 *     harness's W4A4KV4): per-head asymmetric, after a head_dim Hadamard on
 *     Q and K (qk_op) when KV < 16. Scale clamps [1e-5, 1e4] are not applied.
 *   - All groups of a layer are calibrated from the layer's FP input before
 *     the layer is changed (DuQuant calibrates the layer in one pass); the
 *     walk then advances through the quantized layer. lm_head stays 16-bit.
 *   - Stage 2 (finetune=true, ruquant_ft.c): per block, each group's
 *     global Householder vector is learned with AdamW (lr 1e-2, 20 epochs,
 *     batch 1) on the MSE between the FP block output and the quantized
 *     block output (activations, KV and RTN weights fake-quantized,
 *     straight-through), then folded and the weights quantized. In fp32, not
 *     AMP; the targets are the FP block's outputs on the block's
 *     (true-sequential) calibration inputs; KV and the Q/K Hadamard are on
 *     while training and are installed for evaluation in block_end as
 *     without +ft.
 *   - Rotations are built even at W16A16 (then the model is the rotated FP
 *     model, which tests use to check exactness). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hadamard.h"
#include "lincapture.h"
#include "method_util.h"
#include "rotations.h"
#include "ruquant_ft.h"

static const ptq_opt_def ru_opts[] = {
    {.name = "alpha", .type = PTQ_OPT_FLOAT, .def = "0.6", .lo = 0.0, .hi = 1.0, .help = "smoothing strength"},
    {.name = "block", .type = PTQ_OPT_INT, .def = "128", .lo = 2, .hi = 4096,
     .help = "max block size B (largest divisor of the width <= block is used)"},
    {.name = "K", .type = PTQ_OPT_INT, .def = "16", .lo = 0, .hi = 1000, .help = "Householder steps per get_R"},
    {.name = "lambda", .type = PTQ_OPT_INT, .def = "3", .lo = 0, .hi = 100,
     .help = "Givens rounds per Householder step"},
    {.name = "zigzag", .type = PTQ_OPT_BOOL, .def = "true", .help = "zigzag permutation + second rotation"},
    {.name = "householder", .type = PTQ_OPT_BOOL, .def = "true", .help = "global Householder reflection"},
    {.name = "lac", .type = PTQ_OPT_FLOAT, .def = "-1", .lo = -1.0, .hi = 1.0,
     .help = "activation clip ratio (-1: 0.9 at A<=4, else 1.0)"},
    {.name = "swc", .type = PTQ_OPT_FLOAT, .def = "-1", .lo = -1.0, .hi = 1.0,
     .help = "weight clip ratio (-1: 0.8 at W<=4, else 1.0)"},
    {.name = "kv_hadamard", .type = PTQ_OPT_BOOL, .def = "true",
     .help = "Hadamard on Q/K heads before KV quantization"},
    {.name = "finetune", .type = PTQ_OPT_BOOL, .def = "false",
     .help = "stage 2 (+ft): learn each group's Householder vector with AdamW on the block-output MSE"},
    {.name = "ft_epochs", .type = PTQ_OPT_INT, .def = "20", .lo = 1, .hi = 100000,
     .help = "+ft: epochs over the calibration windows (batch 1)"},
    {.name = "ft_lr", .type = PTQ_OPT_FLOAT, .def = "0.01", .lo = 0.0, .hi = 10.0, .help = "+ft: AdamW learning rate"},
    PTQ_CALIB_OPTS("128", "2048"),
    {0}};

extern const ptq_method ptq_method_ruquant;

static const int groups[4][3] = {{PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V}, {PTQ_LIN_O, -1, -1},
                                 {PTQ_LIN_GATE, PTQ_LIN_UP, -1}, {PTQ_LIN_DOWN, -1, -1}};

typedef struct {
    const ptq_apply_ctx *ctx;
    ptq_ru_opts ro;
    int maxB;
    double alpha, lac, swc;
    ptq_wq_opts wq;
    double online_flops; /* per token, all layers */
    int had;             /* Hadamard on Q/K heads (KV < 16) */
    int ft, ft_epochs;   /* stage 2 */
    double ft_lr;
    cJSON *ft_info;      /* per layer: block-output MSE, first and last epoch */
} ru_run;

/* Inputs of every group for the window-averaged layer input (T x C each). */
typedef struct {
    float *x[4];
    int T;
} mean_cap;

static int group_of(int which) {
    for (int g = 0; g < 4; g++)
        if (groups[g][0] == which) return g;
    return -1;
}

static void on_mean(void *ctx, int layer, int which, const float *x, const float *xq, int T, int n) {
    mean_cap *mc = ctx;
    (void)layer, (void)xq;
    int g = group_of(which);
    if (g >= 0 && mc->x[g]) memcpy(mc->x[g], x, sizeof(float) * T * n);
}

static int capture_mean(ptq_model *m, int layer, const float *X, const ptq_calib *c, mean_cap *mc, ptq_err *err) {
    int d = m->cfg.dim, T = c->seqlen, rc = -1;
    int width[4] = {d, m->layers[layer].lin[PTQ_LIN_O].in, d, m->cfg.hidden_dim};
    float *xm = ptq_calloc((size_t)T * d, sizeof(float), err);
    ptq_state s;
    if (!xm) return -1;
    for (int i = 0; i < c->nsamples; i++)
        for (size_t k = 0; k < (size_t)T * d; k++) xm[k] += X[(size_t)i * T * d + k] / c->nsamples;
    mc->T = T;
    for (int g = 0; g < 4; g++)
        if (!(mc->x[g] = ptq_calloc((size_t)T * width[g], sizeof(float), err))) goto out;
    if (ptq_state_init(&s, m, T, err)) goto out;
    s.capture = on_mean;
    s.capture_ctx = mc;
    rc = ptq_forward_block(m, &s, layer, xm, T, 0, err);
    ptq_state_free(&s);
out:
    free(xm);
    return rc;
}

/* Smooth, calibrate and install the transform of group g; xg (T x C) is
 * the group's input for the window-averaged layer input. */
static int do_group(ru_run *r, ptq_model *m, int layer, int g, const ptq_lincap *cap, float *xg, int T,
                    ptq_err *err) {
    ptq_layer *Ly = &m->layers[layer];
    int C = cap->n, rc = -1;
    float *s = malloc(sizeof(float) * C);
    ptq_ru_transform *tr = NULL;
    ptq_online_op op = {0};
    if (!s) return ptq_fail(err, "ruquant: out of memory");
    /* s_j = a_j^alpha / max_i |W_ij|^(1-alpha) over the group's weights */
    for (int j = 0; j < C; j++) {
        float wm = 0;
        for (int i = 0; i < 3 && groups[g][i] >= 0; i++) {
            const ptq_linear *L = &Ly->lin[groups[g][i]];
            for (int o = 0; o < L->out; o++) wm = fmaxf(wm, fabsf(L->w[(size_t)o * C + j]));
        }
        double v = pow(fmax(cap->absmax[j], 1e-5), r->alpha) / pow(fmax(wm, 1e-5), 1 - r->alpha);
        s[j] = (float)fmax(v, 1e-5);
    }
    for (long t = 0; t < T; t++)
        for (int j = 0; j < C; j++) xg[t * C + j] /= s[j];
    ptq_ru_opts o = r->ro;
    o.B = ptq_block_size_for(C, r->maxB);
    o.seed = r->ro.seed * 1000003ULL + (uint64_t)layer * 16 + (uint64_t)g; /* distinct per layer and group */
    if (ptq_ru_build(xg, T, C, &o, &tr, err)) goto out;
    if (g == 0 || g == 2) { /* fold 1/s into the RMSNorm */
        float *gam = g == 0 ? Ly->rms_att : Ly->rms_ffn;
        for (int j = 0; j < C; j++) gam[j] /= s[j];
    } else { /* online divide inside the op */
        tr->s_inv = malloc(sizeof(float) * C);
        if (!tr->s_inv) {
            ptq_fail(err, "ruquant: out of memory");
            goto out;
        }
        for (int j = 0; j < C; j++) tr->s_inv[j] = 1.f / s[j];
    }
    if (ptq_op_ruquant(&op, tr, err)) goto out; /* one op, shared by the group's linears */
    for (int i = 0; i < 3 && groups[g][i] >= 0; i++) {
        ptq_linear *L = &Ly->lin[groups[g][i]];
        for (int oo = 0; oo < L->out; oo++)
            for (int j = 0; j < C; j++) L->w[(size_t)oo * C + j] *= s[j];
        if (ptq_ru_rotate_rows(tr, L->w, L->out, err)) goto out;
        if (!r->ft && ptq_wq_linear(L, &r->wq, err)) goto out; /* +ft: after the Householder is learned */
        ptq_online_op_clear(&L->in_op);
        ptq_online_op_share(&L->in_op, &op);
        L->aq = (ptq_act_qspec){r->ctx->q->a_bits, 0, (float)r->lac, 0};
    }
    r->online_flops += ptq_ru_flops_per_row(tr); /* one op per group input (shared) */
    rc = 0;
out:
    ptq_online_op_clear(&op); /* the linears hold their own references */
    ptq_ru_free(tr);
    free(s);
    return rc;
}

static int ru_block(void *vctx, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    ru_run *r = vctx;
    ptq_lincap caps[4];
    mean_cap mc;
    memset(&mc, 0, sizeof mc);
    memset(caps, 0, sizeof caps);
    int rc = -1;
    float *Y = NULL; /* +ft: the FP block's outputs */
    if (r->ft && !(Y = ptq_ruft_targets(m, layer, X, c, err))) return -1;
    for (int g = 0; g < 4; g++)
        if (ptq_lincap_init(&caps[g], groups[g][0], m->layers[layer].lin[groups[g][0]].in, 0, 0, 0, err)) goto out;
    if (ptq_lincap_block(m, layer, X, c, caps, 4, err)) goto out;
    if (capture_mean(m, layer, X, c, &mc, err)) goto out;
    for (int g = 0; g < 4; g++)
        if (do_group(r, m, layer, g, &caps[g], mc.x[g], mc.T, err)) {
            ptq_wrap(err, "layer %d %s", layer, ptq_linear_names[groups[g][0]]);
            goto out;
        }
    if (r->ft) {
        ptq_ruft_opts fo = {r->ft_epochs, r->ft_lr, r->had, r->ctx->q->kv_bits, r->wq, r->ft_info};
        if (ptq_ruft_block(m, layer, X, Y, c, groups, &fo, err)) goto out;
    }
    rc = 0;
out:
    free(Y);
    for (int g = 0; g < 4; g++) {
        ptq_lincap_free(&caps[g]);
        free(mc.x[g]);
    }
    return rc;
}

/* Block-wise (streamable): calibration and transforms per block in
 * block(); the block's KV quantizers and Q/K Hadamard in block_end(), after
 * the calibration inputs moved past it (as after the whole walk in RAM). */
static int ru_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    const ptq_method *me = &ptq_method_ruquant;
    const ptq_qspec *q = ctx->q;
    int hd = m->cfg.head_dim, had = q->kv_bits < 16 && ptq_opt_bool(me, ctx->opts, "kv_hadamard");
    if (had && !ptq_hadamard_supported(hd))
        return ptq_fail(err, "ruquant: no Hadamard of size head_dim=%d for the Q/K rotation (set kv_hadamard=false)", hd);
    ru_run *r = ptq_calloc(1, sizeof *r, err);
    if (!r) return -1;
    r->ctx = ctx;
    r->had = had;
    r->alpha = ptq_opt_num(me, ctx->opts, "alpha");
    r->maxB = (int)ptq_opt_num(me, ctx->opts, "block");
    r->ro.K = (int)ptq_opt_num(me, ctx->opts, "K");
    r->ro.lambda = (int)ptq_opt_num(me, ctx->opts, "lambda");
    r->ro.zigzag = ptq_opt_bool(me, ctx->opts, "zigzag");
    r->ro.householder = ptq_opt_bool(me, ctx->opts, "householder");
    r->ro.seed = ctx->seed;
    r->ft = ptq_opt_bool(me, ctx->opts, "finetune");
    r->ft_epochs = (int)ptq_opt_num(me, ctx->opts, "ft_epochs");
    r->ft_lr = ptq_opt_num(me, ctx->opts, "ft_lr");
    if (r->ft && !r->ro.householder) {
        free(r);
        return ptq_fail(err, "ruquant: finetune=true learns the global Householder vector: it needs householder=true");
    }
    if (r->ft && ctx->info) r->ft_info = cJSON_AddArrayToObject(ctx->info, "ruquant_ft");
    r->lac = q->a_clip > 0 ? q->a_clip : ptq_opt_num(me, ctx->opts, "lac"); /* lac is the bit-spec's -clip */
    r->swc = ptq_opt_num(me, ctx->opts, "swc");
    if (r->lac <= 0) r->lac = q->a_bits <= 4 ? 0.9 : 1.0;
    if (r->swc <= 0) r->swc = q->w_bits <= 4 ? 0.8 : 1.0;
    r->wq = ptq_method_wq(ctx, 0);
    r->wq.sym = q->w_sym == 1 ? 1 : 0;
    r->wq.clip = (float)r->swc;
    *state = r;
    return 0;
}

static int ru_block_end(void *state, ptq_model *m, int l, ptq_err *err) {
    ru_run *r = state;
    ptq_layer *L = &m->layers[l];
    L->kq = L->vq = (ptq_act_qspec){r->ctx->q->kv_bits, 0, 1.f, 0};
    if (r->had) { /* orthonormal Hadamard on each head vector of Q and K (cancels in QK^T) */
        ptq_online_op_clear(&L->qk_op);
        return ptq_op_hadamard(&L->qk_op, m->cfg.head_dim, err);
    }
    return 0;
}

static int ru_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    (void)m, (void)err;
    ru_run *r = state;
    if (ok && r->ctx->info) {
        cJSON_AddNumberToObject(r->ctx->info, "ruquant_lac", r->lac);
        cJSON_AddNumberToObject(r->ctx->info, "ruquant_swc", r->swc);
        cJSON_AddNumberToObject(r->ctx->info, "online_flops_per_token", r->online_flops);
    }
    free(r);
    return 0;
}

static const ptq_block_method ru_blocks = {
    .begin = ru_begin,
    .block = ru_block,
    .block_end = ru_block_end,
    .end = ru_end,
};

/* Activations are per-token asymmetric (clip: lac), the KV cache per-head
 * asymmetric without clip; a bit-spec may restate, not change, that. */
static int ru_supports(const ptq_qspec *q, ptq_err *err) {
    const char *bad = q->a_sym == 1 ? "-a:sym" : q->a_group > 0 ? "-a:g" : q->kv_sym == 1 ? "-kv:sym"
                      : q->kv_group > 0 ? "-kv:g" : q->kv_clip > 0.f && q->kv_clip != 1.f ? "-kv:clip" : NULL;
    if (bad)
        return ptq_fail(err, "ruquant quantizes activations per token and the KV cache per head, asymmetric, "
                             "without KV clip: %s in %s is not supported", bad, q->text);
    return 0;
}

const ptq_method ptq_method_ruquant = {
    .name = "ruquant",
    .summary = "smoothing + Householder/Givens block rotations toward uniform targets, "
               "zigzag, global Householder; RTN weights (closed form)",
    .opts = ru_opts,
    .supports = ru_supports,
    .needs_calib = ptq_needs_calib_always,
    .blocks = &ru_blocks,
};
