/* fuzz_tokenizer_llama2c.c — a llama2.c tokenizer.bin (vocabulary size from
 * the input's first byte, as a model header would give it): load, encode,
 * decode. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int vocab = 1 + data[0]; /* 1..256 */
    int fd;
    const char *path = fuzz_file(data + 1, size - 1, &fd);
    ptq_tokenizer *t = NULL;
    ptq_err err;
    if (path && ptq_tokenizer_load_llama2c(&t, path, vocab, &err) == 0) {
        static const char *const texts[] = {"Once upon a time, caf\xc3\xa9 \xe6\x97\xa5!", "", "ab ba abba"};
        fuzz_tokenizer_texts(t, texts, (int)(sizeof texts / sizeof texts[0]));
    }
    fuzz_file_close(fd);
    return 0;
}
