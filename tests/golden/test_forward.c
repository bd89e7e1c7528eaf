/* test_forward.c — golden checks of the fp32 forward pass on stories260K:
 * greedy generation reproduces llama2.c's reference sample; the batched
 * forward equals the one-token decode path; a KV-cache continuation equals
 * one long forward; perplexity equals a naive per-token computation; a
 * state refuses positions past the context it was made for; generate's
 * prompt-length message names the real limit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model_open.h"
#include "perplexity.h"
#include "testutil.h"

static char *reference_sample(void) {
    const char *md = tu_asset("models/stories260K/stories260K.md");
    char *text;
    size_t len;
    ptq_err err;
    if (!md || ptq_read_file(md, &text, &len, &err)) return NULL;
    const char *key = "-t 0.0\n";
    char *s = strstr(text, key);
    if (!s) return free(text), NULL;
    s += strlen(key);
    char *e = strstr(s, "```");
    if (!e) return free(text), NULL;
    while (e > s && (e[-1] == '\n' || e[-1] == ' ')) e--;
    char *out = strndup(s, (size_t)(e - s));
    free(text);
    return out;
}

static void test_greedy(const ptq_model *m, const ptq_tokenizer *tok) {
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init_ctx(&s, m, 1, 256, &err) == 0);
    char out[8192] = "", piece[256];
    int token = tok->bos_id;
    for (int pos = 0; pos < 256; pos++) {
        CHECK(ptq_forward(m, &s, &token, 1, pos, NULL, 1, &err) == 0);
        int next = 0;
        for (int i = 1; i < m->cfg.vocab_size; i++)
            if (s.logits[i] > s.logits[next]) next = i;
        if (next == tok->bos_id) break;
        tok->decode(tok, token, next, piece, sizeof piece);
        strncat(out, piece, sizeof out - strlen(out) - 1);
        token = next;
    }
    char *ref = reference_sample();
    CHECK(ref != NULL);
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n') out[--n] = 0;
    if (ref) {
        CHECK(strcmp(out, ref) == 0);
        if (strcmp(out, ref) != 0) fprintf(stderr, "got:\n%s\nexpected:\n%s\n", out, ref);
    }
    free(ref);
    ptq_state_free(&s);
}

static void test_batched_vs_decode(const ptq_model *m) {
    enum { T = 64 };
    int toks[T];
    for (int i = 0; i < T; i++) toks[i] = (i * 37 + 5) % m->cfg.vocab_size;
    ptq_state sb, sd;
    ptq_err err;
    CHECK(ptq_state_init(&sb, m, T, &err) == 0);
    CHECK(ptq_state_init_ctx(&sd, m, 1, T, &err) == 0);
    CHECK(ptq_forward(m, &sb, toks, T, 0, NULL, 0, &err) == 0);
    double maxd = 0;
    for (int t = 0; t < T; t++) {
        CHECK(ptq_forward(m, &sd, &toks[t], 1, t, NULL, 0, &err) == 0);
        for (int v = 0; v < m->cfg.vocab_size; v++)
            maxd = fmax(maxd, fabs(sd.logits[v] - sb.logits[(size_t)t * m->cfg.vocab_size + v]));
    }
    printf("batched vs decode max |dlogit| = %.3g\n", maxd);
    CHECK(maxd < 1e-4);
    /* continuation: 40 tokens, then 24 more at pos0 = 40 */
    CHECK(ptq_forward(m, &sd, toks, 1, 0, NULL, 0, &err) == 0); /* reset nothing: cache rows are overwritten */
    ptq_state sc;
    CHECK(ptq_state_init(&sc, m, T, &err) == 0);
    CHECK(ptq_forward(m, &sc, toks, 40, 0, NULL, 0, &err) == 0);
    CHECK(ptq_forward(m, &sc, toks + 40, T - 40, 40, NULL, 0, &err) == 0);
    double maxc = 0;
    for (int t = 40; t < T; t++)
        for (int v = 0; v < m->cfg.vocab_size; v++)
            maxc = fmax(maxc, fabs(sc.logits[(size_t)(t - 40) * m->cfg.vocab_size + v] -
                                   sb.logits[(size_t)t * m->cfg.vocab_size + v]));
    printf("continuation vs full max |dlogit| = %.3g\n", maxc);
    CHECK(maxc < 1e-4);
    /* bad inputs to forward */
    int bad = m->cfg.vocab_size;
    CHECK(ptq_forward(m, &sd, &bad, 1, 0, NULL, 0, &err) == -1 && strstr(err.msg, "outside the vocabulary"));
    CHECK(ptq_forward(m, &sd, toks, 2, 0, NULL, 0, &err) == -1 && strstr(err.msg, "state holds 1..1"));
    ptq_state_free(&sb);
    ptq_state_free(&sd);
    ptq_state_free(&sc);
}

/* A state holds the positions it was made for, not the model's max_seq: a
 * position at or past its context is an error (no write past the caches). */
static void test_state_context(const ptq_model *m) {
    int toks[9] = {1, 5, 9, 33, 2, 17, 39, 3, 7};
    ptq_state s;
    ptq_err err;
    CHECK(ptq_state_init(&s, m, 8, &err) == 0);
    CHECK(ptq_forward(m, &s, toks, 8, 0, NULL, 0, &err) == 0);
    CHECK(ptq_forward(m, &s, toks + 8, 1, 8, NULL, 0, &err) == -1 && strstr(err.msg, "context 0..7"));
    CHECK(ptq_forward(m, &s, toks, 2, 7, NULL, 0, &err) == -1 && strstr(err.msg, "positions 7..8"));
    CHECK(ptq_forward(m, &s, toks, 1, -1, NULL, 0, &err) == -1 && strstr(err.msg, "context 0..7"));
    float *x = calloc((size_t)8 * m->cfg.dim, sizeof(float));
    CHECK(ptq_forward_embed(m, toks, 8, x, &err) == 0);
    CHECK(ptq_forward_block(m, &s, 0, x, 1, 8, &err) == -1 && strstr(err.msg, "context 0..7"));
    CHECK(ptq_forward_block(m, &s, 0, x, 2, 7, &err) == -1 && strstr(err.msg, "context 0..7"));
    free(x);
    ptq_state_free(&s);
    /* decoding: one row at a time over a context of 16 positions */
    CHECK(ptq_state_init_ctx(&s, m, 1, 16, &err) == 0);
    for (int p = 0; p < 16; p++) CHECK(ptq_forward(m, &s, toks + p % 9, 1, p, NULL, 1, &err) == 0);
    CHECK(ptq_forward(m, &s, toks, 1, 16, NULL, 1, &err) == -1 && strstr(err.msg, "context 0..15"));
    ptq_state_free(&s);
    CHECK(ptq_state_init_ctx(&s, m, 4, 2, &err) == -1 && strstr(err.msg, "out of range 4.."));
    CHECK(ptq_state_init_ctx(&s, m, 1, m->cfg.max_seq + 1, &err) == -1 && strstr(err.msg, "max_seq"));
}

static void no_piece(void *ctx, const char *piece, int len) { (void)ctx, (void)piece, (void)len; }

/* A prompt too long for the steps: the message names the --steps asked for
 * and, when max_seq is the limit, max_seq (not the capped steps). */
static void test_generate_prompt(const ptq_model *m, const ptq_tokenizer *tok) {
    char prompt[8192] = "";
    for (int i = 0; i < 150; i++) strcat(prompt, "Once upon a time "); /* about 600 tokens */
    ptq_err err;
    CHECK(ptq_generate(m, tok, prompt, 1000, 0, 0, no_piece, NULL, &err) == PTQ_GEN_PROMPT);
    CHECK(strstr(err.msg, "more than the model's max_seq 512 (--steps 1000)") != NULL);
    CHECK(ptq_generate(m, tok, "Once upon a time", 3, 0, 0, no_piece, NULL, &err) == PTQ_GEN_PROMPT);
    CHECK(strstr(err.msg, "more than --steps 3") != NULL);
    CHECK(ptq_generate(m, tok, "Once upon a time", 600, 0, 0, no_piece, NULL, &err) == 0);
}

static void test_ppl_naive(const ptq_model *m, const ptq_tokenizer *tok) {
    ptq_tokens toks;
    ptq_err err;
    CHECK(ptq_text_tokens("tinystories", tok, &toks, &err) == 0);
    CHECK(toks.n > 1000);
    CHECK(toks.n_docs == 500);
    CHECK(toks.ids[0] == tok->bos_id);
    int L = 128;
    ptq_ppl_opts o = {.seqlen = L, .limit_windows = 3, .bos_id = -1};
    ptq_ppl_result r;
    CHECK(ptq_eval_ppl(m, &toks, &o, &r, &err) == 0);
    CHECK(r.windows == 3 && r.tokens_scored == 3 * (L - 1));
    /* naive: each window separately, token-by-token decode */
    double nll = 0;
    ptq_state s;
    CHECK(ptq_state_init_ctx(&s, m, 1, L - 1, &err) == 0);
    for (int w = 0; w < 3; w++)
        for (int t = 0; t < L - 1; t++) {
            ptq_forward(m, &s, &toks.ids[w * L + t], 1, t, NULL, 0, &err);
            nll -= ptq_logprob(s.logits, m->cfg.vocab_size, toks.ids[w * L + t + 1]);
        }
    double ppl = exp(nll / (3 * (L - 1)));
    printf("ppl windowed %.6f naive %.6f\n", r.ppl, ppl);
    CHECK_NEAR(r.ppl, ppl, 1e-4 * ppl);
    /* hf denominator divides by nwin*L */
    o.denom_hf = 1;
    ptq_ppl_result r2;
    CHECK(ptq_eval_ppl(m, &toks, &o, &r2, &err) == 0);
    CHECK_NEAR(r2.ppl, exp(nll / (3 * L)), 1e-4 * r2.ppl);
    /* halfwindow scores L/2 - 1 targets per window */
    o.denom_hf = 0;
    o.protocol = PTQ_PPL_HALFWINDOW;
    o.bos_id = tok->bos_id;
    CHECK(ptq_eval_ppl(m, &toks, &o, &r2, &err) == 0);
    CHECK(r2.tokens_scored == 3 * (L - L / 2 - 1));
    /* seqlen above max_seq */
    o.seqlen = m->cfg.max_seq + 1;
    CHECK(ptq_eval_ppl(m, &toks, &o, &r2, &err) == -1 && strstr(err.msg, "max_seq"));
    ptq_state_free(&s);
    ptq_tokens_free(&toks);
}

int main(void) {
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model("stories260K", NULL, &m, &tok, &err)) {
        fprintf(stderr, "cannot open stories260K: %s\n", err.msg);
        return 1;
    }
    test_greedy(&m, tok);
    test_batched_vs_decode(&m);
    test_state_context(&m);
    test_generate_prompt(&m, tok);
    test_ppl_naive(&m, tok);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return tu_done("test_forward");
}
