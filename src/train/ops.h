/* ops.h — the training ops as forward/backward pairs (llm.c style).
 *
 * Row-major float buffers, T rows. Each *_forward writes its output and
 * whatever its backward needs (named in its comment) into caller buffers
 * (the tape, train.h). Each *_backward ADDS into the gradients it is given
 * (dx += ..., dW += ...), so a value read by two consumers simply gets both
 * contributions; a NULL gradient pointer skips that gradient (frozen).
 * Products go through ptq_sgemm (matmul.h): results do not depend on the
 * thread count. The forwards compute what forward.c computes, in the same
 * order, so quantizers see the same values and make the same rounding
 * decisions. */
#ifndef PTQ_TRAIN_OPS_H
#define PTQ_TRAIN_OPS_H

#include "fakequant.h"

/* out (T x d) = rows tokens[t] of E (vocab x d). */
void ptq_embedding_forward(float *out, const int *tokens, int T, const float *E, int d);
void ptq_embedding_backward(float *dE, const float *dout, const int *tokens, int T, int d);

/* out = w * x / rms(x) per row; rstd[t] = 1/sqrt(mean(x^2) + eps) is kept. */
void ptq_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int T, int n, float eps);
void ptq_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                          int T, int n);

/* out (T x o) = x (T x i) W^T (+ b); W is o x i (Hugging Face layout). */
void ptq_matmul_forward(float *out, const float *x, const float *W, const float *b, int T, int i, int o);
void ptq_matmul_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W, int T,
                         int i, int o);

/* y (T x n) = x . blockdiag(R, ..., R) with R b x b (b divides n). */
void ptq_rotate_forward(float *y, const float *x, const float *R, int T, int n, int b);
void ptq_rotate_backward(float *dx, float *dR, const float *dy, const float *x, const float *R, int T, int n, int b);

/* RoPE in place on T rows of nheads x hd at positions pos0.. (tables as
 * ptq_rope_tables, style PTQ_ROPE_*). The backward rotates by -angle. */
void ptq_rope_forward(float *x, const float *cos_t, const float *sin_t, int T, int nheads, int hd, int style, int pos0);
void ptq_rope_backward(float *dx, const float *cos_t, const float *sin_t, int T, int nheads, int hd, int style,
                       int pos0);

/* Causal GQA attention from position 0: q (T x nh*hd), k, v (T x nkv*hd);
 * out (T x nh*hd); P (nh x T x T) keeps the softmax probabilities. */
void ptq_attention_forward(float *out, float *P, const float *q, const float *k, const float *v, int T, int nh, int nkv,
                           int hd);
/* dq, dk, dv accumulate; scratch holds 2 x T x T floats per OpenMP thread. */
void ptq_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *P, const float *q,
                            const float *k, const float *v, int T, int nh, int nkv, int hd, float *scratch);

/* out = silu(g) * u, elementwise over n values. */
void ptq_swiglu_forward(float *out, const float *g, const float *u, size_t n);
void ptq_swiglu_backward(float *dg, float *du, const float *dout, const float *g, const float *u, size_t n);

/* out = a + b (the residual add), and its backward (da += dout, db += dout). */
void ptq_residual_forward(float *out, const float *a, const float *b, size_t n);
void ptq_residual_backward(float *da, float *db, const float *dout, size_t n);

/* Mean next-token cross-entropy over the T rows whose target >= 0 (target
 * < 0: ignored). probs (T x V) keeps the softmax. Returns the mean loss
 * (NaN when no row counts). */
double ptq_crossentropy_forward(float *probs, const float *logits, const int *targets, int T, int V);
/* dlogits += scale * (probs - onehot) / counted rows. */
void ptq_crossentropy_backward(float *dlogits, const float *probs, const int *targets, int T, int V, float scale);

/* Mean squared error over n values, and d/da (+= scale * 2 (a - b) / n). */
double ptq_mse_forward(const float *a, const float *b, size_t n);
void ptq_mse_backward(float *da, const float *a, const float *b, size_t n, float scale);

/* Straight-through fake quantizer: xq = fakequant(x) exactly as
 * ptq_fq_rows (fakequant.h); mask[i] = 1 where x[i] fell inside the clip
 * range (its code was not clamped), so the backward passes the gradient
 * there and zeroes it outside: dx += mask * dxq. spec bits >= 16: xq = x,
 * mask all 1. */
void ptq_fq_ste_forward(float *xq, unsigned char *mask, const float *x, int rows, int n, const ptq_act_qspec *q);
void ptq_fq_ste_backward(float *dx, const float *dxq, const unsigned char *mask, size_t n);

/* Householder H = I - 2 u u^T / (u^T u) (n x n) from u, and dL/du from dL/dH. */
void ptq_householder_forward(float *H, const float *u, int n);
void ptq_householder_backward(float *du, const float *dH, const float *u, int n);

#endif
