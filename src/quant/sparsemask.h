/* sparsemask.h — exact top-k selection of a score matrix into a keep mask
 * (SEPTQ's static 1% full-precision weights) and the bytes of storing the
 * kept values sparsely (CSR or bitmap + values, whichever is smaller). */
#ifndef PTQ_SPARSEMASK_H
#define PTQ_SPARSEMASK_H

#include "qweight.h"

/* Number of entries a fraction keeps: round(frac * n), in [0, n]. */
long ptq_mask_count(double frac, long n);

/* mask[i] = 1 for exactly `keep` entries of score (n values): the largest
 * scores, ties broken by lower index (deterministic). Partial selection
 * (quickselect) in O(n) expected time; NaN scores rank lowest. */
int ptq_topk_mask(const double *score, long n, long keep, unsigned char *mask, ptq_err *err);

/* Storage of the kept entries of a rows x cols mask with values of
 * value_bytes each (2 = fp16): qweight.h's ptq_sparse_storage_of. */
ptq_sparse_storage ptq_mask_storage_bytes(const unsigned char *mask, int rows, int cols, int value_bytes);

#endif
