/* main.c — the ptqbench command line: a table of subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    ptq_cmd_fn fn;
    const char *help;
} commands[] = {
    {"info", cmd_info, "show a model's config, parameter count and bytes"},
    {"generate", cmd_generate, "generate text (greedy with --temperature 0)"},
    {"ppl", cmd_ppl, "perplexity of a model on text datasets"},
    {"datasets", cmd_datasets, "list | verify | fetch the registered assets"},
    {"run", cmd_run, "quantize a model with a method at a bit-spec and evaluate it (one cell)"},
    {"methods", cmd_methods, "list quantization methods, their summaries and options"},
    {"zeroshot", cmd_zeroshot, "lm-eval-compatible zero-shot tasks (acc, acc_norm, stderr, averages)"},
    {"kld", cmd_kld, "KL divergence, top-1 agreement and ppl ratio against the FP model (cached FP log-probs)"},
    {"bench", cmd_bench, "benchmarks (forward: FP32 forward vs OpenBLAS sgemm)"},
    {"export", cmd_export, "quantize a model and save it (ptqbench file) for eval/bench without re-quantizing"},
    {"make-random-checkpoint", cmd_make_random_checkpoint, "write an HF checkpoint with random weights (e.g. LLaMA-2-7B shapes)"},
    {"sweep", cmd_sweep, "run an experiment config (resumable, shardable) into results/<name>/"},
    {"report", cmd_report, "tables (md/csv/tex) and gnuplot plots of an experiment's results"},
    {"compare", cmd_compare, "regression gate: NEW vs BASELINE results with tolerances (exit 1 on regression)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`ptqbench <command> --help` shows a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ptqbench %s (%s)\n", ptq_version(), ptq_git_commit());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
