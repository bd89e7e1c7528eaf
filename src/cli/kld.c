/* kld.c — `ptqbench kld`: KL divergence of a model to the FP model.
 *
 * The FP model is --model; the compared model is its quantized clone
 * (--method/--bits), or --qmodel (another model file with the same
 * vocabulary), or else the FP model itself (a sanity check: KLD 0, top-1
 * 100%). The FP log-probs are cached on disk
 * (eval/kld.c) so repeated comparisons run only the compared model. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "model_open.h"

static void usage(void) {
    printf("usage: ptqbench kld --model FP [--qmodel PATH | --method X --bits B [--seed S]]\n"
           "       [--dataset tinystories] [--seqlen L]\n"
           "       [--ppl-protocol gptq|halfwindow] [--limit-windows N] [--topk K] [--cache-dir DIR]\n"
           "  --topk K      keep the FP top-K log-probs + tail mass (default: full distribution when the\n"
           "                vocabulary is <= 4096 and the cache fits 512 MiB, else top-64)\n"
           "  --cache-dir   where FP log-probs are cached (default results/.kld_cache)\n");
}

int cmd_kld(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"qmodel", required_argument, 0, 'q'},
                                         {"tokenizer", required_argument, 0, 'z'},
                                         {"dataset", required_argument, 0, 'd'},
                                         {"seqlen", required_argument, 0, 1001},
                                         {"ppl-protocol", required_argument, 0, 1002},
                                         {"limit-windows", required_argument, 0, 1004},
                                         {"topk", required_argument, 0, 1010},
                                         {"cache-dir", required_argument, 0, 1011},
                                         {"method", required_argument, 0, 1012},
                                         {"bits", required_argument, 0, 1013},
                                         {"seed", required_argument, 0, 1014},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *qmodel = NULL, *tokp = NULL, *dataset = "tinystories", *method = NULL, *bits = NULL;
    int seed = 0;
    ptq_kld_opts ko = {0};
    ko.ppl.progress = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:q:z:d:h", opts, NULL)) != -1) {
        int r = ptq_ppl_parse_flag(c, optarg, &ko.ppl);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (c == 'm') model = optarg;
        else if (c == 'q') qmodel = optarg;
        else if (c == 'z') tokp = optarg;
        else if (c == 'd') dataset = optarg;
        else if (c == 1010) {
            if (ptq_parse_int("--topk", optarg, 1, 1 << 20, &ko.topk)) return 2;
        } else if (c == 1011) ko.cache_dir = optarg;
        else if (c == 1012) method = optarg;
        else if (c == 1013) bits = optarg;
        else if (c == 1014) {
            if (ptq_parse_int("--seed", optarg, 0, 1 << 30, &seed)) return 2;
        }
        else if (c == 'h') return usage(), 0;
        else return ptq_cli_bad_option("kld", argv);
    }
    if (optind < argc) return ptq_cli_error(2, "kld: unexpected argument '%s'", argv[optind]);
    if (!model) return ptq_cli_error(2, "kld: --model is required");
    if (ptq_cli_quant_check(method, bits)) return 2;
    if (method && qmodel) return ptq_cli_error(2, "kld: give either --qmodel or --method/--bits, not both");
    int known = 0;
    for (int i = 0; ptq_text_dataset_names[i]; i++) known |= !strcmp(dataset, ptq_text_dataset_names[i]);
    if (!known) return ptq_cli_error(2, "kld: unknown --dataset '%s' (see `ptqbench ppl --help`)", dataset);

    ptq_model fp, qm;
    ptq_tokenizer *tok, *qtok = NULL;
    ptq_err err;
    if (ptq_open_model(model, tokp, &fp, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    int rc = 0, have_q = 0;
    if (ko.ppl.seqlen > fp.cfg.max_seq)
        rc = ptq_cli_error(2, "--seqlen %d is above the model's max_seq %d", ko.ppl.seqlen, fp.cfg.max_seq);
    ko.ppl.bos_id = tok->add_bos ? tok->bos_id : -1;
    if (!rc && qmodel) {
        if (ptq_open_model(qmodel, tokp, &qm, &qtok, &err)) rc = ptq_cli_error(1, "%s", err.msg);
        else have_q = 1;
    }
    cJSON *row = cJSON_CreateObject(), *info = cJSON_CreateObject();
    if (!rc && method) { /* the compared model: a quantized clone of the FP model */
        if (ptq_model_clone(&qm, &fp, &err)) rc = ptq_cli_error(1, "%s", err.msg);
        else if (have_q = 1, ptq_cli_quantize(&qm, tok, model, method, bits, (uint64_t)seed, info, &err))
            rc = ptq_cli_error(1, "%s", err.msg);
    }
    if (!rc && ptq_kld_run(have_q ? &qm : &fp, &fp, tok, dataset, &ko, row, &err))
        rc = ptq_cli_error(1, "%s", err.msg);
    if (!rc) {
        cJSON_AddStringToObject(row, "task", "kld");
        cJSON_AddStringToObject(row, "model", have_q ? qm.name : fp.name);
        cJSON_AddStringToObject(row, "fp_model", fp.name);
        cJSON_AddStringToObject(row, "method", method ? method : qmodel ? "other-model" : "fp");
        cJSON_AddStringToObject(row, "qspec", bits ? bits : "W16A16");
        if (method) cJSON_AddItemToObject(row, "method_info", cJSON_Duplicate(info, 1));
        printf("%-12s %10s %10s %9s %9s %9s %9s %8s\n", "dataset", "kld_mean", "kld_p99", "top1 %", "ppl_q",
               "ppl_fp", "ratio", "cache");
        printf("%-12s %10.6f %10.6f %9.3f %9.4f %9.4f %9.5f %8s\n", dataset,
               cJSON_GetObjectItem(row, "kld_mean")->valuedouble, cJSON_GetObjectItem(row, "kld_p99")->valuedouble,
               cJSON_GetObjectItem(row, "top1_agree")->valuedouble, cJSON_GetObjectItem(row, "ppl_q")->valuedouble,
               cJSON_GetObjectItem(row, "ppl_fp")->valuedouble, cJSON_GetObjectItem(row, "ppl_ratio")->valuedouble,
               cJSON_GetObjectItem(row, "cache")->valuestring);
        char *s = cJSON_PrintUnformatted(row);
        printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(row);
    cJSON_Delete(info);
    if (have_q) {
        if (qtok) ptq_tokenizer_free(qtok);
        ptq_model_free(&qm);
    }
    ptq_tokenizer_free(tok);
    ptq_model_free(&fp);
    return rc;
}
