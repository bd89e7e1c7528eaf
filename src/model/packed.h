/* packed.h — the real low-bit model: every fake-quantized linear turned back
 * into integer codes + scales/zeros (kernels/kernels.h formats) plus its
 * method's side branch, attached as kernels (model.h ptq_linear.kern) so
 * that forward.c's ptq_forward runs the packed path: the linear's online op,
 * per-token activation codes and the integer GEMM with dequant epilogue (or
 * the weight-only dequantizing GEMM/GEMV when A >= 16), SpecQuant's
 * low-frequency branch from its stored coefficients, SEPTQ's sparse
 * full-precision correction, bias. A state from ptq_state_init_packed adds
 * the int8/int4 KV cache.
 *
 * Packing needs no side channel from the method: a fake-quantized row (or
 * group) lies on a uniform grid w = s * k with integer k, so the grid step and
 * the codes are recovered from the values (smallest gap between distinct
 * values, refined on the largest |k|), and any zero point that keeps every
 * code in 0..2^b-1 represents the same values. A row that is not on a grid
 * of at most 2^b levels is an error naming the linear, row and group. The
 * exception is SEPTQ, whose full-precision weights are off the grid by
 * design: their positions come from its method_data (methods/septq.h). */
#ifndef PTQ_PACKED_H
#define PTQ_PACKED_H

#include "kernels.h"
#include "model.h"

/* Recover codes/scales/zeros of a fake-quantized matrix W (out x in) with
 * `bits` and weight group size `group` (0 = per channel) and pack them.
 * max_rel_err (optional) receives max |dequant - W| / max |W| over the matrix. */
int ptq_pack_weights(const float *W, int out, int in, int bits, int group, ptq_kpacked *pk, double *max_rel_err,
                     const char *what, ptq_err *err);
/* The same for a matrix whose entries at the flat indices kept[0..nkept)
 * (ascending) are off the grid: each row/group's grid is recovered from its
 * other entries, kept entries get the nearest code, and sp receives the
 * correction W - dequant at exactly those entries (so dequant + sp = W). */
int ptq_pack_weights_sparse(const float *W, int out, int in, int bits, int group, const long *kept, long nkept,
                            ptq_kpacked *pk, ptq_kcsr *sp, double *max_rel_err, const char *what, ptq_err *err);

typedef struct {
    int n;                /* n_layers * PTQ_LIN_COUNT + 1 (lm_head last) */
    ptq_lin_kernel *kern; /* per linear */
    int *packed;          /* 1 packed, 0 runs in fp32 (lm_head off the grid) */
    int w_bits, w_group;
    size_t weight_bytes;  /* every linear as stored: kernels (+ side), or fp32 (+ w_side); + biases */
    double max_rel_err;   /* worst grid reconstruction error over all linears */
    /* The source model with the kernels attached: a shallow copy sharing
     * every buffer and hook with it (keep the source alive and unchanged).
     * Run it with ptq_forward(&pm->view, state, ...). */
    ptq_model view;
} ptq_packed_model;

/* Pack every linear of a quantized model (bits / group of its qspec). Layer
 * linears must be on the grid and have activation quantizers the kernels
 * take (2..8 bits per token, or 16); lm_head is packed when it can be, else
 * it runs in fp32. */
int ptq_packed_model_build(ptq_packed_model *pm, const ptq_model *m, int w_bits, int w_group, ptq_err *err);
void ptq_packed_model_free(ptq_packed_model *pm);
/* (Re)make pm->view from m with kern[i] attached where packed[i], and
 * recompute weight_bytes. Build calls it; a loader that fills kern/packed
 * itself (ptqfile.c) calls it last. */
int ptq_packed_model_view(ptq_packed_model *pm, const ptq_model *m, ptq_err *err);
/* Bytes of linear i (index as in pm->kern) as the packed path stores it. */
size_t ptq_packed_linear_bytes(const ptq_packed_model *pm, int i);

/* The packed forward is ptq_forward on pm->view with a state from
 * ptq_state_init_packed (int8/int4 KV where the layer asks for it). */

#endif
