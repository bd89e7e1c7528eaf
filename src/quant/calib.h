/* calib.h — calibration data and block-by-block (true-sequential) capture.
 *
 * Calibration windows are drawn from a named text dataset that is never the
 * evaluation split (datasets.h ptq_calib_allowed), seeded. Methods walk the
 * model one transformer block at a time: the inputs of block l are the
 * outputs of the already-quantized blocks < l, so memory is one block's
 * activations for all windows (nsamples x seqlen x dim floats). */
#ifndef PTQ_CALIB_H
#define PTQ_CALIB_H

#include "datasets.h"
#include "model.h"

typedef struct {
    char dataset[64]; /* e.g. "c4", "tinystories-calib" */
    int nsamples;     /* windows (128 in GPTQ) */
    int seqlen;       /* tokens per window (0 = model max_seq) */
    uint64_t seed;
} ptq_calib_spec;

typedef struct {
    ptq_calib_spec spec;
    int nsamples, seqlen;
    int *tokens;            /* nsamples x seqlen */
    char dataset_sha256[65];
    char sampling[96];      /* how the windows were drawn (recorded in results) */
} ptq_calib;

/* Draw windows: random documents/offsets like GPTQ's get_c4 (documents longer
 * than seqlen, random crop), or random offsets in one stream. Error when the
 * dataset cannot supply nsamples windows of seqlen. */
int ptq_calib_load(ptq_calib *c, const ptq_calib_spec *spec, const ptq_tokenizer *tok, int max_seq, ptq_err *err);
void ptq_calib_free(ptq_calib *c);

/* Run block `layer` on X for all windows (out may equal NULL: X is not
 * advanced, only the capture fires), with an optional capture hook. */
int ptq_calib_block_forward(const ptq_model *m, int layer, const float *X, float *out, const ptq_calib *c,
                            ptq_capture_fn cap, void *cap_ctx, ptq_err *err);
/* Only the capture, up to linear `last` (PTQ_LIN_*): each window's block
 * returns once `last` has been captured (the rest of the block is not run). */
int ptq_calib_block_capture(const ptq_model *m, int layer, const float *X, const ptq_calib *c, int last,
                            ptq_capture_fn cap, void *cap_ctx, ptq_err *err);

/* One pass over all windows through parts from..to (PTQ_PART_*) of block
 * `layer`, for walks that compute each linear's product once: window i
 * starts from X_i; with `in`, part from (O or DOWN) takes its input from
 * in_i (kept by an earlier pass) instead of running the part before it;
 * with `keep`, the input of part keep_part (O or DOWN) is saved in keep_i
 * before the part runs; with `out`, x after the parts goes to out_i (may be
 * X). A capture stopped at stop_after (1 + PTQ_LIN_*, 0: none) ends the
 * window's parts. Kept and recomputed inputs are the same bits. */
typedef struct {
    int from, to;
    const float *in;
    float *keep;
    int keep_part;
    float *out;
    int stop_after;
    ptq_capture_fn cap;
    void *cap_ctx;
} ptq_calib_pass;
int ptq_calib_pass_run(const ptq_model *m, int layer, const float *X, const ptq_calib *c, const ptq_calib_pass *p,
                       ptq_err *err);
/* Seconds spent in calibration forwards so far in this process (capture
 * callbacks, e.g. Hessian products, excluded): the runner's split of a
 * block's quantize time. */
double ptq_calib_forward_seconds(void);

#endif
