#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "datasets.h"

int tu_failures = 0;

int tu_done(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

const char *tu_asset(const char *rel) {
    static char buf[8][4096];
    static int slot = 0;
    char *out = buf[slot++ % 8];
    ptq_err err;
    if (ptq_data_path(rel, out, 4096, &err)) return NULL;
    return out;
}
