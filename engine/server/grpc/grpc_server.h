// GrpcServer: the engine's gRPC API (api/enclave.proto) on a Unix socket of mode 0600 and, when
// configured, on TCP with TLS (gRPC's default minimum, TLS 1.2; plaintext TCP is never offered).
//
// Handlers only validate, enqueue and stream (EngineService does the work); a request that fails
// validation gets INVALID_ARGUMENT naming the field, a full queue RESOURCE_EXHAUSTED, and a client that
// cancels or disconnects has its request cancelled within one step.
#pragma once

#include <memory>
#include <string>

#include "server/engine_service.h"
#include "server/telemetry/telemetry_history.h"

namespace enclave::server {

class GrpcServer {
public:
    GrpcServer(EngineService& engine, const TelemetryHistory& telemetry);
    ~GrpcServer();

    // The Unix socket to serve on (its directory is created 0700 when missing; a stale socket is replaced).
    void set_unix_socket(const std::string& path);
    // A TCP listener, always with TLS: PEM certificate chain and key files (Error naming an unreadable one).
    // Returns the listener's index for tls_port(). Port 0 picks a free port.
    size_t add_tls_listener(const std::string& host, int port, const std::string& cert_file, const std::string& key_file);
    // Serves everything set above; the socket gets mode 0600. Throws Error when an address cannot be bound.
    void start();
    int tls_port(size_t listener) const;  // after start()
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave::server
