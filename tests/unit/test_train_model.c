/* test_train_model.c — the training engine's whole-model forward and
 * backward (src/train/train.h) on tiny random models.
 *
 * 1. The training forward's logits equal ptq_forward's (forward.c) within
 *    1e-5 relative, for the FP model (tied and untied head, both RoPE
 *    styles, GQA, q/k/v biases) and for a fake-quantized one: 4-bit RTN
 *    weights, 4-bit per-token activations, 4-bit grouped K/V, Hadamard on
 *    Q/K and on the down_proj input, a dense residual-stream op. The
 *    quantized logits differ from the FP ones (the quantizers are active).
 * 2. Rotations are function-preserving: with norms fused (unit RMSNorm
 *    weights), R1 at the embedding / readers / writers of the residual
 *    stream and R2 per head on v / o leave the FP logits within 1e-4.
 * 3. Gradients: the whole model's mean cross-entropy w.r.t. R1, a layer's
 *    R2, a Householder vector rotating down_proj's input explicitly, and
 *    weights (embedding, q_proj, biases, norms, lm_head) against central
 *    differences of the loss (double-accumulated; steps 2e-2 and 1e-2
 *    combined by Richardson extrapolation, so the truncation error is O(h^4)
 *    and float rounding of the loss is divided by a larger step): relative error
 *    of each gradient vector < 1e-3.
 * 3b. One block (block-wise objectives): output equal to ptq_forward_block's;
 *    its MSE's gradients w.r.t. a weight-side Householder vector, weights, a
 *    norm and the block input against central differences.
 * 3c. Fusing the rotations into the model: ptq_forward then equals the
 *    training forward with the rotations attached (within 1e-5).
 * 4. Loss and gradients are bit for bit equal at 1 and 3 threads (odd tile splits).
 * 5. Bad input: a token outside the vocabulary, a rotation that does not
 *    divide a width, a non-orthogonal initial rotation, a window longer
 *    than the tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "hadamard.h"
#include "testutil.h"
#include "train.h"

enum { T = 12 };
static ptq_rng rng;

static void fill(float *x, size_t n, float s, float mean) {
    for (size_t i = 0; i < n; i++)
        x[i] = mean + s * (float)ptq_rng_normal(&rng);
}

static void make_model(ptq_model *m, int tied, int style, int bias, int unit_norms) {
    ptq_config c = {.dim = 16,
                    .hidden_dim = 32,
                    .n_layers = 2,
                    .n_heads = 4,
                    .n_kv_heads = 2,
                    .vocab_size = 24,
                    .max_seq = 16,
                    .head_dim = 4,
                    .rope_theta = 10000.f,
                    .norm_eps = 1e-5f,
                    .tied_embeddings = tied,
                    .rope_style = style,
                    .attn_bias = bias};
    ptq_err err;
    if (ptq_model_alloc(m, &c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    fill(m->tok_emb, (size_t)c.vocab_size * c.dim, 0.5f, 0);
    fill(m->rms_final, c.dim, unit_norms ? 0 : 0.1f, 1);
    if (!tied) fill(m->lm_head.w, (size_t)c.vocab_size * c.dim, 0.3f, 0);
    for (int l = 0; l < c.n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        fill(L->rms_att, c.dim, unit_norms ? 0 : 0.1f, 1);
        fill(L->rms_ffn, c.dim, unit_norms ? 0 : 0.1f, 1);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            fill(L->lin[j].w, (size_t)L->lin[j].out * L->lin[j].in, 0.35f, 0);
            if (L->lin[j].bias) fill(L->lin[j].bias, L->lin[j].out, 0.2f, 0);
        }
    }
}

static void tokens_of(int *tok, int *tgt, int V) {
    for (int t = 0; t < T; t++)
        tok[t] = (int)(ptq_rng_u64(&rng) % V);
    for (int t = 0; t < T; t++)
        tgt[t] = t + 1 < T ? tok[t + 1] : -1;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double mx = 0, ref = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)a[i] - b[i])), ref = fmax(ref, fabs((double)b[i]));
    return mx / ref;
}

/* max relative difference between the training forward and ptq_forward */
static double compare_forward(ptq_model *m, const int *tok, float *eval_logits) {
    ptq_err err;
    ptq_state s;
    ptq_tmodel tm;
    int V = m->cfg.vocab_size;
    float *a = calloc((size_t)T * V, sizeof(float)), *b = calloc((size_t)T * V, sizeof(float));
    CHECK(ptq_state_init(&s, m, T, &err) == 0);
    CHECK(ptq_forward(m, &s, tok, T, 0, a, 0, &err) == 0);
    CHECK(ptq_tmodel_init(&tm, m, 0, &err) == 0);
    ptq_tape *tp = ptq_tape_new(&tm, T, &err);
    CHECK(tp != NULL);
    CHECK(ptq_train_forward(&tm, tp, tok, NULL, T, b, NULL, &err) == 0);
    double r = rel_diff(b, a, (size_t)T * V);
    if (eval_logits) memcpy(eval_logits, a, (size_t)T * V * sizeof(float));
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
    ptq_state_free(&s);
    free(a), free(b);
    return r;
}

static void set_ops(ptq_model *m) {
    ptq_err err;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        CHECK(ptq_op_hadamard(&m->layers[l].qk_op, m->cfg.head_dim, &err) == 0);
        CHECK(ptq_op_hadamard(&m->layers[l].lin[PTQ_LIN_DOWN].in_op, m->cfg.hidden_dim, &err) == 0);
    }
    CHECK(ptq_op_random_orthogonal(&m->layers[1].resid_op[0], m->cfg.dim, 7, &err) == 0);
}

static void test_forward_equal(void) {
    int tok[T], tgt[T];
    for (int v = 0; v < 4; v++) {
        ptq_model m;
        make_model(&m, v & 1, v & 2 ? PTQ_ROPE_HALF : PTQ_ROPE_INTERLEAVED, v == 3, 0);
        tokens_of(tok, tgt, m.cfg.vocab_size);
        double r = compare_forward(&m, tok, NULL);
        printf("FP forward (tied %d, rope %s, bias %d): rel diff %.2e\n", v & 1, v & 2 ? "half" : "interleaved", v == 3,
               r);
        CHECK(r <= 1e-5);
        ptq_model_free(&m);
    }
    /* fake-quantized: weights, activations, K/V, online ops */
    ptq_model m;
    ptq_err err;
    make_model(&m, 0, PTQ_ROPE_INTERLEAVED, 0, 0);
    tokens_of(tok, tgt, m.cfg.vocab_size);
    int V = m.cfg.vocab_size;
    float *fp = calloc((size_t)T * V, sizeof(float)), *q = calloc((size_t)T * V, sizeof(float));
    compare_forward(&m, tok, fp);
    set_ops(&m);
    ptq_wq_opts wo = ptq_wq_default(4, 0);
    for (int l = 0; l < m.cfg.n_layers; l++) {
        CHECK(ptq_wq_layer(&m, l, &wo, &err) == 0);
        m.layers[l].kq = (ptq_act_qspec){4, 0, 1.f, 2};
        m.layers[l].vq = (ptq_act_qspec){4, 1, 0.9f, 2};
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            m.layers[l].lin[j].aq = (ptq_act_qspec){4, 0, 0.9f, 0};
    }
    m.lm_head.aq = (ptq_act_qspec){8, 1, 1.f, 0};
    double r = compare_forward(&m, tok, q);
    printf("fake-quant forward: rel diff %.2e (vs FP logits: %.2e)\n", r, rel_diff(q, fp, (size_t)T * V));
    CHECK(r <= 1e-5);
    CHECK(rel_diff(q, fp, (size_t)T * V) > 1e-2);
    free(fp), free(q);
    ptq_model_free(&m);
}

typedef struct {
    int R1, R2[2], hh, rx;
} rots;

/* SpinQuant's R1 (residual stream) and R2 (per head, v/o) plus a Householder
 * rotating down_proj's input of layer 0 explicitly. */
/* with_hh 1: the Householder rotates x and W (function-preserving);
 * 2: only W (weight side), plus a rotation Rx (block 8) applied explicitly
 * to gate_proj's input of layer 1, so the loss depends on both. */
static void add_rotations(ptq_tmodel *tm, rots *r, int with_hh) {
    ptq_err err;
    const ptq_config *c = &tm->m->cfg;
    float *R = calloc((size_t)c->dim * c->dim, sizeof(float));
    CHECK(ptq_random_orthogonal(R, c->dim, 11, &err) == 0);
    r->R1 = ptq_tmodel_add_rotation(tm, "R1", c->dim, R, &err);
    CHECK(r->R1 >= 0);
    CHECK(ptq_tmodel_set_emb_rot(tm, r->R1, &err) == 0);
    for (int l = 0; l <= c->n_layers; l++)
        for (int j = 0; j < (l == c->n_layers ? 1 : PTQ_LIN_COUNT); j++) {
            if (l < c->n_layers && (j == PTQ_LIN_O || j == PTQ_LIN_DOWN))
                CHECK(ptq_tmodel_set_out_rot(tm, l, j, r->R1, &err) == 0);
            else
                CHECK(ptq_tmodel_set_in_rot(tm, l, j, r->R1, 0, &err) == 0);
        }
    for (int l = 0; l < c->n_layers; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "layers.%d.R2", l);
        CHECK(ptq_random_orthogonal(R, c->head_dim, 20 + l, &err) == 0);
        r->R2[l] = ptq_tmodel_add_rotation(tm, nm, c->head_dim, R, &err);
        CHECK(r->R2[l] >= 0);
        CHECK(ptq_tmodel_set_out_rot(tm, l, PTQ_LIN_V, r->R2[l], &err) == 0);
        CHECK(ptq_tmodel_set_in_rot(tm, l, PTQ_LIN_O, r->R2[l], 0, &err) == 0);
    }
    if (with_hh) {
        float u[64];
        fill(u, c->hidden_dim, 1.f, 0);
        r->hh = ptq_tmodel_add_householder(tm, "layers.0.down.householder", c->hidden_dim, u, &err);
        CHECK(r->hh >= 0);
        CHECK(ptq_tmodel_set_in_rot(tm, 0, PTQ_LIN_DOWN, r->hh, with_hh == 1, &err) == 0);
    }
    if (with_hh == 2) {
        CHECK(ptq_random_orthogonal(R, 8, 31, &err) == 0);
        r->rx = ptq_tmodel_add_rotation(tm, "layers.1.gate.Rx", 8, R, &err);
        CHECK(r->rx >= 0);
        CHECK(ptq_tmodel_set_in_rot(tm, 1, PTQ_LIN_GATE, r->rx, 1, &err) == 0);
    }
    free(R);
}

static void test_invariance(void) {
    ptq_model m;
    ptq_err err;
    int tok[T], tgt[T];
    make_model(&m, 0, PTQ_ROPE_INTERLEAVED, 0, 1);
    tokens_of(tok, tgt, m.cfg.vocab_size);
    int V = m.cfg.vocab_size;
    float *a = calloc((size_t)T * V, sizeof(float)), *b = calloc((size_t)T * V, sizeof(float));
    compare_forward(&m, tok, a);
    ptq_tmodel tm;
    CHECK(ptq_tmodel_init(&tm, &m, 0, &err) == 0);
    rots r;
    add_rotations(&tm, &r, 1);
    ptq_tape *tp = ptq_tape_new(&tm, T, &err);
    CHECK(ptq_train_forward(&tm, tp, tok, NULL, T, b, NULL, &err) == 0);
    double d = rel_diff(b, a, (size_t)T * V);
    printf("rotated FP model (R1, R2, Householder): rel diff %.2e\n", d);
    CHECK(d <= 1e-4);
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
    free(a), free(b);
    ptq_model_free(&m);
}

/* Block mode (g_block_x set): the loss is the MSE of block 0's output
 * against g_block_y, as a block-wise objective (RUQuant+ft) computes it. */
static float *g_block_x, *g_block_y, *g_block_out;

static double loss_of(ptq_tmodel *tm, ptq_tape *tp, const int *tok, const int *tgt) {
    ptq_err err;
    double L = NAN;
    if (g_block_x) {
        if (ptq_train_prepare(tm, &err) || ptq_train_block_forward(tm, tp, 0, g_block_x, g_block_out, T, &err))
            fprintf(stderr, "%s\n", err.msg);
        return ptq_mse_forward(g_block_out, g_block_y, (size_t)T * tm->m->cfg.dim);
    }
    if (ptq_train_forward(tm, tp, tok, tgt, T, NULL, &L, &err)) fprintf(stderr, "%s\n", err.msg);
    return L;
}

/* Central differences of the loss over up to `count` entries of parameter i. */
static double grad_check(ptq_tmodel *tm, ptq_tape *tp, const int *tok, const int *tgt, int i, long count) {
    ptq_param *p = &tm->P.p[i];
    long n = ptq_param_size(p);
    if (count > n) count = n;
    double num = 0, den = 0;
    for (long k = 0; k < count; k++) {
        long j = count == n ? k : (long)(ptq_rng_u64(&rng) % n);
        double d[2];
        for (int r = 0; r < 2; r++) { /* steps h and h/2, Richardson-combined */
            float x0 = p->val[j], h = r ? 1e-2f : 2e-2f, xp = x0 + h, xm = x0 - h;
            p->val[j] = xp;
            double lp = loss_of(tm, tp, tok, tgt);
            p->val[j] = xm;
            double lm = loss_of(tm, tp, tok, tgt);
            p->val[j] = x0;
            d[r] = (lp - lm) / ((double)xp - xm);
        }
        double fd = (4 * d[1] - d[0]) / 3, an = p->grad[j];
        num += (fd - an) * (fd - an);
        den += fmax(fd * fd, an * an);
    }
    double rel = den > 0 ? sqrt(num / den) : 0;
    printf("  d loss / d %-28s rel err %.2e (%ld entries, |g| %.3g)\n", p->name, rel, count, sqrt(den));
    CHECK(rel < 1e-3);
    CHECK(den > 0);
    return rel;
}

/* The finite differences run ~1000 forwards of a tiny model: one thread,
 * since on a loaded machine every parallel region of a tiny op waits for a
 * descheduled peer (the results do not depend on the thread count). */
static void test_gradients(int bias) {
#ifdef _OPENMP
    int nthr = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    ptq_model m;
    ptq_err err;
    int tok[T], tgt[T];
    make_model(&m, bias, PTQ_ROPE_HALF, bias, 0);
    set_ops(&m);
    tokens_of(tok, tgt, m.cfg.vocab_size);
    tok[3] = tok[7]; /* a repeated token: embedding rows add */
    ptq_tmodel tm;
    CHECK(ptq_tmodel_init(&tm, &m, 1, &err) == 0);
    rots r;
    if (!bias) add_rotations(&tm, &r, 2);
    ptq_tape *tp = ptq_tape_new(&tm, T, &err);
    double L;
    ptq_params_zero_grad(&tm.P);
    CHECK(ptq_train_forward(&tm, tp, tok, tgt, T, NULL, &L, &err) == 0);
    CHECK(ptq_train_backward(&tm, tp, 1.f, &err) == 0);
    printf("gradients (%s), loss %.4f:\n", bias ? "biases, tied head" : "R1, R2, Householder", L);
    const char *names[] = {
        "tok_emb",          "layers.0.q_proj.weight", "layers.1.k_proj.bias",      "layers.0.v_proj.bias",
        "layers.1.rms_att", "layers.0.rms_ffn",       "layers.1.down_proj.weight", "layers.0.o_proj.weight",
        "rms_final",        "lm_head.weight",         "layers.1.gate_proj.weight"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int i = ptq_params_find(&tm.P, names[k]);
        if (i >= 0) grad_check(&tm, tp, tok, tgt, i, 16);
    }
    if (!bias) {
        grad_check(&tm, tp, tok, tgt, r.R1, 64);
        grad_check(&tm, tp, tok, tgt, r.R2[1], 16);
        grad_check(&tm, tp, tok, tgt, r.hh, 32);
        grad_check(&tm, tp, tok, tgt, r.rx, 32);
    }
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
    ptq_model_free(&m);
#ifdef _OPENMP
    omp_set_num_threads(nthr);
#endif
}

/* Loss and every gradient bit for bit equal at 1 and 3 threads, on a model
 * big enough for the parallel paths (attention heads, GEMM tiles, quantizer rows). */
static void test_threads(void) {
#ifdef _OPENMP
    int nthr = omp_get_max_threads();
    ptq_config c = {.dim = 64,
                    .hidden_dim = 128,
                    .n_layers = 1,
                    .n_heads = 4,
                    .n_kv_heads = 2,
                    .vocab_size = 300,
                    .max_seq = 64,
                    .head_dim = 16,
                    .rope_theta = 10000.f,
                    .norm_eps = 1e-5f};
    ptq_model m;
    ptq_err err;
    CHECK(ptq_model_alloc(&m, &c, &err) == 0);
    fill(m.tok_emb, (size_t)c.vocab_size * c.dim, 0.5f, 0);
    fill(m.lm_head.w, (size_t)c.vocab_size * c.dim, 0.2f, 0);
    fill(m.rms_final, c.dim, 0.1f, 1);
    fill(m.layers[0].rms_att, c.dim, 0.1f, 1);
    fill(m.layers[0].rms_ffn, c.dim, 0.1f, 1);
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        ptq_linear *l = &m.layers[0].lin[j];
        fill(l->w, (size_t)l->out * l->in, 0.15f, 0);
        l->aq = (ptq_act_qspec){4, 0, 0.9f, 0};
    }
    m.layers[0].kq = m.layers[0].vq = (ptq_act_qspec){4, 0, 1.f, 8};
    int tok[64], tgt[64];
    for (int t = 0; t < 64; t++)
        tok[t] = (int)(ptq_rng_u64(&rng) % c.vocab_size);
    for (int t = 0; t < 64; t++)
        tgt[t] = t < 63 ? tok[t + 1] : -1;
    float *ref = NULL;
    size_t ng = 0;
    double L0 = 0;
    for (int th = 1; th <= 3; th += 2) {
        omp_set_num_threads(th);
        ptq_tmodel tm;
        CHECK(ptq_tmodel_init(&tm, &m, 1, &err) == 0);
        float R[256];
        CHECK(ptq_random_orthogonal(R, 16, 3, &err) == 0);
        int r2 = ptq_tmodel_add_rotation(&tm, "R2", 16, R, &err);
        CHECK(ptq_tmodel_set_out_rot(&tm, 0, PTQ_LIN_V, r2, &err) == 0);
        CHECK(ptq_tmodel_set_in_rot(&tm, 0, PTQ_LIN_O, r2, 0, &err) == 0);
        ptq_tape *tp = ptq_tape_new(&tm, 64, &err);
        double L;
        ptq_params_zero_grad(&tm.P);
        CHECK(ptq_train_forward(&tm, tp, tok, tgt, 64, NULL, &L, &err) == 0);
        CHECK(ptq_train_backward(&tm, tp, 1.f, &err) == 0);
        size_t n = 0;
        for (int i = 0; i < tm.P.n; i++)
            n += (size_t)ptq_param_size(&tm.P.p[i]);
        float *g = malloc(n * sizeof(float)), *q = g;
        for (int i = 0; i < tm.P.n; i++) {
            memcpy(q, tm.P.p[i].grad, (size_t)ptq_param_size(&tm.P.p[i]) * sizeof(float));
            q += ptq_param_size(&tm.P.p[i]);
        }
        if (th == 1)
            ref = g, ng = n, L0 = L;
        else {
            CHECK(n == ng && memcmp(g, ref, n * sizeof(float)) == 0);
            CHECK(L == L0);
            free(g);
        }
        ptq_tape_free(tp);
        ptq_tmodel_free(&tm);
    }
    printf("loss and %zu gradient values bit for bit equal at 1 and 3 threads\n", ng);
    free(ref);
    ptq_model_free(&m);
    omp_set_num_threads(nthr);
#endif
}

/* One block: output equal to ptq_forward_block's; the MSE's gradients w.r.t.
 * a weight-side Householder vector, weights, a norm and the block input. */
static void test_block(void) {
#ifdef _OPENMP
    int nthr = omp_get_max_threads();
    omp_set_num_threads(1); /* finite differences: see test_gradients */
#endif
    ptq_model m;
    ptq_err err;
    make_model(&m, 0, PTQ_ROPE_INTERLEAVED, 0, 0);
    set_ops(&m);
    int d = m.cfg.dim;
    size_t n = (size_t)T * d;
    float *x = calloc(n, sizeof(float)), *y = calloc(n, sizeof(float)), *ref = calloc(n, sizeof(float));
    float *out = calloc(n, sizeof(float)), *dout = calloc(n, sizeof(float)), *dx = calloc(n, sizeof(float));
    fill(x, n, 1.f, 0);
    fill(y, n, 1.f, 0);
    ptq_state s;
    CHECK(ptq_state_init(&s, &m, T, &err) == 0);
    memcpy(ref, x, n * sizeof(float));
    CHECK(ptq_forward_block(&m, &s, 0, ref, T, 0, &err) == 0);
    ptq_state_free(&s);
    ptq_tmodel tm;
    CHECK(ptq_tmodel_init(&tm, &m, 1, &err) == 0);
    ptq_tape *tp = ptq_tape_new(&tm, T, &err);
    CHECK(ptq_train_prepare(&tm, &err) == 0);
    CHECK(ptq_train_block_forward(&tm, tp, 0, x, out, T, &err) == 0);
    CHECK(memcmp(out, ref, n * sizeof(float)) == 0);
    float u[32];
    fill(u, d, 1.f, 0);
    int hh = ptq_tmodel_add_householder(&tm, "layers.0.gate.u", d, u, &err);
    CHECK(hh >= 0);
    CHECK(ptq_tmodel_set_in_rot(&tm, 0, PTQ_LIN_GATE, hh, 0, &err) == 0);
    CHECK(ptq_tmodel_set_in_rot(&tm, 0, PTQ_LIN_UP, hh, 0, &err) == 0);
    g_block_x = x, g_block_y = y, g_block_out = out;
    ptq_params_zero_grad(&tm.P);
    double L = loss_of(&tm, tp, NULL, NULL);
    ptq_mse_backward(dout, out, y, n, 1.f);
    CHECK(ptq_train_block_backward(&tm, tp, 0, dout, dx, T, &err) == 0);
    ptq_train_finish_grads(&tm);
    printf("block 0 MSE %.4f (output = ptq_forward_block's):\n", L);
    grad_check(&tm, tp, NULL, NULL, hh, 16);
    grad_check(&tm, tp, NULL, NULL, ptq_params_find(&tm.P, "layers.0.k_proj.weight"), 16);
    grad_check(&tm, tp, NULL, NULL, ptq_params_find(&tm.P, "layers.0.rms_att"), 16);
    grad_check(&tm, tp, NULL, NULL, ptq_params_find(&tm.P, "layers.0.up_proj.weight"), 16);
    ptq_param px = {.name = "x (block input)", .rows = T, .cols = d, .val = x, .grad = dx};
    ptq_param *save = tm.P.p;
    int save_n = tm.P.n;
    tm.P.p = &px, tm.P.n = 1; /* grad_check reads parameter 0 */
    grad_check(&tm, tp, NULL, NULL, 0, 24);
    tm.P.p = save, tm.P.n = save_n;
    g_block_x = NULL;
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
    ptq_model_free(&m);
    free(x), free(y), free(ref), free(out), free(dout), free(dx);
#ifdef _OPENMP
    omp_set_num_threads(nthr);
#endif
}

/* Fusing the rotations (R1, R2 by the helpers, a weight-side Householder, an
 * explicit input rotation after a Hadamard op) into the model: ptq_forward then gives the
 * training forward's logits (unfused norms, online ops present). */
static void test_fuse(void) {
    ptq_model m;
    ptq_err err;
    int tok[T], tgt[T];
    make_model(&m, 0, PTQ_ROPE_HALF, 0, 0);
    set_ops(&m);
    tokens_of(tok, tgt, m.cfg.vocab_size);
    int V = m.cfg.vocab_size;
    float *a = calloc((size_t)T * V, sizeof(float)), *b = calloc((size_t)T * V, sizeof(float));
    ptq_tmodel tm;
    CHECK(ptq_tmodel_init(&tm, &m, 0, &err) == 0);
    float R[256], u[32];
    CHECK(ptq_random_orthogonal(R, 16, 41, &err) == 0);
    int r1 = ptq_tmodel_add_rotation(&tm, "R1", 16, R, &err);
    CHECK(ptq_tmodel_rotate_residual(&tm, r1, &err) == 0);
    for (int l = 0; l < 2; l++) {
        char nm[16];
        snprintf(nm, sizeof nm, "R2.%d", l);
        CHECK(ptq_random_orthogonal(R, 4, 50 + l, &err) == 0);
        CHECK(ptq_tmodel_rotate_heads(&tm, l, ptq_tmodel_add_rotation(&tm, nm, 4, R, &err), &err) == 0);
    }
    CHECK(ptq_tmodel_rotate_heads(&tm, 0, r1, &err) == -1 && strstr(err.msg, "per-head"));
    fill(u, 32, 1.f, 0);
    int hh = ptq_tmodel_add_householder(&tm, "u", 32, u, &err);
    CHECK(ptq_tmodel_set_in_rot(&tm, 0, PTQ_LIN_DOWN, hh, 0, &err) == 0); /* weight side only */
    CHECK(ptq_random_orthogonal(R, 8, 52, &err) == 0);
    int rx = ptq_tmodel_add_rotation(&tm, "Rx", 8, R, &err);
    CHECK(ptq_tmodel_set_in_rot(&tm, 1, PTQ_LIN_DOWN, rx, 1, &err) == 0); /* x too: online after fusing */
    ptq_tape *tp = ptq_tape_new(&tm, T, &err);
    CHECK(ptq_train_forward(&tm, tp, tok, NULL, T, a, NULL, &err) == 0);
    CHECK(ptq_tmodel_fuse(&tm, &err) == 0);
    CHECK(tm.emb_rot == -1 && tm.lin[PTQ_LIN_DOWN + PTQ_LIN_COUNT].in_rot == -1);
    CHECK(m.layers[1].lin[PTQ_LIN_DOWN].in_op.kind == PTQ_OP_DENSE);
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
    ptq_state s;
    CHECK(ptq_state_init(&s, &m, T, &err) == 0);
    CHECK(ptq_forward(&m, &s, tok, T, 0, b, 0, &err) == 0);
    double d = rel_diff(b, a, (size_t)T * V);
    printf("fused model vs training forward with rotations: rel diff %.2e\n", d);
    CHECK(d <= 1e-5);
    ptq_state_free(&s);
    free(a), free(b);
    ptq_model_free(&m);
}

static void test_bad_input(void) {
    ptq_model m;
    ptq_err err;
    make_model(&m, 0, PTQ_ROPE_INTERLEAVED, 0, 0);
    ptq_tmodel tm;
    CHECK(ptq_tmodel_init(&tm, &m, 0, &err) == 0);
    ptq_tape *tp = ptq_tape_new(&tm, T, &err);
    int tok[T + 1] = {0};
    tok[2] = 99;
    CHECK(ptq_train_forward(&tm, tp, tok, NULL, T, NULL, NULL, &err) == -1 && strstr(err.msg, "token id 99"));
    tok[2] = 0;
    CHECK(ptq_train_forward(&tm, tp, tok, NULL, T + 1, NULL, NULL, &err) == -1 && strstr(err.msg, "tape holds"));
    CHECK(ptq_train_backward(&tm, tp, 1.f, &err) == -1);
    float R[49] = {0};
    for (int i = 0; i < 7; i++)
        R[i * 7 + i] = 1.f;
    int r7 = ptq_tmodel_add_rotation(&tm, "R7", 7, R, &err);
    CHECK(r7 >= 0);
    CHECK(ptq_tmodel_set_in_rot(&tm, 0, PTQ_LIN_Q, r7, 0, &err) == -1 && strstr(err.msg, "does not divide"));
    R[3] = 0.5f;
    CHECK(ptq_tmodel_add_rotation(&tm, "Rbad", 7, R, &err) == -1 && strstr(err.msg, "not orthogonal"));
    CHECK(ptq_tape_new(&tm, 17, &err) == NULL && strstr(err.msg, "max_seq"));
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
    ptq_model_free(&m);
}

int main(void) {
    ptq_rng_seed(&rng, 5);
    test_forward_equal();
    test_invariance();
    test_gradients(0);
    test_gradients(1);
    test_threads();
    test_block();
    test_fuse();
    test_bad_input();
    return tu_done("test_train_model");
}
