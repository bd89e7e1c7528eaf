/* fuzz_safetensors.c — a .safetensors file (header JSON, offsets, dtypes,
 * shapes) read tensor by tensor, or (first byte odd) an HF config.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "fuzz.h"
#include "hf_checkpoint.h"
#include "safetensors.h"

static char dir[64];

static void config_json(const uint8_t *data, size_t size) {
    char p[128];
    ptq_err err;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ptq_fuzz_hf_%d", (int)getpid());
        if (ptq_mkdir_p(dir, &err)) return;
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(data, 1, size, f);
    fclose(f);
    ptq_config c;
    ptq_hf_read_config(dir, &c, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) {
        config_json(data + 1, size - 1);
        return 0;
    }
    int fd;
    const char *path = fuzz_file(data + 1, size - 1, &fd);
    ptq_st st;
    ptq_err err;
    if (path && ptq_st_open(&st, path, &err) == 0) {
        for (int i = 0; i < st.n_tensors; i++) {
            const ptq_st_tensor *t = &st.tensors[i];
            size_t n = 1;
            for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
            if (n > (1u << 20)) continue;
            float *out = malloc(sizeof(float) * (n ? n : 1));
            if (out) ptq_st_read_f32(&st, t, out, &err);
            free(out);
            ptq_st_release(&st, t);
        }
        ptq_st_close(&st);
    }
    fuzz_file_close(fd);
    return 0;
}
