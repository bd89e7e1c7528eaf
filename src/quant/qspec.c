/* qspec.c — the bit-spec parser; grammar in qspec.h. Case-insensitive; every
 * error names the spec and the position (0-based character offset) at fault. */
#include "qspec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The fields an option sets; each may be set once. */
enum { F_W_SYM, F_W_MSE, F_W_GROUP, F_A_CLIP, F_A_SYM, F_A_GROUP, F_KV_SYM, F_KV_GROUP, F_KV_CLIP, F_COUNT };
static const char *const field_name[F_COUNT] = {"-sym/-asym",         "-mse",           "-g",
                                                "-clip (or -a:clip)", "-a:sym/-a:asym", "-a:g",
                                                "-kv:sym/-kv:asym",   "-kv:g",          "-kv:clip"};

enum { T_W, T_A, T_KV }; /* what an option applies to */

typedef struct {
    const char *spec;  /* as given, for messages */
    int seen[F_COUNT]; /* position + 1 of the option that set the field, 0 = not set */
} parse_state;

static int bits_ok(long b) {
    return (b >= 2 && b <= 8) || b == 16;
}

/* A decimal bit-width at *p for field `what` ("W", "A", "KV"); low is the
 * lower-cased copy of spec, so positions are offsets into both. */
static int read_bits(const char *spec, const char *low, const char **p, const char *what, int *out, ptq_err *err) {
    const char *s = *p;
    int pos = (int)(s - low);
    if (!isdigit((unsigned char)*s))
        return ptq_fail(err, "bit-spec '%s': expected a number of bits after '%s' at position %d", spec, what, pos);
    char *end;
    errno = 0;
    long b = strtol(s, &end, 10);
    if (errno || !bits_ok(b))
        return ptq_fail(err, "bit-spec '%s': %s bits %ld not supported at position %d (expected 2..8 or 16)", spec,
                        what, b, pos);
    *out = (int)b;
    *p = end;
    return 0;
}

static int set_once(parse_state *st, int field, int pos, ptq_err *err) {
    if (st->seen[field])
        return ptq_fail(err, "bit-spec '%s': %s given twice at position %d (first at position %d)", st->spec,
                        field_name[field], pos, st->seen[field] - 1);
    st->seen[field] = pos + 1;
    return 0;
}

/* "g<N>" -> N in lo..65536. */
static int read_group(parse_state *st, const char *opt, const char *digits, int pos, int lo, int *out, ptq_err *err) {
    char *end;
    errno = 0;
    long g = strtol(digits, &end, 10);
    if (!isdigit((unsigned char)digits[0]) || errno || *end || g < lo || g > 65536)
        return ptq_fail(err, "bit-spec '%s': group size in '-%s' at position %d must be an integer %d..65536", st->spec,
                        opt, pos, lo);
    *out = (int)g;
    return 0;
}

/* "clip<r>" -> r in [0.01, 1], as the float nearest to the decimal (the
 * value stored; the canonical form prints it back exactly, put_ratio). */
static int read_clip(parse_state *st, const char *opt, const char *num, int pos, float *out, ptq_err *err) {
    char *end;
    errno = 0;
    float c = strtof(num, &end);
    if (!isdigit((unsigned char)num[0]) || errno || *end || !(c >= 0.01f && c <= 1.0f))
        return ptq_fail(err, "bit-spec '%s': clip ratio in '-%s' at position %d must be a number in [0.01, 1]",
                        st->spec, opt, pos);
    *out = c;
    return 0;
}

static int unknown(parse_state *st, const char *opt, int pos, ptq_err *err) {
    return ptq_fail(err,
                    "bit-spec '%s': unknown option '-%s' at position %d (expected -g<N>, -sym, -asym, -clip<r>, -mse; "
                    "-a:sym, -a:asym, -a:g<N>, -a:clip<r>; -kv:sym, -kv:asym, -kv:g<N>, -kv:clip<r>)",
                    st->spec, opt, pos);
}

/* One option (text after '-', lower case, NUL-terminated) at position pos. */
static int parse_opt(parse_state *st, const char *opt, int pos, ptq_qspec *q, ptq_err *err) {
    int target = T_W;
    const char *o = opt;
    if (!strncmp(o, "a:", 2))
        target = T_A, o += 2;
    else if (!strncmp(o, "kv:", 3))
        target = T_KV, o += 3;
    if (!strcmp(o, "sym") || !strcmp(o, "asym")) {
        static const int field[] = {F_W_SYM, F_A_SYM, F_KV_SYM};
        int *dst[] = {&q->w_sym, &q->a_sym, &q->kv_sym};
        if (set_once(st, field[target], pos, err)) return -1;
        *dst[target] = o[0] == 's';
        return 0;
    }
    if (target == T_W && !strcmp(o, "mse")) {
        if (set_once(st, F_W_MSE, pos, err)) return -1;
        q->w_mse = 1;
        return 0;
    }
    if (o[0] == 'g' && o[1]) {
        static const int field[] = {F_W_GROUP, F_A_GROUP, F_KV_GROUP};
        int *dst[] = {&q->w_group, &q->a_group, &q->kv_group};
        if (read_group(st, opt, o + 1, pos, target == T_W ? 1 : 0, dst[target], err)) return -1;
        return set_once(st, field[target], pos, err);
    }
    if (!strncmp(o, "clip", 4) && o[4]) { /* unprefixed: the activations' clip */
        float *dst = target == T_KV ? &q->kv_clip : &q->a_clip;
        if (read_clip(st, opt, o + 4, pos, dst, err)) return -1;
        return set_once(st, target == T_KV ? F_KV_CLIP : F_A_CLIP, pos, err);
    }
    return unknown(st, opt, pos, err);
}

/* The shortest %g form (6..9 significant digits) that reads back as r: common
 * ratios keep their short form (0.9), distinct floats get distinct strings. */
static const char *put_ratio(float r, char buf[32]) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)r);
        if (strtof(buf, NULL) == r) break;
    }
    return buf;
}

void ptq_qspec_format(ptq_qspec *q) {
    char num[32];
    char *t = q->text;
    size_t cap = sizeof q->text, n = 0;
#define PUT(...) n += (size_t)snprintf(t + n, n < cap ? cap - n : 0, __VA_ARGS__)
    PUT("W%dA%d", q->w_bits, q->a_bits);
    if (q->kv_bits < 16) PUT("KV%d", q->kv_bits);
    if (q->w_group) PUT("-g%d", q->w_group);
    if (q->w_sym >= 0) PUT("-%s", q->w_sym ? "sym" : "asym");
    if (q->a_clip > 0.f) PUT("-clip%s", put_ratio(q->a_clip, num));
    if (q->w_mse) PUT("-mse");
    if (q->a_sym >= 0) PUT("-a:%s", q->a_sym ? "sym" : "asym");
    if (q->a_group >= 0) PUT("-a:g%d", q->a_group);
    if (q->kv_sym >= 0) PUT("-kv:%s", q->kv_sym ? "sym" : "asym");
    if (q->kv_group >= 0) PUT("-kv:g%d", q->kv_group);
    if (q->kv_clip > 0.f) PUT("-kv:clip%s", put_ratio(q->kv_clip, num));
#undef PUT
}

int ptq_qspec_parse(const char *s, ptq_qspec *q, ptq_err *err) {
    memset(q, 0, sizeof *q);
    q->a_bits = q->kv_bits = 16;
    q->w_sym = q->a_sym = q->a_group = q->kv_sym = q->kv_group = -1;
    if (!s || !*s) return ptq_fail(err, "bit-spec is empty (expected e.g. W4A4KV4, W4A16-g128, W16A16)");
    char low[256];
    size_t len = strlen(s);
    if (len >= sizeof low) return ptq_fail(err, "bit-spec '%.40s...' is too long (%zu characters)", s, len);
    for (size_t i = 0; i <= len; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    parse_state st = {.spec = s};
    const char *p = low;
    if (*p != 'w') return ptq_fail(err, "bit-spec '%s': must start with 'W<bits>' (e.g. W4A4KV4) at position 0", s);
    p++;
    if (read_bits(s, low, &p, "W", &q->w_bits, err)) return -1;
    if (*p == 'a') {
        p++;
        if (read_bits(s, low, &p, "A", &q->a_bits, err)) return -1;
    }
    if (p[0] == 'k' && p[1] == 'v') {
        p += 2;
        if (read_bits(s, low, &p, "KV", &q->kv_bits, err)) return -1;
    }
    while (*p) {
        int pos = (int)(p - low);
        if (*p != '-')
            return ptq_fail(err, "bit-spec '%s': unexpected '%c' at position %d (expected A<b>, KV<b> or -option)", s,
                            s[pos], pos);
        p++;
        size_t n = strcspn(p, "-");
        char opt[64];
        if (n == 0 || n >= sizeof opt)
            return ptq_fail(err, "bit-spec '%s': %s option after '-' at position %d", s, n ? "overlong" : "empty", pos);
        memcpy(opt, p, n);
        opt[n] = 0;
        if (parse_opt(&st, opt, pos, q, err)) return -1;
        p += n;
    }
    /* -a:/-kv: options describe a quantizer that must exist (-clip is also accepted at A16) */
    static const struct {
        int field, a;
    } need[] = {{F_A_SYM, 1}, {F_A_GROUP, 1}, {F_KV_SYM, 0}, {F_KV_GROUP, 0}, {F_KV_CLIP, 0}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (st.seen[need[i].field] && (need[i].a ? q->a_bits : q->kv_bits) >= 16)
            return ptq_fail(err, "bit-spec '%s': %s at position %d needs quantized %s (%s<16)", s,
                            field_name[need[i].field], st.seen[need[i].field] - 1,
                            need[i].a ? "activations" : "KV cache", need[i].a ? "A" : "KV");
    ptq_qspec_format(q);
    return 0;
}

const char *ptq_qspec_str(const ptq_qspec *q) {
    return q->text;
}
