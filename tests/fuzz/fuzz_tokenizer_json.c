/* fuzz_tokenizer_json.c — a tokenizer.json (HF BPE, byte-level or
 * SentencePiece-style): load, then encode and decode a few texts. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd;
    const char *path = fuzz_file(data, size, &fd);
    ptq_tokenizer *t = NULL;
    ptq_err err;
    if (path && ptq_tokenizer_load_hf(&t, path, &err) == 0) {
        static const char *const texts[] = {"Once upon a time, 12345 caf\xc3\xa9 \xe6\x97\xa5!", "", "  \n\t x",
                                            "\xff\xfe invalid utf-8 \xc3"};
        fuzz_tokenizer_texts(t, texts, (int)(sizeof texts / sizeof texts[0]));
    }
    fuzz_file_close(fd);
    return 0;
}
