/* fuzz_zeroshot.c — a zero-shot task file in the format of one task of the
 * table (first byte picks the task): every loader (JSONL, CSV, the
 * HellaSwag text, PIQA's labels list after a NUL byte) turns it into items
 * or an error. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "zeroshot_tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int ntasks = 0;
    while (ptq_zs_task_table[ntasks].name) ntasks++;
    const ptq_zs_task *t = &ptq_zs_task_table[data[0] % ntasks];
    /* a task with two files (PIQA: items, labels): the bytes after the first NUL are the second file */
    const uint8_t *body = data + 1, *nul = memchr(body, 0, size - 1);
    size_t n1 = t->asset2 && nul ? (size_t)(nul - body) : size - 1;
    int fd, fd2 = -1;
    char p1[64] = "", p2[64] = "";
    const char *path = fuzz_file(body, n1, &fd);
    if (path) snprintf(p1, sizeof p1, "%s", path);
    if (path && t->asset2 && (path = fuzz_file(nul ? nul + 1 : body + n1, nul ? size - 2 - n1 : 0, &fd2)))
        snprintf(p2, sizeof p2, "%s", path);
    ptq_zs_data d;
    ptq_err err;
    if (p1[0] && (!t->asset2 || p2[0]) && ptq_zs_load_files(t, p1, t->asset2 ? p2 : NULL, &d, &err) == 0)
        ptq_zs_data_free(&d);
    fuzz_file_close(fd);
    fuzz_file_close(fd2);
    return 0;
}
