/* hf_checkpoint.h — Hugging Face LLaMA-family checkpoints (llama, mistral, qwen2):
 * config.json + model.safetensors or a sharded model.safetensors.index.json,
 * weights F32/F16/BF16 read from memory-mapped files.
 *
 * Weights are kept as published: HF stores q_proj/k_proj rows in the
 * rotate_half order, so the model gets cfg.rope_style = PTQ_ROPE_HALF.
 * The tests convert them to llama2.c/Meta's interleaved pairs and check
 * that both layouts give the same logits. */
#ifndef PTQ_MODEL_HF_H
#define PTQ_MODEL_HF_H

#include "model.h"
#include "safetensors.h"
#include "tokenizer.h"

/* Parse dir/config.json into cfg (validated). */
int ptq_hf_read_config(const char *dir, ptq_config *cfg, ptq_err *err);
/* Open dir/model.safetensors.index.json or dir/model.safetensors and check
 * every tensor against cfg: names, shapes, no missing or unexpected one. */
int ptq_hf_open_weights(const char *dir, const ptq_config *cfg, ptq_st *st, ptq_err *err);
/* Read one transformer block into L (allocated for cfg). release: drop the
 * file pages afterwards (streaming). */
int ptq_hf_load_layer(const ptq_st *st, const ptq_config *cfg, int layer, ptq_layer *L, int release, ptq_err *err);
/* Embedding, final norm and (untied) lm_head. */
int ptq_hf_load_outer(const ptq_st *st, ptq_model *m, int release, ptq_err *err);
/* The whole model into fp32 RAM. */
int ptq_load_hf(ptq_model *m, const char *dir, ptq_err *err);
/* The whole model, weight matrices kept in their dtype when every one is
 * BF16 (or every one F16): a compact model (model.h) of about the file's
 * size; otherwise as ptq_load_hf. */
int ptq_load_hf_compact(ptq_model *m, const char *dir, ptq_err *err);
/* PTQ_W16_BF16/F16 when every 2-D tensor has that dtype, else 0. */
int ptq_hf_weights_dtype16(const ptq_st *st, const ptq_config *c);

/* A checkpoint directory's identity: sha256 over the sha256 of config.json
 * and of every weight file, in the index's order (reads every byte). */
int ptq_hf_dir_sha256(const char *dir, char hex[65], ptq_err *err);

/* Write an HF checkpoint directory: config.json (model_type llama) and
 * model.safetensors, or n_shards > 1 shard files + model.safetensors.index.json.
 * Weights from m (HF layout as held in RAM) or, when m is NULL, random
 * (seeded; linears uniform with std 0.02, norms 1), generated tensor by
 * tensor so a 7B checkpoint never sits in memory. dtype: PTQ_ST_F32/F16/BF16. */
int ptq_hf_write(const char *dir, const ptq_config *cfg, const ptq_model *m, int dtype, int n_shards, uint64_t seed,
                 ptq_err *err);

/* Tokenizer of an HF model directory: tok_path if given (.json, .model or a
 * llama2.c .bin by extension), else dir/tokenizer.json, else dir/tokenizer.model.
 * BOS policy from dir/tokenizer_config.json (add_bos_token) when present. */
int ptq_hf_open_tokenizer(const char *dir, const char *tok_path, int vocab_size, ptq_tokenizer **tok, ptq_err *err);

#endif
