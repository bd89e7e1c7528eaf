/* cell_stream.h — a streamed sweep cell (`ptqbench run --stream`): quantize a
 * Hugging Face checkpoint with a block-wise method (methods/method.h
 * ptq_block_method) and score its perplexity in ONE pass over the blocks,
 * holding one block's fp32 weights at a time, so a 7B-class model (27 GB in
 * fp32, 13.5 GB in bf16) is quantized and evaluated in a few GiB.
 *
 * Pass: embed the calibration windows (X_cal) and every evaluation window
 * (X_eval); for each block l: load it from the memory-mapped safetensors,
 * method block(l) on X_cal, advance X_cal through it, block_end(l), advance
 * X_eval through the quantized block, free its fp32 weights and hooks and
 * drop its file pages. Then method end() (lm_head) and the head scores the
 * windows. Same windows, targets and NLL code (ptq_window_nll) as the in-RAM
 * cell, and the same calibration walk as ptq_method_apply's driver, so the
 * result equals `ptqbench run` without --stream.
 *
 * Tasks: ppl:DATASET windows are scored in the pass. Any other task
 * (zeroshot, kld, latency) makes each block stay after its pass in compact
 * form (its qweights, the fp32 copy freed: the forward dequantizes per
 * panel), and the task runs after the pass on that model exactly as in RAM;
 * KLD's FP log-probs are computed first, once, from the FP model resident
 * in its checkpoint dtype, into kld.c's on-disk cache, so the two models are
 * never held together. Rows (all or none: a failure leaves no partial row):
 * as ptq_run_cell, plus "stream": {load, quantize and forward seconds in
 * total and per block, RSS per block}. */
#ifndef PTQ_RUN_STREAM_H
#define PTQ_RUN_STREAM_H

#include "cell.h"

typedef struct {
    double load_sec, quant_sec, fwd_sec; /* this block: read+convert, method, eval forward */
    double calib_fwd_sec;                /* of quant_sec: calibration forwards (capture callbacks excluded) */
    long rss_kb, peak_rss_kb;            /* after the block was released */
} ptq_stream_block_stat;

/* The cell with c->stream set (set here when not): ptq_cell_check's
 * streamed-cell rules apply — a block-wise method, an HF checkpoint directory (or the short name of one). blocks: NULL or n_layers
 * entries. */
int ptq_run_cell_stream(ptq_cell *c, cJSON *rows_out, ptq_stream_block_stat *blocks, ptq_err *err);

/* Where each block goes once quantized (`export --stream` writes it to the
 * file at once); the block is freed after block() returns. */
typedef struct {
    int (*block)(void *ctx, const ptq_model *m, int l, ptq_err *err);
    void *ctx;
} ptq_stream_sink;

/* ptq_prepare for a streamed cell (same rules): the same pass without
 * evaluation windows, without a whole fp32 model ever in RAM. sink NULL:
 * every block kept compact, so p->m is the quantized model (packed codes,
 * 16-bit outer tensors where exact). Otherwise each block goes to the sink
 * and is freed: p->m keeps the outer tensors and empty block slots. */
int ptq_prepare_stream(ptq_cell *c, const ptq_stream_sink *sink, ptq_prepared *p, ptq_err *err);

#endif
