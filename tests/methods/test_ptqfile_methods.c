/* test_ptqfile_methods.c — export files of real quantized models
 * (stories260K, small calibration): QuaRot W4A4KV4 (Hadamard and random
 * orthogonal online ops, GPTQ weights) and RUQuant W4A4KV4 (block rotations) here;
 * SpecQuant W4A4 (low-frequency coefficients) and SEPTQ W4 (sparse
 * full-precision entries) in test_ptqfile_side_slow.c, which includes this
 * file. Each is saved and loaded back (every online op rebuilt from its
 * kind): the same quantized weights (codes, scales, zeros, side data) and
 * bit-identical dequantized weights, the in-memory model's logits and
 * perplexity on a few windows; the packed forward runs on kernels built from
 * the loaded qweights. RTN and GPTQ W4A16 and QuaRot W4A4KV4 also run on the
 * model with its embedding rounded to bf16 (as a bf16 checkpoint loads):
 * the file stores the embedding as bf16 for RTN and GPTQ (half the bytes of
 * f32: the file is that much smaller than the f32 one of format 3) and as f32
 * for QuaRot (rotated: no longer bf16 values); the loaded model holds it in
 * that dtype and gives the same logits bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "method.h"
#include "model_open.h"
#include "packed.h"
#include "perplexity.h"
#include "ptqfile.h"
#include "testutil.h"

#define NT 64
static ptq_model g_ref;
static ptq_tokenizer *g_tok;
static ptq_tokens g_toks;

static int quantize(const char *method, const char *bits, const ptq_model *ref, ptq_model *m, ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    ptq_qspec q;
    if (!me || ptq_qspec_parse(bits, &q, err)) return -1;
    cJSON *o = cJSON_CreateObject(), *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nsamples", 2);
    cJSON_AddNumberToObject(o, "seqlen", 64);
    if (!strcmp(method, "specquant")) cJSON_AddBoolToObject(o, "alpha_search", 0);
    if (!strcmp(method, "ruquant")) cJSON_AddNumberToObject(o, "K", 2); /* fewer Householder steps: faster, same format */
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    ptq_apply_ctx ctx = {&q, o, g_tok, &cs, 3, info};
    int rc = ptq_model_clone(m, ref, err) ? -1 : ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(o), cJSON_Delete(info);
    return rc;
}

static void run(const ptq_model *m, float *logits) {
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, NT, &err) == 0);
    CHECK(ptq_forward(m, &s, g_toks.ids, NT, 0, logits, 0, &err) == 0);
    ptq_state_free(&s);
}

static double ppl(const ptq_model *m) {
    ptq_ppl_opts o = {64, PTQ_PPL_GPTQ, 0, 4, -1, 0};
    ptq_ppl_result r;
    ptq_err err;
    CHECK(ptq_eval_ppl(m, &g_toks, &o, &r, &err) == 0);
    return r.ppl;
}

/* The file's entry for tensor name: dtype and bytes (format 4: the JSON header ends the file). */
static void file_tensor(const char *path, const char *name, char *dtype, double *bytes) {
    char *d;
    size_t n;
    uint64_t jl;
    ptq_err err;
    dtype[0] = 0, *bytes = 0;
    if (ptq_read_file(path, &d, &n, &err)) return;
    memcpy(&jl, d + 16, 8);
    cJSON *h = d[8] == 4 && jl < n ? cJSON_ParseWithLength(d + n - jl, jl) : NULL, *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(h, "tensors")) {
        if (strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name)) continue;
        snprintf(dtype, 8, "%s", cJSON_GetObjectItem(e, "dtype")->valuestring);
        *bytes = cJSON_GetObjectItem(e, "bytes")->valuedouble;
    }
    cJSON_Delete(h);
    free(d);
}

/* The same fp32 values, whether held as fp32 or 16-bit storage. */
static int same_w(const ptq_linear *x, const ptq_linear *y) {
    int ok = 1;
    float *a = malloc(sizeof(float) * x->in), *b = malloc(sizeof(float) * x->in);
    for (int r = 0; r < x->out && ok; r++) {
        const ptq_linear *l[2] = {x, y};
        float *o[2] = {a, b};
        for (int k = 0; k < 2; k++)
            if (l[k]->w) memcpy(o[k], l[k]->w + (size_t)r * x->in, sizeof(float) * x->in);
            else ptq_w16_row(l[k]->w16.dtype, l[k]->w16.w + (size_t)r * x->in, o[k], x->in);
        ok = !memcmp(a, b, sizeof(float) * x->in);
    }
    free(a), free(b);
    return ok;
}

static void roundtrip(const char *method, const char *bits, const ptq_model *ref, const char *emb_dtype,
                      int want_sparse, const char *path) {
    ptq_err err = {{0}};
    ptq_model a, b;
    ptq_packed_model pm;
    double tq = ptq_now_sec();
    if (quantize(method, bits, ref, &a, &err)) {
        fprintf(stderr, "%s: %s\n", method, err.msg);
        CHECK(0);
        return;
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "qspec", bits);
    ptq_file_stats st;
    double t0 = ptq_now_sec();
    int rc = ptq_file_save_ex(path, &a, meta, NULL, &st, &err);
    double t1 = ptq_now_sec();
    rc = rc ? rc : ptq_file_load(path, &b, NULL, &err);
    if (!rc && ptq_packed_model_build(&pm, &b, &err)) {
        ptq_model_free(&b);
        rc = -1;
    }
    double t2 = ptq_now_sec();
    CHECK(rc == 0);
    char dt[8];
    double eb, ne = (double)a.cfg.vocab_size * a.cfg.dim;
    file_tensor(path, "tok_emb", dt, &eb);
    CHECK(!strcmp(dt, emb_dtype) && eb == ne * (dt[0] == 'b' ? 2 : 4));
    CHECK(!rc && (dt[0] == 'b' ? b.emb16.dtype == PTQ_W16_BF16 && !b.tok_emb : b.tok_emb && !b.emb16.w));
    if (!rc && dt[0] == 'b') { /* the old layout (f32 embedding) is larger by the embedding's other half */
        ptq_file_opts o3 = {3};
        ptq_file_stats s3;
        CHECK(ptq_file_save_ex(path, &a, meta, &o3, &s3, &err) == 0);
        printf("%-9s %-8s tok_emb bf16: %zu bytes, format 3 (f32) %zu bytes\n", method, bits, st.file_bytes,
               s3.file_bytes);
        CHECK(fabs((double)s3.file_bytes - (double)st.file_bytes - 2 * ne) < 512);
    }
    cJSON_Delete(meta);
    if (rc) {
        fprintf(stderr, "%s: %s\n", method, err.msg);
        ptq_model_free(&a);
        return;
    }
    static float la[NT * 512], lb[NT * 512], lp[NT * 512];
    run(&a, la);
    run(&b, lb);
    double d = 0;
    for (int i = 0; i < NT * b.cfg.vocab_size; i++) d = fmax(d, fabs((double)la[i] - lb[i]));
    double pa = ppl(&a), pb = ppl(&b);
    int npk = 0;
    for (int i = 0; i < pm.n; i++) npk += pm.packed[i];
    printf("%-9s %-8s quantized in %.2f s; %zu bytes, %d/%d linears packed (%d with kernels), %ld sparse, %d ops; "
           "save %.3f s load %.3f s; "
           "max|dlogit| %.2e; ppl %.4f -> %.4f\n",
           method, bits, t0 - tq, st.file_bytes, st.packed_linears, st.linears, npk, st.sparse_entries, st.online_ops, t1 - t0,
           t2 - t1, d, pa, pb);
    int same = 1; /* every qweight back exactly, so the weights bit for bit */
    for (int i = 0; i <= a.cfg.n_layers * PTQ_LIN_COUNT; i++) {
        const ptq_linear *x = ptq_model_linear(&a, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        const ptq_linear *y = ptq_model_linear(&b, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        size_t n = (size_t)x->out * x->in;
        same &= !x->qw == !y->qw && same_w(x, y) &&
                (!x->w_side || !memcmp(x->w_side, y->w_side, n * sizeof(float)));
        if (!x->qw || !y->qw) continue;
        const ptq_qweight *p = x->qw, *q = y->qw;
        size_t ng = (size_t)p->out * p->ngroups;
        same &= p->bits == q->bits && p->group == q->group && p->sym == q->sym && !memcmp(p->codes, q->codes, n) &&
                !memcmp(p->scale, q->scale, ng * 4) && !memcmp(p->zero, q->zero, ng * sizeof(int)) &&
                p->nnz == q->nnz && p->lowfreq.kmax == q->lowfreq.kmax && p->side_bytes == q->side_bytes;
    }
    CHECK(same);
    for (int l = 0; l < a.cfg.n_layers; l++) { /* every op back with its kind */
        CHECK(a.layers[l].qk_op.kind == b.layers[l].qk_op.kind);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_online_op *x = &a.layers[l].lin[j].in_op, *y = &b.layers[l].lin[j].in_op;
            CHECK(x->kind == y->kind && x->n == y->n && x->seed == y->seed);
        }
    }
    CHECK(d == 0 && pa == pb);
    CHECK(st.packed_linears >= b.cfg.n_layers * PTQ_LIN_COUNT);
    CHECK(want_sparse ? st.sparse_entries > 0 : st.sparse_entries == 0);
    /* the packed path (kernels attached to pm.view) on the loaded codes */
    ptq_state ps;
    if (ptq_state_init_packed(&ps, &pm.view, NT, NT, &err) == 0) {
        rc = ptq_forward(&pm.view, &ps, g_toks.ids, NT, 0, lp, 0, &err);
        CHECK(rc == 0);
        double dp = 0, s = 0;
        for (int i = 0; !rc && i < NT * b.cfg.vocab_size; i++) dp += fabs((double)lp[i] - lb[i]), s += fabs((double)lb[i]);
        printf("          packed path on the loaded codes: mean |dlogit| / mean |logit| = %.2e\n", dp / s);
        CHECK(rc == 0 && dp / s < 0.05);
        ptq_state_free(&ps);
    } else {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
    }
    ptq_packed_model_free(&pm);
    ptq_model_free(&b);
    ptq_model_free(&a);
}

int main(void) {
    ptq_err err = {{0}};
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &g_ref, &g_tok, &err) ||
        ptq_text_tokens("tinystories", g_tok, &g_toks, &err)) {
        fprintf(stderr, "stories260K not available, test skipped: %s\n", err.msg);
        return tu_done("test_ptqfile_methods");
    }
    char p[256];
    snprintf(p, sizeof p, "/tmp/ptq_file_methods_%d.ptq", (int)getpid());
#ifdef PTQFILE_SIDE_METHODS /* test_ptqfile_side_slow.c: SEPTQ's calibration alone takes ~25 s */
    roundtrip("specquant", "W4A4", &g_ref, "f32", 0, p);
    roundtrip("septq", "W4", &g_ref, "f32", 1, p);
#else
    ptq_model g_ref16; /* the embedding in bf16 values, as a bf16 checkpoint */
    CHECK(ptq_model_clone(&g_ref16, &g_ref, &err) == 0);
    for (size_t i = 0; i < (size_t)g_ref.cfg.vocab_size * g_ref.cfg.dim; i++) {
        uint32_t u;
        memcpy(&u, &g_ref16.tok_emb[i], 4);
        u = (u + 0x7fff + (u >> 16 & 1)) & 0xffff0000u;
        memcpy(&g_ref16.tok_emb[i], &u, 4);
    }
    roundtrip("rtn", "W4A16", &g_ref16, "bf16", 0, p);
    roundtrip("gptq", "W4A16", &g_ref16, "bf16", 0, p);
    roundtrip("quarot", "W4A4KV4", &g_ref16, "f32", 0, p);
    roundtrip("ruquant", "W4A4KV4", &g_ref, "f32", 0, p);
    ptq_model_free(&g_ref16);
#endif
    unlink(p);
    ptq_tokens_free(&g_toks);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
    return tu_done("test_ptqfile_methods");
}
