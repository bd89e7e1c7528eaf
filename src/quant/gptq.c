/* gptq.c — GPTQ (Frantar et al., ICLR 2023) on one weight matrix; see gptq.h
 * and METHODS.md §4. Rows are independent given Hinv, so the column loop of
 * each 128-column block runs rows in parallel; the lazy trailing update is one
 * sgemm per block. H is fp64, summed from fp32 products per batch (as the
 * reference's fp32 H); Hinv comes from one fp64 Cholesky of H reversed and
 * one triangular inverse (LAPACKE/BLAS on fixed tiles: same bits at any
 * thread count); the column loop runs in fp32 like the reference code.
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

#include "threads.h"
#include "uniform.h"

ptq_gptq_opts ptq_gptq_default(int bits) {
    ptq_gptq_opts o;
    memset(&o, 0, sizeof o);
    o.wq = ptq_wq_default(bits, 0);
    o.percdamp = 0.01;
    o.blocksize = 128;
    o.keep_mib = 1024;
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

enum { TILE = 256 }; /* fixed tiles: each is one single-threaded BLAS call, whatever the thread count */

static int ntiles(int n) {
    return (n + TILE - 1) / TILE;
}

/* Running mean: H <- H * N/(N+T) + 2/(N+T) X^T X (upper triangle). The
 * product is fp32 (ssyrk/sgemm per tile; the reference accumulates in fp32)
 * at half the time of fp64, folded into the fp64 H tile by tile. */
void ptq_hessian_add(ptq_hessian *h, const float *x, int T) {
    if (T <= 0) return;
    int n = h->n, nt = ntiles(n);
    long tot = h->nsamples + T;
    float sc = (float)sqrt(2.0 / (double)tot), *xs = malloc((size_t)T * n * sizeof(float));
    float *S = malloc((size_t)ptq_num_threads() * TILE * TILE * sizeof(float));
    if (!xs || !S) {
        free(xs), free(S);
        return;
    }
    double keep = (double)h->nsamples / (double)tot;
    for (size_t i = 0; i < (size_t)T * n; i++)
        xs[i] = sc * x[i];
#pragma omp parallel for schedule(dynamic, 1) if (nt > 1)
    for (long t = 0; t < (long)nt * nt; t++) {
        int bi = (int)(t / nt), bj = (int)(t % nt);
        if (bi > bj) continue;
        int i0 = bi * TILE, j0 = bj * TILE, m = PTQ_MIN(TILE, n - i0), w = PTQ_MIN(TILE, n - j0);
        float *s = S + (size_t)ptq_thread_id() * TILE * TILE;
        int tok = ptq_blas_serial_begin();
        if (bi == bj)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, m, T, 1.f, xs + i0, n, 0.f, s, w);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, w, T, 1.f, xs + i0, n, xs + j0, n, 0.f, s, w);
        ptq_blas_serial_end(tok);
        for (int i = 0; i < m; i++)
            for (int j = bi == bj ? i : 0; j < w; j++) {
                double *hij = h->H + (size_t)(i0 + i) * n + j0 + j;
                *hij = *hij * keep + s[i * w + j];
            }
    }
    h->nsamples = tot;
    free(xs), free(S);
}

/* Lower Cholesky of A (n x n, row-major, lower triangle read and written)
 * by TILE-column panels: the diagonal block (dpotrf), the tiles below it
 * (dtrsm) and the trailing tiles (dsyrk/dgemm) each on one BLAS thread, so
 * every element sees the same operations at any thread count (OpenBLAS's
 * threaded potrf rounds by its thread count). Returns LAPACK's info. */
static int chol_lower(double *A, int n) {
    int nt = ntiles(n);
    for (int k = 0; k < nt; k++) {
        int k0 = k * TILE, kb = PTQ_MIN(TILE, n - k0), tok = ptq_blas_serial_begin();
        double *Akk = A + (size_t)k0 * n + k0;
        int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', kb, Akk, n);
        ptq_blas_serial_end(tok);
        if (info) return k0 + info;
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = k + 1; i < nt; i++) { /* A[i, k] <- A[i, k] Akk^-T */
            int i0 = i * TILE, t2 = ptq_blas_serial_begin();
            cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, PTQ_MIN(TILE, n - i0), kb, 1.0,
                        Akk, n, A + (size_t)i0 * n + k0, n);
            ptq_blas_serial_end(t2);
        }
        int r = nt - k - 1;
#pragma omp parallel for schedule(dynamic, 1)
        for (long t = 0; t < (long)r * r; t++) { /* A[i, j] -= A[i, k] A[j, k]^T, k < j <= i */
            int i = k + 1 + (int)(t / r), j = k + 1 + (int)(t % r);
            if (j > i) continue;
            int i0 = i * TILE, j0 = j * TILE, ib = PTQ_MIN(TILE, n - i0), t2 = ptq_blas_serial_begin();
            const double *Ai = A + (size_t)i0 * n + k0;
            if (i == j)
                cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, ib, kb, -1.0, Ai, n, 1.0, A + (size_t)i0 * n + i0,
                            n);
            else
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ib, PTQ_MIN(TILE, n - j0), kb, -1.0, Ai, n,
                            A + (size_t)j0 * n + k0, n, 1.0, A + (size_t)i0 * n + j0, n);
            ptq_blas_serial_end(t2);
        }
    }
    return 0;
}

/* Hinv (fp32, n x n row-major, upper; zeroed by the caller) = the upper
 * Cholesky factor U of (H + damp I)^-1 from Hr = H reversed (Hr[i][j] =
 * H[n-1-i][n-1-j], lower triangle): with Hr = C C^T, H^-1 = U^T U for
 * U = J C^-1 J (J the reversal). One Cholesky and one triangular inverse
 * (2n^3/3 flops) instead of potrf, potri, potrf (4n^3/3). Column tile j of
 * C^-1 solves C[j0:, j0:] Y = I[j0:, tile] (one dtrsm into a per-thread
 * panel) and lands in U reversed, so no n x n fp64 inverse is held. Hr is
 * destroyed; udiag (n) gets diag(U) in fp64. */
static int hinv_factor(double *Hr, int n, double percdamp, float *Hinv, double *udiag, ptq_err *err) {
    double mean = 0;
    for (int j = 0; j < n; j++)
        mean += Hr[(size_t)j * n + j];
    mean /= n;
    for (int j = 0; j < n; j++)
        Hr[(size_t)j * n + j] += percdamp * mean;
    int info = chol_lower(Hr, n), nt = ntiles(n);
    if (info)
        return ptq_fail(err,
                        "GPTQ: Hessian (%dx%d) is not positive definite after damping %g (LAPACK info %d); "
                        "try a larger percdamp or more calibration data",
                        n, n, percdamp, info);
    double *panels = malloc((size_t)ptq_num_threads() * n * TILE * sizeof(double));
    if (!panels) return ptq_fail(err, "GPTQ: out of memory for a %dx%d inverse", n, n);
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 0; j < nt; j++) {
        int j0 = j * TILE, jb = PTQ_MIN(TILE, n - j0), m = n - j0;
        double *Y = panels + (size_t)ptq_thread_id() * n * TILE; /* m x jb */
        memset(Y, 0, (size_t)m * jb * sizeof(double));
        for (int c = 0; c < jb; c++)
            Y[(size_t)c * jb + c] = 1.0;
        int tok = ptq_blas_serial_begin();
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, m, jb, 1.0,
                    Hr + (size_t)j0 * n + j0, n, Y, jb);
        ptq_blas_serial_end(tok);
        for (int r = 0; r < m; r++) { /* C^-1[j0 + r][j0 + c] -> U[n-1-j0-r][n-1-j0-c] */
            float *u = Hinv + (size_t)(n - 1 - j0 - r) * n + (n - 1 - j0);
            for (int c = 0; c < jb && c <= r; c++)
                u[-c] = (float)Y[(size_t)r * jb + c];
            if (r < jb) udiag[n - 1 - j0 - r] = Y[(size_t)r * jb + r];
        }
    }
    free(panels);
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
    ptq_threads_adapt(); /* a linear is seconds of work: follow the free cores (auto policy) */
    double *Hr = malloc((size_t)cols * cols * sizeof(double)), *diag = malloc((size_t)cols * sizeof(double));
    int *perm = malloc((size_t)cols * sizeof(int));
    float *Wp = malloc((size_t)rows * cols * sizeof(float)), *Hf = calloc((size_t)cols * cols, sizeof(float));
    int bs = o->blocksize > 0 ? o->blocksize : 128;
    float *E = malloc((size_t)rows * bs * sizeof(float)), *rs = malloc((size_t)rows * sizeof(float));
    int *rz = malloc((size_t)rows * sizeof(int)), rc = 0;
    uint8_t *Cp = qw ? malloc((size_t)rows * cols) : NULL;                /* codes, permuted columns */
    int ag = qw && o->act_order && o->wq.group > 0 && o->wq.group < cols; /* groups of permuted columns */
    if (ag && !qw->gidx) qw->gidx = malloc(sizeof(int) * cols);
    if (!Hr || !diag || !perm || !Wp || !Hf || !E || !rs || !rz || (qw && !Cp) || (ag && !qw->gidx)) {
        rc = ptq_fail(err, "GPTQ: out of memory for a %dx%d layer", rows, cols);
        goto done;
    }
    for (int j = 0; j < cols; j++) {
        diag[j] = h->H[(size_t)j * cols + j];
        if (diag[j] == 0.0) /* dead input: never seen non-zero */
            for (int r = 0; r < rows; r++)
                W[(size_t)r * cols + j] = 0.f;
    }
    if (o->act_order) {
        if (argsort_desc(perm, diag, cols)) {
            rc = ptq_fail(err, "GPTQ: out of memory");
            goto done;
        }
    } else
        for (int j = 0; j < cols; j++)
            perm[j] = j;
    /* Permuted copies: Wp[:, k] = W[:, perm[k]]; Hr = H permuted likewise on both sides, then reversed
     * (lower triangle, from H's upper one), dead inputs with H_jj = 1 */
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++)
            Wp[(size_t)r * cols + k] = W[(size_t)r * cols + perm[k]];
    for (int i = 0; i < cols; i++) {
        int a = perm[cols - 1 - i];
        for (int j = 0; j <= i; j++) {
            int b = perm[cols - 1 - j];
            Hr[(size_t)i * cols + j] = h->H[(size_t)PTQ_MIN(a, b) * cols + PTQ_MAX(a, b)];
        }
        if (diag[a] == 0.0) Hr[(size_t)i * cols + i] = 1.0;
    }
    rc = hinv_factor(Hr, cols, o->percdamp, Hf, diag, err);
    free(Hr), Hr = NULL; /* before the column loop: H's copy is not needed */
    if (rc) goto done;
    if (hinv_diag)
        for (int k = 0; k < cols; k++)
            hinv_diag[perm[k]] = diag[k];

    int g = o->wq.group > 0 && o->wq.group < cols ? o->wq.group : 0, ng = g ? (cols + g - 1) / g : 1;
    int maxq = ptq_uq_maxq(o->wq.bits);
    if (!g) /* per-row grid from the whole (dead-column-zeroed) row, before any update */
#pragma omp parallel for schedule(dynamic, 8)
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
    for (int k = 0; ag && k < cols; k++)
        qw->gidx[perm[k]] = k / g; /* act-order: group k / g holds column perm[k] */
    if (qw && o->keep_mask) rc = ptq_qweight_set_sparse(qw, o->keep_mask, W, err); /* kept entries: off the grid */
done:
    free(Hr), free(diag), free(perm), free(Wp), free(Hf), free(E), free(rs), free(rz), free(Cp);
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

/* Hessians of the group grp from one pass (p's capture), then GPTQ of its linears. */
static int gstep(gwalk *g, ptq_model *m, int layer, const int *grp, const float *X, const ptq_calib *c,
                 ptq_calib_pass p, ptq_err *err) {
    int rc = 0;
    for (int k = 0; grp[k] >= 0 && !rc; k++) {
        int s = g_slot[grp[k]];
        if (!g->active[s]) rc = ptq_hessian_init(&g->h[s], m->layers[layer].lin[grp[k]].in, err);
        g->active[s] = 1;
    }
    p.cap = gcap, p.cap_ctx = g;
    if (!rc) rc = ptq_calib_pass_run(m, layer, X, c, &p, err);
    for (int k = 0; grp[k] >= 0 && !rc; k++)
        if (gptq_linear(&m->layers[layer].lin[grp[k]], &g->h[g_slot[grp[k]]], g->o, err))
            rc = ptq_wrap(err, "layer %d %s", layer, ptq_linear_names[grp[k]]);
    for (int s = 0; s < 4; s++)
        if (g->active[s]) ptq_hessian_free(&g->h[s]), g->active[s] = 0;
    return rc;
}

/* A kept part input of `per` floats per window, or NULL (recompute) above the cap or out of memory. */
static float *keep_buf(const gwalk *g, const ptq_calib *c, size_t per) {
    size_t bytes = (size_t)c->nsamples * per * sizeof(float);
    return (double)bytes <= g->o->keep_mib * 1048576.0 ? malloc(bytes) : NULL;
}

/* True-sequential: q/k/v from the block input; o from the attention output;
 * X += o(...) (the mid-block residual) while gate/up's input is captured;
 * down from the SwiGLU output; X += down(...). Each product runs once. */
static int gblock_staged(gwalk *g, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    static const int qkv[] = {PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V, -1}, o[] = {PTQ_LIN_O, -1},
                     gu[] = {PTQ_LIN_GATE, PTQ_LIN_UP, -1}, dn[] = {PTQ_LIN_DOWN, -1};
    size_t T = (size_t)c->seqlen;
    float *ko = keep_buf(g, c, T * m->cfg.dim), *kd = NULL;
    int rc = gstep(g, m, layer, qkv, X, c,
                   (ptq_calib_pass){.from = PTQ_PART_ATTN, .to = PTQ_PART_ATTN, .stop_after = PTQ_LIN_Q + 1}, err);
    if (!rc)
        rc = gstep(g, m, layer, o, X, c,
                   (ptq_calib_pass){.from = PTQ_PART_ATTN, .to = PTQ_PART_O, .keep = ko, .keep_part = PTQ_PART_O,
                                    .stop_after = PTQ_LIN_O + 1},
                   err);
    if (!rc)
        rc = gstep(g, m, layer, gu, X, c,
                   (ptq_calib_pass){
                       .from = PTQ_PART_O, .to = PTQ_PART_FFN, .in = ko, .out = X, .stop_after = PTQ_LIN_GATE + 1},
                   err);
    free(ko);
    if (!rc) kd = keep_buf(g, c, T * m->cfg.hidden_dim);
    if (!rc)
        rc = gstep(g, m, layer, dn, X, c,
                   (ptq_calib_pass){.from = PTQ_PART_FFN, .to = PTQ_PART_DOWN, .keep = kd, .keep_part = PTQ_PART_DOWN,
                                    .stop_after = PTQ_LIN_DOWN + 1},
                   err);
    if (!rc) {
        ptq_calib_pass p = {.from = PTQ_PART_DOWN, .to = PTQ_PART_DOWN, .in = kd, .out = X};
        rc = ptq_calib_pass_run(m, layer, X, c, &p, err);
    }
    free(kd);
    return rc;
}

int ptq_gptq_block(ptq_model *m, int layer, float *X, const ptq_calib *c, const ptq_gptq_opts *o, int true_seq,
                   ptq_err *err) {
    if (o->wq.bits >= 16) return 0;
    static const int all[PTQ_LIN_COUNT + 1] = {0, 1, 2, 3, 4, 5, 6, -1};
    gwalk g;
    memset(&g, 0, sizeof g);
    g.o = o;
    int rc;
    if (true_seq) rc = gblock_staged(&g, m, layer, X, c, err);
    else { /* all seven from the FP block, then X through the quantized block */
        rc = gstep(&g, m, layer, all, X, c,
                   (ptq_calib_pass){.from = PTQ_PART_ATTN, .to = PTQ_PART_DOWN, .stop_after = PTQ_LIN_DOWN + 1}, err);
        if (!rc) rc = ptq_calib_block_forward(m, layer, X, X, c, NULL, NULL, err);
    }
    return rc ? -1 : 1;
}
