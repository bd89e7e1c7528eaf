/* cmd_bench.c — `ptqbench bench forward`: whole FP32 forward GFLOP/s next to
 * OpenBLAS sgemm GFLOP/s on the same projection shapes, same run, same
 * threads, so the ratio is meaningful on a shared, noisy machine. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"

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

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: ptqbench bench forward [--reps N]\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "forward") != 0)
        return ptq_cli_error(2, "bench: unknown benchmark '%s' (expected forward)", argv[1]);
    int reps = 5;
    if (argc >= 4 && !strcmp(argv[2], "--reps")) {
        if (ptq_parse_int("--reps", argv[3], 1, 64, &reps)) return 2;
    } else if (argc > 2) return ptq_cli_error(2, "bench forward: unexpected argument '%s'", argv[2]);
    int rc = bench_shape("dim512/h1376/8L/8H", 512, 1376, 8, 8, 512, reps);
    if (!rc) rc = bench_shape("dim4096/h11008/1L/32H", 4096, 11008, 1, 32, 512, reps);
    return rc;
}
