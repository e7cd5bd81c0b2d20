#include "core/tokenizer/unicode.h"

#include <algorithm>

namespace enclave::tok {

uint8_t cpt_flags(uint32_t cpt) {
    if (cpt > k_max_codepoint) return static_cast<uint8_t>(CptClass::undefined);
    const CptRange* end = k_cpt_ranges + k_cpt_range_count;
    const CptRange* it =
        std::upper_bound(k_cpt_ranges, end, cpt, [](uint32_t c, const CptRange& r) { return c < r.start; });
    return (it - 1)->flags;  // the table starts at 0, so `it` is never the first entry
}

std::vector<uint32_t> decode_utf8_lossy(std::string_view text) {
    std::vector<uint32_t> out;
    out.reserve(text.size());
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    auto cont = [&](size_t i) { return i < n && (s[i] & 0xC0) == 0x80; };
    size_t i = 0;
    while (i < n) {
        const uint8_t b = s[i];
        if (b < 0x80) {
            out.push_back(b);
            i += 1;
        } else if ((b & 0x40) == 0) {  // a continuation byte where a lead byte belongs
            out.push_back(k_replacement_char);
            i += 1;
        } else if ((b & 0x20) == 0) {
            if (!cont(i + 1)) {
                out.push_back(k_replacement_char);
                i += 1;
                continue;
            }
            out.push_back((uint32_t(b & 0x1F) << 6) | (s[i + 1] & 0x3F));
            i += 2;
        } else if ((b & 0x10) == 0) {
            if (!cont(i + 1) || !cont(i + 2)) {
                out.push_back(k_replacement_char);
                i += 1;
                continue;
            }
            out.push_back((uint32_t(b & 0x0F) << 12) | (uint32_t(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F));
            i += 3;
        } else if ((b & 0x08) == 0) {
            if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) {
                out.push_back(k_replacement_char);
                i += 1;
                continue;
            }
            out.push_back((uint32_t(b & 0x07) << 18) | (uint32_t(s[i + 1] & 0x3F) << 12) |
                          (uint32_t(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F));
            i += 4;
        } else {  // F8..FF
            out.push_back(k_replacement_char);
            i += 1;
        }
    }
    return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
    if (cpt > k_max_codepoint) cpt = k_replacement_char;
    if (cpt <= 0x7F) {
        out.push_back(static_cast<char>(cpt));
    } else if (cpt <= 0x7FF) {
        out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else if (cpt <= 0xFFFF) {
        out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cpt >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    }
}

bool is_valid_utf8(std::string_view text) {
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const uint8_t b = s[i];
        size_t len;
        uint32_t cpt, min;
        if (b < 0x80) {
            ++i;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            len = 2, cpt = b & 0x1F, min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3, cpt = b & 0x0F, min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4, cpt = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cpt = (cpt << 6) | (s[i + k] & 0x3F);
        }
        if (cpt < min || cpt > k_max_codepoint || (cpt >= 0xD800 && cpt <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

void append_byte_encoded(std::string& out, std::string_view bytes) {
    for (const char c : bytes) append_utf8(out, k_byte_map.to_cpt[static_cast<uint8_t>(c)]);
}

}  // namespace enclave::tok
