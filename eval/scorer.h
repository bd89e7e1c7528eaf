/* scorer.h — the request-level scoring interface every evaluator goes
 * through (lm-eval's two request types), on any ptq_model: fp32, bf16
 * resident, or the compact quantized model a streamed pass leaves (packed
 * codes dequantized per panel), so an evaluator written against it runs on a
 * 7B-class checkpoint through `run --stream` with nothing of its own.
 *
 *  - Rolling log-likelihood of a token stream (loglikelihood_rolling):
 *    ptq_rolling splits it into windows (perplexity.h protocols: disjoint
 *    windows of L tokens, targets from `first`, BOS in the first slot for
 *    halfwindow); ptq_rolling_window gives window w's tokens and
 *    ptq_window_nll scores its logits. Perplexity and KLD
 *    (ptq_eval_windows), the streamed cell and the streamed FP perplexity
 *    all take their windows from here.
 *  - Log-likelihood of continuations (loglikelihood): ptq_ll_encode splits
 *    (context, continuation) like lm-eval's _encode_pair and ptq_ll_score
 *    sums log p(continuation | context) for a group of requests sharing a
 *    prefix. Zero-shot tasks are items of such requests. */
#ifndef PTQ_SCORER_H
#define PTQ_SCORER_H

#include "datasets.h"
#include "model.h"
#include "tokenizer.h"

/* ---- rolling windows ---- */
/* Perplexity protocols (perplexity.h) and the window options. */
enum { PTQ_PPL_GPTQ = 0, PTQ_PPL_HALFWINDOW = 1 };

typedef struct {
    int seqlen;        /* 0 = model max_seq */
    int protocol;      /* PTQ_PPL_* */
    int denom_hf;      /* 1: nwin*L (published numbers), 0: tokens scored */
    int limit_windows; /* 0 = all */
    int bos_id;        /* for halfwindow: BOS that replaces each window's first token (-1 = none) */
    int progress;      /* show a progress bar */
} ptq_ppl_opts;

/* NLL of one window's targets t in [first, T-1) (predicting win[t+1]), fp64,
 * summed in position order (the same sum at any thread count). */
double ptq_window_nll(const float *logits, const int *win, int T, int first, int vocab);
/* log p(target | logits row) computed stably in fp64. */
double ptq_logprob(const float *logits, int vocab, int target);

typedef struct {
    const ptq_tokens *toks;
    long nwin;  /* windows scored (limit_windows applied) */
    int L;      /* tokens per window */
    int first;  /* first scored target row (halfwindow: L / 2) */
    int bos_id; /* >= 0: replaces each window's first token (halfwindow) */
} ptq_rolling;

/* The windows of toks under o for a model of config c: errors name the
 * seqlen or the dataset when no window fits. */
int ptq_rolling_plan(const ptq_config *c, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_rolling *r,
                     ptq_err *err);
/* Window w's L tokens into win. */
void ptq_rolling_window(const ptq_rolling *r, long w, int *win);

/* ---- log-likelihood requests ---- */
/* One loglikelihood request tokenized like lm-eval 0.4: trailing
 * whitespace of the context moves to the continuation, whole =
 * encode(ctx + cont), ctx = encode(ctx), continuation = whole[len(ctx):];
 * an empty context becomes [BOS (or EOS)]. ids = encode(ctx) + continuation
 * (ncont may be 0 when the whole string tokenizes no longer than the context). */
typedef struct {
    int *ids;
    int n, ncont;
} ptq_ll_req;

int ptq_ll_encode(const ptq_tokenizer *tok, const char *ctx, const char *cont, int add_bos, ptq_ll_req *r,
                  ptq_err *err);

/* Per-item scoring statistics. */
typedef struct {
    long tokens_forwarded; /* tokens actually run through the model */
    long tokens_requests;  /* sum of the request inputs (what one forward per request would run) */
    int truncated;         /* requests cut from the left to max_seq (lm-eval does the same) */
    int cont_truncated;    /* of those, continuations longer than max_seq: only their last max_seq tokens scored */
    int cont_empty;        /* continuations with no tokens after the split: ll = 0 like lm-eval */
} ptq_ll_stats;

/* Score the n requests of one item on state s (max_T >= the longest input):
 * ll[i] = sum log p(continuation_i | context_i) (fp64), greedy[i] = 1 when
 * every continuation token is the argmax. Inputs are (ctx+cont)[-(max_seq+1):][:-1]
 * like lm-eval (a continuation longer than max_seq keeps its last max_seq
 * tokens, counted in cont_truncated). share = 1 runs the tokens common to all requests (up to the
 * first scored position) once and each remainder from pos0 on the KV cache;
 * share = 0 runs each request with a fresh forward (the reference). */
int ptq_ll_score(const ptq_model *m, ptq_state *s, const ptq_ll_req *r, int n, int share, double *ll, int *greedy,
                 ptq_ll_stats *st, ptq_err *err);

#endif
