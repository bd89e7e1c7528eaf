/* train.h — the training engine: a parameter set, a trainable view of a
 * ptq_model with explicit rotations, a tape of activations, the whole-model
 * (or one block's) forward and backward, losses, optimizers (AdamW, Cayley
 * SGD on the Stiefel manifold), checkpoints and a progress line.
 *
 * The training forward computes the function of forward.c (ptq_forward) on
 * the same model: the same hooks (each linear's online op and activation
 * quantizer, the Q/K online op, K/V fake quantizers, residual-stream ops),
 * the same products and rounding decisions; quantizers are straight-through
 * in the backward (ops.h). On top of the model it applies the explicit
 * rotations registered here (not fused into the weights):
 *   - a linear's input rotation M (n x n, or b x b repeated on the diagonal):
 *     W_eff = W . M, and with `rot_x` the input rows too, x <- x . M, before
 *     the activation quantizer (an online rotation, RUQuant/ReSpinQuant style);
 *     without rot_x the input is assumed rotated upstream (SpinQuant R1);
 *   - a linear's output rotation: W_eff = M^T . W, i.e. y <- y . M
 *     (SpinQuant: o/down output by R1, v output per head by R2);
 *   - the embedding's rotation: x0 <- E[tok] . M (SpinQuant R1).
 * A rotation is a parameter of kind STIEFEL (M = the matrix, trained with
 * Cayley SGD) or HOUSEHOLDER (M = I - 2 u u^T / u^T u, u trained with AdamW).
 * A weight quantizer per linear (wquant.h options) fake-quantizes W_eff on
 * every forward, straight-through.
 * Model weights are trained in place (ptq_tmodel.train_weights) or frozen;
 * gradients are only computed for what is trained. */
#ifndef PTQ_TRAIN_H
#define PTQ_TRAIN_H

#include "model.h"
#include "ops.h"
#include "wquant.h"

/* ---- Parameters ---------------------------------------------------------- */

typedef enum { PTQ_PK_DENSE = 0, PTQ_PK_STIEFEL, PTQ_PK_HOUSEHOLDER } ptq_pkind;

typedef struct {
    char name[64];  /* "layers.3.q_proj.weight", "R1", "layers.0.R2", ... */
    ptq_pkind kind; /* STIEFEL: rows == cols, orthogonal; HOUSEHOLDER: rows 1 */
    int rows, cols;
    float *val;  /* the value (model memory for weights, owned otherwise) */
    float *grad; /* rows x cols, owned; NULL when not trainable */
    int owns_val;
} ptq_param;

typedef struct {
    int n, cap;
    ptq_param *p;
} ptq_params;

static inline long ptq_param_size(const ptq_param *p) {
    return (long)p->rows * p->cols;
}
void ptq_params_zero_grad(ptq_params *P);
/* sqrt(sum of squared gradients) over trainable parameters, in double, fixed order. */
double ptq_params_grad_norm(const ptq_params *P);
/* Scale every gradient by max_norm / norm when norm > max_norm; returns the norm. */
double ptq_params_clip_grad(ptq_params *P, double max_norm);
/* Index of the parameter called name, or -1. */
int ptq_params_find(const ptq_params *P, const char *name);

/* ---- A trainable view of a model ----------------------------------------- */

typedef struct {
    int in_rot, in_block, rot_x; /* parameter index or -1; its size b (b x b repeated along the row); rotate x too */
    int out_rot, out_block;      /* parameter index or -1; its size */
    ptq_wq_opts wq;              /* bits >= 16 (the default): weight not fake-quantized */
    /* derived each forward: */
    float *w_eff;          /* out x in when any transform is set, else NULL (the model's w) */
    float *w_mid;          /* W . M_in before the output rotation and wq (for the backward) */
    unsigned char *w_mask; /* STE mask of wq */
    float *dw_eff;         /* gradient w.r.t. w_eff */
} ptq_tlin;

typedef struct ptq_tmodel {
    ptq_model *m;      /* borrowed: its weights are trained in place */
    ptq_params P;      /* model weights first (when trained), then rotations */
    int train_weights; /* 1: every weight of the model is a parameter */
    int n_weights;     /* parameters [0, n_weights) are the model's weights */
    ptq_tlin *lin;     /* (n_layers + 1) x PTQ_LIN_COUNT; lm_head at [n_layers][0] */
    int emb_rot;       /* parameter index or -1 */
    /* Rotation matrices of the rotation parameters, made each forward
     * (HOUSEHOLDER) or aliased (STIEFEL): rmat[i], drmat[i] for parameter i. */
    float **rmat, **drmat;
    struct ptq_tpriv *priv; /* weight parameter indices, online-op matrices (tmodel.c) */
} ptq_tmodel;

/* A trainable view of m. train_weights = 0 freezes the weights (gradients
 * only for the rotations added below). The model's online ops are read now
 * (their backward uses each distinct op's dense matrix, width <= 16384):
 * make the view after installing them. Refuses what the engine cannot
 * differentiate, naming it (packed kernels attached, w_side branches,
 * trained weights that hold quantized codes). */
int ptq_tmodel_init(ptq_tmodel *tm, ptq_model *m, int train_weights, ptq_err *err);
void ptq_tmodel_free(ptq_tmodel *tm);
/* Add an n x n rotation initialised to R0 (NULL: identity); returns its
 * parameter index or -1. R0 must be orthogonal (checked to 1e-4). */
int ptq_tmodel_add_rotation(ptq_tmodel *tm, const char *name, int n, const float *R0, ptq_err *err);
/* Add a Householder vector u (n values, not all zero); returns its index or -1. */
int ptq_tmodel_add_householder(ptq_tmodel *tm, const char *name, int n, const float *u0, ptq_err *err);
/* Attach rotation parameter `rot` to linear (layer, which) (layer == n_layers:
 * lm_head): at its input (block b: M is b x b, b divides in; rot_x: also
 * rotate the input rows) or at its output (b divides out). rot -1 detaches. */
int ptq_tmodel_set_in_rot(ptq_tmodel *tm, int layer, int which, int rot, int rot_x, ptq_err *err);
int ptq_tmodel_set_out_rot(ptq_tmodel *tm, int layer, int which, int rot, ptq_err *err);
int ptq_tmodel_set_emb_rot(ptq_tmodel *tm, int rot, ptq_err *err);
/* Fake-quantize linear (layer, which)'s effective weight with o on every forward. */
int ptq_tmodel_set_wq(ptq_tmodel *tm, int layer, int which, const ptq_wq_opts *o, ptq_err *err);
/* SpinQuant's R1: the residual stream in the basis of rot (dim x dim): the
 * embedding, every reader's input (q, k, v, gate, up, lm_head) and every
 * writer's output (o, down). Function-preserving when the norms are fused. */
int ptq_tmodel_rotate_residual(ptq_tmodel *tm, int rot, ptq_err *err);
/* SpinQuant's R2 for layer l: v's output and o's input, per head (rot is
 * head_dim x head_dim). Function-preserving; V's quantizer sees v . R2. */
int ptq_tmodel_rotate_heads(ptq_tmodel *tm, int l, int rot, ptq_err *err);
/* Fuse every attached rotation into the model's weights (W <- M_out^T W
 * M_in, E <- E . M_emb; a rotation applied to x (rot_x) becomes the linear's
 * input op, dense: previous op then the rotation), then detach them:
 * ptq_forward on the model computes what the training forward computed
 * (weight quantizers are not applied: quantize after). The view is done
 * afterwards (its op matrices are stale): free it. Refuses a linear holding
 * quantized codes and a tied head rotated unlike the embedding. */
int ptq_tmodel_fuse(ptq_tmodel *tm, ptq_err *err);
/* The effective weight of a linear (its w when no transform is set), as of
 * the last forward: what a method fuses into the model after training. */
const float *ptq_tmodel_weight(const ptq_tmodel *tm, int layer, int which);

/* ---- Tape and the model's forward / backward ----------------------------- */

typedef struct ptq_tape ptq_tape; /* activations of one forward (train.c) */

/* A tape for windows of up to max_T tokens (max_T <= max_seq). */
ptq_tape *ptq_tape_new(const ptq_tmodel *tm, int max_T, ptq_err *err);
void ptq_tape_free(ptq_tape *t);
int ptq_tape_max_T(const ptq_tape *t);

/* Forward of T tokens from position 0, keeping the activations. With
 * targets (T ids, < 0 = ignored) returns the mean cross-entropy in *loss.
 * logits (T x vocab, may be NULL) receives the logits. Makes the
 * effective weights and rotation matrices first. */
int ptq_train_forward(ptq_tmodel *tm, ptq_tape *t, const int *tokens, const int *targets, int T, float *logits,
                      double *loss, ptq_err *err);
/* Backward of the last ptq_train_forward's loss, scaled by `scale`:
 * gradients ADD into the parameters' grad buffers (zero them first with
 * ptq_params_zero_grad; call with scale 1/k for k accumulated windows). */
int ptq_train_backward(ptq_tmodel *tm, ptq_tape *t, float scale, ptq_err *err);

/* One block: x_out = block l (x_in), T rows from position 0, on the tape's
 * slot for layer l (for block-wise objectives such as an output MSE). */
int ptq_train_block_forward(ptq_tmodel *tm, ptq_tape *t, int l, const float *x_in, float *x_out, int T, ptq_err *err);
/* dx_in (may be NULL) += d loss / d x_in given dx_out; parameter gradients add. */
int ptq_train_block_backward(ptq_tmodel *tm, ptq_tape *t, int l, const float *dx_out, float *dx_in, int T,
                             ptq_err *err);
/* Make the effective weights and rotation matrices from the parameters
 * (ptq_train_forward does it; block-wise callers call it once per step). */
int ptq_train_prepare(ptq_tmodel *tm, ptq_err *err);
/* Fold the rotation-matrix gradients into their parameters' gradients
 * (Householder vectors); ptq_train_backward does it; block-wise callers call it. */
void ptq_train_finish_grads(ptq_tmodel *tm);

/* ---- Optimizers ------------------------------------------------------------ */

/* lr at step (0-based) of total: linear warm-up over `warmup` steps, then a
 * cosine from lr_max down to lr_min at step total. */
double ptq_lr_cosine(long step, long total, long warmup, double lr_max, double lr_min);

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    long t;         /* steps taken */
    float **m, **v; /* per parameter, NULL for untrained or non-AdamW ones */
    int n;
} ptq_adamw;
/* AdamW state for the trainable DENSE and HOUSEHOLDER parameters of P
 * (beta1 0.9, beta2 0.999, eps 1e-8: change the fields after init). */
int ptq_adamw_init(ptq_adamw *o, const ptq_params *P, double lr, double weight_decay, ptq_err *err);
void ptq_adamw_step(ptq_adamw *o, ptq_params *P, double lr);
void ptq_adamw_free(ptq_adamw *o);

typedef struct {
    double momentum, eps;
    long t;
    float **buf; /* per STIEFEL parameter: momentum (n x n) */
    int n;
    ptq_rng rng;     /* QR re-orthonormalisation draws (probability 1/101) */
    int qr_every;    /* 0: random 1/101 as SpinQuant; k > 0: every k-th step (tests) */
    double orth_tol; /* QR also when max |X X^T - I| exceeds it after a step (1e-6; 0: never) */
    long n_fixed;    /* steps that needed that correction */
} ptq_cayley;
/* Cayley SGD (METHODS.md §6) on the STIEFEL parameters of P. */
int ptq_cayley_init(ptq_cayley *o, const ptq_params *P, double momentum, uint64_t seed, ptq_err *err);
/* One step at learning rate lr; returns -1 (err) on a non-finite update. */
int ptq_cayley_step(ptq_cayley *o, ptq_params *P, double lr, ptq_err *err);
void ptq_cayley_free(ptq_cayley *o);
/* max |M M^T - I| of an n x n matrix, in double. */
double ptq_orth_error(const float *M, int n);

/* ---- Checkpoints ----------------------------------------------------------- */

/* Parameters (values), optimizer state, step and a caller's RNG state in one
 * file written atomically (temp + rename). `identity` names the model and
 * method (e.g. "stories260K sha256:... spinquant w4a4 ..."); load refuses a
 * file whose identity, parameter names or shapes differ. Either optimizer
 * may be NULL. */
/* The lowest-loss iterate seen so far (ptq_train_loop's keep_best): loss,
 * the step it was scored at, a copy of every trainable parameter
 * (val[i] NULL for the others). */
typedef struct {
    double loss;
    long step;
    float **val;
    int n;
} ptq_best;
typedef struct {
    const char *identity;
    long step;
    ptq_rng *rng;   /* NULL: not stored */
    ptq_best *best; /* NULL: not stored */
} ptq_ckpt_info;
int ptq_ckpt_save(const char *path, const ptq_ckpt_info *info, const ptq_params *P, const ptq_adamw *adam,
                  const ptq_cayley *cay, ptq_err *err);
/* Restores values and optimizer state; info->step and *info->rng are set. */
int ptq_ckpt_load(const char *path, ptq_ckpt_info *info, ptq_params *P, ptq_adamw *adam, ptq_cayley *cay, ptq_err *err);

/* ---- Progress ------------------------------------------------------------ */

typedef struct {
    const char *label;
    long total, step0;
    double t0, last;
    long tokens;
    int tty;
    const double *val; /* NULL, or a validation loss shown after the loss ("val -" while NaN) */
} ptq_train_progress;
void ptq_train_progress_start(ptq_train_progress *p, const char *label, long step0, long total);
/* One line (TTY: redrawn) on stderr: step, loss, validation loss (when val is set), tokens/s, ETA. */
void ptq_train_progress_update(ptq_train_progress *p, long step, double loss, long tokens);
void ptq_train_progress_end(ptq_train_progress *p);
/* err "<what>: loss is not finite (nan) at step S" when loss is not finite. */
int ptq_train_check_loss(double loss, long step, const char *what, ptq_err *err);

/* ---- The loop ----------------------------------------------------------- */

/* Fills window `w` of step `step`: tokens and targets (< 0: ignored), *T
 * tokens (1..tape max_T). rng is the loop's data RNG (checkpointed). */
typedef int (*ptq_batch_fn)(void *ctx, long step, int w, ptq_rng *rng, int *tokens, int *targets, int *T, ptq_err *err);

typedef struct {
    const char *label; /* progress line and error messages, e.g. "spinquant" */
    long steps;        /* > 0 */
    int accum;         /* windows per step (>= 1), gradients averaged */
    double clip;       /* global gradient-norm clip (0: none) */
    ptq_adamw *adam;   /* NULL: no AdamW; lr: warm-up then cosine to lr_min */
    double lr, lr_min;
    long warmup;
    ptq_cayley *cay; /* NULL: no Cayley SGD; cosine from cay_lr to 0, no warm-up */
    double cay_lr;
    const char *ckpt_path; /* NULL: none; an existing file is resumed from */
    long ckpt_every;       /* save every N steps and at the end (0: only at the end) */
    const char *identity;  /* model + method + options: a checkpoint of another is refused */
    uint64_t seed;         /* data RNG */
    ptq_batch_fn batch;
    void *batch_ctx;
    double *losses; /* NULL or [steps]: mean loss per step (NaN before a resume) */
    int quiet;      /* no progress line */
    double decay_matrices; /* > 0: decoupled weight decay w *= 1 - lr * decay on the model's weight matrices (not
                            * norm gains) before each AdamW step (pretraining) */
    /* NULL, or called after each step (steps done, mean loss, gradient norm before clipping), before the progress
     * line and the checkpoint: 0 go on, 1 stop after this step (its checkpoint is saved), -1 error (err set). */
    int (*after_step)(void *ctx, long step, double loss, double gnorm, ptq_err *err);
    void *step_ctx;
    const double *val_loss; /* NULL, or shown on the progress line ("val -" while NaN) */
    /* keep_best: every step's windows are the same fixed set (the whole
     * objective), so a step's mean loss is the objective at the iterate it
     * starts from. The loop keeps the iterate with the lowest one, scores
     * the last iterate with one more forward pass, and ends on the best
     * (checkpointed with the rest). *best_loss / *best_step (when not NULL):
     * its loss and the number of updates it took (0: the initial point). */
    int keep_best;
    double *best_loss;
    long *best_step;
    /* line_search (with keep_best and Cayley SGD alone): up to this many
     * step sizes per step, the scheduled one then each 1/4 of the previous;
     * the first whose iterate lowers the objective is taken, none: no move.
     * Every step then descends, and the loop stops (as finished) at the
     * first step where no size does; the extra cost is one forward pass of
     * the windows per size tried. */
    int line_search;
} ptq_train_loop_opts;
/* Run (or resume) the optimization. A non-finite loss or gradient stops it
 * with "<label>: loss is not finite (nan) at step S" (or "gradient ...") and
 * writes nothing more. */
int ptq_train_loop(ptq_tmodel *tm, ptq_tape *tp, const ptq_train_loop_opts *o, ptq_err *err);

/* ---- Speed (bench train) ------------------------------------------------ */

/* One pretraining step (forward, backward, AdamW on every weight) of a
 * random model of config c at T tokens, against the same products as single
 * OpenBLAS cblas_sgemm calls (forward x W^T, backward dY W and dY^T X of every
 * linear and lm_head), best of reps after a warm-up, same threads.
 * FLOPs: 6 N T for the N weights of the products plus causal attention
 * (QK^T, PV forward; four products backward: 6 x 2 T(T+1)/2 head_dim per head). */
typedef struct {
    double step_sec, step_flops, gemm_sec, gemm_flops;
} ptq_train_bench_result;
int ptq_train_bench(const ptq_config *c, int T, int reps, ptq_train_bench_result *r, ptq_err *err);

#endif
