/* zeroshot_tasks.h — the zero-shot task table: lm-eval task name, asset(s)
 * from datasets/registry.json, a loader per asset FORMAT, and the lm-eval
 * template (EVAL.md) the loader turns each item into.
 *
 * Every item becomes a list of (context, continuation) requests exactly as
 * lm-eval 0.4 builds them (continuations carry the " " target delimiter),
 * plus the gold index and, per choice, the length in characters (Unicode
 * code points, like Python len()) of the choice text without the delimiter,
 * which acc_norm divides by. */
#ifndef PTQ_ZEROSHOT_TASKS_H
#define PTQ_ZEROSHOT_TASKS_H

#include "common.h"

enum {
    PTQ_ZS_CHOICE = 0,  /* multiple choice: argmax of log-likelihood (acc, acc_norm) */
    PTQ_ZS_GREEDY = 1   /* one request: greedy exact match + perplexity (LAMBADA) */
};

typedef struct {
    int n;           /* requests (choices) */
    char **ctx;      /* n contexts (entries may alias the same string) */
    char **cont;     /* n continuations */
    int *choice_len; /* n: characters of the choice text, for acc_norm */
    int gold;        /* index of the correct request (0 for GREEDY) */
    int shared_ctx;  /* all ctx[i] alias ctx[0] (freed once) */
} ptq_zs_item;

typedef struct {
    ptq_zs_item *items;
    int n;
    char sha256[65]; /* of the main asset file */
    int ctx_fixed;   /* items whose context was changed by a documented fix (HellaSwag ctx_b capitalised) */
} ptq_zs_data;

struct ptq_zs_task;
/* A loader reads one asset FORMAT; template strings come from the task row. */
typedef int (*ptq_zs_loader)(const struct ptq_zs_task *t, const char *path, const char *path2, ptq_zs_data *d,
                             ptq_err *err);

typedef struct ptq_zs_task {
    const char *name;             /* lm-eval task name (siqa2: our name, see MANIFEST) */
    const char *asset, *asset2;   /* registry names (asset2: PIQA labels, else NULL) */
    ptq_zs_loader load;
    const char *strip, *pre, *post; /* context = pre + (source text minus required prefix `strip`) + post */
    int kind;                     /* PTQ_ZS_* */
    int has_acc_norm;             /* lm-eval reports acc_norm for this task */
    const char *note;             /* caveats recorded in the result row */
} ptq_zs_task;

extern const ptq_zs_task ptq_zs_task_table[]; /* terminated by {NULL} */
const ptq_zs_task *ptq_zs_task_find(const char *name);

/* Load and template a task's items (all of them; the caller applies --limit).
 * Bad input (malformed line, missing field, gold out of range, empty
 * choices) is an error naming file:line, never a skipped item. */
int ptq_zs_load(const ptq_zs_task *t, ptq_zs_data *d, ptq_err *err);
/* Same, from explicit files (the task-file fuzz harness). */
int ptq_zs_load_files(const ptq_zs_task *t, const char *path, const char *path2, ptq_zs_data *d, ptq_err *err);
void ptq_zs_data_free(ptq_zs_data *d);

/* lm-eval's HellaSwag preprocess(): strip, " [title]" -> ". ", drop "[...]",
 * "  " -> " ". Returns a malloc'd string (NULL on allocation failure). */
char *ptq_zs_hellaswag_preprocess(const char *s);
/* Number of Unicode code points in a UTF-8 string (Python len()). */
int ptq_utf8_len(const char *s);

#endif
