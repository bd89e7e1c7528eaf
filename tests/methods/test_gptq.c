/* test_gptq.c — GPTQ's layer objective ||W X - W^ X||^2 on calibration data
 * is <= RTN's at the same bits, for every linear of every stories260K layer
 * (inputs captured from the FP model on a few calibration windows), and on a
 * synthetic correlated layer with groups / act-order; the recorded codes
 * and grids (ptq_qweight; act-order groups through gidx) dequantize to
 * GPTQ's values bit for bit; dead columns. Above one 256-column tile: the
 * same bits at 1 and 2 threads, and diag of Hinv's factor equal to LAPACK's
 * potrf/potri/potrf chain; a capture stopped at a linear sees exactly the
 * inputs the whole block's capture sees, and nothing after it. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "gptq.h"
#include "model_open.h"
#include "testutil.h"

/* ||X (W - Wq)^T||^2 */
static double objective(const float *X, int T, const float *W, const float *Wq, int rows, int cols) {
    float *D = malloc((size_t)rows * cols * sizeof(float)), *Y = malloc((size_t)T * rows * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        D[i] = W[i] - Wq[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, cols, 1.f, X, cols, D, cols, 0.f, Y, rows);
    double s = 0;
    for (size_t i = 0; i < (size_t)T * rows; i++)
        s += (double)Y[i] * Y[i];
    free(D), free(Y);
    return s;
}

static int compare(const float *X, int T, const float *W, int rows, int cols, const ptq_gptq_opts *o,
                   const char *what) {
    ptq_err err = {{0}};
    ptq_hessian h;
    CHECK(ptq_hessian_init(&h, cols, &err) == 0);
    ptq_hessian_add(&h, X, T / 2); /* two batches: the running mean must equal one pass */
    ptq_hessian_add(&h, X + (size_t)(T / 2) * cols, T - T / 2);
    float *Wg = malloc((size_t)rows * cols * sizeof(float)), *Wr = malloc((size_t)rows * cols * sizeof(float));
    memcpy(Wg, W, (size_t)rows * cols * sizeof(float));
    memcpy(Wr, W, (size_t)rows * cols * sizeof(float));
    ptq_qweight *qw = ptq_wq_qweight(rows, cols, &o->wq, &err);
    CHECK(qw && ptq_gptq_quantize(Wg, rows, cols, &h, o, NULL, qw, &err) == 0);
    if (qw) { /* the codes and grids are the quantized weight */
        ptq_qweight_dequant(qw, Wr);
        CHECK(memcmp(Wr, Wg, (size_t)rows * cols * sizeof(float)) == 0);
        CHECK(!qw->gidx == !(o->act_order && o->wq.group)); /* act-order groups: the group of each column */
        ptq_qweight_free(qw);
    }
    memcpy(Wr, W, (size_t)rows * cols * sizeof(float));
    ptq_wq_rtn(Wr, rows, cols, &o->wq, NULL);
    double eg = objective(X, T, W, Wg, rows, cols), er = objective(X, T, W, Wr, rows, cols);
    int ok = eg <= er;
    CHECK(ok);
    if (!ok) fprintf(stderr, "  %s: gptq %g > rtn %g\n", what, eg, er);
    free(Wg), free(Wr);
    ptq_hessian_free(&h);
    return ok;
}

typedef struct {
    float *X[PTQ_LIN_COUNT];
    int T[PTQ_LIN_COUNT];
} capt;

static void cap(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T, int n) {
    (void)x_q, (void)layer;
    capt *c = ctx;
    if (which < 0 || which >= PTQ_LIN_COUNT) return;
    c->X[which] = realloc(c->X[which], (size_t)(c->T[which] + T) * n * sizeof(float));
    memcpy(c->X[which] + (size_t)c->T[which] * n, x_pre, (size_t)T * n * sizeof(float));
    c->T[which] += T;
}

static int on_block(void *ctx, ptq_model *m, int l, float *X, const ptq_calib *c, ptq_err *err) {
    (void)ctx;
    capt cp;
    memset(&cp, 0, sizeof cp);
    if (ptq_calib_block_forward(m, l, X, NULL, c, cap, &cp, err)) return -1;
    for (int bits = 3; bits <= 4; bits++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *L = &m->layers[l].lin[j];
            ptq_gptq_opts o = ptq_gptq_default(bits);
            char what[64];
            snprintf(what, sizeof what, "layer %d %s W%d", l, ptq_linear_names[j], bits);
            compare(cp.X[j], cp.T[j], L->w, L->out, L->in, &o, what);
        }
    for (int j = 0; j < PTQ_LIN_COUNT; j++)
        free(cp.X[j]);
    return 0;
}

/* A layer wider than one tile: 1 and 2 threads give the same bits; diag of
 * the upper Cholesky factor of (H + damp I)^-1 matches LAPACK's chain. */
static void wide_layer(void) {
    enum { T = 700, C = 600, R = 40 };
    ptq_err err = {{0}};
    float *X = malloc((size_t)T * C * sizeof(float)), *W = malloc((size_t)R * C * sizeof(float));
    float *W1 = malloc((size_t)R * C * sizeof(float)), *W2 = malloc((size_t)R * C * sizeof(float));
    double *H = malloc((size_t)C * C * sizeof(double)), hd[C], mean = 0;
    ptq_rng r;
    ptq_rng_seed(&r, 7);
    for (int t = 0; t < T; t++) {
        double base = ptq_rng_normal(&r);
        for (int j = 0; j < C; j++)
            X[(size_t)t * C + j] = (float)(base * (j % 7) + ptq_rng_normal(&r));
    }
    for (int i = 0; i < R * C; i++)
        W[i] = (float)ptq_rng_normal(&r);
    ptq_hessian h;
    CHECK(ptq_hessian_init(&h, C, &err) == 0);
    ptq_hessian_add(&h, X, T);
    ptq_gptq_opts o = ptq_gptq_default(4);
    o.act_order = 1;
    compare(X, T, W, R, C, &o, "wide act_order");
    int nt = omp_get_max_threads();
    for (int th = 1; th <= 2; th++) {
        float *Wt = th == 1 ? W1 : W2;
        memcpy(Wt, W, (size_t)R * C * sizeof(float));
        omp_set_num_threads(th);
        CHECK(ptq_gptq_quantize(Wt, R, C, &h, &o, hd, NULL, &err) == 0);
    }
    omp_set_num_threads(nt);
    CHECK(memcmp(W1, W2, (size_t)R * C * sizeof(float)) == 0);
    /* reference: act-order permutes H; compare at the permuted positions via hinv_diag[perm[k]] */
    int perm[C];
    for (int j = 0; j < C; j++)
        perm[j] = j;
    for (int a = 0; a < C; a++) /* descending diag, ties by index (as argsort_desc) */
        for (int b = a + 1; b < C; b++) {
            double da = h.H[(size_t)perm[a] * C + perm[a]], db = h.H[(size_t)perm[b] * C + perm[b]];
            if (db > da || (db == da && perm[b] < perm[a])) {
                int t = perm[a];
                perm[a] = perm[b];
                perm[b] = t;
            }
        }
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            int a = perm[i], b = perm[j];
            H[(size_t)i * C + j] = h.H[(size_t)(a < b ? a : b) * C + (a < b ? b : a)];
        }
    for (int j = 0; j < C; j++)
        mean += H[(size_t)j * C + j] / C;
    for (int j = 0; j < C; j++)
        H[(size_t)j * C + j] += o.percdamp * mean;
    CHECK(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', C, H, C) == 0 && LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', C, H, C) == 0 &&
          LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', C, H, C) == 0);
    double worst = 0;
    for (int k = 0; k < C; k++)
        worst = fmax(worst, fabs(hd[perm[k]] / H[(size_t)k * C + k] - 1));
    CHECK(worst < 1e-9);
    if (worst >= 1e-9) fprintf(stderr, "  Hinv factor diag: relative difference %g\n", worst);
    ptq_hessian_free(&h);
    free(X), free(W), free(W1), free(W2), free(H);
}

/* ptq_calib_block_capture stopped at `last` captures what the whole block's
 * capture does for the linears up to it, and none after. */
static void capture_stops(const ptq_model *m, const float *X, const ptq_calib *c) {
    ptq_err err = {{0}};
    capt full;
    memset(&full, 0, sizeof full);
    CHECK(ptq_calib_block_forward(m, 0, X, NULL, c, cap, &full, &err) == 0);
    static const int lasts[] = {PTQ_LIN_Q, PTQ_LIN_O, PTQ_LIN_GATE, PTQ_LIN_DOWN};
    for (int k = 0; k < 4; k++) {
        capt part;
        memset(&part, 0, sizeof part);
        CHECK(ptq_calib_block_capture(m, 0, X, c, lasts[k], cap, &part, &err) == 0);
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            int n = m->layers[0].lin[j].in;
            CHECK(part.T[j] == (j <= lasts[k] ? full.T[j] : 0));
            if (j <= lasts[k] && part.T[j] == full.T[j])
                CHECK(memcmp(part.X[j], full.X[j], (size_t)full.T[j] * n * sizeof(float)) == 0);
            free(part.X[j]);
        }
    }
    for (int j = 0; j < PTQ_LIN_COUNT; j++)
        free(full.X[j]);
}

int main(void) {
    ptq_err err = {{0}};
    /* synthetic correlated layer */
    int T = 512, cols = 96, rows = 24;
    float *X = malloc((size_t)T * cols * sizeof(float)), *W = malloc((size_t)rows * cols * sizeof(float));
    ptq_rng r;
    ptq_rng_seed(&r, 1);
    for (int t = 0; t < T; t++) {
        double base = ptq_rng_normal(&r);
        for (int j = 0; j < cols; j++)
            X[(size_t)t * cols + j] = (float)(base * (j % 5) + ptq_rng_normal(&r) * (1 + j % 3));
    }
    for (int i = 0; i < rows * cols; i++)
        W[i] = (float)ptq_rng_normal(&r);
    for (int bits = 2; bits <= 4; bits++) {
        ptq_gptq_opts o = ptq_gptq_default(bits);
        o.blocksize = 32; /* several blocks: exercises the lazy GEMM update */
        compare(X, T, W, rows, cols, &o, "synthetic");
        o.act_order = 1;
        compare(X, T, W, rows, cols, &o, "synthetic act_order");
        o.wq.group = 16;
        o.wq.sym = 1;
        compare(X, T, W, rows, cols, &o, "synthetic act_order g16 sym");
        o.act_order = 0;
        o.wq.mse = 1;
        compare(X, T, W, rows, cols, &o, "synthetic g16 mse");
    }
    wide_layer();
    /* dead column: input 5 always zero -> W[:, 5] = 0, no NaN */
    for (int t = 0; t < T; t++)
        X[(size_t)t * cols + 5] = 0.f;
    ptq_hessian h;
    ptq_hessian_init(&h, cols, &err);
    ptq_hessian_add(&h, X, T);
    ptq_gptq_opts o = ptq_gptq_default(4);
    double hd[96];
    CHECK(ptq_gptq_quantize(W, rows, cols, &h, &o, hd, NULL, &err) == 0);
    for (int i = 0; i < rows; i++)
        CHECK(W[(size_t)i * cols + 5] == 0.f);
    for (int i = 0; i < rows * cols; i++)
        CHECK(isfinite(W[i]));
    for (int j = 0; j < cols; j++)
        CHECK(hd[j] > 0);
    /* mismatched Hessian: clear error */
    CHECK(ptq_gptq_quantize(W, rows, cols - 1, &h, &o, NULL, NULL, &err) == -1 && strstr(err.msg, "columns"));
    ptq_hessian_free(&h);
    free(X), free(W);

    /* stories260K: every linear of every layer */
    ptq_model m;
    ptq_tokenizer *tok;
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &m, &tok, &err)) {
        fprintf(stderr, "stories260K not available: %s\n", err.msg);
        return tu_done("test_gptq");
    }
    ptq_calib_spec cs = {"tinystories-calib", 4, 128, 0};
    ptq_calib c;
    CHECK(ptq_calib_load(&c, &cs, tok, m.cfg.max_seq, &err) == 0);
    /* the block walk: inputs of block l are the outputs of the quantized blocks < l */
    size_t win = (size_t)c.seqlen * m.cfg.dim;
    float *Xc = calloc((size_t)c.nsamples * win, sizeof(float));
    int rc = Xc ? 0 : -1;
    for (int i = 0; i < c.nsamples && !rc; i++)
        rc = ptq_forward_embed(&m, c.tokens + (size_t)i * c.seqlen, c.seqlen, Xc + i * win, &err);
    if (!rc) capture_stops(&m, Xc, &c);
    for (int l = 0; l < m.cfg.n_layers && !rc; l++)
        rc = on_block(NULL, &m, l, Xc, &c, &err) || ptq_calib_block_forward(&m, l, Xc, Xc, &c, NULL, NULL, &err);
    CHECK(rc == 0);
    free(Xc);
    /* too small a request is an error naming the dataset */
    ptq_calib c2;
    ptq_calib_spec big = {"tinystories-calib", 100000, 512, 0};
    CHECK(ptq_calib_load(&c2, &big, tok, m.cfg.max_seq, &err) == -1 && strstr(err.msg, "too small"));
    ptq_calib_free(&c);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return tu_done("test_gptq");
}
