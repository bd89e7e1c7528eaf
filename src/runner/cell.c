/* cell.c — a cell: construction, the one validation, and its result rows
 * (cell.h). Preparing the model is prepare.c, running the tasks run_cell.c. */
#define _GNU_SOURCE /* strcasestr */
#include "cell.h"

#include <stdlib.h>
#include <string.h>

#include "model_open.h"
#include "sysinfo.h"

const char *ptq_default_calib(const char *model) {
    return model && strcasestr(model, "stories") ? "tinystories-calib" : "c4";
}

int ptq_cell_init(ptq_cell *c, const char *model, const char *method, const ptq_qspec *q, ptq_err *err) {
    memset(c, 0, sizeof *c);
    c->eval.progress = 1;
    if (!(c->opts = cJSON_CreateObject()) || (model && !(c->model = strdup(model))))
        return ptq_fail(err, "out of memory");
    if (!(c->method = ptq_method_find(method))) {
        char list[512];
        ptq_method_names(list, sizeof list);
        return ptq_fail(err, "unknown method '%s' (expected one of: %s)", method ? method : "", list);
    }
    c->q = *q;
    return 0;
}

void ptq_cell_free(ptq_cell *c) {
    free(c->model);
    free(c->tokenizer);
    for (int i = 0; i < c->ntasks; i++)
        free(c->tasks[i]);
    free(c->tasks);
    cJSON_Delete(c->opts);
    cJSON_Delete(c->run_opts);
    cJSON_Delete(c->overrides);
    cJSON_Delete(c->resolved);
    memset(c, 0, sizeof *c);
}

int ptq_cell_add_opt(ptq_cell *c, const char *kv, ptq_err *err) {
    c->checked = 0;
    return ptq_opts_add_kv(c->method, c->opts, kv, err);
}

int ptq_cell_add_task(ptq_cell *c, const char *task, ptq_err *err) {
    char **t = realloc(c->tasks, sizeof *t * (size_t)(c->ntasks + 1));
    if (!t) return ptq_fail(err, "out of memory");
    c->tasks = t;
    if (!(t[c->ntasks] = strdup(task))) return ptq_fail(err, "out of memory");
    c->ntasks++;
    c->checked = 0;
    return 0;
}

/* opts + the cell's calibration sizes for the method options nsamples/seqlen
 * that opts do not set. */
static cJSON *run_opts(const ptq_cell *c) {
    cJSON *o = cJSON_Duplicate(c->opts, 1);
    if (!o) return NULL;
    static const char *const key[2] = {"nsamples", "seqlen"};
    int val[2] = {c->calib.nsamples, c->calib.seqlen};
    for (int k = 0; k < 2; k++)
        if (val[k] > 0 && ptq_method_opt(c->method, key[k]) && !cJSON_GetObjectItemCaseSensitive(o, key[k]))
            cJSON_AddNumberToObject(o, key[k], val[k]);
    return o;
}

static int is_text_dataset(const char *name) {
    for (int i = 0; ptq_text_dataset_names[i]; i++)
        if (!strcmp(ptq_text_dataset_names[i], name)) return 1;
    return 0;
}

/* A streamed cell: a block-wise method, an HF checkpoint. */
static int check_stream(const ptq_cell *c, ptq_err *err) {
    if (ptq_method_streamable(c->method, err)) return -1;
    if (c->synthetic) return ptq_fail(err, "--stream reads a Hugging Face checkpoint, not a synthetic model");
    for (int i = 0; ptq_named_models[i].name; i++)
        if (!strcmp(ptq_named_models[i].name, c->model))
            return strcmp(ptq_named_models[i].kind, "hf")
                       ? ptq_fail(err, "--stream: model %s is a %s model, not a Hugging Face checkpoint directory",
                                  c->model, ptq_named_models[i].kind)
                       : 0;
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", c->model);
    if (!ptq_file_exists(cfgp))
        return ptq_fail(err,
                        "--stream: model '%s' is not a Hugging Face checkpoint directory (no %s); streaming reads "
                        "config.json + safetensors one block at a time",
                        c->model, cfgp);
    return 0;
}

int ptq_cell_check(ptq_cell *c, ptq_err *err) {
    c->checked = 0;
    cJSON_Delete(c->run_opts);
    c->run_opts = NULL;
    if (!c->synthetic && (!c->model || !*c->model)) return ptq_fail(err, "no model given");
    if (!c->method) return ptq_fail(err, "no method given");
    if (!(c->run_opts = run_opts(c))) return ptq_fail(err, "out of memory");
    const ptq_method *me = c->method;
    if (ptq_method_check_opts(me, c->run_opts, err) || ptq_method_qspec(me, &c->q, c->run_opts, &c->quantizer, err))
        return -1;
    if (me->supports && me->supports(&c->quantizer, err)) return -1;
    int lmb = ptq_lm_head_wbits(me, c->run_opts, c->quantizer.w_bits);
    if (lmb < 2 || (lmb > 8 && lmb < 16))
        return ptq_fail(err, "option lm_head_bits: %d bits for lm_head (expected 0 for the cell's, or 2..8)", lmb);
    c->needs_calib = ptq_method_needs_calib(me, &c->quantizer, c->run_opts);
    if (!c->calib.dataset[0]) snprintf(c->calib.dataset, sizeof c->calib.dataset, "%s", ptq_default_calib(c->model));
    const char *cal = c->calib.dataset;
    if (c->needs_calib && !is_text_dataset(cal) && strcmp(cal, PTQ_CALIB_RANDOM))
        return ptq_fail(err, "calibration dataset '%s' is not a text dataset (see `ptqbench datasets list`)", cal);
    if (c->needs_calib && c->synthetic && strcmp(cal, PTQ_CALIB_RANDOM))
        return ptq_fail(err, "a random-weight model has no tokenizer for calibration text '%s' (use %s)", cal,
                        PTQ_CALIB_RANDOM);
    for (int i = 0; i < c->ntasks; i++) {
        const ptq_task_kind *k;
        const char *arg;
        if (ptq_task_parse(c->tasks[i], &k, &arg, err)) return -1;
        if (k->check && k->check(arg, err)) return ptq_wrap(err, "task '%s'", c->tasks[i]);
        if (c->needs_calib && k->text_dataset && !ptq_calib_allowed(cal, arg))
            return ptq_fail(err,
                            "task '%s': calibration dataset '%s' is the evaluation text; calibrate on another "
                            "dataset (--calib, e.g. c4 or tinystories-calib)",
                            c->tasks[i], cal);
        if (c->synthetic && k->arg_dataset)
            return ptq_fail(err, "task '%s': a synthetic model has no tokenizer for datasets", c->tasks[i]);
    }
    if (c->stream && check_stream(c, err)) return -1;
    c->checked = 1 + (c->stream != 0);
    return 0;
}

cJSON *ptq_cell_row(const ptq_cell *c, const ptq_model *m, const cJSON *info, double quant_seconds, const char *task,
                    cJSON *metrics, const char *dataset_sha256, double eval_seconds) {
    char ts[32];
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "task", task);
    cJSON_AddItemToObject(row, "metrics", metrics);
    cJSON_AddStringToObject(row, "method", c->method->name);
    cJSON_AddStringToObject(row, "qspec", c->q.text);
    cJSON_AddStringToObject(row, "quantizer", c->quantizer.text);
    cJSON_AddItemToObject(row, "options", ptq_opts_resolved(c->method, c->run_opts, &c->quantizer));
    cJSON *mi = cJSON_Duplicate(info, 1);
    cJSON *calib = cJSON_DetachItemFromObject(mi, "calib");
    cJSON_AddItemToObject(row, "method_info", mi);
    cJSON_AddStringToObject(row, "model", m->name);
    cJSON_AddStringToObject(row, "model_sha256", m->sha256);
    if (m->source.method[0]) { /* an exported file, evaluated as stored */
        cJSON *src = cJSON_AddObjectToObject(row, "export_of");
        cJSON_AddStringToObject(src, "model", m->source.model);
        cJSON_AddStringToObject(src, "sha256", m->source.sha256);
        cJSON_AddStringToObject(src, "method", m->source.method);
        cJSON_AddStringToObject(src, "qspec", m->source.qspec);
    }
    cJSON_AddStringToObject(row, "dataset_sha256", dataset_sha256);
    cJSON_AddItemToObject(row, "calib", calib ? calib : cJSON_CreateNull());
    cJSON_AddNumberToObject(row, "seed", (double)c->seed);
    cJSON_AddNumberToObject(row, "quant_seconds", quant_seconds);
    cJSON_AddNumberToObject(row, "eval_seconds", eval_seconds);
    cJSON_AddNumberToObject(row, "peak_rss_kb", (double)ptq_peak_rss_kb());
    cJSON_AddStringToObject(row, "git_commit", ptq_git_commit());
    cJSON_AddNumberToObject(row, "threads", ptq_num_threads());
    if (!cJSON_GetObjectItemCaseSensitive(row, "openblas_coretype"))
        cJSON_AddStringToObject(row, "openblas_coretype", ptq_blas_kernels());
    if (!cJSON_GetObjectItemCaseSensitive(row, "openblas_coretype_cpu"))
        cJSON_AddStringToObject(row, "openblas_coretype_cpu", ptq_blas_kernels_cpu());
    ptq_utc_now(ts, sizeof ts);
    cJSON_AddStringToObject(row, "timestamp", ts);
    return row;
}
