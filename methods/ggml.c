/* ggml.c — llama.cpp's quantization types as a method (llama-quantize, the
 * k-quants of llama.cpp PR #1684; importance matrix of PR #4861).
 *
 * Format: each weight is stored in one of ggml's block types
 * (src/model/ggml_types.h): q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl (blocks of 32),
 * q2_K..q6_K (super-blocks of 256 with 16- or 32-value groups), chosen per
 * tensor as llama-quantize chooses it for a llama-architecture model.
 * Algorithm:
 *   1. type=T picks llama-quantize's ftype T (q4_k = q4_k_m, q3_k = q3_k_m,
 *      q5_k = q5_k_m as in its alias list; "auto": from the W bits).
 *   2. Per tensor: llama_tensor_get_type's choice (the rule table below: q4_k_m
 *      gives attn_v and ffn_down q6_K on the layers use_more_bits picks) and
 *      its shape fallback; pure=true: every tensor the base type.
 *   3. imatrix=true: per linear, the mean over the calibration tokens of
 *      x_j^2 of its input column j, from the full-precision model.
 *   4. Quantize with ggml's reference quantizers (bit for bit llama.cpp's
 *      ggml_quantize_chunk), imatrix-weighted where given.
 *   5. Store: q8_0 q4_0 q5_0 q3_K q6_K as a qweight (packed kernels, exact);
 *      the others as their dequantized fp32 values (fake quant).
 * Deviations and choices:
 *   - lm_head and the token embedding stay fp32 by default, as for every
 *     other method; quant_lm_head=true / embed=true give them llama.cpp's
 *     output / token_embd types (output without imatrix: llama-imatrix skips
 *     output.weight unless --process-output).
 *   - q4_1 q5_1 q2_K q4_K q5_K (a float min per group) and iq4_nl
 *     (non-uniform levels) have no qweight form (integer zero points):
 *     those linears run the fp32 GEMM on the exact dequantized values.
 *   - The imatrix comes from our forward on our calibration windows, not
 *     from llama-imatrix's chunks; its activations match llama.cpp's to
 *     float rounding, so the weights, not the bytes, are llama.cpp's.
 *   - Weight-only: activations and KV stay 16 bit.
 *   - Bytes: info.ggml_bytes counts every quantized tensor as GGUF stores it
 *     (blocks with their fp16 scales); bpw = 8 * layer bytes / layer weights. */
#include "ggml.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "method_util.h"

/* ---- llama-quantize's ftypes and llama_tensor_get_type ---- */
enum { R_V = PTQ_LIN_V, R_O = PTQ_LIN_O, R_DOWN = PTQ_LIN_DOWN };
enum { C_ALWAYS, C_GQA4, C_MORE_BITS, C_EIGHTH, C_SIXTEENTH, C_I_LT2, C_I_LT4, C_EIGHTH_IM, C_EIGHTH_NOIM };

typedef struct {
    const char *name; /* llama-quantize's name, lower case */
    int base;         /* ggml type of the default tensors */
    int bits;         /* nominal, for the W bits of the spec */
} ggml_ftype;

static const ggml_ftype ftypes[] = {
    {"q8_0", PTQ_GGML_Q8_0, 8},   {"q6_k", PTQ_GGML_Q6_K, 6},     {"q5_k_m", PTQ_GGML_Q5_K, 5},
    {"q5_k_s", PTQ_GGML_Q5_K, 5}, {"q5_0", PTQ_GGML_Q5_0, 5},     {"q5_1", PTQ_GGML_Q5_1, 5},
    {"q4_k_m", PTQ_GGML_Q4_K, 4}, {"q4_k_s", PTQ_GGML_Q4_K, 4},   {"q4_0", PTQ_GGML_Q4_0, 4},
    {"q4_1", PTQ_GGML_Q4_1, 4},   {"iq4_nl", PTQ_GGML_IQ4_NL, 4}, {"q3_k_l", PTQ_GGML_Q3_K, 3},
    {"q3_k_m", PTQ_GGML_Q3_K, 3}, {"q3_k_s", PTQ_GGML_Q3_K, 3},   {"q2_k", PTQ_GGML_Q2_K, 2},
    {"q2_k_s", PTQ_GGML_Q2_K, 2},
};
#define N_FTYPES ((int)(sizeof ftypes / sizeof ftypes[0]))
static const struct {
    const char *alias, *name;
} aliases[] = {{"q3_k", "q3_k_m"}, {"q4_k", "q4_k_m"}, {"q5_k", "q5_k_m"}};

/* llama_tensor_get_type_impl's branches for the llama architecture (no
 * experts, not 70B, not Falcon), first match per (ftype, role) wins. */
static const struct {
    const char *ftype;
    int role, cond, type;
} mix_rules[] = {
    {"q2_k", R_V, C_GQA4, PTQ_GGML_Q4_K},
    {"q2_k", R_V, C_ALWAYS, PTQ_GGML_Q3_K},
    {"q2_k_s", R_V, C_GQA4, PTQ_GGML_Q4_K},
    {"q3_k_m", R_V, C_I_LT2, PTQ_GGML_Q5_K},
    {"q3_k_m", R_V, C_ALWAYS, PTQ_GGML_Q4_K},
    {"q3_k_l", R_V, C_ALWAYS, PTQ_GGML_Q5_K},
    {"iq4_nl", R_V, C_GQA4, PTQ_GGML_Q5_K},
    {"q4_k_m", R_V, C_MORE_BITS, PTQ_GGML_Q6_K},
    {"q5_k_m", R_V, C_MORE_BITS, PTQ_GGML_Q6_K},
    {"q4_k_s", R_V, C_I_LT4, PTQ_GGML_Q5_K},
    {"q2_k", R_DOWN, C_ALWAYS, PTQ_GGML_Q3_K},
    {"q2_k_s", R_DOWN, C_EIGHTH, PTQ_GGML_Q4_K},
    {"q3_k_m", R_DOWN, C_SIXTEENTH, PTQ_GGML_Q5_K},
    {"q3_k_m", R_DOWN, C_ALWAYS, PTQ_GGML_Q4_K},
    {"q3_k_l", R_DOWN, C_ALWAYS, PTQ_GGML_Q5_K},
    {"q4_k_m", R_DOWN, C_MORE_BITS, PTQ_GGML_Q6_K},
    {"iq4_nl", R_DOWN, C_EIGHTH_NOIM, PTQ_GGML_Q5_K},
    {"q5_k_m", R_DOWN, C_MORE_BITS, PTQ_GGML_Q6_K},
    {"q4_k_s", R_DOWN, C_EIGHTH, PTQ_GGML_Q5_K},
    {"q4_0", R_DOWN, C_EIGHTH_IM, PTQ_GGML_Q4_1},
    {"q5_0", R_DOWN, C_EIGHTH_IM, PTQ_GGML_Q5_1},
    {"q2_k", R_O, C_ALWAYS, PTQ_GGML_Q3_K},
    {"q3_k_m", R_O, C_ALWAYS, PTQ_GGML_Q4_K},
    {"q3_k_l", R_O, C_ALWAYS, PTQ_GGML_Q5_K},
};

int ptq_ggml_ftype_find(const char *name) {
    for (size_t k = 0; name && k < sizeof aliases / sizeof aliases[0]; k++)
        if (!strcasecmp(name, aliases[k].alias)) name = aliases[k].name;
    for (int k = 0; name && k < N_FTYPES; k++)
        if (!strcasecmp(name, ftypes[k].name)) return k;
    return -1;
}

int ptq_ggml_ftype_bits(int ftype) { return ftype >= 0 && ftype < N_FTYPES ? ftypes[ftype].bits : 0; }

int ptq_ggml_ftype_for_bits(int bits) {
    static const char *const by_bits[9] = {[2] = "q2_k", [3] = "q3_k_m", [4] = "q4_k_m",
                                           [5] = "q5_k_m", [6] = "q6_k", [8] = "q8_0"};
    return bits >= 0 && bits <= 8 && by_bits[bits] ? ptq_ggml_ftype_find(by_bits[bits]) : -1;
}

/* llama.cpp's use_more_bits: the first and last eighth and every third layer between. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int cond_holds(int cond, const ptq_ggml_site *s) {
    int i = s->layer, n = s->n_layers;
    switch (cond) {
    case C_GQA4: return s->n_gqa >= 4;
    case C_MORE_BITS: return use_more_bits(i, n);
    case C_EIGHTH: return i < n / 8;
    case C_SIXTEENTH: return i < n / 16;
    case C_I_LT2: return i < 2;
    case C_I_LT4: return i < 4;
    case C_EIGHTH_IM: return s->has_imatrix && i < n / 8;
    case C_EIGHTH_NOIM: return !s->has_imatrix && i < n / 8;
    default: return 1;
    }
}

/* tensor_type_fallback: a row length the block does not divide. */
static int shape_fallback(int type, long ncols, int *fell_back) {
    const ptq_ggml_type_info *t = ptq_ggml_type_info_of(type);
    if (ncols % t->block == 0) return type;
    static const int from[] = {PTQ_GGML_Q2_K, PTQ_GGML_Q3_K, PTQ_GGML_Q4_K, PTQ_GGML_Q5_K, PTQ_GGML_Q6_K};
    static const int to[] = {PTQ_GGML_Q4_0, PTQ_GGML_Q4_0, PTQ_GGML_Q5_0, PTQ_GGML_Q5_1, PTQ_GGML_Q8_0};
    int r = type;
    for (size_t k = 0; k < sizeof from / sizeof from[0]; k++)
        if (from[k] == type) r = to[k];
    if (fell_back) *fell_back = 1;
    return ncols % ptq_ggml_type_info_of(r)->block ? PTQ_GGML_F16 : r;
}

int ptq_ggml_tensor_type(int ftype, int pure, const ptq_ggml_site *s, int *fell_back) {
    const ggml_ftype *f = &ftypes[ftype];
    int type = f->base;
    if (fell_back) *fell_back = 0;
    if (!pure && s->role == PTQ_GGML_OUTPUT) {
        if (s->ncols % ptq_ggml_type_info_of(f->base)->block) type = PTQ_GGML_Q8_0;
        else if (f->base != PTQ_GGML_Q8_0) type = PTQ_GGML_Q6_K;
    } else if (!pure) {
        for (size_t k = 0; k < sizeof mix_rules / sizeof mix_rules[0]; k++)
            if (mix_rules[k].role == s->role && !strcmp(mix_rules[k].ftype, f->name) && cond_holds(mix_rules[k].cond, s)) {
                type = mix_rules[k].type;
                break;
            }
    }
    return shape_fallback(type, s->ncols, fell_back);
}

/* ---- the method ---- */
static const ptq_opt_def ggml_opts[] = {
    {.name = "type", .type = PTQ_OPT_STRING, .def = "auto",
     .choices = "auto|q8_0|q6_k|q5_k|q5_k_m|q5_k_s|q5_0|q5_1|q4_k|q4_k_m|q4_k_s|q4_0|q4_1|iq4_nl|q3_k|q3_k_l|q3_k_m|"
                "q3_k_s|q2_k|q2_k_s",
     .help = "llama-quantize type (q4_k = q4_k_m; auto: by W bits, 8 q8_0, 6 q6_k, 5 q5_k_m, 4 q4_k_m, 3 q3_k_m, 2 q2_k)"},
    {.name = "pure", .type = PTQ_OPT_BOOL, .def = "false", .help = "every tensor the base type (llama-quantize --pure)"},
    {.name = "imatrix", .type = PTQ_OPT_BOOL, .def = "false",
     .help = "importance-weighted quantizers from the calibration inputs' mean x^2 per column"},
    {.name = "embed", .type = PTQ_OPT_BOOL, .def = "false", .help = "also quantize the token embedding (token_embd type)"},
    {.name = "quant_lm_head", .type = PTQ_OPT_BOOL, .def = "false", .help = "also quantize lm_head (output type)"},
    PTQ_CALIB_OPTS("128", "512"),
    {0},
};

extern const ptq_method ptq_method_ggml;

typedef struct {
    const ptq_apply_ctx *ctx;
    int ftype, pure, use_imatrix;
    float *xfp;       /* full-precision activations entering the current block (imatrix) */
    double *sumsq[PTQ_LIN_COUNT];
    long rows[PTQ_LIN_COUNT];
    long type_count[PTQ_GGML_BF16 + 1];
    long layer_bytes, layer_weights, other_bytes, fallbacks;
    cJSON *types; /* per tensor: its ggml type */
} ggml_state;

static int ggml_supports(const ptq_qspec *q, ptq_err *err) {
    if (!ptq_qspec_weight_only(q))
        return ptq_fail(err, "method ggml is weight-only: %s quantizes activations or KV (use W<b>A16)", q->text);
    if (q->w_group || q->w_sym >= 0 || q->w_mse)
        return ptq_fail(err, "method ggml: %s sets the weight grid (-g/-sym/-asym/-mse); ggml's types fix it", q->text);
    if (ptq_ggml_ftype_for_bits(q->w_bits) < 0)
        return ptq_fail(err, "method ggml: W%d has no llama.cpp type (W2, W3, W4, W5, W6 or W8)", q->w_bits);
    return 0;
}

static int ggml_needs_calib(const ptq_qspec *q, const cJSON *opts) {
    (void)q;
    return ptq_opt_bool(&ptq_method_ggml, opts, "imatrix");
}

/* Quantize w (out x in) to `type` and store the result in l (qweight when
 * the type has a grid form, else the dequantized values). */
static int quantize_linear(ptq_linear *l, int type, const float *imatrix, ptq_err *err) {
    long rb = ptq_ggml_row_bytes(type, l->in, err);
    if (rb < 0) return -1;
    unsigned char *buf = ptq_calloc((size_t)l->out, (size_t)rb, err);
    if (!buf) return -1;
    int rc = ptq_ggml_quantize(type, l->w, buf, l->out, l->in, imatrix, err), bits, group;
    if (!rc && ptq_ggml_grid_info(type, &bits, &group)) {
        ptq_qweight *qw = ptq_qweight_new(l->out, l->in, bits, group, 1, err);
        rc = qw ? 0 : -1;
        for (int r = 0; !rc && r < l->out; r++) {
            rc = ptq_ggml_to_grid(type, buf + (size_t)r * rb, l->in, qw->codes + (size_t)r * l->in,
                                  qw->scale + (size_t)r * qw->ngroups, err);
            for (int g = 0; g < qw->ngroups; g++) qw->zero[(size_t)r * qw->ngroups + g] = 1 << (bits - 1);
        }
        if (!rc) rc = ptq_linear_set_qweight(l, qw, err);
        else ptq_qweight_free(qw);
    } else if (!rc) {
        ptq_qweight_free(l->qw), l->qw = NULL;
        rc = ptq_ggml_dequantize(type, buf, l->w, l->out, l->in, err);
    }
    free(buf);
    return rc ? -1 : 0;
}

/* Quantize one tensor by its site; records type and bytes. */
static int quantize_site(ggml_state *s, ptq_linear *l, const ptq_ggml_site *site, const char *name,
                         const float *imatrix, ptq_err *err) {
    int fell = 0, type = ptq_ggml_tensor_type(s->ftype, s->pure, site, &fell);
    if (type == PTQ_GGML_Q2_K && !imatrix && site->role < PTQ_LIN_COUNT && !strcmp(ftypes[s->ftype].name, "q2_k_s"))
        return ptq_fail(err, "ggml %s: llama.cpp's q2_k_s quantizes its q2_K tensors only with an imatrix (imatrix=true)",
                        name);
    if (quantize_linear(l, type, imatrix, err)) return ptq_wrap(err, "ggml %s", name);
    long bytes = ptq_ggml_row_bytes(type, l->in, NULL) * l->out;
    s->type_count[type]++, s->fallbacks += fell;
    if (site->role < PTQ_LIN_COUNT) s->layer_bytes += bytes, s->layer_weights += (long)l->out * l->in;
    else s->other_bytes += bytes;
    if (s->types) cJSON_AddStringToObject(s->types, name, ptq_ggml_type_info_of(type)->name);
    return 0;
}

static int ggml_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    const char *t = ptq_opt_str(&ptq_method_ggml, ctx->opts, "type");
    int ftype = strcmp(t, "auto") ? ptq_ggml_ftype_find(t) : ptq_ggml_ftype_for_bits(ctx->q->w_bits);
    if (ftype < 0) return ptq_fail(err, "method ggml: unknown type '%s'", t);
    if (ptq_ggml_ftype_bits(ftype) != ctx->q->w_bits)
        return ptq_fail(err, "method ggml: type=%s is a %d-bit type but the bit-spec is %s", t,
                        ptq_ggml_ftype_bits(ftype), ctx->q->text);
    int embed = ptq_opt_bool(&ptq_method_ggml, ctx->opts, "embed");
    if ((embed || ptq_opt_bool(&ptq_method_ggml, ctx->opts, "quant_lm_head")) && ptq_model_untie(m, err)) return -1;
    ggml_state *s = ptq_calloc(1, sizeof *s, err);
    if (!s) return -1;
    s->ctx = ctx, s->ftype = ftype, s->pure = ptq_opt_bool(&ptq_method_ggml, ctx->opts, "pure");
    s->use_imatrix = ptq_opt_bool(&ptq_method_ggml, ctx->opts, "imatrix");
    s->types = cJSON_CreateObject();
    int rc = 0;
    if (embed) { /* the embedding table as a linear of vocab rows x dim; it keeps the dequantized values */
        ptq_linear e = {.out = m->cfg.vocab_size, .in = m->cfg.dim, .w = m->tok_emb, .owns_w = 1};
        ptq_ggml_site site = {.role = PTQ_GGML_TOKEN_EMBD, .ncols = m->cfg.dim};
        rc = quantize_site(s, &e, &site, "token_embd", NULL, err);
        ptq_qweight_free(e.qw);
    }
    if (rc) {
        cJSON_Delete(s->types), free(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* Capture hook: sum of x^2 per input column of every linear. */
static void imatrix_capture(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    (void)layer, (void)x_q;
    ggml_state *s = ctx;
    if (which < 0 || which >= PTQ_LIN_COUNT || !s->sumsq[which]) return;
    double *acc = s->sumsq[which];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) acc[j] += (double)x_pre[(size_t)t * n + j] * x_pre[(size_t)t * n + j];
    s->rows[which] += T;
}

/* Advance the full-precision activations through block `layer` (still fp)
 * and collect its linears' imatrix. */
static int collect_imatrix(ggml_state *s, ptq_model *m, int layer, const float *X, const ptq_calib *c, ptq_err *err) {
    size_t nx = (size_t)c->nsamples * c->seqlen * m->cfg.dim;
    if (!s->xfp) {
        if (!(s->xfp = ptq_calloc(nx, sizeof(float), err))) return -1;
        memcpy(s->xfp, X, nx * sizeof(float)); /* the embeddings: block 0's input */
    }
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        free(s->sumsq[j]), s->rows[j] = 0;
        if (!(s->sumsq[j] = ptq_calloc((size_t)m->layers[layer].lin[j].in, sizeof(double), err))) return -1;
    }
    return ptq_calib_block_forward(m, layer, s->xfp, s->xfp, c, imatrix_capture, s, err);
}

static int ggml_block(void *state, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    ggml_state *s = state;
    if (s->use_imatrix && collect_imatrix(s, m, layer, X, c, err)) return -1;
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        ptq_linear *l = &m->layers[layer].lin[j];
        ptq_ggml_site site = {.role = j, .layer = layer, .n_layers = m->cfg.n_layers,
                              .n_gqa = m->cfg.n_heads / m->cfg.n_kv_heads, .ncols = l->in,
                              .has_imatrix = s->use_imatrix};
        float *im = NULL;
        if (s->use_imatrix) {
            if (!(im = ptq_calloc((size_t)l->in, sizeof(float), err))) return -1;
            for (int k = 0; k < l->in; k++) im[k] = s->rows[j] ? (float)(s->sumsq[j][k] / s->rows[j]) : 1.0f;
        }
        char name[64];
        snprintf(name, sizeof name, "layers.%d.%s", layer, ptq_linear_names[j]);
        int rc = quantize_site(s, l, &site, name, im, err);
        free(im);
        if (rc) return -1;
    }
    return 0;
}

static int ggml_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    ggml_state *s = state;
    int rc = 0;
    if (ok && ptq_opt_bool(&ptq_method_ggml, s->ctx->opts, "quant_lm_head")) {
        ptq_ggml_site site = {.role = PTQ_GGML_OUTPUT, .n_layers = m->cfg.n_layers, .ncols = m->lm_head.in};
        rc = quantize_site(s, &m->lm_head, &site, "lm_head", NULL, err);
    }
    cJSON *info = s->ctx->info;
    if (ok && !rc && info) {
        cJSON_AddStringToObject(info, "ggml_ftype", ftypes[s->ftype].name);
        cJSON_AddNumberToObject(info, "ggml_bytes", (double)(s->layer_bytes + s->other_bytes));
        cJSON_AddNumberToObject(info, "layer_bytes", (double)s->layer_bytes);
        cJSON_AddNumberToObject(info, "bpw", s->layer_weights ? 8.0 * s->layer_bytes / s->layer_weights : 0);
        cJSON_AddNumberToObject(info, "shape_fallbacks", (double)s->fallbacks);
        cJSON *counts = cJSON_AddObjectToObject(info, "type_counts");
        for (int t = 0; t <= PTQ_GGML_BF16; t++)
            if (s->type_count[t]) cJSON_AddNumberToObject(counts, ptq_ggml_type_info_of(t)->name, (double)s->type_count[t]);
        cJSON_AddItemToObject(info, "tensor_types", s->types);
        s->types = NULL;
    }
    cJSON_Delete(s->types);
    for (int j = 0; j < PTQ_LIN_COUNT; j++) free(s->sumsq[j]);
    free(s->xfp);
    free(s);
    return rc;
}

static const ptq_block_method ggml_blocks = {.begin = ggml_begin, .block = ggml_block, .end = ggml_end};

const ptq_method ptq_method_ggml = {
    .name = "ggml",
    .summary = "llama.cpp's quantization types and mixes (q8_0 ... q2_K, iq4_nl; q4_k_m ...), optional imatrix",
    .opts = ggml_opts,
    .supports = ggml_supports,
    .needs_calib = ggml_needs_calib,
    .blocks = &ggml_blocks,
};
