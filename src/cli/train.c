/* train.c — `ptqbench train CONFIG.json`: pre-train a LLaMA-shaped model
 * (src/train/pretrain.h), resumable after a kill, into an HF directory; and
 * `--check-tokenizer`: a tokenizer loads and round-trips a text. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>

#include "cli.h"
#include "pretrain.h"
#include "tokenizer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench train CONFIG.json [--stop-after N]\n"
               "       ptqbench train --check-tokenizer TOKENIZER --text FILE\n"
               "  trains from scratch (config fields: src/train/pretrain.h; recipes: experiments/zoo/), resuming\n"
               "  from <out>/train.ckpt when present, and writes <out> as an HF directory (model.safetensors,\n"
               "  config.json, tokenizer). --stop-after N: stop after N steps of this run (the checkpoint stays).\n"
               "  --check-tokenizer: encode FILE's documents (blank-line separated) with BOS and decode them back;\n"
               "  exit 1 unless every document round-trips byte for byte.\n");
}

static int check_tokenizer(const char *tokp, const char *text) {
    ptq_tokenizer *tok;
    ptq_err err;
    int *ids;
    long n, docs, bad;
    if (ptq_tokenizer_open(tokp, 1 << 30, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    int rc = ptq_pretrain_encode(tok, text, &ids, &n, &docs, &bad, &err);
    if (rc) rc = ptq_cli_error(1, "%s", err.msg);
    else {
        printf("tokenizer %s (%s, vocab %d, bos %d): %s: %ld documents, %ld tokens, round trip "
               "%ld/%ld exact\n",
               tokp, tok->kind, tok->vocab_size, tok->bos_id, text, docs, n, docs - bad, docs);
        fflush(stdout);
        free(ids);
        if (bad) rc = ptq_cli_error(1, "%s: %ld of %ld documents do not decode to their text", text, bad, docs);
    }
    ptq_tokenizer_free(tok);
    return rc;
}

int cmd_train(int argc, char **argv) {
    static const struct option opts[] = {{"stop-after", required_argument, 0, 's'},
                                         {"check-tokenizer", required_argument, 0, 'k'},
                                         {"text", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, stop = 0;
    const char *tokp = NULL, *text = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:k:t:h", opts, NULL)) != -1) {
        if (c == 's') {
            if (ptq_parse_int("--stop-after", optarg, 1, 2000000000, &stop)) return 2;
        } else if (c == 'k') tokp = optarg;
        else if (c == 't') text = optarg;
        else if (c == 'h') return usage(stdout), 0;
        else return ptq_cli_bad_option("train", argv);
    }
    if (tokp || text) {
        if (!tokp || !text) return ptq_cli_error(2, "train: --check-tokenizer and --text go together");
        if (optind < argc) return ptq_cli_error(2, "train: unexpected argument '%s'", argv[optind]);
        return check_tokenizer(tokp, text);
    }
    if (argc - optind != 1) return usage(stderr), ptq_cli_error(2, "train: expected one CONFIG.json");
    ptq_pretrain_cfg cfg;
    ptq_pretrain_result r;
    ptq_err err;
    if (ptq_pretrain_load(argv[optind], &cfg, &err)) return ptq_cli_error(2, "%s", err.msg);
    if (ptq_pretrain_run(&cfg, stop, &r, &err)) return ptq_cli_error(1, "%s", err.msg);
    const char *blas = ptq_blas_kernels();
    double ratio = r.sgemm_gflops > 0 ? r.model_gflops / r.sgemm_gflops : NAN;
    printf("%s: %ld steps (from %ld), train loss %.4f, val loss %.4f, %ld tokens in %.1fs = %.0f tok/s\n", cfg.name,
           r.steps, r.step0, r.train_loss, r.val_loss, r.tokens, r.seconds, r.tokens_per_sec);
    printf("throughput: %.3g FLOP/token (6N + 6 L T d) -> %.2f GFLOP/s; sgemm %.2f GFLOP/s on %dx%dx%d; ratio %.1f%% "
           "(%d threads, OpenBLAS kernels %s)\n",
           r.flops_per_token, r.model_gflops, r.sgemm_gflops, cfg.seq_len, cfg.model.hidden_dim, cfg.model.dim,
           100 * ratio, ptq_num_threads(), blas);
    printf("{\"task\":\"train\",\"name\":\"%s\",\"out\":\"%s\",\"config_sha256\":\"%s\",\"params\":%ld,\"steps\":%ld,"
           "\"resumed_from\":%ld,\"train_loss\":%.6f,\"val_loss\":%.6f,\"expected_val_loss\":%.4g,\"tokens\":%ld,"
           "\"seconds\":%.2f,\"tokens_per_sec\":%.1f,\"flops_per_token\":%.6g,\"model_gflops\":%.4f,"
           "\"sgemm_gflops\":%.4f,\"flop_ratio\":%.4f,\"threads\":%d,\"openblas_coretype\":\"%s\",\"finished\":%s}\n",
           cfg.name, cfg.out, cfg.sha256, r.params, r.steps, r.step0, r.train_loss, r.val_loss,
           isfinite(cfg.expected_val_loss) ? cfg.expected_val_loss : -1.0, r.tokens, r.seconds, r.tokens_per_sec,
           r.flops_per_token, r.model_gflops, r.sgemm_gflops, ratio, ptq_num_threads(), blas,
           r.steps == cfg.steps ? "true" : "false");
    return 0;
}
