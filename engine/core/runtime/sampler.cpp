#include "core/runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <unordered_map>

#include "core/common/error.h"
#include "enclave/kernels/cpu_ops.h"

namespace enclave {

namespace {
void require(bool ok, const std::string& field, const std::string& range, double value) {
    if (!ok) {
        std::ostringstream v;
        v << value;  // shortest form: 2, 0.5, nan
        throw InvalidArgument(field + " = " + v.str() + " is out of range (" + range + ")");
    }
}
}  // namespace

void SamplingParams::validate() const {
    require(std::isfinite(temperature) && temperature >= 0.0f && temperature <= 100.0f, "temperature", "0 to 100", temperature);
    require(top_k >= 0, "top_k", "0 (off) or more", top_k);
    require(std::isfinite(top_p) && top_p > 0.0f && top_p <= 1.0f, "top_p", "greater than 0, at most 1", top_p);
    require(std::isfinite(min_p) && min_p >= 0.0f && min_p < 1.0f, "min_p", "0 to below 1", min_p);
    require(std::isfinite(repeat_penalty) && repeat_penalty > 0.0f && repeat_penalty <= 10.0f, "repeat_penalty",
            "greater than 0, at most 10", repeat_penalty);
    require(repeat_last_n >= 0 && repeat_last_n <= (1 << 20), "repeat_last_n", "0 to 1048576", repeat_last_n);
    require(std::isfinite(frequency_penalty) && std::fabs(frequency_penalty) <= 2.0f, "frequency_penalty", "-2 to 2",
            frequency_penalty);
    require(std::isfinite(presence_penalty) && std::fabs(presence_penalty) <= 2.0f, "presence_penalty", "-2 to 2",
            presence_penalty);
    require(max_tokens >= 1 && max_tokens <= (1 << 20), "max_tokens", "1 to 1048576", max_tokens);
    if (stop.size() > 16) throw InvalidArgument("stop: at most 16 stop strings (got " + std::to_string(stop.size()) + ")");
    for (const auto& s : stop)
        if (s.empty() || s.size() > 256)
            throw InvalidArgument("stop: each stop string must have 1 to 256 bytes (got " + std::to_string(s.size()) + ")");
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab) : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
    params_.validate();
    if (n_vocab <= 0) throw InvalidArgument("sampler: vocabulary is empty");
    if (params_.top_k > n_vocab) params_.top_k = n_vocab;
    candidates_.reserve(static_cast<size_t>(n_vocab));
    probs_.reserve(static_cast<size_t>(n_vocab));
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    if (static_cast<int32_t>(logits.size()) != n_vocab_)
        throw InvalidArgument("sampler: got " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                              std::to_string(n_vocab_));
    if (params_.temperature == 0.0f) {  // greedy: the first maximum, as llama.cpp's greedy sampler
        return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    if (params_.top_k == 0 && params_.top_p >= 1.0f && params_.min_p == 0.0f && (!any_penalty() || history.empty()))
        return sample_untruncated(logits);  // the OpenAI defaults: no candidate list needed
    candidates_.clear();
    for (int32_t i = 0; i < n_vocab_; ++i) candidates_.push_back({i, logits[static_cast<size_t>(i)]});

    // Penalties over the recent window (llama.cpp's penalties sampler).
    if (any_penalty() && params_.repeat_last_n > 0 && !history.empty()) {
        const size_t window = std::min(history.size(), static_cast<size_t>(params_.repeat_last_n));
        std::unordered_map<int32_t, int> counts;
        for (size_t i = history.size() - window; i < history.size(); ++i) ++counts[history[i]];
        for (const auto& [id, count] : counts) {
            if (id < 0 || id >= n_vocab_) continue;
            float& l = candidates_[static_cast<size_t>(id)].logit;
            l = l <= 0 ? l * params_.repeat_penalty : l / params_.repeat_penalty;
            l -= static_cast<float>(count) * params_.frequency_penalty + (count > 0 ? 1.0f : 0.0f) * params_.presence_penalty;
        }
    }
    // Truncation never sorts the whole vocabulary (49k candidates a token, per sequence, on the engine
    // thread): top-k sorts only its k; top-p finds its cut by a weighted quickselect and min-p by one
    // partition, both in expected linear time. The survivors are then candidates_[0, n), in no order.
    // Equal logits by lower id: the order Backend::top_k returns, so sample_top() draws the same token.
    auto by_logit = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    size_t n = candidates_.size();
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
        std::partial_sort(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(), by_logit);
        n = static_cast<size_t>(params_.top_k);
    }
    return sample_candidates(n);
}

int32_t Sampler::candidates_needed(std::span<const int32_t> history, int32_t max_top) const {
    if (params_.temperature == 0.0f) return 1;
    if (any_penalty() && params_.repeat_last_n > 0 && !history.empty()) return 0;
    // top_k == n_vocab keeps the whole row in id order (no sort): sample() needs it.
    if (params_.top_k <= 0 || params_.top_k > max_top || params_.top_k >= n_vocab_) return 0;
    return params_.top_k;
}

int32_t Sampler::sample_top(std::span<const int32_t> top_ids, std::span<const float> top_logits) {
    if (top_ids.empty() || top_ids.size() != top_logits.size())
        throw InvalidArgument("sampler: sample_top needs as many logits as ids, at least one");
    if (params_.temperature == 0.0f) return top_ids[0];
    if (params_.top_k <= 0 || top_ids.size() != static_cast<size_t>(params_.top_k))
        throw InvalidArgument("sampler: sample_top got " + std::to_string(top_ids.size()) +
                              " candidates for top_k " + std::to_string(params_.top_k));
    candidates_.clear();
    for (size_t i = 0; i < top_ids.size(); ++i) candidates_.push_back({top_ids[i], top_logits[i]});
    return sample_candidates(candidates_.size());
}

int32_t Sampler::sample_candidates(size_t n) {
    float max_logit = candidates_[0].logit;
    for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, candidates_[i].logit);
    if (params_.top_p < 1.0f) {
        // The fewest largest-logit tokens whose probability (softmax over the survivors, before
        // temperature) reaches top_p; among equal logits, the ones that come first.
        auto weight = [&](const Candidate& c) { return std::exp(static_cast<double>(c.logit - max_logit)); };
        double total = 0;
        for (size_t i = 0; i < n; ++i) total += weight(candidates_[i]);
        const double target = static_cast<double>(params_.top_p) * total;
        size_t lo = 0, hi = n;  // [0, lo) is in the nucleus with mass `inside`; the cut lies in [lo, hi)
        double inside = 0;
        size_t keep = n;
        while (lo < hi) {
            const float pivot = candidates_[lo + (hi - lo) / 2].logit;
            auto first = candidates_.begin() + static_cast<std::ptrdiff_t>(lo);
            auto last = candidates_.begin() + static_cast<std::ptrdiff_t>(hi);
            auto greater_end = std::partition(first, last, [&](const Candidate& c) { return c.logit > pivot; });
            auto equal_end = std::partition(greater_end, last, [&](const Candidate& c) { return c.logit == pivot; });
            double above = 0;
            for (auto it = first; it != greater_end; ++it) above += weight(*it);
            const size_t n_above = static_cast<size_t>(greater_end - first);
            if (inside + above >= target && n_above > 0) {
                hi = lo + n_above;  // the cut is among the larger ones
                continue;
            }
            const double w = std::exp(static_cast<double>(pivot - max_logit));
            const size_t n_equal = static_cast<size_t>(equal_end - greater_end);
            const double need = target - inside - above;
            if (need <= w * static_cast<double>(n_equal)) {
                keep = lo + n_above + std::clamp<size_t>(static_cast<size_t>(std::ceil(need / w)), 1, n_equal);
                break;
            }
            inside += above + w * static_cast<double>(n_equal);
            lo += n_above + n_equal;
        }
        n = std::max<size_t>(std::min(keep, n), 1);
    }
    if (params_.min_p > 0.0f) {
        // Keep tokens whose probability is at least min_p times the top one's: logit >= max + ln(min_p).
        const float threshold = max_logit + std::log(params_.min_p);
        n = static_cast<size_t>(std::partition(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n),
                                               [&](const Candidate& c) { return c.logit >= threshold; }) -
                                candidates_.begin());
    }
    // Draw from softmax(logit / temperature) over the n survivors, walking them in their order; the
    // distribution does not depend on that order.
    probs_.resize(n);
    double total = 0;
    const float inv_t = 1.0f / params_.temperature;
    for (size_t i = 0; i < n; ++i) {
        probs_[i] = std::exp((candidates_[i].logit - max_logit) * inv_t);
        total += probs_[i];
    }
    const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
    double cum = 0;
    for (size_t i = 0; i < n; ++i) {
        cum += probs_[i];
        if (u < cum) return candidates_[i].id;
    }
    return candidates_[n - 1].id;  // u within rounding of total
}

int32_t Sampler::sample_untruncated(std::span<const float> logits) {
    // softmax(logits / temperature) over the whole vocabulary (vectorized: kernels::softmax_weights_row),
    // drawn by finding the chunk of 256 tokens that holds the draw, then the token within it, in token order.
    const int64_t n = static_cast<int64_t>(logits.size());
    const float max_logit = kernels::max_of_row(logits.data(), n);
    probs_.resize(static_cast<size_t>(n));
    chunk_sums_.resize(static_cast<size_t>((n + kernels::softmax_chunk - 1) / kernels::softmax_chunk));
    kernels::softmax_weights_row(logits.data(), max_logit, 1.0f / params_.temperature, probs_.data(), chunk_sums_.data(), n);
    double total = 0;
    for (const float c : chunk_sums_) total += c;
    const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
    double cum = 0;
    for (size_t c = 0; c < chunk_sums_.size(); ++c) {
        if (u >= cum + chunk_sums_[c] && c + 1 < chunk_sums_.size()) {
            cum += chunk_sums_[c];
            continue;
        }
        const size_t begin = c * static_cast<size_t>(kernels::softmax_chunk);
        const size_t end = std::min(static_cast<size_t>(n), begin + static_cast<size_t>(kernels::softmax_chunk));
        for (size_t i = begin; i < end; ++i) {
            cum += probs_[i];
            if (u < cum) return static_cast<int32_t>(i);
        }
        // u within rounding of this chunk's end (its float sum and the sum of its terms in double differ):
        // the chunk's last token of nonzero weight.
        for (size_t i = end; i-- > begin;)
            if (probs_[i] > 0.0f) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(n - 1);
}

}  // namespace enclave
