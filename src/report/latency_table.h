/* latency_table.h — the latency and memory table of a model and its Pareto
 * plots (latency_table.c). */
#ifndef PTQ_LATENCY_TABLE_H
#define PTQ_LATENCY_TABLE_H

#include "results.h"
#include "table_files.h"

/* For one model: the table of its "latency" task rows (md/csv/tex, files
 * table_<model>_latency.*; md also to out, tex also to tex_all) and, with
 * o->plots, Pareto plots joined with its ppl rows on (model, method, qspec,
 * options): perplexity vs weight bytes and vs decode tokens/s, one point per
 * method x bits (pareto_<model>_<dataset>_{weights,decode}.{png,svg}). */
int ptq_report_latency(const ptq_rowset *rs, const char *model, const ptq_report_opts *o, FILE *out, FILE *tex_all,
                       FILE *figs, ptq_err *err);
int ptq_report_has_latency(const ptq_rowset *rs, const char *model);
#endif
