/* perplexity.c — see perplexity.h. NLL sums are accumulated in fp64. */
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ptq_logprob(const float *logits, int vocab, int target) {
    float mx = logits[0];
    for (int i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return (double)logits[target] - mx - log(sum);
}

int ptq_eval_windows(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_window_fn fn, void *ctx,
                     int *nwin_out, int *seqlen_out, ptq_err *err) {
    int L = o->seqlen > 0 ? o->seqlen : m->cfg.max_seq;
    if (L > m->cfg.max_seq)
        return ptq_fail(err, "--seqlen %d is above the model's max_seq %d", L, m->cfg.max_seq);
    if (L < 2) return ptq_fail(err, "--seqlen %d: need at least 2 tokens per window", L);
    long nwin = toks->n / L;
    if (nwin < 1)
        return ptq_fail(err, "dataset %s has %ld tokens, fewer than one window of %d", toks->name, toks->n, L);
    if (o->limit_windows > 0 && o->limit_windows < nwin) nwin = o->limit_windows;
    ptq_state s;
    if (ptq_state_init(&s, m, L, err)) return -1;
    int *win = ptq_calloc(L, sizeof(int), err);
    if (!win) {
        ptq_state_free(&s);
        return -1;
    }
    int first = o->protocol == PTQ_PPL_HALFWINDOW ? L / 2 : 0;
    ptq_progress pb;
    if (o->progress) ptq_progress_start(&pb, "perplexity", nwin);
    int rc = 0;
    for (long w = 0; w < nwin && !rc; w++) {
        memcpy(win, toks->ids + w * L, (size_t)L * sizeof(int));
        if (o->protocol == PTQ_PPL_HALFWINDOW && o->bos_id >= 0) win[0] = o->bos_id;
        rc = ptq_forward(m, &s, win, L, 0, NULL, 0, err);
        if (!rc && fn(ctx, (int)w, win, s.logits, L, first, m->cfg.vocab_size))
            rc = ptq_fail(err, "window evaluation stopped at window %ld", w);
        if (o->progress) ptq_progress_update(&pb, w + 1);
    }
    if (o->progress) ptq_progress_end(&pb);
    free(win);
    ptq_state_free(&s);
    *nwin_out = (int)nwin;
    *seqlen_out = L;
    return rc;
}

typedef struct {
    double nll;
    long n;
} ppl_acc;

double ptq_window_nll(const float *logits, const int *win, int T, int first, int vocab) {
    double part[64] = {0}; /* per-thread partial sums keep the result deterministic per thread count */
    int nt = PTQ_MIN(ptq_num_threads(), 64);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = first; t < T - 1; t++) {
        int id = ptq_thread_id();
        part[id] -= ptq_logprob(logits + (size_t)t * vocab, vocab, win[t + 1]);
    }
    double s = 0;
    for (int i = 0; i < nt; i++) s += part[i];
    return s;
}

static int ppl_window(void *ctx, int w, const int *win, const float *logits, int T, int first, int vocab) {
    (void)w;
    ppl_acc *a = ctx;
    a->nll += ptq_window_nll(logits, win, T, first, vocab);
    a->n += T - 1 - first;
    return 0;
}

int ptq_eval_ppl(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_ppl_result *r, ptq_err *err) {
    memset(r, 0, sizeof *r);
    ppl_acc a = {0, 0};
    double t0 = ptq_now_sec();
    if (ptq_eval_windows(m, toks, o, ppl_window, &a, &r->windows, &r->seqlen, err)) return -1;
    r->seconds = ptq_now_sec() - t0;
    r->nll_sum = a.nll;
    r->tokens_scored = a.n;
    double denom = o->denom_hf ? (double)r->windows * r->seqlen : (double)a.n;
    r->ppl = exp(a.nll / denom);
    r->tokens_per_sec = r->seconds > 0 ? (double)r->windows * r->seqlen / r->seconds : 0;
    return 0;
}
