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

}  // namespace enclave::server::grpc_api
