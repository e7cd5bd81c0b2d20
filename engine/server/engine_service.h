// EngineService: one loaded model served to many clients. An engine thread owns the Model, its KV cache
// and a Scheduler and runs the step loop; request threads (HTTP, later gRPC) only validate, enqueue and
// read their request's event stream. No request thread touches model memory.
//
// Contract
// - submit() is thread-safe: it checks the request (InvalidArgument naming the field) and returns a
//   RequestStream the caller reads with next() until an event with finished == true. Past max_queued
//   requests not yet finished it refuses at once with ResourceExhausted (HTTP 429, gRPC RESOURCE_EXHAUSTED).
// - cancel() (or destroying a stream's last holder before it finished) frees the request's sequence at
//   the next step.
// - health() proves a round trip through the engine thread, not only that the process lives.
// - stop() (also run by the destructor) finishes every open request with FinishReason::cancelled and
//   joins the engine thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/backend/backend.h"
#include "core/model/model.h"
#include "core/runtime/kv_cache.h"
#include "core/runtime/scheduler.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "server/telemetry/metrics.h"

namespace enclave::server {

// The events of one request, produced by the engine thread and consumed by one request thread.
class RequestStream {
public:
    // Blocks until an event arrives or the timeout passes (nullopt).
    std::optional<RequestEvent> next(std::chrono::milliseconds timeout);
    RequestId id() const { return id_; }

private:
    friend class EngineService;
    void push(const RequestEvent& e);
    RequestId id_ = 0;
    // Engine-thread bookkeeping for the latency metrics (set at submit, handed over under the service lock).
    std::chrono::steady_clock::time_point submitted_at_;
    std::chrono::steady_clock::time_point last_token_at_;
    bool seen_token_ = false;
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<RequestEvent> events_;
};

struct LoadedEngine {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<KvCache> cache;
    std::optional<ChatTemplate> chat_template;  // none when the file has no known template
    std::string model_id;                       // the name clients use, e.g. "SmolLM2-135M-Instruct.Q4_1"
    std::string file;                           // the file it came from (a name in the model directory)
    std::string backend_name;                   // cpu, cuda
};

class EngineService {
public:
    EngineService(LoadedEngine engine, SchedulerConfig config, int64_t max_queued = 256);
    ~EngineService();
    EngineService(const EngineService&) = delete;
    EngineService& operator=(const EngineService&) = delete;

    std::shared_ptr<RequestStream> submit(std::vector<TokenId> prompt, const SamplingParams& params);

    // Prompt ids for a conversation (the model's chat template, special tokens parsed) or for plain text.
    // Thread-safe. InvalidArgument names what is wrong (unknown role, no template, empty conversation).
    std::vector<TokenId> chat_prompt(const std::vector<ChatMessage>& messages) const;
    std::vector<TokenId> text_prompt(const std::string& text) const;
    void cancel(RequestId id);
    bool health(std::chrono::milliseconds timeout);
    void stop();

    // Immutable after construction: safe from any thread.
    const std::string& model_id() const { return engine_.model_id; }
    const std::string& file() const { return engine_.file; }
    const std::string& backend_name() const { return engine_.backend_name; }
    const ModelConfig& model_config() const { return engine_.model->config(); }
    const Tokenizer& tokenizer() const { return *engine_.tokenizer; }
    const std::optional<ChatTemplate>& chat_template() const { return engine_.chat_template; }
    int64_t context_tokens() const { return engine_.cache->capacity_tokens(); }
    const Metrics& metrics() const { return metrics_; }
    // Submitted and not yet finished (a draining model unloads when this reaches 0).
    int64_t open_requests() const;

private:
    void run();
    void observe(RequestStream& stream, const RequestEvent& e);  // engine thread: latency and token metrics

    LoadedEngine engine_;
    std::unique_ptr<Scheduler> scheduler_;  // engine thread only
    Metrics metrics_;

    mutable std::mutex mutex_;  // guards everything below
    std::condition_variable wake_;
    struct Submission {
        std::vector<TokenId> prompt;
        SamplingParams params;
        std::shared_ptr<RequestStream> stream;
    };
    std::deque<Submission> inbox_;
    std::vector<RequestId> cancels_;
    uint64_t health_asked_ = 0;
    uint64_t health_answered_ = 0;
    std::condition_variable health_cv_;
    bool stopping_ = false;
    RequestId next_id_ = 1;
    int64_t max_queued_;
    int64_t open_requests_ = 0;  // submitted and not yet finished
    std::vector<RequestId> failed_;  // engine thread only: service ids ended by a failed step

    std::thread thread_;
};

}  // namespace enclave::server
