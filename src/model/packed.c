/* packed.c — quantized model -> packed integer model: each linear's
 * ptq_qweight packed for the kernels, its side data as kernels, and the view
 * of the model with the kernels attached (see packed.h). The forward pass is
 * forward.c's. */
#include "packed.h"

#include <stdlib.h>
#include <string.h>

/* Why the kernels cannot take this linear's activation quantizer (NULL: they can). */
static const char *act_unsupported(const ptq_act_qspec *q, int in) {
    if (q->bits >= 16) return NULL;
    if (q->bits < 2 || q->bits > 8) return "activation bits outside 2..8";
    if (q->group > 0 && q->group < in) return "per-group activation quantization";
    return NULL;
}

int ptq_lin_kernel_build(ptq_lin_kernel *k, const ptq_linear *l, const char *what, ptq_err *err) {
    memset(k, 0, sizeof *k);
    const ptq_qweight *qw = l->qw;
    const char *why = act_unsupported(&l->aq, l->in);
    if (why)
        return ptq_fail(err, "%s: %s (%d bits, group %d) has no packed kernel in this build (it has per-token "
                             "activation codes of 2..8 bits, or 16-bit activations)",
                        what, why, l->aq.bits, l->aq.group);
    if (!qw) return ptq_fail(err, "%s: the weight is not quantized (fp32): no integer codes to pack", what);
    if (qw->out != l->out || qw->in != l->in)
        return ptq_fail(err, "%s: a %d x %d quantized weight on a %d x %d linear", what, qw->out, qw->in, l->out, l->in);
    if (qw->bits < 2 || qw->bits > 8 || qw->group % 4)
        return ptq_fail(err, "%s: %d-bit weights in groups of %d have no packed kernel in this build (it has 2..8 "
                        "bits, group 0 or a multiple of 4)", what, qw->bits, qw->group);
    if (qw->gidx)
        return ptq_fail(err, "%s: groups over permuted columns (GPTQ act-order with a group size) have no packed kernel "
                        "in this build (it has groups of consecutive columns)",
                        what);
    uint8_t *tmp;
    const uint8_t *codes = ptq_qweight_byte_codes(qw, &tmp, err);
    int bad = !codes || ptq_kpack(&k->w, codes, qw->scale, qw->zero, l->out, l->in, qw->bits, qw->group, err);
    free(tmp);
    if (bad) return ptq_wrap(err, "%s", what);
    int rc = 0;
    if (qw->nnz) { /* the code there is the zero point: the correction is the value itself */
        ptq_kcsr *sp = &k->sp;
        sp->out = l->out, sp->in = l->in, sp->nnz = qw->nnz;
        if (l->in > PTQ_KCSR_MAX_IN)
            rc = ptq_fail(err, "a sparse part on a linear of %d inputs (the kernel's 16-bit columns take at most %d)",
                          l->in, PTQ_KCSR_MAX_IN);
        else if (!(sp->rowptr = ptq_calloc(l->out + 1, sizeof(long), err)) || !(sp->col = ptq_calloc(qw->nnz, sizeof(uint16_t), err)) ||
            !(sp->val = ptq_calloc(qw->nnz, sizeof(float), err)))
            rc = -1;
        else {
            memcpy(sp->rowptr, qw->sp_rowptr, sizeof(long) * (l->out + 1));
            for (long q = 0; q < qw->nnz; q++) sp->col[q] = (uint16_t)qw->sp_col[q];
            memcpy(sp->val, qw->sp_val, sizeof(float) * qw->nnz);
        }
    }
    if (!rc && qw->lowfreq.kmax > 0)
        rc = ptq_klowfreq_init_coef(&k->lf, qw->lowfreq.coef, l->out, l->in, qw->lowfreq.kmax, err);
    else k->side_dense = l->w_side;
    if (rc) {
        ptq_lin_kernel_free(k);
        return ptq_wrap(err, "%s", what);
    }
    return 0;
}

void ptq_packed_model_free(ptq_packed_model *pm) {
    if (pm->kern)
        for (int i = 0; i < pm->n; i++) ptq_lin_kernel_free(&pm->kern[i]);
    free(pm->kern), free(pm->packed), free(pm->view.layers);
    memset(pm, 0, sizeof *pm);
}

size_t ptq_packed_linear_bytes(const ptq_packed_model *pm, int i) {
    const ptq_linear *l = ptq_model_linear((ptq_model *)&pm->view, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
    size_t wb = !l->w && l->w16.w ? sizeof(uint16_t) : sizeof(float); /* unpacked: held in 16-bit storage or fp32 */
    size_t b = pm->packed[i] ? ptq_lin_kernel_bytes(&pm->kern[i])
                             : (size_t)l->out * l->in * (wb + (l->w_side ? sizeof(float) : 0));
    return b + (l->bias ? sizeof(float) * l->out : 0);
}

int ptq_packed_model_build(ptq_packed_model *pm, const ptq_model *m, ptq_err *err) {
    memset(pm, 0, sizeof *pm);
    int L = m->cfg.n_layers;
    pm->n = L * PTQ_LIN_COUNT + 1;
    if (!(pm->kern = ptq_calloc(pm->n, sizeof(ptq_lin_kernel), err)) ||
        !(pm->packed = ptq_calloc(pm->n, sizeof(int), err)) || !(pm->view.layers = ptq_calloc(L, sizeof(ptq_layer), err))) {
        ptq_packed_model_free(pm);
        return -1;
    }
    for (int i = 0; i < pm->n; i++) {
        int layer = i / PTQ_LIN_COUNT, which = i % PTQ_LIN_COUNT;
        const ptq_linear *l = ptq_model_linear((ptq_model *)m, layer, which);
        char what[96];
        if (layer < L) snprintf(what, sizeof what, "tensor layers.%d.%s.weight", layer, ptq_linear_names[which]);
        else snprintf(what, sizeof what, "tensor lm_head.weight");
        /* lm_head in full precision (most methods keep it), or a weight-only linear left unpacked (a
         * ggml type without a grid form, an f16 fallback): the fp32 GEMM on its weights */
        if (!l->qw && (layer == L || l->aq.bits >= 16)) continue;
        if (ptq_lin_kernel_build(&pm->kern[i], l, what, err)) {
            ptq_packed_model_free(pm);
            return m->path[0] ? ptq_wrap(err, "%s", m->path) : -1; /* the model file that asks for it */
        }
        pm->packed[i] = 1;
    }
    /* the view: a shallow copy of m whose own layer array carries the kernels */
    ptq_layer *layers = pm->view.layers;
    pm->view = *m;
    pm->view.layers = layers;
    memcpy(layers, m->layers, sizeof(ptq_layer) * L);
    for (int i = 0; i < pm->n; i++) {
        ptq_linear *l = ptq_model_linear(&pm->view, i / PTQ_LIN_COUNT, i % PTQ_LIN_COUNT);
        l->kern = pm->packed[i] ? &pm->kern[i] : NULL;
        pm->weight_bytes += ptq_packed_linear_bytes(pm, i);
    }
    return 0;
}
