// SecurityService: the engine's identities (users, sessions, API keys, the first-admin bootstrap),
// per-user and per-key limits and the audit log, behind the Authorizer hook (authorizer.h).
//
// State lives in the engine's state directory (created 0700):
//   identity.db        users, sessions, API keys, pseudonyms, bootstrap (SQLite, WAL, synchronous=FULL,
//                      secure_delete, so erased rows do not linger in free pages)
//   audit.db           the hash-chained audit log (audit_log.h); audit.anchor its last (seq, hash)
//   bootstrap-secret   0600, written only while there is no user; removed when used
// The engine and the CLI may use one state directory at the same time: nothing that decides access is
// cached in memory (a user disabled by the CLI is refused by the running engine at its next call).
//
// Secrets: session tokens ("ens_...") and API keys ("enk_...") carry 256 random bits; only their SHA-256
// is stored, looked up by hash. Passwords are argon2id (crypto.h), rehashed at login when the engine's
// parameters rose. Every failed login costs one argon2 verification whether or not the user exists,
// and the message is the same.
//
// Audit identities: records name users by a pseudonym ("u-" + 24 hex digits, SHA-256 of a per-user
// random salt and the user id), never by name; identity.db maps pseudonyms to names. Erasing a user
// (GDPR art. 17) deletes the mapping and the salt, so the records stay, the chain still verifies, and
// nobody can tell whose they were. See docs/security.md.
//
// Fail closed: when the audit log cannot be written, authorize() refuses every action except
// health_check with AuditUnavailable, and audit_healthy() is false (the alert engine reads it). Once a
// second has passed it tries one probe record, and serves again when that succeeds.
//
// Threads: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/security/audit_log.h"
#include "server/security/authorizer.h"

namespace enclave::server::security {

struct Limits {
    int32_t requests_per_minute = 0;  // 0: unlimited
    int32_t tokens_per_minute = 0;
    int32_t concurrent_streams = 0;
};

struct UserInfo {
    int64_t id = 0;
    std::string name;
    Role role = Role::analyst;
    bool disabled = false;
    int64_t created_ms = 0;
    int64_t last_login_ms = 0;
    int64_t locked_until_ms = 0;
    Limits limits;
    std::string pseudonym;  // how the audit log names this user
};

struct ApiKeyInfo {
    int64_t id = 0;
    std::string name;
    std::string prefix;  // the first 12 characters of the secret
    int64_t user_id = 0;
    Role role = Role::analyst;
    std::vector<std::string> models;  // empty: all
    int64_t created_ms = 0;
    int64_t expires_ms = 0;           // 0: never
    bool revoked = false;
    Limits limits;
};

struct LoginResult {
    std::string token;  // the session's bearer secret
    UserInfo user;
    int64_t idle_timeout_ms = 0;
    int64_t expires_ms = 0;  // absolute, Unix ms
};

struct UserUpdate {
    std::optional<Role> role;
    std::optional<bool> disabled;
    std::optional<std::string> new_password;
    std::optional<Limits> limits;
};

struct KeySpec {
    std::string name;
    int64_t user_id = 0;  // 0: the caller
    std::optional<Role> role;  // empty: the owner's role
    std::vector<std::string> models;
    int64_t expires_ms = 0;
    Limits limits;
};

struct CreatedKey {
    ApiKeyInfo key;
    std::string secret;  // shown once
};

struct SecurityOptions {
    std::filesystem::path state_dir;
    int64_t session_idle_ms = 30 * 60'000;
    int64_t session_absolute_ms = 12 * 3'600'000;
    int max_failed_logins = 5;
    int64_t lockout_ms = 15 * 60'000;
    unsigned long long password_opslimit = 3;  // argon2id t (floor 2)
    size_t password_memlimit = 64u << 20;      // argon2id m in bytes (floor 19 MiB)
    int retention_days = 180;                  // at least AuditLog::kMinRetentionDays
    std::function<int64_t()> clock_ms;         // Unix ms; tests move time
    int64_t audit_max_page_count = 0;          // tests: a size limit on audit.db that acts as a full disk
};

class SecurityService final : public Authorizer {
public:
    explicit SecurityService(SecurityOptions options);  // throws Error when the state cannot be opened
    ~SecurityService() override;
    SecurityService(const SecurityService&) = delete;
    SecurityService& operator=(const SecurityService&) = delete;

    // ---- Authorizer ----
    Principal authorize(const Caller& caller, Action action, std::string_view target,
                        std::string_view model = {}) override;
    void check_still_valid(const Principal& who) override;
    std::unique_ptr<Admission> admit_inference(const Principal& who, std::string_view model) override;
    void audit(const Principal& who, const AuditEntry& entry) override;
    void audit_anonymous(const Caller& caller, const AuditEntry& entry) override;

    // ---- health (for the alert engine and /metrics) ----
    bool audit_healthy() const;
    SecurityStats stats() const override;

    // ---- bootstrap, login, own account ----
    bool needs_first_admin();
    std::filesystem::path bootstrap_secret_file() const;
    // Creates the first admin when `secret` is the bootstrap secret and there is no user yet (once: a
    // concurrent second call gets PermissionDenied). Returns a session for the new admin.
    LoginResult bootstrap(const Caller& caller, std::string_view secret, std::string_view name,
                          std::string_view password);
    // Unauthenticated with one message for every failure (unknown user, wrong password, locked, disabled).
    LoginResult login(const Caller& caller, std::string_view name, std::string_view password);
    void logout(const Principal& who);
    UserInfo whoami(const Principal& who);
    // Revokes all of the user's sessions (the caller signs in again).
    void change_password(const Principal& who, std::string_view old_password, std::string_view new_password);

    // ---- users (the caller was authorised for users_read / users_manage) ----
    std::vector<UserInfo> list_users();
    UserInfo get_user(int64_t id);  // InvalidArgument when there is none
    UserInfo create_user(const Principal& by, std::string_view name, Role role, std::string_view password,
                         const Limits& limits = {});
    // A demotion, disabling or password reset revokes the user's sessions; a demotion also revokes the
    // keys whose role the user no longer holds. An admin cannot demote, disable or delete the last
    // enabled admin.
    UserInfo update_user(const Principal& by, int64_t id, const UserUpdate& update);
    void delete_user(const Principal& by, int64_t id);

    // ---- API keys (own keys with keys_own; anyone's with users_manage) ----
    CreatedKey create_key(const Principal& by, const KeySpec& spec);
    std::vector<ApiKeyInfo> list_keys(const Principal& by, int64_t user_id);  // 0: own (all, for users_manage)
    void revoke_key(const Principal& by, int64_t key_id);

    // ---- GDPR (export: own, or anyone's with users_manage; erase: users_manage) ----
    // Conversations and other content live elsewhere: the engine registers hooks that export (as a JSON
    // value) and delete a user's content.
    void set_user_content_hooks(std::function<std::string(int64_t user_id)> export_json,
                                std::function<void(int64_t user_id)> erase);
    std::string export_user_data(const Principal& by, int64_t user_id);  // JSON text
    std::string erase_user_data(const Principal& by, int64_t user_id);   // the pseudonym that remains

    // ---- the audit log (the caller was authorised for audit_read / audit_verify / audit_export) ----
    // Filters name actors by user name or pseudonym; results carry both (actor_name, target_name).
    struct AuditView {
        AuditRecordData record;
        std::string actor_name;   // empty: not a user, or erased
        std::string target_name;  // when the target is a user's pseudonym
    };
    struct AuditViewPage {
        std::vector<AuditView> records;
        int64_t next_before_seq = 0;
        int64_t total_matching = -1;
    };
    AuditViewPage query_audit(const Principal& by, AuditFilter filter, std::string_view actor = {});
    VerifyResult verify_audit(const Principal& by, const std::function<void(int64_t, int64_t)>& progress = {});
    // progress: as AuditLog::export_records.
    void export_audit(const Principal& by, AuditFilter filter, std::string_view actor, const std::string& format,
                      const std::function<void(const std::string&)>& sink,
                      const std::function<void(double)>& progress = {});
    // Prunes records older than the retention period into archive_dir (AuditLog::prune).
    PruneResult prune_audit(const Principal& by, const std::filesystem::path& archive_dir);
    AuditLog& audit_log();

    // The principal of `enclave-engine user|key|audit` run on the state directory by its OS owner, which
    // is as good as the bootstrap secret: an admin that is audited as "cli:<os user>".
    static Principal cli_principal(const std::string& os_user);
    // A user's audit pseudonym ("" when there is none, e.g. after erasure).
    std::string pseudonym_of(int64_t user_id);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave::server::security
