/* spinrot.c — fusion of a SpinQuant / ReSpinQuant rotation plan
 * (spinrot.h) and the block-wise quantization that follows it. */
#include "spinrot.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptq.h"
#include "hadamard.h"
#include "matmul.h"
#include "method_util.h"

/* ---- bases ---------------------------------------------------------------- */

/* n x n: seeded random orthogonal, or diag(random signs) H. */
static int make_basis(float *A, int n, const char *kind, uint64_t seed, ptq_err *err) {
    if (strcmp(kind, "random") == 0 || !ptq_hadamard_supported(n)) return ptq_random_orthogonal(A, n, seed, err);
    if (ptq_hadamard_matrix(A, n, err)) return -1;
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        if (ptq_rng_u64(&r) & 1)
            for (int j = 0; j < n; j++)
                A[(size_t)i * n + j] = -A[(size_t)i * n + j];
    return 0;
}

void ptq_spin_plan_free(ptq_spin_plan *p) {
    if (p->res) {
        for (int k = 0; k <= 2 * p->n_layers; k++)
            if (k == 0 || p->res[k] != p->res[k - 1]) free(p->res[k]);
        free(p->res);
    }
    if (p->vo)
        for (int l = 0; l < p->n_layers; l++)
            free(p->vo[l]);
    free(p->vo);
    memset(p, 0, sizeof *p);
}

int ptq_spin_plan_init(ptq_spin_plan *p, const ptq_config *c, const char *kind, int shared, uint64_t seed,
                       ptq_err *err) {
    memset(p, 0, sizeof *p);
    int L = c->n_layers, d = c->dim, hd = c->head_dim;
    p->n_layers = L, p->d = d, p->hd = hd, p->init = kind;
    p->res = ptq_calloc(2 * L + 1, sizeof(float *), err);
    p->vo = ptq_calloc(L, sizeof(float *), err);
    if (!p->res || !p->vo) return ptq_spin_plan_free(p), -1;
    int rnd = strcmp(kind, "random") == 0;
    for (int k = 0; k <= 2 * L; k++) {
        if (k > 0 && shared) {
            p->res[k] = p->res[0];
            continue;
        }
        /* "hadamard": one seed for all boundaries, so consecutive bases coincide */
        if (!(p->res[k] = ptq_calloc((size_t)d * d, sizeof(float), err)) ||
            make_basis(p->res[k], d, kind, seed + (rnd ? (uint64_t)k : 0), err))
            return ptq_spin_plan_free(p), ptq_wrap(err, "residual basis %d (%dx%d)", k, d, d);
    }
    for (int l = 0; l < L; l++)
        if (!(p->vo[l] = ptq_calloc((size_t)hd * hd, sizeof(float), err)) ||
            make_basis(p->vo[l], hd, kind, seed + 7919 + (uint64_t)l, err))
            return ptq_spin_plan_free(p), ptq_wrap(err, "V/O rotation of layer %d (%dx%d)", l, hd, hd);
    return 0;
}

/* ---- low-rank residual correction -------------------------------------- */

/* U S V^T = A (m x m, row-major, overwritten), U and Vt m x m. */
static int svd(double *A, int m, double *U, double *Vt, ptq_err *err) {
    double *s = malloc(sizeof(double) * (size_t)2 * m);
    if (!s) return ptq_fail(err, "out of memory (SVD of %dx%d)", m, m);
    int tok = ptq_blas_serial_begin(); /* the same factors at any thread count */
    int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', m, m, A, m, s, U, m, Vt, m, s + m);
    ptq_blas_serial_end(tok);
    free(s);
    return info ? ptq_fail(err, "LAPACKE_dgesvd (%dx%d) failed: info %d", m, m, info) : 0;
}

int ptq_spin_lowrank(const float *Rin, const float *Rout, int d, int r, float *Q, float *M, ptq_err *err) {
    if (r < 1 || r > d) return ptq_fail(err, "residual correction rank %d outside 1..%d", r, d);
    size_t dd = (size_t)d * d;
    double *T = malloc(sizeof(double) * 4 * dd), *D = T + dd, *U = D + dd, *Vt = U + dd;
    double *S = malloc(sizeof(double) * (3 * (size_t)r * r + (size_t)d * r));
    if (!T || !S) return free(T), free(S), ptq_fail(err, "out of memory (residual correction, d %d)", d);
    double *u = S + (size_t)r * r, *vt = u + (size_t)r * r, *TQ = vt + (size_t)r * r;
    /* T = Rout^T Rin: x Rin (row) -> x Rout, i.e. column vectors y = T x (sgemm: O(d^3)) */
    float *Tf = malloc(sizeof(float) * dd);
    if (!Tf) return free(T), free(S), ptq_fail(err, "out of memory (residual correction, d %d)", d);
    ptq_sgemm(CblasTrans, CblasNoTrans, d, d, d, 1.f, Rout, d, Rin, d, 0.f, Tf, d);
    for (size_t i = 0; i < dd; i++)
        T[i] = Tf[i], D[i] = Tf[i] - (i % (d + 1) == 0);
    free(Tf);
    int rc = svd(D, d, U, Vt, err); /* Q = first r columns of U */
    for (int i = 0; i < d && !rc; i++)
        for (int a = 0; a < r; a++) {
            double s = 0;
            for (int k = 0; k < d; k++)
                s += T[(size_t)i * d + k] * U[(size_t)k * d + a];
            TQ[(size_t)i * r + a] = s;
        }
    for (int a = 0; a < r && !rc; a++) /* S = Q^T T Q */
        for (int b = 0; b < r; b++) {
            double s = 0;
            for (int i = 0; i < d; i++)
                s += U[(size_t)i * d + a] * TQ[(size_t)i * r + b];
            S[(size_t)a * r + b] = s;
        }
    if (!rc) rc = svd(S, r, u, vt, err);
    for (int a = 0; a < r && !rc; a++) /* M = u vt - I (polar factor of S) */
        for (int b = 0; b < r; b++) {
            double s = 0;
            for (int k = 0; k < r; k++)
                s += u[(size_t)a * r + k] * vt[(size_t)k * r + b];
            M[(size_t)a * r + b] = (float)(s - (a == b));
        }
    for (int i = 0; i < d && !rc; i++)
        for (int a = 0; a < r; a++)
            Q[(size_t)i * r + a] = (float)U[(size_t)i * d + a];
    free(T), free(S);
    return rc;
}

/* ---- fusion --------------------------------------------------------------- */

/* W (rows x n) <- W A (each row x <- x A). */
static int fold_in(const float *A, int n, float *W, long rows, ptq_err *err) {
    ptq_online_op op = {0};
    int rc = ptq_op_dense(&op, A, n, err) || ptq_online_op_apply(&op, W, (int)rows, n, err);
    ptq_online_op_clear(&op);
    return rc ? -1 : 0;
}

/* W (n x cols) <- A^T W: the outputs move to the basis A. */
static int fold_out(const float *A, int n, float *W, int cols, ptq_err *err) {
    ptq_online_op op = {0};
    int rc = ptq_op_dense(&op, A, n, err) || ptq_fold_out(&op, W, n, cols, err);
    ptq_online_op_clear(&op);
    return rc ? -1 : 0;
}

/* RMSNorm gammas into the linears that read them (QuaRot's fusion). */
void ptq_spin_fuse_norms(ptq_model *m, int l) {
    int d = m->cfg.dim;
    ptq_layer *L = &m->layers[l];
    for (int j = 0; j < PTQ_LIN_COUNT; j++) {
        if (j == PTQ_LIN_O || j == PTQ_LIN_DOWN) continue;
        float tmp[d];
        memcpy(tmp, j >= PTQ_LIN_GATE ? L->rms_ffn : L->rms_att, sizeof tmp);
        ptq_fold_norm(L->lin[j].w, L->lin[j].out, d, tmp);
    }
    for (int j = 0; j < d; j++)
        L->rms_att[j] = L->rms_ffn[j] = 1.f;
}

/* The head_dim rotation R on V's output (each head) and O's input (each head). */
static int fuse_vo(ptq_model *m, int l, const float *R, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    int d = c->dim, hd = c->head_dim, kvd = c->n_kv_heads * hd;
    ptq_linear *V = &m->layers[l].lin[PTQ_LIN_V], *O = &m->layers[l].lin[PTQ_LIN_O];
    if (ptq_transpose_inplace(V->w, kvd, d, err) || fold_in(R, hd, V->w, (long)d * c->n_kv_heads, err) ||
        ptq_transpose_inplace(V->w, d, kvd, err) || (V->bias && fold_in(R, hd, V->bias, c->n_kv_heads, err)))
        return -1;
    return fold_in(R, hd, O->w, (long)d * c->n_heads, err);
}

/* Residual correction at site k of layer l from basis a to basis b. */
static int install_corr(ptq_model *m, int l, int k, const float *a, const float *b, int rank, ptq_err *err) {
    ptq_online_op *op = &m->layers[l].resid_op[k];
    ptq_online_op_clear(op);
    int d = m->cfg.dim;
    if (a == b || rank == 0) return 0; /* same basis: nothing to correct; rank 0: dropped */
    float *Q = malloc(sizeof(float) * ((size_t)d * rank + (size_t)rank * rank));
    if (!Q) return ptq_fail(err, "out of memory (correction rank %d)", rank);
    int rc = ptq_spin_lowrank(a, b, d, rank, Q, Q + (size_t)d * rank, err) ||
             ptq_op_lowrank(op, Q, Q + (size_t)d * rank, d, rank, err);
    free(Q);
    return rc ? -1 : 0;
}

/* R3: online Hadamard on Q/K after RoPE (cancels in QK^T); R4: an online
 * Hadamard (random orthogonal where none is known) on the down_proj input,
 * folded into W_down. */
int ptq_spin_online_ops(ptq_model *m, int l, uint64_t seed, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    ptq_layer *L = &m->layers[l];
    ptq_online_op_clear(&L->qk_op);
    if (ptq_hadamard_supported(c->head_dim) && ptq_op_hadamard(&L->qk_op, c->head_dim, err))
        return ptq_wrap(err, "Q/K Hadamard");
    ptq_linear *D = &L->lin[PTQ_LIN_DOWN];
    ptq_online_op_clear(&D->in_op);
    if ((ptq_hadamard_supported(c->hidden_dim)
             ? ptq_op_hadamard(&D->in_op, c->hidden_dim, err)
             : ptq_op_random_orthogonal(&D->in_op, c->hidden_dim, seed + 1000 + (uint64_t)l, err)) ||
        ptq_online_op_apply(&D->in_op, D->w, D->out, D->in, err))
        return ptq_wrap(err, "down_proj online transform");
    return 0;
}

/* ---- the block-wise pass ------------------------------------------------ */

typedef struct {
    ptq_apply_ctx ctx; /* first: the driver hands back &ctx */
    const ptq_method *me;
    ptq_spin_plan *p;
    int use_gptq;
    ptq_wq_opts wq;
    ptq_gptq_opts o;
    double corr_flops; /* per token, all residual adds */
} spin_run;

static int sp_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    spin_run *s = (spin_run *)ctx;
    ptq_spin_plan *p = s->p;
    const ptq_config *c = &m->cfg;
    if (ptq_model_untie(m, err)) return -1;
    ptq_fold_norm(m->lm_head.w, m->lm_head.out, c->dim, m->rms_final);
    if (fold_in(p->res[0], c->dim, m->tok_emb, c->vocab_size, err) ||
        fold_in(p->res[2 * c->n_layers], c->dim, m->lm_head.w, m->lm_head.out, err))
        return ptq_wrap(err, "%s: residual basis on the embedding and lm_head", s->me->name);
    *state = s;
    return 0;
}

static int sp_block(void *state, ptq_model *m, int l, float *X, const ptq_calib *cal, ptq_err *err) {
    spin_run *s = state;
    ptq_spin_plan *p = s->p;
    const ptq_config *c = &m->cfg;
    int d = c->dim, rc = 0;
    ptq_layer *L = &m->layers[l];
    const float *Ra = p->res[2 * l], *Rb = p->res[2 * l + 1], *Rn = p->res[2 * l + 2];
    ptq_spin_fuse_norms(m, l);
    for (int j = 0; j < PTQ_LIN_COUNT && !rc; j++) {
        ptq_linear *W = &L->lin[j];
        if (j == PTQ_LIN_O)
            rc = fold_out(Rb, d, W->w, W->in, err);
        else if (j == PTQ_LIN_DOWN)
            rc = fold_out(Rn, d, W->w, W->in, err);
        else
            rc = fold_in(j >= PTQ_LIN_GATE ? Rb : Ra, d, W->w, W->out, err);
    }
    if (rc || fuse_vo(m, l, p->vo[l], err)) return ptq_wrap(err, "%s: rotations of layer %d", s->me->name, l);
    if (install_corr(m, l, 0, Ra, Rb, p->rank, err) || install_corr(m, l, 1, Rb, Rn, p->rank, err))
        return ptq_wrap(err, "%s: residual correction of layer %d", s->me->name, l);
    for (int k = 0; k < 2; k++)
        s->corr_flops += ptq_online_op_flops(&L->resid_op[k]);
    if (ptq_spin_online_ops(m, l, s->ctx.seed, err)) return ptq_wrap(err, "%s: layer %d", s->me->name, l);
    if (X) return ptq_gptq_block(m, l, X, cal, &s->o, 1, err);
    return ptq_wq_layer(m, l, &s->wq, err);
}

static int sp_block_end(void *state, ptq_model *m, int l, ptq_err *err) {
    (void)err;
    spin_run *s = state;
    ptq_install_act_kv_layer(m, s->me, &s->ctx, l);
    return 0;
}

static int sp_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    spin_run *s = state;
    if (!ok) return 0;
    int rc = ptq_quant_lm_head(m, s->me, &s->ctx, &s->wq, err);
    cJSON *info = s->ctx.info;
    if (!rc && info) {
        const ptq_config *c = &m->cfg;
        cJSON *o = cJSON_AddObjectToObject(info, "rotations");
        cJSON_AddStringToObject(o, "init", s->p->init);
        cJSON_AddStringToObject(o, "down_proj_online",
                                ptq_hadamard_supported(c->hidden_dim) ? "hadamard" : "random_orthogonal");
        cJSON_AddStringToObject(o, "qk_online", ptq_hadamard_supported(c->head_dim) ? "hadamard" : "none");
        cJSON_AddNumberToObject(o, "residual_correction_rank", s->p->rank);
        cJSON_AddNumberToObject(o, "residual_correction_flops_per_token", s->corr_flops);
        cJSON_AddStringToObject(info, "weights", s->use_gptq ? "gptq" : "rtn");
    }
    return rc;
}

static const ptq_block_method sp_blocks = {
    .begin = sp_begin, .block = sp_block, .block_end = sp_block_end, .end = sp_end};

/* GPTQ weights read calibration (at W < 16); the option table default is gptq. */
static int sp_needs_gptq(const ptq_qspec *q, const cJSON *opts) {
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(opts, "weights");
    return q->w_bits < 16 && !(cJSON_IsString(w) && strcmp(w->valuestring, "rtn") == 0);
}

int ptq_spin_apply(const ptq_method *me, ptq_spin_plan *p, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    spin_run s = {.ctx = *ctx, .me = me, .p = p};
    s.use_gptq = strcmp(ptq_opt_str(me, ctx->opts, "weights"), "gptq") == 0;
    s.wq = ptq_method_wq(ctx, 1);
    s.o = ptq_gptq_default(s.wq.bits);
    s.o.wq = s.wq;
    s.o.percdamp = ptq_opt_num(me, ctx->opts, "percdamp");
    s.o.act_order = ptq_opt_bool(me, ctx->opts, "act_order");
    const ptq_method inner = {
        .name = me->name, .summary = me->summary, .opts = me->opts, .needs_calib = sp_needs_gptq, .blocks = &sp_blocks};
    return ptq_method_apply(&inner, m, &s.ctx, err);
}
