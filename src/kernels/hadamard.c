/* hadamard.c — orthonormal Walsh-Hadamard transforms of size K * 2^k.
 *
 * The 2^k part is the in-place butterfly (fast Walsh-Hadamard, Sylvester
 * order). The K part is an explicit +-1 matrix built here, not copied:
 *   Paley I  (q prime power, q = 3 mod 4): order q + 1, H = I + S with S the
 *            skew conference matrix [[0, 1^T], [-1, Q]], Q the Jacobsthal matrix.
 *   Paley II (q prime power, q = 1 mod 4): order 2(q + 1), from the symmetric
 *            conference matrix C: H = C (x) [[1,1],[1,-1]] + I (x) [[1,-1],[-1,-1]].
 * GF(p^e) for e <= 3 uses polynomials modulo a monic irreducible found by
 * search. This covers 12, 20, 28, 36, 40, 52, 60, 108, 140 (and many more,
 * e.g. 344 = 7^3 + 1, so LLaMA-7B's 11008 = 344 x 32);
 * 156 = 4*39 and 172 = 4*43 have no Paley construction (they need Williamson
 * matrices, which we do not search for), so ptq_hadamard_supported() says no
 * and callers use ptq_random_orthogonal() instead. Every built matrix is
 * checked (H H^T = K I) before it is used.
 * The n = K * 2^k transform is H_K (x) H_{2^k} / sqrt(n): x viewed as K x 2^k,
 * FWHT on each row, then H_K applied across rows (one sgemm). */
#include "hadamard.h"

#include "matmul.h"
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- GF(p^e) arithmetic, elements as base-p digit vectors ---- */
typedef struct {
    int p, e, q;
    int f[4]; /* monic irreducible x^e + f[e-1] x^(e-1) + ... + f[0] */
} gf;

static int prime_power(int q, int *p, int *e) {
    for (int d = 2; d <= q; d++)
        if (q % d == 0) {
            int x = q, k = 0;
            while (x % d == 0)
                x /= d, k++;
            if (x != 1) return 0;
            *p = d;
            *e = k;
            return 1;
        }
    return 0;
}

static int gf_mul(const gf *g, int a, int b) {
    int A[3] = {0}, B[3] = {0}, P[6] = {0};
    for (int i = 0; i < g->e; i++)
        A[i] = a % g->p, a /= g->p, B[i] = b % g->p, b /= g->p;
    for (int i = 0; i < g->e; i++)
        for (int j = 0; j < g->e; j++)
            P[i + j] = (P[i + j] + A[i] * B[j]) % g->p;
    for (int d = 2 * g->e - 2; d >= g->e; d--) { /* reduce x^d = -(f lower) x^(d-e) */
        int c = P[d];
        P[d] = 0;
        for (int i = 0; i < g->e; i++)
            P[d - g->e + i] = ((P[d - g->e + i] - c * g->f[i]) % g->p + g->p) % g->p;
    }
    int r = 0;
    for (int i = g->e - 1; i >= 0; i--)
        r = r * g->p + P[i];
    return r;
}

static int gf_sub(const gf *g, int a, int b) {
    int r = 0, m = 1;
    for (int i = 0; i < g->e; i++, m *= g->p) {
        int d = ((a % g->p) - (b % g->p) + g->p) % g->p;
        r += d * m;
        a /= g->p;
        b /= g->p;
    }
    return r;
}

/* Degree <= 3: irreducible iff no root in GF(p). */
static int gf_init(gf *g, int q) {
    if (!prime_power(q, &g->p, &g->e) || g->e > 3) return -1;
    g->q = q;
    if (g->e == 1) return 0;
    int ncoef = 1;
    for (int i = 0; i < g->e; i++)
        ncoef *= g->p;
    for (int c = 0; c < ncoef; c++) {
        int x = c;
        for (int i = 0; i < g->e; i++)
            g->f[i] = x % g->p, x /= g->p;
        int root = 0;
        for (int t = 0; t < g->p && !root; t++) {
            long v = 1; /* evaluate t^e + sum f_i t^i mod p */
            for (int i = 0; i < g->e; i++)
                v = v * t % g->p;
            long pw = 1;
            for (int i = 0; i < g->e; i++, pw = pw * t % g->p)
                v = (v + g->f[i] * pw) % g->p;
            root = v == 0;
        }
        if (!root) return 0;
    }
    return -1;
}

/* chi[a] = quadratic character of a in GF(q). */
static int *quad_char(const gf *g) {
    int *chi = calloc((size_t)g->q, sizeof(int));
    if (!chi) return NULL;
    for (int a = 1; a < g->q; a++)
        chi[a] = -1;
    for (int a = 1; a < g->q; a++)
        chi[g->e == 1 ? (a * a) % g->q : gf_mul(g, a, a)] = 1;
    return chi;
}

/* Conference-type core: M[i][j] (order q+1), first row/col all `border` signs. */
static int paley(int K, int *H) {
    gf g;
    int q, type;
    if (K % 4) return -1;
    if (gf_init(&g, K - 1) == 0 && (K - 1) % 4 == 3)
        q = K - 1, type = 1;
    else if (gf_init(&g, K / 2 - 1) == 0 && (K / 2 - 1) % 4 == 1)
        q = K / 2 - 1, type = 2;
    else
        return -1;
    int *chi = quad_char(&g), m = q + 1;
    int *C = calloc((size_t)m * m, sizeof(int));
    if (!chi || !C) {
        free(chi);
        free(C);
        return -1;
    }
    /* C = [[0, 1^T], [s, Q]] with s = -1 (Paley I, skew) or +1 (Paley II, symmetric) */
    for (int j = 1; j < m; j++)
        C[j] = 1, C[j * m] = type == 1 ? -1 : 1;
    for (int i = 0; i < q; i++)
        for (int j = 0; j < q; j++)
            C[(i + 1) * m + j + 1] = chi[gf_sub(&g, j, i)];
    if (type == 1) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                H[i * K + j] = C[i * m + j] + (i == j);
    } else {
        static const int A[2][2] = {{1, 1}, {1, -1}}, B[2][2] = {{1, -1}, {-1, -1}};
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        H[(2 * i + a) * K + 2 * j + b] = C[i * m + j] * A[a][b] + (i == j) * B[a][b];
    }
    free(chi);
    free(C);
    for (int i = 0; i < K; i++) /* verify H H^T = K I */
        for (int j = 0; j < K; j++) {
            int s = 0;
            for (int k = 0; k < K; k++)
                s += H[i * K + k] * H[j * K + k];
            if (s != (i == j ? K : 0)) return -1;
        }
    return 0;
}

/* Cache of built had_K matrices (normalised floats), K <= 1024. */
#define MAXK 1024
static float *g_hk[MAXK + 1];
static signed char g_state[MAXK + 1]; /* 0 unknown, 1 ok, -1 impossible */

static const float *had_k(int K) {
    if (K < 1 || K > MAXK) return NULL;
    const float *r = NULL;
#pragma omp critical(ptq_hadamard_cache)
    {
        if (g_state[K] == 0) {
            int *H = calloc((size_t)K * K, sizeof(int));
            float *F = calloc((size_t)K * K, sizeof(float));
            if (H && F && (K == 1 ? (H[0] = 1, 0) : paley(K, H)) == 0) {
                for (int i = 0; i < K * K; i++)
                    F[i] = (float)H[i];
                g_hk[K] = F;
                g_state[K] = 1;
                F = NULL;
            } else
                g_state[K] = -1;
            free(H);
            free(F);
        }
        r = g_state[K] == 1 ? g_hk[K] : NULL;
    }
    return r;
}

/* n = K * 2^k with the smallest constructible K (K = 1 or a Paley order). */
static int split(int n, int *K) {
    if (n < 1) return -1;
    int p2 = n & -n;
    for (int pw = p2; pw >= 1; pw /= 2) {
        int k = n / pw;
        if (k == 1 || (k % 4 == 0 && had_k(k))) {
            *K = k;
            return 0;
        }
    }
    return -1;
}

int ptq_hadamard_supported(int n) {
    int K;
    return split(n, &K) == 0;
}

static void fwht(float *x, int n) {
    for (int h = 1; h < n; h *= 2)
        for (int i = 0; i < n; i += 2 * h)
            for (int j = i; j < i + h; j++) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

int ptq_hadamard_rows(float *x, int rows, int n, ptq_err *err) {
    int K;
    if (split(n, &K))
        return ptq_fail(err, "no Hadamard matrix of size %d is known here (need K*2^k, K a Paley order)", n);
    int P = n / K;
    const float *HK = had_k(K);
    float norm = 1.0f / sqrtf((float)n);
    int failed = 0;
#pragma omp parallel if (rows > 8)
    {
        float *tmp = K > 1 ? malloc((size_t)n * sizeof(float)) : NULL;
        if (K > 1 && !tmp) failed = 1;
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            float *v = x + (size_t)r * n;
            for (int a = 0; a < K; a++)
                fwht(v + (size_t)a * P, P);
            if (K > 1 && tmp) { /* (K x P) <- H_K (K x K) * (K x P) */
                ptq_sgemm(CblasNoTrans, CblasNoTrans, K, P, K, norm, HK, K, v, P, 0.f, tmp, P);
                memcpy(v, tmp, (size_t)n * sizeof(float));
            } else
                for (int i = 0; i < n; i++)
                    v[i] *= norm;
        }
        free(tmp);
    }
    return failed ? ptq_fail(err, "out of memory in Hadamard transform") : 0;
}

int ptq_hadamard_matrix(float *H, int n, ptq_err *err) {
    /* Row i of H is the transform of e_i, transposed: transform the identity
     * rows (gives H^T rows = columns of H), then transpose. */
    float *E = calloc((size_t)n * n, sizeof(float));
    if (!E) return ptq_fail(err, "out of memory building a %dx%d Hadamard matrix", n, n);
    for (int i = 0; i < n; i++)
        E[(size_t)i * n + i] = 1.f;
    if (ptq_hadamard_rows(E, n, n, err)) {
        free(E);
        return -1;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            H[(size_t)i * n + j] = E[(size_t)j * n + i];
    free(E);
    return 0;
}

int ptq_random_orthogonal(float *Q, int n, uint64_t seed, ptq_err *err) {
    double *A = malloc((size_t)n * n * sizeof(double)), *tau = malloc((size_t)n * sizeof(double));
    double *d = malloc((size_t)n * sizeof(double));
    if (!A || !tau || !d) {
        free(A), free(tau), free(d);
        return ptq_fail(err, "out of memory building a %dx%d random orthogonal matrix", n, n);
    }
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)n * n; i++)
        A[i] = ptq_rng_normal(&r);
    int tok = ptq_blas_serial_begin(); /* the same Q at any thread count */
    int rc = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, A, n, tau);
    for (int i = 0; i < n && !rc; i++)
        d[i] = A[(size_t)i * n + i] < 0 ? -1.0 : 1.0;
    if (!rc) rc = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, A, n, tau);
    ptq_blas_serial_end(tok);
    if (!rc) /* sign-fix by diag(R) so the distribution is Haar */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Q[(size_t)i * n + j] = (float)(A[(size_t)i * n + j] * d[j]);
    free(A), free(tau), free(d);
    return rc ? ptq_fail(err, "LAPACKE QR failed (info %d) building a random orthogonal matrix", rc) : 0;
}
