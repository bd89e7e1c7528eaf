/* experiment.c — parse, validate and expand experiment configs into cells,
 * and compute their keys (see experiment.h for the format and the key). */
#include "experiment.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "datasets.h"
#include "model_open.h"
#include "task.h"

const char *const ptq_override_keys[] = {"limit",           "limit_windows", "seqlen", "ppl_protocol",
                                         "ppl_denominator", "zeroshot_bos",  NULL};

/* "src: $.path: message" */
static int bad(ptq_err *err, const char *src, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(ptq_err *err, const char *src, const char *path, const char *fmt, ...) {
    char msg[PTQ_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ptq_fail(err, "%s: %s: %s", src, path, msg);
}

static const char *type_name(const cJSON *v) {
    if (!v) return "nothing";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

static int check_keys(const cJSON *obj, const char *const *allowed, const char *src, const char *path, ptq_err *err) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok |= !strcmp(allowed[i], it->string);
        if (!ok) {
            char list[512] = "";
            for (int i = 0; allowed[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
            return bad(err, src, path, "unknown key \"%s\" (expected one of: %s)", it->string, list);
        }
    }
    /* cJSON keeps duplicate keys; a config with two "bits" is a mistake. */
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string)) return bad(err, src, path, "duplicate key \"%s\"", a->string);
    return 0;
}

/* A non-empty array of strings (or one string) -> list (pointers into cfg). */
static int str_list(const cJSON *v, const char *src, const char *path, const char ***out, int *n, ptq_err *err) {
    if (cJSON_IsString(v)) {
        *out = malloc(sizeof **out);
        (*out)[0] = v->valuestring;
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v)) return bad(err, src, path, "expected an array of strings, got %s", type_name(v));
    int k = cJSON_GetArraySize(v);
    if (k == 0) return bad(err, src, path, "expected a non-empty array");
    *out = calloc((size_t)k, sizeof **out);
    *n = 0;
    for (const cJSON *it = v->child; it; it = it->next, (*n)++) {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            char p[256];
            snprintf(p, sizeof p, "%s[%d]", path, *n);
            free(*out);
            *out = NULL;
            return bad(err, src, p, "expected a non-empty string, got %s", type_name(it));
        }
        (*out)[*n] = it->valuestring;
    }
    return 0;
}

static int get_int(const cJSON *v, const char *src, const char *path, long lo, long hi, int *out, ptq_err *err) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return bad(err, src, path, "expected an integer in %ld..%ld, got %s", lo, hi,
                   cJSON_IsNumber(v) ? "a value out of range or not integral" : type_name(v));
    *out = (int)v->valuedouble;
    return 0;
}

/* A list of bit-specs (array of strings or one string), each parsed once. */
static int bits_list(const cJSON *v, const char *src, const char *path, ptq_qspec **out, int *n, ptq_err *err) {
    const char **strs;
    *out = NULL;
    if (str_list(v, src, path, &strs, n, err)) return -1;
    *out = calloc((size_t)*n, sizeof **out);
    int rc = *out ? 0 : ptq_fail(err, "out of memory");
    for (int i = 0; i < *n && !rc; i++)
        if (ptq_qspec_parse(strs[i], &(*out)[i], err)) rc = ptq_wrap(err, "%s: %s[%d]", src, path, i);
    free(strs);
    if (rc) free(*out), *out = NULL;
    return rc;
}

/* ---- parsed pieces ------------------------------------------------------ */
typedef struct {
    const ptq_method *m;
    cJSON *user;     /* scalar options as given (owned) */
    ptq_qspec *bits; /* per-method bits override (or NULL) */
    int nbits;
    char path[64];
} method_variant;

typedef struct {
    const char *src;
    const cJSON *cfg;
    const char **models, **tasks;
    ptq_qspec *bits; /* $.bits, parsed */
    int nmodels, nbits, ntasks;
    int *seeds, nseeds;
    ptq_calib_spec calib;
    char calib_split[32];
    cJSON *overrides;
    method_variant *vars;
    int nvars, capvars;
    int *ids;       /* hash set of the cells' ids: index + 1 per slot, 0 = empty */
    size_t idsmask; /* slots - 1 (a power of two) */
} plan_ctx;

/* Larger plans are refused: split the experiment (or use exclude/only). */
#define PLAN_MAX_CELLS 100000

/* Build a key-sorted copy of an object of scalars. */
static cJSON *sorted_copy(const cJSON *obj) {
    const char *keys[64];
    int n = 0;
    for (const cJSON *it = obj ? obj->child : NULL; it && n < 64; it = it->next)
        keys[n++] = it->string;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    cJSON *out = cJSON_CreateObject();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToObject(out, keys[i], cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(obj, keys[i]), 1));
    return out;
}

/* Every option of the method, user value or the table default, sorted by name. */
static cJSON *resolve_options(const ptq_method *m, const cJSON *user) {
    cJSON *all = ptq_opts_resolved(m, user, NULL), *s = sorted_copy(all);
    cJSON_Delete(all);
    return s;
}

static int push_variant(plan_ctx *pc, const method_variant *v, ptq_err *err) {
    if (pc->nvars >= PLAN_MAX_CELLS)
        return bad(err, pc->src, v->path, "the option sweeps expand to more than %d method variants (the plan limit)",
                   PLAN_MAX_CELLS);
    if (pc->nvars == pc->capvars) {
        pc->capvars = pc->capvars ? pc->capvars * 2 : 16;
        pc->vars = realloc(pc->vars, (size_t)pc->capvars * sizeof *pc->vars);
    }
    pc->vars[pc->nvars++] = *v;
    return 0;
}

/* Expand array-valued options (sweep axes) recursively, depth = option. */
static int expand_opts(plan_ctx *pc, method_variant *base, const cJSON *opts, const cJSON *at, cJSON *cur,
                       ptq_err *err) {
    if (!at) {
        method_variant v = *base; /* its options are validated with its cells (ptq_cell_check) */
        v.user = cJSON_Duplicate(cur, 1);
        if (push_variant(pc, &v, err)) return cJSON_Delete(v.user), -1;
        return 0;
    }
    if (cJSON_IsArray(at)) {
        if (cJSON_GetArraySize(at) == 0)
            return bad(err, pc->src, base->path, "options.%s: an empty sweep array", at->string);
        for (const cJSON *it = at->child; it; it = it->next) {
            if (cJSON_IsArray(it) || cJSON_IsObject(it))
                return bad(err, pc->src, base->path, "options.%s: sweep values must be scalars", at->string);
            cJSON_AddItemToObject(cur, at->string, cJSON_Duplicate(it, 1));
            int rc = expand_opts(pc, base, opts, at->next, cur, err);
            cJSON_DeleteItemFromObjectCaseSensitive(cur, at->string);
            if (rc) return -1;
        }
        return 0;
    }
    cJSON_AddItemToObject(cur, at->string, cJSON_Duplicate(at, 1));
    int rc = expand_opts(pc, base, opts, at->next, cur, err);
    cJSON_DeleteItemFromObjectCaseSensitive(cur, at->string);
    return rc;
}

static int unknown_method(plan_ctx *pc, const char *path, const char *name, ptq_err *err) {
    char list[512] = "";
    for (int i = 0; ptq_methods[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ptq_methods[i]->name);
    return bad(err, pc->src, path, "unknown method \"%s\" (registered: %s)", name, list);
}

/* One entry of "methods" (or the method part of an "include"). */
static int parse_method(plan_ctx *pc, const cJSON *e, const char *path, int allow_bits, ptq_err *err) {
    static const char *const keys[] = {"name", "options", "bits", NULL};
    method_variant base = {0};
    snprintf(base.path, sizeof base.path, "%s", path);
    const cJSON *opts = NULL;
    const char *name;
    if (cJSON_IsString(e))
        name = e->valuestring;
    else if (cJSON_IsObject(e)) {
        if (check_keys(e, keys, pc->src, path, err)) return -1;
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(n)) return bad(err, pc->src, path, "\"name\": expected a string, got %s", type_name(n));
        name = n->valuestring;
        opts = cJSON_GetObjectItemCaseSensitive(e, "options");
        if (opts && !cJSON_IsObject(opts))
            return bad(err, pc->src, path, "\"options\": expected an object, got %s", type_name(opts));
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "bits");
        if (b && allow_bits) {
            char p[96];
            snprintf(p, sizeof p, "%s.bits", path);
            if (bits_list(b, pc->src, p, &base.bits, &base.nbits, err)) return -1;
        }
    } else
        return bad(err, pc->src, path, "expected a method name or {\"name\", \"options\"}, got %s", type_name(e));
    base.m = ptq_method_find(name);
    if (!base.m) {
        free(base.bits);
        return unknown_method(pc, path, name, err);
    }
    cJSON *cur = cJSON_CreateObject();
    int nbefore = pc->nvars;
    int rc = expand_opts(pc, &base, opts, opts ? opts->child : NULL, cur, err);
    cJSON_Delete(cur);
    /* The bits list is shared by the variants; the first one owns it. */
    for (int i = nbefore + 1; i < pc->nvars; i++)
        pc->vars[i].nbits = -pc->vars[i].nbits;
    if (rc) return -1;
    if (pc->nvars == nbefore) free(base.bits);
    return 0;
}

/* Dataset a task reads (NULL: none, e.g. latency). */
static const char *task_dataset(const char *task) {
    const ptq_task_kind *k;
    const char *arg;
    return ptq_task_parse(task, &k, &arg, NULL) == 0 && k->arg_dataset ? arg : NULL;
}

static int check_task(plan_ctx *pc, const char *t, const char *path, ptq_err *err) {
    return ptq_task_check(t, err) ? ptq_wrap(err, "%s: %s", pc->src, path) : 0;
}

static int parse_calib(plan_ctx *pc, const cJSON *c, ptq_err *err) {
    static const char *const keys[] = {"dataset", "split", "samples", "seqlen", NULL};
    /* Defaults: the model's default calibration text (cell.h), the
     * method's own nsamples/seqlen options (0 here). */
    pc->calib.dataset[0] = 0;
    pc->calib.nsamples = 0;
    pc->calib.seqlen = 0;
    pc->calib_split[0] = 0;
    if (!c) return 0;
    if (!cJSON_IsObject(c)) return bad(err, pc->src, "$.calibration", "expected an object, got %s", type_name(c));
    if (check_keys(c, keys, pc->src, "$.calibration", err)) return -1;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "dataset"), *s = cJSON_GetObjectItemCaseSensitive(c, "split");
    if (d) {
        int ok = 0;
        for (int i = 0; cJSON_IsString(d) && ptq_text_dataset_names[i]; i++)
            ok |= !strcmp(d->valuestring, ptq_text_dataset_names[i]);
        if (!ok)
            return bad(err, pc->src, "$.calibration.dataset",
                       "expected a text dataset name (c4, tinystories-calib, "
                       "tinyshakespeare, ...), got %s",
                       cJSON_IsString(d) ? d->valuestring : type_name(d));
        snprintf(pc->calib.dataset, sizeof pc->calib.dataset, "%s", d->valuestring);
    }
    if (s) {
        if (!cJSON_IsString(s) || !s->valuestring[0] || strlen(s->valuestring) >= sizeof pc->calib_split)
            return bad(err, pc->src, "$.calibration.split", "expected a short string, got %s", type_name(s));
        snprintf(pc->calib_split, sizeof pc->calib_split, "%s", s->valuestring);
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "samples"), *l = cJSON_GetObjectItemCaseSensitive(c, "seqlen");
    if (n && get_int(n, pc->src, "$.calibration.samples", 0, 100000, &pc->calib.nsamples, err)) return -1;
    if (l && get_int(l, pc->src, "$.calibration.seqlen", 0, 1 << 20, &pc->calib.seqlen, err)) return -1;
    return 0;
}

static int parse_overrides(plan_ctx *pc, const cJSON *o, ptq_err *err) {
    pc->overrides = cJSON_CreateObject();
    if (!o) return 0;
    if (!cJSON_IsObject(o)) return bad(err, pc->src, "$.overrides", "expected an object, got %s", type_name(o));
    if (check_keys(o, ptq_override_keys, pc->src, "$.overrides", err)) return -1;
    for (const cJSON *it = o->child; it; it = it->next) {
        char p[128];
        snprintf(p, sizeof p, "$.overrides.%s", it->string);
        int iv;
        if (!strcmp(it->string, "zeroshot_bos")) {
            if (!cJSON_IsBool(it)) return bad(err, pc->src, p, "expected true or false, got %s", type_name(it));
        } else if (!strcmp(it->string, "ppl_protocol") || !strcmp(it->string, "ppl_denominator")) {
            ptq_ppl_opts tmp = {0};
            if (!cJSON_IsString(it)) return bad(err, pc->src, p, "expected a string, got %s", type_name(it));
            if (ptq_ppl_opt_parse(&tmp, it->string + 4, it->valuestring, err))
                return ptq_wrap(err, "%s: %s", pc->src, p);
        } else if (get_int(it, pc->src, p, 0, 1 << 30, &iv, err))
            return -1;
    }
    cJSON_Delete(pc->overrides);
    pc->overrides = sorted_copy(o);
    return 0;
}

/* ---- cells ------------------------------------------------------------- */
/* The config's evaluation overrides into the cell's evaluation options. */
static void apply_overrides(ptq_cell *c) {
    const cJSON *o = c->overrides, *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "seqlen"))) c->eval.ppl.seqlen = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "limit_windows"))) c->eval.ppl.limit_windows = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "ppl_protocol")))
        ptq_ppl_opt_parse(&c->eval.ppl, "protocol", v->valuestring, NULL);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "ppl_denominator")))
        ptq_ppl_opt_parse(&c->eval.ppl, "denominator", v->valuestring, NULL);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "limit"))) c->eval.zs_limit = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "zeroshot_bos"))) c->eval.zs_bos = cJSON_IsTrue(v);
}

static void free_cell(ptq_cell *c) {
    ptq_cell_free(c);
}

static int pattern_match(const cJSON *p, const ptq_cell *c);

/* The slot of id in the set: where it is, or the empty slot it would take. */
static size_t id_slot(const plan_ctx *pc, const ptq_experiment *e, const char *id) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *s = id; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    size_t i = (size_t)h & pc->idsmask;
    while (pc->ids[i] && strcmp(e->cells[pc->ids[i] - 1].id, id))
        i = (i + 1) & pc->idsmask;
    return i;
}

/* A cell of the plan, unless it is there already (an include of an existing
 * cell, a repeated bit-spec or seed) or an exclude pattern matches it. */
static int add_cell(ptq_experiment *e, int *cap, const plan_ctx *pc, const char *model, const method_variant *v,
                    const ptq_qspec *q, int seed, const cJSON *excl, ptq_err *err) {
    char label[256], id[512];
    ptq_opts_label(v->m, v->user, label, sizeof label);
    snprintf(id, sizeof id, "%s|%s|%s|s%d", model, label, q->text, seed);
    size_t slot = id_slot(pc, e, id);
    if (pc->ids[slot]) return 0;
    if (e->ncells >= PLAN_MAX_CELLS)
        return bad(err, pc->src, v->path, "the plan (with its includes) has more than %d cells: split the experiment",
                   PLAN_MAX_CELLS);
    if (e->ncells == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        e->cells = realloc(e->cells, (size_t)*cap * sizeof *e->cells);
    }
    ptq_cell *c = &e->cells[e->ncells];
    if (ptq_cell_init(c, model, v->m->name, q, err)) return free_cell(c), -1;
    c->index = e->ncells++;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->label, sizeof c->label, "%s", label);
    snprintf(c->origin, sizeof c->origin, "%s", v->path);
    c->seed = (uint64_t)seed;
    cJSON_Delete(c->opts);
    c->opts = cJSON_Duplicate(v->user, 1);
    for (int i = 0; i < pc->ntasks; i++)
        if (ptq_cell_add_task(c, pc->tasks[i], err)) return -1;
    c->calib = pc->calib;
    c->calib.seed = (uint64_t)seed;
    if (!c->calib.dataset[0]) snprintf(c->calib.dataset, sizeof c->calib.dataset, "%s", ptq_default_calib(model));
    snprintf(c->calib_split, sizeof c->calib_split, "%s",
             pc->calib_split[0]                               ? pc->calib_split
             : !strcmp(c->calib.dataset, "tinystories-calib") ? "stories501-1000"
                                                              : "train");
    c->overrides = cJSON_Duplicate(pc->overrides, 1);
    apply_overrides(c);
    /* calibration.samples/seqlen stand in for the method's own options unless
     * those are given (cell.h), so the resolved cell says what runs. */
    cJSON *options = resolve_options(v->m, v->user);
    static const char *const cal_opt[2] = {"nsamples", "seqlen"};
    int cal_val[2] = {pc->calib.nsamples, pc->calib.seqlen};
    for (int k = 0; k < 2; k++)
        if (cal_val[k] > 0 && cJSON_GetObjectItemCaseSensitive(options, cal_opt[k]) &&
            !cJSON_GetObjectItemCaseSensitive(v->user, cal_opt[k]))
            cJSON_ReplaceItemInObjectCaseSensitive(options, cal_opt[k], cJSON_CreateNumber(cal_val[k]));
    /* The canonical resolved cell: fixed key order, sorted options. */
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "model", model);
    cJSON_AddStringToObject(r, "method", v->m->name);
    cJSON_AddItemToObject(r, "options", options);
    cJSON_AddStringToObject(r, "bits", c->q.text);
    cJSON_AddNumberToObject(r, "seed", seed);
    cJSON *t = cJSON_AddArrayToObject(r, "tasks");
    for (int i = 0; i < c->ntasks; i++)
        cJSON_AddItemToArray(t, cJSON_CreateString(c->tasks[i]));
    if (ptq_method_needs_calib(v->m, &c->q, c->opts)) {
        cJSON *cb = cJSON_AddObjectToObject(r, "calibration");
        cJSON_AddStringToObject(cb, "dataset", c->calib.dataset);
        cJSON_AddStringToObject(cb, "split", c->calib_split);
        cJSON_AddNumberToObject(cb, "samples", c->calib.nsamples);
        cJSON_AddNumberToObject(cb, "seqlen", c->calib.seqlen);
        cJSON_AddNumberToObject(cb, "seed", seed);
    } else
        cJSON_AddNullToObject(r, "calibration");
    cJSON_AddItemToObject(r, "overrides", cJSON_Duplicate(c->overrides, 1));
    c->resolved = r;
    for (const cJSON *p = excl ? excl->child : NULL; p; p = p->next)
        if (pattern_match(p, c)) return free_cell(&e->cells[--e->ncells]), 0;
    pc->ids[slot] = e->ncells;
    return 0;
}

static int json_eq_scalar(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b)) return !strcmp(a->valuestring, b->valuestring);
    if (cJSON_IsBool(a) && cJSON_IsBool(b)) return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    return 0;
}

/* Does exclude pattern p (validated) match cell c? */
static int pattern_match(const cJSON *p, const ptq_cell *c) {
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(c->resolved, "options");
    for (const cJSON *it = p->child; it; it = it->next) {
        if (!strcmp(it->string, "model") && strcmp(it->valuestring, c->model)) return 0;
        if (!strcmp(it->string, "method") && strcmp(it->valuestring, c->method->name)) return 0;
        if (!strcmp(it->string, "seed") && it->valuedouble != (double)c->seed) return 0;
        if (!strcmp(it->string, "bits") && strcmp(it->valuestring, c->q.text)) return 0; /* canonical: check_pattern */
        if (!strcmp(it->string, "options"))
            for (const cJSON *o = it->child; o; o = o->next)
                if (!json_eq_scalar(o, cJSON_GetObjectItemCaseSensitive(options, o->string))) return 0;
    }
    return 1;
}

static int check_pattern(plan_ctx *pc, const cJSON *p, const char *path, ptq_err *err) {
    static const char *const keys[] = {"model", "method", "bits", "seed", "options", NULL};
    if (!cJSON_IsObject(p) || !p->child)
        return bad(err, pc->src, path, "expected a non-empty object of model/method/bits/seed/options");
    if (check_keys(p, keys, pc->src, path, err)) return -1;
    for (const cJSON *it = p->child; it; it = it->next) {
        char q[256];
        snprintf(q, sizeof q, "%s.%s", path, it->string);
        if (!strcmp(it->string, "seed")) {
            int s;
            if (get_int(it, pc->src, q, 0, 1L << 30, &s, err)) return -1;
        } else if (!strcmp(it->string, "options")) {
            if (!cJSON_IsObject(it)) return bad(err, pc->src, q, "expected an object, got %s", type_name(it));
        } else if (!cJSON_IsString(it))
            return bad(err, pc->src, q, "expected a string, got %s", type_name(it));
        else if (!strcmp(it->string, "method") && !ptq_method_find(it->valuestring))
            return unknown_method(pc, q, it->valuestring, err);
        else if (!strcmp(it->string, "bits")) { /* compared with the cells' canonical spec */
            ptq_qspec qs;
            if (ptq_qspec_parse(it->valuestring, &qs, err)) return ptq_wrap(err, "%s: %s", pc->src, q);
            cJSON_SetValuestring((cJSON *)it, qs.text);
        }
    }
    return 0;
}

/* The size of the product (each variant with its own bits list), refused
 * above PLAN_MAX_CELLS; then the id set for up to PLAN_MAX_CELLS cells
 * (add_cell refuses more), at most 40% full. */
static int plan_size(plan_ctx *pc, ptq_err *err) {
    double nb = 0;
    for (int v = 0; v < pc->nvars; v++) {
        const method_variant *owner = &pc->vars[v];
        while (owner->nbits < 0)
            owner--;
        nb += owner->bits ? owner->nbits : pc->nbits;
    }
    double n = pc->nmodels * nb * pc->nseeds;
    if (n > PLAN_MAX_CELLS)
        return bad(err, pc->src, "$",
                   "the plan has %.0f cells (models %d x method variants %d x bits %.0f x seeds %d), "
                   "more than the limit of %d: split the experiment or narrow its axes",
                   n, pc->nmodels, pc->nvars, pc->nvars ? nb / pc->nvars : 0, pc->nseeds, PLAN_MAX_CELLS);
    size_t slots = 64;
    while (slots < 2.5 * PLAN_MAX_CELLS)
        slots *= 2;
    pc->ids = ptq_calloc(slots, sizeof *pc->ids, err);
    pc->idsmask = slots - 1;
    return pc->ids ? 0 : -1;
}

static int build_cells(ptq_experiment *e, plan_ctx *pc, ptq_err *err) {
    int cap = 0;
    const cJSON *excl = cJSON_GetObjectItemCaseSensitive(pc->cfg, "exclude");
    const cJSON *incl = cJSON_GetObjectItemCaseSensitive(pc->cfg, "include");
    if (excl && !cJSON_IsArray(excl)) return bad(err, pc->src, "$.exclude", "expected an array of patterns");
    if (incl && !cJSON_IsArray(incl)) return bad(err, pc->src, "$.include", "expected an array of cells");
    int i = 0;
    for (const cJSON *p = excl ? excl->child : NULL; p; p = p->next, i++) {
        char path[64];
        snprintf(path, sizeof path, "$.exclude[%d]", i);
        if (check_pattern(pc, p, path, err)) return -1;
    }
    int nmain = pc->nvars;
    if (plan_size(pc, err)) return -1;
    for (int mi = 0; mi < pc->nmodels; mi++)
        for (int v = 0; v < nmain; v++) {
            const method_variant *mv = &pc->vars[v];
            /* variants after the first share the first one's bits list */
            const method_variant *owner = mv;
            while (owner->nbits < 0)
                owner--;
            const ptq_qspec *bits = owner->bits ? owner->bits : pc->bits;
            int nb = owner->bits ? owner->nbits : pc->nbits;
            for (int b = 0; b < nb; b++)
                for (int s = 0; s < pc->nseeds; s++)
                    if (add_cell(e, &cap, pc, pc->models[mi], mv, &bits[b], pc->seeds[s], excl, err)) return -1;
        }
    i = 0;
    for (const cJSON *p = incl ? incl->child : NULL; p; p = p->next, i++) {
        static const char *const keys[] = {"model", "method", "options", "bits", "seed", NULL};
        char path[64];
        snprintf(path, sizeof path, "$.include[%d]", i);
        if (!cJSON_IsObject(p)) return bad(err, pc->src, path, "expected an object, got %s", type_name(p));
        if (check_keys(p, keys, pc->src, path, err)) return -1;
        const cJSON *mo = cJSON_GetObjectItemCaseSensitive(p, "model"),
                    *b = cJSON_GetObjectItemCaseSensitive(p, "bits");
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(p, "seed");
        if (!cJSON_IsString(mo)) return bad(err, pc->src, path, "\"model\": expected a string, got %s", type_name(mo));
        if (!cJSON_IsString(b)) return bad(err, pc->src, path, "\"bits\": expected a string, got %s", type_name(b));
        int seed = pc->seeds[0];
        if (sd) {
            char q[96];
            snprintf(q, sizeof q, "%s.seed", path);
            if (get_int(sd, pc->src, q, 0, 1L << 30, &seed, err)) return -1;
        }
        ptq_qspec qs;
        if (ptq_qspec_parse(b->valuestring, &qs, err)) return ptq_wrap(err, "%s: %s.bits", pc->src, path);
        cJSON *m = cJSON_CreateObject(); /* method part: {name, options} */
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(p, "method"),
                    *op = cJSON_GetObjectItemCaseSensitive(p, "options");
        if (mn) cJSON_AddItemToObject(m, "name", cJSON_Duplicate(mn, 1));
        if (op) cJSON_AddItemToObject(m, "options", cJSON_Duplicate(op, 1));
        int before = pc->nvars;
        int rc = parse_method(pc, m, path, 0, err);
        cJSON_Delete(m);
        if (rc) return -1;
        for (int v = before; v < pc->nvars; v++)
            if (add_cell(e, &cap, pc, mo->valuestring, &pc->vars[v], &qs, seed, NULL, err)) return -1;
    }
    if (e->ncells == 0) return bad(err, pc->src, "$", "the plan is empty (every cell was excluded)");
    for (int k = 0; k < e->ncells; k++) {
        e->cells[k].index = k;
        if (ptq_cell_check(&e->cells[k], err))
            return ptq_wrap(err, "%s: %s: cell %s (fix the config or add an \"exclude\" entry)", pc->src,
                            e->cells[k].origin, e->cells[k].id);
    }
    return 0;
}

static int parse_top(ptq_experiment *e, plan_ctx *pc, ptq_err *err) {
    static const char *const keys[] = {"name",  "description", "note",      "models",  "methods", "bits",   "tasks",
                                       "seeds", "calibration", "overrides", "exclude", "include", "report", NULL};
    const cJSON *cfg = pc->cfg;
    if (!cJSON_IsObject(cfg)) return bad(err, pc->src, "$", "expected a JSON object, got %s", type_name(cfg));
    if (check_keys(cfg, keys, pc->src, "$", err)) return -1;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (!cJSON_IsString(n) || !n->valuestring[0] || strlen(n->valuestring) >= sizeof e->name ||
        strspn(n->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            strlen(n->valuestring))
        return bad(err, pc->src, "$.name", "expected a short name of letters, digits, '_', '.', '-'");
    snprintf(e->name, sizeof e->name, "%s", n->valuestring);
    static const char *const texts[][2] = {{"description", "$.description"}, {"note", "$.note"}};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, texts[i][0]);
        if (v && !cJSON_IsString(v)) return bad(err, pc->src, texts[i][1], "expected a string, got %s", type_name(v));
    }
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(cfg, "note");
    if (note) snprintf(e->note, sizeof e->note, "%s", note->valuestring);
    static const char *const req[] = {"models", "methods", "bits", "tasks"};
    for (int i = 0; i < 4; i++)
        if (!cJSON_GetObjectItemCaseSensitive(cfg, req[i])) {
            char p[32];
            snprintf(p, sizeof p, "$.%s", req[i]);
            return bad(err, pc->src, p, "required key is missing");
        }
    if (str_list(cJSON_GetObjectItemCaseSensitive(cfg, "models"), pc->src, "$.models", &pc->models, &pc->nmodels,
                 err) ||
        bits_list(cJSON_GetObjectItemCaseSensitive(cfg, "bits"), pc->src, "$.bits", &pc->bits, &pc->nbits, err) ||
        str_list(cJSON_GetObjectItemCaseSensitive(cfg, "tasks"), pc->src, "$.tasks", &pc->tasks, &pc->ntasks, err))
        return -1;
    if (pc->ntasks > 64) return bad(err, pc->src, "$.tasks", "at most 64 tasks per experiment");
    for (int i = 0; i < pc->ntasks; i++) {
        char p[64];
        snprintf(p, sizeof p, "$.tasks[%d]", i);
        if (check_task(pc, pc->tasks[i], p, err)) return -1;
        for (int j = 0; j < i; j++)
            if (!strcmp(pc->tasks[i], pc->tasks[j])) return bad(err, pc->src, p, "duplicate task \"%s\"", pc->tasks[i]);
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cfg, "seeds");
    if (s) {
        if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) == 0)
            return bad(err, pc->src, "$.seeds", "expected a non-empty array of integers");
        pc->seeds = calloc((size_t)cJSON_GetArraySize(s), sizeof *pc->seeds);
        for (const cJSON *it = s->child; it; it = it->next, pc->nseeds++) {
            char p[64];
            snprintf(p, sizeof p, "$.seeds[%d]", pc->nseeds);
            if (get_int(it, pc->src, p, 0, 1L << 30, &pc->seeds[pc->nseeds], err)) return -1;
        }
    } else {
        pc->seeds = calloc(1, sizeof *pc->seeds);
        pc->nseeds = 1;
    }
    if (parse_calib(pc, cJSON_GetObjectItemCaseSensitive(cfg, "calibration"), err) ||
        parse_overrides(pc, cJSON_GetObjectItemCaseSensitive(cfg, "overrides"), err))
        return -1;
    for (int i = 0; i < pc->ntasks; i++) { /* EVAL.md: never calibrate on the evaluated text */
        const char *ds = task_dataset(pc->tasks[i]);
        if (ds && pc->calib.dataset[0] && ptq_task_kind_of(pc->tasks[i])->text_dataset &&
            !ptq_calib_allowed(pc->calib.dataset, ds))
            return bad(err, pc->src, "$.calibration.dataset", "\"%s\" is the text evaluated by task \"%s\"",
                       pc->calib.dataset, pc->tasks[i]);
    }
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(cfg, "report");
    if (rep) {
        static const char *const rkeys[] = {"average", NULL};
        if (!cJSON_IsObject(rep)) return bad(err, pc->src, "$.report", "expected an object");
        if (check_keys(rep, rkeys, pc->src, "$.report", err)) return -1;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(rep, "average");
        if (a && (!cJSON_IsString(a) || strlen(a->valuestring) >= sizeof e->average))
            return bad(err, pc->src, "$.report.average", "expected a recipe name");
        if (a) snprintf(e->average, sizeof e->average, "%s", a->valuestring);
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(cfg, "methods");
    if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) == 0)
        return bad(err, pc->src, "$.methods", "expected a non-empty array of methods");
    int i = 0;
    for (const cJSON *it = ms->child; it; it = it->next, i++) {
        char p[64];
        snprintf(p, sizeof p, "$.methods[%d]", i);
        if (parse_method(pc, it, p, 1, err)) return -1;
    }
    return build_cells(e, pc, err);
}

static void plan_free(plan_ctx *pc) {
    free(pc->models), free(pc->bits), free(pc->tasks), free(pc->seeds);
    cJSON_Delete(pc->overrides);
    for (int i = 0; i < pc->nvars; i++) {
        cJSON_Delete(pc->vars[i].user);
        if (pc->vars[i].nbits > 0) free(pc->vars[i].bits);
    }
    free(pc->vars);
    free(pc->ids);
}

int ptq_experiment_parse(const char *text, const char *src, ptq_experiment *e, ptq_err *err) {
    memset(e, 0, sizeof *e);
    const char *ep = NULL;
    e->config = cJSON_ParseWithOpts(text, &ep, 1);
    if (!e->config) {
        int line = 1;
        for (const char *p = text; ep && p < ep; p++)
            line += *p == '\n';
        return ptq_fail(err, "%s:%d: malformed JSON near '%.20s'", src, line, ep ? ep : "");
    }
    plan_ctx pc = {0};
    pc.src = src;
    pc.cfg = e->config;
    int rc = parse_top(e, &pc, err);
    plan_free(&pc);
    if (rc) ptq_experiment_free(e);
    return rc;
}

void ptq_experiment_free(ptq_experiment *e) {
    for (int i = 0; i < e->ncells; i++)
        free_cell(&e->cells[i]);
    free(e->cells);
    cJSON_Delete(e->config);
    memset(e, 0, sizeof *e);
}

/* ---- keys ---------------------------------------------------------------- */
void ptq_row_key(const char *cell_key, const char *task, char out[65]) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s|%s", cell_key, task);
    ptq_sha256_buf(buf, strlen(buf), out);
}

static int prefix_of(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

int ptq_cell_selected(const ptq_cell *c, const char *only) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", only);
    for (char *sv = NULL, *k = strtok_r(buf, ",", &sv); k; k = strtok_r(NULL, ",", &sv))
        if (prefix_of(c->key, k) || prefix_of(c->id, k)) return 1;
    return 0;
}

/* sha256 used in keys for a model spec (named model: registry hash; file:
 * its hash; HF directory: model.safetensors' hash). */
static int model_sha256(const char *model, char out[65], ptq_err *err) {
    for (const ptq_named_model *n = ptq_named_models; n->name; n++)
        if (!strcmp(n->name, model)) {
            const ptq_asset *a = NULL;
            const ptq_asset *all;
            int na;
            if (ptq_registry(&all, &na, err)) return -1;
            a = ptq_registry_find(n->weights_asset);
            if (!a) return ptq_fail(err, "model %s: asset %s is not in the registry", model, n->weights_asset);
            snprintf(out, 65, "%s", a->sha256);
            return 0;
        }
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", model);
    if (ptq_file_exists(p)) return ptq_sha256_file(p, out, err);
    if (!ptq_file_exists(model))
        return ptq_fail(err, "model \"%s\": not a known short name and no such file or directory", model);
    return ptq_sha256_file(model, out, err);
}

/* sha256 of the asset a dataset/task name reads (registry), or "" if the
 * name maps to no single asset (then the registry fingerprint is used). */
static int dataset_sha256(const char *name, char out[65], ptq_err *err) {
    static const char *const alias[][2] = {{"c4", "c4-train"},
                                           {"tinystories-calib", "tinystories"},
                                           {"openbookqa", "zeroshot.openbook_qa"},
                                           {"hellaswag", "zeroshot.hellaswag.hellaswag_val_full.txt"},
                                           {"piqa", "zeroshot.piqa.valid.jsonl"}};
    const ptq_asset *all;
    int n;
    out[0] = 0;
    if (ptq_registry(&all, &n, err)) return -1;
    const char *a = name;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(alias[i][0], name)) a = alias[i][1];
    const ptq_asset *as = ptq_registry_find(a);
    if (!as) {
        char z[128];
        snprintf(z, sizeof z, "zeroshot.%s", name);
        as = ptq_registry_find(z);
    }
    if (as) snprintf(out, 65, "%s", as->sha256);
    return 0;
}

/* sha256 of every registered asset hash: stands in for a dataset the
 * registry has no single entry for (any asset change changes the keys). */
static int registry_fingerprint(char out[65], ptq_err *err) {
    const ptq_asset *all;
    int n;
    if (ptq_registry(&all, &n, err)) return -1;
    char *buf = calloc((size_t)n + 1, 65);
    for (int i = 0; i < n; i++)
        memcpy(buf + 64 * i, all[i].sha256, 64);
    ptq_sha256_buf(buf, (size_t)n * 64, out);
    free(buf);
    return 0;
}

/* overrides.seqlen must fit the model (cells are model-major: one header
 * read per run of cells of the same model). */
static int check_seqlen(const ptq_cell *c, const char **last, int *max_seq, ptq_err *err) {
    if (c->eval.ppl.seqlen <= 0) return 0;
    if ((!*last || strcmp(*last, c->model)) && ptq_model_max_seq(c->model, max_seq, err))
        return ptq_wrap(err, "cell %s", c->id);
    *last = c->model;
    if (*max_seq > 0 && c->eval.ppl.seqlen > *max_seq)
        return ptq_fail(err, "cell %s: overrides.seqlen %d is above the max_seq %d of model %s", c->id,
                        c->eval.ppl.seqlen, *max_seq, c->model);
    return 0;
}

int ptq_experiment_keys(ptq_experiment *e, ptq_err *err) {
    char fp[65];
    const char *last = NULL;
    int max_seq = 0;
    if (registry_fingerprint(fp, err)) return -1;
    for (int i = 0; i < e->ncells; i++) {
        ptq_cell *c = &e->cells[i];
        char msha[65], dsha[65];
        if (model_sha256(c->model, msha, err)) return ptq_wrap(err, "cell %s", c->id);
        if (check_seqlen(c, &last, &max_seq, err)) return -1;
        char *canon = cJSON_PrintUnformatted(c->resolved);
        size_t cap = strlen(canon) + 66 * (size_t)(c->ntasks + 4) + 64;
        char *buf = malloc(cap);
        snprintf(buf, cap, "%s\n%s\n", canon, msha);
        free(canon);
        for (int t = -1; t < c->ntasks; t++) {
            const char *ds = t < 0 ? (c->needs_calib ? c->calib.dataset : NULL) : task_dataset(c->tasks[t]);
            if (!ds) continue;
            if (dataset_sha256(ds, dsha, err)) {
                free(buf);
                return -1;
            }
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s\n", dsha[0] ? dsha : fp);
        }
        snprintf(buf + strlen(buf), cap - strlen(buf), "ptqbench %s", ptq_version());
        ptq_sha256_buf(buf, strlen(buf), c->key);
        free(buf);
    }
    return 0;
}
