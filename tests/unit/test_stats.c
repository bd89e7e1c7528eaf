/* test_stats.c — side files and paired comparisons: per-window values
 * written through the results store as float32 files named by sha256 and
 * read back whole; the paired bootstrap of a perplexity ratio gives exactly
 * [1, 1] for a model against itself, excludes 1 for a perturbed copy,
 * narrows as windows grow and is deterministic; a missing or altered side
 * file and different window sets give an error (never an interval);
 * McNemar's exact p (also in report --vs for one-seed zero-shot cells);
 * the report marks values whose interval against the best contains 1 and
 * warns (mean only) on a bad side file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "report.h"
#include "stats.h"
#include "testutil.h"

static char dir[128];

/* A ppl row of `label`, seed, over n windows with per-window mean NLL v. */
static cJSON *ppl_row(const char *label, int seed, const char *task, const char *data, const float *v, int n) {
    cJSON *r = cJSON_CreateObject(), *m = cJSON_CreateObject(), *side = cJSON_CreateObject(), *a = cJSON_CreateArray();
    double mean = 0;
    for (int w = 0; w < n; w++) mean += v[w], cJSON_AddItemToArray(a, cJSON_CreateNumber(v[w]));
    static int index;
    cJSON_AddStringToObject(r, "model", "m");
    cJSON_AddStringToObject(r, "label", label);
    cJSON_AddStringToObject(r, "bits", "W4A4");
    cJSON_AddNumberToObject(r, "seed", seed);
    cJSON_AddNumberToObject(r, "index", index++);
    cJSON_AddStringToObject(r, "task", task);
    cJSON_AddStringToObject(r, "dataset_sha256", data);
    cJSON_AddNumberToObject(m, "ppl", exp(mean / n));
    cJSON_AddNumberToObject(m, "windows", n);
    cJSON_AddNumberToObject(m, "seqlen", 64);
    cJSON_AddStringToObject(m, "protocol", "gptq");
    cJSON_AddStringToObject(m, "denominator", "tokens");
    cJSON_AddItemToObject(r, "metrics", m);
    cJSON_AddItemToObject(side, "nll", a);
    cJSON_AddItemToObject(r, "side", side);
    char key[64];
    snprintf(key, sizeof key, "%s|%d|%s|%s", label, seed, task, data);
    cJSON_AddStringToObject(r, "row_key", key);
    return r;
}

/* A zero-shot row: per-item outcomes o[0..n). */
static cJSON *zs_row(const char *label, const float *o, int n) {
    cJSON *r = cJSON_CreateObject(), *m = cJSON_CreateObject(), *side = cJSON_CreateObject(), *a = cJSON_CreateArray();
    double acc = 0;
    for (int i = 0; i < n; i++) acc += o[i], cJSON_AddItemToArray(a, cJSON_CreateNumber(o[i]));
    cJSON_AddStringToObject(r, "model", "m");
    cJSON_AddStringToObject(r, "label", label);
    cJSON_AddStringToObject(r, "bits", "W4A4");
    cJSON_AddNumberToObject(r, "seed", 0);
    cJSON_AddNumberToObject(r, "index", 1000);
    cJSON_AddStringToObject(r, "task", "zeroshot:piqa");
    cJSON_AddStringToObject(r, "dataset_sha256", "z1");
    cJSON_AddNumberToObject(m, "acc", acc / n);
    cJSON_AddNumberToObject(m, "n", n);
    cJSON_AddItemToObject(r, "metrics", m);
    cJSON_AddItemToObject(side, "acc", a);
    cJSON_AddItemToObject(r, "side", side);
    cJSON_AddStringToObject(r, "row_key", label);
    return r;
}

static ptq_results_writer w;

static void put(cJSON *r) {
    ptq_err err;
    CHECK(ptq_results_append(&w, &r, 1, &err) == 0);
    cJSON_Delete(r);
}

/* The seed rows of (label, task) in rs. */
static int rows_of(const ptq_rowset *rs, const char *label, const char *task, const cJSON **out) {
    int k = 0;
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(ptq_row_str(rs->rows[i], "label"), label) && !strcmp(ptq_row_str(rs->rows[i], "task"), task))
            out[k++] = rs->rows[i];
    return k;
}

static int ratio(const ptq_rowset *rs, const char *a, const char *b, const char *task, ptq_ci *ci, ptq_err *err) {
    const cJSON *ra[8], *rb[8];
    ptq_side_set sa, sb;
    int ka = rows_of(rs, a, task, ra), kb = rows_of(rs, b, task, rb);
    if (ptq_side_load(rs, ra, ka, "nll", &sa, err)) return -1;
    if (ptq_side_load(rs, rb, kb, "nll", &sb, err)) return ptq_side_free(&sa), -1;
    int rc = ptq_ppl_ratio_ci(&sa, &sb, ci, err);
    ptq_side_free(&sa), ptq_side_free(&sb);
    return rc;
}

static char *slurp(const char *path) {
    char *t = NULL;
    size_t n;
    ptq_err err;
    if (ptq_read_file(path, &t, &n, &err)) fprintf(stderr, "%s\n", err.msg);
    return t ? t : calloc(1, 1);
}

/* Does the table line starting with `start` contain s? */
static int line_has(const char *md, const char *start, const char *s) {
    const char *l = strstr(md, start), *e = l ? strchr(l, '\n') : NULL, *h = l ? strstr(l, s) : NULL;
    return h && h < e;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ptq_test_stats.%d", (int)getpid());
    char path[256];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    ptq_err err;
    CHECK(ptq_results_open(&w, path, &err) == 0);
    ptq_rng r;
    ptq_rng_seed(&r, 7);
    enum { N = 256 };
    float base[N], v[N];
    for (int i = 0; i < N; i++) base[i] = (float)(2.0 + 0.5 * ptq_rng_normal(&r)); /* windows differ a lot */
    /* "best": 3 seeds (calibration noise per window); "same": identical values;
     * "worse": +1% NLL; "tie": zero-mean noise around best; "bad": side file altered below */
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < N; i++) v[i] = base[i] + (float)(0.002 * ptq_rng_normal(&r));
        put(ppl_row("best", s, "ppl:a", "d1", v, 16));
        put(ppl_row("same", s, "ppl:a", "d1", v, 16));
        put(ppl_row("best", s, "ppl:big", "d2", v, N));
        for (int i = 0; i < N; i++) v[i] += (float)(0.02 + 0.004 * ptq_rng_normal(&r));
        put(ppl_row("worse", s, "ppl:a", "d1", v, 16));
        for (int i = 0; i < N; i++) v[i] -= 0.02f;
        put(ppl_row("tie", s, "ppl:a", "d1", v, 16));
        put(ppl_row("tie", s, "ppl:big", "d2", v, N));
        for (int i = 0; i < N; i++) v[i] += 0.001f; /* side files are named by content: their own values */
        put(ppl_row("bad", s, "ppl:a", "d1", v, 16));
        for (int i = 0; i < N; i++) v[i] += 0.001f;
        put(ppl_row("other", s, "ppl:a", "d9", v, 16)); /* other data */
        for (int i = 0; i < N; i++) v[i] += 0.001f;
        put(ppl_row("mixed", s, "ppl:a", s == 2 ? "d9" : "d1", v, 16)); /* one seed on other windows */
    }
    float za[40], zb[40]; /* zA right where zB is wrong on 10 items, the same elsewhere */
    for (int i = 0; i < 40; i++) za[i] = i < 10 || i % 3 == 0, zb[i] = i >= 10 && i % 3 == 0;
    put(zs_row("zA", za, 40));
    put(zs_row("zB", zb, 40));
    ptq_results_close(&w);

    /* side files: content-named float32, the row names them, same content = one file */
    char *text = slurp(path);
    CHECK(strstr(text, "\"side\":{\"nll\":{\"file\":\"side/") && !strstr(text, "\"nll\":[")); /* no arrays in rows */
    free(text);
    ptq_rowset rs = {0};
    CHECK(ptq_results_read(dir, &rs, &err) == 0 && rs.n == 29);
    float *x;
    int n;
    CHECK(ptq_row_side(&rs, rs.rows[0], "nll", &x, &n, &err) == 0 && n == 16);
    free(x);
    const cJSON *ref0 = cJSON_GetObjectItem(cJSON_GetObjectItem(rs.rows[0], "side"), "nll");
    const cJSON *ref1 = cJSON_GetObjectItem(cJSON_GetObjectItem(rs.rows[1], "side"), "nll");
    CHECK(!strcmp(ptq_row_str(ref0, "file"), ptq_row_str(ref1, "file"))); /* best and same: one file */

    /* a model against itself: exactly 1 */
    ptq_ci ci, ci2;
    CHECK(ratio(&rs, "best", "same", "ppl:a", &ci, &err) == 0);
    CHECK(ci.point == 1.0 && ci.lo == 1.0 && ci.hi == 1.0);
    CHECK(ratio(&rs, "best", "best", "ppl:big", &ci, &err) == 0 && ci.lo == 1.0 && ci.hi == 1.0);
    /* a perturbed copy (+0.02 nats per token): excluded, about exp(0.02) */
    CHECK(ratio(&rs, "worse", "best", "ppl:a", &ci, &err) == 0);
    CHECK(ci.lo > 1.0 && ci.lo <= ci.point && ci.point <= ci.hi);
    CHECK_NEAR(ci.point, exp(0.02), 0.003);
    CHECK(ratio(&rs, "worse", "best", "ppl:a", &ci2, &err) == 0); /* deterministic */
    CHECK(ci2.lo == ci.lo && ci2.hi == ci.hi);
    /* zero-mean noise: the interval holds 1 and narrows with 16x the windows */
    CHECK(ratio(&rs, "tie", "best", "ppl:a", &ci, &err) == 0 && ci.lo < 1.0 && ci.hi > 1.0);
    CHECK(ratio(&rs, "tie", "best", "ppl:big", &ci2, &err) == 0 && ci2.lo <= 1.0 && ci2.hi >= 1.0);
    CHECK(ci2.hi - ci2.lo < 0.5 * (ci.hi - ci.lo));
    /* other windows: refused, for a pair and within a cell's seeds */
    CHECK(ratio(&rs, "other", "best", "ppl:a", &ci, &err) == -1 && strstr(err.msg, "refused for pairing"));
    CHECK(ratio(&rs, "mixed", "best", "ppl:a", &ci, &err) == -1 && strstr(err.msg, "not paired"));

    /* a missing side file, an altered one */
    const cJSON *bad[8];
    rows_of(&rs, "bad", "ppl:a", bad);
    char fp[512];
    snprintf(fp, sizeof fp, "%s/%s", dir, ptq_row_str(cJSON_GetObjectItem(cJSON_GetObjectItem(bad[0], "side"), "nll"), "file"));
    FILE *f = fopen(fp, "r+b");
    int c0 = f ? fgetc(f) : EOF;
    CHECK(f && c0 != EOF && fseek(f, 0, SEEK_SET) == 0 && fputc(c0 ^ 0xff, f) != EOF);
    if (f) fclose(f);
    CHECK(ratio(&rs, "bad", "best", "ppl:a", &ci, &err) == -1 && strstr(err.msg, "does not match"));
    const cJSON *oth[8];
    rows_of(&rs, "other", "ppl:a", oth);
    snprintf(fp, sizeof fp, "%s/%s", dir, ptq_row_str(cJSON_GetObjectItem(cJSON_GetObjectItem(oth[1], "side"), "nll"), "file"));
    CHECK(unlink(fp) == 0);
    CHECK(ratio(&rs, "other", "other", "ppl:a", &ci, &err) == -1 && strstr(err.msg, "missing"));

    /* McNemar: all 10 disagreements one way: p = 2 / 2^10; 2 vs 8: 2 * 56 / 1024 */
    CHECK_NEAR(ptq_mcnemar_p(0, 10), 2.0 / 1024, 1e-12);
    CHECK_NEAR(ptq_mcnemar_p(8, 2), 2.0 * 56 / 1024, 1e-12);
    CHECK(ptq_mcnemar_p(5, 5) == 1.0 && ptq_mcnemar_p(0, 0) == 1.0);

    /* mean and std share their decimals, two significant digits of the std */
    static const struct {
        double mean, std;
        const char *m, *s;
    } pm[] = {{1497.3, 118.14, "1497", "118"}, {61.5612, 0.8312, "61.56", "0.83"}, {5.38291, 0.06123, "5.383", "0.061"},
              {966.5, 0, "966.50", "0.00"},    {7.0, 9.96, "7.0", "10.0"},       {-1e-9, 0.004, "0.0000", "0.0040"},
              {3.0, 1e-12, "3.000000", "0.000000"}};
    for (size_t i = 0; i < sizeof pm / sizeof pm[0]; i++) {
        char m[32], sd[32];
        ptq_fmt_pm(pm[i].mean, pm[i].std, 2, m, sizeof m, sd, sizeof sd);
        CHECK(!strcmp(m, pm[i].m) && !strcmp(sd, pm[i].s));
    }
    CHECK(ptq_pm_decimals(NAN, 4) == 4 && ptq_pm_decimals(250, 2) == 0);

    /* the report: best bold, tie and same marked, worse not, bad warned and unmarked */
    ptq_report_opts o = {.out_dir = dir, .formats = PTQ_FMT_MD | PTQ_FMT_TEX | PTQ_FMT_CSV, .title = "unit"};
    CHECK(ptq_report(&rs, &o, NULL, &err) == 0);
    snprintf(fp, sizeof fp, "%s/table_m.md", dir);
    char *md = slurp(fp);
    CHECK(line_has(md, "| same | ", "(3)**\xe2\x80\xa0 |")); /* tied with the best at 2 decimals: bold too */
    CHECK(line_has(md, "| tie | ", "(3)**\xe2\x80\xa0 |"));
    CHECK(line_has(md, "| worse | ", "(3) |") && !line_has(md, "| worse | ", "\xe2\x80\xa0"));
    CHECK(line_has(md, "| bad | ", "(3)** |") && !line_has(md, "| bad | ", "\xe2\x80\xa0"));
    CHECK(strstr(md, "paired bootstrap") && strstr(md, "not tested"));
    free(md);
    snprintf(fp, sizeof fp, "%s/table_m.tex", dir);
    char *tex = slurp(fp);
    CHECK(strstr(tex, "\\underline{") && strstr(tex, "$\\pm$"));
    free(tex);
    snprintf(fp, sizeof fp, "%s/summary.json", dir);
    char *js = slurp(fp);
    CHECK(strstr(js, "\"vs_best_lo\"") && strstr(js, "\"values\""));
    free(js);
    /* the gate shows the window interval of new/base for a row with side values */
    ptq_compare_tol tol;
    ptq_compare_tol_default(&tol);
    ptq_compare_summary sum;
    FILE *cf = tmpfile();
    CHECK(ptq_compare(&rs, &rs, &tol, cf, &sum, &err) == 0 && sum.regressions == 0);
    char buf[1 << 15];
    rewind(cf);
    buf[fread(buf, 1, sizeof buf - 1, cf)] = 0;
    fclose(cf);
    CHECK(strstr(buf, "| best|0|ppl:a|d1 | ppl |") && strstr(buf, "ratio 1.0000 [1.0000, 1.0000] over windows"));
    CHECK(strstr(buf, "no interval: side file") && strstr(buf, "does not match"));

    /* --vs: the ratio to a reference with its interval; significant ones marked */
    o.vs = "best";
    o.formats = PTQ_FMT_MD;
    CHECK(ptq_report(&rs, &o, NULL, &err) == 0);
    snprintf(fp, sizeof fp, "%s/table_m_vs_best.md", dir);
    md = slurp(fp);
    CHECK(line_has(md, "| W4A4 | worse | a | 7.20 | 7.06 | 1.0", "]\xe2\x80\xa0 |"));
    CHECK(line_has(md, "| W4A4 | tie | a |", "] |")); /* holds 1: not marked */
    CHECK(line_has(md, "| W4A4 | same | a | 7.06 | 7.06 | 1.0000 | [1.0000, 1.0000] |", "|"));
    CHECK(line_has(md, "| W4A4 | bad | a |", " | - |"));
    free(md);
    /* zero-shot: paired bootstrap of the difference, McNemar on the items (10 vs 0 disagreements) */
    o.vs = "zB";
    CHECK(ptq_report(&rs, &o, NULL, &err) == 0);
    snprintf(fp, sizeof fp, "%s/table_m_vs_zB.md", dir);
    md = slurp(fp);
    CHECK(line_has(md, "| W4A4 | zA | 0-shot avg | 50.0 | 25.0 | +25.0 | [", "]\xe2\x80\xa0 | 0.00195 |"));
    free(md);
    ptq_rowset_free(&rs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!getenv("KEEP")) CHECK(system(cmd) == 0);
    return tu_done("test_stats");
}
