/* task.c — the table of task kinds and the table of named zero-shot
 * averages (task.h). The kinds are defined in their evaluators' files. */
#include "task.h"

#include <math.h>
#include <string.h>

/* Order: the report's columns follow it (perplexity, KLD, zero-shot average). */
const ptq_task_kind *const ptq_task_kinds[] = {
    &ptq_task_ppl, &ptq_task_kld, &ptq_task_zeroshot, &ptq_task_latency, NULL,
};

static void kinds_usage(char *buf, size_t cap) {
    buf[0] = 0;
    for (int i = 0; ptq_task_kinds[i]; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", ptq_task_kinds[i]->usage);
}

static const ptq_task_kind *find(const char *name, size_t n) {
    for (int i = 0; ptq_task_kinds[i]; i++)
        if (strlen(ptq_task_kinds[i]->name) == n && !strncmp(ptq_task_kinds[i]->name, name, n))
            return ptq_task_kinds[i];
    return NULL;
}

int ptq_task_parse(const char *task, const ptq_task_kind **kind, const char **arg, ptq_err *err) {
    char usage[256];
    kinds_usage(usage, sizeof usage);
    const char *colon = strchr(task, ':');
    const ptq_task_kind *k = find(task, colon ? (size_t)(colon - task) : strlen(task));
    if (!colon && !(k && k->bare)) return ptq_fail(err, "task '%s': expected kind:argument (%s)", task, usage);
    if (!k) {
        char names[128] = "";
        for (int i = 0; ptq_task_kinds[i]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     ptq_task_kinds[i]->name);
        return ptq_fail(err, "task '%s': unknown task kind '%.*s' (expected %s)", task, (int)(colon - task), task,
                        names);
    }
    if (colon && !colon[1]) return ptq_fail(err, "task '%s': empty argument (%s)", task, k->usage);
    *kind = k;
    *arg = colon ? colon + 1 : "";
    return 0;
}

int ptq_task_check(const char *task, ptq_err *err) {
    const ptq_task_kind *k;
    const char *arg;
    if (ptq_task_parse(task, &k, &arg, err)) return -1;
    return k->check && k->check(arg, err) ? ptq_wrap(err, "task '%s'", task) : 0;
}

const ptq_task_kind *ptq_task_kind_of(const char *task) {
    if (!task) return NULL;
    const char *colon = strchr(task, ':');
    return find(task, colon ? (size_t)(colon - task) : strlen(task));
}

int ptq_metrics_finite(const cJSON *metrics, ptq_err *err) {
    const cJSON *v;
    cJSON_ArrayForEach(v, metrics) {
        if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
            return ptq_fail(err, "metric '%s' is not finite (%g)", v->string ? v->string : "?", v->valuedouble);
        if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && ptq_metrics_finite(v, err))
            return v->string ? ptq_wrap(err, "in '%s'", v->string) : -1;
    }
    return 0;
}

void ptq_task_take_sha(const cJSON *metrics, char sha[65]) {
    const cJSON *v = cJSON_GetObjectItem(metrics, "dataset_sha256");
    if (cJSON_IsString(v)) snprintf(sha, 65, "%s", v->valuestring);
}

/* ---- named zero-shot averages ---- */
const ptq_zs_average ptq_zs_averages[] = {
    {.name = "avg6_quarot",
     .metric = "acc_norm",
     .tasks = {"piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande", "lambada_openai", NULL},
     .doc = "QuaRot: acc_norm (acc where undefined) over PIQA, ARC-e, ARC-c, HellaSwag, WinoGrande, LAMBADA"},
    {.name = "avg8_spinquant",
     .metric = "acc_norm",
     .tasks = {"boolq", "piqa", "siqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa", NULL},
     .doc = "SpinQuant: acc_norm (acc where undefined; the paper's choice is unverified) over BoolQ, PIQA, SIQA, "
            "HellaSwag, WinoGrande, ARC-e, ARC-c, OBQA. Needs 3-choice SIQA, which the assets lack (siqa2 is not "
            "a substitute)"},
    {.name = "avg8",
     .metric = "acc_norm",
     .tasks = {"piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande", "boolq", "lambada_openai", "openbookqa",
               NULL},
     .doc = "this harness's 8-task suite: acc_norm (acc where undefined)"},
    {.name = "avg9_specquant",
     .metric = "acc_norm",
     .tasks = {"boolq", "hellaswag", "lambada_openai", "openbookqa", "piqa", "siqa", "winogrande", "arc_easy",
               "arc_challenge", NULL},
     .doc = "SpecQuant/ReSpinQuant: acc_norm (acc where undefined; the papers' choice is unverified) over BoolQ, "
            "HellaSwag, LAMBADA, OBQA, PIQA, SIQA, WinoGrande, ARC-e, ARC-c"},
    {.name = "avg6_septq",
     .metric = "acc",
     .tasks = {"lambada_openai", "piqa", "arc_easy", "arc_challenge", "winogrande", "openbookqa", NULL},
     .doc = "SEPTQ: acc over LAMBADA, PIQA, ARC-e, ARC-c, WinoGrande, OBQA"},
    {.name = "avg5_ruquant",
     .metric = "acc",
     .tasks = {"winogrande", "hellaswag", "piqa", "arc_easy", "arc_challenge", NULL},
     .doc = "RUQuant README tasks: acc (acc vs acc_norm unverified) over WinoGrande, HellaSwag, PIQA, ARC-e, ARC-c"},
    {.name = "avg_all",
     .metric = "acc_norm",
     .doc = "mean acc_norm (acc where undefined) over every zero-shot task in the results"},
    {.name = "avg_all_acc", .metric = "acc", .doc = "mean acc over every zero-shot task in the results"},
    {0},
};

const ptq_zs_average *ptq_zs_average_find(const char *name) {
    for (const ptq_zs_average *a = ptq_zs_averages; name && a->name; a++)
        if (!strcmp(a->name, name)) return a;
    return NULL;
}

/* The average's metric of one task result; acc_norm falls back to acc. */
static double average_metric(const ptq_zs_average *a, const cJSON *metrics) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(metrics, a->metric);
    if (!cJSON_IsNumber(v) && !strcmp(a->metric, "acc_norm")) v = cJSON_GetObjectItemCaseSensitive(metrics, "acc");
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *find_row(const cJSON *rows, const char *task) {
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "task");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, task)) return r;
    }
    return NULL;
}

int ptq_zs_average_of(const ptq_zs_average *a, const cJSON *rows, double *avg, ptq_err *err) {
    double sum = 0;
    int n = 0;
    char missing[256] = "";
    if (!a->tasks[0]) {
        const cJSON *row;
        cJSON_ArrayForEach(row, rows) {
            double h = average_metric(a, row);
            if (isfinite(h)) sum += h, n++;
        }
    }
    for (int i = 0; a->tasks[i]; i++) {
        const cJSON *row = find_row(rows, a->tasks[i]);
        double h = row ? average_metric(a, row) : NAN;
        if (isfinite(h))
            sum += h, n++;
        else
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", a->tasks[i]);
    }
    if (missing[0]) return ptq_fail(err, "%s: missing tasks:%s", a->name, missing);
    if (n == 0) return ptq_fail(err, "%s: no task results", a->name);
    *avg = sum / n;
    return 0;
}
