/* actstats.c — outlier statistics of activations (capture hook) and weights. */
#include "actstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const ptq_actstat_kind_names[PTQ_AS_KINDS] = {
    [PTQ_AS_QKV] = "qkv_proj.in", [PTQ_AS_O] = "o_proj.in",     [PTQ_AS_GATEUP] = "gate_up_proj.in",
    [PTQ_AS_DOWN] = "down_proj.in", [PTQ_AS_RESID] = "residual", [PTQ_AS_HEAD] = "lm_head.in"};

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorted in place). */
static double median_sorted(float *v, int n) {
    qsort(v, n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

static int actstat_init(ptq_actstat *a, int n, ptq_err *err) {
    memset(a, 0, sizeof *a);
    a->n = n;
    /* ch_max [n] then a row scratch [n] */
    return (a->ch_max = ptq_calloc(2 * (size_t)n, sizeof(float), err)) ? 0 : -1;
}

void ptq_actstat_add(ptq_actstat *a, const float *x, int T, int n) {
    float *row = a->ch_max + n;
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        for (int j = 0; j < n; j++) {
            double v = xr[j], v2 = v * v;
            row[j] = fabsf(xr[j]);
            a->ch_max[j] = fmaxf(a->ch_max[j], row[j]);
            a->s[1] += v, a->s[2] += v2, a->s[3] += v2 * v, a->s[4] += v2 * v2;
        }
        double thr = 100.0 * median_sorted(row, n);
        for (int j = n - 1; j >= 0 && row[j] > thr; j--) a->n_massive++;
    }
    a->s[0] += (double)T * n;
    a->rows += T;
}

void ptq_actstat_finish(ptq_actstat *a) {
    double N = a->s[0];
    if (N <= 0) {
        a->max_abs = a->top_ratio = a->kurtosis = a->massive = NAN;
        return;
    }
    a->top_channel = 0;
    for (int j = 1; j < a->n; j++)
        if (a->ch_max[j] > a->ch_max[a->top_channel]) a->top_channel = j;
    a->max_abs = a->ch_max[a->top_channel];
    float *tmp = a->ch_max + a->n; /* the row scratch is free now */
    memcpy(tmp, a->ch_max, sizeof(float) * a->n);
    double med = median_sorted(tmp, a->n);
    a->top_ratio = med > 0 ? a->max_abs / med : INFINITY;
    double mu = a->s[1] / N, e2 = a->s[2] / N, e3 = a->s[3] / N, e4 = a->s[4] / N;
    double var = e2 - mu * mu, m4 = e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu * mu * mu * mu;
    a->kurtosis = var > 0 ? m4 / (var * var) : NAN;
    a->massive = a->n_massive / N;
}

/* Weight statistics of w (out x in): per input column max |w|, pooled kurtosis. */
static int weight_stat(const ptq_linear *l, ptq_wstat *ws, ptq_err *err) {
    ptq_actstat a;
    if (actstat_init(&a, l->in, err)) return -1;
    ptq_actstat_add(&a, l->w, l->out, l->in);
    ptq_actstat_finish(&a);
    *ws = (ptq_wstat){.max_abs = a.max_abs, .top_ratio = a.top_ratio, .kurtosis = a.kurtosis,
                      .top_channel = a.top_channel};
    free(a.ch_max);
    return 0;
}

typedef struct {
    ptq_model_stats *st;
} cap_ctx;

static void on_input(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    ptq_model_stats *st = ((cap_ctx *)ctx)->st;
    (void)x_q;
    int kind = -1;
    if (layer == st->n_layers) layer = st->n_layers - 1, kind = PTQ_AS_HEAD;
    else if (which == PTQ_LIN_Q) kind = PTQ_AS_QKV;
    else if (which == PTQ_LIN_O) kind = PTQ_AS_O;
    else if (which == PTQ_LIN_GATE) kind = PTQ_AS_GATEUP;
    else if (which == PTQ_LIN_DOWN) kind = PTQ_AS_DOWN;
    if (kind >= 0) ptq_actstat_add(ptq_model_stats_act(st, layer, kind), x_pre, T, n);
}

void ptq_model_stats_free(ptq_model_stats *st) {
    if (st->act)
        for (int i = 0; i < st->n_layers * PTQ_AS_KINDS; i++) free(st->act[i].ch_max);
    free(st->act);
    free(st->w);
    memset(st, 0, sizeof *st);
}

static int stats_alloc(const ptq_model *m, ptq_model_stats *st, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    memset(st, 0, sizeof *st);
    st->n_layers = c->n_layers;
    if (!(st->act = ptq_calloc((size_t)c->n_layers * PTQ_AS_KINDS, sizeof *st->act, err)) ||
        !(st->w = ptq_calloc((size_t)c->n_layers * PTQ_LIN_COUNT + 1, sizeof *st->w, err)))
        return -1;
    const int width[PTQ_AS_KINDS] = {[PTQ_AS_QKV] = c->dim, [PTQ_AS_O] = c->n_heads * c->head_dim,
                                     [PTQ_AS_GATEUP] = c->dim, [PTQ_AS_DOWN] = c->hidden_dim,
                                     [PTQ_AS_RESID] = c->dim, [PTQ_AS_HEAD] = c->dim};
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < PTQ_AS_KINDS; k++)
            if (actstat_init(ptq_model_stats_act(st, l, k), width[k], err)) return -1;
    return 0;
}

int ptq_model_stats_compute(const ptq_model *m, const int *tokens, int nwin, int seqlen, ptq_model_stats *st,
                            ptq_err *err) {
    const ptq_config *c = &m->cfg;
    if (nwin < 1 || seqlen < 1 || seqlen > c->max_seq)
        return ptq_fail(err, "stats: %d windows of %d tokens (expected >= 1 window of 1..%d tokens)", nwin, seqlen,
                        c->max_seq);
    for (long i = 0; i < (long)nwin * seqlen; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return ptq_fail(err, "stats: token id %d at %ld outside the vocabulary 0..%d", tokens[i], i,
                            c->vocab_size - 1);
    if (stats_alloc(m, st, err)) return ptq_model_stats_free(st), -1;
    ptq_state s;
    float *logits = NULL;
    if (ptq_state_init(&s, m, seqlen, err) ||
        !(logits = ptq_calloc((size_t)seqlen * c->vocab_size, sizeof(float), err))) {
        if (!logits) ptq_state_free(&s);
        ptq_model_stats_free(st);
        return -1;
    }
    cap_ctx cc = {st};
    s.capture = on_input;
    s.capture_ctx = &cc;
    int rc = 0;
    for (int w = 0; w < nwin && !rc; w++) {
        rc = ptq_forward_embed(m, tokens + (size_t)w * seqlen, seqlen, s.x, err);
        for (int l = 0; l < c->n_layers && !rc; l++) {
            rc = ptq_forward_block(m, &s, l, s.x, seqlen, 0, err);
            if (!rc) ptq_actstat_add(ptq_model_stats_act(st, l, PTQ_AS_RESID), s.x, seqlen, c->dim);
        }
        if (!rc) rc = ptq_forward_head(m, &s, s.x, seqlen, logits, err);
        st->tokens += seqlen;
    }
    free(logits);
    ptq_state_free(&s);
    for (int i = 0; i < c->n_layers * PTQ_AS_KINDS; i++) ptq_actstat_finish(&st->act[i]);
    for (int l = 0; l <= c->n_layers && !rc; l++)
        for (int k = 0; k < (l < c->n_layers ? PTQ_LIN_COUNT : 1) && !rc; k++)
            rc = weight_stat(ptq_model_linear((ptq_model *)m, l, k), &st->w[(size_t)l * PTQ_LIN_COUNT + k], err);
    if (rc) ptq_model_stats_free(st);
    return rc ? ptq_wrap(err, "stats") : 0;
}
