/* gguf.h — GGUF v2/v3 files (llama.cpp's model format; ggml docs/gguf.md).
 *
 * Layout, little-endian: "GGUF", u32 version, u64 n_tensors, u64 n_kv; the
 * key/value pairs (string key, u32 value type, value; strings are u64 length
 * + bytes, arrays u32 element type + u64 count + elements); the tensor infos
 * (name, u32 n_dims, u64 ne[n_dims] with ne[0] the row length, u32 ggml type,
 * u64 offset); padding to general.alignment (default 32); the data block,
 * every tensor at an aligned offset within it.
 *
 * Opening validates everything before anything is used: each read within the
 * file, string and array lengths against the bytes left, value and tensor
 * types, no duplicate key or tensor, dimensions and byte sizes without
 * overflow, the row length a multiple of the type's block, offsets aligned,
 * inside the data block and not overlapping. An error names the key or
 * tensor. Tensors are then converted to fp32 on demand (F32, F16, BF16 and
 * the block types whose dequantizer this build has). */
#ifndef PTQ_GGUF_H
#define PTQ_GGUF_H

#include "common.h"
#include "ggml_types.h"
#include "model.h"
#include "tokenizer.h"

enum { /* value types */
       PTQ_GGUF_U8, PTQ_GGUF_I8, PTQ_GGUF_U16, PTQ_GGUF_I16, PTQ_GGUF_U32, PTQ_GGUF_I32, PTQ_GGUF_F32,
       PTQ_GGUF_BOOL, PTQ_GGUF_STRING, PTQ_GGUF_ARRAY, PTQ_GGUF_U64, PTQ_GGUF_I64, PTQ_GGUF_F64,
       PTQ_GGUF_NVTYPES };

enum { PTQ_GGUF_NGTYPES = 40 }; /* ggml type ids below this are known by name and block size */

typedef struct {
    char *key;
    int type;                  /* PTQ_GGUF_* */
    int arr_type;              /* element type of an array */
    uint64_t n;                /* array length; string length */
    const unsigned char *data; /* the value's bytes in the file (after the type/length fields) */
    const unsigned char *raw;  /* the value as serialized (after the type field), raw_len bytes */
    size_t raw_len;
} ptq_gguf_kv;

typedef struct {
    char *name;
    int n_dims, type;
    int64_t ne[4];   /* ne[0] = row length */
    uint64_t offset; /* within the data block */
    size_t nbytes;
} ptq_gguf_tensor;

typedef struct {
    char path[4096];
    const unsigned char *map; /* whole file */
    size_t size, data_off;
    int fd, owns_map;
    uint32_t version, alignment;
    ptq_gguf_kv *kv;
    int n_kv;
    ptq_gguf_tensor *tensors;
    int n_tensors;
} ptq_gguf;

/* Memory-map and validate a file. */
int ptq_gguf_open(ptq_gguf *g, const char *path, ptq_err *err);
/* The same on bytes held by the caller (kept, not copied; fuzzing). */
int ptq_gguf_open_mem(ptq_gguf *g, const void *data, size_t size, const char *name, ptq_err *err);
void ptq_gguf_close(ptq_gguf *g);

const ptq_gguf_kv *ptq_gguf_kv_find(const ptq_gguf *g, const char *key);
const ptq_gguf_tensor *ptq_gguf_find(const ptq_gguf *g, const char *name);
/* Typed metadata: integer of any integer type, in lo..hi; number (F32/F64 or
 * integer); string (pointer into the file, not NUL-terminated); bool.
 * A missing key gives def (int/num) or an error (required). */
int ptq_gguf_get_int(const ptq_gguf *g, const char *key, int required, long long def, long long lo, long long hi,
                     long long *out, ptq_err *err);
int ptq_gguf_get_num(const ptq_gguf *g, const char *key, int required, double def, double *out, ptq_err *err);
int ptq_gguf_get_str(const ptq_gguf *g, const char *key, const char **s, size_t *len, ptq_err *err);
/* Element i of a validated array of strings. */
void ptq_gguf_arr_str(const ptq_gguf_kv *kv, uint64_t i, const char **s, size_t *len);

const char *ptq_ggml_type_name(int type);
/* Block of a type (elements, bytes); 0 for a type this build does not know. */
int ptq_ggml_type_block(int type, int *blck, int *bytes);
/* 1 when this build can convert the type to fp32. */
int ptq_ggml_type_readable(int type);
long long ptq_gguf_numel(const ptq_gguf_tensor *t);
/* Convert a tensor to fp32 (numel floats); fails on an unreadable type
 * (naming it) and on non-finite values. */
int ptq_gguf_read_f32(const ptq_gguf *g, const ptq_gguf_tensor *t, float *out, ptq_err *err);

/* The LLaMA-family model in a GGUF file (architectures llama, mistral,
 * qwen2) with its embedded tokenizer (tok may be NULL: weights only). */
int ptq_load_gguf(ptq_model *m, const char *path, ptq_tokenizer **tok, ptq_err *err);
/* Hyper-parameters only (no tensor data read). */
int ptq_gguf_read_config(const ptq_gguf *g, ptq_config *c, ptq_err *err);
/* The tokenizer of tokenizer.ggml.* ("llama" or "gpt2"). */
int ptq_gguf_tokenizer(const ptq_gguf *g, ptq_tokenizer **tok, ptq_err *err);
int ptq_gguf_detect(const char *path);

#endif
