#include "server/telemetry/metrics.h"

#include <cstdio>

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

Metrics::Metrics(std::string model_id) : model_label_("model=\"" + escape_label(model_id) + "\"") {}

void Metrics::Histogram::observe(double v) {
    for (size_t i = 0; i < bucket_bounds.size(); ++i)
        if (v <= bucket_bounds[i]) {
            ++buckets[i];
            break;
        }
    ++count;
    sum += v;
}

void Metrics::request_finished(bool ok) {
    std::lock_guard lock(mutex_);
    ++(ok ? requests_ok_ : requests_error_);
}

void Metrics::tokens(int64_t prompt, int64_t generated) {
    std::lock_guard lock(mutex_);
    prompt_tokens_ += static_cast<uint64_t>(prompt);
    generated_tokens_ += static_cast<uint64_t>(generated);
}

void Metrics::time_to_first_token(double seconds) {
    std::lock_guard lock(mutex_);
    ttft_.observe(seconds);
}

void Metrics::inter_token_latency(double seconds) {
    std::lock_guard lock(mutex_);
    itl_.observe(seconds);
}

void Metrics::set_running(int64_t running, int64_t waiting) {
    std::lock_guard lock(mutex_);
    running_ = running;
    waiting_ = waiting;
}

void Metrics::set_kv_cache_usage(double ratio) {
    std::lock_guard lock(mutex_);
    kv_usage_ = ratio;
}

void Metrics::preempted(int64_t count) {
    std::lock_guard lock(mutex_);
    preemptions_ += static_cast<uint64_t>(count);
}

std::string Metrics::render() const {
    std::lock_guard lock(mutex_);
    const std::string& m = model_label_;
    std::string out;
    auto header = [&](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto sample = [&](const std::string& name, const std::string& labels, double v) {
        out += name + "{" + labels + "} " + number(v) + "\n";
    };
    header("enclave_requests_total", "counter", "Finished requests by result.");
    sample("enclave_requests_total", m + ",result=\"ok\"", static_cast<double>(requests_ok_));
    sample("enclave_requests_total", m + ",result=\"error\"", static_cast<double>(requests_error_));
    header("enclave_requests_running", "gauge", "Requests in the running batch.");
    sample("enclave_requests_running", m, static_cast<double>(running_));
    header("enclave_requests_waiting", "gauge", "Requests waiting to be admitted.");
    sample("enclave_requests_waiting", m, static_cast<double>(waiting_));
    header("enclave_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
    sample("enclave_prompt_tokens_total", m, static_cast<double>(prompt_tokens_));
    header("enclave_generated_tokens_total", "counter", "Generated tokens of finished requests.");
    sample("enclave_generated_tokens_total", m, static_cast<double>(generated_tokens_));
    header("enclave_preemptions_total", "counter", "Sequences preempted for lack of KV cache blocks.");
    sample("enclave_preemptions_total", m, static_cast<double>(preemptions_));
    header("enclave_kv_cache_usage_ratio", "gauge", "Share of KV cache blocks in use.");
    sample("enclave_kv_cache_usage_ratio", m, kv_usage_);
    auto histogram = [&](const char* name, const char* help, const Histogram& h) {
        header(name, "histogram", help);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < bucket_bounds.size(); ++i) {
            cumulative += h.buckets[i];
            sample(std::string(name) + "_bucket", m + ",le=\"" + number(bucket_bounds[i]) + "\"",
                   static_cast<double>(cumulative));
        }
        sample(std::string(name) + "_bucket", m + ",le=\"+Inf\"", static_cast<double>(h.count));
        sample(std::string(name) + "_sum", m, h.sum);
        sample(std::string(name) + "_count", m, static_cast<double>(h.count));
    };
    histogram("enclave_time_to_first_token_seconds", "Time from submission to the first generated token.", ttft_);
    histogram("enclave_inter_token_latency_seconds", "Time between two generated tokens of a request.", itl_);

    auto gauge = [&](const char* name, const char* type, const char* help, double v) {
        if (v < 0) return;
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
               number(v) + "\n";
    };
    const TelemetrySnapshot now = take_snapshot(gpus_);
    gauge("process_resident_memory_bytes", "gauge", "Resident memory of the engine process.", now.process_resident_bytes);
    gauge("process_cpu_seconds_total", "counter", "CPU time the engine process has used.", now.process_cpu_seconds);
    gauge("enclave_host_memory_total_bytes", "gauge", "Memory of the host.", now.host_memory_total_bytes);
    gauge("enclave_host_memory_available_bytes", "gauge", "Memory the host can still give.",
          now.host_memory_available_bytes);

    const auto& gpus = now.gpus;
    if (!gpus.empty()) {
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
        };
        for (const auto& f : fields) {
            header(f.name, "gauge", f.help);
            for (const auto& g : gpus)
                if (g.*f.value)
                    sample(f.name, "gpu=\"" + std::to_string(g.index) + "\",name=\"" + escape_label(g.name) + "\"",
                           *(g.*f.value));
        }
    }
    return out;
}

}  // namespace enclave::server
