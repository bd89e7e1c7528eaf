/* scorer.c — see scorer.h. */
#include "scorer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- rolling windows ---- */
double ptq_logprob(const float *logits, int vocab, int target) {
    float mx = logits[0];
    for (int i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return (double)logits[target] - mx - log(sum);
}

double ptq_window_nll(const float *logits, const int *win, int T, int first, int vocab) {
    /* per-position terms summed in position order: the same sum at any thread count */
    int n = T - 1 - first;
    double s = 0, *lp = n > 0 ? malloc((size_t)n * sizeof(double)) : NULL;
    if (!lp) { /* the same terms in the same order, on one thread */
        for (int t = first; t < T - 1; t++) s -= ptq_logprob(logits + (size_t)t * vocab, vocab, win[t + 1]);
        return s;
    }
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) lp[i] = ptq_logprob(logits + (size_t)(first + i) * vocab, vocab, win[first + i + 1]);
    for (int i = 0; i < n; i++) s -= lp[i];
    free(lp);
    return s;
}

int ptq_rolling_plan(const ptq_config *c, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_rolling *r,
                     ptq_err *err) {
    memset(r, 0, sizeof *r);
    int L = o->seqlen > 0 ? o->seqlen : c->max_seq;
    if (L > c->max_seq) return ptq_fail(err, "--seqlen %d is above the model's max_seq %d", L, c->max_seq);
    if (L < 2) return ptq_fail(err, "--seqlen %d: need at least 2 tokens per window", L);
    long nwin = toks->n / L;
    if (nwin < 1) return ptq_fail(err, "dataset %s has %ld tokens, fewer than one window of %d", toks->name, toks->n, L);
    if (o->limit_windows > 0 && o->limit_windows < nwin) nwin = o->limit_windows;
    r->toks = toks, r->nwin = nwin, r->L = L;
    r->first = o->protocol == PTQ_PPL_HALFWINDOW ? L / 2 : 0;
    r->bos_id = o->protocol == PTQ_PPL_HALFWINDOW ? o->bos_id : -1;
    return 0;
}

void ptq_rolling_window(const ptq_rolling *r, long w, int *win) {
    memcpy(win, r->toks->ids + w * r->L, (size_t)r->L * sizeof(int));
    if (r->bos_id >= 0) win[0] = r->bos_id;
}

/* ---- log-likelihood requests ---- */
/* tokenization (lm-eval _encode_pair) */
static int enc(const ptq_tokenizer *tok, const char *s, size_t len, int bos, int **ids, int *n, ptq_err *err) {
    return tok->encode(tok, s, len, bos, 0, ids, n, err);
}

int ptq_ll_encode(const ptq_tokenizer *tok, const char *ctx, const char *cont, int add_bos, ptq_ll_req *r,
                  ptq_err *err) {
    memset(r, 0, sizeof *r);
    size_t lc = strlen(ctx), lk = strlen(cont);
    int *cids = NULL, *wids = NULL, nc = 0, nw = 0;
    if (lc == 0) { /* lm-eval: the prefix token stands in for an empty context */
        int pre = tok->bos_id >= 0 ? tok->bos_id : tok->eos_id;
        if (pre < 0) return ptq_fail(err, "empty context and the tokenizer has no BOS/EOS token");
        if (enc(tok, cont, lk, 0, &wids, &nw, err)) return -1;
        r->ids = malloc(((size_t)nw + 1) * sizeof(int));
        if (!r->ids) return free(wids), ptq_fail(err, "out of memory");
        r->ids[0] = pre;
        memcpy(r->ids + 1, wids, (size_t)nw * sizeof(int));
        r->n = nw + 1;
        r->ncont = nw;
        free(wids);
    } else {
        size_t keep = lc; /* trailing whitespace of the context moves to the continuation */
        while (keep > 0 && strchr(" \t\n\r\v\f", ctx[keep - 1])) keep--;
        char *whole = malloc(lc + lk + 1);
        if (!whole) return ptq_fail(err, "out of memory");
        memcpy(whole, ctx, lc);
        memcpy(whole + lc, cont, lk + 1);
        int rc = enc(tok, ctx, keep, add_bos, &cids, &nc, err) || enc(tok, whole, lc + lk, add_bos, &wids, &nw, err);
        free(whole);
        if (!rc && nc == 0) rc = ptq_fail(err, "context \"%.40s\" encodes to no tokens", ctx);
        /* model input = encode(ctx) + whole[len(encode(ctx)):], as lm-eval */
        int nk = nw > nc ? nw - nc : 0;
        if (!rc && !(r->ids = malloc(((size_t)nc + nk) * sizeof(int)))) rc = ptq_fail(err, "out of memory");
        if (!rc) {
            memcpy(r->ids, cids, (size_t)nc * sizeof(int));
            memcpy(r->ids + nc, wids + nc, (size_t)nk * sizeof(int));
            r->n = nc + nk;
            r->ncont = nk;
        }
        free(cids);
        free(wids);
        if (rc) return -1;
    }
    /* An empty continuation (the whole string tokenizes no longer than the
     * context, e.g. "the"+" ground" -> one token) scores ll = 0 in lm-eval;
     * we do the same and count it (cont_empty) instead of dropping the item. */
    return 0;
}

/* scoring */
static int argmax_row(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Input of request r after left truncation: x = seq[0..len-1], scored rows from first. */
typedef struct {
    const int *x;
    int len, first;
} req_view;

static void view(const ptq_model *m, const ptq_ll_req *r, req_view *v, ptq_ll_stats *st) {
    int L = m->cfg.max_seq;
    int S = r->n > L + 1 ? L + 1 : r->n;
    st->truncated += r->n > L + 1;
    v->x = r->ids + (r->n - S);
    v->len = S - 1;
    /* A continuation longer than the context window (lm-eval would fail):
     * score its last max_seq tokens and count it. */
    st->cont_truncated += r->ncont > L;
    st->cont_empty += r->ncont == 0;
    v->first = r->ncont > L ? 0 : S - 1 - r->ncont;
}

int ptq_ll_score(const ptq_model *m, ptq_state *s, const ptq_ll_req *r, int n, int share, double *ll, int *greedy,
                 ptq_ll_stats *st, ptq_err *err) {
    int V = m->cfg.vocab_size;
    req_view v[64];
    if (n < 1 || n > 64) return ptq_fail(err, "an item has %d requests (1..64 supported)", n);
    for (int i = 0; i < n; i++) view(m, &r[i], &v[i], st);
    /* P: shared prefix, at most up to each request's first scored row */
    int P = 0;
    if (share) {
        P = v[0].first + 1;
        for (int i = 1; i < n; i++) P = PTQ_MIN(P, v[i].first + 1);
        for (int i = 1; i < n && P > 0; i++) {
            int k = 0;
            while (k < P && k < v[i].len && v[i].x[k] == v[0].x[k]) k++;
            P = k;
        }
        P = PTQ_MIN(P, v[0].len);
    }
    float *prow = NULL;
    if (P > 0) {
        if (!(prow = malloc((size_t)V * sizeof(float)))) return ptq_fail(err, "out of memory");
        if (ptq_forward(m, s, v[0].x, P, 0, prow, 1, err)) return free(prow), -1;
        st->tokens_forwarded += P;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        st->tokens_requests += v[i].len;
        int T = v[i].len - P;
        if (T > 0) {
            if ((rc = ptq_forward(m, s, v[i].x + P, T, P, s->logits, 0, err))) break;
            st->tokens_forwarded += T;
        }
        double sum = 0;
        int ok = 1;
        for (int p = v[i].first; p < v[i].len; p++) {
            const float *row = p == P - 1 ? prow : s->logits + (size_t)(p - P) * V;
            int target = v[i].x[p + 1]; /* the truncated sequence has len + 1 tokens */
            sum += ptq_logprob(row, V, target);
            ok &= argmax_row(row, V) == target;
        }
        ll[i] = sum;
        if (greedy) greedy[i] = ok;
    }
    free(prow);
    return rc;
}

