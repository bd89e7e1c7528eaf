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

static int block_windows(const ptq_model *m, int layer, const float *X, float *out, const ptq_calib *c,
                         ptq_capture_fn cap, void *cap_ctx, int stop_after, ptq_err *err) {
    ptq_state s;
    if (ptq_state_init(&s, m, c->seqlen, err)) return -1;
    size_t win = (size_t)c->seqlen * m->cfg.dim;
    float *x = ptq_calloc(win, sizeof(float), err);
    if (!x) {
        ptq_state_free(&s);
        return -1;
    }
    s.capture = cap;
    s.capture_ctx = cap_ctx;
    s.stop_after = stop_after;
    int rc = 0;
    for (int i = 0; i < c->nsamples && !rc; i++) {
        memcpy(x, X + i * win, win * sizeof(float));
        rc = ptq_forward_block(m, &s, layer, x, c->seqlen, 0, err);
        if (out && !rc) memcpy(out + i * win, x, win * sizeof(float));
    }
    free(x);
    ptq_state_free(&s);
    return rc;
}

int ptq_calib_block_forward(const ptq_model *m, int layer, const float *X, float *out, const ptq_calib *c,
                            ptq_capture_fn cap, void *cap_ctx, ptq_err *err) {
    return block_windows(m, layer, X, out, c, cap, cap_ctx, 0, err);
}

int ptq_calib_block_capture(const ptq_model *m, int layer, const float *X, const ptq_calib *c, int last,
                            ptq_capture_fn cap, void *cap_ctx, ptq_err *err) {
    return block_windows(m, layer, X, NULL, c, cap, cap_ctx, last + 1, err);
}
