/* spinlearn.c — learning a SpinQuant / ReSpinQuant rotation plan
 * (spinrot.h) with the training engine (src/train): Cayley SGD on the
 * next-token cross-entropy of the network with activations and KV
 * fake-quantized, weights at 16 bits. */
#include "spinrot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* ---- learning (Cayley SGD on the quantized network's cross-entropy) ------ */

/* The training view applies each residual basis to the input of the linears
 * that read it (x . R before their activation quantizer, W . R) and leaves
 * the stream itself in the original basis: with the norm gammas fused, this
 * is the function of the fused model with exact basis changes. V/O: R on
 * v_proj's output heads and o_proj's input heads. */
static int attach(ptq_tmodel *tm, ptq_spin_plan *p, int *rid, int *vid, ptq_err *err) {
    int L = p->n_layers;
    for (int k = 0; k < 2 * L; k++) {
        rid[k] = k > 0 && p->res[k] == p->res[k - 1] ? rid[k - 1] : -1;
        if (rid[k] < 0) {
            char nm[32];
            snprintf(nm, sizeof nm, L > 0 && p->res[1] == p->res[0] ? "R1" : "res.%d", k);
            if ((rid[k] = ptq_tmodel_add_rotation(tm, nm, p->d, p->res[k], err)) < 0) return -1;
        }
    }
    for (int l = 0; l < L; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "layers.%d.R2", l);
        if ((vid[l] = ptq_tmodel_add_rotation(tm, nm, p->hd, p->vo[l], err)) < 0) return -1;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            int rc = 0;
            if (j == PTQ_LIN_O)
                rc = ptq_tmodel_set_in_rot(tm, l, j, vid[l], 0, err);
            else if (j != PTQ_LIN_DOWN)
                rc = ptq_tmodel_set_in_rot(tm, l, j, rid[2 * l + (j >= PTQ_LIN_GATE)], 1, err);
            if (rc) return -1;
        }
        if (ptq_tmodel_set_out_rot(tm, l, PTQ_LIN_V, vid[l], err)) return -1;
    }
    return 0;
}

/* Mean cross-entropy of windows [0, n) (next-token targets). */
static int calib_loss(ptq_tmodel *tm, ptq_tape *tp, const ptq_calib *c, int *tgt, double *out, ptq_err *err) {
    double sum = 0;
    for (int i = 0; i < c->nsamples; i++) {
        const int *tok = c->tokens + (size_t)i * c->seqlen;
        double loss;
        for (int t = 0; t < c->seqlen; t++)
            tgt[t] = t + 1 < c->seqlen ? tok[t + 1] : -1;
        if (ptq_train_forward(tm, tp, tok, tgt, c->seqlen, NULL, &loss, err)) return -1;
        sum += loss;
    }
    *out = sum / c->nsamples;
    return 0;
}

typedef struct {
    ptq_model mc;
    ptq_tmodel tm;
    ptq_tape *tp;
    ptq_cayley cay;
    ptq_calib cal;
    int *rid, *vid, *tgt;
    int batch;
    int have_mc, have_tm, have_cay;
} learn_ws;

static void learn_ws_free(learn_ws *w) {
    ptq_tape_free(w->tp);
    if (w->have_cay) ptq_cayley_free(&w->cay);
    if (w->have_tm) ptq_tmodel_free(&w->tm);
    if (w->have_mc) ptq_model_free(&w->mc);
    ptq_calib_free(&w->cal);
    free(w->rid), free(w->vid), free(w->tgt);
}

/* The model the rotations are trained on: a copy of m with fused norms,
 * the online Hadamards, activation/KV quantizers, weights at 16 bits. */
static int learn_setup(learn_ws *w, const ptq_method *me, ptq_spin_plan *p, const ptq_model *m,
                       const ptq_apply_ctx *ctx, ptq_err *err) {
    int L = m->cfg.n_layers;
    if (ptq_method_calib(me, ctx, m, &w->cal, err) || ptq_model_clone(&w->mc, m, err)) return -1;
    w->have_mc = 1;
    for (int l = 0; l < L; l++) {
        ptq_spin_fuse_norms(&w->mc, l);
        if (ptq_spin_online_ops(&w->mc, l, ctx->seed, err)) return ptq_wrap(err, "layer %d", l);
        ptq_install_act_kv_layer(&w->mc, me, ctx, l);
    }
    w->rid = ptq_calloc(2 * L + 1, sizeof(int), err);
    w->vid = ptq_calloc(L + 1, sizeof(int), err);
    w->tgt = ptq_calloc(w->cal.seqlen, sizeof(int), err);
    if (!w->rid || !w->vid || !w->tgt || ptq_tmodel_init(&w->tm, &w->mc, 0, err)) return -1;
    w->have_tm = 1;
    if (attach(&w->tm, p, w->rid, w->vid, err) || !(w->tp = ptq_tape_new(&w->tm, w->cal.seqlen, err))) return -1;
    if (ptq_cayley_init(&w->cay, &w->tm.P, ptq_opt_num(me, ctx->opts, "momentum"), ctx->seed, err)) return -1;
    w->have_cay = 1;
    return 0;
}

/* Window (step * batch + w) mod nsamples of the calibration set. */
static int next_window(void *ctx, long step, int w, ptq_rng *rng, int *tokens, int *targets, int *T, ptq_err *err) {
    (void)rng, (void)err;
    const learn_ws *ws = ctx;
    const ptq_calib *c = &ws->cal;
    const int *tok = c->tokens + (size_t)((step * ws->batch + w) % c->nsamples) * c->seqlen;
    memcpy(tokens, tok, sizeof(int) * c->seqlen);
    for (int t = 0; t < c->seqlen; t++)
        targets[t] = t + 1 < c->seqlen ? tok[t + 1] : -1;
    *T = c->seqlen;
    return 0;
}

/* Cayley SGD through the engine's loop: `batch` windows per step (gradients
 * averaged), lr on a cosine to 0; checkpoint/resume when ckpt names a file
 * (a checkpoint of another model, method or options is refused). At full
 * batch a step's loss is the calibration CE of the iterate it starts from,
 * and the loop ends on the lowest one; each step takes the first of
 * `line_search` sizes (lr, lr/4, ...) that lowers it. The straight-through
 * gradient of a small model's A4/KV4 CE is a descent direction only over a
 * short range: measured on stories260K (8 x 64 tokens), steps along it of
 * t = 1e-4 and 3e-4 lower the CE by 0.028 and 0.026, t = 1e-3, 3e-3, 0.1
 * and 1 raise it by 0.007 to 0.053, 3e-2 lowers it by 0.009: a fixed step
 * at any lr is close to a random walk (the loss curves of lr 5e-4..0.05 at
 * 16 x 128 tokens wander by +-0.03). */
static int learn_loop(learn_ws *w, const ptq_method *me, const ptq_model *m, const ptq_apply_ctx *ctx, long steps,
                      double lr, double *losses, long *best_step, ptq_err *err) {
    const char *ckpt = ptq_opt_str(me, ctx->opts, "checkpoint");
    char label[512], id[1536];
    ptq_opts_label(me, ctx->opts, label, sizeof label);
    snprintf(id, sizeof id, "%s %s %s seed %llu calib %s x%d x%d", m->path, ctx->q->text, label,
             (unsigned long long)ctx->seed, w->cal.dataset_sha256, w->cal.nsamples, w->cal.seqlen);
    ptq_train_loop_opts o = {.label = me->name,
                             .steps = steps,
                             .accum = w->batch,
                             .cay = &w->cay,
                             .cay_lr = lr,
                             .ckpt_path = ckpt && *ckpt ? ckpt : NULL,
                             .ckpt_every = (long)ptq_opt_num(me, ctx->opts, "checkpoint_every"),
                             .identity = id,
                             .seed = ctx->seed,
                             .batch = next_window,
                             .batch_ctx = w,
                             .losses = losses,
                             .keep_best = w->batch == w->cal.nsamples,
                             .line_search =
                                 w->batch == w->cal.nsamples ? (int)ptq_opt_num(me, ctx->opts, "line_search") : 0,
                             .best_step = best_step};
    return ptq_train_loop(&w->tm, w->tp, &o, err);
}

int ptq_spin_learn(const ptq_method *me, ptq_spin_plan *p, const ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    long steps = (long)ptq_opt_num(me, ctx->opts, "steps");
    int batch = (int)ptq_opt_num(me, ctx->opts, "batch"), ns = (int)ptq_opt_num(me, ctx->opts, "nsamples");
    if (batch == 0 || batch > ns) batch = ns; /* full batch: each step's loss is the calibration CE */
    double lr = ptq_opt_num(me, ctx->opts, "lr");
    if (steps == 0 || steps < -1)
        return ptq_fail(err, "%s: option 'steps' = %ld: expected >= 1 (or -1 for one epoch)", me->name, steps);
    if (steps < 0) steps = (ns + batch - 1) / batch;
    learn_ws w;
    memset(&w, 0, sizeof w);
    double *losses = ptq_calloc(steps, sizeof(double), err), t0 = ptq_now_sec();
    w.batch = batch;
    long best_step = -1;
    int rc = !losses || learn_setup(&w, me, p, m, ctx, err) || calib_loss(&w.tm, w.tp, &w.cal, w.tgt, &p->loss0, err) ||
             ptq_train_check_loss(p->loss0, 0, me->name, err) ||
             learn_loop(&w, me, m, ctx, steps, lr, losses, &best_step, err) ||
             calib_loss(&w.tm, w.tp, &w.cal, w.tgt, &p->loss1, err) ||
             ptq_train_check_loss(p->loss1, steps, me->name, err);
    if (!rc) { /* the learned matrices back into the plan */
        for (int k = 0; k < 2 * p->n_layers; k++)
            if (k == 0 || w.rid[k] != w.rid[k - 1])
                memcpy(p->res[k], w.tm.P.p[w.rid[k]].val, sizeof(float) * p->d * p->d);
        for (int l = 0; l < p->n_layers; l++)
            memcpy(p->vo[l], w.tm.P.p[w.vid[l]].val, sizeof(float) * p->hd * p->hd);
        p->learned_steps = (int)steps;
        p->learn_seconds = ptq_now_sec() - t0;
        if (ctx->info) {
            cJSON *o = cJSON_AddObjectToObject(ctx->info, "learning");
            long run = 0;
            for (long i = 0; i < steps; i++)
                run += isfinite(losses[i]) != 0;
            cJSON_AddNumberToObject(o, "steps", (double)steps);
            cJSON_AddNumberToObject(o, "steps_run", (double)run); /* fewer: the line search found no lower CE */
            cJSON_AddNumberToObject(o, "batch", batch);
            cJSON_AddNumberToObject(o, "lr", lr);
            cJSON_AddNumberToObject(o, "calib_loss_initial", p->loss0);
            cJSON_AddNumberToObject(o, "calib_loss_learned", p->loss1);
            if (best_step >= 0) cJSON_AddNumberToObject(o, "kept_iterate", (double)best_step);
            cJSON_AddNumberToObject(o, "seconds", p->learn_seconds);
            cJSON *curve = cJSON_AddArrayToObject(o, "loss_curve"); /* before a resume / after a stop: null */
            for (long i = 0; i < steps; i++)
                cJSON_AddItemToArray(curve, isfinite(losses[i]) ? cJSON_CreateNumber(losses[i]) : cJSON_CreateNull());
        }
    }
    free(losses);
    learn_ws_free(&w);
    return rc ? ptq_wrap(err, "%s: learning the rotations", me->name) : 0;
}
