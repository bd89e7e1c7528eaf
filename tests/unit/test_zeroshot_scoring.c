/* test_zeroshot_scoring.c — lm-eval tokenization split, acc / acc_norm,
 * stderr, and the shared-prefix (batched) scorer against one fresh forward
 * per request, on stories260K. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "model_open.h"
#include "testutil.h"
#include "zeroshot.h"

static int *enc(const ptq_tokenizer *t, const char *s, int *n) {
    int *ids;
    ptq_err e;
    if (t->encode(t, s, strlen(s), 0, 0, &ids, n, &e)) return NULL;
    return ids;
}

/* lm-eval _encode_pair on explicit strings. */
static void check_split(const ptq_tokenizer *t, const char *ctx, const char *cont, const char *moved_ctx) {
    ptq_ll_req r;
    ptq_err e;
    CHECK(ptq_ll_encode(t, ctx, cont, 0, &r, &e) == 0);
    char whole[512];
    snprintf(whole, sizeof whole, "%s%s", ctx, cont);
    int nw, nc;
    int *w = enc(t, whole, &nw), *c = enc(t, moved_ctx, &nc);
    /* model input = encode(ctx) + whole[len(encode(ctx)):] */
    CHECK(r.n == nw && r.ncont == nw - nc);
    CHECK(r.n == nw && !memcmp(r.ids, c, (size_t)nc * sizeof(int)));
    CHECK(r.n == nw && !memcmp(r.ids + nc, w + nc, (size_t)(nw - nc) * sizeof(int)));
    free(w);
    free(c);
    free(r.ids);
}

/* Reference: one fresh forward of (ctx+cont)[:-1] and a plain sum. */
static double ref_ll(const ptq_model *m, const ptq_ll_req *r, int *greedy) {
    ptq_state s;
    ptq_err e;
    int L = m->cfg.max_seq, S = r->n > L + 1 ? L + 1 : r->n;
    const int *x = r->ids + (r->n - S);
    if (ptq_state_init(&s, m, L, &e)) return NAN;
    ptq_forward(m, &s, x, S - 1, 0, NULL, 0, &e);
    double sum = 0;
    int ok = 1, V = m->cfg.vocab_size;
    for (int p = S - 1 - r->ncont; p < S - 1; p++) {
        const float *row = s.logits + (size_t)p * V;
        sum += ptq_logprob(row, V, x[p + 1]);
        int am = 0;
        for (int i = 1; i < V; i++)
            if (row[i] > row[am]) am = i;
        ok &= am == x[p + 1];
    }
    *greedy = ok;
    ptq_state_free(&s);
    return sum;
}

int main(void) {
    /* acc vs acc_norm: ll / len(choice) in characters */
    double ll[3] = {-10, -12, -30};
    int len[3] = {5, 10, 10};
    CHECK(ptq_zs_argmax(ll, NULL, 3) == 0);
    CHECK(ptq_zs_argmax(ll, len, 3) == 1);
    double tie[2] = {-1, -1};
    CHECK(ptq_zs_argmax(tie, NULL, 2) == 0); /* np.argmax: first max */
    /* stderr = sample std (ddof 1) / sqrt(n): 0/1 values, p = 0.5, n = 5 */
    CHECK_NEAR(ptq_zs_stderr(0.5, 5), sqrt(0.25 * 5 / 4 / 5), 1e-12);
    CHECK_NEAR(ptq_zs_stderr(0.2, 10), sqrt(0.16 * 10 / 9 / 10), 1e-12);
    CHECK(isnan(ptq_zs_stderr(1, 1)));

    if (!tu_asset("models/stories260K/stories260K.bin")) {
        printf("test_zeroshot_scoring: stories260K not found, model checks skipped\n");
        return tu_done("test_zeroshot_scoring");
    }
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err e;
    CHECK(ptq_open_model("stories260K", NULL, &m, &tok, &e) == 0);

    /* split rule: trailing spaces of the context move to the continuation;
     * continuation tokens = whole[len(encode(ctx)):] even when a token
     * straddles the boundary */
    check_split(tok, "Question: Is it big?\nAnswer:", " yes", "Question: Is it big?\nAnswer:");
    check_split(tok, "Once upon a time ", "there was", "Once upon a time");
    check_split(tok, "The ca", "t sat", "The ca");
    {
        ptq_ll_req r; /* empty context: BOS stands in */
        CHECK(ptq_ll_encode(tok, "", " hello", 0, &r, &e) == 0);
        int n, *h = enc(tok, " hello", &n);
        CHECK(r.ids[0] == tok->bos_id && r.n == n + 1 && r.ncont == n && !memcmp(r.ids + 1, h, n * sizeof(int)));
        free(h);
        free(r.ids);
        /* --zeroshot-bos puts BOS in front of the context */
        CHECK(ptq_ll_encode(tok, "Lily", " ran", 1, &r, &e) == 0);
        CHECK(r.ids[0] == tok->bos_id);
        free(r.ids);
    }

    /* hand-checked: an all-zero model gives uniform logits, so every
     * continuation token costs exactly -ln(vocab) */
    {
        ptq_model z;
        CHECK(ptq_model_alloc(&z, &m.cfg, &e) == 0);
        ptq_state s;
        CHECK(ptq_state_init(&s, &z, z.cfg.max_seq, &e) == 0);
        ptq_ll_req r[2];
        CHECK(ptq_ll_encode(tok, "Lily saw a dog.", " It was big.", 0, &r[0], &e) == 0);
        CHECK(ptq_ll_encode(tok, "Lily saw a dog.", " It ran", 0, &r[1], &e) == 0);
        double zl[2];
        int g[2];
        ptq_ll_stats st = {0, 0, 0, 0, 0};
        CHECK(ptq_ll_score(&z, &s, r, 2, 1, zl, g, &st, &e) == 0);
        CHECK_NEAR(zl[0], -r[0].ncont * log(512.0), 1e-6);
        CHECK_NEAR(zl[1], -r[1].ncont * log(512.0), 1e-6);
        free(r[0].ids);
        free(r[1].ids);
        ptq_state_free(&s);
        ptq_model_free(&z);
    }

    /* batched (shared prefix + KV cache) == one fresh forward per request */
    {
        const char *ctx = "Once upon a time, there was a little girl named Lily. She liked to";
        const char *conts[4] = {" play outside with her dog.", " eat", " play in the park", " sing songs."};
        ptq_ll_req r[5];
        for (int i = 0; i < 4; i++) CHECK(ptq_ll_encode(tok, ctx, conts[i], 0, &r[i], &e) == 0);
        /* a request longer than max_seq: left truncation like lm-eval */
        char *big = malloc(20000);
        big[0] = 0;
        for (int i = 0; i < 120; i++) strcat(big, "Tom and Sue went to the park. ");
        CHECK(ptq_ll_encode(tok, big, " They were happy.", 0, &r[4], &e) == 0);
        CHECK(r[4].n > m.cfg.max_seq + 1);
        ptq_state s;
        CHECK(ptq_state_init(&s, &m, m.cfg.max_seq, &e) == 0);
        double lb[5], lu[5];
        int gb[5], gu[5];
        ptq_ll_stats sb = {0, 0, 0, 0, 0}, su = {0, 0, 0, 0, 0};
        CHECK(ptq_ll_score(&m, &s, r, 4, 1, lb, gb, &sb, &e) == 0);
        CHECK(ptq_ll_score(&m, &s, r, 4, 0, lu, gu, &su, &e) == 0);
        CHECK(ptq_ll_score(&m, &s, r + 4, 1, 1, lb + 4, gb + 4, &sb, &e) == 0);
        CHECK(ptq_ll_score(&m, &s, r + 4, 1, 0, lu + 4, gu + 4, &su, &e) == 0);
        CHECK(sb.tokens_forwarded < su.tokens_forwarded); /* the context ran once */
        CHECK(sb.tokens_requests == su.tokens_requests);
        CHECK(sb.truncated == 1 && su.truncated == 1);
        for (int i = 0; i < 5; i++) {
            int gr = 0;
            double ref = ref_ll(&m, &r[i], &gr);
            CHECK_NEAR(lb[i], ref, 1e-3);
            CHECK_NEAR(lu[i], ref, 1e-4);
            CHECK(gb[i] == gr && gu[i] == gr);
            CHECK(lb[i] < 0);
        }
        printf("lls: %.4f %.4f %.4f %.4f %.4f\n", lb[0], lb[1], lb[2], lb[3], lb[4]);
        for (int i = 0; i < 5; i++) free(r[i].ids);
        free(big);
        ptq_state_free(&s);
    }

    /* the runner: bad task name and limit; a tiny run is deterministic */
    {
        ptq_zeroshot_opts o = {0};
        cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
        CHECK(ptq_zeroshot_run(&m, tok, "siqa", &o, a, &e) == -1 && strstr(e.msg, "unknown zero-shot task"));
        o.limit = -1;
        CHECK(ptq_zeroshot_run(&m, tok, "piqa", &o, a, &e) == -1);
        o.limit = 8;
        CHECK(ptq_zeroshot_run(&m, tok, "copa", &o, a, &e) == 0);
        o.no_share = 1;
        CHECK(ptq_zeroshot_run(&m, tok, "copa", &o, b, &e) == 0);
        CHECK(cJSON_GetObjectItem(a, "n")->valueint == 8);
        CHECK_NEAR(cJSON_GetObjectItem(a, "acc")->valuedouble, cJSON_GetObjectItem(b, "acc")->valuedouble, 1e-12);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return tu_done("test_zeroshot_scoring");
}
