/* zeroshot.h — the pieces of zero-shot scoring (eval/zeroshot.c), exposed
 * for tests and tools; ptq_zeroshot_run (eval.h) strings them together. The
 * requests themselves are scorer.h's log-likelihood requests. */
#ifndef PTQ_ZEROSHOT_H
#define PTQ_ZEROSHOT_H

#include <cjson/cJSON.h>

#include "model.h"
#include "scorer.h"
#include "tokenizer.h"

/* acc (argmax of ll) / acc_norm (argmax of ll / choice_len), first max wins like np.argmax. */
int ptq_zs_argmax(const double *ll, const int *len, int n);
/* Standard error of a mean of 0/1 values: sample std (ddof 1) / sqrt(n). */
double ptq_zs_stderr(double p, int n);

#endif
