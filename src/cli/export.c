/* export.c — `ptqbench export`: quantize a model with a method and save the
 * result as a ptqbench file (ptqfile.h) that --model accepts without
 * re-quantizing. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "cli.h"
#include "method.h"
#include "model_open.h"
#include "ptqfile.h"

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
    cJSON_AddItemToObject(meta, "options", ptq_opts_resolved(me, opts, &q));
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
