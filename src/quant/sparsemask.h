/* sparsemask.h — exact top-k selection of a score matrix into a keep mask
 * (SEPTQ's static 1% full-precision weights; qweight.h counts the bytes of
 * storing them sparsely). */
#ifndef PTQ_SPARSEMASK_H
#define PTQ_SPARSEMASK_H

#include "common.h"

/* Number of entries a fraction keeps: round(frac * n), in [0, n]. */
long ptq_mask_count(double frac, long n);

/* mask[i] = 1 for exactly `keep` entries of score (n values): the largest
 * scores, ties broken by lower index (deterministic). Partial selection
 * (quickselect) in O(n) expected time; NaN scores rank lowest. */
int ptq_topk_mask(const double *score, long n, long keep, unsigned char *mask, ptq_err *err);

#endif
