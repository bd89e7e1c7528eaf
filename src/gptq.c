/* gptq.c — GPTQ (Frantar et al., ICLR 2023) on one weight matrix; see gptq.h
 * and METHODS.md §4. Rows are independent given Hinv, so the column loop of
 * each 128-column block runs rows in parallel; the lazy trailing update is one
 * sgemm per block. H and its Cholesky factors are fp64 (LAPACKE); the column
 * loop runs in fp32 like the reference code.
 * Group grids (groupsize > 0) are computed when the loop reaches the group's
 * first column, from the weights as updated so far (static_groups=False). */
#include "gptq.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    for (size_t i = 0; i < (size_t)T * n; i++) xd[i] = sc * x[i];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, T, 1.0, xd, n, (double)h->nsamples / (double)tot, h->H, n);
    h->nsamples = tot;
    free(xd);
}

/* Hinv (n x n, row-major, upper) = upper Cholesky factor of (H + damp I)^-1. */
static int hinv_factor(double *H, int n, double percdamp, ptq_err *err) {
    double mean = 0;
    for (int j = 0; j < n; j++) mean += H[(size_t)j * n + j];
    mean /= n;
    for (int j = 0; j < n; j++) H[(size_t)j * n + j] += percdamp * mean;
    int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, H, n);
    if (!info) info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', n, H, n);
    if (!info) info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, H, n);
    if (info)
        return ptq_fail(err, "GPTQ: Hessian (%dx%d) is not positive definite after damping %g (LAPACK info %d); "
                        "try a larger percdamp or more calibration data", n, n, percdamp, info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) H[(size_t)i * n + j] = 0.0;
    return 0;
}

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const double *d = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    return d[i] < d[j] ? 1 : d[i] > d[j] ? -1 : (i > j) - (i < j);
}

/* Stable argsort by descending key (insertion into a merge sort would do; n is small enough for qsort_r). */
static void argsort_desc(int *perm, const double *key, int n) {
    for (int i = 0; i < n; i++) perm[i] = i;
    qsort_r(perm, (size_t)n, sizeof(int), cmp_desc, (void *)key);
}

int ptq_gptq_quantize(float *W, int rows, int cols, const ptq_hessian *h, const ptq_gptq_opts *o, double *hinv_diag,
                      ptq_err *err) {
    if (h->n != cols) return ptq_fail(err, "GPTQ: Hessian is %dx%d but the weight has %d columns", h->n, h->n, cols);
    if (h->nsamples <= 0) return ptq_fail(err, "GPTQ: Hessian has no calibration samples");
    size_t nn = (size_t)cols * cols;
    double *H = malloc(nn * sizeof(double)), *diag = malloc((size_t)cols * sizeof(double));
    int *perm = malloc((size_t)cols * sizeof(int));
    float *Wp = malloc((size_t)rows * cols * sizeof(float)), *Hf = malloc(nn * sizeof(float));
    int bs = o->blocksize > 0 ? o->blocksize : 128;
    float *E = malloc((size_t)rows * bs * sizeof(float));
    int rc = 0;
    if (!H || !diag || !perm || !Wp || !Hf || !E) {
        rc = ptq_fail(err, "GPTQ: out of memory for a %dx%d layer", rows, cols);
        goto done;
    }
    for (int i = 0; i < cols; i++) /* symmetric copy from the upper triangle */
        for (int j = i; j < cols; j++) H[(size_t)i * cols + j] = H[(size_t)j * cols + i] = h->H[(size_t)i * cols + j];
    for (int j = 0; j < cols; j++) {
        diag[j] = H[(size_t)j * cols + j];
        if (diag[j] == 0.0) { /* dead input: never seen non-zero */
            H[(size_t)j * cols + j] = 1.0;
            for (int r = 0; r < rows; r++) W[(size_t)r * cols + j] = 0.f;
        }
    }
    if (o->act_order) argsort_desc(perm, diag, cols);
    else
        for (int j = 0; j < cols; j++) perm[j] = j;
    /* Permuted copies: Wp[:, k] = W[:, perm[k]], H likewise on both sides. */
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) Wp[(size_t)r * cols + k] = W[(size_t)r * cols + perm[k]];
    if (o->act_order) {
        double *Hp = malloc(nn * sizeof(double));
        if (!Hp) {
            rc = ptq_fail(err, "GPTQ: out of memory");
            goto done;
        }
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) Hp[(size_t)i * cols + j] = H[(size_t)perm[i] * cols + perm[j]];
        memcpy(H, Hp, nn * sizeof(double));
        free(Hp);
    }
    if ((rc = hinv_factor(H, cols, o->percdamp, err))) goto done;
    for (size_t i = 0; i < nn; i++) Hf[i] = (float)H[i];
    if (hinv_diag)
        for (int k = 0; k < cols; k++) hinv_diag[perm[k]] = H[(size_t)k * cols + k];

    int g = o->wq.group > 0 && o->wq.group < cols ? o->wq.group : 0, maxq = ptq_wq_maxq(o->wq.bits);
    for (int i1 = 0; i1 < cols; i1 += bs) {
        int i2 = PTQ_MIN(i1 + bs, cols), cnt = i2 - i1;
#pragma omp parallel for schedule(dynamic, 8)
        for (int r = 0; r < rows; r++) {
            float *w = Wp + (size_t)r * cols, *e = E + (size_t)r * bs;
            float s = 0.f, z = 0.f;
            if (!g) ptq_wq_find_params(w, cols, &o->wq, &s, &z); /* row grid; fixed before any update when i1 == 0 */
            for (int j = i1; j < i2; j++) {
                if (g && j % g == 0) ptq_wq_find_params(w + j, PTQ_MIN(g, cols - j), &o->wq, &s, &z);
                float q = ptq_wq_apply(w[j], s, z, maxq, o->wq.sym);
                if (o->keep_mask && o->keep_mask[(size_t)r * cols + perm[j]]) q = w[j];
                float ej = (w[j] - q) / Hf[(size_t)j * cols + j];
                w[j] = q;
                const float *hr = Hf + (size_t)j * cols;
                for (int k = j + 1; k < i2; k++) w[k] -= ej * hr[k];
                e[j - i1] = ej;
            }
        }
        if (i2 < cols) /* lazy update: W[:, i2:] -= E (rows x cnt) * Hinv[i1:i2, i2:] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols - i2, cnt, -1.f, E, bs,
                        Hf + (size_t)i1 * cols + i2, cols, 1.f, Wp + i2, cols);
    }
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) W[(size_t)r * cols + perm[k]] = Wp[(size_t)r * cols + k];
done:
    free(H), free(diag), free(perm), free(Wp), free(Hf), free(E);
    return rc;
}
