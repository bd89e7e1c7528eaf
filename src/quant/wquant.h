/* wquant.h — weight quantizers (METHODS.md §1): per-output-channel or
 * per-group grids, symmetric/asymmetric, clip ratio, and GPTQ's MSE clip
 * search (grid 100, maxshrink 0.8, norm 2.4). A grid is computed once per
 * row (or group) and applied column by column, as GPTQ needs. */
#ifndef PTQ_WQUANT_H
#define PTQ_WQUANT_H

#include "common.h"

typedef struct {
    int bits, sym, mse;
    float clip;  /* 1.0 = none (applied before the MSE search) */
    int group;   /* 0 = whole row */
    int grid;    /* MSE search: shrink steps (100) */
    float maxshrink, norm; /* 0.8, 2.4 */
} ptq_wq_opts;

/* scale/zero per (row, group): quantize x with scale s and zero z. */
static inline float ptq_wq_apply(float x, float s, float z, int maxq, int sym) {
    float q;
    if (s == 0.f) return 0.f;
    if (sym) {
        q = __builtin_nearbyintf(x / s);
        float lo = -(float)(maxq / 2) - 1.f, hi = (float)(maxq / 2);
        q = q < lo ? lo : (q > hi ? hi : q);
        return s * q;
    }
    q = __builtin_nearbyintf(x / s) + z;
    q = q < 0.f ? 0.f : (q > (float)maxq ? (float)maxq : q);
    return s * (q - z);
}
/* maxq is 2^bits - 1; symmetric uses levels -(2^(b-1))..2^(b-1)-1. */
static inline int ptq_wq_maxq(int bits) { return (1 << bits) - 1; }

/* Grid for one vector x[0..n) (one row or one group). */
void ptq_wq_find_params(const float *x, int n, const ptq_wq_opts *o, float *scale, float *zero);
/* Fake-quantize a whole matrix W (rows x cols) in place (RTN). */
void ptq_wq_rtn(float *W, int rows, int cols, const ptq_wq_opts *o);
/* Default options for bits (per-channel, sym as given, no MSE). */
ptq_wq_opts ptq_wq_default(int bits, int sym);

#endif
