/* export.c — `ptqbench export`: quantize a model with a method and save the
 * result as a ptqbench file (ptqfile.h) that --model accepts without
 * re-quantizing. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cell_stream.h"
#include "cli.h"
#include "ggml_types.h"
#include "model_open.h"
#include "gguf_write.h"
#include "ptqfile.h"

static void usage(void) {
    printf("usage: ptqbench export --model M --method NAME --bits SPEC --out FILE.ptq [--opt key=value ...]\n"
           "       [--calib DATASET] [--nsamples N] [--calib-seqlen L] [--seed S] [--tokenizer PATH]\n"
           "       [--format ptq|gguf] [--stream] [--max-rss GiB]\n"
           "Saves the quantized model (format: src/model/io/ptqfile.h); `--model FILE.ptq` loads it back.\n"
           "--format gguf writes a llama.cpp GGUF (weight-only methods without online ops; each linear in the\n"
           "block type that holds its grid exactly: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0; scales rounded to fp16).\n"
           "--stream quantizes an HF checkpoint block by block (block-wise methods) and writes each block to\n"
           "FILE.tmp as soon as it is quantized (renamed to FILE at the end): a 7B-class model is exported\n"
           "holding one block and the embedding and lm_head, never the whole model.\n"
           "--max-rss GiB refuses, before loading, an export whose estimated peak RSS is above GiB.\n");
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
    /* the FP model it came from (an export of an export: the first one's), by
     * name, path and weights hash: a KLD of the file is keyed by them */
    const char *src = p->m.source.method[0] ? p->m.source.model : p->m.name;
    char sha[65] = "", path[4096];
    ptq_err e;
    if (p->m.source.method[0]) snprintf(sha, sizeof sha, "%s", p->m.source.sha256);
    else if (ptq_model_weights_sha256(&p->m, sha, &e)) fprintf(stderr, "warning: export: %s\n", e.msg);
    snprintf(path, sizeof path, "%s", p->m.source.method[0] ? p->m.source.model : realpath(p->m.path, abs) ? abs : p->m.path);
    cJSON_AddStringToObject(meta, "source_model", src);
    cJSON_AddStringToObject(meta, "source_path", path);
    cJSON_AddStringToObject(meta, "source_sha256", sha);
    cJSON_AddStringToObject(meta, "method", c->method->name);
    cJSON_AddStringToObject(meta, "qspec", c->q.text);
    cJSON_AddStringToObject(meta, "quantizer", c->quantizer.text);
    cJSON_AddItemToObject(meta, "options", ptq_opts_resolved(c->method, c->run_opts, &c->quantizer));
    cJSON_AddItemToObject(meta, "method_info", cJSON_Duplicate(p->info, 1));
    cJSON_AddStringToObject(meta, "git_commit", ptq_git_commit());
    return meta;
}

/* GGUF: refusals are input errors (exit 2): the method's form has no GGUF equivalent. */
static int export_gguf(const ptq_cell *cell, ptq_prepared *p, const char *out, ptq_err *err) {
    ptq_gguf_write_stats st;
    double t1 = ptq_now_sec();
    /* the writer reads each row from the form the model holds it in (fp32, bf16, codes) */
    if (ptq_gguf_save(out, &p->m, p->tok, &st, err)) return 2;
    printf("exported %s %s %s -> %s (GGUF, quantized in %.1f s, saved in %.2f s): %ld bytes, %d of %d linears "
           "quantized (%d of them as F16: rows not whole 32-blocks or off-grid entries); tensors:",
           p->m.name, cell->method->name, cell->q.text, out, p->quant_seconds, ptq_now_sec() - t1, st.bytes,
           st.quantized, st.linears, st.f16_linears);
    for (int i = 0; i < 40; i++)
        if (st.type_count[i]) printf(" %s x%d", ptq_ggml_type_info_of(i)->name, st.type_count[i]);
    printf("\nfp16 scale rounding: relative error %.3e over the quantized weights (worst %.3e in %s)\n",
           st.scale_rel_err, st.max_rel, st.max_rel_tensor[0] ? st.max_rel_tensor : "-");
    return 0;
}

static int write_block(void *w, const ptq_model *m, int l, ptq_err *err) {
    (void)err; /* the writer reports into the err it was begun with: the same */
    return ptq_file_put_block(w, m, l);
}

int cmd_export(int argc, char **argv) {
    static const struct option lo[] = {
        PTQ_CELL_LONGOPTS, {"out", required_argument, 0, 'O'}, {"format", required_argument, 0, 'F'},
        {"stream", no_argument, 0, 'S'}, {"max-rss", required_argument, 0, 'M'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int gguf = 0, stream = 0;
    double max_rss = 0;
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
        else if (c == 'S')
            stream = 1;
        else if (c == 'M' && ptq_parse_double("--max-rss", optarg, 1e-4, 1 << 20, &max_rss))
            return 2;
        else if (c == 'M')
            continue;
        else if (c == 'F' && (!strcmp(optarg, "gguf") || !strcmp(optarg, "ptq")))
            gguf = !strcmp(optarg, "gguf");
        else if (c == 'F')
            return ptq_cli_error(2, "export: --format must be ptq or gguf, not '%s'", optarg);
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
    cell.stream = stream;
    cell.max_rss_gib = max_rss;
    ptq_rss_estimate est;
    if (ptq_cell_check(&cell, &err) || (max_rss > 0 && ptq_cell_check_budget(&cell, &est, &err))) {
        ptq_cell_free(&cell);
        return ptq_cli_error(2, "export: %s", err.msg);
    }
    ptq_prepared p;
    rc = 1;
    /* streamed to a .ptq: each block is written as soon as it is quantized, then freed */
    ptq_file_writer *w = stream && !gguf ? ptq_file_begin(out, &err) : NULL;
    ptq_stream_sink sink = {write_block, w};
    if (stream && !gguf && !w) goto out0;
    if (stream ? ptq_prepare_stream(&cell, w ? &sink : NULL, &p, &err) : ptq_prepare(&cell, 0, &p, &err)) {
        ptq_file_abort(w);
        goto out0;
    }
    if (gguf) {
        rc = export_gguf(&cell, &p, out, &err);
        ptq_prepared_free(&p);
        goto out0;
    }
    cJSON *meta = export_meta(&cell, &p);
    double t1 = ptq_now_sec();
    ptq_file_stats fs;
    if (!(w ? ptq_file_finish(w, &p.m, meta, &fs) : ptq_file_save_ex(out, &p.m, meta, NULL, &fs, &err))) {
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
