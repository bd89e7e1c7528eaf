/* latency.c — see latency.h. Prefill: one forward of T tokens at position 0
 * (logits of the last position, or of every position with logits=all, on
 * both paths). Decode: the cache is filled
 * with C tokens (untimed), then one token at position C is timed; repeating
 * it overwrites the same cache slot, so every call does the same work. A
 * timed run repeats its call until it lasts min_ms (short calls would be
 * below the clock's noise) and reports tokens / second; each figure is the
 * median of reps runs after warm-up, with min and max. The packed path's
 * calls live in the pk_* wrappers only, so a change of the packed API
 * touches nothing else. */
#include "latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "packed.h"
#include "sysinfo.h"
#include "task.h"
#include "threads.h"

void ptq_latency_defaults(ptq_latency_opts *o) {
    memset(o, 0, sizeof *o);
    o->Ts[0] = 128, o->Ts[1] = 512, o->Ts[2] = 2048, o->nT = 3;
    o->ctxs[0] = 512, o->ctxs[1] = 2048, o->nC = 2;
    o->reps = 5, o->warmup = 1, o->min_ms = 20;
}

static int parse_int(const char *key, const char *s, int lo, int hi, int *out, ptq_err *err) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return ptq_fail(err, "latency task: %s=%s: expected an integer in %d..%d", key, s, lo, hi);
    *out = (int)v;
    return 0;
}

static int parse_list(const char *key, char *s, int *v, int *n, ptq_err *err) {
    *n = 0;
    for (char *sv = NULL, *t = strtok_r(s, "+", &sv); t; t = strtok_r(NULL, "+", &sv)) {
        if (*n == PTQ_LAT_MAXLIST) return ptq_fail(err, "latency task: %s: at most %d values", key, PTQ_LAT_MAXLIST);
        if (parse_int(key, t, 1, 1 << 20, &v[(*n)++], err)) return -1;
    }
    return *n ? 0 : ptq_fail(err, "latency task: %s: empty list (e.g. %s=128+512)", key, key);
}

int ptq_latency_parse(const char *arg, ptq_latency_opts *o, ptq_err *err) {
    ptq_latency_defaults(o);
    if (!arg || !*arg || !strcmp(arg, "default")) return 0;
    char buf[512];
    if (strlen(arg) >= sizeof buf) return ptq_fail(err, "latency task: argument too long");
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *sv = NULL, *kv = strtok_r(buf, ",:", &sv); kv; kv = strtok_r(NULL, ",:", &sv)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return ptq_fail(err, "latency task: '%s': expected key=value (keys: T, ctx, reps, warmup, min_ms, logits, w16, clock, threads)",
                            kv);
        *eq = 0;
        const char *k = kv, *v = eq + 1;
        int rc;
        if (!strcmp(k, "T"))
            rc = parse_list("T", eq + 1, o->Ts, &o->nT, err);
        else if (!strcmp(k, "ctx"))
            rc = parse_list("ctx", eq + 1, o->ctxs, &o->nC, err);
        else if (!strcmp(k, "reps"))
            rc = parse_int("reps", v, 5, 1000, &o->reps, err);
        else if (!strcmp(k, "warmup"))
            rc = parse_int("warmup", v, 1, 100, &o->warmup, err);
        else if (!strcmp(k, "min_ms"))
            rc = parse_int("min_ms", v, 0, 10000, &o->min_ms, err);
        else if (!strcmp(k, "threads"))
            rc = parse_int("threads", v, 1, 256, &o->threads, err);
        else if (!strcmp(k, "clock")) {
            if (strcmp(v, "wall") && strcmp(v, "cpu"))
                return ptq_fail(err, "latency task: clock=%s: expected wall or cpu", v);
            o->cpu_clock = !strcmp(v, "cpu"), rc = 0;
        } else if (!strcmp(k, "logits")) {
            if (strcmp(v, "last") && strcmp(v, "all"))
                return ptq_fail(err, "latency task: logits=%s: expected last or all", v);
            o->all_logits = !strcmp(v, "all"), rc = 0;
        } else if (!strcmp(k, "w16")) {
            ptq_w16_act m;
            if (ptq_w16_act_parse(v, &m))
                return ptq_fail(err, "latency task: w16=%s: expected fp32, int8 or bf16", v);
            o->w16_act = (int)m, rc = 0;
        } else
            return ptq_fail(err, "latency task: unknown parameter '%s' (expected T, ctx, reps, warmup, min_ms, logits, w16, clock, threads)",
                            k);
        if (rc) return -1;
    }
    return 0;
}

/* Drop T > max_seq (max_seq takes their place), cap contexts, dedupe. */
static void add_unique(int *v, int *n, int x) {
    for (int i = 0; i < *n; i++)
        if (v[i] == x) return;
    if (*n < PTQ_LAT_MAXLIST) v[(*n)++] = x;
}

static void resolve(const ptq_latency_opts *in, int max_seq, ptq_latency_opts *o) {
    *o = *in;
    o->nT = o->nC = 0;
    for (int i = 0; i < in->nT; i++)
        add_unique(o->Ts, &o->nT, PTQ_MIN(in->Ts[i], max_seq));
    for (int i = 0; i < in->nC; i++)
        add_unique(o->ctxs, &o->nC, PTQ_MIN(in->ctxs[i], max_seq - 1));
}

/* ---- the packed path (packed.h) ------------------------------------------ */
typedef struct {
    ptq_packed_model pm; /* pm.view: the model with its packed kernels attached */
    ptq_state ps;        /* ptq_state_init_packed: int8/int4 KV where the model asks for it */
    int have_pm, have_ps;
} pk_path;

static int pk_init(pk_path *p, const ptq_model *q, int max_T, int ctx, ptq_err *err) {
    memset(p, 0, sizeof *p);
    if (ptq_packed_model_build(&p->pm, q, err)) return -1;
    p->have_pm = 1;
    if (ptq_state_init_packed(&p->ps, &p->pm.view, max_T, ctx, err)) return -1;
    p->have_ps = 1;
    return 0;
}

static void pk_free(pk_path *p) {
    if (p->have_ps) ptq_state_free(&p->ps);
    if (p->have_pm) ptq_packed_model_free(&p->pm);
    memset(p, 0, sizeof *p);
}

/* ---- timing -------------------------------------------------------------- */
/* One path = a model and its state: the FP32 model, or the packed view
 * (kernels attached) with its packed state; both run through ptq_forward. */
typedef struct {
    const ptq_model *m;
    ptq_state *st;
    const int *tok;
    float *logits;
    int max_T, last_only, cpu_clock;
} path;

/* Wall time, or the process's CPU time (all threads): time the process
 * waited for a core, which other load on a shared machine causes, is not counted. */
static double now(const path *p) {
    if (!p->cpu_clock) return ptq_now_sec();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fwd(const path *p, const int *tok, int T, int pos0, ptq_err *err) {
    return ptq_forward(p->m, p->st, tok, T, pos0, p->logits, p->last_only, err);
}

/* Fill the cache with positions 0..ctx-1 (chunks the state can hold). */
static int fill_cache(const path *p, int ctx, ptq_err *err) {
    for (int pos = 0; pos < ctx;) {
        int n = PTQ_MIN(p->max_T, ctx - pos);
        if (fwd(p, p->tok + pos, n, pos, err)) return -1;
        pos += n;
    }
    return 0;
}

typedef struct {
    double med, min, max;
    double lr_sd; /* std over reps of log(packed / FP32) of the adjacent runs (packed path's stat only) */
    int inner;
} lat_stat;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Calls per timed run so that one lasts min_ms (from the fastest warm-up). */
static int warm(const path *p, int T, int pos0, const ptq_latency_opts *o, int *inner, ptq_err *err) {
    double t1 = 1e30;
    for (int w = 0; w < o->warmup; w++) {
        double t0 = now(p);
        if (fwd(p, p->tok + pos0, T, pos0, err)) return -1;
        t1 = fmin(t1, now(p) - t0);
    }
    *inner = (int)fmin(100000.0, fmax(1.0, ceil(o->min_ms * 1e-3 / fmax(t1, 1e-9))));
    return 0;
}

static int timed(const path *p, int T, int pos0, int inner, double *tps, ptq_err *err) {
    double t0 = now(p);
    for (int i = 0; i < inner; i++)
        if (fwd(p, p->tok + pos0, T, pos0, err)) return -1;
    *tps = (double)T * inner / fmax(now(p) - t0, 1e-12);
    return 0;
}

static void stat_of(double *v, int n, int inner, lat_stat *s) {
    qsort(v, n, sizeof(double), cmp_d);
    s->med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s->min = v[0], s->max = v[n - 1], s->inner = inner;
}

/* tokens/s of fwd(T tokens at pos0) on both paths: warm-up, then reps timed
 * runs, the two paths interleaved (order alternating) so that a load change
 * on a shared machine hits both alike. Returns 0, -1 (FP32 path failed) or
 * PTQ_LAT_UNSUPPORTED (quantized path failed). */
static int measure(const path *pq, const path *pf, int T, int pos0, const ptq_latency_opts *o, lat_stat *sq,
                   lat_stat *sf, ptq_err *err) {
    int iq, iff;
    if (warm(pq, T, pos0, o, &iq, err)) return PTQ_LAT_UNSUPPORTED;
    if (warm(pf, T, pos0, o, &iff, err)) return -1;
    double *v = malloc(sizeof(double) * 2 * o->reps);
    if (!v) return ptq_fail(err, "latency: out of memory");
    int rc = 0;
    for (int r = 0; r < o->reps && !rc; r++)
        for (int k = 0; k < 2 && !rc; k++) {
            int q = (r + k) % 2 == 0; /* q first on even reps */
            if (timed(q ? pq : pf, T, pos0, q ? iq : iff, &v[q ? r : o->reps + r], err))
                rc = q ? PTQ_LAT_UNSUPPORTED : -1;
        }
    double s1 = 0, s2 = 0; /* the paired ratios' spread, before the sort */
    for (int r = 0; r < o->reps && !rc; r++) {
        double l = log(v[r] / v[o->reps + r]);
        s1 += l, s2 += l * l;
    }
    if (!rc) stat_of(v, o->reps, iq, sq), stat_of(v + o->reps, o->reps, iff, sf);
    sq->lr_sd = sqrt(fmax(0.0, (s2 - s1 * s1 / o->reps) / (o->reps - 1)));
    free(v);
    return rc;
}

static void put_stat(cJSON *m, const char *pre, const char *what, const lat_stat *s) {
    char k[96];
    snprintf(k, sizeof k, "%s%s_tokens_per_sec", pre, what);
    cJSON_AddNumberToObject(m, k, s->med);
    snprintf(k, sizeof k, "%s%s_tokens_per_sec_min", pre, what);
    cJSON_AddNumberToObject(m, k, s->min);
    snprintf(k, sizeof k, "%s%s_tokens_per_sec_max", pre, what);
    cJSON_AddNumberToObject(m, k, s->max);
    snprintf(k, sizeof k, "%s%s_inner_calls", pre, what);
    cJSON_AddNumberToObject(m, k, s->inner);
}

/* Prefill at every T and decode at every C, both paths. */
/* <kind><n>_tokens_per_sec (quantized path), fp32_<kind><n>_... and
 * <kind><n>_speedup for each n of a prefill-length or context list. */
static void put_series(cJSON *m, const char *kind, const int *ns, int count, lat_stat st[2][PTQ_LAT_MAXLIST]) {
    for (int i = 0; i < count; i++) {
        char w[48], k[96];
        snprintf(w, sizeof w, "%s%d", kind, ns[i]);
        put_stat(m, "", w, &st[0][i]);
        put_stat(m, "fp32_", w, &st[1][i]);
        snprintf(k, sizeof k, "%s_speedup", w);
        cJSON_AddNumberToObject(m, k, st[0][i].med / st[1][i].med);
        snprintf(k, sizeof k, "%s_speedup_log_sd", w);
        cJSON_AddNumberToObject(m, k, st[0][i].lr_sd);
    }
}

static int run_paths(const path *pq, const path *pf, const ptq_latency_opts *o, lat_stat pre[2][PTQ_LAT_MAXLIST],
                     lat_stat dec[2][PTQ_LAT_MAXLIST], ptq_err *err) {
    int rc = 0;
    for (int i = 0; i < o->nT && !rc; i++)
        rc = measure(pq, pf, o->Ts[i], 0, o, &pre[0][i], &pre[1][i], err);
    for (int i = 0; i < o->nC && !rc; i++) {
        if (fill_cache(pq, o->ctxs[i], err)) return PTQ_LAT_UNSUPPORTED;
        if (fill_cache(pf, o->ctxs[i], err)) return -1;
        rc = measure(pq, pf, 1, o->ctxs[i], o, &dec[0][i], &dec[1][i], err);
    }
    return rc;
}

/* ---- bytes ----------------------------------------------------------------- */
/* The FP path's weights as held: fp32, or 16-bit storage (a bf16 lm_head). */
static size_t fp32_linear_bytes(const ptq_linear *l) {
    size_t wb = !l->w && l->w16.w ? sizeof(uint16_t) : sizeof(float);
    return wb * (size_t)l->out * l->in + (l->bias ? sizeof(float) * (size_t)l->out : 0);
}

static size_t fp32_kv_bytes(const ptq_config *c, int ctx) {
    return 2 * sizeof(float) * (size_t)c->n_layers * ctx * c->n_kv_heads * c->head_dim;
}

static void put_bytes(cJSON *m, const ptq_model *q, const ptq_model *fp, const pk_path *pk, const ptq_latency_opts *o) {
    size_t fpw = 0, fpl = 0, qw = 0, ql = 0;
    int L = fp->cfg.n_layers;
    for (int i = 0; i <= L * PTQ_LIN_COUNT; i++) {
        int layer = i / PTQ_LIN_COUNT, which = i % PTQ_LIN_COUNT;
        size_t b = fp32_linear_bytes(ptq_model_linear((ptq_model *)fp, layer, which));
        fpw += b, fpl += layer < L ? b : 0;
    }
    if (pk) { /* per-linear packed bytes, the same accounting as packed.c's total */
        for (int i = 0; i < pk->pm.n; i++) {
            size_t b = ptq_packed_linear_bytes(&pk->pm, i);
            ql += i < L * PTQ_LIN_COUNT ? b : 0;
        }
        qw = pk->pm.weight_bytes;
    } else
        qw = fpw, ql = fpl;
    const ptq_config *c = &fp->cfg;
    size_t other = (fp->emb16.w ? sizeof(uint16_t) : sizeof(float)) * (size_t)c->vocab_size * c->dim +
                   sizeof(float) * (size_t)c->dim * (2 * L + 1);
    cJSON_AddNumberToObject(m, "weight_bytes", (double)qw);
    cJSON_AddNumberToObject(m, "fp32_weight_bytes", (double)fpw);
    cJSON_AddNumberToObject(m, "weight_ratio", (double)qw / fpw);
    cJSON_AddNumberToObject(m, "layer_weight_bytes", (double)ql);
    cJSON_AddNumberToObject(m, "fp32_layer_weight_bytes", (double)fpl);
    cJSON_AddNumberToObject(m, "layer_weight_ratio", (double)ql / fpl);
    cJSON_AddNumberToObject(m, "embedding_norm_bytes", (double)other);
    for (int i = 0; i < o->nC; i++) {
        char k[64];
        size_t kq = pk ? ptq_state_kv_bytes(&pk->ps, q, o->ctxs[i]) : fp32_kv_bytes(c, o->ctxs[i]);
        size_t kf = fp32_kv_bytes(c, o->ctxs[i]);
        snprintf(k, sizeof k, "kv_bytes_ctx%d", o->ctxs[i]);
        cJSON_AddNumberToObject(m, k, (double)kq);
        snprintf(k, sizeof k, "fp32_kv_bytes_ctx%d", o->ctxs[i]);
        cJSON_AddNumberToObject(m, k, (double)kf);
        snprintf(k, sizeof k, "kv_ratio_ctx%d", o->ctxs[i]);
        cJSON_AddNumberToObject(m, k, (double)kq / kf);
        /* one decoded token at context C reads every linear (lm_head included), the K and V of
         * positions 0..C, the norm weights and one embedding row */
        size_t kq1 = pk ? ptq_state_kv_bytes(&pk->ps, q, o->ctxs[i] + 1) : fp32_kv_bytes(c, o->ctxs[i] + 1);
        size_t rest = sizeof(float) * (size_t)c->dim * (2 * L + 2);
        snprintf(k, sizeof k, "decode_ctx%d_bytes_per_token", o->ctxs[i]);
        cJSON_AddNumberToObject(m, k, (double)(qw + kq1 + rest));
        snprintf(k, sizeof k, "fp32_decode_ctx%d_bytes_per_token", o->ctxs[i]);
        cJSON_AddNumberToObject(m, k, (double)(fpw + fp32_kv_bytes(c, o->ctxs[i] + 1) + rest));
    }
    if (pk) {
        cJSON_AddBoolToObject(m, "lm_head_packed", pk->pm.packed[pk->pm.n - 1]);
        cJSON_AddBoolToObject(m, "kv_packed", ptq_state_kv_packed(&pk->ps));
    }
}

/* ---- the measurement -------------------------------------------------------- */
static int *make_tokens(int n, int vocab) {
    int *t = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; t && i < n; i++)
        t[i] = (int)((i * 2654435761u + 7u) % (unsigned)vocab);
    return t;
}

int ptq_latency_run(const ptq_model *q, const ptq_model *fp, const ptq_latency_opts *oin, cJSON *metrics,
                    ptq_err *err) {
    const ptq_config *a = &q->cfg, *b = &fp->cfg;
    if (a->dim != b->dim || a->hidden_dim != b->hidden_dim || a->n_layers != b->n_layers ||
        a->n_kv_heads != b->n_kv_heads || a->head_dim != b->head_dim || a->vocab_size != b->vocab_size ||
        a->max_seq != b->max_seq)
        return ptq_fail(err, "latency: the quantized and the FP32 model have different shapes");
    if (fp->cfg.max_seq < 2) return ptq_fail(err, "latency: max_seq %d is too short", fp->cfg.max_seq);
    ptq_latency_opts o;
    resolve(oin, fp->cfg.max_seq, &o);
    /* threads=N holds for the timing; it is set before any state is sized for it */
    int nthr = ptq_num_threads(), was_auto = ptq_threads_is_auto();
    if (o.threads > 0) ptq_threads_fix(o.threads);
    int maxT = 1, ctx; /* ctx: positions used, prefill 0..T-1 and decode at each context */
    for (int i = 0; i < o.nT; i++)
        maxT = PTQ_MAX(maxT, o.Ts[i]);
    ctx = maxT;
    for (int i = 0; i < o.nC; i++)
        ctx = PTQ_MAX(ctx, o.ctxs[i] + 1);
    double la0[3] = {NAN, NAN, NAN}, la1[3] = {NAN, NAN, NAN};
    ptq_loadavg(la0);
    ptq_weight_format wf;
    char fmt[96];
    ptq_model_weight_format(q, &wf);
    ptq_weight_format_str(&wf, fmt, sizeof fmt);
    int packed = wf.quantized > 0, rc = -1;
    pk_path pk;
    memset(&pk, 0, sizeof pk);
    ptq_state st, stq; /* FP32 path; the quantized model's when it has no packed form */
    int have_st = 0, have_stq = 0;
    lat_stat pre[2][PTQ_LAT_MAXLIST], dec[2][PTQ_LAT_MAXLIST]; /* [0] quantized path, [1] FP32 */
    int *tok = make_tokens(ctx, fp->cfg.vocab_size);
    float *logits = ptq_calloc((size_t)maxT * fp->cfg.vocab_size, sizeof(float), err);
    if (!tok || !logits) {
        if (!tok) ptq_fail(err, "latency: out of memory");
        goto out;
    }
    if (ptq_state_init_ctx(&st, fp, maxT, ctx, err)) goto out;
    have_st = 1;
    path pf = {fp, &st, tok, logits, maxT, !o.all_logits, o.cpu_clock},
         pq = {&pk.pm.view, &pk.ps, tok, logits, maxT, !o.all_logits, o.cpu_clock};
    if (packed && pk_init(&pk, q, maxT, ctx, err)) {
        ptq_wrap(err, "packed path (%s weights)", fmt);
        rc = PTQ_LAT_UNSUPPORTED;
        goto out;
    }
    if (!packed) { /* no packed form: the quantized model itself on the FP32 path */
        if (ptq_state_init_ctx(&stq, q, maxT, ctx, err)) goto out;
        have_stq = 1, pq.m = q, pq.st = &stq;
    }
    ptq_w16_act w16_was = ptq_kern_w16_act();
    ptq_kern_set_w16_act((ptq_w16_act)o.w16_act);
    rc = run_paths(&pq, &pf, &o, pre, dec, err);
    ptq_kern_set_w16_act(w16_was);
    if (rc == PTQ_LAT_UNSUPPORTED) ptq_wrap(err, "%s path (%s weights)", packed ? "packed" : "quantized model's", fmt);
    if (rc) goto out;
    ptq_loadavg(la1);
    cJSON_AddStringToObject(metrics, "path", packed ? "packed" : "fp32");
    cJSON_AddBoolToObject(metrics, "packed", packed);
    put_series(metrics, "prefill_T", o.Ts, o.nT, pre);
    put_series(metrics, "decode_ctx", o.ctxs, o.nC, dec);
    put_bytes(metrics, q, fp, packed ? &pk : NULL, &o);
    cJSON_AddNumberToObject(metrics, "peak_rss_kb", (double)ptq_peak_rss_kb());
    cJSON *ts = cJSON_AddArrayToObject(metrics, "prefill_T"), *cs = cJSON_AddArrayToObject(metrics, "decode_ctx");
    for (int i = 0; i < o.nT; i++)
        cJSON_AddItemToArray(ts, cJSON_CreateNumber(o.Ts[i]));
    for (int i = 0; i < o.nC; i++)
        cJSON_AddItemToArray(cs, cJSON_CreateNumber(o.ctxs[i]));
    cJSON_AddStringToObject(metrics, "prefill_logits", o.all_logits ? "all" : "last");
    cJSON_AddStringToObject(metrics, "w16_act", ptq_w16_act_name((ptq_w16_act)o.w16_act));
    cJSON_AddNumberToObject(metrics, "reps", o.reps);
    cJSON_AddStringToObject(metrics, "clock", o.cpu_clock ? "cpu" : "wall");
    cJSON_AddNumberToObject(metrics, "timing_threads", ptq_num_threads()); /* under auto: the count at the end */
    cJSON_AddNumberToObject(metrics, "warmup", o.warmup);
    cJSON_AddNumberToObject(metrics, "min_ms_per_run", o.min_ms); /* not "_ms": compare gates those */
    cJSON_AddNumberToObject(metrics, "loadavg_1", la0[0]);
    cJSON_AddNumberToObject(metrics, "loadavg_1_end", la1[0]);
    rc = 0;
out:
    if (o.threads > 0 && was_auto) ptq_threads_auto();
    else if (o.threads > 0) ptq_threads_fix(nthr);
    pk_free(&pk);
    if (have_st) ptq_state_free(&st);
    if (have_stq) ptq_state_free(&stq);
    free(tok);
    free(logits);
    return rc;
}

/* ---- machine ----------------------------------------------------------------- */
void ptq_latency_machine(cJSON *row) {
    char host[256], cpu[256];
    ptq_host_name(host, sizeof host);
    ptq_cpu_model(cpu, sizeof cpu);
    double la[3];
    cJSON_AddStringToObject(row, "host", host);
    cJSON_AddStringToObject(row, "cpu", cpu);
    cJSON_AddStringToObject(row, "isa", ptq_isa_name(ptq_kern_isa()));
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    cJSON_AddStringToObject(row, "omp_wait_policy", wp ? wp : "default");
    cJSON_AddStringToObject(row, "gomp_spincount", sc ? sc : "default");
    cJSON_AddStringToObject(row, "openblas_coretype", ptq_blas_kernels());
    cJSON_AddStringToObject(row, "openblas_coretype_cpu", ptq_blas_kernels_cpu());
    if (ptq_loadavg(la) == 0) {
        cJSON *a = cJSON_AddArrayToObject(row, "loadavg");
        for (int i = 0; i < 3; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(la[i]));
    } else
        cJSON_AddNullToObject(row, "loadavg");
}

/* The FP32 reference of an exported model: same shapes and weights (the
 * codes dequantized; a SpecQuant branch is dropped with the other side
 * branches), every quantizer off. */
int ptq_latency_fp32_twin(ptq_model *fp, const ptq_model *q, ptq_err *err) {
    if (ptq_model_clone(fp, q, err)) return -1;
    for (int l = 0; l <= fp->cfg.n_layers; l++)
        for (int j = 0; j < (l < fp->cfg.n_layers ? PTQ_LIN_COUNT : 1); j++) {
            ptq_linear *L = ptq_model_linear(fp, l, j);
            L->aq.bits = 16;
            if (L->qw && !L->w && !L->w16.w) { /* a compact model holds the codes alone: widen them once */
                if (!(L->w = ptq_calloc((size_t)L->out * L->in, sizeof(float), err))) return ptq_model_free(fp), -1;
                ptq_qweight_dequant(L->qw, L->w);
                L->owns_w = 1;
            }
            free(L->w_side);
            ptq_qweight_free(L->qw);
            L->w_side = NULL, L->qw = NULL;
        }
    for (int l = 0; l < fp->cfg.n_layers; l++)
        fp->layers[l].kq.bits = fp->layers[l].vq.bits = 16;
    return 0;
}

/* ---- task kind "latency[:params]" ---- */
static int lat_check(const char *arg, ptq_err *err) {
    ptq_latency_opts o;
    return ptq_latency_parse(arg, &o, err);
}

/* A model the packed path cannot run gives a row with metrics.error instead
 * of failing the cell, so the cell's other rows are kept. */
static int lat_run(const ptq_task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_latency_opts o;
    (void)sha;
    if (ptq_latency_parse(arg, &o, err)) return -1;
    ptq_latency_machine(e->extra);
    /* an exported model comes without its FP model: the FP32 path runs its dequantized twin, as bench does */
    ptq_model twin;
    int have_twin = !e->fp && !ptq_latency_fp32_twin(&twin, e->m, err);
    if (!e->fp && !have_twin) return -1;
    int rc = ptq_latency_run(e->m, have_twin ? &twin : e->fp, &o, metrics, err);
    if (have_twin) ptq_model_free(&twin);
    if (rc == PTQ_LAT_UNSUPPORTED) {
        fprintf(stderr, "warning: latency task: %s\n", err->msg);
        cJSON_AddStringToObject(metrics, "error", err->msg);
        return 0;
    }
    return rc;
}

/* Throughputs (*tokens_per_sec, *_tps) and times (*_ms, *_s) are gated. */
static ptq_gate_rule lat_gate(const char *name) {
    size_t l = strlen(name);
    if ((l > 14 && !strcmp(name + l - 14, "tokens_per_sec")) || (l > 4 && !strcmp(name + l - 4, "_tps")))
        return PTQ_GATE_SPEED;
    if ((l > 3 && !strcmp(name + l - 3, "_ms")) || (l > 2 && !strcmp(name + l - 2, "_s"))) return PTQ_GATE_TIME;
    return PTQ_GATE_NONE;
}

const ptq_task_kind ptq_task_latency = {
    .name = "latency",
    .usage = "latency[:T=128+512:ctx=512:reps=5:logits=last|all]",
    .bare = 1,
    .needs_fp = 1,
    .check = lat_check,
    .run = lat_run,
    .gate_of = lat_gate,
};
