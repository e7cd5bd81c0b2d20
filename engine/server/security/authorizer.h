// The engine's single authorisation hook. Every gRPC method and HTTP route calls authorize() before it
// does anything, whichever transport the call came in on; the engine is the authority for identity and
// permissions (the console's page hiding is only a convenience).
//
// Contract
// - authorize() identifies the caller from its credentials (a session token or an API key, both sent as
//   `authorization: Bearer <secret>`), checks the action against the permission matrix
//   (security/permissions.h) and, for API keys, the key's model scope against `model` when one is given.
//   It throws Unauthenticated (no, unknown, expired or revoked credentials) or PermissionDenied (the role,
//   the key's scope or a disabled account does not allow it). Denials are audited. It never says whether a
//   user name exists.
// - check_still_valid() is called by long streams between events: it throws Unauthenticated once the
//   principal's session or key was revoked (user disabled, deleted, demoted, password changed).
// - admit_inference() applies the per-user and per-key limits (requests and tokens per minute,
//   concurrent streams) and throws RateLimited (with the seconds to wait) past them; the returned
//   Admission releases its concurrent-stream slot when destroyed and records the tokens it used.
// - audit() appends one record; when the audit log cannot be written it throws AuditUnavailable and the
//   caller must refuse the call (fail closed).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/error.h"

namespace enclave::server::security {

enum class Role { admin, analyst, auditor };

enum class Transport { unix_socket, tls, http, cli };

// Everything a caller may ask the engine to do. The permission matrix (permissions.cpp) maps each to
// the roles that may; the RPC and route tables map every method and route to one of these.
enum class Action {
    health_check,          // no credentials needed
    auth_login,            // no credentials needed (Login, Bootstrap, BootstrapState)
    auth_self,             // WhoAmI, Logout, ChangePassword: any signed-in user
    models_list,           // served models and routes
    models_files,          // the model directory with metadata
    models_manage,         // load, unload, swap, routes
    generate,              // Generate, /v1/chat/completions, /v1/completions
    conversations_own,     // the caller's own conversations
    telemetry_read,        // telemetry history/live, metrics snapshot, /metrics
    alerts_read,
    alerts_manage,
    users_read,
    users_manage,          // users, roles, limits, keys of anyone, GDPR export and erase
    keys_own,              // the caller's own API keys (others' need users_manage)
    audit_read,            // query
    audit_export,
    audit_verify,
};

struct Caller {
    Transport transport = Transport::unix_socket;
    std::string peer;         // "uid=1000 pid=4242" (socket), "ipv4:10.0.0.5:51234" (TLS, HTTP)
    std::string credential;   // the bearer secret, empty when none was sent
};

struct Principal {
    int64_t user_id = 0;
    std::string user_name;
    Role role = Role::analyst;
    int64_t api_key_id = 0;              // 0: a session
    std::vector<std::string> models;     // the key's model scope; empty: all
    std::string source;                  // transport and peer, as audited
    std::string credential_hash;         // identifies the session or key for check_still_valid()
    std::string audit_actor;             // how audit records name this caller (a pseudonym, "cli:<user>")
};

class Unauthenticated : public Error {
public:
    using Error::Error;
};

class PermissionDenied : public Error {
public:
    using Error::Error;
};

class RateLimited : public Error {
public:
    RateLimited(const std::string& what, int retry_after_seconds)
        : Error(what), retry_after_seconds_(retry_after_seconds) {}
    int retry_after_seconds() const { return retry_after_seconds_; }

private:
    int retry_after_seconds_;
};

class AuditUnavailable : public Error {
public:
    using Error::Error;
};

// One audit record before the log numbers, timestamps and chains it.
struct AuditEntry {
    std::string action_class;  // AUTH, USER, KEY, MODEL, CONFIG, INFERENCE, AUDIT
    std::string action;        // e.g. "model.load", "chat.completions"
    std::string target;
    std::string result;        // ok, denied, error
    std::string details_json;  // "{}" when nothing more
};

// Held for the life of one inference request; its destructor frees the concurrent-stream slot.
class Admission {
public:
    virtual ~Admission() = default;
    virtual void add_tokens(int64_t tokens) = 0;  // prompt and generated tokens, for tokens/minute
};

// Counters for /metrics and the alert engine.
struct SecurityStats {
    uint64_t logins_failed = 0;
    uint64_t lockouts = 0;
    uint64_t denied = 0;            // Unauthenticated + PermissionDenied from authorize()
    uint64_t rate_limited = 0;      // RateLimited from admit_inference()
    uint64_t audit_failures = 0;    // appends that could not be written
    bool audit_healthy = true;
    // RateLimited by whose limit and which: (("user", pseudonym) or ("api_key", key id), limit) -> count,
    // limit being requests_per_minute, tokens_per_minute or concurrent_streams.
    std::map<std::pair<std::pair<std::string, std::string>, std::string>, uint64_t> limit_refusals;
};

class Authorizer {
public:
    virtual ~Authorizer() = default;
    virtual Principal authorize(const Caller& caller, Action action, std::string_view target,
                                std::string_view model = {}) = 0;
    virtual void check_still_valid(const Principal& who) = 0;
    virtual std::unique_ptr<Admission> admit_inference(const Principal& who, std::string_view model) = 0;
    virtual void audit(const Principal& who, const AuditEntry& entry) = 0;
    // Audits a call with no principal (a failed login, a denied anonymous call).
    virtual void audit_anonymous(const Caller& caller, const AuditEntry& entry) = 0;
    virtual SecurityStats stats() const { return {}; }
};

}  // namespace enclave::server::security
