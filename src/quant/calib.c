/* calib.c — calibration windows and one block's forward over them; see
 * calib.h. Sampling: when at least nsamples documents are longer than seqlen
 * (C4), pick nsamples distinct documents and a random crop of each, like
 * GPTQ's get_c4; otherwise (short stories) cut the token stream into
 * non-overlapping seqlen slots and pick nsamples distinct slots. Both are
 * seeded; a request the dataset cannot supply is an error. */
#include "calib.h"

#include <stdlib.h>
#include <string.h>

/* Partial Fisher-Yates: first k entries of idx become a random k-subset. */
static void pick(int *idx, int n, int k, ptq_rng *r) {
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)(ptq_rng_uniform(r) * (n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static long doc_len(const ptq_tokens *t, int d) {
    long end = d + 1 < t->n_docs ? t->doc_starts[d + 1] : t->n;
    return end - t->doc_starts[d];
}

int ptq_calib_load(ptq_calib *c, const ptq_calib_spec *spec, const ptq_tokenizer *tok, int max_seq, ptq_err *err) {
    memset(c, 0, sizeof *c);
    c->spec = *spec;
    int L = spec->seqlen > 0 ? spec->seqlen : max_seq, N = spec->nsamples;
    if (L > max_seq) return ptq_fail(err, "calibration seqlen %d is above the model's max_seq %d", L, max_seq);
    if (L < 2 || N < 1) return ptq_fail(err, "calibration needs nsamples >= 1 and seqlen >= 2 (got %d x %d)", N, L);
    ptq_tokens t;
    if (ptq_text_tokens(spec->dataset, tok, &t, err)) return ptq_wrap(err, "calibration dataset");
    int rc = 0, *idx = NULL;
    long nlong = 0;
    for (int d = 0; d < t.n_docs; d++)
        nlong += doc_len(&t, d) > L;
    long slots = t.n / L;
    if ((long)N * L > t.n || (nlong < N && slots < N)) {
        rc =
            ptq_fail(err, "calibration set too small: %s has %ld tokens (%ld windows of %d), the request needs %d x %d",
                     spec->dataset, t.n, slots, L, N, L);
        goto out;
    }
    c->tokens = ptq_calloc((size_t)N * L, sizeof(int), err);
    idx = ptq_calloc((size_t)(nlong >= N ? t.n_docs : slots), sizeof(int), err);
    if (!c->tokens || !idx) {
        rc = -1;
        goto out;
    }
    ptq_rng r;
    ptq_rng_seed(&r, spec->seed);
    if (nlong >= N) { /* GPTQ c4 style: distinct long documents, random crop */
        int nd = 0;
        for (int d = 0; d < t.n_docs; d++)
            if (doc_len(&t, d) > L) idx[nd++] = d;
        for (int i = 0; i < N; i++) {
            int j = i + (int)(ptq_rng_uniform(&r) * (nd - i)), tmp = idx[i];
            idx[i] = idx[j], idx[j] = tmp;
            long len = doc_len(&t, idx[i]), off = (long)(ptq_rng_uniform(&r) * (double)(len - L));
            memcpy(c->tokens + (size_t)i * L, t.ids + t.doc_starts[idx[i]] + off, (size_t)L * sizeof(int));
        }
        snprintf(c->sampling, sizeof c->sampling, "random crop of %d distinct documents", N);
    } else {
        pick(idx, (int)slots, N, &r);
        for (int i = 0; i < N; i++)
            memcpy(c->tokens + (size_t)i * L, t.ids + (size_t)idx[i] * L, (size_t)L * sizeof(int));
        snprintf(c->sampling, sizeof c->sampling, "%d distinct non-overlapping windows of the token stream", N);
    }
    c->nsamples = N;
    c->seqlen = L;
    memcpy(c->dataset_sha256, t.sha256, 65);
out:
    free(idx);
    ptq_tokens_free(&t);
    if (rc) ptq_calib_free(c);
    return rc;
}

void ptq_calib_free(ptq_calib *c) {
    free(c->tokens);
    c->tokens = NULL;
}

/* Seconds spent in calibration forwards, capture callbacks excluded. */
static double g_fwd_sec;

double ptq_calib_forward_seconds(void) {
    return g_fwd_sec;
}

typedef struct {
    ptq_capture_fn cap;
    void *ctx;
    double sec;
} timed_cap;

static void cap_timed(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    timed_cap *t = ctx;
    double t0 = ptq_now_sec();
    t->cap(t->ctx, layer, which, x_pre, x_q, T, n);
    t->sec += ptq_now_sec() - t0;
}

/* Floats of the kept input of part p (o's or down's) per window. */
static size_t part_in(const ptq_model *m, int p, int T) {
    return (size_t)T * (p == PTQ_PART_O ? m->cfg.dim : m->cfg.hidden_dim);
}

static float *part_buf(ptq_state *s, int p) {
    return p == PTQ_PART_O ? s->xb2 : s->hb;
}

int ptq_calib_pass_run(const ptq_model *m, int layer, const float *X, const ptq_calib *c, const ptq_calib_pass *p,
                       ptq_err *err) {
    double t0 = ptq_now_sec();
    ptq_state s;
    if (ptq_state_init(&s, m, c->seqlen, err)) return -1;
    size_t win = (size_t)c->seqlen * m->cfg.dim;
    float *x = ptq_calloc(win, sizeof(float), err);
    if (!x) {
        ptq_state_free(&s);
        return -1;
    }
    timed_cap tc = {.cap = p->cap, .ctx = p->cap_ctx};
    s.capture = p->cap ? cap_timed : NULL;
    s.capture_ctx = &tc;
    s.stop_after = p->stop_after;
    /* a kept input of part `from` (o's or down's) replaces the part before it */
    int from = p->from, has_in = p->in && (from == PTQ_PART_O || from == PTQ_PART_DOWN);
    if (!has_in && (from == PTQ_PART_O || from == PTQ_PART_DOWN)) from--;
    int rc = 0;
    for (int i = 0; i < c->nsamples && !rc; i++) {
        memcpy(x, X + i * win, win * sizeof(float));
        if (has_in) {
            size_t n = part_in(m, p->from, c->seqlen);
            memcpy(part_buf(&s, p->from), p->in + i * n, n * sizeof(float));
        }
        for (int q = from; q <= p->to && !rc; q++) {
            if (p->keep && q == p->keep_part) {
                size_t n = part_in(m, q, c->seqlen);
                memcpy(p->keep + i * n, part_buf(&s, q), n * sizeof(float));
            }
            rc = ptq_forward_part(m, &s, layer, q, x, c->seqlen, 0, err);
        }
        rc = rc < 0 ? -1 : 0;
        if (p->out && !rc) memcpy(p->out + i * win, x, win * sizeof(float));
    }
    free(x);
    ptq_state_free(&s);
    g_fwd_sec += ptq_now_sec() - t0 - tc.sec;
    return rc;
}

int ptq_calib_block_forward(const ptq_model *m, int layer, const float *X, float *out, const ptq_calib *c,
                            ptq_capture_fn cap, void *cap_ctx, ptq_err *err) {
    ptq_calib_pass p = {.from = PTQ_PART_ATTN, .to = PTQ_PART_DOWN, .out = out, .cap = cap, .cap_ctx = cap_ctx};
    return ptq_calib_pass_run(m, layer, X, c, &p, err);
}

int ptq_calib_block_capture(const ptq_model *m, int layer, const float *X, const ptq_calib *c, int last,
                            ptq_capture_fn cap, void *cap_ctx, ptq_err *err) {
    ptq_calib_pass p = {
        .from = PTQ_PART_ATTN, .to = PTQ_PART_DOWN, .stop_after = last + 1, .cap = cap, .cap_ctx = cap_ctx};
    return ptq_calib_pass_run(m, layer, X, c, &p, err);
}
