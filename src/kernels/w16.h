/* w16.h — a weight matrix resident in 16-bit storage (the checkpoint's
 * bf16/fp16), widened to fp32 only panel by panel inside matmul.h's
 * ptq_sgemm_w16. Separate from matmul.h so model.h need not pull in cblas.h
 * (whose complex.h defines I). Implemented in matmul.c. */
#ifndef PTQ_W16_H
#define PTQ_W16_H

#include <stdint.h>
#include <string.h>

enum { PTQ_W16_BF16 = 1, PTQ_W16_F16 = 2 };
typedef struct {
    const uint16_t *w; /* rows x ld */
    int dtype, ld;     /* PTQ_W16_*, values per row */
} ptq_w16;
/* A bf16 bit pattern as fp32 (exact). */
static inline float ptq_bf16_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* One 16-bit value as fp32 (exact for both dtypes). */
float ptq_w16_to_f32(int dtype, uint16_t h);
/* n consecutive values. */
void ptq_w16_row(int dtype, const uint16_t *src, float *dst, int n);

#endif
