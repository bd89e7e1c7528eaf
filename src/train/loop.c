/* loop.c — the optimization loop shared by learned methods and pretraining
 * (train.h): windows -> forward/backward (averaged over accum windows) ->
 * clip -> AdamW / Cayley SGD -> progress -> checkpoint every N steps. The
 * data RNG, optimizer state and parameters are checkpointed together, so a
 * run killed at any point and restarted ends with the same bits. */
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

int ptq_train_loop(ptq_tmodel *tm, ptq_tape *tp, const ptq_train_loop_opts *o, ptq_err *err) {
    if (check_opts(o, tp, err)) return -1;
    const char *label = o->label ? o->label : "training";
    ptq_rng rng;
    ptq_rng_seed(&rng, o->seed);
    long step0 = 0;
    ptq_ckpt_info info = {.identity = o->identity ? o->identity : "", .rng = &rng};
    if (o->ckpt_path && ptq_file_exists(o->ckpt_path)) {
        if (ptq_ckpt_load(o->ckpt_path, &info, &tm->P, o->adam, o->cay, err)) return ptq_wrap(err, "%s: resume", label);
        step0 = info.step;
        if (step0 < 0 || step0 > o->steps)
            return ptq_fail(err, "%s: checkpoint %s is at step %ld of a %ld-step run", label, o->ckpt_path, step0,
                            o->steps);
    }
    if (o->losses)
        for (long s = 0; s < o->steps; s++)
            o->losses[s] = NAN;
    int cap = ptq_tape_max_T(tp), T;
    int *tok = ptq_calloc((size_t)cap, sizeof(int), err), *tgt = tok ? ptq_calloc((size_t)cap, sizeof(int), err) : NULL;
    if (!tgt) {
        free(tok);
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
        double gnorm = ptq_params_clip_grad(&tm->P, o->clip); /* clip 0: the norm only */
        if (!isfinite(gnorm)) { /* e.g. a NaN a quantizer clamped to finite codes in the forward */
            ptq_fail(err, "%s: gradient is not finite (norm %g) at step %ld", label, gnorm, s);
            goto out;
        }
        double lr = ptq_lr_cosine(s, o->steps, o->warmup, o->lr, o->lr_min);
        if (o->adam && o->decay_matrices > 0) decay_matrices(tm, lr, o->decay_matrices);
        if (o->adam) ptq_adamw_step(o->adam, &tm->P, lr);
        if (o->cay && ptq_cayley_step(o->cay, &tm->P, ptq_lr_cosine(s, o->steps, 0, o->cay_lr, 0.0), err)) {
            ptq_wrap(err, "%s: step %ld", label, s);
            goto out;
        }
        if (o->losses) o->losses[s] = mean;
        int stop = o->after_step ? o->after_step(o->step_ctx, s + 1, mean, gnorm, err) : 0;
        if (stop < 0) goto out;
        if (!o->quiet) ptq_train_progress_update(&pg, s + 1, mean, ntok);
        int last = s + 1 == o->steps, due = o->ckpt_every > 0 && (s + 1) % o->ckpt_every == 0;
        if (o->ckpt_path && (last || due || stop)) {
            info.step = s + 1;
            if (ptq_ckpt_save(o->ckpt_path, &info, &tm->P, o->adam, o->cay, err)) goto out;
        }
        if (stop) break;
    }
    rc = 0;
out:
    if (!o->quiet) ptq_train_progress_end(&pg);
    free(tok), free(tgt);
    return rc;
}
