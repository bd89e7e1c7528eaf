/* perplexity.c — see perplexity.h. NLL sums are accumulated in fp64. */
#include "perplexity.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scorer.h"
#include "task.h"

int ptq_eval_windows(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_window_fn fn, void *ctx,
                     int *nwin_out, int *seqlen_out, ptq_err *err) {
    ptq_rolling rw;
    if (ptq_rolling_plan(&m->cfg, toks, o, &rw, err)) return -1;
    int L = rw.L, first = rw.first;
    long nwin = rw.nwin;
    ptq_state s;
    if (ptq_state_init(&s, m, L, err)) return -1;
    int *win = ptq_calloc(L, sizeof(int), err);
    if (!win) {
        ptq_state_free(&s);
        return -1;
    }
    ptq_progress pb;
    if (o->progress) ptq_progress_start(&pb, "perplexity", nwin);
    int rc = 0;
    for (long w = 0; w < nwin && !rc; w++) {
        ptq_rolling_window(&rw, w, win);
        rc = ptq_forward(m, &s, win, L, 0, NULL, 0, err);
        if (!rc && fn(ctx, (int)w, win, s.logits, L, first, m->cfg.vocab_size))
            rc = ptq_fail(err, "window evaluation stopped at window %ld", w);
        if (o->progress) ptq_progress_update(&pb, w + 1);
    }
    if (o->progress) ptq_progress_end(&pb);
    free(win);
    ptq_state_free(&s);
    *nwin_out = (int)nwin;
    *seqlen_out = L;
    return rc;
}

typedef struct {
    double nll;
    long n;
    cJSON *per_window; /* when set: each window's mean NLL per scored token (report's paired bootstrap) */
} ppl_acc;

static int ppl_window(void *ctx, int w, const int *win, const float *logits, int T, int first, int vocab) {
    (void)w;
    ppl_acc *a = ctx;
    double nll = ptq_window_nll(logits, win, T, first, vocab);
    a->nll += nll;
    a->n += T - 1 - first;
    if (a->per_window) cJSON_AddItemToArray(a->per_window, cJSON_CreateNumber((float)(nll / (T - 1 - first))));
    return 0;
}

int ptq_ppl_finite(const ptq_ppl_result *r, ptq_err *err) {
    if (isfinite(r->ppl)) return 0;
    return ptq_fail(err,
                    "perplexity is not finite (ppl = %g from an NLL sum of %g over %ld tokens): the model's "
                    "outputs overflow or are NaN",
                    r->ppl, r->nll_sum, r->tokens_scored);
}

static int eval_ppl(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_ppl_result *r,
                    cJSON *per_window, ptq_err *err) {
    memset(r, 0, sizeof *r);
    ppl_acc a = {0, 0, per_window};
    double t0 = ptq_now_sec();
    if (ptq_eval_windows(m, toks, o, ppl_window, &a, &r->windows, &r->seqlen, err)) return -1;
    r->seconds = ptq_now_sec() - t0;
    r->nll_sum = a.nll;
    r->tokens_scored = a.n;
    double denom = o->denom_hf ? (double)r->windows * r->seqlen : (double)a.n;
    r->ppl = exp(a.nll / denom);
    r->tokens_per_sec = r->seconds > 0 ? (double)r->windows * r->seqlen / r->seconds : 0;
    return ptq_ppl_finite(r, err);
}

int ptq_eval_ppl(const ptq_model *m, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_ppl_result *r, ptq_err *err) {
    return eval_ppl(m, toks, o, r, NULL, err);
}

void ptq_ppl_metrics(cJSON *metrics, const ptq_ppl_result *r, const ptq_ppl_opts *o) {
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

static int parse_int(const char *s, long lo, long hi, int *out, ptq_err *err) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return ptq_fail(err, "expected an integer in %ld..%ld, got '%s'", lo, hi, s);
    *out = (int)v;
    return 0;
}

int ptq_ppl_opt_parse(ptq_ppl_opts *o, const char *key, const char *val, ptq_err *err) {
    if (!strcmp(key, "seqlen")) return parse_int(val, 2, 1 << 20, &o->seqlen, err);
    if (!strcmp(key, "limit_windows")) return parse_int(val, 1, 1 << 30, &o->limit_windows, err);
    if (!strcmp(key, "protocol")) {
        if (!strcmp(val, "gptq")) o->protocol = PTQ_PPL_GPTQ;
        else if (!strcmp(val, "halfwindow")) o->protocol = PTQ_PPL_HALFWINDOW;
        else return ptq_fail(err, "expected gptq or halfwindow, got '%s'", val);
        return 0;
    }
    if (!strcmp(key, "denominator")) {
        if (!strcmp(val, "hf")) o->denom_hf = 1;
        else if (!strcmp(val, "tokens")) o->denom_hf = 0;
        else return ptq_fail(err, "expected hf or tokens, got '%s'", val);
        return 0;
    }
    return ptq_fail(err, "unknown perplexity option '%s' (expected seqlen, limit_windows, protocol, denominator)", key);
}

int ptq_text_dataset_check(const char *name, ptq_err *err) {
    char list[256] = "";
    for (int i = 0; ptq_text_dataset_names[i]; i++) {
        if (!strcmp(ptq_text_dataset_names[i], name)) return 0;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ptq_text_dataset_names[i]);
    }
    return ptq_fail(err, "unknown dataset '%s' (text datasets: %s)", name, list);
}

/* ---- task kind "ppl:<dataset>" ---- */
static int ppl_run(const ptq_task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_tokens toks;
    ptq_ppl_result r;
    ptq_ppl_opts o = e->o->ppl;
    o.progress = e->o->progress;
    if (o.bos_id == 0 && o.protocol == PTQ_PPL_HALFWINDOW) o.bos_id = e->tok->add_bos ? e->tok->bos_id : -1;
    if (ptq_text_tokens(arg, e->tok, &toks, err)) return -1;
    cJSON *side = e->o->keep_side ? cJSON_AddObjectToObject(e->extra, "side") : NULL; /* float32 side file */
    int rc = eval_ppl(e->m, &toks, &o, &r, side ? cJSON_AddArrayToObject(side, "nll") : NULL, err);
    memcpy(sha, toks.sha256, 65);
    ptq_tokens_free(&toks);
    if (rc) return -1;
    ptq_ppl_metrics(metrics, &r, &o);
    return 0;
}

static const ptq_report_col ppl_col = {
    .per_task = 1,
    .metric = "ppl",
    .head = "",
    .caption = "Perplexity (lower is better).",
    .plot_label = "perplexity (log)",
    .decimals = 2,
    .lower_better = 1,
};

static const ptq_gate ppl_gates[] = {{.metric = "ppl", .rule = PTQ_GATE_PPL}, {0}};

const ptq_task_kind ptq_task_ppl = {
    .name = "ppl",
    .usage = "ppl:<dataset>",
    .text_dataset = 1,
    .arg_dataset = 1,
    .check = ptq_text_dataset_check,
    .run = ppl_run,
    .headline = {"ppl"},
    .report = &ppl_col,
    .gates = ppl_gates,
};
