// Unit tests of the tokenizers: Unicode helpers, pre-tokenizer splits, special-token splitting, BOS/EOS,
// end of generation, pieces, round trips, metadata validation, and encoding cost. Vocabularies are built
// in memory (VocabSpec) or as small GGUF files; the comparisons with llama.cpp itself are in
// tst_tokenizer_golden.cpp.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "core/tokenizer/vocab.h"

using namespace enclave;
using namespace enclave::tok;

namespace {

std::string utf8(uint32_t cpt) {
    std::string s;
    append_utf8(s, cpt);
    return s;
}

std::string byte_encoded(std::string_view bytes) {
    std::string s;
    append_byte_encoded(s, bytes);
    return s;
}

std::string byte_decoded(std::string_view encoded) {
    std::string s;
    for (const uint32_t c : decode_utf8_lossy(encoded)) s.push_back(static_cast<char>(byte_of_cpt(c)));
    return s;
}

// A build without PCRE2 has no byte-level BPE (by design: see tokenizer.h); its BPE cases report SKIP.
template <class F>
auto unless_no_pcre2(F&& make) {
    try {
        return make();
    } catch (const ModelFormatError& e) {
        if (std::string(e.what()).find("needs PCRE2") != std::string::npos) SKIP("this build lacks PCRE2");
        throw;
    }
}

std::vector<std::string> split_words(const std::string& pre, std::string_view text) {
    PreTokenizer p = unless_no_pcre2([&] { return PreTokenizer(PreTokenizer::patterns_for(pre)); });
    std::vector<std::string> words;
    REQUIRE(p.split(text, words));
    for (auto& w : words) w = byte_decoded(w);
    return words;
}

// A byte-level BPE vocabulary: the 256 byte tokens, a few merges spelling "hello" and " world", and special
// tokens after them.
struct BpeFixture {
    VocabSpec spec;
    BpeFixture(const std::string& pre = "gpt-2") {
        spec.model = "gpt2";
        spec.pre = pre;
        for (int b = 0; b < 256; ++b) spec.tokens.push_back(byte_encoded(std::string(1, static_cast<char>(b))));
        const std::vector<std::pair<std::string, std::string>> merges = {
            {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"},
            {"Ġw", "or"}, {"Ġwor", "l"}, {"Ġworl", "d"}, {"a", "a"}};
        spec.merges.emplace();
        for (const auto& [l, r] : merges) {
            spec.merges->push_back(l + " " + r);
            spec.tokens.push_back(l + r);
        }
        spec.token_types = std::vector<int64_t>(spec.tokens.size(), 1);
        add("<|im_start|>", 3);
        add("<|im_end|>", 3);
        add("<tool>", 4);
        add("<tool>x", 4);
    }
    TokenId add(const std::string& text, int64_t type) {
        spec.tokens.push_back(text);
        spec.token_types->push_back(type);
        return id(text);
    }
    TokenId id(const std::string& text) const {
        const auto it = std::find(spec.tokens.begin(), spec.tokens.end(), text);
        return it == spec.tokens.end() ? -1 : static_cast<TokenId>(it - spec.tokens.begin());
    }
    TokenId byte_id(unsigned char b) const { return b; }
    std::unique_ptr<Tokenizer> make() const {
        return unless_no_pcre2([&] { return make_tokenizer(spec); });
    }
};

// A SentencePiece-style vocabulary: <unk> <s> </s>, 256 byte tokens, a few pieces, control tokens.
struct SpmFixture {
    VocabSpec spec;
    SpmFixture() {
        spec.model = "llama";
        spec.tokens = {"<unk>", "<s>", "</s>"};
        std::vector<int64_t> types = {2, 3, 3};
        std::vector<float> scores = {0, 0, 0};
        for (int b = 0; b < 256; ++b) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "<0x%02X>", b);
            spec.tokens.push_back(hex);
            types.push_back(6);
            scores.push_back(0);
        }
        const std::vector<std::string> pieces = {"▁", "h", "e", "l", "o", "▁h", "he", "ll", "▁he", "▁hell", "▁hello", "w", "r", "d"};
        for (size_t i = 0; i < pieces.size(); ++i) {
            spec.tokens.push_back(pieces[i]);
            types.push_back(1);
            scores.push_back(-static_cast<float>(i));
        }
        spec.tokens.push_back("<|im_end|>");
        types.push_back(3);
        scores.push_back(0);
        spec.token_types = types;
        spec.scores = scores;
    }
    TokenId id(const std::string& text) const {
        const auto it = std::find(spec.tokens.begin(), spec.tokens.end(), text);
        return it == spec.tokens.end() ? -1 : static_cast<TokenId>(it - spec.tokens.begin());
    }
};

std::string ids_text(const std::vector<TokenId>& ids) {
    std::string s;
    for (auto id : ids) s += std::to_string(id) + " ";
    return s;
}
#define CHECK_IDS(got, ...) CHECK_MSG((got) == std::vector<TokenId>(__VA_ARGS__), "got " + ids_text(got))

struct TempFile {
    std::filesystem::path path;
    TempFile() {
        path = std::filesystem::temp_directory_path() /
               ("enclave-tok-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++) + ".gguf");
    }
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

std::unique_ptr<Tokenizer> from_writer(const gguf::GgufWriter& w) {
    TempFile f;
    w.write(f.path);
    const auto file = gguf::GgufFile::open(f.path);
    return unless_no_pcre2([&] { return Tokenizer::from_gguf(file); });
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Unicode helpers

ENCLAVE_TEST(gpt2_byte_map_is_a_bijection_onto_printable_code_points) {
    std::vector<bool> seen(512, false);
    for (int b = 0; b < 256; ++b) {
        const uint32_t c = k_byte_map.to_cpt[b];
        CHECK(c < 324);
        CHECK(!seen[c]);
        seen[c] = true;
        CHECK_EQ(byte_of_cpt(c), b);
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        if (printable) CHECK_EQ(c, static_cast<uint32_t>(b));
    }
    CHECK_EQ(k_byte_map.to_cpt[' '], 0x120u);   // 'Ġ'
    CHECK_EQ(k_byte_map.to_cpt['\n'], 0x10Au);  // 'Ċ'
    CHECK_EQ(k_byte_map.to_cpt[0], 0x100u);
    CHECK_EQ(k_byte_map.to_cpt[0xAD], 0x143u);  // the last one
    CHECK_EQ(byte_of_cpt(0x144), -1);
    CHECK_EQ(byte_of_cpt(0x20), -1);  // a space is never a byte-level character
    CHECK_EQ(byte_encoded(" hi\n"), std::string("Ġhi\xC4\x8A"));
}

ENCLAVE_TEST(utf8_decoding_follows_llama_cpp_on_invalid_input) {
    using V = std::vector<uint32_t>;
    CHECK(decode_utf8_lossy("a\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80") == V({'a', 0xE9, 0x4F60, 0x1F600}));
    CHECK(decode_utf8_lossy("\x80") == V({0xFFFD}));
    CHECK(decode_utf8_lossy("\xC3") == V({0xFFFD}));                  // truncated at the end
    CHECK(decode_utf8_lossy("\xE4\xBD!") == V({0xFFFD, 0xFFFD, '!'}));  // one U+FFFD per byte
    CHECK(decode_utf8_lossy("\xF8\x88\x80\x80\x80") == V(5, 0xFFFD));
    CHECK(decode_utf8_lossy("\xC0\x80") == V({0}));              // overlong forms are not rejected
    CHECK(decode_utf8_lossy("\xED\xA0\x80") == V({0xD800}));      // nor surrogates
    CHECK(decode_utf8_lossy("\xF4\x90\x80\x80") == V({0x110000}));  // nor values past U+10FFFF
    CHECK(decode_utf8_lossy("") == V());
    CHECK_EQ(utf8(0x7F), std::string("\x7F"));
    CHECK_EQ(utf8(0x80), std::string("\xC2\x80"));
    CHECK_EQ(utf8(0x7FF), std::string("\xDF\xBF"));
    CHECK_EQ(utf8(0x800), std::string("\xE0\xA0\x80"));
    CHECK_EQ(utf8(0xFFFF), std::string("\xEF\xBF\xBF"));
    CHECK_EQ(utf8(0x10000), std::string("\xF0\x90\x80\x80"));
    CHECK_EQ(utf8(0x10FFFF), std::string("\xF4\x8F\xBF\xBF"));
    CHECK_EQ(utf8(0x110000), std::string("\xEF\xBF\xBD"));
    CHECK(is_valid_utf8("héllo 你好 😀"));
    CHECK(!is_valid_utf8("\xC0\x80"));
    CHECK(!is_valid_utf8("\xED\xA0\x80"));
    CHECK(!is_valid_utf8("\xF4\x90\x80\x80"));
    CHECK(!is_valid_utf8("\xE4\xBD"));
    CHECK_EQ(utf8_sequence_length(0x41), 1u);
    CHECK_EQ(utf8_sequence_length(0x80), 1u);
    CHECK_EQ(utf8_sequence_length(0xC3), 2u);
    CHECK_EQ(utf8_sequence_length(0xE4), 3u);
    CHECK_EQ(utf8_sequence_length(0xF0), 4u);
}

ENCLAVE_TEST(code_point_classes_are_unicode_15_1) {
    CHECK(cpt_class(cpt_flags('a')) == CptClass::letter);
    CHECK(cpt_class(cpt_flags('7')) == CptClass::number);
    CHECK(cpt_class(cpt_flags('!')) == CptClass::punctuation);
    CHECK(cpt_class(cpt_flags('$')) == CptClass::symbol);
    CHECK(cpt_class(cpt_flags(0x0301)) == CptClass::mark);
    CHECK(cpt_class(cpt_flags(0x4F60)) == CptClass::letter);
    CHECK(cpt_class(cpt_flags(0x2EBF0)) == CptClass::letter);   // CJK Extension I, new in 15.1
    CHECK(cpt_class(cpt_flags(0x1FAE8)) == CptClass::symbol);   // new in 15.0
    CHECK(cpt_class(cpt_flags(0x1CC00)) == CptClass::undefined);  // assigned only in 16.0
    CHECK(cpt_class(cpt_flags(0xE000)) == CptClass::control);   // private use
    CHECK(cpt_class(cpt_flags(0x110000)) == CptClass::undefined);
    CHECK(cpt_flags(' ') & k_flag_whitespace);
    CHECK(cpt_flags(0x85) & k_flag_whitespace);
    CHECK(cpt_flags(0x3000) & k_flag_whitespace);
    CHECK(!(cpt_flags(0x1C) & k_flag_whitespace));  // Python's isspace says yes; Unicode (and llama.cpp) no
    CHECK(!(cpt_flags(0x200B) & k_flag_whitespace));
}

// ---------------------------------------------------------------------------------------------------
// Pre-tokenizers

ENCLAVE_TEST(pre_tokenizers_split_as_llama_cpp) {
    using W = std::vector<std::string>;
    const std::string s = "Hello 12345 world's";
    CHECK(split_words("gpt-2", s) == W({"Hello", " 12345", " world", "'s"}));
    CHECK(split_words("llama-bpe", s) == W({"Hello", " ", "123", "45", " world", "'s"}));
    CHECK(split_words("qwen2", s) == W({"Hello", " ", "1", "2", "3", "4", "5", " world", "'s"}));
    CHECK(split_words("smollm", s) == W({"Hello", " ", "1", "2", "3", "4", "5", " world", "'s"}));
    CHECK(split_words("default", s) == W({"Hello", " ", "123", "45", " world", "'", "s"}));
    // Llama 3's contractions ignore case; GPT-2's do not.
    CHECK(split_words("llama3", "IT'S") == W({"IT", "'S"}));
    CHECK(split_words("gpt-2", "IT'S") == W({"IT", "'", "S"}));
    // \s+(?!\S) leaves the last space to the next word; \s*[\r\n]+ keeps newlines with preceding spaces.
    CHECK(split_words("gpt-2", "a   b") == W({"a", "  ", " b"}));
    CHECK(split_words("qwen2", "a  \n\nb") == W({"a", "  \n\n", "b"}));
    // Invalid bytes become U+FFFD before splitting, as in llama.cpp.
    CHECK(split_words("gpt-2", "a\x80") == W({"a", "\xEF\xBF\xBD"}));
    std::vector<std::string> words;
    const PreTokenizer p(PreTokenizer::patterns_for("gpt-2"));  // hand-written: needs no PCRE2
    CHECK(!p.split("\xF4\x90\x80\x80", words));  // llama.cpp fails on this; we report it
    CHECK(words.empty());
    CHECK(PreTokenizer::patterns_for("no-such-pre").empty());
}

// ---------------------------------------------------------------------------------------------------
// Byte-level BPE

ENCLAVE_TEST(bpe_merges_by_rank) {
    BpeFixture fx;
    const auto tok = fx.make();
    CHECK_IDS(tok->encode("hello world", false, false), {fx.id("hello"), fx.id("Ġworld")});
    // Equal ranks merge leftmost first.
    CHECK_IDS(tok->encode("aaa", false, false), {fx.id("aa"), fx.byte_id('a')});
    // A word no merge applies to stays in byte tokens.
    CHECK_IDS(tok->encode("xyz", false, false), {fx.byte_id('x'), fx.byte_id('y'), fx.byte_id('z')});
    CHECK(tok->encode("", true, true).empty());
    CHECK_EQ(std::string(tok->model_name()), std::string("gpt2"));
    CHECK_EQ(std::string(tok->pre_tokenizer_name()), std::string("gpt-2"));
}

ENCLAVE_TEST(special_tokens_split_by_parse_special) {
    BpeFixture fx;
    const auto tok = fx.make();
    const TokenId start = fx.id("<|im_start|>"), end = fx.id("<|im_end|>");
    CHECK_IDS(tok->encode("<|im_start|>hello<|im_end|>", false, true), {start, fx.id("hello"), end});
    // Without parse_special, control texts are plain text...
    const auto plain = tok->encode("<|im_start|>", false, false);
    CHECK(std::find(plain.begin(), plain.end(), start) == plain.end());
    CHECK_EQ(tok->decode(plain, true), std::string("<|im_start|>"));
    // ...but user-defined tokens are still split out (as Hugging Face's added tokens are).
    CHECK_IDS(tok->encode("hello<tool>hello", false, false), {fx.id("hello"), fx.id("<tool>"), fx.id("hello")});
    // Longest first: "<tool>x" wins over "<tool>".
    CHECK_IDS(tok->encode("<tool>x<tool>", false, false), {fx.id("<tool>x"), fx.id("<tool>")});
    // Adjacent and repeated tokens.
    CHECK_IDS(tok->encode("<|im_end|><|im_end|>", false, true), {end, end});
}

ENCLAVE_TEST(strip_flags_follow_the_model_name) {
    BpeFixture fx;
    const TokenId end = fx.id("<|im_end|>");
    const auto plain = fx.make();
    CHECK_IDS(plain->encode("<|im_end|> hello", false, true), {end, fx.byte_id(' '), fx.id("hello")});
    fx.spec.general_name = "Phi-3-mini-4k-instruct";  // llama.cpp strips whitespace after Phi-3's specials
    const auto phi3 = fx.make();
    CHECK_IDS(phi3->encode("<|im_end|>  \n hello", false, true), {end, fx.id("hello")});
    CHECK_IDS(phi3->encode("hello <|im_end|>", false, true), {fx.id("hello"), fx.byte_id(' '), end});  // no lstrip
}

ENCLAVE_TEST(bos_and_eos_rules) {
    {
        SpmFixture fx;  // SentencePiece: BOS by default, ids 1 and 2 by default
        const auto tok = make_tokenizer(fx.spec);
        CHECK_EQ(tok->bos(), 1);
        CHECK_EQ(tok->eos(), 2);
        CHECK_IDS(tok->encode("", true, false), {1});
        CHECK_IDS(tok->encode("hello", true, false), {1, fx.id("▁hello")});
        CHECK_IDS(tok->encode("hello", false, false), {fx.id("▁hello")});
    }
    {
        BpeFixture fx;  // gpt2: no BOS unless the file asks for one
        fx.spec.special_ids = {{"tokenizer.ggml.bos_token_id", static_cast<uint64_t>(fx.id("<|im_start|>"))},
                               {"tokenizer.ggml.eos_token_id", static_cast<uint64_t>(fx.id("<|im_end|>"))}};
        auto tok = fx.make();
        CHECK_IDS(tok->encode("hello", true, false), {fx.id("hello")});
        CHECK_EQ(tok->bos(), fx.id("<|im_start|>"));
        CHECK_EQ(tok->eos(), fx.id("<|im_end|>"));
        fx.spec.add_bos = true;
        fx.spec.add_eos = true;
        tok = fx.make();
        CHECK_IDS(tok->encode("hello", true, false), {fx.id("<|im_start|>"), fx.id("hello"), fx.id("<|im_end|>")});
        CHECK_IDS(tok->encode("hello", false, false), {fx.id("hello")});
        CHECK_IDS(tok->encode("", true, false), {fx.id("<|im_start|>"), fx.id("<|im_end|>")});
    }
    {
        BpeFixture fx("llama-bpe");  // Llama 3 files add BOS by default
        fx.spec.special_ids = {{"tokenizer.ggml.bos_token_id", static_cast<uint64_t>(fx.id("<|im_start|>"))}};
        CHECK_IDS(fx.make()->encode("hello", true, false), {fx.id("<|im_start|>"), fx.id("hello")});
        fx.spec.add_bos = false;
        CHECK_IDS(fx.make()->encode("hello", true, false), {fx.id("hello")});
    }
    {
        BpeFixture fx;  // add_bos without any BOS token is a broken file
        fx.spec.tokens.resize(11);  // below gpt2's default BOS id 11
        fx.spec.token_types->resize(11);
        fx.spec.merges->clear();
        fx.spec.add_bos = true;
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.add_bos_token");
    }
}

ENCLAVE_TEST(end_of_generation_set) {
    BpeFixture fx;
    const TokenId eot = fx.add("<|eot_id|>", 1);  // typed normal: llama.cpp still treats it as control
    const TokenId other = fx.add("<|other|>", 3);
    fx.spec.special_ids = {{"tokenizer.ggml.eos_token_id", static_cast<uint64_t>(fx.id("<|im_start|>"))}};
    const auto tok = fx.make();
    CHECK(tok->is_end_of_generation(fx.id("<|im_end|>")));
    CHECK(tok->is_end_of_generation(eot));
    CHECK(tok->is_end_of_generation(fx.id("<|im_start|>")));  // the EOS is always one
    CHECK(!tok->is_end_of_generation(other));
    CHECK(!tok->is_end_of_generation(fx.id("hello")));
    CHECK(!tok->is_end_of_generation(-1));
    CHECK(tok->attr(eot) == TokenAttr::control);
    CHECK(tok->attr(fx.id("hello")) == TokenAttr::normal);
    CHECK(tok->attr(fx.id("<tool>")) == TokenAttr::user_defined);
    CHECK_EQ(tok->token_to_piece(eot, false), std::string());
}

ENCLAVE_TEST(pieces) {
    {
        SpmFixture fx;
        const auto tok = make_tokenizer(fx.spec);
        CHECK_EQ(tok->token_to_piece(fx.id("▁hello"), false), std::string(" hello"));
        CHECK_EQ(tok->token_to_piece(fx.id("<0x41>"), false), std::string("A"));
        CHECK_EQ(tok->token_to_piece(fx.id("<0x0A>"), false), std::string("\n"));
        CHECK_EQ(tok->token_to_piece(fx.id("<unk>"), false), std::string());
        CHECK_EQ(tok->token_to_piece(fx.id("<unk>"), true), std::string("<unk>"));
        CHECK_EQ(tok->token_to_piece(1, false), std::string());
        CHECK_EQ(tok->token_to_piece(1, true), std::string("<s>"));
        CHECK(tok->attr(fx.id("<0x41>")) == TokenAttr::byte);
        CHECK_EQ(std::string(tok->pre_tokenizer_name()), std::string());
    }
    {
        BpeFixture fx;
        const auto tok = fx.make();
        CHECK_EQ(tok->token_to_piece(fx.id("Ġworld"), false), std::string(" world"));
        CHECK_EQ(tok->token_to_piece(fx.byte_id(0xC3), false), std::string("\xC3"));
        CHECK_EQ(tok->token_to_piece(fx.id("<|im_end|>"), false), std::string());
        CHECK_EQ(tok->token_to_piece(fx.id("<|im_end|>"), true), std::string("<|im_end|>"));
        CHECK_EQ(tok->token_to_piece(fx.id("<tool>"), false), std::string("<tool>"));  // user-defined: always
        CHECK_EQ(tok->token_text(fx.id("Ġworld")), std::string("Ġworld"));
        CHECK_THROWS_WITH(tok->token_to_piece(tok->n_vocab(), true), InvalidArgument, "outside the vocabulary");
        CHECK_THROWS_WITH(tok->token_to_piece(-1, true), InvalidArgument, "-1");
    }
}

ENCLAVE_TEST(spm_space_prefix_and_byte_fallback) {
    SpmFixture fx;
    const auto tok = make_tokenizer(fx.spec);
    // "▁" is prefixed at the start and after a special token; the rest falls back to bytes.
    CHECK_IDS(tok->encode("hello<|im_end|>hello", false, true),
              {fx.id("▁hello"), fx.id("<|im_end|>"), fx.id("▁hello")});
    CHECK_IDS(tok->encode("hello\n", false, false), {fx.id("▁hello"), fx.id("<0x0A>")});
    CHECK_IDS(tok->encode("é", false, false), {fx.id("▁"), fx.id("<0xC3>"), fx.id("<0xA9>")});
    fx.spec.add_space_prefix = false;
    CHECK_IDS(make_tokenizer(fx.spec)->encode("hello", false, false), {fx.id("he"), fx.id("ll"), fx.id("o")});
}

ENCLAVE_TEST(decode_round_trips_valid_utf8) {
    const std::vector<std::string> samples = {"hello world", "  leading and trailing  ", "tabs\tand\nnewlines\r\n",
                                              "你好，世界", "naïve café", "emoji 😀👍🏽", "مرحبا", "x = f(y) + 3.14;",
                                              "it's 1,234,567", std::string("nul\0byte", 8)};
    SpmFixture sfx;
    const auto spm = make_tokenizer(sfx.spec);
    for (const auto& s : samples)
        CHECK_EQ(spm->decode(spm->encode(s, false, false), false), " " + s);  // SPM adds the space prefix
    BpeFixture fx;
    const auto bpe = fx.make();
    for (const auto& s : samples) CHECK_EQ(bpe->decode(bpe->encode(s, false, false), false), s);
}

// ---------------------------------------------------------------------------------------------------
// Metadata validation

ENCLAVE_TEST(malformed_metadata_is_rejected_naming_the_key) {
    {
        BpeFixture fx;
        fx.spec.tokens.clear();
        fx.spec.token_types.reset();
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.tokens");
    }
    {
        BpeFixture fx;
        fx.spec.merges->push_back("hello nosuchtoken");
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.merges[10]");
    }
    {
        BpeFixture fx;
        fx.spec.merges->push_back("nospace");
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.merges");
    }
    {
        BpeFixture fx;
        fx.spec.merges.reset();
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.merges is missing");
    }
    {
        SpmFixture fx;
        fx.spec.scores->pop_back();
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.scores");
    }
    {
        SpmFixture fx;
        fx.spec.token_types->push_back(1);
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.token_type");
    }
    {
        BpeFixture fx;
        fx.spec.model = "bert";
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.model: unsupported tokenizer model 'bert'");
    }
    {
        BpeFixture fx;
        fx.spec.pre = "tekken";
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.pre: unknown or unsupported pre-tokenizer 'tekken'");
    }
    {
        BpeFixture fx;
        fx.spec.tokens[260] = fx.spec.tokens[5];
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "repeats token 5");
    }
    {
        BpeFixture fx;
        fx.spec.special_ids = {{"tokenizer.ggml.eos_token_id", 100000}};
        CHECK_THROWS_WITH(make_tokenizer(fx.spec), ModelFormatError, "tokenizer.ggml.eos_token_id = 100000");
    }
}

ENCLAVE_TEST(gguf_metadata_is_read_and_checked) {
    BpeFixture fx;
    auto base = [&] {
        gguf::GgufWriter w;
        w.set_string("general.architecture", "llama");
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_string("tokenizer.ggml.pre", "smollm");
        w.set_string_array("tokenizer.ggml.tokens", fx.spec.tokens);
        std::vector<int32_t> types(fx.spec.token_types->begin(), fx.spec.token_types->end());
        w.set_int32_array("tokenizer.ggml.token_type", types);
        w.set_string_array("tokenizer.ggml.merges", *fx.spec.merges);
        w.set_uint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(fx.id("<|im_end|>")));
        return w;
    };
    {
        const auto tok = from_writer(base());
        CHECK_EQ(std::string(tok->pre_tokenizer_name()), std::string("smollm"));
        CHECK_EQ(tok->eos(), fx.id("<|im_end|>"));
        CHECK_IDS(tok->encode("hello world", false, false), {fx.id("hello"), fx.id("Ġworld")});
    }
    {
        auto w = base();
        w.set_string("tokenizer.ggml.model", "");
        CHECK_THROWS_WITH(from_writer(w), ModelFormatError, "tokenizer.ggml.model");
    }
    {
        auto w = base();
        w.set_int32_array("tokenizer.ggml.tokens", {1, 2, 3});
        CHECK_THROWS_WITH(from_writer(w), ModelFormatError, "tokenizer.ggml.tokens must be an array of strings");
    }
    {
        auto w = base();
        w.set_string_array("tokenizer.ggml.token_type", {"x"});
        CHECK_THROWS_WITH(from_writer(w), ModelFormatError, "tokenizer.ggml.token_type");
    }
    {
        auto w = base();
        w.set_string("tokenizer.ggml.eos_token_id", "two");
        CHECK_THROWS_WITH(from_writer(w), ModelFormatError, "tokenizer.ggml.eos_token_id");
    }
    {
        auto w = base();
        w.set_float32_array("tokenizer.ggml.scores", {1.0f});
        CHECK_THROWS_WITH(from_writer(w), ModelFormatError, "tokenizer.ggml.scores");
    }
}

ENCLAVE_TEST(one_tokenizer_serves_many_threads) {
    BpeFixture fx;
    const auto tok = fx.make();
    const std::string text = "<|im_start|>hello world, hello again<tool>x 12345 你好<|im_end|>";
    const auto want = tok->encode(text, true, true);
    std::vector<int> ok(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            int good = 1;
            for (int i = 0; i < 500; ++i) good &= tok->encode(text, true, true) == want;
            ok[t] = good;
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) CHECK_EQ(ok[t], 1);
}

// ---------------------------------------------------------------------------------------------------
// Cost

ENCLAVE_TEST(encoding_is_linear_in_long_words) {
    // One 200 kB "word" with no merges between most pairs: a quadratic rescan would take seconds.
    SpmFixture sfx;
    const auto spm = make_tokenizer(sfx.spec);
    std::string text;
    for (int i = 0; i < 20000; ++i) text += "hello ";
    const auto t1 = std::chrono::steady_clock::now();
    const auto sids = spm->encode(text, false, false);
    const double sms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
    CHECK_EQ(sids.size(), 20001u);  // "▁hello" x 20000 and the trailing "▁"
    CHECK_MSG(sms < 1000, "took " + std::to_string(sms) + " ms");
    BpeFixture fx;
    const auto tok = fx.make();
    std::string word(200000, 'a');
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(word, false, false);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    CHECK_EQ(ids.size(), 100000u);
    CHECK_MSG(ms < 1000, "took " + std::to_string(ms) + " ms");
}

ENCLAVE_TEST_MAIN()
