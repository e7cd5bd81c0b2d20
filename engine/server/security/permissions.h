// Who may do what: the permission matrix (Action -> roles) and the tables that map every gRPC method and
// every HTTP route to one Action. These three tables are the only place permissions are written down;
// docs/security.md's table is generated from them (permissions_markdown(), checked by a test) and the
// authorisation tests iterate them.
//
// Some actions need a second, per-resource check in the handler: keys_own (a caller's own keys; others'
// need users_manage), conversations_own (only the owner's conversations), auth_self (ExportUserData of
// oneself; of others needs users_manage).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/security/authorizer.h"

namespace enclave::server::security {

struct ActionRule {
    Action action;
    const char* name;         // stable name, as in WhoAmI's permissions and the docs
    bool anonymous;           // allowed without credentials
    bool admin, analyst, auditor;
    const char* description;
};

struct MethodRule {
    const char* method;       // gRPC full method name, "/enclave.v1.Auth/Login"
    Action action;
};

struct RouteRule {
    const char* verb;         // GET, POST
    const char* path;         // "/v1/chat/completions"
    Action action;
};

std::span<const ActionRule> action_rules();
std::span<const MethodRule> grpc_method_rules();
std::span<const RouteRule> http_route_rules();

const ActionRule& rule_of(Action action);
bool role_may(Role role, Action action);
bool is_anonymous(Action action);
std::string_view action_name(Action action);
std::vector<std::string> permissions_of(Role role);  // action names, for WhoAmI

std::string_view role_name(Role role);                  // admin, analyst, auditor
std::optional<Role> role_from_name(std::string_view name);

// nullopt for a method or route the tables do not know: the caller must deny it.
std::optional<Action> action_for_grpc_method(std::string_view full_method);
std::optional<Action> action_for_http_route(std::string_view verb, std::string_view path);

// The docs table (Markdown): actions x roles, then every method and route with its action.
std::string permissions_markdown();

}  // namespace enclave::server::security
