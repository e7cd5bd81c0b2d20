// GrpcServer: the engine's gRPC API (api/enclave.proto) on a Unix socket of mode 0600.
//
// Handlers only validate, enqueue and stream (EngineService does the work); a request that fails
// validation gets INVALID_ARGUMENT naming the field, a full queue RESOURCE_EXHAUSTED, and a client that
// cancels or disconnects has its request cancelled within one step.
#pragma once

#include <memory>
#include <string>

#include "server/engine_service.h"

namespace enclave::server {

class GrpcServer {
public:
    explicit GrpcServer(EngineService& engine);
    ~GrpcServer();

    // Listens on the Unix socket `path` (its directory is created 0700 when missing; a stale socket file is
    // replaced); throws Error naming the path when it cannot.
    void start_unix(const std::string& path);
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave::server
