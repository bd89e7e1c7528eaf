/* cell.c — see cell.h. Tasks are dispatched through a table of task
 * kinds ("ppl", "zeroshot", "kld", "latency"); kinds whose evaluator is not part of
 * this build report "task kind not available". */
#define _GNU_SOURCE
#include "cell.h"

#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "latency.h"
#include "method.h"
#include "model_open.h"

typedef struct {
    const ptq_cell_spec *cell;
    const ptq_model *m, *fp; /* quantized model; full-precision copy (kld only) */
    const ptq_tokenizer *tok;
    const ptq_qspec *q;
    cJSON *extra; /* fields a task adds to its row's top level (latency: host, cpu, isa, loadavg) */
} task_env;

typedef int (*task_fn)(const task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err);

void ptq_cell_ppl_metrics(cJSON *metrics, const ptq_ppl_result *r, const ptq_ppl_opts *o) {
    cJSON_AddNumberToObject(metrics, "ppl", r->ppl);
    cJSON_AddNumberToObject(metrics, "nll_sum", r->nll_sum);
    cJSON_AddNumberToObject(metrics, "tokens_scored", (double)r->tokens_scored);
    cJSON_AddNumberToObject(metrics, "windows", r->windows);
    cJSON_AddNumberToObject(metrics, "seqlen", r->seqlen);
    cJSON_AddStringToObject(metrics, "protocol", o->protocol == PTQ_PPL_HALFWINDOW ? "halfwindow" : "gptq");
    cJSON_AddStringToObject(metrics, "denominator", o->denom_hf ? "hf" : "tokens");
    cJSON_AddNumberToObject(metrics, "limit_windows", o->limit_windows);
    cJSON_AddNumberToObject(metrics, "tokens_per_sec", r->tokens_per_sec);
}

static int task_ppl(const task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_tokens toks;
    ptq_ppl_result r;
    ptq_ppl_opts o = e->cell->ppl;
    o.progress = e->cell->progress;
    if (o.bos_id == 0 && o.protocol == PTQ_PPL_HALFWINDOW) o.bos_id = e->tok->add_bos ? e->tok->bos_id : -1;
    if (ptq_text_tokens(arg, e->tok, &toks, err)) return -1;
    int rc = ptq_eval_ppl(e->m, &toks, &o, &r, err);
    memcpy(sha, toks.sha256, 65);
    ptq_tokens_free(&toks);
    if (rc) return -1;
    ptq_cell_ppl_metrics(metrics, &r, &o);
    return 0;
}

/* sha256 the evaluator put in metrics (moved to the row). */
static void take_sha(cJSON *metrics, char sha[65]) {
    const cJSON *v = cJSON_GetObjectItem(metrics, "dataset_sha256");
    if (cJSON_IsString(v)) snprintf(sha, 65, "%s", v->valuestring);
}

static int task_zeroshot(const task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_zeroshot_opts o = {e->cell->zs_limit, e->cell->zs_bos, e->cell->progress, 0};
    if (ptq_zeroshot_run(e->m, e->tok, arg, &o, metrics, err)) return -1;
    take_sha(metrics, sha);
    return 0;
}

static int task_kld(const task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_kld_opts o;
    memset(&o, 0, sizeof o);
    o.ppl = e->cell->ppl;
    o.ppl.progress = e->cell->progress;
    if (ptq_kld_run(e->m, e->fp, e->tok, arg, &o, metrics, err)) return -1;
    take_sha(metrics, sha);
    if (!sha[0]) {
        ptq_tokens t; /* the text's sha256 comes with its tokens */
        if (ptq_text_tokens(arg, e->tok, &t, NULL) == 0) memcpy(sha, t.sha256, 65), ptq_tokens_free(&t);
    }
    return 0;
}

/* Latency and memory on the packed path vs FP32 (eval/latency.h). A model
 * the packed path cannot run gives a row with metrics.error instead of
 * failing the cell, so the cell's other rows are kept. */
static int task_latency(const task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_latency_opts o;
    (void)sha;
    if (ptq_latency_parse(arg, &o, err)) return -1;
    ptq_latency_machine(e->extra);
    int rc = ptq_latency_run(e->m, e->fp, e->q, &o, metrics, err);
    if (rc == PTQ_LAT_UNSUPPORTED) {
        fprintf(stderr, "warning: latency task: %s\n", err->msg);
        cJSON_AddStringToObject(metrics, "error", err->msg);
        return 0;
    }
    return rc;
}

static const struct {
    const char *kind;
    task_fn fn;       /* NULL: evaluator not in this build */
    int text_dataset; /* argument is a text dataset (calibration must differ) */
    int needs_fp;     /* needs the full-precision model */
    int bare_ok;      /* "kind" alone means "kind:" with default parameters */
} task_kinds[] = {
    {"ppl", task_ppl, 1, 0, 0},
    {"zeroshot", task_zeroshot, 0, 0, 0},
    {"kld", task_kld, 1, 1, 0},
    {"latency", task_latency, 0, 1, 1},
};
#define NKINDS (int)(sizeof task_kinds / sizeof task_kinds[0])

/* Split "kind:arg" and find the kind. */
static int task_lookup(const char *task, char *kind, size_t cap, const char **arg, int *k, ptq_err *err) {
    const char *colon = strchr(task, ':');
    for (int i = 0; i < NKINDS && !colon; i++)
        if (task_kinds[i].bare_ok && !strcmp(task, task_kinds[i].kind)) colon = task + strlen(task);
    if (!colon || colon == task || (!colon[1] && *colon) || (size_t)(colon - task) >= cap)
        return ptq_fail(err,
                        "task '%s': expected kind:argument (e.g. ppl:wikitext2, zeroshot:piqa, kld:wikitext2, "
                        "latency or latency:T=128+512:ctx=512:reps=5)",
                        task);
    memcpy(kind, task, (size_t)(colon - task));
    kind[colon - task] = 0;
    *arg = *colon ? colon + 1 : colon;
    for (int i = 0; i < NKINDS; i++)
        if (!strcmp(task_kinds[i].kind, kind)) {
            *k = i;
            return 0;
        }
    return ptq_fail(err, "task '%s': unknown task kind '%s' (expected ppl, zeroshot, kld or latency)", task, kind);
}

static int is_text_dataset(const char *name) {
    for (int i = 0; ptq_text_dataset_names[i]; i++)
        if (!strcmp(ptq_text_dataset_names[i], name)) return 1;
    return 0;
}

static int is_zeroshot_task(const char *name) {
    for (int i = 0; ptq_zeroshot_tasks[i]; i++)
        if (!strcmp(ptq_zeroshot_tasks[i], name)) return 1;
    return 0;
}

const char *ptq_default_calib(const char *model) {
    return strcasestr(model, "stories") ? "tinystories-calib" : "c4";
}

static const char *calib_name(const ptq_cell_spec *c) {
    return c->calib.dataset[0] ? c->calib.dataset : ptq_default_calib(c->model);
}

int ptq_cell_check(const ptq_cell_spec *cell, ptq_err *err) {
    if (!cell->model || !*cell->model) return ptq_fail(err, "no model given");
    const ptq_method *me = ptq_method_find(cell->method ? cell->method : "");
    if (!me) {
        char list[512] = "";
        for (int i = 0; ptq_methods[i]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ptq_methods[i]->name);
        return ptq_fail(err, "unknown method '%s' (expected one of: %s)", cell->method ? cell->method : "", list);
    }
    ptq_qspec q;
    if (ptq_qspec_parse(cell->qspec, &q, err)) return -1;
    if (ptq_method_check_opts(me, cell->opts, err)) return -1;
    if (me->supports && me->supports(&q, err)) return -1;
    if (cell->ntasks < 1) return ptq_fail(err, "no evaluation task given (e.g. ppl:wikitext2)");
    const char *cal = calib_name(cell);
    if (me->needs_calibration && !is_text_dataset(cal))
        return ptq_fail(err, "calibration dataset '%s' is not a text dataset (see `ptqbench datasets list`)", cal);
    for (int i = 0; i < cell->ntasks; i++) {
        char kind[32];
        const char *arg;
        int k;
        if (task_lookup(cell->tasks[i], kind, sizeof kind, &arg, &k, err)) return -1;
        if (task_kinds[k].text_dataset && !is_text_dataset(arg))
            return ptq_fail(err, "task '%s': unknown dataset '%s'", cell->tasks[i], arg);
        if (task_kinds[k].fn == task_zeroshot && !is_zeroshot_task(arg))
            return ptq_fail(err, "task '%s': unknown zero-shot task '%s'", cell->tasks[i], arg);
        ptq_latency_opts lo;
        if (task_kinds[k].fn == task_latency && ptq_latency_parse(arg, &lo, err))
            return ptq_wrap(err, "task '%s'", cell->tasks[i]);
        if (me->needs_calibration && task_kinds[k].text_dataset && !ptq_calib_allowed(cal, arg))
            return ptq_fail(err,
                            "task '%s': calibration dataset '%s' is the evaluation text; calibrate on another "
                            "dataset (--calib, e.g. c4 or tinystories-calib)",
                            cell->tasks[i], cal);
    }
    return 0;
}

cJSON *ptq_cell_opts(const ptq_method *me, const ptq_cell_spec *cell) {
    cJSON *o = cell->opts ? cJSON_Duplicate(cell->opts, 1) : cJSON_CreateObject();
    if (!o) return NULL;
    if (cell->calib.nsamples > 0 && ptq_method_opt(me, "nsamples") && !cJSON_GetObjectItem(o, "nsamples"))
        cJSON_AddNumberToObject(o, "nsamples", cell->calib.nsamples);
    if (cell->calib.seqlen > 0 && ptq_method_opt(me, "seqlen") && !cJSON_GetObjectItem(o, "seqlen"))
        cJSON_AddNumberToObject(o, "seqlen", cell->calib.seqlen);
    return o;
}

cJSON *ptq_cell_row(const ptq_cell_row_src *src, const char *task, cJSON *metrics, const char *dataset_sha256,
                    double eval_seconds) {
    char ts[32];
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "task", task);
    cJSON_AddItemToObject(row, "metrics", metrics);
    cJSON_AddStringToObject(row, "method", src->me->name);
    cJSON_AddStringToObject(row, "qspec", src->q->text);
    cJSON_AddItemToObject(row, "options", ptq_opts_resolved(src->me, src->opts, src->q));
    cJSON *mi = cJSON_Duplicate(src->info, 1);
    cJSON *calib = cJSON_DetachItemFromObject(mi, "calib");
    cJSON_AddItemToObject(row, "method_info", mi);
    cJSON_AddStringToObject(row, "model", src->m->name);
    cJSON_AddStringToObject(row, "model_sha256", src->m->sha256);
    cJSON_AddStringToObject(row, "dataset_sha256", dataset_sha256);
    cJSON_AddItemToObject(row, "calib", calib ? calib : cJSON_CreateNull());
    cJSON_AddNumberToObject(row, "seed", (double)src->cell->seed);
    cJSON_AddNumberToObject(row, "quant_seconds", src->quant_seconds);
    cJSON_AddNumberToObject(row, "eval_seconds", eval_seconds);
    cJSON_AddNumberToObject(row, "peak_rss_kb", (double)ptq_peak_rss_kb());
    cJSON_AddStringToObject(row, "git_commit", ptq_git_commit());
    cJSON_AddNumberToObject(row, "threads", ptq_num_threads());
    ptq_utc_now(ts, sizeof ts);
    cJSON_AddStringToObject(row, "timestamp", ts);
    return row;
}

int ptq_run_cell(const ptq_cell_spec *cell, cJSON *rows_out, ptq_err *err) {
    if (ptq_cell_check(cell, err)) return -1;
    const ptq_method *me = ptq_method_find(cell->method);
    ptq_qspec q;
    ptq_qspec_parse(cell->qspec, &q, err);
    int need_fp = 0;
    for (int i = 0; i < cell->ntasks; i++) {
        char kind[32];
        const char *arg;
        int k;
        task_lookup(cell->tasks[i], kind, sizeof kind, &arg, &k, err);
        if (!task_kinds[k].fn)
            return ptq_fail(err, "task '%s': task kind '%s' not available in this build", cell->tasks[i], kind);
        need_fp |= task_kinds[k].needs_fp;
    }
    ptq_model m, fp;
    ptq_tokenizer *tok = NULL;
    int have_fp = 0, rc = -1;
    cJSON *opts = ptq_cell_opts(me, cell), *info = cJSON_CreateObject();
    if (!opts || !info) {
        cJSON_Delete(opts), cJSON_Delete(info);
        return ptq_fail(err, "out of memory");
    }
    if (ptq_method_check_opts(me, opts, err)) goto out0;
    if (ptq_open_model(cell->model, cell->tokenizer, &m, &tok, err)) goto out0;
    if (need_fp) {
        if (ptq_model_clone(&fp, &m, err)) goto out1;
        have_fp = 1;
    }
    ptq_calib_spec cs = cell->calib;
    snprintf(cs.dataset, sizeof cs.dataset, "%s", calib_name(cell));
    cs.seed = cell->seed;
    ptq_apply_ctx ctx = {&q, opts, tok, &cs, cell->seed, info};
    double t0 = ptq_now_sec();
    if (ptq_method_apply(me, &m, &ctx, err)) goto out1;
    double quant_s = ptq_now_sec() - t0;
    task_env env = {cell, &m, have_fp ? &fp : NULL, tok, &q, NULL};
    rc = 0;
    for (int i = 0; i < cell->ntasks && !rc; i++) {
        char kind[32], sha[65] = "";
        const char *arg;
        int k;
        task_lookup(cell->tasks[i], kind, sizeof kind, &arg, &k, err);
        cJSON *metrics = cJSON_CreateObject();
        env.extra = cJSON_CreateObject();
        double t1 = ptq_now_sec();
        if (task_kinds[k].fn(&env, arg, metrics, sha, err)) {
            cJSON_Delete(metrics);
            cJSON_Delete(env.extra);
            rc = ptq_wrap(err, "task %s", cell->tasks[i]);
            break;
        }
        double eval_s = ptq_now_sec() - t1;
        ptq_cell_row_src src = {cell, me, &q, opts, info, &m, quant_s};
        cJSON *row = ptq_cell_row(&src, cell->tasks[i], metrics, sha, eval_s);
        for (cJSON *x = env.extra->child; x; x = env.extra->child)
            cJSON_AddItemToObject(row, x->string, cJSON_DetachItemViaPointer(env.extra, x));
        cJSON_Delete(env.extra);
        cJSON_AddItemToArray(rows_out, row);
    }
out1:
    if (have_fp) ptq_model_free(&fp);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
out0:
    cJSON_Delete(opts);
    cJSON_Delete(info);
    return rc;
}
