/* ops.c — forward/backward pairs of the training ops (ops.h). The forwards
 * mirror forward.c line for line (same products through ptq_sgemm with the
 * same shapes, same float expressions), so the training forward reproduces
 * the evaluation forward's values and quantizer decisions. Reductions over
 * rows run in a fixed order (columns in parallel, rows sequential), so the
 * gradients do not depend on the thread count either. */
#include "ops.h"

#include <math.h>
#include <string.h>

#include "matmul.h"
#include "model.h"
#include "uniform.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__FAST_MATH__)
/* The vector expf forward.c uses (libmvec): same values in the same loops. */
float expf(float) __attribute__((__simd__("notinbranch")));
#endif

void ptq_embedding_forward(float *out, const int *tokens, int T, const float *E, int d) {
    for (int t = 0; t < T; t++)
        memcpy(out + (size_t)t * d, E + (size_t)tokens[t] * d, d * sizeof(float));
}

void ptq_embedding_backward(float *dE, const float *dout, const int *tokens, int T, int d) {
    for (int t = 0; t < T; t++) { /* sequential: a token seen twice adds in row order */
        float *g = dE + (size_t)tokens[t] * d;
        const float *s = dout + (size_t)t * d;
        for (int j = 0; j < d; j++)
            g[j] += s[j];
    }
}

/* Parallel regions only above ~32K values: on a loaded machine a region
 * costs milliseconds when a thread waits for a descheduled peer. */
#define PAR_MIN 32768L

void ptq_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int T, int n, float eps) {
#pragma omp parallel for schedule(static) if ((long)T * n > PAR_MIN)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float *o = out + (size_t)t * n;
        float ss = 0.f;
        for (int j = 0; j < n; j++)
            ss += xr[j] * xr[j];
        ss = 1.0f / sqrtf(ss / n + eps);
        rstd[t] = ss;
        for (int j = 0; j < n; j++)
            o[j] = w[j] * (ss * xr[j]);
    }
}

/* o_j = w_j r x_j with r = (mean x^2 + eps)^-1/2:
 * dx_j = r w_j g_j - (r^3 / n) x_j sum_k g_k w_k x_k;  dw_j = sum_t g_j r x_j. */
void ptq_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                          int T, int n) {
    if (dx) {
#pragma omp parallel for schedule(static) if ((long)T * n > PAR_MIN)
        for (int t = 0; t < T; t++) {
            const float *xr = x + (size_t)t * n, *g = dout + (size_t)t * n;
            float *d = dx + (size_t)t * n;
            double r = rstd[t], dot = 0;
            for (int j = 0; j < n; j++)
                dot += (double)g[j] * w[j] * xr[j];
            double c = r * r * r * dot / n;
            for (int j = 0; j < n; j++)
                d[j] += (float)(r * w[j] * g[j] - c * xr[j]);
        }
    }
    if (dw) {
#pragma omp parallel for schedule(static) if ((long)T * n > PAR_MIN)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int t = 0; t < T; t++)
                s += (double)dout[(size_t)t * n + j] * rstd[t] * x[(size_t)t * n + j];
            dw[j] += (float)s;
        }
    }
}

void ptq_matmul_forward(float *out, const float *x, const float *W, const float *b, int T, int i, int o) {
    ptq_sgemm(CblasNoTrans, CblasTrans, T, o, i, 1.f, x, i, W, i, 0.f, out, o);
    if (b)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < o; j++)
                out[(size_t)t * o + j] += b[j];
}

void ptq_matmul_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W, int T,
                         int i, int o) {
    if (dx) ptq_sgemm(CblasNoTrans, CblasNoTrans, T, i, o, 1.f, dout, o, W, i, 1.f, dx, i);
    if (dW) ptq_sgemm(CblasTrans, CblasNoTrans, o, i, T, 1.f, dout, o, x, i, 1.f, dW, i);
    if (db) {
#pragma omp parallel for schedule(static) if ((long)T * o > PAR_MIN)
        for (int j = 0; j < o; j++) {
            double s = 0;
            for (int t = 0; t < T; t++)
                s += dout[(size_t)t * o + j];
            db[j] += (float)s;
        }
    }
}

/* x viewed as (T n / b) rows of b values: one product for every block. */
void ptq_rotate_forward(float *y, const float *x, const float *R, int T, int n, int b) {
    int rows = (int)((long)T * n / b);
    ptq_sgemm(CblasNoTrans, CblasNoTrans, rows, b, b, 1.f, x, b, R, b, 0.f, y, b);
}

void ptq_rotate_backward(float *dx, float *dR, const float *dy, const float *x, const float *R, int T, int n, int b) {
    int rows = (int)((long)T * n / b);
    if (dx) ptq_sgemm(CblasNoTrans, CblasTrans, rows, b, b, 1.f, dy, b, R, b, 1.f, dx, b);
    if (dR) ptq_sgemm(CblasTrans, CblasNoTrans, b, b, rows, 1.f, x, b, dy, b, 1.f, dR, b);
}

/* The pair rotated by (cos, sin) at frequency i: interleaved or HF halves. */
static void rope_rows(float *x, const float *cos_t, const float *sin_t, int T, int nheads, int hd, int style, int pos0,
                      float sign) {
    int half = hd / 2;
    for (int t = 0; t < T; t++) {
        const float *cs = cos_t + (size_t)(pos0 + t) * half, *sn = sin_t + (size_t)(pos0 + t) * half;
        for (int h = 0; h < nheads; h++) {
            float *v = x + ((size_t)t * nheads + h) * hd;
            for (int i = 0; i < half; i++) {
                int a = style == PTQ_ROPE_HALF ? i : 2 * i;
                int b = style == PTQ_ROPE_HALF ? i + half : 2 * i + 1;
                float v0 = v[a], v1 = v[b], s = sign * sn[i];
                v[a] = v0 * cs[i] - v1 * s;
                v[b] = v0 * s + v1 * cs[i];
            }
        }
    }
}

void ptq_rope_forward(float *x, const float *cos_t, const float *sin_t, int T, int nheads, int hd, int style,
                      int pos0) {
    rope_rows(x, cos_t, sin_t, T, nheads, hd, style, pos0, 1.f);
}

/* A rotation's transpose is the rotation by -angle. */
void ptq_rope_backward(float *dx, const float *cos_t, const float *sin_t, int T, int nheads, int hd, int style,
                       int pos0) {
    rope_rows(dx, cos_t, sin_t, T, nheads, hd, style, pos0, -1.f);
}

void ptq_attention_forward(float *out, float *P, const float *q, const float *k, const float *v, int T, int nh, int nkv,
                           int hd) {
    int qd = nh * hd, kvd = nkv * hd, group = nh / nkv;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(dynamic, 1) if ((long)T * T * nh * hd > PAR_MIN)
    for (int h = 0; h < nh; h++) {
        float *S = P + (size_t)h * T * T;
        int kvh = h / group;
        ptq_sgemm(CblasNoTrans, CblasTrans, T, T, hd, scale, q + (size_t)h * hd, qd, k + (size_t)kvh * hd, kvd, 0.f, S,
                  T);
        for (int t = 0; t < T; t++)
            ptq_softmax_causal(S + (size_t)t * T, t + 1, T);
        ptq_sgemm(CblasNoTrans, CblasNoTrans, T, hd, T, 1.f, S, T, v + (size_t)kvh * hd, kvd, 0.f, out + (size_t)h * hd,
                  qd);
    }
}

/* Per KV head (its query heads in order, so dk/dv sums are race-free and
 * in a fixed order): dP = dO V^T, dV += P^T dO, dS = P (dP - rowsum(dP P)),
 * dQ += scale dS K, dK += scale dS^T Q. */
void ptq_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *P, const float *q,
                            const float *k, const float *v, int T, int nh, int nkv, int hd, float *scratch) {
    int qd = nh * hd, kvd = nkv * hd, group = nh / nkv;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(dynamic, 1) if (nkv >= ptq_num_threads() && (long)T * T * nh * hd > PAR_MIN)
    for (int kvh = 0; kvh < nkv; kvh++) {
        float *dS = scratch + (size_t)ptq_thread_id() * 2 * T * T;
        const float *kh = k + (size_t)kvh * hd, *vh = v + (size_t)kvh * hd;
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            const float *Ph = P + (size_t)h * T * T, *dO = dout + (size_t)h * hd;
            ptq_sgemm(CblasNoTrans, CblasTrans, T, T, hd, 1.f, dO, qd, vh, kvd, 0.f, dS, T);
            if (dv) ptq_sgemm(CblasTrans, CblasNoTrans, T, hd, T, 1.f, Ph, T, dO, qd, 1.f, dv + (size_t)kvh * hd, kvd);
            for (int t = 0; t < T; t++) {
                const float *p = Ph + (size_t)t * T;
                float *d = dS + (size_t)t * T;
                double dot = 0;
                for (int j = 0; j <= t; j++)
                    dot += (double)p[j] * d[j];
                for (int j = 0; j <= t; j++)
                    d[j] = (float)(p[j] * (d[j] - dot));
                for (int j = t + 1; j < T; j++)
                    d[j] = 0.f;
            }
            if (dq)
                ptq_sgemm(CblasNoTrans, CblasNoTrans, T, hd, T, scale, dS, T, kh, kvd, 1.f, dq + (size_t)h * hd, qd);
            if (dk)
                ptq_sgemm(CblasTrans, CblasNoTrans, T, hd, T, scale, dS, T, q + (size_t)h * hd, qd, 1.f,
                          dk + (size_t)kvh * hd, kvd);
        }
    }
}

/* The forward's SiLU product (model/forward.c: fixed blocks, the same bits at any thread count). */
void ptq_swiglu_forward(float *out, const float *g, const float *u, size_t n) { ptq_silu_mul(out, g, u, n); }

/* silu(g) = g s, s = sigmoid(g); silu' = s (1 + g (1 - s)). */
void ptq_swiglu_backward(float *dg, float *du, const float *dout, const float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float x = g[i], s = 1.0f / (1.0f + expf(-x));
        if (dg) dg[i] += dout[i] * u[i] * s * (1.0f + x * (1.0f - s));
        if (du) du[i] += dout[i] * x * s;
    }
}

void ptq_residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void ptq_residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

double ptq_crossentropy_forward(float *probs, const float *logits, const int *targets, int T, int V) {
    double total = 0;
    int counted = 0;
    for (int t = 0; t < T; t++) { /* rows in order: a fixed summation order */
        const float *l = logits + (size_t)t * V;
        float *p = probs + (size_t)t * V;
        float mx = l[0];
        for (int j = 1; j < V; j++)
            mx = l[j] > mx ? l[j] : mx;
        double sum = 0;
        for (int j = 0; j < V; j++) {
            p[j] = expf(l[j] - mx);
            sum += p[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < V; j++)
            p[j] *= inv;
        if (targets[t] < 0) continue;
        total += log(sum) + mx - l[targets[t]];
        counted++;
    }
    return counted ? total / counted : NAN;
}

void ptq_crossentropy_backward(float *dlogits, const float *probs, const int *targets, int T, int V, float scale) {
    int counted = 0;
    for (int t = 0; t < T; t++)
        counted += targets[t] >= 0;
    if (!counted) return;
    float c = scale / counted;
#pragma omp parallel for schedule(static) if ((long)T * V > PAR_MIN)
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        const float *p = probs + (size_t)t * V;
        float *d = dlogits + (size_t)t * V;
        for (int j = 0; j < V; j++)
            d[j] += c * p[j];
        d[targets[t]] -= c;
    }
}

double ptq_mse_forward(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        s += e * e;
    }
    return n ? s / n : 0;
}

void ptq_mse_backward(float *da, const float *a, const float *b, size_t n, float scale) {
    double c = 2.0 * scale / (double)n;
    for (size_t i = 0; i < n; i++)
        da[i] += (float)(c * ((double)a[i] - b[i]));
}

/* ptq_fq_rows's values, plus where the code was not clamped. */
void ptq_fq_ste_forward(float *xq, unsigned char *mask, const float *x, int rows, int n, const ptq_act_qspec *q) {
    size_t N = (size_t)rows * n;
    if (xq != x) memcpy(xq, x, N * sizeof(float));
    if (!q || q->bits >= 16 || q->bits <= 0) {
        memset(mask, 1, N);
        return;
    }
    ptq_fq_rows(xq, rows, n, q);
    int g = q->group > 0 && q->group < n ? q->group : n, maxq = ptq_uq_maxq(q->bits);
    float clip = q->clip > 0.f ? q->clip : 1.f;
#pragma omp parallel for schedule(static) if ((long)rows * n > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * n;
        unsigned char *m = mask + (size_t)r * n;
        for (int j = 0; j < n; j += g) {
            int len = PTQ_MIN(g, n - j), zero;
            float lo, hi, scale;
            ptq_uq_range(row + j, len, clip, &lo, &hi);
            ptq_uq_grid(lo, hi, q->bits, q->sym, &scale, &zero);
            for (int i = j; i < j + len; i++) {
                float c = scale == 0.f ? (float)zero : nearbyintf(row[i] / scale) + (float)zero;
                m[i] = c >= 0.f && c <= (float)maxq;
            }
        }
    }
}

void ptq_fq_ste_backward(float *dx, const float *dxq, const unsigned char *mask, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (mask[i]) dx[i] += dxq[i];
}

void ptq_householder_forward(float *H, const float *u, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)u[i] * u[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            H[(size_t)i * n + j] = (float)((i == j) - 2.0 * u[i] * u[j] / s);
}

/* H_ij = d_ij - 2 u_i u_j / s, s = u.u:
 * du = -(2/s)(dH + dH^T) u + (4/s^2)(u^T dH u) u. */
void ptq_householder_backward(float *du, const float *dH, const float *u, int n) {
    double s = 0, quad = 0;
    for (int i = 0; i < n; i++)
        s += (double)u[i] * u[i];
    for (int i = 0; i < n; i++) {
        double a = 0;
        for (int j = 0; j < n; j++)
            a += (double)dH[(size_t)i * n + j] * u[j];
        quad += u[i] * a;
    }
    for (int k = 0; k < n; k++) {
        double a = 0;
        for (int j = 0; j < n; j++)
            a += ((double)dH[(size_t)k * n + j] + dH[(size_t)j * n + k]) * u[j];
        du[k] += (float)(-2.0 / s * a + 4.0 / (s * s) * quad * u[k]);
    }
}
