/* sweep.c — an experiment's plan into its results directory (sweep.h). */
#include "sweep.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sysinfo.h"
#include "threads.h"

/* A launcher's variable: a whole decimal number in lo..hi. */
static int env_int(const char *name, const char *v, long lo, long hi, int *out, ptq_err *err) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return ptq_fail(err, "environment variable %s='%s': expected an integer in %ld..%ld", name, v, lo, hi);
    *out = (int)x;
    return 0;
}

int ptq_sweep_env_shard(int *shard, int *nshards, const char **from, ptq_err *err) {
    static const char *const pairs[][2] = {{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                           {"PMI_RANK", "PMI_SIZE"},
                                           {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"}};
    for (int k = 0; k < 3; k++) {
        const char *r = getenv(pairs[k][0]), *s = getenv(pairs[k][1]);
        if (!r && !s) continue;
        if (!r || !s)
            return ptq_fail(err, "environment variable %s is set but %s is not (a launcher sets both)",
                            pairs[k][r ? 0 : 1], pairs[k][r ? 1 : 0]);
        int i = 0, n = 1;
        if (env_int(pairs[k][1], s, 1, 100000, &n, err) || env_int(pairs[k][0], r, 0, 100000, &i, err)) return -1;
        if (i >= n)
            return ptq_fail(err, "environment variable %s=%d is not below %s=%d", pairs[k][0], i, pairs[k][1], n);
        *shard = i, *nshards = n, *from = pairs[k][0];
        return 1;
    }
    return 0;
}

/* The config with the overrides of o folded in, as text. */
static int config_text(const ptq_sweep_opts *o, char **cfg_text, ptq_err *err) {
    size_t len;
    if (ptq_read_file(o->config, cfg_text, &len, err)) return -1;
    if (o->limit < 0 && o->limit_windows < 0 && !o->models) return 0;
    cJSON *j = cJSON_Parse(*cfg_text);
    if (!cJSON_IsObject(j)) { /* the parser reports the syntax error */
        cJSON_Delete(j);
        return 0;
    }
    if (o->models) {
        cJSON *ms = cJSON_CreateArray();
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", o->models);
        for (char *sv = NULL, *m = strtok_r(buf, ",", &sv); m; m = strtok_r(NULL, ",", &sv))
            cJSON_AddItemToArray(ms, cJSON_CreateString(m));
        cJSON_DeleteItemFromObjectCaseSensitive(j, "models");
        cJSON_AddItemToObject(j, "models", ms);
    }
    cJSON *ov = cJSON_GetObjectItemCaseSensitive(j, "overrides");
    if (!ov) ov = cJSON_AddObjectToObject(j, "overrides");
    if (cJSON_IsObject(ov)) {
        if (o->limit >= 0) cJSON_DeleteItemFromObject(ov, "limit"), cJSON_AddNumberToObject(ov, "limit", o->limit);
        if (o->limit_windows >= 0)
            cJSON_DeleteItemFromObject(ov, "limit_windows"),
                cJSON_AddNumberToObject(ov, "limit_windows", o->limit_windows);
    }
    free(*cfg_text);
    *cfg_text = cJSON_Print(j);
    cJSON_Delete(j);
    return *cfg_text ? 0 : ptq_fail(err, "out of memory");
}

int ptq_sweep_load(const ptq_sweep_opts *o, ptq_experiment *e, char **cfg_text, ptq_err *err) {
    *cfg_text = NULL;
    memset(e, 0, sizeof *e);
    return config_text(o, cfg_text, err) || ptq_experiment_parse(*cfg_text, o->config, e, err) ? -1 : 0;
}

static int selected(const ptq_sweep_opts *o, const ptq_cell *c) {
    if (c->index % o->nshards != o->shard) return 0;
    return !o->only[0] || ptq_cell_selected(c, o->only);
}

static int cell_done(const ptq_cell *c, const ptq_rowset *have) {
    for (int t = 0; t < c->ntasks; t++) {
        char rk[65];
        ptq_row_key(c->key, c->tasks[t], rk);
        int found = 0;
        for (int i = 0; i < have->n && !found; i++) {
            const char *k = ptq_row_str(have->rows[i], "row_key");
            found = k && !strcmp(k, rk) && !ptq_row_failed(have->rows[i]); /* a failed cell runs again */
        }
        if (!found) return 0;
    }
    return 1;
}

void ptq_sweep_plan_free(ptq_sweep_plan *p) {
    free(p->todo);
    free(p->state);
    memset(p, 0, sizeof *p);
}

int ptq_sweep_plan_make(const ptq_experiment *e, const ptq_sweep_opts *o, ptq_sweep_plan *p, ptq_err *err) {
    memset(p, 0, sizeof *p);
    if (o->out_dir)
        snprintf(p->dir, sizeof p->dir, "%s", o->out_dir);
    else
        snprintf(p->dir, sizeof p->dir, "results/%s", e->name);
    ptq_results_path(p->dir, o->shard, o->nshards, p->path, sizeof p->path);
    ptq_rowset have = {0}, mine = {0};
    int rc = -1;
    p->todo = calloc((size_t)e->ncells + 1, sizeof *p->todo);
    p->state = calloc((size_t)e->ncells + 1, 1);
    if (!p->todo || !p->state) {
        ptq_fail(err, "out of memory");
        goto out;
    }
    if ((ptq_file_exists(p->dir) && ptq_results_read(p->dir, &have, err)) || ptq_results_read_file(p->path, &mine, err))
        goto out;
    p->shard_rows = mine.n;
    for (int i = 0; i < e->ncells; i++) {
        const ptq_cell *c = &e->cells[i];
        p->state[i] = -1;
        if (!selected(o, c)) continue;
        p->nselected++;
        p->state[i] = (signed char)cell_done(c, &have);
        p->ndone += p->state[i];
        if (!p->state[i]) p->todo[p->ntodo++] = i;
    }
    rc = 0;
out:
    ptq_rowset_free(&have);
    ptq_rowset_free(&mine);
    if (rc) ptq_sweep_plan_free(p);
    return rc;
}

static void set_str(cJSON *row, const char *k, const char *v) {
    cJSON_DeleteItemFromObjectCaseSensitive(row, k);
    cJSON_AddStringToObject(row, k, v);
}

static void set_num(cJSON *row, const char *k, double v) {
    cJSON_DeleteItemFromObjectCaseSensitive(row, k);
    cJSON_AddNumberToObject(row, k, v);
}

/* The runner's part of each row: identity, keys and provenance. */
static void annotate(cJSON *row, const ptq_experiment *e, const ptq_cell *c, const ptq_sweep_opts *o,
                     const char *started, double wall) {
    static char host[256], cpu[256];
    if (!host[0]) ptq_host_name(host, sizeof host);
    if (!cpu[0]) ptq_cpu_model(cpu, sizeof cpu);
    const char *task = ptq_row_str(row, "task");
    char rk[65], id[700], fin[32];
    ptq_row_key(c->key, task ? task : "", rk);
    snprintf(id, sizeof id, "%s|%s", c->id, task ? task : "");
    ptq_utc_now(fin, sizeof fin);
    set_str(row, "experiment", e->name);
    set_str(row, "id", id);
    set_str(row, "key", c->key);
    set_str(row, "row_key", rk);
    set_num(row, "index", c->index);
    set_str(row, "model", c->model);
    set_str(row, "label", c->label);
    set_str(row, "bits", c->q.text);
    cJSON_DeleteItemFromObjectCaseSensitive(row, "cell");
    cJSON_AddItemToObject(row, "cell", cJSON_Duplicate(c->resolved, 1));
    set_str(row, "code_version", ptq_version());
    if (!cJSON_GetObjectItemCaseSensitive(row, "git_commit")) set_str(row, "git_commit", ptq_git_commit());
    set_str(row, "host", host);
    set_str(row, "cpu", cpu);
    if (!cJSON_GetObjectItemCaseSensitive(row, "threads")) set_num(row, "threads", ptq_num_threads());
    set_str(row, "started", started);
    set_str(row, "finished", fin);
    set_num(row, "wall_seconds", wall);
    if (!cJSON_GetObjectItemCaseSensitive(row, "peak_rss_kb")) set_num(row, "peak_rss_kb", (double)ptq_peak_rss_kb());
    char shard[32];
    snprintf(shard, sizeof shard, "%d/%d", o->shard, o->nshards);
    set_str(row, "shard", shard);
}

static void fmt_secs(double s, char *out, size_t cap) {
    if (s < 0)
        snprintf(out, cap, "?");
    else if (s < 120)
        snprintf(out, cap, "%.0fs", s);
    else if (s < 7200)
        snprintf(out, cap, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else
        snprintf(out, cap, "%.1fh", s / 3600);
}

/* A failed cell's rows: one per task, the error and no metric. */
static cJSON *failed_rows(const ptq_cell *c, const char *why) {
    cJSON *rows = cJSON_CreateArray();
    for (int t = 0; t < c->ntasks; t++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "task", c->tasks[t]);
        cJSON_AddStringToObject(r, "status", "failed");
        cJSON_AddStringToObject(r, "error", why);
        cJSON_AddItemToObject(r, "metrics", cJSON_CreateObject());
        cJSON_AddStringToObject(r, "method", c->method->name);
        cJSON_AddItemToArray(rows, r);
    }
    return rows;
}

/* One cell: run it, annotate its rows (the failure rows when it fails),
 * append them in one write. */
static int run_one(const ptq_experiment *e, ptq_cell *c, const ptq_sweep_opts *o, ptq_results_writer *w, ptq_err *err) {
    c->eval.progress = isatty(2);
    c->max_rss_gib = o->max_rss_gib;
    ptq_threads_adapt();

    c->eval.keep_side = 1; /* per-window/per-item values as side files next to the rows */
    char started[32];
    ptq_utc_now(started, sizeof started);
    double t0 = ptq_now_sec();
    cJSON *rows = cJSON_CreateArray();
    int rc = ptq_run_cell(c, rows, err);
    if (!rc && cJSON_GetArraySize(rows) != c->ntasks)
        rc = ptq_fail(err, "the cell returned %d rows for %d tasks", cJSON_GetArraySize(rows), c->ntasks);
    if (rc) cJSON_Delete(rows), rows = failed_rows(c, err->msg);
    double wall = ptq_now_sec() - t0;
    int n = cJSON_GetArraySize(rows), i = 0;
    cJSON **list = calloc((size_t)n, sizeof *list);
    for (cJSON *r = rows->child; r && list; r = r->next)
        annotate(r, e, c, o, started, wall), list[i++] = r;
    ptq_err werr;
    int wrc = list ? ptq_results_append(w, list, n, &werr) : ptq_fail(&werr, "out of memory");
    if (wrc && rc) fprintf(stderr, "warning: recording the failure: %s\n", werr.msg);
    else if (wrc) rc = -1, *err = werr;
    free(list);
    cJSON_Delete(rows);
    return rc;
}

int ptq_sweep_run(const ptq_experiment *e, const ptq_sweep_opts *o, const ptq_sweep_plan *p, const char *cfg_text,
                  int *failed, ptq_err *err) {
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/experiment.json", p->dir);
    ptq_results_writer w;
    if (ptq_mkdir_p(p->dir, err) || ptq_write_file_atomic(cfgp, cfg_text, strlen(cfg_text), err) ||
        ptq_results_open(&w, p->path, err))
        return -1;
    *failed = 0;
    double t0 = ptq_now_sec();
    for (int k = 0; k < p->ntodo; k++) {
        ptq_cell *c = &e->cells[p->todo[k]];
        char eta[32], bar[24];
        fmt_secs(k ? (ptq_now_sec() - t0) / k * (p->ntodo - k) : -1, eta, sizeof eta);
        int fill = 20 * k / p->ntodo;
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = 0;
        fprintf(stderr, "sweep [%s] cell %d/%d (ETA %s): %s\n", bar, k + 1, p->ntodo, eta, c->id);
        double tc = ptq_now_sec();
        ptq_err ce;
        if (run_one(e, c, o, &w, &ce)) {
            fprintf(stderr, "error: cell %s (key %.12s): %s\n", c->id, c->key, ce.msg);
            (*failed)++;
        } else
            fprintf(stderr, "sweep: cell %d/%d done in %.1fs\n", k + 1, p->ntodo, ptq_now_sec() - tc);
    }
    ptq_results_close(&w);
    fprintf(stderr, "sweep: %d cells run in %.1fs, %d failed; results in %s\n", p->ntodo - *failed, ptq_now_sec() - t0,
            *failed, p->path);
    return 0;
}

void ptq_sweep_stored_config(const char *dir, char *name, size_t ncap, char *avg, size_t acap) {
    char p[4200], *text;
    size_t len;
    snprintf(p, sizeof p, "%s/experiment.json", dir);
    if (!ptq_file_exists(p) || ptq_read_file(p, &text, &len, NULL)) return;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "report"), "average");
    if (cJSON_IsString(n)) snprintf(name, ncap, "%s", n->valuestring);
    if (cJSON_IsString(a)) snprintf(avg, acap, "%s", a->valuestring);
    cJSON_Delete(j);
}
