// SentencePiece-style tokenizer (tokenizer.ggml.model "llama"), matching llama.cpp's
// llm_tokenizer_spm_session: spaces become U+2581 ("▁"), a space is prefixed to text that starts the
// input or follows a special token (add_space_prefix), the text is cut into UTF-8 characters, and adjacent
// symbols whose concatenation is a token are merged, highest score first (leftmost among equal scores).
// What is left that is no token falls back to byte tokens (<0xAB>).
//
// Cost: a binary heap of candidate pairs, O(n log n) in the text length; pairs whose symbols changed
// since they were queued are skipped when popped.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <queue>

#include "core/tokenizer/unicode.h"
#include "core/tokenizer/vocab.h"

namespace enclave::tok {

namespace {
constexpr std::string_view k_space_marker = "\xE2\x96\x81";  // U+2581
}

std::string spm_piece(const std::string& text, uint32_t attr) {
    if (attr & (attr_unknown | attr_control | attr_user_defined)) return text;
    if (attr & attr_normal) {
        std::string out;
        out.reserve(text.size());
        for (size_t i = 0; i < text.size();) {
            if (text.compare(i, k_space_marker.size(), k_space_marker) == 0) {
                out.push_back(' ');
                i += k_space_marker.size();
            } else {
                out.push_back(text[i++]);
            }
        }
        return out;
    }
    if (attr & attr_byte) {  // "<0xAB>"
        const std::string hex = text.size() > 3 ? text.substr(3, 2) : std::string();
        return std::string(1, static_cast<char>(std::strtol(hex.c_str(), nullptr, 16)));
    }
    return {};
}

namespace {

class SpmTokenizer final : public VocabTokenizer {
public:
    explicit SpmTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {
        // llama.cpp's byte_to_token: "<0xAB>" first, else the byte itself as a token.
        for (int b = 0; b < 256; ++b) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "<0x%02X>", b);
            TokenId id = vocab_.find(hex);
            if (id < 0) id = vocab_.find(std::string(1, static_cast<char>(b)));
            byte_token_[b] = id;
        }
    }

private:
    struct Symbol {
        uint32_t offset, length;
        int32_t prev, next;
    };
    struct Pair {
        float score;
        int32_t left, right;
        uint32_t size;
        bool operator<(const Pair& o) const {  // top: highest score, then leftmost
            return score != o.score ? score < o.score : left > o.left;
        }
    };

    bool encode_text(std::string_view raw, bool after_special, std::vector<TokenId>& out) const override {
        std::string text;
        text.reserve(raw.size() * 2 + 3);
        if (vocab_.add_space_prefix && after_special) text += k_space_marker;
        for (const char c : raw) {
            if (c == ' ')
                text += k_space_marker;
            else
                text.push_back(c);
        }

        std::vector<Symbol> sym;
        for (uint32_t off = 0; off < text.size();) {
            const uint32_t len = static_cast<uint32_t>(
                std::min<size_t>(utf8_sequence_length(static_cast<uint8_t>(text[off])), text.size() - off));
            const int32_t i = static_cast<int32_t>(sym.size());
            sym.push_back({off, len, i - 1, -1});
            if (i > 0) sym[i - 1].next = i;
            off += len;
        }
        std::priority_queue<Pair> heap;
        auto add_pair = [&](int32_t l, int32_t r) {
            if (l < 0 || r < 0) return;
            const uint32_t size = sym[l].length + sym[r].length;
            const TokenId id = vocab_.find(std::string_view(text).substr(sym[l].offset, size));
            if (id < 0) return;
            heap.push({vocab_.score[id], l, r, size});
        };
        for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) add_pair(i - 1, i);
        while (!heap.empty()) {
            const Pair p = heap.top();
            heap.pop();
            Symbol& l = sym[p.left];
            Symbol& r = sym[p.right];
            if (l.length == 0 || r.length == 0 || l.length + r.length != p.size) continue;  // stale
            l.length += r.length;
            r.length = 0;
            l.next = r.next;
            if (r.next >= 0) sym[r.next].prev = p.left;
            add_pair(l.prev, p.left);
            add_pair(p.left, l.next);
        }
        for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
            const std::string_view s = std::string_view(text).substr(sym[i].offset, sym[i].length);
            const TokenId id = vocab_.find(s);
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            for (const char c : s) {
                const TokenId b = byte_token_[static_cast<uint8_t>(c)];
                // llama.cpp throws (and its caller aborts) when a byte has no token; the unknown token is
                // the closest thing that keeps the length of the prompt honest.
                if (b >= 0)
                    out.push_back(b);
                else if (vocab_.unk >= 0)
                    out.push_back(vocab_.unk);
            }
        }
        return true;
    }

    TokenId byte_token_[256];
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace enclave::tok
