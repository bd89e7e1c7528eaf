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
 * 4. Bad input: a token outside the vocabulary, a rotation that does not
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
    for (size_t i = 0; i < n; i++) x[i] = mean + s * (float)ptq_rng_normal(&rng);
}

static void make_model(ptq_model *m, int tied, int style, int bias, int unit_norms) {
    ptq_config c = {.dim = 16, .hidden_dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 24,
                    .max_seq = 16, .head_dim = 4, .rope_theta = 10000.f, .norm_eps = 1e-5f,
                    .tied_embeddings = tied, .rope_style = style, .attn_bias = bias};
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
    for (int t = 0; t < T; t++) tok[t] = (int)(ptq_rng_u64(&rng) % V);
    for (int t = 0; t < T; t++) tgt[t] = t + 1 < T ? tok[t + 1] : -1;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double mx = 0, ref = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)a[i] - b[i])), ref = fmax(ref, fabs((double)b[i]));
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
        printf("FP forward (tied %d, rope %s, bias %d): rel diff %.2e\n", v & 1, v & 2 ? "half" : "interleaved",
               v == 3, r);
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
        for (int j = 0; j < PTQ_LIN_COUNT; j++) m.layers[l].lin[j].aq = (ptq_act_qspec){4, 0, 0.9f, 0};
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

static double loss_of(ptq_tmodel *tm, ptq_tape *tp, const int *tok, const int *tgt) {
    ptq_err err;
    double L = NAN;
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
    const char *names[] = {"tok_emb", "layers.0.q_proj.weight", "layers.1.k_proj.bias", "layers.0.v_proj.bias",
                           "layers.1.rms_att", "layers.0.rms_ffn", "layers.1.down_proj.weight",
                           "layers.0.o_proj.weight", "rms_final", "lm_head.weight", "layers.1.gate_proj.weight"};
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
    for (int i = 0; i < 7; i++) R[i * 7 + i] = 1.f;
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
    test_bad_input();
    return tu_done("test_train_model");
}
