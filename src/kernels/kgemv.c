/* kgemv.c — weight-only inference (W4A16 / W3A16 / W2A16 with fp32
 * activations): decode GEMV dequantizing on the fly (prefill is
 * kgemm_w16.c). The int8 / int4 KV cache is kvcache.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"
#include "uniform.h"

/* c - z is exact in float; folding the zero point as s (sum c x - z sum x)
 * would cancel when codes sit near it. */
static void gemv_block_scalar_i8(const ptq_kpacked *p, int rb, const int8_t *blk, const float *x, float *y16) {
    int G = p->group;
    float y[PTQ_KP_RB] = {0};
    for (int g = 0; g < p->ngroups; g++) {
        int q0 = g * G / 4, q1 = PTQ_MIN((g + 1) * G, p->kpad) / 4;
        size_t gi = (size_t)g * p->npad + rb * PTQ_KP_RB;
        float s[PTQ_KP_RB] = {0};
        for (int qa = q0; qa < q1; qa += PTQ_KGEMV_CHUNK) {
            float a[PTQ_KP_RB] = {0};
            for (int q = qa; q < PTQ_MIN(qa + PTQ_KGEMV_CHUNK, q1); q++) {
                const int8_t *b = blk + (size_t)q * 64;
                const float *xq = x + 4 * q;
                for (int l = 0; l < PTQ_KP_RB; l++) {
                    int z = p->zero[gi + l];
                    a[l] += (float)(b[4 * l] - z) * xq[0] + (float)(b[4 * l + 1] - z) * xq[1] +
                            (float)(b[4 * l + 2] - z) * xq[2] + (float)(b[4 * l + 3] - z) * xq[3];
                }
            }
            for (int l = 0; l < PTQ_KP_RB; l++) s[l] += a[l];
        }
        for (int l = 0; l < PTQ_KP_RB; l++) y[l] += p->scale[gi + l] * s[l];
    }
    memcpy(y16, y, sizeof y);
}

/* Row blocks per pass and the prefetch distance of the streaming decode
 * GEMVs. 1 GiB of 7B-shaped matrices (11008 x 4096), 2 threads, Zen 5 VM,
 * W8A16: 2 blocks per pass without prefetch 33-37 GB/s of weights read per
 * second in the decode row; 4 blocks 37-46; 4 blocks and the next lines asked
 * for 2 KiB ahead 50-56 (1 KiB: 51-52, 4 KiB: 43-51). The int4 kernel had
 * used 1 KiB; 2 KiB measured 5-15% faster there. */
static int g_gemv_nb = 4;
int ptq_kgemv_pf = PTQ_KGEMV_PF_DEFAULT;
void ptq_kern_gemv_blocks(int nb) { g_gemv_nb = nb < 1 ? 1 : nb > 4 ? 4 : nb; }
void ptq_kern_gemv_prefetch(int bytes) { ptq_kgemv_pf = bytes < 0 ? 0 : bytes > 16384 ? 16384 : bytes / 64 * 64; }

typedef struct {
    const ptq_kpacked *w;
    const ptq_kcsr *sp;    /* SEPTQ's sparse part or NULL */
    const float *x, *bias; /* x padded to kpad */
    const uint16_t *xb;    /* or a bf16 row padded to kpad (the int4 bf16 kernel) */
    float *y;
    int isa, direct4, direct8, NB, nrb;
} gemv_job;

/* Rows of unit u (NB row blocks); blk: kpad x 16 scratch unless direct. */
static void gemv_unit(const gemv_job *j, int u, int8_t *blk) {
    const ptq_kpacked *w = j->w;
    int rb = u * j->NB, nb = PTQ_MIN(j->NB, j->nrb - rb);
    float yb[4 * PTQ_KP_RB];
    if (j->xb) ptq_kgemv_bf16_blocks_avx512_int4(nb, w, rb, j->xb, yb);
    else if (j->direct4) ptq_kgemv_blocks_avx512_int4(nb, w, rb, j->x, yb);
    else {
        const int8_t *b = j->direct8 ? (const int8_t *)w->data + (size_t)rb * w->kpad * PTQ_KP_RB : blk;
        if (!j->direct8) ptq_kunpack_block(w, rb, blk);
        if (j->isa == PTQ_ISA_AVX512VNNI) ptq_kgemv_blocks_avx512_i8(nb, w, rb, b, j->x, yb);
        else
            for (int k = 0; k < nb; k++)
                gemv_block_scalar_i8(w, rb + k, b + (size_t)k * w->kpad * PTQ_KP_RB, j->x, yb + PTQ_KP_RB * k);
    }
    int o0 = rb * PTQ_KP_RB, o1 = PTQ_MIN(w->out, o0 + nb * PTQ_KP_RB);
    for (int o = o0; o < o1; o++) j->y[o] = yb[o - o0] + (j->bias ? j->bias[o] : 0.f);
    if (j->sp) ptq_kcsr_rows_1(j->sp, o0, o1, j->x, j->y); /* while x and these rows' y are in cache */
}

/* Short rows (decode on small models): x padded and the unpack scratch on the
 * stack, no OpenMP region (entering one, even with if(0), allocates the team:
 * a fixed cost larger than a 64 x 64 product). */
enum { SMALL_K = 1024 };
static int gemv_run(gemv_job *j, ptq_err *err);

int ptq_kgemv_f32(const ptq_kpacked *w, const float *x, const float *bias, float *y, ptq_err *err) {
    return ptq_kgemv_f32_sparse(w, NULL, x, bias, y, err);
}

int ptq_kgemv_f32_sparse(const ptq_kpacked *w, const ptq_kcsr *sp, const float *x, const float *bias, float *y,
                         ptq_err *err) {
    if (sp && (sp->out != w->out || sp->in != w->in))
        return ptq_fail(err, "kgemv: a %d x %d sparse part on a %d x %d weight", sp->out, sp->in, w->out, w->in);
    ptq_isa isa = ptq_kern_isa();
    int direct4 = isa == PTQ_ISA_AVX512VNNI && w->bits == 4 && w->group % 8 == 0;
    int direct8 = w->bits == 8; /* the 8-bit plane is the int8 block layout: read in place */
    gemv_job j = {.w = w, .sp = sp, .x = x, .bias = bias, .y = y, .isa = isa, .direct4 = direct4, .direct8 = direct8,
                  .NB = direct4 || direct8 ? g_gemv_nb : 1, .nrb = w->npad / PTQ_KP_RB};
    return gemv_run(&j, err);
}

int ptq_kgemv_bf16_direct(const ptq_kpacked *w) { return ptq_kern_uses_bf16() && w->bits == 4 && w->group % 8 == 0; }

int ptq_kgemv_bf16(const ptq_kpacked *w, const uint16_t *xb, const float *bias, float *y, ptq_err *err) {
    if (!ptq_kgemv_bf16_direct(w))
        return ptq_fail(err, "kgemv_bf16: %d-bit weights in groups of %d on the %s path (int4, groups of 8k, AVX-512 BF16)",
                        w->bits, w->group, ptq_isa_name(ptq_kern_isa()));
    gemv_job j = {.w = w, .xb = xb, .bias = bias, .y = y, .isa = PTQ_ISA_AVX512VNNI, .direct4 = 1, .NB = g_gemv_nb,
                  .nrb = w->npad / PTQ_KP_RB};
    return gemv_run(&j, err);
}

/* Every unit of j: on the calling thread when the product is small, else in one region. */
static int gemv_run(gemv_job *jp, ptq_err *err) {
    gemv_job j = *jp;
    const ptq_kpacked *w = j.w;
    int nunit = (j.nrb + j.NB - 1) / j.NB, fail = 0, unpack = !j.direct4 && !j.direct8;
    const float *x = j.x;
    if (w->kpad <= SMALL_K && (long)w->npad * w->kpad < PTQ_KPAR_MIN) {
        _Alignas(64) float xs[SMALL_K];
        _Alignas(64) int8_t blk[SMALL_K * PTQ_KP_RB];
        if (x && w->kpad != w->in) {
            memcpy(xs, x, sizeof(float) * w->in);
            memset(xs + w->in, 0, sizeof(float) * (w->kpad - w->in));
            j.x = xs;
        }
        for (int u = 0; u < nunit; u++) gemv_unit(&j, u, blk);
        return 0;
    }
    float *xp = NULL;
    if (x && w->kpad != w->in) {
        if (!(xp = ptq_kalloc64(sizeof(float) * w->kpad))) return ptq_fail(err, "kgemv: out of memory");
        memcpy(xp, x, sizeof(float) * w->in);
        j.x = xp;
    }
#pragma omp parallel reduction(| : fail) if ((long)w->npad * w->kpad >= PTQ_KPAR_MIN)
    {
        int8_t *blk = unpack ? ptq_kalloc64((size_t)w->kpad * PTQ_KP_RB) : NULL;
        if (unpack && !blk) fail = 1;
#pragma omp for schedule(dynamic, 1) /* a thread slowed by another job takes fewer */
        for (int u = 0; u < nunit; u++)
            if (!fail) gemv_unit(&j, u, blk);
        free(blk);
    }
    free(xp);
    return fail ? ptq_fail(err, "kgemv: out of memory") : 0;
}
