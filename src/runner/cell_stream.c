/* cell_stream.c — see cell_stream.h. The model is a shell: the full config,
 * embedding, final norm and lm_head in RAM, and an array of n_layers block
 * slots of which only the one being processed holds weights, so the method
 * code addresses m->layers[l] exactly as in RAM. The evaluation forward runs
 * on a one-block view of that slot (KV cache of one block). */
#define _GNU_SOURCE
#include "cell_stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hf_checkpoint.h"
#include "method_util.h"
#include "model_open.h"
#include "scorer.h"
#include "sysinfo.h"

typedef struct { /* one ppl task: its windows and their hidden states */
    const char *task, *dataset;
    ptq_tokens toks;
    ptq_ppl_opts o;
    ptq_rolling rw; /* its windows (scorer.h) */
    int L;
    long nwin;
    float *X; /* nwin x L x dim */
    double fwd_sec;
} eval_set;

typedef struct {
    const ptq_cell *cell;
    const ptq_method *me;
    cJSON *info;
    char dir[4096], sha[65], name[128];
    ptq_config cfg;
    ptq_st st;
    int st_open;
    ptq_tokenizer *tok;
    ptq_model m;
    int dtype16; /* the checkpoint's 16-bit dtype (PTQ_W16_*), 0: fp32 */
    eval_set *ev; /* the ppl tasks, scored block by block */
    int nev;
    int keep; /* other tasks: each block stays after its pass, compact (qweights, no fp32 copy) */
    const ptq_stream_sink *sink; /* export --stream: each block goes there once quantized, then is freed */
    ptq_calib cal;
    float *Xc;
    double quant_sec, load_sec;
} stream_run;

/* ---- one block slot: allocate for cfg, free with everything hooked on it ---- */

static int lin_alloc(ptq_linear *l, int out, int in, int bias, ptq_err *err) {
    memset(l, 0, sizeof *l);
    l->out = out, l->in = in, l->owns_w = 1;
    l->aq = (ptq_act_qspec){16, 0, 1.f, 0};
    if (!(l->w = ptq_calloc((size_t)out * in, sizeof(float), err))) return -1;
    if (bias && !(l->bias = ptq_calloc(out, sizeof(float), err))) return -1;
    return 0;
}

static void layer_free(ptq_layer *L) {
    free(L->rms_att);
    free(L->rms_ffn);
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        ptq_linear *l = &L->lin[j];
        if (l->owns_w) free(l->w);
        free(l->bias);
        free(l->w_side);
        ptq_online_op_clear(&l->in_op);
        ptq_qweight_free(l->qw);
    }
    ptq_online_op_clear(&L->qk_op);
    ptq_online_op_clear(&L->resid_op[0]);
    ptq_online_op_clear(&L->resid_op[1]);
    memset(L, 0, sizeof *L);
}

static int layer_alloc(ptq_layer *L, const ptq_config *c, ptq_err *err) {
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    const int shapes[PTQ_LIN_COUNT][3] = {{qd, c->dim, c->attn_bias}, {kvd, c->dim, c->attn_bias},
                                          {kvd, c->dim, c->attn_bias}, {c->dim, qd, 0},
                                          {c->hidden_dim, c->dim, 0}, {c->hidden_dim, c->dim, 0},
                                          {c->dim, c->hidden_dim, 0}};
    memset(L, 0, sizeof *L);
    L->kq = L->vq = (ptq_act_qspec){16, 0, 1.f, 0};
    int rc = !(L->rms_att = ptq_calloc(c->dim, sizeof(float), err)) ||
             !(L->rms_ffn = ptq_calloc(c->dim, sizeof(float), err));
    for (int j = 0; j < PTQ_LIN_COUNT && !rc; j++)
        rc = lin_alloc(&L->lin[j], shapes[j][0], shapes[j][1], shapes[j][2], err);
    if (rc) layer_free(L);
    return rc ? -1 : 0;
}

/* ---- setup ---- */

/* The HF directory of cell->model (a directory or the short name of an HF
 * asset), its weights' sha256 when known, and the tokenizer path to use. */
static int resolve_model(stream_run *r, const char **tok_path, char *tbuf, size_t tcap, ptq_err *err) {
    const char *spec = r->cell->model;
    const ptq_named_model *named = NULL;
    for (int i = 0; ptq_named_models[i].name; i++)
        if (!strcmp(ptq_named_models[i].name, spec)) named = &ptq_named_models[i];
    snprintf(r->name, sizeof r->name, "%s", spec);
    snprintf(r->dir, sizeof r->dir, "%s", spec);
    *tok_path = r->cell->tokenizer;
    if (!named) return 0; /* a directory with config.json (checked by ptq_cell_check) */
    if (ptq_asset_open(named->weights_asset, r->dir, sizeof r->dir, r->sha, err))
        return ptq_wrap(err, "model %s", spec);
    char *slash = strrchr(r->dir, '/');
    if (slash) *slash = 0;
    if (!*tok_path && named->tokenizer_asset) {
        if (ptq_asset_open(named->tokenizer_asset, tbuf, tcap, NULL, err)) return ptq_wrap(err, "model %s", spec);
        *tok_path = tbuf;
    }
    return 0;
}

/* Shell model: outer tensors loaded, n_layers empty block slots. */
static int open_shell(stream_run *r, ptq_err *err) {
    ptq_config one = r->cfg;
    one.n_layers = 1;
    if (ptq_model_alloc(&r->m, &one, err)) return -1;
    layer_free(&r->m.layers[0]);
    free(r->m.layers);
    r->m.cfg.n_layers = r->cfg.n_layers; /* from here ptq_model_free frees every slot */
    if (!(r->m.layers = ptq_calloc(r->cfg.n_layers, sizeof(ptq_layer), err))) {
        r->m.cfg.n_layers = 0;
        return -1;
    }
    snprintf(r->m.path, sizeof r->m.path, "%s", r->dir);
    snprintf(r->m.name, sizeof r->m.name, "%s", r->name);
    memcpy(r->m.sha256, r->sha, 65);
    r->dtype16 = ptq_hf_weights_dtype16(&r->st, &r->cfg);
    return ptq_hf_load_outer(&r->st, &r->m, 1, err);
}

/* The outer tensors a method left as loaded go back to the checkpoint's
 * 16-bit dtype (exact, so the same forward) once begin has run. */
static int narrow_outer(stream_run *r, int which, ptq_err *err) {
    return r->dtype16 ? ptq_model_narrow(&r->m, r->dtype16, which, err) : 0;
}

/* The one use of lm_head's fp32 form after begin: end() rounds it under
 * quant_lm_head (from an untied copy), so it is widened back only then. */
static int lm_head_for_end(stream_run *r, ptq_err *err) {
    const ptq_method *me = r->me;
    if (ptq_lm_head_wbits(me, r->cell->run_opts, r->cell->quantizer.w_bits) >= 16) return 0;
    return ptq_model_untie(&r->m, err) || ptq_linear_widen(&r->m.lm_head, err) ? -1 : 0;
}

/* Tokens and embedded windows of one ppl task (as task_ppl / ptq_eval_windows). */
static int open_eval(stream_run *r, eval_set *e, const char *task, ptq_err *err) {
    e->task = task;
    e->dataset = task + 4;
    e->o = r->cell->eval.ppl;
    if (e->o.bos_id == 0 && e->o.protocol == PTQ_PPL_HALFWINDOW) e->o.bos_id = r->tok->add_bos ? r->tok->bos_id : -1;
    if (ptq_text_tokens(e->dataset, r->tok, &e->toks, err)) return -1;
    if (ptq_rolling_plan(&r->cfg, &e->toks, &e->o, &e->rw, err)) return -1;
    int L = e->L = e->rw.L;
    e->nwin = e->rw.nwin;
    size_t per = (size_t)L * r->cfg.dim;
    int *win = ptq_calloc(L, sizeof(int), err);
    if (!win || !(e->X = ptq_calloc((size_t)e->nwin * per, sizeof(float), err))) return free(win), -1;
    int rc = 0;
    for (long w = 0; w < e->nwin && !rc; w++) {
        ptq_rolling_window(&e->rw, w, win);
        rc = ptq_forward_embed(&r->m, win, L, e->X + w * per, err);
    }
    free(win);
    return rc;
}

/* ---- the pass ---- */

static int embed_calib(stream_run *r, const ptq_apply_ctx *ctx, ptq_err *err) {
    if (ptq_method_calib(r->me, ctx, &r->m, &r->cal, err)) return -1;
    size_t win = (size_t)r->cal.seqlen * r->cfg.dim;
    if (!(r->Xc = ptq_calloc((size_t)r->cal.nsamples * win, sizeof(float), err)))
        return ptq_wrap(err, "calibration activations (%d x %d x %d floats)", r->cal.nsamples, r->cal.seqlen,
                        r->cfg.dim);
    for (int i = 0; i < r->cal.nsamples; i++)
        if (ptq_forward_embed(&r->m, r->cal.tokens + (size_t)i * r->cal.seqlen, r->cal.seqlen, r->Xc + i * win, err))
            return -1;
    return 0;
}

/* Advance every evaluation window through block l (one-block view). */
static int eval_block(stream_run *r, int l, ptq_state *s, ptq_err *err) {
    ptq_model view = r->m;
    view.cfg.n_layers = 1;
    view.layers = &r->m.layers[l];
    for (int i = 0; i < r->nev; i++) {
        eval_set *e = &r->ev[i];
        double t = ptq_now_sec();
        for (long w = 0; w < e->nwin; w++)
            if (ptq_forward_block(&view, s, 0, e->X + (size_t)w * e->L * r->cfg.dim, e->L, 0, err))
                return ptq_wrap(err, "block %d", l);
        e->fwd_sec += ptq_now_sec() - t;
    }
    return 0;
}

static int do_block(stream_run *r, void *mst, int need, int l, ptq_state *s, ptq_stream_block_stat *b,
                    ptq_err *err) {
    const ptq_block_method *bm = r->me->blocks;
    ptq_layer *L = &r->m.layers[l];
    double t0 = ptq_now_sec();
    if (layer_alloc(L, &r->cfg, err) || ptq_hf_load_layer(&r->st, &r->cfg, l, L, 1, err))
        return ptq_wrap(err, "block %d", l);
    double t1 = ptq_now_sec();
    double f0 = ptq_calib_forward_seconds();
    int rc = bm->block(mst, &r->m, l, r->Xc, need ? &r->cal : NULL, err);
    if (rc == 0 && need) rc = ptq_calib_block_forward(&r->m, l, r->Xc, r->Xc, &r->cal, NULL, NULL, err);
    rc = rc < 0 ? -1 : 0; /* 1: block() advanced X itself */
    if (!rc && bm->block_end) rc = bm->block_end(mst, &r->m, l, err);
    double t2 = ptq_now_sec();
    if (!rc) rc = eval_block(r, l, s, err);
    if (!rc && r->sink) rc = r->sink->block(r->sink->ctx, &r->m, l, err);
    if (!r->keep) layer_free(L);
    else /* the quantized block stays as its packed qweights; full-precision linears (fp16) in fp32 */
        for (int j = 0; j < PTQ_LIN_COUNT && !rc; j++)
            if (L->lin[j].qw) free(L->lin[j].w), L->lin[j].w = NULL, rc = ptq_qweight_compact(L->lin[j].qw, err);
    b->load_sec = t1 - t0, b->quant_sec = t2 - t1, b->fwd_sec = ptq_now_sec() - t2;
    b->calib_fwd_sec = ptq_calib_forward_seconds() - f0;
    b->rss_kb = ptq_rss_kb(), b->peak_rss_kb = ptq_peak_rss_kb();
    r->load_sec += b->load_sec, r->quant_sec += b->quant_sec;
    if (r->cell->eval.progress)
        fprintf(stderr,
                "block %2d/%d: load %.2f s, quantize %.2f s (calibration forward %.2f s), forward %.2f s, RSS %.0f "
                "MiB, peak %.0f MiB\n",
                l + 1, r->cfg.n_layers, b->load_sec, b->quant_sec, b->calib_fwd_sec, b->fwd_sec, b->rss_kb / 1024.0,
                b->peak_rss_kb / 1024.0);
    return rc;
}

/* The whole pass: begin, embed, blocks, end. */
static int run_pass(stream_run *r, ptq_stream_block_stat *blocks, ptq_state *s, ptq_err *err) {
    const ptq_block_method *bm = r->me->blocks;
    const ptq_cell *c = r->cell;
    ptq_calib_spec cs = c->calib;
    cs.seed = c->seed;
    ptq_apply_ctx ctx = {
        .q = &c->quantizer, .opts = c->run_opts, .tok = r->tok, .calib = &cs, .seed = c->seed, .info = r->info};
    void *mst = NULL;
    int need = c->needs_calib;
    double t0 = ptq_now_sec();
    if (bm->begin(&r->m, &ctx, &mst, err)) return ptq_wrap(err, "method %s", r->me->name);
    int rc = narrow_outer(r, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, err);
    if (!rc && need) rc = embed_calib(r, &ctx, err);
    r->quant_sec += ptq_now_sec() - t0;
    for (int i = 0, k = 0; i < r->cell->ntasks && !rc; i++)
        if (ptq_task_kind_of(r->cell->tasks[i]) == &ptq_task_ppl) rc = open_eval(r, &r->ev[k++], r->cell->tasks[i], err);
    int maxL = 0;
    for (int i = 0; i < r->nev && !rc; i++)
        maxL = PTQ_MAX(maxL, r->ev[i].L);
    ptq_model view = r->m;
    view.cfg.n_layers = 1;
    if (!rc && maxL) rc = ptq_state_init(s, &view, maxL, err);
    for (int l = 0; l < r->cfg.n_layers && !rc; l++)
        rc = do_block(r, mst, need, l, s, &blocks[l], err);
    t0 = ptq_now_sec();
    if (!rc) rc = lm_head_for_end(r, err);
    if (rc) {
        ptq_err scratch;
        bm->end(mst, &r->m, 0, &scratch);
        return ptq_wrap(err, "method %s", r->me->name);
    }
    rc = bm->end(mst, &r->m, 1, err);
    if (!rc) rc = narrow_outer(r, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, err);
    r->quant_sec += ptq_now_sec() - t0;
    return rc ? ptq_wrap(err, "method %s", r->me->name) : 0;
}

/* ---- scoring and rows ---- */

static int score(stream_run *r, eval_set *e, ptq_state *s, ptq_ppl_result *res, ptq_err *err) {
    memset(res, 0, sizeof *res);
    double t = ptq_now_sec();
    int *win = malloc((size_t)e->L * sizeof(int));
    for (long w = 0; w < e->nwin && win; w++) {
        ptq_rolling_window(&e->rw, w, win);
        if (ptq_forward_head(&r->m, s, e->X + (size_t)w * e->L * r->cfg.dim, e->L, s->logits, err)) {
            free(win);
            return -1;
        }
        res->nll_sum += ptq_window_nll(s->logits, win, e->L, e->rw.first, r->cfg.vocab_size);
        res->tokens_scored += e->L - 1 - e->rw.first;
    }
    free(win);
    e->fwd_sec += ptq_now_sec() - t;
    res->windows = (int)e->nwin;
    res->seqlen = e->L;
    res->seconds = e->fwd_sec;
    double denom = e->o.denom_hf ? (double)e->nwin * e->L : (double)res->tokens_scored;
    res->ppl = exp(res->nll_sum / denom);
    res->tokens_per_sec = e->fwd_sec > 0 ? (double)e->nwin * e->L / e->fwd_sec : 0;
    return ptq_ppl_finite(res, err);
}

static cJSON *stream_json(const stream_run *r, const ptq_stream_block_stat *b) {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    double fwd = 0, cfwd = 0;
    for (int l = 0; l < r->cfg.n_layers; l++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "load_sec", b[l].load_sec);
        cJSON_AddNumberToObject(x, "quant_sec", b[l].quant_sec);
        cJSON_AddNumberToObject(x, "calib_fwd_sec", b[l].calib_fwd_sec);
        cJSON_AddNumberToObject(x, "fwd_sec", b[l].fwd_sec);
        cJSON_AddNumberToObject(x, "rss_kb", (double)b[l].rss_kb);
        cJSON_AddNumberToObject(x, "peak_rss_kb", (double)b[l].peak_rss_kb);
        cJSON_AddItemToArray(arr, x);
        fwd += b[l].fwd_sec, cfwd += b[l].calib_fwd_sec;
    }
    cJSON_AddNumberToObject(o, "load_seconds", r->load_sec);
    cJSON_AddNumberToObject(o, "quantize_seconds", r->quant_sec);
    cJSON_AddNumberToObject(o, "block_forward_seconds", fwd);
    cJSON_AddNumberToObject(o, "calib_forward_seconds", cfwd); /* of quantize_seconds; the rest: Hessians, GPTQ */
    cJSON_AddItemToObject(o, "blocks", arr);
    return o;
}

static void add_row(stream_run *r, eval_set *e, const ptq_ppl_result *res, const ptq_stream_block_stat *b,
                    cJSON *rows) {
    cJSON *met = cJSON_CreateObject();
    ptq_ppl_metrics(met, res, &e->o);
    cJSON *row = ptq_cell_row(r->cell, &r->m, r->info, r->quant_sec, e->task, met, e->toks.sha256, e->fwd_sec);
    cJSON_AddItemToObject(row, "stream", stream_json(r, b));
    cJSON_AddItemToArray(rows, row);
}

/* A task other than ppl on the model the pass left in RAM (r->keep). */
static int other_task(stream_run *r, const char *task, const ptq_stream_block_stat *b, cJSON *rows, ptq_err *err) {
    const ptq_task_kind *k;
    const char *arg;
    char sha[65] = "";
    if (ptq_task_parse(task, &k, &arg, err)) return -1;
    ptq_task_env env = {.m = &r->m, .tok = r->tok, .q = &r->cell->quantizer, .o = &r->cell->eval};
    cJSON *met = cJSON_CreateObject();
    env.extra = cJSON_CreateObject();
    double t0 = ptq_now_sec();
    int rc = k->run(&env, arg, met, sha, err) || ptq_metrics_finite(met, err);
    if (rc) {
        cJSON_Delete(met), cJSON_Delete(env.extra);
        return ptq_wrap(err, "task %s", task);
    }
    cJSON *row = ptq_cell_row(r->cell, &r->m, r->info, r->quant_sec, task, met, sha, ptq_now_sec() - t0);
    for (cJSON *x = env.extra->child; x; x = env.extra->child)
        cJSON_AddItemToObject(row, x->string, cJSON_DetachItemViaPointer(env.extra, x));
    cJSON_Delete(env.extra);
    cJSON_AddItemToObject(row, "stream", stream_json(r, b));
    cJSON_AddItemToArray(rows, row);
    return 0;
}

/* KLD needs the FP log-probs: computed once, before quantizing, from the FP
 * model resident in its checkpoint dtype (kld.c caches them on disk by the
 * model's sha256), so the pass never holds both models. */
static int fp_kld_caches(stream_run *r, ptq_err *err) {
    ptq_model fp;
    ptq_tokenizer *tok = NULL;
    int rc = 0, opened = 0;
    for (int i = 0; i < r->cell->ntasks && !rc; i++) {
        const ptq_task_kind *k;
        const char *arg;
        char sha[65];
        if (ptq_task_parse(r->cell->tasks[i], &k, &arg, err)) return -1;
        if (!k->needs_fp) continue;
        if (!opened) {
            if (ptq_open_model(r->cell->model, r->cell->tokenizer, &fp, &tok, err)) return ptq_wrap(err, "FP model");
            memcpy(fp.sha256, r->sha, sizeof fp.sha256);
            opened = 1;
        }
        ptq_task_env env = {.m = &fp, .fp = &fp, .tok = tok, .q = &r->cell->quantizer, .o = &r->cell->eval};
        cJSON *met = cJSON_CreateObject();
        env.extra = cJSON_CreateObject();
        rc = k->run(&env, arg, met, sha, err) ? ptq_wrap(err, "FP log-probs for %s", r->cell->tasks[i]) : 0;
        cJSON_Delete(met), cJSON_Delete(env.extra);
    }
    if (opened) ptq_model_free(&fp), ptq_tokenizer_free(tok);
    return rc;
}

static void run_free(stream_run *r) {
    for (int i = 0; i < r->nev; i++) {
        if (r->ev[i].toks.ids) ptq_tokens_free(&r->ev[i].toks);
        free(r->ev[i].X);
    }
    free(r->ev);
    free(r->Xc);
    ptq_calib_free(&r->cal);
    if (r->m.layers || r->m.tok_emb || r->m.emb16.w) ptq_model_free(&r->m);
    ptq_tokenizer_free(r->tok);
    if (r->st_open) ptq_st_close(&r->st);
    cJSON_Delete(r->info);
}

/* Config, weights, tokenizer and block stats of a streamed cell. */
static int stream_open(stream_run *r, ptq_cell *cell, ptq_stream_block_stat **b, ptq_err *err) {
    char tbuf[4096];
    const char *tok_path = NULL;
    if (resolve_model(r, &tok_path, tbuf, sizeof tbuf, err)) return -1;
    if (ptq_hf_read_config(r->dir, &r->cfg, err) || ptq_hf_open_weights(r->dir, &r->cfg, &r->st, err)) return -1;
    r->st_open = 1;
    if (ptq_hf_open_tokenizer(r->dir, tok_path, r->cfg.vocab_size, &r->tok, err)) return -1;
    if (!*b && !(*b = ptq_calloc(r->cfg.n_layers, sizeof **b, err))) return -1;
    return (r->ev = ptq_calloc(cell->ntasks + 1, sizeof *r->ev, err)) ? 0 : -1;
}

int ptq_prepare_stream(ptq_cell *cell, const ptq_stream_sink *sink, ptq_prepared *p, ptq_err *err) {
    stream_run r;
    memset(&r, 0, sizeof r);
    memset(p, 0, sizeof *p);
    cell->stream = 1;
    if (!ptq_cell_is_checked(cell) && ptq_cell_check(cell, err))
        return ptq_wrap(err, "streamed cell %s %s %s", cell->model, cell->method->name, cell->q.text);
    r.cell = cell;
    r.me = cell->method;
    r.keep = !sink; /* every block stays, compact, unless it goes to the sink */
    r.sink = sink;
    if (!(r.info = cJSON_CreateObject())) return ptq_fail(err, "out of memory");
    ptq_state s;
    memset(&s, 0, sizeof s);
    ptq_stream_block_stat *b = NULL;
    int rc = stream_open(&r, cell, &b, err) || open_shell(&r, err) || run_pass(&r, b, &s, err) ? -1 : 0;
    if (!rc) { /* the model, tokenizer and info move to p */
        p->m = r.m, p->have_m = 1, p->tok = r.tok, p->info = r.info, p->quant_seconds = r.quant_sec;
        memset(&r.m, 0, sizeof r.m), r.tok = NULL, r.info = NULL;
    }
    ptq_state_free(&s);
    free(b);
    run_free(&r);
    return rc ? ptq_wrap(err, "streamed cell %s %s %s", cell->model, cell->method->name, cell->q.text) : 0;
}

int ptq_run_cell_stream(ptq_cell *cell, cJSON *rows_out, ptq_stream_block_stat *blocks, ptq_err *err) {
    stream_run r;
    memset(&r, 0, sizeof r);
    cell->stream = 1;
    if (!ptq_cell_is_checked(cell) && ptq_cell_check(cell, err))
        return ptq_wrap(err, "streamed cell %s %s %s", cell->model, cell->method->name, cell->q.text);
    r.cell = cell;
    r.me = cell->method;
    if (!(r.info = cJSON_CreateObject())) return ptq_fail(err, "out of memory");
    ptq_state s;
    memset(&s, 0, sizeof s);
    ptq_stream_block_stat *b = blocks;
    int rc = -1;
    if (stream_open(&r, cell, &b, err)) goto out;
    for (int i = 0; i < cell->ntasks; i++) {
        int ppl = ptq_task_kind_of(cell->tasks[i]) == &ptq_task_ppl;
        r.nev += ppl, r.keep |= !ppl;
    }
    for (int i = 0; i < cell->ntasks; i++)
        if (ptq_task_kind_of(cell->tasks[i])->needs_fp && !r.sha[0] && ptq_hf_dir_sha256(r.dir, r.sha, err)) goto out;
    /* FP log-probs first: the FP model is gone before the shell and the blocks exist */
    if (fp_kld_caches(&r, err) || open_shell(&r, err) || run_pass(&r, b, &s, err)) goto out;
    rc = 0;
    cJSON *rows = cJSON_CreateArray(); /* all or nothing: no partial rows on a failure */
    for (int i = 0, k = 0; i < cell->ntasks && !rc; i++) {
        if (ptq_task_kind_of(cell->tasks[i]) != &ptq_task_ppl) {
            rc = other_task(&r, cell->tasks[i], b, rows, err);
            continue;
        }
        ptq_ppl_result res;
        rc = score(&r, &r.ev[k], &s, &res, err);
        if (!rc) add_row(&r, &r.ev[k++], &res, b, rows);
    }
    if (rc) {
        cJSON_Delete(rows);
        goto out;
    }
    for (cJSON *x = rows->child; x; x = rows->child) cJSON_AddItemToArray(rows_out, cJSON_DetachItemViaPointer(rows, x));
    cJSON_Delete(rows);
out:
    ptq_state_free(&s);
    if (b != blocks) free(b);
    run_free(&r);
    return rc ? ptq_wrap(err, "streamed cell %s %s %s", cell->model, cell->method->name, cell->q.text) : 0;
}
