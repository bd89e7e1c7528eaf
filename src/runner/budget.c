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
    double wide = cfg->hidden_dim > cfg->dim ? cfg->hidden_dim : cfg->dim;
    /* calibration activations in and out of a block, and a Hessian (in x in doubles) per linear in flight */
    double calib = c->needs_calib ? 2.0 * 4 * (double)(c->calib.nsamples > 0 ? c->calib.nsamples : 128) *
                                        (c->calib.seqlen > 0 ? c->calib.seqlen : T) * wide
                                  : 0;
    e->method = fp ? 0 : calib + (c->needs_calib ? 8.0 * wide * wide : 0);
    if (c->stream) { /* shell (fp32 embedding + lm_head), one fp32 block + its codes, the windows' hidden states */
        e->weights = 4 * emb_params(cfg) * (cfg->tied_embeddings ? 1 : 2) + 5 * block_params(cfg);
        int other = 0; /* a task other than ppl keeps every block: codes (two per byte up to 4 bits) + group scales */
        for (int i = 0; i < c->ntasks; i++) other |= ptq_task_kind_of(c->tasks[i]) != &ptq_task_ppl;
        int wb = c->quantizer.w_bits, g = c->quantizer.w_group > 0 ? c->quantizer.w_group : cfg->dim;
        if (other && !fp)
            e->weights += cfg->n_layers * block_params(cfg) * ((wb <= 4 ? 0.5 : wb < 16 ? 1 : 4) + 8.0 / g);
        int nwin = c->eval.ppl.limit_windows > 0 ? c->eval.ppl.limit_windows : 64;
        e->state = 4.0 * nwin * T * cfg->dim + state_bytes(cfg, T, T) - 4.0 * 2 * (cfg->n_layers - 1) * T *
                                                                             cfg->n_kv_heads * cfg->head_dim;
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
    if (e->file_bytes > b)
        return ptq_fail(err,
                        "--max-rss %.2f GiB: the checkpoint %s is %.2f GiB on disk, larger than the budget; refused "
                        "before loading",
                        c->max_rss_gib, c->model, e->file_bytes / GIB);
    if (e->total > b)
        return ptq_fail(err,
                        "--max-rss %.2f GiB: cell %s %s %s needs an estimated %.2f GiB (weights %.2f, full-precision "
                        "copy %.2f, method %.2f, forward state %.2f); refused before loading%s",
                        c->max_rss_gib, c->model, c->method->name, c->q.text, e->total / GIB, e->weights / GIB,
                        e->fp_copy / GIB, e->method / GIB, e->state / GIB,
                        c->stream || !c->method->blocks ? "" : " (--stream quantizes block by block)");
    return 0;
}
