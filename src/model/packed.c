/* packed.c — fake-quantized model -> packed integer model: grid recovery,
 * packing, the methods' side branches as kernels, and the view of the model
 * with the kernels attached (see packed.h). The forward pass is forward.c's. */
#include "packed.h"
#include "sidedata.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Integer grid of n values: w[i] = step * (k_i + lo - lo) with codes k_i + lo
 * in 0..2^bits-1. step 0 when every value is 0. */
static int recover_grid(const float *w, int n, int bits, float *sorted, float *step_out, int *lo_out) {
    int maxq = (1 << bits) - 1;
    float amax = 0.f;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i]));
    *step_out = 0.f, *lo_out = 0;
    if (amax == 0.f) return 0;
    memcpy(sorted, w, sizeof(float) * n);
    qsort(sorted, n, sizeof(float), cmp_f);
    double dmin = amax;
    for (int i = 0; i + 1 < n; i++)
        if (sorted[i + 1] > sorted[i]) dmin = fmin(dmin, (double)sorted[i + 1] - sorted[i]);
    /* the smallest gap is a multiple of the step (levels may be missing) */
    for (int m = 1; m <= maxq; m++) {
        double s = dmin / m;
        long kmin = 0, kmax = 0, kbig = 0;
        int ibig = -1, ok = 1;
        for (int i = 0; i < n && ok; i++) {
            double r = w[i] / s;
            long k = lround(r);
            ok = fabs(r - (double)k) <= 1e-2;
            kmin = k < kmin ? k : kmin, kmax = k > kmax ? k : kmax;
            if (labs(k) > kbig) kbig = labs(k), ibig = i;
        }
        if (!ok || kmax - kmin > maxq || ibig < 0) continue;
        float step = w[ibig] / (float)lround(w[ibig] / s); /* exact on the largest level */
        long lo = PTQ_MAX(0, -kmin), hi = PTQ_MIN(maxq, maxq - kmax);
        if (lo > hi) continue;
        *step_out = step, *lo_out = (int)lo;
        return 0;
    }
    return -1;
}

static uint8_t code_of(float w, float step, int lo, int maxq) {
    long k = step > 0.f ? lround(w / step) + lo : 0;
    return (uint8_t)PTQ_MIN(PTQ_MAX(k, 0), maxq);
}

/* Row r's kept entries start at kept[first[r]] (first: out + 1 offsets). */
static int kept_rows(const long *kept, long nkept, int out, int in, long *first, const char *what, ptq_err *err) {
    long p = 0;
    for (int r = 0; r <= out; r++) {
        first[r] = p;
        while (p < nkept && r < out && kept[p] / in == r) {
            if (p > 0 && kept[p] <= kept[p - 1]) break;
            p++;
        }
    }
    if (p != nkept)
        return ptq_fail(err, "%s: full-precision positions are not ascending flat indices below %d x %d", what, out,
                        in);
    return 0;
}

/* Row r (all groups): grid from the entries not kept, codes for all. */
static int pack_row(const float *row, int r, int in, int bits, int G, const long *kept, long k0, long k1,
                    uint8_t *codes, float *sc, int *zp, float *vals, float *sorted, unsigned char *off,
                    double *err_abs) {
    int ng = (in + G - 1) / G, maxq = (1 << bits) - 1;
    memset(off, 0, in);
    for (long p = k0; p < k1; p++) off[kept[p] - (long)r * in] = 1;
    for (int g = 0; g < ng; g++) {
        int c0 = g * G, n = PTQ_MIN(G, in - c0), m = 0;
        for (int i = 0; i < n; i++)
            if (!off[c0 + i]) vals[m++] = row[c0 + i];
        if (recover_grid(vals, m, bits, sorted, &sc[g], &zp[g])) return g + 1;
        for (int i = 0; i < n; i++) {
            codes[c0 + i] = code_of(row[c0 + i], sc[g], zp[g], maxq);
            if (!off[c0 + i])
                *err_abs = fmax(*err_abs, fabs((double)sc[g] * (codes[c0 + i] - zp[g]) - row[c0 + i]));
        }
    }
    return 0;
}

static int pack_core(const float *W, int out, int in, int bits, int group, const long *kept, long nkept,
                     ptq_kpacked *pk, ptq_kcsr *sp, double *max_rel_err, const char *what, ptq_err *err) {
    memset(pk, 0, sizeof *pk);
    if (sp) memset(sp, 0, sizeof *sp);
    if (bits < 2 || bits > 8) return ptq_fail(err, "%s: %d-bit weights cannot be packed (2..8)", what, bits);
    int G = group > 0 && group < in ? group : in, ng = (in + G - 1) / G;
    uint8_t *codes = malloc((size_t)out * in);
    float *sc = malloc(sizeof(float) * out * ng);
    int *zp = malloc(sizeof(int) * out * ng), rc = 0, bad_row = -1, bad_g = 0;
    long *first = calloc(out + 1, sizeof(long));
    double worst = 0, amax = 0;
    if (!codes || !sc || !zp || !first) rc = ptq_fail(err, "%s: out of memory while packing", what);
    if (!rc && kept_rows(kept, kept ? nkept : 0, out, in, first, what, err)) rc = -1;
#pragma omp parallel if (!rc && (long)out * in > 65536) reduction(max : worst, amax)
    {
        float *vals = malloc(sizeof(float) * G), *sorted = malloc(sizeof(float) * G);
        unsigned char *off = malloc(in);
#pragma omp for schedule(dynamic, 16)
        for (int r = 0; r < out; r++) {
            if (rc) continue;
            const float *row = W + (size_t)r * in;
            int g = !vals || !sorted || !off ? -1
                                             : pack_row(row, r, in, bits, G, kept, first[r], first[r + 1],
                                                        codes + (size_t)r * in, sc + (size_t)r * ng,
                                                        zp + (size_t)r * ng, vals, sorted, off, &worst);
            if (g) {
#pragma omp critical(ptq_pack_fail)
                if (bad_row < 0 || r < bad_row) bad_row = r, bad_g = g;
            }
            for (int i = 0; i < in; i++) amax = fmax(amax, fabs(row[i]));
        }
        free(vals), free(sorted), free(off);
    }
    if (!rc && bad_row >= 0)
        rc = bad_g < 0 ? ptq_fail(err, "%s: out of memory while packing", what)
                       : ptq_fail(err, "%s: row %d group %d is not on a %d-bit uniform grid (not fake-quantized at W%d%s?)",
                                  what, bad_row, bad_g - 1, bits, bits, group ? " with this group size" : "");
    if (!rc) rc = ptq_kpack(pk, codes, sc, zp, out, in, bits, group > 0 && group < in ? group : 0, err);
    if (!rc && sp) { /* the kept entries' distance from their code */
        sp->out = out, sp->in = in, sp->nnz = nkept;
        sp->rowptr = malloc(sizeof(long) * (out + 1));
        sp->col = malloc(sizeof(int) * (nkept ? nkept : 1));
        sp->val = malloc(sizeof(float) * (nkept ? nkept : 1));
        if (!sp->rowptr || !sp->col || !sp->val) rc = ptq_fail(err, "%s: out of memory for the sparse part", what);
        for (int r = 0; r <= out && !rc; r++) sp->rowptr[r] = first[r];
        for (long p = 0; p < nkept && !rc; p++) {
            long i = kept[p];
            int r = (int)(i / in), c = (int)(i % in), g = r * ng + c / G;
            sp->col[p] = c;
            sp->val[p] = W[i] - sc[g] * (float)(codes[i] - zp[g]);
        }
    }
    if (rc) {
        ptq_kpacked_free(pk);
        if (sp) ptq_kcsr_free(sp);
    }
    if (max_rel_err) *max_rel_err = amax > 0 ? worst / amax : 0;
    free(codes), free(sc), free(zp), free(first);
    return rc;
}

int ptq_pack_weights(const float *W, int out, int in, int bits, int group, ptq_kpacked *pk, double *max_rel_err,
                     const char *what, ptq_err *err) {
    return pack_core(W, out, in, bits, group, NULL, 0, pk, NULL, max_rel_err, what, err);
}

int ptq_pack_weights_sparse(const float *W, int out, int in, int bits, int group, const long *kept, long nkept,
                            ptq_kpacked *pk, ptq_kcsr *sp, double *max_rel_err, const char *what, ptq_err *err) {
    return pack_core(W, out, in, bits, group, kept, nkept, pk, sp, max_rel_err, what, err);
}

/* ---- the model ------------------------------------------------------------ */

/* method_data of a method that stores a side branch (sidedata.h header). */
static const void *side_of(const ptq_linear *l, const char *what) {
    const ptq_side_bytes *h = l->method_data;
    return h && h->magic == PTQ_SIDE_MAGIC && h->what && !strcmp(h->what, what) ? h : NULL;
}

/* Why the kernels cannot take this linear's activation quantizer (NULL: they can). */
static const char *act_unsupported(const ptq_act_qspec *q, int in) {
    if (q->bits >= 16) return NULL;
    if (q->bits < 2 || q->bits > 8) return "activation bits outside 2..8";
    if (q->group > 0 && q->group < in) return "per-group activation quantization";
    return NULL;
}

static int build_linear(ptq_lin_kernel *k, const ptq_linear *l, int bits, int group, double *rel, const char *what,
                        ptq_err *err) {
    const char *why = act_unsupported(&l->aq, l->in);
    if (why) return ptq_fail(err, "%s: %s (%d bits, group %d) has no packed kernel", what, why, l->aq.bits, l->aq.group);
    const ptq_septq_side *sep = side_of(l, "septq_sparse_fp16");
    const ptq_specquant_side *spec = side_of(l, "specquant_lowfreq_fp16");
    if (sep ? ptq_pack_weights_sparse(l->w, l->out, l->in, bits, group, sep->kept, sep->nkept, &k->w, &k->sp, rel,
                                      what, err)
            : ptq_pack_weights(l->w, l->out, l->in, bits, group, &k->w, rel, what, err))
        return -1;
    if (spec && l->w_side && spec->br.kmax > 0 && spec->br.out == l->out && spec->br.n == l->in) {
        if (ptq_klowfreq_init_coef(&k->lf, spec->br.coef, l->out, l->in, spec->br.kmax, err)) {
            ptq_lin_kernel_free(k);
            return ptq_wrap(err, "%s", what);
        }
    } else k->side_dense = l->w_side;
    return 0;
}

void ptq_packed_model_free(ptq_packed_model *pm) {
    if (pm->kern)
        for (int i = 0; i < pm->n; i++) ptq_lin_kernel_free(&pm->kern[i]);
    free(pm->kern), free(pm->packed), free(pm->view.layers);
    memset(pm, 0, sizeof *pm);
}

size_t ptq_packed_linear_bytes(const ptq_packed_model *pm, int i) {
    const ptq_linear *l = ptq_model_linear((ptq_model *)&pm->view, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
    size_t b = pm->packed[i] ? ptq_lin_kernel_bytes(&pm->kern[i])
                             : sizeof(float) * (size_t)l->out * l->in * (l->w_side ? 2 : 1);
    return b + (l->bias ? sizeof(float) * l->out : 0);
}

int ptq_packed_model_view(ptq_packed_model *pm, const ptq_model *m, ptq_err *err) {
    int L = m->cfg.n_layers;
    if (pm->n != L * PTQ_LIN_COUNT + 1)
        return ptq_fail(err, "packed model: %d linears, the model has %d", pm->n, L * PTQ_LIN_COUNT + 1);
    ptq_layer *layers = pm->view.layers;
    if (!layers && !(layers = ptq_calloc(L, sizeof(ptq_layer), err))) return -1;
    pm->view = *m; /* shallow: only the layer array is copied, so its linears can carry kernels */
    pm->view.layers = layers;
    memcpy(layers, m->layers, sizeof(ptq_layer) * L);
    pm->weight_bytes = 0;
    for (int i = 0; i < pm->n; i++) {
        ptq_linear *l = ptq_model_linear(&pm->view, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        l->kern = pm->packed[i] ? &pm->kern[i] : NULL;
        pm->weight_bytes += ptq_packed_linear_bytes(pm, i);
    }
    return 0;
}

int ptq_packed_model_build(ptq_packed_model *pm, const ptq_model *m, int w_bits, int w_group, ptq_err *err) {
    memset(pm, 0, sizeof *pm);
    int L = m->cfg.n_layers;
    pm->n = L * PTQ_LIN_COUNT + 1, pm->w_bits = w_bits, pm->w_group = w_group;
    if (!(pm->kern = ptq_calloc(pm->n, sizeof(ptq_lin_kernel), err)) ||
        !(pm->packed = ptq_calloc(pm->n, sizeof(int), err))) {
        ptq_packed_model_free(pm);
        return -1;
    }
    for (int i = 0; i < pm->n; i++) {
        int layer = i / PTQ_LIN_COUNT, which = i % PTQ_LIN_COUNT;
        const ptq_linear *l = ptq_model_linear((ptq_model *)m, layer, which);
        char what[96];
        if (layer < L) snprintf(what, sizeof what, "layer %d %s", layer, ptq_linear_names[which]);
        else snprintf(what, sizeof what, "lm_head");
        double e = 0;
        ptq_err e2;
        if (build_linear(&pm->kern[i], l, w_bits, w_group, &e, what, layer < L ? err : &e2)) {
            if (layer < L) {
                ptq_packed_model_free(pm);
                return -1;
            }
            continue; /* lm_head off the grid (most methods keep it in 16 bits): fp32 */
        }
        pm->packed[i] = 1;
        pm->max_rel_err = fmax(pm->max_rel_err, e);
    }
    if (ptq_packed_model_view(pm, m, err)) {
        ptq_packed_model_free(pm);
        return -1;
    }
    return 0;
}
