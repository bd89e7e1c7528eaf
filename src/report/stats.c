/* stats.c — paired bootstrap, McNemar, seed statistics (stats.h).
 *
 * The bootstrap is the percentile method on a fixed number of resamples
 * drawn from ptq_rng (xoshiro256**) with a fixed seed, so every report of the
 * same rows prints the same intervals. Identical inputs give a zero
 * difference in every resample, hence exactly [1, 1] for a ratio. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_dbl(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Quantile p of sorted x[0..n) (linear interpolation between order statistics). */
static double quantile(const double *x, int n, double p) {
    double h = (n - 1) * p;
    int i = (int)floor(h);
    return i + 1 < n ? x[i] + (h - i) * (x[i + 1] - x[i]) : x[n - 1];
}

/* D for given seed picks (sa[0..ka), sb[0..kb)) and unit picks (u, NULL = all). */
static double stat_d(const float *const *a, int ka, const int *sa, const float *const *b, int kb, const int *sb,
                     const int *off, int nstrata, const int *u) {
    double d = 0;
    for (int t = 0; t < nstrata; t++) {
        double st = 0;
        int nt = off[t + 1] - off[t];
        for (int j = 0; j < nt; j++) {
            int w = u ? u[off[t] + j] : off[t] + j;
            double ma = 0, mb = 0;
            for (int s = 0; s < ka; s++) ma += a[sa[s]][w];
            for (int s = 0; s < kb; s++) mb += b[sb[s]][w];
            st += ma / ka - mb / kb;
        }
        d += nt ? st / nt : 0;
    }
    return d / nstrata;
}

void ptq_boot_diff(const float *const *a, int ka, const float *const *b, int kb, const int *off, int nstrata,
                   int resamples, uint64_t seed, ptq_ci *ci) {
    int N = off[nstrata], sa[64], sb[64];
    for (int s = 0; s < 64; s++) sa[s] = sb[s] = s;
    ci->point = stat_d(a, ka, sa, b, kb, sb, off, nstrata, NULL);
    int *u = malloc(sizeof(int) * (size_t)(N ? N : 1));
    double *d = malloc(sizeof(double) * (size_t)resamples);
    if (!u || !d || resamples < 2) {
        free(u), free(d);
        ci->lo = ci->hi = NAN;
        return;
    }
    ptq_rng r;
    ptq_rng_seed(&r, seed);
    for (int i = 0; i < resamples; i++) {
        for (int s = 0; s < ka; s++) sa[s] = (int)(ptq_rng_u64(&r) % (uint64_t)ka);
        for (int s = 0; s < kb; s++) sb[s] = ka == kb ? sa[s] : (int)(ptq_rng_u64(&r) % (uint64_t)kb);
        for (int t = 0; t < nstrata; t++) {
            uint64_t nt = (uint64_t)(off[t + 1] - off[t]);
            for (int j = off[t]; j < off[t + 1]; j++) u[j] = off[t] + (int)(ptq_rng_u64(&r) % nt);
        }
        d[i] = stat_d(a, ka, sa, b, kb, sb, off, nstrata, u);
    }
    qsort(d, (size_t)resamples, sizeof *d, cmp_dbl);
    ci->lo = quantile(d, resamples, 0.025);
    ci->hi = quantile(d, resamples, 0.975);
    free(u);
    free(d);
}

double ptq_mcnemar_p(int n01, int n10) {
    int n = n01 + n10, k = n01 < n10 ? n01 : n10;
    if (n == 0) return 1.0;
    double p = 0; /* P(X <= k), X ~ Bin(n, 1/2), summed in logs */
    for (int i = 0; i <= k; i++) p += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * log(2.0));
    return p * 2 > 1 ? 1.0 : p * 2;
}

void ptq_mean_std(const double *v, int n, double *mean, double *std) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m = n ? m / n : NAN;
    for (int i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *std = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

int ptq_pm_decimals(double std, int dflt) {
    if (!(std > 0) || !isfinite(std)) return dflt;
    int d = 1 - (int)floor(log10(std)); /* two significant digits of the std */
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

void ptq_fmt_pm(double mean, double std, int dflt, char *m, size_t mcap, char *s, size_t scap) {
    int d = ptq_pm_decimals(std, dflt);
    double half = 0.5 * pow(10, -d);
    snprintf(m, mcap, "%.*f", d, fabs(mean) < half ? 0.0 : mean); /* no "-0.00" */
    snprintf(s, scap, "%.*f", d, std);
}

/* ---- on result rows ---- */
void ptq_side_free(ptq_side_set *s) {
    for (int i = 0; i < s->k; i++) free(s->v[i]);
    memset(s, 0, sizeof *s);
}

/* What identifies the units of a row: the task, its data and its windows or items. */
static void units_of(const cJSON *r, char *out, size_t cap) {
    const char *task = ptq_row_str(r, "task"), *sha = ptq_row_str(r, "dataset_sha256");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
    snprintf(out, cap, "%s data %.16s windows %g seqlen %g protocol %s items %g", task ? task : "?", sha ? sha : "?",
             ptq_row_metric(r, "windows"), ptq_row_metric(r, "seqlen"),
             ptq_row_str(m, "protocol") ? ptq_row_str(m, "protocol") : "-", ptq_row_metric(r, "n"));
}

int ptq_side_load(const ptq_rowset *rs, const cJSON *const *rows, int k, const char *name, ptq_side_set *s,
                  ptq_err *err) {
    memset(s, 0, sizeof *s);
    if (k < 1 || k > 64) return ptq_fail(err, "%d seed rows (1..64 supported)", k);
    for (int i = 0; i < k; i++) {
        const cJSON *r = rows[i];
        char u[512];
        int n;
        if (ptq_row_side(rs, r, name, &s->v[s->k], &n, err)) return ptq_side_free(s), -1;
        s->k++;
        units_of(r, u, sizeof u);
        double seed = ptq_row_metric(r, "seed");
        if (i == 0) snprintf(s->units, sizeof s->units, "%s", u), s->n = n;
        else if (strcmp(u, s->units) || n != s->n) {
            ptq_fail(err, "seed %g evaluated other units (%s) than the first seed (%s): not paired", seed, u, s->units);
            return ptq_side_free(s), -1;
        }
        /* the values must give the row's metric: a side file of another row is never used */
        double mean = 0;
        for (int w = 0; w < n; w++) mean += s->v[i][w];
        mean = n ? mean / n : NAN;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
        const char *den = ptq_row_str(m, "denominator");
        double want = ptq_row_metric(r, !strcmp(name, "nll") ? "ppl" : name), got;
        s->scale = den && !strcmp(den, "hf") ? ptq_row_metric(r, "tokens_scored") /
                                                   (ptq_row_metric(r, "windows") * ptq_row_metric(r, "seqlen"))
                                             : 1.0;
        got = !strcmp(name, "nll") ? exp(s->scale * mean) : mean;
        if (!(fabs(got - want) <= 1e-5 * fabs(want) + 1e-9)) {
            ptq_fail(err, "seed %g: the side values give %s = %.9g, the row says %.9g", seed, name, got, want);
            return ptq_side_free(s), -1;
        }
    }
    return 0;
}

int ptq_ppl_ratio_ci(const ptq_side_set *a, const ptq_side_set *b, ptq_ci *ci, ptq_err *err) {
    if (strcmp(a->units, b->units) || a->n != b->n || a->scale != b->scale)
        return ptq_fail(err, "different evaluation windows (%s vs %s): refused for pairing", a->units, b->units);
    int off[2] = {0, a->n};
    ptq_boot_diff((const float *const *)a->v, a->k, (const float *const *)b->v, b->k, off, 1, PTQ_BOOT_RESAMPLES,
                  PTQ_BOOT_SEED, ci);
    ci->point = exp(a->scale * ci->point), ci->lo = exp(a->scale * ci->lo), ci->hi = exp(a->scale * ci->hi);
    return 0;
}
