/* ppl.c — `ptqbench ppl`: perplexity of the FP model on text datasets, in RAM
 * or (--stream) one transformer block at a time from an HF checkpoint. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets.h"
#include "hf_checkpoint.h"
#include "model_open.h"
#include "perplexity.h"
#include "ppl_stream.h"
#include "sysinfo.h"

/* `ptqbench ppl --stream`: the model must be an HF directory (or the short
 * name of one); its tokenizer is opened as the in-RAM path would. */
static int ppl_stream(const char *model, const char *tok_path, char *datasets, ptq_ppl_opts *po) {
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

/* --dataset: a comma list of registered text datasets, none empty (checked
 * before the model loads, so a typo is a usage error). */
static int check_datasets(const char *list) {
    char names[512] = "";
    for (int i = 0; ptq_text_dataset_names[i]; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", ptq_text_dataset_names[i]);
    for (const char *d = list;; d += strcspn(d, ",") + 1) {
        size_t n = strcspn(d, ",");
        int ok = 0;
        for (int i = 0; n && ptq_text_dataset_names[i]; i++)
            ok |= strlen(ptq_text_dataset_names[i]) == n && !strncmp(ptq_text_dataset_names[i], d, n);
        if (!ok)
            return ptq_cli_error(2, "ppl: --dataset: %s%.*s%s is not a text dataset (expected a comma list of: %s)",
                                 n ? "'" : "an empty name", (int)n, d, n ? "'" : "", names);
        if (!d[n]) return 0;
    }
}

int cmd_ppl(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"tokenizer", required_argument, 0, 'z'},
                                         {"dataset", required_argument, 0, 'd'},
                                         {"seqlen", required_argument, 0, 1001},
                                         {"ppl-protocol", required_argument, 0, 1002},
                                         {"ppl-denominator", required_argument, 0, 1003},
                                         {"limit-windows", required_argument, 0, 1004},
                                         {"stream", no_argument, 0, 1101},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *tokp = NULL;
    char datasets[1024] = "wikitext2";
    ptq_ppl_opts po = {0};
    po.progress = 1;
    int c, stream = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:z:d:h", opts, NULL)) != -1) {
        int r = ptq_ppl_parse_flag(c, optarg, &po);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (c == 1101) stream = 1; /* HF checkpoints, one block in RAM at a time (ppl.c) */
        else if (c == 'm') model = optarg;
        else if (c == 'z') tokp = optarg;
        else if (c == 'd') snprintf(datasets, sizeof datasets, "%s", optarg);
        else if (c == 'h') {
            printf("usage: ptqbench ppl --model M [--dataset wikitext2,ptb,tinystories] [--seqlen L]\n"
                   "       [--ppl-protocol gptq|halfwindow] [--ppl-denominator tokens|hf] [--limit-windows N]\n"
                   "       [--stream]  (HF model: evaluate one transformer block at a time from the file)\n");
            return 0;
        } else return ptq_cli_bad_option("ppl", argv);
    }
    if (optind < argc) return ptq_cli_error(2, "ppl: unexpected argument '%s'", argv[optind]);
    if (!model) return ptq_cli_error(2, "ppl: --model is required");
    if (check_datasets(datasets)) return 2;
    if (stream) return ppl_stream(model, tokp, datasets, &po);
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    if (po.seqlen > m.cfg.max_seq) {
        int rc = ptq_cli_error(2, "--seqlen %d is above the model's max_seq %d", po.seqlen, m.cfg.max_seq);
        ptq_tokenizer_free(tok);
        ptq_model_free(&m);
        return rc;
    }
    po.bos_id = tok->add_bos ? tok->bos_id : -1;
    int rc = 0;
    printf("%-18s %10s %10s %8s %7s %10s\n", "dataset", "ppl", "tokens", "windows", "seqlen", "tok/s");
    for (char *save = NULL, *d = strtok_r(datasets, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        ptq_tokens toks;
        ptq_ppl_result r;
        if (ptq_text_tokens(d, tok, &toks, &err) || ptq_eval_ppl(&m, &toks, &po, &r, &err)) {
            rc = ptq_cli_error(1, "%s", err.msg);
            if (toks.ids) ptq_tokens_free(&toks);
            break;
        }
        printf("%-18s %10.4f %10ld %8d %7d %10.0f\n", d, r.ppl, r.tokens_scored, r.windows, r.seqlen,
               r.tokens_per_sec);
        printf("{\"task\":\"ppl:%s\",\"model\":\"%s\",\"model_sha256\":\"%s\",\"dataset_sha256\":\"%s\","
               "\"ppl\":%.6f,\"nll_sum\":%.6f,\"tokens_scored\":%ld,\"windows\":%d,\"seqlen\":%d,"
               "\"protocol\":\"%s\",\"denominator\":\"%s\",\"tokens_per_sec\":%.1f}\n",
               d, m.name, m.sha256, toks.sha256, r.ppl, r.nll_sum, r.tokens_scored, r.windows, r.seqlen,
               po.protocol == PTQ_PPL_HALFWINDOW ? "halfwindow" : "gptq", po.denom_hf ? "hf" : "tokens",
               r.tokens_per_sec);
        ptq_tokens_free(&toks);
    }
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return rc;
}
