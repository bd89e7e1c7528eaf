/* cell.h — one sweep cell: open a model, quantize it with a method at a
 * bit-spec, run the evaluation tasks, and return one result row per task.
 * `ptqbench run` is a thin CLI over this; the experiment runner calls it for
 * every cell of a plan. */
#ifndef PTQ_RUN_CELL_H
#define PTQ_RUN_CELL_H

#include <cjson/cJSON.h>

#include "calib.h"
#include "method.h"
#include "perplexity.h"

typedef struct {
    const char *model;     /* short name or path */
    const char *tokenizer; /* NULL: the model's default */
    const char *method;    /* registry name */
    const char *qspec;     /* bit-spec string, e.g. "W4A4KV4" */
    const cJSON *opts;     /* method options object (NULL = defaults); not modified */
    /* calibration: dataset "" = default for the model (tinystories-calib for
     * stories models, else c4); nsamples/seqlen > 0 override the method's
     * nsamples/seqlen options when those are not given in opts. */
    ptq_calib_spec calib;
    uint64_t seed;            /* rotations, calibration sampling */
    const char *const *tasks; /* "ppl:wikitext2", "ppl:ptb", "ppl:tinystories", "zeroshot:piqa", "kld:wikitext2",
                                 "latency" or "latency:T=128+512:ctx=512:reps=5" (eval/latency.h) */
    int ntasks;
    ptq_ppl_opts ppl;     /* seqlen, protocol, denominator, limit_windows (also used by kld) */
    int zs_limit, zs_bos; /* zero-shot --limit and --zeroshot-bos */
    int progress;         /* progress bars on stderr */
    int stream;           /* HF checkpoint quantized + evaluated one block at a time (cell_stream.h) */
} ptq_cell_spec;

/* Validate everything that can be checked without loading the model:
 * method, bit-spec and the method's support for it, options (unknown key,
 * wrong type, range), task names and kinds, calibration dataset name and that
 * it is not the evaluation text. */
int ptq_cell_check(const ptq_cell_spec *cell, ptq_err *err);

/* Run the cell; append one row (cJSON object) per task to rows_out (an array).
 * Row: task, metrics{...}, method, qspec, options (resolved), method_info,
 * model, model_sha256, dataset_sha256, calib{dataset,sha256,nsamples,seqlen,
 * seed,sampling} or null, seed, quant_seconds, eval_seconds, peak_rss_kb,
 * git_commit, threads, timestamp. */
int ptq_run_cell(const ptq_cell_spec *cell, cJSON *rows_out, ptq_err *err);

/* A copy of the cell's method options with the cell's calibration sizes
 * (calib.nsamples/seqlen) added where the method has them and opts do not
 * set them; NULL when out of memory. Caller frees. */
cJSON *ptq_cell_opts(const ptq_method *me, const ptq_cell_spec *cell);

/* What every result row of a cell says about how it was produced. */
typedef struct {
    const ptq_cell_spec *cell;
    const ptq_method *me;
    const ptq_qspec *q;
    const cJSON *opts, *info; /* options as given to apply; method info (its "calib" goes to the row) */
    const ptq_model *m;
    double quant_seconds;
} ptq_cell_row_src;
/* One result row: task, metrics (taken over), method, qspec, options
 * (resolved), method_info, model, model_sha256, dataset_sha256, calib,
 * seed, quant/eval seconds, peak RSS, git commit, threads, timestamp. Shared
 * by the in-RAM and the streamed cell. */
cJSON *ptq_cell_row(const ptq_cell_row_src *src, const char *task, cJSON *metrics, const char *dataset_sha256,
                    double eval_seconds);
/* The metrics of a perplexity result (ppl, nll_sum, tokens, windows,
 * protocol, denominator, ...). */
void ptq_cell_ppl_metrics(cJSON *metrics, const ptq_ppl_result *r, const ptq_ppl_opts *o);

/* Default calibration dataset for a model spec (by name). */
const char *ptq_default_calib(const char *model);

#endif
