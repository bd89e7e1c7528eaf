/* cell.h — a cell: one model quantized by one method at one bit-spec with
 * options and a seed, and the evaluation tasks run on it. The one cell type
 * of the runner: `ptqbench run` builds one from flags, a sweep one per plan
 * entry (experiment.h), export/bench/zeroshot/kld one without tasks or with
 * one, and `run --stream` runs one block by block (cell_stream.h).
 *
 * Life cycle: ptq_cell_init (model, method and bit-spec, parsed once), set
 * the other fields, ptq_cell_check (everything that can be validated without
 * loading the model, once), then ptq_prepare (the model, quantized) or
 * ptq_run_cell (prepare + tasks -> result rows); ptq_cell_free. */
#ifndef PTQ_RUN_CELL_H
#define PTQ_RUN_CELL_H

#include <cjson/cJSON.h>

#include "calib.h"
#include "method.h"
#include "shapes.h"
#include "task.h"

typedef struct {
    char *model;                      /* short name or path (owned); the name of a synthetic model */
    char *tokenizer;                  /* NULL: the model's own (owned) */
    const ptq_random_spec *synthetic; /* non-NULL: a random-weight model built in RAM, not a file */
    const ptq_method *method;
    ptq_qspec q;          /* the bit-spec, parsed once; q.text is the canonical spec of ids and rows */
    cJSON *opts;          /* method options as given (owned, an object) */
    ptq_calib_spec calib; /* dataset ("" = the model's default), nsamples/seqlen (> 0: stand in
                             for the method's options of that name unless opts give them), seed */
    uint64_t seed;        /* rotations, calibration sampling */
    char **tasks;         /* "ppl:wikitext2", "zeroshot:piqa", "kld:tinystories", "latency[:params]" (owned) */
    int ntasks;
    ptq_eval_opts eval; /* ppl windows/protocol (also kld), zero-shot limit/BOS, progress bars */
    int stream;         /* HF checkpoint quantized and evaluated one block at a time (cell_stream.h) */
    double max_rss_gib; /* > 0: refuse the cell when its estimated peak RSS is above it (budget.c) */
    /* ---- derived by ptq_cell_check ---- */
    int checked;         /* 1 + stream of the last successful check; 0: not checked (ptq_cell_is_checked) */
    ptq_qspec quantizer; /* q with the method's alias options applied: what the method gets */
    cJSON *run_opts;     /* opts + the calibration sizes: what the method gets (owned) */
    int needs_calib;     /* ptq_method_needs_calib(method, quantizer, run_opts) */
    /* ---- plan entry of an experiment (experiment.h); zero otherwise ---- */
    int index;       /* position in the full plan */
    char key[65];    /* sha256 of the resolved cell + inputs (ptq_experiment_keys) */
    char id[512];    /* model|label|bits|sSEED */
    char label[256]; /* method + the options given, e.g. "smoothquant(alpha=0.85)" */
    char origin[64]; /* the config entry it comes from, e.g. "$.methods[1]" (for messages) */
    char calib_split[32];
    cJSON *overrides; /* the config's evaluation overrides (owned) */
    cJSON *resolved;  /* canonical resolved cell (owned): key input, stored in rows as "cell" */
} ptq_cell;

/* model, method name and the parsed bit-spec (ptq_qspec_parse, once per
 * spec string); calibration dataset empty (the model's default), seed 0,
 * progress bars on, no tasks. An unknown method is an error listing them. */
int ptq_cell_init(ptq_cell *c, const char *model, const char *method, const ptq_qspec *q, ptq_err *err);
void ptq_cell_free(ptq_cell *c);
/* --opt "key=value", typed by the method's option table. */
int ptq_cell_add_opt(ptq_cell *c, const char *kv, ptq_err *err);
int ptq_cell_add_task(ptq_cell *c, const char *task, ptq_err *err);

/* Validate everything that can be checked without loading the model, once:
 * options (unknown key, type, range), the alias options against the
 * bit-spec, the method's support for the quantizer, every task (kind and
 * argument), the calibration dataset (a text dataset, not the evaluated
 * text) when the method reads one, and for a streamed cell the method's
 * block-wise form, the tasks (ppl only) and the model (an HF checkpoint).
 * Fills the derived fields. */
int ptq_cell_check(ptq_cell *c, ptq_err *err);

/* Whether the cell passed ptq_cell_check as it is (streamed or not). */
static inline int ptq_cell_is_checked(const ptq_cell *c) {
    return c->checked == 1 + (c->stream != 0);
}

/* A cell's model, quantized. */
typedef struct {
    ptq_model m;  /* the quantized model */
    ptq_model fp; /* full-precision copy taken before quantizing (keep_fp) */
    int have_m, have_fp;
    ptq_tokenizer *tok; /* NULL for a synthetic model */
    cJSON *info;        /* what the method recorded; its "calib" is the row's calib */
    double quant_seconds;
} ptq_prepared;

/* The one entry point from a cell to a quantized model: check the cell (if
 * not done), open the model (or build the synthetic one), keep an fp32 copy
 * when asked, load calibration when the method reads it, apply the method,
 * record what happened. */
int ptq_prepare(ptq_cell *c, int keep_fp, ptq_prepared *p, ptq_err *err);
void ptq_prepared_free(ptq_prepared *p);

/* Prepare the cell and run its tasks (in RAM, or streamed with c->stream);
 * append one result row per task to rows_out (an array). Row: task,
 * metrics, method, qspec (the cell's bit-spec), quantizer, options
 * (resolved), method_info, model, model_sha256, dataset_sha256, calib, seed,
 * quant_seconds, eval_seconds, peak_rss_kb, git_commit, threads, timestamp,
 * plus what the task adds (latency: host, cpu, isa, loadavg). */
int ptq_run_cell(ptq_cell *c, cJSON *rows_out, ptq_err *err);

/* One result row (the fields above); metrics are taken over. Shared by the
 * in-RAM and the streamed cell. */
cJSON *ptq_cell_row(const ptq_cell *c, const ptq_model *m, const cJSON *info, double quant_seconds, const char *task,
                    cJSON *metrics, const char *dataset_sha256, double eval_seconds);

/* ---- memory (budget.c) ---- */
/* A cell's peak RSS estimated from headers alone, before anything loads. */
typedef struct {
    long long file_bytes; /* the model's weight files */
    double weights;       /* the model as resident (and, quantizing, its fp32 form + codes) */
    double fp_copy;       /* the full-precision copy tasks like kld keep */
    double method;        /* method working memory (calibration activations, Hessians) */
    double state;         /* forward state: KV cache, logits, scratch */
    double total;         /* bytes */
} ptq_rss_estimate;
int ptq_cell_estimate_rss(const ptq_cell *c, ptq_rss_estimate *e, ptq_err *err);
/* With c->max_rss_gib > 0: fail when the checkpoint files or the estimate
 * exceed it, the message giving the estimate and its parts. */
int ptq_cell_check_budget(const ptq_cell *c, ptq_rss_estimate *e, ptq_err *err);
/* Reset the process's RSS high-water mark (VmHWM) to the current RSS so
 * that the next reading is the peak of what follows; 0 on success. */
int ptq_peak_rss_reset(void);

/* Default calibration dataset of a model (by name): tinystories-calib for
 * the stories models, else c4. */
const char *ptq_default_calib(const char *model);

#endif
