/* results.h — the JSONL results store (DESIGN.md "results/<exp>/results.jsonl").
 *
 * One row per cell x task, one JSON object per line. Writers hold an
 * exclusive flock on "<file>.lock" for the whole sweep (a second sweep on the
 * same file gets a clear error) and append all rows of a cell with ONE
 * write(2) on an O_APPEND descriptor followed by fsync. Each row carries
 * "cell_row": i and "cell_rows": n (its place in the cell), so a cell is
 * all-or-nothing on disk: a short write (disk full) is cut back at once, and
 * after a kill the next writer cuts a torn last line and every row of an
 * incomplete last cell; readers skip them with a warning. Rows without the
 * two fields (older files) count as whole cells.
 *
 * Shards (--shard I/N, mpirun, Slurm arrays) write
 * results.shard-I-of-N.jsonl next to results.jsonl; readers of a directory
 * merge every results*.jsonl in it and drop duplicate rows (same row key). */
#ifndef PTQ_RESULTS_H
#define PTQ_RESULTS_H

#include <cjson/cJSON.h>

#include "common.h"

/* Path of the results file in dir for shard i of n (n <= 1: results.jsonl). */
void ptq_results_path(const char *dir, int shard, int nshards, char *out, size_t cap);

typedef struct {
    int fd;      /* results file, O_APPEND */
    int lock_fd; /* "<path>.lock", flock(LOCK_EX) */
    char path[4096];
} ptq_results_writer;

/* Create dir if needed, take the lock (error if another process holds it),
 * cut a torn tail and an incomplete last cell (warning on stderr), open for
 * appending. */
int ptq_results_open(ptq_results_writer *w, const char *path, ptq_err *err);
/* Append the rows of one cell (each on one line, with "cell_row"/"cell_rows"
 * set) with a single write + fsync; a failed write leaves the file as it was. */
int ptq_results_append(ptq_results_writer *w, cJSON *const *rows, int n, ptq_err *err);
void ptq_results_close(ptq_results_writer *w);

typedef struct {
    cJSON **rows;
    char **dirs; /* the directory of each row's file (its side files are relative to it); NULL when rows are built in memory */
    int n, cap;
    int truncated; /* torn last lines skipped (with a warning) */
} ptq_rowset;

/* Read one JSONL file into rs (appending). A missing file is an empty set.
 * A malformed line that is not the last one is an error naming file:line. */
int ptq_results_read_file(const char *path, ptq_rowset *rs, ptq_err *err);
/* path may be a .jsonl file or a directory (every results*.jsonl in it,
 * sorted by name). Rows with an already-seen "row_key" are dropped, except
 * that a row replaces a failed one. */
int ptq_results_read(const char *path, ptq_rowset *rs, ptq_err *err);
void ptq_rowset_free(ptq_rowset *rs);

/* A row of a cell that failed ("status": "failed", "error": why, no
 * metrics): the sweep records it so reports and the gate show the cell as
 * failed; resume runs the cell again, and readers of a directory let a later
 * row of the same key replace it. */
int ptq_row_failed(const cJSON *row);

/* Side values: the sweep keeps per-window NLL ("nll", ppl rows) and per-item
 * outcomes ("acc", "acc_norm", zero-shot rows) as float32 files
 * <results dir>/side/<sha256>.f32, named from the row as
 * "side": {"nll": {"file", "sha256", "n"}} (written before the row, see
 * ptq_results_append). ptq_row_side loads one (malloc'ed in *v) after
 * checking its size and sha256; an error says what is wrong (no such
 * values, missing file, mismatch). row must be one of rs's rows. */
int ptq_row_side(const ptq_rowset *rs, const cJSON *row, const char *name, float **v, int *n, ptq_err *err);

/* Metric lookup: row.metrics.<name>, else row.<name>. NaN when absent. */
double ptq_row_metric(const cJSON *row, const char *name);
const char *ptq_row_str(const cJSON *row, const char *name); /* top-level string or NULL */

#endif
