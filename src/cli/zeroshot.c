/* zeroshot.c — `ptqbench zeroshot`: lm-eval-compatible zero-shot tasks.
 *
 * --tasks takes task names, "all" (every registered task), or a recipe name
 * (avg6_quarot, avg8, ...) meaning that recipe's tasks. Prints a table, one
 * JSON row per task, and every named average that the run can compute. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "model_open.h"
#include "zeroshot.h"

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
        int found = 0;
        if (!strcmp(t, "all")) {
            for (int i = 0; ptq_zeroshot_tasks[i]; i++) add_task(list, n, ptq_zeroshot_tasks[i]);
            continue;
        }
        for (int i = 0; ptq_zeroshot_tasks[i] && !found; i++)
            if (!strcmp(t, ptq_zeroshot_tasks[i])) found = 1, add_task(list, n, ptq_zeroshot_tasks[i]);
        for (const ptq_zs_recipe *r = ptq_zs_recipes; r->name && !found; r++) {
            if (strcmp(t, r->name)) continue;
            found = 1;
            if (!r->tasks[0])
                for (int i = 0; ptq_zeroshot_tasks[i]; i++) add_task(list, n, ptq_zeroshot_tasks[i]);
            for (int i = 0; r->tasks[i]; i++) {
                int known = 0;
                for (int k = 0; ptq_zeroshot_tasks[k]; k++) known |= !strcmp(r->tasks[i], ptq_zeroshot_tasks[k]);
                if (!known)
                    return ptq_cli_error(2, "--tasks %s: task %s of that recipe is not available here", t,
                                         r->tasks[i]);
                add_task(list, n, r->tasks[i]);
            }
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
    printf("usage: ptqbench zeroshot --model M [--tasks all|LIST|RECIPE] [--limit N] [--zeroshot-bos]\n"
           "       [--no-share] [--tokenizer PATH] [--method X --bits B [--seed S]]\n"
           "  --method/--bits quantize the model first (method defaults, default calibration set)\n"
           "tasks:");
    for (int i = 0; ptq_zeroshot_tasks[i]; i++) printf(" %s", ptq_zeroshot_tasks[i]);
    printf("\nrecipes (averages of acc_norm where present, else acc):\n");
    for (const ptq_zs_recipe *r = ptq_zs_recipes; r->name; r++) printf("  %-15s %s\n", r->name, r->doc);
}

static void print_row(const cJSON *r) {
    const char *keys[] = {"acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "ppl"};
    printf("%-16s %6d", cJSON_GetObjectItem(r, "task")->valuestring, cJSON_GetObjectItem(r, "n")->valueint);
    for (int k = 0; k < 5; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, keys[k]);
        if (cJSON_IsNumber(v)) printf(" %9.4f", v->valuedouble);
        else printf(" %9s", "-");
    }
    printf(" %6d %8.1f %9.0f\n", cJSON_GetObjectItem(r, "truncated")->valueint,
           cJSON_GetObjectItem(r, "seconds")->valuedouble, cJSON_GetObjectItem(r, "tokens_per_sec")->valuedouble);
}

int cmd_zeroshot(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"tokenizer", required_argument, 0, 'z'},
                                         {"tasks", required_argument, 0, 't'},
                                         {"limit", required_argument, 0, 'n'},
                                         {"zeroshot-bos", no_argument, 0, 1001},
                                         {"no-share", no_argument, 0, 1002},
                                         {"method", required_argument, 0, 1003},
                                         {"bits", required_argument, 0, 1004},
                                         {"seed", required_argument, 0, 1005},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *tokp = NULL, *method = NULL, *bits = NULL;
    int seed = 0;
    char tasks_arg[1024] = "all";
    ptq_zeroshot_opts zo = {0};
    zo.progress = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:z:t:n:h", opts, NULL)) != -1) {
        if (c == 'm') model = optarg;
        else if (c == 'z') tokp = optarg;
        else if (c == 't') snprintf(tasks_arg, sizeof tasks_arg, "%s", optarg);
        else if (c == 'n') {
            if (ptq_parse_int("--limit", optarg, 1, 1 << 30, &zo.limit)) return 2;
        } else if (c == 1001) zo.add_bos = 1;
        else if (c == 1002) zo.no_share = 1;
        else if (c == 1003) method = optarg;
        else if (c == 1004) bits = optarg;
        else if (c == 1005) {
            if (ptq_parse_int("--seed", optarg, 0, 1 << 30, &seed)) return 2;
        }
        else if (c == 'h') return usage(), 0;
        else return ptq_cli_bad_option("zeroshot", argv);
    }
    if (optind < argc) return ptq_cli_error(2, "zeroshot: unexpected argument '%s'", argv[optind]);
    if (!model) return ptq_cli_error(2, "zeroshot: --model is required");
    const char *tasks[MAX_TASKS];
    int ntasks;
    if (parse_tasks(tasks_arg, tasks, &ntasks)) return 2;
    if (ptq_cli_quant_check(method, bits)) return 2;

    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    cJSON *rows = cJSON_CreateArray(), *info = cJSON_CreateObject();
    int rc = 0;
    if (method && ptq_cli_quantize(&m, tok, model, method, bits, (uint64_t)seed, info, &err))
        rc = ptq_cli_error(1, "%s", err.msg);
    double t0 = ptq_now_sec();
    for (int i = 0; i < ntasks && !rc; i++) {
        cJSON *r = cJSON_CreateObject();
        if (ptq_zeroshot_run(&m, tok, tasks[i], &zo, r, &err)) {
            rc = ptq_cli_error(1, "%s", err.msg);
            cJSON_Delete(r);
            break;
        }
        cJSON_AddStringToObject(r, "model", m.name);
        cJSON_AddStringToObject(r, "model_sha256", m.sha256);
        cJSON_AddStringToObject(r, "method", method ? method : "fp");
        cJSON_AddStringToObject(r, "qspec", bits ? bits : "W16A16");
        if (method) cJSON_AddItemToObject(r, "method_info", cJSON_Duplicate(info, 1));
        cJSON_AddItemToArray(rows, r);
    }
    double wall = ptq_now_sec() - t0;
    if (!rc) {
        printf("%-16s %6s %9s %9s %9s %9s %9s %6s %8s %9s\n", "task", "n", "acc", "stderr", "acc_norm", "stderr",
               "ppl", "trunc", "secs", "tok/s");
        const cJSON *r;
        cJSON_ArrayForEach(r, rows) print_row(r);
        printf("total wall time %.1f s\n", wall);
        cJSON_ArrayForEach(r, rows) {
            char *s = cJSON_PrintUnformatted(r);
            printf("%s\n", s);
            free(s);
        }
        for (const ptq_zs_recipe *re = ptq_zs_recipes; re->name; re++) {
            double avg;
            ptq_err e2;
            if (ptq_zs_recipe_avg(re, rows, &avg, &e2) == 0)
                printf("{\"task\":\"avg:%s\",\"model\":\"%s\",\"value\":%.6f}\n", re->name, m.name, avg);
            else printf("# %s not computed: %s\n", re->name, e2.msg);
        }
    }
    cJSON_Delete(rows);
    cJSON_Delete(info);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return rc;
}
