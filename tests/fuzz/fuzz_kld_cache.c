/* fuzz_kld_cache.c — the KLD log-prob cache reader (eval/kld.c). The input is
 * one mode byte then a cache file; the file is put where ptq_kld_run_tokens
 * looks for the cache of a tiny random model (16 tokens, 3 windows of 8) and
 * the run is given no FP model, so the only way to a result is a cache the
 * reader accepts. Bit 0 of the mode: top-4 records instead of the full
 * distribution; bit 1: keep the input's checksum (else the harness re-signs
 * the file, so mutations of the key fields and the records reach the checks
 * behind the checksum). The seed corpus: the valid cache of each mode. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval.h"
#include "fuzz.h"
#include "shapes.h"

/* kld_header in eval/kld.c: the checksum (65 chars) at 312, 384 bytes in all;
 * init() checks both on a cache the reader wrote. */
enum { SUM_OFF = 312, SUM_LEN = 65, HDR = 384 };

static ptq_model model;
static ptq_tokens toks;
static char dirs[2][64], paths[2][4200];

static int run(int mode, const ptq_model *fp) {
    ptq_kld_opts o = {.ppl = {.seqlen = 8, .bos_id = -1}, .cache_dir = dirs[mode & 1], .topk = mode & 1 ? 4 : 0};
    cJSON *metrics = cJSON_CreateObject();
    ptq_err err;
    int rc = ptq_kld_run_tokens(&model, fp, &toks, "fuzz", &o, metrics, &err);
    cJSON_Delete(metrics);
    return rc;
}

static void resign(unsigned char *d, size_t n) {
    if (n < HDR) return;
    memset(d + SUM_OFF, 0, SUM_LEN);
    char hex[65];
    ptq_sha256_buf(d, n, hex);
    memcpy(d + SUM_OFF, hex, SUM_LEN);
}

static void cleanup(void) {
    for (int m = 0; m < 2; m++) {
        if (paths[m][0]) unlink(paths[m]);
        rmdir(dirs[m]);
    }
}

static int init(void) {
    ptq_random_spec s = {.name = "fuzz", .seed = 5,
                         .cfg = {.dim = 8, .hidden_dim = 16, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                                 .vocab_size = 16, .max_seq = 8, .head_dim = 4, .rope_theta = 10000.f,
                                 .norm_eps = 1e-5f, .rope_style = PTQ_ROPE_HALF, .bos_id = 1, .eos_id = 2}};
    ptq_err err;
    if (ptq_random_model(&model, &s, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    snprintf(model.sha256, sizeof model.sha256, "%064d", 7);
    static int ids[24];
    for (int i = 0; i < 24; i++) ids[i] = (i * 7 + 3) % 16;
    toks = (ptq_tokens){.ids = ids, .n = 24, .name = "fuzz"};
    snprintf(toks.sha256, sizeof toks.sha256, "%064d", 9);
    atexit(cleanup);
    for (int m = 0; m < 2; m++) {
        snprintf(dirs[m], sizeof dirs[m], "/tmp/ptq_fuzz_kld.%d.%d", (int)getpid(), m);
        if (run(m, &model)) return fprintf(stderr, "fuzz_kld_cache: the FP pass failed\n"), -1;
        DIR *d = opendir(dirs[m]);
        for (struct dirent *e; d && (e = readdir(d));)
            if (e->d_name[0] != '.') snprintf(paths[m], sizeof paths[m], "%s/%s", dirs[m], e->d_name);
        if (d) closedir(d);
        char *buf;
        size_t n;
        if (!paths[m][0] || ptq_read_file(paths[m], &buf, &n, &err)) return fprintf(stderr, "no cache written\n"), -1;
        unsigned char *copy = malloc(n);
        memcpy(copy, buf, n);
        resign(copy, n);
        int same = n >= HDR && !memcmp(copy, buf, n);
        free(copy), free(buf);
        if (!same) return fprintf(stderr, "fuzz_kld_cache: the cache header layout changed (update SUM_OFF)\n"), -1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        if (init()) abort();
        ready = 1;
    }
    if (size < 1) return 0;
    int mode = data[0];
    unsigned char *file = malloc(size);
    memcpy(file, data + 1, size - 1);
    if (!(mode & 2)) resign(file, size - 1);
    ptq_err err;
    if (ptq_write_file_atomic(paths[mode & 1], file, size - 1, &err) == 0) run(mode, NULL);
    free(file);
    return 0;
}
