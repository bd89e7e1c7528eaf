/* ppl_stream.c — see ppl_stream.h. */
#include "ppl_stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hf_checkpoint.h"
#include "scorer.h"
#include "sysinfo.h"
#ifdef _OPENMP
#include <omp.h>
#endif

int ptq_eval_ppl_stream(const char *dir, const ptq_tokens *toks, const ptq_ppl_opts *o, ptq_ppl_result *r,
                        ptq_stream_block *blocks, int verbose, ptq_err *err) {
    memset(r, 0, sizeof *r);
    ptq_config full, shell_cfg;
    ptq_st st;
    if (ptq_hf_read_config(dir, &full, err) || ptq_hf_open_weights(dir, &full, &st, err)) return -1;
    ptq_rolling rw;
    if (ptq_rolling_plan(&full, toks, o, &rw, err)) {
        ptq_st_close(&st);
        return -1;
    }
    int L = rw.L, first = rw.first, rc = -1;
    long nwin = rw.nwin;
    /* a one-block model whose block slot is refilled for every layer */
    shell_cfg = full;
    shell_cfg.n_layers = 1;
    ptq_model m;
    ptq_state s;
    memset(&s, 0, sizeof s);
    float *X = NULL;
    int *win = NULL;
    double t0 = ptq_now_sec();
    if (ptq_model_alloc(&m, &shell_cfg, err)) {
        ptq_st_close(&st);
        return -1;
    }
    size_t per = (size_t)L * full.dim;
    if (ptq_hf_load_outer(&st, &m, 1, err) || ptq_state_init(&s, &m, L, err) ||
        !(X = ptq_calloc((size_t)nwin * per, sizeof(float), err)) || !(win = ptq_calloc(L, sizeof(int), err)))
        goto out;
    for (long w = 0; w < nwin; w++) {
        ptq_rolling_window(&rw, w, win);
        if (ptq_forward_embed(&m, win, L, X + w * per, err)) goto out;
    }
    for (int l = 0; l < full.n_layers; l++) {
        double ta = ptq_now_sec();
        if (ptq_hf_load_layer(&st, &full, l, &m.layers[0], 1, err)) goto out;
        double tb = ptq_now_sec();
        for (long w = 0; w < nwin; w++)
            if (ptq_forward_block(&m, &s, 0, X + w * per, L, 0, err)) goto out;
        ptq_stream_block b = {tb - ta, ptq_now_sec() - tb, ptq_rss_kb(), ptq_peak_rss_kb()};
        if (blocks) blocks[l] = b;
        if (verbose)
            fprintf(stderr, "block %2d/%d: load %.2f s, compute %.2f s, RSS %.0f MiB, peak %.0f MiB\n", l + 1,
                    full.n_layers, b.load_sec, b.compute_sec, b.rss_kb / 1024.0, b.peak_rss_kb / 1024.0);
    }
    for (long w = 0; w < nwin; w++) {
        ptq_rolling_window(&rw, w, win);
        if (ptq_forward_head(&m, &s, X + w * per, L, s.logits, err)) goto out;
        r->nll_sum += ptq_window_nll(s.logits, win, L, first, full.vocab_size);
        r->tokens_scored += L - 1 - first;
    }
    r->windows = (int)nwin;
    r->seqlen = L;
    r->seconds = ptq_now_sec() - t0;
    r->ppl = exp(r->nll_sum / (o->denom_hf ? (double)nwin * L : (double)r->tokens_scored));
    r->tokens_per_sec = r->seconds > 0 ? (double)nwin * L / r->seconds : 0;
    rc = ptq_ppl_finite(r, err);
out:
    free(X);
    free(win);
    ptq_state_free(&s);
    ptq_model_free(&m);
    ptq_st_close(&st);
    return rc ? ptq_wrap(err, "streamed perplexity of %s", dir) : 0;
}
