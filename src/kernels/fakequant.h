/* fakequant.h — fake quantizers of activations and the KV cache: quantize
 * to integer codes and back to floats with the uniform quantizer of
 * uniform.h (asymmetric or symmetric, clip ratio, per row or per group). */
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
