/* sparsemask.c — top-k keep masks by quickselect. */
#include "sparsemask.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long ptq_mask_count(double frac, long n) {
    if (!(frac > 0)) return 0;
    if (frac >= 1) return n;
    long k = (long)llround(frac * (double)n);
    return k > n ? n : k;
}

/* Total order: higher score first, then lower index; NaN last. */
typedef struct {
    double s;
    long i;
} item;

static int before(const item *a, const item *b) {
    if (a->s != b->s) return a->s > b->s;
    return a->i < b->i;
}

static void swap(item *a, item *b) {
    item t = *a;
    *a = *b;
    *b = t;
}

/* Rearrange v[lo..hi] so the first k (in the order above) come first. */
static void select_k(item *v, long lo, long hi, long k) {
    while (hi > lo) {
        long mid = lo + (hi - lo) / 2;
        /* median of three as pivot, moved to hi */
        if (before(&v[mid], &v[lo])) swap(&v[mid], &v[lo]);
        if (before(&v[hi], &v[lo])) swap(&v[hi], &v[lo]);
        if (before(&v[mid], &v[hi])) swap(&v[mid], &v[hi]);
        item p = v[hi];
        long st = lo;
        for (long j = lo; j < hi; j++)
            if (before(&v[j], &p)) swap(&v[j], &v[st++]);
        swap(&v[st], &v[hi]);
        if (st == k) return;
        if (st < k) lo = st + 1;
        else hi = st - 1;
    }
}

int ptq_topk_mask(const double *score, long n, long keep, unsigned char *mask, ptq_err *err) {
    memset(mask, 0, (size_t)n);
    if (keep <= 0) return 0;
    if (keep >= n) {
        memset(mask, 1, (size_t)n);
        return 0;
    }
    item *v = malloc(sizeof(item) * (size_t)n);
    if (!v) return ptq_fail(err, "top-k mask: out of memory for %ld scores", n);
    for (long i = 0; i < n; i++) v[i] = (item){isnan(score[i]) ? -INFINITY : score[i], i};
    select_k(v, 0, n - 1, keep); /* v[0..keep) are the kept entries */
    for (long i = 0; i < keep; i++) mask[v[i].i] = 1;
    free(v);
    return 0;
}
