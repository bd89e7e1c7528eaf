/* registry.c — the table of methods (NULL-terminated). Add one row per method. */
#include "method.h"

extern const ptq_method ptq_method_fp16, ptq_method_rtn, ptq_method_smoothquant, ptq_method_gptq, ptq_method_quarot;
extern const ptq_method ptq_method_specquant, ptq_method_septq, ptq_method_ruquant;
extern const ptq_method ptq_method_ggml;

const ptq_method *const ptq_methods[] = {
    &ptq_method_fp16,  &ptq_method_rtn,     &ptq_method_smoothquant,
    &ptq_method_gptq,  &ptq_method_quarot,  &ptq_method_specquant,
    &ptq_method_septq, &ptq_method_ruquant, &ptq_method_ggml, NULL,
};
