/* test_train_optim.c — optimizers, schedule, checkpoints and the training
 * loop of src/train (train.h).
 *
 * - Cosine schedule: warm-up ramp, lr_max after it, the midpoint, lr_min at the end.
 * - AdamW: one step equals the hand-computed update (bias correction, decoupled
 *   weight decay); 300 steps reach the minimum of a quadratic.
 * - Global-norm clipping: the clipped norm is exactly the limit; the pre-clip
 *   norm is returned.
 * - Cayley SGD (METHODS.md §6): max |X X^T - I| <= 1e-5 after every step,
 *   with and without momentum, with the step-size cap 1/(|W|_1 + eps) active
 *   (huge gradients) and with QR re-orthonormalisation every 3rd step; it
 *   approaches an orthogonal target (distance shrinks by 10x); the QR
 *   retraction leaves an orthogonal matrix unchanged.
 * - The loop on a tiny model (weights by AdamW, a residual rotation R1 by
 *   Cayley SGD, fake-quantized activations): the loss falls; a run resumed
 *   from the checkpoint written at step 4 ends bit for bit equal to the
 *   uninterrupted run (parameters and optimizer state); a checkpoint is
 *   refused when its identity, parameters or bytes differ; no temp file
 *   is left; a non-finite loss is an error naming the step.
 * - ptq_train_loop: a child process running 12 steps (2 windows each,
 *   checkpoint every 3) is killed with SIGKILL at step 7; the loop restarted
 *   on its checkpoint ends bit for bit equal to an uninterrupted run (state
 *   and per-step losses); a finished run resumes to nothing; refusals. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hadamard.h"
#include "testutil.h"
#include "train.h"

static ptq_rng rng;

static void test_schedule(void) {
    CHECK_NEAR(ptq_lr_cosine(0, 100, 10, 1.0, 0.1), 0.1, 1e-12);
    CHECK_NEAR(ptq_lr_cosine(9, 100, 10, 1.0, 0.1), 1.0, 1e-12);
    CHECK_NEAR(ptq_lr_cosine(10, 100, 10, 1.0, 0.1), 1.0, 1e-12);
    CHECK_NEAR(ptq_lr_cosine(55, 100, 10, 1.0, 0.1), 0.55, 1e-12);
    CHECK_NEAR(ptq_lr_cosine(100, 100, 10, 1.0, 0.1), 0.1, 1e-12);
    CHECK_NEAR(ptq_lr_cosine(50, 100, 0, 1.5, 0.0), 0.75, 1e-12);
}

static void test_adamw(void) {
    ptq_err err;
    float w[3] = {1.f, -2.f, 0.5f}, g[3];
    ptq_params P = {.n = 1, .cap = 1, .p = &(ptq_param){.name = "w", .rows = 1, .cols = 3, .val = w, .grad = g}};
    ptq_adamw o;
    CHECK(ptq_adamw_init(&o, &P, 0.1, 0.01, &err) == 0);
    g[0] = 0.5f, g[1] = -1.f, g[2] = 0.f;
    ptq_adamw_step(&o, &P, 0.1);
    /* m^ = g, v^ = g^2: update = sign(g) + wd w (eps negligible), 0 + wd w for g = 0 */
    CHECK_NEAR(w[0], 1.0 - 0.1 * (1.0 + 0.01 * 1.0), 1e-6);
    CHECK_NEAR(w[1], -2.0 - 0.1 * (-1.0 + 0.01 * -2.0), 1e-6);
    CHECK_NEAR(w[2], 0.5 - 0.1 * 0.01 * 0.5, 1e-6);
    ptq_adamw_free(&o);
    /* a quadratic sum (w - c)^2 */
    float c[3] = {0.3f, -1.2f, 2.f};
    CHECK(ptq_adamw_init(&o, &P, 0.05, 0.0, &err) == 0);
    for (int s = 0; s < 300; s++) {
        for (int i = 0; i < 3; i++)
            g[i] = 2 * (w[i] - c[i]);
        ptq_adamw_step(&o, &P, ptq_lr_cosine(s, 300, 10, 0.05, 0.0));
    }
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(w[i], c[i], 1e-3);
    ptq_adamw_free(&o);
    /* clipping */
    g[0] = 3.f, g[1] = 4.f, g[2] = 0.f;
    CHECK_NEAR(ptq_params_clip_grad(&P, 1.0), 5.0, 1e-9);
    CHECK_NEAR(ptq_params_grad_norm(&P), 1.0, 1e-6);
    CHECK_NEAR(g[0], 0.6, 1e-6);
    CHECK_NEAR(ptq_params_clip_grad(&P, 2.0), 1.0, 1e-6);
    CHECK_NEAR(g[1], 0.8, 1e-6);
}

static double dist(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n * n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* Minimise |X - Q|^2 over orthogonal X (gradient 2 (X - Q)); scale > 1 blows the
 * gradient up so the step-size cap decides. */
static void cayley_run(int n, double lr, double momentum, int qr_every, double scale, int steps) {
    ptq_err err;
    float *X = calloc((size_t)n * n, sizeof(float)), *G = calloc((size_t)n * n, sizeof(float));
    float *Q = calloc((size_t)n * n, sizeof(float));
    CHECK(ptq_random_orthogonal(Q, n, 2, &err) == 0);
    memcpy(X, Q, (size_t)n * n * sizeof(float));
    for (int i = 0; i + 1 < n; i += 2) { /* start: Q with row pairs rotated by 2.5 rad (same determinant) */
        float c = cosf(2.5f), s = sinf(2.5f), *a = X + (size_t)i * n, *b = a + n;
        for (int j = 0; j < n; j++) {
            float u = a[j], v = b[j];
            a[j] = c * u - s * v, b[j] = s * u + c * v;
        }
    }
    ptq_params P = {.n = 1,
                    .cap = 1,
                    .p = &(ptq_param){.name = "R", .kind = PTQ_PK_STIEFEL, .rows = n, .cols = n, .val = X, .grad = G}};
    ptq_cayley o;
    CHECK(ptq_cayley_init(&o, &P, momentum, 9, &err) == 0);
    o.qr_every = qr_every;
    double d0 = dist(X, Q, n), worst = 0;
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n * n; i++)
            G[i] = (float)(2 * scale * ((double)X[i] - Q[i]));
        CHECK(ptq_cayley_step(&o, &P, lr, &err) == 0);
        worst = fmax(worst, ptq_orth_error(X, n));
    }
    double d1 = dist(X, Q, n);
    printf("cayley n=%d lr=%g momentum=%g qr_every=%d grad x%g: |X-Q| %.3f -> %.3f, max orth err %.2e "
           "(drift corrections %ld of %d steps)\n",
           n, lr, momentum, qr_every, scale, d0, d1, worst, o.n_fixed, steps);
    CHECK(worst <= 1e-5);
    if (scale == 1) CHECK(d1 < 0.1 * d0);
    CHECK(d1 < d0);
    ptq_cayley_free(&o);
    free(X), free(G), free(Q);
}

static void test_cayley(void) {
    cayley_run(16, 0.1, 0.0, 0, 1, 80);
    cayley_run(16, 0.05, 0.9, 0, 1, 80);
    cayley_run(24, 0.1, 0.0, 3, 1, 60);
    cayley_run(16, 1.5, 0.0, 0, 1e4, 40);
    /* QR of an orthogonal matrix (every step): the matrix itself */
    ptq_err err;
    int n = 12;
    float X[144], X0[144], G[144] = {0};
    CHECK(ptq_random_orthogonal(X, n, 3, &err) == 0);
    memcpy(X0, X, sizeof X);
    ptq_params P = {.n = 1,
                    .cap = 1,
                    .p = &(ptq_param){.name = "R", .kind = PTQ_PK_STIEFEL, .rows = n, .cols = n, .val = X, .grad = G}};
    ptq_cayley o;
    CHECK(ptq_cayley_init(&o, &P, 0.0, 1, &err) == 0);
    o.qr_every = 1;
    CHECK(ptq_cayley_step(&o, &P, 0.1, &err) == 0); /* zero gradient: only the QR acts */
    CHECK(dist(X, X0, n) < 1e-5);
    ptq_cayley_free(&o);
}

/* ---- the loop ---- */

static void make_model(ptq_model *m) {
    ptq_config c = {.dim = 16,
                    .hidden_dim = 32,
                    .n_layers = 2,
                    .n_heads = 4,
                    .n_kv_heads = 2,
                    .vocab_size = 20,
                    .max_seq = 16,
                    .head_dim = 4,
                    .rope_theta = 10000.f,
                    .norm_eps = 1e-5f};
    ptq_err err;
    ptq_rng r;
    ptq_rng_seed(&r, 77);
    if (ptq_model_alloc(m, &c, &err)) exit(1);
    for (int i = 0; i < c.vocab_size * c.dim; i++)
        m->tok_emb[i] = 0.5f * (float)ptq_rng_normal(&r);
    for (int i = 0; i < c.dim; i++)
        m->rms_final[i] = 1.f;
    for (int l = 0; l < c.n_layers; l++) {
        ptq_layer *L = &m->layers[l];
        for (int i = 0; i < c.dim; i++)
            L->rms_att[i] = L->rms_ffn[i] = 1.f;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            for (int i = 0; i < L->lin[j].out * L->lin[j].in; i++)
                L->lin[j].w[i] = 0.3f * (float)ptq_rng_normal(&r);
            L->lin[j].aq = (ptq_act_qspec){6, 0, 1.f, 0};
        }
    }
}

typedef struct {
    ptq_model m;
    ptq_tmodel tm;
    ptq_tape *tp;
    ptq_adamw adam;
    ptq_cayley cay;
    ptq_rng data;
    int R1;
} run;

static void run_init(run *r) {
    ptq_err err;
    make_model(&r->m);
    CHECK(ptq_tmodel_init(&r->tm, &r->m, 1, &err) == 0);
    float R[256];
    CHECK(ptq_hadamard_matrix(R, 16, &err) == 0);
    r->R1 = ptq_tmodel_add_rotation(&r->tm, "R1", 16, R, &err);
    CHECK(r->R1 >= 0);
    for (int l = 0; l < r->m.cfg.n_layers; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            if (j == PTQ_LIN_O || j == PTQ_LIN_DOWN)
                CHECK(ptq_tmodel_set_out_rot(&r->tm, l, j, r->R1, &err) == 0);
            else if (j != PTQ_LIN_O)
                CHECK(ptq_tmodel_set_in_rot(&r->tm, l, j, r->R1, 0, &err) == 0);
    CHECK(ptq_tmodel_set_in_rot(&r->tm, r->m.cfg.n_layers, 0, r->R1, 0, &err) == 0);
    CHECK(ptq_tmodel_set_emb_rot(&r->tm, r->R1, &err) == 0);
    CHECK((r->tp = ptq_tape_new(&r->tm, 12, &err)) != NULL);
    CHECK(ptq_adamw_init(&r->adam, &r->tm.P, 3e-3, 0.01, &err) == 0);
    CHECK(ptq_cayley_init(&r->cay, &r->tm.P, 0.0, 5, &err) == 0);
    r->cay.qr_every = 3;
    ptq_rng_seed(&r->data, 123);
}

static void run_free(run *r) {
    ptq_adamw_free(&r->adam);
    ptq_cayley_free(&r->cay);
    ptq_tape_free(r->tp);
    ptq_tmodel_free(&r->tm);
    ptq_model_free(&r->m);
}

/* Steps [from, to): data drawn from r->data; checkpoint after step `ck` (if >= 0). */
static double run_steps(run *r, int from, int to, int ck, const char *path, const char *id) {
    ptq_err err;
    double loss = NAN;
    ptq_train_progress pg;
    ptq_train_progress_start(&pg, "test", from, to);
    for (int s = from; s < to; s++) {
        int tok[12], tgt[12];
        for (int t = 0; t < 12; t++)
            tok[t] = (int)(ptq_rng_u64(&r->data) % 5); /* a small alphabet: learnable */
        for (int t = 0; t < 12; t++)
            tgt[t] = t < 11 ? tok[t + 1] : -1;
        ptq_params_zero_grad(&r->tm.P);
        CHECK(ptq_train_forward(&r->tm, r->tp, tok, tgt, 12, NULL, &loss, &err) == 0);
        CHECK(ptq_train_check_loss(loss, s, "test", &err) == 0);
        CHECK(ptq_train_backward(&r->tm, r->tp, 1.f, &err) == 0);
        ptq_params_clip_grad(&r->tm.P, 1.0);
        ptq_adamw_step(&r->adam, &r->tm.P, ptq_lr_cosine(s, 40, 4, 3e-2, 3e-3));
        CHECK(ptq_cayley_step(&r->cay, &r->tm.P, ptq_lr_cosine(s, 40, 0, 0.2, 0.0), &err) == 0);
        CHECK(ptq_orth_error(r->tm.P.p[r->R1].val, 16) <= 1e-5);
        ptq_train_progress_update(&pg, s + 1, loss, 12);
        if (s == ck) {
            ptq_ckpt_info info = {.identity = id, .step = s + 1, .rng = &r->data};
            CHECK(ptq_ckpt_save(path, &info, &r->tm.P, &r->adam, &r->cay, &err) == 0);
        }
    }
    ptq_train_progress_end(&pg);
    return loss;
}

static int same_state(const run *a, const run *b) {
    int ok = a->tm.P.n == b->tm.P.n && a->adam.t == b->adam.t && a->cay.t == b->cay.t;
    for (int i = 0; ok && i < a->tm.P.n; i++) {
        size_t n = (size_t)ptq_param_size(&a->tm.P.p[i]) * sizeof(float);
        ok = !memcmp(a->tm.P.p[i].val, b->tm.P.p[i].val, n);
        if (ok && a->adam.m[i]) ok = !memcmp(a->adam.m[i], b->adam.m[i], n) && !memcmp(a->adam.v[i], b->adam.v[i], n);
        if (ok && a->cay.buf[i]) ok = !memcmp(a->cay.buf[i], b->cay.buf[i], n);
    }
    return ok;
}

static void test_loop_and_resume(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/ptq_test_train_%ld.ckpt", (long)getpid());
    const char *id = "tiny sha256:0 test-method w16a6";
    ptq_err err;
    run a, b;
    run_init(&a);
    double first = run_steps(&a, 0, 1, -1, NULL, NULL);
    double last = run_steps(&a, 1, 40, 3, path, id);
    printf("loop: loss %.4f -> %.4f over 40 steps\n", first, last);
    CHECK(last < 0.75 * first);

    run_init(&b);
    ptq_ckpt_info info = {.identity = id, .rng = &b.data};
    CHECK(ptq_ckpt_load(path, &info, &b.tm.P, &b.adam, &b.cay, &err) == 0);
    CHECK(info.step == 4);
    run_steps(&b, (int)info.step, 40, -1, NULL, NULL);
    CHECK(same_state(&a, &b));
    printf("resume from step 4: final state %s\n", same_state(&a, &b) ? "bit-identical" : "DIFFERENT");

    /* refusals leave the run untouched */
    float keep = b.tm.P.p[0].val[0];
    ptq_ckpt_info other = {.identity = "another-model spinquant", .rng = &b.data};
    CHECK(ptq_ckpt_load(path, &other, &b.tm.P, &b.adam, &b.cay, &err) == -1 &&
          strstr(err.msg, "another model or method"));
    CHECK(ptq_ckpt_load(path, &info, &b.tm.P, NULL, &b.cay, &err) == -1 && strstr(err.msg, "AdamW"));
    ptq_tmodel tm2;
    CHECK(ptq_tmodel_init(&tm2, &b.m, 0, &err) == 0); /* rotations only: other parameters */
    ptq_ckpt_info i2 = {.identity = id, .rng = &b.data};
    CHECK(ptq_ckpt_load(path, &i2, &tm2.P, NULL, NULL, &err) == -1 && strstr(err.msg, "parameters"));
    ptq_tmodel_free(&tm2);
    char *data;
    size_t len;
    CHECK(ptq_read_file(path, &data, &len, &err) == 0);
    data[len / 2] ^= 1;
    CHECK(ptq_write_file_atomic(path, data, len, &err) == 0);
    CHECK(ptq_ckpt_load(path, &info, &b.tm.P, &b.adam, &b.cay, &err) == -1 && strstr(err.msg, "checksum"));
    CHECK(ptq_write_file_atomic(path, data, len / 3, &err) == 0);
    CHECK(ptq_ckpt_load(path, &info, &b.tm.P, &b.adam, &b.cay, &err) == -1);
    free(data);
    CHECK(b.tm.P.p[0].val[0] == keep);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(!ptq_file_exists(tmp));
    remove(path);
    CHECK(ptq_ckpt_save("/nonexistent-dir/x.ckpt", &info, &b.tm.P, NULL, NULL, &err) == -1 &&
          strstr(err.msg, "/nonexistent-dir/x.ckpt"));

    CHECK(ptq_train_check_loss(NAN, 17, "spinquant", &err) == -1 && strstr(err.msg, "at step 17") &&
          strstr(err.msg, "spinquant"));
    CHECK(ptq_train_check_loss(INFINITY, 3, "x", &err) == -1);
    run_free(&a);
    run_free(&b);
}

/* ---- ptq_train_loop: kill -9 and resume ---- */

static int g_kill_at = -1; /* the child kills itself when asked for this step's batch */

static int batch(void *ctx, long step, int w, ptq_rng *r, int *tok, int *tgt, int *T, ptq_err *err) {
    (void)ctx, (void)w, (void)err;
    if (step == g_kill_at) raise(SIGKILL);
    *T = 8 + (int)(step % 5);
    for (int t = 0; t < *T; t++)
        tok[t] = (int)(ptq_rng_u64(r) % 5);
    for (int t = 0; t < *T; t++)
        tgt[t] = t + 1 < *T ? tok[t + 1] : -1;
    return 0;
}

static ptq_train_loop_opts loop_opts(run *r, const char *path, double *losses) {
    return (ptq_train_loop_opts){.label = "loop-test",
                                 .steps = 12,
                                 .accum = 2,
                                 .clip = 1.0,
                                 .adam = &r->adam,
                                 .lr = 3e-2,
                                 .lr_min = 3e-3,
                                 .warmup = 2,
                                 .cay = &r->cay,
                                 .cay_lr = 0.2,
                                 .ckpt_path = path,
                                 .ckpt_every = 3,
                                 .identity = "tiny loop-test",
                                 .seed = 99,
                                 .batch = batch,
                                 .losses = losses,
                                 .quiet = 1};
}

/* Runs first in main: fork before any OpenMP thread pool exists. */
static void test_loop_kill(void) {
    char path[256], path2[256];
    snprintf(path, sizeof path, "/tmp/ptq_test_loop_%ld.ckpt", (long)getpid());
    snprintf(path2, sizeof path2, "/tmp/ptq_test_loop_%ld_b.ckpt", (long)getpid());
    remove(path), remove(path2);
    pid_t pid = fork();
    if (pid == 0) { /* killed at step 7's batch: the checkpoint of step 6 is on disk */
        run c;
        ptq_err e;
        run_init(&c);
        g_kill_at = 7;
        ptq_train_loop_opts o = loop_opts(&c, path, NULL);
        ptq_train_loop(&c.tm, c.tp, &o, &e);
        _exit(3); /* not reached */
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK(ptq_file_exists(path));
    ptq_err err;
    run a, b;
    double la[12], lb[12];
    run_init(&a);
    ptq_train_loop_opts oa = loop_opts(&a, path2, la);
    CHECK(ptq_train_loop(&a.tm, a.tp, &oa, &err) == 0);
    run_init(&b);
    ptq_train_loop_opts ob = loop_opts(&b, path, lb);
    CHECK(ptq_train_loop(&b.tm, b.tp, &ob, &err) == 0);
    CHECK(same_state(&a, &b));
    CHECK(isnan(lb[5]) && lb[6] == la[6] && lb[11] == la[11]);
    CHECK(la[11] < la[0]);
    printf("loop: killed (SIGKILL) at step 7, resumed from the step-6 checkpoint: final state %s; loss %.4f -> %.4f\n",
           same_state(&a, &b) ? "bit-identical" : "DIFFERENT", la[0], la[11]);
    /* a finished run resumes to nothing; a checkpoint of another run is refused */
    CHECK(ptq_train_loop(&b.tm, b.tp, &ob, &err) == 0);
    ob.identity = "other-model loop-test";
    CHECK(ptq_train_loop(&b.tm, b.tp, &ob, &err) == -1 && strstr(err.msg, "another model or method"));
    ob.identity = "tiny loop-test", ob.steps = 0;
    CHECK(ptq_train_loop(&b.tm, b.tp, &ob, &err) == -1 && strstr(err.msg, "steps must be positive"));
    remove(path), remove(path2);
    /* a non-finite loss names the step */
    run_free(&b);
    run_init(&b);
    b.m.layers[0].rms_att[3] = NAN;
    ob = loop_opts(&b, NULL, NULL);
    CHECK(ptq_train_loop(&b.tm, b.tp, &ob, &err) == -1 && strstr(err.msg, "loop-test: ") &&
          strstr(err.msg, "is not finite") && strstr(err.msg, "at step 0"));
    printf("NaN weight: %s\n", err.msg);
    run_free(&b);
    run_init(&b);
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            b.m.layers[l].lin[j].aq.bits = 16; /* no quantizer to clamp it */
    b.m.layers[1].rms_ffn[2] = INFINITY;
    ob = loop_opts(&b, NULL, NULL);
    CHECK(ptq_train_loop(&b.tm, b.tp, &ob, &err) == -1 && strstr(err.msg, "loop-test: loss is not finite") &&
          strstr(err.msg, "at step 0"));
    printf("inf weight: %s\n", err.msg);
    run_free(&a);
    run_free(&b);
}

/* ---- line search + best iterate on a fixed window set ---- */

static long g_fail_at = -1; /* the batch provider fails at this step (an interrupted run) */

static int fixed_batch(void *ctx, long step, int w, ptq_rng *r, int *tok, int *tgt, int *T, ptq_err *err) {
    (void)ctx, (void)r;
    if (step == g_fail_at) return ptq_fail(err, "interrupted at step %ld", step);
    ptq_rng q;
    ptq_rng_seed(&q, 1000 + (uint64_t)w); /* the same windows at every step */
    *T = 12;
    for (int t = 0; t < *T; t++)
        tok[t] = (int)(ptq_rng_u64(&q) % 5);
    for (int t = 0; t < *T; t++)
        tgt[t] = t + 1 < *T ? tok[t + 1] : -1;
    return 0;
}

/* 3-bit activations and a random lm_head (zero in make_model): the loss
 * depends on the rotation. */
static void coarse(run *r) {
    ptq_rng q;
    ptq_rng_seed(&q, 31);
    for (int i = 0; i < r->m.lm_head.out * r->m.lm_head.in; i++)
        r->m.lm_head.w[i] = (float)ptq_rng_normal(&q);
    for (int l = 0; l < r->m.cfg.n_layers; l++)
        for (int j = 0; j < PTQ_LIN_COUNT; j++)
            r->m.layers[l].lin[j].aq.bits = 3;
}

/* Cayley SGD alone with keep_best and a line search: every recorded step
 * lowers the objective (a step where no size does is the last), the loop
 * ends on an iterate whose objective (scored
 * again here) is the best loss it reports, below the start; an interrupted
 * run resumes (best iterate from the checkpoint) to the same bits; a line
 * search without keep_best is refused. */
static void test_line_search(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/ptq_test_ls_%ld.ckpt", (long)getpid());
    remove(path);
    ptq_err err = {{0}};
    run a, b;
    run_init(&a), run_init(&b);
    coarse(&a), coarse(&b);
    double la[10], lb[10], best = NAN, bestb = NAN;
    long bstep = -1;
    ptq_train_loop_opts o = {.label = "ls-test",
                             .steps = 10,
                             .accum = 3,
                             .cay = &a.cay,
                             .cay_lr = 0.5,
                             .identity = "tiny ls-test",
                             .seed = 7,
                             .batch = fixed_batch,
                             .losses = la,
                             .quiet = 1,
                             .keep_best = 1,
                             .line_search = 6,
                             .best_loss = &best,
                             .best_step = &bstep};
    CHECK(ptq_train_loop(&a.tm, a.tp, &o, &err) == 0);
    int run_steps = 0, down = 1;
    for (int s = 0; s < 10 && isfinite(la[s]); s++, run_steps++)
        if (s > 0) down &= la[s] < la[s - 1];
    double f = 0;
    int tok[12], tgt[12], T;
    for (int w = 0; w < 3; w++) {
        double l;
        CHECK(fixed_batch(NULL, 0, w, NULL, tok, tgt, &T, &err) == 0);
        CHECK(ptq_train_forward(&a.tm, a.tp, tok, tgt, T, NULL, &l, &err) == 0);
        f += l / 3;
    }
    printf("line search: loss %.5f -> %.5f over %d steps (iterate %ld kept), objective at the end %.5f\n", la[0], best,
           run_steps, bstep, f);
    CHECK(run_steps >= 2 && down && best < la[0] && f == best && bstep == (run_steps == 10 ? 10 : run_steps - 1));
    /* interrupted at step 5 (checkpoint of step 4 on disk), resumed: the same end */
    o.cay = &b.cay, o.losses = lb, o.best_loss = &bestb, o.ckpt_path = path, o.ckpt_every = 2;
    g_fail_at = 5;
    CHECK(ptq_train_loop(&b.tm, b.tp, &o, &err) == -1 && strstr(err.msg, "interrupted at step 5"));
    run_free(&b);
    run_init(&b);
    coarse(&b);
    o.cay = &b.cay;
    g_fail_at = -1;
    CHECK(ptq_train_loop(&b.tm, b.tp, &o, &err) == 0);
    CHECK(same_state(&a, &b) && bestb == best);
    /* a line search needs keep_best */
    o.keep_best = 0, o.ckpt_path = NULL;
    CHECK(ptq_train_loop(&b.tm, b.tp, &o, &err) == -1 && strstr(err.msg, "line search needs keep_best"));
    remove(path);
    run_free(&a), run_free(&b);
}

int main(void) {
    ptq_rng_seed(&rng, 1);
    test_loop_kill();
    test_schedule();
    test_adamw();
    test_cayley();
    test_loop_and_resume();
    test_line_search();
    return tu_done("test_train_optim");
}
