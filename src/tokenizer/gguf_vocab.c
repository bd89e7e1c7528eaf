/* gguf_vocab.c — tokenizers from a vocabulary held in memory, as GGUF files
 * embed them (tokenizer.ggml.*), built on the two existing encoders:
 *
 * "llama" (SentencePiece-style): the pieces with '▁' turned into spaces and
 * their scores go to the llama2.c encoder (llama2c.c), which merges by score
 * as llama.cpp's SPM tokenizer does. Control, unknown and unused tokens get
 * an empty piece so no text can produce them; byte tokens keep "<0xXX>".
 *
 * "gpt2" (byte-level BPE): the vocabulary, merges and the pre-tokenizer named
 * by tokenizer.ggml.pre are turned into a tokenizer.json object for
 * hf_json.c. Control and user-defined tokens become added tokens. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static int check_tokens(const ptq_vocab_spec *v, ptq_err *err) {
    for (int i = 0; i < v->n; i++)
        if (memchr(v->tokens[i], 0, (size_t)v->token_len[i]))
            return ptq_fail(err, "%s: tokenizer.ggml.tokens[%d] contains a NUL byte", v->name, i);
    return 0;
}

static int load_llama(const ptq_vocab_spec *v, ptq_tokenizer **out, ptq_err *err) {
    char **pieces = ptq_calloc((size_t)v->n, sizeof *pieces, err);
    float *scores = ptq_calloc((size_t)v->n, sizeof *scores, err);
    if (!pieces || !scores) goto oom;
    for (int i = 0; i < v->n; i++) {
        int ty = v->types ? v->types[i] : TT_NORMAL;
        int hidden = ty == TT_CONTROL || ty == TT_UNKNOWN || ty == TT_UNUSED;
        size_t n = 0;
        if (!hidden) {
            char *s = ptq_replace_all(v->tokens[i], (size_t)v->token_len[i], "\xe2\x96\x81", " ", &n);
            if (!s) goto oom;
            pieces[i] = s;
        } else if (!(pieces[i] = calloc(1, 1)))
            goto oom;
        if (v->scores) scores[i] = v->scores[i];
    }
    int unk = v->unk_id;
    for (int i = 0; i < v->n && unk < 0 && v->types; i++)
        if (v->types[i] == TT_UNKNOWN) unk = i;
    if (ptq_tokenizer_llama2c_from_pieces(out, v->name, v->n, pieces, scores, v->add_space_prefix, unk, err))
        return -1;
    snprintf((*out)->kind, sizeof (*out)->kind, "gguf-llama");
    return 0;
oom:
    for (int i = 0; pieces && i < v->n; i++) free(pieces[i]);
    free(pieces);
    free(scores);
    return ptq_fail(err, "out of memory");
}

/* Pre-tokenizer regexes by tokenizer.ggml.pre (NULL: ByteLevel's own GPT-2 regex). */
static const struct {
    const char *name, *regex;
} pres[] = {
    {"default", NULL},
    {"gpt2", NULL},
    {"llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
              "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

static cJSON *str_n(const char *s, int n) {
    char *z = malloc((size_t)n + 1);
    if (!z) return NULL;
    memcpy(z, s, (size_t)n);
    z[n] = 0;
    cJSON *r = cJSON_CreateString(z);
    free(z);
    return r;
}

static cJSON *gpt2_json(const ptq_vocab_spec *v, ptq_err *err) {
    int p = -1;
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++)
        if (!strcmp(v->pre ? v->pre : "default", pres[i].name)) p = (int)i;
    if (p < 0) {
        ptq_fail(err, "%s: tokenizer.ggml.pre '%s' is not supported (default, gpt2, llama-bpe, qwen2)", v->name, v->pre);
        return NULL;
    }
    cJSON *j = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(j, "model");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab"), *merges = cJSON_AddArrayToObject(model, "merges");
    cJSON *added = cJSON_AddArrayToObject(j, "added_tokens"), *pre = cJSON_AddObjectToObject(j, "pre_tokenizer");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "decoder"), "type", "ByteLevel");
    for (int i = 0; i < v->n; i++) {
        int ty = v->types ? v->types[i] : TT_NORMAL;
        char *key = malloc((size_t)v->token_len[i] + 1);
        if (!key) break;
        memcpy(key, v->tokens[i], (size_t)v->token_len[i]);
        key[v->token_len[i]] = 0;
        cJSON_AddNumberToObject(vocab, key, i);
        free(key);
        if (ty == TT_CONTROL || ty == TT_USER) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", i);
            cJSON_AddItemToObject(a, "content", str_n(v->tokens[i], v->token_len[i]));
            cJSON_AddBoolToObject(a, "special", ty == TT_CONTROL);
            cJSON_AddItemToArray(added, a);
        }
    }
    for (int i = 0; i < v->n_merges; i++)
        cJSON_AddItemToArray(merges, str_n(v->merges[i], v->merge_len[i]));
    if (pres[p].regex) {
        cJSON_AddStringToObject(pre, "type", "Sequence");
        cJSON *seq = cJSON_AddArrayToObject(pre, "pretokenizers"), *split = cJSON_CreateObject(),
              *bl = cJSON_CreateObject();
        cJSON_AddStringToObject(split, "type", "Split");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", pres[p].regex);
        cJSON_AddStringToObject(split, "behavior", "Isolated");
        cJSON_AddStringToObject(bl, "type", "ByteLevel");
        cJSON_AddBoolToObject(bl, "use_regex", 0);
        cJSON_AddItemToArray(seq, split);
        cJSON_AddItemToArray(seq, bl);
    } else {
        cJSON_AddStringToObject(pre, "type", "ByteLevel");
        cJSON_AddBoolToObject(pre, "use_regex", 1);
    }
    return j;
}

int ptq_tokenizer_from_vocab(const ptq_vocab_spec *v, ptq_tokenizer **out, ptq_err *err) {
    *out = NULL;
    if (check_tokens(v, err)) return -1;
    if (!strcmp(v->model, "llama")) {
        if (load_llama(v, out, err)) return -1;
    } else if (!strcmp(v->model, "gpt2")) {
        if (!v->n_merges) return ptq_fail(err, "%s: a gpt2 tokenizer needs tokenizer.ggml.merges", v->name);
        cJSON *j = gpt2_json(v, err);
        if (!j) return -1;
        int rc = ptq_tokenizer_load_hf_obj(out, j, v->name, err);
        cJSON_Delete(j);
        if (rc) return -1;
        snprintf((*out)->kind, sizeof (*out)->kind, "gguf-gpt2");
    } else
        return ptq_fail(err, "%s: tokenizer.ggml.model '%s' is not supported (llama, gpt2)", v->name, v->model);
    (*out)->bos_id = v->bos_id;
    (*out)->eos_id = v->eos_id;
    (*out)->add_bos = v->add_bos && v->bos_id >= 0;
    return 0;
}
