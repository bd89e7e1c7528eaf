/* experiment.h — experiment configs (experiments/NAME.json) and their plan.
 *
 * A config names models, methods (with options), bit-specs, tasks, seeds,
 * calibration and overrides. The plan is the cartesian product
 * models x methods (x option sweeps: an array-valued option is an axis) x bits
 * x seeds, in that order (deterministic, so shards agree), minus "exclude"
 * patterns, plus "include" cells; a repeated cell is planned once, and a
 * plan of more than 100,000 cells is an error naming its axes. Validation is strict: unknown keys, wrong
 * types, unknown methods/options/datasets, bad bit-specs and calibration on
 * the evaluation text are errors that name the JSON path ("$.methods[1].options.alpha").
 *
 * Cell key = sha256(canonical resolved cell JSON | model sha256 | sha256 of
 * every dataset the cell reads | code version). Row key = sha256(cell key |
 * task). A cell is done when all its row keys are in the results. */
#ifndef PTQ_EXPERIMENT_H
#define PTQ_EXPERIMENT_H

#include <cjson/cJSON.h>

#include "cell.h"

typedef struct {
    char name[128];
    char note[1024];
    char average[64];    /* report.average (zero-shot recipe), "" = default */
    cJSON *config;       /* the parsed config (owned) */
    ptq_cell *cells; /* checked (ptq_cell_check), with their plan identity */
    int ncells;
} ptq_experiment;

/* Parse + validate + expand. src names the file in messages. */
int ptq_experiment_parse(const char *text, const char *src, ptq_experiment *e, ptq_err *err);
/* Resolve model/dataset sha256s and fill every cell's key; checks what needs
 * the model's header (overrides.seqlen <= max_seq). */
int ptq_experiment_keys(ptq_experiment *e, ptq_err *err);
void ptq_experiment_free(ptq_experiment *e);

void ptq_row_key(const char *cell_key, const char *task, char out[65]);
/* Does a `--only` list (comma-separated prefixes of a cell key or of a cell id
 * such as "stories260K|quarot") select this cell? */
int ptq_cell_selected(const ptq_cell *c, const char *only);
/* Keys accepted in "overrides" (NULL-terminated): limit (zero-shot items),
 * limit_windows, seqlen, ppl_protocol (gptq|halfwindow), ppl_denominator
 * (tokens|hf), zeroshot_bos. */
extern const char *const ptq_override_keys[];

#endif
