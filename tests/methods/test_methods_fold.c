/* test_methods_fold.c — exactness of the offline folds and the method
 * interface:
 *  - QuaRot rotated + fused model (W16A16: rotations and online ops, no
 *    quantization) gives the original logits (relative diff < 1e-4);
 *  - SmoothQuant's fold likewise;
 *  - W16A16 through every baseline method == the fp16 reference perplexity;
 *  - option validation (unknown key, wrong type, range) and supports(). */
#include <math.h>
#include <string.h>

#include "method.h"
#include "model_open.h"
#include "perplexity.h"
#include "testutil.h"

static ptq_model g_ref;
static ptq_tokenizer *g_tok;
static ptq_tokens g_toks;
#define T 128

static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++)
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return sqrt(d / r);
}

static int apply(const char *method, const char *bits, ptq_model *m, ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    ptq_qspec q;
    if (!me || ptq_qspec_parse(bits, &q, err)) return -1;
    cJSON *o = cJSON_CreateObject();
    if (ptq_method_opt(me, "nsamples")) cJSON_AddNumberToObject(o, "nsamples", 4);
    if (ptq_method_opt(me, "seqlen")) cJSON_AddNumberToObject(o, "seqlen", 64);
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    cJSON *info = cJSON_CreateObject();
    ptq_apply_ctx ctx = {&q, o, g_tok, &cs, 3, info};
    if (ptq_model_clone(m, &g_ref, err)) return -1;
    int rc = ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(o);
    cJSON_Delete(info);
    if (rc) ptq_model_free(m);
    return rc;
}

static void logits_of(const ptq_model *m, float *out) {
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, T, &err) == 0);
    CHECK(ptq_forward(m, &s, g_toks.ids, T, 0, out, 0, &err) == 0);
    ptq_state_free(&s);
}

static void check_fold(const char *method, const float *ref) {
    ptq_model m;
    ptq_err err = {{0}};
    static float got[T * 512];
    int rc = apply(method, "W16A16", &m, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  %s: %s\n", method, err.msg);
        return;
    }
    logits_of(&m, got);
    double d = rel_diff(got, ref, (size_t)T * m.cfg.vocab_size);
    printf("%s fused W16A16: relative logit diff %.3g\n", method, d);
    CHECK(d < 1e-4);
    ptq_model_free(&m);
}

static double ppl_of(const ptq_model *m) {
    ptq_ppl_opts o = {0};
    o.limit_windows = 1;
    ptq_ppl_result r;
    ptq_err err;
    CHECK(ptq_eval_ppl(m, &g_toks, &o, &r, &err) == 0);
    return r.ppl;
}

static void check_opts(void) {
    const ptq_method *sq = ptq_method_find("smoothquant");
    ptq_err err = {{0}};
    cJSON *o = cJSON_Parse("{\"alpha\": 0.85, \"nsamples\": 16}");
    CHECK(ptq_method_check_opts(sq, o, &err) == 0);
    CHECK_NEAR(ptq_opt_num(sq, o, "alpha"), 0.85, 1e-12);
    CHECK_NEAR(ptq_opt_num(sq, NULL, "alpha"), 0.5, 1e-12);
    CHECK(ptq_opt_bool(sq, NULL, "a_sym") == 1);
    cJSON_Delete(o);
    struct {
        const char *json, *needle;
    } bad[] = {{"{\"alpah\": 0.5}", "unknown option 'alpah'"},
               {"{\"alpha\": \"high\"}", "'alpha' must be a number"},
               {"{\"alpha\": 1.5}", "out of range"},
               {"{\"nsamples\": 2.5}", "'nsamples' must be an integer"},
               {"{\"a_sym\": 1}", "'a_sym' must be a boolean"},
               {"[1]", "must be a JSON object"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = cJSON_Parse(bad[i].json);
        CHECK(ptq_method_check_opts(sq, o, &err) == -1 && strstr(err.msg, bad[i].needle));
        cJSON_Delete(o);
    }
    o = cJSON_CreateObject();
    CHECK(ptq_opts_add_kv(sq, o, "alpha=0.7", &err) == 0);
    CHECK(ptq_opts_add_kv(sq, o, "alpha=abc", &err) == -1 && strstr(err.msg, "must be a number"));
    CHECK(ptq_opts_add_kv(sq, o, "a_sym=maybe", &err) == -1 && strstr(err.msg, "true or false"));
    CHECK(ptq_opts_add_kv(sq, o, "nsamples=1.5", &err) == -1 && strstr(err.msg, "integer"));
    CHECK(ptq_opts_add_kv(sq, o, "novalue", &err) == -1 && strstr(err.msg, "key=value"));
    CHECK(ptq_opts_add_kv(sq, o, "bogus=1", &err) == -1 && strstr(err.msg, "unknown option 'bogus'"));
    cJSON *res = ptq_opts_resolved(sq, o, NULL);
    CHECK(cJSON_GetArraySize(res) > 5);
    CHECK_NEAR(cJSON_GetObjectItem(res, "alpha")->valuedouble, 0.7, 1e-12);
    cJSON_Delete(res);
    cJSON_Delete(o);
    ptq_qspec q;
    ptq_qspec_parse("W4A4", &q, &err);
    const ptq_method *fp = ptq_method_find("fp16");
    CHECK(fp->supports(&q, &err) == -1 && strstr(err.msg, "cannot run W4A4"));
    CHECK(ptq_method_find("nosuch") == NULL);
}

int main(void) {
    ptq_err err = {{0}};
    check_opts();
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &g_ref, &g_tok, &err) ||
        ptq_text_tokens("tinystories", g_tok, &g_toks, &err)) {
        fprintf(stderr, "stories260K not available: %s\n", err.msg);
        return tu_done("test_methods_fold");
    }
    static float ref[T * 512];
    logits_of(&g_ref, ref);
    check_fold("quarot", ref);
    check_fold("smoothquant", ref);
    double p0 = ppl_of(&g_ref);
    const char *names[] = {"fp16", "rtn", "smoothquant", "gptq", "quarot"};
    for (int i = 0; i < 5; i++) {
        ptq_model m;
        CHECK(apply(names[i], "W16A16", &m, &err) == 0);
        double p = ppl_of(&m);
        printf("%-12s W16A16 ppl %.6f (fp16 %.6f)\n", names[i], p, p0);
        CHECK(fabs(p - p0) / p0 < 1e-4);
        ptq_model_free(&m);
    }
    /* a quantized QuaRot model still runs and is finite; online ops installed */
    ptq_model m;
    CHECK(apply("quarot", "W4A4KV4", &m, &err) == 0);
    CHECK(m.layers[0].qk_op.kind == PTQ_OP_HADAMARD && m.layers[0].lin[PTQ_LIN_O].in_op.kind == PTQ_OP_HADAMARD_HEADS);
    CHECK(m.layers[0].lin[PTQ_LIN_DOWN].in_op.kind == PTQ_OP_RANDOM_ORTHOGONAL); /* hidden_dim 172: no Hadamard */
    CHECK(m.layers[0].kq.bits == 4 && m.layers[0].lin[PTQ_LIN_Q].aq.bits == 4 && m.lm_head.aq.bits == 16);
    double pq = ppl_of(&m);
    printf("quarot W4A4KV4 ppl %.4f\n", pq);
    CHECK(isfinite(pq));
    ptq_model_free(&m);
    ptq_tokens_free(&g_toks);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
    return tu_done("test_methods_fold");
}
