/* ppl_stream.h — perplexity of a Hugging Face checkpoint streamed one
 * transformer block at a time from the memory-mapped safetensors, so a model
 * larger than RAM in fp32 (LLaMA-2-7B: 27 GB fp32, 13.5 GB bf16) is evaluated
 * with a resident set of about one block plus embeddings.
 *
 * All windows advance together: hidden states X (nwin x T x dim) go through
 * block 0, block 0's fp32 weights are dropped (and its file pages released
 * with MADV_DONTNEED), block 1 is loaded, and so on; then the final norm and
 * lm_head score every window. Same windows, targets and denominators as
 * ptq_eval_ppl (perplexity.h), so the numbers equal the in-RAM path. */
#ifndef PTQ_PPL_STREAM_H
#define PTQ_PPL_STREAM_H

#include "perplexity.h"

typedef struct {
    double load_sec, compute_sec; /* this block */
    long rss_kb, peak_rss_kb;     /* after the block */
} ptq_stream_block;

/* dir: HF model directory. blocks: NULL or n_layers entries filled with
 * per-block timing and memory. verbose: one line per block on stderr. */
int ptq_eval_ppl_stream(const char *dir, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_ppl_result *r,
                        ptq_stream_block *blocks, int verbose, ptq_err *err);

#endif
