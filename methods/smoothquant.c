/* smoothquant.c — SmoothQuant (Xiao et al., ICML 2023), METHODS.md §3.
 *
 * 1. Calibrate: per input channel a_j = max_t |X_tj| at the input of each
 *    RMSNorm -> {linears} group (input_layernorm -> q,k,v;
 *    post_attention_layernorm -> gate,up), on the full-precision model.
 * 2. s_j = clamp(a_j^alpha / w_j^(1-alpha), 1e-5), w_j = max over the group's
 *    linears of max_i |W_ij| (clamped to 1e-5 first, as smooth.py does).
 * 3. Fold offline: gamma_j /= s_j, W[:, j] *= s_j. o_proj/down_proj untouched.
 * 4. Quantize: RTN weights (per channel, symmetric by default), dynamic
 *    per-token activations, KV per head.
 * Resolved: the block walk advances through the smoothed but not yet
 * quantized blocks (smoothing is exact), so the statistics are those of the
 * FP model as in the original; weights are quantized after the walk.
 * Defaults: alpha 0.5, 128 windows x 512 tokens (get_act_scales uses 512 x
 * 512; 512 windows exceed the TinyStories calibration split); the
 * calibration text is the harness's (not the Pile).
 * Block-wise (streamable): smoothing in block(), RTN and quantizers of the
 * block in block_end() (after the calibration inputs moved past it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method_util.h"

static const ptq_opt_def sq_opts[] = {
    {.name = "alpha", .type = PTQ_OPT_FLOAT, .def = "0.5", .lo = 0.0, .hi = 1.0,
     .help = "migration strength (0.85 in the repo's LLaMA scripts)"},
    PTQ_CALIB_OPTS("128", "512"),
    PTQ_ACT_KV_OPTS,
    {0}};

extern const ptq_method ptq_method_smoothquant;

typedef struct {
    float *amax[3]; /* [0] attention-norm group input, [1] FFN-norm group input, [2] scratch (dim each) */
    double alpha;
    const ptq_apply_ctx *ctx;
    ptq_wq_opts wq;
} sq_ctx;

static void sq_cap(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    (void)layer, (void)x_q;
    sq_ctx *s = ctx;
    float *a = which == PTQ_LIN_Q ? s->amax[0] : which == PTQ_LIN_GATE ? s->amax[1] : NULL;
    if (!a) return;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++)
            a[j] = fmaxf(a[j], fabsf(x_pre[(size_t)t * n + j]));
}

/* Fold s into one norm -> {linears} group (row by row: a column walk over a
 * 7B weight misses the cache on every element). */
static void smooth_group(ptq_layer *L, float *gamma, const int *lins, int nl, const float *amax, int d, double alpha,
                         float *sv) {
    for (int j = 0; j < d; j++)
        sv[j] = 0.f;
    for (int k = 0; k < nl; k++) {
        const ptq_linear *lin = &L->lin[lins[k]];
        for (size_t r = 0; r < (size_t)lin->out; r++)
            for (int j = 0; j < d; j++)
                sv[j] = fmaxf(sv[j], fabsf(lin->w[r * lin->in + j]));
    }
    for (int j = 0; j < d; j++) {
        double sj = pow(amax[j], alpha) / pow(fmax(sv[j], 1e-5), 1.0 - alpha);
        sv[j] = (float)fmax(sj, 1e-5);
        gamma[j] = (float)(gamma[j] / fmax(sj, 1e-5));
    }
    for (int k = 0; k < nl; k++) {
        ptq_linear *lin = &L->lin[lins[k]];
        for (size_t r = 0; r < (size_t)lin->out; r++)
            for (int j = 0; j < d; j++)
                lin->w[r * lin->in + j] *= sv[j];
    }
}

static int sq_block(void *ctx, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    sq_ctx *s = ctx;
    int d = m->cfg.dim;
    memset(s->amax[0], 0, (size_t)d * sizeof(float));
    memset(s->amax[1], 0, (size_t)d * sizeof(float));
    if (ptq_calib_block_capture(m, layer, X, c, PTQ_LIN_GATE, sq_cap, s, err)) return -1; /* amax: q and gate inputs */
    ptq_layer *L = &m->layers[layer];
    static const int att[] = {PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V}, ffn[] = {PTQ_LIN_GATE, PTQ_LIN_UP};
    smooth_group(L, L->rms_att, att, 3, s->amax[0], d, s->alpha, s->amax[2]);
    smooth_group(L, L->rms_ffn, ffn, 2, s->amax[1], d, s->alpha, s->amax[2]);
    return 0;
}

static int sq_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    sq_ctx *s = ptq_calloc(1, sizeof *s, err);
    if (!s) return -1;
    s->alpha = ptq_opt_num(&ptq_method_smoothquant, ctx->opts, "alpha");
    s->ctx = ctx;
    s->wq = ptq_method_wq(ctx, 1);
    for (int i = 0; i < 3; i++)
        if (!(s->amax[i] = ptq_calloc((size_t)m->cfg.dim, sizeof(float), err))) {
            free(s->amax[0]), free(s->amax[1]), free(s);
            return -1;
        }
    *state = s;
    return 0;
}

static int sq_block_end(void *state, ptq_model *m, int layer, ptq_err *err) {
    sq_ctx *s = state;
    if (ptq_wq_layer(m, layer, &s->wq, err)) return -1;
    ptq_install_act_kv_layer(m, &ptq_method_smoothquant, s->ctx, layer);
    return 0;
}

static int sq_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    sq_ctx *s = state;
    const ptq_method *me = &ptq_method_smoothquant;
    int rc = 0;
    if (ok) {
        rc = ptq_quant_lm_head(m, me, s->ctx, &s->wq, err);
        if (!rc && s->ctx->info) cJSON_AddNumberToObject(s->ctx->info, "alpha", s->alpha);
    }
    free(s->amax[0]), free(s->amax[1]), free(s->amax[2]);
    free(s);
    return rc;
}

static const ptq_block_method sq_blocks = {
    .begin = sq_begin,
    .block = sq_block,
    .block_end = sq_block_end,
    .end = sq_end,
};

const ptq_method ptq_method_smoothquant = {
    .name = "smoothquant",
    .summary = "per-channel smoothing folded into RMSNorm (alpha), then RTN weights + per-token "
               "activations",
    .opts = sq_opts,
    .needs_calib = ptq_needs_calib_always,
    .blocks = &sq_blocks,
};
