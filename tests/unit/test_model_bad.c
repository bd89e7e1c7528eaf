/* test_model_bad.c — corrupt llama2.c checkpoints fail with a message that
 * names the file and the problem; nothing crashes or allocates absurdly. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/ptq_model_bad_XXXXXX";

static const char *write_tmp(const char *name, const void *data, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (len) fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

static void expect_fail(const char *name, const void *data, size_t len, const char *needle) {
    const char *path = write_tmp(name, data, len);
    ptq_model m;
    ptq_err err = {{0}};
    int rc = ptq_load_llama2c(&m, path, &err);
    CHECK(rc == -1);
    if (rc == 0) ptq_model_free(&m);
    CHECK(strstr(err.msg, path) != NULL);
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "%s: message lacks '%s': %s\n", name, needle, err.msg);
        tu_failures++;
    }
}

int main(void) {
    if (!mkdtemp(tmpdir)) return 1;
    expect_fail("empty.bin", "", 0, "too short");
    int32_t h[7] = {64, 172, 5, 8, 4, 512, 512};
    expect_fail("header_only.bin", h, sizeof h, "implies");
    /* real file, truncated by one float */
    const char *real = tu_asset("models/stories260K/stories260K.bin");
    CHECK(real != NULL);
    if (real) {
        char *data;
        size_t len;
        ptq_err err;
        CHECK(ptq_read_file(real, &data, &len, &err) == 0);
        expect_fail("trunc.bin", data, len - 4, "implies");
        /* dims that do not match the file size */
        int32_t *hh = (int32_t *)data;
        hh[1] = 173;
        expect_fail("dims.bin", data, len, "implies");
        hh[1] = 172;
        hh[0] = 1 << 30; /* absurd dim: rejected before any allocation */
        expect_fail("absurd.bin", data, len, "dim");
        hh[0] = 64;
        hh[4] = 3; /* 8 heads not a multiple of 3 kv heads */
        expect_fail("kvheads.bin", data, len, "n_kv_heads");
        hh[4] = 4;
        hh[2] = -5;
        expect_fail("neglayers.bin", data, len, "n_layers");
        hh[2] = 5;
        hh[6] = 0;
        expect_fail("seq0.bin", data, len, "max_seq");
        hh[6] = 512;
        hh[5] = INT32_MIN; /* the message shows the field as written, not 0 */
        expect_fail("vocabmin.bin", data, len, "vocab_size field = -2147483648");
        hh[5] = 512;
        /* a NaN or infinity in the weights: refused at load, naming the tensor */
        float *w = (float *)(data + 28);
        float saved = w[5];
        w[5] = NAN;
        expect_fail("nan.bin", data, len, "token_embedding[5] is nan");
        w[5] = saved;
        size_t q0 = 512 * 64 + 5 * 64; /* after tok_emb and the 5 rms_att vectors: layer 0 q_proj */
        w[q0 + 7] = INFINITY;
        expect_fail("inf.bin", data, len, "layer 0 q_proj[7] is inf");
        free(data);
    }
    ptq_model m;
    ptq_err err;
    CHECK(ptq_load_llama2c(&m, "/nonexistent/model.bin", &err) == -1 && strstr(err.msg, "cannot open"));
    CHECK(ptq_load_llama2c(&m, tmpdir, &err) == -1 && strstr(err.msg, "not a regular file"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return tu_done("test_model_bad");
}
