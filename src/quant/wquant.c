/* wquant.c — weight quantizer grids (METHODS.md §1), see wquant.h.
 * Symmetric grids use maxq_sym = 2^(b-1)-1 levels each side (QuaRot);
 * asymmetric ones include 0 in the range (GPTQ). An all-zero vector gets
 * scale 0, which quantizes it to exact zeros. */
#include "wquant.h"

#include <math.h>
#include <stdlib.h>

ptq_wq_opts ptq_wq_default(int bits, int sym) {
    ptq_wq_opts o = {bits, sym, 0, 1.f, 0, 100, 0.8f, 2.4f};
    return o;
}

/* Grid from the range [lo, hi] (lo <= 0 <= hi). */
static void grid(float lo, float hi, int bits, int sym, float *scale, float *zero) {
    int maxq = ptq_wq_maxq(bits);
    if (sym) {
        float amax = fmaxf(-lo, hi);
        *scale = amax / (float)(maxq / 2);
        *zero = 0.f;
        return;
    }
    if (hi == lo) {
        *scale = 0.f;
        *zero = 0.f;
        return;
    }
    *scale = (hi - lo) / (float)maxq;
    *zero = nearbyintf(-lo / *scale);
}

void ptq_wq_find_params(const float *x, int n, const ptq_wq_opts *o, float *scale, float *zero) {
    float lo = 0.f, hi = 0.f;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    float c = o->clip > 0.f ? o->clip : 1.f;
    lo *= c;
    hi *= c;
    grid(lo, hi, o->bits, o->sym, scale, zero);
    if (!o->mse || *scale == 0.f) return;
    /* GPTQ's search: shrink the range by p = 1 - i/grid, keep the best
     * sum |Q(x) - x|^norm (first minimum wins on ties). */
    int maxq = ptq_wq_maxq(o->bits), steps = (int)(o->maxshrink * o->grid);
    double best = INFINITY;
    for (int i = 0; i < steps; i++) {
        float p = 1.f - (float)i / (float)o->grid, s, z;
        grid(p * lo, p * hi, o->bits, o->sym, &s, &z);
        double e = 0.0;
        for (int j = 0; j < n; j++)
            e += pow(fabs((double)ptq_wq_apply(x[j], s, z, maxq, o->sym) - x[j]), o->norm);
        if (e < best) {
            best = e;
            *scale = s;
            *zero = z;
        }
    }
}

void ptq_wq_rtn(float *W, int rows, int cols, const ptq_wq_opts *o) {
    if (o->bits >= 16) return;
    int g = o->group > 0 && o->group < cols ? o->group : cols, maxq = ptq_wq_maxq(o->bits);
#pragma omp parallel for schedule(dynamic, 16)
    for (int r = 0; r < rows; r++) {
        float *w = W + (size_t)r * cols;
        for (int j = 0; j < cols; j += g) {
            int n = cols - j < g ? cols - j : g;
            float s, z;
            ptq_wq_find_params(w + j, n, o, &s, &z);
            for (int k = 0; k < n; k++)
                w[j + k] = ptq_wq_apply(w[j + k], s, z, maxq, o->sym);
        }
    }
}
