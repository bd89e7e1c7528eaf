/* safetensors.h — memory-mapped reader (and a small writer) for Hugging Face
 * safetensors files, single or sharded through model.safetensors.index.json.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the data block; offsets are relative to the data block.
 * Opening validates the whole header strictly (length within the file, JSON
 * object, known dtype, shape product * element size == end - begin, offsets
 * within the data block, no two tensors overlapping) so a loader can trust
 * every entry. Tensors are read on demand and converted to fp32 (F32, F16,
 * BF16); the pages of a tensor can be released after use, which is what keeps
 * the streamed 7B evaluation's resident set small. */
#ifndef PTQ_SAFETENSORS_H
#define PTQ_SAFETENSORS_H

#include "common.h"

enum {
    PTQ_ST_F32,
    PTQ_ST_F16,
    PTQ_ST_BF16,
    PTQ_ST_F64,
    PTQ_ST_I64,
    PTQ_ST_I32,
    PTQ_ST_I16,
    PTQ_ST_I8,
    PTQ_ST_U8,
    PTQ_ST_BOOL,
    PTQ_ST_F8_E4M3,
    PTQ_ST_F8_E5M2,
    PTQ_ST_NDTYPES
};

typedef struct {
    char name[256];
    int dtype; /* PTQ_ST_* */
    int ndim;
    long long shape[8];
    size_t begin, end; /* byte offsets within the file's data block */
    int file;          /* index into ptq_st.files */
} ptq_st_tensor;

typedef struct {
    char path[4096];
    int fd;
    unsigned char *map; /* whole file, read-only */
    size_t size, data_off;
} ptq_st_file;

typedef struct {
    ptq_st_file *files;
    int n_files;
    ptq_st_tensor *tensors;
    int n_tensors;
    /* "__metadata__" aliases of the first file (name -> name), e.g.
     * model.embed_tokens.weight -> lm_head.weight for tied embeddings */
    char (*alias)[2][256];
    int n_alias;
} ptq_st;

/* path: a .safetensors file or a .safetensors.index.json (shards are opened
 * relative to its directory). */
int ptq_st_open(ptq_st *st, const char *path, ptq_err *err);
void ptq_st_close(ptq_st *st);
/* Lookup by name, following one __metadata__ alias; NULL if absent. */
const ptq_st_tensor *ptq_st_find(const ptq_st *st, const char *name);
long long ptq_st_numel(const ptq_st_tensor *t);
const char *ptq_st_dtype_name(int dtype);
/* Convert a tensor to fp32 into out (numel floats). Unsupported dtypes fail. */
int ptq_st_read_f32(const ptq_st *st, const ptq_st_tensor *t, float *out, ptq_err *err);
/* Copy an F16/BF16 tensor as stored (numel 16-bit values; non-finite fails). */
int ptq_st_read_u16(const ptq_st *st, const ptq_st_tensor *t, uint16_t *out, ptq_err *err);
/* Both readers first check that the shard still holds the tensor's bytes:
 * a shard truncated after opening fails naming the shard and the tensor. */
/* Drop the tensor's pages from this process (MADV_DONTNEED) after reading. */
void ptq_st_release(const ptq_st *st, const ptq_st_tensor *t);

/* ---- writer (tests, make-random-checkpoint) ---- */
typedef struct {
    const char *name;
    int dtype; /* F32, F16 or BF16 */
    int ndim;
    long long shape[4];
    const float *data; /* numel fp32 values, converted on write; NULL = use gen */
    /* generator used when data is NULL: fills n values starting at element i0 */
    void (*gen)(void *ctx, float *buf, long long i0, long long n);
    void *gen_ctx;
} ptq_st_wtensor;
/* metadata: NULL or a JSON object text merged into "__metadata__". */
int ptq_st_write(const char *path, const ptq_st_wtensor *t, int n, const char *metadata, ptq_err *err);

/* fp16 / bf16 <-> fp32 */
float ptq_f16_to_f32(uint16_t h);
float ptq_bf16_to_f32(uint16_t h);
uint16_t ptq_f32_to_bf16(float f); /* round to nearest even */
uint16_t ptq_f32_to_f16(float f);  /* round to nearest even */

#endif
