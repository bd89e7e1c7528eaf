/* test_tokenizer_llama2c.c — the heap-based BPE equals llama2.c's naive
 * O(n^2) merge loop (written out here as the reference) on real text, and
 * decode(encode(x)) == x. Uses the 512-token stories vocab and the 32k
 * llama2 vocab (tokenizer.bin export). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testref.h"
#include "testutil.h"
#include "tokenizer.h"

/* Reference: llama2.c run.c encode(), reading the same tokenizer.bin. */
typedef struct {
    char **vocab;
    float *scores;
    int n;
} ref_tok;

static int ref_load(ref_tok *r, const char *path, int n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int maxlen;
    if (fread(&maxlen, 4, 1, f) != 1) return fclose(f), -1;
    r->n = n;
    r->vocab = calloc(n, sizeof(char *));
    r->scores = calloc(n, sizeof(float));
    for (int i = 0; i < n; i++) {
        int len;
        if (fread(&r->scores[i], 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) return fclose(f), -1;
        r->vocab[i] = calloc(len + 1, 1);
        if (fread(r->vocab[i], 1, len, f) != (size_t)len) return fclose(f), -1;
    }
    fclose(f);
    return 0;
}

static int ref_lookup(const ref_tok *r, const char *s) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->vocab[i], s) == 0) return i;
    return -1;
}

static int ref_encode(const ref_tok *r, const char *text, int *out) {
    int n = 0;
    if (*text) out[n++] = ref_lookup(r, " ");
    char buf[64];
    for (const char *c = text; *c;) {
        int cl = 1;
        while (c[cl] && cl < 4 && ((unsigned char)c[cl] & 0xC0) == 0x80) cl++;
        memcpy(buf, c, cl);
        buf[cl] = 0;
        int id = ref_lookup(r, buf);
        if (id >= 0) out[n++] = id;
        else
            for (int j = 0; j < cl; j++) out[n++] = (unsigned char)buf[j] + 3;
        c += cl;
    }
    for (;;) {
        float best = -1e10f;
        int bi = -1, bid = -1;
        for (int i = 0; i + 1 < n; i++) {
            char cat[512];
            snprintf(cat, sizeof cat, "%s%s", r->vocab[out[i]], r->vocab[out[i + 1]]);
            int id = ref_lookup(r, cat);
            if (id >= 0 && r->scores[id] > best) best = r->scores[id], bi = i, bid = id;
        }
        if (bi < 0) break;
        out[bi] = bid;
        memmove(out + bi + 1, out + bi + 2, (size_t)(n - bi - 2) * sizeof(int));
        n--;
    }
    return n;
}

static void check_vocab(const char *asset, int vocab, const char *const *texts, int ntexts) {
    const char *path = tu_asset(asset);
    CHECK(path != NULL);
    if (!path) return;
    ptq_tokenizer *t;
    ptq_err err;
    CHECK(ptq_tokenizer_load_llama2c(&t, path, vocab, &err) == 0);
    ref_tok r = {0};
    CHECK(ref_load(&r, path, vocab) == 0);
    for (int k = 0; k < ntexts; k++) {
        int *ids, n;
        CHECK(t->encode(t, texts[k], strlen(texts[k]), 1, 0, &ids, &n, &err) == 0);
        int *ref = calloc(strlen(texts[k]) * 4 + 8, sizeof(int));
        int rn = ref_encode(&r, texts[k], ref);
        CHECK(ids[0] == 1 && n == rn + 1);
        int same = n == rn + 1;
        for (int i = 0; same && i < rn; i++) same = ids[i + 1] == ref[i];
        CHECK(same);
        if (!same) fprintf(stderr, "mismatch on text %d (%s)\n", k, asset);
        char *back = ptq_tokenizer_decode_all(t, ids, n);
        CHECK(back && strcmp(back, texts[k]) == 0);
        free(back);
        free(ids);
        free(ref);
    }
    for (int i = 0; i < vocab; i++) free(r.vocab[i]);
    free(r.vocab);
    free(r.scores);
    ptq_tokenizer_free(t);
}

/* A vocabulary without byte-fallback pieces (fewer than 259 tokens): text
 * outside it is an error naming the byte, never an id past the vocabulary. */
static void check_no_byte_fallback(void) {
    static const char *const pieces[] = {"<unk>", "<s>", "</s>", " ", "a", "b", " a", "ab"};
    enum { N = 8 };
    char path[] = "/tmp/ptq_tok_small_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "wb");
    int32_t maxlen = 5;
    fwrite(&maxlen, 4, 1, f);
    for (int i = 0; i < N; i++) {
        float score = (float)i;
        int32_t len = (int32_t)strlen(pieces[i]);
        fwrite(&score, 4, 1, f), fwrite(&len, 4, 1, f), fwrite(pieces[i], 1, (size_t)len, f);
    }
    fclose(f);
    ptq_tokenizer *t;
    ptq_err err = {{0}};
    CHECK(ptq_tokenizer_load_llama2c(&t, path, N, &err) == 0);
    int *ids = NULL, n = 0;
    CHECK(t->encode(t, "abba", 4, 1, 0, &ids, &n, &err) == 0);
    for (int i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < N);
    free(ids);
    ids = NULL;
    CHECK(t->encode(t, "a\xc3\xa9 z", 5, 1, 0, &ids, &n, &err) == -1 && strstr(err.msg, "byte 0xC3") &&
          strstr(err.msg, "<0xC3>"));
    CHECK(ids == NULL);
    ptq_tokenizer_free(t);
    remove(path);
}

int main(void) {
    check_no_byte_fallback();
    static const char *const texts[] = {
        "Once upon a time, there was a little girl named Lily.",
        "The quick brown fox jumps over the lazy dog!\nNew line\n\n  two spaces",
        " = Robert Boulter = \n Robert Boulter is an English film , television and theatre actor .",
        "Unicode: caf\xc3\xa9, na\xc3\xafve, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, emoji \xf0\x9f\x98\x80.",
        "1234567890 @#$%^&*() {tabs\tand} \"quotes\" 'apostrophes' -- dashes",
    };
    check_vocab("models/stories260K/tok512.bin", 512, texts, 5);
    check_vocab("models/tokenizers/llama2-32k/tokenizer.bin", 32000, texts, 3);
    /* bad inputs */
    ptq_tokenizer *t;
    ptq_err err;
    CHECK(ptq_tokenizer_load_llama2c(&t, "/nonexistent/tok.bin", 512, &err) == -1 && strstr(err.msg, "cannot open"));
    const char *p = tu_asset("models/stories260K/tok512.bin");
    if (p) { /* more tokens than the file has */
        CHECK(ptq_tokenizer_load_llama2c(&t, p, 600, &err) == -1 && strstr(err.msg, "truncated"));
        CHECK(ptq_tokenizer_load_llama2c(&t, p, 0, &err) == -1);
    }
    return tu_done("test_tokenizer_llama2c");
}
