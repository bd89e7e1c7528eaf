/* test_qspec.c — bit-spec grammar: canonical forms and precise errors. */
#include <math.h>
#include <string.h>

#include "qspec.h"
#include "testutil.h"

static void ok(const char *s, const char *canon, int w, int a, int kv, int g, int sym, float clip, int mse) {
    ptq_qspec q;
    ptq_err err = {{0}};
    int rc = ptq_qspec_parse(s, &q, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  '%s': %s\n", s, err.msg);
        return;
    }
    CHECK(!strcmp(ptq_qspec_str(&q), canon));
    if (strcmp(q.text, canon)) fprintf(stderr, "  '%s' -> '%s', want '%s'\n", s, q.text, canon);
    CHECK(q.w_bits == w && q.a_bits == a && q.kv_bits == kv && q.w_group == g && q.w_sym == sym && q.w_mse == mse);
    CHECK_NEAR(q.a_clip, clip, 1e-7);
}

static void bad(const char *s, const char *needle) {
    ptq_qspec q;
    ptq_err err = {{0}};
    CHECK(ptq_qspec_parse(s, &q, &err) == -1);
    CHECK(strstr(err.msg, needle) != NULL);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "  '%s': message '%s' lacks '%s'\n", s ? s : "(null)", err.msg, needle);
}

int main(void) {
    ok("W6A6", "W6A6", 6, 6, 16, 0, -1, 0, 0);
    ok("W4A4KV4", "W4A4KV4", 4, 4, 4, 0, -1, 0, 0);
    ok("w3a3", "W3A3", 3, 3, 16, 0, -1, 0, 0);
    ok("W4A16-g128", "W4A16-g128", 4, 16, 16, 128, -1, 0, 0);
    ok("W2A16", "W2A16", 2, 16, 16, 0, -1, 0, 0);
    ok("W4", "W4A16", 4, 16, 16, 0, -1, 0, 0);
    ok("W16A16", "W16A16", 16, 16, 16, 0, -1, 0, 0);
    ok("W16A16KV16", "W16A16", 16, 16, 16, 0, -1, 0, 0);
    ok("W3A3-asym", "W3A3-asym", 3, 3, 16, 0, 0, 0, 0);
    ok("W4A4-SYM-clip0.9", "W4A4-sym-clip0.9", 4, 4, 16, 0, 1, 0.9f, 0);
    ok("W4A8KV4-mse-g64", "W4A8KV4-g64-mse", 4, 8, 4, 64, -1, 0, 1);
    ok("W8KV8", "W8A16KV8", 8, 16, 8, 0, -1, 0, 0);

    bad(NULL, "empty");
    bad("", "empty");
    bad("A4W4", "must start with 'W<bits>'");
    bad("W", "expected a number of bits after 'W'");
    bad("W1A4", "W bits 1 not supported");
    bad("W9", "W bits 9 not supported");
    bad("W4A12", "A bits 12 not supported");
    bad("W4A4KV", "after 'KV'");
    bad("W4A4KV32", "KV bits 32");
    bad("W4A4x", "unexpected 'x' at position 4");
    bad("W4A4-g0", "group size");
    bad("W4A4-gx", "group size");
    bad("W4A4-clip1.5", "clip ratio");
    bad("W4A4-clip", "unknown option '-clip'");
    bad("W4A4-foo", "unknown option '-foo'");
    bad("W4A4--mse", "empty");
    bad("W4A4-mse-mse", "-mse given twice");
    bad("W4A4-sym-asym", "-sym/-asym given twice");
    bad("W4A4KV4A4", "unexpected 'A'");
    return tu_done("test_qspec");
}
