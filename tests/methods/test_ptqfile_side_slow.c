/* test_ptqfile_side_slow.c — test_ptqfile_methods.c's round trip for the
 * methods with side data: SpecQuant W4A4 (low-frequency coefficients rebuilt
 * into w_side and the kernels' branch) and SEPTQ W4 (sparse full-precision
 * entries as CSR, the kernels' sparse correction). Slow label: SEPTQ's
 * calibration takes ~25 s. */
#define PTQFILE_SIDE_METHODS
#include "test_ptqfile_methods.c"
