/* konline.c — the methods' online ops on fp32 rows: SpecQuant's
 * low-frequency branch (FFTW r2c + one real GEMM over k complex bins),
 * SEPTQ's sparse full-precision add (CSR), ReSpinQuant's rank-r residual
 * correction, and RUQuant's block-diagonal rotation + permutation +
 * Householder reflection. Matrix products go through OpenBLAS. */
#include <cblas.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"

/* ---- SpecQuant low-frequency branch ---------------------------------------
 * Parseval for real x, w of length N: x.w = (1/N) sum_j c_j Re(X_j conj W_j)
 * over j = 0..N/2 with c_j = 1 for j = 0 and j = N/2 (N even), else 2. A row
 * of W_low has W_j = 0 for j >= k, so only bins j < k are needed:
 * x.w = sum_j Re X_j * (c_j Re W_j / N) + Im X_j * (c_j Im W_j / N). */

static float parseval_weight(int j, int N) { return (j == 0 || (N % 2 == 0 && j == N / 2)) ? 1.f : 2.f; }

/* Sizes, coefficient storage and the r2c plan (planned on scratch arrays,
 * applied with the new-array execute). */
static int lowfreq_setup(ptq_klowfreq *lf, int out, int in, int k, ptq_err *err) {
    memset(lf, 0, sizeof *lf);
    if (out <= 0 || in <= 0 || k <= 0 || k > in / 2 + 1)
        return ptq_fail(err, "lowfreq: k=%d bins outside 1..%d for rows of %d", k, in / 2 + 1, in);
    lf->in = in, lf->out = out, lf->k = k;
    float *buf = fftwf_malloc(sizeof(float) * in);
    fftwf_complex *F = fftwf_malloc(sizeof(fftwf_complex) * (in / 2 + 1));
    lf->coef = ptq_kalloc64(sizeof(float) * out * 2 * k);
    if (buf && F && lf->coef) {
        fftwf_plan plan;
#pragma omp critical(ptq_fftw_plan)
        plan = fftwf_plan_dft_r2c_1d(in, buf, F, FFTW_ESTIMATE);
        lf->plan = plan;
    }
    fftwf_free(buf), fftwf_free(F);
    if (!lf->coef || !lf->plan) {
        ptq_klowfreq_free(lf);
        return ptq_fail(err, "lowfreq: out of memory");
    }
    return 0;
}

/* Row o's coefficients from its first k bins (re, im interleaved), with the
 * Parseval weights folded in. */
static void lowfreq_set_row(ptq_klowfreq *lf, int o, const float *bins) {
    int k = lf->k;
    float *c = lf->coef + (size_t)o * 2 * k;
    for (int j = 0; j < k; j++) {
        float wj = parseval_weight(j, lf->in) / (float)lf->in;
        c[j] = bins[2 * j] * wj, c[k + j] = bins[2 * j + 1] * wj;
    }
}

int ptq_klowfreq_init(ptq_klowfreq *lf, const float *W_low, int out, int in, int k, ptq_err *err) {
    if (lowfreq_setup(lf, out, in, k, err)) return -1;
    float *buf = fftwf_malloc(sizeof(float) * in);
    fftwf_complex *F = fftwf_malloc(sizeof(fftwf_complex) * (in / 2 + 1));
    if (!buf || !F) {
        fftwf_free(buf), fftwf_free(F);
        ptq_klowfreq_free(lf);
        return ptq_fail(err, "lowfreq: out of memory");
    }
    for (int o = 0; o < out; o++) {
        memcpy(buf, W_low + (size_t)o * in, sizeof(float) * in);
        fftwf_execute_dft_r2c((fftwf_plan)lf->plan, buf, F);
        lowfreq_set_row(lf, o, (const float *)F); /* fftwf_complex may be a C99 complex */
    }
    fftwf_free(buf), fftwf_free(F);
    return 0;
}

int ptq_klowfreq_apply(const ptq_klowfreq *lf, const float *x, int T, float *y, ptq_err *err) {
    int k = lf->k, in = lf->in;
    float *X = ptq_kalloc64(sizeof(float) * T * 2 * k);
    if (!X) return ptq_fail(err, "lowfreq: out of memory");
    int fail = 0;
#pragma omp parallel reduction(| : fail) if (T > 1)
    {
        float *buf = fftwf_malloc(sizeof(float) * in);
        fftwf_complex *F = fftwf_malloc(sizeof(fftwf_complex) * (in / 2 + 1));
        if (!buf || !F) fail = 1;
#pragma omp for schedule(static)
        for (int t = 0; t < T; t++) {
            if (!buf || !F) continue;
            memcpy(buf, x + (size_t)t * in, sizeof(float) * in);
            fftwf_execute_dft_r2c((fftwf_plan)lf->plan, buf, F);
            float *xr = X + (size_t)t * 2 * k;
            const float *f = (const float *)F;
            for (int j = 0; j < k; j++) xr[j] = f[2 * j], xr[k + j] = f[2 * j + 1];
        }
        fftwf_free(buf), fftwf_free(F);
    }
    if (!fail)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, lf->out, 2 * k, 1.f, X, 2 * k, lf->coef, 2 * k, 1.f,
                    y, lf->out);
    free(X);
    return fail ? ptq_fail(err, "lowfreq: out of memory") : 0;
}

void ptq_klowfreq_free(ptq_klowfreq *lf) {
    if (lf->plan) {
#pragma omp critical(ptq_fftw_plan)
        fftwf_destroy_plan((fftwf_plan)lf->plan);
    }
    free(lf->coef);
    memset(lf, 0, sizeof *lf);
}

int ptq_klowfreq_init_coef(ptq_klowfreq *lf, const float *spec, int out, int in, int k, ptq_err *err) {
    if (lowfreq_setup(lf, out, in, k, err)) return -1;
    for (int o = 0; o < out; o++) lowfreq_set_row(lf, o, spec + (size_t)o * 2 * k);
    return 0;
}

size_t ptq_klowfreq_bytes(const ptq_klowfreq *lf) { return sizeof(float) * (size_t)lf->out * 2 * lf->k; }

/* ---- SEPTQ sparse add ------------------------------------------------------ */

int ptq_kcsr_from_dense(ptq_kcsr *s, const float *D, const unsigned char *keep, int out, int in, ptq_err *err) {
    memset(s, 0, sizeof *s);
    long nnz = 0;
    for (size_t i = 0; i < (size_t)out * in; i++) nnz += keep ? keep[i] != 0 : D[i] != 0.f;
    s->out = out, s->in = in, s->nnz = nnz;
    s->rowptr = malloc(sizeof(long) * (out + 1));
    s->col = malloc(sizeof(int) * (nnz ? nnz : 1));
    s->val = malloc(sizeof(float) * (nnz ? nnz : 1));
    if (!s->rowptr || !s->col || !s->val) {
        ptq_kcsr_free(s);
        return ptq_fail(err, "csr: out of memory for %ld entries", nnz);
    }
    long p = 0;
    for (int o = 0; o < out; o++) {
        s->rowptr[o] = p;
        for (int i = 0; i < in; i++) {
            size_t at = (size_t)o * in + i;
            if (keep ? keep[at] != 0 : D[at] != 0.f) s->col[p] = i, s->val[p++] = D[at];
        }
    }
    s->rowptr[out] = p;
    return 0;
}

void ptq_kcsr_apply(const ptq_kcsr *s, const float *x, int T, float *y) {
#pragma omp parallel for schedule(static) if ((long)T * s->nnz > 100000)
    for (int o = 0; o < s->out; o++)
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * s->in;
            float acc = 0.f;
            for (long p = s->rowptr[o]; p < s->rowptr[o + 1]; p++) acc += s->val[p] * xt[s->col[p]];
            y[(size_t)t * s->out + o] += acc;
        }
}

void ptq_kcsr_free(ptq_kcsr *s) {
    free(s->rowptr), free(s->col), free(s->val);
    memset(s, 0, sizeof *s);
}

size_t ptq_kcsr_bytes(const ptq_kcsr *s) {
    return sizeof(long) * (s->out + 1) + (sizeof(int) + sizeof(float)) * (size_t)s->nnz;
}

/* ---- scratch shared by the two ops below ---------------------------------- */

static int grow(float **buf, int *rows, int need_rows, size_t row_floats, ptq_err *err) {
    if (need_rows <= *rows) return 0;
    free(*buf);
    *buf = ptq_kalloc64(sizeof(float) * row_floats * need_rows);
    *rows = *buf ? need_rows : 0;
    return *buf ? 0 : ptq_fail(err, "online op: out of memory for %d rows", need_rows);
}

/* ---- ReSpinQuant rank-r correction ---------------------------------------- */

int ptq_klowrank_init(ptq_klowrank *lr, const float *Q, const float *M, int d, int r, ptq_err *err) {
    memset(lr, 0, sizeof *lr);
    if (d <= 0 || r <= 0 || r > d) return ptq_fail(err, "lowrank: rank %d outside 1..%d", r, d);
    lr->d = d, lr->r = r;
    lr->Q = malloc(sizeof(float) * d * r);
    lr->M = malloc(sizeof(float) * r * r);
    if (!lr->Q || !lr->M) {
        ptq_klowrank_free(lr);
        return ptq_fail(err, "lowrank: out of memory");
    }
    memcpy(lr->Q, Q, sizeof(float) * d * r);
    memcpy(lr->M, M, sizeof(float) * r * r);
    return 0;
}

int ptq_klowrank_apply(ptq_klowrank *lr, float *x, int T, ptq_err *err) {
    int d = lr->d, r = lr->r;
    if (grow(&lr->tmp, &lr->tmp_rows, T, 2 * (size_t)r, err)) return -1;
    float *Y = lr->tmp, *Z = lr->tmp + (size_t)T * r;
    /* Y = X Q (T x r), Z = Y M^T, X += Z Q^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, r, d, 1.f, x, d, lr->Q, r, 0.f, Y, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, r, r, 1.f, Y, r, lr->M, r, 0.f, Z, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, d, r, 1.f, Z, r, lr->Q, r, 1.f, x, d);
    return 0;
}

void ptq_klowrank_free(ptq_klowrank *lr) {
    free(lr->Q), free(lr->M), free(lr->tmp);
    memset(lr, 0, sizeof *lr);
}

/* ---- RUQuant block rotation + permutation + Householder ------------------- */

int ptq_kblockrot_init(ptq_kblockrot *br, int n, int B, const float *R1, const int *perm, const float *R2,
                       const float *omega, ptq_err *err) {
    memset(br, 0, sizeof *br);
    if (n <= 0 || B <= 0 || n % B) return ptq_fail(err, "blockrot: block %d must divide row length %d", B, n);
    br->n = n, br->B = B;
    br->R1 = malloc(sizeof(float) * B * B);
    br->R2 = malloc(sizeof(float) * B * B);
    br->perm = perm ? malloc(sizeof(int) * n) : NULL;
    br->w = omega ? malloc(sizeof(float) * n) : NULL;
    if (!br->R1 || !br->R2 || (perm && !br->perm) || (omega && !br->w)) {
        ptq_kblockrot_free(br);
        return ptq_fail(err, "blockrot: out of memory");
    }
    memcpy(br->R1, R1, sizeof(float) * B * B);
    memcpy(br->R2, R2 ? R2 : R1, sizeof(float) * B * B);
    if (perm) {
        unsigned char *seen = calloc(n, 1);
        int ok = seen != NULL;
        for (int i = 0; ok && i < n; i++) ok = perm[i] >= 0 && perm[i] < n && !seen[perm[i]]++;
        free(seen);
        if (!ok) {
            ptq_kblockrot_free(br);
            return ptq_fail(err, "blockrot: perm is not a permutation of 0..%d", n - 1);
        }
        memcpy(br->perm, perm, sizeof(int) * n);
    }
    if (omega) {
        double nn = 0;
        for (int i = 0; i < n; i++) nn += (double)omega[i] * omega[i];
        if (nn == 0) {
            ptq_kblockrot_free(br);
            return ptq_fail(err, "blockrot: Householder vector is zero");
        }
        for (int i = 0; i < n; i++) br->w[i] = (float)(omega[i] / sqrt(nn));
    }
    return 0;
}

int ptq_kblockrot_apply(ptq_kblockrot *br, float *x, int T, ptq_err *err) {
    int n = br->n, B = br->B, rows = (int)((size_t)T * n / B);
    if (grow(&br->tmp, &br->tmp_rows, T, (size_t)n, err)) return -1;
    float *t = br->tmp;
    /* every block of every row at once: (T n/B x B) R1^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, B, B, 1.f, x, B, br->R1, B, 0.f, t, B);
#pragma omp parallel for schedule(static) if (T > 4)
    for (int r = 0; r < T; r++) {
        float *dst = x + (size_t)r * n;
        const float *src = t + (size_t)r * n;
        if (br->perm)
            for (int i = 0; i < n; i++) dst[i] = src[br->perm[i]];
        else memcpy(dst, src, sizeof(float) * n);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, B, B, 1.f, x, B, br->R2, B, 0.f, t, B);
    memcpy(x, t, sizeof(float) * T * n);
    if (br->w) {
#pragma omp parallel for schedule(static) if (T > 4)
        for (int r = 0; r < T; r++) {
            float *v = x + (size_t)r * n, d = 0.f;
            for (int i = 0; i < n; i++) d += v[i] * br->w[i];
            for (int i = 0; i < n; i++) v[i] -= 2.f * d * br->w[i];
        }
    }
    return 0;
}

void ptq_kblockrot_free(ptq_kblockrot *br) {
    free(br->R1), free(br->R2), free(br->perm), free(br->w), free(br->tmp);
    memset(br, 0, sizeof *br);
}
