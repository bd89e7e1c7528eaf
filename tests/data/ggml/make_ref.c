/* make_ref.c — writes tests/data/ggml/ref.bin: llama.cpp's own quantization
 * of the refgen.h inputs, for tests/golden/test_ggml_types.c.
 *
 * Links llama.cpp's libggml-base (the peer instrument, see
 * ../shared/peer/llamacpp/README.md) and calls ggml_quantize_chunk, the
 * function llama_model_quantize calls per tensor, for every type with and
 * without an importance matrix. Not part of the build:
 *
 *   P=/tmp/llamacpp-peer; L=$P/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
 *   cc -O2 -I$P/llama.cpp-headers/ggml/include tests/data/ggml/make_ref.c -o /tmp/make_ref \
 *      -L$L -l:libggml-base.so -Wl,-rpath,$L -lcrypto
 *   /tmp/make_ref tests/data/ggml/ref.bin
 *
 * Format (little-endian): "PTQGGML2", then two sets (the small one, the big
 * one), each: u32 rows, u32 cols, SHA-256 of the inputs (rows*cols f32
 * weights then cols f32 imatrix), u32 ncase, per case: u32 ggml type, u32
 * imatrix (0/1), u32 nbytes, SHA-256 of the output, SHA-256 of ggml's
 * dequantization of it (to_float, rows*cols f32), then nbytes bytes of
 * the output itself (kept only for the small set's block types without
 * imatrix, to show where a mismatch is; 0 otherwise). */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "refgen.h"

static const enum ggml_type types[] = {GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
                                       GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
                                       GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL};
#define NT (sizeof types / sizeof types[0])

static void put32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }

static void write_set(FILE *f, const float *x, const float *im, int rows, int cols, int keep_bytes) {
    unsigned char h[32], *out = malloc((size_t)rows * cols * 4);
    float *deq = malloc((size_t)rows * cols * 4);
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, x, (size_t)rows * cols * 4);
    SHA256_Update(&c, im, (size_t)cols * 4);
    SHA256_Final(h, &c);
    put32(f, rows), put32(f, cols);
    fwrite(h, 1, 32, f);
    put32(f, 2 * NT);
    for (unsigned t = 0; t < NT; t++)
        for (int w = 0; w < 2; w++) {
            size_t n = ggml_quantize_chunk(types[t], x, out, 0, rows, cols, w ? im : NULL);
            int keep = keep_bytes && !w && types[t] != GGML_TYPE_F16 && types[t] != GGML_TYPE_BF16;
            SHA256(out, n, h);
            put32(f, types[t]), put32(f, w), put32(f, keep ? (uint32_t)n : 0);
            fwrite(h, 1, 32, f);
            ggml_get_type_traits(types[t])->to_float(out, deq, (int64_t)rows * cols);
            SHA256((unsigned char *)deq, (size_t)rows * cols * 4, h);
            fwrite(h, 1, 32, f);
            if (keep) fwrite(out, 1, n, f);
        }
    free(out), free(deq);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_ref OUT.bin\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "wb");
    if (!f) return perror(argv[1]), 1;
    enum { R = REFGEN_SMALL_ROWS, C = REFGEN_SMALL_COLS, BR = REFGEN_BIG_ROWS, BC = REFGEN_BIG_COLS };
    static float x[R * C], im[C], bx[BR * BC], bim[BC];
    refgen_small(x, im);
    refgen_big(bx, bim);
    fwrite("PTQGGML2", 1, 8, f);
    write_set(f, x, im, R, C, 1);
    write_set(f, bx, bim, BR, BC, 0);
    fclose(f);
    printf("wrote %s\n", argv[1]);
    return 0;
}
