/* optim.c — learning-rate schedule, AdamW, Cayley SGD on the Stiefel
 * manifold, and the progress line (train.h).
 *
 * Cayley SGD is SpinQuant's SGDG (train_utils/optimizer.py, METHODS.md §6)
 * for square matrices: rows of X normalised; with probability 1/101 a QR
 * re-orthonormalisation (signs fixed so diag(R) > 0); V = momentum V - G^T;
 * W^ = V X - 1/2 X^T (X V X); W = W^ - W^T (skew); t = min(lr, 1/(|W|_1 + eps));
 * Y = X^T + t V, then 5 times Y = X^T + t W (X^T + Y)/2; X <- Y^T; V <- W X^T.
 * Products in float through ptq_sgemm (thread-count independent); the QR in
 * double through LAPACKE on one BLAS thread.
 * Deviation: five fixed-point iterations leave X off the manifold by up to
 * ~(t |W| / 2)^5 (1e-3 when the step-size cap t = 1/|W|_1 is active, 3e-5
 * with momentum 0.9, measured in test_train_optim); SpinQuant lets that
 * drift until its random QR. Here a QR re-orthonormalisation also runs
 * whenever max |X X^T - I| exceeds orth_tol (default 1e-6; 0 = never), so
 * rotations stay orthogonal to 1e-5 after every step. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "matmul.h"
#include "train.h"

double ptq_lr_cosine(long step, long total, long warmup, double lr_max, double lr_min) {
    if (warmup > 0 && step < warmup) return lr_max * (double)(step + 1) / (double)warmup;
    long span = total - warmup;
    if (span <= 0) return lr_max;
    double p = (double)(step - warmup) / (double)span;
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(M_PI * p));
}

static int adam_param(const ptq_param *p) {
    return p->grad && p->kind != PTQ_PK_STIEFEL;
}

int ptq_adamw_init(ptq_adamw *o, const ptq_params *P, double lr, double weight_decay, ptq_err *err) {
    memset(o, 0, sizeof *o);
    o->lr = lr, o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8, o->weight_decay = weight_decay, o->n = P->n;
    if (!(o->m = ptq_calloc(P->n ? P->n : 1, sizeof(float *), err)) ||
        !(o->v = ptq_calloc(P->n ? P->n : 1, sizeof(float *), err)))
        goto fail;
    for (int i = 0; i < P->n; i++) {
        if (!adam_param(&P->p[i])) continue;
        size_t n = (size_t)ptq_param_size(&P->p[i]);
        if (!(o->m[i] = ptq_calloc(n, sizeof(float), err)) || !(o->v[i] = ptq_calloc(n, sizeof(float), err))) goto fail;
    }
    return 0;
fail:
    ptq_adamw_free(o);
    return ptq_wrap(err, "AdamW state");
}

void ptq_adamw_step(ptq_adamw *o, ptq_params *P, double lr) {
    o->t++;
    double b1 = o->beta1, b2 = o->beta2, c1 = 1.0 - pow(b1, (double)o->t), c2 = 1.0 - pow(b2, (double)o->t);
    for (int i = 0; i < o->n && i < P->n; i++) {
        ptq_param *p = &P->p[i];
        if (!o->m[i] || !p->grad) continue;
        long n = ptq_param_size(p);
        float *w = p->val, *g = p->grad, *m = o->m[i], *v = o->v[i];
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long j = 0; j < n; j++) {
            double gj = g[j], mj = b1 * m[j] + (1 - b1) * gj, vj = b2 * v[j] + (1 - b2) * gj * gj;
            m[j] = (float)mj, v[j] = (float)vj;
            double upd = (mj / c1) / (sqrt(vj / c2) + o->eps) + o->weight_decay * w[j];
            w[j] = (float)(w[j] - lr * upd);
        }
    }
}

void ptq_adamw_free(ptq_adamw *o) {
    for (int i = 0; i < o->n; i++) {
        if (o->m) free(o->m[i]);
        if (o->v) free(o->v[i]);
    }
    free(o->m), free(o->v);
    memset(o, 0, sizeof *o);
}

/* ---- Cayley SGD ---- */

int ptq_cayley_init(ptq_cayley *o, const ptq_params *P, double momentum, uint64_t seed, ptq_err *err) {
    memset(o, 0, sizeof *o);
    o->momentum = momentum, o->eps = 1e-8, o->n = P->n, o->orth_tol = 1e-6;
    ptq_rng_seed(&o->rng, seed);
    if (!(o->buf = ptq_calloc(P->n ? P->n : 1, sizeof(float *), err))) return ptq_wrap(err, "Cayley SGD state");
    for (int i = 0; i < P->n; i++) {
        const ptq_param *p = &P->p[i];
        if (p->kind != PTQ_PK_STIEFEL || !p->grad) continue;
        if (!(o->buf[i] = ptq_calloc((size_t)p->rows * p->cols, sizeof(float), err))) {
            ptq_cayley_free(o);
            return ptq_wrap(err, "Cayley SGD state");
        }
    }
    return 0;
}

void ptq_cayley_free(ptq_cayley *o) {
    for (int i = 0; i < o->n && o->buf; i++)
        free(o->buf[i]);
    free(o->buf);
    memset(o, 0, sizeof *o);
}

double ptq_orth_error(const float *M, int n) {
    double e = 0;
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += (double)M[(size_t)i * n + k] * M[(size_t)j * n + k];
            e = fmax(e, fabs(s - (i == j)));
        }
    return e;
}

/* X <- Q of X^T = QR (signs so that diag(R) > 0), transposed back. */
static int qr_retract(float *X, int n, ptq_err *err) {
    double *A = ptq_calloc((size_t)n * n, sizeof(double), err), *tau = A ? ptq_calloc(n, sizeof(double), err) : NULL;
    if (!tau) {
        free(A);
        return ptq_wrap(err, "QR re-orthonormalisation");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            A[(size_t)i * n + j] = X[(size_t)j * n + i]; /* A = X^T */
    int tok = ptq_blas_serial_begin();
    int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, A, n, tau);
    double *sgn = ptq_calloc(n, sizeof(double), NULL);
    if (!info && sgn) {
        for (int i = 0; i < n; i++)
            sgn[i] = A[(size_t)i * n + i] < 0 ? -1.0 : 1.0;
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, A, n, tau);
    }
    ptq_blas_serial_end(tok);
    if (info || !sgn) {
        free(A), free(tau), free(sgn);
        return ptq_fail(err, "QR re-orthonormalisation failed (LAPACK info %d)", info);
    }
    for (int i = 0; i < n; i++) /* Q column j times sign(R_jj); X = Q^T */
        for (int j = 0; j < n; j++)
            X[(size_t)j * n + i] = (float)(A[(size_t)i * n + j] * sgn[j]);
    free(A), free(tau), free(sgn);
    return 0;
}

static void transpose(float *dst, const float *src, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            dst[(size_t)j * n + i] = src[(size_t)i * n + j];
}

static int cayley_one(ptq_cayley *o, ptq_param *p, float *V, double lr, ptq_err *err) {
    int n = p->rows;
    size_t nn = (size_t)n * n;
    float *X = p->val, *G = p->grad;
    float *buf = ptq_calloc(5 * nn, sizeof(float), err);
    if (!buf) return ptq_wrap(err, "Cayley step of %s", p->name);
    float *MX = buf, *T1 = buf + nn, *W = buf + 2 * nn, *Xt = buf + 3 * nn, *Y = buf + 4 * nn;
    for (int i = 0; i < n; i++) { /* unit rows */
        double s = 0;
        for (int j = 0; j < n; j++)
            s += (double)X[(size_t)i * n + j] * X[(size_t)i * n + j];
        float inv = (float)(1.0 / sqrt(s));
        for (int j = 0; j < n; j++)
            X[(size_t)i * n + j] *= inv;
    }
    int qr = o->qr_every > 0 ? o->t % o->qr_every == 0 : ptq_rng_u64(&o->rng) % 101 == 0;
    if (qr && qr_retract(X, n, err)) {
        free(buf);
        return ptq_wrap(err, "Cayley step of %s", p->name);
    }
    for (int i = 0; i < n; i++) /* V = momentum V - G^T */
        for (int j = 0; j < n; j++)
            V[(size_t)i * n + j] = (float)(o->momentum * V[(size_t)i * n + j]) - G[(size_t)j * n + i];
    ptq_sgemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.f, V, n, X, n, 0.f, MX, n);  /* MX = V X */
    ptq_sgemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.f, X, n, MX, n, 0.f, T1, n); /* X MX */
    ptq_sgemm(CblasTrans, CblasNoTrans, n, n, n, -0.5f, X, n, T1, n, 1.f, MX, n); /* W^ = MX - X^T X MX / 2 */
    double norm1 = 0;
    for (int j = 0; j < n; j++) { /* W = W^ - W^T; |W|_1 = max column sum */
        for (int i = 0; i < n; i++)
            W[(size_t)i * n + j] = MX[(size_t)i * n + j] - MX[(size_t)j * n + i];
    }
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += fabs(W[(size_t)i * n + j]);
        norm1 = fmax(norm1, s);
    }
    if (!isfinite(norm1)) {
        free(buf);
        return ptq_fail(err, "Cayley step of %s: the gradient is not finite", p->name);
    }
    float t = (float)fmin(lr, 1.0 / (norm1 + o->eps));
    transpose(Xt, X, n);
    for (size_t i = 0; i < nn; i++)
        Y[i] = Xt[i] + t * V[i];
    for (int it = 0; it < 5; it++) { /* Y = X^T + t W (X^T + Y) / 2 */
        for (size_t i = 0; i < nn; i++)
            T1[i] = 0.5f * (Xt[i] + Y[i]);
        memcpy(Y, Xt, nn * sizeof(float));
        ptq_sgemm(CblasNoTrans, CblasNoTrans, n, n, n, t, W, n, T1, n, 1.f, Y, n);
    }
    transpose(X, Y, n);
    ptq_sgemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.f, W, n, Xt, n, 0.f, V, n); /* V = W X^T */
    if (o->orth_tol > 0) {                                                       /* drift check: max |X X^T - I| */
        ptq_sgemm(CblasNoTrans, CblasTrans, n, n, n, 1.f, X, n, X, n, 0.f, T1, n);
        double e = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                e = fmax(e, fabs(T1[(size_t)i * n + j] - (i == j)));
        if (e > o->orth_tol) {
            o->n_fixed++;
            if (qr_retract(X, n, err)) {
                free(buf);
                return ptq_wrap(err, "Cayley step of %s", p->name);
            }
        }
    }
    free(buf);
    return 0;
}

int ptq_cayley_step(ptq_cayley *o, ptq_params *P, double lr, ptq_err *err) {
    for (int i = 0; i < o->n && i < P->n; i++)
        if (o->buf[i] && cayley_one(o, &P->p[i], o->buf[i], lr, err)) return -1;
    o->t++;
    return 0;
}

/* ---- progress ---- */

void ptq_train_progress_start(ptq_train_progress *p, const char *label, long step0, long total) {
    memset(p, 0, sizeof *p);
    p->label = label, p->step0 = step0, p->total = total, p->t0 = ptq_now_sec();
    p->tty = isatty(fileno(stderr)) && !getenv("CI");
}

void ptq_train_progress_update(ptq_train_progress *p, long step, double loss, long tokens) {
    p->tokens += tokens;
    double now = ptq_now_sec(), el = now - p->t0;
    long done = step - p->step0, left = p->total - step;
    int last = step >= p->total, every = (int)(p->total / 10 > 0 ? p->total / 10 : 1);
    if (p->tty ? now - p->last < 0.2 && !last : step % every && !last) return;
    p->last = now;
    double eta = done > 0 ? el / done * left : 0;
    char val[32] = "";
    if (p->val && isfinite(*p->val)) snprintf(val, sizeof val, " val %.4f", *p->val);
    else if (p->val) snprintf(val, sizeof val, " val -");
    fprintf(stderr, "%s%s step %ld/%ld loss %.4f%s %.0f tok/s ETA %.0fs%s", p->tty ? "\r" : "", p->label, step, p->total,
            loss, val, el > 0 ? p->tokens / el : 0.0, eta, p->tty ? "   " : "\n");
    fflush(stderr);
}

void ptq_train_progress_end(ptq_train_progress *p) {
    if (p->tty) fprintf(stderr, " %.1fs\n", ptq_now_sec() - p->t0);
}

int ptq_train_check_loss(double loss, long step, const char *what, ptq_err *err) {
    if (isfinite(loss)) return 0;
    return ptq_fail(err, "%s: loss is not finite (%g) at step %ld", what, loss, step);
}
