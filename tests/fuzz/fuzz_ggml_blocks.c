/* fuzz_ggml_blocks.c — llama.cpp block data (src/model/ggml_types.h) as a
 * GGUF file may hold it: byte 0 picks the type, the rest is the row's
 * blocks. Properties: any bytes dequantize without a crash; for the grid
 * types the grid form gives the dequantized floats bit for bit; values
 * within +-1e4 (no fp16 overflow of a scale) quantize again to finite ones. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ggml_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int n;
    const ptq_ggml_type_info *types = ptq_ggml_types(&n), *t = &types[data[0] % n];
    long nb = (long)(size - 1) / t->block_bytes, vals = nb * t->block;
    if (nb == 0 || vals > 1 << 16) return 0;
    void *row = malloc((size_t)nb * t->block_bytes); /* aligned copy, as a GGUF tensor is */
    float *y = malloc(sizeof(float) * vals), *z = malloc(sizeof(float) * vals), *sc = malloc(sizeof(float) * vals);
    uint8_t *codes = malloc((size_t)vals), *q = malloc((size_t)nb * t->block_bytes);
    ptq_err err;
    memcpy(row, data + 1, (size_t)nb * t->block_bytes);
    if (ptq_ggml_dequantize(t->id, row, y, 1, vals, &err)) abort();
    int bits, group, finite = 1;
    if (ptq_ggml_grid_info(t->id, &bits, &group)) {
        if (ptq_ggml_to_grid(t->id, row, vals, codes, sc, &err)) abort();
        for (long j = 0; j < vals; j++) {
            float v = sc[j / group] * (float)(codes[j] - (1 << (bits - 1)));
            if (codes[j] >> bits || memcmp(&v, &y[j], sizeof v)) abort();
        }
    }
    for (long j = 0; j < vals; j++) finite &= y[j] >= -1e4f && y[j] <= 1e4f;
    if (finite && t->block > 1 && ptq_ggml_quantize(t->id, y, q, 1, vals, NULL, &err) == 0) {
        if (ptq_ggml_dequantize(t->id, q, z, 1, vals, &err)) abort();
        for (long j = 0; j < vals; j++)
            if (!(z[j] - z[j] == 0.0f)) abort();
    }
    free(row), free(y), free(z), free(sc), free(codes), free(q);
    return 0;
}
