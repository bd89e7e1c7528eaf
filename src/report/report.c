/* report.c — tables (Markdown, CSV via libcsv, LaTeX booktabs) and gnuplot
 * figures from result rows.
 *
 * Layout like the papers' main tables: one table per model, rows = methods
 * (method + its user-given options), columns = bit-width x metric. The
 * columns come from the task kinds' report entries (eval/task.h): a column
 * per task for perplexity and KLD, one zero-shot average under a named
 * average.
 * Seeds are averaged. Best value per column in bold (lowest ppl/KLD, highest
 * accuracy). Plots: scripts/gnuplot/lines.gp and histogram.gp fed with .dat
 * files written here, each to PNG (pngcairo) and SVG. */
#include "report.h"

#include "latency_table.h"
#include "losscurve.h"
#include "stats.h"
#include "task.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table model ---------------------------------------------------- */
#define MAXL 256

typedef struct {
    const ptq_task_kind *kind;
    const ptq_report_col *col; /* kind->report */
    char task[96];             /* per-task columns: the task, e.g. ppl:wikitext2 */
    char head[64];
} colspec;

typedef struct {
    const ptq_rowset *rs;
    const ptq_zs_average *rec;
    const char *model;
    const char *labels[MAXL], *bits[MAXL], *zs[MAXL]; /* zs: arguments of the averaged kind's rows */
    const ptq_task_kind *avg_kind;                      /* the kind averaged under rec (zero-shot) */
    int nlabels, nbits, nzs;
    /* Reference rows (only W16A16 results, e.g. fp16): shown in every
     * bit-width group like the papers' FP16 row, never bold. */
    int is_ref[MAXL];
    const char *ref_bits;
    colspec cols[64];
    int ncols;
    char avg_note[512];
    int tested, untested; /* intervals given / refused while filling the shown table */
    int nseeds;           /* the most seeds of any cell */
} table;

static const char *row_label(const cJSON *r) {
    const char *l = ptq_row_str(r, "label");
    return l ? l : ptq_row_str(r, "method");
}

/* The seed rows of (model, label, bits, task) with a value of metric:
 * their values and rows (up to cap); -1 when a row of the cell failed. */
static int cell_seeds(const table *t, const char *label, const char *bits, const char *task, const char *metric,
                      double *v, const cJSON **rows, int cap) {
    int n = 0;
    for (int i = 0; i < t->rs->n; i++) {
        const cJSON *r = t->rs->rows[i];
        const char *m = ptq_row_str(r, "model"), *b = ptq_row_str(r, "bits"), *k = ptq_row_str(r, "task");
        const char *l = row_label(r);
        if (!m || !b || !k || !l || strcmp(m, t->model) || strcmp(l, label) || strcmp(b, bits) || strcmp(k, task))
            continue;
        if (ptq_row_failed(r)) return -1; /* shown as "failed", never as a number */
        double x = ptq_row_metric(r, metric);
        if (!strcmp(metric, "acc_norm") && isnan(x)) x = ptq_row_metric(r, "acc");
        if (isnan(x) || n == cap) continue;
        v[n] = x, rows[n++] = r; /* inf (diverged) propagates to the mean */
    }
    return n;
}

/* Mean over seeds of a metric for (model, label, bits, task). */
static double cell_metric(const table *t, const char *label, const char *bits, const char *task, const char *metric) {
    double v[64] = {0}, mean, sd;
    const cJSON *rows[64];
    int n = cell_seeds(t, label, bits, task, metric, v, rows, 64);
    if (n < 0) return INFINITY;
    ptq_mean_std(v, n, &mean, &sd);
    return n ? mean : NAN;
}

static const char *short_ds(const char *ds) {
    static const char *const m[][2] = {{"wikitext2", "Wiki2"}, {"ptb", "PTB"},        {"ptb-valid", "PTB-val"},
                                       {"tinystories", "TinySt"}, {"c4", "C4"}, {"tinyshakespeare", "Shakesp"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcmp(m[i][0], ds)) return m[i][1];
    return ds;
}

static int label_index(const table *t, const char *label) {
    for (int i = 0; i < t->nlabels; i++)
        if (!strcmp(t->labels[i], label)) return i;
    return -1;
}

/* A reference row shows its reference bit-width's value in every group. */
static double col_value(const table *t, const colspec *c, const char *label, const char *bits) {
    int li = label_index(t, label);
    if (t->ref_bits && li >= 0 && t->is_ref[li]) bits = t->ref_bits;
    if (c->col->per_task) return cell_metric(t, label, bits, c->task, c->col->metric);
    double s = 0;
    int n = 0;
    for (int i = 0; i < t->nzs; i++) {
        char task[128];
        snprintf(task, sizeof task, "%s:%s", c->kind->name, t->zs[i]);
        double v = cell_metric(t, label, bits, task, t->rec->metric);
        if (isnan(v)) return NAN; /* never average over a different task set */
        s += v, n++;
    }
    return n ? 100.0 * s / n : NAN;
}

/* Per-seed values of a column (the average over tasks per seed for the
 * zero-shot column; a seed missing a task is left out): n, or -1 if failed. */
static int col_seed_values(const table *t, const colspec *c, const char *label, const char *bits, double *v) {
    int li = label_index(t, label);
    if (t->ref_bits && li >= 0 && t->is_ref[li]) bits = t->ref_bits;
    const cJSON *rows[64], *rj[64];
    double x[64];
    if (c->col->per_task) return cell_seeds(t, label, bits, c->task, c->col->metric, v, rows, 64);
    char task[128];
    snprintf(task, sizeof task, "%s:%s", c->kind->name, t->nzs ? t->zs[0] : "");
    int n = t->nzs ? cell_seeds(t, label, bits, task, t->rec->metric, v, rows, 64) : 0, k = 0;
    for (int s = 0; s < n; s++) {
        double sum = v[s], seed = ptq_row_metric(rows[s], "seed");
        int all = 1;
        for (int i = 1; i < t->nzs && all; i++) {
            snprintf(task, sizeof task, "%s:%s", c->kind->name, t->zs[i]);
            int m = cell_seeds(t, label, bits, task, t->rec->metric, x, rj, 64), hit = 0;
            if (m < 0) return -1;
            for (int j = 0; j < m && !hit; j++)
                if (ptq_row_metric(rj[j], "seed") == seed) sum += x[j], hit = 1;
            all = hit;
        }
        if (all) v[k++] = 100.0 * sum / t->nzs;
    }
    return n < 0 ? -1 : k;
}

/* The seed rows of one task of a column's cell (reference rows at their bit-width). */
static int task_rows(const table *t, const char *label, const char *bits, const char *task, const char *metric,
                     const cJSON **rows) {
    int li = label_index(t, label);
    if (t->ref_bits && li >= 0 && t->is_ref[li]) bits = t->ref_bits;
    double v[64];
    return cell_seeds(t, label, bits, task, metric, v, rows, 64);
}

/* The interval of `label` against `ref` in column (bits, c): the perplexity
 * ratio label/ref, or the zero-shot average difference label - ref in
 * points. -1 with err when it cannot be given (never a wrong interval). */
static int col_ci(const table *t, const colspec *c, const char *bits, const char *label, const char *ref, ptq_ci *ci,
                  ptq_err *err) {
    const cJSON *ra[64], *rb[64];
    if (c->col->per_task) {
        if (strcmp(c->col->metric, "ppl")) return ptq_fail(err, "no per-unit values kept for %s", c->col->metric);
        int ka = task_rows(t, label, bits, c->task, "ppl", ra), kb = task_rows(t, ref, bits, c->task, "ppl", rb);
        ptq_side_set a, b;
        if (ka < 1 || kb < 1) return ptq_fail(err, "no rows");
        if (ptq_side_load(t->rs, ra, ka, "nll", &a, err)) return ptq_wrap(err, "%s %s %s", label, bits, c->task);
        if (ptq_side_load(t->rs, rb, kb, "nll", &b, err)) {
            ptq_side_free(&a);
            return ptq_wrap(err, "%s %s %s", ref, bits, c->task);
        }
        int rc = ptq_ppl_ratio_ci(&a, &b, ci, err);
        ptq_side_free(&a), ptq_side_free(&b);
        return rc ? ptq_wrap(err, "%s vs %s at %s, %s", label, ref, bits, c->task) : 0;
    }
    /* zero-shot average: items of every task, stratified by task; seeds by position */
    enum { MAXT = 16 };
    ptq_side_set A[MAXT], B[MAXT];
    int off[MAXT + 1] = {0}, rc = t->nzs > MAXT ? ptq_fail(err, "more than %d tasks", MAXT) : 0, ns = 0, ka = 0, kb = 0;
    for (int i = 0; i < t->nzs && !rc; i++, ns++) {
        char task[128];
        snprintf(task, sizeof task, "%s:%s", c->kind->name, t->zs[i]);
        int na = task_rows(t, label, bits, task, t->rec->metric, ra), nb = task_rows(t, ref, bits, task, t->rec->metric, rb);
        const char *side = !strcmp(t->rec->metric, "acc_norm") && !isnan(ptq_row_metric(ra[0], "acc_norm")) ? "acc_norm" : "acc";
        if (na < 1 || nb < 1) rc = ptq_fail(err, "no rows for %s", task);
        else if (ptq_side_load(t->rs, ra, na, side, &A[i], err)) rc = -1;
        else if (ptq_side_load(t->rs, rb, nb, side, &B[i], err)) rc = -1, ptq_side_free(&A[i]);
        else if (strcmp(A[i].units, B[i].units)) {
            rc = ptq_fail(err, "different items (%s vs %s): refused for pairing", A[i].units, B[i].units);
            ptq_side_free(&A[i]), ptq_side_free(&B[i]);
        } else if ((i && (A[i].k != ka || B[i].k != kb)))
            rc = ptq_fail(err, "a different number of seeds per task"), ptq_side_free(&A[i]), ptq_side_free(&B[i]);
        if (rc) break;
        ka = A[i].k, kb = B[i].k, off[i + 1] = off[i] + A[i].n;
    }
    float *ca[64] = {0}, *cb[64] = {0};
    for (int s = 0; s < ka && !rc; s++) ca[s] = malloc(sizeof(float) * (size_t)(off[ns] + 1));
    for (int s = 0; s < kb && !rc; s++) cb[s] = malloc(sizeof(float) * (size_t)(off[ns] + 1));
    for (int s = 0; s < 64 && !rc; s++)
        if ((s < ka && !ca[s]) || (s < kb && !cb[s])) rc = ptq_fail(err, "out of memory");
    for (int i = 0; i < ns && !rc; i++) {
        for (int s = 0; s < ka; s++) memcpy(ca[s] + off[i], A[i].v[s], sizeof(float) * (size_t)A[i].n);
        for (int s = 0; s < kb; s++) memcpy(cb[s] + off[i], B[i].v[s], sizeof(float) * (size_t)B[i].n);
    }
    if (!rc) {
        ptq_boot_diff((const float *const *)ca, ka, (const float *const *)cb, kb, off, ns, PTQ_BOOT_RESAMPLES,
                      PTQ_BOOT_SEED, ci);
        ci->point *= 100, ci->lo *= 100, ci->hi *= 100;
    }
    for (int s = 0; s < 64; s++) free(ca[s]), free(cb[s]);
    for (int i = 0; i < ns; i++) ptq_side_free(&A[i]), ptq_side_free(&B[i]);
    return rc ? ptq_wrap(err, "%s vs %s at %s, 0-shot avg", label, ref, bits) : 0;
}

static int is_fp_bits(const char *b) { return !strcmp(b, "W16A16") || !strcmp(b, "W16A16KV16"); }

/* With other bit-widths present, the W16A16 group is folded into the rows
 * that have nothing else (the FP reference). */
static void mark_reference(table *t, const ptq_rowset *rs, const char *model) {
    int fp = -1;
    for (int b = 0; b < t->nbits; b++)
        if (is_fp_bits(t->bits[b])) fp = b;
    if (fp < 0 || t->nbits < 2) return;
    int nref = 0;
    for (int l = 0; l < t->nlabels; l++) {
        t->is_ref[l] = 1;
        for (int i = 0; i < rs->n && t->is_ref[l]; i++) {
            const cJSON *r = rs->rows[i];
            const char *m = ptq_row_str(r, "model"), *b = ptq_row_str(r, "bits"), *lb = row_label(r);
            if (m && lb && b && !strcmp(m, model) && !strcmp(lb, t->labels[l]) && !is_fp_bits(b)) t->is_ref[l] = 0;
        }
        nref += t->is_ref[l];
    }
    /* every W16A16 row must be a reference row, else keep the W16A16 group */
    for (int i = 0; i < rs->n; i++) {
        const cJSON *r = rs->rows[i];
        const char *m = ptq_row_str(r, "model"), *b = ptq_row_str(r, "bits"), *lb = row_label(r);
        int li = lb ? label_index(t, lb) : -1;
        if (m && b && !strcmp(m, model) && is_fp_bits(b) && li >= 0 && !t->is_ref[li]) nref = 0;
    }
    if (!nref) {
        memset(t->is_ref, 0, sizeof t->is_ref);
        return;
    }
    t->ref_bits = t->bits[fp];
    for (int b = fp; b + 1 < t->nbits; b++) t->bits[b] = t->bits[b + 1];
    t->nbits--;
}

static int build_table(table *t, const ptq_rowset *rs, const char *model, const ptq_zs_average *rec) {
    memset(t, 0, sizeof *t);
    t->rs = rs, t->model = model, t->rec = rec;
    const char *tasks[MAXL];
    int ntasks = 0;
    /* rows in plan order (the "index" field), whatever the shard order */
    int *order = malloc(sizeof(int) * (size_t)(rs->n ? rs->n : 1));
    for (int i = 0; i < rs->n; i++) order[i] = i;
    for (int i = 1; i < rs->n; i++)
        for (int j = i; j > 0; j--) {
            double a = ptq_row_metric(rs->rows[order[j - 1]], "index"), b = ptq_row_metric(rs->rows[order[j]], "index");
            if (!(a > b)) break;
            int tmp = order[j];
            order[j] = order[j - 1], order[j - 1] = tmp;
        }
    for (int k = 0; k < rs->n; k++) {
        const cJSON *r = rs->rows[order[k]];
        const char *m = ptq_row_str(r, "model");
        if (!m || strcmp(m, model)) continue;
        ptq_report_add_unique(t->labels, &t->nlabels, MAXL, row_label(r));
        ptq_report_add_unique(t->bits, &t->nbits, MAXL, ptq_row_str(r, "bits"));
        const char *task = ptq_row_str(r, "task");
        const ptq_task_kind *k = ptq_task_kind_of(task);
        ptq_report_add_unique(tasks, &ntasks, MAXL, task);
        if (k && k->report && !k->report->per_task && (!t->avg_kind || t->avg_kind == k)) {
            t->avg_kind = k;
            ptq_report_add_unique(t->zs, &t->nzs, MAXL, task + strlen(k->name) + 1);
        }
    }
    free(order);
    mark_reference(t, rs, model);
    for (int kk = 0; ptq_task_kinds[kk]; kk++) {
        const ptq_task_kind *k = ptq_task_kinds[kk];
        if (!k->report || !k->report->per_task) continue;
        for (int i = 0; i < ntasks && t->ncols < 63; i++) {
            if (ptq_task_kind_of(tasks[i]) != k) continue;
            colspec *c = &t->cols[t->ncols++];
            c->kind = k, c->col = k->report;
            snprintf(c->task, sizeof c->task, "%s", tasks[i]);
            snprintf(c->head, sizeof c->head, "%s%s", k->report->head, short_ds(tasks[i] + strlen(k->name) + 1));
        }
    }
    if (t->nzs && rec->tasks[0]) { /* keep only the recipe's tasks, note the missing ones */
        const char *keep[MAXL];
        int nk = 0;
        char missing[256] = "";
        for (int i = 0; rec->tasks[i]; i++) {
            int found = 0;
            for (int j = 0; j < t->nzs; j++) found |= !strcmp(t->zs[j], rec->tasks[i]);
            if (found) keep[nk++] = rec->tasks[i];
            else snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", rec->tasks[i]);
        }
        memcpy(t->zs, keep, sizeof(char *) * (size_t)nk);
        t->nzs = nk;
        if (missing[0]) snprintf(t->avg_note, sizeof t->avg_note, " Not in these results:%s.", missing);
    }
    if (t->nzs) {
        colspec *c = &t->cols[t->ncols++];
        c->kind = t->avg_kind, c->col = t->avg_kind->report;
        snprintf(c->head, sizeof c->head, "0-shot avg");
    }
    return t->nlabels && t->ncols ? 0 : -1;
}

static void fmt_val(const colspec *c, double v, char *out, size_t cap) {
    int d = c->col->decimals;
    if (isnan(v)) snprintf(out, cap, "-");
    else if (isinf(v)) snprintf(out, cap, "failed");
    else if (c->col->per_task && v >= 1000) snprintf(out, cap, "%.0f", v); /* 1497, not 1.5e+03 */
    else snprintf(out, cap, "%.*f", d, fabs(v) < 0.5 * pow(10, -d) ? 0.0 : v); /* no "-0.0000" */
}

/* Is row `label` the best of column (bits, c)? Compared at the printed
 * precision, so ties are all bold; a column where all tie has no bold. */
static double shown(const colspec *c, double v) {
    char s[32];
    fmt_val(c, v, s, sizeof s);
    return isfinite(v) ? strtod(s, NULL) : v;
}

static int is_best(const table *t, const colspec *c, const char *bits, const char *label) {
    int li = label_index(t, label);
    if (li >= 0 && t->is_ref[li]) return 0;
    double v = shown(c, col_value(t, c, label, bits));
    if (!isfinite(v)) return 0;
    int nfinite = 0, all_tie = 1;
    for (int i = 0; i < t->nlabels; i++) {
        double o = shown(c, col_value(t, c, t->labels[i], bits));
        if (!isfinite(o) || t->is_ref[i]) continue;
        nfinite++;
        all_tie &= o == v;
        if (c->col->lower_better ? o < v : o > v) return 0;
    }
    return nfinite > 1 && !all_tie;
}

static int col_present(const table *t, const colspec *c, const char *bits) {
    for (int i = 0; i < t->nlabels; i++)
        if (!t->is_ref[i] && !isnan(col_value(t, c, t->labels[i], bits))) return 1;
    return 0;
}

static void caption(const table *t, const char *title, char *out, size_t cap) {
    snprintf(out, cap, "%s: %s.", title ? title : "results", t->model);
    for (int i = 0; i < t->ncols; i++) /* each per-task kind's sentence, once */
        if (t->cols[i].col->per_task && (i == 0 || t->cols[i - 1].kind != t->cols[i].kind))
            snprintf(out + strlen(out), cap - strlen(out), " %s", t->cols[i].col->caption);
    if (t->nzs) {
        snprintf(out + strlen(out), cap - strlen(out), " 0-shot avg = %s: %s, in %%, over", t->rec->name, t->rec->doc);
        for (int i = 0; i < t->nzs; i++)
            snprintf(out + strlen(out), cap - strlen(out), "%s %s", i ? "," : "", t->zs[i]);
        snprintf(out + strlen(out), cap - strlen(out), ".%s", t->avg_note);
    }
    for (int i = 0; i < t->nlabels && t->ref_bits; i++)
        if (t->is_ref[i]) {
            snprintf(out + strlen(out), cap - strlen(out), " Row %s: the %s reference, repeated in every group.",
                     t->labels[i], t->ref_bits);
            break;
        }
    snprintf(out + strlen(out), cap - strlen(out), " Best per column in bold.");
    if (t->nseeds > 1)
        snprintf(out + strlen(out), cap - strlen(out), " Seed mean \xc2\xb1 std (n seeds) where n > 1.");
    if (t->tested)
        snprintf(out + strlen(out), cap - strlen(out),
                 " Marked (\xe2\x80\xa0 in Markdown, underlined in LaTeX): not significantly different from the "
                 "best, i.e. the 95%% interval of the perplexity ratio to the best contains 1%s; paired bootstrap "
                 "over evaluation windows%s and seeds, %d resamples, seed %u.%s",
                 t->nzs ? " (0-shot avg: of the difference in points, contains 0)" : "",
                 t->nzs ? " (items, by task)" : "", PTQ_BOOT_RESAMPLES, PTQ_BOOT_SEED,
                 t->untested ? " Values without per-window data are not tested (warning on stderr)." : "");
}

/* The first best row of column (bits, c), or NULL (no best: all tie, or one row). */
static const char *best_label(const table *t, const colspec *c, const char *bits) {
    for (int l = 0; l < t->nlabels; l++)
        if (is_best(t, c, bits, t->labels[l])) return t->labels[l];
    return NULL;
}

/* 1 when label's 95% interval against the best of the column holds "no
 * difference" (ratio 1, difference 0), 0 when it excludes it, -1 untested
 * (a warning says why). ci gets the interval. */
static int overlaps_best(table *t, const colspec *c, const char *bits, const char *label, ptq_ci *ci) {
    const char *best = best_label(t, c, bits);
    int li = label_index(t, label);
    ci->point = ci->lo = ci->hi = NAN;
    if (!best || !strcmp(best, label) || (li >= 0 && t->is_ref[li])) return -1;
    if (!isfinite(col_value(t, c, label, bits))) return -1;
    ptq_err err;
    if (col_ci(t, c, bits, label, best, ci, &err)) {
        if (c->col->per_task && strcmp(c->col->metric, "ppl")) return -1; /* nothing kept to test: no warning */
        t->untested++;
        if (strstr(err.msg, "no side values")) return -1; /* results from before side files: no warning */
        fprintf(stderr, "warning: report %s: no interval (mean only): %s\n", t->model, err.msg);
        return -1;
    }
    t->tested++;
    double none = c->col->per_task ? 1.0 : 0.0;
    return ci->lo <= none && none <= ci->hi;
}

/* The table as shown (bold best, seed mean +- std (n) with more than one
 * seed, marked when not significantly different from the best) or as CSV
 * (every mean at %.6g). */
static void fill(table *t, int csv, ptq_table *tab, cJSON *summary) {
    if (!csv) t->tested = t->untested = t->nseeds = 0;
    tab->nlab = 1;
    ptq_table_col(tab, NULL, "%s", csv ? "method" : "Method");
    for (int b = 0; b < t->nbits; b++)
        for (int c = 0; c < t->ncols; c++)
            if (col_present(t, &t->cols[c], t->bits[b])) {
                ptq_table_col(tab, t->bits[b], "%s", t->cols[c].head);
                if (csv && t->nseeds > 1) ptq_table_col(tab, t->bits[b], "%s std", t->cols[c].head);
            }
    for (int l = 0; l < t->nlabels; l++) {
        ptq_table_row(tab, NULL);
        ptq_table_cell(tab, 0, "%s", t->labels[l]);
        for (int b = 0; b < t->nbits; b++)
            for (int c = 0; c < t->ncols; c++) {
                const colspec *cs = &t->cols[c];
                if (!col_present(t, cs, t->bits[b])) continue;
                double v = col_value(t, cs, t->labels[l], t->bits[b]), sv[64], mean, sd;
                int n = col_seed_values(t, cs, t->labels[l], t->bits[b], sv);
                t->nseeds = PTQ_MAX(t->nseeds, n);
                ptq_mean_std(sv, n > 0 ? n : 0, &mean, &sd);
                char s[32], e[32];
                fmt_val(cs, v, s, sizeof s);
                if (n > 1 && isfinite(v)) /* mean and std at the std's precision */
                    ptq_fmt_pm(v, sd, cs->col->decimals, s, sizeof s, e, sizeof e);
                if (csv && isinf(v)) {
                    ptq_table_cell(tab, 0, "failed"); /* a failed cell, never a number */
                    if (t->nseeds > 1) ptq_table_cell(tab, 0, "%s", "");
                    continue;
                } else if (csv) { /* one seed: %.6g; several: mean and std as shown */
                    if (n > 1 && isfinite(v)) ptq_table_cell(tab, 0, "%s", s);
                    else ptq_table_num(tab, "%.6g", v);
                    if (t->nseeds > 1) ptq_table_cell(tab, 0, "%s", n > 1 && isfinite(v) ? e : "");
                    continue;
                }
                ptq_ci ci;
                int sig = isfinite(v) ? overlaps_best(t, cs, t->bits[b], t->labels[l], &ci) : -1;
                if (n > 1 && isfinite(v)) ptq_table_cell(tab, is_best(t, cs, t->bits[b], t->labels[l]), "%s \xc2\xb1 %s (%d)", s, e, n);
                else ptq_table_cell(tab, is_best(t, cs, t->bits[b], t->labels[l]), "%s", s);
                if (sig == 1) ptq_table_mark(tab);
                if (!summary || isnan(v)) continue;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", t->model);
                cJSON_AddStringToObject(o, "method", t->labels[l]);
                cJSON_AddStringToObject(o, "bits", t->bits[b]);
                cJSON_AddStringToObject(o, "column", cs->col->per_task ? cs->task : "zeroshot_avg");
                if (isfinite(v)) cJSON_AddNumberToObject(o, "mean", v), cJSON_AddNumberToObject(o, "std", sd);
                else cJSON_AddStringToObject(o, "status", "failed");
                cJSON_AddNumberToObject(o, "n", n > 0 ? n : 0);
                cJSON *vals = cJSON_AddArrayToObject(o, "values");
                for (int i = 0; i < n; i++) cJSON_AddItemToArray(vals, cJSON_CreateNumber(sv[i]));
                const char *best = best_label(t, cs, t->bits[b]);
                if (best) cJSON_AddStringToObject(o, "best", best);
                if (sig >= 0) {
                    cJSON_AddStringToObject(o, "vs_best", cs->col->per_task ? "ratio" : "difference");
                    cJSON_AddNumberToObject(o, "vs_best_point", ci.point);
                    cJSON_AddNumberToObject(o, "vs_best_lo", ci.lo);
                    cJSON_AddNumberToObject(o, "vs_best_hi", ci.hi);
                    cJSON_AddBoolToObject(o, "significant", !sig);
                }
                cJSON_AddItemToArray(summary, o);
            }
    }
}

/* Every metric of every row, long format (one value per line). */
static int write_long_csv(const ptq_rowset *rs, const char *path, ptq_err *err) {
    FILE *f = fopen(path, "w");
    if (!f) return ptq_fail(err, "%s: cannot create", path);
    static const char *const head[] = {"model", "method", "bits", "seed", "task", "metric", "value"};
    for (int i = 0; i < 7; i++) ptq_report_csv_field(f, head[i], i == 6);
    for (int i = 0; i < rs->n; i++) {
        const cJSON *r = rs->rows[i], *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
        char seed[32];
        snprintf(seed, sizeof seed, "%g", ptq_row_metric(r, "seed"));
        for (const cJSON *it = m ? m->child : NULL; it; it = it->next) {
            if (!cJSON_IsNumber(it)) continue;
            char v[64];
            snprintf(v, sizeof v, "%.9g", it->valuedouble);
            const char *f6[] = {ptq_row_str(r, "model"), row_label(r), ptq_row_str(r, "bits"), seed,
                                ptq_row_str(r, "task"), it->string, v};
            for (int k = 0; k < 7; k++) ptq_report_csv_field(f, f6[k] ? f6[k] : "", k == 6);
        }
    }
    return fclose(f) ? ptq_fail(err, "%s: write failed", path) : 0;
}

/* Every shown cell: mean, std, n, the per-seed values and the interval
 * against the column's best, as summary.json and summary.csv. */
static int write_summary(const cJSON *summary, const ptq_report_opts *o, ptq_err *err) {
    char p[4300];
    int rc = 0;
    if (o->formats & PTQ_FMT_CSV) {
        snprintf(p, sizeof p, "%s/summary.csv", o->out_dir);
        FILE *f = fopen(p, "w");
        if (!f) return ptq_fail(err, "%s: cannot create", p);
        static const char *const head[] = {"model", "method", "bits", "column", "mean", "std", "n", "values",
                                           "best", "vs_best", "vs_best_point", "vs_best_lo", "vs_best_hi", "significant"};
        for (int i = 0; i < 14; i++) ptq_report_csv_field(f, head[i], i == 13);
        for (const cJSON *x = summary->child; x; x = x->next) {
            char num[6][40] = {"", "", "", "", "", ""}, vals[2048] = "";
            const char *nk[] = {"mean", "std", "n", "vs_best_point", "vs_best_lo", "vs_best_hi"};
            for (int k = 0; k < 6; k++)
                if (!isnan(ptq_row_metric(x, nk[k]))) snprintf(num[k], sizeof num[k], "%.9g", ptq_row_metric(x, nk[k]));
            for (const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, "values")->child; v; v = v->next)
                snprintf(vals + strlen(vals), sizeof vals - strlen(vals), "%s%.9g", v == cJSON_GetObjectItemCaseSensitive(x, "values")->child ? "" : ";", v->valuedouble);
            const cJSON *sig = cJSON_GetObjectItemCaseSensitive(x, "significant");
            const char *f14[] = {ptq_row_str(x, "model"), ptq_row_str(x, "method"), ptq_row_str(x, "bits"),
                                 ptq_row_str(x, "column"), ptq_row_str(x, "status") ? "failed" : num[0], num[1], num[2],
                                 vals, ptq_row_str(x, "best"), ptq_row_str(x, "vs_best"), num[3], num[4], num[5],
                                 sig ? (cJSON_IsTrue(sig) ? "yes" : "no") : ""};
            for (int k = 0; k < 14; k++) ptq_report_csv_field(f, f14[k] ? f14[k] : "", k == 13);
        }
        if (fclose(f)) rc = ptq_fail(err, "%s: write failed", p);
    }
    char *text = cJSON_Print(summary);
    snprintf(p, sizeof p, "%s/summary.json", o->out_dir);
    if (!text) return ptq_fail(err, "out of memory");
    if (ptq_write_file_atomic(p, text, strlen(text), err)) rc = -1;
    free(text);
    return rc;
}

/* One line per method over the bit-widths (categorical x), log y. */
static int plot_lines(const table *t, const colspec *c, const ptq_report_opts *o, FILE *figs, ptq_err *err) {
    char base[4200], titles[4096] = "";
    FILE *f = ptq_report_plot_data(o, "", t->model, c->task, base, sizeof base, err);
    if (!f) return -1;
    int blocks = 0;
    for (int l = 0; l < t->nlabels; l++) {
        int any = 0;
        for (int b = 0; b < t->nbits; b++) {
            double v = col_value(t, c, t->labels[l], t->bits[b]), sv[64], mean, sd;
            if (!isfinite(v) || v <= 0) continue;
            int n = col_seed_values(t, c, t->labels[l], t->bits[b], sv);
            ptq_mean_std(sv, n > 0 ? n : 0, &mean, &sd);
            /* error bar: +- std over seeds (none with one seed; kept above 0 for the log axis) */
            fprintf(f, "%d %.9g %s %.9g %.9g\n", b, v, t->bits[b], v - sd > 0 ? v - sd : v, v + sd);
            any = 1;
        }
        if (any) {
            fprintf(f, "\n\n");
            snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s ", t->labels[l]);
            blocks++;
        }
    }
    fclose(f);
    if (!blocks) return 0;
    char vars[20000], title[256], tail[128];
    snprintf(title, sizeof title, "%s: %s", t->model, c->task);
    snprintf(vars, sizeof vars,
             "datafile='%s.dat'; outbase='%s'; ylab='%s'; ttl='%s'; logy=1; nblocks=%d; titles='%s'; nbits=%d", base,
             base, c->col->plot_label, title, blocks, titles, t->nbits);
    snprintf(tail, sizeof tail, " (%s; error bars: \\(\\pm\\) std over seeds).", c->col->plot_label);
    return ptq_report_plot(o, "lines.gp", vars, base, title, tail, figs, err);
}

/* Zero-shot average: clustered bars, one cluster per bit-width. */
static int plot_hist(const table *t, const colspec *c, const ptq_report_opts *o, FILE *figs, ptq_err *err) {
    char base[4200];
    FILE *f = ptq_report_plot_data(o, "", t->model, "zeroshot_avg", base, sizeof base, err);
    if (!f) return -1;
    fprintf(f, "bits");
    for (int l = 0; l < t->nlabels; l++) fprintf(f, " \"%s\"", t->labels[l]);
    fprintf(f, "\n");
    for (int b = 0; b < t->nbits; b++) {
        fprintf(f, "%s", t->bits[b]);
        for (int l = 0; l < t->nlabels; l++) {
            double v = col_value(t, c, t->labels[l], t->bits[b]);
            fprintf(f, isfinite(v) ? " %.4f" : " NaN", v);
        }
        fprintf(f, "\n");
    }
    fclose(f);
    char vars[20000], title[256];
    snprintf(title, sizeof title, "%s: zero-shot %s", t->model, t->rec->name);
    snprintf(vars, sizeof vars, "datafile='%s.dat'; outbase='%s'; ylab='accuracy (%%)'; ttl='%s'; ncols=%d", base,
             base, title, t->nlabels);
    return ptq_report_plot(o, "histogram.gp", vars, base, title, ".", figs, err);
}

/* McNemar's exact p of label vs ref on the zero-shot items pooled over the
 * column's tasks, when both have one seed; NAN otherwise. */
static double zs_mcnemar(const table *t, const colspec *c, const char *bits, const char *label, const char *ref) {
    int n01 = 0, n10 = 0;
    for (int i = 0; i < t->nzs; i++) {
        char task[128];
        const cJSON *ra[64], *rb[64];
        snprintf(task, sizeof task, "%s:%s", c->kind->name, t->zs[i]);
        if (task_rows(t, label, bits, task, t->rec->metric, ra) != 1 || task_rows(t, ref, bits, task, t->rec->metric, rb) != 1)
            return NAN;
        const char *side = !strcmp(t->rec->metric, "acc_norm") && !isnan(ptq_row_metric(ra[0], "acc_norm")) ? "acc_norm" : "acc";
        ptq_side_set a, b;
        ptq_err err;
        if (ptq_side_load(t->rs, ra, 1, side, &a, &err)) return NAN;
        if (ptq_side_load(t->rs, rb, 1, side, &b, &err)) return ptq_side_free(&a), NAN;
        int same = !strcmp(a.units, b.units);
        for (int w = 0; same && w < a.n; w++) n01 += a.v[0][w] > b.v[0][w], n10 += a.v[0][w] < b.v[0][w];
        ptq_side_free(&a), ptq_side_free(&b);
        if (!same) return NAN;
    }
    return ptq_mcnemar_p(n01, n10);
}

/* `report --vs REF`: per bit-width, every method's ratio to REF (perplexity)
 * or difference (0-shot avg, points) with its 95% interval. */
static int vs_table(table *t, const ptq_report_opts *o, FILE *out, ptq_err *err) {
    const char *ref = NULL;
    for (int l = 0; l < t->nlabels && !ref; l++)
        if (!strcmp(t->labels[l], o->vs)) ref = t->labels[l];
    for (int l = 0; l < t->nlabels && !ref; l++) /* "gptq" matches a lone "gptq(percdamp=0.1)" */
        if (!strncmp(t->labels[l], o->vs, strlen(o->vs)) && t->labels[l][strlen(o->vs)] == '(') ref = t->labels[l];
    if (!ref) {
        fprintf(stderr, "warning: report --vs %s: no such method in model %s (methods:", o->vs, t->model);
        for (int l = 0; l < t->nlabels; l++) fprintf(stderr, " %s", t->labels[l]);
        fprintf(stderr, ")\n");
        return 0;
    }
    char cap[512];
    snprintf(cap, sizeof cap,
             "%s against %s: perplexity ratio method/%s and 0-shot avg difference (points), seed means, with the "
             "95%% paired-bootstrap interval (windows or items, and seeds; %d resamples); marked (\xe2\x80\xa0): "
             "significant, the interval excludes 1 (0). \"-\": no interval (see stderr). McNemar p: exact test on "
             "the zero-shot items pooled over the tasks, for cells with one seed each.",
             t->model, ref, ref, PTQ_BOOT_RESAMPLES);
    ptq_table tab = {.caption = cap, .nlab = 3};
    static const char *const heads[] = {"Bits", "Method", "Column", "Value", "Reference", "vs reference", "95% CI",
                                        "McNemar p"};
    for (int i = 0; i < 8; i++) ptq_table_col(&tab, NULL, "%s", heads[i]);
    for (int b = 0; b < t->nbits; b++)
        for (int c = 0; c < t->ncols; c++) {
            const colspec *cs = &t->cols[c];
            double rv = col_value(t, cs, ref, t->bits[b]);
            for (int l = 0; l < t->nlabels && isfinite(rv); l++) {
                double v = col_value(t, cs, t->labels[l], t->bits[b]);
                if (!strcmp(t->labels[l], ref) || !isfinite(v)) continue;
                ptq_ci ci;
                ptq_err e;
                int ok = col_ci(t, cs, t->bits[b], t->labels[l], ref, &ci, &e) == 0;
                if (!ok && !(cs->col->per_task && strcmp(cs->col->metric, "ppl")))
                    fprintf(stderr, "warning: report --vs %s: %s\n", ref, e.msg);
                char sv[32], sr[32];
                fmt_val(cs, v, sv, sizeof sv), fmt_val(cs, rv, sr, sizeof sr);
                ptq_table_row(&tab, NULL);
                ptq_table_cell(&tab, 0, "%s", t->bits[b]);
                ptq_table_cell(&tab, 0, "%s", t->labels[l]);
                ptq_table_cell(&tab, 0, "%s", cs->head);
                ptq_table_cell(&tab, 0, "%s", sv);
                ptq_table_cell(&tab, 0, "%s", sr);
                if (ok && cs->col->per_task) {
                    ptq_table_cell(&tab, 0, "%.4f", ci.point);
                    ptq_table_cell(&tab, 0, "[%.4f, %.4f]", ci.lo, ci.hi);
                } else if (ok) {
                    ptq_table_cell(&tab, 0, "%+.1f", ci.point);
                    ptq_table_cell(&tab, 0, "[%+.1f, %+.1f]", ci.lo, ci.hi);
                } else {
                    ptq_table_cell(&tab, 0, cs->col->per_task ? "%.4f" : "%+.1f", cs->col->per_task ? v / rv : v - rv);
                    ptq_table_cell(&tab, 0, "-");
                }
                if (ok && (cs->col->per_task ? ci.lo > 1 || ci.hi < 1 : ci.lo > 0 || ci.hi < 0)) ptq_table_mark(&tab);
                double p = cs->col->per_task ? NAN : zs_mcnemar(t, cs, t->bits[b], t->labels[l], ref);
                if (isnan(p)) ptq_table_cell(&tab, 0, "%s", "");
                else ptq_table_cell(&tab, 0, "%.3g", p);
            }
        }
    char suffix[300], rs[256];
    ptq_report_sanitize(ref, rs, sizeof rs);
    snprintf(suffix, sizeof suffix, "_vs_%s", rs);
    ptq_report_opts fo = *o;
    fo.formats &= PTQ_FMT_MD | PTQ_FMT_CSV;
    int rc = ptq_report_tables(&tab, &tab, &fo, t->model, suffix, out, NULL, err);
    ptq_table_free(&tab);
    return rc;
}

static int report_model(const ptq_rowset *rs, const char *model, const ptq_report_opts *o,
                        const ptq_zs_average *rec, FILE *out, FILE *tex_all, FILE *figs, cJSON *summary,
                        ptq_err *err) {
    table *t = calloc(1, sizeof *t);
    if (!t) return ptq_fail(err, "report: out of memory");
    if (build_table(t, rs, model, rec)) {
        if (!ptq_report_has_latency(rs, model))
            fprintf(stderr, "warning: no table for model %s (no rows with ppl/kld/zero-shot/latency metrics)\n", model);
        free(t);
        return ptq_report_latency(rs, model, o, out, tex_all, figs, err);
    }
    char cap[4096];
    ptq_table shown = {.caption = cap}, csv = {0};
    fill(t, 0, &shown, summary);
    fill(t, 1, &csv, NULL);
    caption(t, o->title, cap, sizeof cap);
    int rc = ptq_report_tables(&shown, &csv, o, model, "", out, tex_all, err);
    ptq_table_free(&shown);
    ptq_table_free(&csv);
    if (!rc && o->vs) rc = vs_table(t, o, out, err);
    for (int c = 0; c < t->ncols && o->plots && !rc; c++) {
        const colspec *cs = &t->cols[c];
        rc = cs->col->per_task ? plot_lines(t, cs, o, figs, err) : plot_hist(t, cs, o, figs, err);
    }
    free(t);
    return rc ? rc : ptq_report_latency(rs, model, o, out, tex_all, figs, err);
}

int ptq_report(const ptq_rowset *rs, const ptq_report_opts *o, FILE *out, ptq_err *err) {
    if (rs->n == 0) return ptq_fail(err, "no result rows to report");
    const ptq_zs_average *rec = ptq_zs_average_find(o->average ? o->average : "avg_all_acc");
    if (!rec) {
        char list[256] = "";
        for (const ptq_zs_average *r = ptq_zs_averages; r->name; r++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", r == ptq_zs_averages ? "" : ", ", r->name);
        return ptq_fail(err, "unknown average recipe '%s' (expected one of: %s)", o->average, list);
    }
    if (ptq_mkdir_p(o->out_dir, err)) return -1;
    char p[4300];
    snprintf(p, sizeof p, "%s/tables.tex", o->out_dir);
    FILE *tex_all = fopen(p, "w");
    snprintf(p, sizeof p, "%s/figures.tex", o->out_dir);
    FILE *figs = fopen(p, "w");
    if (!tex_all || !figs) {
        if (tex_all) fclose(tex_all);
        if (figs) fclose(figs);
        return ptq_fail(err, "%s: cannot create report files", o->out_dir);
    }
    const char *models[MAXL];
    int nm = 0, rc = 0;
    for (int i = 0; i < rs->n; i++) ptq_report_add_unique(models, &nm, MAXL, ptq_row_str(rs->rows[i], "model"));
    cJSON *summary = cJSON_CreateArray();
    for (int i = 0; i < nm && !rc; i++) rc = report_model(rs, models[i], o, rec, out, tex_all, figs, summary, err);
    if (!rc && o->plots) rc = ptq_report_loss_curves(rs, o, figs, err);
    if (!rc) rc = write_summary(summary, o, err);
    cJSON_Delete(summary);
    fclose(tex_all);
    fclose(figs);
    if (!rc && (o->formats & PTQ_FMT_CSV)) {
        snprintf(p, sizeof p, "%s/metrics_long.csv", o->out_dir);
        rc = write_long_csv(rs, p, err);
    }
    return rc;
}
