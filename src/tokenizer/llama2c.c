/* llama2c.c — llama2.c's tokenizer.bin: SentencePiece-style BPE by
 * merge score with byte fallback (the pieces "<0xXX>", ids 3..258 in
 * llama2.c's exports; looked up by name here, so a vocabulary without them
 * gives a clear error instead of ids past its end).
 *
 * Encoding follows llama2.c run.c's encode(): optional BOS, a dummy-prefix
 * space when the text is non-empty, one token per UTF-8 code point (bytes
 * when the code point is not in the vocabulary), then repeatedly merge the
 * adjacent pair whose concatenation has the highest score (leftmost on
 * ties). run.c rescans the whole sequence per merge (O(n^2)); we keep the
 * candidate pairs in a max-heap with lazy invalidation, which yields the
 * same merges in O(n log n) so a 1.3 MB test text encodes in well under a
 * second. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

typedef struct {
    char **vocab;
    float *scores;
    int *sorted; /* ids sorted by piece string, for bsearch */
    int max_len;
    int byte_id[256]; /* id of the piece "<0xXX>" of each byte, -1 when the vocabulary has none */
    int no_prefix;    /* no dummy-prefix space (GGUF add_space_prefix = false) */
    int unk_id;       /* for a code point without a piece or byte pieces; -1: an error */
} l2c_impl;

static const l2c_impl *g_sort_impl; /* qsort has no context argument */
static int cmp_ids(const void *a, const void *b) {
    return strcmp(g_sort_impl->vocab[*(const int *)a], g_sort_impl->vocab[*(const int *)b]);
}

typedef struct {
    const l2c_impl *im;
    const char *s;
} lookup_key;
static int cmp_key(const void *k, const void *e) {
    const lookup_key *key = k;
    return strcmp(key->s, key->im->vocab[*(const int *)e]);
}

static int lookup(const l2c_impl *im, int vocab_size, const char *s) {
    lookup_key k = {im, s};
    const int *r = bsearch(&k, im->sorted, vocab_size, sizeof(int), cmp_key);
    return r ? *r : -1;
}

/* ---- max-heap of candidate merges ---- */
typedef struct {
    float score;
    int left, right, ltok, rtok, merged;
} cand;
typedef struct {
    cand *a;
    int n, cap;
} heap;

static int cand_before(const cand *x, const cand *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}
static int heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        int nc = h->cap ? 2 * h->cap : 1024;
        cand *na = realloc(h->a, (size_t)nc * sizeof(cand));
        if (!na) return -1;
        h->a = na;
        h->cap = nc;
    }
    int i = h->n++;
    h->a[i] = c;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_before(&h->a[i], &h->a[p])) break;
        cand t = h->a[i];
        h->a[i] = h->a[p];
        h->a[p] = t;
        i = p;
    }
    return 0;
}
static cand heap_pop(heap *h) {
    cand top = h->a[0];
    h->a[0] = h->a[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, b = i;
        if (l < h->n && cand_before(&h->a[l], &h->a[b])) b = l;
        if (r < h->n && cand_before(&h->a[r], &h->a[b])) b = r;
        if (b == i) break;
        cand t = h->a[i];
        h->a[i] = h->a[b];
        h->a[b] = t;
        i = b;
    }
    return top;
}

static int try_pair(const ptq_tokenizer *t, const l2c_impl *im, heap *h, char *buf, int *tok, int left, int right) {
    size_t la = strlen(im->vocab[tok[left]]), lb = strlen(im->vocab[tok[right]]);
    if ((int)(la + lb) > im->max_len) return 0;
    memcpy(buf, im->vocab[tok[left]], la);
    memcpy(buf + la, im->vocab[tok[right]], lb + 1);
    int id = lookup(im, t->vocab_size, buf);
    if (id < 0) return 0;
    return heap_push(h, (cand){im->scores[id], left, right, tok[left], tok[right], id});
}

static int l2c_encode(const ptq_tokenizer *t, const char *text, size_t len, int bos, int eos, int **ids_out,
                      int *n_out, ptq_err *err) {
    const l2c_impl *im = t->impl;
    *ids_out = NULL;
    *n_out = 0;
    size_t cap = len + 3;
    int *tok = ptq_calloc(cap, sizeof(int), err), *next = ptq_calloc(cap, sizeof(int), err);
    int *prev = ptq_calloc(cap, sizeof(int), err);
    char *buf = ptq_calloc((size_t)im->max_len * 2 + 8, 1, err);
    heap h = {0};
    int rc = -1, n = 0;
    if (!tok || !next || !prev || !buf) goto done;
    if (len > 0 && !im->no_prefix) { /* dummy prefix, as SentencePiece's add_dummy_prefix */
        int sp = lookup(im, t->vocab_size, " ");
        if (sp >= 0) tok[n++] = sp;
    }
    for (size_t i = 0; i < len;) {
        size_t cl = 1; /* UTF-8 code point length (max 4 bytes) */
        while (i + cl < len && cl < 4 && ((unsigned char)text[i + cl] & 0xC0) == 0x80) cl++;
        char cp[8];
        memcpy(cp, text + i, cl);
        cp[cl] = 0;
        int id = lookup(im, t->vocab_size, cp);
        if (id >= 0) tok[n++] = id;
        else if (im->unk_id >= 0 && im->byte_id[(unsigned char)cp[0]] < 0) {
            if (!n || tok[n - 1] != im->unk_id) tok[n++] = im->unk_id; /* a run of them is one, as fuse_unk */
        }
        else
            for (size_t j = 0; j < cl; j++) {
                int b = (unsigned char)cp[j];
                if (im->byte_id[b] < 0) {
                    ptq_fail(err,
                             "%s: the text has a character (byte 0x%02X at offset %zu) that is not in the vocabulary, "
                             "and the tokenizer has no byte-fallback piece <0x%02X>",
                             t->path, b, i + j, b);
                    goto done;
                }
                tok[n++] = im->byte_id[b];
            }
        i += cl;
    }
    for (int i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
    }
    for (int i = 0; i + 1 < n; i++)
        if (try_pair(t, im, &h, buf, tok, i, i + 1)) goto oom;
    while (h.n > 0) {
        cand c = heap_pop(&h);
        /* stale when either side was merged away or changed since it was pushed */
        if (tok[c.left] != c.ltok || next[c.left] != c.right || tok[c.right] != c.rtok) continue;
        tok[c.left] = c.merged;
        int r2 = next[c.right];
        next[c.left] = r2;
        if (r2 >= 0) prev[r2] = c.left;
        tok[c.right] = -1;
        next[c.right] = -2;
        if (prev[c.left] >= 0 && try_pair(t, im, &h, buf, tok, prev[c.left], c.left)) goto oom;
        if (r2 >= 0 && try_pair(t, im, &h, buf, tok, c.left, r2)) goto oom;
    }
    int *ids = ptq_calloc((size_t)n + 2, sizeof(int), err);
    if (!ids) goto done;
    int m = 0;
    if (bos && t->bos_id >= 0) ids[m++] = t->bos_id;
    for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) ids[m++] = tok[i];
    if (eos && t->eos_id >= 0) ids[m++] = t->eos_id;
    *ids_out = ids;
    *n_out = m;
    rc = 0;
    goto done;
oom:
    ptq_fail(err, "out of memory while tokenizing %zu bytes", len);
done:
    free(tok);
    free(next);
    free(prev);
    free(buf);
    free(h.a);
    return rc;
}

static int l2c_decode(const ptq_tokenizer *t, int prev, int token, char *buf, int cap) {
    const l2c_impl *im = t->impl;
    if (cap <= 0) return 0;
    buf[0] = 0;
    if (token < 0 || token >= t->vocab_size) return 0;
    const char *piece = im->vocab[token];
    if (prev == t->bos_id && piece[0] == ' ') piece++; /* BOS strips the leading space */
    unsigned int byte;
    if (strlen(piece) == 6 && sscanf(piece, "<0x%02X>", &byte) == 1) {
        buf[0] = (char)byte;
        buf[1] = 0;
        return 1;
    }
    int n = (int)strlen(piece);
    if (n > cap - 1) n = cap - 1;
    memcpy(buf, piece, n);
    buf[n] = 0;
    return n;
}

static void l2c_destroy(ptq_tokenizer *t) {
    l2c_impl *im = t->impl;
    if (im) {
        for (int i = 0; im->vocab && i < t->vocab_size; i++) free(im->vocab[i]);
        free(im->vocab);
        free(im->scores);
        free(im->sorted);
        free(im);
    }
    free(t);
}

static void finish(l2c_impl *im, int vocab_size);
static ptq_tokenizer *l2c_new(const char *path, int vocab_size, ptq_err *err);

int ptq_tokenizer_load_llama2c(ptq_tokenizer **out, const char *path, int vocab_size, ptq_err *err) {
    *out = NULL;
    if (vocab_size < 3 || vocab_size > (1 << 20)) /* ids 0, 1, 2 are <unk>, <s>, </s> */
        return ptq_fail(err, "%s: vocab_size %d out of range 3..%d (llama2.c reserves ids 0-2 for <unk>, <s>, </s>)",
                        path, vocab_size, 1 << 20);
    FILE *f = ptq_fopen_regular(path, err);
    if (!f) return ptq_wrap(err, "tokenizer");
    ptq_tokenizer *t = l2c_new(path, vocab_size, err);
    if (!t) {
        fclose(f);
        return -1;
    }
    l2c_impl *im = t->impl;
    int32_t maxlen;
    if (!(im->vocab = ptq_calloc(vocab_size, sizeof(char *), err)) ||
        !(im->scores = ptq_calloc(vocab_size, sizeof(float), err)) ||
        !(im->sorted = ptq_calloc(vocab_size, sizeof(int), err)))
        goto fail;
    if (fread(&maxlen, 4, 1, f) != 1 || maxlen <= 0 || maxlen > 4096) {
        ptq_fail(err, "%s: bad or missing max_token_length header (expected int32 in 1..4096)", path);
        goto fail;
    }
    im->max_len = maxlen;
    for (int i = 0; i < vocab_size; i++) {
        int32_t len;
        if (fread(&im->scores[i], 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) {
            ptq_fail(err, "%s: truncated at token %d of %d (file has fewer tokens than the model's vocab)", path, i,
                     vocab_size);
            goto fail;
        }
        if (len < 0 || len > maxlen) {
            ptq_fail(err, "%s: token %d has length %d, expected 0..%d (max_token_length)", path, i, len, maxlen);
            goto fail;
        }
        if (!(im->vocab[i] = ptq_calloc((size_t)len + 1, 1, err))) goto fail;
        if (len && fread(im->vocab[i], 1, len, f) != (size_t)len) {
            ptq_fail(err, "%s: truncated inside token %d", path, i);
            goto fail;
        }
    }
    fclose(f);
    finish(im, vocab_size);
    *out = t;
    return 0;
fail:
    fclose(f);
    l2c_destroy(t);
    return -1;
}

static void finish(l2c_impl *im, int vocab_size) {
    for (int i = 0; i < vocab_size; i++) im->sorted[i] = i;
    g_sort_impl = im;
    qsort(im->sorted, vocab_size, sizeof(int), cmp_ids);
    for (int b = 0; b < 256; b++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        im->byte_id[b] = lookup(im, vocab_size, piece);
    }
}

static ptq_tokenizer *l2c_new(const char *path, int vocab_size, ptq_err *err) {
    ptq_tokenizer *t = ptq_calloc(1, sizeof *t, err);
    l2c_impl *im = t ? ptq_calloc(1, sizeof *im, err) : NULL;
    if (!im) {
        free(t);
        return NULL;
    }
    t->impl = im;
    im->unk_id = -1;
    t->vocab_size = vocab_size;
    t->destroy = l2c_destroy;
    t->encode = l2c_encode;
    t->decode = l2c_decode;
    t->bos_id = 1;
    t->eos_id = 2;
    t->add_bos = 1;
    snprintf(t->kind, sizeof t->kind, "llama2c");
    snprintf(t->path, sizeof t->path, "%s", path);
    return t;
}

int ptq_tokenizer_llama2c_from_pieces(ptq_tokenizer **out, const char *name, int n, char **pieces, float *scores,
                                      int dummy_prefix, int unk_id, ptq_err *err) {
    *out = NULL;
    ptq_tokenizer *t = l2c_new(name, n, err);
    if (!t) {
        for (int i = 0; i < n; i++) free(pieces[i]);
        free(pieces);
        free(scores);
        return -1;
    }
    l2c_impl *im = t->impl;
    im->vocab = pieces, im->scores = scores, im->no_prefix = !dummy_prefix, im->unk_id = unk_id;
    if (!(im->sorted = ptq_calloc(n, sizeof(int), err))) {
        l2c_destroy(t);
        return -1;
    }
    for (int i = 0; i < n; i++) im->max_len = PTQ_MAX(im->max_len, (int)strlen(pieces[i]));
    finish(im, n);
    *out = t;
    return 0;
}

void ptq_tokenizer_free(ptq_tokenizer *t) {
    if (t && t->destroy) t->destroy(t);
}
