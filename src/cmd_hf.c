/* cmd_hf.c — `ptqbench make-random-checkpoint`: a Hugging Face LLaMA
 * checkpoint with random weights and a published model's shapes, written
 * tensor by tensor (never whole in memory), for streaming, memory and speed
 * measurements that do not depend on weight values. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets.h"
#include "method.h"
#include "model_hf.h"
#include "model_open.h"
#include "ppl_stream.h"
#include "ptqfile.h"
#include "run_cell.h"

static const struct {
    const char *name;
    ptq_config cfg;
    int shards;
} shapes[] = {
#define SHAPE(d, h, l, nh, kv, v, ms)                                                                                  \
    {                                                                                                                  \
        .dim = d, .hidden_dim = h, .n_layers = l, .n_heads = nh, .n_kv_heads = kv, .vocab_size = v, .max_seq = ms,     \
        .head_dim = (d) / (nh), .rope_theta = 10000.f, .norm_eps = 1e-5f, .rope_style = PTQ_ROPE_HALF, .bos_id = 1,    \
        .eos_id = 2                                                                                                    \
    }
    {"llama2-7b", SHAPE(4096, 11008, 32, 32, 32, 32000, 4096), 2},
    {"llama2-13b", SHAPE(5120, 13824, 40, 40, 40, 32000, 4096), 3},
    {"tiny", SHAPE(64, 128, 2, 4, 2, 32000, 256), 1},
};

int cmd_make_random_checkpoint(int argc, char **argv) {
    static const struct option opts[] = {{"shape", required_argument, 0, 's'},  {"dtype", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},    {"shards", required_argument, 0, 'n'},
                                         {"layers", required_argument, 0, 'l'}, {"seed", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *shape = NULL, *out = NULL, *dt = "bf16";
    int shards = 0, layers = 0, seed = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:d:o:n:l:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            shape = optarg;
            break;
        case 'd':
            dt = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'n':
            if (ptq_parse_int("--shards", optarg, 1, 1000, &shards)) return 2;
            break;
        case 'l':
            if (ptq_parse_int("--layers", optarg, 1, 1024, &layers)) return 2;
            break;
        case 'r':
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case 'h':
            printf("usage: ptqbench make-random-checkpoint --shape llama2-7b|llama2-13b|tiny --out DIR\n"
                   "       [--dtype bf16|fp16|fp32] [--shards N] [--layers N] [--seed S]\n"
                   "Writes config.json + (sharded) safetensors with random weights (std 0.02, norms 1).\n");
            return 0;
        default:
            return ptq_cli_bad_option("make-random-checkpoint", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "make-random-checkpoint: unexpected argument '%s'", argv[optind]);
    if (!shape || !out) return ptq_cli_error(2, "make-random-checkpoint: --shape and --out are required");
    int k = -1;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, shape)) k = (int)i;
    if (k < 0) return ptq_cli_error(2, "--shape: unknown shape '%s' (llama2-7b, llama2-13b, tiny)", shape);
    int dtype = !strcmp(dt, "bf16")   ? PTQ_ST_BF16
                : !strcmp(dt, "fp16") ? PTQ_ST_F16
                : !strcmp(dt, "fp32") ? PTQ_ST_F32
                                      : -1;
    if (dtype < 0) return ptq_cli_error(2, "--dtype: expected bf16, fp16 or fp32, got '%s'", dt);
    ptq_config cfg = shapes[k].cfg;
    if (layers) cfg.n_layers = layers;
    if (!shards) shards = PTQ_MIN(shapes[k].shards, cfg.n_layers + 1);
    if (shards > cfg.n_layers + 1)
        return ptq_cli_error(2, "--shards: at most %d for %d layers", cfg.n_layers + 1, cfg.n_layers);
    ptq_err err;
    double t0 = ptq_now_sec();
    if (ptq_hf_write(out, &cfg, NULL, dtype, shards, (uint64_t)seed, &err)) return ptq_cli_error(1, "%s", err.msg);
    printf("wrote %s: %s shape, %d layers, %s, %d shard(s), %.1f s\n", out, shape, cfg.n_layers, dt, shards,
           ptq_now_sec() - t0);
    return 0;
}

/* `ptqbench ppl --stream`: the model must be an HF directory (or the short
 * name of one); its tokenizer is opened as the in-RAM path would. */
int ptq_cmd_ppl_stream(const char *model, const char *tok_path, char *datasets, ptq_ppl_opts *po) {
    char dir[4096];
    ptq_err err;
    snprintf(dir, sizeof dir, "%s", model);
    for (int i = 0; ptq_named_models[i].name; i++)
        if (!strcmp(ptq_named_models[i].name, model)) {
            if (strcmp(ptq_named_models[i].kind, "hf"))
                return ptq_cli_error(2, "ppl --stream: model %s is not a Hugging Face checkpoint", model);
            if (ptq_data_path(ptq_named_models[i].path, dir, sizeof dir, &err)) return ptq_cli_error(1, "%s", err.msg);
        }
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    if (!ptq_file_exists(cfgp))
        return ptq_cli_error(2, "ppl --stream: '%s' is not a Hugging Face model directory (no config.json)", model);
    ptq_config cfg;
    ptq_tokenizer *tok;
    if (ptq_hf_read_config(dir, &cfg, &err) || ptq_hf_open_tokenizer(dir, tok_path, cfg.vocab_size, &tok, &err))
        return ptq_cli_error(1, "%s", err.msg);
    po->bos_id = tok->add_bos ? tok->bos_id : -1;
    po->progress = 0;
    ptq_stream_block *blocks = ptq_calloc(cfg.n_layers, sizeof *blocks, &err);
    int rc = blocks ? 0 : ptq_cli_error(1, "%s", err.msg);
    printf("%-18s %10s %10s %8s %7s %10s %10s\n", "dataset", "ppl", "tokens", "windows", "seqlen", "tok/s", "peakMiB");
    for (char *save = NULL, *d = strtok_r(datasets, ",", &save); d && !rc; d = strtok_r(NULL, ",", &save)) {
        ptq_tokens toks;
        ptq_ppl_result r;
        memset(&toks, 0, sizeof toks);
        if (ptq_text_tokens(d, tok, &toks, &err) || ptq_eval_ppl_stream(dir, &toks, po, &r, blocks, 1, &err)) {
            rc = ptq_cli_error(1, "%s", err.msg);
            if (toks.ids) ptq_tokens_free(&toks);
            break;
        }
        double load = 0, comp = 0;
        for (int l = 0; l < cfg.n_layers; l++)
            load += blocks[l].load_sec, comp += blocks[l].compute_sec;
        printf("%-18s %10.4f %10ld %8d %7d %10.0f %10.0f\n", d, r.ppl, r.tokens_scored, r.windows, r.seqlen,
               r.tokens_per_sec, ptq_peak_rss_kb() / 1024.0);
        printf("{\"task\":\"ppl:%s\",\"model\":\"%s\",\"stream\":true,\"dataset_sha256\":\"%s\",\"ppl\":%.6f,"
               "\"tokens_scored\":%ld,\"windows\":%d,\"seqlen\":%d,\"seconds\":%.2f,\"block_load_sec_mean\":%.3f,"
               "\"block_compute_sec_mean\":%.3f,\"peak_rss_kb\":%ld}\n",
               d, model, toks.sha256, r.ppl, r.tokens_scored, r.windows, r.seqlen, r.seconds, load / cfg.n_layers,
               comp / cfg.n_layers, ptq_peak_rss_kb());
        ptq_tokens_free(&toks);
    }
    free(blocks);
    ptq_tokenizer_free(tok);
    return rc;
}

/* `ptqbench export`: quantize a model with a method and save the result as a
 * ptqbench file (ptqfile.h) that --model accepts without re-quantizing. */
int cmd_export(int argc, char **argv) {
    static const struct option lo[] = {{"model", required_argument, 0, 'm'},
                                       {"method", required_argument, 0, 'M'},
                                       {"bits", required_argument, 0, 'b'},
                                       {"out", required_argument, 0, 'O'},
                                       {"opt", required_argument, 0, 'o'},
                                       {"calib", required_argument, 0, 'c'},
                                       {"nsamples", required_argument, 0, 'n'},
                                       {"seed", required_argument, 0, 's'},
                                       {"tokenizer", required_argument, 0, 'z'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *model = NULL, *method = NULL, *bits = NULL, *out = NULL, *tokp = NULL, *kvs[64];
    int nkv = 0, ns = 0, seed = 0, c;
    ptq_calib_spec cs;
    memset(&cs, 0, sizeof cs);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'M':
            method = optarg;
            break;
        case 'b':
            bits = optarg;
            break;
        case 'O':
            out = optarg;
            break;
        case 'z':
            tokp = optarg;
            break;
        case 'c':
            snprintf(cs.dataset, sizeof cs.dataset, "%s", optarg);
            break;
        case 'o':
            if (nkv == 64) return ptq_cli_error(2, "export: too many --opt");
            kvs[nkv++] = optarg;
            break;
        case 'n':
            if (ptq_parse_int("--nsamples", optarg, 1, 100000, &ns)) return 2;
            break;
        case 's':
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case 'h':
            printf("usage: ptqbench export --model M --method NAME --bits SPEC --out FILE.ptq [--opt key=value ...]\n"
                   "       [--calib DATASET] [--nsamples N] [--seed S] [--tokenizer PATH]\n"
                   "Saves the quantized model (format: src/ptqfile.h); `--model FILE.ptq` loads it back.\n");
            return 0;
        default:
            return ptq_cli_bad_option("export", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "export: unexpected argument '%s'", argv[optind]);
    if (!model || !method || !bits || !out)
        return ptq_cli_error(2, "export: --model, --method, --bits and --out are required");
    const ptq_method *me = ptq_method_find(method);
    if (!me) return ptq_cli_error(2, "export: unknown method '%s' (see `ptqbench methods`)", method);
    ptq_err err;
    ptq_qspec q;
    if (ptq_qspec_parse(bits, &q, &err) || (me->supports && me->supports(&q, &err)))
        return ptq_cli_error(2, "--bits: %s", err.msg);
    cJSON *opts = cJSON_CreateObject(), *info = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    int rc = 2;
    ptq_model m;
    ptq_tokenizer *tok = NULL;
    for (int i = 0; i < nkv; i++)
        if (ptq_opts_add_kv(me, opts, kvs[i], &err)) goto out0;
    if (ns > 0 && ptq_method_opt(me, "nsamples") && !cJSON_GetObjectItem(opts, "nsamples"))
        cJSON_AddNumberToObject(opts, "nsamples", ns);
    if (ptq_method_check_opts(me, opts, &err)) goto out0;
    if (!cs.dataset[0]) snprintf(cs.dataset, sizeof cs.dataset, "%s", ptq_default_calib(model));
    cs.seed = (uint64_t)seed;
    rc = 1;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) goto out0;
    ptq_apply_ctx ctx = {&q, opts, tok, &cs, (uint64_t)seed, info};
    double t0 = ptq_now_sec();
    if (ptq_method_apply(me, &m, &ctx, &err)) goto out1;
    cJSON *tj = cJSON_AddObjectToObject(meta, "tokenizer");
    char abs[4096];
    cJSON_AddStringToObject(tj, "kind", tok->kind);
    cJSON_AddStringToObject(tj, "path", realpath(tok->path, abs) ? abs : tok->path);
    cJSON_AddBoolToObject(tj, "add_bos", tok->add_bos);
    cJSON_AddStringToObject(meta, "source_model", m.name);
    cJSON_AddStringToObject(meta, "source_sha256", m.sha256);
    cJSON_AddStringToObject(meta, "method", me->name);
    cJSON_AddStringToObject(meta, "qspec", bits);
    cJSON_AddItemToObject(meta, "options", ptq_opts_resolved(me, opts));
    cJSON_AddItemToObject(meta, "method_info", cJSON_Duplicate(info, 1));
    cJSON_AddStringToObject(meta, "git_commit", ptq_git_commit());
    double t1 = ptq_now_sec();
    ptq_file_opts fo = {q.w_bits, q.w_group, PTQ_FILE_VERSION};
    ptq_file_stats fs;
    if (ptq_file_save_ex(out, &m, meta, &fo, &fs, &err)) goto out1;
    printf("exported %s %s %s -> %s (quantized in %.1f s, saved in %.2f s): %zu bytes, %d of %d linears packed, "
           "%ld sparse entries, %d online ops\n",
           m.name, me->name, bits, out, t1 - t0, ptq_now_sec() - t1, fs.file_bytes, fs.packed_linears, fs.linears,
           fs.sparse_entries, fs.online_ops);
    rc = 0;
out1:
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
out0:
    if (rc) ptq_cli_error(rc, "%s", err.msg);
    cJSON_Delete(opts), cJSON_Delete(info), cJSON_Delete(meta);
    return rc;
}
