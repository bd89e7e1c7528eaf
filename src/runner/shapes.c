/* shapes.c — see shapes.h. */
#include "shapes.h"

#include <math.h>
#include <string.h>

#include "safetensors.h"
#include "w16.h"

const ptq_model_shape ptq_model_shapes[] = {
    {.name = "llama2-7b", .alias = "llama7b", .cfg = PTQ_SHAPE(4096, 11008, 32, 32, 32, 32000, 4096), .shards = 2},
    {.name = "llama2-13b", .cfg = PTQ_SHAPE(5120, 13824, 40, 40, 40, 32000, 4096), .shards = 3},
    {.name = "tiny", .cfg = PTQ_SHAPE(64, 128, 2, 4, 2, 32000, 256), .shards = 1},
    /* llama2.c's TinyStories checkpoints: the small-model speed rows at dim 288 and 512 */
    {.name = "stories15m", .cfg = PTQ_SHAPE(288, 768, 6, 6, 6, 32000, 256), .shards = 1},
    {.name = "stories42m", .cfg = PTQ_SHAPE(512, 1376, 8, 8, 8, 32000, 1024), .shards = 1},
    {0},
};

const ptq_model_shape *ptq_model_shape_find(const char *name) {
    for (const ptq_model_shape *s = ptq_model_shapes; name && s->name; s++)
        if (!strcmp(s->name, name) || (s->alias && !strcmp(s->alias, name))) return s;
    return NULL;
}

void ptq_model_shape_names(char *buf, size_t cap) {
    buf[0] = 0;
    for (const ptq_model_shape *s = ptq_model_shapes; s->name; s++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s%s%s%s", s == ptq_model_shapes ? "" : ", ", s->name,
                 s->alias ? " (" : "", s->alias ? s->alias : "", s->alias ? ")" : "");
}

int ptq_random_model(ptq_model *m, const ptq_random_spec *s, ptq_err *err) {
    const ptq_config *c = &s->cfg;
    if (c->n_heads < 1 || c->n_kv_heads < 1 || c->head_dim < 2 || c->n_heads % c->n_kv_heads || c->dim < 1 ||
        c->hidden_dim < 1 || c->n_layers < 1 || c->vocab_size < 3 || c->max_seq < 2)
        return ptq_fail(err, "random model '%s': inconsistent shape", s->name);
    if (ptq_model_alloc(m, c, err)) return ptq_wrap(err, "random model '%s'", s->name);
    ptq_rng r;
    ptq_rng_seed(&r, s->seed);
    size_t ne = (size_t)c->vocab_size * c->dim;
    for (size_t i = 0; i < ne; i++)
        m->tok_emb[i] = (float)(ptq_rng_uniform(&r) - 0.5);
    for (int i = 0; i < c->dim; i++)
        m->rms_final[i] = 1.f;
    for (int l = 0; l < c->n_layers; l++) {
        for (int i = 0; i < c->dim; i++)
            m->layers[l].rms_att[i] = m->layers[l].rms_ffn[i] = 1.f;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *L = &m->layers[l].lin[j];
            float a = 1.f / sqrtf((float)L->in);
            for (size_t i = 0; i < (size_t)L->out * L->in; i++)
                L->w[i] = a * (float)(ptq_rng_uniform(&r) - 0.5);
        }
    }
    snprintf(m->name, sizeof m->name, "%s", s->name);
    if (!s->outer16) return 0;
    /* as a 16-bit checkpoint holds them: each value rounded to the dtype, so the narrowing is exact */
    for (size_t i = 0; i < ne; i++) {
        float x = m->tok_emb[i];
        m->tok_emb[i] = ptq_w16_to_f32(s->outer16, s->outer16 == PTQ_W16_BF16 ? ptq_f32_to_bf16(x) : ptq_f32_to_f16(x));
    }
    return ptq_model_narrow(m, s->outer16, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, err);
}
