// serve: the engine daemon. Loads the models asked for, opens the state directory (users, audit log,
// conversations, alert rules), serves gRPC on a Unix socket (and TCP+TLS when configured) and the OpenAI
// HTTP API until SIGINT/SIGTERM. Logs one line when ready; exits non-zero with a clear message on a bad
// flag, a busy port or an unreadable model.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <optional>

#include "args.h"
#include "commands.h"
#include "core/model/model_paths.h"
#include "loaded_model.h"
#include "server/config/serve_config.h"
#include "server/grpc/grpc_server.h"
#include "server/grpc/identity_services.h"
#include "server/grpc/serving_services.h"
#include "server/http/openai_http.h"
#include "server/model_files.h"
#include "server/model_registry.h"
#include "server/security/audit_retention.h"
#include "server/security/security_service.h"
#include "server/server_parts.h"
#include "server/store/conversation_store.h"
#include "server/telemetry/alert_engine.h"
#include "server/telemetry/telemetry_history.h"

namespace enclave::cli {
namespace {

std::pair<std::string, int> parse_host_port(const std::string& s, const char* flag) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0)
        throw UsageError(std::string("--") + flag + " needs HOST:PORT (got '" + s + "')");
    const std::string port = s.substr(colon + 1);
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 0 || p > 65535)
        throw UsageError(std::string("--") + flag + " port must be 0-65535 (got '" + port + "')");
    return {s.substr(0, colon), static_cast<int>(p)};
}

// $XDG_RUNTIME_DIR/enclave/engine.sock, else /tmp/enclave-UID/engine.sock.
std::string default_socket() {
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) return std::string(x) + "/enclave/engine.sock";
    return "/tmp/enclave-" + std::to_string(::getuid()) + "/engine.sock";
}

// $XDG_STATE_HOME/enclave, else ~/.local/state/enclave.
std::string default_state_dir() {
    if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/enclave";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/enclave";
    throw UsageError("--state-dir is needed: neither XDG_STATE_HOME nor HOME is set");
}

bool is_loopback(const std::string& host) {
    return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
    const Args args("serve", argv,
                    {{"config", true, "TOML config file (flags override it; see docs/operations.md)"},
                     {"model-dir", true, "model directory (default: $ENCLAVE_MODEL_DIR or ~/.local/share/enclave/models)"},
                     {"state-dir", true, "users, audit log, conversations, alert rules (default ~/.local/state/enclave)"},
                     {"load", true, "a model to serve from the start: a name in the model directory or a path; repeatable"},
                     {"model", true, "the same as one --load (kept for scripts)"},
                     {"backend", true, "cpu (default) or cuda"},
                     {"threads", true, "CPU threads (default: all cores)"},
                     {"ctx", true, "KV cache size in tokens of each loaded model, all its sequences together"},
                     {"kv-share", true, "or: the KV cache takes this share (0-0.95) of the memory free after the weights"},
                     {"http", true, "OpenAI-compatible HTTP address (default 127.0.0.1:8080; port 0 picks one)"},
                     {"socket", true, "gRPC Unix socket, mode 0600 (default $XDG_RUNTIME_DIR/enclave/engine.sock)"},
                     {"listen", true, "gRPC over TCP with TLS on HOST:PORT (needs --tls-cert and --tls-key)"},
                     {"tls-cert", true, "PEM certificate chain for --listen"},
                     {"tls-key", true, "PEM private key for --listen"},
                     {"tls-client-ca", true, "PEM CA file: --listen requires client certificates this CA signed"},
                     {"http-tls-cert", true, "PEM certificate chain: serve the OpenAI API over HTTPS"},
                     {"http-tls-key", true, "PEM private key for --http-tls-cert"},
                     {"max-running", true, "sequences in one step (default 64)"},
                     {"batch", true, "tokens in one step (default 512)"},
                     {"queue", true, "requests open at once per model before new ones get HTTP 429 (default 256)"},
                     {"no-prefix-cache", false, "compute every prompt in full (no K/V reuse across requests)"},
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
    config.model_dir = args.get_or("model-dir", config.model_dir);
    config.state_dir = args.get_or("state-dir", config.state_dir.empty() ? default_state_dir() : config.state_dir);
    config.backend = args.get_or("backend", config.backend);
    config.threads = args.get_int("threads", config.threads, 0, 1024);
    config.ctx = args.get_int("ctx", config.ctx, 0, int64_t{1} << 24);
    config.kv_cache_share = args.get_double("kv-share", config.kv_cache_share);
    if (!(config.kv_cache_share >= 0 && config.kv_cache_share <= server::k_max_kv_cache_share))
        throw UsageError("--kv-share must be from 0 to 0.95 (got " + std::to_string(config.kv_cache_share) + ")");
    config.http = args.get_or("http", config.http);
    config.socket = args.get_or("socket", config.socket.empty() ? default_socket() : config.socket);
    config.max_running = args.get_int("max-running", config.max_running, 1, 4096);
    config.batch = args.get_int("batch", config.batch, 1, 1 << 16);
    config.queue = args.get_int("queue", config.queue, 1, 1 << 20);
    if (args.has("no-prefix-cache")) config.prefix_cache = false;
    config.http_threads = args.get_int("http-threads", config.http_threads, 2, 4096);
    config.tls = args.get_or("listen", config.tls);
    config.tls_cert = args.get_or("tls-cert", config.tls_cert);
    config.tls_key = args.get_or("tls-key", config.tls_key);
    config.tls_client_ca = args.get_or("tls-client-ca", config.tls_client_ca);
    config.chat_template = args.get_or("template", config.chat_template);
    config.http_tls_cert = args.get_or("http-tls-cert", config.http_tls_cert);
    config.http_tls_key = args.get_or("http-tls-key", config.http_tls_key);
    if (args.has("load") || args.has("model")) {
        config.load = args.get_all("load");
        for (const auto& m : args.get_all("model")) config.load.push_back(m);
    } else if (!config.model.empty()) {
        config.load.push_back(config.model);
    }
    if (config.load.empty()) config.load.push_back(std::string(default_model_file));
    if (config.backend != "cpu" && config.backend != "cuda")
        throw UsageError("--backend must be cpu or cuda (got '" + config.backend + "')");
    const auto [host, port] = parse_host_port(config.http, "http");
    if (!config.tls.empty() && (config.tls_cert.empty() || config.tls_key.empty()))
        throw UsageError("--listen needs --tls-cert and --tls-key: TCP is served with TLS only");
    if (!config.tls_client_ca.empty() && config.tls.empty())
        throw UsageError("--tls-client-ca applies to the TLS listener: it needs --listen");
    if (config.retention_days < server::security::AuditLog::kMinRetentionDays)
        throw UsageError("retention_days must be at least " + std::to_string(server::security::AuditLog::kMinRetentionDays) +
                         " (six months of audit records are kept)");
    if (config.http_tls_cert.empty() != config.http_tls_key.empty())
        throw UsageError("--http-tls-cert and --http-tls-key go together");
    if (!is_loopback(host) && config.http_tls_cert.empty())
        throw UsageError("--http " + config.http + " is not a loopback address: the OpenAI API is exposed there only "
                         "with TLS (--http-tls-cert and --http-tls-key)");
    if (config.http_hosts.empty()) {
        config.http_hosts = {"localhost", "127.0.0.1", "[::1]"};
        if (!is_loopback(host)) config.http_hosts.push_back(host);
    }
    const std::filesystem::path model_dir =
        config.model_dir.empty() ? default_model_dir() : std::filesystem::path(config.model_dir);

    SchedulerConfig scheduler;
    scheduler.max_running = config.max_running;
    scheduler.max_batch_tokens = config.batch;
    scheduler.prefill_chunk = std::min<int64_t>(256, config.batch);
    scheduler.prefix_cache = config.prefix_cache;

    // How a model file becomes a served engine: the CLI knows the backends and the paths.
    const server::ModelLoader loader = [&config, &model_dir](const server::LoadRequest& request,
                                                              const server::LoadProgressFn& progress) {
        ModelLoadSpec spec;
        spec.model = request.file;
        spec.model_dir = model_dir.string();
        spec.backend = config.backend;
        spec.threads = static_cast<int>(config.threads);
        spec.ctx = request.context_tokens > 0 ? request.context_tokens : config.ctx;
        spec.kv_share = config.kv_cache_share;
        progress(0.1, "loading");
        LoadedModel m;
        try {
            m = load_model(spec, 0, true);
        } catch (const UsageError& e) {  // a bad context size or backend, as the API sees it
            throw InvalidArgument(e.what());
        }
        server::LoadedEngine engine;
        if (!config.chat_template.empty()) {
            engine.chat_template = chat_template_for(*m.model, config.chat_template);  // a bad name stops here
        } else {
            try {
                engine.chat_template = chat_template_for(*m.model, "");
            } catch (const InvalidArgument& e) {
                std::fprintf(stderr, "enclave-engine serve: %s: %s; chat requests are off\n", request.file.c_str(), e.what());
            }
        }
        engine.file = m.model->file().path().filename().string();
        engine.backend_name = config.backend;
        engine.backend = std::move(m.backend);
        engine.model = std::move(m.model);
        engine.tokenizer = std::move(m.tokenizer);
        engine.cache = std::move(m.cache);
        std::fprintf(stderr, "enclave-engine serve: %s: KV cache of %lld tokens (%zu MiB)\n", engine.file.c_str(),
                     static_cast<long long>(engine.cache->capacity_tokens()), engine.cache->bytes() >> 20);
        return engine;
    };

    // Block the stop signals in every thread; this one waits for them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    server::security::SecurityOptions security_options;
    security_options.state_dir = config.state_dir;
    security_options.session_idle_ms = config.session_idle_seconds * 1000;
    security_options.session_absolute_ms = config.session_absolute_seconds * 1000;
    security_options.retention_days = static_cast<int>(config.retention_days);
    server::security::SecurityService security(security_options);
    // Retention: a prune at start, then daily, into the archive directory (audited in the chain).
    const std::filesystem::path archive_dir = config.audit_archive_dir.empty()
                                                  ? std::filesystem::path(config.state_dir) / "audit-archive"
                                                  : std::filesystem::path(config.audit_archive_dir);
    server::security::AuditRetention retention(security, archive_dir, std::chrono::hours(24), [](const std::string& m) {
        std::fprintf(stderr, "enclave-engine serve: %s\n", m.c_str());
    });
    server::ConversationStore conversations(std::filesystem::path(config.state_dir) / "conversations.db");
    security.set_user_content_hooks([&](int64_t user) { return conversations.export_owner_json(user); },
                                    [&](int64_t user) { conversations.erase_owner(user); });

    server::ModelRegistry models(loader, scheduler, config.queue);
    for (const auto& name : config.load) models.load({name, "", 0});

    server::GpuProbe gpus;
    if (!gpus.available()) std::fprintf(stderr, "enclave-engine serve: telemetry: %s\n", gpus.unavailable_reason().c_str());
    const auto period = std::chrono::milliseconds(args.get_int("telemetry-period-ms", 1000, 10, 3'600'000));
    // 24 h of history, at most 345,600 samples (24 h at 250 ms) whatever the period.
    const auto samples = std::min<int64_t>(std::chrono::hours(24) / period, 345'600);
    server::TelemetryHistory telemetry(
        gpus, {[&models] { return models.metrics(); }, [&models] { return models.front_counters(); }}, period,
        static_cast<size_t>(samples));
    server::AlertEngine alerts(std::filesystem::path(config.state_dir) / "alerts.db", [&security] {
        return std::map<std::string, double>{{"audit_log_unavailable", security.audit_healthy() ? 0.0 : 1.0}};
    });
    telemetry.on_sample([&alerts](const server::TelemetrySnapshot& s) { alerts.evaluate(s); });

    server::ServerParts parts{models, telemetry, security, conversations, alerts, model_dir, config.ctx, ENCLAVE_VERSION};
    std::optional<server::HttpTls> http_tls;
    if (!config.http_tls_cert.empty()) http_tls = server::HttpTls{config.http_tls_cert, config.http_tls_key};
    server::OpenAiHttpServer http(parts, static_cast<int>(config.http_threads), config.http_hosts, http_tls);
    const int bound = http.start(host, port);
    server::GrpcServer grpc;
    using namespace server::grpc_api;
    grpc.add_service(make_generation_service(parts));
    grpc.add_service(make_models_service(parts));
    grpc.add_service(make_telemetry_service(parts));
    grpc.add_service(make_health_service(parts));
    grpc.add_service(make_conversations_service(parts));
    grpc.add_service(make_alerts_service(parts));
    for (auto& service : server::make_identity_services(security)) grpc.add_service(std::move(service));
    grpc.set_unix_socket(config.socket);
    std::optional<size_t> tls;
    std::string tls_host;
    if (!config.tls.empty()) {
        const auto [h, p] = parse_host_port(config.tls, "listen");
        tls_host = h;
        tls = grpc.add_tls_listener(h, p, config.tls_cert, config.tls_key, config.tls_client_ca);
    }
    grpc.start();
    retention.start();
    std::fprintf(stderr, "enclave-engine serve: audit retention: records older than %lld days are archived to %s (checked daily)\n",
                 static_cast<long long>(config.retention_days), archive_dir.c_str());
    if (security.needs_first_admin())
        std::fprintf(stderr, "enclave-engine serve: no users yet: create the first admin with the one-time secret in %s\n",
                     security.bootstrap_secret_file().c_str());
    std::string served;
    for (const auto& m : models.models()) served += (served.empty() ? "" : ", ") + m.name;
    const std::string tls_note = tls ? ", gRPC+TLS on " + tls_host + ":" + std::to_string(grpc.tls_port(*tls)) : "";
    std::printf("enclave-engine ready: model %s, gRPC on unix:%s%s, OpenAI API on %s://%s:%d/v1\n", served.c_str(),
                config.socket.c_str(), tls_note.c_str(), http_tls ? "https" : "http", host.c_str(), bound);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "enclave-engine serve: stopping (signal %d)\n", sig);
    retention.stop();
    grpc.stop();
    http.stop();
    telemetry.stop();
    models.stop();
    return 0;
}

}  // namespace enclave::cli
