// Tokenizer factory: reads tokenizer.* metadata, validates it, and derives the vocabulary state that
// llama.cpp's llama_vocab::impl::load derives, so that both split special tokens, add BOS/EOS and stop
// generation alike. Also the special-token partition that both tokenizer models share.
#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "core/common/error.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/vocab.h"

namespace enclave {

namespace {

using namespace tok;

constexpr const char* k_key_model = "tokenizer.ggml.model";
constexpr const char* k_key_pre = "tokenizer.ggml.pre";
constexpr const char* k_key_tokens = "tokenizer.ggml.tokens";
constexpr const char* k_key_scores = "tokenizer.ggml.scores";
constexpr const char* k_key_types = "tokenizer.ggml.token_type";
constexpr const char* k_key_merges = "tokenizer.ggml.merges";
constexpr const char* k_key_add_bos = "tokenizer.ggml.add_bos_token";
constexpr const char* k_key_add_eos = "tokenizer.ggml.add_eos_token";
constexpr const char* k_key_add_prefix = "tokenizer.ggml.add_space_prefix";

// The special-id keys llama.cpp reads, in its order (the deprecated prefix/suffix/middle ids last, so
// that they override the fim ids as they do there).
enum SpecialSlot { s_bos, s_eos, s_eot, s_eom, s_unk, s_sep, s_pad, s_mask, s_fim_pre, s_fim_suf, s_fim_mid,
                   s_fim_pad, s_fim_rep, s_fim_sep, s_count };
constexpr std::pair<const char*, SpecialSlot> k_special_keys[] = {
    {"tokenizer.ggml.bos_token_id", s_bos},         {"tokenizer.ggml.eos_token_id", s_eos},
    {"tokenizer.ggml.eot_token_id", s_eot},         {"tokenizer.ggml.eom_token_id", s_eom},
    {"tokenizer.ggml.unknown_token_id", s_unk},     {"tokenizer.ggml.seperator_token_id", s_sep},
    {"tokenizer.ggml.padding_token_id", s_pad},     {"tokenizer.ggml.mask_token_id", s_mask},
    {"tokenizer.ggml.fim_pre_token_id", s_fim_pre}, {"tokenizer.ggml.fim_suf_token_id", s_fim_suf},
    {"tokenizer.ggml.fim_mid_token_id", s_fim_mid}, {"tokenizer.ggml.fim_pad_token_id", s_fim_pad},
    {"tokenizer.ggml.fim_rep_token_id", s_fim_rep}, {"tokenizer.ggml.fim_sep_token_id", s_fim_sep},
    {"tokenizer.ggml.prefix_token_id", s_fim_pre},  {"tokenizer.ggml.suffix_token_id", s_fim_suf},
    {"tokenizer.ggml.middle_token_id", s_fim_mid},
};

template <class Set>
bool is_one_of(std::string_view s, const Set& set) {
    return std::find(std::begin(set), std::end(set), s) != std::end(set);
}
bool is_one_of(std::string_view s, std::initializer_list<std::string_view> set) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

// Texts llama.cpp recognises as special whatever the file says (llama_vocab::impl::load).
constexpr std::string_view k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view k_eom_texts[] = {"<|eom_id|>"};
constexpr std::string_view k_fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
    "<|prefix|>"};
constexpr std::string_view k_fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>",
    "<|suffix|>"};
constexpr std::string_view k_fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>",
    "<|middle|>"};
constexpr std::string_view k_fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>",
                                                                     "<PAD>", "[PAD]"};
constexpr std::string_view k_fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>",
                                                                     "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view k_fim_sep_texts[] = {"<|file_sep|>"};
constexpr std::string_view k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["};

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string lower_ascii(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool contains_any(const std::string& s, std::initializer_list<std::string_view> parts) {
    for (auto p : parts)
        if (s.find(p) != std::string::npos) return true;
    return false;
}

}  // namespace

namespace tok {

std::unique_ptr<Tokenizer> make_tokenizer(const VocabSpec& spec) {
    Vocab v;
    v.model = spec.model;
    TokenId ids[s_count];
    std::fill(std::begin(ids), std::end(ids), -1);

    if (spec.model == "llama") {
        v.is_bpe = false;
        ids[s_bos] = 1, ids[s_eos] = 2, ids[s_unk] = 0;
        v.add_space_prefix = true;
        v.add_bos = true;
    } else if (spec.model == "gpt2") {
        v.is_bpe = true;
        ids[s_bos] = 11, ids[s_eos] = 11;  // llama.cpp's defaults for BPE files that name none
        v.pre = spec.pre && !spec.pre->empty() ? *spec.pre : "default";
        if (PreTokenizer::patterns_for(v.pre).empty())
            throw ModelFormatError(std::string(k_key_pre) + ": unknown or unsupported pre-tokenizer '" + v.pre + "'");
        if (is_one_of(v.pre, {"llama3", "llama-v3", "llama-bpe"})) {
            v.ignore_merges = true;
            v.add_bos = true;
        }
        if (!spec.merges) throw ModelFormatError(std::string(k_key_merges) + " is missing (needed by model 'gpt2')");
    } else if (spec.model.empty()) {
        throw ModelFormatError(std::string(k_key_model) + " is missing or empty");
    } else {
        throw ModelFormatError(std::string(k_key_model) + ": unsupported tokenizer model '" + spec.model +
                               "' (supported: gpt2, llama)");
    }
    if (spec.add_space_prefix) v.add_space_prefix = *spec.add_space_prefix;

    // Tokens, scores, types.
    const size_t n = spec.tokens.size();
    if (n == 0) throw ModelFormatError(std::string(k_key_tokens) + " is missing or empty");
    if (n > static_cast<size_t>(INT32_MAX))
        throw ModelFormatError(std::string(k_key_tokens) + " has more tokens than ids can address");
    if (spec.scores && spec.scores->size() != n)
        throw ModelFormatError(std::string(k_key_scores) + " has " + std::to_string(spec.scores->size()) +
                               " entries for " + std::to_string(n) + " tokens");
    if (spec.token_types && spec.token_types->size() != n)
        throw ModelFormatError(std::string(k_key_types) + " has " + std::to_string(spec.token_types->size()) +
                               " entries for " + std::to_string(n) + " tokens");
    v.text.resize(n);
    v.score.assign(n, 0.0f);
    v.attr.assign(n, attr_normal);
    for (size_t i = 0; i < n; ++i) {
        std::string word = spec.tokens[i];
        if (word.empty()) word = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp renames them
        // operator[] in id order, exactly as llama.cpp fills its map: the iteration order follows.
        auto [it, inserted] = v.token_to_id.try_emplace(word, static_cast<TokenId>(i));
        if (!inserted)
            throw ModelFormatError(std::string(k_key_tokens) + ": token " + std::to_string(i) + " ('" + word +
                                   "') repeats token " + std::to_string(it->second));
        v.text[i] = std::move(word);
        if (spec.scores) v.score[i] = (*spec.scores)[i];
        if (spec.token_types) {
            switch ((*spec.token_types)[i]) {
                case 1: v.attr[i] = attr_normal; break;
                case 2: v.attr[i] = attr_unknown; break;
                case 3: v.attr[i] = attr_control; break;
                case 4: v.attr[i] = attr_user_defined; break;
                case 5: v.attr[i] = attr_unused; break;
                case 6: v.attr[i] = attr_byte; break;
                default: v.attr[i] = attr_undefined; break;  // llama.cpp maps unknown values to undefined too
            }
        }
    }

    // Merges must name tokens on both sides (llama.cpp would silently never apply one that does not).
    if (v.is_bpe) {
        const auto& merges = *spec.merges;
        for (size_t i = 0; i < merges.size(); ++i) {
            const std::string& m = merges[i];
            const size_t sp = m.find(' ', 1);
            if (sp == std::string::npos)
                throw ModelFormatError(std::string(k_key_merges) + "[" + std::to_string(i) + "] ('" + m +
                                       "') is not two tokens separated by a space");
            const std::string_view left = std::string_view(m).substr(0, sp), right = std::string_view(m).substr(sp + 1);
            if (v.find(left) < 0 || v.find(right) < 0)
                throw ModelFormatError(std::string(k_key_merges) + "[" + std::to_string(i) + "] ('" + m +
                                       "') refers to a token that is not in " + k_key_tokens);
        }
    }

    // Special ids: a default outside the vocabulary is dropped; an explicit one must be inside it.
    for (auto& id : ids)
        if (id >= 0 && static_cast<size_t>(id) >= n) id = -1;
    for (const auto& [key, slot] : k_special_keys) {
        for (const auto& [k, value] : spec.special_ids) {
            if (k != key) continue;
            if (value >= n)
                throw ModelFormatError(std::string(key) + " = " + std::to_string(value) + " is outside the vocabulary of " +
                                       std::to_string(n) + " tokens");
            ids[slot] = static_cast<TokenId>(value);
        }
    }
    if (spec.add_bos) v.add_bos = *spec.add_bos;
    if (spec.add_eos) v.add_eos = *spec.add_eos;

    // Tokens llama.cpp recognises by text: the first match in map order fills an unset slot, and the token
    // becomes a control token.
    auto detect = [&](SpecialSlot slot, const auto& texts) {
        if (ids[slot] >= 0) return;
        for (const auto& [text, id] : v.token_to_id) {
            if (is_one_of(text, texts)) {
                ids[slot] = id;
                v.attr[id] |= attr_control;
                return;
            }
        }
    };
    // llama.cpp runs all detections in one pass over the map; each slot takes its first match in map order,
    // which is what separate passes give too.
    detect(s_eot, k_eot_texts);
    detect(s_eom, k_eom_texts);
    detect(s_fim_pre, k_fim_pre_texts);
    detect(s_fim_suf, k_fim_suf_texts);
    detect(s_fim_mid, k_fim_mid_texts);
    detect(s_fim_pad, k_fim_pad_texts);
    detect(s_fim_rep, k_fim_rep_texts);
    detect(s_fim_sep, k_fim_sep_texts);

    for (size_t i = 0; i < n; ++i)  // control tokens named "unused" are unused
        if ((v.attr[i] & attr_control) && v.text[i].find("unused") != std::string::npos) v.attr[i] |= attr_unused;

    // End of generation.
    v.eog.assign(n, false);
    for (auto slot : {s_fim_pad, s_fim_rep, s_fim_sep})
        if (ids[slot] >= 0) v.eog[ids[slot]] = true;
    for (size_t i = 0; i < n; ++i) {
        if (is_one_of(v.text[i], k_eog_texts)) {
            v.eog[i] = true;
            v.attr[i] |= attr_control;
        }
    }
    for (size_t i = 0; i < n; ++i)  // gpt-oss: these are always rendered
        if (is_one_of(v.text[i], {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}))
            v.attr[i] = attr_user_defined;
    for (auto slot : {s_eos, s_eot, s_eom})
        if (ids[slot] >= 0) v.eog[ids[slot]] = true;
    {
        // o200k_harmony / solar-open: <|end|> ends a message, not the generation.
        TokenId end_id = -1;
        bool has_return = false, has_call = false, has_flush = false;
        for (size_t i = 0; i < n; ++i) {
            if (!v.eog[i]) continue;
            const auto& t = v.text[i];
            if (t == "<|return|>") has_return = true;
            else if (t == "<|call|>" || t == "<|calls|>") has_call = true;
            else if (t == "<|flush|>") has_flush = true;
            else if (t == "<|end|>") end_id = static_cast<TokenId>(i);
        }
        if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
            v.eog[end_id] = false;
            v.attr[end_id] = attr_user_defined;
        }
        // gemma4 / plamo: </s> is a normal token there.
        TokenId s_id = -1;
        bool normal_s_marker = false;
        for (size_t i = 0; i < n; ++i) {
            if (!v.eog[i]) continue;
            if (v.text[i] == "<|tool_response>" || v.text[i] == "<|plamo:eos|>") normal_s_marker = true;
            else if (v.text[i] == "</s>") s_id = static_cast<TokenId>(i);
        }
        if (normal_s_marker && s_id >= 0) {
            v.eog[s_id] = false;
            v.attr[s_id] = attr_normal;
        }
    }

    v.bos = ids[s_bos];
    v.eos = ids[s_eos];
    v.unk = ids[s_unk];
    if (v.add_bos && v.bos < 0)
        throw ModelFormatError(std::string(k_key_add_bos) + " is true but the model has no BOS token");
    if (v.add_eos && v.eos < 0)
        throw ModelFormatError(std::string(k_key_add_eos) + " is true but the model has no EOS token");

    // Special tokens, longest first. std::sort (not stable_sort) on ids in ascending order with llama.cpp's
    // comparator, so that equally long tokens come out in the very order llama.cpp tries them.
    for (size_t i = 0; i < n; ++i)
        if (v.attr[i] & (attr_control | attr_user_defined | attr_unknown)) v.special_order.push_back(static_cast<TokenId>(i));
    std::sort(v.special_order.begin(), v.special_order.end(),
              [&](TokenId a, TokenId b) { return v.text[a].size() > v.text[b].size(); });

    v.piece.resize(n);
    for (size_t i = 0; i < n; ++i) v.piece[i] = v.is_bpe ? bpe_piece(v.text[i], v.attr[i]) : spm_piece(v.text[i], v.attr[i]);

    // Strip flags llama.cpp sets by model name (after the piece cache, as there; they do not change pieces).
    {
        const std::string name = lower_ascii(spec.general_name);
        const std::string pre = spec.pre.value_or("");
        auto set_flag = [&](std::string_view text, uint32_t bit, bool on) {
            const TokenId id = v.find(text);
            if (id < 0) return;
            v.attr[id] = on ? (v.attr[id] | bit) : (v.attr[id] & ~bit);
        };
        if (contains_any(pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
            contains_any(spec.general_architecture, {"nomic-bert-moe", "jina-bert-v3"})) {
            set_flag("<mask>", attr_lstrip, true);
        } else if (contains_any(name, {"phi-3", "phi3"})) {
            for (const TokenId id : v.special_order) v.attr[id] |= attr_rstrip;
            set_flag("</s>", attr_rstrip, true);
            for (auto t : {"<unk>", "<s>", "<|endoftext|>"}) set_flag(t, attr_rstrip, false);
        } else if (contains_any(name, {"modern-bert"})) {
            set_flag("[MASK]", attr_lstrip, true);
        }
    }

    if (v.is_bpe) return make_bpe_tokenizer(std::move(v), *spec.merges);
    return make_spm_tokenizer(std::move(v));
}

std::vector<Fragment> VocabTokenizer::partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, 0, text.size()});
    std::vector<Fragment> next;
    for (const TokenId id : vocab_.special_order) {
        const uint32_t a = vocab_.attr[id];
        // Without parse_special, control and unknown texts stay text; user-defined ones are still split
        // out, as Hugging Face tokenizers do with added tokens.
        if (!parse_special && (a & (attr_control | attr_unknown))) continue;
        const std::string& tok = vocab_.text[id];
        next.clear();
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t off = f.offset, len = f.length;
            while (true) {
                const size_t m = text.substr(0, off + len).find(tok, off);
                if (m == std::string_view::npos) {
                    if (len > 0) next.push_back({-1, off, len});
                    break;
                }
                size_t left_len = m - off;
                if (a & attr_lstrip)
                    while (left_len > 0 && is_ascii_space(text[off + left_len - 1])) --left_len;
                if (left_len > 0) next.push_back({-1, off, left_len});
                next.push_back({id, 0, 0});
                if (m + tok.size() >= off + len) break;
                size_t right_off = m + tok.size(), right_len = off + len - right_off;
                if (a & attr_rstrip)
                    while (right_len > 0 && is_ascii_space(text[right_off])) ++right_off, --right_len;
                off = right_off;
                len = right_len;
            }
        }
        frags.swap(next);
    }
    return frags;
}

std::vector<TokenId> VocabTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
    bool after_special = true;  // the start of the text counts as following a special token
    for (const Fragment& f : partition(text, parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
        } else {
            if (!encode_text(text.substr(f.offset, f.length), after_special, out)) return {};
            after_special = false;
        }
    }
    if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
    return out;
}

void VocabTokenizer::check_id(TokenId id) const {
    if (id < 0 || static_cast<size_t>(id) >= vocab_.text.size())
        throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(vocab_.text.size()) + " tokens");
}

std::string VocabTokenizer::token_to_piece(TokenId id, bool special) const {
    check_id(id);
    if (!special && (vocab_.attr[id] & (attr_unknown | attr_control))) return {};
    return vocab_.piece[id];
}

bool VocabTokenizer::is_end_of_generation(TokenId id) const {
    return id >= 0 && static_cast<size_t>(id) < vocab_.eog.size() && vocab_.eog[id];
}

TokenAttr VocabTokenizer::attr(TokenId id) const {
    check_id(id);
    const uint32_t a = vocab_.attr[id];
    // One type per token; where llama.cpp added a bit, the more special one wins.
    if (a & attr_control) return TokenAttr::control;
    if (a & attr_user_defined) return TokenAttr::user_defined;
    if (a & attr_byte) return TokenAttr::byte;
    if (a & attr_unknown) return TokenAttr::unknown;
    if (a & attr_unused) return TokenAttr::unused;
    if (a & attr_normal) return TokenAttr::normal;
    return TokenAttr::undefined;
}

const std::string& VocabTokenizer::token_text(TokenId id) const {
    check_id(id);
    return vocab_.text[id];
}

}  // namespace tok

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool special) const {
    std::string out;
    for (const TokenId id : ids) out += token_to_piece(id, special);
    return out;
}

namespace {

std::vector<std::string> string_array(const gguf::GgufFile& f, const char* key) {
    const gguf::Array* a = f.get_array(key);
    if (!a) return {};
    if (a->element_type != gguf::ValueType::STRING)
        throw ModelFormatError(std::string(key) + " must be an array of strings, not of " +
                               std::string(gguf::value_type_name(a->element_type)));
    return a->strings;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::GgufFile& f) {
    using gguf::ValueType;
    VocabSpec spec;
    spec.model = f.get_string(k_key_model).value_or("");
    spec.pre = f.get_string(k_key_pre);
    if (!f.find(k_key_tokens)) throw ModelFormatError(std::string(k_key_tokens) + " is missing");
    spec.tokens = string_array(f, k_key_tokens);
    if (const gguf::Array* a = f.get_array(k_key_scores)) {
        std::vector<float> s;
        s.reserve(a->size());
        if (a->element_type == ValueType::FLOAT32 || a->element_type == ValueType::FLOAT64) {
            for (double d : a->floats) s.push_back(static_cast<float>(d));
        } else if (a->element_type == ValueType::INT32) {
            for (int64_t i : a->ints) s.push_back(static_cast<float>(i));
        } else {
            throw ModelFormatError(std::string(k_key_scores) + " must be an array of float32, not of " +
                                   std::string(gguf::value_type_name(a->element_type)));
        }
        spec.scores = std::move(s);
    }
    if (const gguf::Array* a = f.get_array(k_key_types)) {
        if (a->element_type != ValueType::INT32 && a->element_type != ValueType::UINT32 &&
            a->element_type != ValueType::INT8 && a->element_type != ValueType::UINT8)
            throw ModelFormatError(std::string(k_key_types) + " must be an array of int32, not of " +
                                   std::string(gguf::value_type_name(a->element_type)));
        spec.token_types = a->ints;
    }
    if (f.find(k_key_merges)) spec.merges = string_array(f, k_key_merges);
    for (const auto& [key, slot] : k_special_keys) {
        (void)slot;
        if (f.find(key)) {
            const auto id = f.get_uint(key);  // throws naming the key for a non-integer or negative value
            if (id) spec.special_ids.emplace_back(key, *id);
        }
    }
    spec.add_bos = f.get_bool(k_key_add_bos);
    spec.add_eos = f.get_bool(k_key_add_eos);
    spec.add_space_prefix = f.get_bool(k_key_add_prefix);
    spec.general_name = f.get_string("general.name").value_or("");
    spec.general_architecture = f.get_string("general.architecture").value_or("");
    return tok::make_tokenizer(spec);
}

}  // namespace enclave
