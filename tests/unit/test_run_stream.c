/* test_run_stream.c — streamed quantize + perplexity (cell_stream.h) equals the
 * in-RAM cell for every block-wise method, on tiny random HF checkpoints
 * (untied and tied) written here; refusals for a method without a block-wise
 * implementation, a non-HF model and a non-ppl task. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "method.h"
#include "hf_checkpoint.h"
#include "cell_stream.h"
#include "testutil.h"

static char g_tmp[256], g_dirs[2][300];
static const char *g_tok;

static ptq_config tiny_cfg(int tied) {
    ptq_config c;
    memset(&c, 0, sizeof c);
    c.dim = 64, c.hidden_dim = 128, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16;
    c.vocab_size = 2048, c.max_seq = 128, c.rope_theta = 10000.f, c.norm_eps = 1e-5f;
    c.rope_style = PTQ_ROPE_HALF, c.bos_id = 1, c.eos_id = 2, c.tied_embeddings = tied;
    return c;
}

/* The cell of a test; 0 or -1 with the error in err. */
static int cell_for(ptq_cell *c, const char *dir, const char *method, const char *bits, const char *kv1,
                    const char *kv2, const char *const *tasks, int ntasks, ptq_err *err) {
    ptq_qspec q;
    memset(c, 0, sizeof *c);
    if (ptq_qspec_parse(bits, &q, err) || ptq_cell_init(c, dir, method, &q, err)) return -1;
    if (g_tok) c->tokenizer = strdup(g_tok);
    if ((kv1 && ptq_cell_add_opt(c, kv1, err)) || (kv2 && ptq_cell_add_opt(c, kv2, err))) return -1;
    snprintf(c->calib.dataset, sizeof c->calib.dataset, "tinystories-calib");
    c->calib.nsamples = 4, c->calib.seqlen = 32;
    for (int i = 0; i < ntasks; i++)
        if (ptq_cell_add_task(c, tasks[i], err)) return -1;
    c->eval.ppl.seqlen = 64, c->eval.ppl.limit_windows = 2;
    return 0;
}

static double row_ppl(const cJSON *rows, int i) {
    const cJSON *m = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, i), "metrics");
    const cJSON *p = cJSON_GetObjectItem(m, "ppl");
    return cJSON_IsNumber(p) ? p->valuedouble : NAN;
}

/* In RAM vs streamed: identical perplexity for every task. */
static void same(int ck, const char *method, const char *bits, const char *kv1, const char *kv2) {
    static const char *const tasks[] = {"ppl:ptb", "ppl:tinystories"}; /* ptb: the shortest text */
    int nt = !strcmp(method, "gptq") ? 2 : 1;
    cJSON *ra = cJSON_CreateArray(), *rb = cJSON_CreateArray();
    ptq_err err;
    ptq_cell s;
    CHECK(cell_for(&s, g_dirs[ck], method, bits, kv1, kv2, tasks, nt, &err) == 0);
    if (ptq_run_cell(&s, ra, &err)) {
        fprintf(stderr, "in RAM %s %s: %s\n", method, bits, err.msg);
        CHECK(0);
    }
    s.stream = 1;
    ptq_stream_block_stat blk[2];
    memset(blk, 0, sizeof blk);
    if (ptq_run_cell_stream(&s, rb, blk, &err)) {
        fprintf(stderr, "stream %s %s: %s\n", method, bits, err.msg);
        CHECK(0);
    }
    CHECK(cJSON_GetArraySize(rb) == nt);
    for (int i = 0; i < nt && cJSON_GetArraySize(ra) == nt && cJSON_GetArraySize(rb) == nt; i++) {
        double a = row_ppl(ra, i), b = row_ppl(rb, i);
        if (!(a == b)) fprintf(stderr, "%s %s %s: in RAM %.17g, streamed %.17g\n", method, bits, tasks[i], a, b);
        CHECK(isfinite(a) && a == b);
    }
    CHECK(blk[1].peak_rss_kb > 0 && blk[1].load_sec >= 0 && blk[0].quant_sec >= 0);
    const cJSON *st = cJSON_GetObjectItem(cJSON_GetArrayItem(rb, 0), "stream");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(st, "blocks")) == 2);
    cJSON_Delete(ra), cJSON_Delete(rb);
    ptq_cell_free(&s);
}

static void expect_fail(const char *dir, const char *method, const char *task, const char *needle) {
    cJSON *rows = cJSON_CreateArray();
    ptq_err err;
    ptq_cell s;
    err.msg[0] = 0;
    int rc = cell_for(&s, dir, method, "W4A16", NULL, NULL, &task, 1, &err);
    if (!rc) rc = ptq_run_cell_stream(&s, rows, NULL, &err);
    if (rc == 0 || !strstr(err.msg, needle)) fprintf(stderr, "expected failure '%s', got rc %d: %s\n", needle, rc, err.msg);
    CHECK(rc != 0 && strstr(err.msg, needle));
    CHECK(cJSON_GetArraySize(rows) == 0);
    cJSON_Delete(rows);
    ptq_cell_free(&s);
}

static int fake_apply(ptq_model *m, const ptq_apply_ctx *ctx, ptq_err *err) {
    (void)m, (void)ctx, (void)err;
    return 0;
}

static void test_refusals(void) {
    const char *tok = g_tok;
    g_tok = NULL;
    expect_fail("stories260K", "rtn", "ppl:tinystories", "not a Hugging Face checkpoint");
    g_tok = tok;
    expect_fail(g_tmp, "rtn", "ppl:tinystories", "not a Hugging Face checkpoint directory"); /* no config.json */
    /* a truncated shard: refused naming the shard and its tensor, no row */
    char cut[400], shard[500];
    ptq_config tc = tiny_cfg(0);
    ptq_err werr;
    snprintf(cut, sizeof cut, "%s/cut", g_tmp);
    snprintf(shard, sizeof shard, "%s/model-00002-of-00003.safetensors", cut);
    CHECK(ptq_hf_write(cut, &tc, NULL, PTQ_ST_BF16, 3, 9, &werr) == 0 && truncate(shard, 4096) == 0);
    expect_fail(cut, "rtn", "zeroshot:piqa", "model-00002-of-00003.safetensors: tensor 'model.layers.");
    expect_fail(g_dirs[0], "nosuch", "ppl:tinystories", "unknown method");
    static const ptq_method fake = {.name = "wholemodel", .summary = "", .apply = fake_apply};
    ptq_err err;
    CHECK(ptq_method_streamable(&fake, &err) != 0 && strstr(err.msg, "wholemodel") && strstr(err.msg, "stream"));
    /* every registered method is block-wise except the two that learn through the whole network */
    for (int i = 0; ptq_methods[i]; i++) {
        const char *name = ptq_methods[i]->name;
        int whole = !strcmp(name, "spinquant") || !strcmp(name, "respinquant");
        int rc = ptq_method_streamable(ptq_methods[i], &err);
        CHECK(whole ? rc != 0 && strstr(err.msg, name) && strstr(err.msg, "stream") : rc == 0);
    }
}

int main(void) {
#ifdef _OPENMP
    omp_set_num_threads(1); /* equality holds for any fixed count; one thread keeps it fast on a loaded machine */
#endif
    g_tok = tu_asset("models/tinystories-656k/tokenizer.json");
    if (!g_tok || !tu_asset("datasets/train/tinystories/tinystories_valid_first1000.txt")) {
        fprintf(stderr, "test_run_stream: assets missing, skipped\n");
        return tu_done("test_run_stream");
    }
    static char tokp[4096];
    snprintf(tokp, sizeof tokp, "%s", g_tok);
    g_tok = tokp;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ptq_stream_XXXXXX");
    if (!mkdtemp(g_tmp)) return fprintf(stderr, "mkdtemp failed\n"), 1;
    ptq_err err;
    for (int k = 0; k < 2; k++) {
        ptq_config c = tiny_cfg(k);
        snprintf(g_dirs[k], sizeof g_dirs[k], "%s/%s", g_tmp, k ? "tied" : "untied");
        if (ptq_hf_write(g_dirs[k], &c, NULL, PTQ_ST_BF16, 1, 7 + k, &err))
            return fprintf(stderr, "write %s: %s\n", g_dirs[k], err.msg), 1;
    }
    same(0, "fp16", "W16A16", NULL, NULL);
    same(0, "rtn", "W4A8KV8", NULL, NULL);
    same(1, "rtn", "W4A8KV8", "quant_lm_head=true", NULL);
    same(0, "gptq", "W4A16", NULL, NULL);
    same(1, "gptq", "W4A4KV4", "quant_lm_head=true", NULL);
    same(0, "smoothquant", "W8A8", NULL, NULL);
    same(1, "quarot", "W4A4KV4", NULL, NULL);
    same(0, "quarot", "W4A8", "weights=rtn", "quant_lm_head=true");
    same(0, "septq", "W3A16", NULL, NULL);
    same(0, "specquant", "W4A8", "search_tokens=32", "alpha_step=0.3");
    same(0, "ruquant", "W4A4KV4", NULL, NULL);
    test_refusals();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return tu_done("test_run_stream");
}
