// gRPC <-> the authorisation hook: who is calling (credentials, transport, peer) and how the engine's
// exceptions become gRPC statuses. One place for both, used by every service.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include "server/security/authorizer.h"

namespace enclave::server {

// Bearer secret from the `authorization` metadata; transport from the peer ("fd:N", a connection
// GrpcServer accepted on its Unix socket -> socket, with the uid and pid recorded at accept; "unix:" ->
// socket; anything else TLS, since TCP is only served with TLS, with the client certificate's common
// name when one was presented).
security::Caller caller_of(const grpc::ServerContext& ctx);

// The Unix-socket peer table. File descriptors are process-wide, so is the table: GrpcServer records
// each connection it accepts, before gRPC sees it; a later connection on a reused fd overwrites it.
struct UnixPeer {
    int64_t uid = -1;
    int64_t pid = -1;
};
void record_unix_peer(int fd, int64_t uid, int64_t pid);
std::optional<UnixPeer> unix_peer_of(int fd);

// Unauthenticated -> UNAUTHENTICATED, PermissionDenied -> PERMISSION_DENIED, RateLimited and
// ResourceExhausted -> RESOURCE_EXHAUSTED, AuditUnavailable -> UNAVAILABLE, NotFound -> NOT_FOUND,
// InvalidArgument and ModelFormatError -> INVALID_ARGUMENT, anything else -> INTERNAL; the message kept.
grpc::Status status_of(std::exception_ptr e);

}  // namespace enclave::server
