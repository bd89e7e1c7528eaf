/* run.c — `ptqbench run`: one cell (model x method x bit-spec) with its
 * evaluation tasks. Prints a one-cell table, then one JSON line per task. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void run_usage(void) {
    printf("usage: ptqbench run --model M --method NAME --bits SPEC [--opt key=value ...]\n"
           "       [--eval ppl:wikitext2,ppl:ptb,ppl:tinystories] [--calib DATASET] [--nsamples N]\n"
           "       [--calib-seqlen L] [--seed S] [--tokenizer PATH]\n"
           "       [--seqlen L] [--ppl-protocol gptq|halfwindow] [--ppl-denominator tokens|hf]\n"
           "       [--limit-windows N] [--limit N] [--zeroshot-bos] [--no-progress]\n"
           "       [--stream]  (HF checkpoint: quantize + ppl one block at a time; block-wise methods)\n"
           "       [--max-rss GiB]  (refuse the cell before loading when its estimated peak RSS is above GiB)\n"
           "tasks:");
    for (int i = 0; ptq_task_kinds[i]; i++)
        printf(" %s", ptq_task_kinds[i]->usage);
    printf("\n`ptqbench methods` lists methods and their options.\n");
    ptq_cli_cell_help(stdout);
    ptq_cli_bitspec_help(stdout);
}

/* The first headline metric of the row's task kind that the row has. */
static void headline(const cJSON *row, char *out, size_t cap) {
    const ptq_task_kind *k = ptq_task_kind_of(ptq_row_str(row, "task"));
    const cJSON *met = cJSON_GetObjectItemCaseSensitive(row, "metrics");
    snprintf(out, cap, "-");
    for (int i = 0; k && i < 3 && k->headline[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(met, k->headline[i]);
        if (cJSON_IsNumber(v)) {
            snprintf(out, cap, "%s=%.4f", k->headline[i], v->valuedouble);
            return;
        }
    }
}

static void print_table(const cJSON *rows) {
    printf("%-14s %-12s %-14s %-18s %12s %9s %9s %10s\n", "model", "method", "bits", "task", "metric", "quant_s",
           "eval_s", "rss_kb");
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        char val[48];
        headline(r, val, sizeof val);
        printf("%-14s %-12s %-14s %-18s %12s %9.2f %9.2f %10.0f\n", ptq_row_str(r, "model"), ptq_row_str(r, "method"),
               ptq_row_str(r, "qspec"), ptq_row_str(r, "task"), val, ptq_row_metric(r, "quant_seconds"),
               ptq_row_metric(r, "eval_seconds"), ptq_row_metric(r, "peak_rss_kb"));
    }
}

int cmd_run(int argc, char **argv) {
    static const struct option lopts[] = {PTQ_CELL_LONGOPTS,
                                          {"eval", required_argument, 0, 'e'},
                                          {"limit", required_argument, 0, 'l'},
                                          {"zeroshot-bos", no_argument, 0, 'B'},
                                          {"no-progress", no_argument, 0, 'P'},
                                          {"seqlen", required_argument, 0, 1001},
                                          {"ppl-protocol", required_argument, 0, 1002},
                                          {"ppl-denominator", required_argument, 0, 1003},
                                          {"limit-windows", required_argument, 0, 1004},
                                          {"stream", no_argument, 0, 1005},
                                          {"max-rss", required_argument, 0, 1006},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    ptq_cli_cell f = {.bits = "W16A16"};
    ptq_eval_opts eo = {.progress = 1};
    char evals[1024] = "ppl:wikitext2";
    int c, stream = 0;
    double max_rss = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        int r = ptq_ppl_parse_flag(c, optarg, &eo.ppl);
        if (!r) r = ptq_cli_cell_flag(&f, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case 'e':
            snprintf(evals, sizeof evals, "%s", optarg);
            break;
        case 'l':
            if (ptq_parse_int("--limit", optarg, 1, 1 << 30, &eo.zs_limit)) return 2;
            break;
        case 'B':
            eo.zs_bos = 1;
            break;
        case 'P':
            eo.progress = 0;
            break;
        case 1005:
            stream = 1;
            break;
        case 1006:
            if (ptq_parse_double("--max-rss", optarg, 1e-4, 1 << 20, &max_rss)) return 2;
            break;
        case 'h':
            run_usage();
            return 0;
        default:
            return ptq_cli_bad_option("run", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "run: unexpected argument '%s'", argv[optind]);
    if (!f.model) return ptq_cli_error(2, "run: --model is required");
    if (!f.method) return ptq_cli_error(2, "run: --method is required (see `ptqbench methods`)");
    ptq_cell cell;
    int rc = ptq_cli_cell_make(&f, "run", &cell);
    if (rc) return rc;
    cell.eval = eo;
    cell.stream = stream;
    cell.max_rss_gib = max_rss;
    ptq_err err;
    for (char *save = NULL, *t = strtok_r(evals, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save))
        rc = ptq_cell_add_task(&cell, t, &err);
    ptq_rss_estimate est;
    if (rc || ptq_cell_check(&cell, &err) || (max_rss > 0 && ptq_cell_check_budget(&cell, &est, &err))) {
        ptq_cell_free(&cell);
        return ptq_cli_error(2, "%s", err.msg);
    }
    cJSON *rows = cJSON_CreateArray();
    rc = ptq_run_cell(&cell, rows, &err);
    if (cJSON_GetArraySize(rows) > 0) print_table(rows);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        char *s = cJSON_PrintUnformatted(r);
        printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(rows);
    ptq_cell_free(&cell);
    return rc ? ptq_cli_error(1, "%s", err.msg) : 0;
}
