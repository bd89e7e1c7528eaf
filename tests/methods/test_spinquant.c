/* test_spinquant.c — SpinQuant on stories260K: the rotated FP model equals
 * the original (random, Hadamard and learned rotations); learning lowers
 * the calibration loss of the quantized network versus its initial
 * rotation (SpinQuant and ReSpinQuant); bad input: steps <= 0, a
 * non-finite loss (stops naming the step, the model is left as it was),
 * --stream (R1 is global), a checkpoint of another run (refused); a
 * finished run's checkpoint resumes to the same result. */
#include <unistd.h>

#include "spintest.h"

/* Learning: the calibration CE after training is below the initial one. */
static void check_learning(const char *method, const char *bits, const char *opts) {
    ptq_err err = {{0}};
    ptq_model m;
    cJSON *info = cJSON_CreateObject();
    double t0 = ptq_now_sec();
    int rc = apply_opts(method, bits, opts, &m, info, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", method, err.msg);
        cJSON_Delete(info);
        return;
    }
    const cJSON *lr = cJSON_GetObjectItem(info, "learning");
    double a = cJSON_GetNumberValue(cJSON_GetObjectItem(lr, "calib_loss_initial"));
    double b = cJSON_GetNumberValue(cJSON_GetObjectItem(lr, "calib_loss_learned"));
    printf("%s(%s) %s: calibration CE %.4f -> %.4f (%.1f s)\n", method, opts, bits, a, b, ptq_now_sec() - t0);
    CHECK(isfinite(a) && isfinite(b) && b < a);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(lr, "loss_curve")) > 0);
    cJSON_Delete(info);
    ptq_model_free(&m);
}

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

/* A finished run's checkpoint resumes to the same rotations; another run's is refused. */
static void check_checkpoint(void) {
    ptq_err err = {{0}};
    char path[128], o1[320], o2[320];
    snprintf(path, sizeof path, "/tmp/ptq_spin_ckpt_%d.bin", (int)getpid());
    unlink(path);
    snprintf(o1, sizeof o1, "nsamples=2,seqlen=32,batch=2,steps=4,lr=0.05,weights=rtn,checkpoint=%s,checkpoint_every=2",
             path);
    snprintf(o2, sizeof o2, "%s,momentum=0.5", o1);
    ptq_model a, b;
    cJSON *ia = cJSON_CreateObject(), *ib = cJSON_CreateObject();
    int ra = apply_opts("spinquant", "W4A4KV4", o1, &a, ia, &err);
    int rb = ra ? -1 : apply_opts("spinquant", "W4A4KV4", o1, &b, ib, &err); /* resumes at step 4 of 4 */
    CHECK(ra == 0 && rb == 0);
    if (!ra && !rb) {
        double la = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ia, "learning"), "calib_loss_learned"));
        double lb = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ib, "learning"), "calib_loss_learned"));
        printf("spinquant checkpoint: learned CE %.6f, resumed from the finished checkpoint %.6f\n", la, lb);
        CHECK(la == lb && !memcmp(a.tok_emb, b.tok_emb, sizeof(float) * a.cfg.vocab_size * a.cfg.dim));
    }
    if (!ra) ptq_model_free(&a);
    if (!rb) ptq_model_free(&b);
    check_refused("spinquant", "W4A4KV4", o2, "resume"); /* other options: refused */
    unlink(path);
    cJSON_Delete(ia), cJSON_Delete(ib);
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
    /* Full-batch steps (the loss measured is the one optimised). The step is min(lr, 1/|W|_1): at
     * the paper's lr 1.5 this 260K-parameter model overshoots within 6 steps (measured 1.94 -> 2.01
     * at W4A4KV4; lr 0.2: 1.97; lr 0.05: 1.90), so the descent property is checked at lr 0.05. */
    check_learning("spinquant", "W4A4KV4", "nsamples=4,seqlen=64,batch=4,steps=6,lr=0.05,weights=rtn");
    check_learning("respinquant", "W4A4KV4", "nsamples=4,seqlen=64,batch=4,steps=6,lr=0.05,weights=rtn,rank=-1");
    check_nan();
    check_checkpoint();
    close_assets();
    return tu_done("test_spinquant");
}
