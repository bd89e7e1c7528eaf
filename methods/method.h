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

typedef struct {
    const char *name, *summary;
    int needs_calibration;
    const ptq_opt_def *opts; /* terminated by {NULL} */
    /* 0 if the method can run this spec, else -1 with a message. */
    int (*supports)(const ptq_qspec *q, ptq_err *err);
    int (*apply)(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);
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

#endif
