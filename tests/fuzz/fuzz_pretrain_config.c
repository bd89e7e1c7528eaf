/* fuzz_pretrain_config.c — a `ptqbench train` recipe (train/pretrain.h):
 * parse and validate only (nothing is opened). Property: a recipe that
 * parses is self-consistent (heads divide dim, KV heads divide heads, even
 * head_dim, seq_len <= max_seq, warmup < steps, lr_min <= lr, names and paths
 * non-empty), and parsing the same text again gives the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pretrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ptq_pretrain_cfg *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    ptq_err err;
    if (a && b && ptq_pretrain_parse((const char *)data, size, "fuzz.json", a, &err) == 0) {
        const ptq_config *m = &a->model;
        if (m->dim % m->n_heads || m->n_heads % m->n_kv_heads || m->head_dim % 2 || a->seq_len > m->max_seq ||
            a->warmup >= a->steps || a->lr_min > a->lr || a->batch < 1 || !a->name[0] || !a->out[0] ||
            !a->train_path[0] || !a->val_path[0] || !a->tokenizer[0])
            abort();
        if (ptq_pretrain_parse((const char *)data, size, "fuzz.json", b, &err) || memcmp(a, b, sizeof *a)) abort();
    }
    free(a);
    free(b);
    return 0;
}
