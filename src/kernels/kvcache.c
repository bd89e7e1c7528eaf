/* kvcache.c — the int8 / int4 KV cache: one row is one kv head's vector at
 * one position, quantized per group with uniform.h's quantizer; decode
 * attention reads the codes directly (scores and the weighted sum of V),
 * prefill widens a head's rows to fp32 for the attention GEMMs.
 *
 * Summation order, fixed so every ISA path and thread count gives the same
 * bits (isa/kv_avx512.c is the vector twin of the loops here):
 *   dot:  per group, 16 lanes; int8 column i of the group goes to lane
 *         i % 16, int4 byte b (columns 2b, 2b+1, even first) to lane b % 16,
 *         each a = fmaf(q_k, c_k - z, a); lanes folded pairwise (8, 4, 2, 1);
 *         s = fmaf(scale_g, lane0, s) over groups in order.
 *   mix:  out_k = fmaf(P_p * scale_g, c_k - z, out_k) over positions in order.
 *   widen: x_k = scale_g * (c_k - z).
 * An fp32 cache (ptq_kv_scores_f32, ptq_kv_mix_f32) follows the int8 order
 * with one group and the stored value for c - z (and no scale).
 * c - z is exact in float: subtracting z * sum(q) afterwards would cancel. */
#include <math.h>
#include <string.h>

#include "kinternal.h"
#include "uniform.h"

enum { KV_LANES = 16 };

int ptq_kvfmt_init(ptq_kvfmt *f, int bits, int dim, int group, int sym, float clip, ptq_err *err) {
    if (bits != 8 && bits != 4) return ptq_fail(err, "kv cache: bits %d (int8 or int4 only)", bits);
    if (dim <= 0 || dim % 2) return ptq_fail(err, "kv cache: row length %d must be even and positive", dim);
    int g = group > 0 && group < dim ? group : dim;
    if (dim % g || g % 2) return ptq_fail(err, "kv cache: group %d must be even and divide %d", g, dim);
    f->bits = bits, f->dim = dim, f->group = g, f->ngroups = dim / g, f->sym = sym;
    f->clip = clip > 0.f ? clip : 1.f;
    f->row_bytes = bits == 8 ? (size_t)dim : (size_t)dim / 2;
    return 0;
}

/* uniform.h's quantizer per group, written straight into the codes (the
 * same codes as ptq_kquant_row, with no scratch buffer to run out of). */
void ptq_kv_quant_row(const ptq_kvfmt *f, const float *x, uint8_t *codes, float *scale, float *zero) {
    memset(codes, 0, f->row_bytes);
    int maxq = ptq_uq_maxq(f->bits);
    for (int g = 0; g < f->ngroups; g++) {
        const float *xg = x + (size_t)g * f->group;
        float lo, hi, s;
        int z;
        ptq_uq_range(xg, f->group, f->clip, &lo, &hi);
        ptq_uq_grid(lo, hi, f->bits, f->sym, &s, &z);
        scale[g] = s, zero[g] = (float)z;
        for (int k = 0; k < f->group; k++) {
            int kk = g * f->group + k, q = ptq_uq_code(xg[k], s, z, maxq);
            if (f->bits == 8) codes[kk] = (uint8_t)q;
            else codes[kk / 2] |= (uint8_t)(q << (4 * (kk & 1)));
        }
    }
}

/* Code k of a row as a float (int4: even k in the low nibble). */
static inline float kv_code(const ptq_kvfmt *f, const uint8_t *c, int k) {
    return (float)(f->bits == 8 ? c[k] : (c[k / 2] >> (4 * (k & 1))) & 15);
}

void ptq_kv_dequant_row(const ptq_kvfmt *f, const uint8_t *codes, const float *scale, const float *zero, float *x) {
    for (int g = 0; g < f->ngroups; g++)
        for (int k = g * f->group; k < (g + 1) * f->group; k++) x[k] = scale[g] * (kv_code(f, codes, k) - zero[g]);
}

/* The AVX-512 twins take the shapes they were written for: whole 16-lane
 * chunks per group and rows that fit their register blocks. */
static int kv_vector(const ptq_kvfmt *f) {
    int chunk = f->bits == 8 ? 16 : 32;
    return ptq_kern_isa() == PTQ_ISA_AVX512VNNI && f->group % chunk == 0 && f->dim <= PTQ_KV_VEC_MAXDIM;
}

static float fold16(float *a) {
    for (int w = KV_LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++) a[j] += a[j + w];
    return a[0];
}

static float row_dot(const ptq_kvfmt *f, const float *q, const uint8_t *c, const float *scale, const float *zero) {
    float s = 0.f;
    for (int g = 0; g < f->ngroups; g++) {
        float a[KV_LANES] = {0}, z = zero[g];
        int k0 = g * f->group;
        if (f->bits == 8)
            for (int i = 0; i < f->group; i++) a[i % KV_LANES] = fmaf(q[k0 + i], (float)c[k0 + i] - z, a[i % KV_LANES]);
        else
            for (int b = 0; b < f->group / 2; b++) {
                int k = k0 + 2 * b, v = c[k / 2];
                float *l = &a[b % KV_LANES];
                *l = fmaf(q[k], (float)(v & 15) - z, *l);
                *l = fmaf(q[k + 1], (float)(v >> 4) - z, *l);
            }
        s = fmaf(scale[g], fold16(a), s);
    }
    return s;
}

void ptq_kv_scores(const ptq_kvfmt *f, const float *q, const ptq_kvrows *r, float mul, float *S) {
    if (kv_vector(f)) {
        ptq_kv_scores_avx512(f, q, r, mul, S);
        return;
    }
    for (int p = 0; p < r->L; p++) {
        const float *sz = r->sz + (size_t)p * r->sstride;
        S[p] = mul * row_dot(f, q, r->codes + (size_t)p * r->cstride, sz, sz + f->ngroups);
    }
}

void ptq_kv_mix(const ptq_kvfmt *f, const float *P, const ptq_kvrows *r, float *out) {
    if (kv_vector(f)) {
        ptq_kv_mix_avx512(f, P, r, out);
        return;
    }
    memset(out, 0, sizeof(float) * f->dim);
    for (int p = 0; p < r->L; p++) {
        const uint8_t *c = r->codes + (size_t)p * r->cstride;
        const float *sz = r->sz + (size_t)p * r->sstride;
        for (int g = 0; g < f->ngroups; g++) {
            float ps = P[p] * sz[g], z = sz[f->ngroups + g];
            for (int k = g * f->group; k < (g + 1) * f->group; k++) out[k] = fmaf(ps, kv_code(f, c, k) - z, out[k]);
        }
    }
}

void ptq_kv_dequant_rows(const ptq_kvfmt *f, const ptq_kvrows *r, float *x) {
    if (kv_vector(f)) {
        ptq_kv_dequant_rows_avx512(f, r, x);
        return;
    }
    for (int p = 0; p < r->L; p++) {
        const float *sz = r->sz + (size_t)p * r->sstride;
        ptq_kv_dequant_row(f, r->codes + (size_t)p * r->cstride, sz, sz + f->ngroups, x + (size_t)p * f->dim);
    }
}

static int f32_vector(int dim) { return ptq_kern_isa() == PTQ_ISA_AVX512VNNI && dim % 16 == 0 && dim <= PTQ_KV_VEC_MAXDIM; }

void ptq_kv_scores_f32(const float *q, const float *K, size_t ld, int L, int dim, float mul, float *S) {
    if (f32_vector(dim)) {
        ptq_kv_scores_f32_avx512(q, K, ld, L, dim, mul, S);
        return;
    }
    for (int p = 0; p < L; p++) {
        const float *k = K + (size_t)p * ld;
        float a[KV_LANES] = {0};
        for (int i = 0; i < dim; i++) a[i % KV_LANES] = fmaf(q[i], k[i], a[i % KV_LANES]);
        S[p] = mul * fold16(a);
    }
}

void ptq_kv_mix_f32(const float *P, const float *V, size_t ld, int L, int dim, float *out) {
    if (f32_vector(dim)) {
        ptq_kv_mix_f32_avx512(P, V, ld, L, dim, out);
        return;
    }
    memset(out, 0, sizeof(float) * dim);
    for (int p = 0; p < L; p++)
        for (int k = 0; k < dim; k++) out[k] = fmaf(P[p], V[(size_t)p * ld + k], out[k]);
}
