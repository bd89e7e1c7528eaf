/* export.c — `ptqbench export`: quantize a model with a method and save the
 * result as a ptqbench file (ptqfile.h) that --model accepts without
 * re-quantizing. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ptqfile.h"

static void usage(void) {
    printf("usage: ptqbench export --model M --method NAME --bits SPEC --out FILE.ptq [--opt key=value ...]\n"
           "       [--calib DATASET] [--nsamples N] [--calib-seqlen L] [--seed S] [--tokenizer PATH]\n"
           "Saves the quantized model (format: src/model/io/ptqfile.h); `--model FILE.ptq` loads it back.\n");
    ptq_cli_cell_help(stdout);
    ptq_cli_bitspec_help(stdout);
}

/* What the file's header says about how the model was made. */
static cJSON *export_meta(const ptq_cell *c, const ptq_prepared *p) {
    cJSON *meta = cJSON_CreateObject(), *tj = cJSON_AddObjectToObject(meta, "tokenizer");
    char abs[4096];
    cJSON_AddStringToObject(tj, "kind", p->tok->kind);
    cJSON_AddStringToObject(tj, "path", realpath(p->tok->path, abs) ? abs : p->tok->path);
    cJSON_AddBoolToObject(tj, "add_bos", p->tok->add_bos);
    cJSON_AddStringToObject(meta, "source_model", p->m.name);
    cJSON_AddStringToObject(meta, "source_sha256", p->m.sha256);
    cJSON_AddStringToObject(meta, "method", c->method->name);
    cJSON_AddStringToObject(meta, "qspec", c->q.text);
    cJSON_AddStringToObject(meta, "quantizer", c->quantizer.text);
    cJSON_AddItemToObject(meta, "options", ptq_opts_resolved(c->method, c->run_opts, &c->quantizer));
    cJSON_AddItemToObject(meta, "method_info", cJSON_Duplicate(p->info, 1));
    cJSON_AddStringToObject(meta, "git_commit", ptq_git_commit());
    return meta;
}

int cmd_export(int argc, char **argv) {
    static const struct option lo[] = {
        PTQ_CELL_LONGOPTS, {"out", required_argument, 0, 'O'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ptq_cli_cell f = {0};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int r = ptq_cli_cell_flag(&f, c, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (c == 'O')
            out = optarg;
        else if (c == 'h')
            return usage(), 0;
        else
            return ptq_cli_bad_option("export", argv);
    }
    if (optind < argc) return ptq_cli_error(2, "export: unexpected argument '%s'", argv[optind]);
    if (!f.model || !f.method || !f.bits || !out)
        return ptq_cli_error(2, "export: --model, --method, --bits and --out are required");
    ptq_cell cell;
    ptq_err err;
    int rc = ptq_cli_cell_make(&f, "export", &cell);
    if (rc) return rc;
    if (ptq_cell_check(&cell, &err)) {
        ptq_cell_free(&cell);
        return ptq_cli_error(2, "export: %s", err.msg);
    }
    ptq_prepared p;
    rc = 1;
    if (ptq_prepare(&cell, 0, &p, &err)) goto out0;
    cJSON *meta = export_meta(&cell, &p);
    double t1 = ptq_now_sec();
    ptq_file_stats fs;
    if (!ptq_file_save_ex(out, &p.m, meta, NULL, &fs, &err)) {
        printf("exported %s %s %s -> %s (quantized in %.1f s, saved in %.2f s): %zu bytes, %d of %d linears "
               "packed, %ld sparse entries, %d online ops\n",
               p.m.name, cell.method->name, cell.q.text, out, p.quant_seconds, ptq_now_sec() - t1, fs.file_bytes,
               fs.packed_linears, fs.linears, fs.sparse_entries, fs.online_ops);
        rc = 0;
    }
    cJSON_Delete(meta);
    ptq_prepared_free(&p);
out0:
    if (rc) ptq_cli_error(rc, "%s", err.msg);
    ptq_cell_free(&cell);
    return rc;
}
