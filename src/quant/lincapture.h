/* lincapture.h — statistics of one linear's input over the calibration
 * windows of a block (used by SpecQuant, SEPTQ, RUQuant): fp64 Hessian,
 * per-channel max |x| and mean, and a deterministic strided subsample of
 * rows. The input is the one the linear sees after its online op and before
 * activation quantization (x_pre of the capture hook). */
#ifndef PTQ_LINCAPTURE_H
#define PTQ_LINCAPTURE_H

#include "calib.h"
#include "gptq.h"

typedef struct {
    int which; /* PTQ_LIN_* whose input is captured */
    int n;     /* input width */
    int want_hessian;
    int sample_cap; /* rows to keep (0 = none) */
    /* results */
    ptq_hessian H;
    float *absmax; /* [n] */
    double *mean;  /* [n] */
    float *sample; /* sample_rows x n */
    long rows_seen;
    int sample_rows;
    long stride, total_rows;
} ptq_lincap;

/* Set up a capture of linear `which` (width n) of a block. */
int ptq_lincap_init(ptq_lincap *c, int which, int n, int want_hessian, int sample_cap, long total_rows,
                    ptq_err *err);
void ptq_lincap_free(ptq_lincap *c);
/* Run block `layer` on the calibration activations X (not advanced) and
 * feed every capture in caps[0..ncap). */
int ptq_lincap_block(const ptq_model *m, int layer, const float *X, const ptq_calib *c, ptq_lincap *caps, int ncap,
                     ptq_err *err);

#endif
