/* stats.c — `ptqbench stats MODEL`: outlier statistics of a model's linear
 * inputs, residual stream and weights on calibration text (eval/actstats.h),
 * as tables (md/csv/tex) and gnuplot plots over the layers. */
#include <getopt.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actstats.h"
#include "calib.h"
#include "cli.h"
#include "method.h"
#include "model_open.h"
#include "table_files.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench stats MODEL [--tokenizer T] [--calib DATASET|%s] [--nsamples N] [--seqlen L]\n"
               "       [--seed S] [--out DIR] [--no-plots]\n"
               "  per linear input and per layer on calibration windows: max |x|, top channel's max |x| over the\n"
               "  median channel's, kurtosis, share of massive activations (|x| > 100x its token's median |x|);\n"
               "  per linear: max |w|, input-column top/median, kurtosis. Defaults: the model's calibration set,\n"
               "  16 windows of min(256, max_seq) tokens, seed 0, out results/stats/<model>.\n",
            PTQ_CALIB_RANDOM);
}

static void act_row(ptq_table *t, const char *layer, const char *site, const ptq_actstat *a) {
    ptq_table_row(t, NULL);
    ptq_table_cell(t, 0, "%s", layer);
    ptq_table_cell(t, 0, "%s", site);
    ptq_table_cell(t, 0, "%d", a->n);
    ptq_table_num(t, "%.4g", a->max_abs);
    ptq_table_cell(t, 0, "%d", a->top_channel);
    ptq_table_num(t, "%.4g", a->top_ratio);
    ptq_table_num(t, "%.4g", a->kurtosis);
    ptq_table_num(t, "%.3g", 100.0 * a->massive);
}

static void act_table(const ptq_model_stats *st, ptq_table *t, const char *caption) {
    t->caption = caption;
    t->nlab = 2;
    const char *heads[] = {"layer", "input", "width", "max|x|", "top ch", "top/median", "kurtosis", "massive %"};
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) ptq_table_col(t, NULL, "%s", heads[i]);
    for (int l = 0; l < st->n_layers; l++)
        for (int k = 0; k < PTQ_AS_KINDS; k++) {
            if (k == PTQ_AS_HEAD && l != st->n_layers - 1) continue;
            char lab[16];
            snprintf(lab, sizeof lab, "%d", l);
            act_row(t, k == PTQ_AS_HEAD ? "final" : lab, ptq_actstat_kind_names[k], ptq_model_stats_act(st, l, k));
        }
}

static void weight_table(const ptq_model_stats *st, ptq_table *t, const char *caption) {
    t->caption = caption;
    t->nlab = 2;
    const char *heads[] = {"layer", "linear", "max|w|", "top in-ch", "top/median", "kurtosis"};
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) ptq_table_col(t, NULL, "%s", heads[i]);
    for (int l = 0; l <= st->n_layers; l++)
        for (int k = 0; k < (l < st->n_layers ? PTQ_LIN_COUNT : 1); k++) {
            const ptq_wstat *w = &st->w[(size_t)l * PTQ_LIN_COUNT + k];
            ptq_table_row(t, NULL);
            if (l < st->n_layers) ptq_table_cell(t, 0, "%d", l);
            else ptq_table_cell(t, 0, "final");
            ptq_table_cell(t, 0, "%s", l < st->n_layers ? ptq_linear_names[k] : "lm_head");
            ptq_table_num(t, "%.4g", w->max_abs);
            ptq_table_cell(t, 0, "%d", w->top_channel);
            ptq_table_num(t, "%.4g", w->top_ratio);
            ptq_table_num(t, "%.4g", w->kurtosis);
        }
}

/* One plot over the layers: a line per activation site of `field`. */
static int plot_field(const ptq_model_stats *st, const ptq_report_opts *o, const char *model, const char *what,
                      const char *ylab, size_t off, FILE *figs, ptq_err *err) {
    char base[4200], titles[512] = "";
    FILE *f = ptq_report_plot_data(o, "stats_", model, what, base, sizeof base, err);
    if (!f) return -1;
    int blocks = 0;
    for (int k = 0; k < PTQ_AS_KINDS; k++) {
        if (k == PTQ_AS_HEAD) continue;
        int any = 0;
        for (int l = 0; l < st->n_layers; l++) {
            double v = *(const double *)((const char *)ptq_model_stats_act(st, l, k) + off);
            if (isfinite(v) && v > 0) fprintf(f, "%d %.9g\n", l, v), any = 1;
        }
        if (any) {
            fprintf(f, "\n\n");
            snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s ", ptq_actstat_kind_names[k]);
            blocks++;
        }
    }
    if (fclose(f)) return ptq_fail(err, "%s.dat: write failed", base);
    if (!blocks) return 0;
    char vars[9000], title[256];
    snprintf(title, sizeof title, "%s: %s", model, ylab);
    snprintf(vars, sizeof vars, "datafile='%s.dat'; outbase='%s'; ylab='%s'; ttl='%s'; nblocks=%d; titles='%s'", base,
             base, ylab, title, blocks, titles);
    return ptq_report_plot(o, "layers.gp", vars, base, title, ".", figs, err);
}

/* Both plots; their LaTeX figures in <out>/stats_<model>_figures.tex. */
static int plots(const ptq_model_stats *st, const ptq_report_opts *o, const char *model, const char *san) {
    char path[4400];
    ptq_err err;
    snprintf(path, sizeof path, "%s/stats_%s_figures.tex", o->out_dir, san);
    FILE *figs = fopen(path, "w");
    if (!figs) return ptq_cli_error(1, "stats: cannot create %s", path);
    int rc = plot_field(st, o, model, "max_abs", "max |x|", offsetof(ptq_actstat, max_abs), figs, &err) ||
             plot_field(st, o, model, "top_ratio", "top channel / median channel", offsetof(ptq_actstat, top_ratio),
                        figs, &err);
    if (fclose(figs) && !rc) return ptq_cli_error(1, "stats: %s: write failed", path);
    return rc ? ptq_cli_error(1, "%s", err.msg) : 0;
}

/* Calibration windows: text through the tokenizer, or seeded random ids. */
static int load_windows(const ptq_model *m, const ptq_tokenizer *tok, const ptq_calib_spec *spec, ptq_calib *cal,
                        ptq_err *err) {
    if (strcmp(spec->dataset, PTQ_CALIB_RANDOM)) return ptq_calib_load(cal, spec, tok, m->cfg.max_seq, err);
    memset(cal, 0, sizeof *cal);
    cal->nsamples = spec->nsamples, cal->seqlen = spec->seqlen;
    if (!(cal->tokens = ptq_calloc((size_t)cal->nsamples * cal->seqlen, sizeof(int), err))) return -1;
    ptq_rng r;
    ptq_rng_seed(&r, spec->seed);
    for (long i = 0; i < (long)cal->nsamples * cal->seqlen; i++)
        cal->tokens[i] = (int)(ptq_rng_u64(&r) % (uint64_t)m->cfg.vocab_size);
    return 0;
}

static int stats_run(const char *model, const char *tokp, ptq_calib_spec *spec, ptq_report_opts *o) {
    ptq_model m;
    ptq_tokenizer *tok = NULL;
    ptq_err err;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    int rc = 0;
    if (spec->seqlen > m.cfg.max_seq)
        rc = ptq_cli_error(2, "stats: --seqlen %d is above the model's max_seq %d", spec->seqlen, m.cfg.max_seq);
    if (!spec->seqlen) spec->seqlen = PTQ_MIN(256, m.cfg.max_seq);
    if (!spec->dataset[0]) snprintf(spec->dataset, sizeof spec->dataset, "%s", ptq_default_calib(model));
    ptq_calib cal = {0};
    ptq_model_stats st = {0};
    char outbuf[4200], san[256];
    ptq_report_sanitize(m.name, san, sizeof san);
    if (!o->out_dir) snprintf(outbuf, sizeof outbuf, "results/stats/%s", san), o->out_dir = outbuf;
    if (!rc && (load_windows(&m, tok, spec, &cal, &err) ||
                ptq_model_stats_compute(&m, cal.tokens, cal.nsamples, cal.seqlen, &st, &err) ||
                ptq_mkdir_p(o->out_dir, &err)))
        rc = ptq_cli_error(1, "%s", err.msg);
    if (!rc) {
        char cap_a[512], cap_w[512];
        snprintf(cap_a, sizeof cap_a, "%s: activation statistics on %s (%d x %d tokens, seed %llu)", m.name,
                 spec->dataset, cal.nsamples, cal.seqlen, (unsigned long long)spec->seed);
        snprintf(cap_w, sizeof cap_w, "%s: weight statistics", m.name);
        ptq_table *ta = calloc(1, sizeof *ta), *tw = calloc(1, sizeof *tw);
        if (!ta || !tw) rc = ptq_cli_error(1, "stats: out of memory");
        if (!rc) {
            act_table(&st, ta, cap_a);
            weight_table(&st, tw, cap_w);
            if (ptq_report_tables(ta, ta, o, m.name, "_actstats", stdout, NULL, &err) ||
                ptq_report_tables(tw, tw, o, m.name, "_wstats", stdout, NULL, &err))
                rc = ptq_cli_error(1, "%s", err.msg);
        }
        if (!rc && o->plots) rc = plots(&st, o, m.name, san);
        if (!rc) printf("tables: %s/table_%s_{actstats,wstats}.{md,csv,tex}\n", o->out_dir, san);
        if (ta) ptq_table_free(ta);
        if (tw) ptq_table_free(tw);
        free(ta);
        free(tw);
    }
    ptq_model_stats_free(&st);
    ptq_calib_free(&cal);
    if (tok) ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return rc;
}

int cmd_stats(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"tokenizer", required_argument, 0, 'z'},
        {"calib", required_argument, 0, 'c'},     {"nsamples", required_argument, 0, 'n'},
        {"seqlen", required_argument, 0, 'l'},    {"seed", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},       {"no-plots", no_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    const char *model = NULL, *tokp = NULL;
    ptq_calib_spec spec = {.nsamples = 16};
    ptq_report_opts o = {.formats = PTQ_FMT_MD | PTQ_FMT_CSV | PTQ_FMT_TEX, .plots = 1};
    int c, v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:z:c:n:l:s:o:Ph", opts, NULL)) != -1) {
        if (c == 'm') model = optarg;
        else if (c == 'z') tokp = optarg;
        else if (c == 'c') {
            if (!*optarg || strlen(optarg) >= sizeof spec.dataset)
                return ptq_cli_error(2, "stats: --calib: expected a text dataset name or %s", PTQ_CALIB_RANDOM);
            snprintf(spec.dataset, sizeof spec.dataset, "%s", optarg);
        } else if (c == 'n') {
            if (ptq_parse_int("--nsamples", optarg, 1, 100000, &spec.nsamples)) return 2;
        } else if (c == 'l') {
            if (ptq_parse_int("--seqlen", optarg, 2, 1 << 20, &spec.seqlen)) return 2;
        } else if (c == 's') {
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &v)) return 2;
            spec.seed = (uint64_t)v;
        } else if (c == 'o') o.out_dir = optarg;
        else if (c == 'P') o.plots = 0;
        else if (c == 'h') return usage(stdout), 0;
        else return ptq_cli_bad_option("stats", argv);
    }
    if (optind < argc && !model) model = argv[optind++];
    if (optind < argc) return ptq_cli_error(2, "stats: unexpected argument '%s'", argv[optind]);
    if (!model) return usage(stderr), ptq_cli_error(2, "stats: a model is required (ptqbench stats MODEL)");
    if (spec.dataset[0] && strcmp(spec.dataset, PTQ_CALIB_RANDOM)) {
        int ok = 0;
        for (int i = 0; ptq_text_dataset_names[i]; i++) ok |= !strcmp(ptq_text_dataset_names[i], spec.dataset);
        if (!ok) return ptq_cli_error(2, "stats: --calib: '%s' is not a text dataset or %s", spec.dataset,
                                      PTQ_CALIB_RANDOM);
    }
    return stats_run(model, tokp, &spec, &o);
}
