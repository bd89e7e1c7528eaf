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

/* A vocabulary held in memory (a GGUF file's tokenizer.ggml.*; gguf_vocab.c).
 * model "llama": SentencePiece-style pieces with '▁' for space, merged by
 * score as llama2.c does; model "gpt2": byte-level BPE with merges ranked by
 * position and the pre-tokenizer regex named by pre ("default", "gpt2",
 * "llama-bpe", "qwen2", ...). Strings are not NUL-terminated (lengths given)
 * and are copied. */
typedef struct {
    const char *name, *model, *pre;
    int n;
    const char *const *tokens;
    const int *token_len;
    const float *scores; /* NULL: all 0 */
    const int *types;    /* llama.cpp token types (1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte); NULL: normal */
    int n_merges;
    const char *const *merges; /* "left right" */
    const int *merge_len;
    int bos_id, eos_id, unk_id, add_bos, add_space_prefix; /* -1: none */
} ptq_vocab_spec;
int ptq_tokenizer_from_vocab(const ptq_vocab_spec *v, ptq_tokenizer **out, ptq_err *err);
/* Internals the in-memory vocabularies reuse: a llama2.c tokenizer from
 * pieces (with spaces, not '▁') and scores, taking ownership of both arrays
 * (unk_id >= 0: the token of a character with no piece and no byte piece);
 * an HF tokenizer.json already parsed (a cJSON object). */
int ptq_tokenizer_llama2c_from_pieces(ptq_tokenizer **out, const char *name, int n, char **pieces, float *scores,
                                      int dummy_prefix, int unk_id, ptq_err *err);
struct cJSON;
int ptq_tokenizer_load_hf_obj(ptq_tokenizer **out, const struct cJSON *j, const char *name, ptq_err *err);

#endif
