/* bench_rows.c — see bench_rows.h. */
#include "bench_rows.h"

#include <stdlib.h>
#include <string.h>

#include "ptqfile.h"
#include "results.h"

static void join_list(char *buf, size_t cap, const char *key, const int *v, int n) {
    snprintf(buf + strlen(buf), cap - strlen(buf), ":%s=", key);
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%d", i ? "+" : "", v[i]);
}

void ptq_bench_task(const ptq_latency_opts *o, char *buf, size_t cap) {
    snprintf(buf, cap, "latency:reps=%d:min_ms=%d", o->reps, o->min_ms);
    join_list(buf, cap, "T", o->Ts, o->nT);
    join_list(buf, cap, "ctx", o->ctxs, o->nC);
}

static void identify(cJSON *row, const char *label, const char *bits, const char *id, const char *source) {
    cJSON_AddStringToObject(row, "label", label);
    cJSON_AddStringToObject(row, "bits", bits);
    cJSON_AddStringToObject(row, "id", id);
    cJSON_AddStringToObject(row, "source", source);
    cJSON_AddStringToObject(row, "code_version", ptq_version());
}

int ptq_bench_cell(ptq_cell *c, cJSON **row, ptq_err *err) {
    cJSON *rows = cJSON_CreateArray();
    *row = NULL;
    if (ptq_run_cell(c, rows, err)) {
        cJSON_Delete(rows);
        return -1;
    }
    *row = cJSON_DetachItemFromArray(rows, 0);
    cJSON_Delete(rows);
    char label[512], id[1024];
    ptq_opts_label(c->method, c->opts, label, sizeof label);
    snprintf(id, sizeof id, "%s|%s|%s|s%llu|%s", c->model, label, c->q.text, (unsigned long long)c->seed, c->tasks[0]);
    identify(*row, label, c->q.text, id, c->synthetic ? "ptqbench bench (random-weight model)" : "ptqbench bench");
    return 0;
}

int ptq_bench_file(const char *path, const char *task, cJSON **row, ptq_err *err) {
    ptq_model q, fp;
    cJSON *meta = NULL, *metrics = cJSON_CreateObject();
    ptq_latency_opts lo;
    int rc = -1, loaded = 0, twin = 0;
    *row = NULL;
    if (ptq_file_load(path, &q, &meta, err)) goto out;
    loaded = 1;
    const char *bits = ptq_row_str(meta, "qspec"), *method = ptq_row_str(meta, "method");
    const char *src = ptq_row_str(meta, "source_model");
    if (!method) method = "unknown";
    if (!src) src = path;
    if (!bits) bits = "unknown"; /* a label only: the weight format is read from the model */
    if (ptq_latency_parse(strncmp(task, "latency:", 8) ? "" : task + 8, &lo, err) || ptq_latency_fp32_twin(&fp, &q, err)) goto out;
    twin = 1;
    int lr = ptq_latency_run(&q, &fp, &lo, metrics, err);
    if (lr < 0) goto out;
    if (lr == PTQ_LAT_UNSUPPORTED) cJSON_AddStringToObject(metrics, "error", err->msg);
    char id[1024], ts[32];
    ptq_utc_now(ts, sizeof ts);
    snprintf(id, sizeof id, "%s|%s|%s|file|%s", path, method, bits, task);
    cJSON *r = *row = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "task", "latency");
    cJSON_AddItemToObject(r, "metrics", metrics), metrics = NULL;
    cJSON_AddStringToObject(r, "method", method);
    cJSON_AddStringToObject(r, "qspec", bits);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(meta, "options");
    cJSON_AddItemToObject(r, "options", o ? cJSON_Duplicate(o, 1) : cJSON_CreateObject());
    cJSON_AddStringToObject(r, "model", src);
    cJSON_AddStringToObject(r, "model_file", path);
    cJSON_AddStringToObject(r, "git_commit", ptq_git_commit());
    cJSON_AddNumberToObject(r, "threads", ptq_num_threads());
    cJSON_AddStringToObject(r, "timestamp", ts);
    identify(r, method, bits, id, "ptqbench bench (exported file)");
    ptq_latency_machine(r);
    rc = lr == PTQ_LAT_UNSUPPORTED ? PTQ_LAT_UNSUPPORTED : 0;
out:
    if (twin) ptq_model_free(&fp);
    if (loaded) ptq_model_free(&q);
    cJSON_Delete(meta), cJSON_Delete(metrics);
    return rc;
}
