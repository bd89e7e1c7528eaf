/* test_specquant.c — SpecQuant end to end:
 *  - k = full spectrum: W_low reconstructs the (smoothed) W to 1e-5;
 *  - k = 0: the result is exactly GPTQ on the same (smoothed) weights;
 *  - the fake-quant forward x.(W_low + Q(R))^T equals the kernel path that
 *    evaluates the low-frequency branch from the k coefficients per row;
 *  - on stories260K: the branch's bytes are the side bytes counted for the
 *    memory metric, and a W4A4 model gives finite logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "model_open.h"
#include "fakequant.h"
#include "specquant.h"
#include "testref.h"
#include "testutil.h"

#define ROWS 40
#define COLS 64
#define TT 256

static float X[TT * COLS], W[ROWS * COLS];
static ptq_hessian H;

static void setup(void) {
    ptq_err err;
    ptq_rng r;
    ptq_rng_seed(&r, 21);
    for (int t = 0; t < TT; t++)
        for (int j = 0; j < COLS; j++) X[t * COLS + j] = (float)ptq_rng_normal(&r) * (j == 7 ? 10.f : 1.f);
    for (int i = 0; i < ROWS * COLS; i++) W[i] = (float)(ptq_rng_normal(&r) * 0.1 + 0.05 * sin(i % COLS * 0.1));
    CHECK(ptq_hessian_init(&H, COLS, &err) == 0);
    ptq_hessian_add(&H, X, TT);
}

static ptq_specquant_opts opts(int bits, int k, int fp16) {
    ptq_specquant_opts o;
    memset(&o, 0, sizeof o);
    o.g = ptq_gptq_default(bits);
    o.budget = PTQ_SPEC_FIXED;
    o.k = k;
    o.fp16 = fp16;
    return o;
}

static void test_full_and_zero(void) {
    ptq_err err = {{0}};
    float w[ROWS * COLS], g[ROWS * COLS], *side = NULL;
    /* full spectrum, no quantization: W_low == W, residual ~ 0 */
    ptq_specquant_opts o = opts(16, COLS / 2 + 1, 0);
    memcpy(w, W, sizeof w);
    CHECK(ptq_specquant_linear(w, ROWS, COLS, &H, NULL, &o, &side, NULL, NULL, &err) == 0);
    double d = 0, res = 0;
    for (int i = 0; i < ROWS * COLS; i++) d = fmax(d, fabs(side[i] - W[i])), res = fmax(res, fabs(w[i]));
    CHECK_NEAR(d, 0, 1e-5);
    CHECK_NEAR(res, 0, 1e-5);
    free(side);
    /* k = 0: exactly GPTQ */
    o = opts(4, 0, 1);
    memcpy(w, W, sizeof w);
    memcpy(g, W, sizeof g);
    CHECK(ptq_specquant_linear(w, ROWS, COLS, &H, NULL, &o, &side, NULL, NULL, &err) == 0);
    CHECK(side == NULL);
    CHECK(ptq_gptq_quantize(g, ROWS, COLS, &H, &o.g, NULL, NULL, &err) == 0);
    CHECK(memcmp(w, g, sizeof w) == 0);
}

/* Fake-quant forward (w_side dense) vs the coefficient-domain kernel path. */
static void test_forward_paths(void) {
    ptq_err err = {{0}};
    float w[ROWS * COLS], *side = NULL;
    ptq_specquant_opts o = opts(4, 5, 1);
    ptq_spectral_branch br;
    memcpy(w, W, sizeof w);
    CHECK(ptq_specquant_linear(w, ROWS, COLS, &H, NULL, &o, &side, &br, NULL, &err) == 0);
    CHECK(side != NULL);
    if (!side) return;
    ptq_linear L;
    memset(&L, 0, sizeof L);
    L.out = ROWS;
    L.in = COLS;
    L.w = w;
    L.w_side = side;
    L.aq = (ptq_act_qspec){4, 0, 1.f, 0};
    static float scratch[2 * TT * COLS], y1[TT * ROWS], y2[TT * ROWS], xq[TT * COLS];
    ptq_err le;
    CHECK(ptq_linear_forward(&L, X, scratch, y1, TT, NULL, NULL, 0, 0, &le) == 0);
    memcpy(xq, X, sizeof xq);
    ptq_fq_rows(xq, TT, COLS, &L.aq);
    for (int t = 0; t < TT; t++)
        for (int r = 0; r < ROWS; r++) {
            double s = 0;
            for (int j = 0; j < COLS; j++) s += (double)xq[t * COLS + j] * w[r * COLS + j];
            y2[t * ROWS + r] = (float)s;
        }
    CHECK(ptq_spectral_branch_apply(&br, X, TT, y2, &err) == 0);
    double d = 0, m = 0;
    for (int i = 0; i < TT * ROWS; i++) d = fmax(d, fabs(y1[i] - y2[i])), m = fmax(m, fabs(y1[i]));
    printf("fake-quant vs coefficient path: max diff %.2e (max |y| %.2f)\n", d, m);
    CHECK(d / m < 1e-5);
    CHECK(ptq_spectral_branch_bytes(&br) == 2L * ROWS + 4L * 5 * ROWS);
    ptq_spectral_branch_free(&br);
    free(side);
}

static void test_method(void) {
    ptq_err err = {{0}};
    ptq_model ref, m;
    ptq_tokenizer *tok = NULL;
    const ptq_method *me = ptq_method_find("specquant");
    CHECK(me != NULL);
    if (!me) return;
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &ref, &tok, &err)) {
        fprintf(stderr, "stories260K not available, method part skipped: %s\n", err.msg);
        return;
    }
    ptq_qspec q;
    CHECK(ptq_qspec_parse("W4A4KV4", &q, &err) == 0);
    cJSON *o = cJSON_CreateObject(), *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nsamples", 4);
    cJSON_AddNumberToObject(o, "seqlen", 64);
    cJSON_AddNumberToObject(o, "k", 3);
    cJSON_AddNumberToObject(o, "alpha_step", 0.3);
    cJSON_AddNumberToObject(o, "search_tokens", 128);
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    ptq_apply_ctx ctx = {&q, o, tok, &cs, 3, info};
    CHECK(ptq_model_clone(&m, &ref, &err) == 0);
    int rc = ptq_method_apply(me, &m, &ctx, &err);
    CHECK(rc == 0);
    if (!rc) {
        long bytes = 0, want = 0;
        for (int l = 0; l < m.cfg.n_layers; l++)
            for (int j = 0; j < PTQ_LIN_COUNT; j++) {
                const ptq_linear *L = &m.layers[l].lin[j];
                bytes += ptq_linear_side_bytes(L);
                want += 2L * L->out + 4L * 3 * L->out; /* int16 k + 3 fp16 complex bins per row */
                CHECK(L->w_side != NULL && L->aq.bits == 4 && L->aq.sym == 0);
            }
        CHECK(bytes == want);
        CHECK(cJSON_GetObjectItem(info, "side_bytes")->valuedouble == bytes);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(info, "specquant_alpha")) == 4 * m.cfg.n_layers);
        printf("specquant W4A4KV4 k=3 on stories260K: %ld side bytes\n", bytes);
        ptq_state s;
        static float logits[32 * 512];
        int toks[32];
        for (int i = 0; i < 32; i++) toks[i] = (i * 37 + 1) % 512;
        CHECK(ptq_state_init(&s, &m, 32, &err) == 0);
        CHECK(ptq_forward(&m, &s, toks, 32, 0, logits, 0, &err) == 0);
        int fin = 1;
        for (int i = 0; i < 32 * 512; i++) fin &= isfinite(logits[i]) != 0;
        CHECK(fin);
        ptq_state_free(&s);
    } else
        fprintf(stderr, "specquant: %s\n", err.msg);
    /* bad option value */
    cJSON_AddStringToObject(o, "budget", "nope");
    ptq_model m2;
    CHECK(ptq_model_clone(&m2, &ref, &err) == 0);
    CHECK(ptq_method_apply(me, &m2, &ctx, &err) == -1 && strstr(err.msg, "budget"));
    ptq_model_free(&m2);
    ptq_model_free(&m);
    ptq_model_free(&ref);
    ptq_tokenizer_free(tok);
    cJSON_Delete(o);
    cJSON_Delete(info);
}

int main(void) {
    setup();
    test_full_and_zero();
    test_forward_paths();
    test_method();
    ptq_hessian_free(&H);
    return tu_done("test_specquant");
}
