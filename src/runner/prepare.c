/* prepare.c — the one way from a cell to its quantized model (cell.h
 * ptq_prepare): run, sweep, export, bench, zeroshot and kld all come here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "model_open.h"

int ptq_random_model(ptq_model *m, const ptq_random_shape *s, ptq_err *err) {
    ptq_config c = {.dim = s->dim,
                    .hidden_dim = s->hidden_dim,
                    .n_layers = s->n_layers,
                    .n_heads = s->n_heads,
                    .n_kv_heads = s->n_kv_heads,
                    .head_dim = s->head_dim,
                    .vocab_size = s->vocab_size,
                    .max_seq = s->max_seq,
                    .rope_theta = 10000.f,
                    .norm_eps = 1e-5f,
                    .tied_embeddings = 1,
                    .bos_id = 1,
                    .eos_id = 2};
    if (c.n_heads < 1 || c.n_kv_heads < 1 || c.head_dim < 2 || c.n_heads % c.n_kv_heads || c.dim < 1 ||
        c.hidden_dim < 1 || c.n_layers < 1 || c.vocab_size < 3 || c.max_seq < 2)
        return ptq_fail(err, "random model '%s': inconsistent shape", s->name);
    if (ptq_model_alloc(m, &c, err)) return ptq_wrap(err, "random model '%s'", s->name);
    ptq_rng r;
    ptq_rng_seed(&r, s->seed);
    size_t ne = (size_t)c.vocab_size * c.dim;
    for (size_t i = 0; i < ne; i++)
        m->tok_emb[i] = (float)(ptq_rng_uniform(&r) - 0.5);
    for (int i = 0; i < c.dim; i++)
        m->rms_final[i] = 1.f;
    for (int l = 0; l < c.n_layers; l++) {
        for (int i = 0; i < c.dim; i++)
            m->layers[l].rms_att[i] = m->layers[l].rms_ffn[i] = 1.f;
        for (int j = 0; j < PTQ_LIN_COUNT; j++) {
            ptq_linear *L = &m->layers[l].lin[j];
            float a = 1.f / sqrtf((float)L->in);
            for (size_t i = 0; i < (size_t)L->out * L->in; i++)
                L->w[i] = a * (float)(ptq_rng_uniform(&r) - 0.5);
        }
    }
    snprintf(m->name, sizeof m->name, "%s", s->name);
    return 0;
}

void ptq_prepared_free(ptq_prepared *p) {
    if (p->have_fp) ptq_model_free(&p->fp);
    if (p->have_m) ptq_model_free(&p->m);
    ptq_tokenizer_free(p->tok);
    cJSON_Delete(p->info);
    memset(p, 0, sizeof *p);
}

int ptq_prepare(ptq_cell *c, int keep_fp, ptq_prepared *p, ptq_err *err) {
    memset(p, 0, sizeof *p);
    if (!ptq_cell_is_checked(c) && ptq_cell_check(c, err)) return -1;
    if (!(p->info = cJSON_CreateObject())) return ptq_fail(err, "out of memory");
    int rc = c->synthetic ? ptq_random_model(&p->m, c->synthetic, err)
                          : ptq_open_model(c->model, c->tokenizer, &p->m, &p->tok, err);
    p->have_m = !rc;
    if (!rc && keep_fp) rc = ptq_model_clone(&p->fp, &p->m, err), p->have_fp = !rc;
    if (!rc) {
        ptq_calib_spec cs = c->calib;
        cs.seed = c->seed;
        ptq_apply_ctx ctx = {
            .q = &c->quantizer, .opts = c->run_opts, .tok = p->tok, .calib = &cs, .seed = c->seed, .info = p->info};
        double t0 = ptq_now_sec();
        rc = ptq_method_apply(c->method, &p->m, &ctx, err);
        p->quant_seconds = ptq_now_sec() - t0;
    }
    if (rc) ptq_prepared_free(p);
    return rc;
}
