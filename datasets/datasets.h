/* datasets.h — data root, the asset registry (datasets/registry.json) and
 * the text datasets used for perplexity and calibration.
 *
 * Data root: $PTQBENCH_DATA, else ./data, else ../shared/assets (relative to
 * the working directory, then to the source tree). Assets are never part of
 * the repository; every load is checked against the registry's size and
 * sha256 so a swapped or corrupt file is an error, not a wrong number. */
#ifndef PTQ_DATASETS_H
#define PTQ_DATASETS_H

#include "common.h"
#include "tokenizer.h"

typedef struct {
    char name[96], path[512], sha256[65], url[1024], license[160], derived_from[96];
    long long bytes;
} ptq_asset;

int ptq_data_root(char *out, size_t cap, ptq_err *err);
/* root/rel; error names the root that was searched when the file is missing. */
int ptq_data_path(const char *rel, char *out, size_t cap, ptq_err *err);

/* Registry (loaded once, cached). Path override: $PTQBENCH_REGISTRY. */
int ptq_registry(const ptq_asset **assets, int *n, ptq_err *err);
const ptq_asset *ptq_registry_find(const char *name);
/* Resolve an asset by registry name to a full path, verifying its size and
 * sha256 (cached per process). sha_out may be NULL. */
int ptq_asset_open(const char *name, char *path, size_t cap, char sha_out[65], ptq_err *err);
/* Verify the file at `path` against registry entry `a`. */
int ptq_asset_verify(const ptq_asset *a, const char *path, ptq_err *err);

/* ---- text datasets ---------------------------------------------------- */
typedef struct {
    int *ids;
    long n;
    char name[64];
    char sha256[65];   /* of the source file */
    char desc[256];    /* how it was built (split, join, BOS policy) */
    long *doc_starts;  /* start offset of each document in ids (NULL if one stream) */
    int n_docs;
} ptq_tokens;

/* Names: wikitext2 (GPTQ join of the test split), ptb (ptb-new: test split,
 * GPTQ join), ptb-valid (GPTQ `ptb`: validation split), tinystories (stories
 * 1-500, evaluation), tinystories-calib (stories 501-1000), c4 (C4 train
 * sample, one document per JSONL line), tinyshakespeare.
 * Single-stream texts get BOS once at the start when tok->add_bos; story and
 * document collections are encoded one document at a time, each with BOS. */
int ptq_text_tokens(const char *name, const ptq_tokenizer *tok, ptq_tokens *out, ptq_err *err);
void ptq_tokens_free(ptq_tokens *t);
/* List of the names above, NULL-terminated. */
extern const char *const ptq_text_dataset_names[];
/* Is this dataset allowed as calibration data for an evaluation on `eval`?
 * (never the same text: EVAL.md) */
int ptq_calib_allowed(const char *calib, const char *eval);

#endif
