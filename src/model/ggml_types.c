/* ggml_types.c — llama.cpp's block formats (see ggml_types.h).
 *
 * Written from ggml's format definitions (ggml-common.h block structs) and
 * its reference quantizers (ggml-quants.c): the layouts, the scale searches
 * and every float expression in the order ggml evaluates it, so that the
 * bytes match. Compiled with -ffp-contract=off (CMakeLists.txt): a fused
 * multiply-add would round differently from ggml's generic build. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "ggml_types.h"
#include "safetensors.h"

#define QK 32   /* values per block of the legacy types and iq4_nl */
#define QK_K 256 /* values per super-block of the k-quants */
#define GROUP_MAX_EPS 1e-15f

/* ---- block layouts (ggml-common.h), fp16 fields as raw bits ---- */
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK / 2]; } blk_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_1;
typedef struct { uint16_t d; int8_t qs[QK]; } blk_q8_0;
typedef struct { uint8_t scales[QK_K / 16], qs[QK_K / 4]; uint16_t d, dmin; } blk_q2_k;
typedef struct { uint8_t hmask[QK_K / 8], qs[QK_K / 4], scales[12]; uint16_t d; } blk_q3_k;
typedef struct { uint16_t d, dmin; uint8_t scales[12], qs[QK_K / 2]; } blk_q4_k;
typedef struct { uint16_t d, dmin; uint8_t scales[12], qh[QK_K / 8], qs[QK_K / 2]; } blk_q5_k;
typedef struct { uint8_t ql[QK_K / 2], qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } blk_q6_k;
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } blk_iq4_nl;
_Static_assert(sizeof(blk_q4_0) == 18 && sizeof(blk_q4_1) == 20 && sizeof(blk_q5_0) == 22, "legacy blocks");
_Static_assert(sizeof(blk_q5_1) == 24 && sizeof(blk_q8_0) == 34 && sizeof(blk_iq4_nl) == 18, "legacy blocks");
_Static_assert(sizeof(blk_q2_k) == 84 && sizeof(blk_q3_k) == 110 && sizeof(blk_q4_k) == 144, "k-quant blocks");
_Static_assert(sizeof(blk_q5_k) == 176 && sizeof(blk_q6_k) == 210, "k-quant blocks");

/* iq4_nl's 16 non-uniform levels (ggml's kvalues_iq4nl). */
static const int8_t iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

uint16_t ptq_ggml_fp32_to_fp16(float f) { return ptq_f32_to_f16(f); }
float ptq_ggml_fp16_to_fp32(uint16_t h) { return ptq_f16_to_f32(h); }
#define H2F ptq_ggml_fp16_to_fp32
#define F2H ptq_ggml_fp32_to_fp16
#define MINI(a, b) ((a) < (b) ? (a) : (b))
#define MAXI(a, b) ((a) > (b) ? (a) : (b))

/* ggml's nearest_int: adding 1.5*2^23 leaves round(f) (ties to even) in the
 * low mantissa bits. Exact for |f| <= 2^22; defined (garbage, then clamped by
 * the callers) beyond, where ggml asserts. */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* C's float -> int truncation where it is defined; a clamp (NaN: 0) outside,
 * where ggml's (int8_t)/(uint8_t) casts would be undefined. */
static inline int trunc_int(float v) {
    if (!(v > -1e9f && v < 1e9f)) return v > 0 ? 1000000000 : v < 0 ? -1000000000 : 0;
    return (int)v;
}

/* ---- legacy 32-value blocks ---- */
static void dq_q4_0(const void *vx, float *y, long n) {
    const blk_q4_0 *x = vx;
    for (long i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = ((x[i].qs[j] & 0xF) - 8) * d;
            y[j + QK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dq_q4_1(const void *vx, float *y, long n) {
    const blk_q4_1 *x = vx;
    for (long i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (x[i].qs[j] & 0xF) * d + m;
            y[j + QK / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The 5th bits of a q5 block: bit j of qh for value j (0..31). */
static inline int q5_code(const uint8_t *qs, const uint8_t *qh4, int j) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    int lo = j < QK / 2 ? qs[j] & 0xF : qs[j - QK / 2] >> 4;
    return lo | (int)(((qh >> j) & 1) << 4);
}

static void dq_q5_0(const void *vx, float *y, long n) {
    const blk_q5_0 *x = vx;
    for (long i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK; j++) y[j] = (q5_code(x[i].qs, x[i].qh, j) - 16) * d;
    }
}

static void dq_q5_1(const void *vx, float *y, long n) {
    const blk_q5_1 *x = vx;
    for (long i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        for (int j = 0; j < QK; j++) y[j] = q5_code(x[i].qs, x[i].qh, j) * d + m;
    }
}

static void dq_q8_0(const void *vx, float *y, long n) {
    const blk_q8_0 *x = vx;
    for (long i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK; j++) y[j] = x[i].qs[j] * d;
    }
}

static void dq_iq4_nl(const void *vx, float *y, long n) {
    const blk_iq4_nl *x = vx;
    for (long i = 0; i < n / QK; i++, y += QK) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * iq4nl_levels[x[i].qs[j] & 0xF];
            y[j + QK / 2] = d * iq4nl_levels[x[i].qs[j] >> 4];
        }
    }
}

/* ---- k-quants: 256-value super-blocks ---- */

/* q4_K/q5_K: 8 pairs of 6-bit (scale, min) packed into 12 bytes. */
static inline void k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void k4_put_scale_min(uint8_t *q, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* q3_K: 16 6-bit scales (biased by 32): low nibbles in bytes 0..7, the top
 * two bits in bytes 8..11. */
static inline int k3_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

static void k3_put_scale(uint8_t *s, int j, int l) { /* l = scale + 32, 0..63 */
    if (j < 8)
        s[j] = (uint8_t)(l & 0xF);
    else
        s[j - 8] |= (uint8_t)((l & 0xF) << 4);
    s[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
}

/* 2-bit fields: value 32*g + l of a 128-value half sits at bits 2g of qs[l]. */
static inline int crumb(const uint8_t *qs, int i) { /* i in 0..255 */
    int half = i / 128, r = i % 128;
    return (qs[32 * half + r % 32] >> (2 * (r / 32))) & 3;
}

static void pack_crumbs(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

static void dq_q2_k(const void *vx, float *y, long n) {
    const blk_q2_k *x = vx;
    for (long i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
        for (int j = 0; j < QK_K; j++) {
            uint8_t sc = x[i].scales[j / 16];
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            y[j] = dl * crumb(x[i].qs, j) - ml;
        }
    }
}

static void dq_q3_k(const void *vx, float *y, long n) {
    const blk_q3_k *x = vx;
    for (long i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK_K; j++) {
            float dl = d * k3_scale(x[i].scales, j / 16);
            int high = (x[i].hmask[j % 32] >> (j / 32)) & 1;
            y[j] = dl * (crumb(x[i].qs, j) - (high ? 0 : 4));
        }
    }
}

/* q4_K and q5_K: 8 sub-blocks of 32 with 6-bit scales and mins; value j's low
 * nibble in qs, q5_K's fifth bit in qh (NULL for q4_K). */
static void dq_k45(float d, float dmin, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float *y) {
    for (int j = 0; j < QK_K; j++) {
        uint8_t sc, m;
        k4_scale_min(j / 32, scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        const uint8_t b = qs[32 * (j / 64) + j % 32];
        int q = ((j / 32) % 2 ? b >> 4 : b & 0xF) + (qh && (qh[j % 32] >> (j / 32)) & 1 ? 16 : 0);
        y[j] = d1 * q - m1;
    }
}

static void dq_q4_k(const void *vx, float *y, long n) {
    const blk_q4_k *x = vx;
    for (long i = 0; i < n / QK_K; i++, y += QK_K) dq_k45(H2F(x[i].d), H2F(x[i].dmin), x[i].scales, x[i].qs, NULL, y);
}

static void dq_q5_k(const void *vx, float *y, long n) {
    const blk_q5_k *x = vx;
    for (long i = 0; i < n / QK_K; i++, y += QK_K) dq_k45(H2F(x[i].d), H2F(x[i].dmin), x[i].scales, x[i].qs, x[i].qh, y);
}

/* q6_K: value 32*g + l of a 128-value half: low nibble in ql (g even: low
 * nibble of ql[l + 32*(g&1)], g odd... see the pack below), top 2 bits at
 * bits 2g of qh[l]. */
static inline int q6_code(const blk_q6_k *b, int i) {
    int half = i / 128, r = i % 128, g = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
    int lo = (ql[l + 32 * (g & 1)] >> (4 * (g >> 1))) & 0xF;
    return lo | (((qh[l] >> (2 * g)) & 3) << 4);
}

static void dq_q6_k(const void *vx, float *y, long n) {
    const blk_q6_k *x = vx;
    for (long i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < QK_K; j++) y[j] = d * x[i].scales[j / 16] * (q6_code(&x[i], j) - 32);
    }
}

/* ---- scale searches (ggml-quants.c semantics) ---- */

/* The value of largest magnitude (the first one on ties), and its magnitude. */
static float signed_absmax(const float *x, int n, float *amax) {
    float max = 0;
    *amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > *amax) *amax = fabsf(x[i]), max = x[i];
    return max;
}

/* Symmetric levels -nmax..nmax-1 (L holds l + nmax), weighted least-squares
 * scale over 19 trial grids; rmse_type 1 without qw weighs by x^2. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i]))));
        return 1 / iscale;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
            float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* q3_K's search: start from the max-based grid, then up to 5 passes of
 * coordinate moves that raise the x^2-weighted fit (sumlx^2 / suml2). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = MAXI(-nmax, MINI(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric levels 0..nmax with a min <= 0: weighted least squares of
 * (scale, min) over nstep+1 trial grids, keeping the lowest weighted error
 * (squared or absolute). qkx2 takes weights; qkx3 with weights == NULL
 * weighs by x^2 (only its weighted form is used here). */
static float make_qkx_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                             uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad, int x3) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (x3 ? max <= min : max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAXI(0, MINI(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = MAXI(0, MINI(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Non-negative levels 0..nmax for the super-block's scales (or mins),
 * weighted by quant_weights: 9 trial grids, then coordinate moves. */
static float make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights) {
    float max = 0;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    if (max < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * L[i];
        best_mse += quant_weights[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * is + nmax) / max;
        float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; i++) {
            int l = MINI(nmax, nearest_int(iscale_is * x[i]));
            float diff = x[i] - scale_is * l;
            mse += quant_weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MINI(nmax, nearest_int(iscale * x[i]));
        L[i] = (uint8_t)l;
        float w = quant_weights[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = quant_weights[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = MINI(nmax, nearest_int(x[i] * sl2 / slx));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* sigma2 of the imatrix weights qw * sqrt(sigma2 + x^2): the mean square of
 * n values times `mul` (ggml's sum/n or 2*sum/n, same float ops). */
static float sum_sq(const float *x, long n) {
    float s = 0;
    for (long j = 0; j < n; j++) s += x[j] * x[j];
    return s;
}

/* ---- legacy quantizers ---- */
static float amax_signed(const float *x, int n) { /* the value of largest |x| (first one) */
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void pack_nibbles(uint8_t *qs, const uint8_t *L) { /* value j low nibble, j + 16 high */
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)(L[j] | (L[j + QK / 2] << 4));
}

static void pack_q5(uint8_t *qs, uint8_t *qh4, const uint8_t *L) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + QK / 2] & 0x0F) << 4));
        qh |= ((L[j] & 0x10u) >> 4) << j;
        qh |= ((L[j + QK / 2] & 0x10u) >> 4) << (j + QK / 2);
    }
    memcpy(qh4, &qh, 4);
}

/* q4_0/q5_0 without weights: d = max / -2^(b-1), codes by truncation of
 * x/d + 2^(b-1) + 0.5. With weights: make_qx_quants. */
static void q_sym_legacy(const float *x, long n, const float *qw, int nmax, uint16_t *d_out, uint8_t *L, long ib,
                         float sigma2) {
    const float *xb = x + QK * ib;
    if (!qw) {
        const float d = amax_signed(xb, QK) / -nmax;
        const float id = d ? 1.0f / d : 0.0f;
        *d_out = F2H(d);
        for (int j = 0; j < QK; j++) L[j] = (uint8_t)MINI(2 * nmax - 1, (int8_t)trunc_int(xb[j] * id + (nmax + 0.5f)));
        return;
    }
    (void)n;
    float weight[QK];
    int8_t Ls[QK];
    for (int j = 0; j < QK; j++) weight[j] = qw[QK * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]);
    *d_out = F2H(make_qx_quants(QK, nmax, xb, Ls, 1, weight));
    for (int j = 0; j < QK; j++) L[j] = (uint8_t)Ls[j];
}

static void q_q4_0(const float *x, void *vy, long n, const float *qw) {
    blk_q4_0 *y = vy;
    const float sigma2 = qw ? sum_sq(x, n) / n : 0;
    for (long ib = 0; ib < n / QK; ib++) {
        uint8_t L[QK];
        q_sym_legacy(x, n, qw, 8, &y[ib].d, L, ib, sigma2);
        pack_nibbles(y[ib].qs, L);
    }
}

static void q_q5_0(const float *x, void *vy, long n, const float *qw) {
    blk_q5_0 *y = vy;
    const float sigma2 = qw ? sum_sq(x, n) / n : 0;
    for (long ib = 0; ib < n / QK; ib++) {
        uint8_t L[QK];
        q_sym_legacy(x, n, qw, 16, &y[ib].d, L, ib, sigma2);
        pack_q5(y[ib].qs, y[ib].qh, L);
    }
}

/* q4_1/q5_1 without weights: d = (max - min) / nmax, m = min, codes by
 * truncation of (x - min)/d + 0.5. With weights: make_qkx3_quants. */
static void q_asym_legacy(const float *xb, const float *qwb, int nmax, float sigma2, uint16_t *d_out, uint16_t *m_out,
                          uint8_t *L) {
    if (!qwb) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK; j++) {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
        const float d = (max - min) / nmax;
        const float id = d ? 1.0f / d : 0.0f;
        *d_out = F2H(d);
        *m_out = F2H(min);
        for (int j = 0; j < QK; j++) {
            int q = trunc_int((xb[j] - min) * id + 0.5f);
            /* q4_1 clamps at 15 after an int8 cast; q5_1 casts to uint8 */
            L[j] = nmax == 15 ? (uint8_t)MINI(15, (int8_t)q) : (uint8_t)q;
        }
        return;
    }
    float weight[QK], min;
    uint8_t Laux[QK];
    for (int j = 0; j < QK; j++) weight[j] = qwb[j] * sqrtf(sigma2 + xb[j] * xb[j]);
    float d = make_qkx_quants(QK, nmax, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, 0, 1);
    *d_out = F2H(d);
    *m_out = F2H(-min);
}

static void q_q4_1(const float *x, void *vy, long n, const float *qw) {
    blk_q4_1 *y = vy;
    const float sigma2 = qw ? sum_sq(x, n) / n : 0;
    for (long ib = 0; ib < n / QK; ib++) {
        uint8_t L[QK];
        q_asym_legacy(x + QK * ib, qw ? qw + QK * ib : NULL, 15, sigma2, &y[ib].d, &y[ib].m, L);
        pack_nibbles(y[ib].qs, L);
    }
}

static void q_q5_1(const float *x, void *vy, long n, const float *qw) {
    blk_q5_1 *y = vy;
    const float sigma2 = qw ? sum_sq(x, n) / n : 0;
    for (long ib = 0; ib < n / QK; ib++) {
        uint8_t L[QK];
        q_asym_legacy(x + QK * ib, qw ? qw + QK * ib : NULL, 31, sigma2, &y[ib].d, &y[ib].m, L);
        pack_q5(y[ib].qs, y[ib].qh, L);
    }
}

/* q8_0 ignores importance weights (as ggml does). */
static void q_q8_0(const float *x, void *vy, long n, const float *qw) {
    (void)qw;
    blk_q8_0 *y = vy;
    for (long i = 0; i < n / QK; i++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)trunc_int(roundf(x[j] * id));
    }
}

/* iq4_nl: nearest of the 16 levels (ties to the upper one). */
static int iq4nl_index(float x) {
    const int8_t *v = iq4nl_levels;
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < v[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - v[mu - 1] < v[mu] - x ? mu - 1 : mu;
}

/* iq4_nl (ggml's ntry = 7 path of quantize_iq4_nl): weights x^2, or the
 * imatrix form; the best of 15 trial scales by weighted fit, then the codes
 * again from the chosen (unrounded) scale. */
static void q_iq4_nl(const float *x, void *vy, long n, const float *qw) {
    blk_iq4_nl *y = vy;
    const int ntry = 7;
    for (long ib = 0; ib < n / QK; ib++) {
        const float *xb = x + QK * ib;
        float weight[QK];
        uint8_t L[QK];
        float sigma2 = 0;
        for (int j = 0; j < QK; j++) sigma2 += xb[j] * xb[j];
        sigma2 *= 2.f / QK;
        for (int j = 0; j < QK; j++)
            weight[j] = qw ? qw[QK * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++)
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        float d = 0;
        if (amax >= GROUP_MAX_EPS) {
            d = -max / iq4nl_levels[0];
            float id = 1 / d, sumqx = 0, sumq2 = 0;
            for (int j = 0; j < QK; j++) {
                float q = iq4nl_levels[iq4nl_index(id * xb[j])], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; itry++) {
                id = (itry + iq4nl_levels[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < QK; j++) {
                    float q = iq4nl_levels[iq4nl_index(id * xb[j])], w = weight[j];
                    sumqx += w * q * xb[j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
        }
        y[ib].d = F2H(d);
        const float id = d ? 1 / d : 0;
        for (int j = 0; j < QK; j++) L[j] = (uint8_t)iq4nl_index(id * xb[j]);
        pack_nibbles(y[ib].qs, L);
    }
}

/* ---- k-quant quantizers ---- */

/* q2_K: 16 groups of 16, codes 0..3, 4-bit scale and min per group. */
static void q_q2_k(const float *x, void *vy, long n, const float *qw) {
    blk_q2_k *y = vy;
    for (long i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
        float weights[16], mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16];
        if (!qw) {
            const float q4scale = 15.f;
            float max_scale = 0, max_min = 0;
            for (int j = 0; j < QK_K / 16; j++) {
                for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
                scales[j] = make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1,
                                            0);
                if (scales[j] > max_scale) max_scale = scales[j];
                if (mins[j] > max_min) max_min = mins[j];
            }
            memset(y[i].scales, 0, sizeof y[i].scales);
            if (max_scale > 0) {
                float iscale = q4scale / max_scale;
                for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
                y[i].d = F2H(max_scale / q4scale);
            } else {
                y[i].d = F2H(0.f);
            }
            if (max_min > 0) {
                float iscale = q4scale / max_min;
                for (int j = 0; j < QK_K / 16; j++)
                    y[i].scales[j] = (uint8_t)(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
                y[i].dmin = F2H(max_min / q4scale);
            } else {
                y[i].dmin = F2H(0.f);
            }
        } else {
            memset(sw, 0, sizeof sw);
            float sigma2 = sum_sq(x, QK_K) / QK_K;
            for (int j = 0; j < QK_K / 16; j++) {
                const float *q = qw + QK_K * i + 16 * j;
                for (int l = 0; l < 16; l++) weights[l] = q[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                for (int l = 0; l < 16; l++) sw[j] += weights[l];
                scales[j] = make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36,
                                            0, 1);
            }
            float dm = make_qp_quants(QK_K / 16, 15, scales, Ls, sw);
            float mm = make_qp_quants(QK_K / 16, 15, mins, Lm, sw);
            y[i].d = F2H(dm);
            y[i].dmin = F2H(mm);
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        }
        /* codes again from the stored (fp16) scales */
        const float dd = H2F(y[i].d), dmm = H2F(y[i].dmin);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = dd * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = dmm * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (uint8_t)MAXI(0, MINI(3, nearest_int((x[16 * j + ii] + dm) / d)));
        }
        pack_crumbs(y[i].qs, L);
    }
}

/* q3_K: 16 groups of 16, codes -4..3 (2 low bits + a high bit in hmask),
 * signed 6-bit scales under one fp16 d. */
static void q_q3_k(const float *x, void *vy, long n, const float *qw) {
    blk_q3_k *y = vy;
    for (long i = 0; i < n / QK_K; i++, x += QK_K) {
        int8_t L[QK_K];
        float scales[QK_K / 16];
        memset(y[i].scales, 0, 12);
        if (!qw) {
            float max_scale = 0, amax = 0;
            for (int j = 0; j < QK_K / 16; j++) {
                scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
                if (fabsf(scales[j]) > amax) {
                    amax = fabsf(scales[j]);
                    max_scale = scales[j];
                }
            }
            if (max_scale) {
                float iscale = -32.f / max_scale;
                for (int j = 0; j < QK_K / 16; j++) {
                    int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                    k3_put_scale(y[i].scales, j, MAXI(-32, MINI(31, l)) + 32);
                }
                y[i].d = F2H(1 / iscale);
            } else {
                y[i].d = F2H(0.f);
            }
        } else {
            float weight[16], sw[QK_K / 16];
            int8_t Ls[QK_K / 16];
            float sigma2 = 2 * sum_sq(x, QK_K) / QK_K;
            for (int j = 0; j < QK_K / 16; j++) {
                const float *q = qw + QK_K * i + 16 * j;
                for (int l = 0; l < 16; l++) weight[l] = q[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                float sumw = 0;
                for (int l = 0; l < 16; l++) sumw += weight[l];
                sw[j] = sumw;
                scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, 1, weight);
            }
            float d_block = make_qx_quants(QK_K / 16, 32, scales, Ls, 1, sw);
            for (int j = 0; j < QK_K / 16; j++) k3_put_scale(y[i].scales, j, Ls[j]);
            y[i].d = F2H(d_block);
        }
        const float dd = H2F(y[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            float d = dd * k3_scale(y[i].scales, j);
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(MAXI(-4, MINI(3, nearest_int(x[16 * j + ii] / d))) + 4);
        }
        /* high bit of value j: bit j/32 of hmask[j%32] */
        memset(y[i].hmask, 0, QK_K / 8);
        uint8_t Lu[QK_K];
        for (int j = 0; j < QK_K; j++) {
            Lu[j] = (uint8_t)L[j];
            if (Lu[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                Lu[j] -= 4;
            }
        }
        pack_crumbs(y[i].qs, Lu);
    }
}

/* q4_K/q5_K: 8 groups of 32, codes 0..nmax, 6-bit scale and min per group
 * under fp16 d and dmin. */
static void q_k_asym(const float *x, uint16_t *d_out, uint16_t *dmin_out, uint8_t *sc12, uint8_t *L, int nmax,
                     const float *qw) {
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32], sw[QK_K / 32];
    memset(sc12, 0, 12);
    if (!qw) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            float av_x = sqrtf(sum_sq(x + 32 * j, 32) / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                        nmax == 15 ? -1.f : -0.5f, 0.1f, nmax == 15 ? 20 : 15, 0, 0);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
            k4_put_scale_min(sc12, j, MINI(63, ls), MINI(63, lm));
        }
        *d_out = F2H(max_scale / 63.f);
        *dmin_out = F2H(max_min / 63.f);
    } else {
        float sigma2 = 2 * sum_sq(x, QK_K) / QK_K;
        for (int j = 0; j < QK_K / 32; j++) {
            for (int l = 0; l < 32; l++) weights[l] = qw[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; l++) sumw += weights[l];
            sw[j] = sumw;
            scales[j] = make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0,
                                        1);
        }
        float d_block = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
        float m_block = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
        for (int j = 0; j < QK_K / 32; j++) k4_put_scale_min(sc12, j, MINI(63, Ls[j]), MINI(63, Lm[j]));
        *d_out = F2H(d_block);
        *dmin_out = F2H(m_block);
    }
    const float dd = H2F(*d_out), dmm = H2F(*dmin_out);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        k4_scale_min(j, sc12, &sc, &m);
        const float d = dd * sc;
        if (!d) continue;
        const float dm = dmm * m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)MAXI(0, MINI(nmax, nearest_int((x[32 * j + ii] + dm) / d)));
    }
}

static void q_q4_k(const float *x, void *vy, long n, const float *qw) {
    blk_q4_k *y = vy;
    for (long i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K];
        q_k_asym(x, &y[i].d, &y[i].dmin, y[i].scales, L, 15, qw ? qw + QK_K * i : NULL);
        for (int j = 0; j < QK_K; j += 64)
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void q_q5_k(const float *x, void *vy, long n, const float *qw) {
    blk_q5_k *y = vy;
    for (long i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K];
        q_k_asym(x, &y[i].d, &y[i].dmin, y[i].scales, L, 31, qw ? qw + QK_K * i : NULL);
        memset(y[i].qh, 0, QK_K / 8);
        for (int j = 0; j < QK_K; j++) { /* 5th bit of value j: bit j/32 of qh[j%32] */
            if (L[j] > 15) y[i].qh[j % 32] |= (uint8_t)(1 << (j / 32));
        }
        for (int j = 0; j < QK_K; j += 64)
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)((L[j + l] & 0xF) | ((L[j + l + 32] & 0xF) << 4));
    }
}

/* q6_K: 16 groups of 16, codes -32..31, signed 8-bit scales under fp16 d.
 * The imatrix form weighs make_qx_quants by the imatrix alone. */
static void q_q6_k(const float *x, void *vy, long n, const float *qw) {
    blk_q6_k *y = vy;
    for (long i = 0; i < n / QK_K; i++, x += QK_K) {
        int8_t L[QK_K];
        float scales[QK_K / 16], max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw ? qw + QK_K * i + 16 * ib : NULL);
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = F2H(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)MINI(127, nearest_int(iscale * scales[ib]));
        const float dd = H2F(y[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            float d = dd * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(MAXI(-32, MINI(31, nearest_int(x[16 * j + ii] / d))) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                  ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

/* ---- float types ---- */
static void dq_f32(const void *x, float *y, long n) { memcpy(y, x, (size_t)n * sizeof(float)); }
static void q_f32(const float *x, void *y, long n, const float *qw) {
    (void)qw;
    memcpy(y, x, (size_t)n * sizeof(float));
}
static void dq_f16(const void *vx, float *y, long n) {
    const uint16_t *x = vx;
    for (long i = 0; i < n; i++) y[i] = ptq_f16_to_f32(x[i]);
}
static void q_f16(const float *x, void *vy, long n, const float *qw) {
    (void)qw;
    uint16_t *y = vy;
    for (long i = 0; i < n; i++) y[i] = ptq_f32_to_f16(x[i]);
}
static void dq_bf16(const void *vx, float *y, long n) {
    const uint16_t *x = vx;
    for (long i = 0; i < n; i++) y[i] = ptq_bf16_to_f32(x[i]);
}
static void q_bf16(const float *x, void *vy, long n, const float *qw) {
    (void)qw;
    uint16_t *y = vy;
    for (long i = 0; i < n; i++) y[i] = ptq_f32_to_bf16(x[i]);
}

/* ---- grid form of the symmetric types ---- */
static int grid_q8_0(const void *v, long i, uint8_t *c, float *s) {
    const blk_q8_0 *b = (const blk_q8_0 *)v + i;
    s[0] = H2F(b->d);
    for (int j = 0; j < QK; j++) c[j] = (uint8_t)(b->qs[j] + 128);
    return 1;
}
static int grid_q4_0(const void *v, long i, uint8_t *c, float *s) {
    const blk_q4_0 *b = (const blk_q4_0 *)v + i;
    s[0] = H2F(b->d);
    for (int j = 0; j < QK / 2; j++) c[j] = b->qs[j] & 0xF, c[j + QK / 2] = b->qs[j] >> 4;
    return 1;
}
static int grid_q5_0(const void *v, long i, uint8_t *c, float *s) {
    const blk_q5_0 *b = (const blk_q5_0 *)v + i;
    s[0] = H2F(b->d);
    for (int j = 0; j < QK; j++) c[j] = (uint8_t)q5_code(b->qs, b->qh, j);
    return 1;
}
static int grid_q3_k(const void *v, long i, uint8_t *c, float *s) {
    const blk_q3_k *b = (const blk_q3_k *)v + i;
    const float d = H2F(b->d);
    for (int g = 0; g < QK_K / 16; g++) s[g] = d * k3_scale(b->scales, g);
    for (int j = 0; j < QK_K; j++) c[j] = (uint8_t)(crumb(b->qs, j) + 4 * ((b->hmask[j % 32] >> (j / 32)) & 1));
    return QK_K / 16;
}
static int grid_q6_k(const void *v, long i, uint8_t *c, float *s) {
    const blk_q6_k *b = (const blk_q6_k *)v + i;
    const float d = H2F(b->d);
    for (int g = 0; g < QK_K / 16; g++) s[g] = d * b->scales[g];
    for (int j = 0; j < QK_K; j++) c[j] = (uint8_t)q6_code(b, j);
    return QK_K / 16;
}

/* Per block i: codes of its values, scales of its groups; returns the group count. */
static const struct {
    int id, bits, group;
    int (*block)(const void *row, long i, uint8_t *codes, float *scales);
} grids[] = {
    {PTQ_GGML_Q8_0, 8, QK, grid_q8_0}, {PTQ_GGML_Q4_0, 4, QK, grid_q4_0}, {PTQ_GGML_Q5_0, 5, QK, grid_q5_0},
    {PTQ_GGML_Q3_K, 3, 16, grid_q3_k}, {PTQ_GGML_Q6_K, 6, 16, grid_q6_k},
};

int ptq_ggml_grid_info(int id, int *bits, int *group) {
    for (size_t k = 0; k < sizeof grids / sizeof grids[0]; k++)
        if (grids[k].id == id) {
            *bits = grids[k].bits, *group = grids[k].group;
            return 1;
        }
    return 0;
}

int ptq_ggml_to_grid(int id, const void *row, long n, uint8_t *codes, float *scales, ptq_err *err) {
    if (ptq_ggml_row_bytes(id, n, err) < 0) return -1;
    for (size_t k = 0; k < sizeof grids / sizeof grids[0]; k++)
        if (grids[k].id == id) {
            const int blk = ptq_ggml_type_info_of(id)->block;
            for (long i = 0; i < n / blk; i++) scales += grids[k].block(row, i, codes + i * blk, scales);
            return 0;
        }
    return ptq_fail(err, "ggml type %s has no uniform-grid form (a float min or non-uniform levels)",
                    ptq_ggml_type_info_of(id)->name);
}

int ptq_ggml_from_grid(int id, const uint8_t *codes, const float *scales, const int *zeros, long n, void *row,
                       ptq_err *err) {
    static const struct {
        int id, bits, sym;
    } to[] = {{PTQ_GGML_Q8_0, 8, 1}, {PTQ_GGML_Q4_0, 4, 1}, {PTQ_GGML_Q5_0, 5, 1}, {PTQ_GGML_Q4_1, 4, 0},
              {PTQ_GGML_Q5_1, 5, 0}};
    int k = 0;
    while (k < 5 && to[k].id != id) k++;
    if (k == 5) return ptq_fail(err, "ggml type %d cannot be written from a grid (q8_0 q4_0 q5_0 q4_1 q5_1)", id);
    long rb = ptq_ggml_row_bytes(id, n, err);
    if (rb < 0) return -1;
    const int bits = to[k].bits, half = 1 << (bits - 1);
    for (long g = 0; g < n / QK; g++) {
        const uint8_t *c = codes + g * QK;
        if (to[k].sym && zeros[g] != half)
            return ptq_fail(err, "ggml %s: group %ld has zero point %d; the type's grid is symmetric (zero %d)",
                            ptq_ggml_type_info_of(id)->name, g, zeros[g], half);
        for (int j = 0; j < QK; j++)
            if (c[j] >> bits)
                return ptq_fail(err, "ggml %s: code %d in group %ld does not fit %d bits", ptq_ggml_type_info_of(id)->name,
                                c[j], g, bits);
        const uint16_t d = F2H(scales[g]), m = F2H(-scales[g] * (float)zeros[g]);
        switch (id) {
        case PTQ_GGML_Q8_0: {
            blk_q8_0 *b = (blk_q8_0 *)row + g;
            b->d = d;
            for (int j = 0; j < QK; j++) b->qs[j] = (int8_t)(c[j] - 128);
        } break;
        case PTQ_GGML_Q4_0: ((blk_q4_0 *)row)[g].d = d, pack_nibbles(((blk_q4_0 *)row)[g].qs, c); break;
        case PTQ_GGML_Q5_0: ((blk_q5_0 *)row)[g].d = d, pack_q5(((blk_q5_0 *)row)[g].qs, ((blk_q5_0 *)row)[g].qh, c); break;
        case PTQ_GGML_Q4_1: {
            blk_q4_1 *b = (blk_q4_1 *)row + g;
            b->d = d, b->m = m, pack_nibbles(b->qs, c);
        } break;
        default: {
            blk_q5_1 *b = (blk_q5_1 *)row + g;
            b->d = d, b->m = m, pack_q5(b->qs, b->qh, c);
        }
        }
    }
    return 0;
}

/* ---- registry ---- */
static const ptq_ggml_type_info ggml_types[] = {
    {.id = PTQ_GGML_F32, .name = "f32", .block = 1, .block_bytes = 4, .dequant = dq_f32, .quant = q_f32},
    {.id = PTQ_GGML_F16, .name = "f16", .block = 1, .block_bytes = 2, .dequant = dq_f16, .quant = q_f16},
    {.id = PTQ_GGML_Q4_0, .name = "q4_0", .block = QK, .block_bytes = 18, .dequant = dq_q4_0, .quant = q_q4_0},
    {.id = PTQ_GGML_Q4_1, .name = "q4_1", .block = QK, .block_bytes = 20, .dequant = dq_q4_1, .quant = q_q4_1},
    {.id = PTQ_GGML_Q5_0, .name = "q5_0", .block = QK, .block_bytes = 22, .dequant = dq_q5_0, .quant = q_q5_0},
    {.id = PTQ_GGML_Q5_1, .name = "q5_1", .block = QK, .block_bytes = 24, .dequant = dq_q5_1, .quant = q_q5_1},
    {.id = PTQ_GGML_Q8_0, .name = "q8_0", .block = QK, .block_bytes = 34, .dequant = dq_q8_0, .quant = q_q8_0},
    {.id = PTQ_GGML_Q2_K, .name = "q2_K", .block = QK_K, .block_bytes = 84, .dequant = dq_q2_k, .quant = q_q2_k},
    {.id = PTQ_GGML_Q3_K, .name = "q3_K", .block = QK_K, .block_bytes = 110, .dequant = dq_q3_k, .quant = q_q3_k},
    {.id = PTQ_GGML_Q4_K, .name = "q4_K", .block = QK_K, .block_bytes = 144, .dequant = dq_q4_k, .quant = q_q4_k},
    {.id = PTQ_GGML_Q5_K, .name = "q5_K", .block = QK_K, .block_bytes = 176, .dequant = dq_q5_k, .quant = q_q5_k},
    {.id = PTQ_GGML_Q6_K, .name = "q6_K", .block = QK_K, .block_bytes = 210, .dequant = dq_q6_k, .quant = q_q6_k},
    {.id = PTQ_GGML_IQ4_NL, .name = "iq4_nl", .block = QK, .block_bytes = 18, .dequant = dq_iq4_nl, .quant = q_iq4_nl},
    {.id = PTQ_GGML_BF16, .name = "bf16", .block = 1, .block_bytes = 2, .dequant = dq_bf16, .quant = q_bf16},
};
#define N_TYPES ((int)(sizeof ggml_types / sizeof ggml_types[0]))

const ptq_ggml_type_info *ptq_ggml_types(int *n) {
    *n = N_TYPES;
    return ggml_types;
}

const ptq_ggml_type_info *ptq_ggml_type_info_of(int id) {
    for (int i = 0; i < N_TYPES; i++)
        if (ggml_types[i].id == id) return &ggml_types[i];
    return NULL;
}

const ptq_ggml_type_info *ptq_ggml_type_by_name(const char *name) {
    for (int i = 0; name && i < N_TYPES; i++)
        if (!strcasecmp(ggml_types[i].name, name)) return &ggml_types[i];
    return NULL;
}

long ptq_ggml_row_bytes(int id, long n, ptq_err *err) {
    const ptq_ggml_type_info *t = ptq_ggml_type_info_of(id);
    if (!t) return ptq_fail(err, "ggml type %d is not supported by this build", id);
    if (n <= 0 || n % t->block)
        return ptq_fail(err, "ggml type %s: a row of %ld values is not a positive multiple of the block size %d",
                        t->name, n, t->block);
    return n / t->block * t->block_bytes;
}

int ptq_ggml_dequantize(int id, const void *src, float *y, long nrows, long n, ptq_err *err) {
    long rb = ptq_ggml_row_bytes(id, n, err);
    if (rb < 0) return -1;
    const ptq_ggml_type_info *t = ptq_ggml_type_info_of(id);
#pragma omp parallel for schedule(static) if (nrows * n > 1 << 16)
    for (long r = 0; r < nrows; r++) t->dequant((const char *)src + r * rb, y + r * n, n);
    return 0;
}

int ptq_ggml_quantize(int id, const float *x, void *dst, long nrows, long n, const float *imatrix, ptq_err *err) {
    long rb = ptq_ggml_row_bytes(id, n, err);
    if (rb < 0) return -1;
    const ptq_ggml_type_info *t = ptq_ggml_type_info_of(id);
    for (long i = 0; i < nrows * n; i++)
        if (!isfinite(x[i]))
            return ptq_fail(err, "ggml %s quantization: weight %ld (row %ld) is not finite", t->name, i % n, i / n);
    for (long j = 0; imatrix && j < n; j++)
        if (!isfinite(imatrix[j]) || imatrix[j] < 0)
            return ptq_fail(err, "ggml %s quantization: imatrix column %ld is %g; expected a finite value >= 0",
                            t->name, j, imatrix[j]);
#pragma omp parallel for schedule(static) if (nrows * n > 1 << 14)
    for (long r = 0; r < nrows; r++) t->quant(x + r * n, (char *)dst + r * rb, n, imatrix);
    return 0;
}
