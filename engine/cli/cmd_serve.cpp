// serve: load a model, run its engine thread and the OpenAI-compatible HTTP API until SIGINT/SIGTERM.
// Logs one line when ready; exits non-zero with a clear message on a bad flag, a busy port or a bad model.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <optional>

#include "args.h"
#include "commands.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_paths.h"
#include "loaded_model.h"
#include "server/config/serve_config.h"
#include "server/engine_service.h"
#include "server/grpc/grpc_server.h"
#include "server/http/openai_http.h"

namespace enclave::cli {
namespace {

std::pair<std::string, int> parse_host_port(const std::string& s) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) throw UsageError("--http needs HOST:PORT (got '" + s + "')");
    const std::string port = s.substr(colon + 1);
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 0 || p > 65535) throw UsageError("--http port must be 0-65535 (got '" + port + "')");
    return {s.substr(0, colon), static_cast<int>(p)};
}

// $XDG_RUNTIME_DIR/enclave/engine.sock, else /tmp/enclave-UID/engine.sock.
std::string default_socket() {
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) return std::string(x) + "/enclave/engine.sock";
    return "/tmp/enclave-" + std::to_string(::getuid()) + "/engine.sock";
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
    const Args args("serve", argv,
                    {ENCLAVE_MODEL_FLAGS,
                     {"config", true, "TOML config file (flags override it; see docs/operations.md)"},
                     {"http", true, "OpenAI-compatible HTTP address (default 127.0.0.1:8080; port 0 picks one)"},
                     {"socket", true, "gRPC Unix socket, mode 0600 (default $XDG_RUNTIME_DIR/enclave/engine.sock)"},
                     {"listen", true, "gRPC over TCP with TLS on HOST:PORT (needs --tls-cert and --tls-key)"},
                     {"tls-cert", true, "PEM certificate chain for --listen"},
                     {"tls-key", true, "PEM private key for --listen"},
                     {"max-running", true, "sequences in one step (default 64)"},
                     {"batch", true, "tokens in one step (default 512)"},
                     {"queue", true, "requests open at once before new ones get HTTP 429 (default 256)"},
                     {"http-threads", true, "HTTP threads; each open stream holds one (default 128)"},
                     {"template", true, "chat template override"},
                     {"telemetry-period-ms", true, "telemetry sampling period (default 1000; 24 h of history are kept)"},
                     {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    server::ServeConfig config;
    if (const auto file = args.get("config")) config = server::ServeConfig::from_toml_file(*file);
    config.http = args.get_or("http", config.http);
    config.socket = args.get_or("socket", config.socket.empty() ? default_socket() : config.socket);
    config.max_running = args.get_int("max-running", config.max_running, 1, 4096);
    config.batch = args.get_int("batch", config.batch, 1, 1 << 16);
    config.queue = args.get_int("queue", config.queue, 1, 1 << 20);
    config.http_threads = args.get_int("http-threads", config.http_threads, 2, 4096);
    config.tls = args.get_or("listen", config.tls);
    config.tls_cert = args.get_or("tls-cert", config.tls_cert);
    config.tls_key = args.get_or("tls-key", config.tls_key);
    config.chat_template = args.get_or("template", config.chat_template);
    const auto [host, port] = parse_host_port(config.http);
    if (!config.tls.empty() && (config.tls_cert.empty() || config.tls_key.empty()))
        throw UsageError("--listen needs --tls-cert and --tls-key: TCP is served with TLS only");
    SchedulerConfig scheduler;
    scheduler.max_running = config.max_running;
    scheduler.max_batch_tokens = config.batch;
    scheduler.prefill_chunk = std::min<int64_t>(256, config.batch);

    ModelLoadSpec base;
    base.model = config.model;
    base.model_dir = config.model_dir;
    base.backend = config.backend;
    base.threads = static_cast<int>(config.threads);
    base.ctx = config.ctx;
    LoadedModel m = load_model(model_spec_from_args(args, base), 0, true);
    server::LoadedEngine engine;
    if (!config.chat_template.empty()) {
        engine.chat_template = chat_template_for(*m.model, config.chat_template);  // a bad name stops here
    } else {
        try {
            engine.chat_template = chat_template_for(*m.model, "");
        } catch (const InvalidArgument& e) {
            std::fprintf(stderr, "enclave-engine serve: %s; chat requests are off\n", e.what());
        }
    }
    engine.model_id = m.model->file().path().stem().string();
    engine.backend = std::move(m.backend);
    engine.model = std::move(m.model);
    engine.tokenizer = std::move(m.tokenizer);
    engine.cache = std::move(m.cache);

    // Block the stop signals in every thread; this one waits for them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    server::EngineService service(std::move(engine), scheduler, config.queue);
    if (!service.metrics().gpus().available())
        std::fprintf(stderr, "enclave-engine serve: telemetry: %s\n", service.metrics().gpus().unavailable_reason().c_str());
    server::OpenAiHttpServer http(service, static_cast<int>(config.http_threads));
    const int bound = http.start(host, port);
    const auto period = std::chrono::milliseconds(args.get_int("telemetry-period-ms", 1000, 10, 3'600'000));
    // 24 h of history, at most 345,600 samples (24 h at 250 ms) whatever the period.
    const auto samples = std::min<int64_t>(std::chrono::hours(24) / period, 345'600);
    server::TelemetryHistory telemetry(service.metrics().gpus(), period, static_cast<size_t>(samples));
    server::GrpcServer grpc(service, telemetry);
    grpc.set_unix_socket(config.socket);
    std::optional<size_t> tls;
    std::string tls_host;
    if (!config.tls.empty()) {
        const auto [h, p] = parse_host_port(config.tls);
        tls_host = h;
        tls = grpc.add_tls_listener(h, p, config.tls_cert, config.tls_key);
    }
    grpc.start();
    const std::string tls_note = tls ? ", gRPC+TLS on " + tls_host + ":" + std::to_string(grpc.tls_port(*tls)) : "";
    std::printf("enclave-engine ready: model %s, gRPC on unix:%s%s, OpenAI API on http://%s:%d/v1\n",
                service.model_id().c_str(), config.socket.c_str(), tls_note.c_str(), host.c_str(), bound);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "enclave-engine serve: stopping (signal %d)\n", sig);
    grpc.stop();
    telemetry.stop();
    http.stop();
    service.stop();
    return 0;
}

}  // namespace enclave::cli
