/* test_ptqfile.c — the ptqbench export format (ptqfile.h):
 *  - f32 model with hooks, biases and a side branch: version 2 and version 1
 *    round trips give bit-identical logits;
 *  - quantized weights (ptq_qweight: codes + scales + zeros, sparse
 *    off-grid entries) come back exactly (the same qweights, bit-identical
 *    weights), online ops of every kind (Hadamard, Hadamard across heads,
 *    dense, random orthogonal from its seed, RUQuant transform shared by
 *    three linears, low-rank correction) are rebuilt by kind and apply
 *    bit-identically, logits agree to 1e-4 and the packed model builds from
 *    the loaded qweights; version 2 stores the random orthogonal matrix
 *    densely and reloads to the same logits;
 *  - bad input: truncated, wrong version, checksum (payload and header),
 *    packed tensor with the wrong byte count, a tensor of the wrong shape
 *    (the message shows the expected and the file's shape), unknown op kind, an op kind
 *    newer than the file's version, bits out of
 *    range, unknown tensor kind, stray tensor, op size, zero point out of
 *    range, sym flag against the zero points, broken permutation, CSR column
 *    out of range, a sparse entry whose code is not the zero point, header
 *    fuzz, truncation at every 1/37 of the file: clear errors;
 *  - version 4: an embedding and lm_head whose values are all bf16 (or f16)
 *    are stored and loaded back in that dtype (resident 16-bit, the same
 *    logits bit for bit, the file 2 x vocab x dim x 2 bytes smaller than
 *    with f32 values); versions 1..3 (the old layout, header first) store
 *    them as f32 and load to the same logits;
 *  - an export killed midway leaves FILE.tmp, never FILE, and the loader
 *    refuses FILE.tmp naming it; abort removes FILE.tmp. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hadamard.h"
#include "online_ops.h"
#include "packed.h"
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
    if (rc == 0) {
        fprintf(stderr, "loaded although '%s' was expected\n", needle);
        ptq_model_free(&m);
    }
    else if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    }
}

/* Rewrite a file with a mutated JSON header and a valid checksum (versions
 * 2..3: header first; 4: header after the payload), so the loader's own
 * checks (not the sha256) must catch the mutation. */
typedef void (*mutate_fn)(cJSON *h);
typedef void (*mutate_payload_fn)(const cJSON *h, char *payload);
static void rewrite2(const char *src, const char *dst, mutate_fn fn, mutate_payload_fn pf) {
    char *d;
    size_t n;
    ptq_err err;
    CHECK(ptq_read_file(src, &d, &n, &err) == 0);
    uint64_t jl, pl;
    uint32_t ver;
    memcpy(&ver, d + 8, 4), memcpy(&jl, d + 16, 8), memcpy(&pl, d + 24, 8);
    cJSON *h = cJSON_ParseWithLength(d + (ver >= 4 ? 128 + pl : 96), jl);
    if (fn) fn(h);
    char *js = cJSON_PrintUnformatted(h);
    uint64_t nj = strlen(js);
    size_t poff = ver >= 4 ? 128 : (96 + nj + 63) / 64 * 64, total = ver >= 4 ? 128 + pl + nj : poff + pl;
    char *o = calloc(total, 1);
    memcpy(o, d, 32);
    memcpy(o + 16, &nj, 8);
    memcpy(o + (ver >= 4 ? 128 + pl : 96), js, nj);
    memcpy(o + poff, d + (ver >= 4 ? 128 : n - pl), pl);
    if (pf) pf(h, o + poff);
    char *cat = malloc(32 + nj + pl), hex[65];
    if (ver >= 4) /* payload, JSON, fixed[0..32) */
        memcpy(cat, o + poff, pl), memcpy(cat + pl, js, nj), memcpy(cat + pl + nj, o, 32);
    else
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
static void mut_shape(cJSON *h) { /* the same 32 floats as a 2 x 16 matrix: only the shape check sees it */
    cJSON *e = tensor_named(h, "rms_final");
    int d[2] = {2, 16};
    cJSON_ReplaceItemInObject(e, "shape", cJSON_CreateIntArray(d, 2));
}
static void mut_offset(cJSON *h) { /* 2 bytes into the padding after the tensor: in bounds, misaligned */
    cJSON *e = tensor_named(h, "rms_final");
    cJSON_SetNumberValue(cJSON_GetObjectItem(e, "offset"), cJSON_GetObjectItem(e, "offset")->valuedouble + 2);
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
static void mut_sym(cJSON *h) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(tensor_named(h, "layers.0.k_proj.weight"), "sym"), 1); /* asymmetric zeros */
    cJSON_DeleteItemFromObject(tensor_named(h, "layers.0.q_proj.weight"), "sym"); /* absent: inferred */
}
static void pay_code(const cJSON *h, char *payload) { /* zero point + 1 at the first sparse entry (row 0, column 3) */
    char *w = payload_of(h, payload, "layers.0.gate_proj.weight");
    int z = (unsigned char)payload_of(h, payload, "layers.0.gate_proj.zero")[0];
    w[1] = (char)((w[1] & 0x0f) | (((z + 1) & 15) << 4));
}
static void mut_opsize(cJSON *h) {
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(h, "ops"), 0), "n"), 7);
}
static void mut_opnewer(cJSON *h) { /* a version-3 kind in a version-2 file */
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(h, "ops"), 0), "kind"),
                         "random_orthogonal");
}
static void mut_opseed(cJSON *h) { /* another seed: the rebuilt matrix does not match its sha256 */
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(h, "ops")) {
        if (cJSON_GetObjectItem(e, "seed")) cJSON_SetValuestring(cJSON_GetObjectItem(e, "seed"), "78");
    }
}

/* The loaded op applies exactly the original's arithmetic. */
static int same_op(const ptq_online_op *a, const ptq_online_op *b) {
    if (a->n != b->n || a->kind == PTQ_OP_IDENTITY) return 0;
    int rows = 3, n = a->n, ok;
    float *x = malloc(sizeof(float) * rows * n), *y = malloc(sizeof(float) * rows * n);
    ptq_rng r;
    ptq_rng_seed(&r, 21);
    fill(x, (size_t)rows * n, &r, 1.f, 0.f);
    memcpy(y, x, sizeof(float) * rows * n);
    ptq_err err;
    ok = !ptq_online_op_apply(a, x, rows, n, &err) && !ptq_online_op_apply(b, y, rows, n, &err) &&
         !memcmp(x, y, sizeof(float) * rows * n);
    free(x), free(y);
    return ok;
}

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
        ptq_file_opts o = {v};
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
    CHECK(ptq_op_hadamard(&a.layers[0].lin[PTQ_LIN_DOWN].in_op, 48, &err) == 0);
    ptq_file_opts o1 = {1};
    CHECK(ptq_file_save_ex(q, &a, NULL, &o1, NULL, &err) == -1 && strstr(err.msg, "hadamard"));
    ptq_online_op_clear(&a.layers[0].lin[PTQ_LIN_DOWN].in_op);
    cJSON_Delete(meta);
    free(la), free(lb);
    ptq_model_free(&a);
}

/* Quantized model with every kind of online op. */
static void make_quant_model(ptq_model *m, ptq_err *err) {
    make_model(m);
    ptq_wq_opts wq = ptq_wq_default(4, 0);
    wq.group = 8;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        CHECK(ptq_wq_layer(m, l, &wq, err) == 0);
        m->layers[l].lin[PTQ_LIN_O].aq.group = 0; /* the packed kernels take per-token activation codes */
    }
    /* a few full-precision entries off the grid (SEPTQ-like) */
    ptq_linear *g = &m->layers[0].lin[PTQ_LIN_GATE];
    unsigned char mask[48 * 32] = {0};
    float vals[48 * 32];
    memcpy(vals, g->w, sizeof vals);
    vals[3] = 0.123456f, vals[77] = -0.987654f, vals[500] = 0.31415926f;
    mask[3] = mask[77] = mask[500] = 1;
    CHECK(ptq_qweight_set_sparse(g->qw, mask, vals, err) == 0 && ptq_linear_refresh(g, err) == 0);
    ptq_layer *L0 = &m->layers[0], *L1 = &m->layers[1];
    CHECK(ptq_op_hadamard(&L0->lin[PTQ_LIN_DOWN].in_op, 48, err) == 0);
    CHECK(ptq_op_hadamard(&L0->qk_op, 8, err) == 0);
    CHECK(ptq_op_hadamard_heads(&L0->lin[PTQ_LIN_O].in_op, 4, 8, err) == 0);
    CHECK(ptq_op_random_orthogonal(&L1->lin[PTQ_LIN_DOWN].in_op, 48, 77, err) == 0);
    float A[32 * 32], Q[32 * 4], M[4 * 4];
    CHECK(ptq_random_orthogonal(A, 32, 9, err) == 0);
    CHECK(ptq_op_dense(&L1->resid_op[1], A, 32, err) == 0);
    ptq_rng rq;
    ptq_rng_seed(&rq, 8);
    fill(Q, 32 * 4, &rq, 0.2f, 0.f), fill(M, 4 * 4, &rq, 0.2f, 0.f);
    CHECK(ptq_op_lowrank(&L1->resid_op[0], Q, M, 32, 4, err) == 0);
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
    CHECK(ptq_op_ruquant(&L1->lin[PTQ_LIN_Q].in_op, tr, err) == 0);
    for (int j = PTQ_LIN_K; j <= PTQ_LIN_V; j++) ptq_online_op_share(&L1->lin[j].in_op, &L1->lin[PTQ_LIN_Q].in_op);
    ptq_ru_free(tr);
}

static void test_packed(const char *p, const char *q) {
    ptq_model a, b;
    ptq_packed_model pm;
    ptq_err err;
    make_quant_model(&a, &err);
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "qspec", "W4A4-g8");
    ptq_file_stats st;
    ptq_file_opts o = {PTQ_FILE_VERSION};
    if (ptq_file_save_ex(p, &a, meta, &o, &st, &err)) {
        fprintf(stderr, "save: %s\n", err.msg);
        CHECK(0);
        return;
    }
    printf("  packed: %d of %d linears packed, %ld sparse entries, %d online ops, %zu bytes\n", st.packed_linears,
           st.linears, st.sparse_entries, st.online_ops, st.file_bytes);
    CHECK(st.packed_linears == 14 && st.sparse_entries == 3 && st.online_ops == 9);
    CHECK(ptq_file_save_ex(q, &a, meta, &o, NULL, &err) == 0); /* written twice: the same bytes */
    char *f1 = NULL, *f2 = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK(ptq_read_file(p, &f1, &n1, &err) == 0 && ptq_read_file(q, &f2, &n2, &err) == 0);
    CHECK(n1 == n2 && memcmp(f1, f2, n1) == 0);
    free(f1), free(f2);
    if (ptq_file_load(p, &b, NULL, &err) || ptq_packed_model_build(&pm, &b, &err)) {
        fprintf(stderr, "load: %s\n", err.msg);
        CHECK(0);
        return;
    }
    for (int l = 0; l < 2; l++) /* the same qweights, the same weights bit for bit */
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            const ptq_linear *x = &a.layers[l].lin[j], *y = &b.layers[l].lin[j];
            const ptq_qweight *qa = x->qw, *qb = y->qw;
            size_t n = (size_t)x->out * x->in, ng = (size_t)x->out * qa->ngroups;
            CHECK(qb && qb->bits == 4 && qb->group == 8 && qb->sym == 0 && qb->ngroups == qa->ngroups);
            if (!qb) continue;
            CHECK(!memcmp(qa->codes, qb->codes, n) && !memcmp(qa->scale, qb->scale, ng * 4) &&
                  !memcmp(qa->zero, qb->zero, ng * sizeof(int)) && qa->nnz == qb->nnz &&
                  qa->side_bytes == qb->side_bytes);
            for (long k = 0; k < qa->nnz; k++)
                CHECK(qa->sp_col[k] == qb->sp_col[k] && !memcmp(&qa->sp_val[k], &qb->sp_val[k], 4));
            CHECK(!memcmp(x->w, y->w, n * sizeof(float)));
        }
    const ptq_linear *g = &b.layers[0].lin[PTQ_LIN_GATE];
    CHECK(g->w[3] == 0.123456f && g->w[77] == -0.987654f && g->w[500] == 0.31415926f); /* sparse entries exact */
    const ptq_layer *A0 = &a.layers[0], *A1 = &a.layers[1], *B0 = &b.layers[0], *B1 = &b.layers[1];
    CHECK(B0->lin[PTQ_LIN_DOWN].in_op.kind == PTQ_OP_HADAMARD && B0->qk_op.kind == PTQ_OP_HADAMARD);
    CHECK(B0->lin[PTQ_LIN_O].in_op.kind == PTQ_OP_HADAMARD_HEADS && B0->lin[PTQ_LIN_O].in_op.heads == 4);
    CHECK(B1->lin[PTQ_LIN_DOWN].in_op.kind == PTQ_OP_RANDOM_ORTHOGONAL && B1->lin[PTQ_LIN_DOWN].in_op.seed == 77);
    CHECK(B1->resid_op[1].kind == PTQ_OP_DENSE && B1->resid_op[0].kind == PTQ_OP_LOWRANK && B1->resid_op[0].rank == 4);
    CHECK(B1->lin[PTQ_LIN_Q].in_op.kind == PTQ_OP_RUQUANT && B1->lin[PTQ_LIN_V].in_op.data == B1->lin[PTQ_LIN_Q].in_op.data &&
          B1->lin[PTQ_LIN_Q].in_op.data->refs == 3); /* one shared op, as exported */
    CHECK(same_op(&A0->lin[PTQ_LIN_DOWN].in_op, &B0->lin[PTQ_LIN_DOWN].in_op) && same_op(&A0->qk_op, &B0->qk_op) &&
          same_op(&A0->lin[PTQ_LIN_O].in_op, &B0->lin[PTQ_LIN_O].in_op));
    CHECK(same_op(&A1->lin[PTQ_LIN_DOWN].in_op, &B1->lin[PTQ_LIN_DOWN].in_op) && same_op(&A1->resid_op[0], &B1->resid_op[0]) &&
          same_op(&A1->resid_op[1], &B1->resid_op[1]) && same_op(&A1->lin[PTQ_LIN_K].in_op, &B1->lin[PTQ_LIN_K].in_op));
    CHECK(b.lm_head.in_op.kind == PTQ_OP_IDENTITY && B0->resid_op[0].kind == PTQ_OP_IDENTITY);
    size_t nl = 8 * (size_t)a.cfg.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    logits(&a, la);
    logits(&b, lb);
    double ld = maxdiff(la, lb, nl);
    printf("  packed: max |logit difference| after reload %.2e\n", ld);
    CHECK(ld < 1e-4);
    int npk = 0;
    for (int i = 0; i < pm.n; i++) npk += pm.packed[i];
    CHECK(npk == 14 && pm.packed[pm.n - 1] == 0); /* lm_head stays fp32 */
    CHECK(pm.kern[PTQ_LIN_GATE].sp.nnz == 3);                                              /* the sparse entries */
    CHECK(pm.kern[PTQ_LIN_COUNT + PTQ_LIN_DOWN].side_dense == b.layers[1].lin[PTQ_LIN_DOWN].w_side);
    /* bad inputs that pass the checksum */
    rewrite(p, q, mut_bytes);
    expect_load_fail(q, "expected 512 bytes");
    rewrite(p, q, mut_bits);
    expect_load_fail(q, "bits must be 1..8");
    rewrite(p, q, mut_dtype);
    expect_load_fail(q, "unknown dtype 'q9'");
    rewrite(p, q, mut_shape);
    expect_load_fail(q, "'rms_final' must be kind norm dtype f32 shape [32], got kind norm dtype f32 shape [2, 16]");
    rewrite(p, q, mut_offset);
    expect_load_fail(q, "is not a multiple of 64");
    rewrite(p, q, mut_opkind);
    expect_load_fail(q, "needs kernel 'fancy', which this build does not have for format version ");
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
    rewrite(p, q, mut_sym);
    expect_load_fail(q, "k_proj.zero' says sym");
    rewrite2(p, q, NULL, pay_code);
    expect_load_fail(q, "is not the zero point");
    rewrite(p, q, mut_opseed);
    expect_load_fail(q, "differs from the exporter's");
    /* version 2: the random orthogonal op as its dense matrix (no lowrank) */
    ptq_online_op_clear(&a.layers[1].resid_op[0]);
    ptq_model c2, c3;
    float *l2 = malloc(nl * 4), *l3 = malloc(nl * 4);
    ptq_file_opts o2 = {2}, o3 = {3};
    CHECK(ptq_file_save_ex(q, &a, meta, &o2, NULL, &err) == 0 && ptq_file_load(q, &c2, NULL, &err) == 0);
    CHECK(ptq_file_save_ex(p, &a, meta, &o3, NULL, &err) == 0 && ptq_file_load(p, &c3, NULL, &err) == 0);
    uint32_t v2 = 0, v3 = 0;
    CHECK(ptq_read_file(q, &f1, &n1, &err) == 0 && ptq_read_file(p, &f2, &n2, &err) == 0);
    memcpy(&v2, f1 + 8, 4), memcpy(&v3, f2 + 8, 4);
    CHECK(v2 == 2 && v3 == 3 && n1 >= n2 + 48 * 48 * 4); /* v3 rebuilds the 48 x 48 matrix from its seed */
    free(f1), free(f2);
    CHECK(c2.layers[1].lin[PTQ_LIN_DOWN].in_op.kind == PTQ_OP_DENSE &&
          c3.layers[1].lin[PTQ_LIN_DOWN].in_op.kind == PTQ_OP_RANDOM_ORTHOGONAL);
    logits(&c2, l2), logits(&c3, l3);
    CHECK(memcmp(l2, l3, nl * 4) == 0);
    rewrite(q, p, mut_opnewer);
    expect_load_fail(p, "which this build does not have for format version 2 (ops it has: ");
    ptq_model_free(&c2), ptq_model_free(&c3);
    free(l2), free(l3);
    /* asked for version 3 without a version-3 kind, the writer uses version 2 */
    ptq_online_op_clear(&a.layers[1].lin[PTQ_LIN_DOWN].in_op);
    CHECK(ptq_file_save_ex(p, &a, meta, &o3, NULL, &err) == 0 && ptq_read_file(p, &f1, &n1, &err) == 0);
    memcpy(&v2, f1 + 8, 4);
    CHECK(v2 == 2);
    free(f1);
    /* header change without a new checksum: version 2, and 4 (the JSON at the end) */
    for (int v = 2; v <= 4; v += 2) {
        ptq_file_opts ov = {v};
        char *d = NULL;
        size_t n = 0;
        uint64_t jl;
        CHECK(ptq_file_save_ex(p, &a, meta, &ov, NULL, &err) == 0 && ptq_read_file(p, &d, &n, &err) == 0);
        if (!d) continue;
        memcpy(&jl, d + 16, 8);
        char *at = strstr(d + (v == 4 ? n - jl : 96), "\"rope_theta\":10000");
        CHECK(at != NULL);
        if (at) at[14] = '2';
        write_bytes(q, d, n);
        expect_load_fail(q, "header or payload");
        free(d);
    }
    ptq_packed_model_free(&pm);
    ptq_model_free(&b);
    ptq_model_free(&a);
    cJSON_Delete(meta);
    free(la), free(lb);
}

static size_t file_size(const char *p) {
    char *d;
    size_t n = 0;
    ptq_err err;
    if (ptq_read_file(p, &d, &n, &err) == 0) free(d);
    return n;
}

static void round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u = (u + 0x7fff + (u >> 16 & 1)) & 0xffff0000u;
        memcpy(&x[i], &u, 4);
    }
}

/* 16-bit embedding and lm_head (version 4), and the same model in the old layout. */
static void test_w16(const char *p, const char *q) {
    ptq_model a, b;
    ptq_err err;
    make_model(&a);
    size_t ne = (size_t)a.cfg.vocab_size * a.cfg.dim, nl = 8 * (size_t)a.cfg.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    CHECK(ptq_file_save_ex(q, &a, NULL, NULL, NULL, &err) == 0); /* f32 values: stored f32 */
    round_bf16(a.tok_emb, ne), round_bf16(a.lm_head.w, ne);
    logits(&a, la);
    for (int v = 4; v >= 1; v -= 3) { /* fp32 in RAM with bf16 values: bf16 in version 4, f32 in 1 */
        ptq_file_opts o = {v};
        CHECK(ptq_file_save_ex(p, &a, NULL, &o, NULL, &err) == 0 && ptq_file_load(p, &b, NULL, &err) == 0);
        CHECK(v == 4 ? b.emb16.dtype == PTQ_W16_BF16 && !b.tok_emb && b.lm_head.w16.dtype == PTQ_W16_BF16 && !b.lm_head.w
                     : !b.emb16.w && b.tok_emb && b.lm_head.w && !b.lm_head.w16.w);
        logits(&b, lb);
        CHECK(memcmp(la, lb, nl * 4) == 0);
        ptq_model_free(&b);
        if (v == 4) { /* the two matrices take half the bytes; the JSON differs by a few characters */
            long d = (long)file_size(q) - (long)file_size(p), want = (long)(2 * ne * 2);
            printf("  w16: f32 file %zu bytes, bf16 file %zu bytes (%ld less, the tensors %ld)\n", file_size(q),
                   file_size(p), d, want);
            CHECK(labs(d - want) < 64);
        }
    }
    /* resident 16-bit (as an HF checkpoint loads): written as it is, f16 too */
    CHECK(ptq_model_narrow(&a, PTQ_W16_BF16, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, &err) == 0 && a.emb16.w && a.lm_head.w16.w);
    for (int v = 4; v >= 3; v--) {
        ptq_file_opts o = {v};
        CHECK(ptq_file_save_ex(p, &a, NULL, &o, NULL, &err) == 0 && ptq_file_load(p, &b, NULL, &err) == 0);
        CHECK(v == 4 ? b.emb16.dtype == PTQ_W16_BF16 && b.lm_head.w16.dtype == PTQ_W16_BF16 : b.tok_emb && b.lm_head.w);
        logits(&b, lb);
        CHECK(memcmp(la, lb, nl * 4) == 0);
        ptq_model_free(&b);
    }
    ptq_model_free(&a);
    make_model(&a); /* f16 values */
    for (size_t i = 0; i < ne; i++) a.tok_emb[i] = ptq_round_fp16(a.tok_emb[i]), a.lm_head.w[i] = ptq_round_fp16(a.lm_head.w[i]);
    logits(&a, la);
    CHECK(ptq_file_save_ex(p, &a, NULL, NULL, NULL, &err) == 0 && ptq_file_load(p, &b, NULL, &err) == 0);
    CHECK(b.emb16.dtype == PTQ_W16_F16 && b.lm_head.w16.dtype == PTQ_W16_F16);
    logits(&b, lb);
    CHECK(memcmp(la, lb, nl * 4) == 0);
    ptq_model_free(&b);
    ptq_model_free(&a);
    free(la), free(lb);
}

/* An export stopped after its first block: FILE.tmp stays (never FILE) and
 * does not load; abort removes it; a finished file cut short does not load. */
static void test_killed(const char *p, const char *q) {
    ptq_model a;
    ptq_err err;
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", q);
    unlink(q);
    make_quant_model(&a, &err);
    pid_t pid = fork();
    if (pid == 0) { /* the exporter, killed between blocks */
        ptq_file_writer *w = ptq_file_begin(q, &err);
        if (w && ptq_file_put_block(w, &a, 0) == 0 && ptq_file_put_block(w, &a, 1) == 0) raise(SIGKILL);
        _exit(3);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(access(q, F_OK) != 0 && access(tmp, F_OK) == 0);
    expect_load_fail(tmp, "unfinished export");
    ptq_model m;
    CHECK(ptq_file_load(tmp, &m, NULL, &err) == -1 && strstr(err.msg, tmp) == err.msg);
    ptq_file_writer *w = ptq_file_begin(q, &err);
    CHECK(w && ptq_file_put_block(w, &a, 0) == 0);
    ptq_file_abort(w);
    CHECK(access(tmp, F_OK) != 0 && access(q, F_OK) != 0);
    /* a finished file cut short */
    char *d = NULL;
    size_t n = 0;
    CHECK(ptq_file_save_ex(p, &a, NULL, NULL, NULL, &err) == 0 && ptq_read_file(p, &d, &n, &err) == 0);
    if (d) write_bytes(q, d, n - 10), expect_load_fail(q, "truncated?");
    free(d);
    ptq_model_free(&a);
}

static void test_fuzz(const char *p, const char *q) {
    char *d;
    size_t n;
    ptq_err err;
    ptq_model b;
    CHECK(ptq_read_file(p, &d, &n, &err) == 0);
    uint64_t jl;
    memcpy(&jl, d + 16, 8);
    CHECK(d[8] == 4 && jl > 0 && jl < n);
    ptq_rng r;
    ptq_rng_seed(&r, 5);
    int rejected = 0;
    for (int it = 0; it < 200; it++) {
        char *m = malloc(n);
        memcpy(m, d, n);
        for (int k = 0; k < 3; k++) { /* version 4: the header is the fixed fields and the last jl bytes */
            size_t at = ptq_rng_u64(&r) % 1500;
            m[at < 128 ? at : n - 1 - at % jl] = (char)ptq_rng_u64(&r);
        }
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
    test_w16(p, q);
    test_killed(p, q);
    unlink(p), unlink(q);
    return tu_done("test_ptqfile");
}
