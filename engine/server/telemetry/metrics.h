// Serving metrics of one loaded model, and the Prometheus text exposition (version 0.0.4) of all of them.
//
// Contract: a Metrics object is shared by its model's engine thread (which updates it) and request
// threads (which read it); every method is thread-safe. render_prometheus() puts every family's HELP and
// TYPE once with one series per model (label `model`), so `promtool check metrics` accepts it (tested).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/security/authorizer.h"  // defines: security::SecurityStats

namespace enclave::server {

struct TelemetrySnapshot;

// Cumulative-bucket latency histogram from 1 ms to 30 s, as an interactive service wants.
struct LatencyHistogram {
    static constexpr std::array<double, 14> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
    std::array<uint64_t, bounds.size()> buckets{};  // non-cumulative counts per bound
    uint64_t count = 0;                             // includes values above the last bound
    double sum = 0;

    void observe(double seconds);
    LatencyHistogram minus(const LatencyHistogram& earlier) const;  // the observations since `earlier`
    // Prometheus' histogram_quantile: linear within the bucket; 0 when empty; the last bound past it.
    double quantile(double q) const;
};

// One model's counters at one moment.
struct MetricsValues {
    std::string model;
    uint64_t requests_ok = 0, requests_error = 0, requests_cancelled = 0;
    uint64_t prompt_tokens = 0, generated_tokens = 0, preemptions = 0;
    uint64_t prefix_hit_tokens = 0;  // prompt tokens whose K/V came from the prefix cache
    int64_t running = 0, waiting = 0;
    double kv_usage = 0;
    LatencyHistogram ttft, itl, latency;  // latency: submission to the last event of a request
};

class Metrics {
public:
    explicit Metrics(std::string model_id);

    // ok: stop, length or eos; cancelled: the client left or cancelled; error: the engine failed it.
    enum class Result { ok, cancelled, error };
    void request_finished(Result result, double latency_seconds);
    void tokens(int64_t prompt, int64_t generated);
    void time_to_first_token(double seconds);
    void inter_token_latency(double seconds);
    void set_running(int64_t running, int64_t waiting);
    void set_kv_cache_usage(double ratio);  // 0..1
    void preempted(int64_t count);
    void prefix_hits(int64_t tokens);

    MetricsValues values() const;

private:
    mutable std::mutex mutex_;
    MetricsValues v_;
};

// Counters of the serving front (not of one model): refusals by reason and requests per route target.
struct FrontCounters {
    std::map<std::string, uint64_t> rejected;                            // reason -> count
    std::map<std::pair<std::string, std::string>, uint64_t> route_hits;  // (route, model) -> count
};

// The whole /metrics page: every model's serving series, the front's counters, the security counters
// (logins, lockouts, denials, rate-limit refusals per user and key, audit log health) when given, then
// the process, the host and every GPU from `now`.
std::string render_prometheus(const std::vector<MetricsValues>& models, const FrontCounters& front,
                              const TelemetrySnapshot& now, const security::SecurityStats* security = nullptr);

}  // namespace enclave::server
