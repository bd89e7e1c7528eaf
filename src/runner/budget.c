/* budget.c — a cell's memory: its peak RSS estimated from the model's
 * headers before anything is loaded (--max-rss refuses a cell above the
 * budget), and the high-water mark reset so that rows record the peak of
 * their own cell, not of the process so far (cell.h). */
#include <stdio.h>
#include <string.h>

#include "cell.h"
#include "model_open.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

int ptq_peak_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5": reset the peak RSS to the current RSS */
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Parameters of the weight matrices and of one block. */
static double block_params(const ptq_config *c) {
    double qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
    return c->dim * qd * 2 + c->dim * kvd * 2 + 3.0 * c->dim * c->hidden_dim;
}

static double emb_params(const ptq_config *c) { return (double)c->vocab_size * c->dim; }

/* Forward state of T rows over ctx positions (forward.c state_init, fp32 KV). */
static double state_bytes(const ptq_config *c, int T, int ctx) {
    double kvd = (double)c->n_kv_heads * c->head_dim, wide = c->hidden_dim > c->dim ? c->hidden_dim : c->dim;
    double kv = 2.0 * c->n_layers * ctx * kvd, logits = (double)T * c->vocab_size;
    double scratch = (double)T * (c->dim + 6 * wide + 2 * kvd) + 2.0 * T * ctx;
    return 4 * (kv + logits + scratch);
}

/* Weights quantized by gptq.c's block walk: GPTQ itself (keep_mib) or weights=gptq (QuaRot, SpinQuant). */
static int uses_gptq_walk(const ptq_cell *c) {
    const ptq_method *me = c->method;
    return ptq_method_opt(me, "keep_mib") ||
           (ptq_method_opt(me, "weights") && !strcmp(ptq_opt_str(me, c->run_opts, "weights"), "gptq"));
}

/* A Hessian per linear: the GPTQ walk, or a method's own GPTQ-style column updates (lazy-update blocksize). */
static int uses_hessian(const ptq_cell *c) { return uses_gptq_walk(c) || ptq_method_opt(c->method, "blocksize"); }

/* A calibration size: the method's option (the cell's --nsamples/--calib-seqlen are set into it), else def. */
static double calib_size(const ptq_cell *c, const char *key, int cell_val, double def) {
    if (ptq_method_opt(c->method, key)) return ptq_opt_num(c->method, c->run_opts, key);
    return cell_val > 0 ? cell_val : def;
}

/* GPTQ's staged block walk keeps down's input (nsamples x seqlen x hidden
 * floats) while down is quantized when it fits keep_mib (gptq.c keep_buf);
 * o's smaller one is freed before then. */
static double kept_bytes(const ptq_cell *c, const ptq_config *cfg, double N, double L) {
    if (!uses_gptq_walk(c)) return 0;
    double cap = (ptq_method_opt(c->method, "keep_mib") ? ptq_opt_num(c->method, c->run_opts, "keep_mib") : 1024);
    double down = 4.0 * N * L * cfg->hidden_dim;
    return down <= cap * 1048576.0 ? down : 0;
}

/* Calibration: the token windows and their block activations (nsamples x
 * seqlen x dim floats, advanced in place block by block), and for GPTQ-based
 * weights the largest transient of one linear (gptq.c): the fp64 H of the
 * widest input, its reversed fp64 copy, the fp32 Hinv and the permuted fp32
 * weight, next to down's kept input. The per-window forward scratch is small
 * beside these. */
static double calib_bytes(const ptq_cell *c, const ptq_config *cfg) {
    if (!c->needs_calib) return 0;
    double N = calib_size(c, "nsamples", c->calib.nsamples, 128);
    double L = PTQ_MIN(calib_size(c, "seqlen", c->calib.seqlen, 2048), cfg->max_seq);
    double x = N * L * (4.0 * cfg->dim + sizeof(int));
    double n = PTQ_MAX(PTQ_MAX(cfg->dim, cfg->hidden_dim), cfg->n_heads * cfg->head_dim);
    double rows = n == cfg->hidden_dim ? cfg->dim : PTQ_MAX(cfg->dim, cfg->hidden_dim);
    return x + (uses_hessian(c) ? (8.0 + 8.0 + 4.0) * n * n + 4.0 * rows * n + kept_bytes(c, cfg, N, L) : 0);
}

int ptq_cell_estimate_rss(const ptq_cell *c, ptq_rss_estimate *e, ptq_err *err) {
    memset(e, 0, sizeof *e);
    ptq_model_footprint f;
    if (c->synthetic) {
        f = (ptq_model_footprint){.cfg = c->synthetic->cfg, .bytes_per_weight = 4};
    } else if (ptq_model_footprint_of(c->model, &f, err))
        return ptq_wrap(err, "memory estimate");
    e->file_bytes = f.file_bytes;
    const ptq_config *cfg = &f.cfg;
    int fp = !strcmp(c->method->name, "fp16"), need_fp = 0;
    for (int i = 0; i < c->ntasks; i++) need_fp |= ptq_task_kind_of(c->tasks[i])->needs_fp;
    if (!cfg->dim) { /* a .ptq export: codes unpacked to a byte per weight in RAM, about twice the file at 4 bits */
        e->weights = 2.0 * f.file_bytes;
        e->total = e->weights + 64 * 1048576.0;
        return 0;
    }
    double P = cfg->n_layers * block_params(cfg) + emb_params(cfg) * (cfg->tied_embeddings ? 1 : 2);
    double bpw = f.bytes_per_weight ? f.bytes_per_weight : 4;
    int T = c->eval.ppl.seqlen > 0 ? c->eval.ppl.seqlen : cfg->max_seq < 2048 ? cfg->max_seq : 2048;
    e->method = fp ? 0 : calib_bytes(c, cfg) + (c->method->extra_rss ? c->method->extra_rss(cfg, c->run_opts, c->stream) : 0);
    if (c->stream) { /* shell (fp32 embedding + lm_head), one fp32 block + its codes, the windows' hidden states */
        e->weights = 4 * emb_params(cfg) * (cfg->tied_embeddings ? 1 : 2) + 5 * block_params(cfg);
        int other = 0; /* a task other than ppl keeps every block: codes (two per byte up to 4 bits) + group scales */
        for (int i = 0; i < c->ntasks; i++) other |= ptq_task_kind_of(c->tasks[i]) != &ptq_task_ppl;
        int wb = c->quantizer.w_bits, g = c->quantizer.w_group > 0 ? c->quantizer.w_group : cfg->dim;
        if (other && !fp)
            e->weights += cfg->n_layers * block_params(cfg) * ((wb <= 4 ? 0.5 : wb < 16 ? 1 : 4) + 8.0 / g);
        int nwin = c->eval.ppl.limit_windows > 0 ? c->eval.ppl.limit_windows : 64, nppl = 0;
        for (int i = 0; i < c->ntasks; i++) nppl += ptq_task_kind_of(c->tasks[i]) == &ptq_task_ppl;
        /* each ppl task's windows as hidden states; an export (no task) runs no evaluation forward */
        e->state = 4.0 * nppl * nwin * T * cfg->dim +
                   (c->ntasks ? state_bytes(cfg, T, T) - 4.0 * 2 * (cfg->n_layers - 1) * T * cfg->n_kv_heads *
                                                             cfg->head_dim
                              : 0);
    } else {
        /* quantizing: the fp32 form the method changes plus a code byte per weight; kept compact otherwise */
        e->weights = fp ? P * bpw : P * (4 + 1);
        e->fp_copy = need_fp && !fp ? P * bpw : 0; /* fp16 is its own FP model */
        e->state = state_bytes(cfg, T, T);
    }
    e->total = e->weights + e->fp_copy + e->method + e->state + 64 * 1048576.0;
    return 0;
}

int ptq_cell_check_budget(const ptq_cell *c, ptq_rss_estimate *e, ptq_err *err) {
    if (ptq_cell_estimate_rss(c, e, err)) return -1;
    double b = c->max_rss_gib * GIB;
    if (c->max_rss_gib <= 0) return 0;
    if (!c->stream && e->file_bytes > b) /* --stream reads one block at a time: the estimate decides */
        return ptq_fail(err,
                        "--max-rss %.2f GiB: the checkpoint %s is %.2f GiB on disk, larger than the budget; refused "
                        "before loading",
                        c->max_rss_gib, c->model, e->file_bytes / GIB);
    if (e->total > b)
        return ptq_fail(err,
                        "--max-rss %.2f GiB: cell %s %s %s needs an estimated %.2f GiB (weights %.2f, full-precision "
                        "copy %.2f, calibration and method %.2f, forward state %.2f); refused before loading%s",
                        c->max_rss_gib, c->model, c->method->name, c->q.text, e->total / GIB, e->weights / GIB,
                        e->fp_copy / GIB, e->method / GIB, e->state / GIB,
                        c->stream || !c->method->blocks ? "" : " (--stream quantizes block by block)");
    return 0;
}
