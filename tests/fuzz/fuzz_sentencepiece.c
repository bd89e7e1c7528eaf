/* fuzz_sentencepiece.c — a SentencePiece .model through the project's
 * libsentencepiece wrapper (sentencepiece.cc): load, encode, decode. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd;
    const char *path = fuzz_file(data, size, &fd);
    ptq_tokenizer *t = NULL;
    ptq_err err;
    if (path && ptq_tokenizer_load_sp(&t, path, &err) == 0) {
        static const char *const texts[] = {"Once upon a time, 12345 caf\xc3\xa9!", "", " x "};
        fuzz_tokenizer_texts(t, texts, (int)(sizeof texts / sizeof texts[0]));
    }
    fuzz_file_close(fd);
    return 0;
}
