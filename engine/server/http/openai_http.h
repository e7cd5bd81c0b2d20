// OpenAiHttpServer: the OpenAI-compatible HTTP API over an EngineService (cpp-httplib).
//
// Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions (both with "stream": true as
// server-sent events, or a single JSON body), GET /health (a round trip through the engine thread).
// Every request field is checked; a bad one gets HTTP 400 in OpenAI's error shape
// {"error": {"message", "type": "invalid_request_error", "param", "code"}} naming the field. Bodies are
// capped. A client that disconnects mid-stream has its request cancelled.
// Threads: cpp-httplib's pool; handlers only validate, enqueue and stream.
#pragma once

#include <memory>
#include <string>

#include "server/engine_service.h"

namespace enclave::server {

class OpenAiHttpServer {
public:
    // A streaming response holds one HTTP thread while it lasts, so http_threads bounds concurrent streams.
    explicit OpenAiHttpServer(EngineService& engine, int http_threads = 128);
    ~OpenAiHttpServer();

    // Binds host:port (port 0 picks a free one) and serves on a background thread. Throws Error when the
    // address cannot be bound (naming it).
    int start(const std::string& host, int port);
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave::server
