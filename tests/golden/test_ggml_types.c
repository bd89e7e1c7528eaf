/* test_ggml_types.c — llama.cpp's block formats (src/model/ggml_types.h)
 * against bytes made by llama.cpp itself.
 *
 * tests/data/ggml/ref.bin holds, for every type with and without an
 * importance matrix, the SHA-256 of what llama.cpp's ggml_quantize_chunk
 * wrote for the refgen.h inputs (and the bytes themselves for the small
 * set), and the SHA-256 of ggml's dequantization of it (make_ref.c made
 * it). Checked here: our quantizer writes the same bytes, our dequantizer
 * the same floats, the registry's block sizes are ggml's, round-trip error
 * bounds per type, thread-count independence, and bad input. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "testutil.h"
#include "../data/ggml/refgen.h"

#define REF "tests/data/ggml/ref.bin"

typedef struct {
    const unsigned char *p, *end;
} rd;
static uint32_t rd32(rd *r) {
    uint32_t v = 0;
    if (r->p + 4 <= r->end) memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}
static const unsigned char *rdn(rd *r, size_t n) {
    const unsigned char *q = r->p;
    r->p += n;
    return r->p <= r->end ? q : NULL;
}

static void sha(const void *p, size_t n, unsigned char out[32]) {
    char hex[65];
    ptq_sha256_buf(p, n, hex);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
}

/* One set of ref.bin against our quantizer and dequantizer. */
static int check_set(rd *r, const float *x, const float *im, int rows, int cols) {
    unsigned char h[32];
    CHECK(rd32(r) == (uint32_t)rows && rd32(r) == (uint32_t)cols);
    float *both = malloc(((size_t)rows * cols + cols) * 4);
    memcpy(both, x, (size_t)rows * cols * 4);
    memcpy(both + (size_t)rows * cols, im, (size_t)cols * 4);
    sha(both, ((size_t)rows * cols + cols) * 4, h);
    free(both);
    const unsigned char *hin = rdn(r, 32);
    if (!hin || memcmp(h, hin, 32)) {
        fprintf(stderr, "refgen inputs differ from the generator's (compiler float contraction?)\n");
        tu_failures++;
        return -1;
    }
    uint32_t ncase = rd32(r);
    unsigned char *out = malloc((size_t)rows * cols * 4);
    float *deq = malloc((size_t)rows * cols * 4);
    ptq_err err;
    int cases = 0;
    for (uint32_t c = 0; c < ncase; c++) {
        int type = (int)rd32(r), w = (int)rd32(r);
        uint32_t nbytes = rd32(r);
        const unsigned char *hq = rdn(r, 32), *hd = rdn(r, 32), *bytes = rdn(r, nbytes);
        const ptq_ggml_type_info *t = ptq_ggml_type_info_of(type);
        if (!t || !hq || !hd || !bytes) {
            fprintf(stderr, "ref.bin: case %u (type %d) unreadable or unknown type\n", c, type);
            tu_failures++;
            break;
        }
        long rb = ptq_ggml_row_bytes(type, cols, &err);
        CHECK(ptq_ggml_quantize(type, x, out, rows, cols, w ? im : NULL, &err) == 0);
        sha(out, (size_t)(rb * rows), h);
        if (memcmp(h, hq, 32)) {
            fprintf(stderr, "%s%s (%dx%d): bytes differ from llama.cpp's", t->name, w ? " imatrix" : "", rows, cols);
            for (uint32_t i = 0; i < nbytes; i++)
                if (out[i] != bytes[i]) {
                    fprintf(stderr, "; first at byte %u (row %ld, block %ld, offset %ld): %02x vs %02x", i,
                            (long)i / rb, (long)(i % rb) / t->block_bytes, (long)(i % rb) % t->block_bytes, out[i],
                            bytes[i]);
                    break;
                }
            fprintf(stderr, "\n");
            tu_failures++;
        }
        /* dequantize llama.cpp's bytes when we have them, else ours (equal when the check above passed) */
        CHECK(ptq_ggml_dequantize(type, nbytes ? bytes : out, deq, rows, cols, &err) == 0);
        sha(deq, (size_t)rows * cols * 4, h);
        if (memcmp(h, hd, 32)) {
            fprintf(stderr, "%s%s: dequantized floats differ from ggml's to_float\n", t->name, w ? " imatrix" : "");
            tu_failures++;
        }
        cases++;
    }
    free(out), free(deq);
    return cases;
}

static void test_reference_bytes(void) {
    char *data;
    size_t len;
    ptq_err err;
    if (ptq_read_file(REF, &data, &len, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        tu_failures++;
        return;
    }
    rd r = {(const unsigned char *)data, (const unsigned char *)data + len};
    CHECK(len > 8 && !memcmp(rdn(&r, 8), "PTQGGML2", 8));
    static float x[REFGEN_SMALL_ROWS * REFGEN_SMALL_COLS], im[REFGEN_SMALL_COLS];
    static float bx[REFGEN_BIG_ROWS * REFGEN_BIG_COLS], bim[REFGEN_BIG_COLS];
    refgen_small(x, im);
    refgen_big(bx, bim);
    int n1 = check_set(&r, x, im, REFGEN_SMALL_ROWS, REFGEN_SMALL_COLS);
    int n2 = check_set(&r, bx, bim, REFGEN_BIG_ROWS, REFGEN_BIG_COLS);
    CHECK(n1 == 26 && n2 == 26); /* 13 types x {plain, imatrix} */
    CHECK(r.p == r.end);
    free(data);
}

/* Block sizes and bytes as ggml-common.h's static asserts state them. */
static void test_registry(void) {
    static const struct {
        const char *name;
        int id, block, bytes;
    } want[] = {{"F32", 0, 1, 4},      {"f16", 1, 1, 2},      {"q4_0", 2, 32, 18},  {"q4_1", 3, 32, 20},
                {"q5_0", 6, 32, 22},   {"q5_1", 7, 32, 24},   {"q8_0", 8, 32, 34},  {"Q2_K", 10, 256, 84},
                {"q3_k", 11, 256, 110}, {"q4_K", 12, 256, 144}, {"q5_K", 13, 256, 176}, {"q6_K", 14, 256, 210},
                {"IQ4_NL", 20, 32, 18}, {"bf16", 30, 1, 2}};
    int n;
    ptq_ggml_types(&n);
    CHECK(n == (int)(sizeof want / sizeof want[0]));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ptq_ggml_type_info *t = ptq_ggml_type_by_name(want[i].name);
        CHECK(t && t == ptq_ggml_type_info_of(want[i].id) && t->block == want[i].block &&
              t->block_bytes == want[i].bytes);
    }
    CHECK(!ptq_ggml_type_by_name("q4_2") && !ptq_ggml_type_info_of(15) && !ptq_ggml_type_info_of(-1));
}

/* Round trip on the big set (Gaussian rows, 1% outliers at 12 sigma):
 * relative RMS error under a per-type bound, and
 * the imatrix variant lowers the imatrix-weighted error. */
static void test_error_bounds(void) {
    static const struct {
        const char *name;
        double bound; /* 1.25x the error measured when the bytes first matched llama.cpp's */
    } b[] = {{"q8_0", 0.0112}, {"q6_K", 0.0333}, {"q5_0", 0.0882}, {"q5_1", 0.0550}, {"q5_K", 0.0536},
             {"q4_0", 0.172},  {"q4_1", 0.115},  {"q4_K", 0.107},  {"iq4_nl", 0.133}, {"q3_K", 0.226},
             {"q2_K", 0.346},  {"f16", 2.7e-4},  {"bf16", 2.1e-3}};
    enum { R = REFGEN_BIG_ROWS, C = REFGEN_BIG_COLS };
    static float x[R * C], im[C], y[R * C];
    static unsigned char q[R * C * 4];
    refgen_big(x, im);
    ptq_err err;
    for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
        const ptq_ggml_type_info *t = ptq_ggml_type_by_name(b[k].name);
        double e[2] = {0}, ew[2] = {0}, sx = 0;
        for (int w = 0; w < 2; w++) {
            CHECK(ptq_ggml_quantize(t->id, x, q, R, C, w ? im : NULL, &err) == 0);
            CHECK(ptq_ggml_dequantize(t->id, q, y, R, C, &err) == 0);
            for (long i = 0; i < (long)R * C; i++) {
                double d = (double)y[i] - x[i];
                CHECK(isfinite(y[i]));
                e[w] += d * d, ew[w] += im[i % C] * d * d;
                if (!w) sx += (double)x[i] * x[i];
            }
        }
        double rel = sqrt(e[0] / sx);
        if (!(rel < b[k].bound)) {
            fprintf(stderr, "%s: relative RMS error %.4g over bound %.4g\n", t->name, rel, b[k].bound);
            tu_failures++;
        }
        if (t->block > 1 && t->id != PTQ_GGML_Q8_0 && !(ew[1] < ew[0])) {
            fprintf(stderr, "%s: imatrix did not lower the weighted error (%.4g vs %.4g)\n", t->name, ew[1], ew[0]);
            tu_failures++;
        }
    }
}

/* The grid form reproduces the dequantizer bit for bit (what lets these
 * types run on the packed kernels), and the others refuse it. */
static void test_grid_form(void) {
    enum { R = REFGEN_BIG_ROWS, C = REFGEN_BIG_COLS };
    static float x[R * C], im[C], y[R * C], scales[C];
    static unsigned char q[R * C * 4], codes[C];
    refgen_big(x, im);
    ptq_err err;
    int n, ngrid = 0;
    const ptq_ggml_type_info *ts = ptq_ggml_types(&n);
    for (int k = 0; k < n; k++) {
        int bits, group;
        if (ts[k].block == 1) continue;
        if (!ptq_ggml_grid_info(ts[k].id, &bits, &group)) {
            CHECK(ptq_ggml_to_grid(ts[k].id, q, C, codes, scales, &err) == -1 && strstr(err.msg, ts[k].name));
            continue;
        }
        ngrid++;
        long rb = ptq_ggml_row_bytes(ts[k].id, C, &err), bad = 0;
        CHECK(ptq_ggml_quantize(ts[k].id, x, q, R, C, im, &err) == 0);
        CHECK(ptq_ggml_dequantize(ts[k].id, q, y, R, C, &err) == 0);
        for (int r = 0; r < R; r++) {
            CHECK(ptq_ggml_to_grid(ts[k].id, q + r * rb, C, codes, scales, &err) == 0);
            for (int j = 0; j < C; j++) {
                float v = scales[j / group] * (float)(codes[j] - (1 << (bits - 1)));
                bad += codes[j] >> bits || memcmp(&v, &y[(long)r * C + j], 4);
            }
        }
        if (bad) fprintf(stderr, "%s: %ld grid values differ from the dequantizer\n", ts[k].name, bad);
        CHECK(bad == 0);
    }
    CHECK(ngrid == 5);
}

/* from_grid: llama.cpp's q8_0/q4_0/q5_0 blocks come back byte for byte from
 * their grid form; an asymmetric grid written as q4_1/q5_1 dequantizes to
 * scale * (code - zero) up to the fp16 rounding of d and m; bad grids fail. */
static void test_from_grid(void) {
    enum { C = 256 };
    static float x[REFGEN_BIG_ROWS * REFGEN_BIG_COLS], im[REFGEN_BIG_COLS], scales[C], y[C];
    static unsigned char q[C * 4], back[C * 4], codes[C];
    static int zeros[C];
    refgen_big(x, im);
    ptq_err err;
    static const int sym[] = {PTQ_GGML_Q8_0, PTQ_GGML_Q4_0, PTQ_GGML_Q5_0};
    for (int k = 0; k < 3; k++) {
        int bits, group;
        long rb = ptq_ggml_row_bytes(sym[k], C, &err);
        CHECK(ptq_ggml_grid_info(sym[k], &bits, &group) && group == 32);
        CHECK(ptq_ggml_quantize(sym[k], x, q, 1, C, NULL, &err) == 0);
        CHECK(ptq_ggml_to_grid(sym[k], q, C, codes, scales, &err) == 0);
        for (int g = 0; g < C / 32; g++) zeros[g] = 1 << (bits - 1);
        CHECK(ptq_ggml_from_grid(sym[k], codes, scales, zeros, C, back, &err) == 0 && !memcmp(q, back, (size_t)rb));
    }
    for (int bits = 4; bits <= 5; bits++) {
        int id = bits == 4 ? PTQ_GGML_Q4_1 : PTQ_GGML_Q5_1;
        for (int j = 0; j < C; j++) codes[j] = (unsigned char)((j * 7 + 3) % (1 << bits));
        for (int g = 0; g < C / 32; g++) scales[g] = 0.01f * (float)(g + 1), zeros[g] = g % (1 << bits);
        CHECK(ptq_ggml_from_grid(id, codes, scales, zeros, C, q, &err) == 0);
        CHECK(ptq_ggml_dequantize(id, q, y, 1, C, &err) == 0);
        double worst = 0;
        for (int j = 0; j < C; j++) {
            double want = scales[j / 32] * (codes[j] - zeros[j / 32]);
            worst = fmax(worst, fabs(y[j] - want) / (scales[j / 32] * (1 << bits)));
        }
        CHECK(worst < 2e-3); /* fp16: 2^-11 relative on d and on m */
    }
    zeros[0] = 7;
    CHECK(ptq_ggml_from_grid(PTQ_GGML_Q4_0, codes, scales, zeros, C, q, &err) == -1 && strstr(err.msg, "group 0"));
    for (int j = 0; j < C; j++) codes[j] = (unsigned char)(j % 16), zeros[j / 32] = 8;
    codes[40] = 16;
    CHECK(ptq_ggml_from_grid(PTQ_GGML_Q4_0, codes, scales, zeros, C, q, &err) == -1 && strstr(err.msg, "code 16"));
    CHECK(ptq_ggml_from_grid(PTQ_GGML_Q4_K, codes, scales, zeros, C, q, &err) == -1);
}

static void test_threads_and_bad_input(void) {
    enum { R = REFGEN_BIG_ROWS, C = REFGEN_BIG_COLS };
    static float x[R * C], im[C];
    static unsigned char a[R * C], b[R * C];
    refgen_big(x, im);
    ptq_err err;
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(ptq_ggml_quantize(PTQ_GGML_Q4_K, x, a, R, C, im, &err) == 0);
    omp_set_num_threads(3);
    CHECK(ptq_ggml_quantize(PTQ_GGML_Q4_K, x, b, R, C, im, &err) == 0);
    omp_set_num_threads(nt);
    CHECK(!memcmp(a, b, (size_t)R * 144 * (C / 256)));

    CHECK(ptq_ggml_quantize(PTQ_GGML_Q4_K, x, a, 1, 192, NULL, &err) == -1 && strstr(err.msg, "block size 256"));
    CHECK(ptq_ggml_row_bytes(PTQ_GGML_Q4_0, 0, &err) == -1);
    CHECK(ptq_ggml_row_bytes(4, 32, &err) == -1 && strstr(err.msg, "ggml type 4"));
    CHECK(ptq_ggml_dequantize(99, a, (float *)b, 1, 32, &err) == -1);
    x[5] = NAN;
    CHECK(ptq_ggml_quantize(PTQ_GGML_Q8_0, x, a, 1, 32, NULL, &err) == -1 && strstr(err.msg, "not finite"));
    x[5] = 0;
    im[3] = -1;
    CHECK(ptq_ggml_quantize(PTQ_GGML_Q4_0, x, a, 1, 32, im, &err) == -1 && strstr(err.msg, "imatrix column 3"));
}

int main(void) {
    test_registry();
    test_reference_bytes();
    test_error_bounds();
    test_grid_form();
    test_from_grid();
    test_threads_and_bad_input();
    return tu_done("test_ggml_types");
}
