// AlertEngine: alert rules evaluated in the engine on every telemetry sample, with firing and resolved
// events stored and streamed. Rules and events live in <state>/alerts.db.
//
// Contract
// - A rule compares one metric (see metric_names()) with a threshold; the condition must hold for
//   `for_seconds` before the rule fires (one event per subject: "gpu 0", "serving", ...), and a resolved
//   event follows when it stops holding. A metric a sample lacks (no GPU) neither fires nor resolves.
// - On first start the store gets the deployment guide's defaults (GPU temperature > 85 C, VRAM > 90 %,
//   success ratio < 99.5 %, mean inter-token latency > 200 ms, queue depth > 50, audit log unwritable).
// - put_rule() validates every field (InvalidArgument naming it); rules survive restarts.
// - Thread-safe. evaluate() is called from the telemetry thread; wait_events() blocks readers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/store/sqlite_db.h"
#include "server/telemetry/telemetry_history.h"

namespace enclave::server {

struct AlertRule {
    std::string id;  // assigned on creation
    std::string name;
    std::string metric;
    std::string comparison;  // >, >=, <, <=
    double threshold = 0;
    int64_t for_seconds = 0;
    std::string severity;  // warning, critical
    bool enabled = true;
};

struct AlertEvent {
    int64_t id = 0;
    std::string rule_id, rule_name, severity;
    std::string state;  // firing, resolved
    double value = 0;
    int64_t time_ms = 0;
    std::string subject;
};

class AlertEngine {
public:
    // `extra` adds readings that are not telemetry (e.g. "audit_log_unavailable" from security).
    AlertEngine(const std::filesystem::path& file, std::function<std::map<std::string, double>()> extra = {});

    static const std::vector<std::string>& metric_names();

    std::vector<AlertRule> rules() const;
    AlertRule put_rule(AlertRule rule);  // empty id: a new rule
    void delete_rule(const std::string& id);

    void evaluate(const TelemetrySnapshot& sample);

    std::vector<AlertEvent> events(int64_t since_ms, int limit) const;  // newest first
    std::vector<AlertEvent> firing() const;
    // Events with id > after_id, waiting up to `timeout` for one.
    std::vector<AlertEvent> wait_events(int64_t after_id, std::chrono::milliseconds timeout) const;
    int64_t last_event_id() const;

private:
    void record(AlertEvent e);  // mutex_ held
    // A rule edited or deleted while it fires: its firing subjects get a resolved event (watchers learn it
    // ended) and its state starts again. mutex_ held.
    void end_rule_state(const AlertRule& old);
    AlertRule existing_rule(const std::string& id) const;  // throws NotFound; mutex_ held

    std::function<std::map<std::string, double>()> extra_;
    mutable std::mutex mutex_;
    mutable std::condition_variable new_event_;
    mutable store::Database db_;
    struct Pending {
        int64_t since_ms = 0;  // when the condition started to hold
        bool firing = false;
        double value = 0;      // the last value seen
    };
    std::map<std::pair<std::string, std::string>, Pending> state_;  // (rule id, subject)
    int64_t last_event_id_ = 0;
};

}  // namespace enclave::server
