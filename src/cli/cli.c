/* cli.c — shared helpers for the subcommands. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

int ptq_cli_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int ptq_cli_bad_option(const char *cmd, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    return ptq_cli_error(2, "%s: unknown option or missing value near '%s' (see `ptqbench %s --help`)", cmd, arg,
                         cmd);
}

int ptq_parse_int(const char *flag, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        ptq_cli_error(2, "%s: expected an integer in %ld..%ld, got '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int ptq_parse_double(const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        ptq_cli_error(2, "%s: expected a number in %g..%g, got '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

void ptq_cli_bitspec_help(FILE *f) {
    fprintf(f,
            "bit-spec (--bits): W<b>[A<b>][KV<b>][-option...], bits 2..8 or 16 (= not quantized), case-insensitive\n"
            "  weights      -g<N> (group size), -sym | -asym, -mse (MSE clip search)\n"
            "  activations  -clip<r> (= -a:clip<r>, r in [0.01, 1]), -a:sym | -a:asym, -a:g<N> (0: per token)\n"
            "  KV cache     -kv:sym | -kv:asym, -kv:g<N> (0: per head), -kv:clip<r>\n"
            "  unset fields take the method's default; the options a_sym, kv_group, kv_sym, kv_clip and\n"
            "  ruquant's lac set the same fields. e.g. W4A4KV4, W4A16-g128, W4A4KV4-clip0.9-kv:g64\n");
}
