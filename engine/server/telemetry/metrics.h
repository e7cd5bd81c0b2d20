// Serving metrics in Prometheus' text exposition format (version 0.0.4).
//
// Contract: a Metrics object is shared by the engine thread (which updates it) and the HTTP threads
// (which render it); every method is thread-safe. Names follow Prometheus conventions (enclave_ prefix,
// _total for counters, _seconds for durations); `promtool check metrics` accepts the output (tested).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "server/telemetry/gpu_probe.h"

namespace enclave::server {

class Metrics {
public:
    explicit Metrics(std::string model_id);

    void request_finished(bool ok);                   // counts requests by result
    void tokens(int64_t prompt, int64_t generated);   // counts tokens
    void time_to_first_token(double seconds);
    void inter_token_latency(double seconds);
    void set_running(int64_t running, int64_t waiting);
    void set_kv_cache_usage(double ratio);            // 0..1
    void preempted(int64_t count);

    // Serving metrics, then the process (resident memory, CPU time), the host's memory and, where NVML
    // is present, every GPU's temperature, memory, utilisation, power and SM clock, sampled now.
    std::string render() const;
    const GpuProbe& gpus() const { return gpus_; }

private:
    // Cumulative buckets from 1 ms to 30 s, as a latency histogram of an interactive service wants.
    static constexpr std::array<double, 14> bucket_bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                             0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
    struct Histogram {
        std::array<uint64_t, bucket_bounds.size()> buckets{};  // non-cumulative counts per bound
        uint64_t count = 0;
        double sum = 0;
        void observe(double v);
    };

    std::string model_label_;
    GpuProbe gpus_;
    mutable std::mutex mutex_;
    uint64_t requests_ok_ = 0, requests_error_ = 0;
    uint64_t prompt_tokens_ = 0, generated_tokens_ = 0, preemptions_ = 0;
    int64_t running_ = 0, waiting_ = 0;
    double kv_usage_ = 0;
    Histogram ttft_, itl_;
};

}  // namespace enclave::server
