// Model: a loaded decoder-only transformer on one backend, and its forward step.
//
// Contract
// - load() opens and validates the GGUF file, finds its architecture, reads the config, binds every weight
//   with its expected shape (a missing or misshapen tensor throws ModelFormatError naming the tensor, the
//   expected and the actual shape) and hands the weights to the backend (the CPU maps them in place).
// - forward() runs one step over several sequences at once: each StepSequence appends its tokens to its
//   KV cache sequence (which must already have reserved room for them) and may ask for the logits of its
//   last token or of all its tokens. Sequences of different lengths and positions mix freely; this is the
//   step that continuous batching calls. Not thread-safe: one engine thread drives a Model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "core/backend/backend.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"
#include "core/runtime/kv_cache.h"

namespace enclave {

using TokenId = int32_t;

enum class LogitsWanted { none, last, all };

struct StepSequence {
    KvCache::SeqId seq = -1;
    std::span<const TokenId> tokens;  // appended at positions cache.length(seq) onwards
    LogitsWanted logits = LogitsWanted::last;
    // With LogitsWanted::last and a `top` output (forward's second form): 1 .. Backend::k_max_top_k asks for
    // only the top_k largest logits of the last token instead of its whole row (what a sampler that truncates
    // to top-k reads; a GPU backend then copies k pairs back instead of n_vocab floats). 0: the whole row.
    int32_t top_k = 0;
};

// One of the largest logits of a row (forward's `top` output): token id and its raw logit.
struct TopLogit {
    TokenId id = 0;
    float logit = 0.0f;
};

class Model {
public:
    static std::unique_ptr<Model> load(gguf::GgufFile file, Backend& backend);
    ~Model();

    const ModelConfig& config() const;
    const gguf::GgufFile& file() const;
    Backend& backend() const;

    // Runs one step. logits_out is resized to [n_rows, n_vocab], rows in the order of `step`, and within a
    // sequence in token order. Advances each sequence's cache length by its token count.
    // Throws InvalidArgument for token ids out of range, an empty step, or unreserved cache room.
    void forward(std::span<const StepSequence> step, KvCache& cache, std::vector<float>& logits_out);
    // The same step; sequences with top_k > 0 (and LogitsWanted::last) put min(top_k, n_vocab) entries into
    // top_out (largest first, equal logits by lower id: Backend::top_k), in step order, and no row into
    // logits_out, which holds the other sequences' rows in step order. Throws InvalidArgument for a top_k
    // beyond Backend::k_max_top_k.
    void forward(std::span<const StepSequence> step, KvCache& cache, std::vector<float>& logits_out,
                 std::vector<TopLogit>& top_out);

private:
    struct Impl;
    explicit Model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave
