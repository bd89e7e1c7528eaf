/* perplexity.h — perplexity over non-overlapping windows (EVAL.md).
 *
 * protocol "gptq" (default): nwin = floor(n / L) windows of L tokens, each
 * scored from its first token with no carried context, targets 1..L-1.
 * protocol "halfwindow": llama.cpp's llama-perplexity: same windows, first
 * token replaced by BOS when the tokenizer adds one, only the second half of
 * each window scored. Denominator "tokens" divides by the number of targets
 * actually scored; "hf" by nwin * L like the GPTQ/QuaRot code. */
#ifndef PTQ_PERPLEXITY_H
#define PTQ_PERPLEXITY_H

#include <cjson/cJSON.h>

#include "datasets.h"
#include "model.h"

enum { PTQ_PPL_GPTQ = 0, PTQ_PPL_HALFWINDOW = 1 };

typedef struct {
    int seqlen;        /* 0 = model max_seq */
    int protocol;      /* PTQ_PPL_* */
    int denom_hf;      /* 1: nwin*L (published numbers), 0: tokens scored */
    int limit_windows; /* 0 = all */
    int bos_id;        /* for halfwindow: BOS that replaces each window's first token (-1 = none) */
    int progress;      /* show a progress bar */
} ptq_ppl_opts;

typedef struct {
    double ppl, nll_sum;
    long tokens_scored;
    int windows, seqlen;
    double seconds, tokens_per_sec;
} ptq_ppl_result;

/* Called for every window after its forward pass: logits is T x vocab, and
 * targets t in [first, T-1) predict win[t+1]. Return non-zero to stop. */
typedef int (*ptq_window_fn)(void *ctx, int w, const int *win, const float *logits, int T, int first, int vocab);

/* Shared window walker (perplexity, KLD): resolves the windows from opts and
 * calls fn for each. Reports the number of windows and seqlen used. */
int ptq_eval_windows(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_window_fn fn, void *ctx,
                     int *nwin_out, int *seqlen_out, ptq_err *err);

/* An error (naming the NLL sum and the token count) when r->ppl is not finite. */
int ptq_ppl_finite(const ptq_ppl_result *r, ptq_err *err);
int ptq_eval_ppl(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_ppl_result *r, ptq_err *err);

/* One option from its text: "seqlen" (2..2^20), "limit_windows" (>= 1),
 * "protocol" (gptq | halfwindow), "denominator" (tokens | hf). The error
 * says what was expected; the caller names the flag or JSON path. */
int ptq_ppl_opt_parse(ptq_ppl_opts *o, const char *key, const char *val, ptq_err *err);
/* The metrics of a perplexity result: ppl, nll_sum, tokens_scored, windows,
 * seqlen, protocol, denominator, limit_windows, tokens_per_sec. */
void ptq_ppl_metrics(cJSON *metrics, const ptq_ppl_result *r, const ptq_ppl_opts *o);
/* 0 if name is a registered text dataset, else an error listing them. */
int ptq_text_dataset_check(const char *name, ptq_err *err);

/* NLL of one window's targets t in [first, T-1) (predicting win[t+1]), fp64,
 * summed in per-thread partials (deterministic for a given thread count). */
double ptq_window_nll(const float *logits, const int *win, int T, int first, int vocab);
/* log p(target | logits row) computed stably in fp64. */
double ptq_logprob(const float *logits, int vocab, int target);

#endif
