/* method.h — the one interface every quantization method implements, and
 * the registry table (methods/registry.c) the CLI and runner look them up in.
 *
 * apply() receives the fp32 model and turns it into the quantized model in
 * place: fold offline transforms into the weights, fake-quantize weights
 * (keeping packed/side data in lin->method_data where useful), and install
 * online ops and activation/KV quantizers on the model's hooks. */
#ifndef PTQ_METHOD_H
#define PTQ_METHOD_H

#include <cjson/cJSON.h>

#include "calib.h"
#include "model.h"
#include "qspec.h"
#include "tokenizer.h"
#include "wquant.h"

typedef enum { PTQ_OPT_INT, PTQ_OPT_FLOAT, PTQ_OPT_BOOL, PTQ_OPT_STRING } ptq_opt_type;

typedef struct {
    const char *name;
    ptq_opt_type type;
    const char *def; /* default as text, e.g. "0.5", "true", "c4" */
    double lo, hi;   /* range for numbers */
    const char *help;
} ptq_opt_def;

/* Everything apply() may need besides the model. */
typedef struct {
    const ptq_qspec *q;
    const cJSON *opts;           /* validated against the method's option table */
    const ptq_tokenizer *tok;    /* for calibration */
    const ptq_calib_spec *calib; /* where calibration data comes from */
    uint64_t seed;
    cJSON *info;                 /* method may add facts to the result row (e.g. chosen alpha per layer) */
} ptq_apply_ctx;

/* Block-wise methods (added; backward compatible). A method that can
 * quantize one transformer block at a time fills this table, so a model that
 * is never resident in fp32 (layer streaming, src/runner/cell_stream.c) can be
 * quantized. In RAM, ptq_method_apply runs it through
 * ptq_method_apply_blocks(): begin; then for
 * l = 0..n_layers-1: block(l) on the inputs X of block l, X advanced through
 * block l as block() left it, block_end(l); then end.
 *  begin:     outer tensors only (tok_emb, rms_final, lm_head: untie, folds)
 *             and the run state; *need_calib = 1 makes the driver load the
 *             calibration windows (ptq_method_calib) and pass X and c, else
 *             both are NULL.
 *  block:     quantize layer `layer` in place; touch no other layer.
 *  block_end: optional; runs after X went through the block: changes that
 *             calibration of later blocks must not see (activation/KV
 *             quantizers after GPTQ, RTN after SmoothQuant's smoothing).
 *  end:       lm_head and result info; frees the state. Always called once
 *             begin succeeded; ok = 0 after a failure (then only free). */
typedef struct {
    int (*begin)(ptq_model *m, const ptq_apply_ctx *ctx, void **state, int *need_calib, ptq_err *err);
    int (*block)(void *state, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err);
    int (*block_end)(void *state, ptq_model *m, int layer, ptq_err *err);
    int (*end)(void *state, ptq_model *m, int ok, ptq_err *err);
} ptq_block_method;

typedef struct {
    const char *name, *summary;
    int needs_calibration;
    const ptq_opt_def *opts; /* terminated by {NULL} */
    /* 0 if the method can run this spec, else -1 with a message. */
    int (*supports)(const ptq_qspec *q, ptq_err *err);
    /* Whole-model form, for a method without a block-wise table (cannot
     * stream); NULL when blocks is set. */
    int (*apply)(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);
    const ptq_block_method *blocks; /* NULL: apply() only */
} ptq_method;

extern const ptq_method *const ptq_methods[]; /* NULL-terminated, registry.c */
const ptq_method *ptq_method_find(const char *name);

/* Validate a JSON options object against a method's table: unknown key,
 * wrong type or out-of-range value is an error naming the key. */
int ptq_method_check_opts(const ptq_method *m, const cJSON *opts, ptq_err *err);
/* Typed getters with the table default when the key is absent. */
double ptq_opt_num(const ptq_method *m, const cJSON *opts, const char *key);
int ptq_opt_bool(const ptq_method *m, const cJSON *opts, const char *key);
const char *ptq_opt_str(const ptq_method *m, const cJSON *opts, const char *key);

/* Quantize, then run: open + apply in one call (CLI, runner, tests). */
int ptq_method_apply(const ptq_method *meth, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);

/* ---- helpers shared by the method files (added; backward compatible) ---- */

const ptq_opt_def *ptq_method_opt(const ptq_method *m, const char *key); /* NULL if unknown */
/* Parse "key=value" (CLI --opt) into obj using the option's declared type. */
int ptq_opts_add_kv(const ptq_method *m, cJSON *obj, const char *kv, ptq_err *err);
/* A copy of opts with every option present (defaults filled), for results;
 * the aliases of bit-spec fields that q sets (q may be NULL) take q's value. */
cJSON *ptq_opts_resolved(const ptq_method *m, const cJSON *opts, const ptq_qspec *q);
/* The bit-spec with the alias options applied: a_sym (-a:sym/-a:asym), lac
 * (-clip), kv_sym, kv_group, kv_clip (-kv:...), where the method has them and
 * opts give them; an option that contradicts the spec is an error. */
int ptq_method_qspec(const ptq_method *me, const ptq_qspec *spec, const cJSON *opts, ptq_qspec *q, ptq_err *err);

/* Options every quantizing method shares; append to a method's table. */
#define PTQ_ACT_KV_OPTS                                                                                                {"a_sym", PTQ_OPT_BOOL, "true", 0, 0, "activations: per-token symmetric (false = asymmetric)"},                        {"kv_group", PTQ_OPT_INT, "128", 0, 65536, "KV cache: group size within a head (0 or >= head_dim: per head)"},         {"kv_sym", PTQ_OPT_BOOL, "false", 0, 0, "KV cache: symmetric (default asymmetric)"},                               {"kv_clip", PTQ_OPT_FLOAT, "1.0", 0.01, 1.0, "KV cache: clip ratio"},                                              {"quant_lm_head", PTQ_OPT_BOOL, "false", 0, 0, "also quantize lm_head weights and its input"}
#define PTQ_CALIB_OPTS(ns, sl)                                                                                         {"nsamples", PTQ_OPT_INT, ns, 1, 100000, "calibration windows"},                                                       {"seqlen", PTQ_OPT_INT, sl, 2, 1 << 20, "calibration tokens per window (capped at the model's max_seq)"}

/* Install per-token activation quantizers on every linear input (lm_head only
 * with quant_lm_head) and KV quantizers, from ctx->q and the options above. */
void ptq_install_act_kv(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx);
/* Weight quantizer options from the bit-spec (-g, -sym/-asym, -mse) with the
 * method's default symmetry. */
ptq_wq_opts ptq_method_wq(const ptq_apply_ctx *ctx, int default_sym);
/* RTN on every linear weight (lm_head only when quant_lm_head). */
int ptq_rtn_all(ptq_model *m, const ptq_wq_opts *wq, int quant_lm_head, ptq_err *err);
/* Load calibration windows per ctx->calib and the nsamples/seqlen options;
 * records dataset, sha256, nsamples, seqlen and sampling in ctx->info. */
int ptq_method_calib(const ptq_method *meth, const ptq_apply_ctx *ctx, const ptq_model *m, ptq_calib *c,
                     ptq_err *err);

/* ---- block-wise helpers (added) ---- */

/* The in-RAM driver of a block-wise method (see ptq_block_method);
 * ptq_method_apply calls it for every method with a blocks table. */
int ptq_method_apply_blocks(const ptq_method *meth, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);
/* 0 if the method has a block-wise implementation, else -1 naming it. */
int ptq_method_streamable(const ptq_method *meth, ptq_err *err);
/* ptq_install_act_kv split: one block's linears and KV; lm_head's input. */
void ptq_install_act_kv_layer(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx, int layer);
void ptq_install_act_lm_head(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx);
/* ptq_rtn_all split: one block's linears; lm_head (untied first) when asked. */
void ptq_rtn_layer(ptq_model *m, int layer, const ptq_wq_opts *wq);
int ptq_rtn_lm_head(ptq_model *m, const ptq_wq_opts *wq, int quant_lm_head, ptq_err *err);

#endif
