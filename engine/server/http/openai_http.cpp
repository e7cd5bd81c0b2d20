#include "server/http/openai_http.h"

#include <httplib.h>  // defines: httplib::Server

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/model_registry.h"
#include "server/telemetry/metrics.h"

namespace enclave::server {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr size_t max_body_bytes = 4 << 20;
constexpr milliseconds event_wait{60'000};  // a step never takes this long; past it the request is failed

// A request error that names the field, turned into OpenAI's error shape with HTTP 400.
struct BadRequest {
    std::string message;
    std::string param;
};

// JSON text that never throws: a string that is not valid UTF-8 (a model's text, a client's bytes) gets U+FFFD
// where it breaks instead of an exception in a server thread.
std::string json_text(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& param = {}, const std::string& code = {}) {
    json e = {{"message", message}, {"type", type}, {"param", param.empty() ? json(nullptr) : json(param)},
              {"code", code.empty() ? json(nullptr) : json(code)}};
    res.status = status;
    res.set_content(json_text(json{{"error", e}}), "application/json");
}

template <class T>
T field(const json& body, const char* name, T fallback) {
    if (!body.contains(name) || body[name].is_null()) return fallback;
    try {
        return body[name].get<T>();
    } catch (const json::exception&) {
        throw BadRequest{std::string("'") + name + "' has the wrong type", name};
    }
}

SamplingParams sampling_from(const json& body, int64_t default_max_tokens) {
    SamplingParams p;
    p.temperature = field<float>(body, "temperature", 1.0f);
    p.top_p = field<float>(body, "top_p", 1.0f);
    p.top_k = field<int32_t>(body, "top_k", 0);
    p.min_p = field<float>(body, "min_p", 0.0f);
    p.frequency_penalty = field<float>(body, "frequency_penalty", 0.0f);
    p.presence_penalty = field<float>(body, "presence_penalty", 0.0f);
    p.repeat_penalty = field<float>(body, "repeat_penalty", 1.0f);
    p.seed = field<uint64_t>(body, "seed", p.seed);
    const int64_t max_tokens = field<int64_t>(body, "max_completion_tokens", field<int64_t>(body, "max_tokens", default_max_tokens));
    if (max_tokens < 1 || max_tokens > (1 << 20)) throw BadRequest{"'max_tokens' must be between 1 and 1048576", "max_tokens"};
    p.max_tokens = static_cast<int32_t>(max_tokens);
    if (body.contains("stop") && !body["stop"].is_null()) {
        const json& s = body["stop"];
        if (s.is_string()) p.stop = {s.get<std::string>()};
        else if (s.is_array()) {
            for (const auto& x : s) {
                if (!x.is_string()) throw BadRequest{"'stop' must be a string or an array of strings", "stop"};
                p.stop.push_back(x.get<std::string>());
            }
        } else {
            throw BadRequest{"'stop' must be a string or an array of strings", "stop"};
        }
    }
    if (field<int64_t>(body, "n", 1) != 1) throw BadRequest{"only 'n' = 1 is supported", "n"};
    try {
        p.validate();
    } catch (const InvalidArgument& e) {
        const std::string msg = e.what();
        throw BadRequest{msg, msg.substr(0, msg.find(' '))};
    }
    return p;
}

std::string finish_name(FinishReason r) { return r == FinishReason::length ? "length" : "stop"; }

// The caller of an HTTP request as the authorisation hook sees it.
security::Caller caller_of(const httplib::Request& req) {
    security::Caller c;
    c.transport = security::Transport::http;
    c.peer = req.remote_addr + ":" + std::to_string(req.remote_port);
    const std::string auth = req.get_header_value("Authorization");
    if (auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0))
        c.credential = auth.substr(7);
    return c;
}

// The engine's exceptions in OpenAI's error shape; true when `e` was one of them.
void send_exception(httplib::Response& res, std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const BadRequest& b) {
        send_error(res, 400, b.message, "invalid_request_error", b.param);
    } catch (const security::Unauthenticated& x) {
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, 401, x.what(), "invalid_request_error", {}, "invalid_api_key");
    } catch (const security::PermissionDenied& x) {
        send_error(res, 403, x.what(), "permission_error");
    } catch (const security::RateLimited& x) {
        res.set_header("Retry-After", std::to_string(std::max(1, x.retry_after_seconds())));
        send_error(res, 429, x.what(), "rate_limit_error");
    } catch (const ResourceExhausted& x) {
        res.set_header("Retry-After", "1");
        send_error(res, 429, x.what(), "rate_limit_error");
    } catch (const security::AuditUnavailable& x) {
        send_error(res, 503, x.what(), "server_error");
    } catch (const NotFound& x) {
        send_error(res, 404, x.what(), "invalid_request_error");
    } catch (const InvalidArgument& x) {
        const std::string msg = x.what();
        const auto colon = msg.find(':');
        send_error(res, 400, msg, "invalid_request_error", colon != std::string::npos && colon < 40 ? msg.substr(0, colon) : "");
    } catch (const std::exception& x) {
        send_error(res, 500, x.what(), "server_error");
    }
}

}  // namespace

struct OpenAiHttpServer::Impl {
    ServerParts& parts;
    std::vector<std::string> allowed_hosts;
    std::unique_ptr<httplib::Server> http;  // an SSLServer when TLS is configured
    std::thread thread;
    std::atomic<uint64_t> next_completion{1};

    Impl(ServerParts& p, std::vector<std::string> hosts) : parts(p), allowed_hosts(std::move(hosts)) {}

    // DNS rebinding: a browser page on another name must not reach a loopback engine.
    bool host_allowed(const httplib::Request& req) const {
        if (allowed_hosts.empty()) return true;
        std::string host = req.get_header_value("Host");
        if (!host.empty() && host.front() == '[') host = host.substr(0, host.find(']') + 1);
        else if (const auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
        return std::find(allowed_hosts.begin(), allowed_hosts.end(), host) != allowed_hosts.end();
    }

    security::Principal authorize(const httplib::Request& req, security::Action action, std::string_view target,
                                  std::string_view model = {}) {
        return parts.authorizer.authorize(caller_of(req), action, target, model);
    }

    std::vector<TokenId> chat_prompt(EngineService& engine, const json& body) {
        if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
            throw BadRequest{"'messages' must be a non-empty array", "messages"};
        std::vector<ChatMessage> messages;
        for (const auto& m : body["messages"]) {
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
                throw BadRequest{"each message needs a string 'role'", "messages"};
            if (!m.contains("content") || !m["content"].is_string())
                throw BadRequest{"each message needs string 'content'", "messages"};
            const std::string role = m["role"].get<std::string>();
            messages.push_back({role == "developer" ? "system" : role, m["content"].get<std::string>()});
        }
        try {
            return engine.chat_prompt(messages);
        } catch (const InvalidArgument& e) {
            throw BadRequest{e.what(), "messages"};
        }
    }

    std::vector<TokenId> completion_prompt(EngineService& engine, const json& body) {
        if (!body.contains("prompt") || !body["prompt"].is_string())
            throw BadRequest{"'prompt' must be a string", "prompt"};
        return engine.text_prompt(body["prompt"].get<std::string>());
    }

    void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
        // Credentials first: an unauthenticated caller learns nothing from how its body is parsed. The
        // key's model scope is checked once the body names the model.
        try {
            authorize(req, security::Action::generate, "");
        } catch (...) {
            return send_exception(res, std::current_exception());
        }
        json body;
        try {
            body = json::parse(req.body);
        } catch (const json::exception&) {
            return send_error(res, 400, "the body is not valid JSON", "invalid_request_error");
        }
        if (!body.is_object()) return send_error(res, 400, "the body must be a JSON object", "invalid_request_error");
        std::shared_ptr<EngineService> service;
        std::shared_ptr<RequestStream> stream;
        std::shared_ptr<security::Admission> admission;
        security::Principal who;
        std::vector<TokenId> prompt;
        bool streaming = false;
        try {
            const std::string asked = field<std::string>(body, "model", "");
            who = authorize(req, security::Action::generate, asked, asked);
            std::string routed;
            service = parts.models.resolve(asked, &routed);
            if (!routed.empty() && asked != service->model_id())  // the key's scope must allow the route's target too
                authorize(req, security::Action::generate, service->model_id(), service->model_id());
            streaming = field<bool>(body, "stream", false);
            prompt = chat ? chat_prompt(*service, body) : completion_prompt(*service, body);
            const int64_t room = service->context_tokens() - static_cast<int64_t>(prompt.size());
            const SamplingParams params = sampling_from(body, std::max<int64_t>(1, std::min<int64_t>(room, 512)));
            admission = parts.authorizer.admit_inference(who, service->model_id());
            try {
                stream = service->submit(prompt, params);
            } catch (const ResourceExhausted&) {
                parts.models.count_rejected("queue_full");
                throw;
            }
        } catch (const security::RateLimited&) {
            parts.models.count_rejected("rate_limited");
            return send_exception(res, std::current_exception());
        } catch (...) {
            return send_exception(res, std::current_exception());
        }
        EngineService& engine = *service;
        // Usage accounting and the INFERENCE audit record, once, when the request ends however it ends.
        auto account = std::make_shared<std::function<void(const RequestEvent*)>>(
            [this, who, admission, model = engine.model_id(), route = chat ? "chat.completions" : "completions",
             done = false](const RequestEvent* last) mutable {
                if (done) return;
                done = true;
                const int64_t p = last ? last->prompt_tokens : 0, g = last ? last->generated_tokens : 0;
                admission->add_tokens(p + g);
                const std::string finish = last ? std::string(finish_reason_name(last->finish)) : "cancelled";
                try {
                    parts.authorizer.audit(who, {"INFERENCE", route, model, last && finish != "error" ? "ok" : "error",
                                                 json_text(json{{"prompt_tokens", p}, {"generated_tokens", g}, {"finish", finish}})});
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "enclave-engine: inference not audited: %s\n", e.what());
                }
            });
        const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_completion++);
        const int64_t created = static_cast<int64_t>(std::time(nullptr));
        const std::string object = chat ? "chat.completion" : "text_completion";
        const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
        if (!streaming) {
            std::string text;
            RequestEvent last;
            for (;;) {
                auto e = stream->next(event_wait);
                if (!e) {
                    engine.cancel(stream->id());
                    (*account)(nullptr);
                    return send_error(res, 500, "the engine did not answer in time", "server_error");
                }
                text += e->text;
                if (e->finished) {
                    last = *e;
                    (*account)(&last);
                    break;
                }
            }
            json choice = {{"index", 0}, {"finish_reason", finish_name(last.finish)}};
            if (chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
            else choice["text"] = text;
            json out = {{"id", id}, {"object", object}, {"created", created}, {"model", engine.model_id()},
                        {"choices", json::array({choice})},
                        {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", last.generated_tokens},
                                   {"total_tokens", prompt_tokens + last.generated_tokens}}}};
            res.set_content(json_text(out), "application/json");
            return;
        }
        const bool include_usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                                   field<bool>(body["stream_options"], "include_usage", false);
        const std::string model_id = engine.model_id();
        auto chunk = [=](const json& delta_or_text, const json& finish) {
            json choice = {{"index", 0}, {"finish_reason", finish}};
            if (chat) choice["delta"] = delta_or_text;
            else choice["text"] = delta_or_text;
            json c = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                      {"model", model_id}, {"choices", json::array({choice})}};
            return "data: " + json_text(c) + "\n\n";
        };
        auto started = std::make_shared<bool>(false);
        res.set_chunked_content_provider(
            "text/event-stream",
            [=, this](size_t, httplib::DataSink& sink) {
                // Nothing may escape into the HTTP library's thread: it would end the process.
                try {
                    // Revocation (a disabled, demoted or deleted user; a revoked key) ends a running stream.
                    try {
                        parts.authorizer.check_still_valid(who);
                    } catch (const std::exception&) {
                        service->cancel(stream->id());
                        (*account)(nullptr);
                        return false;
                    }
                    if (!*started && chat) {
                        const std::string first = chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr);
                        sink.write(first.data(), first.size());
                    }
                    *started = true;
                    // Wait in short slices so a client that left while its request waits in the queue (no
                    // events yet) is noticed and its request cancelled, not held for the whole wait.
                    std::optional<RequestEvent> e;
                    const auto give_up = std::chrono::steady_clock::now() + event_wait;
                    bool writable = true;
                    while (!(e = stream->next(milliseconds(100))) && (writable = sink.is_writable()) &&
                           std::chrono::steady_clock::now() < give_up) {
                    }
                    if (!e || !writable) {
                        service->cancel(stream->id());
                        (*account)(nullptr);
                        return false;
                    }
                    if (!e->text.empty()) {
                        const std::string c = chunk(chat ? json{{"content", e->text}} : json(e->text), nullptr);
                        if (!sink.write(c.data(), c.size())) {
                            service->cancel(stream->id());
                            (*account)(nullptr);
                            return false;
                        }
                    }
                    if (e->finished) {
                        std::string tail = chunk(chat ? json::object() : json(""), finish_name(e->finish));
                        if (include_usage) {
                            json u = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
                                      {"created", created}, {"model", model_id}, {"choices", json::array()},
                                      {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", e->generated_tokens},
                                                 {"total_tokens", prompt_tokens + e->generated_tokens}}}};
                            tail += "data: " + json_text(u) + "\n\n";
                        }
                        tail += "data: [DONE]\n\n";
                        sink.write(tail.data(), tail.size());
                        sink.done();
                        (*account)(&*e);
                    }
                    return true;
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "enclave-engine: a stream ended on an error: %s\n", x.what());
                    service->cancel(stream->id());
                    (*account)(nullptr);
                    return false;
                }
            },
            [=](bool success) {
                if (!success) {
                    service->cancel(stream->id());
                    (*account)(nullptr);
                }
            });
    }
};

namespace {

// TLS 1.2 at least (1.3 preferred by OpenSSL), and for 1.2 only ECDHE with AEAD ciphers.
std::unique_ptr<httplib::Server> make_tls_server(const HttpTls& tls) {
    std::string problem;
    auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
        if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert_file.c_str()) != 1) {
            problem = "cannot read the HTTP TLS certificate " + tls.cert_file;
            return false;
        }
        if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(&ctx) != 1) {
            problem = "cannot read the HTTP TLS key " + tls.key_file + " (or it does not match the certificate)";
            return false;
        }
        SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
        SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
        SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        return true;
    });
    if (!server->is_valid()) throw Error(problem.empty() ? "cannot set up TLS for HTTP" : problem);
    return server;
}

}  // namespace

OpenAiHttpServer::OpenAiHttpServer(ServerParts& parts, int http_threads, std::vector<std::string> allowed_hosts,
                                   const std::optional<HttpTls>& tls)
    : impl_(std::make_unique<Impl>(parts, std::move(allowed_hosts))) {
    impl_->http = tls ? make_tls_server(*tls) : std::make_unique<httplib::Server>();
    auto& http = *impl_->http;
    Impl* impl = impl_.get();
    const size_t threads = static_cast<size_t>(std::max(2, http_threads));
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(max_body_bytes);
    http.set_read_timeout(30, 0);
    http.set_pre_routing_handler([impl](const httplib::Request& req, httplib::Response& res) {
        if (req.headers.size() > 100) {
            send_error(res, 431, "too many request headers (at most 100)", "invalid_request_error");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!impl->host_allowed(req)) {
            send_error(res, 421, "the Host header names a host this engine does not serve", "invalid_request_error");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    http.Get("/health", [impl](const httplib::Request& req, httplib::Response& res) {
        try {
            impl->authorize(req, security::Action::health_check, "");
        } catch (...) {
            return send_exception(res, std::current_exception());
        }
        bool ok = false;
        json models = json::array();
        for (const auto& m : impl->parts.models.models()) {
            if (m.draining) continue;
            const bool up = m.service->health(milliseconds(5000));
            models.push_back({{"id", m.name}, {"serving", up}});
            ok = up || ok;
        }
        res.status = ok ? 200 : 503;
        res.set_content(json_text(json{{"status", ok ? "ok" : "unavailable"}, {"models", models}}), "application/json");
    });
    http.Get("/metrics", [impl](const httplib::Request& req, httplib::Response& res) {
        try {
            impl->authorize(req, security::Action::telemetry_read, "/metrics");
        } catch (...) {
            return send_exception(res, std::current_exception());
        }
        const auto security = impl->parts.authorizer.stats();
        res.set_content(render_prometheus(impl->parts.models.metrics(), impl->parts.models.front_counters(),
                                          impl->parts.telemetry.current(), &security),
                        "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [impl](const httplib::Request& req, httplib::Response& res) {
        try {
            impl->authorize(req, security::Action::models_list, "");
        } catch (...) {
            return send_exception(res, std::current_exception());
        }
        json data = json::array();
        for (const auto& m : impl->parts.models.models())
            if (!m.draining)
                data.push_back({{"id", m.name}, {"object", "model"}, {"created", 0}, {"owned_by", "enclave"}});
        for (const auto& r : impl->parts.models.routes())
            data.push_back({{"id", r.name}, {"object", "model"}, {"created", 0}, {"owned_by", "enclave"}});
        res.set_content(json_text(json{{"object", "list"}, {"data", data}}), "application/json");
    });
    http.Post("/v1/chat/completions",
              [impl](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res, true); });
    http.Post("/v1/completions",
              [impl](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res, false); });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.body.empty()) send_error(res, res.status, "no such route or method", "invalid_request_error");
    });
}

OpenAiHttpServer::~OpenAiHttpServer() { stop(); }

int OpenAiHttpServer::start(const std::string& host, int port) {
    auto& http = *impl_->http;
    const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    if (bound < 0) throw Error("cannot listen on " + host + ":" + std::to_string(port) + " (in use or not an address here)");
    impl_->thread = std::thread([&http] { http.listen_after_bind(); });
    // stop() before the listening loop has started would be lost (cpp-httplib then listens on forever), so
    // start returns only once it runs.
    while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return bound;
}

void OpenAiHttpServer::stop() {
    if (!impl_) return;
    if (impl_->http) impl_->http->stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace enclave::server
