/* make_random_checkpoint.c — `ptqbench make-random-checkpoint`: a Hugging Face LLaMA
 * checkpoint with random weights and a published model's shapes, written
 * tensor by tensor (never whole in memory), for streaming, memory and speed
 * measurements that do not depend on weight values. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hf_checkpoint.h"
#include "shapes.h"

int cmd_make_random_checkpoint(int argc, char **argv) {
    static const struct option opts[] = {{"shape", required_argument, 0, 's'},  {"dtype", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},    {"shards", required_argument, 0, 'n'},
                                         {"layers", required_argument, 0, 'l'}, {"seed", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *shape = NULL, *out = NULL, *dt = "bf16";
    int shards = 0, layers = 0, seed = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:d:o:n:l:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            shape = optarg;
            break;
        case 'd':
            dt = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'n':
            if (ptq_parse_int("--shards", optarg, 1, 1000, &shards)) return 2;
            break;
        case 'l':
            if (ptq_parse_int("--layers", optarg, 1, 1024, &layers)) return 2;
            break;
        case 'r':
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case 'h':
            printf("usage: ptqbench make-random-checkpoint --shape llama2-7b|llama2-13b|tiny --out DIR\n"
                   "       [--dtype bf16|fp16|fp32] [--shards N] [--layers N] [--seed S]\n"
                   "Writes config.json + (sharded) safetensors with random weights (std 0.02, norms 1).\n");
            return 0;
        default:
            return ptq_cli_bad_option("make-random-checkpoint", argv);
        }
    }
    if (optind < argc) return ptq_cli_error(2, "make-random-checkpoint: unexpected argument '%s'", argv[optind]);
    if (!shape || !out) return ptq_cli_error(2, "make-random-checkpoint: --shape and --out are required");
    const ptq_model_shape *sh = ptq_model_shape_find(shape);
    if (!sh) {
        char names[256];
        ptq_model_shape_names(names, sizeof names);
        return ptq_cli_error(2, "--shape: unknown shape '%s' (%s)", shape, names);
    }
    int dtype = !strcmp(dt, "bf16")   ? PTQ_ST_BF16
                : !strcmp(dt, "fp16") ? PTQ_ST_F16
                : !strcmp(dt, "fp32") ? PTQ_ST_F32
                                      : -1;
    if (dtype < 0) return ptq_cli_error(2, "--dtype: expected bf16, fp16 or fp32, got '%s'", dt);
    ptq_config cfg = sh->cfg;
    if (layers) cfg.n_layers = layers;
    if (!shards) shards = PTQ_MIN(sh->shards, cfg.n_layers + 1);
    if (shards > cfg.n_layers + 1)
        return ptq_cli_error(2, "--shards: at most %d for %d layers", cfg.n_layers + 1, cfg.n_layers);
    ptq_err err;
    double t0 = ptq_now_sec();
    if (ptq_hf_write(out, &cfg, NULL, dtype, shards, (uint64_t)seed, &err)) return ptq_cli_error(1, "%s", err.msg);
    printf("wrote %s: %s shape, %d layers, %s, %d shard(s), %.1f s\n", out, shape, cfg.n_layers, dt, shards,
           ptq_now_sec() - t0);
    return 0;
}
