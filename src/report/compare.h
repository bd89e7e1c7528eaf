/* compare.h — the regression gate: a new result set against a baseline
 * (compare.c; `ptqbench compare`, scripts/nightly.sh). */
#ifndef PTQ_COMPARE_H
#define PTQ_COMPARE_H

#include <stdio.h>

#include "results.h"

typedef struct {
    double ppl_rel;   /* ppl: new <= base * (1 + ppl_rel) */
    double kld_rel;   /* kld_mean/kld_p99: new <= base * (1 + kld_rel) + kld_abs */
    double kld_abs;
    double acc_abs;   /* acc, acc_norm: base - new <= max(acc_abs, k * sqrt(se_b^2 + se_n^2)) */
    double stderr_k;
    double agree_abs; /* top1_agree (percentage points) */
    double lat_ratio; /* latency rows without a packed/FP32 ratio: slowdown factor allowed */
    double lat_floor; /* latency rows with <w>_speedup (packed/FP32 in the same run): the smallest relative
                         drop of the ratio flagged, whatever the measured noise */
    double lat_k;     /* ... and the noise multiple: flagged beyond max(lat_floor, lat_k * sigma) */
} ptq_compare_tol;
void ptq_compare_tol_default(ptq_compare_tol *t);
/* "ppl=0.02,kld=0.1,acc=0.01,agree=1,latency=1.5,k=2,lat_floor=0.03,lat_k=4" -> t. */
int ptq_compare_tol_parse(const char *s, ptq_compare_tol *t, ptq_err *err);

typedef struct {
    int checked, regressions, missing, improved, added;
    int invalid; /* values that are not a valid metric (null, a string, nan, ppl <= 0, ...): a failure */
} ptq_compare_summary;
/* Match rows by "id" (model|method|bits|seed|task), check every gated
 * metric, print a diff table to out (may be NULL). A baseline row with no
 * match in `cur` counts as missing, a gated value on either side that is not
 * a finite number in the metric's range as invalid (named on stderr); both
 * fail the gate. */
int ptq_compare(const ptq_rowset *cur, const ptq_rowset *base, const ptq_compare_tol *t, FILE *out,
                ptq_compare_summary *s, ptq_err *err);

#endif
