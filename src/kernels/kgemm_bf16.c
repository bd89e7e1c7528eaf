/* kgemm_bf16.c — weight-only linears on bf16 activations (PTQ_W16_BF16ACT,
 * "bf16-act"): the 16-bit activations a GPU W4A16 kernel multiplies, with
 * AVX-512 BF16's vdpbf16ps doing 32 multiply-adds where an fp32 FMA does 16.
 *
 * The rows are rounded to bf16 once (round to nearest even; magnitudes below
 * FLT_MIN to 0, as the instruction reads its inputs). A weight's c - z is an
 * integer of at most 255 in magnitude, exact in bf16, so every product is
 * exact in fp32 and the only new rounding is the activations'. Per 32-row
 * panel (kgemm_w16.c's split and unpack), each slice's c - z become a bf16
 * panel [k/2][32 rows][2]; per output, per chunk (at most PTQ_KBF16_CHUNK
 * columns, never across a weight group), a fresh fp32 sum over the column
 * pairs, odd column first: acc = fmaf(a1, b1, acc); acc = fmaf(a0, b0, acc),
 * which is vdpbf16ps's own order and rounding (checked bit for bit on Zen 5),
 * then C = fmaf(s_group, acc, C). The scalar path computes exactly that, so
 * the result is the same bits on every ISA path and thread count.
 *
 * Decode (T = 1) rounds the row the same way and runs ptq_kgemv_bf16 on it:
 * int4 weights by vdpbf16ps (isa/kgemm_bf16_avx512.c), others by the fp32
 * GEMV on the rounded values; each with its own summation order. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"
#include "w16.h"

enum { NR = PTQ_KG_NP, KC = 1024 };

uint16_t ptq_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if (fabsf(x) < FLT_MIN) return (uint16_t)(u >> 16 & 0x8000); /* signed zero */
    u += 0x7FFFu + (u >> 16 & 1u);                               /* finite x: nearest, ties to even */
    return (uint16_t)(u >> 16);
}

void ptq_bf16_round_rows(const float *x, int T, int K, int ld, uint16_t *dst) {
    for (int t = 0; t < T; t++) {
        uint16_t *d = dst + (size_t)t * ld;
        for (int k = 0; k < K; k++) d[k] = ptq_bf16_round(x[(size_t)t * K + k]);
        memset(d + K, 0, sizeof(uint16_t) * (size_t)(ld - K));
    }
}

/* B ([k/2][32][2] bf16, columns [k0, k0 + kn), kn even) = c - z of the panel's rows. */
static void dequant_scalar(const ptq_kpacked *w, const int8_t *pan, int n0, int k0, int kn, uint16_t *B) {
    for (int k = k0; k < k0 + kn; k++) {
        size_t gi = (size_t)(k / w->group) * w->npad + n0;
        const int8_t *c = pan + (size_t)(k / 4) * NR * 4 + (k & 3);
        for (int n = 0; n < NR; n++) {
            int d = n0 + n < w->npad ? c[4 * n] - w->zero[gi + n] : 0;
            B[(size_t)((k - k0) / 2) * 2 * NR + 2 * n + (k & 1)] = ptq_bf16_round((float)d);
        }
    }
}

/* C (mr x 32) = fmaf(s, A (mr x kn pairs, stride lda) B, C) over one chunk. */
static void micro_scalar(int mr, const uint16_t *A, int lda, const uint16_t *B, int kn, const float *s, float *C) {
    for (int m = 0; m < mr; m++)
        for (int n = 0; n < NR; n++) {
            float acc = 0.f;
            for (int k = 0; k < kn; k += 2) {
                const uint16_t *a = A + (size_t)m * lda + k, *b = B + (size_t)(k / 2) * 2 * NR + 2 * n;
                acc = fmaf(ptq_bf16_f32(a[1]), ptq_bf16_f32(b[1]), acc);
                acc = fmaf(ptq_bf16_f32(a[0]), ptq_bf16_f32(b[0]), acc);
            }
            C[m * NR + n] = fmaf(s[n], acc, C[m * NR + n]);
        }
}

typedef struct {
    void (*round)(const float *, int, int, int, uint16_t *);
    void (*dequant)(const ptq_kpacked *, const int8_t *, int, int, int, uint16_t *);
    void (*micro)(int, const uint16_t *, int, const uint16_t *, int, const float *, float *);
} bkern;

static bkern pick(void) {
    if (ptq_kern_uses_bf16())
        return (bkern){.round = ptq_bf16_round_rows_avx512, .dequant = ptq_kbf16_dequant_avx512,
                       .micro = ptq_kbf16_micro_avx512};
    return (bkern){.round = ptq_bf16_round_rows, .dequant = dequant_scalar, .micro = micro_scalar};
}

/* One 32-row panel p of y (T x out); A: T rows of bf16 at stride w->kpad. */
static void panel(const bkern *kk, const ptq_kpacked *w, int p, const uint16_t *A, int T, const float *bias, float *y,
                  int8_t *pan, uint16_t *B, float *C) {
    int n0 = p * NR, nn = PTQ_MIN(NR, w->out - n0), kend = (w->in + 3) / 4 * 4;
    float s[NR];
    ptq_kunpack_panel(w, p, pan);
    memset(C, 0, sizeof(float) * (size_t)T * NR);
    for (int k0 = 0; k0 < kend; k0 += KC) {
        int kn = PTQ_MIN(KC, kend - k0);
        kk->dequant(w, pan, n0, k0, kn, B);
        for (int ka = k0; ka < k0 + kn;) { /* chunks: at most PTQ_KBF16_CHUNK columns, inside one group */
            int g = ka / w->group, kb = PTQ_MIN(PTQ_MIN(k0 + kn, ka + PTQ_KBF16_CHUNK), (g + 1) * w->group);
            for (int n = 0; n < NR; n++) s[n] = n0 + n < w->npad ? w->scale[(size_t)g * w->npad + n0 + n] : 0.f;
            for (int m0 = 0; m0 < T; m0 += PTQ_KG_MR)
                kk->micro(PTQ_MIN(PTQ_KG_MR, T - m0), A + (size_t)m0 * w->kpad + ka, w->kpad,
                          B + (size_t)(ka - k0) * NR, kb - ka, s, C + (size_t)m0 * NR);
            ka = kb;
        }
    }
    for (int t = 0; t < T; t++)
        for (int n = 0; n < nn; n++) y[(size_t)t * w->out + n0 + n] = C[(size_t)t * NR + n] + (bias ? bias[n0 + n] : 0.f);
}

/* Every panel, with this thread's scratch (not zeroed: every byte is written
 * before it is read); in a region, shared out dynamically. 1 when out of memory. */
static int panels(const bkern *kk, const ptq_kpacked *w, const uint16_t *A, int T, const float *bias, float *y,
                  int npan, int dynamic) {
    int8_t *pan = ptq_kscratch((size_t)w->kpad * NR);
    uint16_t *B = ptq_kscratch(sizeof(uint16_t) * PTQ_MIN(KC, w->kpad) * NR);
    float *C = ptq_kscratch(sizeof(float) * (size_t)T * NR);
    int fail = !pan || !B || !C;
    if (dynamic) {
#pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < npan; p++)
            if (!fail) panel(kk, w, p, A, T, bias, y, pan, B, C);
    } else
        for (int p = 0; p < npan && !fail; p++) panel(kk, w, p, A, T, bias, y, pan, B, C);
    free(pan), free(B), free(C);
    return fail;
}

/* Decode: the row rounded, on the stack when short (a small model's GEMV
 * is a few microseconds: allocations per call had halved its speed); the
 * int4 kernel reads it as bf16, the fp32 GEMV widened. */
enum { SMALL_K = 4096 };
static int decode(const bkern *kk, const ptq_kpacked *w, const float *x, const float *bias, float *y, ptq_err *err) {
    _Alignas(64) uint16_t As[SMALL_K];
    _Alignas(64) float xs[SMALL_K];
    int small = w->kpad <= SMALL_K, direct = ptq_kgemv_bf16_direct(w);
    uint16_t *A = small ? As : ptq_kscratch(sizeof(uint16_t) * (size_t)w->kpad);
    float *xr = small || direct ? xs : ptq_kscratch(sizeof(float) * (size_t)w->in);
    int rc = -1;
    if (!A || !xr) ptq_fail(err, "kgemm_bf16: out of memory for a row of %d", w->kpad);
    else {
        kk->round(x, 1, w->in, w->kpad, A);
        if (direct) rc = ptq_kgemv_bf16(w, A, bias, y, err);
        else {
            ptq_w16_row(PTQ_W16_BF16, A, xr, w->in);
            rc = ptq_kgemv_f32(w, xr, bias, y, err);
        }
    }
    if (!small) free(A);
    if (!small && !direct) free(xr);
    return rc;
}

int ptq_kgemm_bf16(const ptq_kpacked *w, const float *x, int T, const float *bias, float *y, ptq_err *err) {
    if (T < 1) return 0;
    bkern kk = pick();
    if (T == 1) return decode(&kk, w, x, bias, y, err);
    uint16_t *A = ptq_kscratch(sizeof(uint16_t) * (size_t)T * w->kpad);
    if (!A) return ptq_fail(err, "kgemm_bf16: out of memory for %d x %d activations", T, w->kpad);
    int fail = 0, npan = (w->npad / PTQ_KP_RB + 1) / 2;
    kk.round(x, T, w->in, w->kpad, A);
    if (npan == 1 || (long)T * w->npad * w->kpad < PTQ_KPAR_MIN)
        fail = panels(&kk, w, A, T, bias, y, npan, 0);
    else {
#pragma omp parallel reduction(| : fail)
        fail = panels(&kk, w, A, T, bias, y, npan, 1);
    }
    free(A);
    return fail ? ptq_fail(err, "kgemm_bf16: out of memory for a %d x %d panel", NR, w->kpad) : 0;
}
