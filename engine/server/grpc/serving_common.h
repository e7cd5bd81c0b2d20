// What the serving gRPC services share: authorising a call through the one hook, turning the engine's
// exceptions into gRPC statuses, the proto <-> engine conversions, and streaming a request's events.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string_view>

#include "enclave.grpc.pb.h"
#include "server/server_parts.h"

namespace enclave::server::grpc_api {

namespace v1 = enclave::v1;

// The caller of `ctx` authorised for `action` (throws security::Unauthenticated / PermissionDenied).
security::Principal authorize(ServerParts& parts, grpc::ServerContext* ctx, security::Action action,
                              std::string_view target = {}, std::string_view model = {});

// Call inside a catch block: the exception in flight as a status with a readable message
// (InvalidArgument -> INVALID_ARGUMENT, ResourceExhausted/RateLimited -> RESOURCE_EXHAUSTED, ...).
grpc::Status status_of_current_exception();

// Runs `body`, converting any exception into its status.
grpc::Status guarded(const std::function<grpc::Status()>& body);

SamplingParams sampling_from(const v1::Sampling& s);

// Writes a request's events to `writer` until it finishes, the client cancels or goes away (then the
// request is cancelled), or the principal's credentials are revoked (then UNAUTHENTICATED). `on_event`
// sees every engine event first (conversation storage, usage accounting).
grpc::Status stream_request(ServerParts& parts, const security::Principal& who, grpc::ServerContext* ctx,
                            EngineService& engine, RequestStream& stream,
                            grpc::ServerWriter<v1::GenerateEvent>* writer,
                            const std::function<void(const RequestEvent&)>& on_event = {});

// The end of one inference request, as run_inference saw it.
struct InferenceOutcome {
    grpc::Status status;
    std::string text;            // everything streamed
    int64_t prompt_tokens = 0;
    int64_t generated_tokens = 0;
    std::string finish = "cancelled";
};

// One admitted inference request from submission to its audit record: submits `prompt` to `engine` (a full
// queue is counted as refused and rethrown), streams it to `writer` (stream_request), charges the tokens to
// `admission` and appends one INFERENCE record `action` on `engine`'s model whose details are `details`
// (a JSON object) with the token counts and the finish reason added.
InferenceOutcome run_inference(ServerParts& parts, const security::Principal& who, grpc::ServerContext* ctx,
                               EngineService& engine, security::Admission& admission, std::vector<TokenId> prompt,
                               const SamplingParams& params, grpc::ServerWriter<v1::GenerateEvent>* writer,
                               const char* action, const std::string& details_json = "{}");

}  // namespace enclave::server::grpc_api
