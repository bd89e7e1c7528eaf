// sentencepiece.cc — SentencePiece .model files (LLaMA-1/2, Mistral) through
// libsentencepiece, behind the C tokenizer interface of tokenizer.h. The only
// C++ in ptqbench: the library has no C API. No exception crosses into C.
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "tokenizer.h"
}

namespace {

int sp_encode(const ptq_tokenizer *t, const char *text, size_t len, int bos, int eos, int **ids, int *n, ptq_err *err) {
    *ids = nullptr;
    *n = 0;
    try {
        auto *sp = static_cast<sentencepiece::SentencePieceProcessor *>(t->impl);
        std::vector<int> v;
        auto st = sp->Encode(absl::string_view(text, len), &v);
        if (!st.ok()) return ptq_fail(err, "%s: sentencepiece encode failed: %s", t->path, st.ToString().c_str());
        int *out = static_cast<int *>(ptq_calloc(v.size() + 2, sizeof(int), err));
        if (!out) return -1;
        int m = 0;
        if (bos && t->bos_id >= 0) out[m++] = t->bos_id;
        for (int id : v)
            out[m++] = id;
        if (eos && t->eos_id >= 0) out[m++] = t->eos_id;
        *ids = out;
        *n = m;
        return 0;
    } catch (const std::exception &e) {
        return ptq_fail(err, "%s: sentencepiece: %s", t->path, e.what());
    }
}

int sp_decode(const ptq_tokenizer *t, int prev, int token, char *buf, int cap) {
    if (cap <= 0) return 0;
    buf[0] = 0;
    auto *sp = static_cast<sentencepiece::SentencePieceProcessor *>(t->impl);
    if (token < 0 || token >= t->vocab_size || sp->IsControl(token)) return 0;
    try {
        std::string piece = sp->IdToPiece(token), out;
        unsigned int byte;
        if (sp->IsByte(token) && std::sscanf(piece.c_str(), "<0x%02X>", &byte) == 1)
            out.push_back((char)byte);
        else
            for (size_t i = 0; i < piece.size(); i++) {
                if (piece.compare(i, 3, "\xe2\x96\x81") == 0) { // U+2581 is the word-boundary space
                    out.push_back(' ');
                    i += 2;
                } else
                    out.push_back(piece[i]);
            }
        if (prev == t->bos_id && !out.empty() && out[0] == ' ') out.erase(0, 1);
        int k = (int)out.size() < cap - 1 ? (int)out.size() : cap - 1;
        std::memcpy(buf, out.data(), k);
        buf[k] = 0;
        return k;
    } catch (...) {
        return 0;
    }
}

void sp_destroy(ptq_tokenizer *t) {
    delete static_cast<sentencepiece::SentencePieceProcessor *>(t->impl);
    std::free(t);
}

} // namespace

extern "C" int ptq_tokenizer_load_sp(ptq_tokenizer **out, const char *path, ptq_err *err) {
    *out = nullptr;
    auto *sp = new (std::nothrow) sentencepiece::SentencePieceProcessor();
    if (!sp) return ptq_fail(err, "out of memory");
    try {
        auto st = sp->Load(path);
        if (!st.ok()) {
            delete sp;
            return ptq_fail(err, "%s: cannot load SentencePiece model: %s", path, st.ToString().c_str());
        }
    } catch (const std::exception &e) {
        delete sp;
        return ptq_fail(err, "%s: cannot load SentencePiece model: %s", path, e.what());
    }
    auto *t = static_cast<ptq_tokenizer *>(ptq_calloc(1, sizeof(ptq_tokenizer), err));
    if (!t) {
        delete sp;
        return -1;
    }
    t->impl = sp;
    t->vocab_size = sp->GetPieceSize();
    t->bos_id = sp->bos_id();
    t->eos_id = sp->eos_id();
    t->add_bos = t->bos_id >= 0; // LLaMA's default; tokenizer_config.json may override
    std::snprintf(t->kind, sizeof t->kind, "sentencepiece");
    std::snprintf(t->path, sizeof t->path, "%s", path);
    t->encode = sp_encode;
    t->decode = sp_decode;
    t->destroy = sp_destroy;
    *out = t;
    return 0;
}
