#include "server/security/permissions.h"

#include <array>

namespace enclave::server::security {
namespace {

// The permission matrix. Auditors change nothing; analysts chat and see their own things; admins run
// the engine. Admins may generate too, to try a model they deployed (audited like any inference).
//                       action               name                 anon   admin  analyst auditor
constexpr std::array<ActionRule, 17> kActions{{
    {Action::health_check, "health_check", true, true, true, true, "health check (no credentials)"},
    {Action::auth_login, "auth_login", true, true, true, true, "bootstrap state, first admin, login"},
    {Action::auth_self, "auth_self", false, true, true, true, "who am I, logout, own password, own data export"},
    {Action::models_list, "models_list", false, true, true, true, "list served models and routes"},
    {Action::models_files, "models_files", false, true, false, false, "list the model directory"},
    {Action::models_manage, "models_manage", false, true, false, false, "load, unload, swap models; set routes"},
    {Action::generate, "generate", false, true, true, false, "inference (gRPC Generate, OpenAI completions)"},
    {Action::conversations_own, "conversations_own", false, true, true, false, "own conversations"},
    {Action::telemetry_read, "telemetry_read", false, true, false, true, "telemetry, metrics, dashboards"},
    {Action::alerts_read, "alerts_read", false, true, false, true, "alert rules and events"},
    {Action::alerts_manage, "alerts_manage", false, true, false, false, "create, change, delete alert rules"},
    {Action::users_read, "users_read", false, true, false, true, "list users"},
    {Action::users_manage, "users_manage", false, true, false, false,
     "create, change, delete users; anyone's keys; GDPR export and erase"},
    {Action::keys_own, "keys_own", false, true, true, false, "create, list, revoke own API keys"},
    {Action::audit_read, "audit_read", false, true, false, true, "query the audit log"},
    {Action::audit_export, "audit_export", false, true, false, true, "export the audit log"},
    {Action::audit_verify, "audit_verify", false, true, false, true, "verify the audit log's chain"},
}};

constexpr std::array<MethodRule, 41> kMethods{{
    {"/enclave.v1.Generation/Generate", Action::generate},
    {"/enclave.v1.Models/ListModels", Action::models_list},
    {"/enclave.v1.Models/ListModelFiles", Action::models_files},
    {"/enclave.v1.Models/Load", Action::models_manage},
    {"/enclave.v1.Models/Unload", Action::models_manage},
    {"/enclave.v1.Models/Swap", Action::models_manage},
    {"/enclave.v1.Models/ListRoutes", Action::models_list},
    {"/enclave.v1.Models/SetRoute", Action::models_manage},
    {"/enclave.v1.Models/DeleteRoute", Action::models_manage},
    {"/enclave.v1.Telemetry/History", Action::telemetry_read},
    {"/enclave.v1.Telemetry/Live", Action::telemetry_read},
    {"/enclave.v1.Telemetry/Metrics", Action::telemetry_read},
    {"/enclave.v1.Health/Check", Action::health_check},
    {"/enclave.v1.Auth/Bootstrap", Action::auth_login},
    {"/enclave.v1.Auth/Login", Action::auth_login},
    {"/enclave.v1.Auth/Logout", Action::auth_self},
    {"/enclave.v1.Auth/WhoAmI", Action::auth_self},
    {"/enclave.v1.Auth/ChangePassword", Action::auth_self},
    {"/enclave.v1.Auth/BootstrapState", Action::auth_login},
    {"/enclave.v1.Users/ListUsers", Action::users_read},
    {"/enclave.v1.Users/CreateUser", Action::users_manage},
    {"/enclave.v1.Users/UpdateUser", Action::users_manage},
    {"/enclave.v1.Users/DeleteUser", Action::users_manage},
    {"/enclave.v1.Users/CreateKey", Action::keys_own},
    {"/enclave.v1.Users/ListKeys", Action::keys_own},
    {"/enclave.v1.Users/RevokeKey", Action::keys_own},
    {"/enclave.v1.Users/ExportUserData", Action::auth_self},
    {"/enclave.v1.Users/EraseUserData", Action::users_manage},
    {"/enclave.v1.Audit/Query", Action::audit_read},
    {"/enclave.v1.Audit/Verify", Action::audit_verify},
    {"/enclave.v1.Audit/Export", Action::audit_export},
    {"/enclave.v1.Conversations/ListConversations", Action::conversations_own},
    {"/enclave.v1.Conversations/GetConversation", Action::conversations_own},
    {"/enclave.v1.Conversations/CreateConversation", Action::conversations_own},
    {"/enclave.v1.Conversations/DeleteConversation", Action::conversations_own},
    {"/enclave.v1.Conversations/Send", Action::conversations_own},
    {"/enclave.v1.Alerts/ListRules", Action::alerts_read},
    {"/enclave.v1.Alerts/PutRule", Action::alerts_manage},
    {"/enclave.v1.Alerts/DeleteRule", Action::alerts_manage},
    {"/enclave.v1.Alerts/ListEvents", Action::alerts_read},
    {"/enclave.v1.Alerts/WatchEvents", Action::alerts_read},
}};

constexpr std::array<RouteRule, 5> kRoutes{{
    {"GET", "/health", Action::health_check},
    {"GET", "/metrics", Action::telemetry_read},
    {"GET", "/v1/models", Action::models_list},
    {"POST", "/v1/chat/completions", Action::generate},
    {"POST", "/v1/completions", Action::generate},
}};

}  // namespace

std::span<const ActionRule> action_rules() { return kActions; }
std::span<const MethodRule> grpc_method_rules() { return kMethods; }
std::span<const RouteRule> http_route_rules() { return kRoutes; }

const ActionRule& rule_of(Action action) {
    for (const auto& r : kActions)
        if (r.action == action) return r;
    throw Error("permission matrix: an action without a rule");  // a table bug; tests cover every action
}

bool role_may(Role role, Action action) {
    const auto& r = rule_of(action);
    switch (role) {
        case Role::admin: return r.admin;
        case Role::analyst: return r.analyst;
        case Role::auditor: return r.auditor;
    }
    return false;
}

bool is_anonymous(Action action) { return rule_of(action).anonymous; }
std::string_view action_name(Action action) { return rule_of(action).name; }

std::vector<std::string> permissions_of(Role role) {
    std::vector<std::string> out;
    for (const auto& r : kActions)
        if (role_may(role, r.action)) out.emplace_back(r.name);
    return out;
}

std::string_view role_name(Role role) {
    switch (role) {
        case Role::admin: return "admin";
        case Role::analyst: return "analyst";
        case Role::auditor: return "auditor";
    }
    return "unknown";
}

std::optional<Role> role_from_name(std::string_view name) {
    if (name == "admin") return Role::admin;
    if (name == "analyst") return Role::analyst;
    if (name == "auditor") return Role::auditor;
    return std::nullopt;
}

std::optional<Action> action_for_grpc_method(std::string_view full_method) {
    for (const auto& m : kMethods)
        if (full_method == m.method) return m.action;
    return std::nullopt;
}

std::optional<Action> action_for_http_route(std::string_view verb, std::string_view path) {
    for (const auto& r : kRoutes)
        if (verb == r.verb && path == r.path) return r.action;
    return std::nullopt;
}

std::string permissions_markdown() {
    auto mark = [](bool b) { return b ? "yes" : "-"; };
    std::string s;
    s += "| action | admin | analyst | auditor | no credentials | what it covers |\n";
    s += "|---|---|---|---|---|---|\n";
    for (const auto& r : kActions) {
        s += std::string("| `") + r.name + "` | " + mark(r.admin) + " | " + mark(r.analyst) + " | " + mark(r.auditor) +
             " | " + mark(r.anonymous) + " | " + r.description + " |\n";
    }
    s += "\n| gRPC method | action |\n|---|---|\n";
    for (const auto& m : kMethods) s += std::string("| `") + m.method + "` | `" + rule_of(m.action).name + "` |\n";
    s += "\n| HTTP route | action |\n|---|---|\n";
    for (const auto& r : kRoutes)
        s += std::string("| `") + r.verb + " " + r.path + "` | `" + rule_of(r.action).name + "` |\n";
    return s;
}

}  // namespace enclave::server::security
