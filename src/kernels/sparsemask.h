/* sparsemask.h — exact top-k selection of a score matrix into a keep mask
 * (SEPTQ's static 1% full-precision weights) and the bytes of storing the
 * kept values sparsely (CSR or bitmap + values, whichever is smaller). */
#ifndef PTQ_SPARSEMASK_H
#define PTQ_SPARSEMASK_H

#include "common.h"

/* Number of entries a fraction keeps: round(frac * n), in [0, n]. */
long ptq_mask_count(double frac, long n);

/* mask[i] = 1 for exactly `keep` entries of score (n values): the largest
 * scores, ties broken by lower index (deterministic). Partial selection
 * (quickselect) in O(n) expected time; NaN scores rank lowest. */
int ptq_topk_mask(const double *score, long n, long keep, unsigned char *mask, ptq_err *err);

typedef struct {
    long nnz;
    long csr_bytes;    /* (rows+1) int32 row pointers + nnz x (column index + value) */
    long bitmap_bytes; /* ceil(rows*cols/8) + nnz x value */
    long bytes;        /* the smaller */
    const char *format; /* "csr" or "bitmap" */
} ptq_mask_storage;

/* Storage of the kept entries of a rows x cols mask with values of
 * value_bytes each (2 = fp16); column indices take 2 bytes when cols <= 65536. */
ptq_mask_storage ptq_mask_storage_bytes(const unsigned char *mask, int rows, int cols, int value_bytes);

#endif
