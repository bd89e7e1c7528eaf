/* ptqfile.h — the ptqbench quantized-model file (`ptqbench export`), loaded
 * back by every command that takes --model (eval/bench without
 * re-quantizing).
 *
 * Layout, little-endian:
 *   offset 0   8 bytes  magic "PTQBENCH"
 *          8   u32      format version (this build writes and reads 1)
 *         12   u32      flags (0; readers refuse unknown bits)
 *         16   u64      J = length of the JSON header
 *         24   u64      P = length of the payload
 *         32   64 bytes sha256 of the payload, lowercase hex
 *         96   J bytes  JSON header (UTF-8), then zero padding to a multiple of 64
 *   payload    P bytes  tensor data; every tensor starts 64-byte aligned
 *
 * JSON header:
 *   "config":  the ptq_config fields by name (dim, hidden_dim, n_layers, ...)
 *   "meta":    free object from the exporter (source model, its sha256,
 *              method, qspec, resolved options, tokenizer {kind, path, add_bos})
 *   "tensors": [{"name", "kind", "dtype", "shape": [..], "offset", "bytes"}]
 *              offset is relative to the payload. Typed entries keep the
 *              format extensible: kind is "embedding", "norm", "weight",
 *              "bias", "side" (an fp branch such as SpecQuant's w_side) or
 *              "method" (method side data: rotations, masks, coefficients);
 *              dtype is "f32" in version 1; packed integer kinds/dtypes
 *              (e.g. "packed"/"q4g128") are added by the kernel engine and
 *              refused with a clear error by readers that do not know them.
 *              Names: tok_emb, rms_final, lm_head.weight,
 *              layers.<l>.{rms_att, rms_ffn}, layers.<l>.<q_proj..down_proj>.{weight, bias, side}.
 *   "hooks":   [{"layer", "linear", "aq": [bits, sym, clip, group]}] for
 *              every linear whose activation quantizer is set ("linear" is
 *              the HF name; layer == n_layers means lm_head), and
 *              [{"layer", "kq": [...], "vq": [...]}] under "kv".
 * Weights are the fake-quantized fp32 values the method produced, so a
 * loaded file evaluates exactly like the model right after apply().
 * Online transforms (rotations applied at run time) are function hooks that
 * version 1 cannot store: saving a model that has one fails with an error
 * naming it rather than writing a file that would evaluate differently. */
#ifndef PTQ_PTQFILE_H
#define PTQ_PTQFILE_H

#include <cjson/cJSON.h>

#include "model.h"

#define PTQ_FILE_MAGIC   "PTQBENCH"
#define PTQ_FILE_VERSION 1

/* meta: NULL or an object copied into the header. */
int ptq_file_save(const char *path, const ptq_model *m, const cJSON *meta, ptq_err *err);
/* Load a file written by ptq_file_save; meta (may be NULL) receives a copy
 * of the header's "meta" object (caller frees). Verifies magic, version,
 * lengths, sha256, every tensor's name/kind/dtype/shape/range. */
int ptq_file_load(const char *path, ptq_model *m, cJSON **meta, ptq_err *err);
/* 1 if the file starts with the magic. */
int ptq_file_detect(const char *path);

#endif
