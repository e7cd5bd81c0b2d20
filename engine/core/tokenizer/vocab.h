// Vocabulary shared by the tokenizers (internal to engine/core/tokenizer and its tests).
//
// VocabSpec is the tokenizer.* metadata as plain values, so that tests can build tokenizers without a
// GGUF file; make_tokenizer() validates it and derives what llama.cpp's llama_vocab::impl::load derives
// (special ids and their defaults, token attributes it corrects by text, the end-of-generation set, the
// order in which special tokens are split out, the piece of every token). Errors are ModelFormatError
// naming the GGUF key.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace enclave::tok {

struct VocabSpec {
    std::string model;                       // tokenizer.ggml.model
    std::optional<std::string> pre;          // tokenizer.ggml.pre
    std::vector<std::string> tokens;         // tokenizer.ggml.tokens
    std::optional<std::vector<float>> scores;        // tokenizer.ggml.scores
    std::optional<std::vector<int64_t>> token_types; // tokenizer.ggml.token_type
    std::optional<std::vector<std::string>> merges;  // tokenizer.ggml.merges
    std::vector<std::pair<std::string, uint64_t>> special_ids;  // full key ("tokenizer.ggml.bos_token_id") -> id
    std::optional<bool> add_bos, add_eos, add_space_prefix;
    std::string general_name, general_architecture;  // llama.cpp sets strip flags on some tokens by name
};

// llama.cpp's llama_token_attr bits: a token may carry several (control + unused, user_defined + rstrip).
enum AttrBits : uint32_t {
    attr_undefined = 0,
    attr_unknown = 1u << 0,
    attr_unused = 1u << 1,
    attr_normal = 1u << 2,
    attr_control = 1u << 3,
    attr_user_defined = 1u << 4,
    attr_byte = 1u << 5,
    attr_normalized = 1u << 6,
    attr_lstrip = 1u << 7,
    attr_rstrip = 1u << 8,
    attr_single_word = 1u << 9,
};

// Heterogeneous lookup by string_view; the hash equals std::hash<std::string>'s, so the map iterates in the
// same order as llama.cpp's std::unordered_map<std::string, llama_token> filled the same way (which decides
// what it auto-detects when several candidate texts exist).
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

struct Vocab {
    bool is_bpe = false;
    std::string model, pre;
    std::vector<std::string> text;   // [n_vocab]
    std::vector<float> score;        // [n_vocab]
    std::vector<uint32_t> attr;      // [n_vocab] AttrBits
    std::vector<std::string> piece;  // [n_vocab] token_to_piece(id, special = true)
    std::vector<bool> eog;           // [n_vocab]
    TokenMap token_to_id;
    std::vector<TokenId> special_order;  // control / user-defined / unknown ids, longest text first
    TokenId bos = -1, eos = -1, unk = -1;
    bool add_bos = false, add_eos = false, add_space_prefix = false, ignore_merges = false;

    TokenId find(std::string_view s) const {
        const auto it = token_to_id.find(s);
        return it == token_to_id.end() ? -1 : it->second;
    }
};

// One piece of the input after special tokens are split out: a token id, or a byte range of the text.
struct Fragment {
    TokenId token;  // -1 for text
    size_t offset, length;
};

// Everything a tokenizer does apart from turning plain text into ids.
class VocabTokenizer : public Tokenizer {
public:
    explicit VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

    std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const override;
    std::string token_to_piece(TokenId id, bool special) const override;
    int32_t n_vocab() const override { return static_cast<int32_t>(vocab_.text.size()); }
    TokenId bos() const override { return vocab_.bos; }
    TokenId eos() const override { return vocab_.eos; }
    bool is_end_of_generation(TokenId id) const override;
    TokenAttr attr(TokenId id) const override;
    const std::string& token_text(TokenId id) const override;
    std::string_view model_name() const override { return vocab_.model; }
    std::string_view pre_tokenizer_name() const override { return vocab_.pre; }

    const Vocab& vocab() const { return vocab_; }
    // llama.cpp's tokenizer_st_partition: splits special token texts out of `text`, longest first.
    std::vector<Fragment> partition(std::string_view text, bool parse_special) const;

protected:
    // Appends the ids of plain text; `after_special` tells whether a special token (or nothing) precedes.
    // Returns false when llama.cpp fails on the text, which makes the whole encode() result empty as it is
    // there.
    virtual bool encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const = 0;
    void check_id(TokenId id) const;

    Vocab vocab_;
};

// Validates `spec` and builds the tokenizer of its model ("gpt2" or "llama").
std::unique_ptr<Tokenizer> make_tokenizer(const VocabSpec& spec);

// Internal factories (spec already validated into `vocab`).
std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab, const std::vector<std::string>& merges);
std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);

// The pieces of a token, as llama.cpp's token_to_piece computes them with special = true.
std::string bpe_piece(const std::string& text, uint32_t attr);
std::string spm_piece(const std::string& text, uint32_t attr);

}  // namespace enclave::tok
