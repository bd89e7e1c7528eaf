/* run_cell.c — a cell's tasks on its prepared model, one result row each
 * (cell.h ptq_run_cell); streamed cells go to cell_stream.c. */
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "cell_stream.h"

static int run_in_ram(ptq_cell *c, cJSON *rows_out, ptq_err *err) {
    int need_fp = 0;
    for (int i = 0; i < c->ntasks; i++)
        need_fp |= ptq_task_kind_of(c->tasks[i])->needs_fp;
    /* the unquantized reference is its own FP model: no second copy (an
     * exported file never is: its KLD is keyed by the model it came from) */
    int same = !strcmp(c->method->name, "fp16");
    ptq_prepared p;
    if (ptq_prepare(c, need_fp && !same, &p, err)) return -1;
    int exported = p.m.source.method[0] != 0;
    ptq_task_env env = {.m = &p.m, .fp = p.have_fp ? &p.fp : need_fp && same && !exported ? &p.m : NULL, .tok = p.tok,
                        .q = &c->quantizer, .o = &c->eval};
    int rc = 0;
    for (int i = 0; i < c->ntasks && !rc; i++) {
        const ptq_task_kind *k;
        const char *arg;
        char sha[65] = "";
        ptq_task_parse(c->tasks[i], &k, &arg, err);
        cJSON *metrics = cJSON_CreateObject();
        env.extra = cJSON_CreateObject();
        double t0 = ptq_now_sec();
        if (k->run(&env, arg, metrics, sha, err) || ptq_metrics_finite(metrics, err)) {
            cJSON_Delete(metrics);
            cJSON_Delete(env.extra);
            rc = ptq_wrap(err, "task %s", c->tasks[i]);
            break;
        }
        double eval_s = ptq_now_sec() - t0;
        cJSON *row = ptq_cell_row(c, &p.m, p.info, p.quant_seconds, c->tasks[i], metrics, sha, eval_s);
        for (cJSON *x = env.extra->child; x; x = env.extra->child)
            cJSON_AddItemToObject(row, x->string, cJSON_DetachItemViaPointer(env.extra, x));
        cJSON_Delete(env.extra);
        cJSON_AddItemToArray(rows_out, row);
    }
    ptq_prepared_free(&p);
    return rc;
}

int ptq_run_cell(ptq_cell *c, cJSON *rows_out, ptq_err *err) {
    if (!ptq_cell_is_checked(c) && ptq_cell_check(c, err)) return -1;
    if (c->ntasks < 1) return ptq_fail(err, "no evaluation task given (e.g. ppl:wikitext2)");
    ptq_rss_estimate est;
    ptq_err eerr;
    int have_est = c->max_rss_gib > 0 || !ptq_cell_estimate_rss(c, &est, &eerr); /* without a budget: best effort */
    if (c->max_rss_gib > 0 && ptq_cell_check_budget(c, &est, err)) return -1;
    /* rows record this cell's own peak: the high-water mark restarts here */
    const char *scope = ptq_peak_rss_reset() ? "process" : "cell";
    int first = cJSON_GetArraySize(rows_out);
    int rc = c->stream ? ptq_run_cell_stream(c, rows_out, NULL, err) : run_in_ram(c, rows_out, err);
    for (cJSON *r = cJSON_GetArrayItem(rows_out, first); !rc && r; r = r->next) {
        cJSON_AddStringToObject(r, "peak_rss_scope", scope);
        if (have_est) cJSON_AddNumberToObject(r, "rss_estimate_kb", est.total / 1024);
    }
    return rc;
}
