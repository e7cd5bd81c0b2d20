#include "server/http/openai_http.h"

#include <httplib.h>  // defines: httplib::Server

#include <atomic>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

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

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& param = {}) {
    json e = {{"message", message}, {"type", type}, {"param", param.empty() ? json(nullptr) : json(param)},
              {"code", nullptr}};
    res.status = status;
    res.set_content(json{{"error", e}}.dump(), "application/json");
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

}  // namespace

struct OpenAiHttpServer::Impl {
    EngineService& engine;
    httplib::Server http;
    std::thread thread;
    std::atomic<uint64_t> next_completion{1};

    explicit Impl(EngineService& e) : engine(e) {}

    std::vector<TokenId> chat_prompt(const json& body) {
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

    std::vector<TokenId> completion_prompt(const json& body) {
        if (!body.contains("prompt") || !body["prompt"].is_string())
            throw BadRequest{"'prompt' must be a string", "prompt"};
        return engine.text_prompt(body["prompt"].get<std::string>());
    }

    void check_model(const json& body) {
        const std::string model = field<std::string>(body, "model", engine.model_id());
        if (model != engine.model_id()) throw BadRequest{"model '" + model + "' is not served here", "model"};
    }

    void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
        json body;
        try {
            body = json::parse(req.body);
        } catch (const json::exception&) {
            return send_error(res, 400, "the body is not valid JSON", "invalid_request_error");
        }
        if (!body.is_object()) return send_error(res, 400, "the body must be a JSON object", "invalid_request_error");
        std::shared_ptr<RequestStream> stream;
        std::vector<TokenId> prompt;
        bool streaming = false;
        try {
            check_model(body);
            streaming = field<bool>(body, "stream", false);
            prompt = chat ? chat_prompt(body) : completion_prompt(body);
            const int64_t room = engine.context_tokens() - static_cast<int64_t>(prompt.size());
            const SamplingParams params = sampling_from(body, std::max<int64_t>(1, std::min<int64_t>(room, 512)));
            stream = engine.submit(prompt, params);
        } catch (const BadRequest& e) {
            return send_error(res, 400, e.message, "invalid_request_error", e.param);
        } catch (const InvalidArgument& e) {
            return send_error(res, 400, e.what(), "invalid_request_error");
        } catch (const ResourceExhausted& e) {
            res.set_header("Retry-After", "1");
            return send_error(res, 429, e.what(), "rate_limit_error");
        }
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
                    return send_error(res, 500, "the engine did not answer in time", "server_error");
                }
                text += e->text;
                if (e->finished) {
                    last = *e;
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
            res.set_content(out.dump(), "application/json");
            return;
        }
        const bool include_usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                                   field<bool>(body["stream_options"], "include_usage", false);
        auto chunk = [=, this](const json& delta_or_text, const json& finish) {
            json choice = {{"index", 0}, {"finish_reason", finish}};
            if (chat) choice["delta"] = delta_or_text;
            else choice["text"] = delta_or_text;
            json c = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                      {"model", engine.model_id()}, {"choices", json::array({choice})}};
            return "data: " + c.dump() + "\n\n";
        };
        auto started = std::make_shared<bool>(false);
        res.set_chunked_content_provider(
            "text/event-stream",
            [=, this](size_t, httplib::DataSink& sink) {
                if (!*started && chat) {
                    const std::string first = chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr);
                    sink.write(first.data(), first.size());
                }
                *started = true;
                const auto e = stream->next(event_wait);
                if (!e || !sink.is_writable()) {
                    engine.cancel(stream->id());
                    return false;
                }
                if (!e->text.empty()) {
                    const std::string c = chunk(chat ? json{{"content", e->text}} : json(e->text), nullptr);
                    if (!sink.write(c.data(), c.size())) {
                        engine.cancel(stream->id());
                        return false;
                    }
                }
                if (e->finished) {
                    std::string tail = chunk(chat ? json::object() : json(""), finish_name(e->finish));
                    if (include_usage) {
                        json u = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
                                  {"created", created}, {"model", engine.model_id()}, {"choices", json::array()},
                                  {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", e->generated_tokens},
                                             {"total_tokens", prompt_tokens + e->generated_tokens}}}};
                        tail += "data: " + u.dump() + "\n\n";
                    }
                    tail += "data: [DONE]\n\n";
                    sink.write(tail.data(), tail.size());
                    sink.done();
                }
                return true;
            },
            [=, this](bool success) {
                if (!success) engine.cancel(stream->id());
            });
    }
};

OpenAiHttpServer::OpenAiHttpServer(EngineService& engine, int http_threads) : impl_(std::make_unique<Impl>(engine)) {
    auto& http = impl_->http;
    Impl* impl = impl_.get();
    const size_t threads = static_cast<size_t>(std::max(2, http_threads));
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(max_body_bytes);
    http.Get("/health", [impl](const httplib::Request&, httplib::Response& res) {
        const bool ok = impl->engine.health(milliseconds(5000));
        res.status = ok ? 200 : 503;
        res.set_content(json{{"status", ok ? "ok" : "unavailable"}}.dump(), "application/json");
    });
    http.Get("/metrics", [impl](const httplib::Request&, httplib::Response& res) {
        res.set_content(impl->engine.metrics().render(), "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [impl](const httplib::Request&, httplib::Response& res) {
        json m = {{"id", impl->engine.model_id()}, {"object", "model"}, {"created", 0}, {"owned_by", "enclave"}};
        res.set_content(json{{"object", "list"}, {"data", json::array({m})}}.dump(), "application/json");
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
    auto& http = impl_->http;
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
    impl_->http.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace enclave::server
