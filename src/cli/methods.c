/* methods.c — `ptqbench methods`: every registered method with a
 * one-line summary and its options (type, default, range). */
#include <string.h>

#include "cli.h"
#include "method.h"

int cmd_methods(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: ptqbench methods [NAME]\n");
        return 0;
    }
    if (argc > 2) return ptq_cli_error(2, "methods: expected at most one method name");
    if (argc == 2 && !ptq_method_find(argv[1])) return ptq_cli_error(2, "methods: unknown method '%s'", argv[1]);
    static const char *const tn[] = {"int", "float", "bool", "string"};
    for (int i = 0; ptq_methods[i]; i++) {
        const ptq_method *m = ptq_methods[i];
        if (argc == 2 && strcmp(argv[1], m->name)) continue;
        printf("%-12s %s%s\n", m->name, m->summary, m->needs_calib ? " [calibration]" : "");
        for (const ptq_opt_def *d = m->opts; d && d->name; d++) {
            char range[64] = "";
            if ((d->type == PTQ_OPT_INT || d->type == PTQ_OPT_FLOAT) && d->lo < d->hi)
                snprintf(range, sizeof range, " [%g..%g]", d->lo, d->hi);
            printf("    %-16s %-6s = %-6s%s  %s\n", d->name, tn[d->type], d->def, range, d->help);
        }
    }
    return 0;
}
