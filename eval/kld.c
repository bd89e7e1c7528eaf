/* kld.c — KL divergence of a (quantized) model to the full-precision model,
 * like llama.cpp's --kl-divergence (EVAL.md).
 *
 * The FP model's per-position log-softmax over the same windows as the
 * perplexity protocol (ptq_eval_windows) is computed once and cached on disk,
 * keyed by model sha256, dataset sha256, sha256 of the token stream (so a
 * different tokenizer cannot reuse it), seqlen, windows, first scored
 * position and the storage mode. Storage: the full distribution (fp32) when
 * the vocabulary is small (<= 4096) and the payload fits 512 MiB; else the
 * top-K (default 64) log-probs + indices, the tail mass being 1 - sum(top-K).
 * Each record also keeps the target's log-prob and the FP argmax.
 *
 * Both sides are rounded to fp32 log-probs before comparing, so a model
 * against itself gives exactly 0.
 * KLD(P_fp || Q) per position: full mode sum_i p_i (log p_i - log q_i); top-K
 * mode the same over the K FP tokens plus one "tail" bucket
 * p_tail log(p_tail / q_tail) (a lower bound of the full KLD by the
 * log-sum inequality; recorded as kld_topk in the result).
 * kld_p99 is the 99th percentile over positions (linear interpolation at
 * rank 0.99 (n-1)); top1_agree the % of positions where the argmaxes match;
 * ppl_ratio = ppl_q / ppl_fp on the same targets.
 *
 * Cache file: a fixed header (magic, version, key fields, payload size,
 * sha256 of header-with-zeroed-checksum + payload) then the records, written
 * with ptq_write_file_atomic. A missing, corrupt or mismatched file is
 * reported on stderr and recomputed; it never yields a number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "model_open.h"
#include "task.h"

#define KLD_MAGIC "PTQKLD\x01"
#define KLD_VERSION 1
#define KLD_FULL_MAX_VOCAB 4096
#define KLD_FULL_MAX_BYTES (512LL << 20)
#define KLD_DEFAULT_TOPK 64

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    char model_sha[65], dataset_sha[65], tokens_sha[65], dataset[64];
    int32_t seqlen, windows, first, vocab, topk; /* topk 0 = full distribution */
    int64_t positions, payload_bytes;
    char checksum[65];
} kld_header;

typedef struct {
    kld_header h;
    size_t rec;          /* bytes per position */
    unsigned char *data; /* header + payload (one buffer, written/read whole) */
    size_t bytes;
} kld_cache;

static size_t rec_bytes(int vocab, int topk) {
    return 8 + (topk ? (size_t)topk * 8 : (size_t)vocab * 4);
}

/* Record layout: float target_logp, int32 argmax, then vocab floats (full)
 * or topk int32 ids followed by topk floats (top-K). */
static unsigned char *rec_at(const kld_cache *c, long pos) {
    return c->data + sizeof(kld_header) + (size_t)pos * c->rec;
}

static void header_checksum(const kld_cache *c, char hex[65]) {
    kld_header h = c->h;
    memset(h.checksum, 0, sizeof h.checksum);
    memcpy(c->data, &h, sizeof h);
    ptq_sha256_buf(c->data, c->bytes, hex);
}

/* ---- FP pass: fill the records ---- */
typedef struct {
    kld_cache *c;
    long pos;
} fp_ctx;

/* top-K of a row by a min-heap of size K (ids sorted by descending value at the end). */
static void topk_row(const double *lp, int V, int K, int *ids) {
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n < K) {
            int j = n++;
            while (j > 0 && lp[ids[(j - 1) / 2]] > lp[i]) ids[j] = ids[(j - 1) / 2], j = (j - 1) / 2;
            ids[j] = i;
        } else if (lp[i] > lp[ids[0]]) {
            int j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, s = j;
                double cur = lp[i];
                if (l < K && lp[ids[l]] < cur) s = l;
                if (r < K && lp[ids[r]] < (s == j ? cur : lp[ids[s]])) s = r;
                if (s == j) break;
                ids[j] = ids[s];
                j = s;
            }
            ids[j] = i;
        }
    }
    for (int a = 1; a < K; a++) /* insertion sort, K is small */
        for (int b = a; b > 0 && lp[ids[b]] > lp[ids[b - 1]]; b--) {
            int t = ids[b];
            ids[b] = ids[b - 1];
            ids[b - 1] = t;
        }
}

static void log_softmax(const float *x, int V, double *out) {
    float mx = x[0];
    for (int i = 1; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)x[i] - mx);
    double lz = mx + log(s);
    for (int i = 0; i < V; i++) out[i] = (double)x[i] - lz;
}

static int fp_window(void *vctx, int w, const int *win, const float *logits, int T, int first, int V) {
    (void)w;
    fp_ctx *f = vctx;
    kld_cache *c = f->c;
    int K = c->h.topk, bad = 0;
#pragma omp parallel
    {
        double *lp = malloc((size_t)V * sizeof(double));
        int *ids = K ? malloc((size_t)K * sizeof(int)) : NULL;
        if (!lp || (K && !ids)) {
#pragma omp atomic write
            bad = 1;
        }
#pragma omp for schedule(static)
        for (int t = first; t < T - 1; t++) {
            if (!lp || (K && !ids)) continue;
            unsigned char *r = rec_at(c, f->pos + (t - first));
            log_softmax(logits + (size_t)t * V, V, lp);
            float tl = (float)lp[win[t + 1]];
            int32_t am = 0;
            for (int i = 1; i < V; i++)
                if (lp[i] > lp[am]) am = i;
            memcpy(r, &tl, 4);
            memcpy(r + 4, &am, 4);
            if (!K) {
                float *o = (float *)(void *)(r + 8);
                for (int i = 0; i < V; i++) o[i] = (float)lp[i];
            } else {
                topk_row(lp, V, K, ids);
                for (int i = 0; i < K; i++) {
                    int32_t id = ids[i];
                    float v = (float)lp[id];
                    memcpy(r + 8 + 4 * (size_t)i, &id, 4);
                    memcpy(r + 8 + 4 * (size_t)K + 4 * (size_t)i, &v, 4);
                }
            }
        }
        free(lp);
        free(ids);
    }
    f->pos += T - 1 - first;
    return bad;
}

/* ---- quantized pass: compare against the records ---- */
typedef struct {
    const kld_cache *c;
    long pos;
    double *kld;     /* per position */
    unsigned char *top1;
    double *nll_q;
} q_ctx;

static double kld_full(const double *lq, const float *lp, int V) {
    double s = 0;
    for (int i = 0; i < V; i++) {
        double p = exp((double)lp[i]);
        if (p > 0) s += p * ((double)lp[i] - lq[i]);
    }
    return s;
}

static double kld_topk(const double *lq, const unsigned char *r, int K) {
    double s = 0, pt = 0, qt = 0;
    for (int i = 0; i < K; i++) {
        int32_t id;
        float lp;
        memcpy(&id, r + 8 + 4 * (size_t)i, 4);
        memcpy(&lp, r + 8 + 4 * (size_t)K + 4 * (size_t)i, 4);
        double p = exp((double)lp);
        s += p * ((double)lp - lq[id]);
        pt += p;
        qt += exp(lq[id]);
    }
    double ptail = 1 - pt, qtail = 1 - qt;
    if (ptail > 1e-12) s += ptail * (log(ptail) - log(qtail > 1e-300 ? qtail : 1e-300));
    return s;
}

static int q_window(void *vctx, int w, const int *win, const float *logits, int T, int first, int V) {
    (void)w;
    q_ctx *q = vctx;
    const kld_cache *c = q->c;
    int bad = 0;
#pragma omp parallel
    {
        double *lq = malloc((size_t)V * sizeof(double));
        if (!lq) {
#pragma omp atomic write
            bad = 1;
        }
#pragma omp for schedule(static)
        for (int t = first; t < T - 1; t++) {
            if (!lq) continue;
            long pos = q->pos + (t - first);
            const unsigned char *r = rec_at(c, pos);
            log_softmax(logits + (size_t)t * V, V, lq);
            int32_t am_fp;
            memcpy(&am_fp, r + 4, 4);
            int am = 0;
            for (int i = 1; i < V; i++)
                if (lq[i] > lq[am]) am = i;
            q->top1[pos] = am == am_fp;
            for (int i = 0; i < V; i++) lq[i] = (float)lq[i]; /* same fp32 rounding as the cached FP side */
            q->nll_q[pos] = -lq[win[t + 1]];
            q->kld[pos] = c->h.topk ? kld_topk(lq, r, c->h.topk) : kld_full(lq, (const float *)(const void *)(r + 8), V);
        }
        free(lq);
    }
    q->pos += T - 1 - first;
    return bad;
}

/* ---- cache I/O ---- */
/* -1 unless every record holds ids in 0..V-1 and finite log-probs <= 0 (a
 * cache with a valid checksum can still come from a buggy or hostile writer;
 * its ids index the quantized model's log-probs). */
static long bad_record(const kld_cache *c) {
    int V = c->h.vocab, K = c->h.topk, nf = K ? K : V;
    for (long p = 0; p < c->h.positions; p++) {
        const unsigned char *r = rec_at(c, p);
        int32_t id;
        float lp;
        memcpy(&lp, r, 4), memcpy(&id, r + 4, 4);
        if (!(lp <= 0) || !isfinite(lp) || id < 0 || id >= V) return p;
        for (int i = 0; i < K; i++) {
            memcpy(&id, r + 8 + 4 * (size_t)i, 4);
            if (id < 0 || id >= V) return p;
        }
        for (int i = 0; i < nf; i++) {
            memcpy(&lp, r + 8 + 4 * (size_t)(K + i), 4);
            if (!(lp <= 0) || !isfinite(lp)) return p;
        }
    }
    return -1;
}

static int cache_load(kld_cache *c, const char *path, const kld_header *want, char *why, size_t whycap) {
    char *buf;
    size_t len;
    ptq_err e;
    if (!ptq_file_exists(path)) return snprintf(why, whycap, "no cache yet"), -1;
    if (ptq_read_file(path, &buf, &len, &e)) return snprintf(why, whycap, "%s", e.msg), -1;
    kld_header h;
    int rc = -1;
    if (len < sizeof h) snprintf(why, whycap, "%s: truncated header", path);
    else {
        memcpy(&h, buf, sizeof h);
        size_t rec = rec_bytes(h.vocab, h.topk);
        if (memcmp(h.magic, KLD_MAGIC, 8) || h.version != KLD_VERSION || h.header_bytes != sizeof h)
            snprintf(why, whycap, "%s: not a ptqbench KLD cache (magic/version)", path);
        else if (strcmp(h.model_sha, want->model_sha) || strcmp(h.dataset_sha, want->dataset_sha) ||
                 strcmp(h.tokens_sha, want->tokens_sha) || h.seqlen != want->seqlen || h.windows != want->windows ||
                 h.first != want->first || h.vocab != want->vocab || h.topk != want->topk)
            snprintf(why, whycap, "%s: key mismatch (cache is for another model/dataset/seqlen/windows)", path);
        else if (h.positions != want->positions || h.payload_bytes != (int64_t)(rec * h.positions) ||
                 len != sizeof h + (size_t)h.payload_bytes)
            snprintf(why, whycap, "%s: size does not match the header (truncated?)", path);
        else {
            c->h = h;
            c->rec = rec;
            c->data = (unsigned char *)buf;
            c->bytes = len;
            char hex[65];
            header_checksum(c, hex);
            memcpy(c->data, &c->h, sizeof c->h);
            long bad = strcmp(hex, h.checksum) ? -2 : bad_record(c);
            if (bad == -1) return 0;
            if (bad == -2) snprintf(why, whycap, "%s: checksum mismatch (corrupt)", path);
            else
                snprintf(why, whycap, "%s: record %ld holds an id outside the vocabulary or a log-prob that is not "
                         "finite and <= 0", path, bad);
            c->data = NULL;
        }
    }
    free(buf);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void hash_ints(const int *ids, long n, char hex[65]) { ptq_sha256_buf(ids, (size_t)n * sizeof(int), hex); }

int ptq_kld_run(const ptq_model *q, const ptq_model *fp, const ptq_tokenizer *tok, const char *dataset,
                const ptq_kld_opts *o, cJSON *metrics, ptq_err *err) {
    ptq_tokens toks;
    if (ptq_text_tokens(dataset, tok, &toks, err)) return -1;
    int rc = ptq_kld_run_tokens(q, fp, &toks, dataset, o, metrics, err);
    ptq_tokens_free(&toks);
    return rc;
}

int ptq_kld_run_tokens(const ptq_model *q, const ptq_model *fp, const ptq_tokens *tp, const char *dataset,
                       const ptq_kld_opts *o, cJSON *metrics, ptq_err *err) {
    const ptq_model *ref = fp ? fp : q;
    const ptq_tokens toks = *tp;
    /* An exported file without its FP model: the FP model it was made from
     * names the cache (never the file itself: that would be a KLD of 0). */
    int from_export = !fp && q->source.method[0];
    char fp_sha[65] = "";
    if (from_export && !q->source.sha256[0])
        return ptq_fail(err, "kld: %s does not record the sha256 of the FP model it was exported from (%s): "
                        "use `ptqbench kld --model FP --qmodel %s`", q->path, q->source.model, q->path);
    if (from_export) snprintf(fp_sha, sizeof fp_sha, "%s", q->source.sha256);
    else if (ptq_model_weights_sha256(ref, fp_sha, err)) return ptq_wrap(err, "kld: keying the FP cache");
    if (fp && (fp->cfg.vocab_size != q->cfg.vocab_size || fp->cfg.max_seq != q->cfg.max_seq))
        return ptq_fail(err, "kld: FP and quantized models differ in vocab (%d vs %d) or max_seq (%d vs %d)",
                        fp->cfg.vocab_size, q->cfg.vocab_size, fp->cfg.max_seq, q->cfg.max_seq);
    if (o->topk < 0) return ptq_fail(err, "kld: topk %d must be >= 0", o->topk);
    int V = q->cfg.vocab_size, L = o->ppl.seqlen > 0 ? o->ppl.seqlen : q->cfg.max_seq;
    kld_header want;
    memset(&want, 0, sizeof want);
    memcpy(want.magic, KLD_MAGIC, 8);
    want.version = KLD_VERSION;
    want.header_bytes = sizeof want;
    snprintf(want.model_sha, sizeof want.model_sha, "%s", fp_sha);
    snprintf(want.dataset_sha, sizeof want.dataset_sha, "%s", toks.sha256);
    snprintf(want.dataset, sizeof want.dataset, "%s", dataset);
    hash_ints(toks.ids, toks.n, want.tokens_sha);
    want.seqlen = L;
    long nwin = L >= 2 ? toks.n / L : 0;
    if (o->ppl.limit_windows > 0 && o->ppl.limit_windows < nwin) nwin = o->ppl.limit_windows;
    want.windows = (int)nwin;
    want.first = o->ppl.protocol == PTQ_PPL_HALFWINDOW ? L / 2 : 0;
    want.vocab = V;
    want.positions = nwin * (long)(L - 1 - want.first);
    int full_ok = V <= KLD_FULL_MAX_VOCAB && (long long)rec_bytes(V, 0) * want.positions <= KLD_FULL_MAX_BYTES;
    want.topk = o->topk > 0 ? PTQ_MIN(o->topk, V) : (full_ok ? 0 : PTQ_MIN(KLD_DEFAULT_TOPK, V));
    if (want.topk == V) want.topk = 0; /* top-V is the full distribution */
    want.payload_bytes = (int64_t)rec_bytes(V, want.topk) * want.positions;

    /* The FP log-probs carry the rounding of the code and of OpenBLAS's kernels that made them: a cache made
     * by another version or kernel set would give the FP model a KLD of ~1e-10 to itself. */
    char key_text[640], key[65], dir[4096], path[4600];
    snprintf(key_text, sizeof key_text, "%s|%s|%s|%d|%d|%d|%d|%d|%s|%s", want.model_sha, want.dataset_sha,
             want.tokens_sha, L, want.windows, want.first, V, want.topk, ptq_version(), ptq_blas_kernels());
    ptq_sha256_buf(key_text, strlen(key_text), key);
    snprintf(dir, sizeof dir, "%s", o->cache_dir && *o->cache_dir ? o->cache_dir : "results/.kld_cache");
    snprintf(path, sizeof path, "%s/kld-%s-%.24s.bin", dir, dataset, key);

    kld_cache c = {0};
    char why[1024] = "";
    const char *cache_state = "hit";
    int rc = 0;
    if (cache_load(&c, path, &want, why, sizeof why)) {
        if (strcmp(why, "no cache yet") != 0) fprintf(stderr, "warning: KLD cache %s; recomputing\n", why);
        cache_state = strcmp(why, "no cache yet") == 0 ? "miss" : "recomputed";
        if (from_export)
            rc = ptq_fail(err, "kld: %s is an export of %s; the FP log-probs of that model for %s (these windows) are "
                          "not cached (%s): score the FP model once with the same --seqlen/--limit-windows "
                          "(`ptqbench run --model %s --method fp16 --eval kld:%s`), or use `ptqbench kld --model "
                          "%s --qmodel %s`", q->path, q->source.model, dataset, why, q->source.model, dataset,
                          q->source.model, q->path);
        else if (!fp)
            rc = ptq_fail(err, "kld: FP log-probs not cached (%s) and no FP model given", why);
        c.h = want;
        c.rec = rec_bytes(V, want.topk);
        c.bytes = sizeof want + (size_t)want.payload_bytes;
        if (!rc && !(c.data = ptq_calloc(c.bytes, 1, err))) rc = -1;
        fp_ctx f = {&c, 0};
        int nw = 0, sl = 0;
        if (!rc) rc = ptq_eval_windows(fp, &toks, &o->ppl, fp_window, &f, &nw, &sl, err);
        if (!rc && (nw != want.windows || sl != L || f.pos != want.positions))
            rc = ptq_fail(err, "kld: window walk gave %d windows x %d, expected %d x %d", nw, sl, want.windows, L);
        if (!rc) {
            header_checksum(&c, c.h.checksum);
            memcpy(c.data, &c.h, sizeof c.h);
            if (ptq_mkdir_p(dir, err) || ptq_write_file_atomic(path, c.data, c.bytes, err))
                rc = ptq_wrap(err, "kld: writing the FP cache");
        }
    }
    q_ctx qc = {&c, 0, NULL, NULL, NULL};
    long np = want.positions;
    if (!rc && (!(qc.kld = ptq_calloc(np, sizeof(double), err)) || !(qc.top1 = ptq_calloc(np, 1, err)) ||
                !(qc.nll_q = ptq_calloc(np, sizeof(double), err))))
        rc = -1;
    int nw = 0, sl = 0;
    if (!rc) rc = ptq_eval_windows(q, &toks, &o->ppl, q_window, &qc, &nw, &sl, err);
    if (!rc && qc.pos != np) rc = ptq_fail(err, "kld: scored %ld positions, cache holds %ld", qc.pos, np);
    if (!rc) {
        double ks = 0, ks2 = 0, agree = 0, nq = 0, nf = 0;
        for (long i = 0; i < np; i++) {
            float tl;
            memcpy(&tl, rec_at(&c, i), 4);
            ks += qc.kld[i];
            ks2 += qc.kld[i] * qc.kld[i];
            agree += qc.top1[i];
            nq += qc.nll_q[i];
            nf -= tl;
        }
        double mean = ks / np, var = np > 1 ? (ks2 - ks * mean) / (np - 1) : 0;
        qsort(qc.kld, (size_t)np, sizeof(double), cmp_double);
        double r = 0.99 * (np - 1), fr = r - floor(r);
        long lo = (long)floor(r), hi = PTQ_MIN(lo + 1, np - 1);
        cJSON_AddNumberToObject(metrics, "kld_mean", mean);
        cJSON_AddNumberToObject(metrics, "kld_p99", qc.kld[lo] * (1 - fr) + qc.kld[hi] * fr);
        cJSON_AddNumberToObject(metrics, "kld_stderr", sqrt(var > 0 ? var / np : 0));
        cJSON_AddNumberToObject(metrics, "top1_agree", 100.0 * agree / np);
        cJSON_AddNumberToObject(metrics, "ppl_q", exp(nq / np));
        cJSON_AddNumberToObject(metrics, "ppl_fp", exp(nf / np));
        cJSON_AddNumberToObject(metrics, "ppl_ratio", exp((nq - nf) / np));
        cJSON_AddNumberToObject(metrics, "positions", (double)np);
        cJSON_AddNumberToObject(metrics, "windows", want.windows);
        cJSON_AddNumberToObject(metrics, "seqlen", L);
        cJSON_AddNumberToObject(metrics, "kld_topk", want.topk);
        cJSON_AddStringToObject(metrics, "dataset", dataset);
        cJSON_AddStringToObject(metrics, "dataset_sha256", toks.sha256);
        cJSON_AddStringToObject(metrics, "fp_model_sha256", want.model_sha);
        cJSON_AddStringToObject(metrics, "cache", cache_state);
        cJSON_AddStringToObject(metrics, "cache_path", path);
    }
    if (!rc) rc = ptq_metrics_finite(metrics, err);
    free(qc.kld);
    free(qc.top1);
    free(qc.nll_q);
    free(c.data);
    return rc;
}

/* ---- task kind "kld:<dataset>" ---- */
static int kld_run(const ptq_task_env *e, const char *arg, cJSON *metrics, char sha[65], ptq_err *err) {
    ptq_kld_opts o = {.ppl = e->o->ppl};
    o.ppl.progress = e->o->progress;
    if (ptq_kld_run(e->m, e->fp, e->tok, arg, &o, metrics, err)) return -1;
    ptq_task_take_sha(metrics, sha);
    if (!sha[0]) {
        ptq_tokens t; /* the text's sha256 comes with its tokens */
        if (ptq_text_tokens(arg, e->tok, &t, NULL) == 0) memcpy(sha, t.sha256, 65), ptq_tokens_free(&t);
    }
    return 0;
}

static const ptq_report_col kld_col = {
    .per_task = 1,
    .metric = "kld_mean",
    .head = "KLD ",
    .caption = "KLD: mean KL divergence to the FP model (lower is better).",
    .plot_label = "mean KLD to FP (log)",
    .decimals = 4,
    .lower_better = 1,
};

static const ptq_gate kld_gates[] = {
    {.metric = "kld_mean", .rule = PTQ_GATE_KLD},
    {.metric = "kld_p99", .rule = PTQ_GATE_KLD},
    {.metric = "top1_agree", .rule = PTQ_GATE_AGREE},
    {0},
};

const ptq_task_kind ptq_task_kld = {
    .name = "kld",
    .usage = "kld:<dataset>",
    .text_dataset = 1,
    .arg_dataset = 1,
    .needs_fp = 1,
    .check = ptq_text_dataset_check,
    .run = kld_run,
    .headline = {"kld_mean"},
    .report = &kld_col,
    .gates = kld_gates,
};
