/* ruquant_ft.h — RUQuant's stage 2 ("+ft", METHODS.md §8): the global
 * Householder vector of each input group of a block learned with AdamW on
 * the MSE between the FP block's output and the quantized block's output
 * (ruquant_ft.c, with the training engine). */
#ifndef PTQ_RUQUANT_FT_H
#define PTQ_RUQUANT_FT_H

#include <cjson/cJSON.h>

#include "calib.h"
#include "model.h"
#include "wquant.h"

typedef struct {
    int epochs;      /* passes over the windows, batch 1 */
    double lr;       /* AdamW */
    int qk_hadamard; /* the Q/K head Hadamard of the quantized block */
    int kv_bits;
    ptq_wq_opts wq; /* the weights' fake quantizer while training */
    cJSON *info;    /* NULL, or an array that gets one entry per block */
} ptq_ruft_opts;

/* Outputs of FP block l for the calibration inputs X (nsamples x seqlen x
 * dim); NULL (err set) on failure. Caller frees. */
float *ptq_ruft_targets(const ptq_model *m, int l, const float *X, const ptq_calib *c, ptq_err *err);

/* Block l carries RUQuant's transforms with FP weights (W already rotated,
 * the online ops built with their Householder vectors): learn each group's
 * vector, fold the learned one into the op and W, then RTN the weights
 * (o->wq). groups: the four input groups' linears (-1 ends a row). */
int ptq_ruft_block(ptq_model *m, int l, const float *X, const float *Y, const ptq_calib *c, const int groups[4][3],
                   const ptq_ruft_opts *o, ptq_err *err);

#endif
