/* test_ruquant.c — RUQuant's rotations: Householder onto a target, get_R
 * orthogonal to 1e-5, zigzag is a balanced permutation, the composed
 * transform is orthogonal and keeps X W^T; and (with the assets) the method
 * end to end on stories260K: installed rotations orthogonal, the rotated FP
 * model equals the original (1e-4 relative logits), outlier statistics of
 * the linear inputs drop (printed). Quantized runs: tests/cli_seed_methods.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "model_open.h"
#include "rotations.h"
#include "testref.h"
#include "testutil.h"

/* Heavy-tailed activations with a few outlier channels. */
static void fake_acts(float *X, long T, int C, uint64_t seed) {
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    for (long t = 0; t < T; t++)
        for (int j = 0; j < C; j++) {
            double g = ptq_rng_normal(&r);
            X[t * C + j] = (float)(g * (j % 17 == 3 ? 30.0 : 1.0));
        }
}

static void test_householder(void) {
    double v[5] = {3, -1, 2, 0.5, 4}, t[5] = {0, 0, 0, 0, 0}, u[5];
    double nv = 0;
    for (int i = 0; i < 5; i++) nv += v[i] * v[i];
    t[2] = sqrt(nv);
    CHECK(ptq_householder_unit(v, t, 5, u) == 1);
    float x[5];
    float uf[5];
    for (int i = 0; i < 5; i++) x[i] = (float)v[i], uf[i] = (float)u[i];
    ptq_householder_rows(x, 1, 5, uf);
    for (int i = 0; i < 5; i++) CHECK_NEAR(x[i], t[i], 1e-5);
    CHECK(ptq_householder_unit(v, v, 5, u) == 0);
}

static void test_get_R(int B, long count) {
    ptq_err err;
    ptq_rng rng;
    ptq_rng_seed(&rng, 1);
    float *X = malloc(sizeof(float) * count * B), *Rt = malloc(sizeof(float) * B * B);
    fake_acts(X, count, B, 9);
    CHECK(ptq_ru_get_R(X, count, B, 16, 3, &rng, Rt, &err) == 0);
    double oe = ptq_orthogonality_error(Rt, B);
    printf("get_R B=%d: orthogonality error %.2e\n", B, oe);
    CHECK(oe < 1e-5);
    free(X);
    free(Rt);
}

static void test_zigzag(void) {
    int C = 172, B = ptq_block_size_for(C, 128), perm[172], seen[172] = {0};
    CHECK(B == 86);
    CHECK(ptq_block_size_for(64, 128) == 64 && ptq_block_size_for(384, 128) == 128);
    float mx[172];
    for (int j = 0; j < C; j++) mx[j] = (float)((j * 37) % 172); /* distinct values */
    ptq_zigzag_perm(mx, C, B, perm);
    for (int j = 0; j < C; j++) seen[perm[j]]++;
    int ok = 1;
    for (int j = 0; j < C; j++) ok &= seen[j] == 1;
    CHECK(ok);
    /* the two largest channels land in different blocks */
    int a = -1, b = -1;
    for (int p = 0; p < C; p++) {
        if (mx[perm[p]] == 171) a = p / B;
        if (mx[perm[p]] == 170) b = p / B;
    }
    CHECK(a >= 0 && b >= 0 && a != b);
}

/* Composed transform: orthogonal, X W^T preserved, outliers spread. */
static void test_transform(int C) {
    ptq_err err;
    long T = 96;
    int out = 7;
    float *X = malloc(sizeof(float) * T * C), *W = malloc(sizeof(float) * out * C), *M = malloc(sizeof(float) * C * C);
    fake_acts(X, T, C, 2);
    fake_acts(W, out, C, 3);
    ptq_ru_opts o = {.K = 16, .lambda = 3, .B = ptq_block_size_for(C, 128), .zigzag = 1, .householder = 1, .seed = 4};
    ptq_ru_transform *tr = NULL;
    CHECK(ptq_ru_build(X, T, C, &o, &tr, &err) == 0);
    if (!tr) return;
    CHECK(ptq_ru_matrix(tr, M, &err) == 0);
    double oe = ptq_orthogonality_error(M, C);
    printf("ruquant transform C=%d B=%d: orthogonality error %.2e, flops/row %.0f\n", C, o.B, oe,
           ptq_ru_flops_per_row(tr));
    CHECK(oe < 1e-5);
    CHECK(ptq_orthogonality_error(tr->R1t, o.B) < 1e-5 && ptq_orthogonality_error(tr->R2t, o.B) < 1e-5);
    double y0max = 0, diff = 0, amax0 = 0, amax1 = 0;
    double *y0 = malloc(sizeof(double) * T * out);
    for (long t = 0; t < T; t++)
        for (int i = 0; i < out; i++) {
            double s = 0;
            for (int j = 0; j < C; j++) s += (double)X[t * C + j] * W[i * C + j];
            y0[t * out + i] = s;
            y0max = fmax(y0max, fabs(s));
        }
    for (long i = 0; i < T * C; i++) amax0 = fmax(amax0, fabs(X[i]));
    CHECK(ptq_ru_rotate_rows(tr, X, T, &err) == 0 && ptq_ru_rotate_rows(tr, W, out, &err) == 0);
    for (long i = 0; i < T * C; i++) amax1 = fmax(amax1, fabs(X[i]));
    for (long t = 0; t < T; t++)
        for (int i = 0; i < out; i++) {
            double s = 0;
            for (int j = 0; j < C; j++) s += (double)X[t * C + j] * W[i * C + j];
            diff = fmax(diff, fabs(s - y0[t * out + i]));
        }
    printf("ruquant transform C=%d: max|x| %.2f -> %.2f, max |XW^T change| / max|XW^T| = %.2e\n", C, amax0, amax1,
           diff / y0max);
    CHECK(diff / y0max < 1e-4);
    CHECK(amax1 < amax0);
    ptq_ru_free(tr);
    free(X);
    free(W);
    free(M);
    free(y0);
}

/* ---- end to end on stories260K ---------------------------------------- */

#define NT 128
static ptq_model g_ref;
static ptq_tokenizer *g_tok;
static ptq_tokens g_toks;

static int apply_ru(const char *bits, int rotate, ptq_model *m, ptq_err *err) {
    const ptq_method *me = ptq_method_find("ruquant");
    ptq_qspec q;
    if (!me || ptq_qspec_parse(bits, &q, err)) return -1;
    cJSON *o = cJSON_CreateObject(), *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nsamples", 4);
    cJSON_AddNumberToObject(o, "seqlen", 64);
    if (!rotate) { /* smoothing only: no Householder/Givens, zigzag or global reflection */
        cJSON_AddNumberToObject(o, "K", 0);
        cJSON_AddBoolToObject(o, "zigzag", 0);
        cJSON_AddBoolToObject(o, "householder", 0);
    }
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    ptq_apply_ctx ctx = {&q, o, g_tok, &cs, 3, info};
    int rc = ptq_model_clone(m, &g_ref, err) ? -1 : ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(o);
    cJSON_Delete(info);
    return rc;
}

/* Outlier statistics of every linear's input as the quantizer sees it. */
typedef struct {
    double kurt, ratio;
    int n;
} outl;

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void stats_cap(void *ctx, int layer, int which, const float *x, const float *xq, int T, int n) {
    outl *st = ctx;
    (void)layer, (void)xq;
    if (which == PTQ_LIN_K || which == PTQ_LIN_V || which == PTQ_LIN_UP || layer >= 5) return; /* one per input */
    double m1 = 0, m2 = 0, m4 = 0;
    size_t N = (size_t)T * n;
    for (size_t i = 0; i < N; i++) m1 += x[i];
    m1 /= N;
    for (size_t i = 0; i < N; i++) {
        double d = (x[i] - m1) * (x[i] - m1);
        m2 += d;
        m4 += d * d;
    }
    m2 /= N;
    m4 /= N;
    float *mx = calloc(n, sizeof(float));
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) mx[j] = fmaxf(mx[j], fabsf(x[(size_t)t * n + j]));
    float top = 0;
    for (int j = 0; j < n; j++) top = fmaxf(top, mx[j]);
    qsort(mx, n, sizeof(float), cmp_f);
    st->kurt += m4 / (m2 * m2);
    st->ratio += top / fmax(mx[n / 2], 1e-12);
    st->n++;
    free(mx);
}

static void run(const ptq_model *m, float *logits, outl *st) {
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, NT, &err) == 0);
    s.capture = st ? stats_cap : NULL;
    s.capture_ctx = st;
    CHECK(ptq_forward(m, &s, g_toks.ids, NT, 0, logits, 0, &err) == 0);
    ptq_state_free(&s);
}

static void test_e2e(void) {
    ptq_err err = {{0}};
    ptq_model m;
    static float ref[NT * 512], got[NT * 512];
    outl s0 = {0, 0, 0}, s1 = {0, 0, 0};
    run(&g_ref, ref, &s0);
    int rc = apply_ru("W16A16", 1, &m, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "ruquant: %s\n", err.msg);
        return;
    }
    /* every installed transform orthogonal, counted as an online op */
    double worst = 0;
    int ops = 0;
    for (int l = 0; l < m.cfg.n_layers; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_linear *L = &m.layers[l].lin[j];
            if (L->in_op.kind != PTQ_OP_RUQUANT) continue;
            const ptq_ru_transform *tr = &L->in_op.data->ru;
            float *M = malloc(sizeof(float) * tr->C * tr->C);
            ptq_ru_matrix(tr, M, &err);
            worst = fmax(worst, ptq_orthogonality_error(M, tr->C));
            worst = fmax(worst, ptq_orthogonality_error(tr->R1t, tr->B));
            worst = fmax(worst, ptq_orthogonality_error(tr->R2t, tr->B));
            free(M);
            ops += ptq_online_op_flops(&L->in_op) > 0;
        }
    printf("ruquant: %d linears with an online rotation, worst orthogonality error %.2e\n", ops, worst);
    CHECK(ops == m.cfg.n_layers * PTQ_LIN_COUNT);
    const ptq_layer *L0 = &m.layers[0]; /* one op per input group, shared by its linears */
    CHECK(L0->lin[PTQ_LIN_Q].in_op.data == L0->lin[PTQ_LIN_V].in_op.data && L0->lin[PTQ_LIN_Q].in_op.data->refs == 3);
    CHECK(L0->lin[PTQ_LIN_GATE].in_op.data == L0->lin[PTQ_LIN_UP].in_op.data && L0->lin[PTQ_LIN_UP].in_op.data->refs == 2);
    CHECK(L0->lin[PTQ_LIN_O].in_op.data->ru.s_inv && !L0->lin[PTQ_LIN_Q].in_op.data->ru.s_inv);
    CHECK(worst < 1e-5);
    run(&m, got, &s1);
    double d = 0, r = 0;
    for (size_t i = 0; i < (size_t)NT * 512; i++) d += ((double)got[i] - ref[i]) * (got[i] - ref[i]), r += (double)ref[i] * ref[i];
    printf("ruquant W16A16: relative logits difference %.2e\n", sqrt(d / r));
    CHECK(sqrt(d / r) < 1e-4);
    printf("linear inputs (mean over %d): kurtosis %.2f -> %.2f, max/median channel max %.2f -> %.2f\n", s0.n,
           s0.kurt / s0.n, s1.kurt / s1.n, s0.ratio / s0.n, s1.ratio / s1.n);
    CHECK(s1.n == s0.n && s0.n > 0);
    CHECK(s1.kurt < s0.kurt);
    CHECK(s1.ratio < s0.ratio);
    ptq_model_free(&m);
    /* the rotations themselves (not only the smoothing) reduce the outliers */
    outl s2 = {0, 0, 0};
    CHECK(apply_ru("W16A16", 0, &m, &err) == 0);
    run(&m, got, &s2);
    printf("smoothing only: kurtosis %.2f, max/median channel max %.2f\n", s2.kurt / s2.n, s2.ratio / s2.n);
    CHECK(s1.kurt < s2.kurt && s1.ratio < s2.ratio);
    ptq_model_free(&m);
}

int main(void) {
    test_householder();
    test_get_R(64, 512);
    test_get_R(86, 300);
    test_get_R(128, 200);
    test_zigzag();
    test_transform(64);
    test_transform(172);
    ptq_err err = {{0}};
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &g_ref, &g_tok, &err) ||
        ptq_text_tokens("tinystories", g_tok, &g_toks, &err)) {
        fprintf(stderr, "stories260K not available, end-to-end part skipped: %s\n", err.msg);
        return tu_done("test_ruquant");
    }
    test_e2e();
    ptq_tokens_free(&g_toks);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
    return tu_done("test_ruquant");
}
