/* compare.c — `ptqbench compare NEW BASELINE`: the regression gate
 * (report/compare.h); exit 1 on any regression or missing row. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench compare NEW BASELINE [--tol ppl=R,kld=R,kld_abs=A,acc=A,k=K,agree=A,latency=X,\n"
               "                                              lat_floor=F,lat_k=K]\n"
               "  NEW, BASELINE: a results .jsonl file or an experiment directory (all shards merged).\n"
               "  Defaults: ppl=0.01 (relative), kld=0.05 (relative) + kld_abs=1e-4, acc=0.01 (absolute,\n"
               "  or k=1 x combined stderr if larger), agree=1 (points of top-1 agreement), latency=1.5 (ratio).\n"
               "  A cell with several seeds on both sides is judged on its seed means: paired by seed when the\n"
               "  new results have every baseline seed (the same calibration sample), a regression when the\n"
               "  mean per-seed worsening exceeds both its 95%% t interval and the tolerance above; otherwise\n"
               "  when the t interval of the means' difference excludes 0. A single-seed ppl row with side files shows\n"
               "  the paired-bootstrap interval of new/base over its windows. Latency rows with a packed/FP32\n"
               "  ratio (<w>_speedup, measured in one run: the machine's speed cancels) are gated on it: mean in\n"
               "  logs over the cell's runs (its seed rows), flagged when it drops by more than max(lat_floor=0.03,\n"
               "  lat_k=4 x noise sigma); sigma per side: the larger of the spread between its runs and the\n"
               "  runs' own repetition noise (<w>_speedup_log_sd), over the run count. The line names the cell,\n"
               "  old and new ratio, the 95%% interval of new/old and the load averages; absolute speeds are\n"
               "  shown, not gated.\n"
               "  A gated value that is not a finite number in its range (null, a string, nan, ppl <= 0, acc\n"
               "  outside [0,1]) on either side fails the gate, named on stderr.\n"
               "  Exit status: 0 no regression, 1 regression, missing rows or invalid values, 2 usage error.\n");
}

int cmd_compare(int argc, char **argv) {
    static const struct option opts[] = {{"tol", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0}};
    ptq_compare_tol tol;
    ptq_compare_tol_default(&tol);
    ptq_err err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        if (c == 'h') return usage(stdout), 0;
        if (c != 't') return ptq_cli_bad_option("compare", argv);
        if (ptq_compare_tol_parse(optarg, &tol, &err)) return ptq_cli_error(2, "%s", err.msg);
    }
    if (argc - optind != 2) {
        usage(stderr);
        return ptq_cli_error(2, "compare: expected NEW and BASELINE (got %d arguments)", argc - optind);
    }
    ptq_rowset cur = {0}, base = {0};
    ptq_compare_summary s;
    int rc = 1;
    if (ptq_results_read(argv[optind], &cur, &err) || ptq_results_read(argv[optind + 1], &base, &err) ||
        ptq_compare(&cur, &base, &tol, stdout, &s, &err)) {
        ptq_cli_error(1, "%s", err.msg);
    } else {
        printf("\n%d metrics checked: %d regressions, %d missing rows, %d invalid values, %d improved, %d new rows\n",
               s.checked, s.regressions, s.missing, s.invalid, s.improved, s.added);
        rc = s.regressions || s.missing || s.invalid ? 1 : 0;
        printf("%s\n", rc ? "FAIL: regression against the baseline" : "PASS");
    }
    ptq_rowset_free(&cur);
    ptq_rowset_free(&base);
    return rc;
}
