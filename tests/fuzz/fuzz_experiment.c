/* fuzz_experiment.c — an experiment config: parse, validate and expand the
 * plan (runner/experiment.h). The model files are not opened (keys are not
 * computed), so any model string is fine. Property: a config that parses
 * gives a non-empty plan of at most 100,000 checked cells, each with an id
 * and a canonical bit-spec that parses again. */
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ptq_experiment e;
    ptq_err err;
    if (ptq_experiment_parse(text, "fuzz.json", &e, &err) == 0) {
        if (e.ncells < 1 || e.ncells > 100000) abort();
        for (int i = 0; i < e.ncells; i++) {
            ptq_qspec q;
            if (!e.cells[i].id[0] || !ptq_cell_is_checked(&e.cells[i]) ||
                ptq_qspec_parse(e.cells[i].q.text, &q, &err) || strcmp(q.text, e.cells[i].q.text))
                abort();
        }
        ptq_experiment_free(&e);
    }
    free(text);
    return 0;
}
