/* test_kernels.c — every kernel against its naive twin (reference.h), as
 * one table; and a perf mode.
 *
 * TEST MODE (no arguments; ctest label "fast", also under ASan/UBSan).
 * `table[]` lists families; each family is the product of its lists: shapes
 * (T tokens, out x in) x weight bits x activation bits x groups (0 = per
 * channel) x symmetry x variant x input data, and for the kernels with ISA
 * code (GEMM, integer GEMM, weight-only GEMM/GEMV, one linear) x every ISA
 * the CPU runs (scalar, AVX-VNNI, AVX-512 VNNI, forced with
 * ptq_kern_force_isa; the AVX-512 int4 GEMV also x 1..4 row blocks per
 * pass). The other kernels have one code path ("-"). One line per row:
 * the row, its exact checks, its worst float error against the bound.
 * `--only NAME` runs the rows of one kernel.
 *
 * What is compared.
 *   Exact, bit for bit: the packed weight (header, bit planes, group-major
 *   scales / zeros / code sums: ptq_kpack against the twin that writes the
 *   documented layout bit by bit), codes and int8 blocks unpacked from it,
 *   dequantized weights; activation codes, scales, zeros, group sums and
 *   padding; the integer GEMM part I = sum (c - zc)(a - za); KV codes,
 *   scales, zeros and dequantized rows; the CSR structure; byte counts;
 *   return codes; and the packed path's contract with the fake-quant path:
 *   activation and KV values dequantized from the codes equal ptq_fq_rows's
 *   output exactly.
 *   Float, |y - y_ref| <= TOL * mag per element: y_ref and mag come from the
 *   twin in double; mag = the sum of |terms| (|W| |x|, propagated through
 *   composed maps), the scale of the rounding error of any float evaluation.
 *   The weight-only GEMV forms c - z exactly before multiplying x, so it
 *   meets the same bound (a zero-point fold, s (sum c x - z sum x), would
 *   cancel when codes sit near z and fail it). The low-frequency branch goes
 *   through an FFT, accurate in norms; its rows add that scale
 *   (+ ||x|| ||w_low||).
 * The bound. TOL = 1e-5 = 168 u (u = 2^-24). For the integer GEMM it is a
 *   proof (to first order): I is exact and the epilogue rounds at most
 *   ngroups + 4 times, each by u relative to a term of mag (ngroups <= 44
 *   here). For float sums of n terms the worst case is n u, but rounding
 *   errors are relative to partial sums, which for signed data are far below
 *   mag, and do not all align: the observed worst is printed in every row
 *   (below 2e-6 here; same-sign sums over K = 4100 come closest).
 *   An indexing, padding, offset, scale or zero-point bug gives errors of
 *   order 1, five decades above the bound.
 * Inputs: random, and adversarial: all-zero rows, constant rows, every code
 *   at its maximum (int32 accumulation headroom at K = 4100), outliers,
 *   values of 1e30 and 1e-20, single spikes (X_MIXED cycles them per row);
 *   weights at max / min codes, rows equal to their zero point, zero scales.
 *   Shapes with out not a multiple of 16, in not a multiple of 32 or of the
 *   group, single tokens (GEMV paths), T around the micro tiles (6, 12).
 * Bad inputs are rejected (the "reject" rows).
 * The rows of the online ops owned by model/online_ops (low-rank,
 * block rotation, RUQuant's transform) are in one block at the end.
 *
 * PERF MODE (`--perf`, not run by ctest): GOP/s of each GEMM kernel next to
 * its baseline, OpenBLAS cblas_sgemm (T > 1) or cblas_sgemv (T = 1) on the
 * dequantized weight, measured in the same run and interleaved (kernel,
 * baseline, kernel, ...), median [min..max] of --reps >= 5 runs after one
 * warm-up, and the ratio. Every timed call starts with cold caches (256 MiB
 * streamed before it), so a small packed matrix does not stay in L3 while
 * the larger fp32 baseline comes from DRAM. Default: the LLaMA-7B projections 4096x4096,
 * 11008x4096, 4096x11008 (out x in), T = 1, 128, 512, 2048, bits 4 and 8.
 *   test_kernels --perf [--shape llama7b | OUTxIN[,OUTxIN..]] [--tokens 1,128]
 *                [--bits 4,8] [--abits A] [--group G] [--reps N] [--threads N]
 *                [--isa scalar|avx-vnni|avx512-vnni] [--kernel gemm|gemm_f32]
 * Run it with OMP_WAIT_POLICY=passive: spinning OpenMP threads otherwise
 * slow the interleaved OpenBLAS calls (and OpenBLAS's threads the kernels). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "blockrot.h"
#include "fakequant.h"
#include "hadamard.h"
#include "kernels.h"
#include "online_ops.h"
#include "reference.h"
#include "testref.h"
#include "testutil.h"

#define TOL 1e-5

static ptq_rng rng;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_kernels: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}
static float *fnew(size_t n) { return xmalloc(sizeof(float) * n); }
static double *dnew(size_t n) { return xmalloc(sizeof(double) * n); }
static int rnd(int n) { return (int)(ptq_rng_u64(&rng) % (uint64_t)n); }
static float nrm(void) { return (float)ptq_rng_normal(&rng); }

/* ---- the table ------------------------------------------------------------ */

enum { K_PACK, K_ACTQ, K_GEMM, K_WGEMM, K_KV, K_LOWFREQ, K_CSR, K_LINEAR, K_HADAMARD, K_REJECT,
       K_LOWRANK, K_RUROT, NKERN };
static const char *const kname[NKERN] = {"pack", "act_quant", "gemm", "gemm_f32", "kv", "lowfreq", "csr",
                                         "linear", "hadamard", "reject", "lowrank", "ru_online"};
/* Input data: X_MIXED gives row t the regime t % 7: zero, constant, normal,
 * 1e30 x normal, 1e-20 x normal, one spike, alternating +-1. */
enum { X_RANDN, X_ZERO, X_CONST, X_MAX, X_OUTLIER, X_MIXED };
static const char *const xname[] = {"randn", "zero", "const", "max", "outlier", "mixed"};
/* Weights: W_MIXED gives row r the regime r % 4: random, every code at the
 * max with zero 0, every code 0 with zero at the max, codes = zero point
 * (and scale 0 in odd groups). */
enum { W_RAND, W_MAX, W_MIXED };
static const char *const wname[] = {"rand", "max", "mixed"};

typedef struct {
    int T, out, in;
} shape;
typedef struct {
    int x, w;
} dmode;
typedef struct {
    int n, v[12];
} ilist;
typedef struct {
    int n;
    shape v[16];
} slist;
typedef struct {
    int n;
    dmode v[8];
} mlist;
#define L(...) {sizeof((int[]){__VA_ARGS__}) / sizeof(int), {__VA_ARGS__}}
#define SH(...) {sizeof((shape[]){__VA_ARGS__}) / sizeof(shape), {__VA_ARGS__}}
#define DM(...) {sizeof((dmode[]){__VA_ARGS__}) / sizeof(dmode), {__VA_ARGS__}}

/* A family: the product of its lists (an empty list is the single value 0).
 *   bits:  weight bits (act_quant: activation bits; kv: 8 or 4)
 *   abits: activation bits, 0 = same as bits (linear: 16 = fp32 activations)
 *   var:   gemm / gemm_f32: 1 = with bias; act_quant / kv: clip in percent
 *          (0 = 100); lowfreq: bins k (0 = all); csr: density in per mille;
 *          linear: side branches (1 low-frequency, 2 dense, 4 CSR);
 *          blockrot / ru_online: 1 permutation, 2 Householder, 4 smoothing
 *   opt:   lowfreq: 0 from W_low, 1 from stored coefficients; csr: 0 keep
 *          mask, 1 the nonzeros
 *   shape: lowfreq: out = rows of W_low, in = row length; kv: T rows, in =
 *          row length; hadamard: in = n; lowrank: out = rank, in = d;
 *          blockrot / ru_online: out = block size, in = row length
 * Families that take the threaded paths (T > 16 activation codes, 32-row
 * GEMM panels, 16-row GEMV blocks, T > 1 FFTs, ...) run on all threads. */
typedef struct {
    int k;
    slist shapes;
    ilist bits, abits, groups, syms, vars, opts;
    mlist modes;
    int serial; /* 1: one OpenMP thread (the big grids; a thread computes a whole
                   output, so the count does not change the arithmetic) */
} family;

static const family table[] = {
    /* packed format: every width, padding edges, partial last groups */
    {.k = K_PACK, .shapes = SH({0, 1, 5}, {0, 37, 75}, {0, 16, 32}, {0, 33, 257}, {0, 50, 130}, {0, 80, 520}),
     .bits = L(2, 3, 4, 5, 6, 7, 8), .groups = L(0, 12, 32, 128), .modes = DM({X_RANDN, W_RAND}, {X_RANDN, W_MIXED})},
    /* per-token activation codes (T > 16: the threaded path) */
    {.k = K_ACTQ, .shapes = SH({1, 0, 5}, {3, 0, 75}, {17, 0, 130}, {40, 0, 259}), .bits = L(2, 3, 4, 5, 6, 7, 8),
     .groups = L(0, 32, 12), .syms = L(0, 1)},
    {.k = K_ACTQ, .shapes = SH({17, 0, 130}), .bits = L(2, 3, 4, 5, 6, 7, 8), .groups = L(32), .syms = L(0, 1),
     .vars = L(100, 90),
     .modes = DM({X_MIXED, 0}, {X_OUTLIER, 0}, {X_CONST, 0}, {X_ZERO, 0}, {X_MAX, 0})},
    /* integer GEMM: random data over odd shapes, every width, groups */
    {.k = K_GEMM, .shapes = SH({1, 1, 5}, {5, 37, 75}, {13, 16, 32}, {27, 50, 130}, {3, 33, 257}),
     .bits = L(2, 3, 4, 5, 6, 7, 8), .groups = L(0, 32, 12), .syms = L(0, 1), .vars = L(1), .serial = 1},
    {.k = K_GEMM, .shapes = SH({1, 1, 5}, {5, 37, 75}, {13, 16, 32}, {27, 50, 130}, {3, 33, 257}),
     .bits = L(2, 4), .abits = L(8), .groups = L(0, 32, 12), .syms = L(0, 1), .vars = L(1), .serial = 1},
    {.k = K_GEMM, .shapes = SH({1, 1, 5}, {5, 37, 75}, {13, 16, 32}, {27, 50, 130}, {3, 33, 257}),
     .bits = L(5, 7), .abits = L(7, 5), .groups = L(0, 32, 12), .syms = L(0, 1), .vars = L(1), .serial = 1},
    /* micro-tile edges (6 AVX-VNNI, 12 AVX-512 / scalar), group 128, threads */
    {.k = K_GEMM, .shapes = SH({6, 31, 64}, {7, 33, 96}, {12, 48, 200}, {25, 80, 160}),
     .bits = L(3, 4, 8), .groups = L(0, 128), .syms = L(0, 1), .vars = L(0, 1)},
    /* decode: T <= 4 int4 (group % 8 == 0) and int8 take the AVX-512 integer GEMV */
    {.k = K_GEMM, .shapes = SH({1, 37, 75}, {2, 33, 96}, {4, 80, 520}), .bits = L(4, 8), .abits = L(0, 8, 2),
     .groups = L(0, 12, 32, 64, 128), .syms = L(0, 1), .vars = L(1), .serial = 1},
    /* decode units of 4 row blocks: 13 blocks (4 + 4 + 4 + 1), all threads */
    {.k = K_GEMM, .shapes = SH({1, 200, 1040}, {3, 200, 1040}), .bits = L(4, 8), .abits = L(0, 8),
     .groups = L(0, 32), .syms = L(0, 1), .vars = L(1)},
    /* adversarial data */
    {.k = K_GEMM, .shapes = SH({14, 35, 259}), .bits = L(2, 3, 4, 5, 6, 7, 8), .abits = L(0, 8),
     .groups = L(0, 64), .syms = L(0, 1), .vars = L(1), .serial = 1,
     .modes = DM({X_MAX, W_MAX}, {X_OUTLIER, W_MAX}, {X_MIXED, W_MIXED}, {X_ZERO, W_MIXED}, {X_CONST, W_RAND})},
    /* long K, every code at the max: int32 accumulation headroom */
    {.k = K_GEMM, .shapes = SH({25, 70, 4100}, {1, 40, 4100}), .bits = L(4, 8), .groups = L(0, 128),
     .modes = DM({X_MAX, W_MAX})},
    /* per-channel K > 65536: sum c a passes 2^31, chunks add in int64 */
    {.k = K_GEMM, .shapes = SH({2, 17, 70000}), .bits = L(8), .abits = L(0), .groups = L(0), .serial = 1,
     .modes = DM({X_MAX, W_MAX})},
    /* weight-only GEMV (T = 1) and GEMM (T > 1) */
    {.k = K_WGEMM, .shapes = SH({1, 1, 5}, {1, 37, 75}, {1, 64, 256}, {1, 33, 260}, {1, 80, 520}, {3, 33, 100},
                                {2, 50, 130}, {17, 40, 96}),
     .bits = L(2, 3, 4, 5, 6, 7, 8), .groups = L(0, 12, 32, 64, 128), .vars = L(1), .serial = 1},
    {.k = K_WGEMM, .shapes = SH({1, 33, 260}, {3, 33, 100}), .bits = L(2, 3, 4, 5, 6, 7, 8), .groups = L(0, 12),
     .vars = L(1), .serial = 1, .modes = DM({X_RANDN, W_MAX}, {X_MIXED, W_MIXED}, {X_ZERO, W_RAND}, {X_OUTLIER, W_MIXED})},
    {.k = K_WGEMM, .shapes = SH({1, 80, 520}), .bits = L(2, 3, 4, 5, 6, 7, 8), .groups = L(64), .vars = L(1),
     .modes = DM({X_RANDN, W_MAX})},
    {.k = K_WGEMM, .shapes = SH({1, 40, 4100}, {5, 20, 4100}), .bits = L(4, 8), .groups = L(0, 128),
     .modes = DM({X_MAX, W_MAX})},
    /* decode units (4 int4 / 2 int8 blocks) in the parallel region: 13 blocks, all threads */
    {.k = K_WGEMM, .shapes = SH({1, 200, 5200}), .bits = L(4, 8), .groups = L(0, 128), .vars = L(1)},
    /* the prefill GEMM's tiles: T past two 12-token tiles, three 32-row panels (the last one block),
     * in across a 1024-column slice, not a multiple of 32; every ISA and 1 thread give the same bits */
    {.k = K_WGEMM, .shapes = SH({29, 70, 1100}, {13, 16, 2100}), .bits = L(3, 4, 8), .groups = L(0, 20, 128),
     .vars = L(1), .modes = DM({X_RANDN, W_RAND}, {X_MIXED, W_MIXED})},
    /* KV cache rows (groups that do not divide the row are left out) */
    {.k = K_KV, .shapes = SH({7, 0, 48}, {7, 0, 128}, {7, 0, 96}, {7, 0, 2}), .bits = L(8, 4),
     .groups = L(0, 16, 32, 24), .syms = L(0, 1),
     .modes = DM({X_RANDN, 0}, {X_MIXED, 0}, {X_OUTLIER, 0}, {X_CONST, 0}, {X_ZERO, 0}, {X_MAX, 0})},
    {.k = K_KV, .shapes = SH({7, 0, 48}, {7, 0, 128}), .bits = L(8, 4), .groups = L(0, 16), .syms = L(0, 1),
     .vars = L(90, 50)},
    /* decode lengths past the prefetch distance; the widest row the vector path takes (512) and one past it */
    {.k = K_KV, .shapes = SH({37, 0, 128}, {19, 0, 512}, {5, 0, 544}, {1, 0, 64}), .bits = L(8, 4),
     .groups = L(0, 64), .modes = DM({X_RANDN, 0}, {X_OUTLIER, 0})},
    /* SpecQuant low-frequency branch (bins k > in/2 + 1 are left out) */
    {.k = K_LOWFREQ, .shapes = SH({1, 7, 96}, {5, 13, 75}, {9, 16, 64}, {4, 3, 5}, {1, 1, 1}),
     .vars = L(1, 10, 33, 38, 0), .opts = L(0, 1), .modes = DM({X_RANDN, 0}, {X_MIXED, 0})},
    {.k = K_LOWFREQ, .shapes = SH({3, 8, 4096}), .vars = L(32), .opts = L(0, 1)},
    /* the DFT-table path in 32-row chunks, in the parallel region, with a short last chunk */
    {.k = K_LOWFREQ, .shapes = SH({70, 8, 4096}), .vars = L(16), .opts = L(0, 1)},
    /* the decimated path (in = M x P, P with a prime factor above 7): 688 = 16 x 43 (k 5, 9 = M/2 + 1;
     * 10: the full FFT again), 352 = 32 x 11, LLaMA's 11008 = 256 x 43 with its k = 43 (T 70: parallel) */
    {.k = K_LOWFREQ, .shapes = SH({1, 5, 688}, {6, 9, 688}, {2, 7, 352}), .vars = L(5, 9, 10, 17),
     .opts = L(0, 1), .modes = DM({X_RANDN, 0}, {X_OUTLIER, 0})},
    {.k = K_LOWFREQ, .shapes = SH({1, 4, 11008}, {70, 4, 11008}), .vars = L(43), .opts = L(0, 1)},
    /* SEPTQ sparse add */
    {.k = K_CSR, .shapes = SH({1, 17, 33}, {7, 64, 130}, {3, 5, 7}, {30, 40, 96}), .vars = L(0, 50, 1000),
     .opts = L(0, 1), .modes = DM({X_RANDN, 0}, {X_MIXED, 0})},
    /* decode: many short rows per product pass, rows around and past one pass (2048 entries) */
    {.k = K_CSR, .shapes = SH({1, 300, 100}, {1, 9, 3000}, {1, 6, 5000}), .vars = L(20, 500, 1000), .opts = L(1)},
    /* one linear: GEMM / weight-only + side branches */
    {.k = K_LINEAR, .shapes = SH({1, 37, 75}, {5, 33, 130}, {3, 20, 64}), .bits = L(4), .abits = L(4, 8, 16),
     .groups = L(0, 32), .vars = L(0, 1, 2, 4, 7), .serial = 1},
    {.k = K_LINEAR, .shapes = SH({1, 37, 75}, {14, 35, 259}), .bits = L(2, 8), .abits = L(8, 16), .syms = L(1),
     .vars = L(3, 5, 6), .modes = DM({X_MIXED, W_MIXED})},
    /* Hadamard: 2^k, Paley I / II orders times 2^k, unsupported sizes */
    {.k = K_HADAMARD, .shapes = SH({1, 0, 1}, {3, 0, 2}, {9, 0, 8}, {3, 0, 64}, {2, 0, 256}, {3, 0, 12},
                                   {9, 0, 24}, {2, 0, 20}, {3, 0, 80}, {3, 0, 36}, {1, 0, 44}, {2, 0, 60},
                                   {3, 0, 120}, {1, 0, 108}, {1, 0, 140}, {2, 0, 68}),
     .modes = DM({X_RANDN, 0}, {X_MIXED, 0})},
    {.k = K_HADAMARD, .shapes = SH({1, 0, 156}, {1, 0, 172})},
    {.k = K_REJECT},
    /* ---- online ops (model/online_ops: the low-rank kind; kernels/blockrot.h:
     * the RUQuant transform) ---- */
    {.k = K_LOWRANK, .shapes = SH({1, 3, 40}, {9, 32, 96}, {4, 1, 33}, {2, 17, 17}),
     .modes = DM({X_RANDN, 0}, {X_MIXED, 0})},
    {.k = K_RUROT, .shapes = SH({1, 16, 64}, {6, 32, 384}, {9, 8, 40}, {6, 128, 384}, {3, 32, 96}),
     .vars = L(1, 3, 5, 7), .modes = DM({X_RANDN, 0}, {X_MIXED, 0})},
    {.k = K_REJECT, .vars = L(1)},
};

typedef struct {
    int k, T, out, in, bits, abits, group, sym, var, opt, x, w;
} tcase;

/* ---- rows ----------------------------------------------------------------- */

static long n_rows, n_failed;
static int g_threads = 1; /* OpenMP threads of the current row */

static void describe(const tcase *c, char *d, size_t cap) {
    const char *sym = c->sym ? "sym " : "asym";
    float clip = c->var ? c->var / 100.f : 1.f;
    int n = snprintf(d, cap, "%-9s ", kname[c->k]);
    d += n, cap -= n;
    switch (c->k) {
    case K_PACK: snprintf(d, cap, "      %5dx%-5d W%d    g%-3d       w=%s", c->out, c->in, c->bits, c->group, wname[c->w]); break;
    case K_ACTQ:
        snprintf(d, cap, "T=%-3d K=%-9d A%d %s g%-3d clip %.2f x=%s", c->T, c->in, c->bits, sym, c->group, clip,
                 xname[c->x]);
        break;
    case K_GEMM:
    case K_WGEMM:
    case K_LINEAR: {
        char side[16] = "";
        if (c->k == K_LINEAR)
            snprintf(side, sizeof side, "%s%s%s%s", c->var & 1 ? "+lf" : "", c->var & 2 ? "+dense" : "",
                     c->var & 4 ? "+csr" : "", c->var ? "" : "-");
        snprintf(d, cap, "T=%-3d %5dx%-5d W%dA%-2d %s g%-3d x=%s w=%s %s", c->T, c->out, c->in, c->bits,
                 c->k == K_WGEMM ? 16 : c->abits, c->k == K_WGEMM ? "    " : sym, c->group, xname[c->x], wname[c->w],
                 c->k == K_LINEAR ? side : c->var ? "bias" : "");
        break;
    }
    case K_KV:
        snprintf(d, cap, "rows=%d dim=%-5d KV%d %s g%-3d clip %.2f x=%s", c->T, c->in, c->bits, sym, c->group, clip,
                 xname[c->x]);
        break;
    case K_LOWFREQ:
        snprintf(d, cap, "T=%-3d %5dx%-5d k=%-3d from %s x=%s", c->T, c->out, c->in, c->var ? c->var : c->in / 2 + 1,
                 c->opt ? "coefficients" : "W_low", xname[c->x]);
        break;
    case K_CSR:
        snprintf(d, cap, "T=%-3d %5dx%-5d density %.3f %s x=%s", c->T, c->out, c->in, c->var / 1000.0,
                 c->opt ? "nonzeros" : "keep mask", xname[c->x]);
        break;
    case K_HADAMARD: snprintf(d, cap, "T=%-3d n=%-5d x=%s", c->T, c->in, xname[c->x]); break;
    case K_LOWRANK: snprintf(d, cap, "T=%-3d d=%-5d r=%-3d x=%s", c->T, c->in, c->out, xname[c->x]); break;
    default:
        snprintf(d, cap, "T=%-3d n=%-5d B=%-3d%s%s%s x=%s", c->T, c->in, c->out, c->var & 1 ? " perm" : "",
                 c->var & 2 ? " householder" : "", c->var & 4 ? " smoothing" : "", xname[c->x]);
        break;
    }
}

/* bad: failed exact checks (-1: the row has none); worst: float error / mag
 * (-1: none). */
static void row_desc(const char *d, const char *isa, long bad, double worst) {
    char ex[32], fl[40];
    int ok = bad <= 0 && (worst < 0 || worst <= TOL);
    if (bad < 0) snprintf(ex, sizeof ex, "-");
    else if (bad == 0) snprintf(ex, sizeof ex, "ok");
    else snprintf(ex, sizeof ex, "%ld MISMATCH", bad);
    if (worst < 0) snprintf(fl, sizeof fl, "-");
    else snprintf(fl, sizeof fl, "%.1e (tol %.0e)", worst, TOL);
    char where[40];
    snprintf(where, sizeof where, "%s t%d", isa, g_threads);
    printf("%-78s %-20s exact %-12s float %-18s %s\n", d, where, ex, fl, ok ? "ok" : "FAIL");
    n_rows++;
    if (!ok) {
        n_failed++, tu_failures++;
        fprintf(stderr, "FAIL: %s %s exact %s float %s\n", d, where, ex, fl);
    }
}

static void row(const tcase *c, const char *isa, long bad, double worst) {
    char d[192];
    describe(c, d, sizeof d);
    row_desc(d, isa, bad, worst);
}

/* worst |y - y_ref| / mag; NaN counts as infinitely wrong */
static double ferr(const float *y, const double *yr, const double *mag, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - yr[i]), r = e == 0 ? 0 : e / mag[i];
        if (isnan(r) || r > worst) worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

static long ndiff(const void *a, const void *b, size_t n) {
    long d = 0;
    for (size_t i = 0; i < n; i++) d += ((const uint8_t *)a)[i] != ((const uint8_t *)b)[i];
    return d;
}

/* ---- ISAs ----------------------------------------------------------------- */

static ptq_isa isa_list[3];
static int n_isa;

/* the paths this CPU runs: those ptq_kern_force_isa does not replace */
static void init_isas(void) {
    for (int i = PTQ_ISA_SCALAR; i <= PTQ_ISA_AVX512VNNI; i++) {
        ptq_kern_force_isa((ptq_isa)i);
        if (ptq_kern_isa() == (ptq_isa)i) isa_list[n_isa++] = (ptq_isa)i;
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
}

/* 0 when the kernels now run on exactly this ISA */
static long force(ptq_isa isa) {
    ptq_kern_force_isa(isa);
    return ptq_kern_isa() != isa;
}

/* ---- data ------------------------------------------------------------------ */

static void make_x(float *x, int T, int K, int mode) {
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            float g = nrm(), *v = x + (size_t)t * K + k;
            switch (mode == X_MIXED ? 10 + t % 7 : mode) {
            case X_RANDN: *v = g; break;
            case X_ZERO: *v = 0.f; break;
            case X_CONST: *v = (t % 2 ? -1.f : 1.f) * (0.75f + (float)t); break;
            case X_MAX: *v = 1e3f; break;
            case X_OUTLIER: *v = k % 7 == 0 ? 50.f : 0.01f * g; break;
            case 10: *v = 0.f; break;
            case 11: *v = 3.5f; break;
            case 12: *v = g; break;
            case 13: *v = 1e30f * g; break;
            case 14: *v = 1e-20f * g; break;
            case 15: *v = k == t % K ? -7.5f : 0.f; break;
            default: *v = k % 2 ? 1.f : -1.f; break;
            }
        }
}

typedef struct {
    int out, in, bits, group, ng;
    uint8_t *codes;
    float *scale;
    int *zero;
} wdata;

static void make_w(wdata *d, int out, int in, int bits, int group, int mode) {
    int G = group > 0 && group < in ? group : in, maxq = (1 << bits) - 1;
    d->out = out, d->in = in, d->bits = bits, d->group = group, d->ng = (in + G - 1) / G;
    d->codes = xmalloc((size_t)out * in);
    d->scale = fnew((size_t)out * d->ng);
    d->zero = xmalloc(sizeof(int) * out * d->ng);
    for (int r = 0; r < out; r++) {
        int regime = mode == W_MIXED ? r % 4 : mode == W_MAX ? 1 : 0;
        for (int g = 0; g < d->ng; g++) {
            int z = regime == 0 || regime == 3 ? rnd(maxq + 1) : regime == 1 ? 0 : maxq;
            d->zero[(size_t)r * d->ng + g] = z;
            d->scale[(size_t)r * d->ng + g] = regime == 3 && g % 2 ? 0.f : (float)(0.001 + ptq_rng_uniform(&rng) * 0.01);
            for (int k = g * G; k < PTQ_MIN(in, (g + 1) * G); k++)
                d->codes[(size_t)r * in + k] = (uint8_t)(regime == 0 ? rnd(maxq + 1) : regime == 1 ? maxq : regime == 2 ? 0 : z);
        }
    }
}

static void free_w(wdata *d) { free(d->codes), free(d->scale), free(d->zero); }

/* packed random weights of a case; 0 on failure (reported as a failed row) */
static int pack_case(ptq_kpacked *p, const tcase *c, int bits, int group) {
    wdata d;
    ptq_err err;
    make_w(&d, c->out, c->in, bits, group, c->w);
    int rc = ptq_kpack(p, d.codes, d.scale, d.zero, c->out, c->in, bits, group, &err);
    free_w(&d);
    if (rc) fprintf(stderr, "kpack: %s\n", err.msg);
    return rc == 0;
}

/* ---- runners: one case, one row per ISA ------------------------------------ */

static void run_pack(const tcase *c) {
    wdata d;
    ptq_kpacked p, r;
    ptq_err err;
    make_w(&d, c->out, c->in, c->bits, c->group, c->w);
    long bad = (ptq_kpack(&p, d.codes, d.scale, d.zero, c->out, c->in, c->bits, c->group, &err) != 0) +
               (ptq_kpack_ref(&r, d.codes, d.scale, d.zero, c->out, c->in, c->bits, c->group, &err) != 0);
    if (!bad) {
        bad += (p.out != r.out) + (p.in != r.in) + (p.bits != r.bits) + (p.group != r.group) + (p.ngroups != r.ngroups) +
               (p.npad != r.npad) + (p.kpad != r.kpad) + (p.nplanes != r.nplanes) + (p.data_bytes != r.data_bytes);
        for (int i = 0; i < r.nplanes && !bad; i++) bad += (p.plane_bits[i] != r.plane_bits[i]) + (p.plane_off[i] != r.plane_off[i]);
    }
    if (!bad) {
        size_t ng = (size_t)r.ngroups * r.npad, n = (size_t)c->out * c->in;
        bad += ndiff(p.data, r.data, r.data_bytes) + ndiff(p.scale, r.scale, ng * sizeof(float)) +
               ndiff(p.zero, r.zero, ng * sizeof(int16_t)) + ndiff(p.csum, r.csum, ng * sizeof(int32_t));
        uint8_t *u = xmalloc(n);
        ptq_kunpack_codes(&p, u);
        bad += ndiff(u, d.codes, n);
        ptq_kunpack_codes_ref(&p, u);
        bad += ndiff(u, d.codes, n);
        free(u);
        int8_t *b1 = xmalloc((size_t)p.kpad * PTQ_KP_RB), *b2 = xmalloc((size_t)p.kpad * PTQ_KP_RB);
        for (int rb = 0; rb < p.npad / PTQ_KP_RB; rb++) {
            ptq_kunpack_block(&p, rb, b1);
            ptq_kunpack_block_ref(&p, rb, b2);
            bad += ndiff(b1, b2, (size_t)p.kpad * PTQ_KP_RB);
        }
        free(b1), free(b2);
        float *w1 = fnew(n), *w2 = fnew(n);
        ptq_kdequant(&p, w1);
        ptq_kdequant_ref(&p, w2);
        bad += ndiff(w1, w2, n * sizeof(float));
        free(w1), free(w2);
        bad += ptq_kpacked_bytes(&p) != ptq_kpacked_bytes_ref(&p);
    }
    row(c, "-", bad, -1);
    ptq_kpacked_free(&p), ptq_kpacked_free(&r);
    free_w(&d);
}

static ptq_kacts g_acts; /* reused by every act_quant row: buffers grow and shrink in use */

/* values dequantized from the activation codes that differ from ptq_fq_rows's */
static long fq_mismatch(const ptq_kacts *a, const float *x, int sym, float clip) {
    int T = a->T, K = a->K;
    long bad = 0;
    float *fq = fnew((size_t)T * K);
    memcpy(fq, x, sizeof(float) * T * K);
    ptq_act_qspec q = {.bits = a->bits, .sym = sym, .clip = clip, .group = 0};
    ptq_fq_rows(fq, T, K, &q);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++)
            bad += a->scale[t] * (float)((int)a->codes[(size_t)t * a->kpad + k] - a->zero[t]) != fq[(size_t)t * K + k];
    free(fq);
    return bad;
}

static void run_actq(const tcase *c) {
    int T = c->T, K = c->in;
    float clip = c->var ? c->var / 100.f : 1.f, *x = fnew((size_t)T * K);
    make_x(x, T, K, c->x);
    ptq_kacts r;
    ptq_err err;
    long bad = (ptq_kact_quant(&g_acts, x, T, K, c->bits, c->sym, clip, c->group, &err) != 0) +
               (ptq_kact_quant_ref(&r, x, T, K, c->bits, c->sym, clip, c->group, &err) != 0);
    if (!bad) {
        const ptq_kacts *a = &g_acts;
        bad += (a->T != r.T) + (a->K != r.K) + (a->kpad != r.kpad) + (a->bits != r.bits) + (a->group != r.group) +
               (a->ngroups != r.ngroups);
    }
    if (!bad) {
        const ptq_kacts *a = &g_acts;
        bad += ndiff(a->codes, r.codes, (size_t)T * r.kpad) + ndiff(a->scale, r.scale, sizeof(float) * T) +
               ndiff(a->zero, r.zero, sizeof(int32_t) * T) + ndiff(a->gsum, r.gsum, sizeof(int32_t) * T * r.ngroups);
        bad += fq_mismatch(a, x, c->sym, clip);
    }
    row(c, "-", bad, -1);
    ptq_kacts_free(&r);
    free(x);
}

static float *make_bias(int out, int with) {
    if (!with) return NULL;
    float *b = fnew(out);
    for (int n = 0; n < out; n++) b[n] = 0.01f * (float)n - 0.1f;
    return b;
}

static void run_gemm(const tcase *c) {
    int T = c->T, out = c->out, in = c->in, ab = c->abits ? c->abits : c->bits;
    ptq_kpacked w;
    ptq_kacts a = {0};
    ptq_err err;
    if (!pack_case(&w, c, c->bits, c->group)) return row(c, "-", 1, -1);
    float *x = fnew((size_t)T * in), *y = fnew((size_t)T * out), *bias = make_bias(out, c->var);
    make_x(x, T, in, c->x);
    int rcq = ptq_kact_quant(&a, x, T, in, ab, c->sym, 1.f, c->group, &err) != 0;
    long badq = rcq ? 1 : fq_mismatch(&a, x, c->sym, 1.f); /* the codes the GEMM multiplies */
    size_t nI = (size_t)T * out * w.ngroups;
    int64_t *Ir = xmalloc(sizeof(int64_t) * nI), *Ik = xmalloc(sizeof(int64_t) * nI);
    double *yr = dnew((size_t)T * out), *mag = dnew((size_t)T * out);
    if (!rcq) {
        ptq_kgemm_int_ref(&a, &w, Ir);
        ptq_kgemm_ref(&a, &w, bias, yr, mag);
    }
    for (int i = 0; i < n_isa; i++) {
        long bad = badq + force(isa_list[i]);
        double worst = INFINITY;
        if (!rcq) {
            memset(Ik, 0xff, sizeof(int64_t) * nI);
            bad += ptq_kgemm_int(&a, &w, Ik, &err) != 0;
            bad += ndiff(Ik, Ir, sizeof(int64_t) * nI);
            memset(y, 0xff, sizeof(float) * T * out); /* NaN */
            bad += ptq_kgemm(&a, &w, bias, y, &err) != 0;
            worst = ferr(y, yr, mag, (size_t)T * out);
        }
        row(c, ptq_isa_name(isa_list[i]), bad, worst);
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
    ptq_kacts_free(&a);
    ptq_kpacked_free(&w);
    free(x), free(y), free(bias), free(Ir), free(Ik), free(yr), free(mag);
}

/* T > 1: the prefill GEMM gives the same bits on every ISA path and on one
 * thread as on all (one fixed FMA order per output element). */
static void run_wgemm(const tcase *c) {
    int T = c->T, out = c->out, in = c->in;
    ptq_kpacked w;
    ptq_err err;
    if (!pack_case(&w, c, c->bits, c->group)) return row(c, "-", 1, -1);
    float *x = fnew((size_t)T * in), *y = fnew((size_t)T * out), *y0 = fnew((size_t)T * out),
          *bias = make_bias(out, c->var);
    double *yr = dnew((size_t)T * out), *mag = dnew((size_t)T * out);
    make_x(x, T, in, c->x);
    ptq_kgemm_f32_ref(&w, x, T, bias, yr, mag);
    for (int i = 0; i < n_isa; i++) {
        /* the AVX-512 GEMV reads int4 and 8-bit planes 1..4 row blocks per pass: each row's sum the same
         * for every count, and again with no prefetch (nb 5: 4 blocks, prefetch off) */
        int direct = isa_list[i] == PTQ_ISA_AVX512VNNI && (w.bits == 8 || (w.bits == 4 && w.group % 8 == 0)) && T == 1;
        for (int nb = direct ? 1 : 4; nb <= (direct ? 5 : 4); nb++) {
            char label[32];
            snprintf(label, sizeof label, direct ? nb == 5 ? "%s nb=4 pf=0" : "%s nb=%d" : "%s", ptq_isa_name(isa_list[i]), nb);
            long bad = force(isa_list[i]);
            ptq_kern_gemv_blocks(PTQ_MIN(nb, 4));
            ptq_kern_gemv_prefetch(nb == 5 ? 0 : PTQ_KGEMV_PF_DEFAULT);
            memset(y, 0xff, sizeof(float) * T * out);
            bad += ptq_kgemm_f32(&w, x, T, bias, y, &err) != 0;
            double worst = ferr(y, yr, mag, (size_t)T * out);
            if (T == 1) {
                memset(y, 0xff, sizeof(float) * out);
                bad += ptq_kgemv_f32(&w, x, bias, y, &err) != 0;
                worst = fmax(worst, ferr(y, yr, mag, out));
                if (direct && nb == 1) memcpy(y0, y, sizeof(float) * out);
                else if (direct) bad += ndiff(y, y0, sizeof(float) * out);
            } else {
                if (i == 0) memcpy(y0, y, sizeof(float) * T * out);
                bad += ndiff(y, y0, sizeof(float) * T * out);
#ifdef _OPENMP
                omp_set_num_threads(1);
                memset(y, 0xff, sizeof(float) * T * out);
                bad += ptq_kgemm_f32(&w, x, T, bias, y, &err) != 0;
                bad += ndiff(y, y0, sizeof(float) * T * out);
                omp_set_num_threads(g_threads);
#endif
            }
            row(c, label, bad, worst);
        }
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
    ptq_kern_gemv_blocks(4);
    ptq_kern_gemv_prefetch(PTQ_KGEMV_PF_DEFAULT);
    ptq_kpacked_free(&w);
    free(x), free(y), free(y0), free(bias), free(yr), free(mag);
}

/* A head's cache rows: T rows quantized at a stride past the row (as the
 * cache interleaves heads), then scores, the V mix and the widening on every
 * ISA path: each against the naive twin within the bound, and the paths
 * against the first bit for bit (kvcache.c fixes the order). */
static void run_kv(const tcase *c) {
    int dim = c->in, g = c->group > 0 && c->group < dim ? c->group : dim;
    if (dim % g) return; /* not a KV format */
    float clip = c->var ? c->var / 100.f : 1.f;
    ptq_kvfmt f;
    ptq_err err;
    if (ptq_kvfmt_init(&f, c->bits, dim, c->group, c->sym, clip, &err)) return row(c, "-", 1, -1);
    int L = c->T, ng = f.ngroups;
    size_t cst = f.row_bytes + 5, sst = 2 * (size_t)ng + 3;
    float *x = fnew((size_t)L * dim), *q = fnew(dim), *v1 = fnew(dim), *v2 = fnew(dim), *fq = fnew(dim),
          *P = fnew(L), *S = fnew(L), *S0 = fnew(L), *o = fnew(dim), *o0 = fnew(dim), *X = fnew((size_t)L * dim),
          *sz = fnew((size_t)L * sst), *s2 = fnew(ng), *z2 = fnew(ng);
    double *accr = dnew(dim), *mag = dnew(dim), *Sr = dnew(L), *Sm = dnew(L);
    uint8_t *codes = xmalloc((size_t)L * cst), *c2 = xmalloc(f.row_bytes);
    make_x(x, L, dim, c->x);
    ptq_act_qspec qs = {.bits = c->bits, .sym = c->sym, .clip = clip, .group = c->group};
    long badq = 0;
    for (int k = 0; k < dim; k++) q[k] = nrm(), accr[k] = mag[k] = 0;
    for (int t = 0; t < L; t++) {
        const float *xt = x + (size_t)t * dim;
        uint8_t *c1 = codes + (size_t)t * cst;
        float *s1 = sz + (size_t)t * sst, *z1 = s1 + ng;
        ptq_kv_quant_row(&f, xt, c1, s1, z1);
        ptq_kv_quant_row_ref(&f, xt, c2, s2, z2);
        badq += ndiff(c1, c2, f.row_bytes) + ndiff(s1, s2, sizeof(float) * ng) + ndiff(z1, z2, sizeof(float) * ng);
        ptq_kv_dequant_row(&f, c1, s1, z1, v1);
        ptq_kv_dequant_row_ref(&f, c1, s1, z1, v2);
        memcpy(fq, xt, sizeof(float) * dim);
        ptq_fq_rows(fq, 1, dim, &qs);
        for (int k = 0; k < dim; k++) badq += (v1[k] != v2[k]) + (v1[k] != fq[k]);
        memcpy(X + (size_t)t * dim, v2, sizeof(float) * dim);
        P[t] = t % 2 ? 0.37f : -1.5f;
        Sr[t] = 0.7 * ptq_kv_dot_ref(&f, q, c1, s1, z1, &Sm[t]), Sm[t] *= 0.7;
        ptq_kv_axpy_ref(&f, P[t], c1, s1, z1, accr, mag);
    }
    ptq_kvrows rows = {.codes = codes, .sz = sz, .cstride = cst, .sstride = sst, .L = L};
    /* the widened rows as an fp32 cache at a stride past the row: its scores and mix have the same bounds */
    size_t ld = (size_t)dim + 3;
    float *Xw = fnew((size_t)L * dim), *F = fnew((size_t)L * ld), *Sf = fnew(L), *Sf0 = fnew(L), *of = fnew(dim),
          *of0 = fnew(dim);
    for (int t = 0; t < L; t++) memcpy(F + (size_t)t * ld, X + (size_t)t * dim, sizeof(float) * dim);
    for (int i = 0; i < n_isa; i++) {
        long bad = badq + force(isa_list[i]);
        ptq_kv_scores(&f, q, &rows, 0.7f, S);
        ptq_kv_mix(&f, P, &rows, o);
        ptq_kv_dequant_rows(&f, &rows, Xw);
        ptq_kv_scores_f32(q, F, ld, L, dim, 0.7f, Sf);
        ptq_kv_mix_f32(P, F, ld, L, dim, of);
        bad += ndiff(Xw, X, sizeof(float) * L * dim);
        if (i == 0) {
            memcpy(S0, S, sizeof(float) * L), memcpy(o0, o, sizeof(float) * dim);
            memcpy(Sf0, Sf, sizeof(float) * L), memcpy(of0, of, sizeof(float) * dim);
        }
        bad += ndiff(S, S0, sizeof(float) * L) + ndiff(o, o0, sizeof(float) * dim);
        bad += ndiff(Sf, Sf0, sizeof(float) * L) + ndiff(of, of0, sizeof(float) * dim);
        double worst = fmax(ferr(S, Sr, Sm, L), ferr(o, accr, mag, dim));
        worst = fmax(worst, fmax(ferr(Sf, Sr, Sm, L), ferr(of, accr, mag, dim)));
        row(c, ptq_isa_name(isa_list[i]), bad, worst);
    }
    free(F), free(Sf), free(Sf0), free(of), free(of0);
    ptq_kern_force_isa(ptq_kern_isa_best());
    free(x), free(q), free(v1), free(v2), free(fq), free(P), free(S), free(S0), free(o), free(o0), free(X), free(Xw);
    free(sz), free(s2), free(z2), free(accr), free(mag), free(Sr), free(Sm), free(codes), free(c2);
}

/* An FFT-based product is accurate in norms, not term by term (a spike x
 * against a row whose value there is small): the low-frequency branch's rows
 * add ||x_t|| ||w_o|| to mag, w_o the row its coefficients were computed
 * from (the full-band row when the branch is built from W). */
static void add_norm_mag(const float *W, int out, int in, const float *x, int T, double *mag) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double xx = 0, ww = 0;
            for (int i = 0; i < in; i++) xx += (double)x[(size_t)t * in + i] * x[(size_t)t * in + i];
            for (int i = 0; i < in; i++) ww += (double)W[(size_t)o * in + i] * W[(size_t)o * in + i];
            mag[(size_t)t * out + o] += sqrt(xx * ww);
        }
}

static void run_lowfreq(const tcase *c) {
    int T = c->T, out = c->out, N = c->in, nb = N / 2 + 1, k = c->var ? c->var : nb;
    if (k > nb) return; /* more bins than the row has */
    ptq_klowfreq lf;
    ptq_err err;
    float *x = fnew((size_t)T * N), *y = fnew((size_t)T * out), *src = fnew((size_t)out * (c->opt ? 2 * k : N)),
          *src2 = fnew((size_t)out * N);
    double *Wl = dnew((size_t)out * N), *bins = dnew(2 * (size_t)k), *yr = dnew((size_t)T * out),
           *mag = dnew((size_t)T * out);
    make_x(x, T, N, c->x);
    if (!c->opt) { /* full-band rows: the branch keeps their first k bins */
        for (int i = 0; i < out * N; i++) src[i] = nrm();
        for (int o = 0; o < out; o++) {
            ptq_rfft_ref(src + (size_t)o * N, N, k, bins);
            ptq_irfft_ref(bins, N, k, Wl + (size_t)o * N);
        }
    } else { /* stored bins, zero past each row's own count */
        for (int o = 0; o < out; o++) {
            int ko = o % 3 ? (o * 5) % (k + 1) : k;
            for (int j = 0; j < 2 * k; j++) src[(size_t)o * 2 * k + j] = j < 2 * ko ? nrm() : 0.f;
            for (int j = 0; j < 2 * k; j++) bins[j] = src[(size_t)o * 2 * k + j];
            ptq_irfft_ref(bins, N, k, Wl + (size_t)o * N);
        }
    }
    for (int i = 0; i < T * out; i++) y[i] = nrm(), yr[i] = y[i], mag[i] = fabs(y[i]);
    ptq_dense_ref(Wl, out, N, x, T, yr, mag);
    if (c->opt) /* row norms of W_low: Parseval over the stored bins */
        for (int o = 0; o < out; o++)
            for (int i = 0; i < N; i++) src2[(size_t)o * N + i] = (float)Wl[(size_t)o * N + i];
    add_norm_mag(c->opt ? src2 : src, out, N, x, T, mag);
    long bad = (c->opt ? ptq_klowfreq_init_coef(&lf, src, out, N, k, &err) : ptq_klowfreq_init(&lf, src, out, N, k, &err)) != 0;
    double worst = INFINITY;
    if (!bad) {
        bad += ptq_klowfreq_apply(&lf, x, T, y, &err) != 0;
        bad += ptq_klowfreq_bytes(&lf) != sizeof(float) * out * 2 * k;
        worst = ferr(y, yr, mag, (size_t)T * out);
        ptq_klowfreq_free(&lf);
    }
    row(c, "-", bad, worst);
    free(x), free(y), free(src), free(src2), free(Wl), free(bins), free(yr), free(mag);
}

static void run_csr(const tcase *c) {
    int T = c->T, out = c->out, in = c->in;
    size_t n = (size_t)out * in;
    double dens = c->var / 1000.0;
    float *D = fnew(n), *x = fnew((size_t)T * in), *y = fnew((size_t)T * out);
    unsigned char *keep = c->opt ? NULL : xmalloc(n);
    double *S = dnew(n), *S2 = dnew(n), *yr = dnew((size_t)T * out), *mag = dnew((size_t)T * out);
    for (size_t i = 0; i < n; i++) {
        int kept = ptq_rng_uniform(&rng) < dens;
        if (keep) keep[i] = (unsigned char)kept, D[i] = i % 11 ? nrm() : 0.f; /* kept explicit zeros too */
        else D[i] = kept ? nrm() : 0.f;
    }
    make_x(x, T, in, c->x);
    for (int i = 0; i < T * out; i++) y[i] = 1.f + nrm(), yr[i] = y[i], mag[i] = fabs(y[i]);
    long nnz = ptq_kcsr_from_dense_ref(D, keep, out, in, S);
    ptq_dense_ref(S, out, in, x, T, yr, mag);
    ptq_kcsr s;
    ptq_err err;
    long bad = ptq_kcsr_from_dense(&s, D, keep, out, in, &err) != 0;
    double worst = INFINITY;
    if (!bad) {
        bad += (s.nnz != nnz) + (s.out != out) + (s.in != in) + (s.rowptr[0] != 0) + (s.rowptr[out] != nnz);
        for (int o = 0; o < out; o++) {
            bad += s.rowptr[o + 1] < s.rowptr[o];
            for (long p = s.rowptr[o]; p < s.rowptr[o + 1]; p++)
                bad += s.col[p] >= in || (p > s.rowptr[o] && s.col[p] <= s.col[p - 1]);
        }
        if (!bad) {
            ptq_kcsr_dense_ref(&s, S2);
            bad += ndiff(S, S2, sizeof(double) * n);
        }
        bad += ptq_kcsr_bytes(&s) != sizeof(long) * (out + 1) + (sizeof(uint16_t) + sizeof(float)) * (size_t)nnz;
        ptq_kcsr_apply(&s, x, T, y);
        worst = ferr(y, yr, mag, (size_t)T * out);
        ptq_kcsr_free(&s);
    }
    row(c, "-", bad, worst);
    free(D), free(x), free(y), free(keep), free(S), free(S2), free(yr), free(mag);
}

static void run_linear(const tcase *c) {
    int T = c->T, out = c->out, in = c->in;
    size_t n = (size_t)out * in;
    ptq_lin_kernel k;
    ptq_kacts acts = {0};
    ptq_err err;
    memset(&k, 0, sizeof k);
    if (!pack_case(&k.w, c, c->bits, c->group)) return row(c, "-", 1, -1);
    float *x = fnew((size_t)T * in), *y = fnew((size_t)T * out), *bias = make_bias(out, 1), *Wl = fnew(n),
          *side = fnew(n), *D = fnew(n);
    double *yr = dnew((size_t)T * out), *mag = dnew((size_t)T * out);
    make_x(x, T, in, c->x);
    for (size_t i = 0; i < n; i++) Wl[i] = 0.05f * nrm(), side[i] = 0.01f * nrm(), D[i] = i % 29 ? 0.f : nrm();
    long bad = 0;
    size_t bytes = ptq_kpacked_bytes(&k.w);
    if (c->var & 1) {
        bad += ptq_klowfreq_init(&k.lf, Wl, out, in, PTQ_MIN(6, in / 2 + 1), &err) != 0;
        bytes += ptq_klowfreq_bytes(&k.lf);
    }
    if (c->var & 2) {
        k.side_dense = side;
        if (!(c->var & 1)) bytes += sizeof(float) * n;
    }
    if (c->var & 4) {
        bad += ptq_kcsr_from_dense(&k.sp, D, NULL, out, in, &err) != 0;
        bytes += ptq_kcsr_bytes(&k.sp);
    }
    bad += ptq_lin_kernel_bytes(&k) != bytes;
    bad += ptq_lin_kernel_forward_ref(&k, x, T, c->abits, c->sym, 1.f, bias, yr, mag, &err) != 0;
    if (c->var & 1) add_norm_mag(Wl, out, in, x, T, mag);
    for (int i = 0; i < n_isa; i++) {
        long b = bad + force(isa_list[i]);
        memset(y, 0xff, sizeof(float) * T * out);
        b += ptq_lin_kernel_forward(&k, x, T, c->abits, c->sym, 1.f, 0, bias, &acts, y, &err) != 0;
        row(c, ptq_isa_name(isa_list[i]), b, ferr(y, yr, mag, (size_t)T * out));
    }
    ptq_kern_force_isa(ptq_kern_isa_best());
    ptq_lin_kernel_free(&k);
    ptq_kacts_free(&acts);
    free(x), free(y), free(bias), free(Wl), free(side), free(D), free(yr), free(mag);
}

static void run_hadamard(const tcase *c) {
    int T = c->T, n = c->in;
    double *H = dnew((size_t)n * n), *yr = dnew((size_t)T * n), *mag = dnew((size_t)T * n);
    float *x = fnew((size_t)T * n), *y = fnew((size_t)T * n);
    int rc = ptq_hadamard_matrix_ref(H, n);
    long bad = rc == -2; /* a size this table should not list */
    double worst = -1;
    ptq_err err;
    make_x(x, T, n, c->x);
    memcpy(y, x, sizeof(float) * T * n);
    bad += ptq_hadamard_supported(n) != (rc == 0);
    if (rc == 0) {
        memset(yr, 0, sizeof(double) * T * n), memset(mag, 0, sizeof(double) * T * n);
        ptq_dense_ref(H, n, n, x, T, yr, mag);
        bad += ptq_hadamard_rows(y, T, n, &err) != 0;
        worst = ferr(y, yr, mag, (size_t)T * n);
    } else
        bad += ptq_hadamard_rows(y, T, n, &err) != -1; /* no construction: an error, x untouched */
    row(c, "-", bad, worst);
    free(H), free(yr), free(mag), free(x), free(y);
}

static void run_lowrank(const tcase *c) {
    int T = c->T, d = c->in, r = c->out;
    float *Q = fnew((size_t)d * r), *M = fnew((size_t)r * r), *x = fnew((size_t)T * d);
    double *yr = dnew((size_t)T * d), *mag = dnew((size_t)T * d);
    for (int i = 0; i < d * r; i++) Q[i] = nrm();
    for (int i = 0; i < r * r; i++) M[i] = nrm();
    make_x(x, T, d, c->x);
    long bad = ptq_klowrank_apply_ref(Q, M, d, r, x, T, yr, mag) != 0;
    ptq_online_op op;
    ptq_err err;
    double worst = INFINITY;
    if (!(bad += ptq_op_lowrank(&op, Q, M, d, r, &err) != 0)) {
        bad += ptq_online_op_apply(&op, x, T, d, &err) != 0;
        worst = ferr(x, yr, mag, (size_t)T * d);
        ptq_online_op_clear(&op);
    }
    row(c, "-", bad, worst);
    free(Q), free(M), free(x), free(yr), free(mag);
}

static void random_perm(int *perm, int n) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = rnd(i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

/* blockrot.h's RUQuant transform (R^T, a unit omega and always a permutation). */
static void run_blockrot(const tcase *c) {
    int T = c->T, n = c->in, B = c->out;
    float *R1 = fnew((size_t)B * B), *R2 = fnew((size_t)B * B), *om = fnew(n), *s = fnew(n), *x = fnew((size_t)T * n);
    int *perm = xmalloc(sizeof(int) * n);
    double *yr = dnew((size_t)T * n), *mag = dnew((size_t)T * n), on = 0;
    for (int i = 0; i < B * B; i++) R1[i] = nrm(), R2[i] = nrm();
    for (int i = 0; i < n; i++) om[i] = nrm(), s[i] = 0.5f + (float)ptq_rng_uniform(&rng), on += (double)om[i] * om[i];
    for (int i = 0; i < n; i++) om[i] = (float)(om[i] / sqrt(on));
    random_perm(perm, n);
    make_x(x, T, n, c->x);
    const int *P = c->var & 1 ? perm : NULL;
    const float *O = c->var & 2 ? om : NULL, *S = c->var & 4 ? s : NULL;
    long bad = ptq_kblockrot_apply_ref(n, B, S, R1, P, R2, O, x, T, yr, mag) != 0;
    double worst = INFINITY;
    ptq_err err;
    /* the transform holds R1^T, R2^T; on the stack, so its arrays are freed here */
    ptq_ru_transform tr = {.C = n, .B = B};
    tr.R1t = fnew((size_t)B * B), tr.R2t = fnew((size_t)B * B);
    tr.perm = xmalloc(sizeof(int) * n), tr.omega = O ? fnew(n) : NULL, tr.s_inv = S ? fnew(n) : NULL;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) tr.R1t[j * B + i] = R1[i * B + j], tr.R2t[j * B + i] = R2[i * B + j];
    for (int i = 0; i < n; i++) tr.perm[i] = P ? P[i] : i;
    if (O) memcpy(tr.omega, O, sizeof(float) * n);
    if (S) memcpy(tr.s_inv, S, sizeof(float) * n);
    bad += ptq_ru_apply(&tr, x, T, &err) != 0;
    worst = ferr(x, yr, mag, (size_t)T * n);
    free(tr.R1t), free(tr.R2t), free(tr.perm), free(tr.omega), free(tr.s_inv);
    row(c, "-", bad, worst);
    free(R1), free(R2), free(om), free(s), free(x), free(perm), free(yr), free(mag);
}

/* ---- bad inputs ------------------------------------------------------------- */

static void reject(const char *what, int rejected) {
    char d[192];
    snprintf(d, sizeof d, "%-9s %s", "reject", what);
    row_desc(d, "-", !rejected, -1);
}

static void run_reject(void) {
    ptq_err err;
    ptq_kpacked w;
    uint8_t c4[4] = {0, 1, 2, 3}, cbad[4] = {200, 1, 2, 3};
    float s1[3] = {1.f, 1.f, 1.f}, x[200] = {0};
    int z0[3] = {0, 0, 0}, z16[1] = {16};
    reject("kpack: bits 9", ptq_kpack(&w, c4, s1, z0, 1, 4, 9, 0, &err) == -1);
    reject("kpack: bits 1", ptq_kpack(&w, c4, s1, z0, 1, 4, 1, 0, &err) == -1);
    reject("kpack: group 6 (not a multiple of 4)", ptq_kpack(&w, c4, s1, z0, 1, 4, 2, 6, &err) == -1);
    reject("kpack: group -4", ptq_kpack(&w, c4, s1, z0, 1, 4, 2, -4, &err) == -1);
    reject("kpack: shape 0x4", ptq_kpack(&w, c4, s1, z0, 0, 4, 4, 0, &err) == -1);
    reject("kpack: code 200 at 4 bits", ptq_kpack(&w, cbad, s1, z0, 1, 4, 4, 0, &err) == -1);
    reject("kpack: zero point 16 at 4 bits", ptq_kpack(&w, c4, s1, z16, 1, 4, 4, 0, &err) == -1);
    ptq_kpacked_free(&w);

    ptq_kacts a = {0};
    reject("kact_quant: bits 1", ptq_kact_quant(&a, x, 1, 8, 1, 0, 1.f, 0, &err) == -1);
    reject("kact_quant: bits 9", ptq_kact_quant(&a, x, 1, 8, 9, 0, 1.f, 0, &err) == -1);
    reject("kact_quant: T 0", ptq_kact_quant(&a, x, 0, 8, 4, 0, 1.f, 0, &err) == -1);
    /* weights 2 x 100 in groups of 40 (3 groups) */
    uint8_t *cw = calloc(200, 1);
    int zw[6] = {0};
    float sw[6] = {1, 1, 1, 1, 1, 1};
    int64_t I6[6];
    float y[2];
    if (cw && ptq_kpack(&w, cw, sw, zw, 2, 100, 4, 40, &err) == 0) {
        if (!ptq_kact_quant(&a, x, 1, 96, 4, 0, 1.f, 40, &err))
            reject("kgemm: activations K 96, weights in 100", ptq_kgemm(&a, &w, NULL, y, &err) == -1);
        if (!ptq_kact_quant(&a, x, 1, 100, 4, 0, 1.f, 0, &err))
            reject("kgemm: activations per channel, weights in groups", ptq_kgemm(&a, &w, NULL, y, &err) == -1);
        if (!ptq_kact_quant(&a, x, 1, 100, 4, 0, 1.f, 36, &err)) { /* 3 groups too, of 36 */
            reject("kgemm: activations grouped by 36, weights by 40", ptq_kgemm(&a, &w, NULL, y, &err) == -1);
            reject("kgemm_int: activations grouped by 36, weights by 40", ptq_kgemm_int(&a, &w, I6, &err) == -1);
        }
        ptq_lin_kernel k = {.w = w};
        reject("lin_kernel_forward: 9-bit activations",
               ptq_lin_kernel_forward(&k, x, 1, 9, 0, 1.f, 0, NULL, &a, y, &err) == -1);
        reject("lin_kernel_forward: 1-bit activations",
               ptq_lin_kernel_forward(&k, x, 1, 1, 0, 1.f, 0, NULL, &a, y, &err) == -1);
        reject("lin_kernel_forward: activation groups of 32",
               ptq_lin_kernel_forward(&k, x, 1, 4, 0, 1.f, 32, NULL, &a, y, &err) == -1);
    } else
        reject("kpack: 2x100 in groups of 40", 0);
    ptq_kpacked_free(&w);
    ptq_kacts_free(&a);
    free(cw);

    ptq_kvfmt f;
    reject("kvfmt: bits 3", ptq_kvfmt_init(&f, 3, 64, 0, 0, 1.f, &err) == -1);
    reject("kvfmt: group 24 of 64", ptq_kvfmt_init(&f, 4, 64, 24, 0, 1.f, &err) == -1);
    reject("kvfmt: odd row length 7", ptq_kvfmt_init(&f, 8, 7, 0, 0, 1.f, &err) == -1);
    reject("kvfmt: odd group 3 of 12", ptq_kvfmt_init(&f, 8, 12, 3, 0, 1.f, &err) == -1);
    reject("kvfmt: row length 0", ptq_kvfmt_init(&f, 8, 0, 0, 0, 1.f, &err) == -1);

    ptq_klowfreq lf;
    reject("klowfreq: k = in/2 + 2", ptq_klowfreq_init(&lf, x, 2, 64, 34, &err) == -1);
    ptq_klowfreq_free(&lf);
    reject("klowfreq: k 0", ptq_klowfreq_init_coef(&lf, x, 2, 64, 0, &err) == -1);
    ptq_klowfreq_free(&lf);
}

/* the ops block's bad inputs */
static void run_reject_ops(void) {
    ptq_err err;
    float m[64] = {0};
    int perm[16];
    for (int i = 0; i < 16; i++) perm[i] = i;
    perm[0] = 1;
    float r1[16] = {0};
    ptq_online_op op;
    reject("lowrank op: rank 5 of d 4", ptq_op_lowrank(&op, m, m, 4, 5, &err) == -1);
    ptq_ru_transform tr = {.C = 16, .B = 4, .R1t = r1, .R2t = r1, .perm = perm};
    reject("ruquant op: perm not a permutation", ptq_op_ruquant(&op, &tr, &err) == -1);
    perm[0] = 0, tr.C = 15;
    reject("ruquant op: block 4 of row 15", ptq_op_ruquant(&op, &tr, &err) == -1);
}

static void run_case(const tcase *c) {
    switch (c->k) {
    case K_PACK: run_pack(c); break;
    case K_ACTQ: run_actq(c); break;
    case K_GEMM: run_gemm(c); break;
    case K_WGEMM: run_wgemm(c); break;
    case K_KV: run_kv(c); break;
    case K_LOWFREQ: run_lowfreq(c); break;
    case K_CSR: run_csr(c); break;
    case K_LINEAR: run_linear(c); break;
    case K_HADAMARD: run_hadamard(c); break;
    case K_REJECT: c->var ? run_reject_ops() : run_reject(); break;
    case K_LOWRANK: run_lowrank(c); break;
    default: run_blockrot(c); break;
    }
}

static int cnt(const ilist *l) { return l->n ? l->n : 1; }
static int at(const ilist *l, int i) { return l->n ? l->v[i] : 0; }

static int test_main(const char *only) {
    init_isas();
    printf("test_kernels: best isa %s; ISA rows:", ptq_isa_name(ptq_kern_isa_best()));
    for (int i = 0; i < n_isa; i++) printf(" %s", ptq_isa_name(isa_list[i]));
    printf("; float bound |y - y_ref| <= %.0e * mag; threads %d (t1: serial families)\n", TOL, ptq_num_threads());
    long idx = 0;
    int all_threads = ptq_num_threads();
    for (size_t fi = 0; fi < sizeof table / sizeof table[0]; fi++) {
        const family *f = &table[fi];
        if (only && strcmp(only, kname[f->k])) continue;
        int nsh = f->shapes.n ? f->shapes.n : 1, nm = f->modes.n ? f->modes.n : 1;
        for (int s = 0; s < nsh; s++)
            for (int b = 0; b < cnt(&f->bits); b++)
                for (int ab = 0; ab < cnt(&f->abits); ab++)
                    for (int g = 0; g < cnt(&f->groups); g++)
                        for (int sy = 0; sy < cnt(&f->syms); sy++)
                            for (int v = 0; v < cnt(&f->vars); v++)
                                for (int o = 0; o < cnt(&f->opts); o++)
                                    for (int m = 0; m < nm; m++) {
                                        shape sh = f->shapes.n ? f->shapes.v[s] : (shape){0, 0, 0};
                                        dmode dm = f->modes.n ? f->modes.v[m] : (dmode){X_RANDN, W_RAND};
                                        tcase c = {.k = f->k, .T = sh.T, .out = sh.out, .in = sh.in,
                                                   .bits = at(&f->bits, b), .abits = at(&f->abits, ab),
                                                   .group = at(&f->groups, g), .sym = at(&f->syms, sy),
                                                   .var = at(&f->vars, v), .opt = at(&f->opts, o), .x = dm.x,
                                                   .w = dm.w};
                                        /* explicit A bits equal to the W bits: the abits-0 row */
                                        if (c.k == K_GEMM && c.abits == c.bits) continue;
                                        if (c.k == K_GEMM && !c.abits) c.abits = c.bits;
                                        ptq_rng_seed(&rng, 1000 + (uint64_t)idx++);
                                        g_threads = f->serial ? 1 : all_threads;
#ifdef _OPENMP
                                        omp_set_num_threads(g_threads);
#endif
                                        run_case(&c);
                                    }
    }
#ifdef _OPENMP
    omp_set_num_threads(all_threads);
#endif
    ptq_kacts_free(&g_acts);
    printf("test_kernels: %ld rows, %ld failed\n", n_rows, n_failed);
    if (!n_rows) {
        fprintf(stderr, "test_kernels: no rows (--only '%s' names no kernel)\n", only ? only : "");
        tu_failures++;
    }
    return tu_done("test_kernels");
}

/* ---- perf mode -------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median [min..max] of n values (sorts them) */
static void stat3(double *v, int n, double *med, double *lo, double *hi) {
    qsort(v, n, sizeof(double), cmp_d);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), *lo = v[0], *hi = v[n - 1];
}

/* "a,b,c" into v (each in [lo, hi]); count, or -1 */
static int parse_ints(const char *s, int *v, int cap, int lo, int hi) {
    int n = 0;
    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < lo || x > hi || n == cap || (*end && *end != ',')) return -1;
        v[n++] = (int)x;
        s = *end ? end + 1 : end;
    }
    return n ? n : -1;
}

static int perf_usage(void) {
    fprintf(stderr, "usage: test_kernels --perf [--shape llama7b | OUTxIN[,OUTxIN..]] [--tokens 1,128,512,2048]\n"
                    "       [--bits 4,8] [--abits A] [--group G] [--reps N>=5] [--threads N]\n"
                    "       [--isa scalar|avx-vnni|avx512-vnni] [--kernel gemm|gemm_f32]\n");
    return 2;
}

/* Evict the caches: stream 256 MiB (far above any last-level cache) so
 * that every timed call starts with its weights in DRAM, as in a model
 * whose weights do not fit the cache; otherwise a packed matrix of a few MB
 * stays in L3 between calls while the fp32 baseline does not. */
static volatile unsigned flush_sink;
static void flush_llc(void) { /* reads only: no dirty lines left to write back during the timed call */
    static unsigned char *buf;
    enum { BYTES = 256 << 20 };
    if (!buf) {
        if (!(buf = malloc(BYTES))) return;
        for (int i = 0; i < BYTES; i++) buf[i] = (unsigned char)i;
    }
    unsigned s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (int i = 0; i < BYTES; i += 64) s += buf[i];
    flush_sink += s;
}

static int perf_main(int argc, char **argv) {
    int shapes[8][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}}, ns = 3;
    int Ts[8] = {1, 128, 512, 2048}, nT = 4, bits[8] = {4, 8}, nb = 2, abits = 0, group = 0, reps = 5, threads = 0;
    int want = 3; /* 1: kgemm (integer), 2: kgemm_f32 (weight-only) */
    ptq_isa isa = ptq_kern_isa_best();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int one[1], ok = 1;
        if (!strcmp(a, "--perf")) continue;
        if (!v) return perf_usage();
        i++;
        if (!strcmp(a, "--shape")) {
            if (strcmp(v, "llama7b")) {
                ns = 0;
                for (const char *p = v; *p && ok;) {
                    char *e;
                    long o = strtol(p, &e, 10), n = *e == 'x' ? strtol(e + 1, &e, 10) : 0;
                    ok = o > 0 && n > 0 && o <= 65536 && n <= 65536 && ns < 8 && (!*e || *e == ',');
                    if (ok) shapes[ns][0] = (int)o, shapes[ns++][1] = (int)n, p = *e ? e + 1 : e;
                }
            }
        } else if (!strcmp(a, "--tokens")) ok = (nT = parse_ints(v, Ts, 8, 1, 65536)) > 0;
        else if (!strcmp(a, "--bits")) ok = (nb = parse_ints(v, bits, 8, 2, 8)) > 0;
        else if (!strcmp(a, "--abits")) ok = parse_ints(v, one, 1, 2, 8) == 1 && (abits = one[0]);
        else if (!strcmp(a, "--group")) ok = parse_ints(v, one, 1, 0, 65536) == 1 && (group = one[0]) % 4 == 0;
        else if (!strcmp(a, "--reps")) ok = parse_ints(v, one, 1, 5, 64) == 1 && (reps = one[0]);
        else if (!strcmp(a, "--threads")) ok = parse_ints(v, one, 1, 1, 1024) == 1 && (threads = one[0]);
        else if (!strcmp(a, "--kernel")) ok = (want = !strcmp(v, "gemm") ? 1 : !strcmp(v, "gemm_f32") ? 2 : 0) != 0;
        else if (!strcmp(a, "--isa")) {
            ok = 0;
            for (int k = 0; k <= (int)ptq_kern_isa_best(); k++)
                if (!strcmp(v, ptq_isa_name((ptq_isa)k))) isa = (ptq_isa)k, ok = 1;
        } else
            ok = 0;
        if (!ok) return fprintf(stderr, "test_kernels: bad %s '%s'\n", a, v), perf_usage();
    }
    if (threads) {
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        openblas_set_num_threads(threads);
    }
    ptq_kern_force_isa(isa);
    printf("test_kernels --perf: isa=%s threads=%d reps=%d; GOP/s = 2 T out in / time, median [min..max] after one "
           "warm-up,\nkernel and baseline (OpenBLAS on the dequantized fp32 weight) interleaved; kgemm includes the "
           "per-token activation quantization;\ncaches flushed (256 MiB read) before every timed call: weights come "
           "from DRAM\n",
           ptq_isa_name(ptq_kern_isa()), ptq_num_threads(), reps);
    if (!getenv("OMP_WAIT_POLICY"))
        printf("note: OMP_WAIT_POLICY is unset: OpenMP threads spin after each kernel call and slow the OpenBLAS call "
               "that follows; run with OMP_WAIT_POLICY=passive for interleaved timings\n");
    int maxT = 1;
    for (int i = 0; i < nT; i++) maxT = PTQ_MAX(maxT, Ts[i]);
    ptq_rng_seed(&rng, 1);
    ptq_kacts acts = {0};
    ptq_err err;
    int rc = 0;
    for (int s = 0; s < ns && !rc; s++) {
        int out = shapes[s][0], in = shapes[s][1];
        float *x = fnew((size_t)maxT * in), *y = fnew((size_t)maxT * out), *yb = fnew((size_t)maxT * out),
              *W = fnew((size_t)out * in);
        for (size_t i = 0; i < (size_t)maxT * in; i++) x[i] = (float)(2 * ptq_rng_uniform(&rng) - 1);
        for (int b = 0; b < nb && !rc; b++) {
            wdata d;
            ptq_kpacked w;
            make_w(&d, out, in, bits[b], group, W_RAND);
            if (ptq_kpack(&w, d.codes, d.scale, d.zero, out, in, bits[b], group, &err)) {
                fprintf(stderr, "test_kernels: %s\n", err.msg);
                free_w(&d), rc = 1;
                break;
            }
            free_w(&d);
            ptq_kdequant(&w, W);
            size_t pb = ptq_kpacked_bytes(&w), fb = sizeof(float) * (size_t)out * in;
            printf("%5dx%-5d W%d g%d: weight bytes packed %zu, fp32 %zu, ratio %.4f\n", out, in, bits[b], group, pb, fb,
                   (double)pb / fb);
            for (int kern = 1; kern <= 2 && !rc; kern++) {
                if (!(want & kern)) continue;
                int ab = abits ? abits : bits[b];
                for (int ti = 0; ti < nT && !rc; ti++) {
                    int T = Ts[ti];
                    double tk[64], tb[64], ops = 2.0 * T * out * in;
                    for (int r = -1; r < reps && !rc; r++) {
                        flush_llc();
                        double t0 = ptq_now_sec();
                        if (kern == 1)
                            rc = ptq_kact_quant(&acts, x, T, in, ab, 0, 1.f, w.group, &err) ||
                                 ptq_kgemm(&acts, &w, NULL, y, &err);
                        else
                            rc = ptq_kgemm_f32(&w, x, T, NULL, y, &err);
                        double dk = ptq_now_sec() - t0;
                        flush_llc(); /* not timed */
                        double t1 = ptq_now_sec();
                        if (T == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.f, W, in, x, 1, 0.f, yb, 1);
                        else
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.f, x, in, W, in, 0.f,
                                        yb, out);
                        double t2 = ptq_now_sec();
                        if (r >= 0) tk[r] = ops / dk * 1e-9, tb[r] = ops / (t2 - t1) * 1e-9;
                    }
                    if (rc) {
                        fprintf(stderr, "test_kernels: %s\n", err.msg);
                        break;
                    }
                    double km, kl, kh, bm, bl, bh;
                    stat3(tk, reps, &km, &kl, &kh);
                    stat3(tb, reps, &bm, &bl, &bh);
                    char name[32];
                    snprintf(name, sizeof name, kern == 1 ? "kgemm W%dA%d" : "kgemm_f32 W%dA16", bits[b], ab);
                    printf("  %-17s %5dx%-5d T=%-5d %9.2f GOP/s [%.2f..%.2f]   %s %9.2f [%.2f..%.2f]   ratio %.2fx\n",
                           name, out, in, T, km, kl, kh, T == 1 ? "sgemv" : "sgemm", bm, bl, bh, km / bm);
                    fflush(stdout);
                }
            }
            ptq_kpacked_free(&w);
        }
        free(x), free(y), free(yb), free(W);
    }
    ptq_kacts_free(&acts);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    const char *only = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--perf")) return perf_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: test_kernels [--only KERNEL] | --perf [...]  (see the header of test_kernels.c)\n");
            return 2;
        }
    }
    return test_main(only);
}
