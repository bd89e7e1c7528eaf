/* train_internal.h — shared between the training layer's files, not API. */
#ifndef PTQ_TRAIN_INTERNAL_H
#define PTQ_TRAIN_INTERNAL_H

#include "train.h"

/* Parameter indices of the model's weights (-1: frozen) and the dense
 * matrices of its online ops (NULL: identity). Linear i = layer * 7 + which
 * (lm_head: n_layers * 7). */
/* Widest online op whose backward the engine materialises (its dense n x n
 * matrix), and how many distinct ops a model may hold. */
enum { PTQ_TRAIN_MAX_OP = 16384, PTQ_TRAIN_MAX_MATS = 64 };

typedef struct ptq_tpriv {
    int emb, rms_final;
    int *rms_att, *rms_ffn;                   /* per layer */
    int *w, *b;                               /* per linear */
    float **lin_op;                           /* per linear: its in_op (borrowed from mat) */
    float **qk_op;                            /* per layer */
    float **res_op;                           /* per layer x 2 */
    ptq_online_op mat_op[PTQ_TRAIN_MAX_MATS]; /* the distinct ops (not owned: kind, size, data pointer) */
    float *mat[PTQ_TRAIN_MAX_MATS];           /* their matrices (owned) */
    int nmat;
    float *wtmp; /* out x in scratch of the weight-side backward */
    size_t wtmp_n;
} ptq_tpriv;

ptq_linear *ptq_tm_linear(const ptq_tmodel *tm, int l, int j);
float *ptq_tm_pgrad(const ptq_tmodel *tm, int idx);
int ptq_tm_rot_size(const ptq_tmodel *tm, int rot);
int ptq_tm_has_transform(const ptq_tlin *t);

#endif
