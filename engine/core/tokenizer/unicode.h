// Unicode helpers of the tokenizers (internal to engine/core/tokenizer).
//
// The byte-level BPE pre-tokenizers must split text exactly as llama.cpp does, so these helpers reproduce
// llama.cpp's notion of code points rather than a strict UTF-8 decoder: an invalid or truncated sequence
// becomes one U+FFFD per offending byte, while overlong forms, surrogates and lead bytes F5..F7 decode
// without complaint (llama.cpp does not check them either). Code point classes come from the generated
// table in unicode_data.cpp (Unicode 15.1.0, the version of llama.cpp's table).
// Everything here is pure and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace enclave::tok {

// General category groups, as llama.cpp's unicode_cpt_flags distinguishes them.
enum class CptClass : uint8_t { undefined = 0, number, letter, separator, mark, punctuation, symbol, control };

struct CptRange {
    uint32_t start;  // the range runs up to the next entry's start
    uint8_t flags;   // CptClass in bits 0..2, k_flag_whitespace
};
extern const CptRange k_cpt_ranges[];
extern const size_t k_cpt_range_count;

inline constexpr uint8_t k_flag_class_mask = 0x07;
inline constexpr uint8_t k_flag_whitespace = 0x08;  // the White_Space property
inline constexpr uint32_t k_max_codepoint = 0x10FFFF;
inline constexpr uint32_t k_replacement_char = 0xFFFD;

// Class and whitespace bit of a code point; anything past U+10FFFF is undefined.
uint8_t cpt_flags(uint32_t cpt);
inline CptClass cpt_class(uint8_t flags) { return static_cast<CptClass>(flags & k_flag_class_mask); }

// Length of the UTF-8 sequence a lead byte announces (1 for continuation bytes), from its high nibble.
inline size_t utf8_sequence_length(uint8_t lead) {
    constexpr uint8_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lengths[lead >> 4];
}

// Code points of `text` as llama.cpp's unicode_cpts_from_utf8 produces them (see the header comment).
std::vector<uint32_t> decode_utf8_lossy(std::string_view text);

// Appends the UTF-8 encoding of `cpt`; values past U+10FFFF (which llama.cpp cannot encode and throws on)
// are written as U+FFFD so that encoding never fails.
void append_utf8(std::string& out, uint32_t cpt);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view text);

// GPT-2's reversible byte <-> code point map: printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order, so every byte string becomes printable text without spaces.
struct ByteMap {
    std::array<uint16_t, 256> to_cpt{};
    std::array<int16_t, 324> from_cpt{};  // -1 where no byte maps to the code point
};
constexpr ByteMap make_byte_map() {
    ByteMap m;
    for (auto& v : m.from_cpt) v = -1;
    uint16_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        m.to_cpt[b] = printable ? static_cast<uint16_t>(b) : next++;
        m.from_cpt[m.to_cpt[b]] = static_cast<int16_t>(b);
    }
    return m;
}
inline constexpr ByteMap k_byte_map = make_byte_map();

// The byte a GPT-2 code point stands for, or -1.
inline int byte_of_cpt(uint32_t cpt) { return cpt < k_byte_map.from_cpt.size() ? k_byte_map.from_cpt[cpt] : -1; }
// Appends the byte-level encoding of every byte of `bytes`.
void append_byte_encoded(std::string& out, std::string_view bytes);

}  // namespace enclave::tok
