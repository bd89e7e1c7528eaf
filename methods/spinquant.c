/* spinquant.c — SpinQuant (Liu et al., ICLR 2025), METHODS.md §6.
 *
 * 1. Fuse the RMSNorm gammas into the following linears (QuaRot).
 * 2. R1 (d x d, global, residual stream) and R2 (head_dim, per layer, V rows /
 *    O columns) start as random-sign Hadamards.
 * 3. rotation=learned: Cayley SGD on the Stiefel manifold learns R1 and R2 on
 *    the next-token cross-entropy of the network with activations and KV
 *    fake-quantized and weights at 16 bits (spinrot.c).
 * 4. Fuse R1/R2 into the weights; R3 (Q/K after RoPE) and R4 (down_proj
 *    input) are online Hadamards as in QuaRot.
 * 5. Weights by GPTQ (default) or RTN, per-channel symmetric; activations
 *    per-token asymmetric; KV asymmetric, group 128 within a head.
 * Deviations / resolved ambiguities:
 *  - Training: 8 full-batch steps over the nsamples calibration windows
 *    (SpinQuant: 100 steps of 8 windows, one epoch), fp32 (not bf16). Each
 *    step is a backtracking line search along the Cayley direction: sizes
 *    lr, lr/4, ... (8 of them, lr 0.03 on a cosine) until one lowers the
 *    calibration CE; none: stop. The lowest-CE iterate is kept. SpinQuant's
 *    fixed step (lr 1.5, t <= 1/|W|_1) raises the CE on the toy models:
 *    their straight-through gradient is a descent direction only over a
 *    short, model-dependent range (spinlearn.c).
 *  - rotation=random uses seeded Haar-random orthogonal R1/R2 and
 *    rotation=hadamard random-sign Hadamards, both without training (the
 *    paper's ablation rows); sizes without a known Hadamard fall back to a
 *    seeded random orthogonal matrix (stories260K's hidden 172 for R4).
 *  - Calibration text is the harness's (not WikiText-2 train, which would
 *    overlap the evaluation text); the same windows train and feed GPTQ.
 *  - R1 is global: the method needs the whole model in RAM and refuses
 *    --stream (it has no block-wise form).
 *  - The embedding mean-centring of QuaRot's fusion is skipped (it changes
 *    an RMSNorm model's function). */
#include <string.h>

#include "spinrot.h"

static const ptq_opt_def sq_opts[] = {PTQ_SPIN_OPTS("learned"), {0}};

extern const ptq_method ptq_method_spinquant;

static int sq_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    const ptq_method *me = &ptq_method_spinquant;
    const char *rot = ptq_opt_str(me, ctx->opts, "rotation");
    ptq_spin_plan p;
    if (ptq_spin_plan_init(&p, &m->cfg, strcmp(rot, "random") ? "hadamard" : "random", 1, ctx->seed, err)) return -1;
    p.init = rot;
    int rc = strcmp(rot, "learned") ? 0 : ptq_spin_learn(me, &p, m, ctx, err);
    if (!rc) rc = ptq_spin_apply(me, &p, m, ctx, err);
    ptq_spin_plan_free(&p);
    return rc;
}

static int sq_needs_calib(const ptq_qspec *q, const cJSON *opts) {
    const ptq_method *me = &ptq_method_spinquant;
    return !strcmp(ptq_opt_str(me, opts, "rotation"), "learned") ||
           (q->w_bits < 16 && !strcmp(ptq_opt_str(me, opts, "weights"), "gptq"));
}

const ptq_method ptq_method_spinquant = {
    .name = "spinquant",
    .summary = "learned residual (global) and V/O rotations (Cayley SGD on the quantized network's CE), "
               "online Hadamards, GPTQ/RTN weights; whole-model (no --stream)",
    .opts = sq_opts,
    .needs_calib = sq_needs_calib,
    .apply = sq_apply,
};
