/* test_kld.c — KLD against the FP model: a model against itself gives 0
 * and 100% top-1; a perturbed model gives > 0; the FP cache is reused, and a
 * corrupt, truncated or mismatched cache file is detected and recomputed
 * (same numbers, never a wrong one). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "model_open.h"
#include "testutil.h"

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Run KLD; returns the metrics (caller frees) or NULL. */
static cJSON *run(const ptq_model *q, const ptq_model *fp, const ptq_tokenizer *t, const ptq_kld_opts *o) {
    cJSON *r = cJSON_CreateObject();
    ptq_err e;
    if (ptq_kld_run(q, fp, t, "tinystories", o, r, &e)) {
        fprintf(stderr, "kld: %s\n", e.msg);
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static void copy_file(const char *from, const char *to) {
    char *d;
    size_t n;
    ptq_err e;
    CHECK(ptq_read_file(from, &d, &n, &e) == 0);
    FILE *f = fopen(to, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
    free(d);
}

int main(void) {
    if (!tu_asset("models/stories260K/stories260K.bin")) {
        printf("test_kld: stories260K not found, skipped\n");
        return 0;
    }
    ptq_model m, p;
    ptq_tokenizer *tok;
    ptq_err e;
    CHECK(ptq_open_model("stories260K", NULL, &m, &tok, &e) == 0);
    char dir[] = "/tmp/ptq_kld_testXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ptq_kld_opts o = {0};
    o.ppl.seqlen = 128;
    o.ppl.limit_windows = 3;
    o.ppl.bos_id = -1;
    o.cache_dir = dir;

    /* self: KLD 0, top-1 100 %, ppl ratio 1 */
    cJSON *a = run(&m, &m, tok, &o);
    CHECK(a != NULL);
    if (!a) return tu_done("test_kld");
    CHECK(!strcmp(str(a, "cache"), "miss"));
    CHECK_NEAR(num(a, "kld_mean"), 0, 1e-9);
    CHECK_NEAR(num(a, "kld_p99"), 0, 1e-9);
    CHECK_NEAR(num(a, "top1_agree"), 100, 1e-12);
    CHECK_NEAR(num(a, "ppl_ratio"), 1, 1e-9);
    CHECK(num(a, "positions") == 3 * 127);
    CHECK(num(a, "kld_topk") == 0); /* vocab 512: full distribution */
    char path_a[4096];
    snprintf(path_a, sizeof path_a, "%s", str(a, "cache_path"));

    /* perturbed model: KLD > 0; warm cache, no FP model needed */
    CHECK(ptq_model_clone(&p, &m, &e) == 0);
    ptq_rng rng;
    ptq_rng_seed(&rng, 7);
    for (int l = 0; l < p.cfg.n_layers; l++) {
        ptq_linear *lin = &p.layers[l].lin[PTQ_LIN_DOWN];
        for (long i = 0; i < (long)lin->out * lin->in; i++) lin->w[i] *= 1.0f + 0.3f * (float)ptq_rng_normal(&rng);
    }
    cJSON *b = run(&p, NULL, tok, &o);
    CHECK(b && !strcmp(str(b, "cache"), "hit"));
    double kb = b ? num(b, "kld_mean") : NAN;
    CHECK(kb > 1e-4);
    CHECK(b && num(b, "kld_p99") > kb);
    CHECK(b && num(b, "top1_agree") < 100);
    CHECK(b && fabs(num(b, "ppl_ratio") - 1) > 1e-4);
    CHECK(b && fabs(num(b, "ppl_fp") - num(a, "ppl_fp")) < 1e-9);
    printf("perturbed: kld %.6f p99 %.6f top1 %.2f%% ratio %.5f\n", kb, num(b, "kld_p99"), num(b, "top1_agree"),
           num(b, "ppl_ratio"));

    /* corrupt payload byte -> detected, recomputed, same numbers */
    {
        FILE *f = fopen(path_a, "r+b");
        CHECK(f != NULL);
        fseek(f, -100, SEEK_END);
        int ch = fgetc(f);
        fseek(f, -100, SEEK_END);
        fputc(ch ^ 0x55, f);
        fclose(f);
        cJSON *c = run(&p, &m, tok, &o);
        CHECK(c && !strcmp(str(c, "cache"), "recomputed"));
        CHECK(c && num(c, "kld_mean") == kb);
        cJSON_Delete(c);
        c = run(&p, NULL, tok, &o); /* the rewritten file is valid again */
        CHECK(c && !strcmp(str(c, "cache"), "hit"));
        cJSON_Delete(c);
    }
    /* a record with an id outside the vocabulary under a valid checksum (a
     * buggy or hostile writer) -> refused, recomputed */
    {
        char *d;
        size_t n;
        CHECK(ptq_read_file(path_a, &d, &n, &e) == 0);
        enum { SUM_OFF = 312, HDR = 384 }; /* kld_header: checksum offset, size */
        int32_t id = 1 << 20;
        memcpy(d + HDR + 4, &id, 4); /* record 0's FP argmax */
        memset(d + SUM_OFF, 0, 65);
        char hex[65];
        ptq_sha256_buf(d, n, hex);
        memcpy(d + SUM_OFF, hex, 65);
        FILE *f = fopen(path_a, "wb");
        fwrite(d, 1, n, f);
        fclose(f);
        free(d);
        cJSON *c = run(&p, &m, tok, &o);
        CHECK(c && !strcmp(str(c, "cache"), "recomputed") && num(c, "kld_mean") == kb);
        cJSON_Delete(c);
    }
    /* truncated file, and a cold cache without the FP model -> error */
    {
        char *d;
        size_t n;
        CHECK(ptq_read_file(path_a, &d, &n, &e) == 0);
        FILE *f = fopen(path_a, "wb");
        fwrite(d, 1, n / 2, f);
        fclose(f);
        free(d);
        cJSON *c = run(&p, NULL, tok, &o);
        CHECK(c == NULL);
        c = run(&p, &m, tok, &o);
        CHECK(c && !strcmp(str(c, "cache"), "recomputed") && num(c, "kld_mean") == kb);
        cJSON_Delete(c);
    }
    /* mismatched key: another config's file under this config's name */
    {
        ptq_kld_opts o2 = o;
        o2.ppl.limit_windows = 2;
        cJSON *c = run(&p, &m, tok, &o2);
        CHECK(c && !strcmp(str(c, "cache"), "miss"));
        double k2 = c ? num(c, "kld_mean") : NAN;
        char path_b[4096];
        snprintf(path_b, sizeof path_b, "%s", c ? str(c, "cache_path") : "");
        CHECK(strcmp(path_a, path_b) != 0);
        cJSON_Delete(c);
        copy_file(path_a, path_b);
        c = run(&p, &m, tok, &o2);
        CHECK(c && !strcmp(str(c, "cache"), "recomputed") && num(c, "kld_mean") == k2);
        cJSON_Delete(c);
    }
    /* top-K + tail mass: self 0; a lower bound of the full KLD */
    {
        ptq_kld_opts o3 = o;
        o3.topk = 16;
        cJSON *c = run(&m, &m, tok, &o3), *d = run(&p, &m, tok, &o3);
        CHECK(c && d);
        if (c && d) {
            CHECK(num(c, "kld_topk") == 16);
            CHECK_NEAR(num(c, "kld_mean"), 0, 1e-7);
            CHECK(num(d, "kld_mean") > 0 && num(d, "kld_mean") <= kb + 1e-9);
            CHECK_NEAR(num(d, "top1_agree"), num(b, "top1_agree"), 1e-9);
        }
        cJSON_Delete(c);
        cJSON_Delete(d);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    ptq_model_free(&p);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return tu_done("test_kld");
}
