/* packed.c — fake-quantized model -> packed integer model, and its forward
 * pass on the real low-bit kernels (see packed.h). The forward mirrors
 * forward.c step for step (same hooks, same order) so that its logits can be
 * compared with the fake-quant path; only the linears, the activation
 * quantization and the KV cache storage differ. */
#include "packed.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Integer grid of one row/group: w[i] = s * (codes[i] - z). */
static int recover_grid(const float *w, int n, int bits, float *sorted, uint8_t *codes, float *sc, int *zp,
                        double *err_abs) {
    int maxq = (1 << bits) - 1;
    float amax = 0.f;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i]));
    *err_abs = 0;
    if (amax == 0.f) {
        memset(codes, 0, n), *sc = 0.f, *zp = 0;
        return 0;
    }
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
        for (int i = 0; i < n; i++) {
            long k = lround(w[i] / step);
            codes[i] = (uint8_t)(k + lo);
            *err_abs = fmax(*err_abs, fabs((double)step * (double)k - w[i]));
        }
        *sc = step, *zp = (int)lo;
        return 0;
    }
    return -1;
}

int ptq_pack_weights(const float *W, int out, int in, int bits, int group, ptq_kpacked *pk, double *max_rel_err,
                     const char *what, ptq_err *err) {
    if (bits < 2 || bits > 8) return ptq_fail(err, "%s: %d-bit weights cannot be packed (2..8)", what, bits);
    int G = group > 0 && group < in ? group : in, ng = (in + G - 1) / G;
    uint8_t *codes = malloc((size_t)out * in);
    float *sc = malloc(sizeof(float) * out * ng), *sorted = malloc(sizeof(float) * G);
    int *zp = malloc(sizeof(int) * out * ng), rc = 0;
    double worst = 0, amax = 0;
    if (!codes || !sc || !sorted || !zp) rc = ptq_fail(err, "%s: out of memory while packing", what);
    for (int r = 0; r < out && !rc; r++)
        for (int g = 0; g < ng && !rc; g++) {
            int k0 = g * G, n = PTQ_MIN(G, in - k0);
            double e;
            const float *row = W + (size_t)r * in + k0;
            if (recover_grid(row, n, bits, sorted, codes + (size_t)r * in + k0, &sc[r * ng + g], &zp[r * ng + g], &e))
                rc = ptq_fail(err, "%s: row %d group %d is not on a %d-bit uniform grid (not fake-quantized at W%d%s?)",
                              what, r, g, bits, bits, group ? " with this group size" : "");
            worst = fmax(worst, e);
            for (int i = 0; i < n; i++) amax = fmax(amax, fabs(row[i]));
        }
    if (!rc) rc = ptq_kpack(pk, codes, sc, zp, out, in, bits, group > 0 && group < in ? group : 0, err);
    if (max_rel_err) *max_rel_err = amax > 0 ? worst / amax : 0;
    free(codes), free(sc), free(sorted), free(zp);
    return rc;
}

void ptq_packed_model_free(ptq_packed_model *pm) {
    if (pm->pk)
        for (int i = 0; i < pm->n; i++) ptq_kpacked_free(&pm->pk[i]);
    free(pm->pk), free(pm->packed);
    memset(pm, 0, sizeof *pm);
}

int ptq_packed_model_build(ptq_packed_model *pm, const ptq_model *m, int w_bits, int w_group, ptq_err *err) {
    memset(pm, 0, sizeof *pm);
    int L = m->cfg.n_layers;
    pm->n = L * PTQ_LIN_COUNT + 1, pm->w_bits = w_bits, pm->w_group = w_group;
    if (!(pm->pk = ptq_calloc(pm->n, sizeof(ptq_kpacked), err)) || !(pm->packed = ptq_calloc(pm->n, sizeof(int), err))) {
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
        if (ptq_pack_weights(l->w, l->out, l->in, w_bits, w_group, &pm->pk[i], &e, what, layer < L ? err : &e2)) {
            if (layer < L) {
                ptq_packed_model_free(pm);
                return -1;
            }
            pm->weight_bytes += sizeof(float) * (size_t)l->out * l->in; /* lm_head stays fp32 */
        } else {
            pm->packed[i] = 1;
            pm->weight_bytes += ptq_kpacked_bytes(&pm->pk[i]);
            pm->max_rel_err = fmax(pm->max_rel_err, e);
        }
        if (l->w_side) pm->weight_bytes += sizeof(float) * (size_t)l->out * l->in;
        if (l->bias) pm->weight_bytes += sizeof(float) * l->out;
    }
    return 0;
}

/* ---- state ---------------------------------------------------------------- */

void ptq_packed_state_free(ptq_packed_state *s) {
    float *f[] = {s->x, s->xb, s->xb2, s->q, s->k, s->v, s->hb, s->hb2, s->scratch, s->att, s->kc, s->vc, s->ksz, s->vsz};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    free(s->kcq), free(s->vcq);
    ptq_kacts_free(&s->acts);
    memset(s, 0, sizeof *s);
}

/* K/V are stored packed when every layer asks for the same 8- or 4-bit quantizer. */
static int kv_packable(const ptq_model *m, int v, ptq_kvfmt *f) {
    const ptq_act_qspec *q0 = v ? &m->layers[0].vq : &m->layers[0].kq;
    for (int l = 1; l < m->cfg.n_layers; l++) {
        const ptq_act_qspec *q = v ? &m->layers[l].vq : &m->layers[l].kq;
        if (memcmp(q, q0, sizeof *q)) return 0;
    }
    ptq_err e;
    return (q0->bits == 8 || q0->bits == 4) && ptq_kvfmt_init(f, q0->bits, m->cfg.head_dim, q0->group, q0->sym, q0->clip, &e) == 0;
}

int ptq_packed_state_init(ptq_packed_state *s, const ptq_model *m, int max_T, ptq_err *err) {
    memset(s, 0, sizeof *s);
    const ptq_config *c = &m->cfg;
    if (max_T <= 0 || max_T > c->max_seq) return ptq_fail(err, "packed state: %d tokens outside 1..%d", max_T, c->max_seq);
    s->max_T = max_T;
    size_t T = max_T, qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = PTQ_MAX((size_t)c->hidden_dim, PTQ_MAX(qd, (size_t)c->dim)), rows = (size_t)c->n_layers * c->max_seq * c->n_kv_heads;
    s->k_packed = kv_packable(m, 0, &s->kf);
    s->v_packed = kv_packable(m, 1, &s->vf);
    if (!(s->x = ptq_calloc(T * c->dim, 4, err)) || !(s->xb = ptq_calloc(T * wide, 4, err)) ||
        !(s->xb2 = ptq_calloc(T * wide, 4, err)) || !(s->q = ptq_calloc(T * qd, 4, err)) ||
        !(s->k = ptq_calloc(T * kvd, 4, err)) || !(s->v = ptq_calloc(T * kvd, 4, err)) ||
        !(s->hb = ptq_calloc(T * c->hidden_dim, 4, err)) || !(s->hb2 = ptq_calloc(T * c->hidden_dim, 4, err)) ||
        !(s->scratch = ptq_calloc(2 * T * wide, 4, err)) || !(s->att = ptq_calloc((size_t)c->n_heads * c->max_seq, 4, err)) ||
        (!s->k_packed && !(s->kc = ptq_calloc(rows * c->head_dim, 4, err))) ||
        (!s->v_packed && !(s->vc = ptq_calloc(rows * c->head_dim, 4, err))) ||
        (s->k_packed && (!(s->kcq = ptq_calloc(rows, s->kf.row_bytes, err)) || !(s->ksz = ptq_calloc(rows * 2 * s->kf.ngroups, 4, err)))) ||
        (s->v_packed && (!(s->vcq = ptq_calloc(rows, s->vf.row_bytes, err)) || !(s->vsz = ptq_calloc(rows * 2 * s->vf.ngroups, 4, err))))) {
        ptq_packed_state_free(s);
        return -1;
    }
    return 0;
}

size_t ptq_packed_kv_bytes(const ptq_packed_state *s, const ptq_model *m, int ctx) {
    size_t rows = (size_t)m->cfg.n_layers * ctx * m->cfg.n_kv_heads, hd = m->cfg.head_dim;
    size_t kb = s->k_packed ? rows * (s->kf.row_bytes + 2 * 4 * s->kf.ngroups) : rows * hd * 4;
    size_t vb = s->v_packed ? rows * (s->vf.row_bytes + 2 * 4 * s->vf.ngroups) : rows * hd * 4;
    return kb + vb;
}

/* ---- forward -------------------------------------------------------------- */

static void rmsnorm(float *o, const float *x, const float *w, int T, int n, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float ss = 0.f;
        for (int j = 0; j < n; j++) ss += xr[j] * xr[j];
        ss = 1.0f / sqrtf(ss / n + eps);
        for (int j = 0; j < n; j++) o[(size_t)t * n + j] = w[j] * (ss * xr[j]);
    }
}

static void rope(const ptq_model *m, float *x, int T, int nheads, int pos0) {
    int hd = m->cfg.head_dim, half = hd / 2, hf = m->cfg.rope_style == PTQ_ROPE_HALF;
    for (int t = 0; t < T; t++) {
        const float *cs = m->rope_cos + (size_t)(pos0 + t) * half, *sn = m->rope_sin + (size_t)(pos0 + t) * half;
        for (int h = 0; h < nheads; h++) {
            float *v = x + ((size_t)t * nheads + h) * hd;
            for (int i = 0; i < half; i++) {
                int a = hf ? i : 2 * i, b = hf ? i + half : 2 * i + 1;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * cs[i] - v1 * sn[i];
                v[b] = v0 * sn[i] + v1 * cs[i];
            }
        }
    }
}

/* One linear on the packed path: online op, activation codes, integer GEMM
 * (or weight-only dequant GEMM), fp32 side branch, bias. */
static int plin(const ptq_packed_model *pm, ptq_packed_state *s, const ptq_linear *l, int idx, const float *x, float *y,
                int T, ptq_err *err) {
    if (!pm->packed[idx]) {
        ptq_linear_forward(l, x, s->scratch, y, T, NULL, NULL, 0, 0);
        return 0;
    }
    const ptq_kpacked *pk = &pm->pk[idx];
    const float *pre = x;
    if (l->in_op.fn || l->w_side) {
        memcpy(s->scratch, x, sizeof(float) * T * l->in);
        if (l->in_op.fn) l->in_op.fn(l->in_op.ctx, s->scratch, T, l->in);
        pre = s->scratch;
    }
    if (l->aq.bits < 16) {
        if (l->aq.group > 0 && l->aq.group < l->in)
            return ptq_fail(err, "packed path: per-group activation quantization (group %d) is not supported", l->aq.group);
        if (l->aq.bits > 8) return ptq_fail(err, "packed path: %d-bit activations (2..8 or 16)", l->aq.bits);
        if (ptq_kact_quant(&s->acts, pre, T, l->in, l->aq.bits, l->aq.sym, l->aq.clip, pk->group, err) ||
            ptq_kgemm(&s->acts, pk, l->bias, y, err))
            return -1;
    } else if (ptq_kgemm_f32(pk, pre, T, l->bias, y, err))
        return -1;
    if (l->w_side)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, l->out, l->in, 1.f, pre, l->in, l->w_side, l->in, 1.f, y,
                    l->out);
    return 0;
}

static void kv_store(const ptq_model *m, ptq_packed_state *s, int l, int T, int pos0) {
    const ptq_config *c = &m->cfg;
    const ptq_layer *L = &m->layers[l];
    int hd = c->head_dim, nkv = c->n_kv_heads;
    if (!s->k_packed) ptq_fq_rows(s->k, T * nkv, hd, &L->kq);
    if (!s->v_packed) ptq_fq_rows(s->v, T * nkv, hd, &L->vq);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < nkv; h++) {
            size_t r = ((size_t)l * c->max_seq + pos0 + t) * nkv + h;
            const float *k = s->k + ((size_t)t * nkv + h) * hd, *v = s->v + ((size_t)t * nkv + h) * hd;
            if (s->k_packed)
                ptq_kv_quant_row(&s->kf, k, s->kcq + r * s->kf.row_bytes, s->ksz + r * 2 * s->kf.ngroups,
                                 s->ksz + r * 2 * s->kf.ngroups + s->kf.ngroups);
            else memcpy(s->kc + r * hd, k, sizeof(float) * hd);
            if (s->v_packed)
                ptq_kv_quant_row(&s->vf, v, s->vcq + r * s->vf.row_bytes, s->vsz + r * 2 * s->vf.ngroups,
                                 s->vsz + r * 2 * s->vf.ngroups + s->vf.ngroups);
            else memcpy(s->vc + r * hd, v, sizeof(float) * hd);
        }
}

static void attention(const ptq_model *m, ptq_packed_state *s, int l, int T, int pos0) {
    const ptq_config *c = &m->cfg;
    int hd = c->head_dim, nkv = c->n_kv_heads, grp = c->n_heads / nkv, qd = c->n_heads * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < c->n_heads; h++) {
        float *S = s->att + (size_t)h * c->max_seq;
        int kvh = h / grp;
        for (int t = 0; t < T; t++) {
            const float *q = s->q + (size_t)t * qd + (size_t)h * hd;
            int n = pos0 + t + 1;
            float mx = -INFINITY, sum = 0.f;
            for (int p = 0; p < n; p++) {
                size_t r = ((size_t)l * c->max_seq + p) * nkv + kvh;
                float d = 0.f;
                if (s->k_packed)
                    d = ptq_kv_dot(&s->kf, q, s->kcq + r * s->kf.row_bytes, s->ksz + r * 2 * s->kf.ngroups,
                                   s->ksz + r * 2 * s->kf.ngroups + s->kf.ngroups);
                else
                    for (int i = 0; i < hd; i++) d += q[i] * s->kc[r * hd + i];
                S[p] = d * scale;
                mx = S[p] > mx ? S[p] : mx;
            }
            for (int p = 0; p < n; p++) sum += (S[p] = expf(S[p] - mx));
            float *o = s->xb2 + (size_t)t * qd + (size_t)h * hd;
            memset(o, 0, sizeof(float) * hd);
            for (int p = 0; p < n; p++) {
                size_t r = ((size_t)l * c->max_seq + p) * nkv + kvh;
                float w = S[p] / sum;
                if (s->v_packed)
                    ptq_kv_axpy(&s->vf, w, s->vcq + r * s->vf.row_bytes, s->vsz + r * 2 * s->vf.ngroups,
                                s->vsz + r * 2 * s->vf.ngroups + s->vf.ngroups, o);
                else
                    for (int i = 0; i < hd; i++) o[i] += w * s->vc[r * hd + i];
            }
        }
    }
}

static int block(const ptq_model *m, const ptq_packed_model *pm, ptq_packed_state *s, int l, int T, int pos0,
                 ptq_err *err) {
    const ptq_config *c = &m->cfg;
    const ptq_layer *L = &m->layers[l];
    int d = c->dim, base = l * PTQ_LIN_COUNT;
    rmsnorm(s->xb, s->x, L->rms_att, T, d, c->norm_eps);
    if (plin(pm, s, &L->lin[PTQ_LIN_Q], base + PTQ_LIN_Q, s->xb, s->q, T, err) ||
        plin(pm, s, &L->lin[PTQ_LIN_K], base + PTQ_LIN_K, s->xb, s->k, T, err) ||
        plin(pm, s, &L->lin[PTQ_LIN_V], base + PTQ_LIN_V, s->xb, s->v, T, err))
        return -1;
    rope(m, s->q, T, c->n_heads, pos0);
    rope(m, s->k, T, c->n_kv_heads, pos0);
    if (L->qk_op.fn) {
        L->qk_op.fn(L->qk_op.ctx, s->q, T * c->n_heads, c->head_dim);
        L->qk_op.fn(L->qk_op.ctx, s->k, T * c->n_kv_heads, c->head_dim);
    }
    kv_store(m, s, l, T, pos0);
    attention(m, s, l, T, pos0);
    if (plin(pm, s, &L->lin[PTQ_LIN_O], base + PTQ_LIN_O, s->xb2, s->xb, T, err)) return -1;
    if (L->resid_op[0].fn) L->resid_op[0].fn(L->resid_op[0].ctx, s->x, T, d);
    for (size_t i = 0; i < (size_t)T * d; i++) s->x[i] += s->xb[i];
    rmsnorm(s->xb, s->x, L->rms_ffn, T, d, c->norm_eps);
    if (plin(pm, s, &L->lin[PTQ_LIN_GATE], base + PTQ_LIN_GATE, s->xb, s->hb, T, err) ||
        plin(pm, s, &L->lin[PTQ_LIN_UP], base + PTQ_LIN_UP, s->xb, s->hb2, T, err))
        return -1;
    for (size_t i = 0; i < (size_t)T * c->hidden_dim; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
    }
    if (plin(pm, s, &L->lin[PTQ_LIN_DOWN], base + PTQ_LIN_DOWN, s->hb, s->xb, T, err)) return -1;
    if (L->resid_op[1].fn) L->resid_op[1].fn(L->resid_op[1].ctx, s->x, T, d);
    for (size_t i = 0; i < (size_t)T * d; i++) s->x[i] += s->xb[i];
    return 0;
}

int ptq_packed_forward(const ptq_model *m, const ptq_packed_model *pm, ptq_packed_state *s, const int *tokens, int T,
                       int pos0, float *logits, ptq_err *err) {
    if (T <= 0 || T > s->max_T) return ptq_fail(err, "packed forward: %d tokens, state holds 1..%d", T, s->max_T);
    if (pos0 < 0 || pos0 + T > m->cfg.max_seq)
        return ptq_fail(err, "packed forward: positions %d..%d exceed max_seq %d", pos0, pos0 + T - 1, m->cfg.max_seq);
    if (ptq_forward_embed(m, tokens, T, s->x, err)) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (block(m, pm, s, l, T, pos0, err)) return -1;
    rmsnorm(s->xb, s->x, m->rms_final, T, m->cfg.dim, m->cfg.norm_eps);
    return plin(pm, s, &m->lm_head, pm->n - 1, s->xb, logits, T, err);
}
