/* common.h — error reporting, checked allocation, files, timing, hashing,
 * progress, RNG. Machine and process facts: sysinfo.h.
 *
 * Convention (DESIGN.md): every fallible function returns 0 on success and
 * -1 on failure, after filling a ptq_err whose message names the file, field
 * or flag and what was expected. Nothing below main() calls exit(). */
#ifndef PTQ_COMMON_H
#define PTQ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PTQ_ERR_LEN 1024

typedef struct {
    char msg[PTQ_ERR_LEN];
} ptq_err;

/* Fill err (if non-NULL) with a printf-style message and return -1. */
int ptq_fail(ptq_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message: "context: old message". Returns -1. */
int ptq_wrap(ptq_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that fails cleanly: returns NULL and fills err when the request
 * overflows or exceeds the limit (bytes), never aborts. Memory is zeroed. */
void *ptq_calloc(size_t n, size_t size, ptq_err *err);

/* Replace every occurrence of `from` by `to` in (s, n), left to right and
 * non-overlapping like Python's str.replace: a malloc'd NUL-terminated result
 * of *outn bytes, or NULL. */
char *ptq_replace_all(const char *s, size_t n, const char *from, const char *to, size_t *outn);

/* Open a file to read, refusing anything but a regular file (a FIFO, a
 * device, a directory) before a read could block on it: every reader of
 * models, tokenizers, configs, datasets and results opens through these.
 * An fd / a FILE, or -1 / NULL with "PATH: cannot open: ..." or "PATH: is a
 * FIFO, not a regular file". */
int ptq_open_regular(const char *path, ptq_err *err);
FILE *ptq_fopen_regular(const char *path, ptq_err *err);
/* Whole file into memory (NUL-terminated for convenience). */
int ptq_read_file(const char *path, char **data, size_t *len, ptq_err *err);
/* Write a whole file atomically: tmp + fsync + rename. */
int ptq_write_file_atomic(const char *path, const void *data, size_t len, ptq_err *err);
int ptq_mkdir_p(const char *path, ptq_err *err);
int ptq_file_exists(const char *path);

/* SHA-256 (OpenSSL EVP) as 64 lowercase hex chars + NUL. */
int ptq_sha256_file(const char *path, char hex[65], ptq_err *err);
void ptq_sha256_buf(const void *data, size_t len, char hex[65]);

double ptq_now_sec(void);       /* monotonic wall clock */
int ptq_num_threads(void);      /* OpenMP max threads */
void ptq_utc_now(char *buf, size_t cap); /* "2026-11-23T13:45:00Z" (ISO 8601, UTC; 21 bytes) */
int ptq_thread_id(void);        /* this thread's number in the current parallel region (0 outside) */

/* Progress: a bar with rate and ETA on a TTY, one plain line per ~10% step
 * otherwise (CI logs). Writes to stderr. */
typedef struct {
    const char *label;
    long total, done;
    double t0, last_print;
    int tty, last_decile;
} ptq_progress;
void ptq_progress_start(ptq_progress *p, const char *label, long total);
void ptq_progress_update(ptq_progress *p, long done);
void ptq_progress_end(ptq_progress *p);

/* Deterministic RNG (xoshiro256**), seeded by splitmix64. */
typedef struct {
    uint64_t s[4];
} ptq_rng;
void ptq_rng_seed(ptq_rng *r, uint64_t seed);
uint64_t ptq_rng_u64(ptq_rng *r);
double ptq_rng_uniform(ptq_rng *r); /* [0,1) */
double ptq_rng_normal(ptq_rng *r);

/* Git commit the binary was built from ("unknown" if not a checkout). */
const char *ptq_git_commit(void);
const char *ptq_version(void);
/* OpenBLAS's kernel set ($OPENBLAS_CORETYPE, "default" when unset): its rounding is in every number. */
const char *ptq_blas_kernels(void);
/* The OpenBLAS core this CPU's features support (cli/waitpolicy.c), "unknown" if not set. */
const char *ptq_blas_kernels_cpu(void);

/* "[d0, d1, ...]" of a tensor shape (ndim 0..8) into buf; returns buf. */
const char *ptq_shape_str(const long long *shape, int ndim, char *buf, size_t cap);

#define PTQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PTQ_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
