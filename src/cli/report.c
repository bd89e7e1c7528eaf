/* report.c — `ptqbench report DIR`: tables and plots of an experiment's
 * results (every shard file of DIR merged). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "report.h"
#include "sweep.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench report DIR|FILE.jsonl [--format md,csv,tex] [--plots] [--out DIR]\n"
               "                      [--average RECIPE] [--title TEXT] [--vs METHOD]\n"
               "  Tables: one per model, rows = methods, columns = bit-width x metric, best in bold; seed\n"
               "  mean +- std (n) where a cell has several seeds; values whose 95%% paired-bootstrap interval\n"
               "  against the best overlaps it marked (a dagger in Markdown, underlined in LaTeX).\n"
               "  summary.{csv,json}: every cell's mean, std, n, per-seed values and interval against the best.\n"
               "  --vs METHOD  per bit-width, each method's perplexity ratio (0-shot avg difference) to METHOD\n"
               "             with its 95%% interval (table_<model>_vs_<METHOD>.md/.csv; a dagger: significant)\n"
               "  --out      where tables/plots go (default DIR/report)\n"
               "  --plots    gnuplot PNG + SVG: ppl and KLD vs bit-width, zero-shot average bars, and with\n"
               "             latency rows Pareto plots (ppl vs weight bytes / decode tokens/s)\n"
               "  --average  zero-shot average recipe (default: the experiment's report.average, else avg_all_acc):\n");
    for (const ptq_zs_average *r = ptq_zs_averages; r->name; r++) fprintf(f, "     %-18s %s\n", r->name, r->doc);
}

static int parse_formats(const char *s, int *out) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    *out = 0;
    for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
        if (!strcmp(t, "md")) *out |= PTQ_FMT_MD;
        else if (!strcmp(t, "csv")) *out |= PTQ_FMT_CSV;
        else if (!strcmp(t, "tex")) *out |= PTQ_FMT_TEX;
        else return ptq_cli_error(2, "--format: expected a list of md, csv, tex; got '%s'", t), -1;
    }
    return *out ? 0 : (ptq_cli_error(2, "--format: empty list"), -1);
}

int cmd_report(int argc, char **argv) {
    static const struct option opts[] = {{"format", required_argument, 0, 'f'}, {"plots", no_argument, 0, 'p'},
                                         {"out", required_argument, 0, 'o'},    {"average", required_argument, 0, 'a'},
                                         {"title", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
                                         {"vs", required_argument, 0, 'v'},
                                         {0, 0, 0, 0}};
    ptq_report_opts o = {0};
    o.formats = PTQ_FMT_MD | PTQ_FMT_CSV | PTQ_FMT_TEX;
    const char *out = NULL, *avg = NULL, *title = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:po:a:t:v:h", opts, NULL)) != -1) {
        if (c == 'f') {
            if (parse_formats(optarg, &o.formats)) return 2;
        } else if (c == 'p') o.plots = 1;
        else if (c == 'o') out = optarg;
        else if (c == 'a') avg = optarg;
        else if (c == 't') title = optarg;
        else if (c == 'v') o.vs = optarg;
        else if (c == 'h') return usage(stdout), 0;
        else return ptq_cli_bad_option("report", argv);
    }
    if (argc - optind != 1) {
        usage(stderr);
        return ptq_cli_error(2, "report: expected one results directory or file");
    }
    const char *src = argv[optind];
    struct stat st;
    if (stat(src, &st)) return ptq_cli_error(1, "report: %s: no such results directory or file", src);
    char dir[4096], name[128] = "", avg_cfg[64] = "", outbuf[4200];
    snprintf(dir, sizeof dir, "%s", src);
    if (!S_ISDIR(st.st_mode)) {
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    ptq_sweep_stored_config(dir, name, sizeof name, avg_cfg, sizeof avg_cfg);
    if (!out) snprintf(outbuf, sizeof outbuf, "%s/report", dir), out = outbuf;
    o.out_dir = out;
    o.average = avg ? avg : avg_cfg[0] ? avg_cfg : NULL;
    o.title = title ? title : name[0] ? name : NULL;
    ptq_rowset rs = {0};
    ptq_err err;
    int rc = 0;
    if (ptq_results_read(src, &rs, &err) || ptq_report(&rs, &o, stdout, &err)) rc = ptq_cli_error(1, "%s", err.msg);
    else printf("tables: %s/table_*.{md,csv,tex}, %s/tables.tex, %s/metrics_long.csv\n", out, out, out);
    ptq_rowset_free(&rs);
    return rc;
}
