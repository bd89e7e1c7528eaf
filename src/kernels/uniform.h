/* uniform.h — the uniform quantizer (METHODS.md §1), defined once for the
 * weight grids (quant/wquant.c), the fake quantizer (fakequant.c), the
 * kernels' per-token activation codes (kgemm.c) and the int KV cache.
 *
 * A value x of a vector with range [lo, hi] (lo <= 0 <= hi, the clip ratio
 * already applied) gets an integer code c in 0..maxq = 2^b - 1:
 *   asymmetric: scale = (hi - lo) / maxq, zero = round(-lo / scale);
 *   symmetric:  scale = max(-lo, hi) / (2^(b-1) - 1), zero = 2^(b-1)
 *               (c - zero in -2^(b-1)..2^(b-1)-1);
 *   c = clamp(round(x / scale) + zero, 0, maxq), x^ = scale * (c - zero).
 * A range of zero width gives scale 0: every code is the zero point and
 * x^ = +0. round is round-half-to-even (nearbyintf, like torch.round). */
#ifndef PTQ_UNIFORM_H
#define PTQ_UNIFORM_H

#include <math.h>

static inline int ptq_uq_maxq(int bits) { return (1 << bits) - 1; }

/* [lo, hi] of x[0..n) widened to include 0, times clip. */
static inline void ptq_uq_range(const float *x, int n, float clip, float *lo, float *hi) {
    float l = 0.f, h = 0.f;
    for (int i = 0; i < n; i++) {
        l = x[i] < l ? x[i] : l;
        h = x[i] > h ? x[i] : h;
    }
    *lo = l * clip;
    *hi = h * clip;
}

/* Scale and zero point of the range [lo, hi]. */
static inline void ptq_uq_grid(float lo, float hi, int bits, int sym, float *scale, int *zero) {
    if (sym) {
        float amax = fmaxf(-lo, hi);
        *zero = 1 << (bits - 1);
        *scale = amax == 0.f ? 0.f : amax / (float)((1 << (bits - 1)) - 1);
        return;
    }
    float s = hi == lo ? 0.f : (hi - lo) / (float)ptq_uq_maxq(bits);
    *scale = s == 0.f ? 0.f : s;
    float z = s == 0.f ? 0.f : nearbyintf(-lo / s);
    *zero = fabsf(z) <= 1e9f ? (int)z : 0; /* a non-finite range (overflowed activations): no UB conversion */
}

/* The code of x on the grid (scale, zero). */
static inline int ptq_uq_code(float x, float scale, int zero, int maxq) {
    if (scale == 0.f) return zero;
    float q = nearbyintf(x / scale) + (float)zero;
    q = q > 0.f ? q : 0.f; /* fminf(fmaxf(q, 0), maxq), NaN -> 0, without libm calls */
    return (int)(q < (float)maxq ? q : (float)maxq);
}

/* The value of code c. */
static inline float ptq_uq_value(int c, float scale, int zero) { return scale * (float)(c - zero); }

#endif
