/* spectral.c — batched rfft/irfft of rows through FFTW3 with a plan cache,
 * fp16 rounding, the stored low-frequency branch (see spectral.h). */
#include "spectral.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_BATCH 32 /* rows per FFTW call; plans exist for this batch and 1 */
#define PLAN_SLOTS 64

typedef struct {
    int n, howmany, inverse;
    fftw_plan p;
} plan_slot;

static plan_slot plans[PLAN_SLOTS];
static int nplans;
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* The cached plan for (n, howmany, direction); created on first use. */
static fftw_plan get_plan(int n, int howmany, int inverse, ptq_err *err) {
    fftw_plan p = NULL;
    pthread_mutex_lock(&plan_lock);
    for (int i = 0; i < nplans && !p; i++)
        if (plans[i].n == n && plans[i].howmany == howmany && plans[i].inverse == inverse) p = plans[i].p;
    if (!p && nplans < PLAN_SLOTS) {
        int nb = ptq_spectral_nbins(n);
        double *r = fftw_malloc(sizeof(double) * (size_t)n * howmany);
        fftw_complex *c = fftw_malloc(sizeof(fftw_complex) * (size_t)nb * howmany);
        unsigned flags = FFTW_ESTIMATE | FFTW_UNALIGNED;
        if (r && c)
            p = inverse ? fftw_plan_many_dft_c2r(1, &n, howmany, c, NULL, 1, nb, r, NULL, 1, n, flags)
                        : fftw_plan_many_dft_r2c(1, &n, howmany, r, NULL, 1, n, c, NULL, 1, nb, flags);
        fftw_free(r);
        fftw_free(c);
        if (p) plans[nplans++] = (plan_slot){n, howmany, inverse, p};
    }
    pthread_mutex_unlock(&plan_lock);
    if (!p) ptq_fail(err, "FFTW: could not create a %s plan of length %d x %d", inverse ? "c2r" : "r2c", n, howmany);
    return p;
}

int ptq_rfft_rows(const float *x, int rows, int n, double *spec, ptq_err *err) {
    if (n <= 0 || rows < 0) return ptq_fail(err, "rfft: bad shape %d x %d", rows, n);
    int nb = ptq_spectral_nbins(n);
    double *buf = malloc(sizeof(double) * (size_t)n * PLAN_BATCH);
    if (!buf) return ptq_fail(err, "rfft: out of memory (%d x %d)", PLAN_BATCH, n);
    for (int r0 = 0; r0 < rows;) {
        int hm = rows - r0 >= PLAN_BATCH ? PLAN_BATCH : 1;
        fftw_plan p = get_plan(n, hm, 0, err);
        if (!p) {
            free(buf);
            return -1;
        }
        for (size_t i = 0; i < (size_t)hm * n; i++) buf[i] = x[(size_t)r0 * n + i];
        fftw_execute_dft_r2c(p, buf, (fftw_complex *)(spec + (size_t)r0 * nb * 2));
        r0 += hm;
    }
    free(buf);
    return 0;
}

int ptq_irfft_rows(const double *spec, int rows, int n, float *x, ptq_err *err) {
    if (n <= 0 || rows < 0) return ptq_fail(err, "irfft: bad shape %d x %d", rows, n);
    int nb = ptq_spectral_nbins(n);
    double *rbuf = malloc(sizeof(double) * (size_t)n * PLAN_BATCH);
    double *cbuf = malloc(sizeof(double) * 2 * (size_t)nb * PLAN_BATCH);
    if (!rbuf || !cbuf) {
        free(rbuf);
        free(cbuf);
        return ptq_fail(err, "irfft: out of memory (%d x %d)", PLAN_BATCH, n);
    }
    int rc = 0;
    for (int r0 = 0; r0 < rows;) {
        int hm = rows - r0 >= PLAN_BATCH ? PLAN_BATCH : 1;
        fftw_plan p = get_plan(n, hm, 1, err);
        if (!p) {
            rc = -1;
            break;
        }
        /* c2r overwrites its input: work on a copy */
        memcpy(cbuf, spec + (size_t)r0 * nb * 2, sizeof(double) * 2 * (size_t)nb * hm);
        fftw_execute_dft_c2r(p, (fftw_complex *)cbuf, rbuf);
        for (size_t i = 0; i < (size_t)hm * n; i++) x[(size_t)r0 * n + i] = (float)(rbuf[i] / n);
        r0 += hm;
    }
    free(rbuf);
    free(cbuf);
    return rc;
}

float ptq_round_fp16(float x) {
    if (!isfinite(x) || x == 0.f) return x;
    float a = fabsf(x);
    if (a >= 65504.f) return copysignf(65504.f, x);
    int e;
    frexpf(a, &e); /* a = m 2^e, m in [0.5, 1) */
    /* half has 11 significant bits for normals (e >= -13); subnormals have a
     * fixed quantum of 2^-24 */
    float quantum = e >= -13 ? ldexpf(1.f, e - 11) : ldexpf(1.f, -24);
    return copysignf(nearbyintf(a / quantum) * quantum, x);
}

void ptq_spectral_branch_free(ptq_spectral_branch *b) {
    free(b->k);
    free(b->coef);
    memset(b, 0, sizeof *b);
}

int ptq_spectral_branch_dense(const ptq_spectral_branch *b, float *W_low, ptq_err *err) {
    int nb = ptq_spectral_nbins(b->n);
    double *spec = calloc((size_t)b->out * nb * 2, sizeof(double));
    if (!spec) return ptq_fail(err, "spectral branch: out of memory (%d x %d)", b->out, b->n);
    for (int o = 0; o < b->out; o++)
        for (int j = 0; j < 2 * b->k[o]; j++) spec[(size_t)o * nb * 2 + j] = b->coef[(size_t)o * b->kmax * 2 + j];
    int rc = ptq_irfft_rows(spec, b->out, b->n, W_low, err);
    free(spec);
    return rc;
}

long ptq_spectral_branch_bytes(const ptq_spectral_branch *b) {
    long n = 2L * b->out; /* int16 k per row */
    for (int o = 0; o < b->out; o++) n += 4L * b->k[o];
    return n;
}
