/* tmodel.c — parameters and the trainable view of a model (train.h): the
 * registry of weights and rotations, the effective weights made from them
 * before each forward (W_eff = wq(M_out^T . W . M_in), straight-through),
 * and the way back from d/dW_eff to the parameters after each backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "train.h"
#include "train_internal.h"
#include "uniform.h"

/* ---- parameter set ---- */

static int params_push(ptq_tmodel *tm, const char *name, ptq_pkind kind, int rows, int cols, float *val, int owns_val,
                       int trainable, ptq_err *err) {
    ptq_params *P = &tm->P;
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 64;
        ptq_param *p = realloc(P->p, (size_t)cap * sizeof *p);
        float **rm = realloc(tm->rmat, (size_t)cap * sizeof *rm);
        if (rm) tm->rmat = rm;
        float **dm = rm ? realloc(tm->drmat, (size_t)cap * sizeof *dm) : NULL;
        if (dm) tm->drmat = dm;
        if (p) P->p = p;
        if (!p || !rm || !dm) return ptq_fail(err, "out of memory registering parameter %s", name);
        for (int i = P->cap; i < cap; i++)
            tm->rmat[i] = tm->drmat[i] = NULL;
        P->cap = cap;
    }
    ptq_param *p = &P->p[P->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind, p->rows = rows, p->cols = cols, p->val = val, p->owns_val = owns_val;
    if (trainable && !(p->grad = ptq_calloc((size_t)rows * cols, sizeof(float), err)))
        return ptq_wrap(err, "gradient of %s", name);
    return P->n++;
}

void ptq_params_zero_grad(ptq_params *P) {
    for (int i = 0; i < P->n; i++)
        if (P->p[i].grad) memset(P->p[i].grad, 0, (size_t)ptq_param_size(&P->p[i]) * sizeof(float));
}

double ptq_params_grad_norm(const ptq_params *P) {
    double s = 0;
    for (int i = 0; i < P->n; i++) {
        const float *g = P->p[i].grad;
        if (!g) continue;
        for (long j = 0; j < ptq_param_size(&P->p[i]); j++)
            s += (double)g[j] * g[j];
    }
    return sqrt(s);
}

double ptq_params_clip_grad(ptq_params *P, double max_norm) {
    double n = ptq_params_grad_norm(P);
    if (max_norm > 0 && n > max_norm) {
        float c = (float)(max_norm / n);
        for (int i = 0; i < P->n; i++)
            if (P->p[i].grad)
                for (long j = 0; j < ptq_param_size(&P->p[i]); j++)
                    P->p[i].grad[j] *= c;
    }
    return n;
}

int ptq_params_find(const ptq_params *P, const char *name) {
    for (int i = 0; i < P->n; i++)
        if (!strcmp(P->p[i].name, name)) return i;
    return -1;
}

/* ---- the model's weights and online ops ---- */

ptq_linear *ptq_tm_linear(const ptq_tmodel *tm, int l, int j) {
    return l == tm->m->cfg.n_layers ? &tm->m->lm_head : &tm->m->layers[l].lin[j];
}

float *ptq_tm_pgrad(const ptq_tmodel *tm, int idx) {
    return idx >= 0 ? tm->P.p[idx].grad : NULL;
}

/* x -> x A of an online op as its dense matrix A (apply it to I's rows): the
 * backward multiplies by A^T. NULL for the identity. Sites holding the same
 * op (same kind and size, or the same shared data) share one matrix. */
static int op_matrix(ptq_tpriv *pv, const ptq_online_op *op, int n, float **A, const char *site, ptq_err *err) {
    *A = NULL;
    if (op->kind == PTQ_OP_IDENTITY) return 0;
    for (int i = 0; i < pv->nmat; i++) {
        const ptq_online_op *o = &pv->mat_op[i];
        if (o->kind == op->kind && o->n == op->n && o->heads == op->heads && o->rank == op->rank &&
            o->data == op->data && o->seed == op->seed) {
            *A = pv->mat[i];
            return 0;
        }
    }
    if (n > PTQ_TRAIN_MAX_OP)
        return ptq_fail(err,
                        "%s: the backward of a %s op of width %d needs its dense matrix, above the engine's "
                        "limit of %d",
                        site, ptq_op_kind_name(op->kind), n, PTQ_TRAIN_MAX_OP);
    if (pv->nmat == PTQ_TRAIN_MAX_MATS)
        return ptq_fail(err, "%s: more than %d distinct online ops", site, PTQ_TRAIN_MAX_MATS);
    float *M = ptq_calloc((size_t)n * n, sizeof(float), err);
    if (!M) return ptq_wrap(err, "%s", site);
    for (int i = 0; i < n; i++)
        M[(size_t)i * n + i] = 1.f;
    if (ptq_online_op_apply(op, M, n, n, err)) {
        free(M);
        return ptq_wrap(err, "%s", site);
    }
    pv->mat_op[pv->nmat] = *op;
    pv->mat[pv->nmat++] = *A = M;
    return 0;
}

static int add_weight(ptq_tmodel *tm, const char *name, float *w, int rows, int cols, ptq_err *err) {
    return params_push(tm, name, PTQ_PK_DENSE, rows, cols, w, 0, 1, err);
}

static int register_weights(ptq_tmodel *tm, ptq_err *err) {
    ptq_model *m = tm->m;
    ptq_tpriv *pv = tm->priv;
    const ptq_config *c = &m->cfg;
    char name[64];
    if ((pv->emb = add_weight(tm, "tok_emb", m->tok_emb, c->vocab_size, c->dim, err)) < 0) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        snprintf(name, sizeof name, "layers.%d.rms_att", l);
        if ((pv->rms_att[l] = add_weight(tm, name, L->rms_att, 1, c->dim, err)) < 0) return -1;
        snprintf(name, sizeof name, "layers.%d.rms_ffn", l);
        if ((pv->rms_ffn[l] = add_weight(tm, name, L->rms_ffn, 1, c->dim, err)) < 0) return -1;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *li = &L->lin[j];
            snprintf(name, sizeof name, "layers.%d.%s.weight", l, ptq_linear_names[j]);
            if ((pv->w[l * PTQ_LIN_COUNT + j] = add_weight(tm, name, li->w, li->out, li->in, err)) < 0) return -1;
            snprintf(name, sizeof name, "layers.%d.%s.bias", l, ptq_linear_names[j]);
            if (li->bias && (pv->b[l * PTQ_LIN_COUNT + j] = add_weight(tm, name, li->bias, 1, li->out, err)) < 0)
                return -1;
        }
    }
    if ((pv->rms_final = add_weight(tm, "rms_final", m->rms_final, 1, c->dim, err)) < 0) return -1;
    int *lw = &pv->w[c->n_layers * PTQ_LIN_COUNT];
    if (!m->lm_head.owns_w)
        *lw = pv->emb; /* tied: the embedding's gradient gets both */
    else if ((*lw = add_weight(tm, "lm_head.weight", m->lm_head.w, c->vocab_size, c->dim, err)) < 0)
        return -1;
    tm->n_weights = tm->P.n;
    return 0;
}

int ptq_tmodel_init(ptq_tmodel *tm, ptq_model *m, int train_weights, ptq_err *err) {
    memset(tm, 0, sizeof *tm);
    const ptq_config *c = &m->cfg;
    int L = c->n_layers, nl = (L + 1) * PTQ_LIN_COUNT;
    tm->m = m, tm->train_weights = train_weights, tm->emb_rot = -1;
    for (int l = 0; l <= L; l++)
        for (int j = 0; j < (l == L ? 1 : PTQ_LIN_COUNT); j++) {
            const ptq_linear *li = l == L ? &m->lm_head : &m->layers[l].lin[j];
            const char *nm = l == L ? "lm_head" : ptq_linear_names[j];
            if (li->kern)
                return ptq_fail(err,
                                "training: %s of layer %d has packed low-bit kernels attached; train on the "
                                "fake-quant model",
                                nm, l);
            if (li->w_side)
                return ptq_fail(err,
                                "training: %s of layer %d has a full-precision side branch, which the engine "
                                "does not differentiate",
                                nm, l);
            if (train_weights && li->qw && li->owns_w)
                return ptq_fail(err,
                                "training: %s of layer %d holds a quantized weight; training its weights "
                                "would leave the codes stale (train before quantizing)",
                                nm, l);
        }
    ptq_tpriv *pv = tm->priv = ptq_calloc(1, sizeof *pv, err);
    if (!pv || !(tm->lin = ptq_calloc(nl, sizeof *tm->lin, err)) || !(pv->w = ptq_calloc(nl, sizeof(int), err)) ||
        !(pv->b = ptq_calloc(nl, sizeof(int), err)) || !(pv->rms_att = ptq_calloc(L, sizeof(int), err)) ||
        !(pv->rms_ffn = ptq_calloc(L, sizeof(int), err)) || !(pv->lin_op = ptq_calloc(nl, sizeof(float *), err)) ||
        !(pv->qk_op = ptq_calloc(L, sizeof(float *), err)) || !(pv->res_op = ptq_calloc(2 * L, sizeof(float *), err)))
        goto fail;
    for (int i = 0; i < nl; i++) {
        tm->lin[i] = (ptq_tlin){.in_rot = -1, .out_rot = -1, .wq = {.bits = 16}};
        pv->w[i] = pv->b[i] = -1;
    }
    pv->emb = pv->rms_final = -1;
    for (int l = 0; l < L; l++)
        pv->rms_att[l] = pv->rms_ffn[l] = -1;
    if (train_weights && register_weights(tm, err)) goto fail;
    char site[64];
    for (int l = 0; l <= L; l++)
        for (int j = 0; j < (l == L ? 1 : PTQ_LIN_COUNT); j++) {
            const ptq_linear *li = ptq_tm_linear(tm, l, j);
            snprintf(site, sizeof site, "layers.%d.%s.in", l, l == L ? "lm_head" : ptq_linear_names[j]);
            if (op_matrix(pv, &li->in_op, li->in, &pv->lin_op[l * PTQ_LIN_COUNT + j], site, err)) goto fail;
        }
    for (int l = 0; l < L; l++) {
        snprintf(site, sizeof site, "layers.%d.qk", l);
        if (op_matrix(pv, &m->layers[l].qk_op, c->head_dim, &pv->qk_op[l], site, err)) goto fail;
        for (int r = 0; r < 2; r++) {
            snprintf(site, sizeof site, "layers.%d.resid%d", l, r);
            if (op_matrix(pv, &m->layers[l].resid_op[r], c->dim, &pv->res_op[2 * l + r], site, err)) goto fail;
        }
    }
    return 0;
fail:
    ptq_tmodel_free(tm);
    return ptq_wrap(err, "training view of %s", m->name[0] ? m->name : "the model");
}

void ptq_tmodel_free(ptq_tmodel *tm) {
    ptq_tpriv *pv = tm->priv;
    int L = tm->m ? tm->m->cfg.n_layers : 0, nl = (L + 1) * PTQ_LIN_COUNT;
    for (int i = 0; i < tm->P.n; i++) {
        ptq_param *p = &tm->P.p[i];
        free(p->grad);
        if (p->owns_val) free(p->val);
        if (p->kind == PTQ_PK_HOUSEHOLDER) free(tm->rmat[i]), free(tm->drmat[i]);
    }
    free(tm->P.p), free(tm->rmat), free(tm->drmat);
    if (tm->lin)
        for (int i = 0; i < nl; i++) {
            ptq_tlin *t = &tm->lin[i];
            free(t->w_eff), free(t->w_mid), free(t->w_mask), free(t->dw_eff);
        }
    free(tm->lin);
    if (pv) {
        for (int i = 0; i < pv->nmat; i++)
            free(pv->mat[i]);
        free(pv->w), free(pv->b), free(pv->rms_att), free(pv->rms_ffn), free(pv->lin_op), free(pv->qk_op);
        free(pv->res_op), free(pv->wtmp);
        free(pv);
    }
    memset(tm, 0, sizeof *tm);
}

/* ---- rotations ---- */

int ptq_tmodel_add_rotation(ptq_tmodel *tm, const char *name, int n, const float *R0, ptq_err *err) {
    if (n <= 0) return ptq_fail(err, "rotation %s: size %d must be positive", name, n);
    if (ptq_params_find(&tm->P, name) >= 0) return ptq_fail(err, "rotation %s: name already used", name);
    float *R = ptq_calloc((size_t)n * n, sizeof(float), err);
    if (!R) return ptq_wrap(err, "rotation %s", name);
    for (int i = 0; i < n; i++)
        R[(size_t)i * n + i] = 1.f;
    if (R0) {
        memcpy(R, R0, (size_t)n * n * sizeof(float));
        double e = ptq_orth_error(R, n);
        if (!(e <= 1e-4)) {
            free(R);
            return ptq_fail(err,
                            "rotation %s: initial matrix is not orthogonal (max |R R^T - I| = %.3g, "
                            "expected <= 1e-4)",
                            name, e);
        }
    }
    int i = params_push(tm, name, PTQ_PK_STIEFEL, n, n, R, 1, 1, err);
    if (i < 0) {
        free(R);
        return -1;
    }
    tm->rmat[i] = R, tm->drmat[i] = tm->P.p[i].grad;
    return i;
}

int ptq_tmodel_add_householder(ptq_tmodel *tm, const char *name, int n, const float *u0, ptq_err *err) {
    if (n <= 0) return ptq_fail(err, "householder %s: size %d must be positive", name, n);
    if (ptq_params_find(&tm->P, name) >= 0) return ptq_fail(err, "householder %s: name already used", name);
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)u0[i] * u0[i];
    if (!(s > 0) || !isfinite(s)) return ptq_fail(err, "householder %s: vector must be finite and not zero", name);
    float *u = ptq_calloc(n, sizeof(float), err), *H = u ? ptq_calloc((size_t)n * n, sizeof(float), err) : NULL;
    float *dH = H ? ptq_calloc((size_t)n * n, sizeof(float), err) : NULL;
    int i = dH ? params_push(tm, name, PTQ_PK_HOUSEHOLDER, 1, n, u, 1, 1, err) : -1;
    if (i < 0) {
        free(u), free(H), free(dH);
        return ptq_wrap(err, "householder %s", name);
    }
    memcpy(u, u0, (size_t)n * sizeof(float));
    tm->rmat[i] = H, tm->drmat[i] = dH;
    ptq_householder_forward(H, u, n);
    return i;
}

int ptq_tm_rot_size(const ptq_tmodel *tm, int rot) {
    const ptq_param *p = &tm->P.p[rot];
    return p->kind == PTQ_PK_HOUSEHOLDER ? p->cols : p->rows;
}

static int check_site(const ptq_tmodel *tm, int layer, int which, int rot, ptq_err *err) {
    int L = tm->m->cfg.n_layers;
    if (layer < 0 || layer > L || (layer < L && (which < 0 || which >= PTQ_LIN_COUNT)))
        return ptq_fail(err, "training: no linear %d of layer %d", which, layer);
    if (rot >= tm->P.n || (rot >= 0 && tm->P.p[rot].kind == PTQ_PK_DENSE))
        return ptq_fail(err, "training: parameter %d is not a rotation", rot);
    return 0;
}

static ptq_tlin *tlin(ptq_tmodel *tm, int layer, int which) {
    return &tm->lin[layer * PTQ_LIN_COUNT + (layer == tm->m->cfg.n_layers ? 0 : which)];
}

int ptq_tmodel_set_in_rot(ptq_tmodel *tm, int layer, int which, int rot, int rot_x, ptq_err *err) {
    if (check_site(tm, layer, which, rot, err)) return -1;
    const ptq_linear *l = ptq_tm_linear(tm, layer, which);
    int b = rot >= 0 ? ptq_tm_rot_size(tm, rot) : 0;
    if (rot >= 0 && l->in % b)
        return ptq_fail(err, "training: rotation %s (%d) does not divide the input width %d of layer %d linear %d",
                        tm->P.p[rot].name, b, l->in, layer, which);
    ptq_tlin *t = tlin(tm, layer, which);
    t->in_rot = rot, t->in_block = b, t->rot_x = rot >= 0 && rot_x;
    return 0;
}

int ptq_tmodel_set_out_rot(ptq_tmodel *tm, int layer, int which, int rot, ptq_err *err) {
    if (check_site(tm, layer, which, rot, err)) return -1;
    const ptq_linear *l = ptq_tm_linear(tm, layer, which);
    int b = rot >= 0 ? ptq_tm_rot_size(tm, rot) : 0;
    if (rot >= 0 && l->out % b)
        return ptq_fail(err, "training: rotation %s (%d) does not divide the output width %d of layer %d linear %d",
                        tm->P.p[rot].name, b, l->out, layer, which);
    if (rot >= 0 && l->bias)
        return ptq_fail(err,
                        "training: an output rotation on layer %d linear %d, which has a bias, is not "
                        "supported",
                        layer, which);
    ptq_tlin *t = tlin(tm, layer, which);
    t->out_rot = rot, t->out_block = b;
    return 0;
}

int ptq_tmodel_set_emb_rot(ptq_tmodel *tm, int rot, ptq_err *err) {
    if (check_site(tm, 0, 0, rot, err)) return -1;
    if (rot >= 0 && ptq_tm_rot_size(tm, rot) != tm->m->cfg.dim)
        return ptq_fail(err, "training: embedding rotation must be %d x %d", tm->m->cfg.dim, tm->m->cfg.dim);
    tm->emb_rot = rot;
    return 0;
}

int ptq_tmodel_set_wq(ptq_tmodel *tm, int layer, int which, const ptq_wq_opts *o, ptq_err *err) {
    if (check_site(tm, layer, which, -1, err)) return -1;
    if (o->bits < 16 && (o->bits < 1 || o->bits > 8))
        return ptq_fail(err, "training: weight bits %d out of range 1..8 (16 = none)", o->bits);
    tlin(tm, layer, which)->wq = *o;
    return 0;
}

int ptq_tmodel_rotate_residual(ptq_tmodel *tm, int rot, ptq_err *err) {
    int L = tm->m->cfg.n_layers;
    if (ptq_tmodel_set_emb_rot(tm, rot, err) || ptq_tmodel_set_in_rot(tm, L, 0, rot, 0, err)) return -1;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            if (j == PTQ_LIN_O || j == PTQ_LIN_DOWN ? ptq_tmodel_set_out_rot(tm, l, j, rot, err)
                                                    : ptq_tmodel_set_in_rot(tm, l, j, rot, 0, err))
                return -1;
    return 0;
}

int ptq_tmodel_rotate_heads(ptq_tmodel *tm, int l, int rot, ptq_err *err) {
    if (l < 0 || l >= tm->m->cfg.n_layers) return ptq_fail(err, "training: no layer %d", l);
    if (rot >= 0 && (rot >= tm->P.n || ptq_tm_rot_size(tm, rot) != tm->m->cfg.head_dim))
        return ptq_fail(err, "training: the per-head rotation of layer %d must be %d x %d", l, tm->m->cfg.head_dim,
                        tm->m->cfg.head_dim);
    if (ptq_tmodel_set_out_rot(tm, l, PTQ_LIN_V, rot, err) || ptq_tmodel_set_in_rot(tm, l, PTQ_LIN_O, rot, 0, err))
        return -1;
    return 0;
}

int ptq_tm_has_transform(const ptq_tlin *t) {
    return t->in_rot >= 0 || t->out_rot >= 0 || t->wq.bits < 16;
}

const float *ptq_tmodel_weight(const ptq_tmodel *tm, int layer, int which) {
    int L = tm->m->cfg.n_layers;
    const ptq_tlin *t = &tm->lin[layer * PTQ_LIN_COUNT + (layer == L ? 0 : which)];
    return ptq_tm_has_transform(t) && t->w_eff ? t->w_eff : ptq_tm_linear(tm, layer, which)->w;
}

/* ---- effective weights ---- */

/* W (rows x cols) <- its RTN grid values as ptq_wq_rtn; mask: code not clamped. */
static void wq_ste(float *W, unsigned char *mask, int rows, int cols, const ptq_wq_opts *o) {
    int g = o->group > 0 && o->group < cols ? o->group : cols, maxq = ptq_uq_maxq(o->bits);
#pragma omp parallel for schedule(dynamic, 16) if ((long)rows * cols > 32768)
    for (int r = 0; r < rows; r++) {
        float *w = W + (size_t)r * cols;
        unsigned char *mk = mask + (size_t)r * cols;
        for (int j = 0; j < cols; j += g) {
            int n = cols - j < g ? cols - j : g, z;
            float s;
            ptq_wq_find_params(w + j, n, o, &s, &z);
            for (int k = j; k < j + n; k++) {
                float c = s == 0.f ? (float)z : nearbyintf(w[k] / s) + (float)z;
                mk[k] = c >= 0.f && c <= (float)maxq;
                w[k] = ptq_uq_value(ptq_uq_code(w[k], s, z, maxq), s, z);
            }
        }
    }
}

static int prepare_linear(ptq_tmodel *tm, int l, int j, ptq_err *err) {
    ptq_tlin *t = &tm->lin[l * PTQ_LIN_COUNT + j];
    if (!ptq_tm_has_transform(t)) return 0;
    const ptq_linear *li = ptq_tm_linear(tm, l, j);
    size_t n = (size_t)li->out * li->in;
    if ((!t->w_eff && !(t->w_eff = ptq_calloc(n, sizeof(float), err))) ||
        (!t->dw_eff && !(t->dw_eff = ptq_calloc(n, sizeof(float), err))) ||
        (t->in_rot >= 0 && !t->w_mid && !(t->w_mid = ptq_calloc(n, sizeof(float), err))) ||
        (t->wq.bits < 16 && !t->w_mask && !(t->w_mask = ptq_calloc(n, 1, err))))
        return ptq_wrap(err, "effective weight of layer %d linear %d", l, j);
    ptq_tpriv *pv = tm->priv;
    if (t->out_rot >= 0 && pv->wtmp_n < n) { /* finish_linear's d/dW1 */
        free(pv->wtmp);
        pv->wtmp_n = 0;
        if (!(pv->wtmp = ptq_calloc(n, sizeof(float), err))) return ptq_wrap(err, "weight gradient scratch");
        pv->wtmp_n = n;
    }
    const float *W1 = li->w;
    if (t->in_rot >= 0) {
        ptq_rotate_forward(t->w_mid, li->w, tm->rmat[t->in_rot], li->out, li->in, t->in_block);
        W1 = t->w_mid;
    }
    if (t->out_rot >= 0) { /* W2 = blockdiag(Ro)^T W1, one row block at a time */
        int b = t->out_block;
        for (int i = 0; i < li->out; i += b)
            ptq_sgemm(CblasTrans, CblasNoTrans, b, li->in, b, 1.f, tm->rmat[t->out_rot], b, W1 + (size_t)i * li->in,
                      li->in, 0.f, t->w_eff + (size_t)i * li->in, li->in);
    } else
        memcpy(t->w_eff, W1, n * sizeof(float));
    if (t->wq.bits < 16) wq_ste(t->w_eff, t->w_mask, li->out, li->in, &t->wq);
    return 0;
}

int ptq_train_prepare(ptq_tmodel *tm, ptq_err *err) {
    for (int i = 0; i < tm->P.n; i++)
        if (tm->P.p[i].kind == PTQ_PK_HOUSEHOLDER)
            ptq_householder_forward(tm->rmat[i], tm->P.p[i].val, tm->P.p[i].cols);
    int L = tm->m->cfg.n_layers;
    for (int l = 0; l <= L; l++)
        for (int j = 0; j < (l == L ? 1 : PTQ_LIN_COUNT); j++)
            if (prepare_linear(tm, l, j, err)) return -1;
    return 0;
}

/* d/dW_eff back to W and the rotations:
 * G = mask . dW_eff; dW1_i = Ro G_i, dRo += W1_i G_i^T; dW = dW1 Mi^T, dMi += W^T dW1 (per block). */
static void finish_linear(ptq_tmodel *tm, int l, int j) {
    ptq_tlin *t = &tm->lin[l * PTQ_LIN_COUNT + j];
    if (!ptq_tm_has_transform(t) || !t->dw_eff) return;
    ptq_tpriv *pv = tm->priv;
    const ptq_linear *li = ptq_tm_linear(tm, l, j);
    size_t n = (size_t)li->out * li->in;
    float *G = t->dw_eff, *dW = ptq_tm_pgrad(tm, pv->w[l * PTQ_LIN_COUNT + j]);
    if (t->wq.bits < 16)
        for (size_t i = 0; i < n; i++)
            G[i] = t->w_mask[i] ? G[i] : 0.f;
    float *dW1 = G;
    if (t->out_rot >= 0) {
        dW1 = pv->wtmp; /* sized by prepare_linear */
        const float *W1 = t->in_rot >= 0 ? t->w_mid : li->w, *Ro = tm->rmat[t->out_rot];
        int b = t->out_block;
        for (int i = 0; i < li->out; i += b) {
            ptq_sgemm(CblasNoTrans, CblasNoTrans, b, li->in, b, 1.f, Ro, b, G + (size_t)i * li->in, li->in, 0.f,
                      dW1 + (size_t)i * li->in, li->in);
            ptq_sgemm(CblasNoTrans, CblasTrans, b, b, li->in, 1.f, W1 + (size_t)i * li->in, li->in,
                      G + (size_t)i * li->in, li->in, 1.f, tm->drmat[t->out_rot], b);
        }
    }
    if (t->in_rot >= 0)
        ptq_rotate_backward(dW, tm->drmat[t->in_rot], dW1, li->w, tm->rmat[t->in_rot], li->out, li->in, t->in_block);
    else if (dW)
        for (size_t i = 0; i < n; i++)
            dW[i] += dW1[i];
    memset(G, 0, n * sizeof(float));
}

void ptq_train_finish_grads(ptq_tmodel *tm) {
    int L = tm->m->cfg.n_layers;
    for (int l = 0; l <= L; l++)
        for (int j = 0; j < (l == L ? 1 : PTQ_LIN_COUNT); j++)
            finish_linear(tm, l, j);
    for (int i = 0; i < tm->P.n; i++) {
        ptq_param *p = &tm->P.p[i];
        if (p->kind != PTQ_PK_HOUSEHOLDER) continue;
        ptq_householder_backward(p->grad, tm->drmat[i], p->val, p->cols);
        memset(tm->drmat[i], 0, (size_t)p->cols * p->cols * sizeof(float));
    }
}

/* ---- fusing ---- */

/* A rotation applied to x online stays online: the linear's input op becomes
 * dense (its previous op, then blockdiag(M)). */
static int fuse_online(ptq_tmodel *tm, int l, int j, ptq_err *err) {
    const ptq_tlin *t = &tm->lin[l * PTQ_LIN_COUNT + j];
    ptq_linear *li = ptq_tm_linear(tm, l, j);
    int n = li->in, b = t->in_block;
    const float *A = tm->priv->lin_op[l * PTQ_LIN_COUNT + j];
    float *F = ptq_calloc((size_t)n * n, sizeof(float), err);
    if (!F) return -1;
    for (int i = 0; i < n; i++)
        F[(size_t)i * n + i] = 1.f;
    if (A) memcpy(F, A, (size_t)n * n * sizeof(float));
    float *G = ptq_calloc((size_t)n * n, sizeof(float), err);
    if (!G) {
        free(F);
        return -1;
    }
    ptq_rotate_forward(G, F, tm->rmat[t->in_rot], n, n, b); /* F . blockdiag(M) */
    ptq_online_op op = {0};
    int rc = ptq_op_dense(&op, G, n, err);
    free(F), free(G);
    if (rc) return ptq_wrap(err, "layer %d linear %d input op", l, j);
    ptq_online_op_clear(&li->in_op);
    li->in_op = op;
    return 0;
}

int ptq_tmodel_fuse(ptq_tmodel *tm, ptq_err *err) {
    ptq_model *m = tm->m;
    int L = m->cfg.n_layers, d = m->cfg.dim;
    const ptq_tlin *head = &tm->lin[L * PTQ_LIN_COUNT];
    if (!m->lm_head.owns_w && (head->in_rot != tm->emb_rot || head->out_rot >= 0))
        return ptq_fail(err, "fuse: the tied lm_head is rotated differently from the embedding; untie it first");
    for (int l = 0; l <= L; l++)
        for (int j = 0; j < (l == L ? 1 : PTQ_LIN_COUNT); j++) {
            const ptq_tlin *t = &tm->lin[l * PTQ_LIN_COUNT + j];
            if ((t->in_rot >= 0 || t->out_rot >= 0) && ptq_tm_linear(tm, l, j)->qw && ptq_tm_linear(tm, l, j)->owns_w)
                return ptq_fail(err, "fuse: layer %d linear %d holds quantized codes; fuse before quantizing", l, j);
        }
    for (int i = 0; i < tm->P.n; i++)
        if (tm->P.p[i].kind == PTQ_PK_HOUSEHOLDER)
            ptq_householder_forward(tm->rmat[i], tm->P.p[i].val, tm->P.p[i].cols);
    for (int l = 0; l <= L; l++)
        for (int j = 0; j < (l == L ? 1 : PTQ_LIN_COUNT); j++) {
            ptq_tlin *t = &tm->lin[l * PTQ_LIN_COUNT + j];
            ptq_linear *li = ptq_tm_linear(tm, l, j);
            if ((t->in_rot < 0 && t->out_rot < 0) || !li->owns_w) continue;
            ptq_wq_opts keep = t->wq;
            t->wq.bits = 16; /* the rotated weight, unquantized */
            if (prepare_linear(tm, l, j, err)) return ptq_wrap(err, "fuse");
            t->wq = keep;
            memcpy(li->w, t->w_eff, (size_t)li->out * li->in * sizeof(float));
            if (t->rot_x && fuse_online(tm, l, j, err)) return ptq_wrap(err, "fuse");
        }
    if (tm->emb_rot >= 0) {
        size_t n = (size_t)m->cfg.vocab_size * d;
        float *E = ptq_calloc(n, sizeof(float), err);
        if (!E) return ptq_wrap(err, "fuse: embedding");
        ptq_rotate_forward(E, m->tok_emb, tm->rmat[tm->emb_rot], m->cfg.vocab_size, d, d);
        memcpy(m->tok_emb, E, n * sizeof(float));
        free(E);
    }
    for (int i = 0; i < (L + 1) * PTQ_LIN_COUNT; i++)
        tm->lin[i].in_rot = tm->lin[i].out_rot = -1, tm->lin[i].rot_x = 0;
    tm->emb_rot = -1;
    return 0;
}
