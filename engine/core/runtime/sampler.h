// Sampler: picks the next token from logits, as llama.cpp's default sampler chain does:
// penalties (repetition, frequency, presence over the last repeat_last_n tokens) -> top-k -> top-p ->
// min-p -> temperature -> a seeded draw. temperature == 0 is greedy (argmax of the raw logits).
//
// Contract: SamplingParams::validate() throws InvalidArgument naming the first field out of range; a
// Sampler is used by one sequence on one thread; the same seed and inputs give the same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace enclave {

struct SamplingParams {
    float temperature = 0.8f;        // 0 .. 100; 0 = greedy
    int32_t top_k = 40;              // 0 = off; otherwise 1 .. n_vocab
    float top_p = 0.95f;             // (0, 1]; 1 = off
    float min_p = 0.05f;             // [0, 1); 0 = off
    float repeat_penalty = 1.0f;     // (0, 10]; 1 = off
    int32_t repeat_last_n = 64;      // 0 .. 1<<20 tokens the penalties look back over
    float frequency_penalty = 0.0f;  // [-2, 2]
    float presence_penalty = 0.0f;   // [-2, 2]
    uint64_t seed = 0xE7C1A5Eull;
    int32_t max_tokens = 256;        // 1 .. 1<<20
    std::vector<std::string> stop;   // at most 16 strings of 1..256 bytes

    void validate() const;
};

class Sampler {
public:
    Sampler(const SamplingParams& params, int32_t n_vocab);  // validates params

    // logits [n_vocab]; history: tokens so far (prompt and generated) for the penalties.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

    // How many of the row's largest logits sample() reads: 1 when greedy, top_k for a chain that truncates to
    // top-k with no penalty in effect (the defaults), 0 when it needs the whole row (penalties, top_k 0 or
    // above max_top). A step can then return those k (Model::forward's top output) instead of n_vocab floats.
    int32_t candidates_needed(std::span<const int32_t> history, int32_t max_top) const;
    // The same draw as sample() on the whole row, from its k = candidates_needed() largest logits, largest
    // first, equal logits by lower id (Backend::top_k's order, which sample() also uses to break ties).
    int32_t sample_top(std::span<const int32_t> top_ids, std::span<const float> top_logits);

private:
    bool any_penalty() const {
        return params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
    }
    struct Candidate {
        int32_t id;
        float logit;
    };
    SamplingParams params_;
    int32_t n_vocab_;
    int32_t sample_untruncated(std::span<const float> logits);
    int32_t sample_candidates(size_t n);  // top-p, min-p, temperature and the draw over candidates_[0, n)

    std::mt19937_64 rng_;
    std::vector<Candidate> candidates_;  // [n_vocab] reused between calls
    std::vector<float> probs_;
    std::vector<float> chunk_sums_;  // softmax weights summed by chunks of kernels::softmax_chunk tokens
};

}  // namespace enclave
