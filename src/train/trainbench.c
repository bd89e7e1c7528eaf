/* trainbench.c — the speed of one training step next to OpenBLAS sgemm on
 * the same product shapes, measured in the same run (train.h). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

static void fill(float *x, size_t n, float s, ptq_rng *r) {
    for (size_t i = 0; i < n; i++)
        x[i] = s * (float)(ptq_rng_uniform(r) - 0.5);
}

static int random_model(ptq_model *m, const ptq_config *c, ptq_err *err) {
    if (ptq_model_alloc(m, c, err)) return -1;
    ptq_rng r;
    ptq_rng_seed(&r, 42);
    fill(m->tok_emb, (size_t)c->vocab_size * c->dim, 0.1f, &r);
    for (int i = 0; i < c->dim; i++)
        m->rms_final[i] = 1.f;
    if (m->lm_head.owns_w) fill(m->lm_head.w, (size_t)c->vocab_size * c->dim, 0.1f, &r);
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        for (int i = 0; i < c->dim; i++)
            L->rms_att[i] = L->rms_ffn[i] = 1.f;
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            fill(L->lin[j].w, (size_t)L->lin[j].out * L->lin[j].in, 0.1f, &r);
    }
    return 0;
}

/* The step's products as plain cblas_sgemm calls: 3 per linear. */
static double time_gemms(const ptq_model *m, int T, int reps, double *flops) {
    const ptq_config *c = &m->cfg;
    size_t wide = PTQ_MAX((size_t)c->vocab_size, (size_t)PTQ_MAX(c->dim, c->hidden_dim));
    float *X = calloc((size_t)T * wide, sizeof(float)), *Y = calloc((size_t)T * wide, sizeof(float));
    float *G = calloc(wide * PTQ_MAX(c->dim, c->hidden_dim), sizeof(float));
    double best = 1e30;
    *flops = 0;
    if (!X || !Y || !G) goto done;
    for (size_t i = 0; i < (size_t)T * wide; i++)
        X[i] = Y[i] = 0.001f * (float)(i % 97);
    for (int r = 0; r <= reps; r++) {
        double t0 = ptq_now_sec(), f = 0;
        for (int l = 0; l <= c->n_layers; l++)
            for (int j = 0; j < (l == c->n_layers ? 1 : PTQ_LIN_COUNT); j++) {
                const ptq_linear *W = l == c->n_layers ? &m->lm_head : &m->layers[l].lin[j];
                int o = W->out, in = W->in;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, o, in, 1.f, X, in, W->w, in, 0.f, Y, o);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, o, 1.f, Y, o, W->w, in, 0.f, X, in);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o, in, T, 1.f, Y, o, X, in, 0.f, G, in);
                f += 6.0 * T * o * in;
            }
        double t = ptq_now_sec() - t0;
        if (r > 0 && t < best) best = t; /* r = 0: warm-up */
        *flops = f;
    }
done:
    free(X), free(Y), free(G);
    return best;
}

int ptq_train_bench(const ptq_config *c, int T, int reps, ptq_train_bench_result *res, ptq_err *err) {
    ptq_model m;
    ptq_tmodel tm;
    ptq_adamw opt;
    memset(res, 0, sizeof *res);
    if (random_model(&m, c, err)) return -1;
    int rc = -1;
    ptq_tape *tp = NULL;
    int *tok = calloc((size_t)T + 1, sizeof(int));
    if (!tok || ptq_tmodel_init(&tm, &m, 1, err)) goto out_model;
    if (!(tp = ptq_tape_new(&tm, T, err)) || ptq_adamw_init(&opt, &tm.P, 1e-4, 0.0, err)) goto out_tm;
    for (int i = 0; i <= T; i++)
        tok[i] = (i * 31 + 7) % c->vocab_size;
    double best = 1e30, loss;
    for (int r = 0; r <= reps; r++) {
        double t0 = ptq_now_sec();
        ptq_params_zero_grad(&tm.P);
        if (ptq_train_forward(&tm, tp, tok, tok + 1, T, NULL, &loss, err) || ptq_train_backward(&tm, tp, 1.f, err))
            goto out_opt;
        ptq_params_clip_grad(&tm.P, 1.0);
        ptq_adamw_step(&opt, &tm.P, 1e-4);
        double t = ptq_now_sec() - t0;
        if (r > 0 && t < best) best = t; /* r = 0: warm-up */
        if (ptq_train_check_loss(loss, r, "bench train", err)) goto out_opt;
    }
    double hd = c->head_dim, att = 6.0 * 2.0 * c->n_heads * hd * ((double)T * (T + 1) / 2) * c->n_layers;
    res->gemm_sec = time_gemms(&m, T, reps, &res->gemm_flops);
    res->step_sec = best;
    res->step_flops = res->gemm_flops + att;
    rc = 0;
out_opt:
    ptq_adamw_free(&opt);
out_tm:
    ptq_tape_free(tp);
    ptq_tmodel_free(&tm);
out_model:
    free(tok);
    ptq_model_free(&m);
    return rc;
}
