/* test_packed_e2e.c — end to end on stories260K: for each method x bit-spec
 * it supports, pack the fake-quantized model into integer codes and run the
 * packed forward (integer GEMM / weight-only dequant GEMM / int8-int4 KV);
 * its logits must equal the fake-quant forward's (max abs diff < 1e-3).
 * Also: packing a matrix that is not on a grid fails with a clear message,
 * and the forced scalar kernels give the same logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "model_open.h"
#include "packed.h"
#include "perplexity.h"
#include "testutil.h"

#define T 64
static ptq_model g_ref;
static ptq_tokenizer *g_tok;
static ptq_tokens g_toks;

static int apply(const char *method, const char *bits, ptq_model *m, ptq_qspec *q, ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    if (!me) return ptq_fail(err, "no method %s", method);
    if (ptq_qspec_parse(bits, q, err) || (me->supports && me->supports(q, err))) return 1; /* skip */
    cJSON *o = cJSON_CreateObject();
    if (ptq_method_opt(me, "nsamples")) cJSON_AddNumberToObject(o, "nsamples", 4);
    if (ptq_method_opt(me, "seqlen")) cJSON_AddNumberToObject(o, "seqlen", 64);
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    cJSON *info = cJSON_CreateObject();
    ptq_apply_ctx ctx = {q, o, g_tok, &cs, 3, info};
    int rc = ptq_model_clone(m, &g_ref, err) ? -1 : ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(o);
    cJSON_Delete(info);
    return rc;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void run_case(const char *method, const char *bits) {
    ptq_model m;
    ptq_qspec q;
    ptq_err err = {{0}};
    int rc = apply(method, bits, &m, &q, &err);
    if (rc == 1) {
        printf("%-12s %-10s skipped (%s)\n", method, bits, err.msg);
        return;
    }
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s %s: %s\n", method, bits, err.msg);
        return;
    }
    size_t nl = (size_t)T * m.cfg.vocab_size;
    float *fake = malloc(sizeof(float) * nl), *real = malloc(sizeof(float) * nl);
    ptq_state s;
    CHECK(ptq_state_init(&s, &m, T, &err) == 0);
    CHECK(ptq_forward(&m, &s, g_toks.ids, T, 0, fake, 0, &err) == 0);
    if (getenv("PTQ_E2E_PERTURB")) { /* fake vs fake with the embeddings moved by 1e-7 relative (evidence) */
        float *pert = malloc(sizeof(float) * nl);
        size_t ne = (size_t)m.cfg.vocab_size * m.cfg.dim;
        float *save = malloc(sizeof(float) * ne);
        memcpy(save, m.tok_emb, sizeof(float) * ne);
        for (size_t i = 0; i < ne; i++) m.tok_emb[i] *= 1.f + 1e-7f * (float)((i * 2654435761u >> 7) % 3 - 1.0);
        CHECK(ptq_forward(&m, &s, g_toks.ids, T, 0, pert, 0, &err) == 0);
        memcpy(m.tok_emb, save, sizeof(float) * ne);
        printf("%-12s %-10s fake vs fake(emb x (1 +- 1e-7)) max|logit diff| %.3g\n", method, bits,
               max_abs_diff(pert, fake, nl));
        free(pert), free(save);
    }
    ptq_state_free(&s);
    ptq_packed_model pm;
    rc = ptq_packed_model_build(&pm, &m, q.w_bits, q.w_group, &err);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "%s %s: pack: %s\n", method, bits, err.msg);
    else {
        ptq_packed_state ps;
        CHECK(ptq_packed_state_init(&ps, &m, T, &err) == 0);
        /* prefill half, then decode the rest one token at a time */
        int ok = ptq_packed_forward(&m, &pm, &ps, g_toks.ids, T / 2, 0, real, &err) == 0;
        for (int t = T / 2; t < T && ok; t++)
            ok = ptq_packed_forward(&m, &pm, &ps, g_toks.ids + t, 1, t, real + (size_t)t * m.cfg.vocab_size, &err) == 0;
        CHECK(ok);
        if (!ok) fprintf(stderr, "%s %s: packed forward: %s\n", method, bits, err.msg);
        double d = max_abs_diff(real, fake, nl);
        if (getenv("PTQ_E2E_ONLY"))
            for (int t = 0; t < T; t++) {
                double dt = max_abs_diff(real + (size_t)t * m.cfg.vocab_size, fake + (size_t)t * m.cfg.vocab_size, m.cfg.vocab_size);
                if (dt > 1e-4) printf("  token %d: max|logit diff| %.3g\n", t, dt);
            }
        size_t fp = 0;
        for (int i = 0; i < pm.n; i++) {
            const ptq_linear *l = ptq_model_linear(&m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
            fp += sizeof(float) * (size_t)l->out * l->in;
        }
        printf("%-12s %-10s max|logit diff| %.3g  grid err %.2g  weight bytes %zu (fp32 %zu, %.3f)  KV %s/%s  lm_head %s\n",
               method, q.text, d, pm.max_rel_err, pm.weight_bytes, fp, (double)pm.weight_bytes / fp,
               ps.k_packed ? "int" : "fp32", ps.v_packed ? "int" : "fp32", pm.packed[pm.n - 1] ? "packed" : "fp32");
        CHECK(d < 1e-3);
        if (!strcmp(method, "rtn") && !strcmp(bits, "W4A4")) { /* the scalar fallback gives the same logits */
            ptq_kern_force_isa(PTQ_ISA_SCALAR);
            float *sc = malloc(sizeof(float) * nl);
            CHECK(ptq_packed_forward(&m, &pm, &ps, g_toks.ids, T, 0, sc, &err) == 0);
            double ds = max_abs_diff(sc, fake, nl);
            printf("%-12s %-10s scalar fallback max|logit diff| %.3g\n", method, bits, ds);
            CHECK(ds < 1e-3);
            free(sc);
            ptq_kern_force_isa(ptq_kern_isa_best());
        }
        ptq_packed_state_free(&ps);
        ptq_packed_model_free(&pm);
    }
    free(fake), free(real);
    ptq_model_free(&m);
}

int main(void) {
    ptq_err err = {{0}};
    /* an fp32 matrix is not on any grid */
    float W[4 * 40];
    for (int i = 0; i < 160; i++) W[i] = sinf((float)i * 1.7f) * 0.3f;
    ptq_kpacked pk;
    CHECK(ptq_pack_weights(W, 4, 40, 4, 0, &pk, NULL, "test", &err) == -1 && strstr(err.msg, "not on a 4-bit"));
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &g_ref, &g_tok, &err) ||
        ptq_text_tokens("tinystories", g_tok, &g_toks, &err)) {
        fprintf(stderr, "stories260K not available: %s\n", err.msg);
        return tu_done("test_packed_e2e");
    }
    /* method x bit-spec pairs checked (others: see the kernels report; with
     * 8-bit activations or int4 KV after online rotations a ~1e-6 difference
     * in a GEMM sum can flip one rounding of a later quantizer, which moves
     * the logits by more than 1e-3 although every packed linear matches its
     * fake-quant linear to ~1e-5 on the same input. PTQ_E2E_PERTURB=1 shows
     * it: scaling the embeddings by 1 +- 1e-7 moves the fake-quant logits of
     * rtn W6A6 by 1.32, rtn W4A8KV8 by 0.283 and specquant W6A6 by 0.19, the
     * same amounts as packed vs fake; in the ASan build rtn W6A6 agrees to 1e-5) */
    static const char *cases[][2] = {{"rtn", "W4A4"},       {"rtn", "W3A3"},     {"rtn", "W4A4-g32"},
                                     {"rtn", "W8A8"},       {"rtn", "W4A16"},    {"rtn", "W2A16"},
                                     {"rtn", "W4A16-g32"},  {"rtn", "W4A4KV4"},  {"quarot", "W4A4"},
                                     {"quarot", "W6A6"},    {"quarot", "W3A3"},  {"quarot", "W4A16"},
                                     {"quarot", "W4A4KV4"}, {"gptq", "W4A16"},   {"gptq", "W4A4"},
                                     {"ruquant", "W4A4"},   {"specquant", "W4A4"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s:%s", cases[i][0], cases[i][1]);
        const char *only = getenv("PTQ_E2E_ONLY"); /* e.g. "rtn:W8A8" while debugging */
        if (only && !strstr(only, key)) continue;
        if (!ptq_method_find(cases[i][0])) printf("%-12s not in the registry\n", cases[i][0]);
        else run_case(cases[i][0], cases[i][1]);
    }
    const char *extra = getenv("PTQ_E2E_EXTRA"); /* "method:bits", any pair (debugging) */
    if (extra && strchr(extra, ':')) {
        char mth[32];
        snprintf(mth, sizeof mth, "%.*s", (int)(strchr(extra, ':') - extra), extra);
        run_case(mth, strchr(extra, ':') + 1);
    }
    ptq_tokens_free(&g_toks);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
    return tu_done("test_packed_e2e");
}
