// GrpcServer: the engine's gRPC API (api/enclave.proto) on a Unix socket of mode 0600 and, when
// configured, on TCP with TLS (plaintext TCP is never offered).
//
// The Unix socket is accepted here, not by gRPC: each connection's SO_PEERCRED (uid, pid) is read and
// recorded (grpc_caller.h, unix_peer_of) before the connection is handed to gRPC with
// grpc::AddInsecureChannelFromFd, so audit records carry the local caller's uid and pid. A peer whose uid
// is neither the engine's nor root is closed at once (the 0600 mode should already stop it).
//
// TLS: 1.2 minimum (1.3 preferred) and, for 1.2, only ECDHE with AES-GCM: gRPC 1.51's C++ API has no
// minimum-version knob, but its core defaults to TLS 1.2 minimum, and its cipher list (the
// GRPC_SSL_CIPHER_SUITES setting, read once when the first TLS credentials are built) is pinned here
// to AEAD suites, whatever the environment says. With a client CA, every TLS client must present a
// certificate that CA signed (mutual TLS); the call still needs a session or key.
//
// The services (grpc/serving_services.h and security's) only validate, enqueue and stream (EngineService
// does the work); a request that fails validation gets INVALID_ARGUMENT naming the field, a full queue
// RESOURCE_EXHAUSTED, and a client that cancels or disconnects has its request cancelled within one step.
#pragma once

#include <grpcpp/impl/service_type.h>

#include <memory>
#include <string>
#include <vector>

namespace enclave::server {

// The suites gRPC may offer over TLS 1.2 (TLS 1.3's own suites are all AEAD).
inline constexpr const char* kGrpcTlsCipherSuites =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384";

class GrpcServer {
public:
    GrpcServer();
    ~GrpcServer();

    // Serves `service` (kept alive by the server) once started.
    void add_service(std::unique_ptr<grpc::Service> service);

    // The Unix socket to serve on (its directory is created 0700 when missing; a stale socket is replaced).
    void set_unix_socket(const std::string& path);
    // A TCP listener, always with TLS: PEM certificate chain and key files (Error naming an unreadable one).
    // client_ca_file: when not empty, clients must present a certificate signed by a CA in this PEM file.
    // Returns the listener's index for tls_port(). Port 0 picks a free port.
    size_t add_tls_listener(const std::string& host, int port, const std::string& cert_file,
                            const std::string& key_file, const std::string& client_ca_file = {});
    // Serves everything set above; the socket gets mode 0600. Throws Error when an address cannot be bound.
    void start();
    int tls_port(size_t listener) const;  // after start()
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave::server
