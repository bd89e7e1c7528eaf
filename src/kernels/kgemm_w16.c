/* kgemm_w16.c — weight-only prefill (W8A16 / W4A16 / ... with fp32
 * activations): a GEMM that dequantizes inside the tile.
 *
 * Each thread owns 32-row panels of W (static split). A panel's codes are
 * unpacked once to int8 ([k/4][32 rows][4]); then, per KC-column slice, the
 * codes are dequantized to an fp32 panel B[k][32] (s * (c - z), one rounding;
 * 128 KiB, stays in L2) and a micro kernel runs over the activation rows, MR
 * tokens x 32 rows of accumulators: per element, an FMA chain over each
 * 64 columns (PTQ_KGEMV_CHUNK, bounding the rounding of long rows) added to
 * the running sum in column order. Every output is that fixed sequence, so the
 * result is the same bit for bit on every ISA path (the scalar fallback uses
 * fmaf) and for every thread count; only the GEMV (T = 1) orders its sums
 * differently. */
#include <math.h>
#include <stdlib.h>

#include "kinternal.h"

enum { NR = PTQ_KG_NP, KC = 1024 };

/* B (kn x 32) = the panel's weights at columns [k0, k0 + kn), fp32. */
static void dequant_scalar(const ptq_kpacked *w, const int8_t *pan, int n0, int k0, int kn, float *B) {
    for (int k = k0; k < k0 + kn; k++) {
        size_t gi = (size_t)(k / w->group) * w->npad + n0;
        const int8_t *c = pan + (size_t)(k / 4) * NR * 4 + (k & 3);
        for (int n = 0; n < NR; n++) {
            int ok = n0 + n < w->npad;
            B[(size_t)(k - k0) * NR + n] = ok ? (float)(c[4 * n] - w->zero[gi + n]) * w->scale[gi + n] : 0.f;
        }
    }
}

/* C (mr x 32) = (load ? C : 0) + A (mr x kn, stride lda) B: per element an
 * FMA chain over each PTQ_KGEMV_CHUNK columns, added to C chunk by chunk. */
static void micro_scalar(int mr, const float *A, int lda, const float *B, int kn, float *C, int load) {
    for (int m = 0; m < mr; m++)
        for (int n = 0; n < NR; n++)
            for (int ka = 0; ka < kn; ka += PTQ_KGEMV_CHUNK) {
                float acc = 0.f;
                for (int k = ka; k < PTQ_MIN(kn, ka + PTQ_KGEMV_CHUNK); k++)
                    acc = fmaf(A[(size_t)m * lda + k], B[(size_t)k * NR + n], acc);
                C[m * NR + n] = load || ka ? C[m * NR + n] + acc : acc;
            }
}

typedef struct {
    int mr;
    void (*dequant)(const ptq_kpacked *, const int8_t *, int, int, int, float *);
    void (*micro)(int, const float *, int, const float *, int, float *, int);
} wkern;

static wkern pick(void) {
    if (ptq_kern_isa() == PTQ_ISA_AVX512VNNI)
        return (wkern){.mr = PTQ_KG_MR, .dequant = ptq_kw16_dequant_avx512, .micro = ptq_kw16_micro_avx512};
    return (wkern){.mr = PTQ_KG_MR, .dequant = dequant_scalar, .micro = micro_scalar};
}

/* SEPTQ's sparse full-precision values of the panel's rows that fall in the
 * slice, added to the dequantized B (the correction then costs no pass of
 * its own over the activations). */
static void add_sparse(const ptq_kcsr *sp, int n0, int nn, int k0, int kn, float *B) {
    for (int n = 0; n < nn; n++)
        for (long q = sp->rowptr[n0 + n]; q < sp->rowptr[n0 + n + 1]; q++)
            if (sp->col[q] >= k0 && sp->col[q] < k0 + kn) B[(size_t)(sp->col[q] - k0) * NR + n] += sp->val[q];
}

/* One 32-row panel p of y (T x out): unpack, then slice by slice. */
static void panel(const wkern *kk, const ptq_kpacked *w, const ptq_kcsr *sp, int p, const float *x, int T,
                  const float *bias, float *y, int8_t *pan, float *B, float *C) {
    int n0 = p * NR, nn = PTQ_MIN(NR, w->out - n0);
    ptq_kunpack_panel(w, p, pan);
    for (int k0 = 0; k0 < w->in; k0 += KC) {
        int kn = PTQ_MIN(KC, w->in - k0);
        kk->dequant(w, pan, n0, k0, kn, B);
        if (sp) add_sparse(sp, n0, nn, k0, kn, B);
        for (int m0 = 0; m0 < T; m0 += kk->mr)
            kk->micro(PTQ_MIN(kk->mr, T - m0), x + (size_t)m0 * w->in + k0, w->in, B, kn, C + (size_t)m0 * NR, k0 > 0);
    }
    for (int t = 0; t < T; t++)
        for (int n = 0; n < nn; n++) y[(size_t)t * w->out + n0 + n] = C[(size_t)t * NR + n] + (bias ? bias[n0 + n] : 0.f);
}

/* Every panel on the calling thread (a small product). 1 when out of memory. */
static int run_panels(const wkern *kk, const ptq_kpacked *w, const ptq_kcsr *sp, const float *x, int T,
                      const float *bias, float *y) {
    int npan = (w->npad / PTQ_KP_RB + 1) / 2;
    int8_t *pan = ptq_kscratch((size_t)w->kpad * NR);
    float *B = ptq_kscratch(sizeof(float) * PTQ_MIN(KC, w->kpad) * NR), *C = ptq_kscratch(sizeof(float) * (size_t)T * NR);
    int fail = !pan || !B || !C;
    for (int p = 0; p < npan && !fail; p++) panel(kk, w, sp, p, x, T, bias, y, pan, B, C);
    free(pan), free(B), free(C);
    return fail;
}

int ptq_kgemm_f32_sparse(const ptq_kpacked *w, const ptq_kcsr *sp, const float *x, int T, const float *bias, float *y,
                         ptq_err *err) {
    if (T == 1) return ptq_kgemv_f32_sparse(w, sp, x, bias, y, err); /* checks the sparse part's shape */
    if (sp && (sp->out != w->out || sp->in != w->in))
        return ptq_fail(err, "kgemm_f32: a %d x %d sparse part on a %d x %d weight", sp->out, sp->in, w->out, w->in);
    wkern kk = pick();
    int npan = (w->npad / PTQ_KP_RB + 1) / 2, fail = 0;
    /* panels go to threads dynamically (a thread slowed by another job takes fewer); small products stay
     * on the calling thread without a region (entering one, even under if (0), costs a team) */
    if (npan == 1 || (long)T * w->npad * w->kpad < PTQ_KPAR_MIN)
        fail = run_panels(&kk, w, sp, x, T, bias, y);
    else {
#pragma omp parallel reduction(| : fail)
        {
            int8_t *pan = ptq_kscratch((size_t)w->kpad * NR);
            float *B = ptq_kscratch(sizeof(float) * PTQ_MIN(KC, w->kpad) * NR), *C = ptq_kscratch(sizeof(float) * (size_t)T * NR);
            fail = !pan || !B || !C;
#pragma omp for schedule(dynamic, 1)
            for (int p = 0; p < npan; p++)
                if (!fail) panel(&kk, w, sp, p, x, T, bias, y, pan, B, C);
            free(pan), free(B), free(C);
        }
    }
    return fail ? ptq_fail(err, "kgemm_f32: out of memory for a %d x %d panel", NR, w->kpad) : 0;
}

int ptq_kgemm_f32(const ptq_kpacked *w, const float *x, int T, const float *bias, float *y, ptq_err *err) {
    return ptq_kgemm_f32_sparse(w, NULL, x, T, bias, y, err);
}
