/* main.c — the ptqbench command line: a table of subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "threads.h"

static const struct {
    const char *name;
    ptq_cmd_fn fn;
    const char *help;
} commands[] = {
    {.name = "info", .fn = cmd_info, .help = "show a model's config, parameter count and bytes"},
    {.name = "generate", .fn = cmd_generate, .help = "generate text (greedy with --temperature 0)"},
    {.name = "ppl", .fn = cmd_ppl, .help = "perplexity of a model on text datasets"},
    {.name = "datasets", .fn = cmd_datasets, .help = "list | verify | fetch the registered assets"},
    {.name = "run", .fn = cmd_run, .help = "quantize a model with a method at a bit-spec and evaluate it (one cell)"},
    {.name = "methods", .fn = cmd_methods, .help = "list quantization methods, their summaries and options"},
    {.name = "zeroshot",
     .fn = cmd_zeroshot,
     .help = "lm-eval-compatible zero-shot tasks (acc, acc_norm, stderr, averages)"},
    {.name = "kld",
     .fn = cmd_kld,
     .help = "KL divergence, top-1 agreement and ppl ratio against the FP model (cached FP log-probs)"},
    {.name = "bench",
     .fn = cmd_bench,
     .help = "packed vs FP32 latency of a method (random LLaMA-7B shapes or a model); forward: FP32 vs sgemm"},
    {.name = "export",
     .fn = cmd_export,
     .help = "quantize a model and save it (ptqbench file) for eval/bench without re-quantizing"},
    {.name = "make-random-checkpoint",
     .fn = cmd_make_random_checkpoint,
     .help = "write an HF checkpoint with random weights (e.g. LLaMA-2-7B shapes)"},
    {.name = "sweep", .fn = cmd_sweep, .help = "run an experiment config (resumable, shardable) into results/<name>/"},
    {.name = "report", .fn = cmd_report, .help = "tables (md/csv/tex) and gnuplot plots of an experiment's results"},
    {.name = "compare",
     .fn = cmd_compare,
     .help = "regression gate: NEW vs BASELINE results with tolerances (exit 1 on regression)"},
    {.name = "stats", .fn = cmd_stats, .help = "outlier statistics of activations and weights (tables, plots)"},
    {.name = "train", .fn = cmd_train, .help = "pre-train a LLaMA-shaped model from a JSON recipe (resumable)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`ptqbench <command> --help` shows a command's options.\n");
}

int main(int argc, char **argv) {
    ptq_wait_policy_init(argv);
    ptq_threads_init();
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
