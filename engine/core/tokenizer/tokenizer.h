// Tokenizer: text <-> token ids from a GGUF file's tokenizer.* metadata, matching llama.cpp's
// llama_tokenize / llama_token_to_piece exactly (llama.cpp is the oracle; tests compare against goldens).
//
// Contract
// - from_gguf() reads tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,*_token_id,add_*_token,
//   add_space_prefix} and validates them (array types and lengths, no duplicate tokens, merges that name
//   known tokens, special ids inside the vocabulary, add_bos/add_eos only with such a token), throwing
//   ModelFormatError that names the key; an unsupported model or pre-tokenizer name throws
//   ModelFormatError naming it. Defaults for absent keys and the tokens llama.cpp recognises by text
//   (end-of-generation set, control flags) follow llama.cpp's loader.
// - Supported: model "gpt2" (byte-level BPE) with pre-tokenizers default, gpt-2, llama3 / llama-v3 /
//   llama-bpe, dbrx, smaug-bpe, smollm / starcoder / refact, qwen2 / deepseek-r1-qwen / stablelm2, and
//   model "llama" (SentencePiece-style, byte fallback). A build without PCRE2 (ENCLAVE_HAVE_PCRE2 unset)
//   throws ModelFormatError for every "gpt2" model; "llama" models work.
// - Immutable after construction; every method is const and thread-safe.
// - encode() never throws on any input bytes; invalid UTF-8 is tokenized as llama.cpp does. One case is
//   llama.cpp's failure mode, reproduced: byte-level BPE text with a sequence that decodes past U+10FFFF
//   (F4 90.., F5..F7 leads) makes llama.cpp's tokenizer fail, and llama_tokenize returns no tokens at all;
//   encode() then returns an empty vector too (not even BOS).
// - Cost: O(n log n) in the length of each pre-tokenized word (BPE) or text fragment (SentencePiece), plus
//   a scan per special token; a 1,500-token SmolLM2 prompt takes about 0.5 ms.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/gguf/gguf_file.h"

namespace enclave {

using TokenId = int32_t;

enum class TokenAttr : uint8_t {  // GGUF token_type values
    undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

class Tokenizer {
public:
    static std::unique_ptr<Tokenizer> from_gguf(const gguf::GgufFile& file);
    virtual ~Tokenizer() = default;

    // As llama_tokenize(text, add_special, parse_special): add_special adds BOS (and EOS) when the
    // metadata says the model wants them; parse_special lets control/user-defined token texts in `text`
    // become their ids instead of being tokenized as plain text.
    virtual std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const = 0;

    // The bytes one token stands for, as llama_token_to_piece(id, lstrip=0, special): control tokens
    // render as their text only when `special` is true. Throws InvalidArgument for an id out of range.
    virtual std::string token_to_piece(TokenId id, bool special) const = 0;
    // Concatenated pieces (the caller decides what to do with incomplete UTF-8 at the end).
    std::string decode(const std::vector<TokenId>& ids, bool special) const;

    virtual int32_t n_vocab() const = 0;
    virtual TokenId bos() const = 0;  // -1 when the model has none
    virtual TokenId eos() const = 0;  // -1 when the model has none
    virtual bool is_end_of_generation(TokenId id) const = 0;  // eos, eot, eom and similar, as llama_vocab_is_eog
    // The token's type; where llama.cpp marked a token as more than one (a normal-typed "<|im_end|>" it
    // treats as control, a control token named "unused"), the more special type wins: control, then
    // user_defined, byte, unknown, unused, normal. Throws InvalidArgument for an id out of range.
    virtual TokenAttr attr(TokenId id) const = 0;
    virtual const std::string& token_text(TokenId id) const = 0;  // the vocabulary entry as stored
    virtual std::string_view model_name() const = 0;               // "gpt2" or "llama"
    virtual std::string_view pre_tokenizer_name() const = 0;       // "" for SentencePiece
};

}  // namespace enclave
