/* test_scorer.c — the rolling windows of the request-level scorer
 * (scorer.h): how a token stream is cut (floor(n / L) disjoint windows of L,
 * limit_windows, max_seq as the default length), the halfwindow protocol
 * (targets from L / 2, BOS in each window's first slot), and the errors
 * naming the seqlen or the dataset when no window fits. */
#include <string.h>

#include "scorer.h"
#include "testutil.h"

int main(void) {
    int ids[100];
    for (int i = 0; i < 100; i++) ids[i] = 1000 + i;
    ptq_tokens toks;
    memset(&toks, 0, sizeof toks);
    toks.ids = ids, toks.n = 100;
    snprintf(toks.name, sizeof toks.name, "digits");
    ptq_config c = {.max_seq = 32};
    ptq_ppl_opts o = {.seqlen = 16, .bos_id = 1};
    ptq_rolling r;
    ptq_err err;
    int win[32];
    CHECK(ptq_rolling_plan(&c, &toks, &o, &r, &err) == 0 && r.nwin == 6 && r.L == 16 && r.first == 0);
    ptq_rolling_window(&r, 5, win);
    CHECK(win[0] == 1080 && win[15] == 1095); /* gptq protocol: no BOS */
    o.limit_windows = 2;
    CHECK(ptq_rolling_plan(&c, &toks, &o, &r, &err) == 0 && r.nwin == 2);
    o = (ptq_ppl_opts){.protocol = PTQ_PPL_HALFWINDOW, .bos_id = 1};
    CHECK(ptq_rolling_plan(&c, &toks, &o, &r, &err) == 0 && r.L == 32 && r.nwin == 3 && r.first == 16);
    ptq_rolling_window(&r, 1, win);
    CHECK(win[0] == 1 && win[1] == 1033 && win[31] == 1063);
    o.seqlen = 33;
    CHECK(ptq_rolling_plan(&c, &toks, &o, &r, &err) == -1 && strstr(err.msg, "--seqlen 33 is above the model's max_seq 32"));
    o.seqlen = 1;
    CHECK(ptq_rolling_plan(&c, &toks, &o, &r, &err) == -1 && strstr(err.msg, "--seqlen 1"));
    toks.n = 20, o.seqlen = 21, c.max_seq = 64;
    CHECK(ptq_rolling_plan(&c, &toks, &o, &r, &err) == -1 &&
          strstr(err.msg, "dataset digits has 20 tokens, fewer than one window of 21"));
    return tu_done("test_scorer");
}
