/* rotations.h — orthogonal building blocks shared by the rotation methods
 * (RUQuant now; SpinQuant/ReSpinQuant/RUQuant+ft later): Householder
 * reflectors that map a vector onto a target, Givens 2x2 blocks, RUQuant's
 * get_R (K Householder steps + lambda Givens rounds with random
 * permutations), DuQuant's zigzag channel permutation, block-diagonal
 * application, and the composed RUQuant transform used both online (on
 * activations) and offline (on the input dimension of W).
 *
 * Row convention: a transform acts on row vectors, y = x . M. A block
 * rotation stores Rt = R^T (B x B) so that every block x_b of a row becomes
 * x_b . Rt = (R x_b^T)^T. Applying one orthogonal M to X's rows and to W's
 * rows keeps X W^T unchanged. */
#ifndef PTQ_ROTATIONS_H
#define PTQ_ROTATIONS_H

#include "blockrot.h"
#include "common.h"

/* Unit u with (I - 2uu^T) v = t for |v| = |t|; returns 0 (u = 0, identity)
 * when v and t coincide. */
int ptq_householder_unit(const double *v, const double *t, int n, double *u);

/* RUQuant get_R on `count` block vectors X (count x B, rows): start at I;
 * K times: Householder that maps the vector holding the largest |entry| onto
 * normalize(U[0,1)^B) * its norm, then lambda rounds of (random permutation,
 * Givens rotations of that vector's consecutive pairs onto random 2-D
 * targets of equal norm). Returns Rt (B x B, row-major, orthogonal) such that
 * each block vector maps to x . Rt. */
int ptq_ru_get_R(const float *X, long count, int B, int K, int lambda, ptq_rng *rng, float *Rt, ptq_err *err);

/* DuQuant zigzag: channels sorted by descending chmax (ties: lower index
 * first) are dealt 0,1,..,nb-1,nb-1,..,0,0,.. across the C/B blocks.
 * perm[new position] = old channel. C must be a multiple of B. */
void ptq_zigzag_perm(const float *chmax, int C, int B, int *perm);

/* Largest divisor of C that is <= maxB (RUQuant's block size when C is not a
 * multiple of 128, e.g. 172 -> 86). */
int ptq_block_size_for(int C, int maxB);

typedef struct {
    int K, lambda; /* Householder steps and Givens rounds per get_R */
    int B;         /* block size (must divide C) */
    int zigzag;    /* 0 = skip the permutation and R2 */
    int householder; /* 0 = skip the global Householder */
    uint64_t seed;
} ptq_ru_opts;

/* Calibrate on X (T x C, already smoothed): R1 on its blocks, zigzag by the
 * rotated channel maxima, R2, then omega from the token with the largest
 * |entry|. s_inv is left NULL. */
int ptq_ru_build(const float *X, long T, int C, const ptq_ru_opts *o, ptq_ru_transform **out, ptq_err *err);
#endif
