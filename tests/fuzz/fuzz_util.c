/* fuzz_util.c — memfd files and the tokenizer exercise for the harnesses (fuzz.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "testref.h"

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

void fuzz_tokenizer_texts(ptq_tokenizer *t, const char *const *texts, int ntexts) {
    ptq_err err;
    for (int k = 0; k < ntexts; k++) {
        int *ids = NULL, n = 0;
        if (t->encode(t, texts[k], strlen(texts[k]), 1, 1, &ids, &n, &err) == 0) {
            for (int i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= t->vocab_size) abort(); /* an id past the vocabulary is a bug */
            free(ptq_tokenizer_decode_all(t, ids, n));
        }
        free(ids);
    }
    ptq_tokenizer_free(t);
}

void fuzz_forward_and_free(ptq_model *m) {
    ptq_err err;
    ptq_state s;
    int T = m->cfg.max_seq < 2 ? m->cfg.max_seq : 2, toks[2] = {1 % m->cfg.vocab_size, 0};
    if (ptq_state_init(&s, m, T, &err) == 0) {
        ptq_forward(m, &s, toks, T, 0, NULL, 0, &err);
        ptq_state_free(&s);
    }
    ptq_model_free(m);
}
