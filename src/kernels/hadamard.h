/* hadamard.h — Walsh-Hadamard transforms (QuaRot/SpinQuant R3/R4, rotations).
 * Orthonormal: H / sqrt(n). Sizes 2^k, and had_K x 2^k for the had_K sizes
 * QuaRot ships (12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172); where no
 * Hadamard of size n is known, callers fall back to a fixed seeded random
 * orthogonal matrix (documented per method). */
#ifndef PTQ_HADAMARD_H
#define PTQ_HADAMARD_H

#include "common.h"

/* 1 if an (orthonormal) Hadamard transform of size n is available. */
int ptq_hadamard_supported(int n);
/* In-place orthonormal Hadamard on each of `rows` vectors of length n. */
int ptq_hadamard_rows(float *x, int rows, int n, ptq_err *err);
/* Explicit n x n orthonormal Hadamard matrix (row-major), for tests/fusion. */
int ptq_hadamard_matrix(float *H, int n, ptq_err *err);
/* Random orthogonal n x n matrix (QR of a Gaussian matrix via LAPACKE), seeded. */
int ptq_random_orthogonal(float *Q, int n, uint64_t seed, ptq_err *err);

#endif
