/* common.c — see common.h. */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ptq_git_commit.h" /* generated at build time (scripts/gitcommit.cmake) */

int ptq_fail(ptq_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ptq_wrap(ptq_err *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[PTQ_ERR_LEN], old[PTQ_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return -1;
}

static int mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

void *ptq_calloc(size_t n, size_t size, ptq_err *err) {
    size_t bytes;
    if (!mul_ok(n, size, &bytes) || bytes > ((size_t)1 << 40)) {
        ptq_fail(err, "allocation of %zu x %zu bytes is too large", n, size);
        return NULL;
    }
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ptq_fail(err, "out of memory allocating %zu bytes", bytes);
    return p;
}

char *ptq_replace_all(const char *s, size_t n, const char *from, const char *to, size_t *outn) {
    size_t fl = strlen(from), tl = strlen(to), cnt = 0;
    for (size_t i = 0; fl && i + fl <= n; i++)
        if (!memcmp(s + i, from, fl)) cnt++, i += fl - 1;
    char *o = malloc(n + cnt * tl + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n;) {
        if (fl && i + fl <= n && !memcmp(s + i, from, fl)) {
            memcpy(p, to, tl), p += tl, i += fl;
        } else
            *p++ = s[i++];
    }
    *p = 0;
    *outn = (size_t)(p - o);
    return o;
}

/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused by type. */
int ptq_open_regular(const char *path, ptq_err *err) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        ptq_fail(err, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        ptq_fail(err, "%s: is %s, not a regular file", path,
                 S_ISFIFO(st.st_mode)  ? "a FIFO"
                 : S_ISDIR(st.st_mode) ? "a directory"
                 : S_ISCHR(st.st_mode) ? "a character device"
                 : S_ISBLK(st.st_mode) ? "a block device"
                                       : "a socket");
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

FILE *ptq_fopen_regular(const char *path, ptq_err *err) {
    int fd = ptq_open_regular(path, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (fd >= 0 && !f) ptq_fail(err, "%s: cannot open: %s", path, strerror(errno)), close(fd);
    return f;
}

int ptq_read_file(const char *path, char **data, size_t *len, ptq_err *err) {
    *data = NULL;
    *len = 0;
    FILE *f = ptq_fopen_regular(path, err);
    struct stat st;
    if (!f) return -1;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return ptq_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    char *buf = ptq_calloc(n + 1, 1, err);
    if (!buf) {
        fclose(f);
        return ptq_wrap(err, "%s", path);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return ptq_fail(err, "%s: short read", path);
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;
}

int ptq_write_file_atomic(const char *path, const void *data, size_t len, ptq_err *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ptq_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            close(fd);
            unlink(tmp);
            return ptq_fail(err, "%s: write failed: %s", tmp, strerror(errno));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return ptq_fail(err, "%s: fsync/close failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return ptq_fail(err, "%s: rename failed: %s", path, strerror(errno));
    }
    return 0;
}

int ptq_mkdir_p(const char *path, ptq_err *err) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return ptq_fail(err, "%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return ptq_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return ptq_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
    return 0;
}

int ptq_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void hex_digest(const unsigned char *md, char hex[65]) {
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    hex[64] = 0;
}

int ptq_sha256_file(const char *path, char hex[65], ptq_err *err) {
    FILE *f = ptq_fopen_regular(path, err);
    if (!f) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad) return ptq_fail(err, "%s: read error", path);
    hex_digest(md, hex);
    return 0;
}

void ptq_sha256_buf(const void *data, size_t len, char hex[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    hex_digest(md, hex);
}

double ptq_now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ptq_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ptq_utc_now(char *buf, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ptq_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static void fmt_eta(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void ptq_progress_start(ptq_progress *p, const char *label, long total) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->t0 = ptq_now_sec();
    p->tty = isatty(fileno(stderr)) && !getenv("CI");
    p->last_decile = -1;
}

void ptq_progress_update(ptq_progress *p, long done) {
    p->done = done;
    double now = ptq_now_sec(), el = now - p->t0;
    double rate = el > 0 ? done / el : 0;
    char eta[32];
    fmt_eta(rate > 0 ? (p->total - done) / rate : -1, eta, sizeof eta);
    if (p->tty) {
        if (now - p->last_print < 0.1 && done < p->total) return;
        p->last_print = now;
        int width = 30, fill = (int)(width * done / p->total);
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%s [%s] %ld/%ld %.1f/s ETA %s ", p->label, bar, done, p->total, rate, eta);
        fflush(stderr);
    } else {
        int dec = (int)(10 * done / p->total);
        if (dec == p->last_decile) return;
        p->last_decile = dec;
        fprintf(stderr, "%s: %ld/%ld (%.1f/s, ETA %s)\n", p->label, done, p->total, rate, eta);
    }
}

void ptq_progress_end(ptq_progress *p) {
    if (p->done < p->total) ptq_progress_update(p, p->total);
    if (p->tty) fprintf(stderr, " %.1fs\n", ptq_now_sec() - p->t0);
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ptq_rng_seed(ptq_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ptq_rng_u64(ptq_rng *r) {
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double ptq_rng_uniform(ptq_rng *r) { return (double)(ptq_rng_u64(r) >> 11) * 0x1.0p-53; }

double ptq_rng_normal(ptq_rng *r) {
    double u1 = ptq_rng_uniform(r), u2 = ptq_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

const char *ptq_git_commit(void) { return PTQ_GIT_COMMIT; }
const char *ptq_version(void) { return "0.1.0"; }

const char *ptq_blas_kernels(void) {
    const char *k = getenv("OPENBLAS_CORETYPE");
    return k ? k : "default";
}

const char *ptq_blas_kernels_cpu(void) {
    const char *k = getenv("PTQ_CPU_CORETYPE");
    return k ? k : "unknown";
}

const char *ptq_shape_str(const long long *shape, int ndim, char *buf, size_t cap) {
    size_t o = 0;
    if (cap == 0) return buf;
    buf[0] = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}
