/* test_latency.c — the latency/memory task (eval/latency.c) and its report
 * (src/report_latency.c): parameters and bad parameters, a tiny measurement
 * on stories260K (rtn W4A4 and W4A4KV4, 5 reps, 1 ms runs) whose figures are
 * positive and self-consistent (speedup = packed median / FP32 median,
 * min <= median <= max, W4 layer weights < 0.2 x FP32, int4 KV 0.375 x FP32),
 * the runner row's identifying fields, a model the packed path cannot run
 * (unquantized weights claimed W4: a clear error, nothing measured), and the
 * table + Pareto plots from the fixture tests/data/latency_fixture.jsonl. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cblas.h>

#include "experiment.h"
#include "kernels.h"
#include "latency.h"
#include "method.h"
#include "model_open.h"
#include "report.h"
#include "cell.h"
#include "testutil.h"

static void test_parse(void) {
    ptq_latency_opts o;
    ptq_err err = {{0}};
    CHECK(ptq_latency_parse("", &o, &err) == 0 && o.nT == 3 && o.Ts[0] == 128 && o.nC == 2 && o.reps == 5);
    CHECK(ptq_latency_parse("default", &o, &err) == 0 && o.min_ms == 20);
    CHECK(ptq_latency_parse("T=16+32:ctx=48,reps=7:min_ms=1", &o, &err) == 0 && o.nT == 2 && o.Ts[1] == 32 &&
          o.nC == 1 && o.ctxs[0] == 48 && o.reps == 7 && o.min_ms == 1);
    CHECK(ptq_latency_parse("bogus=1", &o, &err) == -1 && strstr(err.msg, "unknown parameter 'bogus'"));
    CHECK(ptq_latency_parse("reps=3", &o, &err) == -1 && strstr(err.msg, "reps=3"));
    CHECK(ptq_latency_parse("T=", &o, &err) == -1 && strstr(err.msg, "T: empty list"));
    CHECK(ptq_latency_parse("T=12x", &o, &err) == -1 && strstr(err.msg, "T=12x"));
    CHECK(ptq_latency_parse("ctx", &o, &err) == -1 && strstr(err.msg, "expected key=value"));
    /* prefill logits: the last position by default, every position with logits=all */
    CHECK(ptq_latency_parse("", &o, &err) == 0 && o.all_logits == 0);
    CHECK(ptq_latency_parse("T=16:logits=all", &o, &err) == 0 && o.all_logits == 1);
    CHECK(ptq_latency_parse("logits=last", &o, &err) == 0 && o.all_logits == 0);
    CHECK(ptq_latency_parse("logits=some", &o, &err) == -1 && strstr(err.msg, "logits=some: expected last or all"));
    /* weight-only prefill mode: fp32 by default, int8 activations as an option */
    CHECK(ptq_latency_parse("", &o, &err) == 0 && o.w16_act == PTQ_W16_FP32);
    CHECK(ptq_latency_parse("w16=int8", &o, &err) == 0 && o.w16_act == PTQ_W16_INT8);
    CHECK(ptq_latency_parse("w16=bf16", &o, &err) == 0 && o.w16_act == PTQ_W16_BF16ACT);
    CHECK(ptq_latency_parse("w16=fp32", &o, &err) == 0 && o.w16_act == PTQ_W16_FP32);
    CHECK(ptq_latency_parse("w16=fp16", &o, &err) != 0 && strstr(err.msg, "w16=fp16"));
    CHECK(ptq_latency_parse("w16=int4", &o, &err) == -1 && strstr(err.msg, "w16=int4: expected fp32, int8 or bf16"));
    /* the clock (wall by default; cpu: the process's CPU time) and the timing threads */
    CHECK(ptq_latency_parse("", &o, &err) == 0 && o.cpu_clock == 0 && o.threads == 0);
    CHECK(ptq_latency_parse("clock=cpu:threads=1", &o, &err) == 0 && o.cpu_clock == 1 && o.threads == 1);
    CHECK(ptq_latency_parse("clock=tsc", &o, &err) == -1 && strstr(err.msg, "clock=tsc: expected wall or cpu"));
    CHECK(ptq_latency_parse("threads=0", &o, &err) == -1 && strstr(err.msg, "threads=0"));
    /* in a config: the error names the JSON path */
    const char *cfg = "{\"name\":\"x\",\"models\":[\"stories260K\"],\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],"
                      "\"tasks\":[\"ppl:tinystories\",\"latency:bogus=1\"]}";
    ptq_experiment e;
    CHECK(ptq_experiment_parse(cfg, "cfg.json", &e, &err) == -1 && strstr(err.msg, "$.tasks[1]") &&
          strstr(err.msg, "unknown parameter 'bogus'"));
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Every figure of a measured row is positive and consistent. */
static void check_metrics(const cJSON *m, const char *what) {
    static const char *const fig[] = {"prefill_T16", "decode_ctx48", "decode_ctx511", NULL};
    for (int i = 0; fig[i]; i++) {
        char k[96];
        double v[2][3];
        for (int p = 0; p < 2; p++) {
            static const char *const suf[3] = {"", "_min", "_max"};
            for (int s = 0; s < 3; s++) {
                snprintf(k, sizeof k, "%s%s_tokens_per_sec%s", p ? "fp32_" : "", fig[i], suf[s]);
                v[p][s] = num(m, k);
            }
            CHECK(v[p][0] > 0 && v[p][1] <= v[p][0] && v[p][0] <= v[p][2]);
        }
        snprintf(k, sizeof k, "%s_speedup", fig[i]);
        CHECK_NEAR(num(m, k), v[0][0] / v[1][0], 1e-9 * num(m, k));
        printf("%s %-14s packed %.0f tok/s [%.0f..%.0f]  fp32 %.0f  ratio %.2f\n", what, fig[i], v[0][0], v[0][1],
               v[0][2], v[1][0], num(m, k));
    }
    CHECK(num(m, "weight_bytes") > 0 && num(m, "weight_bytes") < num(m, "fp32_weight_bytes"));
    CHECK_NEAR(num(m, "weight_ratio"), num(m, "weight_bytes") / num(m, "fp32_weight_bytes"), 1e-12);
    CHECK(num(m, "layer_weight_ratio") < 0.2); /* W4: codes + per-channel scales */
    CHECK_NEAR(num(m, "kv_ratio_ctx48"), num(m, "kv_bytes_ctx48") / num(m, "fp32_kv_bytes_ctx48"), 1e-12);
    CHECK(num(m, "peak_rss_kb") > 0 && num(m, "reps") == 5);
    CHECK(num(m, "loadavg_1") >= 0);
    printf("%s weight ratio %.4f (decoder layers %.4f)  KV ratio %.4f\n", what, num(m, "weight_ratio"),
           num(m, "layer_weight_ratio"), num(m, "kv_ratio_ctx48"));
}

/* Bytes one decoded token at context C reads, counted by hand from the
 * shapes: W4 per-channel packed linears (codes: rows padded to 16, columns
 * to 32, half a byte each; per row an fp32 scale, an int16 zero and an int32
 * code sum), the fp32 lm_head, K and V of positions 0..C (fp32, or int4
 * codes + fp32 scale and zero per head), 2L+1 norm weights and one
 * embedding row. */
static double hand_bytes(const ptq_config *c, int ctx, int packed, int kv4) {
    int L = c->n_layers, kvd = c->n_kv_heads * c->head_dim;
    int shapes[PTQ_LIN_COUNT][2] = {{c->dim, c->dim}, {kvd, c->dim}, {kvd, c->dim}, {c->dim, c->dim},
                                    {c->hidden_dim, c->dim}, {c->hidden_dim, c->dim}, {c->dim, c->hidden_dim}};
    double b = 0;
    for (int i = 0; i < PTQ_LIN_COUNT; i++) {
        double out = shapes[i][0], in = shapes[i][1], np = ceil(out / 16) * 16, kp = ceil(in / 32) * 32;
        b += L * (packed ? np * kp / 2 + np * (4 + 2 + 4) : 4 * out * in);
    }
    b += 4.0 * c->vocab_size * c->dim;
    double kv_pos = kv4 ? c->n_kv_heads * (c->head_dim / 2 + 8.0) : 4.0 * kvd;
    return b + 2.0 * L * (ctx + 1) * kv_pos + 4.0 * c->dim * (2 * L + 2);
}

static int quantize(const ptq_model *fp, const ptq_tokenizer *tok, const char *bits, ptq_model *q, ptq_qspec *qs) {
    ptq_err err = {{0}};
    cJSON *info = cJSON_CreateObject(), *o = cJSON_CreateObject();
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    int rc = ptq_qspec_parse(bits, qs, &err);
    ptq_apply_ctx ctx = {.q = qs, .opts = o, .tok = tok, .calib = &cs, .info = info};
    if (!rc) rc = ptq_model_clone(q, fp, &err) || ptq_method_apply(ptq_method_find("rtn"), q, &ctx, &err);
    if (rc) fprintf(stderr, "quantize %s: %s\n", bits, err.msg);
    cJSON_Delete(info), cJSON_Delete(o);
    return rc;
}

static void test_measure(const ptq_model *fp, const ptq_tokenizer *tok) {
    ptq_latency_opts o;
    ptq_err err = {{0}};
    CHECK(ptq_latency_parse("T=16:ctx=48+100000:reps=5:min_ms=1", &o, &err) == 0); /* ctx capped at max_seq-1 */
    static const char *const bits[2] = {"W4A4", "W4A4KV4"};
    for (int b = 0; b < 2; b++) {
        ptq_model q;
        ptq_qspec qs;
        if (quantize(fp, tok, bits[b], &q, &qs)) {
            CHECK(0);
            continue;
        }
        cJSON *m = cJSON_CreateObject();
        int rc = ptq_latency_run(&q, fp, &o, m, &err);
        CHECK(rc == 0);
        if (rc)
            fprintf(stderr, "latency %s: %s\n", bits[b], err.msg);
        else {
            check_metrics(m, bits[b]);
            const cJSON *pl = cJSON_GetObjectItemCaseSensitive(m, "prefill_logits");
            CHECK(cJSON_IsString(pl) && !strcmp(pl->valuestring, "last"));
            const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "decode_ctx");
            CHECK(cJSON_GetArraySize(cs) == 2 && cJSON_GetArrayItem(cs, 1)->valueint == 511);
            /* int4 KV: head_dim 8 -> 4 code bytes + fp32 scale and zero = 12 of 32 bytes */
            CHECK(b == 0 ? num(m, "kv_ratio_ctx48") == 1.0 : fabs(num(m, "kv_ratio_ctx48") - 0.375) < 1e-9);
            /* bytes read per decoded token = the hand count (the lm_head stays fp32 under rtn) */
            CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(m, "lm_head_packed")));
            CHECK(num(m, "decode_ctx48_bytes_per_token") == hand_bytes(&fp->cfg, 48, 1, b == 1));
            CHECK(num(m, "fp32_decode_ctx48_bytes_per_token") == hand_bytes(&fp->cfg, 48, 0, 0));
            printf("%s bytes per decoded token at ctx 48: packed %.0f, fp32 %.0f (hand count %.0f, %.0f)\n", bits[b],
                   num(m, "decode_ctx48_bytes_per_token"), num(m, "fp32_decode_ctx48_bytes_per_token"),
                   hand_bytes(&fp->cfg, 48, 1, b == 1), hand_bytes(&fp->cfg, 48, 0, 0));
        }
        cJSON_Delete(m);
        ptq_model_free(&q);
    }
    /* The format comes from the model: unquantized weights run on the FP32
     * path; a layer linear without a quantized weight has no packed form
     * when its input is quantized, and runs the fp32 GEMM inside the packed
     * view when it is weight-only (a ggml type without a grid form). */
    cJSON *m = cJSON_CreateObject();
    CHECK(ptq_latency_run(fp, fp, &o, m, &err) == 0 && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(m, "packed")));
    cJSON_Delete(m);
    for (int wonly = 0; wonly < 2; wonly++) {
        ptq_model q;
        ptq_qspec qs;
        if (quantize(fp, tok, wonly ? "W4A16" : "W4A4", &q, &qs)) {
            CHECK(0);
            return;
        }
        ptq_linear *l = &q.layers[1].lin[PTQ_LIN_UP];
        ptq_qweight_free(l->qw);
        l->qw = NULL;
        m = cJSON_CreateObject();
        if (wonly) {
            CHECK(ptq_latency_run(&q, fp, &o, m, &err) == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "packed")));
            CHECK(num(m, "layer_weight_bytes") > 4.0 * l->out * l->in); /* that linear counts as fp32 */
        } else {
            CHECK(ptq_latency_run(&q, fp, &o, m, &err) == PTQ_LAT_UNSUPPORTED);
            CHECK(strstr(err.msg, "packed path (W4 sym (mixed") &&
                  strstr(err.msg, "tensor layers.1.up_proj.weight: the weight is not quantized"));
            CHECK(m->child == NULL);
        }
        cJSON_Delete(m);
        ptq_model_free(&q);
    }
}

/* The runner row: identifying fields next to a ppl row of the same cell. */
static void test_run_cell(void) {
    ptq_cell c;
    ptq_err err = {{0}};
    ptq_qspec q;
    CHECK(ptq_qspec_parse("W4A16", &q, &err) == 0 && ptq_cell_init(&c, "stories260K", "rtn", &q, &err) == 0);
    CHECK(ptq_cell_add_task(&c, "ppl:tinystories", &err) == 0);
    CHECK(ptq_cell_add_task(&c, "latency:T=16:ctx=32:reps=5:min_ms=1:clock=cpu:threads=1", &err) == 0);
    c.eval.ppl.limit_windows = 1;
    cJSON *rows = cJSON_CreateArray();
    int nthr = ptq_num_threads();
    CHECK(ptq_run_cell(&c, rows, &err) == 0);
    CHECK(ptq_num_threads() == nthr); /* the timing threads are restored */
    CHECK(cJSON_GetArraySize(rows) == 2);
    const cJSON *r = cJSON_GetArrayItem(rows, 1);
    static const char *const strs[] = {"task", "model", "method", "qspec",        "git_commit", "timestamp",
                                       "host", "cpu",   "isa",    "model_sha256", NULL};
    for (int i = 0; r && strs[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, strs[i]);
        CHECK(cJSON_IsString(v) && v->valuestring[0]);
        if (!cJSON_IsString(v)) fprintf(stderr, "latency row: no %s\n", strs[i]);
    }
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "options")));
    CHECK(num(r, "threads") >= 1);
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(r, "loadavg");
    CHECK(cJSON_GetArraySize(la) == 3 && cJSON_GetArrayItem(la, 0)->valuedouble >= 0);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(m, "path");
    CHECK(cJSON_IsString(path) && !strcmp(path->valuestring, "packed"));
    CHECK(num(m, "decode_ctx32_tokens_per_sec") > 0 && num(m, "prefill_T16_speedup") > 0);
    /* the paired repetitions' spread of each ratio, the clock and the timing threads are recorded */
    CHECK(num(m, "prefill_T16_speedup_log_sd") >= 0 && num(m, "decode_ctx32_speedup_log_sd") < 5);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "clock")), "cpu") && num(m, "timing_threads") == 1);
    cJSON_Delete(rows);
    /* a bad parameter is caught before anything runs */
    free(c.tasks[1]);
    c.tasks[1] = strdup("latency:T=16:bogus=2");
    CHECK(ptq_cell_check(&c, &err) == -1 && strstr(err.msg, "unknown parameter 'bogus'"));
    ptq_cell_free(&c);
}

static long fsize(const char *dir, const char *name) {
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) ? -1 : (long)st.st_size;
}

static void test_report(void) {
    ptq_rowset rs = {0};
    ptq_err err = {{0}};
    CHECK(ptq_results_read("tests/data/latency_fixture.jsonl", &rs, &err) == 0 && rs.n == 14);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/ptq_test_latency.%d", (int)getpid());
    ptq_report_opts o = {0};
    o.out_dir = dir, o.formats = PTQ_FMT_MD | PTQ_FMT_CSV | PTQ_FMT_TEX, o.plots = 1, o.title = "fx";
    FILE *devnull = fopen("/dev/null", "w");
    int rc = ptq_report(&rs, &o, devnull, &err);
    fclose(devnull);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "report: %s\n", err.msg);
    static const char *const files[] = {"pareto_m_wikitext2_weights.png",
                                        "pareto_m_wikitext2_weights.svg",
                                        "pareto_m_wikitext2_decode.png",
                                        "pareto_m_wikitext2_decode.svg",
                                        "table_m_latency.md",
                                        "table_m_latency.csv",
                                        "table_m_latency.tex",
                                        "table_m.md",
                                        NULL};
    for (int i = 0; files[i]; i++) {
        CHECK(fsize(dir, files[i]) > 100);
        if (fsize(dir, files[i]) <= 100) fprintf(stderr, "missing %s/%s\n", dir, files[i]);
    }
    char p[512], *md = NULL, *front = NULL, *csv = NULL;
    size_t n;
    snprintf(p, sizeof p, "%s/table_m_latency.md", dir);
    if (ptq_read_file(p, &md, &n, &err) == 0) {
        CHECK(strstr(md, "| Method | Bits | prefill T=128 tok/s | decode C=511 tok/s | weights KiB |"));
        CHECK(strstr(md, "| rtn | W4A4 | 10000 (2.00x) | 664 (1.66x) | 264 (0.27x) | 639 (1.00x) |"));
        CHECK(strstr(md, "| rtn | W4A4KV4 |") && strstr(md, "179 (0.28x)"));
        CHECK(strstr(md, "| septq | W4A16 | - |") && strstr(md, "not on a 4-bit uniform grid"));
    }
    snprintf(p, sizeof p, "%s/table_m_latency.csv", dir);
    if (ptq_read_file(p, &csv, &n, &err) == 0) CHECK(strstr(csv, "\"rtn\",\"W4A4\",\"packed\",\"2\",\"270000\""));
    /* front of ppl vs weight MiB: the best ppl at 0.27x (quarot W4A4) and at
     * 0.38x (quarot W8A8, 3.74); fp16 (3.74 at 1.0x) is not strictly better */
    snprintf(p, sizeof p, "%s/pareto_m_wikitext2_weights.front.dat", dir);
    if (ptq_read_file(p, &front, &n, &err) == 0) CHECK(!strncmp(front, "0.257492065 4.99\n0.36239624 3.74\n\n\n", 35));
    free(md), free(csv), free(front);
    ptq_rowset_free(&rs);
}

int main(void) {
    /* one thread: fast and steady on a loaded machine (the figures are only checked for consistency) */
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    openblas_set_num_threads(1);
    test_parse();
    test_report();
    ptq_model fp;
    ptq_tokenizer *tok = NULL;
    ptq_err err = {{0}};
    if (!tu_asset("models/stories260K/stories260K.bin") || ptq_open_model("stories260K", NULL, &fp, &tok, &err)) {
        fprintf(stderr, "stories260K not available: %s\n", err.msg);
        return tu_done("test_latency");
    }
    test_measure(&fp, tok);
    test_run_cell();
    ptq_tokenizer_free(tok);
    ptq_model_free(&fp);
    return tu_done("test_latency");
}
