/* model_open.h — open a model (and its tokenizer) by short name or path. */
#ifndef PTQ_MODEL_OPEN_H
#define PTQ_MODEL_OPEN_H

#include "model.h"
#include "tokenizer.h"

/* A model format: how to recognise it and how to load weights + tokenizer. */
typedef struct {
    const char *kind; /* "llama2c", "hf" */
    int (*detect)(const char *path);
    /* tokenizer_path may be NULL (use the format's default location). */
    int (*load)(const char *path, const char *tokenizer_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err);
} ptq_model_format;

/* Known short names (resolved under the data root and verified by sha256). */
typedef struct {
    const char *name, *weights_asset, *kind, *tokenizer_asset, *path; /* path relative to the data root */
} ptq_named_model;
extern const ptq_named_model ptq_named_models[];

/* spec: a short name (stories260K, tinystories-656k) or a path to a
 * llama2.c .bin or a Hugging Face model directory. Sets m->name, m->sha256. */
int ptq_open_model(const char *spec, const char *tokenizer_path, ptq_model *m, ptq_tokenizer **tok, ptq_err *err);
/* The hash that names a model's weights (the KLD cache key, an export's
 * source_sha256): m->sha256, or for a Hugging Face directory the sha256 of
 * config.json's and every shard's sha256 (reads every shard). */
int ptq_model_weights_sha256(const ptq_model *m, char hex[65], ptq_err *err);
/* The model's max_seq from its header or config.json alone (no weights read),
 * for plan-time checks; 0 when the format keeps it elsewhere (.ptq exports). */
int ptq_model_max_seq(const char *spec, int *max_seq, ptq_err *err);

/* What a model needs before it is loaded: its config (cfg->dim 0 when the
 * format keeps it elsewhere: .ptq exports), the bytes of its weight files,
 * and the bytes per weight it will be resident in (2: a bf16/fp16 HF
 * checkpoint kept compact, 4: fp32; 0 unknown). Reads headers only. */
typedef struct {
    ptq_config cfg;
    long long file_bytes;
    int bytes_per_weight;
    char path[4096];
} ptq_model_footprint;
int ptq_model_footprint_of(const char *spec, ptq_model_footprint *f, ptq_err *err);

#endif
