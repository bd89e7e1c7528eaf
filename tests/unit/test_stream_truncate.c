/* test_stream_truncate.c — a shard truncated in the middle of a streamed
 * export (after block 0 was quantized and written, before block 1 is read):
 * the pass fails with one error naming the shard and the tensor it was
 * reading, instead of faulting on the mmap'd pages; the export's FILE.tmp is
 * removed and no FILE is written (as `export --stream` does on failure). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cell_stream.h"
#include "hf_checkpoint.h"
#include "ptqfile.h"
#include "safetensors.h"
#include "testutil.h"

typedef struct {
    ptq_file_writer *w;
    char shard[4200];
    size_t cut; /* the shard's new size: its header, no tensor data */
    int blocks;
} cutter;

/* The export's sink, then the shard is cut once block 0 is written. */
static int write_then_cut(void *ctx, const ptq_model *m, int l, ptq_err *err) {
    (void)err;
    cutter *c = ctx;
    c->blocks++;
    int rc = ptq_file_put_block(c->w, m, l);
    if (!rc && l == 0 && truncate(c->shard, (off_t)c->cut) != 0) rc = -1;
    return rc;
}

int main(void) {
    const char *tok = tu_asset("models/tinystories-656k/tokenizer.json");
    if (!tok) {
        fprintf(stderr, "test_stream_truncate: tokenizer asset missing, skipped\n");
        return tu_done("test_stream_truncate");
    }
    char dir[64] = "/tmp/ptq_cut_XXXXXX", idx[200], out[200], tmp[220];
    if (!mkdtemp(dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
    ptq_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dim = 64, cfg.hidden_dim = 128, cfg.n_layers = 2, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.head_dim = 16;
    cfg.vocab_size = 2048, cfg.max_seq = 128, cfg.rope_theta = 10000.f, cfg.norm_eps = 1e-5f;
    cfg.rope_style = PTQ_ROPE_HALF, cfg.bos_id = 1, cfg.eos_id = 2;
    ptq_err err;
    CHECK(ptq_hf_write(dir, &cfg, NULL, PTQ_ST_BF16, 2, 11, &err) == 0);

    /* the shard that holds block 1's first tensor */
    cutter c = {0};
    ptq_st st;
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    CHECK(ptq_st_open(&st, idx, &err) == 0);
    const ptq_st_tensor *t = ptq_st_find(&st, "model.layers.1.self_attn.q_proj.weight");
    CHECK(t != NULL);
    if (!t) return tu_done("test_stream_truncate");
    snprintf(c.shard, sizeof c.shard, "%s", st.files[t->file].path);
    const char *slash = strrchr(c.shard, '/');
    c.cut = st.files[t->file].data_off;
    ptq_st_close(&st);

    ptq_qspec q;
    ptq_cell cell;
    memset(&cell, 0, sizeof cell);
    CHECK(ptq_qspec_parse("W4A16", &q, &err) == 0 && ptq_cell_init(&cell, dir, "rtn", &q, &err) == 0);
    cell.tokenizer = strdup(tok);
    cell.stream = 1;
    CHECK(ptq_cell_check(&cell, &err) == 0);
    snprintf(out, sizeof out, "%s/x.ptq", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    CHECK((c.w = ptq_file_begin(out, &err)) != NULL);
    ptq_stream_sink sink = {write_then_cut, &c};
    ptq_prepared p;
    err.msg[0] = 0;
    int rc = ptq_prepare_stream(&cell, &sink, &p, &err);
    if (rc) ptq_file_abort(c.w);
    else ptq_prepared_free(&p);
    fprintf(stderr, "expected error: %s\n", err.msg);
    CHECK(rc != 0 && c.blocks == 1); /* block 0 went out; block 1 was never quantized */
    CHECK(slash && strstr(err.msg, slash + 1) && strstr(err.msg, "truncated"));
    CHECK(strstr(err.msg, "tensor 'model.layers.1.") != NULL);
    CHECK(access(out, F_OK) != 0 && access(tmp, F_OK) != 0);
    ptq_cell_free(&cell);

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_done("test_stream_truncate");
}
