/* qspec.h — the bit-spec: the whole quantizer of a run in one string.
 *
 *   W<b>[A<b>][KV<b>][-option]...        case-insensitive; bits 2..8 or 16 (= not quantized);
 *                                        A and KV default to 16
 * Options (each at most once, in any order):
 *   weights       -g<N>               group size 1..65536 (default: one group per output channel)
 *                 -sym | -asym        symmetric / asymmetric grid
 *                 -mse                MSE search of the clip ratio of each grid
 *   activations   -clip<r>            clip ratio in (0, 1]; -a:clip<r> is the same option
 *                 -a:sym | -a:asym    per-token symmetric / asymmetric
 *                 -a:g<N>             group size 0..65536 within a token (0: one per token)
 *   KV cache      -kv:sym | -kv:asym
 *                 -kv:g<N>            group size 0..65536 within a head (0 or >= head_dim: one per head)
 *                 -kv:clip<r>         clip ratio in (0, 1]
 * The -a: options other than clip need A < 16, the -kv: options KV < 16.
 * What the spec leaves open is the method's default (methods/README.md).
 * The method options a_sym, kv_group, kv_sym, kv_clip (and RUQuant's lac,
 * the activation clip) set the same fields (methods/method_util.h).
 *
 * Canonical form (ptq_qspec.text): W<b>A<b>[KV<b>] then, where set,
 * -g<N> -sym|-asym -clip<r> -mse -a:sym|-a:asym -a:g<N> -kv:sym|-kv:asym
 * -kv:g<N> -kv:clip<r>. Parsing the canonical form gives the same struct:
 * a clip ratio is stored as the nearest float and printed with the fewest
 * digits (6 to 9) that read back as that float, so 0.9 stays "0.9" and
 * 0.1234567 and 0.1234568 stay distinct.
 * Examples: W4A4KV4, W4A16-g128, W3A3-asym, W4A4KV4-clip0.9-kv:g64, W8A8-a:asym. */
#ifndef PTQ_QSPEC_H
#define PTQ_QSPEC_H

#include "common.h"

typedef struct {
    int w_bits, a_bits, kv_bits; /* 16 = not quantized */
    /* weights */
    int w_group; /* 0 = per output channel */
    int w_sym;   /* -1 = method default, 1 sym, 0 asym */
    int w_mse;   /* MSE clip search */
    /* activations (per token) */
    float a_clip; /* 0 = method default */
    int a_sym;    /* -1 = method default */
    int a_group;  /* -1 = method default, 0 = one group per token */
    /* KV cache (per head) */
    int kv_sym;     /* -1 = method default */
    int kv_group;   /* -1 = method default, 0 = one group per head */
    float kv_clip;  /* 0 = method default */
    char text[128]; /* canonical form, e.g. "W4A4KV4-g128" */
} ptq_qspec;

/* Parse s into q; every error names the spec and the position at fault. */
int ptq_qspec_parse(const char *s, ptq_qspec *q, ptq_err *err);
/* Rewrite q->text from the fields (after a field was set in code). */
void ptq_qspec_format(ptq_qspec *q);
/* The canonical string (q->text). */
const char *ptq_qspec_str(const ptq_qspec *q);
static inline int ptq_qspec_weight_only(const ptq_qspec *q) {
    return q->a_bits >= 16 && q->kv_bits >= 16;
}

#endif
