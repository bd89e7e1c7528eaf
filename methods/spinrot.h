/* spinrot.h — the rotation plan SpinQuant and ReSpinQuant share
 * (spinrot.c): residual-stream bases per block boundary, a head_dim rotation
 * per layer on V/O, their fusion into the weights with QuaRot's norm fusion
 * and online Hadamards, the low-rank residual correction where consecutive
 * bases differ, then GPTQ or RTN weights through the block driver.
 *
 * Row convention (as online ops): a basis R (d x d, orthogonal) maps a
 * residual row x to x R. res[2l] is the basis block l's attention reads,
 * res[2l+1] the one its FFN reads, res[2L] the one lm_head reads. SpinQuant
 * points every res[k] at one matrix; ReSpinQuant owns one per boundary. */
#ifndef PTQ_SPINROT_H
#define PTQ_SPINROT_H

#include "method.h"
#include "method_util.h"

/* The options SpinQuant and ReSpinQuant share (rotation init, Cayley SGD,
 * weights, calibration, activation/KV quantizers: asymmetric by default). */
/* clang-format off */
#define PTQ_SPIN_OPTS(rot_default)                                                                                     \
    {.name = "rotation", .type = PTQ_OPT_STRING, .def = rot_default, .choices = "random|hadamard|learned",             \
     .help = "rotations: random orthogonal, random Hadamard (no training) or learned from the Hadamard"},              \
    {.name = "steps", .type = PTQ_OPT_INT, .def = "8", .lo = -1, .hi = 1000000,                                        \
     .help = "Cayley SGD steps (-1: one epoch of the calibration windows at batch size `batch`)"},                     \
    {.name = "batch", .type = PTQ_OPT_INT, .def = "0", .lo = 0, .hi = 4096,                                            \
     .help = "windows per step (0: all calibration windows; then the lowest-loss iterate is kept)"},                   \
    {.name = "lr", .type = PTQ_OPT_FLOAT, .def = "0.03", .lo = 0.0, .hi = 1000.0,                                      \
     .help = "Cayley SGD learning rate (cosine schedule to 0)"},                                                        \
    {.name = "line_search", .type = PTQ_OPT_INT, .def = "8", .lo = 0, .hi = 30,                                        \
     .help = "full batch: step sizes tried per step (lr, lr/4, ...; the first that lowers the CE; 0: plain SGD)"},     \
    {.name = "checkpoint", .type = PTQ_OPT_STRING, .def = "",                                                          \
     .help = "learning: checkpoint file (resumed from when it exists; another run's is refused)"},                     \
    {.name = "checkpoint_every", .type = PTQ_OPT_INT, .def = "10", .lo = 0, .hi = 1000000,                             \
     .help = "learning: save the checkpoint every N steps (0: only at the end)"},                                      \
    {.name = "momentum", .type = PTQ_OPT_FLOAT, .def = "0", .lo = 0.0, .hi = 0.999, .help = "Cayley SGD momentum"},   \
    {.name = "weights", .type = PTQ_OPT_STRING, .def = "gptq", .choices = "gptq|rtn",                                  \
     .help = "weight quantizer after the rotations: gptq or rtn"},                                                     \
    {.name = "percdamp", .type = PTQ_OPT_FLOAT, .def = "0.01", .lo = 0.0, .hi = 10.0, .help = "GPTQ damping"},       \
    {.name = "act_order", .type = PTQ_OPT_BOOL, .def = "false", .help = "GPTQ act-order"},                             \
    PTQ_CALIB_OPTS("128", "2048"),                                                                                     \
    {.name = "a_sym", .type = PTQ_OPT_BOOL, .def = "false",                                                            \
     .help = "activations: per-token symmetric (default asymmetric)"},                                                 \
    {.name = "kv_group", .type = PTQ_OPT_INT, .def = "128", .lo = 0, .hi = 65536,                                      \
     .help = "KV cache: group size within a head (0 or >= head_dim: per head)"},                                       \
    {.name = "kv_sym", .type = PTQ_OPT_BOOL, .def = "false", .help = "KV cache: symmetric (default asymmetric)"},     \
    {.name = "kv_clip", .type = PTQ_OPT_FLOAT, .def = "1.0", .lo = 0.01, .hi = 1.0, .help = "KV cache: clip ratio"},  \
    {.name = "quant_lm_head", .type = PTQ_OPT_BOOL, .def = "false",                                                    \
     .help = "also quantize lm_head weights and its input"},                                                           \
    PTQ_LM_HEAD_BITS_OPT
/* clang-format on */

typedef struct {
    int n_layers, d, hd;
    float **res;                        /* 2L+1 pointers to d x d matrices (may alias) */
    float **vo;                         /* L pointers to hd x hd matrices (V rows / O columns per head) */
    int rank;                           /* residual correction rank where res[k] != res[k+1] (0: none; d: exact) */
    const char *init;                   /* "random", "hadamard" or "learned" (recorded) */
    double learn_seconds, loss0, loss1; /* learning (when run) */
    int learned_steps;
} ptq_spin_plan;

/* Residual and V/O bases from a seed: kind "random" = seeded random
 * orthogonal, else random-sign Hadamard (random orthogonal where no
 * Hadamard of the size exists). shared = 1: one residual matrix (SpinQuant);
 * 0: one per boundary, each from its own seed for "random" and the same
 * Hadamard for "hadamard" (so consecutive bases coincide at init). */
int ptq_spin_plan_init(ptq_spin_plan *p, const ptq_config *c, const char *kind, int shared, uint64_t seed,
                       ptq_err *err);
void ptq_spin_plan_free(ptq_spin_plan *p);

/* Q (d x r) and M (r x r) of the rank-r correction x <- x + Q M Q^T x of the
 * basis change T = Rout^T Rin (column vectors): top-r left singular vectors
 * of T - I, polar factor of Q^T T Q minus I. r = d is exact. */
int ptq_spin_lowrank(const float *Rin, const float *Rout, int d, int r, float *Q, float *M, ptq_err *err);

/* Fuse the plan into m (norms, bases, V/O, online Hadamards, corrections)
 * and quantize: `me` is the calling method (its options: weights, percdamp,
 * act_order, nsamples, seqlen, activation/KV options). */
int ptq_spin_apply(const ptq_method *me, ptq_spin_plan *p, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);

/* RMSNorm gammas of block l into the linears that read them (QuaRot). */
void ptq_spin_fuse_norms(ptq_model *m, int l);
/* R3 (online Hadamard on Q/K after RoPE) and R4 (online Hadamard, or a
 * seeded random orthogonal matrix where none is known, on the down_proj
 * input, folded into W_down) of block l. */
int ptq_spin_online_ops(ptq_model *m, int l, uint64_t seed, ptq_err *err);

/* Learn the plan's residual bases and V/O rotations with Cayley SGD on the
 * next-token cross-entropy of the calibration windows through a copy of m
 * with activations and KV fake-quantized (weights 16-bit); m is not
 * changed. Options of `me`: steps, batch, lr, momentum, nsamples, seqlen.
 * A non-finite loss stops with an error naming the step. */
int ptq_spin_learn(const ptq_method *me, ptq_spin_plan *p, const ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err);

#endif
