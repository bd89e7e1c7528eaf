/* zeroshot.c — `ptqbench zeroshot`: lm-eval-compatible zero-shot tasks on a
 * model, quantized first with --method/--bits (the runner's ptq_prepare).
 *
 * --tasks takes task names, "all" (every registered task), or the name of a
 * named average (avg6_quarot, avg8, ...: eval/task.h) meaning its tasks.
 * Prints a table, one JSON row per task, and every named average that the
 * run can compute. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_TASKS 32

static int add_task(const char **list, int *n, const char *t) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], t)) return 0;
    if (*n >= MAX_TASKS) return -1;
    list[(*n)++] = t;
    return 0;
}

/* Expand the --tasks argument; unknown names are a usage error. */
static int parse_tasks(char *arg, const char **list, int *n) {
    *n = 0;
    for (char *save = NULL, *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const ptq_zs_average *rec = NULL; /* a named average means its tasks (none listed: every task) */
        for (const ptq_zs_average *r = ptq_zs_averages; r->name && !rec; r++)
            if (!strcmp(t, r->name)) rec = r;
        int all = !strcmp(t, "all") || (rec && !rec->tasks[0]), found = all || rec;
        for (int i = 0; ptq_zeroshot_tasks[i]; i++)
            if (all || (!rec && !strcmp(t, ptq_zeroshot_tasks[i]))) found = 1, add_task(list, n, ptq_zeroshot_tasks[i]);
        for (int i = 0; rec && rec->tasks[i]; i++) {
            int known = 0;
            for (int k = 0; ptq_zeroshot_tasks[k]; k++)
                known |= !strcmp(rec->tasks[i], ptq_zeroshot_tasks[k]);
            if (!known)
                return ptq_cli_error(2, "--tasks %s: task %s of that recipe is not available here", t, rec->tasks[i]);
            add_task(list, n, rec->tasks[i]);
        }
        if (!found) {
            char names[512] = "";
            for (int i = 0; ptq_zeroshot_tasks[i]; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s, ", ptq_zeroshot_tasks[i]);
            return ptq_cli_error(2, "--tasks: unknown task '%s' (expected %sall, or a recipe name)", t, names);
        }
    }
    if (*n == 0) return ptq_cli_error(2, "--tasks: empty task list");
    return 0;
}

static void usage(void) {
    printf("usage: ptqbench zeroshot --model M [--tasks all|LIST|AVERAGE] [--limit N] [--zeroshot-bos]\n"
           "       [--no-share] [--tokenizer PATH] [--method X --bits B [--opt key=value ...] [--calib DATASET]\n"
           "       [--nsamples N] [--calib-seqlen L] [--seed S]]\n"
           "  --method/--bits quantize the model first, as `ptqbench run` does\n");
    ptq_cli_cell_help(stdout);
    ptq_cli_bitspec_help(stdout);
    printf("tasks:");
    for (int i = 0; ptq_zeroshot_tasks[i]; i++)
        printf(" %s", ptq_zeroshot_tasks[i]);
    printf("\nnamed averages (--tasks NAME runs their tasks):\n");
    for (const ptq_zs_average *r = ptq_zs_averages; r->name; r++)
        printf("  %-15s %s\n", r->name, r->doc);
}

static void print_row(const cJSON *r) {
    const char *keys[] = {"acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "ppl"};
    printf("%-16s %6d", cJSON_GetObjectItem(r, "task")->valuestring, cJSON_GetObjectItem(r, "n")->valueint);
    for (int k = 0; k < 5; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, keys[k]);
        if (cJSON_IsNumber(v))
            printf(" %9.4f", v->valuedouble);
        else
            printf(" %9s", "-");
    }
    printf(" %6d %8.1f %9.0f\n", cJSON_GetObjectItem(r, "truncated")->valueint,
           cJSON_GetObjectItem(r, "seconds")->valuedouble, cJSON_GetObjectItem(r, "tokens_per_sec")->valuedouble);
}

int cmd_zeroshot(int argc, char **argv) {
    static const struct option opts[] = {PTQ_CELL_LONGOPTS,
                                         {"tasks", required_argument, 0, 't'},
                                         {"limit", required_argument, 0, 'n'},
                                         {"zeroshot-bos", no_argument, 0, 1001},
                                         {"no-share", no_argument, 0, 1002},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ptq_cli_cell f = {0};
    char tasks_arg[1024] = "all";
    ptq_zeroshot_opts zo = {.progress = 1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:n:h", opts, NULL)) != -1) {
        int r = ptq_cli_cell_flag(&f, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (c == 't')
            snprintf(tasks_arg, sizeof tasks_arg, "%s", optarg);
        else if (c == 'n') {
            if (ptq_parse_int("--limit", optarg, 1, 1 << 30, &zo.limit)) return 2;
        } else if (c == 1001)
            zo.add_bos = 1;
        else if (c == 1002)
            zo.no_share = 1;
        else if (c == 'h')
            return usage(), 0;
        else
            return ptq_cli_bad_option("zeroshot", argv);
    }
    if (optind < argc) return ptq_cli_error(2, "zeroshot: unexpected argument '%s'", argv[optind]);
    if (!f.model) return ptq_cli_error(2, "zeroshot: --model is required");
    const char *tasks[MAX_TASKS];
    int ntasks;
    if (parse_tasks(tasks_arg, tasks, &ntasks) || ptq_cli_quant_pair(&f, "zeroshot")) return 2;
    const char *method = f.method;
    if (!method) f.method = "fp16", f.bits = "W16A16"; /* the model as loaded */
    ptq_cell cell;
    ptq_prepared p;
    ptq_err err;
    int rc = ptq_cli_cell_make(&f, "zeroshot", &cell);
    if (rc) return rc;
    if (ptq_cell_check(&cell, &err)) {
        ptq_cell_free(&cell);
        return ptq_cli_error(2, "zeroshot: %s", err.msg);
    }
    if (ptq_prepare(&cell, 0, &p, &err)) {
        ptq_cell_free(&cell);
        return ptq_cli_error(1, "%s", err.msg);
    }
    cJSON *rows = cJSON_CreateArray();
    double t0 = ptq_now_sec();
    for (int i = 0; i < ntasks && !rc; i++) {
        cJSON *r = cJSON_CreateObject();
        if (ptq_zeroshot_run(&p.m, p.tok, tasks[i], &zo, r, &err)) {
            rc = ptq_cli_error(1, "%s", err.msg);
            cJSON_Delete(r);
            break;
        }
        cJSON_AddStringToObject(r, "model", p.m.name);
        cJSON_AddStringToObject(r, "model_sha256", p.m.sha256);
        cJSON_AddStringToObject(r, "method", method ? method : "fp");
        cJSON_AddStringToObject(r, "qspec", cell.q.text);
        if (method) cJSON_AddItemToObject(r, "method_info", cJSON_Duplicate(p.info, 1));
        cJSON_AddItemToArray(rows, r);
    }
    double wall = ptq_now_sec() - t0;
    if (!rc) {
        printf("%-16s %6s %9s %9s %9s %9s %9s %6s %8s %9s\n", "task", "n", "acc", "stderr", "acc_norm", "stderr", "ppl",
               "trunc", "secs", "tok/s");
        const cJSON *r;
        cJSON_ArrayForEach(r, rows) print_row(r);
        printf("total wall time %.1f s\n", wall);
        cJSON_ArrayForEach(r, rows) {
            char *s = cJSON_PrintUnformatted(r);
            printf("%s\n", s);
            free(s);
        }
        for (const ptq_zs_average *a = ptq_zs_averages; a->name; a++) {
            double avg;
            ptq_err e2;
            if (ptq_zs_average_of(a, rows, &avg, &e2) == 0)
                printf("{\"task\":\"avg:%s\",\"model\":\"%s\",\"value\":%.6f}\n", a->name, p.m.name, avg);
            else
                printf("# %s not computed: %s\n", a->name, e2.msg);
        }
    }
    cJSON_Delete(rows);
    ptq_prepared_free(&p);
    ptq_cell_free(&cell);
    return rc;
}
