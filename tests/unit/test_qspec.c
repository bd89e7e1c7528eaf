/* test_qspec.c — bit-spec grammar: canonical forms, round trips and precise
 * errors (every error names the position at fault). */
#include <math.h>
#include <string.h>

#include "qspec.h"
#include "testutil.h"

/* Fields that the canonical form must reproduce exactly. */
static int same_fields(const ptq_qspec *a, const ptq_qspec *b) {
    return a->w_bits == b->w_bits && a->a_bits == b->a_bits && a->kv_bits == b->kv_bits && a->w_group == b->w_group &&
           a->w_sym == b->w_sym && a->w_mse == b->w_mse && a->a_clip == b->a_clip && a->a_sym == b->a_sym &&
           a->a_group == b->a_group && a->kv_sym == b->kv_sym && a->kv_group == b->kv_group &&
           a->kv_clip == b->kv_clip && !strcmp(a->text, b->text);
}

/* Parse s, expect canon; the canonical string parses to the same struct. */
static const ptq_qspec *ok(const char *s, const char *canon) {
    static ptq_qspec q;
    ptq_qspec r;
    ptq_err err = {{0}};
    int rc = ptq_qspec_parse(s, &q, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  '%s': %s\n", s, err.msg);
        memset(&q, 0, sizeof q);
        return &q;
    }
    CHECK(!strcmp(ptq_qspec_str(&q), canon));
    if (strcmp(q.text, canon)) fprintf(stderr, "  '%s' -> '%s', want '%s'\n", s, q.text, canon);
    CHECK(ptq_qspec_parse(q.text, &r, &err) == 0 && same_fields(&q, &r));
    ptq_qspec f = q;
    ptq_qspec_format(&f);
    CHECK(!strcmp(f.text, q.text));
    return &q;
}

static void w(const ptq_qspec *q, int wb, int ab, int kvb, int g, int sym, int mse) {
    CHECK(q->w_bits == wb && q->a_bits == ab && q->kv_bits == kvb && q->w_group == g && q->w_sym == sym &&
          q->w_mse == mse);
}

static void act(const ptq_qspec *q, float clip, int sym, int group) {
    CHECK_NEAR(q->a_clip, clip, 1e-7);
    CHECK(q->a_sym == sym && q->a_group == group);
}

static void kv(const ptq_qspec *q, int sym, int group, float clip) {
    CHECK(q->kv_sym == sym && q->kv_group == group);
    CHECK_NEAR(q->kv_clip, clip, 1e-7);
}

static void bad(const char *s, const char *needle, int pos) {
    ptq_qspec q;
    ptq_err err = {{0}};
    CHECK(ptq_qspec_parse(s, &q, &err) == -1);
    char at[32];
    snprintf(at, sizeof at, "position %d", pos);
    int good = strstr(err.msg, needle) && (pos < 0 || strstr(err.msg, at));
    CHECK(good);
    if (!good)
        fprintf(stderr, "  '%s': message '%s' lacks '%s'%s%s\n", s ? s : "(null)", err.msg, needle,
                pos < 0 ? "" : " or ", pos < 0 ? "" : at);
}

int main(void) {
    /* the existing canonical strings (result ids contain them) */
    w(ok("W6A6", "W6A6"), 6, 6, 16, 0, -1, 0);
    w(ok("W4A4KV4", "W4A4KV4"), 4, 4, 4, 0, -1, 0);
    w(ok("w3a3", "W3A3"), 3, 3, 16, 0, -1, 0);
    w(ok("W4A16-g128", "W4A16-g128"), 4, 16, 16, 128, -1, 0);
    w(ok("W2A16", "W2A16"), 2, 16, 16, 0, -1, 0);
    w(ok("W4", "W4A16"), 4, 16, 16, 0, -1, 0);
    w(ok("W16A16", "W16A16"), 16, 16, 16, 0, -1, 0);
    w(ok("W16A16KV16", "W16A16"), 16, 16, 16, 0, -1, 0);
    w(ok("W3A3-asym", "W3A3-asym"), 3, 3, 16, 0, 0, 0);
    w(ok("W8KV8", "W8A16KV8"), 8, 16, 8, 0, -1, 0);
    w(ok("W4A8KV4-mse-g64", "W4A8KV4-g64-mse"), 4, 8, 4, 64, -1, 1);
    const ptq_qspec *q = ok("W4A4-SYM-clip0.9", "W4A4-sym-clip0.9");
    w(q, 4, 4, 16, 0, 1, 0);
    act(q, 0.9f, -1, -1);
    kv(q, -1, -1, 0);
    act(ok("W4A4KV4-clip0.95", "W4A4KV4-clip0.95"), 0.95f, -1, -1);
    act(ok("W4A4KV4-mse-clip0.9", "W4A4KV4-clip0.9-mse"), 0.9f, -1, -1);

    /* activation and KV options */
    act(ok("W4A4-a:asym", "W4A4-a:asym"), 0, 0, -1);
    act(ok("W8A8-A:SYM-a:g64", "W8A8-a:sym-a:g64"), 0, 1, 64);
    act(ok("W4A4-a:clip0.8", "W4A4-clip0.8"), 0.8f, -1, -1); /* -a:clip is -clip */
    act(ok("W4A4-a:g0", "W4A4-a:g0"), 0, -1, 0);
    kv(ok("W4A4KV4-kv:g64", "W4A4KV4-kv:g64"), -1, 64, 0);
    kv(ok("W4A4KV4-kv:sym-kv:clip0.95-kv:g0", "W4A4KV4-kv:sym-kv:g0-kv:clip0.95"), 1, 0, 0.95f);
    q = ok("w4a8kv4-KV:ASYM-a:asym-mse-clip0.85-g128-asym-kv:clip1-a:g32-kv:g128",
           "W4A8KV4-g128-asym-clip0.85-mse-a:asym-a:g32-kv:asym-kv:g128-kv:clip1");
    w(q, 4, 8, 4, 128, 0, 1);
    act(q, 0.85f, 0, 32);
    kv(q, 0, 128, 1.f);
    /* the canonical form keeps every digit the stored float needs: ratios
     * that differ in the 7th digit stay distinct cells */
    act(ok("W4A4-clip0.1234567", "W4A4-clip0.1234567"), 0.1234567f, -1, -1);
    act(ok("W4A4-clip0.1234568", "W4A4-clip0.1234568"), 0.1234568f, -1, -1);
    act(ok("W4A4-clip0.123456789", "W4A4-clip0.12345679"), 0.123456789f, -1, -1);
    kv(ok("W4A4KV4-kv:clip0.99999994", "W4A4KV4-kv:clip0.99999994"), -1, -1, 0.99999994f);
    act(ok("W4A4-clip0.90000000001", "W4A4-clip0.9"), 0.9f, -1, -1);
    act(ok("W4A4-clip1", "W4A4-clip1"), 1.f, -1, -1);

    bad(NULL, "empty", -1);
    bad("", "empty", -1);
    bad("A4W4", "must start with 'W<bits>'", 0);
    bad("W", "expected a number of bits after 'W'", 1);
    bad("W1A4", "W bits 1 not supported", 1);
    bad("W9", "W bits 9 not supported", 1);
    bad("W4A12", "A bits 12 not supported", 3);
    bad("W4A4KV", "after 'KV'", 6);
    bad("W4A4KV32", "KV bits 32", 6);
    bad("W4A4x", "unexpected 'x'", 4);
    bad("W4A4KV4A4", "unexpected 'A'", 7);
    bad("W4A4-g0", "group size", 4);
    bad("W4A4-gx", "group size", 4);
    bad("W4A4-g128x", "group size", 4);
    bad("W4A4-g70000", "group size", 4);
    bad("W4A4-clip1.5", "clip ratio", 4);
    bad("W4A4-clip0.001", "clip ratio", 4);
    bad("W4A4-clip", "unknown option '-clip'", 4);
    bad("W4A4-foo", "unknown option '-foo'", 4);
    bad("W4A4-a:mse", "unknown option '-a:mse'", 4);
    bad("W4A4-x:sym", "unknown option '-x:sym'", 4);
    bad("W4A4KV4-kv:bar", "unknown option '-kv:bar'", 7);
    bad("W4A4--mse", "empty option", 4);
    bad("W4A4-", "empty option", 4);
    bad("W4A4-mse-mse", "-mse given twice", 8);
    bad("W4A4-sym-asym", "-sym/-asym given twice", 8);
    bad("W4A4-clip0.9-a:clip0.8", "-clip (or -a:clip) given twice", 12);
    bad("W4A4KV4-kv:g64-kv:g32", "-kv:g given twice", 14);
    bad("W4A4-a:sym-a:asym", "-a:sym/-a:asym given twice", 10);
    bad("W4A4-a:g-1", "unknown option '-a:g'", 4);
    bad("W4A4KV4-kv:clip0", "clip ratio", 7);
    bad("W4A16-a:asym", "needs quantized activations (A<16)", 5);
    bad("W4A4-kv:g64", "needs quantized KV cache (KV<16)", 4);
    bad("W4A4KV16-kv:clip0.9", "-kv:clip at position 8 needs quantized KV cache", 8);
    return tu_done("test_qspec");
}
