/* test_tokenizer_hf.c — tokenizer.json BPE.
 *
 * 1. The TinyStories-656K asset (SentencePiece-style: Prepend/Replace ▁
 *    normalizer, no pre-tokenizer, rank merges): exact encodings computed
 *    with an independent naive Python BPE over the same tokenizer.json
 *    (lowest-rank adjacent pair, leftmost first, until none applies), and
 *    the token count of TinyStories stories 1-500 (BOS per story) from it.
 * 2. Byte-level BPE files written here (GPT-2 ByteLevel regex; LLaMA-3 Split
 *    regex + ByteLevel) with encodings worked out by hand: the pre-tokenizer
 *    regex decides whether the "3 4" merge may apply.
 * 3. Unsupported model types / broken files give errors naming the problem. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets.h"
#include "hf_checkpoint.h"
#include "testref.h"
#include "testutil.h"

static int check_ids(const ptq_tokenizer *t, const char *text, int bos, const int *want, int nwant) {
    int *ids, n, ok;
    ptq_err err;
    if (t->encode(t, text, strlen(text), bos, 0, &ids, &n, &err)) {
        fprintf(stderr, "encode '%s': %s\n", text, err.msg);
        return 0;
    }
    ok = n == nwant && (n == 0 || !memcmp(ids, want, sizeof(int) * n));
    if (!ok) {
        fprintf(stderr, "encode '%s': got", text);
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    char *back = ptq_tokenizer_decode_all(t, ids, n);
    const char *cmp = text[0] == ' ' && t->bos_id >= 0 && bos ? text + 1 : text; /* leading space is stripped */
    if (back && strcmp(back, cmp) && !strstr(text, "<|") && !strstr(text, "\xe2\x82\xac") &&
        !strstr(text, "\xc3\xbc")) {
        fprintf(stderr, "decode: '%s' != '%s'\n", back, cmp);
        ok = 0;
    }
    free(back);
    free(ids);
    return ok;
}

static void test_tinystories(void) {
    const char *p = tu_asset("models/tinystories-656k/tokenizer.json");
    if (!p) {
        printf("  skip: tinystories-656k asset not found\n");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p);
    *strrchr(dir, '/') = 0;
    ptq_tokenizer *t;
    ptq_err err;
    if (ptq_hf_open_tokenizer(dir, NULL, 2048, &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK(t->vocab_size == 2048 && t->bos_id == 1 && t->eos_id == 2 && t->add_bos == 1);
    CHECK(!strcmp(t->kind, "hf-bpe"));
    static const int e1[] = {1, 80, 147, 201, 282, 215, 286, 598, 629, 10};
    CHECK(check_ids(t, "Once upon a time, there was a little girl named Lily.", 1, e1, 10));
    /* the BOS text at the start of a prompt is the BOS itself, not a second one */
    CHECK(check_ids(t, "<|start_story|>Once upon a time, there was a little girl named Lily.", 1, e1, 10));
    static const int e2[] = {80, 1288, 139, 410, 555};
    CHECK(check_ids(t, "Hello world", 0, e2, 5));
    static const int e3[] = {80, 247, 411, 107, 72, 462, 50, 233, 300, 242, 174, 10};
    CHECK(check_ids(t, "The cat sat. \"Yes!\" she said.", 0, e3, 12));
    static const int e4[] = {80, 80, 656, 56, 149, 415, 53, 682};
    CHECK(check_ids(t, " leading space", 0, e4, 8));
    static const int e5[] = {80, 0, 1824, 15, 13, 0}; /* unknown code points -> one <unk> each (fused) */
    CHECK(check_ids(t,
                    "\xc3\xbc"
                    "ber 42\xe2\x82\xac",
                    0, e5, 6));
    CHECK(check_ids(t, "", 0, NULL, 0));
    /* decoding: the ▁ of the first piece after BOS is stripped */
    int ids[3] = {1, 80, 147};
    char *s = ptq_tokenizer_decode_all(t, ids, 3);
    CHECK(s && strcmp(s, "On") == 0); /* ▁ alone, then "On" */
    free(s);
    ptq_tokens tk;
    double t0 = ptq_now_sec();
    if (ptq_text_tokens("tinystories", t, &tk, &err) == 0) {
        printf("  tinystories stories 1-500: %ld tokens (BOS per story) in %.2f s\n", tk.n, ptq_now_sec() - t0);
        CHECK(tk.n == 97847);
        ptq_tokens_free(&tk);
    } else
        printf("  skip tinystories count: %s\n", err.msg);
    ptq_tokenizer_free(t);
}

static char tmpdir[256];

static void write_text(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

/* A byte-level vocabulary: ids 0..255 = the GPT-2 byte->unicode characters of
 * bytes 0..255, then merged pieces. */
static char *bytelevel_json(const char *pre, const char *post) {
    size_t cap = 1 << 16;
    char *j = malloc(cap);
    int n = snprintf(j, cap,
                     "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":300,\"content\":\"<|begin_of_text|>\","
                     "\"special\":true}],\"normalizer\":null,\"pre_tokenizer\":%s,\"post_processor\":%s,"
                     "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{",
                     pre, post);
    for (int b = 0, extra = 0; b < 256; b++) {
        int pr = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = pr ? b : 256 + extra++;
        char u[8];
        if (cp < 0x80)
            snprintf(u, sizeof u, "%s%c", cp == '"' || cp == '\\' ? "\\" : "", cp);
        else
            snprintf(u, sizeof u, "%c%c", 0xC0 | cp >> 6, 0x80 | (cp & 63));
        n += snprintf(j + n, cap - n, "\"%s\":%d,", u, b);
    }
    n += snprintf(j + n, cap - n,
                  "\"\xc4\xa0t\":256,\"he\":257,\"\xc4\xa0the\":258,\"is\":259,\"34\":260},"
                  "\"merges\":[\"\xc4\xa0 t\",\"h e\",[\"\xc4\xa0t\",\"he\"],\"i s\",\"3 4\"]}}");
    return j;
}

static ptq_tokenizer *load_tmp(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    ptq_tokenizer *t = NULL;
    ptq_err err;
    if (ptq_tokenizer_load_hf(&t, p, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        CHECK(0);
    }
    return t;
}

static void test_bytelevel(void) {
    char *j = bytelevel_json("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}",
                             "{\"type\":\"ByteLevel\"}");
    write_text("gpt2.json", j);
    free(j);
    ptq_tokenizer *t = load_tmp("gpt2.json");
    if (t) {
        CHECK(t->bos_id == -1 && t->add_bos == 0);
        static const int a[] = {116, 257, 32, 259, 258};
        CHECK(check_ids(t, "the is the", 0, a, 5));
        static const int b[] = {72, 105, 32, 49, 50, 260, 53}; /* GPT-2 keeps " 12345" whole: 3 4 merges */
        CHECK(check_ids(t, "Hi 12345", 0, b, 7));
        static const int c[] = {195, 169, 10}; /* é = C3 A9, newline: raw bytes */
        CHECK(check_ids(t, "\xc3\xa9\n", 0, c, 3));
        ptq_tokenizer_free(t);
    }
    /* LLaMA-3 style: Split regex (digits in runs of 3) + ByteLevel without regex, BOS template */
    j = bytelevel_json(
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+"
        "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}",
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|begin_of_text|>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]}");
    write_text("llama3.json", j);
    free(j);
    t = load_tmp("llama3.json");
    if (t) {
        CHECK(t->bos_id == 300 && t->add_bos == 1);
        static const int a[] = {300, 72, 105, 32, 49, 50, 51, 52, 53}; /* "123" "45": no 3-4 pair */
        CHECK(check_ids(t, "Hi 12345", 1, a, 9));
        static const int b[] = {116, 257, 32, 259, 258, 300, 33}; /* the added token is matched in the text */
        CHECK(check_ids(t, "the is the<|begin_of_text|>!", 0, b, 7));
        ptq_tokenizer_free(t);
    }
}

static void expect_fail(const char *name, const char *text, const char *needle) {
    write_text(name, text);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    ptq_tokenizer *t;
    ptq_err err = {""};
    int rc = ptq_tokenizer_load_hf(&t, p, &err);
    CHECK(rc == -1);
    if (rc == 0)
        ptq_tokenizer_free(t);
    else if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    }
}

static void test_bad(void) {
    expect_fail("wp.json", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", "model type 'WordPiece'");
    expect_fail("uni.json", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", "model type 'Unigram'");
    expect_fail("nomodel.json", "{\"version\":\"1.0\"}", "no 'model'");
    expect_fail("trunc.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0", "malformed JSON");
    expect_fail("merge.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                "missing from the vocab");
    expect_fail("id.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-3},\"merges\":[]}}", "not an id");
    expect_fail("re.json",
                "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"},"
                "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                "does not compile");
    expect_fail("norm.json",
                "{\"normalizer\":{\"type\":\"NFKD\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                "normalizer type 'NFKD'");
    expect_fail("pre.json",
                "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
                "\"merges\":[]}}",
                "pre_tokenizer type 'BertPreTokenizer'");
    ptq_tokenizer *t;
    ptq_err err;
    CHECK(ptq_tokenizer_load_hf(&t, "/nonexistent/tokenizer.json", &err) == -1);
    /* A pre-tokenizer regex with catastrophic backtracking: an error within
     * PCRE2's match limit, not a stall and not a silent "no more matches". */
    char *j = bytelevel_json("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{"
                             "\"Regex\":\"(a|aa)+$\"},\"behavior\":\"Isolated\",\"invert\":false},"
                             "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}",
                             "{\"type\":\"ByteLevel\"}");
    write_text("backtrack.json", j);
    free(j);
    if ((t = load_tmp("backtrack.json"))) {
        char text[80];
        memset(text, 'a', 60), text[60] = 'b', text[61] = 0;
        int *ids = NULL, n = 0;
        double t0 = ptq_now_sec();
        CHECK(t->encode(t, text, strlen(text), 0, 0, &ids, &n, &err) == -1 && strstr(err.msg, "regex"));
        CHECK(ptq_now_sec() - t0 < 10.0);
        free(ids);
        ptq_tokenizer_free(t);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ptq_tokhf_%d", (int)getpid());
    ptq_err err;
    CHECK(ptq_mkdir_p(tmpdir, &err) == 0);
    test_tinystories();
    test_bytelevel();
    test_bad();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_done("test_tokenizer_hf");
}
