/* test_ruquant_ft_slow.c — RUQuant stage 2 (finetune=true) on stories260K: the
 * rotated FP model still equals the original; at W4A4KV4 the block-output
 * MSE over all calibration windows (held fixed) of the learned vectors is
 * below the one of the initial vectors in every block; perplexity of
 * both variants printed; finetune without the Householder and ft_epochs 0 are refused. */
#include "perplexity.h"
#include "spintest.h"

static double ppl_of(const ptq_model *m) {
    ptq_ppl_opts o = {64, PTQ_PPL_GPTQ, 0, 8, -1, 0};
    ptq_ppl_result r;
    ptq_err err;
    CHECK(ptq_eval_ppl(m, &g_toks, &o, &r, &err) == 0);
    return r.ppl;
}

static void test_ft(void) {
    ptq_err err = {{0}};
    ptq_model a, b;
    cJSON *info = cJSON_CreateObject();
    if (apply_opts("ruquant", "W4A4KV4", "K=4", &a, NULL, &err) ||
        apply_opts("ruquant", "W4A4KV4", "K=4,finetune=true,ft_epochs=4", &b, info, &err)) {
        fprintf(stderr, "ruquant: %s\n", err.msg);
        CHECK(0);
        cJSON_Delete(info);
        return;
    }
    const cJSON *ft = cJSON_GetObjectItem(info, "ruquant_ft"), *e;
    int n = 0, lower = 0;
    cJSON_ArrayForEach(e, ft) {
        double f = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "mse_initial"));
        double l = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "mse_learned"));
        int k = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "kept_epoch"));
        printf("ruquant +ft layer %d: block-output MSE over all windows %.5g -> %.5g (epoch %d kept)\n", n, f, l, k);
        n++, lower += isfinite(l) && l < f && k > 0;
    }
    CHECK(n == a.cfg.n_layers && lower == n);
    printf("ruquant W4A4KV4 ppl (8 x 64 tokens): closed form %.4f, +ft %.4f\n", ppl_of(&a), ppl_of(&b));
    cJSON_Delete(info);
    ptq_model_free(&a);
    ptq_model_free(&b);
}

int main(void) {
    if (!open_assets()) return tu_done("test_ruquant_ft");
    check_fp_equal("ruquant", "finetune=true,ft_epochs=1");
    check_refused("ruquant", "W4A4KV4", "finetune=true,householder=false", "householder");
    check_refused("ruquant", "W4A4KV4", "finetune=true,ft_epochs=0", "ft_epochs");
    test_ft();
    close_assets();
    return tu_done("test_ruquant_ft");
}
