/* gguf_write.h — save a (quantized) model as a GGUF file for llama.cpp
 * (gguf_write.c: which block type each linear gets and what is refused). */
#ifndef PTQ_GGUF_WRITE_H
#define PTQ_GGUF_WRITE_H

#include "model.h"
#include "tokenizer.h"

typedef struct {
    int linears, quantized; /* linears written, of which quantized */
    int f16_linears;        /* quantized ones written as F16 (row length or group not whole blocks, off-grid entries) */
    int type_count[40];     /* tensors per ggml type id */
    long bytes;             /* file size */
    double err2, w2;        /* squared error the fp16 scales add, squared weights (quantized linears) */
    double scale_rel_err;   /* sqrt(err2 / w2) */
    double max_rel;         /* worst linear */
    char max_rel_tensor[64];
} ptq_gguf_write_stats;

/* Write m with its tokenizer (a llama2.c tokenizer.bin, or a GGUF source's
 * tokenizer.* pairs) to path. Fails, naming the linear or layer and why,
 * when the quantized form needs something llama.cpp does not run. */
int ptq_gguf_save(const char *path, const ptq_model *m, const ptq_tokenizer *tok, ptq_gguf_write_stats *st,
                  ptq_err *err);

#endif
