/* open.c — a tokenizer file opened by what it contains, not by its name:
 * tokenizer.json (a JSON object), a SentencePiece .model (a protobuf whose
 * first field is a length-delimited piece, bytes 0x0A then a non-zero
 * length), else a llama2.c tokenizer.bin (int32 max_token_length, then the
 * pieces). A .model handed to a llama2.c model is read as SentencePiece,
 * never parsed as tokenizer.bin. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer.h"

typedef enum { KIND_LLAMA2C, KIND_JSON, KIND_SENTENCEPIECE } tok_kind;

static int sniff(const char *path, tok_kind *kind, ptq_err *err) {
    struct stat st;
    if (stat(path, &st)) return ptq_fail(err, "%s: cannot open tokenizer: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return ptq_fail(err, "%s: tokenizer is not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ptq_fail(err, "%s: cannot open tokenizer: %s", path, strerror(errno));
    unsigned char b[64];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n < 2) return ptq_fail(err, "%s: tokenizer file is empty or truncated (%zu bytes)", path, n);
    size_t i = 0;
    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) i = 3; /* UTF-8 byte order mark */
    while (i < n && strchr(" \t\r\n", b[i])) i++;
    *kind = i < n && b[i] == '{' ? KIND_JSON : b[0] == 0x0A && b[1] != 0 ? KIND_SENTENCEPIECE : KIND_LLAMA2C;
    return 0;
}

int ptq_tokenizer_open(const char *path, int vocab_size, ptq_tokenizer **out, ptq_err *err) {
    tok_kind kind;
    *out = NULL;
    if (sniff(path, &kind, err)) return -1;
    int rc = kind == KIND_JSON              ? ptq_tokenizer_load_hf(out, path, err)
             : kind == KIND_SENTENCEPIECE ? ptq_tokenizer_load_sp(out, path, err)
                                          : ptq_tokenizer_load_llama2c(out, path, vocab_size, err);
    if (rc) return -1;
    if ((*out)->vocab_size > vocab_size) {
        ptq_fail(err, "%s: tokenizer has %d tokens but the model's vocab_size is %d", path, (*out)->vocab_size,
                 vocab_size);
        ptq_tokenizer_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
