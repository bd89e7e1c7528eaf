/* run.c — `ptqbench run`: one cell (model x method x bit-spec) with its
 * evaluation tasks. Prints a one-cell table, then one JSON line per task. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "method.h"
#include "cell.h"
#include "cell_stream.h"

static void run_usage(void) {
    printf("usage: ptqbench run --model M --method NAME --bits SPEC [--opt key=value ...]\n"
           "       [--eval ppl:wikitext2,ppl:ptb,ppl:tinystories] [--calib DATASET] [--nsamples N]\n"
           "       [--calib-seqlen L] [--seed S] [--tokenizer PATH]\n"
           "       [--seqlen L] [--ppl-protocol gptq|halfwindow] [--ppl-denominator tokens|hf]\n"
           "       [--limit-windows N] [--limit N] [--zeroshot-bos] [--no-progress]\n"
           "       [--stream]  (HF checkpoint: quantize + ppl one block at a time; block-wise methods)\n"
           "`ptqbench methods` lists methods and their options.\n");
    ptq_cli_bitspec_help(stdout);
}

static void print_table(const cJSON *rows) {
    printf("%-14s %-12s %-14s %-18s %12s %9s %9s %10s\n", "model", "method", "bits", "task", "metric", "quant_s",
           "eval_s", "rss_kb");
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        const cJSON *met = cJSON_GetObjectItem(r, "metrics"), *v = cJSON_GetObjectItem(met, "ppl");
        const char *name = "ppl";
        if (!v) v = cJSON_GetObjectItem(met, "acc_norm"), name = "acc_norm";
        if (!v) v = cJSON_GetObjectItem(met, "acc"), name = "acc";
        if (!v) v = cJSON_GetObjectItem(met, "kld_mean"), name = "kld_mean";
        char val[48] = "-";
        if (cJSON_IsNumber(v)) snprintf(val, sizeof val, "%s=%.4f", name, v->valuedouble);
        printf("%-14s %-12s %-14s %-18s %12s %9.2f %9.2f %10.0f\n", cJSON_GetObjectItem(r, "model")->valuestring,
               cJSON_GetObjectItem(r, "method")->valuestring, cJSON_GetObjectItem(r, "qspec")->valuestring,
               cJSON_GetObjectItem(r, "task")->valuestring, val, cJSON_GetObjectItem(r, "quant_seconds")->valuedouble,
               cJSON_GetObjectItem(r, "eval_seconds")->valuedouble, cJSON_GetObjectItem(r, "peak_rss_kb")->valuedouble);
    }
}

int cmd_run(int argc, char **argv) {
    static const struct option lopts[] = {{"model", required_argument, 0, 'm'},
                                          {"method", required_argument, 0, 'M'},
                                          {"bits", required_argument, 0, 'b'},
                                          {"opt", required_argument, 0, 'o'},
                                          {"eval", required_argument, 0, 'e'},
                                          {"calib", required_argument, 0, 'c'},
                                          {"nsamples", required_argument, 0, 'n'},
                                          {"calib-seqlen", required_argument, 0, 'L'},
                                          {"seed", required_argument, 0, 's'},
                                          {"tokenizer", required_argument, 0, 'z'},
                                          {"limit", required_argument, 0, 'l'},
                                          {"zeroshot-bos", no_argument, 0, 'B'},
                                          {"no-progress", no_argument, 0, 'P'},
                                          {"seqlen", required_argument, 0, 1001},
                                          {"ppl-protocol", required_argument, 0, 1002},
                                          {"ppl-denominator", required_argument, 0, 1003},
                                          {"limit-windows", required_argument, 0, 1004},
                                          {"stream", no_argument, 0, 1005},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    ptq_cell_spec cell;
    memset(&cell, 0, sizeof cell);
    cell.qspec = "W16A16";
    cell.progress = 1;
    char evals[1024] = "ppl:wikitext2";
    const char *kv[64];
    int nkv = 0, c, seed = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        int r = ptq_ppl_parse_flag(c, optarg, &cell.ppl);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case 'm':
            cell.model = optarg;
            break;
        case 'M':
            cell.method = optarg;
            break;
        case 'b':
            cell.qspec = optarg;
            break;
        case 'z':
            cell.tokenizer = optarg;
            break;
        case 'e':
            snprintf(evals, sizeof evals, "%s", optarg);
            break;
        case 'c':
            snprintf(cell.calib.dataset, sizeof cell.calib.dataset, "%s", optarg);
            break;
        case 'o':
            if (nkv == 64) return ptq_cli_error(2, "run: too many --opt flags (max 64)");
            kv[nkv++] = optarg;
            break;
        case 'n':
            if (ptq_parse_int("--nsamples", optarg, 1, 100000, &cell.calib.nsamples)) return 2;
            break;
        case 'L':
            if (ptq_parse_int("--calib-seqlen", optarg, 2, 1 << 20, &cell.calib.seqlen)) return 2;
            break;
        case 's':
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case 'l':
            if (ptq_parse_int("--limit", optarg, 1, 1 << 30, &cell.zs_limit)) return 2;
            break;
        case 'B':
            cell.zs_bos = 1;
            break;
        case 'P':
            cell.progress = 0;
            break;
        case 1005:
            cell.stream = 1; /* HF checkpoint, one block in RAM (cell_stream.h) */
            break;
        case 'h':
            run_usage();
            return 0;
        default:
            return ptq_cli_bad_option("run", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "run: unexpected argument '%s'", argv[optind]);
    if (!cell.model) return ptq_cli_error(2, "run: --model is required");
    if (!cell.method) return ptq_cli_error(2, "run: --method is required (see `ptqbench methods`)");
    cell.seed = (uint64_t)seed;
    const ptq_method *me = ptq_method_find(cell.method);
    cJSON *opts = cJSON_CreateObject();
    ptq_err err;
    for (int i = 0; i < nkv && me; i++)
        if (ptq_opts_add_kv(me, opts, kv[i], &err)) {
            cJSON_Delete(opts);
            return ptq_cli_error(2, "%s", err.msg);
        }
    cell.opts = opts;
    const char *tasks[64];
    char *save = NULL;
    for (char *t = strtok_r(evals, ",", &save); t && cell.ntasks < 64; t = strtok_r(NULL, ",", &save))
        tasks[cell.ntasks++] = t;
    cell.tasks = tasks;
    if (ptq_cell_check(&cell, &err) || (cell.stream && ptq_stream_check(&cell, &err))) {
        cJSON_Delete(opts);
        return ptq_cli_error(2, "%s", err.msg);
    }
    cJSON *rows = cJSON_CreateArray();
    int rc = cell.stream ? ptq_run_cell_stream(&cell, rows, NULL, &err) : ptq_run_cell(&cell, rows, &err);
    if (cJSON_GetArraySize(rows) > 0) print_table(rows);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        char *s = cJSON_PrintUnformatted(r);
        printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(rows);
    cJSON_Delete(opts);
    return rc ? ptq_cli_error(1, "%s", err.msg) : 0;
}
