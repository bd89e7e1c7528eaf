/* test_results.c — JSONL store: append/read, truncated last line, malformed
 * middle line, the writer lock, shard merge + dedupe, kill -9 during appends. */
#define _GNU_SOURCE /* usleep, kill */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results.h"
#include "testutil.h"

static char dir[256];

static cJSON *row(const char *key, double ppl) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "row_key", key);
    cJSON_AddStringToObject(r, "id", key);
    cJSON *m = cJSON_AddObjectToObject(r, "metrics");
    cJSON_AddNumberToObject(m, "ppl", ppl);
    return r;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_append_read(void) {
    char path[512];
    ptq_results_path(dir, 0, 1, path, sizeof path);
    ptq_results_writer w;
    ptq_err err;
    CHECK(ptq_results_open(&w, path, &err) == 0);
    cJSON *rows[2] = {row("a", 1.5), row("b", 2.5)};
    CHECK(ptq_results_append(&w, rows, 2, &err) == 0);
    ptq_results_close(&w);
    cJSON_Delete(rows[0]), cJSON_Delete(rows[1]);
    ptq_rowset rs = {0};
    CHECK(ptq_results_read(path, &rs, &err) == 0);
    CHECK(rs.n == 2 && rs.truncated == 0);
    if (rs.n == 2) CHECK_NEAR(ptq_row_metric(rs.rows[1], "ppl"), 2.5, 0);
    CHECK(isnan(ptq_row_metric(rs.rows[0], "nope")));
    ptq_rowset_free(&rs);
}

static void test_truncated_and_malformed(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/trunc.jsonl", dir);
    write_text(path, "{\"row_key\":\"x\"}\n{\"row_key\":\"y\"}\n{\"row_key\":\"z\",\"metr");
    ptq_rowset rs = {0};
    ptq_err err;
    CHECK(ptq_results_read(path, &rs, &err) == 0);
    CHECK(rs.n == 2 && rs.truncated == 1);
    ptq_rowset_free(&rs);
    /* The writer cuts the torn tail before appending, so the file stays valid. */
    ptq_results_writer w;
    CHECK(ptq_results_open(&w, path, &err) == 0);
    cJSON *r = row("z", 3);
    CHECK(ptq_results_append(&w, &r, 1, &err) == 0);
    cJSON_Delete(r);
    ptq_results_close(&w);
    CHECK(ptq_results_read(path, &rs, &err) == 0);
    CHECK(rs.n == 3 && rs.truncated == 0);
    ptq_rowset_free(&rs);
    /* A bad line in the middle is corruption: an error naming file:line. */
    write_text(path, "{\"row_key\":\"x\"}\nnot json\n{\"row_key\":\"y\"}\n");
    CHECK(ptq_results_read(path, &rs, &err) == -1);
    CHECK(strstr(err.msg, "trunc.jsonl:2") != NULL);
    ptq_rowset_free(&rs);
    /* Empty file and missing file: empty sets, no error. */
    write_text(path, "");
    CHECK(ptq_results_read(path, &rs, &err) == 0 && rs.n == 0);
    snprintf(path, sizeof path, "%s/none.jsonl", dir);
    CHECK(ptq_results_read_file(path, &rs, &err) == 0 && rs.n == 0);
    CHECK(ptq_results_read(path, &rs, &err) == -1); /* a named path that does not exist */
    ptq_rowset_free(&rs);
}

static void test_lock(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/locked/results.jsonl", dir);
    ptq_results_writer a, b;
    ptq_err err;
    CHECK(ptq_results_open(&a, path, &err) == 0);
    CHECK(ptq_results_open(&b, path, &err) == -1);
    CHECK(strstr(err.msg, "locked by another running sweep") != NULL);
    ptq_results_close(&a);
    CHECK(ptq_results_open(&b, path, &err) == 0); /* released on close */
    ptq_results_close(&b);
}

static void test_shards_merge(void) {
    char sub[300], p0[512], p1[512];
    snprintf(sub, sizeof sub, "%s/sharded", dir);
    ptq_results_path(sub, 0, 2, p0, sizeof p0);
    ptq_results_path(sub, 1, 2, p1, sizeof p1);
    CHECK(strstr(p1, "results.shard-1-of-2.jsonl") != NULL);
    ptq_err err;
    ptq_results_writer w;
    cJSON *r[3] = {row("k0", 1), row("k1", 2), row("k0", 1)};
    CHECK(ptq_results_open(&w, p0, &err) == 0);
    CHECK(ptq_results_append(&w, r, 1, &err) == 0);
    ptq_results_close(&w);
    CHECK(ptq_results_open(&w, p1, &err) == 0);
    CHECK(ptq_results_append(&w, r + 1, 2, &err) == 0); /* k0 again: a duplicate across shards */
    ptq_results_close(&w);
    for (int i = 0; i < 3; i++) cJSON_Delete(r[i]);
    ptq_rowset rs = {0};
    CHECK(ptq_results_read(sub, &rs, &err) == 0);
    CHECK(rs.n == 2);
    ptq_rowset_free(&rs);
}

/* A child appends rows of 3 lines each as fast as it can; kill -9 it at a
 * random moment: the file holds whole groups only and reads cleanly. */
static void test_kill9(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/kill/results.jsonl", dir);
    pid_t pid = fork();
    if (pid == 0) {
        ptq_results_writer w;
        ptq_err err;
        if (ptq_results_open(&w, path, &err)) _exit(3);
        for (int i = 0;; i++) {
            char k[32];
            cJSON *rows[3];
            for (int j = 0; j < 3; j++) snprintf(k, sizeof k, "r%d-%d", i, j), rows[j] = row(k, i);
            ptq_results_append(&w, rows, 3, &err);
            for (int j = 0; j < 3; j++) cJSON_Delete(rows[j]);
        }
    }
    usleep(150000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st));
    ptq_rowset rs = {0};
    ptq_err err;
    CHECK(ptq_results_read(path, &rs, &err) == 0);
    CHECK(rs.n > 0 && rs.n % 3 == 0 && rs.truncated == 0);
    printf("kill -9 after 150 ms: %d complete rows\n", rs.n);
    ptq_rowset_free(&rs);
    ptq_results_writer w; /* the lock died with the child */
    CHECK(ptq_results_open(&w, path, &err) == 0);
    ptq_results_close(&w);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static long line_len(const cJSON *r) {
    char *s = cJSON_PrintUnformatted(r);
    long n = (long)strlen(s) + 1;
    free(s);
    return n;
}

/* The disk fills in the middle of a cell's second row (RLIMIT_FSIZE: a short
 * write, then EFBIG); the cell is written again afterwards (resume). The file
 * must hold every row once: the failed append leaves nothing behind. */
static void test_disk_full(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/full/results.jsonl", dir);
    ptq_results_writer w;
    ptq_err err;
    CHECK(ptq_results_open(&w, path, &err) == 0);
    cJSON *a[2] = {row("a1", 1), row("a2", 2)}, *b[2] = {row("b1", 3), row("b2", 4)};
    CHECK(ptq_results_append(&w, a, 2, &err) == 0);
    CHECK(ptq_results_append(&w, b, 2, &err) == 0); /* b as written (with what the writer adds) */
    long cell_a = file_size(path) - line_len(b[0]) - line_len(b[1]);
    CHECK(truncate(path, cell_a) == 0);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)(cell_a + line_len(b[0]) + line_len(b[1]) / 2);
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK(ptq_results_append(&w, b, 2, &err) == -1);
    CHECK(ptq_results_append(&w, b, 2, &err) == -1); /* at the limit: EFBIG */
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_DFL);
    ptq_results_close(&w);
    CHECK(ptq_results_open(&w, path, &err) == 0); /* resume: the cell again */
    CHECK(ptq_results_append(&w, b, 2, &err) == 0);
    ptq_results_close(&w);
    ptq_rowset rs = {0};
    CHECK(ptq_results_read_file(path, &rs, &err) == 0);
    CHECK(rs.n == 4 && rs.truncated == 0);
    for (int i = 0; i < rs.n && rs.n == 4; i++)
        CHECK(!strcmp(ptq_row_str(rs.rows[i], "row_key"), (const char *[]){"a1", "a2", "b1", "b2"}[i]));
    ptq_rowset_free(&rs);
    for (int i = 0; i < 2; i++) cJSON_Delete(a[i]), cJSON_Delete(b[i]);
}

/* A kill in the middle of a three-row cell's write leaves its first row
 * whole: readers skip the incomplete cell and the writer cuts it. */
static void test_torn_cell(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/torn/results.jsonl", dir);
    ptq_results_writer w;
    ptq_err err;
    CHECK(ptq_results_open(&w, path, &err) == 0);
    cJSON *a[2] = {row("a1", 1), row("a2", 2)}, *b[3] = {row("b1", 3), row("b2", 4), row("b3", 5)};
    CHECK(ptq_results_append(&w, a, 2, &err) == 0);
    long cell_a = file_size(path);
    CHECK(ptq_results_append(&w, b, 3, &err) == 0);
    ptq_results_close(&w);
    long b1 = line_len(b[0]);
    CHECK(truncate(path, cell_a + b1 + 7) == 0);
    ptq_rowset rs = {0};
    CHECK(ptq_results_read_file(path, &rs, &err) == 0);
    CHECK(rs.n == 2 && rs.truncated == 1);
    ptq_rowset_free(&rs);
    CHECK(truncate(path, cell_a + b1 - 1) == 0); /* cut before the first row's newline */
    CHECK(ptq_results_read_file(path, &rs, &err) == 0);
    CHECK(rs.n == 2 && rs.truncated == 1);
    ptq_rowset_free(&rs);
    CHECK(truncate(path, cell_a + b1) == 0); /* cut exactly after the first row */
    CHECK(ptq_results_read_file(path, &rs, &err) == 0);
    CHECK(rs.n == 2 && rs.truncated == 1);
    ptq_rowset_free(&rs);
    CHECK(ptq_results_open(&w, path, &err) == 0);
    ptq_results_close(&w);
    CHECK(file_size(path) == cell_a);
    for (int i = 0; i < 3; i++) cJSON_Delete(b[i]);
    cJSON_Delete(a[0]), cJSON_Delete(a[1]);
}

/* A failed cell's row gives way to the row of its successful re-run. */
static void test_failed_replaced(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/failed.jsonl", dir);
    write_text(path, "{\"row_key\":\"k\",\"status\":\"failed\",\"error\":\"boom\",\"metrics\":{}}\n"
                     "{\"row_key\":\"j\",\"metrics\":{\"ppl\":3}}\n"
                     "{\"row_key\":\"k\",\"metrics\":{\"ppl\":2}}\n"
                     "{\"row_key\":\"j\",\"status\":\"failed\",\"metrics\":{}}\n");
    ptq_rowset rs = {0};
    ptq_err err;
    CHECK(ptq_results_read(path, &rs, &err) == 0 && rs.n == 2);
    if (rs.n == 2) {
        CHECK(!ptq_row_failed(rs.rows[0]) && ptq_row_metric(rs.rows[0], "ppl") == 2);
        CHECK(!ptq_row_failed(rs.rows[1]) && ptq_row_metric(rs.rows[1], "ppl") == 3);
    }
    ptq_rowset_free(&rs);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ptq_test_results.%d", (int)getpid());
    ptq_err err;
    CHECK(ptq_mkdir_p(dir, &err) == 0);
    test_append_read();
    test_truncated_and_malformed();
    test_lock();
    test_shards_merge();
    test_kill9();
    test_disk_full();
    test_torn_cell();
    test_failed_replaced();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return tu_done("test_results");
}
