/* table_files.h — report options and what every table and plot writer
 * shares (table_files.c): one table value written as Markdown, CSV and
 * LaTeX, and gnuplot figures. */
#ifndef PTQ_TABLE_FILES_H
#define PTQ_TABLE_FILES_H

#include <stdio.h>

#include "common.h"

enum { PTQ_FMT_MD = 1, PTQ_FMT_CSV = 2, PTQ_FMT_TEX = 4 };

typedef struct {
    const char *average;   /* zero-shot average recipe name (NULL = "avg_all_acc") */
    const char *out_dir;   /* where table/plot files go */
    const char *title;     /* experiment name for captions */
    int formats;           /* PTQ_FMT_* bits */
    int plots;             /* run gnuplot (png + svg) */
    const char *gnuplot_dir; /* directory of the *.gp scripts (NULL = find scripts/gnuplot) */
    const char *vs;          /* a reference method: per bit-width ratios to it with intervals (NULL = none) */
} ptq_report_opts;

/* ---- tables ------------------------------------------------------------ */
/* nlab label columns (left-aligned), then value columns. A column has a
 * head and optionally a group: LaTeX puts one header over each run of
 * columns of one group, Markdown and CSV heads read "group head". A cell is
 * text, maybe bold. A row's note goes to a Markdown "note" column (there
 * when any row has one); in LaTeX it replaces the row's values with
 * \emph{note_prefix note}, the note cut at 120 characters. CSV has no
 * caption, bold or notes. Groups are the caller's strings (alive until the
 * table is written); heads, cells and notes are copied. Every string is
 * escaped for its format when written. */
#define PTQ_TABLE_MAXC 1024
#define PTQ_TABLE_MAXR 512
typedef struct {
    char *text;
    int bold;
    int mark; /* not significantly different from the best: a dagger in Markdown, underlined in LaTeX */
} ptq_tcell;

typedef struct {
    const char *caption;     /* Markdown bold line, LaTeX \caption */
    const char *note_prefix; /* LaTeX, before a row's note */
    int nlab;                /* label columns */
    int tex_resize;          /* LaTeX: the tabular scaled to the line width */
    int ncols, nrows, ncell; /* ncell: cells of the last row so far */
    int full;                /* out of memory, too large or a row left short: writing the table fails */
    const char *group[PTQ_TABLE_MAXC];
    char *head[PTQ_TABLE_MAXC];
    char *note[PTQ_TABLE_MAXR];
    ptq_tcell *row[PTQ_TABLE_MAXR]; /* ncols cells each */
} ptq_table;

void ptq_table_col(ptq_table *t, const char *group, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A new row (after the last column); note may be NULL. */
void ptq_table_row(ptq_table *t, const char *note);
/* The next cell of the last row. */
void ptq_table_cell(ptq_table *t, int bold, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Mark the last cell (ptq_tcell.mark). */
void ptq_table_mark(ptq_table *t);
/* A number in fmt; an empty cell for NaN. */
void ptq_table_num(ptq_table *t, const char *fmt, double v);
void ptq_table_free(ptq_table *t);

/* The table in every format o asks for, as <out_dir>/table_<model
 * sanitized><suffix>.{md,csv,tex} (the CSV from csv); the Markdown also to
 * out and the LaTeX also to tex_all when not NULL. A file that cannot be
 * created fills err, the others are still written, and the result is -1. */
int ptq_report_tables(const ptq_table *shown, const ptq_table *csv, const ptq_report_opts *o, const char *model,
                      const char *suffix, FILE *out, FILE *tex_all, ptq_err *err);

/* Index of s in list[0..*n), appended when absent; -1 when s is NULL or the
 * list already holds cap strings. */
int ptq_report_add_unique(const char **list, int *n, int cap, const char *s);

/* ---- files and plots --------------------------------------------------- */
/* Characters unsafe in file names (/ |:()=,) become '_'. */
void ptq_report_sanitize(const char *s, char *out, size_t cap);
/* One CSV field (quoted by libcsv when needed), then ',' or a newline. */
void ptq_report_csv_field(FILE *f, const char *s, int last);
/* s as LaTeX text: \ { } % & _ # $ ^ ~ | escaped, line breaks as spaces. */
void ptq_report_tex_put(FILE *f, const char *s);
/* A plot's data file: base = <out_dir>/<prefix><model>_<what> (model and
 * what sanitized), <base>.dat created; NULL with err when it cannot be. */
FILE *ptq_report_plot_data(const ptq_report_opts *o, const char *prefix, const char *model, const char *what,
                           char *base, size_t cap, ptq_err *err);
/* gnuplot -e vars <gnuplot dir>/<script> (o->gnuplot_dir, else
 * scripts/gnuplot), which writes <base>.png and .svg; then the figure in
 * figs (\includegraphics <base>.png, caption: title escaped, then tail)
 * and "plot: <base>.png <base>.svg" on stdout. An error names the script
 * and gnuplot's exit status. */
int ptq_report_plot(const ptq_report_opts *o, const char *script, const char *vars, const char *base,
                    const char *title, const char *tail, FILE *figs, ptq_err *err);

#endif
