#include "server/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>  // defines: grpc::Server, ServerBuilder, Status
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "enclave.grpc.pb.h"

namespace enclave::server {
namespace {

using std::chrono::milliseconds;
namespace v1 = enclave::v1;

SamplingParams sampling_from(const v1::Sampling& s) {
    SamplingParams p;
    if (s.has_temperature()) p.temperature = s.temperature();
    if (s.has_top_k()) p.top_k = s.top_k();
    if (s.has_top_p()) p.top_p = s.top_p();
    if (s.has_min_p()) p.min_p = s.min_p();
    if (s.has_repeat_penalty()) p.repeat_penalty = s.repeat_penalty();
    if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
    if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
    if (s.has_seed()) p.seed = s.seed();
    if (s.has_max_tokens()) p.max_tokens = s.max_tokens();
    for (const auto& stop : s.stop()) p.stop.push_back(stop);
    return p;
}

class GenerationService final : public v1::Generation::Service {
public:
    explicit GenerationService(EngineService& e) : engine_(e) {}

    grpc::Status Generate(grpc::ServerContext* ctx, const v1::GenerateRequest* req,
                          grpc::ServerWriter<v1::GenerateEvent>* writer) override {
        std::shared_ptr<RequestStream> stream;
        try {
            if (!req->model().empty() && req->model() != engine_.model_id())
                return {grpc::StatusCode::NOT_FOUND, "model '" + req->model() + "' is not served here"};
            std::vector<TokenId> prompt;
            if (req->has_chat()) {
                std::vector<ChatMessage> messages;
                for (const auto& m : req->chat().messages()) messages.push_back({m.role(), m.content()});
                prompt = engine_.chat_prompt(messages);
            } else if (req->has_prompt()) {
                prompt = engine_.text_prompt(req->prompt());
            } else {
                return {grpc::StatusCode::INVALID_ARGUMENT, "input: set prompt or chat"};
            }
            stream = engine_.submit(std::move(prompt), sampling_from(req->sampling()));
        } catch (const InvalidArgument& e) {
            return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
        } catch (const ResourceExhausted& e) {
            return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.what()};
        }
        for (;;) {
            if (ctx->IsCancelled()) {
                engine_.cancel(stream->id());
                return {grpc::StatusCode::CANCELLED, "cancelled by the client"};
            }
            const auto e = stream->next(milliseconds(100));  // wakes up to notice a cancelled client
            if (!e) continue;
            v1::GenerateEvent out;
            if (e->token) {
                out.mutable_token()->set_id(*e->token);
                out.mutable_token()->set_text(e->text);
            }
            if (e->finished) {
                if (!e->text.empty()) {  // held-back text released at the end
                    v1::GenerateEvent tail;
                    tail.mutable_token()->set_id(-1);
                    tail.mutable_token()->set_text(e->text);
                    writer->Write(tail);
                }
                auto* f = out.mutable_finished();
                f->set_reason(std::string(finish_reason_name(e->finish)));
                f->set_prompt_tokens(e->prompt_tokens);
                f->set_generated_tokens(e->generated_tokens);
            }
            if (!writer->Write(out)) {
                engine_.cancel(stream->id());
                return {grpc::StatusCode::CANCELLED, "the client went away"};
            }
            if (e->finished) return grpc::Status::OK;
        }
    }

private:
    EngineService& engine_;
};

class ModelsService final : public v1::Models::Service {
public:
    explicit ModelsService(EngineService& e) : engine_(e) {}
    grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*, v1::ListModelsReply* reply) override {
        auto* m = reply->add_models();
        m->set_id(engine_.model_id());
        m->set_architecture(engine_.model_config().architecture);
        m->set_context_tokens(engine_.context_tokens());
        m->set_vocabulary(engine_.model_config().n_vocab);
        return grpc::Status::OK;
    }

private:
    EngineService& engine_;
};

void to_proto(const TelemetrySnapshot& s, v1::TelemetrySample* out) {
    out->set_time_ms(s.time_ms);
    out->set_process_resident_bytes(s.process_resident_bytes);
    out->set_process_cpu_seconds(s.process_cpu_seconds);
    out->set_host_memory_total_bytes(s.host_memory_total_bytes);
    out->set_host_memory_available_bytes(s.host_memory_available_bytes);
    for (const auto& g : s.gpus) {
        auto* r = out->add_gpus();
        r->set_index(g.index);
        r->set_name(g.name);
        if (g.temperature_celsius) r->set_temperature_celsius(*g.temperature_celsius);
        if (g.memory_used_bytes) r->set_memory_used_bytes(*g.memory_used_bytes);
        if (g.memory_total_bytes) r->set_memory_total_bytes(*g.memory_total_bytes);
        if (g.utilization_ratio) r->set_utilization_ratio(*g.utilization_ratio);
        if (g.power_watts) r->set_power_watts(*g.power_watts);
        if (g.sm_clock_hz) r->set_sm_clock_hz(*g.sm_clock_hz);
    }
}

class TelemetryService final : public v1::Telemetry::Service {
public:
    explicit TelemetryService(const TelemetryHistory& t) : telemetry_(t) {}

    grpc::Status History(grpc::ServerContext*, const v1::HistoryRequest* req, v1::HistoryReply* reply) override {
        if (req->max_samples() < 0 || req->since_ms() < 0 || req->until_ms() < 0)
            return {grpc::StatusCode::INVALID_ARGUMENT, "since_ms, until_ms and max_samples must not be negative"};
        for (const auto& s : telemetry_.range(req->since_ms(), req->until_ms(), static_cast<size_t>(req->max_samples())))
            to_proto(s, reply->add_samples());
        reply->set_period_ms(telemetry_.period().count());
        return grpc::Status::OK;
    }

    grpc::Status Live(grpc::ServerContext* ctx, const v1::LiveRequest*, grpc::ServerWriter<v1::TelemetrySample>* writer) override {
        int64_t last = 0;
        while (!ctx->IsCancelled()) {
            const auto s = telemetry_.wait_newer(last, milliseconds(500));  // wakes up to notice a cancelled client
            if (!s) continue;
            last = s->time_ms;
            v1::TelemetrySample out;
            to_proto(*s, &out);
            if (!writer->Write(out)) break;
        }
        return grpc::Status::OK;
    }

private:
    const TelemetryHistory& telemetry_;
};

class HealthService final : public v1::Health::Service {
public:
    explicit HealthService(EngineService& e) : engine_(e) {}
    grpc::Status Check(grpc::ServerContext*, const v1::HealthRequest*, v1::HealthReply* reply) override {
        reply->set_serving(engine_.health(milliseconds(5000)));
        return grpc::Status::OK;
    }

private:
    EngineService& engine_;
};

}  // namespace

struct GrpcServer::Impl {
    GenerationService generation;
    ModelsService models;
    HealthService health;
    TelemetryService telemetry;
    std::string socket_path;
    grpc::ServerBuilder builder;
    std::vector<std::unique_ptr<int>> tls_ports;  // [listeners] the bound port, known after start()
    std::unique_ptr<grpc::Server> server;
    Impl(EngineService& e, const TelemetryHistory& t) : generation(e), models(e), health(e), telemetry(t) {}
};

namespace {
std::string read_pem(const std::string& path, const char* what) {
    std::ifstream in(path);
    if (!in) throw Error(std::string("cannot read the TLS ") + what + " " + path);
    std::string pem((std::istreambuf_iterator<char>(in)), {});
    if (pem.find("-----BEGIN") == std::string::npos) throw Error(std::string("the TLS ") + what + " " + path + " is not PEM");
    return pem;
}
}  // namespace

GrpcServer::GrpcServer(EngineService& engine, const TelemetryHistory& telemetry)
    : impl_(std::make_unique<Impl>(engine, telemetry)) {}
GrpcServer::~GrpcServer() { stop(); }

void GrpcServer::set_unix_socket(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dir = fs::path(path).parent_path();
    if (!dir.empty() && !fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec) throw Error("cannot create the socket directory " + dir.string() + ": " + ec.message());
        fs::permissions(dir, fs::perms::owner_all, ec);
    }
    if (fs::is_socket(path, ec)) fs::remove(path, ec);  // a stale socket of an earlier engine
    impl_->socket_path = path;
    impl_->builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
}

size_t GrpcServer::add_tls_listener(const std::string& host, int port, const std::string& cert_file,
                                    const std::string& key_file) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({read_pem(key_file, "key"), read_pem(cert_file, "certificate")});
    impl_->tls_ports.push_back(std::make_unique<int>(0));
    impl_->builder.AddListeningPort(host + ":" + std::to_string(port), grpc::SslServerCredentials(options),
                                    impl_->tls_ports.back().get());
    return impl_->tls_ports.size() - 1;
}

void GrpcServer::start() {
    auto& b = impl_->builder;
    b.RegisterService(&impl_->generation);
    b.RegisterService(&impl_->models);
    b.RegisterService(&impl_->health);
    b.RegisterService(&impl_->telemetry);
    b.SetMaxReceiveMessageSize(4 << 20);
    impl_->server = b.BuildAndStart();
    if (!impl_->server)
        throw Error("cannot listen on the Unix socket " + impl_->socket_path +
                    " or a TLS address (in use, or not an address here)");
    for (const auto& p : impl_->tls_ports)
        if (*p == 0) {
            stop();
            throw Error("a TLS listener could not bind its address");
        }
    // Only the engine's OS user may connect to the socket: it is the engine's local front door.
    if (!impl_->socket_path.empty() && ::chmod(impl_->socket_path.c_str(), 0600) != 0) {
        stop();
        throw Error("cannot set mode 0600 on " + impl_->socket_path);
    }
}

int GrpcServer::tls_port(size_t listener) const { return *impl_->tls_ports.at(listener); }

void GrpcServer::stop() {
    if (impl_ && impl_->server) {
        impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
        impl_->server->Wait();
        impl_->server.reset();
    }
}

}  // namespace enclave::server
