/* ggml_types.h — llama.cpp's tensor types (ggml's block formats): the
 * registry, dequantization and the reference quantizers.
 *
 * A row of n values of a block type is n / block consecutive blocks of
 * block_bytes bytes, little-endian, laid out exactly as ggml's
 * ggml-common.h defines them (GGUF stores tensors this way). Scales are IEEE
 * fp16 (round to nearest even from fp32).
 *
 * ptq_ggml_quantize reproduces what ggml_quantize_chunk (the function
 * llama.cpp's model quantizer calls per tensor) writes for the same fp32
 * rows, bit for bit: the same scale searches (make_qx_quants, make_q3_quants,
 * make_qkx2/qkx3_quants, make_qp_quants), the same float expressions in the
 * same order (this file is compiled with -ffp-contract=off so no product is
 * fused into an FMA), nearest_int's rounding (ties to even via the 1.5*2^23
 * trick) and the fp16 rounding of scales before the codes are re-derived.
 * With an importance matrix (imatrix: one weight per column, llama.cpp's
 * per-column mean squared activation) the weighted variants run, as
 * llama-quantize --imatrix does. Tests: tests/unit/test_ggml_types.c against
 * bytes made by llama.cpp itself (tests/data/ggml/). */
#ifndef PTQ_GGML_TYPES_H
#define PTQ_GGML_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* ggml_type ids as GGUF stores them. */
typedef enum {
    PTQ_GGML_F32 = 0,
    PTQ_GGML_F16 = 1,
    PTQ_GGML_Q4_0 = 2,
    PTQ_GGML_Q4_1 = 3,
    PTQ_GGML_Q5_0 = 6,
    PTQ_GGML_Q5_1 = 7,
    PTQ_GGML_Q8_0 = 8,
    PTQ_GGML_Q2_K = 10,
    PTQ_GGML_Q3_K = 11,
    PTQ_GGML_Q4_K = 12,
    PTQ_GGML_Q5_K = 13,
    PTQ_GGML_Q6_K = 14,
    PTQ_GGML_IQ4_NL = 20,
    PTQ_GGML_BF16 = 30,
} ptq_ggml_type;

typedef struct {
    int id;           /* ptq_ggml_type */
    const char *name; /* ggml's name: "f32", "q4_0", "q4_K", "iq4_nl", ... */
    int block;        /* values per block (1 for f32/f16/bf16) */
    int block_bytes;  /* bytes per block */
    /* Dequantize n values (a multiple of block) from blocks into y. */
    void (*dequant)(const void *blocks, float *y, long n);
    /* Quantize n values (a multiple of block) of one row into blocks; qw:
     * importance weights of those n columns, or NULL. */
    void (*quant)(const float *x, void *blocks, long n, const float *qw);
} ptq_ggml_type_info;

/* The registry row of a ggml type id, or NULL if this build has none. */
const ptq_ggml_type_info *ptq_ggml_type_info_of(int id);
/* By name, case-insensitive ("Q4_K" = "q4_k"); NULL if unknown. */
const ptq_ggml_type_info *ptq_ggml_type_by_name(const char *name);
/* Every supported type, in id order; *n gets the count. */
const ptq_ggml_type_info *ptq_ggml_types(int *n);

/* Bytes of one row of n values; -1 (with a message naming the type) when n
 * is not a positive multiple of the block size or the type is unknown. */
long ptq_ggml_row_bytes(int id, long n, ptq_err *err);
/* nrows rows of n values: src (nrows * row_bytes) -> y (nrows * n). */
int ptq_ggml_dequantize(int id, const void *src, float *y, long nrows, long n, ptq_err *err);
/* nrows rows of n values: x -> dst (nrows * row_bytes), as
 * ggml_quantize_chunk. imatrix: n importance weights per column, or NULL.
 * Rows are independent (OpenMP over rows; the result does not depend on the
 * thread count). */
int ptq_ggml_quantize(int id, const float *x, void *dst, long nrows, long n, const float *imatrix, ptq_err *err);

/* The uniform-grid form of the symmetric types, for the packed kernels
 * (qweight.h): q8_0, q4_0, q5_0 (groups of 32), q3_K, q6_K (groups of 16)
 * dequantize to scale[g] * (code - 2^(bits-1)) with one float scale per
 * group, bit for bit the values of the dequantizer above. Returns 1 and
 * fills bits/group for those types, 0 for the others (q4_1, q5_1, q2_K,
 * q4_K, q5_K: a float min; iq4_nl: non-uniform levels). */
int ptq_ggml_grid_info(int id, int *bits, int *group);
/* One row of n values: codes[n], scales[n / group]. 0, or -1 when the type
 * has no grid form or n is not a multiple of its block. */
int ptq_ggml_to_grid(int id, const void *row, long n, uint8_t *codes, float *scales, ptq_err *err);

/* The other way, for export: one row of n values on a grid of groups of
 * 32 (w = scale[g] * (code - zero[g])) written as q8_0, q4_0, q5_0 (zero
 * must be 2^(bits-1)) or q4_1, q5_1 (any zero: d = scale, m = -scale *
 * zero). Scales and mins are rounded to fp16 (the only loss). -1 with a
 * message naming the group when a code or zero does not fit the type. */
int ptq_ggml_from_grid(int id, const uint8_t *codes, const float *scales, const int *zeros, long n, void *row,
                       ptq_err *err);

/* fp16 as ggml converts it (IEEE binary16, round to nearest even). */
uint16_t ptq_ggml_fp32_to_fp16(float f);
float ptq_ggml_fp16_to_fp32(uint16_t h);

#endif
