// What the identity services share: authorising a call by its method's row in the permission table,
// and the proto <-> security conversions.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string_view>

#include "enclave.grpc.pb.h"
#include "server/grpc/grpc_caller.h"
#include "server/security/permissions.h"
#include "server/security/security_service.h"

namespace enclave::server::identity_grpc {

namespace v1 = enclave::v1;
namespace sec = enclave::server::security;

// Authorises the call for the action of `full_method` in the permission table (an unknown method is
// denied: the table is the only source of permissions).
inline sec::Principal authorize(sec::SecurityService& s, grpc::ServerContext* ctx, std::string_view full_method,
                                std::string_view target = {}) {
    const auto action = sec::action_for_grpc_method(full_method);
    if (!action) throw sec::PermissionDenied("no permission rule for " + std::string(full_method));
    return s.authorize(caller_of(*ctx), *action, target.empty() ? full_method : target);
}

inline v1::Role to_proto(sec::Role r) {
    switch (r) {
        case sec::Role::admin: return v1::ROLE_ADMIN;
        case sec::Role::analyst: return v1::ROLE_ANALYST;
        case sec::Role::auditor: return v1::ROLE_AUDITOR;
    }
    return v1::ROLE_UNSPECIFIED;
}

inline sec::Role from_proto(v1::Role r, const char* field) {
    switch (r) {
        case v1::ROLE_ADMIN: return sec::Role::admin;
        case v1::ROLE_ANALYST: return sec::Role::analyst;
        case v1::ROLE_AUDITOR: return sec::Role::auditor;
        default: throw InvalidArgument(std::string(field) + ": admin, analyst or auditor");
    }
}

inline void to_proto(const sec::Limits& l, v1::Limits* out) {
    out->set_requests_per_minute(l.requests_per_minute);
    out->set_tokens_per_minute(l.tokens_per_minute);
    out->set_concurrent_streams(l.concurrent_streams);
}

inline sec::Limits from_proto(const v1::Limits& l) {
    return {l.requests_per_minute(), l.tokens_per_minute(), l.concurrent_streams()};
}

inline void to_proto(const sec::UserInfo& u, v1::User* out) {
    out->set_id(u.id);
    out->set_name(u.name);
    out->set_role(to_proto(u.role));
    out->set_disabled(u.disabled);
    out->set_created_ms(u.created_ms);
    out->set_last_login_ms(u.last_login_ms);
    out->set_locked_until_ms(u.locked_until_ms);
    to_proto(u.limits, out->mutable_limits());
}

inline void to_proto(const sec::ApiKeyInfo& k, v1::ApiKey* out) {
    out->set_id(k.id);
    out->set_name(k.name);
    out->set_prefix(k.prefix);
    out->set_user_id(k.user_id);
    out->set_role(to_proto(k.role));
    for (const auto& m : k.models) out->add_models(m);
    out->set_created_ms(k.created_ms);
    out->set_expires_ms(k.expires_ms);
    out->set_revoked(k.revoked);
    to_proto(k.limits, out->mutable_limits());
}

inline sec::AuditFilter from_proto(const v1::AuditQuery& q) {
    sec::AuditFilter f;
    if (q.since_ms() < 0 || q.until_ms() < 0 || q.before_seq() < 0) throw InvalidArgument("times and before_seq: not negative");
    if (q.limit() < 0 || q.limit() > 1000) throw InvalidArgument("limit: 0 to 1000");
    f.since_ms = q.since_ms();
    f.until_ms = q.until_ms();
    f.action_class = q.action_class();
    f.result = q.result();
    f.text = q.text();
    f.before_seq = q.before_seq();
    f.limit = q.limit() ? q.limit() : 100;
    return f;
}

inline grpc::Status current_status() { return status_of(std::current_exception()); }

}  // namespace enclave::server::identity_grpc
