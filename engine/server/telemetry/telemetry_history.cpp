#include "server/telemetry/telemetry_history.h"

#include <unistd.h>

#include <algorithm>
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

// (busy, total) jiffies of all CPUs since boot, from the first line of /proc/stat.
std::optional<std::pair<double, double>> cpu_jiffies() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu")
        return std::nullopt;
    const double busy = user + nice + system + irq + softirq + steal;
    return std::make_pair(busy, busy + idle + iowait);
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

TelemetryHistory::TelemetryHistory(const GpuProbe& gpus, ServingSource serving, std::chrono::milliseconds period,
                                   size_t capacity)
    : gpus_(gpus), serving_(std::move(serving)), period_(period), capacity_(capacity < 1 ? 1 : capacity) {
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

void TelemetryHistory::on_sample(std::function<void(const TelemetrySnapshot&)> observer) {
    std::lock_guard lock(mutex_);
    observer_ = std::move(observer);
}

std::optional<TelemetrySnapshot> TelemetryHistory::latest() const {
    std::lock_guard lock(mutex_);
    if (ring_.empty()) return std::nullopt;
    return ring_[(next_ + ring_.size() - 1) % ring_.size()];
}

TelemetrySnapshot TelemetryHistory::current() const {
    TelemetrySnapshot now = take_snapshot(gpus_);
    if (const auto last = latest()) {
        now.host_cpu_utilization_ratio = last->host_cpu_utilization_ratio;
        now.serving = last->serving;
    }
    return now;
}

void TelemetryHistory::summarise(TelemetrySnapshot& s) {
    ServingSummary& out = s.serving;
    Totals now;
    now.time_ms = s.time_ms;
    if (serving_.models) {
        for (const MetricsValues& m : serving_.models()) {
            out.running += static_cast<double>(m.running);
            out.waiting += static_cast<double>(m.waiting);
            out.requests_ok_total += static_cast<double>(m.requests_ok);
            out.requests_error_total += static_cast<double>(m.requests_error);
            out.requests_cancelled_total += static_cast<double>(m.requests_cancelled);
            out.prompt_tokens_total += static_cast<double>(m.prompt_tokens);
            out.generated_tokens_total += static_cast<double>(m.generated_tokens);
            out.kv_cache_usage_ratio = std::max(out.kv_cache_usage_ratio, m.kv_usage);
            for (size_t i = 0; i < LatencyHistogram::bounds.size(); ++i) {
                now.ttft.buckets[i] += m.ttft.buckets[i];
                now.itl.buckets[i] += m.itl.buckets[i];
                now.latency.buckets[i] += m.latency.buckets[i];
            }
            now.ttft.count += m.ttft.count, now.ttft.sum += m.ttft.sum;
            now.itl.count += m.itl.count, now.itl.sum += m.itl.sum;
            now.latency.count += m.latency.count, now.latency.sum += m.latency.sum;
        }
    }
    if (serving_.front)
        for (const auto& [reason, n] : serving_.front().rejected) out.rejected_total += static_cast<double>(n);
    now.ok = out.requests_ok_total;
    now.error = out.requests_error_total;
    now.generated = out.generated_tokens_total;
    // A model unloaded since the last sample takes its counters with it: restart the rates then.
    if (previous_ && (now.ok < previous_->ok || now.generated < previous_->generated || now.itl.count < previous_->itl.count)) {
        previous_.reset();
        window_.clear();
        prompt_previous_ = -1;
    }
    if (previous_ && now.time_ms > previous_->time_ms) {
        const double seconds = static_cast<double>(now.time_ms - previous_->time_ms) / 1000.0;
        out.generated_tokens_per_second = (now.generated - previous_->generated) / seconds;
        if (prompt_previous_ >= 0) out.prompt_tokens_per_second = (out.prompt_tokens_total - prompt_previous_) / seconds;
        const LatencyHistogram ttft = now.ttft.minus(previous_->ttft), latency = now.latency.minus(previous_->latency);
        out.ttft_p50_seconds = ttft.quantile(0.5);
        out.ttft_p95_seconds = ttft.quantile(0.95);
        out.latency_p50_seconds = latency.quantile(0.5);
        out.latency_p95_seconds = latency.quantile(0.95);
    }
    window_.push_back(now);
    while (!window_.empty() && window_.front().time_ms < now.time_ms - 5 * 60 * 1000) window_.pop_front();
    const Totals& first = window_.front();
    const double ok = now.ok - first.ok, error = now.error - first.error;
    out.success_ratio = ok + error > 0 ? ok / (ok + error) : 1.0;
    const LatencyHistogram itl = now.itl.minus(first.itl);
    out.mean_inter_token_seconds = itl.count ? itl.sum / static_cast<double>(itl.count) : 0.0;
    previous_ = std::move(now);
    prompt_previous_ = out.prompt_tokens_total;
    if (const auto cpu = cpu_jiffies()) {
        if (cpu_previous_ && cpu->second > cpu_previous_->second)
            s.host_cpu_utilization_ratio = (cpu->first - cpu_previous_->first) / (cpu->second - cpu_previous_->second);
        cpu_previous_ = cpu;
    }
}

void TelemetryHistory::run() {
    for (;;) {
        TelemetrySnapshot s = take_snapshot(gpus_);
        summarise(s);
        std::function<void(const TelemetrySnapshot&)> observer;
        {
            std::lock_guard lock(mutex_);
            observer = observer_;
        }
        if (observer) observer(s);
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
