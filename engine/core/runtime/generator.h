// Generator: one sequence from prompt to finish on a Model — chunked prefill, then sampled decode with
// streaming text that never splits a UTF-8 character or shows a stop string. The CLI's `run` and the
// tests use it; the server's scheduler drives Model::forward itself for many sequences at once.
//
// Contract: generate() owns one KV cache sequence for its duration and releases it on return or throw.
// Throws InvalidArgument when the prompt is empty or prompt + max_tokens exceeds the cache, and for bad
// sampling parameters (naming the field).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/model.h"
#include "core/runtime/kv_cache.h"
#include "core/runtime/sampler.h"
#include "core/tokenizer/tokenizer.h"

namespace enclave {

// error: the engine failed the request (a failed step); set by the serving layer, never by the Generator.
enum class FinishReason { stop, length, end_of_generation, cancelled, error };
std::string_view finish_reason_name(FinishReason r);

struct GenerationResult {
    std::vector<TokenId> generated;  // ids sampled, including a final end-of-generation token if any
    std::string text;                // visible text (stop string and end token excluded)
    FinishReason finish = FinishReason::length;
    double prefill_seconds = 0;
    double decode_seconds = 0;
};

class Generator {
public:
    Generator(Model& model, const Tokenizer& tokenizer, KvCache& cache);

    // on_text gets each newly final piece of text; returning false cancels. n_batch bounds a prefill chunk.
    GenerationResult generate(std::span<const TokenId> prompt, const SamplingParams& params,
                              const std::function<bool(std::string_view)>& on_text = {}, int64_t n_batch = 512);

private:
    Model& model_;
    const Tokenizer& tokenizer_;
    KvCache& cache_;
};

// Holds back text that may still become a stop string or is an incomplete UTF-8 tail. What it returns is
// always valid UTF-8: bytes that cannot form a character (a model may sample any byte token; max_tokens may
// cut a character in two) come out as U+FFFD.
class StopStringFilter {
public:
    explicit StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
    // Adds bytes; returns the text now safe to show. Sets stopped() once a stop string is complete.
    std::string push(std::string_view bytes);
    std::string flush();  // at the end: whatever is held back (not after a stop)
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

}  // namespace enclave
