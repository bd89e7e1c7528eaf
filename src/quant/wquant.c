/* wquant.c — weight quantizer grids (METHODS.md §1), see wquant.h.
 * Symmetric grids use 2^(b-1)-1 levels each side of zero (QuaRot);
 * asymmetric ones include 0 in the range (GPTQ). An all-zero vector gets
 * scale 0, which quantizes it to exact zeros (uniform.h). */
#include "wquant.h"

#include <math.h>
#include <stdlib.h>

#include "uniform.h"

ptq_wq_opts ptq_wq_default(int bits, int sym) {
    ptq_wq_opts o = {bits, sym, 0, 1.f, 0, 100, 0.8f, 2.4f};
    return o;
}

void ptq_wq_find_params(const float *x, int n, const ptq_wq_opts *o, float *scale, int *zero) {
    float lo, hi;
    ptq_uq_range(x, n, o->clip > 0.f ? o->clip : 1.f, &lo, &hi);
    ptq_uq_grid(lo, hi, o->bits, o->sym, scale, zero);
    if (!o->mse || *scale == 0.f) return;
    /* GPTQ's search: shrink the range by p = 1 - i/grid, keep the best
     * sum |Q(x) - x|^norm (first minimum wins on ties). */
    int maxq = ptq_uq_maxq(o->bits), steps = (int)(o->maxshrink * o->grid);
    double best = INFINITY;
    for (int i = 0; i < steps; i++) {
        float p = 1.f - (float)i / (float)o->grid, s;
        int z;
        ptq_uq_grid(p * lo, p * hi, o->bits, o->sym, &s, &z);
        /* The terms are >= 0 and a rounded sum of them never decreases, so
         * once the partial sum reaches best this shrink cannot win: stop
         * (the same choice as the full sum; pow was 90% of SEPTQ's time). */
        double e = 0.0;
        for (int j0 = 0; j0 < n && e < best; j0 += 32)
            for (int j = j0; j < PTQ_MIN(n, j0 + 32); j++)
                e += pow(fabs((double)ptq_uq_value(ptq_uq_code(x[j], s, z, maxq), s, z) - x[j]), o->norm);
        if (e < best) {
            best = e;
            *scale = s;
            *zero = z;
        }
    }
}

ptq_qweight *ptq_wq_qweight(int rows, int cols, const ptq_wq_opts *o, ptq_err *err) {
    return ptq_qweight_new(rows, cols, o->bits, o->group, o->sym, err);
}

void ptq_wq_rtn(float *W, int rows, int cols, const ptq_wq_opts *o, ptq_qweight *qw) {
    if (o->bits >= 16) return;
    int g = o->group > 0 && o->group < cols ? o->group : cols, ng = (cols + g - 1) / g, maxq = ptq_uq_maxq(o->bits);
#pragma omp parallel for schedule(dynamic, 16)
    for (int r = 0; r < rows; r++) {
        float *w = W + (size_t)r * cols;
        for (int j = 0; j < cols; j += g) {
            int n = cols - j < g ? cols - j : g, z;
            float s;
            ptq_wq_find_params(w + j, n, o, &s, &z);
            if (qw) qw->scale[(size_t)r * ng + j / g] = s, qw->zero[(size_t)r * ng + j / g] = z;
            for (int k = 0; k < n; k++) {
                int c = ptq_uq_code(w[j + k], s, z, maxq);
                if (qw) qw->codes[(size_t)r * cols + j + k] = (uint8_t)c;
                w[j + k] = ptq_uq_value(c, s, z);
            }
        }
    }
}

int ptq_wq_linear(ptq_linear *l, const ptq_wq_opts *o, ptq_err *err) {
    if (o->bits >= 16) return 0;
    ptq_qweight *qw = ptq_wq_qweight(l->out, l->in, o, err);
    if (!qw) return -1;
    ptq_wq_rtn(l->w, l->out, l->in, o, qw);
    return ptq_linear_set_qweight(l, qw, err);
}

int ptq_wq_layer(ptq_model *m, int layer, const ptq_wq_opts *o, ptq_err *err) {
    for (int j = 0; j < PTQ_LIN_COUNT; j++)
        if (ptq_wq_linear(&m->layers[layer].lin[j], o, err))
            return ptq_wrap(err, "layer %d %s", layer, ptq_linear_names[j]);
    return 0;
}

int ptq_wq_lm_head(ptq_model *m, const ptq_wq_opts *o, ptq_err *err) {
    if (o->bits >= 16) return 0;
    if (ptq_model_untie(m, err) || ptq_wq_linear(&m->lm_head, o, err)) return ptq_wrap(err, "lm_head");
    return 0;
}
