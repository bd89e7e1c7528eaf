/* test_actstats.c — outlier statistics: exact values on a hand-made block
 * (max, channel ratio, kurtosis, massive share against direct formulas); on a
 * random model with a planted outlier channel the statistics find that
 * channel (and not in the layers without it); results are bit-identical for
 * 1 and 2 threads; bad windows are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "actstats.h"
#include "testutil.h"

/* A 3 x 4 block with one massive element: row medians known by hand. */
static void test_block(void) {
    const float x[12] = {1, -2, 3, -4, /* row median |x| 2.5 */
                         0.5f, 0.5f, -0.5f, 0.5f, 1, -1, 1, 1000 /* median 1: 1000 > 100 */};
    ptq_actstat a = {.n = 4};
    float buf[8] = {0};
    a.ch_max = buf;
    ptq_actstat_add(&a, x, 3, 4);
    ptq_actstat_finish(&a);
    CHECK_NEAR(a.max_abs, 1000, 0);
    CHECK(a.top_channel == 3);
    /* channel maxima 1, 2, 3, 1000: median 2.5 */
    CHECK_NEAR(a.top_ratio, 1000 / 2.5, 1e-9);
    CHECK_NEAR(a.massive, 1.0 / 12, 1e-15);
    double mu = 0, m2 = 0, m4 = 0;
    for (int i = 0; i < 12; i++) mu += x[i] / 12.0;
    for (int i = 0; i < 12; i++) {
        double d = x[i] - mu;
        m2 += d * d / 12, m4 += d * d * d * d / 12;
    }
    CHECK_NEAR(a.kurtosis, m4 / (m2 * m2), 1e-9 * m4 / (m2 * m2));
    CHECK(a.rows == 3);
}

static void fill(float *w, size_t n, double sd, ptq_rng *r) {
    for (size_t i = 0; i < n; i++) w[i] = (float)(sd * ptq_rng_normal(r));
}

/* Random model: dim 128, 2 layers, 2 heads of 64, hidden 192, vocab 96. */
static int random_model(ptq_model *m) {
    ptq_config c = {.dim = 128, .hidden_dim = 192, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .vocab_size = 96,
                    .max_seq = 64, .head_dim = 64, .rope_theta = 10000, .norm_eps = 1e-5f, .tied_embeddings = 1,
                    .rope_style = PTQ_ROPE_HALF, .bos_id = 1, .eos_id = 2};
    ptq_err e;
    if (ptq_model_alloc(m, &c, &e)) return fprintf(stderr, "%s\n", e.msg), -1;
    ptq_rng r;
    ptq_rng_seed(&r, 7);
    fill(m->tok_emb, (size_t)c.vocab_size * c.dim, 1.0, &r);
    for (int j = 0; j < c.dim; j++) m->rms_final[j] = 1;
    for (int l = 0; l < c.n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        for (int j = 0; j < c.dim; j++) L->rms_att[j] = L->rms_ffn[j] = 1;
        for (int k = 0; k < PTQ_LIN_COUNT; k++) fill(L->lin[k].w, (size_t)L->lin[k].out * L->lin[k].in, 0.05, &r);
    }
    return 0;
}

static int same_stats(const ptq_model_stats *a, const ptq_model_stats *b) {
    int same = 1;
    for (int i = 0; i < a->n_layers * PTQ_AS_KINDS; i++) {
        const ptq_actstat *x = &a->act[i], *y = &b->act[i];
        same &= !memcmp(x->s, y->s, sizeof x->s) && x->n_massive == y->n_massive &&
                !memcmp(x->ch_max, y->ch_max, sizeof(float) * x->n);
    }
    return same;
}

static void test_planted(void) {
    ptq_model m;
    if (random_model(&m)) {
        CHECK(0);
        return;
    }
    /* attention-norm gain 300 on channel 37 of layer 1: the q/k/v input of
     * layer 1 carries a channel 300x the others (a massive one per token) */
    m.layers[1].rms_att[37] = 300;
    for (int v = 0; v < 96; v++) m.tok_emb[(size_t)v * 128 + 37] = 3; /* so it is large in every token */
    ptq_linear *down = &m.layers[0].lin[PTQ_LIN_DOWN];
    for (int o = 0; o < down->out; o++) down->w[(size_t)o * down->in + 11] *= 50;
    int tok[4 * 32];
    ptq_rng r;
    ptq_rng_seed(&r, 3);
    for (int i = 0; i < 4 * 32; i++) tok[i] = (int)(ptq_rng_u64(&r) % 96);
    ptq_model_stats st, st2;
    ptq_err e;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    if (ptq_model_stats_compute(&m, tok, 4, 32, &st, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        CHECK(0);
        ptq_model_free(&m);
        return;
    }
    const ptq_actstat *hit = ptq_model_stats_act(&st, 1, PTQ_AS_QKV), *clean = ptq_model_stats_act(&st, 0, PTQ_AS_QKV);
    CHECK(hit->top_channel == 37);
    CHECK(hit->top_ratio > 100);
    CHECK(clean->top_ratio < 10);
    /* one element per token above 100x its row median: share 1/128 (layer 0
     * sees channel 37 at ~4x the median only) */
    CHECK_NEAR(hit->massive, 1.0 / 128, 1e-12);
    CHECK(clean->massive == 0);
    CHECK(hit->kurtosis > 50 && clean->kurtosis < 6);
    CHECK(hit->rows == 4 * 32 && st.tokens == 4 * 32);
    /* weights: the planted input column of layer 0's down_proj is found */
    CHECK(st.w[PTQ_LIN_DOWN].top_channel == 11 && st.w[PTQ_LIN_DOWN].top_ratio > 20);
    CHECK(st.w[PTQ_LIN_UP].top_ratio < 10);
    for (int k = 0; k < PTQ_AS_KINDS; k++)
        for (int l = 0; l < 2; l++)
            CHECK(isfinite(ptq_model_stats_act(&st, l, k)->kurtosis) == (k != PTQ_AS_HEAD || l == 1));
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    CHECK(ptq_model_stats_compute(&m, tok, 4, 32, &st2, &e) == 0);
    CHECK(same_stats(&st, &st2));
    ptq_model_stats_free(&st2);
    ptq_model_stats_free(&st);
    /* bad windows */
    tok[5] = 96;
    CHECK(ptq_model_stats_compute(&m, tok, 4, 32, &st, &e) == -1 && strstr(e.msg, "outside the vocabulary"));
    CHECK(ptq_model_stats_compute(&m, tok, 1, 65, &st, &e) == -1 && strstr(e.msg, "1..64"));
    CHECK(ptq_model_stats_compute(&m, tok, 0, 8, &st, &e) == -1);
    ptq_model_free(&m);
}

int main(void) {
    test_block();
    test_planted();
    return tu_done("test_actstats");
}
