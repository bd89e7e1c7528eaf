/* quarot.c — QuaRot (Ashkboos et al., NeurIPS 2024), METHODS.md §5.
 *
 * Offline (exact in full precision):
 *  1. Fold every RMSNorm gamma into the following linears' input columns
 *     (q,k,v; gate,up; lm_head) and set gamma = 1; untie lm_head.
 *  2. R1 = diag(+-1, seeded) * H_dim on the residual stream: E <- E R1,
 *     W_{q,k,v,gate,up,lm_head} <- W R1, W_{o,down} <- R1^T W.
 *  3. Head-dim Hadamard across V/O: v_proj output rows and o_proj input
 *     columns of each head (folded); plus an online Hadamard across heads on
 *     the o_proj input (folded into W_o), so o_proj sees the full Hadamard.
 *  4. down_proj: online transform of its input, folded into W_down.
 *  5. Online Hadamard (head_dim) on Q and K after RoPE, before KV quantization.
 * Then weights by GPTQ (default, as QuaRot) or RTN, per-channel symmetric;
 * activations per-token symmetric; KV asymmetric, group 128 within a head.
 * Deviations / resolved ambiguities:
 *  - Sizes without a known Hadamard use a seeded random orthogonal matrix
 *    (dense, applied by sgemm), recorded in the result info: stories260K's
 *    hidden_dim 172 (= 4*43; no Paley construction; QuaRot ships a hard-coded
 *    had_172 we do not copy) and any other unsupported size.
 *  - The embedding mean-centring of QuaRot's fuse_layer_norms is skipped: for
 *    RMSNorm models it changes the function, and the fused model must equal
 *    the original.
 *  - Calibration for GPTQ is the harness calibration text (not WikiText-2
 *    train, which would overlap the evaluation text here).
 * Block-wise (streamable): begin() unties, folds the final norm into lm_head
 * and R1 into the embedding and lm_head; block() does steps 1-5 and the
 * weights for one block; block_end() installs its quantizers. */
#include <stdlib.h>
#include <string.h>

#include "gptq.h"
#include "hadamard.h"
#include "method_util.h"

static const ptq_opt_def qr_opts[] = {
    {.name = "weights", .type = PTQ_OPT_STRING, .def = "gptq", .choices = "gptq|rtn",
     .help = "weight quantizer: gptq or rtn"},
    {.name = "percdamp", .type = PTQ_OPT_FLOAT, .def = "0.01", .lo = 0.0, .hi = 10.0, .help = "GPTQ damping"},
    {.name = "act_order", .type = PTQ_OPT_BOOL, .def = "false", .help = "GPTQ act-order"},
    {.name = "online_head_had", .type = PTQ_OPT_BOOL, .def = "true",
     .help = "online Hadamard across heads on the o_proj input"},
    PTQ_CALIB_OPTS("128", "2048"),
    PTQ_ACT_KV_OPTS,
    {0}};

extern const ptq_method ptq_method_quarot;

/* Orthogonal transform of size n: Hadamard when one is known, else a seeded
 * random orthogonal matrix. Fills op; *kind names the choice. */
static int make_op(ptq_online_op *op, int n, uint64_t seed, const char **kind, ptq_err *err) {
    ptq_online_op_clear(op);
    *kind = ptq_hadamard_supported(n) ? "hadamard" : "random_orthogonal";
    return ptq_hadamard_supported(n) ? ptq_op_hadamard(op, n, err) : ptq_op_random_orthogonal(op, n, seed, err);
}

/* W (rows x n) <- W A, where op(x) = x A. */
static int fold_in(const ptq_online_op *op, float *W, int rows, int n, ptq_err *err) {
    return ptq_online_op_apply(op, W, rows, n, err);
}

/* Fold the two RMSNorm gammas of block l into the linears that read them. */
static void fuse_layer(ptq_model *m, int l) {
    int d = m->cfg.dim;
    ptq_layer *L = &m->layers[l];
    float g[2][d];
    memcpy(g[0], L->rms_att, sizeof g[0]);
    memcpy(g[1], L->rms_ffn, sizeof g[1]);
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        if (j == PTQ_LIN_O || j == PTQ_LIN_DOWN) continue;
        float tmp[d];
        memcpy(tmp, g[j >= PTQ_LIN_GATE], sizeof tmp);
        ptq_fold_norm(L->lin[j].w, L->lin[j].out, d, tmp);
    }
    for (int j = 0; j < d; j++)
        L->rms_att[j] = L->rms_ffn[j] = 1.f;
}

/* R1 = diag(signs) H (or random orthogonal) as a dense op. */
static int residual_op(ptq_online_op *op, int d, uint64_t seed, const char **kind, ptq_err *err) {
    if (!ptq_hadamard_supported(d)) {
        *kind = "random_orthogonal";
        return ptq_op_random_orthogonal(op, d, seed, err);
    }
    *kind = "random_sign_hadamard";
    float *A = ptq_calloc((size_t)d * d, sizeof(float), err);
    if (!A) return ptq_wrap(err, "R1 (%dx%d)", d, d);
    int rc = ptq_hadamard_matrix(A, d, err);
    if (!rc) {
        ptq_rng r;
        ptq_rng_seed(&r, seed);
        for (int i = 0; i < d; i++)
            if (ptq_rng_u64(&r) & 1)
                for (int j = 0; j < d; j++) A[(size_t)i * d + j] = -A[(size_t)i * d + j];
        rc = ptq_op_dense(op, A, d, err);
    }
    free(A);
    return rc;
}

typedef struct {
    const ptq_apply_ctx *ctx;
    ptq_online_op R1;
    int vo, hh, use_gptq;
    ptq_wq_opts wq;
    ptq_gptq_opts o;
} qr_state;

static void qr_free(qr_state *s) {
    ptq_online_op_clear(&s->R1);
    free(s);
}

/* Outer tensors: untie, final norm into lm_head, R1 on embedding and lm_head. */
static int qr_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    const ptq_method *me = &ptq_method_quarot;
    const ptq_config *c = &m->cfg;
    const char *wmode = ptq_opt_str(me, ctx->opts, "weights"), *k1 = "";
    int use_gptq = strcmp(wmode, "gptq") == 0;
    if (!use_gptq && strcmp(wmode, "rtn") != 0)
        return ptq_fail(err, "option 'weights' must be \"gptq\" or \"rtn\", got \"%s\"", wmode);
    qr_state *s = ptq_calloc(1, sizeof *s, err);
    if (!s) return -1;
    s->ctx = ctx;
    s->use_gptq = use_gptq;
    s->wq = ptq_method_wq(ctx, 1);
    s->o = ptq_gptq_default(s->wq.bits);
    s->o.wq = s->wq;
    s->o.percdamp = ptq_opt_num(me, ctx->opts, "percdamp");
    s->o.act_order = ptq_opt_bool(me, ctx->opts, "act_order");
    if (ptq_model_untie(m, err)) return free(s), -1;
    ptq_fold_norm(m->lm_head.w, m->lm_head.out, c->dim, m->rms_final);
    if (residual_op(&s->R1, c->dim, ctx->seed, &k1, err)) return free(s), -1;
    if (fold_in(&s->R1, m->tok_emb, c->vocab_size, c->dim, err) ||
        fold_in(&s->R1, m->lm_head.w, m->lm_head.out, c->dim, err))
        return qr_free(s), ptq_wrap(err, "quarot: R1 on the embedding and lm_head");
    s->vo = ptq_hadamard_supported(c->head_dim);
    s->hh = ptq_opt_bool(me, ctx->opts, "online_head_had") && s->vo && c->n_heads > 1 &&
            ptq_hadamard_supported(c->n_heads);
    if (ctx->info) {
        cJSON *o = cJSON_AddObjectToObject(ctx->info, "rotations");
        cJSON_AddStringToObject(o, "R1_residual", k1);
        cJSON_AddStringToObject(o, "down_proj_online",
                                ptq_hadamard_supported(c->hidden_dim) ? "hadamard" : "random_orthogonal");
        cJSON_AddStringToObject(o, "v_o_head_dim", s->vo ? "hadamard" : "none (no Hadamard of size head_dim)");
        cJSON_AddStringToObject(o, "qk_online", s->vo ? "hadamard" : "none");
        cJSON_AddStringToObject(o, "o_proj_online_heads", s->hh ? "hadamard" : "none");
    }
    *state = s;
    return 0;
}

/* Steps 1-5 on block l, then its weights (GPTQ on X, or RTN). */
static int qr_block(void *state, ptq_model *m, int l, float *X, const ptq_calib *cal, ptq_err *err) {
    qr_state *s = state;
    const ptq_config *c = &m->cfg;
    int d = c->dim, hd = c->head_dim, kvd = c->n_kv_heads * hd, rc = 0;
    const char *k4 = "none";
    ptq_layer *L = &m->layers[l];
    fuse_layer(m, l);
    for (int j = 0; j < PTQ_LIN_COUNT && !rc; j++) {
        ptq_linear *W = &L->lin[j];
        if (j == PTQ_LIN_O || j == PTQ_LIN_DOWN)
            rc = ptq_fold_out(&s->R1, W->w, W->out, W->in, err);
        else
            rc = fold_in(&s->R1, W->w, W->out, W->in, err);
    }
    if (rc) return ptq_wrap(err, "quarot: R1 on layer %d", l);
    if (s->vo) { /* V/O head-dim Hadamard */
        ptq_linear *V = &L->lin[PTQ_LIN_V], *O = &L->lin[PTQ_LIN_O];
        ptq_online_op_clear(&L->qk_op); /* Q/K after RoPE: cancels inside QK^T */
        if (ptq_transpose_inplace(V->w, kvd, d, err) || ptq_hadamard_rows(V->w, d * c->n_kv_heads, hd, err) ||
            ptq_transpose_inplace(V->w, d, kvd, err) || (V->bias && ptq_hadamard_rows(V->bias, c->n_kv_heads, hd, err)) ||
            ptq_hadamard_rows(O->w, d * c->n_heads, hd, err) || ptq_op_hadamard(&L->qk_op, hd, err))
            return ptq_wrap(err, "quarot: V/O head-dim Hadamard, layer %d", l);
    }
    if (s->hh) {
        ptq_linear *O = &L->lin[PTQ_LIN_O];
        ptq_online_op_clear(&O->in_op);
        if (ptq_op_hadamard_heads(&O->in_op, c->n_heads, hd, err) || fold_in(&O->in_op, O->w, O->out, O->in, err))
            return ptq_wrap(err, "quarot: o_proj online Hadamard, layer %d", l);
    }
    ptq_linear *D = &L->lin[PTQ_LIN_DOWN]; /* down_proj input */
    if (make_op(&D->in_op, c->hidden_dim, s->ctx->seed + 1000 + l, &k4, err) ||
        fold_in(&D->in_op, D->w, D->out, D->in, err))
        return ptq_wrap(err, "quarot: down_proj online %s, layer %d", k4, l);
    if (X) return ptq_gptq_block(m, l, X, cal, &s->o, 1, err);
    return ptq_wq_layer(m, l, &s->wq, err); /* weights=rtn (W16 with gptq: no-op) */
}

static int qr_block_end(void *state, ptq_model *m, int layer, ptq_err *err) {
    (void)err;
    qr_state *s = state;
    ptq_install_act_kv_layer(m, &ptq_method_quarot, s->ctx, layer);
    return 0;
}

static int qr_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    qr_state *s = state;
    const ptq_method *me = &ptq_method_quarot;
    int rc = 0;
    if (ok) {
        rc = ptq_quant_lm_head(m, me, s->ctx, &s->wq, err);
        if (!rc && s->ctx->info) cJSON_AddStringToObject(s->ctx->info, "weights", s->use_gptq ? "gptq" : "rtn");
    }
    qr_free(s);
    return rc;
}

/* Calibration feeds GPTQ only (weights=gptq at W<16). */
static int qr_needs_calib(const ptq_qspec *q, const cJSON *opts) {
    return q->w_bits < 16 && !strcmp(ptq_opt_str(&ptq_method_quarot, opts, "weights"), "gptq");
}

static const ptq_block_method qr_blocks = {
    .begin = qr_begin,
    .block = qr_block,
    .block_end = qr_block_end,
    .end = qr_end,
};

const ptq_method ptq_method_quarot = {
    .name = "quarot",
    .summary = "Hadamard rotations (fused + online) then GPTQ/RTN weights, per-token activations, KV",
    .opts = qr_opts,
    .needs_calib = qr_needs_calib,
    .blocks = &qr_blocks,
};
