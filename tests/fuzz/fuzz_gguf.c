/* fuzz_gguf.c — a GGUF file (src/model/io/gguf.h): the container (every
 * length, count, type, offset), then, for a small LLaMA-shaped model, the
 * weights (block types dequantized), the embedded tokenizer ("llama" or
 * "gpt2" vocabularies) on a few texts, and a forward pass of two tokens. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ptq_gguf g;
    ptq_err err;
    if (ptq_gguf_open_mem(&g, data, size, "fuzz.gguf", &err)) return 0;
    for (int i = 0; i < g.n_tensors; i++) { /* every readable tensor converts (or fails cleanly) */
        const ptq_gguf_tensor *t = &g.tensors[i];
        if (ptq_gguf_numel(t) > (1 << 18)) continue;
        float *out = malloc(sizeof(float) * (size_t)ptq_gguf_numel(t));
        if (out) ptq_gguf_read_f32(&g, t, out, &err);
        free(out);
    }
    ptq_config c;
    int small = ptq_gguf_read_config(&g, &c, &err) == 0 &&
                (long)c.vocab_size * c.dim + (long)c.n_layers * c.dim * (c.dim + c.hidden_dim) * 4 < (1L << 22) &&
                c.max_seq <= 1 << 16;
    ptq_gguf_close(&g);
    ptq_tokenizer *tok;
    if (ptq_gguf_open_mem(&g, data, size, "fuzz.gguf", &err) == 0) {
        if (ptq_gguf_tokenizer(&g, &tok, &err) == 0) {
            static const char *const texts[] = {"Once upon a time, 12 cats", " a\tb\n\xc3\xa9\xe2\x96\x81 <s>"};
            fuzz_tokenizer_texts(tok, texts, 2);
        }
        ptq_gguf_close(&g);
    }
    if (!small) return 0;
    int fd;
    const char *path = fuzz_file(data, size, &fd);
    ptq_model m;
    if (path && ptq_load_gguf(&m, path, NULL, &err) == 0) {
        fuzz_forward_and_free(&m);
    }
    fuzz_file_close(fd);
    return 0;
}
