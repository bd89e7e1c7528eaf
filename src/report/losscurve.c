/* losscurve.c — loss-curve figures of learned cells (losscurve.h):
 * scripts/gnuplot/losscurve.gp on a "step loss" data file; the steps a
 * resumed or stopped run did not record (null) are left out. */
#include "losscurve.h"

#include <math.h>
#include <string.h>

static int seen(const ptq_rowset *rs, int i, const char *key) {
    for (int j = 0; j < i && key; j++) {
        const char *k = ptq_row_str(rs->rows[j], "key");
        if (k && !strcmp(k, key)) return 1;
    }
    return 0;
}

static int plot_one(const cJSON *r, const cJSON *curve, const ptq_report_opts *o, FILE *figs, ptq_err *err) {
    const char *model = ptq_row_str(r, "model"), *label = ptq_row_str(r, "label"), *bits = ptq_row_str(r, "bits");
    if (!model) model = "model";
    if (!label) label = ptq_row_str(r, "method");
    if (!bits) bits = ptq_row_str(r, "qspec");
    double seed = ptq_row_metric(r, "seed");
    char what[512], base[4600], vars[5200], title[640];
    snprintf(what, sizeof what, "%s_%s_s%.0f", label ? label : "method", bits ? bits : "", isfinite(seed) ? seed : 0);
    FILE *f = ptq_report_plot_data(o, "loss_", model, what, base, sizeof base, err);
    if (!f) return -1;
    int step = 0, n = 0;
    for (const cJSON *v = curve->child; v; v = v->next, step++)
        if (cJSON_IsNumber(v)) fprintf(f, "%d %.9g\n", step, v->valuedouble), n++;
    fclose(f);
    if (n == 0) return 0;
    snprintf(title, sizeof title, "%s: %s %s, calibration loss per step", model, label ? label : "", bits ? bits : "");
    for (char *q = title; *q; q++) /* gnuplot's single-quoted strings */
        if (*q == '\'') *q = '"';
    snprintf(vars, sizeof vars, "datafile='%s.dat'; outbase='%s'; ttl='%s'", base, base, title);
    return ptq_report_plot(o, "losscurve.gp", vars, base, title, ".", figs, err);
}

int ptq_report_loss_curves(const ptq_rowset *rs, const ptq_report_opts *o, FILE *figs, ptq_err *err) {
    for (int i = 0; i < rs->n; i++) {
        const cJSON *r = rs->rows[i];
        const cJSON *mi = cJSON_GetObjectItemCaseSensitive(r, "method_info");
        const cJSON *curve =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(mi, "learning"), "loss_curve");
        if (!cJSON_IsArray(curve) || seen(rs, i, ptq_row_str(r, "key"))) continue;
        if (plot_one(r, curve, o, figs, err)) return -1;
    }
    return 0;
}
