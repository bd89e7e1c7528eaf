/* method.h — the interface every quantization method implements, and the
 * registry (methods/registry.c) the runner looks methods up in. The helpers
 * the method files share are in method_util.h.
 *
 * A method turns the fp32 model into the quantized model in place: it folds
 * offline transforms into the weights, quantizes the weights into each
 * linear's ptq_qweight (lin->qw, with its side data), and installs
 * online ops and activation/KV quantizers on the model's hooks. */
#ifndef PTQ_METHOD_H
#define PTQ_METHOD_H

#include <cjson/cJSON.h>

#include "calib.h"
#include "model.h"
#include "qspec.h"
#include "tokenizer.h"

typedef enum { PTQ_OPT_INT, PTQ_OPT_FLOAT, PTQ_OPT_BOOL, PTQ_OPT_STRING } ptq_opt_type;

/* One method option; a table of them ends with {0}. */
typedef struct {
    const char *name;
    ptq_opt_type type;
    const char *def; /* default as text, e.g. "0.5", "true", "c4" */
    double lo, hi;   /* range of a number (none when lo >= hi) */
    const char *choices; /* a string's allowed values, "a|b|c" (NULL: any) */
    const char *help;
} ptq_opt_def;

/* Everything a method may need besides the model. */
typedef struct {
    const ptq_qspec *q;          /* the quantizer: bit-spec with the alias options applied */
    const cJSON *opts;           /* options, validated against the method's table */
    const ptq_tokenizer *tok;    /* for calibration text (NULL with PTQ_CALIB_RANDOM) */
    const ptq_calib_spec *calib; /* where calibration data comes from */
    uint64_t seed;
    cJSON *info; /* facts the method adds to the result row (e.g. alpha per layer); may be NULL */
} ptq_apply_ctx;

/* Calibration dataset name for seeded uniform random-token windows (no text,
 * no tokenizer): for speed measurements, which do not depend on the text. */
#define PTQ_CALIB_RANDOM "random-tokens"

/* The block-wise form: quantize one transformer block at a time, so that a
 * model that is never resident in fp32 (src/runner/cell_stream.c) can be
 * quantized too. ptq_method_apply runs it in RAM: begin; then for l = 0 ..
 * n_layers-1: block(l) on the inputs X of block l, X advanced through block
 * l as block() left it, block_end(l); then end. X and c are the calibration
 * windows' activations and tokens when the method needs calibration for this
 * quantizer (ptq_method.needs_calib), else NULL.
 *  begin:     outer tensors only (tok_emb, rms_final, lm_head: untie, folds)
 *             and the run state.
 *  block:     quantize layer `layer` in place; touch no other layer.
 *             Returns 0, or 1 when it left X at the quantized block's
 *             output itself (the driver then does not run the block on
 *             X), -1 on error.
 *  block_end: optional; runs after X went through the block: changes that
 *             calibration of later blocks must not see (activation/KV
 *             quantizers after GPTQ, RTN after SmoothQuant's smoothing).
 *  end:       lm_head and result info; frees the state. Always called once
 *             begin succeeded; ok = 0 after a failure (then only free). */
typedef struct {
    int (*begin)(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err);
    int (*block)(void *state, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err);
    int (*block_end)(void *state, ptq_model *m, int layer, ptq_err *err);
    int (*end)(void *state, ptq_model *m, int ok, ptq_err *err);
} ptq_block_method;

typedef struct {
    const char *name, *summary;
    const ptq_opt_def *opts; /* ends with {0} */
    /* 0 if the method can run this quantizer, else -1 with a message; NULL: any. */
    int (*supports)(const ptq_qspec *q, ptq_err *err);
    /* 1 when the method reads calibration data for this quantizer and these
     * options; NULL: never. The one answer the runner and the driver use. */
    int (*needs_calib)(const ptq_qspec *q, const cJSON *opts);
    /* Whole-model form, for a method without a block-wise table (it cannot
     * run streamed); NULL when blocks is set. */
    int (*apply)(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);
    const ptq_block_method *blocks;
    /* Bytes the method holds beyond what runner/budget.c counts for every
     * method (fp32 weights + codes, calibration activations, GPTQ's Hessian
     * transients) at its peak, for the --max-rss estimate: stream = one block
     * at a time. NULL: none. */
    double (*extra_rss)(const ptq_config *c, const cJSON *opts, int stream);
} ptq_method;

extern const ptq_method *const ptq_methods[]; /* NULL-terminated, registry.c */
const ptq_method *ptq_method_find(const char *name);
/* "rtn, smoothquant, ..." for messages. */
void ptq_method_names(char *buf, size_t cap);

/* ---- options ---- */
/* Validate a JSON options object against the method's table: an unknown key,
 * a wrong type or a value out of range is an error naming the key. */
int ptq_method_check_opts(const ptq_method *m, const cJSON *opts, ptq_err *err);
const ptq_opt_def *ptq_method_opt(const ptq_method *m, const char *key); /* NULL if unknown */
/* Typed getters: the value in opts, else the table default. */
double ptq_opt_num(const ptq_method *m, const cJSON *opts, const char *key);
int ptq_opt_bool(const ptq_method *m, const cJSON *opts, const char *key);
const char *ptq_opt_str(const ptq_method *m, const cJSON *opts, const char *key);
/* lm_head's weight bits: 16 (full precision) unless the method has and sets
 * quant_lm_head, then its lm_head_bits or else the cell's w_bits. */
int ptq_lm_head_wbits(const ptq_method *m, const cJSON *opts, int w_bits);
/* Parse "key=value" (CLI --opt) into obj using the option's declared type. */
int ptq_opts_add_kv(const ptq_method *m, cJSON *obj, const char *kv, ptq_err *err);
/* "name(key=value,...)" of the options given (the label of result rows). */
void ptq_opts_label(const ptq_method *m, const cJSON *opts, char *out, size_t cap);
/* A copy of opts with every option present (defaults filled), for results;
 * the aliases of bit-spec fields that q sets (q may be NULL) take q's value. */
cJSON *ptq_opts_resolved(const ptq_method *m, const cJSON *opts, const ptq_qspec *q);
/* The quantizer: the bit-spec with the alias options applied — a_sym
 * (-a:sym/-a:asym), lac (-clip), kv_sym, kv_group, kv_clip (-kv:...) — where
 * the method has them and opts give them; an option that contradicts the
 * spec is an error. */
int ptq_method_qspec(const ptq_method *me, const ptq_qspec *spec, const cJSON *opts, ptq_qspec *q, ptq_err *err);

/* ---- running ---- */
/* Whether the method reads calibration data for q and opts (needs_calib). */
int ptq_method_needs_calib(const ptq_method *me, const ptq_qspec *q, const cJSON *opts);
/* Quantize m in place. ctx must have passed validation (the runner's
 * ptq_cell_check: options, ptq_method_qspec, supports) — it is not repeated. */
int ptq_method_apply(const ptq_method *meth, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);
/* 0 if the method has a block-wise implementation, else -1 naming it. */
int ptq_method_streamable(const ptq_method *meth, ptq_err *err);

/* Calibration windows per ctx->calib and the method's nsamples/seqlen options
 * (PTQ_CALIB_RANDOM: seeded uniform random tokens); records dataset, sha256,
 * nsamples, seqlen, seed and sampling in ctx->info.calib. The block driver
 * and the streamed cell load them through this. */
int ptq_method_calib(const ptq_method *meth, const ptq_apply_ctx *ctx, const ptq_model *m, ptq_calib *c, ptq_err *err);

#endif
