/* specquant.c — SpecQuant (arXiv 2511.11663, AAAI 2026), METHODS.md §7.
 *
 * 1. Smoothing X^ = X diag(l)^-1, W^ = W diag(l), l_j = a_j^alpha / w_j^(1-alpha)
 *    (a_j = max|X_j| on calibration data, w_j = max over the group's weights
 *    of |W_ij|, both clamped to 1e-5), alpha searched per smoothing group on
 *    a grid to minimise the quantized group's output MSE on calibration rows.
 * 2. Per output row, rfft (FFTW, batched, cached plans), keep the k lowest
 *    bins: W_low (kept in 16 bits, k complex coefficients per row).
 * 3. The residual R = W^ - W_low goes through GPTQ at the weight bits.
 * 4. Forward: y = X^ W_low^T (full precision, lin->w_side, applied before the
 *    activation quantizer) + Q(X^) Q(R)^T; activations per-token asymmetric.
 * Resolved ambiguities (METHODS.md §7 lists them):
 *   - alpha: grid alpha_lo..alpha_hi step alpha_step (0.05..0.95 by 0.05) per
 *     smoothing group (qkv, o, gate/up, down of every layer); objective =
 *     sum over the group's linears of ||X W^T - (Q(X^) RTN(R)^T + X^ W_low^T)||^2
 *     on search_tokens strided calibration rows (RTN, not GPTQ, inside the
 *     search to keep it cheap); alpha_search=false uses the fixed alpha.
 *   - o_proj / down_proj: smoothed too (smooth_od), l folded into v_proj rows
 *     (tied across the query heads sharing a KV head under GQA) and up_proj
 *     rows; these partners are already quantized then, and row scaling is
 *     exact on a per-row grid. smooth_od=false leaves them unsmoothed.
 *   - Budget: fixed k bins per row (k counts complex bins, DC included,
 *     n/2+1 = the whole spectrum). The paper keeps 16-64 bins of LLaMA rows
 *     of 4096; the default k = -1 keeps that fraction: max(1, round(16 C_in
 *     / 4096)) bins, i.e. 1 bin (the DC term) on stories260K (C_in 64/172)
 *     and 16 at C_in = 4096; "energy": the fewest bins with
 *     >= energy of the row's spectral energy; "softmax": rho =
 *     softmax(temp * score / max score) over rows with score_o = |mean(X) . W_o|
 *     (smoothing-invariant), k_o = floor(rho_o * k * rows) (total budget k per
 *     row on average instead of the paper's C_in in total).
 *   - The runtime "adaptive truncation module" is unspecified: not built.
 *   - Blocks are processed true-sequentially ({q,k,v}, {o}, {gate,up},
 *     {down}), activation/KV quantizers installed up front so later groups
 *     calibrate on quantized inputs. KV: per-head asymmetric, no rotation.
 *   - lm_head stays 16-bit. Calibration 128 windows by default (the paper
 *     uses 256 WikiText-2 samples; nsamples is an option). */
#include "specquant.h"

#include "matmul.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fakequant.h"
#include "kernels.h"
#include "lincapture.h"
#include "method_util.h"

static const ptq_opt_def sq_opts[] = {
    {.name = "k", .type = PTQ_OPT_INT, .def = "-1", .lo = -1, .hi = 1 << 20,
     .help = "low-frequency bins kept per row (fixed budget; average for softmax); "
             "-1: max(1, round(16 * C_in / 4096))"},
    {.name = "budget", .type = PTQ_OPT_STRING, .def = "fixed", .choices = "fixed|energy|softmax", .help = "fixed | energy | softmax"},
    {.name = "energy", .type = PTQ_OPT_FLOAT, .def = "0.5", .lo = 0.0, .hi = 1.0,
     .help = "energy fraction kept per row (budget=energy)"},
    {.name = "softmax_temp", .type = PTQ_OPT_FLOAT, .def = "1.0", .lo = 0.0, .hi = 1000.0,
     .help = "softmax temperature over row scores (budget=softmax)"},
    {.name = "alpha_search", .type = PTQ_OPT_BOOL, .def = "true",
     .help = "search alpha per smoothing group (else use alpha)"},
    {.name = "alpha", .type = PTQ_OPT_FLOAT, .def = "0.5", .lo = 0.0, .hi = 1.0,
     .help = "fixed smoothing strength when alpha_search is false"},
    {.name = "alpha_lo", .type = PTQ_OPT_FLOAT, .def = "0.05", .lo = 0.0, .hi = 1.0, .help = "alpha grid start"},
    {.name = "alpha_hi", .type = PTQ_OPT_FLOAT, .def = "0.95", .lo = 0.0, .hi = 1.0, .help = "alpha grid end"},
    {.name = "alpha_step", .type = PTQ_OPT_FLOAT, .def = "0.05", .lo = 0.001, .hi = 1.0, .help = "alpha grid step"},
    {.name = "search_tokens", .type = PTQ_OPT_INT, .def = "2048", .lo = 16, .hi = 1 << 24,
     .help = "calibration rows used by the alpha search"},
    {.name = "smooth_od", .type = PTQ_OPT_BOOL, .def = "true",
     .help = "also smooth o_proj (via v_proj rows) and down_proj (via up_proj rows)"},
    {.name = "branch_fp16", .type = PTQ_OPT_BOOL, .def = "true",
     .help = "store the low-frequency coefficients in fp16"},
    {.name = "percdamp", .type = PTQ_OPT_FLOAT, .def = "0.01", .lo = 0.0, .hi = 10.0,
     .help = "GPTQ Hessian damping"},
    {.name = "blocksize", .type = PTQ_OPT_INT, .def = "128", .lo = 1, .hi = 65536,
     .help = "GPTQ columns per lazy-update block"},
    {.name = "act_order", .type = PTQ_OPT_BOOL, .def = "false", .help = "GPTQ act-order"},
    PTQ_CALIB_OPTS("128", "2048"),
    {.name = "a_sym", .type = PTQ_OPT_BOOL, .def = "false",
     .help = "activations symmetric (SpecQuant: per-token asymmetric)"},
    {.name = "kv_group", .type = PTQ_OPT_INT, .def = "128", .lo = 0, .hi = 65536,
     .help = "KV cache: group size within a head (0 or >= head_dim: per head)"},
    {.name = "kv_sym", .type = PTQ_OPT_BOOL, .def = "false", .help = "KV cache: symmetric (default asymmetric)"},
    {.name = "kv_clip", .type = PTQ_OPT_FLOAT, .def = "1.0", .lo = 0.01, .hi = 1.0, .help = "KV cache: clip ratio"},
    {0}};

extern const ptq_method ptq_method_specquant;

/* ---- one matrix -------------------------------------------------------- */

/* k = -1 scales the paper's 16 bins at C_in = 4096 to this width. */
static int fixed_k(int k, int cols) {
    if (k >= 0) return k;
    return PTQ_MAX(1, (int)lround(16.0 * cols / 4096.0));
}

static void choose_k(const double *spec, const double *score, int rows, int cols, const ptq_specquant_opts *o,
                     int *k) {
    int nb = ptq_spectral_nbins(cols), kf = fixed_k(o->k, cols);
    if (o->budget == PTQ_SPEC_ENERGY) ptq_spectral_k_energy(spec, rows, cols, o->energy, k);
    else if (o->budget == PTQ_SPEC_SOFTMAX && score)
        ptq_spectral_k_softmax(score, rows, cols, o->softmax_temp, (long)kf * rows, k);
    else
        for (int r = 0; r < rows; r++) k[r] = PTQ_MIN(kf, nb);
}

/* W becomes W - W_low in place; br receives the stored branch and low
 * (rows x cols, the caller's) its dense rows; *any: some row keeps a bin.
 * spec (rows x nb x 2) and k (rows) are scratch. */
static int split_lowfreq(float *W, int rows, int cols, const double *score, const ptq_specquant_opts *o,
                         double *spec, int *k, float *low, ptq_spectral_branch *br, int *any, ptq_err *err) {
    size_t n = (size_t)rows * cols;
    memset(br, 0, sizeof *br);
    *any = 0;
    if (ptq_rfft_rows(W, rows, cols, spec, err)) return -1;
    choose_k(spec, score, rows, cols, o, k);
    for (int r = 0; r < rows; r++) *any |= k[r] > 0;
    if (ptq_spectral_branch_init(br, spec, rows, cols, k, o->fp16, err)) return -1;
    if (!*any) return 0;
    if (ptq_spectral_branch_dense(br, low, err)) return -1; /* W_low exactly as stored */
    for (size_t i = 0; i < n; i++) W[i] -= low[i];
    return 0;
}

int ptq_specquant_linear(float *W, int rows, int cols, const ptq_hessian *H, const double *score,
                         const ptq_specquant_opts *o, float **w_side, ptq_spectral_branch *br_out, ptq_qweight *qw,
                         ptq_err *err) {
    int nb = ptq_spectral_nbins(cols), any = 0, rc = -1;
    double *spec = malloc(sizeof(double) * 2 * nb * rows);
    int *k = malloc(sizeof(int) * rows);
    float *low = ptq_calloc((size_t)rows * cols, sizeof(float), err);
    ptq_spectral_branch br;
    memset(&br, 0, sizeof br);
    *w_side = NULL;
    if (!spec || !k || !low) {
        ptq_fail(err, "specquant: out of memory for a %dx%d layer", rows, cols);
        goto out;
    }
    if (split_lowfreq(W, rows, cols, score, o, spec, k, low, &br, &any, err)) goto out;
    if (o->g.wq.bits < 16) {
        if (H) {
            if (ptq_gptq_quantize(W, rows, cols, H, &o->g, NULL, qw, err)) goto out;
        } else
            ptq_wq_rtn(W, rows, cols, &o->g.wq, qw);
    }
    if (any) *w_side = low, low = NULL;
    if (br_out) {
        *br_out = br;
        memset(&br, 0, sizeof br);
    }
    rc = 0;
out:
    free(spec);
    free(k);
    free(low);
    ptq_spectral_branch_free(&br);
    return rc;
}

/* ---- smoothing groups -------------------------------------------------- */

typedef struct {
    int which[3], nlin;
    int kind; /* 0: fold into a norm, 1: fold into a partner's rows */
    int partner;
} group_def;

static const group_def groups[4] = {{{PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V}, 3, 0, -1},
                                    {{PTQ_LIN_O, -1, -1}, 1, 1, PTQ_LIN_V},
                                    {{PTQ_LIN_GATE, PTQ_LIN_UP, -1}, 2, 0, -1},
                                    {{PTQ_LIN_DOWN, -1, -1}, 1, 1, PTQ_LIN_UP}};

typedef struct {
    const ptq_method *me;
    const ptq_apply_ctx *ctx;
    ptq_specquant_opts o;
    int search, smooth_od, search_tokens;
    double alpha, alo, ahi, astep;
    long side_bytes, bins;
    cJSON *alphas;
    /* the branches of the current layer's linears without a qweight (W16),
     * for the partner rescaling */
    ptq_spectral_branch br[PTQ_LIN_COUNT];
} spec_run;

/* Input channel j of o_proj reads V channel chan(j) (GQA: heads share a KV head). */
static int tie_chan(const ptq_config *c, int which, int j) {
    if (which != PTQ_LIN_O) return j;
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    return (j / hd) / group * hd + j % hd;
}

/* The search's alpha-independent inputs: a_j and w_j, each max'd over the
 * channels tied through a partner (o_proj's heads sharing a KV head). */
typedef struct {
    float *ta, *tw;
} smooth_stats;

static int smooth_stats_init(smooth_stats *st, const ptq_model *m, int layer, const group_def *g,
                             const float *amax, int n, ptq_err *err) {
    const ptq_config *c = &m->cfg;
    int nt = g->kind == 1 && g->which[0] == PTQ_LIN_O ? c->n_kv_heads * c->head_dim : n;
    st->ta = ptq_calloc(nt, sizeof(float), err);
    st->tw = ptq_calloc(nt, sizeof(float), err);
    float *colmax = ptq_calloc(n, sizeof(float), err);
    if (!st->ta || !st->tw || !colmax) return free(colmax), -1;
    for (int i = 0; i < g->nlin; i++) { /* row-major pass: |W| column maxima */
        const ptq_linear *L = &m->layers[layer].lin[g->which[i]];
        for (int r = 0; r < L->out; r++)
            for (int j = 0; j < n; j++) colmax[j] = fmaxf(colmax[j], fabsf(L->w[(size_t)r * n + j]));
    }
    for (int j = 0; j < n; j++) {
        int t = tie_chan(c, g->which[0], j);
        st->ta[t] = fmaxf(st->ta[t], amax[j]);
        st->tw[t] = fmaxf(st->tw[t], colmax[j]);
    }
    free(colmax);
    return 0;
}

static void smooth_stats_free(smooth_stats *st) {
    free(st->ta);
    free(st->tw);
}

/* l (n) for alpha; channels tied through a partner share one factor. */
static void smooth_factors(const ptq_model *m, const group_def *g, const smooth_stats *st, double alpha, int n,
                           float *lam) {
    for (int j = 0; j < n; j++) {
        int t = tie_chan(&m->cfg, g->which[0], j);
        double s = pow(fmax(st->ta[t], 1e-5), alpha) / pow(fmax(st->tw[t], 1e-5), 1 - alpha);
        lam[j] = (float)fmax(s, 1e-5);
    }
}

/* One group's alpha search: each linear's unsmoothed output X W^T on the
 * sample rows (alpha does not change it: computed once) and scratch reused
 * across the grid, sized for the group's largest linear. */
typedef struct {
    int S, n;
    float *y0[3];       /* S x out_i */
    float *xs, *xq;     /* S x n: -X^ (negated: the branch adds), Q(X^) */
    float *w, *low, *y; /* mo x n, mo x n, S x mo (mo: the largest out) */
    double *spec;       /* mo x nb x 2 */
    int *k;
} search_ws;

static void search_ws_free(search_ws *ws) {
    for (int i = 0; i < 3; i++) free(ws->y0[i]);
    free(ws->xs), free(ws->xq), free(ws->w), free(ws->low), free(ws->y), free(ws->spec), free(ws->k);
    memset(ws, 0, sizeof *ws);
}

static int search_ws_init(search_ws *ws, const ptq_model *m, int layer, const group_def *g, const ptq_lincap *cap,
                          ptq_err *err) {
    memset(ws, 0, sizeof *ws);
    ws->S = cap->sample_rows, ws->n = cap->n;
    size_t S = ws->S, n = ws->n;
    size_t mo = 0;
    for (int i = 0; i < g->nlin; i++) mo = PTQ_MAX(mo, (size_t)m->layers[layer].lin[g->which[i]].out);
    ws->xs = malloc(sizeof(float) * S * n), ws->xq = malloc(sizeof(float) * S * n);
    ws->w = malloc(sizeof(float) * mo * n), ws->low = malloc(sizeof(float) * mo * n);
    ws->y = malloc(sizeof(float) * S * mo), ws->k = malloc(sizeof(int) * mo);
    ws->spec = malloc(sizeof(double) * 2 * ptq_spectral_nbins(ws->n) * mo);
    int bad = !ws->xs || !ws->xq || !ws->w || !ws->low || !ws->y || !ws->k || !ws->spec;
    for (int i = 0; i < g->nlin && !bad; i++) {
        const ptq_linear *L = &m->layers[layer].lin[g->which[i]];
        if (!(ws->y0[i] = malloc(sizeof(float) * S * L->out))) bad = 1;
        else
            ptq_sgemm(CblasNoTrans, CblasTrans, ws->S, L->out, ws->n, 1.f, cap->sample, ws->n, L->w, ws->n, 0.f,
                      ws->y0[i], L->out);
    }
    if (!bad) return 0;
    search_ws_free(ws);
    return ptq_fail(err, "specquant: out of memory in the alpha search (%d rows x %d)", ws->S, ws->n);
}

/* Output error of the group quantized with l (RTN residual) on the sample rows:
 * sum over its linears of ||X W^T - Q(X^) Q(R)^T - X^ W_low^T||^2, the branch
 * term evaluated from its coefficients as the packed forward does. */
static double group_mse(const ptq_model *m, int layer, const group_def *g, const ptq_lincap *cap, const float *lam,
                        const spec_run *r, search_ws *ws, ptq_err *err) {
    int n = ws->n, S = ws->S;
    double e = 0;
    for (int t = 0; t < S; t++)
        for (int j = 0; j < n; j++) ws->xq[(size_t)t * n + j] = cap->sample[(size_t)t * n + j] / lam[j];
    const ptq_linear *L0 = &m->layers[layer].lin[g->which[0]];
    for (size_t i = 0; i < (size_t)S * n; i++) ws->xs[i] = -ws->xq[i];
    ptq_fq_rows(ws->xq, S, n, &L0->aq);
    for (int i = 0; i < g->nlin; i++) {
        const ptq_linear *L = &m->layers[layer].lin[g->which[i]];
        ptq_spectral_branch br;
        int any;
        for (int o = 0; o < L->out; o++)
            for (int j = 0; j < n; j++) ws->w[(size_t)o * n + j] = L->w[(size_t)o * n + j] * lam[j];
        if (split_lowfreq(ws->w, L->out, n, NULL, &r->o, ws->spec, ws->k, ws->low, &br, &any, err)) return -1;
        if (r->o.g.wq.bits < 16) ptq_wq_rtn(ws->w, L->out, n, &r->o.g.wq, NULL);
        memcpy(ws->y, ws->y0[i], sizeof(float) * S * L->out);
        ptq_sgemm(CblasNoTrans, CblasTrans, S, L->out, n, -1.f, ws->xq, n, ws->w, n, 1.f, ws->y, L->out);
        int rc = 0;
        if (any) {
            ptq_klowfreq lf;
            rc = ptq_klowfreq_init_coef(&lf, br.coef, L->out, n, br.kmax, err) ||
                 ptq_klowfreq_apply(&lf, ws->xs, S, ws->y, err);
            ptq_klowfreq_free(&lf);
        }
        ptq_spectral_branch_free(&br);
        if (rc) return -1;
        for (size_t i2 = 0; i2 < (size_t)S * L->out; i2++) e += (double)ws->y[i2] * ws->y[i2];
    }
    return e;
}

/* Scale partner rows by 1/l (tied channels): its quantized weight's row
 * scales (w = dequant again) or its fp32 rows, and its branch's
 * coefficients (fp16 again when stored so; w_side = their dense form). */
static int scale_partner(spec_run *r, ptq_model *m, int layer, const group_def *g, const float *lam, ptq_err *err) {
    ptq_linear *P = &m->layers[layer].lin[g->partner];
    const ptq_config *c = &m->cfg;
    int n = m->layers[layer].lin[g->which[0]].in, rc = 0;
    float *inv = ptq_calloc(P->out, sizeof(float), err);
    if (!inv) return -1;
    for (int j = 0; j < n; j++) inv[tie_chan(c, g->which[0], j)] = 1.f / lam[j];
    ptq_spectral_branch *br = P->qw ? &P->qw->lowfreq : &r->br[g->partner];
    if (P->qw)
        ptq_qweight_scale_rows(P->qw, inv);
    else
        for (int rr = 0; rr < P->out; rr++)
            for (int j = 0; j < P->in; j++) {
                P->w[(size_t)rr * P->in + j] *= inv[rr];
                if (P->w_side) P->w_side[(size_t)rr * P->in + j] *= inv[rr];
            }
    for (int rr = 0; rr < P->out && br->kmax > 0; rr++)
        for (int j = 0; j < 2 * br->kmax; j++) {
            float *cf = &br->coef[(size_t)rr * 2 * br->kmax + j];
            if (!P->qw) *cf = (*cf * inv[rr]);
            if (r->o.fp16) *cf = ptq_round_fp16(*cf);
        }
    if (P->qw) rc = ptq_linear_refresh(P, err);
    else if (P->w_side && br->kmax > 0)
        rc = ptq_spectral_branch_dense(br, P->w_side, err);
    free(inv);
    return rc;
}

static int do_group(spec_run *r, ptq_model *m, int layer, const group_def *g, float *X, const ptq_calib *c,
                    ptq_err *err) {
    ptq_layer *Ly = &m->layers[layer];
    int n = Ly->lin[g->which[0]].in, smooth = g->kind == 0 || r->smooth_od, rc = -1;
    ptq_lincap cap;
    long total = (long)c->nsamples * c->seqlen;
    if (ptq_lincap_init(&cap, g->which[0], n, r->o.g.wq.bits < 16, smooth && r->search ? r->search_tokens : 0,
                        total, err))
        return -1;
    float *lam = malloc(sizeof(float) * n);
    double *score = NULL;
    smooth_stats st = {0};
    search_ws ws = {0};
    if (!lam || ptq_lincap_block(m, layer, X, c, &cap, 1, err)) goto out;
    double best = r->alpha;
    if (smooth && smooth_stats_init(&st, m, layer, g, cap.absmax, n, err)) goto out;
    if (smooth && r->search) {
        double beste = INFINITY;
        if (search_ws_init(&ws, m, layer, g, &cap, err)) goto out;
        for (double a = r->alo; a <= r->ahi + 1e-9; a += r->astep) {
            smooth_factors(m, g, &st, a, n, lam);
            double e = group_mse(m, layer, g, &cap, lam, r, &ws, err);
            if (e < 0) goto out;
            if (e < beste) beste = e, best = a;
        }
        search_ws_free(&ws);
    }
    if (smooth) smooth_factors(m, g, &st, best, n, lam);
    else
        for (int j = 0; j < n; j++) lam[j] = 1.f;
    if (r->alphas) cJSON_AddItemToArray(r->alphas, cJSON_CreateNumber(smooth ? best : -1));
    /* fold l: the norm (or the partner's rows) divides, the group's columns multiply */
    if (smooth && g->kind == 0) {
        float *gam = g->which[0] == PTQ_LIN_Q ? Ly->rms_att : Ly->rms_ffn;
        for (int j = 0; j < n; j++) gam[j] /= lam[j];
    } else if (smooth && scale_partner(r, m, layer, g, lam, err))
        goto out;
    if (cap.want_hessian) /* H of the smoothed input: diag(1/l) H diag(1/l) */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) cap.H.H[(size_t)i * n + j] /= (double)lam[i] * lam[j];
    for (int i = 0; i < g->nlin; i++) {
        ptq_linear *L = &Ly->lin[g->which[i]];
        for (int o = 0; o < L->out; o++)
            for (int j = 0; j < n; j++) L->w[(size_t)o * n + j] *= lam[j];
        if (r->o.budget == PTQ_SPEC_SOFTMAX) { /* |mean(X) . W_o| (smoothing-invariant) */
            free(score);
            if (!(score = ptq_calloc(L->out, sizeof(double), err))) goto out;
            for (int o = 0; o < L->out; o++) {
                double s = 0;
                for (int j = 0; j < n; j++) s += cap.mean[j] / lam[j] * L->w[(size_t)o * n + j];
                score[o] = fabs(s);
            }
        }
        ptq_spectral_branch br;
        float *side = NULL;
        ptq_qweight *qw = NULL;
        if (r->o.g.wq.bits < 16 && !(qw = ptq_wq_qweight(L->out, n, &r->o.g.wq, err)))
            goto out;
        if (ptq_specquant_linear(L->w, L->out, n, cap.want_hessian ? &cap.H : NULL, score, &r->o, &side, &br, qw,
                                 err)) {
            ptq_qweight_free(qw);
            ptq_wrap(err, "layer %d %s", layer, ptq_linear_names[g->which[i]]);
            goto out;
        }
        free(L->w_side);
        L->w_side = side;
        r->side_bytes += side ? ptq_spectral_branch_bytes(&br) : 0;
        for (int o = 0; o < L->out; o++) r->bins += br.k[o];
        if (qw) { /* the branch goes with the quantized weight (w_side = its dense form) */
            int bad = ptq_qweight_set_lowfreq(qw, &br, err);
            if (bad) ptq_qweight_free(qw), ptq_spectral_branch_free(&br);
            if (bad || ptq_linear_set_qweight(L, qw, err)) goto out;
        } else {
            ptq_spectral_branch_free(&r->br[g->which[i]]);
            r->br[g->which[i]] = br;
        }
    }
    rc = 0;
out:
    free(lam);
    free(score);
    smooth_stats_free(&st);
    search_ws_free(&ws);
    ptq_lincap_free(&cap);
    return rc;
}

/* Block-wise (streamable): the block's activation/KV quantizers go on first
 * (later groups calibrate on quantized activations), then its four groups. */
static int spec_block(void *vctx, ptq_model *m, int layer, float *X, const ptq_calib *c, ptq_err *err) {
    spec_run *r = vctx;
    ptq_install_act_kv_layer(m, r->me, r->ctx, layer);
    int rc = 0;
    for (int g = 0; g < 4 && !rc; g++) rc = do_group(vctx, m, layer, &groups[g], X, c, err);
    for (int j = 0; j < PTQ_LIN_COUNT; j++) ptq_spectral_branch_free(&r->br[j]);
    return rc;
}

static int spec_begin(ptq_model *m, const ptq_apply_ctx *ctx, void **state, ptq_err *err) {
    (void)m; /* lm_head stays 16-bit: nothing to install on it */
    const ptq_method *me = &ptq_method_specquant;
    spec_run *rp = ptq_calloc(1, sizeof *rp, err);
    if (!rp) return -1;
    spec_run r = *rp;
    r.me = me;
    r.ctx = ctx;
    r.o.g = ptq_gptq_default(ctx->q->w_bits);
    r.o.g.wq = ptq_method_wq(ctx, 0);
    r.o.g.percdamp = ptq_opt_num(me, ctx->opts, "percdamp");
    r.o.g.blocksize = (int)ptq_opt_num(me, ctx->opts, "blocksize");
    r.o.g.act_order = ptq_opt_bool(me, ctx->opts, "act_order");
    r.o.k = (int)ptq_opt_num(me, ctx->opts, "k");
    r.o.energy = ptq_opt_num(me, ctx->opts, "energy");
    r.o.softmax_temp = ptq_opt_num(me, ctx->opts, "softmax_temp");
    r.o.fp16 = ptq_opt_bool(me, ctx->opts, "branch_fp16");
    const char *b = ptq_opt_str(me, ctx->opts, "budget");
    if (!strcmp(b, "fixed")) r.o.budget = PTQ_SPEC_FIXED;
    else if (!strcmp(b, "energy")) r.o.budget = PTQ_SPEC_ENERGY;
    else if (!strcmp(b, "softmax")) r.o.budget = PTQ_SPEC_SOFTMAX;
    else return free(rp), ptq_fail(err, "option 'budget' must be fixed, energy or softmax, got \"%s\"", b);
    r.search = ptq_opt_bool(me, ctx->opts, "alpha_search");
    r.alpha = ptq_opt_num(me, ctx->opts, "alpha");
    r.alo = ptq_opt_num(me, ctx->opts, "alpha_lo");
    r.ahi = ptq_opt_num(me, ctx->opts, "alpha_hi");
    r.astep = ptq_opt_num(me, ctx->opts, "alpha_step");
    if (r.search && r.alo > r.ahi)
        return free(rp), ptq_fail(err, "alpha_lo (%g) must not exceed alpha_hi (%g)", r.alo, r.ahi);
    r.smooth_od = ptq_opt_bool(me, ctx->opts, "smooth_od");
    r.search_tokens = (int)ptq_opt_num(me, ctx->opts, "search_tokens");
    if (ctx->info) r.alphas = cJSON_AddArrayToObject(ctx->info, "specquant_alpha");
    *rp = r;
    *state = rp;
    return 0;
}

static int spec_end(void *state, ptq_model *m, int ok, ptq_err *err) {
    (void)m, (void)err;
    spec_run *r = state;
    if (ok && r->ctx->info) {
        cJSON_AddNumberToObject(r->ctx->info, "side_bytes", (double)r->side_bytes);
        cJSON_AddNumberToObject(r->ctx->info, "specquant_bins", (double)r->bins);
    }
    free(r);
    return 0;
}

/* Memory beyond the common estimate: each quantized linear keeps its branch
 * as a dense fp32 w_side (a block's worth, or the model's without --stream),
 * and the one being quantized holds its fp64 spectrum (rows x (cols/2+1)
 * complex) through GPTQ, or, in the alpha search, the group's outputs X W^T
 * on the sample rows with scratch for its largest linear (spectrum, W,
 * W_low, the rows smoothed and quantized, one output). */
static double spec_extra_rss(const ptq_config *c, const cJSON *opts, int stream) {
    const ptq_method *me = &ptq_method_specquant;
    double qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
    double block = 2 * c->dim * qd + 2 * c->dim * kvd + 3.0 * c->dim * c->hidden_dim;
    double shapes[4][2] = {{qd, c->dim}, {c->dim, qd}, {c->hidden_dim, c->dim}, {c->dim, c->hidden_dim}}, spec = 0;
    for (int i = 0; i < 4; i++) spec = fmax(spec, 16.0 * shapes[i][0] * (floor(shapes[i][1] / 2) + 1));
    double search = 0;
    if (ptq_opt_bool(me, opts, "alpha_search")) {
        double S = ptq_opt_num(me, opts, "search_tokens"); /* at most: fewer calibration rows cap it */
        double outs[4] = {qd + 2 * kvd, c->dim, 2.0 * c->hidden_dim, c->dim}; /* a group's outputs */
        for (int i = 0; i < 4; i++) {
            double out = shapes[i][0], in = shapes[i][1];
            search = fmax(search, 4 * S * outs[i] + 4 * S * out + 8 * S * in + 8 * out * in +
                                      16.0 * out * (floor(in / 2) + 1));
        }
    }
    return 4.0 * block * (stream ? 1 : c->n_layers) + fmax(spec, search);
}

static const ptq_block_method spec_blocks = {.begin = spec_begin, .block = spec_block, .end = spec_end};

const ptq_method ptq_method_specquant = {
    .name = "specquant",
    .summary = "smoothing (searched alpha) + per-row low-frequency FFT branch in 16 bits "
               "+ GPTQ on the residual; per-token asymmetric activations",
    .opts = sq_opts,
    .needs_calib = ptq_needs_calib_always,
    .blocks = &spec_blocks,
    .extra_rss = spec_extra_rss,
};
