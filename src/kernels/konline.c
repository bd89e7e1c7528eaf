/* konline.c — the side branches a linear adds to its output on fp32 rows:
 * SpecQuant's low-frequency branch (FFTW r2c or, with few bins, a DFT-table
 * GEMM to k complex bins, then one real GEMM) and SEPTQ's sparse full-precision add (CSR). Matrix products go
 * through OpenBLAS. The online ops that transform a linear's input live in
 * model/online_ops.c (row kernels: hadamard.c, blockrot.c). */
#include "matmul.h"
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

/* The in x 2k DFT table of the first k bins; cos and sin of the exact
 * phase (j n mod N) / N in double, rounded once. */
static float *dft_build(int N, int k) {
    float *D = ptq_kalloc64(sizeof(float) * N * 2 * k);
    for (int n = 0; D && n < N; n++)
        for (int j = 0; j < k; j++) {
            double a = 6.283185307179586476925 * (double)((long)j * n % N) / N;
            D[(size_t)n * 2 * k + j] = (float)cos(a), D[(size_t)n * 2 * k + k + j] = (float)-sin(a);
        }
    return D;
}

/* Shared tables, one per (N, k), kept for the process (like FFTW plans). */
enum { DFT_SLOTS = 64 };
static struct {
    int n, k;
    float *d;
} dft_slots[DFT_SLOTS];
static int ndft;

static const float *dft_shared(int N, int k) {
    const float *d = NULL;
#pragma omp critical(ptq_lf_dft)
    {
        for (int i = 0; i < ndft && !d; i++)
            if (dft_slots[i].n == N && dft_slots[i].k == k) d = dft_slots[i].d;
        if (!d && ndft < DFT_SLOTS && (dft_slots[ndft].d = dft_build(N, k)))
            d = dft_slots[ndft].d, dft_slots[ndft].n = N, dft_slots[ndft++].k = k;
    }
    return d;
}

/* The table pays when its 2k multiply-adds per input are fewer than an
 * FFT's ~log2(in) butterflies (toy models: k = 1..3); with more bins
 * (LLaMA-7B shapes: k = 16 of 4096) FFTW's transforms are cheaper. A
 * property of the shape: every call of a branch takes the same path. */
enum { LF_DFT_MAXK = 16 };
static int lowfreq_use_dft(int in, int k) {
    int lg = 0;
    while ((1 << (lg + 1)) <= in) lg++;
    return k <= LF_DFT_MAXK && 2 * k <= lg;
}

/* The decimated path's M for rows of length in and k bins, or 0: M is the
 * power-of-two part of in, used when the odd part P has a prime factor above
 * 7 (FFTW's r2c of 11008 = 256 x 43 took 44 us, of 4096 3 us), M >= 16 and
 * k <= M/2 + 1. A property of the shape, like the DFT table's rule. */
static int lowfreq_dec_m(int in, int k) {
    int m = 1;
    while (in % (2 * m) == 0) m *= 2;
    int p = in / m, big = 0;
    for (int f = 3; f * f <= p || p > 1; f += 2) {
        if (f * f > p) f = p;
        while (p % f == 0) p /= f, big |= f > 7;
    }
    return big && m >= 16 && k <= m / 2 + 1 ? m : 0;
}

/* Complex scratch per row: the full transform's in/2 + 1 bins, or P x (M/2 + 1). */
static size_t lowfreq_fbins(const ptq_klowfreq *lf) {
    return lf->dec_m ? (size_t)(lf->in / lf->dec_m) * (lf->dec_m / 2 + 1) : (size_t)lf->in / 2 + 1;
}

/* P r2c transforms of length M reading x[b + P a] (stride P, distance 1) into
 * G (distance M/2 + 1), and the twiddles w^(jb) in double, rounded once. */
static int lowfreq_dec_setup(ptq_klowfreq *lf) {
    int M = lf->dec_m, P = lf->in / M, n[1] = {M}, k = lf->k;
    float *buf = fftwf_malloc(sizeof(float) * lf->in);
    fftwf_complex *G = fftwf_malloc(sizeof(fftwf_complex) * lowfreq_fbins(lf));
    lf->dec_tw = malloc(sizeof(float) * 2 * (size_t)k * P);
    if (buf && G && lf->dec_tw) {
        fftwf_plan plan;
#pragma omp critical(ptq_fftw_plan)
        plan = fftwf_plan_many_dft_r2c(1, n, P, buf, NULL, P, 1, G, NULL, 1, M / 2 + 1, FFTW_ESTIMATE);
        lf->dec_plan = plan;
        for (int j = 0; j < k; j++)
            for (int b = 0; b < P; b++) {
                double a = -6.283185307179586476925 * (double)((long)j * b % lf->in) / lf->in;
                lf->dec_tw[2 * ((size_t)j * P + b)] = (float)cos(a), lf->dec_tw[2 * ((size_t)j * P + b) + 1] = (float)sin(a);
            }
    }
    fftwf_free(buf), fftwf_free(G);
    return lf->dec_plan ? 0 : -1;
}

/* Sizes, coefficient storage, the DFT table and the r2c plan (planned on
 * scratch arrays, applied with the new-array execute). */
static int lowfreq_setup(ptq_klowfreq *lf, int out, int in, int k, ptq_err *err) {
    memset(lf, 0, sizeof *lf);
    if (out <= 0 || in <= 0 || k <= 0 || k > in / 2 + 1)
        return ptq_fail(err, "lowfreq: k=%d bins outside 1..%d for rows of %d", k, in / 2 + 1, in);
    lf->in = in, lf->out = out, lf->k = k;
    float *buf = fftwf_malloc(sizeof(float) * in);
    fftwf_complex *F = fftwf_malloc(sizeof(fftwf_complex) * (in / 2 + 1));
    lf->coef = ptq_kalloc64(sizeof(float) * out * 2 * k);
    if (lowfreq_use_dft(in, k) && !(lf->dft = dft_shared(in, k))) lf->dft = lf->dft_own = dft_build(in, k);
    if (buf && F && lf->coef && (lf->dft || !lowfreq_use_dft(in, k))) {
        fftwf_plan plan;
#pragma omp critical(ptq_fftw_plan)
        plan = fftwf_plan_dft_r2c_1d(in, buf, F, FFTW_ESTIMATE);
        lf->plan = plan;
    }
    fftwf_free(buf), fftwf_free(F);
    lf->dec_m = lf->dft ? 0 : lowfreq_dec_m(in, k);
    if (!lf->coef || !lf->plan || (lf->dec_m && lowfreq_dec_setup(lf))) {
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

/* One row's k lowest rfft bins into X (re then im); buf (in floats), F
 * (lowfreq_fbins complex): FFTW scratch. */
static void lowfreq_row(const ptq_klowfreq *lf, const float *x, float *X, float *buf, fftwf_complex *F) {
    int k = lf->k, in = lf->in;
    memcpy(buf, x, sizeof(float) * in);
    const float *f = (const float *)F;
    if (!lf->dec_m) {
        fftwf_execute_dft_r2c((fftwf_plan)lf->plan, buf, F);
        for (int j = 0; j < k; j++) X[j] = f[2 * j], X[k + j] = f[2 * j + 1];
        return;
    }
    /* X_j = sum_b G_b[j] w^(jb): G_b the length-M transform of x[b::P] */
    int P = in / lf->dec_m, gd = lf->dec_m / 2 + 1;
    fftwf_execute_dft_r2c((fftwf_plan)lf->dec_plan, buf, F);
    for (int j = 0; j < k; j++) {
        const float *tw = lf->dec_tw + 2 * (size_t)j * P;
        float re = 0.f, im = 0.f;
        for (int b = 0; b < P; b++) {
            float gr = f[2 * ((size_t)b * gd + j)], gi = f[2 * ((size_t)b * gd + j) + 1];
            re += gr * tw[2 * b] - gi * tw[2 * b + 1];
            im += gr * tw[2 * b + 1] + gi * tw[2 * b];
        }
        X[j] = re, X[k + j] = im;
    }
}

/* Rows this short (decode) use stack scratch and no OpenMP region: on small
 * models the branch's fixed costs (heap, team) were 5x its arithmetic. */
enum { LF_SMALL = 2048, LF_ROWS = 32 };

/* X (T x 2k): the rows' bins. With the DFT table, fixed chunks of LF_ROWS
 * rows of one sgemm each (one ptq_sgemm tile would be one thread; the same
 * chunks on any thread count); else a transform per row, short rows on the
 * calling thread (toy models: a parallel region per call cost more than the
 * transforms, 0.3x FP32 prefill under load). */
static int lowfreq_bins(const ptq_klowfreq *lf, const float *x, int T, float *X) {
    int k2 = 2 * lf->k, in = lf->in, fail = 0;
    if (lf->dft) {
        int nch = (T + LF_ROWS - 1) / LF_ROWS;
#pragma omp parallel for schedule(static) if (nch > 1 && (long)T * in >= PTQ_KPAR_MIN / 4)
        for (int c = 0; c < nch; c++) {
            int t0 = c * LF_ROWS, n = PTQ_MIN(LF_ROWS, T - t0);
            ptq_sgemm(CblasNoTrans, CblasNoTrans, n, k2, in, 1.f, x + (size_t)t0 * in, in, lf->dft, k2, 0.f,
                      X + (size_t)t0 * k2, k2);
        }
        return 0;
    }
    if (T == 1 && in <= LF_SMALL) {
        _Alignas(64) float buf[LF_SMALL];
        _Alignas(64) fftwf_complex F[LF_SMALL / 2 + LF_SMALL / 16 + 1]; /* P x (M/2+1) <= in/2 + in/16 (M >= 16) */
        lowfreq_row(lf, x, X, buf, F);
        return 0;
    }
#pragma omp parallel reduction(| : fail) if (T > 1 && (long)T * in >= PTQ_KPAR_MIN / 4)
    {
        float *buf = fftwf_malloc(sizeof(float) * in);
        fftwf_complex *F = fftwf_malloc(sizeof(fftwf_complex) * lowfreq_fbins(lf));
        if (!buf || !F) fail = 1;
#pragma omp for schedule(dynamic, 4)
        for (int t = 0; t < T; t++)
            if (buf && F) lowfreq_row(lf, x + (size_t)t * in, X + (size_t)t * k2, buf, F);
        fftwf_free(buf), fftwf_free(F);
    }
    return fail ? -1 : 0;
}

int ptq_klowfreq_apply(const ptq_klowfreq *lf, const float *x, int T, float *y, ptq_err *err) {
    ptq_kacts acts;
    memset(&acts, 0, sizeof acts);
    int rc = ptq_klowfreq_apply_acts(lf, x, T, y, &acts, err);
    ptq_kacts_free(&acts);
    return rc;
}

/* acts keeps the bins for the next linear on the same input. */
int ptq_klowfreq_apply_acts(const ptq_klowfreq *lf, const float *x, int T, float *y, ptq_kacts *acts,
                            ptq_err *err) {
    int k2 = 2 * lf->k;
    size_t need = (size_t)T * k2;
    float *X;
    if (acts->same_input && acts->lf_src == x && acts->lf_in == lf->in && acts->lf_T == T && acts->lf_k2 == k2)
        X = acts->lf_X; /* the bins the linear before formed from this input */
    else {
        if (need > acts->lf_cap) {
            free(acts->lf_X);
            acts->lf_cap = 0, acts->lf_src = NULL;
            if (!(acts->lf_X = ptq_kalloc64(sizeof(float) * need))) return ptq_fail(err, "lowfreq: out of memory");
            acts->lf_cap = need;
        }
        X = acts->lf_X;
        acts->lf_src = NULL;
        if (lowfreq_bins(lf, x, T, X)) return ptq_fail(err, "lowfreq: out of memory");
        acts->lf_src = x, acts->lf_in = lf->in, acts->lf_T = T, acts->lf_k2 = k2;
    }
    ptq_sgemm(CblasNoTrans, CblasTrans, T, lf->out, k2, 1.f, X, k2, lf->coef, k2, 1.f, y, lf->out);
    return 0;
}

void ptq_klowfreq_free(ptq_klowfreq *lf) {
    if (lf->plan) {
#pragma omp critical(ptq_fftw_plan)
        fftwf_destroy_plan((fftwf_plan)lf->plan);
    }
    if (lf->dec_plan) {
#pragma omp critical(ptq_fftw_plan)
        fftwf_destroy_plan((fftwf_plan)lf->dec_plan);
    }
    free(lf->coef);
    free(lf->dft_own);
    free(lf->dec_tw);
    memset(lf, 0, sizeof *lf);
}

int ptq_klowfreq_init_coef(ptq_klowfreq *lf, const float *spec, int out, int in, int k, ptq_err *err) {
    if (lowfreq_setup(lf, out, in, k, err)) return -1;
    for (int o = 0; o < out; o++) lowfreq_set_row(lf, o, spec + (size_t)o * 2 * k);
    return 0;
}

size_t ptq_klowfreq_bytes(const ptq_klowfreq *lf) { return sizeof(float) * (size_t)lf->out * 2 * lf->k; }

/* ---- SEPTQ sparse add ------------------------------------------------------ */

/* Blocks of 256 output rows, tokens inside: a block's entries stay in cache
 * while every token's row of x is visited once per block (rows outside,
 * tokens inside gathered from T rows of x per output: cache misses made the
 * correction cost several times the GEMM at T = 512). Each (t, o) sum runs
 * over the row's entries in order, as before. */
/* Rows [o0, o1) for one token (decode). The products val * x[col] of a run
 * of rows go to pr in one vectorized pass (the rows are short: ~in/100
 * entries, so a per-row loop was all overhead), then each row sums its own
 * in order into four partial sums (entry i into i mod 4). */
enum { CSR_CH = 2048 }; /* products per pass; a multiple of 4 */

static void csr_products(const ptq_kcsr *s, long p0, long n, const float *xt, float *pr) {
#pragma omp simd
    for (long i = 0; i < n; i++) pr[i] = s->val[p0 + i] * xt[s->col[p0 + i]];
}

static void csr_acc4(float a[4], const float *pr, long n) {
    long i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) a[j] += pr[i + j];
    for (int j = 0; i < n; i++, j++) a[j] += pr[i];
}

void ptq_kcsr_rows_1(const ptq_kcsr *s, int o0, int o1, const float *xt, float *yt) {
    float pr[CSR_CH];
    for (int o = o0; o < o1;) {
        long p0 = s->rowptr[o];
        int oe = o;
        while (oe < o1 && s->rowptr[oe + 1] - p0 <= CSR_CH) oe++;
        if (oe == o) { /* one row longer than a pass: its products in passes of CSR_CH */
            float a[4] = {0};
            for (long p = p0, e = s->rowptr[o + 1]; p < e; p += CSR_CH) {
                long n = PTQ_MIN(CSR_CH, e - p);
                csr_products(s, p, n, xt, pr);
                csr_acc4(a, pr, n);
            }
            yt[o++] += (a[0] + a[1]) + (a[2] + a[3]);
            continue;
        }
        csr_products(s, p0, s->rowptr[oe] - p0, xt, pr);
        for (; o < oe; o++) {
            float a[4] = {0};
            csr_acc4(a, pr + (s->rowptr[o] - p0), s->rowptr[o + 1] - s->rowptr[o]);
            yt[o] += (a[0] + a[1]) + (a[2] + a[3]);
        }
    }
}

/* Prefill: TB tokens at once from x transposed to xT (in x TB), so each
 * nonzero is one TB-wide multiply-add instead of TB gathers; per (token,
 * row) the sum runs over the row's nonzeros in the order the one-token path
 * uses. */
enum { CSR_TB = 16 };
static void csr_rows_tb(const ptq_kcsr *s, int o0, int o1, const float *xT, int tb, float *y, int t0) {
    for (int o = o0; o < o1; o++) {
        float acc[CSR_TB] = {0};
        for (long p = s->rowptr[o]; p < s->rowptr[o + 1]; p++) {
            const float *xc = xT + (size_t)s->col[p] * CSR_TB;
            float v = s->val[p];
#pragma omp simd
            for (int j = 0; j < CSR_TB; j++) acc[j] += v * xc[j];
        }
        for (int j = 0; j < tb; j++) y[(size_t)(t0 + j) * s->out + o] += acc[j];
    }
}

/* Output rows [o0, o1) for tokens [t0, t0 + tb). */
static void csr_block(const ptq_kcsr *s, const float *x, const float *xT, int tb, float *y, int t0, int o0, int o1) {
    if (xT) csr_rows_tb(s, o0, o1, xT, tb, y, t0);
    else
        for (int t = t0; t < t0 + tb; t++) ptq_kcsr_rows_1(s, o0, o1, x + (size_t)t * s->in, y + (size_t)t * s->out);
}

void ptq_kcsr_apply(const ptq_kcsr *s, const float *x, int T, float *y) {
    enum { OB = 256 };
    int nob = (s->out + OB - 1) / OB, ntb = (T + CSR_TB - 1) / CSR_TB;
    float *xT = T > 1 ? aligned_alloc(64, sizeof(float) * CSR_TB * (size_t)s->in) : NULL;
    for (int b = 0; b < ntb; b++) {
        int t0 = b * CSR_TB, tb = PTQ_MIN(CSR_TB, T - t0);
        if (xT)
            for (int i = 0; i < s->in; i++)
                for (int j = 0; j < CSR_TB; j++) xT[(size_t)i * CSR_TB + j] = j < tb ? x[(size_t)(t0 + j) * s->in + i] : 0.f;
        if ((long)tb * s->nnz < PTQ_KPAR_MIN / 4) /* no region: entering one, even under if (0), costs a team */
            csr_block(s, x, xT, tb, y, t0, 0, s->out);
        else {
#pragma omp parallel for schedule(dynamic, 1)
            for (int ob = 0; ob < nob; ob++) csr_block(s, x, xT, tb, y, t0, ob * OB, PTQ_MIN(s->out, ob * OB + OB));
        }
    }
    free(xT);
}

void ptq_kcsr_free(ptq_kcsr *s) {
    free(s->rowptr), free(s->col), free(s->val);
    memset(s, 0, sizeof *s);
}

size_t ptq_kcsr_bytes(const ptq_kcsr *s) {
    return sizeof(long) * (s->out + 1) + (sizeof(uint16_t) + sizeof(float)) * (size_t)s->nnz;
}
