/* shapes.h — published model shapes for random-weight models (speed and
 * memory do not depend on the weights' values): `bench --shape` builds one in
 * RAM (ptq_random_model), `make-random-checkpoint` writes one to disk. */
#ifndef PTQ_SHAPES_H
#define PTQ_SHAPES_H

#include "model.h"

/* A LLaMA-style config from its sizes (the rest: HF defaults). */
#define PTQ_SHAPE(d, h, l, nh, kv, v, ms)                                                                              \
    {                                                                                                                  \
        .dim = d, .hidden_dim = h, .n_layers = l, .n_heads = nh, .n_kv_heads = kv, .vocab_size = v, .max_seq = ms,     \
        .head_dim = (d) / (nh), .rope_theta = 10000.f, .norm_eps = 1e-5f, .rope_style = PTQ_ROPE_HALF, .bos_id = 1,    \
        .eos_id = 2                                                                                                    \
    }

typedef struct {
    const char *name, *alias; /* alias: another accepted name (NULL: none) */
    ptq_config cfg;
    int shards; /* safetensors shards of the published checkpoint */
} ptq_model_shape;

extern const ptq_model_shape ptq_model_shapes[]; /* ends with {0} */
/* By name or alias; NULL if unknown. */
const ptq_model_shape *ptq_model_shape_find(const char *name);
/* "llama2-7b (llama7b), llama2-13b, tiny, stories15m, stories42m" for messages. */
void ptq_model_shape_names(char *buf, size_t cap);

/* A random-weight model: name, config, seed. */
typedef struct {
    char name[128];
    ptq_config cfg;
    uint64_t seed;
    int outer16; /* PTQ_W16_*: embedding and lm_head rounded to that dtype and held in it; 0: fp32 */
} ptq_random_spec;

/* Build it in RAM: embeddings uniform in [-0.5, 0.5), linears uniform scaled
 * by 1/sqrt(fan-in), norms 1 (lm_head, when untied, zero). */
int ptq_random_model(ptq_model *m, const ptq_random_spec *s, ptq_err *err);

#endif
