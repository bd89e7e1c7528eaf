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
        if (!rc) rc = ptq_model_drop_shadow(&p->m, err); /* quantized linears: packed qweight alone, dequantized per panel */
    }
    if (rc) ptq_prepared_free(p);
    return rc;
}
