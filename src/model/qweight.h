/* qweight.h — a quantized linear weight as data.
 *
 * W (out x in, row-major like the model's weights) is stored as integer
 * codes c in 0..2^bits-1 with, per (row, group) of `group` consecutive
 * columns, a float scale and an integer zero point: w = scale * (c - zero)
 * (uniform.h's dequantization, so it is the same float the quantizer
 * computed). A symmetric grid has zero = 2^(bits-1) everywhere. GPTQ with
 * act-order groups columns in its permuted order: gidx[j] then names the
 * group of column j (GPTQ's g_idx; NULL: j / group).
 *
 * Optional side data:
 *  - off-grid entries (SEPTQ's full-precision weights), CSR with ascending
 *    columns per row: w there is the stored full-precision value and the
 *    code there is the zero point (so the grid part contributes exactly 0);
 *  - a low-frequency branch (SpecQuant): k[o] rfft coefficients per row
 *    (spectral.h's ptq_spectral_branch), applied in full precision to the
 *    linear's input before activation quantization (model.h ptq_linear
 *    w_side is its dense form).
 * side_bytes counts the side data as the method stores it (sparse entries
 * as fp16 values in CSR or bitmap form, whichever is smaller; coefficients
 * as fp16 with an int16 k per row).
 *
 * The model's fake-quant matrix (ptq_linear.w) is ptq_qweight_dequant of it;
 * the packed kernels (packed.c) and the export file (io/ptqfile.c) are built
 * from it. */
#ifndef PTQ_QWEIGHT_H
#define PTQ_QWEIGHT_H

#include <stdint.h>

#include "common.h"
#include "spectral.h"

typedef struct ptq_qweight {
    int out, in;
    int bits;    /* 1..8 */
    int group;   /* columns per scale group; 0 = one group per row */
    int ngroups; /* groups per row: ceil(in / group), 1 when group == 0 */
    int sym;     /* symmetric grid (zero = 2^(bits-1)) */
    uint8_t *codes; /* out x in, a byte each; with nibbles, ceil(in/2) bytes per row */
    int nibbles;    /* codes two per byte, low nibble first (ptq_qweight_compact; bits <= 4) */
    float *scale;   /* out x ngroups */
    int *zero;      /* out x ngroups, 0..2^bits-1 */
    int *gidx;      /* NULL, or [in]: the group of each column (0..ngroups-1) */
    long nnz;       /* off-grid entries; 0: none (the arrays below are NULL) */
    long *sp_rowptr; /* out + 1 */
    int *sp_col;     /* nnz, ascending within a row */
    float *sp_val;   /* nnz, the full-precision weights */
    ptq_spectral_branch lowfreq; /* lowfreq.kmax == 0: no branch */
    long side_bytes;
} ptq_qweight;

/* A qweight of out x in with codes/scales/zeros zeroed (group <= 0 or
 * >= in: one group per row). */
ptq_qweight *ptq_qweight_new(int out, int in, int bits, int group, int sym, ptq_err *err);
void ptq_qweight_free(ptq_qweight *qw);
ptq_qweight *ptq_qweight_clone(const ptq_qweight *qw, ptq_err *err);
/* Resident form: codes of bits <= 4 packed two per byte, each row starting
 * on a byte (halves the codes of a model kept in RAM for evaluation). Only
 * readers use a compacted qweight: ptq_qweight_row_codes, dequant, clone. */
int ptq_qweight_compact(ptq_qweight *qw, ptq_err *err);
/* Bytes the codes array holds as resident (a byte per code, or nibbles). */
size_t ptq_qweight_code_bytes(const ptq_qweight *qw);
/* Row r's codes, a byte each: the row itself, or unpacked into buf[in]. */
const uint8_t *ptq_qweight_row_codes(const ptq_qweight *qw, int r, uint8_t *buf);
/* Every code a byte: qw->codes itself, or a copy unpacked into *tmp (the
 * caller frees *tmp; NULL when none was needed). NULL on failure. */
const uint8_t *ptq_qweight_byte_codes(const ptq_qweight *qw, uint8_t **tmp, ptq_err *err);
/* w (out x in) = scale * (code - zero); off-grid entries = their value. */
void ptq_qweight_dequant(const ptq_qweight *qw, float *w);
/* Rows [r0, r0 + n) of it into w (n x in): a matmul.h ptq_widen_fn. */
void ptq_qweight_dequant_rows(const void *qw, int r0, int n, float *w);
/* The group of column j. */
static inline int ptq_qweight_group_of(const ptq_qweight *qw, int j) {
    return qw->gidx ? qw->gidx[j] : qw->group ? j / qw->group : 0;
}
/* Off-grid entries: the positions where mask is set (out x in), values
 * from W; codes there become the zero point. Replaces earlier entries. */
int ptq_qweight_set_sparse(ptq_qweight *qw, const unsigned char *mask, const float *W, ptq_err *err);
/* Attach a low-frequency branch (ownership moves to qw; *br is zeroed). */
int ptq_qweight_set_lowfreq(ptq_qweight *qw, ptq_spectral_branch *br, ptq_err *err);
/* Multiply row r by f[r]: its scales, off-grid values and branch
 * coefficients (the codes are unchanged). */
void ptq_qweight_scale_rows(ptq_qweight *qw, const float *f);
/* Recompute side_bytes from the side data. */
void ptq_qweight_count_side(ptq_qweight *qw);
/* Bytes as stored: bits/8 per code, an fp32 scale and an 8-bit zero per
 * (row, group), plus side_bytes. */
long ptq_qweight_bytes(const ptq_qweight *qw);
/* Storage of nnz sparse entries of a rows x cols matrix with value_bytes per
 * value: CSR ((rows+1) int32 row pointers + per entry a column index of 2
 * bytes, 4 when cols > 65536, and its value) or a bitmap (one bit per
 * entry) + values, whichever is smaller. */
typedef struct {
    long nnz;
    long csr_bytes, bitmap_bytes;
    long bytes;         /* the smaller */
    const char *format; /* "csr" or "bitmap" */
} ptq_sparse_storage;
ptq_sparse_storage ptq_sparse_storage_of(int rows, int cols, long nnz, int value_bytes);

#endif
