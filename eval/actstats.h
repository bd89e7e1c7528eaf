/* actstats.h — outlier statistics of a model's activations and weights.
 *
 * Over calibration windows (full fp32 forward, the capture hook), for every
 * distinct linear input (q/k/v share one, gate/up share one; o, down and
 * lm_head) and for the residual stream after every block:
 *   max_abs        max |x| over every element seen
 *   top_ratio      max over channels of the channel's max |x|, divided by
 *                  the median channel's max |x| (top_channel is its index)
 *   kurtosis       pooled over all elements, E[(x-mu)^4] / var^2 (Gaussian 3)
 *   massive        share of elements with |x| > 100 x the median |x| of their
 *                  own token row (Sun et al. 2024 "massive activations" use
 *                  the hidden state's median; a row median is exact and
 *                  streams, a pooled median would need every value kept)
 * Weights of every linear: max |w|, the input-channel ratio (column max |w|
 * top over median) and kurtosis.
 * Sums are fp64 in token order on one thread, so the numbers do not depend on
 * the thread count (the forward pass itself does not either). */
#ifndef PTQ_ACTSTATS_H
#define PTQ_ACTSTATS_H

#include "model.h"

enum { PTQ_AS_QKV, PTQ_AS_O, PTQ_AS_GATEUP, PTQ_AS_DOWN, PTQ_AS_RESID, PTQ_AS_HEAD, PTQ_AS_KINDS };
extern const char *const ptq_actstat_kind_names[PTQ_AS_KINDS]; /* "qkv_proj.in", ... */

typedef struct {
    double max_abs, top_ratio, kurtosis, massive;
    int top_channel, n;
    long rows;
    /* accumulators */
    float *ch_max; /* [n] */
    double s[5];   /* sums of x^0..x^4 */
    long n_massive;
} ptq_actstat;

typedef struct {
    double max_abs, top_ratio, kurtosis;
    int top_channel;
} ptq_wstat;

typedef struct {
    int n_layers;
    /* act[l * PTQ_AS_KINDS + k]; lm_head input only in layer n_layers - 1 */
    ptq_actstat *act;
    ptq_wstat *w; /* [(n_layers) * PTQ_LIN_COUNT + 1]: lm_head last */
    long tokens;
} ptq_model_stats;

/* Run windows (nwin x seqlen token ids, each window from position 0) through
 * m and fill st. m must not have quantizers installed (they are ignored: the
 * capture's x_pre is used). */
int ptq_model_stats_compute(const ptq_model *m, const int *tokens, int nwin, int seqlen, ptq_model_stats *st,
                            ptq_err *err);
void ptq_model_stats_free(ptq_model_stats *st);
static inline ptq_actstat *ptq_model_stats_act(const ptq_model_stats *st, int layer, int kind) {
    return &st->act[(size_t)layer * PTQ_AS_KINDS + kind];
}

/* The statistics of one row-major T x n block added to a (exposed for tests). */
void ptq_actstat_add(ptq_actstat *a, const float *x, int T, int n);
/* Turn a's sums into the fields above. */
void ptq_actstat_finish(ptq_actstat *a);

#endif
