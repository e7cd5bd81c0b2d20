#include "server/telemetry/telemetry_history.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace enclave::server {
namespace {

// /proc readings; -1 when unreadable (the gauge is then left out).
double resident_bytes() {
    std::ifstream in("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    if (!(in >> pages_total >> pages_resident)) return -1;
    return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return -1;
    const auto close = line.rfind(')');  // the command name may hold spaces; fields follow its ')'
    if (close == std::string::npos) return -1;
    std::istringstream fields(line.substr(close + 2));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt (fields 3-13)
    double utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return -1;
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double meminfo_bytes(const char* key) {
    std::ifstream in("/proc/meminfo");
    std::string k, unit;
    double kib = 0;
    while (in >> k >> kib >> unit)
        if (k == key) return kib * 1024.0;
    return -1;
}

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TelemetrySnapshot take_snapshot(const GpuProbe& gpus) {
    TelemetrySnapshot s;
    s.time_ms = unix_ms();
    s.process_resident_bytes = resident_bytes();
    s.process_cpu_seconds = cpu_seconds();
    s.host_memory_total_bytes = meminfo_bytes("MemTotal:");
    s.host_memory_available_bytes = meminfo_bytes("MemAvailable:");
    s.gpus = gpus.sample();
    return s;
}

TelemetryHistory::TelemetryHistory(const GpuProbe& gpus, std::chrono::milliseconds period, size_t capacity)
    : gpus_(gpus), period_(period), capacity_(capacity < 1 ? 1 : capacity) {
    ring_.reserve(capacity_ < 4096 ? capacity_ : 4096);  // grows to capacity as samples arrive
    thread_ = std::thread([this] { run(); });
}

TelemetryHistory::~TelemetryHistory() { stop(); }

void TelemetryHistory::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void TelemetryHistory::run() {
    for (;;) {
        TelemetrySnapshot s = take_snapshot(gpus_);
        std::unique_lock lock(mutex_);
        if (ring_.size() < capacity_) {
            ring_.push_back(std::move(s));
        } else {
            ring_[next_] = std::move(s);
            next_ = (next_ + 1) % capacity_;
        }
        changed_.notify_all();
        if (changed_.wait_for(lock, period_, [&] { return stopping_; })) return;
    }
}

std::vector<TelemetrySnapshot> TelemetryHistory::range(int64_t since_ms, int64_t until_ms, size_t max_samples) const {
    std::lock_guard lock(mutex_);
    std::vector<const TelemetrySnapshot*> hits;
    const size_t n = ring_.size();
    for (size_t i = 0; i < n; ++i) {
        const TelemetrySnapshot& s = ring_[(next_ + i) % n];  // oldest first
        if (s.time_ms >= since_ms && (until_ms == 0 || s.time_ms <= until_ms)) hits.push_back(&s);
    }
    std::vector<TelemetrySnapshot> out;
    if (max_samples == 0 || hits.size() <= max_samples) {
        for (const auto* h : hits) out.push_back(*h);
        return out;
    }
    for (size_t k = 0; k < max_samples; ++k) out.push_back(*hits[k * (hits.size() - 1) / (max_samples - 1 ? max_samples - 1 : 1)]);
    return out;
}

std::optional<TelemetrySnapshot> TelemetryHistory::wait_newer(int64_t after_ms, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    auto newest = [&]() -> const TelemetrySnapshot* {
        if (ring_.empty()) return nullptr;
        return &ring_[(next_ + ring_.size() - 1) % ring_.size()];
    };
    if (!changed_.wait_for(lock, timeout, [&] { return stopping_ || (newest() && newest()->time_ms > after_ms); }) ||
        stopping_)
        return std::nullopt;
    return *newest();
}

}  // namespace enclave::server
