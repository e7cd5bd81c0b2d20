// PreTokenizer: splits text into the words byte-level BPE merges within, as llama.cpp's
// unicode_regex_split does for a given tokenizer.ggml.pre (internal to engine/core/tokenizer).
//
// Contract
// - Constructed from the list of patterns llama.cpp applies for a pre-tokenizer, in order; each pattern
//   splits the pieces the previous ones left. Patterns llama.cpp implements by hand (GPT-2's, Llama 3's,
//   Qwen 2's) are implemented by hand here too, with llama.cpp's Unicode classes; any other pattern runs
//   through PCRE2 over llama.cpp's "collapsed" text (one byte per code point: ASCII as is, other code
//   points as their class), exactly where llama.cpp runs std::regex, so both see the same characters.
// - split() never throws on any input bytes; words come back GPT-2 byte-encoded. Text with a sequence
//   that decodes past U+10FFFF (F4 90.., F5..F7 leads) cannot be split: llama.cpp fails on it (it throws
//   while re-encoding the code point, and llama_tokenize then yields no tokens at all), so split() reports
//   it and the BPE tokenizer returns an empty result as llama.cpp does.
// - Immutable after construction; split() is const and thread-safe (match data is per call).
// - Throws ModelFormatError when a pattern cannot be compiled or needs PCRE2 in a build without it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace enclave::tok {

class PreTokenizer {
public:
    explicit PreTokenizer(const std::vector<std::string>& patterns);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // The words of `text`, GPT-2 byte-encoded, in order; their concatenation is the byte encoding of the
    // text after llama.cpp's code point round trip (invalid bytes become U+FFFD).
    // Returns false, leaving `words` empty, for text llama.cpp cannot split (see above).
    bool split(std::string_view text, std::vector<std::string>& words) const;

    // The pattern list llama.cpp uses for a tokenizer.ggml.pre value, or an empty list for a name it does
    // not know (or that this tokenizer does not support).
    static std::vector<std::string> patterns_for(std::string_view pre_name);

private:
    struct Step;
    std::vector<std::unique_ptr<Step>> steps_;
};

}  // namespace enclave::tok
