/* generate.c — `ptqbench generate`: text from a model (eval/generate.h),
 * greedy (--temperature 0) or sampled with a seeded RNG. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "generate.h"
#include "model_open.h"

static void print_piece(void *ctx, const char *piece, int len) {
    (void)ctx;
    fwrite(piece, 1, (size_t)len, stdout);
    fflush(stdout);
}

int cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"tokenizer", required_argument, 0, 'z'},
        {"temperature", required_argument, 0, 't'}, {"steps", required_argument, 0, 'n'},
        {"prompt", required_argument, 0, 'i'},    {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    const char *model = NULL, *tokp = NULL, *prompt = "";
    double temp = 0.0;
    int steps = 256, seed = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:z:t:n:i:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'z': tokp = optarg; break;
        case 't':
            if (ptq_parse_double("--temperature", optarg, 0, 100, &temp)) return 2;
            break;
        case 'n':
            if (ptq_parse_int("--steps", optarg, 1, 1 << 20, &steps)) return 2;
            break;
        case 'i': prompt = optarg; break;
        case 's':
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case 'h':
            printf("usage: ptqbench generate --model M [--prompt TEXT] [--steps N] [--temperature T] [--seed S]\n"
                   "Like llama2.c run.c: steps counts positions including the prompt; stops at BOS.\n");
            return 0;
        default: return ptq_cli_bad_option("generate", argv);
        }
    }
    if (!model) return ptq_cli_error(2, "generate: --model is required");
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    int rc = ptq_generate(&m, tok, prompt, steps, temp, (uint64_t)seed, print_piece, NULL, &err);
    if (rc) ptq_cli_error(rc == PTQ_GEN_PROMPT ? 2 : 1, "generate: %s", err.msg);
    else printf("\n");
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return rc == PTQ_GEN_PROMPT ? 2 : rc ? 1 : 0;
}
