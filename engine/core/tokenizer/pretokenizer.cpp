#include "core/tokenizer/pretokenizer.h"

#include <utility>

#include "core/common/error.h"
#include "core/tokenizer/unicode.h"

#ifdef ENCLAVE_HAVE_PCRE2
#include <pcre2.h>
#endif

namespace enclave::tok {

namespace {

// The patterns llama.cpp implements by hand; the strings must stay byte-identical to llama-vocab.cpp's,
// since that is how its unicode_regex_split recognises them.
constexpr std::string_view k_gpt2_pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr std::string_view k_llama3_pattern =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view k_llama3_pattern_ci =  // the original tokenizer.json spelling
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
constexpr std::string_view k_qwen2_pattern =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Per-code-point flags as the splitters see them: the table's flags plus k_present, which llama.cpp's
// code tests as "flags != 0" and which only positions outside the current piece lack.
constexpr uint8_t k_present = 0x80;

struct Text {
    std::vector<uint32_t> cpts;
    std::vector<uint8_t> flags;  // per code point, with k_present
};

// One piece of the text being split: [begin, end) in code points.
using Offsets = std::vector<size_t>;  // lengths of consecutive pieces, as llama.cpp keeps them

bool is_letter(uint8_t f) { return cpt_class(f) == CptClass::letter && (f & k_present); }
bool is_number(uint8_t f) { return cpt_class(f) == CptClass::number && (f & k_present); }
bool is_space(uint8_t f) { return (f & k_flag_whitespace) != 0; }

constexpr uint32_t k_out_of_range = 0xFFFFFFFF;

// Walks one piece with llama.cpp's accessors: outside the piece a code point reads as k_out_of_range and
// its flags as 0.
struct Cursor {
    const Text& t;
    size_t ini, end, prev_end;
    Offsets& out;
    uint32_t cpt(size_t p) const { return p >= ini && p < end ? t.cpts[p] : k_out_of_range; }
    uint8_t flags(size_t p) const { return p >= ini && p < end ? t.flags[p] : 0; }
    size_t emit(size_t upto) {  // closes the word [prev_end, upto)
        const size_t len = upto - prev_end;
        if (len > 0) out.push_back(len);
        prev_end = upto;
        return len;
    }
};

uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)  (as llama.cpp's
// unicode_regex_split_custom_gpt2 walks it; contractions are case-sensitive here).
void split_gpt2(const Text& t, size_t ini, size_t end, Offsets& out) {
    Cursor c{t, ini, end, ini, out};
    size_t pos = ini;
    while (pos < end) {
        const uint32_t cpt = c.cpt(pos);
        const uint8_t f = c.flags(pos);
        if (cpt == '\'' && pos + 1 < end) {
            const uint32_t n1 = c.cpt(pos + 1);
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += c.emit(pos + 2);
                continue;
            }
            if (pos + 2 < end) {
                const uint32_t n2 = c.cpt(pos + 2);
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    pos += c.emit(pos + 3);
                    continue;
                }
            }
        }
        uint8_t f2 = cpt == ' ' ? c.flags(pos + 1) : f;
        if (is_letter(f2) || is_number(f2)) {
            const bool letters = is_letter(f2);
            pos += (cpt == ' ');
            while (letters ? is_letter(f2) : is_number(f2)) f2 = c.flags(++pos);
            c.emit(pos);
            continue;
        }
        auto other = [](uint8_t g) { return (g & k_present) && !is_space(g) && !is_letter(g) && !is_number(g); };
        if (other(f2)) {
            pos += (cpt == ' ');
            while (other(f2)) f2 = c.flags(++pos);
            c.emit(pos);
            continue;
        }
        size_t n_space = 0;
        while (is_space(c.flags(pos + n_space))) ++n_space;
        if (n_space > 1 && c.cpt(pos + n_space) != k_out_of_range) {  // \s+(?!\S): leave one for the next word
            pos += n_space - 1;
            c.emit(pos);
            continue;
        }
        if (n_space > 0) {
            pos += n_space;
            c.emit(pos);
            continue;
        }
        c.emit(++pos);
    }
}

// Llama 3 (max_digits 3) and Qwen 2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// walked as llama.cpp's unicode_regex_split_custom_llama3 / _qwen2 do.
void split_llama3(const Text& t, size_t ini, size_t end, size_t max_digits, Offsets& out) {
    Cursor c{t, ini, end, ini, out};
    size_t pos = ini;
    while (pos < end) {
        const uint32_t cpt = c.cpt(pos);
        const uint8_t f = c.flags(pos);
        if (cpt == '\'' && pos + 1 < end) {  // only ASCII letters lower-case to s, t, r, e, v, m, l, d
            const uint32_t n1 = ascii_lower(c.cpt(pos + 1));
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += c.emit(pos + 2);
                continue;
            }
            if (pos + 2 < end) {
                const uint32_t n2 = ascii_lower(c.cpt(pos + 2));
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    pos += c.emit(pos + 3);
                    continue;
                }
            }
        }
        if (!(cpt == '\r' || cpt == '\n' || is_number(f))) {
            if (is_letter(f) || is_letter(c.flags(pos + 1))) {
                ++pos;
                while (is_letter(c.flags(pos))) ++pos;
                c.emit(pos);
                continue;
            }
        }
        if (is_number(f)) {
            size_t group_start = pos;
            while (is_number(c.flags(pos))) {
                if (++pos - group_start >= max_digits) {
                    c.emit(pos);
                    group_start = pos;
                }
            }
            c.emit(pos);
            continue;
        }
        uint8_t f2 = cpt == ' ' ? c.flags(pos + 1) : f;
        auto not_sln = [](uint8_t g) { return !is_space(g) && !is_letter(g) && !is_number(g); };
        if (not_sln(f2) && (f & k_present)) {  // llama.cpp tests the first code point's flags here
            pos += (cpt == ' ');
            while (not_sln(f2) && (f2 & k_present)) f2 = c.flags(++pos);
            for (uint32_t c2 = c.cpt(pos); c2 == '\r' || c2 == '\n'; c2 = c.cpt(++pos)) {
            }
            c.emit(pos);
            continue;
        }
        size_t n_space = 0;
        size_t last_newline_end = 0;
        while (is_space(c.flags(pos + n_space))) {
            const uint32_t c2 = c.cpt(pos + n_space);
            if (c2 == '\r' || c2 == '\n') last_newline_end = pos + n_space + 1;
            ++n_space;
        }
        if (last_newline_end > 0) {  // \s*[\r\n]+
            pos = last_newline_end;
            c.emit(pos);
            continue;
        }
        if (n_space > 1 && c.cpt(pos + n_space) != k_out_of_range) {
            pos += n_space - 1;
            c.emit(pos);
            continue;
        }
        if (n_space > 0) {
            pos += n_space;
            c.emit(pos);
            continue;
        }
        c.emit(++pos);
    }
}

#ifdef ENCLAVE_HAVE_PCRE2
// llama.cpp's byte for a code point class in the collapsed text, and the ASCII members of that class
// (written as a character-class body) that stand beside it in a collapsed pattern.
struct CollapsedClass {
    std::string_view property;
    char byte;
    std::string_view ascii;
};
constexpr CollapsedClass k_collapsed_classes[] = {
    {"\\p{N}", '\xD1', "0-9"},
    {"\\p{L}", '\xD2', "A-Za-z"},
    {"\\p{P}", '\xD3', "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
    {"\\p{M}", '\xD4', ""},
    {"\\p{S}", '\xD5', "\\$\\+<->^`\\|\\~"},
    {"\\p{Lu}", '\xD2', "A-Za-z"},
    {"\\p{Ll}", '\xD2', "A-Za-z"},
    {"\\p{Lt}", '\xD2', "A-Za-z"},
    {"\\p{Lm}", '\xD2', "A-Za-z"},
    {"\\p{Lo}", '\xD2', "A-Za-z"},
};

bool uses_classes(std::string_view pattern) {
    for (const auto& k : k_collapsed_classes)
        if (pattern.find(k.property) != std::string_view::npos) return true;
    return false;
}

char collapsed_byte(uint32_t cpt, uint8_t f) {
    if (cpt < 128) return static_cast<char>(cpt);
    if (f & k_flag_whitespace) return '\x0B';  // std::regex's \s knows only ASCII whitespace
    switch (cpt_class(f)) {
        case CptClass::number: return '\xD1';
        case CptClass::letter: return '\xD2';
        case CptClass::punctuation: return '\xD3';
        case CptClass::mark: return '\xD4';
        case CptClass::symbol: return '\xD5';
        default: return '\xD0';
    }
}

// Rewrites \p{..} classes of a pattern for the collapsed text, by llama.cpp's rule: inside [...] a class
// becomes its byte and ASCII members; outside it becomes a bracket expression of them.
std::string collapse_pattern(std::string_view pattern) {
    std::string out;
    bool inside = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char ch = pattern[i];
        if (ch == '[' && (i == 0 || pattern[i - 1] != '\\')) {
            out += '[';
            inside = true;
            continue;
        }
        if (inside && ch == ']' && pattern[i - 1] != '\\') {
            out += ']';
            inside = false;
            continue;
        }
        if (ch == '\\' && i + 3 < pattern.size() && pattern[i + 1] == 'p' && pattern[i + 2] == '{') {
            const size_t close = pattern.find('}', i + 3);
            if (close != std::string_view::npos && close <= i + 10) {
                const std::string_view prop = pattern.substr(i, close - i + 1);
                const CollapsedClass* found = nullptr;
                for (const auto& k : k_collapsed_classes)
                    if (k.property == prop) found = &k;
                if (found) {
                    if (!inside) out += '[';
                    out += found->byte;
                    out += found->ascii;
                    if (!inside) out += ']';
                    i = close;
                    continue;
                }
            }
        }
        out += ch;
    }
    return out;
}
#endif  // ENCLAVE_HAVE_PCRE2

}  // namespace

struct PreTokenizer::Step {
    enum class Kind { gpt2, llama3, regex } kind;
    size_t max_digits = 0;
    bool collapsed = false;  // regex over the collapsed text, else over the ASCII-narrowed text
#ifdef ENCLAVE_HAVE_PCRE2
    pcre2_code* code = nullptr;
    ~Step() { pcre2_code_free(code); }
#endif
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) {
        auto step = std::make_unique<Step>();
        if (p == k_gpt2_pattern) {
            step->kind = Step::Kind::gpt2;
        } else if (p == k_llama3_pattern || p == k_llama3_pattern_ci) {
            step->kind = Step::Kind::llama3;
            step->max_digits = 3;
        } else if (p == k_qwen2_pattern) {
            step->kind = Step::Kind::llama3;
            step->max_digits = 1;
        } else {
#ifdef ENCLAVE_HAVE_PCRE2
            step->kind = Step::Kind::regex;
            step->collapsed = uses_classes(p);
            for (const unsigned char ch : p)
                if (ch >= 0x80)  // llama.cpp cannot run these either (it throws or matches code points)
                    throw ModelFormatError("pre-tokenizer pattern with non-ASCII characters is not supported: " + p);
            const std::string compiled = step->collapsed ? collapse_pattern(p) : p;
            int err = 0;
            PCRE2_SIZE err_off = 0;
            step->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(), 0, &err,
                                       &err_off, nullptr);
            if (!step->code) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(err, msg, sizeof msg);
                throw ModelFormatError("cannot compile pre-tokenizer pattern '" + p + "': " +
                                       reinterpret_cast<const char*>(msg));
            }
            pcre2_jit_compile(step->code, PCRE2_JIT_COMPLETE);  // failure just leaves the interpreter
#else
            throw ModelFormatError("pre-tokenizer pattern '" + p + "' needs PCRE2, which this build lacks");
#endif
        }
        steps_.push_back(std::move(step));
    }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

bool PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
    words.clear();
    Text t;
    t.cpts = decode_utf8_lossy(text);
    for (const uint32_t c : t.cpts)
        if (c > k_max_codepoint) return false;
    t.flags.reserve(t.cpts.size());
    for (const uint32_t c : t.cpts) t.flags.push_back(static_cast<uint8_t>(cpt_flags(c) | k_present));

    Offsets offsets{t.cpts.size()};
    std::string collapsed, narrowed;  // built on first use
    for (const auto& step : steps_) {
        Offsets next;
        next.reserve(offsets.size());
        size_t start = 0;
        if (step->kind != Step::Kind::regex) {
            for (const size_t len : offsets) {
                if (step->kind == Step::Kind::gpt2)
                    split_gpt2(t, start, start + len, next);
                else
                    split_llama3(t, start, start + len, step->max_digits, next);
                start += len;
            }
            offsets = std::move(next);
            continue;
        }
#ifdef ENCLAVE_HAVE_PCRE2
        std::string& subject = step->collapsed ? collapsed : narrowed;
        if (subject.empty() && !t.cpts.empty()) {
            subject.resize(t.cpts.size());
            for (size_t i = 0; i < t.cpts.size(); ++i) {
                const uint32_t c = t.cpts[i];
                if (step->collapsed)
                    subject[i] = collapsed_byte(c, t.flags[i]);
                else  // std::wregex sees code points; for an ASCII pattern any non-ASCII one is alike
                    subject[i] = c < 128 ? static_cast<char>(c) : (t.flags[i] & k_flag_whitespace) ? '\x0B' : '\x80';
            }
        }
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
            pcre2_match_data_create_from_pattern(step->code, nullptr), &pcre2_match_data_free);
        for (const size_t len : offsets) {
            // Each piece is its own subject, as std::regex_iterator over [begin, end) sees it.
            const auto* piece = reinterpret_cast<PCRE2_SPTR>(subject.data() + start);
            size_t done = 0, at = 0;
            uint32_t options = 0;
            while (at <= len) {
                const int rc = pcre2_match(step->code, piece, len, at, options, md.get(), nullptr);
                if (rc < 0) {
                    if (options != 0 && at < len) {  // an empty match was refused here: move on one
                        options = 0;
                        ++at;
                        continue;
                    }
                    break;
                }
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
                const size_t m_begin = ov[0], m_end = ov[1];
                if (m_begin > done) next.push_back(m_begin - done);
                if (m_end > m_begin) next.push_back(m_end - m_begin);
                done = m_end;
                at = m_end;
                options = m_end == m_begin ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
            }
            if (done < len) next.push_back(len - done);
            start += len;
        }
        offsets = std::move(next);
#endif
    }

    words.reserve(offsets.size());
    size_t start = 0;
    std::string utf8;
    for (const size_t len : offsets) {
        utf8.clear();
        for (size_t i = start; i < start + len; ++i) append_utf8(utf8, t.cpts[i]);
        std::string word;
        word.reserve(utf8.size() * 2);
        append_byte_encoded(word, utf8);
        words.push_back(std::move(word));
        start += len;
    }
    return true;
}

std::vector<std::string> PreTokenizer::patterns_for(std::string_view pre) {
    const std::string gpt2(k_gpt2_pattern), llama3(k_llama3_pattern), qwen2(k_qwen2_pattern);
    if (pre == "default")
        return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    if (pre == "gpt-2") return {gpt2};
    if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "dbrx" || pre == "smaug-bpe")
        return {llama3};
    if (pre == "smollm" || pre == "starcoder" || pre == "refact") return {"\\p{N}", gpt2};
    if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2") return {qwen2};
    return {};
}

}  // namespace enclave::tok
