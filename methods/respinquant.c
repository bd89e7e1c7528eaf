/* respinquant.c — ReSpinQuant (arXiv 2604.11080), METHODS.md §9.
 *
 * 1. Fuse the norms (QuaRot); per layer i dense residual bases R1^i (read
 *    by attention, written by the previous FFN) and R2^i (written by
 *    attention, read by the FFN), and a head_dim rotation R3^i on V/O.
 * 2. rotation=learned: all of them learned with SpinQuant's Cayley SGD on
 *    the cross-entropy of the quantized network (weights 16-bit).
 * 3. Fuse every rotation into the weights; Q/K and down_proj get online
 *    Hadamards (R4, R5).
 * 4. Each residual add changes basis, T = R_out^T R_in: corrected online by
 *    x + Q M Q^T x, Q = top-r left singular vectors of T - I, M = polar
 *    factor of Q^T T Q minus I (O(2rd) per token per add; rank r option).
 * 5. GPTQ (default) or RTN weights; activations per-token asymmetric, KV
 *    asymmetric with group 128 (SpinQuant's quantizers).
 * Deviations / resolved ambiguities:
 *  - Boundary bases: block l's attention reads res[2l], its FFN reads
 *    res[2l+1], down_proj writes res[2l+2]; lm_head reads res[2L], which
 *    only its (16-bit) input sees and is not trained. The embedding writes
 *    res[0].
 *  - Training runs with the exact basis changes (the residual stream stays
 *    in the original basis and each linear reads x R, which equals the fused
 *    model at full rank); the rank-r approximation is applied afterwards, as
 *    the paper's offline step 5. Learning is whole-model (the CE loss of the
 *    network, as the paper), so the method refuses --stream.
 *  - rotation=hadamard: the same random-sign Hadamard for every residual
 *    basis (T = I at init, the correction is then zero); rotation=random:
 *    an independent seeded random orthogonal basis per boundary (T != I:
 *    the rank ablation without training). Learned starts from hadamard.
 *  - rank = -1 means full (= dim, exact); rank 0 drops the correction.
 *  - Training length, lr and calibration text as spinquant.c. */
#include <string.h>

#include "spinrot.h"

static const ptq_opt_def rs_opts[] = {
    PTQ_SPIN_OPTS("learned"),
    {.name = "rank",
     .type = PTQ_OPT_INT,
     .def = "32",
     .lo = -1,
     .hi = 1 << 20,
     .help = "rank of the online residual basis-change correction (0: none, -1: full = dim)"},
    {0}};

extern const ptq_method ptq_method_respinquant;

static int rs_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    const ptq_method *me = &ptq_method_respinquant;
    const char *rot = ptq_opt_str(me, ctx->opts, "rotation");
    int d = m->cfg.dim, rank = (int)ptq_opt_num(me, ctx->opts, "rank");
    if (rank > d)
        return ptq_fail(err,
                        "respinquant: option 'rank' = %d exceeds the residual width (dim %d): use 0..%d or -1 "
                        "for full",
                        rank, d, d);
    ptq_spin_plan p;
    if (ptq_spin_plan_init(&p, &m->cfg, strcmp(rot, "random") ? "hadamard" : "random", 0, ctx->seed, err)) return -1;
    p.init = rot;
    p.rank = rank < 0 ? d : rank;
    int rc = strcmp(rot, "learned") ? 0 : ptq_spin_learn(me, &p, m, ctx, err);
    if (!rc) rc = ptq_spin_apply(me, &p, m, ctx, err);
    ptq_spin_plan_free(&p);
    return rc;
}

static int rs_needs_calib(const ptq_qspec *q, const cJSON *opts) {
    const ptq_method *me = &ptq_method_respinquant;
    return !strcmp(ptq_opt_str(me, opts, "rotation"), "learned") ||
           (q->w_bits < 16 && !strcmp(ptq_opt_str(me, opts, "weights"), "gptq"));
}

const ptq_method ptq_method_respinquant = {
    .name = "respinquant",
    .summary = "per-layer learned residual/V-O rotations, low-rank online correction of the residual basis "
               "change, online Hadamards, GPTQ/RTN weights; whole-model (no --stream)",
    .opts = rs_opts,
    .needs_calib = rs_needs_calib,
    .apply = rs_apply,
};
