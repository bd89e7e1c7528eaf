/* make_mix.c — writes tests/data/ggml/mix.txt: the ggml type llama.cpp's
 * llama_model_quantize gives every tensor of a few F32 GGUF models, per
 * ftype, with and without an importance matrix, for
 * tests/methods/test_ggml_method.c. Also checks that every quantized tensor
 * in llama.cpp's output file holds exactly ggml_quantize_chunk's bytes of
 * the F32 tensor with the same imatrix (what test_ggml_types compares our
 * quantizers with), so the fixtures together cover the whole file.
 * Not part of the build (links the peer's libllama; see make_ref.c):
 *
 *   P=/tmp/llamacpp-peer; L=$P/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
 *   cc -O2 -I$P/llama.cpp-headers/include -I$P/llama.cpp-headers/ggml/include tests/data/ggml/make_mix.c \
 *      -o /tmp/make_mix -L$L -l:libllama.v0.4.0.so -l:libggml-base.so -Wl,-rpath,$L
 *   /tmp/make_mix OUT.txt NAME=MODEL.gguf ...   (models from gguf_write.py, F32)
 *
 * Line format: NAME FTYPE IMATRIX(0/1) PURE(0/1) TYPES, TYPES one letter
 * per tensor ('a' + ggml type id: c q4_0, i q8_0, m q4_K, o q6_K, b f16,
 * ...): token_embd, output, then per layer q k v o gate up down. The
 * imatrix is imatrix_value() below for every column of every tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

static const struct {
    const char *name;
    int ftype, imatrix; /* 0: run without, 1: without and with, 2: only with (llama.cpp requires it) */
} FT[] = {
    {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0, 0},     {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K, 0},
    {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M, 0}, {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S, 0},
    {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0, 1},     {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1, 0},
    {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M, 0}, {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S, 0},
    {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0, 1},     {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1, 0},
    {"iq4_nl", LLAMA_FTYPE_MOSTLY_IQ4_NL, 1}, {"q3_k_l", LLAMA_FTYPE_MOSTLY_Q3_K_L, 0},
    {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M, 0}, {"q3_k_s", LLAMA_FTYPE_MOSTLY_Q3_K_S, 0},
    {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K, 0},     {"q2_k_s", LLAMA_FTYPE_MOSTLY_Q2_K_S, 2},
};
static const char *const ROLE[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

static float imatrix_value(long j) { return 0.05f + (float)((j * 7919) % 1000) / 250.0f; }

/* tensor index by name, or -1 */
static long find(const struct gguf_context *g, const char *name) { return gguf_find_tensor(g, name); }

static int check_bytes(const char *in, const char *out, int with_im, int *nchecked) {
    struct ggml_context *c0 = NULL, *c1 = NULL;
    struct gguf_context *g0 = gguf_init_from_file(in, (struct gguf_init_params){.no_alloc = false, .ctx = &c0});
    struct gguf_context *g1 = gguf_init_from_file(out, (struct gguf_init_params){.no_alloc = false, .ctx = &c1});
    if (!g0 || !g1) return fprintf(stderr, "cannot read %s or %s\n", in, out), -1;
    int bad = 0;
    for (long i = 0; i < gguf_get_n_tensors(g1); i++) {
        const char *name = gguf_get_tensor_name(g1, i);
        struct ggml_tensor *t1 = ggml_get_tensor(c1, name), *t0 = ggml_get_tensor(c0, name);
        if (!t0 || !t1 || t0->type != GGML_TYPE_F32 || !ggml_is_quantized(t1->type) || ggml_n_dims(t0) != 2) continue;
        long nrow = t0->ne[1], ncol = t0->ne[0];
        float *im = NULL;
        if (with_im && strcmp(name, "token_embd.weight")) { /* llama.cpp has no imatrix for token_embd (get_rows) */
            im = malloc(sizeof(float) * ncol);
            for (long j = 0; j < ncol; j++) im[j] = imatrix_value(j);
        }
        size_t n = ggml_row_size(t1->type, ncol) * nrow;
        void *buf = malloc(n);
        ggml_quantize_chunk(t1->type, t0->data, buf, 0, nrow, ncol, im);
        if (n != ggml_nbytes(t1) || memcmp(buf, t1->data, n))
            fprintf(stderr, "%s: %s differs from ggml_quantize_chunk\n", out, name), bad++;
        (*nchecked)++;
        free(buf), free(im);
    }
    gguf_free(g0), gguf_free(g1), ggml_free(c0), ggml_free(c1);
    return bad ? -1 : 0;
}

static char tcode(const struct gguf_context *g, const char *name) {
    long i = find(g, name);
    return i < 0 ? '-' : (char)('a' + gguf_get_tensor_type(g, i));
}

static int run(FILE *fo, const char *mname, const char *path, int ftype_i, int with_im, int pure, int *nchecked) {
    /* imatrix entries for every 2-D weight except token_embd */
    struct ggml_context *c0 = NULL;
    struct gguf_context *g0 = gguf_init_from_file(path, (struct gguf_init_params){.no_alloc = true, .ctx = &c0});
    if (!g0) return -1;
    long nt = gguf_get_n_tensors(g0);
    struct llama_model_imatrix_data *imd = calloc(nt + 1, sizeof *imd);
    float **vals = calloc(nt, sizeof *vals);
    int k = 0;
    for (long i = 0; with_im && i < nt; i++) {
        struct ggml_tensor *t = ggml_get_tensor(c0, gguf_get_tensor_name(g0, i));
        if (ggml_n_dims(t) != 2 || !strcmp(t->name, "token_embd.weight")) continue;
        vals[i] = malloc(sizeof(float) * t->ne[0]);
        for (long j = 0; j < t->ne[0]; j++) vals[i][j] = imatrix_value(j);
        imd[k++] = (struct llama_model_imatrix_data){.name = t->name, .data = vals[i], .size = (size_t)t->ne[0]};
    }
    char out[512];
    snprintf(out, sizeof out, "/tmp/make_mix_%s_%s_%d%d.gguf", mname, FT[ftype_i].name, with_im, pure);
    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = FT[ftype_i].ftype, qp.nthread = 2, qp.pure = pure, qp.imatrix = with_im ? imd : NULL;
    int rc = llama_model_quantize(path, out, &qp) ? -1 : 0;
    for (long i = 0; i < nt; i++) free(vals[i]);
    free(vals), free(imd), gguf_free(g0), ggml_free(c0);
    if (rc) return fprintf(stderr, "quantize %s %s failed\n", path, FT[ftype_i].name), -1;
    if (check_bytes(path, out, with_im, nchecked)) return -1;

    struct gguf_context *g = gguf_init_from_file(out, (struct gguf_init_params){.no_alloc = true, .ctx = NULL});
    fprintf(fo, "%s %s %d %d %c%c", mname, FT[ftype_i].name, with_im, pure, tcode(g, "token_embd.weight"),
            tcode(g, "output.weight"));
    for (int l = 0;; l++) {
        char nm[96];
        snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l);
        if (find(g, nm) < 0) break;
        for (int r = 0; r < 7; r++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, ROLE[r]);
            fputc(tcode(g, nm), fo);
        }
    }
    fprintf(fo, "\n");
    gguf_free(g);
    remove(out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: make_mix OUT.txt NAME=MODEL.gguf ...\n"), 2;
    llama_backend_init();
    FILE *fo = fopen(argv[1], "w");
    int nchecked = 0;
    for (int a = 2; a < argc; a++) {
        char mname[64];
        const char *eq = strchr(argv[a], '=');
        snprintf(mname, sizeof mname, "%.*s", (int)(eq - argv[a]), argv[a]);
        for (int f = 0; f < (int)(sizeof FT / sizeof FT[0]); f++)
            for (int w = FT[f].imatrix == 2; w <= (FT[f].imatrix > 0); w++)
                if (run(fo, mname, eq + 1, f, w, 0, &nchecked)) return 1;
        /* pure: every tensor the base type (then the shape fallback) */
        if (run(fo, mname, eq + 1, 6, 0, 1, &nchecked) || run(fo, mname, eq + 1, 14, 1, 1, &nchecked)) return 1;
    }
    fclose(fo);
    printf("wrote %s; %d quantized tensors equal ggml_quantize_chunk's bytes\n", argv[1], nchecked);
    return 0;
}
