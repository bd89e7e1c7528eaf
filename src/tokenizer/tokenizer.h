/* tokenizer.h — one interface for every tokenizer the harness loads:
 * llama2.c tokenizer.bin (here), HF tokenizer.json BPE and SentencePiece
 * .model (hf_json.c / sentencepiece.cc). */
#ifndef PTQ_TOKENIZER_H
#define PTQ_TOKENIZER_H

#include "common.h"

typedef struct ptq_tokenizer ptq_tokenizer;
struct ptq_tokenizer {
    int vocab_size;
    int bos_id, eos_id; /* -1 when the vocabulary has none */
    int add_bos;        /* the tokenizer's default: prepend BOS to a document */
    char kind[32];      /* "llama2c", "hf-bpe", "sentencepiece" */
    char path[4096];
    /* Encode `len` bytes of text; appends BOS/EOS when asked. *ids is malloc'd. */
    int (*encode)(const ptq_tokenizer *t, const char *text, size_t len, int bos, int eos, int **ids, int *n,
                  ptq_err *err);
    /* Decode one token to bytes (prev = previous token id, or -1): writes at
     * most cap-1 bytes + NUL into buf, returns the byte count. */
    int (*decode)(const ptq_tokenizer *t, int prev, int token, char *buf, int cap);
    void (*destroy)(ptq_tokenizer *t);
    void *impl;
};

/* llama2.c tokenizer.bin: int32 max_token_length, then vocab_size x
 * {float score, int32 len, len bytes}. */
int ptq_tokenizer_load_llama2c(ptq_tokenizer **out, const char *path, int vocab_size, ptq_err *err);
/* Hugging Face tokenizer.json, model.type "BPE" (hf_json.c): byte-level
 * (GPT-2 / LLaMA-3 / Qwen2, pre-tokenizer regex through PCRE2) or
 * SentencePiece-style (▁ normalizer/Metaspace, byte fallback). BOS from the
 * post_processor template; other model types fail with a clear error. */
int ptq_tokenizer_load_hf(ptq_tokenizer **out, const char *path, ptq_err *err);
/* SentencePiece .model through libsentencepiece (sentencepiece.cc). */
int ptq_tokenizer_load_sp(ptq_tokenizer **out, const char *path, ptq_err *err);
/* Any of the three, recognised by the file's content (open.c); a tokenizer
 * with more tokens than the model's vocab_size is refused. */
int ptq_tokenizer_open(const char *path, int vocab_size, ptq_tokenizer **out, ptq_err *err);
void ptq_tokenizer_free(ptq_tokenizer *t);

#endif
