/* test_ggml_method.c — the ggml method (methods/ggml.c):
 *  - the type of every tensor equals what llama.cpp's llama_model_quantize
 *    chose for the same shapes (tests/data/ggml/mix.txt, made by make_mix.c
 *    on three models: 16 layers GQA 4, 9 layers MHA, stories260K's shapes),
 *    for every ftype, with and without imatrix, and pure;
 *  - end to end on a small random model with 256-wide rows: every linear
 *    holds exactly dequant(ggml quantize(W, its type, imatrix)), the imatrix
 *    being the mean x^2 of the full-precision model's linear inputs on the
 *    same calibration windows, computed here independently; grid types carry
 *    a qweight whose dequantization is that same matrix;
 *  - embed/quant_lm_head give the embedding and lm_head llama.cpp's
 *    token_embd and output types;
 *  - info (bytes, counts), option and bit-spec errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "method.h"
#include "testutil.h"

#define MIX "tests/data/ggml/mix.txt"

static const struct {
    const char *name;
    int n_layers, n_gqa, dim, ffn;
} MODELS[] = {{"r16g4", 16, 4, 256, 512}, {"r9g1", 9, 1, 256, 768}, {"s260k", 5, 2, 64, 172}};

static void test_mix_fixture(void) {
    FILE *f = fopen(MIX, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[4096];
    int lines = 0, tensors = 0;
    while (fgets(line, sizeof line, f)) {
        char mname[32], ft[32], types[2048];
        int im, pure;
        if (sscanf(line, "%31s %31s %d %d %2047s", mname, ft, &im, &pure, types) != 5) continue;
        int k = -1, ftype = ptq_ggml_ftype_find(ft);
        for (int i = 0; i < 3; i++)
            if (!strcmp(MODELS[i].name, mname)) k = i;
        CHECK(k >= 0 && ftype >= 0 && (int)strlen(types) == 2 + 7 * (k >= 0 ? MODELS[k].n_layers : 0));
        if (k < 0 || ftype < 0) continue;
        lines++;
        for (int t = 0; types[t]; t++) {
            ptq_ggml_site s = {.layer = (t - 2) / 7, .n_layers = MODELS[k].n_layers, .n_gqa = MODELS[k].n_gqa,
                               .ncols = MODELS[k].dim, .has_imatrix = im};
            s.role = t == 0 ? PTQ_GGML_TOKEN_EMBD : t == 1 ? PTQ_GGML_OUTPUT : (t - 2) % 7;
            if (s.role == PTQ_LIN_DOWN) s.ncols = MODELS[k].ffn;
            int got = ptq_ggml_tensor_type(ftype, pure, &s, NULL), want = types[t] - 'a';
            if (got != want) {
                fprintf(stderr, "%s %s imatrix=%d pure=%d tensor %d (role %d layer %d): %s, llama.cpp %d\n", mname,
                        ft, im, pure, t, s.role, s.layer, ptq_ggml_type_info_of(got)->name, want);
                tu_failures++;
            }
            tensors++;
        }
    }
    fclose(f);
    printf("mix fixture: %d quantizations, %d tensors match llama.cpp's choice\n", lines, tensors);
    CHECK(lines >= 3 * 21);
}

/* ---- end to end on a random model ---- */
static void fill(float *x, size_t n, ptq_rng *r, float scale, float base) {
    for (size_t i = 0; i < n; i++) x[i] = base + scale * (float)ptq_rng_normal(r);
}

static void make_model(ptq_model *m) {
    ptq_config c = {0};
    c.dim = 256, c.hidden_dim = 512, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 1, c.vocab_size = 64;
    c.max_seq = 32, c.head_dim = 64, c.rope_theta = 10000.f, c.norm_eps = 1e-5f, c.bos_id = 1, c.eos_id = 2;
    ptq_err err;
    CHECK(ptq_model_alloc(m, &c, &err) == 0);
    ptq_rng r;
    ptq_rng_seed(&r, 5);
    fill(m->tok_emb, (size_t)c.vocab_size * c.dim, &r, 0.5f, 0.f);
    fill(m->rms_final, c.dim, &r, 0.1f, 1.f);
    fill(m->lm_head.w, (size_t)c.vocab_size * c.dim, &r, 0.05f, 0.f);
    for (int l = 0; l < c.n_layers; l++) {
        fill(m->layers[l].rms_att, c.dim, &r, 0.1f, 1.f);
        fill(m->layers[l].rms_ffn, c.dim, &r, 0.1f, 1.f);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *L = &m->layers[l].lin[j];
            fill(L->w, (size_t)L->out * L->in, &r, 1.0f / sqrtf((float)L->in), 0.f);
        }
    }
}

typedef struct {
    double *sum[2][PTQ_LIN_COUNT];
    long rows[2][PTQ_LIN_COUNT];
} imat_acc;

static void cap(void *ctx, int layer, int which, const float *x, const float *xq, int T, int n) {
    (void)xq;
    imat_acc *a = ctx;
    if (which < 0 || which >= PTQ_LIN_COUNT || layer > 1) return;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) a->sum[layer][which][j] += (double)x[(size_t)t * n + j] * x[(size_t)t * n + j];
    a->rows[layer][which] += T;
}

static int apply_ex(const ptq_model *ref, ptq_model *m, const char *bits, const char *type, int imatrix, int io,
                    cJSON *info, ptq_err *err) {
    ptq_qspec q;
    memset(m, 0, sizeof *m);
    if (ptq_qspec_parse(bits, &q, err)) return -1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddBoolToObject(o, "imatrix", imatrix);
    if (io) cJSON_AddBoolToObject(o, "embed", 1), cJSON_AddBoolToObject(o, "quant_lm_head", 1);
    cJSON_AddNumberToObject(o, "nsamples", 3);
    cJSON_AddNumberToObject(o, "seqlen", 32);
    ptq_calib_spec cs = {PTQ_CALIB_RANDOM, 0, 0, 9};
    ptq_apply_ctx ctx = {&q, o, NULL, &cs, 9, info};
    const ptq_method *me = ptq_method_find("ggml");
    int rc = ptq_model_clone(m, ref, err);
    if (!rc) rc = ptq_method_check_opts(me, o, err);
    if (!rc) rc = me->supports(&q, err);
    if (!rc) rc = ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(o);
    return rc;
}

static int apply(const ptq_model *ref, ptq_model *m, const char *bits, const char *type, int imatrix, cJSON *info,
                 ptq_err *err) {
    return apply_ex(ref, m, bits, type, imatrix, 0, info, err);
}

/* w (out x in) after ggml quantize + dequantize as `type`, no imatrix, equals got. */
static int same_as_ggml(const float *w, const float *got, int out, int in, int type) {
    ptq_err err;
    long rb = ptq_ggml_row_bytes(type, in, &err), n = (long)out * in;
    unsigned char *q = malloc((size_t)rb * out);
    float *want = malloc(sizeof(float) * n);
    int ok = !ptq_ggml_quantize(type, w, q, out, in, NULL, &err) && !ptq_ggml_dequantize(type, q, want, out, in, &err) &&
             !memcmp(want, got, sizeof(float) * n);
    free(q), free(want);
    return ok;
}

/* embed=true, quant_lm_head=true: llama.cpp's token_embd (the ftype's base
 * type) and output (q6_K) types on the embedding table and lm_head. */
static void test_io_tensors(const ptq_model *ref) {
    ptq_model m;
    ptq_err err;
    cJSON *info = cJSON_CreateObject();
    int rc = apply_ex(ref, &m, "W4A16", "q4_k_m", 0, 1, info, &err);
    CHECK(rc == 0);
    if (!rc) {
        const cJSON *t = cJSON_GetObjectItem(info, "tensor_types");
        CHECK(!strcmp(cJSON_GetObjectItem(t, "token_embd")->valuestring, "q4_K"));
        CHECK(!strcmp(cJSON_GetObjectItem(t, "lm_head")->valuestring, "q6_K"));
        CHECK(same_as_ggml(ref->tok_emb, m.tok_emb, 64, 256, PTQ_GGML_Q4_K));
        CHECK(same_as_ggml(ref->lm_head.w, m.lm_head.w, 64, 256, PTQ_GGML_Q6_K) && m.lm_head.qw && m.lm_head.qw->bits == 6);
        CHECK(cJSON_GetObjectItem(info, "ggml_bytes")->valuedouble ==
              cJSON_GetObjectItem(info, "layer_bytes")->valuedouble + 64 * 144 + 64 * 210);
    } else
        fprintf(stderr, "io tensors: %s\n", err.msg);
    ptq_model_free(&m);
    cJSON_Delete(info);
}

/* The imatrix of every layer linear: the fp model on the method's windows. */
static void reference_imatrix(const ptq_model *ref, imat_acc *a) {
    ptq_err err;
    ptq_qspec q;
    ptq_qspec_parse("W4A16", &q, &err);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nsamples", 3);
    cJSON_AddNumberToObject(o, "seqlen", 32);
    ptq_calib_spec cs = {PTQ_CALIB_RANDOM, 0, 0, 9};
    ptq_apply_ctx ctx = {&q, o, NULL, &cs, 9, NULL};
    ptq_calib c;
    memset(&c, 0, sizeof c);
    CHECK(ptq_method_calib(ptq_method_find("ggml"), &ctx, ref, &c, &err) == 0);
    ptq_state s;
    CHECK(ptq_state_init(&s, ref, c.seqlen, &err) == 0);
    s.capture = cap, s.capture_ctx = a;
    for (int i = 0; i < c.nsamples; i++) CHECK(ptq_forward(ref, &s, c.tokens + i * c.seqlen, c.seqlen, 0, NULL, 0, &err) == 0);
    ptq_state_free(&s);
    ptq_calib_free(&c);
    cJSON_Delete(o);
}

/* Each layer linear of m against ggml quantize + dequantize of ref's weight. */
static void check_linears(const ptq_model *ref, const ptq_model *m, int ftype, const imat_acc *a, cJSON *info) {
    ptq_err err;
    long bytes = 0, n_grid = 0;
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_linear *R = &ref->layers[l].lin[j], *L = &m->layers[l].lin[j];
            ptq_ggml_site site = {.role = j, .layer = l, .n_layers = 2, .n_gqa = 4, .ncols = R->in, .has_imatrix = !!a};
            int type = ptq_ggml_tensor_type(ftype, 0, &site, NULL), bits, group;
            long rb = ptq_ggml_row_bytes(type, R->in, &err), n = (long)R->out * R->in;
            float *im = NULL, *want = malloc(sizeof(float) * n);
            unsigned char *q = malloc((size_t)rb * R->out);
            if (a) {
                im = malloc(sizeof(float) * R->in);
                for (int k = 0; k < R->in; k++) im[k] = (float)(a->sum[l][j][k] / a->rows[l][j]);
            }
            CHECK(ptq_ggml_quantize(type, R->w, q, R->out, R->in, im, &err) == 0);
            CHECK(ptq_ggml_dequantize(type, q, want, R->out, R->in, &err) == 0);
            if (memcmp(want, L->w, sizeof(float) * n)) {
                fprintf(stderr, "layer %d %s (%s%s): weights differ from ggml quantize+dequantize\n", l,
                        ptq_linear_names[j], ptq_ggml_type_info_of(type)->name, a ? ", imatrix" : "");
                tu_failures++;
            }
            int grid = ptq_ggml_grid_info(type, &bits, &group);
            CHECK(!!L->qw == grid);
            if (grid && L->qw) {
                float *dq = malloc(sizeof(float) * n);
                ptq_qweight_dequant(L->qw, dq);
                CHECK(!memcmp(dq, want, sizeof(float) * n) && L->qw->bits == bits && L->qw->group == group);
                free(dq);
                n_grid++;
            }
            bytes += rb * R->out;
            free(im), free(want), free(q);
        }
    CHECK(cJSON_GetObjectItem(info, "layer_bytes")->valuedouble == bytes);
    CHECK(cJSON_GetObjectItem(info, "ggml_bytes")->valuedouble == bytes);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(info, "tensor_types")) == 14);
    printf("%s%s: %ld layer bytes (%.4g bpw), %ld of 14 linears on the qweight grid\n",
           cJSON_GetObjectItem(info, "ggml_ftype")->valuestring, a ? " imatrix" : "", bytes,
           cJSON_GetObjectItem(info, "bpw")->valuedouble, n_grid);
}

static void test_end_to_end(void) {
    ptq_model ref, m;
    ptq_err err;
    make_model(&ref);
    static imat_acc a;
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) a.sum[l][j] = calloc((size_t)ref.layers[l].lin[j].in, sizeof(double));
    reference_imatrix(&ref, &a);
    static const struct {
        const char *bits, *type;
        int imatrix;
    } runs[] = {{"W4A16", "q4_k_m", 0}, {"W4A16", "q4_k_m", 1}, {"W3A16", "q3_k_s", 1}, {"W6A16", "auto", 0},
                {"W4A16", "q4_0", 1},   {"W2A16", "q2_k_s", 1}, {"W4A16", "iq4_nl", 0}, {"W8A16", "q8_0", 0}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        cJSON *info = cJSON_CreateObject();
        int rc = apply(&ref, &m, runs[i].bits, runs[i].type, runs[i].imatrix, info, &err);
        CHECK(rc == 0);
        if (rc) fprintf(stderr, "%s %s: %s\n", runs[i].bits, runs[i].type, err.msg);
        else {
            const char *t = !strcmp(runs[i].type, "auto") ? "q6_k" : runs[i].type;
            check_linears(&ref, &m, ptq_ggml_ftype_find(t), runs[i].imatrix ? &a : NULL, info);
            CHECK(m.lm_head.w[0] == ref.lm_head.w[0] && m.tok_emb[1] == ref.tok_emb[1]); /* not asked: untouched */
        }
        ptq_model_free(&m);
        cJSON_Delete(info);
    }
    /* bad input: one clear error each */
    static const struct {
        const char *bits, *type, *msg;
    } bad[] = {{"W4A16", "q8_0", "8-bit type"},   {"W4A8", "q4_0", "weight-only"}, {"W4A16-g128", "q4_0", "-g"},
               {"W7A16", "auto", "W7"},           {"W2A16", "q2_k_s", "imatrix"},  {"W4A16", "q4_x", "q4_x"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = apply(&ref, &m, bad[i].bits, bad[i].type, 0, NULL, &err);
        CHECK(rc == -1 && strstr(err.msg, bad[i].msg));
        if (rc == 0 || !strstr(err.msg, bad[i].msg)) fprintf(stderr, "bad case %zu: %s\n", i, rc ? err.msg : "accepted");
        ptq_model_free(&m);
    }
    test_io_tensors(&ref);
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) free(a.sum[l][j]);
    ptq_model_free(&ref);
}

int main(void) {
    test_mix_fixture();
    test_end_to_end();
    return tu_done("test_ggml_method");
}
