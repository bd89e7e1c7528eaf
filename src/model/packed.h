/* packed.h — the real low-bit model: every quantized linear's ptq_qweight
 * (integer codes + scales/zeros) packed into the kernels' format
 * (kernels/kernels.h) plus its side data, attached as kernels (model.h
 * ptq_linear.kern) so that forward.c's ptq_forward runs the packed path: the
 * linear's online op, per-token activation codes and the integer GEMM with
 * dequant epilogue (or the weight-only dequantizing GEMM/GEMV when A >= 16),
 * the low-frequency branch from its stored coefficients, the off-grid
 * entries as a sparse full-precision correction, bias. A state from
 * ptq_state_init_packed adds the int8/int4 KV cache. */
#ifndef PTQ_PACKED_H
#define PTQ_PACKED_H

#include "kernels.h"
#include "model.h"

typedef struct {
    int n;                /* n_layers * PTQ_LIN_COUNT + 1 (lm_head last) */
    ptq_lin_kernel *kern; /* per linear */
    int *packed;          /* 1 packed, 0 runs in fp32 (lm_head without a qweight) */
    size_t weight_bytes;  /* every linear as stored: kernels (+ side), or fp32 (+ w_side); + biases */
    /* The source model with the kernels attached: a shallow copy sharing
     * every buffer and hook with it (keep the source alive and unchanged).
     * Run it with ptq_forward(&pm->view, state, ...). */
    ptq_model view;
} ptq_packed_model;

/* The kernel of one linear from its qweight: codes/scales/zeros packed
 * (bits 2..8, group 0 or a multiple of 4 of consecutive columns), off-grid entries as the CSR
 * correction, the low-frequency branch from its coefficients (else the
 * dense w_side). Errors name `what`. */
int ptq_lin_kernel_build(ptq_lin_kernel *k, const ptq_linear *l, const char *what, ptq_err *err);
/* Pack every linear of a quantized model. Layer linears must have a
 * qweight and activation quantizers the kernels take (2..8 bits per token,
 * or 16); lm_head is packed when it has a qweight, else it runs in fp32. */
int ptq_packed_model_build(ptq_packed_model *pm, const ptq_model *m, ptq_err *err);
void ptq_packed_model_free(ptq_packed_model *pm);
/* Bytes of linear i (index as in pm->kern) as the packed path stores it. */
size_t ptq_packed_linear_bytes(const ptq_packed_model *pm, int i);

/* The packed forward is ptq_forward on pm->view with a state from
 * ptq_state_init_packed (int8/int4 KV where the layer asks for it). */

#endif
