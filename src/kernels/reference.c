/* reference.c — naive reference twins of the kernels (reference.h). Every
 * loop here is the definition of the result, nothing is blocked, vectorized
 * or threaded. */
#include "reference.h"
#include "w16.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

static void *zalloc64(size_t bytes) {
    size_t b = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, b ? b : 64);
    if (p) memset(p, 0, b ? b : 64);
    return p;
}

/* ---- packed weights ------------------------------------------------------ */

int ptq_kplanes_ref(int bits, int plane_bits[4]) {
    int n = 0;
    for (int left = bits; left > 0; n++) {
        plane_bits[n] = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        left -= plane_bits[n];
    }
    return n;
}

/* Where bit b of the plane-`plane` part of the code at (r, k) lives: the
 * 32-bit lane of row r in its 16-row block and (32/p)-column block; lane bits
 * [8j + p s, 8j + p s + p) hold column 4s + j of the block. Returns the byte
 * offset in p->data and the bit in that byte. */
static size_t plane_bit(const ptq_kpacked *p, int plane, int r, int k, int b, int *bit) {
    int pb = p->plane_bits[plane], cols = 32 / pb, blocks = p->kpad / cols;
    int s = (k % cols) / 4, j = k % 4, lane_bit = 8 * j + pb * s + b;
    size_t lane = ((size_t)(r / PTQ_KP_RB) * blocks + k / cols) * PTQ_KP_RB + r % PTQ_KP_RB;
    *bit = lane_bit % 8;
    return p->plane_off[plane] + 4 * lane + lane_bit / 8;
}

/* Stored code: the unsigned code, or for 8 bits the code minus 128 as a byte. */
static int stored_of(int bits, int u) { return bits == 8 ? (u + 128) % 256 : u; }
static int signed_of(int bits, int c) { return bits == 8 && c >= 128 ? c - 256 : c; }

static int read_stored(const ptq_kpacked *p, int r, int k) {
    int c = 0, shift = 0;
    for (int i = 0; i < p->nplanes; i++) {
        for (int b = 0; b < p->plane_bits[i]; b++) {
            int bit;
            size_t at = plane_bit(p, i, r, k, b, &bit);
            c |= ((p->data[at] >> bit) & 1) << (shift + b);
        }
        shift += p->plane_bits[i];
    }
    return c;
}

int ptq_kcode_ref(const ptq_kpacked *p, int r, int k) {
    int c = read_stored(p, r, k);
    return p->bits == 8 ? (c + 128) % 256 : c;
}

int ptq_kpack_ref(ptq_kpacked *p, const uint8_t *codes, const float *scale, const int *zero, int out, int in, int bits,
                  int group, ptq_err *err) {
    memset(p, 0, sizeof *p);
    if (out <= 0 || in <= 0 || bits < 2 || bits > 8 || group < 0 || group % 4)
        return ptq_fail(err, "kpack_ref: bad shape %dx%d, bits %d or group %d", out, in, bits, group);
    int maxq = (1 << bits) - 1, off8 = bits == 8 ? 128 : 0;
    p->out = out, p->in = in, p->bits = bits;
    p->npad = (out + 15) / 16 * 16;
    p->kpad = (in + 31) / 32 * 32;
    p->group = group > 0 && group < in ? group : p->kpad;
    p->ngroups = (in + p->group - 1) / p->group;
    p->nplanes = ptq_kplanes_ref(bits, p->plane_bits);
    for (int i = 0; i < p->nplanes; i++) {
        p->plane_off[i] = p->data_bytes;
        p->data_bytes += (size_t)p->npad * p->kpad * p->plane_bits[i] / 8;
    }
    size_t ng = (size_t)p->ngroups * p->npad;
    p->data = zalloc64(p->data_bytes);
    p->scale = zalloc64(sizeof(float) * ng);
    p->zero = zalloc64(sizeof(int16_t) * ng);
    p->csum = zalloc64(sizeof(int32_t) * ng);
    if (!p->data || !p->scale || !p->zero || !p->csum) {
        ptq_kpacked_free(p);
        return ptq_fail(err, "kpack_ref: out of memory");
    }
    for (int r = 0; r < out; r++) {
        for (int g = 0; g < p->ngroups; g++) {
            int z = zero[(size_t)r * p->ngroups + g];
            if (z < 0 || z > maxq) {
                ptq_kpacked_free(p);
                return ptq_fail(err, "kpack_ref: zero point %d outside 0..%d", z, maxq);
            }
            p->scale[(size_t)g * p->npad + r] = scale[(size_t)r * p->ngroups + g];
            p->zero[(size_t)g * p->npad + r] = (int16_t)(z - off8);
        }
        for (int k = 0; k < in; k++) {
            int u = codes[(size_t)r * in + k];
            if (u > maxq) {
                ptq_kpacked_free(p);
                return ptq_fail(err, "kpack_ref: code %d outside 0..%d", u, maxq);
            }
            int c = stored_of(bits, u), shift = 0;
            for (int i = 0; i < p->nplanes; i++) {
                for (int b = 0; b < p->plane_bits[i]; b++) {
                    int bit;
                    size_t at = plane_bit(p, i, r, k, b, &bit);
                    if ((c >> (shift + b)) & 1) p->data[at] |= (uint8_t)(1 << bit);
                }
                shift += p->plane_bits[i];
            }
            p->csum[(size_t)(k / p->group) * p->npad + r] += signed_of(bits, c);
        }
    }
    return 0;
}

void ptq_kunpack_codes_ref(const ptq_kpacked *p, uint8_t *codes) {
    for (int r = 0; r < p->out; r++)
        for (int k = 0; k < p->in; k++) codes[(size_t)r * p->in + k] = (uint8_t)ptq_kcode_ref(p, r, k);
}

/* [kpad/4][16 rows][4 columns] of signed stored codes, padding included. */
void ptq_kunpack_block_ref(const ptq_kpacked *p, int rb, int8_t *dst) {
    for (int l = 0; l < PTQ_KP_RB; l++)
        for (int k = 0; k < p->kpad; k++)
            dst[((size_t)(k / 4) * PTQ_KP_RB + l) * 4 + k % 4] =
                (int8_t)signed_of(p->bits, read_stored(p, rb * PTQ_KP_RB + l, k));
}

/* Weight (r, k) as scale * (code - zero), with the unsigned code and zero. */
static int zero_of(const ptq_kpacked *p, int r, int g) {
    return p->zero[(size_t)g * p->npad + r] + (p->bits == 8 ? 128 : 0);
}

void ptq_kdequant_ref(const ptq_kpacked *p, float *w) {
    for (int r = 0; r < p->out; r++)
        for (int k = 0; k < p->in; k++) {
            int g = k / p->group;
            w[(size_t)r * p->in + k] = p->scale[(size_t)g * p->npad + r] * (float)(ptq_kcode_ref(p, r, k) - zero_of(p, r, g));
        }
}

size_t ptq_kpacked_bytes_ref(const ptq_kpacked *p) {
    return p->data_bytes + (size_t)p->ngroups * p->npad * (sizeof(float) + sizeof(int16_t) + sizeof(int32_t)); /* as allocated */
}

/* ---- the uniform quantizer (fakequant.h) ------------------------------------
 * Range [lo, hi] always includes 0, both multiplied by clip. Symmetric:
 * maxq = 2^(b-1) - 1, scale = max(-lo, hi) / maxq, q = clamp(round(x/scale),
 * -maxq-1, maxq), code = q + maxq + 1 (the zero point). Asymmetric: maxq =
 * 2^b - 1, scale = (hi - lo) / maxq, zero = round(-lo/scale), code =
 * clamp(round(x/scale) + zero, 0, maxq). An empty range: scale 0, zero 0,
 * codes 0. round = nearbyintf (half to even). */
static void qrange_ref(const float *x, int n, int bits, int sym, float clip, float *scale, int32_t *zero) {
    float lo = 0.f, hi = 0.f;
    for (int i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    lo *= clip;
    hi *= clip;
    *scale = 0.f, *zero = 0;
    if (sym) { /* the zero point is 2^(b-1) even for an all-zero range (scale 0) */
        float maxq = (float)((1 << (bits - 1)) - 1), amax = fmaxf(-lo, hi);
        *zero = (int32_t)maxq + 1;
        if (amax != 0.f) *scale = amax / maxq;
    } else if (hi != lo) {
        float maxq = (float)((1 << bits) - 1);
        *scale = (hi - lo) / maxq;
        *zero = (int32_t)nearbyintf(-lo / *scale);
    }
}

static uint8_t qcode_ref(float x, int bits, int sym, float scale, int32_t zero) {
    if (scale == 0.f) return (uint8_t)zero; /* an all-zero range: every code at the zero point */
    if (sym) {
        float maxq = (float)((1 << (bits - 1)) - 1);
        return (uint8_t)(fminf(fmaxf(nearbyintf(x / scale), -maxq - 1.f), maxq) + (float)zero);
    }
    float maxq = (float)((1 << bits) - 1);
    return (uint8_t)fminf(fmaxf(nearbyintf(x / scale) + (float)zero, 0.f), maxq);
}

/* ---- activations and GEMM ------------------------------------------------ */

int ptq_kact_quant_ref(ptq_kacts *a, const float *x, int T, int K, int bits, int sym, float clip, int group,
                       ptq_err *err) {
    memset(a, 0, sizeof *a);
    if (T <= 0 || K <= 0 || bits < 2 || bits > 8)
        return ptq_fail(err, "kact_quant_ref: bad T=%d K=%d bits=%d", T, K, bits);
    a->T = T, a->K = K, a->bits = bits;
    a->kpad = (K + 31) / 32 * 32;
    a->group = group > 0 && group < K ? group : a->kpad;
    a->ngroups = (K + a->group - 1) / a->group;
    a->codes = calloc((size_t)T * a->kpad, 1);
    a->scale = calloc(T, sizeof(float));
    a->zero = calloc(T, sizeof(int32_t));
    a->gsum = calloc((size_t)T * a->ngroups, sizeof(int32_t));
    if (!a->codes || !a->scale || !a->zero || !a->gsum) {
        ptq_kacts_free(a);
        return ptq_fail(err, "kact_quant_ref: out of memory");
    }
    a->cap_T = T, a->cap_kpad = a->kpad, a->cap_ng = a->ngroups;
    float c = clip > 0.f ? clip : 1.f;
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * K;
        qrange_ref(xt, K, bits, sym, c, &a->scale[t], &a->zero[t]);
        for (int k = 0; k < K; k++) {
            uint8_t q = qcode_ref(xt[k], bits, sym, a->scale[t], a->zero[t]);
            a->codes[(size_t)t * a->kpad + k] = q;
            a->gsum[(size_t)t * a->ngroups + k / a->group] += q;
        }
    }
    return 0;
}

void ptq_kgemm_int_ref(const ptq_kacts *a, const ptq_kpacked *w, int64_t *Iout) {
    int ng = w->ngroups;
    memset(Iout, 0, sizeof(int64_t) * (size_t)a->T * w->out * ng);
    for (int n = 0; n < w->out; n++)
        for (int k = 0; k < w->in; k++) {
            int g = k / w->group;
            int64_t cw = ptq_kcode_ref(w, n, k) - zero_of(w, n, g);
            for (int t = 0; t < a->T; t++)
                Iout[((size_t)t * w->out + n) * ng + g] += cw * (a->codes[(size_t)t * a->kpad + k] - a->zero[t]);
        }
}

static void init_bias(int T, int out, const float *bias, double *y, double *mag) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < out; n++) {
            y[(size_t)t * out + n] = bias ? bias[n] : 0.0;
            mag[(size_t)t * out + n] = bias ? fabs(bias[n]) : 0.0;
        }
}

static double weight_ref(const ptq_kpacked *w, int n, int k) {
    int g = k / w->group;
    return (double)w->scale[(size_t)g * w->npad + n] * (ptq_kcode_ref(w, n, k) - zero_of(w, n, g));
}

void ptq_kgemm_ref(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, double *y, double *mag) {
    init_bias(a->T, w->out, bias, y, mag);
    for (int n = 0; n < w->out; n++)
        for (int k = 0; k < w->in; k++) {
            double wv = weight_ref(w, n, k);
            for (int t = 0; t < a->T; t++) {
                double xv = (double)a->scale[t] * (a->codes[(size_t)t * a->kpad + k] - a->zero[t]);
                y[(size_t)t * w->out + n] += wv * xv;
                mag[(size_t)t * w->out + n] += fabs(wv * xv);
            }
        }
}

void ptq_kgemm_bits_ref(const ptq_kacts *a, const ptq_kpacked *w, const float *bias, float *y) {
    int ng = w->ngroups;
    int64_t *I = malloc(sizeof(int64_t) * (size_t)a->T * w->out * ng);
    if (!I) abort();
    ptq_kgemm_int_ref(a, w, I);
    for (int t = 0; t < a->T; t++)
        for (int n = 0; n < w->out; n++) {
            float o = 0.f;
            for (int g = 0; g < ng; g++)
                o = fmaf(w->scale[(size_t)g * w->npad + n] * a->scale[t], (float)I[((size_t)t * w->out + n) * ng + g], o);
            y[(size_t)t * w->out + n] = o + (bias ? bias[n] : 0.f);
        }
    free(I);
}

void ptq_gemv_rows_ref(int n, int K, float alpha, int dtype, const void *W, int ldw, const float *x, float beta,
                       float *y) {
    for (int r = 0; r < n; r++) {
        float a[16] = {0};
        for (int k = 0; k < K; k++) {
            size_t i = (size_t)r * ldw + k;
            float w = dtype ? ptq_w16_to_f32(dtype, ((const uint16_t *)W)[i]) : ((const float *)W)[i];
            a[k % 16] = fmaf(w, x[k], a[k % 16]);
        }
        for (int h = 8; h > 0; h /= 2)
            for (int j = 0; j < h; j++) a[j] += a[j + h];
        float v = alpha == 1.f ? a[0] : alpha * a[0];
        y[r] = beta == 0.f ? v : fmaf(beta, y[r], v);
    }
}

void ptq_kgemm_f32_ref(const ptq_kpacked *w, const float *x, int T, const float *bias, double *y, double *mag) {
    init_bias(T, w->out, bias, y, mag);
    for (int n = 0; n < w->out; n++)
        for (int k = 0; k < w->in; k++) {
            double wv = weight_ref(w, n, k);
            for (int t = 0; t < T; t++) {
                y[(size_t)t * w->out + n] += wv * x[(size_t)t * w->in + k];
                mag[(size_t)t * w->out + n] += fabs(wv * x[(size_t)t * w->in + k]);
            }
        }
}

static float bf16_ref(float x) { return ptq_bf16_f32(ptq_bf16_round(x)); }

void ptq_kgemm_bf16_bits_ref(const ptq_kpacked *w, const float *x, int T, const float *bias, float *y) {
    int kend = (w->in + 3) / 4 * 4; /* pairs past in: activation 0 */
    for (int t = 0; t < T; t++)
        for (int n = 0; n < w->out; n++) {
            float C = 0.f;
            for (int ka = 0; ka < kend;) {
                int g = ka / w->group, kb = ka + PTQ_KBF16_CHUNK;
                if (kb > (g + 1) * w->group) kb = (g + 1) * w->group;
                if (kb > kend) kb = kend;
                float acc = 0.f;
                for (int k = ka; k < kb; k += 2)
                    for (int j = 1; j >= 0; j--) {
                        float a = k + j < w->in ? bf16_ref(x[(size_t)t * w->in + k + j]) : 0.f;
                        int d = k + j < w->in ? ptq_kcode_ref(w, n, k + j) - zero_of(w, n, g) : -zero_of(w, n, g);
                        acc = fmaf(a, (float)d, acc);
                    }
                C = fmaf(w->scale[(size_t)g * w->npad + n], acc, C);
                ka = kb;
            }
            y[(size_t)t * w->out + n] = C + (bias ? bias[n] : 0.f);
        }
}

void ptq_kgemv_bf16_int4_bits_ref(const ptq_kpacked *w, const float *x, const float *bias, float *y) {
    for (int n = 0; n < w->out; n++) {
        float acc = 0.f;
        for (int g = 0; g < w->ngroups; g++) {
            float s[4] = {0}; /* column pairs {0,1}, {2,3}, {4,5}, {6,7} of each block */
            for (int k = g * w->group; k < (g + 1) * w->group && k < w->kpad; k += 2)
                for (int j = 1; j >= 0; j--) {
                    float a = k + j < w->in ? bf16_ref(x[k + j]) : 0.f;
                    int d = k + j < w->in ? ptq_kcode_ref(w, n, k + j) - zero_of(w, n, g) : -zero_of(w, n, g);
                    s[(k % 8) / 2] = fmaf(a, (float)d, s[(k % 8) / 2]);
                }
            acc = fmaf(w->scale[(size_t)g * w->npad + n], (s[0] + s[2]) + (s[1] + s[3]), acc);
        }
        y[n] = acc + (bias ? bias[n] : 0.f);
    }
}

void ptq_kgemv_f32_ref(const ptq_kpacked *w, const float *x, const float *bias, double *y, double *mag) {
    ptq_kgemm_f32_ref(w, x, 1, bias, y, mag);
}

/* ---- KV cache: codes of one row, int8 one per byte, int4 two per byte (even column low nibble) ---- */

static int kv_code(const ptq_kvfmt *f, const uint8_t *codes, int k) {
    return f->bits == 8 ? codes[k] : (codes[k / 2] >> (4 * (k % 2))) & 15;
}

void ptq_kv_quant_row_ref(const ptq_kvfmt *f, const float *x, uint8_t *codes, float *scale, float *zero) {
    memset(codes, 0, f->row_bytes);
    for (int g = 0; g < f->ngroups; g++) {
        int32_t z;
        qrange_ref(x + (size_t)g * f->group, f->group, f->bits, f->sym, f->clip, &scale[g], &z);
        zero[g] = (float)z;
        for (int k = g * f->group; k < (g + 1) * f->group; k++) {
            uint8_t q = qcode_ref(x[k], f->bits, f->sym, scale[g], z);
            if (f->bits == 8) codes[k] = q;
            else codes[k / 2] |= (uint8_t)(q << (4 * (k % 2)));
        }
    }
}

void ptq_kv_dequant_row_ref(const ptq_kvfmt *f, const uint8_t *codes, const float *scale, const float *zero, float *x) {
    for (int k = 0; k < f->dim; k++) x[k] = scale[k / f->group] * ((float)kv_code(f, codes, k) - zero[k / f->group]);
}

double ptq_kv_dot_ref(const ptq_kvfmt *f, const float *q, const uint8_t *codes, const float *scale, const float *zero,
                      double *mag) {
    double s = 0, m = 0;
    for (int k = 0; k < f->dim; k++) {
        double v = (double)q[k] * scale[k / f->group] * (kv_code(f, codes, k) - (double)zero[k / f->group]);
        s += v, m += fabs(v);
    }
    *mag = m;
    return s;
}

void ptq_kv_axpy_ref(const ptq_kvfmt *f, float p, const uint8_t *codes, const float *scale, const float *zero,
                     double *acc, double *mag) {
    for (int k = 0; k < f->dim; k++) {
        double v = (double)p * scale[k / f->group] * (kv_code(f, codes, k) - (double)zero[k / f->group]);
        acc[k] += v, mag[k] += fabs(v);
    }
}

/* ---- online ops ----------------------------------------------------------- */

void ptq_dense_ref(const double *W, int out, int in, const float *x, int T, double *y, double *mag) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double v = W[(size_t)o * in + i] * x[(size_t)t * in + i];
                y[(size_t)t * out + o] += v, mag[(size_t)t * out + o] += fabs(v);
            }
}

/* angle 2 pi j m / n, reduced exactly first */
static double angle(long j, long m, int n) { return 2 * PI * (double)(j * m % n) / n; }

void ptq_rfft_ref(const float *x, int n, int k, double *bins) {
    for (int j = 0; j < k; j++) {
        double re = 0, im = 0;
        for (int m = 0; m < n; m++) re += x[m] * cos(angle(j, m, n)), im -= x[m] * sin(angle(j, m, n));
        bins[2 * j] = re, bins[2 * j + 1] = im;
    }
}

/* x_m = (1/n) sum_j c_j Re(X_j e^{2 pi i j m / n}); c_j = 2 for the bins
 * that stand for a conjugate pair, 1 for DC and (n even) Nyquist. */
void ptq_irfft_ref(const double *bins, int n, int k, double *x) {
    for (int m = 0; m < n; m++) {
        double s = 0;
        for (int j = 0; j < k; j++) {
            double c = (j == 0 || 2 * j == n) ? 1 : 2;
            s += c * (bins[2 * j] * cos(angle(j, m, n)) - bins[2 * j + 1] * sin(angle(j, m, n)));
        }
        x[m] = s / n;
    }
}

/* The stored coefficients already carry c_j / n: w_m = sum_j Re(coef_j e^{2 pi i j m / n}). */
void ptq_klowfreq_dense_ref(const ptq_klowfreq *lf, double *W_low) {
    int k = lf->k;
    for (int o = 0; o < lf->out; o++) {
        const float *c = lf->coef + (size_t)o * 2 * k;
        for (int m = 0; m < lf->in; m++) {
            double s = 0;
            for (int j = 0; j < k; j++) s += c[j] * cos(angle(j, m, lf->in)) - c[k + j] * sin(angle(j, m, lf->in));
            W_low[(size_t)o * lf->in + m] = s;
        }
    }
}

long ptq_kcsr_from_dense_ref(const float *D, const unsigned char *keep, int out, int in, double *S) {
    long nnz = 0;
    for (size_t i = 0; i < (size_t)out * in; i++) {
        int kept = keep ? keep[i] != 0 : D[i] != 0.f;
        S[i] = kept ? D[i] : 0.0;
        nnz += kept;
    }
    return nnz;
}

void ptq_kcsr_dense_ref(const ptq_kcsr *s, double *S) {
    memset(S, 0, sizeof(double) * s->out * s->in);
    for (int o = 0; o < s->out; o++)
        for (long p = s->rowptr[o]; p < s->rowptr[o + 1]; p++) S[(size_t)o * s->in + s->col[p]] += s->val[p];
}

int ptq_klowrank_apply_ref(const float *Q, const float *M, int d, int r, const float *x, int T, double *y,
                           double *mag) {
    double *u = calloc(4 * (size_t)r, sizeof(double)), *mu = u + r, *v = u + 2 * r, *mv = u + 3 * r;
    if (!u) return -1;
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * d;
        for (int a = 0; a < r; a++) { /* u = Q^T x */
            u[a] = mu[a] = 0;
            for (int i = 0; i < d; i++) u[a] += (double)Q[(size_t)i * r + a] * xt[i], mu[a] += fabs((double)Q[(size_t)i * r + a] * xt[i]);
        }
        for (int a = 0; a < r; a++) { /* v = M u */
            v[a] = mv[a] = 0;
            for (int b = 0; b < r; b++) v[a] += M[(size_t)a * r + b] * u[b], mv[a] += fabs((double)M[(size_t)a * r + b]) * mu[b];
        }
        for (int i = 0; i < d; i++) { /* y = x + Q v */
            double s = xt[i], m = fabs(xt[i]);
            for (int a = 0; a < r; a++) s += Q[(size_t)i * r + a] * v[a], m += fabs((double)Q[(size_t)i * r + a]) * mv[a];
            y[(size_t)t * d + i] = s, mag[(size_t)t * d + i] = m;
        }
    }
    free(u);
    return 0;
}

/* Each B-block of (x, mx): x_b <- R x_b, mx_b <- |R| mx_b (tmp: 2n). */
static void block_apply(int n, int B, const float *R, double *x, double *mx, double *tmp) {
    for (int i = 0; i < n; i++) {
        int b0 = i / B * B;
        double s = 0, m = 0;
        for (int j = 0; j < B; j++) s += R[(size_t)(i - b0) * B + j] * x[b0 + j], m += fabs((double)R[(size_t)(i - b0) * B + j]) * mx[b0 + j];
        tmp[i] = s, tmp[n + i] = m;
    }
    memcpy(x, tmp, sizeof(double) * n);
    memcpy(mx, tmp + n, sizeof(double) * n);
}

int ptq_kblockrot_apply_ref(int n, int B, const float *s, const float *R1, const int *perm, const float *R2,
                            const float *omega, const float *x, int T, double *y, double *mag) {
    double *tmp = malloc(sizeof(double) * 2 * n), wn = 0;
    if (!tmp) return -1;
    for (int i = 0; omega && i < n; i++) wn += (double)omega[i] * omega[i];
    for (int t = 0; t < T; t++) {
        double *v = y + (size_t)t * n, *mv = mag + (size_t)t * n;
        for (int i = 0; i < n; i++) {
            v[i] = (double)x[(size_t)t * n + i] * (s ? s[i] : 1.f);
            mv[i] = fabs(v[i]);
        }
        block_apply(n, B, R1, v, mv, tmp);
        if (perm) {
            for (int i = 0; i < n; i++) tmp[i] = v[perm[i]], tmp[n + i] = mv[perm[i]];
            memcpy(v, tmp, sizeof(double) * n);
            memcpy(mv, tmp + n, sizeof(double) * n);
        }
        block_apply(n, B, R2 ? R2 : R1, v, mv, tmp);
        if (omega) { /* v - 2 (v . w) w, w = omega / |omega| */
            double d = 0, md = 0;
            for (int i = 0; i < n; i++) d += v[i] * omega[i] / sqrt(wn), md += mv[i] * fabs(omega[i]) / sqrt(wn);
            for (int i = 0; i < n; i++) {
                v[i] -= 2 * d * omega[i] / sqrt(wn);
                mv[i] += 2 * md * fabs(omega[i]) / sqrt(wn);
            }
        }
    }
    free(tmp);
    return 0;
}

/* ---- Hadamard ------------------------------------------------------------------ */

static int prime_power(int q, int *p, int *e) {
    if (q < 2) return 0;
    int d = 2;
    while (q % d) d++;
    *p = d, *e = 0;
    while (q % d == 0) q /= d, ++*e;
    return q == 1;
}

/* hadamard.c's H_K: Paley I when q = K - 1 is a prime power = 3 mod 4, else
 * Paley II when q = K/2 - 1 is a prime power = 1 mod 4 (fields GF(p^e), e <= 3,
 * K <= 1024). Returns the type (0: none) and q, e. */
static int paley_type(int K, int *q, int *e) {
    int p;
    if (K % 4 || K > 1024) return 0;
    if (prime_power(K - 1, &p, e) && *e <= 3 && (K - 1) % 4 == 3) return *q = K - 1, 1;
    if (prime_power(K / 2 - 1, &p, e) && *e <= 3 && (K / 2 - 1) % 4 == 1) return *q = K / 2 - 1, 2;
    return 0;
}

/* Entry (i, j) of the conference matrix C (order q + 1): C[0][0] = 0, first row
 * +1, first column -1 (Paley I) or +1 (Paley II), else chi(j - i). */
static int conference(int type, int q, const signed char *chi, int i, int j) {
    if (i == 0) return j == 0 ? 0 : 1;
    if (j == 0) return type == 1 ? -1 : 1;
    return chi[((j - i) % q + q) % q];
}

/* Paley I: H = C + I. Paley II: H = C (x) [[1,1],[1,-1]] + I (x) [[1,-1],[-1,-1]]. */
static int paley_entry(int type, int q, const signed char *chi, int i, int j) {
    if (type == 1) return conference(1, q, chi, i, j) + (i == j);
    static const int A[2][2] = {{1, 1}, {1, -1}}, Bm[2][2] = {{1, -1}, {-1, -1}};
    return conference(2, q, chi, i / 2, j / 2) * A[i % 2][j % 2] + (i / 2 == j / 2) * Bm[i % 2][j % 2];
}

int ptq_hadamard_matrix_ref(double *H, int n) {
    int K = 0, P = 0, type = 0, q = 0, e = 0;
    for (P = n > 0 ? n & -n : 0; P >= 1; P /= 2) {
        K = n / P;
        if (K == 1 || (type = paley_type(K, &q, &e))) break;
    }
    if (P < 1) return -1;
    if (K > 1 && e > 1) return -2;
    signed char chi[1024] = {0}; /* quadratic character mod the prime q */
    for (int a = 1; a < q; a++) chi[a] = -1;
    for (int a = 1; a < q; a++) chi[(long)a * a % q] = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int hk = K == 1 ? 1 : paley_entry(type, q, chi, i / P, j / P);
            int sylvester = __builtin_popcount((unsigned)(i % P & j % P)) % 2 ? -1 : 1;
            H[(size_t)i * n + j] = hk * sylvester / sqrt((double)n);
        }
    return 0;
}

/* ---- one linear ------------------------------------------------------------- */

int ptq_lin_kernel_forward_ref(const ptq_lin_kernel *k, const float *x, int T, int a_bits, int a_sym, float a_clip,
                               const float *bias, double *y, double *mag, ptq_err *err) {
    const ptq_kpacked *w = &k->w;
    if (a_bits < 16) {
        if (a_bits < 2 || a_bits > 8) return ptq_fail(err, "lin_kernel_forward_ref: %d-bit activations", a_bits);
        ptq_kacts a;
        if (ptq_kact_quant_ref(&a, x, T, w->in, a_bits, a_sym, a_clip, w->group, err)) return -1;
        ptq_kgemm_ref(&a, w, bias, y, mag);
        ptq_kacts_free(&a);
    } else
        ptq_kgemm_f32_ref(w, x, T, bias, y, mag);
    if (!k->lf.coef && !k->side_dense && !k->sp.rowptr) return 0;
    double *S = malloc(sizeof(double) * w->out * w->in);
    if (!S) return ptq_fail(err, "lin_kernel_forward_ref: out of memory");
    if (k->lf.coef) { /* the low-frequency branch replaces side_dense */
        ptq_klowfreq_dense_ref(&k->lf, S);
        ptq_dense_ref(S, w->out, w->in, x, T, y, mag);
    } else if (k->side_dense) {
        for (size_t i = 0; i < (size_t)w->out * w->in; i++) S[i] = k->side_dense[i];
        ptq_dense_ref(S, w->out, w->in, x, T, y, mag);
    }
    if (k->sp.rowptr) {
        ptq_kcsr_dense_ref(&k->sp, S);
        ptq_dense_ref(S, w->out, w->in, x, T, y, mag);
    }
    free(S);
    return 0;
}
