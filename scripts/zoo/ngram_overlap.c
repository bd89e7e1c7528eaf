/* ngram_overlap.c — word 13-gram overlap between a training corpus and
 * evaluation files (contamination check, GPT-3 appendix C style).
 *
 * usage: ngram_overlap [-n N] [-f FILTERED_OUT] TRAIN EVAL...
 * Words are maximal runs of ASCII letters/digits or non-ASCII bytes,
 * lower-cased; everything else separates. Every distinct N-gram of each
 * evaluation file (the file as one stream) goes into a hash set (64-bit
 * polynomial hash of 64-bit FNV-1a word hashes). The training text is read
 * as documents separated by blank lines; a document containing any
 * evaluation N-gram is "dirty". Printed: per evaluation file its distinct
 * N-grams, how many occur in the training text and the rate, and one
 * example; the dirty document count. With -f, the clean documents are
 * written (blank-line separated) to FILTERED_OUT. Exit 2 on bad usage or an
 * unreadable file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 32
#define MAXF 64

typedef struct {
    uint64_t *key;  /* 0 = empty (a zero hash is mapped to 1) */
    uint64_t *files; /* bit f: in evaluation file f */
    uint8_t *hit;
    size_t cap, n;
} set;

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap + 1);
    for (size_t r; b && (r = fread(b + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) free(b);
            b = nb, cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) return free(b), NULL;
    b[n] = 0;
    *len = n;
    return b;
}

static int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Next word of s[*i..end): its hash and start, or 0 at the end. */
static int next_word(const char *s, size_t end, size_t *i, uint64_t *h, size_t *start) {
    while (*i < end && !is_word((unsigned char)s[*i])) (*i)++;
    if (*i >= end) return 0;
    *start = *i;
    uint64_t x = 1469598103934665603ULL;
    for (; *i < end && is_word((unsigned char)s[*i]); (*i)++) {
        unsigned char c = (unsigned char)s[*i];
        if (c >= 'A' && c <= 'Z') c += 32;
        x = (x ^ c) * 1099511628211ULL;
    }
    *h = x;
    return 1;
}

/* Calls fn(ctx, hash, start of the first word) for every N-gram of s[0..end). */
typedef void (*gram_fn)(void *ctx, uint64_t h, size_t start);
static void grams(const char *s, size_t end, int N, gram_fn fn, void *ctx) {
    uint64_t w[MAXN], P = 0x100000001b3ULL, Pn = 1;
    size_t at[MAXN], i = 0, start;
    for (int k = 1; k < N; k++) Pn *= P;
    uint64_t h = 0, wh;
    long cnt = 0;
    while (next_word(s, end, &i, &wh, &start)) {
        int slot = (int)(cnt % N);
        if (cnt >= N) h -= w[slot] * Pn; /* drop the oldest word */
        h = h * P + wh;
        w[slot] = wh, at[slot] = start;
        if (++cnt >= N) fn(ctx, h ? h : 1, at[(cnt - N) % N]);
    }
}

static size_t find(const set *S, uint64_t h) {
    size_t m = S->cap - 1, j = (size_t)(h * 0x9E3779B97F4A7C15ULL) & m;
    while (S->key[j] && S->key[j] != h) j = (j + 1) & m;
    return j;
}

static int grow(set *S) {
    set T = {.cap = S->cap ? 2 * S->cap : 1 << 20};
    T.key = calloc(T.cap, 8), T.files = calloc(T.cap, 8), T.hit = calloc(T.cap, 1);
    if (!T.key || !T.files || !T.hit) return free(T.key), free(T.files), free(T.hit), -1;
    for (size_t j = 0; j < S->cap; j++)
        if (S->key[j]) {
            size_t k = find(&T, S->key[j]);
            T.key[k] = S->key[j], T.files[k] = S->files[j], T.n++;
        }
    free(S->key), free(S->files), free(S->hit);
    *S = T;
    return 0;
}

typedef struct {
    set *S;
    int file, oom;
    long dirty_grams;
    const char *text;
    size_t example;  /* eval pass 2: first hit start */
    int have_example;
} ctx_t;

static void add_eval(void *c, uint64_t h, size_t start) {
    ctx_t *x = c;
    (void)start;
    if (2 * (x->S->n + 1) > x->S->cap && grow(x->S)) {
        x->oom = 1;
        return;
    }
    size_t j = find(x->S, h);
    if (!x->S->key[j]) x->S->key[j] = h, x->S->n++;
    x->S->files[j] |= 1ULL << x->file;
}

static void probe_train(void *c, uint64_t h, size_t start) {
    ctx_t *x = c;
    (void)start;
    size_t j = find(x->S, h);
    if (x->S->key[j]) x->S->hit[j] = 1, x->dirty_grams++;
}

static void first_hit(void *c, uint64_t h, size_t start) {
    ctx_t *x = c;
    size_t j = find(x->S, h);
    if (!x->have_example && x->S->key[j] && x->S->hit[j]) x->example = start, x->have_example = 1;
}

int main(int argc, char **argv) {
    int N = 13, a = 1;
    const char *filtered = NULL;
    for (; a < argc && argv[a][0] == '-'; a += 2) {
        if (a + 1 >= argc) break;
        if (!strcmp(argv[a], "-n")) N = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "-f")) filtered = argv[a + 1];
        else break;
    }
    if (argc - a < 2 || argc - a - 1 > MAXF || N < 1 || N > MAXN) {
        fprintf(stderr, "usage: ngram_overlap [-n N (1..%d)] [-f FILTERED_OUT] TRAIN EVAL... (at most %d)\n", MAXN,
                MAXF);
        return 2;
    }
    set S = {0};
    if (grow(&S)) return fprintf(stderr, "error: out of memory\n"), 1;
    int nf = argc - a - 1, rc = 0;
    char **ev = argv + a + 1, *tr = NULL;
    FILE *out = NULL;
    for (int f = 0; f < nf && !rc; f++) {
        size_t len;
        char *t = read_all(ev[f], &len);
        if (!t) {
            rc = (fprintf(stderr, "error: %s: cannot read\n", ev[f]), 2);
            break;
        }
        ctx_t x = {.S = &S, .file = f};
        grams(t, len, N, add_eval, &x);
        free(t);
        if (x.oom) rc = (fprintf(stderr, "error: out of memory\n"), 1);
    }
    size_t tlen;
    if (!rc && !(tr = read_all(argv[a], &tlen))) rc = (fprintf(stderr, "error: %s: cannot read\n", argv[a]), 2);
    if (!rc && filtered && !(out = fopen(filtered, "wb")))
        rc = (fprintf(stderr, "error: %s: cannot create\n", filtered), 2);
    if (rc) {
        free(S.key), free(S.files), free(S.hit);
        return rc;
    }
    long docs = 0, dirty = 0, dirty_grams = 0;
    size_t kept = 0;
    for (size_t p = 0; p < tlen;) {
        char *e = strstr(tr + p, "\n\n");
        size_t end = e ? (size_t)(e - tr) : tlen;
        ctx_t x = {.S = &S};
        grams(tr + p, end - p, N, probe_train, &x);
        int blank = strspn(tr + p, " \t\n") >= end - p;
        if (!blank) docs++, dirty += x.dirty_grams > 0, dirty_grams += x.dirty_grams;
        if (out && !blank && !x.dirty_grams) {
            fwrite(tr + p, 1, end - p, out), fputs("\n\n", out);
            kept += end - p;
        }
        for (p = end; p < tlen && tr[p] == '\n'; p++) {}
    }
    printf("%-60s %10s %10s %9s  %s\n", "evaluation file", "ngrams", "in_train", "rate_%", "example");
    for (int f = 0; f < nf; f++) {
        long tot = 0, hit = 0;
        for (size_t j = 0; j < S.cap; j++)
            if (S.key[j] && (S.files[j] >> f & 1)) tot++, hit += S.hit[j];
        size_t len;
        char *t = read_all(ev[f], &len), ex[160] = "";
        ctx_t x = {.S = &S};
        if (t && hit) grams(t, len, N, first_hit, &x);
        if (x.have_example) {
            size_t k = 0;
            for (size_t i = x.example; i < len && k < sizeof ex - 1 && k < 100; i++)
                ex[k++] = t[i] == '\n' || t[i] == '\t' ? ' ' : t[i];
            ex[k] = 0;
        }
        free(t);
        printf("%-60s %10ld %10ld %9.4f  %s\n", ev[f], tot, hit, tot ? 100.0 * hit / tot : 0.0, ex);
    }
    printf("training documents: %ld, with an evaluation %d-gram: %ld (%.4f%%), matching %d-grams: %ld\n", docs, N,
           dirty, docs ? 100.0 * dirty / docs : 0.0, N, dirty_grams);
    if (out) {
        if (fclose(out)) return fprintf(stderr, "error: %s: write failed\n", filtered), 1;
        printf("filtered: %s (%ld clean documents, %zu bytes)\n", filtered, docs - dirty, kept);
    }
    free(tr);
    free(S.key), free(S.files), free(S.hit);
    return 0;
}
