#include "server/engine_service.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace enclave::server {

std::optional<RequestEvent> RequestStream::next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    RequestEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
}

void RequestStream::push(const RequestEvent& e) {
    {
        std::lock_guard lock(mutex_);
        events_.push_back(e);
        events_.back().id = id_;
    }
    ready_.notify_one();
}

EngineService::EngineService(LoadedEngine engine, SchedulerConfig config, int64_t max_queued)
    : engine_(std::move(engine)), metrics_(engine_.model_id), max_queued_(max_queued) {
    scheduler_ = std::make_unique<Scheduler>(*engine_.model, *engine_.cache, *engine_.tokenizer, config);
    thread_ = std::thread([this] { run(); });
}

EngineService::~EngineService() { stop(); }

std::shared_ptr<RequestStream> EngineService::submit(std::vector<TokenId> prompt, const SamplingParams& params) {
    scheduler_->validate_request(prompt, params);  // immutable state only: safe on this thread
    auto stream = std::make_shared<RequestStream>();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) throw Error("the engine is shutting down");
        if (open_requests_ >= max_queued_)
            throw ResourceExhausted("the engine has " + std::to_string(open_requests_) +
                                    " requests open (the limit): try again shortly");
        ++open_requests_;
        stream->id_ = next_id_++;
        stream->submitted_at_ = std::chrono::steady_clock::now();
        inbox_.push_back({std::move(prompt), params, stream});
    }
    wake_.notify_one();
    return stream;
}

std::vector<TokenId> EngineService::chat_prompt(const std::vector<ChatMessage>& messages) const {
    if (messages.empty()) throw InvalidArgument("messages: the conversation is empty");
    for (const auto& m : messages)
        if (m.role != "system" && m.role != "user" && m.role != "assistant")
            throw InvalidArgument("messages: unknown role '" + m.role + "' (system, user, assistant)");
    if (!engine_.chat_template) throw InvalidArgument("messages: the model has no chat template; send plain text");
    return engine_.tokenizer->encode(engine_.chat_template->apply(messages, true), true, true);
}

std::vector<TokenId> EngineService::text_prompt(const std::string& text) const {
    return engine_.tokenizer->encode(text, true, false);
}

int64_t EngineService::open_requests() const {
    std::lock_guard lock(mutex_);
    return open_requests_;
}

void EngineService::cancel(RequestId id) {
    {
        std::lock_guard lock(mutex_);
        cancels_.push_back(id);
    }
    wake_.notify_one();
}

bool EngineService::health(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (stopping_) return false;
    const uint64_t ticket = ++health_asked_;
    wake_.notify_one();
    return health_cv_.wait_for(lock, timeout, [&] { return health_answered_ >= ticket || stopping_; }) && !stopping_;
}

void EngineService::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    wake_.notify_one();
    health_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void EngineService::observe(RequestStream& stream, const RequestEvent& e) {
    const auto now = std::chrono::steady_clock::now();
    if (e.token) {
        const auto since = stream.seen_token_ ? stream.last_token_at_ : stream.submitted_at_;
        const double seconds = std::chrono::duration<double>(now - since).count();
        if (stream.seen_token_) metrics_.inter_token_latency(seconds);
        else metrics_.time_to_first_token(seconds);
        stream.seen_token_ = true;
        stream.last_token_at_ = now;
    }
    if (e.finished) {
        const double latency = std::chrono::duration<double>(now - stream.submitted_at_).count();
        const Metrics::Result result = e.finish == FinishReason::error       ? Metrics::Result::error
                                       : e.finish == FinishReason::cancelled ? Metrics::Result::cancelled
                                                                             : Metrics::Result::ok;
        metrics_.request_finished(result, latency);
        metrics_.tokens(e.prompt_tokens, e.generated_tokens);
    }
}

void EngineService::run() {
    std::unordered_map<RequestId, RequestId> scheduler_id_of;  // service id (what clients hold) -> scheduler id
    std::vector<RequestId> finished;                           // service ids whose last event went out this step
    int64_t preemptions_seen = 0;
    int64_t prefix_hits_seen = 0;
    for (;;) {
        std::deque<Submission> arrived;
        std::vector<RequestId> cancels;
        uint64_t health_ticket = 0;
        bool stopping = false;
        {
            std::unique_lock lock(mutex_);
            const bool busy = scheduler_->running() + scheduler_->waiting() > 0;
            if (!busy)
                wake_.wait(lock, [&] {
                    return stopping_ || !inbox_.empty() || !cancels_.empty() || health_asked_ > health_answered_;
                });
            arrived.swap(inbox_);
            cancels.swap(cancels_);
            health_ticket = health_asked_;
            stopping = stopping_;
        }
        for (auto& s : arrived) {
            std::shared_ptr<RequestStream> stream = s.stream;
            const RequestId service_id = stream->id();
            try {
                const RequestId sid = scheduler_->submit(std::move(s.prompt), s.params,
                                                         [this, stream, &finished](const RequestEvent& event) {
                                                             RequestEvent e = event;
                                                             if (e.finished && e.finish == FinishReason::cancelled &&
                                                                 std::find(failed_.begin(), failed_.end(), stream->id()) != failed_.end())
                                                                 e.finish = FinishReason::error;
                                                             observe(*stream, e);
                                                             stream->push(e);
                                                             if (e.finished) finished.push_back(stream->id());
                                                         });
                scheduler_id_of[service_id] = sid;
            } catch (const std::exception&) {  // validated on submit; only a shutdown race gets here
                RequestEvent e;
                e.finished = true;
                e.finish = FinishReason::cancelled;
                stream->push(e);
                finished.push_back(service_id);
            }
        }
        for (const RequestId id : cancels)
            if (auto it = scheduler_id_of.find(id); it != scheduler_id_of.end()) scheduler_->cancel(it->second);
        if (stopping)
            for (const auto& [service_id, sid] : scheduler_id_of) scheduler_->cancel(sid);
        // A step proves the model loop turns; an idle engine answers health without one. A failing step
        // (a device error, say) must not take the process down: its requests end, the engine goes on.
        try {
            scheduler_->step();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "enclave-engine: a step failed, ending %zu requests: %s\n", scheduler_id_of.size(),
                         e.what());
            for (const auto& [service_id, sid] : scheduler_id_of) {
                scheduler_->cancel(sid);
                failed_.push_back(service_id);
            }
            try {
                scheduler_->step();  // delivers the cancellations; runs no forward
            } catch (const std::exception&) {
            }
        }
        {
            std::lock_guard lock(mutex_);
            health_answered_ = std::max(health_answered_, health_ticket);
        }
        health_cv_.notify_all();
        metrics_.set_running(static_cast<int64_t>(scheduler_->running()), static_cast<int64_t>(scheduler_->waiting()));
        metrics_.set_kv_cache_usage(1.0 - static_cast<double>(engine_.cache->free_blocks()) /
                                              static_cast<double>(engine_.cache->n_blocks()));
        metrics_.preempted(scheduler_->preemptions() - preemptions_seen);
        preemptions_seen = scheduler_->preemptions();
        metrics_.prefix_hits(scheduler_->prefix_hit_tokens() - prefix_hits_seen);
        prefix_hits_seen = scheduler_->prefix_hit_tokens();
        for (const RequestId id : finished) scheduler_id_of.erase(id);
        if (!failed_.empty())
            std::erase_if(failed_, [&](RequestId id) { return !scheduler_id_of.contains(id); });
        if (!finished.empty()) {
            std::lock_guard lock(mutex_);
            open_requests_ -= static_cast<int64_t>(finished.size());
        }
        finished.clear();
        if (stopping && scheduler_->running() + scheduler_->waiting() == 0) return;
    }
}

}  // namespace enclave::server
