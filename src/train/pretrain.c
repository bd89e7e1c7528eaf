/* pretrain.c — pre-training from scratch on the training engine (pretrain.h). */
#include "pretrain.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hf_checkpoint.h"
#include "matmul.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "train.h"

/* ---- config -------------------------------------------------------------- */

typedef enum { F_STR, F_INT, F_LONG, F_DBL, F_BOOL, F_U64, F_FRACS } ftype;
typedef struct {
    const char *sec, *key;
    ftype t;
    size_t off, cap; /* cap: string buffer size */
    double lo, hi;   /* numbers: inclusive range */
    int required;
    double def;
} field;

#define OFF(f) offsetof(ptq_pretrain_cfg, f)
#define STR(s, k, f) {s, k, F_STR, OFF(f), sizeof(((ptq_pretrain_cfg *)0)->f), 0, 0, 1, 0}
#define NUM(s, k, t, f, lo, hi, req, def) {s, k, t, OFF(f), 0, lo, hi, req, def}
static const field fields[] = {
    STR("", "name", name),
    STR("", "out", out),
    NUM("model", "dim", F_INT, model.dim, 8, 16384, 1, 0),
    NUM("model", "n_layers", F_INT, model.n_layers, 1, 256, 1, 0),
    NUM("model", "n_heads", F_INT, model.n_heads, 1, 1024, 1, 0),
    NUM("model", "n_kv_heads", F_INT, model.n_kv_heads, 1, 1024, 1, 0),
    NUM("model", "hidden_dim", F_INT, model.hidden_dim, 1, 65536, 1, 0),
    NUM("model", "vocab_size", F_INT, model.vocab_size, 8, 262144, 1, 0),
    NUM("model", "max_seq", F_INT, model.max_seq, 2, 65536, 1, 0),
    NUM("model", "rope_theta", F_DBL, model.rope_theta, 1, 1e9, 0, 10000),
    NUM("model", "norm_eps", F_DBL, model.norm_eps, 1e-12, 1e-2, 0, 1e-5),
    NUM("model", "tied_embeddings", F_BOOL, model.tied_embeddings, 0, 1, 0, 1),
    STR("data", "train", train_path),
    STR("data", "val", val_path),
    STR("data", "tokenizer", tokenizer),
    NUM("train", "seed", F_U64, seed, 0, 4294967295.0, 1, 0),
    NUM("train", "steps", F_LONG, steps, 1, 1e9, 1, 0),
    NUM("train", "batch", F_INT, batch, 1, 4096, 1, 0),
    NUM("train", "seq_len", F_INT, seq_len, 2, 65536, 1, 0),
    NUM("train", "lr", F_DBL, lr, 1e-8, 1, 1, 0),
    NUM("train", "lr_min", F_DBL, lr_min, 0, 1, 0, 0),
    NUM("train", "warmup", F_LONG, warmup, 0, 1e9, 0, 0),
    NUM("train", "weight_decay", F_DBL, weight_decay, 0, 10, 0, 0.1),
    NUM("train", "beta1", F_DBL, beta1, 0, 0.999999, 0, 0.9),
    NUM("train", "beta2", F_DBL, beta2, 0, 0.999999, 0, 0.95),
    NUM("train", "grad_clip", F_DBL, grad_clip, 0, 1e6, 0, 1.0),
    NUM("train", "init_std", F_DBL, init_std, 1e-6, 10, 0, 0.02),
    NUM("eval", "every", F_LONG, eval_every, 1, 1e9, 1, 0),
    NUM("eval", "windows", F_INT, val_windows, 1, 1000000, 1, 0),
    NUM("checkpoint", "every", F_LONG, ckpt_every, 1, 1e9, 1, 0),
    NUM("checkpoint", "snapshots", F_FRACS, snapshots, 0, 1, 0, 0),
    NUM("expected", "val_loss", F_DBL, expected_val_loss, 0, 100, 0, NAN),
    STR("expected", "note", expected_note),
};
static const char *const sections[] = {"", "model", "data", "train", "eval", "checkpoint", "expected"};
enum { NSEC = sizeof sections / sizeof *sections, NFIELD = sizeof fields / sizeof *fields };

static const char *type_name(const cJSON *v) {
    return cJSON_IsString(v)   ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "a boolean"
           : cJSON_IsArray(v)  ? "an array"
           : cJSON_IsObject(v) ? "an object"
                               : "null";
}

static void path_of(const field *f, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s%s", f->sec, *f->sec ? "." : "", f->key);
}

static int set_field(const field *f, const cJSON *v, ptq_pretrain_cfg *c, const char *where, ptq_err *err) {
    char p[64];
    path_of(f, p, sizeof p);
    char *dst = (char *)c + f->off;
    if (f->t == F_STR) {
        if (!cJSON_IsString(v)) return ptq_fail(err, "%s: %s: expected a string, got %s", where, p, type_name(v));
        size_t n = strlen(v->valuestring);
        if ((!n && strcmp(f->key, "note")) || n >= f->cap)
            return ptq_fail(err, "%s: %s: expected a non-empty string of at most %zu bytes", where, p, f->cap - 1);
        memcpy(dst, v->valuestring, n + 1);
        return 0;
    }
    if (f->t == F_FRACS) { /* up to 8 increasing fractions in (0, 1) */
        int n = cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || n > 8)
            return ptq_fail(err, "%s: %s: expected an array of at most 8 numbers, got %s", where, p, type_name(v));
        for (int i = 0; i < n; i++) {
            const cJSON *x = cJSON_GetArrayItem(v, i);
            double y = cJSON_IsNumber(x) ? x->valuedouble : NAN;
            if (!(y > 0 && y < 1) || (i && y <= c->snapshots[i - 1]))
                return ptq_fail(err, "%s: %s[%d]: expected increasing fractions in (0, 1)", where, p, i);
            c->snapshots[i] = y;
        }
        c->nsnapshots = n;
        return 0;
    }
    if (f->t == F_BOOL) {
        if (!cJSON_IsBool(v)) return ptq_fail(err, "%s: %s: expected true or false, got %s", where, p, type_name(v));
        *(int *)dst = cJSON_IsTrue(v);
        return 0;
    }
    if (!cJSON_IsNumber(v)) return ptq_fail(err, "%s: %s: expected a number, got %s", where, p, type_name(v));
    double x = v->valuedouble;
    int integral = f->t != F_DBL;
    if (!isfinite(x) || x < f->lo || x > f->hi || (integral && x != floor(x)))
        return ptq_fail(err, "%s: %s: expected %s in [%g, %g], got %g", where, p, integral ? "an integer" : "a number",
                        f->lo, f->hi, x);
    switch (f->t) {
    case F_INT: *(int *)dst = (int)x; break;
    case F_LONG: *(long *)dst = (long)x; break;
    case F_U64: *(uint64_t *)dst = (uint64_t)x; break;
    case F_DBL:
        if (f->off == OFF(model.rope_theta) || f->off == OFF(model.norm_eps)) *(float *)dst = (float)x;
        else *(double *)dst = x;
        break;
    default: break;
    }
    return 0;
}

static void set_default(const field *f, ptq_pretrain_cfg *c) {
    char *dst = (char *)c + f->off;
    if (f->t == F_BOOL) *(int *)dst = (int)f->def;
    else if (f->t == F_LONG) *(long *)dst = (long)f->def;
    else if (f->t == F_DBL) {
        if (f->off == OFF(model.rope_theta) || f->off == OFF(model.norm_eps)) *(float *)dst = (float)f->def;
        else *(double *)dst = f->def;
    }
}

/* Keys of object o must be in the table for section sec (or sections at the top). */
static int check_keys(const cJSON *o, const char *sec, const char *where, ptq_err *err) {
    for (const cJSON *it = o->child; it; it = it->next) {
        int ok = 0;
        char list[512] = "";
        for (int i = 0; i < NFIELD; i++)
            if (!strcmp(fields[i].sec, sec)) {
                ok |= !strcmp(fields[i].key, it->string);
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", fields[i].key);
            }
        for (int s = 1; !*sec && s < NSEC; s++) {
            ok |= !strcmp(sections[s], it->string);
            snprintf(list + strlen(list), sizeof list - strlen(list), ", %s", sections[s]);
        }
        if (!ok)
            return ptq_fail(err, "%s: %s%s%s: unknown field (expected one of: %s)", where, sec, *sec ? "." : "",
                            it->string, list);
    }
    return 0;
}

static int check_cfg(ptq_pretrain_cfg *c, const char *where, ptq_err *err) {
    ptq_config *m = &c->model;
    if (m->dim % m->n_heads) return ptq_fail(err, "%s: model.dim %d is not a multiple of model.n_heads %d", where, m->dim, m->n_heads);
    if (m->n_heads % m->n_kv_heads)
        return ptq_fail(err, "%s: model.n_heads %d is not a multiple of model.n_kv_heads %d", where, m->n_heads,
                        m->n_kv_heads);
    m->head_dim = m->dim / m->n_heads;
    if (m->head_dim % 2) return ptq_fail(err, "%s: model head_dim %d (dim / n_heads) must be even for RoPE", where, m->head_dim);
    m->rope_style = PTQ_ROPE_HALF, m->bos_id = 1, m->eos_id = 2;
    if (c->seq_len > m->max_seq)
        return ptq_fail(err, "%s: train.seq_len %d is above model.max_seq %d", where, c->seq_len, m->max_seq);
    if (c->lr_min > c->lr) return ptq_fail(err, "%s: train.lr_min %g is above train.lr %g", where, c->lr_min, c->lr);
    if (c->warmup >= c->steps)
        return ptq_fail(err, "%s: train.warmup %ld must be below train.steps %ld", where, c->warmup, c->steps);
    if (ptq_config_check(m, where, err)) return -1;
    return 0;
}

int ptq_pretrain_parse(const char *text, size_t len, const char *where, ptq_pretrain_cfg *c, ptq_err *err) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) return ptq_fail(err, "%s: not valid JSON", where);
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = ptq_fail(err, "%s: expected a JSON object at the top", where);
    for (int s = 0; s < NSEC && !rc; s++) {
        const cJSON *o = *sections[s] ? cJSON_GetObjectItemCaseSensitive(root, sections[s]) : root;
        if (*sections[s] && o && !cJSON_IsObject(o))
            rc = ptq_fail(err, "%s: %s: expected an object, got %s", where, sections[s], type_name(o));
        else if (!o && strcmp(sections[s], "expected")) rc = ptq_fail(err, "%s: %s: missing section", where, sections[s]);
        else if (o) rc = check_keys(o, sections[s], where, err);
        for (int i = 0; i < NFIELD && !rc; i++) {
            const field *f = &fields[i];
            if (strcmp(f->sec, sections[s])) continue;
            const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, f->key) : NULL;
            char p[64];
            path_of(f, p, sizeof p);
            if (v) rc = set_field(f, v, c, where, err);
            else if (f->required && strcmp(f->sec, "expected")) rc = ptq_fail(err, "%s: %s: missing", where, p);
            else set_default(f, c);
        }
    }
    if (!rc) { /* the identity leaves out `expected` (documentation): filling in measured figures keeps it */
        cJSON_DeleteItemFromObjectCaseSensitive(root, "expected");
        char *canon = cJSON_PrintUnformatted(root);
        if (!canon) rc = ptq_fail(err, "%s: out of memory", where);
        else ptq_sha256_buf(canon, strlen(canon), c->sha256), cJSON_free(canon);
    }
    cJSON_Delete(root);
    if (!rc) rc = check_cfg(c, where, err);
    return rc;
}

int ptq_pretrain_load(const char *path, ptq_pretrain_cfg *c, ptq_err *err) {
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    int rc = ptq_pretrain_parse(text, len, path, c, err);
    free(text);
    return rc;
}

/* ---- data ---------------------------------------------------------------- */

/* Next document of s[*p..n): blank lines separate documents. */
static int next_doc(const char *s, size_t n, size_t *p, size_t *b, size_t *e) {
    while (*p < n && s[*p] == '\n') (*p)++;
    if (*p >= n) return 0;
    *b = *p;
    size_t q = *p;
    while (q < n && !(s[q] == '\n' && q + 1 < n && s[q + 1] == '\n')) q++;
    *e = q;
    while (*e > *b && s[*e - 1] == '\n') (*e)--;
    *p = q;
    return 1;
}

/* Does ids (after BOS) decode to exactly doc? */
static int round_trips(const ptq_tokenizer *tok, const int *ids, int n, const char *doc, size_t len) {
    size_t at = 0;
    char buf[512];
    for (int i = 1; i < n; i++) {
        int k = tok->decode(tok, ids[i - 1], ids[i], buf, sizeof buf);
        if (k < 0 || at + (size_t)k > len || memcmp(doc + at, buf, (size_t)k)) return 0;
        at += (size_t)k;
    }
    return at == len;
}

int ptq_pretrain_encode(const ptq_tokenizer *tok, const char *path, int **ids, long *n, long *docs, long *bad,
                        ptq_err *err) {
    char *text;
    size_t len, p = 0, b, e;
    *ids = NULL, *n = 0, *docs = 0, *bad = 0;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    long cap = 0;
    int rc = 0;
    while (!rc && next_doc(text, len, &p, &b, &e)) {
        int *d = NULL, nd = 0;
        if (tok->encode(tok, text + b, e - b, 1, 0, &d, &nd, err)) {
            rc = ptq_wrap(err, "%s: document %ld", path, *docs + 1);
            break;
        }
        *bad += !round_trips(tok, d, nd, text + b, e - b);
        (*docs)++;
        if (*n + nd > cap) {
            long nc = cap ? 2 * cap : 1 << 16;
            while (nc < *n + nd) nc *= 2;
            int *g = realloc(*ids, (size_t)nc * sizeof(int));
            if (!g) rc = ptq_fail(err, "%s: out of memory for %ld tokens", path, nc);
            else *ids = g, cap = nc;
        }
        if (!rc) memcpy(*ids + *n, d, (size_t)nd * sizeof(int)), *n += nd;
        free(d);
    }
    free(text);
    if (!rc && !*docs) rc = ptq_fail(err, "%s: no documents (text separated by blank lines expected)", path);
    if (rc) free(*ids), *ids = NULL;
    return rc;
}

/* ---- training ------------------------------------------------------------ */

typedef struct {
    const ptq_pretrain_cfg *c;
    ptq_model m;
    ptq_tmodel tm;
    ptq_tape *tape;
    ptq_adamw opt;
    ptq_tokenizer *tok;
    int *train, *val;
    long ntrain, nval;
    int have_m, have_tm, have_opt;
    char ckpt[4200], log[4200];
    /* per-step state (after_step) */
    long stop_after, step0, step; /* step0 -1 until the first step of this process */
    double loss, vloss; /* last step's batch loss, last validation loss */
    FILE *logf;
} run_t;

static void fill_normal(float *w, size_t n, double sd, ptq_rng *r) {
    for (size_t i = 0; i < n; i++) w[i] = (float)(sd * ptq_rng_normal(r));
}

/* GPT-2 style init: N(0, std), residual-output projections (o, down) scaled
 * by 1/sqrt(2 n_layers), norm gains 1. */
static void init_weights(ptq_model *m, const ptq_pretrain_cfg *c) {
    const ptq_config *k = &m->cfg;
    ptq_rng r;
    ptq_rng_seed(&r, c->seed);
    fill_normal(m->tok_emb, (size_t)k->vocab_size * k->dim, c->init_std, &r);
    for (int l = 0; l < k->n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        for (int j = 0; j < k->dim; j++) L->rms_att[j] = L->rms_ffn[j] = 1.f;
        for (int i = 0; i < PTQ_LIN_COUNT; i++) {
            double sd = c->init_std / (i == PTQ_LIN_O || i == PTQ_LIN_DOWN ? sqrt(2.0 * k->n_layers) : 1.0);
            fill_normal(L->lin[i].w, (size_t)L->lin[i].out * L->lin[i].in, sd, &r);
        }
    }
    for (int j = 0; j < k->dim; j++) m->rms_final[j] = 1.f;
    if (m->lm_head.owns_w) fill_normal(m->lm_head.w, (size_t)k->vocab_size * k->dim, c->init_std, &r);
}

static void run_free(run_t *R) {
    if (R->have_opt) ptq_adamw_free(&R->opt);
    if (R->tape) ptq_tape_free(R->tape);
    if (R->have_tm) ptq_tmodel_free(&R->tm);
    if (R->have_m) ptq_model_free(&R->m);
    if (R->tok) ptq_tokenizer_free(R->tok);
    free(R->train), free(R->val);
}

static int load_data(run_t *R, ptq_err *err) {
    const ptq_pretrain_cfg *c = R->c;
    long docs, bad;
    if (ptq_tokenizer_open(c->tokenizer, c->model.vocab_size, &R->tok, err)) return ptq_wrap(err, "data.tokenizer");
    if (R->tok->bos_id < 0) return ptq_fail(err, "data.tokenizer %s has no BOS token", c->tokenizer);
    if (ptq_pretrain_encode(R->tok, c->train_path, &R->train, &R->ntrain, &docs, &bad, err)) return -1;
    fprintf(stderr, "train: %s: %ld documents, %ld tokens\n", c->train_path, docs, R->ntrain);
    if (ptq_pretrain_encode(R->tok, c->val_path, &R->val, &R->nval, &docs, &bad, err)) return -1;
    fprintf(stderr, "val:   %s: %ld documents, %ld tokens; tokenizer round trip %ld/%ld documents exact\n", c->val_path,
            docs, R->nval, docs - bad, docs);
    if (R->ntrain < c->seq_len + 2) return ptq_fail(err, "data.train: %ld tokens, fewer than train.seq_len + 2", R->ntrain);
    if (R->nval < c->seq_len + 1) return ptq_fail(err, "data.val: %ld tokens, fewer than train.seq_len + 1", R->nval);
    return 0;
}

/* Mean validation cross-entropy over evenly spaced windows. */
static int val_loss(run_t *R, double *out, ptq_err *err) {
    int T = R->c->seq_len;
    long span = R->nval - 1 - T, n = PTQ_MIN((long)R->c->val_windows, span / T + 1);
    double sum = 0;
    for (long i = 0; i < n; i++) {
        long off = n > 1 ? i * (span / (n - 1)) : 0;
        double l;
        if (ptq_train_forward(&R->tm, R->tape, R->val + off, R->val + off + 1, T, NULL, &l, err)) return -1;
        sum += l;
    }
    *out = sum / (double)n;
    return ptq_train_check_loss(*out, 0, "validation", err);
}

/* Window w of a step: seq_len + 1 tokens at an offset drawn from the loop's data RNG. */
static int sample_window(void *ctx, long step, int w, ptq_rng *rng, int *tokens, int *targets, int *T, ptq_err *err) {
    const run_t *R = ctx;
    int n = R->c->seq_len;
    long off = (long)(ptq_rng_u64(rng) % (uint64_t)(R->ntrain - n - 1));
    memcpy(tokens, R->train + off, (size_t)n * sizeof(int));
    memcpy(targets, R->train + off + 1, (size_t)n * sizeof(int));
    *T = n;
    (void)step, (void)w, (void)err;
    return 0;
}

/* Best of a few timed runs of the recipe's largest product (T x dim by dim x hidden). */
static double sgemm_gflops(const ptq_config *k, int T) {
    int M = T, N = k->hidden_dim, K = k->dim;
    float *A = calloc((size_t)M * K, 4), *B = calloc((size_t)N * K, 4), *C = calloc((size_t)M * N, 4);
    double best = 0;
    for (int rep = 0; A && B && C && rep < 3; rep++) {
        int it = 0;
        double t0 = ptq_now_sec(), el;
        do ptq_sgemm(CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, B, K, 0.f, C, N), it++;
        while ((el = ptq_now_sec() - t0) < 0.1);
        best = fmax(best, 2.0 * M * N * K * it / el / 1e9);
    }
    free(A), free(B), free(C);
    return best;
}

/* Keep the log lines of steps <= step (a resumed run rewrites what follows). */
static void log_truncate(const char *path, long step) {
    char *d;
    size_t n;
    ptq_err e;
    if (!ptq_file_exists(path) || ptq_read_file(path, &d, &n, &e)) return;
    FILE *f = fopen(path, "w");
    for (char *s = d, *nl; f && s < d + n; s = nl + 1) {
        if (!(nl = memchr(s, '\n', (size_t)(d + n - s)))) break;
        cJSON *j = cJSON_ParseWithLength(s, (size_t)(nl - s));
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (cJSON_IsNumber(v) && v->valuedouble <= (double)step) fwrite(s, 1, (size_t)(nl - s) + 1, f);
        cJSON_Delete(j);
    }
    if (f) fclose(f);
    free(d);
}

static int write_model(run_t *R, const char *dir, ptq_err *err) {
    const ptq_pretrain_cfg *c = R->c;
    char path[4200];
    if (ptq_hf_write(dir, &R->m.cfg, &R->m, PTQ_ST_F32, 1, 0, err)) return -1;
    const char *ext = strrchr(c->tokenizer, '.');
    int json = ext && !strcmp(ext, ".json");
    snprintf(path, sizeof path, "%s/%s", dir, json ? "tokenizer.json" : "tokenizer.model");
    char *d;
    size_t n;
    if (ptq_read_file(c->tokenizer, &d, &n, err)) return -1;
    int rc = ptq_write_file_atomic(path, d, n, err);
    free(d);
    static const char tc[] = "{\"add_bos_token\": true, \"add_eos_token\": false}\n";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    return rc || ptq_write_file_atomic(path, tc, sizeof tc - 1, err) ? -1 : 0;
}

static long linear_params(const ptq_model *m) {
    long n = (long)m->cfg.vocab_size * m->cfg.dim; /* lm_head */
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int i = 0; i < PTQ_LIN_COUNT; i++) n += (long)m->layers[l].lin[i].out * m->layers[l].lin[i].in;
    return n;
}

static int setup(run_t *R, ptq_err *err) {
    const ptq_pretrain_cfg *c = R->c;
    ptq_config k = c->model;
    if (load_data(R, err)) return -1;
    k.bos_id = R->tok->bos_id, k.eos_id = R->tok->eos_id;
    if (ptq_model_alloc(&R->m, &k, err)) return -1;
    R->have_m = 1;
    snprintf(R->m.name, sizeof R->m.name, "%s", c->name);
    init_weights(&R->m, c);
    if (ptq_tmodel_init(&R->tm, &R->m, 1, err)) return -1;
    R->have_tm = 1;
    if (!(R->tape = ptq_tape_new(&R->tm, c->seq_len, err))) return -1;
    if (ptq_adamw_init(&R->opt, &R->tm.P, c->lr, 0.0, err)) return -1;
    R->have_opt = 1;
    R->opt.beta1 = c->beta1, R->opt.beta2 = c->beta2;
    if (ptq_mkdir_p(c->out, err)) return -1;
    snprintf(R->ckpt, sizeof R->ckpt, "%s/train.ckpt", c->out);
    snprintf(R->log, sizeof R->log, "%s/train_log.jsonl", c->out);
    return 0;
}

/* After each step: the log line, validation every eval.every steps, snapshots; 1 stops (--stop-after). */
static int after_step(void *ctx, long step, double loss, double gnorm, ptq_err *err) {
    run_t *R = ctx;
    const ptq_pretrain_cfg *c = R->c;
    if (R->step0 < 0) { /* the first step of this process: the loop resumed (or started) at step - 1 */
        R->step0 = step - 1;
        if (R->step0) fprintf(stderr, "train: resumed from %s at step %ld\n", R->ckpt, R->step0);
        log_truncate(R->log, R->step0);
        if (!(R->logf = fopen(R->log, "a"))) return ptq_fail(err, "%s: cannot append", R->log);
    }
    R->step = step, R->loss = loss;
    int evals = step % c->eval_every == 0 || step == c->steps;
    if (evals && val_loss(R, &R->vloss, err)) return -1;
    fprintf(R->logf, "{\"step\":%ld,\"loss\":%.6f,\"grad_norm\":%.6f,\"lr\":%.6g", step, loss, gnorm,
            ptq_lr_cosine(step - 1, c->steps, c->warmup, c->lr, c->lr_min));
    if (evals) fprintf(R->logf, ",\"val_loss\":%.6f", R->vloss);
    fprintf(R->logf, "}\n");
    fflush(R->logf);
    for (int i = 0; i < c->nsnapshots; i++)
        if (step == (long)llround(c->snapshots[i] * (double)c->steps)) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/step%ld", c->out, step);
            if (write_model(R, dir, err)) return -1;
        }
    return R->stop_after > 0 && step - R->step0 >= R->stop_after;
}

int ptq_pretrain_run(const ptq_pretrain_cfg *c, long stop_after, ptq_pretrain_result *r, ptq_err *err) {
    run_t R = {.c = c, .stop_after = stop_after, .step0 = -1, .loss = NAN, .vloss = NAN};
    memset(r, 0, sizeof *r);
    r->val_loss = r->train_loss = NAN;
    char identity[256];
    snprintf(identity, sizeof identity, "ptqbench train %s config sha256:%s", c->name, c->sha256);
    if (setup(&R, err)) {
        run_free(&R);
        return ptq_wrap(err, "train %s", c->name);
    }
    r->params = ptq_model_param_count(&R.m);
    r->flops_per_token = 6.0 * linear_params(&R.m) + 6.0 * c->model.n_layers * c->seq_len * c->model.dim;
    r->sgemm_gflops = sgemm_gflops(&R.m.cfg, c->seq_len);
    ptq_train_loop_opts o = {.label = c->name, .steps = c->steps, .accum = c->batch, .clip = c->grad_clip,
                             .adam = &R.opt, .lr = c->lr, .lr_min = c->lr_min, .warmup = c->warmup,
                             .ckpt_path = R.ckpt, .ckpt_every = c->ckpt_every, .identity = identity,
                             .seed = c->seed ^ 0x5eed0da7aULL, .batch = sample_window, .batch_ctx = &R,
                             .decay_matrices = c->weight_decay, .after_step = after_step, .step_ctx = &R,
                             .val_loss = &R.vloss};
    double t0 = ptq_now_sec();
    int rc = ptq_train_loop(&R.tm, R.tape, &o, err);
    if (R.logf) fclose(R.logf);
    if (!rc && R.step0 < 0) R.step0 = R.step = c->steps; /* no step ran: the checkpoint was complete */
    r->step0 = PTQ_MAX(R.step0, 0), r->steps = R.step, r->train_loss = R.loss, r->val_loss = R.vloss;
    r->tokens = (R.step - R.step0) * c->batch * c->seq_len;
    r->seconds = ptq_now_sec() - t0;
    r->tokens_per_sec = r->tokens / fmax(r->seconds, 1e-9);
    r->model_gflops = r->tokens_per_sec * r->flops_per_token / 1e9;
    if (!rc && R.step == c->steps) rc = write_model(&R, c->out, err);
    run_free(&R);
    return rc ? ptq_wrap(err, "train %s", c->name) : 0;
}
