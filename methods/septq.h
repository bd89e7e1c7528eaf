/* septq.h — SEPTQ's per-matrix step, exposed for tests (methods/septq.c). */
#ifndef PTQ_SEPTQ_H
#define PTQ_SEPTQ_H

#include <stdlib.h>

#include "gptq.h"
#include "sparsemask.h"

typedef struct {
    ptq_gptq_opts g;   /* bits, asym, MSE grid, group, damping, act-order */
    double sparsity;   /* fraction of weights kept in full precision (0.01) */
    int keep_original; /* 1: masked weights are the original values; 0: the GPTQ-updated values (SEPTQ code) */
} ptq_septq_opts;

typedef struct {
    long kept, total;
    ptq_sparse_storage st;
} ptq_septq_stats;


/* Q0 = RTN-asym (MSE clip) at the target bits; score (w - q0)^2 / Hinv_jj^2;
 * mask = top round(sparsity * rows * cols) scores; GPTQ with the masked
 * entries kept in full precision. W (rows x cols) is replaced in place by
 * the result; qw (NULL, or from ptq_wq_qweight with o->g.wq) receives it
 * with the masked entries off the grid.
 * mask (rows x cols) receives the mask when non-NULL. */
int ptq_septq_linear(float *W, int rows, int cols, const ptq_hessian *H, const ptq_septq_opts *o,
                     unsigned char *mask, ptq_septq_stats *st, ptq_qweight *qw, ptq_err *err);

#endif
