/* test_qweight.c — the quantized weight (ptq_qweight) every method leaves on
 * stories260K:
 *  - every quantized linear's qweight dequantizes to its weight bit for bit,
 *    and its low-frequency branch to its w_side (rtn, smoothquant, gptq,
 *    quarot, ruquant, specquant, septq; lm_head with quant_lm_head);
 *  - the model's weight format is the bit-spec's (bits, group, symmetry);
 *  - a clone carries its own copies of the qweights;
 *  - GPTQ with act_order and a group size: groups over permuted columns
 *    (gidx), exported and loaded back exactly; the packed path refuses them
 *    with a clear error. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "method.h"
#include "model_open.h"
#include "packed.h"
#include "ptqfile.h"
#include "testutil.h"

static ptq_model g_ref;
static ptq_tokenizer *g_tok;

static int quantize_lm(const char *method, const char *bits, const char *opt, int lm_head_bits, ptq_model *m,
                       ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    ptq_qspec q;
    if (!me || ptq_qspec_parse(bits, &q, err)) return -1;
    cJSON *o = cJSON_CreateObject(), *info = cJSON_CreateObject();
    if (ptq_method_opt(me, "nsamples")) cJSON_AddNumberToObject(o, "nsamples", 2);
    if (ptq_method_opt(me, "seqlen")) cJSON_AddNumberToObject(o, "seqlen", 64);
    if (!strcmp(method, "specquant")) cJSON_AddBoolToObject(o, "alpha_search", 0);
    if (!strcmp(method, "ruquant")) cJSON_AddNumberToObject(o, "K", 2);
    if (opt) cJSON_AddBoolToObject(o, opt, 1);
    if (lm_head_bits) cJSON_AddNumberToObject(o, "lm_head_bits", lm_head_bits);
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    ptq_apply_ctx ctx = {&q, o, g_tok, &cs, 3, info};
    int rc = ptq_model_clone(m, &g_ref, err) ? -1 : ptq_method_apply(me, m, &ctx, err);
    if (rc && m->layers) ptq_model_free(m);
    cJSON_Delete(o), cJSON_Delete(info);
    return rc;
}

static int quantize(const char *method, const char *bits, const char *opt, ptq_model *m, ptq_err *err) {
    return quantize_lm(method, bits, opt, 0, m, err);
}

/* lm_head_bits set: lm_head's weights and (where the cell quantizes activations) its input take those bits,
 * also when they equal the cell's W bits; unset: the cell's W and A bits. */
static void check_lm_head_bits(const char *bits, int lm_bits, int want_w, int want_a) {
    ptq_err err = {{0}};
    ptq_model m;
    if (quantize_lm("rtn", bits, "quant_lm_head", lm_bits, &m, &err)) {
        fprintf(stderr, "rtn %s lm_head_bits=%d: %s\n", bits, lm_bits, err.msg);
        CHECK(0);
        return;
    }
    CHECK(m.lm_head.qw && m.lm_head.qw->bits == want_w);
    CHECK(m.lm_head.aq.bits == want_a);
    ptq_model_free(&m);
}

/* dequant(qw) == w and dense(branch) == w_side, bit for bit. */
static int linear_ok(const ptq_linear *l) {
    size_t n = (size_t)l->out * l->in;
    float *d = malloc(sizeof(float) * n);
    ptq_err err;
    ptq_qweight_dequant(l->qw, d);
    int ok = memcmp(d, l->w, sizeof(float) * n) == 0;
    if (l->qw->lowfreq.kmax > 0)
        ok &= l->w_side && ptq_spectral_branch_dense(&l->qw->lowfreq, d, &err) == 0 &&
              memcmp(d, l->w_side, sizeof(float) * n) == 0;
    free(d);
    return ok;
}

static void check_method(const char *method, const char *bits, const char *opt, int sym, int group, int lm_head,
                         int lowfreq, int sparse) {
    ptq_err err = {{0}};
    ptq_model m;
    double t0 = ptq_now_sec();
    if (quantize(method, bits, opt, &m, &err)) {
        fprintf(stderr, "%s %s: %s\n", method, bits, err.msg);
        CHECK(0);
        return;
    }
    int bad = 0, nq = 0, nlow = 0;
    long nnz = 0, bytes = 0;
    for (int i = 0; i <= m.cfg.n_layers * PTQ_LIN_COUNT; i++) {
        const ptq_linear *l = ptq_model_linear(&m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        if (!l->qw) continue;
        const ptq_qweight *q = l->qw; /* bits/8 per code, fp32 scale + 8-bit zero per group, side data */
        nq++, nlow += q->lowfreq.kmax > 0, nnz += q->nnz;
        bytes += ((long)q->out * q->in * q->bits + 7) / 8 + 5L * q->out * q->ngroups + q->side_bytes;
        if (!linear_ok(l)) bad++, fprintf(stderr, "%s %s: linear %d: dequant(qw) != w\n", method, bits, i);
    }
    ptq_weight_format f;
    char fs[96];
    ptq_model_weight_format(&m, &f);
    ptq_weight_format_str(&f, fs, sizeof fs);
    printf("%-11s %-10s %s%s%s, lm_head %s, %d qweights (%d with a branch, %ld off-grid entries), %ld bytes with "
           "%ld side bytes (%.1f s)\n", method, bits, fs, opt ? ", " : "", opt ? opt : "",
           f.lm_head_bits ? "quantized" : "fp32", nq, nlow, nnz, f.bytes, f.side_bytes, ptq_now_sec() - t0);
    CHECK(bad == 0 && f.bytes == bytes);
    CHECK(f.uniform && f.quantized == f.linears && f.bits == bits[1] - '0' && f.sym == sym && f.group == group);
    CHECK(!f.lm_head_bits == !lm_head);
    CHECK(!nlow == !lowfreq && !nnz == !sparse);
    if (!strcmp(method, "rtn")) { /* a clone has its own equal qweights */
        ptq_model c;
        CHECK(ptq_model_clone(&c, &m, &err) == 0);
        const ptq_qweight *a = m.layers[1].lin[PTQ_LIN_V].qw, *b = c.layers[1].lin[PTQ_LIN_V].qw;
        CHECK(a && b && a != b && a->codes != b->codes && !memcmp(a->codes, b->codes, (size_t)a->out * a->in) &&
              !memcmp(a->scale, b->scale, sizeof(float) * a->out * a->ngroups));
        CHECK(!m.lm_head.qw || (c.lm_head.qw && c.lm_head.qw != m.lm_head.qw && linear_ok(&c.lm_head)));
        ptq_model_free(&c);
    }
    ptq_model_free(&m);
}

/* act_order with groups: the export round trip keeps gidx; a clear error from the packed path. */
static void check_act_order_groups(void) {
    ptq_err err = {{0}};
    ptq_model m, b;
    if (quantize("gptq", "W4A16-g32", "act_order", &m, &err)) {
        fprintf(stderr, "gptq act_order: %s\n", err.msg);
        CHECK(0);
        return;
    }
    ptq_weight_format f;
    ptq_model_weight_format(&m, &f);
    CHECK(f.uniform && f.act_order && f.bits == 4 && f.group == 32);
    ptq_packed_model pm;
    CHECK(ptq_packed_model_build(&pm, &m, &err) == -1 && strstr(err.msg, "tensor layers.0.q_proj.weight: groups over permuted columns"));
    char p[128];
    snprintf(p, sizeof p, "/tmp/ptq_qweight_test_%d.ptq", (int)getpid());
    ptq_file_stats st;
    CHECK(ptq_file_save_ex(p, &m, NULL, NULL, &st, &err) == 0 && st.packed_linears == f.linears);
    if (ptq_file_load(p, &b, NULL, &err) == 0) {
        const ptq_linear *x = &m.layers[2].lin[PTQ_LIN_DOWN], *y = &b.layers[2].lin[PTQ_LIN_DOWN];
        CHECK(y->qw && y->qw->gidx && !memcmp(x->qw->gidx, y->qw->gidx, sizeof(int) * x->in) &&
              !memcmp(x->w, y->w, sizeof(float) * x->out * x->in) && linear_ok(y));
        ptq_model_free(&b);
    } else {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
    }
    unlink(p);
    ptq_model_free(&m);
}

int main(void) {
    ptq_err err = {{0}};
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &g_ref, &g_tok, &err)) {
        fprintf(stderr, "stories260K not available, test skipped: %s\n", err.msg);
        return tu_done("test_qweight");
    }
    /* method, bits, option set true, sym, group, lm_head quantized, branch, off-grid entries */
    check_method("rtn", "W4A4", "quant_lm_head", 1, 0, 1, 0, 0);
    check_method("rtn", "W3A16-g32", NULL, 1, 32, 0, 0, 0);
    check_method("smoothquant", "W6A6", NULL, 1, 0, 0, 0, 0);
    check_method("gptq", "W4A16-g32", NULL, 0, 32, 0, 0, 0);
    check_method("gptq", "W3A16", "act_order", 0, 0, 0, 0, 0);
    check_method("quarot", "W4A4KV4", NULL, 1, 0, 0, 0, 0);
    check_method("ruquant", "W4A4", NULL, 0, 0, 0, 0, 0);
    check_method("specquant", "W4A4", NULL, 0, 0, 0, 1, 0);
    check_method("septq", "W3", NULL, 0, 0, 0, 0, 1);
    check_act_order_groups();
    check_lm_head_bits("W8A4", 8, 8, 8); /* the option equals the cell's W bits: still an int8 input */
    check_lm_head_bits("W8A4", 0, 8, 4);
    check_lm_head_bits("W4A4", 8, 8, 8);
    check_lm_head_bits("W4A16", 8, 8, 16);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
    return tu_done("test_qweight");
}
