/* test_train_ops.c — every training op's backward against central finite
 * differences, as one table (src/train/ops.h).
 *
 * Each row sets up tiny random inputs, runs the op's forward, and takes
 * L = sum_i r_i out_i with fixed random r (accumulated in double). The
 * backward is given dout = r; for every input element the central
 * difference (L(x + h) - L(x - h)) / 2h, evaluated in double from the float
 * forward, is compared with the analytic gradient: the relative error
 * |fd - an| / max(|fd|, |an|) over the whole input (vector 2-norms) must be
 * below 1e-3. h = 1e-2 balances float rounding (~1e-7 |L| / h) against the
 * truncation error (~h^2). A wrong sign, factor or index gives errors of
 * order 1. Also: each backward adds into its gradients (called twice it
 * doubles them), the straight-through quantizer's values equal ptq_fq_rows
 * and its mask is 1 exactly where the code was not clamped, and the
 * Householder matrix is orthogonal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "ops.h"
#include "testutil.h"

enum { MAXIN = 3 };
static ptq_rng rng;
static float *in[MAXIN], *gin[MAXIN];
static size_t nin[MAXIN], nout;
static int n_in;
static int T_, A_, B_, D_, style_; /* shape parameters of the current row */
static int tokens_[8], targets_[8];
static float *aux; /* P of attention, rstd of rmsnorm, probs of CE */
static float eps_ = 1e-5f;

typedef struct {
    const char *name;
    void (*setup)(void);
    void (*fwd)(float *out);        /* out has nout floats */
    void (*bwd)(const float *dout); /* adds into gin[] */
} opcase;

static float *rnd(size_t n, float s) {
    float *x = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = s * (float)ptq_rng_normal(&rng);
    return x;
}
static void add_in(size_t n, float s) {
    in[n_in] = rnd(n, s);
    gin[n_in] = calloc(n, sizeof(float));
    nin[n_in++] = n;
}

/* ---- rows ---- */
static void s_emb(void) {
    T_ = 6, A_ = 5, D_ = 4; /* vocab 5, dim 4, token 2 repeated */
    int t[6] = {2, 0, 2, 4, 1, 2};
    memcpy(tokens_, t, sizeof t);
    add_in((size_t)A_ * D_, 1.f);
    nout = (size_t)T_ * D_;
}
static void f_emb(float *o) {
    ptq_embedding_forward(o, tokens_, T_, in[0], D_);
}
static void b_emb(const float *d) {
    ptq_embedding_backward(gin[0], d, tokens_, T_, D_);
}

static void s_rms(void) {
    T_ = 3, D_ = 7;
    add_in((size_t)T_ * D_, 1.f);
    add_in(D_, 1.f);
    aux = calloc(T_, sizeof(float));
    nout = (size_t)T_ * D_;
}
static void f_rms(float *o) {
    ptq_rmsnorm_forward(o, aux, in[0], in[1], T_, D_, eps_);
}
static void b_rms(const float *d) {
    ptq_rmsnorm_backward(gin[0], gin[1], d, in[0], in[1], aux, T_, D_);
}

static void s_mm(void) {
    T_ = 4, A_ = 5, B_ = 3; /* in 5, out 3 */
    add_in((size_t)T_ * A_, 1.f);
    add_in((size_t)B_ * A_, 1.f);
    add_in(B_, 1.f);
    nout = (size_t)T_ * B_;
}
static void f_mm(float *o) {
    ptq_matmul_forward(o, in[0], in[1], in[2], T_, A_, B_);
}
static void b_mm(const float *d) {
    ptq_matmul_backward(gin[0], gin[1], gin[2], d, in[0], in[1], T_, A_, B_);
}

static void s_rot(void) {
    T_ = 3, A_ = 6, B_ = 3; /* n 6 as two blocks of 3 */
    add_in((size_t)T_ * A_, 1.f);
    add_in((size_t)B_ * B_, 1.f);
    nout = (size_t)T_ * A_;
}
static void f_rot(float *o) {
    ptq_rotate_forward(o, in[0], in[1], T_, A_, B_);
}
static void b_rot(const float *d) {
    ptq_rotate_backward(gin[0], gin[1], d, in[0], in[1], T_, A_, B_);
}

static float cos_t[64], sin_t[64];
static void s_rope(void) {
    T_ = 3, A_ = 2, D_ = 6; /* heads 2, head_dim 6 */
    ptq_config c = {.head_dim = D_, .rope_theta = 10000.f};
    ptq_rope_tables(&c, T_ + 2, cos_t, sin_t);
    add_in((size_t)T_ * A_ * D_, 1.f);
    nout = (size_t)T_ * A_ * D_;
}
static void f_rope(float *o) {
    memcpy(o, in[0], nout * sizeof(float));
    ptq_rope_forward(o, cos_t, sin_t, T_, A_, D_, style_, 2);
}
static void b_rope(const float *d) {
    float *t = malloc(nout * sizeof(float));
    memcpy(t, d, nout * sizeof(float));
    ptq_rope_backward(t, cos_t, sin_t, T_, A_, D_, style_, 2);
    for (size_t i = 0; i < nout; i++)
        gin[0][i] += t[i];
    free(t);
}
static void s_rope_half(void) {
    s_rope(), style_ = PTQ_ROPE_HALF;
}
static void s_rope_il(void) {
    s_rope(), style_ = PTQ_ROPE_INTERLEAVED;
}

static void s_att(void) {
    T_ = 5, A_ = 4, B_ = 2, D_ = 3; /* 4 query heads, 2 KV heads, head_dim 3 */
    add_in((size_t)T_ * A_ * D_, 1.f);
    add_in((size_t)T_ * B_ * D_, 1.f);
    add_in((size_t)T_ * B_ * D_, 1.f);
    aux = calloc((size_t)A_ * T_ * T_, sizeof(float));
    nout = (size_t)T_ * A_ * D_;
}
static void f_att(float *o) {
    ptq_attention_forward(o, aux, in[0], in[1], in[2], T_, A_, B_, D_);
}
static void b_att(const float *d) {
    float *scr = calloc((size_t)ptq_num_threads() * 2 * T_ * T_, sizeof(float));
    ptq_attention_backward(gin[0], gin[1], gin[2], d, aux, in[0], in[1], in[2], T_, A_, B_, D_, scr);
    free(scr);
}

static void s_swi(void) {
    add_in(11, 2.f);
    add_in(11, 1.f);
    nout = 11;
}
static void f_swi(float *o) {
    ptq_swiglu_forward(o, in[0], in[1], nout);
}
static void b_swi(const float *d) {
    ptq_swiglu_backward(gin[0], gin[1], d, in[0], in[1], nout);
}

static void s_res(void) {
    add_in(9, 1.f);
    add_in(9, 1.f);
    nout = 9;
}
static void f_res(float *o) {
    ptq_residual_forward(o, in[0], in[1], nout);
}
static void b_res(const float *d) {
    ptq_residual_backward(gin[0], gin[1], d, nout);
}

/* Scalar losses: out[0] = loss. */
static void s_ce(void) {
    T_ = 4, A_ = 7;
    int t[4] = {3, -1, 0, 6};
    memcpy(targets_, t, sizeof t);
    add_in((size_t)T_ * A_, 2.f);
    aux = calloc((size_t)T_ * A_, sizeof(float));
    nout = 1;
}
static void f_ce(float *o) {
    o[0] = (float)ptq_crossentropy_forward(aux, in[0], targets_, T_, A_);
}
static void b_ce(const float *d) {
    ptq_crossentropy_backward(gin[0], aux, targets_, T_, A_, d[0]);
}

static void s_mse(void) { /* d/da only: b is the target */
    add_in(13, 1.f);
    aux = rnd(13, 1.f);
    nout = 1;
}
static void f_mse(float *o) {
    o[0] = (float)ptq_mse_forward(in[0], aux, 13);
}
static void b_mse(const float *d) {
    ptq_mse_backward(gin[0], in[0], aux, 13, d[0]);
}

static void s_hh(void) {
    A_ = 5;
    add_in(A_, 1.f);
    nout = (size_t)A_ * A_;
}
static void f_hh(float *o) {
    ptq_householder_forward(o, in[0], A_);
}
static void b_hh(const float *d) {
    ptq_householder_backward(gin[0], d, in[0], A_);
}

static const opcase table[] = {
    {"embedding", s_emb, f_emb, b_emb},
    {"rmsnorm", s_rms, f_rms, b_rms},
    {"matmul+bias", s_mm, f_mm, b_mm},
    {"rotate (2 blocks)", s_rot, f_rot, b_rot},
    {"rope interleaved", s_rope_il, f_rope, b_rope},
    {"rope half", s_rope_half, f_rope, b_rope},
    {"attention gqa", s_att, f_att, b_att},
    {"swiglu", s_swi, f_swi, b_swi},
    {"residual", s_res, f_res, b_res},
    {"cross-entropy", s_ce, f_ce, b_ce},
    {"mse", s_mse, f_mse, b_mse},
    {"householder", s_hh, f_hh, b_hh},
};

static double weighted(const opcase *c, const float *r, float *out) {
    c->fwd(out);
    double L = 0;
    for (size_t i = 0; i < nout; i++)
        L += (double)r[i] * out[i];
    return L;
}

static void run_row(const opcase *c) {
    n_in = 0;
    aux = NULL;
    c->setup();
    float *r = rnd(nout, 1.f), *out = calloc(nout, sizeof(float));
    weighted(c, r, out);
    c->bwd(r);
    double worst = 0;
    for (int k = 0; k < n_in; k++) {
        double num = 0, den = 0;
        for (size_t i = 0; i < nin[k]; i++) {
            float x0 = in[k][i], h = 1e-2f * fmaxf(1.f, fabsf(x0));
            in[k][i] = x0 + h;
            double lp = weighted(c, r, out);
            in[k][i] = x0 - h;
            double lm = weighted(c, r, out);
            in[k][i] = x0;
            double fd = (lp - lm) / (2.0 * h), an = gin[k][i];
            num += (fd - an) * (fd - an);
            den += PTQ_MAX(fd * fd, an * an);
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        worst = PTQ_MAX(worst, rel);
        CHECK(rel < 1e-3);
        if (!(rel < 1e-3)) fprintf(stderr, "  %s: input %d rel err %.3g\n", c->name, k, rel);
    }
    /* the backward accumulates: a second call doubles the gradients */
    float *g1 = malloc(nin[0] * sizeof(float));
    memcpy(g1, gin[0], nin[0] * sizeof(float));
    weighted(c, r, out);
    c->bwd(r);
    double dbl = 0;
    for (size_t i = 0; i < nin[0]; i++)
        dbl = PTQ_MAX(dbl, fabs(gin[0][i] - 2.0 * g1[i]) / (1e-6 + fabs(g1[i])));
    CHECK(dbl < 1e-4);
    printf("%-20s grad rel err %.2e\n", c->name, worst);
    for (int k = 0; k < n_in; k++)
        free(in[k]), free(gin[k]);
    free(g1), free(r), free(out), free(aux);
}

/* STE: values are ptq_fq_rows's; the mask is 1 where the code was not clamped. */
static void test_ste(void) {
    int rows = 5, n = 24;
    ptq_act_qspec specs[] = {{4, 0, 1.f, 0}, {4, 1, 0.8f, 0}, {3, 0, 0.7f, 8}, {8, 1, 1.f, 12}, {16, 0, 1.f, 0}};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        const ptq_act_qspec *q = &specs[s];
        float *x = rnd((size_t)rows * n, 1.f), *xq = calloc((size_t)rows * n, sizeof(float));
        float *ref = malloc((size_t)rows * n * sizeof(float));
        unsigned char *mask = calloc((size_t)rows * n, 1);
        memcpy(ref, x, (size_t)rows * n * sizeof(float));
        ptq_fq_rows(ref, rows, n, q);
        ptq_fq_ste_forward(xq, mask, x, rows, n, q);
        CHECK(memcmp(xq, ref, (size_t)rows * n * sizeof(float)) == 0);
        int g = q->group ? q->group : n, inside = 0, outside = 0;
        for (int r = 0; r < rows; r++)
            for (int j0 = 0; j0 < n; j0 += g) {
                float lo = 0, hi = 0;
                for (int j = j0; j < j0 + g; j++) {
                    float v = x[r * n + j];
                    lo = fminf(lo, v), hi = fmaxf(hi, v);
                }
                for (int j = j0; j < j0 + g; j++) {
                    float v = x[r * n + j];
                    /* a value well inside [lo, hi] * clip passes; the group's extremes
                     * beyond the clipped range by more than half a step do not */
                    float a = fmaxf(-lo, hi) * q->clip, step = (hi - lo) * q->clip / (float)((1 << q->bits) - 1);
                    float lo2 = q->sym ? -a : lo * q->clip, hi2 = q->sym ? a : hi * q->clip;
                    if (q->bits >= 16 || (v > 0.5f * lo2 && v < 0.5f * hi2)) {
                        CHECK(mask[r * n + j] == 1);
                        inside++;
                    } else if (q->clip < 1.f && (v == lo || v == hi) && fabsf(v) * (1 - q->clip) > 2 * step) {
                        CHECK(mask[r * n + j] == 0);
                        outside++;
                    }
                }
            }
        CHECK(inside > 0);
        if (q->clip < 1.f) CHECK(outside > 0);
        float *dq = rnd((size_t)rows * n, 1.f), *dx = calloc((size_t)rows * n, sizeof(float));
        ptq_fq_ste_backward(dx, dq, mask, (size_t)rows * n);
        for (int i = 0; i < rows * n; i++)
            CHECK(dx[i] == (mask[i] ? dq[i] : 0.f));
        free(x), free(xq), free(ref), free(mask), free(dq), free(dx);
    }
    printf("%-20s values = ptq_fq_rows, mask = unclamped codes\n", "fq_ste");
}

static void test_householder_orth(void) {
    float u[9], H[81];
    for (int i = 0; i < 9; i++)
        u[i] = (float)ptq_rng_normal(&rng);
    ptq_householder_forward(H, u, 9);
    double e = 0;
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) {
            double s = 0;
            for (int k = 0; k < 9; k++)
                s += (double)H[i * 9 + k] * H[j * 9 + k];
            e = fmax(e, fabs(s - (i == j)));
        }
    CHECK(e < 1e-6);
}

int main(int argc, char **argv) {
    ptq_rng_seed(&rng, 42);
    const char *only = argc > 2 && !strcmp(argv[1], "--only") ? argv[2] : NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!only || strstr(table[i].name, only)) run_row(&table[i]);
    test_ste();
    test_householder_orth();
    return tu_done("test_train_ops");
}
