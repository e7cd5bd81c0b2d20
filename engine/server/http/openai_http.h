// OpenAiHttpServer: the OpenAI-compatible HTTP API over the served models (cpp-httplib).
//
// Every route authorises through ServerParts::authorizer first: `Authorization: Bearer <API key or
// session token>`; 401 without valid credentials, 403 when the role or the key's model scope does not
// allow it, 429 with Retry-After past a rate limit or a full queue. A Host header that names none of the
// configured names is refused (421), so a web page cannot reach a loopback engine by DNS rebinding.
//
// Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions (both with "stream": true as
// server-sent events, or a single JSON body), GET /health (a round trip through the engine thread).
// Every request field is checked; a bad one gets HTTP 400 in OpenAI's error shape
// {"error": {"message", "type": "invalid_request_error", "param", "code"}} naming the field. Bodies are
// capped. A client that disconnects mid-stream has its request cancelled.
// Threads: cpp-httplib's pool; handlers only validate, enqueue and stream.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/server_parts.h"

namespace enclave::server {

struct HttpTls {
    std::string cert_file;
    std::string key_file;
};

class OpenAiHttpServer {
public:
    // A streaming response holds one HTTP thread while it lasts, so http_threads bounds concurrent streams.
    // allowed_hosts: the names the Host header may carry (empty: any); a request naming another gets 421.
    // tls: serve HTTPS (TLS 1.2 minimum, ECDHE + AEAD suites for 1.2) from these PEM files; Error naming an
    // unreadable one.
    OpenAiHttpServer(ServerParts& parts, int http_threads = 128, std::vector<std::string> allowed_hosts = {},
                     const std::optional<HttpTls>& tls = std::nullopt);
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
