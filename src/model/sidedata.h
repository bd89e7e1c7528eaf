/* sidedata.h — how a method tells the memory metric about extra stored
 * bytes of a linear beyond its packed weights (SEPTQ's sparse FP16 1%,
 * SpecQuant's low-frequency coefficients). A method whose lin->method_data
 * starts with a ptq_side_bytes header (magic set) is counted; any other
 * method_data counts 0. */
#ifndef PTQ_SIDEDATA_H
#define PTQ_SIDEDATA_H

#include <stdint.h>

#include <stdlib.h>

#include "model.h"
#include "sparsemask.h"
#include "spectral.h"

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

/* lin->method_data of a SEPTQ linear: side bytes, storage, and where the
 * full-precision weights are (packed.c packs the rest on the grid and adds
 * these as a sparse correction). */
typedef struct {
    ptq_side_bytes hdr;
    ptq_mask_storage st;
    long nkept;
    long *kept; /* ascending flat indices (row * cols + col) */
} ptq_septq_side;

static inline void ptq_septq_side_free(void *p) {
    ptq_septq_side *s = p;
    if (s) free(s->kept);
    free(s);
}

/* lin->method_data of a SpecQuant linear: side bytes and the low-frequency
 * branch as stored (lin->w_side is its dense form; packed.c runs the branch
 * from these coefficients). */
typedef struct {
    ptq_side_bytes hdr;
    ptq_spectral_branch br;
} ptq_specquant_side;

#endif
