/* fuzz_llama2c_model.c — a llama2.c checkpoint: load (header, sizes, every
 * tensor finite), then one forward pass of two tokens when it loads. */
#include <stdlib.h>

#include "fuzz.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd;
    const char *path = fuzz_file(data, size, &fd);
    ptq_model m;
    ptq_err err;
    if (path && ptq_load_llama2c(&m, path, &err) == 0) {
        ptq_state s;
        int T = m.cfg.max_seq < 2 ? m.cfg.max_seq : 2, toks[2] = {1 % m.cfg.vocab_size, 0};
        if (ptq_state_init(&s, &m, T, &err) == 0) {
            ptq_forward(&m, &s, toks, T, 0, NULL, 0, &err);
            ptq_state_free(&s);
        }
        ptq_model_free(&m);
    }
    fuzz_file_close(fd);
    return 0;
}
