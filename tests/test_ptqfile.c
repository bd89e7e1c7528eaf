/* test_ptqfile.c — the ptqbench export format: a model with quantizer hooks,
 * biases and a side branch saved and loaded back gives bit-identical logits;
 * corrupt, truncated or future-version files and models with online
 * transforms fail with clear errors; header fuzz never crashes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptqfile.h"
#include "testutil.h"

static void fill(float *x, size_t n, ptq_rng *r, float scale, float base) {
    for (size_t i = 0; i < n; i++)
        x[i] = base + scale * (float)(2 * ptq_rng_uniform(r) - 1);
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

static void noop(void *ctx, float *x, int rows, int n) {
    (void)ctx, (void)x, (void)rows, (void)n;
}

int main(void) {
    char p[256], q[256];
    snprintf(p, sizeof p, "/tmp/ptq_file_test_%d.ptq", (int)getpid());
    snprintf(q, sizeof q, "/tmp/ptq_file_test_%d.bad", (int)getpid());
    ptq_model a, b;
    ptq_err err;
    make_model(&a);
    cJSON *meta = cJSON_CreateObject(), *back = NULL;
    cJSON_AddStringToObject(meta, "method", "test");
    CHECK(ptq_file_save(p, &a, meta, &err) == 0);
    CHECK(ptq_file_detect(p) == 1);
    if (ptq_file_load(p, &b, &back, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return tu_done("test_ptqfile");
    }
    size_t nl = 8 * (size_t)a.cfg.vocab_size;
    float *la = malloc(nl * 4), *lb = malloc(nl * 4);
    logits(&a, la);
    logits(&b, lb);
    CHECK(memcmp(la, lb, nl * 4) == 0); /* bit-identical */
    CHECK(b.layers[1].lin[PTQ_LIN_O].aq.group == 16 && b.layers[0].vq.clip == 0.95f && b.layers[1].kq.group == 8);
    CHECK(b.layers[1].lin[PTQ_LIN_DOWN].w_side != NULL && b.cfg.attn_bias == 1 && b.lm_head.owns_w);
    CHECK(back && !strcmp(cJSON_GetObjectItem(back, "method")->valuestring, "test"));
    ptq_model_free(&b);

    char *d;
    size_t n;
    CHECK(ptq_read_file(p, &d, &n, &err) == 0);
    d[n - 100] ^= 1; /* payload bit flip */
    write_bytes(q, d, n);
    expect_load_fail(q, "sha256");
    d[n - 100] ^= 1;
    write_bytes(q, d, n - 64);
    expect_load_fail(q, "truncated");
    d[8] = 2; /* version 2 */
    write_bytes(q, d, n);
    expect_load_fail(q, "version 2");
    d[8] = 1;
    write_bytes(q, d, 50);
    expect_load_fail(q, "not a ptqbench file");
    /* header fuzz: errors only */
    ptq_rng r;
    ptq_rng_seed(&r, 5);
    int rejected = 0;
    for (int it = 0; it < 200; it++) {
        char *m = malloc(n);
        memcpy(m, d, n);
        for (int k = 0; k < 3; k++)
            m[ptq_rng_u64(&r) % 1500] = (char)ptq_rng_u64(&r);
        write_bytes(q, m, n);
        free(m);
        if (ptq_file_load(q, &b, NULL, &err) == 0)
            ptq_model_free(&b);
        else
            rejected++;
    }
    printf("  fuzz: %d of 200 mutated headers rejected, none crashed\n", rejected);
    free(d);

    /* a model with an online transform cannot be stored faithfully */
    a.layers[0].lin[PTQ_LIN_DOWN].in_op = (ptq_online_op){noop, NULL, NULL, "hadamard", 0};
    CHECK(ptq_file_save(q, &a, NULL, &err) == -1 && strstr(err.msg, "hadamard"));
    a.layers[0].lin[PTQ_LIN_DOWN].in_op = (ptq_online_op){0};
    unlink(p), unlink(q);
    cJSON_Delete(meta), cJSON_Delete(back);
    free(la), free(lb);
    ptq_model_free(&a);
    return tu_done("test_ptqfile");
}
