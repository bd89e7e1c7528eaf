/* stats.h — paired comparisons of result rows (stats.c): a paired bootstrap
 * over evaluation windows or items (and over seeds), McNemar's exact test,
 * and the mean/std of a cell's seeds. */
#ifndef PTQ_STATS_H
#define PTQ_STATS_H

#include <stdint.h>

#include "results.h"

#define PTQ_BOOT_RESAMPLES 1000
#define PTQ_BOOT_SEED 20260101u

typedef struct {
    double point, lo, hi; /* statistic and its 95% percentile interval */
} ptq_ci;

/* Paired bootstrap of D = mean over strata t of mean over units w in t of
 * (mean over A's seeds of a[s][w] - mean over B's seeds of b[s][w]).
 * a: ka arrays of N = off[nstrata] values (one per seed), b: kb arrays.
 * Each resample draws the units of every stratum with replacement (the same
 * units for A and B: paired) and the seeds with replacement (the same seed
 * positions for A and B when ka == kb). Deterministic for a given seed. */
void ptq_boot_diff(const float *const *a, int ka, const float *const *b, int kb, const int *off, int nstrata,
                   int resamples, uint64_t seed, ptq_ci *ci);

/* McNemar's exact two-sided p-value for paired 0/1 outcomes (a and b
 * disagree on n01 + n10 items; binomial(n01 + n10, 1/2)). */
double ptq_mcnemar_p(int n01, int n10);

/* Mean, sample std (ddof 1; 0 for one value) of v[0..n). */
void ptq_mean_std(const double *v, int n, double *mean, double *std);

/* Decimals that a mean and its std share: two significant digits of the
 * std, none below the units (1497 +- 118, 61.56 +- 0.83, 5.383 +- 0.061),
 * at most 6; dflt when the std is 0 or not finite. */
int ptq_pm_decimals(double std, int dflt);
/* mean and std printed at those decimals into m and s. */
void ptq_fmt_pm(double mean, double std, int dflt, char *m, size_t mcap, char *s, size_t scap);

/* ---- on result rows ---- */
/* The per-unit values of one cell's seed rows, checked for pairing: every
 * row has its side values `name` whole (size, sha256) and the same
 * evaluation units (dataset sha256, windows, seqlen, protocol / items). */
typedef struct {
    float *v[64];
    int k, n;
    char units[512]; /* what identifies the units, compared between cells */
    double scale;    /* ppl: exp(scale * mean NLL) is the row's ppl */
} ptq_side_set;

/* 0 with s filled; -1 with err saying why no interval can be given. */
int ptq_side_load(const ptq_rowset *rs, const cJSON *const *rows, int k, const char *name, ptq_side_set *s,
                  ptq_err *err);
void ptq_side_free(ptq_side_set *s);

/* Ratio of perplexities A/B (exp of the scaled NLL difference) with its
 * interval; -1 with err when the unit sets differ. */
int ptq_ppl_ratio_ci(const ptq_side_set *a, const ptq_side_set *b, ptq_ci *ci, ptq_err *err);

#endif
