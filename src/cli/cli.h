/* cli.h — subcommands of the ptqbench binary. Each lives in its own
 * src/cmd_*.c and is listed in main.c's command table. Return 0 on success,
 * 1 on a runtime failure, 2 on a usage error (after printing `error: ...`). */
#ifndef PTQ_CLI_H
#define PTQ_CLI_H

#include "common.h"

typedef int (*ptq_cmd_fn)(int argc, char **argv);

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
/* add new subcommands here and in main.c's table */

/* --method/--bits of zeroshot/kld (quantize.c): check the pair (usage
 * error 2 printed), then quantize a loaded model in place with the method's
 * default options and the model's default calibration set. */
#include <cjson/cJSON.h>
#include "model.h"
#include "tokenizer.h"
int ptq_cli_quant_check(const char *method, const char *bits);
int ptq_cli_quantize(ptq_model *m, const ptq_tokenizer *tok, const char *model_spec, const char *method,
                     const char *bits, uint64_t seed, cJSON *info, ptq_err *err);

/* The bit-spec grammar, for the --help of the commands that take --bits. */
void ptq_cli_bitspec_help(FILE *f);

/* Print "error: <msg>" to stderr and return the exit code. */
int ptq_cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report an unknown option from getopt_long (optind/optopt) and return 2. */
int ptq_cli_bad_option(const char *cmd, char **argv);
/* Strict number parsing for flags: the whole string must be a number in range. */
int ptq_parse_int(const char *flag, const char *s, long lo, long hi, int *out);
int ptq_parse_double(const char *flag, const char *s, double lo, double hi, double *out);

/* Perplexity flags shared by ppl/run (long-option codes 1001..1004:
 * --seqlen, --ppl-protocol, --ppl-denominator, --limit-windows).
 * Returns 1 if handled, 0 if not a ppl flag, -1 on a bad value. */
#include "perplexity.h"
int ptq_ppl_parse_flag(int c, const char *arg, ptq_ppl_opts *o);

/* `ppl --stream` (ppl.c): datasets is a comma list, modified in place. */
int ptq_cmd_ppl_stream(const char *model, const char *tok_path, char *datasets, ptq_ppl_opts *po);

#endif
