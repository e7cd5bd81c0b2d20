#include "server/grpc/serving_common.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "server/grpc/grpc_caller.h"

namespace enclave::server::grpc_api {

security::Principal authorize(ServerParts& parts, grpc::ServerContext* ctx, security::Action action,
                              std::string_view target, std::string_view model) {
    return parts.authorizer.authorize(caller_of(*ctx), action, target, model);
}

grpc::Status status_of_current_exception() { return status_of(std::current_exception()); }

grpc::Status guarded(const std::function<grpc::Status()>& body) {
    try {
        return body();
    } catch (...) {
        return status_of_current_exception();
    }
}

SamplingParams sampling_from(const v1::Sampling& s) {
    SamplingParams p;
    if (s.has_temperature()) p.temperature = s.temperature();
    if (s.has_top_k()) p.top_k = s.top_k();
    if (s.has_top_p()) p.top_p = s.top_p();
    if (s.has_min_p()) p.min_p = s.min_p();
    if (s.has_repeat_penalty()) p.repeat_penalty = s.repeat_penalty();
    if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
    if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
    if (s.has_seed()) p.seed = s.seed();
    if (s.has_max_tokens()) p.max_tokens = s.max_tokens();
    if (s.stop_size() > 16) throw InvalidArgument("sampling.stop: at most 16 stop strings");
    for (const auto& stop : s.stop()) {
        if (stop.size() > 256) throw InvalidArgument("sampling.stop: a stop string is longer than 256 bytes");
        p.stop.push_back(stop);
    }
    return p;
}

grpc::Status stream_request(ServerParts& parts, const security::Principal& who, grpc::ServerContext* ctx,
                            EngineService& engine, RequestStream& stream,
                            grpc::ServerWriter<v1::GenerateEvent>* writer,
                            const std::function<void(const RequestEvent&)>& on_event) {
    auto last_check = std::chrono::steady_clock::now();
    for (;;) {
        if (ctx->IsCancelled()) {
            engine.cancel(stream.id());
            return {grpc::StatusCode::CANCELLED, "cancelled by the client"};
        }
        // Revocation (a disabled, demoted or deleted user; a changed password) ends a running stream.
        if (std::chrono::steady_clock::now() - last_check > std::chrono::milliseconds(250)) {
            last_check = std::chrono::steady_clock::now();
            try {
                parts.authorizer.check_still_valid(who);
            } catch (...) {
                engine.cancel(stream.id());
                return status_of_current_exception();
            }
        }
        const auto e = stream.next(std::chrono::milliseconds(100));  // wakes up to notice a cancelled client
        if (!e) continue;
        if (on_event) on_event(*e);
        v1::GenerateEvent out;
        if (e->token) {
            out.mutable_token()->set_id(*e->token);
            out.mutable_token()->set_text(e->text);
        }
        if (e->finished) {
            if (!e->text.empty()) {  // held-back text released at the end
                v1::GenerateEvent tail;
                tail.mutable_token()->set_id(-1);
                tail.mutable_token()->set_text(e->text);
                writer->Write(tail);
            }
            auto* f = out.mutable_finished();
            f->set_reason(std::string(finish_reason_name(e->finish)));
            f->set_prompt_tokens(e->prompt_tokens);
            f->set_generated_tokens(e->generated_tokens);
        }
        if (!writer->Write(out)) {
            engine.cancel(stream.id());
            return {grpc::StatusCode::CANCELLED, "the client went away"};
        }
        if (e->finished) return grpc::Status::OK;
    }
}

InferenceOutcome run_inference(ServerParts& parts, const security::Principal& who, grpc::ServerContext* ctx,
                               EngineService& engine, security::Admission& admission, std::vector<TokenId> prompt,
                               const SamplingParams& params, grpc::ServerWriter<v1::GenerateEvent>* writer,
                               const char* action, const std::string& details_json) {
    std::shared_ptr<RequestStream> stream;
    try {
        stream = engine.submit(std::move(prompt), params);
    } catch (const ResourceExhausted&) {
        parts.models.count_rejected("queue_full");
        throw;
    }
    InferenceOutcome out;
    out.status = stream_request(parts, who, ctx, engine, *stream, writer, [&](const RequestEvent& e) {
        out.text += e.text;
        // Every event carries the counts so far: a stream the client stops keeps what it got.
        out.prompt_tokens = e.prompt_tokens;
        out.generated_tokens = e.generated_tokens;
        if (e.finished) out.finish = std::string(finish_reason_name(e.finish));
    });
    // A client that stops its stream (the chat's stop button) is served as asked: "ok", finish "cancelled".
    const bool stopped_by_client = out.status.error_code() == grpc::StatusCode::CANCELLED;
    admission.add_tokens(out.prompt_tokens + out.generated_tokens);
    nlohmann::json details = nlohmann::json::parse(details_json);
    details["prompt_tokens"] = out.prompt_tokens;
    details["generated_tokens"] = out.generated_tokens;
    details["finish"] = out.finish;
    parts.authorizer.audit(who, {"INFERENCE", action, engine.model_id(),
                                 (out.status.ok() || stopped_by_client) && out.finish != "error" ? "ok" : "error",
                                 details.dump()});
    return out;
}

}  // namespace enclave::server::grpc_api
