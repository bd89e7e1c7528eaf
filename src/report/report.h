/* report.h — tables and plots from results rows (report.c); the zero-shot
 * average of a table is one of eval/task.h's named averages. */
#ifndef PTQ_REPORT_H
#define PTQ_REPORT_H

#include <stdio.h>

#include "results.h"
#include "table_files.h"

/* Write tables (one per model) and, if asked, plots. md also goes to `out`
 * (may be NULL). Fails on an empty row set or an unknown recipe. */
int ptq_report(const ptq_rowset *rs, const ptq_report_opts *o, FILE *out, ptq_err *err);

#endif
