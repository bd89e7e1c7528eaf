/* method.c — registry lookup, options (validation, getters, the bit-spec
 * aliases) and the driver that runs a method on a model in RAM. */
#include "method.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "method_util.h"

const ptq_method *ptq_method_find(const char *name) {
    for (int i = 0; name && ptq_methods[i]; i++)
        if (strcmp(ptq_methods[i]->name, name) == 0) return ptq_methods[i];
    return NULL;
}

void ptq_method_names(char *buf, size_t cap) {
    buf[0] = 0;
    for (int i = 0; ptq_methods[i]; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", ptq_methods[i]->name);
}

const ptq_opt_def *ptq_method_opt(const ptq_method *m, const char *key) {
    for (const ptq_opt_def *d = m->opts; d && d->name; d++)
        if (strcmp(d->name, key) == 0) return d;
    return NULL;
}

int ptq_lm_head_wbits(const ptq_method *m, const cJSON *opts, int w_bits) {
    if (!ptq_method_opt(m, "quant_lm_head") || !ptq_opt_bool(m, opts, "quant_lm_head")) return 16;
    int b = ptq_method_opt(m, "lm_head_bits") ? (int)ptq_opt_num(m, opts, "lm_head_bits") : 0;
    return b > 0 ? b : w_bits;
}

static const char *type_name(ptq_opt_type t) {
    static const char *const n[] = {"an integer", "a number", "a boolean (true/false)", "a string"};
    return n[t];
}

static int list_opts(const ptq_method *m, char *buf, size_t cap) {
    buf[0] = 0;
    for (const ptq_opt_def *d = m->opts; d && d->name; d++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", d == m->opts ? "" : ", ", d->name);
    if (!buf[0]) snprintf(buf, cap, "none");
    return 0;
}

/* A string option with a list of choices holds one of them. */
static int check_choice(const ptq_method *m, const ptq_opt_def *d, const char *v, ptq_err *err) {
    size_t n = strlen(v);
    for (const char *c = d->choices; c && *c; c += strcspn(c, "|"), c += *c == '|')
        if (strcspn(c, "|") == n && !strncmp(c, v, n)) return 0;
    return d->choices
               ? ptq_fail(err, "method %s: option '%s' must be one of %s, got '%s'", m->name, d->name, d->choices, v)
               : 0;
}

int ptq_method_check_opts(const ptq_method *m, const cJSON *opts, ptq_err *err) {
    if (!opts || cJSON_IsNull(opts)) return 0;
    if (!cJSON_IsObject(opts)) return ptq_fail(err, "method %s: options must be a JSON object", m->name);
    const cJSON *it;
    cJSON_ArrayForEach(it, opts) {
        const ptq_opt_def *d = ptq_method_opt(m, it->string);
        if (!d) {
            char list[1024];
            list_opts(m, list, sizeof list);
            return ptq_fail(err, "method %s: unknown option '%s' (options: %s)", m->name, it->string, list);
        }
        int ok = 0;
        switch (d->type) {
        case PTQ_OPT_INT:
            ok = cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble);
            break;
        case PTQ_OPT_FLOAT:
            ok = cJSON_IsNumber(it) && isfinite(it->valuedouble);
            break;
        case PTQ_OPT_BOOL:
            ok = cJSON_IsBool(it);
            break;
        case PTQ_OPT_STRING:
            ok = cJSON_IsString(it);
            break;
        }
        if (!ok) return ptq_fail(err, "method %s: option '%s' must be %s", m->name, d->name, type_name(d->type));
        if (d->type == PTQ_OPT_STRING && check_choice(m, d, it->valuestring, err)) return -1;
        if ((d->type == PTQ_OPT_INT || d->type == PTQ_OPT_FLOAT) && d->lo < d->hi &&
            (it->valuedouble < d->lo || it->valuedouble > d->hi))
            return ptq_fail(err, "method %s: option '%s' = %g is out of range %g..%g", m->name, d->name,
                            it->valuedouble, d->lo, d->hi);
    }
    return 0;
}

static const cJSON *get(const cJSON *opts, const char *key) {
    return opts && cJSON_IsObject(opts) ? cJSON_GetObjectItemCaseSensitive(opts, key) : NULL;
}

double ptq_opt_num(const ptq_method *m, const cJSON *opts, const char *key) {
    const cJSON *v = get(opts, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    const ptq_opt_def *d = ptq_method_opt(m, key);
    return d && d->def ? strtod(d->def, NULL) : 0.0;
}

int ptq_opt_bool(const ptq_method *m, const cJSON *opts, const char *key) {
    const cJSON *v = get(opts, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    const ptq_opt_def *d = ptq_method_opt(m, key);
    return d && d->def && strcmp(d->def, "true") == 0;
}

const char *ptq_opt_str(const ptq_method *m, const cJSON *opts, const char *key) {
    const cJSON *v = get(opts, key);
    if (cJSON_IsString(v)) return v->valuestring;
    const ptq_opt_def *d = ptq_method_opt(m, key);
    return d && d->def ? d->def : "";
}

int ptq_opts_add_kv(const ptq_method *m, cJSON *obj, const char *kv, ptq_err *err) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return ptq_fail(err, "--opt '%s': expected key=value", kv);
    char key[64];
    if ((size_t)(eq - kv) >= sizeof key) return ptq_fail(err, "--opt '%s': key too long", kv);
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = 0;
    const char *val = eq + 1;
    const ptq_opt_def *d = ptq_method_opt(m, key);
    if (!d) {
        char list[1024];
        list_opts(m, list, sizeof list);
        return ptq_fail(err, "method %s: unknown option '%s' (options: %s)", m->name, key, list);
    }
    cJSON *item = NULL;
    char *end;
    errno = 0;
    if (d->type == PTQ_OPT_INT) {
        long v = strtol(val, &end, 10);
        if (!*val || *end || errno)
            return ptq_fail(err, "method %s: option '%s' must be an integer, got '%s'", m->name, key, val);
        item = cJSON_CreateNumber((double)v);
    } else if (d->type == PTQ_OPT_FLOAT) {
        double v = strtod(val, &end);
        if (!*val || *end || errno || !isfinite(v))
            return ptq_fail(err, "method %s: option '%s' must be a number, got '%s'", m->name, key, val);
        item = cJSON_CreateNumber(v);
    } else if (d->type == PTQ_OPT_BOOL) {
        int t = !strcasecmp(val, "true") || !strcmp(val, "1"), f = !strcasecmp(val, "false") || !strcmp(val, "0");
        if (!t && !f) return ptq_fail(err, "method %s: option '%s' must be true or false, got '%s'", m->name, key, val);
        item = cJSON_CreateBool(t);
    } else if (check_choice(m, d, val, err))
        return -1;
    else
        item = cJSON_CreateString(val);
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddItemToObject(obj, key, item);
    return 0;
}

static void scalar_text(const cJSON *v, char *out, size_t cap) {
    if (cJSON_IsString(v))
        snprintf(out, cap, "%s", v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(out, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v))
        snprintf(out, cap, "%g", v->valuedouble);
    else
        snprintf(out, cap, "?");
}

void ptq_opts_label(const ptq_method *m, const cJSON *opts, char *out, size_t cap) {
    snprintf(out, cap, "%s", m->name);
    if (!opts || !opts->child) return;
    snprintf(out + strlen(out), cap - strlen(out), "(");
    for (const cJSON *it = opts->child; it; it = it->next) {
        char v[64];
        scalar_text(it, v, sizeof v);
        snprintf(out + strlen(out), cap - strlen(out), "%s%s=%s", it == opts->child ? "" : ",", it->string, v);
    }
    snprintf(out + strlen(out), cap - strlen(out), ")");
}

/* ---- bit-spec aliases ---- */

/* Method options that set a bit-spec field. */
enum { AL_A_SYM, AL_A_CLIP, AL_KV_SYM, AL_KV_GROUP, AL_KV_CLIP };
static const struct {
    const char *opt, *spelled; /* option; its bit-spec spelling */
    int field, kv;             /* AL_*; 1: a KV field (ignored at KV16), 0: activations */
} aliases[] = {
    {.opt = "a_sym", .spelled = "-a:sym/-a:asym", .field = AL_A_SYM},
    {.opt = "lac", .spelled = "-clip", .field = AL_A_CLIP},
    {.opt = "kv_sym", .spelled = "-kv:sym/-kv:asym", .field = AL_KV_SYM, .kv = 1},
    {.opt = "kv_group", .spelled = "-kv:g", .field = AL_KV_GROUP, .kv = 1},
    {.opt = "kv_clip", .spelled = "-kv:clip", .field = AL_KV_CLIP, .kv = 1},
};

/* The field as a double; NAN when the bit-spec leaves it to the method. */
static double field_get(const ptq_qspec *q, int f) {
    switch (f) {
    case AL_A_SYM:
        return q->a_sym >= 0 ? q->a_sym : NAN;
    case AL_A_CLIP:
        return q->a_clip > 0.f ? q->a_clip : NAN;
    case AL_KV_SYM:
        return q->kv_sym >= 0 ? q->kv_sym : NAN;
    case AL_KV_GROUP:
        return q->kv_group >= 0 ? q->kv_group : NAN;
    default:
        return q->kv_clip > 0.f ? q->kv_clip : NAN;
    }
}

static void field_set(ptq_qspec *q, int f, double v) {
    switch (f) {
    case AL_A_SYM:
        q->a_sym = v != 0;
        break;
    case AL_A_CLIP:
        q->a_clip = (float)v;
        break;
    case AL_KV_SYM:
        q->kv_sym = v != 0;
        break;
    case AL_KV_GROUP:
        q->kv_group = (int)v;
        break;
    default:
        q->kv_clip = (float)v;
        break;
    }
}

/* The option's JSON value as a number: booleans 0/1; NAN for an alias value
 * that leaves the field open (lac <= 0: "auto"). */
static double alias_value(int f, const cJSON *v) {
    double x = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble;
    return f == AL_A_CLIP && x <= 0 ? NAN : x;
}

int ptq_method_qspec(const ptq_method *me, const ptq_qspec *spec, const cJSON *opts, ptq_qspec *q, ptq_err *err) {
    *q = *spec;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        const cJSON *v = get(opts, aliases[i].opt);
        if (!v || !ptq_method_opt(me, aliases[i].opt) || (aliases[i].kv && q->kv_bits >= 16) ||
            (!aliases[i].kv && aliases[i].field != AL_A_CLIP && q->a_bits >= 16))
            continue;
        int f = aliases[i].field;
        double want = alias_value(f, v), have = field_get(spec, f);
        if (isnan(want)) continue;
        if (!isnan(have) && (f == AL_A_CLIP || f == AL_KV_CLIP ? (float)want != (float)have : want != have)) {
            char val[32];
            if (cJSON_IsBool(v))
                snprintf(val, sizeof val, "%s", cJSON_IsTrue(v) ? "true" : "false");
            else
                snprintf(val, sizeof val, "%g", want);
            return ptq_fail(err, "method %s: option %s=%s contradicts %s in the bit-spec %s (set it in one place)",
                            me->name, aliases[i].opt, val, aliases[i].spelled, spec->text);
        }
        field_set(q, f, want);
    }
    ptq_qspec_format(q);
    return 0;
}

/* A float field as the short decimal the bit-spec prints (0.95, not 0.949999988). */
static double short_decimal(double v) {
    char b[32];
    snprintf(b, sizeof b, "%g", v);
    return strtod(b, NULL);
}

cJSON *ptq_opts_resolved(const ptq_method *m, const cJSON *opts, const ptq_qspec *q) {
    cJSON *o = cJSON_CreateObject();
    for (const ptq_opt_def *d = m->opts; d && d->name; d++) {
        const cJSON *v = get(opts, d->name);
        if (v)
            cJSON_AddItemToObject(o, d->name, cJSON_Duplicate(v, 1));
        else if (d->type == PTQ_OPT_BOOL)
            cJSON_AddBoolToObject(o, d->name, ptq_opt_bool(m, NULL, d->name));
        else if (d->type == PTQ_OPT_STRING)
            cJSON_AddStringToObject(o, d->name, d->def ? d->def : "");
        else
            cJSON_AddNumberToObject(o, d->name, ptq_opt_num(m, NULL, d->name));
    }
    for (size_t i = 0; q && i < sizeof aliases / sizeof aliases[0]; i++) { /* what the bit-spec set */
        double v = field_get(q, aliases[i].field);
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(o, aliases[i].opt);
        if (isnan(v) || !cur) continue;
        cJSON_ReplaceItemInObjectCaseSensitive(
            o, aliases[i].opt, cJSON_IsBool(cur) ? cJSON_CreateBool(v != 0) : cJSON_CreateNumber(short_decimal(v)));
    }
    return o;
}

int ptq_method_needs_calib(const ptq_method *me, const ptq_qspec *q, const cJSON *opts) {
    return me->needs_calib ? me->needs_calib(q, opts) : 0;
}

/* nsamples windows of seqlen uniform random token ids, seeded. */
static int random_windows(ptq_calib *c, const ptq_calib_spec *s, int vocab, ptq_err *err) {
    memset(c, 0, sizeof *c);
    c->spec = *s;
    if (s->nsamples < 1 || s->seqlen < 2)
        return ptq_fail(err, "calibration needs nsamples >= 1 and seqlen >= 2 (got %d x %d)", s->nsamples, s->seqlen);
    if (!(c->tokens = ptq_calloc((size_t)s->nsamples * s->seqlen, sizeof(int), err))) return -1;
    ptq_rng r;
    ptq_rng_seed(&r, s->seed);
    for (size_t i = 0; i < (size_t)s->nsamples * s->seqlen; i++)
        c->tokens[i] = (int)(ptq_rng_u64(&r) % (uint64_t)vocab);
    c->nsamples = s->nsamples, c->seqlen = s->seqlen;
    snprintf(c->sampling, sizeof c->sampling, "%d windows of uniform random tokens (seeded)", s->nsamples);
    return 0;
}

int ptq_method_calib(const ptq_method *meth, const ptq_apply_ctx *ctx, const ptq_model *m, ptq_calib *c, ptq_err *err) {
    ptq_calib_spec s = *ctx->calib;
    s.nsamples = (int)ptq_opt_num(meth, ctx->opts, "nsamples");
    s.seqlen = PTQ_MIN((int)ptq_opt_num(meth, ctx->opts, "seqlen"), m->cfg.max_seq);
    if (!strcmp(s.dataset, PTQ_CALIB_RANDOM) ? random_windows(c, &s, m->cfg.vocab_size, err)
                                             : ptq_calib_load(c, &s, ctx->tok, m->cfg.max_seq, err))
        return -1;
    if (ctx->info) {
        cJSON *o = cJSON_AddObjectToObject(ctx->info, "calib");
        cJSON_AddStringToObject(o, "dataset", s.dataset);
        cJSON_AddStringToObject(o, "sha256", c->dataset_sha256);
        cJSON_AddNumberToObject(o, "nsamples", c->nsamples);
        cJSON_AddNumberToObject(o, "seqlen", c->seqlen);
        cJSON_AddNumberToObject(o, "seed", (double)s.seed);
        cJSON_AddStringToObject(o, "sampling", c->sampling);
    }
    return 0;
}

int ptq_method_streamable(const ptq_method *meth, ptq_err *err) {
    const ptq_block_method *b = meth->blocks;
    if (!b || !b->begin || !b->block || !b->end)
        return ptq_fail(err, "method %s has no block-wise implementation and cannot run streamed (--stream)",
                        meth->name);
    return 0;
}

/* The in-RAM driver of a block-wise method (ptq_block_method). */
static int apply_blocks(const ptq_method *meth, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    const ptq_block_method *b = meth->blocks;
    void *st = NULL;
    int need = ptq_method_needs_calib(meth, ctx->q, ctx->opts);
    if (b->begin(m, ctx, &st, err)) return -1;
    ptq_calib c;
    memset(&c, 0, sizeof c);
    float *X = NULL;
    size_t win = 0;
    int rc = need ? ptq_method_calib(meth, ctx, m, &c, err) : 0;
    if (!rc && need) {
        win = (size_t)c.seqlen * m->cfg.dim;
        if (!(X = ptq_calloc((size_t)c.nsamples * win, sizeof(float), err)))
            rc = ptq_wrap(err, "calibration activations (%d x %d x %d floats)", c.nsamples, c.seqlen, m->cfg.dim);
        for (int i = 0; i < c.nsamples && !rc; i++)
            rc = ptq_forward_embed(m, c.tokens + (size_t)i * c.seqlen, c.seqlen, X + i * win, err);
    }
    ptq_progress pb;
    if (need) ptq_progress_start(&pb, "calibration blocks", m->cfg.n_layers);
    for (int l = 0; l < m->cfg.n_layers && !rc; l++) {
        rc = b->block(st, m, l, X, need ? &c : NULL, err);
        if (rc == 0 && need) rc = ptq_calib_block_forward(m, l, X, X, &c, NULL, NULL, err);
        rc = rc < 0 ? -1 : 0; /* 1: block() advanced X itself */
        if (!rc && b->block_end) rc = b->block_end(st, m, l, err);
        if (need) ptq_progress_update(&pb, l + 1);
    }
    if (need) ptq_progress_end(&pb);
    free(X);
    ptq_calib_free(&c);
    if (rc) {
        ptq_err scratch;
        b->end(st, m, 0, &scratch);
        return -1;
    }
    return b->end(st, m, 1, err);
}

int ptq_method_apply(const ptq_method *meth, ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    if (ptq_method_needs_calib(meth, ctx->q, ctx->opts) &&
        (!ctx->calib || (!ctx->tok && strcmp(ctx->calib->dataset, PTQ_CALIB_RANDOM))))
        return ptq_fail(err, "method %s needs calibration data (a calibration spec and a tokenizer)", meth->name);
    /* Methods change fp32 weights; the unquantized reference leaves a
     * compact (16-bit resident) model as it is. */
    if (strcmp(meth->name, "fp16") && ptq_model_widen(m, err)) return ptq_wrap(err, "method %s", meth->name);
    int rc;
    if (meth->blocks)
        rc = ptq_method_streamable(meth, err) ? -1 : apply_blocks(meth, m, ctx, err);
    else
        rc = meth->apply(m, ctx, err);
    return rc ? ptq_wrap(err, "method %s", meth->name) : 0;
}
