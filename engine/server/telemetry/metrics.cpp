#include "server/telemetry/metrics.h"

#include <cstdio>
#include <functional>

#include "server/telemetry/telemetry_history.h"

namespace enclave::server {
namespace {

std::string escape_label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

void LatencyHistogram::observe(double seconds) {
    for (size_t i = 0; i < bounds.size(); ++i)
        if (seconds <= bounds[i]) {
            ++buckets[i];
            break;
        }
    ++count;
    sum += seconds;
}

LatencyHistogram LatencyHistogram::minus(const LatencyHistogram& earlier) const {
    LatencyHistogram d;
    for (size_t i = 0; i < bounds.size(); ++i) d.buckets[i] = buckets[i] - earlier.buckets[i];
    d.count = count - earlier.count;
    d.sum = sum - earlier.sum;
    return d;
}

double LatencyHistogram::quantile(double q) const {
    if (count == 0) return 0;
    const double rank = q * static_cast<double>(count);
    double below = 0, lower_bound = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
        const double here = static_cast<double>(buckets[i]);
        if (below + here >= rank && here > 0) return lower_bound + (bounds[i] - lower_bound) * (rank - below) / here;
        below += here;
        lower_bound = bounds[i];
    }
    return bounds.back();  // the rank falls among values above the last bound
}

Metrics::Metrics(std::string model_id) { v_.model = std::move(model_id); }

void Metrics::request_finished(Result result, double latency_seconds) {
    std::lock_guard lock(mutex_);
    switch (result) {
        case Result::ok: ++v_.requests_ok; break;
        case Result::cancelled: ++v_.requests_cancelled; break;
        case Result::error: ++v_.requests_error; break;
    }
    if (result != Result::cancelled) v_.latency.observe(latency_seconds);
}

void Metrics::tokens(int64_t prompt, int64_t generated) {
    std::lock_guard lock(mutex_);
    v_.prompt_tokens += static_cast<uint64_t>(prompt);
    v_.generated_tokens += static_cast<uint64_t>(generated);
}

void Metrics::time_to_first_token(double seconds) {
    std::lock_guard lock(mutex_);
    v_.ttft.observe(seconds);
}

void Metrics::inter_token_latency(double seconds) {
    std::lock_guard lock(mutex_);
    v_.itl.observe(seconds);
}

void Metrics::set_running(int64_t running, int64_t waiting) {
    std::lock_guard lock(mutex_);
    v_.running = running;
    v_.waiting = waiting;
}

void Metrics::set_kv_cache_usage(double ratio) {
    std::lock_guard lock(mutex_);
    v_.kv_usage = ratio;
}

void Metrics::preempted(int64_t count) {
    std::lock_guard lock(mutex_);
    v_.preemptions += static_cast<uint64_t>(count);
}

void Metrics::prefix_hits(int64_t tokens) {
    std::lock_guard lock(mutex_);
    v_.prefix_hit_tokens += static_cast<uint64_t>(tokens);
}

MetricsValues Metrics::values() const {
    std::lock_guard lock(mutex_);
    return v_;
}

std::string render_prometheus(const std::vector<MetricsValues>& models, const FrontCounters& front,
                              const TelemetrySnapshot& now, const security::SecurityStats* security) {
    std::string out;
    auto header = [&](const std::string& name, const char* type, const char* help) {
        out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto sample = [&](const std::string& name, const std::string& labels, double v) {
        out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number(v) + "\n";
    };
    auto label = [](const MetricsValues& m) { return "model=\"" + escape_label(m.model) + "\""; };
    auto per_model = [&](const char* name, const char* type, const char* help,
                         const std::function<double(const MetricsValues&)>& value) {
        header(name, type, help);
        for (const auto& m : models) sample(name, label(m), value(m));
    };

    header("enclave_requests_total", "counter", "Finished requests by result.");
    for (const auto& m : models) {
        sample("enclave_requests_total", label(m) + ",result=\"ok\"", static_cast<double>(m.requests_ok));
        sample("enclave_requests_total", label(m) + ",result=\"error\"", static_cast<double>(m.requests_error));
        sample("enclave_requests_total", label(m) + ",result=\"cancelled\"", static_cast<double>(m.requests_cancelled));
    }
    per_model("enclave_requests_running", "gauge", "Requests in the running batch.",
              [](const MetricsValues& m) { return static_cast<double>(m.running); });
    per_model("enclave_requests_waiting", "gauge", "Requests waiting to be admitted.",
              [](const MetricsValues& m) { return static_cast<double>(m.waiting); });
    per_model("enclave_prompt_tokens_total", "counter", "Prompt tokens of finished requests.",
              [](const MetricsValues& m) { return static_cast<double>(m.prompt_tokens); });
    per_model("enclave_generated_tokens_total", "counter", "Generated tokens of finished requests.",
              [](const MetricsValues& m) { return static_cast<double>(m.generated_tokens); });
    per_model("enclave_preemptions_total", "counter", "Sequences preempted for lack of KV cache blocks.",
              [](const MetricsValues& m) { return static_cast<double>(m.preemptions); });
    per_model("enclave_prefix_cache_hit_tokens_total", "counter",
              "Prompt tokens whose K/V was reused from the prefix cache instead of computed.",
              [](const MetricsValues& m) { return static_cast<double>(m.prefix_hit_tokens); });
    per_model("enclave_kv_cache_usage_ratio", "gauge", "Share of KV cache blocks in use.",
              [](const MetricsValues& m) { return m.kv_usage; });
    auto histogram = [&](const char* name, const char* help, LatencyHistogram MetricsValues::*which) {
        header(name, "histogram", help);
        for (const auto& m : models) {
            const LatencyHistogram& h = m.*which;
            uint64_t cumulative = 0;
            for (size_t i = 0; i < LatencyHistogram::bounds.size(); ++i) {
                cumulative += h.buckets[i];
                sample(std::string(name) + "_bucket", label(m) + ",le=\"" + number(LatencyHistogram::bounds[i]) + "\"",
                       static_cast<double>(cumulative));
            }
            sample(std::string(name) + "_bucket", label(m) + ",le=\"+Inf\"", static_cast<double>(h.count));
            sample(std::string(name) + "_sum", label(m), h.sum);
            sample(std::string(name) + "_count", label(m), static_cast<double>(h.count));
        }
    };
    histogram("enclave_time_to_first_token_seconds", "Time from submission to the first generated token.",
              &MetricsValues::ttft);
    histogram("enclave_inter_token_latency_seconds", "Time between two generated tokens of a request.",
              &MetricsValues::itl);
    histogram("enclave_request_latency_seconds", "Time from submission to the end of a request that was not cancelled.",
              &MetricsValues::latency);

    header("enclave_requests_rejected_total", "counter", "Requests refused at admission, by reason.");
    for (const char* reason : {"queue_full", "rate_limited"}) {
        const auto it = front.rejected.find(reason);
        sample("enclave_requests_rejected_total", std::string("reason=\"") + reason + "\"",
               it == front.rejected.end() ? 0.0 : static_cast<double>(it->second));
    }
    for (const auto& [reason, n] : front.rejected)
        if (reason != "queue_full" && reason != "rate_limited")
            sample("enclave_requests_rejected_total", "reason=\"" + escape_label(reason) + "\"", static_cast<double>(n));
    header("enclave_route_requests_total", "counter", "Requests sent through a weighted route, by target model.");
    for (const auto& [key, n] : front.route_hits)
        sample("enclave_route_requests_total",
               "route=\"" + escape_label(key.first) + "\",model=\"" + escape_label(key.second) + "\"",
               static_cast<double>(n));

    if (security) {
        const security::SecurityStats& s = *security;
        auto counter = [&](const char* name, const char* help, uint64_t v) {
            header(name, "counter", help);
            sample(name, "", static_cast<double>(v));
        };
        counter("enclave_logins_failed_total", "Failed logins (wrong password, unknown user, locked or disabled).",
                s.logins_failed);
        counter("enclave_lockouts_total", "Accounts locked after repeated failed logins.", s.lockouts);
        counter("enclave_authorization_denied_total", "Calls refused for missing or bad credentials or for the role.",
                s.denied);
        counter("enclave_rate_limited_total", "Inference requests refused by a per-user or per-key limit.",
                s.rate_limited);
        header("enclave_limit_refusals_total", "counter",
               "Inference requests refused at admission, by whose limit (user pseudonym or API key id) and which.");
        for (const auto& [key, n] : s.limit_refusals)
            sample("enclave_limit_refusals_total",
                   "subject=\"" + escape_label(key.first.first) + "\",id=\"" + escape_label(key.first.second) +
                       "\",limit=\"" + escape_label(key.second) + "\"",
                   static_cast<double>(n));
        counter("enclave_audit_write_failures_total", "Audit records that could not be written.", s.audit_failures);
        header("enclave_audit_log_healthy", "gauge", "1 while the audit log can be written; 0 means fail-closed.");
        sample("enclave_audit_log_healthy", "", s.audit_healthy ? 1.0 : 0.0);
    }

    auto gauge = [&](const char* name, const char* type, const char* help, double v) {
        if (v < 0) return;
        header(name, type, help);
        sample(name, "", v);
    };
    gauge("process_resident_memory_bytes", "gauge", "Resident memory of the engine process.", now.process_resident_bytes);
    gauge("process_cpu_seconds_total", "counter", "CPU time the engine process has used.", now.process_cpu_seconds);
    gauge("enclave_host_memory_total_bytes", "gauge", "Memory of the host.", now.host_memory_total_bytes);
    gauge("enclave_host_cpu_utilization_ratio", "gauge", "Share of the host's CPU time busy over the last sample period.",
          now.host_cpu_utilization_ratio);
    gauge("enclave_host_memory_available_bytes", "gauge", "Memory the host can still give.",
          now.host_memory_available_bytes);
    if (!now.gpus.empty()) {
        struct Field {
            const char* name;
            const char* help;
            std::optional<double> GpuSample::*value;
        };
        const Field fields[] = {
            {"enclave_gpu_temperature_celsius", "GPU temperature.", &GpuSample::temperature_celsius},
            {"enclave_gpu_memory_used_bytes", "GPU memory in use.", &GpuSample::memory_used_bytes},
            {"enclave_gpu_memory_total_bytes", "GPU memory in all.", &GpuSample::memory_total_bytes},
            {"enclave_gpu_utilization_ratio", "Share of time the GPU was busy.", &GpuSample::utilization_ratio},
            {"enclave_gpu_power_watts", "GPU power draw.", &GpuSample::power_watts},
            {"enclave_gpu_sm_clock_hertz", "GPU SM clock.", &GpuSample::sm_clock_hz},
            {"enclave_gpu_pcie_tx_bytes_per_second", "PCIe bytes the GPU sends a second (NVML, 20 ms window).",
             &GpuSample::pcie_tx_bytes_per_second},
            {"enclave_gpu_pcie_rx_bytes_per_second", "PCIe bytes the GPU receives a second (NVML, 20 ms window).",
             &GpuSample::pcie_rx_bytes_per_second},
        };
        for (const auto& f : fields) {
            header(f.name, "gauge", f.help);
            for (const auto& g : now.gpus)
                if (g.*f.value)
                    sample(f.name, "gpu=\"" + std::to_string(g.index) + "\",name=\"" + escape_label(g.name) + "\"",
                           *(g.*f.value));
        }
    }
    return out;
}

}  // namespace enclave::server
