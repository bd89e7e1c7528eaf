/* kld.c — `ptqbench kld`: KL divergence of a model to the FP model.
 *
 * The FP model is --model; the compared model is its quantized copy
 * (--method/--bits, prepared as `ptqbench run` does), or --qmodel (another
 * model file with the same vocabulary), or else the FP model itself (a sanity
 * check: KLD 0, top-1 100%). The FP log-probs are cached on disk
 * (eval/kld.c) so repeated comparisons run only the compared model. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_open.h"

static void usage(void) {
    printf("usage: ptqbench kld --model FP [--qmodel PATH | --method X --bits B [--opt key=value ...]\n"
           "       [--calib DATASET] [--nsamples N] [--calib-seqlen L] [--seed S]]\n"
           "       [--dataset tinystories] [--seqlen L]\n"
           "       [--ppl-protocol gptq|halfwindow] [--limit-windows N] [--topk K] [--cache-dir DIR]\n"
           "  --topk K      keep the FP top-K log-probs + tail mass (default: full distribution when the\n"
           "                vocabulary is <= 4096 and the cache fits 512 MiB, else top-64)\n"
           "  --cache-dir   where FP log-probs are cached (default results/.kld_cache)\n");
    ptq_cli_cell_help(stdout);
    ptq_cli_bitspec_help(stdout);
}

static void print_row(const char *dataset, cJSON *row) {
    printf("%-12s %10s %10s %9s %9s %9s %9s %8s\n", "dataset", "kld_mean", "kld_p99", "top1 %", "ppl_q", "ppl_fp",
           "ratio", "cache");
    printf("%-12s %10.6f %10.6f %9.3f %9.4f %9.4f %9.5f %8s\n", dataset, ptq_row_metric(row, "kld_mean"),
           ptq_row_metric(row, "kld_p99"), ptq_row_metric(row, "top1_agree"), ptq_row_metric(row, "ppl_q"),
           ptq_row_metric(row, "ppl_fp"), ptq_row_metric(row, "ppl_ratio"), ptq_row_str(row, "cache"));
    char *s = cJSON_PrintUnformatted(row);
    printf("%s\n", s);
    free(s);
}

int cmd_kld(int argc, char **argv) {
    static const struct option opts[] = {PTQ_CELL_LONGOPTS,
                                         {"qmodel", required_argument, 0, 'q'},
                                         {"dataset", required_argument, 0, 'd'},
                                         {"seqlen", required_argument, 0, 1001},
                                         {"ppl-protocol", required_argument, 0, 1002},
                                         {"limit-windows", required_argument, 0, 1004},
                                         {"topk", required_argument, 0, 1010},
                                         {"cache-dir", required_argument, 0, 1011},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ptq_cli_cell f = {0};
    const char *qmodel = NULL, *dataset = "tinystories";
    ptq_kld_opts ko = {.ppl.progress = 1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q:d:h", opts, NULL)) != -1) {
        int r = ptq_ppl_parse_flag(c, optarg, &ko.ppl);
        if (!r) r = ptq_cli_cell_flag(&f, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (c == 'q')
            qmodel = optarg;
        else if (c == 'd')
            dataset = optarg;
        else if (c == 1010) {
            if (ptq_parse_int("--topk", optarg, 1, 1 << 20, &ko.topk)) return 2;
        } else if (c == 1011)
            ko.cache_dir = optarg;
        else if (c == 'h')
            return usage(), 0;
        else
            return ptq_cli_bad_option("kld", argv);
    }
    if (optind < argc) return ptq_cli_error(2, "kld: unexpected argument '%s'", argv[optind]);
    if (!f.model) return ptq_cli_error(2, "kld: --model is required");
    if (ptq_cli_quant_pair(&f, "kld")) return 2;
    if (f.method && qmodel) return ptq_cli_error(2, "kld: give either --qmodel or --method/--bits, not both");
    ptq_err err;
    if (ptq_text_dataset_check(dataset, &err))
        return ptq_cli_error(2, "kld: unknown --dataset '%s' (see `ptqbench ppl --help`)", dataset);
    const char *method = f.method;
    if (!method) f.method = "fp16", f.bits = "W16A16"; /* the FP model as loaded */
    ptq_cell cell;
    int rc = ptq_cli_cell_make(&f, "kld", &cell);
    if (rc) return rc;
    if (ptq_cell_check(&cell, &err)) {
        ptq_cell_free(&cell);
        return ptq_cli_error(2, "kld: %s", err.msg);
    }
    ptq_prepared p;
    ptq_model qm;
    ptq_tokenizer *qtok = NULL;
    int have_q = 0;
    if (ptq_prepare(&cell, method != NULL, &p, &err)) {
        ptq_cell_free(&cell);
        return ptq_cli_error(1, "%s", err.msg);
    }
    const ptq_model *fp = p.have_fp ? &p.fp : &p.m, *q = &p.m; /* with --method, p.m is the quantized copy */
    if (ko.ppl.seqlen > fp->cfg.max_seq)
        rc = ptq_cli_error(2, "--seqlen %d is above the model's max_seq %d", ko.ppl.seqlen, fp->cfg.max_seq);
    ko.ppl.bos_id = p.tok->add_bos ? p.tok->bos_id : -1;
    if (!rc && qmodel) {
        if (ptq_open_model(qmodel, f.tokenizer, &qm, &qtok, &err))
            rc = ptq_cli_error(1, "%s", err.msg);
        else
            have_q = 1, q = &qm;
    }
    cJSON *row = cJSON_CreateObject();
    if (!rc && ptq_kld_run(q, fp, p.tok, dataset, &ko, row, &err)) rc = ptq_cli_error(1, "%s", err.msg);
    if (!rc) {
        cJSON_AddStringToObject(row, "task", "kld");
        cJSON_AddStringToObject(row, "model", q->name);
        cJSON_AddStringToObject(row, "fp_model", fp->name);
        cJSON_AddStringToObject(row, "method", method ? method : qmodel ? "other-model" : "fp");
        cJSON_AddStringToObject(row, "qspec", cell.q.text);
        if (method) cJSON_AddItemToObject(row, "method_info", cJSON_Duplicate(p.info, 1));
        print_row(dataset, row);
    }
    cJSON_Delete(row);
    if (have_q) ptq_model_free(&qm);
    ptq_tokenizer_free(qtok);
    ptq_prepared_free(&p);
    ptq_cell_free(&cell);
    return rc;
}
