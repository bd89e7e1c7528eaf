/* zeroshot.h — the pieces of zero-shot scoring (eval/zeroshot.c), exposed
 * for tests and tools; ptq_zeroshot_run (eval.h) strings them together. */
#ifndef PTQ_ZEROSHOT_H
#define PTQ_ZEROSHOT_H

#include <cjson/cJSON.h>

#include "model.h"
#include "tokenizer.h"

/* One loglikelihood request tokenized like lm-eval 0.4: trailing
 * whitespace of the context moves to the continuation, whole =
 * encode(ctx + cont), ctx = encode(ctx), continuation = whole[len(ctx):];
 * an empty context becomes [BOS (or EOS)]. ids = encode(ctx) + continuation
 * (ncont may be 0 when the whole string tokenizes no longer than the context). */
typedef struct {
    int *ids;
    int n, ncont;
} ptq_zs_req;

int ptq_zs_encode(const ptq_tokenizer *tok, const char *ctx, const char *cont, int add_bos, ptq_zs_req *r,
                  ptq_err *err);

/* Per-item scoring statistics. */
typedef struct {
    long tokens_forwarded; /* tokens actually run through the model */
    long tokens_requests;  /* sum of the request inputs (what one forward per request would run) */
    int truncated;         /* requests cut from the left to max_seq (lm-eval does the same) */
    int cont_truncated;    /* of those, continuations longer than max_seq: only their last max_seq tokens scored */
    int cont_empty;        /* continuations with no tokens after the split: ll = 0 like lm-eval */
} ptq_zs_stats;

/* Score the n requests of one item on state s (max_T >= the longest input):
 * ll[i] = sum log p(continuation_i | context_i) (fp64), greedy[i] = 1 when
 * every continuation token is the argmax. Inputs are (ctx+cont)[-(max_seq+1):][:-1]
 * like lm-eval (a continuation longer than max_seq keeps its last max_seq
 * tokens, counted in cont_truncated). share = 1 runs the tokens common to all requests (up to the
 * first scored position) once and each remainder from pos0 on the KV cache;
 * share = 0 runs each request with a fresh forward (the reference). */
int ptq_zs_score(const ptq_model *m, ptq_state *s, const ptq_zs_req *r, int n, int share, double *ll, int *greedy,
                 ptq_zs_stats *st, ptq_err *err);

/* acc (argmax of ll) / acc_norm (argmax of ll / choice_len), first max wins like np.argmax. */
int ptq_zs_argmax(const double *ll, const int *len, int n);
/* Standard error of a mean of 0/1 values: sample std (ddof 1) / sqrt(n). */
double ptq_zs_stderr(double p, int n);

#endif
