/* packed.h — the real low-bit model: every fake-quantized linear turned back
 * into integer codes + scales/zeros (kernels/kernels.h formats) and a forward
 * pass that runs the packed kernels: the linear's online op, per-token
 * activation quantization to integer codes, integer GEMM with dequant
 * epilogue (or weight-only on-the-fly dequantization when A >= 16), the fp32
 * side branch, and an int8/int4 KV cache when the layer's K/V quantizers ask
 * for 8 or 4 bits.
 *
 * Packing needs no side channel from the method: a fake-quantized row (or
 * group) lies on a uniform grid w = s * k with integer k, so the grid step and
 * the codes are recovered from the values (smallest gap between distinct
 * values, refined on the largest |k|), and any zero point that keeps every
 * code in 0..2^b-1 represents the same values. A row that is not on a grid
 * of at most 2^b levels is an error naming the linear, row and group. */
#ifndef PTQ_PACKED_H
#define PTQ_PACKED_H

#include "kernels/kernels.h"
#include "model.h"

/* Recover codes/scales/zeros of a fake-quantized matrix W (out x in) with
 * `bits` and weight group size `group` (0 = per channel) and pack them.
 * max_rel_err (optional) receives max |dequant - W| / max |W| over the matrix. */
int ptq_pack_weights(const float *W, int out, int in, int bits, int group, ptq_kpacked *pk, double *max_rel_err,
                     const char *what, ptq_err *err);

typedef struct {
    int n;              /* n_layers * PTQ_LIN_COUNT + 1 (lm_head last) */
    ptq_kpacked *pk;    /* per linear */
    int *packed;        /* 1 packed, 0 runs in fp32 (lm_head off the grid) */
    int w_bits, w_group;
    size_t weight_bytes; /* packed + fp32 leftovers (lm_head if fp32, w_side, bias) */
    double max_rel_err;  /* worst grid reconstruction error over all linears */
} ptq_packed_model;

/* Pack every linear of a quantized model (bits / group of its qspec). Layer
 * linears must be on the grid; lm_head is packed when it is, else kept fp32. */
int ptq_packed_model_build(ptq_packed_model *pm, const ptq_model *m, int w_bits, int w_group, ptq_err *err);
void ptq_packed_model_free(ptq_packed_model *pm);

/* Packed forward of T tokens at positions pos0.. with its own caches. */
typedef struct {
    int max_T;
    float *x, *xb, *xb2, *q, *k, *v, *hb, *hb2, *scratch, *att;
    float *kc, *vc;           /* fp32 caches (layers x max_seq x kvd) when K/V are not packed */
    uint8_t *kcq, *vcq;       /* packed caches */
    float *ksz, *vsz;         /* scale,zero per group per row */
    ptq_kvfmt kf, vf;
    int k_packed, v_packed;
    ptq_kacts acts;
} ptq_packed_state;

int ptq_packed_state_init(ptq_packed_state *s, const ptq_model *m, int max_T, ptq_err *err);
void ptq_packed_state_free(ptq_packed_state *s);
size_t ptq_packed_kv_bytes(const ptq_packed_state *s, const ptq_model *m, int ctx);
int ptq_packed_forward(const ptq_model *m, const ptq_packed_model *pm, ptq_packed_state *s, const int *tokens, int T,
                       int pos0, float *logits, ptq_err *err);

#endif
