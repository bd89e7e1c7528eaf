/* gptq.c — GPTQ (Frantar et al., ICLR 2023) on one weight matrix; see gptq.h
 * and METHODS.md §4. Rows are independent given Hinv, so the column loop of
 * each 128-column block runs rows in parallel; the lazy trailing update is one
 * sgemm per block. H and its Cholesky factors are fp64 (LAPACKE); the column
 * loop runs in fp32 like the reference code.
 * Group grids (groupsize > 0) are computed when the loop reaches the group's
 * first column, from the weights as updated so far (static_groups=False).
 * The codes and grids are recorded as the loop goes (the quantized weight);
 * with act-order, groups hold consecutive permuted columns (qweight gidx). */
#include "gptq.h"

#include "matmul.h"
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uniform.h"

ptq_gptq_opts ptq_gptq_default(int bits) {
    ptq_gptq_opts o;
    memset(&o, 0, sizeof o);
    o.wq = ptq_wq_default(bits, 0);
    o.percdamp = 0.01;
    o.blocksize = 128;
    return o;
}

int ptq_hessian_init(ptq_hessian *h, int n, ptq_err *err) {
    memset(h, 0, sizeof *h);
    h->H = ptq_calloc((size_t)n * n, sizeof(double), err);
    if (!h->H) return -1;
    h->n = n;
    return 0;
}

void ptq_hessian_free(ptq_hessian *h) {
    free(h->H);
    memset(h, 0, sizeof *h);
}

/* Running mean: H <- H * N/(N+T) + 2/(N+T) X^T X (upper triangle via dsyrk). */
void ptq_hessian_add(ptq_hessian *h, const float *x, int T) {
    if (T <= 0) return;
    int n = h->n;
    double *xd = malloc((size_t)T * n * sizeof(double));
    if (!xd) return;
    long tot = h->nsamples + T;
    double sc = sqrt(2.0 / (double)tot);
    for (size_t i = 0; i < (size_t)T * n; i++)
        xd[i] = sc * x[i];
    ptq_dsyrk_upper_t(n, T, 1.0, xd, n, (double)h->nsamples / (double)tot, h->H, n);
    h->nsamples = tot;
    free(xd);
}

/* Hinv (n x n, row-major, upper) = upper Cholesky factor of (H + damp I)^-1. */
static int hinv_factor(double *H, int n, double percdamp, ptq_err *err) {
    double mean = 0;
    for (int j = 0; j < n; j++)
        mean += H[(size_t)j * n + j];
    mean /= n;
    for (int j = 0; j < n; j++)
        H[(size_t)j * n + j] += percdamp * mean;
    int tok = ptq_blas_serial_begin(); /* OpenBLAS's threaded potrf rounds by its thread count */
    int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, H, n);
    if (!info) info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', n, H, n);
    if (!info) info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, H, n);
    ptq_blas_serial_end(tok);
    if (info)
        return ptq_fail(err,
                        "GPTQ: Hessian (%dx%d) is not positive definite after damping %g (LAPACK info %d); "
                        "try a larger percdamp or more calibration data",
                        n, n, percdamp, info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            H[(size_t)i * n + j] = 0.0;
    return 0;
}

typedef struct {
    double key;
    int idx;
} keyed;

static int cmp_desc(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    return x->key < y->key ? 1 : x->key > y->key ? -1 : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Argsort by descending key, ties by index (deterministic). */
static int argsort_desc(int *perm, const double *key, int n) {
    keyed *k = malloc((size_t)n * sizeof(keyed));
    if (!k) return -1;
    for (int i = 0; i < n; i++)
        k[i].key = key[i], k[i].idx = i;
    qsort(k, (size_t)n, sizeof(keyed), cmp_desc);
    for (int i = 0; i < n; i++)
        perm[i] = k[i].idx;
    free(k);
    return 0;
}

int ptq_gptq_quantize(float *W, int rows, int cols, const ptq_hessian *h, const ptq_gptq_opts *o, double *hinv_diag,
                      ptq_qweight *qw, ptq_err *err) {
    if (h->n != cols) return ptq_fail(err, "GPTQ: Hessian is %dx%d but the weight has %d columns", h->n, h->n, cols);
    if (h->nsamples <= 0) return ptq_fail(err, "GPTQ: Hessian has no calibration samples");
    size_t nn = (size_t)cols * cols;
    double *H = malloc(nn * sizeof(double)), *diag = malloc((size_t)cols * sizeof(double));
    int *perm = malloc((size_t)cols * sizeof(int));
    float *Wp = malloc((size_t)rows * cols * sizeof(float)), *Hf = malloc(nn * sizeof(float));
    int bs = o->blocksize > 0 ? o->blocksize : 128;
    float *E = malloc((size_t)rows * bs * sizeof(float)), *rs = malloc((size_t)rows * sizeof(float));
    int *rz = malloc((size_t)rows * sizeof(int)), rc = 0;
    uint8_t *Cp = qw ? malloc((size_t)rows * cols) : NULL; /* codes, permuted columns */
    int ag = qw && o->act_order && o->wq.group > 0 && o->wq.group < cols; /* groups of permuted columns */
    if (ag && !qw->gidx) qw->gidx = malloc(sizeof(int) * cols);
    if (!H || !diag || !perm || !Wp || !Hf || !E || !rs || !rz || (qw && !Cp) || (ag && !qw->gidx)) {
        rc = ptq_fail(err, "GPTQ: out of memory for a %dx%d layer", rows, cols);
        goto done;
    }
    for (int i = 0; i < cols; i++) /* symmetric copy from the upper triangle */
        for (int j = i; j < cols; j++)
            H[(size_t)i * cols + j] = H[(size_t)j * cols + i] = h->H[(size_t)i * cols + j];
    for (int j = 0; j < cols; j++) {
        diag[j] = H[(size_t)j * cols + j];
        if (diag[j] == 0.0) { /* dead input: never seen non-zero */
            H[(size_t)j * cols + j] = 1.0;
            for (int r = 0; r < rows; r++)
                W[(size_t)r * cols + j] = 0.f;
        }
    }
    if (o->act_order) {
        if (argsort_desc(perm, diag, cols)) {
            rc = ptq_fail(err, "GPTQ: out of memory");
            goto done;
        }
    } else
        for (int j = 0; j < cols; j++)
            perm[j] = j;
    /* Permuted copies: Wp[:, k] = W[:, perm[k]], H likewise on both sides. */
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++)
            Wp[(size_t)r * cols + k] = W[(size_t)r * cols + perm[k]];
    if (o->act_order) {
        double *Hp = malloc(nn * sizeof(double));
        if (!Hp) {
            rc = ptq_fail(err, "GPTQ: out of memory");
            goto done;
        }
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
                Hp[(size_t)i * cols + j] = H[(size_t)perm[i] * cols + perm[j]];
        memcpy(H, Hp, nn * sizeof(double));
        free(Hp);
    }
    if ((rc = hinv_factor(H, cols, o->percdamp, err))) goto done;
    for (size_t i = 0; i < nn; i++)
        Hf[i] = (float)H[i];
    if (hinv_diag)
        for (int k = 0; k < cols; k++)
            hinv_diag[perm[k]] = H[(size_t)k * cols + k];

    int g = o->wq.group > 0 && o->wq.group < cols ? o->wq.group : 0, ng = g ? (cols + g - 1) / g : 1;
    int maxq = ptq_uq_maxq(o->wq.bits);
    if (!g) /* per-row grid from the whole (dead-column-zeroed) row, before any update */
        for (int r = 0; r < rows; r++) {
            ptq_wq_find_params(Wp + (size_t)r * cols, cols, &o->wq, &rs[r], &rz[r]);
            if (qw) qw->scale[r] = rs[r], qw->zero[r] = rz[r];
        }
    for (int i1 = 0; i1 < cols; i1 += bs) {
        int i2 = PTQ_MIN(i1 + bs, cols), cnt = i2 - i1;
#pragma omp parallel for schedule(dynamic, 8)
        for (int r = 0; r < rows; r++) {
            float *w = Wp + (size_t)r * cols, *e = E + (size_t)r * bs;
            float s = rs[r];
            int z = rz[r];
            /* with groups, rs/rz hold the grid of the group in progress (blocks may start mid-group) */
            for (int j = i1; j < i2; j++) {
                if (g && j % g == 0) {
                    ptq_wq_find_params(w + j, PTQ_MIN(g, cols - j), &o->wq, &s, &z);
                    rs[r] = s, rz[r] = z;
                    if (qw) qw->scale[(size_t)r * ng + j / g] = s, qw->zero[(size_t)r * ng + j / g] = z;
                }
                int c = ptq_uq_code(w[j], s, z, maxq);
                float q = ptq_uq_value(c, s, z);
                if (o->keep_mask && o->keep_mask[(size_t)r * cols + perm[j]]) q = w[j], c = z;
                if (Cp) Cp[(size_t)r * cols + j] = (uint8_t)c;
                float ej = (w[j] - q) / Hf[(size_t)j * cols + j];
                w[j] = q;
                const float *hr = Hf + (size_t)j * cols;
                for (int k = j + 1; k < i2; k++)
                    w[k] -= ej * hr[k];
                e[j - i1] = ej;
            }
        }
        if (i2 < cols) /* lazy update: W[:, i2:] -= E (rows x cnt) * Hinv[i1:i2, i2:] */
            ptq_sgemm(CblasNoTrans, CblasNoTrans, rows, cols - i2, cnt, -1.f, E, bs, Hf + (size_t)i1 * cols + i2, cols,
                      1.f, Wp + i2, cols);
    }
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            W[(size_t)r * cols + perm[k]] = Wp[(size_t)r * cols + k];
            if (qw) qw->codes[(size_t)r * cols + perm[k]] = Cp[(size_t)r * cols + k];
        }
    for (int k = 0; ag && k < cols; k++) qw->gidx[perm[k]] = k / g; /* act-order: group k / g holds column perm[k] */
    if (qw && o->keep_mask) rc = ptq_qweight_set_sparse(qw, o->keep_mask, W, err); /* kept entries: off the grid */
done:
    free(H), free(diag), free(perm), free(Wp), free(Hf), free(E), free(rs), free(rz), free(Cp);
    return rc;
}

/* GPTQ of one linear into its qweight (w = its dequantized values). */
static int gptq_linear(ptq_linear *l, const ptq_hessian *h, const ptq_gptq_opts *o, ptq_err *err) {
    if (o->wq.bits >= 16) return 0;
    ptq_qweight *qw = ptq_wq_qweight(l->out, l->in, &o->wq, err);
    if (!qw || ptq_gptq_quantize(l->w, l->out, l->in, h, o, NULL, qw, err)) {
        ptq_qweight_free(qw);
        return -1;
    }
    return ptq_linear_set_qweight(l, qw, err);
}

/* ---- block walker ---- */
static const int g_slot[PTQ_LIN_COUNT] = {0, 0, 0, 1, 2, 2, 3}; /* linears sharing one input */

typedef struct {
    ptq_hessian h[4];
    int active[4];
    const ptq_gptq_opts *o;
    int true_seq;
} gwalk;

static void gcap(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    (void)x_q;
    (void)n;
    gwalk *g = ctx;
    if (layer < 0 || which < 0 || which >= PTQ_LIN_COUNT) return;
    int s = g_slot[which];
    /* q/k/v and gate/up see the same input: accumulate it once */
    if (g->active[s] && (which == PTQ_LIN_Q || which == PTQ_LIN_O || which == PTQ_LIN_GATE || which == PTQ_LIN_DOWN))
        ptq_hessian_add(&g->h[s], x_pre, T);
}

static int gblock(void *ctx, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    gwalk *g = ctx;
    static const int seq[4][PTQ_LIN_COUNT + 1] = {
        {PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V, -1}, {PTQ_LIN_O, -1}, {PTQ_LIN_GATE, PTQ_LIN_UP, -1}, {PTQ_LIN_DOWN, -1}};
    static const int all[PTQ_LIN_COUNT + 1] = {0, 1, 2, 3, 4, 5, 6, -1};
    int ngroups = g->true_seq ? 4 : 1, rc = 0;
    for (int gi = 0; gi < ngroups && !rc; gi++) {
        const int *grp = g->true_seq ? seq[gi] : all;
        for (int k = 0; grp[k] >= 0 && !rc; k++) {
            int s = g_slot[grp[k]];
            if (!g->active[s]) rc = ptq_hessian_init(&g->h[s], m->layers[layer].lin[grp[k]].in, err);
            g->active[s] = 1;
        }
        if (!rc) rc = ptq_calib_block_forward(m, layer, X, NULL, c, gcap, g, err);
        for (int k = 0; grp[k] >= 0 && !rc; k++)
            if (gptq_linear(&m->layers[layer].lin[grp[k]], &g->h[g_slot[grp[k]]], g->o, err))
                rc = ptq_wrap(err, "layer %d %s", layer, ptq_linear_names[grp[k]]);
        for (int s = 0; s < 4; s++)
            if (g->active[s]) ptq_hessian_free(&g->h[s]), g->active[s] = 0;
    }
    return rc;
}

int ptq_gptq_block(ptq_model *m, int layer, const float *X, const ptq_calib *c, const ptq_gptq_opts *o, int true_seq,
                   ptq_err *err) {
    if (o->wq.bits >= 16) return 0;
    gwalk g;
    memset(&g, 0, sizeof g);
    g.o = o;
    g.true_seq = true_seq;
    return gblock(&g, m, layer, (float *)X, c, err);
}
