/* test_kquant.c — the AVX-512 per-token activation quantizer against the
 * scalar reference ptq_kquant_row (uniform.h), bit for bit: codes, scale and
 * zero point, on random rows of every length 1..200 and some long ones,
 * bits 2..8, symmetric and asymmetric, clip 1 and < 1; all-zero rows, rows
 * of one sign, one nonzero value, subnormals, values near FLT_MAX (finite),
 * +-0 mixes and ties at .5 steps. Then ptq_kact_quant end to end on the
 * scalar and the AVX-512 paths (codes, padding, scales, zeros and group sums
 * identical), per token and with weight groups of 4, 32 and 128, on 1 thread
 * as on 2. */
#ifdef _OPENMP
#include <omp.h>
#endif
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"
#include "testutil.h"

static ptq_rng rng;

enum { MAXK = 4200 };

static void fill(float *x, int K, int kind) {
    for (int i = 0; i < K; i++) {
        float v = (float)ptq_rng_normal(&rng);
        switch (kind) {
        case 0: x[i] = v; break;
        case 1: x[i] = 0.f; break;                                  /* all zero: scale 0 */
        case 2: x[i] = fabsf(v) + 0.1f; break;                     /* positive only: lo = 0 */
        case 3: x[i] = -fabsf(v); break;                           /* negative only: hi = 0 */
        case 4: x[i] = i == K / 2 ? 3.f : 0.f; break;               /* one nonzero */
        case 5: x[i] = v * 1e-40f; break;                          /* subnormals */
        case 6: x[i] = fmaxf(-7.f, fminf(v, 7.f)) * (FLT_MAX / 8.f); break; /* near the top, finite */
        case 7: x[i] = (i & 1) ? -0.f : (i % 3 ? 0.f : -2.f); break; /* signed zeros */
        case 8: x[i] = 0.5f * (float)((int)(ptq_rng_u64(&rng) % 31) - 15); break; /* .5 ties */
        default: x[i] = v * (i % 37 == 3 ? 50.f : 1.f); break;      /* outliers */
        }
    }
}

static int row_same(const float *x, int K, int bits, int sym, float clip) {
    uint8_t q0[MAXK], q1[MAXK];
    float s0, s1;
    int32_t z0, z1;
    memset(q1, 0xAB, sizeof q1);
    ptq_kquant_row(x, K, bits, sym, clip, q0, &s0, &z0);
    ptq_kquant_row_avx512(x, K, bits, sym, clip, q1, &s1, &z1);
    return !memcmp(q0, q1, (size_t)K) && !memcmp(&s0, &s1, sizeof s0) && z0 == z1 && q1[K] == 0xAB;
}

static void rows(void) {
    static float x[MAXK];
    static const float clips[] = {1.f, 0.9f, 0.5f};
    int bad = 0, n = 0;
    for (int K = 1; K <= 200; K++)
        for (int kind = 0; kind < 10; kind++) {
            fill(x, K, kind);
            int bits = 2 + (int)(ptq_rng_u64(&rng) % 7), sym = (K + kind) & 1;
            bad += !row_same(x, K, bits, sym, clips[(K + kind) % 3]), n++;
        }
    static const int longk[] = {256, 511, 1024, 4096, 4111};
    for (int i = 0; i < 5; i++)
        for (int kind = 0; kind < 10; kind++)
            for (int bits = 2; bits <= 8; bits++)
                for (int sym = 0; sym < 2; sym++) {
                    fill(x, longk[i], kind);
                    bad += !row_same(x, longk[i], bits, sym, clips[bits % 3]), n++;
                }
    if (bad) fprintf(stderr, "%d of %d rows differ\n", bad, n);
    CHECK(bad == 0);
}

static int acts_same(const ptq_kacts *a, const ptq_kacts *b) {
    return a->T == b->T && a->kpad == b->kpad && a->ngroups == b->ngroups &&
           !memcmp(a->codes, b->codes, (size_t)a->T * a->kpad) && !memcmp(a->scale, b->scale, sizeof(float) * a->T) &&
           !memcmp(a->zero, b->zero, sizeof(int32_t) * a->T) &&
           !memcmp(a->gsum, b->gsum, sizeof(int32_t) * a->T * a->ngroups);
}

static void tokens(int T, int K, int bits, int sym, int group, int nth) {
    ptq_err err;
    float *x = malloc(sizeof(float) * T * K);
    for (int t = 0; t < T; t++) fill(x + (size_t)t * K, K, t % 10);
    ptq_kacts a = {0}, b = {0};
#ifdef _OPENMP
    omp_set_num_threads(nth);
#else
    (void)nth;
#endif
    ptq_kern_force_isa(PTQ_ISA_SCALAR);
    CHECK(ptq_kact_quant(&a, x, T, K, bits, sym, 1.f, group, &err) == 0);
    ptq_kern_force_isa(ptq_kern_isa_best());
    CHECK(ptq_kact_quant(&b, x, T, K, bits, sym, 1.f, group, &err) == 0);
    CHECK(acts_same(&a, &b));
    ptq_kacts_free(&a), ptq_kacts_free(&b), free(x);
}

int main(void) {
    ptq_rng_seed(&rng, 17);
    if (ptq_kern_isa_best() != PTQ_ISA_AVX512VNNI) {
        fprintf(stderr, "no AVX-512 VNNI here: the AVX-512 quantizer is not used; nothing to compare\n");
        return tu_done("test_kquant");
    }
    rows();
    for (int nth = 1; nth <= 2; nth++) {
        tokens(3, 64, 4, 0, 0, nth);
        tokens(17, 250, 8, 0, 32, nth);
        tokens(40, 300, 4, 1, 4, nth);
        tokens(300, 1024, 8, 0, 128, nth); /* large enough for the threaded branch */
        tokens(5, 4111, 6, 1, 0, nth);
    }
    return tu_done("test_kquant");
}
