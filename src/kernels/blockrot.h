/* blockrot.h — RUQuant's composed transform on rows of length C (row
 * vectors, y = x . M): optional online smoothing (x * s_inv), block-diagonal
 * rotation R1 (every B-block of a row times R1t = R1^T), a channel
 * permutation, block rotation R2, and a global Householder reflection. The
 * same code runs offline on W's rows and online on activations (the online
 * op of kind PTQ_OP_RUQUANT, online_ops.h), so both see bit-identical
 * transforms. The builders live in quant/rotations.c. */
#ifndef PTQ_BLOCKROT_H
#define PTQ_BLOCKROT_H

#include "common.h"

/* x_r <- x_r - 2 (x_r . u) u for each of `rows` rows of length n. */
void ptq_householder_rows(float *x, long rows, int n, const float *u);
/* y[p] = x[perm[p]] for each row (tmp holds C floats). */
void ptq_permute_rows(float *x, long rows, int C, const int *perm, float *tmp);
/* Each of the C/B blocks of every row: x_b <- x_b . Rt (tmp: rows x C floats). */
void ptq_block_rotate_rows(float *x, long rows, int C, int B, const float *Rt, float *tmp);

/* RUQuant's composed transform on a linear's input: x <- x * s_inv (online
 * smoothing, optional), block R1, zigzag permutation, block R2, global
 * Householder omega. */
typedef struct {
    int C, B;
    float *s_inv;     /* NULL or [C] */
    float *R1t, *R2t; /* B x B */
    int *perm;        /* [C] */
    float *omega;     /* unit [C], or NULL */
} ptq_ru_transform;

/* The rotations only (no s_inv), on `rows` rows of length C: used on X
 * during calibration and on W's rows offline. Fails only when the scratch
 * (rows x C floats) cannot be allocated; x is then unchanged. */
int ptq_ru_rotate_rows(const ptq_ru_transform *tr, float *x, long rows, ptq_err *err);
/* The whole transform (the online op): s_inv, then the rotations. */
int ptq_ru_apply(const ptq_ru_transform *tr, float *x, long rows, ptq_err *err);
/* Frees the arrays and tr itself (a transform from ptq_ru_build). */
void ptq_ru_free(ptq_ru_transform *tr);
double ptq_ru_flops_per_row(const ptq_ru_transform *tr);

#endif
