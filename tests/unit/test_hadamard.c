/* test_hadamard.c — fast Walsh-Hadamard (incl. had_K x 2^k) equals the
 * explicit matrix product; every matrix is orthogonal to 1e-6; the sizes
 * without a construction are reported unsupported; random orthogonal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hadamard.h"
#include "testutil.h"

static double orth_err(const float *H, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += (double)H[(size_t)i * n + k] * H[(size_t)j * n + k];
            worst = fmax(worst, fabs(s - (i == j)));
        }
    return worst;
}

static void check_size(int n) {
    ptq_err err = {{0}};
    CHECK(ptq_hadamard_supported(n));
    float *H = malloc((size_t)n * n * sizeof(float)), *x = malloc((size_t)3 * n * sizeof(float)),
          *y = malloc((size_t)3 * n * sizeof(float));
    CHECK(ptq_hadamard_matrix(H, n, &err) == 0);
    double oe = orth_err(H, n);
    CHECK(oe < 1e-6);
    if (oe >= 1e-6) fprintf(stderr, "  n=%d orthogonality error %g\n", n, oe);
    /* entries are +-1/sqrt(n) */
    for (int i = 0; i < n * n; i++)
        CHECK_NEAR(fabs(H[i]) * sqrt((double)n), 1.0, 1e-5);
    ptq_rng r;
    ptq_rng_seed(&r, (uint64_t)n);
    for (int i = 0; i < 3 * n; i++)
        x[i] = (float)ptq_rng_normal(&r);
    memcpy(y, x, (size_t)3 * n * sizeof(float));
    CHECK(ptq_hadamard_rows(y, 3, n, &err) == 0);
    double worst = 0;
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < n; i++) { /* y = H x (column convention) */
            double s = 0;
            for (int k = 0; k < n; k++)
                s += (double)H[(size_t)i * n + k] * x[(size_t)t * n + k];
            worst = fmax(worst, fabs(s - y[(size_t)t * n + i]));
        }
    CHECK(worst < 1e-5);
    if (worst >= 1e-5) fprintf(stderr, "  n=%d fwht vs matrix %g\n", n, worst);
    free(H), free(x), free(y);
}

int main(void) {
    int sizes[] = {1, 2, 4, 8, 16, 64, 256, 12, 20, 28, 36, 40, 52, 60, 108, 140, 24, 48, 384, 44, 68, 344};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_size(sizes[i]);
    /* no Paley construction: callers use the random orthogonal fallback */
    CHECK(!ptq_hadamard_supported(156));
    CHECK(!ptq_hadamard_supported(172));
    CHECK(ptq_hadamard_supported(172 * 64)); /* LLaMA-7B 11008 = 344 x 32, 344 = Paley I (q = 7^3) */
    CHECK(!ptq_hadamard_supported(6));
    CHECK(!ptq_hadamard_supported(0));
    ptq_err err = {{0}};
    float v[6] = {0};
    CHECK(ptq_hadamard_rows(v, 1, 6, &err) == -1 && strstr(err.msg, "size 6"));
    int n = 172;
    float *Q = malloc((size_t)n * n * sizeof(float)), *Q2 = malloc((size_t)n * n * sizeof(float));
    CHECK(ptq_random_orthogonal(Q, n, 7, &err) == 0);
    CHECK(orth_err(Q, n) < 1e-6);
    CHECK(ptq_random_orthogonal(Q2, n, 7, &err) == 0);
    CHECK(memcmp(Q, Q2, (size_t)n * n * sizeof(float)) == 0); /* seeded: deterministic */
    CHECK(ptq_random_orthogonal(Q2, n, 8, &err) == 0);
    CHECK(memcmp(Q, Q2, (size_t)n * n * sizeof(float)) != 0);
    free(Q), free(Q2);
    return tu_done("test_hadamard");
}
