/* rotations.c — Householder/Givens builders, RUQuant's get_R, zigzag
 * permutation, block-diagonal application (see rotations.h). */
#include "rotations.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ptq_householder_unit(const double *v, const double *t, int n, double *u) {
    double nn = 0, vn = 0;
    for (int i = 0; i < n; i++) {
        u[i] = v[i] - t[i];
        nn += u[i] * u[i];
        vn += v[i] * v[i];
    }
    if (nn <= 1e-24 * (vn + 1e-300)) {
        memset(u, 0, sizeof(double) * n);
        return 0;
    }
    nn = 1.0 / sqrt(nn);
    for (int i = 0; i < n; i++) u[i] *= nn;
    return 1;
}

/* Same on double rows (calibration state and the accumulated rotation). */
static void householder_rows_d(double *x, long rows, int n, const double *u) {
#pragma omp parallel for schedule(static) if (rows > 256)
    for (long r = 0; r < rows; r++) {
        double *xr = x + r * n, d = 0;
        for (int i = 0; i < n; i++) d += xr[i] * u[i];
        for (int i = 0; i < n; i++) xr[i] -= 2 * d * u[i];
    }
}

/* Largest |entry| of V over `count` vectors of length n: index of the vector. */
static long argmax_abs_row(const double *V, long count, int n) {
    long best = 0;
    double m = -1;
    for (long i = 0; i < count * n; i++)
        if (fabs(V[i]) > m) {
            m = fabs(V[i]);
            best = i / n;
        }
    return best;
}

/* normalize(U[0,1)^n) * norm */
static void uniform_target(ptq_rng *rng, int n, double norm, double *t) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        t[i] = ptq_rng_uniform(rng);
        s += t[i] * t[i];
    }
    s = s > 0 ? norm / sqrt(s) : 0;
    for (int i = 0; i < n; i++) t[i] *= s;
}

static void permute_rows_d(double *x, long rows, int n, const int *p, double *tmp) {
    for (long r = 0; r < rows; r++) {
        double *xr = x + r * n;
        for (int i = 0; i < n; i++) tmp[i] = xr[p[i]];
        memcpy(xr, tmp, sizeof(double) * n);
    }
}

/* Pairs (2i, 2i+1) of every row rotated by (c_i, s_i): (a, b) -> (c a - s b, s a + c b). */
static void givens_rows_d(double *x, long rows, int n, const double *c, const double *s) {
#pragma omp parallel for schedule(static) if (rows > 256)
    for (long r = 0; r < rows; r++) {
        double *xr = x + r * n;
        for (int i = 0; i + 1 < n; i += 2) {
            double a = xr[i], b = xr[i + 1];
            xr[i] = c[i / 2] * a - s[i / 2] * b;
            xr[i + 1] = s[i / 2] * a + c[i / 2] * b;
        }
    }
}

/* One Givens round: every pair of the max vector v is rotated onto a random
 * 2-D target t of the same norm: cos = <t,v>/|t||v|, sin = (v0 t1 - v1 t0)/|t||v|,
 * which maps v onto t with the (a,b) -> (c a - s b, s a + c b) convention. */
static void givens_round(double *V, long count, double *M, int B, ptq_rng *rng, double *c, double *s) {
    const double *v = V + argmax_abs_row(V, count, B) * B;
    for (int i = 0; i + 1 < B; i += 2) {
        double v0 = v[i], v1 = v[i + 1], nv = hypot(v0, v1), t[2];
        uniform_target(rng, 2, nv, t);
        if (nv < 1e-30) {
            c[i / 2] = 1;
            s[i / 2] = 0;
            continue;
        }
        c[i / 2] = (t[0] * v0 + t[1] * v1) / (nv * nv);
        s[i / 2] = (v0 * t[1] - v1 * t[0]) / (nv * nv);
        double r = hypot(c[i / 2], s[i / 2]); /* exact unit length */
        c[i / 2] /= r;
        s[i / 2] /= r;
    }
    givens_rows_d(V, count, B, c, s);
    givens_rows_d(M, B, B, c, s);
}

int ptq_ru_get_R(const float *X, long count, int B, int K, int lambda, ptq_rng *rng, float *Rt, ptq_err *err) {
    double *V = malloc(sizeof(double) * count * B), *M = calloc((size_t)B * B, sizeof(double));
    double *u = malloc(sizeof(double) * B), *t = malloc(sizeof(double) * B), *tmp = malloc(sizeof(double) * B);
    double *c = malloc(sizeof(double) * (B / 2 + 1)), *s = malloc(sizeof(double) * (B / 2 + 1));
    int *p = malloc(sizeof(int) * B), rc = -1;
    if (!V || !M || !u || !t || !tmp || !c || !s || !p) {
        ptq_fail(err, "get_R: out of memory (%ld block vectors of %d)", count, B);
        goto out;
    }
    for (long i = 0; i < count * B; i++) V[i] = X[i];
    /* M's rows evolve like the block vectors: row i = R e_i, so M = R^T */
    for (int i = 0; i < B; i++) M[(size_t)i * B + i] = 1;
    for (int step = 0; step < K; step++) {
        const double *v = V + argmax_abs_row(V, count, B) * B;
        double nv = 0;
        for (int i = 0; i < B; i++) nv += v[i] * v[i];
        uniform_target(rng, B, sqrt(nv), t);
        if (ptq_householder_unit(v, t, B, u)) {
            householder_rows_d(V, count, B, u);
            householder_rows_d(M, B, B, u);
        }
        for (int r = 0; r < lambda; r++) {
            for (int i = 0; i < B; i++) p[i] = i;
            for (int i = B - 1; i > 0; i--) { /* Fisher-Yates */
                int j = (int)(ptq_rng_u64(rng) % (uint64_t)(i + 1)), q = p[i];
                p[i] = p[j];
                p[j] = q;
            }
            permute_rows_d(V, count, B, p, tmp);
            permute_rows_d(M, B, B, p, tmp);
            givens_round(V, count, M, B, rng, c, s);
        }
    }
    for (size_t i = 0; i < (size_t)B * B; i++) Rt[i] = (float)M[i];
    rc = 0;
out:
    free(V);
    free(M);
    free(u);
    free(t);
    free(tmp);
    free(c);
    free(s);
    free(p);
    return rc;
}

static const float *zz_key;
static int zz_cmp(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (zz_key[i] != zz_key[j]) return zz_key[i] > zz_key[j] ? -1 : 1;
    return i - j;
}

void ptq_zigzag_perm(const float *chmax, int C, int B, int *perm) {
    int nb = C / B, *order = malloc(sizeof(int) * C), *fill = calloc(nb, sizeof(int));
    for (int i = 0; i < C; i++) order[i] = i;
    zz_key = chmax; /* single-threaded use: qsort has no context argument in C11 */
    qsort(order, C, sizeof(int), zz_cmp);
    for (int r = 0; r < C; r++) {
        int pos = r % (2 * nb), blk = pos < nb ? pos : 2 * nb - 1 - pos;
        perm[blk * B + fill[blk]++] = order[r];
    }
    free(order);
    free(fill);
}

int ptq_block_size_for(int C, int maxB) {
    for (int b = PTQ_MIN(C, maxB); b > 1; b--)
        if (C % b == 0) return b;
    return 1;
}

static void channel_absmax(const float *X, long T, int C, float *mx) {
    memset(mx, 0, sizeof(float) * C);
    for (long t = 0; t < T; t++)
        for (int j = 0; j < C; j++) mx[j] = fmaxf(mx[j], fabsf(X[t * C + j]));
}

static ptq_ru_transform *ru_alloc(int C, int B, ptq_err *err) {
    ptq_ru_transform *tr = ptq_calloc(1, sizeof *tr, err);
    if (!tr) return NULL;
    tr->C = C;
    tr->B = B;
    if (!(tr->R1t = ptq_calloc((size_t)B * B, sizeof(float), err)) ||
        !(tr->R2t = ptq_calloc((size_t)B * B, sizeof(float), err)) || !(tr->perm = ptq_calloc(C, sizeof(int), err))) {
        ptq_ru_free(tr);
        return NULL;
    }
    for (int i = 0; i < C; i++) tr->perm[i] = i;
    for (int i = 0; i < B; i++) tr->R2t[(size_t)i * B + i] = 1;
    return tr;
}

int ptq_ru_build(const float *X, long T, int C, const ptq_ru_opts *o, ptq_ru_transform **out, ptq_err *err) {
    int B = o->B;
    if (B <= 0 || C % B) return ptq_fail(err, "ruquant: block size %d does not divide the input dim %d", B, C);
    ptq_ru_transform *tr = ru_alloc(C, B, err);
    float *Y = malloc(sizeof(float) * T * C), *tmp = malloc(sizeof(float) * T * C), *mx = malloc(sizeof(float) * C);
    ptq_rng rng;
    ptq_rng_seed(&rng, o->seed);
    int rc = -1;
    if (!tr || !Y || !tmp || !mx) {
        if (tr) ptq_fail(err, "ruquant: out of memory for %ld x %d calibration rows", T, C);
        goto out;
    }
    memcpy(Y, X, sizeof(float) * T * C);
    /* Stage 1: rotate the blocks (every row of Y viewed as C/B block vectors) */
    if (ptq_ru_get_R(Y, T * (C / B), B, o->K, o->lambda, &rng, tr->R1t, err)) goto out;
    ptq_block_rotate_rows(Y, T, C, B, tr->R1t, tmp);
    /* zigzag, then a second get_R on the permuted activations */
    if (o->zigzag) {
        channel_absmax(Y, T, C, mx);
        ptq_zigzag_perm(mx, C, B, tr->perm);
        ptq_permute_rows(Y, T, C, tr->perm, tmp);
        if (ptq_ru_get_R(Y, T * (C / B), B, o->K, o->lambda, &rng, tr->R2t, err)) goto out;
        ptq_block_rotate_rows(Y, T, C, B, tr->R2t, tmp);
    }
    /* global Householder from the token holding the largest |entry| */
    if (o->householder) {
        double *v = malloc(sizeof(double) * C), *t = malloc(sizeof(double) * C), *u = malloc(sizeof(double) * C);
        long best = 0;
        float m = -1;
        for (long i = 0; i < T * C; i++)
            if (fabsf(Y[i]) > m) {
                m = fabsf(Y[i]);
                best = i / C;
            }
        double nv = 0;
        if (v && t && u) {
            for (int j = 0; j < C; j++) nv += (v[j] = Y[best * C + j]) * (double)Y[best * C + j];
            uniform_target(&rng, C, sqrt(nv), t);
            if (ptq_householder_unit(v, t, C, u) && (tr->omega = malloc(sizeof(float) * C)))
                for (int j = 0; j < C; j++) tr->omega[j] = (float)u[j];
        }
        int ok = v && t && u;
        free(v);
        free(t);
        free(u);
        if (!ok) {
            ptq_fail(err, "ruquant: out of memory (Householder of %d)", C);
            goto out;
        }
    }
    rc = 0;
out:
    free(Y);
    free(tmp);
    free(mx);
    if (rc) {
        if (tr) ptq_ru_free(tr);
        tr = NULL;
    }
    *out = tr;
    return rc;
}
