/* report.h — tables and plots from results rows (report.c), and the
 * regression gate that compares two result sets (cmd_compare.c). */
#ifndef PTQ_REPORT_H
#define PTQ_REPORT_H

#include <stdio.h>

#include "results.h"

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

/* ---- latency and memory (report_latency.c) -------------------------------
 * For one model: the table of its "latency" task rows (md/csv/tex, files
 * table_<model>_latency.*; md also to out, tex also to tex_all) and, with
 * o->plots, Pareto plots joined with its ppl rows on (model, method, qspec,
 * options): perplexity vs weight bytes and vs decode tokens/s, one point per
 * method x bits (pareto_<model>_<dataset>_{weights,decode}.{png,svg}). */
int ptq_report_latency(const ptq_rowset *rs, const char *model, const ptq_report_opts *o, FILE *out, FILE *tex_all,
                       FILE *figs, ptq_err *err);
int ptq_report_has_latency(const ptq_rowset *rs, const char *model);
/* report.c helpers shared with report_latency.c */
int ptq_report_gnuplot(const ptq_report_opts *o, const char *script, const char *vars, ptq_err *err);
void ptq_report_sanitize(const char *s, char *out, size_t cap);
/* Create <dir>/table_<model sanitized><suffix> (suffix e.g. ".md",
 * "_latency.csv"); NULL with err naming the path when it cannot. */
FILE *ptq_report_open_table(const char *dir, const char *model, const char *suffix, ptq_err *err);
void ptq_report_tex_escape(const char *s, char *out, size_t cap);
void ptq_report_csv_field(FILE *f, const char *s, int last);

/* ---- regression gate --------------------------------------------------- */
typedef struct {
    double ppl_rel;   /* ppl: new <= base * (1 + ppl_rel) */
    double kld_rel;   /* kld_mean/kld_p99: new <= base * (1 + kld_rel) + kld_abs */
    double kld_abs;
    double acc_abs;   /* acc, acc_norm: base - new <= max(acc_abs, k * sqrt(se_b^2 + se_n^2)) */
    double stderr_k;
    double agree_abs; /* top1_agree (percentage points) */
    double lat_ratio; /* latency rows: slowdown factor allowed */
} ptq_compare_tol;
void ptq_compare_tol_default(ptq_compare_tol *t);
/* "ppl=0.02,kld=0.1,acc=0.01,agree=1,latency=1.5,k=2" -> t. */
int ptq_compare_tol_parse(const char *s, ptq_compare_tol *t, ptq_err *err);

typedef struct {
    int checked, regressions, missing, improved, added;
} ptq_compare_summary;
/* Match rows by "id" (model|method|bits|seed|task), check every gated
 * metric, print a diff table to out (may be NULL). A baseline row with no
 * match in `cur` counts as missing (and fails the gate). */
int ptq_compare(const ptq_rowset *cur, const ptq_rowset *base, const ptq_compare_tol *t, FILE *out,
                ptq_compare_summary *s, ptq_err *err);

#endif
