/* test_packed_e2e_slow.c — the method x bit-spec pairs of test_packed_e2e.c
 * whose calibration is slow (quarot, gptq, ruquant, specquant W6A6, septq):
 * the same checks, in the slow label (not run under ASan). */
#define PTQ_E2E_SLOW 1
#include "test_packed_e2e.c"
