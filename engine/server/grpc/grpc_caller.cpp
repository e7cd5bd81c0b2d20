#include "server/grpc/grpc_caller.h"

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

namespace enclave::server {

namespace {
std::mutex peers_mutex;
std::unordered_map<int, UnixPeer> peers;  // fd -> credentials at accept
}  // namespace

void record_unix_peer(int fd, int64_t uid, int64_t pid) {
    std::lock_guard lock(peers_mutex);
    peers[fd] = {uid, pid};
}

std::optional<UnixPeer> unix_peer_of(int fd) {
    std::lock_guard lock(peers_mutex);
    const auto it = peers.find(fd);
    if (it == peers.end()) return std::nullopt;
    return it->second;
}

security::Caller caller_of(const grpc::ServerContext& ctx) {
    security::Caller c;
    const std::string peer = ctx.peer();
    if (peer.rfind("fd:", 0) == 0) {
        c.transport = security::Transport::unix_socket;
        const auto p = unix_peer_of(std::atoi(peer.c_str() + 3));
        c.peer = p ? "uid=" + std::to_string(p->uid) + " pid=" + std::to_string(p->pid) : peer;
    } else if (peer.rfind("unix:", 0) == 0) {
        c.transport = security::Transport::unix_socket;
        c.peer = peer;
    } else {
        c.transport = security::Transport::tls;
        c.peer = peer;
        if (const auto auth = ctx.auth_context()) {
            const auto cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
            if (!cn.empty()) c.peer += " cn=" + std::string(cn.front().data(), cn.front().size());
        }
    }
    const auto& metadata = ctx.client_metadata();
    if (const auto it = metadata.find("authorization"); it != metadata.end()) {
        const std::string value(it->second.data(), it->second.size());
        if (value.size() > 7 && (value.compare(0, 7, "Bearer ") == 0 || value.compare(0, 7, "bearer ") == 0))
            c.credential = value.substr(7);
    }
    return c;
}

grpc::Status status_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const security::Unauthenticated& x) {
        return {grpc::StatusCode::UNAUTHENTICATED, x.what()};
    } catch (const security::PermissionDenied& x) {
        return {grpc::StatusCode::PERMISSION_DENIED, x.what()};
    } catch (const security::RateLimited& x) {
        return {grpc::StatusCode::RESOURCE_EXHAUSTED,
                std::string(x.what()) + " (retry after " + std::to_string(x.retry_after_seconds()) + " s)"};
    } catch (const security::AuditUnavailable& x) {
        return {grpc::StatusCode::UNAVAILABLE, x.what()};
    } catch (const ResourceExhausted& x) {
        return {grpc::StatusCode::RESOURCE_EXHAUSTED, x.what()};
    } catch (const NotFound& x) {
        return {grpc::StatusCode::NOT_FOUND, x.what()};
    } catch (const InvalidArgument& x) {
        return {grpc::StatusCode::INVALID_ARGUMENT, x.what()};
    } catch (const ModelFormatError& x) {
        return {grpc::StatusCode::INVALID_ARGUMENT, x.what()};
    } catch (const std::exception& x) {
        return {grpc::StatusCode::INTERNAL, x.what()};
    } catch (...) {
        return {grpc::StatusCode::INTERNAL, "an unknown error"};
    }
}

}  // namespace enclave::server
