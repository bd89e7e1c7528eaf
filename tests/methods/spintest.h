/* spintest.h — helpers shared by test_spinquant.c and test_respinquant.c:
 * apply a method with options to a clone of stories260K, logits of a few
 * tokens, relative logits difference. */
#ifndef PTQ_SPINTEST_H
#define PTQ_SPINTEST_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "model_open.h"
#include "testutil.h"

#define NT 64
static ptq_model g_ref;
static ptq_tokenizer *g_tok;
static ptq_tokens g_toks;
static uint64_t g_seed; /* calibration sampling seed (the CLI's --seed sets it too) */

/* opts: "key=value,key=value" (typed by the method's table). info: NULL or filled. */
static inline int apply_opts(const char *method, const char *bits, const char *opts, ptq_model *m, cJSON *info,
                             ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    ptq_qspec q;
    if (!me || ptq_qspec_parse(bits, &q, err)) return -1;
    cJSON *o = cJSON_CreateObject();
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s%s", strstr(opts, "nsamples=") ? "" : "nsamples=4,",
             strstr(opts, "seqlen=") ? "" : "seqlen=64,", opts); /* small calibration unless opts set it */
    int rc = 0;
    for (char *kv = buf, *e; kv && *kv && !rc; kv = e ? e + 1 : NULL) { /* comma-separated */
        if ((e = strchr(kv, ','))) *e = 0;
        rc = ptq_opts_add_kv(me, o, kv, err);
    }
    ptq_qspec qq;
    if (!rc) rc = ptq_method_check_opts(me, o, err) || ptq_method_qspec(me, &q, o, &qq, err);
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, g_seed};
    ptq_apply_ctx ctx = {&qq, o, g_tok, &cs, 3, info};
    if (!rc && !(rc = ptq_model_clone(m, &g_ref, err)) && (rc = ptq_method_apply(me, m, &ctx, err)))
        ptq_model_free(m); /* m is set only on success */
    cJSON_Delete(o);
    return rc;
}

static inline void logits_of(const ptq_model *m, float *logits) {
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, NT, &err) == 0);
    CHECK(ptq_forward(m, &s, g_toks.ids, NT, 0, logits, 0, &err) == 0);
    ptq_state_free(&s);
}

/* ||logits(m) - logits(ref)|| / ||logits(ref)|| */
static inline double rel_diff(const ptq_model *m) {
    size_t n = (size_t)NT * g_ref.cfg.vocab_size;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    logits_of(&g_ref, a);
    logits_of(m, b);
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++)
        d += ((double)a[i] - b[i]) * (a[i] - b[i]), r += (double)a[i] * a[i];
    free(a), free(b);
    return sqrt(d / r);
}

/* The rotated FP model (W16A16) equals the original. */
static inline void check_fp_equal(const char *method, const char *opts) {
    ptq_err err = {{0}};
    ptq_model m;
    int rc = apply_opts(method, "W16A16", opts, &m, NULL, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s %s: %s\n", method, opts, err.msg);
        return;
    }
    double d = rel_diff(&m);
    printf("%s(%s) W16A16: relative logits difference %.2e\n", method, opts, d);
    CHECK(d < 1e-4);
    ptq_model_free(&m);
}

/* apply must fail with a message containing want. */
static inline void check_refused(const char *method, const char *bits, const char *opts, const char *want) {
    ptq_err err = {{0}};
    ptq_model m;
    int rc = apply_opts(method, bits, opts, &m, NULL, &err);
    printf("%s(%s) %s: %s\n", method, opts, bits, rc ? err.msg : "accepted");
    CHECK(rc != 0 && strstr(err.msg, want));
    if (!rc) ptq_model_free(&m);
}

/* name: a registered model ("stories260K", "tinystories-656k"); file: its asset. */
static inline int open_model_assets(const char *name, const char *file) {
    ptq_err err = {{0}};
    if (!tu_asset(file) || ptq_open_model(name, NULL, &g_ref, &g_tok, &err) ||
        ptq_text_tokens("tinystories", g_tok, &g_toks, &err)) {
        fprintf(stderr, "%s not available, end-to-end part skipped: %s\n", name, err.msg);
        return 0;
    }
    return 1;
}

static inline int open_assets(void) {
    return open_model_assets("stories260K", "models/stories260K/stories260K.bin");
}

static inline void close_assets(void) {
    ptq_tokens_free(&g_toks);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
}
#endif
