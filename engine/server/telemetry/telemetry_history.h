// TelemetryHistory: samples the process, the host, the GPUs and the serving counters every period on its
// own thread and keeps the last `capacity` samples (24 h at 1 s by default) in a ring buffer. Each sample
// also carries the serving rates of the period before it (tokens/s, latency quantiles) and of the last
// five minutes (success ratio, mean inter-token latency), which the alert rules and the console read.
//
// Contract: thread-safe; range() copies out what was asked for; wait_newer() blocks until a sample newer
// than a given time exists (for live streams) or the timeout passes. stop() (and the destructor) ends the
// sampling thread within one period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <deque>
#include <functional>

#include "server/telemetry/gpu_probe.h"
#include "server/telemetry/metrics.h"

namespace enclave::server {

// Every served model together, at one sample.
struct ServingSummary {
    double running = 0, waiting = 0;
    double requests_ok_total = 0, requests_error_total = 0, requests_cancelled_total = 0, rejected_total = 0;
    double prompt_tokens_total = 0, generated_tokens_total = 0;
    double kv_cache_usage_ratio = 0;           // the fullest model's
    // Over the period since the previous sample:
    double generated_tokens_per_second = 0;
    double prompt_tokens_per_second = 0;
    double ttft_p50_seconds = 0, ttft_p95_seconds = 0;
    double latency_p50_seconds = 0, latency_p95_seconds = 0;  // whole requests
    // Over the last five minutes (1 and 0 when there were no requests):
    double success_ratio = 1;                  // ok / (ok + error); cancelled requests do not count
    double mean_inter_token_seconds = 0;
};

struct TelemetrySnapshot {
    int64_t time_ms = 0;  // Unix time
    double process_resident_bytes = 0;
    double process_cpu_seconds = 0;
    double host_memory_total_bytes = 0;
    double host_memory_available_bytes = 0;
    double host_cpu_utilization_ratio = -1;  // over the period before the sample; -1 when not known yet
    std::vector<GpuSample> gpus;
    ServingSummary serving;
};

// What the sampler reads the serving counters from (every loaded model and the front's refusals).
struct ServingSource {
    std::function<std::vector<MetricsValues>()> models;
    std::function<FrontCounters()> front;
};

// The process and host readings of /metrics and of the history, in one place.
TelemetrySnapshot take_snapshot(const GpuProbe& gpus);

class TelemetryHistory {
public:
    TelemetryHistory(const GpuProbe& gpus, ServingSource serving, std::chrono::milliseconds period,
                     size_t capacity = 24 * 3600);
    ~TelemetryHistory();
    TelemetryHistory(const TelemetryHistory&) = delete;
    TelemetryHistory& operator=(const TelemetryHistory&) = delete;

    // Samples with since_ms <= time_ms <= until_ms (until_ms 0: now), thinned evenly to max_samples (0: all).
    std::vector<TelemetrySnapshot> range(int64_t since_ms, int64_t until_ms, size_t max_samples) const;
    std::optional<TelemetrySnapshot> wait_newer(int64_t after_ms, std::chrono::milliseconds timeout) const;
    std::optional<TelemetrySnapshot> latest() const;
    // The process, host and GPUs read now, with the rates of the latest sample (for /metrics).
    TelemetrySnapshot current() const;
    // Called on the sampling thread with each new sample (the alert evaluator); set before samples matter.
    void on_sample(std::function<void(const TelemetrySnapshot&)> observer);
    std::chrono::milliseconds period() const { return period_; }
    const GpuProbe& gpus() const { return gpus_; }
    void stop();

private:
    void run();
    void summarise(TelemetrySnapshot& s);  // sampling thread: fills s.serving

    const GpuProbe& gpus_;
    ServingSource serving_;
    // Sampling thread only: the previous totals and five minutes of them, for the rates.
    struct Totals {
        int64_t time_ms = 0;
        double ok = 0, error = 0, generated = 0;
        LatencyHistogram ttft, itl, latency;
    };
    std::optional<Totals> previous_;
    double prompt_previous_ = -1;
    std::optional<std::pair<double, double>> cpu_previous_;  // (busy, total) jiffies of /proc/stat
    std::deque<Totals> window_;
    std::function<void(const TelemetrySnapshot&)> observer_;  // guarded by mutex_
    std::chrono::milliseconds period_;
    size_t capacity_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<TelemetrySnapshot> ring_;  // [capacity] oldest at next_ once full
    size_t next_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace enclave::server
