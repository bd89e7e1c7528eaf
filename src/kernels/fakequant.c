/* fakequant.c — uniform fake quantizers; formulas in fakequant.h.
 * Rounding is round-half-to-even (nearbyintf), like torch.round. */
#include "fakequant.h"

#include <math.h>

void ptq_fq_vec(float *x, int n, int bits, int sym, float clip) {
    if (bits >= 16 || n <= 0) return;
    float lo = 0.f, hi = 0.f;
    for (int i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    lo *= clip;
    hi *= clip;
    if (sym) {
        float amax = fmaxf(-lo, hi);
        float maxq = (float)((1 << (bits - 1)) - 1);
        if (amax == 0.f) {
            for (int i = 0; i < n; i++) x[i] = 0.f;
            return;
        }
        float scale = amax / maxq;
        for (int i = 0; i < n; i++) {
            float q = nearbyintf(x[i] / scale);
            q = fminf(fmaxf(q, -maxq - 1.f), maxq);
            x[i] = scale * q;
        }
    } else {
        float maxq = (float)((1 << bits) - 1);
        if (hi == lo) {
            for (int i = 0; i < n; i++) x[i] = 0.f;
            return;
        }
        float scale = (hi - lo) / maxq;
        float zero = nearbyintf(-lo / scale);
        for (int i = 0; i < n; i++) {
            float q = nearbyintf(x[i] / scale) + zero;
            q = fminf(fmaxf(q, 0.f), maxq);
            x[i] = scale * (q - zero);
        }
    }
}

void ptq_fq_rows(float *x, int rows, int n, const ptq_act_qspec *q) {
    if (!q || q->bits >= 16 || q->bits <= 0) return;
    int g = q->group > 0 && q->group < n ? q->group : n;
    float clip = q->clip > 0.f ? q->clip : 1.f;
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        for (int j = 0; j < n; j += g) ptq_fq_vec(row + j, PTQ_MIN(g, n - j), q->bits, q->sym, clip);
    }
}
