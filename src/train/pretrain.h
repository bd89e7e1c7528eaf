/* pretrain.h — `ptqbench train CONFIG.json`: pre-train a LLaMA-shaped model
 * from scratch on a text corpus with the training engine (train.h).
 *
 * Config (JSON object; every field checked, unknown fields refused):
 *   name        string                      run name (progress label)
 *   out         string                      output HF directory (checkpoint and log inside)
 *   model       {dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size, max_seq,
 *                rope_theta = 10000, norm_eps = 1e-5, tied_embeddings = true}
 *   data        {train, val: text files (documents separated by blank lines),
 *                tokenizer: SentencePiece .model / tokenizer.json / llama2.c .bin}
 *   train       {seed, steps, batch, seq_len, lr, lr_min, warmup, weight_decay = 0.1,
 *                beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0, init_std = 0.02}
 *   eval        {every: steps between validation losses, windows: validation windows}
 *   checkpoint  {every: steps between checkpoints, snapshots = []: fractions of steps in (0, 1)
 *                at which <out>/step<S>/ is written as an HF directory too (outlier growth)}
 *   expected    {val_loss: number, note: string}   (documentation: not used, not in the run's identity)
 * Relative paths are taken from the current directory.
 *
 * Data: each document is encoded with BOS and the documents are concatenated;
 * a training window is seq_len + 1 tokens at an offset drawn from the seeded
 * sampler; validation uses `windows` evenly spaced windows of the val stream.
 * The run is a function of the config and the thread count: a checkpoint
 * holds the parameters, AdamW moments, step and sampler state, and a run
 * resumed from it ends in the same bytes as one that was never stopped. */
#ifndef PTQ_PRETRAIN_H
#define PTQ_PRETRAIN_H

#include "model.h"

typedef struct {
    char name[128], out[4096];
    ptq_config model;
    char train_path[4096], val_path[4096], tokenizer[4096];
    uint64_t seed;
    long steps, warmup;
    int batch, seq_len;
    double lr, lr_min, weight_decay, beta1, beta2, grad_clip, init_std;
    long eval_every, ckpt_every;
    double snapshots[8];
    int nsnapshots;
    int val_windows;
    double expected_val_loss; /* NAN when not given */
    char expected_note[1024];
    char sha256[65];          /* of the config without `expected`, printed compactly by cJSON: a checkpoint's identity */
} ptq_pretrain_cfg;

/* Parse a config from text (where = file name for errors). Errors name the
 * field ("train.lr: expected a number in (0, 1]"). */
int ptq_pretrain_parse(const char *text, size_t len, const char *where, ptq_pretrain_cfg *c, ptq_err *err);
int ptq_pretrain_load(const char *path, ptq_pretrain_cfg *c, ptq_err *err);

typedef struct {
    double train_loss, val_loss; /* last step's batch loss, last validation loss */
    long steps, tokens, step0;   /* steps done in total, tokens of this process, step resumed from */
    double seconds, tokens_per_sec, flops_per_token, sgemm_gflops, model_gflops;
    long params;
} ptq_pretrain_result;

/* Train (resuming from <out>/train.ckpt when present) and write the HF
 * directory <out> (model.safetensors, config.json, tokenizer). stop_after > 0:
 * return after that many steps of this process (tests), leaving the checkpoint. */
int ptq_pretrain_run(const ptq_pretrain_cfg *c, long stop_after, ptq_pretrain_result *r, ptq_err *err);

/* Encode the documents of a text file (blank-line separated) with BOS, and
 * check that each decodes back to its bytes; *bad counts documents that do
 * not. */
struct ptq_tokenizer;
int ptq_pretrain_encode(const struct ptq_tokenizer *tok, const char *path, int **ids, long *n, long *docs, long *bad,
                        ptq_err *err);

#endif
