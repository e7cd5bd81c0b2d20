#include "core/runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <unordered_map>

#include "core/common/error.h"

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
    candidates_.clear();
    for (int32_t i = 0; i < n_vocab_; ++i) candidates_.push_back({i, logits[static_cast<size_t>(i)]});

    // Penalties over the recent window (llama.cpp's penalties sampler).
    const bool penalise = params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
    if (penalise && params_.repeat_last_n > 0 && !history.empty()) {
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
    // thread): top-k sorts only its k; top-p and min-p sort a growing prefix until the cut is inside it.
    auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
    size_t n = candidates_.size();
    size_t sorted = 0;  // candidates_[0, sorted) are the largest, in order
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
        std::partial_sort(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(), by_logit);
        n = sorted = static_cast<size_t>(params_.top_k);
    }
    auto sort_prefix = [&](size_t k) {  // grows the sorted prefix of the n survivors to at least k
        k = std::min(k, n);
        if (k <= sorted) return;
        std::partial_sort(candidates_.begin() + static_cast<std::ptrdiff_t>(sorted),
                          candidates_.begin() + static_cast<std::ptrdiff_t>(k),
                          candidates_.begin() + static_cast<std::ptrdiff_t>(n), by_logit);
        sorted = k;
    };
    if (params_.top_p < 1.0f || params_.min_p > 0.0f) sort_prefix(64);
    if (params_.top_p < 1.0f) {
        // The smallest sorted prefix whose probability (softmax over the survivors, before temperature)
        // reaches top_p.
        const float max_logit = candidates_[0].logit;
        double total = 0;
        for (size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(candidates_[i].logit - max_logit));
        const double target = static_cast<double>(params_.top_p) * total;
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            if (i == sorted) sort_prefix(sorted * 4);
            cum += std::exp(static_cast<double>(candidates_[i].logit - max_logit));
            if (cum >= target) {
                keep = i + 1;
                break;
            }
        }
        n = std::max<size_t>(keep, 1);
    }
    if (params_.min_p > 0.0f) {
        // Keep tokens whose probability is at least min_p times the top one's: logit >= max + ln(min_p).
        const float threshold = candidates_[0].logit + std::log(params_.min_p);
        size_t keep = 1;
        while (keep < n) {
            if (keep == sorted) sort_prefix(sorted * 4);
            if (candidates_[keep].logit < threshold) break;
            ++keep;
        }
        n = keep;
    }
    // Draw from softmax(logit / temperature) over the n survivors, walking them in their order (sorted
    // where truncation sorted them); the distribution does not depend on that order.
    float max_logit = candidates_[0].logit;
    if (sorted == 0)
        for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, candidates_[i].logit);
    probs_.resize(n);
    double total = 0;
    const float inv_t = 1.0f / params_.temperature;
    for (size_t i = 0; i < n; ++i) {
        probs_[i] = static_cast<float>(std::exp(static_cast<double>((candidates_[i].logit - max_logit) * inv_t)));
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

}  // namespace enclave
