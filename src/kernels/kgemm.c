/* kgemm.c — run-time ISA dispatch, per-token activation quantization and the
 * integer GEMM driver (prefill W4A4 / W6A6 / W3A3 ...): per 32-row panel,
 * unpack the bit planes once to int8, run the micro kernel over all tokens
 * group by group, and apply the zero-point correction + dequant epilogue. */
#include <cpuid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"
#include "uniform.h"

static int g_isa = -1;

/* AVX-VNNI is CPUID.(EAX=7, ECX=1):EAX bit 4, read directly: compilers before
 * GCC 11 / Clang 15 do not know __builtin_cpu_supports("avxvnni"). Its
 * registers are the AVX2 ones, whose OS support the avx2 test covers. */
static int has_avxvnni(void) {
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
}

/* AVX512_BF16 is CPUID.(EAX=7, ECX=1):EAX bit 5 (read directly, as above),
 * read once: under a hypervisor CPUID traps, microseconds a call, which had
 * doubled a small model's decode GEMV. */
int ptq_kern_uses_bf16(void) {
    static int has = -1;
    if (has < 0) {
        unsigned a, b, c, d;
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx512f") && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1);
    }
    return has && ptq_kern_isa() == PTQ_ISA_AVX512VNNI;
}

ptq_isa ptq_kern_isa_best(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
        return PTQ_ISA_AVX512VNNI;
    if (has_avxvnni()) return PTQ_ISA_AVXVNNI;
    return PTQ_ISA_SCALAR;
}

ptq_isa ptq_kern_isa(void) {
    if (g_isa < 0) g_isa = (int)ptq_kern_isa_best();
    return (ptq_isa)g_isa;
}

void ptq_kern_force_isa(ptq_isa isa) {
    ptq_isa best = ptq_kern_isa_best();
    if (isa > best) isa = best;
    /* AVX-512 VNNI does not imply AVX-VNNI (Zen 4, Ice Lake): scalar there */
    if (isa == PTQ_ISA_AVXVNNI && !has_avxvnni()) isa = PTQ_ISA_SCALAR;
    g_isa = (int)isa;
}

const char *ptq_isa_name(ptq_isa isa) {
    static const char *const names[] = {"scalar", "avx-vnni", "avx512-vnni"};
    return names[isa];
}

void *ptq_kalloc64(size_t bytes) {
    size_t b = (bytes + 63) / 64 * 64;
    if (!b) b = 64;
    void *p = aligned_alloc(64, b);
    if (p) memset(p, 0, b);
    return p;
}

static int micro_mr(ptq_isa isa) { return isa == PTQ_ISA_AVXVNNI ? 6 : PTQ_KG_MR; }

static void micro_scalar(int mr, const uint8_t *A, int lda, const int8_t *W, int k4a, int k4b, int32_t *acc) {
    memset(acc, 0, sizeof(int32_t) * mr * PTQ_KG_NP);
    for (int m = 0; m < mr; m++) {
        const uint8_t *a = A + (size_t)m * lda;
        int32_t *c = acc + m * PTQ_KG_NP;
        for (int k4 = k4a; k4 < k4b; k4++) {
            const int8_t *w = W + (size_t)k4 * PTQ_KG_NP * 4;
            const uint8_t *ak = a + 4 * k4;
            for (int n = 0; n < PTQ_KG_NP; n++)
                c[n] += ak[0] * w[4 * n] + ak[1] * w[4 * n + 1] + ak[2] * w[4 * n + 2] + ak[3] * w[4 * n + 3];
        }
    }
}

/* ---- activations --------------------------------------------------------- */

void ptq_kacts_forget(ptq_kacts *a) { a->src = a->lf_src = NULL; }

void ptq_kacts_free(ptq_kacts *a) {
    free(a->lf_X);
    free(a->codes);
    free(a->scale);
    free(a->zero);
    free(a->gsum);
    memset(a, 0, sizeof *a);
}

/* Codes of one row with uniform.h's quantizer: the codes of the fake
 * quantizer (fakequant.c), bit for bit. */
void ptq_kquant_row(const float *x, int K, int bits, int sym, float clip, uint8_t *q, float *scale, int32_t *zero) {
    float lo, hi, s;
    int z, maxq = ptq_uq_maxq(bits);
    ptq_uq_range(x, K, clip, &lo, &hi);
    ptq_uq_grid(lo, hi, bits, sym, &s, &z);
    for (int i = 0; i < K; i++) q[i] = (uint8_t)ptq_uq_code(x[i], s, z, maxq);
    *scale = s, *zero = z;
}

/* Token t's codes (padded to kpad with 0), scale, zero and group sums. */
static void quant_token(ptq_kacts *a, const float *x, int t, int sym, float clip, ptq_kquant_fn quant) {
    int K = a->K, G = a->group;
    uint8_t *q = a->codes + (size_t)t * a->kpad;
    quant(x + (size_t)t * K, K, a->bits, sym, clip, q, &a->scale[t], &a->zero[t]);
    memset(q + K, 0, a->kpad - K);
    for (int g = 0; g < a->ngroups; g++) {
        int32_t s = 0;
        for (int k = g * G; k < PTQ_MIN(K, (g + 1) * G); k++) s += q[k];
        a->gsum[(size_t)t * a->ngroups + g] = s;
    }
}

int ptq_kact_quant(ptq_kacts *a, const float *x, int T, int K, int bits, int sym, float clip, int group,
                   ptq_err *err) {
    if (T <= 0 || K <= 0 || bits < 2 || bits > 8)
        return ptq_fail(err, "kact_quant: bad T=%d K=%d bits=%d (bits 2..8)", T, K, bits);
    int kpad = (K + PTQ_KP_KA - 1) / PTQ_KP_KA * PTQ_KP_KA;
    int G = group > 0 && group < K ? group : kpad, ng = (K + G - 1) / G;
    float c = clip > 0.f ? clip : 1.f;
    if (a->same_input && a->codes && a->src == x && a->T == T && a->K == K && a->bits == bits && a->sym == sym &&
        a->clip == c && a->group == G)
        return 0; /* the codes of this very input and grid */
    if (T > a->cap_T || kpad > a->cap_kpad || ng > a->cap_ng) {
        ptq_kacts_free(a);
        a->codes = ptq_kalloc64((size_t)T * kpad);
        a->scale = ptq_kalloc64(sizeof(float) * T);
        a->zero = ptq_kalloc64(sizeof(int32_t) * T);
        a->gsum = ptq_kalloc64(sizeof(int32_t) * (size_t)T * ng);
        if (!a->codes || !a->scale || !a->zero || !a->gsum) {
            ptq_kacts_free(a);
            return ptq_fail(err, "kact_quant: out of memory for %dx%d", T, K);
        }
        a->cap_T = T, a->cap_kpad = kpad, a->cap_ng = ng;
    }
    a->T = T, a->K = K, a->kpad = kpad, a->bits = bits, a->group = G, a->ngroups = ng;
    a->src = x, a->sym = sym, a->clip = c;
    ptq_kquant_fn quant = ptq_kern_isa() == PTQ_ISA_AVX512VNNI ? ptq_kquant_row_avx512 : ptq_kquant_row;
    if ((long)T * K < PTQ_KPAR_MIN / 4) /* no OpenMP region: entering one costs more than a short row */
        for (int t = 0; t < T; t++) quant_token(a, x, t, sym, c, quant);
    else {
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) quant_token(a, x, t, sym, c, quant);
    }
    return 0;
}

/* ---- GEMM driver --------------------------------------------------------- */

static ptq_kmicro_fn pick_micro(ptq_isa isa) {
    if (isa == PTQ_ISA_AVX512VNNI) return ptq_kmicro_avx512;
    if (isa == PTQ_ISA_AVXVNNI) return ptq_kmicro_avxvnni;
    return micro_scalar;
}

/* Columns per int32 accumulation: 65536 x 255 x 128 < 2^31. Longer groups
 * (per-channel weights with K > 65536) add chunks in int64. */
#define PTQ_KG_KCHUNK 65536

/* acc64 (mr x 32) = the group's sums over [k0, k1) in chunks that fit int32. */
static void micro_long(ptq_kmicro_fn micro, int mr, const uint8_t *A, int lda, const int8_t *W, int k0, int k1,
                       int32_t *acc, int64_t *acc64) {
    for (int ka = k0; ka < k1; ka += PTQ_KG_KCHUNK) {
        micro(mr, A, lda, W, ka / 4, (PTQ_MIN(ka + PTQ_KG_KCHUNK, k1) + 3) / 4, acc);
        for (int i = 0; i < mr * PTQ_KG_NP; i++) acc64[i] = (ka == k0 ? 0 : acc64[i]) + acc[i];
    }
}

/* One 32-row panel p: unpack it to buf (kpad x 32), then every token tile.
 * Exactly one of y / I is non-NULL. */
static void int_panel(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y, int64_t *I, int p,
                      int8_t *buf) {
    ptq_isa isa = ptq_kern_isa();
    ptq_kmicro_fn micro = pick_micro(isa);
    int MR = micro_mr(isa), nrb = w->npad / PTQ_KP_RB, T = a->T, G = w->group;
    int fused = y && isa == PTQ_ISA_AVX512VNNI && G <= PTQ_KGRP_MAXG;
    int32_t acc[PTQ_KG_MR * PTQ_KG_NP];
    int64_t acc64[PTQ_KG_MR * PTQ_KG_NP];
    float yt[PTQ_KG_MR * PTQ_KG_NP];
    ptq_kunpack_panel(w, p, buf);
    int n0 = p * PTQ_KG_NP, nn = PTQ_MIN(PTQ_KG_NP, w->out - n0);
    for (int m0 = 0; m0 < T; m0 += MR) {
        int mr = PTQ_MIN(MR, T - m0);
        memset(yt, 0, sizeof yt);
        if (fused) {
            ptq_kgrp e = {.sw = w->scale + n0, .sa = a->scale + m0, .zw = w->zero + n0, .cs = w->csum + n0,
                          .za = a->zero + m0, .as = a->gsum + (size_t)m0 * a->ngroups, .gstride = w->npad,
                          .G = G, .K = w->in, .ngroups = w->ngroups, .hi = 2 * p + 1 < nrb};
            ptq_kmicro_grp_avx512(mr, a->codes + (size_t)m0 * a->kpad, a->kpad, buf, &e, yt);
        }
        for (int g = 0; g < w->ngroups && !fused; g++) {
            int k0 = g * G, k1 = PTQ_MIN(k0 + G, w->in), len = k1 - k0, lng = len > PTQ_KG_KCHUNK;
            const uint8_t *A = a->codes + (size_t)m0 * a->kpad;
            if (lng) micro_long(micro, mr, A, a->kpad, buf, k0, k1, acc, acc64);
            else micro(mr, A, a->kpad, buf, k0 / 4, (k1 + 3) / 4, acc);
            const float *sw = w->scale + (size_t)g * w->npad + n0;
            const int16_t *zw = w->zero + (size_t)g * w->npad + n0;
            const int32_t *cs = w->csum + (size_t)g * w->npad + n0;
            for (int m = 0; m < mr; m++) {
                int t = m0 + m;
                int64_t za = a->zero[t], as = a->gsum[(size_t)t * a->ngroups + g];
                float sa = a->scale[t];
                const int32_t *c = acc + m * PTQ_KG_NP;
                const int64_t *c64 = acc64 + m * PTQ_KG_NP;
                if (I) {
                    for (int n = 0; n < nn; n++)
                        I[((size_t)t * w->out + n0 + n) * w->ngroups + g] =
                            (lng ? c64[n] : c[n]) - za * cs[n] - (int64_t)zw[n] * as + (int64_t)len * zw[n] * za;
                } else {
                    float *o = yt + m * PTQ_KG_NP;
                    /* only the nn columns that exist: the last panel
                     * may hold one row block, and scale/zero/csum end at npad */
                    for (int n = 0; n < nn; n++) {
                        int64_t v = (lng ? c64[n] : c[n]) - za * cs[n] - (int64_t)zw[n] * as +
                                    (int64_t)len * zw[n] * za;
                        o[n] = fmaf(sw[n] * sa, (float)v, o[n]); /* as the fused tile */
                    }
                }
            }
        }
        if (y)
            for (int m = 0; m < mr; m++) {
                float *dst = y + (size_t)(m0 + m) * w->out + n0;
                for (int n = 0; n < nn; n++) dst[n] = yt[m * PTQ_KG_NP + n] + (bias ? bias[n0 + n] : 0.f);
            }
    }
}

/* Exactly one of y / I is non-NULL. 0, or -1 when out of memory. Small
 * products: no OpenMP region, the panel buffer on the stack. */
static int gemm_driver(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y, int64_t *I) {
    int npan = (w->npad / PTQ_KP_RB + 1) / 2, fail = 0;
    if ((long)a->T * w->npad * w->kpad < PTQ_KPAR_MIN && w->kpad <= 1024) {
        _Alignas(64) int8_t buf[1024 * PTQ_KG_NP];
        for (int p = 0; p < npan; p++) int_panel(a, w, bias, y, I, p, buf);
        return 0;
    }
#pragma omp parallel reduction(| : fail) if ((long)a->T * w->npad * w->kpad >= PTQ_KPAR_MIN)
    {
        int8_t *buf = ptq_kalloc64((size_t)w->kpad * PTQ_KG_NP);
        if (!buf) fail = 1;
#pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < npan; p++)
            if (buf) int_panel(a, w, bias, y, I, p, buf);
        free(buf);
    }
    return fail ? -1 : 0;
}

/* Decode (few tokens): int4 / int8 weights read straight from the planes,
 * GEMV_NB row blocks (64 rows) per unit, read side by side
 * (kgemm_avx512.c int4_int_blocks). */
enum { GEMV_NB = 4 };

static void gemv_int_unit(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y, int u) {
    int nrb = w->npad / PTQ_KP_RB, rb = u * GEMV_NB, nb = PTQ_MIN(GEMV_NB, nrb - rb);
    int o0 = rb * PTQ_KP_RB, o1 = PTQ_MIN(w->out, o0 + nb * PTQ_KP_RB);
    float ynb[GEMV_NB * PTQ_KP_RB];
    for (int t = 0; t < a->T; t++) {
        ptq_kgemv_int_blocks_avx512(nb, w, rb, a, t, ynb);
        for (int o = o0; o < o1; o++) y[(size_t)t * w->out + o] = ynb[o - o0] + (bias ? bias[o] : 0.f);
    }
}

static void gemv_int(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y) {
    int nunit = (w->npad / PTQ_KP_RB + GEMV_NB - 1) / GEMV_NB;
    if ((long)a->T * w->npad * w->kpad < PTQ_KPAR_MIN) /* no OpenMP region (see ptq_kact_quant) */
        for (int u = 0; u < nunit; u++) gemv_int_unit(a, w, bias, y, u);
    else {
#pragma omp parallel for schedule(dynamic, 1)
        for (int u = 0; u < nunit; u++) gemv_int_unit(a, w, bias, y, u);
    }
}

/* Test-only: PTQ_TEST_SLOWDOWN=K:F (1 < F <= 4), K = kgemm (this integer
 * GEMM) or linear (a whole packed linear: activation quantization, GEMM and
 * side branches), makes that kernel do F times its work on average (each
 * call runs 1 + the whole repeats owed so far: the same output again; before,
 * a call ran at most twice, so F > 2 acted as 2), so the latency gate's
 * test can inject a known slowdown. Read once. */
static double slow_kgemm, slow_linear;
__attribute__((constructor)) static void read_slowdown(void) {
    const char *s = getenv("PTQ_TEST_SLOWDOWN");
    const char *f = s ? strchr(s, ':') : NULL;
    double F = f ? atof(f + 1) : 0;
    int ok = F > 1 && F <= 4;
    if (ok && !strncmp(s, "kgemm:", 6)) slow_kgemm = F - 1;
    else if (ok && !strncmp(s, "linear:", 7)) slow_linear = F - 1;
    else if (s && *s) fprintf(stderr, "warning: PTQ_TEST_SLOWDOWN=%s ignored (expected kgemm:F or linear:F, 1 < F <= 4)\n", s);
}

int ptq_test_slowdown_runs(int linear) {
    static double owed[2];
    double extra = linear ? slow_linear : slow_kgemm;
    int runs = 1;
    if (extra > 0)
        for (owed[linear] += extra; owed[linear] >= 1; owed[linear] -= 1) runs++;
    return runs;
}

int ptq_kgemm(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y, ptq_err *err) {
    if (a->K != w->in || a->ngroups != w->ngroups || (w->ngroups > 1 && a->group != w->group))
        return ptq_fail(err, "kgemm: activations (K=%d, %d groups) do not match weights (in=%d, %d groups)", a->K,
                        a->ngroups, w->in, w->ngroups);
    int direct = (w->bits == 4 && w->group % 8 == 0) || w->bits == 8, runs = ptq_test_slowdown_runs(0);
    for (int r = 0; r < runs; r++)
        if (a->T <= 4 && direct && w->kpad <= PTQ_KG_KCHUNK && ptq_kern_isa() == PTQ_ISA_AVX512VNNI)
            gemv_int(a, w, bias, y);
        else if (gemm_driver(a, w, bias, y, NULL))
            return ptq_fail(err, "kgemm: out of memory for a %dx%d panel buffer", w->kpad, PTQ_KG_NP);
    return 0;
}

int ptq_kgemm_int(const ptq_kacts *a, const ptq_kpacked *w, int64_t *I, ptq_err *err) {
    if (a->K != w->in || a->ngroups != w->ngroups || (w->ngroups > 1 && a->group != w->group))
        return ptq_fail(err, "kgemm_int: activations (K=%d, %d groups of %d) do not match weights (in=%d, %d groups of %d)",
                        a->K, a->ngroups, a->group, w->in, w->ngroups, w->group);
    if (gemm_driver(a, w, NULL, NULL, I))
        return ptq_fail(err, "kgemm_int: out of memory for a %dx%d panel buffer", w->kpad, PTQ_KG_NP);
    return 0;
}
