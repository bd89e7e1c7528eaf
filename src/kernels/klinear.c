/* klinear.c — one linear on the real kernels (kernels.h ptq_lin_kernel):
 * the packed GEMM/GEMV on integer activation codes or fp32 rows, then the
 * method's side branch on the same unquantized rows. forward.c dispatches
 * here when a linear has kernels attached (packed.c attaches them). */
#include "matmul.h"
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"

static ptq_w16_act g_w16 = PTQ_W16_FP32;
void ptq_kern_set_w16_act(ptq_w16_act m) { g_w16 = m; }
ptq_w16_act ptq_kern_w16_act(void) { return g_w16; }
/* The modes by flag value, with the name rows record. */
static const struct {
    ptq_w16_act mode;
    const char *flag, *name;
} w16_modes[] = {{PTQ_W16_FP32, "fp32", "fp32"}, {PTQ_W16_INT8, "int8", "int8-act"}, {PTQ_W16_BF16ACT, "bf16", "bf16-act"}};
enum { N_W16_MODES = sizeof w16_modes / sizeof w16_modes[0] };

const char *ptq_w16_act_name(ptq_w16_act m) {
    for (int i = 0; i < N_W16_MODES; i++)
        if (w16_modes[i].mode == m) return w16_modes[i].name;
    return "?";
}

const char *ptq_w16_act_flag(ptq_w16_act m) {
    for (int i = 0; i < N_W16_MODES; i++)
        if (w16_modes[i].mode == m) return w16_modes[i].flag;
    return "?";
}

int ptq_w16_act_parse(const char *s, ptq_w16_act *m) {
    for (int i = 0; s && i < N_W16_MODES; i++)
        if (!strcmp(s, w16_modes[i].flag)) return *m = w16_modes[i].mode, 0;
    return -1;
}

static int lin_forward(const ptq_lin_kernel *k, const float *x, int T, int a_bits, int a_sym, float a_clip,
                       int a_group, const float *bias, ptq_kacts *acts, float *y, ptq_err *err) {
    const ptq_kpacked *w = &k->w;
    int sparse_done = 0;
    if (a_bits < 16) {
        if (a_bits < 2 || a_bits > 8) return ptq_fail(err, "packed linear: %d-bit activations (2..8 or 16)", a_bits);
        if (a_group > 0 && a_group < w->in)
            return ptq_fail(err, "packed linear: per-group activation quantization (group %d) is not supported",
                            a_group);
        if (ptq_kact_quant(acts, x, T, w->in, a_bits, a_sym, a_clip, w->group, err) ||
            ptq_kgemm(acts, w, bias, y, err))
            return -1;
    } else if (g_w16 == PTQ_W16_INT8) { /* 8-bit asymmetric per token, no clipping; prefill and decode */
        if (ptq_kact_quant(acts, x, T, w->in, 8, 0, 1.f, w->group, err) || ptq_kgemm(acts, w, bias, y, err))
            return -1;
    } else if (g_w16 == PTQ_W16_BF16ACT) { /* the grid part on bf16 rows; side branches on the fp32 ones */
        if (ptq_kgemm_bf16(w, x, T, bias, y, err)) return -1;
    } else if (ptq_kgemm_f32_sparse(w, k->sp.rowptr ? &k->sp : NULL, x, T, bias, y, err))
        return -1;
    else
        sparse_done = 1; /* folded into the weight panels (T > 1) or applied after the GEMV */
    if (k->lf.coef && ptq_klowfreq_apply_acts(&k->lf, x, T, y, acts, err)) return -1;
    if (!k->lf.coef && k->side_dense)
        ptq_sgemm(CblasNoTrans, CblasTrans, T, w->out, w->in, 1.f, x, w->in, k->side_dense, w->in, 1.f, y, w->out);
    if (k->sp.rowptr && !sparse_done) ptq_kcsr_apply(&k->sp, x, T, y);
    return 0;
}

void ptq_lin_kernel_free(ptq_lin_kernel *k) {
    ptq_kpacked_free(&k->w);
    ptq_klowfreq_free(&k->lf);
    ptq_kcsr_free(&k->sp);
    memset(k, 0, sizeof *k);
}

size_t ptq_lin_kernel_bytes(const ptq_lin_kernel *k) {
    size_t b = ptq_kpacked_bytes(&k->w);
    if (k->lf.coef) b += ptq_klowfreq_bytes(&k->lf);
    else if (k->side_dense) b += sizeof(float) * (size_t)k->w.out * k->w.in;
    if (k->sp.rowptr) b += ptq_kcsr_bytes(&k->sp);
    return b;
}

int ptq_lin_kernel_forward(const ptq_lin_kernel *k, const float *x, int T, int a_bits, int a_sym, float a_clip,
                           int a_group, const float *bias, ptq_kacts *acts, float *y, ptq_err *err) {
    int rc = 0;
    for (int r = ptq_test_slowdown_runs(1); r > 0 && !rc; r--) /* 1 unless the test-only switch is set */
        rc = lin_forward(k, x, T, a_bits, a_sym, a_clip, a_group, bias, acts, y, err);
    return rc;
}
