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
#include "scorer.h"

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

#endif
