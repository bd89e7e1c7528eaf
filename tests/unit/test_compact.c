/* test_compact.c — weights resident in compact form (model.h):
 *  - ptq_sgemm_w16 (bf16 and fp16 weights widened panel by panel) is bit for
 *    bit ptq_sgemm on the whole widened matrix, for odd shapes, beta 0 and
 *    not, at 1 and 3 threads; ptq_w16_to_f32 equals the safetensors
 *    converters for every one of the 65536 fp16 and bf16 values;
 *  - a random bf16 (and fp16) HF checkpoint loaded compact gives the same
 *    logits bit for bit as the fp32 load, tied and untied, and so does its
 *    clone; its weights take half the fp32 bytes and the process RSS grows
 *    by about the file size (not twice it);
 *  - an RTN W4 model with the fp32 copy dropped (qweight alone, dequantized
 *    per panel) gives the same logits bit for bit, and a method applied to a
 *    compact model widens it first (same result as on the fp32 load);
 *  - packing a qweight's codes two per byte (odd widths, 2..4 bits, act-order
 *    groups, off-grid entries) leaves every code and dequantized value as it
 *    was and halves the code bytes; 5+ bits stay a byte each;
 *  - an fp32 embedding / lm_head holding bf16 (fp16) values narrows back to
 *    16 bits with the same logits; one value off the grid keeps it fp32;
 *  - a shard truncated after opening fails naming the shard and the tensor;
 *  - resetting the RSS high-water mark drops it below an earlier peak. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf_checkpoint.h"
#include "matmul.h"
#include "cell.h"
#include "method.h"
#include "sysinfo.h"
#include "testutil.h"

static void check_w16_product(int M, int N, int K, int dtype, float beta, ptq_rng *r) {
    size_t na = (size_t)M * K, nw = (size_t)N * K, nc = (size_t)M * N;
    float *A = malloc(na * sizeof(float)), *Wf = malloc(nw * sizeof(float)), *C0 = malloc(nc * sizeof(float));
    float *Cr = malloc(nc * sizeof(float)), *Cw = malloc(nc * sizeof(float));
    uint16_t *W = malloc(nw * sizeof(uint16_t));
    for (size_t i = 0; i < na; i++) A[i] = (float)ptq_rng_normal(r);
    for (size_t i = 0; i < nc; i++) C0[i] = (float)ptq_rng_normal(r);
    for (size_t i = 0; i < nw; i++) {
        float v = (float)ptq_rng_normal(r);
        W[i] = dtype == PTQ_W16_BF16 ? ptq_f32_to_bf16(v) : ptq_f32_to_f16(v);
        Wf[i] = ptq_w16_to_f32(dtype, W[i]);
    }
    ptq_w16 w = {W, dtype, K};
    for (int th = 1; th <= 3; th += 2) {
        omp_set_num_threads(th);
        memcpy(Cr, C0, nc * sizeof(float));
        memcpy(Cw, C0, nc * sizeof(float));
        ptq_sgemm(CblasNoTrans, CblasTrans, M, N, K, 1.f, A, K, Wf, K, beta, Cr, N);
        ptq_err err;
        CHECK(ptq_sgemm_w16(M, N, K, A, K, &w, beta, Cw, N, &err) == 0);
        if (memcmp(Cr, Cw, nc * sizeof(float))) {
            fprintf(stderr, "w16 product %dx%dx%d dtype %d beta %g threads %d differs\n", M, N, K, dtype, beta, th);
            CHECK(0);
        }
    }
    free(A), free(Wf), free(C0), free(Cr), free(Cw), free(W);
}

static void check_converters(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = ptq_w16_to_f32(PTQ_W16_F16, (uint16_t)h), b = ptq_f16_to_f32((uint16_t)h);
        float c = ptq_w16_to_f32(PTQ_W16_BF16, (uint16_t)h), d = ptq_bf16_to_f32((uint16_t)h);
        bad += isnan(a) ? !isnan(b) : memcmp(&a, &b, sizeof a) != 0;
        bad += isnan(c) ? !isnan(d) : memcmp(&c, &d, sizeof c) != 0;
    }
    CHECK(bad == 0);
}

static int logits(const ptq_model *m, const int *tok, int T, float *out) {
    ptq_state s;
    ptq_err err;
    if (ptq_state_init(&s, m, T, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    int rc = ptq_forward(m, &s, tok, T, 0, out, 0, &err);
    if (rc) fprintf(stderr, "forward: %s\n", err.msg);
    ptq_state_free(&s);
    return rc;
}

static int same_logits(const ptq_model *a, const ptq_model *b, int T) {
    int tok[16];
    for (int t = 0; t < T; t++) tok[t] = (t * 37 + 5) % a->cfg.vocab_size;
    size_t n = (size_t)T * a->cfg.vocab_size;
    float *la = malloc(n * sizeof(float)), *lb = malloc(n * sizeof(float));
    int ok = !logits(a, tok, T, la) && !logits(b, tok, T, lb) && !memcmp(la, lb, n * sizeof(float));
    free(la), free(lb);
    return ok;
}

static ptq_config small_cfg(int tied) {
    ptq_config c = {.dim = 64, .hidden_dim = 172, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 300,
                    .max_seq = 32, .head_dim = 16, .rope_theta = 10000.f, .norm_eps = 1e-5f,
                    .tied_embeddings = tied, .rope_style = PTQ_ROPE_HALF, .bos_id = 1, .eos_id = 2};
    return c;
}

static int quantize_rtn(ptq_model *m, ptq_err *err) {
    ptq_qspec q;
    if (ptq_qspec_parse("W4A16", &q, err)) return -1;
    cJSON *o = cJSON_CreateObject(), *info = cJSON_CreateObject();
    ptq_apply_ctx ctx = {.q = &q, .opts = o, .seed = 1, .info = info};
    int rc = ptq_method_apply(ptq_method_find("rtn"), m, &ctx, err);
    cJSON_Delete(o), cJSON_Delete(info);
    return rc;
}

static void check_qweight_pack(ptq_rng *r) {
    /* out, in, bits, group: odd group starts (group 3) and rows longer than
     * the dequantizer's 1024-code chunks (2500 x one group) too */
    const int shapes[][4] = {{5, 7, 2, 4}, {3, 33, 3, 4}, {4, 64, 4, 4}, {2, 9, 5, 4}, {3, 31, 4, 3}, {2, 2500, 4, 0}};
    for (int s = 0; s < 6; s++) {
        ptq_err err;
        int out = shapes[s][0], in = shapes[s][1], bits = shapes[s][2];
        ptq_qweight *q = ptq_qweight_new(out, in, bits, shapes[s][3], 0, &err);
        size_t n = (size_t)out * in;
        float *W = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        unsigned char *mask = calloc(n, 1);
        uint8_t *c0 = malloc(n), *row = malloc(in), *tmp;
        for (size_t i = 0; i < n; i++) q->codes[i] = (uint8_t)(ptq_rng_u64(r) % (1u << bits));
        for (size_t i = 0; i < (size_t)out * q->ngroups; i++)
            q->scale[i] = (float)ptq_rng_uniform(r), q->zero[i] = (int)(ptq_rng_u64(r) % (1u << bits));
        if (s == 1) { /* act-order: column j in group (j * 7) % ngroups */
            q->gidx = malloc(in * sizeof(int));
            for (int j = 0; j < in; j++) q->gidx[j] = (j * 7) % q->ngroups;
        }
        for (size_t i = 0; i < n; i += 5) mask[i] = 1, W[i] = (float)ptq_rng_normal(r);
        CHECK(ptq_qweight_set_sparse(q, mask, W, &err) == 0);
        memcpy(c0, q->codes, n);
        ptq_qweight_dequant(q, a);
        CHECK(ptq_qweight_compact(q, &err) == 0 && q->nibbles == (bits <= 4));
        CHECK(ptq_qweight_code_bytes(q) == (bits <= 4 ? (size_t)out * ((in + 1) / 2) : n));
        ptq_qweight_dequant(q, b);
        CHECK(!memcmp(a, b, n * sizeof(float)));
        for (int i = 0; i < out; i++) CHECK(!memcmp(ptq_qweight_row_codes(q, i, row), c0 + (size_t)i * in, in));
        const uint8_t *all = ptq_qweight_byte_codes(q, &tmp, &err);
        CHECK(all && !memcmp(all, c0, n) && (tmp != NULL) == (bits <= 4));
        ptq_qweight *d = ptq_qweight_clone(q, &err);
        CHECK(d && d->nibbles == q->nibbles && !memcmp(d->codes, q->codes, ptq_qweight_code_bytes(q)));
        ptq_qweight_free(d), ptq_qweight_free(q), free(tmp);
        free(W), free(a), free(b), free(mask), free(c0), free(row);
    }
}

/* An fp32 load narrowed back to its checkpoint dtype: same logits; a changed value keeps fp32. */
static void check_narrow(const ptq_model *f, int dtype, int tied) {
    ptq_err err;
    ptq_model g, x;
    CHECK(ptq_model_clone(&g, f, &err) == 0 && ptq_model_clone(&x, f, &err) == 0);
    CHECK(ptq_model_narrow(&g, dtype, PTQ_NARROW_EMB, &err) == 0);
    CHECK(tied ? g.tok_emb != NULL : (g.tok_emb == NULL && g.emb16.dtype == dtype));
    CHECK(ptq_model_narrow(&g, dtype, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, &err) == 0);
    CHECK(!g.tok_emb && !g.lm_head.w && g.lm_head.w16.w && ptq_model_is_compact(&g));
    CHECK(same_logits(f, &g, 9) && same_logits(f, &g, 1));
    x.tok_emb[3] += 1e-3f; /* off the 16-bit grid */
    if (!tied) x.lm_head.w[5] = nextafterf(x.lm_head.w[5], 1e9f);
    CHECK(ptq_model_narrow(&x, dtype, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, &err) == 0);
    CHECK(x.tok_emb && x.lm_head.w && !x.emb16.w && !x.lm_head.w16.w);
    ptq_model_free(&g), ptq_model_free(&x);
}

static void check_model(const char *dir, int dtype, int tied) {
    ptq_err err;
    ptq_config c = small_cfg(tied);
    ptq_model f, h, k;
    CHECK(ptq_hf_write(dir, &c, NULL, dtype == PTQ_W16_BF16 ? PTQ_ST_BF16 : PTQ_ST_F16, 2, 7, &err) == 0);
    if (ptq_load_hf(&f, dir, &err) || ptq_load_hf_compact(&h, dir, &err)) {
        fprintf(stderr, "load: %s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK(ptq_model_is_compact(&h) && !ptq_model_is_compact(&f));
    check_narrow(&f, dtype, tied);
    CHECK(h.emb16.dtype == dtype && h.layers[1].lin[PTQ_LIN_DOWN].w16.w && !h.layers[1].lin[PTQ_LIN_DOWN].w);
    CHECK(2 * ptq_model_resident_bytes(&h) == ptq_model_resident_bytes(&f));
    CHECK(same_logits(&f, &h, 9));
    CHECK(same_logits(&f, &h, 1));
    CHECK(ptq_model_clone(&k, &h, &err) == 0 && ptq_model_is_compact(&k));
    CHECK(same_logits(&f, &k, 9));
    /* a method on the compact model widens it first: same quantized model */
    CHECK(quantize_rtn(&f, &err) == 0 && quantize_rtn(&k, &err) == 0);
    CHECK(!ptq_model_is_compact(&f) && same_logits(&f, &k, 9));
    CHECK(ptq_model_drop_shadow(&k, &err) == 0); /* quantized linears: packed qweight alone */
    CHECK(ptq_model_is_compact(&k) && !k.layers[0].lin[PTQ_LIN_Q].w && k.layers[0].lin[PTQ_LIN_Q].qw);
    CHECK(ptq_model_resident_bytes(&k) < ptq_model_resident_bytes(&f));
    CHECK(same_logits(&f, &k, 9));
    CHECK(same_logits(&f, &k, 1));
    ptq_model_free(&f), ptq_model_free(&h), ptq_model_free(&k);
}

/* Under AddressSanitizer every heap byte also costs shadow, redzones and a
 * quarantine that holds freed blocks, so RSS growth there depends on the
 * runtime's state and the host (+26% over the file here, but a CI host of
 * the same kind failed this check after it was widened to 1.45x): the
 * sanitizer build checks only that the loads succeed; Release checks the
 * sizes. */
#define RSS_SLACK 1.25

/* RSS grows by about the file size when a bf16 checkpoint loads compact. */
static void check_rss(const char *dir) {
    ptq_err err;
    ptq_config c = small_cfg(0);
    c.dim = 512, c.hidden_dim = 1376, c.n_heads = 8, c.n_kv_heads = 8, c.head_dim = 64, c.vocab_size = 8000;
    CHECK(ptq_hf_write(dir, &c, NULL, PTQ_ST_BF16, 1, 3, &err) == 0);
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *fp = fopen(p, "rb");
    fseek(fp, 0, SEEK_END);
    double file_mb = ftell(fp) / 1048576.0;
    fclose(fp);
    ptq_model h, f;
    long r0 = ptq_rss_kb();
    CHECK(ptq_load_hf_compact(&h, dir, &err) == 0);
    double compact_mb = (ptq_rss_kb() - r0) / 1024.0;
    ptq_model_free(&h);
    r0 = ptq_rss_kb();
    CHECK(ptq_load_hf(&f, dir, &err) == 0);
    double fp32_mb = (ptq_rss_kb() - r0) / 1024.0;
    ptq_model_free(&f);
    printf("bf16 checkpoint %.1f MiB: RSS +%.1f MiB compact, +%.1f MiB fp32\n", file_mb, compact_mb, fp32_mb);
    if (PTQ_TEST_ASAN) return;
    CHECK(compact_mb > 0.8 * file_mb && compact_mb < RSS_SLACK * file_mb);
    CHECK(fp32_mb > 1.6 * file_mb && fp32_mb > compact_mb + 0.8 * file_mb);
}

/* A shard cut short after the checkpoint was opened. */
static void check_truncated(const char *dir) {
    ptq_err err;
    ptq_config c = small_cfg(0), cc;
    ptq_st st;
    CHECK(ptq_hf_write(dir, &c, NULL, PTQ_ST_BF16, 3, 5, &err) == 0);
    CHECK(ptq_hf_read_config(dir, &cc, &err) == 0 && ptq_hf_open_weights(dir, &cc, &st, &err) == 0);
    char p[4200];
    snprintf(p, sizeof p, "%s/model-00002-of-00003.safetensors", dir);
    CHECK(truncate(p, 4096) == 0);
    ptq_model m;
    CHECK(ptq_model_alloc(&m, &cc, &err) == 0);
    CHECK(ptq_hf_load_layer(&st, &cc, 0, &m.layers[0], 1, &err) == 0); /* in shard 1 */
    CHECK(ptq_hf_load_layer(&st, &cc, 1, &m.layers[1], 1, &err) == -1);
    printf("truncated: %s\n", err.msg);
    CHECK(strstr(err.msg, "model-00002-of-00003.safetensors") && strstr(err.msg, "model.layers.1.") &&
          strstr(err.msg, "truncated"));
    ptq_model_free(&m);
    ptq_st_close(&st);
}

/* After a reset the high-water mark is the RSS from then on, not the
 * process's earlier peak (the per-cell peak of result rows). */
static void check_peak_reset(void) {
    size_t n = 96u << 20;
    volatile char *big = malloc(n); /* volatile: the stores are not optimised away */
    if (!big) return;
    for (size_t i = 0; i < n; i += 4096) big[i] = 1;
    long before = ptq_peak_rss_kb();
    free((void *)big);
    if (ptq_peak_rss_reset()) {
        printf("peak reset unavailable here (/proc/self/clear_refs)\n");
        return;
    }
    long after = ptq_peak_rss_kb(), now = ptq_rss_kb();
    printf("peak RSS %ld kB before the reset, %ld kB after (RSS %ld kB)\n", before, after, now);
    CHECK(after < now + 8 * 1024); /* the mark restarts from the current RSS */
    /* below the earlier peak, once the memory went back (ASan keeps freed memory in quarantine) */
    CHECK(after < before - 64 * 1024 || now > before - 64 * 1024);
}

int main(void) {
    ptq_rng r;
    ptq_rng_seed(&r, 11);
    check_converters();
    check_peak_reset();
    check_qweight_pack(&r);
    int shapes[][3] = {{1, 1, 7}, {1, 300, 64}, {3, 129, 33}, {300, 257, 40}, {17, 128, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int dt = PTQ_W16_BF16; dt <= PTQ_W16_F16; dt++) {
            check_w16_product(shapes[i][0], shapes[i][1], shapes[i][2], dt, 0.f, &r);
            check_w16_product(shapes[i][0], shapes[i][1], shapes[i][2], dt, 0.5f, &r);
        }
    omp_set_num_threads(2);
    char dir[] = "/tmp/ptq_compact_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/bf16", dir);
    check_model(sub, PTQ_W16_BF16, 0);
    snprintf(sub, sizeof sub, "%s/f16tied", dir);
    check_model(sub, PTQ_W16_F16, 1);
    snprintf(sub, sizeof sub, "%s/rss", dir);
    check_rss(sub);
    snprintf(sub, sizeof sub, "%s/trunc", dir);
    check_truncated(sub);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return tu_done("test_compact");
}
