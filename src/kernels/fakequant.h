/* fakequant.h — uniform quantizer primitives (METHODS.md §1).
 *
 * Asymmetric: scale = (xmax - xmin)/(2^b - 1), zero = round(-xmin/scale),
 *             q = clamp(round(x/scale) + zero, 0, 2^b - 1), x^ = scale (q - zero).
 * Symmetric:  maxq = 2^(b-1) - 1, scale = max|x|/maxq,
 *             q = clamp(round(x/scale), -(maxq+1), maxq), x^ = scale q.
 * Clip ratio c multiplies xmin and xmax before the scale is computed.
 * Asymmetric ranges always include 0 (xmin <= 0 <= xmax), as in GPTQ/QuaRot. */
#ifndef PTQ_FAKEQUANT_H
#define PTQ_FAKEQUANT_H

#include "common.h"

/* Fake quantizer for activations / KV. bits >= 16 means "not quantized". */
typedef struct {
    int bits;
    int sym;    /* 1 symmetric, 0 asymmetric */
    float clip; /* clip ratio applied to the range (1.0 = none) */
    int group;  /* 0: one group per row (per token / per head); else group size */
} ptq_act_qspec;

/* Quantize-dequantize one vector of n values in place with one scale. */
void ptq_fq_vec(float *x, int n, int bits, int sym, float clip);
/* Quantize-dequantize `rows` rows of n values in place, one scale per group
 * of q->group values (per row when group == 0). bits >= 16: no-op. */
void ptq_fq_rows(float *x, int rows, int n, const ptq_act_qspec *q);

#endif
