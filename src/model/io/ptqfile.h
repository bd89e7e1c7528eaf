/* ptqfile.h — the ptqbench quantized-model file (`ptqbench export`), loaded
 * back by every command that takes --model (eval/bench without
 * re-quantizing).
 *
 * Layout, little-endian:
 *   offset 0   8 bytes  magic "PTQBENCH"
 *          8   u32      format version (this build writes 4, and 1..3 when
 *                       asked; reads 1..4)
 *         12   u32      flags (0; readers refuse unknown bits)
 *         16   u64      J = length of the JSON header
 *         24   u64      P = length of the payload
 *         32   64 bytes sha256, lowercase hex. Version 4: of the payload +
 *                       the J JSON bytes + bytes 0..31 (magic, version,
 *                       flags, J, P). Versions 2, 3: of bytes 0..31 + JSON +
 *                       payload. Version 1: of the payload only.
 *   Version 4 (the index at the end, so tensors are written as they are made):
 *         96   32 zero bytes
 *        128   P bytes  payload: tensor data, every tensor 64-byte aligned
 *    128 + P   J bytes  JSON header (UTF-8); the file ends there
 *   The writer fills J, P and the sha256 last and renames FILE.tmp to FILE,
 *   so an export stopped midway leaves FILE.tmp with J = P = 0, which the
 *   loader refuses.
 *   Versions 1..3:
 *         96   J bytes  JSON header, then zero padding to a multiple of 64
 *   payload    P bytes  tensor data; every tensor starts 64-byte aligned
 *
 * JSON header:
 *   "version": the format version again (must equal the fixed field)
 *   "config":  the ptq_config fields by name (dim, hidden_dim, n_layers, ...)
 *   "meta":    free object from the exporter (source model, its sha256,
 *              method, qspec, resolved options, tokenizer {kind, path, add_bos})
 *   "tensors": [{"name", "kind", "dtype", "shape": [..], "offset", "bytes"}],
 *              offset relative to the payload, bytes exactly what dtype x
 *              shape needs. dtypes: f32, f16 (IEEE half), bf16 (version
 *              4), i32, u8, and q1..q8 (packed codes, below). Kinds:
 *     "embedding", "norm", "weight", "bias": f32 model tensors (tok_emb,
 *              rms_final, layers.<l>.{rms_att, rms_ffn},
 *              <lin>.{weight, bias} with <lin> = layers.<l>.<q_proj..down_proj>
 *              or lm_head; lm_head.weight only when untied). Version 4
 *              stores "embedding" and "weight" in bf16 or f16 when every
 *              value is exactly one (the model held them in that dtype, or
 *              a method left the checkpoint's values); they load resident
 *              in that dtype (model.h w16/emb16).
 *     "packed": <lin>.weight as integer codes (the linear's ptq_qweight,
 *              qweight.h), dtype q<b>, shape [out, in], extra fields "bits"
 *              (1..8, = b), "group" (columns per scale group; 0 = one group
 *              per row) and "sym" (0/1; optional, files without it get
 *              sym = 1 when every zero point is 2^(b-1)). Codes are plain b-bit fields,
 *              row-major, packed LSB-first into one bit stream (code i
 *              occupies bits i*b .. i*b+b-1), ceil(out*in*b/8) bytes. This is
 *              independent of the kernels' plane layout (kernels.h), which is
 *              rebuilt with ptq_kpack on load. Companions:
 *       "packed_scale" <lin>.scale f32 [out, ngroups] and
 *       "packed_zero"  <lin>.zero u8 [out, ngroups] (0..2^b-1):
 *              w = scale * (code - zero), and
 *       "packed_gidx" (optional) <lin>.gidx i32 [in]: the group of each
 *              column (GPTQ act-order groups over permuted columns); without
 *              it column j is in group j / group.
 *       "sparse" (optional, off-grid entries such as SEPTQ's full-precision
 *              1%): <lin>.sparse_rowptr i32 [out+1], .sparse_col i32 [nnz]
 *              (ascending within a row), .sparse_val f32 [nnz], CSR. The
 *              code at a sparse position must be the zero point; w there is
 *              the stored value (kept in f32 for exactness; the memory
 *              metric counts them as fp16 like the method does).
 *     "side":  <lin>.side f32 [out, in], a full-precision branch applied
 *              before activation quantization (lin->w_side).
 *     "side_spectral": SpecQuant's low-frequency branch as coefficients:
 *              <lin>.side_k i32 [out] (bins kept per row) and <lin>.side_coef
 *              f16 (f32 when not fp16-exact) [out, kmax, 2] (re, im of bins
 *              0..kmax-1, zero past k) with field "n" = in; loaded into the
 *              qweight's branch (w_side is its dense form,
 *              ptq_spectral_branch_dense), or into w_side for an f32 weight.
 *     "method": data of an online op, named "<data>.<blob>" (see "ops").
 *   "ops":     [{"site", "kind", "n", "p": [p0, p1], "flops_per_row",
 *              "data"?, "seed"?, "sha256"?}] one per installed online op
 *              (online_ops.h); site is layers.<l>.<linear>.in, lm_head.in,
 *              layers.<l>.qk or layers.<l>.resid0/resid1, n the row length.
 *              The loader builds each op from its kind through the
 *              constructors of online_ops.h. Kinds, parameters and data
 *              (tensors "<data>.<name>" of kind "method"; entries with the
 *              same "data" share one op):
 *                hadamard           (version 2) no data
 *                hadamard_heads     (2) p = [heads, head_dim]
 *                dense              (2) data A f32 [n, n]: x <- x A
 *                ruquant_rotation   (2) p = [block]; data R1t, R2t f32
 *                                   [block, block], perm i32 [n], optional
 *                                   s_inv, omega f32 [n]
 *                random_orthogonal  (3) "seed": decimal string, "sha256" of
 *                                   the matrix's f32 bytes; rebuilt with
 *                                   ptq_random_orthogonal(n, seed) and
 *                                   refused when the rebuild's sha256
 *                                   differs (another LAPACK/BLAS build)
 *                lowrank            (3) p = [rank]; data Q f32 [n, rank],
 *                                   M f32 [rank, rank]: x <- x + Q M Q^T x
 *              "flops_per_row" is informational (the loader derives it);
 *              version-2 files may carry an informational "name".
 *   "hooks":   [{"layer", "linear", "aq": [bits, sym, clip, group]}] for
 *              every linear whose activation quantizer is set ("linear" is
 *              the HF name; layer == n_layers means lm_head), and
 *              [{"layer", "kq": [...], "vq": [...]}] under "kv".
 * Every tensor in the file must be consumed by the config: unknown kinds,
 * dtypes, op kinds, shapes or stray tensors are errors naming the tensor.
 *
 * Weights: a linear with a quantized weight (ptq_linear.qw) is stored as
 * its codes, scales, zeros and side data exactly, so a loaded model has the
 * same qweights and, dequantized, bit-identical weights; a linear without
 * one is stored f32. Version 1 stores every weight f32. */
#ifndef PTQ_PTQFILE_H
#define PTQ_PTQFILE_H

#include <cjson/cJSON.h>

#include "model.h"

#define PTQ_FILE_MAGIC   "PTQBENCH"
/* Versions: 1 f32 tensors only, no online ops; 2 packed weights and online
 * ops; 3 adds the op kinds random_orthogonal and lowrank; 4 puts the JSON
 * header after the payload and adds 16-bit embedding and weights. */
#define PTQ_FILE_VERSION 4

typedef struct {
    int version; /* version to write (default PTQ_FILE_VERSION); asked for 3,
                    the file gets the oldest of 2, 3 that stores the model's
                    ops (2 stores random_orthogonal as dense; 1 = f32 only, no
                    online ops, no quantized weights) */
} ptq_file_opts;

typedef struct {
    size_t file_bytes;
    int linears, packed_linears, online_ops;
    long sparse_entries;
} ptq_file_stats;

/* o NULL: version PTQ_FILE_VERSION; st (may be NULL) receives what was written. */
int ptq_file_save_ex(const char *path, const ptq_model *m, const cJSON *meta, const ptq_file_opts *o,
                     ptq_file_stats *st, ptq_err *err);
/* Writing block by block (version 4): begin creates PATH.tmp; put_block
 * writes layer l's tensors (norms, linears, ops) at once, so the caller may
 * free the block; finish writes the embedding, final norm, lm_head and the
 * header, then renames PATH.tmp to PATH (and frees w, also on failure);
 * abort removes PATH.tmp. ptq_file_save_ex is begin, every block, finish. */
typedef struct ptq_file_writer ptq_file_writer;
ptq_file_writer *ptq_file_begin(const char *path, ptq_err *err); /* err is kept for the writer's calls */
int ptq_file_put_block(ptq_file_writer *w, const ptq_model *m, int l);
int ptq_file_finish(ptq_file_writer *w, const ptq_model *m, const cJSON *meta, ptq_file_stats *st);
void ptq_file_abort(ptq_file_writer *w);

/* Load a file written by ptq_file_save; meta (may be NULL) receives a copy
 * of the header's "meta" object (caller frees). Verifies magic, version,
 * lengths, sha256, every tensor's name/kind/dtype/shape/range. Packed
 * weights come back as the linears' qweights (packed.h builds the kernels
 * from them), with w their dequantized fp32 copy. */
int ptq_file_load(const char *path, ptq_model *m, cJSON **meta, ptq_err *err);
/* compact 1: as ptq_model_drop_shadow after the load, linear by linear (no
 * fp32 copy of the quantized weights; the peak is one linear's). */
int ptq_file_load_ex(const char *path, ptq_model *m, cJSON **meta, int compact, ptq_err *err);
/* 1 if the file starts with the magic. */
int ptq_file_detect(const char *path);

#endif
