// Alert rules evaluated in the engine: the deployment guide's defaults, a rule fires only after its
// duration, resolves when the condition ends, edits are validated, and rules and events survive a restart.
#include <unistd.h>

#include <filesystem>

#include "check.h"
#include "server/telemetry/alert_engine.h"

using namespace enclave;
using namespace enclave::server;
namespace fs = std::filesystem;

namespace {

fs::path temp_db(const std::string& name) {
    const auto dir = fs::temp_directory_path() / ("enclave_tst_alerts_" + std::to_string(getpid()));
    fs::create_directories(dir);
    const auto p = dir / name;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
    return p;
}

TelemetrySnapshot sample(int64_t t_ms, double temperature, double waiting = 0, double success = 1) {
    TelemetrySnapshot s;
    s.time_ms = t_ms;
    GpuSample g;
    g.index = 0;
    g.name = "H200";
    g.temperature_celsius = temperature;
    g.memory_used_bytes = 10e9;
    g.memory_total_bytes = 141e9;
    s.gpus.push_back(g);
    s.serving.waiting = waiting;
    s.serving.success_ratio = success;
    return s;
}

const AlertRule* find(const std::vector<AlertRule>& rules, const std::string& metric) {
    for (const auto& r : rules)
        if (r.metric == metric) return &r;
    return nullptr;
}

}  // namespace

ENCLAVE_TEST(defaults_are_the_deployment_guides) {
    AlertEngine alerts(temp_db("defaults.db"));
    const auto rules = alerts.rules();
    const AlertRule* t = find(rules, "gpu_temperature_celsius");
    REQUIRE(t);
    CHECK_EQ(t->comparison, std::string(">"));
    CHECK_EQ(t->threshold, 85.0);
    const AlertRule* m = find(rules, "gpu_memory_used_ratio");
    REQUIRE(m);
    CHECK_EQ(m->threshold, 0.90);
    const AlertRule* s = find(rules, "success_ratio");
    REQUIRE(s);
    CHECK_EQ(s->comparison, std::string("<"));
    CHECK_EQ(s->threshold, 0.995);
    const AlertRule* l = find(rules, "mean_inter_token_seconds");
    REQUIRE(l);
    CHECK_EQ(l->threshold, 0.2);
    const AlertRule* q = find(rules, "waiting_requests");
    REQUIRE(q);
    CHECK_EQ(q->threshold, 50.0);
}

ENCLAVE_TEST(fires_after_its_duration_and_resolves) {
    AlertEngine alerts(temp_db("fire.db"));
    const int64_t t0 = 1'700'000'000'000;
    alerts.evaluate(sample(t0, 90));             // hot, but not yet for 60 s
    alerts.evaluate(sample(t0 + 59'000, 91));
    CHECK(alerts.firing().empty());
    alerts.evaluate(sample(t0 + 60'000, 92));   // 60 s of > 85 C
    auto firing = alerts.firing();
    REQUIRE(firing.size() == 1);
    CHECK_EQ(firing[0].subject, std::string("gpu 0"));
    CHECK_EQ(firing[0].state, std::string("firing"));
    CHECK_EQ(firing[0].value, 92.0);
    alerts.evaluate(sample(t0 + 61'000, 93));   // still hot: no second event
    CHECK_EQ(alerts.events(0, 100).size(), size_t{1});
    alerts.evaluate(sample(t0 + 62'000, 70));
    CHECK(alerts.firing().empty());
    const auto events = alerts.events(0, 100);
    REQUIRE(events.size() == 2);
    CHECK_EQ(events[0].state, std::string("resolved"));  // newest first
    CHECK_EQ(events[1].state, std::string("firing"));
}

ENCLAVE_TEST(a_firing_rule_edited_or_deleted_resolves_for_watchers) {
    AlertEngine alerts(temp_db("edit_while_firing.db"));
    const int64_t t0 = 1'700'000'000'000;
    alerts.evaluate(sample(t0, 90));
    alerts.evaluate(sample(t0 + 60'000, 92));
    REQUIRE(alerts.firing().size() == 1);
    const int64_t before = alerts.last_event_id();
    AlertRule hot = *find(alerts.rules(), "gpu_temperature_celsius");
    hot.threshold = 95;  // edited: the old condition no longer applies
    alerts.put_rule(hot);
    auto news = alerts.wait_events(before, std::chrono::milliseconds(0));
    REQUIRE(news.size() == 1);
    CHECK_EQ(news[0].state, std::string("resolved"));
    CHECK_EQ(news[0].subject, std::string("gpu 0"));
    CHECK_EQ(news[0].value, 92.0);
    CHECK(alerts.firing().empty());
    alerts.evaluate(sample(t0 + 61'000, 96));  // fires again under the new threshold after its duration
    alerts.evaluate(sample(t0 + 121'000, 97));
    REQUIRE(alerts.firing().size() == 1);
    const int64_t mid = alerts.last_event_id();
    alerts.delete_rule(hot.id);
    news = alerts.wait_events(mid, std::chrono::milliseconds(0));
    REQUIRE(news.size() == 1);
    CHECK_EQ(news[0].state, std::string("resolved"));
    CHECK(alerts.firing().empty());
}

ENCLAVE_TEST(an_interrupted_condition_starts_its_duration_again) {
    AlertEngine alerts(temp_db("interrupt.db"));
    const int64_t t0 = 1'700'000'000'000;
    alerts.evaluate(sample(t0, 0, 60));            // queue deep
    alerts.evaluate(sample(t0 + 100'000, 0, 10));  // not deep: the 120 s start over
    alerts.evaluate(sample(t0 + 130'000, 0, 60));
    alerts.evaluate(sample(t0 + 200'000, 0, 60));
    CHECK(alerts.firing().empty());
    alerts.evaluate(sample(t0 + 250'000, 0, 60));
    CHECK_EQ(alerts.firing().size(), size_t{1});
}

ENCLAVE_TEST(edits_are_validated_naming_the_field) {
    AlertEngine alerts(temp_db("edit.db"));
    AlertRule r{"", "Hot", "gpu_temperature_celsius", ">", 80, 0, "warning", true};
    auto bad = r;
    bad.metric = "cpu_magic";
    CHECK_THROWS_WITH(alerts.put_rule(bad), InvalidArgument, "metric");
    bad = r;
    bad.comparison = "!=";
    CHECK_THROWS_WITH(alerts.put_rule(bad), InvalidArgument, "comparison");
    bad = r;
    bad.threshold = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(alerts.put_rule(bad), InvalidArgument, "threshold");
    bad = r;
    bad.severity = "page";
    CHECK_THROWS_WITH(alerts.put_rule(bad), InvalidArgument, "severity");
    bad = r;
    bad.for_seconds = -1;
    CHECK_THROWS_WITH(alerts.put_rule(bad), InvalidArgument, "for_seconds");
    bad = r;
    bad.id = "r-nonexistent";
    CHECK_THROWS_WITH(alerts.put_rule(bad), NotFound, "r-nonexistent");
    const AlertRule made = alerts.put_rule(r);
    CHECK(!made.id.empty());
    alerts.evaluate(sample(1'700'000'000'000, 81));  // the new rule (80, 0 s) fires at once; the default does not
    const auto firing = alerts.firing();
    REQUIRE(firing.size() == 1);
    CHECK_EQ(firing[0].rule_id, made.id);
    CHECK_THROWS_WITH(alerts.delete_rule("r-nonexistent"), NotFound, "r-nonexistent");
}

ENCLAVE_TEST(rules_and_events_survive_a_restart) {
    const auto file = temp_db("restart.db");
    std::string id;
    {
        AlertEngine alerts(file);
        id = alerts.put_rule({"", "Deep queue", "waiting_requests", ">=", 5, 0, "critical", true}).id;
        alerts.delete_rule("gpu-temperature");
        alerts.evaluate(sample(1'700'000'000'000, 20, 5));
    }
    AlertEngine alerts(file);
    const auto rules = alerts.rules();
    CHECK(find(rules, "gpu_temperature_celsius") == nullptr);  // a deleted default stays deleted
    bool found = false;
    for (const auto& r : rules) found = found || r.id == id;
    CHECK(found);
    const auto events = alerts.events(0, 10);
    REQUIRE(events.size() == 1);
    CHECK_EQ(events[0].rule_id, id);
}

ENCLAVE_TEST(a_reading_that_is_missing_neither_fires_nor_resolves) {
    AlertEngine alerts(temp_db("missing.db"));
    TelemetrySnapshot no_gpu;
    no_gpu.time_ms = 1'700'000'000'000;
    alerts.evaluate(no_gpu);
    no_gpu.time_ms += 3'600'000;
    alerts.evaluate(no_gpu);
    CHECK(alerts.firing().empty());
    CHECK(alerts.events(0, 10).empty());
}

ENCLAVE_TEST(extra_readings_reach_rules) {
    bool audit_ok = true;
    AlertEngine alerts(temp_db("extra.db"), [&] {
        return std::map<std::string, double>{{"audit_log_unavailable", audit_ok ? 0.0 : 1.0}};
    });
    alerts.evaluate(sample(1'700'000'000'000, 20));
    CHECK(alerts.firing().empty());
    audit_ok = false;
    alerts.evaluate(sample(1'700'000'001'000, 20));
    const auto firing = alerts.firing();
    REQUIRE(firing.size() == 1);
    CHECK_EQ(firing[0].rule_id, std::string("audit-log"));
    CHECK_EQ(firing[0].severity, std::string("critical"));
}

ENCLAVE_TEST_MAIN()
