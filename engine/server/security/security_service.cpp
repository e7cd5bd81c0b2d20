#include "server/security/security_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>  // defines: details of audit records, GDPR export

#include "server/security/crypto.h"
#include "server/security/permissions.h"
#include "server/store/sqlite_db.h"

namespace enclave::server::security {

namespace fs = std::filesystem;
using nlohmann::json;
using store::Database;
using store::StoreError;
using store::Transaction;

namespace {

constexpr const char* kIdentitySchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'auditor')),
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  last_login_ms INTEGER NOT NULL DEFAULT 0,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until_ms INTEGER NOT NULL DEFAULT 0,
  rpm INTEGER NOT NULL DEFAULT 0,
  tpm INTEGER NOT NULL DEFAULT 0,
  streams INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS pseudonyms(
  user_id INTEGER PRIMARY KEY,
  pseudonym TEXT NOT NULL UNIQUE,
  salt BLOB NOT NULL,
  name TEXT NOT NULL COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS pseudonyms_name ON pseudonyms(name);
CREATE TABLE IF NOT EXISTS sessions(
  token_hash BLOB PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS api_keys(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  secret_hash BLOB NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  models TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  rpm INTEGER NOT NULL DEFAULT 0,
  tpm INTEGER NOT NULL DEFAULT 0,
  streams INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user_id);
CREATE TABLE IF NOT EXISTS bootstrap(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  secret_hash BLOB NOT NULL,
  created_ms INTEGER NOT NULL,
  used_ms INTEGER NOT NULL DEFAULT 0);
)sql";

// One message for every failed login: it must not tell whether the user exists.
constexpr const char* kLoginFailed = "login failed: wrong user name or password, or the account is locked or disabled";

std::string raw(const Sha256& h) { return std::string(reinterpret_cast<const char*>(h.data()), h.size()); }

Role role_or_throw(const std::string& s) {
    if (auto r = role_from_name(s)) return *r;
    throw Error("identity store: unknown role '" + s + "'");
}

void check_name(std::string_view name) {
    if (name.empty() || name.size() > 64) throw InvalidArgument("name: 1 to 64 characters");
    if (!std::isalnum(static_cast<unsigned char>(name[0]))) throw InvalidArgument("name: must start with a letter or digit");
    for (const unsigned char c : name)
        if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != '@')
            throw InvalidArgument("name: letters, digits and . _ - @ only");
}

void check_limits(const Limits& l) {
    if (l.requests_per_minute < 0 || l.tokens_per_minute < 0 || l.concurrent_streams < 0)
        throw InvalidArgument("limits: must not be negative (0 is unlimited)");
}

json limits_json(const Limits& l) {
    return {{"requests_per_minute", l.requests_per_minute},
            {"tokens_per_minute", l.tokens_per_minute},
            {"concurrent_streams", l.concurrent_streams}};
}

std::string source_of(const Caller& c) {
    switch (c.transport) {
        case Transport::unix_socket: return "socket " + c.peer;
        case Transport::tls: return "tls " + c.peer;
        case Transport::http: return "http " + c.peer;
        case Transport::cli: return c.peer.empty() ? "cli" : "cli " + c.peer;
    }
    return c.peer;
}

// Which key roles an owner may hand out: an admin any, others only their own.
bool key_role_allowed(Role owner, Role key) { return owner == Role::admin || owner == key; }

// ---- per-user and per-key limits ----------------------------------------------------------------

struct Bucket {
    std::deque<int64_t> requests;                      // admission times, last minute
    std::deque<std::pair<int64_t, int64_t>> tokens;    // (time, tokens), last minute
    int64_t token_sum = 0;
    int streams = 0;
    void prune(int64_t now) {
        while (!requests.empty() && requests.front() <= now - 60'000) requests.pop_front();
        while (!tokens.empty() && tokens.front().first <= now - 60'000) {
            token_sum -= tokens.front().second;
            tokens.pop_front();
        }
    }
};

int retry_seconds(int64_t oldest, int64_t now) {
    return std::max<int>(1, static_cast<int>(std::ceil((oldest + 60'000 - now) / 1000.0)));
}

}  // namespace

struct SecurityService::Impl {
    SecurityOptions options;
    std::mutex mutex;  // guards db
    std::optional<Database> db;
    std::unique_ptr<AuditLog> audit;
    std::unique_ptr<PasswordHasher> hasher;
    std::string install_salt;
    fs::path secret_file;

    std::mutex limits_mutex;
    std::map<std::string, Bucket> buckets;

    std::mutex hooks_mutex;
    std::function<std::string(int64_t)> export_hook;
    std::function<void(int64_t)> erase_hook;

    std::atomic<uint64_t> logins_failed{0}, lockouts{0}, denied{0}, rate_limited{0};
    // Guarded by limits_mutex.
    std::map<std::pair<std::pair<std::string, std::string>, std::string>, uint64_t> limit_refusals;
    std::atomic<int64_t> last_probe_ms{0};

    int64_t now() const { return options.clock_ms(); }

    // ---- audit helpers ----
    void append(const std::string& actor, const std::string& role, const std::string& source, AuditEntry e) {
        if (e.details_json.empty()) e.details_json = "{}";
        audit->append({actor, role, source, std::move(e)});
    }
    void append(const Principal& who, AuditEntry e) {
        append(who.audit_actor.empty() ? std::string("anonymous") : who.audit_actor,
               who.user_id || who.credential_hash == "cli" ? std::string(role_name(who.role)) : std::string(),
               who.source, std::move(e));
    }
    // An audit write for a denial: the denial stands even when the log cannot take it (then unhealthy).
    void append_quietly(const std::string& actor, const std::string& role, const std::string& source, AuditEntry e) {
        try {
            append(actor, role, source, std::move(e));
        } catch (const AuditUnavailable&) {
        }
    }

    // Before anything but a health check: the log must be writable (fail closed).
    void require_audit(Action action) {
        if (audit->healthy() || action == Action::health_check) return;
        const int64_t t = now();
        if (t - last_probe_ms.load() >= 1000) {
            last_probe_ms = t;
            try {
                append("engine", "", "engine", {"AUDIT", "audit.recovered", "", "ok", "{}"});
            } catch (const AuditUnavailable&) {
            }
        }
        if (!audit->healthy())
            throw AuditUnavailable("the audit log cannot be written, so the engine refuses this call (fail closed)");
    }

    std::string unknown_ref(std::string_view name) const {
        std::string lower(name);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return "unknown-" + to_hex(sha256(install_salt + lower)).substr(0, 16);
    }

    // ---- identity rows (mutex held) ----
    std::optional<UserInfo> user_row(int64_t id) {
        auto st = db->prepare(
            "SELECT u.id, u.name, u.role, u.disabled, u.created_ms, u.last_login_ms, u.locked_until_ms, u.rpm, u.tpm, "
            "u.streams, coalesce(p.pseudonym, '') FROM users u LEFT JOIN pseudonyms p ON p.user_id = u.id WHERE u.id = ?");
        st.bind(1, id);
        if (!st.step()) return std::nullopt;
        return read_user(st);
    }
    static UserInfo read_user(const store::Statement& st) {
        UserInfo u;
        u.id = st.column_int64(0);
        u.name = st.column_text(1);
        u.role = role_or_throw(st.column_text(2));
        u.disabled = st.column_int64(3) != 0;
        u.created_ms = st.column_int64(4);
        u.last_login_ms = st.column_int64(5);
        u.locked_until_ms = st.column_int64(6);
        u.limits = {static_cast<int32_t>(st.column_int64(7)), static_cast<int32_t>(st.column_int64(8)),
                    static_cast<int32_t>(st.column_int64(9))};
        u.pseudonym = st.column_text(10);
        return u;
    }
    int64_t enabled_admins() {
        return db->query_int64("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0");
    }
    int revoke_sessions(int64_t user_id) {
        auto st = db->prepare("DELETE FROM sessions WHERE user_id = ?");
        st.bind(1, user_id);
        st.run();
        return db->changes();
    }
    // Inserts a user and its pseudonym (transaction open).
    UserInfo insert_user(std::string_view name, Role role, const std::string& password_hash, const Limits& limits) {
        auto taken = db->prepare("SELECT 1 FROM users WHERE name = ?");
        taken.bind(1, name);
        if (taken.step()) throw InvalidArgument("name: '" + std::string(name) + "' is taken");
        auto ins = db->prepare(
            "INSERT INTO users(name, role, password_hash, created_ms, rpm, tpm, streams) VALUES(?,?,?,?,?,?,?)");
        ins.bind(1, name).bind(2, role_name(role)).bind(3, password_hash).bind(4, now());
        ins.bind(5, limits.requests_per_minute).bind(6, limits.tokens_per_minute).bind(7, limits.concurrent_streams);
        ins.run();
        const int64_t id = db->last_insert_rowid();
        const std::string salt = random_bytes(32);
        const std::string pseudonym = "u-" + to_hex(sha256(salt + std::to_string(id))).substr(0, 24);
        auto p = db->prepare("INSERT INTO pseudonyms(user_id, pseudonym, salt, name) VALUES(?,?,?,?)");
        p.bind(1, id).bind(2, pseudonym).bind_blob(3, salt.data(), salt.size()).bind(4, name);
        p.run();
        // Any user makes the bootstrap secret useless: retire it.
        db->exec("UPDATE bootstrap SET used_ms = " + std::to_string(now()) + " WHERE used_ms = 0");
        return *user_row(id);
    }
    std::string create_session(int64_t user_id, const std::string& source, int64_t* expires) {
        const std::string token = random_token("ens_");
        const std::string h = raw(sha256(token));
        const int64_t t = now();
        *expires = t + options.session_absolute_ms;
        auto st = db->prepare(
            "INSERT INTO sessions(token_hash, user_id, created_ms, last_seen_ms, expires_ms, source) VALUES(?,?,?,?,?,?)");
        st.bind_blob(1, h.data(), h.size()).bind(2, user_id).bind(3, t).bind(4, t).bind(5, *expires).bind(6, source);
        st.run();
        return token;
    }
    Principal principal_for(const UserInfo& u, const std::string& source) {
        Principal p;
        p.user_id = u.id;
        p.user_name = u.name;
        p.role = u.role;
        p.source = source;
        p.audit_actor = u.pseudonym;
        return p;
    }
    void retire_bootstrap_file() {
        std::error_code ec;
        fs::remove(secret_file, ec);
    }
    // Turns a user name in an audit filter into that user's pseudonyms (names are never stored in the
    // log). Returns what the audit record of the query may say about the filter: pseudonyms, or a keyed
    // hash of a name that matches nobody.
    std::string resolve_actor_filter(AuditFilter& filter, std::string_view actor) {
        if (actor.empty()) return {};
        std::lock_guard lock(mutex);
        filter.actors.clear();
        auto st = db->prepare("SELECT pseudonym FROM pseudonyms WHERE name = ?");
        st.bind(1, actor);
        while (st.step()) filter.actors.push_back(st.column_text(0));
        if (!filter.actors.empty()) {
            std::string all;
            for (const auto& a : filter.actors) all += (all.empty() ? "" : ",") + a;
            return all;
        }
        const bool literal = actor.rfind("u-", 0) == 0 || actor.rfind("cli:", 0) == 0 || actor == "anonymous" ||
                             actor == "engine";
        filter.actors.emplace_back(literal ? std::string(actor) : unknown_ref(actor));
        return filter.actors.back();
    }
    std::string name_of_actor(const std::string& actor) {
        if (actor.rfind("u-", 0) != 0) return {};
        auto st = db->prepare("SELECT name FROM pseudonyms WHERE pseudonym = ?");
        st.bind(1, actor);
        return st.step() ? st.column_text(0) : std::string();
    }
};

// ---- construction --------------------------------------------------------------------------------

SecurityService::SecurityService(SecurityOptions options) : impl_(std::make_unique<Impl>()) {
    auto& m = *impl_;
    m.options = std::move(options);
    if (!m.options.clock_ms)
        m.options.clock_ms = [] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
    if (m.options.retention_days < AuditLog::kMinRetentionDays)
        throw InvalidArgument("audit retention: at least " + std::to_string(AuditLog::kMinRetentionDays) +
                              " days (got " + std::to_string(m.options.retention_days) + ")");
    init_sodium();
    const fs::path dir = m.options.state_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error("cannot create the state directory " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
    m.hasher = std::make_unique<PasswordHasher>(m.options.password_opslimit, m.options.password_memlimit);
    m.db.emplace(Database::open(dir / "identity.db"));
    ::chmod((dir / "identity.db").c_str(), 0600);
    m.db->exec("PRAGMA secure_delete=ON");
    m.db->exec(kIdentitySchema);
    {
        Transaction tx(*m.db);
        auto st = m.db->prepare("SELECT value FROM meta WHERE key = 'install_salt'");
        if (st.step()) {
            m.install_salt = st.column_blob(0);
        } else {
            m.install_salt = random_bytes(32);
            auto ins = m.db->prepare("INSERT INTO meta(key, value) VALUES('install_salt', ?)");
            ins.bind_blob(1, m.install_salt.data(), m.install_salt.size());
            ins.run();
        }
        tx.commit();
    }
    AuditLog::Options ao;
    ao.db_path = dir / "audit.db";
    ao.anchor_path = dir / "audit.anchor";
    ao.clock_ms = m.options.clock_ms;
    ao.max_page_count = m.options.audit_max_page_count;
    m.audit = std::make_unique<AuditLog>(ao);
    m.secret_file = dir / "bootstrap-secret";

    // The bootstrap secret exists only while there is no user.
    std::lock_guard lock(m.mutex);
    Transaction tx(*m.db);
    if (m.db->query_int64("SELECT count(*) FROM users") > 0) {
        tx.commit();
        m.retire_bootstrap_file();
        return;
    }
    auto row = m.db->prepare("SELECT used_ms FROM bootstrap WHERE id = 1");
    const bool usable = row.step() && row.column_int64(0) == 0 && fs::exists(m.secret_file);
    if (!usable) {
        const std::string secret = random_token("");
        const fs::path tmp = m.secret_file.string() + ".part";
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) throw Error("cannot write the bootstrap secret " + tmp.string());
        ::fchmod(fd, 0600);
        const std::string text = secret + "\n";
        const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
        ::close(fd);
        if (!ok) throw Error("cannot write the bootstrap secret " + tmp.string());
        const std::string h = raw(sha256(secret));
        auto up = m.db->prepare("INSERT OR REPLACE INTO bootstrap(id, secret_hash, created_ms, used_ms) VALUES(1,?,?,0)");
        up.bind_blob(1, h.data(), h.size()).bind(2, m.now());
        up.run();
        fs::rename(tmp, m.secret_file);
    }
    tx.commit();
}

SecurityService::~SecurityService() = default;

AuditLog& SecurityService::audit_log() { return *impl_->audit; }
bool SecurityService::audit_healthy() const { return impl_->audit->healthy(); }

SecurityStats SecurityService::stats() const {
    SecurityStats s;
    s.logins_failed = impl_->logins_failed;
    s.lockouts = impl_->lockouts;
    s.denied = impl_->denied;
    s.rate_limited = impl_->rate_limited;
    s.audit_failures = impl_->audit->failures();
    s.audit_healthy = impl_->audit->healthy();
    std::lock_guard lock(impl_->limits_mutex);
    s.limit_refusals = impl_->limit_refusals;
    return s;
}

Principal SecurityService::cli_principal(const std::string& os_user) {
    Principal p;
    p.user_name = "cli:" + os_user;
    p.role = Role::admin;
    p.source = "cli uid=" + std::to_string(::getuid()) + " pid=" + std::to_string(::getpid());
    p.credential_hash = "cli";
    p.audit_actor = p.user_name;
    return p;
}

std::string SecurityService::pseudonym_of(int64_t user_id) {
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db->prepare("SELECT pseudonym FROM pseudonyms WHERE user_id = ?");
    st.bind(1, user_id);
    return st.step() ? st.column_text(0) : std::string();
}

// ---- Authorizer ----------------------------------------------------------------------------------

Principal SecurityService::authorize(const Caller& caller, Action action, std::string_view target,
                                     std::string_view model) {
    auto& m = *impl_;
    const std::string source = source_of(caller);
    m.require_audit(action);
    Principal p;
    p.source = source;
    if (is_anonymous(action)) {
        p.audit_actor = "anonymous";
        return p;
    }
    auto deny_anonymous = [&](const std::string& why) -> Unauthenticated {
        ++m.denied;
        m.append_quietly("anonymous", "", source,
                         {"AUTH", "authorize", std::string(target), "denied",
                          json{{"action", action_name(action)}, {"reason", why}}.dump()});
        return Unauthenticated(why);
    };
    if (caller.credential.empty())
        throw deny_anonymous("no credentials: send 'authorization: Bearer <session token or API key>'");
    const int64_t now = m.now();
    const std::string h = raw(sha256(caller.credential));
    {
        std::lock_guard lock(m.mutex);
        if (caller.credential.rfind("ens_", 0) == 0) {
            auto st = m.db->prepare(
                "SELECT s.user_id, s.last_seen_ms, s.expires_ms, u.name, u.role, u.disabled, coalesce(p.pseudonym, '') "
                "FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN pseudonyms p ON p.user_id = u.id "
                "WHERE s.token_hash = ?");
            st.bind_blob(1, h.data(), h.size());
            if (!st.step()) throw deny_anonymous("unknown or revoked session: sign in again");
            p.user_id = st.column_int64(0);
            const int64_t last_seen = st.column_int64(1), expires = st.column_int64(2);
            p.user_name = st.column_text(3);
            p.role = role_or_throw(st.column_text(4));
            const bool disabled = st.column_int64(5) != 0;
            p.audit_actor = st.column_text(6);
            p.credential_hash = "s:" + to_hex(sha256(caller.credential));
            st.reset();
            if (now >= expires || now - last_seen >= m.options.session_idle_ms) {
                auto del = m.db->prepare("DELETE FROM sessions WHERE token_hash = ?");
                del.bind_blob(1, h.data(), h.size());
                del.run();
                ++m.denied;
                m.append_quietly(p.audit_actor, std::string(role_name(p.role)), source,
                                 {"AUTH", "auth.session_expired", p.audit_actor, "denied",
                                  json{{"reason", now >= expires ? "absolute timeout" : "idle timeout"}}.dump()});
                throw Unauthenticated("the session expired: sign in again");
            }
            if (disabled) throw deny_anonymous("unknown or revoked session: sign in again");
            // Idle time is tracked to the minute (a quarter of the idle timeout when that is shorter): a
            // write per call would cost an fsync per call.
            if (now - last_seen >= std::min<int64_t>(60'000, m.options.session_idle_ms / 4)) {
                auto up = m.db->prepare("UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ?");
                up.bind(1, now).bind_blob(2, h.data(), h.size());
                up.run();
            }
        } else if (caller.credential.rfind("enk_", 0) == 0) {
            auto st = m.db->prepare(
                "SELECT k.id, k.user_id, k.role, k.models, k.expires_ms, k.revoked, u.name, u.role, u.disabled, "
                "coalesce(p.pseudonym, '') FROM api_keys k JOIN users u ON u.id = k.user_id "
                "LEFT JOIN pseudonyms p ON p.user_id = u.id WHERE k.secret_hash = ?");
            st.bind_blob(1, h.data(), h.size());
            if (!st.step()) throw deny_anonymous("unknown API key");
            p.api_key_id = st.column_int64(0);
            p.user_id = st.column_int64(1);
            p.role = role_or_throw(st.column_text(2));
            for (const auto& x : json::parse(st.column_text(3))) p.models.push_back(x.get<std::string>());
            const int64_t expires = st.column_int64(4);
            const bool revoked = st.column_int64(5) != 0;
            p.user_name = st.column_text(6);
            const Role owner_role = role_or_throw(st.column_text(7));
            const bool disabled = st.column_int64(8) != 0;
            p.audit_actor = st.column_text(9);
            p.credential_hash = "k:" + to_hex(sha256(caller.credential));
            if (revoked || disabled || !key_role_allowed(owner_role, p.role))
                throw deny_anonymous("the API key is revoked or its owner is disabled");
            if (expires && now >= expires) throw deny_anonymous("the API key expired");
        } else {
            throw deny_anonymous("unknown credentials: not a session token or an API key");
        }
    }
    auto deny = [&](const std::string& why) -> PermissionDenied {
        ++m.denied;
        m.append_quietly(p.audit_actor, std::string(role_name(p.role)), source,
                         {"AUTH", "authorize", std::string(target), "denied",
                          json{{"action", action_name(action)}, {"reason", why}, {"key", p.api_key_id}}.dump()});
        return PermissionDenied(why);
    };
    if (!role_may(p.role, action))
        throw deny("the role " + std::string(role_name(p.role)) + " may not do " + std::string(action_name(action)));
    if (!p.models.empty() && !model.empty() &&
        std::find(p.models.begin(), p.models.end(), model) == p.models.end())
        throw deny("this API key is not scoped to the model '" + std::string(model) + "'");
    return p;
}

void SecurityService::check_still_valid(const Principal& who) {
    auto& m = *impl_;
    if (who.credential_hash == "cli") return;
    if (!m.audit->healthy()) throw AuditUnavailable("the audit log cannot be written (fail closed)");
    const int64_t now = m.now();
    std::lock_guard lock(m.mutex);
    const std::string kind = who.credential_hash.substr(0, 2);
    std::string h;
    if (who.credential_hash.size() == 66) {
        h.resize(32);
        for (size_t i = 0; i < 32; ++i) h[i] = static_cast<char>(std::stoi(who.credential_hash.substr(2 + 2 * i, 2), nullptr, 16));
    }
    if (kind == "s:") {
        auto st = m.db->prepare(
            "SELECT s.expires_ms, u.disabled, u.role FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = ?");
        st.bind_blob(1, h.data(), h.size());
        if (!st.step()) throw Unauthenticated("the session was revoked");
        if (now >= st.column_int64(0)) throw Unauthenticated("the session expired");
        if (st.column_int64(1) != 0 || role_or_throw(st.column_text(2)) != who.role)
            throw Unauthenticated("the session was revoked");
        return;
    }
    if (kind == "k:") {
        auto st = m.db->prepare(
            "SELECT k.revoked, k.expires_ms, u.disabled, u.role, k.role FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE k.secret_hash = ?");
        st.bind_blob(1, h.data(), h.size());
        if (!st.step() || st.column_int64(0) != 0 || st.column_int64(2) != 0 ||
            !key_role_allowed(role_or_throw(st.column_text(3)), role_or_throw(st.column_text(4))))
            throw Unauthenticated("the API key was revoked");
        if (st.column_int64(1) && now >= st.column_int64(1)) throw Unauthenticated("the API key expired");
        return;
    }
    throw Unauthenticated("no session");
}

namespace {

class LimitAdmission final : public Admission {
public:
    LimitAdmission(std::mutex& mu, std::map<std::string, Bucket>& buckets, std::vector<std::string> keys,
                   std::function<int64_t()> clock)
        : mu_(mu), buckets_(buckets), keys_(std::move(keys)), clock_(std::move(clock)) {}
    ~LimitAdmission() override {
        std::lock_guard lock(mu_);
        for (const auto& k : keys_) --buckets_[k].streams;
    }
    void add_tokens(int64_t tokens) override {
        if (tokens <= 0) return;
        const int64_t now = clock_();
        std::lock_guard lock(mu_);
        for (const auto& k : keys_) {
            auto& b = buckets_[k];
            b.tokens.emplace_back(now, tokens);
            b.token_sum += tokens;
        }
    }

private:
    std::mutex& mu_;
    std::map<std::string, Bucket>& buckets_;
    std::vector<std::string> keys_;
    std::function<int64_t()> clock_;
};

}  // namespace

std::unique_ptr<Admission> SecurityService::admit_inference(const Principal& who, std::string_view /*model*/) {
    auto& m = *impl_;
    m.require_audit(Action::generate);
    std::vector<std::pair<std::string, Limits>> scopes;
    if (who.user_id) {
        std::lock_guard lock(m.mutex);
        if (auto u = m.user_row(who.user_id)) scopes.emplace_back("u" + std::to_string(who.user_id), u->limits);
        if (who.api_key_id) {
            auto st = m.db->prepare("SELECT rpm, tpm, streams FROM api_keys WHERE id = ?");
            st.bind(1, who.api_key_id);
            if (st.step())
                scopes.emplace_back("k" + std::to_string(who.api_key_id),
                                    Limits{static_cast<int32_t>(st.column_int64(0)),
                                           static_cast<int32_t>(st.column_int64(1)),
                                           static_cast<int32_t>(st.column_int64(2))});
        }
    }
    const int64_t now = m.now();
    std::vector<std::string> keys;
    {
        std::lock_guard lock(m.limits_mutex);
        for (const auto& [key, lim] : scopes) {
            auto& b = m.buckets[key];
            b.prune(now);
            const std::string whose = key[0] == 'u' ? "user" : "API key";
            auto limited = [&](const std::string& what, const char* limit, int retry) {
                ++m.rate_limited;
                // Metrics name a user by pseudonym (as the audit log does) and a key by its id.
                const auto subject = key[0] == 'u' ? std::pair<std::string, std::string>{"user", who.audit_actor}
                                                   : std::pair<std::string, std::string>{"api_key", key.substr(1)};
                ++m.limit_refusals[{subject, limit}];
                return RateLimited("rate limit of this " + whose + ": " + what, retry);
            };
            if (lim.concurrent_streams && b.streams >= lim.concurrent_streams)
                throw limited(std::to_string(lim.concurrent_streams) + " concurrent streams", "concurrent_streams", 1);
            if (lim.requests_per_minute && static_cast<int64_t>(b.requests.size()) >= lim.requests_per_minute)
                throw limited(std::to_string(lim.requests_per_minute) + " requests per minute", "requests_per_minute",
                              retry_seconds(b.requests.front(), now));
            if (lim.tokens_per_minute && b.token_sum >= lim.tokens_per_minute) {
                // Wait until enough of the minute's tokens have aged out to be under the limit again.
                int64_t sum = b.token_sum;
                int64_t at = now;
                for (const auto& [t, n] : b.tokens) {
                    sum -= n;
                    at = t;
                    if (sum < lim.tokens_per_minute) break;
                }
                throw limited(std::to_string(lim.tokens_per_minute) + " tokens per minute", "tokens_per_minute",
                              retry_seconds(at, now));
            }
        }
        for (const auto& [key, lim] : scopes) {
            auto& b = m.buckets[key];
            b.requests.push_back(now);
            ++b.streams;
            keys.push_back(key);
        }
    }
    return std::make_unique<LimitAdmission>(m.limits_mutex, m.buckets, std::move(keys), m.options.clock_ms);
}

void SecurityService::audit(const Principal& who, const AuditEntry& entry) { impl_->append(who, entry); }

void SecurityService::audit_anonymous(const Caller& caller, const AuditEntry& entry) {
    impl_->append("anonymous", "", source_of(caller), entry);
}

// ---- bootstrap and login -------------------------------------------------------------------------

bool SecurityService::needs_first_admin() {
    std::lock_guard lock(impl_->mutex);
    return impl_->db->query_int64("SELECT count(*) FROM users") == 0;
}

fs::path SecurityService::bootstrap_secret_file() const { return impl_->secret_file; }

LoginResult SecurityService::bootstrap(const Caller& caller, std::string_view secret, std::string_view name,
                                       std::string_view password) {
    auto& m = *impl_;
    const std::string source = source_of(caller);
    m.require_audit(Action::auth_login);
    check_name(name);
    check_password_rules(password, name);
    const std::string hash = m.hasher->hash(password);
    const std::string given = raw(sha256(secret));
    LoginResult out;
    {
        std::lock_guard lock(m.mutex);
        Transaction tx(*m.db);
        auto row = m.db->prepare("SELECT secret_hash, used_ms FROM bootstrap WHERE id = 1");
        const bool ok = row.step() && row.column_int64(1) == 0 && constant_time_equal(row.column_blob(0), given) &&
                        m.db->query_int64("SELECT count(*) FROM users") == 0;
        row.reset();
        if (!ok) {
            ++m.denied;
            m.append_quietly("anonymous", "", source,
                             {"USER", "user.bootstrap", "", "denied", R"({"reason":"wrong or used bootstrap secret"})"});
            throw PermissionDenied("the bootstrap secret is wrong or was already used");
        }
        const UserInfo u = m.insert_user(name, Role::admin, hash, {});
        m.append(u.pseudonym, "admin", source, {"USER", "user.bootstrap", u.pseudonym, "ok", R"({"role":"admin"})"});
        out.token = m.create_session(u.id, source, &out.expires_ms);
        tx.commit();
        out.user = u;
    }
    m.retire_bootstrap_file();
    out.idle_timeout_ms = m.options.session_idle_ms;
    return out;
}

LoginResult SecurityService::login(const Caller& caller, std::string_view name, std::string_view password) {
    auto& m = *impl_;
    const std::string source = source_of(caller);
    m.require_audit(Action::auth_login);
    const int64_t now = m.now();
    std::optional<UserInfo> user;
    std::string stored;
    int64_t failed = 0;
    {
        std::lock_guard lock(m.mutex);
        auto st = m.db->prepare("SELECT id, password_hash FROM users WHERE name = ?");
        st.bind(1, name);
        if (st.step()) {
            const int64_t id = st.column_int64(0);
            stored = st.column_text(1);
            st.reset();
            user = m.user_row(id);
        }
    }
    if (!user) {
        m.hasher->dummy_verify(password);  // the same time as a wrong password
        ++m.logins_failed;
        m.append_quietly("anonymous", "", source,
                         {"AUTH", "auth.login", m.unknown_ref(name), "denied", R"({"reason":"unknown user"})"});
        throw Unauthenticated(kLoginFailed);
    }
    const bool password_ok = m.hasher->verify(stored, password);
    const std::string role(role_name(user->role));
    auto refuse = [&](const char* reason) {
        ++m.logins_failed;
        m.append_quietly(user->pseudonym, role, source,
                         {"AUTH", "auth.login", user->pseudonym, "denied", json{{"reason", reason}}.dump()});
        return Unauthenticated(kLoginFailed);
    };
    if (user->locked_until_ms > now) throw refuse("locked");
    if (user->disabled) throw refuse("disabled");
    if (!password_ok) {
        bool locked = false;
        {
            std::lock_guard lock(m.mutex);
            Transaction tx(*m.db);
            auto up = m.db->prepare("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ?");
            up.bind(1, user->id);
            up.run();
            auto q = m.db->prepare("SELECT failed_logins FROM users WHERE id = ?");
            q.bind(1, user->id);
            q.step();
            failed = q.column_int64(0);
            q.reset();
            if (failed >= m.options.max_failed_logins) {
                auto lk = m.db->prepare("UPDATE users SET failed_logins = 0, locked_until_ms = ? WHERE id = ?");
                lk.bind(1, now + m.options.lockout_ms).bind(2, user->id);
                lk.run();
                locked = true;
            }
            tx.commit();
        }
        if (locked) {
            ++m.lockouts;
            m.append_quietly(user->pseudonym, role, source,
                             {"AUTH", "auth.lockout", user->pseudonym, "ok",
                              json{{"failed_logins", failed}, {"locked_until_ms", now + m.options.lockout_ms}}.dump()});
        }
        ++m.logins_failed;
        m.append_quietly(user->pseudonym, role, source,
                         {"AUTH", "auth.login", user->pseudonym, "denied",
                          json{{"reason", "wrong password"}, {"failed_logins", failed}}.dump()});
        throw Unauthenticated(kLoginFailed);
    }
    // Hash again with today's parameters when the stored hash is weaker (outside the lock: it is slow).
    const std::string rehashed = m.hasher->needs_rehash(stored) ? m.hasher->hash(password) : std::string();
    LoginResult out;
    {
        std::lock_guard lock(m.mutex);
        Transaction tx(*m.db);
        auto up = m.db->prepare(
            "UPDATE users SET failed_logins = 0, locked_until_ms = 0, last_login_ms = ?, "
            "password_hash = coalesce(?, password_hash) WHERE id = ?");
        up.bind(1, now);
        if (rehashed.empty()) up.bind(2, nullptr);
        else up.bind(2, rehashed);
        up.bind(3, user->id);
        up.run();
        m.append(user->pseudonym, role, source,
                 {"AUTH", "auth.login", user->pseudonym, "ok", json{{"rehashed", !rehashed.empty()}}.dump()});
        out.token = m.create_session(user->id, source, &out.expires_ms);
        tx.commit();
        out.user = *m.user_row(user->id);
    }
    out.idle_timeout_ms = m.options.session_idle_ms;
    return out;
}

void SecurityService::logout(const Principal& who) {
    auto& m = *impl_;
    if (who.credential_hash.rfind("s:", 0) != 0) return;
    std::string h(32, '\0');
    for (size_t i = 0; i < 32; ++i) h[i] = static_cast<char>(std::stoi(who.credential_hash.substr(2 + 2 * i, 2), nullptr, 16));
    std::lock_guard lock(m.mutex);
    Transaction tx(*m.db);
    auto st = m.db->prepare("DELETE FROM sessions WHERE token_hash = ?");
    st.bind_blob(1, h.data(), h.size());
    st.run();
    m.append(who, {"AUTH", "auth.logout", who.audit_actor, "ok", "{}"});
    tx.commit();
}

UserInfo SecurityService::whoami(const Principal& who) {
    if (who.credential_hash == "cli") {
        UserInfo u;
        u.name = who.user_name;
        u.role = Role::admin;
        return u;
    }
    return get_user(who.user_id);
}

void SecurityService::change_password(const Principal& who, std::string_view old_password,
                                      std::string_view new_password) {
    auto& m = *impl_;
    const UserInfo u = get_user(who.user_id);
    check_password_rules(new_password, u.name);
    std::string stored;
    {
        std::lock_guard lock(m.mutex);
        auto st = m.db->prepare("SELECT password_hash FROM users WHERE id = ?");
        st.bind(1, who.user_id);
        if (!st.step()) throw Unauthenticated("no such user");
        stored = st.column_text(0);
    }
    if (!m.hasher->verify(stored, old_password)) {
        m.append_quietly(who.audit_actor, std::string(role_name(who.role)), who.source,
                         {"AUTH", "auth.password_change", who.audit_actor, "denied", R"({"reason":"wrong password"})"});
        throw PermissionDenied("the current password is wrong");
    }
    const std::string hash = m.hasher->hash(new_password);
    std::lock_guard lock(m.mutex);
    Transaction tx(*m.db);
    auto up = m.db->prepare("UPDATE users SET password_hash = ? WHERE id = ?");
    up.bind(1, hash).bind(2, who.user_id);
    up.run();
    const int revoked = m.revoke_sessions(who.user_id);
    m.append(who, {"AUTH", "auth.password_change", who.audit_actor, "ok", json{{"sessions_revoked", revoked}}.dump()});
    tx.commit();
}

// ---- users ---------------------------------------------------------------------------------------

std::vector<UserInfo> SecurityService::list_users() {
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db->prepare(
        "SELECT u.id, u.name, u.role, u.disabled, u.created_ms, u.last_login_ms, u.locked_until_ms, u.rpm, u.tpm, "
        "u.streams, coalesce(p.pseudonym, '') FROM users u LEFT JOIN pseudonyms p ON p.user_id = u.id ORDER BY u.id");
    std::vector<UserInfo> out;
    while (st.step()) out.push_back(Impl::read_user(st));
    return out;
}

UserInfo SecurityService::get_user(int64_t id) {
    std::lock_guard lock(impl_->mutex);
    if (auto u = impl_->user_row(id)) return *u;
    throw NotFound("user: no user with id " + std::to_string(id));
}

UserInfo SecurityService::create_user(const Principal& by, std::string_view name, Role role,
                                      std::string_view password, const Limits& limits) {
    auto& m = *impl_;
    check_name(name);
    check_password_rules(password, name);
    check_limits(limits);
    const std::string hash = m.hasher->hash(password);
    UserInfo u;
    {
        std::lock_guard lock(m.mutex);
        Transaction tx(*m.db);
        u = m.insert_user(name, role, hash, limits);
        m.append(by, {"USER", "user.create", u.pseudonym, "ok",
                      json{{"role", role_name(role)}, {"limits", limits_json(limits)}}.dump()});
        tx.commit();
    }
    m.retire_bootstrap_file();
    return u;
}

UserInfo SecurityService::update_user(const Principal& by, int64_t id, const UserUpdate& update) {
    auto& m = *impl_;
    const UserInfo before = get_user(id);
    std::string hash;
    if (update.new_password) {
        check_password_rules(*update.new_password, before.name);
        hash = m.hasher->hash(*update.new_password);
    }
    if (update.limits) check_limits(*update.limits);
    std::lock_guard lock(m.mutex);
    Transaction tx(*m.db);
    json details = json::object();
    bool revoke = false;
    const bool loses_admin = before.role == Role::admin && !before.disabled &&
                             ((update.role && *update.role != Role::admin) || (update.disabled && *update.disabled));
    if (loses_admin && m.enabled_admins() <= 1)
        throw InvalidArgument("cannot demote or disable the last enabled admin");
    if (update.role && *update.role != before.role) {
        auto st = m.db->prepare("UPDATE users SET role = ? WHERE id = ?");
        st.bind(1, role_name(*update.role)).bind(2, id);
        st.run();
        // Keys whose role the user no longer holds stop working for good.
        auto keys = m.db->prepare("SELECT id, role FROM api_keys WHERE user_id = ? AND revoked = 0");
        keys.bind(1, id);
        std::vector<int64_t> drop;
        while (keys.step())
            if (!key_role_allowed(*update.role, role_or_throw(keys.column_text(1)))) drop.push_back(keys.column_int64(0));
        keys.reset();
        for (const int64_t k : drop) {
            auto r = m.db->prepare("UPDATE api_keys SET revoked = 1 WHERE id = ?");
            r.bind(1, k);
            r.run();
        }
        details["role"] = {role_name(before.role), role_name(*update.role)};
        details["keys_revoked"] = drop;
        revoke = true;
    }
    if (update.disabled && *update.disabled != before.disabled) {
        auto st = m.db->prepare("UPDATE users SET disabled = ? WHERE id = ?");
        st.bind(1, *update.disabled ? 1 : 0).bind(2, id);
        st.run();
        details["disabled"] = *update.disabled;
        revoke = revoke || *update.disabled;
    }
    if (update.new_password) {
        auto st = m.db->prepare("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until_ms = 0 WHERE id = ?");
        st.bind(1, hash).bind(2, id);
        st.run();
        details["password_reset"] = true;
        revoke = true;
    }
    if (update.limits) {
        auto st = m.db->prepare("UPDATE users SET rpm = ?, tpm = ?, streams = ? WHERE id = ?");
        st.bind(1, update.limits->requests_per_minute).bind(2, update.limits->tokens_per_minute);
        st.bind(3, update.limits->concurrent_streams).bind(4, id);
        st.run();
        details["limits"] = limits_json(*update.limits);
    }
    if (revoke) details["sessions_revoked"] = m.revoke_sessions(id);
    m.append(by, {"USER", "user.update", before.pseudonym, "ok", details.dump()});
    tx.commit();
    return *m.user_row(id);
}

void SecurityService::delete_user(const Principal& by, int64_t id) {
    auto& m = *impl_;
    const UserInfo u = get_user(id);
    std::lock_guard lock(m.mutex);
    Transaction tx(*m.db);
    if (u.role == Role::admin && !u.disabled && m.enabled_admins() <= 1)
        throw InvalidArgument("cannot delete the last enabled admin");
    auto st = m.db->prepare("DELETE FROM users WHERE id = ?");  // sessions and keys go with it (cascade)
    st.bind(1, id);
    st.run();
    m.append(by, {"USER", "user.delete", u.pseudonym, "ok", json{{"role", role_name(u.role)}}.dump()});
    tx.commit();
}

// ---- keys ----------------------------------------------------------------------------------------

namespace {
ApiKeyInfo read_key(const store::Statement& st) {
    ApiKeyInfo k;
    k.id = st.column_int64(0);
    k.name = st.column_text(1);
    k.prefix = st.column_text(2);
    k.user_id = st.column_int64(3);
    k.role = role_or_throw(st.column_text(4));
    for (const auto& x : json::parse(st.column_text(5))) k.models.push_back(x.get<std::string>());
    k.created_ms = st.column_int64(6);
    k.expires_ms = st.column_int64(7);
    k.revoked = st.column_int64(8) != 0;
    k.limits = {static_cast<int32_t>(st.column_int64(9)), static_cast<int32_t>(st.column_int64(10)),
                static_cast<int32_t>(st.column_int64(11))};
    return k;
}
constexpr const char* kKeyColumns =
    "id, name, prefix, user_id, role, models, created_ms, expires_ms, revoked, rpm, tpm, streams";
}  // namespace

CreatedKey SecurityService::create_key(const Principal& by, const KeySpec& spec) {
    auto& m = *impl_;
    const int64_t owner_id = spec.user_id ? spec.user_id : by.user_id;
    if (owner_id == 0) throw InvalidArgument("user_id: name the key's owner");
    if (owner_id != by.user_id && !role_may(by.role, Action::users_manage))
        throw PermissionDenied("only admins create keys for other users");
    if (spec.name.empty() || spec.name.size() > 64) throw InvalidArgument("name: 1 to 64 characters");
    check_limits(spec.limits);
    const int64_t now = m.now();
    if (spec.expires_ms != 0 && spec.expires_ms <= now) throw InvalidArgument("expires_ms: must be in the future (or 0)");
    for (const auto& model : spec.models)
        if (model.empty() || model.size() > 128) throw InvalidArgument("models: names of 1 to 128 characters");
    const UserInfo owner = get_user(owner_id);
    if (owner.disabled) throw InvalidArgument("user_id: the owner is disabled");
    const Role role = spec.role.value_or(owner.role);
    if (!key_role_allowed(owner.role, role))
        throw InvalidArgument("role: a key's role must be its owner's (" + std::string(role_name(owner.role)) + ")");
    CreatedKey out;
    out.secret = random_token("enk_");
    const std::string h = raw(sha256(out.secret));
    const json models = spec.models;
    std::lock_guard lock(m.mutex);
    Transaction tx(*m.db);
    auto st = m.db->prepare(
        "INSERT INTO api_keys(name, prefix, secret_hash, user_id, role, models, created_ms, expires_ms, rpm, tpm, streams) "
        "VALUES(?,?,?,?,?,?,?,?,?,?,?)");
    st.bind(1, spec.name).bind(2, out.secret.substr(0, 12)).bind_blob(3, h.data(), h.size()).bind(4, owner_id);
    st.bind(5, role_name(role)).bind(6, models.dump()).bind(7, now).bind(8, spec.expires_ms);
    st.bind(9, spec.limits.requests_per_minute).bind(10, spec.limits.tokens_per_minute);
    st.bind(11, spec.limits.concurrent_streams);
    st.run();
    const int64_t id = m.db->last_insert_rowid();
    m.append(by, {"KEY", "key.create", "key:" + std::to_string(id), "ok",
                  json{{"owner", owner.pseudonym},
                       {"role", role_name(role)},
                       {"models", spec.models},
                       {"expires_ms", spec.expires_ms},
                       {"limits", limits_json(spec.limits)}}
                      .dump()});
    tx.commit();
    auto q = m.db->prepare(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = ?");
    q.bind(1, id);
    q.step();
    out.key = read_key(q);
    return out;
}

std::vector<ApiKeyInfo> SecurityService::list_keys(const Principal& by, int64_t user_id) {
    auto& m = *impl_;
    const bool manage = role_may(by.role, Action::users_manage);
    if (user_id != 0 && user_id != by.user_id && !manage) throw PermissionDenied("only admins list other users' keys");
    std::lock_guard lock(m.mutex);
    std::string sql = std::string("SELECT ") + kKeyColumns + " FROM api_keys";
    const int64_t who = user_id ? user_id : (manage ? 0 : by.user_id);
    if (who) sql += " WHERE user_id = ?";
    auto st = m.db->prepare(sql + " ORDER BY id");
    if (who) st.bind(1, who);
    std::vector<ApiKeyInfo> out;
    while (st.step()) out.push_back(read_key(st));
    return out;
}

void SecurityService::revoke_key(const Principal& by, int64_t key_id) {
    auto& m = *impl_;
    std::lock_guard lock(m.mutex);
    auto q = m.db->prepare("SELECT user_id FROM api_keys WHERE id = ?");
    q.bind(1, key_id);
    if (!q.step()) throw NotFound("id: no key " + std::to_string(key_id));
    const int64_t owner = q.column_int64(0);
    q.reset();
    if (owner != by.user_id && !role_may(by.role, Action::users_manage))
        throw PermissionDenied("only admins revoke other users' keys");
    Transaction tx(*m.db);
    auto st = m.db->prepare("UPDATE api_keys SET revoked = 1 WHERE id = ?");
    st.bind(1, key_id);
    st.run();
    m.append(by, {"KEY", "key.revoke", "key:" + std::to_string(key_id), "ok", "{}"});
    tx.commit();
}

// ---- GDPR ----------------------------------------------------------------------------------------

void SecurityService::set_user_content_hooks(std::function<std::string(int64_t)> export_json,
                                             std::function<void(int64_t)> erase) {
    std::lock_guard lock(impl_->hooks_mutex);
    impl_->export_hook = std::move(export_json);
    impl_->erase_hook = std::move(erase);
}

std::string SecurityService::export_user_data(const Principal& by, int64_t user_id) {
    auto& m = *impl_;
    if (user_id == 0) user_id = by.user_id;
    if (user_id != by.user_id && !role_may(by.role, Action::users_manage))
        throw PermissionDenied("only admins export other users' data");
    json out;
    std::string pseudonym;
    {
        std::lock_guard lock(m.mutex);
        auto u = m.user_row(user_id);
        if (!u) throw InvalidArgument("user_id: no user " + std::to_string(user_id));
        pseudonym = u->pseudonym;
        out["account"] = {{"id", u->id},
                          {"name", u->name},
                          {"role", role_name(u->role)},
                          {"disabled", u->disabled},
                          {"created_ms", u->created_ms},
                          {"last_login_ms", u->last_login_ms},
                          {"locked_until_ms", u->locked_until_ms},
                          {"limits", limits_json(u->limits)},
                          {"audit_pseudonym", u->pseudonym}};
        json keys = json::array();
        auto k = m.db->prepare(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE user_id = ?");
        k.bind(1, user_id);
        while (k.step()) {
            const ApiKeyInfo key = read_key(k);
            keys.push_back({{"id", key.id}, {"name", key.name}, {"prefix", key.prefix}, {"role", role_name(key.role)},
                            {"models", key.models}, {"created_ms", key.created_ms}, {"expires_ms", key.expires_ms},
                            {"revoked", key.revoked}});
        }
        out["api_keys"] = keys;
        json sessions = json::array();
        auto s = m.db->prepare("SELECT created_ms, last_seen_ms, expires_ms, source FROM sessions WHERE user_id = ?");
        s.bind(1, user_id);
        while (s.step())
            sessions.push_back({{"created_ms", s.column_int64(0)}, {"last_seen_ms", s.column_int64(1)},
                                {"expires_ms", s.column_int64(2)}, {"source", s.column_text(3)}});
        out["sessions"] = sessions;
    }
    m.append(by, {"USER", "user.export", pseudonym, "ok", R"({"gdpr":"art15"})"});
    // Every audit record that names the user: as actor, as target, or in its details.
    json records = json::array();
    {
        AuditFilter f;
        f.text = pseudonym;
        AuditFilter by_actor;
        by_actor.actors = {pseudonym};
        std::map<int64_t, json> merged;
        for (const auto* filter : {&f, &by_actor}) {
            std::string buf;
            m.audit->export_records(*filter, "json", {}, [&](const std::string& chunk) { buf += chunk; });
            for (auto& r : json::parse(buf)) {
                const int64_t seq = r.at("seq").get<int64_t>();  // before the move below
                merged[seq] = std::move(r);
            }
        }
        for (auto& [seq, r] : merged) records.push_back(std::move(r));
    }
    out["audit_records"] = records;
    std::function<std::string(int64_t)> hook;
    {
        std::lock_guard lock(m.hooks_mutex);
        hook = m.export_hook;
    }
    out["content"] = hook ? json::parse(hook(user_id)) : json(nullptr);
    return out.dump(2);
}

std::string SecurityService::erase_user_data(const Principal& by, int64_t user_id) {
    auto& m = *impl_;
    std::string pseudonym;
    {
        std::lock_guard lock(m.mutex);
        auto u = m.user_row(user_id);
        if (u && u->role == Role::admin && !u->disabled && m.enabled_admins() <= 1)
            throw InvalidArgument("cannot erase the last enabled admin");
        auto p = m.db->prepare("SELECT pseudonym FROM pseudonyms WHERE user_id = ?");
        p.bind(1, user_id);
        if (!p.step()) throw InvalidArgument("user_id: nothing is held about user " + std::to_string(user_id));
        pseudonym = p.column_text(0);
    }
    std::function<void(int64_t)> hook;
    {
        std::lock_guard lock(m.hooks_mutex);
        hook = m.erase_hook;
    }
    if (hook) hook(user_id);  // content first: if it fails, the identity is still there to retry with
    {
        std::lock_guard lock(m.mutex);
        Transaction tx(*m.db);
        auto d = m.db->prepare("DELETE FROM users WHERE id = ?");
        d.bind(1, user_id);
        d.run();
        auto p = m.db->prepare("DELETE FROM pseudonyms WHERE user_id = ?");
        p.bind(1, user_id);
        p.run();
        m.append(by, {"USER", "user.erase", pseudonym, "ok", R"({"gdpr":"art17"})"});
        tx.commit();
        // Old pages with the name must not survive in the WAL either (secure_delete covers the main file).
        m.db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    return pseudonym;
}

// ---- audit log -----------------------------------------------------------------------------------

namespace {
json filter_json(const AuditFilter& f, std::string_view actor) {
    return {{"since_ms", f.since_ms},         {"until_ms", f.until_ms}, {"actor", actor},
            {"action_class", f.action_class}, {"result", f.result},     {"text", f.text}};
}
}  // namespace

SecurityService::AuditViewPage SecurityService::query_audit(const Principal& by, AuditFilter filter,
                                                            std::string_view actor) {
    auto& m = *impl_;
    const std::string logged_actor = m.resolve_actor_filter(filter, actor);
    m.append(by, {"AUDIT", "audit.query", "", "ok", filter_json(filter, logged_actor).dump()});
    const AuditPageData page = m.audit->query(filter);
    AuditViewPage out;
    out.next_before_seq = page.next_before_seq;
    out.total_matching = page.total_matching;
    std::map<std::string, std::string> names;
    std::lock_guard lock(m.mutex);
    auto name = [&](const std::string& a) {
        auto it = names.find(a);
        if (it == names.end()) it = names.emplace(a, m.name_of_actor(a)).first;
        return it->second;
    };
    for (const auto& r : page.records) out.records.push_back({r, name(r.actor), name(r.target)});
    return out;
}

VerifyResult SecurityService::verify_audit(const Principal& by, const std::function<void(int64_t, int64_t)>& progress) {
    auto& m = *impl_;
    const VerifyResult v = m.audit->verify(progress);
    m.append(by, {"AUDIT", "audit.verify", "", v.ok ? "ok" : "error",
                  json{{"records_checked", v.records_checked}, {"first_bad_seq", v.first_bad_seq},
                       {"problem", v.problem}}
                      .dump()});
    return v;
}

void SecurityService::export_audit(const Principal& by, AuditFilter filter, std::string_view actor,
                                   const std::string& format, const std::function<void(const std::string&)>& sink,
                                   const std::function<void(double)>& progress) {
    auto& m = *impl_;
    if (format != "csv" && format != "json") throw InvalidArgument("format: csv or json (got '" + format + "')");
    const std::string logged_actor = m.resolve_actor_filter(filter, actor);
    json d = filter_json(filter, logged_actor);
    d["format"] = format;
    m.append(by, {"AUDIT", "audit.export", "", "ok", d.dump()});
    std::map<std::string, std::string> names;
    m.audit->export_records(
        filter, format,
        [&](const std::string& a) {
            auto it = names.find(a);
            if (it == names.end()) {
                std::lock_guard lock(m.mutex);
                it = names.emplace(a, m.name_of_actor(a)).first;
            }
            return it->second;
        },
        sink, progress);
}

PruneResult SecurityService::prune_audit(const Principal& by, const fs::path& archive_dir) {
    auto& m = *impl_;
    const int64_t cutoff = m.now() - int64_t{m.options.retention_days} * 86'400'000;
    return m.audit->prune(cutoff, archive_dir,
                          {by.audit_actor, std::string(role_name(by.role)), by.source, AuditEntry{}});
}

}  // namespace enclave::server::security
