/* zeroshot.c — lm-eval-harness 0.4 compatible zero-shot scoring (EVAL.md).
 *
 * Each item is a set of (context, continuation) requests (datasets/
 * zeroshot_tasks.c builds them from the assets). A request is tokenized
 * like lm-eval's _encode_pair, truncated from the left to max_seq + 1
 * tokens, and the model sees (ctx + cont)[:-1]; the continuation tokens'
 * log-probabilities are summed in fp64.
 *
 * Speed: the tokens shared by all requests of an item (the context of a
 * multiple-choice item, the sentence start of a WinoGrande pair) run once;
 * each continuation then runs from pos0 on that KV cache. Items are
 * independent, so they are spread over OpenMP threads with one forward state
 * each (BLAS is single-threaded inside the region); results do not depend
 * on the thread count. A model with online ops installed (rotations etc.)
 * is scored one item at a time, since those ops' contexts may hold scratch
 * buffers that are not safe to share between threads. */
#include "zeroshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "scorer.h"
#include "task.h"
#include "zeroshot_tasks.h"

int ptq_zs_argmax(const double *ll, const int *len, int n) {
    int b = 0;
    double best = len ? ll[0] / len[0] : ll[0];
    for (int i = 1; i < n; i++) {
        double x = len ? ll[i] / len[i] : ll[i];
        if (x > best) best = x, b = i;
    }
    return b;
}

double ptq_zs_stderr(double p, int n) { return n > 1 ? sqrt(p * (1 - p) / (n - 1)) : NAN; }

/* ---- one task ---- */
const char *const ptq_zeroshot_tasks[] = {"piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande",
                                          "boolq", "lambada_openai", "openbookqa", "copa", "siqa2", NULL};

static int has_online_ops(const ptq_model *m) {
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        if (l == m->cfg.n_layers) return m->lm_head.in_op.kind != PTQ_OP_IDENTITY;
        const ptq_layer *L = &m->layers[l];
        if (L->qk_op.kind || L->resid_op[0].kind || L->resid_op[1].kind) return 1;
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            if (L->lin[j].in_op.kind) return 1;
    }
    return 0;
}

typedef struct {
    const ptq_model *m;
    const ptq_zs_data *d;
    ptq_ll_req *req;   /* flattened requests */
    int *off;          /* item i: requests off[i]..off[i+1]-1 */
    double *ll;
    int *greedy;
    int nitems, share, failed;
    int window; /* the longest request input after truncation: the states' size */
    long done;
    ptq_ll_stats st;
    ptq_err err;
    ptq_progress *pb;
} run_ctx;

static void score_items(run_ctx *c, int nthr) {
#pragma omp parallel num_threads(nthr) if (nthr > 1)
    {
        ptq_state s;
        ptq_err e;
        ptq_ll_stats st = {0, 0, 0, 0, 0};
        int ok = ptq_state_init(&s, c->m, c->window, &e) == 0;
        int tid = ptq_thread_id();
        if (!ok) {
#pragma omp critical(zs_err)
            if (!c->failed) c->failed = 1, c->err = e;
        }
#pragma omp for schedule(dynamic, 8)
        for (int i = 0; i < c->nitems; i++) {
            if (!ok || c->failed) continue;
            int o = c->off[i], n = c->off[i + 1] - o;
            if (ptq_ll_score(c->m, &s, c->req + o, n, c->share, c->ll + o, c->greedy + o, &st, &e)) {
                ptq_wrap(&e, "item %d", i);
#pragma omp critical(zs_err)
                if (!c->failed) c->failed = 1, c->err = e;
            }
            long done;
#pragma omp atomic capture
            done = ++c->done;
            if (tid == 0 && c->pb) ptq_progress_update(c->pb, done);
        }
#pragma omp critical(zs_err)
        {
            c->st.tokens_forwarded += st.tokens_forwarded;
            c->st.tokens_requests += st.tokens_requests;
            c->st.truncated += st.truncated;
            c->st.cont_truncated += st.cont_truncated;
            c->st.cont_empty += st.cont_empty;
        }
        if (ok) ptq_state_free(&s);
    }
}

static void put_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void task_metrics(const ptq_zs_task *t, const run_ctx *c, cJSON *out, cJSON *side) {
    int n = c->nitems;
    double acc = 0, accn = 0, llsum = 0;
    cJSON *sa = side ? cJSON_AddArrayToObject(side, "acc") : NULL; /* per-item outcomes: paired tests */
    cJSON *sn = side && t->has_acc_norm ? cJSON_AddArrayToObject(side, "acc_norm") : NULL;
    for (int i = 0; i < n; i++) {
        const ptq_zs_item *it = &c->d->items[i];
        int o = c->off[i], k = c->off[i + 1] - o, a, an = 0;
        if (t->kind == PTQ_ZS_GREEDY) {
            a = c->greedy[o];
            llsum += c->ll[o];
        } else {
            a = ptq_zs_argmax(c->ll + o, NULL, k) == it->gold;
            an = ptq_zs_argmax(c->ll + o, it->choice_len, k) == it->gold;
        }
        acc += a, accn += an;
        if (sa) cJSON_AddItemToArray(sa, cJSON_CreateNumber(a));
        if (sn) cJSON_AddItemToArray(sn, cJSON_CreateNumber(an));
    }
    acc /= n;
    accn /= n;
    put_num(out, "acc", acc);
    put_num(out, "acc_stderr", ptq_zs_stderr(acc, n));
    if (t->has_acc_norm) {
        put_num(out, "acc_norm", accn);
        put_num(out, "acc_norm_stderr", ptq_zs_stderr(accn, n));
    }
    if (t->kind == PTQ_ZS_GREEDY) put_num(out, "ppl", exp(-llsum / n)); /* lm-eval: exp(-mean loglikelihood) */
}

static int zs_check(const char *arg, ptq_err *err);

int ptq_zeroshot_run(const ptq_model *m, const ptq_tokenizer *tok, const char *task, const ptq_zeroshot_opts *o,
                     cJSON *metrics, ptq_err *err) {
    const ptq_zs_task *t = ptq_zs_task_find(task);
    if (!t) return zs_check(task, err);
    if (o->limit < 0) return ptq_fail(err, "limit %d: expected a positive number of items (0 = all)", o->limit);
    if (tok->vocab_size > m->cfg.vocab_size)
        return ptq_fail(err, "tokenizer vocabulary %d exceeds the model's %d", tok->vocab_size, m->cfg.vocab_size);
    ptq_zs_data d;
    if (ptq_zs_load(t, &d, err)) return -1;
    run_ctx c = {.m = m, .d = &d, .share = !o->no_share};
    c.nitems = o->limit > 0 && o->limit < d.n ? o->limit : d.n;
    c.off = calloc((size_t)c.nitems + 1, sizeof(int));
    int rc = c.off ? 0 : ptq_fail(err, "out of memory");
    for (int i = 0; i < c.nitems && !rc; i++) c.off[i + 1] = c.off[i] + d.items[i].n;
    int nreq = rc ? 0 : c.off[c.nitems];
    c.req = rc ? NULL : calloc((size_t)nreq + 1, sizeof *c.req);
    c.ll = rc ? NULL : calloc((size_t)nreq + 1, sizeof(double));
    c.greedy = rc ? NULL : calloc((size_t)nreq + 1, sizeof(int));
    if (!rc && (!c.req || !c.ll || !c.greedy)) rc = ptq_fail(err, "out of memory");
    for (int i = 0; i < c.nitems && !rc; i++)
        for (int j = 0; j < d.items[i].n && !rc; j++)
            if (ptq_ll_encode(tok, d.items[i].ctx[j], d.items[i].cont[j], o->add_bos, &c.req[c.off[i] + j], err))
                rc = ptq_wrap(err, "task %s item %d choice %d", task, i, j);
    c.window = 1;
    for (int i = 0; i < nreq && !rc; i++)
        c.window = PTQ_MAX(c.window, PTQ_MIN(c.req[i].n - 1, m->cfg.max_seq));
    double t0 = ptq_now_sec();
    if (!rc) {
        ptq_progress pb;
        if (o->progress) ptq_progress_start(&pb, task, c.nitems);
        c.pb = o->progress ? &pb : NULL;
        score_items(&c, has_online_ops(m) ? 1 : ptq_num_threads());
        if (o->progress) ptq_progress_update(&pb, c.done), ptq_progress_end(&pb);
        if (c.failed) rc = -1, *err = c.err, ptq_wrap(err, "task %s", task);
    }
    double secs = ptq_now_sec() - t0;
    if (!rc) {
        cJSON_AddStringToObject(metrics, "task", task);
        task_metrics(t, &c, metrics, o->side);
        cJSON_AddNumberToObject(metrics, "n", c.nitems);
        cJSON_AddNumberToObject(metrics, "n_total", d.n);
        cJSON_AddNumberToObject(metrics, "limit", o->limit);
        cJSON_AddNumberToObject(metrics, "requests", nreq);
        cJSON_AddNumberToObject(metrics, "truncated", c.st.truncated);
        cJSON_AddNumberToObject(metrics, "cont_truncated", c.st.cont_truncated);
        cJSON_AddNumberToObject(metrics, "cont_empty", c.st.cont_empty);
        if (c.st.cont_empty)
            fprintf(stderr, "warning: %s: %d continuation(s) tokenize to nothing after the context split; scored "
                            "ll = 0 like lm-eval (cont_empty)\n", task, c.st.cont_empty);
        cJSON_AddBoolToObject(metrics, "bos", o->add_bos != 0);
        cJSON_AddNumberToObject(metrics, "tokens_forwarded", (double)c.st.tokens_forwarded);
        cJSON_AddNumberToObject(metrics, "tokens_requests", (double)c.st.tokens_requests);
        cJSON_AddNumberToObject(metrics, "seconds", secs);
        put_num(metrics, "tokens_per_sec", secs > 0 ? c.st.tokens_requests / secs : NAN);
        cJSON_AddStringToObject(metrics, "dataset_sha256", d.sha256);
        if (d.ctx_fixed) cJSON_AddNumberToObject(metrics, "ctx_b_capitalised", d.ctx_fixed);
        cJSON_AddStringToObject(metrics, "note", t->note);
    }
    for (int i = 0; c.req && i < nreq; i++) free(c.req[i].ids);
    free(c.req);
    free(c.ll);
    free(c.greedy);
    free(c.off);
    ptq_zs_data_free(&d);
    return rc;
}

/* ---- task kind "zeroshot:<task>" ---- */
static int zs_check(const char *arg, ptq_err *err) {
    char list[512] = "";
    for (int i = 0; ptq_zeroshot_tasks[i]; i++) {
        if (!strcmp(ptq_zeroshot_tasks[i], arg)) return 0;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ptq_zeroshot_tasks[i]);
    }
    return ptq_fail(err, "unknown zero-shot task '%s' (expected one of: %s)", arg, list);
}

static int zs_run(const ptq_task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_zeroshot_opts o = {.limit = e->o->zs_limit, .add_bos = e->o->zs_bos, .progress = e->o->progress,
                           .side = e->o->keep_side ? cJSON_AddObjectToObject(e->extra, "side") : NULL};
    if (ptq_zeroshot_run(e->m, e->tok, arg, &o, metrics, err)) return -1;
    ptq_task_take_sha(metrics, sha);
    return 0;
}

static const ptq_report_col zs_col = {.per_task = 0, .decimals = 1, .lower_better = 0};

static const ptq_gate zs_gates[] = {
    {.metric = "ppl", .rule = PTQ_GATE_PPL}, /* LAMBADA */
    {.metric = "acc", .stderr_metric = "acc_stderr", .rule = PTQ_GATE_ACC},
    {.metric = "acc_norm", .stderr_metric = "acc_norm_stderr", .rule = PTQ_GATE_ACC},
    {0},
};

const ptq_task_kind ptq_task_zeroshot = {
    .name = "zeroshot",
    .usage = "zeroshot:<task>",
    .arg_dataset = 1,
    .check = zs_check,
    .run = zs_run,
    .headline = {"acc_norm", "acc"},
    .report = &zs_col,
    .gates = zs_gates,
};
