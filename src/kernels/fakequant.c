/* fakequant.c — uniform fake quantizers; the formula is uniform.h's. */
#include "fakequant.h"

#include "uniform.h"

void ptq_fq_vec(float *x, int n, int bits, int sym, float clip) {
    if (bits >= 16 || n <= 0) return;
    float lo, hi, scale;
    int zero, maxq = ptq_uq_maxq(bits);
    ptq_uq_range(x, n, clip, &lo, &hi);
    ptq_uq_grid(lo, hi, bits, sym, &scale, &zero);
    for (int i = 0; i < n; i++) x[i] = ptq_uq_value(ptq_uq_code(x[i], scale, zero, maxq), scale, zero);
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
