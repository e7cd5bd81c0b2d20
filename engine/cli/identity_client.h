// What `user`, `key` and `audit` run against: the state directory directly (its OS owner is as good as
// the bootstrap secret; audited as "cli:<os user>"), or a running engine's gRPC socket with a session
// (--socket PATH with --session TOKEN or $ENCLAVE_SESSION; the engine checks and audits as that user).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "server/security/permissions.h"
#include "server/security/security_service.h"

namespace enclave::cli {

namespace sec = enclave::server::security;

class IdentityClient {
public:
    virtual ~IdentityClient() = default;
    virtual std::vector<sec::UserInfo> list_users() = 0;
    virtual sec::UserInfo create_user(const std::string& name, sec::Role role, const std::string& password) = 0;
    virtual sec::UserInfo update_user(int64_t id, const sec::UserUpdate& update) = 0;
    virtual sec::CreatedKey create_key(const sec::KeySpec& spec) = 0;
    virtual std::vector<sec::ApiKeyInfo> list_keys(int64_t user_id) = 0;
    virtual void revoke_key(int64_t id) = 0;
    virtual sec::VerifyResult verify() = 0;
    virtual sec::SecurityService::AuditViewPage query(const sec::AuditFilter& f, const std::string& actor) = 0;
    virtual void export_audit(const sec::AuditFilter& f, const std::string& actor, const std::string& format,
                              const std::function<void(const std::string&)>& sink) = 0;
    // The id of a user by name (UsageError when there is none).
    int64_t user_id(const std::string& name);
};

// The flags every identity command takes.
#define ENCLAVE_ENGINE_CONNECT_FLAGS                                                                         \
    {"socket", true, "go through a running engine's gRPC socket instead (needs a session)"},                \
        {"connect", true, "or through its gRPC TLS listener at HOST:PORT (needs a session)"},                \
        {"tls-ca", true, "PEM CA the engine's certificate must chain to (default: the system's CAs)"},       \
        {"tls-server-name", true, "the name the engine's certificate must carry (default: HOST of --connect)"}, \
        {"tls-cert", true, "client certificate (PEM), when the engine requires one"},                       \
        {"tls-key", true, "the client certificate's private key (PEM)"}
#define ENCLAVE_IDENTITY_FLAGS                                                                               \
    {"state-dir", true, "the engine's state directory (default $XDG_STATE_HOME/enclave)"},                   \
        ENCLAVE_ENGINE_CONNECT_FLAGS,                                                                        \
        {"session", true, "session token for --socket or --connect (default $ENCLAVE_SESSION)"},            \
        {"help", false, "show this help"}

// The state directory (which must exist: a typo must not start an empty one), or the engine named by
// --socket / --connect. Over TLS the engine's certificate must chain to --tls-ca (else the system's CAs)
// and carry the host name of --connect (or --tls-server-name): anything else is refused before a
// credential is sent.
std::unique_ptr<IdentityClient> open_identity_client(const Args& args);

// Signs in through --socket or --connect; returns the session token. Error with the engine's message
// (the same for every wrong name or password) on failure.
std::string login_through_engine(const Args& args, const std::string& name, const std::string& password);

// A password from --password-file (a file, or '-' for stdin: its first line) or an echo-free prompt.
// Never from argv, where other users could read it in the process list.
std::string read_password(const Args& args, const char* prompt, bool confirm);

sec::Role parse_role(const std::string& s);

}  // namespace enclave::cli
