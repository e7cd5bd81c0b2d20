// Scheduler: continuous batching over one Model — the step loop the server's engine thread runs.
//
// Contract
// - submit() queues a request (prompt ids + sampling) and returns its id; it is admitted at a later step()
//   when the step has room (max_batch_tokens, max_running) and the KV cache can hold its prompt.
// - step() runs one Model::forward over everything admitted: one decode token for every running sequence
//   and prefill chunks (at most prefill_chunk tokens a sequence) for new ones, so a long prompt never
//   stalls running streams. It samples, appends, and reports each new token and each finish through the
//   callback given at submit. It returns false when there was nothing to do.
// - When the cache has no block for a running sequence's next token, the newest running sequence is
//   preempted: its blocks are freed and it waits again with prompt + generated tokens, to be recomputed
//   (the client sees no gap, only delay). A request that alone does not fit the cache fails at submit.
// - Prefix caching (config.prefix_cache, on by default): a request's leading full KV blocks that another
//   request already computed (a shared system prompt, a conversation's earlier turns, a preempted
//   sequence's own blocks) are attached instead of computed again; only the rest is prefilled. A waiting
//   request whose prefix a running request is computing in this very step waits one step for it.
//   Reused K/V was computed in another batch, so logits may differ from a cold prefill by float
//   summation order only (~1e-7), as they already do between batch compositions.
// - cancel() finishes a request with FinishReason::cancelled at the next step boundary and frees its blocks.
// - Single-threaded: only the engine thread calls it. Callbacks run on that thread, inside step().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/model.h"
#include "core/runtime/generator.h"
#include "core/runtime/kv_cache.h"
#include "core/runtime/sampler.h"
#include "core/tokenizer/tokenizer.h"

namespace enclave {

using RequestId = uint64_t;

struct SchedulerConfig {
    int64_t max_batch_tokens = 512;  // tokens in one forward step
    int64_t max_running = 64;        // sequences in one step
    int64_t prefill_chunk = 256;     // prompt tokens a sequence may prefill in one step
    bool prefix_cache = true;        // reuse K/V blocks of identical leading tokens across requests
};

struct RequestEvent {
    RequestId id = 0;
    // A new token (finished == false) or the end (finished == true, finish says why, token unset).
    std::optional<TokenId> token;
    std::string text;  // newly final text (UTF-8 complete, stop strings held back and cut)
    bool finished = false;
    FinishReason finish = FinishReason::length;
    int64_t prompt_tokens = 0;
    int64_t generated_tokens = 0;
};

class Scheduler {
public:
    using Callback = std::function<void(const RequestEvent&)>;

    Scheduler(Model& model, KvCache& cache, const Tokenizer& tokenizer, SchedulerConfig config = {});
    ~Scheduler();

    // Throws InvalidArgument (empty prompt, bad sampling values, prompt + max_tokens beyond the cache).
    // Reads only immutable state, so request threads may call it before handing a request over.
    void validate_request(const std::vector<TokenId>& prompt, const SamplingParams& params) const;
    RequestId submit(std::vector<TokenId> prompt, const SamplingParams& params, Callback on_event);
    void cancel(RequestId id);
    bool step();

    size_t waiting() const;
    size_t running() const;
    int64_t preemptions() const;
    int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }  // prompt tokens not computed again

private:
    struct Sequence;
    struct Planned;
    bool admit(Sequence& s, int64_t& budget_tokens);
    bool waits_for_inflight_prefix(const Sequence& s, const std::vector<Planned>& plan) const;
    void preempt_newest();
    void finish(Sequence& s, FinishReason reason);

    Model& model_;
    KvCache& cache_;
    const Tokenizer& tokenizer_;
    SchedulerConfig config_;
    RequestId next_id_ = 1;
    std::deque<std::unique_ptr<Sequence>> waiting_;
    std::vector<std::unique_ptr<Sequence>> running_;  // in admission order: the back is the newest
    int64_t preemptions_ = 0;
    int64_t prefix_hit_tokens_ = 0;
    std::vector<float> logits_;           // [rows sampled from whole rows, n_vocab]
    std::vector<TopLogit> top_;           // the top-k candidates of the other rows (Model::forward)
    std::vector<int32_t> top_ids_;        // one row's candidates, for Sampler::sample_top
    std::vector<float> top_logits_;
};

}  // namespace enclave
