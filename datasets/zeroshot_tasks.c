/* zeroshot_tasks.c — task table and format loaders (see zeroshot_tasks.h).
 *
 * Formats in the assets (shared/assets/MANIFEST.md) and how each becomes
 * the lm-eval 0.4 template of EVAL.md:
 *  - llm-foundry multiple choice JSONL {query, choices, gold}: the task row's
 *    strip/pre/post rewrite the query (ARC: + "\nAnswer:"; BoolQ: drop
 *    "Passage: ", + "\nAnswer:"); continuations are " " + choice.
 *  - original PIQA valid.jsonl {goal, sol1, sol2} + valid-labels.lst:
 *    "Question: {goal}\nAnswer:" -> " {sol}" with the unstripped solutions,
 *    as lm-eval (the llm-foundry copy strips them).
 *  - llama.cpp 6-line HellaSwag text: context, gold, 4 endings. lm-eval's
 *    preprocess() is applied to both. The file lost the ctx_a/ctx_b split and
 *    ctx_b's capitalize(); we capitalise the first letter of the fragment
 *    after the last sentence end when it is lower case (that fragment is
 *    ctx_b for the ActivityNet items; WikiHow contexts end in a full
 *    sentence and are left alone). capitalize() also lower-cases the rest of
 *    ctx_b; we do not, since the boundary is inferred (the fragments are
 *    lower case already). Counted in ptq_zs_data.ctx_fixed.
 *  - llama.cpp WinoGrande CSV (libcsv): partial scoring like lm-eval:
 *    contexts sentence[:idx("_")] + option, one continuation
 *    " " + sentence[idx+1:].strip().
 *  - llm-foundry LAMBADA {context, continuation}: " " + last word. */
#include "zeroshot_tasks.h"

#include <cjson/cJSON.h>
#include <csv.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "datasets.h"

/* ---- small string helpers ---- */
static char *cat3(const char *a, const char *b, size_t blen, const char *c) {
    size_t la = strlen(a), lc = strlen(c);
    char *s = malloc(la + blen + lc + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, blen);
    memcpy(s + la + blen, c, lc + 1);
    return s;
}

int ptq_utf8_len(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ---- item storage ---- */
static ptq_zs_item *push_item(ptq_zs_data *d, int *cap, int nreq, ptq_err *err) {
    if (d->n == *cap) {
        int nc = *cap ? 2 * *cap : 1024;
        ptq_zs_item *ni = realloc(d->items, (size_t)nc * sizeof *ni);
        if (!ni) return ptq_fail(err, "out of memory loading zero-shot items"), NULL;
        d->items = ni;
        *cap = nc;
    }
    ptq_zs_item *it = &d->items[d->n];
    memset(it, 0, sizeof *it);
    it->ctx = calloc(nreq, sizeof(char *));
    it->cont = calloc(nreq, sizeof(char *));
    it->choice_len = calloc(nreq, sizeof(int));
    d->n++; /* counted now so ptq_zs_data_free releases a half-built item */
    if (!it->ctx || !it->cont || !it->choice_len) return ptq_fail(err, "out of memory"), NULL;
    it->n = nreq;
    return it;
}

static void free_item(ptq_zs_item *it) {
    for (int i = 0; i < it->n; i++) {
        if (it->ctx && (!it->shared_ctx || i == 0)) free(it->ctx[i]);
        if (it->cont) free(it->cont[i]);
    }
    free(it->ctx);
    free(it->cont);
    free(it->choice_len);
}

void ptq_zs_data_free(ptq_zs_data *d) {
    for (int i = 0; i < d->n; i++) free_item(&d->items[i]);
    free(d->items);
    memset(d, 0, sizeof *d);
}

/* Continuation " " + text; its choice length is len(text). */
static int set_choice(ptq_zs_item *it, int i, const char *text, ptq_err *err) {
    if (!(it->cont[i] = cat3(" ", text, strlen(text), ""))) return ptq_fail(err, "out of memory");
    it->choice_len[i] = ptq_utf8_len(text);
    return 0;
}

/* Shared context: pre + (src minus required prefix strip) + post. */
static int set_shared_ctx(const ptq_zs_task *t, ptq_zs_item *it, const char *src, const char *where, int line,
                          const char *field, ptq_err *err) {
    size_t ls = t->strip ? strlen(t->strip) : 0;
    if (ls && strncmp(src, t->strip, ls) != 0)
        return ptq_fail(err, "%s:%d: field \"%s\" does not start with \"%s\" (expected the llm-foundry format)", where,
                        line, field, t->strip);
    char *c = cat3(t->pre ? t->pre : "", src + ls, strlen(src + ls), t->post ? t->post : "");
    if (!c) return ptq_fail(err, "out of memory");
    for (int i = 0; i < it->n; i++) it->ctx[i] = c;
    it->shared_ctx = 1;
    return 0;
}

/* ---- JSONL line walker ---- */
typedef int (*line_fn)(const ptq_zs_task *t, const cJSON *o, const char *path, int line, ptq_zs_data *d, int *cap,
                       ptq_err *err);

static int walk_jsonl(const ptq_zs_task *t, const char *path, line_fn fn, ptq_zs_data *d, int *cap, ptq_err *err) {
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    const char *p = text, *end = text + len;
    int line = 0, rc = 0;
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        size_t k = 0;
        while (k < l && isspace((unsigned char)p[k])) k++;
        if (k < l) { /* blank lines are not items */
            cJSON *o = cJSON_ParseWithLength(p, l);
            if (!cJSON_IsObject(o)) rc = ptq_fail(err, "%s:%d: malformed JSON line (expected one object)", path, line);
            else rc = fn(t, o, path, line, d, cap, err);
            cJSON_Delete(o);
        }
        p = nl ? nl + 1 : end;
    }
    free(text);
    return rc;
}

static const char *get_str(const cJSON *o, const char *key, const char *path, int line, ptq_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) {
        ptq_fail(err, "%s:%d: missing or non-string field \"%s\"", path, line, key);
        return NULL;
    }
    return v->valuestring;
}

static int get_gold(const cJSON *o, int n, const char *path, int line, int *gold, ptq_err *err) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gold");
    if (!cJSON_IsNumber(g) || g->valuedouble != floor(g->valuedouble))
        return ptq_fail(err, "%s:%d: missing or non-integer field \"gold\"", path, line);
    if (!(g->valuedouble >= 0 && g->valuedouble < n)) /* before any conversion to int (1e51 is UB there) */
        return ptq_fail(err, "%s:%d: gold index %g out of range 0..%d", path, line, g->valuedouble, n - 1);
    *gold = (int)g->valuedouble;
    return 0;
}

/* ---- format: llm-foundry multiple choice {query, choices, gold} ---- */
static int foundry_mc_line(const ptq_zs_task *t, const cJSON *o, const char *path, int line, ptq_zs_data *d,
                           int *cap, ptq_err *err) {
    const char *q = get_str(o, "query", path, line, err);
    if (!q) return -1;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!cJSON_IsArray(ch)) return ptq_fail(err, "%s:%d: missing or non-array field \"choices\"", path, line);
    int n = cJSON_GetArraySize(ch);
    if (n < 2) return ptq_fail(err, "%s:%d: \"choices\" has %d entries, need at least 2", path, line, n);
    int gold = 0;
    if (get_gold(o, n, path, line, &gold, err)) return -1;
    ptq_zs_item *it = push_item(d, cap, n, err);
    if (!it || set_shared_ctx(t, it, q, path, line, "query", err)) return -1;
    it->gold = gold;
    for (int i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(ch, i);
        if (!cJSON_IsString(c) || !c->valuestring[0])
            return ptq_fail(err, "%s:%d: choices[%d] is empty or not a string", path, line, i);
        if (set_choice(it, i, c->valuestring, err)) return -1;
    }
    return 0;
}

/* ---- format: llm-foundry LAMBADA {context, continuation} ---- */
static int lambada_line(const ptq_zs_task *t, const cJSON *o, const char *path, int line, ptq_zs_data *d, int *cap,
                        ptq_err *err) {
    const char *c = get_str(o, "context", path, line, err), *w = c ? get_str(o, "continuation", path, line, err) : NULL;
    if (!w) return -1;
    if (!w[0]) return ptq_fail(err, "%s:%d: empty \"continuation\"", path, line);
    ptq_zs_item *it = push_item(d, cap, 1, err);
    if (!it || set_shared_ctx(t, it, c, path, line, "context", err)) return -1;
    return set_choice(it, 0, w, err);
}

/* llm-foundry JSONL: LAMBADA items for a greedy task, multiple choice otherwise. */
static int load_foundry(const ptq_zs_task *t, const char *path, const char *path2, ptq_zs_data *d, ptq_err *err) {
    (void)path2;
    int cap = 0;
    return walk_jsonl(t, path, t->kind == PTQ_ZS_GREEDY ? lambada_line : foundry_mc_line, d, &cap, err);
}

/* ---- format: original PIQA valid.jsonl + valid-labels.lst ---- */
static int piqa_line(const ptq_zs_task *t, const cJSON *o, const char *path, int line, ptq_zs_data *d, int *cap,
                     ptq_err *err) {
    const char *g = get_str(o, "goal", path, line, err);
    const char *s1 = g ? get_str(o, "sol1", path, line, err) : NULL;
    const char *s2 = s1 ? get_str(o, "sol2", path, line, err) : NULL;
    if (!s2) return -1;
    if (!s1[0] || !s2[0]) return ptq_fail(err, "%s:%d: empty solution", path, line);
    ptq_zs_item *it = push_item(d, cap, 2, err);
    if (!it || set_shared_ctx(t, it, g, path, line, "goal", err)) return -1;
    it->gold = -1; /* filled from the labels file */
    return set_choice(it, 0, s1, err) || set_choice(it, 1, s2, err) ? -1 : 0;
}

static int load_piqa(const ptq_zs_task *t, const char *path, const char *labels, ptq_zs_data *d, ptq_err *err) {
    int cap = 0;
    if (walk_jsonl(t, path, piqa_line, d, &cap, err)) return -1;
    char *text;
    size_t len;
    if (ptq_read_file(labels, &text, &len, err)) return -1;
    int n = 0, line = 0, rc = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && !rc; l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (strcmp(l, "0") && strcmp(l, "1") && strcmp(l, "0\r") && strcmp(l, "1\r"))
            rc = ptq_fail(err, "%s:%d: expected a label 0 or 1, got '%.20s'", labels, line, l);
        else if (n >= d->n) rc = ptq_fail(err, "%s:%d: more labels than the %d items of %s", labels, line, d->n, path);
        else d->items[n++].gold = l[0] - '0';
    }
    free(text);
    if (!rc && n != d->n) rc = ptq_fail(err, "%s: %d labels for %d items in %s", labels, n, d->n, path);
    return rc;
}

/* ---- format: llama.cpp HellaSwag (6 lines per task) ---- */
/* lm-eval hellaswag preprocess(); `\[.*?\]` through PCRE2. */
char *ptq_zs_hellaswag_preprocess(const char *s) {
    static pcre2_code *re;
    if (!re) {
        int ec;
        PCRE2_SIZE eo;
        re = pcre2_compile((PCRE2_SPTR) "\\[.*?\\]", PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
        if (!re) return NULL;
    }
    size_t b = 0, e = strlen(s), n;
    while (b < e && isspace((unsigned char)s[b])) b++;
    while (e > b && isspace((unsigned char)s[e - 1])) e--;
    char *st = cat3("", s + b, e - b, ""), *t1 = st ? ptq_replace_all(st, strlen(st), " [title]", ". ", &n) : NULL;
    free(st);
    if (!t1) return NULL;
    PCRE2_SIZE olen = strlen(t1) + 1;
    char *t2 = malloc(olen);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = t2 && md ? pcre2_substitute(re, (PCRE2_SPTR)t1, PCRE2_ZERO_TERMINATED, 0, PCRE2_SUBSTITUTE_GLOBAL, md,
                                         NULL, (PCRE2_SPTR) "", 0, (PCRE2_UCHAR *)t2, &olen)
                      : -1;
    pcre2_match_data_free(md);
    free(t1);
    if (rc < 0) {
        free(t2);
        return NULL;
    }
    char *t3 = ptq_replace_all(t2, strlen(t2), "  ", " ", &n);
    free(t2);
    return t3;
}

/* Capitalise ctx_b: the fragment after the last ". ", "! " or "? " (or after
 * "label: ") when it starts with a lower-case ASCII letter. */
static int capitalise_ctx_b(char *s) {
    char *start = strstr(s, ": ");
    start = start ? start + 2 : s;
    for (char *p = start; *p; p++)
        if ((p[0] == '.' || p[0] == '!' || p[0] == '?') && p[1] == ' ') start = p + 2;
    if (*start >= 'a' && *start <= 'z') {
        *start = (char)toupper((unsigned char)*start);
        return 1;
    }
    return 0;
}

static int load_hellaswag(const ptq_zs_task *t, const char *path, const char *path2, ptq_zs_data *d, ptq_err *err) {
    (void)path2;
    (void)t;
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    char *lines[6];
    int cap = 0, nl = 0, line = 0, rc = 0;
    for (char *p = text, *end = text + len; p < end && !rc;) {
        char *q = memchr(p, '\n', (size_t)(end - p));
        if (q) *q = 0;
        lines[nl++] = p;
        line++;
        p = q ? q + 1 : end;
        if (nl < 6) continue;
        nl = 0;
        char *gend;
        long gold = strtol(lines[1], &gend, 10);
        if (gend == lines[1] || *gend || gold < 0 || gold > 3) {
            rc = ptq_fail(err, "%s:%d: expected a gold index 0..3, got '%.20s'", path, line - 4, lines[1]);
            break;
        }
        ptq_zs_item *it = push_item(d, &cap, 4, err);
        char *ctx = it ? ptq_zs_hellaswag_preprocess(lines[0]) : NULL;
        if (!ctx) {
            rc = it ? ptq_fail(err, "out of memory") : -1;
            break;
        }
        if (!ctx[0]) {
            free(ctx);
            rc = ptq_fail(err, "%s:%d: empty context", path, line - 5);
            break;
        }
        d->ctx_fixed += capitalise_ctx_b(ctx);
        for (int i = 0; i < 4; i++) it->ctx[i] = ctx;
        it->shared_ctx = 1;
        it->gold = (int)gold;
        for (int i = 0; i < 4 && !rc; i++) {
            char *e = ptq_zs_hellaswag_preprocess(lines[2 + i]);
            if (!e) rc = ptq_fail(err, "out of memory");
            else if (!e[0]) rc = ptq_fail(err, "%s:%d: empty ending %d", path, line - 3 + i, i);
            else rc = set_choice(it, i, e, err);
            free(e);
        }
    }
    if (!rc && nl != 0)
        rc = ptq_fail(err, "%s:%d: truncated task (%d of 6 lines: context, gold, 4 endings)", path, line, nl);
    free(text);
    return rc;
}

/* ---- format: llama.cpp WinoGrande CSV (libcsv) ---- */
typedef struct {
    const char *path;
    char *f[5];
    int nf, row, rc;
    ptq_zs_data *d;
    int cap;
    ptq_err *err;
} wg_ctx;

static void wg_field(void *s, size_t len, void *data) {
    wg_ctx *w = data;
    if (w->rc) return;
    if (w->nf < 5) w->f[w->nf] = cat3("", s ? s : "", s ? len : 0, "");
    w->nf++;
}

static int wg_item(wg_ctx *w) {
    const char *path = w->path;
    int row = w->row;
    if (w->nf != 5) return ptq_fail(w->err, "%s: row %d: %d fields, expected 5 (index,sentence,option1,option2,answer)",
                                    path, row, w->nf);
    if (row == 1) return strcmp(w->f[1], "sentence") ? ptq_fail(w->err, "%s: row 1: expected the header", path) : 0;
    const char *sent = w->f[1], *us = strchr(sent, '_');
    if (!us) return ptq_fail(w->err, "%s: row %d: sentence has no \"_\" blank", path, row);
    if (strcmp(w->f[4], "1") && strcmp(w->f[4], "2"))
        return ptq_fail(w->err, "%s: row %d: answer must be 1 or 2, got '%.20s'", path, row, w->f[4]);
    if (!w->f[2][0] || !w->f[3][0]) return ptq_fail(w->err, "%s: row %d: empty option", path, row);
    const char *rest = us + 1, *rend = rest + strlen(rest);
    while (*rest && isspace((unsigned char)*rest)) rest++;
    while (rend > rest && isspace((unsigned char)rend[-1])) rend--;
    if (rend == rest) return ptq_fail(w->err, "%s: row %d: nothing after the blank to score", path, row);
    ptq_zs_item *it = push_item(w->d, &w->cap, 2, w->err);
    if (!it) return -1;
    it->gold = w->f[4][0] - '1';
    for (int i = 0; i < 2; i++) {
        it->ctx[i] = cat3("", sent, (size_t)(us - sent), w->f[2 + i]);
        it->cont[i] = cat3(" ", rest, (size_t)(rend - rest), "");
        if (!it->ctx[i] || !it->cont[i]) return ptq_fail(w->err, "out of memory");
        it->choice_len[i] = ptq_utf8_len(it->cont[i]) - 1;
    }
    return 0;
}

static void wg_row(int c, void *data) {
    (void)c;
    wg_ctx *w = data;
    w->row++;
    if (!w->rc) w->rc = wg_item(w);
    for (int i = 0; i < 5; i++) free(w->f[i]), w->f[i] = NULL;
    w->nf = 0;
}

static int no_space(unsigned char c) {
    (void)c;
    return 0; /* keep every byte of a field */
}

static int load_winogrande_csv(const ptq_zs_task *t, const char *path, const char *path2, ptq_zs_data *d,
                               ptq_err *err) {
    (void)t;
    (void)path2;
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL)) {
        free(text);
        return ptq_fail(err, "csv_init failed");
    }
    csv_set_space_func(&p, no_space);
    wg_ctx w = {.path = path, .d = d, .err = err};
    size_t used = csv_parse(&p, text, len, wg_field, wg_row, &w);
    int perr = used != len;
    if (!perr && csv_fini(&p, wg_field, wg_row, &w)) perr = 1;
    if (perr && !w.rc) w.rc = ptq_fail(err, "%s: CSV syntax error near row %d: %s", path, w.row + 1,
                                       csv_strerror(csv_error(&p)));
    for (int i = 0; i < 5; i++) free(w.f[i]);
    csv_free(&p);
    free(text);
    return w.rc;
}

/* ---- the task table ---- */
const ptq_zs_task ptq_zs_task_table[] = {
    {"piqa", "zeroshot.piqa.valid.jsonl", "zeroshot.piqa.valid-labels.lst", load_piqa, NULL,
     "Question: ", "\nAnswer:", PTQ_ZS_CHOICE, 1, "original PIQA dev + labels"},
    {"arc_easy", "zeroshot.arc_easy", NULL, load_foundry, "Question: ", "Question: ", "\nAnswer:", PTQ_ZS_CHOICE, 1,
     "llm-foundry ARC-Easy test; every item 4-choice in the asset"},
    {"arc_challenge", "zeroshot.arc_challenge", NULL, load_foundry, "Question: ", "Question: ", "\nAnswer:",
     PTQ_ZS_CHOICE, 1, "llm-foundry ARC-Challenge test; every item 4-choice in the asset"},
    {"hellaswag", "zeroshot.hellaswag.hellaswag_val_full.txt", NULL, load_hellaswag, NULL, NULL, NULL, PTQ_ZS_CHOICE, 1,
     "llama.cpp HellaSwag val text; ctx_b capitalisation inferred"},
    {"winogrande", "zeroshot.winogrande.winogrande_xl_dev.llamacpp.csv", NULL, load_winogrande_csv, NULL, NULL, NULL,
     PTQ_ZS_CHOICE, 0, "xl dev, partial scoring, reconstructed llama.cpp CSV"},
    {"boolq", "zeroshot.boolq", NULL, load_foundry, "Passage: ", "", "\nAnswer:", PTQ_ZS_CHOICE, 0,
     "llm-foundry BoolQ validation"},
    {"lambada_openai", "zeroshot.lambada_openai", NULL, load_foundry, NULL, NULL, NULL, PTQ_ZS_GREEDY, 0,
     "llm-foundry LAMBADA (OpenAI detok) test"},
    {"openbookqa", "zeroshot.openbook_qa", NULL, load_foundry, NULL, NULL, NULL, PTQ_ZS_CHOICE, 1,
     "llm-foundry OpenBookQA main test"},
    {"copa", "zeroshot.copa", NULL, load_foundry, NULL, NULL, NULL, PTQ_ZS_CHOICE, 0, "llm-foundry COPA validation"},
    {"siqa2", "zeroshot.siqa", NULL, load_foundry, NULL, NULL, NULL, PTQ_ZS_CHOICE, 0,
     "2-choice lettered Social IQa variant (llm-foundry): NOT comparable with siqa"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};

const ptq_zs_task *ptq_zs_task_find(const char *name) {
    for (const ptq_zs_task *t = ptq_zs_task_table; t->name; t++)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

int ptq_zs_load_files(const ptq_zs_task *t, const char *path, const char *path2, ptq_zs_data *d, ptq_err *err) {
    memset(d, 0, sizeof *d);
    if (t->load(t, path, path2, d, err)) {
        ptq_zs_data_free(d);
        return ptq_wrap(err, "task %s", t->name);
    }
    if (d->n == 0) return ptq_fail(err, "task %s: %s has no items", t->name, path);
    return 0;
}

int ptq_zs_load(const ptq_zs_task *t, ptq_zs_data *d, ptq_err *err) {
    char path[4096], path2[4096], sha[65];
    memset(d, 0, sizeof *d);
    if (ptq_asset_open(t->asset, path, sizeof path, sha, err)) return ptq_wrap(err, "task %s", t->name);
    if (t->asset2 && ptq_asset_open(t->asset2, path2, sizeof path2, NULL, err))
        return ptq_wrap(err, "task %s", t->name);
    if (ptq_zs_load_files(t, path, t->asset2 ? path2 : NULL, d, err)) return -1;
    memcpy(d->sha256, sha, 65);
    return 0;
}
