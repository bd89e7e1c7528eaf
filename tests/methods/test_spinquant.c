/* test_spinquant.c — SpinQuant on stories260K: the rotated FP model equals
 * the original (random, Hadamard and learned rotations, and ReSpinQuant's
 * learned ones at full rank); bad input: steps <= 0, a non-finite loss
 * (stops naming the step, the model is left as it was), --stream (R1 is
 * global). Learning lowers the loss, checkpoints: test_spinquant_learn_slow.c. */
#include "spintest.h"

/* A NaN in a weight: learning stops at step 0 naming it; m unchanged. */
static void check_nan(void) {
    ptq_err err = {{0}};
    ptq_model m;
    const ptq_method *me = ptq_method_find("spinquant");
    ptq_qspec q;
    CHECK(ptq_qspec_parse("W4A4KV4", &q, &err) == 0 && ptq_model_clone(&m, &g_ref, &err) == 0);
    m.lm_head.w[5] = NAN; /* every logit row's softmax: the first loss is NaN */
    size_t ne = (size_t)m.cfg.vocab_size * m.cfg.dim;
    float *emb = malloc(sizeof(float) * ne);
    memcpy(emb, m.tok_emb, sizeof(float) * ne);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nsamples", 2);
    cJSON_AddNumberToObject(o, "seqlen", 32);
    ptq_calib_spec cs = {"tinystories-calib", 0, 0, 0};
    ptq_apply_ctx ctx = {&q, o, g_tok, &cs, 3, NULL};
    int rc = ptq_method_apply(me, &m, &ctx, &err);
    printf("spinquant with a NaN weight: %s\n", rc ? err.msg : "accepted");
    CHECK(rc != 0 && strstr(err.msg, "not finite") && strstr(err.msg, "step 0"));
    CHECK(!memcmp(emb, m.tok_emb, sizeof(float) * ne)); /* nothing written */
    free(emb);
    cJSON_Delete(o);
    ptq_model_free(&m);
}

int main(void) {
    ptq_err err = {{0}};
    CHECK(ptq_method_streamable(ptq_method_find("spinquant"), &err) != 0 && strstr(err.msg, "spinquant"));
    if (!open_assets()) return tu_done("test_spinquant");
    check_fp_equal("spinquant", "rotation=hadamard");
    check_fp_equal("spinquant", "rotation=random");
    check_fp_equal("spinquant", "rotation=learned,steps=2,batch=2");
    check_fp_equal("respinquant", "rotation=learned,steps=2,batch=2,rank=-1");
    check_refused("spinquant", "W4A4KV4", "steps=0", "'steps'");
    check_refused("spinquant", "W4A4KV4", "steps=-5", "'steps'");
    check_nan();
    close_assets();
    return tu_done("test_spinquant");
}
