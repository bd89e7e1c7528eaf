/* method_util.h — helpers the method files share (method_util.c): the
 * option-table entries every quantizing method has, the activation/KV
 * quantizer install, RTN of a block, the weight-quantizer options from the
 * bit-spec, and calibration loading. */
#ifndef PTQ_METHOD_UTIL_H
#define PTQ_METHOD_UTIL_H

#include "method.h"
#include "wquant.h"

/* clang-format off */
#define PTQ_LM_HEAD_BITS_OPT                                                                                           \
    {.name = "lm_head_bits", .type = PTQ_OPT_INT, .def = "0", .lo = 0, .hi = 8,                                        \
     .help = "with quant_lm_head: lm_head's weight bits, RTN (0: the cell's; 8: an int8 classifier as llama.cpp's "    \
             "Q8_0/Q6_K output.weight); quantized activations there get the same bits"}
/* clang-format on */

/* Activation/KV quantizer options (the bit-spec's -a:/-kv: fields also set
 * them, method.h ptq_method_qspec) and lm_head quantization; append to a
 * method's option table. */
/* clang-format off */
#define PTQ_ACT_KV_OPTS                                                                                                \
    {.name = "a_sym", .type = PTQ_OPT_BOOL, .def = "true",                                                             \
     .help = "activations: per-token symmetric (false = asymmetric)"},                                                 \
    {.name = "kv_group", .type = PTQ_OPT_INT, .def = "128", .lo = 0, .hi = 65536,                                      \
     .help = "KV cache: group size within a head (0 or >= head_dim: per head)"},                                       \
    {.name = "kv_sym", .type = PTQ_OPT_BOOL, .def = "false",                                                           \
     .help = "KV cache: symmetric (default asymmetric)"},                                                              \
    {.name = "kv_clip", .type = PTQ_OPT_FLOAT, .def = "1.0", .lo = 0.01, .hi = 1.0,                                    \
     .help = "KV cache: clip ratio"},                                                                                  \
    {.name = "quant_lm_head", .type = PTQ_OPT_BOOL, .def = "false",                                                    \
     .help = "also quantize lm_head weights and its input"},                                                           \
    PTQ_LM_HEAD_BITS_OPT
/* clang-format on */

/* Calibration size options with the method's defaults (as text). */
/* clang-format off */
#define PTQ_CALIB_OPTS(ns, sl)                                                                                         \
    {.name = "nsamples", .type = PTQ_OPT_INT, .def = ns, .lo = 1, .hi = 100000,                                        \
     .help = "calibration windows"},                                                                                   \
    {.name = "seqlen", .type = PTQ_OPT_INT, .def = sl, .lo = 2, .hi = 1 << 20,                                         \
     .help = "calibration tokens per window (capped at the model's max_seq)"}
/* clang-format on */

/* needs_calib of a method that always calibrates. */
int ptq_needs_calib_always(const ptq_qspec *q, const cJSON *opts);

/* Per-token activation quantizers on every linear input of block `layer` and
 * its KV quantizers, from ctx->q (fields the spec leaves open: the method's
 * a_sym / kv_group / kv_sym / kv_clip option or default; clip 1, per token). */
void ptq_install_act_kv_layer(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx, int layer);
/* Under quant_lm_head: lm_head's weights rounded (RTN, wq's grid, at
 * lm_head_bits when set) and the activation quantizer on its input (the
 * cell's, at lm_head_bits when set and the cell quantizes activations).
 * Nothing otherwise. */
int ptq_quant_lm_head(ptq_model *m, const ptq_method *meth, const ptq_apply_ctx *ctx, const ptq_wq_opts *wq,
                      ptq_err *err);

/* Weight quantizer options from the bit-spec (-g, -sym/-asym, -mse) with the
 * method's default symmetry. */
ptq_wq_opts ptq_method_wq(const ptq_apply_ctx *ctx, int default_sym);

/* Folding rotations into weights (QuaRot-style fusion). W (rows x cols) is
 * transposed in place; ptq_fold_out sets W (n x cols) <- A^T W for op(x) = x A
 * (the outputs move to the basis A); ptq_fold_norm scales W's columns by the
 * norm weight g and sets g to 1. */
int ptq_transpose_inplace(float *W, int rows, int cols, ptq_err *err);
int ptq_fold_out(const ptq_online_op *op, float *W, int n, int cols, ptq_err *err);
void ptq_fold_norm(float *W, int rows, int cols, float *g);

#endif
