/* compare.c — the regression gate (compare.h).
 *
 * Rows are matched by their "id" (model|method|bits|seed|task), so a new
 * code version (different cell keys) compares against an old baseline. The
 * gated metrics of a row and their rules come from its task kind
 * (eval/task.h): relative for perplexity and KLD, absolute and stderr-aware
 * for accuracies, a ratio for latency. Exit 1 on any regression, missing
 * row or invalid value (null, a string, non-finite, out of the metric's
 * range) on either side, 0 otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "stats.h"
#include "task.h"

void ptq_compare_tol_default(ptq_compare_tol *t) {
    t->ppl_rel = 0.01;
    t->kld_rel = 0.05;
    t->kld_abs = 1e-4;
    t->acc_abs = 0.01;
    t->stderr_k = 1.0;
    t->agree_abs = 1.0;
    t->lat_ratio = 1.5;
    t->lat_floor = 0.03;
    t->lat_k = 4.0;
}

int ptq_compare_tol_parse(const char *s, ptq_compare_tol *t, ptq_err *err) {
    static const struct {
        const char *name;
        size_t off;
    } keys[] = {
        {.name = "ppl", .off = offsetof(ptq_compare_tol, ppl_rel)},
        {.name = "kld", .off = offsetof(ptq_compare_tol, kld_rel)},
        {.name = "kld_abs", .off = offsetof(ptq_compare_tol, kld_abs)},
        {.name = "acc", .off = offsetof(ptq_compare_tol, acc_abs)},
        {.name = "k", .off = offsetof(ptq_compare_tol, stderr_k)},
        {.name = "agree", .off = offsetof(ptq_compare_tol, agree_abs)},
        {.name = "latency", .off = offsetof(ptq_compare_tol, lat_ratio)},
        {.name = "lat_floor", .off = offsetof(ptq_compare_tol, lat_floor)},
        {.name = "lat_k", .off = offsetof(ptq_compare_tol, lat_k)},
    };
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *sv = NULL, *tok = strtok_r(buf, ",", &sv); tok; tok = strtok_r(NULL, ",", &sv)) {
        char *eq = strchr(tok, '=');
        if (!eq) return ptq_fail(err, "--tol: expected NAME=VALUE, got '%s'", tok);
        *eq = 0;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !isfinite(v) || v < 0)
            return ptq_fail(err, "--tol %s: expected a non-negative number, got '%s'", tok, eq + 1);
        size_t k = 0, nk = sizeof keys / sizeof keys[0];
        while (k < nk && strcmp(keys[k].name, tok))
            k++;
        if (k == nk)
            return ptq_fail(err, "--tol: unknown tolerance '%s' (expected ppl, kld, kld_abs, acc, k, agree, latency, lat_floor, lat_k)",
                            tok);
        if (!strcmp(tok, "latency") && v < 1) return ptq_fail(err, "--tol latency: a ratio >= 1 is expected");
        *(double *)((char *)t + keys[k].off) = v;
    }
    return 0;
}

static const char *row_id(const cJSON *r) {
    const char *id = ptq_row_str(r, "id");
    return id ? id : ptq_row_str(r, "row_key");
}

static const cJSON *find_row(const ptq_rowset *rs, const char *id) {
    for (int i = 0; i < rs->n; i++) {
        const char *k = row_id(rs->rows[i]);
        if (k && !strcmp(k, id)) return rs->rows[i];
    }
    return NULL;
}

/* Allowed worsening and the signed worsening of new vs base for one rule. */
static void judge(int rule, double b, double n, double se_b, double se_n, const ptq_compare_tol *t, double *worse,
                  double *allowed) {
    switch (rule) {
    case PTQ_GATE_PPL:
        *worse = n - b, *allowed = fabs(b) * t->ppl_rel;
        break;
    case PTQ_GATE_KLD:
        *worse = n - b, *allowed = fabs(b) * t->kld_rel + t->kld_abs;
        break;
    case PTQ_GATE_ACC: {
        double se = sqrt((isfinite(se_b) ? se_b * se_b : 0) + (isfinite(se_n) ? se_n * se_n : 0));
        *worse = b - n, *allowed = PTQ_MAX(t->acc_abs, t->stderr_k * se);
        break;
    }
    case PTQ_GATE_AGREE:
        *worse = b - n, *allowed = t->agree_abs;
        break;
    case PTQ_GATE_SPEED: /* throughput: base/new is the slowdown */
        *worse = b / n, *allowed = t->lat_ratio;
        break;
    default: /* time: new/base is the slowdown */
        *worse = n / b, *allowed = t->lat_ratio;
        break;
    }
}

static int is_ratio(int rule) {
    return rule == PTQ_GATE_SPEED || rule == PTQ_GATE_TIME;
}

static const cJSON *metric_item(const cJSON *row, const char *name) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(row, "metrics");
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, name) : NULL;
    return v ? v : cJSON_GetObjectItemCaseSensitive(row, name);
}

/* NULL when v (present) is a valid value of a metric gated by rule, else
 * what it should be. */
static const char *invalid_value(const cJSON *v, int rule) {
    static const char *const want[] = {
        [PTQ_GATE_NONE] = "a finite number",    [PTQ_GATE_PPL] = "a finite number > 0",
        [PTQ_GATE_KLD] = "a finite number >= 0 (-1e-6 for rounding)", [PTQ_GATE_ACC] = "a finite number in [0, 1]",
        [PTQ_GATE_AGREE] = "a number in [0, 100]", [PTQ_GATE_SPEED] = "a finite number > 0",
        [PTQ_GATE_TIME] = "a finite number > 0",
    };
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    int ok = isfinite(x);
    if (ok && (rule == PTQ_GATE_PPL || rule == PTQ_GATE_SPEED || rule == PTQ_GATE_TIME)) ok = x > 0;
    if (ok && rule == PTQ_GATE_KLD) ok = x >= -1e-6; /* a divergence near 0 rounds slightly below it */
    if (ok && rule == PTQ_GATE_ACC) ok = x >= 0 && x <= 1;
    if (ok && rule == PTQ_GATE_AGREE) ok = x >= 0 && x <= 100;
    return ok ? NULL : want[rule];
}

/* A value that is not a valid metric fails the gate, on either side, with
 * a line on stderr naming the side, the row and the metric. */
static void flag_invalid(const char *side, const char *id, const char *metric, const cJSON *v, const char *want,
                        FILE *out, ptq_compare_summary *s) {
    char num[32], *text = cJSON_IsNumber(v) ? NULL : cJSON_PrintUnformatted(v);
    if (cJSON_IsNumber(v)) snprintf(num, sizeof num, "%.17g", v->valuedouble); /* cJSON prints inf as null */
    const char *shown = cJSON_IsNumber(v) ? num : text ? text : "?";
    fprintf(stderr, "error: compare: %s row '%s': metric '%s' is %s, expected %s\n", side, id, metric, shown, want);
    if (out) fprintf(out, "| %s | %s | | | | | INVALID %s value %s |\n", id, metric, side, shown);
    free(text);
    s->invalid++;
}

/* The gate's inputs, for intervals (side files) and seed groups. */
typedef struct {
    const ptq_rowset *cur, *base;
} gate_ctx;

/* A row's cell without its seed: "model|label|bits|sN|task" -> "model|label|bits|s*|task". */
static void group_of(const char *id, char *out, size_t cap) {
    const char *p = strstr(id, "|s");
    while (p && !(p[2] >= '0' && p[2] <= '9')) p = strstr(p + 1, "|s");
    const char *e = p ? strchr(p + 1, '|') : NULL;
    if (!p || !e) snprintf(out, cap, "%s", id);
    else snprintf(out, cap, "%.*s|s*%s", (int)(p - id), id, e);
}

/* Values of metric over the seed rows of group g in rs (up to 64). */
static int group_values(const ptq_rowset *rs, const char *g, const char *metric, double *v) {
    int n = 0;
    for (int i = 0; i < rs->n && n < 64; i++) {
        const char *id = row_id(rs->rows[i]);
        char gi[700];
        if (!id) continue;
        group_of(id, gi, sizeof gi);
        double x = ptq_row_metric(rs->rows[i], metric);
        if (!strcmp(gi, g) && isfinite(x) && !ptq_row_failed(rs->rows[i])) v[n++] = x;
    }
    return n;
}

/* Two-sided 97.5% quantile of Student's t with df degrees of freedom. */
static double t975(int df) {
    static const double q[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228};
    return df <= 0 ? INFINITY : df <= 10 ? q[df] : df <= 20 ? 2.086 : df <= 30 ? 2.042 : 1.96;
}

/* Worsening new - base (base - new for accuracies) of each baseline seed row
 * of group gid that has a row of the same id in the new results; the count,
 * or -1 when a baseline seed has none. */
static int paired_diffs(const gate_ctx *g, const char *gid, const char *metric, int acc, double *d) {
    int k = 0;
    for (int i = 0; i < g->base->n && k < 64; i++) {
        const char *idi = row_id(g->base->rows[i]);
        char gi[700];
        if (!idi) continue;
        group_of(idi, gi, sizeof gi);
        double b = ptq_row_metric(g->base->rows[i], metric);
        if (strcmp(gi, gid) || !isfinite(b) || ptq_row_failed(g->base->rows[i])) continue;
        const cJSON *nr = find_row(g->cur, idi);
        double n = nr && !ptq_row_failed(nr) ? ptq_row_metric(nr, metric) : NAN;
        if (!isfinite(n)) return -1;
        d[k++] = acc ? b - n : n - b;
    }
    return k;
}

/* The paired-bootstrap interval of new/base perplexity over the windows,
 * when both rows kept their per-window NLL; the text for the table. */
static void window_interval(const gate_ctx *g, const cJSON *nr, const cJSON *br, char *out, size_t cap) {
    ptq_side_set a, b;
    ptq_ci ci;
    ptq_err err;
    out[0] = 0;
    if (!cJSON_GetObjectItemCaseSensitive(nr, "side") || !cJSON_GetObjectItemCaseSensitive(br, "side")) return;
    if (ptq_side_load(g->cur, &nr, 1, "nll", &a, &err)) {
        snprintf(out, cap, "no interval: %s", err.msg);
        return;
    }
    if (ptq_side_load(g->base, &br, 1, "nll", &b, &err)) {
        snprintf(out, cap, "no interval: %s", err.msg);
        ptq_side_free(&a);
        return;
    }
    if (ptq_ppl_ratio_ci(&a, &b, &ci, &err)) snprintf(out, cap, "no interval: %s", err.msg);
    else snprintf(out, cap, "ratio %.4f [%.4f, %.4f] over windows", ci.point, ci.lo, ci.hi);
    ptq_side_free(&a);
    ptq_side_free(&b);
}

static void check_metric(const gate_ctx *g, const char *id, const char *metric, int rule, const char *se_name,
                         const cJSON *nr, const cJSON *br, const ptq_compare_tol *t, FILE *out,
                         ptq_compare_summary *s) {
    const cJSON *bv = metric_item(br, metric), *nv = metric_item(nr, metric);
    if (!bv && !nv) return; /* not a metric of this row */
    s->checked++;
    const char *bad_b = bv ? invalid_value(bv, rule) : NULL, *bad_n = nv ? invalid_value(nv, rule) : NULL;
    if (bad_b) flag_invalid("baseline", id, metric, bv, bad_b, out, s);
    if (bad_n) flag_invalid("new", id, metric, nv, bad_n, out, s);
    if (bad_b || bad_n) return;
    double b = ptq_row_metric(br, metric), n = ptq_row_metric(nr, metric);
    const char *status;
    double worse = NAN, allowed = NAN;
    char iv[600] = "", gid[700];
    /* several seeds on both sides: the seed means. With the same seeds, the
     * per-seed differences (each seed's calibration sample is the same on both
     * sides): a regression beyond their t interval and the deterministic
     * tolerance; otherwise outside the t interval of the difference of the
     * means (calibration noise is not a regression) */
    double vb[64], vn[64], mb, sb, mn, sn;
    group_of(id, gid, sizeof gid);
    int kb = rule == PTQ_GATE_PPL || rule == PTQ_GATE_KLD || rule == PTQ_GATE_ACC ? group_values(g->base, gid, metric, vb) : 0;
    int kn = kb > 1 ? group_values(g->cur, gid, metric, vn) : 0;
    if (kb > 1 && kn > 1 && nv && bv) {
        for (int i = 0; i < g->base->n && g->base->rows[i] != br; i++) { /* judged once, at the group's first row */
            const char *idi = row_id(g->base->rows[i]);
            char gi[700];
            if (idi) group_of(idi, gi, sizeof gi);
            if (idi && !strcmp(gi, gid) && isfinite(ptq_row_metric(g->base->rows[i], metric))) {
                s->checked--;
                return;
            }
        }
        ptq_mean_std(vb, kb, &mb, &sb), ptq_mean_std(vn, kn, &mn, &sn);
        double dd[64], md, sd;
        int kp = paired_diffs(g, gid, metric, rule == PTQ_GATE_ACC, dd);
        b = mb, n = mn, id = gid;
        worse = rule == PTQ_GATE_ACC ? mb - mn : mn - mb;
        if (kp == kb) { /* every baseline seed again: per-seed differences (the same calibration sample) */
            ptq_mean_std(dd, kp, &md, &sd);
            double half = t975(kp - 1) * sd / sqrt(kp), tol, w0;
            judge(rule, mb, mb, NAN, NAN, t, &w0, &tol); /* the deterministic tolerance at the baseline mean */
            allowed = PTQ_MAX(half, tol);
            snprintf(iv, sizeof iv,
                     "paired by seed (%d seeds): mean worsening %.6g, 95%% interval [%.6g, %.6g]; tolerance %.4g", kp,
                     md, md - half, md + half, tol);
        } else {
            double half = t975(kb + kn - 2) * sqrt(sb * sb / kb + sn * sn / kn);
            allowed = half;
            snprintf(iv, sizeof iv,
                     "seed means (%d new vs %d baseline seeds): 95%% interval of the difference [%.6g, %.6g]", kn, kb,
                     mn - mb - half, mn - mb + half);
        }
        status = worse > allowed ? "REGRESSION" : -worse > allowed ? "better" : "ok";
        s->regressions += worse > allowed, s->improved += -worse > allowed;
        if (out)
            fprintf(out, "| %s | %s | %.6g | %.6g | %.4g | %.4g | %s | %s |\n", id, metric, b, n, worse, allowed, iv, status);
        if (worse > allowed)
            fprintf(stderr, "regression: %s %s: %.6g -> %.6g (worse by %.4g, allowed %.4g); %s\n", id, metric, b, n,
                    worse, allowed, iv);
        return;
    }
    if (rule == PTQ_GATE_PPL && nv && bv) window_interval(g, nr, br, iv, sizeof iv);
    if (!nv) {
        status = "REGRESSION (missing)";
        s->regressions++;
    } else if (!bv) {
        status = "ok (no baseline value)";
    } else {
        double se_b = se_name ? ptq_row_metric(br, se_name) : NAN, se_n = se_name ? ptq_row_metric(nr, se_name) : NAN;
        judge(rule, b, n, se_b, se_n, t, &worse, &allowed);
        if (worse > allowed) {
            status = "REGRESSION";
            s->regressions++;
        } else if (is_ratio(rule) ? worse < 1.0 / allowed : -worse > allowed) {
            status = "better";
            s->improved++;
        } else
            status = "ok";
    }
    if (out)
        fprintf(out, "| %s | %s | %.6g | %.6g | %s%.4g | %s%.4g | %s | %s |\n", id, metric, b, n,
                is_ratio(rule) ? "x" : "", worse, is_ratio(rule) ? "x" : "", allowed, iv, status);
    if (!strncmp(status, "REGRESSION", 10))
        fprintf(stderr, "regression: %s %s: %.6g -> %.6g (worse by %.4g, allowed %.4g)%s%s\n", id, metric, b, n, worse,
                allowed, iv[0] ? "; " : "", iv);
}

static int ends_with(const char *s, const char *suf) {
    size_t l = strlen(s), k = strlen(suf);
    return l >= k && !strcmp(s + l - k, suf);
}

/* Standard error (in logs) of one latency row's ratio <w>_speedup from its
 * own repetitions: the spread of the adjacent packed/FP32 pairs
 * (<w>_speedup_log_sd over reps; x1.25 for a median), else (older rows)
 * half the log range of each path's min..max, combined. */
static double within_se(const cJSON *r, const char *metric) {
    char w[200], k[300];
    snprintf(k, sizeof k, "%s_log_sd", metric);
    double sd = ptq_row_metric(r, k), reps = ptq_row_metric(r, "reps");
    if (isfinite(sd) && reps >= 2) return 1.2533 * sd / sqrt(reps);
    snprintf(w, sizeof w, "%.*s", (int)(strlen(metric) - 8), metric); /* strip "_speedup" */
    double q[2], f[2];
    snprintf(k, sizeof k, "%s_tokens_per_sec_min", w), q[0] = ptq_row_metric(r, k);
    snprintf(k, sizeof k, "%s_tokens_per_sec_max", w), q[1] = ptq_row_metric(r, k);
    snprintf(k, sizeof k, "fp32_%s_tokens_per_sec_min", w), f[0] = ptq_row_metric(r, k);
    snprintf(k, sizeof k, "fp32_%s_tokens_per_sec_max", w), f[1] = ptq_row_metric(r, k);
    double sq = q[0] > 0 && q[1] > 0 ? 0.5 * log(q[1] / q[0]) : 0, sf = f[0] > 0 && f[1] > 0 ? 0.5 * log(f[1] / f[0]) : 0;
    return sqrt(sq * sq + sf * sf);
}

/* One side of the latency gate: the mean log ratio over the cell's runs
 * (rows of the group in rs) and its variance, the larger of the spread
 * between the runs and the runs' own repetition noise, over the run count. */
static int lat_side(const ptq_rowset *rs, const char *gid, const char *metric, double *mean, double *var, double *la) {
    double l[64], e2 = 0;
    int k = 0;
    *la = NAN;
    for (int i = 0; i < rs->n && k < 64; i++) {
        const char *id = row_id(rs->rows[i]);
        char gi[700];
        if (!id) continue;
        group_of(id, gi, sizeof gi);
        double x = ptq_row_metric(rs->rows[i], metric);
        if (strcmp(gi, gid) || !(x > 0) || !isfinite(x) || ptq_row_failed(rs->rows[i])) continue;
        double e = within_se(rs->rows[i], metric);
        l[k++] = log(x), e2 += e * e;
        if (isnan(*la)) *la = ptq_row_metric(rs->rows[i], "loadavg_1");
    }
    if (!k) return 0;
    double sd;
    ptq_mean_std(l, k, mean, &sd);
    *var = PTQ_MAX(sd * sd, e2 / k) / k;
    return k;
}

/* Latency through a noise model: the packed/FP32 ratio of one run (the
 * machine's speed cancels), averaged in logs over the repeated runs of the
 * cell (its seed rows); its noise sigma from both sides' runs (lat_side). A
 * regression is a drop of the ratio beyond max(lat_floor, lat_k * sigma);
 * the interval, the run counts and the load averages are shown. */
static void check_speedup(const gate_ctx *g, const char *id, const char *metric, const cJSON *br,
                          const ptq_compare_tol *t, FILE *out, ptq_compare_summary *s) {
    char gid[700];
    double mb, mn, vb, vn, lab, lan;
    group_of(id, gid, sizeof gid);
    for (int i = 0; i < g->base->n && g->base->rows[i] != br; i++) { /* once per group */
        const char *idi = row_id(g->base->rows[i]);
        char gi[700];
        if (idi) group_of(idi, gi, sizeof gi);
        if (idi && !strcmp(gi, gid) && isfinite(ptq_row_metric(g->base->rows[i], metric))) return;
    }
    int kb = lat_side(g->base, gid, metric, &mb, &vb, &lab), kn = lat_side(g->cur, gid, metric, &mn, &vn, &lan);
    const char *shown = kb > 1 || kn > 1 ? gid : id;
    s->checked++;
    if (kn < 1 || kb < 1) {
        if (kn < 1) s->regressions++;
        if (out) fprintf(out, "| %s | %s | | | | | | %s |\n", shown, metric, kn < 1 ? "REGRESSION (missing)" : "ok (no baseline value)");
        return;
    }
    double sigma = sqrt(vb + vn), z = 1.959964 * sigma;
    double drop = 1 - exp(mn - mb), allowed = PTQ_MAX(t->lat_floor, 1 - exp(-t->lat_k * sigma));
    const char *status = drop > allowed ? "REGRESSION" : -drop > allowed ? "better" : "ok";
    s->regressions += drop > allowed, s->improved += -drop > allowed;
    char iv[400];
    snprintf(iv, sizeof iv,
             "packed/FP32 ratio new/old %.4f, 95%% interval [%.4f, %.4f] (%d new vs %d old runs, noise sigma %.4f in "
             "logs); flagged below %.4g; load avg %.3g -> %.3g",
             exp(mn - mb), exp(mn - mb - z), exp(mn - mb + z), kn, kb, sigma, exp(mb) * (1 - allowed), lab, lan);
    if (out)
        fprintf(out, "| %s | %s | %.6g | %.6g | %.1f%% | %.1f%% | %s | %s |\n", shown, metric, exp(mb), exp(mn),
                100 * drop, 100 * allowed, iv, status);
    if (drop > allowed)
        fprintf(stderr, "regression: %s %s: %.4g -> %.4g (-%.1f%%, allowed %.1f%%); %s\n", shown, metric, exp(mb),
                exp(mn), 100 * drop, 100 * allowed, iv);
}

/* The gates of a row's task kind: its listed metrics, then its metrics gated
 * by name. A row of an unknown kind gets every kind's listed gates. */
static void check_row(const gate_ctx *gc, const char *id, const cJSON *nr, const cJSON *br, const ptq_compare_tol *t,
                      FILE *out, ptq_compare_summary *s) {
    const ptq_task_kind *k = ptq_task_kind_of(ptq_row_str(br, "task"));
    for (int i = 0; ptq_task_kinds[i]; i++) {
        const ptq_task_kind *ki = ptq_task_kinds[i];
        if (k && ki != k) continue;
        for (const ptq_gate *g = ki->gates; g && g->metric; g++) {
            int seen = 0; /* listed by an earlier kind (unknown-kind rows) */
            for (int j = 0; !k && j < i && !seen; j++)
                for (const ptq_gate *h = ptq_task_kinds[j]->gates; h && h->metric; h++)
                    seen |= !strcmp(h->metric, g->metric);
            if (!seen) check_metric(gc, id, g->metric, g->rule, g->stderr_metric, nr, br, t, out, s);
        }
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(br, "metrics");
    int noise = 0; /* the row measured packed/FP32 ratios: those are gated, absolute speeds only shown */
    for (const cJSON *it = m && k && k->gate_of ? m->child : NULL; it; it = it->next)
        noise |= ends_with(it->string, "_speedup");
    for (const cJSON *it = m && k && k->gate_of ? m->child : NULL; it; it = it->next) {
        ptq_gate_rule rule = k->gate_of(it->string);
        if (noise && ends_with(it->string, "_speedup")) check_speedup(gc, id, it->string, br, t, out, s);
        else if (noise && rule != PTQ_GATE_NONE && out)
            fprintf(out, "| %s | %s | %.6g | %.6g | | | machine speed: gated through the packed/FP32 ratio | info |\n", id,
                    it->string, ptq_row_metric(br, it->string), ptq_row_metric(nr, it->string));
        else if (rule != PTQ_GATE_NONE) check_metric(gc, id, it->string, rule, NULL, nr, br, t, out, s);
    }
}

int ptq_compare(const ptq_rowset *cur, const ptq_rowset *base, const ptq_compare_tol *t, FILE *out,
                ptq_compare_summary *s, ptq_err *err) {
    memset(s, 0, sizeof *s);
    if (base->n == 0) return ptq_fail(err, "the baseline has no rows");
    if (out)
        fprintf(out, "| id | metric | baseline | new | worse by | allowed | interval | status |\n"
                     "|---|---|---:|---:|---:|---:|---|---|\n");
    gate_ctx gc = {.cur = cur, .base = base};
    for (int i = 0; i < base->n; i++) {
        const char *id = row_id(base->rows[i]);
        if (!id) return ptq_fail(err, "baseline row %d has no \"id\" or \"row_key\"", i + 1);
        const cJSON *nr = find_row(cur, id);
        if (!nr) {
            s->missing++;
            if (out) fprintf(out, "| %s | - | | | | | MISSING in new results |\n", id);
            continue;
        }
        if (ptq_row_failed(nr) || ptq_row_failed(base->rows[i])) { /* no value to gate: a failure */
            const cJSON *fr = ptq_row_failed(nr) ? nr : base->rows[i];
            const char *why = ptq_row_str(fr, "error");
            fprintf(stderr, "error: compare: %s row '%s' is a failed cell: %s\n", fr == nr ? "new" : "baseline", id,
                    why ? why : "?");
            if (out) fprintf(out, "| %s | - | | | | | FAILED cell (%s) |\n", id, fr == nr ? "new" : "baseline");
            s->invalid++;
            continue;
        }
        check_row(&gc, id, nr, base->rows[i], t, out, s);
    }
    for (int i = 0; i < cur->n; i++) {
        const char *id = row_id(cur->rows[i]);
        if (id && !find_row(base, id)) {
            s->added++;
            if (out) fprintf(out, "| %s | - | | | | | new (not in baseline) |\n", id);
        }
    }
    return 0;
}
