/* cli.h — subcommands of the ptqbench binary and the flag helpers they
 * share. Each command lives in src/cli/<command>.c and is a row of main.c's
 * command table. Return 0 on success, 1 on a runtime failure, 2 on a usage
 * error (after printing `error: ...`). Commands parse flags and print; the
 * work is in the library layers. */
#ifndef PTQ_CLI_H
#define PTQ_CLI_H

#include "common.h"

typedef int (*ptq_cmd_fn)(int argc, char **argv);
/* Short OpenMP spin before sleeping (waitpolicy.c): re-executes the program once. */
void ptq_wait_policy_init(char **argv);

int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_ppl(int argc, char **argv);
int cmd_datasets(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_methods(int argc, char **argv);
int cmd_make_random_checkpoint(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_zeroshot(int argc, char **argv);
int cmd_kld(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_train(int argc, char **argv);

/* The flags that describe a cell, shared by run, export, bench, zeroshot
 * and kld: --model --method --bits --opt --calib --nsamples --calib-seqlen
 * --seed --tokenizer (getopt_long codes PTQ_F_*; PTQ_CELL_LONGOPTS goes into
 * a command's option table). */
#include "cell.h"
#include "results.h"
enum {
    PTQ_F_MODEL = 2001,
    PTQ_F_METHOD,
    PTQ_F_BITS,
    PTQ_F_OPT,
    PTQ_F_CALIB,
    PTQ_F_NSAMPLES,
    PTQ_F_CALIB_SEQLEN,
    PTQ_F_SEED,
    PTQ_F_TOKENIZER
};
/* clang-format off */
#define PTQ_CELL_LONGOPTS                                                                                              \
    {"model", required_argument, 0, PTQ_F_MODEL}, {"method", required_argument, 0, PTQ_F_METHOD},                      \
    {"bits", required_argument, 0, PTQ_F_BITS}, {"opt", required_argument, 0, PTQ_F_OPT},                              \
    {"calib", required_argument, 0, PTQ_F_CALIB}, {"nsamples", required_argument, 0, PTQ_F_NSAMPLES},                  \
    {"calib-seqlen", required_argument, 0, PTQ_F_CALIB_SEQLEN}, {"seed", required_argument, 0, PTQ_F_SEED},            \
    {"tokenizer", required_argument, 0, PTQ_F_TOKENIZER}
/* clang-format on */
typedef struct {
    const char *model, *method, *bits, *tokenizer, *calib;
    const char *opts[64];
    int nopts, nsamples, calib_seqlen, seed;
    int quant_flags; /* how many of --opt/--calib/--nsamples/--calib-seqlen/--seed were given */
} ptq_cli_cell;
/* 1 when c is one of the cell flags (value kept), 0 when not, -1 on a bad
 * value (error printed). */
int ptq_cli_cell_flag(ptq_cli_cell *f, int c, const char *arg);
/* The cell the flags describe (model, method and bits must be set); 0, or
 * 2 after printing the usage error (cmd names the command). */
int ptq_cli_cell_make(const ptq_cli_cell *f, const char *cmd, ptq_cell *c);
/* zeroshot/kld: --method and --bits together, the other quantization flags
 * only with them; 0, or 2 after printing the usage error. */
int ptq_cli_quant_pair(const ptq_cli_cell *f, const char *cmd);
/* "  --opt key=value ... --seed S" lines for a command's --help. */
void ptq_cli_cell_help(FILE *f);

/* The bit-spec grammar, for the --help of the commands that take --bits. */
void ptq_cli_bitspec_help(FILE *f);

/* Print "error: <msg>" to stderr and return the exit code. */
int ptq_cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report an unknown option from getopt_long (optind/optopt) and return 2. */
int ptq_cli_bad_option(const char *cmd, char **argv);
/* Strict number parsing for flags: the whole string must be a number in range. */
int ptq_parse_int(const char *flag, const char *s, long lo, long hi, int *out);
int ptq_parse_double(const char *flag, const char *s, double lo, double hi, double *out);

/* Perplexity flags shared by ppl, run and kld (long-option codes 1001..1004:
 * --seqlen, --ppl-protocol, --ppl-denominator, --limit-windows; values parsed
 * by eval's ptq_ppl_opt_parse). 1 if handled, 0 if not a ppl flag, -1 on a
 * bad value (error printed). */
#include "perplexity.h"
int ptq_ppl_parse_flag(int c, const char *arg, ptq_ppl_opts *o);

#endif
