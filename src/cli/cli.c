/* cli.c — shared helpers for the subcommands. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
    return ptq_cli_error(2, "%s: unknown option or missing value near '%s' (see `ptqbench %s --help`)", cmd, arg, cmd);
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
    fprintf(f, "bit-spec (--bits): W<b>[A<b>][KV<b>][-option...], bits 2..8 or 16 (= not quantized), case-insensitive\n"
               "  weights      -g<N> (group size), -sym | -asym, -mse (MSE clip search)\n"
               "  activations  -clip<r> (= -a:clip<r>, r in [0.01, 1]), -a:sym | -a:asym, -a:g<N> (0: per token)\n"
               "  KV cache     -kv:sym | -kv:asym, -kv:g<N> (0: per head), -kv:clip<r>\n"
               "  unset fields take the method's default; the options a_sym, kv_group, kv_sym, kv_clip and\n"
               "  ruquant's lac set the same fields. e.g. W4A4KV4, W4A16-g128, W4A4KV4-clip0.9-kv:g64\n");
}

int ptq_ppl_parse_flag(int c, const char *arg, ptq_ppl_opts *o) {
    static const struct {
        int code;
        const char *flag, *key;
    } flags[] = {{.code = 1001, .flag = "--seqlen", .key = "seqlen"},
                 {.code = 1002, .flag = "--ppl-protocol", .key = "protocol"},
                 {.code = 1003, .flag = "--ppl-denominator", .key = "denominator"},
                 {.code = 1004, .flag = "--limit-windows", .key = "limit_windows"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].code == c) {
            ptq_err err;
            if (ptq_ppl_opt_parse(o, flags[i].key, arg, &err))
                return ptq_cli_error(2, "%s: %s", flags[i].flag, err.msg), -1;
            return 1;
        }
    return 0;
}

int ptq_cli_cell_flag(ptq_cli_cell *f, int c, const char *arg) {
    switch (c) {
    case PTQ_F_MODEL:
        f->model = arg;
        return 1;
    case PTQ_F_METHOD:
        f->method = arg;
        return 1;
    case PTQ_F_BITS:
        f->bits = arg;
        return 1;
    case PTQ_F_TOKENIZER:
        f->tokenizer = arg;
        return 1;
    case PTQ_F_CALIB:
        f->calib = arg;
        break;
    case PTQ_F_OPT:
        if (f->nopts == 64) return ptq_cli_error(2, "too many --opt flags (max 64)"), -1;
        f->opts[f->nopts++] = arg;
        break;
    case PTQ_F_NSAMPLES:
        if (ptq_parse_int("--nsamples", arg, 1, 100000, &f->nsamples)) return -1;
        break;
    case PTQ_F_CALIB_SEQLEN:
        if (ptq_parse_int("--calib-seqlen", arg, 2, 1 << 20, &f->calib_seqlen)) return -1;
        break;
    case PTQ_F_SEED:
        if (ptq_parse_int("--seed", arg, 0, 2147483647, &f->seed)) return -1;
        break;
    default:
        return 0;
    }
    f->quant_flags++;
    return 1;
}

int ptq_cli_cell_make(const ptq_cli_cell *f, const char *cmd, ptq_cell *c) {
    ptq_err err;
    ptq_qspec q;
    memset(c, 0, sizeof *c);
    if (!ptq_method_find(f->method)) {
        char list[512];
        ptq_method_names(list, sizeof list);
        return ptq_cli_error(2, "%s: --method: unknown method '%s' (expected one of: %s)", cmd, f->method, list);
    }
    if (ptq_qspec_parse(f->bits, &q, &err)) return ptq_cli_error(2, "%s: --bits: %s", cmd, err.msg);
    int rc = ptq_cell_init(c, f->model, f->method, &q, &err);
    if (!rc && f->tokenizer && !(c->tokenizer = strdup(f->tokenizer))) rc = ptq_fail(&err, "out of memory");
    for (int i = 0; i < f->nopts && !rc; i++) {
        size_t k = strcspn(f->opts[i], "="); /* one value per key: a repeated key is a typo, not an override */
        for (int j = 0; j < i && !rc; j++)
            if (strcspn(f->opts[j], "=") == k && !strncmp(f->opts[i], f->opts[j], k))
                rc = ptq_fail(&err, "--opt %.*s given twice ('%s', then '%s')", (int)k, f->opts[i], f->opts[j],
                              f->opts[i]);
        if (!rc) rc = ptq_cell_add_opt(c, f->opts[i], &err);
    }
    if (rc) {
        ptq_cell_free(c);
        return ptq_cli_error(2, "%s: %s", cmd, err.msg);
    }
    if (f->calib) snprintf(c->calib.dataset, sizeof c->calib.dataset, "%s", f->calib);
    c->calib.nsamples = f->nsamples;
    c->calib.seqlen = f->calib_seqlen;
    c->seed = (uint64_t)f->seed;
    return 0;
}

void ptq_cli_cell_help(FILE *f) {
    fprintf(f, "  --opt key=value  a method option (`ptqbench methods NAME` lists them); repeatable\n"
               "  --calib DATASET  calibration text (default: tinystories-calib for stories models, else c4)\n"
               "  --nsamples N, --calib-seqlen L  calibration windows x tokens (unless set with --opt)\n"
               "  --seed S         rotations and calibration sampling (default 0)\n"
               "  --tokenizer PATH the model's tokenizer when it is not beside the model\n");
}

/* --opt, --calib, --nsamples, --calib-seqlen and --seed describe the
 * quantization: without --method they are a usage error. */
int ptq_cli_quant_pair(const ptq_cli_cell *f, const char *cmd) {
    if (!f->method && !f->bits && f->quant_flags)
        return ptq_cli_error(2, "%s: --opt, --calib, --nsamples, --calib-seqlen and --seed go with --method", cmd);
    if (!f->method != !f->bits)
        return ptq_cli_error(2, "%s: --method and --bits go together (e.g. --method rtn --bits W4A16)", cmd);
    return 0;
}
