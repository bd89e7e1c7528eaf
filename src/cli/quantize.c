/* quantize.c — --method/--bits/--seed for the evaluation commands
 * (zeroshot, kld): validate the flags before anything is loaded, then
 * quantize a loaded model in place with the method's default options and
 * the model's default calibration set (cell.h ptq_default_calib). */
#include <string.h>

#include "cli.h"
#include "method.h"
#include "cell.h"

int ptq_cli_quant_check(const char *method, const char *bits) {
    if (!method && !bits) return 0;
    if (!method || !bits) return ptq_cli_error(2, "--method and --bits go together (e.g. --method rtn --bits W4A16)");
    const ptq_method *me = ptq_method_find(method);
    if (!me) {
        char list[512] = "";
        for (int i = 0; ptq_methods[i]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ptq_methods[i]->name);
        return ptq_cli_error(2, "--method: unknown method '%s' (expected one of: %s)", method, list);
    }
    ptq_qspec q;
    ptq_err err;
    if (ptq_qspec_parse(bits, &q, &err)) return ptq_cli_error(2, "--bits: %s", err.msg);
    if (me->supports && me->supports(&q, &err)) return ptq_cli_error(2, "--bits %s: %s", bits, err.msg);
    return 0;
}

int ptq_cli_quantize(ptq_model *m, const ptq_tokenizer *tok, const char *model_spec, const char *method,
                     const char *bits, uint64_t seed, cJSON *info, ptq_err *err) {
    const ptq_method *me = ptq_method_find(method);
    ptq_qspec q;
    if (!me) return ptq_fail(err, "unknown method '%s'", method);
    if (ptq_qspec_parse(bits, &q, err)) return -1;
    ptq_calib_spec cs;
    memset(&cs, 0, sizeof cs);
    snprintf(cs.dataset, sizeof cs.dataset, "%s", ptq_default_calib(model_spec));
    cs.seed = seed;
    cJSON *opts = cJSON_CreateObject();
    ptq_apply_ctx ctx = {&q, opts, tok, &cs, seed, info};
    int rc = ptq_method_apply(me, m, &ctx, err);
    cJSON_Delete(opts);
    return rc;
}
