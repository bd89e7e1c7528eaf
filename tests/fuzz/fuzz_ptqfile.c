/* fuzz_ptqfile.c — a ptqbench .ptq file (src/model/io/ptqfile.h): loaded as
 * given (the envelope checks: magic, lengths, padding, sha256), then
 * re-signed — the payload length, the padding and the sha256 made to match
 * the bytes, as an honest writer would — so that mutations of the JSON
 * header and the payload reach the semantic checks behind the checksum. A
 * file that loads runs one forward pass of two tokens. Versions 1..3 have
 * the header first, version 4 the payload at 128 and the header last. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "model.h"
#include "ptqfile.h"

enum { FIXED = 96, ALIGN = 64 };

static void load(const uint8_t *data, size_t size) {
    int fd;
    const char *path = fuzz_file(data, size, &fd);
    ptq_model m;
    ptq_err err;
    cJSON *meta = NULL;
    if (path && ptq_file_load(path, &m, &meta, &err) == 0) {
        fuzz_forward_and_free(&m);
        cJSON_Delete(meta);
    }
    fuzz_file_close(fd);
}

/* Version 4: payload at 128, the last jl bytes the JSON; sha256 of payload + JSON + fixed[0..32). */
static int resign4(uint8_t *d, size_t size, uint64_t jl) {
    if (size < 128) return 0;
    if (jl > size - 128) jl = size - 128, memcpy(d + 16, &jl, 8);
    uint64_t pl = size - 128 - jl;
    memcpy(d + 24, &pl, 8);
    memset(d + FIXED, 0, 128 - FIXED);
    uint8_t *cat = malloc(size - 128 + 32);
    char hex[65];
    if (!cat) return 0;
    memcpy(cat, d + 128, size - 128), memcpy(cat + size - 128, d, 32);
    ptq_sha256_buf(cat, size - 128 + 32, hex);
    free(cat);
    memcpy(d + 32, hex, 64);
    return 1;
}

/* The fixed header made consistent with the bytes that follow it. */
static int resign(uint8_t *d, size_t size) {
    if (size < FIXED) return 0;
    uint32_t ver;
    uint64_t jl, pl;
    memcpy(&ver, d + 8, 4), memcpy(&jl, d + 16, 8);
    if (ver >= 4) return resign4(d, size, jl);
    if (jl > size - FIXED) jl = size - FIXED, memcpy(d + 16, &jl, 8);
    size_t poff = (FIXED + (size_t)jl + ALIGN - 1) / ALIGN * ALIGN;
    if (poff > size) return 0;
    memset(d + FIXED + jl, 0, poff - FIXED - jl);
    pl = size - poff;
    memcpy(d + 24, &pl, 8);
    char hex[65];
    if (ver >= 2) { /* fixed[0..32) + JSON + payload */
        uint8_t *cat = malloc(32 + jl + pl);
        if (!cat) return 0;
        memcpy(cat, d, 32), memcpy(cat + 32, d + FIXED, jl), memcpy(cat + 32 + jl, d + poff, pl);
        ptq_sha256_buf(cat, 32 + jl + pl, hex);
        free(cat);
    } else
        ptq_sha256_buf(d + poff, pl, hex);
    memcpy(d + 32, hex, 64);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (resign(copy, size) && memcmp(copy, data, size)) load(copy, size);
    free(copy);
    return 0;
}
