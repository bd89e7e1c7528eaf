/* wquant.h — weight quantizers (METHODS.md §1): per-output-channel or
 * per-group grids of uniform.h's quantizer, symmetric/asymmetric, clip
 * ratio, and GPTQ's MSE clip search (grid 100, maxshrink 0.8, norm 2.4). A
 * grid is computed once per row (or group) and applied column by column, as
 * GPTQ needs. The quantized weight is a ptq_qweight (qweight.h); the helpers
 * at the bottom quantize a model's linears into theirs. */
#ifndef PTQ_WQUANT_H
#define PTQ_WQUANT_H

#include "model.h"

typedef struct {
    int bits, sym, mse;
    float clip;  /* 1.0 = none (applied before the MSE search) */
    int group;   /* 0 = whole row */
    int grid;    /* MSE search: shrink steps (100) */
    float maxshrink, norm; /* 0.8, 2.4 */
} ptq_wq_opts;

/* Default options for bits (per-channel, sym as given, no MSE). */
ptq_wq_opts ptq_wq_default(int bits, int sym);
/* Grid (scale, zero point) for one vector x[0..n) (one row or one group). */
void ptq_wq_find_params(const float *x, int n, const ptq_wq_opts *o, float *scale, int *zero);
/* An empty quantized weight of rows x cols in the format of o (bits 1..8). */
ptq_qweight *ptq_wq_qweight(int rows, int cols, const ptq_wq_opts *o, ptq_err *err);
/* RTN of a matrix W (rows x cols) in place: W becomes its dequantized
 * values; qw (NULL, or from ptq_wq_qweight) receives codes, scales, zeros. */
void ptq_wq_rtn(float *W, int rows, int cols, const ptq_wq_opts *o, ptq_qweight *qw);

/* RTN of a linear into its qweight (w = its dequantized values). A no-op at
 * bits >= 16. */
int ptq_wq_linear(ptq_linear *l, const ptq_wq_opts *o, ptq_err *err);
/* The seven linears of block `layer`. */
int ptq_wq_layer(ptq_model *m, int layer, const ptq_wq_opts *o, ptq_err *err);
/* lm_head (untied from the embedding first). */
int ptq_wq_lm_head(ptq_model *m, const ptq_wq_opts *o, ptq_err *err);

#endif
