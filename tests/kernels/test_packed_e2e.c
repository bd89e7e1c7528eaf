/* test_packed_e2e.c — end to end on stories260K: for each method x bit-spec
 * it supports, pack the quantized model's qweights (integer codes + grids +
 * side data) into the kernels (packed.c), attach them, and run forward.c's
 * ptq_forward on the real kernels (integer GEMM / weight-only dequant GEMM /
 * int8-int4 KV / SpecQuant's FFT branch / SEPTQ's sparse add): prefill half
 * the tokens, decode the rest one by one. Checks:
 *   - every linear's qweight dequantizes to its fake-quant weight bit for
 *     bit, and the packed kernels hold exactly its codes and grids (their
 *     dequant + sparse entries = the weight, bit for bit);
 *   - every packed linear equals its fake-quant linear on identical inputs
 *     (max |dy| <= 1e-5 max |y|), for every case;
 *   - logits: max |packed - fake| < 1e-3 (STRICT cases), or, for the pairs
 *     known to be tie-sensitive (TIE), the sequence NLL within 1% and the
 *     top-1 token at >= 90% of positions (see the note at the case table);
 *   - packing a linear without a qweight (or with a group the kernels do not
 *     take) fails with a clear message; off-grid entries at known positions
 *     are reproduced by the kernels; the forced scalar kernels give the same
 *     logits.
 * The pairs whose calibration is slow run in test_packed_e2e_slow.c, which
 * includes this file with PTQ_E2E_SLOW defined (the fast label also runs
 * under ASan; the unit checks and the rtn/quarot-KV4/specquant pairs here
 * cover every kernel). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "model_open.h"
#include "packed.h"
#include "perplexity.h"
#include "lowfreq.h"
#include "testref.h"
#include "testutil.h"

#ifndef PTQ_E2E_SLOW
#define PTQ_E2E_SLOW 0
#define TEST_NAME "test_packed_e2e"
#else
#define TEST_NAME "test_packed_e2e_slow"
#endif
/* Built with sanitizers (RelWithDebInfo, no -march=native: other
 * vectorization and contraction in the fake-quant path), other near-ties flip
 * than in Release, for pairs that are strict there (rtn W4A4 moves logits by
 * ~7 under ASan on an Intel host, the scalar fallback too). That build is
 * here for memory safety, so every pair gets the tie-robust criterion in it;
 * Release keeps the strict one. */
#define PTQ_E2E_ALL_TIE PTQ_TEST_ASAN
#define T 64
#define TIE_NLL_REL 0.01 /* relative sequence-NLL difference allowed for tie-sensitive pairs */
#define TIE_TOP1 0.9     /* top-1 agreement required for them */
enum { STRICT, TIE };
static ptq_model g_ref;
static ptq_tokenizer *g_tok;
static ptq_tokens g_toks;

/* opts: NULL or "key=value key=value" (CLI --opt syntax). */
static int apply(const char *method, const char *bits, const char *opts, ptq_model *m, ptq_qspec *q, ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    if (!me) return ptq_fail(err, "no method %s", method);
    if (ptq_qspec_parse(bits, q, err) || (me->supports && me->supports(q, err))) return 1; /* skip */
    cJSON *o = cJSON_CreateObject();
    if (ptq_method_opt(me, "nsamples")) cJSON_AddNumberToObject(o, "nsamples", 4);
    if (ptq_method_opt(me, "seqlen")) cJSON_AddNumberToObject(o, "seqlen", 64);
    char kv[128];
    for (const char *p = opts; p && *p; p += strcspn(p, " "), p += *p == ' ') {
        snprintf(kv, sizeof kv, "%.*s", (int)strcspn(p, " "), p);
        if (ptq_opts_add_kv(me, o, kv, err)) return cJSON_Delete(o), -1;
    }
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    cJSON *info = cJSON_CreateObject();
    ptq_apply_ctx ctx = {q, o, g_tok, &cs, 3, info};
    int rc = ptq_model_clone(m, &g_ref, err) ? -1 : ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(o);
    cJSON_Delete(info);
    return rc;
}

/* Mean next-token NLL of the test sequence from T x V logits. */
static double seq_nll(const float *logits, int V) {
    double sum = 0;
    for (int t = 0; t + 1 < T; t++) {
        const float *z = logits + (size_t)t * V;
        double mx = z[0], se = 0;
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < V; v++) se += exp(z[v] - mx);
        sum += mx + log(se) - z[g_toks.ids[t + 1]];
    }
    return sum / (T - 1);
}

/* Fraction of positions whose argmax token is the same. */
static double top1_agreement(const float *a, const float *b, int V) {
    int same = 0;
    for (int t = 0; t < T; t++) {
        const float *x = a + (size_t)t * V, *y = b + (size_t)t * V;
        int ia = 0, ib = 0;
        for (int v = 1; v < V; v++) ia = x[v] > x[ia] ? v : ia, ib = y[v] > y[ib] ? v : ib;
        same += ia == ib;
    }
    return (double)same / T;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static int fake_logits(const ptq_model *m, float *out, ptq_err *err) {
    ptq_state s;
    if (ptq_state_init(&s, m, T, err)) return -1;
    int rc = ptq_forward(m, &s, g_toks.ids, T, 0, out, 0, err);
    ptq_state_free(&s);
    return rc;
}

/* Largest logit change of the fake-quant model under 1e-7 relative noise on
 * the embeddings (two noise patterns): how far a near-tie flip moves it. */
static double perturbed_diff(ptq_model *m, const float *fake, ptq_err *err) {
    size_t ne = (size_t)m->cfg.vocab_size * m->cfg.dim, nl = (size_t)T * m->cfg.vocab_size;
    float *save = malloc(sizeof(float) * ne), *pert = malloc(sizeof(float) * nl);
    double worst = 0;
    memcpy(save, m->tok_emb, sizeof(float) * ne);
    for (unsigned seed = 1; seed <= 2; seed++) {
        for (size_t i = 0; i < ne; i++)
            m->tok_emb[i] = save[i] * (1.f + 1e-7f * (float)((double)(((i * 2654435761u * seed) >> 7) % 3) - 1.0));
        if (fake_logits(m, pert, err) == 0) worst = fmax(worst, max_abs_diff(pert, fake, nl));
    }
    memcpy(m->tok_emb, save, sizeof(float) * ne);
    free(save), free(pert);
    return worst;
}

/* Every packed linear against its fake-quant linear on the same random rows
 * (outliers in a few channels, like real activations). */
static double per_linear_diff(const ptq_model *m, const ptq_packed_model *pm) {
    enum { R = 8 };
    double worst = 0;
    ptq_rng rng;
    ptq_rng_seed(&rng, 7);
    for (int i = 0; i < pm->n; i++) {
        const ptq_linear *lf = ptq_model_linear((ptq_model *)m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        const ptq_linear *lk = ptq_model_linear((ptq_model *)&pm->view, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        if (!lk->kern) continue;
        float *x = malloc(sizeof(float) * R * lf->in), *sc = malloc(sizeof(float) * 2 * R * lf->in);
        float *yf = malloc(sizeof(float) * R * lf->out), *yk = malloc(sizeof(float) * R * lf->out);
        for (int j = 0; j < R * lf->in; j++)
            x[j] = (float)(ptq_rng_uniform(&rng) - 0.5) * (j % lf->in % 17 == 3 ? 20.f : 1.f);
        ptq_err le;
        CHECK(ptq_linear_forward(lf, x, sc, yf, R, NULL, NULL, 0, 0, &le) == 0);
        CHECK(ptq_linear_forward(lk, x, sc, yk, R, NULL, NULL, 0, 0, &le) == 0);
        double ymax = 0;
        for (int j = 0; j < R * lf->out; j++) ymax = fmax(ymax, fabs(yf[j]));
        double d = max_abs_diff(yf, yk, (size_t)R * lf->out) / fmax(ymax, 1e-30);
        if (!(d <= 1e-5)) printf("  linear %d: max|dy| / max|y| = %.3g\n", i, d);
        worst = fmax(worst, isnan(d) ? INFINITY : d);
        free(x), free(sc), free(yf), free(yk);
    }
    return worst;
}

/* Every linear with a qweight: dequant(qw) == w, and the packed kernel
 * holds its codes and grids (kernel dequant + sparse entries == w). */
static int check_qweights(const ptq_model *m, const ptq_packed_model *pm) {
    int ok = 1, nq = 0;
    for (int i = 0; i < pm->n; i++) {
        const ptq_linear *l = ptq_model_linear((ptq_model *)m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        if (!l->qw) continue;
        size_t n = (size_t)l->out * l->in;
        float *d = malloc(sizeof(float) * n);
        uint8_t *c = malloc(n);
        ptq_qweight_dequant(l->qw, d);
        int same = memcmp(d, l->w, sizeof(float) * n) == 0;
        if (pm->packed[i]) {
            const ptq_lin_kernel *k = &pm->kern[i];
            ptq_kunpack_codes(&k->w, c);
            same &= memcmp(c, l->qw->codes, n) == 0;
            ptq_kdequant(&k->w, d);
            for (int r = 0; r < k->sp.out; r++)
                for (long p = k->sp.rowptr[r]; p < k->sp.rowptr[r + 1]; p++) d[(size_t)r * l->in + k->sp.col[p]] = k->sp.val[p];
            same &= memcmp(d, l->w, sizeof(float) * n) == 0;
        }
        if (!same) printf("  linear %d: qweight / kernel differ from the fake-quant weight\n", i);
        ok &= same, nq++;
        free(d), free(c);
    }
    return ok && nq > 0;
}

static int packed_logits(const ptq_packed_model *pm, float *out, int *kv_int, ptq_err *err) {
    ptq_state s;
    if (ptq_state_init_packed(&s, &pm->view, T, T, err)) return -1;
    *kv_int = ptq_state_kv_packed(&s);
    size_t V = pm->view.cfg.vocab_size;
    int rc = ptq_forward(&pm->view, &s, g_toks.ids, T / 2, 0, out, 0, err); /* prefill half */
    for (int t = T / 2; t < T && !rc; t++) /* decode the rest one token at a time */
        rc = ptq_forward(&pm->view, &s, g_toks.ids + t, 1, t, out + (size_t)t * V, 0, err);
    ptq_state_free(&s);
    return rc;
}

static void run_case(const char *method, const char *bits, const char *opts, int mode) {
    if (PTQ_E2E_ALL_TIE) mode = TIE;
    ptq_model m;
    ptq_qspec q;
    ptq_err err = {{0}};
    double t0 = ptq_now_sec();
    int rc = apply(method, bits, opts, &m, &q, &err);
    if (rc == 1) {
        printf("%-10s %-9s skipped (%s)\n", method, bits, err.msg);
        return;
    }
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s %s: %s\n", method, bits, err.msg);
        return;
    }
    if (opts) /* lm_head_bits=8: 8-bit codes, and 8-bit inputs where the cell quantizes activations */
        CHECK(m.lm_head.qw && m.lm_head.qw->bits == 8 && m.lm_head.aq.bits == (q.a_bits < 16 ? 8 : 16));
    size_t nl = (size_t)T * m.cfg.vocab_size;
    float *fake = malloc(sizeof(float) * nl), *real = malloc(sizeof(float) * nl);
    CHECK(fake_logits(&m, fake, &err) == 0);
    ptq_packed_model pm;
    rc = ptq_packed_model_build(&pm, &m, &err);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "%s %s: pack: %s\n", method, bits, err.msg);
    else {
        int kv_int = 0, ok = packed_logits(&pm, real, &kv_int, &err) == 0;
        CHECK(ok);
        if (!ok) fprintf(stderr, "%s %s: packed forward: %s\n", method, bits, err.msg);
        double d = max_abs_diff(real, fake, nl), dl = per_linear_diff(&m, &pm);
        CHECK(check_qweights(&m, &pm));
        size_t fp = 0;
        int side = 0;
        for (int i = 0; i < pm.n; i++) {
            const ptq_linear *l = ptq_model_linear(&m, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
            fp += sizeof(float) * (size_t)l->out * l->in;
            side |= (pm.kern[i].lf.coef ? 1 : 0) | (pm.kern[i].sp.rowptr ? 2 : 0) | (pm.kern[i].side_dense ? 4 : 0);
        }
        printf("%-10s %-9s max|logit diff| %-9.3g per-linear %-8.2g  bytes %.3f of fp32  KV %s  "
               "lm_head %s  side%s%s%s%s",
               method, q.text, d, dl, (double)pm.weight_bytes / fp, kv_int ? "int" : "fp32",
               !pm.packed[pm.n - 1] ? "fp32" : m.lm_head.qw->bits == q.w_bits ? "packed" : "packed 8-bit", side & 1 ? " lowfreq" : "", side & 2 ? " sparse" : "",
               side & 4 ? " dense" : "", side ? "" : " none");
        CHECK(dl <= 1e-5);
        if (mode == STRICT) {
            printf("  (%.1f s)\n", ptq_now_sec() - t0);
            CHECK(d < 1e-3);
        } else {
            /* a flipped near-tie moves single logits but not the model: the
             * sequence NLL and the top-1 predictions must agree */
            double dp = perturbed_diff(&m, fake, &err), nf = seq_nll(fake, m.cfg.vocab_size),
                   nr = seq_nll(real, m.cfg.vocab_size), agree = top1_agreement(real, fake, m.cfg.vocab_size);
            printf("  fake vs perturbed fake %.3g; NLL %.5f vs %.5f; top-1 agree %.3f  (%.1f s)\n", dp, nr, nf, agree,
                   ptq_now_sec() - t0);
            CHECK(fabs(nr - nf) <= TIE_NLL_REL * nf);
            CHECK(agree >= TIE_TOP1);
        }
        { /* k, v, up reusing the op rows and activation codes of the linear before them changes no bit */
            float *own = malloc(sizeof(float) * nl);
            ptq_forward_share_inputs(0);
            CHECK(packed_logits(&pm, own, &kv_int, &err) == 0);
            ptq_forward_share_inputs(1);
            CHECK(!memcmp(own, real, sizeof(float) * nl));
            free(own);
        }
        if (!strcmp(method, "rtn") && !strcmp(bits, "W4A4")) { /* the scalar fallback gives the same logits */
            ptq_kern_force_isa(PTQ_ISA_SCALAR);
            CHECK(packed_logits(&pm, real, &kv_int, &err) == 0);
            double ds = max_abs_diff(real, fake, nl);
            printf("%-10s %-9s scalar fallback max|logit diff| %.3g\n", method, bits, ds);
            CHECK(ds < 1e-3 || (mode == TIE && fabs(seq_nll(real, m.cfg.vocab_size) - seq_nll(fake, m.cfg.vocab_size)) <=
                                                   TIE_NLL_REL * seq_nll(fake, m.cfg.vocab_size)));
            ptq_kern_force_isa(ptq_kern_isa_best());
        }
        ptq_packed_model_free(&pm);
    }
    free(fake), free(real);
    ptq_model_free(&m);
}

/* Off-grid entries at known positions: the kernel's dequant + sparse
 * correction = W; a linear without a qweight, or with a group the kernels do
 * not take, is refused with a clear message. */
static void check_sparse_pack(void) {
    enum { O = 5, I = 72 };
    float W[O * I], y[3 * O], x[3 * I], yr[3 * O];
    unsigned char keep[O * I] = {0};
    long kept[] = {3, 70, 71, 2 * I + 5, 4 * I + 71};
    ptq_err err = {{0}};
    ptq_qweight *qw = ptq_qweight_new(O, I, 4, 0, 0, &err);
    for (int i = 0; i < O * I; i++) qw->codes[i] = (uint8_t)((i * 7) % 15); /* 4-bit grid, step 0.05 */
    for (int r = 0; r < O; r++) qw->scale[r] = 0.05f, qw->zero[r] = 7;
    ptq_qweight_dequant(qw, W);
    for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++) W[kept[k]] = 0.1234567f * (float)(k + 1), keep[kept[k]] = 1;
    CHECK(ptq_qweight_set_sparse(qw, keep, W, &err) == 0 && qw->nnz == 5);
    ptq_linear l;
    memset(&l, 0, sizeof l);
    l.out = O, l.in = I, l.owns_w = 1, l.aq.bits = 16, l.w = calloc(O * I, sizeof(float));
    ptq_lin_kernel k;
    CHECK(ptq_lin_kernel_build(&k, &l, "fp32", &err) == -1 && strstr(err.msg, "fp32: the weight is not quantized"));
    CHECK(ptq_linear_set_qweight(&l, qw, &err) == 0 && memcmp(l.w, W, sizeof W) == 0);
    CHECK(ptq_lin_kernel_build(&k, &l, "offgrid", &err) == 0 && k.sp.nnz == 5);
    for (int i = 0; i < 3 * I; i++) x[i] = sinf((float)i);
    for (int t = 0; t < 3; t++)
        for (int o = 0; o < O; o++) {
            double s = 0;
            for (int i = 0; i < I; i++) s += (double)x[t * I + i] * W[o * I + i];
            yr[t * O + o] = (float)s;
        }
    CHECK(ptq_kgemm_f32(&k.w, x, 3, NULL, y, &err) == 0);
    ptq_kcsr_apply(&k.sp, x, 3, y);
    CHECK(max_abs_diff(y, yr, 3 * O) < 1e-5);
    ptq_lin_kernel_free(&k);
    l.qw->group = 6, l.qw->ngroups = 12; /* groups of 6: no kernel (multiples of 4 only) */
    CHECK(ptq_lin_kernel_build(&k, &l, "g6", &err) == -1 && strstr(err.msg, "groups of 6"));
    ptq_qweight_free(l.qw);
    free(l.w);
    /* wider than the kernel's 16-bit sparse columns: refused, not wrapped */
    enum { WIDE = PTQ_KCSR_MAX_IN + 4 };
    ptq_qweight *wq = ptq_qweight_new(1, WIDE, 4, 0, 0, &err);
    float *Ww = calloc(WIDE, sizeof(float));
    unsigned char *kw = calloc(WIDE, 1);
    wq->scale[0] = 0.05f, wq->zero[0] = 7;
    for (int i = 0; i < WIDE; i++) wq->codes[i] = 7;
    Ww[WIDE - 1] = 1.f, kw[WIDE - 1] = 1;
    memset(&l, 0, sizeof l);
    l.out = 1, l.in = WIDE, l.owns_w = 1, l.aq.bits = 16, l.w = calloc(WIDE, sizeof(float));
    CHECK(ptq_qweight_set_sparse(wq, kw, Ww, &err) == 0 && ptq_linear_set_qweight(&l, wq, &err) == 0);
    CHECK(ptq_lin_kernel_build(&k, &l, "wide", &err) == -1 && strstr(err.msg, "wide") && strstr(err.msg, "16-bit columns"));
    ptq_qweight_free(l.qw);
    free(l.w), free(Ww), free(kw);
}

/* The FFT branch from stored coefficients equals the dense W_low. */
static void check_lowfreq_coef(void) {
    enum { O = 6, N = 40, K = 5 };
    float W[O * N], Wl[O * N], x[2 * N], y[2 * O] = {0}, yr[2 * O];
    double spec[O * (N / 2 + 1) * 2];
    int k[O] = {K, 1, 3, 0, K, 2};
    for (int i = 0; i < O * N; i++) W[i] = cosf(0.37f * (float)i);
    for (int i = 0; i < 2 * N; i++) x[i] = sinf(0.11f * (float)i * (float)i);
    ptq_err err = {{0}};
    ptq_spectral_branch br;
    CHECK(ptq_rfft_rows(W, O, N, spec, &err) == 0 && ptq_spectral_branch_init(&br, spec, O, N, k, 0, &err) == 0 &&
          ptq_spectral_branch_dense(&br, Wl, &err) == 0);
    for (int t = 0; t < 2; t++)
        for (int o = 0; o < O; o++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += (double)x[t * N + i] * Wl[o * N + i];
            yr[t * O + o] = (float)s;
        }
    ptq_klowfreq lf;
    CHECK(ptq_klowfreq_init_coef(&lf, br.coef, O, N, br.kmax, &err) == 0);
    CHECK(ptq_klowfreq_apply(&lf, x, 2, y, &err) == 0);
    CHECK(max_abs_diff(y, yr, 2 * O) < 1e-5);
    ptq_klowfreq_free(&lf);
    ptq_spectral_branch_free(&br);
}

int main(void) {
    ptq_err err = {{0}};
    if (!PTQ_E2E_SLOW) {
        check_sparse_pack();
        check_lowfreq_coef();
    }
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &g_ref, &g_tok, &err) ||
        ptq_text_tokens("tinystories", g_tok, &g_toks, &err)) {
        fprintf(stderr, "stories260K not available: %s\n", err.msg);
        return tu_done(TEST_NAME);
    }
    /* STRICT: max |logit diff| < 1e-3. TIE: pairs where a ~1e-7 relative
     * difference in one GEMM sum (summation order: integer GEMM vs sgemm,
     * FFT vs dense branch) flips a near-tie rounding of a later activation /
     * KV quantizer, which changes that quantized value by a whole step and
     * the logits by up to ~1 on this tiny model, although every packed
     * linear matches its fake-quant linear to ~1e-6 on identical inputs (the
     * per-linear check above, applied to TIE cases too). The fake-quant model
     * itself moves by the same amount when its embeddings move by 1e-7
     * (perturbed_diff, printed as evidence). Which ties flip depends on the
     * build (ASan vs Release), CPU and BLAS kernel (rtn W8A8 flips on an
     * Intel host whose OpenBLAS runs its generic Prescott kernels), so the TIE cases assert what a flip
     * cannot change: per-linear agreement (a wrong code, scale or side
     * branch fails it), sequence NLL within 1% and top-1 agreement >= 90%
     * (a wrong KV store, online op or wiring fails those). */
    static const struct {
        const char *method, *bits;
        int mode, slow;
        const char *opts;
    } cases[] = {
        {"rtn", "W4A4", STRICT, 0, NULL}, {"rtn", "W3A3", STRICT, 0, NULL},
        {"rtn", "W4A4-g32", STRICT, 0, NULL}, {"rtn", "W8A8", TIE, 0, NULL},
        {"rtn", "W4A16", STRICT, 0, NULL}, {"rtn", "W2A16", STRICT, 0, NULL},
        {"rtn", "W4A16-g32", STRICT, 0, NULL}, {"rtn", "W4A4KV4", STRICT, 0, NULL},
        {"rtn", "W6A6", TIE, 0, NULL}, {"rtn", "W4A8KV8", TIE, 0, NULL},
        {"quarot", "W4A4KV4", STRICT, 0, NULL}, {"specquant", "W4A4", STRICT, 0, NULL},
        {"quarot", "W4A4", STRICT, 1, NULL}, {"quarot", "W6A6", STRICT, 1, NULL},
        {"quarot", "W3A3", STRICT, 1, NULL}, {"quarot", "W4A16", STRICT, 1, NULL},
        {"gptq", "W4A16", STRICT, 1, NULL}, {"gptq", "W4A4", STRICT, 1, NULL},
        {"ruquant", "W4A4", STRICT, 1, NULL}, {"specquant", "W6A6", TIE, 1, NULL},
        {"septq", "W4A16", STRICT, 1, NULL}, {"septq", "W3A16", STRICT, 1, NULL},
        {"ggml", "W4A16", STRICT, 0, NULL},
        /* an int8 classifier (llama.cpp's output.weight): W8A8 lm_head under W4A4, W8A16 under W4A16 */
        {"rtn", "W4A4", STRICT, 0, "quant_lm_head=true lm_head_bits=8"},
        {"rtn", "W4A16", STRICT, 0, "quant_lm_head=true lm_head_bits=8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].slow != PTQ_E2E_SLOW) continue;
        char key[64];
        snprintf(key, sizeof key, "%s:%s%s", cases[i].method, cases[i].bits, cases[i].opts ? ":lm8" : "");
        const char *only = getenv("PTQ_E2E_ONLY"); /* e.g. "rtn:W8A8" while debugging */
        if (only && strcmp(only, key)) continue;
        if (!ptq_method_find(cases[i].method)) printf("%-10s not in the registry\n", cases[i].method);
        else run_case(cases[i].method, cases[i].bits, cases[i].opts, cases[i].mode);
    }
    const char *extra = PTQ_E2E_SLOW ? NULL : getenv("PTQ_E2E_EXTRA"); /* "method:bits", any pair, TIE mode (debugging) */
    if (extra && strchr(extra, ':')) {
        char mth[32];
        snprintf(mth, sizeof mth, "%.*s", (int)(strchr(extra, ':') - extra), extra);
        run_case(mth, strchr(extra, ':') + 1, NULL, TIE);
    }
    ptq_tokens_free(&g_toks);
    ptq_tokenizer_free(g_tok);
    ptq_model_free(&g_ref);
    return tu_done(TEST_NAME);
}
