/* prepare.c — the one way from a cell to its quantized model (cell.h
 * ptq_prepare): run, sweep, export, bench, zeroshot and kld all come here. */
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "model_open.h"

void ptq_prepared_free(ptq_prepared *p) {
    if (p->have_fp) ptq_model_free(&p->fp);
    if (p->have_m) ptq_model_free(&p->m);
    ptq_tokenizer_free(p->tok);
    cJSON_Delete(p->info);
    memset(p, 0, sizeof *p);
}

/* An exported file is already quantized: it is evaluated as stored, under
 * the method and bit-spec it records or as "fp16" (the model as loaded);
 * anything else would quantize quantized weights again. */
static int export_cell_ok(const ptq_cell *c, const ptq_model *m, ptq_err *err) {
    if (!strcmp(c->method->name, "fp16") ||
        (!strcmp(c->method->name, m->source.method) && !strcmp(c->q.text, m->source.qspec)))
        return 0;
    return ptq_fail(err,
                    "%s is an export of %s quantized by %s at %s: it is evaluated as stored with --method %s --bits "
                    "%s (or --method fp16); --method %s --bits %s would quantize it again",
                    m->path, m->source.model, m->source.method, m->source.qspec, m->source.method, m->source.qspec,
                    c->method->name, c->q.text);
}

/* The 16-bit dtype the embedding or lm_head is held in (0: fp32). */
static int outer_dtype16(const ptq_model *m) {
    return m->emb16.w ? m->emb16.dtype : m->lm_head.owns_w && m->lm_head.w16.w ? m->lm_head.w16.dtype : 0;
}

int ptq_prepare(ptq_cell *c, int keep_fp, ptq_prepared *p, ptq_err *err) {
    memset(p, 0, sizeof *p);
    if (!ptq_cell_is_checked(c) && ptq_cell_check(c, err)) return -1;
    if (!(p->info = cJSON_CreateObject())) return ptq_fail(err, "out of memory");
    int rc = c->synthetic ? ptq_random_model(&p->m, c->synthetic, err)
                          : ptq_open_model(c->model, c->tokenizer, &p->m, &p->tok, err);
    p->have_m = !rc;
    int exported = !rc && p->m.source.method[0];
    if (exported) rc = export_cell_ok(c, &p->m, err);
    if (!rc && keep_fp && !exported) rc = ptq_model_clone(&p->fp, &p->m, err), p->have_fp = !rc;
    if (!rc && !exported) {
        ptq_calib_spec cs = c->calib;
        cs.seed = c->seed;
        ptq_apply_ctx ctx = {
            .q = &c->quantizer, .opts = c->run_opts, .tok = p->tok, .calib = &cs, .seed = c->seed, .info = p->info};
        int dt16 = outer_dtype16(&p->m);
        double t0 = ptq_now_sec();
        rc = ptq_method_apply(c->method, &p->m, &ctx, err);
        p->quant_seconds = ptq_now_sec() - t0;
        if (!rc) rc = ptq_model_drop_shadow(&p->m, err); /* quantized linears: packed qweight alone, dequantized per panel */
        /* the method widened every weight: the outer tensors it left as loaded go back (exact, the same forward) */
        if (!rc && dt16) rc = ptq_model_narrow(&p->m, dt16, PTQ_NARROW_EMB | PTQ_NARROW_LM_HEAD, err);
    }
    if (rc) ptq_prepared_free(p);
    return rc;
}
