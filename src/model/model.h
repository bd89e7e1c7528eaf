/* model.h — LLaMA-family model in fp32 with per-linear and per-layer hook
 * slots where quantization methods plug in.
 *
 * Weights are row-major `out x in` like Hugging Face. A method folds offline
 * transforms into the weights, quantizes them (ptq_linear.qw, integer codes
 * whose dequantized values replace w), and installs online ops and
 * activation/KV quantizers on the hooks below.
 * With every hook at its default (identity, 16 bits) the forward pass is the
 * plain full-precision model. */
#ifndef PTQ_MODEL_H
#define PTQ_MODEL_H

#include "common.h"
#include "fakequant.h"
#include "w16.h"
#include "online_ops.h"
#include "qweight.h"

enum { PTQ_ROPE_INTERLEAVED = 0, /* llama2.c / Meta: rotate pairs (2i, 2i+1) */
       PTQ_ROPE_HALF = 1 /* HF rotate_half: pairs (i, i + head_dim/2) */ };

typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq;
    int head_dim; /* dim / n_heads unless the checkpoint says otherwise */
    float rope_theta, norm_eps;
    int tied_embeddings;
    int rope_style;
    int attn_bias; /* q/k/v projections carry a bias (Qwen2) */
    int bos_id, eos_id;
    /* LLaMA-3.1 "llama3" rope scaling; factor 0 = none */
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_max_pos;
} ptq_config;


typedef struct {
    int out, in;
    float *w;      /* out x in, fp32: the weight; with qw, its dequantized values.
                      NULL in a compact model: the weight is w16, or qw alone
                      (the forward widens one panel at a time, matmul.h) */
    ptq_w16 w16;   /* w16.w: the weight in its checkpoint dtype (bf16/fp16), owned like w */
    float *bias;   /* NULL or [out] */
    float *w_side; /* NULL or out x in: full-precision branch applied to the
                      input *before* activation quantization; with a
                      low-frequency branch in qw, its dense form */
    ptq_online_op in_op; /* applied to the input rows before quantization */
    ptq_act_qspec aq;    /* input (activation) fake quantizer */
    int owns_w;          /* 0 when w aliases another buffer (tied lm_head) */
    ptq_qweight *qw;     /* the quantized weight (owned); NULL: w is full precision */
    /* Real low-bit kernels (kernels/kernels.h; attached by packed.c, not
     * owned, not cloned). NULL: the fp32 GEMM on w (the fake-quant path). */
    const struct ptq_lin_kernel *kern;
} ptq_linear;

enum { PTQ_LIN_Q, PTQ_LIN_K, PTQ_LIN_V, PTQ_LIN_O, PTQ_LIN_GATE, PTQ_LIN_UP, PTQ_LIN_DOWN, PTQ_LIN_COUNT };
extern const char *const ptq_linear_names[PTQ_LIN_COUNT]; /* "q_proj", ... HF names */

typedef struct {
    float *rms_att, *rms_ffn; /* [dim] */
    ptq_linear lin[PTQ_LIN_COUNT];
    ptq_act_qspec kq, vq; /* fake quantizers on cached K (post-RoPE) and V, per head */
    ptq_online_op qk_op;  /* on every Q and K head vector after RoPE (n = head_dim) */
    /* On the residual stream right before the block output is added:
     * [0] attention add, [1] FFN add (ReSpinQuant basis change). */
    ptq_online_op resid_op[2];
} ptq_layer;

typedef struct {
    ptq_config cfg;
    float *tok_emb;   /* vocab x dim; NULL when emb16 holds it */
    ptq_w16 emb16;    /* the embedding in its checkpoint dtype (compact models) */
    float *rms_final; /* [dim] */
    ptq_linear lm_head;
    ptq_layer *layers;
    char path[4096];  /* file or directory it was loaded from */
    char sha256[65];  /* of the weights file ("" if not computed) */
    char name[128];   /* short name, e.g. "stories260K" */
    /* An exported .ptq file: the FP model, method and bit-spec it was made
     * from (all "" for any other model). */
    struct {
        char model[4096], sha256[65], method[64], qspec[64];
    } source;
} ptq_model;

/* Allocate a model with the given config, all weights zero, hooks identity. */
int ptq_model_alloc(ptq_model *m, const ptq_config *cfg, ptq_err *err);
void ptq_model_free(ptq_model *m);
/* Deep copy (weights and hook specs; online ops are NOT copied: dst gets identity). */
int ptq_model_clone(ptq_model *dst, const ptq_model *src, ptq_err *err);
/* Give lm_head its own copy of the embedding matrix (before changing either). */
int ptq_model_untie(ptq_model *m, ptq_err *err);
/* Validate a config: positive dims, divisibility, sane limits. */
int ptq_config_check(const ptq_config *c, const char *where, ptq_err *err);
/* RoPE cos/sin of positions 0..n-1 (n x head_dim/2 each) for config c. */
void ptq_rope_tables(const ptq_config *c, int n, float *cos_t, float *sin_t);
long ptq_model_param_count(const ptq_model *m);
/* Linear by index: layer in [0, n_layers) with which in PTQ_LIN_*, or
 * layer == n_layers for lm_head (which ignored). */
ptq_linear *ptq_model_linear(ptq_model *m, int layer, int which);

/* Give l the quantized weight qw (ownership moves; a previous one is freed)
 * and derive w = dequant(qw) and, from qw's low-frequency branch, w_side.
 * l must own w (untie a tied lm_head first). qw is freed on failure. */
int ptq_linear_set_qweight(ptq_linear *l, ptq_qweight *qw, ptq_err *err);
/* Derive w (and w_side) again after l->qw changed. */
int ptq_linear_refresh(ptq_linear *l, ptq_err *err);
/* Side bytes of l's quantized weight (qweight.h; 0 without one). */
static inline long ptq_linear_side_bytes(const ptq_linear *l) { return l->qw ? l->qw->side_bytes : 0; }

/* The weight format a model carries: that of its decoder-layer linears. */
typedef struct {
    int bits;       /* of the quantized layer linears; 0: none is quantized */
    int group, sym; /* their group size (0 = per row) and symmetry */
    int act_order;  /* groups over permuted columns (qweight gidx) */
    int uniform;    /* 1: every layer linear is quantized with these bits/group/sym */
    int quantized, linears; /* layer linears with a qweight / all of them */
    int lm_head_bits;       /* 0: lm_head in full precision */
    long side_bytes;        /* over every linear */
    long bytes;             /* every qweight as stored (ptq_qweight_bytes) */
} ptq_weight_format;
void ptq_model_weight_format(const ptq_model *m, ptq_weight_format *f);
/* "W4-g128 asym", "W3 asym act-order", "W4 sym (mixed: 34 of 35 layer linears quantized)", "fp32" */
void ptq_weight_format_str(const ptq_weight_format *f, char *buf, size_t cap);

/* Compact models: the FP weights resident in their checkpoint dtype (w16,
 * emb16) and quantized linears as their qweight alone, no fp32 copy. */
/* Allocate like ptq_model_alloc but with every linear and the embedding as
 * zeroed 16-bit storage of dtype (PTQ_W16_BF16 / PTQ_W16_F16). */
int ptq_model_alloc_w16(ptq_model *m, const ptq_config *cfg, int dtype, ptq_err *err);
/* 1 when some weight is held as 16-bit storage or as a qweight alone. */
int ptq_model_is_compact(const ptq_model *m);
/* Give every weight its fp32 form (what quantization methods modify). */
int ptq_model_widen(ptq_model *m, ptq_err *err);
/* The same for one linear it owns (16-bit storage or qweight -> fp32 w). */
int ptq_linear_widen(ptq_linear *l, ptq_err *err);
/* Free the fp32 dequantized copy of every linear that has a qweight and
 * pack its codes of <= 4 bits two per byte (ptq_qweight_compact): the
 * fake-quant forward dequantizes one panel at a time (same values). Fails
 * only out of memory. */
int ptq_model_drop_shadow(ptq_model *m, ptq_err *err);

/* Back to 16-bit storage of dtype (PTQ_W16_*): the fp32 embedding
 * (PTQ_NARROW_EMB) and/or a full-precision lm_head (PTQ_NARROW_LM_HEAD; a
 * tied pair only with both bits), each only when every value is exactly a
 * dtype value (a method left it as loaded), so the forward is unchanged.
 * Otherwise it stays fp32. Fails only out of memory. */
enum { PTQ_NARROW_EMB = 1, PTQ_NARROW_LM_HEAD = 2 };
int ptq_model_narrow(ptq_model *m, int dtype, int which, ptq_err *err);
/* 1 when each of w[0..n) is exactly a value of dtype (PTQ_W16_*); out (may be NULL) receives them. */
int ptq_narrow_exact(int dtype, const float *w, size_t n, uint16_t *out);

/* In place: row[0..n) <- softmax, row[n..L) <- 0 (the attention's causal
 * softmax; the training forward calls the same function). */
void ptq_softmax_causal(float *row, int n, int L);
/* out[i] = silu(g[i]) * u[i] (SwiGLU), the same bits at any thread count (out may be g). */
void ptq_silu_mul(float *out, const float *g, const float *u, size_t n);
/* Bytes of the weights as resident (fp32, 16-bit or qweight codes+scales). */
size_t ptq_model_resident_bytes(const ptq_model *m);

/* Loaders. */
int ptq_load_llama2c(ptq_model *m, const char *path, ptq_err *err);

/* ---- Forward pass ------------------------------------------------------ */

/* Called with the input of every linear: x_pre after the online op and
 * before activation quantization, x_q exactly what multiplies W. */
typedef void (*ptq_capture_fn)(void *ctx, int layer, int which, const float *x_pre, const float *x_q, int T,
                               int n);

/* Every buffer is sized by the window asked for (max_T rows, ctx
 * positions), never by the model's max_seq: a model declaring 1M positions
 * evaluated at 256 needs the memory of 256. */
typedef struct {
    int max_T; /* rows the scratch buffers hold */
    int ctx;   /* positions the KV caches and RoPE tables hold: pos0 + T <= ctx */
    float *x, *xb, *xb2, *xq, *q, *k, *v, *att, *hb, *hb2;
    float *key_cache, *value_cache; /* n_layers x ctx x kv_dim */
    float *rope_cos, *rope_sin;     /* ctx x head_dim/2, of the model's config */
    float *logits;                  /* max_T x vocab */
    ptq_capture_fn capture;
    void *capture_ctx;
    int stop_after; /* with a capture: 1 + the PTQ_LIN_* linear after whose capture the block returns (0: none) */
    /* Real low-bit path. acts: activation codes of linears with kernels
     * attached (any state). kvq (ptq_state_init_packed only): per layer K
     * at [2l], V at [2l+1], int8/int4 when the layer's kq/vq ask for 8 or 4
     * bits, else f.bits 0 and key_cache/value_cache hold it in fp32. */
    struct ptq_kacts *acts;
    struct ptq_kvcache *kvq;
    float *kv_panel;   /* per thread 2 x ctx x head_dim: dequantized K/V of a head (prefill) */
    int n_layers;      /* of the model the state was made for */
    int slots;         /* threads att and kv_panel are sized for: regions indexing them run at most this many */
} ptq_state;

/* A state for windows of up to max_T tokens at positions 0..max_T-1. */
int ptq_state_init(ptq_state *s, const ptq_model *m, int max_T, ptq_err *err);
/* Forward calls of up to max_T tokens at positions up to ctx - 1
 * (max_T <= ctx <= max_seq), e.g. decoding one token at a time. */
int ptq_state_init_ctx(ptq_state *s, const ptq_model *m, int max_T, int ctx, ptq_err *err);
/* A state for the real low-bit path: as ptq_state_init_ctx, plus int8/int4 KV
 * caches (kernels.h ptq_kvfmt, same codes as the fake quantizer) for the
 * layers whose kq/vq have 8 or 4 bits; fp32 caches only where needed. */
int ptq_state_init_packed(ptq_state *s, const ptq_model *m, int max_T, int ctx, ptq_err *err);
void ptq_state_free(ptq_state *s);
/* KV cache bytes of ctx positions as this state stores them (codes +
 * scales/zeros for int layers, fp32 otherwise). */
size_t ptq_state_kv_bytes(const ptq_state *s, const ptq_model *m, int ctx);
/* 1 when every layer's K and V are stored as integers. */
int ptq_state_kv_packed(const ptq_state *s);

/* Causal forward of T tokens at positions pos0..pos0+T-1, attending to the
 * KV cache of positions < pos0 written by earlier calls. T above the
 * state's max_T or a position at or past its ctx is an error. Writes logits for
 * all T positions (T x vocab) into `logits` (or s->logits when NULL); when
 * last_only, only the last position's logits are computed (into row 0).
 * Fails (out of memory in an online op or a kernel) with a message naming
 * the op or linear and its site, e.g. "layers.3.down_proj.in". */
int ptq_forward(const ptq_model *m, ptq_state *s, const int *tokens, int T, int pos0, float *logits,
                int last_only, ptq_err *err);
/* The pieces, for calibration (block-by-block) and streaming. */
int ptq_forward_embed(const ptq_model *m, const int *tokens, int T, float *x, ptq_err *err);
int ptq_forward_block(const ptq_model *m, ptq_state *s, int layer, float *x, int T, int pos0, ptq_err *err);
int ptq_forward_head(const ptq_model *m, ptq_state *s, const float *x, int T, float *logits, ptq_err *err);
/* The block split at the inputs of o and down, for calibration walks that
 * keep those inputs: ATTN (norm, q/k/v, RoPE, KV store, attention: o's
 * input in s->xb2), O (o, resid0, x += ), FFN (norm, gate/up, SwiGLU: down's
 * input in s->hb), DOWN (down, resid1, x += ). ptq_forward_block runs the
 * four in order. Returns -1 on error, 1 when a capture stopped the block
 * (ptq_state.stop_after), else 0. */
enum { PTQ_PART_ATTN, PTQ_PART_O, PTQ_PART_FFN, PTQ_PART_DOWN, PTQ_PART_COUNT };
int ptq_forward_part(const ptq_model *m, ptq_state *s, int layer, int part, float *x, int T, int pos0, ptq_err *err);
/* One linear with its hooks: y (T x out) = hooks(x) W^T (+ side, + bias).
 * x (T x in) is not modified; scratch holds 2 x T x in floats. With kernels
 * attached (l->kern) it runs them instead of the fp32 GEMM. */
int ptq_linear_forward(const ptq_linear *l, const float *x, float *scratch, float *y, int T, ptq_capture_fn cap,
                       void *cap_ctx, int layer, int which, ptq_err *err);

/* k, v and up reuse the online-op rows and activation codes of the linear
 * before them when both read one input through one op (default on). Tests
 * switch it off to check the reuse changes no bit. Process-wide. */
void ptq_forward_share_inputs(int on);

#endif
