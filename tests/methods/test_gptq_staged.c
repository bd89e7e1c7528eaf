/* test_gptq_staged.c — the staged true-sequential GPTQ walk (each linear's
 * product once per window, ptq_gptq_block) gives the same codes, grids,
 * dequantized weights and block outputs X, bit for bit, as the unstaged walk
 * (per group: capture up to the group's first linear, GPTQ, then the whole
 * block run again on X), block after block over all of stories260K; with
 * o's/down's inputs kept (keep_mib large) and recomputed (keep_mib 0). Also
 * with online ops on the linears' inputs, the qk product and the residuals
 * (QuaRot/SpinQuant-style hooks; the capture sees x after the in_op), and
 * for the one-capture walk (true_sequential off). The block forward split
 * into parts equals the whole block's forward. */
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "gptq.h"
#include "model_open.h"
#include "online_ops.h"
#include "testutil.h"

enum { NW = 3 }; /* walks: reference, staged kept, staged recomputed */

typedef struct {
    ptq_hessian h[4];
    int on[4];
} refcap;

static const int slot[PTQ_LIN_COUNT] = {0, 0, 0, 1, 2, 2, 3};

static void rcap(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    (void)layer, (void)x_q, (void)n;
    refcap *r = ctx;
    if ((which == PTQ_LIN_Q || which == PTQ_LIN_O || which == PTQ_LIN_GATE || which == PTQ_LIN_DOWN) &&
        r->on[slot[which]])
        ptq_hessian_add(&r->h[slot[which]], x_pre, T);
}

/* The unstaged walk, from the public pieces. */
static int ref_block(ptq_model *m, int l, float *X, const ptq_calib *c, const ptq_gptq_opts *o, int true_seq,
                     ptq_err *err) {
    static const int seq[4][5] = {{0, 1, 2, -1}, {3, -1}, {4, 5, -1}, {6, -1}}, all[] = {0, 1, 2, 3, 4, 5, 6, -1};
    for (int gi = 0; gi < (true_seq ? 4 : 1); gi++) {
        const int *grp = true_seq ? seq[gi] : all;
        refcap r;
        memset(&r, 0, sizeof r);
        for (int k = 0; grp[k] >= 0; k++)
            if (!r.on[slot[grp[k]]]) {
                if (ptq_hessian_init(&r.h[slot[grp[k]]], m->layers[l].lin[grp[k]].in, err)) return -1;
                r.on[slot[grp[k]]] = 1;
            }
        if (ptq_calib_block_capture(m, l, X, c, true_seq ? grp[0] : PTQ_LIN_DOWN, rcap, &r, err)) return -1;
        for (int k = 0; grp[k] >= 0; k++) {
            ptq_linear *L = &m->layers[l].lin[grp[k]];
            ptq_qweight *qw = ptq_wq_qweight(L->out, L->in, &o->wq, err);
            if (!qw || ptq_gptq_quantize(L->w, L->out, L->in, &r.h[slot[grp[k]]], o, NULL, qw, err) ||
                ptq_linear_set_qweight(L, qw, err))
                return -1;
        }
        for (int s = 0; s < 4; s++)
            if (r.on[s]) ptq_hessian_free(&r.h[s]);
    }
    return ptq_calib_block_forward(m, l, X, X, c, NULL, NULL, err);
}

static int same_layer(const ptq_layer *a, const ptq_layer *b) {
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        const ptq_linear *x = &a->lin[j], *y = &b->lin[j];
        if (!x->qw || !y->qw) return 0;
        size_t n = (size_t)x->out * x->in, g = (size_t)x->out * x->qw->ngroups;
        if (memcmp(x->qw->codes, y->qw->codes, n) || memcmp(x->qw->scale, y->qw->scale, g * sizeof(float)) ||
            memcmp(x->qw->zero, y->qw->zero, g * sizeof(int)) || memcmp(x->w, y->w, n * sizeof(float)))
            return 0;
    }
    return 1;
}

/* Online ops of QuaRot/SpinQuant's kinds on every hook the walk passes. */
static void add_ops(ptq_model *m, ptq_err *err) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        CHECK(ptq_op_random_orthogonal(&L->lin[PTQ_LIN_O].in_op, m->cfg.dim, 11 + l, err) == 0);
        CHECK(ptq_op_random_orthogonal(&L->lin[PTQ_LIN_DOWN].in_op, m->cfg.hidden_dim, 13 + l, err) == 0);
        CHECK(ptq_op_random_orthogonal(&L->lin[PTQ_LIN_Q].in_op, m->cfg.dim, 17 + l, err) == 0);
        CHECK(ptq_op_hadamard(&L->qk_op, m->cfg.head_dim, err) == 0);
        CHECK(ptq_op_random_orthogonal(&L->resid_op[0], m->cfg.dim, 19 + l, err) == 0);
        CHECK(ptq_op_random_orthogonal(&L->resid_op[1], m->cfg.dim, 23 + l, err) == 0);
    }
}

/* All blocks three ways from the same embeddings; every block's codes and X agree. */
static void walk(const ptq_model *base, const ptq_calib *c, int true_seq, const char *what) {
    ptq_err err = {{0}};
    ptq_model m[NW];
    float *X[NW];
    size_t win = (size_t)c->seqlen * base->cfg.dim, nx = (size_t)c->nsamples * win;
    ptq_gptq_opts o = ptq_gptq_default(3);
    o.wq.group = 16; /* several groups per row */
    o.blocksize = 32;
    for (int w = 0; w < NW; w++) {
        CHECK(ptq_model_clone(&m[w], base, &err) == 0);
        X[w] = malloc(nx * sizeof(float));
        for (int i = 0; i < c->nsamples; i++)
            CHECK(ptq_forward_embed(&m[w], c->tokens + (size_t)i * c->seqlen, c->seqlen, X[w] + i * win, &err) == 0);
    }
    int agree = 1;
    for (int l = 0; l < base->cfg.n_layers; l++) {
        CHECK(ref_block(&m[0], l, X[0], c, &o, true_seq, &err) == 0);
        o.keep_mib = 1024;
        CHECK(ptq_gptq_block(&m[1], l, X[1], c, &o, true_seq, &err) == 1);
        o.keep_mib = 0;
        CHECK(ptq_gptq_block(&m[2], l, X[2], c, &o, true_seq, &err) == 1);
        for (int w = 1; w < NW; w++)
            agree &= same_layer(&m[0].layers[l], &m[w].layers[l]) && !memcmp(X[0], X[w], nx * sizeof(float));
    }
    if (!agree) fprintf(stderr, "%s: staged walk differs from the unstaged one\n", what);
    CHECK(agree);
    /* the walk moved X: block outputs differ from the embeddings */
    float *E = malloc(win * sizeof(float));
    CHECK(ptq_forward_embed(base, c->tokens, c->seqlen, E, &err) == 0);
    CHECK(memcmp(E, X[1], win * sizeof(float)) != 0);
    free(E);
    for (int w = 0; w < NW; w++)
        ptq_model_free(&m[w]), free(X[w]);
}

/* ptq_forward_part over the four parts == ptq_forward_block, bit for bit. */
static void parts_equal_block(const ptq_model *m, const ptq_calib *c) {
    ptq_err err = {{0}};
    ptq_state s;
    CHECK(ptq_state_init(&s, m, c->seqlen, &err) == 0);
    size_t win = (size_t)c->seqlen * m->cfg.dim;
    float *a = malloc(win * sizeof(float)), *b = malloc(win * sizeof(float));
    CHECK(ptq_forward_embed(m, c->tokens, c->seqlen, a, &err) == 0);
    memcpy(b, a, win * sizeof(float));
    for (int l = 0; l < m->cfg.n_layers; l++) {
        CHECK(ptq_forward_block(m, &s, l, a, c->seqlen, 0, &err) == 0);
        for (int p = 0; p < PTQ_PART_COUNT; p++)
            CHECK(ptq_forward_part(m, &s, l, p, b, c->seqlen, 0, &err) == 0);
    }
    CHECK(memcmp(a, b, win * sizeof(float)) == 0);
    CHECK(ptq_forward_part(m, &s, 0, PTQ_PART_COUNT, b, c->seqlen, 0, &err) == -1 && strstr(err.msg, "part"));
    free(a), free(b);
    ptq_state_free(&s);
}

int main(void) {
    ptq_err err = {{0}};
    ptq_model m;
    ptq_tokenizer *tok;
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &m, &tok, &err)) {
        fprintf(stderr, "stories260K not available: %s\n", err.msg);
        return tu_done("test_gptq_staged");
    }
    ptq_calib_spec cs = {"tinystories-calib", 2, 64, 0};
    ptq_calib c;
    CHECK(ptq_calib_load(&c, &cs, tok, m.cfg.max_seq, &err) == 0);
    parts_equal_block(&m, &c);
    walk(&m, &c, 1, "plain");
    walk(&m, &c, 0, "one capture");
    add_ops(&m, &err);
    parts_equal_block(&m, &c);
    walk(&m, &c, 1, "online ops");
    ptq_calib_free(&c);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return tu_done("test_gptq_staged");
}
