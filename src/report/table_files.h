/* table_files.h — report options and the helpers every table and plot
 * writer shares (table_files.c). */
#ifndef PTQ_TABLE_FILES_H
#define PTQ_TABLE_FILES_H

#include <stdio.h>

#include "common.h"

/* ---- tables ------------------------------------------------------------ */
enum { PTQ_FMT_MD = 1, PTQ_FMT_CSV = 2, PTQ_FMT_TEX = 4 };

typedef struct {
    const char *average;   /* zero-shot average recipe name (NULL = "avg_all_acc") */
    const char *out_dir;   /* where table/plot files go */
    const char *title;     /* experiment name for captions */
    int formats;           /* PTQ_FMT_* bits */
    int plots;             /* run gnuplot (png + svg) */
    const char *gnuplot_dir; /* directory of the *.gp scripts (NULL = find scripts/gnuplot) */
} ptq_report_opts;

/* Create <dir>/table_<model sanitized><suffix> (suffix e.g. ".md",
 * "_latency.csv"); NULL with err naming the path when it cannot. */
FILE *ptq_report_open_table(const char *dir, const char *model, const char *suffix, ptq_err *err);
/* The gnuplot scripts' directory (o->gnuplot_dir, else scripts/gnuplot). */
const char *ptq_report_gnuplot_dir(const ptq_report_opts *o);
/* gnuplot -e vars <gpdir>/<script>; an error names the script and exit status. */
int ptq_report_run_gnuplot(const char *gpdir, const char *script, const char *vars, ptq_err *err);
int ptq_report_gnuplot(const ptq_report_opts *o, const char *script, const char *vars, ptq_err *err);
/* Characters unsafe in file names (/ |:()=,) become '_'. */
void ptq_report_sanitize(const char *s, char *out, size_t cap);
void ptq_report_tex_escape(const char *s, char *out, size_t cap);
/* One CSV field (quoted by libcsv when needed), then ',' or a newline. */
void ptq_report_csv_field(FILE *f, const char *s, int last);

#endif
