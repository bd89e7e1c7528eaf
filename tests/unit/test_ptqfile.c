/* test_ptqfile.c — the ptqbench export format (ptqfile.h):
 *  - f32 model with hooks, biases and a side branch: version 2 and version 1
 *    round trips give bit-identical logits;
 *  - fake-quantized weights come back packed (codes + scales + zeros, sparse
 *    off-grid entries), online ops of every kind (Hadamard, Hadamard across
 *    heads, RUQuant transform, materialized dense) are rebuilt, logits agree
 *    to 1e-4 and the packed model is available;
 *  - bad input: truncated, wrong version, checksum (payload and header),
 *    packed tensor with the wrong byte count, unknown op kind, bits out of
 *    range, unknown tensor kind, stray tensor, op size, zero point out of
 *    range, broken permutation, CSR column out of range, header fuzz,
 *    truncation at every 1/37 of the file: clear errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hadamard.h"
#include "online_ops.h"
#include "ptqfile.h"
#include "rotations.h"
#include "testutil.h"
#include "wquant.h"

static void fill(float *x, size_t n, ptq_rng *r, float scale, float base) {
    for (size_t i = 0; i < n; i++) x[i] = base + scale * (float)(2 * ptq_rng_uniform(r) - 1);
}

static void make_model(ptq_model *m) {
    ptq_config c = {0};
    c.dim = 32, c.hidden_dim = 48, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 40;
    c.max_seq = 16, c.head_dim = 8, c.rope_theta = 10000.f, c.norm_eps = 1e-5f, c.rope_style = PTQ_ROPE_HALF;
    c.attn_bias = 1, c.bos_id = 1, c.eos_id = 2;
    ptq_err err;
    CHECK(ptq_model_alloc(m, &c, &err) == 0);
    ptq_rng r;
    ptq_rng_seed(&r, 11);
    fill(m->tok_emb, (size_t)c.vocab_size * c.dim, &r, 0.5f, 0.f);
    fill(m->rms_final, c.dim, &r, 0.2f, 1.f);
    fill(m->lm_head.w, (size_t)c.vocab_size * c.dim, &r, 0.3f, 0.f);
    for (int l = 0; l < c.n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        fill(L->rms_att, c.dim, &r, 0.2f, 1.f);
        fill(L->rms_ffn, c.dim, &r, 0.2f, 1.f);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            fill(L->lin[j].w, (size_t)L->lin[j].out * L->lin[j].in, &r, 0.3f, 0.f);
            if (L->lin[j].bias) fill(L->lin[j].bias, L->lin[j].out, &r, 0.3f, 0.f);
            L->lin[j].aq = (ptq_act_qspec){4 + j % 3, j % 2, 0.9f, j == 3 ? 16 : 0};
        }
        L->kq = (ptq_act_qspec){4, 0, 1.f, 8};
        L->vq = (ptq_act_qspec){6, 1, 0.95f, 0};
    }
    ptq_linear *d = &m->layers[1].lin[PTQ_LIN_DOWN];
    d->w_side = ptq_calloc((size_t)d->out * d->in, sizeof(float), &err);
    fill(d->w_side, (size_t)d->out * d->in, &r, 0.05f, 0.f);
}

static void logits(const ptq_model *m, float *out) {
    static const int toks[8] = {1, 5, 9, 33, 2, 17, 39, 3};
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, 8, &err) == 0);
    CHECK(ptq_forward(m, &s, toks, 8, 0, NULL, 0, &err) == 0);
    memcpy(out, s.logits, sizeof(float) * 8 * m->cfg.vocab_size);
    ptq_state_free(&s);
}

static void write_bytes(const char *p, const char *d, size_t n) {
    FILE *f = fopen(p, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

static void expect_load_fail(const char *p, const char *needle) {
    ptq_model m;
    ptq_err err = {""};
    int rc = ptq_file_load(p, &m, NULL, &err);
    CHECK(rc == -1);
    if (rc == 0)
        ptq_model_free(&m);
    else if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    }
}

/* Rewrite a file with a mutated JSON header and a valid version-2 checksum,
 * so the loader's own checks (not the sha256) must catch the mutation. */
typedef void (*mutate_fn)(cJSON *h);
typedef void (*mutate_payload_fn)(const cJSON *h, char *payload);
static void rewrite2(const char *src, const char *dst, mutate_fn fn, mutate_payload_fn pf) {
    char *d;
    size_t n;
    ptq_err err;
    CHECK(ptq_read_file(src, &d, &n, &err) == 0);
    uint64_t jl, pl;
    memcpy(&jl, d + 16, 8), memcpy(&pl, d + 24, 8);
    cJSON *h = cJSON_ParseWithLength(d + 96, jl);
    if (fn) fn(h);
    char *js = cJSON_PrintUnformatted(h);
    uint64_t nj = strlen(js);
    size_t poff = (96 + nj + 63) / 64 * 64, total = poff + pl;
    char *o = calloc(total, 1);
    memcpy(o, d, 32);
    memcpy(o + 16, &nj, 8);
    memcpy(o + 96, js, nj);
    memcpy(o + poff, d + (n - pl), pl);
    if (pf) pf(h, o + poff);
    char *cat = malloc(32 + nj + pl), hex[65];
    memcpy(cat, o, 32), memcpy(cat + 32, js, nj), memcpy(cat + 32 + nj, o + poff, pl);
    ptq_sha256_buf(cat, 32 + nj + pl, hex);
    memcpy(o + 32, hex, 64);
    write_bytes(dst, o, total);
    free(cat), free(o), free(js), free(d);
    cJSON_Delete(h);
}

static void rewrite(const char *src, const char *dst, mutate_fn fn) { rewrite2(src, dst, fn, NULL); }

static cJSON *tensor_named(const cJSON *h, const char *name) {
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(h, "tensors")) {
        if (!strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name)) return e;
    }
    return NULL;
}
static char *payload_of(const cJSON *h, char *payload, const char *name) {
    cJSON *e = tensor_named(h, name);
    return e ? payload + (size_t)cJSON_GetObjectItem(e, "offset")->valuedouble : NULL;
}
static void pay_zero(const cJSON *h, char *payload) { payload_of(h, payload, "layers.0.q_proj.zero")[5] = (char)200; }
static void pay_perm(const cJSON *h, char *payload) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(h, "ops")) { /* the RUQuant op's permutation: repeat an entry */
        const cJSON *d = cJSON_GetObjectItem(e, "data");
        char nm[64];
        if (!cJSON_IsString(d)) continue;
        snprintf(nm, sizeof nm, "%s.perm", d->valuestring);
        char *p = payload_of(h, payload, nm);
        if (p) memcpy(p, p + 4, 4);
    }
}
static void pay_csr(const cJSON *h, char *payload) {
    int32_t big = 1 << 20;
    memcpy(payload_of(h, payload, "layers.0.gate_proj.sparse_col"), &big, 4);
}
static void mut_bytes(cJSON *h) {
    cJSON *e = tensor_named(h, "layers.0.q_proj.weight");
    cJSON_SetNumberValue(cJSON_GetObjectItem(e, "bytes"), cJSON_GetObjectItem(e, "bytes")->valuedouble - 1);
}
static void mut_bits(cJSON *h) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(tensor_named(h, "layers.0.q_proj.weight"), "bits"), 12);
}
static void mut_dtype(cJSON *h) {
    cJSON_SetValuestring(cJSON_GetObjectItem(tensor_named(h, "layers.0.q_proj.weight"), "dtype"), "q9");
}
static void mut_opkind(cJSON *h) {
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(h, "ops"), 0), "kind"), "fancy");
}
static void mut_kind(cJSON *h) {
    cJSON_SetValuestring(cJSON_GetObjectItem(tensor_named(h, "rms_final"), "kind"), "mystery");
}
static void mut_stray(cJSON *h) {
    cJSON_SetValuestring(cJSON_GetObjectItem(tensor_named(h, "layers.0.q_proj.bias"), "name"), "layers.0.q_proj.extra");
}
static void mut_opsize(cJSON *h) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(h, "ops"), 0), "n"), 7);
}

static void noop(void *ctx, float *x, int rows, int n) { (void)ctx, (void)x, (void)rows, (void)n; }

static double maxdiff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* f32 round trips, version 2 and version 1, and the old failure modes. */
static void test_f32(const char *p, const char *q) {
    ptq_model a, b;
    ptq_err err;
    make_model(&a);
    cJSON *meta = cJSON_CreateObject(), *back = NULL;
    cJSON_AddStringToObject(meta, "method", "test");
    size_t nl = 8 * (size_t)a.cfg.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    logits(&a, la);
    for (int v = 2; v >= 1; v--) {
        ptq_file_opts o = {0, 0, v};
        CHECK(ptq_file_save_ex(p, &a, meta, &o, NULL, &err) == 0);
        CHECK(ptq_file_detect(p) == 1);
        if (ptq_file_load(p, &b, &back, &err)) {
            fprintf(stderr, "v%d: %s\n", v, err.msg);
            CHECK(0);
            continue;
        }
        logits(&b, lb);
        CHECK(memcmp(la, lb, nl * 4) == 0); /* bit-identical */
        CHECK(b.layers[1].lin[PTQ_LIN_O].aq.group == 16 && b.layers[0].vq.clip == 0.95f && b.layers[1].kq.group == 8);
        CHECK(b.layers[1].lin[PTQ_LIN_DOWN].w_side != NULL && b.cfg.attn_bias == 1 && b.lm_head.owns_w);
        CHECK(back && !strcmp(cJSON_GetObjectItem(back, "method")->valuestring, "test"));
        cJSON_Delete(back);
        ptq_model_free(&b);
    }
    /* p holds the version-1 file now */
    char *d;
    size_t n;
    CHECK(ptq_read_file(p, &d, &n, &err) == 0);
    d[n - 100] ^= 1; /* payload bit flip */
    write_bytes(q, d, n);
    expect_load_fail(q, "sha256");
    d[n - 100] ^= 1;
    write_bytes(q, d, n - 64);
    expect_load_fail(q, "truncated");
    d[8] = 99;
    write_bytes(q, d, n);
    expect_load_fail(q, "version 99");
    d[8] = 1;
    write_bytes(q, d, 50);
    expect_load_fail(q, "not a ptqbench file");
    free(d);
    /* version 1 cannot store an online op */
    a.layers[0].lin[PTQ_LIN_DOWN].in_op = (ptq_online_op){noop, NULL, NULL, "hadamard", 0};
    ptq_file_opts o1 = {0, 0, 1};
    CHECK(ptq_file_save_ex(q, &a, NULL, &o1, NULL, &err) == -1 && strstr(err.msg, "hadamard"));
    a.layers[0].lin[PTQ_LIN_DOWN].in_op = (ptq_online_op){0};
    cJSON_Delete(meta);
    free(la), free(lb);
    ptq_model_free(&a);
}

/* Quantized model with every kind of online op. */
static void make_quant_model(ptq_model *m, ptq_err *err) {
    make_model(m);
    ptq_wq_opts wq = ptq_wq_default(4, 0);
    wq.group = 8;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *L = &m->layers[l].lin[j];
            ptq_wq_rtn(L->w, L->out, L->in, &wq);
        }
    /* a few full-precision entries off the grid (SEPTQ-like) */
    ptq_linear *g = &m->layers[0].lin[PTQ_LIN_GATE];
    g->w[3] = 0.123456f, g->w[77] = -0.987654f, g->w[500] = 0.31415926f;
    ptq_layer *L0 = &m->layers[0], *L1 = &m->layers[1];
    CHECK(ptq_op_hadamard(&L0->lin[PTQ_LIN_DOWN].in_op, 48, err) == 0);
    CHECK(ptq_op_hadamard(&L0->qk_op, 8, err) == 0);
    L0->qk_op.name = "hadamard_qk";
    CHECK(ptq_op_hadamard_heads(&L0->lin[PTQ_LIN_O].in_op, 4, 8, err) == 0);
    L1->lin[PTQ_LIN_DOWN].in_op = (ptq_online_op){noop, NULL, NULL, "hadamard", 1}; /* not a Hadamard: dense */
    float A[32 * 32];
    CHECK(ptq_random_orthogonal(A, 32, 9, err) == 0);
    CHECK(ptq_op_dense(&L1->resid_op[1], A, 32, err) == 0);
    L1->resid_op[1].name = "random_orthogonal";
    /* a RUQuant transform shared by q/k/v of layer 1 */
    float X[64 * 32];
    ptq_rng r;
    ptq_rng_seed(&r, 3);
    fill(X, 64 * 32, &r, 1.f, 0.f);
    ptq_ru_opts ro = {4, 1, 16, 1, 1, 5};
    ptq_ru_transform *tr = NULL;
    CHECK(ptq_ru_build(X, 64, 32, &ro, &tr, err) == 0);
    tr->s_inv = malloc(sizeof(float) * 32);
    for (int i = 0; i < 32; i++) tr->s_inv[i] = 1.f + 0.01f * i;
    for (int j = PTQ_LIN_Q; j <= PTQ_LIN_V; j++) {
        tr->refs++;
        L1->lin[j].in_op = (ptq_online_op){ptq_ru_online, tr, ptq_ru_release, "ruquant_rotation", 3};
    }
    ptq_ru_release(tr);
}

static void test_packed(const char *p, const char *q) {
    ptq_model a, b;
    ptq_packed_model pm;
    ptq_err err;
    make_quant_model(&a, &err);
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "qspec", "W4A4-g8");
    ptq_file_stats st;
    ptq_file_opts o = {4, 8, 2};
    if (ptq_file_save_ex(p, &a, meta, &o, &st, &err)) {
        fprintf(stderr, "save: %s\n", err.msg);
        CHECK(0);
        return;
    }
    printf("  packed: %d of %d linears packed, %ld sparse entries, %d online ops, %zu bytes\n", st.packed_linears,
           st.linears, st.sparse_entries, st.online_ops, st.file_bytes);
    CHECK(st.packed_linears == 14 && st.sparse_entries == 3 && st.online_ops == 8);
    CHECK(ptq_file_save_ex(q, &a, meta, &o, NULL, &err) == 0); /* written twice: the same bytes */
    char *f1 = NULL, *f2 = NULL;
    size_t n1 = 0, n2 = 1;
    CHECK(ptq_read_file(p, &f1, &n1, &err) == 0 && ptq_read_file(q, &f2, &n2, &err) == 0);
    CHECK(n1 == n2 && memcmp(f1, f2, n1) == 0);
    free(f1), free(f2);
    if (ptq_file_load_packed(p, &b, &pm, NULL, &err)) {
        fprintf(stderr, "load: %s\n", err.msg);
        CHECK(0);
        return;
    }
    double wd = 0;
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_linear *x = &a.layers[l].lin[j], *y = &b.layers[l].lin[j];
            double s = 0;
            for (int i = 0; i < x->out * x->in; i++) s = fmax(s, fabs(x->w[i]));
            wd = fmax(wd, maxdiff(x->w, y->w, (size_t)x->out * x->in) / s);
        }
    printf("  packed: max relative weight difference after reload %.2e\n", wd);
    CHECK(wd < 1e-6);
    const ptq_linear *g = &b.layers[0].lin[PTQ_LIN_GATE];
    CHECK(g->w[3] == 0.123456f && g->w[77] == -0.987654f && g->w[500] == 0.31415926f); /* sparse entries exact */
    CHECK(!strcmp(b.layers[0].lin[PTQ_LIN_DOWN].in_op.name, "hadamard"));
    CHECK(!strcmp(b.layers[0].qk_op.name, "hadamard_qk") && b.layers[0].qk_op.ctx == NULL);
    CHECK(!strcmp(b.layers[0].lin[PTQ_LIN_O].in_op.name, "hadamard_heads"));
    CHECK(!strcmp(b.layers[1].lin[PTQ_LIN_DOWN].in_op.name, "dense")); /* the fake "hadamard" */
    CHECK(b.layers[1].lin[PTQ_LIN_Q].in_op.fn == ptq_ru_online && b.layers[1].lin[PTQ_LIN_V].in_op.fn == ptq_ru_online);
    CHECK(!strcmp(b.layers[1].resid_op[1].name, "random_orthogonal"));
    size_t nl = 8 * (size_t)a.cfg.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    logits(&a, la);
    logits(&b, lb);
    double ld = maxdiff(la, lb, nl);
    printf("  packed: max |logit difference| after reload %.2e\n", ld);
    CHECK(ld < 1e-4);
    int npk = 0;
    for (int i = 0; i < pm.n; i++) npk += pm.packed[i];
    CHECK(npk == 14 && pm.packed[pm.n - 1] == 0 && pm.w_bits == 4 && pm.w_group == 8); /* lm_head stays fp32 */
    CHECK(pm.kern[PTQ_LIN_GATE].sp.nnz == 3);                                              /* the sparse entries */
    CHECK(pm.kern[PTQ_LIN_COUNT + PTQ_LIN_DOWN].side_dense == b.layers[1].lin[PTQ_LIN_DOWN].w_side);
    /* bad inputs that pass the checksum */
    rewrite(p, q, mut_bytes);
    expect_load_fail(q, "expected 512 bytes");
    rewrite(p, q, mut_bits);
    expect_load_fail(q, "bits must be 1..8");
    rewrite(p, q, mut_dtype);
    expect_load_fail(q, "unknown dtype 'q9'");
    rewrite(p, q, mut_opkind);
    expect_load_fail(q, "unknown kind 'fancy'");
    rewrite(p, q, mut_kind);
    expect_load_fail(q, "unknown kind 'mystery'");
    rewrite(p, q, mut_stray);
    expect_load_fail(q, "q_proj.bias' is missing");
    rewrite(p, q, mut_opsize);
    expect_load_fail(q, "acts on rows of 7");
    rewrite2(p, q, NULL, pay_zero);
    expect_load_fail(q, "zero point 200 outside 0..15");
    rewrite2(p, q, NULL, pay_perm);
    expect_load_fail(q, "perm is not a permutation");
    rewrite2(p, q, NULL, pay_csr);
    expect_load_fail(q, "column 1048576 outside");
    /* header change without a new checksum */
    char *d;
    size_t n;
    CHECK(ptq_read_file(p, &d, &n, &err) == 0);
    char *at = strstr(d + 96, "\"rope_theta\":10000");
    if (at) at[14] = '2';
    write_bytes(q, d, n);
    expect_load_fail(q, "header or payload");
    free(d);
    ptq_packed_model_free(&pm);
    ptq_model_free(&b);
    ptq_model_free(&a);
    cJSON_Delete(meta);
    free(la), free(lb);
}

static void test_fuzz(const char *p, const char *q) {
    char *d;
    size_t n;
    ptq_err err;
    ptq_model b;
    CHECK(ptq_read_file(p, &d, &n, &err) == 0);
    ptq_rng r;
    ptq_rng_seed(&r, 5);
    int rejected = 0;
    for (int it = 0; it < 200; it++) {
        char *m = malloc(n);
        memcpy(m, d, n);
        for (int k = 0; k < 3; k++) m[ptq_rng_u64(&r) % 1500] = (char)ptq_rng_u64(&r);
        write_bytes(q, m, n);
        free(m);
        if (ptq_file_load(q, &b, NULL, &err) == 0) ptq_model_free(&b);
        else rejected++;
    }
    for (size_t cut = 0; cut < n; cut += n / 37 + 1) { /* truncations */
        write_bytes(q, d, cut);
        if (ptq_file_load(q, &b, NULL, &err) == 0) {
            ptq_model_free(&b);
            CHECK(0);
        }
    }
    printf("  fuzz: %d of 200 mutated headers rejected, truncations rejected, none crashed\n", rejected);
    free(d);
}

int main(void) {
    char p[256], q[256];
    snprintf(p, sizeof p, "/tmp/ptq_file_test_%d.ptq", (int)getpid());
    snprintf(q, sizeof q, "/tmp/ptq_file_test_%d.bad", (int)getpid());
    test_f32(p, q);
    test_packed(p, q);
    test_fuzz(p, q);
    unlink(p), unlink(q);
    return tu_done("test_ptqfile");
}
