/* qspec.h — bit-spec strings (DESIGN.md):
 *   W<b>[A<b>][KV<b>] followed by options -g<N> (weight group size),
 *   -sym | -asym (weights), -clip<r> (activation clip ratio), -mse (weight MSE
 *   clip search). Case-insensitive. Bits 2..8 or 16 (= unquantized).
 *   Examples: W4A4KV4, W4A16-g128, W3A3-asym, W16A16, W2A16-mse. */
#ifndef PTQ_QSPEC_H
#define PTQ_QSPEC_H

#include "common.h"

typedef struct {
    int w_bits, a_bits, kv_bits; /* 16 = not quantized; A and KV default 16 */
    int w_group;                 /* 0 = per output channel */
    int w_sym;                   /* -1 = method default, 1 sym, 0 asym */
    float a_clip;                /* 0 = method default */
    int w_mse;                   /* weight MSE clip search */
    char text[64];               /* canonical form, e.g. "W4A4KV4-g128" */
} ptq_qspec;

int ptq_qspec_parse(const char *s, ptq_qspec *q, ptq_err *err);
/* Canonical string (same as q->text). */
const char *ptq_qspec_str(const ptq_qspec *q);
static inline int ptq_qspec_weight_only(const ptq_qspec *q) { return q->a_bits >= 16 && q->kv_bits >= 16; }

#endif
