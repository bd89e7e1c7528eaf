/* latency.h — latency and memory of a quantized model on the real low-bit
 * path (packed integer weights, packed.h) against the FP32 OpenBLAS path of
 * the unquantized model, measured in the same run (EVAL.md "Latency and
 * memory"). Used by the runner's "latency" task and by `ptqbench bench
 * --model M --out FILE`, which write the same result rows. */
#ifndef PTQ_LATENCY_H
#define PTQ_LATENCY_H

#include <cjson/cJSON.h>

#include "model.h"

#define PTQ_LAT_MAXLIST 8

typedef struct {
    int Ts[PTQ_LAT_MAXLIST], nT;   /* prefill lengths (batch 1 x T tokens) */
    int ctxs[PTQ_LAT_MAXLIST], nC; /* decode: one token at context C */
    int reps;                      /* timed runs, >= 5; median, min, max */
    int warmup;                    /* untimed runs before them, >= 1 */
    int min_ms;                    /* a timed run repeats the call until it lasts this long */
    int all_logits;                /* prefill computes logits at every position (perplexity's work);
                                      0 (default): the last position only, as a deployed engine does */
    int w16_act;                   /* weight-only linears' activations, prefill and decode: a kernels.h
                                      ptq_w16_act (key w16=fp32|int8|bf16; default PTQ_W16_FP32 = 0) */
    int cpu_clock;                 /* 1: process CPU time instead of wall time (clock=cpu; a shared
                                      machine's other load barely moves it: the nightly gate) */
    int threads;                   /* >0: OpenMP threads while timing (restored after); 0: unchanged */
} ptq_latency_opts;

/* T = 128,512,2048; ctx = 512,2048; reps 5; warmup 1; min_ms 20; last-position logits. */
void ptq_latency_defaults(ptq_latency_opts *o);
/* Task argument: "" or "default", else key=value pairs separated by ':' or
 * ',' (':' also works inside `ptqbench run --eval a,b`), keys T (lengths
 * joined by '+', e.g. T=128+512), ctx (same), reps, warmup, min_ms, logits
 * (last or all), w16 (fp32, int8 or bf16: kernels.h ptq_w16_act), clock (wall or cpu),
 * threads (1..256), e.g. "latency:T=128+512:ctx=512:reps=5:logits=all". Unknown keys and bad values are
 * errors naming the key. */
int ptq_latency_parse(const char *arg, ptq_latency_opts *o, ptq_err *err);

/* Measure q (packed path, built from its quantized weights) and fp (FP32
 * path). T values above the model's max_seq are dropped and max_seq added
 * in their place; contexts are capped at max_seq - 1. Fills metrics (names
 * in eval/README.md). Returns 0, -1 on an error of the FP32 path, or
 * PTQ_LAT_UNSUPPORTED when the packed path cannot run this model (err says
 * why; nothing is written to metrics). A model whose layer linears carry no
 * quantized weight (W16) has no packed form: it is then timed on the FP32
 * path (metric packed = 0). */
#define PTQ_LAT_UNSUPPORTED 1
/* The FP32 reference of a quantized model that has no FP model beside it
 * (an exported .ptq): its weights dequantized, every quantizer and side
 * branch off. Free with ptq_model_free. */
int ptq_latency_fp32_twin(ptq_model *fp, const ptq_model *q, ptq_err *err);
int ptq_latency_run(const ptq_model *q, const ptq_model *fp, const ptq_latency_opts *o, cJSON *metrics,
                    ptq_err *err);

/* Machine fields of a latency row: host, cpu (model name), isa (kernel path
 * in use), loadavg [1, 5, 15 min] from /proc/loadavg (machines are shared). */
void ptq_latency_machine(cJSON *row);

#endif
