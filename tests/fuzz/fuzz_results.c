/* fuzz_results.c — a results.jsonl file: read (torn lines, malformed rows),
 * then every metric lookup and the regression gate of the set against
 * itself. */
#include <stdio.h>

#include "compare.h"
#include "fuzz.h"
#include "results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd;
    const char *path = fuzz_file(data, size, &fd);
    ptq_rowset rs = {0};
    ptq_err err;
    FILE *devnull = fopen("/dev/null", "w");
    if (path && ptq_results_read_file(path, &rs, &err) == 0) {
        for (int i = 0; i < rs.n; i++) {
            ptq_row_metric(rs.rows[i], "ppl");
            ptq_row_str(rs.rows[i], "task");
        }
        ptq_compare_tol tol;
        ptq_compare_summary sum;
        ptq_compare_tol_default(&tol);
        ptq_compare(&rs, &rs, &tol, devnull, &sum, &err);
    }
    ptq_rowset_free(&rs);
    if (devnull) fclose(devnull);
    fuzz_file_close(fd);
    return 0;
}
