/* test_kernels.c — every kernel path (AVX-512 VNNI, AVX-VNNI, scalar) against
 * naive references: the integer part exactly, the dequantized outputs to
 * 1e-5 relative; random and adversarial inputs (all-max codes, odd sizes,
 * sizes not divisible by the group or the vector width). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "fakequant.h"
#include "reference.h"
#include "testutil.h"

static ptq_rng rng;

static int rnd(int n) { return (int)(ptq_rng_u64(&rng) % (uint64_t)n); }

/* Random packed weights; adversarial = every code at the max, zero 0. */
static void make_w(ptq_kpacked *p, int out, int in, int bits, int group, int adversarial) {
    int G = group > 0 && group < in ? group : in, ng = (in + G - 1) / G, maxq = (1 << bits) - 1;
    uint8_t *c = malloc((size_t)out * in);
    float *s = malloc(sizeof(float) * out * ng);
    int *z = malloc(sizeof(int) * out * ng);
    for (int i = 0; i < out * in; i++) c[i] = (uint8_t)(adversarial ? maxq : rnd(maxq + 1));
    for (int i = 0; i < out * ng; i++) {
        s[i] = (float)(0.001 + ptq_rng_uniform(&rng) * 0.01);
        z[i] = adversarial ? 0 : rnd(maxq + 1);
    }
    ptq_err err;
    int rc = ptq_kpack(p, c, s, z, out, in, bits, group, &err);
    CHECK(rc == 0);
    free(c), free(s), free(z);
}

static void make_x(float *x, int T, int K, int mode) {
    for (int i = 0; i < T * K; i++) {
        if (mode == 0) x[i] = (float)ptq_rng_normal(&rng);
        else if (mode == 1) x[i] = 1e3f; /* all-max: every code at 2^b-1 */
        else x[i] = (i % 7 == 0) ? 50.f : (float)ptq_rng_normal(&rng) * 0.01f; /* outliers */
    }
}

static int check_gemm(int T, int out, int in, int wbits, int abits, int asym, int group, int xmode, int wadv) {
    ptq_kpacked w;
    make_w(&w, out, in, wbits, group, wadv);
    float *x = malloc(sizeof(float) * T * in);
    make_x(x, T, in, xmode);
    ptq_kacts a = {0};
    ptq_err err;
    CHECK(ptq_kact_quant(&a, x, T, in, abits, !asym, 1.f, group, &err) == 0);
    /* codes are those of the fake quantizer */
    float *fq = malloc(sizeof(float) * T * in);
    memcpy(fq, x, sizeof(float) * T * in);
    ptq_act_qspec q = {.bits = abits, .sym = !asym, .clip = 1.f, .group = 0};
    ptq_fq_rows(fq, T, in, &q);
    int bad = 0;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < in; k++) {
            float v = a.scale[t] * (float)((int)a.codes[(size_t)t * a.kpad + k] - a.zero[t]);
            bad += v != fq[(size_t)t * in + k];
        }
    CHECK(bad == 0);
    size_t nI = (size_t)T * out * w.ngroups;
    int64_t *Iref = malloc(sizeof(int64_t) * nI), *I = malloc(sizeof(int64_t) * nI);
    ptq_kgemm_int_ref(&a, &w, Iref);
    /* reference output in double */
    double *yref = malloc(sizeof(double) * T * out), *ymag = malloc(sizeof(double) * T * out);
    float *wd = malloc(sizeof(float) * out * in);
    ptq_kdequant(&w, wd);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < out; n++) {
            double s = 0, m = 0;
            for (int g = 0; g < w.ngroups; g++)
                s += (double)w.scale[(size_t)g * w.npad + n] * a.scale[t] * (double)Iref[((size_t)t * out + n) * w.ngroups + g];
            for (int k = 0; k < in; k++) m += fabs((double)wd[(size_t)n * in + k] * fq[(size_t)t * in + k]);
            yref[t * out + n] = s, ymag[t * out + n] = m;
        }
    float *y = malloc(sizeof(float) * T * out);
    int fails = 0;
    for (int isa = ptq_kern_isa_best(); isa >= 0; isa--) {
        ptq_kern_force_isa((ptq_isa)isa);
        memset(I, 0xff, sizeof(int64_t) * nI);
        CHECK(ptq_kgemm_int(&a, &w, I, &err) == 0);
        int ok = !memcmp(I, Iref, sizeof(int64_t) * nI);
        CHECK(ok);
        CHECK(ptq_kgemm(&a, &w, NULL, y, &err) == 0);
        double worst = 0;
        for (int i = 0; i < T * out; i++) {
            double e = fabs(y[i] - yref[i]) / (ymag[i] + 1e-30);
            worst = e > worst ? e : worst;
        }
        CHECK(worst <= 1e-5);
        if (!ok || worst > 1e-5) {
            fprintf(stderr, "  gemm T=%d %dx%d W%dA%d asym=%d g=%d x=%d wadv=%d isa=%s: int %s, rel %.3g\n", T, out,
                    in, wbits, abits, asym, group, xmode, wadv, ptq_isa_name((ptq_isa)isa), ok ? "ok" : "MISMATCH",
                    worst);
            fails++;
        }
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
    free(x), free(fq), free(Iref), free(I), free(yref), free(ymag), free(wd), free(y);
    ptq_kacts_free(&a);
    ptq_kpacked_free(&w);
    return fails;
}

static int check_gemv(int T, int out, int in, int bits, int group, int wadv) {
    ptq_kpacked w;
    make_w(&w, out, in, bits, group, wadv);
    float *x = malloc(sizeof(float) * T * in), *wd = malloc(sizeof(float) * out * in),
          *y = malloc(sizeof(float) * T * out), *bias = malloc(sizeof(float) * out);
    make_x(x, T, in, 0);
    for (int n = 0; n < out; n++) bias[n] = (float)n * 0.01f;
    ptq_kdequant(&w, wd);
    int fails = 0;
    ptq_err err;
    /* each ISA; on AVX-512 also every int4 row-block count per pass (1..4) */
    for (int run = 4 * ptq_kern_isa_best() + 3; run >= 0; run--) {
        int isa = run / 4, nb = 4 - run % 4;
        if (isa != PTQ_ISA_AVX512VNNI && nb != 4) continue;
        ptq_kern_force_isa((ptq_isa)isa);
        ptq_kern_gemv_int4_blocks(nb);
        CHECK(ptq_kgemm_f32(&w, x, T, bias, y, &err) == 0);
        double worst = 0;
        for (int t = 0; t < T; t++)
            for (int n = 0; n < out; n++) {
                double s = bias[n], m = fabs(bias[n]);
                for (int k = 0; k < in; k++) {
                    s += (double)wd[(size_t)n * in + k] * x[(size_t)t * in + k];
                    m += fabs((double)wd[(size_t)n * in + k] * x[(size_t)t * in + k]);
                }
                double e = fabs(y[(size_t)t * out + n] - s) / (m + 1e-30);
                worst = e > worst ? e : worst;
            }
        CHECK(worst <= 1e-5);
        if (worst > 1e-5) {
            fprintf(stderr, "  gemv T=%d %dx%d W%d g=%d isa=%s nb=%d rel %.3g\n", T, out, in, bits, group,
                    ptq_isa_name((ptq_isa)isa), nb, worst);
            fails++;
        }
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
    ptq_kern_gemv_int4_blocks(4);
    free(x), free(wd), free(y), free(bias);
    ptq_kpacked_free(&w);
    return fails;
}

static void check_kv(void) {
    ptq_err err;
    int bitsv[] = {8, 4};
    for (int bi = 0; bi < 2; bi++)
        for (int sym = 0; sym < 2; sym++) {
            ptq_kvfmt f;
            int dim = 48, group = 16;
            CHECK(ptq_kvfmt_init(&f, bitsv[bi], dim, group, sym, 1.f, &err) == 0);
            float x[48], xq[48], fq[48], q[48], acc[48] = {0}, acc_ref[48] = {0};
            uint8_t codes[48];
            float sc[3], zr[3];
            for (int k = 0; k < dim; k++) x[k] = (float)ptq_rng_normal(&rng), q[k] = (float)ptq_rng_normal(&rng);
            memcpy(fq, x, sizeof x);
            ptq_act_qspec qs = {.bits = bitsv[bi], .sym = sym, .clip = 1.f, .group = group};
            ptq_fq_rows(fq, 1, dim, &qs);
            ptq_kv_quant_row(&f, x, codes, sc, zr);
            ptq_kv_dequant_row(&f, codes, sc, zr, xq);
            double dref = 0;
            for (int k = 0; k < dim; k++) {
                CHECK(xq[k] == fq[k]);
                dref += (double)q[k] * fq[k];
                acc_ref[k] = 0.5f * fq[k];
            }
            CHECK_NEAR(ptq_kv_dot(&f, q, codes, sc, zr), dref, 1e-4);
            ptq_kv_axpy(&f, 0.5f, codes, sc, zr, acc);
            for (int k = 0; k < dim; k++) CHECK_NEAR(acc[k], acc_ref[k], 1e-5);
        }
    ptq_kvfmt f;
    CHECK(ptq_kvfmt_init(&f, 3, 64, 0, 0, 1.f, &err) == -1);
    CHECK(ptq_kvfmt_init(&f, 4, 64, 24, 0, 1.f, &err) == -1);
}

int main(void) {
    ptq_rng_seed(&rng, 7);
    printf("best isa: %s\n", ptq_isa_name(ptq_kern_isa_best()));
    int fails = 0;
    /* shapes: odd, not divisible by 4 / 16 / 32 / the group */
    static const int shapes[][3] = {{1, 1, 5}, {5, 37, 75}, {13, 16, 32}, {27, 50, 130}, {3, 33, 257}};
    static const int wa[][2] = {{4, 4}, {6, 6}, {3, 3}, {8, 8}, {2, 8}, {4, 8}, {7, 5}, {5, 7}};
    static const int groups[] = {0, 32, 12};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t b = 0; b < sizeof wa / sizeof wa[0]; b++)
            for (size_t g = 0; g < 3; g++) {
                int asym = (int)((s + b) & 1);
                fails += check_gemm(shapes[s][0], shapes[s][1], shapes[s][2], wa[b][0], wa[b][1], asym, groups[g], 0, 0);
            }
    /* adversarial: all-max activations and weight codes, outliers */
    for (int bits = 2; bits <= 8; bits++) {
        fails += check_gemm(14, 35, 259, bits, bits, 1, 0, 1, 1);
        fails += check_gemm(14, 35, 259, bits, 8, 0, 0, 1, 1);
        fails += check_gemm(14, 35, 259, bits, 8, 1, 64, 2, 1);
    }
    fails += check_gemm(25, 70, 4100, 8, 8, 1, 0, 1, 1); /* long K at int8: int32 accumulation headroom */
    for (int bits = 2; bits <= 8; bits++) {
        fails += check_gemv(1, 37, 75, bits, 0, 0);
        fails += check_gemv(1, 64, 256, bits, 32, 0);
        fails += check_gemv(1, 33, 260, bits, 12, 1);
        fails += check_gemv(3, 33, 100, bits, 0, 1);
        fails += check_gemv(1, 80, 520, bits, 64, 1); /* 5 row blocks: 4 + 1 per pass */
    }
    check_kv();
    /* bad inputs are rejected */
    ptq_kpacked w;
    ptq_err err;
    uint8_t c[4] = {0, 1, 2, 3};
    float s[1] = {1.f};
    int z[1] = {0};
    CHECK(ptq_kpack(&w, c, s, z, 1, 4, 9, 0, &err) == -1);
    CHECK(ptq_kpack(&w, c, s, z, 1, 4, 2, 6, &err) == -1);
    c[0] = 200;
    CHECK(ptq_kpack(&w, c, s, z, 1, 4, 4, 0, &err) == -1);
    CHECK(fails == 0);
    return tu_done("test_kernels");
}
