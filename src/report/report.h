/* report.h — tables and plots from results rows (report.c), and the
 * named zero-shot averages. */
#ifndef PTQ_REPORT_H
#define PTQ_REPORT_H

#include <stdio.h>

#include "results.h"
#include "table_files.h"

/* A named, documented zero-shot average (EVAL.md: never one hidden choice). */
typedef struct {
    const char *name, *metric; /* metric: "acc" or "acc_norm" (acc_norm falls back to acc where undefined) */
    const char *const *tasks;  /* NULL = every zero-shot task present */
    const char *doc;
} ptq_avg_recipe;
extern const ptq_avg_recipe ptq_avg_recipes[]; /* terminated by {NULL} */
const ptq_avg_recipe *ptq_avg_recipe_find(const char *name);

/* Write tables (one per model) and, if asked, plots. md also goes to `out`
 * (may be NULL). Fails on an empty row set or an unknown recipe. */
int ptq_report(const ptq_rowset *rs, const ptq_report_opts *o, FILE *out, ptq_err *err);

#endif
