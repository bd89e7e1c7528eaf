/* bench.c — benchmarks.
 * `ptqbench bench forward`: whole FP32 forward GFLOP/s next to OpenBLAS sgemm
 * GFLOP/s on the same projection shapes, same run, same threads.
 * `ptqbench bench --shape llama7b | --model M --method X --bits B`: the real
 * low-bit path (packed kernels + the method's online ops) against FP32.
 * With --model M --out FILE it then quantizes M with the method and runs the
 * runner's latency task on it (eval/latency.c: packed model vs FP32 model),
 * printing and appending the same result row a sweep writes. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hadamard.h"
#include "kernels.h"
#include "latency.h"
#include "model.h"
#include "model_open.h"
#include "ptqfile.h"
#include "method.h"
#include "qspec.h"
#include "results.h"
#include "sysinfo.h"
#include "cell.h"
#include "tokenizer.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static int random_model(ptq_model *m, int dim, int hidden, int layers, int heads, int seq, ptq_err *err) {
    ptq_config c = {.dim = dim, .hidden_dim = hidden, .n_layers = layers, .n_heads = heads, .n_kv_heads = heads,
                    .vocab_size = 512, .max_seq = seq, .head_dim = dim / heads, .rope_theta = 10000.f,
                    .norm_eps = 1e-5f, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    if (ptq_model_alloc(m, &c, err)) return -1;
    ptq_rng r;
    ptq_rng_seed(&r, 42);
    size_t ne = (size_t)c.vocab_size * dim;
    for (size_t i = 0; i < ne; i++) m->tok_emb[i] = (float)(ptq_rng_uniform(&r) - 0.5);
    for (int i = 0; i < dim; i++) m->rms_final[i] = 1.f;
    for (int l = 0; l < layers; l++) {
        for (int i = 0; i < dim; i++) m->layers[l].rms_att[i] = m->layers[l].rms_ffn[i] = 1.f;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *L = &m->layers[l].lin[j];
            float s = 1.f / sqrtf((float)L->in);
            for (size_t i = 0; i < (size_t)L->out * L->in; i++) L->w[i] = s * (float)(ptq_rng_uniform(&r) - 0.5);
        }
    }
    return 0;
}

/* FLOPs of one forward of T tokens (projections + attention, causal). */
static double forward_flops(const ptq_config *c, int T, double *proj_only) {
    double d = c->dim, h = c->hidden_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double proj = 2.0 * T * (d * d * 2 + 2 * d * kv + 3 * d * h) * c->n_layers + 2.0 * T * d * c->vocab_size;
    double att = 2.0 * 2.0 * c->n_heads * c->head_dim * ((double)T * (T + 1) / 2) * c->n_layers;
    *proj_only = proj;
    return proj + att;
}

static double time_sgemm_shapes(const ptq_model *m, int T, int reps) {
    /* the same GEMMs the forward runs, back to back, with nothing else */
    const ptq_layer *L = &m->layers[0];
    size_t maxo = PTQ_MAX(m->cfg.hidden_dim, m->cfg.dim), maxi = maxo;
    float *x = calloc((size_t)T * maxi, sizeof(float)), *y = calloc((size_t)T * maxo, sizeof(float));
    for (size_t i = 0; i < (size_t)T * maxi; i++) x[i] = 0.01f * (float)(i % 97);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = ptq_now_sec();
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int j = 0; j < PTQ_LIN_COUNT; j++) {
                const ptq_linear *W = &L->lin[j];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, W->out, W->in, 1.f, x, W->in, W->w, W->in,
                            0.f, y, W->out);
            }
        double t = ptq_now_sec() - t0;
        best = t < best ? t : best;
    }
    free(x);
    free(y);
    return best;
}

static int bench_shape(const char *label, int dim, int hidden, int layers, int heads, int T, int reps) {
    ptq_model m;
    ptq_err err;
    ptq_state s;
    if (random_model(&m, dim, hidden, layers, heads, T, &err) || ptq_state_init(&s, &m, T, &err))
        return ptq_cli_error(1, "%s", err.msg);
    int *tok = malloc(sizeof(int) * T);
    for (int i = 0; i < T; i++) tok[i] = (i * 31) % m.cfg.vocab_size;
    ptq_forward(&m, &s, tok, T, 0, NULL, 0, &err); /* warm-up */
    double tf[64] = {0};
    for (int r = 0; r < reps; r++) {
        double t0 = ptq_now_sec();
        ptq_forward(&m, &s, tok, T, 0, NULL, 0, &err);
        tf[r] = ptq_now_sec() - t0;
    }
    double best = tf[0];
    for (int r = 1; r < reps; r++) best = tf[r] < best ? tf[r] : best;
    double proj, fl = forward_flops(&m.cfg, T, &proj);
    double proj_layers = proj - 2.0 * T * m.cfg.dim * m.cfg.vocab_size;
    double tg = time_sgemm_shapes(&m, T, reps);
    double gf_fwd = fl / best * 1e-9, gf_gemm = proj_layers / tg * 1e-9;
    printf("%-28s T=%-5d threads=%d  forward %7.2f GFLOP/s (%.2f ms)  sgemm %7.2f GFLOP/s  ratio %.2f\n", label, T,
           ptq_num_threads(), gf_fwd, best * 1e3, gf_gemm, gf_fwd / gf_gemm);
    free(tok);
    ptq_state_free(&s);
    ptq_model_free(&m);
    return 0;
}

/* ---- `ptqbench bench --shape llama7b | --model M --method X --bits B` ------
 * Real low-bit path vs the FP32 OpenBLAS path, same process, same threads.
 * Kernel level: each LLaMA-7B projection shape, prefill GEMM (incl. the
 * per-token activation quantization) vs sgemm and decode GEMV vs sgemv.
 * Layer level: one decoder layer (--shape) or every layer of a model
 * (--model) with the method's online ops, prefill tokens/s at each T and
 * decode tokens/s at each context C (projections + attention over the KV
 * cache, int8/int4 when KV bits < 16). Attention of the prefill is the same
 * fp32 code in both paths and is left out of both. Weights are random (speed
 * does not depend on their values). Every figure: median of --reps runs after
 * one warm-up, with min and max. */

typedef struct {
    const char *name;
    int had_down, had_heads, had_qk; /* QuaRot/SpinQuant online Hadamards */
    int blockrot;                    /* RUQuant: every linear input */
    int lowrank;                     /* ReSpinQuant: rank of the residual correction (0 none) */
    int lowfreq_k;                   /* SpecQuant: low-frequency bins per row (0 none) */
    double sparse;                   /* SEPTQ: fraction of full-precision weights */
} bench_method;

static const bench_method bench_methods[] = {
    {"rtn", 0, 0, 0, 0, 0, 0, 0},         {"gptq", 0, 0, 0, 0, 0, 0, 0},
    {"smoothquant", 0, 0, 0, 0, 0, 0, 0}, {"quarot", 1, 1, 1, 0, 0, 0, 0},
    {"spinquant", 1, 1, 1, 0, 0, 0, 0},   {"respinquant", 1, 1, 1, 0, 32, 0, 0},
    {"ruquant", 0, 0, 1, 1, 0, 0, 0},     {"specquant", 0, 0, 0, 0, 0, 32, 0},
    {"septq", 0, 0, 0, 0, 0, 0, 0.01},    {NULL, 0, 0, 0, 0, 0, 0, 0},
};

typedef struct {
    int out, in;
    float *w32;
    ptq_kpacked pk;
    ptq_klowfreq lf;
    ptq_kcsr csr;
} blin;

/* Linears grouped by shared input: {q,k,v}, {o}, {gate,up}, {down}. */
typedef struct {
    int n, lin[3];
    ptq_kblockrot br;
} bgroup;

typedef struct {
    ptq_config c;
    const bench_method *meth;
    ptq_qspec q;
    int layers;
    blin *lin;     /* layers x 7 */
    bgroup *grp;   /* layers x 4 */
    ptq_klowrank *lr; /* layers x 2 */
    ptq_kvfmt kvf;
    int kv_packed;
    ptq_kacts acts;
    float *x, *xin, *y[3], *tmp; /* scratch, max_T rows */
    int max_T;
    /* decode KV caches (one layer's worth reused for every layer: the
       cost per layer is the same; bytes are reported for all layers) */
    float *kc32, *vc32;
    uint8_t *kcq, *vcq;
    float *ks, *kz, *vs, *vz;
    int max_ctx;
} bench_ctx;

static uint64_t lcg;
static float frand(void) { /* fast uniform in [-0.5, 0.5) for big random matrices */
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((lcg >> 40) * (1.0 / 16777216.0)) - 0.5f;
}

static int lin_shape(const ptq_config *c, int j, int *out, int *in) {
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    static const int kinds[PTQ_LIN_COUNT] = {0, 1, 1, 2, 3, 3, 4};
    switch (kinds[j]) {
    case 0: *out = qd, *in = c->dim; break;
    case 1: *out = kvd, *in = c->dim; break;
    case 2: *out = c->dim, *in = qd; break;
    case 3: *out = c->hidden_dim, *in = c->dim; break;
    default: *out = c->dim, *in = c->hidden_dim; break;
    }
    return 0;
}

static int setup_lin(bench_ctx *b, blin *L, int out, int in, ptq_err *err) {
    L->out = out, L->in = in;
    size_t n = (size_t)out * in;
    if (!(L->w32 = ptq_calloc(n, sizeof(float), err))) return -1;
    for (size_t i = 0; i < n; i++) L->w32[i] = frand() * 0.05f;
    int bits = b->q.w_bits, G = b->q.w_group > 0 && b->q.w_group < in ? b->q.w_group : in;
    int ng = (in + G - 1) / G, maxq = (1 << bits) - 1;
    uint8_t *codes = malloc(n);
    float *sc = malloc(sizeof(float) * out * ng);
    int *z = malloc(sizeof(int) * out * ng);
    int rc = -1;
    if (codes && sc && z) {
        for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)((lcg = lcg * 6364136223846793005ULL + 1) >> 59) & maxq;
        for (int i = 0; i < out * ng; i++) sc[i] = 0.01f, z[i] = (maxq + 1) / 2;
        rc = ptq_kpack(&L->pk, codes, sc, z, out, in, bits, b->q.w_group, err);
    } else ptq_fail(err, "bench: out of memory");
    free(codes), free(sc), free(z);
    if (rc) return -1;
    if (b->meth->lowfreq_k && ptq_klowfreq_init(&L->lf, L->w32, out, in, PTQ_MIN(b->meth->lowfreq_k, in / 2 + 1), err))
        return -1;
    if (b->meth->sparse > 0) {
        unsigned char *keep = malloc(n);
        if (!keep) return ptq_fail(err, "bench: out of memory");
        for (size_t i = 0; i < n; i++) keep[i] = frand() + 0.5f < b->meth->sparse;
        rc = ptq_kcsr_from_dense(&L->csr, L->w32, keep, out, in, err);
        free(keep);
        if (rc) return -1;
    }
    return 0;
}

static int setup_blockrot(ptq_kblockrot *br, int n, ptq_err *err) {
    int B = n % 128 == 0 ? 128 : n % 64 == 0 ? 64 : n % 16 == 0 ? 16 : n;
    float *R = malloc(sizeof(float) * B * B), *om = malloc(sizeof(float) * n);
    int *perm = malloc(sizeof(int) * n), rc = -1;
    if (R && om && perm) {
        for (int i = 0; i < B * B; i++) R[i] = frand();
        for (int i = 0; i < n; i++) om[i] = frand(), perm[i] = (int)(((long)i * 7919) % n);
        /* 7919 is prime: i*7919 mod n is a permutation when gcd(7919, n) = 1 */
        if (n % 7919 == 0)
            for (int i = 0; i < n; i++) perm[i] = n - 1 - i;
        rc = ptq_kblockrot_init(br, n, B, R, perm, R, om, err);
    } else ptq_fail(err, "bench: out of memory");
    free(R), free(om), free(perm);
    return rc;
}

static void bench_free(bench_ctx *b) {
    if (b->lin)
        for (int i = 0; i < b->layers * PTQ_LIN_COUNT; i++) {
            free(b->lin[i].w32);
            ptq_kpacked_free(&b->lin[i].pk);
            ptq_klowfreq_free(&b->lin[i].lf);
            ptq_kcsr_free(&b->lin[i].csr);
        }
    if (b->grp)
        for (int i = 0; i < b->layers * 4; i++) ptq_kblockrot_free(&b->grp[i].br);
    if (b->lr)
        for (int i = 0; i < b->layers * 2; i++) ptq_klowrank_free(&b->lr[i]);
    free(b->lin), free(b->grp), free(b->lr);
    ptq_kacts_free(&b->acts);
    free(b->x), free(b->xin), free(b->y[0]), free(b->y[1]), free(b->y[2]), free(b->tmp);
    free(b->kc32), free(b->vc32), free(b->kcq), free(b->vcq), free(b->ks), free(b->kz), free(b->vs), free(b->vz);
    memset(b, 0, sizeof *b);
}

static int bench_setup(bench_ctx *b, int max_T, int max_ctx, ptq_err *err) {
    const ptq_config *c = &b->c;
    int L = b->layers;
    b->max_T = max_T, b->max_ctx = max_ctx;
    lcg = 12345;
    if (!(b->lin = ptq_calloc((size_t)L * PTQ_LIN_COUNT, sizeof(blin), err)) ||
        !(b->grp = ptq_calloc((size_t)L * 4, sizeof(bgroup), err)) ||
        !(b->lr = ptq_calloc((size_t)L * 2, sizeof(ptq_klowrank), err)))
        return -1;
    static const int groups[4][4] = {{3, PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V},
                                     {1, PTQ_LIN_O, 0, 0},
                                     {2, PTQ_LIN_GATE, PTQ_LIN_UP, 0},
                                     {1, PTQ_LIN_DOWN, 0, 0}};
    for (int l = 0; l < L; l++) {
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            int out, in;
            lin_shape(c, j, &out, &in);
            if (setup_lin(b, &b->lin[l * PTQ_LIN_COUNT + j], out, in, err)) return -1;
        }
        for (int g = 0; g < 4; g++) {
            bgroup *G = &b->grp[l * 4 + g];
            G->n = groups[g][0];
            for (int i = 0; i < G->n; i++) G->lin[i] = groups[g][1 + i];
            if (b->meth->blockrot && setup_blockrot(&G->br, b->lin[l * PTQ_LIN_COUNT + G->lin[0]].in, err)) return -1;
        }
        if (b->meth->lowrank)
            for (int r = 0; r < 2; r++) {
                int d = c->dim, rk = PTQ_MIN(b->meth->lowrank, d);
                float *Q = malloc(sizeof(float) * d * rk), *M = malloc(sizeof(float) * rk * rk);
                int rc = -1;
                if (Q && M) {
                    for (int i = 0; i < d * rk; i++) Q[i] = frand();
                    for (int i = 0; i < rk * rk; i++) M[i] = frand();
                    rc = ptq_klowrank_init(&b->lr[l * 2 + r], Q, M, d, rk, err);
                } else ptq_fail(err, "bench: out of memory");
                free(Q), free(M);
                if (rc) return -1;
            }
    }
    size_t wide = PTQ_MAX(c->hidden_dim, PTQ_MAX(c->dim, c->n_heads * c->head_dim));
    if (!(b->x = ptq_calloc((size_t)max_T * wide, sizeof(float), err)) ||
        !(b->xin = ptq_calloc((size_t)max_T * wide, sizeof(float), err)) ||
        !(b->tmp = ptq_calloc((size_t)max_T * wide, sizeof(float), err)))
        return -1;
    for (int i = 0; i < 3; i++)
        if (!(b->y[i] = ptq_calloc((size_t)max_T * wide, sizeof(float), err))) return -1;
    for (size_t i = 0; i < (size_t)max_T * wide; i++) b->x[i] = frand();
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim;
    b->kv_packed = b->q.kv_bits < 16;
    if (b->kv_packed) {
        if (ptq_kvfmt_init(&b->kvf, b->q.kv_bits, c->head_dim, 0, 0, 1.f, err)) return -1;
        size_t rows = (size_t)max_ctx * c->n_kv_heads;
        if (!(b->kcq = ptq_calloc(rows, b->kvf.row_bytes, err)) || !(b->vcq = ptq_calloc(rows, b->kvf.row_bytes, err)) ||
            !(b->ks = ptq_calloc(rows, sizeof(float), err)) || !(b->kz = ptq_calloc(rows, sizeof(float), err)) ||
            !(b->vs = ptq_calloc(rows, sizeof(float), err)) || !(b->vz = ptq_calloc(rows, sizeof(float), err)))
            return -1;
        for (size_t r = 0; r < rows; r++) {
            float tmp[1024];
            for (int i = 0; i < c->head_dim && i < 1024; i++) tmp[i] = frand();
            ptq_kv_quant_row(&b->kvf, tmp, b->kcq + r * b->kvf.row_bytes, &b->ks[r], &b->kz[r]);
            ptq_kv_quant_row(&b->kvf, tmp, b->vcq + r * b->kvf.row_bytes, &b->vs[r], &b->vz[r]);
        }
    }
    if (!(b->kc32 = ptq_calloc((size_t)max_ctx * kvd, sizeof(float), err)) ||
        !(b->vc32 = ptq_calloc((size_t)max_ctx * kvd, sizeof(float), err)))
        return -1;
    for (size_t i = 0; i < (size_t)max_ctx * kvd; i++) b->kc32[i] = frand(), b->vc32[i] = frand();
    return 0;
}

/* Hadamard across heads of each row (T x heads x hd): transform along heads. */
static int had_heads(float *x, float *tmp, int T, int heads, int hd, ptq_err *err) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hd; i++) tmp[((size_t)t * hd + i) * heads + h] = x[((size_t)t * heads + h) * hd + i];
    if (ptq_hadamard_rows(tmp, T * hd, heads, err)) return -1;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hd; i++) x[((size_t)t * heads + h) * hd + i] = tmp[((size_t)t * hd + i) * heads + h];
    return 0;
}

/* One group of linears on T rows: online op, shared activation quantization,
 * then each linear (+ low-frequency branch, + sparse add). */
static int run_group(bench_ctx *b, int l, int g, int T, int packed, ptq_err *err) {
    bgroup *G = &b->grp[l * 4 + g];
    blin *L0 = &b->lin[l * PTQ_LIN_COUNT + G->lin[0]];
    int in = L0->in;
    const float *xin = b->x;
    if (packed && (b->meth->blockrot || (g == 3 && b->meth->had_down) || (g == 1 && b->meth->had_heads))) {
        memcpy(b->xin, b->x, sizeof(float) * T * in);
        if (b->meth->blockrot && ptq_kblockrot_apply(&G->br, b->xin, T, err)) return -1;
        if (g == 3 && b->meth->had_down && ptq_hadamard_rows(b->xin, T, in, err)) return -1;
        if (g == 1 && b->meth->had_heads && had_heads(b->xin, b->tmp, T, b->c.n_heads, b->c.head_dim, err)) return -1;
        xin = b->xin;
    }
    int wonly = b->q.a_bits >= 16;
    if (packed && !wonly && ptq_kact_quant(&b->acts, xin, T, in, b->q.a_bits, 0, 1.f, b->q.w_group, err)) return -1;
    for (int i = 0; i < G->n; i++) {
        blin *L = &b->lin[l * PTQ_LIN_COUNT + G->lin[i]];
        float *y = b->y[i];
        if (!packed) {
            if (T == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, L->out, L->in, 1.f, L->w32, L->in, xin, 1, 0.f, y, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, L->out, L->in, 1.f, xin, L->in, L->w32, L->in,
                            0.f, y, L->out);
            continue;
        }
        if (wonly ? ptq_kgemm_f32(&L->pk, xin, T, NULL, y, err) : ptq_kgemm(&b->acts, &L->pk, NULL, y, err)) return -1;
        if (L->lf.coef && ptq_klowfreq_apply(&L->lf, xin, T, y, err)) return -1;
        if (L->csr.rowptr) ptq_kcsr_apply(&L->csr, xin, T, y);
    }
    return 0;
}

/* Decode attention of one token over ctx cached positions. */
static void attend(bench_ctx *b, const float *q, int ctx, int packed, float *out) {
    const ptq_config *c = &b->c;
    int hd = c->head_dim, grp = c->n_heads / c->n_kv_heads, kvh_n = c->n_kv_heads;
    float scale = 1.f / sqrtf((float)hd);
#pragma omp parallel for schedule(static)
    for (int h = 0; h < c->n_heads; h++) {
        float *S = malloc(sizeof(float) * ctx);
        if (!S) continue;
        const float *qh = q + (size_t)h * hd;
        float *o = out + (size_t)h * hd, mx = -1e30f, sum = 0.f;
        int kvh = h / grp;
        for (int p = 0; p < ctx; p++) {
            size_t r = (size_t)p * kvh_n + kvh;
            float s;
            if (packed && b->kv_packed) s = ptq_kv_dot(&b->kvf, qh, b->kcq + r * b->kvf.row_bytes, &b->ks[r], &b->kz[r]);
            else {
                const float *k = b->kc32 + r * hd;
                s = 0.f;
                for (int i = 0; i < hd; i++) s += qh[i] * k[i];
            }
            S[p] = s * scale;
            mx = S[p] > mx ? S[p] : mx;
        }
        for (int p = 0; p < ctx; p++) sum += (S[p] = expf(S[p] - mx));
        memset(o, 0, sizeof(float) * hd);
        for (int p = 0; p < ctx; p++) {
            size_t r = (size_t)p * kvh_n + kvh;
            float w = S[p] / sum;
            if (packed && b->kv_packed) ptq_kv_axpy(&b->kvf, w, b->vcq + r * b->kvf.row_bytes, &b->vs[r], &b->vz[r], o);
            else {
                const float *v = b->vc32 + r * hd;
                for (int i = 0; i < hd; i++) o[i] += w * v[i];
            }
        }
        free(S);
    }
}

/* All layers on T rows (prefill when ctx == 0, else one decode token at ctx). */
static int run_model(bench_ctx *b, int T, int ctx, int packed, ptq_err *err) {
    const ptq_config *c = &b->c;
    for (int l = 0; l < b->layers; l++) {
        if (run_group(b, l, 0, T, packed, err)) return -1;
        if (packed && b->meth->had_qk) { /* R3 on Q and K heads after RoPE */
            if (ptq_hadamard_rows(b->y[0], T * c->n_heads, c->head_dim, err) ||
                ptq_hadamard_rows(b->y[1], T * c->n_kv_heads, c->head_dim, err))
                return -1;
        }
        if (packed && b->kv_packed) { /* the new K/V rows are stored quantized */
            for (int t = 0; t < T; t++)
                for (int h = 0; h < c->n_kv_heads; h++) {
                    size_t r = ((size_t)(t % b->max_ctx)) * c->n_kv_heads + h, o = ((size_t)t * c->n_kv_heads + h) * c->head_dim;
                    ptq_kv_quant_row(&b->kvf, b->y[1] + o, b->kcq + r * b->kvf.row_bytes, &b->ks[r], &b->kz[r]);
                    ptq_kv_quant_row(&b->kvf, b->y[2] + o, b->vcq + r * b->kvf.row_bytes, &b->vs[r], &b->vz[r]);
                }
        }
        if (ctx > 0) attend(b, b->y[0], ctx, packed, b->tmp);
        if (run_group(b, l, 1, T, packed, err)) return -1;
        if (packed && b->lr[l * 2].Q && ptq_klowrank_apply(&b->lr[l * 2], b->y[0], T, err)) return -1;
        if (run_group(b, l, 2, T, packed, err)) return -1;
        if (run_group(b, l, 3, T, packed, err)) return -1;
        if (packed && b->lr[l * 2 + 1].Q && ptq_klowrank_apply(&b->lr[l * 2 + 1], b->y[0], T, err)) return -1;
    }
    return 0;
}

typedef struct {
    double med, min, max;
} bstat;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bstat stats(double *t, int n) {
    qsort(t, n, sizeof(double), cmp_d);
    bstat s = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], t[n - 1]};
    return s;
}

/* Time run_model: one warm-up, then reps runs; tokens/s stats (higher = faster). */
static int time_model(bench_ctx *b, int T, int ctx, int packed, int reps, bstat *tps, ptq_err *err) {
    double t[64];
    if (run_model(b, T, ctx, packed, err)) return -1;
    for (int r = 0; r < reps; r++) {
        double t0 = ptq_now_sec();
        if (run_model(b, T, ctx, packed, err)) return -1;
        t[r] = (ctx > 0 ? 1 : T) / (ptq_now_sec() - t0);
    }
    *tps = stats(t, reps);
    return 0;
}

static void print_stat(const char *what, bstat p, bstat f, const char *unit) {
    printf("  %-22s packed %10.2f %s [%.2f..%.2f]   fp32 %10.2f [%.2f..%.2f]   ratio %.2fx\n", what, p.med, unit, p.min,
           p.max, f.med, f.min, f.max, p.med / f.med);
}

static int parse_list(const char *flag, const char *s, int *v, int cap, int lo, int hi) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == cap) return ptq_cli_error(2, "%s: at most %d values", flag, cap), -1;
        if (ptq_parse_int(flag, tok, lo, hi, &v[n])) return -1;
        n++;
    }
    if (!n) return ptq_cli_error(2, "%s: empty list", flag), -1;
    return n;
}

/* Kernel-level: one projection shape, prefill GEMM + decode GEMV vs BLAS. */
static int bench_kernel_shape(bench_ctx *b, const blin *L, const int *Ts, int nT, int reps, ptq_err *err) {
    int wonly = b->q.a_bits >= 16;
    printf("  %dx%d (out x in):\n", L->out, L->in);
    for (int i = 0; i <= nT; i++) {
        int T = i < nT ? Ts[i] : 1;
        double tp[64], tf[64];
        for (int r = -1; r < reps; r++) {
            double t0 = ptq_now_sec();
            if (wonly) {
                if (ptq_kgemm_f32(&L->pk, b->x, T, NULL, b->y[0], err)) return -1;
            } else if (ptq_kact_quant(&b->acts, b->x, T, L->in, b->q.a_bits, 0, 1.f, b->q.w_group, err) ||
                       ptq_kgemm(&b->acts, &L->pk, NULL, b->y[0], err))
                return -1;
            double t1 = ptq_now_sec();
            if (T == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, L->out, L->in, 1.f, L->w32, L->in, b->x, 1, 0.f, b->y[1], 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, L->out, L->in, 1.f, b->x, L->in, L->w32, L->in,
                            0.f, b->y[1], L->out);
            double t2 = ptq_now_sec();
            if (r >= 0) tp[r] = 2.0 * T * L->out * L->in / (t1 - t0) * 1e-9, tf[r] = 2.0 * T * L->out * L->in / (t2 - t1) * 1e-9;
        }
        char what[64];
        snprintf(what, sizeof what, T == 1 ? "decode GEMV" : "prefill GEMM T=%d", T);
        print_stat(what, stats(tp, reps), stats(tf, reps), "GOP/s");
    }
    size_t pb = ptq_kpacked_bytes(&L->pk), fb = sizeof(float) * (size_t)L->out * L->in;
    printf("  %-22s packed %zu B   fp32 %zu B   ratio %.4f\n", "weight bytes", pb, fb, (double)pb / fb);
    return 0;
}

/* ---- `--model M --out FILE`: the latency task's row into a results file ---- */
typedef struct {
    const char *model, *method, *bits, *out;
    const char *kv[32];
    int nkv, seed, reps, min_ms;
    const int *Ts, *ctxs;
    int nT, nC;
} bench_rows_spec;

static void join_list(char *buf, size_t cap, const char *key, const int *v, int n) {
    snprintf(buf + strlen(buf), cap - strlen(buf), ":%s=", key);
    for (int i = 0; i < n; i++) snprintf(buf + strlen(buf), cap - strlen(buf), "%s%d", i ? "+" : "", v[i]);
}

static void print_latency_row(const cJSON *row) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(row, "metrics"), *e = cJSON_GetObjectItemCaseSensitive(m, "error");
    printf("latency row (%s path, %s):\n", cJSON_IsString(e) ? "no" : ptq_row_str(m, "path"), ptq_row_str(row, "task"));
    if (cJSON_IsString(e)) {
        printf("  error: %s\n", e->valuestring);
        return;
    }
    static const char *const kinds[2][2] = {{"prefill_T", "prefill T="}, {"decode_ctx", "decode ctx="}};
    for (int k = 0; k < 2; k++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(m, k ? "decode_ctx" : "prefill_T"), *it;
        cJSON_ArrayForEach(it, list) {
            char a[96], what[48];
            snprintf(what, sizeof what, "%s%d", kinds[k][1], it->valueint);
            double v[7];
            static const char *const suf[7] = {"_tokens_per_sec", "_tokens_per_sec_min", "_tokens_per_sec_max", "", "", "", "_speedup"};
            for (int j = 0; j < 7; j++) {
                snprintf(a, sizeof a, "%s%s%d%s", j >= 3 && j < 6 ? "fp32_" : "", kinds[k][0], it->valueint,
                         j >= 3 && j < 6 ? suf[j - 3] : suf[j]);
                v[j] = ptq_row_metric(row, a);
            }
            printf("  %-22s packed %10.2f tok/s [%.2f..%.2f]   fp32 %10.2f [%.2f..%.2f]   ratio %.2fx\n", what, v[0], v[1],
                   v[2], v[3], v[4], v[5], v[6]);
        }
    }
    printf("  weight bytes           %.0f   fp32 %.0f   ratio %.4f   (decoder layers: ratio %.4f)\n",
           ptq_row_metric(row, "weight_bytes"), ptq_row_metric(row, "fp32_weight_bytes"), ptq_row_metric(row, "weight_ratio"),
           ptq_row_metric(row, "layer_weight_ratio"));
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "decode_ctx")) {
        char a[64], b[64];
        snprintf(a, sizeof a, "kv_bytes_ctx%d", it->valueint);
        snprintf(b, sizeof b, "fp32_kv_bytes_ctx%d", it->valueint);
        printf("  KV bytes ctx=%-8d   %.0f   fp32 %.0f   ratio %.4f\n", it->valueint, ptq_row_metric(row, a),
               ptq_row_metric(row, b), ptq_row_metric(row, a) / ptq_row_metric(row, b));
    }
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(row, "loadavg");
    printf("  peak RSS               %.0f KiB   load average %.2f (1 min, at start)\n", ptq_row_metric(row, "peak_rss_kb"),
           cJSON_GetArraySize(la) > 0 ? cJSON_GetArrayItem(la, 0)->valuedouble : NAN);
}

/* The FP32 reference of an exported model: same shapes and weights, every
 * quantizer and side branch off (FP32 speed does not depend on the values). */
static int fp32_twin(ptq_model *fp, const ptq_model *q, ptq_err *err) {
    if (ptq_model_clone(fp, q, err)) return -1;
    for (int l = 0; l <= fp->cfg.n_layers; l++)
        for (int j = 0; j < (l < fp->cfg.n_layers ? PTQ_LIN_COUNT : 1); j++) {
            ptq_linear *L = ptq_model_linear(fp, l, j);
            L->aq.bits = 16;
            free(L->w_side);
            L->w_side = NULL;
        }
    for (int l = 0; l < fp->cfg.n_layers; l++) fp->layers[l].kq.bits = fp->layers[l].vq.bits = 16;
    return 0;
}

/* `bench --model FILE.ptq --out R`: the latency row of an exported model as
 * stored (no re-quantization); method and bit-spec come from its header. */
static int bench_file_row(const bench_rows_spec *b, const char *task) {
    ptq_err err = {{0}};
    ptq_model q, fp;
    cJSON *meta = NULL, *row = cJSON_CreateObject(), *metrics = cJSON_CreateObject();
    ptq_latency_opts lo;
    ptq_qspec qs;
    int rc = 1, loaded = 0, twin = 0;
    memset(&fp, 0, sizeof fp);
    if (ptq_file_load(b->model, &q, &meta, &err)) goto out;
    loaded = 1;
    const char *bits = ptq_row_str(meta, "qspec"), *method = ptq_row_str(meta, "method");
    const char *src = ptq_row_str(meta, "source_model");
    if (!method) method = "unknown";
    if (!src) src = b->model;
    if (!bits || ptq_qspec_parse(bits, &qs, &err)) {
        ptq_fail(&err, "%s: header meta.qspec '%s' is not a bit-spec", b->model, bits ? bits : "(missing)");
        goto out;
    }
    if (ptq_latency_parse(task + strlen("latency:"), &lo, &err) || fp32_twin(&fp, &q, &err)) goto out;
    twin = 1;
    int lr = ptq_latency_run(&q, &fp, &qs, &lo, metrics, &err);
    if (lr < 0) goto out;
    if (lr == PTQ_LAT_UNSUPPORTED) cJSON_AddStringToObject(metrics, "error", err.msg);
    char id[1024], ts[32];
    ptq_utc_now(ts, sizeof ts);
    snprintf(id, sizeof id, "%s|%s|%s|file|%s", b->model, method, qs.text, task);
    cJSON_AddStringToObject(row, "task", "latency");
    cJSON_AddItemToObject(row, "metrics", metrics), metrics = NULL;
    cJSON_AddStringToObject(row, "method", method);
    cJSON_AddStringToObject(row, "qspec", qs.text);
    cJSON_AddStringToObject(row, "bits", qs.text);
    cJSON_AddStringToObject(row, "label", method);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(meta, "options");
    cJSON_AddItemToObject(row, "options", o ? cJSON_Duplicate(o, 1) : cJSON_CreateObject());
    cJSON_AddStringToObject(row, "model", src);
    cJSON_AddStringToObject(row, "model_file", b->model);
    cJSON_AddStringToObject(row, "git_commit", ptq_git_commit());
    cJSON_AddNumberToObject(row, "threads", ptq_num_threads());
    cJSON_AddStringToObject(row, "timestamp", ts);
    cJSON_AddStringToObject(row, "id", id);
    cJSON_AddStringToObject(row, "source", "ptqbench bench (exported file)");
    cJSON_AddStringToObject(row, "code_version", ptq_version());
    ptq_latency_machine(row);
    print_latency_row(row);
    ptq_results_writer w;
    if (ptq_results_open(&w, b->out, &err)) goto out;
    cJSON *one = row;
    int ar = ptq_results_append(&w, &one, 1, &err);
    ptq_results_close(&w);
    if (ar) goto out;
    printf("row appended to %s\n", b->out);
    rc = lr == PTQ_LAT_UNSUPPORTED ? ptq_cli_error(1, "bench: %s (error row appended to %s)", err.msg, b->out) : 0;
out:
    if (rc == 1 && err.msg[0]) ptq_cli_error(1, "bench: %s", err.msg);
    if (twin) ptq_model_free(&fp);
    if (loaded) ptq_model_free(&q);
    cJSON_Delete(meta), cJSON_Delete(row), cJSON_Delete(metrics);
    return rc;
}

/* Quantize the model, run the latency task, print and append its row.
 * A model the packed path cannot run gives an error row (kept in the file)
 * and exit status 1. */
static int bench_rows(const bench_rows_spec *b) {
    const ptq_method *me = ptq_method_find(b->method);
    if (!me) return ptq_cli_error(2, "bench: --out: method '%s' is not registered (see `ptqbench methods`)", b->method);
    ptq_err err;
    cJSON *opts = cJSON_CreateObject(), *rows = cJSON_CreateArray();
    char task[256] = "latency:reps=", label[512];
    snprintf(task + strlen(task), sizeof task - strlen(task), "%d:min_ms=%d", b->reps, b->min_ms);
    join_list(task, sizeof task, "T", b->Ts, b->nT);
    join_list(task, sizeof task, "ctx", b->ctxs, b->nC);
    snprintf(label, sizeof label, "%s", b->method);
    for (int i = 0; i < b->nkv; i++) {
        if (ptq_opts_add_kv(me, opts, b->kv[i], &err)) {
            cJSON_Delete(opts), cJSON_Delete(rows);
            return ptq_cli_error(2, "bench: %s", err.msg);
        }
        snprintf(label + strlen(label), sizeof label - strlen(label), "%s%s", i ? "," : "(", b->kv[i]);
    }
    if (b->nkv) snprintf(label + strlen(label), sizeof label - strlen(label), ")");
    if (ptq_file_detect(b->model)) {
        cJSON_Delete(opts), cJSON_Delete(rows);
        return bench_file_row(b, task);
    }
    ptq_cell cell;
    int rc = 0;
    if (ptq_cell_init(&cell, b->model, b->method, b->bits, &err) || ptq_cell_add_task(&cell, task, &err))
        rc = ptq_cli_error(2, "bench: %s", err.msg);
    cJSON_Delete(cell.opts);
    cell.opts = opts, opts = NULL;
    cell.seed = (uint64_t)b->seed;
    if (!rc && ptq_cell_check(&cell, &err)) rc = ptq_cli_error(2, "bench: %s", err.msg);
    else if (!rc && ptq_run_cell(&cell, rows, &err)) rc = ptq_cli_error(1, "bench: %s", err.msg);
    ptq_results_writer w;
    if (!rc && ptq_results_open(&w, b->out, &err)) rc = ptq_cli_error(1, "bench: %s", err.msg);
    if (!rc) {
        cJSON *row = cJSON_GetArrayItem(rows, 0);
        ptq_qspec q;
        ptq_qspec_parse(b->bits, &q, &err);
        char id[1024];
        snprintf(id, sizeof id, "%s|%s|%s|s%d|%s", b->model, label, q.text, b->seed, task);
        cJSON_AddStringToObject(row, "label", label);
        cJSON_AddStringToObject(row, "bits", q.text);
        cJSON_AddStringToObject(row, "id", id);
        cJSON_AddStringToObject(row, "source", "ptqbench bench");
        cJSON_AddStringToObject(row, "code_version", ptq_version());
        print_latency_row(row);
        if (ptq_results_append(&w, &row, 1, &err)) rc = ptq_cli_error(1, "bench: %s", err.msg);
        ptq_results_close(&w);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(row, "metrics"), "error");
        if (!rc) printf("row appended to %s\n", b->out);
        if (!rc && cJSON_IsString(e)) rc = ptq_cli_error(1, "bench: %s (error row appended to %s)", e->valuestring, b->out);
    }
    cJSON_Delete(rows);
    ptq_cell_free(&cell);
    return rc;
}

static int cmd_bench_method(int argc, char **argv) {
    static const struct option opts[] = {{"shape", required_argument, 0, 's'},  {"model", required_argument, 0, 'm'},
                                         {"method", required_argument, 0, 'M'}, {"bits", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'}, {"reps", required_argument, 0, 'r'},
                                         {"tokens", required_argument, 0, 'T'}, {"ctx", required_argument, 0, 'c'},
                                         {"no-kernels", no_argument, 0, 'K'},    {"help", no_argument, 0, 'h'},
                                         {"out", required_argument, 0, 'o'},     {"opt", required_argument, 0, 'O'},
                                         {"seed", required_argument, 0, 'S'},    {"min-ms", required_argument, 0, 'n'},
                                         {"no-layers", no_argument, 0, 'L'},     {0, 0, 0, 0}};
    const char *shape = NULL, *model = NULL, *method = "rtn", *bits = "W4A4";
    int threads = 0, reps = 5, Ts[8] = {128, 512, 2048}, nT = 3, ctxs[8] = {512, 2048}, nC = 2, kernels = 1, c;
    bench_rows_spec rs = {0};
    int layers = 1;
    rs.min_ms = 20;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': shape = optarg; break;
        case 'm': model = optarg; break;
        case 'M': method = optarg; break;
        case 'b': bits = optarg; break;
        case 't': if (ptq_parse_int("--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'r': if (ptq_parse_int("--reps", optarg, 5, 64, &reps)) return 2; break;
        case 'T': if ((nT = parse_list("--tokens", optarg, Ts, 8, 1, 65536)) < 0) return 2; break;
        case 'c': if ((nC = parse_list("--ctx", optarg, ctxs, 8, 1, 1 << 20)) < 0) return 2; break;
        case 'K': kernels = 0; break;
        case 'L': layers = 0; break;
        case 'o': rs.out = optarg; break;
        case 'O':
            if (rs.nkv == 32) return ptq_cli_error(2, "bench: too many --opt flags (max 32)");
            rs.kv[rs.nkv++] = optarg;
            break;
        case 'S': if (ptq_parse_int("--seed", optarg, 0, 2147483647, &rs.seed)) return 2; break;
        case 'n': if (ptq_parse_int("--min-ms", optarg, 0, 10000, &rs.min_ms)) return 2; break;
        case 'h':
            printf("usage: ptqbench bench (--shape llama7b | --model M) --method X --bits B [--threads N]\n"
                   "       [--reps N>=5] [--tokens 128,512,2048] [--ctx 512,2048] [--no-kernels]\n"
                   "       [--out FILE.jsonl [--opt key=value ...] [--seed S] [--min-ms MS] [--no-layers]]\n"
                   "       ptqbench bench forward [--reps N]\n"
                   "  --out (needs --model): quantize the model with the method, measure it on the packed\n"
                   "  path and the FP32 path (the runner's latency task: T capped at max_seq, contexts at\n"
                   "  max_seq-1) and append the result row to FILE; --no-layers skips the random-weight\n"
                   "  layer benchmark printed before it. With --model FILE.ptq (ptqbench export) the file is\n"
                   "  measured as stored: method and bits come from its header, --method/--bits are ignored.\n");
            return 0;
        default: return ptq_cli_bad_option("bench", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "bench: unexpected argument '%s'", argv[optind]);
    if (!shape == !model) return ptq_cli_error(2, "bench: give exactly one of --shape llama7b or --model M");
    if (shape && strcmp(shape, "llama7b")) return ptq_cli_error(2, "bench: --shape '%s' unknown (expected llama7b)", shape);
    if (rs.out && !model)
        return ptq_cli_error(2, "bench: --out needs --model (result rows describe a real quantized model)");
    if (!rs.out && (rs.nkv || !layers)) return ptq_cli_error(2, "bench: --opt and --no-layers go with --out");
    rs.model = model, rs.method = method, rs.bits = bits, rs.reps = reps;
    rs.Ts = Ts, rs.nT = nT, rs.ctxs = ctxs, rs.nC = nC;
    if (rs.out && (!layers || ptq_file_detect(model))) { /* only the real model's row (any registered method) */
        if (threads) omp_set_num_threads(threads), openblas_set_num_threads(threads);
        return bench_rows(&rs);
    }
    bench_ctx b;
    memset(&b, 0, sizeof b);
    ptq_err err;
    for (const bench_method *m = bench_methods; m->name; m++)
        if (!strcmp(m->name, method)) b.meth = m;
    if (!b.meth) return ptq_cli_error(2, "bench: --method '%s' has no packed path (rtn gptq smoothquant quarot spinquant respinquant ruquant specquant septq)", method);
    if (ptq_qspec_parse(bits, &b.q, &err)) return ptq_cli_error(2, "bench: --bits: %s", err.msg);
    if (b.q.w_bits > 8) return ptq_cli_error(2, "bench: --bits %s: weights must be 2..8 bits for the packed path", bits);
    if (b.q.a_bits < 16 && b.q.a_bits > 8) return ptq_cli_error(2, "bench: --bits %s: activations must be 2..8 or 16", bits);
    if (b.q.kv_bits < 16 && b.q.kv_bits != 8 && b.q.kv_bits != 4)
        return ptq_cli_error(2, "bench: --bits %s: the packed KV cache is int8 or int4", bits);
    if (b.q.w_group % 4) return ptq_cli_error(2, "bench: --bits %s: group size must be a multiple of 4", bits);
    if (threads) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    if (shape) {
        ptq_config c7 = {.dim = 4096, .hidden_dim = 11008, .n_layers = 1, .n_heads = 32, .n_kv_heads = 32, .head_dim = 128};
        b.c = c7, b.layers = 1;
    } else {
        ptq_model m;
        ptq_tokenizer *tok = NULL;
        if (ptq_open_model(model, NULL, &m, &tok, &err)) return ptq_cli_error(1, "bench: %s", err.msg);
        b.c = m.cfg, b.layers = m.cfg.n_layers;
        ptq_model_free(&m);
        if (tok) ptq_tokenizer_free(tok);
    }
    int maxT = 1, maxC = 1;
    for (int i = 0; i < nT; i++) maxT = PTQ_MAX(maxT, Ts[i]);
    for (int i = 0; i < nC; i++) maxC = PTQ_MAX(maxC, ctxs[i]);
    char cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) snprintf(cpu, sizeof cpu, "%s", p + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    printf("bench %s method=%s bits=%s threads=%d cpu=\"%s\" isa=%s reps=%d (median [min..max])\n",
           shape ? "shape=llama7b (1 decoder layer, 4096/11008, 32 heads)" : model, method, b.q.text,
           ptq_num_threads(), cpu, ptq_isa_name(ptq_kern_isa()), reps);
    if (bench_setup(&b, maxT, maxC, &err)) {
        bench_free(&b);
        return ptq_cli_error(1, "bench: %s", err.msg);
    }
    int rc = 0;
    if (kernels && shape) {
        printf("kernels (projection only; packed includes the per-token activation quantization):\n");
        int shapes[3] = {PTQ_LIN_Q, PTQ_LIN_GATE, PTQ_LIN_DOWN};
        for (int i = 0; i < 3 && !rc; i++) rc = bench_kernel_shape(&b, &b.lin[shapes[i]], Ts, nT, reps, &err);
    }
    printf("layers (projections + online ops%s; prefill without the attention core, decode with attention over the KV cache):\n",
           b.meth->had_down || b.meth->blockrot || b.meth->lowfreq_k || b.meth->sparse > 0 || b.meth->lowrank ? "" : " (none)");
    for (int i = 0; i < nT && !rc; i++) {
        bstat p, fp;
        char what[64];
        if ((rc = time_model(&b, Ts[i], 0, 1, reps, &p, &err)) || (rc = time_model(&b, Ts[i], 0, 0, reps, &fp, &err))) break;
        snprintf(what, sizeof what, "prefill T=%d", Ts[i]);
        print_stat(what, p, fp, "tok/s");
    }
    for (int i = 0; i < nC && !rc; i++) {
        bstat p, fp;
        char what[64];
        if ((rc = time_model(&b, 1, ctxs[i], 1, reps, &p, &err)) || (rc = time_model(&b, 1, ctxs[i], 0, reps, &fp, &err))) break;
        snprintf(what, sizeof what, "decode ctx=%d", ctxs[i]);
        print_stat(what, p, fp, "tok/s");
    }
    if (!rc) {
        size_t wp = 0, wf = 0, side = 0;
        for (int i = 0; i < b.layers * PTQ_LIN_COUNT; i++) {
            blin *L = &b.lin[i];
            wp += ptq_kpacked_bytes(&L->pk);
            wf += sizeof(float) * (size_t)L->out * L->in;
            side += (L->lf.coef ? ptq_klowfreq_bytes(&L->lf) : 0) + (L->csr.rowptr ? ptq_kcsr_bytes(&L->csr) : 0);
        }
        for (int i = 0; i < b.layers * 4; i++)
            if (b.grp[i].br.R1) side += sizeof(float) * (2 * b.grp[i].br.B * b.grp[i].br.B + b.grp[i].br.n) + sizeof(int) * b.grp[i].br.n;
        for (int i = 0; i < b.layers * 2; i++)
            if (b.lr[i].Q) side += sizeof(float) * ((size_t)b.lr[i].d * b.lr[i].r + (size_t)b.lr[i].r * b.lr[i].r);
        printf("memory:\n  weight bytes           packed %zu (+ side %zu) = %zu   fp32 %zu   ratio %.4f\n", wp, side,
               wp + side, wf, (double)(wp + side) / wf);
        size_t kvd = (size_t)b.c.n_kv_heads * b.c.head_dim;
        for (int i = 0; i < nC; i++) {
            size_t rows = (size_t)ctxs[i] * b.c.n_kv_heads * b.layers * 2;
            size_t kq = b.kv_packed ? rows * (b.kvf.row_bytes + 2 * sizeof(float) * b.kvf.ngroups) : rows * b.c.head_dim * 4;
            size_t kf = (size_t)ctxs[i] * kvd * b.layers * 2 * sizeof(float);
            printf("  KV bytes ctx=%-8d   packed %zu   fp32 %zu   ratio %.4f\n", ctxs[i], kq, kf, (double)kq / kf);
        }
        printf("  peak RSS               %ld KiB (both paths' weights are resident in this process)\n", ptq_peak_rss_kb());
    }
    bench_free(&b);
    if (rc) return ptq_cli_error(1, "bench: %s", err.msg);
    return rs.out ? bench_rows(&rs) : 0;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "forward")) {
        int reps = 5;
        if (argc >= 4 && !strcmp(argv[2], "--reps")) {
            if (ptq_parse_int("--reps", argv[3], 1, 64, &reps)) return 2;
        } else if (argc > 2) return ptq_cli_error(2, "bench forward: unexpected argument '%s'", argv[2]);
        int rc = bench_shape("dim512/h1376/8L/8H", 512, 1376, 8, 8, 512, reps);
        if (!rc) rc = bench_shape("dim4096/h11008/1L/32H", 4096, 11008, 1, 32, 512, reps);
        return rc;
    }
    if (argc < 2) {
        printf("usage: ptqbench bench (--shape llama7b | --model M) --method X --bits B [--threads N]\n"
               "       ptqbench bench forward [--reps N]\n");
        return 2;
    }
    return cmd_bench_method(argc, argv);
}
