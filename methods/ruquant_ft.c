/* ruquant_ft.c — RUQuant stage 2 (ruquant_ft.h): per block, the global
 * Householder vector of each input group (q/k/v, o, gate/up, down) becomes
 * a trainable parameter (AdamW, batch 1, `epochs` passes over the windows)
 * on the block-output MSE, with activations, KV and weights fake-quantized
 * (straight-through). The rest of the transform (smoothing, block
 * rotations, permutation) stays fixed, as in the paper's --lh stage.
 * After every epoch the MSE over all windows (held fixed) is scored and
 * the block keeps the vectors with the lowest one, the initial ones
 * included (deviation: the paper keeps the last epoch's). */
#include "ruquant_ft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

float *ptq_ruft_targets(const ptq_model *m, int l, const float *X, const ptq_calib *c, ptq_err *err) {
    size_t win = (size_t)c->seqlen * m->cfg.dim;
    float *Y = ptq_calloc((size_t)c->nsamples * win, sizeof(float), err);
    ptq_state s;
    if (!Y || ptq_state_init(&s, m, c->seqlen, err)) return free(Y), NULL;
    int rc = 0;
    for (int i = 0; i < c->nsamples && !rc; i++) {
        memcpy(Y + i * win, X + i * win, sizeof(float) * win);
        rc = ptq_forward_block(m, &s, l, Y + i * win, c->seqlen, 0, err);
    }
    ptq_state_free(&s);
    if (rc) free(Y);
    return rc ? NULL : Y;
}

typedef struct {
    ptq_tmodel tm;
    ptq_tape *tp;
    ptq_adamw opt;
    float *xo, *dxo;
    int have_tm, have_opt;
} ft_ws;

static void ft_free(ft_ws *w) {
    ptq_tape_free(w->tp);
    if (w->have_opt) ptq_adamw_free(&w->opt);
    if (w->have_tm) ptq_tmodel_free(&w->tm);
    free(w->xo), free(w->dxo);
}

/* Mean block-output MSE over all windows at the current vectors (forward only). */
static int ft_score(ft_ws *w, int l, const float *X, const float *Y, const ptq_calib *c, double *out, ptq_err *err) {
    size_t win = (size_t)c->seqlen * w->tm.m->cfg.dim;
    double sum = 0;
    if (ptq_train_prepare(&w->tm, err)) return -1;
    for (int i = 0; i < c->nsamples; i++) {
        if (ptq_train_block_forward(&w->tm, w->tp, l, X + i * win, w->xo, c->seqlen, err)) return -1;
        sum += ptq_mse_forward(w->xo, Y + i * win, win);
    }
    *out = sum / c->nsamples;
    return 0;
}

/* The Householder parameters (hid[4]) <-> best[4] (copy = 1: save). */
static void ft_keep(ft_ws *w, const int *hid, float **best, int copy) {
    for (int g = 0; g < 4; g++) {
        ptq_param *p = &w->tm.P.p[hid[g]];
        size_t n = sizeof(float) * p->cols;
        copy ? memcpy(best[g], p->val, n) : memcpy(p->val, best[g], n);
    }
}

/* Epochs of AdamW; r[0] / r[1]: mean training MSE of the first and last
 * epoch; r[2] / r[3]: the held-fixed MSE over all windows before training
 * and of the kept vectors (the lowest after any epoch, or the initial
 * ones), r[4] the epoch they come from (0: initial). */
static int ft_train(ft_ws *w, int l, const float *X, const float *Y, const ptq_calib *c, const ptq_ruft_opts *o,
                    const int *hid, float **best, double *r, ptq_err *err) {
    size_t win = (size_t)c->seqlen * w->tm.m->cfg.dim;
    char what[48];
    snprintf(what, sizeof what, "ruquant +ft layer %d", l);
    if (ft_score(w, l, X, Y, c, &r[2], err) || ptq_train_check_loss(r[2], 0, what, err)) return -1;
    r[3] = r[2], r[4] = 0;
    ft_keep(w, hid, best, 1);
    for (int e = 0; e < o->epochs; e++) {
        double sum = 0, held;
        for (int i = 0; i < c->nsamples; i++) {
            long step = (long)e * c->nsamples + i;
            double loss;
            ptq_params_zero_grad(&w->tm.P);
            memset(w->dxo, 0, sizeof(float) * win);
            if (ptq_train_prepare(&w->tm, err) ||
                ptq_train_block_forward(&w->tm, w->tp, l, X + i * win, w->xo, c->seqlen, err))
                return -1;
            loss = ptq_mse_forward(w->xo, Y + i * win, win);
            if (ptq_train_check_loss(loss, step, what, err)) return -1;
            ptq_mse_backward(w->dxo, w->xo, Y + i * win, win, 1.f);
            if (ptq_train_block_backward(&w->tm, w->tp, l, w->dxo, NULL, c->seqlen, err)) return -1;
            ptq_train_finish_grads(&w->tm);
            ptq_adamw_step(&w->opt, &w->tm.P, o->lr);
            sum += loss;
        }
        if (e == 0) r[0] = sum / c->nsamples;
        r[1] = sum / c->nsamples;
        if (ft_score(w, l, X, Y, c, &held, err) || ptq_train_check_loss(held, (long)(e + 1) * c->nsamples, what, err))
            return -1;
        if (held < r[3]) r[3] = held, r[4] = e + 1, ft_keep(w, hid, best, 1);
    }
    ft_keep(w, hid, best, 0);
    return 0;
}

/* W rows <- W H(u) for every linear of group g (u unit). */
static void fold_h(ptq_layer *Ly, const int *grp, const float *u) {
    for (int i = 0; i < 3 && grp[i] >= 0; i++) {
        ptq_linear *L = &Ly->lin[grp[i]];
        ptq_householder_rows(L->w, L->out, L->in, u);
    }
}

int ptq_ruft_block(ptq_model *m, int l, const float *X, const float *Y, const ptq_calib *c, const int groups[4][3],
                   const ptq_ruft_opts *o, ptq_err *err) {
    ptq_layer *Ly = &m->layers[l];
    ptq_act_qspec kq = Ly->kq, vq = Ly->vq;
    ptq_online_op qk;
    ptq_online_op_share(&qk, &Ly->qk_op);
    float *omega[4], *best[4] = {0};
    int hid[4], rc = -1;
    ft_ws w;
    memset(&w, 0, sizeof w);
    /* the block as it will be evaluated: KV quantizers and the Q/K Hadamard */
    Ly->kq = Ly->vq = (ptq_act_qspec){o->kv_bits, 0, 1.f, 0};
    ptq_online_op_clear(&Ly->qk_op);
    if (o->qk_hadamard && ptq_op_hadamard(&Ly->qk_op, m->cfg.head_dim, err)) goto out;
    for (int g = 0; g < 4; g++) { /* take the Householder out of the op and W: it becomes the parameter */
        ptq_op_data *d = Ly->lin[groups[g][0]].in_op.data;
        omega[g] = d->ru.omega;
        d->ru.omega = NULL;
        fold_h(Ly, groups[g], omega[g]);
    }
    size_t win = (size_t)c->seqlen * m->cfg.dim;
    if (!(w.xo = ptq_calloc(win, sizeof(float), err)) || !(w.dxo = ptq_calloc(win, sizeof(float), err)) ||
        ptq_tmodel_init(&w.tm, m, 0, err))
        goto restore;
    w.have_tm = 1;
    for (int g = 0; g < 4; g++) {
        char nm[48];
        snprintf(nm, sizeof nm, "layers.%d.%s.omega", l, ptq_linear_names[groups[g][0]]);
        if ((hid[g] = ptq_tmodel_add_householder(&w.tm, nm, Ly->lin[groups[g][0]].in, omega[g], err)) < 0) goto restore;
        for (int i = 0; i < 3 && groups[g][i] >= 0; i++)
            if (ptq_tmodel_set_in_rot(&w.tm, l, groups[g][i], hid[g], 1, err) ||
                ptq_tmodel_set_wq(&w.tm, l, groups[g][i], &o->wq, err))
                goto restore;
    }
    if (!(w.tp = ptq_tape_new(&w.tm, c->seqlen, err)) || ptq_adamw_init(&w.opt, &w.tm.P, o->lr, 0, err)) goto restore;
    w.have_opt = 1;
    double r[5] = {NAN, NAN, NAN, NAN, 0};
    for (int g = 0; g < 4; g++)
        if (!(best[g] = ptq_calloc(Ly->lin[groups[g][0]].in, sizeof(float), err))) goto restore;
    if (ft_train(&w, l, X, Y, c, o, hid, best, r, err)) goto restore;
    for (int g = 0; g < 4; g++) { /* the learned vector, as a unit vector */
        const float *u = w.tm.P.p[hid[g]].val;
        int n = Ly->lin[groups[g][0]].in;
        double nn = 0;
        for (int j = 0; j < n; j++)
            nn += (double)u[j] * u[j];
        for (int j = 0; j < n && nn > 0; j++)
            omega[g][j] = (float)(u[j] / sqrt(nn));
    }
    if (o->info) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "layer", l);
        cJSON_AddNumberToObject(e, "mse_first_epoch", r[0]);
        cJSON_AddNumberToObject(e, "mse_last_epoch", r[1]);
        cJSON_AddNumberToObject(e, "mse_initial", r[2]);
        cJSON_AddNumberToObject(e, "mse_learned", r[3]);
        cJSON_AddNumberToObject(e, "kept_epoch", r[4]);
        cJSON_AddItemToArray(o->info, e);
    }
    rc = 0;
restore: /* the Householder (learned, or the initial one after a failure) back into the op and W */
    for (int g = 0; g < 4; g++) {
        Ly->lin[groups[g][0]].in_op.data->ru.omega = omega[g];
        fold_h(Ly, groups[g], omega[g]);
    }
    for (int g = 0; g < 4 && !rc; g++)
        for (int i = 0; i < 3 && groups[g][i] >= 0 && !rc; i++)
            rc = ptq_wq_linear(&Ly->lin[groups[g][i]], &o->wq, err);
out:
    for (int g = 0; g < 4; g++)
        free(best[g]);
    ft_free(&w);
    Ly->kq = kq, Ly->vq = vq; /* block_end installs them, after the calibration walk */
    ptq_online_op_clear(&Ly->qk_op);
    ptq_online_op_share(&Ly->qk_op, &qk);
    ptq_online_op_clear(&qk);
    return rc ? ptq_wrap(err, "ruquant +ft, layer %d", l) : 0;
}
