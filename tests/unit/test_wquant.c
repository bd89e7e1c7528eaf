/* test_wquant.c — hand-computed quantizer cases: symmetric/asymmetric grids,
 * ties (round half to even), all-zero rows, clip ratio, groups, MSE search,
 * and the per-token activation quantizer. */
#include <math.h>
#include <string.h>

#include "fakequant.h"
#include "testutil.h"
#include "wquant.h"

static void check_vec(const float *got, const float *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        CHECK_NEAR(got[i], want[i], tol);
}

int main(void) {
    /* symmetric 4-bit: maxq_sym = 7, scale = 3/7 */
    float w1[4] = {1.f, -2.f, 0.5f, 3.f};
    ptq_wq_opts o = ptq_wq_default(4, 1);
    float s, z;
    ptq_wq_find_params(w1, 4, &o, &s, &z);
    CHECK_NEAR(s, 3.0 / 7, 1e-7);
    CHECK_NEAR(z, 0, 0);
    ptq_wq_rtn(w1, 1, 4, &o);
    float e1[4] = {2 * 3.f / 7, -5 * 3.f / 7, 1 * 3.f / 7, 3.f};
    check_vec(w1, e1, 4, 1e-6);

    /* symmetric: the scale comes from max |x| whichever sign holds it */
    float w1b[2] = {-3.3f, 3.f}; /* amax 3.3, scale 3.3/7; -3.3/s = -7 */
    ptq_wq_rtn(w1b, 1, 2, &o);
    CHECK_NEAR(w1b[0], -3.3, 1e-6);

    /* asymmetric 2-bit on [0, 3]: scale 1, zero 0; ties 1.5 -> 2, 2.5 -> 2 (half to even) */
    float w2[4] = {0.f, 1.5f, 2.5f, 3.f};
    ptq_wq_opts a = ptq_wq_default(2, 0);
    ptq_wq_find_params(w2, 4, &a, &s, &z);
    CHECK_NEAR(s, 1.0, 1e-7);
    CHECK_NEAR(z, 0.0, 0);
    ptq_wq_rtn(w2, 1, 4, &a);
    float e2[4] = {0, 2, 2, 3};
    check_vec(w2, e2, 4, 1e-7);

    /* asymmetric with a negative minimum: [-1, 2], 2-bit: scale 1, zero 1 */
    float w3[4] = {-1.f, 0.4f, 0.6f, 2.f};
    ptq_wq_find_params(w3, 4, &a, &s, &z);
    CHECK_NEAR(z, 1.0, 0);
    ptq_wq_rtn(w3, 1, 4, &a);
    float e3[4] = {-1, 0, 1, 2};
    check_vec(w3, e3, 4, 1e-7);

    /* range always includes 0: all-positive row [2, 4] 2-bit asym -> scale 4/3, zero 0 */
    float w4[2] = {2.f, 4.f};
    ptq_wq_find_params(w4, 2, &a, &s, &z);
    CHECK_NEAR(s, 4.0 / 3, 1e-7);
    CHECK_NEAR(z, 0, 0);

    /* all-zero rows stay exactly zero (both modes), no NaN */
    float zr[8] = {0};
    ptq_wq_rtn(zr, 2, 4, &o);
    ptq_wq_rtn(zr, 2, 4, &a);
    for (int i = 0; i < 8; i++)
        CHECK(zr[i] == 0.f);
    ptq_wq_find_params(zr, 4, &o, &s, &z);
    CHECK(s == 0.f);

    /* clip ratio 0.5 on [-4, 4], sym 4-bit: scale 2/7, 4 saturates at 7 levels = 2 */
    float w5[3] = {-4.f, 0.9f, 4.f};
    ptq_wq_opts c = ptq_wq_default(4, 1);
    c.clip = 0.5f;
    ptq_wq_rtn(w5, 1, 3, &c);
    float e5[3] = {-8 * 2.f / 7, 3 * 2.f / 7, 2.f}; /* -4 saturates at level -8, 4 at +7 */
    check_vec(w5, e5, 3, 1e-6);

    /* groups of 2: each group gets its own scale */
    float w6[4] = {1.f, 0.5f, 100.f, 50.f};
    ptq_wq_opts g = ptq_wq_default(8, 1);
    g.group = 2;
    ptq_wq_rtn(w6, 1, 4, &g);
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
    ptq_wq_rtn(q1, 1, 64, &p);
    ptq_wq_rtn(q2, 1, 64, &m);
    double e_plain = 0, e_mse = 0;
    for (int i = 0; i < 64; i++)
        e_plain += pow(fabs(q1[i] - x[i]), 2.4), e_mse += pow(fabs(q2[i] - x[i]), 2.4);
    CHECK(e_mse <= e_plain);
    float sp, sm, zz;
    ptq_wq_find_params(x, 64, &p, &sp, &zz);
    ptq_wq_find_params(x, 64, &m, &sm, &zz);
    CHECK(sm <= sp);
    CHECK(sm >= 0.2f * sp - 1e-7f); /* maxshrink 0.8: p >= 0.21 */

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
    return tu_done("test_wquant");
}
