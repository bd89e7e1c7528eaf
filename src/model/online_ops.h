/* online_ops.h — typed online ops: the transforms a quantization method
 * installs on the model's hooks (a linear's input, Q/K heads after RoPE, the
 * residual stream). Every op is a linear map on rows of length n, x -> x A,
 * with A orthogonal except for the low-rank correction.
 *
 * Kinds and their parameters (and data, shared between the sites that hold
 * one op, reference-counted):
 *   identity           a zeroed ptq_online_op; applies nothing
 *   hadamard           orthonormal Walsh-Hadamard of size n (hadamard.h)
 *   hadamard_heads     the row as heads x head_dim: Hadamard of size heads
 *                      on every column (across the heads)
 *   dense              x <- x A; data A (n x n)
 *   random_orthogonal  dense with A = ptq_random_orthogonal(n, seed)
 *   ruquant_rotation   RUQuant's composed transform (blockrot.h): x * s_inv,
 *                      block R1, permutation, block R2, Householder; data
 *                      R1t, R2t (B x B), perm (n), optional s_inv, omega (n)
 *   lowrank            x <- x + Q M Q^T x (ReSpinQuant's residual
 *                      correction); data Q (n x rank), M (rank x rank)
 * Ops are built only by the constructors below and applied only by
 * ptq_online_op_apply, which fails (out of memory, wrong row length) with
 * an error instead of leaving the rows unchanged. */
#ifndef PTQ_ONLINE_OPS_H
#define PTQ_ONLINE_OPS_H

#include "blockrot.h"
#include "common.h"

typedef enum {
    PTQ_OP_IDENTITY = 0,
    PTQ_OP_HADAMARD,
    PTQ_OP_HADAMARD_HEADS,
    PTQ_OP_DENSE,
    PTQ_OP_RANDOM_ORTHOGONAL,
    PTQ_OP_RUQUANT,
    PTQ_OP_LOWRANK,
    PTQ_OP_KINDS
} ptq_op_kind;

/* The arrays of an op; one block per constructed op, shared by every site
 * that holds it (ptq_online_op_share), freed with the last reference. */
typedef struct {
    int refs;
    float *A;            /* dense, random_orthogonal: n x n */
    ptq_ru_transform ru; /* ruquant_rotation */
    float *Q, *M;        /* lowrank: n x rank, rank x rank */
} ptq_op_data;

typedef struct {
    ptq_op_kind kind;
    int n;               /* row length */
    int heads, head_dim; /* hadamard_heads: n = heads x head_dim */
    int rank;            /* lowrank */
    uint64_t seed;       /* random_orthogonal */
    ptq_op_data *data;   /* NULL for identity and the Hadamard kinds */
} ptq_online_op;

/* Constructors: op is overwritten (release what it held first); on failure
 * it is left unchanged. Arrays are copied. */
int ptq_op_hadamard(ptq_online_op *op, int n, ptq_err *err);
int ptq_op_hadamard_heads(ptq_online_op *op, int heads, int head_dim, ptq_err *err);
int ptq_op_dense(ptq_online_op *op, const float *A, int n, ptq_err *err);
int ptq_op_random_orthogonal(ptq_online_op *op, int n, uint64_t seed, ptq_err *err);
/* Checks tr (B divides C, perm a permutation of 0..C-1). */
int ptq_op_ruquant(ptq_online_op *op, const ptq_ru_transform *tr, ptq_err *err);
int ptq_op_lowrank(ptq_online_op *op, const float *Q, const float *M, int n, int rank, ptq_err *err);

/* dst (overwritten) holds src too: one more reference to src's data. */
void ptq_online_op_share(ptq_online_op *dst, const ptq_online_op *src);
/* Drops op's reference and resets it to the identity. */
void ptq_online_op_clear(ptq_online_op *op);

/* x (rows x n) <- op(x). n must be op->n (any n for the identity). */
int ptq_online_op_apply(const ptq_online_op *op, float *x, int rows, int n, ptq_err *err);
/* Arithmetic cost of one row (for latency/memory reports). */
double ptq_online_op_flops(const ptq_online_op *op);
/* "hadamard", "ruquant_rotation", ... (the names of the export file). */
const char *ptq_op_kind_name(ptq_op_kind kind);

/* ---- The stored form of an op (export file, ptqfile.c) ------------------- */

#define PTQ_OP_MAXTENSOR 5

typedef struct {
    char name[16];
    int is_i32;       /* 0: f32, 1: int32 */
    const void *data; /* shape[0] x shape[1] elements (shape[1] = 1 for a vector) */
    long long shape[2];
    int ndim;
} ptq_op_tensor;

typedef struct {
    ptq_op_kind kind;
    int n;
    int p[2];        /* hadamard_heads: heads, head_dim; ruquant_rotation: B; lowrank: rank */
    uint64_t seed;   /* random_orthogonal */
    char sha256[65]; /* random_orthogonal: of A's f32 bytes, checked when rebuilt */
    int ntensor;
    ptq_op_tensor t[PTQ_OP_MAXTENSOR]; /* borrowed from the op (describe) or the file (build) */
} ptq_op_desc;

/* File format version that introduced a kind (2 or 3). */
int ptq_op_kind_version(ptq_op_kind kind);
/* The kind named `name`, or -1. */
int ptq_op_kind_parse(const char *name);
/* Describe op for a file of format `version`: version 2 stores a
 * random_orthogonal op as its dense matrix and cannot store lowrank. */
int ptq_online_op_describe(const ptq_online_op *op, int version, ptq_op_desc *d, ptq_err *err);
/* Build the op through its kind's constructor; checks every tensor's
 * presence, dtype and shape, and a random_orthogonal rebuild against its
 * sha256. */
int ptq_online_op_from_desc(const ptq_op_desc *d, ptq_online_op *op, ptq_err *err);

#endif
