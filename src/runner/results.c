/* results.c — append-only JSONL store with a lock, torn-tail repair and a
 * tolerant reader (see results.h for the guarantees). */
#define _GNU_SOURCE /* pread, flock */
#include "results.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void ptq_results_path(const char *dir, int shard, int nshards, char *out, size_t cap) {
    if (nshards <= 1) snprintf(out, cap, "%s/results.jsonl", dir);
    else snprintf(out, cap, "%s/results.shard-%d-of-%d.jsonl", dir, shard, nshards);
}

/* Start of the line that ends at text[end] (end: just past its '\n'). */
static size_t line_start(const char *text, size_t end) {
    size_t i = end ? end - 1 : 0;
    while (i > 0 && text[i - 1] != '\n') i--;
    return i;
}

/* The i-th of the n rows its cell was appended with; 1 of 1 when unmarked. */
static void cell_part(const char *line, size_t len, int *i, int *n) {
    *i = *n = 1;
    cJSON *r = cJSON_ParseWithLength(line, len);
    const cJSON *ri = cJSON_GetObjectItemCaseSensitive(r, "cell_row"), *rn = cJSON_GetObjectItemCaseSensitive(r, "cell_rows");
    if (cJSON_IsNumber(ri) && cJSON_IsNumber(rn) && ri->valueint >= 1 && ri->valueint <= rn->valueint)
        *i = ri->valueint, *n = rn->valueint;
    cJSON_Delete(r);
}

static int is_object(const char *text, size_t len) {
    cJSON *r = cJSON_ParseWithLength(text, len);
    int ok = cJSON_IsObject(r);
    cJSON_Delete(r);
    return ok;
}

/* Length of the prefix of text made of whole cells: a torn last line and
 * the rows of a cell whose last rows never landed are outside it. An
 * unterminated last line counts as whole when it parses (`whole_tail`: for
 * hand-written files; the writer always ends a row with '\n'). */
static size_t whole_cells_len(const char *text, size_t len, int whole_tail) {
    size_t end = len;
    while (end > 0 && text[end - 1] != '\n') end--;
    if (whole_tail && end < len && is_object(text + end, len - end)) end = len;
    if (end == 0) return 0;
    size_t ls = line_start(text, end);
    int i, n;
    cell_part(text + ls, end - ls, &i, &n);
    if (i == n) return end;
    for (end = ls; --i > 0 && end > 0;) end = line_start(text, end); /* rows 1..i-1 of that cell */
    return end;
}

/* Cut what follows the last whole cell: the remains of a write that never
 * completed. Runs under the lock, so no writer is active. */
static int cut_torn_tail(int fd, const char *path, ptq_err *err) {
    struct stat st;
    if (fstat(fd, &st)) return ptq_fail(err, "%s: stat failed: %s", path, strerror(errno));
    size_t len = (size_t)st.st_size;
    char *text = malloc(len + 1);
    if (!text) return ptq_fail(err, "%s: out of memory reading %zu bytes", path, len);
    ssize_t got = len ? pread(fd, text, len, 0) : 0;
    size_t keep = got == (ssize_t)len ? whole_cells_len(text, len, 0) : 0;
    free(text);
    if (got != (ssize_t)len) return ptq_fail(err, "%s: read failed: %s", path, strerror(errno));
    if (keep == len) return 0;
    fprintf(stderr,
            "warning: %s: dropping %zu bytes at the end (a truncated row or the rows of an incomplete cell) left "
            "by an interrupted write\n",
            path, len - keep);
    if (ftruncate(fd, (off_t)keep) || fsync(fd)) return ptq_fail(err, "%s: truncate failed: %s", path, strerror(errno));
    return 0;
}

int ptq_results_open(ptq_results_writer *w, const char *path, ptq_err *err) {
    memset(w, 0, sizeof *w);
    w->fd = w->lock_fd = -1;
    snprintf(w->path, sizeof w->path, "%s", path);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (ptq_mkdir_p(dir, err)) return -1;
    }
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", path);
    w->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0) return ptq_fail(err, "%s: cannot create lock file: %s", lock, strerror(errno));
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        close(w->lock_fd);
        w->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return ptq_fail(err,
                            "%s is locked by another running sweep (lock %s); wait for it to finish or write "
                            "to another directory (--out) or shard (--shard I/N)",
                            path, lock);
        return ptq_fail(err, "%s: flock failed: %s", lock, strerror(e));
    }
    w->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        ptq_fail(err, "%s: cannot open for appending: %s", path, strerror(errno));
        ptq_results_close(w);
        return -1;
    }
    if (cut_torn_tail(w->fd, path, err)) {
        ptq_results_close(w);
        return -1;
    }
    return 0;
}

/* Directory part of path ("." when none). */
static void dir_of(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s", path);
    char *sl = strrchr(out, '/');
    if (!sl) snprintf(out, cap, ".");
    else sl[sl == out] = 0; /* "/x" -> "/" */
}

/* Each array of numbers in the row's "side" object becomes the float32 file
 * side/<sha256>.f32 next to the results file (tmp + fsync + rename, before
 * the row is written: a row never names a file that is not whole; a cell
 * cut after its files landed leaves unreferenced files, which are harmless
 * since the name is the content), and the array becomes {file, sha256, n}. */
static int write_side(const char *results_path, cJSON *row, ptq_err *err) {
    cJSON *side = cJSON_GetObjectItemCaseSensitive(row, "side");
    char dir[4096], p[4400];
    dir_of(results_path, dir, sizeof dir);
    for (cJSON *a = side ? side->child : NULL; a; a = a->next) {
        if (!cJSON_IsArray(a)) continue;
        int n = cJSON_GetArraySize(a), k = 0;
        float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (!v) return ptq_fail(err, "out of memory writing side values");
        for (const cJSON *x = a->child; x; x = x->next) v[k++] = (float)x->valuedouble;
        char sha[65];
        ptq_sha256_buf(v, sizeof(float) * (size_t)n, sha);
        snprintf(p, sizeof p, "%s/side", dir);
        int rc = ptq_mkdir_p(p, err);
        snprintf(p, sizeof p, "%s/side/%s.f32", dir, sha);
        if (!rc && !ptq_file_exists(p)) rc = ptq_write_file_atomic(p, v, sizeof(float) * (size_t)n, err);
        free(v);
        if (rc) return ptq_wrap(err, "side file of row %s", a->string);
        cJSON *ref = cJSON_CreateObject();
        snprintf(p, sizeof p, "side/%s.f32", sha);
        cJSON_AddStringToObject(ref, "file", p);
        cJSON_AddStringToObject(ref, "sha256", sha);
        cJSON_AddNumberToObject(ref, "n", n);
        char name[128];
        snprintf(name, sizeof name, "%s", a->string ? a->string : "");
        cJSON_ReplaceItemInObjectCaseSensitive(side, name, ref); /* frees a */
        a = ref;
    }
    return 0;
}

int ptq_results_append(ptq_results_writer *w, cJSON *const *rows, int n, ptq_err *err) {
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (int i = 0; i < n; i++)
        if (write_side(w->path, rows[i], err)) return -1;
    for (int i = 0; i < n; i++) {
        /* Which row of how many: a reader can tell a cell whose last rows are missing. */
        cJSON_DeleteItemFromObjectCaseSensitive(rows[i], "cell_row");
        cJSON_DeleteItemFromObjectCaseSensitive(rows[i], "cell_rows");
        cJSON_AddNumberToObject(rows[i], "cell_row", i + 1);
        cJSON_AddNumberToObject(rows[i], "cell_rows", n);
        char *s = cJSON_PrintUnformatted(rows[i]);
        if (!s) {
            free(buf);
            return ptq_fail(err, "%s: cannot serialize row %d", w->path, i);
        }
        size_t sl = strlen(s);
        if (len + sl + 2 > cap) {
            cap = (len + sl + 2) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(s);
                free(buf);
                return ptq_fail(err, "%s: out of memory serializing rows", w->path);
            }
            buf = nb;
        }
        memcpy(buf + len, s, sl);
        len += sl;
        buf[len++] = '\n';
        free(s);
    }
    /* One write on O_APPEND; a short one (disk full) is undone to the old end. */
    off_t before = lseek(w->fd, 0, SEEK_END);
    ssize_t wr = len && before >= 0 ? write(w->fd, buf, len) : 0;
    int e = errno;
    free(buf);
    if (before < 0) return ptq_fail(err, "%s: seek failed: %s", w->path, strerror(e));
    if (wr != (ssize_t)len) {
        if (wr > 0 && ftruncate(w->fd, before))
            return ptq_fail(err, "%s: append failed (short write) and cutting it failed: %s", w->path,
                            strerror(errno));
        return ptq_fail(err, "%s: append failed: %s", w->path, wr < 0 ? strerror(e) : "short write (disk full?)");
    }
    if (fsync(w->fd)) return ptq_fail(err, "%s: fsync failed: %s", w->path, strerror(errno));
    return 0;
}

void ptq_results_close(ptq_results_writer *w) {
    if (w->fd >= 0) close(w->fd);
    if (w->lock_fd >= 0) close(w->lock_fd); /* releases the flock */
    w->fd = w->lock_fd = -1;
}

static int rowset_push(ptq_rowset *rs, cJSON *row, const char *dir, ptq_err *err) {
    if (!rs->dirs && rs->n) { /* rows put in by hand before: no directory */
        if (!(rs->dirs = calloc((size_t)rs->cap, sizeof *rs->dirs))) return ptq_fail(err, "out of memory reading results");
    }
    if (rs->n == rs->cap) {
        int nc = rs->cap ? rs->cap * 2 : 64;
        cJSON **nr = realloc(rs->rows, (size_t)nc * sizeof *nr);
        char **nd = nr ? realloc(rs->dirs, (size_t)nc * sizeof *nd) : NULL;
        if (nr) rs->rows = nr;
        if (!nd) return ptq_fail(err, "out of memory reading results");
        rs->dirs = nd;
        rs->cap = nc;
    }
    rs->dirs[rs->n] = strdup(dir);
    rs->rows[rs->n++] = row;
    return 0;
}

int ptq_results_read_file(const char *path, ptq_rowset *rs, ptq_err *err) {
    if (!ptq_file_exists(path)) return 0;
    char *text;
    size_t len;
    if (ptq_read_file(path, &text, &len, err)) return -1;
    size_t whole = whole_cells_len(text, len, 1);
    if (whole < len && (memchr(text + whole, '\n', len - whole) || is_object(text + whole, len - whole))) {
        fprintf(stderr, "warning: %s: skipping the rows of an incomplete last cell left by an interrupted write\n",
                path);
        rs->truncated++;
        len = whole;
    }
    int lineno = 0, rc = 0;
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    for (char *p = text; p < text + len && !rc;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        int last = !nl;
        if (nl) *nl = 0;
        lineno++;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            cJSON *row = cJSON_Parse(q);
            if (row && cJSON_IsObject(row)) {
                rc = rowset_push(rs, row, dir, err);
                if (rc) cJSON_Delete(row);
            } else {
                cJSON_Delete(row);
                /* A torn last line is expected after a crash; anything else is corruption. */
                int only_ws_after = 1;
                for (char *r = nl ? nl + 1 : text + len; r < text + len; r++)
                    if (*r != '\n' && *r != ' ' && *r != '\r' && *r != '\t') only_ws_after = 0;
                if (last || only_ws_after) {
                    fprintf(stderr, "warning: %s:%d: skipping a truncated/malformed last line\n", path, lineno);
                    rs->truncated++;
                } else {
                    rc = ptq_fail(err, "%s:%d: malformed JSONL row (expected one JSON object per line)", path,
                                  lineno);
                }
            }
        }
        if (last) break;
        p = nl + 1;
    }
    free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int find_key(const ptq_rowset *rs, int upto, const char *key) {
    for (int i = 0; i < upto; i++) {
        const char *k = ptq_row_str(rs->rows[i], "row_key");
        if (k && !strcmp(k, key)) return i;
    }
    return -1;
}

int ptq_results_read(const char *path, ptq_rowset *rs, ptq_err *err) {
    struct stat st;
    if (stat(path, &st)) return ptq_fail(err, "%s: no such results file or directory", path);
    int start = rs->n;
    if (!S_ISDIR(st.st_mode)) {
        if (ptq_results_read_file(path, rs, err)) return -1;
    } else {
        DIR *d = opendir(path);
        if (!d) return ptq_fail(err, "%s: cannot open directory: %s", path, strerror(errno));
        char *names[1024];
        int nn = 0;
        for (struct dirent *e; (e = readdir(d)) && nn < 1024;) {
            size_t l = strlen(e->d_name);
            if (strncmp(e->d_name, "results", 7) == 0 && l > 6 && strcmp(e->d_name + l - 6, ".jsonl") == 0)
                names[nn++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, (size_t)nn, sizeof *names, cmp_str);
        int rc = 0;
        for (int i = 0; i < nn; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, names[i]);
            if (!rc) rc = ptq_results_read_file(p, rs, err);
            free(names[i]);
        }
        if (rc) return -1;
    }
    /* Merge: the same row may exist in two shard files after a re-shard, a
     * failed cell's rows before those of its successful re-run. */
    int w = start;
    for (int i = start; i < rs->n; i++) {
        const char *k = ptq_row_str(rs->rows[i], "row_key");
        int j = k ? find_key(rs, w, k) : -1;
        if (j < 0) rs->dirs[w] = rs->dirs[i], rs->rows[w++] = rs->rows[i];
        else if (ptq_row_failed(rs->rows[j]) && !ptq_row_failed(rs->rows[i])) {
            cJSON_Delete(rs->rows[j]);
            free(rs->dirs[j]);
            rs->rows[j] = rs->rows[i], rs->dirs[j] = rs->dirs[i];
        } else
            cJSON_Delete(rs->rows[i]), free(rs->dirs[i]);
    }
    rs->n = w;
    return 0;
}

void ptq_rowset_free(ptq_rowset *rs) {
    for (int i = 0; i < rs->n; i++) {
        cJSON_Delete(rs->rows[i]);
        if (rs->dirs) free(rs->dirs[i]);
    }
    free(rs->rows);
    free(rs->dirs);
    memset(rs, 0, sizeof *rs);
}

int ptq_row_failed(const cJSON *row) {
    const char *s = ptq_row_str(row, "status");
    return s && !strcmp(s, "failed");
}

double ptq_row_metric(const cJSON *row, const char *name) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(row, "metrics");
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, name) : NULL;
    if (!v) v = cJSON_GetObjectItemCaseSensitive(row, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *ptq_row_str(const cJSON *row, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int ptq_row_side(const ptq_rowset *rs, const cJSON *row, const char *name, float **v, int *n, ptq_err *err) {
    *v = NULL, *n = 0;
    int i = 0;
    while (i < rs->n && rs->rows[i] != row) i++;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(row, "side"), name);
    const char *file = ptq_row_str(ref, "file"), *sha = ptq_row_str(ref, "sha256");
    double want = ptq_row_metric(ref, "n");
    if (!file || !sha || !(want >= 0)) return ptq_fail(err, "no side values '%s' in the row", name);
    if (strstr(file, "..") || file[0] == '/') return ptq_fail(err, "side file name '%s' leaves the results directory", file);
    char p[8400], got[65];
    snprintf(p, sizeof p, "%s/%s", i < rs->n && rs->dirs && rs->dirs[i] ? rs->dirs[i] : ".", file);
    char *data;
    size_t len;
    if (!ptq_file_exists(p)) return ptq_fail(err, "side file %s is missing", p);
    if (ptq_read_file(p, &data, &len, err)) return -1;
    ptq_sha256_buf(data, len, got);
    if (strcmp(got, sha) || len != sizeof(float) * (size_t)want) {
        free(data);
        return ptq_fail(err, "side file %s does not match the row (sha256 %.12s, row says %.12s; %zu bytes for n = %g)",
                        p, got, sha, len, want);
    }
    *v = (float *)data, *n = (int)want;
    return 0;
}
