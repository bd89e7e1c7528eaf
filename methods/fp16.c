/* fp16.c — the full-precision reference: no quantization at all.
 * (The harness computes in fp32; "fp16" is the field's name for the
 * unquantized baseline.) Only W16A16 (KV16) specs are accepted, so a typo in a
 * sweep cannot silently produce a "quantized" row that is not. Block-wise
 * (streamable): every step is a no-op. */
#include "method.h"

static int fp16_supports(const ptq_qspec *q, ptq_err *err) {
    if (q->w_bits < 16 || q->a_bits < 16 || q->kv_bits < 16)
        return ptq_fail(err, "method fp16 is the unquantized reference and cannot run %s (use W16A16)", q->text);
    return 0;
}

static int fp16_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    (void)m, (void)ctx, (void)err;
    *state = NULL;
    return 0;
}

static int fp16_block(void *state, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    (void)state, (void)m, (void)layer, (void)X, (void)c, (void)err;
    return 0;
}

static int fp16_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    (void)state, (void)m, (void)ok, (void)err;
    return 0;
}

static const ptq_block_method fp16_blocks = {.begin = fp16_begin, .block = fp16_block, .end = fp16_end};
static const ptq_opt_def fp16_opts[] = {{0}};

const ptq_method ptq_method_fp16 = {
    .name = "fp16",
    .summary = "full-precision reference (no quantization)",
    .opts = fp16_opts,
    .supports = fp16_supports,
    .blocks = &fp16_blocks,
};
