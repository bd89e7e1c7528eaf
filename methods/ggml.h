/* ggml.h — llama.cpp's per-tensor type choice (its quantization "mixes"),
 * used by the ggml method (ggml.c) and tested on its own. */
#ifndef PTQ_METHOD_GGML_H
#define PTQ_METHOD_GGML_H

#include "ggml_types.h"
#include "model.h"

/* Tensor roles beyond the PTQ_LIN_* layer linears. */
enum { PTQ_GGML_OUTPUT = PTQ_LIN_COUNT, PTQ_GGML_TOKEN_EMBD = PTQ_LIN_COUNT + 1 };

/* A llama-quantize type name ("q4_k_m", "q4_k" = its alias "q4_k_m",
 * "q2_k_s", "q8_0", "iq4_nl", ...): its ftype index, or -1. */
int ptq_ggml_ftype_find(const char *name);
/* The nominal bits of an ftype (8 for q8_0, 4 for q4_k_m, ...). */
int ptq_ggml_ftype_bits(int ftype);
/* The ftype a bare W-bit count stands for: 8 q8_0, 6 q6_k, 5 q5_k_m,
 * 4 q4_k_m, 3 q3_k_m, 2 q2_k; -1 otherwise. */
int ptq_ggml_ftype_for_bits(int bits);

/* Where a tensor sits, for the choice. */
typedef struct {
    int role;       /* PTQ_LIN_*, PTQ_GGML_OUTPUT or PTQ_GGML_TOKEN_EMBD */
    int layer;      /* 0..n_layers-1 for layer linears */
    int n_layers;
    int n_gqa;      /* n_heads / n_kv_heads */
    long ncols;     /* row length (the linear's input width) */
    int has_imatrix;
} ptq_ggml_site;

/* The ggml type llama.cpp's llama_tensor_get_type gives this tensor under
 * ftype (pure: every tensor the ftype's base type), after its shape
 * fallback (row length not a multiple of the block: q2_K/q3_K -> q4_0,
 * q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, then f16). *fell_back (may be
 * NULL) is set when the fallback changed it. */
int ptq_ggml_tensor_type(int ftype, int pure, const ptq_ggml_site *s, int *fell_back);

#endif
