/* refgen.h — the inputs of the ggml reference vectors, shared by the
 * generator (make_ref.c, linked to llama.cpp's libggml-base) and the test
 * (tests/golden/test_ggml_types.c). Integer PRNG and float sums only (no
 * libm), so both programs build the same floats on any IEEE machine. */
#ifndef PTQ_REFGEN_H
#define PTQ_REFGEN_H

#include <stdint.h>

static inline uint64_t refgen_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float refgen_unif(uint64_t *s) { return (float)(refgen_next(s) >> 40) * (1.0f / 16777216.0f); }
/* Roughly N(0,1): Irwin-Hall of 4 uniforms, rescaled; 1% of draws x12 (outliers). */
static inline float refgen_gauss(uint64_t *s) {
    float u[5]; /* drawn in sequence (operand order is unspecified in C) */
    for (int k = 0; k < 5; k++) u[k] = refgen_unif(s);
    float g = (u[0] + u[1] + u[2] + u[3] - 2.0f) * 1.7320508f;
    return u[4] < 0.01f ? 12.0f * g : g;
}

/* The small set: 2 rows x 512, hand-made blocks (zero, constant,
 * one-signed, tiny, huge outlier) around Gaussian weights, then a row whose
 * scale jumps 30x every 32 columns. */
#define REFGEN_SMALL_ROWS 2
#define REFGEN_SMALL_COLS 512
static inline void refgen_small(float *x, float *imat) {
    uint64_t s = 20261130;
    const int n = REFGEN_SMALL_COLS;
    float *r = x;
    for (int j = 0; j < n; j++) {
        float g = refgen_gauss(&s);
        r[j] = j < 32 ? 0.0f                                   /* all zero */
             : j < 64 ? 0.5f                                   /* constant */
             : j < 96 ? 0.1f + 0.2f * refgen_unif(&s)          /* all positive */
             : j < 128 ? -0.05f - 0.3f * refgen_unif(&s)       /* all negative */
             : j < 160 ? 1e-6f * g                             /* fp16-subnormal scales */
             : j < 192 ? 3e-9f * g                             /* scales that round to fp16 zero */
             : j == 300 ? 40.0f                                /* one huge outlier */
             : 0.05f * g;
    }
    r = x + n;
    for (int j = 0; j < n; j++) r[j] = (j % 64 < 32 ? 1.0f : 30.0f) * (2.0f * refgen_unif(&s) - 1.0f);
    for (int j = 0; j < n; j++) {
        float a = refgen_unif(&s), b = refgen_unif(&s);
        imat[j] = j % 97 == 5 ? 0.0f : 1e-3f + 4.0f * a * b;
    }
}

/* The large set (hashed): rows of varied scale, a few shifted ones. */
#define REFGEN_BIG_ROWS 96
#define REFGEN_BIG_COLS 1024
static inline void refgen_big(float *x, float *imat) {
    uint64_t s = 7;
    for (int i = 0; i < REFGEN_BIG_ROWS; i++) {
        float scale = 1e-3f * (float)(1 + (i * 37) % 200), shift = i % 11 == 3 ? 2.0f * scale : 0.0f;
        for (int j = 0; j < REFGEN_BIG_COLS; j++) x[(long)i * REFGEN_BIG_COLS + j] = scale * refgen_gauss(&s) + shift;
    }
    for (int j = 0; j < REFGEN_BIG_COLS; j++) {
        float u = refgen_unif(&s);
        imat[j] = u < 0.01f ? 0.0f : u * u * 10.0f + 1e-4f;
    }
}

#endif
