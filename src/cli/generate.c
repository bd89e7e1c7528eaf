/* generate.c — `ptqbench generate`: text from a model, greedy
 * (--temperature 0) or sampled with a seeded RNG. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_open.h"

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

/* Temperature sampling from softmax(logits / temp) with a seeded RNG. */
static int sample(float *logits, int n, float temp, ptq_rng *rng) {
    float mx = logits[argmax(logits, n)];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((logits[i] - mx) / temp);
    double r = ptq_rng_uniform(rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += exp((logits[i] - mx) / temp);
        if (acc >= r) return i;
    }
    return n - 1;
}

int cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"tokenizer", required_argument, 0, 'z'},
        {"temperature", required_argument, 0, 't'}, {"steps", required_argument, 0, 'n'},
        {"prompt", required_argument, 0, 'i'},    {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    const char *model = NULL, *tokp = NULL, *prompt = "";
    double temp = 0.0;
    int steps = 256, seed = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:z:t:n:i:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'z': tokp = optarg; break;
        case 't':
            if (ptq_parse_double("--temperature", optarg, 0, 100, &temp)) return 2;
            break;
        case 'n':
            if (ptq_parse_int("--steps", optarg, 1, 1 << 20, &steps)) return 2;
            break;
        case 'i': prompt = optarg; break;
        case 's':
            if (ptq_parse_int("--seed", optarg, 0, 2147483647, &seed)) return 2;
            break;
        case 'h':
            printf("usage: ptqbench generate --model M [--prompt TEXT] [--steps N] [--temperature T] [--seed S]\n"
                   "Like llama2.c run.c: steps counts positions including the prompt; stops at BOS.\n");
            return 0;
        default: return ptq_cli_bad_option("generate", argv);
        }
    }
    if (!model) return ptq_cli_error(2, "generate: --model is required");
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model(model, tokp, &m, &tok, &err)) return ptq_cli_error(1, "%s", err.msg);
    if (steps > m.cfg.max_seq) steps = m.cfg.max_seq;
    int *ids = NULL, n = 0, rc = 1;
    ptq_state s;
    if (tok->encode(tok, prompt, strlen(prompt), 1, 0, &ids, &n, &err) || ptq_state_init(&s, &m, 1, &err)) {
        ptq_cli_error(1, "%s", err.msg);
        goto out;
    }
    if (n > steps) {
        ptq_cli_error(2, "generate: the prompt has %d tokens, more than --steps %d", n, steps);
        rc = 2;
        ptq_state_free(&s);
        goto out;
    }
    ptq_rng rng;
    ptq_rng_seed(&rng, (uint64_t)seed);
    int token = ids[0], pos = 0;
    char piece[512];
    while (pos < steps) {
        if (ptq_forward(&m, &s, &token, 1, pos, NULL, 1, &err)) {
            ptq_cli_error(1, "%s", err.msg);
            break;
        }
        int next = pos < n - 1 ? ids[pos + 1]
                   : temp == 0.0 ? argmax(s.logits, m.cfg.vocab_size)
                                 : sample(s.logits, m.cfg.vocab_size, (float)temp, &rng);
        pos++;
        if (next == tok->bos_id) break; /* BOS delimits sequences, as in run.c */
        int k = tok->decode(tok, token, next, piece, sizeof piece);
        fwrite(piece, 1, k, stdout);
        fflush(stdout);
        token = next;
    }
    printf("\n");
    rc = 0;
    ptq_state_free(&s);
out:
    free(ids);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
    return rc;
}
