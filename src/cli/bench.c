/* bench.c — `ptqbench bench`.
 * `bench forward`: whole FP32 forward GFLOP/s next to OpenBLAS sgemm GFLOP/s
 * on the same projection shapes, same run, same threads.
 * `bench --shape llama7b | --model M --method X --bits B`: the method applied
 * through the runner (ptq_prepare; for --shape a random-weight model of
 * LLaMA-7B layer shapes, calibrated on seeded random-token windows since
 * speed does not depend on the text) and the latency task's measurement
 * (eval/latency.c): the packed low-bit path with the method's online ops
 * against the FP32 path. Prints the latency row; with --out (needs --model)
 * appends it to a results file, like a sweep's latency task.
 * `bench --model FILE.ptq`: an exported model measured as stored. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_rows.h"
#include "cli.h"
#include "kernels.h"
#include "ptqfile.h"
#include "shapes.h"
#include "sysinfo.h"
#include "threads.h"
#include "train.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* FLOPs of one forward of T tokens (projections + attention, causal). */
static double forward_flops(const ptq_config *c, int T, double *proj_only) {
    double d = c->dim, h = c->hidden_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double proj = 2.0 * T * (d * d * 2 + 2 * d * kv + 3 * d * h) * c->n_layers + 2.0 * T * d * c->vocab_size;
    double att = 2.0 * 2.0 * c->n_heads * c->head_dim * ((double)T * (T + 1) / 2) * c->n_layers;
    *proj_only = proj;
    return proj + att;
}

static double time_sgemm_shapes(const ptq_model *m, int T, int reps) {
    /* the same GEMMs the forward runs, back to back, with nothing else */
    const ptq_layer *L = &m->layers[0];
    size_t maxo = PTQ_MAX(m->cfg.hidden_dim, m->cfg.dim), maxi = maxo;
    float *x = calloc((size_t)T * maxi, sizeof(float)), *y = calloc((size_t)T * maxo, sizeof(float));
    for (size_t i = 0; i < (size_t)T * maxi; i++)
        x[i] = 0.01f * (float)(i % 97);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = ptq_now_sec();
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int j = 0; j < PTQ_LIN_COUNT; j++) {
                const ptq_linear *W = &L->lin[j];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, W->out, W->in, 1.f, x, W->in, W->w, W->in, 0.f,
                            y, W->out);
            }
        double t = ptq_now_sec() - t0;
        best = t < best ? t : best;
    }
    free(x);
    free(y);
    return best;
}

static int bench_shape(const char *label, int dim, int hidden, int layers, int heads, int T, int reps) {
    ptq_model m;
    ptq_err err;
    ptq_state s;
    ptq_random_spec spec = {.seed = 42, .cfg = PTQ_SHAPE(dim, hidden, layers, heads, heads, 512, T)};
    spec.cfg.rope_style = PTQ_ROPE_INTERLEAVED;
    spec.cfg.tied_embeddings = 1;
    snprintf(spec.name, sizeof spec.name, "%s", label);
    if (ptq_random_model(&m, &spec, &err) || ptq_state_init(&s, &m, T, &err)) return ptq_cli_error(1, "%s", err.msg);
    int *tok = malloc(sizeof(int) * T);
    for (int i = 0; i < T; i++)
        tok[i] = (i * 31) % m.cfg.vocab_size;
    ptq_forward(&m, &s, tok, T, 0, NULL, 0, &err); /* warm-up */
    double tf[64] = {0};
    for (int r = 0; r < reps; r++) {
        double t0 = ptq_now_sec();
        ptq_forward(&m, &s, tok, T, 0, NULL, 0, &err);
        tf[r] = ptq_now_sec() - t0;
    }
    double best = tf[0];
    for (int r = 1; r < reps; r++)
        best = tf[r] < best ? tf[r] : best;
    double proj, fl = forward_flops(&m.cfg, T, &proj);
    double proj_layers = proj - 2.0 * T * m.cfg.dim * m.cfg.vocab_size;
    double tg = time_sgemm_shapes(&m, T, reps);
    double gf_fwd = fl / best * 1e-9, gf_gemm = proj_layers / tg * 1e-9;
    printf("%-28s T=%-5d threads=%d  forward %7.2f GFLOP/s (%.2f ms)  sgemm %7.2f GFLOP/s  ratio %.2f\n", label, T,
           ptq_num_threads(), gf_fwd, best * 1e3, gf_gemm, gf_fwd / gf_gemm);
    free(tok);
    ptq_state_free(&s);
    ptq_model_free(&m);
    return 0;
}

/* One chunk XOR-reduced with 64-byte loads (the widest the CPU has: a
 * scalar 8-byte loop is bound by instructions, not DRAM, on a busy core). */
typedef uint64_t ptq_v8u __attribute__((vector_size(64)));
#define READ_CHUNK_BODY                                                                        \
    ptq_v8u a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                            \
    for (size_t i = 0; i < n; i += 4) a0 ^= p[i], a1 ^= p[i + 1], a2 ^= p[i + 2], a3 ^= p[i + 3]; \
    a0 ^= a1 ^ a2 ^ a3;                                                                        \
    return a0[0] ^ a0[1] ^ a0[2] ^ a0[3] ^ a0[4] ^ a0[5] ^ a0[6] ^ a0[7]
__attribute__((target("avx512f"))) static uint64_t read_chunk_avx512(const ptq_v8u *p, size_t n) { READ_CHUNK_BODY; }
static uint64_t read_chunk(const ptq_v8u *p, size_t n) { READ_CHUNK_BODY; }

/* Best time of `reps` reads of buf (n vectors) split over the threads in
 * CHUNKS fixed chunks, as GB/s (1e9 bytes). */
enum { READ_CHUNKS = 64 };
static double read_gbs(const ptq_v8u *buf, size_t n, int reps, int wide, uint64_t *sink) {
    size_t per = n / READ_CHUNKS;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = ptq_now_sec();
        uint64_t acc = 0;
#pragma omp parallel for schedule(static) reduction(^ : acc)
        for (int c = 0; c < READ_CHUNKS; c++)
            acc ^= wide ? read_chunk_avx512(buf + (size_t)c * per, per) : read_chunk(buf + (size_t)c * per, per);
        best = fmin(best, ptq_now_sec() - t0);
        *sink ^= acc;
    }
    return (double)per * READ_CHUNKS * sizeof(ptq_v8u) / best * 1e-9;
}

/* The machine's memory as bench sees it: read bandwidth, the best of 5
 * streaming reads of a buffer of 1 GiB or 4x the reported last-level cache,
 * whichever is larger; and the cache a working set can actually stay in
 * between tokens, measured: the largest buffer of 1 MiB, 2 MiB, ... up to the
 * reported LLC whose repeated reads still run at >= 1.5x that bandwidth. A
 * virtual machine may report its host's whole L3 (508 MiB was seen, where
 * one core complex has 32), so the reported size alone marked 110 MB layers
 * "fits LLC". */
typedef struct {
    double bw_gbs;
    size_t llc_reported, llc_measured;
} mem_probe;

static mem_probe probe_memory(void) {
    mem_probe p = {NAN, ptq_llc_bytes(), 0};
    size_t bytes = PTQ_MAX((size_t)1 << 30, 4 * p.llc_reported);
    size_t n = bytes / sizeof(ptq_v8u) / READ_CHUNKS / 4 * 4 * READ_CHUNKS;
    ptq_v8u *buf = aligned_alloc(64, n * sizeof(ptq_v8u));
    if (!buf) return p;
    uint64_t *u = (uint64_t *)(void *)buf, sink = 0;
    for (size_t i = 0; i < n * 8; i++) u[i] = i * 0x9E3779B97F4A7C15ull;
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    p.bw_gbs = read_gbs(buf, n, 5, wide, &sink);
    for (size_t b = (size_t)1 << 20; b <= p.llc_reported && b < bytes; b *= 2) {
        size_t nb = b / sizeof(ptq_v8u) / READ_CHUNKS / 4 * 4 * READ_CHUNKS;
        read_gbs(buf, nb, 1, wide, &sink); /* warm: the buffer into whatever cache holds it */
        if (read_gbs(buf, nb, 3, wide, &sink) < 1.5 * p.bw_gbs) break;
        p.llc_measured = b;
    }
    free(buf);
    if (sink == 1) p.bw_gbs = NAN; /* sink keeps the reads */
    return p;
}

/* Decode reads every weight and the KV cache once per token (the latency
 * row's decode_ctxC_bytes_per_token): bytes x tok/s against the machine's
 * read bandwidth, for both paths. When those bytes fit in the cache measured
 * by probe_memory (llc_bytes_measured; llc_bytes is the size the CPU reports)
 * part of them need not come from DRAM between tokens and the fraction can
 * pass 100 %: the row says so (decode_ctxC_llc_resident). */
static void put_decode_bandwidth(cJSON *row, mem_probe mp) {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(row, "metrics"), *it;
    if (!m || cJSON_GetObjectItemCaseSensitive(m, "error")) return;
    double bw = mp.bw_gbs;
    cJSON_AddNumberToObject(m, "read_bw_gbs", bw);
    cJSON_AddNumberToObject(m, "llc_bytes", (double)mp.llc_reported);
    cJSON_AddNumberToObject(m, "llc_bytes_measured", (double)mp.llc_measured);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "decode_ctx")) {
        for (int fp = 0; fp < 2; fp++) {
            char k[96], tps[64];
            snprintf(k, sizeof k, "%sdecode_ctx%d_bytes_per_token", fp ? "fp32_" : "", it->valueint);
            snprintf(tps, sizeof tps, "%sdecode_ctx%d_tokens_per_sec", fp ? "fp32_" : "", it->valueint);
            double bytes = ptq_row_metric(row, k);
            snprintf(k, sizeof k, "%sdecode_ctx%d_read_gbs", fp ? "fp32_" : "", it->valueint);
            cJSON_AddNumberToObject(m, k, bytes * ptq_row_metric(row, tps) * 1e-9);
            snprintf(k, sizeof k, "%sdecode_ctx%d_bw_fraction", fp ? "fp32_" : "", it->valueint);
            cJSON_AddNumberToObject(m, k, bytes * ptq_row_metric(row, tps) * 1e-9 / bw);
            snprintf(k, sizeof k, "%sdecode_ctx%d_llc_resident", fp ? "fp32_" : "", it->valueint);
            cJSON_AddBoolToObject(m, k, bytes <= (double)mp.llc_measured);
        }
    }
}

static void print_latency_row(const cJSON *row) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(row, "metrics"),
                *e = cJSON_GetObjectItemCaseSensitive(m, "error");
    printf("latency row (%s path, %s):\n", cJSON_IsString(e) ? "no" : ptq_row_str(m, "path"), ptq_row_str(row, "task"));
    if (cJSON_IsString(e)) {
        printf("  error: %s\n", e->valuestring);
        return;
    }
    static const char *const kinds[2][2] = {{"prefill_T", "prefill T="}, {"decode_ctx", "decode ctx="}};
    for (int k = 0; k < 2; k++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(m, k ? "decode_ctx" : "prefill_T"), *it;
        cJSON_ArrayForEach(it, list) {
            char a[96], what[48];
            snprintf(what, sizeof what, "%s%d", kinds[k][1], it->valueint);
            double v[7];
            static const char *const suf[7] = {
                "_tokens_per_sec", "_tokens_per_sec_min", "_tokens_per_sec_max", "", "", "", "_speedup"};
            for (int j = 0; j < 7; j++) {
                snprintf(a, sizeof a, "%s%s%d%s", j >= 3 && j < 6 ? "fp32_" : "", kinds[k][0], it->valueint,
                         j >= 3 && j < 6 ? suf[j - 3] : suf[j]);
                v[j] = ptq_row_metric(row, a);
            }
            printf("  %-22s packed %10.2f tok/s [%.2f..%.2f]   fp32 %10.2f [%.2f..%.2f]   ratio %.2fx\n", what, v[0],
                   v[1], v[2], v[3], v[4], v[5], v[6]);
        }
    }
    printf("  weight bytes           %.0f   fp32 %.0f   ratio %.4f   (decoder layers: ratio %.4f)\n",
           ptq_row_metric(row, "weight_bytes"), ptq_row_metric(row, "fp32_weight_bytes"),
           ptq_row_metric(row, "weight_ratio"), ptq_row_metric(row, "layer_weight_ratio"));
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "decode_ctx")) {
        char a[64], b[64];
        snprintf(a, sizeof a, "kv_bytes_ctx%d", it->valueint);
        snprintf(b, sizeof b, "fp32_kv_bytes_ctx%d", it->valueint);
        printf("  KV bytes ctx=%-8d   %.0f   fp32 %.0f   ratio %.4f\n", it->valueint, ptq_row_metric(row, a),
               ptq_row_metric(row, b), ptq_row_metric(row, a) / ptq_row_metric(row, b));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "decode_ctx")) {
        char a[64], b[64], c[64], d[64], e[64], f[64];
        snprintf(e, sizeof e, "decode_ctx%d_llc_resident", it->valueint);
        snprintf(f, sizeof f, "fp32_decode_ctx%d_llc_resident", it->valueint);
        int re = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, e)),
            rf = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, f));
        snprintf(a, sizeof a, "decode_ctx%d_read_gbs", it->valueint);
        snprintf(b, sizeof b, "decode_ctx%d_bw_fraction", it->valueint);
        snprintf(c, sizeof c, "fp32_decode_ctx%d_read_gbs", it->valueint);
        snprintf(d, sizeof d, "fp32_decode_ctx%d_bw_fraction", it->valueint);
        printf("  decode ctx=%-8d    reads packed %.2f GB/s (%.0f%% of %.2f GB/s read bandwidth)%s   fp32 %.2f GB/s "
               "(%.0f%%)%s\n",
               it->valueint, ptq_row_metric(row, a), 100 * ptq_row_metric(row, b), ptq_row_metric(row, "read_bw_gbs"),
               re ? " [fits LLC]" : "", ptq_row_metric(row, c), 100 * ptq_row_metric(row, d), rf ? " [fits LLC]" : "");
    }
    const char *pl = ptq_row_str(m, "prefill_logits"), *wp = ptq_row_str(row, "omp_wait_policy"),
               *sc = ptq_row_str(row, "gomp_spincount"), *bc = ptq_row_str(row, "openblas_coretype"),
               *bcpu = ptq_row_str(row, "openblas_coretype_cpu");
    const char *w16 = ptq_row_str(m, "w16_act"), *ck = ptq_row_str(m, "clock");
    if (!w16) w16 = ptq_row_str(m, "w16_prefill"); /* rows before 2026-12-02: int8 was prefill only */
    printf("  prefill logits         %s; w16 act %s; clock %s; threads %.0f; OMP_WAIT_POLICY %s, GOMP_SPINCOUNT %s, "
           "OPENBLAS_CORETYPE %s\n",
           pl ? pl : "?", w16 ? w16 : "?", ck ? ck : "?", ptq_row_metric(row, "threads"), wp ? wp : "?", sc ? sc : "?",
           bc ? bc : "?");
    if (bc && bcpu && strcmp(bcpu, "unknown") && strcmp(bc, bcpu))
        printf("  note                   OPENBLAS_CORETYPE=%s came from the environment; this CPU supports %s kernels "
               "(unset OPENBLAS_CORETYPE to use them: sgemm measured 1.9x faster with SkylakeX than Haswell here)\n",
               bc, bcpu);
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(row, "loadavg");
    printf("  peak RSS               %.0f KiB   load average %.2f (1 min, at start)\n",
           ptq_row_metric(row, "peak_rss_kb"),
           cJSON_GetArraySize(la) > 0 ? cJSON_GetArrayItem(la, 0)->valuedouble : NAN);
}

static int parse_list(const char *flag, const char *s, int *v, int cap, int lo, int hi) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *sv = NULL, *tok = strtok_r(buf, ",", &sv); tok; tok = strtok_r(NULL, ",", &sv)) {
        if (n == cap) return ptq_cli_error(2, "%s: at most %d values", flag, cap), -1;
        if (ptq_parse_int(flag, tok, lo, hi, &v[n])) return -1;
        n++;
    }
    if (!n) return ptq_cli_error(2, "%s: empty list", flag), -1;
    return n;
}

static void usage(void) {
    printf("usage: ptqbench bench (--shape llama7b [--layers N] [--vocab V] [--outer bf16] | --model M) --method X\n"
           "       --bits B\n"
           "       [--opt key=value ...] [--calib DATASET] [--nsamples N] [--calib-seqlen L] [--seed S]\n"
           "       [--threads N|auto] [--reps N>=5] [--tokens 128,512,2048] [--ctx 512,2048] [--min-ms MS]\n"
           "       [--w16-act fp32|int8|bf16] [--clock wall|cpu] [--out FILE.jsonl]\n"
           "       ptqbench bench --model FILE.ptq [--out FILE.jsonl] [--tokens ...] [--ctx ...] [--reps N]\n"
           "       ptqbench bench forward [--reps N]\n"
           "       ptqbench bench train [--reps N]   (one training step vs sgemm on its shapes)\n"
           "  The method is applied as `ptqbench run` applies it and timed by the latency task (eval/latency.c):\n"
           "  prefill T tokens and decode at context C on the packed low-bit path against the FP32 path, median\n"
           "  of --reps runs after a warm-up (T capped at max_seq, contexts at max_seq-1).\n"
           "  --shape llama7b  a random-weight model of LLaMA-7B layer shapes (dim 4096, hidden 11008, 32 heads\n"
           "                   of 128), --layers N (default 1), --vocab V (default 512; 32000 is LLaMA-2's),\n"
           "                   --outer bf16|f16|f32 (default f32): the embedding and lm_head held in that dtype,\n"
           "                   as a 16-bit checkpoint keeps them (the rows count lm_head's bytes per decoded\n"
           "                   token as held); calibration: --nsamples\n"
           "                   (default 4) windows of --calib-seqlen (default 128) seeded random tokens, since\n"
           "                   speed does not depend on the calibration text (--calib DATASET needs a tokenizer)\n"
           "  --threads N|auto N: exactly N threads. auto (the default unless OMP_NUM_THREADS is set): the\n"
           "                   cores other jobs leave free, re-read every 250 ms between forward passes\n"
           "                   (runnable threads of other processes, /proc/loadavg); the row records the count\n"
           "  --out FILE       (needs --model) append the row to FILE, as a sweep's latency task writes it\n"
           "  --model FILE.ptq an exported model measured as stored: method and bits from its header\n"
           "  --w16-act        weight-only linears' activations: fp32 (default; the dequantizing fp32 GEMM and\n"
           "                   GEMV) or int8 (quantized per token to 8 bits, the integer GEMM and GEMV, prefill\n"
           "                   and decode, as llama.cpp's Q8_0 activations; labelled in the row) or bf16 (rounded\n"
           "                   to bf16, vdpbf16ps in the prefill GEMM and the int4 decode GEMV, other widths\n"
           "                   the fp32 GEMV on the rounded row: a GPU W4A16 kernel's activations; labelled). --w16-prefill\n"
           "                   is its old name (before 2026-12-02 the int8 mode left decode in fp32)\n"
           "  --clock cpu      time by the process's CPU time (all threads), not wall time: on a loaded machine\n"
           "                   the time spent waiting for a core is left out (the row records the clock)\n");
    ptq_cli_cell_help(stdout);
    ptq_cli_bitspec_help(stdout);
}

/* Print the row; append it to out when given. 0, or 1 after an error. */
static int emit(cJSON *row, const char *out) {
    put_decode_bandwidth(row, probe_memory());
    print_latency_row(row);
    if (!out) return 0;
    ptq_results_writer w;
    ptq_err err;
    if (ptq_results_open(&w, out, &err)) return ptq_cli_error(1, "bench: %s", err.msg);
    int rc = ptq_results_append(&w, &row, 1, &err);
    ptq_results_close(&w);
    if (rc) return ptq_cli_error(1, "bench: %s", err.msg);
    printf("row appended to %s\n", out);
    return 0;
}

/* A metrics.error row (the packed path cannot run the model) exits 1. */
static int error_row(const cJSON *row, const char *out) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(row, "metrics"), "error");
    if (!cJSON_IsString(e)) return 0;
    return out ? ptq_cli_error(1, "bench: %s (error row appended to %s)", e->valuestring, out)
               : ptq_cli_error(1, "bench: %s", e->valuestring);
}

/* `bench train`: one training step of a dim-512 / 8-layer / hidden-1376
 * model (stories42M shapes) at T = 512 against OpenBLAS sgemm on the step's
 * product shapes, same run. */
static int bench_train(int argc, char **argv) {
    int reps = 3;
    if (argc >= 4 && !strcmp(argv[2], "--reps")) {
        if (ptq_parse_int("--reps", argv[3], 1, 64, &reps)) return 2;
    } else if (argc > 2)
        return ptq_cli_error(2, "bench train: unexpected argument '%s'", argv[2]);
    ptq_config c = PTQ_SHAPE(512, 1376, 8, 8, 8, 32000, 512);
    ptq_train_bench_result r;
    ptq_err err;
    if (ptq_train_bench(&c, 512, reps, &r, &err)) return ptq_cli_error(1, "bench train: %s", err.msg);
    double gs = r.step_flops / r.step_sec * 1e-9, gg = r.gemm_flops / r.gemm_sec * 1e-9;
    printf("%-28s T=%-5d threads=%d  train step %7.2f GFLOP/s (%.1f ms)  sgemm %7.2f GFLOP/s  ratio %.2f\n",
           "train dim512/h1376/8L/8H", 512, ptq_num_threads(), gs, r.step_sec * 1e3, gg, gs / gg);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return bench_train(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "forward")) {
        int reps = 5;
        if (argc >= 4 && !strcmp(argv[2], "--reps")) {
            if (ptq_parse_int("--reps", argv[3], 1, 64, &reps)) return 2;
        } else if (argc > 2)
            return ptq_cli_error(2, "bench forward: unexpected argument '%s'", argv[2]);
        int rc = bench_shape("dim512/h1376/8L/8H", 512, 1376, 8, 8, 512, reps);
        if (!rc) rc = bench_shape("dim4096/h11008/1L/32H", 4096, 11008, 1, 32, 512, reps);
        return rc;
    }
    static const struct option opts[] = {PTQ_CELL_LONGOPTS,
                                         {"shape", required_argument, 0, 's'},
                                         {"layers", required_argument, 0, 'l'},
                                         {"vocab", required_argument, 0, 'v'},
                                         {"outer", required_argument, 0, 'E'},
                                         {"threads", required_argument, 0, 't'},
                                         {"reps", required_argument, 0, 'r'},
                                         {"tokens", required_argument, 0, 'T'},
                                         {"ctx", required_argument, 0, 'c'},
                                         {"min-ms", required_argument, 0, 'n'},
                                         {"out", required_argument, 0, 'o'},
                                         {"w16-act", required_argument, 0, 'w'},
                                         {"w16-prefill", required_argument, 0, 'w'},
                                         {"clock", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ptq_cli_cell f = {.method = "rtn", .bits = "W4A4"};
    const char *shape = NULL, *out = NULL;
    int threads = 0, layers = 1, vocab = 512, outer16 = 0, c;
    ptq_latency_opts lo;
    ptq_latency_defaults(&lo);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = ptq_cli_cell_flag(&f, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case 's':
            shape = optarg;
            break;
        case 'l':
            if (ptq_parse_int("--layers", optarg, 1, 1024, &layers)) return 2;
            break;
        case 'v':
            if (ptq_parse_int("--vocab", optarg, 3, 1 << 20, &vocab)) return 2;
            break;
        case 'E':
            outer16 = !strcmp(optarg, "bf16") ? PTQ_W16_BF16 : !strcmp(optarg, "f16") ? PTQ_W16_F16 : 0;
            if (!outer16 && strcmp(optarg, "f32"))
                return ptq_cli_error(2, "bench: --outer must be bf16, f16 or f32, not '%s'", optarg);
            break;
        case 't':
            if (!strcmp(optarg, "auto")) threads = -1;
            else if (ptq_parse_int("--threads", optarg, 1, 1024, &threads))
                return 2;
            break;
        case 'r':
            if (ptq_parse_int("--reps", optarg, 5, 64, &lo.reps)) return 2;
            break;
        case 'T':
            if ((lo.nT = parse_list("--tokens", optarg, lo.Ts, PTQ_LAT_MAXLIST, 1, 65536)) < 0) return 2;
            break;
        case 'c':
            if ((lo.nC = parse_list("--ctx", optarg, lo.ctxs, PTQ_LAT_MAXLIST, 1, 1 << 20)) < 0) return 2;
            break;
        case 'n':
            if (ptq_parse_int("--min-ms", optarg, 0, 10000, &lo.min_ms)) return 2;
            break;
        case 'o':
            out = optarg;
            break;
        case 'w': {
            ptq_w16_act m;
            if (ptq_w16_act_parse(optarg, &m))
                return ptq_cli_error(2, "bench: --w16-act %s: expected fp32, int8 or bf16", optarg);
            lo.w16_act = (int)m;
            break;
        }
        case 'k':
            if (strcmp(optarg, "wall") && strcmp(optarg, "cpu"))
                return ptq_cli_error(2, "bench: --clock %s: expected wall or cpu", optarg);
            lo.cpu_clock = !strcmp(optarg, "cpu");
            break;
        case 'h':
            usage();
            return 0;
        default:
            return ptq_cli_bad_option("bench", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "bench: unexpected argument '%s'", argv[optind]);
    if (!shape == !f.model) return ptq_cli_error(2, "bench: give exactly one of --shape llama7b or --model M");
    if (out && !f.model)
        return ptq_cli_error(2, "bench: --out needs --model (result rows describe a real quantized model)");
    if (outer16 && !shape) return ptq_cli_error(2, "bench: --outer needs --shape (a model file holds its own dtypes)");
    const ptq_model_shape *sh = shape ? ptq_model_shape_find(shape) : NULL;
    if (shape && !sh) {
        char names[256];
        ptq_model_shape_names(names, sizeof names);
        return ptq_cli_error(2, "bench: --shape '%s' unknown (expected one of: %s)", shape, names);
    }
    if (threads < 0) ptq_threads_auto();
    else if (threads) ptq_threads_fix(threads);
    char task[256];
    ptq_bench_task(&lo, task, sizeof task);
    if (lo.w16_act)
        snprintf(task + strlen(task), sizeof task - strlen(task), ":w16=%s", ptq_w16_act_flag((ptq_w16_act)lo.w16_act));
    if (lo.cpu_clock) snprintf(task + strlen(task), sizeof task - strlen(task), ":clock=cpu");
    cJSON *row = NULL;
    ptq_err err;
    int rc;
    if (f.model && ptq_file_detect(f.model)) { /* an exported model, as stored */
        rc = ptq_bench_file(f.model, task, &row, &err);
        if (rc < 0) return ptq_cli_error(1, "bench: %s", err.msg);
        rc = emit(row, out);
        if (!rc) rc = error_row(row, out);
        cJSON_Delete(row);
        return rc;
    }
    ptq_random_spec spec = {.seed = (uint64_t)f.seed};
    ptq_cell cell;
    if (sh) {
        int maxT = 1, maxC = 1;
        for (int i = 0; i < lo.nT; i++)
            maxT = PTQ_MAX(maxT, lo.Ts[i]);
        for (int i = 0; i < lo.nC; i++)
            maxC = PTQ_MAX(maxC, lo.ctxs[i]);
        spec.cfg = sh->cfg;
        spec.cfg.n_layers = layers, spec.cfg.vocab_size = vocab, spec.cfg.max_seq = PTQ_MAX(maxT, maxC + 1);
        snprintf(spec.name, sizeof spec.name, "random-%s-L%d-V%d%s", sh->name, layers, vocab,
                 outer16 == PTQ_W16_BF16 ? "-bf16" : outer16 ? "-f16" : "");
        spec.outer16 = outer16;
        f.model = spec.name;
        if (!f.calib) f.calib = PTQ_CALIB_RANDOM;
        if (!f.nsamples) f.nsamples = 4;
        if (!f.calib_seqlen) f.calib_seqlen = 128;
    }
    if ((rc = ptq_cli_cell_make(&f, "bench", &cell))) return rc;
    if (sh) cell.synthetic = &spec;
    if (ptq_cell_add_task(&cell, task, &err) || ptq_cell_check(&cell, &err)) {
        ptq_cell_free(&cell);
        return ptq_cli_error(2, "bench: %s", err.msg);
    }
    printf("bench %s method=%s bits=%s threads=%d (median [min..max] of %d runs)\n", cell.model, cell.method->name,
           cell.q.text, ptq_num_threads(), lo.reps);
    rc = ptq_bench_cell(&cell, &row, &err) ? ptq_cli_error(1, "bench: %s", err.msg) : emit(row, out);
    if (!rc) rc = error_row(row, out);
    cJSON_Delete(row);
    ptq_cell_free(&cell);
    return rc;
}
