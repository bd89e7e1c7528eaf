/* gptq.h — the GPTQ column loop on one weight matrix (METHODS.md §4),
 * reusable by SEPTQ (static FP mask) and SpecQuant (residual).
 *
 * H is the fp64 Hessian 2/N sum x x^T (cols x cols), accumulated from
 * calibration inputs. Dead inputs (H_jj = 0) get H_jj = 1 and W[:, j] = 0;
 * damp = percdamp * mean(diag H); Hinv = upper Cholesky factor of H^-1
 * (= J C^-1 J for the lower Cholesky factor C of H reversed by J: tiled
 * dpotrf/dtrsm/dgemm, half the flops of potrf/potri/potrf); blocks of
 * `blocksize` columns with the lazy trailing update done as one GEMM. */
#ifndef PTQ_GPTQ_H
#define PTQ_GPTQ_H

#include "calib.h"
#include "wquant.h"

typedef struct {
    ptq_wq_opts wq;    /* bits, sym, mse, group (grids from the running weights per group, like GPTQ static_groups=False) */
    double percdamp;   /* 0.01 */
    int blocksize;     /* 128 */
    int act_order;     /* permute columns by descending diag(H) */
    const unsigned char *keep_mask; /* rows x cols, 1 = keep full precision (SEPTQ); NULL = none */
    double keep_mib; /* block walk: o's/down's inputs up to this size are kept, larger ones recomputed (1024) */
} ptq_gptq_opts;

ptq_gptq_opts ptq_gptq_default(int bits);

/* Hessian accumulator: H += 2/N-style running mean of x x^T over T rows. */
typedef struct {
    int n;
    long nsamples;
    double *H; /* n x n */
} ptq_hessian;
int ptq_hessian_init(ptq_hessian *h, int n, ptq_err *err);
void ptq_hessian_add(ptq_hessian *h, const float *x, int T); /* x is T x n */
void ptq_hessian_free(ptq_hessian *h);

/* Quantize W (rows x cols, in place) with GPTQ given H (copied, not
 * modified): W becomes the dequantized values. qw (NULL, or from
 * ptq_wq_qweight with o->wq) receives the codes and grids (with act-order
 * groups, the group of each column in gidx), kept entries (keep_mask) as
 * its off-grid entries. Optionally returns the upper Cholesky factor of
 * H^-1 diagonal in hinv_diag (cols). */
int ptq_gptq_quantize(float *W, int rows, int cols, const ptq_hessian *h, const ptq_gptq_opts *o,
                      double *hinv_diag, ptq_qweight *qw, ptq_err *err);

/* GPTQ on the seven linears of block `layer` from its calibration inputs X
 * (the outputs of the already-quantized blocks < layer), with sub-groups
 * {q,k,v}, {o}, {gate,up}, {down} when true_seq (else all seven linears from
 * one capture). Hessians come from each linear's input after its online op
 * and before activation quantization. X is advanced to the block's output
 * (the quantized block's): returns 1 then, 0 when nothing was quantized
 * (X untouched), -1 on error. true_seq walks the block once: each linear's
 * product runs once per window, on the inputs kept from the part before
 * (o's: N x T x dim, down's: N x T x hidden floats) when they fit in
 * o->keep_mib, else recomputed from X (same bits). */
int ptq_gptq_block(ptq_model *m, int layer, float *X, const ptq_calib *c, const ptq_gptq_opts *o, int true_seq,
                   ptq_err *err);

#endif
