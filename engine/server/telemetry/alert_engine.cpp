#include "server/telemetry/alert_engine.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>

#include "core/common/error.h"

namespace enclave::server {
namespace {

// (subject, value) readings of one metric in one sample.
using Readings = std::vector<std::pair<std::string, double>>;

Readings read_metric(const std::string& metric, const TelemetrySnapshot& s,
                     const std::map<std::string, double>& extra) {
    Readings out;
    auto gpu = [&](auto get) {
        for (const auto& g : s.gpus)
            if (auto v = get(g)) out.emplace_back("gpu " + std::to_string(g.index), *v);
    };
    const ServingSummary& v = s.serving;
    if (metric == "gpu_temperature_celsius") gpu([](const GpuSample& g) { return g.temperature_celsius; });
    else if (metric == "gpu_memory_used_ratio")
        gpu([](const GpuSample& g) -> std::optional<double> {
            if (!g.memory_used_bytes || !g.memory_total_bytes || *g.memory_total_bytes <= 0) return std::nullopt;
            return *g.memory_used_bytes / *g.memory_total_bytes;
        });
    else if (metric == "gpu_utilization_ratio") gpu([](const GpuSample& g) { return g.utilization_ratio; });
    else if (metric == "gpu_power_watts") gpu([](const GpuSample& g) { return g.power_watts; });
    else if (metric == "success_ratio") out.emplace_back("serving", v.success_ratio);
    else if (metric == "mean_inter_token_seconds") out.emplace_back("serving", v.mean_inter_token_seconds);
    else if (metric == "ttft_p95_seconds") out.emplace_back("serving", v.ttft_p95_seconds);
    else if (metric == "latency_p95_seconds") out.emplace_back("serving", v.latency_p95_seconds);
    else if (metric == "waiting_requests") out.emplace_back("serving", v.waiting);
    else if (metric == "running_requests") out.emplace_back("serving", v.running);
    else if (metric == "kv_cache_usage_ratio") out.emplace_back("serving", v.kv_cache_usage_ratio);
    else if (metric == "host_memory_available_ratio") {
        if (s.host_memory_total_bytes > 0 && s.host_memory_available_bytes >= 0)
            out.emplace_back("host", s.host_memory_available_bytes / s.host_memory_total_bytes);
    } else if (metric == "process_resident_bytes") {
        if (s.process_resident_bytes >= 0) out.emplace_back("engine", s.process_resident_bytes);
    } else if (auto it = extra.find(metric); it != extra.end()) {
        out.emplace_back("engine", it->second);
    }
    return out;
}

bool holds(const std::string& cmp, double value, double threshold) {
    if (cmp == ">") return value > threshold;
    if (cmp == ">=") return value >= threshold;
    if (cmp == "<") return value < threshold;
    return value <= threshold;
}

std::string new_rule_id() {
    static constexpr char hex[] = "0123456789abcdef";
    std::random_device rd;
    std::string id = "r-";
    for (int i = 0; i < 12; ++i) id += hex[rd() % 16];
    return id;
}

AlertRule read_rule(store::Statement& q) {
    return {q.column_text(0),   q.column_text(1), q.column_text(2),       q.column_text(3),
            q.column_double(4), q.column_int64(5), q.column_text(6), q.column_int64(7) != 0};
}

AlertEvent read_event(store::Statement& q) {
    return {q.column_int64(0), q.column_text(1), q.column_text(2), q.column_text(3),
            q.column_text(4),  q.column_double(5), q.column_int64(6), q.column_text(7)};
}

constexpr const char* rule_columns = "SELECT id, name, metric, comparison, threshold, for_seconds, severity, enabled FROM rules ";
constexpr const char* event_columns = "SELECT id, rule_id, rule_name, severity, state, value, time_ms, subject FROM events ";

}  // namespace

const std::vector<std::string>& AlertEngine::metric_names() {
    static const std::vector<std::string> names = {
        "gpu_temperature_celsius", "gpu_memory_used_ratio", "gpu_utilization_ratio", "gpu_power_watts",
        "success_ratio",           "mean_inter_token_seconds", "ttft_p95_seconds",  "latency_p95_seconds",
        "waiting_requests",        "running_requests",        "kv_cache_usage_ratio", "host_memory_available_ratio",
        "process_resident_bytes",  "audit_log_unavailable"};
    return names;
}

AlertEngine::AlertEngine(const std::filesystem::path& file, std::function<std::map<std::string, double>()> extra)
    : extra_(std::move(extra)), db_(store::Database::open(file)) {
    db_.exec(R"(
        CREATE TABLE IF NOT EXISTS rules (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, metric TEXT NOT NULL, comparison TEXT NOT NULL,
            threshold REAL NOT NULL, for_seconds INTEGER NOT NULL, severity TEXT NOT NULL, enabled INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY, rule_id TEXT NOT NULL, rule_name TEXT NOT NULL, severity TEXT NOT NULL,
            state TEXT NOT NULL, value REAL NOT NULL, time_ms INTEGER NOT NULL, subject TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    )");
    if (db_.query_int64("SELECT count(*) FROM meta WHERE key = 'defaults'") == 0) {
        store::Transaction tx(db_);
        const AlertRule defaults[] = {
            {"gpu-temperature", "GPU temperature high", "gpu_temperature_celsius", ">", 85, 60, "critical", true},
            {"gpu-memory", "GPU memory almost full", "gpu_memory_used_ratio", ">", 0.90, 300, "warning", true},
            {"success-ratio", "Success ratio low", "success_ratio", "<", 0.995, 300, "critical", true},
            {"latency", "Mean inter-token latency high", "mean_inter_token_seconds", ">", 0.2, 300, "warning", true},
            {"queue-depth", "Queue deep", "waiting_requests", ">", 50, 120, "warning", true},
            {"audit-log", "Audit log cannot be written", "audit_log_unavailable", ">", 0, 0, "critical", true},
        };
        for (const auto& r : defaults) {
            auto q = db_.prepare("INSERT OR IGNORE INTO rules VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
            q.bind(1, r.id).bind(2, r.name).bind(3, r.metric).bind(4, r.comparison).bind(5, r.threshold);
            q.bind(6, r.for_seconds).bind(7, r.severity).bind(8, int64_t{r.enabled});
            q.run();
        }
        db_.exec("INSERT INTO meta VALUES ('defaults', 'written')");
        tx.commit();
    }
    last_event_id_ = db_.query_int64("SELECT coalesce(max(id), 0) FROM events");
}

std::vector<AlertRule> AlertEngine::rules() const {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare(std::string(rule_columns) + "ORDER BY name, id");
    std::vector<AlertRule> out;
    while (q.step()) out.push_back(read_rule(q));
    return out;
}

AlertRule AlertEngine::put_rule(AlertRule r) {
    if (r.name.empty() || r.name.size() > 100) throw InvalidArgument("name: 1 to 100 characters");
    const auto& names = metric_names();
    if (std::find(names.begin(), names.end(), r.metric) == names.end())
        throw InvalidArgument("metric: '" + r.metric + "' is not a metric rules may use (see ListRules' metrics)");
    if (r.comparison != ">" && r.comparison != ">=" && r.comparison != "<" && r.comparison != "<=")
        throw InvalidArgument("comparison: one of >, >=, <, <= (got '" + r.comparison + "')");
    if (!std::isfinite(r.threshold)) throw InvalidArgument("threshold: must be a finite number");
    if (r.for_seconds < 0 || r.for_seconds > 86'400) throw InvalidArgument("for_seconds: 0 to 86400");
    if (r.severity != "warning" && r.severity != "critical")
        throw InvalidArgument("severity: warning or critical (got '" + r.severity + "')");
    std::lock_guard lock(mutex_);
    store::Transaction tx(db_);
    std::optional<AlertRule> old;
    if (r.id.empty())
        r.id = new_rule_id();
    else
        old = existing_rule(r.id);
    auto q = db_.prepare("INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, r.id).bind(2, r.name).bind(3, r.metric).bind(4, r.comparison).bind(5, r.threshold);
    q.bind(6, r.for_seconds).bind(7, r.severity).bind(8, int64_t{r.enabled});
    q.run();
    tx.commit();
    if (old) end_rule_state(*old);  // re-evaluated from scratch
    return r;
}

void AlertEngine::delete_rule(const std::string& id) {
    std::lock_guard lock(mutex_);
    const AlertRule old = existing_rule(id);
    auto q = db_.prepare("DELETE FROM rules WHERE id = ?");
    q.bind(1, id);
    q.run();
    end_rule_state(old);
}

AlertRule AlertEngine::existing_rule(const std::string& id) const {
    auto q = db_.prepare(std::string(rule_columns) + "WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) throw NotFound("alert rule '" + id + "' does not exist");
    return read_rule(q);
}

void AlertEngine::end_rule_state(const AlertRule& old) {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    for (const auto& [key, p] : state_)
        if (key.first == old.id && p.firing)
            record({0, old.id, old.name, old.severity, "resolved", p.value, now_ms, key.second});
    std::erase_if(state_, [&](const auto& e) { return e.first.first == old.id; });
}

void AlertEngine::record(AlertEvent e) {
    auto q = db_.prepare("INSERT INTO events (rule_id, rule_name, severity, state, value, time_ms, subject) VALUES (?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, e.rule_id).bind(2, e.rule_name).bind(3, e.severity).bind(4, e.state).bind(5, e.value);
    q.bind(6, e.time_ms).bind(7, e.subject);
    q.run();
    last_event_id_ = db_.last_insert_rowid();
    new_event_.notify_all();
}

void AlertEngine::evaluate(const TelemetrySnapshot& sample) {
    const auto extra = extra_ ? extra_() : std::map<std::string, double>{};
    const auto all = rules();
    std::lock_guard lock(mutex_);
    try {
        for (const auto& r : all) {
            if (!r.enabled) continue;
            for (const auto& [subject, value] : read_metric(r.metric, sample, extra)) {
                Pending& p = state_[{r.id, subject}];
                p.value = value;
                if (holds(r.comparison, value, r.threshold)) {
                    if (p.since_ms == 0) p.since_ms = sample.time_ms;
                    if (!p.firing && sample.time_ms - p.since_ms >= r.for_seconds * 1000) {
                        p.firing = true;
                        record({0, r.id, r.name, r.severity, "firing", value, sample.time_ms, subject});
                    }
                } else {
                    if (p.firing) record({0, r.id, r.name, r.severity, "resolved", value, sample.time_ms, subject});
                    p = {};
                }
            }
        }
    } catch (const std::exception& e) {
        // A full disk must not stop telemetry; the next sample tries again.
        std::fprintf(stderr, "enclave-engine: alert events not stored: %s\n", e.what());
    }
}

std::vector<AlertEvent> AlertEngine::events(int64_t since_ms, int limit) const {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare(std::string(event_columns) + "WHERE time_ms >= ? ORDER BY id DESC LIMIT ?");
    q.bind(1, since_ms).bind(2, static_cast<int64_t>(limit));
    std::vector<AlertEvent> out;
    while (q.step()) out.push_back(read_event(q));
    return out;
}

std::vector<AlertEvent> AlertEngine::firing() const {
    std::lock_guard lock(mutex_);
    std::vector<AlertEvent> out;
    for (const auto& [key, p] : state_) {
        if (!p.firing) continue;
        auto q = db_.prepare(std::string(event_columns) + "WHERE rule_id = ? AND subject = ? AND state = 'firing' ORDER BY id DESC LIMIT 1");
        q.bind(1, key.first).bind(2, key.second);
        if (q.step()) out.push_back(read_event(q));
    }
    return out;
}

std::vector<AlertEvent> AlertEngine::wait_events(int64_t after_id, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    new_event_.wait_for(lock, timeout, [&] { return last_event_id_ > after_id; });
    std::vector<AlertEvent> out;
    if (last_event_id_ <= after_id) return out;
    auto q = db_.prepare(std::string(event_columns) + "WHERE id > ? ORDER BY id LIMIT 1000");
    q.bind(1, after_id);
    while (q.step()) out.push_back(read_event(q));
    return out;
}

int64_t AlertEngine::last_event_id() const {
    std::lock_guard lock(mutex_);
    return last_event_id_;
}

}  // namespace enclave::server
