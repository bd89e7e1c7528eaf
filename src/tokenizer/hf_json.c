/* hf_json.c — Hugging Face tokenizer.json with a "BPE" model.
 *
 * Pipeline (as the tokenizers library runs it): split out added tokens ->
 * normalizer (Prepend, Replace, NFC*) -> pre-tokenizer (Split regex,
 * ByteLevel, Metaspace, or a Sequence of them; regexes through PCRE2 with
 * Unicode properties) -> BPE per word: start from code points (byte-level:
 * the GPT-2 byte->unicode map; otherwise unknown code points fall back to
 * <0xXX> byte tokens or <unk>), then repeatedly merge the adjacent pair of
 * lowest merge rank (leftmost on ties), kept in a heap with lazy
 * invalidation so long pre-tokenizer-less words (SentencePiece-style) stay
 * O(n log n). BOS comes from the post_processor template (first item a
 * SpecialToken), BOS/EOS names from tokenizer_config.json beside the file.
 * Decoding: byte-level map back, or ▁ -> space with <0xXX> bytes and the
 * leading space stripped at the start of a text (Strip/Metaspace decoders).
 *
 * Resolved ambiguities: added tokens are matched on the raw text before
 * normalisation (HF matches "normalized" added tokens after it; this only
 * differs when a special token's text is inside the input). NFC is accepted
 * as identity: every text we evaluate is already NFC. Model types other than
 * BPE (WordPiece, Unigram, WordLevel) and unknown normalizers/pre-tokenizers
 * are refused with an error naming them. A text that starts with the BOS
 * token's own text ("<|start_story|>Once upon a time, ") gets no second BOS
 * (HF would emit two). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

/* ---- string -> id hash (open addressing) ---- */
typedef struct {
    const char *s;
    int len, id;
} hslot;
typedef struct {
    hslot *a;
    size_t cap;
} strmap;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}
static int map_get(const strmap *m, const char *s, size_t n) {
    for (size_t i = fnv(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->a[i].s) return -1;
        if ((size_t)m->a[i].len == n && !memcmp(m->a[i].s, s, n)) return m->a[i].id;
    }
}
static void map_put(strmap *m, const char *s, size_t n, int id) {
    size_t i = fnv(s, n) & (m->cap - 1);
    while (m->a[i].s && !((size_t)m->a[i].len == n && !memcmp(m->a[i].s, s, n)))
        i = (i + 1) & (m->cap - 1);
    m->a[i] = (hslot){s, (int)n, id};
}

/* ---- (left id, right id) -> (rank, merged id) ---- */
typedef struct {
    uint64_t key; /* (l+1) << 32 | (r+1); 0 = empty */
    int rank, merged;
} mslot;

enum { OP_PREPEND, OP_REPLACE, OP_SPLIT, OP_BYTELEVEL, OP_METASPACE, OP_DIGITS };
typedef struct {
    int type;
    char a[64], b[64]; /* prepend / replace strings, metaspace replacement */
    pcre2_code *re;    /* split / bytelevel regex */
    int invert, prefix_space, first_only, split;
} op;

typedef struct {
    char **piece; /* id -> bytes (NUL-terminated) */
    int *plen;
    unsigned char *special;
    strmap vocab;
    mslot *merges;
    size_t mcap;
    op norm[8], pre[8];
    int n_norm, n_pre;
    int bytelevel, byte_fallback, unk_id, fuse_unk, ignore_merges;
    int dec_bytelevel, dec_strip;
    int added[64], n_added; /* ids of added tokens, longest content first */
    int byte_id[256];       /* <0xXX> ids (byte fallback), -1 if absent */
    int b2u[256], u2b[512];
    pcre2_match_context *mctx; /* match limits: a regex that backtracks catastrophically fails, never stalls */
} hf_impl;

/* Per pcre2_match call. The GPT-2 / LLaMA-3 pre-tokenizer regexes stay below
 * a few hundred steps on any word; a pathological pattern from a
 * tokenizer.json hits the limit within milliseconds. */
#define PTQ_RE_MATCH_LIMIT 1000000u
#define PTQ_RE_DEPTH_LIMIT 10000u

static const char *const GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- words: a growable list of byte strings ---- */
typedef struct {
    char *s;
    size_t n;
} word;
typedef struct {
    word *w;
    int n, cap;
} wlist;
static int wl_push(wlist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 16;
        word *nw = realloc(l->w, (size_t)nc * sizeof *nw);
        if (!nw) return -1;
        l->w = nw, l->cap = nc;
    }
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, s, n);
    c[n] = 0;
    l->w[l->n++] = (word){c, n};
    return 0;
}
static void wl_free(wlist *l) {
    for (int i = 0; i < l->n; i++)
        free(l->w[i].s);
    free(l->w);
    memset(l, 0, sizeof *l);
}

static int utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
static int put_utf8(char *o, int cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)), o[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* Split with a regex: matches (and, for Isolated, the gaps) become words.
 * Returns 0, -1 when out of memory, or PCRE2's (negative) error code when a
 * match fails for another reason than "no match" (e.g. its match limit). */
static int regex_split(const hf_impl *im, const pcre2_code *re, const word *w, wlist *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) return -1;
    size_t pos = 0, last = 0;
    int rc = 0;
    while (pos <= w->n && !rc) {
        int r = pcre2_match(re, (PCRE2_SPTR)w->s, w->n, pos, 0, md, im->mctx);
        if (r == PCRE2_ERROR_NOMATCH) break; /* (invalid UTF-8 never matches: kept as a gap) */
        if (r < 0) {
            rc = r;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > last) rc = wl_push(out, w->s + last, ov[0] - last);
        if (!rc && ov[1] > ov[0]) rc = wl_push(out, w->s + ov[0], ov[1] - ov[0]);
        last = ov[1];
        pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
    if (!rc && last < w->n) rc = wl_push(out, w->s + last, w->n - last);
    pcre2_match_data_free(md);
    return rc;
}

static int apply_pre(const hf_impl *im, const op *o, wlist *in, int first_segment) {
    wlist out = {0};
    int rc = 0;
    for (int i = 0; i < in->n && !rc; i++) {
        word w = in->w[i];
        if (o->type == OP_SPLIT)
            rc = regex_split(im, o->re, &w, &out);
        else if (o->type == OP_BYTELEVEL) {
            wlist parts = {0};
            char *tmp = NULL;
            if (o->prefix_space && i == 0 && w.n && w.s[0] != ' ') {
                if (!(tmp = malloc(w.n + 2))) return -1;
                tmp[0] = ' ';
                memcpy(tmp + 1, w.s, w.n + 1);
                w = (word){tmp, w.n + 1};
            }
            rc = o->re ? regex_split(im, o->re, &w, &parts) : wl_push(&parts, w.s, w.n);
            for (int k = 0; k < parts.n && !rc; k++) { /* bytes -> printable code points */
                char *m = malloc(parts.w[k].n * 2 + 1), *p = m;
                if (!m) rc = -1;
                for (size_t j = 0; m && j < parts.w[k].n; j++)
                    p += put_utf8(p, im->b2u[(unsigned char)parts.w[k].s[j]]);
                if (m) rc = wl_push(&out, m, (size_t)(p - m));
                free(m);
            }
            wl_free(&parts);
            free(tmp);
        } else if (o->type == OP_METASPACE) {
            size_t n;
            char *r = ptq_replace_all(w.s, w.n, " ", o->a, &n);
            if (!r) return -1;
            size_t rl = strlen(o->a);
            int pre = n && o->prefix_space && (!o->first_only || (first_segment && i == 0)) &&
                      !(n >= rl && !memcmp(r, o->a, rl));
            char *s = malloc(n + rl + 1);
            if (!s)
                rc = -1;
            else {
                memcpy(s, o->a, pre ? rl : 0);
                memcpy(s + (pre ? rl : 0), r, n + 1);
                size_t sn = n + (pre ? rl : 0), start = 0;
                for (size_t j = 1; o->split && j + rl <= sn && !rc; j++) /* split before each replacement */
                    if (!memcmp(s + j, o->a, rl)) rc = wl_push(&out, s + start, j - start), start = j;
                if (!rc) rc = wl_push(&out, s + start, sn - start);
                free(s);
            }
            free(r);
        } else if (o->type == OP_DIGITS) {
            size_t start = 0;
            for (size_t j = 0; j < w.n && !rc; j++)
                if (w.s[j] >= '0' && w.s[j] <= '9') {
                    if (j > start) rc = wl_push(&out, w.s + start, j - start);
                    if (!rc) rc = wl_push(&out, w.s + j, 1);
                    start = j + 1;
                }
            if (!rc && start < w.n) rc = wl_push(&out, w.s + start, w.n - start);
        }
    }
    wl_free(in);
    *in = out;
    return rc;
}

/* ---- BPE of one word ---- */
typedef struct {
    int rank, left, right, ltok, rtok, merged;
} cand;
typedef struct {
    cand *a;
    int n, cap;
} heap;
static int before(const cand *x, const cand *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}
static int hpush(heap *h, cand c) {
    if (h->n == h->cap) {
        int nc = h->cap ? 2 * h->cap : 256;
        cand *na = realloc(h->a, (size_t)nc * sizeof *na);
        if (!na) return -1;
        h->a = na, h->cap = nc;
    }
    int i = h->n++;
    h->a[i] = c;
    for (; i > 0 && before(&h->a[i], &h->a[(i - 1) / 2]); i = (i - 1) / 2) {
        cand t = h->a[i];
        h->a[i] = h->a[(i - 1) / 2], h->a[(i - 1) / 2] = t;
    }
    return 0;
}
static cand hpop(heap *h) {
    cand top = h->a[0];
    h->a[0] = h->a[--h->n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, b = i;
        if (l < h->n && before(&h->a[l], &h->a[b])) b = l;
        if (r < h->n && before(&h->a[r], &h->a[b])) b = r;
        if (b == i) break;
        cand t = h->a[i];
        h->a[i] = h->a[b], h->a[b] = t, i = b;
    }
    return top;
}

static const mslot *merge_find(const hf_impl *im, int l, int r) {
    uint64_t key = ((uint64_t)(l + 1) << 32) | (uint64_t)(r + 1);
    for (size_t i = (key * 0x9E3779B97F4A7C15ULL >> 20) & (im->mcap - 1);; i = (i + 1) & (im->mcap - 1)) {
        if (!im->merges[i].key) return NULL;
        if (im->merges[i].key == key) return &im->merges[i];
    }
}

static int try_pair(const hf_impl *im, heap *h, const int *tok, int l, int r) {
    const mslot *m = merge_find(im, tok[l], tok[r]);
    return m ? hpush(h, (cand){m->rank, l, r, tok[l], tok[r], m->merged}) : 0;
}

typedef struct {
    int *v;
    long n, cap;
} ivec;
static int iv_push(ivec *v, int x) {
    if (v->n == v->cap) {
        long nc = v->cap ? 2 * v->cap : 1024;
        int *nv = realloc(v->v, (size_t)nc * sizeof(int));
        if (!nv) return -1;
        v->v = nv, v->cap = nc;
    }
    v->v[v->n++] = x;
    return 0;
}

static int bpe_word(const hf_impl *im, const word *w, ivec *out) {
    int id = im->ignore_merges ? map_get(&im->vocab, w->s, w->n) : -1;
    if (id >= 0) return iv_push(out, id);
    size_t n = w->n;
    int *tok = malloc((n + 1) * sizeof(int)), *next = malloc((n + 1) * sizeof(int)),
        *prev = malloc((n + 1) * sizeof(int));
    heap h = {0};
    int cnt = 0, rc = -1;
    if (!tok || !next || !prev) goto done;
    for (size_t i = 0; i < n;) {
        size_t cl = (size_t)utf8_len((unsigned char)w->s[i]);
        if (i + cl > n) cl = n - i;
        int t = map_get(&im->vocab, w->s + i, cl);
        if (t >= 0)
            tok[cnt++] = t;
        else if (im->byte_fallback && im->byte_id[(unsigned char)w->s[i]] >= 0)
            for (size_t j = 0; j < cl; j++)
                tok[cnt++] = im->byte_id[(unsigned char)w->s[i + j]];
        else if (im->unk_id >= 0 && !(im->fuse_unk && cnt > 0 && tok[cnt - 1] == im->unk_id))
            tok[cnt++] = im->unk_id;
        i += cl;
    }
    for (int i = 0; i < cnt; i++)
        next[i] = i + 1 < cnt ? i + 1 : -1, prev[i] = i - 1;
    for (int i = 0; i + 1 < cnt; i++)
        if (try_pair(im, &h, tok, i, i + 1)) goto done;
    while (h.n > 0) {
        cand c = hpop(&h);
        if (tok[c.left] != c.ltok || next[c.left] != c.right || tok[c.right] != c.rtok) continue; /* stale */
        tok[c.left] = c.merged;
        int r2 = next[c.right];
        next[c.left] = r2;
        if (r2 >= 0) prev[r2] = c.left;
        tok[c.right] = -1, next[c.right] = -2;
        if (prev[c.left] >= 0 && try_pair(im, &h, tok, prev[c.left], c.left)) goto done;
        if (r2 >= 0 && try_pair(im, &h, tok, c.left, r2)) goto done;
    }
    rc = 0;
    for (int i = cnt ? 0 : -1; i >= 0 && !rc; i = next[i])
        rc = iv_push(out, tok[i]);
done:
    free(tok), free(next), free(prev), free(h.a);
    return rc;
}

/* Normalise, pre-tokenise and BPE one segment without added tokens. */
static int encode_segment(const hf_impl *im, const char *s, size_t n, int first, ivec *out) {
    char *cur = malloc(n + 1);
    if (!cur) return -1;
    memcpy(cur, s, n);
    cur[n] = 0;
    for (int i = 0; i < im->n_norm && n; i++) {
        const op *o = &im->norm[i];
        size_t nn;
        char *nx;
        if (o->type == OP_PREPEND) {
            size_t pl = strlen(o->a);
            if (!(nx = malloc(n + pl + 1))) break;
            memcpy(nx, o->a, pl);
            memcpy(nx + pl, cur, n + 1);
            nn = n + pl;
        } else if (!(nx = ptq_replace_all(cur, n, o->a, o->b, &nn)))
            break;
        free(cur);
        cur = nx, n = nn;
    }
    wlist wl = {0};
    int rc = wl_push(&wl, cur, n);
    free(cur);
    for (int i = 0; i < im->n_pre && !rc; i++)
        rc = apply_pre(im, &im->pre[i], &wl, first);
    for (int i = 0; i < wl.n && !rc; i++)
        rc = bpe_word(im, &wl.w[i], out);
    wl_free(&wl);
    return rc;
}

static int hf_encode(const ptq_tokenizer *t, const char *text, size_t len, int bos, int eos, int **ids, int *n,
                     ptq_err *err) {
    const hf_impl *im = t->impl;
    ivec out = {0};
    int rc = 0;
    *ids = NULL, *n = 0;
    /* a text that already starts with the BOS token's text gets no second BOS */
    int lead_bos = t->bos_id >= 0 && im->plen[t->bos_id] > 0 && (size_t)im->plen[t->bos_id] <= len &&
                   !memcmp(text, im->piece[t->bos_id], im->plen[t->bos_id]);
    if (bos && t->bos_id >= 0 && !lead_bos) rc = iv_push(&out, t->bos_id);
    size_t start = 0, i = 0;
    int first = 1;
    while (i <= len && !rc) { /* split out added tokens (longest first) */
        int hit = -1;
        for (int k = 0; k < im->n_added && i < len && hit < 0; k++) {
            int a = im->added[k];
            if ((size_t)im->plen[a] <= len - i && im->plen[a] > 0 && !memcmp(text + i, im->piece[a], im->plen[a]))
                hit = a;
        }
        if (hit < 0 && i < len) {
            i++;
            continue;
        }
        if (i > start) rc = encode_segment(im, text + start, i - start, first, &out), first = 0;
        if (hit < 0) break;
        if (!rc) rc = iv_push(&out, hit);
        i += im->plen[hit];
        start = i;
    }
    if (!rc && eos && t->eos_id >= 0) rc = iv_push(&out, t->eos_id);
    if (rc < -1) { /* a pre-tokenizer regex failed to run (PCRE2 error) */
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        free(out.v);
        return ptq_fail(err, "%s: pre-tokenizer regex failed on the text (%s); the pattern backtracks too much", t->path,
                        (char *)msg);
    }
    if (rc || out.n > 0x7fffffff) {
        free(out.v);
        return ptq_fail(err, "%s: out of memory while tokenizing %zu bytes", t->path, len);
    }
    if (!out.v && !(out.v = malloc(sizeof(int)))) return ptq_fail(err, "out of memory");
    *ids = out.v, *n = (int)out.n;
    return 0;
}

static int hf_decode(const ptq_tokenizer *t, int prev, int token, char *buf, int cap) {
    const hf_impl *im = t->impl;
    if (cap <= 0) return 0;
    buf[0] = 0;
    if (token < 0 || token >= t->vocab_size || !im->piece[token] || im->special[token]) return 0;
    const char *p = im->piece[token];
    int n = im->plen[token], k = 0;
    unsigned int byte;
    if (im->dec_bytelevel) {
        for (int i = 0; i < n && k < cap - 1;) { /* code points back to bytes */
            int cl = utf8_len((unsigned char)p[i]), cp = (unsigned char)p[i] & (0xFF >> (cl + 1));
            if (cl == 1) cp = (unsigned char)p[i];
            for (int j = 1; j < cl && i + j < n; j++)
                cp = cp << 6 | (p[i + j] & 63);
            buf[k++] = cp < 512 && im->u2b[cp] >= 0 ? (char)im->u2b[cp] : '?';
            i += cl;
        }
    } else if (n == 6 && sscanf(p, "<0x%02X>", &byte) == 1)
        buf[k++] = (char)byte;
    else {
        size_t rn;
        char *r = ptq_replace_all(p, n, "\xe2\x96\x81", " ", &rn);
        if (!r) return 0;
        const char *q = r;
        if (im->dec_strip && (prev < 0 || (prev < t->vocab_size && im->special[prev])) && rn && q[0] == ' ') q++, rn--;
        k = (int)(rn < (size_t)cap - 1 ? rn : (size_t)cap - 1);
        memcpy(buf, q, k);
        free(r);
    }
    buf[k] = 0;
    return k;
}

static void hf_destroy(ptq_tokenizer *t) {
    hf_impl *im = t->impl;
    if (im) {
        for (int i = 0; im->piece && i < t->vocab_size; i++)
            free(im->piece[i]);
        free(im->piece), free(im->plen), free(im->special), free(im->vocab.a), free(im->merges);
        for (int i = 0; i < im->n_pre; i++)
            pcre2_code_free(im->pre[i].re);
        pcre2_match_context_free(im->mctx);
        free(im);
    }
    free(t);
}

/* ---- loading ---- */
static const cJSON *jget(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jtrue(const cJSON *o, const char *k, int def) {
    const cJSON *v = jget(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static int compile_re(const char *pat, pcre2_code **re, const char *path, ptq_err *err) {
    int ec;
    PCRE2_SIZE eo;
    *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec,
                        &eo, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return ptq_fail(err, "%s: pre-tokenizer regex does not compile at offset %zu: %s", path, (size_t)eo,
                        (char *)msg);
    }
    return 0;
}

static int add_norm(hf_impl *im, const cJSON *n, const char *path, ptq_err *err) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *ty = jstr(n, "type");
    if (!ty) return ptq_fail(err, "%s: normalizer without a type", path);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a;
        cJSON_ArrayForEach(a, jget(n, "normalizers")) if (add_norm(im, a, path, err)) return -1;
        return 0;
    }
    if (!strcmp(ty, "NFC")) return 0; /* identity: see the header comment */
    if (im->n_norm == 8) return ptq_fail(err, "%s: too many normalizers", path);
    op *o = &im->norm[im->n_norm];
    memset(o, 0, sizeof *o);
    const char *s1 = NULL, *s2 = NULL;
    if (!strcmp(ty, "Prepend"))
        o->type = OP_PREPEND, s1 = jstr(n, "prepend"), s2 = "";
    else if (!strcmp(ty, "Replace"))
        o->type = OP_REPLACE, s1 = jstr(jget(n, "pattern"), "String"), s2 = jstr(n, "content");
    else
        return ptq_fail(err, "%s: normalizer type '%s' is not supported", path, ty);
    if (!s1 || !s2 || strlen(s1) >= 64 || strlen(s2) >= 64 || (o->type == OP_REPLACE && !*s1))
        return ptq_fail(err, "%s: normalizer '%s' needs short string arguments (Replace: String pattern only)", path,
                        ty);
    snprintf(o->a, sizeof o->a, "%s", s1);
    snprintf(o->b, sizeof o->b, "%s", s2);
    im->n_norm++;
    return 0;
}

static int add_pre(hf_impl *im, const cJSON *p, const char *path, ptq_err *err) {
    if (!p || cJSON_IsNull(p)) return 0;
    const char *ty = jstr(p, "type");
    if (!ty) return ptq_fail(err, "%s: pre_tokenizer without a type", path);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a;
        cJSON_ArrayForEach(a, jget(p, "pretokenizers")) if (add_pre(im, a, path, err)) return -1;
        return 0;
    }
    if (im->n_pre == 8) return ptq_fail(err, "%s: too many pre-tokenizers", path);
    op *o = &im->pre[im->n_pre];
    memset(o, 0, sizeof *o);
    if (!strcmp(ty, "Split")) {
        const char *re = jstr(jget(p, "pattern"), "Regex"), *beh = jstr(p, "behavior");
        if (!re || !beh || strcmp(beh, "Isolated") || jtrue(p, "invert", 0))
            return ptq_fail(err, "%s: Split pre-tokenizer: only a Regex pattern with behavior Isolated is supported",
                            path);
        o->type = OP_SPLIT;
        if (compile_re(re, &o->re, path, err)) return -1;
    } else if (!strcmp(ty, "ByteLevel")) {
        o->type = OP_BYTELEVEL;
        o->prefix_space = jtrue(p, "add_prefix_space", 0);
        if (jtrue(p, "use_regex", 1) && compile_re(GPT2_RE, &o->re, path, err)) return -1;
        im->bytelevel = 1;
    } else if (!strcmp(ty, "Metaspace")) {
        const char *rep = jstr(p, "replacement"), *sch = jstr(p, "prepend_scheme");
        o->type = OP_METASPACE;
        snprintf(o->a, sizeof o->a, "%s", rep ? rep : "\xe2\x96\x81");
        o->prefix_space = sch ? strcmp(sch, "never") != 0 : jtrue(p, "add_prefix_space", 1);
        o->first_only = sch && !strcmp(sch, "first");
        o->split = jtrue(p, "split", 1);
    } else if (!strcmp(ty, "Digits") && !jtrue(p, "individual_digits", 0)) {
        return ptq_fail(err, "%s: Digits pre-tokenizer without individual_digits is not supported", path);
    } else if (!strcmp(ty, "Digits"))
        o->type = OP_DIGITS;
    else
        return ptq_fail(err, "%s: pre_tokenizer type '%s' is not supported", path, ty);
    im->n_pre++;
    return 0;
}

static void scan_decoder(hf_impl *im, const cJSON *d) {
    const char *ty = jstr(d, "type");
    if (!ty) return;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a;
        cJSON_ArrayForEach(a, jget(d, "decoders")) scan_decoder(im, a);
    } else if (!strcmp(ty, "ByteLevel"))
        im->dec_bytelevel = 1;
    else if (!strcmp(ty, "Strip")) {
        const cJSON *st = jget(d, "start");
        im->dec_strip = cJSON_IsNumber(st) && st->valuedouble >= 1;
    } else if (!strcmp(ty, "Metaspace"))
        im->dec_strip = 1;
}

/* The first SpecialToken of the single-sequence template, or -1. */
static int template_bos(const cJSON *pp, const hf_impl *im, const strmap *vocab) {
    const char *ty = jstr(pp, "type");
    if (!ty) return -1;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a;
        cJSON_ArrayForEach(a, jget(pp, "processors")) {
            int b = template_bos(a, im, vocab);
            if (b >= 0) return b;
        }
        return -1;
    }
    if (strcmp(ty, "TemplateProcessing")) return -1;
    const cJSON *first = cJSON_GetArrayItem(jget(pp, "single"), 0);
    const char *name = jstr(jget(first, "SpecialToken"), "id");
    return name ? map_get(vocab, name, strlen(name)) : -1;
}

static int token_of(const cJSON *v, const strmap *vocab) { /* "str" or {"content": "str"} */
    const char *s = cJSON_IsString(v) ? v->valuestring : jstr(v, "content");
    return s ? map_get(vocab, s, strlen(s)) : -1;
}

static int set_piece(ptq_tokenizer *t, hf_impl *im, int id, const char *s, const char *path, ptq_err *err) {
    if (id < 0 || id >= t->vocab_size) return ptq_fail(err, "%s: token id %d out of range", path, id);
    free(im->piece[id]);
    im->plen[id] = (int)strlen(s);
    if (!(im->piece[id] = malloc(im->plen[id] + 1))) return ptq_fail(err, "out of memory");
    memcpy(im->piece[id], s, im->plen[id] + 1);
    return 0;
}

static int load_json(ptq_tokenizer *t, hf_impl *im, const cJSON *j, const char *path, ptq_err *err) {
    const cJSON *model = jget(j, "model"), *vocab = jget(model, "vocab"), *merges = jget(model, "merges"), *a;
    const char *mt = jstr(model, "type");
    if (!cJSON_IsObject(model)) return ptq_fail(err, "%s: no 'model' object", path);
    if (!mt || strcmp(mt, "BPE"))
        return ptq_fail(err, "%s: tokenizer model type '%s' is not supported (only BPE)", path, mt ? mt : "(missing)");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return ptq_fail(err, "%s: BPE model needs a 'vocab' object and a 'merges' array", path);
    int maxid = -1;
    cJSON_ArrayForEach(a, vocab) {
        if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble >= (1 << 20))
            return ptq_fail(err, "%s: vocab['%.40s'] is not an id in 0..%d", path, a->string, (1 << 20) - 1);
        maxid = PTQ_MAX(maxid, (int)a->valuedouble);
    }
    cJSON_ArrayForEach(a, jget(j, "added_tokens")) {
        const cJSON *id = jget(a, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 20) || !jstr(a, "content"))
            return ptq_fail(err, "%s: added_tokens entry needs an id in range and a content string", path);
        maxid = PTQ_MAX(maxid, (int)id->valuedouble);
    }
    if (maxid < 0) return ptq_fail(err, "%s: empty vocabulary", path);
    t->vocab_size = maxid + 1;
    size_t cap = 1;
    while (cap < 2 * (size_t)t->vocab_size + 2)
        cap *= 2;
    if (!(im->piece = ptq_calloc(t->vocab_size, sizeof(char *), err)) ||
        !(im->plen = ptq_calloc(t->vocab_size, sizeof(int), err)) ||
        !(im->special = ptq_calloc(t->vocab_size, 1, err)) || !(im->vocab.a = ptq_calloc(cap, sizeof(hslot), err)))
        return -1;
    im->vocab.cap = cap;
    cJSON_ArrayForEach(a, vocab) if (set_piece(t, im, (int)a->valuedouble, a->string, path, err)) return -1;
    cJSON_ArrayForEach(a, jget(j, "added_tokens")) {
        int id = (int)jget(a, "id")->valuedouble;
        if (set_piece(t, im, id, jstr(a, "content"), path, err)) return -1;
        im->special[id] = (unsigned char)jtrue(a, "special", 1);
        if (im->n_added < 64) im->added[im->n_added++] = id;
    }
    for (int i = 0; i < im->n_added; i++) /* longest content first so prefixes lose */
        for (int k = i + 1; k < im->n_added; k++)
            if (im->plen[im->added[k]] > im->plen[im->added[i]]) {
                int x = im->added[i];
                im->added[i] = im->added[k], im->added[k] = x;
            }
    for (int i = 0; i < t->vocab_size; i++)
        if (im->piece[i]) map_put(&im->vocab, im->piece[i], im->plen[i], i);
    for (int b = 0; b < 256; b++) {
        char nm[8];
        snprintf(nm, sizeof nm, "<0x%02X>", b);
        im->byte_id[b] = map_get(&im->vocab, nm, 6);
    }
    /* merges: "a b" strings or [a, b] pairs; rank = position */
    int nm = cJSON_GetArraySize(merges);
    im->mcap = 1;
    while (im->mcap < 2 * (size_t)nm + 2)
        im->mcap *= 2;
    if (!(im->merges = ptq_calloc(im->mcap, sizeof(mslot), err))) return -1;
    int rank = 0;
    cJSON_ArrayForEach(a, merges) {
        char l[512], r[512];
        const char *sp = cJSON_IsString(a) ? strchr(a->valuestring + (a->valuestring[0] == ' '), ' ') : NULL;
        if (sp && (size_t)(sp - a->valuestring) < sizeof l && strlen(sp + 1) < sizeof r) {
            snprintf(l, sizeof l, "%.*s", (int)(sp - a->valuestring), a->valuestring);
            snprintf(r, sizeof r, "%s", sp + 1);
        } else if (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 2 && cJSON_IsString(cJSON_GetArrayItem(a, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(a, 1)) &&
                   strlen(cJSON_GetArrayItem(a, 0)->valuestring) < sizeof l &&
                   strlen(cJSON_GetArrayItem(a, 1)->valuestring) < sizeof r) {
            snprintf(l, sizeof l, "%s", cJSON_GetArrayItem(a, 0)->valuestring);
            snprintf(r, sizeof r, "%s", cJSON_GetArrayItem(a, 1)->valuestring);
        } else
            return ptq_fail(err, "%s: merges[%d] is not \"a b\" or [\"a\", \"b\"]", path, rank);
        char lr[1024];
        snprintf(lr, sizeof lr, "%s%s", l, r);
        int li = map_get(&im->vocab, l, strlen(l)), ri = map_get(&im->vocab, r, strlen(r)),
            mi = map_get(&im->vocab, lr, strlen(lr));
        if (li < 0 || ri < 0 || mi < 0)
            return ptq_fail(err, "%s: merges[%d] ('%s' + '%s') uses a piece missing from the vocab", path, rank, l, r);
        uint64_t key = ((uint64_t)(li + 1) << 32) | (uint64_t)(ri + 1);
        size_t i = (key * 0x9E3779B97F4A7C15ULL >> 20) & (im->mcap - 1);
        while (im->merges[i].key && im->merges[i].key != key)
            i = (i + 1) & (im->mcap - 1);
        if (!im->merges[i].key) im->merges[i] = (mslot){key, rank, mi}; /* first (lowest) rank wins */
        rank++;
    }
    const char *unk = jstr(model, "unk_token");
    im->unk_id = unk ? map_get(&im->vocab, unk, strlen(unk)) : -1;
    im->byte_fallback = jtrue(model, "byte_fallback", 0);
    im->fuse_unk = jtrue(model, "fuse_unk", 0);
    im->ignore_merges = jtrue(model, "ignore_merges", 0);
    if (add_norm(im, jget(j, "normalizer"), path, err) || add_pre(im, jget(j, "pre_tokenizer"), path, err)) return -1;
    scan_decoder(im, jget(j, "decoder"));
    /* GPT-2 byte <-> unicode map */
    for (int i = 0; i < 512; i++)
        im->u2b[i] = -1;
    for (int b = 0, extra = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        im->b2u[b] = printable ? b : 256 + extra++;
        im->u2b[im->b2u[b]] = b;
    }
    t->bos_id = template_bos(jget(j, "post_processor"), im, &im->vocab);
    t->add_bos = t->bos_id >= 0;
    return 0;
}

/* bos_token / eos_token names from tokenizer_config.json beside the file. */
static void read_token_config(ptq_tokenizer *t, const hf_impl *im, const char *path) {
    char cpath[4200], *text;
    size_t len;
    const char *slash = strrchr(path, '/');
    snprintf(cpath, sizeof cpath, "%.*s%stokenizer_config.json", slash ? (int)(slash - path) : 0, path,
             slash ? "/" : "");
    if (!ptq_file_exists(cpath) || ptq_read_file(cpath, &text, &len, NULL)) return;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    int b = token_of(jget(j, "bos_token"), &im->vocab), e = token_of(jget(j, "eos_token"), &im->vocab);
    if (b >= 0) t->bos_id = b;
    if (e >= 0) t->eos_id = e;
    cJSON_Delete(j);
}

int ptq_tokenizer_load_hf(ptq_tokenizer **out, const char *path, ptq_err *err) {
    *out = NULL;
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ptq_fail(err, "%s: malformed JSON (expected a tokenizer.json object)", path);
    }
    int rc = ptq_tokenizer_load_hf_obj(out, j, path, err);
    cJSON_Delete(j);
    if (!rc) read_token_config(*out, (*out)->impl, path);
    return rc;
}

int ptq_tokenizer_load_hf_obj(ptq_tokenizer **out, const cJSON *j, const char *path, ptq_err *err) {
    *out = NULL;
    ptq_tokenizer *t = ptq_calloc(1, sizeof *t, err);
    hf_impl *im = t ? ptq_calloc(1, sizeof *im, err) : NULL;
    if (!im) {
        free(t);
        return -1;
    }
    t->impl = im;
    t->destroy = hf_destroy;
    t->encode = hf_encode;
    t->decode = hf_decode;
    t->bos_id = t->eos_id = -1;
    snprintf(t->kind, sizeof t->kind, "hf-bpe");
    snprintf(t->path, sizeof t->path, "%s", path);
    int rc = 0;
    if (!(im->mctx = pcre2_match_context_create(NULL)))
        rc = ptq_fail(err, "out of memory");
    else {
        pcre2_set_match_limit(im->mctx, PTQ_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(im->mctx, PTQ_RE_DEPTH_LIMIT);
        rc = load_json(t, im, j, path, err);
    }
    if (rc) {
        hf_destroy(t);
        return -1;
    }
    *out = t;
    return 0;
}
