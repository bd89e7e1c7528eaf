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
        fuzz_forward_and_free(&m);
    }
    fuzz_file_close(fd);
    return 0;
}
