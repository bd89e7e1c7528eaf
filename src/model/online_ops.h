/* online_ops.h — the online ops (ptq_online_op) a ptqbench export file can
 * store, their constructors, and the table of known kinds.
 *
 * Every online op in this codebase is a linear map on rows, x -> x A, so any
 * op can be stored: known kinds compactly, anything else materialized as the
 * dense matrix A (row i = op(e_i)) and applied with cblas_sgemm on load.
 * Known kinds (row length n):
 *   "hadamard"         orthonormal Walsh-Hadamard of size n; no data
 *   "hadamard_heads"   the row as p0 heads x p1 head_dim, orthonormal
 *                      Hadamard of size p0 across the heads; no data
 *   "ruquant_rotation" RUQuant's composed transform (rotations.h), block
 *                      size p0; data R1t, R2t (p0 x p0 f32), perm (n i32,
 *                      a permutation), optional s_inv and omega (n f32);
 *                      rebuilt bit-exactly (same code path as the method)
 *   "dense"            A (n x n f32)
 * A Hadamard-named op is stored as "hadamard"/"hadamard_heads" only when it
 * agrees with that transform on random probe rows (1e-5 relative); an op the
 * probe rejects is materialized, so a name can never change the function. */
#ifndef PTQ_ONLINE_OPS_H
#define PTQ_ONLINE_OPS_H

#include "model.h"

#define PTQ_OP_MAXBLOB 5

/* One tensor of an op's data. */
typedef struct {
    char name[16];
    int is_i32;          /* 0: f32, 1: int32 */
    void *data;          /* shape[0] * shape[1] elements (shape[1] = 1 for vectors) */
    long long shape[2];
    int ndim;
    int owned;           /* freed by ptq_opdesc_free */
} ptq_opblob;

/* Serialized form of one op. */
typedef struct {
    const char *kind; /* a known kind (static string) */
    int n;            /* row length */
    int p[2];         /* kind parameters (see above), 0 when unused */
    int nblob;
    ptq_opblob blob[PTQ_OP_MAXBLOB];
} ptq_opdesc;

/* Describe op (acting on rows of length n; cfg gives the head layout for
 * "hadamard_heads"). Blobs borrow the op's arrays where they can. */
int ptq_online_op_describe(const ptq_online_op *op, int n, const ptq_config *cfg, ptq_opdesc *d, ptq_err *err);
/* Build an op from a description (validates kind, n, parameters, every blob's
 * shape and dtype, permutation ranges). The op copies what it keeps. */
int ptq_online_op_from_desc(const ptq_opdesc *d, ptq_online_op *op, ptq_err *err);
void ptq_opdesc_free(ptq_opdesc *d);
/* The static kind string for a name, or NULL when unknown. */
const char *ptq_online_kind(const char *name);

/* Constructors (op is overwritten; free with ptq_online_op_clear). */
int ptq_op_hadamard(ptq_online_op *op, int n, ptq_err *err);
int ptq_op_hadamard_heads(ptq_online_op *op, int n_heads, int head_dim, ptq_err *err);
int ptq_op_dense(ptq_online_op *op, const float *A, int n, ptq_err *err); /* copies A (n x n) */

#endif
