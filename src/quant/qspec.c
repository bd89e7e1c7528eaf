/* qspec.c — bit-spec parser; grammar in qspec.h. Case-insensitive; every
 * error names the spec and the position or token that is wrong. */
#include "qspec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bits_ok(long b) {
    return (b >= 2 && b <= 8) || b == 16;
}

/* Read a decimal bit-width at *p for field `what` ("W", "A", "KV"). */
static int read_bits(const char *spec, const char **p, const char *what, int *out, ptq_err *err) {
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return ptq_fail(err, "bit-spec '%s': expected a number of bits after '%s' at position %d", spec, what,
                        (int)(s - spec));
    char *end;
    long b = strtol(s, &end, 10);
    if (!bits_ok(b))
        return ptq_fail(err, "bit-spec '%s': %s bits %ld not supported (expected 2..8 or 16)", spec, what, b);
    *out = (int)b;
    *p = end;
    return 0;
}

static int parse_opt(const char *spec, const char *tok, size_t n, ptq_qspec *q, unsigned *seen, ptq_err *err) {
    char buf[32];
    if (n == 0 || n >= sizeof buf) return ptq_fail(err, "bit-spec '%s': empty or overlong option after '-'", spec);
    memcpy(buf, tok, n);
    buf[n] = 0;
    char *end;
    if (!strcmp(buf, "sym") || !strcmp(buf, "asym")) {
        if (*seen & 1) return ptq_fail(err, "bit-spec '%s': -sym/-asym given twice", spec);
        *seen |= 1;
        q->w_sym = buf[0] == 's';
    } else if (!strcmp(buf, "mse")) {
        if (*seen & 2) return ptq_fail(err, "bit-spec '%s': -mse given twice", spec);
        *seen |= 2;
        q->w_mse = 1;
    } else if (buf[0] == 'g' && buf[1]) {
        errno = 0;
        long g = strtol(buf + 1, &end, 10);
        if (errno || *end || g < 1 || g > 65536 || !isdigit((unsigned char)buf[1]))
            return ptq_fail(err, "bit-spec '%s': group size in '-%s' must be an integer 1..65536", spec, buf);
        if (*seen & 4) return ptq_fail(err, "bit-spec '%s': -g given twice", spec);
        *seen |= 4;
        q->w_group = (int)g;
    } else if (!strncmp(buf, "clip", 4) && buf[4]) {
        errno = 0;
        double c = strtod(buf + 4, &end);
        if (errno || *end || !(c > 0.0 && c <= 1.0))
            return ptq_fail(err, "bit-spec '%s': clip ratio in '-%s' must be a number in (0, 1]", spec, buf);
        if (*seen & 8) return ptq_fail(err, "bit-spec '%s': -clip given twice", spec);
        *seen |= 8;
        q->a_clip = (float)c;
    } else {
        return ptq_fail(err, "bit-spec '%s': unknown option '-%s' (expected -g<N>, -sym, -asym, -clip<r>, -mse)", spec,
                        buf);
    }
    return 0;
}

static void canon(ptq_qspec *q) {
    char *t = q->text;
    size_t cap = sizeof q->text;
    int n = snprintf(t, cap, "W%dA%d", q->w_bits, q->a_bits);
    if (q->kv_bits < 16) n += snprintf(t + n, cap - n, "KV%d", q->kv_bits);
    if (q->w_group) n += snprintf(t + n, cap - n, "-g%d", q->w_group);
    if (q->w_sym >= 0) n += snprintf(t + n, cap - n, "-%s", q->w_sym ? "sym" : "asym");
    if (q->a_clip > 0.f) n += snprintf(t + n, cap - n, "-clip%g", (double)q->a_clip);
    if (q->w_mse) snprintf(t + n, cap - n, "-mse");
}

int ptq_qspec_parse(const char *s, ptq_qspec *q, ptq_err *err) {
    memset(q, 0, sizeof *q);
    q->a_bits = q->kv_bits = 16;
    q->w_sym = -1;
    if (!s || !*s) return ptq_fail(err, "bit-spec is empty (expected e.g. W4A4KV4, W4A16-g128, W16A16)");
    char low[128];
    size_t len = strlen(s);
    if (len >= sizeof low) return ptq_fail(err, "bit-spec '%.40s...' is too long", s);
    for (size_t i = 0; i <= len; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    const char *p = low;
    if (*p != 'w') return ptq_fail(err, "bit-spec '%s': must start with 'W<bits>' (e.g. W4A4KV4)", s);
    p++;
    if (read_bits(s, &p, "W", &q->w_bits, err)) return -1;
    if (*p == 'a') {
        p++;
        if (read_bits(s, &p, "A", &q->a_bits, err)) return -1;
    }
    if (p[0] == 'k' && p[1] == 'v') {
        p += 2;
        if (read_bits(s, &p, "KV", &q->kv_bits, err)) return -1;
    }
    unsigned seen = 0;
    while (*p) {
        if (*p != '-')
            return ptq_fail(err, "bit-spec '%s': unexpected '%c' at position %d (expected A<b>, KV<b> or -option)", s,
                            s[p - low], (int)(p - low));
        p++;
        const char *e = strchr(p, '-');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (parse_opt(s, p, n, q, &seen, err)) return -1;
        p += n;
    }
    canon(q);
    return 0;
}

const char *ptq_qspec_str(const ptq_qspec *q) {
    return q->text;
}
