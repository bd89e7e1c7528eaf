/* test_w16act.c — the weight-only linears' execution modes (kernels.h
 * ptq_w16_act) through ptq_lin_kernel_forward:
 *   fp32 (default): ptq_kgemm_f32's bits for T > 1 and the GEMV's for T = 1;
 *   int8: for every T (decode too), exactly ptq_kact_quant (8-bit asymmetric per token,
 *   clip 1) + ptq_kgemm, bit for bit its naive twin ptq_kgemm_bits_ref (per
 *   weight group the exact integer sum, scaled and added in group order) on
 *   every ISA path and on 1 thread as on 2, and within the activation-rounding bound of the
 *   fp32 product: |y - x W^T| <= s_t / 2 sum_k |w_rk| (+ 1e-5 of the terms'
 *   magnitude for float rounding), s_t the token's activation scale. Shapes: per channel and groups of 32 / 128,
 *   activations with outliers.
 *   bf16: for T > 1 ptq_kgemm_bf16, bit for bit its naive twin
 *   ptq_kgemm_bf16_bits_ref on every ISA path and thread count; for T = 1
 *   with int4 weights on AVX-512 BF16 the vdpbf16ps GEMV, bit for bit
 *   ptq_kgemv_bf16_int4_bits_ref at 1..4 row blocks per pass, with and
 *   without prefetch, on 1 and 2 threads; otherwise the fp32 GEMV on the rounded row; within 2^-8 sum |w x| (+ 1e-5 of it)
 *   of the fp32 product, and that bound not vacuous. ptq_bf16_round on ties,
 *   denormals and signed zeros. The sparse part in bf16 mode reads the fp32 rows.
 * SEPTQ's sparse part in the fp32 mode (folded into the dequantized panels
 * for T > 1, after the GEMV for T = 1): y = x (W + S)^T + bias within 1e-5 of
 * the terms' magnitude, the same bits on 1 thread as on 2. */
#ifdef _OPENMP
#include <omp.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "reference.h"
#include "testutil.h"
#include "w16.h"

static ptq_rng rng;

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, sizeof(float) * n); }

/* The linear in the current mode gives yb's bits on every ISA path (or, with
 * !isa_exact, only on the best one) and on 1 thread as on the default count. */
static void same_everywhere(const ptq_lin_kernel *k, const float *x, int T, const float *bias, ptq_kacts *acts,
                            float *yk, const float *yb, int out, int isa_exact) {
    ptq_err err;
    for (int isa = PTQ_ISA_SCALAR; isa <= (int)ptq_kern_isa_best(); isa++) {
        ptq_kern_force_isa((ptq_isa)isa);
        CHECK(ptq_lin_kernel_forward(k, x, T, 16, 0, 1.f, 0, bias, acts, yk, &err) == 0);
        CHECK(same(yk, yb, (size_t)T * out) || (!isa_exact && isa != (int)ptq_kern_isa_best()));
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(ptq_lin_kernel_forward(k, x, T, 16, 0, 1.f, 0, bias, acts, yk, &err) == 0);
    CHECK(same(yk, yb, (size_t)T * out));
    omp_set_num_threads(nt);
#endif
}

static void one(int T, int out, int in, int bits, int group) {
    ptq_err err;
    int ng = group ? (in + group - 1) / group : 1;
    uint8_t *codes = malloc((size_t)out * in);
    float *scale = malloc(sizeof(float) * out * ng), *x = malloc(sizeof(float) * T * in),
          *bias = malloc(sizeof(float) * out), *y = malloc(sizeof(float) * T * out),
          *yk = malloc(sizeof(float) * T * out), *wd = malloc(sizeof(float) * out * in);
    int *zero = malloc(sizeof(int) * out * ng);
    double *yr = malloc(sizeof(double) * T * out), *mag = malloc(sizeof(double) * T * out);
    for (size_t i = 0; i < (size_t)out * in; i++) codes[i] = (uint8_t)(ptq_rng_u64(&rng) % (1u << bits));
    for (int i = 0; i < out * ng; i++)
        scale[i] = 0.01f * (float)(1 + ptq_rng_u64(&rng) % 100), zero[i] = (int)(ptq_rng_u64(&rng) % (1u << bits));
    for (int i = 0; i < T * in; i++) x[i] = (float)ptq_rng_normal(&rng) * (i % 97 == 5 ? 30.f : 1.f);
    for (int i = 0; i < out; i++) bias[i] = (float)ptq_rng_normal(&rng);
    ptq_lin_kernel k;
    memset(&k, 0, sizeof k);
    CHECK(ptq_kpack(&k.w, codes, scale, zero, out, in, bits, group, &err) == 0);
    ptq_kdequant_ref(&k.w, wd);
    ptq_kgemm_f32_ref(&k.w, x, T, bias, yr, mag);
    ptq_kacts acts = {0}, a2 = {0};

    /* fp32 mode: the dequantizing GEMM (GEMV for one row) */
    ptq_kern_set_w16_act(PTQ_W16_FP32);
    CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, bias, &acts, y, &err) == 0);
    CHECK(ptq_kgemm_f32(&k.w, x, T, bias, yk, &err) == 0);
    CHECK(same(y, yk, (size_t)T * out));

    /* int8 mode */
    ptq_kern_set_w16_act(PTQ_W16_INT8);
    CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, bias, &acts, y, &err) == 0);
    {
        CHECK(ptq_kact_quant(&a2, x, T, in, 8, 0, 1.f, k.w.group, &err) == 0);
        CHECK(ptq_kgemm(&a2, &k.w, bias, yk, &err) == 0);
        CHECK(same(y, yk, (size_t)T * out));
        /* the naive twin of the same arithmetic, bit for bit, on every ISA path and thread count */
        float *yb = malloc(sizeof(float) * T * out);
        ptq_kgemm_bits_ref(&a2, &k.w, bias, yb);
        CHECK(same(y, yb, (size_t)T * out));
        same_everywhere(&k, x, T, bias, &acts, yk, yb, out, 1);
        free(yb);
        double worst = 0; /* error / bound */
        for (int t = 0; t < T; t++)
            for (int o = 0; o < out; o++) {
                double sw = 0;
                for (int i = 0; i < in; i++) sw += fabs(wd[(size_t)o * in + i]);
                size_t j = (size_t)t * out + o;
                double bound = 0.5 * a2.scale[t] * sw + 1e-5 * (mag[j] + 0.5 * a2.scale[t] * sw);
                worst = fmax(worst, fabs(y[j] - yr[j]) / bound);
            }
        CHECK(worst <= 1.0);
        /* the bound is not vacuous: the error is a sizeable part of it */
        CHECK(worst > 1e-3);
        printf("  T=%d %dx%d W%d g%d: int8-act error / bound %.3f\n", T, out, in, bits, group, worst);
    }
    /* bf16 mode */
    ptq_kern_set_w16_act(PTQ_W16_BF16ACT);
    CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, bias, &acts, y, &err) == 0);
    CHECK(ptq_kgemm_bf16(&k.w, x, T, bias, yk, &err) == 0);
    CHECK(same(y, yk, (size_t)T * out));
    {
        float *yb = malloc(sizeof(float) * T * out), *xr = malloc(sizeof(float) * T * in);
        for (int i = 0; i < T * in; i++) xr[i] = ptq_bf16_f32(ptq_bf16_round(x[i]));
        int bf16_int4 = T == 1 && bits == 4 && ptq_kern_uses_bf16();
        if (bf16_int4) ptq_kgemv_bf16_int4_bits_ref(&k.w, x, bias, yb);
        else if (T == 1) CHECK(ptq_kgemv_f32(&k.w, xr, bias, yb, &err) == 0);
        else ptq_kgemm_bf16_bits_ref(&k.w, x, T, bias, yb);
        CHECK(same(y, yb, (size_t)T * out));
        same_everywhere(&k, x, T, bias, &acts, yk, yb, out, T > 1); /* the GEMV's paths sum in their own orders */
        for (int nb = 1; nb <= 4 && bf16_int4; nb++) /* every row block count, and no prefetch: the same bits */
            for (int pf = 0; pf <= PTQ_KGEMV_PF_DEFAULT; pf += PTQ_KGEMV_PF_DEFAULT) {
                ptq_kern_gemv_blocks(nb), ptq_kern_gemv_prefetch(pf);
                CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, bias, &acts, yk, &err) == 0);
                CHECK(same(yk, yb, (size_t)T * out));
            }
        ptq_kern_gemv_blocks(4), ptq_kern_gemv_prefetch(PTQ_KGEMV_PF_DEFAULT);
        double worst = 0;
        for (size_t j = 0; j < (size_t)T * out; j++) {
            double m = mag[j] - fabs((double)bias[j % out]);
            worst = fmax(worst, fabs(y[j] - yr[j]) / ((0x1p-8 + 1e-5) * m + 1e-5 * fabs(yr[j])));
        }
        CHECK(worst <= 1.0);
        CHECK(worst > 1e-3);
        printf("  T=%d %dx%d W%d g%d: bf16-act error / bound %.3f\n", T, out, in, bits, group, worst);
        free(yb), free(xr);
    }
    ptq_kern_set_w16_act(PTQ_W16_FP32);
    CHECK(!strcmp(ptq_w16_act_name(PTQ_W16_INT8), "int8-act"));
    CHECK(!strcmp(ptq_w16_act_name(PTQ_W16_BF16ACT), "bf16-act"));
    ptq_kacts_free(&acts), ptq_kacts_free(&a2);
    ptq_lin_kernel_free(&k);
    free(codes), free(scale), free(x), free(bias), free(y), free(yk), free(wd), free(zero), free(yr), free(mag);
}

static void sparse(int T, int out, int in, int group) {
    ptq_err err;
    int ng = group ? (in + group - 1) / group : 1;
    uint8_t *codes = malloc((size_t)out * in);
    float *scale = malloc(sizeof(float) * out * ng), *x = malloc(sizeof(float) * T * in),
          *y = malloc(sizeof(float) * T * out), *y1 = malloc(sizeof(float) * T * out),
          *wd = malloc(sizeof(float) * out * in);
    int *zero = malloc(sizeof(int) * out * ng);
    for (size_t i = 0; i < (size_t)out * in; i++) codes[i] = (uint8_t)(ptq_rng_u64(&rng) % 16);
    for (int i = 0; i < out * ng; i++) scale[i] = 0.05f, zero[i] = 8;
    for (int i = 0; i < T * in; i++) x[i] = (float)ptq_rng_normal(&rng);
    ptq_lin_kernel k;
    memset(&k, 0, sizeof k);
    CHECK(ptq_kpack(&k.w, codes, scale, zero, out, in, 4, group, &err) == 0);
    ptq_kdequant_ref(&k.w, wd);
    ptq_kcsr *sp = &k.sp; /* about 3 % of each row, columns ascending, values of order 1 */
    sp->out = out, sp->in = in;
    sp->rowptr = calloc(out + 1, sizeof(long)), sp->col = malloc(sizeof(uint16_t) * out * in), sp->val = malloc(sizeof(float) * out * in);
    for (int o = 0; o < out; o++) {
        sp->rowptr[o + 1] = sp->rowptr[o];
        for (int i = 0; i < in; i++)
            if (ptq_rng_u64(&rng) % 32 == 0) {
                long q = sp->rowptr[o + 1]++;
                sp->col[q] = (uint16_t)i, sp->val[q] = (float)ptq_rng_normal(&rng);
                wd[(size_t)o * in + i] += sp->val[q];
            }
    }
    sp->nnz = sp->rowptr[out];
    ptq_kacts acts = {0};
    CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, NULL, &acts, y, &err) == 0);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double r = 0, mag = 0;
            for (int i = 0; i < in; i++) {
                double v = (double)x[(size_t)t * in + i] * wd[(size_t)o * in + i];
                r += v, mag += fabs(v);
            }
            worst = fmax(worst, fabs(y[(size_t)t * out + o] - r) / mag);
        }
    CHECK(worst <= 1e-5);
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, NULL, &acts, y1, &err) == 0);
    CHECK(same(y, y1, (size_t)T * out));
    omp_set_num_threads(nt);
#endif
    if (T == 1) { /* the GEMV's fused sparse rows == the GEMV then the separate CSR pass, bit for bit */
        CHECK(ptq_kgemv_f32(&k.w, x, NULL, y1, &err) == 0);
        ptq_kcsr_apply(sp, x, 1, y1);
        CHECK(same(y, y1, (size_t)out));
    }
    printf("  sparse T=%d %dx%d g%d (%ld nonzeros): worst error / magnitude %.1e\n", T, out, in, group, sp->nnz, worst);
    ptq_kacts_free(&acts);
    ptq_lin_kernel_free(&k);
    free(codes), free(scale), free(x), free(y), free(y1), free(wd), free(zero);
}

/* The rounding rule: nearest, ties to even, |x| < FLT_MIN to a signed zero;
 * and the GEMM fed those values agrees with its twin (the AVX-512 rounding). */
static void rounding(void) {
    static const struct {
        float x;
        uint16_t h;
    } cases[] = {{1.f, 0x3F80},           {1.f + 0x1p-8f, 0x3F80},  /* tie: to even (down) */
                 {1.f + 0x3p-8f, 0x3F82}, /* tie: to even (up) */     {1.f + 0x1p-8f + 0x1p-20f, 0x3F81},
                 {-2.5f, 0xC020},         {0x1p-130f, 0x0000},      /* denormal: 0 */
                 {-0x1p-130f, 0x8000},    {0x1p-126f, 0x0080},      /* FLT_MIN stays */
                 {0.f, 0x0000},           {-0.f, 0x8000},           {3.0e38f, 0x7F62}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = ptq_bf16_round(cases[i].x);
        if (h != cases[i].h) printf("  bf16(%a) = %04x, expected %04x\n", (double)cases[i].x, h, cases[i].h);
        CHECK(h == cases[i].h);
    }
    ptq_err err;
    enum { T = 5, OUT = 20, IN = 200 };
    uint8_t codes[OUT * IN];
    float scale[OUT], x[T * IN], y[T * OUT], yb[T * OUT];
    int zero[OUT];
    for (int i = 0; i < OUT * IN; i++) codes[i] = (uint8_t)(ptq_rng_u64(&rng) % 16);
    for (int i = 0; i < OUT; i++) scale[i] = 0.1f, zero[i] = 7;
    for (int i = 0; i < T * IN; i++) x[i] = cases[i % (sizeof cases / sizeof cases[0] - 1)].x * (i % 3 ? 1.f : -1.f);
    ptq_kpacked w;
    CHECK(ptq_kpack(&w, codes, scale, zero, OUT, IN, 4, 0, &err) == 0);
    CHECK(ptq_kgemm_bf16(&w, x, T, NULL, y, &err) == 0);
    ptq_kgemm_bf16_bits_ref(&w, x, T, NULL, yb);
    CHECK(same(y, yb, T * OUT));
    /* the direct bf16 GEMV takes int4 only: other widths are refused by name (ptq_kgemm_bf16 widens for them) */
    ptq_kpacked w8;
    CHECK(ptq_kpack(&w8, codes, scale, zero, OUT, IN, 8, 0, &err) == 0);
    uint16_t xb[256] = {0};
    CHECK(!ptq_kgemv_bf16_direct(&w8));
    CHECK(ptq_kgemv_bf16(&w8, xb, NULL, y, &err) == -1 && strstr(err.msg, "8-bit weights"));
    CHECK(ptq_kgemv_bf16_direct(&w) == ptq_kern_uses_bf16());
    ptq_kpacked_free(&w8);
    ptq_w16_act m = PTQ_W16_FP32;
    CHECK(ptq_w16_act_parse("bf16", &m) == 0 && m == PTQ_W16_BF16ACT);
    CHECK(ptq_w16_act_parse("int8", &m) == 0 && m == PTQ_W16_INT8);
    CHECK(ptq_w16_act_parse("fp16", &m) == -1 && m == PTQ_W16_INT8);
    ptq_kpacked_free(&w);
}

/* In bf16 mode SEPTQ's sparse part reads the fp32 rows: y = bf16 GEMM + CSR(x), bit for bit. */
static void sparse_bf16(int T, int out, int in) {
    ptq_err err;
    uint8_t *codes = malloc((size_t)out * in);
    float scale[1024], *x = malloc(sizeof(float) * T * in), *y = malloc(sizeof(float) * T * out),
                       *y1 = malloc(sizeof(float) * T * out);
    int zero[1024];
    for (size_t i = 0; i < (size_t)out * in; i++) codes[i] = (uint8_t)(ptq_rng_u64(&rng) % 16);
    for (int i = 0; i < out; i++) scale[i] = 0.05f, zero[i] = 8;
    for (int i = 0; i < T * in; i++) x[i] = (float)ptq_rng_normal(&rng);
    ptq_lin_kernel k;
    memset(&k, 0, sizeof k);
    CHECK(ptq_kpack(&k.w, codes, scale, zero, out, in, 4, 0, &err) == 0);
    ptq_kcsr *sp = &k.sp;
    sp->out = out, sp->in = in;
    sp->rowptr = calloc(out + 1, sizeof(long)), sp->col = malloc(sizeof(uint16_t) * out * in), sp->val = malloc(sizeof(float) * out * in);
    for (int o = 0; o < out; o++) {
        sp->rowptr[o + 1] = sp->rowptr[o];
        for (int i = 0; i < in; i += 1 + (int)(ptq_rng_u64(&rng) % 40)) {
            long q = sp->rowptr[o + 1]++;
            sp->col[q] = (uint16_t)i, sp->val[q] = (float)ptq_rng_normal(&rng) * 1e-3f; /* bf16 would round these */
        }
    }
    sp->nnz = sp->rowptr[out];
    ptq_kacts acts = {0};
    ptq_kern_set_w16_act(PTQ_W16_BF16ACT);
    CHECK(ptq_lin_kernel_forward(&k, x, T, 16, 0, 1.f, 0, NULL, &acts, y, &err) == 0);
    ptq_kern_set_w16_act(PTQ_W16_FP32);
    CHECK(ptq_kgemm_bf16(&k.w, x, T, NULL, y1, &err) == 0);
    ptq_kcsr_apply(sp, x, T, y1);
    CHECK(same(y, y1, (size_t)T * out));
    ptq_kacts_free(&acts);
    ptq_lin_kernel_free(&k);
    free(codes), free(x), free(y), free(y1);
}

int main(void) {
    ptq_rng_seed(&rng, 17);
    static const int shapes[][3] = {{1, 40, 96}, {1, 520, 2304}, {3, 40, 96}, {7, 40, 96}, {29, 70, 260}, {64, 48, 1100}, {40, 256, 1024}, {1, 300, 2048}};
    static const int groups[] = {0, 32, 128}, bits[] = {4, 8};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t g = 0; g < 3; g++)
            for (size_t b = 0; b < 2; b++) one(shapes[s][0], shapes[s][1], shapes[s][2], bits[b], groups[g]);
    sparse(1, 40, 96, 0);
    sparse(1, 520, 4096, 128); /* the GEMV in its parallel region */
    sparse(29, 70, 1100, 32);
    sparse(13, 33, 2100, 0);
    rounding();
    sparse_bf16(1, 40, 300);
    sparse_bf16(9, 70, 1000);
    return tu_done("test_w16act");
}
