/* specquant.h — SpecQuant's per-matrix step, exposed for tests
 * (methods/specquant.c). */
#ifndef PTQ_SPECQUANT_H
#define PTQ_SPECQUANT_H

#include "gptq.h"
#include "lowfreq.h"

enum { PTQ_SPEC_FIXED = 0, PTQ_SPEC_ENERGY = 1, PTQ_SPEC_SOFTMAX = 2 };

typedef struct {
    ptq_gptq_opts g;     /* residual quantizer */
    int budget;          /* PTQ_SPEC_* */
    int k;               /* bins per row (fixed), or average bins per row (softmax); -1: 16 per 4096 inputs (min 1) */
    double energy;       /* energy fraction (energy budget) */
    double softmax_temp; /* softmax temperature (softmax budget) */
    int fp16;            /* store the low-frequency coefficients in fp16 */
} ptq_specquant_opts;


/* W (rows x cols, already smoothed) becomes the quantized residual
 * Q(W - W_low): GPTQ with H, or RTN when H is NULL (alpha search); qw
 * (NULL, or from ptq_wq_qweight with o->g.wq) receives its codes. *w_side
 * receives W_low (malloc'd; NULL when every row keeps 0 bins) and br its
 * stored coefficients (br may be NULL). score (rows) is used by the softmax
 * budget only. */
int ptq_specquant_linear(float *W, int rows, int cols, const ptq_hessian *H, const double *score,
                         const ptq_specquant_opts *o, float **w_side, ptq_spectral_branch *br, ptq_qweight *qw,
                         ptq_err *err);

#endif
