/* test_compare.c — the regression gate on synthetic rows: identical results
 * pass, a perturbed ppl/KLD/accuracy fails, stderr widens the accuracy
 * tolerance, a missing row fails, seed groups are judged by their means
 * against the t interval of the difference, latency through the packed/FP32
 * ratio (a slower machine is no alarm, a 20% slower packed path is; noisy
 * repetitions widen the band), a value that is no valid metric (null, a
 * string, nan, out of range) fails on either side, tolerances parse strictly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "testutil.h"

static cJSON *row(const char *id, const char *task, const char *k1, double v1, const char *k2, double v2) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "task", task);
    cJSON *m = cJSON_AddObjectToObject(r, "metrics");
    cJSON_AddNumberToObject(m, k1, v1);
    if (k2) cJSON_AddNumberToObject(m, k2, v2);
    return r;
}

static void set(ptq_rowset *rs, double ppl, double kld, double acc, double acc_se, double tps) {
    ptq_rowset_free(rs);
    static cJSON *rows[4];
    rows[0] = row("m|rtn|W4A4|s0|ppl:wikitext2", "ppl:wikitext2", "ppl", ppl, NULL, 0);
    rows[1] = row("m|rtn|W4A4|s0|kld:tinystories", "kld:tinystories", "kld_mean", kld, NULL, 0);
    rows[2] = row("m|rtn|W4A4|s0|zeroshot:piqa", "zeroshot:piqa", "acc", acc, "acc_stderr", acc_se);
    rows[3] = row("m|rtn|W4A4|s0|latency", "latency", "decode_tokens_per_sec", tps, "prefill_ms", 100);
    rs->rows = malloc(sizeof rows);
    memcpy(rs->rows, rows, sizeof rows);
    rs->n = rs->cap = 4;
}

/* Three seeds of one cell with ppl values v. */
static void seeds_from(ptq_rowset *rs, const double *v, int s0);
static void seeds(ptq_rowset *rs, const double *v) {
    seeds_from(rs, v, 0);
}

/* Three seed rows s0.. s0+2 of one gptq cell. */
static void seeds_from(ptq_rowset *rs, const double *v, int s0) {
    ptq_rowset_free(rs);
    rs->rows = malloc(3 * sizeof(cJSON *));
    for (int i = 0; i < 3; i++) {
        char id[64];
        snprintf(id, sizeof id, "m|gptq|W4A4|s%d|ppl:wikitext2", s0 + i);
        rs->rows[i] = row(id, "ppl:wikitext2", "ppl", v[i], NULL, 0);
    }
    rs->n = rs->cap = 3;
}

/* k runs of one latency cell: packed/FP32 ratio sp[i], absolute decode speed tps, each path's
 * repetitions spread +-spread around it; with log_sd > 0, the paired repetitions' spread
 * (decode_ctx511_speedup_log_sd over 25 reps) as eval/latency.c records it. */
static void lat_runs_sd(ptq_rowset *rs, const double *sp, int k, double tps, double spread, double log_sd) {
    ptq_rowset_free(rs);
    rs->rows = malloc((size_t)k * sizeof(cJSON *));
    for (int i = 0; i < k; i++) {
        char id[64];
        snprintf(id, sizeof id, "m|rtn|W4A4|s%d|latency", i);
        cJSON *r = row(id, "latency", "decode_ctx511_speedup", sp[i], "decode_ctx511_tokens_per_sec", tps * sp[i]);
        cJSON *m = cJSON_GetObjectItem(r, "metrics");
        cJSON_AddNumberToObject(m, "decode_ctx511_tokens_per_sec_min", tps * sp[i] * (1 - spread));
        cJSON_AddNumberToObject(m, "decode_ctx511_tokens_per_sec_max", tps * sp[i] * (1 + spread));
        cJSON_AddNumberToObject(m, "fp32_decode_ctx511_tokens_per_sec", tps);
        cJSON_AddNumberToObject(m, "fp32_decode_ctx511_tokens_per_sec_min", tps * (1 - spread));
        cJSON_AddNumberToObject(m, "fp32_decode_ctx511_tokens_per_sec_max", tps * (1 + spread));
        cJSON_AddNumberToObject(m, "loadavg_1", tps < 500 ? 8 : 0.5);
        if (log_sd > 0) {
            cJSON_AddNumberToObject(m, "decode_ctx511_speedup_log_sd", log_sd);
            cJSON_AddNumberToObject(m, "reps", 25);
        }
        rs->rows[i] = r;
    }
    rs->n = rs->cap = k;
}

static void lat_runs(ptq_rowset *rs, const double *sp, int k, double tps, double spread) {
    lat_runs_sd(rs, sp, k, tps, spread, 0);
}

static int gate(const ptq_rowset *cur, const ptq_rowset *base, const ptq_compare_tol *t, ptq_compare_summary *s) {
    ptq_err err;
    CHECK(ptq_compare(cur, base, t, NULL, s, &err) == 0);
    return s->regressions + s->missing;
}

int main(void) {
    ptq_rowset base = {0}, cur = {0};
    ptq_compare_tol t;
    ptq_compare_tol_default(&t);
    ptq_compare_summary s;
    set(&base, 20.0, 0.10, 0.60, 0.01, 100);

    set(&cur, 20.0, 0.10, 0.60, 0.01, 100);
    CHECK(gate(&cur, &base, &t, &s) == 0);
    CHECK(s.checked == 5); /* ppl, kld_mean, acc, two latency metrics */

    set(&cur, 20.1, 0.10, 0.60, 0.01, 100); /* +0.5% ppl: inside 1% */
    CHECK(gate(&cur, &base, &t, &s) == 0);
    set(&cur, 20.5, 0.10, 0.60, 0.01, 100); /* +2.5% ppl */
    CHECK(gate(&cur, &base, &t, &s) == 1);
    set(&cur, 19.0, 0.10, 0.60, 0.01, 100); /* better is never a failure */
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.improved == 1);

    set(&cur, 20.0, 0.11, 0.60, 0.01, 100); /* +10% KLD */
    CHECK(gate(&cur, &base, &t, &s) == 1);

    set(&cur, 20.0, 0.10, 0.585, 0.01, 100); /* -1.5 points, stderr 0.01 each: allowed 1.41 points */
    CHECK(gate(&cur, &base, &t, &s) == 1);
    t.stderr_k = 2; /* 2 x combined stderr = 2.8 points */
    CHECK(gate(&cur, &base, &t, &s) == 0);
    ptq_compare_tol_default(&t);

    set(&cur, 20.0, 0.10, 0.60, 0.01, 50); /* 2x slower decode */
    CHECK(gate(&cur, &base, &t, &s) == 1);

    set(&cur, INFINITY, 0.10, 0.60, 0.01, 100); /* diverged (cJSON would store null) */
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cur.rows[0], "metrics"), "ppl");
    CHECK(gate(&cur, &base, &t, &s) == 1);

    /* values that are no metric fail on either side, never pass as "better" or "fixed" */
    set(&cur, -5, 0.10, 0.60, 0.01, 100);
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.invalid == 1 && s.improved == 0);
    set(&cur, 20.0, 0.10, 1.5, 0.01, 100); /* an accuracy above 1 */
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.invalid == 1);
    set(&cur, 20.0, 0.10, 0.60, 0.01, 0); /* zero throughput */
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.invalid == 1);
    set(&cur, 20.0, 0.10, 0.60, 0.01, 100);
    cJSON *bm = cJSON_GetObjectItem(base.rows[0], "metrics");
    cJSON_ReplaceItemInObject(bm, "ppl", cJSON_CreateString("improved"));
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.invalid == 1 && s.improved == 0);
    cJSON_ReplaceItemInObject(bm, "ppl", cJSON_CreateNull());
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.invalid == 1);
    set(&base, 20.0, 0.10, 0.60, 0.01, 100);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cur.rows[1], "metrics"), "kld_mean", cJSON_CreateNumber(NAN));
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.invalid == 1);

    set(&cur, 20.0, 0.10, 0.60, 0.01, 100);
    cJSON_Delete(cur.rows[3]);
    cur.n = 3; /* a row vanished */
    CHECK(gate(&cur, &base, &t, &s) == 1 && s.missing == 1);

    ptq_err err;
    CHECK(ptq_compare_tol_parse("ppl=0.05,acc=0.02,k=2,latency=2", &t, &err) == 0);
    CHECK_NEAR(t.ppl_rel, 0.05, 0);
    CHECK_NEAR(t.lat_ratio, 2, 0);
    CHECK(ptq_compare_tol_parse("pppl=1", &t, &err) == -1 && strstr(err.msg, "pppl"));
    CHECK(ptq_compare_tol_parse("ppl=-1", &t, &err) == -1);
    CHECK(ptq_compare_tol_parse("ppl", &t, &err) == -1);
    CHECK(ptq_compare_tol_parse("latency=0.5", &t, &err) == -1);
    ptq_rowset empty = {0};
    CHECK(ptq_compare(&cur, &empty, &t, NULL, &s, &err) == -1);

    /* seeds: the same seeds on both sides are paired (each seed's calibration sample is the
     * same): a regression beyond the t interval of the per-seed differences and the tolerance */
    ptq_compare_tol_default(&t);
    static const double b3[] = {20.0, 20.4, 19.6}, n_ok[] = {20.3, 20.7, 19.9}, n_bad[] = {21.3, 21.5, 21.1},
                        n_noise[] = {20.3, 20.1, 19.7};
    seeds(&base, b3);
    seeds(&cur, n_noise); /* per seed +-1.5% both ways: noise */
    CHECK(gate(&cur, &base, &t, &s) == 0 && s.checked == 1);
    seeds(&cur, n_ok); /* +1.5% on every seed: beyond the 1% tolerance, a regression when paired */
    CHECK(gate(&cur, &base, &t, &s) == 1 && s.checked == 1);
    seeds_from(&base, b3, 3); /* the baseline on other seeds */
    seeds(&cur, n_ok);
    CHECK(gate(&cur, &base, &t, &s) == 3 && s.missing == 3); /* each missing, never judged on other seeds */
    seeds(&base, b3);
    seeds(&cur, n_bad);
    FILE *f = tmpfile();
    CHECK(ptq_compare(&cur, &base, &t, f, &s, &err) == 0 && s.regressions == 1 && s.checked == 1);
    char buf[4096] = "";
    rewind(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    fclose(f);
    CHECK(strstr(buf, "| m|gptq|W4A4|s*|ppl:wikitext2 | ppl | 20 | 21.3 |") && strstr(buf, "paired by seed (3 seeds)"));
    CHECK(strstr(buf, "REGRESSION"));

    /* latency through the noise model: the packed/FP32 ratio of each run, never the absolute speed */
    static const double lb[] = {2.0, 2.04, 1.97}, ln[] = {2.02, 1.99, 2.01}, ls[] = {1.6, 1.63, 1.58};
    lat_runs(&base, lb, 3, 1000, 0.02);
    lat_runs(&cur, ln, 3, 400, 0.02); /* the machine 2.5x slower (load): same ratio, no alarm */
    CHECK(ptq_compare(&cur, &base, &t, stderr, &s, &err) == 0 && s.regressions == 0 && s.checked == 1);
    lat_runs(&cur, ls, 3, 1000, 0.02); /* the packed path 20% slower */
    CHECK(gate(&cur, &base, &t, &s) == 1);
    lat_runs(&base, lb, 1, 1000, 0.30); /* one run each, noisy repetitions: a 15% drop is noise */
    static const double l15[] = {1.7};
    lat_runs(&cur, l15, 1, 1000, 0.30);
    CHECK(gate(&cur, &base, &t, &s) == 0);
    lat_runs(&base, lb, 1, 1000, 0.01); /* ... and flagged when the runs are tight */
    lat_runs(&cur, l15, 1, 1000, 0.01);
    CHECK(gate(&cur, &base, &t, &s) == 1);

    /* the paired repetitions' spread: 3 runs a side, 4% per repetition (0.01 per run);
     * the machine 2.5x slower with the same ratio passes, a 5% drop of the ratio is caught
     * and named with old, new, interval and load */
    static const double q0[] = {1.250, 1.246, 1.255}, q1[] = {1.243, 1.258, 1.249}, q5[] = {1.190, 1.184, 1.192};
    lat_runs_sd(&base, q0, 3, 1000, 0.3, 0.04);
    lat_runs_sd(&cur, q1, 3, 400, 0.3, 0.04);
    CHECK(ptq_compare(&cur, &base, &t, stderr, &s, &err) == 0 && s.regressions == 0);
    lat_runs_sd(&cur, q5, 3, 1000, 0.3, 0.04);
    f = tmpfile();
    CHECK(ptq_compare(&cur, &base, &t, f, &s, &err) == 0 && s.regressions == 1);
    rewind(f);
    got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    fclose(f);
    CHECK(strstr(buf, "| m|rtn|W4A4|s*|latency | decode_ctx511_speedup | 1.25033 | 1.18866 |") && strstr(buf, "REGRESSION"));
    CHECK(strstr(buf, "new/old 0.9507, 95% interval [0.9355, 0.9661]") && strstr(buf, "(3 new vs 3 old runs") && strstr(buf, "load avg 0.5 -> 0.5"));
    /* ... but not when the runs disagree with each other by as much (between-run spread 5%) */
    static const double w0[] = {1.20, 1.25, 1.31}, w1[] = {1.14, 1.19, 1.24};
    lat_runs_sd(&base, w0, 3, 1000, 0.3, 0.04);
    lat_runs_sd(&cur, w1, 3, 1000, 0.3, 0.04);
    CHECK(gate(&cur, &base, &t, &s) == 0);
    ptq_rowset_free(&cur);
    ptq_rowset_free(&base);
    return tu_done("test_compare");
}
