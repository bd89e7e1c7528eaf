/* latency_table.c — latency/memory table and Pareto plots (latency_table.h).
 *
 * Rows: the "latency" task rows of a model (eval/latency.c metrics), grouped
 * by (method, qspec, options) and averaged over seeds. Table columns: prefill
 * tokens/s at each T and decode tokens/s at each context on the packed path
 * with the speedup over the FP32 path measured in the same run, weight
 * bytes, KV bytes, peak RSS and the load average at measurement time. Rows
 * whose packed path could not run show their error. Pareto plots join each
 * group with the ppl rows of the same (model, method, qspec, options):
 * perplexity vs weight bytes and vs decode tokens/s, one point per method x
 * bits (colour = method, shape = bits, both in the key) and the Pareto front,
 * whose points carry a "method bits" label (labelling all points overprints
 * them where methods tie, which toy models do a lot). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "latency_table.h"

#define MAXG 512
#define MAXV 16

typedef struct {
    const cJSON *first; /* a row of the group (identity) */
    const cJSON *rows[64];
    int n;
    const char *error; /* set when every row of the group is an error row */
} lgroup;

typedef struct {
    const ptq_rowset *rs;
    const char *model;
    lgroup g[MAXG];
    int ng;
    int Ts[MAXV], nT, Cs[MAXV], nC;
    double threads;
    const char *cpu, *isa;
} ltable;

static int is_latency(const cJSON *r) {
    const char *t = ptq_row_str(r, "task");
    return t && (!strcmp(t, "latency") || !strncmp(t, "latency:", 8));
}

static const char *qspec_of(const cJSON *r) {
    const char *q = ptq_row_str(r, "qspec");
    return q ? q : ptq_row_str(r, "bits");
}

static const char *label_of(const cJSON *r) {
    const char *l = ptq_row_str(r, "label");
    return l ? l : ptq_row_str(r, "method");
}

/* The join key: same model, method, qspec and options (any key order). */
static int same_cell(const cJSON *a, const cJSON *b) {
    const char *ma = ptq_row_str(a, "method"), *mb = ptq_row_str(b, "method");
    const char *qa = qspec_of(a), *qb = qspec_of(b);
    if (!ma || !mb || !qa || !qb || strcmp(ma, mb) || strcmp(qa, qb)) return 0;
    const cJSON *oa = cJSON_GetObjectItemCaseSensitive(a, "options"),
                *ob = cJSON_GetObjectItemCaseSensitive(b, "options");
    if (!oa || !ob) return !oa && !ob;
    return cJSON_Compare(oa, ob, 1);
}

static const char *row_error(const cJSON *r) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "metrics"), "error");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

static void add_int(int *v, int *n, int x) {
    for (int i = 0; i < *n; i++)
        if (v[i] == x) return;
    if (*n == MAXV) return;
    int i = (*n)++;
    for (; i > 0 && v[i - 1] > x; i--)
        v[i] = v[i - 1];
    v[i] = x;
}

static int model_is(const cJSON *r, const char *model) {
    const char *m = ptq_row_str(r, "model");
    return m && !strcmp(m, model);
}

int ptq_report_has_latency(const ptq_rowset *rs, const char *model) {
    for (int i = 0; i < rs->n; i++)
        if (model_is(rs->rows[i], model) && is_latency(rs->rows[i])) return 1;
    return 0;
}

static void build(ltable *t, const ptq_rowset *rs, const char *model) {
    memset(t, 0, sizeof *t);
    t->rs = rs, t->model = model;
    for (int i = 0; i < rs->n; i++) {
        const cJSON *r = rs->rows[i];
        if (!model_is(r, model) || !is_latency(r)) continue;
        int g = 0;
        while (g < t->ng && !same_cell(t->g[g].first, r))
            g++;
        if (g == t->ng) {
            if (t->ng == MAXG) continue;
            t->g[t->ng++].first = r;
        }
        lgroup *G = &t->g[g];
        if (G->n < 64) G->rows[G->n++] = r;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics"), *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "prefill_T")) add_int(t->Ts, &t->nT, it->valueint);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "decode_ctx")) add_int(t->Cs, &t->nC, it->valueint);
        if (!row_error(r)) {
            t->threads = ptq_row_metric(r, "threads");
            if (ptq_row_str(r, "cpu")) t->cpu = ptq_row_str(r, "cpu");
            if (ptq_row_str(r, "isa")) t->isa = ptq_row_str(r, "isa");
        }
    }
    for (int g = 0; g < t->ng; g++) {
        lgroup *G = &t->g[g];
        G->error = row_error(G->rows[0]);
        for (int i = 1; i < G->n && G->error; i++)
            if (!row_error(G->rows[i])) G->error = NULL;
    }
}

/* Mean over the group's non-error rows of a metric (NaN when absent). */
static double gmetric(const lgroup *G, const char *name) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < G->n; i++) {
        double v = ptq_row_metric(G->rows[i], name);
        if (row_error(G->rows[i]) || isnan(v)) continue;
        s += v, n++;
    }
    return n ? s / n : NAN;
}

static double gloadavg(const lgroup *G) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < G->n; i++) {
        const cJSON *la = cJSON_GetObjectItemCaseSensitive(G->rows[i], "loadavg");
        if (!row_error(G->rows[i]) && cJSON_IsArray(la) && cJSON_IsNumber(cJSON_GetArrayItem(la, 0)))
            s += cJSON_GetArrayItem(la, 0)->valuedouble, n++;
    }
    return n ? s / n : NAN;
}

/* ---- table ------------------------------------------------------------------ */
enum { C_PREFILL, C_DECODE, C_WEIGHT, C_KV, C_RSS, C_LOAD };
typedef struct {
    int kind, arg;
    char head[64];
} lcol;

static int columns(const ltable *t, lcol *c) {
    int n = 0;
    for (int i = 0; i < t->nT; i++) {
        c[n] = (lcol){C_PREFILL, t->Ts[i], ""};
        snprintf(c[n++].head, sizeof c->head, "prefill T=%d tok/s", t->Ts[i]);
    }
    for (int i = 0; i < t->nC; i++) {
        c[n] = (lcol){C_DECODE, t->Cs[i], ""};
        snprintf(c[n++].head, sizeof c->head, "decode C=%d tok/s", t->Cs[i]);
    }
    c[n++] = (lcol){C_WEIGHT, 0, "weights KiB"};
    for (int i = 0; i < t->nC; i++) {
        c[n] = (lcol){C_KV, t->Cs[i], ""};
        snprintf(c[n++].head, sizeof c->head, "KV C=%d KiB", t->Cs[i]);
    }
    c[n++] = (lcol){C_RSS, 0, "peak RSS MiB"};
    c[n++] = (lcol){C_LOAD, 0, "load 1m"};
    return n;
}

/* value (packed path) and ratio vs FP32 of a column; ratio NaN if none. */
static void col_vals(const lgroup *G, const lcol *c, double *v, double *ratio) {
    char k[96], r[96];
    *ratio = NAN;
    switch (c->kind) {
    case C_PREFILL:
    case C_DECODE: {
        const char *w = c->kind == C_PREFILL ? "prefill_T" : "decode_ctx";
        snprintf(k, sizeof k, "%s%d_tokens_per_sec", w, c->arg);
        snprintf(r, sizeof r, "%s%d_speedup", w, c->arg);
        *v = gmetric(G, k), *ratio = gmetric(G, r);
        break;
    }
    case C_WEIGHT:
        *v = gmetric(G, "weight_bytes") / 1024, *ratio = gmetric(G, "weight_ratio");
        break;
    case C_KV:
        snprintf(k, sizeof k, "kv_bytes_ctx%d", c->arg);
        snprintf(r, sizeof r, "kv_ratio_ctx%d", c->arg);
        *v = gmetric(G, k) / 1024, *ratio = gmetric(G, r);
        break;
    case C_RSS:
        *v = gmetric(G, "peak_rss_kb") / 1024;
        break;
    default:
        *v = gloadavg(G);
        break;
    }
}

static void fmt_cell(const lcol *c, double v, double ratio, char *out, size_t cap) {
    if (isnan(v)) {
        snprintf(out, cap, "-");
        return;
    }
    const char *f = c->kind == C_LOAD ? "%.2f" : v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f";
    snprintf(out, cap, f, v);
    if (!isnan(ratio)) snprintf(out + strlen(out), cap - strlen(out), " (%.2fx)", ratio);
}

static void caption(const ltable *t, const char *title, char *out, size_t cap) {
    double reps = NAN;
    for (int g = 0; g < t->ng && isnan(reps); g++)
        reps = gmetric(&t->g[g], "reps");
    snprintf(out, cap,
             "%s: %s, latency and memory. Packed low-bit path (integer weights, quantized activations, the "
             "method's online ops) vs the FP32 OpenBLAS path of the unquantized model in the same run: median "
             "tokens/s of %.0f runs after warm-up, (x) = ratio to FP32 (speedup; for bytes, the fraction). "
             "Prefill: 1 x T tokens; decode: one token at context C. Weights: every linear as stored for "
             "inference (packed codes + scales/zeros + fp32 leftovers such as an unquantized lm_head or a side "
             "branch); embeddings and norms (fp32 in both) excluded. Peak RSS: the whole process (both models). "
             "%.0f threads, CPU %s, kernels %s. Machines are shared (load 1m = /proc/loadavg at measurement "
             "start): compare ratios, not absolute speeds.",
             title ? title : "results", t->model, reps, t->threads, t->cpu ? t->cpu : "unknown",
             t->isa ? t->isa : "unknown");
}

/* The table as shown: formatted values with their ratio to FP32; a row
 * whose packed path could not run carries its error as its note. */
static void fill(const ltable *t, ptq_table *tab) {
    lcol c[2 * MAXV + 4];
    int nc = columns(t, c);
    tab->nlab = 2;
    ptq_table_col(tab, NULL, "Method");
    ptq_table_col(tab, NULL, "Bits");
    for (int i = 0; i < nc; i++) ptq_table_col(tab, NULL, "%s", c[i].head);
    for (int g = 0; g < t->ng; g++) {
        const lgroup *G = &t->g[g];
        ptq_table_row(tab, G->error);
        ptq_table_cell(tab, 0, "%s", label_of(G->first));
        ptq_table_cell(tab, 0, "%s", qspec_of(G->first));
        for (int i = 0; i < nc; i++) {
            double v, r;
            char s[64];
            col_vals(G, &c[i], &v, &r);
            fmt_cell(&c[i], v, r, s, sizeof s);
            ptq_table_cell(tab, 0, "%s", s);
        }
    }
}

/* The CSV: every measured metric, each column named after its key. */
static void fill_csv(const ltable *t, ptq_table *tab) {
    static const char *const fixed[] = {"method",       "bits",         "path",               "threads",
                                        "weight_bytes", "fp32_weight_bytes", "weight_ratio", "layer_weight_ratio",
                                        "peak_rss_kb",  "loadavg_1"};
    static const char *const prefill[] = {"prefill_T%d_tokens_per_sec", "fp32_prefill_T%d_tokens_per_sec",
                                          "prefill_T%d_speedup"};
    static const char *const decode[] = {"decode_ctx%d_tokens_per_sec", "fp32_decode_ctx%d_tokens_per_sec",
                                         "decode_ctx%d_speedup", "kv_bytes_ctx%d", "kv_ratio_ctx%d"};
    tab->nlab = 2;
    for (int i = 0; i < 10; i++) ptq_table_col(tab, NULL, "%s", fixed[i]);
    for (int i = 0; i < t->nT; i++)
        for (int k = 0; k < 3; k++) ptq_table_col(tab, NULL, prefill[k], t->Ts[i]);
    for (int i = 0; i < t->nC; i++)
        for (int k = 0; k < 5; k++) ptq_table_col(tab, NULL, decode[k], t->Cs[i]);
    ptq_table_col(tab, NULL, "error");
    for (int g = 0; g < t->ng; g++) {
        const lgroup *G = &t->g[g];
        const char *path = ptq_row_str(cJSON_GetObjectItemCaseSensitive(G->first, "metrics"), "path");
        ptq_table_row(tab, NULL);
        ptq_table_cell(tab, 0, "%s", label_of(G->first));
        ptq_table_cell(tab, 0, "%s", qspec_of(G->first));
        ptq_table_cell(tab, 0, "%s", G->error || !path ? "" : path);
        for (int c = 3; c < tab->ncols - 1; c++) {
            if (!strcmp(tab->head[c], "loadavg_1")) ptq_table_num(tab, "%.2f", gloadavg(G));
            else ptq_table_num(tab, "%.6g", gmetric(G, tab->head[c]));
        }
        ptq_table_cell(tab, 0, "%s", G->error ? G->error : "");
    }
}

/* ---- Pareto plots -------------------------------------------------------------- */
typedef struct {
    double x, y;
    const char *label, *bits;
} lpoint;

/* Mean ppl of the ppl rows of task `task` joined with group G. */
static double joined_ppl(const ltable *t, const lgroup *G, const char *task) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < t->rs->n; i++) {
        const cJSON *r = t->rs->rows[i];
        const char *k = ptq_row_str(r, "task");
        if (!k || strcmp(k, task) || !model_is(r, t->model) || !same_cell(r, G->first)) continue;
        double v = ptq_row_metric(r, "ppl");
        if (isfinite(v)) s += v, n++;
    }
    return n ? s / n : NAN;
}

static int g_xlow; /* cmp_x: ties in x keep the lowest y first in the direction of the sweep */
static int cmp_x(const void *a, const void *b) {
    const lpoint *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    int c = p->y < q->y ? -1 : p->y > q->y;
    return g_xlow ? c : -c;
}

/* Points that no other point beats on both axes (x lower is better when
 * x_low, else higher; y lower is better), in x order. */
static int front(lpoint *p, int n, int x_low, lpoint *out) {
    lpoint *s = malloc(sizeof *s * (size_t)(n ? n : 1));
    memcpy(s, p, sizeof *s * (size_t)n);
    g_xlow = x_low;
    qsort(s, n, sizeof *s, cmp_x);
    int m = 0;
    double best = INFINITY;
    for (int k = 0; k < n; k++) {
        int i = x_low ? k : n - 1 - k;
        if (s[i].y < best) best = s[i].y, out[m++] = s[i];
    }
    if (!x_low)
        for (int i = 0; i < m / 2; i++) {
            lpoint tmp = out[i];
            out[i] = out[m - 1 - i], out[m - 1 - i] = tmp;
        }
    free(s);
    return m;
}

static int plot_pareto(const ltable *t, const char *task, int decode, int ctx, const ptq_report_opts *o, FILE *figs,
                       ptq_err *err) {
    lpoint p[MAXG], fr[MAXG];
    int n = 0;
    char key[64];
    snprintf(key, sizeof key, "decode_ctx%d_tokens_per_sec", ctx);
    for (int g = 0; g < t->ng; g++) {
        const lgroup *G = &t->g[g];
        double y = joined_ppl(t, G, task), x = decode ? gmetric(G, key) : gmetric(G, "weight_bytes") / 1048576.0;
        if (G->error || !isfinite(x) || !isfinite(y) || y <= 0) continue;
        p[n++] = (lpoint){x, y, label_of(G->first), qspec_of(G->first)};
    }
    if (n < 2) return 0; /* nothing to trade off */
    double ymin = INFINITY, ymax = 0;
    char what[160], base[4400], fdat[4500];
    snprintf(what, sizeof what, "%s_%s", task + 4, decode ? "decode" : "weights");
    FILE *f = ptq_report_plot_data(o, "pareto_", t->model, what, base, sizeof base, err), *ff;
    if (!f) return -1;
    snprintf(fdat, sizeof fdat, "%s.front.dat", base);
    if (!(ff = fopen(fdat, "w"))) {
        fclose(f);
        return ptq_fail(err, "%s: cannot create", fdat);
    }
    for (int i = 0; i < n; i++)
        ymin = fmin(ymin, p[i].y), ymax = fmax(ymax, p[i].y);
    int logy = ymax > 3 * ymin;
    /* bit-widths in order of appearance: one point shape each */
    static const int shapes[] = {7, 5, 9, 11, 13, 15, 6, 4, 8, 10, 12, 14};
    const char *bits[12];
    int nb = 0;
    char bnames[1024] = "", pts[128] = "";
    for (int i = 0; i < n; i++) {
        int had = nb;
        if (ptq_report_add_unique(bits, &nb, 12, p[i].bits) != had) continue;
        snprintf(bnames + strlen(bnames), sizeof bnames - strlen(bnames), "%s ", p[i].bits);
        snprintf(pts + strlen(pts), sizeof pts - strlen(pts), "%d ", shapes[had]);
    }
    /* one block per method label (colour), point shape from its bits */
    const char *labels[MAXG];
    int nl = 0;
    char titles[8192] = "";
    for (int i = 0; i < n; i++) {
        int had = nl;
        if (ptq_report_add_unique(labels, &nl, MAXG, p[i].label) != had) continue;
        for (int k = 0; k < n; k++)
            if (!strcmp(p[k].label, p[i].label)) {
                int sh = 1;
                for (int j = 0; j < nb; j++)
                    if (!strcmp(bits[j], p[k].bits)) sh = shapes[j];
                fprintf(f, "%.9g %.9g %d\n", p[k].x, p[k].y, sh);
            }
        fprintf(f, "\n\n");
        snprintf(titles + strlen(titles), sizeof titles - strlen(titles), "%s ", p[i].label);
    }
    int nf = front(p, n, !decode, fr);
    /* block 0: the front in x order (the line); blocks 1..4: its labels, point
     * i in block 1 + i % 4, each block drawn at its own vertical offset so
     * that neighbours on the front do not overprint */
    for (int i = 0; i < nf; i++)
        fprintf(ff, "%.9g %.9g\n", fr[i].x, fr[i].y);
    fprintf(ff, "\n\n");
    for (int k = 0; k < 4; k++) {
        int any = 0;
        for (int i = k; i < nf; i += 4, any = 1)
            fprintf(ff, "%.9g %.9g \"%s %s\"\n", fr[i].x, fr[i].y, fr[i].label, fr[i].bits);
        fprintf(ff, any ? "\n\n" : "NaN NaN \"\"\n\n\n");
    }
    fclose(f);
    fclose(ff);
    char xlab[128], ttl[512], vars[16384];
    if (decode)
        snprintf(xlab, sizeof xlab, "decode tokens/s at context %d (packed path; higher is better)", ctx);
    else
        snprintf(xlab, sizeof xlab, "weight MiB as stored for inference (lower is better)");
    snprintf(ttl, sizeof ttl, "%s: perplexity (%s) vs %s", t->model, task + 4,
             decode ? "decode speed" : "weight bytes");
    snprintf(vars, sizeof vars,
             "datafile='%s.dat'; frontfile='%s'; outbase='%s'; xlab='%s'; ylab='perplexity, %s (lower is better%s)'; "
             "ttl='%s'; nblocks=%d; titles='%s'; logy=%d; nbits=%d; bitnames='%s'; pts='%s'; xzero=%d",
             base, fdat, base, xlab, task + 4, logy ? ", log scale" : "", ttl, nl, titles, logy, nb, bnames, pts,
             decode);
    return ptq_report_plot(o, "pareto.gp", vars, base, ttl,
                           "; one point per method (colour) and bit-width (shape); dashed and labelled: the Pareto "
                           "front.",
                           figs, err);
}

int ptq_report_latency(const ptq_rowset *rs, const char *model, const ptq_report_opts *o, FILE *out, FILE *tex_all,
                       FILE *figs, ptq_err *err) {
    if (!ptq_report_has_latency(rs, model)) return 0;
    ltable *t = calloc(1, sizeof *t);
    if (!t) return ptq_fail(err, "report: out of memory");
    build(t, rs, model);
    char cap[2048];
    caption(t, o->title, cap, sizeof cap);
    ptq_table shown = {.caption = cap, .note_prefix = "packed path unavailable: ", .tex_resize = 1}, csv = {0};
    fill(t, &shown);
    fill_csv(t, &csv);
    int rc = ptq_report_tables(&shown, &csv, o, model, "_latency", out, tex_all, err);
    ptq_table_free(&shown);
    ptq_table_free(&csv);
    /* the ppl datasets of this model, in order of appearance */
    const char *tasks[64];
    int ntasks = 0;
    for (int i = 0; i < rs->n && o->plots && !rc; i++) {
        const char *k = ptq_row_str(rs->rows[i], "task");
        if (k && !strncmp(k, "ppl:", 4) && model_is(rs->rows[i], model)) ptq_report_add_unique(tasks, &ntasks, 64, k);
    }
    for (int i = 0; i < ntasks && !rc; i++) {
        rc = plot_pareto(t, tasks[i], 0, 0, o, figs, err);
        if (!rc && t->nC) rc = plot_pareto(t, tasks[i], 1, t->Cs[0], o, figs, err);
    }
    free(t);
    return rc;
}
