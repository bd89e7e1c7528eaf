/* sidebytes.h — how a method tells the memory metric about extra stored
 * bytes of a linear beyond its packed weights (SEPTQ's sparse FP16 1%,
 * SpecQuant's low-frequency coefficients). A method whose lin->method_data
 * starts with a ptq_side_bytes header (magic set) is counted; any other
 * method_data counts 0. */
#ifndef PTQ_SIDEBYTES_H
#define PTQ_SIDEBYTES_H

#include <stdint.h>

#include "model.h"

#define PTQ_SIDE_MAGIC 0x53494445u /* "SIDE" */

typedef struct {
    uint32_t magic; /* PTQ_SIDE_MAGIC */
    long bytes;     /* stored bytes besides the quantized weight itself */
    const char *what; /* e.g. "septq_sparse_fp16", "specquant_lowfreq_fp16" */
} ptq_side_bytes;

static inline long ptq_linear_side_bytes(const ptq_linear *l) {
    const ptq_side_bytes *s = (const ptq_side_bytes *)l->method_data;
    return s && s->magic == PTQ_SIDE_MAGIC ? s->bytes : 0;
}

#endif
