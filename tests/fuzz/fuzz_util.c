/* fuzz_util.c — memfd files for the harnesses (fuzz.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

const char *fuzz_file(const uint8_t *data, size_t size, int *fd) {
    static char path[64];
    *fd = memfd_create("ptq_fuzz", 0);
    if (*fd < 0) return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(*fd, data + done, size - done);
        if (w <= 0) {
            close(*fd);
            *fd = -1;
            return NULL;
        }
        done += (size_t)w;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", *fd);
    return path;
}

void fuzz_file_close(int fd) {
    if (fd >= 0) close(fd);
}
