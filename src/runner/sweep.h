/* sweep.h — running an experiment's plan into its results directory
 * (`ptqbench sweep`).
 *
 * Resumable: a cell whose row keys are all in the directory (any shard file)
 * is done. Each cell's rows get the runner's identity and provenance fields
 * (experiment, id, key, row_key, index, label, bits, cell, code_version,
 * host, cpu, started, finished, wall_seconds, shard) and are appended in one
 * write + fsync after the cell finished, so kill -9 loses at most the running
 * cell. Scale-out: shard I of N runs the cells with index % N == I into
 * results.shard-I-of-N.jsonl. */
#ifndef PTQ_SWEEP_H
#define PTQ_SWEEP_H

#include "experiment.h"
#include "results.h"

typedef struct {
    const char *config;       /* the config file */
    const char *models;       /* comma list replacing the config's models, or NULL */
    int limit, limit_windows; /* >= 0: override the config's zero-shot items / ppl windows */
    double max_rss_gib;       /* > 0: refuse cells whose estimated peak RSS is above it (not part of the key) */
    const char *out_dir;      /* NULL: results/<experiment name> */
    int shard, nshards;       /* this shard of nshards (1: everything) */
    char only[4096];          /* comma-separated key prefixes; "" = every cell */
} ptq_sweep_opts;

/* Shard from a launcher's environment (OpenMPI, PMI, Slurm array), if any:
 * 1 and the variable names in *from; 0 when none is set; -1 when a variable
 * is malformed (not a number, negative, rank >= size, one of a pair unset). */
int ptq_sweep_env_shard(int *shard, int *nshards, const char **from, ptq_err *err);

/* Load the config with the overrides of o folded in (models, overrides.limit,
 * overrides.limit_windows: they are part of the cells, so of their keys).
 * *cfg_text: the config as run (stored beside the rows). The keys are
 * ptq_experiment_keys'. */
int ptq_sweep_load(const ptq_sweep_opts *o, ptq_experiment *e, char **cfg_text, ptq_err *err);

typedef struct {
    char dir[4096], path[4300]; /* results directory; this shard's file */
    int *todo, ntodo;           /* plan indices still to run, in plan order */
    signed char *state;         /* per cell: -1 not selected, 0 to run, 1 done */
    int nselected, ndone;
    int shard_rows; /* rows already in this shard's file */
} ptq_sweep_plan;

/* Which cells this shard runs and which of them are done. */
int ptq_sweep_plan_make(const ptq_experiment *e, const ptq_sweep_opts *o, ptq_sweep_plan *p, ptq_err *err);
void ptq_sweep_plan_free(ptq_sweep_plan *p);

/* Run the cells to do (progress lines on stderr; a failed cell is reported
 * there and the sweep goes on): store the config as DIR/experiment.json,
 * then append each cell's rows. *failed: cells that failed. -1 only when the
 * results file cannot be written. */
int ptq_sweep_run(const ptq_experiment *e, const ptq_sweep_opts *o, const ptq_sweep_plan *p, const char *cfg_text,
                  int *failed, ptq_err *err);

/* The experiment name and report.average of the config a sweep stored in
 * dir (DIR/experiment.json); out strings stay as they are when absent. */
void ptq_sweep_stored_config(const char *dir, char *name, size_t ncap, char *avg, size_t acap);

#endif
