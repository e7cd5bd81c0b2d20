// Alerts: rules (admins edit, auditors and admins read) and their events, stored and streamed.
#include <nlohmann/json.hpp>

#include "server/grpc/serving_services.h"

#include "server/grpc/grpc_caller.h"
#include "server/grpc/serving_common.h"
#include "server/telemetry/alert_engine.h"

namespace enclave::server::grpc_api {
namespace {

using security::Action;

void to_proto(const AlertRule& r, v1::AlertRule* out) {
    out->set_id(r.id);
    out->set_name(r.name);
    out->set_metric(r.metric);
    out->set_comparison(r.comparison);
    out->set_threshold(r.threshold);
    out->set_for_seconds(r.for_seconds);
    out->set_severity(r.severity);
    out->set_enabled(r.enabled);
}

void to_proto(const AlertEvent& e, v1::AlertEvent* out) {
    out->set_id(e.id);
    out->set_rule_id(e.rule_id);
    out->set_rule_name(e.rule_name);
    out->set_severity(e.severity);
    out->set_state(e.state);
    out->set_value(e.value);
    out->set_time_ms(e.time_ms);
    out->set_subject(e.subject);
}

class AlertsService final : public v1::Alerts::Service {
public:
    explicit AlertsService(ServerParts& parts) : parts_(parts) {}

    grpc::Status ListRules(grpc::ServerContext* ctx, const v1::ListAlertRulesRequest*, v1::ListAlertRulesReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::alerts_read);
            for (const auto& r : parts_.alerts.rules()) to_proto(r, reply->add_rules());
            for (const auto& m : AlertEngine::metric_names()) reply->add_metrics(m);
            return grpc::Status::OK;
        });
    }

    grpc::Status PutRule(grpc::ServerContext* ctx, const v1::AlertRule* req, v1::AlertRule* reply) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::alerts_manage, req->id());
            AlertRule r{req->id(), req->name(), req->metric(), req->comparison(), req->threshold(),
                        req->for_seconds(), req->severity(), req->enabled()};
            const nlohmann::json details = {{"name", r.name},           {"metric", r.metric},
                                            {"comparison", r.comparison}, {"threshold", r.threshold},
                                            {"for_seconds", r.for_seconds}, {"severity", r.severity},
                                            {"enabled", r.enabled}};
            try {
                r = parts_.alerts.put_rule(r);
            } catch (const std::exception& e) {
                parts_.authorizer.audit(who, {"CONFIG", "alert_rule.put", req->id(), "error",
                                              nlohmann::json{{"error", e.what()}}.dump()});
                throw;
            }
            parts_.authorizer.audit(who, {"CONFIG", "alert_rule.put", r.id, "ok", details.dump()});
            to_proto(r, reply);
            return grpc::Status::OK;
        });
    }

    grpc::Status DeleteRule(grpc::ServerContext* ctx, const v1::DeleteAlertRuleRequest* req, v1::DeleteAlertRuleReply*) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::alerts_manage, req->id());
            parts_.alerts.delete_rule(req->id());
            parts_.authorizer.audit(who, {"CONFIG", "alert_rule.delete", req->id(), "ok", "{}"});
            return grpc::Status::OK;
        });
    }

    grpc::Status ListEvents(grpc::ServerContext* ctx, const v1::ListAlertEventsRequest* req,
                            v1::ListAlertEventsReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::alerts_read);
            if (req->limit() < 0 || req->limit() > 10'000) throw InvalidArgument("limit: 0 (100) to 10000");
            for (const auto& e : parts_.alerts.events(req->since_ms(), req->limit() ? req->limit() : 100))
                to_proto(e, reply->add_events());
            for (const auto& e : parts_.alerts.firing()) to_proto(e, reply->add_firing());
            return grpc::Status::OK;
        });
    }

    grpc::Status WatchEvents(grpc::ServerContext* ctx, const v1::WatchAlertEventsRequest*,
                             grpc::ServerWriter<v1::AlertEvent>* writer) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::alerts_read);
            int64_t last = parts_.alerts.last_event_id();
            while (!ctx->IsCancelled()) {
                for (const auto& e : parts_.alerts.wait_events(last, std::chrono::milliseconds(500))) {
                    v1::AlertEvent out;
                    to_proto(e, &out);
                    if (!writer->Write(out)) return grpc::Status::OK;
                    last = e.id;
                }
                parts_.authorizer.check_still_valid(who);
            }
            return grpc::Status::OK;
        });
    }

private:
    ServerParts& parts_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_alerts_service(ServerParts& parts) { return std::make_unique<AlertsService>(parts); }

}  // namespace enclave::server::grpc_api
