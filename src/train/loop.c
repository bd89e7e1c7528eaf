/* loop.c — the optimization loop shared by learned methods and pretraining
 * (train.h): windows -> forward/backward (averaged over accum windows) ->
 * clip -> AdamW / Cayley SGD -> progress -> checkpoint every N steps. The
 * data RNG, optimizer state, parameters (and the best iterate, keep_best)
 * are checkpointed together, so a run killed at any point and restarted
 * ends with the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

static int check_opts(const ptq_train_loop_opts *o, const ptq_tape *tp, ptq_err *err) {
    const char *w = o->label ? o->label : "training";
    if (o->steps <= 0) return ptq_fail(err, "%s: steps must be positive, got %ld", w, o->steps);
    if (o->accum < 1) return ptq_fail(err, "%s: windows per step must be >= 1, got %d", w, o->accum);
    if (!o->batch) return ptq_fail(err, "%s: no batch provider", w);
    if (!o->adam && !o->cay) return ptq_fail(err, "%s: no optimizer", w);
    if (!(o->clip >= 0) || !(o->lr >= 0) || !(o->cay_lr >= 0))
        return ptq_fail(err, "%s: learning rates and clip must be finite and >= 0", w);
    (void)tp;
    return 0;
}

/* Decoupled weight decay on the model's matrices (rows >= 2: not the norm gains). */
static void decay_matrices(ptq_tmodel *tm, double lr, double decay) {
    float f = (float)(1.0 - lr * decay);
    for (int i = 0; i < tm->n_weights; i++) {
        ptq_param *p = &tm->P.p[i];
        if (p->rows < 2 || !p->grad) continue;
        for (long j = 0; j < ptq_param_size(p); j++) p->val[j] *= f;
    }
}

/* keep_best: copies of the trainable parameters. */
static int best_init(ptq_best *b, const ptq_params *P, ptq_err *err) {
    b->loss = INFINITY, b->step = -1, b->n = P->n;
    if (!(b->val = ptq_calloc(P->n ? P->n : 1, sizeof(float *), err))) return -1;
    for (int i = 0; i < P->n; i++)
        if (P->p[i].grad && !(b->val[i] = ptq_calloc((size_t)ptq_param_size(&P->p[i]), sizeof(float), err))) return -1;
    return 0;
}

static void best_free(ptq_best *b) {
    for (int i = 0; i < b->n && b->val; i++)
        free(b->val[i]);
    free(b->val);
}

/* copy = 1: P -> best; 0: best -> P. */
static void best_copy(ptq_best *b, ptq_params *P, int copy) {
    for (int i = 0; i < b->n; i++) {
        if (!b->val[i]) continue;
        size_t n = (size_t)ptq_param_size(&P->p[i]) * sizeof(float);
        copy ? memcpy(b->val[i], P->p[i].val, n) : memcpy(P->p[i].val, b->val[i], n);
    }
}

/* Mean loss of step s's windows at the current parameters (forward only). */
static int score(ptq_tmodel *tm, ptq_tape *tp, const ptq_train_loop_opts *o, long s, ptq_rng *rng, int *tok, int *tgt,
                 double *mean, ptq_err *err) {
    *mean = 0;
    for (int w = 0; w < o->accum; w++) {
        double loss;
        int T = 0;
        if (o->batch(o->batch_ctx, s, w, rng, tok, tgt, &T, err) ||
            ptq_train_forward(tm, tp, tok, tgt, T, NULL, &loss, err) ||
            ptq_train_check_loss(loss, s, o->label ? o->label : "training", err))
            return -1;
        *mean += loss / o->accum;
    }
    return 0;
}

/* The loop's copies: the best iterate, and for a line search the point a
 * step starts from and the Cayley momentum there. */
typedef struct {
    ptq_best best, sv;
    float **mom;
    int nmom;
} loop_mem;

static void loop_mem_free(loop_mem *m) {
    best_free(&m->best);
    best_free(&m->sv);
    for (int i = 0; m->mom && i < m->nmom; i++)
        free(m->mom[i]);
    free(m->mom);
}

static int loop_mem_init(loop_mem *m, const ptq_params *P, const ptq_train_loop_opts *o, ptq_err *err) {
    memset(m, 0, sizeof *m);
    if (o->keep_best && best_init(&m->best, P, err)) return -1;
    if (o->line_search <= 0) return 0;
    m->nmom = o->cay->n;
    if (best_init(&m->sv, P, err) || !(m->mom = ptq_calloc(m->nmom + 1, sizeof(float *), err))) return -1;
    for (int i = 0; i < m->nmom; i++)
        if (o->cay->buf[i] && !(m->mom[i] = ptq_calloc((size_t)ptq_param_size(&P->p[i]), sizeof(float), err)))
            return -1;
    return 0;
}

/* save = 1: the parameters and the Cayley momentum -> (sv, mom); 0: back. */
static void search_point(ptq_tmodel *tm, ptq_cayley *c, ptq_best *sv, float **mom, int save) {
    best_copy(sv, &tm->P, save);
    for (int i = 0; i < c->n; i++) {
        if (!c->buf[i]) continue;
        size_t n = sizeof(float) * ptq_param_size(&tm->P.p[i]);
        save ? memcpy(mom[i], c->buf[i], n) : memcpy(c->buf[i], mom[i], n);
    }
}

/* A Cayley step along the current gradient that lowers the objective f
 * (line_search sizes, see train.h); sv: the point and optimizer state to
 * come back to. *taken: the size taken (0: none). */
static int cayley_search(ptq_tmodel *tm, ptq_tape *tp, const ptq_train_loop_opts *o, long s, double lr, double f,
                         ptq_best *sv, float **mom, ptq_rng *rng, int *tok, int *tgt, double *taken, ptq_err *err) {
    ptq_cayley *c = o->cay;
    ptq_rng crng = c->rng, r2;
    long ct = c->t;
    search_point(tm, c, sv, mom, 1);
    *taken = 0;
    for (int k = 0; k < o->line_search; k++, lr *= 0.25) {
        double fn;
        if (k > 0) { /* back to the point and state the step started from */
            search_point(tm, c, sv, mom, 0);
            c->rng = crng, c->t = ct;
        }
        if (ptq_cayley_step(c, &tm->P, lr, err)) return -1;
        r2 = *rng;
        if (score(tm, tp, o, s + 1, &r2, tok, tgt, &fn, err)) return -1;
        if (fn < f) {
            *taken = lr;
            return 0;
        }
    }
    search_point(tm, c, sv, mom, 0); /* no size lowered it: stay */
    c->rng = crng, c->t = ct + 1;
    return 0;
}

int ptq_train_loop(ptq_tmodel *tm, ptq_tape *tp, const ptq_train_loop_opts *o, ptq_err *err) {
    if (check_opts(o, tp, err)) return -1;
    if (o->line_search > 0 && (!o->keep_best || !o->cay || o->adam))
        return ptq_fail(err, "%s: a line search needs keep_best and Cayley SGD alone",
                        o->label ? o->label : "training");
    const char *label = o->label ? o->label : "training";
    ptq_rng rng;
    ptq_rng_seed(&rng, o->seed);
    long step0 = 0;
    loop_mem lm;
    ptq_best *bp = &lm.best;
    ptq_ckpt_info info = {.identity = o->identity ? o->identity : "", .rng = &rng, .best = o->keep_best ? bp : NULL};
    if (loop_mem_init(&lm, &tm->P, o, err)) {
        loop_mem_free(&lm);
        return ptq_wrap(err, "%s: best-iterate copy", label);
    }
    if (o->ckpt_path && ptq_file_exists(o->ckpt_path)) {
        if (ptq_ckpt_load(o->ckpt_path, &info, &tm->P, o->adam, o->cay, err)) {
            loop_mem_free(&lm);
            return ptq_wrap(err, "%s: resume", label);
        }
        step0 = info.step;
        if (step0 < 0 || step0 > o->steps) {
            loop_mem_free(&lm);
            return ptq_fail(err, "%s: checkpoint %s is at step %ld of a %ld-step run", label, o->ckpt_path, step0,
                            o->steps);
        }
    }
    if (o->losses)
        for (long s = 0; s < o->steps; s++)
            o->losses[s] = NAN;
    int cap = ptq_tape_max_T(tp), T;
    int *tok = ptq_calloc((size_t)cap, sizeof(int), err), *tgt = tok ? ptq_calloc((size_t)cap, sizeof(int), err) : NULL;
    if (!tgt) {
        free(tok);
        loop_mem_free(&lm);
        return ptq_wrap(err, "%s", label);
    }
    ptq_train_progress pg;
    if (!o->quiet) ptq_train_progress_start(&pg, label, step0, o->steps), pg.val = o->val_loss;
    int rc = -1;
    for (long s = step0; s < o->steps; s++) {
        double mean = 0;
        long ntok = 0;
        ptq_params_zero_grad(&tm->P);
        for (int w = 0; w < o->accum; w++) {
            double loss;
            T = 0;
            if (o->batch(o->batch_ctx, s, w, &rng, tok, tgt, &T, err)) goto out;
            if (T < 1 || T > cap) {
                ptq_fail(err, "%s: batch of %d tokens at step %ld, expected 1..%d", label, T, s, cap);
                goto out;
            }
            if (ptq_train_forward(tm, tp, tok, tgt, T, NULL, &loss, err)) goto out;
            if (ptq_train_check_loss(loss, s, label, err)) goto out;
            if (ptq_train_backward(tm, tp, 1.f / o->accum, err)) goto out;
            mean += loss / o->accum;
            ntok += T;
        }
        if (o->keep_best && mean < bp->loss) /* the iterate this step starts from */
            bp->loss = mean, bp->step = s, best_copy(bp, &tm->P, 1);
        double gnorm = ptq_params_clip_grad(&tm->P, o->clip); /* clip 0: the norm only */
        if (!isfinite(gnorm)) { /* e.g. a NaN a quantizer clamped to finite codes in the forward */
            ptq_fail(err, "%s: gradient is not finite (norm %g) at step %ld", label, gnorm, s);
            goto out;
        }
        double lr = ptq_lr_cosine(s, o->steps, o->warmup, o->lr, o->lr_min);
        if (o->adam && o->decay_matrices > 0) decay_matrices(tm, lr, o->decay_matrices);
        if (o->adam) ptq_adamw_step(o->adam, &tm->P, lr);
        double clr = ptq_lr_cosine(s, o->steps, 0, o->cay_lr, 0.0), taken = clr;
        if (o->cay &&
            (o->line_search > 0 ? cayley_search(tm, tp, o, s, clr, mean, &lm.sv, lm.mom, &rng, tok, tgt, &taken, err)
                                : ptq_cayley_step(o->cay, &tm->P, clr, err))) {
            ptq_wrap(err, "%s: step %ld", label, s);
            goto out;
        }
        if (o->losses) o->losses[s] = mean;
        int stop = o->after_step ? o->after_step(o->step_ctx, s + 1, mean, gnorm, err) : 0;
        if (stop < 0) goto out;
        if (!o->quiet) ptq_train_progress_update(&pg, s + 1, mean, ntok);
        /* no size lowered the objective: the point (and so the gradient) stays, stop there */
        int stuck = o->cay && o->line_search > 0 && taken == 0;
        int last = s + 1 == o->steps || stuck, due = o->ckpt_every > 0 && (s + 1) % o->ckpt_every == 0;
        if (o->ckpt_path && (last || due || stop)) {
            info.step = stuck ? o->steps : s + 1;
            if (ptq_ckpt_save(o->ckpt_path, &info, &tm->P, o->adam, o->cay, err)) goto out;
        }
        if (stop || stuck) break;
    }
    if (o->keep_best) { /* score the last iterate; end on the best */
        double last;
        ptq_rng r2 = rng;
        if (score(tm, tp, o, o->steps, &r2, tok, tgt, &last, err)) goto out;
        if (last < bp->loss)
            bp->loss = last, bp->step = o->steps;
        else
            best_copy(bp, &tm->P, 0);
        if (o->best_loss) *o->best_loss = bp->loss;
        if (o->best_step) *o->best_step = bp->step;
    }
    rc = 0;
out:
    if (!o->quiet) ptq_train_progress_end(&pg);
    free(tok), free(tgt);
    loop_mem_free(&lm);
    return rc;
}
