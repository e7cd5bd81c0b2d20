// Telemetry (history, live stream, metrics snapshot) and Health.
#include "server/grpc/serving_services.h"

#include "server/grpc/grpc_caller.h"
#include "server/grpc/serving_common.h"

namespace enclave::server::grpc_api {
namespace {

using security::Action;
using std::chrono::milliseconds;

void to_proto(const TelemetrySnapshot& s, v1::TelemetrySample* out) {
    out->set_time_ms(s.time_ms);
    out->set_process_resident_bytes(s.process_resident_bytes);
    out->set_process_cpu_seconds(s.process_cpu_seconds);
    out->set_host_memory_total_bytes(s.host_memory_total_bytes);
    out->set_host_memory_available_bytes(s.host_memory_available_bytes);
    if (s.host_cpu_utilization_ratio >= 0) out->set_host_cpu_utilization_ratio(s.host_cpu_utilization_ratio);
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
        if (g.pcie_tx_bytes_per_second) r->set_pcie_tx_bytes_per_second(*g.pcie_tx_bytes_per_second);
        if (g.pcie_rx_bytes_per_second) r->set_pcie_rx_bytes_per_second(*g.pcie_rx_bytes_per_second);
    }
    const ServingSummary& v = s.serving;
    auto* o = out->mutable_serving();
    o->set_running(v.running);
    o->set_waiting(v.waiting);
    o->set_requests_ok_total(v.requests_ok_total);
    o->set_requests_error_total(v.requests_error_total);
    o->set_requests_cancelled_total(v.requests_cancelled_total);
    o->set_rejected_total(v.rejected_total);
    o->set_prompt_tokens_total(v.prompt_tokens_total);
    o->set_generated_tokens_total(v.generated_tokens_total);
    o->set_kv_cache_usage_ratio(v.kv_cache_usage_ratio);
    o->set_generated_tokens_per_second(v.generated_tokens_per_second);
    o->set_prompt_tokens_per_second(v.prompt_tokens_per_second);
    o->set_ttft_p50_seconds(v.ttft_p50_seconds);
    o->set_ttft_p95_seconds(v.ttft_p95_seconds);
    o->set_latency_p50_seconds(v.latency_p50_seconds);
    o->set_latency_p95_seconds(v.latency_p95_seconds);
    o->set_success_ratio(v.success_ratio);
    o->set_mean_inter_token_seconds(v.mean_inter_token_seconds);
}

class TelemetryService final : public v1::Telemetry::Service {
public:
    explicit TelemetryService(ServerParts& parts) : parts_(parts) {}

    grpc::Status History(grpc::ServerContext* ctx, const v1::HistoryRequest* req, v1::HistoryReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::telemetry_read);
            if (req->max_samples() < 0 || req->since_ms() < 0 || req->until_ms() < 0)
                throw InvalidArgument("since_ms, until_ms and max_samples must not be negative");
            for (const auto& s : parts_.telemetry.range(req->since_ms(), req->until_ms(),
                                                        static_cast<size_t>(req->max_samples())))
                to_proto(s, reply->add_samples());
            reply->set_period_ms(parts_.telemetry.period().count());
            return grpc::Status::OK;
        });
    }

    grpc::Status Live(grpc::ServerContext* ctx, const v1::LiveRequest*, grpc::ServerWriter<v1::TelemetrySample>* writer) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::telemetry_read);
            int64_t last = 0;
            while (!ctx->IsCancelled()) {
                const auto s = parts_.telemetry.wait_newer(last, milliseconds(500));  // wakes to notice a cancel
                if (!s) continue;
                parts_.authorizer.check_still_valid(who);
                last = s->time_ms;
                v1::TelemetrySample out;
                to_proto(*s, &out);
                if (!writer->Write(out)) break;
            }
            return grpc::Status::OK;
        });
    }

    grpc::Status Metrics(grpc::ServerContext* ctx, const v1::MetricsRequest*, v1::MetricsSnapshot* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::telemetry_read);
            const TelemetrySnapshot now = parts_.telemetry.latest().value_or(TelemetrySnapshot{});
            const ServingSummary& v = now.serving;
            reply->set_time_ms(now.time_ms);
            reply->set_requests_total(v.requests_ok_total + v.requests_error_total + v.requests_cancelled_total);
            reply->set_requests_failed(v.requests_error_total);
            reply->set_requests_rejected(v.rejected_total);
            reply->set_prompt_tokens_total(v.prompt_tokens_total);
            reply->set_generated_tokens_total(v.generated_tokens_total);
            reply->set_running(v.running);
            reply->set_waiting(v.waiting);
            reply->set_ttft_p50_seconds(v.ttft_p50_seconds);
            reply->set_ttft_p95_seconds(v.ttft_p95_seconds);
            reply->set_latency_p50_seconds(v.latency_p50_seconds);
            reply->set_latency_p95_seconds(v.latency_p95_seconds);
            reply->set_generated_tokens_per_second(v.generated_tokens_per_second);
            reply->set_success_ratio(v.success_ratio);
            const auto security = parts_.authorizer.stats();
            reply->set_prometheus_text(render_prometheus(parts_.models.metrics(), parts_.models.front_counters(),
                                                         parts_.telemetry.current(), &security));
            return grpc::Status::OK;
        });
    }

private:
    ServerParts& parts_;
};

class HealthService final : public v1::Health::Service {
public:
    explicit HealthService(ServerParts& parts) : parts_(parts) {}
    grpc::Status Check(grpc::ServerContext* ctx, const v1::HealthRequest*, v1::HealthReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::health_check);
            bool all = true;
            for (const auto& m : parts_.models.models()) {
                if (m.draining) continue;
                if (m.service->health(milliseconds(5000))) reply->add_models(m.name);
                else all = false;
            }
            reply->set_serving(all && reply->models_size() > 0);
            reply->set_version(parts_.version);
            return grpc::Status::OK;
        });
    }

private:
    ServerParts& parts_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_telemetry_service(ServerParts& parts) { return std::make_unique<TelemetryService>(parts); }
std::unique_ptr<grpc::Service> make_health_service(ServerParts& parts) { return std::make_unique<HealthService>(parts); }

}  // namespace enclave::server::grpc_api
