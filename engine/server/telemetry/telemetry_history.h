// TelemetryHistory: samples the process, the host and the GPUs every period on its own thread and keeps
// the last `capacity` samples (24 h at 1 s by default) in a ring buffer.
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

#include "server/telemetry/gpu_probe.h"

namespace enclave::server {

struct TelemetrySnapshot {
    int64_t time_ms = 0;  // Unix time
    double process_resident_bytes = 0;
    double process_cpu_seconds = 0;
    double host_memory_total_bytes = 0;
    double host_memory_available_bytes = 0;
    std::vector<GpuSample> gpus;
};

// The process and host readings of /metrics and of the history, in one place.
TelemetrySnapshot take_snapshot(const GpuProbe& gpus);

class TelemetryHistory {
public:
    TelemetryHistory(const GpuProbe& gpus, std::chrono::milliseconds period, size_t capacity = 24 * 3600);
    ~TelemetryHistory();
    TelemetryHistory(const TelemetryHistory&) = delete;
    TelemetryHistory& operator=(const TelemetryHistory&) = delete;

    // Samples with since_ms <= time_ms <= until_ms (until_ms 0: now), thinned evenly to max_samples (0: all).
    std::vector<TelemetrySnapshot> range(int64_t since_ms, int64_t until_ms, size_t max_samples) const;
    std::optional<TelemetrySnapshot> wait_newer(int64_t after_ms, std::chrono::milliseconds timeout) const;
    std::chrono::milliseconds period() const { return period_; }
    void stop();

private:
    void run();

    const GpuProbe& gpus_;
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
