/* generate.c — see generate.h. */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

/* Temperature sampling from softmax(logits / temp) with a seeded RNG. */
static int sample(const float *logits, int n, float temp, ptq_rng *rng) {
    float mx = logits[argmax(logits, n)];
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((logits[i] - mx) / temp);
    double r = ptq_rng_uniform(rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += exp((logits[i] - mx) / temp);
        if (acc >= r) return i;
    }
    return n - 1;
}

int ptq_generate(const ptq_model *m, const ptq_tokenizer *tok, const char *prompt, int steps, double temperature,
                 uint64_t seed, ptq_piece_fn emit, void *ctx, ptq_err *err) {
    int *ids = NULL, n = 0, rc = -1, limit = PTQ_MIN(steps, m->cfg.max_seq);
    ptq_state s;
    if (tok->encode(tok, prompt, strlen(prompt), 1, 0, &ids, &n, err)) return -1;
    if (n > limit) {
        free(ids);
        if (n > steps) ptq_fail(err, "the prompt has %d tokens, more than --steps %d", n, steps);
        else ptq_fail(err, "the prompt has %d tokens, more than the model's max_seq %d (--steps %d)", n, limit, steps);
        return PTQ_GEN_PROMPT;
    }
    steps = limit;
    if (ptq_state_init_ctx(&s, m, 1, steps, err)) {
        free(ids);
        return -1;
    }
    ptq_rng rng;
    ptq_rng_seed(&rng, seed);
    int token = ids[0], pos = 0;
    char piece[512];
    while (pos < steps) {
        if (ptq_forward(m, &s, &token, 1, pos, NULL, 1, err)) goto out;
        int next = pos < n - 1        ? ids[pos + 1]
                   : temperature == 0 ? argmax(s.logits, m->cfg.vocab_size)
                                      : sample(s.logits, m->cfg.vocab_size, (float)temperature, &rng);
        pos++;
        if (next == tok->bos_id) break; /* BOS delimits sequences, as in run.c */
        emit(ctx, piece, tok->decode(tok, token, next, piece, sizeof piece));
        token = next;
    }
    rc = 0;
out:
    ptq_state_free(&s);
    free(ids);
    return rc;
}
