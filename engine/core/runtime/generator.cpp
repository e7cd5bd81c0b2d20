#include "core/runtime/generator.h"

#include <algorithm>
#include <chrono>

namespace enclave {

std::string_view finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::stop: return "stop";
        case FinishReason::length: return "length";
        case FinishReason::end_of_generation: return "eos";
        case FinishReason::cancelled: return "cancelled";
        case FinishReason::error: return "error";
    }
    return "unknown";
}

namespace {

// Bytes at the end of s that start a UTF-8 character whose continuation bytes have not arrived yet.
size_t incomplete_utf8_tail(std::string_view s) {
    const size_t n = s.size();
    for (size_t back = 1; back <= 4 && back <= n; ++back) {
        const auto c = static_cast<unsigned char>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        const size_t len = (c & 0x80) == 0 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return len > back ? back : 0;
    }
    return 0;  // only continuation bytes: invalid UTF-8, replaced by valid_utf8 below
}

// s with every byte that does not belong to a well-formed UTF-8 character (a stray continuation byte, a
// lead byte without its continuations, an overlong form, a surrogate, a value past U+10FFFF) replaced by
// U+FFFD. A model can sample any byte token, but JSON and protobuf strings must be valid UTF-8.
std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t len = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07u;
        }
        bool ok = len != 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            ok = (d & 0xC0) == 0x80;
            cp = (cp << 6) | (d & 0x3F);
        }
        static constexpr uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && cp >= min_of_len[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out.append("\xEF\xBF\xBD");  // U+FFFD for this one byte; the next byte starts afresh
            ++i;
        }
    }
    return out;
}

}  // namespace

std::string StopStringFilter::push(std::string_view bytes) {
    if (stopped_) return {};
    pending_.append(bytes);
    size_t cut = std::string::npos;
    for (const auto& s : stops_) {
        const size_t at = pending_.find(s);
        if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
        stopped_ = true;
        std::string out = valid_utf8(std::string_view(pending_).substr(0, cut));
        pending_.clear();
        return out;
    }
    // Hold back the longest suffix that is a prefix of some stop string.
    size_t hold = 0;
    for (const auto& s : stops_)
        for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
            if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
                hold = k;
                break;
            }
    hold = std::max(hold, incomplete_utf8_tail(pending_));
    std::string out = valid_utf8(std::string_view(pending_).substr(0, pending_.size() - hold));
    pending_.erase(0, pending_.size() - hold);
    return out;
}

std::string StopStringFilter::flush() {
    std::string out;
    if (!stopped_) out = valid_utf8(pending_);  // a character cut off by the end becomes U+FFFD
    pending_.clear();
    return out;
}

Generator::Generator(Model& model, const Tokenizer& tokenizer, KvCache& cache)
    : model_(model), tokenizer_(tokenizer), cache_(cache) {}

GenerationResult Generator::generate(std::span<const TokenId> prompt, const SamplingParams& params,
                                     const std::function<bool(std::string_view)>& on_text, int64_t n_batch) {
    params.validate();
    if (prompt.empty()) throw InvalidArgument("prompt: empty (no tokens)");
    if (n_batch <= 0) throw InvalidArgument("n_batch must be positive");
    const int64_t needed = static_cast<int64_t>(prompt.size()) + params.max_tokens;
    if (needed > cache_.capacity_tokens())
        throw InvalidArgument("prompt of " + std::to_string(prompt.size()) + " tokens + max_tokens " +
                              std::to_string(params.max_tokens) + " exceeds the context of " +
                              std::to_string(cache_.capacity_tokens()) + " tokens");
    const int32_t n_vocab = static_cast<int32_t>(model_.config().n_vocab);
    Sampler sampler(params, n_vocab);
    StopStringFilter filter(params.stop);

    const KvCache::SeqId seq = cache_.create_sequence();
    struct Release {
        KvCache& c;
        KvCache::SeqId s;
        ~Release() { c.release_sequence(s); }
    } release{cache_, seq};
    if (!cache_.reserve(seq, needed))
        throw ResourceExhausted("KV cache has no room for " + std::to_string(needed) + " tokens");

    using clock = std::chrono::steady_clock;
    GenerationResult result;
    std::vector<TokenId> history(prompt.begin(), prompt.end());
    std::vector<float> logits;
    const auto t0 = clock::now();
    for (size_t done = 0; done < prompt.size();) {
        const size_t chunk = std::min(prompt.size() - done, static_cast<size_t>(n_batch));
        const bool last = done + chunk == prompt.size();
        StepSequence s{seq, prompt.subspan(done, chunk), last ? LogitsWanted::last : LogitsWanted::none};
        model_.forward(std::span(&s, 1), cache_, logits);
        done += chunk;
    }
    const auto t1 = clock::now();
    result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

    auto emit = [&](const std::string& text) {
        if (text.empty()) return true;
        result.text += text;
        return on_text ? on_text(text) : true;
    };
    for (int32_t i = 0; i < params.max_tokens; ++i) {
        const TokenId next = sampler.sample(logits, history);
        result.generated.push_back(next);
        history.push_back(next);
        if (tokenizer_.is_end_of_generation(next)) {
            result.finish = FinishReason::end_of_generation;
            break;
        }
        if (!emit(filter.push(tokenizer_.token_to_piece(next, false)))) {
            result.finish = FinishReason::cancelled;
            break;
        }
        if (filter.stopped()) {
            result.finish = FinishReason::stop;
            break;
        }
        if (i + 1 == params.max_tokens) break;
        StepSequence s{seq, std::span(&result.generated.back(), 1), LogitsWanted::last};
        model_.forward(std::span(&s, 1), cache_, logits);
    }
    if (result.finish != FinishReason::cancelled) emit(filter.flush());
    result.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return result;
}

}  // namespace enclave
