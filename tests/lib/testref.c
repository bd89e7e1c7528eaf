/* testref.c — test-only helpers (testref.h). */
#include "testref.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double ptq_orthogonality_error(const float *M, int n) {
    double e = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int k = 0; k < n; k++) d += (double)M[(size_t)i * n + k] * M[(size_t)j * n + k];
            e = fmax(e, fabs(d - (i == j)));
        }
    return e;
}

char *ptq_tokenizer_decode_all(const ptq_tokenizer *t, const int *ids, int n) {
    size_t cap = 64, len = 0;
    char *s = malloc(cap), piece[512];
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] == t->bos_id || ids[i] == t->eos_id) continue; /* special tokens have no text */
        int k = t->decode(t, i > 0 ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
        if (len + k + 1 > cap) {
            while (len + k + 1 > cap) cap *= 2;
            char *ns = realloc(s, cap);
            if (!ns) {
                free(s);
                return NULL;
            }
            s = ns;
        }
        memcpy(s + len, piece, k);
        len += k;
        s[len] = 0;
    }
    return s;
}

int ptq_qk_permute(float *w, int n_heads, int hd, int in, int to_interleaved, ptq_err *err) {
    int half = hd / 2;
    float *tmp = ptq_calloc((size_t)hd * in, sizeof(float), err);
    if (!tmp) return -1;
    for (int h = 0; h < n_heads; h++) {
        float *head = w + (size_t)h * hd * in;
        memcpy(tmp, head, (size_t)hd * in * sizeof(float));
        for (int i = 0; i < half; i++)
            for (int s = 0; s < 2; s++) {
                /* HF row i + s*half is the s-th member of pair i; interleaved row 2i + s */
                int hf = i + s * half, il = 2 * i + s;
                int dst = to_interleaved ? il : hf, src = to_interleaved ? hf : il;
                memcpy(head + (size_t)dst * in, tmp + (size_t)src * in, (size_t)in * sizeof(float));
            }
    }
    free(tmp);
    return 0;
}

int ptq_spectral_lowpass(const float *W, int rows, int n, const int *k, float *W_low, double *spec_out,
                         ptq_err *err) {
    int nb = ptq_spectral_nbins(n);
    double *spec = spec_out ? spec_out : malloc(sizeof(double) * 2 * (size_t)nb * rows);
    double *trunc = malloc(sizeof(double) * 2 * (size_t)nb * rows);
    int rc = -1;
    if (!spec || !trunc) {
        ptq_fail(err, "spectral lowpass: out of memory (%d x %d)", rows, n);
        goto out;
    }
    if (ptq_rfft_rows(W, rows, n, spec, err)) goto out;
    memcpy(trunc, spec, sizeof(double) * 2 * (size_t)nb * rows);
    for (int o = 0; o < rows; o++) {
        int ko = k[o] < 0 ? 0 : (k[o] > nb ? nb : k[o]);
        memset(trunc + ((size_t)o * nb + ko) * 2, 0, sizeof(double) * 2 * (size_t)(nb - ko));
    }
    rc = ptq_irfft_rows(trunc, rows, n, W_low, err);
out:
    if (!spec_out) free(spec);
    free(trunc);
    return rc;
}

int ptq_spectral_branch_apply(const ptq_spectral_branch *b, const float *x, int T, float *y, ptq_err *err) {
    if (b->kmax == 0 || T == 0) return 0;
    int nb = ptq_spectral_nbins(b->n), K2 = 2 * b->kmax;
    double *X = malloc(sizeof(double) * 2 * (size_t)nb * T);
    float *A = malloc(sizeof(float) * (size_t)T * K2), *B = malloc(sizeof(float) * (size_t)b->out * K2);
    int rc = -1;
    if (!X || !A || !B) {
        ptq_fail(err, "spectral branch apply: out of memory (%d x %d)", T, b->n);
        goto out;
    }
    if (ptq_rfft_rows(x, T, b->n, X, err)) goto out;
    /* Re(F conj X) = Re F Re X + Im F Im X; the bin weight and 1/n go to B */
    for (int t = 0; t < T; t++)
        for (int j = 0; j < K2; j++) A[(size_t)t * K2 + j] = (float)X[(size_t)t * nb * 2 + j];
    for (int o = 0; o < b->out; o++)
        for (int j = 0; j < K2; j++)
            B[(size_t)o * K2 + j] = b->coef[(size_t)o * K2 + j] * ptq_spectral_bin_weight(j / 2, b->n) / b->n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, b->out, K2, 1.f, A, K2, B, K2, 1.f, y, b->out);
    rc = 0;
out:
    free(X);
    free(A);
    free(B);
    return rc;
}

void ptq_kdequant(const ptq_kpacked *p, float *w) {
    uint8_t *codes = malloc((size_t)p->out * p->in);
    if (!codes) return;
    ptq_kunpack_codes(p, codes);
    int off8 = p->bits == 8 ? 128 : 0;
    for (int r = 0; r < p->out; r++)
        for (int k = 0; k < p->in; k++) {
            size_t gi = (size_t)(k / p->group) * p->npad + r;
            int c = codes[(size_t)r * p->in + k] - off8;
            w[(size_t)r * p->in + k] = p->scale[gi] * (float)(c - p->zero[gi]);
        }
    free(codes);
}

int ptq_kcsr_from_dense(ptq_kcsr *s, const float *D, const unsigned char *keep, int out, int in, ptq_err *err) {
    memset(s, 0, sizeof *s);
    long nnz = 0;
    for (size_t i = 0; i < (size_t)out * in; i++) nnz += keep ? keep[i] != 0 : D[i] != 0.f;
    s->out = out, s->in = in, s->nnz = nnz;
    s->rowptr = malloc(sizeof(long) * (out + 1));
    s->col = malloc(sizeof(uint16_t) * (nnz ? nnz : 1));
    s->val = malloc(sizeof(float) * (nnz ? nnz : 1));
    if (!s->rowptr || !s->col || !s->val) {
        ptq_kcsr_free(s);
        return ptq_fail(err, "csr: out of memory for %ld entries", nnz);
    }
    long p = 0;
    for (int o = 0; o < out; o++) {
        s->rowptr[o] = p;
        for (int i = 0; i < in; i++) {
            size_t at = (size_t)o * in + i;
            if (keep ? keep[at] != 0 : D[at] != 0.f) s->col[p] = (uint16_t)i, s->val[p++] = D[at];
        }
    }
    s->rowptr[out] = p;
    return 0;
}

int ptq_ru_matrix(const ptq_ru_transform *tr, float *M, ptq_err *err) {
    int C = tr->C;
    memset(M, 0, sizeof(float) * C * C);
    for (int i = 0; i < C; i++) M[(size_t)i * C + i] = 1;
    return ptq_ru_rotate_rows(tr, M, C, err); /* row i = e_i . M */
}
