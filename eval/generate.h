/* generate.h — text from a model, like llama2.c run.c: greedy (temperature
 * 0) or sampled from softmax(logits / temperature) with a seeded RNG; the
 * prompt is fed first; steps counts positions including the prompt (capped at
 * max_seq); generation stops at BOS. */
#ifndef PTQ_GENERATE_H
#define PTQ_GENERATE_H

#include "model.h"
#include "tokenizer.h"

/* Called with each decoded piece (not NUL-terminated). */
typedef void (*ptq_piece_fn)(void *ctx, const char *piece, int len);

/* PTQ_GEN_PROMPT (a usage error: the prompt has more tokens than steps) or -1
 * with err; 0 when done. */
#define PTQ_GEN_PROMPT 2
int ptq_generate(const ptq_model *m, const ptq_tokenizer *tok, const char *prompt, int steps, double temperature,
                 uint64_t seed, ptq_piece_fn emit, void *ctx, ptq_err *err);

#endif
