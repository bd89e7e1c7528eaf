/* info.c — `ptqbench info MODEL`: config, parameter count and bytes. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_open.h"

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"tokenizer", required_argument, 0, 'z'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *tokp = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:z:h", opts, NULL)) != -1) {
        if (c == 'm') model = optarg;
        else if (c == 'z') tokp = optarg;
        else if (c == 'h') {
            printf("usage: ptqbench info MODEL | --model MODEL [--tokenizer FILE]\n");
            return 0;
        } else return ptq_cli_bad_option("info", argv);
    }
    if (!model && optind < argc) model = argv[optind++];
    if (!model) return ptq_cli_error(2, "info: a model is required (name or path)");
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    const ptq_config *k = &m.cfg;
    long n = ptq_model_param_count(&m);
    printf("model        %s\npath         %s\nsha256       %s\n", m.name, m.path, m.sha256);
    printf("dim          %d\nhidden_dim   %d\nn_layers     %d\nn_heads      %d\nn_kv_heads   %d\n", k->dim,
           k->hidden_dim, k->n_layers, k->n_heads, k->n_kv_heads);
    printf("head_dim     %d\nvocab_size   %d\nmax_seq      %d\nrope_theta   %g\nnorm_eps     %g\n", k->head_dim,
           k->vocab_size, k->max_seq, k->rope_theta, k->norm_eps);
    printf("tied_emb     %s\nrope_style   %s\nparameters   %ld\nfp32 bytes   %ld\n", k->tied_embeddings ? "yes" : "no",
           k->rope_style == PTQ_ROPE_HALF ? "hf-half" : "interleaved", n, n * 4);
    printf("tokenizer    %s (%s, vocab %d, bos %d, eos %d)\n", tok->path, tok->kind, tok->vocab_size, tok->bos_id,
           tok->eos_id);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return 0;
}
