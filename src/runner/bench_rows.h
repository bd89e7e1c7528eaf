/* bench_rows.h — the latency rows of `ptqbench bench`: a cell with one
 * latency task (a model prepared by ptq_prepare, or a random-weight model of
 * a published shape), or an exported model measured as stored. A row is the
 * runner's latency row plus the identity a results file needs: label, bits,
 * id, source, code_version. Timing is eval/latency.c's, as in the latency task. */
#ifndef PTQ_BENCH_ROWS_H
#define PTQ_BENCH_ROWS_H

#include "cell.h"
#include "latency.h"

/* "latency:reps=R:min_ms=M:T=a+b:ctx=c+d" for o. */
void ptq_bench_task(const ptq_latency_opts *o, char *buf, size_t cap);
/* Run the cell (its one task: a latency task) and return its row. */
int ptq_bench_cell(ptq_cell *c, cJSON **row, ptq_err *err);
/* The exported model at path (ptqfile.h) as stored: method and bit-spec from
 * its header; the FP32 reference is the same model with every quantizer and
 * side branch off (FP32 speed does not depend on the values). A model the
 * packed path cannot run gives a row with metrics.error and returns
 * PTQ_LAT_UNSUPPORTED (err says why); -1 on other errors (no row). */
int ptq_bench_file(const char *path, const char *task, cJSON **row, ptq_err *err);

#endif
