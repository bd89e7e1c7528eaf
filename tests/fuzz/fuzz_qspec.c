/* fuzz_qspec.c — the bit-spec parser. Properties: a parse error names a
 * position inside the spec; a parsed spec's canonical form parses to the
 * identical struct (every field and the canonical text itself), and
 * formatting that struct again gives the same text. */
#define _GNU_SOURCE /* strcasestr */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qspec.h"

static int same(const ptq_qspec *a, const ptq_qspec *b) {
    return a->w_bits == b->w_bits && a->a_bits == b->a_bits && a->kv_bits == b->kv_bits && a->w_group == b->w_group &&
           a->w_sym == b->w_sym && a->w_mse == b->w_mse && a->a_clip == b->a_clip && a->a_sym == b->a_sym &&
           a->a_group == b->a_group && a->kv_sym == b->kv_sym && a->kv_group == b->kv_group &&
           a->kv_clip == b->kv_clip && !strcmp(a->text, b->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char s[300];
    if (size >= sizeof s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    ptq_qspec q, r;
    ptq_err err;
    if (ptq_qspec_parse(s, &q, &err)) {
        /* "position N": 0 <= N <= the length (the message quotes the spec,
         * and its options lower-cased, so a spec with its own "position" or
         * quote is not checked) */
        const char *at = strcasestr(s, "position") || strchr(s, '\'') ? NULL : err.msg;
        for (; at && (at = strstr(at, "position ")); at += 9) {
            long pos = strtol(at + 9, NULL, 10);
            if (pos < 0 || (size_t)pos > strlen(s)) abort();
        }
        return 0;
    }
    if (ptq_qspec_parse(q.text, &r, &err) || !same(&q, &r)) abort();
    ptq_qspec f = q;
    ptq_qspec_format(&f);
    if (strcmp(f.text, q.text)) abort();
    return 0;
}
