/* test_wquant.c — hand-computed quantizer cases: symmetric/asymmetric grids,
 * ties (round half to even), all-zero rows, clip ratio, groups, MSE search,
 * and the per-token activation quantizer; the weight's codes (ptq_qweight)
 * dequantize to the RTN values bit for bit; weight grids, the fake quantizer
 * and the kernels' activation codes are one formula (uniform.h). */
#include <math.h>
#include <string.h>

#include "fakequant.h"
#include "kernels.h"
#include "testutil.h"
#include "uniform.h"
#include "wquant.h"

static void check_vec(const float *got, const float *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        CHECK_NEAR(got[i], want[i], tol);
}

/* RTN into a qweight: the codes dequantize to the RTN values bit for bit,
 * symmetric codes are q + 2^(b-1), off-grid entries come back exactly. */
static void check_codes(void) {
    enum { R = 5, C = 40 };
    float W[R * C], Wr[R * C], D[R * C];
    ptq_err err;
    for (int i = 0; i < R * C; i++) W[i] = sinf(0.73f * (float)i) * (i % 7 == 3 ? 4.f : 0.3f);
    for (int sym = 0; sym < 2; sym++)
        for (int bits = 2; bits <= 8; bits += 3)
            for (int group = 0; group <= 16; group += 16) {
                ptq_wq_opts o = ptq_wq_default(bits, sym);
                o.group = group, o.mse = bits == 2;
                ptq_qweight *qw = ptq_wq_qweight(R, C, &o, &err);
                CHECK(qw != NULL && qw->ngroups == (group ? 3 : 1) && qw->sym == sym);
                if (!qw) return;
                memcpy(Wr, W, sizeof W);
                ptq_wq_rtn(Wr, R, C, &o, qw);
                ptq_qweight_dequant(qw, D);
                CHECK(memcmp(D, Wr, sizeof D) == 0);
                for (int i = 0; sym && i < R * qw->ngroups; i++) CHECK(qw->zero[i] == 1 << (bits - 1));
                unsigned char mask[R * C] = {0};
                mask[3] = mask[2 * C + 17] = mask[R * C - 1] = 1;
                CHECK(ptq_qweight_set_sparse(qw, mask, W, &err) == 0 && qw->nnz == 3);
                CHECK(qw->side_bytes == ptq_sparse_storage_of(R, C, 3, 2).bytes);
                ptq_qweight_dequant(qw, D);
                for (int i = 0; i < R * C; i++) CHECK(D[i] == (mask[i] ? W[i] : Wr[i]));
                ptq_qweight_free(qw);
            }
}

/* The same vector through the weight grid (per row, no clip, no MSE), the
 * fake quantizer and the kernels' activation codes: the same floats. */
static void check_one_formula(void) {
    enum { N = 72 };
    float x[N], wq[N], fq[N];
    ptq_err err;
    ptq_kacts acts;
    memset(&acts, 0, sizeof acts);
    for (int t = 0; t < 6; t++) {
        for (int i = 0; i < N; i++) x[i] = cosf(1.3f * (float)(i * (t + 1))) * (t == 5 ? 0.f : 1.f + (float)(i == t));
        for (int sym = 0; sym < 2; sym++)
            for (int bits = 2; bits <= 8; bits++) {
                ptq_wq_opts o = ptq_wq_default(bits, sym);
                memcpy(wq, x, sizeof x), memcpy(fq, x, sizeof x);
                ptq_wq_rtn(wq, 1, N, &o, NULL);
                ptq_fq_vec(fq, N, bits, sym, 1.f);
                CHECK(memcmp(wq, fq, sizeof wq) == 0);
                CHECK(ptq_kact_quant(&acts, x, 1, N, bits, sym, 1.f, 0, &err) == 0);
                for (int i = 0; i < N; i++) CHECK(acts.scale[0] * (float)(acts.codes[i] - acts.zero[0]) == fq[i]);
            }
    }
    ptq_kacts_free(&acts);
}

/* The MSE search stops a shrink once its partial sum reaches the best so far:
 * the same scale and zero as the naive search (every full sum, first minimum
 * wins), on rows of many lengths, bits, symmetries and outlier patterns. */
static void naive_mse_params(const float *x, int n, const ptq_wq_opts *o, float *scale, int *zero) {
    float lo, hi;
    ptq_uq_range(x, n, o->clip > 0.f ? o->clip : 1.f, &lo, &hi);
    ptq_uq_grid(lo, hi, o->bits, o->sym, scale, zero);
    if (*scale == 0.f) return;
    int maxq = ptq_uq_maxq(o->bits), steps = (int)(o->maxshrink * o->grid);
    double best = INFINITY;
    for (int i = 0; i < steps; i++) {
        float p = 1.f - (float)i / (float)o->grid, s;
        int z;
        ptq_uq_grid(p * lo, p * hi, o->bits, o->sym, &s, &z);
        double e = 0.0;
        for (int j = 0; j < n; j++)
            e += pow(fabs((double)ptq_uq_value(ptq_uq_code(x[j], s, z, maxq), s, z) - x[j]), o->norm);
        if (e < best) best = e, *scale = s, *zero = z;
    }
}

static void check_mse_search_naive(void) {
    static float x[700];
    unsigned st = 12345u;
    int lens[] = {1, 5, 31, 32, 33, 128, 700}, bad = 0, cases = 0;
    for (int li = 0; li < 7; li++)
        for (int bits = 2; bits <= 8; bits += 2)
            for (int sym = 0; sym < 2; sym++)
                for (int rep = 0; rep < 6; rep++) {
                    int n = lens[li];
                    for (int j = 0; j < n; j++) {
                        st = st * 1664525u + 1013904223u;
                        x[j] = ((float)(st >> 8) / 16777216.f - 0.5f) * (rep % 2 ? 1.f : 0.01f);
                    }
                    if (rep >= 2) x[(rep * 7) % n] = rep % 3 ? 4.f : -9.f; /* an outlier */
                    if (rep == 5 && n > 3) x[1] = x[2] = 0.f;
                    ptq_wq_opts o = ptq_wq_default(bits, sym);
                    o.mse = 1;
                    float s1, s2;
                    int z1, z2;
                    ptq_wq_find_params(x, n, &o, &s1, &z1);
                    naive_mse_params(x, n, &o, &s2, &z2);
                    bad += s1 != s2 || z1 != z2;
                    cases++;
                }
    CHECK(cases == 7 * 4 * 2 * 6);
    CHECK(bad == 0);
}

int main(void) {
    /* symmetric 4-bit: maxq_sym = 7, scale = 3/7 */
    float w1[4] = {1.f, -2.f, 0.5f, 3.f};
    ptq_wq_opts o = ptq_wq_default(4, 1);
    float s;
    int z;
    ptq_wq_find_params(w1, 4, &o, &s, &z);
    CHECK_NEAR(s, 3.0 / 7, 1e-7);
    CHECK(z == 8); /* symmetric: codes q + 2^(b-1) */
    ptq_wq_rtn(w1, 1, 4, &o, NULL);
    float e1[4] = {2 * 3.f / 7, -5 * 3.f / 7, 1 * 3.f / 7, 3.f};
    check_vec(w1, e1, 4, 1e-6);

    /* symmetric: the scale comes from max |x| whichever sign holds it */
    float w1b[2] = {-3.3f, 3.f}; /* amax 3.3, scale 3.3/7; -3.3/s = -7 */
    ptq_wq_rtn(w1b, 1, 2, &o, NULL);
    CHECK_NEAR(w1b[0], -3.3, 1e-6);

    /* asymmetric 2-bit on [0, 3]: scale 1, zero 0; ties 1.5 -> 2, 2.5 -> 2 (half to even) */
    float w2[4] = {0.f, 1.5f, 2.5f, 3.f};
    ptq_wq_opts a = ptq_wq_default(2, 0);
    ptq_wq_find_params(w2, 4, &a, &s, &z);
    CHECK_NEAR(s, 1.0, 1e-7);
    CHECK(z == 0);
    ptq_wq_rtn(w2, 1, 4, &a, NULL);
    float e2[4] = {0, 2, 2, 3};
    check_vec(w2, e2, 4, 1e-7);

    /* asymmetric with a negative minimum: [-1, 2], 2-bit: scale 1, zero 1 */
    float w3[4] = {-1.f, 0.4f, 0.6f, 2.f};
    ptq_wq_find_params(w3, 4, &a, &s, &z);
    CHECK(z == 1);
    ptq_wq_rtn(w3, 1, 4, &a, NULL);
    float e3[4] = {-1, 0, 1, 2};
    check_vec(w3, e3, 4, 1e-7);

    /* range always includes 0: all-positive row [2, 4] 2-bit asym -> scale 4/3, zero 0 */
    float w4[2] = {2.f, 4.f};
    ptq_wq_find_params(w4, 2, &a, &s, &z);
    CHECK_NEAR(s, 4.0 / 3, 1e-7);
    CHECK(z == 0);

    /* all-zero rows stay exactly zero (both modes), no NaN */
    float zr[8] = {0};
    ptq_wq_rtn(zr, 2, 4, &o, NULL);
    ptq_wq_rtn(zr, 2, 4, &a, NULL);
    for (int i = 0; i < 8; i++)
        CHECK(zr[i] == 0.f);
    ptq_wq_find_params(zr, 4, &o, &s, &z);
    CHECK(s == 0.f);

    /* clip ratio 0.5 on [-4, 4], sym 4-bit: scale 2/7, 4 saturates at 7 levels = 2 */
    float w5[3] = {-4.f, 0.9f, 4.f};
    ptq_wq_opts c = ptq_wq_default(4, 1);
    c.clip = 0.5f;
    ptq_wq_rtn(w5, 1, 3, &c, NULL);
    float e5[3] = {-8 * 2.f / 7, 3 * 2.f / 7, 2.f}; /* -4 saturates at level -8, 4 at +7 */
    check_vec(w5, e5, 3, 1e-6);

    /* groups of 2: each group gets its own scale */
    float w6[4] = {1.f, 0.5f, 100.f, 50.f};
    ptq_wq_opts g = ptq_wq_default(8, 1);
    g.group = 2;
    ptq_wq_rtn(w6, 1, 4, &g, NULL);
    CHECK_NEAR(w6[1], 0.5, 1.0 / 127); /* per-row would round 0.5 to a step of 100/127 */
    CHECK_NEAR(w6[0], 1.0, 1e-6);

    /* MSE search: never worse than the plain grid under the 2.4-norm, and
     * shrinks the range when one outlier dominates */
    float x[64], q1[64], q2[64];
    for (int i = 0; i < 64; i++)
        x[i] = sinf(0.37f * i) * 0.1f;
    x[7] = 3.f;
    memcpy(q1, x, sizeof x);
    memcpy(q2, x, sizeof x);
    ptq_wq_opts p = ptq_wq_default(3, 0), m = p;
    m.mse = 1;
    ptq_wq_rtn(q1, 1, 64, &p, NULL);
    ptq_wq_rtn(q2, 1, 64, &m, NULL);
    double e_plain = 0, e_mse = 0;
    for (int i = 0; i < 64; i++)
        e_plain += pow(fabs(q1[i] - x[i]), 2.4), e_mse += pow(fabs(q2[i] - x[i]), 2.4);
    CHECK(e_mse <= e_plain);
    float sp, sm;
    int zz;
    ptq_wq_find_params(x, 64, &p, &sp, &zz);
    ptq_wq_find_params(x, 64, &m, &sm, &zz);
    CHECK(sm <= sp);
    CHECK(sm >= 0.2f * sp - 1e-7f); /* maxshrink 0.8: p >= 0.21 */
    check_mse_search_naive();

    /* activation fake quantizer: per-token rows, sym 4-bit */
    float act[8] = {1.f, -2.f, 0.5f, 3.f, 0.f, 0.f, 0.f, 0.f};
    ptq_act_qspec aq = {4, 1, 1.f, 0};
    ptq_fq_rows(act, 2, 4, &aq);
    check_vec(act, e1, 4, 1e-6);
    for (int i = 4; i < 8; i++)
        CHECK(act[i] == 0.f);
    /* asymmetric per-token groups of 2 */
    float act2[4] = {0.f, 3.f, -1.f, 2.f};
    ptq_act_qspec aq2 = {2, 0, 1.f, 2};
    ptq_fq_rows(act2, 1, 4, &aq2);
    float e7[4] = {0, 3, -1, 2};
    check_vec(act2, e7, 4, 1e-6);
    /* bits 16: untouched */
    float act3[2] = {0.123f, 4.56f};
    ptq_act_qspec aq3 = {16, 1, 1.f, 0};
    ptq_fq_rows(act3, 1, 2, &aq3);
    CHECK(act3[0] == 0.123f && act3[1] == 4.56f);
    check_codes();
    check_one_formula();
    return tu_done("test_wquant");
}
