// Identities: bootstrap once (also when raced), login lockout on the 6th attempt (audited), one message
// and comparable time for unknown users, sessions (timeouts, revocation on demotion/disable/password
// change, even for a running stream), API keys (shown once, hashed, model scope, expiry, revocation),
// rate limits and the fail-closed audit.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "check.h"
#include "security_test_util.h"
#include "server/security/permissions.h"

using namespace sec_test;

namespace {

struct Env {
    Clock clock;
    fs::path dir;
    std::unique_ptr<SecurityService> s;
    LoginResult admin;
    explicit Env(const std::string& name) : dir(fresh_dir(name)) {
        s = std::make_unique<SecurityService>(options(dir, clock));
        admin = s->bootstrap(socket_caller(), read_secret(s->bootstrap_secret_file()), "root-admin", kPassword);
    }
    Principal as(const std::string& token, Action a = Action::auth_self, std::string_view model = {}) {
        return s->authorize(socket_caller(token), a, "test", model);
    }
    Principal admin_p() { return as(admin.token, Action::users_manage); }
    int64_t count_audit(const std::string& action, const std::string& result) {
        AuditFilter f;
        f.limit = 1000;
        int64_t n = 0;
        for (const auto& r : s->audit_log().query(f).records) n += r.action == action && r.result == result;
        return n;
    }
};

}  // namespace

ENCLAVE_TEST(bootstrap_secret_is_0600_and_works_once) {
    Clock clock;
    const auto dir = fresh_dir("bootstrap");
    SecurityService s(options(dir, clock));
    REQUIRE(s.needs_first_admin());
    const auto file = s.bootstrap_secret_file();
    REQUIRE(fs::exists(file));
    CHECK((fs::status(file).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(((fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none));
    const std::string secret = read_secret(file);
    CHECK(secret.size() >= 43);
    CHECK_THROWS_WITH(s.bootstrap(socket_caller(), "wrong", "first", kPassword), PermissionDenied, "bootstrap secret");
    const LoginResult r = s.bootstrap(socket_caller(), secret, "first", kPassword);
    CHECK(r.user.role == Role::admin);
    CHECK(r.token.rfind("ens_", 0) == 0);
    CHECK(!fs::exists(file));
    CHECK(!s.needs_first_admin());
    CHECK_THROWS_WITH(s.bootstrap(socket_caller(), secret, "second", kPassword), PermissionDenied, "already used");
    CHECK_EQ(s.list_users().size(), size_t{1});
    // A restart with users writes no new secret.
    SecurityService again(options(dir, clock));
    CHECK(!fs::exists(again.bootstrap_secret_file()));
}

ENCLAVE_TEST(concurrent_first_admin_creation_yields_one_admin) {
    // Eight processes, each with its own connection, race the same secret: exactly one wins.
    Clock clock;
    const auto dir = fresh_dir("race");
    std::string secret;
    {
        SecurityService s(options(dir, clock));
        secret = read_secret(s.bootstrap_secret_file());
    }
    std::vector<pid_t> kids;
    for (int i = 0; i < 8; ++i) {
        const pid_t pid = fork();
        if (pid == 0) {
            int code = 3;
            try {
                SecurityService s(options(dir, clock));
                s.bootstrap(socket_caller(), secret, "admin" + std::to_string(i), kPassword);
                code = 0;
            } catch (const PermissionDenied&) {
                code = 1;
            } catch (...) {
                code = 2;
            }
            _exit(code);
        }
        kids.push_back(pid);
    }
    int winners = 0, losers = 0;
    for (const pid_t k : kids) {
        int st = 0;
        waitpid(k, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ++winners;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 1) ++losers;
    }
    CHECK_EQ(winners, 1);
    CHECK_EQ(losers, 7);
    SecurityService s(options(dir, clock));
    const auto users = s.list_users();
    REQUIRE(users.size() == 1);
    CHECK(users[0].role == Role::admin);
    CHECK(s.audit_log().verify().ok);
}

ENCLAVE_TEST(the_sixth_login_is_refused_after_five_failures_and_audited) {
    Env t("lockout");
    const auto by = t.admin_p();
    t.s->create_user(by, "alice", Role::analyst, kPassword);
    for (int i = 0; i < 5; ++i)
        CHECK_THROWS_WITH(t.s->login(socket_caller(), "alice", "Wrong-Password-1"), Unauthenticated, "login failed");
    CHECK_EQ(t.count_audit("auth.lockout", "ok"), int64_t{1});
    // The right password on the 6th attempt: still refused, with the same message.
    CHECK_THROWS_WITH(t.s->login(socket_caller(), "alice", kPassword), Unauthenticated, "login failed");
    CHECK_EQ(t.count_audit("auth.login", "denied"), int64_t{6});
    t.clock.advance(15 * 60'000 + 1);
    const LoginResult ok = t.s->login(socket_caller(), "alice", kPassword);
    CHECK(ok.user.name == "alice");
    CHECK_EQ(t.count_audit("auth.login", "ok"), int64_t{1});
}

ENCLAVE_TEST(unknown_users_get_the_same_message_and_similar_time) {
    Env t("unknown");
    t.s->create_user(t.admin_p(), "bob", Role::analyst, kPassword);
    auto time_login = [&](const char* name) {
        const auto t0 = std::chrono::steady_clock::now();
        std::string msg;
        try {
            t.s->login(socket_caller(), name, "Not-The-Password-9");
        } catch (const Unauthenticated& x) {
            msg = x.what();
        }
        return std::pair{std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), msg};
    };
    // The fastest of several tries of each: other processes on a shared machine only ever add time, so
    // the minimum is what the code itself costs (one argon2id verification either way).
    double known = 1e9, unknown = 1e9;
    std::string m1, m2;
    for (int i = 0; i < 5; ++i) {
        auto [t1, a] = time_login("bob");
        auto [t2, b] = time_login("nobody-here");
        known = std::min(known, t1);
        unknown = std::min(unknown, t2);
        m1 = a;
        m2 = b;
    }
    CHECK_EQ(m1, m2);
    CHECK_MSG(unknown > known * 0.5 && unknown < known * 2.0,
              "known " + std::to_string(known) + " s, unknown " + std::to_string(unknown) + " s");
    // The typed name is not stored; a keyed hash of it is.
    AuditFilter f;
    f.text = "nobody-here";
    CHECK(t.s->audit_log().query(f).records.empty());
}

ENCLAVE_TEST(sessions_time_out_and_rotate) {
    Env t("sessions");
    const auto by = t.admin_p();
    t.s->create_user(by, "carol", Role::analyst, kPassword);
    const auto a = t.s->login(socket_caller(), "carol", kPassword);
    const auto b = t.s->login(socket_caller(), "carol", kPassword);
    CHECK(a.token != b.token);
    CHECK_EQ(a.token.size(), size_t{4 + 43});
    CHECK(t.as(a.token).user_name == "carol");
    t.clock.advance(29 * 60'000);
    CHECK(t.as(a.token).user_name == "carol");  // used: idle time restarts (to the minute)
    t.clock.advance(31 * 60'000);
    CHECK_THROWS_WITH(t.as(a.token), Unauthenticated, "expired");
    CHECK_THROWS_WITH(t.as(a.token), Unauthenticated, "sign in again");  // gone for good
    CHECK_EQ(t.count_audit("auth.session_expired", "denied"), int64_t{1});
    // Absolute timeout, even when used all the time.
    const auto c = t.s->login(socket_caller(), "carol", kPassword);
    int expired_at = -1;
    for (int i = 0; i < 30 && expired_at < 0; ++i) {
        t.clock.advance(29 * 60'000);
        try {
            t.as(c.token);
        } catch (const Unauthenticated&) {
            expired_at = i;
        }
    }
    CHECK_EQ(expired_at, 24);  // 25 x 29 min is the first use past 12 h
    CHECK_THROWS_WITH(t.as(c.token), Unauthenticated, "");
    CHECK_THROWS_WITH(t.as("ens_forged"), Unauthenticated, "unknown or revoked");
    CHECK_THROWS_WITH(t.as(""), Unauthenticated, "no credentials");
    CHECK_THROWS_WITH(t.as("garbage"), Unauthenticated, "unknown credentials");
}

ENCLAVE_TEST(demotion_revokes_sessions_even_mid_stream) {
    Env t("demote");
    const auto by = t.admin_p();
    const auto u = t.s->create_user(by, "dave", Role::admin, kPassword);
    const auto login = t.s->login(socket_caller(), "dave", kPassword);
    const Principal streaming = t.as(login.token, Action::telemetry_read);  // e.g. Telemetry.Live running
    t.s->check_still_valid(streaming);
    const auto key = t.s->create_key(streaming, {"dave-admin-key", 0, Role::admin, {}, 0, {}});
    t.s->update_user(by, u.id, UserUpdate{Role::analyst, {}, {}, {}});
    CHECK_THROWS_WITH(t.s->check_still_valid(streaming), Unauthenticated, "revoked");
    CHECK_THROWS_WITH(t.as(login.token, Action::telemetry_read), Unauthenticated, "");
    CHECK_THROWS_WITH(t.as(key.secret, Action::models_list), Unauthenticated, "revoked");
    // Signed in again, the analyst may chat but not manage.
    const auto again = t.s->login(socket_caller(), "dave", kPassword);
    CHECK(t.as(again.token, Action::generate).role == Role::analyst);
    CHECK_THROWS_WITH(t.as(again.token, Action::models_manage), PermissionDenied, "analyst may not");
    // Disabling and a password reset revoke too.
    t.s->update_user(by, u.id, UserUpdate{{}, true, {}, {}});
    CHECK_THROWS_WITH(t.as(again.token), Unauthenticated, "");
    CHECK_THROWS_WITH(t.s->login(socket_caller(), "dave", kPassword), Unauthenticated, "login failed");
    t.s->update_user(by, u.id, UserUpdate{{}, false, {}, {}});
    const auto third = t.s->login(socket_caller(), "dave", kPassword);
    t.s->update_user(by, u.id, UserUpdate{{}, {}, std::string("Another-Secret-77"), {}});
    CHECK_THROWS_WITH(t.as(third.token), Unauthenticated, "");
    CHECK(t.s->login(socket_caller(), "dave", "Another-Secret-77").user.id == u.id);
}

ENCLAVE_TEST(the_last_admin_cannot_be_removed) {
    Env t("lastadmin");
    const auto by = t.admin_p();
    CHECK_THROWS_WITH(t.s->update_user(by, t.admin.user.id, UserUpdate{Role::auditor, {}, {}, {}}), enclave::InvalidArgument,
                      "last enabled admin");
    CHECK_THROWS_WITH(t.s->delete_user(by, t.admin.user.id), enclave::InvalidArgument, "last enabled admin");
}

ENCLAVE_TEST(password_rules) {
    CHECK_THROWS_WITH(check_password_rules("short1A!", "x"), enclave::InvalidArgument, "12 characters");
    CHECK_THROWS_WITH(check_password_rules("alllowercaseletters", "x"), enclave::InvalidArgument, "three of");
    CHECK_THROWS_WITH(check_password_rules("Xx-erin-Password-1", "erin"), enclave::InvalidArgument, "user name");
    check_password_rules("a long passphrase with words", "erin");
    check_password_rules("Tr0ub4dor&3x!", "erin");
    CHECK(true);
}

ENCLAVE_TEST(passwords_are_argon2id_and_rehashed_when_parameters_rise) {
    Clock clock;
    const auto dir = fresh_dir("rehash");
    {
        SecurityService s(options(dir, clock));
        s.bootstrap(socket_caller(), read_secret(s.bootstrap_secret_file()), "root-admin", kPassword);
    }
    auto stored = [&] {
        auto db = enclave::server::store::Database::open(dir / "identity.db");
        auto st = db.prepare("SELECT password_hash FROM users WHERE name = 'root-admin'");
        st.step();
        return st.column_text(0);
    };
    const std::string before = stored();
    CHECK(before.rfind("$argon2id$", 0) == 0);
    CHECK(before.find("t=2") != std::string::npos);
    auto o = options(dir, clock);
    o.password_opslimit = 3;
    SecurityService s(o);
    s.login(socket_caller(), "root-admin", kPassword);
    const std::string after = stored();
    CHECK(after.find("t=3") != std::string::npos);
    CHECK(after != before);
    CHECK(s.login(socket_caller(), "root-admin", kPassword).user.name == "root-admin");
}

ENCLAVE_TEST(api_keys_are_shown_once_hashed_scoped_and_expire) {
    Env t("keys");
    const auto by = t.admin_p();
    const auto u = t.s->create_user(by, "erin", Role::analyst, kPassword);
    const auto login = t.s->login(socket_caller(), "erin", kPassword);
    const Principal erin = t.as(login.token, Action::keys_own);
    const auto k = t.s->create_key(erin, {"app", 0, Role::analyst, {"smollm2"}, t.clock.t->load() + 3'600'000, {}});
    CHECK(k.secret.rfind("enk_", 0) == 0);
    CHECK_EQ(k.key.prefix, k.secret.substr(0, 12));
    {  // only the hash is stored
        auto db = enclave::server::store::Database::open(t.dir / "identity.db");
        auto st = db.prepare("SELECT count(*) FROM api_keys WHERE instr(CAST(secret_hash AS TEXT), ?) > 0 OR prefix = ?");
        st.bind(1, k.secret).bind(2, k.secret);
        st.step();
        CHECK_EQ(st.column_int64(0), int64_t{0});
    }
    const Principal app = t.as(k.secret, Action::generate, "smollm2");
    CHECK_EQ(app.api_key_id, k.key.id);
    CHECK_EQ(app.user_id, u.id);
    CHECK_THROWS_WITH(t.as(k.secret, Action::generate, "other-model"), PermissionDenied, "not scoped");
    CHECK_THROWS_WITH(t.as(k.secret, Action::users_manage), PermissionDenied, "may not");
    CHECK_THROWS_WITH(t.as(k.secret + "x", Action::generate), Unauthenticated, "unknown API key");
    CHECK_THROWS_WITH(t.s->create_key(erin, {"bad", 0, Role::admin, {}, 0, {}}), enclave::InvalidArgument, "role");
    CHECK_THROWS_WITH(t.s->create_key(erin, {"x", t.admin.user.id, Role::admin, {}, 0, {}}), PermissionDenied,
                      "other users");
    CHECK_EQ(t.s->list_keys(erin, 0).size(), size_t{1});
    CHECK_THROWS_WITH(t.s->list_keys(erin, t.admin.user.id), PermissionDenied, "");
    t.clock.advance(3'600'001);
    CHECK_THROWS_WITH(t.as(k.secret, Action::generate, "smollm2"), Unauthenticated, "expired");
    const auto k2 = t.s->create_key(by, {"app2", u.id, Role::analyst, {}, 0, {}});
    CHECK(t.as(k2.secret, Action::generate, "anything").api_key_id == k2.key.id);
    t.s->revoke_key(erin, k2.key.id);
    CHECK_THROWS_WITH(t.as(k2.secret, Action::generate), Unauthenticated, "revoked");
    // No role given: the key takes its owner's, not its creator's (an admin making an auditor's key).
    const auto frank = t.s->create_user(by, "frank", Role::auditor, kPassword);
    const auto k3 = t.s->create_key(by, {"export", frank.id, std::nullopt, {}, 0, {}});
    CHECK(k3.key.role == Role::auditor);
    CHECK(t.as(k3.secret, Action::audit_read).role == Role::auditor);
    CHECK(t.count_audit("key.create", "ok") == 3 && t.count_audit("key.revoke", "ok") == 1);
}

ENCLAVE_TEST(rate_limits_requests_tokens_and_streams) {
    Env t("limits");
    const auto by = t.admin_p();
    const auto u = t.s->create_user(by, "frank", Role::analyst, kPassword, Limits{3, 100, 2});
    const auto login = t.s->login(socket_caller(), "frank", kPassword);
    const Principal p = t.as(login.token, Action::generate);
    {
        auto a1 = t.s->admit_inference(p, "m");
        auto a2 = t.s->admit_inference(p, "m");
        try {
            t.s->admit_inference(p, "m");
            CHECK(false);
        } catch (const RateLimited& r) {
            CHECK(std::string(r.what()).find("concurrent streams") != std::string::npos);
        }
        a1->add_tokens(60);
        a2->add_tokens(50);
    }
    // Streams freed; tokens over 100 in the minute.
    try {
        t.s->admit_inference(p, "m");
        CHECK(false);
    } catch (const RateLimited& r) {
        CHECK(std::string(r.what()).find("tokens per minute") != std::string::npos);
        CHECK(r.retry_after_seconds() >= 59 && r.retry_after_seconds() <= 60);
    }
    t.clock.advance(61'000);
    { auto a = t.s->admit_inference(p, "m"); }
    { auto a = t.s->admit_inference(p, "m"); }
    t.clock.advance(20'000);
    { auto a = t.s->admit_inference(p, "m"); }
    try {
        t.s->admit_inference(p, "m");  // 4th in a minute
        CHECK(false);
    } catch (const RateLimited& r) {
        CHECK(std::string(r.what()).find("requests per minute") != std::string::npos);
        CHECK_EQ(r.retry_after_seconds(), 40);
    }
    CHECK(t.s->stats().rate_limited == 3);
    // A key's own limits apply on top of its owner's.
    t.s->update_user(by, u.id, UserUpdate{{}, {}, {}, Limits{}});
    const auto k = t.s->create_key(by, {"k", u.id, Role::analyst, {}, 0, Limits{0, 0, 1}});
    const Principal kp = t.as(k.secret, Action::generate);
    auto held = t.s->admit_inference(kp, "m");
    CHECK_THROWS_WITH(t.s->admit_inference(kp, "m"), RateLimited, "API key");
    const auto login2 = t.s->login(socket_caller(), "frank", kPassword);
    auto other = t.s->admit_inference(t.as(login2.token, Action::generate), "m");  // the user is unlimited now
    CHECK(other != nullptr);
}

ENCLAVE_TEST(the_matrix_holds_for_every_action_and_role) {
    Env t("matrix");
    const auto by = t.admin_p();
    std::map<Role, std::string> tokens;
    tokens[Role::admin] = t.admin.token;
    t.s->create_user(by, "an", Role::analyst, kPassword);
    t.s->create_user(by, "au", Role::auditor, kPassword);
    tokens[Role::analyst] = t.s->login(socket_caller(), "an", kPassword).token;
    tokens[Role::auditor] = t.s->login(socket_caller(), "au", kPassword).token;
    const auto dis = t.s->create_user(by, "dis", Role::admin, kPassword);
    const std::string disabled_token = t.s->login(socket_caller(), "dis", kPassword).token;
    t.s->update_user(by, dis.id, UserUpdate{{}, true, {}, {}});
    for (const auto& rule : action_rules()) {
        for (const auto& [role, token] : tokens) {
            for (const Transport tr : {Transport::unix_socket, Transport::tls, Transport::http}) {
                Caller c{tr, "peer", token};
                bool allowed = true;
                try {
                    t.s->authorize(c, rule.action, "x");
                } catch (const PermissionDenied&) {
                    allowed = false;
                }
                CHECK_MSG(allowed == (rule.anonymous || role_may(role, rule.action)),
                          std::string(rule.name) + " as " + std::string(role_name(role)));
            }
        }
        for (const std::string& bad : {std::string(), disabled_token, std::string("enk_wrong"), std::string("ens_x")}) {
            bool allowed = true;
            try {
                t.s->authorize(socket_caller(bad), rule.action, "x");
            } catch (const Unauthenticated&) {
                allowed = false;
            }
            CHECK_MSG(allowed == rule.anonymous, std::string(rule.name) + " without valid credentials");
        }
    }
    // Every denial is audited.
    AuditFilter f;
    f.result = "denied";
    f.limit = 1000;
    CHECK(t.s->audit_log().query(f).records.size() > 40);
}

ENCLAVE_TEST(an_unwritable_audit_log_fails_closed_and_keeps_what_was_committed) {
    Clock clock;
    const auto dir = fresh_dir("failclosed");
    int64_t committed = 0;
    std::string token;
    {
        SecurityService s(options(dir, clock));
        token = s.bootstrap(socket_caller(), read_secret(s.bootstrap_secret_file()), "root-admin", kPassword).token;
        committed = s.audit_log().last_seq();
    }
    auto o = options(dir, clock);
    {
        auto db = enclave::server::store::Database::open(dir / "audit.db");
        o.audit_max_page_count = db.query_int64("PRAGMA page_count") + 1;  // room for a few records only
    }
    SecurityService s(o);
    const Principal p = s.authorize(socket_caller(token), Action::users_manage, "");
    int64_t last_acknowledged = 0;
    bool refused = false;
    // Large records until one does not fit, then small ones until nothing fits.
    for (const size_t pad : {500, 0})
        for (int i = 0; i < 400; ++i) {
            try {
                s.audit(p, {"MODEL", "model.load", "m", "ok", "{\"pad\":\"" + std::string(pad, 'x') + "\"}"});
                last_acknowledged = s.audit_log().last_seq();
            } catch (const AuditUnavailable&) {
                refused = true;
                break;
            }
        }
    REQUIRE(refused);
    CHECK(!s.audit_healthy());
    CHECK(s.stats().audit_failures >= 1);
    CHECK_THROWS_WITH(s.authorize(socket_caller(token), Action::generate, "m"), AuditUnavailable, "fail closed");
    CHECK_THROWS_WITH(s.admit_inference(p, "m"), AuditUnavailable, "");
    CHECK_THROWS_WITH(s.login(socket_caller(), "root-admin", kPassword), AuditUnavailable, "");
    CHECK(s.authorize(socket_caller(), Action::health_check, "").user_id == 0);
    const VerifyResult v = s.audit_log().verify();
    CHECK(v.ok);
    CHECK(last_acknowledged > committed);
    CHECK_EQ(v.last_seq, last_acknowledged);  // every acknowledged record is there, nothing after it
}

ENCLAVE_TEST(permissions_cover_every_action_and_docs_name_them) {
    for (const auto& r : action_rules()) CHECK(!std::string(rule_of(r.action).name).empty());
    CHECK(action_for_grpc_method("/enclave.v1.Auth/Login") == Action::auth_login);
    CHECK(!action_for_grpc_method("/enclave.v1.Nope/Nothing"));
    CHECK(action_for_http_route("POST", "/v1/chat/completions") == Action::generate);
    CHECK(!action_for_http_route("DELETE", "/v1/models"));
    CHECK(role_may(Role::auditor, Action::audit_export));
    CHECK(!role_may(Role::auditor, Action::models_manage));
    CHECK(!role_may(Role::analyst, Action::audit_read));
}

ENCLAVE_TEST_MAIN()
