/* eval.h — evaluator entry points used by the runner and the CLI. Each
 * takes a ready (possibly quantized) model and fills a cJSON metrics object;
 * none knows which method produced the model. */
#ifndef PTQ_EVAL_H
#define PTQ_EVAL_H

#include <cjson/cJSON.h>

#include "model.h"
#include "perplexity.h"
#include "tokenizer.h"

/* Evaluation options of a cell: perplexity windows and protocol (also used
 * by KLD), zero-shot item limit and BOS, progress bars. */
typedef struct {
    ptq_ppl_opts ppl;
    int zs_limit, zs_bos;
    int progress;
    int keep_side; /* per-window NLL / per-item outcomes into the row's "side" (written as float32 files) */
} ptq_eval_opts;

typedef struct {
    int limit;     /* 0 = all items */
    int add_bos;   /* --zeroshot-bos */
    int progress;
    int no_share;  /* 1: one fresh forward per request (reference path, slower) */
    cJSON *side;   /* when set: per-item 0/1 outcomes added as arrays "acc" (and "acc_norm") */
} ptq_zeroshot_opts;

/* task: lm-eval name (piqa, arc_easy, ...). metrics: acc, acc_stderr,
 * acc_norm, acc_norm_stderr (where defined), n, limit, ppl (lambada) ... */
int ptq_zeroshot_run(const ptq_model *m, const ptq_tokenizer *tok, const char *task, const ptq_zeroshot_opts *o,
                     cJSON *metrics, ptq_err *err);
extern const char *const ptq_zeroshot_tasks[]; /* NULL-terminated */

typedef struct {
    ptq_ppl_opts ppl;     /* windows/seqlen */
    const char *cache_dir; /* where FP log-probs are cached (default results/.kld_cache) */
    int topk;             /* 0 = full distribution when vocab is small */
} ptq_kld_opts;

/* fp: the full-precision model (only needed when the cache is cold; may be
 * NULL if the cache is warm). metrics: kld_mean, kld_p99, top1_agree,
 * ppl_ratio, ppl_q, ppl_fp. */
int ptq_kld_run(const ptq_model *q, const ptq_model *fp, const ptq_tokenizer *tok, const char *dataset,
                const ptq_kld_opts *o, cJSON *metrics, ptq_err *err);
/* The same on a token stream already made (toks->sha256 names the text). */
int ptq_kld_run_tokens(const ptq_model *q, const ptq_model *fp, const ptq_tokens *toks, const char *dataset,
                       const ptq_kld_opts *o, cJSON *metrics, ptq_err *err);

#endif
