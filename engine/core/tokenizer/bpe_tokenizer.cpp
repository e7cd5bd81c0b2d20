// Byte-level BPE (tokenizer.ggml.model "gpt2"), matching llama.cpp's llm_tokenizer_bpe_session:
// pre-tokenize into words, byte-encode them, then within each word repeatedly merge the adjacent pair of
// lowest merge rank (leftmost first among equal ranks) until no listed merge applies.
//
// Cost: a binary heap of candidate pairs per word, so O(n log n) in the word length; pairs whose symbols
// changed since they were queued are skipped when popped (llama.cpp compares texts; comparing the two
// symbols' lengths is equivalent because a symbol only ever grows by absorbing its right neighbour).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <unordered_map>

#include "core/common/error.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/unicode.h"
#include "core/tokenizer/vocab.h"

namespace enclave::tok {

std::string bpe_piece(const std::string& text, uint32_t attr) {
    if (attr & (attr_unknown | attr_control | attr_user_defined)) return text;
    if (attr & attr_normal) {
        // Undo the byte-level encoding; a code point outside GPT-2's map is reported inline the way
        // llama.cpp's llama_decode_text does it.
        std::string out;
        for (const uint32_t cpt : decode_utf8_lossy(text)) {
            const int b = byte_of_cpt(cpt);
            if (b >= 0) {
                out.push_back(static_cast<char>(b));
                continue;
            }
            std::string utf8;
            append_utf8(utf8, cpt);
            out += "[UNK_BYTE_0x";
            for (const char c : utf8) {
                char hex[3];
                std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(static_cast<uint8_t>(c)));
                out += hex;
            }
            out += text + "]";
        }
        return out;
    }
    if (attr & attr_byte) {  // "<0xAB>"
        const std::string hex = text.size() > 3 ? text.substr(3, 2) : std::string();
        return std::string(1, static_cast<char>(std::strtol(hex.c_str(), nullptr, 16)));
    }
    return {};  // undefined and unused tokens render as nothing
}

namespace {

class BpeTokenizer final : public VocabTokenizer {
public:
    BpeTokenizer(Vocab vocab, const std::vector<std::string>& merges)
        : VocabTokenizer(std::move(vocab)), pre_(PreTokenizer::patterns_for(vocab_.pre)) {
        ranks_.reserve(merges.size());
        for (size_t i = 0; i < merges.size(); ++i) {
            const std::string& m = merges[i];
            const size_t sp = m.find(' ', 1);  // validated: present, both sides are tokens
            const TokenId l = vocab_.find(std::string_view(m).substr(0, sp));
            const TokenId r = vocab_.find(std::string_view(m).substr(sp + 1));
            ranks_.try_emplace(pair_key(l, r), static_cast<int32_t>(i));  // the first listing of a pair wins
        }
    }

private:
    static uint64_t pair_key(TokenId l, TokenId r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }

    struct Symbol {
        uint32_t offset, length;  // bytes of the word
        int32_t prev, next;       // -1 at the ends
        TokenId id;               // -1 when the text is no token (it then takes part in no merge)
    };
    struct Pair {
        int32_t rank, left, right;
        uint32_t left_length, right_length;
        bool operator<(const Pair& o) const {  // priority_queue's top is the largest: lowest rank, leftmost
            return rank != o.rank ? rank > o.rank : left > o.left;
        }
    };

    bool encode_text(std::string_view text, bool /*after_special*/, std::vector<TokenId>& out) const override {
        std::vector<std::string> words;
        if (!pre_.split(text, words)) return false;
        std::vector<Symbol> sym;
        std::priority_queue<Pair> heap;
        for (const std::string& word : words) {
            if (vocab_.ignore_merges) {  // Llama 3: a word that is a token is taken whole
                const TokenId id = vocab_.find(word);
                if (id >= 0) {
                    out.push_back(id);
                    continue;
                }
            }
            sym.clear();
            for (uint32_t off = 0; off < word.size();) {
                const uint32_t len = static_cast<uint32_t>(
                    std::min<size_t>(utf8_sequence_length(static_cast<uint8_t>(word[off])), word.size() - off));
                const int32_t i = static_cast<int32_t>(sym.size());
                sym.push_back({off, len, i - 1, -1, vocab_.find(std::string_view(word).substr(off, len))});
                if (i > 0) sym[i - 1].next = i;
                off += len;
            }
            auto add_pair = [&](int32_t l, int32_t r) {
                if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
                const auto it = ranks_.find(pair_key(sym[l].id, sym[r].id));
                if (it == ranks_.end()) return;
                heap.push({it->second, l, r, sym[l].length, sym[r].length});
            };
            for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) add_pair(i - 1, i);
            while (!heap.empty()) {
                const Pair p = heap.top();
                heap.pop();
                Symbol& l = sym[p.left];
                Symbol& r = sym[p.right];
                if (l.length != p.left_length || r.length != p.right_length || l.length == 0 || r.length == 0)
                    continue;  // stale
                l.length += r.length;
                r.length = 0;
                l.next = r.next;
                if (r.next >= 0) sym[r.next].prev = p.left;
                l.id = vocab_.find(std::string_view(word).substr(l.offset, l.length));
                add_pair(l.prev, p.left);
                add_pair(p.left, l.next);
            }
            for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
                const Symbol& s = sym[i];
                if (s.id >= 0) {
                    out.push_back(s.id);
                    continue;
                }
                // No such token: llama.cpp looks each byte of the encoded text up as a one-byte token and
                // drops the bytes that are none.
                for (uint32_t k = 0; k < s.length; ++k) {
                    const TokenId b = vocab_.find(std::string_view(word).substr(s.offset + k, 1));
                    if (b >= 0) out.push_back(b);
                }
            }
        }
        return true;
    }

    PreTokenizer pre_;
    std::unordered_map<uint64_t, int32_t> ranks_;  // (left id, right id) -> merge rank
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab, const std::vector<std::string>& merges) {
#ifndef ENCLAVE_HAVE_PCRE2
    (void)vocab;
    (void)merges;
    throw ModelFormatError("tokenizer.ggml.model 'gpt2' (byte-level BPE) needs PCRE2, which this build lacks");
#else
    return std::make_unique<BpeTokenizer>(std::move(vocab), merges);
#endif
}

}  // namespace enclave::tok
