/* task.h — the registry of evaluation task kinds (task.c) and the named
 * zero-shot averages.
 *
 * A task is "kind:argument" ("ppl:wikitext2", "zeroshot:piqa",
 * "kld:tinystories", "latency:T=128+512"; a kind with `bare` also stands
 * alone: "latency"). Its kind says how the argument is checked, how the task
 * runs on a prepared model, which metric heads `ptqbench run`'s summary,
 * which column the report shows and how `ptqbench compare` gates the
 * metrics. The runner, the experiment validator, the report, compare and run
 * read this table and nothing else. Adding an evaluator: its file, with its
 * ptq_task_kind definition at the bottom, and one row in task.c. */
#ifndef PTQ_TASK_H
#define PTQ_TASK_H

#include <cjson/cJSON.h>

#include "eval.h"
#include "qspec.h"

/* What a task runs on. */
typedef struct {
    const ptq_model *m;       /* the model to evaluate (quantized) */
    const ptq_model *fp;      /* the full-precision model (kinds with needs_fp) */
    const ptq_tokenizer *tok; /* NULL for a synthetic model */
    const ptq_qspec *q;       /* m's quantizer */
    const ptq_eval_opts *o;
    cJSON *extra; /* fields the task adds to its row's top level (latency: host, cpu, isa, loadavg) */
} ptq_task_env;

/* How compare judges a metric (report/compare.c holds the tolerances). */
typedef enum {
    PTQ_GATE_NONE = 0,
    PTQ_GATE_PPL,   /* relative: new <= base * (1 + ppl) */
    PTQ_GATE_KLD,   /* relative + absolute */
    PTQ_GATE_ACC,   /* absolute, or k x the combined standard error */
    PTQ_GATE_AGREE, /* absolute percentage points */
    PTQ_GATE_SPEED, /* throughput: a slowdown ratio */
    PTQ_GATE_TIME,  /* a time: a slowdown ratio */
} ptq_gate_rule;

typedef struct {
    const char *metric, *stderr_metric; /* stderr_metric: for PTQ_GATE_ACC, may be NULL */
    ptq_gate_rule rule;
} ptq_gate;

/* The kind's column in the accuracy table (report/report.c). */
typedef struct {
    int per_task;           /* 1: a column per task argument; 0: one zero-shot average (a named recipe) */
    const char *metric;     /* per-task: the metric shown */
    const char *head;       /* per-task: column head before the argument, e.g. "KLD " */
    const char *caption;    /* per-task: sentence in the table caption */
    const char *plot_label; /* per-task: y label of the plot (log scale) */
    int decimals;
    int lower_better;
} ptq_report_col;

typedef struct {
    const char *name;                            /* "ppl" */
    const char *usage;                           /* "ppl:<dataset>", for messages */
    int bare;                                    /* "kind" alone means "kind:" (default parameters) */
    int text_dataset;                            /* the argument is a text dataset: calibration must be another text */
    int arg_dataset;                             /* the argument names a dataset whose sha256 enters the cell key */
    int needs_fp;                                /* the task also needs the full-precision model */
    int (*check)(const char *arg, ptq_err *err); /* the argument, before anything is loaded */
    /* metrics of the task; sha: the evaluated data's sha256 ("" if none). A
     * result the task cannot produce but that must not fail the cell goes
     * into metrics (e.g. "error") with return 0. */
    int (*run)(const ptq_task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err);
    const char *headline[3];                      /* run's summary: the first of these metrics present; {NULL}: none */
    const ptq_report_col *report;                 /* NULL: not in the accuracy table */
    const ptq_gate *gates;                        /* gated metrics, ending with {0}; NULL: none */
    ptq_gate_rule (*gate_of)(const char *metric); /* metrics gated by name (latency); NULL: none */
} ptq_task_kind;

extern const ptq_task_kind *const ptq_task_kinds[]; /* NULL-terminated, task.c */
extern const ptq_task_kind ptq_task_ppl, ptq_task_kld, ptq_task_zeroshot, ptq_task_latency;

/* Split a task into its kind and argument; an unknown kind or a missing
 * argument is an error naming the task and listing the kinds. */
int ptq_task_parse(const char *task, const ptq_task_kind **kind, const char **arg, ptq_err *err);
/* ptq_task_parse + the kind's check of the argument. */
int ptq_task_check(const char *task, ptq_err *err);
/* The kind of a result row's task ("ppl:wikitext2" -> ppl); NULL if unknown. */
const ptq_task_kind *ptq_task_kind_of(const char *task);

/* 0 when every number in metrics (nested too) is finite; else an error
 * naming the first non-finite metric: such a result is a failure, never a
 * value in a row (JSON has no nan/inf). */
int ptq_metrics_finite(const cJSON *metrics, ptq_err *err);

/* For the kinds: the "dataset_sha256" an evaluator put in metrics, into sha. */
void ptq_task_take_sha(const cJSON *metrics, char sha[65]);

/* ---- named zero-shot averages (EVAL.md: a named recipe, never a hidden choice) ---- */
typedef struct {
    const char *name;
    const char *metric;    /* "acc", or "acc_norm" (acc where a task has no acc_norm) */
    const char *tasks[12]; /* NULL-terminated; {NULL}: every zero-shot task present */
    const char *doc;
} ptq_zs_average;
extern const ptq_zs_average ptq_zs_averages[]; /* ends with {0} */
const ptq_zs_average *ptq_zs_average_find(const char *name);
/* Average over rows (objects with "task" = a zero-shot task name and the
 * metrics). -1 with the missing tasks in err when not computable. */
int ptq_zs_average_of(const ptq_zs_average *a, const cJSON *rows, double *avg, ptq_err *err);

#endif
