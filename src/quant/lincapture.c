/* lincapture.c — per-linear input statistics over a block's calibration run. */
#include "lincapture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ptq_lincap_init(ptq_lincap *c, int which, int n, int want_hessian, int sample_cap, long total_rows,
                    ptq_err *err) {
    memset(c, 0, sizeof *c);
    c->which = which;
    c->n = n;
    c->want_hessian = want_hessian;
    c->total_rows = total_rows;
    c->sample_cap = sample_cap > total_rows ? (int)total_rows : sample_cap;
    c->stride = c->sample_cap > 0 ? PTQ_MAX(1, total_rows / c->sample_cap) : 0;
    if (want_hessian && ptq_hessian_init(&c->H, n, err)) return -1;
    if (!(c->absmax = ptq_calloc(n, sizeof(float), err)) || !(c->mean = ptq_calloc(n, sizeof(double), err)) ||
        (c->sample_cap > 0 && !(c->sample = ptq_calloc((size_t)c->sample_cap * n, sizeof(float), err)))) {
        ptq_lincap_free(c);
        return -1;
    }
    return 0;
}

void ptq_lincap_free(ptq_lincap *c) {
    if (c->want_hessian) ptq_hessian_free(&c->H);
    free(c->absmax);
    free(c->mean);
    free(c->sample);
    memset(c, 0, sizeof *c);
}

typedef struct {
    ptq_lincap *caps;
    int ncap, layer;
} cap_ctx;

static void on_input(void *ctx, int layer, int which, const float *x, const float *x_q, int T, int n) {
    cap_ctx *cc = ctx;
    (void)x_q;
    if (layer != cc->layer) return;
    for (int i = 0; i < cc->ncap; i++) {
        ptq_lincap *c = &cc->caps[i];
        if (c->which != which || c->n != n) continue;
        if (c->want_hessian) ptq_hessian_add(&c->H, x, T);
        for (int t = 0; t < T; t++) {
            const float *xr = x + (size_t)t * n;
            for (int j = 0; j < n; j++) {
                c->absmax[j] = fmaxf(c->absmax[j], fabsf(xr[j]));
                c->mean[j] += xr[j];
            }
            long g = c->rows_seen + t;
            if (c->stride && g % c->stride == 0 && c->sample_rows < c->sample_cap)
                memcpy(c->sample + (size_t)c->sample_rows++ * n, xr, sizeof(float) * n);
        }
        c->rows_seen += T;
    }
}

int ptq_lincap_block(const ptq_model *m, int layer, const float *X, const ptq_calib *c, ptq_lincap *caps, int ncap,
                     ptq_err *err) {
    cap_ctx cc = {caps, ncap, layer};
    int last = 0; /* the block runs only up to the last linear captured */
    for (int i = 0; i < ncap; i++) last = PTQ_MAX(last, caps[i].which);
    if (ptq_calib_block_capture(m, layer, X, c, last, on_input, &cc, err)) return -1;
    for (int i = 0; i < ncap; i++)
        if (caps[i].rows_seen > 0)
            for (int j = 0; j < caps[i].n; j++) caps[i].mean[j] /= (double)caps[i].rows_seen;
    return 0;
}
